/* hook_in.h: the webhook listener's deliveries (docs/webhooks.md): POST
 * [webhook] path, signed with X-HM-Signature-256, deduplicated by
 * X-HM-Delivery, a fleet_clearance_changed applied to the cache at once
 * and verified by a list read (hook_verify.c). Main thread only. */
#ifndef FG_HOOK_IN_H
#define FG_HOOK_IN_H
#include <stdbool.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conf.h"

struct redis_conn;
/* With [webhook] listen: serves it on BASE (the main loop); REDIS, the
 * main base's connection when [redis] is on (NULL otherwise), shares the
 * dedupe window. 0 also when there is no listener; -1 with ERR. */
int hook_in_start(struct event_base *base, struct redis_conn *redis, const struct fg_config *c, char *err,
		  size_t errlen);
void hook_in_config_changed(const struct fg_config *c);
/* Before the Redis connection is freed: deliveries waiting for Redis are
 * dropped unanswered, the listener closed, the window freed. */
void hook_in_stop(void);
/* Whether a webhook listener serves. */
bool hook_in_on(void);

/* /stats "webhooks" section (verification and reconciliation included)
 * into ROOT; the fleetgate_webhook_* metrics. */
void hook_in_stats_json(json_t *root);
void hook_in_metrics(struct evbuffer *b);
#endif
