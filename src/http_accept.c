/* http_accept.c: accept() failures back off instead of spinning.
 *
 * A listening socket stays readable while connections wait in its
 * backlog; when accept() fails for want of a descriptor (EMFILE, ENFILE)
 * or memory, a level-triggered loop calls it again at once, forever: a
 * core spent and a log line per try, while nothing is served. The guard
 * disables the listener for 100 ms on each failure (what nginx does with
 * its accept mutex delay, and haproxy with its listener queue), so the
 * descriptors freed meanwhile by finished connections can be used again.
 * libevent hands the error callback only the listener's own argument (the
 * evhttp), so the guards sit in one short list (a few per listener and
 * worker, looked at only on a failure) to find the one for the listener.
 *
 * Never: close the listener (its owner does). */
#include "http_accept.h"
#include "clock.h"
#include "log.h"
#include "stats.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

struct acceptguard {
	struct evconnlistener *lev;
	struct event *retry;
	struct acceptguard *next;
};

static struct acceptguard *acceptguard_list;
static pthread_mutex_t acceptguard_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long acceptguard_last_log;   /* second of the last line */
static atomic_long acceptguard_unlogged;   /* failures since that line */

static void http_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acceptguard *g = arg;
	evconnlistener_enable(g->lev);
}

static void http_accept_error_cb(struct evconnlistener *lev, void *unused)
{
	int err = EVUTIL_SOCKET_ERROR();
	static const struct timeval pause = { 0, 100000 };
	pthread_mutex_lock(&acceptguard_mu);
	struct acceptguard *g = acceptguard_list;
	while (g && g->lev != lev)
		g = g->next;
	pthread_mutex_unlock(&acceptguard_mu);
	stats_inc(STAT_accept_errors);
	long now = (long)clock_now();
	long last = atomic_load(&acceptguard_last_log);
	if (now != last && atomic_compare_exchange_strong(&acceptguard_last_log, &last, now)) {
		long n = atomic_exchange(&acceptguard_unlogged, 0);
		log_warn("accept: %s; accepting paused 100 ms (%ld more failures since the last line)",
			 evutil_socket_error_to_string(err), n);
	} else {
		atomic_fetch_add(&acceptguard_unlogged, 1);
	}
	if (!g)
		return;   /* not ours: libevent goes on as before */
	evconnlistener_disable(lev);
	evtimer_add(g->retry, &pause);
}

struct acceptguard *http_accept_new(struct evconnlistener *lev)
{
	struct acceptguard *g = lev ? calloc(1, sizeof *g) : NULL;
	if (!g)
		return NULL;
	g->lev = lev;
	g->retry = evtimer_new(evconnlistener_get_base(lev), http_accept_retry_cb, g);
	if (!g->retry) {
		free(g);
		return NULL;
	}
	evconnlistener_set_error_cb(lev, http_accept_error_cb);
	pthread_mutex_lock(&acceptguard_mu);
	g->next = acceptguard_list;
	acceptguard_list = g;
	pthread_mutex_unlock(&acceptguard_mu);
	return g;
}

void http_accept_free(struct acceptguard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&acceptguard_mu);
	for (struct acceptguard **pp = &acceptguard_list; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	pthread_mutex_unlock(&acceptguard_mu);
	event_free(g->retry);
	free(g);
}
