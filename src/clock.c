/* clock.c: the one monotonic clock (see clock.h). Deadlines never use the
 * wall clock (they must not jump when the system time is set); clock_wall
 * is there for times other processes read. */
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
