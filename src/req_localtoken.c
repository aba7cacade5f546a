/* req_localtoken.c: the local token endpoint and its token store, so that a
 * service written for High Mobility (its own token logic: POST
 * /v1/access_tokens, then Authorization: Bearer) moves behind fleetgate
 * with a new base URL and new credentials only (docs/http.md, "Local
 * access tokens"; docs/tenants.md, "Moving an existing High Mobility
 * client behind fleetgate").
 *
 * Owns: reading a token request (form-encoded or JSON), deciding it
 * (client_id names a tenant; client_secret is one of that tenant's keys,
 * or the caller is already attributed to that tenant by its listener or
 * source address), the OAuth-shaped answer, and the process-wide store of
 * the tokens issued. The store keeps only SHA-256 hashes of tokens, with
 * the tenant's name, the hash of the key that asked (if any) and the
 * expiry; it is shared by every worker thread behind one mutex, bounded
 * by LOCALTOKEN_MAX and by LOCALTOKEN_PER_TENANT for each tenant (so one
 * tenant fetching tokens in a loop drops its own, not others'), and swept of
 * expired tokens as it goes. A token request counts against its tenant's
 * request rate like any other request. A token is
 * checked against the configuration in force when it is used, so it
 * survives a reload while its tenant (and key) do and dies with them.
 *
 * Never: forward anything upstream or touch the upstream token; put a
 * token, a client secret or a key into a log line, a counter or an error
 * body; say in an answer which part of the credentials was wrong. */
#define _GNU_SOURCE
#include "req_localtoken.h"
#include "conf.h"
#include "log.h"
#include "req_tenantrate.h"
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
#include <openssl/rand.h>
#include <openssl/sha.h>

/* ---- the store ------------------------------------------------------------ */

#define LT_BUCKETS 4096         /* a power of two */
#define LT_SWEEP_EVERY 60.0     /* seconds between sweeps of expired tokens */
#define LT_NAME_MAX 64          /* tenant names are at most 64 characters */

struct lt_entry {
	unsigned char hash[SHA256_DIGEST_LENGTH];     /* of the token */
	unsigned char keyhash[SHA256_DIGEST_LENGTH];  /* of the key that asked */
	bool by_key;                                  /* false: issued to an address */
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

int req_localtoken_issue(const char *tenant_name, const unsigned char *keyhash, double now, int ttl,
		     char out[LOCALTOKEN_LEN + 1])
{
	unsigned char raw[32];
	if (strlen(tenant_name) > LT_NAME_MAX || RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	struct lt_entry *e = calloc(1, sizeof *e);
	if (!e) {
		OPENSSL_cleanse(raw, sizeof raw);
		return -1;
	}
	lt_base64url(raw, sizeof raw, out);
	OPENSSL_cleanse(raw, sizeof raw);
	SHA256((const unsigned char *)out, LOCALTOKEN_LEN, e->hash);
	if (keyhash) {
		memcpy(e->keyhash, keyhash, sizeof e->keyhash);
		e->by_key = true;
	}
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

static bool lt_tenant_has_key(const struct fg_tenant *t, const unsigned char *keyhash)
{
	bool has = false;
	for (size_t k = 0; k < t->nkeys; k++)
		if (CRYPTO_memcmp(t->keys[k], keyhash, SHA256_DIGEST_LENGTH) == 0)
			has = true;
	return has;
}

const struct fg_tenant *req_localtoken_lookup(const struct fg_config *c, const char *tok, size_t len,
					  double now)
{
	/* Keys of any other length (most of them) cost no hash and no lock. */
	if (!c || !tok || len != LOCALTOKEN_LEN)
		return NULL;
	unsigned char h[SHA256_DIGEST_LENGTH], keyhash[SHA256_DIGEST_LENGTH];
	char name[LT_NAME_MAX + 1] = "";
	bool found = false, by_key = false;
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
		by_key = e->by_key;
		memcpy(keyhash, e->keyhash, sizeof keyhash);
		memcpy(name, e->tenant, sizeof name);
		break;
	}
	pthread_mutex_unlock(&lt.lock);
	const struct fg_tenant *t = found ? lt_tenant_named(c, name) : NULL;
	if (t && by_key && !lt_tenant_has_key(t, keyhash))
		t = NULL;   /* the key that asked for it was removed by a reload */
	OPENSSL_cleanse(keyhash, sizeof keyhash);
	return t;
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

/* The parameters of a token request; the secret is wiped after use. */
struct lt_params {
	char *grant_type, *client_id, *secret;
	size_t secret_len;
};

static void lt_params_free(struct lt_params *p)
{
	if (p->secret)
		OPENSSL_cleanse(p->secret, p->secret_len);
	free(p->grant_type);
	free(p->client_id);
	free(p->secret);
	memset(p, 0, sizeof *p);
}

/* Takes NAME = VALUE into P when it is one of the three; a second one of
 * the same name is refused (which would the client mean?). */
static int lt_param(struct lt_params *p, const char *name, const char *value, size_t vlen)
{
	char **slot = strcmp(name, "grant_type") == 0 ? &p->grant_type
		    : strcmp(name, "client_id") == 0 ? &p->client_id
		    : strcmp(name, "client_secret") == 0 ? &p->secret : NULL;
	if (!slot)
		return 0;   /* scope, audience...: not ours to check */
	if (*slot || !(*slot = malloc(vlen + 1)))
		return -1;
	memcpy(*slot, value, vlen);
	(*slot)[vlen] = '\0';
	if (slot == &p->secret)
		p->secret_len = vlen;
	return 0;
}

static int lt_parse_json(const unsigned char *body, size_t len, struct lt_params *p)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je), *v;
	const char *k;
	int rc = json_is_object(j) ? 0 : -1;
	if (rc == 0) {
		json_object_foreach(j, k, v) {
			bool ours = !strcmp(k, "grant_type") || !strcmp(k, "client_id") || !strcmp(k, "client_secret");
			if (ours && (!json_is_string(v) ||
				     lt_param(p, k, json_string_value(v), json_string_length(v)) < 0))
				rc = -1;
			if (ours && json_is_string(v) && !strcmp(k, "client_secret"))
				OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
		}
	}
	json_decref(j);
	return rc;
}

static int lt_parse_form(const unsigned char *body, size_t len, struct lt_params *p)
{
	char *s = malloc(len + 1);
	struct evkeyvalq q;
	if (!s)
		return -1;
	memcpy(s, body, len);
	s[len] = '\0';
	TAILQ_INIT(&q);
	int rc = (memchr(s, '\0', len) || evhttp_parse_query_str(s, &q) < 0) ? -1 : 0;
	for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
		if (rc == 0 && lt_param(p, kv->key, kv->value, strlen(kv->value)) < 0)
			rc = -1;
		if (strcmp(kv->key, "client_secret") == 0)
			OPENSSL_cleanse(kv->value, strlen(kv->value));
	}
	evhttp_clear_headers(&q);
	OPENSSL_cleanse(s, len);
	free(s);
	return rc;
}

/* Whether CT's media type (parameters and blanks aside) is NAME, or with
 * SUFFIX, ends in "+json" after a name of its own (application/x+json). */
static bool lt_media_is(const char *ct, size_t n, const char *name, bool suffix)
{
	size_t nn = strlen(name);
	if (n == nn && strncasecmp(ct, name, nn) == 0)
		return true;
	static const char app[] = "application/";
	size_t an = sizeof app - 1;
	return suffix && n > an + 5 && strncasecmp(ct, app, an) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0 &&
	       strcspn(ct + an, "/ \t") >= n - an;
}

/* JSON when its Content-Type says so, form-encoded when it says that (as
 * OAuth clients send by default), either by the look of the body without
 * one; any other media type (application/jsonx, text/plain) is 415: -2.
 * Malformed or repeated parameters: -1. */
static int lt_parse(const char *ctype, const unsigned char *body, size_t len, struct lt_params *p)
{
	bool json;
	const char *ct = ctype ? ctype + strspn(ctype, " \t") : "";
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n && lt_media_is(ct, n, "application/json", true))
		json = true;
	else if (n && lt_media_is(ct, n, "application/x-www-form-urlencoded", false))
		json = false;
	else if (n)
		return -2;
	else {
		size_t i = 0;
		while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
			i++;
		json = i < len && body[i] == '{';
	}
	return json ? lt_parse_json(body, len, p) : lt_parse_form(body, len, p);
}

/* The tenant CLIENT_ID names and whether SECRET is one of its keys (the
 * key's hash into KEYHASH). Every tenant's every key is hashed against
 * and compared, found or not, so the answer takes the same time whether
 * the tenant exists or not, and whichever part was wrong. */
static const struct fg_tenant *lt_credentials(const struct fg_config *c, const char *client_id,
					      const char *secret, size_t secret_len,
					      unsigned char keyhash[SHA256_DIGEST_LENGTH], bool *key_ok)
{
	const struct fg_tenant *named = NULL;
	SHA256((const unsigned char *)(secret ? secret : ""), secret ? secret_len : 0, keyhash);
	*key_ok = false;
	for (size_t i = 0; i < c->ntenants; i++) {
		bool is_named = client_id && strcmp(c->tenants[i]->name, client_id) == 0;
		if (is_named)
			named = c->tenants[i];
		for (size_t k = 0; k < c->tenants[i]->nkeys; k++) {
			bool eq = CRYPTO_memcmp(c->tenants[i]->keys[k], keyhash, SHA256_DIGEST_LENGTH) == 0;
			if (eq && is_named && secret_len > 0)
				*key_ok = true;
		}
	}
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

int req_localtoken_request(const struct fg_config *c, const struct fg_tenant *by_addr, bool dedicated,
		       const char *ctype, const unsigned char *body, size_t len, double now,
		       const struct fg_tenant **tenant, struct evkeyvalq *headers, struct evbuffer *out)
{
	struct lt_params p = {0};
	unsigned char keyhash[SHA256_DIGEST_LENGTH];
	bool key_ok = false;
	int status;
	*tenant = NULL;
	/* RFC 6749 5.1: no cache keeps an answer that may hold a token. */
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_add_header(headers, "Pragma", "no-cache");
	if (len > c->max_body_bytes) {
		log_warn("local token request refused: the body is larger than max_body_bytes");
		return lt_error(out, 413, "invalid_request", "the request body is too large");
	}
	int parsed = lt_parse(ctype, body ? body : (const unsigned char *)"", body ? len : 0, &p);
	if (parsed == -2) {
		log_warn("local token request refused: its Content-Type is neither form-encoded nor JSON");
		status = lt_error(out, 415, "invalid_request",
				  "Content-Type must be application/x-www-form-urlencoded or application/json");
		goto done;
	}
	if (parsed < 0) {
		log_warn("local token request refused: the body is neither form-encoded nor a JSON object "
			 "of strings, or repeats a parameter");
		status = lt_error(out, 400, "invalid_request",
				  "the body must be form-encoded or a JSON object, each parameter once");
		goto done;
	}
	if (!p.grant_type || strcmp(p.grant_type, "client_credentials") != 0) {
		log_warn("local token request refused: grant_type is %s", p.grant_type ? "not client_credentials" : "missing");
		status = p.grant_type ? lt_error(out, 400, "unsupported_grant_type", "grant_type must be client_credentials")
				      : lt_error(out, 400, "invalid_request", "grant_type can't be blank");
		goto done;
	}
	const struct fg_tenant *t = lt_credentials(c, p.client_id, p.secret, p.secret_len, keyhash, &key_ok);
	/* A dedicated listener is its tenant's alone: no other tenant's
	 * token is handed out there, whatever the secret. */
	bool addr_ok = t && by_addr == t;
	if (!t || (dedicated && by_addr != t) || !(key_ok || addr_ok)) {
		if (!t)
			log_warn("local token request refused: client_id names no tenant");
		else
			log_warn("local token request refused for tenant %s: the client_secret is not one of its "
				 "keys and the caller is not attributed to it by listener or source "
				 "(or came in on another tenant's listener)", t->name);
		status = lt_error(out, 401, "invalid_client", "client authentication failed");
		goto done;
	}
	double ra;
	if (!req_tenantrate_tenant_allows(t, now, &ra)) {
		char v[24];
		snprintf(v, sizeof v, "%d", (int)ceil(ra));   /* as the steps' 429 */
		evhttp_add_header(headers, "Retry-After", v);
		log_warn("local token request refused for tenant %s: over its request rate of %u/%us", t->name,
			 t->rate.count, t->rate.window_s);
		stats_inc(STAT_rate_limited);
		*tenant = t;   /* it authenticated: logged and counted as that tenant's 429 */
		status = lt_error(out, 429, "temporarily_unavailable", "over the request rate; retry later");
		goto done;
	}
	char tok[LOCALTOKEN_LEN + 1];
	if (req_localtoken_issue(t->name, key_ok ? keyhash : NULL, now, c->local_token_ttl, tok) < 0) {
		log_error("local token for tenant %s: no random bytes or no memory", t->name);
		status = lt_error(out, 500, "server_error", "no token could be issued");
		goto done;
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
		status = lt_error(out, 500, "server_error", "no token could be issued");
		goto done;
	}
	stats_inc(STAT_local_tokens_issued);
	log_info("local token issued to tenant %s (by %s, %d s)", t->name, key_ok ? "key" : "address",
		 c->local_token_ttl);
	*tenant = t;
	status = 200;
done:
	OPENSSL_cleanse(keyhash, sizeof keyhash);
	lt_params_free(&p);
	return status;
}

int req_localtoken_answer(struct evhttp_request *er, const struct fg_config *c, const struct fg_tenant *by_addr,
		      bool dedicated, double now, char *uri, const struct fg_tenant **tenant, struct evbuffer *out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(er);
	size_t len = evbuffer_get_length(in);
	*tenant = NULL;
	/* Parameters belong in the body (RFC 6749 2.3.1); whatever a client
	 * put in the query stays out of the access log all the same. */
	if (uri)
		uri[strcspn(uri, "?")] = '\0';
	if (!out)
		return 500;
	return req_localtoken_request(c, by_addr, dedicated,
				  evhttp_find_header(evhttp_request_get_input_headers(er), "Content-Type"),
				  len && len <= c->max_body_bytes ? evbuffer_pullup(in, -1) : NULL, len, now, tenant,
				  evhttp_request_get_output_headers(er), out);
}
