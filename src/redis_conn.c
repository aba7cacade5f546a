/* redis_conn.c: a Redis connection's state, shared by its life (redis.c)
 * and its commands (redis_cmd.c): the state and its log lines, the last
 * error, and the deferred kill. Both files call down into it, never each
 * other (docs/overview.md).
 *
 * Never: connect, send, or free a connection. */
#include "redis_conn.h"
#include "clock.h"
#include "log.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_error[160];

void redis_ms_tv(int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Error text from hiredis or Redis; neither ever contains our password
 * (Redis answers WRONGPASS without echoing it). */
void redis_note_error(struct redis_conn *c, const char *what, const char *detail)
{
	atomic_fetch_add(&c->errors, 1);
	pthread_mutex_lock(&last_mu);
	snprintf(last_error, sizeof last_error, "%s: %s%s%s", c->role, what,
		 detail ? ": " : "", detail ? detail : "");
	pthread_mutex_unlock(&last_mu);
	log_debug("redis %s: %s%s%s", c->role, what, detail ? ": " : "", detail ? detail : "");
}

void redis_last_error(char *out, size_t n)
{
	pthread_mutex_lock(&last_mu);
	snprintf(out, n, "%s", last_error);
	pthread_mutex_unlock(&last_mu);
}

void redis_set_state(struct redis_conn *c, enum redis_state s)
{
	enum redis_state old = (enum redis_state)atomic_exchange(&c->state, (int)s);
	if (old == s)
		return;
	atomic_store(&c->since, clock_wall());
	if (s == REDIS_UP && c->is_unix)
		log_info("redis %s: up (unix:%s)", c->role, c->path);
	else if (s == REDIS_UP)
		log_info("redis %s: up (%s port %d db %d)", c->role, c->host, c->port, c->db);
	else if (s == REDIS_DOWN)
		log_warn("redis %s: down after %d ms of failure", c->role, c->down_after_ms);
}

/* Drops the connection after WHY: deferred, since we may be inside one of
 * its callbacks. */
void redis_kill(struct redis_conn *c, const char *why, const char *detail)
{
	redis_note_error(c, why, detail);
	event_active(c->reaper, EV_TIMEOUT, 0);
}
