/* clock.h: the one monotonic clock. Every file that needs "now" for
 * deadlines, windows or lifetimes reads it here, so all of them count
 * the same seconds; logic that depends on time still takes NOW as a
 * parameter, so unit tests drive it. */
#ifndef FG_CLOCK_H
#define FG_CLOCK_H
#include <sys/time.h>

/* Monotonic seconds (CLOCK_MONOTONIC). */
double clock_now(void);
/* Wall-clock seconds (CLOCK_REALTIME): only for an absolute time that
 * crosses processes (a signed cache entry's expiry, redis_entry.h), never
 * for a deadline here. */
double clock_wall(void);
/* SECS as a struct timeval for libevent timers (negative: zero). */
struct timeval clock_timeval(double secs);
#endif
