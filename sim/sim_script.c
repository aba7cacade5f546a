/* sim_script.c: scripted answers, the simulator playing a hostile upstream.
 *
 * `POST /_sim/script` hands the next answers of one route a status, raw
 * body and headers chosen by the test, sent byte for byte: an access_token
 * with a CR/LF in it, an expires_in of 1e300, a status of 999, a header
 * value with control characters, a body padded to many megabytes. Nothing
 * of it is checked, on purpose; a real API never answers like this, and
 * fleetgate must survive it anyway.
 *
 * A scripted answer still counts in /_sim/stats and the request log, so a
 * test sees what fleetgate sent while the script answered. With delay_ms
 * it is sent that much later (a timer; a client that hangs up meanwhile
 * gets nothing), so a test can have several requests wait for one. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#define SIM_SCRIPT_PAD_MAX (1L << 30)

struct sim_script {
	int status;
	char *body;
	size_t body_len;
	json_t *headers;	/* object of strings; NULL = JSON Content-Type */
	long pad_bytes;		/* spaces after the body */
	long count;		/* answers left; -1 = until cleared */
	int chunked;		/* no Content-Length: the length is learnt by reading */
	long delay_ms;		/* sent this much later */
};

/* A scripted answer waiting for its delay. */
struct sim_script_late {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct evbuffer *out;
	struct event *timer;
	int status, chunked;
};

static struct sim_script *sim_scripts[SIM_R_COUNT];

static void sim_script_free(struct sim_script *s)
{
	if (!s)
		return;
	free(s->body);
	json_decref(s->headers);
	free(s);
}

void sim_script_clear(void)
{
	int i;

	for (i = 0; i < SIM_R_COUNT; i++) {
		sim_script_free(sim_scripts[i]);
		sim_scripts[i] = NULL;
	}
}

static json_t *sim_script_dump(void)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < SIM_R_COUNT; i++)
		if (sim_scripts[i])
			json_object_set_new(o, sim_route_names[i], json_pack("{s:i,s:I,s:I}",
				"status", sim_scripts[i]->status,
				"body_bytes", (json_int_t)(sim_scripts[i]->body_len + (size_t)sim_scripts[i]->pad_bytes),
				"count", (json_int_t)sim_scripts[i]->count));
	return o;
}

static int sim_script_long(json_t *v, long min, long max, long *out)
{
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

/* Fills S from J; returns what is wrong, or NULL. */
static const char *sim_script_parse(json_t *j, struct sim_script *s, int *route)
{
	json_t *r = json_object_get(j, "route"), *b = json_object_get(j, "body");
	json_t *h = json_object_get(j, "headers"), *v;
	const char *k;
	long status = 200, count = 1;

	*route = json_is_string(r) ? sim_route_index(json_string_value(r)) : -1;
	if (*route < 0)
		return "\"route\" must name a route (token, list, create, get, ...)";
	if (sim_script_long(json_object_get(j, "status"), 1, 999, &status))
		return "\"status\" must be an integer from 1 to 999";
	if (sim_script_long(json_object_get(j, "count"), -1, 1000000000, &count) || count == 0)
		return "\"count\" must be a positive integer, or -1 for until cleared";
	if (sim_script_long(json_object_get(j, "pad_bytes"), 0, SIM_SCRIPT_PAD_MAX, &s->pad_bytes))
		return "\"pad_bytes\" must be an integer from 0 to 1 GiB";
	if (sim_script_long(json_object_get(j, "delay_ms"), 0, 60000, &s->delay_ms))
		return "\"delay_ms\" must be an integer from 0 to 60000";
	v = json_object_get(j, "chunked");
	if (v && !json_is_boolean(v))
		return "\"chunked\" must be true or false";
	s->chunked = json_is_true(v);
	if (b && !json_is_string(b))
		return "\"body\" must be a string";
	if (h && !json_is_object(h))
		return "\"headers\" must be an object of strings";
	json_object_foreach(h, k, v)
		if (!json_is_string(v))
			return "\"headers\" must be an object of strings";
	s->status = (int)status;
	s->count = count;
	s->body_len = b ? json_string_length(b) : 0;
	s->body = malloc(s->body_len + 1);
	if (!s->body)
		return "out of memory";
	memcpy(s->body, b ? json_string_value(b) : "", s->body_len + 1);
	s->headers = json_incref(h);
	return NULL;
}

void sim_script_control(struct evhttp_request *req, enum evhttp_cmd_type m)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct sim_script *s;
	const char *bad = "body must be a JSON object";
	json_t *j;
	int route;

	if (m == EVHTTP_REQ_DELETE)
		sim_script_clear();
	if (m != EVHTTP_REQ_POST) {
		j = sim_script_dump();
		sim_send_json(req, 200, j);
		json_decref(j);
		return;
	}
	j = json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, NULL);
	s = calloc(1, sizeof(*s));
	if (s && json_is_object(j))
		bad = sim_script_parse(j, s, &route);
	json_decref(j);
	if (!s || bad) {
		sim_script_free(s);
		j = sim_errors("Bad Request", s ? bad : "out of memory", "fleetgate-sim");
		sim_send_json(req, 400, j);
		json_decref(j);
		return;
	}
	sim_script_free(sim_scripts[route]);
	sim_scripts[route] = s;
	j = sim_script_dump();
	sim_send_json(req, 200, j);
	json_decref(j);
}

static void sim_script_send(struct evhttp_request *req, int status, struct evbuffer *out, int chunked)
{
	if (chunked) {
		evhttp_send_reply_start(req, status, sim_reason(status));
		evhttp_send_reply_chunk(req, out);
		evhttp_send_reply_end(req);
	} else {
		evhttp_send_reply(req, status, sim_reason(status), out);
	}
}

static void sim_script_late_free(struct sim_script_late *l)
{
	event_free(l->timer);
	evbuffer_free(l->out);
	free(l);
}

/* The client hung up before the delay was over: its request is gone. */
static void sim_script_late_gone(struct evhttp_connection *evcon, void *arg)
{
	struct sim_script_late *l = arg;
	(void)evcon;
	sim_script_late_free(l);
}

static void sim_script_late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_script_late *l = arg;
	(void)fd;
	(void)what;
	evhttp_connection_set_closecb(l->evcon, NULL, NULL);
	sim_script_send(l->req, l->status, l->out, l->chunked);
	sim_script_late_free(l);
}

/* Sends OUT after DELAY_MS; 0 when it could not be set up. */
static int sim_script_later(struct evhttp_request *req, int status, struct evbuffer *out, int chunked,
			    long delay_ms)
{
	struct sim_script_late *l = calloc(1, sizeof(*l));
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };

	if (!l || !(l->timer = evtimer_new(sim_g.base, sim_script_late_cb, l))) {
		free(l);
		return 0;
	}
	l->req = req;
	l->evcon = evhttp_request_get_connection(req);
	l->out = out;
	l->status = status;
	l->chunked = chunked;
	evhttp_connection_set_closecb(l->evcon, sim_script_late_gone, l);
	evtimer_add(l->timer, &tv);
	return 1;
}

/* Sends the scripted answer for ROUTE when there is one; returns its
 * status, or 0 when the route has no script. */
int sim_script_answer(struct evhttp_request *req, enum sim_route route)
{
	struct sim_script *s = sim_scripts[route];
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out;
	const char *k;
	json_t *v;
	char chunk[4096];
	long left;
	int status;

	if (!s)
		return 0;
	status = s->status;
	out = evbuffer_new();
	if (!out)
		return 0;
	if (s->headers)
		json_object_foreach(s->headers, k, v)
			evhttp_add_header(h, k, json_string_value(v));
	else
		evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(out, s->body, s->body_len);
	memset(chunk, ' ', sizeof(chunk));
	for (left = s->pad_bytes; left > 0; left -= (long)sizeof(chunk))
		evbuffer_add(out, chunk, left < (long)sizeof(chunk) ? (size_t)left : sizeof(chunk));
	if (!s->delay_ms || !sim_script_later(req, status, out, s->chunked, s->delay_ms)) {
		sim_script_send(req, status, out, s->chunked);
		evbuffer_free(out);
	}
	if (s->count > 0 && --s->count == 0) {
		sim_script_free(s);
		sim_scripts[route] = NULL;
	}
	return status;
}
