/* redis_budget.h: the upstream read budget shared by every instance
 * through Redis (issue 16), as Lua scripts run via redis.c.
 *
 * One sorted set per application (the OAuth client_id) is the sliding log
 * of sends; only the scripts here change it, and they read the clock with
 * Redis TIME, so the instances' clocks never meet. A grant adds a lease (a
 * member with a unique id, scored at the grant); when the exchange is over
 * the lease is re-stamped at that moment (used) or removed (not used), as
 * budget_used/budget_release do locally. Nothing that was not granted is
 * ever recorded. A 429 sets a pause key with PX that every grant honours.
 * Every key gets its TTL in the script that writes it.
 *
 * Results come back through a callback on the base of the redis_conn the
 * call was made on. A time-out or a lost connection is SHAREDBUDGET_UNKNOWN,
 * never "denied": the caller falls back to its local share. */
#ifndef FG_REDIS_BUDGET_H
#define FG_REDIS_BUDGET_H
#include <stdbool.h>
#include <stddef.h>
#include "redis.h"

#define SHAREDBUDGET_LEASE_LEN 48

enum sharedbudget_status {
	SHAREDBUDGET_GRANTED,   /* LEASE holds the slot: commit it exactly once */
	SHAREDBUDGET_WAIT,      /* the window is full: ask again in WAIT_MS */
	SHAREDBUDGET_PAUSED,    /* a 429 pause: ask again in WAIT_MS */
	SHAREDBUDGET_UNKNOWN,   /* Redis did not answer: use the local fallback */
};

struct sharedbudget_result {
	enum sharedbudget_status status;
	long long wait_ms;              /* WAIT, PAUSED: until the next slot frees */
	long long in_window;            /* GRANTED: sends + leases now in the window */
	long long now_ms;               /* Redis TIME of the decision (GRANTED/WAIT) */
	char lease[SHAREDBUDGET_LEASE_LEN];  /* GRANTED */
};
typedef void (*sharedbudget_fn)(const struct sharedbudget_result *r, void *arg);

struct sharedbudget;
struct sharedbudget_op;

/* PREFIX (the [redis] prefix) and CLIENT_ID name the keys: PREFIX
 * ":budget:{" hex(sha256(client_id))[0..32] "}" and the same + ":pause"
 * (the braces keep both in one Redis Cluster slot). LIMIT sends per
 * WINDOW_MS (pass budget_window() * 1000: the window plus its margin).
 * Immutable after creation except the lease counter (atomic), so every
 * thread may use one object with its own redis_conn. */
struct sharedbudget *redis_budget_new(const char *prefix, const char *client_id,
				      unsigned limit, long long window_ms);
void redis_budget_free(struct sharedbudget *sb);
/* The key names, for tests and diagnostics (never secret: hashed id). */
const char *redis_budget_log_key(const struct sharedbudget *sb);
const char *redis_budget_pause_key(const struct sharedbudget *sb);

/* Asks for one slot. NULL: not sent (Redis not up) and CB will not run:
 * treat as UNKNOWN at once. Otherwise CB runs exactly once, unless
 * redis_budget_cancel() is called first. */
struct sharedbudget_op *redis_budget_acquire(struct sharedbudget *sb, struct redis_conn *rc,
					     sharedbudget_fn cb, void *arg);
/* The caller no longer wants OP's answer (its request went away): CB will
 * not run, and a slot granted meanwhile is given back. Only before CB ran. */
void redis_budget_cancel(struct sharedbudget_op *op);
/* The exchange that used LEASE is over: USED re-stamps it at Redis's now
 * (it frees a window later), !USED removes it. CB may be NULL; its result
 * is GRANTED with NOW_MS on success, UNKNOWN otherwise. -1: not sent. */
int redis_budget_commit(struct sharedbudget *sb, struct redis_conn *rc, const char *lease,
			bool used, sharedbudget_fn cb, void *arg);
/* The upstream answered 429: no instance is granted anything for MS
 * (an existing longer pause stays). CB gets PAUSED with the pause in force.
 * -1: not sent. */
int redis_budget_pause(struct sharedbudget *sb, struct redis_conn *rc, long long ms,
		       sharedbudget_fn cb, void *arg);
/* After Redis comes back (maybe empty): adds this instance's sends of the
 * current window, each as its lease id and its age in ms (how long ago its
 * exchange ended: ages keep instance clocks out of it), and its pause left
 * (0: none). A lease Redis still holds keeps its score, so a re-seed after
 * a mere reconnect counts nothing twice. CB gets GRANTED with IN_WINDOW =
 * the log's size. -1: not sent. */
int redis_budget_seed(struct sharedbudget *sb, struct redis_conn *rc, const char *const *leases,
		      const long long *ages_ms, size_t n, long long pause_ms,
		      sharedbudget_fn cb, void *arg);
/* How long the shared pause has left: CB gets PAUSED with WAIT_MS (0: no
 * pause key, which ends the pause on every instance), UNKNOWN when Redis
 * did not answer usably. -1: not sent. */
int redis_budget_pause_left(struct sharedbudget *sb, struct redis_conn *rc, sharedbudget_fn cb, void *arg);
/* A fresh lease id, for a send made from the local fallback share, so it
 * can be seeded later. */
void redis_budget_lease_id(struct sharedbudget *sb, char out[SHAREDBUDGET_LEASE_LEN]);

/* While Redis is down: this instance's share, floor(LIMIT / INSTANCES)
 * (0 when there are more instances than slots). */
unsigned redis_budget_fallback_share(unsigned limit, unsigned instances);
#endif
