/* redis_stats.c: the admin surface of the Redis connections: the /stats
 * "redis" section, the fleetgate_redis_* metrics and the /readyz detail,
 * all from redis_get_stats(). Only states, counts and error texts leave
 * here, never a password (redis.c keeps none in its error texts). */
#include "redis_stats.h"
#include "redis.h"
#include "redis_drift.h"
#include "metric.h"
#include <stdio.h>

void redis_stats_json(json_t *o)
{
	struct redis_stats s;
	redis_get_stats(&s);
	json_object_set_new(o, "state", json_string(redis_state_name(s.state)));
	json_object_set_new(o, "since", json_integer((json_int_t)s.since));
	json_object_set_new(o, "connections", json_integer(s.conns));
	json_object_set_new(o, "connects", json_integer((json_int_t)s.connects));
	json_object_set_new(o, "disconnects", json_integer((json_int_t)s.disconnects));
	json_object_set_new(o, "commands", json_integer((json_int_t)s.commands));
	json_object_set_new(o, "timeouts", json_integer((json_int_t)s.timeouts));
	json_object_set_new(o, "errors", json_integer((json_int_t)s.errors));
	json_object_set_new(o, "subscription_drops", json_integer((json_int_t)s.sub_drops));
	json_object_set_new(o, "last_error", json_string(s.last_error));
	json_object_set_new(o, "eviction_policy", json_string(s.eviction_policy));
	json_object_set_new(o, "eviction_safe", json_boolean(!s.eviction_unsafe));
	json_t *lat = json_object();
	json_object_set_new(lat, "p50", json_real(s.p50_ms));
	json_object_set_new(lat, "p99", json_real(s.p99_ms));
	json_object_set_new(o, "latency_ms", lat);
	redis_drift_stats_json(o);
}

void redis_stats_metrics(struct evbuffer *b)
{
	struct redis_stats s;
	redis_get_stats(&s);
	metric_gauge(b, "redis_up", "Whether the main Redis connection is up (1) or not (0)", s.state == REDIS_UP);
	metric_gauge(b, "redis_state", "Main Redis connection state: 0 down, 1 connecting, 2 up", (int)s.state);
	metric_counter(b, "redis_connects_total", "Redis connections made (handshake done)", (double)s.connects);
	metric_counter(b, "redis_disconnects_total", "Redis connections lost after they were up", (double)s.disconnects);
	metric_counter(b, "redis_commands_total", "Redis commands sent", (double)s.commands);
	metric_counter(b, "redis_timeouts_total", "Redis commands without an answer in time", (double)s.timeouts);
	metric_counter(b, "redis_errors_total",
		       "Redis failures: connects, error replies, time-outs, lost connections", (double)s.errors);
	metric_gauge(b, "redis_eviction_safe", "Whether Redis's eviction policy cannot drop the budget (1)",
		     !s.eviction_unsafe);
	redis_drift_metrics(b);
}

bool redis_stats_ready_detail(char *buf, size_t len)
{
	struct redis_stats s;
	redis_get_stats(&s);
	if (s.state != REDIS_UP)
		snprintf(buf, len, "degraded: redis is %s (%s)", redis_state_name(s.state), s.last_error);
	else if (redis_drift_seen())
		snprintf(buf, len, "degraded: instances hold different tenant configurations (redis.config_drift)");
	else if (s.eviction_unsafe)
		snprintf(buf, len, "degraded: redis maxmemory-policy %s can evict the shared budget",
			 s.eviction_policy);
	else
		return false;
	return true;
}
