/* up_multi.c: libcurl's multi interface on a libevent base, the way curl's
 * docs/examples/multi-event.c and hiperfifo.c do it.
 *
 * CURLMOPT_SOCKETFUNCTION gives each socket one struct event (kept in a
 * table by descriptor, parked between the transfers of a keep-alive
 * connection: see up_multi_socket_fn); CURLMOPT_TIMERFUNCTION keeps one
 * non-repeating timer.
 * Events call curl_multi_socket_action and then read finished transfers.
 * Curl callbacks only (re)arm events: they never call curl_multi_* and never
 * return -1, which would fail every transfer at once. A finished transfer
 * is removed before its owner hears of it, so the owner may free it or
 * start another from its completion callback. curl's zero-timeout polls
 * of sockets this loop watches are answered in up_zeropoll.c. */
#include "up_multi.h"
#include "log.h"
#include "up_zeropoll.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UPSTREAM_POOL 64

struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	int running;
	CURL *pool[UPSTREAM_POOL];   /* idle easy handles, reset */
	int npool;
	struct upstream_sock **socks;   /* by descriptor */
	int nsocks;
	int *closing;        /* descriptors curl closed: closed after the next epoll_wait */
	int nclosing, capclosing;
	int *ripe;           /* closing ones that have seen an epoll_wait since */
	int nripe, capripe;
	struct event *closer;
};

/* What the owner of a transfer gave us, kept in CURLOPT_PRIVATE. */
struct upstream_xfer {
	upstream_done_fn done;
	void *arg;
};

/* One per socket curl has shown us, indexed by descriptor (curl's sockets
 * are a worker's handful of small numbers). */
struct upstream_sock {
	struct event *ev;
	struct upstream *u;
	short kind;          /* EV_READ/EV_WRITE the event is added with; 0: not added */
	bool seen_in;        /* curl has waited to read on it: connected and live */
	bool parked;         /* curl is done with it for now (idle in its pool) */
};

static struct upstream_sock *up_multi_sock_get(struct upstream *u, curl_socket_t fd)
{
	return fd >= 0 && fd < u->nsocks ? u->socks[fd] : NULL;
}

static void up_multi_sock_free(struct upstream *u, curl_socket_t fd)
{
	struct upstream_sock *s = up_multi_sock_get(u, fd);
	if (!s)
		return;
	event_free(s->ev);
	free(s);
	u->socks[fd] = NULL;
}

/* A socket whose answer cannot be there yet as far as this loop knows:
 * connected, watched for reading, and not seen readable since (see
 * up_zeropoll.c: curl's zero-timeout polls of it need not reach the kernel). */
static bool up_multi_sock_quiet(void *ctx, int fd)
{
	struct upstream_sock *s = up_multi_sock_get(ctx, fd);
	return s && s->seen_in && s->kind == EV_READ;
}

static void up_multi_check_done(struct upstream *u)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(u->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct upstream_xfer *x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(u->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		if (x) {
			upstream_done_fn done = x->done;
			void *arg = x->arg;
			free(x);
			done(arg, easy, rc);
		}
	}
}

static void up_multi_action(struct upstream *u, curl_socket_t fd, int what)
{
	up_zeropoll_enter(up_multi_sock_quiet, u);
	CURLMcode mc = curl_multi_socket_action(u->multi, fd, what, &u->running);
	if (mc != CURLM_OK)
		log_error("upstream: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	up_multi_check_done(u);
	up_zeropoll_leave();
}

static void up_multi_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_sock *s = arg;
	if (s->parked) {
		/* An idle pooled connection became readable: the upstream
		 * closed it (or sent something unasked). Stop watching; curl's
		 * own check finds it dead before reusing it. */
		event_del(s->ev);
		s->kind = 0;
		return;
	}
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	/* Curl may close this socket while acting on it, which frees S and
	 * its event (up_multi_close_fn) inside this callback: nothing of S is
	 * used after this call, and libevent reads nothing of the event. */
	up_multi_action(s->u, fd, action);
}

static void up_multi_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	up_multi_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int up_multi_timer_fn(CURLM *multi, long timeout_ms, void *arg)
{
	struct upstream *u = arg;
	if (timeout_ms < 0) {
		evtimer_del(u->timer);
		return 0;
	}
	/* "Act now" for a transfer just added (every request) runs in this
	 * loop turn, after the current callbacks: not from inside this
	 * callback, where calling curl_multi_socket_action is forbidden, and
	 * not through a 0 ms timer, which costs an extra epoll_wait. Asked
	 * while curl is already acting, it takes the timer: a 0 asked again
	 * and again then still lets the loop poll in between. */
	if (timeout_ms == 0 && up_zeropoll_context() != u) {
		evtimer_del(u->timer);
		event_active(u->timer, EV_TIMEOUT, 0);
		return 0;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_add(u->timer, &tv);
	return 0;
}

static void up_multi_sock_watch(struct upstream_sock *s, short kind)
{
	if (s->kind == kind)
		return;
	event_del(s->ev);
	event_assign(s->ev, s->u->base, event_get_fd(s->ev), kind | EV_PERSIST, up_multi_event_cb, s);
	s->kind = kind;
	if (kind)
		event_add(s->ev, NULL);
}

static struct upstream_sock *up_multi_sock_new(struct upstream *u, curl_socket_t fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= u->nsocks) {
		int n = fd + 16;
		struct upstream_sock **t = realloc(u->socks, (size_t)n * sizeof *t);
		if (!t)
			return NULL;
		memset(t + u->nsocks, 0, (size_t)(n - u->nsocks) * sizeof *t);
		u->socks = t;
		u->nsocks = n;
	}
	struct upstream_sock *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->u = u;
	s->ev = event_new(u->base, fd, EV_PERSIST, up_multi_event_cb, s);
	if (!s->ev) {
		free(s);
		return NULL;
	}
	u->socks[fd] = s;
	return s;
}

/* The events of a keep-alive connection outlive its transfers. Between two
 * requests curl says REMOVE and then IN again for the same socket; doing
 * what it says costs an epoll_ctl each time. Instead a socket that has been
 * read from (so it is connected, and curl will close it through
 * up_multi_close_fn) is parked: still watched for reading, which is what
 * the next transfer wants anyway, and an upstream close while idle is
 * noticed by up_multi_event_cb. A socket never read from (a connect
 * attempt) may be closed by curl without telling us, so it is dropped at
 * once: an event left on a closed descriptor would swallow the next socket
 * that gets the same number. */
static int up_multi_socket_fn(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct upstream *u = arg;
	struct upstream_sock *s = up_multi_sock_get(u, fd);
	if (what == CURL_POLL_REMOVE) {
		if (s && s->seen_in) {
			s->parked = true;
			up_multi_sock_watch(s, EV_READ);
		} else {
			up_multi_sock_free(u, fd);
		}
		return 0;
	}
	if (!s && !(s = up_multi_sock_new(u, fd)))
		return 0;   /* the transfer will time out; never return -1 */
	s->parked = false;
	if (what & CURL_POLL_IN)
		s->seen_in = true;
	up_multi_sock_watch(s, (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
				       ((what & CURL_POLL_OUT) ? EV_WRITE : 0)));
	return 0;
}

/* In two steps, as http_conn.c's graves: a descriptor handed over in the
 * loop turn the timer fires waits for the next run. */
static void up_multi_closer_cb(evutil_socket_t unused, short what, void *arg)
{
	static const struct timeval after_poll = { 0, 1 };
	struct upstream *u = arg;
	for (int i = 0; i < u->nripe; i++)
		close(u->ripe[i]);
	int *t = u->ripe, cap = u->capripe;
	u->ripe = u->closing;
	u->capripe = u->capclosing;
	u->nripe = u->nclosing;
	u->closing = t;
	u->capclosing = cap;
	u->nclosing = 0;
	if (u->nripe > 0 && u->closer)
		evtimer_add(u->closer, &after_poll);
}

/* Every socket curl closes after it has been connected comes through here
 * (CURLOPT_CLOSESOCKETFUNCTION, kept by the connection): its event goes
 * before the descriptor does. A worker's base hands epoll its changes only
 * at the next epoll_wait, so the descriptor is closed by a timer that runs
 * after it: closed at once, the deletion would reach epoll on a closed
 * descriptor, or on the same number just given to another thread. */
static int up_multi_close_fn(void *arg, curl_socket_t fd)
{
	static const struct timeval after_poll = { 0, 1 };   /* 0 would run before epoll_wait */
	struct upstream *u = arg;
	up_multi_sock_free(u, fd);
	if (u->nclosing == u->capclosing) {
		int cap = u->capclosing ? u->capclosing * 2 : 16;
		int *t = realloc(u->closing, (size_t)cap * sizeof *t);
		if (!t)
			return close(fd);
		u->closing = t;
		u->capclosing = cap;
	}
	u->closing[u->nclosing++] = fd;
	if (!evtimer_pending(u->closer, NULL))
		evtimer_add(u->closer, &after_poll);
	return 0;
}

struct upstream *up_multi_new(struct event_base *base, long maxconnects)
{
	struct upstream *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	u->base = base;
	u->multi = curl_multi_init();
	u->timer = evtimer_new(base, up_multi_timer_cb, u);
	u->closer = evtimer_new(base, up_multi_closer_cb, u);
	if (!u->multi || !u->timer || !u->closer) {
		up_multi_free(u);
		return NULL;
	}
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, up_multi_socket_fn);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, up_multi_timer_fn);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	/* A fixed pool: warm connections survive a lull, and a burst cannot
	 * open an unbounded number of sockets to the upstream. */
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, maxconnects);
	return u;
}

void up_multi_free(struct upstream *u)
{
	if (!u)
		return;
	while (u->npool > 0)
		curl_easy_cleanup(u->pool[--u->npool]);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	for (int fd = 0; fd < u->nsocks; fd++)
		up_multi_sock_free(u, fd);
	free(u->socks);
	up_multi_closer_cb(-1, 0, u);
	up_multi_closer_cb(-1, 0, u);
	free(u->closing);
	free(u->ripe);
	if (u->closer)
		event_free(u->closer);
	if (u->timer)
		event_free(u->timer);
	free(u);
}

int up_multi_start(struct upstream *u, CURL *easy, upstream_done_fn done, void *arg)
{
	struct upstream_xfer *x = malloc(sizeof *x);
	if (!x)
		return -1;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, up_multi_close_fn);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, u);
	if (curl_multi_add_handle(u->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return -1;
	}
	return 0;
}

void up_multi_cancel(struct upstream *u, CURL *easy)
{
	struct upstream_xfer *x = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(u->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
}


CURL *up_multi_easy_get(struct upstream *u)
{
	return u->npool > 0 ? u->pool[--u->npool] : curl_easy_init();
}

void up_multi_easy_put(struct upstream *u, CURL *easy)
{
	if (u->npool >= UPSTREAM_POOL) {
		curl_easy_cleanup(easy);
		return;
	}
	/* Back to defaults: no option of one request (headers holding a
	 * token, a body pointer) survives into the next. */
	curl_easy_reset(easy);
	u->pool[u->npool++] = easy;
}
