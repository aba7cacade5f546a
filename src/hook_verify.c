/* hook_verify.c: webhook events verified, and the cache reconciled, by
 * batched list reads.
 *
 * A check is a cache flight of the VIN (cache_check_open: opened whatever
 * the entry's freshness) handed to the list-read batcher under the
 * pseudo-tenant "(webhook)": its FIFO is served round robin with the
 * tenants' and bounded as theirs are, so checks never starve a tenant's
 * reads, and they spend only the list budget. This file waits on the
 * flight like any request; the list read stores the upstream's answer (the
 * upstream wins) and hands it here to be compared. A check whose VIN
 * changed again while it ran is not judged: it runs again. A list read
 * that failed is retried a few times, then given up (counted).
 *
 * Never: decide what a client is answered (the cache does), or send a
 * read of its own (up_listread.c does). */
#include "hook_verify.h"
#include "cache.h"
#include "clock.h"
#include "fleetgate.h"
#include "log.h"
#include "metric.h"
#include "up_listread.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HV_TENANT "(webhook)"   /* no tenant file can be named so */
#define HV_MAX_ITEMS 100000     /* checks held at once; more are dropped (counted) */
#define HV_MAX_TRIES 5
#define HV_RETRY_S 2.0

enum hv_kind { HV_VERIFY, HV_RECONCILE };
enum hv_state { HV_WAITING, HV_RUNNING };

struct hv_item {
	char vin[18];
	enum hv_kind kind;
	enum hv_state state;
	int expected;          /* fg_status the webhook applied / the cache held; -1: none */
	bool again;            /* changed again while it ran: not judged, run again */
	int tries;
	struct cache_waiter *w;
};

static struct {
	bool running;
	struct event_base *base;
	struct event *verify_ev, *sweep_ev;
	struct hv_item **v;
	size_t n, cap;
	size_t cursor;             /* the sweep's place in the cache's map */
	int delay_ms, interval_s, batch;
	unsigned long long scheduled, agreed, disagreed, absent, failed, dropped;
	unsigned long long sweeps, checked, drift, in_sync;
} hv;

static void hv_arm(double secs)
{
	if (!hv.running || evtimer_pending(hv.verify_ev, NULL))
		return;
	struct timeval tv = clock_timeval(secs);
	evtimer_add(hv.verify_ev, &tv);
}

static struct hv_item *hv_find(const char *vin)
{
	for (size_t i = 0; i < hv.n; i++)
		if (strcmp(hv.v[i]->vin, vin) == 0)
			return hv.v[i];
	return NULL;
}

static void hv_remove(struct hv_item *it)
{
	for (size_t i = 0; i < hv.n; i++)
		if (hv.v[i] == it) {
			hv.v[i] = hv.v[--hv.n];
			break;
		}
	free(it);
}

static struct hv_item *hv_add(const char *vin, enum hv_kind kind, int expected)
{
	if (hv.n >= HV_MAX_ITEMS) {
		hv.dropped++;
		return NULL;
	}
	if (hv.n == hv.cap) {
		size_t cap = hv.cap ? hv.cap * 2 : 64;
		struct hv_item **t = realloc(hv.v, cap * sizeof *t);
		if (!t)
			return NULL;
		hv.v = t;
		hv.cap = cap;
	}
	struct hv_item *it = calloc(1, sizeof *it);
	if (!it)
		return NULL;
	snprintf(it->vin, sizeof it->vin, "%s", vin);
	it->kind = kind;
	it->expected = expected;
	hv.v[hv.n++] = it;
	return it;
}

/* The status of a single-VIN answer's body; -1 when it has none. */
static int hv_status_of(const struct cache_answer *a)
{
	if (!a || !a->data || !a->len)
		return -1;
	json_t *o = json_loadb((const char *)a->data, a->len, 0, NULL);
	int st = fg_status_index(json_string_value(json_object_get(o, "status")));
	json_decref(o);
	return st;
}

static const char *hv_name(int st)
{
	return st >= 0 && st < FG_STATUS_COUNT ? fg_status_names[st] : "none";
}

/* The upstream said UPSTREAM (-1: it does not know the VIN) for IT. */
static void hv_judge(struct hv_item *it, int upstream)
{
	bool same = upstream == it->expected;
	if (it->kind == HV_VERIFY) {
		if (same) {
			hv.agreed++;
			return;
		}
		if (upstream < 0)
			hv.absent++;
		hv.disagreed++;
		log_warn("webhook: the upstream disagrees on %s: the event said %s, the upstream says %s; "
			 "the upstream's answer stands", it->vin, hv_name(it->expected), hv_name(upstream));
		return;
	}
	hv.checked++;
	if (same) {
		hv.in_sync++;
		return;
	}
	hv.drift++;
	log_warn("webhook: reconciliation found drift on %s: the cache held %s, the upstream says %s "
		 "(a delivery lost?); the upstream's answer stands", it->vin, hv_name(it->expected), hv_name(upstream));
}

static void hv_answer(void *arg, struct cache_answer *a, const char *how)
{
	struct hv_item *it = arg;
	it->w = NULL;
	it->state = HV_WAITING;
	bool listed = how && strcmp(how, "LIST") == 0 && a && a->status == 200;
	bool absent = how && strcmp(how, "LIST-ABSENT") == 0;
	if (it->again) {
		it->again = false;
		it->tries = 0;
		hv_arm(hv.delay_ms / 1000.0);
	} else if (listed || absent) {
		if (absent)   /* the webhook's entry for a VIN the upstream does not know goes */
			cache_replace(cache_shared(), it->vin, NULL, 0, 0, 0, clock_now());
		hv_judge(it, listed ? hv_status_of(a) : -1);
		hv_remove(it);
	} else if (++it->tries >= HV_MAX_TRIES) {
		hv.failed++;
		log_warn("webhook: %s could not be checked against the upstream (%d list reads failed)", it->vin,
			 it->tries);
		hv_remove(it);
	} else {
		hv_arm(HV_RETRY_S);
	}
	cache_answer_unref(a);
}

/* Every waiting check becomes a flight of the next list read. */
static void hv_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct cache *c = cache_shared();
	bool left = false;
	for (size_t i = 0; i < hv.n; i++) {
		struct hv_item *it = hv.v[i];
		if (it->state != HV_WAITING)
			continue;
		struct cache_flight *f = cache_check_open(c, it->vin);
		if (f && up_listread_join(HV_TENANT, it->vin, &f, hv.base, hv_answer, it, &it->w)) {
			it->state = HV_RUNNING;
			continue;
		}
		/* A read of the VIN runs (its answer is as new: check after it),
		 * or the batcher is full: next round. */
		if (f)
			cache_flight_done(c, f, NULL, NULL);
		left = true;
	}
	if (left)
		hv_arm(HV_RETRY_S);
}

void hook_verify_schedule(const char *vin, int status)
{
	if (!hv.running)
		return;
	hv.scheduled++;
	struct hv_item *it = hv_find(vin);
	if (it) {
		it->expected = status;
		it->kind = HV_VERIFY;
		it->tries = 0;
		if (it->state == HV_RUNNING)
			it->again = true;
	} else if (!hv_add(vin, HV_VERIFY, status)) {
		return;
	}
	hv_arm(hv.delay_ms / 1000.0);
}

/* One sweep step: up to a list read's worth of cached VINs, each checked
 * against what the cache holds for it now. */
static void hv_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct cache *c = cache_shared();
	int batch = hv.batch > 0 ? hv.batch : 100;
	char (*vins)[18] = calloc((size_t)batch, sizeof *vins);
	size_t n = vins ? cache_vins_from(c, &hv.cursor, vins, (size_t)batch) : 0;
	double now = clock_now();
	for (size_t i = 0; i < n; i++) {
		if (hv_find(vins[i]))
			continue;   /* a webhook's check runs already */
		struct cache_answer *a = cache_stale(c, vins[i], now);
		int st = hv_status_of(a);
		cache_answer_unref(a);
		if (st >= 0)
			hv_add(vins[i], HV_RECONCILE, st);
	}
	free(vins);
	hv.sweeps++;
	if (n)
		hv_run(-1, 0, NULL);
	if (hv.interval_s > 0) {
		struct timeval tv = { hv.interval_s, 0 };
		evtimer_add(hv.sweep_ev, &tv);
	}
}

static void hv_settings(const struct fg_config *c)
{
	hv.delay_ms = c->webhook_verify_delay_ms;
	hv.batch = c->list_batch_max;
	int was = hv.interval_s;
	hv.interval_s = c->webhook_reconcile_interval;
	if (hv.sweep_ev && hv.interval_s > 0 && (was != hv.interval_s || !evtimer_pending(hv.sweep_ev, NULL))) {
		struct timeval tv = { hv.interval_s, 0 };
		evtimer_add(hv.sweep_ev, &tv);
	} else if (hv.sweep_ev && hv.interval_s == 0) {
		evtimer_del(hv.sweep_ev);
	}
}

int hook_verify_start(struct event_base *base, const struct fg_config *c)
{
	hv.base = base;
	hv.verify_ev = evtimer_new(base, hv_run, NULL);
	hv.sweep_ev = evtimer_new(base, hv_sweep, NULL);
	if (!hv.verify_ev || !hv.sweep_ev) {
		hook_verify_stop();
		return -1;
	}
	hv.running = true;
	hv_settings(c);
	return 0;
}

void hook_verify_config_changed(const struct fg_config *c)
{
	if (hv.running)
		hv_settings(c);
}

void hook_verify_stop(void)
{
	hv.running = false;
	for (size_t i = 0; i < hv.n; i++) {
		cache_wait_cancel(hv.v[i]->w);
		free(hv.v[i]);
	}
	free(hv.v);
	hv.v = NULL;
	hv.n = hv.cap = 0;
	if (hv.verify_ev)
		event_free(hv.verify_ev);
	if (hv.sweep_ev)
		event_free(hv.sweep_ev);
	hv.verify_ev = hv.sweep_ev = NULL;
}

void hook_verify_stats_json(json_t *o)
{
	json_object_set_new(o, "verify", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i}",
		"scheduled", (json_int_t)hv.scheduled, "agreed", (json_int_t)hv.agreed,
		"disagreements", (json_int_t)hv.disagreed, "absent", (json_int_t)hv.absent,
		"failed", (json_int_t)hv.failed, "dropped", (json_int_t)hv.dropped,
		"pending", (json_int_t)hv.n, "delay_ms", hv.delay_ms));
	json_object_set_new(o, "reconcile", json_pack("{s:I,s:I,s:I,s:I,s:i}",
		"sweeps", (json_int_t)hv.sweeps, "checked", (json_int_t)hv.checked,
		"in_sync", (json_int_t)hv.in_sync, "drift", (json_int_t)hv.drift, "interval_s", hv.interval_s));
}

void hook_verify_metrics(struct evbuffer *b)
{
	const char *name = "fleetgate_webhook_verifications_total";
	metric_family(b, name, METRIC_COUNTER,
		      "Webhook events checked against the upstream by a list read, by result: agreed, disagreed (the upstream's answer stands), failed");
	metric_u64(b, name, (const char *const[]){ "result", "agreed", NULL }, hv.agreed);
	metric_u64(b, name, (const char *const[]){ "result", "disagreed", NULL }, hv.disagreed);
	metric_u64(b, name, (const char *const[]){ "result", "failed", NULL }, hv.failed);
	metric_gauge(b, "webhook_verify_pending", "VINs waiting for or in a verification or reconciliation list read",
		     (double)hv.n);
	metric_counter(b, "webhook_reconcile_sweeps_total", "Reconciliation steps run (each up to list_batch_max cached VINs)",
		       (double)hv.sweeps);
	metric_counter(b, "webhook_reconcile_checked_total", "Cached entries reconciliation compared with the upstream",
		       (double)hv.checked);
	metric_counter(b, "webhook_reconcile_drift_total",
		       "Cached entries reconciliation found the upstream contradicting (a lost delivery)", (double)hv.drift);
}
