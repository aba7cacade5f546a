/* sim_http.c: request dispatch of fleetgate-sim: route classification,
 * fault injection, deferred (delayed, hanging, closing) answers, the
 * counters of /_sim/stats and the request log of /_sim/requests.
 *
 * A deferred answer holds a struct sim_pending. evhttp may drop the
 * connection under it (client gave up, read time-out): libevent then detaches
 * the unanswered request from the connection and calls the connection's close
 * callback, after which the request is ours to free. The close callback is
 * therefore set only while an answer is pending and cleared before replying.
 * evhttp does not read from a connection whose request awaits its answer, so
 * it would notice a client hanging up only when writing; a read watcher on
 * the socket notices it at once, which keeps in_flight honest during
 * token_hang and latency faults. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

const char *const sim_route_names[SIM_R_COUNT] = {
	"token", "list", "create", "get", "delete", "cancel", "access_token", "other"
};

struct sim_pending {
	struct sim_pending *prev, *next;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *timer;		/* NULL: never answer (token_hang) */
	struct event *watch;		/* notices the client hanging up */
	struct sim_reply reply;
	int close;			/* drop the connection instead */
	json_t *entry;			/* request log entry (own reference) */
};

/* What the faults make of one request. */
struct sim_action {
	long delay_ms;
	int close;
	int hang;
};

int sim_route_index(const char *name)
{
	int i;

	for (i = 0; i < SIM_R_COUNT; i++)
		if (strcmp(name, sim_route_names[i]) == 0)
			return i;
	return -1;
}

const char *sim_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : "Error";
	}
}

/* {"errors":[{"title":..,"detail":..,"source":..}]}: the shape every error
 * of the fleet API has (FleetErrors, ClearanceUnauthorizedErrors, ...). */
json_t *sim_errors(const char *title, const char *detail, const char *source)
{
	json_t *e = json_object();

	json_object_set_new(e, "title", json_string(title));
	if (source)
		json_object_set_new(e, "source", json_string(source));
	if (detail)
		json_object_set_new(e, "detail", json_string(detail));
	return json_pack("{s:[o]}", "errors", e);
}

void sim_reply_json(struct sim_reply *r, int status, json_t *body)
{
	json_decref(r->body);
	r->status = status;
	r->body = body;
}

void sim_reply_error(struct sim_reply *r, int status, const char *title,
		     const char *detail, const char *source)
{
	sim_reply_json(r, status, sim_errors(title, detail, source));
}

/* Parses the request body as JSON; on failure fills R with a 400 in the
 * fleet error shape and returns NULL. */
json_t *sim_parse_body(const struct sim_ctx *c, struct sim_reply *r)
{
	json_error_t err;
	json_t *j = json_loadb(c->body, c->body_len, 0, &err);
	char detail[256];

	if (!j) {
		snprintf(detail, sizeof(detail), "Invalid JSON body: %s", err.text);
		sim_reply_error(r, 400, "Bad Request", detail, "body");
	}
	return j;
}

static int sim_dump_cb(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

void sim_send_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	if (body)
		json_dump_callback(body, sim_dump_cb,
			evhttp_request_get_output_buffer(req), JSON_COMPACT);
	evhttp_send_reply(req, status, sim_reason(status), NULL);
}

static void sim_count_status(int status)
{
	char key[16];
	json_t *n;

	snprintf(key, sizeof(key), "%d", status);
	n = json_object_get(sim_g.stats.by_status, key);
	json_object_set_new(sim_g.stats.by_status, key,
		json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* Sends R (and frees its body): the one place answers to API routes leave. */
static void sim_finish(struct evhttp_request *req, struct sim_reply *r, json_t *entry)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char num[32];

	if (r->retry_after > 0) {
		snprintf(num, sizeof(num), "%ld", r->retry_after);
		evhttp_add_header(h, "Retry-After", num);
	}
	if (r->allow)
		evhttp_add_header(h, "Allow", r->allow);
	if (r->www_auth)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	/* W3C trace context answered as received, so tests can see fleetgate
	 * relay an upstream's trace headers back to its client. */
	static const char *const trace[] = { "traceparent", "tracestate" };
	for (int i = 0; i < 2; i++) {
		const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), trace[i]);
		if (v)
			evhttp_add_header(h, trace[i], v);
	}
	sim_send_json(req, r->status, r->body);
	sim_count_status(r->status);
	sim_g.stats.in_flight--;
	if (entry)
		json_object_set_new(entry, "status", json_integer(r->status));
	json_decref(r->body);
	r->body = NULL;
}

/* ---- request log ------------------------------------------------------ */

static const char *sim_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "UNKNOWN";
	}
}

/* A JSON string of bytes that may not be UTF-8: invalid bytes become '?'
 * so that a binary body still shows up in the log. */
static json_t *sim_json_bytes(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *copy;
	size_t i;

	if (j)
		return j;
	copy = malloc(len + 1);
	if (!copy)
		return json_string("");
	for (i = 0; i < len; i++)
		copy[i] = (s[i] & 0x80 || s[i] == 0) ? '?' : s[i];
	j = json_stringn(copy, len);
	free(copy);
	return j ? j : json_string("");
}

/* Headers as received; a repeated header keeps every value, joined with
 * ", ", so that a leaked client header next to an injected one shows. */
static json_t *sim_headers_json(struct evhttp_request *req)
{
	struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	json_t *o = json_object();
	json_t *old;
	char *joined;
	size_t n;

	TAILQ_FOREACH(kv, hs, next) {
		old = json_object_get(o, kv->key);
		if (!old) {
			json_object_set_new(o, kv->key, sim_json_bytes(kv->value, strlen(kv->value)));
			continue;
		}
		n = json_string_length(old) + strlen(kv->value) + 3;
		joined = malloc(n);
		if (!joined)
			continue;
		snprintf(joined, n, "%s, %s", json_string_value(old), kv->value);
		json_object_set_new(o, kv->key, sim_json_bytes(joined, strlen(joined)));
		free(joined);
	}
	return o;
}

/* Appends an entry for C to the ring; the ring owns it. */
static json_t *sim_log_add(const struct sim_ctx *c)
{
	size_t len = c->body_len < SIM_LOG_BODY_MAX ? c->body_len : SIM_LOG_BODY_MAX;
	json_t *e = json_object();
	size_t slot;

	json_object_set_new(e, "id", json_integer((json_int_t)++sim_g.log_seq));
	json_object_set_new(e, "method",
		json_string(sim_method_name(evhttp_request_get_command(c->req))));
	json_object_set_new(e, "path", sim_json_bytes(c->path, strlen(c->path)));
	json_object_set_new(e, "query", c->query ?
		sim_json_bytes(c->query, strlen(c->query)) : json_null());
	json_object_set_new(e, "route", json_string(sim_route_names[c->route]));
	json_object_set_new(e, "headers", sim_headers_json(c->req));
	json_object_set_new(e, "body", sim_json_bytes(c->body, len));
	if (len < c->body_len)
		json_object_set_new(e, "body_truncated", json_true());
	json_object_set_new(e, "time_ms", json_integer(sim_now_ms()));
	if (sim_g.log_len < SIM_LOG_MAX) {
		slot = (sim_g.log_head + sim_g.log_len++) % SIM_LOG_MAX;
	} else {
		slot = sim_g.log_head;
		sim_g.log_head = (sim_g.log_head + 1) % SIM_LOG_MAX;
		json_decref(sim_g.log[slot]);
	}
	sim_g.log[slot] = e;
	return e;
}

void sim_log_clear(void)
{
	size_t i;

	for (i = 0; i < sim_g.log_len; i++)
		json_decref(sim_g.log[(sim_g.log_head + i) % SIM_LOG_MAX]);
	sim_g.log_head = sim_g.log_len = 0;
}

json_t *sim_log_dump(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sim_g.log_len; i++)
		json_array_append(a, sim_g.log[(sim_g.log_head + i) % SIM_LOG_MAX]);
	return a;
}

/* ---- stats ------------------------------------------------------------ */

void sim_stats_clear(void)
{
	uint64_t in_flight = sim_g.stats.in_flight;	/* a gauge, not a counter */

	json_decref(sim_g.stats.by_status);
	memset(&sim_g.stats, 0, sizeof(sim_g.stats));
	sim_g.stats.by_status = json_object();
	sim_g.stats.in_flight = in_flight;
}

json_t *sim_stats_dump(void)
{
	const struct sim_stats *s = &sim_g.stats;
	json_t *req = json_object();
	int i;

	for (i = 0; i < SIM_R_COUNT; i++)
		json_object_set_new(req, sim_route_names[i],
			json_integer((json_int_t)s->requests[i]));
	return json_pack("{s:o,s:O,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"requests", req,
		"by_status", s->by_status,
		"tokens_issued", (json_int_t)s->tokens_issued,
		"unauthorized", (json_int_t)s->unauthorized,
		"rate_limited", (json_int_t)s->rate_limited,
		"list_rate_limited", (json_int_t)s->list_rate_limited,
		"in_flight", (json_int_t)s->in_flight,
		"vehicles", (json_int_t)sim_g.fleet.n,
		"tokens_live", (json_int_t)json_object_size(sim_g.tokens));
}

/* ---- deferred answers --------------------------------------------------- */

static void sim_pending_unlink_free(struct sim_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		sim_g.pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (p->timer)
		event_free(p->timer);
	if (p->watch)
		event_free(p->watch);
	json_decref(p->reply.body);
	json_decref(p->entry);
	free(p);
}

/* The client went away (or evhttp timed the connection out) before the
 * answer: libevent has detached the request, so freeing it is up to us. */
static void sim_pending_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct sim_pending *p = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (evhttp_request_get_connection(p->req) == NULL)
		evhttp_request_free(p->req);
	sim_g.stats.in_flight--;
	json_object_set_new(p->entry, "status", json_string("client_closed"));
	sim_pending_unlink_free(p);
}

/* Drops the connection without an answer; evhttp_connection_free frees the
 * request with it, so nothing of either is touched afterwards. */
static void sim_pending_drop(struct sim_pending *p, const char *why)
{
	struct evhttp_connection *evcon = p->evcon;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	sim_g.stats.in_flight--;
	json_object_set_new(p->entry, "status", json_string(why));
	sim_pending_unlink_free(p);
	evhttp_connection_free(evcon);
}

static void sim_pending_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_pending *p = arg;

	if (p->close) {
		sim_pending_drop(p, "closed");
		return;
	}
	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	sim_finish(p->req, &p->reply, p->entry);
	sim_pending_unlink_free(p);
}

/* The client hung up while the answer is pending. With EV_CLOSED (epoll's
 * EPOLLRDHUP) that is reported even when unread bytes such as a TLS
 * close_notify sit in the socket. Without it, the socket became readable:
 * EOF means the client hung up, data (a pipelined request) is left for
 * evhttp and the watch ends, since level-triggered readiness would spin. */
static void sim_pending_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_pending *p = arg;
	char ch;
	ssize_t n;

	if (what & EV_CLOSED) {
		sim_pending_drop(p, "client_closed");
		return;
	}
	n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		event_add(p->watch, NULL);
		return;
	}
	sim_pending_drop(p, "client_closed");
}

static void sim_pending_watch(struct sim_pending *p)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(p->evcon);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

	if (fd < 0)
		return;
	p->watch = event_new(sim_g.base, fd,
		(event_base_get_features(sim_g.base) & EV_FEATURE_EARLY_CLOSE) ?
		EV_CLOSED : EV_READ, sim_pending_watch_cb, p);
	if (p->watch)
		event_add(p->watch, NULL);
}

static void sim_defer(struct evhttp_request *req, struct sim_reply *r,
		      const struct sim_action *a, json_t *entry)
{
	struct sim_pending *p = calloc(1, sizeof(*p));
	struct timeval tv;

	if (!p) {
		sim_finish(req, r, entry);
		return;
	}
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->reply = *r;
	r->body = NULL;
	p->close = a->close;
	p->entry = json_incref(entry);
	p->next = sim_g.pending;
	if (p->next)
		p->next->prev = p;
	sim_g.pending = p;
	evhttp_connection_set_closecb(p->evcon, sim_pending_closecb, p);
	sim_pending_watch(p);
	if (a->hang)
		return;
	p->timer = evtimer_new(sim_g.base, sim_pending_timer_cb, p);
	tv.tv_sec = a->delay_ms / 1000;
	tv.tv_usec = (a->delay_ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
}

/* At exit: forget every deferred answer without touching its request;
 * evhttp_free frees the connections and the requests on them. */
void sim_pending_free_all(void)
{
	while (sim_g.pending) {
		evhttp_connection_set_closecb(sim_g.pending->evcon, NULL, NULL);
		sim_pending_unlink_free(sim_g.pending);
	}
}

/* ---- classification and faults ---------------------------------------- */

static int sim_is_method(const struct sim_ctx *c, enum evhttp_cmd_type m)
{
	return evhttp_request_get_command(c->req) == m;
}

static enum sim_route sim_method_route(struct sim_ctx *c, struct sim_reply *r,
	enum evhttp_cmd_type m1, enum sim_route r1,
	enum evhttp_cmd_type m2, enum sim_route r2, const char *allow)
{
	if (sim_is_method(c, m1))
		return r1;
	if (m2 && sim_is_method(c, m2))
		return r2;
	sim_reply_error(r, 405, "Method Not Allowed", "method not allowed on this route", "method");
	r->allow = allow;
	return SIM_R_OTHER;
}

/* Which route PATH is; fills R with 404/405 when it is none. VINBUF
 * receives the path VIN. */
static enum sim_route sim_classify(struct sim_ctx *c, struct sim_reply *r,
				   char *vinbuf, size_t vinlen)
{
	static const char veh[] = "/v1/fleets/vehicles/";
	static const char fleets[] = "/v1/fleets/";
	const char *p = c->path, *slash;

	if (strcmp(p, "/v1/access_tokens") == 0)
		return sim_method_route(c, r, EVHTTP_REQ_POST, SIM_R_TOKEN,
			EVHTTP_REQ_DELETE, SIM_R_TOKEN, "POST, DELETE");
	if (strcmp(p, "/v1/fleets/vehicles") == 0)
		return sim_method_route(c, r, EVHTTP_REQ_GET, SIM_R_LIST,
			EVHTTP_REQ_POST, SIM_R_CREATE, "GET, POST");
	if (strcmp(p, "/v1/fleets/access_tokens") == 0)
		return sim_method_route(c, r, EVHTTP_REQ_POST, SIM_R_ACCESS_TOKEN,
			0, SIM_R_OTHER, "POST");
	if (strncmp(p, veh, sizeof(veh) - 1) == 0 && p[sizeof(veh) - 1] &&
	    !strchr(p + sizeof(veh) - 1, '/') && strlen(p) - (sizeof(veh) - 1) < vinlen) {
		strcpy(vinbuf, p + sizeof(veh) - 1);
		c->vin = vinbuf;
		return sim_method_route(c, r, EVHTTP_REQ_GET, SIM_R_GET,
			EVHTTP_REQ_DELETE, SIM_R_DELETE, "GET, DELETE");
	}
	if (strncmp(p, fleets, sizeof(fleets) - 1) == 0) {
		p += sizeof(fleets) - 1;
		slash = strchr(p, '/');
		if (slash && slash > p && (size_t)(slash - p) < vinlen &&
		    strcmp(slash, "/cancel_activation") == 0) {
			memcpy(vinbuf, p, (size_t)(slash - p));
			vinbuf[slash - p] = 0;
			c->vin = vinbuf;
			return sim_method_route(c, r, EVHTTP_REQ_POST, SIM_R_CANCEL,
				0, SIM_R_OTHER, "POST");
		}
	}
	sim_reply_error(r, 404, "Not Found", "no such route", "path");
	return SIM_R_OTHER;
}

/* As upstream, a trailing slash names the same route. */
static enum sim_route sim_classify_path(struct sim_ctx *c, struct sim_reply *r,
					char *vinbuf, size_t vinlen)
{
	size_t n = strlen(c->path);
	const char *orig = c->path;
	enum sim_route route;
	char *trimmed;

	if (n < 2 || c->path[n - 1] != '/' || !(trimmed = strndup(c->path, n - 1)))
		return sim_classify(c, r, vinbuf, vinlen);
	c->path = trimmed;
	route = sim_classify(c, r, vinbuf, vinlen);
	c->path = orig;
	free(trimmed);
	return route;
}

/* Whether the fleet faults hit this request; consumes one of "count". */
static int sim_fleet_fault(enum sim_route route, struct sim_action *a, int *status)
{
	struct sim_faults *f = &sim_g.faults;

	if (!f->latency_ms && !f->status && !f->close)
		return 0;
	if (f->routes && !(f->routes & (1u << route)))
		return 0;
	a->delay_ms = f->latency_ms;
	a->close = f->close;
	*status = f->status;
	if (f->count > 0 && --f->count == 0) {
		f->latency_ms = 0;
		f->status = 0;
		f->close = 0;
		f->routes = 0;
		f->count = -1;
	}
	return 1;
}

static void sim_fault_reply(struct sim_reply *r, int status)
{
	char detail[64];

	if (status == 429) {
		r->retry_after = 1;
		sim_reply_error(r, 429, "Too many requests", "retry after 1s", "fleetgate-sim");
		return;
	}
	snprintf(detail, sizeof(detail), "injected fault: status %d", status);
	sim_reply_error(r, status, sim_reason(status), detail, "fleetgate-sim");
}

static void sim_token_fault_reply(struct sim_reply *r, int status)
{
	const char *code = status == 401 ? "invalid_client" :
			   status < 500 ? "invalid_request" : "server_error";

	sim_reply_json(r, status, json_pack("{s:s,s:s}", "error", code,
		"error_description", "injected fault"));
}

static void sim_handle(struct sim_ctx *c, struct sim_reply *r, struct sim_action *a)
{
	int status = 0;

	if (r->status)
		return;		/* 404 / 405 from classification */
	if (c->route == SIM_R_TOKEN) {
		a->hang = sim_g.faults.token_hang;
		a->delay_ms = sim_g.faults.token_latency_ms;
		if (a->hang)
			return;
		if (sim_g.faults.token_status)
			sim_token_fault_reply(r, sim_g.faults.token_status);
		else
			sim_oauth_route(c, r);
		return;
	}
	if (sim_fleet_fault(c->route, a, &status)) {
		if (status) {
			sim_fault_reply(r, status);
			return;
		}
		if (a->close)
			return;
	}
	sim_fleet_route(c, r);
}

static void sim_api_request(struct evhttp_request *req, const char *path, const char *query)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct sim_ctx c = { .req = req, .path = path, .query = query };
	struct sim_reply r = { 0 };
	struct sim_action a = { 0 };
	char vinbuf[128];
	char *body;
	json_t *entry;
	int scripted;

	c.body_len = evbuffer_get_length(in);
	body = malloc(c.body_len + 1);
	if (!body) {
		sim_send_json(req, 500, NULL);
		return;
	}
	evbuffer_copyout(in, body, c.body_len);
	body[c.body_len] = 0;
	c.body = body;
	c.route = sim_classify_path(&c, &r, vinbuf, sizeof(vinbuf));
	sim_g.stats.requests[c.route]++;
	sim_g.stats.in_flight++;
	entry = sim_log_add(&c);
	if (!r.status && (scripted = sim_script_answer(req, c.route))) {
		sim_count_status(scripted);
		sim_g.stats.in_flight--;
		json_object_set_new(entry, "status", json_integer(scripted));
		free(body);
		return;
	}
	sim_handle(&c, &r, &a);
	if (sim_g.cfg.verbose)
		fprintf(stderr, "fleetgate-sim: %s %s -> %d%s\n",
			sim_method_name(evhttp_request_get_command(req)), path, r.status,
			a.hang ? " (hang)" : a.close ? " (close)" : "");
	if (a.hang || a.close || a.delay_ms > 0)
		sim_defer(req, &r, &a, entry);
	else
		sim_finish(req, &r, entry);
	free(body);
}

void sim_http_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!path || !*path)
		path = "/";
	if (strncmp(path, "/_sim/", 6) == 0) {
		sim_control_cb(req, path);
		return;
	}
	sim_api_request(req, path, uri ? evhttp_uri_get_query(uri) : NULL);
}
