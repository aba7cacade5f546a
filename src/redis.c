/* redis.c: hiredis 0.14 async connections on libevent (see redis.h).
 *
 * Owns each connection's life: connect, handshake (AUTH, SELECT, the
 * eviction-policy check, SUBSCRIBE for a subscriber), reconnect back-off,
 * the up/connecting/down state, and the counters summed for /stats; its
 * commands (timers, EVALSHA, PINGs, failed commands counting towards
 * down) are redis_cmd.c's, the reply size cap redis_io.c's. hiredis 0.14
 * pitfalls handled here: it has no connect or command time-outs (own
 * timers); it frees a context itself after a failed connect or a
 * disconnect (we only drop our pointer there); a context must never be
 * freed from inside its own callbacks (a teardown we start is deferred to
 * the `reaper` event, run from the loop); redisAsyncConnect resolves host
 * names with a blocking call (config only lets numeric addresses and unix
 * paths through, see conf_parse_redis_url).
 *
 * Never: hold a secret anywhere but the copied password (wiped on free),
 * put one in an error, or block the loop. */
#include "redis.h"
#include "redis_conn.h"
#include "clock.h"
#include "log.h"
#include "redis_io.h"
#include <hiredis/async.h>
#include <math.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REDIS_MAX_CONNS 256
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 1000

static pthread_mutex_t redis_mu = PTHREAD_MUTEX_INITIALIZER;
static struct redis_conn *redis_conns[REDIS_MAX_CONNS];
static char redis_policy[32];



const char *redis_state_name(enum redis_state s)
{
	return s == REDIS_UP ? "up" : s == REDIS_CONNECTING ? "connecting" : "down";
}



/* ---- connecting and losing the connection ------------------------------- */

static void redis_connect_start(struct redis_conn *c);

static void redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_connect_start(arg);
}

static void redis_down_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn *c = arg;
	if (c->failing)
		redis_set_state(c, REDIS_DOWN);
}

/* The connection is gone (C->ac already NULL): count, mark and plan the
 * next attempt. The down timer starts with the first failure only, so a
 * flapping server still goes down after down_after_ms. */
static void redis_lost(struct redis_conn *c)
{
	struct timeval tv;
	bool was_up = atomic_load(&c->state) == REDIS_UP;
	c->ready = false;
	if (c->subscribed && c->sub_cb) {
		c->subscribed = false;
		atomic_fetch_add(&c->sub_drops, 1);
		c->depth++;
		c->sub_cb(REDIS_SUB_DROPPED, NULL, 0, c->sub_arg);
		c->depth--;
	}
	if (c->closing)
		return;
	evtimer_del(c->conn_timer);
	evtimer_del(c->ping);
	if (was_up)
		atomic_fetch_add(&c->disconnects, 1);
	if (!c->failing) {
		c->failing = true;
		redis_ms_tv(c->down_after_ms, &tv);
		evtimer_add(c->down_timer, &tv);
	}
	if (was_up)
		redis_set_state(c, REDIS_CONNECTING);
	redis_ms_tv(c->backoff_ms, &tv);
	evtimer_add(c->retry, &tv);
	c->backoff_ms = c->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Runs from the loop, never inside a hiredis callback: frees the context
 * we decided to drop, or C itself when redis_conn_free was deferred. */
static void redis_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn *c = arg;
	if (c->closing) {
		redis_conn_free(c);
		return;
	}
	if (!c->ac)
		return;
	redisAsyncContext *ac = c->ac;
	c->freeing = true;
	redisAsyncFree(ac);   /* answers pending commands REDIS_GONE */
	c->freeing = false;
	c->ac = NULL;
	redis_lost(c);
}


/* A reply over the cap is arriving (redis_io.c, from the read event). */
static void redis_too_big(void *arg)
{
	struct redis_conn *c = arg;
	char d[48];
	snprintf(d, sizeof d, "more than %zu bytes", c->limit.max_bytes);
	redis_kill(c, "reply over the size cap", d);
}

static void redis_conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn *c = arg;
	char d[32];
	snprintf(d, sizeof d, "%d ms", c->connect_timeout_ms);
	redis_kill(c, "connect and handshake timed out", d);
}

static void redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *c = ac->data;
	if (status == REDIS_OK)
		return;  /* the handshake replies decide when it is up */
	/* hiredis frees AC after this returns */
	redis_note_error(c, "connect failed", ac->errstr);
	c->ac = NULL;
	redis_lost(c);
}

static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *c = ac->data;
	if (c->freeing)
		return;   /* our own redisAsyncFree: the reaper carries on */
	/* hiredis frees AC after this returns */
	if (c->limit.hit)
		redis_note_error(c, "connection dropped", "a reply over the size cap");
	else if (status != REDIS_OK)
		redis_note_error(c, "connection lost", ac->errstr);
	c->ac = NULL;
	redis_lost(c);
}

static void redis_handshake_step(struct redis_conn *c)
{
	if (--c->hs_pending > 0)
		return;
	struct timeval tv;
	evtimer_del(c->conn_timer);
	evtimer_del(c->down_timer);
	c->failing = false;
	c->backoff_ms = REDIS_BACKOFF_MIN_MS;
	atomic_fetch_add(&c->connects, 1);
	c->ready = true;
	if (!c->cmd_down)   /* a connection that holds is not enough: a command must work */
		redis_set_state(c, REDIS_UP);
	if (!c->channel) {
		redis_ms_tv(REDIS_PING_MS, &tv);
		evtimer_add(c->ping, &tv);
	}
}

/* CONFIG GET maxmemory*: the budget's keys carry TTLs, so any policy but
 * noeviction may drop them once maxmemory is reached (volatile-* too). */
static void redis_check_policy(struct redis_conn *c, const redisReply *r)
{
	const char *policy = NULL;
	long long maxmem = -1;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "maxmemory-policy") == 0)
			policy = v->str;
		else if (strcmp(k->str, "maxmemory") == 0)
			maxmem = strtoll(v->str, NULL, 10);
	}
	bool unsafe = policy && strcmp(policy, "noeviction") != 0 && maxmem != 0;
	pthread_mutex_lock(&redis_mu);
	snprintf(redis_policy, sizeof redis_policy, "%s", policy ? policy : "");
	pthread_mutex_unlock(&redis_mu);
	if (unsafe && !atomic_exchange(&c->eviction_unsafe, true))
		log_warn("redis: maxmemory-policy is %s with maxmemory %lld: Redis may evict the "
			 "shared budget under memory pressure; set maxmemory-policy noeviction", policy, maxmem);
	else if (!unsafe)
		atomic_store(&c->eviction_unsafe, false);
}

static void redis_handshake_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_conn *c = priv;
	const redisReply *r = reply;
	if (!r || c->ac != ac)
		return;   /* the context is going away; redis_lost handles it */
	if (r->type == REDIS_REPLY_ERROR) {
		redis_kill(c, "handshake refused", r->str);
		return;
	}
	redis_handshake_step(c);
}

static void redis_policy_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_conn *c = priv;
	const redisReply *r = reply;
	if (!r || c->ac != ac)
		return;
	if (r->type == REDIS_REPLY_ERROR)  /* CONFIG renamed or not allowed */
		log_warn("redis: cannot check maxmemory-policy (%s)", r->str);
	else
		redis_check_policy(c, r);
	redis_handshake_step(c);
}

static void redis_sub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_conn *c = priv;
	const redisReply *r = reply;
	if (!r || c->ac != ac || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	const redisReply *kind = r->element[0], *msg = r->element[2];
	if (kind->type != REDIS_REPLY_STRING)
		return;
	c->depth++;
	if (strcmp(kind->str, "subscribe") == 0) {
		c->subscribed = true;
		redis_handshake_step(c);
		c->sub_cb(REDIS_SUB_SUBSCRIBED, NULL, 0, c->sub_arg);
	} else if (strcmp(kind->str, "message") == 0 && msg->type == REDIS_REPLY_STRING) {
		c->sub_cb(REDIS_SUB_MESSAGE, msg->str, msg->len, c->sub_arg);
	}
	c->depth--;
}

static void redis_connect_start(struct redis_conn *c)
{
	struct timeval tv;
	char db[16];
	if (c->closing || c->ac)
		return;
	redisAsyncContext *ac = c->is_unix ? redisAsyncConnectUnix(c->path)
					   : redisAsyncConnect(c->host, c->port);
	if (!ac || ac->err) {
		redis_note_error(c, "connect failed", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);   /* ours alone: not attached, no callback runs */
		redis_lost(c);
		return;
	}
	ac->data = c;
	c->limit.hit = false;
	if (redis_io_attach(ac, c->base, &c->limit) != REDIS_OK) {
		redisAsyncFree(ac);
		redis_lost(c);
		return;
	}
	c->ac = ac;
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	c->hs_pending = 0;
	/* Pipelined: hiredis writes them once the socket connects, and Redis
	 * answers in order, so one timer covers connect and handshake. */
	if (!conf_secret_empty(&c->password)) {
		const char *argv[3] = { "AUTH", c->username ? c->username : conf_secret_data(&c->password),
					conf_secret_data(&c->password) };
		size_t lens[3] = { 4, strlen(argv[1]), c->password.len };
		if (!c->username)
			lens[1] = c->password.len;
		redisAsyncCommandArgv(ac, redis_handshake_cb, c, c->username ? 3 : 2, argv, lens);
		c->hs_pending++;
	}
	if (c->db) {
		snprintf(db, sizeof db, "%d", c->db);
		redisAsyncCommand(ac, redis_handshake_cb, c, "SELECT %s", db);
		c->hs_pending++;
	}
	if (c->channel) {
		redisAsyncCommand(ac, redis_sub_cb, c, "SUBSCRIBE %s", c->channel);
	} else {
		redisAsyncCommand(ac, redis_policy_cb, c, "CONFIG GET maxmemory*");
	}
	c->hs_pending++;
	redis_ms_tv(c->connect_timeout_ms, &tv);
	evtimer_add(c->conn_timer, &tv);
}
/* ---- life ------------------------------------------------------------------ */

static struct redis_conn *redis_conn_make(struct event_base *base, const struct redis_opts *o,
					  const char *role)
{
	struct redis_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	snprintf(c->role, sizeof c->role, "%s", role);
	c->is_unix = o->url->addr.is_unix;
	if (c->is_unix)
		c->path = strdup(o->url->addr.path);
	else
		snprintf(c->host, sizeof c->host, "%s", o->url->addr.host);
	c->port = o->url->addr.port;
	c->db = o->url->db;
	if (o->username)
		c->username = strdup(o->username);
	if (o->password)
		conf_secret_copy(&c->password, o->password);
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 250;
	c->down_after_ms = o->down_after_ms > 0 ? o->down_after_ms : REDIS_DOWN_AFTER_MS;
	c->limit.max_bytes = o->max_reply_bytes > 0 ? o->max_reply_bytes : REDIS_MAX_REPLY_BYTES;
	c->limit.too_big = redis_too_big;
	c->limit.arg = c;
	c->backoff_ms = REDIS_BACKOFF_MIN_MS;
	atomic_init(&c->state, REDIS_CONNECTING);
	atomic_init(&c->since, clock_wall());
	c->retry = evtimer_new(base, redis_retry_cb, c);
	c->conn_timer = evtimer_new(base, redis_conn_timeout_cb, c);
	c->down_timer = evtimer_new(base, redis_down_cb, c);
	c->reaper = event_new(base, -1, 0, redis_reaper_cb, c);
	c->ping = event_new(base, -1, EV_PERSIST, redis_ping_cb, c);
	c->cmd_down_timer = evtimer_new(base, redis_cmd_down_cb, c);
	bool placed = false;
	pthread_mutex_lock(&redis_mu);
	for (int i = 0; i < REDIS_MAX_CONNS && !placed; i++)
		if (!redis_conns[i]) {
			redis_conns[i] = c;
			placed = true;
		}
	pthread_mutex_unlock(&redis_mu);
	if (!placed || !c->retry || !c->conn_timer || !c->down_timer || !c->reaper || !c->ping || !c->cmd_down_timer ||
	    (c->is_unix && !c->path) || (o->username && !c->username)) {
		c->closing = true;
		redis_conn_free(c);
		return NULL;
	}
	/* down if nothing works for down_after_ms from the very start too */
	struct timeval tv;
	c->failing = true;
	redis_ms_tv(c->down_after_ms, &tv);
	evtimer_add(c->down_timer, &tv);
	return c;
}

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_opts *o,
				  const char *role)
{
	struct redis_conn *c = redis_conn_make(base, o, role);
	if (c)
		redis_connect_start(c);
	return c;
}

struct redis_conn *redis_subscriber_new(struct event_base *base, const struct redis_opts *o,
					const char *channel, redis_sub_fn cb, void *arg)
{
	struct redis_conn *c = redis_conn_make(base, o, "subscriber");
	if (!c)
		return NULL;
	c->channel = strdup(channel);
	c->sub_cb = cb;
	c->sub_arg = arg;
	if (!c->channel) {
		redis_conn_free(c);
		return NULL;
	}
	redis_connect_start(c);
	return c;
}

void redis_conn_free(struct redis_conn *c)
{
	if (!c || c->dying)
		return;
	c->closing = true;
	if (c->depth > 0 || c->freeing) {
		/* inside one of C's callbacks, or inside the reaper's own
		 * redisAsyncFree: the reaper frees C once that returns */
		event_active(c->reaper, EV_TIMEOUT, 0);
		return;
	}
	c->dying = true;
	c->freeing = true;
	if (c->ac)
		redisAsyncFree(c->ac);   /* pending commands: REDIS_GONE */
	c->ac = NULL;
	pthread_mutex_lock(&redis_mu);
	for (int i = 0; i < REDIS_MAX_CONNS; i++)
		if (redis_conns[i] == c)
			redis_conns[i] = NULL;
	pthread_mutex_unlock(&redis_mu);
	struct event *evs[] = { c->retry, c->conn_timer, c->down_timer, c->reaper, c->ping, c->cmd_down_timer };
	for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
		if (evs[i])
			event_free(evs[i]);
	conf_secret_wipe(&c->password);
	free(c->username);
	free(c->path);
	free(c->channel);
	free(c);
}

enum redis_state redis_conn_state(const struct redis_conn *c)
{
	return c ? (enum redis_state)atomic_load(&c->state) : REDIS_DOWN;
}

uint64_t redis_conn_connects(const struct redis_conn *c)
{
	return c ? atomic_load(&c->connects) : 0;
}

/* ---- stats ----------------------------------------------------------------- */

static double redis_quantile(const uint64_t *b, uint64_t n, double q)
{
	if (!n)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)n), acc = 0;
	for (int i = 0; i < REDIS_LAT_BUCKETS; i++) {
		acc += b[i];
		if (acc >= want)
			return i < REDIS_LAT_BUCKETS - 1 ? redis_le_ms[i] : redis_le_ms[REDIS_LAT_BUCKETS - 2] * 2;
	}
	return 0;
}

void redis_get_stats(struct redis_stats *out)
{
	uint64_t lat[REDIS_LAT_BUCKETS] = { 0 }, n = 0;
	const struct redis_conn *first = NULL;
	memset(out, 0, sizeof *out);
	out->state = REDIS_DOWN;
	pthread_mutex_lock(&redis_mu);
	for (int i = 0; i < REDIS_MAX_CONNS; i++) {
		struct redis_conn *c = redis_conns[i];
		if (!c)
			continue;
		out->conns++;
		if (!first || (strcmp(c->role, "main") == 0 && strcmp(first->role, "main") != 0))
			first = c;
		out->connects += atomic_load(&c->connects);
		out->disconnects += atomic_load(&c->disconnects);
		out->timeouts += atomic_load(&c->timeouts);
		out->errors += atomic_load(&c->errors);
		out->commands += atomic_load(&c->commands);
		out->sub_drops += atomic_load(&c->sub_drops);
		out->eviction_unsafe |= atomic_load(&c->eviction_unsafe);
		for (int k = 0; k < REDIS_LAT_BUCKETS; k++) {
			uint64_t v = atomic_load(&c->lat[k]);
			lat[k] += v;
			n += v;
		}
	}
	if (first) {
		out->state = (enum redis_state)atomic_load(&first->state);
		out->since = atomic_load(&first->since);
	}
	redis_last_error(out->last_error, sizeof out->last_error);
	snprintf(out->eviction_policy, sizeof out->eviction_policy, "%s", redis_policy);
	pthread_mutex_unlock(&redis_mu);
	out->p50_ms = redis_quantile(lat, n, 0.50);
	out->p99_ms = redis_quantile(lat, n, 0.99);
}
