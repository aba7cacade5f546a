/* hook_verify.h: an event is a hint, the upstream is the truth
 * (docs/webhooks.md "Verification" and "Reconciliation").
 *
 * Every VIN a webhook changed is checked, verify_delay later, by the
 * batched list reads of up_listread.c (up to list_batch_max VINs a read,
 * within list_get_rate): the upstream's answer is stored over the
 * webhook's, and a status that differs from the one the webhook applied is
 * a disagreement, counted and logged. A slow sweep (reconcile_interval)
 * checks the cached VINs the same way, a list read at a time, and counts
 * as drift every entry the upstream contradicts: what a lost delivery
 * leaves behind. Main thread only. */
#ifndef FG_HOOK_VERIFY_H
#define FG_HOOK_VERIFY_H
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conf.h"

/* Starts on BASE (the main loop) with C's settings; -1 out of memory. */
int hook_verify_start(struct event_base *base, const struct fg_config *c);
void hook_verify_config_changed(const struct fg_config *c);
/* Withdraws what waits (before up_listread_stop) and frees everything. */
void hook_verify_stop(void);
/* A webhook set VIN to STATUS (fg_status index): verify it. */
void hook_verify_schedule(const char *vin, int status);

/* /stats "webhooks": "verify" and "reconcile" into O; their metrics. */
void hook_verify_stats_json(json_t *o);
void hook_verify_metrics(struct evbuffer *b);
#endif
