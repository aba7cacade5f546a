/* req.h: a tenant request's state, its steps, and the driver every step
 * calls (req.c): for the files that hold steps (req_steps.c,
 * req_upstream.c). Not an API: nothing outside the request layer
 * includes it; main registers the handler of req_steps.h. */
#ifndef FG_REQ_H
#define FG_REQ_H
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include "cache.h"
#include "conf.h"
#include "http.h"
#include "method.h"
#include "req_cache.h"
#include "req_localtoken.h"
#include "req_log.h"
#include "req_policy.h"
#include "req_route.h"
#include "up_forward.h"

/* ---- the steps ------------------------------------------------------------
 *
 *      step        what it does (its refusals)                 may wait for
 */
#define REQ_STEPS(X) \
	X(route,       /* path, query, method -> a route (404, 405, 400) -          */) \
	X(attribute,   /* listener -> cert -> API key -> source (401)    -          */) \
	X(body,        /* size (413), JSON of POST routes (415, 400);    -          */) \
	               /* the token route's form or JSON (400, 415)                 */  \
	X(client,      /* token route: the client's credentials (401)    -          */) \
	X(policy,      /* tenant methods and VINs (403, 400)             -          */) \
	X(tenant_rate, /* the tenant's own token bucket (429)            -          */) \
	X(local_token, /* token route: the token issued and answered     -          */) \
	X(cache,       /* fresh entry (here, then Redis); lead or join   the leader, Redis */) \
	X(budget,      /* a budget slot, or a list read (vin_reads; 429)  a slot     */) \
	X(token,       /* the current access token (503)                 a token    */) \
	X(forward,     /* start the upstream exchange                    the answer */) \
	X(answer,      /* 429 pause, stale-if-error, store, reply (502)  -          */)
/* The token route (POST /v1/access_tokens) runs the same steps up to
 * local_token, which answers it: never forwarded. Its refusals past
 * attribute are in the OAuth error shape (req_localtoken.c). */
/* Jumps back: an upstream 401 on the first attempt -> budget (one retry
 * with a fresh token); a leader that left no answer -> cache. */
enum req_step {
#define X(name, doc) REQ_STEP_##name,
	REQ_STEPS(X)
#undef X
	REQ_STEP_done
};

enum req_go { REQ_GO, REQ_WAIT, REQ_DONE };

/* What a request waits for: at most one thing at a time, with one
 * deadline timer (none for the upstream: curl has its own time-out). */
enum req_wait_kind { REQ_WAIT_NONE, REQ_WAIT_CACHE, REQ_WAIT_L2, REQ_WAIT_BUDGET, REQ_WAIT_TOKEN, REQ_WAIT_UPSTREAM,
		     REQ_WAIT_AUDIT /* its audit line on disk (audit_sync): before forwarding, or its held answer */ };

/* The single-VIN read's slot of the upstream budget. */
enum req_slot {
	REQ_SLOT_NONE,
	REQ_SLOT_RESERVED,   /* granted, not sent: released when the request ends */
	REQ_SLOT_SENT,       /* in the exchange: logged when it is over */
	REQ_SLOT_LOGGED,     /* logged */
};

/* A row of the step table (req_steps.c): its name for logs and its
 * function. A request carries the table, so the driver (req.c) never
 * names a step's function. */
struct req;
struct req_step_def {
	const char *name;
	enum req_go (*run)(struct req *r);
};

struct req {
	const struct req_step_def *steps;   /* the table it runs (req_steps.c) */
	enum req_step step;
	enum req_wait_kind wait;
	void *waiter;               /* the wait's handle: token/cache/budget waiter, or fwd */
	struct event *timer;        /* the wait's deadline */
	struct req *prev, *next;    /* this thread's requests in flight */
	struct http_worker *w;
	struct http_bind *b;        /* the listener it came in on */
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
	struct fg_attribution by;   /* how r->tenant was attributed and what did it (req_attr.h): the
				     * access and audit lines' "by", and what a local token carries */
	struct localtoken_req lt;   /* the token route's request, body to local_token */
	enum req_slot slot;
	struct reqcache cache;
	bool intent_logged;         /* a mutation's audit intent line is written */
	struct evbuffer *held;      /* an answer waiting for its audit line (audit_sync) */
	int held_status;
};


/* req.c: the driver, the waits and the one exit. */
void req_begin(struct req *r);                /* counted in flight, on this thread's list */
void req_set_step(struct req *r, enum req_step s);
/* Logged and counted once, with the status the client got (499: it hung
 * up); the request moves to done. Returns the audit line's number (0:
 * none). */
uint64_t req_log_end(struct req *r, int status, size_t bytes);
long req_in_flight(void);
bool req_client_gone(struct evhttp_connection *evcon);
void req_cut_all(void);
void req_run(struct req *r, enum req_step s);
enum req_go req_wait(struct req *r, enum req_wait_kind kind, void *handle, double deadline);
void req_woken(struct req *r);
enum req_go req_reply(struct req *r, int status, struct evbuffer *body, const char *ctype);
enum req_go req_reply_error(struct req *r, int status, int retry_after, const char *detail);
enum req_go req_reply_answer(struct req *r, struct cache_answer *a);
enum req_go req_fail(struct req *r, const char *why, int status, int retry_after, const char *detail);
/* The audit line's wait is over (req_wait's REQ_WAIT_AUDIT): the held
 * answer goes out, or the step that waited runs again. */
void req_audit_synced(void *arg);
struct reqlog;
void req_reqlog(struct req *r, struct reqlog *l);
#endif
