/* redis.h: connections to Redis over hiredis 0.14's async API on a libevent
 * base: one struct redis_conn per (event base, purpose), so the main base
 * and each worker base can each hold their own.
 *
 * A connection connects, authenticates (AUTH [username] password), selects
 * its database and checks the eviction policy by itself, reconnects with a
 * back-off after any failure, and is `down` after REDIS_DOWN_AFTER_MS of
 * continuous failure. hiredis 0.14 has no time-outs: every command here has
 * its own timer, and a command that times out is answered REDIS_TIMEOUT
 * ("unknown": it may or may not have run), never a made-up success; the
 * connection is then dropped and made again, since a server that does not
 * answer one command answers none. Every callback runs on the base the
 * connection was made on, exactly once per command sent. */
#ifndef FG_REDIS_H
#define FG_REDIS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include "conf_parse.h"
#include "conf_secret.h"
#include "redis_types.h"

#define REDIS_DOWN_AFTER_MS 2000
#define REDIS_MAX_REPLY_BYTES (8u << 20)   /* when redis_opts.max_reply_bytes is 0 */

const char *redis_state_name(enum redis_state s);

/* What a connection needs; copied by redis_conn_new (the configuration it
 * came from may be released by a reload). */
struct redis_opts {
	const struct fg_redis_url *url;
	const char *username;               /* NULL: AUTH with the password alone */
	const struct fg_secret *password;   /* NULL or empty: no AUTH */
	int connect_timeout_ms;             /* connect + AUTH + SELECT */
	int timeout_ms;                     /* one command */
	int down_after_ms;                  /* 0: REDIS_DOWN_AFTER_MS */
	size_t max_reply_bytes;             /* a longer reply drops the connection; 0: the default */
};

struct redis_conn;

/* Starts connecting at once. ROLE names it in logs and /stats ("main",
 * "worker", "subscriber"); the first "main" connection gives /stats its
 * state. NULL only when out of memory. */
struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_opts *o,
				  const char *role);
/* Closes and frees; pending commands are answered REDIS_GONE. Safe inside
 * any of C's callbacks (the free is then deferred to the loop). Must run on
 * C's base. */
void redis_conn_free(struct redis_conn *c);
enum redis_state redis_conn_state(const struct redis_conn *c);
/* Whether commands can be sent on C now: connected and handshaken. True
 * also while C is down because its commands fail (each command sent is
 * then the probe that may bring it back up). */
bool redis_conn_usable(const struct redis_conn *c);
/* From inside a reply callback of C: the reply, though not an error
 * reply, is unusable (wrong type, out of range). It is counted and logged
 * as an error, and counts towards down as a failed command does. */
void redis_conn_refuse(struct redis_conn *c, const char *what);
/* Handshakes C completed: a change means C reconnected (maybe to a Redis
 * restarted empty). */
uint64_t redis_conn_connects(const struct redis_conn *c);

/* Sends one command. A command without a usable answer (an error reply, a
 * lost connection, a reply the callback refused; a time-out is the
 * connection's own failure) counts towards down:
 * continuous failure for down_after_ms makes C down although it is
 * connected, until a command succeeds again.
 * 0: CB will run exactly once. -1: not sent (not usable),
 * CB will not run: the caller treats it as unknown at once. */
int redis_command(struct redis_conn *c, redis_reply_fn cb, void *arg,
		  int argc, const char **argv, const size_t *lens);
/* The same for a read that says nothing about whether commands work (a
 * read-only replica answers it too): it counts neither way. */
int redis_command_probe(struct redis_conn *c, redis_reply_fn cb, void *arg,
			int argc, const char **argv, const size_t *lens);

/* A Lua script sent by EVALSHA, falling back to EVAL (which loads it) when
 * Redis answers NOSCRIPT, e.g. after a restart or SCRIPT FLUSH. */
struct redis_script {
	const char *src;
	char sha[41];
};
/* Computes the SHA1 of SRC once (before first use). */
void redis_script_init(struct redis_script *s, const char *src);
/* KEYS and ARGS as in EVAL: NKEYS keys first, then the arguments; LENS
 * may be NULL for NUL-terminated strings. Same return as redis_command. */
int redis_eval(struct redis_conn *c, const struct redis_script *s, int nkeys,
	       int nargs, const char **args, const size_t *lens, redis_reply_fn cb, void *arg);

/* A subscriber: its own connection SUBSCRIBEd to CHANNEL, resubscribed
 * after every reconnect. Pub/sub loses messages while disconnected, so a
 * subscriber is told: SUBSCRIBED when the subscription (re)starts, DROPPED
 * when it ends (what was published meanwhile is lost), MESSAGE for each
 * message (MSG/LEN valid only during the call). Free with redis_conn_free. */
struct redis_conn *redis_subscriber_new(struct event_base *base, const struct redis_opts *o,
					const char *channel, redis_sub_fn cb, void *arg);

/* Every connection, summed; state, since and the eviction check are the
 * first "main" connection's (else the first one's). No secret is kept:
 * LAST_ERROR holds hiredis' or Redis's own error text. */
struct redis_stats {
	int conns;                 /* 0: no Redis configured / started */
	enum redis_state state;
	double since;              /* wall-clock seconds when STATE began */
	uint64_t connects, disconnects, timeouts, errors, commands, sub_drops;
	double p50_ms, p99_ms;     /* command latency, bucket upper bounds */
	bool eviction_unsafe;      /* the policy can evict the budget */
	char eviction_policy[32];  /* as Redis reported it, "" unknown */
	char last_error[160];
};
void redis_get_stats(struct redis_stats *out);
#endif
