/* budget_shared.c: the gate between this instance's fair budget queue
 * (budget.c) and the budget all instances share in Redis (redis_budget.c).
 *
 * Owns: on the main event base, asking Redis for slots for the reads of
 * the local queue, up to BSHARE_ASKS at a time and never more than are
 * queued (GRANTED: the lease goes to the head of the queue, whichever
 * ask it answers, so the queue's order holds; WAIT
 * or PAUSED: ask again when Redis says, at most a second later, since a
 * slot another instance gives back frees earlier); sending the commits and
 * the 429 pauses budget.c collected; the scope: SHARED while Redis answers,
 * LOCAL_SHARE or CLOSED (on_failure) once the connection is down, and back
 * to SHARED only after Redis was re-seeded with this instance's sends of
 * the window and its pause. It re-seeds after every reconnect (a Redis
 * restarted empty) and every few seconds (a FLUSHALL): the seed adds only
 * what Redis does not hold, so nothing counts twice.
 *
 * An acquire that gets no answer is "unknown": it is neither a grant nor a
 * denial; it is retried shortly, and redis.c turns continued failure into
 * the down state, which is what switches the scope.
 *
 * Never: grant a slot itself, or run off the main base. */
#include "budget_shared.h"
#include "clock.h"
#include "log.h"
#include "redis_budget.h"
#include <stdlib.h>
#include <string.h>

#define BSHARE_TICK_MS 100
#define BSHARE_RETRY_UNKNOWN_MS 100
#define BSHARE_WAIT_MAX_MS 1000
#define BSHARE_RESEED_S 5.0
#define BSHARE_ASKS 16   /* acquires in flight at once */
#define BSHARE_PAUSE_CHECK_S 0.5   /* how soon a pause key deleted in Redis ends the pause here */
#define BSHARE_PROBE_S 0.5         /* seeds while commands fail: one each this often */

struct bshare {
	struct event_base *base;
	struct redis_conn *rc;
	struct budget *b;
	struct sharedbudget *sb;
	struct event *kick, *tick, *retry;
	struct bshare_ask *asks;        /* acquires in flight */
	size_t nasks;
	bool retry_armed, seeding, checking;
	double last_check;              /* the last look at the pause key */
	unsigned pauses_sent;           /* 429 pauses sent to Redis: a check older than one is void */
	unsigned pauses_sent_at_check;
	uint64_t seeded_connects;       /* the connection's handshakes at the last seed */
	double last_seed;
	unsigned share;
	bool closed;                    /* on_failure = closed */
};

/* One acquire in flight (its answer's argument). */
struct bshare_ask {
	struct bshare *s;
	struct sharedbudget_op *op;
	struct bshare_ask *next;
};

static struct bshare *bshare;

static void bshare_run(struct bshare *s);

static void bshare_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bshare_run(arg);
}

static void bshare_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bshare *s = arg;
	(void)fd;
	(void)what;
	s->retry_armed = false;
	bshare_run(s);
}

static void bshare_retry_in(struct bshare *s, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	s->retry_armed = true;
	evtimer_add(s->retry, &tv);
}

/* budget.c, any thread: there is work (a queued read, a commit, a pause). */
static void bshare_kick(void *arg)
{
	struct bshare *s = arg;
	event_active(s->kick, EV_TIMEOUT, 0);
}

static void bshare_lease_id(void *arg, char out[BUDGET_LEASE_LEN])
{
	struct bshare *s = arg;
	redis_budget_lease_id(s->sb, out);
}

static void bshare_answer(const struct sharedbudget_result *r, void *arg)
{
	struct bshare_ask *ask = arg, **pp;
	struct bshare *s = ask->s;
	double now = clock_now();
	for (pp = &s->asks; *pp != ask; pp = &(*pp)->next)
		;
	*pp = ask->next;
	s->nasks--;
	free(ask);
	switch (r->status) {
	case SHAREDBUDGET_GRANTED:
		budget_gate_credit(s->b, r->lease, now);
		if (s->retry_armed) {   /* a slot freed sooner than an earlier answer said */
			evtimer_del(s->retry);
			s->retry_armed = false;
		}
		event_active(s->kick, EV_TIMEOUT, 0);   /* more may be queued */
		return;
	case SHAREDBUDGET_WAIT:
		budget_gate_full_until(s->b, now + (double)r->wait_ms / 1000.0);
		bshare_retry_in(s, r->wait_ms < BSHARE_WAIT_MAX_MS ? r->wait_ms : BSHARE_WAIT_MAX_MS);
		return;
	case SHAREDBUDGET_PAUSED:
		/* another instance (or this one) saw a 429 */
		budget_gate_paused(s->b, now, (double)r->wait_ms / 1000.0);
		bshare_retry_in(s, r->wait_ms < BSHARE_WAIT_MAX_MS ? r->wait_ms : BSHARE_WAIT_MAX_MS);
		return;
	case SHAREDBUDGET_UNKNOWN:
		bshare_retry_in(s, BSHARE_RETRY_UNKNOWN_MS);
		return;
	}
}

static void bshare_seeded(const struct sharedbudget_result *r, void *arg)
{
	struct bshare *s = arg;
	s->seeding = false;
	if (r->status != SHAREDBUDGET_GRANTED) {
		s->seeded_connects = 0;   /* try again on the next tick */
		return;
	}
	if (budget_scope(s->b) != BUDGET_SHARED) {
		log_info("redis: the shared budget is back (re-seeded; %lld sends in its window)", r->in_window);
		budget_set_scope(s->b, BUDGET_SHARED, 0, 0, clock_now());
	}
}

/* Tells Redis what this instance sent in the window and, when Redis may
 * have lost it (a new connection, or back from a fallback), its pause. The
 * periodic re-seed on the same connection leaves the pause alone: a pause
 * key that was deleted must stay deleted (it ends the pause everywhere). */
static void bshare_seed(struct bshare *s, double now, bool with_pause)
{
	char (*leases)[BUDGET_LEASE_LEN] = NULL;
	double *ages = NULL;
	size_t n = budget_gate_sends(s->b, now, &leases, &ages);
	const char **ids = calloc(n + 1, sizeof *ids);
	long long *ms = calloc(n + 1, sizeof *ms);
	double pause = with_pause ? budget_paused_for(s->b, now) : 0;
	if (ids && ms && leases && ages) {
		for (size_t i = 0; i < n; i++) {
			ids[i] = leases[i];
			ms[i] = (long long)(ages[i] * 1000.0);
		}
		if (redis_budget_seed(s->sb, s->rc, ids, ms, n, (long long)(pause * 1000.0),
				      bshare_seeded, s) == 0) {
			s->seeding = true;
			s->seeded_connects = redis_conn_connects(s->rc);
			s->last_seed = now;
		}
	}
	free(ids);
	free(ms);
	free(leases);
	free(ages);
}

/* The pause key's life left: gone (deleted, expired, FLUSHALL) ends the
 * pause here too, unless this instance sent a pause since it asked. */
static void bshare_pause_left(const struct sharedbudget_result *r, void *arg)
{
	struct bshare *s = arg;
	double now = clock_now();
	unsigned sent = s->pauses_sent;
	s->checking = false;
	if (r->status != SHAREDBUDGET_PAUSED || sent != s->pauses_sent_at_check)
		return;
	if (r->wait_ms > 0) {
		budget_gate_paused(s->b, now, (double)r->wait_ms / 1000.0);
	} else if (budget_paused_for(s->b, now) > 0) {
		log_info("redis: the shared pause is gone from Redis; reads resume");
		budget_resume(s->b, now);
	}
}

static void bshare_check_pause(struct bshare *s, double now)
{
	if (s->checking || now - s->last_check < BSHARE_PAUSE_CHECK_S || budget_paused_for(s->b, now) <= 0)
		return;
	s->last_check = now;
	s->pauses_sent_at_check = s->pauses_sent;
	if (redis_budget_pause_left(s->sb, s->rc, bshare_pause_left, s) == 0)
		s->checking = true;
}

static void bshare_run(struct bshare *s)
{
	double now = clock_now();
	enum redis_state st = redis_conn_state(s->rc);
	enum budget_scope scope = budget_scope(s->b);
	struct budget_gate_work w;
	budget_gate_take(s->b, &w);
	for (size_t i = 0; i < w.ncommits; i++)
		if (scope == BUDGET_SHARED)   /* not sent: a used lease is in the next seed */
			redis_budget_commit(s->sb, s->rc, w.commits[i].lease, w.commits[i].used, NULL, NULL);
	free(w.commits);
	if (w.pause_s > 0 && scope == BUDGET_SHARED) {   /* not sent: in the next seed */
		redis_budget_pause(s->sb, s->rc, (long long)(w.pause_s * 1000.0), NULL, NULL);
		s->pauses_sent++;
	}
	if (st == REDIS_DOWN && scope == BUDGET_SHARED) {
		double hold = now + budget_window(s->b);
		log_warn("redis: down; the budget falls back to %s", s->closed ? "cached and stale answers only"
			 : "this instance's share after one window");
		budget_set_scope(s->b, s->closed ? BUDGET_CLOSED : BUDGET_LOCAL_SHARE, s->share, hold, now);
		return;
	}
	/* Down because its commands fail, the connection still takes a seed
	 * now and then: the one that works brings the shared budget back. */
	bool probing = st != REDIS_UP && scope != BUDGET_SHARED && redis_conn_usable(s->rc);
	if (st != REDIS_UP && !probing)
		return;
	/* A seed goes before any acquire on the same connection, so a Redis
	 * restarted empty knows our sends before it grants anything. */
	bool lost = scope != BUDGET_SHARED || redis_conn_connects(s->rc) != s->seeded_connects;
	if (!s->seeding && (lost || now - s->last_seed >= BSHARE_RESEED_S) &&
	    (!probing || now - s->last_seed >= BSHARE_PROBE_S))
		bshare_seed(s, now, lost);
	if (st != REDIS_UP)
		return;
	if (scope == BUDGET_SHARED)
		bshare_check_pause(s, now);
	while (scope == BUDGET_SHARED && !s->retry_armed && s->nasks < w.queued && s->nasks < BSHARE_ASKS) {
		struct bshare_ask *ask = calloc(1, sizeof *ask);
		if (ask) {
			ask->s = s;
			ask->op = redis_budget_acquire(s->sb, s->rc, bshare_answer, ask);
		}
		if (!ask || !ask->op) {
			free(ask);
			bshare_retry_in(s, BSHARE_RETRY_UNKNOWN_MS);
			break;
		}
		ask->next = s->asks;
		s->asks = ask;
		s->nasks++;
	}
}

int budget_shared_start(struct event_base *base, struct redis_conn *rc, struct budget *b,
		      const struct fg_config *c)
{
	if (!conf_redis_on(c) || !rc || !b)
		return 0;
	struct bshare *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	s->base = base;
	s->rc = rc;
	s->b = b;
	s->share = redis_budget_fallback_share(c->vin_get_rate.count, (unsigned)c->redis_instances);
	s->closed = c->redis_on_failure == FG_REDIS_CLOSED;
	s->sb = redis_budget_new(c->redis_prefix ? c->redis_prefix : "fleetgate", c->client_id,
				 c->vin_get_rate.count, (long long)(budget_window(b) * 1000.0));
	s->kick = event_new(base, -1, 0, bshare_kick_cb, s);
	s->retry = evtimer_new(base, bshare_retry_cb, s);
	s->tick = event_new(base, -1, EV_PERSIST, bshare_kick_cb, s);
	if (!s->sb || !s->kick || !s->retry || !s->tick) {
		bshare = s;
		budget_shared_stop();
		return -1;
	}
	struct timeval tv = { 0, BSHARE_TICK_MS * 1000 };
	evtimer_add(s->tick, &tv);
	struct budget_gate g = { .kick = bshare_kick, .lease_id = bshare_lease_id, .arg = s };
	budget_gate_install(b, &g);
	bshare = s;
	log_info("budget: shared through Redis (key %s); fallback share %u a window (%s)",
		 redis_budget_log_key(s->sb), s->share, s->closed ? "on_failure = closed" : "on_failure = share");
	return 0;
}

void budget_shared_stop(void)
{
	struct bshare *s = bshare;
	if (!s)
		return;
	bshare = NULL;
	if (s->b)
		budget_gate_remove(s->b);
	while (s->asks) {   /* their answers will not run: a granted slot is given back */
		struct bshare_ask *ask = s->asks;
		s->asks = ask->next;
		redis_budget_cancel(ask->op);
		free(ask);
	}
	if (s->kick)
		event_free(s->kick);
	if (s->retry)
		event_free(s->retry);
	if (s->tick)
		event_free(s->tick);
	redis_budget_free(s->sb);
	free(s);
}
