/* http_reply.h: how the worker layer answers: reason phrases, the JSON
 * error shape of docs/http.md, and replies written at once. Shared by the
 * connections (http_conn.c), the request layer and the admin listener
 * (through http.h). */
#ifndef FG_HTTP_REPLY_H
#define FG_HTTP_REPLY_H
#include <event2/http.h>

struct evbuffer;

/* The JSON error shape of docs/http.md. */
struct evbuffer *http_error_body(int status, const char *detail);
void http_send_error(struct evhttp_request *req, int status, const char *detail);
/* evhttp_send_reply with the reason phrase of STATUS, written to the
 * socket at once when it can be (saves the trip through epoll). */
void http_reply(struct evhttp_request *req, int status, struct evbuffer *body);
const char *http_reason(int status);
#endif
