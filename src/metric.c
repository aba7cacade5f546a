/* metric.c: unlabelled Prometheus families (see metric.h). Values are
 * printed with %.15g: integers up to 2^49 exactly, seconds to the
 * microsecond. */
#include "metric.h"

static void metric_family(struct evbuffer *b, const char *type, const char *name, const char *help, double v)
{
	evbuffer_add_printf(b, "# HELP fleetgate_%s %s\n# TYPE fleetgate_%s %s\nfleetgate_%s %.15g\n",
			    name, help, name, type, name, v);
}

void metric_gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
	metric_family(b, "gauge", name, help, v);
}

void metric_counter(struct evbuffer *b, const char *name, const char *help, double v)
{
	metric_family(b, "counter", name, help, v);
}
