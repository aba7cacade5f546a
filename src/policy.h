/* policy.h: attribution of a request to a tenant and the per-request
 * policy checks of SPEC.md §3/§4. Pure reads of an immutable
 * configuration: no lock, no allocation that outlives a call except the
 * VIN list handed to the caller. */
#ifndef FG_POLICY_H
#define FG_POLICY_H
#include <stddef.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "route.h"

struct fg_config;
struct fg_tenant;

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
const struct fg_tenant *policy_attribute(const struct fg_config *c, const char *listener_spec,
					 const char *key, size_t keylen,
					 const struct sockaddr *peer, enum fg_attr_result *res);

/* The API key a client presented in headers H, if any: Bearer or X-API-Key. */
struct evkeyvalq;
const char *policy_api_key(struct evkeyvalq *h);
/* The head check of a request with a body, on its headers H alone, before
 * the body is read: attribution as policy_attribute (401, 503 for a
 * listener a reload removed) and a declared Content-Length over
 * max_body_bytes (413). 0 when the request may go on; else the status,
 * with DETAIL. */
int policy_head(const struct fg_config *c, const char *listener_spec, struct evkeyvalq *h,
		const struct sockaddr *peer, char *detail, size_t len);

bool policy_allows_vin(const struct fg_tenant *t, const char *vin17);

/* Policy for one request, before anything else happens to it. BODY is the
 * parsed JSON body for POST routes (NULL otherwise); PATH_VIN is the
 * normalized VIN of the path for VIN routes. Returns 0 when allowed, or the
 * HTTP status to answer (400 wrong body shape / malformed VIN, 403 denied)
 * with DETAIL saying which rule decided. When the request's VINs could be
 * read (allowed, or 403 for a denied VIN), VINS receives them normalized
 * (caller frees with policy_vins_free) for cache invalidation and the
 * audit log. */
int policy_check(const struct fg_tenant *t, enum fg_route route, const char *path_vin,
		 json_t *body, char ***vins, size_t *nvins, char *detail, size_t detaillen);
void policy_vins_free(char **vins, size_t n);
#endif
