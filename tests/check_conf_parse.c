/* check_conf_parse.c: the value syntaxes of the configuration files (conf_parse.c):
 * rates, sizes, booleans, seconds, integers, addresses and address lists,
 * URLs, comma lists and path joins. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "fleetgate.h"
#include "conf_parse.h"

START_TEST(test_rates)
{
	char err[FG_ERR_LEN];
	struct fg_rate r;

	ck_assert_int_eq(conf_parse_rate("60/min", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.count, 60);
	ck_assert_uint_eq(r.window_s, 60);
	ck_assert_int_eq(conf_parse_rate("20/s", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.window_s, 1);
	ck_assert_int_eq(conf_parse_rate("3/sec", &r, err, sizeof(err)), 0);
	ck_assert_int_eq(conf_parse_rate("7/m", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.window_s, 60);
	ck_assert_int_eq(conf_parse_rate("100/h", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.window_s, 3600);
	ck_assert_int_eq(conf_parse_rate("0/s", &r, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_rate("-1/s", &r, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_rate("60", &r, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_rate("60/fortnight", &r, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "bad rate \"60/fortnight\" (expected N/s, N/min or N/h)");
}
END_TEST

START_TEST(test_sizes)
{
	char err[FG_ERR_LEN];
	size_t z;

	ck_assert_int_eq(conf_parse_size("1024", &z, err, sizeof(err)), 0);
	ck_assert_uint_eq(z, 1024);
	ck_assert_int_eq(conf_parse_size("4K", &z, err, sizeof(err)), 0);
	ck_assert_uint_eq(z, 4096);
	ck_assert_int_eq(conf_parse_size("64M", &z, err, sizeof(err)), 0);
	ck_assert_uint_eq(z, 64u << 20);
	ck_assert_int_eq(conf_parse_size("2g", &z, err, sizeof(err)), 0);
	ck_assert_uint_eq(z, 2ULL << 30);
	ck_assert_int_eq(conf_parse_size("-1", &z, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_size("1T", &z, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_size("M", &z, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_size("99999999999999999999", &z, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_size("99999999999G", &z, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_booleans)
{
	char err[FG_ERR_LEN];
	bool b;

	const char *yes[] = { "yes", "true", "on", "1", "YES" }, *no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(conf_parse_bool(yes[i], &b, err, sizeof(err)), 0);
		ck_assert(b);
	}
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(conf_parse_bool(no[i], &b, err, sizeof(err)), 0);
		ck_assert(!b);
	}
	ck_assert_int_eq(conf_parse_bool("2", &b, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_seconds)
{
	char err[FG_ERR_LEN];
	int s;

	ck_assert_int_eq(conf_parse_seconds("0", &s, err, sizeof(err)), 0);
	ck_assert_int_eq(conf_parse_seconds("86400", &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s, 86400);
	ck_assert_int_eq(conf_parse_seconds("-1", &s, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_seconds("5s", &s, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_seconds("", &s, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_seconds("99999999999", &s, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_addresses)
{
	char err[FG_ERR_LEN];
	struct fg_addr a;

	ck_assert_int_eq(conf_parse_addr("[::1]:0", "/x", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.spec, "[::1]:0");
	conf_parse_addr_free(&a);
	ck_assert_int_eq(conf_parse_addr("[0:0::1]:65535", "/x", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.spec, "[::1]:65535");
	conf_parse_addr_free(&a);
	ck_assert_int_eq(conf_parse_addr("*:80", "/x", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.spec, "0.0.0.0:80");
	conf_parse_addr_free(&a);
	ck_assert_int_eq(conf_parse_addr("LocalHost:80", "/x", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.spec, "localhost:80");
	conf_parse_addr_free(&a);
	ck_assert_int_eq(conf_parse_addr("unix:/run/fg.sock", "/x", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.spec, "unix:/run/fg.sock");
	ck_assert_str_eq(a.path, "/run/fg.sock");
	conf_parse_addr_free(&a);
	ck_assert_int_eq(conf_parse_addr("unix:fg.sock", "/etc/fg", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.path, "/etc/fg/fg.sock");
	conf_parse_addr_free(&a);
	const char *bad[] = { "::1:80", "[::1]", "[nothost]:80", "1.2.3.4:", "1.2.3.4:x", ":80",
			      "unix:", "a b:80", "1.2.3.4:-1", "[::1]80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(conf_parse_addr(bad[i], "/x", &a, err, sizeof(err)) == -1,
			      "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_lists)
{
	char **items;

	ck_assert_uint_eq(conf_parse_split_list(" a , ,b,c ,", &items), 3);
	ck_assert_str_eq(items[0], "a");
	ck_assert_str_eq(items[1], "b");
	ck_assert_str_eq(items[2], "c");
	for (int i = 0; i < 3; i++)
		free(items[i]);
	free(items);
	ck_assert_uint_eq(conf_parse_split_list(" , ", &items), 0);
	free(items);
}
END_TEST

START_TEST(test_paths)
{

	char *p = conf_parse_path_join("/etc/fg", "t.d");
	ck_assert_str_eq(p, "/etc/fg/t.d");
	free(p);
	p = conf_parse_path_join("/etc/fg/", "t.d");
	ck_assert_str_eq(p, "/etc/fg/t.d");
	free(p);
	p = conf_parse_path_join("/etc/fg", "/abs");
	ck_assert_str_eq(p, "/abs");
	free(p);
}
END_TEST

START_TEST(test_ints)
{
	char err[FG_ERR_LEN];
	int v;
	ck_assert_int_eq(conf_parse_int("0", &v, err, sizeof(err)), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(conf_parse_int("2147483647", &v, err, sizeof(err)), 0);
	ck_assert_int_eq(v, 2147483647);
	ck_assert_int_eq(conf_parse_int("2147483648", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_int("-3", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_int("3x", &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"3x\" is not a non-negative integer");
}
END_TEST

START_TEST(test_urls)
{
	char err[FG_ERR_LEN];
	char *u = NULL;
	ck_assert_int_eq(conf_parse_url("https://api.example.com//", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u, "https://api.example.com");
	free(u);
	ck_assert_int_eq(conf_parse_url("HTTP://h:1/x", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u, "HTTP://h:1/x");
	free(u);
	u = NULL;
	ck_assert_int_eq(conf_parse_url("https://", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(conf_parse_url("ftp://h", &u, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "URL \"ftp://h\" must start with http:// or https://");
	ck_assert_ptr_null(u);
}
END_TEST

/* A list refuses the second spelling of an address it holds, since both
 * would name one socket. */
START_TEST(test_address_lists)
{
	char err[FG_ERR_LEN];
	struct fg_addrlist l = { calloc(4, sizeof(struct fg_addr)), 0 };
	ck_assert_ptr_nonnull(l.v);
	ck_assert_int_eq(conf_parse_addrlist_add(&l, "127.0.0.1:80", "/x", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_parse_addrlist_add(&l, "unix:s", "/x", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_parse_addrlist_add(&l, "unix:/x/s", "/x", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "address unix:/x/s is listed twice");
	ck_assert_int_eq(conf_parse_addrlist_add(&l, "nope", "/x", err, sizeof(err)), -1);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[1].path, "/x/s");
	conf_parse_addrlist_free(&l);
	ck_assert_ptr_null(l.v);
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(test_millis)
{
	char err[256];
	int v;
	ck_assert_int_eq(conf_parse_millis("0.25", &v, err, sizeof err), 0);
	ck_assert_int_eq(v, 250);
	ck_assert_int_eq(conf_parse_millis("2", &v, err, sizeof err), 0);
	ck_assert_int_eq(v, 2000);
	ck_assert_int_eq(conf_parse_millis("1.5s", &v, err, sizeof err), 0);
	ck_assert_int_eq(v, 1500);
	ck_assert_int_eq(conf_parse_millis("40ms", &v, err, sizeof err), 0);
	ck_assert_int_eq(v, 40);
	ck_assert_int_eq(conf_parse_millis("0.0001", &v, err, sizeof err), 0);
	ck_assert_int_eq(v, 1);   /* rounded up: never 0 by accident */
	ck_assert_int_eq(conf_parse_millis("-1", &v, err, sizeof err), -1);
	ck_assert_int_eq(conf_parse_millis("5 min", &v, err, sizeof err), -1);
	ck_assert_int_eq(conf_parse_millis("", &v, err, sizeof err), -1);
}
END_TEST

START_TEST(test_redis_urls)
{
	char err[512];
	struct fg_redis_url u;
	ck_assert_int_eq(conf_parse_redis_url("redis://10.1.2.3:6380/7", NULL, &u, err, sizeof err), 0);
	ck_assert_str_eq(u.addr.host, "10.1.2.3");
	ck_assert_int_eq(u.addr.port, 6380);
	ck_assert_int_eq(u.db, 7);
	conf_parse_redis_url_free(&u);
	ck_assert_int_eq(conf_parse_redis_url("redis://[::1]", NULL, &u, err, sizeof err), 0);
	ck_assert_str_eq(u.addr.host, "::1");
	ck_assert_int_eq(u.addr.port, 6379);
	ck_assert_int_eq(u.db, 0);
	conf_parse_redis_url_free(&u);
	ck_assert_int_eq(conf_parse_redis_url("redis://localhost/", NULL, &u, err, sizeof err), 0);
	ck_assert_str_eq(u.addr.host, "127.0.0.1");
	conf_parse_redis_url_free(&u);
	ck_assert_int_eq(conf_parse_redis_url("unix:run/r.sock", "/etc/fg", &u, err, sizeof err), 0);
	ck_assert(u.addr.is_unix);
	ck_assert_str_eq(u.addr.path, "/etc/fg/run/r.sock");
	conf_parse_redis_url_free(&u);
	ck_assert_int_eq(conf_parse_redis_url("rediss://10.0.0.1", NULL, &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "without TLS"));
	ck_assert_int_eq(conf_parse_redis_url("redis://cache.internal:6379", NULL, &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "is a name"));
	ck_assert_int_eq(conf_parse_redis_url("redis://a:secretpw@10.0.0.1", NULL, &u, err, sizeof err), -1);
	ck_assert_ptr_null(strstr(err, "secretpw"));
	ck_assert_int_eq(conf_parse_redis_url("http://10.0.0.1", NULL, &u, err, sizeof err), -1);
	ck_assert_int_eq(conf_parse_redis_url("redis://10.0.0.1:0", NULL, &u, err, sizeof err), -1);
	ck_assert_int_eq(conf_parse_redis_url("redis://10.0.0.1/x", NULL, &u, err, sizeof err), -1);
	ck_assert_int_eq(conf_parse_redis_url("redis://", NULL, &u, err, sizeof err), -1);
}
END_TEST
static Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, test_rates);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_booleans);
	tcase_add_test(tc, test_seconds);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_ints);
	tcase_add_test(tc, test_urls);
	tcase_add_test(tc, test_address_lists);
	tcase_add_test(tc, test_millis);
	tcase_add_test(tc, test_redis_urls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(parse_suite());
}
