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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/util.h>

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

/* Whether S (N bytes) is UTF-8 as jansson checks it (utf8_check_string):
 * no stray continuation byte, no overlong form, no surrogate, nothing
 * above U+10FFFF. json_pack refuses a string that is not, so neither is
 * one taken here. */
static bool http_utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned u = s[i];
		if (u < 0x80)
			continue;
		size_t k;
		unsigned v;
		if (u >= 0xC2 && u <= 0xDF)
			k = 2, v = u & 0x1F;
		else if (u >= 0xE0 && u <= 0xEF)
			k = 3, v = u & 0x0F;
		else if (u >= 0xF0 && u <= 0xF4)
			k = 4, v = u & 0x07;
		else
			return false;
		if (k > n - i)
			return false;
		for (size_t j = 1; j < k; j++) {
			if (s[i + j] < 0x80 || s[i + j] > 0xBF)
				return false;
			v = (v << 6) + (s[i + j] & 0x3F);
		}
		if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (k == 3 && v < 0x800) || (k == 4 && v < 0x10000))
			return false;
		i += k - 1;
	}
	return true;
}

/* S (N bytes, UTF-8) as the inside of a JSON string into OUT, escaped
 * as jansson's json_dumps escapes without flags: '"', '\\', the short
 * forms of \b \f \n \r \t, \u00XX (upper-case hex) for the other control
 * characters; everything else (non-ASCII, '/', DEL) as it is. Returns the
 * end of what was written (at most 6 * N bytes). */
static char *http_json_escape(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*out++ = (char)ch;
			continue;
		}
		*out++ = '\\';
		switch (ch) {
		case '"': *out++ = '"'; break;
		case '\\': *out++ = '\\'; break;
		case '\b': *out++ = 'b'; break;
		case '\f': *out++ = 'f'; break;
		case '\n': *out++ = 'n'; break;
		case '\r': *out++ = 'r'; break;
		case '\t': *out++ = 't'; break;
		default:
			*out++ = 'u';
			*out++ = '0';
			*out++ = '0';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 15];
			break;
		}
	}
	return out;
}

/* {"errors":[{"title":T,"detail":D,"source":"fleetgate"}]}, byte for byte
 * what json_pack + json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) wrote
 * (tests/check_http_reply.c compares the two), written straight into the
 * buffer: jansson built and freed a tree of five values and a string for
 * it, a third of what a 403 cost. A DETAIL that is NULL or not UTF-8
 * gives an empty body, as json_pack's refusal did. */
struct evbuffer *http_error_body(int status, const char *detail)
{
	static const char head[] = "{\"errors\":[{\"title\":\"", mid[] = "\",\"detail\":\"",
			  tail[] = "\",\"source\":\"fleetgate\"}]}";
	struct evbuffer *b = evbuffer_new();
	if (!b || !detail)
		return b;
	const char *title = http_reason(status);
	size_t tn = strlen(title), dn = strlen(detail);
	if (!http_utf8_ok((const unsigned char *)detail, dn))
		return b;
	size_t room = sizeof head + sizeof mid + sizeof tail + 6 * (tn + dn);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(b, (ev_ssize_t)room, &v, 1) < 1 || v.iov_len < room)
		return b;
	char *p = v.iov_base;
	memcpy(p, head, sizeof head - 1);
	p = http_json_escape(p + sizeof head - 1, title, tn);
	memcpy(p, mid, sizeof mid - 1);
	p = http_json_escape(p + sizeof mid - 1, detail, dn);
	memcpy(p, tail, sizeof tail - 1);
	p += sizeof tail - 1;
	v.iov_len = (size_t)(p - (char *)v.iov_base);
	evbuffer_commit_space(b, &v, 1);
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

/* The Date header, as evhttp would add it (evhttp_maybe_add_date_header:
 * HTTP/1.1 answers, RFC 1123 via evutil_date_rfc1123, after every header
 * of ours) but formatted once a second per thread instead of per answer:
 * evhttp adds its own only when there is none. The request's version is
 * read from http_struct.h, libevent's public (if discouraged) layout. */
static void http_reply_date(struct evhttp_request *er)
{
	static _Thread_local time_t at = (time_t)-1;
	static _Thread_local char date[50];
	if (er->major != 1 || er->minor < 1)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(er);
	if (evhttp_find_header(h, "Date"))
		return;
	time_t now = time(NULL);
	if (now != at) {
		struct tm tm;
		date[0] = '\0';
		if (gmtime_r(&now, &tm) && evutil_date_rfc1123(date, sizeof date, &tm) > 0)
			at = now;
	}
	if (date[0] && at == now)
		evhttp_add_header(h, "Date", date);
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
	http_reply_date(er);
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
