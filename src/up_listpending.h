/* up_listpending.h: the VINs waiting for the next list read (docs/cache.md
 * "Fair and bounded").
 *
 * One FIFO per tenant, and one for refreshes ahead, served round robin as
 * the single-read queue of budget.c is: a tenant with 1000 VINs pending and
 * a tenant with one share each list read alike. Each FIFO holds at most a
 * share of VINs; a VIN beyond it is refused (its request goes to a single
 * read, a refresh is skipped). VINs nobody waits for any more leave when
 * they are pruned, so they never hold a list slot.
 *
 * Pure: no lock, no cache, no clock. up_listread.c holds its lock around
 * every call and ends the flights (the IDLE callback of the prune). */
#ifndef FG_UP_LISTPENDING_H
#define FG_UP_LISTPENDING_H
#include <stdbool.h>
#include <stddef.h>

struct cache_flight;

/* A VIN waiting for a list read, with the flight the list read leads. */
struct batch_item {
	char vin[18];
	struct cache_flight *f;
	bool refresh;            /* a refresh ahead, not a request's miss */
};
/* VINs taken for one list read, in the order they go into its filter. */
struct batch_set {
	struct batch_item *v;
	size_t n, cap;
};

struct listpending_q;
struct up_listpending {
	struct listpending_q **q;   /* FIFOs holding VINs, in round-robin order */
	size_t nq, turn;            /* turn: the FIFO served first next */
	size_t n;                   /* VINs in all of them */
	size_t share;               /* most VINs one FIFO holds; 0: no bound */
};

enum {
	LISTPENDING_OK = 0,
	LISTPENDING_NOMEM = -1,
	LISTPENDING_FULL = -2,      /* TENANT's FIFO (or the refreshes') holds its share */
};
/* Appends VIN (flight F) to TENANT's FIFO, or to the refreshes' when
 * REFRESH (TENANT is then ignored). */
int up_listpending_add(struct up_listpending *p, const char *tenant, const char *vin, struct cache_flight *f,
		       bool refresh);
/* After LISTPENDING_FULL: whether TENANT's FIFO is worth pruning again.
 * True once an eighth of its share of adds was tried since it was last
 * pruned, so a tenant whose VINs are all still wanted costs O(1) a refusal. */
bool up_listpending_prune_due(const struct up_listpending *p, const char *tenant);
/* Moves up to MAX VINs into OUT (empty), one from each FIFO in turn,
 * starting with the FIFO after the one served last. Returns how many. */
size_t up_listpending_take(struct up_listpending *p, size_t max, struct batch_set *out);
/* Every VIN into OUT; the set is left empty. */
void up_listpending_take_all(struct up_listpending *p, struct batch_set *out);
/* Calls IDLE(ARG, V, N) with the requests' VINs of TENANT's FIFO (NULL:
 * every tenant's; never the refreshes', which nobody waits for by design).
 * IDLE ends the flights nobody waits for and sets their f to NULL; those
 * VINs leave. Returns how many left. */
size_t up_listpending_prune(struct up_listpending *p, const char *tenant,
			    void (*idle)(void *arg, struct batch_item *v, size_t n), void *arg);
void up_listpending_free(struct up_listpending *p);
void up_listpending_set_free(struct batch_set *s);
#endif
