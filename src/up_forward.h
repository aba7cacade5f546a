/* up_forward.h: one upstream exchange — a request turned into a curl easy
 * handle, and the response (status, Content-Type, Retry-After, body)
 * collected for relaying. The same code serves client requests and the
 * token endpoint. */
#ifndef FG_UP_FORWARD_H
#define FG_UP_FORWARD_H
#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include "up_multi.h"
#include "conf.h"

struct fwd;
typedef void (*fwd_done_fn)(void *arg, struct fwd *f);

struct fwd_params {
	const char *method;          /* "GET", "POST", "DELETE" */
	const char *url;
	const struct evkeyvalq *client_headers; /* filtered by up_forward_header_allowed; may be NULL */
	const char *request_id;      /* X-Request-Id, may be NULL */
	const char *bearer;          /* token for Authorization, may be NULL */
	const char *content_type;    /* of the body; NULL: none is sent */
	const void *body;
	size_t body_len;
	const struct fg_config *cfg; /* timeouts, ca_file, max_upstream_bytes */
	size_t max_bytes;            /* longest answer taken; 0 = cfg's max_upstream_bytes */
};

/* Starts the exchange on U; DONE runs once, from the event loop. NULL when
 * it could not be started. */
struct fwd *up_forward_start(struct upstream *u, const struct fwd_params *p, fwd_done_fn done, void *arg);
/* Stops a running exchange (DONE is not called) and frees it. */
void up_forward_cancel(struct fwd *f);
void up_forward_free(struct fwd *f);

CURLcode up_forward_result(const struct fwd *f);
long up_forward_status(const struct fwd *f);
const char *up_forward_content_type(const struct fwd *f);   /* "" when absent */
/* Seconds from a Retry-After header, or -1. */
int up_forward_retry_after(const struct fwd *f);
/* Seconds from one raw header line when it is Retry-After in seconds,
 * else -1. Exposed for tests/fuzz/fuzz_retry_after.c. */
int up_forward_parse_retry_after(const char *line, size_t len);
/* The pause an upstream 429 asks for: the longer of its Retry-After and a
 * "retry after Ns" in its body; -1 when it names neither. */
int up_forward_pause_hint(struct fwd *f);
/* That pause in seconds, DFLT when it names none: what fleetgate waits
 * (budget_pause caps it), and what a client is told when the upstream's
 * own Retry-After is missing or unreadable. */
int up_forward_pause(struct fwd *f, int dflt);
struct evbuffer *up_forward_body(struct fwd *f);
double up_forward_ms(const struct fwd *f);                  /* whole exchange */
/* "IP:PORT" the exchange connected (or tried) to, else the URL's host. */
const char *up_forward_peer(const struct fwd *f);
/* Adds the upstream's traceparent / tracestate answer headers to OUT. */
void up_forward_trace_headers(const struct fwd *f, struct evkeyvalq *out);
/* Client headers that may travel upstream: a short allowlist. */
bool up_forward_header_allowed(const char *name);
/* 502 or 504 for a failed transfer (an answer over max_upstream_bytes or
 * with a status outside 100..599 is one); a sentence for the error detail. */
int up_forward_error_status(CURLcode rc);
const char *up_forward_error_text(CURLcode rc);
#endif
