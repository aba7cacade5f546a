/* fuzz_headblock.c: a request's header block as it arrives from a client
 * (src/http_headblock.c), read before evhttp sees it: http_headblock_end over input
 * that comes in two parts, and http_headblock_parse.
 *
 * The first byte says where the rest is split into the two arrivals.
 * Asserts: http_headblock_end finds the same end whether the input came at
 * once or in two parts; an end lies within the input, after an empty line
 * ("\n\n" or "\n\r\n"); http_headblock_parse answers 0, -1 or -2, its target
 * fits and holds no space; on 0 every header name is a non-empty token
 * (RFC 9110 5.1) and every value holds no LF or NUL and no leading or
 * trailing space or tab; -2 only when some line's name is not a token. */
#include "fuzz.h"
#include <stdbool.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "http_headblock.h"

static bool is_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr(tchar, c)))
			return false;
	}
	return true;
}

static void check_parse(const char *blk, size_t len)
{
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	char target[512];
	int rc = http_headblock_parse(blk, len, &h, target, sizeof target);
	FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2);
	FUZZ_ASSERT(strlen(target) < sizeof target && !strchr(target, ' '));
	if (rc == 0) {
		struct evkeyval *kv;
		TAILQ_FOREACH(kv, &h, next) {
			FUZZ_ASSERT(is_token(kv->key));
			size_t n = strlen(kv->value);
			FUZZ_ASSERT(!strchr(kv->value, '\n'));
			FUZZ_ASSERT(n == 0 || (kv->value[0] != ' ' && kv->value[0] != '\t' &&
					       kv->value[n - 1] != ' ' && kv->value[n - 1] != '\t'));
		}
	}
	evhttp_clear_headers(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 17)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	size_t split = (size_t)data[0] * len / 255;

	struct evbuffer *whole = evbuffer_new(), *parts = evbuffer_new();
	FUZZ_ASSERT(whole && parts);
	size_t s1 = 0, s2 = 0;
	evbuffer_add(whole, in, len);
	ssize_t e1 = http_headblock_end(whole, &s1);
	evbuffer_add(parts, in, split);
	ssize_t e2 = http_headblock_end(parts, &s2);
	if (e2 < 0) {
		evbuffer_add(parts, in + split, len - split);
		e2 = http_headblock_end(parts, &s2);
	}
	FUZZ_ASSERT(e1 == e2);
	if (e1 >= 0) {
		FUZZ_ASSERT((size_t)e1 <= len && e1 >= 2);
		FUZZ_ASSERT(in[e1 - 1] == '\n' &&
			    (in[e1 - 2] == '\n' || (e1 >= 3 && in[e1 - 2] == '\r' && in[e1 - 3] == '\n')));
		check_parse(in, (size_t)e1);
	}
	check_parse(in, len);
	evbuffer_free(whole);
	evbuffer_free(parts);
	return 0;
}
