/* admin.h: the admin listener's routes (docs/operations.md). */
#ifndef FG_ADMIN_H
#define FG_ADMIN_H
#include <stdbool.h>
#include <event2/http.h>

/* evhttp callback for the admin listeners; runs on the main loop. */
void admin_request_cb(struct evhttp_request *req, void *arg);
/* From SIGTERM/SIGQUIT/SIGINT on: /readyz answers 503 "draining". */
void admin_set_draining(void);
/* Start-up (true) and each reload: the reload gauges of /metrics, /stats. */
#endif
