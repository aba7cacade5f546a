/* redis_cmd.c: commands on a Redis connection (see redis.h): sending
 * with a timer of our own, delivering exactly one outcome per command,
 * EVALSHA with its EVAL fallback, liveness PINGs, and counting failed
 * commands towards down.
 *
 * Never: make up a success or a denial for a command without an answer
 * (time-out and lost connection are "unknown"), or free a context (the
 * reaper in redis.c does). */
#include "redis.h"
#include "redis_conn.h"
#include "clock.h"
#include "log.h"
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- commands that fail ----------------------------------------------------
 * A Redis that accepts connections but fails every command (a read-only
 * replica, a server that cuts each reply, one whose answers we refuse) is
 * as useless as one that is gone: continuous command failure for
 * down_after_ms makes the connection down too, across reconnects, until a
 * command succeeds. Liveness PINGs count neither way. */

void redis_cmd_down_cb(evutil_socket_t fd, short what, void *arg)
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
	c->cmd_fail_since = clock_now();
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
	/* A time-out is the connection's failure, not the command's: it drops
	 * the connection, and a server that answers nothing cannot finish a
	 * handshake either, so the connection's own down timer covers it. */
	if (cmd->probe || o == REDIS_TIMEOUT)
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
	redis_latency(cmd->c, clock_now() - cmd->t0);
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
	cmd->t0 = clock_now();
	atomic_fetch_add(&c->commands, 1);
	redis_ms_tv(c->timeout_ms, &tv);
	evtimer_add(cmd->timer, &tv);
	return 0;
}

/* A command of C answered to CB(…, ARG); NULL: out of memory. */
static struct redis_cmd *redis_cmd_new(struct redis_conn *c, redis_reply_fn cb, void *arg)
{
	struct redis_cmd *cmd = calloc(1, sizeof *cmd);
	if (cmd) {
		cmd->c = c;
		cmd->cb = cb;
		cmd->arg = arg;
	}
	return cmd;
}

static int redis_command_as(struct redis_conn *c, redis_reply_fn cb, void *arg, bool probe,
			    int argc, const char **argv, const size_t *lens)
{
	struct redis_cmd *cmd = redis_cmd_new(c, cb, arg);
	if (!cmd)
		return -1;
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

int redis_command_probe(struct redis_conn *c, redis_reply_fn cb, void *arg,
			int argc, const char **argv, const size_t *lens)
{
	return redis_command_as(c, cb, arg, true, argc, argv, lens);
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
	struct redis_cmd *cmd = redis_cmd_new(c, cb, arg);
	if (!cmd)
		return -1;
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
void redis_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char *argv[1] = { "PING" };
	static const size_t lens[1] = { 4 };
	redis_command_as(arg, redis_ping_reply, arg, true, 1, argv, lens);
}
