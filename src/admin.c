/* admin.c: health, readiness, stats, metrics, cache purge and ending an
 * upstream 429 pause, in a dispatch table. Runs on the main thread, so a
 * busy worker never delays a health check. Only counts and names leave here: the token section says
 * whether a token is valid and for how long, never what it is.
 *
 * POST routes change what the gateway does: each leaves an audit line
 * (with the client), and when [gateway] admin_token_sha256 is set they
 * need that token as a bearer (compared as a hash in constant time, never
 * logged). The process_* families follow the Prometheus client libraries'
 * standard names, read from /proc/self. */
#include "admin.h"
#include "up_listread.h"
#include "budget.h"
#include "clock.h"
#include "cache.h"
#include "conf.h"
#include "http.h"
#include "http_listen.h"
#include "http_tls.h"
#include "log.h"
#include "redis_stats.h"
#include "req_policy.h"
#include "redis_cache.h"
#include "method.h"
#include "metric.h"
#include "stats.h"
#include "admin_page.h"
#include "hook_in.h"
#include "up_token.h"
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
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

static atomic_bool admin_draining;

void admin_set_draining(void) { atomic_store(&admin_draining, true); }

static void admin_readyz(struct evhttp_request *req)
{
	char reason[512], detail[256];
	struct fg_config *c = conf_current();
	bool redis_on = conf_redis_on(c);
	conf_unref(c);
	if (atomic_load(&admin_draining))
		admin_send_json(req, 503, json_pack("{s:s,s:s}", "status", "not ready", "reason",
						    "draining: the gateway is stopping"));
	else if (up_token_ready(reason, sizeof reason) && redis_on && redis_stats_ready_detail(detail, sizeof detail))
		admin_send_json(req, 200, json_pack("{s:s,s:s}", "status", "ready", "detail", detail));
	else if (up_token_ready(reason, sizeof reason))
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
	up_token_get_stats(&ts);
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
	bool ok = up_token_ready(reason, sizeof reason);
	if (atomic_load(&admin_draining)) {
		ok = false;   /* what /readyz answers while the gateway stops */
		snprintf(reason, sizeof reason, "draining: the gateway is stopping");
	}
	json_t *r = admin_sub(root, "readiness");
	json_object_set_new(r, "ready", json_boolean(ok));
	if (!ok)
		json_object_set_new(r, "reason", json_string(reason));
}

static void admin_stats_config(json_t *root)
{
	struct fg_config *c = conf_current();
	json_t *cf = admin_sub(root, "config");
	json_object_set_new(cf, "generation", json_integer(c ? c->generation : 0));
	json_object_set_new(cf, "tenants", json_integer(c ? (json_int_t)c->ntenants : 0));
	json_object_set_new(cf, "vins", json_integer(c ? (json_int_t)c->nvins : 0));
	json_object_set_new(admin_sub(root, "cache"), "max_bytes",
			    json_integer(c ? (json_int_t)c->cache_max_bytes : 0));
	bool loaded_ok;
	json_object_set_new(cf, "last_reload_time", json_real(stats_last_load(&loaded_ok)));
	json_object_set_new(cf, "last_reload_success", json_boolean(loaded_ok));
	if (c)
		conf_unref(c);
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
	json_object_set_new(admin_sub(root, "connections"), "admin_open", json_integer(http_listen_admin_connections()));
	cache_stats_json(admin_sub(root, "cache"));
	budget_stats_json(admin_sub(root, "budget"));
	up_listread_stats_json(root);
	hook_in_stats_json(root);
	struct fg_config *c = conf_current();
	if (conf_redis_on(c))
		redis_stats_json(admin_sub(root, "redis"));
	if (redis_cache_on())
		redis_cache_stats_json(admin_sub(root, "cache"));
	json_object_set_new(root, "tls", http_tls_json(c));
	conf_unref(c);
	return root;
}

static void admin_stats(struct evhttp_request *req)
{
	admin_send_json(req, 200, admin_stats_snapshot());
}

static void admin_status(struct evhttp_request *req)
{
	admin_page_serve(req, admin_stats_snapshot());
}

static void admin_metrics_token(struct evbuffer *b)
{
	struct token_stats ts;
	up_token_get_stats(&ts);
	const char *name = "fleetgate_token_refreshes_total";
	metric_family(b, name, METRIC_COUNTER,
		      "Token requests by result: ok, rejected (credentials refused: fix the configuration), failed (5xx, time-out, unusable answer)");
	metric_u64(b, name, (const char *const[]){ "result", "ok", NULL }, ts.refreshes);
	metric_u64(b, name, (const char *const[]){ "result", "rejected", NULL }, ts.fail_rejected);
	metric_u64(b, name, (const char *const[]){ "result", "failed", NULL }, ts.fail_transient);
	name = "fleetgate_token_upstream_rejections_total";
	metric_family(b, name, METRIC_COUNTER, "Tokens marked bad after an upstream 401");
	metric_u64(b, name, NULL, ts.rejected_by_upstream);
	metric_gauge(b, "token_expiry_seconds", "Seconds the current token may still be sent (0 when none)",
		     ts.expires_in_s);
	metric_gauge(b, "token_valid", "Whether a usable token is held (1) or not (0)", ts.valid ? 1 : 0);
}

static void admin_metrics_gauges(struct evbuffer *b)
{
	struct fg_config *c = conf_current();
	metric_gauge(b, "config_generation", "Generation of the configuration in force", c ? c->generation : 0);
	metric_gauge(b, "config_tenants", "Tenants loaded", c ? (double)c->ntenants : 0);
	metric_gauge(b, "config_vins", "VINs loaded over all tenants", c ? (double)c->nvins : 0);
	metric_gauge(b, "requests_in_flight", "Requests not answered yet", (double)http_in_flight());
	metric_gauge(b, "connections_open", "Client connections open on tenant listeners", (double)http_connections());
	metric_gauge(b, "admin_connections_open", "Connections open on the admin listener",
		     (double)http_listen_admin_connections());
	bool loaded_ok;
	metric_gauge(b, "config_last_reload_timestamp_seconds",
		     "Unix time the configuration in force was loaded (start-up or SIGHUP)", stats_last_load(&loaded_ok));
	metric_gauge(b, "config_last_reload_success", "Whether the last load or reload succeeded (1) or was refused (0)",
		     loaded_ok ? 1 : 0);
	if (c)
		conf_unref(c);
}

/* Start time as Unix seconds: /proc/self/stat field 22 (clock ticks after
 * boot) plus the boot time in /proc/stat. 0 when either is unreadable. */
static double admin_proc_start_time(void)
{
	static double cached;
	if (cached > 0)
		return cached;
	char buf[1024];
	unsigned long long ticks = 0, btime = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: count from the
	 * last ')', after which field 3 begins. */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	f = fopen("/proc/stat", "r");
	while (f && fgets(buf, sizeof buf, f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	if (f)
		fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	if (!btime || hz <= 0)
		return 0;
	cached = (double)btime + (double)ticks / (double)hz;
	return cached;
}

static long admin_proc_open_fds(void)
{
	long n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the descriptor opendir itself holds */
}

static void admin_metrics_process(struct evbuffer *b)
{
	struct rusage ru;
	struct rlimit rl;
	unsigned long long vsz = 0, rss = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	double maxfds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : -1;
	/* The standard process collector's names, help and units, as every
	 * Prometheus client library exports them. */
	metric_family(b, "process_cpu_seconds_total", METRIC_COUNTER, "Total user and system CPU time spent in seconds.");
	metric_fixed(b, "process_cpu_seconds_total", NULL, cpu, 2);
	metric_family(b, "process_resident_memory_bytes", METRIC_GAUGE, "Resident memory size in bytes.");
	metric_u64(b, "process_resident_memory_bytes", NULL, rss * (unsigned long long)page);
	metric_family(b, "process_virtual_memory_bytes", METRIC_GAUGE, "Virtual memory size in bytes.");
	metric_u64(b, "process_virtual_memory_bytes", NULL, vsz * (unsigned long long)page);
	metric_family(b, "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
	metric_value(b, "process_open_fds", NULL, (double)admin_proc_open_fds());
	metric_family(b, "process_max_fds", METRIC_GAUGE, "Maximum number of open file descriptors.");
	metric_fixed(b, "process_max_fds", NULL, maxfds, 0);
	metric_family(b, "process_start_time_seconds", METRIC_GAUGE,
		      "Start time of the process since unix epoch in seconds.");
	metric_fixed(b, "process_start_time_seconds", NULL, admin_proc_start_time(), 2);
}

static void admin_metrics(struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	if (!b || !stats_prometheus(b)) {
		if (b)
			evbuffer_free(b);
		http_send_error(req, 500, "out of memory");
		return;
	}
	admin_metrics_token(b);
	admin_metrics_gauges(b);
	cache_metrics(b);
	budget_metrics(b);
	up_listread_metrics(b);
	hook_in_metrics(b);
	struct fg_config *c = conf_current();
	if (conf_redis_on(c))
		redis_stats_metrics(b);
	if (redis_cache_on())
		redis_cache_metrics(b);
	http_tls_prometheus(b, c);
	conf_unref(c);
	admin_metrics_process(b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	http_reply(req, 200, b);
	evbuffer_free(b);
}

/* One audit line per admin POST, refused ones included. */
static void admin_audit(struct evhttp_request *req, const char *route, const char *vin, int status)
{
	char ts[40];
	log_time_iso(ts, sizeof ts);
	json_t *vins = json_array();
	if (vin)
		json_array_append_new(vins, json_string(vin));
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "client", log_client(req));
	json_object_set_new(o, "tenant", json_string("admin"));
	json_object_set_new(o, "method", json_string("POST"));
	json_object_set_new(o, "route", json_string(route));
	json_object_set_new(o, "vins", vins);
	json_object_set_new(o, "status", json_integer(status));
	/* With audit_sync the answer waits for the disk here, on the main
	 * thread: admin POSTs are an operator's, seconds apart. */
	log_audit_sync(log_audit(o));
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
	/* A VIN that is not one is not echoed into the audit log. */
	admin_audit(req, "cache_purge", rc < 0 ? NULL : vin, rc < 0 ? 400 : 200);
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
	admin_audit(req, "budget_resume", NULL, 200);
	admin_send_json(req, 200, json_pack("{s:s,s:f}", "status", "resumed", "paused_for_s", left));
}

struct admin_route {
	enum fg_method method;
	const char *path;
	void (*fn)(struct evhttp_request *);
	const char *name;   /* the audit line's route (POST routes) */
};

static const struct admin_route admin_routes[] = {
	{ FG_GET, "/", admin_status, NULL },
	{ FG_GET, "/healthz", admin_healthz, NULL },
	{ FG_GET, "/readyz", admin_readyz, NULL },
	{ FG_GET, "/stats", admin_stats, NULL },
	{ FG_GET, "/metrics", admin_metrics, NULL },
	{ FG_POST, "/cache/purge", admin_purge, "cache_purge" },
	{ FG_POST, "/budget/resume", admin_budget_resume, "budget_resume" },
};

/* With admin_token_sha256 set, a POST needs "Authorization: Bearer T"
 * where SHA-256(T) is that hash. Hashing first makes the comparison
 * constant-time over a fixed length whatever was sent. */
static bool admin_authorized(struct evhttp_request *req)
{
	struct fg_config *c = conf_current();
	bool ok = !c || !c->admin_token_sha256;
	if (!ok) {
		const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		const char *tok;
		size_t toklen;
		/* The tenant side's rule for "Bearer", blanks and the token. */
		if (auth && req_policy_credential(auth, NULL, &tok, &toklen) == FG_CRED_KEY) {
			unsigned char h[SHA256_DIGEST_LENGTH];
			char hex[2 * SHA256_DIGEST_LENGTH + 1];
			SHA256((const unsigned char *)tok, toklen, h);
			for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
				snprintf(hex + 2 * i, 3, "%02x", h[i]);
			ok = CRYPTO_memcmp(hex, c->admin_token_sha256, 2 * SHA256_DIGEST_LENGTH) == 0;
			OPENSSL_cleanse(hex, sizeof hex);
		}
	}
	if (c)
		conf_unref(c);
	return ok;
}

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
			if (admin_routes[i].method == FG_POST && !admin_authorized(req)) {
				log_warn("admin: POST %s refused: missing or wrong admin token", path);
				admin_audit(req, admin_routes[i].name, NULL, 401);
				evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
						  "Bearer realm=\"fleetgate admin\"");
				http_send_error(req, 401, "this admin route needs the admin token as a bearer token");
				return;
			}
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
