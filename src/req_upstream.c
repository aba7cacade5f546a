/* req_upstream.c: a tenant request's upstream leg, the steps forward and
 * answer of req.c's table: the exchange started (after a mutation's audit
 * intent line), its end (budget, a 401's one retry), and what the answer
 * becomes (429 pause, stale-if-error, the cache, the reply).
 *
 * Never: reply other than through req.c's one exit. */
#include "req_upstream.h"
#include "budget.h"
#include "clock.h"
#include "log.h"
#include "stats.h"
#include "req_query.h"
#include "up_token.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

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

enum req_go req_upstream_forward(struct req *r)
{
	if (req_route_is_mutation(r->rm.route) && !r->intent_logged) {
		/* Before the upstream may act: the intent line, written at once
		 * (with audit_sync, on disk before the exchange starts). */
		struct reqlog l;
		req_reqlog(r, &l);
		r->intent_logged = true;
		struct audit_waiter *aw = log_audit_wait(req_log_intent(&l), http_worker_base(r->w), req_audit_synced, r);
		if (aw)
			return req_wait(r, REQ_WAIT_AUDIT, aw, 0);
	}
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
static enum req_go req_upstream_reply(struct req *r, struct fwd *f)
{
	int status = (int)up_forward_status(f);
	int ra = up_forward_retry_after(f);
	if (ra < 0 && status == 429) {   /* none, or unreadable: the pause fleetgate keeps */
		struct evbuffer *body = up_forward_body(f);
		ra = (int)fmin(budget_429_secs(-1, (const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body),
					       r->cfg->vin_get_rate.window_s),
			       BUDGET_PAUSE_MAX);
	}
	if (ra >= 0 && (status == 429 || status == 503)) {
		char v[16];
		snprintf(v, sizeof v, "%d", ra);
		evhttp_add_header(evhttp_request_get_output_headers(r->er), "Retry-After", v);
	}
	return req_reply(r, status, up_forward_body(f), up_forward_content_type(f));
}

/* The exchange is over (and not a 401 being retried). */
enum req_go req_upstream_answer(struct req *r)
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
	return req_upstream_reply(r, f);
}

