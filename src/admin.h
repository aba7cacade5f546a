/* admin.h: the admin listener's routes (SPEC.md §8). */
#ifndef FG_ADMIN_H
#define FG_ADMIN_H
#include <event2/http.h>

/* evhttp callback for the admin listeners; runs on the main loop. */
void admin_request_cb(struct evhttp_request *req, void *arg);
#endif
