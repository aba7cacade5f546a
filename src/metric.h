/* metric.h: the one writer of Prometheus text (format 0.0.4) for /metrics.
 *
 * Every file that has something to show on /metrics (stats.c's counter
 * table and histograms, cache.c, budget_stats.c, up_listread.c,
 * redis_stats.c, redis_cache.c, admin.c) says it through these calls; no
 * other file prints a "# HELP", a "# TYPE" or a sample line. A family is
 * its HELP and TYPE lines once, then its samples; label values are
 * escaped here, whatever they carry.
 *
 * The family and sample calls take the whole metric name
 * ("fleetgate_requests_total", or a standard "process_open_fds"); the two
 * shorthands at the end name fleetgate_NAME. */
#ifndef FG_METRIC_H
#define FG_METRIC_H
#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* "# HELP NAME HELP" and "# TYPE NAME TYPE": once per family, before its
 * samples. */
void metric_family(struct evbuffer *b, const char *name, enum metric_type type, const char *help);

/* One sample, NAME{LABELS} VALUE. LABELS: name/value pairs ending in
 * NULL, in the order they are printed, e.g.
 * (const char *const[]){ "tenant", t, "code", "200", NULL }; NULL for none.
 * The value as an unsigned integer, as %.15g (integers below 10^15
 * exactly, seconds to the microsecond), or with DECIMALS fixed digits. */
void metric_u64(struct evbuffer *b, const char *name, const char *const *labels, uint64_t v);
void metric_value(struct evbuffer *b, const char *name, const char *const *labels, double v);
void metric_fixed(struct evbuffer *b, const char *name, const char *const *labels, double v, int decimals);

/* A histogram's samples under LABELS (NULL for none): NAME_bucket with le
 * added last, cumulative over the N upper bounds LE (printed %g) and
 * +Inf, from COUNTS per bucket (N + 1 of them, the last above every
 * bound); then NAME_sum (seconds, six decimals) and NAME_count. */
void metric_histogram(struct evbuffer *b, const char *name, const char *const *labels, const double *le,
		      size_t n, const uint64_t *counts, double sum, uint64_t count);

/* The common case: the family fleetgate_NAME of one unlabelled sample V
 * (%.15g). */
void metric_gauge(struct evbuffer *b, const char *name, const char *help, double v);
void metric_counter(struct evbuffer *b, const char *name, const char *help, double v);
#endif
