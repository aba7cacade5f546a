/* fuzz_tenant.c: tenant files and the VIN files they name (tenant_load in
 * src/tenant.c, vinset_load_file in src/vinset.c).
 *
 * The input up to its first NUL byte is the tenant file (fz.conf); what
 * follows is list.vins in the same folder, which the seeds name with
 * `vin_file = list.vins`. Asserts: a tenant comes back exactly when no
 * error was added; every error names a file (FILE:LINE or FILE:); a loaded
 * tenant has a usable name, a method, a way to be reached, sane CIDR
 * lengths, distinct listeners, a rate with a burst, and clashes with
 * itself in tenant_check_set (the cross-tenant rules see it). */
#include "fuzz.h"
#include <sys/socket.h>
#include "conf_errors.h"
#include "tenant.h"
#include "vinset.h"
#include "fleetgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	if (nul)
		fuzz_write("list.vins", nul + 1, size - tlen - 1);
	else
		fuzz_write("list.vins", (const uint8_t *)"", 0);
	char *path = strdup(fuzz_write("fz.conf", data, tlen));

	struct fg_errors errs = {0};
	struct fg_tenant *t = tenant_load(path, &errs);
	FUZZ_ASSERT((t != NULL) == (errs.n == 0));
	for (size_t i = 0; i < errs.n; i++) {
		const char *e = errs.lines[i];
		FUZZ_ASSERT(e[0] == '/' && strstr(e, ": ") != NULL);
	}
	if (t) {
		size_t n = strlen(t->name);
		FUZZ_ASSERT(n >= 1 && n <= 64);
		FUZZ_ASSERT(t->methods != 0 && (t->methods & ~7u) == 0);
		FUZZ_ASSERT(t->listen.n || t->nkeys || t->nsources || t->ncert_names || t->ncert_pins);   /* a certificate attributes too */
		FUZZ_ASSERT(t->vins != NULL);
		for (size_t i = 0; i < t->nsources; i++) {
			const struct fg_cidr *c = &t->sources[i];
			FUZZ_ASSERT((c->family == AF_INET && c->bits >= 0 && c->bits <= 32) ||
				    (c->family == AF_INET6 && c->bits >= 0 && c->bits <= 128));
		}
		for (size_t i = 0; i < t->listen.n; i++) {
			FUZZ_ASSERT(t->listen.v[i].spec && *t->listen.v[i].spec);
			for (size_t j = 0; j < i; j++)
				FUZZ_ASSERT(strcmp(t->listen.v[i].spec, t->listen.v[j].spec) != 0);
		}
		if (t->has_rate)
			FUZZ_ASSERT(t->rate.count > 0 && t->rate.window_s > 0 && t->burst > 0);

		struct fg_tenant *pair[2] = { t, t };
		struct fg_errors clash = {0};
		FUZZ_ASSERT(tenant_check_set(pair, 2, &clash) > 0 && clash.n > 0);
		conf_errors_free(&clash);
		tenant_free(t);
	}
	conf_errors_free(&errs);
	free(path);
	return 0;
}
