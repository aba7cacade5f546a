/* req_policy.h: attribution of a request to a tenant and the per-request
 * policy checks of docs/tenants.md and docs/http.md. Pure reads of an immutable
 * configuration: no lock, no allocation that outlives a call except the
 * VIN list handed to the caller. */
#ifndef FG_REQ_POLICY_H
#define FG_REQ_POLICY_H
#include <stddef.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "req_attr.h"
#include "req_route.h"

struct fg_config;
struct fg_tenant;

enum fg_attr_result {
	FG_ATTR_OK,
	FG_ATTR_BAD_KEY,    /* a key was presented and matches no tenant */
	FG_ATTR_NONE,       /* nothing matched */
	FG_ATTR_LISTENER_GONE, /* a dedicated listener no tenant of C owns any
				* more (a reload removed it): not attributed */
	FG_ATTR_AMBIGUOUS,     /* Authorization or X-API-Key sent more than once */
	FG_ATTR_BAD_CERT,      /* a client certificate that did not verify: never attributes */
	FG_ATTR_CONFLICT       /* a verified certificate of one tenant with another's key, on
				* another's dedicated listener, or naming two tenants */
};
struct fg_peer_cert;   /* tenant_cert.h */

/* How a request that RES left without a tenant is refused: 401 (no
 * tenant, or a credential that matches none), 400 (AMBIGUOUS) or 503
 * (LISTENER_GONE: its tenant is gone, and falling back to keys or sources
 * would hand the connection to someone else, so the client is asked to
 * reconnect, with Connection: close). *DETAIL says why. */
int req_policy_attr_refusal(enum fg_attr_result res, const char **detail);
/* First match wins: LISTENER_SPEC (the dedicated listener the request came
 * in on, NULL for the shared listeners; keys and sources are not looked at
 * there), then the credential of the AUTHORIZATION and X_API_KEY header
 * values (either may be NULL; see req_policy_credential: an API key or a live
 * local token), then the most specific `sources` range holding PEER (may
 * be NULL, e.g. unix). A credential presented in any form that matches no
 * tenant is BAD_KEY, never a fall back to the source. */
const struct fg_tenant *req_policy_attribute(const struct fg_config *c, const char *listener_spec,
					 const char *authorization, const char *x_api_key,
					 const struct sockaddr *peer, enum fg_attr_result *res);

struct evkeyvalq;
/* The whole order of docs/tenants.md, with the credential headers of
 * request headers H (NULL: none read): dedicated listener, then a
 * verified client certificate CERT (NULL on a plain connection; one that
 * failed verification is BAD_CERT, never a fall back; one of another
 * tenant than the listener's or the credential's is CONFLICT), then the
 * credential, then the source. A credential header sent more than once is
 * ambiguous (which one would the client mean, which one did a proxy in
 * front read?): AMBIGUOUS, never the first or the last of them (on a
 * dedicated listener headers are not looked at, so neither is this). */
const struct fg_tenant *req_policy_attribute_request(const struct fg_config *c, const char *listener_spec,
						 const struct fg_peer_cert *cert, struct evkeyvalq *h,
						 const struct sockaddr *peer, enum fg_attr_result *res);
/* The same with *HOW (may be NULL): how the tenant returned was
 * attributed and what did it (req_attr.h), for the log lines and the
 * local tokens issued on it. On the token route (POST /v1/access_tokens,
 * TOKEN_ROUTE) an `Authorization: Basic` is the client's authentication,
 * read by req_localtoken.c, so it is left out here; any other credential
 * must be an API key (a local token is no client credential: BAD_KEY). */
const struct fg_tenant *req_policy_attribute_how(const struct fg_config *c, const char *listener_spec,
					     const struct fg_peer_cert *cert, struct evkeyvalq *h,
					     const struct sockaddr *peer, bool token_route, struct fg_attribution *how,
					     enum fg_attr_result *res);

enum fg_credential {
	FG_CRED_NONE,    /* no Authorization, no X-API-Key */
	FG_CRED_KEY,     /* *KEY (*KEYLEN bytes, within a header value) */
	FG_CRED_BAD      /* presented, but no key can be read from it: Bearer
			  * alone, another scheme, an empty value, two
			  * different keys */
};
/* The credential of a request, the one place it is read from headers:
 * `Authorization: Bearer KEY` (scheme in any case, then spaces or tabs) or
 * `X-API-Key: KEY`, each trimmed of spaces and tabs the same way. When
 * both are present they must hold the same key. */
enum fg_credential req_policy_credential(const char *authorization, const char *x_api_key,
				     const char **key, size_t *keylen);

/* The body step of docs/http.md for ROUTE: on the routes that
 * take a body (create, access token) CONTENT_TYPE must be a JSON media
 * type (application/json or application/<x>+json, any parameters) or
 * absent, else 415; BODY (LEN bytes) must be JSON with no duplicate key
 * anywhere, else 400. *JSON receives the parsed body (caller decrefs);
 * NULL on the other routes, which take no body. DETAIL says why. */
int req_policy_parse_body(enum fg_route route, const char *content_type, const unsigned char *body, size_t len,
		      json_t **json, char *detail, size_t detaillen);
bool req_policy_json_media_type(const char *content_type);
/* The head check of a request with a body, on its headers H alone, before
 * the body is read: attribution as req_policy_attribute_request when ATTRIBUTE
 * (refused as req_policy_attr_refusal says; the local token endpoint reads
 * its own credentials from the body, so it is not attributed here) and a
 * declared Content-Length over max_body_bytes (413). 0 when the request
 * may go on; else the status, with DETAIL. */
int req_policy_head(const struct fg_config *c, const char *listener_spec, const struct fg_peer_cert *cert,
		    bool attribute, struct evkeyvalq *h, const struct sockaddr *peer, char *detail, size_t len);

bool req_policy_allows_vin(const struct fg_tenant *t, const char *vin17);

/* Policy for one request, before anything else happens to it. BODY is the
 * parsed JSON body for POST routes (NULL otherwise); PATH_VIN is the
 * normalized VIN of the path for VIN routes. Returns 0 when allowed, or the
 * HTTP status to answer (400 wrong body shape / malformed VIN, 403 denied)
 * with DETAIL saying which rule decided. When the request's VINs could be
 * read (allowed, or 403 for a denied VIN), VINS receives them normalized
 * (caller frees with req_policy_vins_free) for cache invalidation and the
 * audit log. */
int req_policy_check(const struct fg_tenant *t, enum fg_route route, const char *path_vin,
		 json_t *body, char ***vins, size_t *nvins, char *detail, size_t detaillen);
void req_policy_vins_free(char **vins, size_t n);
#endif
