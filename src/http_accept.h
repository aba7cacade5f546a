/* http_accept.h: a listener that runs out of descriptors pauses instead of
 * spinning. */
#ifndef FG_HTTP_ACCEPT_H
#define FG_HTTP_ACCEPT_H
#include <event2/listener.h>

struct acceptguard;

/* Watches LEV (an evhttp bound socket's listener, on the calling thread's
 * base): when accept() fails (EMFILE, ENFILE, ENOBUFS...) the listener is
 * disabled for 100 ms, the failure counted and logged at most once a
 * second. Free the guard before the listener. */
struct acceptguard *http_accept_new(struct evconnlistener *lev);
void http_accept_free(struct acceptguard *g);
#endif
