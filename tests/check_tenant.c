/* check_tenant.c: tenant files (every key, every error with FILE:LINE),
 * cross-tenant duplicates, attribution order, the policy checks of every
 * route, and list filtering. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include "fleetgate.h"
#include "listview.h"
#include "tenant.h"
#include "vinset.h"

#define HASH_K1 "6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0"  /* "k1" */
#define HASH_K2 "015f7e6bc5aeaf483724089e9252cc13b50951a6b69412522765cff4d780306e"  /* "k2" */

static char tmpdir[64];
static struct fg_errors errs;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_tenant.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&errs, 0, sizeof(errs));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	errors_free(&errs);
}

/* Writes NAME in the temp folder; returns its path (static buffer rotates). */
static const char *put(const char *name, const char *text)
{
	static char paths[4][256];
	static int k;
	char *p = paths[k++ % 4];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return p;
}

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
	ck_assert(tenant_allows_vin(t, "WBADT43452G296403"));
	ck_assert(tenant_allows_vin(t, "EXVETESTVIN000001"));
	ck_assert(tenant_allows_vin(t, "EXVETESTVIN000004"));
	ck_assert(tenant_allows_vin(t, "WMWZZZ3C58TZ12345"));   /* prefix */
	ck_assert(!tenant_allows_vin(t, "EXVETESTVIN000002"));
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
	ck_assert(!tenant_allows_vin(t, "WBADT43452G296403"));
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

/* ---- attribution ---- */

static struct sockaddr_storage peer_ss;

static const struct sockaddr *peer(const char *text)
{
	memset(&peer_ss, 0, sizeof(peer_ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer_ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer_ss;
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)&peer_ss;
}

static struct fg_tenant *atts[4];
static struct fg_config attc;

static void setup_attr(void)
{
	setup();
	atts[0] = load("wide.conf", "[tenant]\nsources = 10.0.0.0/8, 2001:db8::/32\n");
	atts[1] = load("narrow.conf", "[tenant]\nsources = 10.1.0.0/16, 2001:db8:1::/48\n");
	atts[2] = load("keyed.conf", "[tenant]\nkeys_sha256 = " HASH_K1 "\nsources = 10.1.2.0/24\n");
	atts[3] = load("dedicated.conf", "[tenant]\nlisten = 127.0.0.1:9101\nsources = 10.1.2.3\n");
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(atts[i]);
	memset(&attc, 0, sizeof(attc));
	attc.tenants = atts;
	attc.ntenants = 4;
}

static void teardown_attr(void)
{
	for (int i = 0; i < 4; i++)
		tenant_free(atts[i]);
	teardown();
}

static const char *who(const char *listener, const char *key, const char *addr, enum fg_attr_result *r)
{
	const struct fg_tenant *t = tenant_attribute(&attc, listener, key, key ? strlen(key) : 0,
						     addr ? peer(addr) : NULL, r);
	return t ? t->name : "-";
}

START_TEST(attr_order)
{
	enum fg_attr_result r;
	/* listener beats key and source */
	ck_assert_str_eq(who("127.0.0.1:9101", "k1", "10.1.2.3", &r), "dedicated");
	ck_assert_int_eq(r, FG_ATTR_OK);
	/* even a bad key: the dedicated listener decides */
	ck_assert_str_eq(who("127.0.0.1:9101", "nope", NULL, &r), "dedicated");
	/* key beats source */
	ck_assert_str_eq(who(NULL, "k1", "10.200.0.1", &r), "keyed");
	ck_assert_str_eq(who(NULL, "k1", NULL, &r), "keyed");
	/* shared listeners pass NULL and fall through */
	ck_assert_str_eq(who(NULL, "k1", NULL, &r), "keyed");
	/* a dedicated listener no tenant owns any more (a reload removed it)
	 * is never handed to a key or a source */
	ck_assert_str_eq(who("127.0.0.1:8080", "k1", "10.1.2.3", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_LISTENER_GONE);
	/* a wrong key is BAD_KEY whatever the source */
	ck_assert_str_eq(who(NULL, "k2", "10.1.2.3", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	ck_assert_str_eq(who(NULL, "", "10.1.2.3", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	/* nothing matches */
	ck_assert_str_eq(who(NULL, NULL, "192.0.2.1", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_NONE);
	ck_assert_str_eq(who(NULL, NULL, NULL, &r), "-");
	ck_assert_int_eq(r, FG_ATTR_NONE);
	ck_assert_ptr_null(tenant_attribute(NULL, NULL, NULL, 0, NULL, &r));
}
END_TEST

START_TEST(attr_most_specific_source)
{
	enum fg_attr_result r;
	ck_assert_str_eq(who(NULL, NULL, "10.200.0.1", &r), "wide");
	ck_assert_int_eq(r, FG_ATTR_OK);
	ck_assert_str_eq(who(NULL, NULL, "10.1.200.1", &r), "narrow");
	ck_assert_str_eq(who(NULL, NULL, "10.1.2.200", &r), "keyed");   /* /24 beats /16 */
	ck_assert_str_eq(who(NULL, NULL, "10.1.2.3", &r), "dedicated"); /* /32 beats all */
	ck_assert_str_eq(who(NULL, NULL, "11.0.0.1", &r), "-");
}
END_TEST

START_TEST(attr_ipv6_and_mapped)
{
	enum fg_attr_result r;
	ck_assert_str_eq(who(NULL, NULL, "2001:db8:ffff::1", &r), "wide");
	ck_assert_str_eq(who(NULL, NULL, "2001:db8:1::42", &r), "narrow");
	ck_assert_str_eq(who(NULL, NULL, "2001:db9::1", &r), "-");
	/* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
	ck_assert_str_eq(who(NULL, NULL, "::ffff:10.1.2.3", &r), "dedicated");
	ck_assert_str_eq(who(NULL, NULL, "::ffff:10.9.9.9", &r), "wide");
	ck_assert_int_eq(r, FG_ATTR_OK);
	/* a unix-socket peer has no address */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	ck_assert_ptr_null(tenant_attribute(&attc, NULL, NULL, 0, (struct sockaddr *)&un, &r));
	ck_assert_int_eq(r, FG_ATTR_NONE);
}
END_TEST

/* ---- policy ---- */

static struct fg_tenant *pol;

static void setup_policy(void)
{
	setup();
	pol = load("dispatch.conf", "[tenant]\nsources = 127.0.0.1\nmethods = GET, POST\n"
				    "vins = WBADT43452G296403, EXVETESTVIN000001, EXVETESTVIN000002\n");
	ck_assert_ptr_nonnull(pol);
}

static void teardown_policy(void)
{
	tenant_free(pol);
	teardown();
}

static int check(enum fg_route r, const char *path_vin, const char *body, char ***vins,
		 size_t *n, char *detail, size_t dlen)
{
	json_t *j = NULL;
	if (body) {
		j = json_loads(body, JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(j);
	}
	int st = tenant_check(pol, r, path_vin, j, vins, n, detail, dlen);
	json_decref(j);
	return st;
}

START_TEST(policy_vin_routes)
{
	char d[512], **v;
	size_t n;
	ck_assert_int_eq(check(FG_R_LIST, NULL, NULL, &v, &n, d, sizeof(d)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(check(FG_R_GET, "EXVETESTVIN000001", NULL, &v, &n, d, sizeof(d)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0], "EXVETESTVIN000001");
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_GET, "EXVETESTVIN000009", NULL, &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VIN EXVETESTVIN000009 is not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	/* a denied request still hands back its VIN, for the audit line */
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0], "EXVETESTVIN000009");
	tenant_vins_free(v, n);
	/* DELETE and cancel need the DELETE method, checked before the VIN */
	ck_assert_int_eq(check(FG_R_DELETE, "EXVETESTVIN000009", NULL, &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "method DELETE is not allowed for tenant dispatch (methods = GET, POST)");
	ck_assert_int_eq(check(FG_R_CANCEL, "EXVETESTVIN000001", NULL, &v, &n, d, sizeof(d)), 403);
	ck_assert_ptr_nonnull(strstr(d, "method DELETE is not allowed for tenant dispatch"));
	/* NULL vins is fine */
	ck_assert_int_eq(check(FG_R_GET, "WBADT43452G296403", NULL, NULL, NULL, d, sizeof(d)), 0);
}
END_TEST

START_TEST(policy_delete_allowed)
{
	char d[512], **v;
	size_t n;
	pol->methods = FG_M_GET | FG_M_DELETE;
	ck_assert_int_eq(check(FG_R_DELETE, "EXVETESTVIN000002", NULL, &v, &n, d, sizeof(d)), 0);
	ck_assert_uint_eq(n, 1);
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_CANCEL, "EXVETESTVIN000002", NULL, &v, &n, d, sizeof(d)), 0);
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_CANCEL, "EXVETESTVIN000003", NULL, &v, &n, d, sizeof(d)), 403);
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"vehicles\":[]}", &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "method POST is not allowed for tenant dispatch (methods = GET, DELETE)");
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{}", &v, &n, d, sizeof(d)), 403);
}
END_TEST

START_TEST(policy_create)
{
	char d[512], **v;
	size_t n;
	ck_assert_int_eq(check(FG_R_CREATE, NULL,
		"{\"vehicles\":[{\"vin\":\"exvetestvin000001\",\"brand\":\"sandbox\"},"
		"{\"vin\":\" WBADT43452G296403 \",\"brand\":\"bmw\"},"
		"{\"vin\":\"EXVETESTVIN000001\",\"brand\":\"sandbox\"}]}", &v, &n, d, sizeof(d)), 0);
	ck_assert_uint_eq(n, 2);   /* normalized, duplicates once */
	ck_assert_str_eq(v[0], "EXVETESTVIN000001");
	ck_assert_str_eq(v[1], "WBADT43452G296403");
	tenant_vins_free(v, n);
	/* mixed: every denied VIN is named; all VINs asked for come back */
	ck_assert_int_eq(check(FG_R_CREATE, NULL,
		"{\"vehicles\":[{\"vin\":\"EXVETESTVIN000001\"},{\"vin\":\"EXVETESTVIN000007\"},"
		"{\"vin\":\"EXVETESTVIN000002\"},{\"vin\":\"exvetestvin000008\"},"
		"{\"vin\":\"EXVETESTVIN000007\"}]}", &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VINs EXVETESTVIN000007, EXVETESTVIN000008 are not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	ck_assert_uint_eq(n, 4);   /* normalized, duplicates once */
	tenant_vins_free(v, n);
}
END_TEST

START_TEST(policy_create_many_denied_fit)
{
	char d[160], **v;
	size_t n;
	char body[4096] = "{\"vehicles\":[";
	for (int i = 0; i < 40; i++)
		snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s{\"vin\":\"DENIED%011d\"}",
			 i ? "," : "", i);
	strcat(body, "]}");
	ck_assert_int_eq(check(FG_R_CREATE, NULL, body, &v, &n, d, sizeof(d)), 403);
	ck_assert_ptr_nonnull(strstr(d, "VINs DENIED00000000000, DENIED00000000001"));
	ck_assert_ptr_nonnull(strstr(d, "more are not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)"));
	ck_assert_uint_lt(strlen(d), sizeof(d));
	ck_assert_uint_eq(n, 40);
	tenant_vins_free(v, n);
}
END_TEST

START_TEST(policy_create_bad_bodies)
{
	char d[512], **v;
	size_t n;
	ck_assert_int_eq(check(FG_R_CREATE, NULL, NULL, &v, &n, d, sizeof(d)), 400);
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "[1,2]", &v, &n, d, sizeof(d)), 400);
	ck_assert_ptr_nonnull(strstr(d, "JSON object"));
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"cars\":[]}", &v, &n, d, sizeof(d)), 400);
	ck_assert_ptr_nonnull(strstr(d, "\"vehicles\""));
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"vehicles\":{}}", &v, &n, d, sizeof(d)), 400);
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"vehicles\":[{\"vin\":\"EXVETESTVIN000001\"},7]}",
			       &v, &n, d, sizeof(d)), 400);
	ck_assert_str_eq(d, "vehicles[1] must be an object");
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"vehicles\":[{\"brand\":\"bmw\"}]}", &v, &n, d, sizeof(d)), 400);
	ck_assert_str_eq(d, "vehicles[0].vin must be a string");
	ck_assert_int_eq(check(FG_R_CREATE, NULL, "{\"vehicles\":[{\"vin\":17}]}", &v, &n, d, sizeof(d)), 400);
	/* malformed VIN: 400 naming it, even next to denied ones */
	ck_assert_int_eq(check(FG_R_CREATE, NULL,
		"{\"vehicles\":[{\"vin\":\"EXVETESTVIN000009\"},{\"vin\":\"VIN012345678901234\"}]}",
		&v, &n, d, sizeof(d)), 400);
	ck_assert_ptr_nonnull(strstr(d, "vehicles[1].vin \"VIN012345678901234\" is not a VIN"));
	ck_assert_int_eq(check(FG_R_CREATE, NULL,
		"{\"vehicles\":[{\"vin\":\"a\\\"b\\n\"},{\"vin\":\"x\"}]}", &v, &n, d, sizeof(d)), 400);
	ck_assert_ptr_nonnull(strstr(d, "\"a?b?\""));   /* quotes and control bytes never copied */
	ck_assert_ptr_nonnull(strstr(d, "1 more malformed"));
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(policy_access_token)
{
	char d[512], **v;
	size_t n;
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":\"exvetestvin000002\"}", &v, &n, d, sizeof(d)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0], "EXVETESTVIN000002");
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":\"EXVETESTVIN000003\"}", &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VIN EXVETESTVIN000003 is not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	tenant_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":\"short\"}", &v, &n, d, sizeof(d)), 400);
	ck_assert_ptr_nonnull(strstr(d, "\"short\" is not a VIN"));
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":5}", &v, &n, d, sizeof(d)), 400);
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "\"EXVETESTVIN000002\"", &v, &n, d, sizeof(d)), 400);
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, NULL, &v, &n, d, sizeof(d)), 400);
}
END_TEST

/* What a tenant sees of a list answer, rendered by the list view the
 * gateway uses for every list (cached or not), read back as JSON. */
static json_t *tenant_view(const struct fg_tenant *t, json_t *answer)
{
	struct listview *v = listview_new(answer);
	if (!v)
		return NULL;
	struct evbuffer *b = evbuffer_new();
	ck_assert_int_eq(listview_render(v, t, 1, b), 0);
	json_t *out = json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, NULL);
	evbuffer_free(b);
	listview_free(v);
	return out;
}

START_TEST(filter_list)
{
	json_t *in = json_loads("[{\"vin\":\"EXVETESTVIN000001\",\"status\":\"approved\"},"
				"{\"vin\":\"EXVETESTVIN000005\",\"status\":\"pending\"},"
				"{\"status\":\"pending\"}, 7,"
				"{\"vin\":\"wbadt43452g296403\",\"status\":\"revoked\"}]", 0, NULL);
	ck_assert_ptr_nonnull(in);
	json_t *out = tenant_view(pol, in);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_ne(out, in);
	ck_assert_uint_eq(json_array_size(out), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "vin")), "EXVETESTVIN000001");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 1), "status")), "revoked");
	ck_assert_uint_eq(json_array_size(in), 5);   /* input untouched: it may be cached */
	json_decref(out);

	/* an object wrapping the array is filtered the same way */
	json_t *wrapped = json_pack("{s:O,s:i}", "vehicles", in, "total", 5);
	out = tenant_view(pol, wrapped);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(json_array_size(json_object_get(out, "vehicles")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "total")), 5);
	ck_assert_uint_eq(json_array_size(json_object_get(wrapped, "vehicles")), 5);
	json_decref(out);
	json_decref(wrapped);

	/* not a list */
	json_t *obj = json_pack("{s:s}", "vin", "EXVETESTVIN000001");
	ck_assert_ptr_null(tenant_view(pol, obj));
	ck_assert_ptr_null(tenant_view(pol, NULL));
	json_decref(obj);

	/* "*" returns the same answer */
	char err[FG_ERR_LEN];
	ck_assert_int_eq(vinset_add_prefix(pol->vins, "*", err, sizeof(err)), 0);
	out = tenant_view(pol, in);
	ck_assert(json_equal(out, in));
	json_decref(out);
	json_decref(in);
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
	tcase_add_test(tc, check_set_duplicates);
	suite_add_tcase(s, tc);

	tc = tcase_create("attribute");
	tcase_add_checked_fixture(tc, setup_attr, teardown_attr);
	tcase_add_test(tc, attr_order);
	tcase_add_test(tc, attr_most_specific_source);
	tcase_add_test(tc, attr_ipv6_and_mapped);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup_policy, teardown_policy);
	tcase_add_test(tc, policy_vin_routes);
	tcase_add_test(tc, policy_delete_allowed);
	tcase_add_test(tc, policy_create);
	tcase_add_test(tc, policy_create_many_denied_fit);
	tcase_add_test(tc, policy_create_bad_bodies);
	tcase_add_test(tc, policy_access_token);
	tcase_add_test(tc, filter_list);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(tenant_suite());
}
