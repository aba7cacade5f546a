/* notify.h: telling the service manager (systemd) where fleetgate is in its
 * life: ready, reloading, stopping. Every function is a no-op when built
 * without libsystemd or when not started by systemd (no NOTIFY_SOCKET). */
#ifndef FG_NOTIFY_H
#define FG_NOTIFY_H

/* The listeners are bound and requests can be served (READY=1). */
void notify_ready(void);
/* A SIGHUP reload starts (RELOADING=1); notify_ready() says it ended. */
void notify_reloading(void);
/* Draining before exit has started (STOPPING=1). */
void notify_stopping(void);
/* One line for `systemctl status` (STATUS=...). */
void notify_status(const char *status);

#endif
