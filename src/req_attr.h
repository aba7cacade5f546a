/* req_attr.h: how a request was attributed and what attributed it (a
 * key, a dedicated listener, a client certificate's name or pin, a source
 * range), as a record a local token carries, and whether a tenant still
 * has it. Shared by the policy (req_policy.c) and the local token
 * endpoint (req_localtoken.c), which both make and check them. */
#ifndef FG_REQ_ATTR_H
#define FG_REQ_ATTR_H
#include <stdbool.h>
#include "tenant.h"

/* How a request was attributed (the "by" of its access and audit lines)
 * and, for the kinds a local token may carry, a fingerprint of what did
 * it: a token is rechecked at each use, so it ends when a reload removes
 * what attributed it (docs/http.md, "Local access tokens"). FP never
 * holds a key or a certificate, only: BY_KEY the first 16 bytes of the
 * key's SHA-256; BY_LISTENER the first 16 of the SHA-256 of the dedicated
 * listener's spec; BY_SOURCE the range itself (family, prefix length, 16
 * address bytes); BY_CERT the first 16 of the SHA-256 of the tenant's
 * cert_names entry or cert_sha256 pin the certificate matched (behind a
 * tag, so a name and a pin never share a fingerprint), then which of the
 * two (1 name, 2 pin). BY_TOKEN (a request attributed by a local token)
 * is a "how" for the log lines only: no token is issued on it, and its FP
 * is zero.
 *
 * The values are sealed into local tokens (req_localtoken.c): a token
 * sealed by an earlier version must read back the same, so existing
 * values never change and new ones are added at the end. */
enum fg_attr_by {
	FG_BY_NONE = 0,
	FG_BY_LISTENER = 1,
	FG_BY_KEY = 2,
	FG_BY_SOURCE = 3,
	FG_BY_CERT = 4,
	FG_BY_TOKEN = 5,
};
#define FG_ATTR_FP_LEN 18
struct fg_attribution {
	enum fg_attr_by by;
	unsigned char fp[FG_ATTR_FP_LEN];
};
/* "listener", "cert", "key", "token", "source"; NULL for NONE (or any
 * other value). */
const char *req_attr_name(enum fg_attr_by by);
/* Whether a local token may carry BY: LISTENER, CERT, KEY or SOURCE. */
bool req_attr_sealable(enum fg_attr_by by);
/* The attribution by the key whose SHA-256 is KEYHASH. */
void req_attr_by_keyhash(const unsigned char keyhash[32], struct fg_attribution *a);
/* The attribution by the dedicated listener written SPEC. */
void req_attr_by_listener(const char *spec, struct fg_attribution *a);
/* The attribution by source range R. */
struct fg_cidr;
void req_attr_by_range(const struct fg_cidr *r, struct fg_attribution *a);
/* The attribution by a verified client certificate that matched the
 * tenant's cert_names entry NAME (PIN NULL) or its cert_sha256 pin PIN
 * (NAME NULL). */
void req_attr_by_cert(const char *name, const unsigned char pin[32], struct fg_attribution *a);
/* Whether tenant T still has what attributed A (its key, listener, source
 * range, certificate name or pin); never for NONE or TOKEN. */
bool req_attr_holds(const struct fg_tenant *t, const struct fg_attribution *a);

/* Whether an Authorization value is of the Basic scheme (any case). */
bool req_attr_is_basic(const char *authorization);
#endif
