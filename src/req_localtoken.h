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

/* Answers one token request. BODY/LEN is the request body, CTYPE its
 * Content-Type (may be NULL). BY_ADDR is the tenant the caller is
 * attributed to by its listener or source address (NULL: none);
 * DEDICATED says the request came in on a tenant's own listener, which
 * is that tenant's alone. Returns the HTTP status (200, 400, 401, 413,
 * 429 with Retry-After, 500) with the JSON answer appended to OUT and its
 * headers (no-store) added to HEADERS; *TENANT is the tenant a token was
 * issued to, or that authenticated and is over its rate (429); NULL
 * otherwise. Logs and counts every refusal. */
int req_localtoken_request(const struct fg_config *c, const struct fg_tenant *by_addr, bool dedicated,
		       const char *ctype, const unsigned char *body, size_t len, double now,
		       const struct fg_tenant **tenant, struct evkeyvalq *headers, struct evbuffer *out);

/* req_localtoken_request for request ER (body, Content-Type, answer headers
 * from it). URI is the request's as the access log will show it: its
 * query is cut off, so no client_secret= sent there is logged. 500
 * without OUT (no memory). */
int req_localtoken_answer(struct evhttp_request *er, const struct fg_config *c, const struct fg_tenant *by_addr,
		      bool dedicated, double now, char *uri, const struct fg_tenant **tenant, struct evbuffer *out);

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
