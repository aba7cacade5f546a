/* check_up_listread.c: the pure parts of list-backed reads (up_listread.c) with the
 * clock passed in: the choice of the way per vin_reads, the refresh time
 * and schedule, the pending set (up_listpending.c: split at list_batch_max,
 * round robin across tenants, bounded, abandoned VINs dropped), the filter query,
 * the index of a list answer, and the cache side of a batch (a flight whose
 * leader is the batch, coalescing, refresh flights). */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include "up_listread.h"
#include "cache.h"

START_TEST(way_follows_vin_reads)
{
	ck_assert_int_eq(up_listread_choose(FG_VIN_READS_SINGLE, true), BATCH_SINGLE);
	ck_assert_int_eq(up_listread_choose(FG_VIN_READS_LIST, true), BATCH_LIST);
	ck_assert_int_eq(up_listread_choose(FG_VIN_READS_AUTO, true), BATCH_TRY_SLOT);
	/* not joinable (no-cache, not cacheable) or sent back by a list read */
	ck_assert_int_eq(up_listread_choose(FG_VIN_READS_LIST, false), BATCH_SINGLE);
	ck_assert_int_eq(up_listread_choose(FG_VIN_READS_AUTO, false), BATCH_SINGLE);
}
END_TEST

START_TEST(refresh_in_the_last_fifth)
{
	ck_assert(fabs(up_listread_refresh_at(100, 160) - 148) < 1e-9);
	ck_assert(fabs(up_listread_refresh_at(0, 3) - 2.4) < 1e-9);
	ck_assert(up_listread_refresh_at(10, 10) == 10);
}
END_TEST

START_TEST(schedule_pops_what_is_due_in_order)
{
	struct batch_sched s = { 0 };
	struct batch_due d;
	double at[] = { 50, 10, 30, 20, 40, 10.5 };
	char vin[18];
	for (int i = 0; i < 6; i++) {
		snprintf(vin, sizeof vin, "VIN%014d", i);
		ck_assert_int_eq(up_listread_sched_add(&s, vin, i, at[i]), 0);
	}
	ck_assert(up_listread_sched_next(&s) == 10);
	ck_assert(!up_listread_sched_pop(&s, 9.99, &d));   /* nothing due yet */
	ck_assert(up_listread_sched_pop(&s, 25, &d));
	ck_assert_str_eq(d.vin, "VIN00000000000001");
	ck_assert(d.stored_at == 1 && d.at == 10);
	ck_assert(up_listread_sched_pop(&s, 25, &d));
	ck_assert(d.at == 10.5);
	ck_assert(up_listread_sched_pop(&s, 25, &d));
	ck_assert(d.at == 20);
	ck_assert(!up_listread_sched_pop(&s, 25, &d));
	ck_assert(up_listread_sched_next(&s) == 30);
	ck_assert(up_listread_sched_pop(&s, 1000, &d) && d.at == 30);
	ck_assert(up_listread_sched_pop(&s, 1000, &d) && d.at == 40);
	ck_assert(up_listread_sched_pop(&s, 1000, &d) && d.at == 50);
	ck_assert(up_listread_sched_next(&s) == 0);
	up_listread_sched_free(&s);
}
END_TEST

START_TEST(pending_set_splits_at_the_maximum)
{
	struct up_listpending p = { 0 };
	struct batch_set out;
	char vin[18];
	for (int i = 0; i < 250; i++) {
		snprintf(vin, sizeof vin, "VIN%014d", i);
		ck_assert_int_eq(up_listpending_add(&p, "t", vin, NULL, false), LISTPENDING_OK);
	}
	ck_assert_uint_eq(up_listpending_take(&p, 100, &out), 100);
	ck_assert_str_eq(out.v[0].vin, "VIN00000000000000");
	ck_assert_str_eq(out.v[99].vin, "VIN00000000000099");
	up_listpending_set_free(&out);
	ck_assert_uint_eq(up_listpending_take(&p, 100, &out), 100);
	ck_assert_str_eq(out.v[0].vin, "VIN00000000000100");
	up_listpending_set_free(&out);
	ck_assert_uint_eq(up_listpending_take(&p, 100, &out), 50);
	ck_assert_str_eq(out.v[49].vin, "VIN00000000000249");
	up_listpending_set_free(&out);
	ck_assert_uint_eq(up_listpending_take(&p, 100, &out), 0);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_uint_eq(p.nq, 0);   /* empty FIFOs are freed */
	up_listpending_free(&p);
}
END_TEST

/* Issue 22 item 1: round robin across tenants, as budget.c's queue. A
 * tenant with 1000 VINs pending and one with a single VIN share a list
 * read alike; refreshes are a FIFO of their own in the round. */
START_TEST(pending_set_is_round_robin_across_tenants)
{
	struct up_listpending p = { 0 };
	struct batch_set out;
	char vin[18];
	for (int i = 0; i < 1000; i++) {
		snprintf(vin, sizeof vin, "BULK%013d", i);
		ck_assert_int_eq(up_listpending_add(&p, "bulk", vin, NULL, false), LISTPENDING_OK);
	}
	ck_assert_int_eq(up_listpending_add(&p, "one", "ONE00000000000001", NULL, false), LISTPENDING_OK);
	ck_assert_int_eq(up_listpending_add(&p, NULL, "REF00000000000001", NULL, true), LISTPENDING_OK);
	ck_assert_int_eq(up_listpending_add(&p, NULL, "REF00000000000002", NULL, true), LISTPENDING_OK);
	ck_assert_uint_eq(up_listpending_take(&p, 5, &out), 5);
	ck_assert_str_eq(out.v[0].vin, "BULK0000000000000");
	ck_assert_str_eq(out.v[1].vin, "ONE00000000000001");
	ck_assert_str_eq(out.v[2].vin, "REF00000000000001");
	ck_assert(out.v[2].refresh && !out.v[1].refresh);
	ck_assert_str_eq(out.v[3].vin, "BULK0000000000001");
	ck_assert_str_eq(out.v[4].vin, "REF00000000000002");
	up_listpending_set_free(&out);
	/* The round goes on where it stopped: one's new VIN comes next to bulk's. */
	ck_assert_int_eq(up_listpending_add(&p, "one", "ONE00000000000002", NULL, false), LISTPENDING_OK);
	ck_assert_uint_eq(up_listpending_take(&p, 3, &out), 3);
	ck_assert_str_eq(out.v[0].vin, "BULK0000000000002");
	ck_assert_str_eq(out.v[1].vin, "ONE00000000000002");
	ck_assert_str_eq(out.v[2].vin, "BULK0000000000003");
	up_listpending_set_free(&out);
	ck_assert_uint_eq(p.n, 996);
	up_listpending_free(&p);
}
END_TEST

static int woken, woken_list;

static void wake(void *arg, struct cache_answer *a, const char *how)
{
	(void)arg;
	woken++;
	woken_list += how && strcmp(how, "LIST") == 0;
	cache_answer_unref(a);
}

static struct cache *cache_test;

/* The batcher's prune callback, as up_listread.c has it. */
static void idle_cb(void *arg, struct batch_item *v, size_t n)
{
	size_t *calls = arg;
	struct cache_flight **fv = calloc(n, sizeof *fv);
	for (size_t i = 0; i < n; i++)
		fv[i] = v[i].f;
	cache_flights_end_idle(cache_test, fv, n);
	for (size_t i = 0; i < n; i++)
		v[i].f = fv[i];
	free(fv);
	(*calls)++;
}

/* Each tenant holds at most its share; VINs nobody waits for leave when
 * pruned, those still wanted stay; refreshes (nobody waits for them by
 * design) are never pruned, within a share of their own. */
START_TEST(pending_set_is_bounded_and_drops_abandoned_vins)
{
	struct cache *c = cache_new();
	struct up_listpending p = { .share = 10 };
	struct cache_flight *f[12];
	struct cache_waiter *w[12];
	struct cache_answer *hit;
	char vin[18];
	cache_test = c;
	woken = 0;
	for (int i = 0; i < 12; i++) {
		snprintf(vin, sizeof vin, "HOST%013d", i);
		ck_assert_int_eq(cache_lookup(c, vin, 10, false, &hit, &f[i], NULL, wake, NULL, &w[i]), CACHE_LEAD);
		ck_assert_int_eq(cache_flight_join(c, f[i], NULL, wake, NULL, &w[i]), CACHE_WAIT);
		ck_assert_int_eq(up_listpending_add(&p, "hostile", vin, f[i], false),
				 i < 10 ? LISTPENDING_OK : LISTPENDING_FULL);
	}
	ck_assert_uint_eq(p.n, 10);
	/* Another tenant is not refused for the hostile one's share. */
	struct cache_flight *vf;
	struct cache_waiter *vw;
	ck_assert_int_eq(cache_lookup(c, "VICT0000000000001", 10, false, &hit, &vf, NULL, wake, NULL, &vw), CACHE_LEAD);
	ck_assert_int_eq(cache_flight_join(c, vf, NULL, wake, NULL, &vw), CACHE_WAIT);
	ck_assert_int_eq(up_listpending_add(&p, "victim", "VICT0000000000001", vf, false), LISTPENDING_OK);
	/* Eight of hostile's clients hang up; their VINs go at the next prune. */
	for (int i = 0; i < 8; i++)
		cache_wait_cancel(w[i]);
	ck_assert(up_listpending_prune_due(&p, "hostile"));
	size_t calls = 0;
	ck_assert_uint_eq(up_listpending_prune(&p, "hostile", idle_cb, &calls), 8);
	ck_assert_uint_eq(calls, 1);
	ck_assert_uint_eq(p.n, 3);
	struct cache_stats cs;
	cache_get_stats(c, &cs);
	ck_assert_uint_eq(cs.flights, 5);   /* the abandoned ended; three pending, two refused remain */
	cache_flight_done(c, f[10], NULL, NULL);   /* the refused ones: their callers still led */
	cache_flight_done(c, f[11], NULL, NULL);
	ck_assert(!up_listpending_prune_due(&p, "hostile"));   /* just pruned */
	/* Refreshes: a share of their own, never pruned. */
	for (int i = 0; i < 11; i++) {
		snprintf(vin, sizeof vin, "REFR%013d", i);
		ck_assert_int_eq(up_listpending_add(&p, NULL, vin, NULL, true), i < 10 ? LISTPENDING_OK : LISTPENDING_FULL);
	}
	calls = 0;
	ck_assert_uint_eq(up_listpending_prune(&p, NULL, idle_cb, &calls), 0);
	ck_assert_uint_eq(calls, 2);   /* hostile's and victim's FIFOs, not the refreshes' */
	struct batch_set out;
	ck_assert_uint_eq(up_listpending_take(&p, 100, &out), 13);
	for (size_t i = 0; i < out.n; i++)
		if (out.v[i].f)
			cache_flight_done(c, out.v[i].f, NULL, NULL);
	up_listpending_set_free(&out);
	up_listpending_free(&p);
	ck_assert_int_eq(woken, 5);   /* hostile's two refused, two still waiting, the victim */
	cache_free(c);
}
END_TEST

START_TEST(filter_query_is_an_encoded_in_filter)
{
	char *vins[300];
	for (int i = 0; i < 300; i++) {
		vins[i] = malloc(18);
		snprintf(vins[i], 18, "WBA%014d", i);
	}
	char *q = up_listread_filter_query(vins, 2);
	ck_assert_ptr_nonnull(q);
	ck_assert(strncmp(q, "filter=", 7) == 0);
	ck_assert_ptr_null(strchr(q + 7, '"'));   /* encoded */
	char *dec = evhttp_uridecode(q + 7, 0, NULL);
	ck_assert_str_eq(dec, "{\"vin\":{\"operator\":\"in\",\"value\":[\"WBA00000000000000\",\"WBA00000000000001\"]}}");
	free(dec);
	free(q);
	/* list_batch_max's bound: 300 VINs stay under 8 KB of URL */
	q = up_listread_filter_query(vins, 300);
	ck_assert_uint_lt(strlen(q), 8192 - 200);
	free(q);
	for (int i = 0; i < 300; i++)
		free(vins[i]);
}
END_TEST

START_TEST(index_of_a_list_answer)
{
	json_t *arr = json_loads("[{\"vin\":\"A1\",\"status\":\"approved\"},{\"vin\":\"B2\",\"status\":\"pending\"},7]", 0, NULL);
	json_t *idx = up_listread_index(arr);
	ck_assert_ptr_nonnull(idx);
	ck_assert_uint_eq(json_object_size(idx), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(idx, "B2"), "status")), "pending");
	json_decref(idx);
	json_decref(arr);
	json_t *obj = json_loads("{\"vehicles\":[{\"vin\":\"C3\"}]}", 0, NULL);
	idx = up_listread_index(obj);
	ck_assert_ptr_nonnull(json_object_get(idx, "C3"));
	json_decref(idx);
	json_decref(obj);
	json_t *bad = json_loads("{\"errors\":[]}", 0, NULL);
	ck_assert_ptr_null(up_listread_index(bad));
	json_decref(bad);
}
END_TEST

/* ---- the cache side of a batch ---------------------------------------------- */


START_TEST(fifty_requests_of_one_vin_are_one_batch_entry)
{
	struct cache *c = cache_new();
	struct up_listpending pending = { 0 };
	struct batch_set taken;
	struct cache_answer *hit;
	struct cache_flight *lead = NULL, *f;
	struct cache_waiter *w;
	woken = woken_list = 0;
	for (int i = 0; i < 50; i++) {
		enum cache_lookup_result r = cache_lookup(c, "VIN00000000000001", 10, false, &hit, &f, NULL, wake, NULL, &w);
		if (r == CACHE_LEAD) {
			/* the leader hands its flight to the batch and waits too */
			ck_assert_ptr_null(lead);
			lead = f;
			ck_assert_int_eq(cache_flight_join(c, f, NULL, wake, NULL, &w), CACHE_WAIT);
			ck_assert_int_eq(up_listpending_add(&pending, "t", "VIN00000000000001", f, false), 0);
		} else {
			ck_assert_int_eq(r, CACHE_WAIT);
		}
	}
	ck_assert_uint_eq(pending.n, 1);
	ck_assert_uint_eq(up_listpending_take(&pending, 100, &taken), 1);
	/* the list read answers: stored like a single read, every waiter gets it */
	struct cache_answer *a = cache_answer_new(200, "application/json", "{}", 2, NULL, 10);
	ck_assert_int_eq(cache_store(c, taken.v[0].f, a, 60, 0, 1 << 20, 10), 1);
	cache_flight_done(c, taken.v[0].f, a, "LIST");
	cache_answer_unref(a);
	ck_assert_int_eq(woken, 50);
	ck_assert_int_eq(woken_list, 50);
	ck_assert_int_eq(cache_lookup(c, "VIN00000000000001", 11, false, &hit, &f, NULL, wake, NULL, &w), CACHE_HIT);
	ck_assert(cache_answer_first_read(hit));
	ck_assert(!cache_answer_first_read(hit));   /* scheduled once per life */
	cache_answer_unref(hit);
	up_listpending_set_free(&taken);
	up_listpending_free(&pending);
	cache_free(c);
}
END_TEST

START_TEST(refresh_flights_only_for_the_life_that_was_read)
{
	struct cache *c = cache_new();
	struct cache_answer *hit;
	struct cache_flight *f;
	struct cache_waiter *w;
	ck_assert_ptr_null(cache_refresh_open(c, "V1", 10, 10));   /* no entry */
	ck_assert_int_eq(cache_lookup(c, "V1", 10, false, &hit, &f, NULL, wake, NULL, &w), CACHE_LEAD);
	struct cache_answer *a = cache_answer_new(200, "application/json", "{}", 2, NULL, 10);
	cache_store(c, f, a, 3, 0, 1 << 20, 10);
	cache_flight_done(c, f, a, "MISS");
	cache_answer_unref(a);
	ck_assert_ptr_null(cache_refresh_open(c, "V1", 9, 12));   /* another life */
	struct cache_flight *rf = cache_refresh_open(c, "V1", 10, 12.4);
	ck_assert_ptr_nonnull(rf);
	ck_assert_ptr_null(cache_refresh_open(c, "V1", 10, 12.4));   /* one flight at a time */
	/* the entry still answers hits while the refresh runs */
	ck_assert_int_eq(cache_lookup(c, "V1", 12.5, false, &hit, &f, NULL, wake, NULL, &w), CACHE_HIT);
	cache_answer_unref(hit);
	/* expired: requests join the refresh instead of leading reads of their own */
	woken = 0;
	ck_assert_int_eq(cache_lookup(c, "V1", 13.1, false, &hit, &f, NULL, wake, NULL, &w), CACHE_WAIT);
	a = cache_answer_new(200, "application/json", "{}", 2, NULL, 13.2);
	ck_assert_int_eq(cache_store(c, rf, a, 3, 0, 1 << 20, 13.2), 1);
	cache_flight_done(c, rf, a, "LIST");
	cache_answer_unref(a);
	ck_assert_int_eq(woken, 1);
	ck_assert_ptr_null(cache_refresh_open(c, "V1", 10, 14));     /* replaced by the refresh */
	cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, way_follows_vin_reads);
	tcase_add_test(tc, refresh_in_the_last_fifth);
	tcase_add_test(tc, schedule_pops_what_is_due_in_order);
	tcase_add_test(tc, pending_set_splits_at_the_maximum);
	tcase_add_test(tc, pending_set_is_round_robin_across_tenants);
	tcase_add_test(tc, pending_set_is_bounded_and_drops_abandoned_vins);
	tcase_add_test(tc, filter_query_is_an_encoded_in_filter);
	tcase_add_test(tc, index_of_a_list_answer);
	tcase_add_test(tc, fifty_requests_of_one_vin_are_one_batch_entry);
	tcase_add_test(tc, refresh_flights_only_for_the_life_that_was_read);
	suite_add_tcase(s, tc);
	return check_run(s);
}
