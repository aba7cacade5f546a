/* req_localtoken.h: local bearer tokens for existing High Mobility clients
 * (docs/http.md, "Local access tokens"). POST /v1/access_tokens on a
 * tenant listener is answered here, never forwarded; the tokens it hands
 * out attribute their tenant as an API key does. */
#ifndef FG_REQ_LOCALTOKEN_H
#define FG_REQ_LOCALTOKEN_H
#include <stdbool.h>
#include <stddef.h>
#include "req_attr.h"
#include "req_localtoken_parse.h"

struct evbuffer;
struct evhttp_request;
struct evkeyvalq;
struct fg_config;
struct fg_tenant;

/* Live tokens at most: when full, the tokens closest to expiry go first,
 * up to a sixteenth of them at once (their clients get 401 invalid_token
 * and fetch another). */
#define LOCALTOKEN_MAX 100000
/* Live tokens of one tenant at most: beyond, that tenant's own tokens
 * closest to expiry go the same way, so a tenant fetching tokens in a
 * loop cannot push other tenants' tokens out of the store. */
#define LOCALTOKEN_PER_TENANT 10000
/* Characters of a token of the per-process store: 32 random bytes,
 * base64url without padding. */
#define LOCALTOKEN_LEN 43
/* Characters of a sealed token ([gateway] local_token_key): key id (1),
 * nonce (12), the sealed claims (93), the GCM tag (16), base64url
 * without padding. Every sealed token has this length, whatever its
 * tenant's name. */
#define LOCALTOKEN_SEALED_LEN 163
/* Seconds a sealed token's expiry may lie beyond now + local_token_ttl
 * (the clock of the instance that issued it ahead of this one's) before
 * it is refused as longer-lived than any token issued now. */
#define LOCALTOKEN_SKEW 60

/* What a token says: its tenant, what attributed it (rechecked at each
 * use) and its expiry (the store: monotonic seconds; sealed: unix
 * seconds, shared by instances). */
struct localtoken_claims {
	char tenant[65];
	struct fg_attribution by;
	double expires;
};

/* Seals CL under the AEAD key KEY (32 bytes, key id KID): AES-256-GCM, a
 * random 96-bit nonce. OUT gets LOCALTOKEN_SEALED_LEN characters and a
 * NUL. The expiry is kept in whole seconds (a fraction is dropped). 0,
 * or -1 (no random bytes, a name empty or too long, an attribution of
 * none of the three kinds, an expiry outside 0 to 2^64, OpenSSL): what
 * is sealed unseals to the same claims. */
int req_localtoken_seal(const unsigned char key[32], unsigned char kid, const struct localtoken_claims *cl,
			char out[LOCALTOKEN_SEALED_LEN + 1]);
/* The claims of sealed token TOK/LEN when one of C's keys (current, then
 * previous) opened it: 0, else -1 (forged, altered, truncated, wrong key,
 * malformed contents). Expiry is not checked here. */
int req_localtoken_unseal(const struct fg_config *c, const char *tok, size_t len, struct localtoken_claims *cl);

/* One token request between the steps of req.c (docs/overview.md): the
 * body step reads it (body parameters and an Authorization: Basic), the
 * client step authenticates it, the tenant_rate step counts it and the
 * local_token step answers it. Free with req_localtoken_req_free (the
 * secrets are wiped). */

/* Cache-Control: no-store and Pragma: no-cache into HEADERS: every answer
 * of the token route past its route and attribute steps carries them
 * (RFC 6749 5.1); with Basic, a 401 also WWW-Authenticate (RFC 6749 5.2). */
void req_localtoken_headers(const struct localtoken_req *q, int status, struct evkeyvalq *headers);

/* The body step: AUTHORIZATION (may be NULL; read when Basic) and BODY/LEN
 * (within max_body_bytes; the step checked) with Content-Type CTYPE (may
 * be NULL), form-encoded or JSON, into Q. 0, or 400/401 with the OAuth
 * error appended to OUT. */
int req_localtoken_read(struct localtoken_req *q, const char *authorization, const char *ctype,
			const unsigned char *body, size_t len, struct evbuffer *out);

/* The client step: the tenant Q's client id names when its secret is one
 * of that tenant's keys, or when the caller is attributed to that tenant
 * (CALLER, by CALLER_BY: its listener, source address or an API key sent
 * as a bearer; NULL: none). DEDICATED: the request came in on a tenant's
 * own listener, which hands out that tenant's tokens only. 0 with
 * *TENANT set and Q->by what the token will carry, or 401 with the OAuth
 * error appended to OUT (and *TENANT NULL). */
int req_localtoken_authenticate(struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *caller,
				const struct fg_attribution *caller_by, bool dedicated, const struct fg_tenant **tenant,
				struct evbuffer *out);

/* The refusals the shared steps make on the token route, in the OAuth
 * error shape, logged and counted: a body over max_body_bytes (413),
 * tenant T over its rate (429; Retry-After RETRY_AFTER seconds into
 * HEADERS), and a credential header the attribute step refused (STATUS
 * 400 or 401). Return the status. */
int req_localtoken_too_large(struct evbuffer *out);
int req_localtoken_over_rate(const struct fg_tenant *t, double retry_after, struct evkeyvalq *headers,
			     struct evbuffer *out);
int req_localtoken_bad_header(int status, struct evbuffer *out);

/* The local_token step: issues TENANT's token for Q (sealed when C has a
 * local_token_key, else in the store; valid NOW + local_token_ttl, WALL
 * is the wall clock) and appends the OAuth answer to OUT. 200, or 500
 * with the OAuth error (no random bytes, no memory). */
int req_localtoken_grant(const struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *tenant,
			 double now, double wall, struct evbuffer *out);

/* Issues a store token for TENANT_NAME, attributed as BY (rechecked at
 * each use), valid until NOW + TTL. OUT gets LOCALTOKEN_LEN characters
 * and a NUL. 0, or -1 when no random bytes or memory could be had. */
int req_localtoken_issue(const char *tenant_name, const struct fg_attribution *by, double now, int ttl,
			 char out[LOCALTOKEN_LEN + 1]);

/* The tenant of C that the live token TOK/LEN belongs to: its tenant must
 * still exist in C and still have what attributed the token (key,
 * listener or source range). NOW is monotonic (the store), WALL the wall
 * clock (sealed tokens). NULL for an unknown, forged, expired or orphaned
 * token. req_localtoken_lookup reads the wall clock itself. */
const struct fg_tenant *req_localtoken_lookup_at(const struct fg_config *c, const char *tok, size_t len, double now,
					     double wall);
const struct fg_tenant *req_localtoken_lookup(const struct fg_config *c, const char *tok, size_t len,
					  double now);

size_t req_localtoken_count(void);   /* live tokens held, expired ones not yet swept included */
void req_localtoken_clear(void);     /* drops every token (tests, shutdown) */
#endif
