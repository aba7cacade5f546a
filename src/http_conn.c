/* http_conn.c: a worker's client connections.
 *
 * What happens to a connection between accept and close, under the evhttp
 * of one of the worker's listeners (http.c): counting and the
 * max_connections cap, the keeper, headers first (the head check and the
 * header and body deadlines), and graves (the socket closes only after
 * epoll has forgotten it). Everything runs on the worker's thread; the
 * only shared value is the count of open connections.
 *
 * The worker (http.c) calls in; what this file asks of the worker comes
 * with http_conns_new (struct http_conn_owner, http_conn.h), so it never
 * calls http.c by name.
 *
 * Never: decide anything about a request (the handler's head check and
 * request callback do), bind or accept (http_listen.c, evhttp). */
#include "http_conn.h"
#include "clock.h"
#include "http_headblock.h"
#include "http_reply.h"
#include "http_tls.h"
#include "log.h"
#include "stats.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define HTTP_CONN_LINGER 5   /* seconds, as nginx's lingering_timeout */

static atomic_long open_conns;   /* client connections on public and tenant listeners */

/* One worker's connections. */
struct http_conns {
	struct event_base *base;
	struct http_conn_owner owner;   /* the worker's hooks and limits */
	int just_read_fd;         /* socket whose read event is delivering a request */
	struct conn **byfd;       /* by descriptor */
	int nbyfd;
	struct bufferevent **graves;   /* sockets to close after the next epoll_wait */
	int ngraves, capgraves;
	struct bufferevent **ripe;     /* graves that have seen an epoll_wait since */
	int nripe, capripe;
	struct event *grave_ev;
};

/* Counting open connections. evhttp 2.1 has no hook for a new connection
 * besides bevcb, which runs before the connection object exists. So bevcb
 * makes the bufferevent and queues conn_adopt to run at once (event_base_once
 * with no delay is activated immediately, in order): by then evhttp has made
 * the connection and set it as the bufferevent's callback argument, and no
 * read event of the new socket can have run yet (that needs another trip
 * through epoll), so the connection is alive. conn_adopt counts it (or
 * sheds it: beyond max_connections it gets a 503 and is closed at once)
 * and sets the close callback, which evhttp calls once when the connection
 * goes, before it closes the socket. Cost: one small allocation per
 * connection, nothing per request. The close callback is the connection's
 * only one: a later need to hear about hang-ups must hook in here, not
 * replace it.
 *
 * The keeper. evhttp stops reading a connection while its request is being
 * answered and reads again afterwards; with epoll that is an epoll_ctl
 * each way, per request. The keeper is a second read event on the same
 * socket that stays added for the connection's life: libevent counts the
 * readers of a descriptor, so while the keeper is there evhttp's own read
 * event comes and goes without any system call. The keeper does no work
 * while evhttp reads; if the socket turns readable while evhttp does not
 * read (a pipelined request, or the client's close, during an answer) it
 * steps aside for good and evhttp handles the connection as it would
 * without it — after telling the handler of a close, which ends a request
 * that is only waiting. Its one false alarm, the same readiness that just
 * delivered the request, is recognised through http_conns.just_read_fd.
 *
 * Headers first. evhttp reads a body as soon as it has parsed the headers,
 * up to its hard limit, before the request reaches anyone who could refuse
 * it; and it times out only idleness, so a byte every few seconds holds a
 * connection for ever. So while a request's headers arrive, evhttp is not
 * woken at all: the read low-water mark is set out of reach, and an
 * evbuffer callback on the input (run as bytes are added, before the
 * bufferevent's read callback) looks for the end of the header block
 * (http_headblock.c). Once it is there, a request that carries a body is shown
 * to the handler's head check (attribution, size: 401/403/413/503 without
 * reading a byte of the body, and before evhttp answers "Expect:
 * 100-continue"), and then the mark drops to 0 and evhttp parses as
 * usual. The deadline event bounds the headers (client_header_timeout,
 * from the accept or the next request's first byte) and then the body
 * (client_body_timeout) with a 408. A pipelined request whose headers
 * evhttp has begun to parse during the previous answer is not held back
 * (evhttp reads what is buffered by itself); its deadline still runs.
 *
 * Graves. The worker's base batches epoll changes until the next
 * epoll_wait (the changelist), so an event deleted just before its socket
 * is closed would reach epoll after the close: an epoll_ctl on a closed
 * descriptor (EBADF), or on the number another thread has just been given
 * by accept (a race ThreadSanitizer reports). A connection keeps a
 * reference on its bufferevent (made with BEV_OPT_CLOSE_ON_FREE): on close
 * its events are deleted, and the reference is dropped, closing the
 * socket, only by a timer that runs after the next epoll_wait. In two
 * steps: a grave may be dug in the very loop turn the timer fires (before
 * its callback), so each run closes only the graves the previous run
 * found (they have seen an epoll_wait since) and keeps the new ones for
 * the next. */
enum conn_phase {
	CONN_HEAD,     /* reading a request's headers (held back from evhttp) */
	CONN_BODY,     /* headers accepted; evhttp reads the body */
	CONN_BUSY,     /* the request is the handler's until it is answered */
	CONN_LINGER,   /* refused on its headers: what the client still sends is
			* read and dropped until it closes, or for HTTP_CONN_LINGER
			* seconds, so the answer is not lost to a reset */
};

struct conn {
	struct bufferevent *bev;
	struct evhttp_connection *evcon;
	struct http_bind *b;
	struct http_conns *cs;
	struct event *keep;
	struct event *deadline;   /* headers, then body; a doomed connection's end */
	struct evbuffer_cb_entry *incb;
	enum conn_phase phase;
	size_t scanned;           /* http_headblock_end's search position */
	int fd;
	bool tls;                 /* a tls:// listener's: never written or read but through BEV */
	bool doomed;              /* a tls:// listener's without TLS (out of memory): closed at once */
	struct fg_peer_cert *peer;   /* its client certificate, read at the first request that asks */
};

/* One log line a second at most for what a flood of clients does. */
static void conn_log_limited(const char *msg)
{
	static atomic_long last;
	long now = (long)clock_now(), was = atomic_load(&last);
	if (now != was && atomic_compare_exchange_strong(&last, &was, now))
		log_warn("%s", msg);
}

static void conn_graves_release(struct http_conns *w)
{
	for (int i = 0; i < w->nripe; i++)
		bufferevent_decref(w->ripe[i]);   /* the last reference: closes the socket */
	w->nripe = 0;
}

static void conn_graves_cb(evutil_socket_t unused, short what, void *arg)
{
	static const struct timeval after_poll = { 0, 1 };
	struct http_conns *w = arg;
	conn_graves_release(w);
	/* The new graves ripen: swap the arrays (ripe is empty now). */
	struct bufferevent **t = w->ripe;
	int cap = w->capripe;
	w->ripe = w->graves;
	w->capripe = w->capgraves;
	w->nripe = w->ngraves;
	w->graves = t;
	w->capgraves = cap;
	w->ngraves = 0;
	if (w->nripe > 0)
		evtimer_add(w->grave_ev, &after_poll);
}

static void conn_bury(struct http_conns *w, struct bufferevent *bev)
{
	static const struct timeval after_poll = { 0, 1 };   /* not 0: that runs before epoll_wait */
	if (w->ngraves == w->capgraves) {
		int cap = w->capgraves ? w->capgraves * 2 : 64;
		struct bufferevent **g = realloc(w->graves, (size_t)cap * sizeof *g);
		if (!g) {
			bufferevent_decref(bev);   /* out of memory: close now, as before */
			return;
		}
		w->graves = g;
		w->capgraves = cap;
	}
	w->graves[w->ngraves++] = bev;
	if (!evtimer_pending(w->grave_ev, NULL))
		evtimer_add(w->grave_ev, &after_poll);
}

static int conn_index(struct http_conns *w, struct conn *c)
{
	if (c->fd < 0)
		return -1;
	if (c->fd >= w->nbyfd) {
		int n = c->fd + 64;
		struct conn **t = realloc(w->byfd, (size_t)n * sizeof *t);
		if (!t)
			return -1;
		memset(t + w->nbyfd, 0, (size_t)(n - w->nbyfd) * sizeof *t);
		w->byfd = t;
		w->nbyfd = n;
	}
	w->byfd[c->fd] = c;
	return 0;
}

static struct conn *conn_of(struct http_conns *w, struct evhttp_connection *evcon)
{
	int fd = evcon ? bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)) : -1;
	return fd >= 0 && fd < w->nbyfd ? w->byfd[fd] : NULL;
}

static void conn_keep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->phase == CONN_LINGER || (bufferevent_get_enabled(c->bev) & EV_READ))
		return;
	if (c->cs->just_read_fd == fd) {
		c->cs->just_read_fd = -1;
		return;
	}
	/* Readable while evhttp does not read: a pipelined request (evhttp's
	 * to read later) or the client's close, which ends a request that is
	 * only waiting. Either way the keeper steps aside; it is freed from
	 * its own callback, in its own thread: libevent reads nothing of a
	 * persistent event once its callback has been called. */
	char byte;
	ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	event_free(c->keep);
	c->keep = NULL;
	if (gone)
		c->cs->owner.client_gone(c->evcon);   /* may free the connection, and C */
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct http_conns *w = c->cs;
	atomic_fetch_sub(w->owner.count, 1);
	/* Every event of the socket goes now; the socket itself after the
	 * next epoll_wait (see Graves). */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->incb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
	if (c->keep)
		event_free(c->keep);
	if (c->deadline)
		event_free(c->deadline);
	if (c->fd >= 0 && c->fd < w->nbyfd && w->byfd[c->fd] == c)
		w->byfd[c->fd] = NULL;
	if (c->tls) {
		http_tls_closing(c->bev);   /* counts a failed handshake; close_notify */
		if (c->peer)
			tenant_cert_peer_clear(c->peer);
		free(c->peer);
	}
	conn_bury(w, c->bev);
	free(c);
}

/* STATUS in the JSON error shape to a connection evhttp has no request of
 * ours on: a plain one's straight to the socket, as it is closed next; a
 * TLS one's through its bufferevent, which must then be left to send it
 * (conn_refuse), without evhttp's write callback, which would take the
 * drained output for the end of an answer of its own. */
static void conn_write_error(struct conn *c, int status, const char *detail)
{
	struct evbuffer *b = http_error_body(status, detail);
	if (b && evbuffer_get_length(b) > 0) {
		if (!c->tls) {
			http_headblock_reply(c->fd, status, http_reason(status), (const char *)evbuffer_pullup(b, -1),
					     evbuffer_get_length(b));
		} else {
			bufferevent_data_cb rd;
			bufferevent_event_cb ev;
			void *arg;
			bufferevent_getcb(c->bev, &rd, NULL, &ev, &arg);
			bufferevent_setcb(c->bev, rd, NULL, ev, arg);
			http_headblock_format(bufferevent_get_output(c->bev), status, http_reason(status),
					      (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
			bufferevent_enable(c->bev, EV_WRITE);
		}
	}
	if (b)
		evbuffer_free(b);
}

/* Refused on its headers: the answer, then a lingering close (the body
 * the client is still sending is read and dropped, never buffered and
 * never seen by evhttp, whose read callback the mark keeps away: closing
 * with unread bytes would reset the connection and could lose the
 * answer). The client's close ends it through evhttp; the deadline
 * otherwise. */
static void conn_refuse(struct conn *c, int status, const char *detail)
{
	static const struct timeval linger = { HTTP_CONN_LINGER, 0 };
	conn_write_error(c, status, detail);
	conn_log_limited("refused a request on its headers, before its body (400, 401, 413, 431 or 503)");
	if (c->tls)
		http_tls_close_after_output(c->bev);   /* the answer, close_notify, then the half-close */
	else
		shutdown(c->fd, SHUT_WR);
	c->phase = CONN_LINGER;
	if (c->tls)   /* refused during its body (408): evhttp reads no more of it */
		bufferevent_setwatermark(c->bev, EV_READ, SIZE_MAX, 0);
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	evtimer_add(c->deadline, &linger);
}

static int conn_timeout(struct conn *c, bool header)
{
	struct http_conn_limits l;
	c->cs->owner.limits(c->cs->owner.arg, &l);
	return header ? l.header_timeout : l.body_timeout;
}

static void conn_arm(struct conn *c, bool header)
{
	struct timeval tv = { conn_timeout(c, header), 0 };
	evtimer_add(c->deadline, &tv);
}

/* RFC 9110 8.6: Content-Length = 1*DIGIT. libevent reads it with strtoll,
 * which also takes "+5" or " 5"; a front end and fleetgate must never
 * disagree on where a body ends, so anything else is 400. */
static bool conn_length_bad(struct evkeyvalq *h)
{
	const char *cl = evhttp_find_header(h, "Content-Length");
	return cl && (!*cl || strspn(cl, "0123456789") != strlen(cl));
}

static bool conn_has_body(struct evkeyvalq *h)
{
	const char *cl = evhttp_find_header(h, "Content-Length");
	return evhttp_find_header(h, "Transfer-Encoding") || (cl && strspn(cl, "0") != strlen(cl));
}

/* Holds the input back from evhttp (HOLD: the read low-water mark out of
 * reach) or lets it read (0). bufferevent_setwatermark sets the mark and
 * then re-adds the read event, re-arming its time-out, which evhttp does
 * itself each time it starts to read a request: about 400 instructions,
 * twice a request, for nothing. With no high mark (evhttp sets none) the
 * mark is all setwatermark changes, so it is set directly
 * (bufferevent_struct.h, libevent's public layout); were a high mark ever
 * set, setwatermark is asked as before. */
static void conn_hold(struct conn *c, bool hold)
{
	if (c->bev->wm_read.high == 0)
		c->bev->wm_read.low = hold ? SIZE_MAX : 0;
	else
		bufferevent_setwatermark(c->bev, EV_READ, hold ? SIZE_MAX : 0, 0);
}

/* The header block passed: evhttp reads on from here, within the body
 * deadline when there is a BODY. */
static void conn_head_pass(struct conn *c, bool body)
{
	c->phase = CONN_BODY;
	conn_hold(c, false);
	if (body)
		conn_arm(c, false);
	else if (evtimer_pending(c->deadline, NULL))
		evtimer_del(c->deadline);
}

/* Looks for the end of the header block in the held-back input; when it
 * is there, the head check, then evhttp may read. */
static void conn_head_scan(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	if (evbuffer_get_length(in) == 0)
		return;
	ssize_t end = http_headblock_end(in, &c->scanned);
	size_t max = c->cs->owner.max_headers;
	if (end < 0 ? evbuffer_get_length(in) > max : (size_t)end > max) {
		conn_refuse(c, 431, "the request's header block is larger than 64 KiB");
		return;
	}
	if (end < 0) {
		/* The header deadline runs from the block's first byte. (A block
		 * that is all there is refused, or given the body deadline, or
		 * none, below: its header deadline would go at once.) */
		if (!evtimer_pending(c->deadline, NULL))
			conn_arm(c, true);
		return;
	}
	/* Most requests declare no body: the head check has nothing to do
	 * with them, and their header list is evhttp's to build. */
	if (http_headblock_plain((const char *)evbuffer_pullup(in, end), (size_t)end)) {
		conn_head_pass(c, false);
		return;
	}
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	char detail[256] = "", target[512];
	int status = 0;
	bool body = false;
	/* Every block within the limit is read here, so the head check holds
	 * whatever its lines' lengths; one that cannot be read is refused, never
	 * left to evhttp (which would read the body before anyone checked). */
	int parsed = http_headblock_parse((const char *)evbuffer_pullup(in, end), (size_t)end, &h, target, sizeof target);
	if (parsed == 0 && conn_length_bad(&h)) {
		stats_inc(STAT_bad_requests);
		status = 400;
		snprintf(detail, sizeof detail, "Content-Length must be digits only (RFC 9110)");
	} else if (parsed == 0) {
		body = conn_has_body(&h);
		if (body && c->cs->owner.head)
			status = c->cs->owner.head(c->b, c->evcon, target, &h, detail, sizeof detail);
	} else {
		stats_inc(STAT_bad_requests);
		status = 400;
		snprintf(detail, sizeof detail, "%s", parsed == -2 ?
			 "a header field name is not a token (whitespace before the colon, or a folded line)" :
			 "a malformed request head (a header line without a colon, a NUL or a bare CR)");
	}
	evhttp_clear_headers(&h);
	if (status) {
		conn_refuse(c, status, detail);
		return;
	}
	conn_head_pass(c, body);
}

static void conn_input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->phase == CONN_LINGER && info->n_added > 0)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (c->phase == CONN_HEAD && info->n_added > 0)
		conn_head_scan(c);
}

/* Hold the input back from evhttp until the next request's headers are in. */
static void conn_head_begin(struct conn *c)
{
	c->phase = CONN_HEAD;
	c->scanned = 0;
	conn_hold(c, true);
}

static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->phase == CONN_BUSY)
		return;
	if (c->phase != CONN_LINGER) {
		bool head = c->phase == CONN_HEAD;
		stats_inc(STAT_client_timeouts);
		conn_log_limited(head ? "closing a client connection: request headers not received in time (408)"
				 : "closing a client connection: request body not received in time (408)");
		/* A connection that never sent a byte is closed without an
		 * answer (as nginx does): one sent just as the client starts a
		 * request would be read as that request's answer. */
		bool answer = !head || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
		const char *why = head ? "the request's headers did not arrive within client_header_timeout"
				       : "the request's body did not arrive within client_body_timeout";
		if (answer && c->tls) {
			conn_refuse(c, 408, why);   /* a TLS answer is sent by the loop: it lingers */
			return;
		}
		if (answer)
			conn_write_error(c, 408, why);
	}
	evhttp_connection_free(c->evcon);   /* conn_closed frees C */
}

/* The handler has answered the request (evhttp's write is done); the
 * connection's next request, possibly already buffered, comes next. */
static void conn_request_done(struct evhttp_request *er, void *arg)
{
	struct conn *c = arg;
	conn_head_begin(c);
	struct evbuffer *in = bufferevent_get_input(c->bev);
	if (evbuffer_get_length(in) == 0)
		return;
	conn_arm(c, true);
	if (http_headblock_end(in, &c->scanned) >= 0) {
		c->scanned = 0;
		conn_head_scan(c);
		return;
	}
	/* Part of a pipelined request: evhttp's deferred read parses it now,
	 * whatever the mark says, so it cannot be held back; its deadline runs. */
	c->phase = CONN_BODY;
	conn_hold(c, false);
}

static void conn_shed(struct conn *c, int max)
{
	char d[200];
	const char *cap = c->cs->owner.cap_name ? c->cs->owner.cap_name : "max_connections";
	snprintf(d, sizeof d, "this gateway already serves its %s (%d) client connections; retry later", cap, max);
	if (c->cs->owner.count == &open_conns)
		stats_inc(STAT_connections_shed);
	conn_log_limited(c->cs->owner.count == &open_conns ?
			 "max_connections reached: new client connections get 503 and are closed" :
			 "a listener of its own reached its connection cap: new connections get 503 and are closed");
	if (!c->tls)   /* a TLS one would need a handshake first: closed without one */
		conn_write_error(c, 503, d);
}

static void conn_adopt(evutil_socket_t unused, short what, void *arg)
{
	struct conn *c = arg;
	struct http_conns *cs = c->cs;
	void *evcon = NULL;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	if (!evcon) {
		free(c);   /* evhttp could not make the connection (out of memory) */
		return;
	}
	c->evcon = evcon;
	c->fd = bufferevent_getfd(c->bev);
	bufferevent_incref(c->bev);   /* the grave's (see Graves) */
	evhttp_connection_set_closecb(evcon, conn_closed, c);
	long open = atomic_fetch_add(cs->owner.count, 1) + 1;
	if (cs->owner.count == &open_conns)
		stats_inc(STAT_connections);
	struct http_conn_limits l;
	cs->owner.limits(cs->owner.arg, &l);
	int max = l.max_connections;
	c->deadline = evtimer_new(cs->base, conn_deadline_cb, c);
	if (c->doomed) {
		evhttp_connection_free(evcon);   /* never served without TLS */
		return;
	}
	if (!c->deadline || c->fd < 0 || (max > 0 && open > max) || conn_index(cs, c) < 0) {
		conn_shed(c, max);
		evhttp_connection_free(evcon);   /* conn_closed frees C */
		return;
	}
	/* The keeper peeks at the socket: a TLS connection's bytes are
	 * records, not requests, so it has none (a hang-up while its answer
	 * is pending is noticed when the answer is written). */
	c->keep = c->tls ? NULL : event_new(cs->base, c->fd, EV_READ | EV_PERSIST, conn_keep_cb, c);
	if (c->tls) {
		/* An answer leaves as several TLS records (headers, body), each
		 * its own write: with Nagle the second would wait for the
		 * client's delayed ACK (40 ms). A plain answer is one writev. */
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (c->keep && event_add(c->keep, NULL) < 0) {
		event_free(c->keep);
		c->keep = NULL;
	}
	c->incb = evbuffer_add_cb(bufferevent_get_input(c->bev), conn_input_cb, c);
	conn_head_begin(c);
	conn_arm(c, true);
}

/* TLS: a NULL return would make evhttp 2.1 serve the connection without
 * TLS, so a TLS bufferevent that cannot be made is replaced by a plain
 * one that conn_adopt closes before anything is read. */
struct bufferevent *http_conn_bev_new(struct http_conns *cs, struct event_base *base, struct http_bind *b,
				      bool tls, SSL_CTX *ctx)
{
	struct bufferevent *bev = !tls ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)
				       : ctx ? http_tls_bev_new(base, ctx) : NULL;
	bool doomed = tls && !bev;
	if (doomed)
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct conn *c = bev ? calloc(1, sizeof *c) : NULL;
	if (c) {
		c->bev = bev;
		c->b = b;
		c->cs = cs;
		c->fd = -1;
		c->tls = tls && !doomed;
		c->doomed = doomed;
		if (event_base_once(base, -1, EV_TIMEOUT, conn_adopt, c, NULL) < 0)
			free(c);
	}
	return bev;
}

const struct fg_peer_cert *http_conn_tls_peer(struct http_conns *cs, struct evhttp_connection *evcon)
{
	struct conn *c = conn_of(cs, evcon);
	if (!c || !c->tls)
		return NULL;
	if (!c->peer && (c->peer = malloc(sizeof *c->peer)))
		http_tls_peer(c->bev, c->peer);
	return c->peer;
}

/* Every request of a tenant-facing listener passes here first, inside the
 * read event that delivered it (see the keeper). */
void http_conn_request(struct http_conns *cs, struct evhttp_request *er, struct http_bind *b, bool tls)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(er);
	cs->just_read_fd = evcon ? bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)) : -1;
	struct conn *c = conn_of(cs, evcon);
	if (tls && (!c || !c->tls)) {
		/* Not ours (out of memory when it was accepted): evhttp made it
		 * without TLS, and what it read was plain HTTP. */
		http_send_error(er, 400, "this port speaks TLS: use https://");
		return;
	}
	if (conn_length_bad(evhttp_request_get_input_headers(er))) {   /* pipelined: not seen by the head scan */
		stats_inc(STAT_bad_requests);
		evhttp_add_header(evhttp_request_get_output_headers(er), "Connection", "close");
		http_send_error(er, 400, "Content-Length must be digits only (RFC 9110)");
		return;
	}
	if (c) {
		c->phase = CONN_BUSY;
		evtimer_del(c->deadline);
		evhttp_request_set_on_complete_cb(er, conn_request_done, c);
	}
	cs->owner.request(er, b);
}

struct http_conns *http_conns_new(struct event_base *base, const struct http_conn_owner *o)
{
	struct http_conns *cs = calloc(1, sizeof *cs);
	if (!cs)
		return NULL;
	cs->base = base;
	cs->owner = *o;
	if (!cs->owner.count)
		cs->owner.count = &open_conns;
	cs->just_read_fd = -1;
	cs->grave_ev = evtimer_new(base, conn_graves_cb, cs);
	if (!cs->grave_ev) {
		free(cs);
		return NULL;
	}
	return cs;
}

/* At exit, after the binds (and with them every connection) are freed:
 * the last sockets close now; the base's finalizers free their
 * bufferevents when the base goes. */
void http_conns_free(struct http_conns *cs)
{
	if (!cs)
		return;
	conn_graves_release(cs);
	conn_graves_cb(-1, 0, cs);
	conn_graves_release(cs);
	event_free(cs->grave_ev);
	free(cs->graves);
	free(cs->ripe);
	free(cs->byfd);
	free(cs);
}

long http_conn_count(void) { return atomic_load(&open_conns); }
