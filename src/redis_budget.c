/* redis_budget.c: the shared sliding-window budget's Lua scripts and the
 * calls that run them (see redis_budget.h).
 *
 * Owns: the key names of one application's budget, the scripts, lease
 * ids (this instance's random id + a counter, so two instances never mint
 * the same one), and turning script answers into sharedbudget_result.
 * Every script reads the time with Redis TIME in milliseconds and sets the
 * TTL of every key it writes: the log lives window + 1 s past its newest
 * entry (older entries no longer count), the pause exactly as long as the
 * pause. A grant that timed out may have happened: its lease then simply
 * ages out after a window, which only ever undercounts what we may send.
 *
 * Never: record a send that was not granted (or not seeded from a real
 * send), read an instance clock for a window decision, or block. */
#define _GNU_SOURCE
#include "redis_budget.h"
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_NOW \
	"local t = redis.call('TIME')\n" \
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: log, pause. ARGV: limit, window_ms, lease.
 * Returns {0 granted | 1 full | 2 paused, wait_ms, in_window, now}. */
static const char sb_grant_src[] =
	SB_NOW
	"local limit = tonumber(ARGV[1])\n"
	"local window = tonumber(ARGV[2])\n"
	"local pause = redis.call('PTTL', KEYS[2])\n"
	"if pause > 0 then return {2, pause, 0, now} end\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
	"local n = redis.call('ZCARD', KEYS[1])\n"
	"if n >= limit then\n"
	"  local wait = window\n"
	"  if limit > 0 then\n"
	"    local e = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')\n"
	"    wait = tonumber(e[2]) + window - now\n"
	"  end\n"
	"  if wait < 1 then wait = 1 end\n"
	"  redis.call('PEXPIRE', KEYS[1], window + 1000)\n"
	"  return {1, wait, n, now}\n"
	"end\n"
	"redis.call('ZADD', KEYS[1], now, ARGV[3])\n"
	"redis.call('PEXPIRE', KEYS[1], window + 1000)\n"
	"return {0, 0, n + 1, now}\n";

/* KEYS: log. ARGV: lease, 1 used | 0 not used, window_ms. Returns now. */
static const char sb_commit_src[] =
	SB_NOW
	"if ARGV[2] == '1' then\n"
	"  redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
	"  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)\n"
	"else\n"
	"  redis.call('ZREM', KEYS[1], ARGV[1])\n"
	"end\n"
	"return now\n";

/* KEYS: pause. ARGV: ms. Returns the pause in force (ms). */
static const char sb_pause_src[] =
	"local ms = tonumber(ARGV[1])\n"
	"local cur = redis.call('PTTL', KEYS[1])\n"
	"if cur < ms then\n"
	"  redis.call('SET', KEYS[1], '1', 'PX', ms)\n"
	"  cur = ms\n"
	"end\n"
	"return cur\n";

/* KEYS: log, pause. ARGV: window_ms, pause_ms, then (lease, age_ms) pairs.
 * NX: a send Redis still knows keeps its score (a re-seed after a mere
 * reconnect counts nothing twice). Returns the log's size. */
static const char sb_seed_src[] =
	SB_NOW
	"local window = tonumber(ARGV[1])\n"
	"for i = 3, #ARGV - 1, 2 do\n"
	"  local at = now - tonumber(ARGV[i + 1])\n"
	"  if at > now - window then redis.call('ZADD', KEYS[1], 'NX', at, ARGV[i]) end\n"
	"end\n"
	"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
	"  redis.call('PEXPIRE', KEYS[1], window + 1000)\n"
	"end\n"
	"local p = tonumber(ARGV[2])\n"
	"if p > 0 and redis.call('PTTL', KEYS[2]) < p then\n"
	"  redis.call('SET', KEYS[2], '1', 'PX', p)\n"
	"end\n"
	"return redis.call('ZCARD', KEYS[1])\n";

static struct redis_script sb_grant, sb_commit, sb_pause, sb_seed;
static atomic_flag sb_scripts_ready = ATOMIC_FLAG_INIT;
static atomic_int sb_scripts_done;

struct sharedbudget {
	char *log_key, *pause_key;
	unsigned limit;
	long long window_ms;
	char instance[17];
	atomic_ullong seq;
};

struct sharedbudget_op {
	struct sharedbudget *sb;
	struct redis_conn *rc;
	sharedbudget_fn cb;
	void *arg;
	bool cancelled;
	enum { SB_OP_GRANT, SB_OP_COMMIT, SB_OP_PAUSE, SB_OP_SEED, SB_OP_PAUSE_LEFT } kind;
	char lease[SHAREDBUDGET_LEASE_LEN];
};

static void sb_scripts_init(void)
{
	if (atomic_flag_test_and_set(&sb_scripts_ready)) {
		while (!atomic_load(&sb_scripts_done))
			;   /* another thread is hashing four short strings */
		return;
	}
	redis_script_init(&sb_grant, sb_grant_src);
	redis_script_init(&sb_commit, sb_commit_src);
	redis_script_init(&sb_pause, sb_pause_src);
	redis_script_init(&sb_seed, sb_seed_src);
	atomic_store(&sb_scripts_done, 1);
}

struct sharedbudget *redis_budget_new(const char *prefix, const char *client_id,
				      unsigned limit, long long window_ms)
{
	unsigned char h[SHA256_DIGEST_LENGTH], id[8];
	char hex[33];
	struct sharedbudget *sb = calloc(1, sizeof *sb);
	if (!sb)
		return NULL;
	sb_scripts_init();
	SHA256((const unsigned char *)client_id, strlen(client_id), h);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if (RAND_bytes(id, sizeof id) != 1)
		goto fail;
	for (int i = 0; i < 8; i++)
		snprintf(sb->instance + 2 * i, 3, "%02x", id[i]);
	if (asprintf(&sb->log_key, "%s:budget:{%s}", prefix, hex) < 0) {
		sb->log_key = NULL;
		goto fail;
	}
	if (asprintf(&sb->pause_key, "%s:budget:{%s}:pause", prefix, hex) < 0) {
		sb->pause_key = NULL;
		goto fail;
	}
	sb->limit = limit;
	sb->window_ms = window_ms;
	return sb;
fail:
	redis_budget_free(sb);
	return NULL;
}

void redis_budget_free(struct sharedbudget *sb)
{
	if (!sb)
		return;
	free(sb->log_key);
	free(sb->pause_key);
	free(sb);
}

const char *redis_budget_log_key(const struct sharedbudget *sb) { return sb->log_key; }
const char *redis_budget_pause_key(const struct sharedbudget *sb) { return sb->pause_key; }

unsigned redis_budget_fallback_share(unsigned limit, unsigned instances)
{
	return instances ? limit / instances : limit;
}

/* An integer reply in [MIN, MAX], else -1 (every range below is >= 0,
 * but PTTL's -2 and -1, which are shifted by the caller). */
static bool sb_int_in(const redisReply *r, long long min, long long max, long long *out)
{
	if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < min || r->integer > max)
		return false;
	*out = r->integer;
	return true;
}

/* A grant's answer, {code, wait_ms, in_window, now}, checked for type and
 * range: anything else is an error, never a grant. */
static bool sb_grant_ok(const struct sharedbudget *sb, const redisReply *r, struct sharedbudget_result *res)
{
	long long code, wait, n, now;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || !sb_int_in(r->element[0], 0, 2, &code) ||
	    !sb_int_in(r->element[1], 0, LLONG_MAX, &wait) || !sb_int_in(r->element[2], 0, LLONG_MAX, &n) ||
	    !sb_int_in(r->element[3], 1, LLONG_MAX, &now))
		return false;
	if ((code == 0 && (wait != 0 || n < 1 || n > sb->limit)) ||
	    (code == 1 && (wait < 1 || wait > sb->window_ms)) || (code == 2 && wait < 1))
		return false;
	res->status = code == 0 ? SHAREDBUDGET_GRANTED : code == 1 ? SHAREDBUDGET_WAIT : SHAREDBUDGET_PAUSED;
	res->wait_ms = wait;
	res->in_window = n;
	res->now_ms = now;
	return true;
}

static bool sb_check(struct sharedbudget_op *op, const redisReply *r, struct sharedbudget_result *res)
{
	long long v;
	switch (op->kind) {
	case SB_OP_GRANT:
		if (!sb_grant_ok(op->sb, r, res))
			return false;
		if (res->status == SHAREDBUDGET_GRANTED)
			memcpy(res->lease, op->lease, sizeof res->lease);
		return true;
	case SB_OP_COMMIT:
		if (!sb_int_in(r, 1, LLONG_MAX, &res->now_ms))
			return false;
		res->status = SHAREDBUDGET_GRANTED;
		return true;
	case SB_OP_SEED:
		if (!sb_int_in(r, 0, LLONG_MAX, &res->in_window))
			return false;
		res->status = SHAREDBUDGET_GRANTED;
		return true;
	case SB_OP_PAUSE:
	case SB_OP_PAUSE_LEFT:   /* PTTL: -2 no key, -1 no expiry (not a pause: the grant ignores it) */
		if (!sb_int_in(r, op->kind == SB_OP_PAUSE ? 0 : -2, LLONG_MAX, &v))
			return false;
		res->status = SHAREDBUDGET_PAUSED;
		res->wait_ms = v > 0 ? v : 0;
		return true;
	}
	return false;
}

static void sb_reply(enum redis_outcome o, const redisReply *r, void *arg)
{
	struct sharedbudget_op *op = arg;
	struct sharedbudget_result res = { .status = SHAREDBUDGET_UNKNOWN };
	if (o == REDIS_REPLY && !sb_check(op, r, &res)) {
		memset(&res, 0, sizeof res);
		res.status = SHAREDBUDGET_UNKNOWN;
		redis_conn_refuse(op->rc, "a budget script answered out of type or range");
	}
	if (op->cancelled) {
		/* the asker went away: give a granted slot back */
		if (res.status == SHAREDBUDGET_GRANTED && op->kind == SB_OP_GRANT)
			redis_budget_commit(op->sb, op->rc, op->lease, false, NULL, NULL);
	} else if (op->cb) {
		op->cb(&res, op->arg);
	}
	free(op);
}

static struct sharedbudget_op *sb_op(struct sharedbudget *sb, struct redis_conn *rc, int kind,
				     sharedbudget_fn cb, void *arg)
{
	struct sharedbudget_op *op = calloc(1, sizeof *op);
	if (op) {
		op->sb = sb;
		op->rc = rc;
		op->cb = cb;
		op->arg = arg;
		op->kind = kind;
	}
	return op;
}

void redis_budget_lease_id(struct sharedbudget *sb, char out[SHAREDBUDGET_LEASE_LEN])
{
	snprintf(out, SHAREDBUDGET_LEASE_LEN, "%s:%llu", sb->instance,
		 (unsigned long long)atomic_fetch_add(&sb->seq, 1) + 1);
}

struct sharedbudget_op *redis_budget_acquire(struct sharedbudget *sb, struct redis_conn *rc,
					     sharedbudget_fn cb, void *arg)
{
	char limit[24], window[24];
	struct sharedbudget_op *op = sb_op(sb, rc, SB_OP_GRANT, cb, arg);
	if (!op)
		return NULL;
	redis_budget_lease_id(sb, op->lease);
	snprintf(limit, sizeof limit, "%u", sb->limit);
	snprintf(window, sizeof window, "%lld", sb->window_ms);
	const char *args[5] = { sb->log_key, sb->pause_key, limit, window, op->lease };
	if (redis_eval(rc, &sb_grant, 2, 5, args, NULL, sb_reply, op) < 0) {
		free(op);
		return NULL;
	}
	return op;
}

void redis_budget_cancel(struct sharedbudget_op *op)
{
	if (op)
		op->cancelled = true;
}

int redis_budget_commit(struct sharedbudget *sb, struct redis_conn *rc, const char *lease,
			bool used, sharedbudget_fn cb, void *arg)
{
	char window[24];
	struct sharedbudget_op *op = sb_op(sb, rc, SB_OP_COMMIT, cb, arg);
	if (!op)
		return -1;
	snprintf(window, sizeof window, "%lld", sb->window_ms);
	const char *args[4] = { sb->log_key, lease, used ? "1" : "0", window };
	if (redis_eval(rc, &sb_commit, 1, 4, args, NULL, sb_reply, op) < 0) {
		free(op);
		return -1;
	}
	return 0;
}

int redis_budget_pause(struct sharedbudget *sb, struct redis_conn *rc, long long ms,
		       sharedbudget_fn cb, void *arg)
{
	char v[24];
	struct sharedbudget_op *op = sb_op(sb, rc, SB_OP_PAUSE, cb, arg);
	if (!op)
		return -1;
	snprintf(v, sizeof v, "%lld", ms > 0 ? ms : 1);
	const char *args[2] = { sb->pause_key, v };
	if (redis_eval(rc, &sb_pause, 1, 2, args, NULL, sb_reply, op) < 0) {
		free(op);
		return -1;
	}
	return 0;
}

int redis_budget_seed(struct sharedbudget *sb, struct redis_conn *rc, const char *const *leases,
		      const long long *ages_ms, size_t n, long long pause_ms,
		      sharedbudget_fn cb, void *arg)
{
	int rc_ = -1;
	size_t nargs = 4 + 2 * n;
	const char **args = calloc(nargs, sizeof *args);
	char (*ages)[24] = calloc(n ? n : 1, sizeof *ages);
	char window[24], pause[24];
	struct sharedbudget_op *op = sb_op(sb, rc, SB_OP_SEED, cb, arg);
	if (!args || !ages || !op)
		goto out;
	snprintf(window, sizeof window, "%lld", sb->window_ms);
	snprintf(pause, sizeof pause, "%lld", pause_ms > 0 ? pause_ms : 0);
	args[0] = sb->log_key;
	args[1] = sb->pause_key;
	args[2] = window;
	args[3] = pause;
	for (size_t i = 0; i < n; i++) {
		snprintf(ages[i], sizeof ages[i], "%lld", ages_ms[i] > 0 ? ages_ms[i] : 0);
		args[4 + 2 * i] = leases[i];
		args[5 + 2 * i] = ages[i];
	}
	rc_ = redis_eval(rc, &sb_seed, 2, (int)nargs, args, NULL, sb_reply, op);
	if (rc_ == 0)
		op = NULL;
out:
	free(op);
	free(args);
	free(ages);
	return rc_;
}

int redis_budget_pause_left(struct sharedbudget *sb, struct redis_conn *rc, sharedbudget_fn cb, void *arg)
{
	struct sharedbudget_op *op = sb_op(sb, rc, SB_OP_PAUSE_LEFT, cb, arg);
	if (!op)
		return -1;
	const char *argv[2] = { "PTTL", sb->pause_key };
	if (redis_command_probe(rc, sb_reply, op, 2, argv, NULL) < 0) {
		free(op);
		return -1;
	}
	return 0;
}
