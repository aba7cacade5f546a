/* check_tenant.c: tenant files (every key, every error with FILE:LINE) and
 * cross-tenant duplicates. Attribution and policy are check_req_policy.c's. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include "check_files.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fleetgate.h"
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"

#define HASH_K1 "6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0"  /* "k1" */
#define HASH_K2 "015f7e6bc5aeaf483724089e9252cc13b50951a6b69412522765cff4d780306e"  /* "k2" */

static struct fg_tenant *load(const char *name, const char *text)
{
	return tenant_load(put(name, text), &errs);
}

static void dump_errs(void)
{
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "  %s\n", errs.lines[i]);
}

/* Asserts that some error line starts with FILE:LINE: and holds WHAT. */
static void want_err(const char *name, int line, const char *what)
{
	char prefix[320];
	if (line)
		snprintf(prefix, sizeof(prefix), "%s/%s:%d: ", tmpdir, name, line);
	else
		snprintf(prefix, sizeof(prefix), "%s/%s: ", tmpdir, name);
	for (size_t i = 0; i < errs.n; i++)
		if (strncmp(errs.lines[i], prefix, strlen(prefix)) == 0 && strstr(errs.lines[i], what))
			return;
	dump_errs();
	ck_abort_msg("no error \"%s...%s\"", prefix, what);
}

static bool errs_mention(const char *text)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.lines[i], text))
			return true;
	return false;
}

/* ---- loading ---- */

START_TEST(load_all_keys)
{
	put("dispatch.vins", "# fleet\nEXVETESTVIN000003\n  exvetestvin000004 # lower case\n");
	struct fg_tenant *t = load("d.conf",
		"# dispatch\n"
		"[tenant]\n"
		"name = dispatch\n"
		"listen = 127.0.0.1:9101, [::1]:9102, unix:dispatch.sock\n"
		"keys_sha256 = " HASH_K1 ", " HASH_K2 "\n"
		"sources = 10.20.0.0/16, 127.0.0.1, ::1, fd00::/8\n"
		"methods = get, Post, DELETE\n"
		"vins = WBADT43452G296403, exvetestvin000001\n"
		"vin_file = dispatch.vins\n"
		"vin_prefixes = WBA, wmw\n"
		"rate = 20/s\n"
		"burst = 40\n");
	if (!t)
		dump_errs();
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_str_eq(t->name, "dispatch");
	ck_assert_uint_eq(t->listen.n, 3);
	ck_assert_str_eq(t->listen.v[0].spec, "127.0.0.1:9101");
	ck_assert_str_eq(t->listen.v[1].spec, "[::1]:9102");
	char want[300];
	snprintf(want, sizeof(want), "unix:%s/dispatch.sock", tmpdir);
	ck_assert_str_eq(t->listen.v[2].spec, want);   /* relative to the tenant file */
	ck_assert_uint_eq(t->nkeys, 2);
	ck_assert_uint_eq(t->keys[0][0], 0x6a);
	ck_assert_uint_eq(t->keys[1][31], 0x6e);
	ck_assert_uint_eq(t->nsources, 4);
	ck_assert_int_eq(t->sources[0].family, AF_INET);
	ck_assert_int_eq(t->sources[0].bits, 16);
	ck_assert_int_eq(t->sources[1].bits, 32);
	ck_assert_int_eq(t->sources[2].family, AF_INET6);
	ck_assert_int_eq(t->sources[2].bits, 128);
	ck_assert_uint_eq(t->methods, FG_M_GET | FG_M_POST | FG_M_DELETE);
	ck_assert_uint_eq(vinset_count(t->vins), 4);
	ck_assert(req_policy_allows_vin(t, "WBADT43452G296403"));
	ck_assert(req_policy_allows_vin(t, "EXVETESTVIN000001"));
	ck_assert(req_policy_allows_vin(t, "EXVETESTVIN000004"));
	ck_assert(req_policy_allows_vin(t, "WMWZZZ3C58TZ12345"));   /* prefix */
	ck_assert(!req_policy_allows_vin(t, "EXVETESTVIN000002"));
	ck_assert(t->has_rate);
	ck_assert_uint_eq(t->rate.count, 20);
	ck_assert_uint_eq(t->rate.window_s, 1);
	ck_assert_uint_eq(t->burst, 40);
	tenant_free(t);
}
END_TEST

START_TEST(load_defaults)
{
	struct fg_tenant *t = load("dashboard.conf", "[tenant]\nlisten = 127.0.0.1:9101\n");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->name, "dashboard");        /* file name without .conf */
	ck_assert_uint_eq(t->methods, FG_M_GET);       /* default GET */
	ck_assert(!t->has_rate);
	ck_assert_uint_eq(vinset_count(t->vins), 0);
	ck_assert(!req_policy_allows_vin(t, "WBADT43452G296403"));
	tenant_free(t);

	/* an empty value means the default, as in the main file */
	t = load("empty.conf", "[tenant]\nname =\nlisten = 127.0.0.1:9101\nmethods =\nrate =\nvins =\n");
	if (!t)
		dump_errs();
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->name, "empty");
	ck_assert_uint_eq(t->methods, FG_M_GET);
	ck_assert(!t->has_rate);
	tenant_free(t);

	t = load("r.conf", "[tenant]\nsources = 10.0.0.0/8\nrate = 90/min\nvin_prefixes = *\n");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->burst, 90);               /* default burst = rate count */
	ck_assert_uint_eq(t->rate.window_s, 60);
	ck_assert(vinset_allows_all(t->vins));
	tenant_free(t);
}
END_TEST

START_TEST(load_masks_host_bits_and_unmaps_v4)
{
	struct fg_tenant *t = load("m.conf",
		"[tenant]\nsources = 10.1.2.3/8, 2001:db8::1/32, ::ffff:192.168.1.7/120\n");
	ck_assert_ptr_nonnull(t);
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET, t->sources[0].addr, a, sizeof(a));
	ck_assert_str_eq(a, "10.0.0.0");
	inet_ntop(AF_INET6, t->sources[1].addr, a, sizeof(a));
	ck_assert_str_eq(a, "2001:db8::");
	ck_assert_int_eq(t->sources[2].family, AF_INET);   /* mapped range is an IPv4 range */
	ck_assert_int_eq(t->sources[2].bits, 24);
	inet_ntop(AF_INET, t->sources[2].addr, a, sizeof(a));
	ck_assert_str_eq(a, "192.168.1.0");
	tenant_free(t);
}
END_TEST

/* Each bad line gives FILE:LINE; every error is collected; NULL returned. */
START_TEST(load_errors_file_line)
{
	struct fg_tenant *t = load("bad.conf",
		"stray = 1\n"                                  /* 1 */
		"[tenant]\n"                                   /* 2 */
		"listen = localhost\n"                         /* 3 */
		"keys_sha256 = my-secret-api-key\n"            /* 4 */
		"sources = 10.0.0.0/33, 300.1.1.1, fe80::/x\n" /* 5 */
		"methods = GET, PATCH\n"                       /* 6 */
		"vins = WBADT43452G29640, EXVETESTVIN000001\n" /* 7 */
		"vin_file = missing.vins\n"                    /* 8 */
		"vin_prefixes = WB-\n"                         /* 9 */
		"rate = 20/fortnight\n"                        /* 10 */
		"burst = -3\n"                                 /* 11 */
		"colour = blue\n"                              /* 12 */
		"methods = GET\n"                              /* 13 */
		"[other]\n"                                    /* 14 */
		"x = 1\n"                                      /* 15 */
		"[tenant]\n"                                   /* 16 */
		"name = bad name\n");                          /* 17 */
	ck_assert_ptr_null(t);
	want_err("bad.conf", 1, "before the [tenant] section");
	want_err("bad.conf", 3, "listen: bad address \"localhost\"");
	want_err("bad.conf", 4, "keys_sha256: item 1 is not 64 hex digits");
	want_err("bad.conf", 5, "\"10.0.0.0/33\"");
	want_err("bad.conf", 5, "\"300.1.1.1\"");
	want_err("bad.conf", 5, "\"fe80::/x\"");
	want_err("bad.conf", 6, "unknown method \"PATCH\"");
	want_err("bad.conf", 7, "malformed VIN \"WBADT43452G29640\"");
	/* on the vin_file line, naming the file */
	want_err("bad.conf", 8, "missing.vins: cannot read VIN file: No such file or directory");
	want_err("bad.conf", 9, "VIN prefix \"WB-\"");
	want_err("bad.conf", 10, "rate:");
	want_err("bad.conf", 11, "burst \"-3\"");
	want_err("bad.conf", 12, "unknown key \"colour\"");
	want_err("bad.conf", 13, "duplicate key \"methods\" in [tenant] (first set on line 6)");
	want_err("bad.conf", 14, "unknown section [other]");
	want_err("bad.conf", 17, "name \"bad name\"");
	ck_assert(!errs_mention("x = 1") && !errs_mention("\"x\""));   /* reported once, at [other] */
	ck_assert(!errs_mention("my-secret-api-key"));                 /* never echo a key */
}
END_TEST

/* A VIN file named twice, under another spelling too, is refused on the
 * vin_file line before it is read again; a device is refused unread. */
START_TEST(load_vin_file_twice_or_device)
{
	put("twice.vins", "EXVETESTVIN000003\n");
	struct fg_tenant *t = load("twice.conf",
		"[tenant]\n"
		"name = twice\n"
		"sources = 10.0.0.0/8\n"
		"vin_file = twice.vins, ./twice.vins\n");   /* 4 */
	ck_assert_ptr_null(t);
	char want[300];
	snprintf(want, sizeof want, "vin_file: %s/./twice.vins is listed more than once", tmpdir);
	want_err("twice.conf", 4, want);
	ck_assert_uint_eq(errs.n, 1);
	t = load("dev.conf",
		"[tenant]\n"
		"name = dev\n"
		"sources = 10.0.0.0/8\n"
		"vin_file = /dev/zero\n");                  /* 4 */
	ck_assert_ptr_null(t);
	want_err("dev.conf", 4, "/dev/zero: cannot read VIN file: not a regular file");
}
END_TEST

START_TEST(load_errors_whole_file)
{
	ck_assert_ptr_null(load("empty.conf", "# nothing\n"));
	want_err("empty.conf", 0, "no [tenant] section");
	ck_assert_ptr_null(load("lonely.conf", "[tenant]\nvins = WBADT43452G296403\n"));
	want_err("lonely.conf", 0, "no listen, keys_sha256 or sources");
	ck_assert_ptr_null(load("b.conf", "[tenant]\nsources = ::1\nburst = 5\n"));
	want_err("b.conf", 3, "burst needs a rate");
	ck_assert_ptr_null(load("twice.conf", "[tenant]\nlisten = 127.0.0.1:9101, 127.0.0.1:9101\n"));
	want_err("twice.conf", 2, "address 127.0.0.1:9101 is listed twice");
	ck_assert_ptr_null(load("commas.conf", "[tenant]\nsources = ,\n"));
	want_err("commas.conf", 2, "sources has no items");
	ck_assert_ptr_null(tenant_load("/nonexistent/x.conf", &errs));
	ck_assert(errs_mention("/nonexistent/x.conf"));
}
END_TEST

/* ---- cross-tenant checks ---- */

START_TEST(check_set_duplicates)
{
	struct fg_tenant *t[3];
	t[0] = load("a.conf", "[tenant]\nname = same\nlisten = 127.0.0.1:9101\n"
			      "keys_sha256 = " HASH_K1 "\nsources = 10.0.0.0/8\n");
	t[1] = load("b.conf", "[tenant]\nname = same\nlisten = 127.0.0.1:9101\n"
			      "keys_sha256 = " HASH_K2 ", " HASH_K1 "\nsources = 10.9.9.9/8, 10.0.0.0/16\n");
	t[2] = load("c.conf", "[tenant]\nlisten = 127.0.0.1:9103\nkeys_sha256 = " HASH_K2 "\n"
			      "sources = 10.0.0.0/24\n");
	ck_assert(t[0] && t[1] && t[2]);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_int_eq(tenant_check_set(t, 3, &errs), 5);
	char other[300];
	snprintf(other, sizeof(other), "%s/a.conf", tmpdir);
	/* each on the line of the clashing key; an unset name is the file
	 * name, reported on the [tenant] line */
	want_err("b.conf", 2, "tenant name \"same\" is also used by");
	want_err("b.conf", 3, "listen: 127.0.0.1:9101 is also a listener of tenant same");
	want_err("b.conf", 5, "sources: 10.0.0.0/8 is also a source range");
	want_err("b.conf", 4, "an API key of tenant same is also a key of tenant same");
	want_err("c.conf", 3, "an API key of tenant c is also a key of tenant same");
	ck_assert(errs_mention(other));   /* both files named */
	ck_assert(!errs_mention(HASH_K1) && !errs_mention(HASH_K2));
	for (int i = 0; i < 3; i++)
		tenant_free(t[i]);
}
END_TEST

static Suite *tenant_suite(void)
{
	Suite *s = suite_create("tenant");
	TCase *tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_all_keys);
	tcase_add_test(tc, load_defaults);
	tcase_add_test(tc, load_masks_host_bits_and_unmaps_v4);
	tcase_add_test(tc, load_errors_file_line);
	tcase_add_test(tc, load_errors_whole_file);
	tcase_add_test(tc, load_vin_file_twice_or_device);
	tcase_add_test(tc, check_set_duplicates);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return check_run(tenant_suite());
}
