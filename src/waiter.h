/* waiter.h: one request waiting for what another thread produces (a
 * token, another request's upstream answer, a budget slot), woken on its
 * own event base, so its callback runs on its own thread.
 *
 * The owner (up_token.c, cache.c, budget.c) keeps its waiters on its own
 * lists under its own lock and makes its waiter type start with a struct
 * waiter (waiter.c frees the whole of it). A waiter's life:
 *   queued    on the owner's list;
 *   woken     taken off under the owner's lock (waiter_take_locked), then
 *             waiter_wake() once the lock is released;
 *   run       its event runs on its base: run(), or dropped() when it was
 *             cancelled in between (or its base is gone); then freed.
 * waiter_cancel_locked() says which half a cancel met: still queued (the
 * owner unlinks and frees it) or woken (only marked; dropped later). */
#ifndef FG_WAITER_H
#define FG_WAITER_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>

struct waiter {
	struct event_base *base;            /* NULL (unit tests): run inside waiter_wake */
	pthread_mutex_t *mu;                /* the owner's lock: guards queued, cancelled */
	void (*run)(struct waiter *w);      /* on BASE, unless cancelled */
	void (*dropped)(struct waiter *w);  /* instead of run; may be NULL */
	bool queued;                        /* on the owner's list */
	bool cancelled;                     /* woken, then withdrawn before it ran */
};

/* A new queued waiter of SIZE bytes (the owner's type, zeroed past the
 * struct waiter), or NULL when out of memory. */
void *waiter_new(size_t size, pthread_mutex_t *mu, struct event_base *base,
		 void (*run)(struct waiter *), void (*dropped)(struct waiter *));
/* Owner's lock held: W leaves the owner's list to be woken. */
void waiter_take_locked(struct waiter *w);
/* Owner's lock released: W's callback is scheduled on its base. */
void waiter_wake(struct waiter *w);
/* Owner's lock held, on the thread that made W. True: W is still queued,
 * and the owner unlinks and frees it. False: W was woken; it is marked
 * and dropped when its event runs. */
bool waiter_cancel_locked(struct waiter *w);
#endif
