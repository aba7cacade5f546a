/* redis_cache.c: the second cache level in Redis (see redis_cache.h).
 *
 * Owns: the cache's keys and Lua scripts, one Redis connection per worker
 * event base (made on first use, on that worker's thread), the fill-lock
 * polling of a lookup, the invalidation subscriber on the main base, and
 * the second level's counters.
 *
 * Keys, per VIN (the braces keep a VIN's keys in one Cluster slot):
 *   PREFIX:cache:{VIN}:v  a hash: s status, t content type, b body,
 *                         f fresh ms, x stale-if-error ms; PX = f + x, so
 *                         its age is f + x - PTTL: Redis's clock only;
 *   PREFIX:cache:{VIN}:g  the VIN's generation, bumped by every
 *                         invalidation; a store names the one its lookup
 *                         saw and is refused when it changed;
 *   PREFIX:cache:{VIN}:l  the fill lock (SET NX PX): one instance goes
 *                         upstream, the others poll until it has stored.
 * Invalidations are published on PREFIX:cache:invalidate as
 * "INSTANCE VIN VIN ..."; every other instance drops its own copies, and
 * one whose subscription dropped flushes its whole local cache when it is
 * subscribed again, since what was published meanwhile is lost (not at
 * the drop: while Redis is away, local hits keep being served).
 *
 * Lists are not kept here: they are filtered per tenant and every
 * mutation drops them, so they stay in the process (first level) only.
 *
 * Never: fail a request because Redis did not answer (that is a miss), or
 * trust an instance clock for an answer's age. */
#include "redis_cache.h"
#include "cache.h"
#include "log.h"
#include "metric.h"
#include "clock.h"
#include "redis.h"
#include "redis_entry.h"
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_POLL_MS 50
#define SC_GEN_TTL_MS "3600000"   /* longer than any read that may race it */
#define SC_MAX_BASES 64
#define SC_KEY_LEN 256
#define SC_WAIT_MIN_MS 2000       /* waiting out another instance's fill: at least */

/* KEYS: value, gen, lock. ARGV: lock token, lock ms.
 * {1, gen, status, ctype, body, fresh, stale, pttl, expires, mac} or
 * {0, gen, got lock}. Fields go back as the strings Redis holds: C checks
 * them (redis_entry.c), the script only skips what cannot be fresh. */
static const char sc_get_src[] =
	"local v = redis.call('HMGET', KEYS[1], 's', 't', 'b', 'f', 'x', 'e', 'm')\n"
	"local g = redis.call('GET', KEYS[2]) or '0'\n"
	"local f, x = tonumber(v[4]), tonumber(v[5])\n"
	"if v[1] and v[2] and v[3] and f and x then\n"
	"  local left = redis.call('PTTL', KEYS[1])\n"
	"  if left > 0 and f + x - left < f then\n"
	"    return {1, g, v[1], v[2], v[3], v[4], v[5], left, v[6] or '', v[7] or ''}\n"
	"  end\n"
	"end\n"
	"if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return {0, g, 1} end\n"
	"return {0, g, 0}\n";

/* KEYS: value, gen, lock. ARGV: gen, px, status, ctype, body, fresh, stale,
 * lock token, expires, mac. 1 stored, 0 refused (invalidated since the
 * lookup). */
static const char sc_put_src[] =
	"if ARGV[8] ~= '' and redis.call('GET', KEYS[3]) == ARGV[8] then redis.call('DEL', KEYS[3]) end\n"
	"if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"redis.call('HSET', KEYS[1], 's', ARGV[3], 't', ARGV[4], 'b', ARGV[5], 'f', ARGV[6], 'x', ARGV[7],"
	" 'e', ARGV[9], 'm', ARGV[10])\n"
	"redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))\n"
	"return 1\n";

/* KEYS: lock. ARGV: token. */
static const char sc_unlock_src[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

/* KEYS: (value, gen) pairs. ARGV: channel, message, gen ttl. The
 * generation outlives the answer it retires (a signed entry names its
 * generation: one saved before the bump cannot come back while it would
 * still be fresh). */
static const char sc_inv_src[] =
	"for i = 1, #KEYS - 1, 2 do\n"
	"  local left = redis.call('PTTL', KEYS[i])\n"
	"  redis.call('DEL', KEYS[i])\n"
	"  redis.call('INCR', KEYS[i + 1])\n"
	"  redis.call('PEXPIRE', KEYS[i + 1], math.max(tonumber(ARGV[3]), left + 60000))\n"
	"end\n"
	"redis.call('PUBLISH', ARGV[1], ARGV[2])\n"
	"return 1\n";

static struct {
	bool on;
	struct fg_config *cfg;          /* the start-up [redis]: not reloadable */
	char *prefix, *channel;
	char instance[17];
	struct redis_conn *sub;
	bool dropped;                   /* the subscription was lost (main base) */
	pthread_mutex_t mu;             /* conns */
	struct { struct event_base *base; struct redis_conn *rc; } conns[SC_MAX_BASES];
	int nconns;
	struct redis_script get, put, unlock, inv;
	atomic_ullong seq;
	atomic_ullong hits, misses, errors, stores, refused, remote_inv, lock_waits, flushes, rejected;
	_Atomic double fill_ms;         /* the slowest recent fill seen here (decays) */
} sc = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct sharedcache_op {
	const struct fg_config *cfg;    /* the asking request's: its ttl caps */
	struct event_base *base;
	struct redis_conn *rc;
	char vin[32];
	long long lock_ms;
	double deadline_ms;             /* polls left, in ms of waiting */
	struct sharedcache_ticket *t;
	sharedcache_fn cb;
	void *arg;
	struct event *timer;
	bool cancelled, in_flight, waited;
	char token[SHAREDCACHE_TOKEN_LEN];
};

bool redis_cache_on(void) { return sc.on; }

static void sc_key(char *out, const char *vin, char what)
{
	snprintf(out, SC_KEY_LEN, "%s:cache:{%s}:%c", sc.prefix, vin, what);
}

static struct redis_opts sc_opts(void)
{
	struct redis_opts o = {
		.url = &sc.cfg->redis_url, .username = sc.cfg->redis_username,
		.password = &sc.cfg->redis_password,
		.connect_timeout_ms = sc.cfg->redis_connect_timeout_ms, .timeout_ms = sc.cfg->redis_timeout_ms,
		.max_reply_bytes = conf_redis_max_reply(sc.cfg),
	};
	return o;
}

/* This base's connection, made by redis_cache_base_add (or, for a base
 * that was not there at start, on first use, on its own thread). */
static struct redis_conn *sc_conn_any(struct event_base *base)
{
	struct redis_conn *rc = NULL;
	if (!sc.on || !base)
		return NULL;
	pthread_mutex_lock(&sc.mu);
	for (int i = 0; i < sc.nconns && !rc; i++)
		if (sc.conns[i].base == base)
			rc = sc.conns[i].rc;
	if (!rc && sc.nconns < SC_MAX_BASES) {
		struct redis_opts o = sc_opts();
		rc = redis_conn_new(base, &o, "worker");
		if (rc) {
			sc.conns[sc.nconns].base = base;
			sc.conns[sc.nconns++].rc = rc;
		}
	}
	pthread_mutex_unlock(&sc.mu);
	return rc;
}

static struct redis_conn *sc_conn(struct event_base *base)
{
	struct redis_conn *rc = sc_conn_any(base);
	return redis_conn_usable(rc) ? rc : NULL;
}

void redis_cache_base_add(struct event_base *base)
{
	sc_conn_any(base);
}

void redis_cache_base_gone(struct event_base *base)
{
	pthread_mutex_lock(&sc.mu);
	for (int i = 0; i < sc.nconns; i++) {
		if (sc.conns[i].base != base)
			continue;
		redis_conn_free(sc.conns[i].rc);
		sc.conns[i] = sc.conns[--sc.nconns];
		break;
	}
	pthread_mutex_unlock(&sc.mu);
}

/* Fire-and-forget commands: only their failures are counted. */
static void sc_counted(enum redis_outcome o, const redisReply *r, void *arg)
{
	(void)arg;
	(void)r;
	if (o != REDIS_REPLY)
		atomic_fetch_add(&sc.errors, 1);
}

static void sc_put_done(enum redis_outcome o, const redisReply *r, void *arg)
{
	(void)arg;
	if (o != REDIS_REPLY || r->type != REDIS_REPLY_INTEGER)
		atomic_fetch_add(&sc.errors, 1);
	else
		atomic_fetch_add(r->integer ? &sc.stores : &sc.refused, 1);
}

/* ---- lookups ---------------------------------------------------------------- */

static int sc_get_send(struct sharedcache_op *op);

static void sc_op_free(struct sharedcache_op *op)
{
	if (op->timer)
		event_free(op->timer);
	free(op);
}

static void sc_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sharedcache_op *op = arg;
	(void)fd;
	(void)what;
	op->rc = sc_conn(op->base);
	if (!op->rc || sc_get_send(op) < 0) {
		atomic_fetch_add(&sc.errors, 1);
		op->t->asked = false;
		sharedcache_fn cb = op->cb;
		void *a = op->arg;
		sc_op_free(op);
		cb(SHAREDCACHE_ERROR, NULL, a);
	}
}

static long long sc_int(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return -1;
}

static bool sc_str(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING;
}

/* A hit's fields through the one decoder: NULL when usable, else why not. */
static const char *sc_decode(struct sharedcache_op *op, const redisReply *r, struct sharedcache_hit *hit,
			     bool *expired)
{
	struct redis_entry_raw raw = { 0 };
	struct redis_entry e;
	const char *why = NULL;
	static const int at[RE_NFIELDS] = { [RE_STATUS] = 2, [RE_CTYPE] = 3, [RE_BODY] = 4, [RE_FRESH] = 5,
					    [RE_STALE] = 6, [RE_EXPIRES] = 8, [RE_MAC] = 9 };
	if (r->elements != 10 || r->element[7]->type != REDIS_REPLY_INTEGER)
		return "a hit of the wrong shape";
	for (int i = 0; i < RE_NFIELDS; i++) {
		const redisReply *f = r->element[at[i]];
		if (!sc_str(f))
			return "a field that is not a string";
		raw.f[i].p = f->str;
		raw.f[i].n = f->len;
	}
	raw.left_ms = r->element[7]->integer;
	struct redis_entry_rules rules = {
		.kind = REDIS_ENTRY_VIN, .key = op->vin, .gen = op->t->gen, .cfg = op->cfg,
		.now_ms = (long long)(clock_wall() * 1000.0),
		.key_now = &sc.cfg->redis_signing_key, .key_prev = &sc.cfg->redis_signing_key_previous,
	};
	enum redis_entry_verdict v = redis_entry_decode(&raw, &rules, &e, &why);
	*expired = v == REDIS_ENTRY_EXPIRED;
	if (v != REDIS_ENTRY_OK)
		return why;
	hit->status = e.status;
	snprintf(hit->ctype, sizeof hit->ctype, "%.*s", (int)e.ctype.n, e.ctype.p);
	hit->body = e.body.p;
	hit->len = e.body.n;
	hit->fresh_ms = e.fresh_left_ms + e.age_ms;
	hit->stale_ms = e.stale_ms;
	hit->age_ms = e.age_ms;
	return NULL;
}

/* How long a lookup waits out another instance's fill lock: as long as
 * fills here have taken lately (twice, and at least SC_WAIT_MIN_MS), never
 * the lock's own life, which Redis says and anyone may have written. */
static double sc_wait_bound(long long lock_ms)
{
	double w = 2 * atomic_load(&sc.fill_ms) + 2 * SC_POLL_MS;
	if (w < SC_WAIT_MIN_MS)
		w = SC_WAIT_MIN_MS;
	return w < (double)lock_ms ? w : (double)lock_ms;
}

static void sc_fill_seen(double ms)
{
	double old = atomic_load(&sc.fill_ms), nw;
	do
		nw = ms > old * 0.9 ? ms : old * 0.9;
	while (!atomic_compare_exchange_weak(&sc.fill_ms, &old, nw));
}

static void sc_get_done(enum redis_outcome o, const redisReply *r, void *arg)
{
	struct sharedcache_op *op = arg;
	enum sharedcache_status st = SHAREDCACHE_ERROR;
	struct sharedcache_hit hit = { 0 };
	op->in_flight = false;
	bool ok = o == REDIS_REPLY && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
		  sc_str(r->element[1]) && redis_entry_gen_ok(r->element[1]->str, r->element[1]->len) &&
		  r->element[0]->type == REDIS_REPLY_INTEGER;
	bool found = ok && r->element[0]->integer == 1;
	bool got_lock = ok && !found && r->elements == 3 && sc_int(r->element[2]) == 1;
	if (o == REDIS_REPLY && !ok)
		redis_conn_refuse(op->rc, "a cache lookup answered out of shape");
	if (op->cancelled) {
		if (got_lock) {
			char k[SC_KEY_LEN];
			sc_key(k, op->vin, 'l');
			const char *args[2] = { k, op->token };
			redis_eval(op->rc, &sc.unlock, 1, 2, args, NULL, sc_counted, NULL);
		}
		sc_op_free(op);
		return;
	}
	if (ok) {
		op->t->asked = true;
		op->t->asked_at = clock_now();
		snprintf(op->t->gen, sizeof op->t->gen, "%s", r->element[1]->str);
	}
	bool expired = false;
	const char *why = found ? sc_decode(op, r, &hit, &expired) : NULL;
	if (found && !why) {
		st = SHAREDCACHE_HIT;
		atomic_fetch_add(&sc.hits, 1);
	} else if (found) {
		/* Not an answer we would have taken from the upstream: a miss
		 * (upstream, without the lock), and an error unless it merely
		 * ran out of time. */
		st = SHAREDCACHE_MISS;
		atomic_fetch_add(expired ? &sc.misses : &sc.rejected, 1);
		if (!expired) {
			atomic_fetch_add(&sc.errors, 1);
			log_warn("redis: a second-level entry for %s was refused: %s", op->vin, why);
		}
	} else if (ok && !got_lock && op->deadline_ms > 0) {
		/* Another instance is filling it: ask again shortly. */
		if (!op->waited)
			atomic_fetch_add(&sc.lock_waits, 1);
		op->waited = true;
		op->deadline_ms -= SC_POLL_MS;
		if (!op->timer)
			op->timer = evtimer_new(op->base, sc_poll_cb, op);
		struct timeval tv = { 0, SC_POLL_MS * 1000 };
		if (op->timer && evtimer_add(op->timer, &tv) == 0)
			return;
		st = SHAREDCACHE_MISS;
	} else if (ok) {
		st = SHAREDCACHE_MISS;
		if (got_lock)
			snprintf(op->t->lock, sizeof op->t->lock, "%s", op->token);
		atomic_fetch_add(&sc.misses, 1);
	} else {
		atomic_fetch_add(&sc.errors, 1);
	}
	sharedcache_fn cb = op->cb;
	void *a = op->arg;
	sc_op_free(op);
	cb(st, st == SHAREDCACHE_HIT ? &hit : NULL, a);
}

static int sc_get_send(struct sharedcache_op *op)
{
	char kv[SC_KEY_LEN], kg[SC_KEY_LEN], kl[SC_KEY_LEN], ms[24];
	sc_key(kv, op->vin, 'v');
	sc_key(kg, op->vin, 'g');
	sc_key(kl, op->vin, 'l');
	snprintf(ms, sizeof ms, "%lld", op->lock_ms > 0 ? op->lock_ms : 1);
	const char *args[5] = { kv, kg, kl, op->token, ms };
	if (redis_eval(op->rc, &sc.get, 3, 5, args, NULL, sc_get_done, op) < 0)
		return -1;
	op->in_flight = true;
	return 0;
}

struct sharedcache_op *redis_cache_get(struct event_base *base, const char *vin, long long lock_ms,
				       const struct fg_config *cfg, struct sharedcache_ticket *t,
				       sharedcache_fn cb, void *arg)
{
	struct redis_conn *rc = sc_conn(base);
	if (!rc || strlen(vin) >= 32)
		return NULL;
	struct sharedcache_op *op = calloc(1, sizeof *op);
	if (!op)
		return NULL;
	op->cfg = cfg;
	op->base = base;
	op->rc = rc;
	snprintf(op->vin, sizeof op->vin, "%s", vin);
	op->lock_ms = lock_ms;
	op->deadline_ms = sc_wait_bound(lock_ms);
	op->t = t;
	op->cb = cb;
	op->arg = arg;
	snprintf(op->token, sizeof op->token, "%s:%llu", sc.instance,
		 (unsigned long long)atomic_fetch_add(&sc.seq, 1) + 1);
	if (sc_get_send(op) < 0) {
		free(op);
		return NULL;
	}
	return op;
}

void redis_cache_cancel(struct sharedcache_op *op)
{
	if (!op)
		return;
	if (op->in_flight)
		op->cancelled = true;   /* freed by its reply (which is certain) */
	else
		sc_op_free(op);         /* between polls */
}

/* ---- stores and invalidations ---------------------------------------------- */

void redis_cache_put(struct event_base *base, const char *vin, struct sharedcache_ticket *t,
		     const char *ctype, const void *body, size_t len, int fresh_s, int stale_s)
{
	struct redis_conn *rc = sc_conn(base);
	if (!t->asked || fresh_s <= 0) {
		redis_cache_release(base, vin, t);
		return;
	}
	char kv[SC_KEY_LEN], kg[SC_KEY_LEN], kl[SC_KEY_LEN], px[24], f[24], x[24], e[24];
	char mac[REDIS_ENTRY_MAC_HEX] = "";
	sc_key(kv, vin, 'v');
	sc_key(kg, vin, 'g');
	sc_key(kl, vin, 'l');
	long long stale_ms = stale_s > 0 ? (long long)stale_s * 1000 : 0;
	snprintf(f, sizeof f, "%lld", (long long)fresh_s * 1000);
	snprintf(x, sizeof x, "%lld", stale_ms);
	snprintf(px, sizeof px, "%lld", (long long)fresh_s * 1000 + stale_ms);
	snprintf(e, sizeof e, "%lld", (long long)(clock_wall() * 1000.0) + (long long)fresh_s * 1000);
	const char *args[13] = { kv, kg, kl, t->gen, px, "200", ctype ? ctype : "", body ? body : "", f, x,
				 t->lock, e, mac };
	size_t lens[13];
	for (int i = 0; i < 13; i++)
		lens[i] = i == 7 ? len : strlen(args[i]);
	struct redis_entry_raw raw = { .f = {
		[RE_STATUS] = { args[5], lens[5] }, [RE_CTYPE] = { args[6], lens[6] }, [RE_BODY] = { args[7], len },
		[RE_FRESH] = { f, lens[8] }, [RE_STALE] = { x, lens[9] }, [RE_EXPIRES] = { e, lens[11] } } };
	if (!conf_secret_empty(&sc.cfg->redis_signing_key) &&
	    redis_entry_mac(&sc.cfg->redis_signing_key, REDIS_ENTRY_VIN, vin, t->gen, &raw, mac) == 0)
		lens[12] = 64;
	sc_fill_seen((clock_now() - t->asked_at) * 1000.0);
	if (!rc || redis_eval(rc, &sc.put, 3, 13, args, lens, sc_put_done, NULL) < 0)
		atomic_fetch_add(&sc.errors, 1);   /* the lock ages out by its PX */
	t->lock[0] = '\0';
	t->asked = false;
}

void redis_cache_release(struct event_base *base, const char *vin, struct sharedcache_ticket *t)
{
	if (!t->lock[0])
		return;
	struct redis_conn *rc = sc_conn(base);
	char k[SC_KEY_LEN];
	sc_key(k, vin, 'l');
	const char *args[2] = { k, t->lock };
	if (rc)
		redis_eval(rc, &sc.unlock, 1, 2, args, NULL, sc_counted, NULL);
	t->lock[0] = '\0';
}

void redis_cache_invalidate(struct event_base *base, char *const *vins, size_t n)
{
	struct redis_conn *rc = sc_conn(base);
	if (!sc.on || !n)
		return;
	size_t nargs = 2 * n + 3, msglen = sizeof sc.instance + 1;
	for (size_t i = 0; i < n; i++)
		msglen += strlen(vins[i]) + 1;
	const char **args = calloc(nargs, sizeof *args);
	char (*keys)[SC_KEY_LEN] = calloc(2 * n, sizeof *keys);
	char *msg = malloc(msglen);
	if (rc && args && keys && msg) {
		size_t m = (size_t)snprintf(msg, msglen, "%s", sc.instance);
		for (size_t i = 0; i < n; i++) {
			sc_key(keys[2 * i], vins[i], 'v');
			sc_key(keys[2 * i + 1], vins[i], 'g');
			args[2 * i] = keys[2 * i];
			args[2 * i + 1] = keys[2 * i + 1];
			m += (size_t)snprintf(msg + m, msglen - m, " %s", vins[i]);
		}
		args[2 * n] = sc.channel;
		args[2 * n + 1] = msg;
		args[2 * n + 2] = SC_GEN_TTL_MS;
		if (redis_eval(rc, &sc.inv, (int)(2 * n), (int)nargs, args, NULL, sc_counted, NULL) < 0)
			rc = NULL;
	}
	if (!rc) {
		/* Other instances keep their copies until their ttl: counted, logged. */
		atomic_fetch_add(&sc.errors, 1);
		log_warn("redis: an invalidation of %zu VIN(s) could not be sent; other instances may serve "
			 "their cached copies until those expire", n);
	}
	free(args);
	free(keys);
	free(msg);
}

/* ---- the subscriber (main base) ---------------------------------------------- */

static void sc_message(enum redis_sub_event ev, const char *msg, size_t len, void *arg)
{
	(void)arg;
	if (ev == REDIS_SUB_DROPPED) {
		sc.dropped = true;
		log_warn("redis: the invalidation subscription dropped; the local cache is flushed when it is back");
	} else if (ev == REDIS_SUB_SUBSCRIBED && sc.dropped) {
		/* Invalidations published meanwhile are lost: forget everything,
		 * now that new ones reach us again. (Not at the drop itself: while
		 * Redis is away, local hits keep being served.) */
		int n = cache_clear(cache_shared());
		atomic_fetch_add(&sc.flushes, 1);
		sc.dropped = false;
		log_info("redis: subscribed again; the local cache is flushed (%d entries)", n);
	}
	if (ev != REDIS_SUB_MESSAGE || !msg)
		return;
	char *copy = strndup(msg, len);
	char *vins[256], *save = NULL;
	size_t n = 0;
	char *who = copy ? strtok_r(copy, " ", &save) : NULL;
	if (who && strcmp(who, sc.instance) != 0) {
		char *v;
		while ((v = strtok_r(NULL, " ", &save))) {
			vins[n++] = v;
			if (n == sizeof vins / sizeof *vins) {
				cache_invalidate(cache_shared(), vins, n);
				n = 0;
			}
		}
		cache_invalidate(cache_shared(), vins, n);
		atomic_fetch_add(&sc.remote_inv, 1);
	}
	free(copy);
}

int redis_cache_start(struct event_base *base, struct fg_config *c)
{
	if (!conf_redis_on(c) || !c->redis_cache || !c->cache_enabled)
		return 0;
	const char *prefix = c->redis_prefix ? c->redis_prefix : "fleetgate";
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	for (int i = 0; i < 8; i++)
		snprintf(sc.instance + 2 * i, 3, "%02x", rnd[i]);
	sc.prefix = strdup(prefix);
	size_t n = strlen(prefix) + 32;
	sc.channel = malloc(n);
	if (!sc.prefix || !sc.channel)
		return -1;
	snprintf(sc.channel, n, "%s:cache:invalidate", prefix);
	redis_script_init(&sc.get, sc_get_src);
	redis_script_init(&sc.put, sc_put_src);
	redis_script_init(&sc.unlock, sc_unlock_src);
	redis_script_init(&sc.inv, sc_inv_src);
	conf_ref(c);
	sc.cfg = c;
	sc.on = true;
	struct redis_opts o = sc_opts();
	sc.sub = redis_subscriber_new(base, &o, sc.channel, sc_message, NULL);
	if (!sc.sub)
		return -1;
	log_info("cache: second level in Redis (%s:cache:*), invalidations on %s", prefix, sc.channel);
	return 0;
}

void redis_cache_stop(void)
{
	redis_conn_free(sc.sub);
	sc.sub = NULL;
	pthread_mutex_lock(&sc.mu);
	for (int i = 0; i < sc.nconns; i++)
		redis_conn_free(sc.conns[i].rc);   /* bases whose workers never said goodbye */
	sc.nconns = 0;
	pthread_mutex_unlock(&sc.mu);
	sc.on = false;
	if (sc.cfg)
		conf_unref(sc.cfg);
	sc.cfg = NULL;
	free(sc.prefix);
	free(sc.channel);
	sc.prefix = sc.channel = NULL;
}

/* ---- admin surface ------------------------------------------------------------- */

void redis_cache_stats_json(json_t *o)
{
	json_t *s = json_object();
	if (!s)
		return;
	json_object_set_new(s, "hits", json_integer((json_int_t)atomic_load(&sc.hits)));
	json_object_set_new(s, "misses", json_integer((json_int_t)atomic_load(&sc.misses)));
	json_object_set_new(s, "errors", json_integer((json_int_t)atomic_load(&sc.errors)));
	json_object_set_new(s, "stores", json_integer((json_int_t)atomic_load(&sc.stores)));
	json_object_set_new(s, "stores_refused", json_integer((json_int_t)atomic_load(&sc.refused)));
	json_object_set_new(s, "remote_invalidations", json_integer((json_int_t)atomic_load(&sc.remote_inv)));
	json_object_set_new(s, "lock_waits", json_integer((json_int_t)atomic_load(&sc.lock_waits)));
	json_object_set_new(s, "flushes", json_integer((json_int_t)atomic_load(&sc.flushes)));
	json_object_set_new(s, "rejected", json_integer((json_int_t)atomic_load(&sc.rejected)));
	json_object_set_new(s, "signed", json_boolean(sc.cfg && !conf_secret_empty(&sc.cfg->redis_signing_key)));
	json_object_set_new(o, "second_level", s);
}

void redis_cache_metrics(struct evbuffer *b)
{
	metric_counter(b, "cache_l2_hits_total", "Answers found in the Redis second level",
		       (double)atomic_load(&sc.hits));
	metric_counter(b, "cache_l2_misses_total", "Second-level lookups that found nothing fresh",
		       (double)atomic_load(&sc.misses));
	metric_counter(b, "cache_l2_errors_total", "Second-level commands without a usable answer",
		       (double)atomic_load(&sc.errors));
	metric_counter(b, "cache_l2_remote_invalidations_total", "Invalidations received from other instances",
		       (double)atomic_load(&sc.remote_inv));
	metric_counter(b, "cache_l2_lock_waits_total", "Lookups that waited for another instance's fill",
		       (double)atomic_load(&sc.lock_waits));
	metric_counter(b, "cache_l2_rejected_total", "Second-level entries refused: malformed, lying or badly signed",
		       (double)atomic_load(&sc.rejected));
	metric_counter(b, "cache_l2_flushes_total", "Local cache flushes after a lost subscription came back",
		       (double)atomic_load(&sc.flushes));
}
