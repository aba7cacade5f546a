/* check_vinset.c: VIN normalisation, the VIN hash set, prefixes, "*", VIN
 * files with their FILE:LINE errors, and a million-VIN file. Time is not
 * asserted here (bench/vinset_bench measures it); correctness is. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fleetgate.h"
#include "vinset.h"

static char tmpdir[64];

static void setup_dir(void)
{
	strcpy(tmpdir, "/tmp/check_vinset.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static bool norm(const char *in, char out[18])
{
	return vin_normalize(in, strlen(in), out);
}

/* ---- normalisation ---- */

START_TEST(normalize_accepts_and_uppercases)
{
	char v[18];
	ck_assert(norm("WBADT43452G296403", v));
	ck_assert_str_eq(v, "WBADT43452G296403");
	ck_assert(norm("wbadt43452g296403", v));
	ck_assert_str_eq(v, "WBADT43452G296403");
	ck_assert(norm("  \tWbaDT43452g296403 \r\n", v));
	ck_assert_str_eq(v, "WBADT43452G296403");
}
END_TEST

START_TEST(normalize_accepts_i_o_q)
{
	char v[18];
	/* High Mobility's test VINs use letters ISO 3779 forbids. */
	ck_assert(norm("EXVETESTVIN000001", v));
	ck_assert_str_eq(v, "EXVETESTVIN000001");
	ck_assert(norm("IOQIOQIOQIOQIOQIO", v));
	ck_assert(norm("ioqioqioqioqioqio", v));
	ck_assert_str_eq(v, "IOQIOQIOQIOQIOQIO");
}
END_TEST

START_TEST(normalize_rejects_wrong_length_and_chars)
{
	char v[18];
	ck_assert(!norm("WBADT43452G29640", v));      /* 16 */
	ck_assert(!norm("WBADT43452G2964033", v));    /* 18 */
	ck_assert(!norm("", v));
	ck_assert(!norm("   ", v));
	ck_assert(!norm("WBADT43452G29640-", v));
	ck_assert(!norm("WBADT43452G 96403", v));     /* inner space */
	ck_assert(!norm("WBADT43452G29640\xc3\x84", v));
	ck_assert(!norm("WBADT43452G2964*3", v));
	ck_assert(!vin_normalize(NULL, 0, v));
	/* LEN bounds the input: no NUL needed, bytes after LEN ignored */
	ck_assert(vin_normalize("WBADT43452G296403XYZ", 17, v));
	ck_assert_str_eq(v, "WBADT43452G296403");
}
END_TEST

/* ---- the set ---- */

START_TEST(set_add_contains_duplicates)
{
	struct vinset *s = vinset_new();
	ck_assert_ptr_nonnull(s);
	ck_assert(!vinset_contains(s, "WBADT43452G296403"));
	vinset_add(s, "WBADT43452G296403");
	vinset_add(s, "WBADT43452G296403");
	vinset_add(s, "EXVETESTVIN000001");
	ck_assert_uint_eq(vinset_count(s), 2);
	ck_assert(vinset_contains(s, "WBADT43452G296403"));
	ck_assert(vinset_contains(s, "EXVETESTVIN000001"));
	ck_assert(!vinset_contains(s, "EXVETESTVIN000002"));
	ck_assert(!vinset_contains(s, "00000000000000000"));
	ck_assert(!vinset_contains(s, "ZZZZZZZZZZZZZZZZZ"));
	ck_assert(!vinset_allows_all(s));
	/* Lookups of text that is not a normalized VIN never match. */
	ck_assert(!vinset_contains(s, "wbadt43452g296403"));
	ck_assert(!vinset_contains(s, "WBADT"));
	ck_assert(!vinset_contains(s, NULL));
	ck_assert(vinset_memory(s) > 0);
	vinset_free(s);
}
END_TEST

START_TEST(set_extremes_and_growth)
{
	struct vinset *s = vinset_new();
	vinset_add(s, "00000000000000000");
	vinset_add(s, "ZZZZZZZZZZZZZZZZZ");
	ck_assert(vinset_contains(s, "00000000000000000"));
	ck_assert(vinset_contains(s, "ZZZZZZZZZZZZZZZZZ"));
	/* Sequential VINs (the worst case for a weak hash) across many doublings. */
	char v[18];
	for (int i = 0; i < 20000; i++) {
		snprintf(v, sizeof(v), "SEQ%014d", i);
		vinset_add(s, v);
	}
	ck_assert_uint_eq(vinset_count(s), 20002);
	for (int i = 0; i < 20000; i++) {
		snprintf(v, sizeof(v), "SEQ%014d", i);
		ck_assert_msg(vinset_contains(s, v), "lost %s", v);
		snprintf(v, sizeof(v), "SEQ%014d", i + 20000);
		ck_assert_msg(!vinset_contains(s, v), "invented %s", v);
	}
	vinset_free(s);
}
END_TEST

START_TEST(prefixes_match_by_length)
{
	struct vinset *s = vinset_new();
	char err[FG_ERR_LEN];
	ck_assert_int_eq(vinset_add_prefix(s, "WBA", err, sizeof(err)), 0);
	ck_assert_int_eq(vinset_add_prefix(s, " wmw ", err, sizeof(err)), 0);
	ck_assert_int_eq(vinset_add_prefix(s, "EXVETESTVIN00000", err, sizeof(err)), 0); /* 16 */
	ck_assert_int_eq(vinset_add_prefix(s, "WBA", err, sizeof(err)), 0);  /* duplicate ok */
	ck_assert_uint_eq(vinset_count(s), 0);
	ck_assert(vinset_contains(s, "WBADT43452G296403"));
	ck_assert(vinset_contains(s, "WMWZZZ3C58TZ12345"));
	ck_assert(vinset_contains(s, "EXVETESTVIN000007"));
	ck_assert(!vinset_contains(s, "EXVETESTVIN000017"));
	ck_assert(!vinset_contains(s, "WBBDT43452G296403"));
	ck_assert(!vinset_contains(s, "XWBDT43452G296403"));
	ck_assert(!vinset_allows_all(s));
	vinset_free(s);
}
END_TEST

START_TEST(prefix_errors)
{
	struct vinset *s = vinset_new();
	char err[FG_ERR_LEN];
	ck_assert_int_eq(vinset_add_prefix(s, "", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "VIN prefix"));
	ck_assert_int_eq(vinset_add_prefix(s, "WB-", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"WB-\""));
	ck_assert_int_eq(vinset_add_prefix(s, "WBADT43452G296403", err, sizeof(err)), -1); /* 17 */
	ck_assert_int_eq(vinset_add_prefix(s, "**", err, sizeof(err)), -1);
	/* the text is quoted as vin_quote does (found by tests/fuzz/fuzz_vin.c) */
	ck_assert_int_eq(vinset_add_prefix(s, "WB\"\x1b[31m", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"WB??[31m\""));
	vinset_free(s);
}
END_TEST

START_TEST(star_allows_all)
{
	struct vinset *s = vinset_new();
	char err[FG_ERR_LEN];
	ck_assert_int_eq(vinset_add_prefix(s, "*", err, sizeof(err)), 0);
	ck_assert(vinset_allows_all(s));
	ck_assert(vinset_contains(s, "WBADT43452G296403"));
	ck_assert(vinset_contains(s, "ZZZZZZZZZZZZZZZZZ"));
	vinset_free(s);
}
END_TEST

/* ---- files ---- */

START_TEST(file_comments_blank_lines)
{
	const char *p = write_file("a.vins",
		"# dispatch fleet\n"
		"\n"
		"WBADT43452G296403\n"
		"  exvetestvin000001   # the test car\n"
		"\t\r\n"
		"EXVETESTVIN000002#no space before comment\r\n"
		"    # indented comment\n"
		"EXVETESTVIN000003");   /* no final newline */
	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	ck_assert_int_eq(vinset_load_file(s, p, &e), 0);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(vinset_count(s), 4);
	ck_assert(vinset_contains(s, "WBADT43452G296403"));
	ck_assert(vinset_contains(s, "EXVETESTVIN000001"));
	ck_assert(vinset_contains(s, "EXVETESTVIN000002"));
	ck_assert(vinset_contains(s, "EXVETESTVIN000003"));
	conf_errors_free(&e);
	vinset_free(s);
}
END_TEST

START_TEST(file_bad_line_gives_file_line)
{
	const char *p = write_file("bad.vins",
		"WBADT43452G296403\n"
		"# comment\n"
		"\n"
		"WBADT43452G29640   # one short\n"
		"EXVETESTVIN000001\n"
		"EXVE-ESTVIN000001\n");
	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	vinset_load_file(s, p, &e);
	ck_assert_uint_eq(e.n, 2);
	char want[512];
	snprintf(want, sizeof(want), "%s:4: malformed VIN \"WBADT43452G29640\"", p);
	ck_assert_msg(strncmp(e.lines[0], want, strlen(want)) == 0, "got %s", e.lines[0]);
	snprintf(want, sizeof(want), "%s:6: malformed VIN \"EXVE-ESTVIN000001\"", p);
	ck_assert_msg(strncmp(e.lines[1], want, strlen(want)) == 0, "got %s", e.lines[1]);
	/* good lines still load: the caller decides to reject the config */
	ck_assert(vinset_contains(s, "EXVETESTVIN000001"));
	conf_errors_free(&e);
	vinset_free(s);
}
END_TEST

START_TEST(file_many_bad_lines_are_capped)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/junk.vins", tmpdir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "junk%d\n", i);
	fclose(f);
	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	vinset_load_file(s, path, &e);
	ck_assert(e.n > 1 && e.n < 50);
	ck_assert_ptr_nonnull(strstr(e.lines[e.n - 1], "more malformed VINs"));
	conf_errors_free(&e);
	vinset_free(s);
}
END_TEST

START_TEST(file_missing)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/nope.vins", tmpdir);
	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	ck_assert_int_eq(vinset_load_file(s, path, &e), -1);
	ck_assert_uint_eq(e.n, 1);
	char want[512];
	snprintf(want, sizeof(want), "%s: cannot read VIN file: No such file or directory", path);
	ck_assert_str_eq(e.lines[0], want);
	conf_errors_free(&e);
	vinset_free(s);
}
END_TEST

/* Only a regular file is read: a device would be read without end, and
 * opening a FIFO without a writer must not wait for one. */
START_TEST(file_not_regular)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/pipe.vins", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	const char *paths[] = { "/dev/zero", path };
	for (size_t i = 0; i < 2; i++) {
		struct vinset *s = vinset_new();
		struct fg_errors e = {0};
		ck_assert_int_eq(vinset_load_file(s, paths[i], &e), -1);
		ck_assert_uint_eq(e.n, 1);
		char want[512];
		snprintf(want, sizeof(want), "%s: cannot read VIN file: not a regular file", paths[i]);
		ck_assert_str_eq(e.lines[0], want);
		ck_assert_uint_eq(vinset_count(s), 0);
		conf_errors_free(&e);
		vinset_free(s);
	}
	unlink(path);
}
END_TEST

/* ---- a million VINs ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Distinct by construction: FIRST, 12 pseudo-random symbols, then I in
 * base 36 (4 symbols hold 1.6 million). Hits start with 'H', misses 'M'. */
static void gen_vin(char first, uint32_t i, char out[18])
{
	static const char a[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint64_t r = mix(i ^ ((uint64_t)first << 40));
	out[0] = first;
	for (int k = 1; k <= 12; k++) {
		out[k] = a[r % 36];
		r /= 36;
		if (k == 6)
			r = mix(r + i);
	}
	uint32_t n = i;
	for (int k = 16; k >= 13; k--) {
		out[k] = a[n % 36];
		n /= 36;
	}
	out[17] = '\0';
}

#define MILLION 1000000u

START_TEST(million_vins_from_file)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/million.vins", tmpdir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# a million generated VINs\n", f);
	char v[18];
	for (uint32_t i = 0; i < MILLION; i++) {
		gen_vin('H', i, v);
		fprintf(f, "%s\n", v);
	}
	fclose(f);

	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	ck_assert_int_eq(vinset_load_file(s, path, &e), 0);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(vinset_count(s), MILLION);
	for (uint32_t i = 0; i < MILLION; i++) {
		gen_vin('H', i, v);
		ck_assert_msg(vinset_contains(s, v), "lost %s", v);
	}
	for (uint32_t i = 0; i < MILLION; i += 7) {
		gen_vin('M', i, v);
		ck_assert_msg(!vinset_contains(s, v), "invented %s", v);
	}
	/* stays compact: 12-byte slots, load factor at least 0.35 */
	ck_assert_uint_le(vinset_memory(s), 40u * MILLION);
	conf_errors_free(&e);
	vinset_free(s);
}
END_TEST

static Suite *vinset_suite(void)
{
	Suite *s = suite_create("vinset");
	TCase *tc = tcase_create("normalize");
	tcase_add_test(tc, normalize_accepts_and_uppercases);
	tcase_add_test(tc, normalize_accepts_i_o_q);
	tcase_add_test(tc, normalize_rejects_wrong_length_and_chars);
	suite_add_tcase(s, tc);

	tc = tcase_create("set");
	tcase_add_test(tc, set_add_contains_duplicates);
	tcase_add_test(tc, set_extremes_and_growth);
	tcase_add_test(tc, prefixes_match_by_length);
	tcase_add_test(tc, prefix_errors);
	tcase_add_test(tc, star_allows_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
	tcase_add_test(tc, file_comments_blank_lines);
	tcase_add_test(tc, file_bad_line_gives_file_line);
	tcase_add_test(tc, file_many_bad_lines_are_capped);
	tcase_add_test(tc, file_missing);
	tcase_add_test(tc, file_not_regular);
	suite_add_tcase(s, tc);

	tc = tcase_create("million");
	tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
	tcase_set_timeout(tc, 120);   /* sanitizer builds are several times slower */
	tcase_add_test(tc, million_vins_from_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(vinset_suite());
}
