/* check_budget.c: the upstream read budget (docs/cache.md) with an injected
 * clock: the sliding window over a long simulated timeline, fairness
 * across tenants, the 429 pause, "retry after Ns" and the pause it decides. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "budget.h"

/* ---- a small simulated world ------------------------------------------------ */

#define SIM_MAX 20000

struct simreq {
	int id;
	int tenant;
	bool granted;
	double deadline;
	struct budget_waiter *w;
};

static int order[SIM_MAX];   /* ids in the order they were granted */
static int norder;

static void granted(void *arg)
{
	struct simreq *q = arg;
	q->granted = true;
	q->w = NULL;
	order[norder++] = q->id;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng % 1000000) / 1000000.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Bursty arrivals from three tenants for 2000 simulated seconds; granted
 * reads are sent after a random delay (a token wait), some waiters give
 * up, some grants are never used. No COUNT+1 sends may fall in any
 * WINDOW, and the budget must still be used. */
START_TEST(window_never_exceeded_over_long_timeline)
{
	const unsigned count = 10;
	const double window = 5, step = 0.01, end = 2000;
	struct budget *b = budget_new();
	budget_set_rate(b, count, window);
	static struct simreq reqs[SIM_MAX];
	static double sends[SIM_MAX], send_at[SIM_MAX];
	int nreq = 0, nsends = 0, npending = 0, dl = 0, seen = 0;
	norder = 0;
	for (double now = 0; now < end; now += step) {
		/* bursts: sometimes 30 at once, usually a trickle */
		int arrivals = urand() < 0.001 ? 30 : urand() < 0.04 ? 1 : 0;
		for (int k = 0; k < arrivals && nreq < SIM_MAX; k++) {
			struct simreq *q = &reqs[nreq];
			q->id = nreq++;
			q->tenant = (int)(urand() * 3);
			q->deadline = now + 3;
			double ra;
			char t[8];
			snprintf(t, sizeof t, "t%d", q->tenant);
			enum budget_result r = budget_acquire(b, t, now, NULL, granted, q, &q->w, &ra);
			ck_assert(r == BUDGET_GRANTED || r == BUDGET_QUEUED);
			ck_assert(ra >= 0);
			if (r == BUDGET_GRANTED)
				granted(q);
		}
		budget_pump(b, now);
		/* waiters past their deadline give up (deadlines follow ids) */
		for (; dl < nreq && reqs[dl].deadline <= now; dl++)
			if (!reqs[dl].granted && reqs[dl].w) {
				budget_wait_cancel(reqs[dl].w);
				reqs[dl].w = NULL;
			}
		/* newly granted reads: most are sent a little later, a few never */
		for (; seen < norder; seen++) {
			if (urand() < 0.05)
				budget_release(b, now);
			else
				send_at[npending++] = now + urand() * 0.5;
		}
		for (int i = 0; i < npending;) {
			if (send_at[i] > now) {
				i++;
				continue;
			}
			budget_used(b, now);
			sends[nsends++] = now;
			send_at[i] = send_at[--npending];
		}
	}
	qsort(sends, (size_t)nsends, sizeof *sends, cmp_double);
	for (int i = 0; i + (int)count < nsends; i++)
		ck_assert_msg(sends[i + count] - sends[i] >= window,
			      "%u+1 sends within %.3f s at t=%.3f", count, sends[i + count] - sends[i], sends[i]);
	/* The budget is used, not just respected: demand exceeds it, so the
	 * sends come close to count per (window + margin). */
	double capacity = end / budget_window(b) * count;
	ck_assert_msg(nsends > capacity * 0.8, "only %d sends of %.0f possible", nsends, capacity);
	budget_free(b);
}
END_TEST

/* One slot per window, tenant a queues five reads, then tenant b two:
 * b is served every other grant, not after all of a's. */
START_TEST(tenants_served_round_robin)
{
	struct budget *b = budget_new();
	budget_set_rate(b, 1, 1);
	double ra, now = 0;
	struct budget_waiter *w;
	static struct simreq q[7];
	norder = 0;
	ck_assert_int_eq(budget_acquire(b, "a", now, NULL, granted, &q[0], &w, &ra), BUDGET_GRANTED);
	budget_used(b, now);
	for (int i = 0; i < 7; i++) {
		q[i].id = i;   /* 0..4 tenant a, 5..6 tenant b */
		ck_assert_int_eq(budget_acquire(b, i < 5 ? "a" : "b", now, NULL, granted, &q[i], &q[i].w, &ra),
				 BUDGET_QUEUED);
	}
	struct budget_stats st;
	budget_get_stats(b, now, &st);
	ck_assert_uint_eq(st.queued, 7);
	/* While the slot is busy nothing is granted. */
	budget_pump(b, 0.5);
	ck_assert_int_eq(norder, 0);
	for (int k = 0; k < 7; k++) {
		now += budget_window(b);
		budget_pump(b, now);
		ck_assert_int_eq(norder, k + 1);
		budget_used(b, now);
	}
	int want[] = { 0, 5, 1, 6, 2, 3, 4 };
	for (int k = 0; k < 7; k++)
		ck_assert_int_eq(order[k], want[k]);
	budget_free(b);
}
END_TEST

START_TEST(newcomers_do_not_overtake_the_queue)
{
	struct budget *b = budget_new();
	budget_set_rate(b, 2, 10);
	double ra;
	struct budget_waiter *w;
	static struct simreq q[3];
	norder = 0;
	ck_assert_int_eq(budget_acquire(b, "a", 0, NULL, NULL, NULL, &w, &ra), BUDGET_GRANTED);
	ck_assert_int_eq(budget_acquire(b, "a", 0, NULL, NULL, NULL, &w, &ra), BUDGET_GRANTED);
	budget_used(b, 0);
	budget_used(b, 1);
	/* Without a callback: FULL, with an estimate of the wait. */
	ck_assert_int_eq(budget_acquire(b, "a", 2, NULL, NULL, NULL, &w, &ra), BUDGET_FULL);
	ck_assert_double_eq_tol(ra, budget_window(b) - 2, 1e-9);
	ck_assert_int_eq(budget_acquire(b, "a", 2, NULL, granted, &q[0], &q[0].w, &ra), BUDGET_QUEUED);
	/* A second waiter is estimated behind the first. */
	ck_assert_int_eq(budget_acquire(b, "b", 2, NULL, granted, &q[1], &q[1].w, &ra), BUDGET_QUEUED);
	ck_assert_double_eq_tol(ra, 1 + budget_window(b) - 2, 1e-9);
	/* A slot frees: the first in line gets it, not a newcomer. */
	budget_pump(b, budget_window(b));
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(budget_acquire(b, "c", budget_window(b), NULL, NULL, NULL, &w, &ra), BUDGET_FULL);
	/* A granted slot that is not used goes to the next waiter at once. */
	budget_release(b, budget_window(b));
	ck_assert_int_eq(norder, 2);
	budget_free(b);
}
END_TEST

START_TEST(pause_after_upstream_429)
{
	struct budget *b = budget_new();
	budget_set_rate(b, 60, 60);
	double ra;
	struct budget_waiter *w;
	static struct simreq q;
	norder = 0;
	budget_pause(b, 100, 20);
	ck_assert_int_eq(budget_acquire(b, "a", 100, NULL, granted, &q, &q.w, &ra), BUDGET_PAUSED);
	ck_assert_double_eq_tol(ra, 20, 1e-9);
	ck_assert_int_eq(budget_acquire(b, "a", 119.5, NULL, NULL, NULL, &w, &ra), BUDGET_PAUSED);
	ck_assert_double_eq_tol(ra, 0.5, 1e-9);
	ck_assert_double_eq_tol(budget_paused_for(b, 110), 10, 1e-9);
	/* A shorter pause does not cut a longer one short. */
	budget_pause(b, 101, 2);
	ck_assert_double_eq_tol(budget_paused_for(b, 110), 10, 1e-9);
	ck_assert_int_eq(budget_acquire(b, "a", 120, NULL, NULL, NULL, &w, &ra), BUDGET_GRANTED);
	budget_used(b, 120);
	/* Waiters queued before a pause are not granted during it. */
	budget_set_rate(b, 1, 1);
	ck_assert_int_eq(budget_acquire(b, "a", 120.5, NULL, granted, &q, &q.w, &ra), BUDGET_QUEUED);
	budget_pause(b, 120.6, 5);
	ck_assert_double_eq_tol(budget_estimate(b, 121), 4.6, 1e-9);
	budget_pump(b, 125);
	ck_assert_int_eq(norder, 0);
	budget_pump(b, 125.6);
	ck_assert_int_eq(norder, 1);
	struct budget_stats st;
	budget_get_stats(b, 125.6, &st);
	ck_assert_uint_eq(st.pauses, 2);
	ck_assert_uint_eq(st.queued, 0);
	budget_free(b);
}
END_TEST

/* A hostile "retry after 99999999999999999999s" pauses an hour, not 115
 * days, and an operator's resume ends the pause and serves the queue. */
START_TEST(pause_is_capped_and_can_be_resumed)
{
	struct budget *b = budget_new();
	budget_set_rate(b, 1, 1);
	double ra;
	struct budget_waiter *w;
	static struct simreq q;
	const char *body = "retry after 99999999999999999999s";
	norder = 0;
	budget_pause(b, 100, budget_parse_retry_after(body, strlen(body)));
	ck_assert_double_eq_tol(budget_paused_for(b, 100), BUDGET_PAUSE_MAX, 1e-9);
	budget_pause(b, 100, 1e300);
	ck_assert_double_eq_tol(budget_paused_for(b, 100), BUDGET_PAUSE_MAX, 1e-9);
	ck_assert_int_eq(budget_acquire(b, "a", 101, NULL, granted, &q, &q.w, &ra), BUDGET_PAUSED);
	ck_assert_double_eq_tol(budget_resume(b, 200), BUDGET_PAUSE_MAX - 100, 1e-9);
	ck_assert_double_eq_tol(budget_paused_for(b, 200), 0, 1e-9);
	ck_assert_int_eq(budget_acquire(b, "a", 200, NULL, NULL, NULL, &w, &ra), BUDGET_GRANTED);
	budget_free(b);
}
END_TEST

START_TEST(retry_after_in_body)
{
	const char *b1 = "{\"errors\":[{\"title\":\"Too many requests\",\"detail\":\"retry after 20s\"}]}";
	ck_assert_int_eq(budget_parse_retry_after(b1, strlen(b1)), 20);
	ck_assert_int_eq(budget_parse_retry_after("Retry After 3s", 14), 3);
	ck_assert_int_eq(budget_parse_retry_after("retry after    7", 16), 7);
	ck_assert_int_eq(budget_parse_retry_after("retry after s", 13), -1);
	ck_assert_int_eq(budget_parse_retry_after("slow down", 9), -1);
	ck_assert_int_eq(budget_parse_retry_after(NULL, 0), -1);
	/* LEN bounds the search: the digits past it do not count. */
	ck_assert_int_eq(budget_parse_retry_after("retry after 45s", 13), 4);
}
END_TEST

/* One decision after a 429 for single and list reads: the longer of the
 * Retry-After header and the body's "retry after Ns", else the route's
 * window; capped by budget_pause, but the ask is returned as made. */
START_TEST(pause_from_429_takes_the_longer_hint_else_the_window)
{
	static const struct {
		int header;
		const char *body;
		double window;
		int asked;
		double paused;
	} cases[] = {
		{ 30, "", 60, 30, 30 },                        /* header only */
		{ -1, "slow down: retry after 20s", 60, 20, 20 },   /* body only */
		{ 10, "retry after 25s", 60, 25, 25 },         /* both: the longer */
		{ 40, "retry after 5s", 60, 40, 40 },
		{ -1, "slow down", 60, 60, 60 },               /* neither: the window */
		{ -1, "", 1, 1, 1 },
		{ 0, "", 60, 0, 0 },                           /* "Retry-After: 0" is a hint */
		{ -1, "retry after 99999999999999999999s", 60, 9999999, BUDGET_PAUSE_MAX },
		{ -1, "", 7200, 7200, BUDGET_PAUSE_MAX },      /* a window over the cap */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct budget *b = budget_new();
		budget_set_rate(b, 60, 60);
		int asked = budget_pause_from_429(b, 100, cases[i].header, cases[i].body, strlen(cases[i].body),
						  cases[i].window);
		ck_assert_int_eq(asked, cases[i].asked);
		ck_assert_double_eq_tol(budget_paused_for(b, 100), cases[i].paused, 1e-9);
		budget_free(b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, window_never_exceeded_over_long_timeline);
	tcase_add_test(tc, tenants_served_round_robin);
	tcase_add_test(tc, newcomers_do_not_overtake_the_queue);
	tcase_add_test(tc, pause_after_upstream_429);
	tcase_add_test(tc, pause_is_capped_and_can_be_resumed);
	tcase_add_test(tc, retry_after_in_body);
	tcase_add_test(tc, pause_from_429_takes_the_longer_hint_else_the_window);
	suite_add_tcase(s, tc);
	return check_run(s);
}
