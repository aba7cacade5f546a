/* budget_stats.c: the budget's admin surface (/stats "budget" and its
 * metrics), read through budget_get_stats; kept apart from budget.c, which
 * owns the window, the queue and the gate modes. */
#include "budget.h"
#include "clock.h"
#include "metric.h"

void budget_window_json(json_t *o, const struct budget_stats *s)
{
	json_object_set_new(o, "limit", json_integer(s->limit));
	json_object_set_new(o, "window_s", json_real(s->window_s));
	json_object_set_new(o, "in_window", json_integer(s->in_window));
	json_object_set_new(o, "queued", json_integer((json_int_t)s->queued));
	json_object_set_new(o, "paused_for_s", json_real(s->paused_for_s));
	json_object_set_new(o, "pauses", json_integer((json_int_t)s->pauses));
}

void budget_stats_json(json_t *o)
{
	struct budget_stats s;
	budget_get_stats(budget_shared(), clock_now(), &s);
	budget_window_json(o, &s);
	json_object_set_new(o, "sends", json_integer((json_int_t)s.sends));
	json_object_set_new(o, "waits", json_integer((json_int_t)s.waits));
	json_object_set_new(o, "scope", json_string(budget_scope_name(s.scope)));
	if (s.scope == BUDGET_LOCAL_SHARE || s.scope == BUDGET_CLOSED)
		json_object_set_new(o, "share", json_integer(s.scope == BUDGET_CLOSED ? 0 : s.share));
}

void budget_metrics(struct evbuffer *b)
{
	struct budget_stats s;
	budget_get_stats(budget_shared(), clock_now(), &s);
	metric_gauge(b, "budget_limit", "Single-VIN reads allowed per window", s.limit);
	metric_gauge(b, "budget_window_seconds", "Length of the budget window", s.window_s);
	metric_gauge(b, "budget_in_window", "Single-VIN reads sent or reserved in the current window", s.in_window);
	metric_gauge(b, "budget_queued", "Reads waiting for budget", (double)s.queued);
	metric_gauge(b, "budget_paused_seconds", "Seconds left of an upstream 429 pause", s.paused_for_s);
	metric_counter(b, "budget_sends_total", "Single-VIN reads sent upstream", (double)s.sends);
	metric_counter(b, "budget_waits_total", "Reads that had to queue for budget", (double)s.waits);
	metric_counter(b, "budget_pauses_total", "Pauses after an upstream 429", (double)s.pauses);
	metric_gauge(b, "budget_scope", "Where slots come from: 0 local, 1 shared (Redis), 2 local share, 3 closed",
		     (double)s.scope);
}
