/* tenant.h: tenant files (docs/tenants.md) and the checks across them.
 * Tenants are part of the immutable config; attribution and per-request
 * policy are req_policy.h's. This header must not include conf.h: conf.c
 * loads tenants, so the dependency runs config -> tenant only. */
#ifndef FG_TENANT_H
#define FG_TENANT_H
#include <stddef.h>
#include <stdbool.h>
#include "conf_errors.h"
#include "conf_parse.h"   /* struct fg_addrlist, struct fg_rate */

struct vinset;

struct fg_cidr {
	int family;                 /* AF_INET or AF_INET6 */
	unsigned char addr[16];     /* network address, masked */
	int bits;
};

struct fg_tenant {
	char *name;
	char *file;                 /* path of the tenant file */
	struct fg_addrlist listen;  /* dedicated listeners */
	unsigned char (*keys)[32];  /* SHA-256 of API keys */
	size_t nkeys;
	struct fg_cidr *sources;
	size_t nsources;
	char **cert_names;          /* verified client certificate names (tenant_cert.h) */
	size_t ncert_names;
	unsigned char (*cert_pins)[32];   /* SHA-256 of client certificates' DER */
	size_t ncert_pins;
	unsigned methods;           /* FG_M_* bits; default FG_M_GET */
	struct vinset *vins;
	bool has_rate;
	struct fg_rate rate;
	unsigned burst;             /* default: rate.count */
	/* Lines of the keys that must be unique across tenants, so a clash
	 * is reported as FILE:LINE (the [tenant] line when a key is unset). */
	int line_name, line_listen, line_keys, line_sources, line_cert_names, line_cert_sha256;
	int stats_slot;             /* stats.c's slot for this name: set by conf_swap,
				     * so only a configuration in force takes one; -1 before */
};

/* The paths of the *.conf files of DIR (not starting with '.'), sorted,
 * so load order and error order do not depend on the file system. -1
 * when DIR cannot be opened; free with conf_parse_list_free. */
int tenant_files(const char *dir, char ***names, size_t *n);

/* Every tenant file of DIR (tenants_dir, set on LINE of CONF_PATH), with
 * the checks across them, sorted by name into *OUT (*N of them, the array
 * malloc'ed even when empty); errors into ERRS. */
void tenant_load_dir(const char *dir, const char *conf_path, int line, struct fg_tenant ***out, size_t *n,
		     struct fg_errors *errs);
/* Parses one tenant file (relative vin_file paths are relative to its
 * folder). NULL with ERRS filled on any error. */
struct fg_tenant *tenant_load(const char *path, struct fg_errors *errs);
void tenant_free(struct fg_tenant *t);
/* Cross-tenant checks: same name, key, listener or identical source range.
 * Returns the number of errors added. */
int tenant_check_set(struct fg_tenant *const *t, size_t n, struct fg_errors *errs);

/* "GET", "POST" or "DELETE" for one FG_M_* bit. */
const char *tenant_method_name(unsigned bit);
/* "GET, DELETE" for a set of FG_M_* bits; "none" when empty. */
void tenant_methods_text(unsigned bits, char *out, size_t outlen);

#endif
