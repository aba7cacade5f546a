/* fuzz_config.c: the INI reader and the main configuration file
 * (conf_load in src/conf.c over src/conf_ini.c).
 *
 * The input is fleetgate.conf in a scratch folder whose tenants.d holds
 * one valid tenant, so an accepted file is taken through tenant loading and
 * the cross-file listener checks too. Asserts: a configuration comes back
 * exactly when no error was added; every error names a file; the client
 * secret (given as env:FG_FUZZ_SECRET by the seeds) never appears in an
 * error; an accepted configuration has its derived values (workers, token
 * URL, audience), one kind of credentials, well-formed listeners and its
 * tenants sorted by distinct names. */
#define _GNU_SOURCE   /* memmem */
#include "fuzz.h"
#include <sys/stat.h>
#include "conf.h"
#include "conf_errors.h"
#include "tenant.h"
#include "vinset.h"

#define FUZZ_SECRET "fz-Secret-7c1e0b9d"

static const char tenant_file[] =
	"[tenant]\nname = alpha\nlisten = 127.0.0.1:18090\nsources = 10.0.0.0/8\n"
	"vins = WBA00000000000001\nvin_prefixes = EXVE\nmethods = GET, POST\n";

static void check_addrs(const struct fg_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct fg_addr *a = &l->v[i];
		FUZZ_ASSERT(a->spec && *a->spec);
		if (a->is_unix)
			FUZZ_ASSERT(a->path && a->path[0] == '/');
		else
			/* Port 0 is in the documented range (docs/configuration.md:
			 * "port 0 to 65535"), so only the range is checked. */
			FUZZ_ASSERT(a->port >= 0 && a->port < 65536 && a->host[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	if (size > 1 << 16)
		return 0;
	if (!path) {
		setenv("FG_FUZZ_SECRET", FUZZ_SECRET, 1);
		char dir[600];
		snprintf(dir, sizeof dir, "%s/tenants.d", fuzz_dir());
		mkdir(dir, 0700);
		fuzz_write("tenants.d/alpha.conf", (const uint8_t *)tenant_file, sizeof tenant_file - 1);
		path = strdup(fuzz_write("fleetgate.conf", (const uint8_t *)"", 0));
	}
	fuzz_write("fleetgate.conf", data, size);

	struct fg_errors errs = {0};
	struct fg_config *c = conf_load(path, &errs);
	FUZZ_ASSERT((c != NULL) == (errs.n == 0));
	bool secret_in_input = memmem(data, size, FUZZ_SECRET, strlen(FUZZ_SECRET)) != NULL;
	for (size_t i = 0; i < errs.n; i++) {
		const char *e = errs.lines[i];
		FUZZ_ASSERT(e[0] == '/' && strstr(e, ": ") != NULL);
		if (!secret_in_input)
			FUZZ_ASSERT(strstr(e, FUZZ_SECRET) == NULL);
	}
	if (c) {
		FUZZ_ASSERT(c->workers >= 1 && c->workers <= 1024);
		FUZZ_ASSERT(c->base_url && c->token_url && c->audience && c->client_id);
		FUZZ_ASSERT(conf_secret_empty(&c->client_secret) != (c->private_key_file == NULL));
		FUZZ_ASSERT(c->tenants_dir && c->max_body_bytes > 0);
		check_addrs(&c->listen);
		check_addrs(&c->admin_listen);
		size_t nvins = 0;
		for (size_t i = 0; i < c->ntenants; i++) {
			if (i)
				FUZZ_ASSERT(strcmp(c->tenants[i - 1]->name, c->tenants[i]->name) < 0);
			nvins += vinset_count(c->tenants[i]->vins);
		}
		FUZZ_ASSERT(nvins == c->nvins);
		conf_unref(c);
	}
	conf_errors_free(&errs);
	return 0;
}
