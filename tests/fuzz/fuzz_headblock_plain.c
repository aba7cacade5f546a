/* fuzz_headblock_plain.c: the two shortcuts of the header block's hot
 * path (src/http_headblock.c) against the long way.
 *
 * The first byte says where the rest is split. Asserts: http_headblock_end
 * finds the same end (and leaves the same search position) over input in
 * one piece (the memchr path) and in two pieces that evbuffer keeps apart
 * (the evbuffer_search path); http_headblock_plain says yes only where
 * http_headblock_parse answers 0 with a header list that has no
 * Content-Length and no Transfer-Encoding (so the head check is not
 * needed), and says yes for a plain GET. */
#include "fuzz.h"
#include <stdbool.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "http_headblock.h"

static void check_plain(const char *blk, size_t len)
{
	if (!http_headblock_plain(blk, len))
		return;
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	char target[512];
	FUZZ_ASSERT(http_headblock_parse(blk, len, &h, target, sizeof target) == 0);
	FUZZ_ASSERT(!evhttp_find_header(&h, "Content-Length") && !evhttp_find_header(&h, "Transfer-Encoding"));
	evhttp_clear_headers(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char get[] = "GET /v1/fleets/vehicles/X HTTP/1.1\r\nHost: a\r\n\r\n";
	FUZZ_ASSERT(http_headblock_plain(get, sizeof get - 1));
	if (size < 1 || size > 1 << 17)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	size_t split = (size_t)data[0] * len / 255;

	struct evbuffer *one = evbuffer_new(), *two = evbuffer_new();
	FUZZ_ASSERT(one && two);
	evbuffer_add(one, in, len);
	/* References stay chunks of their own: two pieces, never merged. */
	evbuffer_add_reference(two, in, split, NULL, NULL);
	evbuffer_add_reference(two, in + split, len - split, NULL, NULL);
	for (size_t from = 0; from <= len; from += len / 3 + 1) {
		size_t s1 = from, s2 = from;
		ssize_t e1 = http_headblock_end(one, &s1), e2 = http_headblock_end(two, &s2);
		FUZZ_ASSERT(e1 == e2);
		FUZZ_ASSERT(e1 >= 0 || s1 == s2);
	}
	size_t s = 0;
	ssize_t end = http_headblock_end(one, &s);
	if (end >= 0)
		check_plain(in, (size_t)end);
	check_plain(in, len);
	evbuffer_free(one);
	evbuffer_free(two);
	return 0;
}
