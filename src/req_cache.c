/* req_cache.c: the cache side of one tenant request (see req_cache.h).
 *
 * Owns the request's key, its flight (while it leads the upstream read of
 * the key), the answer a leader handed to it (while it waits), and what
 * X-Cache and Cache-Status say. The cache itself (entries, flights,
 * waiters, generations) is cache.c's; the order of the steps and every
 * reply are req.c's.
 *
 * Never: send a reply, wait, or decide what a failure becomes (req.c
 * asks req_cache_stale from its one failure path). */
#include "req_cache.h"
#include "clock.h"
#include "up_listread.h"
#include "budget.h"
#include "req_listfilter.h"
#include "stats.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/http.h>
#include <jansson.h>

static const char *const reqcache_xcache_names[] = {
	[REQCACHE_BYPASS] = "BYPASS", [REQCACHE_HIT] = "HIT", [REQCACHE_MISS] = "MISS", [REQCACHE_STALE] = "STALE",
	[REQCACHE_LIST] = "MISS-LIST",
};

const char *req_cache_xcache_name(enum reqcache_xcache x) { return reqcache_xcache_names[x]; }

static void req_cache_label(struct reqcache *rc, enum reqcache_xcache x, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* X-Cache and the matching RFC 9211 Cache-Status, set together. */
static void req_cache_label(struct reqcache *rc, enum reqcache_xcache x, const char *fmt, ...)
{
	va_list ap;
	rc->xcache = x;
	va_start(ap, fmt);
	vsnprintf(rc->detail, sizeof rc->detail, fmt, ap);
	va_end(ap);
}

/* V in decimal into OUT (room for 21 bytes); returns its length. The hit
 * path's numbers (ttl, Age) without a trip through printf. */
static size_t req_cache_ltoa(char *out, long v)
{
	char t[24];
	size_t n = 0, k = 0;
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
	do
		t[n++] = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		out[k++] = '-';
	while (n)
		out[k++] = t[--n];
	out[k] = '\0';
	return k;
}

/* A fresh hit's label: "fleetgate; hit; ttl=N". */
static void req_cache_label_hit(struct reqcache *rc, long ttl)
{
	static const char pre[] = "fleetgate; hit; ttl=";
	rc->xcache = REQCACHE_HIT;
	memcpy(rc->detail, pre, sizeof pre - 1);
	req_cache_ltoa(rc->detail + sizeof pre - 1, ttl);
}

/* Whether a header value lists TOKEN (case-insensitive), e.g. no-cache. */
static bool req_cache_header_has(const char *v, const char *token)
{
	size_t n = strlen(token);
	for (; v && *v; v++)
		if (strncasecmp(v, token, n) == 0)
			return true;
	return false;
}

bool req_cache_key(struct reqcache *rc, enum fg_route route, const char *vin, const char *filter,
		  const char *cache_control, const char *pragma, bool enabled)
{
	rc->checked = true;
	if (route != FG_R_GET && route != FG_R_LIST) {
		req_cache_label(rc, REQCACHE_BYPASS, "fleetgate; fwd=method");
		return false;
	}
	if (!enabled || !cache_shared()) {
		req_cache_label(rc, REQCACHE_BYPASS, "fleetgate; fwd=bypass");
		return false;
	}
	rc->key = route == FG_R_GET ? strdup(vin) : cache_list_key(filter);
	if (!rc->key) {
		req_cache_label(rc, REQCACHE_BYPASS, "fleetgate; fwd=uri-miss");
		return false;
	}
	rc->no_cache = req_cache_header_has(cache_control, "no-cache") || req_cache_header_has(pragma, "no-cache");
	return true;
}

/* Twice per mutation: before it is forwarded, and when the answer is in
 * (whatever it is), so a read that began in between cannot keep an answer
 * from before the change either (the generation rule in cache.c refuses
 * to store it). */
void req_cache_invalidate(enum fg_route route, char *vin, char *const *vins, size_t nvins,
			 struct event_base *base)
{
	struct cache *c = cache_shared();
	char *one[1] = { vin };
	if (!c || (route != FG_R_CREATE && route != FG_R_DELETE && route != FG_R_CANCEL))
		return;
	if (route != FG_R_CREATE) {
		vins = one;
		nvins = 1;
	}
	cache_invalidate(c, vins, nvins);
	redis_cache_invalidate(base, vins, nvins);
}

enum cache_lookup_result req_cache_lookup(struct reqcache *rc, double now, struct event_base *base,
					 cache_wake_fn cb, void *arg, struct cache_answer **a,
					 struct cache_waiter **w)
{
	struct cache_flight *f = NULL;
	enum cache_lookup_result res = cache_lookup(cache_shared(), rc->key, now, rc->no_cache, a, &f,
						    base, cb, arg, w);
	switch (res) {
	case CACHE_HIT:
		stats_inc(STAT_cache_hits);
		req_cache_label_hit(rc, (long)floor((*a)->fresh_until - now));
		if (!cache_key_is_list(rc->key) && cache_answer_first_read(*a))
			up_listread_note_read(rc->key, (*a)->stored_at, (*a)->fresh_until, now);
		break;
	case CACHE_LEAD:
		if (!rc->miss_counted)
			stats_inc(STAT_cache_misses);
		rc->miss_counted = true;
		rc->flight = f;
		req_cache_label(rc, REQCACHE_MISS, "fleetgate; fwd=%s", rc->no_cache ? "request" : "miss");
		break;
	case CACHE_WAIT:
		stats_inc(STAT_cache_coalesced);
		break;
	case CACHE_BUSY:
		break;
	}
	return res;
}

enum reqcache_way req_cache_vin_read(struct reqcache *rc, const struct fg_config *cfg, const char *tenant,
				    double now, struct event_base *base, cache_wake_fn cb, void *arg,
				    struct cache_waiter **w)
{
	bool can_list = rc->flight && !rc->no_cache && !rc->list_fallback;
	double ra;
	struct budget_waiter *bw = NULL;
	switch (up_listread_choose(cfg->vin_reads, can_list)) {
	case BATCH_SINGLE:
		return REQCACHE_BUDGET;
	case BATCH_TRY_SLOT:
		switch (budget_acquire(budget_shared(), tenant, now, NULL, NULL, NULL, &bw, &ra)) {
		case BUDGET_GRANTED:
			return REQCACHE_SLOT;
		case BUDGET_ASK:   /* shared: only Redis knows whether a slot is free: ask it */
			return REQCACHE_BUDGET;
		default:
			break;
		}
		break;
	case BATCH_LIST:
		break;
	}
	if (!up_listread_join(tenant, rc->key, &rc->flight, base, cb, arg, w))
		return REQCACHE_BUDGET;
	if (rc->base)   /* the list read fills this instance only: let others fill Redis */
		redis_cache_release(rc->base, rc->key, &rc->l2t);
	return REQCACHE_LISTED;
}

void req_cache_handed(struct reqcache *rc, struct cache_answer *a, const char *how)
{
	if (!a) {
		/* A list read without this VIN: the next lead is a single read. */
		rc->list_fallback = rc->list_fallback || (how && strncmp(how, "LIST-", 5) == 0);
		return;
	}
	if (strcmp(how, "LIST") == 0) {
		stats_inc(STAT_list_served);
		req_cache_label(rc, REQCACHE_LIST, "fleetgate; fwd=miss; fwd-status=200; detail=list-read");
		rc->handed = a;
		return;
	}
	bool stale = strcmp(how, "STALE") == 0;
	if (stale)
		stats_inc(STAT_cache_stale);
	req_cache_label(rc, stale ? REQCACHE_STALE : REQCACHE_MISS, "fleetgate; fwd=%s; collapsed",
		       stale ? "stale" : "miss");
	rc->handed = a;
}

/* The flight ends with A for every waiter, labelled as this request's. */
static void req_cache_hand_over(struct reqcache *rc, struct cache_answer *a)
{
	cache_flight_done(cache_shared(), rc->flight, a, req_cache_xcache_name(rc->xcache));
	rc->flight = NULL;
}

/* The second level answered: a hit is stored here with its age (Redis's,
 * from the remaining TTL) and handed to this instance's waiters. */
static void req_cache_l2_done(enum sharedcache_status st, const struct sharedcache_hit *hit, void *arg)
{
	struct reqcache *rc = arg;
	rc->l2 = NULL;
	if (st == SHAREDCACHE_HIT && rc->flight) {
		double now = clock_now();
		struct cache_answer *a = cache_answer_new(hit->status, hit->ctype, hit->body, hit->len, NULL,
							  now - (double)hit->age_ms / 1000.0);
		if (a) {
			int fresh = (int)((hit->fresh_ms - hit->age_ms) / 1000);
			cache_store(cache_shared(), rc->flight, a, fresh, (int)(hit->stale_ms / 1000),
				    rc->cfg->cache_max_bytes, now);
			req_cache_label(rc, REQCACHE_HIT, "fleetgate; hit; ttl=%d; detail=shared", fresh);
			req_cache_hand_over(rc, a);
			rc->handed = a;
		}
	}
	rc->l2_cb(rc->l2_arg, NULL, NULL);
}

bool req_cache_l2_lookup(struct reqcache *rc, const struct fg_config *cfg, struct event_base *base,
			cache_wake_fn cb, void *arg)
{
	if (rc->l2_asked || !rc->flight || rc->no_cache || cache_key_is_list(rc->key) || !redis_cache_on())
		return false;
	rc->l2_asked = true;
	rc->base = base;
	rc->cfg = cfg;
	rc->l2_cb = cb;
	rc->l2_arg = arg;
	/* Another instance's fill is waited for as long as a leader here could take. */
	long long lock_ms = (long long)((cfg->queue_timeout + cfg->timeout) * 1000.0);
	rc->l2 = redis_cache_get(base, rc->key, lock_ms, cfg, &rc->l2t, req_cache_l2_done, rc);
	return rc->l2 != NULL;
}

void req_cache_l2_cancel(struct reqcache *rc)
{
	redis_cache_cancel(rc->l2);
	rc->l2 = NULL;
}

struct cache_answer *req_cache_stale(struct reqcache *rc, double now, bool forwarded, const char *why)
{
	struct cache *c = cache_shared();
	if (!rc->key || !c)
		return NULL;
	struct cache_answer *a = cache_stale(c, rc->key, now);
	if (!a)
		return NULL;
	long ttl = (long)floor(a->fresh_until - now);
	if (ttl >= 0) {
		/* Stored again by another request meanwhile: simply a hit. */
		stats_inc(STAT_cache_hits);
		req_cache_label_hit(rc, ttl);
	} else {
		stats_inc(STAT_cache_stale);
		if (forwarded)
			req_cache_label(rc, REQCACHE_STALE, "fleetgate; fwd=stale; ttl=%ld; %s", ttl, why);
		else
			req_cache_label(rc, REQCACHE_STALE, "fleetgate; hit; ttl=%ld; detail=%s", ttl, why);
	}
	if (rc->flight)
		req_cache_hand_over(rc, a);
	return a;
}

/* The list route's answer F split for per-tenant filtering (req_listfilter.c
 * says what survives of it). NULL with *STATUS 502 when its body is not a
 * JSON array or object, or holds no list although NEED_LIST; 500 when out
 * of memory. */
static struct listview *req_cache_view(struct fwd *f, bool need_list, int *status)
{
	struct evbuffer *body = up_forward_body(f);
	size_t len = evbuffer_get_length(body);
	json_t *j = json_loadb(len ? (const char *)evbuffer_pullup(body, -1) : "", len, 0, NULL);
	struct listview *view = NULL;
	*status = 502;
	if (json_is_array(j) || (json_is_object(j) && (!need_list || json_is_array(json_object_get(j, "vehicles"))))) {
		view = req_listfilter_new(j);
		*status = view ? 0 : 500;
	}
	json_decref(j);
	return view;
}

struct cache_answer *req_cache_store(struct reqcache *rc, enum fg_route route, struct fwd *f,
				    const struct fg_config *cfg, double now, int *status)
{
	struct evbuffer *body = up_forward_body(f);
	size_t len = evbuffer_get_length(body);
	const char *text = len ? (const char *)evbuffer_pullup(body, -1) : "";
	bool list = route == FG_R_LIST;
	struct listview *view = list ? req_cache_view(f, true, status) : NULL;
	if (list && !view)
		return NULL;
	json_t *j = list ? NULL : json_loadb(text, len, 0, NULL);
	int ttl = cache_ttl(cfg, list, list ? NULL : json_string_value(json_object_get(j, "status")));
	json_decref(j);
	struct cache_answer *a = cache_answer_new(200, up_forward_content_type(f), text, len, view, now);
	if (!a) {
		*status = 500;
		return NULL;
	}
	int stored = cache_store(cache_shared(), rc->flight, a, ttl, cfg->stale_if_error, cfg->cache_max_bytes, now);
	req_cache_label(rc, REQCACHE_MISS, "fleetgate; fwd=%s; fwd-status=200%s", rc->no_cache ? "request" : "miss",
		       stored ? "; stored" : "");
	if (rc->l2t.asked)   /* and for the other instances (it releases the fill lock) */
		redis_cache_put(rc->base, rc->key, &rc->l2t, a->ctype, text, len, ttl, cfg->stale_if_error);
	req_cache_hand_over(rc, a);
	return a;
}

struct cache_answer *req_cache_list_answer(struct reqcache *rc, struct fwd *f, double now, int *status)
{
	int st = (int)up_forward_status(f);
	*status = 0;
	if (!evbuffer_get_length(up_forward_body(f)))
		return NULL;
	struct listview *view = req_cache_view(f, st >= 200 && st < 300, status);
	if (!view)
		return NULL;
	struct cache_answer *a = cache_answer_new(st, up_forward_content_type(f), NULL, 0, view, now);
	if (!a) {
		*status = 500;
		return NULL;
	}
	if (st == 429 || st == 503)
		a->retry_after = up_forward_retry_after(f);
	/* Waiters get the view, not this tenant's rendering of it. */
	if (rc->flight)
		req_cache_hand_over(rc, a);
	return a;
}

void req_cache_note_status(struct reqcache *rc, int status)
{
	if (!rc->key)
		return;
	size_t n = strlen(rc->detail);
	snprintf(rc->detail + n, sizeof rc->detail - n, "; fwd-status=%d", status);
}

/* A leader that ends without handing over a stored answer (an error, a
 * 404, a 429) still gives its waiters what it sends: they asked the same
 * question at the same moment, and sending each of them upstream in turn
 * would spend the budget the coalescing is there to save. */
void req_cache_publish(struct reqcache *rc, int status, struct evbuffer *body, const char *ctype,
		      const char *retry_after, double now)
{
	if (!rc->flight)
		return;
	size_t len = body ? evbuffer_get_length(body) : 0;
	struct cache_answer *a = cache_answer_new(status, ctype, len ? evbuffer_pullup(body, -1) : NULL, len,
						  NULL, now);
	if (a && retry_after)
		a->retry_after = atoi(retry_after);
	req_cache_hand_over(rc, a);
	cache_answer_unref(a);
}

/* A list answer is held whole and filtered for this tenant on the way
 * out; other bodies are borrowed from the answer, not copied. */
struct evbuffer *req_cache_render(const struct reqcache *rc, struct cache_answer *a, const struct fg_tenant *tenant,
				 unsigned generation, struct evkeyvalq *h, double now)
{
	char v[32];
	if (rc->xcache == REQCACHE_HIT || rc->xcache == REQCACHE_STALE) {
		double age = now - a->stored_at;
		req_cache_ltoa(v, age > 0 ? (long)age : 0L);
		evhttp_add_header(h, "Age", v);
	}
	if (a->retry_after >= 0) {
		snprintf(v, sizeof v, "%d", a->retry_after);
		evhttp_add_header(h, "Retry-After", v);
	}
	struct evbuffer *out = evbuffer_new();
	if (out && (a->list ? req_listfilter_render(a->list, tenant, generation, out) : cache_answer_add_to(a, out)) < 0) {
		evbuffer_free(out);
		out = NULL;
	}
	return out;
}

void req_cache_headers(const struct reqcache *rc, struct evkeyvalq *h)
{
	evhttp_add_header(h, "X-Cache", req_cache_xcache_name(rc->xcache == REQCACHE_LIST ? REQCACHE_MISS : rc->xcache));
	if (rc->detail[0])
		evhttp_add_header(h, "Cache-Status", rc->detail);
}

void req_cache_free(struct reqcache *rc)
{
	req_cache_l2_cancel(rc);
	if (rc->key)
		redis_cache_release(rc->base, rc->key, &rc->l2t);   /* a fill lock nobody used */
	if (rc->flight)
		cache_flight_done(cache_shared(), rc->flight, NULL, NULL);   /* waiters ask again */
	rc->flight = NULL;
	cache_answer_unref(rc->handed);
	rc->handed = NULL;
	free(rc->key);
	rc->key = NULL;
}
