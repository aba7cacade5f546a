/* redis_cache.h: the second cache level in Redis, shared by every
 * instance (issue 16, [redis] cache = yes). The in-process cache stays in
 * front; this level holds single-VIN answers (status, content type, body,
 * lifetimes), coalesces misses across instances with a lock, refuses a
 * store that raced an invalidation (a generation per VIN), and spreads
 * invalidations by pub/sub so every instance drops its own copy.
 *
 * Every call runs on a worker's event base (its own Redis connection) or,
 * for the subscriber, the main base. A Redis that does not answer is a
 * miss here, never a failure of the request. */
#ifndef FG_REDIS_CACHE_H
#define FG_REDIS_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conf.h"

#define SHAREDCACHE_TOKEN_LEN 48

/* What a lookup learnt, for the store that follows it. */
struct sharedcache_ticket {
	bool asked;                         /* the lookup got an answer from Redis */
	double asked_at;                    /* monotonic: when (a fill's time is measured from it) */
	char gen[24];                       /* the VIN's generation at the lookup */
	char lock[SHAREDCACHE_TOKEN_LEN];   /* "": this caller holds no fill lock */
};

/* An answer found in Redis; valid only during the callback. */
struct sharedcache_hit {
	int status;
	char ctype[256];
	const void *body;
	size_t len;
	long long fresh_ms, stale_ms, age_ms;
};

enum sharedcache_status {
	SHAREDCACHE_HIT,     /* HIT set */
	SHAREDCACHE_MISS,    /* go upstream (holding the fill lock when one was free) */
	SHAREDCACHE_ERROR,   /* no usable answer: go upstream */
};
typedef void (*sharedcache_fn)(enum sharedcache_status st, const struct sharedcache_hit *hit, void *arg);

/* With [redis] url and cache = yes (and the cache on): subscribes on
 * BASE (the main base) and keeps a reference to C for the worker
 * connections. 0 also when off; -1 out of memory. */
int redis_cache_start(struct event_base *base, struct fg_config *c);
void redis_cache_stop(void);
bool redis_cache_on(void);
/* A worker's base gets its connection (main thread, before it runs). */
void redis_cache_base_add(struct event_base *base);
/* A worker's base is about to be freed (its thread has ended). */
void redis_cache_base_gone(struct event_base *base);

struct sharedcache_op;
/* Looks VIN up on BASE. A hit is handed over only when it passes
 * redis_entry_decode under CFG's rules (else: a miss, counted rejected).
 * A fill lock held by another instance is waited for by polling, as long
 * as fills here have lately taken (at least 2 s, at most LOCK_MS). NULL:
 * not asked (off, or Redis not usable): go on as a miss; otherwise CB runs
 * exactly once unless cancelled. */
struct sharedcache_op *redis_cache_get(struct event_base *base, const char *vin, long long lock_ms,
				       const struct fg_config *cfg, struct sharedcache_ticket *t,
				       sharedcache_fn cb, void *arg);
void redis_cache_cancel(struct sharedcache_op *op);
/* Stores a 200 answer for FRESH_S + STALE_S (PX), unless VIN was
 * invalidated since T's lookup; releases T's lock either way. */
void redis_cache_put(struct event_base *base, const char *vin, struct sharedcache_ticket *t,
		     const char *ctype, const void *body, size_t len, int fresh_s, int stale_s);
/* T's fill lock, when it holds one, is given up (no answer to store). */
void redis_cache_release(struct event_base *base, const char *vin, struct sharedcache_ticket *t);
/* A mutation of VINS: deleted, generation bumped, published, in one script. */
void redis_cache_invalidate(struct event_base *base, char *const *vins, size_t n);

/* second_level_* counters into the /stats cache section; metrics. */
void redis_cache_stats_json(json_t *o);
void redis_cache_metrics(struct evbuffer *b);
#endif
