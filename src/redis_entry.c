/* redis_entry.c: the decoder and the signature of second-level cache
 * entries (see redis_entry.h).
 *
 * Owns the rules an entry read from Redis must meet and the exact bytes
 * the MAC covers: a version tag, then each of kind, key, generation,
 * status, content type, fresh, stale, expiry and body as an 8-byte
 * big-endian length and its bytes, so no two field lists ever MAC alike.
 * Bounds come first (field lengths, digits, ranges), then the MAC, and
 * only then the JSON parse of the body: a forged entry costs a HMAC, not a
 * parse.
 *
 * Never: trust a number before it is range-checked (no arithmetic can
 * overflow here), put a field's content into WHY, or read a clock. */
#include "redis_entry.h"
#include "cache.h"
#include "vinset.h"
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define RE_MAX_MS 31536000000LL   /* a year: the largest ttl the configuration takes */
#define RE_MAX_CTYPE 255
#define RE_MAX_DIGITS 16
#define RE_TAG "fleetgate-cache-entry-v1"

bool redis_entry_gen_ok(const char *text, size_t len)
{
	if (!text || len < 1 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	return true;
}

/* A decimal of 1..RE_MAX_DIGITS digits, no sign, no blanks: -1 otherwise. */
static long long re_number(const struct redis_entry_bytes *b)
{
	long long v = 0;
	if (!b->p || b->n < 1 || b->n > RE_MAX_DIGITS)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		if (b->p[i] < '0' || b->p[i] > '9')
			return -1;
		v = v * 10 + (b->p[i] - '0');   /* 16 digits < 2^63 */
	}
	return v;
}

/* application/json, any case, alone or before ';' parameters; printable
 * ASCII only (it becomes a response header). */
static bool re_ctype_ok(const struct redis_entry_bytes *b)
{
	static const char want[] = "application/json";
	size_t n = sizeof want - 1;
	if (!b->p || b->n < n || b->n > RE_MAX_CTYPE)
		return false;
	for (size_t i = 0; i < b->n; i++)
		if ((unsigned char)b->p[i] < 0x20 || (unsigned char)b->p[i] > 0x7e)
			return false;
	if (strncasecmp(b->p, want, n) != 0)
		return false;
	size_t i = n;
	while (i < b->n && b->p[i] == ' ')
		i++;
	return i == b->n || b->p[i] == ';';
}

static int re_feed(EVP_MAC_CTX *h, const void *p, size_t n)
{
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	return EVP_MAC_update(h, len, sizeof len) && (n == 0 || EVP_MAC_update(h, p, n)) ? 0 : -1;
}

int redis_entry_mac(const struct fg_secret *secret, enum redis_entry_kind kind, const char *key,
		    const char *gen, const struct redis_entry_raw *raw, char out[REDIS_ENTRY_MAC_HEX])
{
	static const enum redis_entry_field covered[] = { RE_STATUS, RE_CTYPE, RE_FRESH, RE_STALE,
							  RE_EXPIRES, RE_BODY };
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	int rc = -1;
	if (!secret || conf_secret_empty(secret))
		return -1;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
				OSSL_PARAM_construct_end() };
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *h = mac ? EVP_MAC_CTX_new(mac) : NULL;
	const char *k = kind == REDIS_ENTRY_LIST ? "list" : "vin";
	if (!h || !EVP_MAC_init(h, (const unsigned char *)conf_secret_data(secret), secret->len, params) ||
	    re_feed(h, RE_TAG, sizeof RE_TAG - 1) < 0 || re_feed(h, k, strlen(k)) < 0 ||
	    re_feed(h, key, strlen(key)) < 0 || re_feed(h, gen, strlen(gen)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof covered / sizeof *covered; i++)
		if (re_feed(h, raw->f[covered[i]].p, raw->f[covered[i]].n) < 0)
			goto out;
	if (!EVP_MAC_final(h, md, &mdlen, sizeof md) || mdlen != 32)
		goto out;
	for (size_t i = 0; i < mdlen; i++) {
		static const char hex[] = "0123456789abcdef";
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	rc = 0;
out:
	EVP_MAC_CTX_free(h);
	EVP_MAC_free(mac);
	OPENSSL_cleanse(md, sizeof md);
	return rc;
}

static bool re_mac_ok(const struct redis_entry_raw *raw, const struct redis_entry_rules *r,
		      const struct fg_secret *secret)
{
	char want[REDIS_ENTRY_MAC_HEX];
	const struct redis_entry_bytes *m = &raw->f[RE_MAC];
	if (!secret || conf_secret_empty(secret) || m->n != 64 ||
	    redis_entry_mac(secret, r->kind, r->key, r->gen, raw, want) < 0)
		return false;
	return CRYPTO_memcmp(want, m->p, 64) == 0;
}

/* The body's own rule; sets *TTL_S to the local freshness cap it implies. */
static const char *re_body(const struct redis_entry_bytes *b, const struct redis_entry_rules *r, int *ttl_s)
{
	json_error_t e;
	const char *why = NULL;
	json_t *j = json_loadb(b->p, b->n, JSON_REJECT_DUPLICATES, &e);
	if (r->kind == REDIS_ENTRY_LIST) {
		if (!json_is_array(j) && !(json_is_object(j) && json_is_array(json_object_get(j, "vehicles"))))
			why = "the body is not a list";
		*ttl_s = r->cfg->ttl_list;
	} else if (!json_is_object(j)) {
		why = "the body is not a JSON object";
	} else {
		const char *vin = json_string_value(json_object_get(j, "vin"));
		char norm[18];
		if (!vin || !vin_normalize(vin, strlen(vin), norm) || strcmp(norm, r->key) != 0)
			why = "the body names another VIN";
		*ttl_s = cache_ttl(r->cfg, false, json_string_value(json_object_get(j, "status")));
	}
	json_decref(j);
	return why;
}

enum redis_entry_verdict redis_entry_decode(const struct redis_entry_raw *raw,
					    const struct redis_entry_rules *r,
					    struct redis_entry *out, const char **why)
{
	const struct redis_entry_bytes *f = raw->f;
	int ttl_s = 0;
	memset(out, 0, sizeof *out);
	*why = NULL;
	/* bounds first */
	if (f[RE_STATUS].n != 3 || memcmp(f[RE_STATUS].p, "200", 3) != 0)
		*why = "status is not 200";
	else if (!re_ctype_ok(&f[RE_CTYPE]))
		*why = "content type is not application/json";
	else if (!f[RE_BODY].p || f[RE_BODY].n == 0 || f[RE_BODY].n > r->cfg->max_upstream_bytes)
		*why = "body empty or longer than max_upstream_bytes";
	if (*why)
		return REDIS_ENTRY_REFUSED;
	long long fresh = re_number(&f[RE_FRESH]), stale = re_number(&f[RE_STALE]);
	long long expires = re_number(&f[RE_EXPIRES]), left = raw->left_ms;
	if (fresh < 1 || fresh > RE_MAX_MS || stale < 0 || stale > RE_MAX_MS || expires < 0)
		*why = "lifetimes out of range";
	else if (left < 1 || left > fresh + stale)
		*why = "its TTL in Redis is longer than its lifetimes";
	else if (!redis_entry_gen_ok(r->gen, strlen(r->gen)))
		*why = "generation is not a number";
	else if (r->key_now && !conf_secret_empty(r->key_now) && !re_mac_ok(raw, r, r->key_now) &&
		 !re_mac_ok(raw, r, r->key_prev))
		*why = "signature missing or wrong (forged, or another generation)";
	else
		*why = re_body(&f[RE_BODY], r, &ttl_s);
	if (*why)
		return REDIS_ENTRY_REFUSED;
	/* Freshness: what is left of it by Redis's TTL, by the signed expiry
	 * (a replay ends with it), and by this instance's own ttl cap. */
	long long age = fresh + stale - left;
	long long cap = (long long)ttl_s * 1000;
	long long by_ttl = (fresh < cap ? fresh : cap) - age;
	long long by_clock = expires - r->now_ms;
	out->fresh_left_ms = by_ttl < by_clock ? by_ttl : by_clock;
	out->age_ms = age;
	long long stale_cap = (long long)r->cfg->stale_if_error * 1000;
	out->stale_ms = stale < stale_cap ? stale : stale_cap;
	out->status = 200;
	out->ctype = f[RE_CTYPE];
	out->body = f[RE_BODY];
	if (out->fresh_left_ms <= 0) {
		*why = "no freshness left";
		return REDIS_ENTRY_EXPIRED;
	}
	return REDIS_ENTRY_OK;
}
