/* req.c: the life of one tenant request, as a table of steps.
 *
 * A request moves through the steps of REQ_STEPS below, in order. Each
 * step returns GO (on to the next), WAIT (it left one wait; the wake-up
 * calls the driver again at the same step, which finds what it waited
 * for) or DONE (it replied; the request is gone). req_run() is the one
 * driver, req_set_step() the one place the step changes (with a name
 * table for logs), req_wait()/req_unwait() the one pair that starts and
 * ends a wait and its deadline timer, req_fail() the one place a failure
 * may turn into a stale answer (stale-if-error), and req_reply() the one
 * exit: it sends the one reply, writes the access (and audit) log line,
 * counts it and frees the request. An upstream 401 sends the request back
 * to the budget step for one retry; a read whose leader left no answer
 * goes back to the cache step. Adding a stage is a row and a function.
 *
 * A request holds its worker's view of the configuration it started with,
 * so a reload never changes the rules under it. It runs entirely on its
 * worker's thread; shared state (token, cache, budget, tenant rates) is
 * reached through their APIs, whose locks are inside. The cache side of
 * the request (key, lookup, store, hand-over, X-Cache) is req_cache.c's.
 *
 * Never: block, or reply other than through req_reply(). */
#include "req.h"
#include "budget.h"
#include "clock.h"
#include "up_forward.h"
#include "http.h"
#include "req_localtoken.h"
#include "log.h"
#include "req_tenantrate.h"
#include "req_cache.h"
#include "req_headcheck.h"
#include "req_log.h"
#include "req_route.h"
#include "stats.h"
#include "req_policy.h"
#include "req_query.h"
#include "tenant.h"
#include "up_token.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

/* ---- the steps ------------------------------------------------------------
 *
 *      step        what it does (its refusals)                 may wait for
 */
#define REQ_STEPS(X) \
	X(route,       /* path, query, method -> a route (404, 405, 400) -          */) \
	X(attribute,   /* listener -> API key -> source: a tenant (401)  -          */) \
	X(local_token, /* POST /v1/access_tokens answered here (401)     -          */) \
	X(body,        /* size (413), JSON of POST routes (415, 400)     -          */) \
	X(policy,      /* tenant methods and VINs (403, 400)             -          */) \
	X(tenant_rate, /* the tenant's own token bucket (429)            -          */) \
	X(cache,       /* fresh entry (here, then Redis); lead or join   the leader, Redis */) \
	X(budget,      /* a budget slot, or a list read (vin_reads; 429)  a slot     */) \
	X(token,       /* the current access token (503)                 a token    */) \
	X(forward,     /* start the upstream exchange                    the answer */) \
	X(answer,      /* 429 pause, stale-if-error, store, reply (502)  -          */)
/* Jumps back: an upstream 401 on the first attempt -> budget (one retry
 * with a fresh token); a leader that left no answer -> cache. */

enum req_step {
#define X(name, doc) REQ_STEP_##name,
	REQ_STEPS(X)
#undef X
	REQ_STEP_done
};

enum req_go { REQ_GO, REQ_WAIT, REQ_DONE };

struct req;
#define X(name, doc) static enum req_go req_##name(struct req *r);
REQ_STEPS(X)
#undef X

static const struct {
	const char *name;
	enum req_go (*run)(struct req *r);
} req_steps[] = {
#define X(name, doc) [REQ_STEP_##name] = { #name, req_##name },
	REQ_STEPS(X)
#undef X
	[REQ_STEP_done] = { "done", NULL },
};

/* What a request waits for: at most one thing at a time, with one
 * deadline timer (none for the upstream: curl has its own time-out). */
enum req_wait_kind { REQ_WAIT_NONE, REQ_WAIT_CACHE, REQ_WAIT_L2, REQ_WAIT_BUDGET, REQ_WAIT_TOKEN, REQ_WAIT_UPSTREAM };

/* The single-VIN read's slot of the upstream budget. */
enum req_slot {
	REQ_SLOT_NONE,
	REQ_SLOT_RESERVED,   /* granted, not sent: released when the request ends */
	REQ_SLOT_SENT,       /* in the exchange: logged when it is over */
	REQ_SLOT_LOGGED,     /* logged */
};

struct req {
	enum req_step step;
	enum req_wait_kind wait;
	void *waiter;               /* the wait's handle: token/cache/budget waiter, or fwd */
	struct event *timer;        /* the wait's deadline */
	struct req *prev, *next;    /* this thread's requests in flight */
	struct http_worker *w;
	struct http_bind *b;        /* the listener it came in on */
	enum fg_attr_by by;         /* how its tenant was attributed (access and audit lines) */
	struct evhttp_request *er;
	struct fg_config *cfg;
	struct http_cfgref *cfgref;
	const struct fg_tenant *tenant;
	int tenant_slot;
	enum fg_method method;
	struct fg_route_match rm;
	char rid[REQLOG_ID_LEN + 1];
	char *uri;                  /* as received, for the log */
	char *filter;               /* the list's filter as parsed (req_query.c) */
	char *url;                  /* upstream URL */
	const unsigned char *body;  /* in the evhttp input buffer */
	size_t body_len;
	json_t *json;               /* a POST route's body, from body to policy */
	char **vins;
	size_t nvins;
	double t0;
	double upstream_ms;
	int upstream_status;        /* last upstream answer: -1 none, 0 no answer */
	int attempts;
	struct fg_secret token;
	uint64_t token_gen;
	double token_deadline;      /* this attempt's token wait ends; 0: none yet */
	struct fwd *answer;         /* the upstream's, for the answer step */
	enum req_slot slot;
	struct reqcache cache;
};

static atomic_long in_flight;
/* A request lives and dies on its worker's thread, so each thread keeps
 * its own list of them (to find the one whose client hung up). */
static _Thread_local struct req *req_list;

static long request_in_flight(void) { return atomic_load(&in_flight); }

static void req_set_step(struct req *r, enum req_step s)
{
	if (s != r->step)
		log_debug("request %s: %s -> %s", r->rid, req_steps[r->step].name, req_steps[s].name);
	r->step = s;
}

/* The one driver: runs the steps from S until one waits or replies (the
 * last step always replies). A wake-up calls it at the step that waited. */
static void req_run(struct req *r, enum req_step s)
{
	req_set_step(r, s);
	while (req_steps[r->step].run(r) == REQ_GO)
		req_set_step(r, r->step + 1);
}

/* ---- waits ---------------------------------------------------------------- */

static void req_wait_expired(evutil_socket_t fd, short what, void *arg);

/* Leaves one wait (HANDLE) until DEADLINE (monotonic; 0: none). */
static enum req_go req_wait(struct req *r, enum req_wait_kind kind, void *handle, double deadline)
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
	}
	r->wait = REQ_WAIT_NONE;
	r->waiter = NULL;
	if (r->timer)
		evtimer_del(r->timer);
}

/* A wake-up: the waiter has run, its handle is its owner's to free. */
static void req_woken(struct req *r)
{
	r->waiter = NULL;
	req_unwait(r);
}

/* ---- the one exit ---------------------------------------------------------- */

/* Logged and counted once, with the status the client got (499: it hung up). */
static void req_log_end(struct req *r, int status, size_t bytes)
{
	req_set_step(r, REQ_STEP_done);
	json_t *client = log_client(r->er);
	struct reqlog l = {
		.rid = r->rid, .tenant = r->tenant ? r->tenant->name : NULL, .method = r->method,
		.route = r->rm.route, .uri = r->uri, .path_vin = r->rm.vin, .vins = r->vins, .nvins = r->nvins,
		.upstream_status = r->upstream_status, .duration_s = clock_now() - r->t0,
		.upstream_ms = r->upstream_ms, .cache = req_cache_xcache_name(r->cache.xcache),
		.client = json_string_value(client), .by = req_policy_by_name(r->by),
	};
	req_log_write(&l, status, bytes);
	json_decref(client);
	stats_request(r->tenant_slot, r->rm.route, status, l.duration_s);
	stats_request_cache(l.cache, l.duration_s);
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
	json_decref(r->json);
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
static enum req_go req_reply(struct req *r, int status, struct evbuffer *body, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->er);
	req_cache_publish(&r->cache, status, body, ctype, evhttp_find_header(h, "Retry-After"), clock_now());
	size_t bytes = body ? evbuffer_get_length(body) : 0;
	if (ctype && *ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->rid);
	req_cache_headers(&r->cache, h);
	req_log_end(r, status, bytes);
	stats_add(STAT_bytes_out, bytes);
	http_reply(r->er, status, body);
	req_free(r);
	return REQ_DONE;
}

/* An error in the shape of docs/http.md, with Retry-After when RETRY_AFTER
 * >= 0. Every 429 fleetgate sends itself is counted as rate limited. */
static enum req_go req_reply_error(struct req *r, int status, int retry_after, const char *detail)
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
static enum req_go req_reply_answer(struct req *r, struct cache_answer *a)
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
static enum req_go req_fail(struct req *r, const char *why, int status, int retry_after, const char *detail)
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
		return;
	}
}

/* The client on EVCON hung up (http.c's keeper saw the close) while its
 * request waits: for upstream budget, a token or another request's read.
 * Nobody will read the answer, so the wait ends now and spends no upstream
 * read; the request is logged and counted with nginx's 499 and the
 * connection freed. A request whose upstream exchange is running goes on:
 * its answer may fill the cache for others. */
static bool request_client_gone(struct evhttp_connection *evcon)
{
	struct req *r = req_list;
	while (r && evhttp_request_get_connection(r->er) != evcon)
		r = r->next;
	if (!r || r->wait == REQ_WAIT_UPSTREAM)
		return false;
	log_debug("request %s: the client hung up while it waited", r->rid);
	req_log_end(r, 499, 0);
	req_free(r);              /* ends every wait; a led read passes on */
	evhttp_connection_free(evcon);
	return true;
}

/* Shutdown reached shutdown_timeout with requests of this worker still in
 * flight: no answer will be sent, but each is logged (status 503, as nginx
 * logs what it cuts) and counted, and its waits and transfers end. */
static void request_cut_all(void)
{
	while (req_list) {
		struct req *r = req_list;
		log_warn("request %s: cut at shutdown_timeout at step %s", r->rid, req_steps[r->step].name);
		req_log_end(r, 503, 0);
		req_free(r);
	}
}

/* ---- the front half ------------------------------------------------------ */

/* The path is matched as decoded by req_route.c and the query read by
 * req_query.c, both before anything else: neither may reach the upstream in a
 * form other than the one checked. */
static enum req_go req_route(struct req *r)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->er);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char d[256];
	req_route_match_raw(r->method, path ? path : "", &r->rm);
	if (r->uri && path && strncmp(path, "/v1/access_tokens", 17) == 0)   /* a query there may hold a secret */
		r->uri[strcspn(r->uri, "?")] = '\0';
	int st = r->rm.status ? r->rm.status : req_query_parse(r->rm.route, u ? evhttp_uri_get_query(u) : NULL,
							     &r->filter, d, sizeof d);
	if (!st)
		return REQ_GO;
	stats_inc(STAT_bad_requests);
	if (st == 405) {
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Allow", r->rm.allow);
		return req_reply_error(r, 405, -1, "this method is not allowed on this path");
	}
	if (st == 404)
		return req_reply_error(r, 404, -1, "no such route");
	return req_reply_error(r, st, -1, r->rm.status ? r->rm.detail : d);
}

static enum req_go req_attribute(struct req *r)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->er);
	bool local = req_route_is_local(r->rm.route);   /* the token route reads its own credentials */
	enum fg_attr_result res = FG_ATTR_NONE;
	r->tenant = req_policy_attribute_request(r->cfg, http_bind_tenant_listener(r->b),
					     http_bind_cert(r->b, evhttp_request_get_connection(r->er)), local ? NULL : h,
					     http_request_peer(r->er), &res, &r->by);
	if (res != FG_ATTR_LISTENER_GONE && (r->tenant || local)) {   /* the token route decides for itself */
		r->tenant_slot = r->tenant ? r->tenant->stats_slot : -1;
		return REQ_GO;
	}
	const char *detail;
	int st = req_policy_attr_refusal(res, &detail);
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->er);
	if (st == 503)   /* a listener a reload removed: see req_policy_attr_refusal */
		evhttp_add_header(out, "Connection", "close");
	req_headcheck_count(st);
	if (res == FG_ATTR_BAD_KEY)   /* RFC 6750: so clients that refresh on 401 do */
		evhttp_add_header(out, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	return req_reply_error(r, st, st == 503 ? 1 : -1, detail);
}

/* POST /v1/access_tokens: answered here, never forwarded; req_localtoken.c
 * decides, told whom the listener or source address attributed. */
static enum req_go req_local_token(struct req *r)
{
	if (!req_route_is_local(r->rm.route))
		return REQ_GO;
	struct evbuffer *out = evbuffer_new();
	int st = req_localtoken_answer(r->er, r->cfg, r->tenant, http_bind_tenant_listener(r->b) != NULL, clock_now(),
				   r->uri, &r->tenant, out);
	r->tenant_slot = r->tenant ? r->tenant->stats_slot : -1;
	if (r->tenant && r->by == FG_BY_NONE)
		r->by = FG_BY_KEY;   /* its client_secret is one of the tenant's keys */
	req_reply(r, st, out, "application/json");
	if (out)
		evbuffer_free(out);
	return REQ_DONE;
}

/* Only the routes that take a body send one upstream, and only as the
 * JSON req_policy.c parsed (any other body is not forwarded). */
static enum req_go req_body(struct req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->er);
	size_t len = evbuffer_get_length(in);
	char d[256];
	int st = 413;
	if (len > r->cfg->max_body_bytes)
		snprintf(d, sizeof d, "the request body is larger than %zu bytes", r->cfg->max_body_bytes);
	else if (!(st = req_policy_parse_body(r->rm.route,
					  evhttp_find_header(evhttp_request_get_input_headers(r->er), "Content-Type"),
					  len ? evbuffer_pullup(in, -1) : NULL, len, &r->json, d, sizeof d))) {
		r->body = r->json ? evbuffer_pullup(in, -1) : NULL;
		r->body_len = r->json ? len : 0;
		return REQ_GO;
	}
	stats_inc(STAT_bad_requests);
	return req_reply_error(r, st, -1, d);
}

static enum req_go req_policy(struct req *r)
{
	char detail[8192];   /* names every denied VIN */
	enum fg_route rt = r->rm.route;
	int st = req_policy_check(r->tenant, rt, rt == FG_R_GET || rt == FG_R_DELETE || rt == FG_R_CANCEL ? r->rm.vin : NULL,
			      r->json, &r->vins, &r->nvins, detail, sizeof detail);
	json_decref(r->json);
	r->json = NULL;
	if (st == 0)
		return REQ_GO;
	stats_inc(st == 403 ? STAT_denied : STAT_bad_requests);
	return req_reply_error(r, st, -1, detail);
}

/* A tenant over its own rate gets 429 at once; the bucket is the tenant's
 * alone, so nobody else slows down. */
static enum req_go req_tenant_rate(struct req *r)
{
	const struct fg_tenant *t = r->tenant;
	double ra;
	if (req_tenantrate_tenant_allows(t, clock_now(), &ra))
		return REQ_GO;
	char d[256];
	snprintf(d, sizeof d, "tenant %s is over its request rate of %u/%us", t->name, t->rate.count, t->rate.window_s);
	return req_reply_error(r, 429, (int)ceil(ra), d);
}

/* ---- cache, budget, token (docs/cache.md) ------------------------------- */

static void req_cache_woken(void *arg, struct cache_answer *a, const char *how)
{
	struct req *r = arg;
	req_woken(r);
	req_cache_handed(&r->cache, a, how);
	req_run(r, REQ_STEP_cache);   /* no answer left by the leader: ask again */
}

/* Answer from the cache when it can, otherwise lead or join the upstream
 * read of the key. */
static enum req_go req_cache(struct req *r)
{
	struct reqcache *rc = &r->cache;
	if (rc->handed) {
		struct cache_answer *a = rc->handed;
		rc->handed = NULL;
		return req_reply_answer(r, a);
	}
	if (rc->flight)
		return REQ_GO;   /* leading, and the second level had nothing */
	if (!rc->checked) {
		req_cache_invalidate(r->rm.route, r->rm.vin, r->vins, r->nvins, http_worker_base(r->w));
		struct evkeyvalq *h = evhttp_request_get_input_headers(r->er);
		if (!req_cache_key(rc, r->rm.route, r->rm.vin, r->filter,
				  evhttp_find_header(h, "Cache-Control"), evhttp_find_header(h, "Pragma"),
				  r->cfg->cache_enabled))
			return REQ_GO;
	}
	double now = clock_now();
	struct cache_answer *a = NULL;
	struct cache_waiter *w = NULL;
	switch (req_cache_lookup(rc, now, http_worker_base(r->w), req_cache_woken, r, &a, &w)) {
	case CACHE_HIT:
		return req_reply_answer(r, a);
	case CACHE_LEAD:   /* the second level (Redis) first, when there is one */
		if (req_cache_l2_lookup(rc, r->cfg, http_worker_base(r->w), req_cache_woken, r))
			return req_wait(r, REQ_WAIT_L2, rc, 0);
		return REQ_GO;
	case CACHE_WAIT:
		/* A waiter gives up no sooner than its leader could: a budget or
		 * token wait plus the exchange, twice with Redis (where it may
		 * first wait out another instance's fill lock). */
		return req_wait(r, REQ_WAIT_CACHE, w,
				now + (r->cfg->queue_timeout + r->cfg->timeout) * (redis_cache_on() ? 2 : 1));
	case CACHE_BUSY:
		break;
	}
	return req_fail(r, "too-many-waiters", 503, 1,
			"too many requests are waiting for the same upstream answer; retry shortly");
}

static void req_budget_ready(void *arg)
{
	struct req *r = arg;
	req_woken(r);
	r->slot = REQ_SLOT_RESERVED;
	req_run(r, REQ_STEP_budget);
}

/* Single-VIN reads that go upstream need a slot of the shared budget. */
static enum req_go req_budget(struct req *r)
{
	struct budget *b = budget_shared();
	if (r->rm.route != FG_R_GET || !b || r->slot == REQ_SLOT_RESERVED)
		return REQ_GO;
	double now = clock_now(), ra = 0;
	struct cache_waiter *cw = NULL;   /* vin_reads: a list read may answer instead */
	switch (req_cache_vin_read(&r->cache, r->cfg, r->tenant->name, now, http_worker_base(r->w), req_cache_woken, r, &cw)) {
	case REQCACHE_LISTED: return req_wait(r, REQ_WAIT_CACHE, cw, now + r->cfg->queue_timeout + r->cfg->timeout);
	case REQCACHE_SLOT: r->slot = REQ_SLOT_RESERVED; return REQ_GO;
	case REQCACHE_BUDGET: break;
	}
	struct budget_waiter *w = NULL;
	enum budget_result res = budget_acquire(b, r->tenant->name, now, NULL, NULL, NULL, &w, &ra);
	/* No room right now: a stale answer beats making the client wait. */
	if (res != BUDGET_GRANTED && res != BUDGET_ASK &&
	    req_fail(r, res == BUDGET_PAUSED ? "upstream-paused" : "budget-exhausted", 0, 0, NULL) == REQ_DONE)
		return REQ_DONE;
	if (res == BUDGET_FULL || res == BUDGET_ASK)   /* ASK: only Redis knows: queue */
		res = budget_acquire(b, r->tenant->name, now, http_worker_base(r->w), req_budget_ready, r, &w, &ra);
	switch (res) {
	case BUDGET_GRANTED:
		r->slot = REQ_SLOT_RESERVED;
		return REQ_GO;
	case BUDGET_QUEUED:
		return req_wait(r, REQ_WAIT_BUDGET, w, now + r->cfg->queue_timeout);
	case BUDGET_PAUSED:
		return req_reply_error(r, 429, (int)ceil(ra),
				       "the upstream asked for a pause of single-VIN reads (429); retry after it");
	case BUDGET_FULL:
	case BUDGET_ASK:
		break;
	}
	return req_reply_error(r, 429, (int)ceil(ra), "the upstream read budget (vin_get_rate) has no room; retry later");
}

static void req_token_ready(void *arg)
{
	struct req *r = arg;
	req_woken(r);
	req_run(r, REQ_STEP_token);
}

/* A wake-up that finds the token gone again waits what is left of the
 * same deadline. */
static enum req_go req_token(struct req *r)
{
	struct token_waiter *tw = NULL;
	if (up_token_acquire(&r->token, &r->token_gen, http_worker_base(r->w), req_token_ready, r, &tw)) {
		r->token_deadline = 0;
		return REQ_GO;
	}
	if (!tw)
		return req_reply_error(r, 503, 5, "no valid upstream access token is available");
	if (!r->token_deadline) {
		stats_inc(STAT_token_waits);
		r->token_deadline = clock_now() + r->cfg->queue_timeout;
	}
	return req_wait(r, REQ_WAIT_TOKEN, tw, r->token_deadline);
}

/* ---- the upstream leg ----------------------------------------------------- */

static void req_upstream_done(void *arg, struct fwd *f)
{
	struct req *r = arg;
	CURLcode rc = up_forward_result(f);
	long status = up_forward_status(f);
	req_woken(r);
	r->answer = f;
	r->upstream_ms += up_forward_ms(f);
	r->upstream_status = rc == CURLE_OK ? (int)status : 0;
	stats_upstream(rc == CURLE_OK ? (int)status : 0, up_forward_ms(f) / 1000.0);
	if (r->slot == REQ_SLOT_SENT) {
		/* The upstream counted this read by now at the latest. */
		budget_used(budget_shared(), clock_now());
		r->slot = REQ_SLOT_LOGGED;
	}
	req_cache_invalidate(r->rm.route, r->rm.vin, r->vins, r->nvins, http_worker_base(r->w));   /* whatever the answer */
	if (rc == CURLE_OK && status == 429)
		stats_inc(STAT_upstream_throttled);
	if (rc == CURLE_OK && status == 401) {
		/* The upstream did not act on a 401, so even a POST may be
		 * sent again — once, with a fresh token. */
		up_token_reject(r->token_gen);
		if (r->attempts < 2) {
			stats_inc(STAT_upstream_retries);
			up_forward_free(f);
			r->answer = NULL;
			conf_secret_wipe(&r->token);
			r->slot = REQ_SLOT_NONE;   /* a single-VIN read sends again: a slot of its own */
			req_run(r, REQ_STEP_budget);
			return;
		}
	}
	req_run(r, REQ_STEP_answer);
}

static enum req_go req_forward(struct req *r)
{
	if (!r->url) {   /* the list's filter as parsed, and no other query */
		char *q = r->filter ? req_query_upstream(r->filter) : NULL;
		if (q || !r->filter)
			r->url = req_route_upstream_url(&r->rm, r->cfg->base_url, q);
		free(q);
		if (!r->url)
			return req_reply_error(r, 500, -1, "out of memory");
	}
	r->attempts++;
	struct fwd_params p = {
		.method = method_name(r->method),
		.url = r->url,
		.client_headers = evhttp_request_get_input_headers(r->er),
		.request_id = r->rid,
		.bearer = conf_secret_data(&r->token),
		.body = r->body,
		.body_len = r->body_len,
		.content_type = r->body_len ? "application/json" : NULL,   /* never the client's label */
		.cfg = r->cfg,
	};
	if (r->slot == REQ_SLOT_RESERVED)
		r->slot = REQ_SLOT_SENT;   /* logged when the exchange is over */
	struct fwd *f = up_forward_start(http_worker_upstream(r->w), &p, req_upstream_done, r);
	/* The token is in the curl header list now; our copy can go. */
	conf_secret_wipe(&r->token);
	if (!f)
		return req_reply_error(r, 502, -1, "the upstream request could not be started");
	return req_wait(r, REQ_WAIT_UPSTREAM, f, 0);
}

/* The upstream's answer as it came (on the list route only an empty one:
 * req_answer filters the others). */
static enum req_go req_reply_upstream(struct req *r, struct fwd *f)
{
	int status = (int)up_forward_status(f);
	int ra = up_forward_retry_after(f);
	if (ra >= 0 && (status == 429 || status == 503)) {
		char v[16];
		snprintf(v, sizeof v, "%d", ra);
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Retry-After", v);
	}
	return req_reply(r, status, up_forward_body(f), up_forward_content_type(f));
}

/* The exchange is over (and not a 401 being retried). */
static enum req_go req_answer(struct req *r)
{
	struct fwd *f = r->answer;
	CURLcode rc = up_forward_result(f);
	if (rc != CURLE_OK) {
		log_warn("request %s: upstream %s (%s): %s", r->rid, up_forward_error_text(rc), up_forward_peer(f),
			 curl_easy_strerror(rc));
		return req_fail(r, "detail=upstream-failed", up_forward_error_status(rc), -1, up_forward_error_text(rc));
	}
	int status = (int)up_forward_status(f);
	up_forward_trace_headers(f, evhttp_request_get_output_headers(r->er));
	if (status == 401) {
		log_error("request %s: the upstream rejected a freshly fetched token", r->rid);
		return req_reply_error(r, 502, -1,
				       "the upstream rejected the gateway's credentials; the calling service did nothing wrong");
	}
	if (status == 429 && r->rm.route == FG_R_GET) {   /* nothing more goes there until its hint */
		struct evbuffer *body = up_forward_body(f);        /* has passed; none: a whole window */
		int secs = budget_pause_from_429(budget_shared(), clock_now(), up_forward_retry_after(f),
						 (const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body),
						 r->cfg->vin_get_rate.window_s);
		log_warn("request %s: the upstream answered 429; single-VIN reads pause for %d s", r->rid, secs);
	}
	if (status >= 500 || status == 429) {
		char why[32];
		snprintf(why, sizeof why, "fwd-status=%d", status);
		if (req_fail(r, why, 0, 0, NULL) == REQ_DONE)
			return REQ_DONE;
	}
	/* Every answer on the list route, whatever its status, is filtered
	 * for the tenant (or refused when it cannot be). */
	int st = 0;
	struct cache_answer *a = NULL;
	if (r->cache.flight && status == 200)
		a = req_cache_store(&r->cache, r->rm.route, f, r->cfg, clock_now(), &st);
	else {
		req_cache_note_status(&r->cache, status);
		if (r->rm.route == FG_R_LIST)
			a = req_cache_list_answer(&r->cache, f, clock_now(), &st);
	}
	if (a)
		return req_reply_answer(r, a);
	if (st == 502)
		log_warn("request %s: the upstream's list answer (status %d) cannot be filtered", r->rid, status);
	if (st)
		return req_reply_error(r, st, -1, st == 502 ? "the upstream's answer could not be read" : "out of memory");
	return req_reply_upstream(r, f);
}

/* ---- a new request -------------------------------------------------------- */

static void request_begin(struct evhttp_request *er, struct http_bind *b)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		http_send_error(er, 503, "out of memory");
		return;
	}
	atomic_fetch_add(&in_flight, 1);
	r->next = req_list;
	if (r->next)
		r->next->prev = r;
	req_list = r;
	r->w = http_bind_worker(b);
	r->b = b;
	http_bind_hold(b);
	r->er = er;
	r->t0 = clock_now();
	r->tenant_slot = -1;
	r->upstream_status = -1;
	r->cfg = http_worker_config(r->w, &r->cfgref);
	const char *crid = evhttp_find_header(evhttp_request_get_input_headers(er), "X-Request-Id");
	if (crid && req_log_id_acceptable(crid))
		snprintf(r->rid, sizeof r->rid, "%s", crid);
	else
		req_log_id_new(r->rid);
	const char *uri = evhttp_request_get_uri(er);
	r->uri = strdup(uri ? uri : "");
	r->method = method_from_evhttp(evhttp_request_get_command(er));
	req_run(r, REQ_STEP_route);
}

const struct http_handler req_handler = {
	.head = req_headcheck_check,
	.request = request_begin,
	.client_gone = request_client_gone,
	.in_flight = request_in_flight,
	.cut_all = request_cut_all,
};
