/* check_req_policy.c: attribution order (listener, key, source), the policy
 * checks of every route, and list filtering by a tenant's VINs. Tenants
 * are loaded from files written into a fresh folder per test. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include "check_files.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include "fleetgate.h"
#include "conf.h"
#include "req_listfilter.h"
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"

#define HASH_K1 "6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0"  /* "k1" */

static struct fg_tenant *load(const char *name, const char *text)
{
	struct fg_tenant *t = tenant_load(put(name, text), &errs);
	for (size_t i = 0; !t && i < errs.n; i++)
		fprintf(stderr, "  %s\n", errs.lines[i]);
	return t;
}

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
	const struct fg_tenant *t = req_policy_attribute(&attc, listener, NULL, key, addr ? peer(addr) : NULL, r);
	return t ? t->name : "-";
}

/* With the Authorization header AUTH (and X-API-Key XKEY), from 10.1.2.200
 * (the source of "keyed"). */
static const char *who_auth(const char *auth, const char *xkey, enum fg_attr_result *r)
{
	const struct fg_tenant *t = req_policy_attribute(&attc, NULL, auth, xkey, peer("10.1.2.200"), r);
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
	ck_assert_ptr_null(req_policy_attribute(NULL, NULL, NULL, NULL, NULL, &r));
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
	ck_assert_ptr_null(req_policy_attribute(&attc, NULL, NULL, NULL, (struct sockaddr *)&un, &r));
	ck_assert_int_eq(r, FG_ATTR_NONE);
}
END_TEST

/* Every Authorization form: Bearer with spaces or tabs is the key, both
 * headers trimmed alike; anything else presented is BAD_KEY, never the
 * source's tenant. */
START_TEST(attr_authorization_forms)
{
	enum fg_attr_result r;
	const char *good[] = { "Bearer k1", "bearer k1", "BEARER\tk1", "Bearer \t k1 \t", " Bearer k1" };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		ck_assert_msg(strcmp(who_auth(good[i], NULL, &r), "keyed") == 0, "%s", good[i]);
		ck_assert_int_eq(r, FG_ATTR_OK);
	}
	ck_assert_str_eq(who_auth(NULL, "\tk1 ", &r), "keyed");
	ck_assert_str_eq(who_auth("Bearer k1", "k1", &r), "keyed");
	const char *bad[] = { "Bearer", "Bearer ", "Bearer\t", "Bearerk1", "Basic dXNlcjpwYXNz", "Token k1", "",
			      "Bearer k2", "k1" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(strcmp(who_auth(bad[i], NULL, &r), "-") == 0, "'%s'", bad[i]);
		ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	}
	ck_assert_str_eq(who_auth(NULL, "", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	ck_assert_str_eq(who_auth(NULL, " \t", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	/* two different keys: which one was meant is not guessed */
	ck_assert_str_eq(who_auth("Bearer k1", "k2", &r), "-");
	ck_assert_int_eq(r, FG_ATTR_BAD_KEY);
	ck_assert_str_eq(who_auth("Basic x", "k1", &r), "-");
	/* no credential at all: the source decides */
	ck_assert_str_eq(who_auth(NULL, NULL, &r), "keyed");
	const char *k;
	size_t kl;
	ck_assert_int_eq(req_policy_credential("Bearer\t\tabc\t", NULL, &k, &kl), FG_CRED_KEY);
	ck_assert_uint_eq(kl, 3);
	ck_assert_int_eq(memcmp(k, "abc", 3), 0);
}
END_TEST

/* ---- the body ---- */

START_TEST(body_media_types)
{
	const char *json[] = { NULL, "application/json", "Application/JSON", "application/json; charset=utf-8",
			       "application/json;charset=UTF-8", " application/json ", "application/vnd.api+json",
			       "application/problem+json; x=y" };
	for (size_t i = 0; i < sizeof json / sizeof *json; i++)
		ck_assert_msg(req_policy_json_media_type(json[i]), "%s", json[i] ? json[i] : "(none)");
	const char *other[] = { "application/x-www-form-urlencoded", "text/plain", "text/json", "multipart/form-data",
				"", "application/", "application/+json", "application/jsonx", "application/json+x",
				"application/a/b+json", "json" };
	for (size_t i = 0; i < sizeof other / sizeof *other; i++)
		ck_assert_msg(!req_policy_json_media_type(other[i]), "%s", other[i]);
}
END_TEST

static int body(enum fg_route r, const char *ct, const char *text, json_t **j)
{
	char d[256] = "";
	int st = req_policy_parse_body(r, ct, (const unsigned char *)text, strlen(text), j, d, sizeof d);
	if (st)
		ck_assert_msg(d[0], "no detail");
	return st;
}

START_TEST(body_duplicates_and_labels)
{
	json_t *j;
	ck_assert_int_eq(body(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":\"EXVETESTVIN000001\"}", &j), 0);
	ck_assert_ptr_nonnull(j);
	json_decref(j);
	/* duplicates anywhere: top level, nested in an array */
	ck_assert_int_eq(body(FG_R_ACCESS_TOKEN, "application/json", "{\"vin\":\"A\",\"vin\":\"B\"}", &j), 400);
	ck_assert_ptr_null(j);
	ck_assert_int_eq(body(FG_R_CREATE, NULL, "{\"vehicles\":[{\"vin\":\"A\",\"x\":{\"k\":1,\"k\":2}}]}", &j), 400);
	ck_assert_int_eq(body(FG_R_CREATE, NULL, "{\"vehicles\":[]} x", &j), 400);
	ck_assert_int_eq(body(FG_R_ACCESS_TOKEN, "application/x-www-form-urlencoded", "{\"vin\":\"A\"}", &j), 415);
	ck_assert_ptr_null(j);
	/* routes without a body: nothing is parsed (nothing is forwarded) */
	ck_assert_int_eq(body(FG_R_DELETE, "text/plain", "vin=B", &j), 0);
	ck_assert_ptr_null(j);
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
	int st = req_policy_check(pol, r, path_vin, j, vins, n, detail, dlen);
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
	req_policy_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_GET, "EXVETESTVIN000009", NULL, &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VIN EXVETESTVIN000009 is not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	/* a denied request still hands back its VIN, for the audit line */
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0], "EXVETESTVIN000009");
	req_policy_vins_free(v, n);
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
	req_policy_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_CANCEL, "EXVETESTVIN000002", NULL, &v, &n, d, sizeof(d)), 0);
	req_policy_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_CANCEL, "EXVETESTVIN000003", NULL, &v, &n, d, sizeof(d)), 403);
	req_policy_vins_free(v, n);
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
	req_policy_vins_free(v, n);
	/* mixed: every denied VIN is named; all VINs asked for come back */
	ck_assert_int_eq(check(FG_R_CREATE, NULL,
		"{\"vehicles\":[{\"vin\":\"EXVETESTVIN000001\"},{\"vin\":\"EXVETESTVIN000007\"},"
		"{\"vin\":\"EXVETESTVIN000002\"},{\"vin\":\"exvetestvin000008\"},"
		"{\"vin\":\"EXVETESTVIN000007\"}]}", &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VINs EXVETESTVIN000007, EXVETESTVIN000008 are not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	ck_assert_uint_eq(n, 4);   /* normalized, duplicates once */
	req_policy_vins_free(v, n);
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
	req_policy_vins_free(v, n);
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
	req_policy_vins_free(v, n);
	ck_assert_int_eq(check(FG_R_ACCESS_TOKEN, NULL, "{\"vin\":\"EXVETESTVIN000003\"}", &v, &n, d, sizeof(d)), 403);
	ck_assert_str_eq(d, "VIN EXVETESTVIN000003 is not allowed for tenant dispatch (not in its vins, vin_file or vin_prefixes)");
	req_policy_vins_free(v, n);
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
	struct listview *v = req_listfilter_new(answer);
	if (!v)
		return NULL;
	struct evbuffer *b = evbuffer_new();
	ck_assert_int_eq(req_listfilter_render(v, t, 1, b), 0);
	json_t *out = json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, NULL);
	evbuffer_free(b);
	req_listfilter_free(v);
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

	/* an object wrapping the array is filtered the same way; a member
	 * beside it (a count of every vehicle) does not pass, errors keep
	 * only their title, detail and source */
	json_t *wrapped = json_pack("{s:O,s:i,s:[{s:s,s:s,s:[s]}, i]}", "vehicles", in, "total", 5, "errors",
				    "title", "Partial", "detail", "some", "vins", "EXVETESTVIN000005", 3);
	out = tenant_view(pol, wrapped);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(json_array_size(json_object_get(out, "vehicles")), 2);
	ck_assert_ptr_null(json_object_get(out, "total"));
	ck_assert_uint_eq(json_object_size(out), 2);
	json_t *jerrs = json_object_get(out, "errors");
	ck_assert_uint_eq(json_array_size(jerrs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jerrs, 0), "title")), "Partial");
	ck_assert_ptr_null(json_object_get(json_array_get(jerrs, 0), "vins"));
	ck_assert_uint_eq(json_array_size(json_object_get(wrapped, "vehicles")), 5);
	json_decref(out);
	json_decref(wrapped);

	/* an object without a list: nothing fleetgate cannot filter survives */
	json_t *obj = json_pack("{s:s}", "vin", "EXVETESTVIN000005");
	out = tenant_view(pol, obj);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(json_object_size(out), 0);
	json_decref(out);
	json_decref(obj);
	/* not JSON's array or object: no view */
	json_t *num = json_integer(7);
	ck_assert_ptr_null(tenant_view(pol, num));
	ck_assert_ptr_null(tenant_view(pol, NULL));
	json_decref(num);

	/* "*" returns the same answer */
	char err[FG_ERR_LEN];
	ck_assert_int_eq(vinset_add_prefix(pol->vins, "*", err, sizeof(err)), 0);
	out = tenant_view(pol, in);
	ck_assert(json_equal(out, in));
	json_decref(out);
	json_decref(in);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("attribute");
	tcase_add_checked_fixture(tc, setup_attr, teardown_attr);
	tcase_add_test(tc, attr_order);
	tcase_add_test(tc, attr_most_specific_source);
	tcase_add_test(tc, attr_ipv6_and_mapped);
	tcase_add_test(tc, attr_authorization_forms);
	tcase_add_test(tc, body_media_types);
	tcase_add_test(tc, body_duplicates_and_labels);
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
	return check_run(policy_suite());
}
