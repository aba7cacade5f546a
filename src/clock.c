/* clock.c: the one monotonic clock (see clock.h). Never the wall clock
 * for deadlines: they must not jump when the system time is set. The wall
 * clock is read here only for what several instances share (a sealed
 * local token's expiry, a signed cache entry's). */
#include "clock.h"
#include <time.h>

double clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timeval clock_timeval(double secs)
{
	if (secs < 0)
		secs = 0;
	return (struct timeval){ (time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6) };
}
