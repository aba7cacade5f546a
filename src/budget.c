/* budget.c: the upstream read budget, its fair queue and the 429 pause
 * (docs/cache.md). Tenant rates are req_tenantrate.c's.
 *
 * Owns: a sliding-window log of the times single-VIN GETs were sent (not a
 * token bucket: 60/min means no 61st send within any 60 s, never a burst
 * of 60 that refills), the slots reserved but not yet sent, the queue of
 * reads waiting for a slot (one FIFO per tenant, served round robin so a
 * busy tenant cannot starve the others), the pause an upstream 429 asks
 * for.
 *
 * A slot is counted from the moment it is granted (reserved) and logged
 * when its exchange is over (budget_used): the upstream counted the read at
 * some moment between our send and its answer, so the next send, a window
 * after the answer, reaches it at least a window later, however long the
 * network, a token wait or a slow connection set-up took. Waiters are woken by events on their own event base;
 * when the next slot frees in the future, a one-shot timer on a waiter's
 * base runs budget_pump then. One mutex guards everything; callbacks run
 * after it is released.
 *
 * With a gate (budget_shared.c, issue 16) the queue stays here but slots
 * come from the gate: leases Redis granted (SHARED), a local share of the
 * limit (LOCAL_SHARE), or none (CLOSED). The gate is told there is work
 * through its kick, always after the lock is released; leases are
 * fungible (any reserved slot may commit any lease this instance holds).
 *
 * Never: send anything itself, decide about the cache, or sleep. */
#include "budget.h"
#include "log.h"
#include "clock.h"
#include "waiter.h"
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

struct budget_tq;

struct budget_waiter {
	struct waiter wt;        /* first: waiter.c frees the whole */
	TAILQ_ENTRY(budget_waiter) link;
	struct budget *b;
	struct budget_tq *tq;    /* while queued */
	budget_ready_fn cb;
	void *arg;
};
TAILQ_HEAD(budget_waitq, budget_waiter);

/* One tenant's waiters, in arrival order; on the ring while non-empty. */
struct budget_tq {
	TAILQ_ENTRY(budget_tq) link;
	struct budget_waitq waiters;
	size_t n;
	char name[];
};
TAILQ_HEAD(budget_ring, budget_tq);

/* One send in the log: when its exchange ended, and its lease id (gate
 * modes) for a re-seed. */
struct budget_send {
	double t;
	char lease[BUDGET_LEASE_LEN];
};
/* A stack of lease ids (they are fungible). */
struct budget_leases {
	char (*v)[BUDGET_LEASE_LEN];
	size_t n, cap;
};

struct budget {
	pthread_mutex_t mu;
	unsigned count;
	double window;           /* as configured */
	double margin;           /* added to it for the network */
	struct budget_send *log; /* ring of sends, oldest first */
	size_t cap, head, len;
	unsigned reserved;
	double paused_until;
	struct budget_ring ring; /* tenants with waiters, next served first */
	size_t queued;
	double pump_at;          /* earliest pump scheduled; 0: none */
	unsigned long long sends, waits, granted_from_queue, pauses;
	/* gate modes */
	enum budget_scope scope;
	struct budget_gate gate;
	unsigned share;          /* LOCAL_SHARE: slots a window */
	double hold_until;       /* LOCAL_SHARE: nothing before (one window) */
	double full_until;       /* SHARED: Redis said full until */
	struct budget_leases credits, held;   /* granted by Redis: not given / reserved */
	struct budget_commit *commits;
	size_t ncommits, capcommits;
	double pending_pause;
	bool kick;               /* tell the gate once the lock is released */
};

/* ---- the window log (lock held) ------------------------------------------ */

double budget_window(const struct budget *b)
{
	return b->window + b->margin;
}

static double budget_log_at(const struct budget *b, size_t i)
{
	return b->log[(b->head + i) % b->cap].t;
}

static bool budget_leases_push(struct budget_leases *l, const char *id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		void *nv = realloc(l->v, ncap * sizeof *l->v);
		if (!nv)
			return false;
		l->v = nv;
		l->cap = ncap;
	}
	snprintf(l->v[l->n++], BUDGET_LEASE_LEN, "%s", id);
	return true;
}

static bool budget_leases_pop(struct budget_leases *l, char out[BUDGET_LEASE_LEN])
{
	if (!l->n)
		return false;
	memcpy(out, l->v[--l->n], BUDGET_LEASE_LEN);
	return true;
}

static void budget_commit_push(struct budget *b, const char *lease, bool used)
{
	if (b->ncommits == b->capcommits) {
		size_t ncap = b->capcommits ? b->capcommits * 2 : 16;
		void *nc = realloc(b->commits, ncap * sizeof *b->commits);
		if (!nc)
			return;   /* the lease ages out in Redis after a window */
		b->commits = nc;
		b->capcommits = ncap;
	}
	snprintf(b->commits[b->ncommits].lease, BUDGET_LEASE_LEN, "%s", lease);
	b->commits[b->ncommits++].used = used;
	b->kick = true;
}

/* A slot was just reserved: in a gate mode it carries a lease. */
static void budget_take_lease(struct budget *b)
{
	char id[BUDGET_LEASE_LEN];
	if (b->scope == BUDGET_SHARED && budget_leases_pop(&b->credits, id))
		budget_leases_push(&b->held, id);
	else if (b->scope == BUDGET_LOCAL_SHARE && b->gate.lease_id) {
		b->gate.lease_id(b->gate.arg, id);
		budget_leases_push(&b->held, id);
	}
}

/* Leases Redis granted that nobody here wants any more go back. */
static void budget_return_credits(struct budget *b)
{
	char id[BUDGET_LEASE_LEN];
	while (budget_leases_pop(&b->credits, id))
		budget_commit_push(b, id, false);
}

/* Releases the lock, then tells the gate when there is work for it. */
static void budget_unlock(struct budget *b)
{
	bool kick = b->kick && b->gate.kick;
	struct budget_gate g = b->gate;
	b->kick = false;
	pthread_mutex_unlock(&b->mu);
	if (kick)
		g.kick(g.arg);
}

static void budget_expire(struct budget *b, double now)
{
	double w = budget_window(b);
	while (b->len && budget_log_at(b, 0) + w <= now) {
		b->head = (b->head + 1) % b->cap;
		b->len--;
	}
}

static int budget_log_push(struct budget *b, double t, const char *lease)
{
	if (b->len == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct budget_send *nl = malloc(ncap * sizeof *nl);
		if (!nl)
			return -1;
		for (size_t i = 0; i < b->len; i++)
			nl[i] = b->log[(b->head + i) % b->cap];
		free(b->log);
		b->log = nl;
		b->cap = ncap;
		b->head = 0;
	}
	/* Threads read the clock before taking the lock: keep the log sorted
	 * by never logging earlier than the last send (later is safe). */
	if (b->len && t < budget_log_at(b, b->len - 1))
		t = budget_log_at(b, b->len - 1);
	struct budget_send *e = &b->log[(b->head + b->len++) % b->cap];
	e->t = t;
	snprintf(e->lease, sizeof e->lease, "%s", lease ? lease : "");
	return 0;
}

/* The limit the local log is held to. */
static unsigned budget_count(const struct budget *b)
{
	return b->scope == BUDGET_LOCAL_SHARE ? b->share : b->count;
}

static unsigned budget_free_slots(const struct budget *b)
{
	if (b->scope == BUDGET_SHARED)
		return (unsigned)b->credits.n;
	if (b->scope == BUDGET_CLOSED)
		return 0;
	size_t used = b->len + b->reserved;
	return used >= budget_count(b) ? 0 : (unsigned)(budget_count(b) - used);
}

/* Nothing is granted before this (a pause, or the fallback's hold). */
static double budget_blocked_until(const struct budget *b)
{
	return b->paused_until > b->hold_until ? b->paused_until : b->hold_until;
}

/* When the next slot frees: HUGE_VAL when only reserved slots are busy
 * (they free when sent or released, which pumps by itself). */
static double budget_next_free(const struct budget *b, double now)
{
	double t = now;
	if (b->scope == BUDGET_SHARED || b->scope == BUDGET_CLOSED)
		return HUGE_VAL;   /* the gate grants (and kicks) */
	if (!budget_free_slots(b))
		t = b->len ? budget_log_at(b, 0) + budget_window(b) : HUGE_VAL;
	return t > budget_blocked_until(b) ? t : budget_blocked_until(b);
}

static double budget_estimate_locked(struct budget *b, double now)
{
	double w = budget_window(b);
	size_t ahead = b->queued;              /* waiters served before a newcomer */
	unsigned freec = budget_free_slots(b);
	double t;
	unsigned count = budget_count(b);
	if (b->scope == BUDGET_SHARED)   /* Redis knows; its last word, a window a round */
		t = (b->full_until > now ? b->full_until : now) + w * (double)(ahead / (b->count ? b->count : 1));
	else if (b->scope == BUDGET_CLOSED || !count)
		t = now + w;
	else if (ahead < freec)
		t = now;
	else {
		size_t j = ahead - freec;          /* frees needed before ours, minus one */
		if (j < b->len)
			t = budget_log_at(b, j) + w;
		else   /* later frees come from sends not made yet: a window each round */
			t = now + w * (double)(1 + (j - b->len) / count);
	}
	if (t < budget_blocked_until(b))
		t = budget_blocked_until(b);
	return t - now;
}

/* ---- the fair queue (lock held) -------------------------------------------- */

static struct budget_tq *budget_tq_get(struct budget *b, const char *tenant)
{
	struct budget_tq *tq;
	TAILQ_FOREACH(tq, &b->ring, link)
		if (strcmp(tq->name, tenant) == 0)
			return tq;
	size_t n = strlen(tenant) + 1;
	tq = calloc(1, sizeof *tq + n);
	if (!tq)
		return NULL;
	memcpy(tq->name, tenant, n);
	TAILQ_INIT(&tq->waiters);
	TAILQ_INSERT_TAIL(&b->ring, tq, link);   /* a newcomer waits one round */
	return tq;
}

static void budget_tq_remove_waiter(struct budget *b, struct budget_waiter *w)
{
	struct budget_tq *tq = w->tq;
	TAILQ_REMOVE(&tq->waiters, w, link);
	tq->n--;
	b->queued--;
	waiter_take_locked(&w->wt);
	w->tq = NULL;
	if (!tq->n) {
		TAILQ_REMOVE(&b->ring, tq, link);
		free(tq);
	}
}

/* Round robin: the tenant at the front gives up its oldest waiter and
 * goes to the back of the ring. Granted waiters go onto OUT. */
static void budget_grant(struct budget *b, double now, struct budget_waitq *out)
{
	budget_expire(b, now);
	if (budget_blocked_until(b) > now)
		return;
	while (budget_free_slots(b) && !TAILQ_EMPTY(&b->ring)) {
		struct budget_tq *tq = TAILQ_FIRST(&b->ring);
		struct budget_waiter *w = TAILQ_FIRST(&tq->waiters);
		bool last = tq->n == 1;
		budget_tq_remove_waiter(b, w);
		if (!last) {
			TAILQ_REMOVE(&b->ring, tq, link);
			TAILQ_INSERT_TAIL(&b->ring, tq, link);
		}
		b->reserved++;
		budget_take_lease(b);
		b->granted_from_queue++;
		TAILQ_INSERT_TAIL(out, w, link);
	}
}

static void budget_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	budget_pump(arg, clock_now());
}

/* Waiters left and the next slot frees later: a timer on one waiter's base
 * (any worker can grant to any other) pumps then. */
static void budget_schedule(struct budget *b, double now)
{
	if (TAILQ_EMPTY(&b->ring))
		return;
	double at = budget_next_free(b, now);
	if (at == HUGE_VAL || (b->pump_at > 0 && at >= b->pump_at - 0.001))
		return;
	struct budget_waiter *w = TAILQ_FIRST(&TAILQ_FIRST(&b->ring)->waiters);
	if (!w->wt.base)
		return;   /* unit tests pump by hand */
	double d = at > now ? at - now + 0.001 : 0;
	struct timeval tv = clock_timeval(d);
	if (event_base_once(w->wt.base, -1, EV_TIMEOUT, budget_pump_cb, b, &tv) == 0)
		b->pump_at = at;
}

static void budget_waiter_run(struct waiter *wt)
{
	struct budget_waiter *w = (struct budget_waiter *)wt;
	w->cb(w->arg);
}

/* Granted, then withdrawn (or its base is gone): the slot goes to the next. */
static void budget_waiter_dropped(struct waiter *wt)
{
	budget_release(((struct budget_waiter *)wt)->b, clock_now());
}

/* After the lock is released: tell the granted waiters, each on its base. */
static void budget_dispatch(struct budget_waitq *q)
{
	struct budget_waiter *w;
	while ((w = TAILQ_FIRST(q))) {
		TAILQ_REMOVE(q, w, link);
		waiter_wake(&w->wt);
	}
}

/* ---- life cycle -------------------------------------------------------------- */

struct budget *budget_new(void)
{
	struct budget *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	TAILQ_INIT(&b->ring);
	b->count = 60;
	b->window = 60;
	b->margin = 0.6;
	return b;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	struct budget_tq *tq;
	while ((tq = TAILQ_FIRST(&b->ring))) {
		struct budget_waiter *w;
		while ((w = TAILQ_FIRST(&tq->waiters))) {
			TAILQ_REMOVE(&tq->waiters, w, link);
			free(w);
		}
		TAILQ_REMOVE(&b->ring, tq, link);
		free(tq);
	}
	free(b->log);
	free(b->credits.v);
	free(b->held.v);
	free(b->commits);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static struct budget *budget_the;

int budget_start(unsigned count, double window_s)
{
	if (!budget_the)
		budget_the = budget_new();
	if (!budget_the)
		return -1;
	budget_set_rate(budget_the, count, window_s);
	return 0;
}

struct budget *budget_shared(void) { return budget_the; }

void budget_set_rate(struct budget *b, unsigned count, double window_s)
{
	pthread_mutex_lock(&b->mu);
	if (count && (count != b->count || window_s != b->window)) {
		b->count = count;
		b->window = window_s;
		/* Slots are logged at the answer, so network delays are
		 * covered already; 1% of the window (0.1 s to 1 s) more
		 * absorbs clocks that do not run at quite the same rate. */
		b->margin = window_s * 0.01;
		b->margin = b->margin < 0.1 ? 0.1 : b->margin > 1.0 ? 1.0 : b->margin;
	}
	pthread_mutex_unlock(&b->mu);
}

/* ---- the API ------------------------------------------------------------------- */

enum budget_result budget_acquire(struct budget *b, const char *tenant, double now,
				  struct event_base *base, budget_ready_fn cb, void *arg,
				  struct budget_waiter **w, double *retry_after)
{
	enum budget_result res;
	struct budget_waitq granted;
	TAILQ_INIT(&granted);
	*w = NULL;
	*retry_after = 0;
	pthread_mutex_lock(&b->mu);
	budget_expire(b, now);
	if (b->paused_until > now) {
		*retry_after = b->paused_until - now;
		res = BUDGET_PAUSED;
	} else if (!b->queued && budget_free_slots(b) && b->hold_until <= now) {
		b->reserved++;
		budget_take_lease(b);
		res = BUDGET_GRANTED;
	} else if (!cb) {
		*retry_after = budget_estimate_locked(b, now);
		/* Shared: only Redis knows whether there is room. */
		res = b->scope == BUDGET_SHARED && !b->queued && b->full_until <= now ? BUDGET_ASK : BUDGET_FULL;
	} else {
		struct budget_tq *tq = budget_tq_get(b, tenant ? tenant : "");
		struct budget_waiter *nw = tq ? waiter_new(sizeof *nw, &b->mu, base, budget_waiter_run,
							   budget_waiter_dropped) : NULL;
		if (!nw) {
			*retry_after = budget_estimate_locked(b, now);
			res = BUDGET_FULL;
			if (tq && !tq->n) {
				TAILQ_REMOVE(&b->ring, tq, link);
				free(tq);
			}
			goto out;
		}
		*retry_after = budget_estimate_locked(b, now);
		nw->b = b;
		nw->tq = tq;
		nw->cb = cb;
		nw->arg = arg;
		TAILQ_INSERT_TAIL(&tq->waiters, nw, link);
		tq->n++;
		b->queued++;
		b->waits++;
		*w = nw;
		res = BUDGET_QUEUED;
		b->kick = b->scope == BUDGET_SHARED;
		budget_grant(b, now, &granted);
		budget_schedule(b, now);
	}
out:
	budget_unlock(b);
	budget_dispatch(&granted);
	return res;
}

void budget_used(struct budget *b, double now)
{
	char lease[BUDGET_LEASE_LEN] = "";
	pthread_mutex_lock(&b->mu);
	if (b->reserved)
		b->reserved--;
	if (b->scope != BUDGET_LOCAL && !budget_leases_pop(&b->held, lease) && b->gate.lease_id)
		b->gate.lease_id(b->gate.arg, lease);
	budget_log_push(b, now, lease);
	if (b->scope == BUDGET_SHARED)
		budget_commit_push(b, lease, true);   /* re-stamped at Redis's now */
	b->sends++;
	budget_schedule(b, now);   /* now we know when this slot frees */
	budget_unlock(b);
}

void budget_release(struct budget *b, double now)
{
	struct budget_waitq granted;
	TAILQ_INIT(&granted);
	char lease[BUDGET_LEASE_LEN];
	pthread_mutex_lock(&b->mu);
	if (b->reserved)
		b->reserved--;
	if (budget_leases_pop(&b->held, lease) && b->scope == BUDGET_SHARED)
		budget_leases_push(&b->credits, lease);   /* the next waiter may use it */
	budget_grant(b, now, &granted);
	budget_return_credits(b);
	budget_schedule(b, now);
	budget_unlock(b);
	budget_dispatch(&granted);
}

void budget_wait_cancel(struct budget_waiter *w)
{
	if (!w)
		return;
	struct budget *b = w->b;
	pthread_mutex_lock(&b->mu);
	if (waiter_cancel_locked(&w->wt)) {
		budget_tq_remove_waiter(b, w);
		pthread_mutex_unlock(&b->mu);
		free(w);
		return;
	}
	pthread_mutex_unlock(&b->mu);   /* granted: dropped (its slot released) when its event runs */
}

void budget_pump(struct budget *b, double now)
{
	struct budget_waitq granted;
	TAILQ_INIT(&granted);
	pthread_mutex_lock(&b->mu);
	b->pump_at = 0;
	budget_grant(b, now, &granted);
	budget_schedule(b, now);
	pthread_mutex_unlock(&b->mu);
	budget_dispatch(&granted);
}

void budget_pause(struct budget *b, double now, double secs)
{
	if (!(secs >= 0))
		return;
	if (secs > BUDGET_PAUSE_MAX) {
		log_warn("budget: the upstream asked for a pause of %.6g s; pausing for the cap of %d s "
			 "(POST /budget/resume on the admin listener ends it sooner)", secs, BUDGET_PAUSE_MAX);
		secs = BUDGET_PAUSE_MAX;
	}
	pthread_mutex_lock(&b->mu);
	if (now + secs > b->paused_until) {
		b->paused_until = now + secs;
		b->pauses++;
		b->pump_at = 0;   /* the queue waits for the end of the pause */
		budget_schedule(b, now);
	}
	if (b->gate.kick && secs > b->pending_pause) {
		b->pending_pause = secs;   /* every instance must honour it */
		b->kick = true;
	}
	budget_unlock(b);
}

double budget_resume(struct budget *b, double now)
{
	pthread_mutex_lock(&b->mu);
	double left = b->paused_until > now ? b->paused_until - now : 0;
	b->paused_until = 0;
	pthread_mutex_unlock(&b->mu);
	budget_pump(b, now);
	return left;
}

double budget_paused_for(struct budget *b, double now)
{
	pthread_mutex_lock(&b->mu);
	double d = b->paused_until > now ? b->paused_until - now : 0;
	pthread_mutex_unlock(&b->mu);
	return d;
}

double budget_estimate(struct budget *b, double now)
{
	pthread_mutex_lock(&b->mu);
	budget_expire(b, now);
	double d = budget_estimate_locked(b, now);
	pthread_mutex_unlock(&b->mu);
	return d;
}

int budget_parse_retry_after(const char *body, size_t len)
{
	static const char needle[] = "retry after";
	size_t nl = sizeof needle - 1;
	for (size_t i = 0; body && i + nl <= len; i++) {
		if (strncasecmp(body + i, needle, nl) != 0)
			continue;
		size_t k = i + nl;
		while (k < len && body[k] == ' ')
			k++;
		long n = 0;
		size_t d = k;
		while (d < len && isdigit((unsigned char)body[d]) && n < 1000000)
			n = n * 10 + (body[d++] - '0');
		if (d > k)
			return (int)n;
	}
	return -1;
}

int budget_429_secs(int header_s, const char *body, size_t len, double default_s)
{
	int secs = budget_parse_retry_after(body, len);
	if (header_s > secs)
		secs = header_s;
	return secs >= 0 ? secs : (int)default_s;
}

int budget_pause_from_429(struct budget *b, double now, int header_s, const char *body, size_t len,
			  double default_s)
{
	int secs = budget_429_secs(header_s, body, len, default_s);
	budget_pause(b, now, secs);
	return secs;
}

void budget_get_stats(struct budget *b, double now, struct budget_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	budget_expire(b, now);
	out->limit = b->count;
	out->window_s = b->window;
	out->in_window = (unsigned)b->len + b->reserved;
	out->reserved = b->reserved;
	out->queued = b->queued;
	out->paused_for_s = b->paused_until > now ? b->paused_until - now : 0;
	out->sends = b->sends;
	out->waits = b->waits;
	out->granted_from_queue = b->granted_from_queue;
	out->pauses = b->pauses;
	out->scope = b->scope;
	out->share = b->share;
	out->leases = (unsigned)(b->credits.n + b->held.n);
	pthread_mutex_unlock(&b->mu);
}

void budget_shutdown(void)
{
	budget_free(budget_the);
	budget_the = NULL;
}

/* ---- the gate's side (budget_shared.c) ---------------------------------------- */

const char *budget_scope_name(enum budget_scope s)
{
	static const char *const names[] = { "local", "shared", "local-share", "closed" };
	return s <= BUDGET_CLOSED ? names[s] : "?";
}

void budget_gate_install(struct budget *b, const struct budget_gate *g)
{
	pthread_mutex_lock(&b->mu);
	b->gate = *g;
	b->scope = BUDGET_SHARED;
	pthread_mutex_unlock(&b->mu);
}

void budget_gate_remove(struct budget *b)
{
	pthread_mutex_lock(&b->mu);
	memset(&b->gate, 0, sizeof b->gate);
	b->scope = BUDGET_LOCAL;
	pthread_mutex_unlock(&b->mu);
}

enum budget_scope budget_scope(struct budget *b)
{
	pthread_mutex_lock(&b->mu);
	enum budget_scope s = b->scope;
	pthread_mutex_unlock(&b->mu);
	return s;
}

void budget_set_scope(struct budget *b, enum budget_scope s, unsigned share, double hold_until,
		      double now)
{
	struct budget_waitq granted;
	TAILQ_INIT(&granted);
	pthread_mutex_lock(&b->mu);
	if (s != BUDGET_SHARED)
		b->credits.n = 0;   /* Redis is gone; they age out there */
	b->scope = s;
	b->share = share;
	b->hold_until = s == BUDGET_LOCAL_SHARE ? hold_until : 0;
	b->full_until = 0;
	b->pump_at = 0;
	b->kick = s == BUDGET_SHARED && b->queued;
	budget_grant(b, now, &granted);
	budget_schedule(b, now);
	budget_unlock(b);
	budget_dispatch(&granted);
}

void budget_gate_take(struct budget *b, struct budget_gate_work *w)
{
	pthread_mutex_lock(&b->mu);
	w->commits = b->commits;
	w->ncommits = b->ncommits;
	b->commits = NULL;
	b->ncommits = b->capcommits = 0;
	w->pause_s = b->pending_pause;
	b->pending_pause = 0;
	w->queued = b->queued;
	pthread_mutex_unlock(&b->mu);
}

void budget_gate_credit(struct budget *b, const char *lease, double now)
{
	struct budget_waitq granted;
	TAILQ_INIT(&granted);
	pthread_mutex_lock(&b->mu);
	b->full_until = 0;
	if (b->scope != BUDGET_SHARED || !budget_leases_push(&b->credits, lease))
		budget_commit_push(b, lease, false);
	budget_grant(b, now, &granted);
	budget_return_credits(b);
	budget_unlock(b);
	budget_dispatch(&granted);
}

void budget_gate_full_until(struct budget *b, double until)
{
	pthread_mutex_lock(&b->mu);
	b->full_until = until;
	pthread_mutex_unlock(&b->mu);
}

void budget_gate_paused(struct budget *b, double now, double secs)
{
	if (!(secs >= 0))
		return;
	if (secs > BUDGET_PAUSE_MAX)   /* what Redis says is capped as the upstream is */
		secs = BUDGET_PAUSE_MAX;
	pthread_mutex_lock(&b->mu);
	if (now + secs > b->paused_until)
		b->paused_until = now + secs;   /* another instance's 429 */
	pthread_mutex_unlock(&b->mu);
}

size_t budget_gate_sends(struct budget *b, double now, char (**leases)[BUDGET_LEASE_LEN], double **ages)
{
	pthread_mutex_lock(&b->mu);
	budget_expire(b, now);
	size_t n = 0;
	*leases = malloc((b->len + 1) * sizeof **leases);
	*ages = malloc((b->len + 1) * sizeof **ages);
	for (size_t i = 0; *leases && *ages && i < b->len; i++) {
		const struct budget_send *e = &b->log[(b->head + i) % b->cap];
		if (!e->lease[0])
			continue;
		memcpy((*leases)[n], e->lease, BUDGET_LEASE_LEN);
		(*ages)[n++] = now > e->t ? now - e->t : 0;
	}
	pthread_mutex_unlock(&b->mu);
	return n;
}
