/* fuzz_vinfile.c: VIN files (vinset_load_file in src/vinset.c).
 *
 * The input is written to a file and loaded. Asserts, against a plain
 * re-reading of the same text here (lines, '#' comments, blank lines): the
 * set holds every VIN line and counts each distinct VIN once, an error is
 * reported exactly when some line is not a VIN, and every error names the
 * file and a line (FILE:LINE) and is printable. */
#include "fuzz.h"
#include "conf_errors.h"
#include "vinset.h"

static int cmp17(const void *a, const void *b)
{
	return memcmp(a, b, 17);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *path = fuzz_write("list.vins", data, size);
	size_t plen = strlen(path);
	struct vinset *s = vinset_new();
	struct fg_errors errs = {0};
	int rc = vinset_load_file(s, path, &errs);
	FUZZ_ASSERT(rc == 0);

	/* The reference reading. */
	char (*good)[18] = malloc((size / 17 + 1) * sizeof *good);
	size_t ngood = 0, nbad = 0;
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *hash = memchr(p, '#', len);
		size_t vlen = hash ? (size_t)(hash - p) : len;
		size_t k = 0;
		while (k < vlen && strchr(" \t\r\v\f", p[k]) && p[k])
			k++;
		if (k < vlen) {
			if (vin_normalize(p, vlen, good[ngood]))
				ngood++;
			else
				nbad++;
		}
		p += len + 1;
	}
	for (size_t i = 0; i < ngood; i++)
		FUZZ_ASSERT(vinset_contains(s, good[i]));
	qsort(good, ngood, sizeof *good, cmp17);
	size_t distinct = 0;
	for (size_t i = 0; i < ngood; i++)
		if (i == 0 || memcmp(good[i], good[i - 1], 17) != 0)
			distinct++;
	FUZZ_ASSERT(vinset_count(s) == distinct);
	FUZZ_ASSERT((nbad > 0) == (errs.n > 0));
	for (size_t i = 0; i < errs.n; i++) {
		const char *e = errs.lines[i];
		FUZZ_ASSERT(strncmp(e, path, plen) == 0 && e[plen] == ':');
		for (; *e; e++)
			FUZZ_ASSERT((unsigned char)*e >= 0x20 && *e != 0x7f);
	}
	free(good);
	conf_errors_free(&errs);
	vinset_free(s);
	return 0;
}
