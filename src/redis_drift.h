/* redis_drift.h: configuration drift between instances (issue 21).
 *
 * Tenant isolation depends on every instance enforcing the same
 * allowlists, and a reload that reached only some of them is otherwise
 * invisible. Each instance publishes a hash of its tenant configuration
 * (names, methods, VIN sets, attribution: keys, sources, listeners, rates)
 * into one Redis hash, PREFIX:config, as INSTANCE -> "HASH REDIS_MS", every
 * few seconds and at once after a reload, and reads everyone's back:
 * more than one distinct hash among the live instances is drift, shown in
 * /stats (redis.config_*), /metrics (fleetgate_redis_config_drift) and the
 * status page. Entries not refreshed for REDIS_DRIFT_STALE_MS (an instance
 * that stopped) are dropped by the script itself, by Redis's clock. */
#ifndef FG_REDIS_DRIFT_H
#define FG_REDIS_DRIFT_H
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conf.h"
#include "redis.h"

#define REDIS_DRIFT_EVERY_S 2
#define REDIS_DRIFT_STALE_MS 10000

/* The hash of C's tenant configuration, 64 hex digits. */
void redis_drift_hash(const struct fg_config *c, char out[65]);

/* With [redis]: publishes on RC (the main connection, on BASE). 0 also
 * when off; -1 out of memory. */
int redis_drift_start(struct event_base *base, struct redis_conn *rc, const struct fg_config *c);
/* A reload put C in force: its hash is published at once. */
void redis_drift_config_changed(const struct fg_config *c);
void redis_drift_stop(void);

/* config_* fields into the /stats redis section; metrics; whether the
 * instances disagree (for /readyz's detail). Any thread. */
void redis_drift_stats_json(json_t *o);
void redis_drift_metrics(struct evbuffer *b);
bool redis_drift_seen(void);
#endif
