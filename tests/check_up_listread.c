/* check_up_listread.c: the pure parts of list-backed reads (up_listread.c) with the
 * clock passed in: the choice of the way per vin_reads, the refresh time
 * and schedule, the pending set split at list_batch_max, the filter query,
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
	struct batch_set s = { 0 }, out;
	char vin[18];
	for (int i = 0; i < 250; i++) {
		snprintf(vin, sizeof vin, "VIN%014d", i);
		ck_assert_int_eq(up_listread_set_add(&s, vin, NULL, i % 2), 0);
	}
	ck_assert_uint_eq(up_listread_set_take(&s, 100, &out), 100);
	ck_assert_str_eq(out.v[0].vin, "VIN00000000000000");
	ck_assert_str_eq(out.v[99].vin, "VIN00000000000099");
	ck_assert(out.v[1].refresh && !out.v[0].refresh);
	up_listread_set_free(&out);
	ck_assert_uint_eq(up_listread_set_take(&s, 100, &out), 100);
	ck_assert_str_eq(out.v[0].vin, "VIN00000000000100");
	up_listread_set_free(&out);
	ck_assert_uint_eq(up_listread_set_take(&s, 100, &out), 50);
	ck_assert_str_eq(out.v[49].vin, "VIN00000000000249");
	up_listread_set_free(&out);
	ck_assert_uint_eq(up_listread_set_take(&s, 100, &out), 0);
	ck_assert_uint_eq(s.n, 0);
	up_listread_set_free(&s);
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

static int woken, woken_list;

static void wake(void *arg, struct cache_answer *a, const char *how)
{
	(void)arg;
	woken++;
	if (a && how && strcmp(how, "LIST") == 0)
		woken_list++;
	cache_answer_unref(a);
}

START_TEST(fifty_requests_of_one_vin_are_one_batch_entry)
{
	struct cache *c = cache_new();
	struct batch_set pending = { 0 };
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
			ck_assert_int_eq(up_listread_set_add(&pending, "VIN00000000000001", f, false), 0);
		} else {
			ck_assert_int_eq(r, CACHE_WAIT);
		}
	}
	ck_assert_uint_eq(pending.n, 1);
	/* the list read answers: stored like a single read, every waiter gets it */
	struct cache_answer *a = cache_answer_new(200, "application/json", "{}", 2, NULL, 10);
	ck_assert_int_eq(cache_store(c, pending.v[0].f, a, 60, 0, 1 << 20, 10), 1);
	cache_flight_done(c, pending.v[0].f, a, "LIST");
	cache_answer_unref(a);
	ck_assert_int_eq(woken, 50);
	ck_assert_int_eq(woken_list, 50);
	ck_assert_int_eq(cache_lookup(c, "VIN00000000000001", 11, false, &hit, &f, NULL, wake, NULL, &w), CACHE_HIT);
	ck_assert(cache_answer_first_read(hit));
	ck_assert(!cache_answer_first_read(hit));   /* scheduled once per life */
	cache_answer_unref(hit);
	up_listread_set_free(&pending);
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
	tcase_add_test(tc, filter_query_is_an_encoded_in_filter);
	tcase_add_test(tc, index_of_a_list_answer);
	tcase_add_test(tc, fifty_requests_of_one_vin_are_one_batch_entry);
	tcase_add_test(tc, refresh_flights_only_for_the_life_that_was_read);
	suite_add_tcase(s, tc);
	return check_run(s);
}
