/* clock.h: the one monotonic clock. Every file that needs "now" for
 * deadlines, windows or lifetimes reads it here, so all of them count
 * the same seconds; logic that depends on time still takes NOW as a
 * parameter, so unit tests drive it. */
#ifndef FG_CLOCK_H
#define FG_CLOCK_H
#include <sys/time.h>

/* Monotonic seconds (CLOCK_MONOTONIC). */
double clock_now(void);
/* Unix seconds (CLOCK_REALTIME): only for an absolute time that crosses
 * processes (a sealed local token's expiry, a signed cache entry's,
 * redis_entry.h), never for a deadline of this process. */
double clock_wall(void);
/* SECS as a struct timeval for libevent timers (negative: zero). */
struct timeval clock_timeval(double secs);
#endif
