/* req_localtoken.c: the local token endpoint and its token store, so that a
 * service written for High Mobility (its own token logic: POST
 * /v1/access_tokens, then Authorization: Bearer) moves behind fleetgate
 * with a new base URL and new credentials only (docs/http.md, "Local
 * access tokens"; docs/tenants.md, "Moving an existing High Mobility
 * client behind fleetgate").
 *
 * Owns, for the steps of req.c that the token route runs through (body,
 * client, tenant_rate, local_token; docs/overview.md): reading a token
 * request (form-encoded or JSON), deciding it (client_id names a tenant;
 * client_secret is one of that tenant's keys, or the caller is already
 * attributed to that tenant by its listener, client certificate or
 * source address), the
 * OAuth-shaped answers and refusals, and the process-wide store of
 * the tokens issued. The store keeps only SHA-256 hashes of tokens, with
 * the tenant's name, the hash of the key that asked (if any) and the
 * expiry; it is shared by every worker thread behind one mutex, bounded
 * by LOCALTOKEN_MAX and by LOCALTOKEN_PER_TENANT for each tenant (so one
 * tenant fetching tokens in a loop drops its own, not others'), and swept of
 * expired tokens as it goes. A token request counts against its tenant's
 * request rate in the tenant_rate step like any other request. A token is
 * checked against the configuration in force when it is used, so it
 * survives a reload while its tenant (and key) do and dies with them.
 *
 * Never: forward anything upstream or touch the upstream token; put a
 * token, a client secret or a key into a log line, a counter or an error
 * body; say in an answer which part of the credentials was wrong. */
#define _GNU_SOURCE
#include "req_localtoken.h"
#include "req_localtoken_parse.h"
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "stats.h"
#include "tenant.h"
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* ---- the store ------------------------------------------------------------ */

#define LT_BUCKETS 4096         /* a power of two */
#define LT_SWEEP_EVERY 60.0     /* seconds between sweeps of expired tokens */
#define LT_NAME_MAX 64          /* tenant names are at most 64 characters */

struct lt_entry {
	unsigned char hash[SHA256_DIGEST_LENGTH];     /* of the token */
	struct fg_attribution by;                     /* what attributed it */
	double expires;                               /* monotonic */
	char tenant[LT_NAME_MAX + 1];
	struct lt_entry *next;
};

/* Live tokens of one tenant name (names come from the configuration
 * only: a token is issued after its tenant was found). */
struct lt_count {
	char tenant[LT_NAME_MAX + 1];
	size_t n;
};

static struct {
	pthread_mutex_t lock;
	struct lt_entry *b[LT_BUCKETS];
	size_t n;
	double next_sweep;
	struct lt_count *counts;
	size_t ncounts;
} lt = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t lt_bucket(const unsigned char *hash)
{
	/* The hash of 32 random bytes: any four of its bytes are uniform. */
	uint32_t v;
	memcpy(&v, hash, sizeof v);
	return v & (LT_BUCKETS - 1);
}

/* The count of TENANT's live tokens (NULL: none yet); lock held. A
 * handful of tenants: a linear search. */
static struct lt_count *lt_count_find(const char *tenant)
{
	for (size_t i = 0; i < lt.ncounts; i++)
		if (strcmp(lt.counts[i].tenant, tenant) == 0)
			return &lt.counts[i];
	return NULL;
}

/* The same, made when missing (NULL: no memory); lock held. It may move
 * every count: nothing keeps a count's address across it. */
static struct lt_count *lt_count_of(const char *tenant)
{
	struct lt_count *c = lt_count_find(tenant);
	if (c)
		return c;
	struct lt_count *more = realloc(lt.counts, (lt.ncounts + 1) * sizeof *more);
	if (!more)
		return NULL;
	lt.counts = more;
	c = &lt.counts[lt.ncounts++];
	snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
	c->n = 0;
	return c;
}

/* Unlinks the entry *PP points at, wiped; lock held. */
static void lt_drop(struct lt_entry **pp)
{
	struct lt_entry *e = *pp;
	*pp = e->next;
	struct lt_count *c = lt_count_find(e->tenant);
	if (c && c->n)
		c->n--;
	OPENSSL_cleanse(e, sizeof *e);
	free(e);
	lt.n--;
}

/* Drops expired tokens (all tokens when NOW is negative); lock held. */
static void lt_sweep(double now)
{
	for (size_t i = 0; i < LT_BUCKETS; i++) {
		struct lt_entry **pp = &lt.b[i];
		while (*pp) {
			if (now < 0 || (*pp)->expires <= now)
				lt_drop(pp);
			else
				pp = &(*pp)->next;
		}
	}
	lt.next_sweep = now + LT_SWEEP_EVERY;
}

/* Full of live tokens (of TENANT's, or of all when NULL): those closest
 * to expiry go, a sixteenth of LIMIT at most, in two scans; lock held.
 * Tokens of one lifetime expire in the order they were issued, so this
 * drops the oldest, and a store kept full by a client that fetches a
 * token per call pays the scans once per LIMIT / 16 tokens, not once per
 * token. */
static void lt_evict(const char *tenant, size_t limit)
{
	double lo = 0, hi = 0;
	bool any = false;
	for (size_t i = 0; i < LT_BUCKETS; i++)
		for (struct lt_entry *e = lt.b[i]; e; e = e->next) {
			if (tenant && strcmp(e->tenant, tenant) != 0)
				continue;
			if (!any || e->expires < lo)
				lo = e->expires;
			if (!any || e->expires > hi)
				hi = e->expires;
			any = true;
		}
	double below = lo + (hi - lo) / 16;
	size_t dropped = 0;
	for (size_t i = 0; i < LT_BUCKETS && dropped < limit / 16; i++) {
		struct lt_entry **pp = &lt.b[i];
		while (*pp && dropped < limit / 16) {
			if ((*pp)->expires <= below && (!tenant || strcmp((*pp)->tenant, tenant) == 0)) {
				lt_drop(pp);
				dropped++;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

static void lt_base64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = a[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

int req_localtoken_issue(const char *tenant_name, const struct fg_attribution *by, double now, int ttl,
			 char out[LOCALTOKEN_LEN + 1])
{
	unsigned char raw[32];
	if (!by || !req_attr_sealable(by->by) || strlen(tenant_name) > LT_NAME_MAX || RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	struct lt_entry *e = calloc(1, sizeof *e);
	if (!e) {
		OPENSSL_cleanse(raw, sizeof raw);
		return -1;
	}
	lt_base64url(raw, sizeof raw, out);
	OPENSSL_cleanse(raw, sizeof raw);
	SHA256((const unsigned char *)out, LOCALTOKEN_LEN, e->hash);
	e->by = *by;
	e->expires = now + ttl;
	snprintf(e->tenant, sizeof e->tenant, "%s", tenant_name);
	pthread_mutex_lock(&lt.lock);
	struct lt_count *c = lt_count_of(tenant_name);
	if (now >= lt.next_sweep || lt.n >= LOCALTOKEN_MAX || (c && c->n >= LOCALTOKEN_PER_TENANT))
		lt_sweep(now);
	if (c && c->n >= LOCALTOKEN_PER_TENANT)
		lt_evict(tenant_name, LOCALTOKEN_PER_TENANT);
	if (lt.n >= LOCALTOKEN_MAX)
		lt_evict(NULL, LOCALTOKEN_MAX);
	if (!c) {
		pthread_mutex_unlock(&lt.lock);
		OPENSSL_cleanse(e, sizeof *e);
		free(e);
		OPENSSL_cleanse(out, LOCALTOKEN_LEN + 1);
		return -1;
	}
	c->n++;
	size_t i = lt_bucket(e->hash);
	e->next = lt.b[i];
	lt.b[i] = e;
	lt.n++;
	pthread_mutex_unlock(&lt.lock);
	return 0;
}

static const struct fg_tenant *lt_tenant_named(const struct fg_config *c, const char *name)
{
	for (size_t i = 0; i < c->ntenants; i++)
		if (strcmp(c->tenants[i]->name, name) == 0)
			return c->tenants[i];
	return NULL;
}

/* The store's claims of token TOK/LEN (LOCALTOKEN_LEN), live at NOW. */
static bool lt_store_find(const char *tok, size_t len, double now, struct localtoken_claims *cl)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	bool found = false;
	SHA256((const unsigned char *)tok, len, h);
	pthread_mutex_lock(&lt.lock);
	for (struct lt_entry **pp = &lt.b[lt_bucket(h)]; *pp; pp = &(*pp)->next) {
		struct lt_entry *e = *pp;
		if (memcmp(e->hash, h, sizeof h) != 0)
			continue;
		if (e->expires <= now) {
			lt_drop(pp);   /* expired: gone now rather than at the next sweep */
			break;
		}
		found = true;
		cl->by = e->by;
		cl->expires = e->expires;
		memcpy(cl->tenant, e->tenant, sizeof cl->tenant);
		break;
	}
	pthread_mutex_unlock(&lt.lock);
	return found;
}

const struct fg_tenant *req_localtoken_lookup_at(const struct fg_config *c, const char *tok, size_t len, double now,
					     double wall)
{
	struct localtoken_claims cl;
	bool found = false;
	/* Keys of any other length (most of them) cost no hash, no lock and
	 * no decryption. */
	if (!c || !tok)
		return NULL;
	if (len == LOCALTOKEN_LEN)
		found = lt_store_find(tok, len, now, &cl);
	else if (len == LOCALTOKEN_SEALED_LEN && c->local_token_nkeys > 0)
		/* Its expiry is the issuer's wall clock: not yet passed here,
		 * and no later than a token issued here now could last. */
		found = req_localtoken_unseal(c, tok, len, &cl) == 0 && cl.expires > wall &&
			cl.expires <= wall + c->local_token_ttl + LOCALTOKEN_SKEW;
	const struct fg_tenant *t = found ? lt_tenant_named(c, cl.tenant) : NULL;
	if (t && !req_attr_holds(t, &cl.by))
		t = NULL;   /* what attributed it (key, listener, certificate, source) was removed by a reload */
	OPENSSL_cleanse(&cl, sizeof cl);
	return t;
}

const struct fg_tenant *req_localtoken_lookup(const struct fg_config *c, const char *tok, size_t len, double now)
{
	return req_localtoken_lookup_at(c, tok, len, now, clock_wall());
}

/* ---- sealed tokens --------------------------------------------------------
 *
 * raw = kid (1) | nonce (12) | AES-256-GCM(claims) (93) | tag (16), the
 * kid and a label as additional data. The claims, fixed size so every
 * token has one length: version 1 (1) | attribution kind (1) |
 * fingerprint (FG_ATTR_FP_LEN) | expiry, unix seconds, big-endian (8) |
 * name length (1) | name, zero padded (64). */

#define LT_SEAL_PT (1 + 1 + FG_ATTR_FP_LEN + 8 + 1 + LT_NAME_MAX)
#define LT_SEAL_RAW (1 + 12 + LT_SEAL_PT + 16)
_Static_assert((LT_SEAL_RAW * 4 + 2) / 3 == LOCALTOKEN_SEALED_LEN, "sealed token length");
static const char lt_aad[] = "fleetgate local token v1";

/* base64url without padding, exactly N bytes into OUT; -1 otherwise. */
static int lt_unbase64url(const char *in, size_t len, unsigned char *out, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = req_localtoken_parse_b64digit((unsigned char)in[i], true);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == n)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o == n && (acc & ((1u << bits) - 1)) == 0 ? 0 : -1;
}

static int lt_gcm(bool seal, const unsigned char key[32], const unsigned char *nonce, const unsigned char *aad,
		  size_t aadlen, const unsigned char *in, size_t n, unsigned char *out, unsigned char tag[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;
	int ok = x && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, seal) == 1 &&
		 EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		 EVP_CipherInit_ex(x, NULL, NULL, key, nonce, seal) == 1 &&
		 EVP_CipherUpdate(x, NULL, &len, aad, (int)aadlen) == 1 &&
		 EVP_CipherUpdate(x, out, &len, in, (int)n) == 1 &&
		 (seal || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1) &&
		 EVP_CipherFinal_ex(x, out + len, &fin) == 1 &&
		 (!seal || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : -1;
}

int req_localtoken_seal(const unsigned char key[32], unsigned char kid, const struct localtoken_claims *cl,
			char out[LOCALTOKEN_SEALED_LEN + 1])
{
	unsigned char pt[LT_SEAL_PT] = {0}, raw[LT_SEAL_RAW], aad[sizeof lt_aad];
	size_t nlen = strnlen(cl->tenant, sizeof cl->tenant);
	/* Only what unseal gives back: one of the four kinds a token may
	 * carry (listener, certificate, key, source), an expiry
	 * that fits the 8 bytes (NaN or beyond 2^64 would make the
	 * conversion undefined). */
	if (nlen == 0 || nlen > LT_NAME_MAX || !req_attr_sealable(cl->by.by) ||
	    !(cl->expires >= 0 && cl->expires < 18446744073709551616.0) || RAND_bytes(raw + 1, 12) != 1)
		return -1;
	uint64_t exp = (uint64_t)cl->expires;
	pt[0] = 1;
	pt[1] = (unsigned char)cl->by.by;
	memcpy(pt + 2, cl->by.fp, FG_ATTR_FP_LEN);
	for (int i = 0; i < 8; i++)
		pt[2 + FG_ATTR_FP_LEN + i] = (unsigned char)(exp >> (56 - 8 * i));
	pt[2 + FG_ATTR_FP_LEN + 8] = (unsigned char)nlen;
	memcpy(pt + 2 + FG_ATTR_FP_LEN + 9, cl->tenant, nlen);
	raw[0] = kid;
	memcpy(aad, lt_aad, sizeof lt_aad - 1);
	aad[sizeof lt_aad - 1] = kid;
	int rc = lt_gcm(true, key, raw + 1, aad, sizeof aad, pt, sizeof pt, raw + 13, raw + 13 + LT_SEAL_PT);
	OPENSSL_cleanse(pt, sizeof pt);
	if (rc == 0)
		lt_base64url(raw, sizeof raw, out);
	return rc;
}

int req_localtoken_unseal(const struct fg_config *c, const char *tok, size_t len, struct localtoken_claims *cl)
{
	unsigned char raw[LT_SEAL_RAW], pt[LT_SEAL_PT], aad[sizeof lt_aad];
	bool opened = false;
	memset(cl, 0, sizeof *cl);
	if (!c || len != LOCALTOKEN_SEALED_LEN || lt_unbase64url(tok, len, raw, sizeof raw) < 0)
		return -1;
	memcpy(aad, lt_aad, sizeof lt_aad - 1);
	aad[sizeof lt_aad - 1] = raw[0];
	for (int k = 0; k < c->local_token_nkeys && k < 2 && !opened; k++)
		opened = c->local_token_kids[k] == raw[0] &&
			 lt_gcm(false, c->local_token_keys[k], raw + 1, aad, sizeof aad, raw + 13, LT_SEAL_PT, pt,
				raw + 13 + LT_SEAL_PT) == 0;
	if (!opened)
		return -1;
	size_t nlen = pt[2 + FG_ATTR_FP_LEN + 8];
	const unsigned char *name = pt + 2 + FG_ATTR_FP_LEN + 9;
	int rc = pt[0] == 1 && req_attr_sealable((enum fg_attr_by)pt[1]) && nlen >= 1 && nlen <= LT_NAME_MAX &&
		 !memchr(name, '\0', nlen) ? 0 : -1;
	if (rc == 0) {
		uint64_t exp = 0;
		for (int i = 0; i < 8; i++)
			exp = (exp << 8) | pt[2 + FG_ATTR_FP_LEN + i];
		cl->by.by = (enum fg_attr_by)pt[1];
		memcpy(cl->by.fp, pt + 2, FG_ATTR_FP_LEN);
		cl->expires = (double)exp;
		memcpy(cl->tenant, name, nlen);
	}
	OPENSSL_cleanse(pt, sizeof pt);
	return rc;
}

size_t req_localtoken_count(void)
{
	pthread_mutex_lock(&lt.lock);
	size_t n = lt.n;
	pthread_mutex_unlock(&lt.lock);
	return n;
}

void req_localtoken_clear(void)
{
	pthread_mutex_lock(&lt.lock);
	lt_sweep(-1);
	lt.next_sweep = 0;
	free(lt.counts);
	lt.counts = NULL;
	lt.ncounts = 0;
	pthread_mutex_unlock(&lt.lock);
}

/* ---- the endpoint --------------------------------------------------------- */

/* The tenant one of the NIDS client ids names, and whether one of the
 * NSEC secrets is one of its keys (that key's hash into KEYHASH). Every
 * secret is hashed and compared with every tenant's every key, found or
 * not, so the answer takes the same time whether the tenant exists or
 * not, whichever part was wrong, and (with Basic: two of each, as sent
 * and decoded) whichever form the client sent. */
static const struct fg_tenant *lt_credentials(const struct fg_config *c, char *const *ids, int nids,
					      char *const *secrets, const size_t *slens, int nsec,
					      unsigned char keyhash[SHA256_DIGEST_LENGTH], bool *key_ok)
{
	const struct fg_tenant *named = NULL;
	unsigned char h[2][SHA256_DIGEST_LENGTH];
	*key_ok = false;
	for (int s = 0; s < nsec; s++)
		SHA256((const unsigned char *)(secrets[s] ? secrets[s] : ""), secrets[s] ? slens[s] : 0, h[s]);
	for (size_t i = 0; i < c->ntenants; i++) {
		bool is_named = false;
		for (int d = 0; d < nids; d++)
			is_named |= ids[d] && strcmp(c->tenants[i]->name, ids[d]) == 0;
		if (is_named && !named)
			named = c->tenants[i];
		for (size_t k = 0; k < c->tenants[i]->nkeys; k++)
			for (int s = 0; s < nsec; s++) {
				bool eq = CRYPTO_memcmp(c->tenants[i]->keys[k], h[s], SHA256_DIGEST_LENGTH) == 0;
				if (eq && is_named && named == c->tenants[i] && slens[s] > 0 && secrets[s]) {
					*key_ok = true;
					memcpy(keyhash, h[s], SHA256_DIGEST_LENGTH);
				}
			}
	}
	OPENSSL_cleanse(h, sizeof h);
	return named;
}

static void lt_wipe_text(const void *data, size_t len, void *arg)
{
	(void)arg;
	OPENSSL_cleanse((void *)data, len);
	free((void *)data);
}

static int lt_error(struct evbuffer *out, int status, const char *error, const char *description)
{
	stats_inc(STAT_local_tokens_refused);
	evbuffer_add_printf(out, "{\"error\":\"%s\",\"error_description\":\"%s\"}", error, description);
	return status;
}

void req_localtoken_headers(const struct localtoken_req *q, int status, struct evkeyvalq *headers)
{
	/* RFC 6749 5.1: no cache keeps an answer that may hold a token. */
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_add_header(headers, "Pragma", "no-cache");
	/* RFC 6749 5.2: a client that authenticated with a scheme is told
	 * which one failed. */
	if (status == 401 && q && q->basic)
		evhttp_add_header(headers, "WWW-Authenticate", "Basic realm=\"fleetgate\"");
}

int req_localtoken_too_large(struct evbuffer *out)
{
	log_warn("local token request refused: the body is larger than max_body_bytes");
	return lt_error(out, 413, "invalid_request", "the request body is too large");
}

int req_localtoken_bad_header(int status, struct evbuffer *out)
{
	if (status == 400) {
		log_warn("local token request refused: more than one Authorization or X-API-Key header");
		return lt_error(out, 400, "invalid_request", "send one Authorization header");
	}
	log_warn("local token request refused: the Authorization or X-API-Key sent is no tenant's API key");
	return lt_error(out, 401, "invalid_client", "client authentication failed");
}

int req_localtoken_over_rate(const struct fg_tenant *t, double retry_after, struct evkeyvalq *headers,
			     struct evbuffer *out)
{
	char v[24];
	snprintf(v, sizeof v, "%d", (int)ceil(retry_after) < 1 ? 1 : (int)ceil(retry_after));   /* as the steps' 429 */
	evhttp_add_header(headers, "Retry-After", v);
	log_warn("local token request refused for tenant %s: over its request rate of %u/%us", t->name,
		 t->rate.count, t->rate.window_s);
	stats_inc(STAT_rate_limited);
	return lt_error(out, 429, "temporarily_unavailable", "over the request rate; retry later");
}

int req_localtoken_read(struct localtoken_req *q, const char *authorization, const char *ctype,
			const unsigned char *body, size_t len, struct evbuffer *out)
{
	if (authorization && req_attr_is_basic(authorization) && req_localtoken_parse_basic(authorization, q) < 0) {
		log_warn("local token request refused: the Authorization: Basic value is not base64 of id:secret");
		return lt_error(out, 401, "invalid_client", "the Basic credentials cannot be read");
	}
	int parsed = req_localtoken_parse_body(ctype, body ? body : (const unsigned char *)"", body ? len : 0, q);
	if (parsed == -2) {
		log_warn("local token request refused: its Content-Type is neither form-encoded nor JSON");
		return lt_error(out, 415, "invalid_request",
				"Content-Type must be application/x-www-form-urlencoded or application/json");
	}
	if (parsed < 0) {
		log_warn("local token request refused: the body is neither form-encoded nor a JSON object "
			 "of strings, or repeats a parameter, or holds a NUL");
		return lt_error(out, 400, "invalid_request",
				"the body must be form-encoded or a JSON object, each parameter once");
	}
	/* RFC 6749 2.3: one authentication method. A client_id in the body
	 * beside Basic is allowed when it is the same client. */
	if (q->basic && (q->secret || (q->client_id && strcmp(q->client_id, q->basic_id[0]) != 0 &&
				       strcmp(q->client_id, q->basic_id[1]) != 0))) {
		log_warn("local token request refused: credentials both in Authorization: Basic and in the body");
		return lt_error(out, 400, "invalid_request",
				"send the client credentials either in Authorization: Basic or in the body, not both");
	}
	if (!q->grant_type || strcmp(q->grant_type, "client_credentials") != 0) {
		log_warn("local token request refused: grant_type is %s", q->grant_type ? "not client_credentials" : "missing");
		return q->grant_type ? lt_error(out, 400, "unsupported_grant_type", "grant_type must be client_credentials")
				     : lt_error(out, 400, "invalid_request", "grant_type can't be blank");
	}
	return 0;
}

int req_localtoken_authenticate(struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *caller,
				const struct fg_attribution *caller_by, bool dedicated, const struct fg_tenant **tenant,
				struct evbuffer *out)
{
	bool key_ok = false;
	unsigned char keyhash[SHA256_DIGEST_LENGTH];
	*tenant = NULL;
	char *body_id[1] = { q->client_id }, *body_secret[1] = { q->secret };
	size_t body_len[1] = { q->secret_len };
	const struct fg_tenant *t = q->basic
		? lt_credentials(c, q->basic_id, 2, q->basic_secret, q->basic_secret_len, 2, keyhash, &key_ok)
		: lt_credentials(c, body_id, 1, body_secret, body_len, 1, keyhash, &key_ok);
	/* A dedicated listener is its tenant's alone: no other tenant's
	 * token is handed out there, whatever the secret; nor to a client
	 * whose verified certificate is another tenant's (as a certificate
	 * beside another tenant's key is refused on every route). */
	bool caller_ok = t && caller == t && caller_by && req_attr_sealable(caller_by->by);
	bool bound = dedicated || (caller && caller_by && caller_by->by == FG_BY_CERT);
	if (!t || (bound && caller != t) || !(key_ok || caller_ok)) {
		if (!t)
			log_warn("local token request refused: client_id names no tenant");
		else if (bound && caller != t)
			log_warn("local token request refused for tenant %s: the caller came in on another tenant's "
				 "listener or with another tenant's client certificate", t->name);
		else
			log_warn("local token request refused for tenant %s: the client_secret is not one of its "
				 "keys and the caller is not attributed to it by listener, certificate, source or key",
				 t->name);
		OPENSSL_cleanse(keyhash, sizeof keyhash);
		return lt_error(out, 401, "invalid_client", "client authentication failed");
	}
	if (key_ok)
		req_attr_by_keyhash(keyhash, &q->by);
	else
		q->by = *caller_by;
	OPENSSL_cleanse(keyhash, sizeof keyhash);
	*tenant = t;
	return 0;
}

int req_localtoken_grant(const struct localtoken_req *q, const struct fg_config *c, const struct fg_tenant *t,
			 double now, double wall, struct evbuffer *out)
{
	char tok[LOCALTOKEN_SEALED_LEN + 1];
	int rc;
	if (c->local_token_nkeys > 0) {
		struct localtoken_claims cl = { .by = q->by, .expires = floor(wall) + c->local_token_ttl };
		snprintf(cl.tenant, sizeof cl.tenant, "%s", t->name);
		rc = req_localtoken_seal(c->local_token_keys[0], c->local_token_kids[0], &cl, tok);
		OPENSSL_cleanse(&cl, sizeof cl);
	} else {
		rc = req_localtoken_issue(t->name, &q->by, now, c->local_token_ttl, tok);
	}
	if (rc < 0) {
		log_error("local token for tenant %s: no random bytes or no memory", t->name);
		return lt_error(out, 500, "server_error", "no token could be issued");
	}
	char *text = NULL;
	int n = asprintf(&text, "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%d,"
			 "\"scope\":\"fleet:clearance\"}", tok, c->local_token_ttl);
	OPENSSL_cleanse(tok, sizeof tok);
	/* By reference: the text is wiped when libevent is done sending it,
	 * so no copy of the token outlives the answer in freed memory. */
	if (n < 0 || evbuffer_add_reference(out, text, (size_t)n, lt_wipe_text, NULL) < 0) {
		if (n >= 0)
			lt_wipe_text(text, (size_t)n, NULL);
		log_error("local token for tenant %s: no memory for the answer", t->name);
		return lt_error(out, 500, "server_error", "no token could be issued");
	}
	stats_inc(STAT_local_tokens_issued);
	log_info("local token issued to tenant %s (by %s, %d s%s)", t->name, req_attr_name(q->by.by), c->local_token_ttl,
		 c->local_token_nkeys > 0 ? ", sealed" : "");
	return 200;
}
