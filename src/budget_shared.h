/* budget_shared.h: the gate between this instance's budget queue (budget.c)
 * and the budget every instance shares through Redis (redis_budget.c),
 * on the main event base (issue 16). */
#ifndef FG_BUDGET_SHARED_H
#define FG_BUDGET_SHARED_H
#include <event2/event.h>
#include "budget.h"
#include "conf.h"
#include "redis.h"

/* Puts budget B under the shared budget of C's [redis] section, through
 * RC (a connection on BASE, the main base); nothing when [redis] is off.
 * -1: out of memory. */
int budget_shared_start(struct event_base *base, struct redis_conn *rc, struct budget *b,
		      const struct fg_config *c);
/* Before RC and B are freed. */
void budget_shared_stop(void);
#endif
