/* http_activate.h: listening sockets inherited from the service manager
 * (systemd socket activation, sd_listen_fds(3)), main thread only. */
#ifndef FG_HTTP_ACTIVATE_H
#define FG_HTTP_ACTIVATE_H
#include "conf_parse.h"   /* struct fg_addr */

/* Takes the sockets LISTEN_PID / LISTEN_FDS hand this process (once, at
 * start-up; the variables are then unset). Returns how many were handed
 * over; one that is no listening stream socket is logged and closed. */
int http_activate_receive(void);
/* The inherited socket bound to A's address (the same host and port, or
 * the same unix path), or -1. The caller owns it from then on. */
int http_activate_claim(const struct fg_addr *a);
/* Logs and closes every inherited socket no listener claimed. */
void http_activate_close_unclaimed(void);
#endif
