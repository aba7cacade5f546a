/* budget.h: the upstream read budget (docs/cache.md).
 *
 * The budget is a sliding-window log of single-VIN GETs sent upstream,
 * shared by every worker and tenant (its lock is inside): never more than
 * COUNT sends in any WINDOW. A read that finds no room waits in a queue
 * that serves tenants round robin, and is woken on its own event base when
 * a slot is granted to it. After an upstream 429 the route is paused until
 * the upstream's Retry-After has passed. Every function that depends on time takes NOW
 * (monotonic seconds), so unit tests drive the clock. */
#ifndef FG_BUDGET_H
#define FG_BUDGET_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>

struct budget;
struct budget_waiter;
typedef void (*budget_ready_fn)(void *arg);

enum budget_result {
	BUDGET_GRANTED,   /* a slot is reserved: budget_used() or budget_release() it */
	BUDGET_QUEUED,    /* *W: CB runs with a slot reserved for the caller */
	BUDGET_FULL,      /* no room now and not queued (no CB given) */
	BUDGET_PAUSED,    /* the upstream asked for a pause (429) */
	BUDGET_ASK        /* shared: no slot in hand, but the shared budget
			   * may have room: ask again with CB (no stale first) */
};

struct budget *budget_new(void);
void budget_free(struct budget *b);
/* The daemon's one budget: made by main before the workers start with
 * the configured rate (-1: out of memory), NULL before that, released at
 * exit. A reload sets the new rate with budget_set_rate(). */
int budget_start(unsigned count, double window_s);
struct budget *budget_shared(void);
void budget_shutdown(void);

/* COUNT sends per WINDOW_S seconds; applied when it changes (reload). */
void budget_set_rate(struct budget *b, unsigned count, double window_s);
/* Seconds a slot stays busy after its exchange: the window plus a small
 * margin for clocks. */
double budget_window(const struct budget *b);

/* Asks for one slot for TENANT. Granted at once only when nobody is queued
 * (the queue is fair, arrivals do not overtake it). Without CB: FULL.
 * With CB: QUEUED and *W, and CB(ARG) runs on BASE once a slot is reserved
 * (BASE NULL, for unit tests: CB runs inside budget_pump). RETRY_AFTER gets
 * the estimated wait for FULL, QUEUED and PAUSED. */
enum budget_result budget_acquire(struct budget *b, const char *tenant, double now,
				  struct event_base *base, budget_ready_fn cb, void *arg,
				  struct budget_waiter **w, double *retry_after);
/* A reserved slot was used and its exchange is over (answered, failed or
 * abandoned): logged at NOW, the latest moment the upstream can have
 * counted it, so it frees a window later. */
void budget_used(struct budget *b, double now);
/* A reserved slot was not used; it goes to the next waiter. */
void budget_release(struct budget *b, double now);
/* Withdraws a waiter (same thread that made it); a slot it had been
 * granted but not yet told about is released. */
void budget_wait_cancel(struct budget_waiter *w);
/* Grants the slots that are free at NOW to waiters, round robin over
 * tenants. Runs by itself from timers in the daemon; tests call it. */
void budget_pump(struct budget *b, double now);
/* The longest pause an upstream 429 can impose: a "retry after" of 115
 * days in an error body must not stop reads for 115 days. */
#define BUDGET_PAUSE_MAX 3600
/* The upstream answered 429: nothing is granted for SECS seconds (at most
 * BUDGET_PAUSE_MAX; a longer request is cut and logged). */
void budget_pause(struct budget *b, double now, double secs);
/* Ends a pause now (admin POST /budget/resume) and grants what waits;
 * returns the seconds that were left of it. */
double budget_resume(struct budget *b, double now);
/* Seconds left of a pause, 0 when none. */
double budget_paused_for(struct budget *b, double now);
/* Seconds until a read arriving now would get a slot (queue included). */
double budget_estimate(struct budget *b, double now);

/* ---- shared mode (issue 16): budget_shared.c is the gate ------------------
 * With a gate the fair queue stays here, but slots come from elsewhere:
 * SHARED, each slot is a lease the gate got from Redis (budget_gate_credit);
 * LOCAL_SHARE (Redis down, on_failure = share), the local log with SHARE
 * slots a window, nothing before HOLD_UNTIL; CLOSED, no slot at all (only
 * cached and stale answers). Every send is logged with its lease id, so the
 * gate can re-seed Redis with them. */
enum budget_scope { BUDGET_LOCAL, BUDGET_SHARED, BUDGET_LOCAL_SHARE, BUDGET_CLOSED };
const char *budget_scope_name(enum budget_scope s);
#define BUDGET_LEASE_LEN 48
struct budget_gate {
	void (*kick)(void *arg);   /* any thread, no lock held: the gate has work */
	void (*lease_id)(void *arg, char out[BUDGET_LEASE_LEN]);   /* for a local send */
	void *arg;
};
/* Installs G (copied) and enters SHARED. */
void budget_gate_install(struct budget *b, const struct budget_gate *g);
void budget_gate_remove(struct budget *b);
void budget_set_scope(struct budget *b, enum budget_scope s, unsigned share, double hold_until,
		      double now);
enum budget_scope budget_scope(struct budget *b);
/* What the gate is to do, taken out under the lock: commits of leases
 * (USED re-stamps, else removes), a pause to spread (seconds, 0 none),
 * and whether reads are queued here (ask for the head's slot). */
struct budget_commit {
	char lease[BUDGET_LEASE_LEN];
	bool used;
};
struct budget_gate_work {
	struct budget_commit *commits;   /* the caller frees */
	size_t ncommits;
	double pause_s;
	size_t queued;
};
void budget_gate_take(struct budget *b, struct budget_gate_work *w);
/* A lease granted by Redis: the head of the queue gets it (or it goes
 * back as a commit of an unused lease when nobody waits any more). */
void budget_gate_credit(struct budget *b, const char *lease, double now);
/* Redis said: full until UNTIL (monotonic), or paused for SECS (capped
 * at BUDGET_PAUSE_MAX, as an upstream's). A pause whose key is gone from
 * Redis ends with budget_resume. */
void budget_gate_full_until(struct budget *b, double until);
void budget_gate_paused(struct budget *b, double now, double secs);
/* This instance's sends still in the window: lease ids and ages (s), for
 * a re-seed; the caller frees both arrays. */
size_t budget_gate_sends(struct budget *b, double now, char (**leases)[BUDGET_LEASE_LEN], double **ages);

/* "retry after Ns" anywhere in an upstream error body: N, or -1. */
int budget_parse_retry_after(const char *body, size_t len);
/* The one decision after an upstream 429, for single reads (req.c) and
 * list reads (up_listread.c): B pauses for the longer of the answer's
 * Retry-After header (HEADER_S seconds as up_forward.c read it, -1 none)
 * and a "retry after Ns" in its BODY, or DEFAULT_S (the route's window)
 * when it names neither; budget_pause cuts it at BUDGET_PAUSE_MAX.
 * Returns the seconds asked for, for the caller's log line. */
/* The seconds an upstream 429 asks for, as budget_pause_from_429 reads
 * them, without pausing: what a client is told when the upstream's own
 * Retry-After is missing or unreadable. */
int budget_429_secs(int header_s, const char *body, size_t len, double default_s);
int budget_pause_from_429(struct budget *b, double now, int header_s, const char *body, size_t len,
			  double default_s);

struct budget_stats {
	unsigned limit;
	double window_s;
	unsigned in_window;       /* sends in the current window + reserved */
	unsigned reserved;
	size_t queued;
	double paused_for_s;
	unsigned long long sends, waits, granted_from_queue, pauses;
	enum budget_scope scope;
	unsigned share;            /* LOCAL_SHARE: slots a window */
	unsigned leases;           /* SHARED: leases held (credits + reserved) */
};
void budget_get_stats(struct budget *b, double now, struct budget_stats *out);

/* Admin surface (admin.c): state of the shared budget. */
void budget_stats_json(json_t *o);
/* The window's state in S (limit, window_s, in_window, queued,
 * paused_for_s, pauses) into O: the fields every budget shows, the
 * single-VIN one and the list reads' (up_listread.c). */
void budget_window_json(json_t *o, const struct budget_stats *s);
void budget_metrics(struct evbuffer *b);
#endif
