/* request.c: the life of one tenant request.
 *
 * A request is a small state machine
 *
 *   NEW -> (route, attribution, body, policy, tenant rate, cache, budget)
 *       -> TOKEN_WAIT -> UPSTREAM -> DONE
 *
 * and every path ends in exactly one call to req_finish(), which sends the
 * one reply, writes the access (and audit) log line, counts it and frees
 * the request. A request holds its worker's view of the configuration it
 * started with, so a reload never changes the rules under it. It runs
 * entirely on its worker's thread; shared state (token, cache, budget) is
 * reached through their APIs, whose locks are inside. */
#include "http.h"
#include "worker.h"
#include "cache.h"
#include "listview.h"
#include "budget.h"
#include "forward.h"
#include "log.h"
#include "route.h"
#include "stats.h"
#include "policy.h"
#include "tenant.h"
#include "token.h"
#include "upstream.h"
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/rand.h>
#include <jansson.h>

#define HTTP_RID_LEN 64

static atomic_long in_flight;

long request_in_flight(void) { return atomic_load(&in_flight); }

/* ---- requests ---------------------------------------------------------- */

enum req_state { RS_NEW, RS_TOKEN_WAIT, RS_UPSTREAM, RS_DONE };
static const char *const req_state_names[] = { "new", "token_wait", "upstream", "done" };

struct req {
	enum req_state state;
	struct worker *w;
	struct req *prev, *next;    /* the worker's requests in flight */
	struct wbind *b;            /* the listener it came in on */
	struct evhttp_request *er;
	struct fg_config *cfg;      /* wc->cfg */
	struct wcfg *wc;
	const struct fg_tenant *tenant;
	int tenant_slot;
	enum fg_method method;
	struct fg_route_match rm;
	char rid[HTTP_RID_LEN + 1];
	char *uri;                  /* as received, for the log */
	char *url;                  /* upstream URL */
	const unsigned char *body;  /* in the evhttp input buffer */
	size_t body_len;
	char **vins;
	size_t nvins;
	double t0;
	double upstream_ms;
	int upstream_status;        /* last upstream answer: -1 none, 0 no answer */
	int attempts;
	struct fg_secret token;
	uint64_t token_gen;
	struct token_waiter *tw;
	struct event *timer;        /* queue_timeout while waiting */
	struct fwd *fwd;
	const char *cache_status;   /* X-Cache */
	char cache_detail[160];     /* Cache-Status (RFC 9211); empty: none */
	char *cache_key;            /* a cacheable read's key */
	bool no_cache;              /* the client sent Cache-Control: no-cache */
	struct cache_flight *flight;/* leading the upstream read of cache_key */
	struct cache_waiter *cw;    /* waiting for another request's read */
	struct budget_waiter *bw;   /* waiting for upstream budget */
	int budget;                 /* 0 none, 1 slot reserved, 2 sent, 3 logged */
};

static void req_set_state(struct req *r, enum req_state s)
{
	log_debug("request %s: %s -> %s", r->rid, req_state_names[r->state], req_state_names[s]);
	r->state = s;
}

static double http_now(void) { return token_now(); }

static void req_free(struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (r->w->reqs == r)
		r->w->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->timer)
		event_free(r->timer);
	token_wait_cancel(r->tw);
	forward_cancel(r->fwd);
	cache_wait_cancel(r->cw);
	budget_wait_cancel(r->bw);
	if (r->budget == 1)
		budget_release(budget_shared(), http_now());   /* reserved, never sent */
	else if (r->budget == 2)
		budget_used(budget_shared(), http_now());      /* abandoned mid-exchange */
	if (r->flight)
		cache_flight_done(cache_shared(), r->flight, NULL, NULL);   /* waiters ask again */
	free(r->cache_key);
	secret_wipe(&r->token);
	policy_vins_free(r->vins, r->nvins);
	free(r->uri);
	free(r->url);
	wcfg_release(r->wc);
	if (r->b)
		r->b->active--;   /* a retired bind's reaper frees it at 0 */
	free(r);
}

static const char *req_method_name(const struct req *r)
{
	switch (evhttp_request_get_command(r->er)) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* One audit line for every request on a mutating route, whatever became
 * of it: forwarded (upstream_status is the upstream's answer, 0 when none
 * came), or refused before that (401, 403, 400, 503: upstream_status null),
 * because refused mutation attempts are what an audit is read for. */
static void req_audit(struct req *r, int status)
{
	if (!route_is_mutation(r->rm.route))
		return;
	char ts[40];
	log_time_iso(ts, sizeof ts);
	json_t *vins = json_array();
	for (size_t i = 0; i < r->nvins; i++)
		json_array_append_new(vins, json_string(r->vins[i]));
	if (!r->nvins && r->rm.vin[0])
		json_array_append_new(vins, json_string(r->rm.vin));
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "request_id", json_string(r->rid));
	json_object_set_new(o, "client", log_client(r->er));
	json_object_set_new(o, "tenant", r->tenant ? json_string(r->tenant->name) : json_null());
	json_object_set_new(o, "method", json_string(req_method_name(r)));
	json_object_set_new(o, "route", json_string(route_name(r->rm.route)));
	json_object_set_new(o, "vins", vins);
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "upstream_status", r->upstream_status >= 0 ? json_integer(r->upstream_status) : json_null());
	log_audit(o);
}

static void req_access_log(struct req *r, int status, size_t bytes)
{
	if (!log_access_on())
		return;
	char ts[40];
	log_time_iso(ts, sizeof ts);
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "request_id", json_string(r->rid));
	json_object_set_new(o, "tenant", r->tenant ? json_string(r->tenant->name) : json_null());
	json_object_set_new(o, "method", json_string(req_method_name(r)));
	json_object_set_new(o, "path", json_string(r->uri ? r->uri : ""));
	json_object_set_new(o, "route", json_string(route_name(r->rm.route)));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(o, "duration_ms", json_real((http_now() - r->t0) * 1000.0));
	json_object_set_new(o, "upstream_ms", json_real(r->upstream_ms));
	json_object_set_new(o, "cache", json_string(r->cache_status));
	json_object_set_new(o, "client", log_client(r->er));
	json_object_set_new(o, "upstream_status", r->upstream_status >= 0 ? json_integer(r->upstream_status) : json_null());
	log_access(o);
}

static void req_flight_publish(struct req *r, int status, struct evbuffer *body, const char *ctype);

/* The one exit of every request: reply, log, count, free. BODY may be NULL. */
static void req_finish(struct req *r, int status, struct evbuffer *body, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->er);
	if (r->flight)
		req_flight_publish(r, status, body, ctype);
	size_t bytes = body ? evbuffer_get_length(body) : 0;
	if (ctype && *ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->rid);
	if (r->cache_status)
		evhttp_add_header(h, "X-Cache", r->cache_status);
	if (r->cache_detail[0])
		evhttp_add_header(h, "Cache-Status", r->cache_detail);
	req_set_state(r, RS_DONE);
	req_access_log(r, status, bytes);
	req_audit(r, status);
	stats_request(r->tenant_slot, r->rm.route, status, http_now() - r->t0);
	stats_request_cache(r->cache_status, http_now() - r->t0);
	stats_add(STAT_bytes_out, bytes);
	http_reply(r->er, status, body);
	atomic_fetch_sub(&in_flight, 1);
	req_free(r);
}

static void req_error(struct req *r, int status, const char *detail)
{
	struct evbuffer *b = http_error_body(status, detail);
	req_finish(r, status, b, "application/json");
	if (b)
		evbuffer_free(b);
}

static void req_error_retry(struct req *r, int status, int retry_after, const char *detail)
{
	char v[16];
	snprintf(v, sizeof v, "%d", retry_after < 1 ? 1 : retry_after);
	evhttp_add_header(evhttp_request_get_output_headers(r->er), "Retry-After", v);
	req_error(r, status, detail);
}

/* The client on EVCON hung up (http.c's keeper saw the close) while its
 * request waits: for upstream budget, a token, another request's read or a
 * tenant-rate pause. Nobody will read the answer, so the wait ends now and
 * spends no upstream read; the request is logged and counted with nginx's
 * 499 and the connection freed. A request whose upstream exchange is
 * running goes on: its answer may fill the cache for others. */
bool request_client_gone(struct worker *w, struct evhttp_connection *evcon)
{
	struct req *r = w->reqs;
	while (r && evhttp_request_get_connection(r->er) != evcon)
		r = r->next;
	if (!r || r->fwd || r->state == RS_DONE)
		return false;
	log_debug("request %s: the client hung up while it waited", r->rid);
	req_set_state(r, RS_DONE);
	req_access_log(r, 499, 0);
	req_audit(r, 499);
	stats_request(r->tenant_slot, r->rm.route, 499, http_now() - r->t0);
	atomic_fetch_sub(&in_flight, 1);
	req_free(r);              /* ends every wait; a led read passes on */
	evhttp_connection_free(evcon);
	return true;
}

/* Shutdown reached shutdown_timeout with R still in flight: no answer
 * will be sent, but the request is logged (status 503, as nginx logs what
 * it cuts) and counted, and its waits and transfers end. */
void request_cut_all(struct worker *w)
{
	while (w->reqs) {
		struct req *r = w->reqs;
		log_warn("request %s: cut at shutdown_timeout while %s", r->rid, req_state_names[r->state]);
		req_access_log(r, 503, 0);
		req_audit(r, 503);
		stats_request(r->tenant_slot, r->rm.route, 503, http_now() - r->t0);
		atomic_fetch_sub(&in_flight, 1);
		req_free(r);
	}
}

/* ---- request id -------------------------------------------------------- */

static bool rid_acceptable(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= HTTP_RID_LEN || !(c == '-' || c == '_' || c == '.' || c == ':' ||
					   (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return n > 0;
}

/* xorshift64*: request ids need to be unique, not secret. */
static void rid_new(struct worker *w, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (int k = 0; k < 2; k++) {
		w->rng ^= w->rng >> 12;
		w->rng ^= w->rng << 25;
		w->rng ^= w->rng >> 27;
		uint64_t v = w->rng * 0x2545F4914F6CDD1DULL;
		for (int i = 0; i < 16; i++)
			out[k * 16 + i] = hex[(v >> (i * 4)) & 15];
	}
	out[32] = 0;
}

/* ---- the upstream leg --------------------------------------------------- */

static void req_forward(struct req *r);
static void req_get_token(struct req *r);
static void req_budget(struct req *r);
static void req_invalidate(struct req *r);
static void req_answer(struct req *r, struct fwd *f);
static bool req_serve_stale(struct req *r, bool forwarded, const char *why);

static const char *req_method_text(enum fg_method m)
{
	return m == FG_POST ? "POST" : m == FG_DELETE ? "DELETE" : "GET";
}

/* A list answer that is not cached: filtered by the same list view a
 * cached one is, so there is one rule for what a tenant may see. */
static struct evbuffer *req_filter_list(struct req *r, struct evbuffer *in)
{
	json_t *all = json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, NULL);
	struct listview *v = all ? listview_new(all) : NULL;
	json_decref(all);
	struct evbuffer *out = v ? evbuffer_new() : NULL;
	if (out && listview_render(v, r->tenant, r->cfg->generation, out) < 0) {
		evbuffer_free(out);
		out = NULL;
	}
	listview_free(v);   /* the rendered text holds its own reference */
	return out;
}

static void req_relay(struct req *r, struct fwd *f)
{
	int status = (int)forward_status(f);
	struct evbuffer *body = forward_body(f);
	struct evbuffer *filtered = NULL;
	const char *ctype = forward_content_type(f);
	if (r->rm.route == FG_R_LIST && status == 200) {
		filtered = req_filter_list(r, body);
		if (!filtered) {
			log_warn("request %s: the upstream's list answer is not a JSON array", r->rid);
			req_error(r, 502, "the upstream's answer could not be read");
			return;
		}
		body = filtered;
	}
	int ra = forward_retry_after(f);
	if (ra >= 0 && (status == 429 || status == 503)) {
		char v[16];
		snprintf(v, sizeof v, "%d", ra);
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Retry-After", v);
	}
	req_finish(r, status, body, ctype);
	if (filtered)
		evbuffer_free(filtered);
}

static void req_upstream_done(void *arg, struct fwd *f)
{
	struct req *r = arg;
	CURLcode rc = forward_result(f);
	long status = forward_status(f);
	r->fwd = NULL;
	r->upstream_ms += forward_ms(f);
	r->upstream_status = rc == CURLE_OK ? (int)status : 0;
	stats_upstream(rc == CURLE_OK ? (int)status : 0, forward_ms(f) / 1000.0);
	if (r->budget == 2) {
		/* The upstream counted this read by now at the latest. */
		budget_used(budget_shared(), http_now());
		r->budget = 3;
	}
	req_invalidate(r);   /* whatever the upstream answered */
	if (rc != CURLE_OK) {
		int st = forward_error_status(rc);
		log_warn("request %s: upstream %s (%s): %s", r->rid, forward_error_text(rc), forward_peer(f), curl_easy_strerror(rc));
		forward_free(f);
		if (!req_serve_stale(r, true, "detail=upstream-failed"))
			req_error(r, st, forward_error_text(rc));
		return;
	}
	if (status == 429)
		stats_inc(STAT_upstream_throttled);
	if (status == 401) {
		/* The upstream did not act on a 401, so even a POST may be
		 * sent again — once, with a fresh token. */
		token_reject(r->token_gen);
		if (r->attempts < 2) {
			stats_inc(STAT_upstream_retries);
			forward_free(f);
			secret_wipe(&r->token);
			/* A single-VIN read sends again: that needs a slot of its own. */
			r->budget = 0;
			req_budget(r);
			return;
		}
		log_error("request %s: the upstream rejected a freshly fetched token", r->rid);
		forward_free(f);
		req_error(r, 502, "the upstream rejected the gateway's credentials; the calling service did nothing wrong");
		return;
	}
	req_answer(r, f);
	forward_free(f);
}

static void req_forward(struct req *r)
{
	r->attempts++;
	struct fwd_params p = {
		.method = req_method_text(r->method),
		.url = r->url,
		.client_headers = evhttp_request_get_input_headers(r->er),
		.request_id = r->rid,
		.bearer = secret_data(&r->token),
		.body = r->body,
		.body_len = r->body_len,
		.cfg = r->cfg,
	};
	req_set_state(r, RS_UPSTREAM);
	if (r->budget == 1)
		r->budget = 2;   /* logged when the exchange is over */
	r->fwd = forward_start(r->w->up, &p, req_upstream_done, r);
	/* The token is in the curl header list now; our copy can go. */
	secret_wipe(&r->token);
	if (!r->fwd)
		req_error(r, 502, "the upstream request could not be started");
}

static void req_token_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	char reason[256];
	token_ready(reason, sizeof reason);
	token_wait_cancel(r->tw);
	r->tw = NULL;
	stats_inc(STAT_token_timeouts);
	log_warn("request %s: %s", r->rid, reason);
	req_error_retry(r, 503, 5, "no valid upstream access token is available yet; retry shortly");
}

static void req_token_ready(void *arg)
{
	struct req *r = arg;
	r->tw = NULL;
	if (r->timer)
		evtimer_del(r->timer);
	req_get_token(r);
}

static void req_get_token(struct req *r)
{
	if (token_acquire(&r->token, &r->token_gen, r->w->base, req_token_ready, r, &r->tw)) {
		req_forward(r);
		return;
	}
	if (!r->tw) {
		req_error_retry(r, 503, 5, "no valid upstream access token is available");
		return;
	}
	if (r->state != RS_TOKEN_WAIT) {
		stats_inc(STAT_token_waits);
		req_set_state(r, RS_TOKEN_WAIT);
		r->timer = evtimer_new(r->w->base, req_token_timeout, r);
		struct timeval tv = { r->cfg->queue_timeout, 0 };
		if (r->timer)
			evtimer_add(r->timer, &tv);
	} else if (r->timer && !evtimer_pending(r->timer, NULL)) {
		/* Woken, but the token was gone again: keep the original deadline
		 * roughly by waiting what is left of it. */
		double left = r->cfg->queue_timeout - (http_now() - r->t0);
		if (left < 0.05)
			left = 0.05;
		struct timeval tv = { (time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6) };
		evtimer_add(r->timer, &tv);
	}
}

/* ---- cache and budget (SPEC.md §6, §7) ----------------------------------- */

static void req_cache_detail(struct req *r, const char *xcache, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* X-Cache and the matching RFC 9211 Cache-Status, set together. */
static void req_cache_detail(struct req *r, const char *xcache, const char *fmt, ...)
{
	va_list ap;
	r->cache_status = xcache;
	va_start(ap, fmt);
	vsnprintf(r->cache_detail, sizeof r->cache_detail, fmt, ap);
	va_end(ap);
}

static void req_timer_clear(struct req *r)
{
	if (r->timer)
		event_free(r->timer);
	r->timer = NULL;
}

static void req_timer_start(struct req *r, event_callback_fn cb, double secs)
{
	req_timer_clear(r);
	if (secs < 0.05)
		secs = 0.05;
	r->timer = evtimer_new(r->w->base, cb, r);
	struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6) };
	if (r->timer)
		evtimer_add(r->timer, &tv);
}

/* Mutations drop their VINs' entries and every list entry twice: before
 * they are forwarded, and when the answer is in (whatever it is), so a
 * read that began in between cannot keep an answer from before the change
 * either (the generation rule in cache.c refuses to store it). */
static void req_invalidate(struct req *r)
{
	struct cache *c = cache_shared();
	char *one[1] = { r->rm.vin };
	if (!c)
		return;
	if (r->rm.route == FG_R_CREATE)
		cache_invalidate(c, r->vins, r->nvins);
	else if (r->rm.route == FG_R_DELETE || r->rm.route == FG_R_CANCEL)
		cache_invalidate(c, one, 1);
}

/* Replies with A. A list answer is held whole and filtered for this
 * tenant on the way out; other bodies are borrowed from the answer, not
 * copied. */
static void req_serve(struct req *r, struct cache_answer *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->er);
	char v[32];
	if (strcmp(r->cache_status, "HIT") == 0 || strcmp(r->cache_status, "STALE") == 0) {
		double age = http_now() - a->stored_at;
		snprintf(v, sizeof v, "%ld", age > 0 ? (long)age : 0L);
		evhttp_add_header(h, "Age", v);
	}
	if (a->retry_after >= 0) {
		snprintf(v, sizeof v, "%d", a->retry_after);
		evhttp_add_header(h, "Retry-After", v);
	}
	struct evbuffer *out = evbuffer_new();
	int rc = out ? 0 : -1;
	if (out && a->list) {
		rc = listview_render(a->list, r->tenant, r->cfg->generation, out);
	} else if (out) {
		rc = cache_answer_add_to(a, out);
	}
	if (rc < 0)
		req_error(r, 500, "out of memory");
	else
		req_finish(r, a->status, out, a->ctype);
	if (out)
		evbuffer_free(out);
}

/* A leader that ends without handing over a stored answer (an error, a
 * 404, a 429) still gives its waiters what it sends: they asked the same
 * question at the same moment, and sending each of them upstream in turn
 * would spend the budget the coalescing is there to save. */
static void req_flight_publish(struct req *r, int status, struct evbuffer *body, const char *ctype)
{
	struct cache_flight *f = r->flight;
	size_t len = body ? evbuffer_get_length(body) : 0;
	r->flight = NULL;
	struct cache_answer *a = cache_answer_new(status, ctype, len ? evbuffer_pullup(body, -1) : NULL, len,
						  NULL, http_now());
	const char *ra = evhttp_find_header(evhttp_request_get_output_headers(r->er), "Retry-After");
	if (a && ra)
		a->retry_after = atoi(ra);
	cache_flight_done(cache_shared(), f, a, r->cache_status);
	cache_answer_unref(a);
}

/* Stale-if-error: an entry up to stale_if_error seconds past its expiry
 * answers instead of an error. FORWARDED: the upstream was asked and
 * failed (WHY says how); otherwise nothing was sent (WHY names the
 * reason). */
static bool req_serve_stale(struct req *r, bool forwarded, const char *why)
{
	struct cache *c = cache_shared();
	if (!r->cache_key || !c)
		return false;
	double now = http_now();
	struct cache_answer *a = cache_stale(c, r->cache_key, now);
	if (!a)
		return false;
	long ttl = (long)floor(a->fresh_until - now);
	if (ttl >= 0) {
		/* Stored again by another request meanwhile: simply a hit. */
		stats_inc(STAT_cache_hits);
		req_cache_detail(r, "HIT", "fleetgate; hit; ttl=%ld", ttl);
	} else {
		stats_inc(STAT_cache_stale);
		if (forwarded)
			req_cache_detail(r, "STALE", "fleetgate; fwd=stale; ttl=%ld; %s", ttl, why);
		else
			req_cache_detail(r, "STALE", "fleetgate; hit; ttl=%ld; detail=%s", ttl, why);
	}
	if (r->flight) {
		cache_flight_done(c, r->flight, a, r->cache_status);
		r->flight = NULL;
	}
	req_serve(r, a);
	cache_answer_unref(a);
	return true;
}

/* The upstream answered 429 on the single-VIN route: nothing more goes
 * there until its Retry-After (header or "retry after Ns" in the body,
 * the longer of the two) has passed. */
static void req_pause(struct req *r, struct fwd *f)
{
	struct evbuffer *body = forward_body(f);
	int secs = forward_retry_after(f);
	int in_body = budget_parse_retry_after((const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body));
	if (in_body > secs)
		secs = in_body;
	if (secs < 0)
		secs = (int)r->cfg->vin_get_rate.window_s;   /* no hint: a whole window */
	log_warn("request %s: the upstream answered 429; single-VIN reads pause for %d s", r->rid, secs);
	budget_pause(budget_shared(), http_now(), secs);
}

/* A 200 read: stored when its freshness allows and no mutation of its key
 * came in meanwhile, handed to the waiters, sent to the client. */
static void req_store(struct req *r, struct fwd *f)
{
	struct evbuffer *body = forward_body(f);
	size_t len = evbuffer_get_length(body);
	const char *text = len ? (const char *)evbuffer_pullup(body, -1) : "";
	bool list = r->rm.route == FG_R_LIST;
	json_t *j = json_loadb(text, len, 0, NULL);
	if (list && !json_is_array(j) && !json_is_array(json_object_get(j, "vehicles"))) {
		json_decref(j);
		log_warn("request %s: the upstream's list answer is not a JSON array", r->rid);
		req_error(r, 502, "the upstream's answer could not be read");
		return;
	}
	int ttl = cache_ttl(r->cfg, list, list ? NULL : json_string_value(json_object_get(j, "status")));
	double now = http_now();
	struct listview *view = list ? listview_new(j) : NULL;
	json_decref(j);
	struct cache_answer *a = (list && !view) ? NULL :
		cache_answer_new(200, forward_content_type(f), text, len, view, now);
	if (!a) {
		req_error(r, 500, "out of memory");
		return;
	}
	int stored = cache_store(cache_shared(), r->flight, a, ttl, r->cfg->stale_if_error,
				 r->cfg->cache_max_bytes, now);
	req_cache_detail(r, "MISS", "fleetgate; fwd=%s; fwd-status=200%s", r->no_cache ? "request" : "miss",
			 stored ? "; stored" : "");
	cache_flight_done(cache_shared(), r->flight, a, "MISS");
	r->flight = NULL;
	req_serve(r, a);
	cache_answer_unref(a);
}

/* The upstream answered (not a 401 being retried). */
static void req_answer(struct req *r, struct fwd *f)
{
	int status = (int)forward_status(f);
	forward_trace_headers(f, evhttp_request_get_output_headers(r->er));
	if (status == 429 && r->rm.route == FG_R_GET)
		req_pause(r, f);
	if (status >= 500 || status == 429) {
		char why[32];
		snprintf(why, sizeof why, "fwd-status=%d", status);
		if (req_serve_stale(r, true, why))
			return;
	}
	if (r->flight && status == 200) {
		req_store(r, f);
		return;
	}
	if (r->cache_key) {
		size_t n = strlen(r->cache_detail);
		snprintf(r->cache_detail + n, sizeof r->cache_detail - n, "; fwd-status=%d", status);
	}
	req_relay(r, f);
}

static void req_budget_ready(void *arg)
{
	struct req *r = arg;
	r->bw = NULL;
	r->budget = 1;
	req_timer_clear(r);
	req_get_token(r);
}

static void req_budget_refuse(struct req *r, double retry_after, const char *detail)
{
	stats_inc(STAT_rate_limited);
	req_error_retry(r, 429, (int)ceil(retry_after), detail);
}

static void req_budget_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	(void)fd;
	(void)what;
	budget_wait_cancel(r->bw);
	r->bw = NULL;
	if (req_serve_stale(r, false, "budget-exhausted"))
		return;
	req_budget_refuse(r, budget_estimate(budget_shared(), http_now()),
			  "the upstream read budget (vin_get_rate) has no room; retry later");
}

/* Single-VIN reads that go upstream need a slot of the shared budget. */
static void req_budget(struct req *r)
{
	struct budget *b = budget_shared();
	/* No wait is running here; a spent token-wait timer of a first
	 * attempt (401 retry) would otherwise be overwritten and leak. */
	req_timer_clear(r);
	if (r->rm.route != FG_R_GET || !b) {
		req_get_token(r);
		return;
	}
	budget_set_rate(b, r->cfg->vin_get_rate.count, r->cfg->vin_get_rate.window_s);
	double now = http_now(), ra = 0;
	struct budget_waiter *w = NULL;
	/* No room right now: a stale answer beats making the client wait. */
	enum budget_result res = budget_acquire(b, r->tenant->name, now, NULL, NULL, NULL, &w, &ra);
	if (res != BUDGET_GRANTED &&
	    req_serve_stale(r, false, res == BUDGET_PAUSED ? "upstream-paused" : "budget-exhausted"))
		return;
	if (res == BUDGET_FULL)
		res = budget_acquire(b, r->tenant->name, now, r->w->base, req_budget_ready, r, &w, &ra);
	switch (res) {
	case BUDGET_GRANTED:
		r->budget = 1;
		req_get_token(r);
		return;
	case BUDGET_QUEUED:
		r->bw = w;
		req_timer_start(r, req_budget_timeout, r->cfg->queue_timeout);
		return;
	case BUDGET_PAUSED:
		req_budget_refuse(r, ra, "the upstream asked for a pause of single-VIN reads (429); retry after it");
		return;
	case BUDGET_FULL:
		req_budget_refuse(r, ra, "the upstream read budget (vin_get_rate) has no room; retry later");
		return;
	}
}

static void req_cache_lookup(struct req *r);

static void req_cache_woken(void *arg, struct cache_answer *a, const char *how)
{
	struct req *r = arg;
	r->cw = NULL;
	req_timer_clear(r);
	if (!a) {
		req_cache_lookup(r);   /* the leader left no answer: ask again */
		return;
	}
	if (strcmp(how, "STALE") == 0)
		stats_inc(STAT_cache_stale);
	req_cache_detail(r, how, "fleetgate; fwd=%s; collapsed", strcmp(how, "STALE") == 0 ? "stale" : "miss");
	req_serve(r, a);
	cache_answer_unref(a);
}

static void req_cache_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	(void)fd;
	(void)what;
	cache_wait_cancel(r->cw);
	r->cw = NULL;
	if (req_serve_stale(r, false, "collapsed-timeout"))
		return;
	req_error(r, 504, "the upstream answer this request was waiting for did not arrive in time");
}

static void req_cache_lookup(struct req *r)
{
	struct cache_answer *a;
	struct cache_flight *f;
	struct cache_waiter *w;
	switch (cache_lookup(cache_shared(), r->cache_key, http_now(), r->no_cache, &a, &f,
			     r->w->base, req_cache_woken, r, &w)) {
	case CACHE_HIT:
		stats_inc(STAT_cache_hits);
		req_cache_detail(r, "HIT", "fleetgate; hit; ttl=%ld", (long)floor(a->fresh_until - http_now()));
		req_serve(r, a);
		cache_answer_unref(a);
		return;
	case CACHE_LEAD:
		stats_inc(STAT_cache_misses);
		r->flight = f;
		req_cache_detail(r, "MISS", "fleetgate; fwd=%s", r->no_cache ? "request" : "miss");
		req_budget(r);
		return;
	case CACHE_WAIT:
		/* A waiter gives up no sooner than its leader could: a budget
		 * or token wait (queue_timeout) plus the upstream exchange. */
		stats_inc(STAT_cache_coalesced);
		r->cw = w;
		req_timer_start(r, req_cache_timeout, r->cfg->queue_timeout + r->cfg->timeout);
		return;
	case CACHE_BUSY:
		if (req_serve_stale(r, false, "too-many-waiters"))
			return;
		req_error_retry(r, 503, 1, "too many requests are waiting for the same upstream answer; retry shortly");
		return;
	}
}

/* Whether a header value lists TOKEN (case-insensitive), e.g. no-cache. */
static bool req_header_has(const char *v, const char *token)
{
	size_t n = strlen(token);
	for (; v && *v; v++)
		if (strncasecmp(v, token, n) == 0)
			return true;
	return false;
}

/* Sets r->cache_key for a cacheable read; otherwise says why not. */
static bool req_cache_key(struct req *r)
{
	if (r->rm.route != FG_R_GET && r->rm.route != FG_R_LIST) {
		req_cache_detail(r, "BYPASS", "fleetgate; fwd=method");
		return false;
	}
	if (!r->cfg->cache_enabled || !cache_shared()) {
		req_cache_detail(r, "BYPASS", "fleetgate; fwd=bypass");
		return false;
	}
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->er);
	r->cache_key = r->rm.route == FG_R_GET ? strdup(r->rm.vin) : cache_list_key(u ? evhttp_uri_get_query(u) : NULL);
	if (!r->cache_key) {
		req_cache_detail(r, "BYPASS", "fleetgate; fwd=uri-miss");
		return false;
	}
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->er);
	r->no_cache = req_header_has(evhttp_find_header(h, "Cache-Control"), "no-cache") ||
		      req_header_has(evhttp_find_header(h, "Pragma"), "no-cache");
	return true;
}

/* Between policy and the token: answer from the cache when it can,
 * otherwise lead or join the upstream read of the key, then the budget. */
static void req_cache(struct req *r)
{
	req_invalidate(r);
	if (req_cache_key(r))
		req_cache_lookup(r);
	else
		req_budget(r);
}

/* A tenant over its own rate gets 429 at once; the bucket is the tenant's
 * alone, so nobody else slows down. */
static bool req_tenant_rate(struct req *r)
{
	const struct fg_tenant *t = r->tenant;
	if (!t->has_rate || !t->rate.count || !t->rate.window_s)
		return true;
	double ra, rate = (double)t->rate.count / (double)t->rate.window_s;
	if (budget_tenant_take(t->name, rate, t->burst ? t->burst : t->rate.count, http_now(), &ra))
		return true;
	stats_inc(STAT_rate_limited);
	char d[256];
	snprintf(d, sizeof d, "tenant %s is over its request rate of %u/%us", t->name, t->rate.count,
		 t->rate.window_s);
	req_error_retry(r, 429, (int)ceil(ra), d);
	return false;
}

/* ---- the request's front half ------------------------------------------- */

static enum fg_method http_method(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET: return FG_GET;
	case EVHTTP_REQ_POST: return FG_POST;
	case EVHTTP_REQ_DELETE: return FG_DELETE;
	default: return FG_OTHER;
	}
}

/* The API key a client presented, if any: Bearer or X-API-Key. */
static const char *req_api_key(struct evkeyvalq *h)
{
	const char *a = evhttp_find_header(h, "Authorization");
	if (a && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		while (*a == ' ')
			a++;
		return a;
	}
	return evhttp_find_header(h, "X-API-Key");
}

static bool req_attribute(struct req *r, const struct wbind *b)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->er);
	const char *key = req_api_key(h);
	const struct sockaddr *peer = NULL;
	struct evhttp_connection *conn = evhttp_request_get_connection(r->er);
	if (conn) {
		peer = evhttp_connection_get_addr(conn);
		if (peer && peer->sa_family != AF_INET && peer->sa_family != AF_INET6)
			peer = NULL;
	}
	enum fg_attr_result res = FG_ATTR_NONE;
	r->tenant = policy_attribute(r->cfg, b->role == HTTP_ROLE_TENANT ? b->spec : NULL,
				     key, key ? strlen(key) : 0, peer, &res);
	if (r->tenant) {
		r->tenant_slot = r->tenant->stats_slot;
		return true;
	}
	if (res == FG_ATTR_LISTENER_GONE) {
		/* A keep-alive connection on a listener a reload removed: its
		 * tenant is gone, and falling back to keys or sources would
		 * hand the connection to someone else. Ask for a new one. */
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Connection", "close");
		req_error_retry(r, 503, 1, "this listener was removed by a configuration reload; reconnect");
		return false;
	}
	stats_inc(STAT_unauthorized);
	if (res == FG_ATTR_BAD_KEY)
		req_error(r, 401, "the API key presented matches no tenant");
	else
		req_error(r, 401, "no tenant matches this request (listener, API key or source address)");
	return false;
}

static bool req_read_body(struct req *r, json_t **json)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->er);
	size_t len = evbuffer_get_length(in);
	*json = NULL;
	if (len > r->cfg->max_body_bytes) {
		stats_inc(STAT_bad_requests);
		char d[128];
		snprintf(d, sizeof d, "the request body is larger than %zu bytes", r->cfg->max_body_bytes);
		req_error(r, 413, d);
		return false;
	}
	r->body = len ? evbuffer_pullup(in, -1) : NULL;
	r->body_len = len;
	if (r->rm.route != FG_R_CREATE && r->rm.route != FG_R_ACCESS_TOKEN)
		return true;
	json_error_t je;
	*json = json_loadb((const char *)r->body, len, 0, &je);
	if (!*json) {
		stats_inc(STAT_bad_requests);
		char d[256];
		snprintf(d, sizeof d, "the request body is not valid JSON: %s (line %d)", je.text, je.line);
		req_error(r, 400, d);
		return false;
	}
	return true;
}

static bool req_policy(struct req *r, json_t *body)
{
	char detail[8192];   /* names every denied VIN */
	int st = policy_check(r->tenant, r->rm.route, r->rm.route == FG_R_GET || r->rm.route == FG_R_DELETE ||
			      r->rm.route == FG_R_CANCEL ? r->rm.vin : NULL,
			      body, &r->vins, &r->nvins, detail, sizeof detail);
	if (st == 0)
		return true;
	stats_inc(st == 403 ? STAT_denied : STAT_bad_requests);
	req_error(r, st, detail);
	return false;
}

static int req_build_url(struct req *r)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->er);
	const char *q = u ? evhttp_uri_get_query(u) : NULL;
	char path[128];
	switch (r->rm.route) {
	case FG_R_LIST:
	case FG_R_CREATE: snprintf(path, sizeof path, "/v1/fleets/vehicles"); break;
	case FG_R_GET:
	case FG_R_DELETE: snprintf(path, sizeof path, "/v1/fleets/vehicles/%s", r->rm.vin); break;
	case FG_R_CANCEL: snprintf(path, sizeof path, "/v1/fleets/%s/cancel_activation", r->rm.vin); break;
	case FG_R_ACCESS_TOKEN: snprintf(path, sizeof path, "/v1/fleets/access_tokens"); break;
	default: return -1;
	}
	size_t n = strlen(r->cfg->base_url) + strlen(path) + (q ? strlen(q) + 1 : 0) + 1;
	r->url = malloc(n);
	if (!r->url)
		return -1;
	snprintf(r->url, n, "%s%s%s%s", r->cfg->base_url, path, q ? "?" : "", q ? q : "");
	return 0;
}

void request_cb(struct evhttp_request *er, void *arg)
{
	struct wbind *b = arg;
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		http_send_error(er, 503, "out of memory");
		return;
	}
	atomic_fetch_add(&in_flight, 1);
	r->w = b->w;
	r->next = r->w->reqs;
	if (r->next)
		r->next->prev = r;
	r->w->reqs = r;
	r->b = b;
	b->active++;
	r->er = er;
	r->t0 = http_now();
	r->tenant_slot = -1;
	r->upstream_status = -1;
	r->cache_status = "BYPASS";
	r->wc = worker_config(r->w);
	r->cfg = r->wc ? r->wc->cfg : NULL;
	struct evkeyvalq *h = evhttp_request_get_input_headers(er);
	const char *crid = evhttp_find_header(h, "X-Request-Id");
	if (crid && rid_acceptable(crid))
		snprintf(r->rid, sizeof r->rid, "%s", crid);
	else
		rid_new(r->w, r->rid);
	const char *uri = evhttp_request_get_uri(er);
	r->uri = strdup(uri ? uri : "");
	r->method = http_method(evhttp_request_get_command(er));

	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(er);
	const char *rawpath = u ? evhttp_uri_get_path(u) : NULL;
	char *path = rawpath ? evhttp_uridecode(rawpath, 0, NULL) : NULL;
	route_match(r->method, path ? path : "", &r->rm);
	free(path);
	json_t *body = NULL;
	if (r->rm.status) {
		stats_inc(STAT_bad_requests);
		if (r->rm.status == 405) {
			evhttp_add_header(evhttp_request_get_output_headers(er), "Allow", r->rm.allow);
			req_error(r, 405, "this method is not allowed on this path");
		} else if (r->rm.status == 400) {
			req_error(r, 400, "the VIN in the path is malformed: 17 characters of A-Z and 0-9 expected");
		} else {
			req_error(r, 404, "no such route");
		}
		return;
	}
	if (!req_attribute(r, b) || !req_read_body(r, &body))
		return;
	bool ok = req_policy(r, body);
	json_decref(body);
	if (!ok || !req_tenant_rate(r))
		return;
	if (req_build_url(r) < 0) {
		req_error(r, 500, "out of memory");
		return;
	}
	req_cache(r);
}

