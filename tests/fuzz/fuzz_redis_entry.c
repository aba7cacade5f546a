/* fuzz_redis_entry.c: a second-level cache entry as it comes back from
 * Redis, through the one decoder (redis_entry_decode in src/redis_entry.c),
 * with and without [redis] signing_key.
 *
 * Input: a flags byte (bit 0: a list key instead of a VIN; bit 1: the
 * target signs the fields itself with the configured key; bits 2-3: the
 * generation), four bytes of the value's PTTL (big-endian), then the
 * fields status, content type, body, fresh, stale, expiry and MAC
 * separated by NUL bytes (missing ones are empty). The rules: ttl 60 s,
 * ttl_approved 10 s, ttl_list 30 s, stale_if_error 600 s,
 * max_upstream_bytes 4096, now = 10^12 ms.
 *
 * Asserts: an accepted entry is status 200, content type
 * application/json in printable ASCII, a body within max_upstream_bytes
 * that is a JSON object naming the key's VIN (or a list), freshness left
 * in (0, the local cap], stale within stale_if_error, age >= 0; a refusal
 * or an expiry always says why. With a key configured, an entry the
 * target did not sign is never accepted, one signed with another key
 * neither, and one it signed decodes exactly as the same fields do with
 * no key at all (the signature only ever adds a refusal). */
#include "fuzz.h"
#include <jansson.h>
#include <strings.h>
#include "redis_entry.h"
#include "vinset.h"

#define KEY_VIN "WAUZZZ8V5KA012345"
#define KEY_LIST "list:all"

static struct fg_config cfg;
static struct fg_secret key_now, key_other;

static void setup(void)
{
	if (cfg.max_upstream_bytes)
		return;
	cfg.ttl = 60;
	cfg.ttl_list = 30;
	cfg.stale_if_error = 600;
	cfg.max_upstream_bytes = 4096;
	for (int i = 0; i < FG_STATUS_COUNT; i++)
		cfg.ttl_status[i] = -1;
	cfg.ttl_status[FG_STATUS_approved] = 10;
	conf_secret_set(&key_now, "fuzz-signing-key", 16);
	conf_secret_set(&key_other, "another-key", 11);
}

static void check_ok(const struct redis_entry *e, const struct redis_entry_rules *r)
{
	FUZZ_ASSERT(e->status == 200);
	FUZZ_ASSERT(e->ctype.n >= 16 && strncasecmp(e->ctype.p, "application/json", 16) == 0);
	for (size_t i = 0; i < e->ctype.n; i++)
		FUZZ_ASSERT(e->ctype.p[i] >= 0x20 && e->ctype.p[i] < 0x7f);
	FUZZ_ASSERT(e->body.n > 0 && e->body.n <= cfg.max_upstream_bytes);
	FUZZ_ASSERT(e->fresh_left_ms > 0 && e->age_ms >= 0);
	FUZZ_ASSERT(e->stale_ms >= 0 && e->stale_ms <= 600000);
	json_t *j = json_loadb(e->body.p, e->body.n, 0, NULL);
	if (r->kind == REDIS_ENTRY_LIST) {
		FUZZ_ASSERT(json_is_array(j) || json_is_array(json_object_get(j, "vehicles")));
		FUZZ_ASSERT(e->fresh_left_ms <= 30000);
	} else {
		const char *v = json_string_value(json_object_get(j, "vin"));
		char norm[18];
		FUZZ_ASSERT(v && vin_normalize(v, strlen(v), norm) && strcmp(norm, KEY_VIN) == 0);
		FUZZ_ASSERT(e->fresh_left_ms <= 60000);
	}
	json_decref(j);
}

static enum redis_entry_verdict decode(const struct redis_entry_raw *raw, struct redis_entry_rules *r,
				       const struct fg_secret *k, struct redis_entry *e)
{
	const char *why = NULL;
	r->key_now = k;
	enum redis_entry_verdict v = redis_entry_decode(raw, r, e, &why);
	FUZZ_ASSERT((v == REDIS_ENTRY_OK) == (why == NULL));
	if (v == REDIS_ENTRY_OK)
		check_ok(e, r);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const gens[4] = { "0", "1", "18446744073709551615", "x" };
	setup();
	if (size < 5)
		return 0;
	struct redis_entry_raw raw = { 0 };
	raw.left_ms = (long long)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]);
	const char *p = (const char *)data + 5, *end = (const char *)data + size;
	for (int i = 0; i < RE_NFIELDS; i++) {
		const char *q = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
		raw.f[i].p = p < end ? p : "";
		raw.f[i].n = p < end ? (size_t)((q ? q : end) - p) : 0;
		p = q ? q + 1 : end;
	}
	struct redis_entry_rules r = {
		.kind = data[0] & 1 ? REDIS_ENTRY_LIST : REDIS_ENTRY_VIN,
		.key = data[0] & 1 ? KEY_LIST : KEY_VIN,
		.gen = gens[(data[0] >> 2) & 3],
		.cfg = &cfg,
		.now_ms = 1000000000000LL,
	};
	struct redis_entry plain, keyed;
	enum redis_entry_verdict unsigned_v = decode(&raw, &r, NULL, &plain);
	char mac[REDIS_ENTRY_MAC_HEX];
	if (data[0] & 2) {
		/* signed here: the key adds nothing but its own check */
		FUZZ_ASSERT(redis_entry_mac(&key_now, r.kind, r.key, r.gen, &raw, mac) == 0);
		FUZZ_ASSERT(strlen(mac) == 64);
		raw.f[RE_MAC].p = mac;
		raw.f[RE_MAC].n = 64;
		enum redis_entry_verdict v = decode(&raw, &r, &key_now, &keyed);
		enum redis_entry_verdict again = decode(&raw, &r, NULL, &plain);
		FUZZ_ASSERT(v == again);
		if (v == REDIS_ENTRY_OK)
			FUZZ_ASSERT(keyed.fresh_left_ms == plain.fresh_left_ms && keyed.body.n == plain.body.n);
		r.key_prev = &key_now;   /* the previous key signs during a rotation */
		FUZZ_ASSERT(decode(&raw, &r, &key_other, &keyed) == v);
		r.key_prev = NULL;
		FUZZ_ASSERT(decode(&raw, &r, &key_other, &keyed) == REDIS_ENTRY_REFUSED);
	} else {
		/* not signed by the key: never accepted under it */
		FUZZ_ASSERT(decode(&raw, &r, &key_now, &keyed) != REDIS_ENTRY_OK);
		(void)unsigned_v;
	}
	return 0;
}
