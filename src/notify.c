/* notify.c: owns the sd_notify(3) messages to systemd (Type=notify units).
 *
 * With libsystemd (HAVE_LIBSYSTEMD) each call sends one datagram to
 * $NOTIFY_SOCKET; sd_notify returns quietly when that variable is unset, so
 * running fleetgate by hand or in the tests changes nothing. Without
 * libsystemd every function is a no-op and configure generates a
 * Type=simple unit instead. Failures are ignored on purpose: systemd being
 * unreachable must never stop the gateway. Never passes a secret: STATUS
 * lines are shown by `systemctl status` to anyone. */
#include "fg_autoconf.h"
#include "notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#include <time.h>

void notify_ready(void)
{
	(void)sd_notify(0, "READY=1");
}

void notify_reloading(void)
{
	/* MONOTONIC_USEC lets systemd >= 253 match this RELOADING=1 with the
	 * reload it asked for (Type=notify-reload); older ones ignore it. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
}

void notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

void notify_status(const char *status)
{
	(void)sd_notifyf(0, "STATUS=%s", status);
}

#else

void notify_ready(void)
{
}

void notify_reloading(void)
{
}

void notify_stopping(void)
{
}

void notify_status(const char *status)
{
	(void)status;
}

#endif
