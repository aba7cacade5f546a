/* check_cache.c: the clearance cache (docs/cache.md) with an injected clock:
 * LRU order and the byte bound, freshness per status, filter-key
 * normalization, the generation rule, coalescing bookkeeping, purge. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include <event2/event.h>
#include "conf.h"
#include "fleetgate.h"

#define VIN_A "EXVETESTVIN000001"
#define VIN_B "EXVETESTVIN000002"
#define VIN_C "EXVETESTVIN000003"

static struct cache_answer *answer(const char *status, double now)
{
	char body[128];
	snprintf(body, sizeof body, "{\"vin\":\"X\",\"status\":\"%s\"}", status);
	return cache_answer_new(200, "application/json", body, strlen(body), NULL, now);
}

/* Leads a flight for KEY and stores an answer in it for TTL seconds. */
static int put(struct cache *c, const char *key, int ttl, size_t max, double now)
{
	struct cache_answer *hit, *a = answer("approved", now);
	struct cache_flight *f;
	struct cache_waiter *w;
	ck_assert_int_eq(cache_lookup(c, key, now, true, &hit, &f, NULL, NULL, NULL, &w), CACHE_LEAD);
	int rc = cache_store(c, f, a, ttl, 100, max, now);
	cache_flight_done(c, f, a, "MISS");
	cache_answer_unref(a);
	return rc;
}

/* Whether KEY is a fresh hit at NOW (ends the flight a miss would start). */
static bool is_hit(struct cache *c, const char *key, double now)
{
	struct cache_answer *hit;
	struct cache_flight *f;
	struct cache_waiter *w;
	enum cache_lookup_result r = cache_lookup(c, key, now, false, &hit, &f, NULL, NULL, NULL, &w);
	if (r == CACHE_LEAD)
		cache_flight_done(c, f, NULL, NULL);
	cache_answer_unref(hit);
	return r == CACHE_HIT;
}

START_TEST(lru_evicts_least_recent_within_bytes)
{
	struct cache *c = cache_new();
	struct cache_answer *a = answer("approved", 0);
	size_t cost = cache_entry_cost(VIN_A, a);
	cache_answer_unref(a);
	size_t max = cost * 2 + cost / 2;   /* room for two entries */
	ck_assert_int_eq(put(c, VIN_A, 60, max, 0), 1);
	ck_assert_int_eq(put(c, VIN_B, 60, max, 1), 1);
	ck_assert(is_hit(c, VIN_A, 2));     /* A is now the most recent */
	ck_assert_int_eq(put(c, VIN_C, 60, max, 3), 1);
	struct cache_stats s;
	cache_get_stats(c, &s);
	ck_assert_uint_eq(s.entries, 2);
	ck_assert_uint_le(s.bytes, max);
	ck_assert_uint_eq(s.bytes, 2 * cost);
	ck_assert_uint_eq(s.evictions, 1);
	ck_assert(is_hit(c, VIN_A, 4));
	ck_assert(!is_hit(c, VIN_B, 4));    /* B was the least recent */
	ck_assert(is_hit(c, VIN_C, 4));
	/* An answer larger than the whole cache is not stored at all. */
	ck_assert_int_eq(put(c, VIN_B, 60, cost - 1, 5), 0);
	cache_free(c);
}
END_TEST

START_TEST(bytes_count_overhead_and_body)
{
	struct cache_answer *small = answer("approved", 0);
	char big[4096];
	memset(big, 'x', sizeof big);
	struct cache_answer *large = cache_answer_new(200, "application/json", big, sizeof big, NULL, 0);
	size_t cs = cache_entry_cost(VIN_A, small), cl = cache_entry_cost(VIN_A, large);
	ck_assert_uint_gt(cs, small->len + sizeof(struct cache_answer));   /* overhead is charged */
	ck_assert_uint_ge(cl - cs, sizeof big - small->len);
	/* Many entries never exceed the bound. */
	struct cache *c = cache_new();
	size_t max = cl * 10;
	char key[18];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "EXVETESTVIN%06d", i);
		struct cache_answer *hit;
		struct cache_flight *f;
		struct cache_waiter *w;
		ck_assert_int_eq(cache_lookup(c, key, i, false, &hit, &f, NULL, NULL, NULL, &w), CACHE_LEAD);
		cache_store(c, f, large, 60, 0, max, i);
		cache_flight_done(c, f, large, "MISS");
		struct cache_stats s;
		cache_get_stats(c, &s);
		ck_assert_uint_le(s.bytes, max);
	}
	cache_answer_unref(small);
	cache_answer_unref(large);
	cache_free(c);
}
END_TEST

START_TEST(freshness_per_status)
{
	struct fg_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.ttl = 60;
	cfg.ttl_list = 30;
	for (int i = 0; i < FG_STATUS_COUNT; i++)
		cfg.ttl_status[i] = -1;
	cfg.ttl_status[FG_STATUS_pending] = 10;
	cfg.ttl_status[FG_STATUS_revoking] = 0;
	ck_assert_int_eq(cache_ttl(&cfg, false, "pending"), 10);
	ck_assert_int_eq(cache_ttl(&cfg, false, "approved"), 60);
	ck_assert_int_eq(cache_ttl(&cfg, false, "revoking"), 0);
	ck_assert_int_eq(cache_ttl(&cfg, false, "no-such-status"), 60);
	ck_assert_int_eq(cache_ttl(&cfg, false, NULL), 60);
	ck_assert_int_eq(cache_ttl(&cfg, true, "pending"), 30);

	struct cache *c = cache_new();
	ck_assert_int_eq(put(c, VIN_A, 10, 1 << 20, 100), 1);
	ck_assert(is_hit(c, VIN_A, 109.9));
	ck_assert(!is_hit(c, VIN_A, 110));              /* expired: a miss */
	struct cache_answer *st = cache_stale(c, VIN_A, 150);
	ck_assert_ptr_nonnull(st);                      /* but still there for stale-if-error */
	ck_assert_double_eq(st->fresh_until, 110);
	ck_assert_double_eq(st->stale_until, 210);      /* put() gives 100 s of stale */
	cache_answer_unref(st);
	ck_assert_ptr_null(cache_stale(c, VIN_A, 210));
	/* ttl 0 and non-200 answers are not stored. */
	ck_assert_int_eq(put(c, VIN_B, 0, 1 << 20, 100), 0);
	struct cache_answer *hit, *e = cache_answer_new(404, "application/json", "{}", 2, NULL, 100);
	struct cache_flight *f;
	struct cache_waiter *w;
	ck_assert_int_eq(cache_lookup(c, VIN_C, 100, false, &hit, &f, NULL, NULL, NULL, &w), CACHE_LEAD);
	ck_assert_int_eq(cache_store(c, f, e, 60, 0, 1 << 20, 100), 0);
	cache_flight_done(c, f, e, "MISS");
	cache_answer_unref(e);
	cache_free(c);
}
END_TEST

/* The key is the filter as req_query.c parsed it (its normalization is
 * tested in check_req_route.c): two filters that parse alike share a key. */
START_TEST(filter_keys_are_normalized)
{
	char *a = cache_list_key("{\"brand\":\"bmw\",\"status\":{\"in\":[\"approved\"]}}");
	ck_assert_str_eq(a, "list:{\"brand\":\"bmw\",\"status\":{\"in\":[\"approved\"]}}");
	ck_assert(cache_key_is_list(a));
	char *none = cache_list_key(NULL);
	ck_assert_str_eq(none, "list:");
	ck_assert(cache_key_is_list(none));
	ck_assert(!cache_key_is_list(VIN_A));
	char *other = cache_list_key("{\"brand\":\"vw\"}");
	ck_assert_str_ne(other, a);
	free(a);
	free(none);
	free(other);
}
END_TEST

START_TEST(store_after_invalidation_is_refused)
{
	struct cache *c = cache_new();
	struct cache_answer *hit, *a = answer("approved", 0);
	struct cache_flight *f, *f2, *fl;
	struct cache_waiter *w;
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &f, NULL, NULL, NULL, &w), CACHE_LEAD);
	ck_assert_int_eq(cache_lookup(c, "list:", 0, false, &hit, &fl, NULL, NULL, NULL, &w), CACHE_LEAD);
	/* A DELETE of VIN_B invalidates every list, but not VIN_A's read. */
	char *vb[] = { VIN_B };
	cache_invalidate(c, vb, 1);
	/* A DELETE of VIN_A while its read is in flight. */
	char *va[] = { VIN_A };
	cache_invalidate(c, va, 1);
	/* A read arriving now starts its own flight instead of joining. */
	ck_assert_int_eq(cache_lookup(c, VIN_A, 1, false, &hit, &f2, NULL, NULL, NULL, &w), CACHE_LEAD);
	ck_assert_int_eq(cache_store(c, f, a, 60, 0, 1 << 20, 2), 0);   /* older answer: refused */
	ck_assert_ptr_null(cache_stale(c, VIN_A, 2));
	ck_assert_int_eq(cache_store(c, fl, a, 60, 0, 1 << 20, 2), 0);  /* list too */
	struct cache_answer *b = answer("revoking", 2);
	ck_assert_int_eq(cache_store(c, f2, b, 60, 0, 1 << 20, 2), 1);  /* newer: stored */
	cache_flight_done(c, f, a, "MISS");
	cache_flight_done(c, fl, a, "MISS");
	cache_flight_done(c, f2, b, "MISS");
	ck_assert(is_hit(c, VIN_A, 3));
	/* A later invalidation drops the entry; a flight begun after it stores. */
	ck_assert_int_eq(cache_invalidate(c, va, 1), 1);
	ck_assert_int_eq(put(c, VIN_A, 60, 1 << 20, 4), 1);
	struct cache_stats s;
	cache_get_stats(c, &s);
	ck_assert_uint_eq(s.invalidations, 3);
	ck_assert_uint_eq(s.flights, 0);
	cache_answer_unref(a);
	cache_answer_unref(b);
	cache_free(c);
}
END_TEST

/* Runs BASE until the waiters' events have run. */
static void run_base(struct event_base *base)
{
	while (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) > 0)
		event_base_loop(base, EVLOOP_ONCE);
}

static int woken;
static int woken_status;
static const char *woken_how;

static void wake(void *arg, struct cache_answer *a, const char *how)
{
	(void)arg;
	woken++;
	woken_status = a ? a->status : -1;
	woken_how = how;
	cache_answer_unref(a);
}

START_TEST(coalescing_bookkeeping)
{
	struct event_base *base = event_base_new();
	struct cache *c = cache_new();
	struct cache_answer *hit;
	struct cache_flight *f, *g;
	struct cache_waiter *w[5];
	woken = 0;
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &f, base, wake, NULL, &w[0]), CACHE_LEAD);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &g, base, wake, NULL, &w[i]), CACHE_WAIT);
	/* A no-cache read does not join: it leads a flight of its own. */
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, true, &hit, &g, base, wake, NULL, &w[0]), CACHE_LEAD);
	struct cache_stats s;
	cache_get_stats(c, &s);
	ck_assert_uint_eq(s.flights, 2);
	ck_assert_uint_eq(s.waiters, 5);
	cache_wait_cancel(w[4]);   /* its client went away */
	/* The leader's answer is a 404: not stored, but shared. */
	struct cache_answer *nf = cache_answer_new(404, "application/json", "{}", 2, NULL, 0);
	ck_assert_int_eq(cache_store(c, f, nf, 60, 0, 1 << 20, 0), 0);
	cache_flight_done(c, f, nf, "MISS");
	ck_assert_int_eq(woken, 0);   /* each waiter runs on its own base */
	run_base(base);
	ck_assert_int_eq(woken, 4);
	ck_assert_int_eq(woken_status, 404);
	ck_assert_str_eq(woken_how, "MISS");
	cache_flight_done(c, g, NULL, NULL);
	cache_get_stats(c, &s);
	ck_assert_uint_eq(s.flights, 0);
	ck_assert_uint_eq(s.waiters, 0);
	/* A leader that leaves nothing wakes its waiters with NULL. */
	ck_assert_int_eq(cache_lookup(c, VIN_B, 0, false, &hit, &f, base, wake, NULL, &w[0]), CACHE_LEAD);
	ck_assert_int_eq(cache_lookup(c, VIN_B, 0, false, &hit, &g, base, wake, NULL, &w[0]), CACHE_WAIT);
	cache_flight_done(c, f, NULL, NULL);
	run_base(base);
	ck_assert_int_eq(woken, 5);
	ck_assert_int_eq(woken_status, -1);
	/* Waiters per key are capped. */
	ck_assert_int_eq(cache_lookup(c, VIN_C, 0, false, &hit, &f, base, wake, NULL, &w[0]), CACHE_LEAD);
	for (int i = 0; i < CACHE_MAX_WAITERS; i++)
		ck_assert_int_eq(cache_lookup(c, VIN_C, 0, false, &hit, &g, base, wake, NULL, &w[0]), CACHE_WAIT);
	ck_assert_int_eq(cache_lookup(c, VIN_C, 0, false, &hit, &g, base, wake, NULL, &w[0]), CACHE_BUSY);
	woken = 0;
	struct cache_answer *ok = answer("approved", 0);
	ck_assert_int_eq(cache_store(c, f, ok, 60, 0, 1 << 20, 0), 1);
	cache_flight_done(c, f, ok, "MISS");
	run_base(base);
	ck_assert_int_eq(woken, CACHE_MAX_WAITERS);
	ck_assert_int_eq(woken_status, 200);
	ck_assert(is_hit(c, VIN_C, 1));
	cache_answer_unref(ok);
	cache_answer_unref(nf);
	cache_free(c);
	event_base_free(base);
}
END_TEST

/* A waiter withdrawn after its leader woke it (its request timed out or
 * its client hung up in between) does not run, and gives back its
 * reference to the answer. */
START_TEST(waiter_withdrawn_after_wake_is_dropped)
{
	struct event_base *base = event_base_new();
	struct cache *c = cache_new();
	struct cache_answer *hit;
	struct cache_flight *f, *g;
	struct cache_waiter *w, *kept;
	woken = 0;
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &f, base, wake, NULL, &w), CACHE_LEAD);
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &g, base, wake, NULL, &w), CACHE_WAIT);
	ck_assert_int_eq(cache_lookup(c, VIN_A, 0, false, &hit, &g, base, wake, NULL, &kept), CACHE_WAIT);
	struct cache_answer *nf = cache_answer_new(404, "application/json", "{}", 2, NULL, 0);
	cache_flight_done(c, f, nf, "MISS");
	ck_assert_int_eq(atomic_load(&nf->refs), 3);   /* ours and one per waiter */
	cache_wait_cancel(w);
	run_base(base);
	ck_assert_int_eq(woken, 1);                    /* only the one kept */
	ck_assert_int_eq(atomic_load(&nf->refs), 1);
	cache_answer_unref(nf);
	cache_free(c);
	event_base_free(base);
}
END_TEST

START_TEST(purge_by_vin_and_everything)
{
	ck_assert_int_eq(cache_start(), 0);
	struct cache *c = cache_shared();
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(put(c, VIN_A, 60, 1 << 20, 0), 1);
	ck_assert_int_eq(put(c, VIN_B, 60, 1 << 20, 0), 1);
	ck_assert_int_eq(put(c, "list:", 60, 1 << 20, 0), 1);
	ck_assert_int_eq(cache_purge("not-a-vin"), -1);
	ck_assert_int_eq(cache_purge("exvetestvin000001"), 2);   /* the VIN and the list */
	ck_assert(!is_hit(c, VIN_A, 1));
	ck_assert(is_hit(c, VIN_B, 1));
	ck_assert_int_eq(cache_purge(NULL), 1);
	ck_assert(!is_hit(c, VIN_B, 1));
	json_t *o = json_object();
	cache_stats_json(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "entries")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "invalidations")), 2);
	json_decref(o);
	cache_shutdown();
}
END_TEST

/* Issue 22 item 3: a create naming many VINs while many flights run costs
 * what it names, not VINs x flights (nor a walk of every entry for the
 * lists): every flight of a named VIN and every list flight is
 * invalidated, no other. */
START_TEST(invalidation_work_is_linear_in_the_vins_named)
{
	enum { FLIGHTS = 3000, ENTRIES = 3000, NAMED = 6000, LISTS = 5 };
	struct cache *c = cache_new();
	struct cache_flight **f = calloc(FLIGHTS + LISTS, sizeof *f);
	char (*keys)[18] = calloc(NAMED + ENTRIES + FLIGHTS, sizeof *keys);
	char **named = calloc(NAMED, sizeof *named);
	struct cache_answer *hit;
	struct cache_waiter *w;
	for (int i = 0; i < ENTRIES; i++) {
		snprintf(keys[NAMED + i], 18, "EXVEENTRY%08d", i);
		ck_assert_int_eq(put(c, keys[NAMED + i], 60, 1 << 30, 10), 1);
	}
	for (int i = 0; i < NAMED; i++) {
		snprintf(keys[i], 18, "EXVEFLIGHT%07d", i);
		named[i] = keys[i];
	}
	/* Flights for the even named VINs, and as many of VINs nobody names. */
	for (int i = 0; i < FLIGHTS; i++) {
		char *k = keys[i];
		if (i % 2) {
			k = keys[NAMED + ENTRIES + i];
			snprintf(k, 18, "EXVEOTHER%08d", i);
		}
		ck_assert_int_eq(cache_lookup(c, k, 10, false, &hit, &f[i], NULL, NULL, NULL, &w), CACHE_LEAD);
	}
	for (int i = 0; i < LISTS; i++) {
		char fk[32];
		snprintf(fk, sizeof fk, "list:{\"n\":%d}", i);
		ck_assert_int_eq(cache_lookup(c, fk, 10, false, &hit, &f[FLIGHTS + i], NULL, NULL, NULL, &w),
				 CACHE_LEAD);
	}
	struct cache_stats s0, s1;
	cache_get_stats(c, &s0);
	cache_invalidate(c, named, NAMED);
	cache_invalidate(c, named, NAMED);   /* twice, as a create is */
	cache_get_stats(c, &s1);
	unsigned long long work = s1.inval_work - s0.inval_work;
	ck_assert_msg(work <= 2ULL * 4 * (NAMED + LISTS), "invalidating %d VINs twice looked at %llu things",
		      (int)NAMED, work);
	/* The named flights and the lists may not store; the others may. */
	for (int i = 0; i < FLIGHTS + LISTS; i++) {
		struct cache_answer *a = answer("approved", 11);
		bool stopped = i >= FLIGHTS || i % 2 == 0;
		ck_assert_int_eq(cache_store(c, f[i], a, 60, 0, 1 << 30, 11), stopped ? 0 : 1);
		cache_flight_done(c, f[i], a, "MISS");
		cache_answer_unref(a);
	}
	ck_assert(is_hit(c, keys[NAMED], 12));   /* an entry nobody named stays */
	free(named);
	free(f);
	free(keys);
	cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, lru_evicts_least_recent_within_bytes);
	tcase_add_test(tc, bytes_count_overhead_and_body);
	tcase_add_test(tc, freshness_per_status);
	tcase_add_test(tc, filter_keys_are_normalized);
	tcase_add_test(tc, store_after_invalidation_is_refused);
	tcase_add_test(tc, coalescing_bookkeeping);
	tcase_add_test(tc, waiter_withdrawn_after_wake_is_dropped);
	tcase_add_test(tc, purge_by_vin_and_everything);
	tcase_add_test(tc, invalidation_work_is_linear_in_the_vins_named);
	suite_add_tcase(s, tc);
	return check_run(s);
}
