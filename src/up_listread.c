/* up_listread.c: single-VIN reads answered by filtered list reads (see up_listread.h).
 *
 * Owns the pending set of VINs (each with the cache flight it leads for
 * the requests waiting; its FIFOs per tenant, their round robin and their
 * share are up_listpending.c's), the refresh schedule, the list budget
 * (list_get_rate, a second instance of budget.c's sliding window with its
 * own 429 pause), and the list reads in flight on the main thread's event
 * base and its own curl multi handle. Workers only add to the pending set
 * and the schedule, under the one mutex; everything else runs on the main
 * thread: the window timer, the wait for a list slot and a token, the
 * exchange, and the hand-over of each vehicle to its flight.
 *
 * Policy is not decided here: a request joins only for its own VIN, after
 * it passed the policy step, and a flight hands a vehicle only to the
 * requests waiting for that VIN.
 *
 * VINs nobody waits for any more (their clients hung up or gave up) are
 * dropped before every list read and whenever a tenant's share is full,
 * so they never take a list slot nor a place in one; refreshes are exempt
 * (nobody waits for them by design) within a share of their own.
 *
 * Never: spend a single-VIN budget slot (a VIN the list answer lacks goes
 * back to the requests, which go to the budget themselves), or block. */
#define _GNU_SOURCE   /* asprintf */
#include "up_listread.h"
#include "budget.h"
#include "clock.h"
#include "up_forward.h"
#include "log.h"
#include "metric.h"
#include "stats.h"
#include "up_token.h"
#include "up_multi.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>

/* ---- pure parts ----------------------------------------------------------- */

enum batch_way up_listread_choose(enum fg_vin_reads mode, bool can_list)
{
	if (!can_list || mode == FG_VIN_READS_SINGLE)
		return BATCH_SINGLE;
	return mode == FG_VIN_READS_LIST ? BATCH_LIST : BATCH_TRY_SLOT;
}

double up_listread_refresh_at(double stored_at, double fresh_until)
{
	return fresh_until - (fresh_until - stored_at) / 5;
}

char *up_listread_filter_query(char *const *vins, size_t n)
{
	json_t *vals = json_array();
	for (size_t i = 0; vals && i < n; i++)
		json_array_append_new(vals, json_string(vins[i]));
	json_t *filter = vals ? json_pack("{s:{s:s,s:o}}", "vin", "operator", "in", "value", vals) : NULL;
	char *text = filter ? json_dumps(filter, JSON_COMPACT) : NULL;
	json_decref(filter);
	char *enc = text ? evhttp_encode_uri(text) : NULL;
	free(text);
	char *q = NULL;
	if (enc && asprintf(&q, "filter=%s", enc) < 0)
		q = NULL;
	free(enc);
	return q;
}

json_t *up_listread_index(json_t *answer)
{
	json_t *list = json_is_array(answer) ? answer : json_object_get(answer, "vehicles");
	if (!json_is_array(list))
		return NULL;
	json_t *idx = json_object(), *v;
	size_t i;
	json_array_foreach(list, i, v) {
		const char *vin = json_string_value(json_object_get(v, "vin"));
		if (idx && vin && json_is_object(v))
			json_object_set(idx, vin, v);
	}
	return idx;
}

static void up_listread_sched_swap(struct batch_sched *s, size_t a, size_t b)
{
	struct batch_due t = s->v[a];
	s->v[a] = s->v[b];
	s->v[b] = t;
}

int up_listread_sched_add(struct batch_sched *s, const char *vin, double stored_at, double at)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct batch_due *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	size_t i = s->n++;
	snprintf(s->v[i].vin, sizeof s->v[i].vin, "%s", vin);
	s->v[i].stored_at = stored_at;
	s->v[i].at = at;
	for (; i > 0 && s->v[(i - 1) / 2].at > s->v[i].at; i = (i - 1) / 2)
		up_listread_sched_swap(s, i, (i - 1) / 2);
	return 0;
}

bool up_listread_sched_pop(struct batch_sched *s, double now, struct batch_due *out)
{
	if (!s->n || s->v[0].at > now)
		return false;
	*out = s->v[0];
	s->v[0] = s->v[--s->n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n && s->v[l].at < s->v[m].at)
			m = l;
		if (r < s->n && s->v[r].at < s->v[m].at)
			m = r;
		if (m == i)
			break;
		up_listread_sched_swap(s, i, m);
		i = m;
	}
	return true;
}

double up_listread_sched_next(const struct batch_sched *s)
{
	return s->n ? s->v[0].at : 0;
}

void up_listread_sched_free(struct batch_sched *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* ---- the batcher ------------------------------------------------------------ */

/* One list read in flight. */
struct batch_run {
	struct batch_run *prev, *next;
	struct batch_set items;
	struct fwd *f;
	uint64_t token_gen;
	char *url;
};

/* The VINs one tenant (or the refreshes) may have pending, whatever the rates. */
#define LISTREAD_SHARE_MIN 1000
#define LISTREAD_SHARE_MAX 30000

static struct {
	bool running;
	pthread_mutex_t mu;          /* guards pending, sched, armed, refresh_at */
	struct up_listpending pending;
	struct batch_sched sched;
	bool armed;                  /* the window timer is set or a dispatch is under way */
	double refresh_at;           /* when refresh_ev fires; 0: not set */
	atomic_int window_ms, max, mode;
	atomic_bool refresh_ahead;
	/* main thread only */
	struct event_base *base;
	struct upstream *up;
	struct budget *budget;       /* list_get_rate */
	struct event *window_ev, *refresh_ev;
	struct budget_waiter *bw;
	struct token_waiter *tw;
	bool have_slot;              /* a list slot reserved, not yet sent */
	struct batch_run *runs;
	unsigned long long seq;
} bt = { .mu = PTHREAD_MUTEX_INITIALIZER };

size_t up_listread_share(const struct fg_config *c)
{
	/* What the list budget can carry before a request waiting for a list
	 * read gives up (queue_timeout + timeout): more VINs of one tenant
	 * could only wait for their deadline. */
	double windows = c->list_get_rate.window_s > 0 ? ceil((c->queue_timeout + c->timeout) / c->list_get_rate.window_s) : 1;
	double share = (windows < 1 ? 1 : windows) * (c->list_get_rate.count > 0 ? c->list_get_rate.count : 1) *
		       c->list_batch_max;
	if (share < LISTREAD_SHARE_MIN)
		return LISTREAD_SHARE_MIN;
	return share > LISTREAD_SHARE_MAX ? LISTREAD_SHARE_MAX : (size_t)share;
}

static void up_listread_settings(const struct fg_config *c)
{
	atomic_store(&bt.window_ms, c->list_batch_window_ms);
	atomic_store(&bt.max, c->list_batch_max);
	atomic_store(&bt.mode, (int)c->vin_reads);
	atomic_store(&bt.refresh_ahead, c->refresh_ahead && c->vin_reads != FG_VIN_READS_SINGLE);
	pthread_mutex_lock(&bt.mu);
	bt.pending.share = up_listread_share(c);
	pthread_mutex_unlock(&bt.mu);
	budget_set_rate(bt.budget, c->list_get_rate.count, c->list_get_rate.window_s);
}

/* Lock held: the window timer, unless set already (or a dispatch runs). */
static void up_listread_arm_locked(double secs)
{
	if (bt.armed || !bt.pending.n)
		return;
	struct timeval tv = clock_timeval(secs);
	bt.armed = true;
	stats_inc(STAT_list_batches);
	evtimer_add(bt.window_ev, &tv);   /* from any thread: libevent is made thread-safe in main */
}

/* Prune callback, lock held: ends the flights of V nobody waits for. */
static void up_listread_idle(void *arg, struct batch_item *v, size_t n)
{
	(void)arg;
	struct cache_flight **fv = malloc(n * sizeof *fv);
	if (!fv)
		return;
	for (size_t i = 0; i < n; i++)
		fv[i] = v[i].f;
	size_t ended = cache_flights_end_idle(cache_shared(), fv, n);
	for (size_t i = 0; i < n; i++)
		v[i].f = fv[i];
	free(fv);
	if (ended)
		stats_add(STAT_list_abandoned, ended);
}

bool up_listread_join(const char *tenant, const char *vin, struct cache_flight **f, struct event_base *base,
		      cache_wake_fn cb, void *arg, struct cache_waiter **w)
{
	if (!bt.running || !*f)
		return false;
	/* Waiting first: once the flight is in the set, the main thread
	 * may end it at any moment. */
	if (cache_flight_join(cache_shared(), *f, base, cb, arg, w) != CACHE_WAIT)
		return false;
	pthread_mutex_lock(&bt.mu);
	int rc = up_listpending_add(&bt.pending, tenant, vin, *f, false);
	if (rc == LISTPENDING_FULL && up_listpending_prune_due(&bt.pending, tenant) &&
	    up_listpending_prune(&bt.pending, tenant, up_listread_idle, NULL))
		rc = up_listpending_add(&bt.pending, tenant, vin, *f, false);
	if (rc == LISTPENDING_OK)
		up_listread_arm_locked(atomic_load(&bt.window_ms) / 1000.0);
	pthread_mutex_unlock(&bt.mu);
	if (rc != LISTPENDING_OK) {
		if (rc == LISTPENDING_FULL)
			stats_inc(STAT_list_shed);
		cache_wait_cancel(*w);
		*w = NULL;
		return false;
	}
	*f = NULL;
	return true;
}

void up_listread_note_read(const char *vin, double stored_at, double fresh_until, double now)
{
	if (!bt.running || !atomic_load(&bt.refresh_ahead))
		return;
	double at = up_listread_refresh_at(stored_at, fresh_until);
	pthread_mutex_lock(&bt.mu);
	if (up_listread_sched_add(&bt.sched, vin, stored_at, at) == 0 && (!bt.refresh_at || at < bt.refresh_at)) {
		struct timeval tv = clock_timeval(at > now ? at - now : 0);
		bt.refresh_at = at;
		evtimer_add(bt.refresh_ev, &tv);
	}
	pthread_mutex_unlock(&bt.mu);
}

/* ---- ending flights (main thread) ------------------------------------------ */

/* The list answer had no vehicle for IT, or the read failed (FAILED):
 * the waiting requests get a stale entry when the read failed and one is
 * within stale_if_error; otherwise no answer, and they go to the
 * single-VIN budget themselves. */
static void up_listread_give_up(struct batch_item *it, bool failed, double now)
{
	struct cache *c = cache_shared();
	struct cache_answer *a = failed && !it->refresh ? cache_stale(c, it->vin, now) : NULL;
	if (a && a->fresh_until <= now) {
		cache_flight_done(c, it->f, a, "STALE");
	} else {
		if (!it->refresh)
			stats_inc(STAT_list_fallbacks);
		cache_flight_done(c, it->f, NULL, failed ? "LIST-FAILED" : "LIST-ABSENT");
	}
	cache_answer_unref(a);
	it->f = NULL;
}

static void up_listread_fail_set(struct batch_set *s, const char *why)
{
	double now = clock_now();
	if (s->n)
		log_warn("a list read for %zu VINs failed (%s); they fall back to single reads", s->n, why);
	for (size_t i = 0; i < s->n; i++)
		up_listread_give_up(&s->v[i], true, now);
	up_listpending_set_free(s);
}

/* Everything pending fails (the list route is paused, no token). */
static void up_listread_fail_pending(const char *why)
{
	struct batch_set all;
	stats_inc(STAT_list_failed);
	pthread_mutex_lock(&bt.mu);
	up_listpending_take_all(&bt.pending, &all);
	bt.armed = false;
	pthread_mutex_unlock(&bt.mu);
	up_listread_fail_set(&all, why);
}

/* The vehicle V answers IT's flight: stored as a single read would be. */
static void up_listread_deliver(struct batch_item *it, json_t *v, const struct fg_config *cfg, double now)
{
	struct cache *c = cache_shared();
	char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct cache_answer *a = text ? cache_answer_new(200, "application/json", text, strlen(text), NULL, now) : NULL;
	free(text);
	if (!a) {
		up_listread_give_up(it, true, now);
		return;
	}
	int ttl = cache_ttl(cfg, false, json_string_value(json_object_get(v, "status")));
	if (cache_store(c, it->f, a, ttl, cfg->stale_if_error, cfg->cache_max_bytes, now) && it->refresh)
		stats_inc(STAT_refreshes_ahead);
	cache_flight_done(c, it->f, a, "LIST");
	it->f = NULL;
	cache_answer_unref(a);
}

static void up_listread_run_free(struct batch_run *run)
{
	if (run->prev)
		run->prev->next = run->next;
	else if (bt.runs == run)
		bt.runs = run->next;
	if (run->next)
		run->next->prev = run->prev;
	up_listpending_set_free(&run->items);
	free(run->url);
	free(run);
}

/* An upstream 429 on the list route: nothing more goes there until its
 * hint has passed (budget_pause_from_429 decides, as for single reads). */
static void up_listread_pause(struct fwd *f, const struct fg_config *cfg)
{
	struct evbuffer *body = up_forward_body(f);
	stats_inc(STAT_list_throttled);
	int secs = budget_pause_from_429(bt.budget, clock_now(), up_forward_retry_after(f),
					 (const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body),
					 cfg->list_get_rate.window_s);
	log_warn("the upstream answered 429 to a list read; list reads pause for %d s", secs);
	/* A batch already waiting for a list slot would now wait out the
	 * slot and the pause while its requests sit until their deadline;
	 * one holding a slot and waiting for a token would be sent during
	 * the pause. Either goes to single reads now, as a batch formed
	 * during the pause does. */
	if (bt.bw || bt.tw) {
		budget_wait_cancel(bt.bw);
		up_token_wait_cancel(bt.tw);
		bt.bw = NULL;
		bt.tw = NULL;
		if (bt.have_slot)
			budget_release(bt.budget, clock_now());
		bt.have_slot = false;
		up_listread_fail_pending("list reads are paused after an upstream 429");
	}
}

static void up_listread_done(void *arg, struct fwd *f)
{
	struct batch_run *run = arg;
	double now = clock_now();
	CURLcode rc = up_forward_result(f);
	long status = rc == CURLE_OK ? up_forward_status(f) : 0;
	struct fg_config *cfg = conf_current();
	budget_used(bt.budget, now);
	stats_upstream((int)status, up_forward_ms(f) / 1000.0);
	json_t *idx = NULL;
	if (status == 200) {
		struct evbuffer *body = up_forward_body(f);
		json_t *j = json_loadb((const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body), 0, NULL);
		idx = up_listread_index(j);
		json_decref(j);
	}
	if (status == 401)
		up_token_reject(run->token_gen);
	if (status == 429)
		up_listread_pause(f, cfg);
	if (!idx || !cfg) {
		char why[96];
		if (rc != CURLE_OK)
			snprintf(why, sizeof why, "%s", up_forward_error_text(rc));
		else
			snprintf(why, sizeof why, "upstream status %ld%s", status, status == 200 ? ", not a list" : "");
		stats_inc(STAT_list_failed);
		up_listread_fail_set(&run->items, why);
	} else {
		for (size_t i = 0; i < run->items.n; i++) {
			json_t *v = json_object_get(idx, run->items.v[i].vin);
			if (v)
				up_listread_deliver(&run->items.v[i], v, cfg, now);
			else
				up_listread_give_up(&run->items.v[i], false, now);
		}
	}
	json_decref(idx);
	conf_unref(cfg);
	up_forward_free(f);
	up_listread_run_free(run);
}

/* ---- dispatch (main thread) ------------------------------------------------- */

static void up_listread_dispatch(void);

static void up_listread_send(struct fg_secret *tok, uint64_t gen)
{
	struct batch_run *run = calloc(1, sizeof *run);
	struct fg_config *cfg = conf_current();
	pthread_mutex_lock(&bt.mu);
	if (run)   /* whoever hung up since the dispatch gets no place in the read */
		up_listpending_prune(&bt.pending, NULL, up_listread_idle, NULL);
	size_t n = run ? up_listpending_take(&bt.pending, (size_t)atomic_load(&bt.max), &run->items) : 0;
	bool more = bt.pending.n > 0;
	bt.armed = more;
	pthread_mutex_unlock(&bt.mu);
	if (!n || !cfg) {
		budget_release(bt.budget, clock_now());
		if (run)
			up_listread_fail_set(&run->items, "out of memory");
		free(run);
		conf_unref(cfg);
		return;
	}
	char **vins = malloc(n * sizeof *vins);
	char *q = NULL;
	for (size_t i = 0; vins && i < n; i++)
		vins[i] = run->items.v[i].vin;
	q = vins ? up_listread_filter_query(vins, n) : NULL;
	free(vins);
	if (q && asprintf(&run->url, "%s/v1/fleets/vehicles?%s", cfg->base_url, q) < 0)
		run->url = NULL;
	free(q);
	char rid[32];
	snprintf(rid, sizeof rid, "list-read-%llu", ++bt.seq);
	struct fwd_params p = {
		.method = "GET", .url = run->url, .request_id = rid, .bearer = conf_secret_data(tok), .cfg = cfg,
	};
	run->token_gen = gen;
	run->f = run->url ? up_forward_start(bt.up, &p, up_listread_done, run) : NULL;
	conf_unref(cfg);
	if (!run->f) {
		budget_release(bt.budget, clock_now());
		stats_inc(STAT_list_failed);
		up_listread_fail_set(&run->items, "the list read could not be started");
		free(run->url);
		free(run);
	} else {
		stats_inc(STAT_list_reads);
		stats_add(STAT_list_vins, n);
		log_debug("list read %s: %zu VINs", rid, n);
		run->next = bt.runs;
		if (bt.runs)
			bt.runs->prev = run;
		bt.runs = run;
	}
	if (more)
		event_active(bt.window_ev, EV_TIMEOUT, 0);   /* the rest: the next list slot */
}

static void up_listread_slot_ready(void *arg)
{
	(void)arg;
	bt.bw = NULL;
	bt.have_slot = true;
	up_listread_dispatch();
}

static void up_listread_token_ready(void *arg)
{
	(void)arg;
	bt.tw = NULL;
	up_listread_dispatch();
}

/* A list slot, then a token, then the read of what is pending. */
static void up_listread_dispatch(void)
{
	if (bt.bw || bt.tw)
		return;   /* already waiting for one */
	double now = clock_now(), ra = 0;
	/* VINs nobody waits for any more never take a list slot. */
	pthread_mutex_lock(&bt.mu);
	up_listpending_prune(&bt.pending, NULL, up_listread_idle, NULL);
	bool none = bt.pending.n == 0;
	if (none)
		bt.armed = false;   /* the next VIN arms the window again */
	pthread_mutex_unlock(&bt.mu);
	if (none) {
		if (bt.have_slot)
			budget_release(bt.budget, now);
		bt.have_slot = false;
		return;
	}
	if (!bt.have_slot) {
		enum budget_result res = budget_acquire(bt.budget, "list", now, bt.base, up_listread_slot_ready, NULL,
							&bt.bw, &ra);
		if (res == BUDGET_QUEUED)
			return;
		bt.bw = NULL;
		if (res != BUDGET_GRANTED) {
			up_listread_fail_pending("list reads are paused after an upstream 429");
			return;
		}
		bt.have_slot = true;
	}
	struct fg_secret tok = { 0 };
	uint64_t gen = 0;
	struct token_waiter *tw = NULL;
	if (!up_token_acquire(&tok, &gen, bt.base, up_listread_token_ready, NULL, &tw)) {
		bt.tw = tw;
		if (tw)
			return;
		bt.have_slot = false;
		budget_release(bt.budget, now);
		up_listread_fail_pending("no upstream token");
		return;
	}
	bt.have_slot = false;
	up_listread_send(&tok, gen);
	conf_secret_wipe(&tok);
}

static void up_listread_window_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	up_listread_dispatch();
}

/* Entries due for a refresh become flights of the next list read, each
 * only while it is still the life that was read (a store since then, an
 * eviction or an invalidation drops it) and nobody else reads the key. */
static void up_listread_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	double now = clock_now();
	struct batch_due d;
	pthread_mutex_lock(&bt.mu);
	while (up_listread_sched_pop(&bt.sched, now + 0.001, &d)) {
		struct cache_flight *f = cache_refresh_open(cache_shared(), d.vin, d.stored_at, now);
		int rc = f ? up_listpending_add(&bt.pending, NULL, d.vin, f, true) : LISTPENDING_OK;
		if (rc != LISTPENDING_OK) {   /* beyond the refreshes' share: the entry expires as usual */
			if (rc == LISTPENDING_FULL)
				stats_inc(STAT_list_shed);
			cache_flight_done(cache_shared(), f, NULL, NULL);
		}
	}
	bt.refresh_at = up_listread_sched_next(&bt.sched);
	if (bt.refresh_at) {
		struct timeval tv = clock_timeval(bt.refresh_at > now ? bt.refresh_at - now : 0);
		evtimer_add(bt.refresh_ev, &tv);
	}
	up_listread_arm_locked(atomic_load(&bt.window_ms) / 1000.0);
	pthread_mutex_unlock(&bt.mu);
}

/* ---- life cycle --------------------------------------------------------------- */

int up_listread_start(struct event_base *base, const struct fg_config *c)
{
	bt.base = base;
	bt.budget = budget_new();
	bt.up = up_multi_new(base, 4);
	bt.window_ev = evtimer_new(base, up_listread_window_cb, NULL);
	bt.refresh_ev = evtimer_new(base, up_listread_refresh_cb, NULL);
	if (!bt.budget || !bt.up || !bt.window_ev || !bt.refresh_ev) {
		up_listread_stop();
		return -1;
	}
	up_listread_settings(c);
	bt.running = true;
	return 0;
}

void up_listread_config_changed(const struct fg_config *c)
{
	if (bt.budget)
		up_listread_settings(c);
}

void up_listread_stop(void)
{
	bt.running = false;
	if (bt.bw)
		budget_wait_cancel(bt.bw);
	if (bt.tw)
		up_token_wait_cancel(bt.tw);
	bt.bw = NULL;
	bt.tw = NULL;
	while (bt.runs) {
		up_forward_cancel(bt.runs->f);
		for (size_t i = 0; i < bt.runs->items.n; i++)
			cache_flight_done(cache_shared(), bt.runs->items.v[i].f, NULL, NULL);
		up_listread_run_free(bt.runs);
	}
	pthread_mutex_lock(&bt.mu);
	struct batch_set all;
	up_listpending_take_all(&bt.pending, &all);
	for (size_t i = 0; i < all.n; i++)
		cache_flight_done(cache_shared(), all.v[i].f, NULL, NULL);
	up_listpending_set_free(&all);
	up_listpending_free(&bt.pending);
	up_listread_sched_free(&bt.sched);
	bt.armed = false;
	bt.refresh_at = 0;
	pthread_mutex_unlock(&bt.mu);
	if (bt.window_ev)
		event_free(bt.window_ev);
	if (bt.refresh_ev)
		event_free(bt.refresh_ev);
	bt.window_ev = bt.refresh_ev = NULL;
	up_multi_free(bt.up);
	bt.up = NULL;
	budget_free(bt.budget);
	bt.budget = NULL;
	bt.have_slot = false;
}

/* ---- admin surface ------------------------------------------------------------- */

void up_listread_stats_json(json_t *root)
{
	struct budget_stats s;
	json_t *o = json_object_get(root, "list_reads"), *budget = json_object_get(root, "budget");
	if (!bt.budget || !o || !budget)
		return;
	json_incref(o);
	json_object_del(root, "list_reads");
	json_object_set_new(budget, "list", o);
	budget_get_stats(bt.budget, clock_now(), &s);
	budget_window_json(o, &s);
	pthread_mutex_lock(&bt.mu);
	json_object_set_new(o, "pending", json_integer((json_int_t)bt.pending.n));
	json_object_set_new(o, "pending_share", json_integer((json_int_t)bt.pending.share));
	json_object_set_new(o, "refresh_scheduled", json_integer((json_int_t)bt.sched.n));
	pthread_mutex_unlock(&bt.mu);
}

void up_listread_metrics(struct evbuffer *b)
{
	struct budget_stats s;
	if (!bt.budget)
		return;
	budget_get_stats(bt.budget, clock_now(), &s);
	metric_gauge(b, "list_budget_in_window", "List reads sent (or reserved) in the current window", s.in_window);
	metric_gauge(b, "list_budget_paused_seconds", "Seconds left of a pause of list reads after an upstream 429",
		     s.paused_for_s);
	pthread_mutex_lock(&bt.mu);
	size_t pending = bt.pending.n;
	pthread_mutex_unlock(&bt.mu);
	metric_gauge(b, "list_reads_pending", "VINs waiting for the next list read", (double)pending);
}
