/* req_listfilter.h: a cached list answer, prepared for filtering per tenant.
 *
 * A list of 10,000 clearances is parsed once, when it is stored: each
 * element is kept as its compact JSON text next to its VIN, so serving it
 * to a tenant is a VIN lookup and a memcpy per element — no JSON parsing
 * or printing on the hot path. The filtered text is also remembered per
 * (configuration generation, tenant), so repeated reads by one tenant cost
 * one reference-counted buffer. */
#ifndef FG_REQ_LISTFILTER_H
#define FG_REQ_LISTFILTER_H
#include <stddef.h>
#include <jansson.h>
#include <event2/buffer.h>

struct fg_tenant;
struct listview;

/* ANSWER is an answer on the list route: a JSON array of vehicles, or an
 * object, of which only "vehicles" (an array, filtered per tenant) and
 * "errors" (each error's string title, detail and source) are kept —
 * nothing else in it has been filtered. NULL when ANSWER is neither an
 * array nor an object. */
struct listview *req_listfilter_new(json_t *answer);
void req_listfilter_free(struct listview *v);
/* Bytes the view holds, memo included at its bound (the memo never holds
 * more, whatever the number of tenants that read the list). */
size_t req_listfilter_cost(const struct listview *v);
/* Bytes the memo holds now (tests). */
size_t req_listfilter_memo_bytes(struct listview *v);
/* Appends the answer as tenant T may see it (under configuration
 * GENERATION) to OUT. Returns 0, or -1 when out of memory. */
int req_listfilter_render(struct listview *v, const struct fg_tenant *t, unsigned generation,
		    struct evbuffer *out);
#endif
