/* sim_control.c: the simulator's own control surface under /_sim/: counters,
 * the request log, reset, fault injection, token revocation, vehicle upserts,
 * a forced 429 window and scripted answers (sim_script.c). No
 * authentication: the simulator is a test tool and listens on loopback in
 * every use the project makes of it.
 *
 * These requests are not counted, logged or faulted: tests read the
 * counters to learn what fleetgate sent, and their own calls would blur that. */
#include "sim.h"

#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

static void sim_control_error(struct evhttp_request *req, int status, const char *detail)
{
	json_t *e = sim_errors(sim_reason(status), detail, "fleetgate-sim");

	sim_send_json(req, status, e);
	json_decref(e);
}

static void sim_control_ok(struct evhttp_request *req, json_t *body)
{
	sim_send_json(req, 200, body);
	json_decref(body);
}

/* The request body as JSON, or NULL after answering 400. An empty body is
 * an empty object, so `curl -X POST .../_sim/faults` clears the faults. */
static json_t *sim_control_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t err;
	json_t *j;
	char detail[200];

	if (len == 0)
		return json_object();
	j = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &err);
	if (!j) {
		snprintf(detail, sizeof(detail), "Invalid JSON body: %s", err.text);
		sim_control_error(req, 400, detail);
	}
	return j;
}

void sim_faults_clear(void)
{
	memset(&sim_g.faults, 0, sizeof(sim_g.faults));
	sim_g.faults.count = -1;
}

static json_t *sim_faults_dump(void)
{
	const struct sim_faults *f = &sim_g.faults;
	json_t *o = json_object(), *routes;
	int i;

	if (f->latency_ms)
		json_object_set_new(o, "latency_ms", json_integer(f->latency_ms));
	if (f->status)
		json_object_set_new(o, "status", json_integer(f->status));
	if (f->close)
		json_object_set_new(o, "close", json_true());
	if (f->routes) {
		routes = json_array();
		for (i = 0; i < SIM_R_COUNT; i++)
			if (f->routes & (1u << i))
				json_array_append_new(routes, json_string(sim_route_names[i]));
		json_object_set_new(o, "routes", routes);
	}
	if (f->count >= 0)
		json_object_set_new(o, "count", json_integer(f->count));
	if (f->token_status)
		json_object_set_new(o, "token_status", json_integer(f->token_status));
	if (f->token_hang)
		json_object_set_new(o, "token_hang", json_true());
	if (f->token_latency_ms)
		json_object_set_new(o, "token_latency_ms", json_integer(f->token_latency_ms));
	return o;
}

static int sim_int_field(json_t *v, long min, long max, long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

static int sim_bool_field(json_t *v, int *out)
{
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

static int sim_status_field(json_t *v, int *out)
{
	long n;

	if (json_is_integer(v) && json_integer_value(v) == 0) {
		*out = 0;
		return 0;
	}
	if (sim_int_field(v, 100, 599, &n))
		return -1;
	*out = (int)n;
	return 0;
}

static int sim_routes_field(json_t *v, unsigned *out)
{
	json_t *it;
	size_t i;
	int r;

	if (!json_is_array(v))
		return -1;
	*out = 0;
	json_array_foreach(v, i, it) {
		r = json_is_string(it) ? sim_route_index(json_string_value(it)) : -1;
		if (r < 0 || r == SIM_R_TOKEN)
			return -1;
		*out |= 1u << r;
	}
	return 0;
}

/* Fills F from J; returns the offending key, or NULL when J is valid. */
static const char *sim_faults_parse(json_t *j, struct sim_faults *f)
{
	const char *k;
	json_t *v;
	int bad;

	json_object_foreach(j, k, v) {
		if (!strcmp(k, "latency_ms"))
			bad = sim_int_field(v, 0, 3600000, &f->latency_ms);
		else if (!strcmp(k, "token_latency_ms"))
			bad = sim_int_field(v, 0, 3600000, &f->token_latency_ms);
		else if (!strcmp(k, "status"))
			bad = sim_status_field(v, &f->status);
		else if (!strcmp(k, "token_status"))
			bad = sim_status_field(v, &f->token_status);
		else if (!strcmp(k, "close"))
			bad = sim_bool_field(v, &f->close);
		else if (!strcmp(k, "token_hang"))
			bad = sim_bool_field(v, &f->token_hang);
		else if (!strcmp(k, "routes"))
			bad = sim_routes_field(v, &f->routes);
		else if (!strcmp(k, "count"))
			bad = sim_int_field(v, 1, 1000000000, &f->count);
		else
			bad = 1;
		if (bad)
			return k;
	}
	return NULL;
}

static void sim_control_faults_set(struct evhttp_request *req)
{
	struct sim_faults f;
	const char *bad;
	char detail[160];
	json_t *j = sim_control_body(req);

	if (!j)
		return;
	memset(&f, 0, sizeof(f));
	f.count = -1;
	bad = json_is_object(j) ? sim_faults_parse(j, &f) : "(body)";
	if (bad) {
		/* BAD is a key of J: use it before J goes. */
		snprintf(detail, sizeof(detail), "bad fault field %.80s (see docs/simulator.md)", bad);
		json_decref(j);
		sim_control_error(req, 400, detail);
		return;
	}
	json_decref(j);
	sim_g.faults = f;
	sim_control_ok(req, sim_faults_dump());
}

static void sim_control_faults(struct evhttp_request *req, enum evhttp_cmd_type m)
{
	if (m == EVHTTP_REQ_POST) {
		sim_control_faults_set(req);
		return;
	}
	if (m == EVHTTP_REQ_DELETE)
		sim_faults_clear();
	sim_control_ok(req, sim_faults_dump());
}

static const char *sim_vehicle_entry_check(json_t *it)
{
	json_t *brand = json_object_get(it, "brand"), *tags = json_object_get(it, "tags");

	if (!json_is_string(json_object_get(it, "vin")))
		return "every entry needs a string \"vin\"";
	if (!sim_status_intern(json_string_value(json_object_get(it, "status"))))
		return "every entry needs a known \"status\"";
	if (brand && !json_is_string(brand))
		return "\"brand\" must be a string";
	if (tags && !json_is_object(tags))
		return "\"tags\" must be an object";
	return NULL;
}

static void sim_control_vehicles_set(struct evhttp_request *req)
{
	const char *bad = NULL;
	json_t *j = sim_control_body(req), *it;
	size_t i;

	if (!j)
		return;
	if (!json_is_array(j))
		bad = "body must be a JSON array of {\"vin\",\"status\",\"brand\"}";
	json_array_foreach(j, i, it)
		if (!bad)
			bad = sim_vehicle_entry_check(it);
	if (bad) {
		sim_control_error(req, 400, bad);
		json_decref(j);
		return;
	}
	json_array_foreach(j, i, it)
		sim_fleet_upsert(json_string_value(json_object_get(it, "vin")),
			sim_status_intern(json_string_value(json_object_get(it, "status"))),
			json_string_value(json_object_get(it, "brand")),
			json_object_get(it, "tags"), 0);
	sim_control_ok(req, json_pack("{s:I}", "upserted", (json_int_t)json_array_size(j)));
	json_decref(j);
}

static void sim_control_rate_limit(struct evhttp_request *req)
{
	json_t *j = sim_control_body(req);
	long n;
	int bad;

	if (!j)
		return;
	bad = sim_int_field(json_object_get(j, "retry_after"), 0, 86400, &n);
	json_decref(j);
	if (bad) {
		sim_control_error(req, 400, "retry_after must be an integer of seconds");
		return;
	}
	sim_g.window.forced_until_ms = n ? sim_now_ms() + n * 1000 : 0;
	sim_control_ok(req, json_pack("{s:i}", "retry_after", (int)n));
}

static void sim_control_reset(struct evhttp_request *req)
{
	sim_stats_clear();
	sim_log_clear();
	sim_faults_clear();
	sim_window_clear();
	sim_script_clear();
	sim_webhook_clear();
	sim_control_ok(req, json_pack("{s:b}", "reset", 1));
}

static void sim_control_webhooks(struct evhttp_request *req, enum evhttp_cmd_type m)
{
	json_t *j = m == EVHTTP_REQ_POST ? sim_control_body(req) : json_object();
	const char *err;
	json_t *out;

	if (!j)
		return;
	out = sim_webhook_control(m, j, &err);
	json_decref(j);
	if (!out)
		sim_control_error(req, 400, err);
	else
		sim_control_ok(req, out);
}

static void sim_control_revoke(struct evhttp_request *req)
{
	size_t n = json_object_size(sim_g.tokens);

	sim_tokens_revoke();
	sim_control_ok(req, json_pack("{s:I}", "revoked", (json_int_t)n));
}

/* Route table: path, allowed methods, handler. */
void sim_control_cb(struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	int get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST;

	if (!strcmp(path, "/_sim/stats") && get)
		sim_control_ok(req, sim_stats_dump());
	else if (!strcmp(path, "/_sim/requests") && get)
		sim_control_ok(req, sim_log_dump());
	else if (!strcmp(path, "/_sim/reset") && post)
		sim_control_reset(req);
	else if (!strcmp(path, "/_sim/faults") && (get || post || m == EVHTTP_REQ_DELETE))
		sim_control_faults(req, m);
	else if (!strcmp(path, "/_sim/revoke_tokens") && post)
		sim_control_revoke(req);
	else if (!strcmp(path, "/_sim/vehicles") && get)
		sim_control_ok(req, sim_fleet_dump());
	else if (!strcmp(path, "/_sim/vehicles") && post)
		sim_control_vehicles_set(req);
	else if (!strcmp(path, "/_sim/script") && (get || post || m == EVHTTP_REQ_DELETE))
		sim_script_control(req, m);
	else if (!strcmp(path, "/_sim/webhooks") && (get || post || m == EVHTTP_REQ_DELETE))
		sim_control_webhooks(req, m);
	else if (!strcmp(path, "/_sim/rate_limit") && post)
		sim_control_rate_limit(req);
	else
		sim_control_error(req, 404, "no such control route (see docs/simulator.md)");
}
