/* http.h: listeners, worker threads and the life of a tenant request. */
#ifndef FG_HTTP_H
#define FG_HTTP_H
#include <stdbool.h>
#include <event2/event.h>
#include <event2/http.h>
#include "config.h"

struct evbuffer;

enum http_role { HTTP_ROLE_PUBLIC, HTTP_ROLE_TENANT, HTTP_ROLE_ADMIN };

/* Opens every listening socket C names (shared, admin and tenant ones).
 * Returns -1 with ERR when one cannot be bound (exit status 2). */
int http_listeners_open(const struct fg_config *c, char *err, size_t errlen);
/* Starts C->workers threads serving the public and tenant listeners. */
int http_workers_start(const struct fg_config *c);
/* A reload in two steps. prepare binds the listeners that are new in C
 * and keeps them aside; -1 with ERR (nothing changed) when one cannot be
 * bound. commit, once C is in force, hands the new ones to every worker
 * and retires those C no longer names (requests in flight on them finish
 * first). abort closes what prepare bound. */
int http_listeners_prepare(const struct fg_config *c, char *err, size_t errlen);
void http_listeners_commit(const struct fg_config *c);
void http_listeners_abort(void);
/* Serves the admin listeners on BASE (the main loop) with callback CB;
 * the caller frees the returned evhttp at exit. */
struct evhttp *http_admin_bind(struct event_base *base, void (*cb)(struct evhttp_request *, void *), void *arg,
			       int client_timeout);
/* Stops accepting on every listener (SIGTERM). */
void http_stop_accepting(void);
/* True once every worker has processed http_stop_accepting(). */
bool http_accepting_stopped(void);
/* Requests that have not been answered yet, over all workers. */
long http_in_flight(void);
/* Stops and joins the workers, frees the listeners. */
void http_workers_stop(void);
long http_connections(void);

/* Shared by admin.c and request.c: the JSON error shape of SPEC.md §4. */
struct evbuffer *http_error_body(int status, const char *detail);
void http_send_error(struct evhttp_request *req, int status, const char *detail);
/* evhttp_send_reply with the reason phrase of STATUS, written to the
 * socket at once when it can be (saves the trip through epoll). */
void http_reply(struct evhttp_request *req, int status, struct evbuffer *body);
const char *http_reason(int status);
#endif
