/* req_steps.c: the life of one tenant request as a table of steps
 * (docs/overview.md, "A request's life"), and the steps up to the
 * upstream exchange: route, attribute, body, client, policy, tenant_rate,
 * local_token, cache, budget and token. The exchange and its answer are
 * req_upstream.c's; the driver, waits and the one exit are req.c's.
 *
 * A request moves through REQ_STEPS (req_steps.h) in order. Each step
 * returns GO (on to the next), WAIT (it left one wait; the wake-up calls
 * the driver again at the same step, which finds what it waited for) or
 * DONE (it replied; the request is gone). An upstream 401 sends the
 * request back to the budget step for one retry; a read whose leader left
 * no answer goes back to the cache step. Adding a stage is a row and a
 * function.
 *
 * A request holds its worker's view of the configuration it started with,
 * so a reload never changes the rules under it. It runs entirely on its
 * worker's thread; shared state (token, cache, budget, tenant rates) is
 * reached through their APIs, whose locks are inside. The cache side of
 * the request (key, lookup, store, hand-over, X-Cache) is req_cache.c's.
 *
 * Never: block, or reply other than through req_reply(). */
#include "req_steps.h"
#include "req.h"
#include "req_upstream.h"
#include "budget.h"
#include "clock.h"
#include "req_localtoken.h"
#include "log.h"
#include "req_tenantrate.h"
#include "req_cache.h"
#include "req_headcheck.h"
#include "req_route.h"
#include "stats.h"
#include "req_policy.h"
#include "req_query.h"
#include "tenant.h"
#include "up_token.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

struct req;
#define X(name, doc) static enum req_go req_##name(struct req *r);
REQ_STEPS(X)
#undef X

static const struct req_step_def req_steps[] = {
#define X(name, doc) [REQ_STEP_##name] = { #name, req_##name },
	REQ_STEPS(X)
#undef X
	[REQ_STEP_done] = { "done", NULL },
};

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
	/* A query on the token route may hold a secret: it stays out of the
	 * log however the path was spelled (/v1/%61ccess_tokens matches too),
	 * and on its 405 as well. */
	if (r->uri && (req_route_is_local(r->rm.route) ||
		       (r->rm.status == 405 && r->rm.allow && strcmp(r->rm.allow, "POST") == 0) ||
		       (path && strncmp(path, "/v1/access_tokens", 17) == 0)))
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

static enum req_go req_reply_oauth(struct req *r, int status, struct evbuffer *out);

static enum req_go req_attribute(struct req *r)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->er);
	bool local = req_route_is_local(r->rm.route);   /* Basic there is the client step's */
	enum fg_attr_result res = FG_ATTR_NONE;
	r->tenant = req_policy_attribute_how(r->cfg, http_bind_tenant_listener(r->b),
					     http_bind_cert(r->b, evhttp_request_get_connection(r->er)), h,
					     http_request_peer(r->er), local, &r->by, &res);
	if (res != FG_ATTR_LISTENER_GONE && (r->tenant || (local && res == FG_ATTR_NONE))) {
		r->tenant_slot = r->tenant ? r->tenant->stats_slot : -1;   /* the token route: the client step decides */
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
	if (local && st != 503) {   /* a credential the token route cannot take: the OAuth shape */
		struct evbuffer *b = evbuffer_new();
		return req_reply_oauth(r, b ? req_localtoken_bad_header(st, b) : 500, b);
	}
	return req_reply_error(r, st, st == 503 ? 1 : -1, detail);
}

/* A refusal of the token route in the OAuth error shape: STATUS, with
 * OUT (req_localtoken.c wrote it; NULL: no memory). */
static enum req_go req_reply_oauth(struct req *r, int status, struct evbuffer *out)
{
	req_localtoken_headers(&r->lt, status, evhttp_request_get_output_headers(r->er));
	if (!out)
		return req_reply_error(r, 500, -1, "out of memory");
	req_reply(r, status, out, "application/json");
	evbuffer_free(out);
	return REQ_DONE;
}

/* Only the routes that take a body send one upstream, and only as the
 * JSON req_policy.c parsed (any other body is not forwarded). The token
 * route's body is its parameters (req_localtoken.c). */
static enum req_go req_body(struct req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->er);
	size_t len = evbuffer_get_length(in);
	const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(r->er), "Content-Type");
	bool local = req_route_is_local(r->rm.route);
	char d[256];
	int st = 413;
	if (local) {
		struct evbuffer *out = evbuffer_new();
		st = !out ? 500 : len > r->cfg->max_body_bytes ? req_localtoken_too_large(out)
			: req_localtoken_read(&r->lt, evhttp_find_header(evhttp_request_get_input_headers(r->er), "Authorization"),
					      ctype, len ? evbuffer_pullup(in, -1) : NULL, len, out);
		if (st == 0) {
			evbuffer_free(out);
			return REQ_GO;
		}
		return req_reply_oauth(r, st, out);
	}
	if (len > r->cfg->max_body_bytes)
		snprintf(d, sizeof d, "the request body is larger than %zu bytes", r->cfg->max_body_bytes);
	else if (!(st = req_policy_parse_body(r->rm.route, ctype, len ? evbuffer_pullup(in, -1) : NULL, len, &r->json,
					      d, sizeof d))) {
		r->body = r->json ? evbuffer_pullup(in, -1) : NULL;
		r->body_len = r->json ? len : 0;
		return REQ_GO;
	}
	stats_inc(STAT_bad_requests);
	return req_reply_error(r, st, -1, d);
}

/* The token route: the tenant its client_id names, if its credentials (or
 * the listener or source that attributed the caller) say so. From here on
 * the request is that tenant's. */
static enum req_go req_client(struct req *r)
{
	if (!req_route_is_local(r->rm.route))
		return REQ_GO;
	struct evbuffer *out = evbuffer_new();
	const struct fg_tenant *by_addr = r->tenant;
	r->tenant = NULL;
	r->tenant_slot = -1;
	int st = !out ? 500 : req_localtoken_authenticate(&r->lt, r->cfg, by_addr, &r->by,
							http_bind_tenant_listener(r->b) != NULL, &r->tenant, out);
	if (st)
		return req_reply_oauth(r, st, out);
	evbuffer_free(out);
	r->tenant_slot = r->tenant->stats_slot;
	r->by = r->lt.by;   /* what the token carries: the client's key, or what attributed it */
	return REQ_GO;
}

static enum req_go req_policy(struct req *r)
{
	char detail[8192];   /* names every denied VIN */
	enum fg_route rt = r->rm.route;
	if (req_route_is_local(rt))
		return REQ_GO;   /* a token holds no VIN; its tenant's methods apply where it is used */
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
	if (req_route_is_local(r->rm.route)) {
		struct evbuffer *out = evbuffer_new();
		return req_reply_oauth(r, out ? req_localtoken_over_rate(t, ra, evhttp_request_get_output_headers(r->er), out)
					      : 500, out);
	}
	char d[256];
	snprintf(d, sizeof d, "tenant %s is over its request rate of %u/%us", t->name, t->rate.count, t->rate.window_s);
	return req_reply_error(r, 429, (int)ceil(ra), d);
}

/* POST /v1/access_tokens, authenticated and within its tenant's rate:
 * the token is issued and the answer sent here, never forwarded. */
static enum req_go req_local_token(struct req *r)
{
	if (!req_route_is_local(r->rm.route))
		return REQ_GO;
	struct evbuffer *out = evbuffer_new();
	int st = out ? req_localtoken_grant(&r->lt, r->cfg, r->tenant, clock_now(), clock_wall(), out) : 500;
	if (st != 200)
		return req_reply_oauth(r, st, out);
	req_localtoken_headers(&r->lt, st, evhttp_request_get_output_headers(r->er));
	req_reply(r, st, out, "application/json");
	evbuffer_free(out);
	return REQ_DONE;
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

/* ---- the upstream leg: req_upstream.c -------------------------------------- */

static enum req_go req_forward(struct req *r) { return req_upstream_forward(r); }
static enum req_go req_answer(struct req *r) { return req_upstream_answer(r); }

/* ---- a new request -------------------------------------------------------- */

static void request_begin(struct evhttp_request *er, struct http_bind *b)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		http_send_error(er, 503, "out of memory");
		return;
	}
	r->steps = req_steps;
	req_begin(r);
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
	.client_gone = req_client_gone,
	.in_flight = req_in_flight,
	.cut_all = req_cut_all,
};
