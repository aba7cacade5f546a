/* req_cache.h: the cache side of one tenant request (docs/cache.md): its key,
 * the lookup that answers, leads or joins a read, the store of a 200 read,
 * the hand-over to the requests waiting for it, stale-if-error, and the
 * X-Cache / Cache-Status (RFC 9211) headers. req.c drives it; this
 * side never sends a reply itself: it gives req.c what to send. */
#ifndef FG_REQ_CACHE_H
#define FG_REQ_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include "cache.h"
#include "conf.h"
#include "up_forward.h"
#include "req_route.h"
#include "redis_cache.h"
struct fg_tenant;

/* X-Cache: what the cache did for the request. */
/* REQCACHE_LIST is a miss answered by a list read: X-Cache MISS, access log MISS-LIST. */
enum reqcache_xcache { REQCACHE_BYPASS, REQCACHE_HIT, REQCACHE_MISS, REQCACHE_STALE, REQCACHE_LIST };

struct reqcache {
	enum reqcache_xcache xcache;
	char detail[160];            /* Cache-Status; empty: none */
	char *key;                   /* a cacheable read's key */
	bool checked;                /* req_cache_key has run */
	bool no_cache;               /* the client sent Cache-Control: no-cache */
	struct cache_flight *flight; /* leading the upstream read of key */
	struct cache_answer *handed; /* a leader's answer, handed over to this waiter */
	/* the second level (redis_cache.c), asked by a leader of a VIN read */
	struct sharedcache_op *l2;   /* its lookup in flight */
	struct sharedcache_ticket l2t;
	bool l2_asked;
	struct event_base *base;     /* the worker's: second-level commands go there */
	const struct fg_config *cfg;
	cache_wake_fn l2_cb;
	void *l2_arg;
	bool list_fallback;          /* a list read left this VIN without an answer: single read */
	bool miss_counted;           /* leading again (after a list read) is the same miss */
};

/* How a single-VIN read RC leads goes upstream (vin_reads). */
enum reqcache_way {
	REQCACHE_BUDGET,   /* through the single-VIN budget (its queue, its 429) */
	REQCACHE_SLOT,     /* a budget slot was free at once and is reserved */
	REQCACHE_LISTED,   /* handed to the next list read: *W waits for it */
};

const char *req_cache_xcache_name(enum reqcache_xcache x);

/* Sets RC's key for a cacheable read (GET of a VIN or of the list, cache
 * ENABLED); otherwise says why not in Cache-Status and returns false.
 * FILTER is the list's filter as req_query.c normalized it (NULL: none);
 * CACHE_CONTROL and PRAGMA the client's headers. */
bool req_cache_key(struct reqcache *rc, enum fg_route route, const char *vin, const char *filter,
		  const char *cache_control, const char *pragma, bool enabled);
/* Mutations drop their VINs' entries and every list entry, here and (with
 * the second level, through BASE's connection) in every instance. */
void req_cache_invalidate(enum fg_route route, char *vin, char *const *vins, size_t nvins,
			 struct event_base *base);
/* Looks RC's key up: HIT (*A, a reference for the caller), LEAD (RC leads
 * the read), WAIT (*W; CB(ARG, answer, how) runs on BASE when the leader
 * is done), BUSY. Counts and labels each. */
enum cache_lookup_result req_cache_lookup(struct reqcache *rc, double now, struct event_base *base,
					 cache_wake_fn cb, void *arg, struct cache_answer **a,
					 struct cache_waiter **w);
/* RC leads the read of a VIN: asks the second level once. True: CB(ARG,
 * NULL, NULL) runs on BASE when it answered (rc->handed then holds a hit,
 * already stored here and handed to this instance's waiters); false: go
 * upstream. */
bool req_cache_l2_lookup(struct reqcache *rc, const struct fg_config *cfg, struct event_base *base,
			cache_wake_fn cb, void *arg);
void req_cache_l2_cancel(struct reqcache *rc);
/* vin_reads decides for a read RC leads of VIN by TENANT at NOW: the
 * budget, a slot free at once (auto), or the next list read; then CB(ARG,
 * answer, how) runs on BASE as for any wait on a leader. */
enum reqcache_way req_cache_vin_read(struct reqcache *rc, const struct fg_config *cfg, const char *tenant,
				    double now, struct event_base *base, cache_wake_fn cb, void *arg,
				    struct cache_waiter **w);
/* A waiter was handed A (a reference it now holds in rc->handed; NULL: no
 * answer, ask again) labelled HOW. */
void req_cache_handed(struct reqcache *rc, struct cache_answer *a, const char *how);
/* Stale-if-error: an entry within stale_if_error seconds past its expiry
 * (a reference for the caller), or NULL. FORWARDED: the upstream was asked
 * and failed; WHY says how or why nothing was sent. Hands it to RC's
 * waiters when RC leads. */
struct cache_answer *req_cache_stale(struct reqcache *rc, double now, bool forwarded, const char *why);
/* A 200 answer F of a read RC leads: stored when its freshness allows,
 * handed to the waiters; a reference for the caller. NULL with *STATUS
 * 502 (a list answer without a list) or 500 (out of memory);
 * the flight stays for the error to be published. */
struct cache_answer *req_cache_store(struct reqcache *rc, enum fg_route route, struct fwd *f,
				    const struct fg_config *cfg, double now, int *status);
/* The upstream answered STATUS without a store: noted in Cache-Status. */
void req_cache_note_status(struct reqcache *rc, int status);
/* A leader ending without a stored answer gives its waiters what it sends. */
void req_cache_publish(struct reqcache *rc, int status, struct evbuffer *body, const char *ctype,
		      const char *retry_after, double now);
/* The body of A for TENANT (a list filtered for it), and its Age and
 * Retry-After headers in H. NULL when out of memory. */
struct evbuffer *req_cache_render(const struct reqcache *rc, struct cache_answer *a, const struct fg_tenant *tenant,
				 unsigned generation, struct evkeyvalq *h, double now);
/* Any other answer F on the list route (any status, stored or not) as an
 * answer rendered per tenant through a list view, handed to RC's waiters
 * when RC leads; a reference for the caller. NULL with *STATUS 0 when F's
 * body is empty (nothing to filter: relay it), 502 when it cannot be
 * filtered (not a JSON array or object, or a 2xx without a list), 500
 * when out of memory. */
struct cache_answer *req_cache_list_answer(struct reqcache *rc, struct fwd *f, double now, int *status);
/* X-Cache and Cache-Status into H. */
void req_cache_headers(const struct reqcache *rc, struct evkeyvalq *h);
/* The request is gone: a read it led passes on (its waiters ask again). */
void req_cache_free(struct reqcache *rc);
#endif
