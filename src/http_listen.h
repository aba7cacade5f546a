/* http_listen.h: the listening sockets (main thread). */
#ifndef FG_HTTP_LISTEN_H
#define FG_HTTP_LISTEN_H
#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>
#include "conf.h"
#include "http.h"

/* Opens every listening socket C names (shared, admin and tenant ones).
 * Returns -1 with ERR when one cannot be bound (exit status 2). */
int http_listen_open(const struct fg_config *c, char *err, size_t errlen);
/* Hands the public and tenant listeners to the workers (start-up). */
int http_listen_serve(void);
/* A reload in two steps. prepare binds the listeners that are new in C
 * and keeps them aside; -1 with ERR (nothing changed) when one cannot be
 * bound. commit, once C is in force, hands the new ones to every worker
 * and retires those C no longer names (requests in flight on them finish
 * first). abort closes what prepare bound. */
int http_listen_prepare(const struct fg_config *c, char *err, size_t errlen);
void http_listen_commit(const struct fg_config *c);
void http_listen_abort(void);
/* Serves the admin listeners on BASE (the main loop) with callback CB,
 * at most admin_max_connections at once, each closed after IDLE_TIMEOUT
 * seconds idle; the caller frees the returned evhttp at exit. */
struct evhttp *http_listen_admin_bind(struct event_base *base, void (*cb)(struct evhttp_request *, void *), void *arg,
				 int idle_timeout);
/* Admin connections open now (main thread). */
long http_listen_admin_connections(void);
/* The webhook listener (docs/webhooks.md) as its owner sees it: what
 * serves its requests, the head check of a delivery with a body (0 to
 * read the body, or the status to refuse it with, DETAIL filled), and
 * its limits now. Every function runs on the main thread. */
struct evkeyvalq;
struct http_listen_side {
	void (*request)(struct evhttp_request *er);
	int (*head)(const char *target, struct evkeyvalq *h, char *detail, size_t len);
	void (*limits)(int *header_timeout, int *body_timeout, int *max_connections);
};
/* Serves the webhook listeners on BASE (the main loop) with the tenant
 * listeners' connection machinery (http_conn.c: headers first, the header
 * and body deadlines, a cap), counted apart from the tenants'. -1 when
 * out of memory; 0 also when there is none. */
int http_listen_webhook_bind(struct event_base *base, const struct http_listen_side *side);
/* Webhook connections open now. */
long http_listen_webhook_connections(void);
/* Stops serving them and frees their evhttp (exit, main thread). */
void http_listen_webhook_unbind(void);
/* Closes every listening socket (exit, after the workers stopped). */
void http_listen_close_all(void);
#endif
