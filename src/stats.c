/* stats.c: per-worker counter shards and their two renderings.
 *
 * A shard is written by exactly one thread with relaxed atomic adds, so
 * the request path takes no lock; readers sum all shards. The only lock
 * here guards the tenant-name table, taken once per (worker, config
 * generation) per tenant by the caller's cache, and the shard registry. */
#include "stats.h"
#include "clock.h"
#include "fleetgate.h"
#include "metric.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>

#define STATS_MAX_SHARDS 256
#define STATS_CODES 600

/* Codes kept apart in the per-tenant/route table; others count as "other". */
static const int stats_codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
				   422, 429, 499, 500, 502, 503, 504 };
#define STATS_NCODES (sizeof stats_codes / sizeof *stats_codes + 1)

static const double stats_le[STATS_LAT_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

struct stats_hist {
	_Atomic uint64_t b[STATS_LAT_BUCKETS];   /* last is +Inf */
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
};

/* request_duration_by_cache_seconds{cache}: hits take a tenth of a
 * millisecond, misses an upstream round trip; one histogram hides both. */
static const char *const stats_cache_names[] = {   /* by enum stats_cache */
	[STATS_CACHE_HIT] = "hit", [STATS_CACHE_MISS] = "miss", [STATS_CACHE_STALE] = "stale",
	[STATS_CACHE_BYPASS] = "bypass", [STATS_CACHE_NONE] = "none",
};
#define STATS_NCACHE (sizeof stats_cache_names / sizeof *stats_cache_names)

struct stats_shard {
	_Atomic uint64_t c[STAT__COUNT];
	_Atomic uint64_t by_status[STATS_CODES];
	_Atomic uint64_t up_by_status[STATS_CODES];   /* 0 = transport failure */
	_Atomic uint64_t by_tenant[STATS_MAX_TENANTS + 1];
	_Atomic uint64_t trc[STATS_MAX_TENANTS + 1][FG_R_COUNT][STATS_NCODES];
	struct stats_hist req_lat, up_lat;
	struct stats_hist cache_lat[STATS_NCACHE];
};

static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stats_shard *stats_shards[STATS_MAX_SHARDS];
static char *stats_tenants[STATS_MAX_TENANTS];
static int stats_ntenants;
/* The slots of the configuration in force: /stats lists those tenants
 * even before their first request (a silent tenant is news). */
static bool stats_in_force[STATS_MAX_TENANTS];
static double stats_t0;   /* clock_now() at start */
static _Thread_local struct stats_shard *stats_self;
/* The last reload: 0 none yet, 1 ok, 2 refused; and its monotonic second.
 * Written by the main thread, read by the admin thread (the same today). */
static _Atomic int stats_last_reload;
static _Atomic long long stats_last_reload_at;

#define ADD(a, n) atomic_fetch_add_explicit(&(a), (n), memory_order_relaxed)
#define GET(a) atomic_load_explicit(&(a), memory_order_relaxed)

void stats_init(void) { stats_t0 = clock_now(); }

struct stats_shard *stats_shard_new(void)
{
	struct stats_shard *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_mutex_lock(&stats_mu);
	for (int i = 0; i < STATS_MAX_SHARDS; i++)
		if (!stats_shards[i]) {
			stats_shards[i] = s;
			break;
		}
	pthread_mutex_unlock(&stats_mu);
	return s;
}

void stats_thread_init(struct stats_shard *s) { stats_self = s; }

/* Shards stay registered until the process ends; counts must not go
 * backwards when a worker stops. Only the memory at exit is freed. */
void stats_shard_free(struct stats_shard *s)
{
	pthread_mutex_lock(&stats_mu);
	for (int i = 0; i < STATS_MAX_SHARDS; i++)
		if (stats_shards[i] == s)
			stats_shards[i] = NULL;
	pthread_mutex_unlock(&stats_mu);
	free(s);
}

void stats_inc(enum stats_id id) { if (stats_self) ADD(stats_self->c[id], 1); }
void stats_add(enum stats_id id, uint64_t n) { if (stats_self) ADD(stats_self->c[id], n); }

static void stats_hist_add(struct stats_hist *h, double secs)
{
	int i = 0;
	while (i < STATS_LAT_BUCKETS - 1 && secs > stats_le[i])
		i++;
	ADD(h->b[i], 1);
	ADD(h->sum_us, (uint64_t)(secs * 1e6));
	ADD(h->count, 1);
}

static size_t stats_code_index(int status)
{
	for (size_t i = 0; i < STATS_NCODES - 1; i++)
		if (stats_codes[i] == status)
			return i;
	return STATS_NCODES - 1;
}

void stats_request(int slot, enum fg_route route, int status, double secs)
{
	struct stats_shard *s = stats_self;
	if (!s)
		return;
	if (slot < 0 || slot > STATS_MAX_TENANTS)
		slot = STATS_MAX_TENANTS;
	ADD(s->c[STAT_requests], 1);
	if (status > 0 && status < STATS_CODES)
		ADD(s->by_status[status], 1);
	ADD(s->by_tenant[slot], 1);
	ADD(s->trc[slot][route][stats_code_index(status)], 1);
	stats_hist_add(&s->req_lat, secs);
}

void stats_request_cache(enum stats_cache result, double secs)
{
	struct stats_shard *s = stats_self;
	if (!s)
		return;
	stats_hist_add(&s->cache_lat[(size_t)result < STATS_NCACHE ? result : STATS_CACHE_NONE], secs);
}

void stats_upstream(int status, double secs)
{
	struct stats_shard *s = stats_self;
	if (!s)
		return;
	ADD(s->c[STAT_upstream_requests], 1);
	if (status >= 0 && status < STATS_CODES)
		ADD(s->up_by_status[status], 1);
	if (status == 0)
		ADD(s->c[STAT_upstream_errors], 1);
	/* Failures count too: a time-out is exactly the latency to see. */
	stats_hist_add(&s->up_lat, secs);
}

/* Wall clock of the configuration in force and whether the last load
 * succeeded: for /stats, the reload gauges and the status page. */
static _Atomic double stats_loaded_wall;
static atomic_bool stats_loaded_ok = true;

void stats_loaded(bool ok)
{
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	atomic_store(&stats_loaded_ok, ok);
	if (ok)
		atomic_store(&stats_loaded_wall, (double)wall.tv_sec + wall.tv_nsec / 1e9);
}

double stats_last_load(bool *ok)
{
	*ok = atomic_load(&stats_loaded_ok);
	return atomic_load(&stats_loaded_wall);
}

void stats_reload(bool ok)
{
	stats_loaded(ok);
	stats_inc(ok ? STAT_config_reloads : STAT_config_reload_failures);
	atomic_store(&stats_last_reload_at, (long long)clock_now());
	atomic_store(&stats_last_reload, ok ? 1 : 2);
}

int stats_tenant_slot(const char *name)
{
	int slot = -1;
	if (!name)
		return -1;
	pthread_mutex_lock(&stats_mu);
	for (int i = 0; i < stats_ntenants; i++)
		if (strcmp(stats_tenants[i], name) == 0) {
			slot = i;
			break;
		}
	if (slot < 0 && stats_ntenants < STATS_MAX_TENANTS) {
		stats_tenants[stats_ntenants] = strdup(name);
		if (stats_tenants[stats_ntenants])
			slot = stats_ntenants++;
	}
	pthread_mutex_unlock(&stats_mu);
	return slot;
}

void stats_tenants_in_force(const bool in_force[STATS_MAX_TENANTS])
{
	pthread_mutex_lock(&stats_mu);
	memcpy(stats_in_force, in_force, sizeof stats_in_force);
	pthread_mutex_unlock(&stats_mu);
}

/* ---- reading ------------------------------------------------------------ */

struct stats_sum {
	uint64_t c[STAT__COUNT];
	uint64_t by_status[STATS_CODES];
	uint64_t up_by_status[STATS_CODES];
	uint64_t by_tenant[STATS_MAX_TENANTS + 1];
	uint64_t trc[STATS_MAX_TENANTS + 1][FG_R_COUNT][STATS_NCODES];
	uint64_t req_b[STATS_LAT_BUCKETS], req_sum_us, req_count;
	uint64_t up_b[STATS_LAT_BUCKETS], up_sum_us, up_count;
	uint64_t cache_b[STATS_NCACHE][STATS_LAT_BUCKETS], cache_sum_us[STATS_NCACHE], cache_count[STATS_NCACHE];
	int ntenants;
	char *tenants[STATS_MAX_TENANTS];
	bool in_force[STATS_MAX_TENANTS];
};

static void stats_sum_hist(const struct stats_hist *h, uint64_t *b, uint64_t *sum, uint64_t *count)
{
	for (int i = 0; i < STATS_LAT_BUCKETS; i++)
		b[i] += GET(h->b[i]);
	*sum += GET(h->sum_us);
	*count += GET(h->count);
}

static struct stats_sum *stats_collect(void)
{
	struct stats_sum *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	pthread_mutex_lock(&stats_mu);
	for (int k = 0; k < STATS_MAX_SHARDS; k++) {
		struct stats_shard *s = stats_shards[k];
		if (!s)
			continue;
		for (int i = 0; i < STAT__COUNT; i++)
			t->c[i] += GET(s->c[i]);
		for (int i = 0; i < STATS_CODES; i++) {
			t->by_status[i] += GET(s->by_status[i]);
			t->up_by_status[i] += GET(s->up_by_status[i]);
		}
		for (int i = 0; i <= STATS_MAX_TENANTS; i++) {
			t->by_tenant[i] += GET(s->by_tenant[i]);
			for (int r = 0; r < FG_R_COUNT; r++)
				for (size_t c = 0; c < STATS_NCODES; c++)
					t->trc[i][r][c] += GET(s->trc[i][r][c]);
		}
		stats_sum_hist(&s->req_lat, t->req_b, &t->req_sum_us, &t->req_count);
		stats_sum_hist(&s->up_lat, t->up_b, &t->up_sum_us, &t->up_count);
		for (size_t c = 0; c < STATS_NCACHE; c++)
			stats_sum_hist(&s->cache_lat[c], t->cache_b[c], &t->cache_sum_us[c], &t->cache_count[c]);
	}
	t->ntenants = stats_ntenants;
	for (int i = 0; i < stats_ntenants; i++)
		t->tenants[i] = stats_tenants[i];   /* never freed while running */
	memcpy(t->in_force, stats_in_force, sizeof t->in_force);
	pthread_mutex_unlock(&stats_mu);
	return t;
}

/* Quantile estimate from a cumulative histogram: the upper bound of the
 * bucket holding it, in milliseconds (the usual Prometheus-style answer). */
static double stats_quantile_ms(const uint64_t *b, uint64_t count, double q)
{
	if (count == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)count + 0.999999), acc = 0;
	for (int i = 0; i < STATS_LAT_BUCKETS; i++) {
		acc += b[i];
		if (acc >= want)
			return (i < STATS_LAT_BUCKETS - 1 ? stats_le[i] : stats_le[STATS_LAT_BUCKETS - 2] * 2) * 1000;
	}
	return 0;
}

static json_t *stats_section(json_t *root, const char *sec)
{
	if (!sec[0])
		return root;
	json_t *o = json_object_get(root, sec);
	if (!o) {
		o = json_object();
		json_object_set_new(root, sec, o);
	}
	return o;
}

static json_t *stats_codes_json(const uint64_t *v)
{
	json_t *o = json_object();
	char k[8];
	for (int i = 0; i < STATS_CODES; i++)
		if (v[i]) {
			snprintf(k, sizeof k, "%d", i);
			json_object_set_new(o, k, json_integer((json_int_t)v[i]));
		}
	return o;
}

/* Which tenants /stats lists (requests.by_tenant and requests.tenants
 * alike): every tenant of the configuration in force, with zeros before
 * its first request; a name a reload dropped while it still has counts
 * (counts never go backwards, so they stay until restart; one that never
 * answered a request goes with its configuration); and "-" once a request
 * had no tenant. Bounded by the STATS_MAX_TENANTS slots. */
static bool stats_tenant_listed(const struct stats_sum *t, int slot)
{
	if (slot == STATS_MAX_TENANTS)
		return t->by_tenant[slot] != 0;
	return slot < t->ntenants && (t->in_force[slot] || t->by_tenant[slot] != 0);
}

static const char *stats_tenant_name(const struct stats_sum *t, int slot)
{
	return slot == STATS_MAX_TENANTS ? "-" : t->tenants[slot];
}

/* requests.tenants: per tenant, the counts an operator scans first, read
 * from the same tenant x route x code table /metrics renders. Codes outside
 * the table's list are "other": their class is not known any more.
 * "configured": the name is a tenant of the configuration in force. */
static json_t *stats_tenant_json(const struct stats_sum *t, int slot)
{
	uint64_t total = 0, cls[6] = { 0 };
	for (int r = 0; r < FG_R_COUNT; r++)
		for (size_t c = 0; c < STATS_NCODES; c++) {
			uint64_t v = t->trc[slot][r][c];
			total += v;
			cls[c < STATS_NCODES - 1 ? stats_codes[c] / 100 : 0] += v;
		}
	uint64_t denied = 0, limited = 0;
	for (int r = 0; r < FG_R_COUNT; r++) {
		denied += t->trc[slot][r][stats_code_index(403)];
		limited += t->trc[slot][r][stats_code_index(429)];
	}
	bool configured = slot < STATS_MAX_TENANTS && t->in_force[slot];
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I}}", "configured", configured,
			 "requests", (json_int_t)total,
			 "denied", (json_int_t)denied, "rate_limited", (json_int_t)limited,
			 "errors", (json_int_t)cls[5], "by_class", "2xx", (json_int_t)cls[2],
			 "4xx", (json_int_t)cls[4], "5xx", (json_int_t)cls[5], "other", (json_int_t)cls[0]);
}

static void stats_extra_json(json_t *root, const struct stats_sum *t, long long now_s)
{
	json_t *ts = json_object();
	for (int i = 0; i <= STATS_MAX_TENANTS; i++)
		if (stats_tenant_listed(t, i))
			json_object_set_new(ts, stats_tenant_name(t, i), stats_tenant_json(t, i));
	json_object_set_new(stats_section(root, "requests"), "tenants", ts);
	uint64_t reads = t->c[STAT_cache_hits] + t->c[STAT_cache_misses];
	json_object_set_new(stats_section(root, "cache"), "hit_ratio",
			    reads ? json_real((double)t->c[STAT_cache_hits] / (double)reads) : json_null());
	static const char *const results[] = { "none", "ok", "failed" };
	int last = atomic_load(&stats_last_reload);
	json_t *cf = stats_section(root, "config");
	json_object_set_new(cf, "last_reload", json_string(results[last]));
	json_object_set_new(cf, "last_reload_ago_s",
			    last ? json_integer(now_s - atomic_load(&stats_last_reload_at)) : json_null());
}

json_t *stats_json(void)
{
	struct stats_sum *t = stats_collect();
	json_t *root = json_object();
	if (!t)
		return root;
	json_object_set_new(root, "version", json_string(FG_VERSION));
	json_object_set_new(root, "uptime_s", json_integer((json_int_t)(clock_now() - stats_t0)));
#define X(id, sec, key, prom, help) \
	json_object_set_new(stats_section(root, sec), key, json_integer((json_int_t)t->c[STAT_##id]));
	STATS_COUNTERS(X)
#undef X
	json_t *req = stats_section(root, "requests");
	json_object_set_new(req, "by_status", stats_codes_json(t->by_status));
	json_t *bt = json_object();
	for (int i = 0; i <= STATS_MAX_TENANTS; i++)
		if (stats_tenant_listed(t, i))
			json_object_set_new(bt, stats_tenant_name(t, i), json_integer((json_int_t)t->by_tenant[i]));
	json_object_set_new(req, "by_tenant", bt);
	json_t *up = stats_section(root, "upstream");
	json_object_set_new(up, "by_status", stats_codes_json(t->up_by_status));
	json_t *lat = json_object();
	json_object_set_new(lat, "p50", json_real(stats_quantile_ms(t->up_b, t->up_count, 0.50)));
	json_object_set_new(lat, "p90", json_real(stats_quantile_ms(t->up_b, t->up_count, 0.90)));
	json_object_set_new(lat, "p99", json_real(stats_quantile_ms(t->up_b, t->up_count, 0.99)));
	json_object_set_new(up, "latency_ms", lat);
	stats_extra_json(root, t, (long long)clock_now());
	free(t);
	return root;
}

/* ---- Prometheus text format 0.0.4, written by metric.c --------------------- */

static void stats_prom_cache_hist(struct evbuffer *b, const struct stats_sum *t)
{
	const char *name = "fleetgate_request_duration_by_cache_seconds";
	metric_family(b, name, METRIC_HISTOGRAM,
		      "Time from a request's arrival to its answer, by cache result (hit, miss, stale, bypass; none = not a cacheable read)");
	for (size_t c = 0; c < STATS_NCACHE; c++)
		metric_histogram(b, name, (const char *const[]){ "cache", stats_cache_names[c], NULL }, stats_le,
				 STATS_LAT_BUCKETS - 1, t->cache_b[c], (double)t->cache_sum_us[c] / 1e6,
				 t->cache_count[c]);
}

/* fleetgate_requests_total{tenant,route,code}: only non-zero series, so
 * the output grows with what happened, bounded by tenants x 7 x 17. */
static void stats_prom_requests(struct evbuffer *b, const struct stats_sum *t)
{
	const char *name = "fleetgate_requests_total";
	metric_family(b, name, METRIC_COUNTER, "Requests answered on tenant listeners, by tenant, route and status code");
	for (int i = 0; i <= STATS_MAX_TENANTS; i++) {
		if (i >= t->ntenants && i != STATS_MAX_TENANTS)
			continue;
		const char *tn = i == STATS_MAX_TENANTS ? "-" : t->tenants[i];
		for (int r = 0; r < FG_R_COUNT; r++)
			for (size_t c = 0; c < STATS_NCODES; c++) {
				uint64_t v = t->trc[i][r][c];
				if (!v)
					continue;
				char code[8] = "other";
				if (c < STATS_NCODES - 1)
					snprintf(code, sizeof code, "%d", stats_codes[c]);
				metric_u64(b, name, (const char *const[]){ "tenant", tn, "route",
					   req_route_name((enum fg_route)r), "code", code, NULL }, v);
			}
	}
}

static void stats_prom_upstream(struct evbuffer *b, const struct stats_sum *t)
{
	const char *name = "fleetgate_upstream_requests_total";
	metric_family(b, name, METRIC_COUNTER, "Exchanges with the upstream fleet API by status code (0 = no answer)");
	for (int i = 0; i < STATS_CODES; i++)
		if (t->up_by_status[i]) {
			char code[8];
			snprintf(code, sizeof code, "%d", i);
			metric_u64(b, name, (const char *const[]){ "code", code, NULL }, t->up_by_status[i]);
		}
}

static void stats_prom_reloads(struct evbuffer *b, const struct stats_sum *t)
{
	const char *name = "fleetgate_config_reloads_total";
	metric_family(b, name, METRIC_COUNTER,
		      "Configuration reloads (SIGHUP) by result: ok, or failed (old configuration kept)");
	metric_u64(b, name, (const char *const[]){ "result", "ok", NULL }, t->c[STAT_config_reloads]);
	metric_u64(b, name, (const char *const[]){ "result", "failed", NULL }, t->c[STAT_config_reload_failures]);
}

bool stats_prometheus(struct evbuffer *b)
{
	struct stats_sum *t = stats_collect();
	if (!t)
		return false;
	metric_family(b, "fleetgate_build_info", METRIC_GAUGE, "Always 1; the version is a label");
	metric_u64(b, "fleetgate_build_info", (const char *const[]){ "version", FG_VERSION, NULL }, 1);
	metric_family(b, "fleetgate_uptime_seconds", METRIC_GAUGE, "Seconds since the process started");
	metric_u64(b, "fleetgate_uptime_seconds", NULL, (uint64_t)(long long)(clock_now() - stats_t0));
	/* A counter without a Prometheus name is shown only in a labelled
	 * family below. */
#define X(id, sec, key, prom, help) \
	if (prom[0]) { \
		metric_family(b, "fleetgate_" prom, METRIC_COUNTER, help); \
		metric_u64(b, "fleetgate_" prom, NULL, t->c[STAT_##id]); \
	}
	STATS_COUNTERS(X)
#undef X
	stats_prom_requests(b, t);
	stats_prom_upstream(b, t);
	stats_prom_reloads(b, t);
	metric_family(b, "fleetgate_request_duration_seconds", METRIC_HISTOGRAM,
		      "Time from a request's arrival to its answer");
	metric_histogram(b, "fleetgate_request_duration_seconds", NULL, stats_le, STATS_LAT_BUCKETS - 1, t->req_b,
			 (double)t->req_sum_us / 1e6, t->req_count);
	metric_family(b, "fleetgate_upstream_duration_seconds", METRIC_HISTOGRAM,
		      "Duration of exchanges with the upstream fleet API");
	metric_histogram(b, "fleetgate_upstream_duration_seconds", NULL, stats_le, STATS_LAT_BUCKETS - 1, t->up_b,
			 (double)t->up_sum_us / 1e6, t->up_count);
	stats_prom_cache_hist(b, t);
	free(t);
	return true;
}
