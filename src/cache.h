/* cache.h: the shared clearance cache (SPEC.md §6). */
#ifndef FG_CACHE_H
#define FG_CACHE_H
#include <jansson.h>
#include <event2/buffer.h>

/* Drops VIN's entry (NULL: everything) and every list entry. Returns the
 * number of entries dropped, or -1 when VIN is not a VIN. */
int cache_purge(const char *vin);
/* Adds entries, bytes, evictions, invalidations to O. */
void cache_stats_json(json_t *o);
void cache_metrics(struct evbuffer *b);
#endif
