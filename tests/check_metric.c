/* check_metric.c: the one writer of Prometheus text (src/metric.c): a
 * family's HELP and TYPE lines, samples with and without labels, label
 * values escaped, the number formats and the histogram layout /metrics
 * has always had (docs/metrics.md). */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "metric.h"

/* B's text as a string (the caller frees); B is emptied. */
static char *drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	return s;
}

#define ck_text(b, want) do { char *got_ = drain(b); ck_assert_str_eq(got_, want); free(got_); } while (0)

START_TEST(family_then_samples)
{
	struct evbuffer *b = evbuffer_new();
	metric_family(b, "fleetgate_x_total", METRIC_COUNTER, "Things that happened");
	metric_u64(b, "fleetgate_x_total", NULL, 18446744073709551615ULL);
	metric_u64(b, "fleetgate_x_total", (const char *const[]){ NULL }, 0);
	ck_text(b, "# HELP fleetgate_x_total Things that happened\n# TYPE fleetgate_x_total counter\n"
		   "fleetgate_x_total 18446744073709551615\nfleetgate_x_total 0\n");
	metric_family(b, "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
	metric_value(b, "process_open_fds", NULL, -1);
	metric_value(b, "process_open_fds", NULL, 0.000001);
	metric_fixed(b, "process_open_fds", NULL, 12.345, 2);
	metric_fixed(b, "process_open_fds", NULL, 65536, 0);
	ck_text(b, "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\n"
		   "process_open_fds -1\nprocess_open_fds 1e-06\nprocess_open_fds 12.35\nprocess_open_fds 65536\n");
	evbuffer_free(b);
}
END_TEST

/* Labels in the order given; backslash, quote and newline escaped, other
 * bytes as they are. */
START_TEST(labels_in_order_and_escaped)
{
	struct evbuffer *b = evbuffer_new();
	metric_u64(b, "fleetgate_r_total", (const char *const[]){ "tenant", "a\"b\\c\nd", "route", "vehicle_get",
								   "code", "other", NULL }, 3);
	metric_u64(b, "fleetgate_r_total", (const char *const[]){ "tenant", "", NULL }, 1);
	metric_u64(b, "fleetgate_r_total", (const char *const[]){ "tenant", "\"\"", NULL }, 2);
	ck_text(b, "fleetgate_r_total{tenant=\"a\\\"b\\\\c\\nd\",route=\"vehicle_get\",code=\"other\"} 3\n"
		   "fleetgate_r_total{tenant=\"\"} 1\n"
		   "fleetgate_r_total{tenant=\"\\\"\\\"\"} 2\n");
	evbuffer_free(b);
}
END_TEST

START_TEST(histogram_cumulative_with_le_last)
{
	struct evbuffer *b = evbuffer_new();
	static const double le[] = { 0.0005, 1, 2.5 };
	static const uint64_t counts[] = { 1, 0, 2, 4 };
	metric_histogram(b, "fleetgate_d_seconds", NULL, le, 3, counts, 1.25, 7);
	ck_text(b, "fleetgate_d_seconds_bucket{le=\"0.0005\"} 1\nfleetgate_d_seconds_bucket{le=\"1\"} 1\n"
		   "fleetgate_d_seconds_bucket{le=\"2.5\"} 3\nfleetgate_d_seconds_bucket{le=\"+Inf\"} 7\n"
		   "fleetgate_d_seconds_sum 1.250000\nfleetgate_d_seconds_count 7\n");
	metric_histogram(b, "fleetgate_d_seconds", (const char *const[]){ "cache", "hit", NULL }, le, 1, counts, 0, 1);
	ck_text(b, "fleetgate_d_seconds_bucket{cache=\"hit\",le=\"0.0005\"} 1\n"
		   "fleetgate_d_seconds_bucket{cache=\"hit\",le=\"+Inf\"} 1\n"
		   "fleetgate_d_seconds_sum{cache=\"hit\"} 0.000000\nfleetgate_d_seconds_count{cache=\"hit\"} 1\n");
	evbuffer_free(b);
}
END_TEST

START_TEST(shorthands_name_fleetgate)
{
	struct evbuffer *b = evbuffer_new();
	metric_gauge(b, "cache_entries", "Entries in the cache", 42);
	metric_counter(b, "cache_evictions_total", "Entries evicted", 1e15 - 1);
	ck_text(b, "# HELP fleetgate_cache_entries Entries in the cache\n# TYPE fleetgate_cache_entries gauge\n"
		   "fleetgate_cache_entries 42\n"
		   "# HELP fleetgate_cache_evictions_total Entries evicted\n"
		   "# TYPE fleetgate_cache_evictions_total counter\nfleetgate_cache_evictions_total 999999999999999\n");
	evbuffer_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metric");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, family_then_samples);
	tcase_add_test(tc, labels_in_order_and_escaped);
	tcase_add_test(tc, histogram_cumulative_with_le_last);
	tcase_add_test(tc, shorthands_name_fleetgate);
	suite_add_tcase(s, tc);
	return check_run(s);
}
