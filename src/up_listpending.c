/* up_listpending.c: the VINs waiting for the next list read (see
 * up_listpending.h).
 *
 * Owns the FIFOs (one per tenant with VINs pending, one for refreshes),
 * their round-robin order and their bound. A FIFO is an array with a head
 * offset: appends and takes are O(1) amortised; a prune compacts it. A
 * FIFO that empties is freed, so tenants a reload removed leave nothing
 * behind.
 *
 * Never: lock, touch the cache, or decide whether a flight is still
 * wanted (the prune's callback does). */
#include "up_listpending.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct listpending_q {
	struct batch_item *v;
	size_t head, n, cap;        /* VINs are v[head .. head + n) */
	size_t tried;               /* adds tried since the last prune */
	bool refresh;
	char name[];
};

static bool listpending_is(const struct listpending_q *q, const char *tenant, bool refresh)
{
	return refresh ? q->refresh : !q->refresh && strcmp(q->name, tenant ? tenant : "") == 0;
}

static struct listpending_q *listpending_find(const struct up_listpending *p, const char *tenant, bool refresh)
{
	for (size_t i = 0; i < p->nq; i++)
		if (listpending_is(p->q[i], tenant, refresh))
			return p->q[i];
	return NULL;
}

/* A new FIFO, last in the round (served after every FIFO already there). */
static struct listpending_q *listpending_new(struct up_listpending *p, const char *tenant, bool refresh)
{
	const char *name = refresh || !tenant ? "" : tenant;
	size_t len = strlen(name) + 1;
	struct listpending_q **nv = realloc(p->q, (p->nq + 1) * sizeof *nv);
	if (!nv)
		return NULL;
	p->q = nv;
	struct listpending_q *q = calloc(1, sizeof *q + len);
	if (!q)
		return NULL;
	memcpy(q->name, name, len);
	q->refresh = refresh;
	/* Inserted just before the FIFO served next: it is served last. */
	memmove(p->q + p->turn + 1, p->q + p->turn, (p->nq - p->turn) * sizeof *p->q);
	p->q[p->turn] = q;
	p->nq++;
	p->turn = (p->turn + 1) % p->nq;
	return q;
}

/* Frees the FIFOs that emptied; the round goes on where it was. */
static void listpending_drop_empty(struct up_listpending *p)
{
	for (size_t i = p->nq; i-- > 0;) {
		if (p->q[i]->n)
			continue;
		free(p->q[i]->v);
		free(p->q[i]);
		memmove(p->q + i, p->q + i + 1, (p->nq - i - 1) * sizeof *p->q);
		p->nq--;
		if (i < p->turn)
			p->turn--;
	}
	if (p->turn >= p->nq)
		p->turn = 0;
	if (!p->nq) {
		free(p->q);
		p->q = NULL;
	}
}

int up_listpending_add(struct up_listpending *p, const char *tenant, const char *vin, struct cache_flight *f,
		       bool refresh)
{
	struct listpending_q *q = listpending_find(p, tenant, refresh);
	if (!q && !(q = listpending_new(p, tenant, refresh)))
		return LISTPENDING_NOMEM;
	q->tried++;
	if (p->share && q->n >= p->share)
		return LISTPENDING_FULL;
	if (q->head + q->n == q->cap) {
		if (q->head) {
			memmove(q->v, q->v + q->head, q->n * sizeof *q->v);
			q->head = 0;
		} else {
			size_t cap = q->cap ? q->cap * 2 : 16;
			struct batch_item *v = realloc(q->v, cap * sizeof *v);
			if (!v) {
				listpending_drop_empty(p);
				return LISTPENDING_NOMEM;
			}
			q->v = v;
			q->cap = cap;
		}
	}
	struct batch_item *it = &q->v[q->head + q->n++];
	snprintf(it->vin, sizeof it->vin, "%s", vin);
	it->f = f;
	it->refresh = refresh;
	p->n++;
	return LISTPENDING_OK;
}

bool up_listpending_prune_due(const struct up_listpending *p, const char *tenant)
{
	const struct listpending_q *q = listpending_find(p, tenant, false);
	size_t every = p->share / 8 ? p->share / 8 : 1;
	return q && q->tried >= every;
}

size_t up_listpending_take(struct up_listpending *p, size_t max, struct batch_set *out)
{
	size_t k = p->n < max ? p->n : max;
	out->v = NULL;
	out->n = out->cap = 0;
	if (!k || !(out->v = malloc(k * sizeof *out->v)))
		return 0;
	out->cap = k;
	while (out->n < k) {
		struct listpending_q *q = p->q[p->turn];
		if (q->n) {
			out->v[out->n++] = q->v[q->head++];
			if (!--q->n)
				q->head = 0;
			p->n--;
		}
		p->turn = (p->turn + 1) % p->nq;
	}
	listpending_drop_empty(p);
	return k;
}

void up_listpending_take_all(struct up_listpending *p, struct batch_set *out)
{
	up_listpending_take(p, p->n, out);
}

size_t up_listpending_prune(struct up_listpending *p, const char *tenant,
			    void (*idle)(void *arg, struct batch_item *v, size_t n), void *arg)
{
	size_t gone = 0;
	for (size_t i = 0; i < p->nq; i++) {
		struct listpending_q *q = p->q[i];
		if (q->refresh || (tenant && !listpending_is(q, tenant, false)) || !q->n)
			continue;
		struct batch_item *v = q->v + q->head;
		idle(arg, v, q->n);
		size_t kept = 0;
		for (size_t j = 0; j < q->n; j++)
			if (v[j].f)
				v[kept++] = v[j];
		gone += q->n - kept;
		p->n -= q->n - kept;
		q->n = kept;
		q->tried = 0;
		if (!kept)
			q->head = 0;
	}
	listpending_drop_empty(p);
	return gone;
}

void up_listpending_free(struct up_listpending *p)
{
	for (size_t i = 0; i < p->nq; i++) {
		free(p->q[i]->v);
		free(p->q[i]);
	}
	free(p->q);
	p->q = NULL;
	p->nq = p->turn = p->n = 0;
}

void up_listpending_set_free(struct batch_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
