/* fuzz_retry_after.c: what an upstream 429 says about waiting: the
 * "retry after Ns" of its error body (budget_parse_retry_after in
 * src/budget.c), its Retry-After header line
 * (up_forward_parse_retry_after in src/up_forward.c), and the pause the
 * two decide together (budget_pause_from_429 in src/budget.c).
 *
 * The first byte picks body, header line or pause. Asserts, against a
 * plain re-reading here: the body gives the first "retry after" (any case,
 * then spaces) followed by digits, or -1, never negative otherwise; the
 * header gives whole seconds below a day or -1, and only for a Retry-After
 * line holding nothing but the number; the pause is the longer of header
 * and body, else the window, and never longer than BUDGET_PAUSE_MAX. */
#include "fuzz.h"
#include <ctype.h>
#include <strings.h>
#include "budget.h"
#include "log.h"
#include "up_forward.h"

/* The body rule, stated plainly: N of the first "retry after" followed
 * (after spaces) by at least one digit; N stops growing at seven digits. */
static int model_body(const char *b, size_t len)
{
	for (size_t i = 0; i + 11 <= len; i++) {
		if (strncasecmp(b + i, "retry after", 11) != 0)
			continue;
		size_t k = i + 11;
		while (k < len && b[k] == ' ')
			k++;
		if (k < len && isdigit((unsigned char)b[k])) {
			long n = 0;
			for (; k < len && isdigit((unsigned char)b[k]) && n < 1000000; k++)
				n = n * 10 + (b[k] - '0');
			return (int)n;
		}
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	if ((data[0] & 3) == 2) {
		/* The header's seconds from the second byte (0xff: none), the
		 * rest is the body; a fresh budget each time. */
		if (len < 1)
			return 0;
		int header = in[0] == (char)0xff ? -1 : (unsigned char)in[0] * 30;
		int body = model_body(in + 1, len - 1);
		int want = header > body ? header : body;
		if (want < 0)
			want = 60;
		log_set_level(FG_LOG_ERROR);   /* the cap's warning is not output */
		struct budget *b = budget_new();
		FUZZ_ASSERT(b);
		budget_set_rate(b, 60, 60);
		FUZZ_ASSERT(budget_pause_from_429(b, 100, header, in + 1, len - 1, 60) == want);
		double paused = budget_paused_for(b, 100);
		FUZZ_ASSERT(paused == (want < BUDGET_PAUSE_MAX ? want : BUDGET_PAUSE_MAX));
		budget_free(b);
	} else if (data[0] & 1) {
		int n = budget_parse_retry_after(in, len);
		FUZZ_ASSERT(n == model_body(in, len));
		FUZZ_ASSERT(n >= -1 && n < 10000000);
	} else {
		int s = up_forward_parse_retry_after(in, len);
		FUZZ_ASSERT(s >= -1 && s < 86400);
		if (s >= 0)
			FUZZ_ASSERT(len > 12 && strncasecmp(in, "Retry-After:", 12) == 0);
	}
	return 0;
}
