/* http.c: worker threads and their listeners.
 *
 * Each worker has its own event base (epoll changelist on), its own evhttp
 * per listener (accepting on a dup of the socket http_listen.c bound), its own
 * upstream (curl multi) handle, client connections (http_conn.c) and stats
 * shard. What a tenant request
 * becomes is the handler's business (req.c, registered by main as
 * evhttp_set_gencb registers a callback): this file never calls it by
 * name, and the handler reaches a worker only through the accessors in
 * http.h. What else lives on a worker's base (a Redis connection) is
 * dropped by the "base gone" hooks others register (http_on_base_gone),
 * so this layer names nothing above it.
 *
 * Calls go down: to the connections (http_conn.c, which are handed what
 * they ask of the worker in struct http_conn_owner and never call back by
 * name), the accept guard and the upstream multi handle.
 *
 * Never: bind sockets (http_listen.c), decide anything about a request,
 * write replies (http_reply.c). */
#include "http.h"
#include "http_accept.h"
#include "http_conn.h"
#include "http_tls.h"
#include "log.h"
#include "stats.h"
#include "up_multi.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define HTTP_MAX_WORKERS FG_MAX_WORKERS   /* conf.c refuses more */
#define HTTP_UPSTREAM_CONNS FG_UPSTREAM_CONNS
#define HTTP_BASE_HOOKS 4

/* ---- workers ----------------------------------------------------------- */

/* One evhttp of one worker for one listener; the callback argument.
 * When a reload removes the listener the bind is only retired: it stops
 * accepting at once, but the evhttp (and with it every connection and
 * evhttp_request) lives on until the requests that came in on it have
 * been answered, so a reload never cuts a request in flight. */
struct http_bind {
	struct http_worker *w;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct acceptguard *guard;   /* accept() failures pause, not spin */
	enum http_role role;
	char *spec;
	bool tls;               /* a tls:// listener: its connections get the SSL_CTX in force */
	bool retired;           /* the listener is gone; free once idle */
	int active;             /* requests begun here and not yet answered */
	int idle_ticks;         /* retired: reaper ticks seen with active == 0 */
	struct event *reaper;   /* retired: polls for active == 0 */
	struct http_bind *next;
};

/* A worker's view of the configuration: one global reference per
 * generation, shared by that worker's requests through a plain counter
 * (only the worker's thread touches it), so pinning the configuration for
 * a request takes neither a lock nor a shared atomic. */
struct http_cfgref {
	struct fg_config *cfg;
	unsigned gen;
	long refs;          /* the worker's own, plus one per request */
};

struct http_worker {
	int id;
	struct http_cfgref *cfg;
	pthread_t thread;
	struct event_base *base;
	struct upstream *up;
	struct stats_shard *stats;
	struct http_bind *binds;
	int client_timeout;
	size_t hard_body_limit;
	struct http_conns *conns;   /* its client connections (http_conn.c) */
	bool running;       /* its thread has been started */
};

static struct http_worker *workers[HTTP_MAX_WORKERS];
static int nworkers;
static atomic_int stopped_accepting;   /* workers that have let go of their sockets */

/* Messages from the main thread to a worker, run on the worker's base. */
enum wmsg_kind { WMSG_ADD, WMSG_DEL, WMSG_STOP_ACCEPT };
struct wmsg {
	enum wmsg_kind kind;
	struct http_worker *w;
	int fd;
	enum http_role role;
	char *spec;
};

static const struct http_handler *handler;
static void (*base_gone[HTTP_BASE_HOOKS])(struct event_base *base);
static int nbase_gone;

void http_set_handler(const struct http_handler *h) { handler = h; }

int http_on_base_gone(void (*fn)(struct event_base *base))
{
	if (nbase_gone == HTTP_BASE_HOOKS)
		return -1;
	base_gone[nbase_gone++] = fn;
	return 0;
}

void http_config_release(struct http_cfgref *c)
{
	if (c && --c->refs == 0) {
		conf_unref(c->cfg);
		free(c);
	}
}

/* The configuration in force, as this worker sees it, with a reference
 * for the caller. A new generation replaces the worker's view; requests
 * still holding the old one keep it alive until they end. */
static struct http_cfgref *worker_config(struct http_worker *w)
{
	unsigned g = conf_current_generation();
	if (!w->cfg || w->cfg->gen != g) {
		struct http_cfgref *n = malloc(sizeof *n);
		if (n) {
			n->cfg = conf_current();
			n->gen = n->cfg->generation;
			n->refs = 1;
			http_config_release(w->cfg);
			w->cfg = n;
		}
	}
	if (!w->cfg)
		return NULL;
	w->cfg->refs++;
	return w->cfg;
}

struct fg_config *http_worker_config(struct http_worker *w, struct http_cfgref **ref)
{
	*ref = worker_config(w);
	return *ref ? (*ref)->cfg : NULL;
}

struct event_base *http_worker_base(const struct http_worker *w) { return w->base; }
struct upstream *http_worker_upstream(const struct http_worker *w) { return w->up; }
struct http_worker *http_bind_worker(const struct http_bind *b) { return b->w; }

const char *http_bind_tenant_listener(const struct http_bind *b)
{
	return b->role == HTTP_ROLE_TENANT ? b->spec : NULL;
}

/* AF_INET or AF_INET6 only: a unix socket's address matches no range. */
const struct sockaddr *http_conn_peer(struct evhttp_connection *conn)
{
	const struct sockaddr *peer = conn ? evhttp_connection_get_addr(conn) : NULL;
	return peer && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6) ? peer : NULL;
}

const struct sockaddr *http_request_peer(struct evhttp_request *er)
{
	return http_conn_peer(evhttp_request_get_connection(er));
}

void http_bind_hold(struct http_bind *b) { b->active++; }
void http_bind_release(struct http_bind *b) { b->active--; }   /* a retired bind's reaper frees it at 0 */

/* evhttp's callbacks for a bind, handed on to the worker's connections.
 * Plain listeners pay one branch per connection for TLS, nothing more. */
static struct bufferevent *worker_bev_cb(struct event_base *base, void *arg)
{
	struct http_bind *b = arg;
	if (!b->tls)
		return http_conn_bev_new(b->w->conns, base, b, false, NULL);
	struct http_cfgref *ref = worker_config(b->w);
	struct bufferevent *bev = http_conn_bev_new(b->w->conns, base, b, true,
						    ref ? http_tls_ctx(ref->cfg, HTTP_TLS_TENANT) : NULL);
	http_config_release(ref);   /* the connection's SSL holds its SSL_CTX */
	return bev;
}

static void worker_request_cb(struct evhttp_request *er, void *arg)
{
	struct http_bind *b = arg;
	http_conn_request(b->w->conns, er, b, b->tls);
}

const struct fg_peer_cert *http_bind_cert(const struct http_bind *b, struct evhttp_connection *evcon)
{
	return b->tls ? http_conn_tls_peer(b->w->conns, evcon) : NULL;
}

/* What a connection asks of its worker (struct http_conn_owner): the
 * limits as the worker's configuration view has them now. */
static void worker_conn_limits(void *arg, struct http_conn_limits *l)
{
	struct http_cfgref *ref = worker_config(arg);
	const struct fg_config *cfg = ref ? ref->cfg : NULL;
	l->header_timeout = cfg ? cfg->client_header_timeout : 60;
	l->body_timeout = cfg ? cfg->client_body_timeout : 60;
	l->max_connections = cfg ? cfg->max_connections : 0;
	http_config_release(ref);
}

static struct http_bind *worker_bind(struct http_worker *w, int fd, enum http_role role, const char *spec)
{
	struct http_bind *b = calloc(1, sizeof *b);
	if (!b)
		goto fail;
	b->w = w;
	b->role = role;
	b->spec = strdup(spec);
	b->tls = strncmp(spec, "tls://", 6) == 0;   /* one evhttp per listener: its bevcb is TLS or not */
	b->http = evhttp_new(w->base);
	if (!b->spec || !b->http)
		goto fail;
	evhttp_set_gencb(b->http, worker_request_cb, b);
	evhttp_set_bevcb(b->http, worker_bev_cb, b);
	evhttp_set_timeout(b->http, w->client_timeout);
	/* Bodies up to the hard limit are read and answered 413 by us in the
	 * JSON error shape; beyond it libevent refuses them outright. */
	evhttp_set_max_body_size(b->http, w->hard_body_limit);
	evhttp_set_max_headers_size(b->http, HTTP_MAX_HEADERS);
	/* An answer without a Content-Type (an upstream's that had none) goes
	 * without one, not as libevent's "text/html; charset=ISO-8859-1". */
	evhttp_set_default_content_type(b->http, NULL);
	/* Let every method reach us, so a wrong one gets our JSON 405. */
	evhttp_set_allowed_methods(b->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	b->bound = evhttp_accept_socket_with_handle(b->http, fd);
	if (!b->bound)
		goto fail;
	b->guard = http_accept_new(evhttp_bound_socket_get_listener(b->bound));
	b->next = w->binds;
	w->binds = b;
	return b;
fail:
	close(fd);
	if (b) {
		if (b->http)
			evhttp_free(b->http);
		free(b->spec);
		free(b);
	}
	return NULL;
}

/* Stop accepting on B now. The listening descriptor is closed later
 * (worker_unbind), after the loop has told epoll to forget it: the base
 * batches epoll changes until its next epoll_wait, and a change for a
 * descriptor closed meanwhile would reach epoll on a closed (or reused)
 * number. */
static void worker_stop_accept(struct http_bind *b)
{
	http_accept_free(b->guard);   /* its retry must not enable the listener again */
	b->guard = NULL;
	if (b->bound)
		evconnlistener_disable(evhttp_bound_socket_get_listener(b->bound));
}

static void worker_unbind(struct http_bind *b)
{
	worker_stop_accept(b);
	if (b->bound) {
		evhttp_del_accept_socket(b->http, b->bound);
		b->bound = NULL;
	}
}

/* A timer added now runs after the next epoll_wait: the listening socket
 * closes as soon as it safely can, so a reload that binds the same port
 * again soon after finds it free. (The reaper's first tick does it
 * otherwise.) */
static void worker_unbind_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_unbind(arg);
}

static void worker_bind_free(struct http_worker *w, struct http_bind *b)
{
	for (struct http_bind **pp = &w->binds; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	if (b->reaper)
		event_free(b->reaper);
	http_accept_free(b->guard);
	evhttp_free(b->http);   /* closes its idle keep-alive connections */
	free(b->spec);
	free(b);
}

/* Every 100 ms while retired: once the last request begun on the bind has
 * been answered and a whole tick has passed for the reply to be written
 * out, the bind goes. */
static void worker_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_bind *b = arg;
	worker_unbind(b);   /* stopped accepting a tick ago */
	b->idle_ticks = b->active ? 0 : b->idle_ticks + 1;
	if (b->idle_ticks >= 2)
		worker_bind_free(b->w, b);
}

/* The listener (SPEC in ROLE; the role tells it from a bind just added
 * for the same address in a new role) is gone from the configuration:
 * stop accepting now (the
 * dup'd socket closes, so new connections are refused once every worker
 * has done this), let requests in flight finish, then free. */
static void worker_retire(struct http_worker *w, const char *spec, enum http_role role)
{
	static const struct timeval tick = { 0, 100000 }, after_poll = { 0, 1 };
	for (struct http_bind *b = w->binds; b; b = b->next) {
		if (b->retired || b->role != role || strcmp(b->spec, spec) != 0)
			continue;
		worker_stop_accept(b);
		b->retired = true;
		b->reaper = event_new(w->base, -1, EV_PERSIST, worker_reap_cb, b);
		if (!b->reaper) {
			worker_bind_free(w, b);
			return;
		}
		evtimer_add(b->reaper, &tick);
		event_base_once(w->base, -1, EV_TIMEOUT, worker_unbind_cb, b, &after_poll);
		return;
	}
}

static void worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wmsg *m = arg;
	switch (m->kind) {
	case WMSG_ADD:
		if (!worker_bind(m->w, m->fd, m->role, m->spec))
			log_error("worker %d: cannot serve listener %s", m->w->id, m->spec);
		break;
	case WMSG_DEL:
		worker_retire(m->w, m->spec, m->role);
		break;
	case WMSG_STOP_ACCEPT:
		for (struct http_bind *b = m->w->binds; b; b = b->next)
			worker_stop_accept(b);   /* closed with the bind, at exit */
		atomic_fetch_add(&stopped_accepting, 1);
		break;
	}
	free(m->spec);
	free(m);
}

static void worker_send(struct http_worker *w, enum wmsg_kind kind, int fd, enum http_role role, const char *spec)
{
	static const struct timeval now = { 0, 0 };
	struct wmsg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	m->kind = kind;
	m->w = w;
	m->fd = fd;
	m->role = role;
	m->spec = spec ? strdup(spec) : NULL;
	if (event_base_once(w->base, -1, EV_TIMEOUT, worker_msg_cb, m, &now) < 0) {
		if (fd >= 0)
			close(fd);
		free(m->spec);
		free(m);
	}
}

static void *worker_main(void *arg)
{
	struct http_worker *w = arg;
	stats_thread_init(w->stats);
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	handler->cut_all();   /* still on this thread: the requests are its own */
	return NULL;
}

static int worker_dup_fd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d >= 0)
		evutil_make_socket_nonblocking(d);
	return d;
}

/* Each request enables and disables its sockets' events several times per
 * loop iteration; with epoll's changelist the kernel sees only the net
 * change, once. (The changelist is unsafe with dup'ed fds in one base;
 * each base here holds its own dup of a listener and nothing else.) */
static struct event_base *worker_base_new(void)
{
	struct event_config *ec = event_config_new();
	if (!ec)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	struct event_base *b = event_base_new_with_config(ec);
	event_config_free(ec);
	return b;
}

int http_workers_start(const struct fg_config *c)
{
	if (!handler)
		return -1;   /* http_set_handler comes first */
	int n = c->workers > 0 ? c->workers : 1;
	if (n > HTTP_MAX_WORKERS)
		n = HTTP_MAX_WORKERS;
	for (int i = 0; i < n; i++) {
		struct http_worker *w = calloc(1, sizeof *w);
		if (!w)
			return -1;
		w->id = i;
		w->base = worker_base_new();
		w->up = w->base ? up_multi_new(w->base, HTTP_UPSTREAM_CONNS) : NULL;
		const struct http_conn_owner o = {
			.request = handler->request, .client_gone = handler->client_gone, .head = handler->head,
			.limits = worker_conn_limits, .arg = w, .max_headers = HTTP_MAX_HEADERS,
		};
		w->conns = w->base ? http_conns_new(w->base, &o) : NULL;
		w->stats = stats_shard_new();
		w->client_timeout = c->client_timeout;
		w->hard_body_limit = c->max_body_bytes * 4 + 65536;
		workers[nworkers++] = w;
		struct http_cfgref *first = worker_config(w);   /* the worker's own view */
		if (!first || !w->base || !w->up || !w->conns || !w->stats)
			return -1;
		http_config_release(first);
	}
	return 0;
}

void http_workers_each_base(void (*fn)(struct event_base *base))
{
	for (int i = 0; i < nworkers; i++)
		fn(workers[i]->base);
}

int http_workers_run(void)
{
	for (int i = 0; i < nworkers; i++) {
		if (pthread_create(&workers[i]->thread, NULL, worker_main, workers[i]) != 0)
			return -1;
		workers[i]->running = true;
	}
	return 0;
}

/* Before the threads run, a bind is made here and now, so a failure stops
 * the start; afterwards it is a message to each worker's own loop. */
int http_workers_serve(int fd, enum http_role role, const char *spec)
{
	for (int i = 0; i < nworkers; i++) {
		struct http_worker *w = workers[i];
		int d = worker_dup_fd(fd);
		if (d < 0)
			return -1;
		if (!w->running) {
			if (!worker_bind(w, d, role, spec))
				return -1;
		} else {
			worker_send(w, WMSG_ADD, d, role, spec);
		}
	}
	return 0;
}

void http_workers_retire(const char *spec, enum http_role role)
{
	for (int i = 0; i < nworkers; i++)
		worker_send(workers[i], WMSG_DEL, -1, role, spec);
}

void http_stop_accepting(void)
{
	for (int i = 0; i < nworkers; i++)
		worker_send(workers[i], WMSG_STOP_ACCEPT, -1, HTTP_ROLE_PUBLIC, NULL);
}

long http_in_flight(void) { return handler ? handler->in_flight() : 0; }
bool http_accepting_stopped(void) { return atomic_load(&stopped_accepting) >= nworkers; }
long http_connections(void) { return http_conn_count(); }

void http_workers_stop(void)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i]->running)
			event_base_loopbreak(workers[i]->base);
	for (int i = 0; i < nworkers; i++) {
		struct http_worker *w = workers[i];
		if (w->running)
			pthread_join(w->thread, NULL);
		/* Messages queued just before the stop still own memory and fds:
		 * run them now, on this thread, before the base goes. */
		if (w->base)
			event_base_loop(w->base, EVLOOP_NONBLOCK);
		while (w->binds)
			worker_bind_free(w, w->binds);
		for (int k = 0; k < nbase_gone; k++)
			base_gone[k](w->base);   /* what others keep on the base (a Redis connection) */
		http_conns_free(w->conns);   /* the closed connections' sockets */
		up_multi_free(w->up);
		http_config_release(w->cfg);
		if (w->base)
			event_base_free(w->base);
		if (w->stats)
			stats_shard_free(w->stats);
		free(w);
	}
	nworkers = 0;
}

