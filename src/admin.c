/* admin.c: health, readiness, stats, metrics, cache purge and ending an
 * upstream 429 pause, in a dispatch table. Runs on the main thread, so a
 * busy worker never delays a health check. Only counts and names leave here: the token section says
 * whether a token is valid and for how long, never what it is. */
#include "admin.h"
#include "batch.h"
#include "budget.h"
#include "clock.h"
#include "cache.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "redis_stats.h"
#include "method.h"
#include "metric.h"
#include "stats.h"
#include "status.h"
#include "token.h"
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

static void admin_send_json(struct evhttp_request *req, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct evbuffer *b = evbuffer_new();
	if (s && b)
		evbuffer_add(b, s, strlen(s));
	free(s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	http_reply(req, status, b);
	if (b)
		evbuffer_free(b);
}

static void admin_healthz(struct evhttp_request *req)
{
	admin_send_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void admin_readyz(struct evhttp_request *req)
{
	char reason[512], detail[256];
	struct fg_config *c = config_current();
	bool redis_on = config_redis_on(c);
	config_unref(c);
	if (token_ready(reason, sizeof reason) && redis_on && redis_stats_ready_detail(detail, sizeof detail))
		admin_send_json(req, 200, json_pack("{s:s,s:s}", "status", "ready", "detail", detail));
	else if (token_ready(reason, sizeof reason))
		admin_send_json(req, 200, json_pack("{s:s}", "status", "ready"));
	else
		admin_send_json(req, 503, json_pack("{s:s,s:s}", "status", "not ready", "reason", reason));
}

static json_t *admin_sub(json_t *root, const char *key)
{
	json_t *o = json_object_get(root, key);
	if (!o) {
		o = json_object();
		json_object_set_new(root, key, o);
	}
	return o;
}

/* token: whether one is held and for how long, never what it is. */
static void admin_stats_token(json_t *root)
{
	struct token_stats ts;
	token_get_stats(&ts);
	json_t *t = admin_sub(root, "token");
	json_object_set_new(t, "valid", json_boolean(ts.valid));
	json_object_set_new(t, "expires_in_s", json_integer((json_int_t)ts.expires_in_s));
	json_object_set_new(t, "refreshes", json_integer((json_int_t)ts.refreshes));
	json_object_set_new(t, "failures", json_integer((json_int_t)ts.failures));
	json_object_set_new(t, "failures_rejected", json_integer((json_int_t)ts.fail_rejected));
	json_object_set_new(t, "failures_transient", json_integer((json_int_t)ts.fail_transient));
	json_object_set_new(t, "rejected_by_upstream", json_integer((json_int_t)ts.rejected_by_upstream));
	json_object_set_new(t, "last_refresh_ago_s", ts.last_refresh_ago_s < 0 ? json_null()
				    : json_integer((json_int_t)ts.last_refresh_ago_s));
}

/* readiness: what /readyz would answer now, so one snapshot says it. */
static void admin_stats_ready(json_t *root)
{
	char reason[512];
	bool ok = token_ready(reason, sizeof reason);
	json_t *r = admin_sub(root, "readiness");
	json_object_set_new(r, "ready", json_boolean(ok));
	if (!ok)
		json_object_set_new(r, "reason", json_string(reason));
}

static void admin_stats_config(json_t *root)
{
	struct fg_config *c = config_current();
	json_t *cf = admin_sub(root, "config");
	json_object_set_new(cf, "generation", json_integer(c ? c->generation : 0));
	json_object_set_new(cf, "tenants", json_integer(c ? (json_int_t)c->ntenants : 0));
	json_object_set_new(cf, "vins", json_integer(c ? (json_int_t)c->nvins : 0));
	json_object_set_new(admin_sub(root, "cache"), "max_bytes",
			    json_integer(c ? (json_int_t)c->cache_max_bytes : 0));
	if (c)
		config_unref(c);
}

/* The /stats document: every figure the admin surface reports, read now.
 * The status page renders this same snapshot, never figures of its own. */
static json_t *admin_stats_snapshot(void)
{
	json_t *root = stats_json();
	admin_stats_ready(root);
	admin_stats_token(root);
	admin_stats_config(root);
	json_object_set_new(admin_sub(root, "requests"), "in_flight", json_integer(http_in_flight()));
	json_object_set_new(admin_sub(root, "connections"), "open", json_integer(http_connections()));
	cache_stats_json(admin_sub(root, "cache"));
	budget_stats_json(admin_sub(root, "budget"));
	batch_stats_json(root);
	struct fg_config *c = config_current();
	if (config_redis_on(c))
		redis_stats_json(admin_sub(root, "redis"));
	config_unref(c);
	return root;
}

static void admin_stats(struct evhttp_request *req)
{
	admin_send_json(req, 200, admin_stats_snapshot());
}

static void admin_status(struct evhttp_request *req)
{
	status_page(req, admin_stats_snapshot());
}

static void admin_metrics_token(struct evbuffer *b)
{
	struct token_stats ts;
	token_get_stats(&ts);
	evbuffer_add_printf(b,
		"# HELP fleetgate_token_refreshes_total Token requests by result: ok, rejected (credentials refused: fix the configuration), failed (5xx, time-out, unusable answer)\n"
		"# TYPE fleetgate_token_refreshes_total counter\n"
		"fleetgate_token_refreshes_total{result=\"ok\"} %llu\n"
		"fleetgate_token_refreshes_total{result=\"rejected\"} %llu\n"
		"fleetgate_token_refreshes_total{result=\"failed\"} %llu\n"
		"# HELP fleetgate_token_upstream_rejections_total Tokens marked bad after an upstream 401\n"
		"# TYPE fleetgate_token_upstream_rejections_total counter\n"
		"fleetgate_token_upstream_rejections_total %llu\n",
		(unsigned long long)ts.refreshes, (unsigned long long)ts.fail_rejected,
		(unsigned long long)ts.fail_transient, (unsigned long long)ts.rejected_by_upstream);
	metric_gauge(b, "token_expiry_seconds", "Seconds the current token may still be sent (0 when none)",
		     ts.expires_in_s);
	metric_gauge(b, "token_valid", "Whether a usable token is held (1) or not (0)", ts.valid ? 1 : 0);
}

static void admin_metrics_gauges(struct evbuffer *b)
{
	struct fg_config *c = config_current();
	metric_gauge(b, "config_generation", "Generation of the configuration in force", c ? c->generation : 0);
	metric_gauge(b, "config_tenants", "Tenants loaded", c ? (double)c->ntenants : 0);
	metric_gauge(b, "config_vins", "VINs loaded over all tenants", c ? (double)c->nvins : 0);
	metric_gauge(b, "requests_in_flight", "Requests not answered yet", (double)http_in_flight());
	metric_gauge(b, "connections_open", "Client connections open on tenant listeners", (double)http_connections());
	if (c)
		config_unref(c);
}

static void admin_metrics(struct evhttp_request *req)
{
	size_t len = 0;
	char *text = stats_prometheus(&len);
	struct evbuffer *b = evbuffer_new();
	if (!text || !b) {
		free(text);
		if (b)
			evbuffer_free(b);
		http_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(b, text, len);
	free(text);
	admin_metrics_token(b);
	admin_metrics_gauges(b);
	cache_metrics(b);
	budget_metrics(b);
	batch_metrics(b);
	struct fg_config *c = config_current();
	if (config_redis_on(c))
		redis_stats_metrics(b);
	config_unref(c);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	http_reply(req, 200, b);
	evbuffer_free(b);
}

static void admin_purge(struct evhttp_request *req)
{
	struct evkeyvalq q;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		http_send_error(req, 400, "malformed query string");
		return;
	}
	const char *vin = evhttp_find_header(&q, "vin");
	int rc = cache_purge(vin);
	evhttp_clear_headers(&q);
	if (rc < 0) {
		http_send_error(req, 400, "the vin parameter is not a VIN");
		return;
	}
	admin_send_json(req, 200, json_pack("{s:s,s:i}", "status", "purged", "entries", rc));
}

/* An operator who knows the upstream is serving again ends its 429 pause
 * without waiting out the (capped) hour. */
static void admin_budget_resume(struct evhttp_request *req)
{
	double left = budget_resume(budget_shared(), clock_now());
	if (left > 0)
		log_info("admin: upstream pause of single-VIN reads ended by POST /budget/resume (%.0f s were left)", left);
	admin_send_json(req, 200, json_pack("{s:s,s:f}", "status", "resumed", "paused_for_s", left));
}

struct admin_route {
	enum fg_method method;
	const char *path;
	void (*fn)(struct evhttp_request *);
};

static const struct admin_route admin_routes[] = {
	{ FG_GET, "/", admin_status },
	{ FG_GET, "/healthz", admin_healthz },
	{ FG_GET, "/readyz", admin_readyz },
	{ FG_GET, "/stats", admin_stats },
	{ FG_GET, "/metrics", admin_metrics },
	{ FG_POST, "/cache/purge", admin_purge },
	{ FG_POST, "/budget/resume", admin_budget_resume },
};

void admin_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	enum fg_method m = method_from_evhttp(evhttp_request_get_command(req));
	const char *allow = NULL;   /* each admin path takes one method */
	for (size_t i = 0; path && i < sizeof admin_routes / sizeof *admin_routes; i++) {
		if (strcmp(path, admin_routes[i].path) != 0)
			continue;
		allow = method_name(admin_routes[i].method);
		if (m == admin_routes[i].method) {
			admin_routes[i].fn(req);
			return;
		}
	}
	if (allow) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		http_send_error(req, 405, "this method is not allowed on this path");
		return;
	}
	http_send_error(req, 404, "no such admin route");
}
