/* up_listread.h: single-VIN reads answered by filtered list reads (docs/cache.md
 * "List-backed reads").
 *
 * The upstream allows 60 GET /v1/fleets/vehicles/{vin} a minute, but its
 * list route takes a filter {"vin":{"operator":"in","value":[...]}} and
 * answers each vehicle with the single-VIN schema. The batcher gathers the
 * VINs of single-VIN misses for list_batch_window seconds and reads them
 * with one list read, paced by a budget of its own (list_get_rate). A
 * batched VIN is a cache flight whose leader is the batch: the requests
 * that want it wait on the flight as on any other leader, and the batch
 * ends the flight with the vehicle (stored like a single read), or with no
 * answer labelled "LIST-ABSENT" / "LIST-FAILED" (the requests then go to
 * the single-VIN budget), or with a stale entry ("STALE") when the list
 * read failed. The batcher also refreshes, ahead of expiry, the entries
 * that were read during their life (refresh_ahead).
 *
 * One batcher per process; its lock is inside. Its timers and list reads
 * run on the main thread's event base (its own curl multi handle); workers
 * only add VINs. The pure parts (the choice of the way, the refresh time,
 * the filter query, the refresh schedule; the pending set in
 * up_listpending.c) are unit-tested with the clock passed in. */
#ifndef FG_UP_LISTREAD_H
#define FG_UP_LISTREAD_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "cache.h"
#include "conf.h"
#include "up_listpending.h"

/* ---- pure parts ----------------------------------------------------------- */

enum batch_way {
	BATCH_SINGLE,      /* the single-VIN budget (a slot, or its queue) */
	BATCH_TRY_SLOT,    /* auto: a slot if one is free at once, else LIST */
	BATCH_LIST,        /* join the next list read */
};
/* How a single-VIN miss goes upstream. CAN_LIST: the read leads a flight
 * others can join (cacheable, not no-cache) and was not sent back by a
 * list read already. */
enum batch_way up_listread_choose(enum fg_vin_reads mode, bool can_list);

/* When an entry stored at STORED_AT and fresh until FRESH_UNTIL is
 * refreshed: as it enters the last fifth of its life. */
double up_listread_refresh_at(double stored_at, double fresh_until);

/* The most VINs one tenant (and the refreshes) may have waiting for list
 * reads under C: what the list budget carries before such a request's
 * deadline (queue_timeout + timeout), 1,000 at least, 30,000 at most. */
size_t up_listread_share(const struct fg_config *c);

/* "filter=" + the URL-encoded {"vin":{"operator":"in","value":[VINS]}}, a
 * new string (NULL when out of memory). */
char *up_listread_filter_query(char *const *vins, size_t n);

/* VIN -> vehicle object of a list answer (a JSON array, or an object whose
 * "vehicles" is one): a new object, NULL when ANSWER is neither. */
json_t *up_listread_index(json_t *answer);

/* Entries to refresh, earliest first (a binary heap). */
struct batch_due {
	char vin[18];
	double stored_at;        /* which life of the entry */
	double at;
};
struct batch_sched {
	struct batch_due *v;
	size_t n, cap;
};
int up_listread_sched_add(struct batch_sched *s, const char *vin, double stored_at, double at);
/* The earliest entry due at NOW or before into *OUT: true; false when none. */
bool up_listread_sched_pop(struct batch_sched *s, double now, struct batch_due *out);
/* When the earliest entry is due; 0 when the schedule is empty. */
double up_listread_sched_next(const struct batch_sched *s);
void up_listread_sched_free(struct batch_sched *s);

/* ---- the daemon's batcher --------------------------------------------------- */

/* Starts the batcher on BASE (the main loop) with C's settings; -1 when
 * out of memory. */
int up_listread_start(struct event_base *base, const struct fg_config *c);
/* A reload: the new pacing, window, size and refresh setting. */
void up_listread_config_changed(const struct fg_config *c);
/* Ends what runs (waiting requests get no answer and ask again) and frees
 * the batcher; after the workers have stopped. */
void up_listread_stop(void);
/* Hands *F, the flight of VIN's read the caller (of TENANT) leads, to the
 * next list read and leaves the caller waiting on it (*W; CB(ARG, answer,
 * how) runs on BASE). True: *F is the batch's now (set to NULL). False: no
 * batcher runs, TENANT's share of the pending VINs is full, or out of
 * memory; the caller still leads. */
bool up_listread_join(const char *tenant, const char *vin, struct cache_flight **f, struct event_base *base, cache_wake_fn cb, void *arg,
		struct cache_waiter **w);
/* The first hit of an entry's life (STORED_AT .. FRESH_UNTIL) at NOW: it
 * is refreshed ahead of expiry when refresh_ahead is on. */
void up_listread_note_read(const char *vin, double stored_at, double fresh_until, double now);

/* Admin surface. /stats: ROOT's list_reads counters move into
 * budget.list, with the list budget's state (what the status page shows). */
void up_listread_stats_json(json_t *root);
void up_listread_metrics(struct evbuffer *b);
#endif
