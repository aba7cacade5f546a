/* cache.c: the clearance cache (docs/cache.md).
 *
 * Owns: the hash map of key -> entry, the LRU list and the byte count
 * (per-entry overhead included) bounded by max_bytes, the flights that
 * coalesce concurrent misses of one key, their waiters, and the
 * invalidation generation. One mutex guards all of it; nothing slow runs
 * under it (no JSON, no I/O, no callbacks): answers are built before they
 * are stored and waiters are woken after the lock is released, each on its
 * own event base (event_base_once), as up_token.c wakes its waiters.
 *
 * Answers are immutable and reference-counted, so a hit takes a reference
 * under the lock and the reply borrows the bytes (evbuffer_add_reference):
 * nothing is copied per hit. List answers keep the parsed JSON instead of
 * the text, because every hit filters it per tenant anyway; jansson >= 2.13
 * makes concurrent reads (dump, filter) of a shared tree safe (atomic
 * reference counts, no "visited" marks in the values).
 *
 * Never: decide policy (req.c applies it before asking), hold a token, or
 * go upstream. */
#include "cache.h"
#include "req_listfilter.h"
#include "metric.h"
#include "waiter.h"
#include "vinset.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>


#define CACHE_MIN_FLIGHT_BUCKETS 1024
#define CACHE_MIN_BUCKETS 256
/* malloc's own header and rounding, per allocation. */
#define CACHE_ALLOC_OVERHEAD 16

struct cache_entry {
	struct cache_entry *hnext;
	struct cache_entry *prev, *next;     /* LRU: head is the most recent */
	struct cache_entry *lprev, *lnext;   /* list entries only: every list entry */
	struct cache_answer *a;
	size_t bytes;
	bool list;
	char key[];
};

struct cache_waiter {
	struct waiter wt;         /* first: waiter.c frees the whole */
	TAILQ_ENTRY(cache_waiter) link;
	struct cache *c;
	struct cache_flight *f;   /* while queued */
	cache_wake_fn cb;
	void *arg;
	struct cache_answer *a;
	const char *how;
};
TAILQ_HEAD(cache_waitq, cache_waiter);

struct cache_flight {
	struct cache_flight *hnext;
	struct cache_flight *lprev, *lnext;   /* list flights in the table: every one */
	bool in_table;         /* findable by key (dropped when invalidated) */
	bool joinable;         /* no-cache leaders run alone */
	bool list;
	unsigned long long gen0;       /* generation when it began */
	unsigned long long inval_gen;  /* generation that invalidated it, or 0 */
	struct cache_waitq waiters;
	unsigned nwaiters;
	char key[];
};

struct cache {
	pthread_mutex_t mu;
	struct cache_entry **buckets;
	size_t nbuckets, entries, bytes;
	struct cache_entry *head, *tail;
	/* Flights by key, so an invalidation finds a VIN's flights in its
	 * bucket (O(VINs named), not O(VINs x flights)), and every list
	 * flight and list entry on lists of their own (not a walk of all). */
	struct cache_flight **flights;
	size_t nfbuckets, nfin_table;
	struct cache_flight *list_flights;
	struct cache_entry *list_entries;
	size_t nflights, nwaiters;
	unsigned long long generation, evictions, invalidations;
	unsigned long long inval_work;   /* what invalidations looked at (the unit tests bound it) */
};

size_t cache_entry_cost(const char *key, const struct cache_answer *a)
{
	size_t n = sizeof(struct cache_entry) + strlen(key) + 1 + sizeof *a + strlen(a->ctype) + 1 +
		   3 * CACHE_ALLOC_OVERHEAD;
	if (a->list)
		n += req_listfilter_cost(a->list);
	else if (a->len)
		n += a->len + CACHE_ALLOC_OVERHEAD;
	return n;
}

/* ---- the map and the LRU list (lock held) ------------------------------- */

static uint64_t cache_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct cache_entry **cache_slot(struct cache *c, const char *key)
{
	struct cache_entry **pp = &c->buckets[cache_hash(key) & (c->nbuckets - 1)];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void cache_lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void cache_lru_push(struct cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void cache_entry_drop(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = cache_slot(c, e->key);
	if (*pp == e)
		*pp = e->hnext;
	cache_lru_unlink(c, e);
	if (e->list) {
		if (e->lprev)
			e->lprev->lnext = e->lnext;
		else
			c->list_entries = e->lnext;
		if (e->lnext)
			e->lnext->lprev = e->lprev;
	}
	c->entries--;
	c->bytes -= e->bytes;
	cache_answer_unref(e->a);
	free(e);
}

/* Doubling keeps chains short; rehashing is O(entries) but rare. */
static void cache_grow(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct cache_entry **nb = calloc(n, sizeof *nb);
	if (!nb)
		return;   /* longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			size_t k = cache_hash(e->key) & (n - 1);
			e->hnext = nb[k];
			nb[k] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* ---- flights (lock held) ------------------------------------------------ */

static struct cache_flight **cache_flight_slot(struct cache *c, const char *key)
{
	return &c->flights[cache_hash(key) & (c->nfbuckets - 1)];
}

static struct cache_flight *cache_flight_find(struct cache *c, const char *key)
{
	for (struct cache_flight *f = *cache_flight_slot(c, key); f; f = f->hnext)
		if (f->joinable && strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

/* Out of the table (PP points at F in its bucket) and off the list flights. */
static void cache_flight_unlink_at(struct cache *c, struct cache_flight **pp, struct cache_flight *f)
{
	*pp = f->hnext;
	f->hnext = NULL;
	if (f->list) {
		if (f->lprev)
			f->lprev->lnext = f->lnext;
		else
			c->list_flights = f->lnext;
		if (f->lnext)
			f->lnext->lprev = f->lprev;
		f->lprev = f->lnext = NULL;
	}
	f->in_table = false;
	c->nfin_table--;
}

static void cache_flight_unlink(struct cache *c, struct cache_flight *f)
{
	if (!f->in_table)
		return;
	for (struct cache_flight **pp = cache_flight_slot(c, f->key); *pp; pp = &(*pp)->hnext)
		if (*pp == f) {
			cache_flight_unlink_at(c, pp, f);
			break;
		}
}

/* As cache_grow, for the flight table: chains stay short however many
 * reads are in flight (a list read carries hundreds). */
static void cache_flights_grow(struct cache *c)
{
	size_t n = c->nfbuckets * 2;
	struct cache_flight **nb = calloc(n, sizeof *nb);
	if (!nb)
		return;
	for (size_t i = 0; i < c->nfbuckets; i++) {
		struct cache_flight *f = c->flights[i], *next;
		for (; f; f = next) {
			next = f->hnext;
			size_t k = cache_hash(f->key) & (n - 1);
			f->hnext = nb[k];
			nb[k] = f;
		}
	}
	free(c->flights);
	c->flights = nb;
	c->nfbuckets = n;
}

static struct cache_flight *cache_flight_new(struct cache *c, const char *key, bool joinable)
{
	size_t n = strlen(key) + 1;
	struct cache_flight *f = calloc(1, sizeof *f + n);
	if (!f)
		return NULL;
	memcpy(f->key, key, n);
	f->joinable = joinable;
	f->list = cache_key_is_list(key);
	f->gen0 = c->generation;
	TAILQ_INIT(&f->waiters);
	if (c->nfin_table >= c->nfbuckets)
		cache_flights_grow(c);
	struct cache_flight **head = cache_flight_slot(c, key);
	f->hnext = *head;
	*head = f;
	if (f->list) {
		f->lnext = c->list_flights;
		if (f->lnext)
			f->lnext->lprev = f;
		c->list_flights = f;
	}
	f->in_table = true;
	c->nfin_table++;
	c->nflights++;
	return f;
}

/* The generation rule: a flight that began before an invalidation of its
 * key may not store, and leaves the table so that reads arriving from now
 * on start a flight of their own instead of joining an older answer. PP
 * points at F in its bucket. */
static void cache_flight_invalidate(struct cache *c, struct cache_flight **pp, struct cache_flight *f)
{
	f->inval_gen = c->generation;
	f->joinable = false;
	cache_flight_unlink_at(c, pp, f);
}

/* Every flight of KEY (a no-cache leader may run beside a joinable one). */
static void cache_flights_invalidate_key(struct cache *c, const char *key)
{
	for (struct cache_flight **pp = cache_flight_slot(c, key); *pp;) {
		struct cache_flight *f = *pp;
		c->inval_work++;
		if (strcmp(f->key, key) == 0)
			cache_flight_invalidate(c, pp, f);   /* *pp is the next one now */
		else
			pp = &f->hnext;
	}
}

/* The flights of VINS and every list flight; ALL: every flight. */
static void cache_flights_invalidate(struct cache *c, char *const *vins, size_t n, bool all)
{
	if (all) {
		for (size_t b = 0; b < c->nfbuckets; b++)
			while (c->flights[b])
				cache_flight_invalidate(c, &c->flights[b], c->flights[b]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		c->inval_work++;
		cache_flights_invalidate_key(c, vins[i]);
	}
	while (c->list_flights) {
		c->inval_work++;
		cache_flights_invalidate_key(c, c->list_flights->key);
	}
}

/* ---- life cycle ---------------------------------------------------------- */

struct cache *cache_new(void)
{
	struct cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = CACHE_MIN_BUCKETS;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	c->nfbuckets = CACHE_MIN_FLIGHT_BUCKETS;
	c->flights = calloc(c->nfbuckets, sizeof *c->flights);
	if (!c->buckets || !c->flights) {
		free(c->buckets);
		free(c->flights);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (c->head)
		cache_entry_drop(c, c->head);
	/* Flights outlive the cache only if requests do; at exit none do. */
	free(c->buckets);
	free(c->flights);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct cache *cache_the;

int cache_start(void)
{
	if (!cache_the)
		cache_the = cache_new();
	return cache_the ? 0 : -1;
}

struct cache *cache_shared(void) { return cache_the; }

void cache_shutdown(void)
{
	cache_free(cache_the);
	cache_the = NULL;
}

static void cache_waiter_run(struct waiter *wt)
{
	struct cache_waiter *w = (struct cache_waiter *)wt;
	w->cb(w->arg, w->a, w->how);   /* the callee owns the reference */
}

static void cache_waiter_dropped(struct waiter *wt)
{
	cache_answer_unref(((struct cache_waiter *)wt)->a);
}

/* ---- lookup, store, wake -------------------------------------------------- */

static enum cache_lookup_result cache_join(struct cache *c, struct cache_flight *f,
					   struct event_base *base, cache_wake_fn cb, void *arg,
					   struct cache_waiter **w)
{
	if (f->nwaiters >= CACHE_MAX_WAITERS)
		return CACHE_BUSY;
	struct cache_waiter *nw = waiter_new(sizeof *nw, &c->mu, base, cache_waiter_run, cache_waiter_dropped);
	if (!nw)
		return CACHE_BUSY;
	nw->c = c;
	nw->f = f;
	nw->cb = cb;
	nw->arg = arg;
	TAILQ_INSERT_TAIL(&f->waiters, nw, link);
	f->nwaiters++;
	c->nwaiters++;
	*w = nw;
	return CACHE_WAIT;
}

enum cache_lookup_result cache_lookup(struct cache *c, const char *key, double now, bool no_cache,
				      struct cache_answer **hit, struct cache_flight **lead,
				      struct event_base *base, cache_wake_fn cb, void *arg,
				      struct cache_waiter **w)
{
	enum cache_lookup_result res = CACHE_BUSY;
	*hit = NULL;
	*lead = NULL;
	*w = NULL;
	pthread_mutex_lock(&c->mu);
	struct cache_entry *e = *cache_slot(c, key);
	if (e && now >= e->a->stale_until) {
		cache_entry_drop(c, e);   /* past any use: free it now */
		e = NULL;
	}
	if (!no_cache && e && now < e->a->fresh_until) {
		cache_lru_unlink(c, e);
		cache_lru_push(c, e);
		*hit = cache_answer_ref(e->a);
		res = CACHE_HIT;
		goto out;
	}
	struct cache_flight *f = no_cache ? NULL : cache_flight_find(c, key);
	if (f) {
		res = cache_join(c, f, base, cb, arg, w);
		goto out;
	}
	*lead = cache_flight_new(c, key, !no_cache);
	res = *lead ? CACHE_LEAD : CACHE_BUSY;
out:
	pthread_mutex_unlock(&c->mu);
	return res;
}

enum cache_lookup_result cache_flight_join(struct cache *c, struct cache_flight *f, struct event_base *base,
					   cache_wake_fn cb, void *arg, struct cache_waiter **w)
{
	pthread_mutex_lock(&c->mu);
	enum cache_lookup_result res = cache_join(c, f, base, cb, arg, w);
	pthread_mutex_unlock(&c->mu);
	return res;
}

struct cache_flight *cache_refresh_open(struct cache *c, const char *key, double stored_at, double now)
{
	struct cache_flight *f = NULL;
	pthread_mutex_lock(&c->mu);
	struct cache_entry *e = *cache_slot(c, key);
	if (e && e->a->stored_at == stored_at && now < e->a->stale_until && !cache_flight_find(c, key))
		f = cache_flight_new(c, key, true);
	pthread_mutex_unlock(&c->mu);
	return f;
}

bool cache_answer_first_read(struct cache_answer *a)
{
	return !atomic_exchange(&a->read_once, true);
}

struct cache_answer *cache_stale(struct cache *c, const char *key, double now)
{
	struct cache_answer *a = NULL;
	pthread_mutex_lock(&c->mu);
	struct cache_entry *e = *cache_slot(c, key);
	if (e && now < e->a->stale_until)
		a = cache_answer_ref(e->a);
	pthread_mutex_unlock(&c->mu);
	return a;
}

static void cache_evict_to(struct cache *c, size_t max_bytes)
{
	while (c->tail && c->bytes > max_bytes) {
		cache_entry_drop(c, c->tail);
		c->evictions++;
	}
}

static int cache_drop_lists(struct cache *c);

/* Lock held: E (holding A) goes into the map, replacing KEY's entry. */
static void cache_insert_locked(struct cache *c, struct cache_entry *e, struct cache_answer *a, size_t max_bytes)
{
	struct cache_entry **pp = cache_slot(c, e->key);
	if (*pp)
		cache_entry_drop(c, *pp);   /* a no-cache read replaces it */
	e->a = cache_answer_ref(a);
	pp = cache_slot(c, e->key);
	e->hnext = *pp;
	*pp = e;
	cache_lru_push(c, e);
	if (e->list) {
		e->lnext = c->list_entries;
		if (e->lnext)
			e->lnext->lprev = e;
		c->list_entries = e;
	}
	c->entries++;
	c->bytes += e->bytes;
	cache_evict_to(c, max_bytes);
	if (c->entries > c->nbuckets)
		cache_grow(c);
}

/* An entry for A under KEY, not yet in the map; NULL when it cannot be. */
static struct cache_entry *cache_entry_for(const char *key, bool list, struct cache_answer *a, int ttl, int stale_s,
					   size_t max_bytes, double now)
{
	if (ttl <= 0 || a->status != 200)
		return NULL;
	size_t cost = cache_entry_cost(key, a);
	if (cost > max_bytes)
		return NULL;
	size_t klen = strlen(key) + 1;
	struct cache_entry *e = calloc(1, sizeof *e + klen);
	if (!e)
		return NULL;
	memcpy(e->key, key, klen);
	e->list = list;
	e->bytes = cost;
	/* Nobody else sees A before it is stored or handed to waiters. */
	a->fresh_until = now + ttl;
	a->stale_until = a->fresh_until + (stale_s > 0 ? stale_s : 0);
	return e;
}

int cache_store(struct cache *c, struct cache_flight *f, struct cache_answer *a, int ttl, int stale_s,
		size_t max_bytes, double now)
{
	struct cache_entry *e = cache_entry_for(f->key, f->list, a, ttl, stale_s, max_bytes, now);
	if (!e)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (f->inval_gen > f->gen0) {
		pthread_mutex_unlock(&c->mu);
		free(e);
		return 0;
	}
	cache_insert_locked(c, e, a, max_bytes);
	pthread_mutex_unlock(&c->mu);
	return 1;
}

int cache_replace(struct cache *c, const char *key, struct cache_answer *a, int ttl, int stale_s, size_t max_bytes,
		  double now)
{
	struct cache_entry *e = a ? cache_entry_for(key, false, a, ttl, stale_s, max_bytes, now) : NULL;
	char *one[] = { (char *)key };
	pthread_mutex_lock(&c->mu);
	c->generation++;
	c->invalidations++;
	struct cache_entry *old = *cache_slot(c, key);
	if (old)
		cache_entry_drop(c, old);
	cache_drop_lists(c);
	cache_flights_invalidate(c, one, 1, false);
	if (e)
		cache_insert_locked(c, e, a, max_bytes);
	pthread_mutex_unlock(&c->mu);
	return e != NULL;
}

struct cache_flight *cache_check_open(struct cache *c, const char *key)
{
	struct cache_flight *f = NULL;
	pthread_mutex_lock(&c->mu);
	if (!cache_flight_find(c, key))
		f = cache_flight_new(c, key, true);
	pthread_mutex_unlock(&c->mu);
	return f;
}

size_t cache_vins_from(struct cache *c, size_t *cursor, char (*vins)[18], size_t max)
{
	size_t n = 0, b;
	pthread_mutex_lock(&c->mu);
	for (b = *cursor; b < c->nbuckets && n < max; b++) {
		size_t in = 0;
		for (struct cache_entry *e = c->buckets[b]; e; e = e->hnext)
			in += !e->list;
		if (n + in > max && n > 0)
			break;   /* this bucket whole next time */
		for (struct cache_entry *e = c->buckets[b]; e && n < max; e = e->hnext)
			if (!e->list && strlen(e->key) == FG_VIN_LEN)
				snprintf(vins[n++], 18, "%s", e->key);
	}
	*cursor = b < c->nbuckets ? b : 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

void cache_flight_done(struct cache *c, struct cache_flight *f, struct cache_answer *a, const char *how)
{
	struct cache_waitq q;
	TAILQ_INIT(&q);
	pthread_mutex_lock(&c->mu);
	cache_flight_unlink(c, f);
	c->nflights--;
	c->nwaiters -= f->nwaiters;
	struct cache_waiter *w;
	while ((w = TAILQ_FIRST(&f->waiters))) {
		TAILQ_REMOVE(&f->waiters, w, link);
		waiter_take_locked(&w->wt);   /* cancelling now only marks it */
		w->f = NULL;
		w->a = cache_answer_ref(a);
		w->how = how;
		TAILQ_INSERT_TAIL(&q, w, link);
	}
	pthread_mutex_unlock(&c->mu);
	free(f);
	while ((w = TAILQ_FIRST(&q))) {
		TAILQ_REMOVE(&q, w, link);
		waiter_wake(&w->wt);   /* the callback runs on the waiter's own thread */
	}
}

size_t cache_flights_end_idle(struct cache *c, struct cache_flight **fv, size_t n)
{
	size_t ended = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		struct cache_flight *f = fv[i];
		if (!f || f->nwaiters)
			continue;
		cache_flight_unlink(c, f);
		c->nflights--;
		free(f);
		fv[i] = NULL;
		ended++;
	}
	pthread_mutex_unlock(&c->mu);
	return ended;
}

void cache_wait_cancel(struct cache_waiter *w)
{
	if (!w)
		return;
	struct cache *c = w->c;
	pthread_mutex_lock(&c->mu);
	if (waiter_cancel_locked(&w->wt)) {
		struct cache_flight *f = w->f;
		TAILQ_REMOVE(&f->waiters, w, link);
		f->nwaiters--;
		c->nwaiters--;
		pthread_mutex_unlock(&c->mu);
		free(w);
		return;
	}
	pthread_mutex_unlock(&c->mu);   /* woken: dropped when its event runs */
}

/* ---- invalidation ------------------------------------------------------- */

static int cache_drop_lists(struct cache *c)
{
	int n = 0;
	while (c->list_entries) {
		c->inval_work++;
		cache_entry_drop(c, c->list_entries);
		n++;
	}
	return n;
}

int cache_invalidate(struct cache *c, char *const *vins, size_t n)
{
	int dropped = 0;
	pthread_mutex_lock(&c->mu);
	c->generation++;
	c->invalidations++;
	for (size_t i = 0; i < n; i++) {
		c->inval_work++;
		struct cache_entry *e = *cache_slot(c, vins[i]);
		if (e) {
			cache_entry_drop(c, e);
			dropped++;
		}
	}
	dropped += cache_drop_lists(c);
	cache_flights_invalidate(c, vins, n, false);
	pthread_mutex_unlock(&c->mu);
	return dropped;
}

int cache_clear(struct cache *c)
{
	pthread_mutex_lock(&c->mu);
	int n = (int)c->entries;
	c->generation++;
	c->invalidations++;
	while (c->head)
		cache_entry_drop(c, c->head);
	cache_flights_invalidate(c, NULL, 0, true);
	pthread_mutex_unlock(&c->mu);
	return n;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	out->entries = c->entries;
	out->bytes = c->bytes;
	out->flights = c->nflights;
	out->waiters = c->nwaiters;
	out->evictions = c->evictions;
	out->invalidations = c->invalidations;
	out->generation = c->generation;
	out->inval_work = c->inval_work;
	pthread_mutex_unlock(&c->mu);
}

/* ---- admin surface ------------------------------------------------------- */

int cache_purge(const char *vin)
{
	char v[18];
	struct cache *c = cache_shared();
	if (vin && !vin_normalize(vin, strlen(vin), v))
		return -1;
	if (!c)
		return 0;
	if (!vin)
		return cache_clear(c);
	char *one[] = { v };
	return cache_invalidate(c, one, 1);
}

void cache_stats_json(json_t *o)
{
	struct cache_stats s;
	cache_get_stats(cache_shared(), &s);
	json_object_set_new(o, "entries", json_integer((json_int_t)s.entries));
	json_object_set_new(o, "bytes", json_integer((json_int_t)s.bytes));
	json_object_set_new(o, "evictions", json_integer((json_int_t)s.evictions));
	json_object_set_new(o, "invalidations", json_integer((json_int_t)s.invalidations));
	json_object_set_new(o, "flights", json_integer((json_int_t)s.flights));
	json_object_set_new(o, "waiters", json_integer((json_int_t)s.waiters));
}

void cache_metrics(struct evbuffer *b)
{
	struct cache_stats s;
	cache_get_stats(cache_shared(), &s);
	metric_gauge(b, "cache_entries", "Entries in the cache", (double)s.entries);
	metric_gauge(b, "cache_bytes", "Bytes held by the cache, overhead included", (double)s.bytes);
	metric_counter(b, "cache_evictions_total", "Entries evicted to stay within max_bytes", (double)s.evictions);
	metric_counter(b, "cache_invalidations_total", "Invalidations (mutations and purges)", (double)s.invalidations);
	metric_gauge(b, "cache_flights", "Upstream reads other reads are waiting for", (double)s.flights);
}
