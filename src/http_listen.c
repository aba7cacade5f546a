/* http_listen.c: the listening sockets, on the main thread.
 *
 * The main thread binds every socket (shared, admin and tenant ones) and
 * hands the public and tenant ones to the workers (http.c), which accept
 * on dups of them. Listeners change only on reload, in two steps
 * (prepare: bind the new ones; commit: hand them to the workers after the
 * swap), so a bind failure changes nothing. A listener whose socket the
 * service manager handed over (http_activate.c) takes it instead of
 * binding; that socket stays the manager's (its unix path is never
 * unlinked here), so a restart refuses no connection.
 *
 * Never: accept a connection or read a request (the workers do). */
#include "http_listen.h"
#include "http_accept.h"
#include "http_conn.h"
#include "http_activate.h"
#include "http_tls.h"
#include "log.h"
#include "http_headblock.h"
#include "clock.h"
#include "stats.h"
#include <stdatomic.h>
#include <stdio.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include "tenant.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_MAX 256

struct listener {
	char *spec;
	enum http_role role;
	int fd;
	char *unix_path;     /* unlinked when closed */
	bool inherited;      /* from the service manager (socket activation) */
};

static struct listener *lst[LISTEN_MAX];
static int nlst;
static struct acceptguard *admin_guards[LISTEN_MAX];   /* the admin listeners' */
static int nadmin_guards;
static struct evhttp *admin_tls;   /* the tls:// admin listeners' own evhttp: bevcb is per evhttp */

static void listener_close(struct listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->unix_path)
		unlink(l->unix_path);
	free(l->unix_path);
	free(l->spec);
	free(l);
}

/* ---- sockets ------------------------------------------------------------ */

static int listener_socket_tcp(const struct fg_addr *a, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", a->port);
	int rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot resolve: %s", a->spec, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (res->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "%s: cannot listen: %s", a->spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int listener_socket_unix(const struct fg_addr *a, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(a->path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "%s: socket path too long", a->spec);
		return -1;
	}
	strcpy(sun.sun_path, a->path);
	/* A socket file left by an earlier run is ours to replace; anything
	 * else at that path is not. */
	struct stat st;
	if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(a->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool bound = fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
	/* unix_mode / unix_group hold before listen(): no client gets in first. */
	if (bound && conf_parse_addr_apply_perms(a, err, errlen) < 0) {
		close(fd);
		unlink(a->path);
		return -1;
	}
	if (!bound || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "%s: cannot listen: %s", a->spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static struct listener *listener_find(const char *spec)
{
	for (int k = 0; k < nlst; k++)
		if (strcmp(lst[k]->spec, spec) == 0)
			return lst[k];
	return NULL;
}

/* unix_mode and unix_group are applied before listen(), which an
 * inherited socket is past: the socket unit's SocketMode= and
 * SocketGroup= must say the same, and a difference is worth a line. */
static void listener_check_inherited_perms(const struct fg_addr *a)
{
	struct stat st;
	if (!a->is_unix || (a->mode < 0 && a->gid < 0) || stat(a->path, &st) < 0)
		return;
	if (a->mode >= 0 && (int)(st.st_mode & 0777) != a->mode)
		log_warn("listener %s: inherited with mode %04o, not unix_mode %04o: set SocketMode= in fleetgate.socket",
			 a->spec, (unsigned)(st.st_mode & 0777), (unsigned)a->mode);
	if (a->gid >= 0 && (long)st.st_gid != a->gid)
		log_warn("listener %s: inherited with group %ld, not unix_group's %ld: set SocketGroup= in fleetgate.socket",
			 a->spec, (long)st.st_gid, a->gid);
}

static struct listener *listener_open(const struct fg_addr *a, enum http_role role, char *err, size_t errlen)
{
	int fd = http_activate_claim(a);
	bool inherited = fd >= 0;
	if (inherited) {
		log_info("listener %s: inherited from the service manager (socket activation)", a->spec);
		listener_check_inherited_perms(a);
	} else {
		fd = a->is_unix ? listener_socket_unix(a, err, errlen) : listener_socket_tcp(a, err, errlen);
	}
	if (fd < 0)
		return NULL;
	evutil_make_socket_nonblocking(fd);
	struct listener *l = calloc(1, sizeof *l);
	if (!l) {
		close(fd);
		return NULL;
	}
	l->fd = fd;
	l->role = role;
	l->inherited = inherited;
	l->spec = strdup(a->spec);
	l->unix_path = a->is_unix && !inherited ? strdup(a->path) : NULL;
	return l;
}

/* The listeners a configuration asks for, with their roles. */
struct want {
	const struct fg_addr *a;
	enum http_role role;
};

static int listeners_wanted(const struct fg_config *c, struct want *out, int max)
{
	int n = 0;
	for (size_t i = 0; i < c->listen.n && n < max; i++)
		out[n++] = (struct want){ &c->listen.v[i], HTTP_ROLE_PUBLIC };
	for (size_t i = 0; i < c->admin_listen.n && n < max; i++)
		out[n++] = (struct want){ &c->admin_listen.v[i], HTTP_ROLE_ADMIN };
	for (size_t i = 0; i < c->webhook_listen.n && n < max; i++)
		out[n++] = (struct want){ &c->webhook_listen.v[i], HTTP_ROLE_WEBHOOK };
	for (size_t t = 0; t < c->ntenants; t++)
		for (size_t i = 0; i < c->tenants[t]->listen.n && n < max; i++)
			out[n++] = (struct want){ &c->tenants[t]->listen.v[i], HTTP_ROLE_TENANT };
	return n;
}

int http_listen_open(const struct fg_config *c, char *err, size_t errlen)
{
	struct want want[LISTEN_MAX];
	int n = listeners_wanted(c, want, LISTEN_MAX);
	int rc = 0;
	http_activate_receive();
	for (int i = 0; i < n && rc == 0; i++) {
		if (listener_find(want[i].a->spec))
			continue;
		struct listener *l = listener_open(want[i].a, want[i].role, err, errlen);
		if (!l)
			rc = -1;
		else
			lst[nlst++] = l;
	}
	/* A later reload binds what it adds itself: only start-up matches. */
	http_activate_close_unclaimed();
	return rc;
}

/* Listeners a reload has bound but not yet handed to the workers. */
static struct listener *pending[LISTEN_MAX];
static int npending;

static enum http_role listeners_role(const struct want *want, int n, const char *spec, bool *found)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(want[i].a->spec, spec) == 0) {
			*found = true;
			return want[i].role;
		}
	}
	*found = false;
	return HTTP_ROLE_PUBLIC;
}

void http_listen_abort(void)
{
	while (npending > 0)
		listener_close(pending[--npending]);
}

int http_listen_prepare(const struct fg_config *c, char *err, size_t errlen)
{
	struct want want[LISTEN_MAX];
	int n = listeners_wanted(c, want, LISTEN_MAX);
	http_listen_abort();
	/* Bind every new one first, so a bind failure changes nothing. */
	for (int i = 0; i < n; i++) {
		bool dup = listener_find(want[i].a->spec) != NULL;
		for (int k = 0; k < npending && !dup; k++)
			dup = strcmp(pending[k]->spec, want[i].a->spec) == 0;
		if (dup)
			continue;
		struct listener *l = listener_open(want[i].a, want[i].role, err, errlen);
		if (!l) {
			http_listen_abort();
			return -1;
		}
		pending[npending++] = l;
	}
	return 0;
}

static void listeners_announce(struct listener *l)
{
	if (http_workers_serve(l->fd, l->role, l->spec) < 0)
		log_error("cannot hand listener %s to every worker", l->spec);
}

int http_listen_serve(void)
{
	for (int k = 0; k < nlst; k++)
		if (lst[k]->role != HTTP_ROLE_ADMIN && lst[k]->role != HTTP_ROLE_WEBHOOK && http_workers_serve(lst[k]->fd, lst[k]->role, lst[k]->spec) < 0)
			return -1;
	return 0;
}

void http_listen_close_all(void)
{
	while (nadmin_guards > 0)
		http_accept_free(admin_guards[--nadmin_guards]);
	if (admin_tls)
		evhttp_free(admin_tls);
	admin_tls = NULL;
	http_listen_abort();
	for (int k = 0; k < nlst; k++)
		listener_close(lst[k]);
	nlst = 0;
}

/* Called after C is in force, so a request accepted on a new listener is
 * always attributed under the configuration that names it. */
void http_listen_commit(const struct fg_config *c)
{
	struct want want[LISTEN_MAX];
	int n = listeners_wanted(c, want, LISTEN_MAX);
	/* Close the ones C no longer names; re-announce one whose role changed
	 * (a shared listener that became a tenant's, or back). The admin
	 * and webhook listeners move only with a restart (bound to the main loop). */
	for (int k = 0; k < nlst;) {
		struct listener *l = lst[k];
		bool found;
		enum http_role role = listeners_role(want, n, l->spec, &found);
		if (l->role == HTTP_ROLE_ADMIN || l->role == HTTP_ROLE_WEBHOOK || (found && role == l->role)) {
			k++;
			continue;
		}
		http_workers_retire(l->spec, l->role);
		if (found && role != HTTP_ROLE_ADMIN && role != HTTP_ROLE_WEBHOOK) {
			log_info("listener %s changes role", l->spec);
			l->role = role;
			listeners_announce(l);
			k++;
			continue;
		}
		if (l->inherited)
			log_warn("closing listener %s; the service manager still holds its socket, where connections "
				 "now wait unanswered: remove it from fleetgate.socket too", l->spec);
		else
			log_info("closing listener %s", l->spec);
		listener_close(l);
		lst[k] = lst[--nlst];
	}
	for (int k = 0; k < npending; k++) {
		struct listener *l = pending[k];
		if (l->role == HTTP_ROLE_ADMIN || l->role == HTTP_ROLE_WEBHOOK || nlst >= LISTEN_MAX) {
			log_warn("new listener %s takes effect after a restart", l->spec);
			listener_close(l);
			continue;
		}
		log_info("opening listener %s", l->spec);
		lst[nlst++] = l;
		listeners_announce(l);
	}
	npending = 0;
}

/* ---- the admin listener's connections -------------------------------------
 *
 * The admin listener runs on the main base with its own cap
 * (admin_max_connections) and idle timeout (admin_idle_timeout), so idle
 * admin connections can never take the descriptors the tenants' are sized
 * from (conf.c reserves the cap out of the descriptor limit). Counted as
 * tenant connections are (http_conn.c): evhttp 2.1 has no hook for a new
 * connection besides the bufferevent callback, which runs before the
 * connection exists, so it queues listen_admin_adopt to run at once, by
 * when evhttp has made the connection (and no read of it can have run).
 * tls:// admin listeners have an evhttp of their own (a bevcb is per
 * evhttp) whose connections are counted against the same cap. */
struct admin_conn {
	struct bufferevent *bev;
	bool tls;
};

static int admin_open_conns;   /* main thread only */

static void listen_admin_closed(struct evhttp_connection *evcon, void *arg)
{
	admin_open_conns--;
	free(arg);
}

static void listen_admin_adopt(evutil_socket_t unused, short what, void *arg)
{
	struct admin_conn *ac = arg;
	void *evcon = NULL;
	bufferevent_getcb(ac->bev, NULL, NULL, NULL, &evcon);
	if (!evcon) {
		free(ac);
		return;
	}
	admin_open_conns++;
	evhttp_connection_set_closecb(evcon, listen_admin_closed, ac);
	struct fg_config *c = conf_current();
	int max = c ? c->admin_max_connections : 64;
	conf_unref(c);
	if (admin_open_conns <= max)
		return;
	/* A plain connection gets its 503 straight on the socket; a TLS one
	 * is closed without it (an answer would need a handshake first, and
	 * plaintext would only confuse its client), as tenant ones are. */
	if (!ac->tls) {
		char d[160];
		snprintf(d, sizeof d, "the admin listener already serves its admin_max_connections (%d) connections; "
			 "retry later", max);
		struct evbuffer *b = http_error_body(503, d);
		if (b && evbuffer_get_length(b) > 0)
			http_headblock_reply(bufferevent_getfd(ac->bev), 503, http_reason(503),
					     (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
		if (b)
			evbuffer_free(b);
	}
	stats_inc(STAT_admin_connections_shed);
	static long last_log;   /* one line a second at most for a flood */
	long now = (long)clock_now();
	if (now != last_log)
		log_warn("admin_max_connections reached: new admin connections get 503 and are closed");
	last_log = now;
	evhttp_connection_free(evcon);   /* listen_admin_closed frees AC */
}

/* A TLS admin connection evhttp could not be given TLS for: closed
 * before it reads a byte (evhttp made it when the bevcb returned). */
static void listen_admin_doom(evutil_socket_t unused, short what, void *arg)
{
	void *evcon = NULL;
	bufferevent_getcb(arg, NULL, NULL, NULL, &evcon);
	if (evcon)
		evhttp_connection_free(evcon);
}

/* The bevcb of both admin evhttps (ARG non-NULL: the tls:// one). A TLS
 * connection takes the TLS context in force when it arrives (main thread,
 * like every admin request). A NULL return would make evhttp serve it
 * without TLS, so when TLS cannot be set up a plain bufferevent is
 * returned and closed at once instead. */
static struct bufferevent *listen_admin_bev(struct event_base *base, void *arg)
{
	bool tls = arg != NULL;
	struct bufferevent *bev = NULL;
	if (tls) {
		struct fg_config *c = conf_current();
		bev = http_tls_bev_new(base, http_tls_ctx(c, HTTP_TLS_ADMIN));
		conf_unref(c);
		if (!bev) {
			bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
			if (bev && event_base_once(base, -1, EV_TIMEOUT, listen_admin_doom, bev, NULL) < 0) {
				bufferevent_free(bev);
				bev = NULL;
			}
			return bev;
		}
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	struct admin_conn *ac = bev ? calloc(1, sizeof *ac) : NULL;
	if (ac) {
		ac->bev = bev;
		ac->tls = tls;
		if (event_base_once(base, -1, EV_TIMEOUT, listen_admin_adopt, ac, NULL) < 0)
			free(ac);
	}
	return bev;
}

long http_listen_admin_connections(void) { return admin_open_conns; }

static struct evhttp *listen_admin_http(struct event_base *base, void (*cb)(struct evhttp_request *, void *), void *arg,
					int idle_timeout, bool tls)
{
	struct evhttp *http = evhttp_new(base);
	if (!http)
		return NULL;
	evhttp_set_gencb(http, cb, arg);
	evhttp_set_bevcb(http, listen_admin_bev, tls ? (void *)1 : NULL);
	evhttp_set_timeout(http, idle_timeout);
	evhttp_set_max_body_size(http, 4096);
	evhttp_set_default_content_type(http, NULL);   /* every admin answer names its own */
	/* The tenant listeners' header limit; and accept() failures pause
	 * rather than spin, as theirs do. */
	evhttp_set_max_headers_size(http, HTTP_MAX_HEADERS);
	return http;
}

struct evhttp *http_listen_admin_bind(struct event_base *base, void (*cb)(struct evhttp_request *, void *), void *arg,
			       int idle_timeout)
{
	struct evhttp *http = listen_admin_http(base, cb, arg, idle_timeout, false);
	if (!http)
		return NULL;
	for (int k = 0; k < nlst; k++) {
		if (lst[k]->role != HTTP_ROLE_ADMIN)
			continue;
		bool tls = strncmp(lst[k]->spec, "tls://", 6) == 0;
		if (tls && !admin_tls) {
			admin_tls = listen_admin_http(base, cb, arg, idle_timeout, true);
			if (!admin_tls) {
				evhttp_free(http);
				return NULL;
			}
		}
		int d = fcntl(lst[k]->fd, F_DUPFD_CLOEXEC, 0);
		if (d >= 0)
			evutil_make_socket_nonblocking(d);
		struct evhttp_bound_socket *bound = d < 0 ? NULL : evhttp_accept_socket_with_handle(tls ? admin_tls : http, d);
		if (!bound) {
			evhttp_free(http);
			return NULL;
		}
		if (nadmin_guards < LISTEN_MAX)
			admin_guards[nadmin_guards++] = http_accept_new(evhttp_bound_socket_get_listener(bound));
	}
	return http;
}

/* ---- the webhook listener -------------------------------------------------
 *
 * The one port the internet reaches, served on the main base (deliveries
 * are few and answered without waiting for the upstream, and a flood of
 * them never takes a worker from the tenants) by a connection set of its
 * own: the tenant listeners' machinery of http_conn.c, headers first (a
 * delivery declaring a body over [webhook] max_body_bytes is refused on
 * its headers), [webhook] header_timeout and body_timeout, and
 * max_connections counted apart from the tenants'. */
static struct {
	struct http_listen_side side;
	struct evhttp *http, *http_tls;   /* plain and tls:// listeners: a bevcb is per evhttp */
	struct http_conns *conns;
	atomic_long open;
	struct acceptguard *guards[LISTEN_MAX];
	int nguards;
} wh;

static void listen_webhook_request(struct evhttp_request *er, struct http_bind *b)
{
	(void)b;
	wh.side.request(er);
}

/* Deliveries are answered at once: nothing waits that a hang-up could end. */
static bool listen_webhook_gone(struct evhttp_connection *evcon)
{
	(void)evcon;
	return false;
}

static int listen_webhook_head(struct http_bind *b, struct evhttp_connection *evcon, const char *target,
			       struct evkeyvalq *h, char *detail, size_t len)
{
	(void)b;
	(void)evcon;
	return wh.side.head ? wh.side.head(target, h, detail, len) : 0;
}

static void listen_webhook_limits(void *arg, struct http_conn_limits *l)
{
	(void)arg;
	wh.side.limits(&l->header_timeout, &l->body_timeout, &l->max_connections);
}

/* ARG non-NULL: the tls:// listeners' evhttp, whose connections get the
 * [webhook] SSL_CTX in force when they arrive (a bevcb is per evhttp). */
static struct bufferevent *listen_webhook_bev(struct event_base *base, void *arg)
{
	if (!arg)
		return http_conn_bev_new(wh.conns, base, NULL, false, NULL);
	struct fg_config *c = conf_current();
	struct bufferevent *bev = http_conn_bev_new(wh.conns, base, NULL, true, http_tls_ctx(c, HTTP_TLS_WEBHOOK));
	conf_unref(c);
	return bev;
}

static void listen_webhook_gencb(struct evhttp_request *er, void *arg)
{
	http_conn_request(wh.conns, er, NULL, arg != NULL);
}

static struct evhttp *listen_webhook_http(struct event_base *base, bool tls)
{
	struct evhttp *http = evhttp_new(base);
	if (!http)
		return NULL;
	evhttp_set_gencb(http, listen_webhook_gencb, tls ? (void *)1 : NULL);
	evhttp_set_bevcb(http, listen_webhook_bev, tls ? (void *)1 : NULL);
	evhttp_set_timeout(http, 60);   /* idle keep-alive; requests have their own deadlines */
	evhttp_set_max_body_size(http, 1048576);   /* [webhook] max_body_bytes's ceiling */
	evhttp_set_max_headers_size(http, HTTP_MAX_HEADERS);
	evhttp_set_default_content_type(http, NULL);
	return http;
}

int http_listen_webhook_bind(struct event_base *base, const struct http_listen_side *side)
{
	int n = 0;
	for (int k = 0; k < nlst; k++)
		n += lst[k]->role == HTTP_ROLE_WEBHOOK;
	if (!n)
		return 0;
	wh.side = *side;
	struct http_conn_owner o = {
		.request = listen_webhook_request, .client_gone = listen_webhook_gone, .head = listen_webhook_head,
		.limits = listen_webhook_limits, .max_headers = HTTP_MAX_HEADERS, .count = &wh.open,
		.cap_name = "[webhook] max_connections",
	};
	wh.conns = http_conns_new(base, &o);
	if (!wh.conns)
		return -1;
	for (int k = 0; k < nlst; k++) {
		if (lst[k]->role != HTTP_ROLE_WEBHOOK)
			continue;
		bool tls = strncmp(lst[k]->spec, "tls://", 6) == 0;
		struct evhttp **http = tls ? &wh.http_tls : &wh.http;
		if (!*http && !(*http = listen_webhook_http(base, tls)))
			return -1;
		int d = fcntl(lst[k]->fd, F_DUPFD_CLOEXEC, 0);
		if (d >= 0)
			evutil_make_socket_nonblocking(d);
		struct evhttp_bound_socket *bound = d < 0 ? NULL : evhttp_accept_socket_with_handle(*http, d);
		if (!bound)
			return -1;
		if (wh.nguards < LISTEN_MAX)
			wh.guards[wh.nguards++] = http_accept_new(evhttp_bound_socket_get_listener(bound));
	}
	return 0;
}

long http_listen_webhook_connections(void) { return atomic_load(&wh.open); }

void http_listen_webhook_unbind(void)
{
	while (wh.nguards > 0)
		http_accept_free(wh.guards[--wh.nguards]);
	if (wh.http)
		evhttp_free(wh.http);   /* its connections close: conn_closed digs their graves */
	if (wh.http_tls)
		evhttp_free(wh.http_tls);
	wh.http = wh.http_tls = NULL;
	http_conns_free(wh.conns);
	wh.conns = NULL;
}
