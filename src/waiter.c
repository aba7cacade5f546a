/* waiter.c: the cross-thread waiter shared by the token, the cache and the
 * budget (see waiter.h). The race it settles: a waiter woken by one thread
 * while its own thread withdraws it (its request timed out or its client
 * hung up). The owner's lock decides which came first; a woken waiter is
 * only ever freed by its own event, so nothing is freed twice. */
#include "waiter.h"
#include <stdlib.h>

void *waiter_new(size_t size, pthread_mutex_t *mu, struct event_base *base,
		 void (*run)(struct waiter *), void (*dropped)(struct waiter *))
{
	struct waiter *w = calloc(1, size);
	if (!w)
		return NULL;
	w->base = base;
	w->mu = mu;
	w->run = run;
	w->dropped = dropped;
	w->queued = true;
	return w;
}

void waiter_take_locked(struct waiter *w) { w->queued = false; }

static void waiter_fire(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(w->mu);
	bool cancelled = w->cancelled;
	w->cancelled = true;   /* from here on, cancelling is a no-op */
	pthread_mutex_unlock(w->mu);
	if (!cancelled)
		w->run(w);
	else if (w->dropped)
		w->dropped(w);
	free(w);
}

void waiter_wake(struct waiter *w)
{
	static const struct timeval now = { 0, 0 };
	if (!w->base) {
		w->run(w);   /* unit tests: one thread, nothing to race */
		free(w);
	} else if (event_base_once(w->base, -1, EV_TIMEOUT, waiter_fire, w, &now) < 0) {
		if (w->dropped)
			w->dropped(w);   /* its base is gone, and its request with it */
		free(w);
	}
}

bool waiter_cancel_locked(struct waiter *w)
{
	if (w->queued)
		return true;
	w->cancelled = true;
	return false;
}
