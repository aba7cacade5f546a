/* check_http_reply.c: the JSON error body (docs/http.md) is byte for byte
 * what jansson wrote for it (json_pack + json_dumps, compact, in order),
 * for every status fleetgate sends and for details with every kind of
 * character: quotes, backslashes, control characters, non-ASCII UTF-8,
 * and strings jansson refuses (not UTF-8: an empty body). */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <jansson.h>
#include "http_reply.h"

/* What the body was before it was written by hand. */
static char *reference(int status, const char *detail)
{
	json_t *e = json_pack("{s:[{s:s,s:s,s:s}]}", "errors", "title", http_reason(status), "detail", detail,
			      "source", "fleetgate");
	char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(e);
	return s ? s : strdup("");
}

static void same(int status, const char *detail)
{
	struct evbuffer *b = http_error_body(status, detail);
	ck_assert_ptr_nonnull(b);
	size_t n = evbuffer_get_length(b);
	char *got = calloc(1, n + 1);
	evbuffer_copyout(b, got, n);
	char *want = reference(status, detail);
	ck_assert_msg(strcmp(got, want) == 0, "status %d: got %s, want %s", status, got, want);
	free(got);
	free(want);
	evbuffer_free(b);
}

START_TEST(fixed_details)
{
	static const int statuses[] = { 200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431,
					500, 502, 503, 504, 599 };
	static const char *const details[] = {
		"", "no such route", "VIN EXVEBENCH00000002 is not allowed for tenant bench (not in its vins, vin_file or vin_prefixes)",
		"a \"quoted\" word", "back\\slash", "slash / and DEL \x7f", "tab\there, newline\nand cr\r",
		"\b\f\x01\x1f\x10", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x97", "\xc3", "\xc0\x80", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xe0\x80\xaf", "\x80", "ok\xff", "\xf0\x9f\x9a", "\xef\xbf\xbf",
	};
	for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
		for (size_t j = 0; j < sizeof details / sizeof *details; j++)
			same(statuses[i], details[j]);
	same(403, NULL);
}
END_TEST

/* Random bytes, biased towards the ones that matter. */
START_TEST(random_details)
{
	static const unsigned char pick[] = { 'a', 'Z', ' ', '"', '\\', '/', 0x01, 0x1f, '\n', 0x7f, 0x80, 0xbf,
					      0xc2, 0xc3, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f };
	unsigned seed = 12345;
	char d[64];
	for (int k = 0; k < 20000; k++) {
		seed = seed * 1103515245u + 12345u;
		int n = (int)((seed >> 16) % (sizeof d - 1));
		for (int i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			d[i] = (char)pick[(seed >> 16) % sizeof pick];
		}
		d[n] = '\0';
		same(403, d);
	}
	char big[9000];
	memset(big, '"', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	same(403, big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_reply");
	TCase *tc = tcase_create("error_body");
	tcase_add_test(tc, fixed_details);
	tcase_add_test(tc, random_details);
	suite_add_tcase(s, tc);
	return check_run(s);
}
