/* http_reply.c: how the worker layer answers.
 *
 * Reason phrases, the JSON error shape of docs/http.md (for evhttp
 * requests, and as a body http_conn.c writes straight to a socket), and
 * the reply written at once. No state: the connections (http_conn.c), the
 * request layer (req.c) and the admin listener (admin.c) call down to it,
 * and it calls nothing of theirs. A TLS connection's answer is never
 * written at once: only its bufferevent may touch its socket.
 *
 * Never: know of workers, binds or requests beyond the evhttp_request it
 * answers. */
#include "http_reply.h"
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 431: return "Request Header Fields Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : "Error";
	}
}

struct evbuffer *http_error_body(int status, const char *detail)
{
	json_t *e = json_pack("{s:[{s:s,s:s,s:s}]}", "errors", "title", http_reason(status),
			      "detail", detail, "source", "fleetgate");
	char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct evbuffer *b = evbuffer_new();
	if (s && b)
		evbuffer_add(b, s, strlen(s));
	free(s);
	json_decref(e);
	return b;
}

void http_send_error(struct evhttp_request *er, int status, const char *detail)
{
	struct evbuffer *b = http_error_body(status, detail);
	evhttp_add_header(evhttp_request_get_output_headers(er), "Content-Type", "application/json");
	http_reply(er, status, b);
	if (b)
		evbuffer_free(b);
}

/* evhttp_send_reply, and the answer written at once. A bufferevent writes
 * only when epoll reports the socket writable: an epoll_ctl to ask, a trip
 * through the loop, and another epoll_ctl to stop asking. A reply to a
 * request is small and the socket is almost always writable, so write it
 * now; when all of it went, tell evhttp the write is done (it may free the
 * request and the connection: the reference keeps the bufferevent valid).
 * When only part went, or the write failed, the bufferevent goes on as
 * usual with the rest, or the error. */
void http_reply(struct evhttp_request *er, int status, struct evbuffer *body)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(er);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	if (bev)
		bufferevent_incref(bev);
	evhttp_send_reply(er, status, http_reason(status), body);
	if (!bev)
		return;
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	/* A TLS connection's socket carries records: its answer goes out
	 * through the bufferevent, which encrypts it. */
	if (fd >= 0 && (bufferevent_get_enabled(bev) & EV_WRITE) && evbuffer_get_length(out) > 0 &&
	    !bufferevent_openssl_get_ssl(bev) && evbuffer_write(out, fd) > 0 && evbuffer_get_length(out) == 0)
		bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS);
	bufferevent_decref(bev);
}
