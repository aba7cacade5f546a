/* http_headblock.h: a request's header block seen in a connection's input
 * before evhttp parses it, and raw answers for connections evhttp never
 * hands over. */
#ifndef FG_HTTP_HEADBLOCK_H
#define FG_HTTP_HEADBLOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

/* Length of the header block at the front of IN (request line, header
 * lines, the empty line), or -1 while it is incomplete. *SCANNED (0 at
 * first) remembers how far IN was searched, so bytes that trickle in are
 * looked at once. */
ssize_t http_headblock_end(struct evbuffer *in, size_t *scanned);
/* The header lines of the block BLK (LEN bytes) into H (TAILQ_INIT'ed by
 * the caller, freed with evhttp_clear_headers), whatever their length, and
 * the request line's target into TARGET (TLEN bytes; its path alone when
 * longer, "" when the path is too). -1 when the block is not a request line
 * and header lines (a line without a colon, a NUL, a bare CR, no request
 * line), -2 when a header's name is not a token (whitespace before the
 * colon, a folded line): either way the request is refused with 400, as
 * evhttp would refuse what it could not read either. */
int http_headblock_parse(const char *blk, size_t len, struct evkeyvalq *h, char *target, size_t tlen);
/* True when the block BLK (LEN bytes) is one http_headblock_parse reads
 * (it would return 0) and it names no Content-Length or Transfer-Encoding
 * header: a request without a body, which the head check has nothing to
 * do with, so its header list need not be built. False otherwise (then
 * parse it). */
bool http_headblock_plain(const char *blk, size_t len);
/* Writes STATUS with REASON and the JSON BODY (LEN bytes) and "Connection: close" to
 * FD, once, without blocking (a best effort: the connection is closed
 * next). */
void http_headblock_reply(int fd, int status, const char *reason, const char *body, size_t len);
/* The same answer appended to OUT, for a TLS connection's bufferevent:
 * its socket carries records, never this text. */
void http_headblock_format(struct evbuffer *out, int status, const char *reason, const char *body, size_t len);
#endif
