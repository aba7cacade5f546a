/* worker.h: what a request may know of the worker thread serving it.
 * Private to http.c (which owns workers and listeners) and request.c
 * (which owns the life of one request); nothing else includes it. */
#ifndef FG_WORKER_H
#define FG_WORKER_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include "config.h"
#include "http.h"

struct worker;
struct req;

/* One evhttp of one worker for one listener; the callback argument.
 * When a reload removes the listener the bind is only retired: it stops
 * accepting at once, but the evhttp (and with it every connection and
 * evhttp_request) lives on until the requests that came in on it have
 * been answered, so a reload never cuts a request in flight. */
struct wbind {
	struct worker *w;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	enum http_role role;
	char *spec;
	bool retired;           /* the listener is gone; free once idle */
	int active;             /* requests begun here and not yet answered */
	int idle_ticks;         /* retired: reaper ticks seen with active == 0 */
	struct event *reaper;   /* retired: polls for active == 0 */
	struct wbind *next;
};

/* A worker's view of the configuration: one global reference per
 * generation, shared by that worker's requests through a plain counter
 * (only the worker's thread touches it), so pinning the configuration for
 * a request takes neither a lock nor a shared atomic. */
struct wcfg {
	struct fg_config *cfg;
	unsigned gen;
	long refs;          /* the worker's own, plus one per request */
};

struct worker {
	int id;
	struct wcfg *cfg;
	pthread_t thread;
	struct event_base *base;
	struct upstream *up;
	struct stats_shard *stats;
	struct wbind *binds;
	uint64_t rng;
	int client_timeout;
	size_t hard_body_limit;
	int just_read_fd;   /* socket whose read event is delivering a request (http.c) */
	struct req *reqs;   /* requests in flight (request.c) */
};

/* The configuration in force as worker W sees it, with a reference for the
 * caller (NULL only before the worker's first view exists). */
struct wcfg *worker_config(struct worker *w);
void wcfg_release(struct wcfg *c);

/* evhttp callback of every tenant-facing listener (request.c). */
void request_cb(struct evhttp_request *er, void *arg);
/* The client of EVCON is gone: drops its request if it is only waiting
 * (true: the connection has been freed too). */
bool request_client_gone(struct worker *w, struct evhttp_connection *evcon);
/* At shutdown, after W's loop ended: logs and frees the requests W still
 * holds (cut at shutdown_timeout). */
void request_cut_all(struct worker *w);
/* Requests begun and not yet answered, over all workers. */
long request_in_flight(void);
#endif
