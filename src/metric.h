/* metric.h: one Prometheus family of one unlabelled sample, written the
 * same way wherever a file renders its own gauges and counters for
 * /metrics (cache.c, budget.c, admin.c). Labelled counter families are
 * stats.c's. */
#ifndef FG_METRIC_H
#define FG_METRIC_H
#include <event2/buffer.h>

/* "# HELP", "# TYPE" and the sample of fleetgate_NAME. */
void metric_gauge(struct evbuffer *b, const char *name, const char *help, double v);
void metric_counter(struct evbuffer *b, const char *name, const char *help, double v);
#endif
