/* stats.h: counters defined once, one copy per worker, summed when read.
 *
 * STATS_COUNTERS lists every plain counter with its JSON path and its
 * Prometheus name and help; /stats and /metrics both render from it. Each
 * worker writes only its own shard (relaxed atomics, no lock); the admin
 * thread sums the shards. Labelled counts (by status, tenant, route) live
 * in fixed arrays in the shard, so the request path never allocates. */
#ifndef FG_STATS_H
#define FG_STATS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <jansson.h>
#include "req_route.h"

struct evbuffer;

/* Each counter: id, JSON section ("" = top level) and key, Prometheus
 * name without the fleetgate_ prefix, help. A Prometheus name of "" means
 * the counter is rendered only inside a labelled family (requests by
 * tenant/route/code, upstream requests by code, reloads by result), so no
 * two families ever count the same thing.
 *
 *        id                  json section/key                prometheus name              help */
#define STATS_COUNTERS(X) \
	X(requests,          "requests", "total",          "",                               "Requests answered on tenant listeners") \
	X(unauthorized,      "requests", "unauthorized",   "unauthorized_total",             "Requests no tenant could be found for (401)") \
	X(denied,            "requests", "denied",         "denied_total",                   "Requests denied by tenant policy (403)") \
	X(bad_requests,      "requests", "bad",            "bad_requests_total",             "Malformed requests (400, 404, 405, 413)") \
	X(bytes_out,         "requests", "bytes",          "response_bytes_total",           "Response body bytes sent to clients") \
	X(connections,       "connections", "accepted",    "connections_total",              "Client connections accepted on tenant listeners") \
	X(connections_shed,  "connections", "shed",        "connections_shed_total",         "Client connections closed at once (503) because max_connections were open") \
	X(admin_connections_shed, "connections", "admin_shed", "admin_connections_shed_total", "Admin connections closed at once (503) because admin_max_connections were open") \
	X(accept_errors,     "connections", "accept_errors", "accept_errors_total",          "accept() failures (out of descriptors): accepting paused 100 ms each") \
	X(client_timeouts,   "connections", "client_timeouts", "client_timeouts_total",      "Connections closed (408) for exceeding client_header_timeout or client_body_timeout") \
	X(upstream_requests, "upstream", "requests",       "",                               "Exchanges with the upstream fleet API") \
	X(upstream_errors,   "upstream", "errors",         "upstream_errors_total",          "Upstream exchanges without an answer (unreachable, time-out, TLS, closed)") \
	X(upstream_throttled,"upstream", "throttled",      "upstream_throttled_total",       "Upstream 429 answers seen") \
	X(upstream_too_large,"upstream", "too_large",      "upstream_too_large_total",       "Upstream answers refused for exceeding max_upstream_bytes") \
	X(upstream_bad_status,"upstream", "bad_status",    "upstream_bad_status_total",      "Upstream answers refused for a status outside 100..599") \
	X(upstream_retries,  "upstream", "retries_after_401", "upstream_retries_total",      "Requests retried with a fresh token after an upstream 401") \
	X(token_waits,       "token",    "waits",          "token_waits_total",              "Requests that had to wait for a token") \
	X(token_timeouts,    "token",    "wait_timeouts",  "token_wait_timeouts_total",      "Requests answered 503 because no token arrived in time") \
	X(local_tokens_issued, "local_tokens", "issued",   "local_tokens_issued_total",      "Local bearer tokens issued by POST /v1/access_tokens") \
	X(local_tokens_refused, "local_tokens", "refused", "local_tokens_refused_total",     "Local token requests refused (400, 401, 413)") \
	X(rate_limited,      "",         "rate_limited",   "rate_limited_total",             "Requests answered 429 by fleetgate itself (tenant rate, upstream budget)") \
	X(cache_hits,        "cache",    "hits",           "cache_hits_total",               "Answers served from the cache while fresh") \
	X(cache_misses,      "cache",    "misses",         "cache_misses_total",             "Cacheable reads that went upstream") \
	X(cache_stale,       "cache",    "stale",          "cache_stale_total",              "Stale answers served instead of an error") \
	X(cache_coalesced,   "cache",    "coalesced",      "cache_coalesced_total",          "Reads that waited for another read of the same key") \
	X(list_reads,        "list_reads", "sent",         "list_reads_total",               "Filtered list reads sent upstream to answer or refresh single-VIN reads") \
	X(list_batches,      "list_reads", "batches",      "list_read_batches_total",        "Batches of VINs gathered for list reads (a batch larger than list_batch_max takes several reads)") \
	X(list_vins,         "list_reads", "vins",         "list_read_vins_total",           "VINs carried by list reads (VINs per read: vins / sent)") \
	X(list_served,       "list_reads", "served",       "list_read_served_total",         "Single-VIN reads answered from a list read (X-Cache MISS, access log MISS-LIST)") \
	X(list_throttled,    "list_reads", "throttled",    "list_reads_throttled_total",     "List reads the upstream answered 429") \
	X(list_failed,       "list_reads", "failed",       "list_reads_failed_total",        "List reads without a usable answer (error, 429, no token, paused)") \
	X(list_fallbacks,    "list_reads", "fallbacks",    "list_read_fallbacks_total",      "VINs sent back to single reads: absent from a list answer, or the list read failed") \
	X(refreshes_ahead,   "list_reads", "refreshes_ahead", "refreshes_ahead_total",       "Entries refreshed by a list read before they expired (refresh_ahead)") \
	X(list_abandoned,    "list_reads", "abandoned",    "list_read_abandoned_total",      "VINs dropped from the pending set of list reads because nobody waited for them any more") \
	X(list_shed,         "list_reads", "shed",         "list_read_shed_total",           "VINs refused by the pending set of list reads because their tenant's share (or the refreshes') was full") \
	X(config_reloads,    "config",   "reloads",        "",                               "Successful configuration reloads") \
	X(config_reload_failures, "config", "reload_failures", "",                           "Reloads refused because the new configuration was invalid")

enum stats_id {
#define X(id, sec, key, prom, help) STAT_##id,
	STATS_COUNTERS(X)
#undef X
	STAT__COUNT
};

#define STATS_MAX_TENANTS 256     /* by_tenant slots; more share "other" */
#define STATS_LAT_BUCKETS 16

struct stats_shard;

/* The shard of the calling worker thread (set by stats_thread_init). */
struct stats_shard *stats_shard_new(void);
void stats_thread_init(struct stats_shard *s);
void stats_shard_free(struct stats_shard *s);

void stats_inc(enum stats_id id);
void stats_add(enum stats_id id, uint64_t n);
/* One answered request: its tenant slot (-1 = none), route, status and
 * duration in seconds. */
void stats_request(int tenant_slot, enum fg_route route, int status, double secs);
/* A request's cache result, for the histogram per result (X-Cache HIT,
 * MISS, STALE, BYPASS; NONE for the rest, e.g. MISS-LIST). */
enum stats_cache { STATS_CACHE_HIT, STATS_CACHE_MISS, STATS_CACHE_STALE, STATS_CACHE_BYPASS, STATS_CACHE_NONE };
/* The same request's duration by its cache result. */
void stats_request_cache(enum stats_cache result, double secs);
/* One upstream exchange: status (0 = transport failure) and duration. */
void stats_upstream(int status, double secs);
/* A reload's outcome: counts it (config.reloads or .reload_failures) and
 * keeps the last result and when, for /stats' config.last_reload. */
void stats_reload(bool ok);
/* A load (start-up) or reload's result, without counting it as a reload. */
void stats_loaded(bool ok);
/* Unix time the configuration in force was loaded; *OK: the last load or
 * reload succeeded. */
double stats_last_load(bool *ok);
/* Stable slot for a tenant name (names are kept across reloads). */
int stats_tenant_slot(const char *name);
/* The slots of the configuration being put in force (conf_swap): /stats
 * lists those tenants, with zeros before their first request. */
void stats_tenants_in_force(const bool in_force[STATS_MAX_TENANTS]);

/* Render every shard, summed. admin.c adds the sections and families
 * owned by other files (token, cache, config, connections). */
json_t *stats_json(void);
/* The counter table, the labelled families and the histograms, as
 * Prometheus text through metric.c into B; false when out of memory. */
bool stats_prometheus(struct evbuffer *b);
/* Process start on the monotonic clock, for uptime. */
void stats_init(void);
#endif
