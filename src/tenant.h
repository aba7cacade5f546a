/* tenant.h: tenant files, attribution of a request to a tenant, and the
 * policy checks of SPEC.md §3/§4. Tenants are part of the immutable config,
 * so every function here is a pure read and needs no lock. */
#ifndef FG_TENANT_H
#define FG_TENANT_H
#include <stddef.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "config.h"
#include "route.h"

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
	unsigned methods;           /* FG_M_* bits; default FG_M_GET */
	struct vinset *vins;
	bool has_rate;
	struct fg_rate rate;
	unsigned burst;             /* default: rate.count */
	/* Lines of the keys that must be unique across tenants, so a clash
	 * is reported as FILE:LINE (the [tenant] line when a key is unset). */
	int line_name, line_listen, line_keys, line_sources;
	int stats_slot;             /* stats.c's slot for this name, set by config_load */
};

/* Parses one tenant file (relative vin_file paths are relative to its
 * folder). NULL with ERRS filled on any error. */
struct fg_tenant *tenant_load(const char *path, struct fg_errors *errs);
void tenant_free(struct fg_tenant *t);
/* Cross-tenant checks: same name, key, listener or identical source range.
 * Returns the number of errors added. */
int tenant_check_set(struct fg_tenant *const *t, size_t n, struct fg_errors *errs);

enum fg_attr_result {
	FG_ATTR_OK,
	FG_ATTR_BAD_KEY,    /* a key was presented and matches no tenant */
	FG_ATTR_NONE,       /* nothing matched */
	FG_ATTR_LISTENER_GONE  /* a dedicated listener no tenant of C owns any
				* more (a reload removed it): not attributed */
};
/* First match wins: LISTENER_SPEC (the dedicated listener the request came
 * in on, NULL for the shared listeners; keys and sources are not looked at
 * there), then KEY (may be NULL), then the most specific `sources` range
 * holding PEER (may be NULL, e.g. unix). */
const struct fg_tenant *tenant_attribute(const struct fg_config *c, const char *listener_spec,
					 const char *key, size_t keylen,
					 const struct sockaddr *peer, enum fg_attr_result *res);

bool tenant_allows_vin(const struct fg_tenant *t, const char *vin17);

/* Policy for one request, before anything else happens to it. BODY is the
 * parsed JSON body for POST routes (NULL otherwise); PATH_VIN is the
 * normalized VIN of the path for VIN routes. Returns 0 when allowed, or the
 * HTTP status to answer (400 wrong body shape / malformed VIN, 403 denied)
 * with DETAIL saying which rule decided. When the request's VINs could be
 * read (allowed, or 403 for a denied VIN), VINS receives them normalized
 * (caller frees with tenant_vins_free) for cache invalidation and the
 * audit log. */
int tenant_check(const struct fg_tenant *t, enum fg_route route, const char *path_vin,
		 json_t *body, char ***vins, size_t *nvins, char *detail, size_t detaillen);
void tenant_vins_free(char **vins, size_t n);

#endif
