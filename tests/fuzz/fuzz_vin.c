/* fuzz_vin.c: VIN normalisation, quoting and prefixes (src/vinset.c).
 *
 * Asserts: a text that normalizes gives 17 of A-Z0-9 and normalizes to
 * itself again; a set holding it finds it; vin_quote's output is short,
 * terminated and holds nothing a log line or JSON string would choke on;
 * an accepted prefix made only of letters and digits lets in a VIN that
 * starts with it and not one that does not; a refused prefix's error
 * message is printable. */
#include "fuzz.h"
#include <ctype.h>
#include "vinset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char vin[18], again[18];
	if (vin_normalize(in, size, vin)) {
		FUZZ_ASSERT(fuzz_is_vin(vin));
		FUZZ_ASSERT(vin_normalize(vin, 17, again) && memcmp(vin, again, 18) == 0);
		struct vinset *s = vinset_new();
		vinset_add(s, vin);
		FUZZ_ASSERT(vinset_contains(s, vin));
		FUZZ_ASSERT(vinset_count(s) == 1 && !vinset_allows_all(s));
		vinset_free(s);
	}

	char q[48];
	vin_quote(in, size, q, sizeof q);
	size_t ql = strlen(q);
	FUZZ_ASSERT(ql <= 43);
	for (size_t i = 0; i < ql; i++)
		FUZZ_ASSERT(q[i] >= 0x20 && q[i] < 0x7f && q[i] != '"' && q[i] != '\\');
	char tiny[4];
	vin_quote(in, size, tiny, sizeof tiny);
	FUZZ_ASSERT(strlen(tiny) < sizeof tiny);

	/* Prefixes: NUL-terminated text, as the tenant file gives it. */
	char *p = fuzz_strndup(data, size);
	struct vinset *s = vinset_new();
	char err[256] = "";
	int rc = vinset_add_prefix(s, p, err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	FUZZ_ASSERT(memchr(err, 0, sizeof err) != NULL);
	/* The error becomes a FILE:LINE line on a terminal or in a log. */
	for (const char *e = err; *e; e++)
		FUZZ_ASSERT((unsigned char)*e >= 0x20 && *e != 0x7f);
	size_t plen = strlen(p);
	bool plain = plen >= 1 && plen <= 16;
	for (size_t i = 0; i < plen && plain; i++)
		plain = isalnum((unsigned char)p[i]) != 0;
	if (plain)
		FUZZ_ASSERT(rc == 0);
	if (rc == 0 && plain) {
		char v[18];
		for (size_t i = 0; i < 17; i++)
			v[i] = i < plen ? (char)toupper((unsigned char)p[i]) : '0';
		v[17] = 0;
		FUZZ_ASSERT(vinset_contains(s, v));
		v[0] = v[0] == 'Z' ? 'Y' : 'Z';   /* a VIN the prefix does not cover */
		FUZZ_ASSERT(!vinset_contains(s, v));
		FUZZ_ASSERT(vinset_count(s) == 0 && !vinset_allows_all(s));
	}
	vinset_free(s);
	free(p);
	return 0;
}
