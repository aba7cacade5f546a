/* metric.c: Prometheus text (see metric.h). Owns the text format: the
 * HELP/TYPE lines, the label syntax and its escaping, number formats and
 * the histogram layout. Knows no metric by name and keeps no state:
 * callers bring names, help and values. */
#include "metric.h"
#include <stdio.h>
#include <string.h>

static const char *const metric_type_names[] = {
	[METRIC_COUNTER] = "counter", [METRIC_GAUGE] = "gauge", [METRIC_HISTOGRAM] = "histogram" };

void metric_family(struct evbuffer *b, const char *name, enum metric_type type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, metric_type_names[type]);
}

/* A label value: backslash, double quote and newline escaped, as the text
 * format asks. */
static void metric_label_value(struct evbuffer *b, const char *v)
{
	const char *run = v;
	for (; *v; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
		if (!esc)
			continue;
		evbuffer_add(b, run, (size_t)(v - run));
		evbuffer_add(b, esc, 2);
		run = v + 1;
	}
	evbuffer_add(b, run, (size_t)(v - run));
}

/* NAME, then {LABELS[,le="LE"]} when there is any label, then a space. */
static void metric_name(struct evbuffer *b, const char *name, const char *suffix, const char *const *labels,
			const char *le)
{
	evbuffer_add_printf(b, "%s%s", name, suffix);
	if ((labels && labels[0]) || le) {
		const char *sep = "{";
		for (size_t i = 0; labels && labels[i]; i += 2) {
			evbuffer_add_printf(b, "%s%s=\"", sep, labels[i]);
			metric_label_value(b, labels[i + 1]);
			evbuffer_add(b, "\"", 1);
			sep = ",";
		}
		if (le)
			evbuffer_add_printf(b, "%sle=\"%s\"", sep, le);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, " ", 1);
}

void metric_u64(struct evbuffer *b, const char *name, const char *const *labels, uint64_t v)
{
	metric_name(b, name, "", labels, NULL);
	evbuffer_add_printf(b, "%llu\n", (unsigned long long)v);
}

void metric_value(struct evbuffer *b, const char *name, const char *const *labels, double v)
{
	metric_name(b, name, "", labels, NULL);
	evbuffer_add_printf(b, "%.15g\n", v);
}

void metric_fixed(struct evbuffer *b, const char *name, const char *const *labels, double v, int decimals)
{
	metric_name(b, name, "", labels, NULL);
	evbuffer_add_printf(b, "%.*f\n", decimals, v);
}

void metric_histogram(struct evbuffer *b, const char *name, const char *const *labels, const double *le,
		      size_t n, const uint64_t *counts, double sum, uint64_t count)
{
	uint64_t acc = 0;
	char bound[32];
	for (size_t i = 0; i <= n; i++) {
		acc += counts[i];
		if (i < n)
			snprintf(bound, sizeof bound, "%g", le[i]);
		metric_name(b, name, "_bucket", labels, i < n ? bound : "+Inf");
		evbuffer_add_printf(b, "%llu\n", (unsigned long long)acc);
	}
	metric_name(b, name, "_sum", labels, NULL);
	evbuffer_add_printf(b, "%.6f\n", sum);
	metric_name(b, name, "_count", labels, NULL);
	evbuffer_add_printf(b, "%llu\n", (unsigned long long)count);
}

/* fleetgate_NAME, for the shorthands. */
static void metric_one(struct evbuffer *b, enum metric_type type, const char *name, const char *help, double v)
{
	char full[128];
	snprintf(full, sizeof full, "fleetgate_%s", name);
	metric_family(b, full, type, help);
	metric_value(b, full, NULL, v);
}

void metric_gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
	metric_one(b, METRIC_GAUGE, name, help, v);
}

void metric_counter(struct evbuffer *b, const char *name, const char *help, double v)
{
	metric_one(b, METRIC_COUNTER, name, help, v);
}
