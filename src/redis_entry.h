/* redis_entry.h: the one decoder of a second-level cache entry read back
 * from Redis, and the signature that binds it (issue 21, docs/scaling.md
 * "What a Redis writer can do").
 *
 * Redis holds input, not truth: anyone who can write to it can write an
 * entry. An entry is accepted only as an upstream answer would be: status
 * 200, content type application/json, a body no longer than
 * max_upstream_bytes that is a JSON object naming the key's VIN (or, for a
 * list key, a list), freshness capped by this instance's ttl_<status>, an
 * age Redis's own PTTL agrees with, and, with [redis] signing_key, an
 * HMAC-SHA256 under the current or previous key over the kind, the key,
 * the generation at the lookup and an absolute (wall-clock) expiry, so an
 * entry cannot be forged without the key nor replayed after its
 * generation moved on or its expiry passed.
 *
 * Pure functions: no Redis, no clock of their own (NOW_MS is passed), no
 * logging. tests/fuzz/fuzz_redis_entry.c drives the decoder. */
#ifndef FG_REDIS_ENTRY_H
#define FG_REDIS_ENTRY_H
#include <stdbool.h>
#include <stddef.h>
#include "conf.h"
#include "conf_secret.h"

enum redis_entry_kind { REDIS_ENTRY_VIN, REDIS_ENTRY_LIST };

/* The entry's fields as Redis returned them (bytes, not NUL-terminated). */
enum redis_entry_field {
	RE_STATUS,    /* "200" */
	RE_CTYPE,     /* application/json[; params] */
	RE_BODY,
	RE_FRESH,     /* fresh ms, decimal */
	RE_STALE,     /* stale-if-error ms, decimal */
	RE_EXPIRES,   /* wall-clock ms when freshness ends, decimal */
	RE_MAC,       /* 64 hex digits, or "" when unsigned */
	RE_NFIELDS
};
struct redis_entry_bytes {
	const char *p;
	size_t n;
};
struct redis_entry_raw {
	struct redis_entry_bytes f[RE_NFIELDS];
	long long left_ms;    /* the value key's PTTL, Redis's own count */
};

/* What is checked against: this instance's rules. */
struct redis_entry_rules {
	enum redis_entry_kind kind;
	const char *key;                    /* the VIN (normalised) or the list key */
	const char *gen;                    /* the generation at the lookup */
	const struct fg_config *cfg;        /* ttl_<status>, ttl_list, stale_if_error, max_upstream_bytes */
	long long now_ms;                   /* wall clock */
	const struct fg_secret *key_now;    /* NULL or empty: entries are not signed */
	const struct fg_secret *key_prev;   /* also accepted (rotation); may be NULL */
};

/* An accepted entry; pointers into the raw fields. */
struct redis_entry {
	int status;                         /* always 200 */
	struct redis_entry_bytes ctype, body;
	long long fresh_left_ms;            /* > 0, <= the local ttl cap */
	long long stale_ms;                 /* <= stale_if_error */
	long long age_ms;                   /* >= 0 */
};

enum redis_entry_verdict {
	REDIS_ENTRY_OK,
	REDIS_ENTRY_EXPIRED,   /* well formed, but no freshness left: a plain miss */
	REDIS_ENTRY_REFUSED,   /* malformed, lying or unsigned: a miss and an error */
};

/* Decodes RAW under RULES. REFUSED and EXPIRED fill WHY (static text,
 * never a field's content). */
enum redis_entry_verdict redis_entry_decode(const struct redis_entry_raw *raw,
					    const struct redis_entry_rules *rules,
					    struct redis_entry *out, const char **why);

#define REDIS_ENTRY_MAC_HEX 65
/* The MAC over the fields of RAW (all but RE_MAC) for KIND, KEY and GEN
 * under SECRET, as 64 lower-case hex digits. -1: no secret, or OpenSSL
 * failed. */
int redis_entry_mac(const struct fg_secret *secret, enum redis_entry_kind kind, const char *key,
		    const char *gen, const struct redis_entry_raw *raw, char out[REDIS_ENTRY_MAC_HEX]);

/* Whether TEXT (LEN bytes) is a generation as Redis's INCR writes it:
 * 1..20 decimal digits. */
bool redis_entry_gen_ok(const char *text, size_t len);
#endif
