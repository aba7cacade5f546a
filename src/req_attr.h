/* req_attr.h: what attributed a request (a key, a dedicated listener, a
 * source range), as a record a local token carries, and whether a tenant
 * still has it. Shared by the policy (req_policy.c) and the local token
 * endpoint (req_localtoken.c), which both make and check them. */
#ifndef FG_REQ_ATTR_H
#define FG_REQ_ATTR_H
#include <stdbool.h>
#include "tenant.h"

/* How a request was attributed, as a local token carries it: it is
 * rechecked at each use, so the token ends when a reload removes what
 * attributed it (docs/http.md, "Local access tokens"). FP never holds a
 * key, only: BY_KEY the first 16 bytes of the key's SHA-256; BY_LISTENER
 * the first 16 of the SHA-256 of the dedicated listener's spec;
 * BY_SOURCE the range itself (family, prefix length, 16 address bytes). */
enum fg_attr_by { FG_BY_NONE, FG_BY_LISTENER, FG_BY_KEY, FG_BY_SOURCE };
#define FG_ATTR_FP_LEN 18
struct fg_attribution {
	enum fg_attr_by by;
	unsigned char fp[FG_ATTR_FP_LEN];
};
/* The attribution by the key whose SHA-256 is KEYHASH. */
void req_attr_by_keyhash(const unsigned char keyhash[32], struct fg_attribution *a);
/* The attribution by the dedicated listener written SPEC. */
void req_attr_by_listener(const char *spec, struct fg_attribution *a);
/* The attribution by source range R. */
struct fg_cidr;
void req_attr_by_range(const struct fg_cidr *r, struct fg_attribution *a);
/* Whether tenant T still has what attributed A (its key, listener or
 * source range). */
bool req_attr_holds(const struct fg_tenant *t, const struct fg_attribution *a);

/* Whether an Authorization value is of the Basic scheme (any case). */
bool req_attr_is_basic(const char *authorization);
#endif
