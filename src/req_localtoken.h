/* req_localtoken.h: local bearer tokens for existing High Mobility clients
 * (docs/http.md, "Local access tokens"). POST /v1/access_tokens on a
 * tenant listener is answered here, never forwarded; the tokens it hands
 * out attribute their tenant as an API key does. */
#ifndef FG_REQ_LOCALTOKEN_H
#define FG_REQ_LOCALTOKEN_H
#include <stdbool.h>
#include <stddef.h>

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
/* Characters of a token: 32 random bytes, base64url without padding. */
#define LOCALTOKEN_LEN 43

/* One token request between the steps of req.c (docs/overview.md): the
 * body step reads it, the client step authenticates it, the tenant_rate
 * step counts it and the local_token step answers it. Free with
 * req_localtoken_req_free (the secret is wiped). */
struct localtoken_req {
	char *grant_type, *client_id, *secret;
	size_t secret_len;
	bool by_key;                       /* a key authenticated it (else the listener or source) */
	unsigned char keyhash[32];         /* by_key: the key's SHA-256 */
};
void req_localtoken_req_free(struct localtoken_req *q);

/* Cache-Control: no-store and Pragma: no-cache into HEADERS: every answer
 * of the token route past its route and attribute steps carries them
 * (RFC 6749 5.1). */
void req_localtoken_headers(struct evkeyvalq *headers);

/* The body step: BODY/LEN (within max_body_bytes; the step checked) with
 * Content-Type CTYPE (may be NULL), form-encoded or JSON, into Q. 0, or
 * 400 with the OAuth error appended to OUT. */
int req_localtoken_read(struct localtoken_req *q, const char *ctype, const unsigned char *body, size_t len,
			struct evbuffer *out);

/* The client step: the tenant Q's client_id names when its secret is one
 * of that tenant's keys, or when the caller is attributed to that tenant
 * by BY_ADDR (its listener or source address; NULL: none). DEDICATED:
 * the request came in on a tenant's own listener, which hands out that
 * tenant's tokens only. 0 with *TENANT set, or 400/401 with the OAuth
 * error appended to OUT (and *TENANT NULL). */
int req_localtoken_authenticate(struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *by_addr,
				bool dedicated, const struct fg_tenant **tenant, struct evbuffer *out);

/* The refusals the shared steps make on the token route, in the OAuth
 * error shape, logged and counted: a body over max_body_bytes (413), and
 * tenant T over its rate (429; Retry-After RETRY_AFTER seconds into
 * HEADERS). Return the status. */
int req_localtoken_too_large(struct evbuffer *out);
int req_localtoken_over_rate(const struct fg_tenant *t, double retry_after, struct evkeyvalq *headers,
			     struct evbuffer *out);

/* The local_token step: issues TENANT's token for Q (valid NOW + the
 * configured local_token_ttl) and appends the OAuth answer to OUT. 200,
 * or 500 with the OAuth error (no random bytes, no memory). */
int req_localtoken_grant(const struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *tenant,
			 double now, struct evbuffer *out);

/* Issues a token for TENANT_NAME, bound to the SHA-256 KEYHASH of the key
 * that asked for it (NULL: issued to the caller's address), valid until
 * NOW + TTL. OUT gets LOCALTOKEN_LEN characters and a NUL. 0, or -1 when
 * no random bytes or memory could be had. */
int req_localtoken_issue(const char *tenant_name, const unsigned char *keyhash, double now, int ttl,
		     char out[LOCALTOKEN_LEN + 1]);

/* The tenant of C that the live token TOK/LEN belongs to: its tenant must
 * still exist in C and, when a key issued it, still have that key.
 * NULL for an unknown, expired or orphaned token. */
const struct fg_tenant *req_localtoken_lookup(const struct fg_config *c, const char *tok, size_t len,
					  double now);

size_t req_localtoken_count(void);   /* live tokens held, expired ones not yet swept included */
void req_localtoken_clear(void);     /* drops every token (tests, shutdown) */
#endif
