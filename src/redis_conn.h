/* redis_conn.h: what redis.c (a connection's life) and redis_cmd.c (its
 * commands) share; private to the two. */
#ifndef FG_REDIS_CONN_H
#define FG_REDIS_CONN_H
#include "conf_secret.h"
#include "redis_io.h"
#include "redis_types.h"
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <hiredis/async.h>
#include <stdatomic.h>

#define REDIS_PING_MS 500
#define REDIS_LAT_BUCKETS 14
/* latency bucket upper bounds (ms); the last bucket is everything above */
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

/* redis.c */
void redis_ms_tv(int ms, struct timeval *tv);
void redis_note_error(struct redis_conn *c, const char *what, const char *detail);
/* The last error noted on any connection, for /stats. */
void redis_last_error(char *out, size_t n);
void redis_set_state(struct redis_conn *c, enum redis_state s);
/* Drops C's connection after WHY (deferred to the reaper). */
void redis_kill(struct redis_conn *c, const char *why, const char *detail);

/* redis_cmd.c */
void redis_cmd_down_cb(evutil_socket_t fd, short what, void *arg);
void redis_ping_cb(evutil_socket_t fd, short what, void *arg);
#endif
