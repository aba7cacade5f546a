/* cache.c: the clearance cache. Until the cache lands every read is a
 * BYPASS; the admin surface already reports its (empty) state. */
#include "cache.h"
#include "vinset.h"
#include <string.h>

int cache_purge(const char *vin)
{
	char v[18];
	if (vin && !vin_normalize(vin, strlen(vin), v))
		return -1;
	return 0;
}

void cache_stats_json(json_t *o)
{
	json_object_set_new(o, "entries", json_integer(0));
	json_object_set_new(o, "bytes", json_integer(0));
	json_object_set_new(o, "evictions", json_integer(0));
	json_object_set_new(o, "invalidations", json_integer(0));
}

void cache_metrics(struct evbuffer *b)
{
	evbuffer_add_printf(b,
		"# HELP fleetgate_cache_entries Entries in the cache\n"
		"# TYPE fleetgate_cache_entries gauge\n"
		"fleetgate_cache_entries 0\n"
		"# HELP fleetgate_cache_bytes Bytes held by the cache, overhead included\n"
		"# TYPE fleetgate_cache_bytes gauge\n"
		"fleetgate_cache_bytes 0\n");
}
