/* hook_in.c: inbound webhook deliveries, on the main thread.
 *
 * A delivery is refused before anything changes unless it is a POST to
 * [webhook] path whose raw body is signed: X-HM-Signature-256 is
 * HMAC-SHA256 under the console's secret (or the previous one, during a
 * rotation), compared in constant time (CRYPTO_memcmp over the 32 bytes).
 * Then ping is 200, an unknown event 200 and ignored (counted), and a
 * fleet_clearance_changed is decoded (hook_event.c), looked up in the
 * dedupe window by X-HM-Delivery (memory, and Redis when [redis] is on),
 * applied (the status into the VIN's cached entry, list entries dropped
 * here and, through the Redis invalidation, on every instance; a
 * verification scheduled), and only then marked seen: an instance that
 * dies before the mark leaves the retry to be applied by another.
 *
 * Never: log or echo a secret, a signature or a body. */
#include "hook_in.h"
#include "cache.h"
#include "clock.h"
#include "hook_dedupe.h"
#include "hook_event.h"
#include "hook_verify.h"
#include "http.h"
#include "http_listen.h"
#include "log.h"
#include "metric.h"
#include "redis.h"
#include "redis_cache.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* What became of a delivery, as /stats and /metrics label it. */
#define HOOK_RESULTS(X) X(applied) X(duplicate) X(ok) X(ignored) X(unauthorized) X(malformed) X(too_large)
enum hook_result {
#define X(n) HOOK_R_##n,
	HOOK_RESULTS(X)
#undef X
	HOOK_R_COUNT
};
static const char *const hook_result_names[HOOK_R_COUNT] = {
#define X(n) #n,
	HOOK_RESULTS(X)
#undef X
};

/* A delivery waiting for Redis's word on its id. */
struct hook_op {
	TAILQ_ENTRY(hook_op) link;
	struct evhttp_request *er;   /* NULL once hook_in_stop dropped it */
	struct hook_event ev;
	char id[HOOK_DELIVERY_MAX + 1];
	char key[HOOK_DELIVERY_MAX + 96];
};
TAILQ_HEAD(hook_opq, hook_op);

static struct {
	bool on;
	struct event_base *base;
	struct redis_conn *redis;
	struct hook_dedupe *seen;
	struct hook_opq ops;
	char *prefix;
	unsigned long long events[HOOK_EV_COUNT][HOOK_R_COUNT];
	unsigned long long dedupe_hits, dedupe_redis_hits, redis_errors, spool_refused;
	double last_event;   /* wall clock of the last signed delivery; 0: none yet */
} hk = { .ops = TAILQ_HEAD_INITIALIZER(hk.ops) };

static double hook_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hook_count(enum hook_event_type t, enum hook_result r)
{
	hk.events[t][r]++;
}

static void hook_reply_json(struct evhttp_request *er, const char *status)
{
	struct evbuffer *b = evbuffer_new();
	if (b)
		evbuffer_add_printf(b, "{\"status\":\"%s\"}", status);
	evhttp_add_header(evhttp_request_get_output_headers(er), "Content-Type", "application/json");
	http_reply(er, 200, b);
	if (b)
		evbuffer_free(b);
}

/* Whether SIG is HMAC-SHA256(KEY, BODY): constant time over the digest. */
static bool hook_sig_matches(const struct fg_secret *key, const unsigned char *body, size_t len,
			     const unsigned char sig[32])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	const char *k = conf_secret_data(key);
	if (conf_secret_empty(key) ||
	    !HMAC(EVP_sha256(), k, (int)strlen(k), body, len, mac, &maclen) || maclen != 32)
		return false;
	bool ok = CRYPTO_memcmp(mac, sig, 32) == 0;
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

/* The path of a request target, without its query. */
static bool hook_path_is(const char *target, const char *path)
{
	size_t n = strlen(path);
	return target && strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

/* The status into VIN's entry (when one is cached), list entries out here
 * and on every instance, a verification scheduled. */
static void hook_apply(const struct fg_config *cfg, const struct hook_event *ev, const char *id)
{
	struct cache *c = cache_shared();
	double now = clock_now();
	const char *status = fg_status_names[ev->status];
	struct cache_answer *old = c ? cache_stale(c, ev->vin, now) : NULL, *a = NULL;
	json_t *o = old && old->data ? json_loadb((const char *)old->data, old->len, 0, NULL) : NULL;
	if (json_is_object(o) && json_object_set_new(o, "status", json_string(status)) == 0) {
		char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text)
			a = cache_answer_new(200, old->ctype, text, strlen(text), NULL, now);
		free(text);
	}
	json_decref(o);
	cache_answer_unref(old);
	if (c)
		cache_replace(c, ev->vin, a, cache_ttl(cfg, false, status), cfg->stale_if_error, cfg->cache_max_bytes, now);
	cache_answer_unref(a);
	if (redis_cache_on()) {
		char *one[] = { (char *)ev->vin };
		redis_cache_invalidate(hk.base, one, 1);
	}
	hook_verify_schedule(ev->vin, ev->status);
	log_info("webhook: %s is %s now (delivery %s applied; a list read verifies it)", ev->vin, status, id);
}

static void hook_redis_set_cb(enum redis_outcome o, const redisReply *reply, void *arg)
{
	(void)arg;
	/* NIL: another instance marked it first (it applied it too). */
	if (o != REDIS_REPLY || !reply || (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_NIL))
		hk.redis_errors++;
}

/* Applied, then marked seen (memory, spool, Redis), then 200. */
static void hook_finish(struct evhttp_request *er, const struct hook_event *ev, const char *id, const char *key)
{
	struct fg_config *cfg = conf_current();
	hook_apply(cfg, ev, id);
	hook_dedupe_mark(hk.seen, id, hook_wall(), cfg->webhook_max_age);
	if (hk.redis && key[0] && redis_conn_usable(hk.redis)) {
		char px[32];
		snprintf(px, sizeof px, "%lld", (long long)cfg->webhook_max_age * 1000);
		const char *argv[] = { "SET", key, "1", "NX", "PX", px };
		if (redis_command(hk.redis, hook_redis_set_cb, NULL, 6, argv, NULL) < 0)
			hk.redis_errors++;
	}
	conf_unref(cfg);
	hook_count(HOOK_EV_fleet_clearance_changed, HOOK_R_applied);
	hook_reply_json(er, "applied");
}

static void hook_duplicate(struct evhttp_request *er, bool redis)
{
	hk.dedupe_hits++;
	if (redis)
		hk.dedupe_redis_hits++;
	hook_count(HOOK_EV_fleet_clearance_changed, HOOK_R_duplicate);
	hook_reply_json(er, "duplicate");
}

static void hook_redis_cb(enum redis_outcome o, const redisReply *reply, void *arg)
{
	struct hook_op *op = arg;
	TAILQ_REMOVE(&hk.ops, op, link);
	if (op->er) {
		bool seen = o == REDIS_REPLY && reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
		if (o != REDIS_REPLY || !reply || reply->type != REDIS_REPLY_INTEGER)
			hk.redis_errors++;   /* no word from Redis: apply (applying twice is harmless) */
		if (seen) {
			struct fg_config *cfg = conf_current();
			hook_dedupe_mark(hk.seen, op->id, hook_wall(), cfg->webhook_max_age);
			conf_unref(cfg);
			hook_duplicate(op->er, true);
		} else {
			hook_finish(op->er, &op->ev, op->id, op->key);
		}
	}
	free(op);
}

static void hook_clearance(struct evhttp_request *er, const struct fg_config *cfg, const unsigned char *body,
			   size_t len)
{
	const char *id = evhttp_find_header(evhttp_request_get_input_headers(er), "X-HM-Delivery");
	struct hook_event ev;
	char err[160];
	if (!hook_event_delivery_ok(id)) {
		hook_count(HOOK_EV_fleet_clearance_changed, HOOK_R_malformed);
		http_send_error(er, 400, "X-HM-Delivery is missing or not 1 to 128 characters of [A-Za-z0-9._:-]");
		return;
	}
	if (hook_event_parse(body, len, cfg->webhook_max_body_bytes, &ev, err, sizeof err) < 0) {
		hook_count(HOOK_EV_fleet_clearance_changed, HOOK_R_malformed);
		http_send_error(er, 400, err);
		return;
	}
	if (hook_dedupe_seen(hk.seen, id, hook_wall(), cfg->webhook_max_age)) {
		hook_duplicate(er, false);
		return;
	}
	struct hook_op *op = calloc(1, sizeof *op);
	if (!op) {
		http_send_error(er, 503, "out of memory");
		return;
	}
	op->er = er;
	op->ev = ev;
	snprintf(op->id, sizeof op->id, "%s", id);
	if (hk.redis && redis_conn_usable(hk.redis)) {
		snprintf(op->key, sizeof op->key, "%s:hook:delivery:%s", hk.prefix, id);
		const char *argv[] = { "EXISTS", op->key };
		TAILQ_INSERT_TAIL(&hk.ops, op, link);
		if (redis_command(hk.redis, hook_redis_cb, op, 2, argv, NULL) == 0)
			return;
		TAILQ_REMOVE(&hk.ops, op, link);
		hk.redis_errors++;
	}
	hook_finish(er, &ev, op->id, op->key);
	free(op);
}

static void hook_request(struct evhttp_request *er)
{
	struct fg_config *cfg = conf_current();
	const char *uri = evhttp_request_get_uri(er);
	struct evkeyvalq *h = evhttp_request_get_input_headers(er);
	enum hook_event_type t = hook_event_type_of(evhttp_find_header(h, "X-HM-Event"));
	struct evbuffer *in = evhttp_request_get_input_buffer(er);
	size_t len = evbuffer_get_length(in);
	unsigned char sig[32];

	if (!hook_path_is(uri, cfg->webhook_path)) {
		http_send_error(er, 404, "no such path: deliveries go to [webhook] path");
		goto out;
	}
	if (evhttp_request_get_command(er) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(er), "Allow", "POST");
		http_send_error(er, 405, "deliveries are POSTed");
		goto out;
	}
	if (len > cfg->webhook_max_body_bytes) {
		hook_count(t, HOOK_R_too_large);
		http_send_error(er, 413, "the delivery is larger than [webhook] max_body_bytes");
		goto out;
	}
	const unsigned char *body = len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	/* Both secrets are tried, so the time taken says nothing about which. */
	bool have = hook_event_signature(evhttp_find_header(h, "X-HM-Signature-256"), sig);
	bool now_ok = have && hook_sig_matches(&cfg->webhook_secret, body, len, sig);
	bool prev_ok = have && hook_sig_matches(&cfg->webhook_secret_previous, body, len, sig);
	if (!now_ok && !prev_ok) {
		hook_count(t, HOOK_R_unauthorized);
		static long last_log;
		long sec = (long)clock_now();
		if (sec != last_log)
			log_warn("webhook: a delivery with a %s X-HM-Signature-256 was refused (401); is [webhook] secret "
				 "the one set in the High Mobility console?", have ? "wrong" : "missing or malformed");
		last_log = sec;
		http_send_error(er, 401, "X-HM-Signature-256 is missing or does not match the body");
		goto out;
	}
	hk.last_event = hook_wall();
	if (t == HOOK_EV_ping) {
		hook_count(t, HOOK_R_ok);
		hook_reply_json(er, "ok");
	} else if (t == HOOK_EV_unknown) {
		hook_count(t, HOOK_R_ignored);
		hook_reply_json(er, "ignored");
	} else {
		hook_clearance(er, cfg, body, len);
	}
out:
	conf_unref(cfg);
}

/* Refused on its headers, before a byte of the body is read. */
static int hook_head(const char *target, struct evkeyvalq *h, char *detail, size_t len)
{
	struct fg_config *cfg = conf_current();
	const char *cl = evhttp_find_header(h, "Content-Length");
	int status = 0;
	if (cl && strtoull(cl, NULL, 10) > cfg->webhook_max_body_bytes) {
		hook_count(hook_event_type_of(evhttp_find_header(h, "X-HM-Event")), HOOK_R_too_large);
		snprintf(detail, len, "the delivery is larger than [webhook] max_body_bytes");
		status = 413;
	} else if (target[0] && !hook_path_is(target, cfg->webhook_path)) {
		snprintf(detail, len, "no such path: deliveries go to [webhook] path");
		status = 404;
	}
	conf_unref(cfg);
	return status;
}

static void hook_limits(int *header_timeout, int *body_timeout, int *max_connections)
{
	struct fg_config *cfg = conf_current();
	*header_timeout = cfg ? cfg->webhook_header_timeout : 10;
	*body_timeout = cfg ? cfg->webhook_body_timeout : 10;
	*max_connections = cfg ? cfg->webhook_max_connections : 64;
	conf_unref(cfg);
}

int hook_in_start(struct event_base *base, struct redis_conn *redis, const struct fg_config *c, char *err,
		  size_t errlen)
{
	if (!c->webhook_listen.n)
		return 0;
	hk.base = base;
	hk.redis = redis;
	hk.prefix = strdup(c->redis_prefix ? c->redis_prefix : "fleetgate");
	hk.seen = hook_dedupe_new((size_t)c->webhook_dedupe_max);
	if (!hk.prefix || !hk.seen) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->webhook_spool) {
		size_t bad = 0;
		long kept = hook_dedupe_spool(hk.seen, c->webhook_spool, hook_wall(), c->webhook_max_age, &bad, err, errlen);
		if (kept < 0)
			return -1;
		hk.spool_refused = bad;
		if (bad)
			log_warn("webhook: %zu malformed line(s) of %s/seen were dropped", bad, c->webhook_spool);
		log_info("webhook: %ld delivery id(s) remembered from %s/seen", kept, c->webhook_spool);
	}
	if (redis_cache_on())
		redis_cache_base_add(base);   /* connected before the first delivery's invalidation */
	if (hook_verify_start(base, c) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	static const struct http_listen_side side = { hook_request, hook_head, hook_limits };
	if (http_listen_webhook_bind(base, &side) < 0) {
		snprintf(err, errlen, "cannot serve the webhook listener");
		return -1;
	}
	hk.on = true;
	return 0;
}

void hook_in_config_changed(const struct fg_config *c)
{
	hook_verify_config_changed(c);
}

void hook_in_stop(void)
{
	struct hook_op *op;
	TAILQ_FOREACH(op, &hk.ops, link)
		op->er = NULL;   /* freed with its connection by the unbind below */
	http_listen_webhook_unbind();
	hook_verify_stop();
	hook_dedupe_free(hk.seen);
	hk.seen = NULL;
	free(hk.prefix);
	hk.prefix = NULL;
	hk.on = false;
}

bool hook_in_on(void) { return hk.on; }

void hook_in_stats_json(json_t *root)
{
	if (!hk.on)
		return;   /* no section, no status page panel, without a listener */
	json_t *o = json_object(), *ev = json_object();
	json_object_set_new(root, "webhooks", o);
	json_object_set_new(o, "listening", json_boolean(hk.on));
	for (int t = 0; t < HOOK_EV_COUNT; t++) {
		json_t *r = json_object();
		for (int k = 0; k < HOOK_R_COUNT; k++)
			json_object_set_new(r, hook_result_names[k], json_integer((json_int_t)hk.events[t][k]));
		json_object_set_new(ev, hook_event_type_names[t], r);
	}
	json_object_set_new(o, "events", ev);
	json_object_set_new(o, "connections_open", json_integer(http_listen_webhook_connections()));
	json_object_set_new(o, "last_event_ago_s", hk.last_event > 0 ?
			    json_integer((json_int_t)(hook_wall() - hk.last_event)) : json_null());
	json_object_set_new(o, "dedupe", json_pack("{s:I,s:I,s:I,s:I,s:I}",
		"hits", (json_int_t)hk.dedupe_hits, "redis_hits", (json_int_t)hk.dedupe_redis_hits,
		"window", (json_int_t)hook_dedupe_count(hk.seen), "redis_errors", (json_int_t)hk.redis_errors,
		"spool_refused", (json_int_t)hk.spool_refused));
	hook_verify_stats_json(o);
}

void hook_in_metrics(struct evbuffer *b)
{
	const char *name = "fleetgate_webhook_events_total";
	metric_family(b, name, METRIC_COUNTER, "Webhook deliveries by event (X-HM-Event) and result");
	for (int t = 0; t < HOOK_EV_COUNT; t++)
		for (int k = 0; k < HOOK_R_COUNT; k++)
			metric_u64(b, name, (const char *const[]){ "event", hook_event_type_names[t], "result",
								    hook_result_names[k], NULL }, hk.events[t][k]);
	metric_counter(b, "webhook_dedupe_hits_total", "Deliveries ignored because their X-HM-Delivery was already applied",
		       (double)hk.dedupe_hits);
	metric_gauge(b, "webhook_dedupe_window", "Delivery ids remembered in memory", (double)hook_dedupe_count(hk.seen));
	metric_gauge(b, "webhook_connections_open", "Connections open on the webhook listener",
		     (double)http_listen_webhook_connections());
	metric_gauge(b, "webhook_last_event_age_seconds", "Seconds since the last signed delivery (-1: none yet)",
		     hk.last_event > 0 ? hook_wall() - hk.last_event : -1);
	hook_verify_metrics(b);
}
