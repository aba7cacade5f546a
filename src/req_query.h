/* req_query.h: the query string of a tenant request (docs/http.md).
 * Only `filter` on the list route is taken; it is parsed once, and what
 * was parsed is both the cache key and what goes upstream. */
#ifndef FG_REQ_QUERY_H
#define FG_REQ_QUERY_H
#include <stddef.h>
#include "req_route.h"

/* Reads QUERY (raw, as in the URI; NULL or "" for none) for ROUTE. On the
 * list route a single `filter` parameter holding a JSON object without
 * duplicate keys is allowed: *FILTER receives it normalized (compact,
 * keys sorted; caller frees), or NULL when there is none. Returns 0, 400
 * with DETAIL saying what is wrong (a parameter the route does not take,
 * malformed percent-encoding, a filter that is not such an object), or
 * 500 when out of memory. The local token route's query is not read at
 * all (0). */
int req_query_parse(enum fg_route route, const char *query, char **filter, char *detail, size_t detaillen);
/* The upstream query string for a normalized FILTER: "filter=" and the
 * filter percent-encoded; caller frees. NULL when out of memory. */
char *req_query_upstream(const char *filter);
#endif
