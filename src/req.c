/* req.c: the driver of a tenant request's steps (docs/overview.md, "A
 * request's life"): the one driver (req_run), the one place the step
 * changes (req_set_step, with the step names for logs), the one pair that
 * starts and ends a wait and its deadline timer (req_wait / req_unwait),
 * the one place a failure may turn into a stale answer (req_fail,
 * stale-if-error), and the one exit (req_reply): it sends the one reply,
 * writes the access (and audit) log line, counts it and frees the request.
 *
 * The steps themselves are req_steps.c's (the table, the front half, the
 * cache, budget and token steps) and req_upstream.c's (the exchange and
 * its answer); this file knows them only through the table a request
 * carries (r->steps), so the steps call down into it and never the other
 * way.
 *
 * Never: block, or reply other than through req_reply(). */
#include "req.h"
#include "budget.h"
#include "clock.h"
#include "log.h"
#include "req_cache.h"
#include "req_log.h"
#include "stats.h"
#include "up_token.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

static atomic_long in_flight;
/* A request lives and dies on its worker's thread, so each thread keeps
 * its own list of them (to find the one whose client hung up). */
static _Thread_local struct req *req_list;

long req_in_flight(void) { return atomic_load(&in_flight); }

/* R is new on this thread: counted in flight and findable by its
 * connection until req_free. */
void req_begin(struct req *r)
{
	atomic_fetch_add(&in_flight, 1);
	r->next = req_list;
	if (r->next)
		r->next->prev = r;
	req_list = r;
}

void req_set_step(struct req *r, enum req_step s)
{
	if (s != r->step)
		log_debug("request %s: %s -> %s", r->rid, r->steps[r->step].name, r->steps[s].name);
	r->step = s;
}

/* The one driver: runs the steps from S until one waits or replies (the
 * last step always replies). A wake-up calls it at the step that waited. */
void req_run(struct req *r, enum req_step s)
{
	req_set_step(r, s);
	while (r->steps[r->step].run(r) == REQ_GO)
		req_set_step(r, r->step + 1);
}

/* ---- waits ---------------------------------------------------------------- */

static void req_wait_expired(evutil_socket_t fd, short what, void *arg);

/* Leaves one wait (HANDLE) until DEADLINE (monotonic; 0: none). */
enum req_go req_wait(struct req *r, enum req_wait_kind kind, void *handle, double deadline)
{
	r->wait = kind;
	r->waiter = handle;
	if (deadline > 0) {
		double secs = deadline - clock_now();
		struct timeval tv = clock_timeval(secs < 0.05 ? 0.05 : secs);
		if (!r->timer)
			r->timer = evtimer_new(http_worker_base(r->w), req_wait_expired, r);
		if (r->timer)
			evtimer_add(r->timer, &tv);
	}
	return REQ_WAIT;
}

/* Ends the wait: withdraws its handle (unless the wake-up consumed it)
 * and its deadline. */
static void req_unwait(struct req *r)
{
	switch (r->wait) {
	case REQ_WAIT_NONE: break;
	case REQ_WAIT_CACHE: cache_wait_cancel(r->waiter); break;
	case REQ_WAIT_L2: req_cache_l2_cancel(&r->cache); break;
	case REQ_WAIT_BUDGET: budget_wait_cancel(r->waiter); break;
	case REQ_WAIT_TOKEN: up_token_wait_cancel(r->waiter); break;
	case REQ_WAIT_UPSTREAM: up_forward_cancel(r->waiter); break;
	case REQ_WAIT_AUDIT: log_audit_wait_cancel(r->waiter); break;
	}
	r->wait = REQ_WAIT_NONE;
	r->waiter = NULL;
	if (r->timer)
		evtimer_del(r->timer);
}

/* A wake-up: the waiter has run, its handle is its owner's to free. */
void req_woken(struct req *r)
{
	r->waiter = NULL;
	req_unwait(r);
}

/* ---- the one exit ---------------------------------------------------------- */

/* X-Cache as the latency histograms of /stats group it. */
static const enum stats_cache req_stats_cache[] = {
	[REQCACHE_BYPASS] = STATS_CACHE_BYPASS, [REQCACHE_HIT] = STATS_CACHE_HIT, [REQCACHE_MISS] = STATS_CACHE_MISS,
	[REQCACHE_STALE] = STATS_CACHE_STALE, [REQCACHE_LIST] = STATS_CACHE_NONE,
};

/* What the access and audit lines say of R. */
void req_reqlog(struct req *r, struct reqlog *l)
{
	*l = (struct reqlog){
		.rid = r->rid, .tenant = r->tenant ? r->tenant->name : NULL, .method = r->method,
		.route = r->rm.route, .uri = r->uri, .path_vin = r->rm.vin, .vins = r->vins, .nvins = r->nvins,
		.upstream_status = r->upstream_status, .duration_s = clock_now() - r->t0,
		.upstream_ms = r->upstream_ms, .cache = req_cache_xcache_name(r->cache.xcache),
		.er = r->er,
		.by = r->tenant ? req_attr_name(r->by.by) : NULL,
	};
}

/* Logged and counted once, with the status the client got (499: it hung
 * up). Returns the audit line's number (0: none). */
uint64_t req_log_end(struct req *r, int status, size_t bytes)
{
	req_set_step(r, REQ_STEP_done);
	struct reqlog l;
	req_reqlog(r, &l);
	uint64_t seq = req_log_write(&l, status, bytes);
	stats_request(r->tenant_slot, r->rm.route, status, l.duration_s);
	stats_request_cache(req_stats_cache[r->cache.xcache], l.duration_s);
	return seq;
}

static void req_free(struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (req_list == r)
		req_list = r->next;
	if (r->next)
		r->next->prev = r->prev;
	req_unwait(r);
	if (r->timer)
		event_free(r->timer);
	if (r->slot == REQ_SLOT_RESERVED)
		budget_release(budget_shared(), clock_now());   /* reserved, never sent */
	else if (r->slot == REQ_SLOT_SENT)
		budget_used(budget_shared(), clock_now());      /* abandoned mid-exchange */
	req_cache_free(&r->cache);
	up_forward_free(r->answer);
	if (r->held)
		evbuffer_free(r->held);
	json_decref(r->json);
	req_localtoken_parse_free(&r->lt);
	conf_secret_wipe(&r->token);
	req_policy_vins_free(r->vins, r->nvins);
	free(r->uri);
	free(r->filter);
	free(r->url);
	http_config_release(r->cfgref);
	http_bind_release(r->b);
	atomic_fetch_sub(&in_flight, 1);
	free(r);
}

/* The one exit of every answered request: reply, log, count, free. BODY
 * may be NULL. A read this request leads hands what it sends to its
 * waiters first. */
enum req_go req_reply(struct req *r, int status, struct evbuffer *body, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->er);
	if (r->cache.flight)   /* only a leader has waiters to hand its answer to */
		req_cache_publish(&r->cache, status, body, ctype, evhttp_find_header(h, "Retry-After"), clock_now());
	size_t bytes = body ? evbuffer_get_length(body) : 0;
	if (ctype && *ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->rid);
	req_cache_headers(&r->cache, h);
	uint64_t seq = req_log_end(r, status, bytes);
	stats_add(STAT_bytes_out, bytes);
	/* audit_sync: the answer waits until its audit line is on disk. */
	struct audit_waiter *aw = log_audit_wait(seq, http_worker_base(r->w), req_audit_synced, r);
	if (aw && (r->held = evbuffer_new())) {
		if (body)
			evbuffer_add_buffer(r->held, body);
		r->held_status = status;
		req_wait(r, REQ_WAIT_AUDIT, aw, 0);
		return REQ_DONE;
	}
	log_audit_wait_cancel(aw);
	http_reply(r->er, status, body);
	req_free(r);
	return REQ_DONE;
}

void req_audit_synced(void *arg)
{
	struct req *r = arg;
	req_woken(r);
	if (r->step != REQ_STEP_done) {   /* the intent line: now forward */
		req_run(r, r->step);
		return;
	}
	http_reply(r->er, r->held_status, r->held);
	req_free(r);
}

/* An error in the shape of docs/http.md, with Retry-After when RETRY_AFTER
 * >= 0. Every 429 fleetgate sends itself is counted as rate limited. */
enum req_go req_reply_error(struct req *r, int status, int retry_after, const char *detail)
{
	if (retry_after >= 0) {
		char v[16];
		snprintf(v, sizeof v, "%d", retry_after < 1 ? 1 : retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Retry-After", v);
	}
	if (status == 429)
		stats_inc(STAT_rate_limited);
	struct evbuffer *b = http_error_body(status, detail);
	req_reply(r, status, b, "application/json");
	if (b)
		evbuffer_free(b);
	return REQ_DONE;
}

/* Replies with A (the caller's reference, consumed). */
enum req_go req_reply_answer(struct req *r, struct cache_answer *a)
{
	struct evbuffer *out = req_cache_render(&r->cache, a, r->tenant, r->cfg->generation,
					       evhttp_request_get_output_headers(r->er), clock_now());
	if (!out)
		req_reply_error(r, 500, -1, "out of memory");
	else
		req_reply(r, a->status, out, a->ctype);
	if (out)
		evbuffer_free(out);
	cache_answer_unref(a);
	return REQ_DONE;
}

/* The one failure path of a request that may be answered from the cache:
 * an entry within stale-if-error answers instead (WHY goes into
 * Cache-Status; the upstream was asked when the exchange just ended).
 * Otherwise STATUS is sent, or with STATUS 0 nothing, and the caller
 * goes on with something better than an error (the upstream's own
 * answer, a place in the budget queue). */
enum req_go req_fail(struct req *r, const char *why, int status, int retry_after, const char *detail)
{
	struct cache_answer *a = req_cache_stale(&r->cache, clock_now(), r->answer != NULL, why);
	if (a)
		return req_reply_answer(r, a);
	return status ? req_reply_error(r, status, retry_after, detail) : REQ_GO;
}

/* A wait's deadline passed. */
static void req_wait_expired(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	enum req_wait_kind kind = r->wait;
	char reason[256];
	(void)fd;
	(void)what;
	req_unwait(r);
	switch (kind) {
	case REQ_WAIT_CACHE:
		req_fail(r, "collapsed-timeout", 504, -1,
			 "the upstream answer this request was waiting for did not arrive in time");
		return;
	case REQ_WAIT_BUDGET:
		req_fail(r, "budget-exhausted", 429, (int)ceil(budget_estimate(budget_shared(), clock_now())),
			 "the upstream read budget (vin_get_rate) has no room; retry later");
		return;
	case REQ_WAIT_TOKEN:
		up_token_ready(reason, sizeof reason);
		stats_inc(STAT_token_timeouts);
		log_warn("request %s: %s", r->rid, reason);
		req_reply_error(r, 503, 5, "no valid upstream access token is available yet; retry shortly");
		return;
	case REQ_WAIT_NONE:
	case REQ_WAIT_L2:         /* redis.c's own time-out answers it */
	case REQ_WAIT_UPSTREAM:
	case REQ_WAIT_AUDIT:      /* no deadline: the disk's */
		return;
	}
}

/* The client on EVCON hung up (http.c's keeper saw the close) while its
 * request waits: for upstream budget, a token or another request's read.
 * Nobody will read the answer, so the wait ends now and spends no upstream
 * read; the request is logged and counted with nginx's 499 and the
 * connection freed. A request whose upstream exchange is running goes on:
 * its answer may fill the cache for others. */
bool req_client_gone(struct evhttp_connection *evcon)
{
	struct req *r = req_list;
	while (r && evhttp_request_get_connection(r->er) != evcon)
		r = r->next;
	if (!r || r->wait == REQ_WAIT_UPSTREAM || r->step == REQ_STEP_done)   /* done: an answer held for */
		return false;                                                    /* its audit line */
	log_debug("request %s: the client hung up while it waited", r->rid);
	req_log_end(r, 499, 0);
	req_free(r);              /* ends every wait; a led read passes on */
	evhttp_connection_free(evcon);
	return true;
}

/* Shutdown reached shutdown_timeout with requests of this worker still in
 * flight: no answer will be sent, but each is logged (status 503, as nginx
 * logs what it cuts) and counted, and its waits and transfers end. */
void req_cut_all(void)
{
	while (req_list) {
		struct req *r = req_list;
		log_warn("request %s: cut at shutdown_timeout at step %s", r->rid, r->steps[r->step].name);
		if (r->step != REQ_STEP_done)   /* a held answer is logged already */
			req_log_end(r, 503, 0);
		req_free(r);
	}
}

