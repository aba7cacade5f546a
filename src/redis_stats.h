/* redis_stats.h: how admin.c shows the Redis connections (redis.c). */
#ifndef FG_REDIS_STATS_H
#define FG_REDIS_STATS_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <jansson.h>

/* The /stats "redis" section and the fleetgate_redis_* metrics; admin.c
 * renders them only when [redis] is configured. */
void redis_stats_json(json_t *o);
void redis_stats_metrics(struct evbuffer *b);
/* True with a "degraded: ..." text in BUF when Redis is not up or can
 * evict the budget: /readyz shows it and stays 200 (failing readiness
 * would take every instance out at once). */
bool redis_stats_ready_detail(char *buf, size_t len);
#endif
