/* upstream.c: libcurl's multi interface on a libevent base, the way curl's
 * docs/examples/multi-event.c and hiperfifo.c do it.
 *
 * CURLMOPT_SOCKETFUNCTION gives each socket one struct event (kept with
 * curl_multi_assign); CURLMOPT_TIMERFUNCTION keeps one non-repeating timer.
 * Events call curl_multi_socket_action and then read finished transfers.
 * Curl callbacks only (re)arm events: they never call curl_multi_* and never
 * return -1, which would fail every transfer at once. A finished transfer
 * is removed before its owner hears of it, so the owner may free it or
 * start another from its completion callback. */
#include "upstream.h"
#include "log.h"
#include <stdlib.h>

#define UPSTREAM_POOL 64

struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	int running;
	CURL *pool[UPSTREAM_POOL];   /* idle easy handles, reset */
	int npool;
};

/* What the owner of a transfer gave us, kept in CURLOPT_PRIVATE. */
struct upstream_xfer {
	upstream_done_fn done;
	void *arg;
};

struct upstream_sock {
	struct event *ev;
	struct upstream *u;
};

static void upstream_check_done(struct upstream *u)
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

static void upstream_action(struct upstream *u, curl_socket_t fd, int what)
{
	CURLMcode mc = curl_multi_socket_action(u->multi, fd, what, &u->running);
	if (mc != CURLM_OK)
		log_error("upstream: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	upstream_check_done(u);
}

static void upstream_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	upstream_action(u, fd, action);
}

static void upstream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	upstream_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int upstream_timer_fn(CURLM *multi, long timeout_ms, void *arg)
{
	struct upstream *u = arg;
	if (timeout_ms < 0) {
		evtimer_del(u->timer);
		return 0;
	}
	/* A zero timeout still goes through the loop: we must not call
	 * curl_multi_socket_action from inside this callback. */
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_add(u->timer, &tv);
	return 0;
}

static int upstream_socket_fn(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct upstream *u = arg;
	struct upstream_sock *s = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(u->multi, fd, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
		     ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = calloc(1, sizeof *s);
		if (s)
			s->ev = event_new(u->base, fd, kind, upstream_event_cb, u);
		if (!s || !s->ev) {
			free(s);
			return 0;   /* the transfer will time out; never return -1 */
		}
		s->u = u;
		curl_multi_assign(u->multi, fd, s);
	} else {
		/* Same event, new interest: no allocation, and the base's
		 * changelist folds the del/add into one epoll change. */
		event_del(s->ev);
		event_assign(s->ev, u->base, fd, kind, upstream_event_cb, u);
	}
	event_add(s->ev, NULL);
	return 0;
}

struct upstream *upstream_new(struct event_base *base, long maxconnects)
{
	struct upstream *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	u->base = base;
	u->multi = curl_multi_init();
	u->timer = evtimer_new(base, upstream_timer_cb, u);
	if (!u->multi || !u->timer) {
		upstream_free(u);
		return NULL;
	}
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, upstream_socket_fn);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, upstream_timer_fn);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	/* A fixed pool: warm connections survive a lull, and a burst cannot
	 * open an unbounded number of sockets to the upstream. */
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, maxconnects);
	return u;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	while (u->npool > 0)
		curl_easy_cleanup(u->pool[--u->npool]);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	if (u->timer)
		event_free(u->timer);
	free(u);
}

int upstream_start(struct upstream *u, CURL *easy, upstream_done_fn done, void *arg)
{
	struct upstream_xfer *x = malloc(sizeof *x);
	if (!x)
		return -1;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(u->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return -1;
	}
	return 0;
}

void upstream_cancel(struct upstream *u, CURL *easy)
{
	struct upstream_xfer *x = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(u->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
}

int upstream_running(const struct upstream *u) { return u->running; }

CURL *upstream_easy_get(struct upstream *u)
{
	return u->npool > 0 ? u->pool[--u->npool] : curl_easy_init();
}

void upstream_easy_put(struct upstream *u, CURL *easy)
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
