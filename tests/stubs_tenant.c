/* stubs_tenant.c: stand-ins for tenant.c and jwt.c's loader, used only to
 * build tests/check_config by hand while those files are being written.
 * The Makefile never builds this file; check_config links the real ones
 * from libfleetgate.a. Delete once src/tenant.c and src/jwt.c land. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/pem.h>
#include "tenant.h"
#include "vinset.h"
#include "ini.h"
#include "jwt.h"

static void stub_cb(void *arg, const char *file, int line, const char *section,
		    const char *key, const char *value)
{
	struct fg_tenant *t = arg;
	if (!key)
		return;
	if (strcmp(key, "name") == 0) {
		free(t->name);
		t->name = strdup(value);
	} else if (strcmp(key, "vins") == 0) {
		char **items;
		size_t n = config_split_list(value, &items);
		for (size_t i = 0; i < n; i++) {
			char v[18];
			if (vin_normalize(items[i], strlen(items[i]), v))
				vinset_add(t->vins, v);
			free(items[i]);
		}
		free(items);
	}
}

struct fg_tenant *tenant_load(const char *path, struct fg_errors *errs)
{
	struct fg_tenant *t = calloc(1, sizeof(*t));
	const char *b = strrchr(path, '/');
	size_t before = errs->n;
	b = b ? b + 1 : path;
	t->name = strndup(b, strlen(b) - 5);
	t->file = strdup(path);
	t->vins = vinset_new();
	ini_parse_file(path, stub_cb, t, errs);
	if (errs->n != before) {
		tenant_free(t);
		return NULL;
	}
	return t;
}

void tenant_free(struct fg_tenant *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->file);
	vinset_free(t->vins);
	free(t);
}

int tenant_check_set(struct fg_tenant *const *t, size_t n, struct fg_errors *errs)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(t[i]->name, t[j]->name) == 0) {
				errors_add(errs, t[j]->file, 0, "duplicate tenant name \"%s\"", t[j]->name);
				bad++;
			}
	return bad;
}

EVP_PKEY *jwt_load_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	if (!f) {
		snprintf(err, errlen, "cannot read \"%s\"", path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		snprintf(err, errlen, "\"%s\" is not a PEM private key", path);
	return k;
}
