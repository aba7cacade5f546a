/* redis_io.h: hiredis 0.14 on a libevent base, with a cap on the size of
 * what Redis may send back (issue 21: a 200 MB reply grew RSS without
 * bound).
 *
 * hiredis 0.14 has no reply size limit (redisReader's maxbuf only decides
 * when an empty buffer is given back). Two checks make one: before each
 * read, the bytes of the reply still being received (the reader's unused
 * buffer) are compared with the cap, so a long bulk string is refused
 * while it arrives, at most one read (16 KiB) past the cap; and the reply
 * objects hiredis builds are counted as they are made (strings by length,
 * arrays by element count), so a reply of many small elements is refused
 * too. A refused reply drops the connection: the limit's TOO_BIG callback
 * runs (from the read event, never from inside hiredis), and hiredis's own
 * refusal reads as "Out of memory" in its error text, which
 * redis_io_limit.hit explains. */
#ifndef FG_REDIS_IO_H
#define FG_REDIS_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>
#include <hiredis/async.h>

struct redis_io_limit {
	size_t max_bytes;                /* one reply, as received and as built */
	size_t used;                     /* of the reply being built */
	bool hit;                        /* a reply was refused on this connection */
	void (*too_big)(void *arg);      /* drop the connection (deferred) */
	void *arg;
};

/* Like redisLibeventAttach, with LIMIT (which must outlive AC) applied to
 * every reply. REDIS_OK or REDIS_ERR. */
int redis_io_attach(redisAsyncContext *ac, struct event_base *base, struct redis_io_limit *limit);
#endif
