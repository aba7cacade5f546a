/* redis_drift.c: publishing this instance's tenant configuration hash and
 * comparing it with the other instances' (see redis_drift.h).
 *
 * Owns: the hash (computed on the main thread at start and at each
 * reload), the PREFIX:config key and its script, the timer, and what the
 * last answer said. What Redis returns is input: pairs of an instance id
 * and 64 hex digits, at most REDIS_DRIFT_MAX instances, anything else
 * refused (redis_conn_refuse) and not counted.
 *
 * Never: put a secret in the hash's input other than as it is already
 * hashed (API keys are SHA-256 digests in the configuration), or decide
 * anything but what /stats shows. */
#include "redis_drift.h"
#include "log.h"
#include "metric.h"
#include "tenant.h"
#include "vinset.h"
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_DRIFT_MAX 1024   /* instances counted; more is a refused reply */

/* KEYS: the hash. ARGV: instance, config hash, stale ms. Returns the live
 * {instance, hash, ...}; drops stale and malformed fields. */
static const char drift_src[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local stale = tonumber(ARGV[3])\n"
	"redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)\n"
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local out = {}\n"
	"for i = 1, #all - 1, 2 do\n"
	"  local h, at = string.match(all[i + 1], '^(%x+) (%d+)$')\n"
	"  if not at or now - tonumber(at) > stale then redis.call('HDEL', KEYS[1], all[i])\n"
	"  else out[#out + 1] = all[i]; out[#out + 1] = h end\n"
	"end\n"
	"redis.call('PEXPIRE', KEYS[1], stale * 2)\n"
	"return out\n";

static struct {
	struct event_base *base;
	struct redis_conn *rc;
	struct event *timer;
	struct redis_script script;
	char *key;
	char instance[17];
	bool asking;
	pthread_mutex_t mu;           /* what follows: read by the admin thread */
	char hash[65];
	int instances, hashes, differ;   /* live instances, distinct hashes, instances unlike this one */
	bool known;
} dr = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void drift_feed(EVP_MD_CTX *h, const void *p, size_t n)
{
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	EVP_DigestUpdate(h, len, sizeof len);
	if (n)
		EVP_DigestUpdate(h, p, n);
}

static void drift_feed_int(EVP_MD_CTX *h, long long v)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%lld", v);
	drift_feed(h, b, (size_t)n);
}

void redis_drift_hash(const struct fg_config *c, char out[65])
{
	unsigned char md[32];
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	out[0] = '\0';
	if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h);
		return;
	}
	drift_feed(h, "fleetgate-tenants-v1", 20);
	drift_feed_int(h, (long long)c->ntenants);
	for (size_t i = 0; i < c->ntenants; i++) {   /* sorted by name */
		const struct fg_tenant *t = c->tenants[i];
		unsigned char vd[32];
		drift_feed(h, t->name, strlen(t->name));
		drift_feed_int(h, t->methods);
		vinset_digest(t->vins, vd);
		drift_feed(h, vd, sizeof vd);
		drift_feed_int(h, (long long)t->nkeys);
		for (size_t k = 0; k < t->nkeys; k++)
			drift_feed(h, t->keys[k], 32);
		drift_feed_int(h, (long long)t->nsources);
		for (size_t k = 0; k < t->nsources; k++) {
			drift_feed_int(h, t->sources[k].family);
			drift_feed(h, t->sources[k].addr, 16);
			drift_feed_int(h, t->sources[k].bits);
		}
		drift_feed_int(h, (long long)t->listen.n);
		for (size_t k = 0; k < t->listen.n; k++)
			drift_feed(h, t->listen.v[k].spec, strlen(t->listen.v[k].spec));
		drift_feed_int(h, t->has_rate ? (long long)t->rate.count : -1);
		drift_feed_int(h, t->has_rate ? (long long)t->rate.window_s : -1);
		drift_feed_int(h, t->burst);
	}
	if (EVP_DigestFinal_ex(h, md, NULL))
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(h);
}

static bool drift_hex64(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STRING || r->len != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", r->str[i]) || !r->str[i])
			return false;
	return true;
}

static void drift_done(enum redis_outcome o, const redisReply *r, void *arg)
{
	(void)arg;
	dr.asking = false;
	if (o != REDIS_REPLY)
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 || r->elements > 2 * REDIS_DRIFT_MAX) {
		redis_conn_refuse(dr.rc, "the configuration hashes came back out of shape");
		return;
	}
	const char *seen[REDIS_DRIFT_MAX];
	int nseen = 0, differ = 0;
	pthread_mutex_lock(&dr.mu);
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *h = r->element[i + 1];
		if (r->element[i]->type != REDIS_REPLY_STRING || !drift_hex64(h)) {
			pthread_mutex_unlock(&dr.mu);
			redis_conn_refuse(dr.rc, "a configuration hash that is not 64 hex digits");
			return;
		}
		bool dup = false;
		for (int k = 0; k < nseen && !dup; k++)
			dup = memcmp(seen[k], h->str, 64) == 0;
		if (!dup)
			seen[nseen++] = h->str;
		differ += memcmp(h->str, dr.hash, 64) != 0;
	}
	bool was = dr.known && dr.hashes > 1;
	dr.instances = (int)(r->elements / 2);
	dr.hashes = nseen;
	dr.differ = differ;
	dr.known = true;
	pthread_mutex_unlock(&dr.mu);
	if (nseen > 1 && !was)
		log_warn("redis: configuration drift: %d instances hold %d different tenant configurations "
			 "(%d unlike this one, %.16s)", (int)(r->elements / 2), nseen, differ, dr.hash);
	else if (nseen <= 1 && was)
		log_info("redis: every instance holds the same tenant configuration again");
}

static void drift_publish(void)
{
	char stale[24], hash[65];
	if (!dr.rc || dr.asking)
		return;
	pthread_mutex_lock(&dr.mu);
	memcpy(hash, dr.hash, sizeof hash);
	pthread_mutex_unlock(&dr.mu);
	snprintf(stale, sizeof stale, "%d", REDIS_DRIFT_STALE_MS);
	const char *args[4] = { dr.key, dr.instance, hash, stale };
	if (redis_eval(dr.rc, &dr.script, 1, 4, args, NULL, drift_done, NULL) == 0)
		dr.asking = true;
}

static void drift_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	drift_publish();
}

int redis_drift_start(struct event_base *base, struct redis_conn *rc, const struct fg_config *c)
{
	unsigned char rnd[8];
	if (!conf_redis_on(c) || !rc)
		return 0;
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	for (int i = 0; i < 8; i++)
		snprintf(dr.instance + 2 * i, 3, "%02x", rnd[i]);
	const char *prefix = c->redis_prefix ? c->redis_prefix : "fleetgate";
	size_t n = strlen(prefix) + 8;
	dr.key = malloc(n);
	dr.timer = event_new(base, -1, EV_PERSIST, drift_tick, NULL);
	if (!dr.key || !dr.timer)
		return -1;
	snprintf(dr.key, n, "%s:config", prefix);
	redis_script_init(&dr.script, drift_src);
	dr.base = base;
	dr.rc = rc;
	redis_drift_config_changed(c);
	struct timeval tv = { REDIS_DRIFT_EVERY_S, 0 };
	evtimer_add(dr.timer, &tv);
	return 0;
}

void redis_drift_config_changed(const struct fg_config *c)
{
	char h[65];
	if (!dr.rc)
		return;
	redis_drift_hash(c, h);
	pthread_mutex_lock(&dr.mu);
	memcpy(dr.hash, h, sizeof h);
	pthread_mutex_unlock(&dr.mu);
	drift_publish();   /* when one is in flight, the next tick carries it */
}

void redis_drift_stop(void)
{
	if (dr.timer)
		event_free(dr.timer);
	dr.timer = NULL;
	dr.rc = NULL;
	free(dr.key);
	dr.key = NULL;
}

void redis_drift_stats_json(json_t *o)
{
	pthread_mutex_lock(&dr.mu);
	json_object_set_new(o, "config_hash", json_stringn(dr.hash, dr.hash[0] ? 16 : 0));
	json_object_set_new(o, "config_instances", json_integer(dr.instances));
	json_object_set_new(o, "config_hashes", json_integer(dr.hashes));
	json_object_set_new(o, "config_drift", json_boolean(dr.known && dr.hashes > 1));
	pthread_mutex_unlock(&dr.mu);
}

void redis_drift_metrics(struct evbuffer *b)
{
	pthread_mutex_lock(&dr.mu);
	int drift = dr.known && dr.hashes > 1, inst = dr.instances, hashes = dr.hashes;
	pthread_mutex_unlock(&dr.mu);
	metric_gauge(b, "redis_config_drift",
		     "Whether live instances hold different tenant configurations (1) or not (0)", drift);
	metric_gauge(b, "redis_config_instances", "Live instances that published a tenant configuration hash", inst);
	metric_gauge(b, "redis_config_hashes", "Distinct tenant configuration hashes among live instances", hashes);
}

bool redis_drift_seen(void)
{
	pthread_mutex_lock(&dr.mu);
	bool d = dr.known && dr.hashes > 1;
	pthread_mutex_unlock(&dr.mu);
	return d;
}
