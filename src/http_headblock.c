/* http_headblock.c: the header block of a request, read from a connection's
 * input before evhttp parses it.
 *
 * http.c holds a connection's input back from evhttp until the header
 * block is complete (see "Headers first" there), so a request can be
 * attributed, and refused, before any byte of its body is read; and so
 * a client that sends its headers a byte at a time can be timed out. This
 * file finds the end of the block, reads its header lines, and writes the
 * raw answer to a connection that evhttp never sees a request on.
 *
 * Never: decide anything about the request (the handler does). */
#include "http_headblock.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <event2/http.h>

/* http_headblock_end over B (LEN bytes in one piece, pulled up without a
 * copy): a memchr per line instead of a search, a pointer set and a copy. */
static ssize_t http_headblock_end_flat(const char *b, size_t len, size_t *scanned)
{
	size_t i = *scanned;
	for (;;) {
		const char *nl = memchr(b + i, '\n', len - i);
		if (!nl) {
			*scanned = len;
			return -1;
		}
		i = (size_t)(nl - b);
		size_t have = len - i - 1;
		if (have == 0) {
			*scanned = i;   /* look at this line end again when more comes */
			return -1;
		}
		if (b[i + 1] == '\n')
			return (ssize_t)(i + 2);
		if (b[i + 1] == '\r') {
			if (have < 2) {
				*scanned = i;
				return -1;
			}
			if (b[i + 2] == '\n')
				return (ssize_t)(i + 3);
		}
		i++;
	}
}

ssize_t http_headblock_end(struct evbuffer *in, size_t *scanned)
{
	size_t len = evbuffer_get_length(in);
	struct evbuffer_ptr p;
	if (*scanned >= len)
		return -1;
	if (evbuffer_get_contiguous_space(in) == len)   /* the usual case: one chunk */
		return http_headblock_end_flat((const char *)evbuffer_pullup(in, -1), len, scanned);
	if (evbuffer_ptr_set(in, &p, *scanned, EVBUFFER_PTR_SET) < 0)
		return -1;
	for (;;) {
		p = evbuffer_search(in, "\n", 1, &p);
		if (p.pos < 0) {
			*scanned = len;
			return -1;
		}
		size_t i = (size_t)p.pos;
		char next[2];
		size_t have = len - i - 1 < 2 ? len - i - 1 : 2;
		struct evbuffer_ptr q = p;
		if (evbuffer_ptr_set(in, &q, 1, EVBUFFER_PTR_ADD) < 0 || have == 0) {
			*scanned = i;   /* look at this line end again when more comes */
			return -1;
		}
		evbuffer_copyout_from(in, &q, next, have);
		if (next[0] == '\n')
			return (ssize_t)(i + 2);
		if (next[0] == '\r') {
			if (have < 2) {
				*scanned = i;
				return -1;
			}
			if (next[1] == '\n')
				return (ssize_t)(i + 3);
		}
		if (evbuffer_ptr_set(in, &p, 1, EVBUFFER_PTR_ADD) < 0) {
			*scanned = len;
			return -1;
		}
	}
}

/* "METHOD TARGET VERSION": TARGET into OUT; the path alone when a long
 * query does not fit (the head check needs only the path), "" when even
 * the path is longer. */
static void http_headblock_target(const char *line, size_t n, char *out, size_t olen)
{
	const char *sp = memchr(line, ' ', n);
	const char *t = sp ? sp + 1 : line + n;
	const char *te = memchr(t, ' ', (size_t)(line + n - t));
	size_t tn = (size_t)((te ? te : line + n) - t);
	if (tn >= olen) {
		const char *q = memchr(t, '?', tn);
		tn = q && (size_t)(q - t) < olen ? (size_t)(q - t) : 0;
	}
	memcpy(out, t, tn);
	out[tn] = '\0';
}

/* RFC 9110 5.1: a field name is a token. libevent keeps whatever comes
 * before the colon, so "Authorization : x" would be a header named
 * "Authorization " that fleetgate ignores while a proxy in front (or the
 * upstream) trims it and reads it; and a line starting with a space
 * (obsolete line folding) would be read as its own header. RFC 9112 5.1
 * and 5.2: a server rejects both with 400. */
static bool http_headblock_name_ok(const char *name, size_t n)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		bool alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
		if (!alnum && !(ch && strchr(tchar, ch)))
			return false;
	}
	return true;
}

/* NAME (N bytes) = VALUE (VN bytes) into H. NUL-terminated copies on the
 * stack, or on the heap for a long line: any line that fits in the block's
 * limit is read, so no length turns the head check off. */
static int http_headblock_add(struct evkeyvalq *h, const char *name, size_t n, const char *v, size_t vn)
{
	char small[1024], *buf = small;
	if (n + vn + 2 > sizeof small && !(buf = malloc(n + vn + 2)))
		return -1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	memcpy(buf + n + 1, v, vn);
	buf[n + 1 + vn] = '\0';
	int rc = evhttp_add_header(h, buf, buf + n + 1);   /* refuses a bare CR */
	if (buf != small)
		free(buf);
	return rc;
}

int http_headblock_parse(const char *blk, size_t len, struct evkeyvalq *h, char *target, size_t tlen)
{
	const char *end = blk + len, *line = blk;
	if (tlen)
		target[0] = '\0';
	bool first = true;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			return -1;
		size_t n = (size_t)(nl - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			return first ? -1 : 0;   /* the empty line that ends the block */
		if (first && tlen)
			http_headblock_target(line, n, target, tlen);
		if (!first) {
			const char *colon = memchr(line, ':', n);
			if (!colon || colon == line || memchr(line, '\0', n))
				return -1;
			size_t nl_ = (size_t)(colon - line);
			if (!http_headblock_name_ok(line, nl_))
				return -2;
			const char *v = colon + 1, *ve = line + n;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (http_headblock_add(h, line, nl_, v, (size_t)(ve - v)) < 0)
				return -1;
		}
		first = false;
		line = nl + 1;
	}
	return -1;
}

void http_headblock_format(struct evbuffer *out, int status, const char *reason, const char *body, size_t len)
{
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n", status, reason, len);
	evbuffer_add(out, body, len);
}

void http_headblock_reply(int fd, int status, const char *reason, const char *body, size_t len)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%.*s", status, reason, len, (int)len, body);
	if (n > 0 && (size_t)n < sizeof buf)
		(void)!send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Mirrors http_headblock_parse line for line, building nothing: true only
 * where it would return 0, and only when no line is named Content-Length
 * or Transfer-Encoding (so conn_has_body would say no). Anything unusual
 * (a long line, a name that is not a token, a bare CR) answers false, and
 * the caller parses. */
bool http_headblock_plain(const char *blk, size_t len)
{
	const char *end = blk + len, *line = blk;
	bool first = true;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			return false;
		size_t n = (size_t)(nl - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			return !first;
		if (!first) {
			const char *colon = memchr(line, ':', n);
			if (!colon || colon == line || memchr(line, '\0', n))
				return false;
			size_t nl_ = (size_t)(colon - line);
			if (n >= 4096 || nl_ >= 256 || !http_headblock_name_ok(line, nl_) ||
			    memchr(colon, '\r', (size_t)(line + n - colon)))   /* evhttp refuses a bare CR in a value */
				return false;
			if ((nl_ == 14 && strncasecmp(line, "Content-Length", 14) == 0) ||
			    (nl_ == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0))
				return false;
		}
		first = false;
		line = nl + 1;
	}
	return false;
}
