/* admin.h: the admin listener's routes (SPEC.md §8). */
#ifndef FG_ADMIN_H
#define FG_ADMIN_H
#include <event2/http.h>
#include <jansson.h>

/* evhttp callback for the admin listeners; runs on the main loop. */
void admin_request_cb(struct evhttp_request *req, void *arg);
/* The /stats document: every figure the admin surface reports, read now.
 * The status page renders this same snapshot. Caller owns the result. */
json_t *admin_stats_snapshot(void);
#endif
