/* http.h: the worker layer as the layers above it see it: worker
 * threads, what a request may know of its worker, and replies.
 *
 * http.c owns the workers; what a tenant request becomes belongs to the
 * handler registered with http_set_handler (req.c's, set by main), in
 * the way evhttp_set_gencb registers a callback, so http.c never calls the
 * request code by name. What others keep on a worker's base goes through
 * a "base gone" hook (http_on_base_gone, registered by main for the Redis
 * cache). The handler reaches a worker's pieces only through the accessors
 * below. Client connections are http_conn.c's, behind http_conn.h, which
 * only http.c includes. */
#ifndef FG_HTTP_H
#define FG_HTTP_H
#include <stdbool.h>
#include <event2/event.h>
#include <event2/http.h>
#include "conf.h"
#include "http_reply.h"   /* replies and the JSON error shape, for req.c and admin.c */

struct evbuffer;
struct evkeyvalq;
struct upstream;

/* Largest header block of a request, on tenant and admin listeners alike. */
#define HTTP_MAX_HEADERS (64 * 1024)

/* WEBHOOK: the webhook listener, served on the main base apart from
 * tenants and admin (http_listen_webhook_bind). */
enum http_role { HTTP_ROLE_PUBLIC, HTTP_ROLE_TENANT, HTTP_ROLE_ADMIN, HTTP_ROLE_WEBHOOK };

struct http_worker;   /* one worker thread */
struct http_bind;     /* one listener as one worker serves it */
struct http_cfgref;   /* a request's hold on its worker's configuration view */

/* What serves the requests of the public and tenant listeners. Every
 * function runs on the worker's thread. */
struct http_handler {
	/* A request arrived on B; it must end in exactly one http_reply. */
	void (*request)(struct evhttp_request *er, struct http_bind *b);
	/* The client of EVCON hung up while its answer was pending. True when
	 * the handler ended the request and freed the connection. */
	bool (*client_gone)(struct evhttp_connection *evcon);
	/* Requests begun and not yet answered, over all workers. */
	long (*in_flight)(void);
	/* The worker's loop has ended for good (shutdown): log and drop the
	 * requests it still holds. */
	void (*cut_all)(void);
	/* The headers (H) of a request with a body arrived on B, with its
	 * request TARGET ("" when too long), before any byte of the body is
	 * read: 0 to read it, or the status to refuse it with (DETAIL
	 * filled); the connection is then closed. */
	int (*head)(struct http_bind *b, struct evhttp_connection *evcon, const char *target,
		    struct evkeyvalq *h, char *detail, size_t len);
};
/* Set once, before http_workers_start. */
void http_set_handler(const struct http_handler *h);
/* FN(base) runs for each worker's event base as http_workers_stop frees
 * the worker: after its listeners are gone, before its closed connections'
 * sockets and the base itself. For what others keep on a worker's base (a
 * Redis connection). Main thread, before http_workers_run; -1 when the
 * few slots are taken. */
int http_on_base_gone(void (*fn)(struct event_base *base));

/* Makes C->workers workers (threads not yet running). */
int http_workers_start(const struct fg_config *c);
/* FN(base) for each worker's event base (main thread, before they run). */
void http_workers_each_base(void (*fn)(struct event_base *base));
/* Every worker serves the listening socket FD (each on a dup of it): at
 * once before http_workers_run (-1 when one cannot), by a message to
 * each worker's loop afterwards. */
int http_workers_serve(int fd, enum http_role role, const char *spec);
/* The listener SPEC in ROLE is gone: every worker stops accepting on it
 * now and frees it once the requests begun there have been answered. */
void http_workers_retire(const char *spec, enum http_role role);
/* Starts the worker threads. */
int http_workers_run(void);
/* Stops accepting on every listener (SIGTERM). */
void http_stop_accepting(void);
/* True once every worker has processed http_stop_accepting(). */
bool http_accepting_stopped(void);
/* Requests that have not been answered yet, over all workers (the handler's count). */
long http_in_flight(void);
/* Stops and joins the workers and frees them. */
void http_workers_stop(void);
/* Client connections open on public and tenant listeners, over all workers. */
long http_connections(void);

/* What a request may know of the worker and listener serving it. */
struct http_worker *http_bind_worker(const struct http_bind *b);
/* The spec of B's listener when it is a tenant's own, else NULL. */
const char *http_bind_tenant_listener(const struct http_bind *b);
/* The client certificate of EVCON, a connection of B (tenant_cert.h);
 * NULL on a plain listener. */
struct fg_peer_cert;
const struct fg_peer_cert *http_bind_cert(const struct http_bind *b, struct evhttp_connection *evcon);
/* The client's IP address, for source ranges; NULL on a unix socket. */
struct sockaddr;
const struct sockaddr *http_conn_peer(struct evhttp_connection *conn);
const struct sockaddr *http_request_peer(struct evhttp_request *er);
/* A request begun on B / answered: a retired listener waits for its last one. */
void http_bind_hold(struct http_bind *b);
void http_bind_release(struct http_bind *b);
struct event_base *http_worker_base(const struct http_worker *w);
struct upstream *http_worker_upstream(const struct http_worker *w);
/* The configuration in force as W sees it, held through *REF until
 * http_config_release (no lock: only W's thread counts). NULL only when
 * out of memory before W's first view. */
struct fg_config *http_worker_config(struct http_worker *w, struct http_cfgref **ref);
void http_config_release(struct http_cfgref *ref);
#endif
