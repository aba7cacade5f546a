/* req_listfilter.c: list answers split into per-vehicle texts, filtered by VIN
 * set lookups, with a small per-tenant memo. Thread-safe: the split is
 * immutable after req_listfilter_new; the memo has its own lock, held only to
 * find or install a reference-counted result.
 *
 * The memo is bounded in bytes, not only in slots: it holds at most
 * LV_MEMO_COPIES full copies' worth of filtered texts (and their tenant
 * names), which is what req_listfilter_cost charges the cache for it, so
 * [cache] max_bytes bounds every byte a cached list holds however many
 * tenants read it. A text that does not fit evicts older ones. */
#include "req_listfilter.h"
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"
#include "fleetgate.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#define LV_MEMO_SLOTS 8
/* A string standing in for the array while the frame is dumped, and its
 * text in the dump (jansson writes \001 as \u0001). */
#define LV_MARK_RAW "\001fleetgate-list-%016llx\001"
#define LV_MARK_JSON "\"\\u0001fleetgate-list-%016llx\\u0001\""
#define LV_MEMO_COPIES 2     /* the memo's byte budget, in full copies */
#define LV_ALLOC_OVERHEAD 16 /* malloc's per-block bookkeeping, roughly */

struct lv_item {
	size_t off, len;
	char vin[FG_VIN_LEN + 1];   /* "" when the element has no valid VIN */
};

/* One filtered result: shared by every reply that sends it. */
struct lv_text {
	atomic_int refs;
	size_t len;
	char data[];
};

struct lv_memo {
	unsigned generation;
	char *tenant;
	struct lv_text *text;
	size_t bytes;               /* text and name, as charged */
};

struct listview {
	char *prefix, *suffix;      /* around the array's elements */
	size_t nprefix, nsuffix;
	char *text;                 /* element texts, back to back */
	size_t ntext;
	struct lv_item *items;
	size_t n;
	pthread_mutex_t mu;
	struct lv_memo memo[LV_MEMO_SLOTS];
	unsigned next_slot;
	size_t memo_bytes;          /* held by the memo now: at most lv_memo_budget */
};

static void lv_text_unref(struct lv_text *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

static void lv_text_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	lv_text_unref(arg);
}

/* Splits the dump S of the answer, where the array stood as the JSON
 * string MARK, into prefix and suffix. 1 when MARK is not there exactly
 * once (another member holds the same text: try another marker). */
static int lv_frame_at(struct listview *v, const char *s, const char *mark)
{
	char *m = strstr(s, mark);
	size_t ml = strlen(mark);
	if (!m || strstr(m + ml, mark))
		return 1;
	size_t np = (size_t)(m - s), ns = strlen(m + ml);
	v->prefix = malloc(np + 2);
	v->suffix = malloc(ns + 2);
	if (!v->prefix || !v->suffix)
		return -1;
	memcpy(v->prefix, s, np);
	memcpy(v->prefix + np, "[", 2);
	v->suffix[0] = ']';
	memcpy(v->suffix + 1, m + ml, ns + 1);
	return 0;
}

/* The errors of an error answer in docs/http.md's shape: each error's
 * string title, detail and source, nothing else. */
static json_t *lv_errors(json_t *errors)
{
	static const char *const keep[] = { "title", "detail", "source" };
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(errors, i, e) {
		json_t *one = json_is_object(e) ? json_object() : NULL;
		for (size_t k = 0; one && k < sizeof keep / sizeof *keep; k++)
			if (json_is_string(json_object_get(e, keep[k])))
				json_object_set(one, keep[k], json_object_get(e, keep[k]));
		if (one)
			json_array_append_new(out, one);
	}
	return out;
}

/* Prefix and suffix: the answer's text around its array. An object keeps
 * only what fleetgate knows how to filter — `vehicles` (filtered per
 * tenant) and `errors` (reduced to the error shape) — since any other
 * member (a count, a page, a list under another name) could tell a tenant
 * about vehicles it may not see; an object without `vehicles` is all
 * prefix. The text is found by dumping that object with a marker where
 * the array stands. An error's text could hold the marker's text, so the
 * marker must be found exactly once; the later tries are random, which no
 * answer can foresee. */
static int lv_frame(struct listview *v, json_t *answer)
{
	if (json_is_array(answer)) {
		v->prefix = strdup("[");
		v->suffix = strdup("]");
	} else {
		json_t *safe = json_object(), *errors = json_object_get(answer, "errors");
		bool list = json_is_array(json_object_get(answer, "vehicles"));
		if (safe && json_is_array(errors))
			json_object_set_new(safe, "errors", lv_errors(errors));
		if (safe && !list) {
			v->prefix = json_dumps(safe, JSON_COMPACT | JSON_PRESERVE_ORDER);
			v->suffix = strdup("");
		}
		int rc = 1;
		for (int attempt = 0; safe && list && rc == 1 && attempt < 8; attempt++) {
			unsigned long long r = 0;
			if (attempt > 0 && RAND_bytes((unsigned char *)&r, sizeof r) != 1)
				break;
			char raw[64], mark[80];
			snprintf(raw, sizeof raw, LV_MARK_RAW, r);
			snprintf(mark, sizeof mark, LV_MARK_JSON, r);
			char *text = NULL;
			if (json_object_set_new(safe, "vehicles", json_string(raw)) == 0)
				text = json_dumps(safe, JSON_COMPACT | JSON_PRESERVE_ORDER);
			rc = text ? lv_frame_at(v, text, mark) : -1;
			free(text);
		}
		json_decref(safe);
	}
	if (!v->prefix || !v->suffix)
		return -1;
	v->nprefix = strlen(v->prefix);
	v->nsuffix = strlen(v->suffix);
	return 0;
}

static int lv_split(struct listview *v, json_t *arr)
{
	size_t n = json_array_size(arr), cap = 4096;
	v->items = calloc(n ? n : 1, sizeof *v->items);
	v->text = malloc(cap);
	if (!v->items || !v->text)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *el = json_array_get(arr, i);
		char *s = json_dumps(el, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (!s)
			return -1;
		size_t len = strlen(s);
		while (v->ntext + len > cap) {
			char *p = realloc(v->text, cap * 2);
			if (!p) {
				free(s);
				return -1;
			}
			v->text = p;
			cap *= 2;
		}
		memcpy(v->text + v->ntext, s, len);
		free(s);
		struct lv_item *it = &v->items[i];
		it->off = v->ntext;
		it->len = len;
		json_t *vin = json_object_get(el, "vin");
		if (!json_is_string(vin) ||
		    !vin_normalize(json_string_value(vin), json_string_length(vin), it->vin))
			it->vin[0] = 0;
		v->ntext += len;
	}
	v->n = n;
	/* Give back the doubling's slack: req_listfilter_cost charges ntext. */
	char *fit = realloc(v->text, v->ntext ? v->ntext : 1);
	if (fit)
		v->text = fit;
	return 0;
}

struct listview *req_listfilter_new(json_t *answer)
{
	json_t *arr = json_is_array(answer) ? answer : json_object_get(answer, "vehicles");
	if (!json_is_object(answer) && !json_is_array(answer))
		return NULL;
	struct listview *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	pthread_mutex_init(&v->mu, NULL);
	if (lv_frame(v, answer) < 0 || lv_split(v, arr) < 0) {
		req_listfilter_free(v);
		return NULL;
	}
	return v;
}

void req_listfilter_free(struct listview *v)
{
	if (!v)
		return;
	for (int i = 0; i < LV_MEMO_SLOTS; i++) {
		free(v->memo[i].tenant);
		lv_text_unref(v->memo[i].text);
	}
	pthread_mutex_destroy(&v->mu);
	free(v->prefix);
	free(v->suffix);
	free(v->text);
	free(v->items);
	free(v);
}

/* What the memo may hold: LV_MEMO_COPIES unfiltered texts (the largest a
 * filtered one can be) with a tenant name of up to 64 bytes each. */
static size_t lv_memo_budget(const struct listview *v)
{
	size_t full = sizeof(struct lv_text) + v->nprefix + v->nsuffix + v->ntext + v->n + 1;
	return LV_MEMO_COPIES * (full + 64 + 2 * LV_ALLOC_OVERHEAD);
}

size_t req_listfilter_cost(const struct listview *v)
{
	return sizeof *v + v->nprefix + v->nsuffix + v->ntext + v->n * sizeof *v->items +
	       4 * LV_ALLOC_OVERHEAD + lv_memo_budget(v);
}

size_t req_listfilter_memo_bytes(struct listview *v)
{
	pthread_mutex_lock(&v->mu);
	size_t n = v->memo_bytes;
	pthread_mutex_unlock(&v->mu);
	return n;
}

/* The filtered text for T, built from the split: one lookup per element. */
static struct lv_text *lv_build(const struct listview *v, const struct fg_tenant *t)
{
	bool all = vinset_allows_all(t->vins);
	size_t len = v->nprefix + v->nsuffix;
	for (size_t i = 0; i < v->n; i++)
		if (all || (v->items[i].vin[0] && req_policy_allows_vin(t, v->items[i].vin)))
			len += v->items[i].len + 1;
	struct lv_text *out = malloc(sizeof *out + len + 1);
	if (!out)
		return NULL;
	atomic_init(&out->refs, 1);
	char *p = out->data;
	memcpy(p, v->prefix, v->nprefix);
	p += v->nprefix;
	bool first = true;
	for (size_t i = 0; i < v->n; i++) {
		const struct lv_item *it = &v->items[i];
		if (!all && (!it->vin[0] || !req_policy_allows_vin(t, it->vin)))
			continue;
		if (!first)
			*p++ = ',';
		first = false;
		memcpy(p, v->text + it->off, it->len);
		p += it->len;
	}
	memcpy(p, v->suffix, v->nsuffix);
	p += v->nsuffix;
	out->len = (size_t)(p - out->data);
	return out;
}

static struct lv_text *lv_memo_get(struct listview *v, const char *tenant, unsigned gen)
{
	struct lv_text *t = NULL;
	pthread_mutex_lock(&v->mu);
	for (int i = 0; i < LV_MEMO_SLOTS && !t; i++)
		if (v->memo[i].text && v->memo[i].generation == gen && strcmp(v->memo[i].tenant, tenant) == 0) {
			t = v->memo[i].text;
			atomic_fetch_add(&t->refs, 1);
		}
	pthread_mutex_unlock(&v->mu);
	return t;
}

static void lv_memo_clear(struct listview *v, struct lv_memo *m)
{
	free(m->tenant);
	lv_text_unref(m->text);
	v->memo_bytes -= m->bytes;
	*m = (struct lv_memo){ 0 };
}

static void lv_memo_put(struct listview *v, const char *tenant, unsigned gen, struct lv_text *t)
{
	size_t cost = sizeof *t + t->len + 1 + strlen(tenant) + 1 + 2 * LV_ALLOC_OVERHEAD;
	size_t budget = lv_memo_budget(v);
	if (cost > budget)
		return;   /* a name longer than the budget allows: not remembered */
	char *name = strdup(tenant);
	if (!name)
		return;
	pthread_mutex_lock(&v->mu);
	/* Oldest first (round robin) until the text fits in the budget. */
	struct lv_memo *m = &v->memo[v->next_slot++ % LV_MEMO_SLOTS];
	lv_memo_clear(v, m);
	for (unsigned k = 0; k < LV_MEMO_SLOTS && v->memo_bytes + cost > budget; k++)
		lv_memo_clear(v, &v->memo[(v->next_slot + k) % LV_MEMO_SLOTS]);
	m->tenant = name;
	m->generation = gen;
	atomic_fetch_add(&t->refs, 1);
	m->text = t;
	m->bytes = cost;
	v->memo_bytes += cost;
	pthread_mutex_unlock(&v->mu);
}

int req_listfilter_render(struct listview *v, const struct fg_tenant *t, unsigned generation,
		    struct evbuffer *out)
{
	/* Keyed by generation and name, never by the tenant's address: a
	 * freed tenant's memory may hold another tenant after a reload. */
	struct lv_text *text = lv_memo_get(v, t->name, generation);
	if (!text) {
		text = lv_build(v, t);
		if (!text)
			return -1;
		lv_memo_put(v, t->name, generation, text);
	}
	if (evbuffer_add_reference(out, text->data, text->len, lv_text_cleanup, text) < 0) {
		lv_text_unref(text);
		return -1;
	}
	return 0;
}
