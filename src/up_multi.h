/* up_multi.h: one libcurl multi handle driven by one libevent base.
 * This is the only file that touches CURLM. Each worker thread (and the
 * token manager on the main thread) owns one; nothing is shared. */
#ifndef FG_UP_MULTI_H
#define FG_UP_MULTI_H
#include <curl/curl.h>
#include <event2/event.h>

struct upstream;

/* Called from the event loop (never from inside a curl callback) when the
 * transfer ends; the easy handle is already removed from the multi handle
 * and belongs to the caller again. */
typedef void (*upstream_done_fn)(void *arg, CURL *easy, CURLcode rc);

struct upstream *up_multi_new(struct event_base *base, long maxconnects);
void up_multi_free(struct upstream *u);
/* Starts EASY. Returns 0, or -1 when curl refuses it (nothing will be called). */
int up_multi_start(struct upstream *u, CURL *easy, upstream_done_fn done, void *arg);
/* Stops a running transfer; DONE is not called. */
void up_multi_cancel(struct upstream *u, CURL *easy);
/* An easy handle from this thread's pool (or a new one), and its return.
 * Reusing handles saves curl's per-handle set-up on every request; the
 * connection cache lives in the multi handle either way. */
CURL *up_multi_easy_get(struct upstream *u);
void up_multi_easy_put(struct upstream *u, CURL *easy);
#endif
