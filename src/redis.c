/* redis.c: hiredis 0.14 async connections on libevent (see redis.h).
 *
 * Owns each connection's life: connect, handshake (AUTH, SELECT, the
 * eviction-policy check, SUBSCRIBE for a subscriber), liveness PINGs,
 * per-command timers, reconnect back-off, the up/connecting/down state,
 * and the counters summed for /stats. hiredis 0.14 pitfalls handled here:
 * it has no connect or command time-outs (own timers); it frees a context
 * itself after a failed connect or a disconnect (we only drop our pointer
 * there); a context must never be freed from inside its own callbacks (a
 * teardown we start is deferred to the `reaper` event, run from the loop);
 * redisAsyncConnect resolves host names with a blocking call (config only
 * lets numeric addresses and unix paths through, see conf_parse_redis_url).
 *
 * Never: hold a secret anywhere but the copied password (wiped on free),
 * put one in an error, or block the loop. */
#include "redis.h"
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
#define REDIS_PING_MS 500
#define REDIS_LAT_BUCKETS 14

static const double redis_le_ms[REDIS_LAT_BUCKETS - 1] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000 };

struct redis_conn {
	struct event_base *base;
	redisAsyncContext *ac;
	char role[16];
	/* copied options */
	bool is_unix;
	char *path;
	char host[64];
	int port, db;
	char *username;
	struct fg_secret password;
	int connect_timeout_ms, timeout_ms, down_after_ms;
	struct redis_io_limit limit;   /* the reply size cap */
	/* state */
	_Atomic int state;          /* enum redis_state */
	_Atomic double since;       /* wall clock */
	int hs_pending;             /* handshake replies still awaited */
	int backoff_ms;
	bool failing;               /* not up since the last failure */
	bool freeing;               /* inside our own redisAsyncFree */
	bool closing;               /* redis_conn_free asked for */
	bool dying;                 /* redis_conn_free is releasing C now */
	bool ready;                 /* the current context finished its handshake */
	bool refused;               /* the callback running now refused its reply */
	bool cmd_down;              /* down because commands fail, not the connection */
	double cmd_fail_since;      /* monotonic; 0: the last command succeeded */
	struct event *cmd_down_timer;
	int depth;                  /* >0 while a user callback of C runs */
	struct event *retry, *conn_timer, *down_timer, *reaper, *ping;
	/* subscriber */
	char *channel;
	redis_sub_fn sub_cb;
	void *sub_arg;
	bool subscribed;
	/* counters, read by the admin thread */
	_Atomic uint64_t connects, disconnects, timeouts, errors, commands, sub_drops;
	_Atomic uint64_t lat[REDIS_LAT_BUCKETS];
	_Atomic bool eviction_unsafe;
};

struct redis_cmd {
	struct redis_conn *c;
	redis_reply_fn cb;
	void *arg;
	struct event *timer;
	double t0;
	bool done;                      /* CB already ran (timed out) */
	bool probe;                     /* a liveness PING: says nothing about commands */
	const struct redis_script *script;
	bool retried;                   /* EVALSHA fell back to EVAL once */
	int argc;                       /* EVALSHA's arguments, for the retry */
	const char **argv;
	size_t *lens;
	char *copy;                     /* the strings argv points to */
};

static pthread_mutex_t redis_mu = PTHREAD_MUTEX_INITIALIZER;
static struct redis_conn *redis_conns[REDIS_MAX_CONNS];
static char redis_last_error[160];
static char redis_policy[32];

static double redis_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double redis_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *redis_state_name(enum redis_state s)
{
	return s == REDIS_UP ? "up" : s == REDIS_CONNECTING ? "connecting" : "down";
}

static void redis_ms_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Error text from hiredis or Redis; neither ever contains our password
 * (Redis answers WRONGPASS without echoing it). */
static void redis_note_error(struct redis_conn *c, const char *what, const char *detail)
{
	atomic_fetch_add(&c->errors, 1);
	pthread_mutex_lock(&redis_mu);
	snprintf(redis_last_error, sizeof redis_last_error, "%s: %s%s%s", c->role, what,
		 detail ? ": " : "", detail ? detail : "");
	pthread_mutex_unlock(&redis_mu);
	log_debug("redis %s: %s%s%s", c->role, what, detail ? ": " : "", detail ? detail : "");
}

static void redis_set_state(struct redis_conn *c, enum redis_state s)
{
	enum redis_state old = (enum redis_state)atomic_exchange(&c->state, (int)s);
	if (old == s)
		return;
	atomic_store(&c->since, redis_wall());
	if (s == REDIS_UP && c->is_unix)
		log_info("redis %s: up (unix:%s)", c->role, c->path);
	else if (s == REDIS_UP)
		log_info("redis %s: up (%s port %d db %d)", c->role, c->host, c->port, c->db);
	else if (s == REDIS_DOWN)
		log_warn("redis %s: down after %d ms of failure", c->role, c->down_after_ms);
}

/* ---- commands that fail ----------------------------------------------------
 * A Redis that accepts connections but fails every command (a read-only
 * replica, a server that cuts each reply, one whose answers we refuse) is
 * as useless as one that is gone: continuous command failure for
 * down_after_ms makes the connection down too, across reconnects, until a
 * command succeeds. Liveness PINGs count neither way. */

static void redis_cmd_down_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn *c = arg;
	if (!c->cmd_fail_since)
		return;
	c->cmd_down = true;
	log_warn("redis %s: every command failed for %d ms", c->role, c->down_after_ms);
	redis_set_state(c, REDIS_DOWN);
}

static void redis_cmd_failed(struct redis_conn *c)
{
	struct timeval tv;
	if (c->cmd_fail_since || c->closing)
		return;
	c->cmd_fail_since = redis_mono();
	redis_ms_tv(c->down_after_ms, &tv);
	evtimer_add(c->cmd_down_timer, &tv);
}

static void redis_cmd_worked(struct redis_conn *c)
{
	c->cmd_fail_since = 0;
	evtimer_del(c->cmd_down_timer);
	if (c->cmd_down) {
		c->cmd_down = false;
		log_info("redis %s: commands succeed again", c->role);
		if (c->ready)
			redis_set_state(c, REDIS_UP);
	}
}

void redis_conn_refuse(struct redis_conn *c, const char *what)
{
	redis_note_error(c, "reply refused", what);
	c->refused = true;
}

bool redis_conn_usable(const struct redis_conn *c)
{
	return c && c->ac && c->ready && !c->closing && !c->freeing;
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

/* Drops the connection after WHY: deferred, since we may be inside one of
 * its callbacks. */
static void redis_kill(struct redis_conn *c, const char *why, const char *detail)
{
	redis_note_error(c, why, detail);
	event_active(c->reaper, EV_TIMEOUT, 0);
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

/* ---- commands -------------------------------------------------------------- */

static void redis_cmd_free(struct redis_cmd *cmd)
{
	if (cmd->timer)
		event_free(cmd->timer);
	free(cmd->argv);
	free(cmd->lens);
	free(cmd->copy);
	free(cmd);
}

static void redis_deliver(struct redis_cmd *cmd, enum redis_outcome o, const redisReply *r)
{
	struct redis_conn *c = cmd->c;
	cmd->done = true;
	evtimer_del(cmd->timer);
	c->refused = false;
	c->depth++;
	cmd->cb(o, r, cmd->arg);
	c->depth--;
	if (cmd->probe)
		return;
	if (o == REDIS_REPLY && !c->refused)
		redis_cmd_worked(c);
	else
		redis_cmd_failed(c);
}

static void redis_latency(struct redis_conn *c, double secs)
{
	double ms = secs * 1000;
	int i = 0;
	while (i < REDIS_LAT_BUCKETS - 1 && ms > redis_le_ms[i])
		i++;
	atomic_fetch_add(&c->lat[i], 1);
}

static int redis_send(struct redis_cmd *cmd, int argc, const char **argv, const size_t *lens);

static void redis_cmd_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_cmd *cmd = priv;
	const redisReply *r = reply;
	if (!r) {   /* the context is being freed */
		if (!cmd->done)
			redis_deliver(cmd, REDIS_GONE, NULL);
		redis_cmd_free(cmd);
		return;
	}
	if (cmd->done) {   /* answered REDIS_TIMEOUT already */
		redis_cmd_free(cmd);
		return;
	}
	redis_latency(cmd->c, redis_mono() - cmd->t0);
	if (r->type == REDIS_REPLY_ERROR && cmd->script && !cmd->retried &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		/* Redis lost its script cache: EVAL loads it again. The timer
		 * keeps the original deadline. */
		cmd->retried = true;
		cmd->argv[0] = "EVAL";
		cmd->lens[0] = 4;
		cmd->argv[1] = cmd->script->src;
		cmd->lens[1] = strlen(cmd->script->src);
		if (redisAsyncCommandArgv(ac, redis_cmd_cb, cmd, cmd->argc, cmd->argv, cmd->lens) == REDIS_OK)
			return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		redis_note_error(cmd->c, "command failed", r->str);
	redis_deliver(cmd, r->type == REDIS_REPLY_ERROR ? REDIS_ERROR : REDIS_REPLY, r);
	redis_cmd_free(cmd);
}

static void redis_cmd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_cmd *cmd = arg;
	struct redis_conn *c = cmd->c;
	char d[32];
	atomic_fetch_add(&c->timeouts, 1);
	snprintf(d, sizeof d, "%d ms", c->timeout_ms);
	/* hiredis still owns CMD: it is freed when the context answers it
	 * with NULL as the reaper frees the context. */
	redis_deliver(cmd, REDIS_TIMEOUT, NULL);
	redis_kill(c, "command timed out", d);
}

static int redis_send(struct redis_cmd *cmd, int argc, const char **argv, const size_t *lens)
{
	struct redis_conn *c = cmd->c;
	struct timeval tv;
	if (!redis_conn_usable(c))
		return -1;
	cmd->timer = evtimer_new(c->base, redis_cmd_timeout_cb, cmd);
	if (!cmd->timer || redisAsyncCommandArgv(c->ac, redis_cmd_cb, cmd, argc, argv, lens) != REDIS_OK)
		return -1;
	cmd->t0 = redis_mono();
	atomic_fetch_add(&c->commands, 1);
	redis_ms_tv(c->timeout_ms, &tv);
	evtimer_add(cmd->timer, &tv);
	return 0;
}

static int redis_command_as(struct redis_conn *c, redis_reply_fn cb, void *arg, bool probe,
			    int argc, const char **argv, const size_t *lens)
{
	struct redis_cmd *cmd = calloc(1, sizeof *cmd);
	if (!cmd)
		return -1;
	cmd->c = c;
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->probe = probe;
	if (redis_send(cmd, argc, argv, lens) < 0) {
		redis_cmd_free(cmd);
		return -1;
	}
	return 0;
}

int redis_command(struct redis_conn *c, redis_reply_fn cb, void *arg,
		  int argc, const char **argv, const size_t *lens)
{
	return redis_command_as(c, cb, arg, false, argc, argv, lens);
}

void redis_script_init(struct redis_script *s, const char *src)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	s->src = src;
	SHA1((const unsigned char *)src, strlen(src), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

int redis_eval(struct redis_conn *c, const struct redis_script *s, int nkeys,
	       int nargs, const char **args, const size_t *lens, redis_reply_fn cb, void *arg)
{
	int argc = nargs + 3;
	size_t total = 16;
	struct redis_cmd *cmd = calloc(1, sizeof *cmd);
	if (!cmd)
		return -1;
	cmd->c = c;
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->script = s;
	cmd->argc = argc;
	/* The caller's strings need not outlive this call, but the EVAL retry
	 * needs them later: keep copies, in one block. */
	for (int i = 0; i < nargs; i++)
		total += (lens ? lens[i] : strlen(args[i])) + 1;
	cmd->argv = calloc((size_t)argc, sizeof *cmd->argv);
	cmd->lens = calloc((size_t)argc, sizeof *cmd->lens);
	cmd->copy = malloc(total);
	if (!cmd->argv || !cmd->lens || !cmd->copy) {
		redis_cmd_free(cmd);
		return -1;
	}
	char *p = cmd->copy;
	snprintf(p, 16, "%d", nkeys);
	cmd->argv[0] = "EVALSHA";
	cmd->argv[1] = s->sha;
	cmd->argv[2] = p;
	for (int i = 0; i < 3; i++)
		cmd->lens[i] = strlen(cmd->argv[i]);
	p += 16;
	for (int i = 0; i < nargs; i++) {
		size_t n = lens ? lens[i] : strlen(args[i]);
		memcpy(p, args[i], n);
		p[n] = '\0';
		cmd->argv[3 + i] = p;
		cmd->lens[3 + i] = n;
		p += n + 1;
	}
	if (redis_send(cmd, argc, cmd->argv, cmd->lens) < 0) {
		redis_cmd_free(cmd);
		return -1;
	}
	return 0;
}

/* ---- liveness ------------------------------------------------------------- */

static void redis_ping_reply(enum redis_outcome o, const redisReply *r, void *arg)
{
	/* nothing to do: a time-out or an error has dropped the connection */
}

/* An idle connection to a stopped (SIGSTOP) or unplugged server sees no
 * error by itself; a PING with the command time-out finds it. */
static void redis_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char *argv[1] = { "PING" };
	static const size_t lens[1] = { 4 };
	redis_command_as(arg, redis_ping_reply, arg, true, 1, argv, lens);
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
	atomic_init(&c->since, redis_wall());
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
	snprintf(out->last_error, sizeof out->last_error, "%s", redis_last_error);
	snprintf(out->eviction_policy, sizeof out->eviction_policy, "%s", redis_policy);
	pthread_mutex_unlock(&redis_mu);
	out->p50_ms = redis_quantile(lat, n, 0.50);
	out->p99_ms = redis_quantile(lat, n, 0.99);
}
