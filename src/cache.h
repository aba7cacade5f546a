/* cache.h: the shared clearance cache (docs/cache.md).
 *
 * One cache serves every worker thread; its lock is inside. It holds
 * answers (immutable, reference-counted bodies) by key, keeps them in LRU
 * order within max_bytes, coalesces concurrent misses of one key into one
 * "flight" whose leader goes upstream while the others wait, and refuses to
 * store an answer whose flight began before an invalidation of its key.
 * Every function that depends on time takes NOW (monotonic seconds), so the
 * unit tests drive the clock. */
#ifndef FG_CACHE_H
#define FG_CACHE_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conf.h"

/* One answer: what a hit, a stale serve or a coalesced waiter sends.
 * Immutable once another thread can see it; freed with the last reference. */
struct cache_answer {
	atomic_int refs;
	int status;
	int retry_after;        /* -1: no Retry-After */
	char *ctype;
	unsigned char *data;    /* body bytes; NULL for stored list answers */
	size_t len;
	struct listview *list;  /* list answers: split once for per-tenant filtering */
	size_t text_len;        /* size of the upstream text (for accounting) */
	double stored_at;       /* when it came from the upstream (Age) */
	double fresh_until;     /* set by cache_store */
	double stale_until;
	atomic_bool read_once;  /* a hit has read it (refresh-ahead, up_listread.c) */
};

/* A new answer holding one reference. DATA is copied; LIST (may be NULL) is
 * taken over: a list answer keeps only LIST, not the text. */
struct listview;
struct cache_answer *cache_answer_new(int status, const char *ctype, const void *data, size_t len,
				      struct listview *list, double now);
struct cache_answer *cache_answer_ref(struct cache_answer *a);
void cache_answer_unref(struct cache_answer *a);
/* Appends A's body to OUT without copying it (the buffer holds a reference). */
int cache_answer_add_to(struct cache_answer *a, struct evbuffer *out);

struct cache;
struct cache_flight;
struct cache_waiter;

/* Waiter callback: runs on the waiter's own event base with the leader's
 * answer (a reference the callee owns; NULL when the leader produced none)
 * and how the leader labelled it ("MISS", "STALE"). */
typedef void (*cache_wake_fn)(void *arg, struct cache_answer *a, const char *how);

#define CACHE_MAX_WAITERS 1000   /* per key; more get CACHE_BUSY */

struct cache *cache_new(void);
void cache_free(struct cache *c);
/* The daemon's one cache: made by main before the workers start (-1: out
 * of memory), NULL before that, released at exit. */
int cache_start(void);
struct cache *cache_shared(void);
void cache_shutdown(void);

/* Keys. A VIN read is keyed by its VIN. A list read by "list:" + FILTER,
 * the filter as req_query.c parsed it (compact, keys sorted, no duplicate
 * keys: the same text goes upstream), "list:" alone without a filter.
 * Returns a new string, or NULL when out of memory. */
char *cache_list_key(const char *filter);
bool cache_key_is_list(const char *key);

/* Freshness of a 200 answer in seconds: ttl_list for lists; otherwise
 * ttl_<status> for the answer's "status" when set, else ttl. */
int cache_ttl(const struct fg_config *cfg, bool list, const char *status);

enum cache_lookup_result {
	CACHE_HIT,     /* *HIT: a fresh answer */
	CACHE_LEAD,    /* *LEAD: go upstream, then cache_flight_done() */
	CACHE_WAIT,    /* *W: CB runs when the leader is done */
	CACHE_BUSY     /* too many waiters already on this key */
};
/* NO_CACHE: the client asked to skip the cache; the caller leads a flight
 * of its own that nobody joins. BASE NULL (unit tests only): CB is called
 * directly from cache_flight_done(). */
enum cache_lookup_result cache_lookup(struct cache *c, const char *key, double now, bool no_cache,
				      struct cache_answer **hit, struct cache_flight **lead,
				      struct event_base *base, cache_wake_fn cb, void *arg,
				      struct cache_waiter **w);
/* An entry still within its stale_if_error time (fresh or not), or NULL. */
struct cache_answer *cache_stale(struct cache *c, const char *key, double now);
/* Stores A (status 200) for TTL seconds plus STALE_S of stale-if-error,
 * evicting least recently used entries beyond MAX_BYTES. Returns 1 when
 * stored; 0 when refused: TTL 0, too big, or the key was invalidated after
 * the flight began (the generation rule). */
int cache_store(struct cache *c, struct cache_flight *f, struct cache_answer *a, int ttl, int stale_s,
		size_t max_bytes, double now);
/* A webhook's word for KEY, a VIN (hook_in.c): A (may be NULL: none)
 * replaces its entry as a read's answer would, every list entry is
 * dropped, and the flights of KEY and every list flight may no longer
 * store, so a read already in flight cannot put an older status back (the
 * generation rule). Returns 1 when A was stored. */
int cache_replace(struct cache *c, const char *key, struct cache_answer *a, int ttl, int stale_s, size_t max_bytes,
		  double now);
/* A flight of KEY for a check against the upstream (hook_verify.c),
 * opened whatever the entry's freshness unless a flight of KEY runs
 * (NULL: its answer is as new). Requests meanwhile still hit a fresh
 * entry, as during a refresh ahead. */
struct cache_flight *cache_check_open(struct cache *c, const char *key);
/* Up to MAX VIN keys of entries, from hash bucket *CURSOR on; *CURSOR
 * moves past them, back to 0 once the whole map was walked (the
 * reconciliation sweep, hook_verify.c). */
size_t cache_vins_from(struct cache *c, size_t *cursor, char (*vins)[18], size_t max);
/* Ends the flight: every waiter gets A (may be NULL: they look up again)
 * labelled HOW. Frees F. */
void cache_flight_done(struct cache *c, struct cache_flight *f, struct cache_answer *a, const char *how);
/* The caller, leader of F, hands the read to another owner (the list-read
 * batcher, up_listread.c) and waits for it like any other request: *W, and CB
 * runs when the new owner ends F. CACHE_WAIT, or CACHE_BUSY when out of
 * memory (the caller still leads). */
enum cache_lookup_result cache_flight_join(struct cache *c, struct cache_flight *f, struct event_base *base,
					   cache_wake_fn cb, void *arg, struct cache_waiter **w);
/* Ends each flight of FV (N of them) that nobody waits for any more,
 * under one lock, and sets its slot to NULL: the list-read batcher drops
 * VINs whose requests all went away (a request joining such a flight a
 * moment later leads a new one). Returns how many ended. */
size_t cache_flights_end_idle(struct cache *c, struct cache_flight **fv, size_t n);
/* A flight of KEY for a refresh ahead of expiry: opened only while the
 * entry stored at STORED_AT is still there, still usable at NOW, and no
 * flight of KEY runs. Requests arriving meanwhile still hit the entry, and
 * join the flight once it has expired. NULL otherwise. */
struct cache_flight *cache_refresh_open(struct cache *c, const char *key, double stored_at, double now);
/* True the first time it is called for A: the first hit of an entry's life. */
bool cache_answer_first_read(struct cache_answer *a);
/* Withdraws a waiter that has not run (same thread that made it). */
void cache_wait_cancel(struct cache_waiter *w);
/* Drops the entries of VINS and every list entry; flights of those keys
 * may no longer store. Returns the entries dropped. */
int cache_invalidate(struct cache *c, char *const *vins, size_t n);
/* Drops everything; no flight running now may store. */
int cache_clear(struct cache *c);

struct cache_stats {
	size_t entries, bytes, max_bytes_seen;
	size_t flights, waiters;
	unsigned long long evictions, invalidations, generation;
	unsigned long long inval_work;   /* keys, flights and entries invalidations looked at */
};
void cache_get_stats(struct cache *c, struct cache_stats *out);
/* Bytes an answer under KEY is charged, overhead included. */
size_t cache_entry_cost(const char *key, const struct cache_answer *a);

/* Admin surface (admin.c). Drops VIN's entry (NULL: everything) and every
 * list entry. Returns the number of entries dropped, or -1 when VIN is not
 * a VIN. */
int cache_purge(const char *vin);
/* Adds entries, bytes, evictions, invalidations to O. */
void cache_stats_json(json_t *o);
void cache_metrics(struct evbuffer *b);
#endif
