/* check_req_localtoken.c: the local token store and endpoint (req_localtoken.c):
 * issue and lookup, expiry, the bound on live tokens, the rules by which a
 * token survives a reload (its tenant, and the key that asked for it,
 * still there), threads issuing and looking up at once, and the token
 * request's decisions (form and JSON bodies, wrong or missing
 * credentials, listener and source attribution, the OAuth answer). */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <math.h>
#include "clock.h"
#include "conf.h"
#include "req_localtoken.h"
#include "req_policy.h"
#include "req_tenantrate.h"
#include "tenant.h"
#include "tenant_cert.h"

/* ---- hand-made configurations ---- */

/* Every hand-made tenant has the source range 10.0.0.0/8; SRC is the
 * attribution by it, as a token issued to a source address carries. */
static const struct fg_cidr SRC_RANGE = { .family = AF_INET, .addr = { 10 }, .bits = 8 };
static struct fg_attribution SRC;

static const struct fg_attribution *by_key(const unsigned char kh[32])
{
	static struct fg_attribution a;
	req_attr_by_keyhash(kh, &a);
	return &a;
}

static struct fg_tenant *mk_tenant(const char *name, const char *const *keys, size_t nkeys)
{
	struct fg_tenant *t = calloc(1, sizeof *t);
	ck_assert_ptr_nonnull(t);
	t->name = strdup(name);
	t->sources = calloc(1, sizeof *t->sources);
	t->sources[0] = SRC_RANGE;
	t->nsources = 1;
	t->keys = calloc(nkeys ? nkeys : 1, sizeof *t->keys);
	for (size_t i = 0; i < nkeys; i++)
		SHA256((const unsigned char *)keys[i], strlen(keys[i]), t->keys[i]);
	t->nkeys = nkeys;
	return t;
}

static void free_tenant(struct fg_tenant *t)
{
	free(t->sources);
	free(t->name);
	free(t->keys);
	free(t);
}

struct cfg {
	struct fg_config c;
	struct fg_tenant *t[4];
};

static void mk_cfg(struct cfg *k, size_t n, struct fg_tenant **ts)
{
	memset(k, 0, sizeof *k);
	for (size_t i = 0; i < n; i++)
		k->t[i] = ts[i];
	k->c.tenants = k->t;
	k->c.ntenants = n;
	k->c.local_token_ttl = 3600;
	k->c.max_body_bytes = 1024;
}

static void free_cfg(struct cfg *k)
{
	for (size_t i = 0; i < k->c.ntenants; i++)
		free_tenant(k->t[i]);
}

static void hash_of(const char *key, unsigned char out[32])
{
	SHA256((const unsigned char *)key, strlen(key), out);
}

static void setup(void)
{
	req_localtoken_clear();
	req_attr_by_range(&SRC_RANGE, &SRC);
}
static void teardown(void) { req_localtoken_clear(); }

/* ---- the store ---- */

START_TEST(test_issue_and_lookup)
{
	const char *keys[] = { "k-ops" };
	struct cfg k;
	mk_cfg(&k, 1, (struct fg_tenant *[]){ mk_tenant("ops", keys, 1) });
	unsigned char kh[32];
	hash_of("k-ops", kh);
	char a[LOCALTOKEN_LEN + 1], b[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("ops", by_key(kh), 100, 60, a), 0);
	ck_assert_int_eq(req_localtoken_issue("ops", by_key(kh), 100, 60, b), 0);
	ck_assert_uint_eq(strlen(a), LOCALTOKEN_LEN);
	ck_assert_str_ne(a, b);   /* random, never the same twice */
	for (const char *p = a; *p; p++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, a, strlen(a), 100), k.t[0]);
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, b, strlen(b), 159.9), k.t[0]);
	ck_assert_uint_eq(req_localtoken_count(), 2);

	/* Anything else is no token: a changed character, a prefix, the key. */
	char c[LOCALTOKEN_LEN + 1];
	memcpy(c, a, sizeof c);
	c[0] = c[0] == 'A' ? 'B' : 'A';
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, c, strlen(c), 100));
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, a, LOCALTOKEN_LEN - 1, 100));
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, "k-ops", 5, 100));
	ck_assert_ptr_null(req_localtoken_lookup(NULL, a, strlen(a), 100));
	free_cfg(&k);
}
END_TEST

START_TEST(test_expiry)
{
	struct cfg k;
	mk_cfg(&k, 1, (struct fg_tenant *[]){ mk_tenant("src", NULL, 0) });
	char a[LOCALTOKEN_LEN + 1], b[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 1000, 30, a), 0);
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 1000, 300, b), 0);
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, a, strlen(a), 1029.5), k.t[0]);
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, a, strlen(a), 1030));
	/* The expired token was dropped when met, not just refused. */
	ck_assert_uint_eq(req_localtoken_count(), 1);
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, a, strlen(a), 1000));
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, b, strlen(b), 1030), k.t[0]);
	/* A sweep at the next issue takes expired tokens nobody presents. */
	char c[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 1400, 30, c), 0);
	ck_assert_uint_eq(req_localtoken_count(), 1);
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, b, strlen(b), 1400));
	free_cfg(&k);
}
END_TEST

/* Sixteen tenants share the store, each below LOCALTOKEN_PER_TENANT. */
static const char *const names[16] = { "src", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9",
				       "t10", "t11", "t12", "t13", "t14", "t15" };

START_TEST(test_bounded)
{
	struct cfg k;
	mk_cfg(&k, 2, (struct fg_tenant *[]){ mk_tenant("src", NULL, 0), mk_tenant("t1", NULL, 0) });
	char first[LOCALTOKEN_LEN + 1], last[LOCALTOKEN_LEN + 1], tok[LOCALTOKEN_LEN + 1];
	char srctok[LOCALTOKEN_LEN + 1];
	ck_assert_int_lt(LOCALTOKEN_MAX / 16, LOCALTOKEN_PER_TENANT);
	ck_assert_int_eq(req_localtoken_issue("t1", &SRC, 0, 10, first), 0);   /* closest to expiry */
	for (size_t i = 1; i < LOCALTOKEN_MAX; i++)
		ck_assert_int_eq(req_localtoken_issue(names[(i + 1) % 16], &SRC, 0, 1000, tok), 0);
	ck_assert_uint_eq(req_localtoken_count(), LOCALTOKEN_MAX);
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, first, strlen(first), 1), k.t[1]);
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 1, 1000, last), 0);
	ck_assert_uint_eq(req_localtoken_count(), LOCALTOKEN_MAX);   /* only the one closest to expiry went */
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, first, strlen(first), 1));
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, last, strlen(last), 1), k.t[0]);

	/* Tokens of one lifetime issued over time (clients fetching one per
	 * call): the oldest sixteenth goes at once, the newest stay. */
	req_localtoken_clear();
	char oldest[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 0, 3600, oldest), 0);
	for (size_t i = 1; i < LOCALTOKEN_MAX; i++)
		ck_assert_int_eq(req_localtoken_issue(names[(i + 1) % 16], &SRC, (double)i / 1000, 3600,
						  (i + 1) % 16 ? tok : srctok), 0);
	ck_assert_int_eq(req_localtoken_issue("t1", &SRC, 100, 3600, last), 0);
	size_t n = req_localtoken_count();
	ck_assert_uint_le(n, LOCALTOKEN_MAX - LOCALTOKEN_MAX / 20);
	ck_assert_uint_ge(n, LOCALTOKEN_MAX - LOCALTOKEN_MAX / 16);
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, oldest, strlen(oldest), 100));
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, srctok, strlen(srctok), 100), k.t[0]);
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, last, strlen(last), 100), k.t[1]);
	free_cfg(&k);
}
END_TEST

/* One tenant fetching tokens in a loop drops its own, never another's,
 * though the other's is the closest to expiry in the store. */
START_TEST(test_per_tenant_cap)
{
	struct cfg k;
	mk_cfg(&k, 2, (struct fg_tenant *[]){ mk_tenant("quiet", NULL, 0), mk_tenant("greedy", NULL, 0) });
	char quiet[LOCALTOKEN_LEN + 1], oldest[LOCALTOKEN_LEN + 1], tok[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("quiet", &SRC, 0, 100, quiet), 0);
	ck_assert_int_eq(req_localtoken_issue("greedy", &SRC, 0, 3600, oldest), 0);
	for (size_t i = 1; i < 3 * LOCALTOKEN_PER_TENANT; i++)
		ck_assert_int_eq(req_localtoken_issue("greedy", &SRC, (double)i / 1000, 3600, tok), 0);
	ck_assert_uint_le(req_localtoken_count(), 1 + LOCALTOKEN_PER_TENANT);
	ck_assert_uint_ge(req_localtoken_count(), 1 + LOCALTOKEN_PER_TENANT - LOCALTOKEN_PER_TENANT / 16);
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, quiet, strlen(quiet), 1), k.t[0]);
	ck_assert_ptr_null(req_localtoken_lookup(&k.c, oldest, strlen(oldest), 1));
	ck_assert_ptr_eq(req_localtoken_lookup(&k.c, tok, strlen(tok), 1), k.t[1]);

	/* Tokens that expire leave the tenant's count: a tenant at its cap
	 * whose tokens all expired holds one token after its next, not a
	 * sixteenth less than the cap. */
	req_localtoken_clear();
	for (size_t i = 0; i < LOCALTOKEN_PER_TENANT; i++)
		ck_assert_int_eq(req_localtoken_issue("greedy", &SRC, 0, 10, tok), 0);
	ck_assert_int_eq(req_localtoken_issue("greedy", &SRC, 20, 10, tok), 0);
	ck_assert_uint_eq(req_localtoken_count(), 1);
	for (size_t i = 1; i < LOCALTOKEN_PER_TENANT; i++)
		ck_assert_int_eq(req_localtoken_issue("greedy", &SRC, 20, 10, tok), 0);
	ck_assert_uint_eq(req_localtoken_count(), LOCALTOKEN_PER_TENANT);   /* none evicted on the way */
	free_cfg(&k);
}
END_TEST

/* A reload builds new tenants: a token follows its tenant's name, and the
 * key that asked for it, into the new configuration, and dies with them. */
START_TEST(test_reload_rules)
{
	const char *k12[] = { "k1", "k2" }, *k2[] = { "k2" }, *k1[] = { "k1" };
	struct cfg old, same, nokey, gone, renamed;
	mk_cfg(&old, 2, (struct fg_tenant *[]){ mk_tenant("ops", k12, 2), mk_tenant("src", NULL, 0) });
	unsigned char h1[32];
	hash_of("k1", h1);
	char bykey[LOCALTOKEN_LEN + 1], byaddr[LOCALTOKEN_LEN + 1];
	ck_assert_int_eq(req_localtoken_issue("ops", by_key(h1), 0, 3600, bykey), 0);
	ck_assert_int_eq(req_localtoken_issue("src", &SRC, 0, 3600, byaddr), 0);
	ck_assert_int_eq(req_localtoken_issue("ops", &SRC, 0, 3600, (char[LOCALTOKEN_LEN + 1]){0}), 0);

	/* Same tenants, new structures: both live on, on the new tenants. */
	mk_cfg(&same, 2, (struct fg_tenant *[]){ mk_tenant("src", NULL, 0), mk_tenant("ops", k1, 1) });
	ck_assert_ptr_eq(req_localtoken_lookup(&same.c, bykey, LOCALTOKEN_LEN, 1), same.t[1]);
	ck_assert_ptr_eq(req_localtoken_lookup(&same.c, byaddr, LOCALTOKEN_LEN, 1), same.t[0]);

	/* The key that asked is gone (another key stays): the token dies. */
	mk_cfg(&nokey, 2, (struct fg_tenant *[]){ mk_tenant("ops", k2, 1), mk_tenant("src", NULL, 0) });
	ck_assert_ptr_null(req_localtoken_lookup(&nokey.c, bykey, LOCALTOKEN_LEN, 1));
	ck_assert_ptr_eq(req_localtoken_lookup(&nokey.c, byaddr, LOCALTOKEN_LEN, 1), nokey.t[1]);

	/* The tenant is gone, or another tenant has the key now: dead. */
	mk_cfg(&gone, 1, (struct fg_tenant *[]){ mk_tenant("other", k1, 1) });
	ck_assert_ptr_null(req_localtoken_lookup(&gone.c, bykey, LOCALTOKEN_LEN, 1));
	ck_assert_ptr_null(req_localtoken_lookup(&gone.c, byaddr, LOCALTOKEN_LEN, 1));
	mk_cfg(&renamed, 1, (struct fg_tenant *[]){ mk_tenant("ops2", k12, 2) });
	ck_assert_ptr_null(req_localtoken_lookup(&renamed.c, bykey, LOCALTOKEN_LEN, 1));

	/* Back to the first configuration: the key returned, so did the token. */
	ck_assert_ptr_eq(req_localtoken_lookup(&old.c, bykey, LOCALTOKEN_LEN, 1), old.t[0]);
	free_cfg(&old);
	free_cfg(&same);
	free_cfg(&nokey);
	free_cfg(&gone);
	free_cfg(&renamed);
}
END_TEST

static struct cfg threads_cfg;

static void *issue_and_look(void *arg)
{
	(void)arg;
	long bad = 0;
	for (int i = 0; i < 3000; i++) {
		char tok[LOCALTOKEN_LEN + 1];
		if (req_localtoken_issue("src", &SRC, i, 1000000, tok) != 0 ||
		    req_localtoken_lookup(&threads_cfg.c, tok, LOCALTOKEN_LEN, i) != threads_cfg.t[0])
			bad++;
	}
	return (void *)bad;
}

START_TEST(test_threads)
{
	mk_cfg(&threads_cfg, 1, (struct fg_tenant *[]){ mk_tenant("src", NULL, 0) });
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, issue_and_look, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		ck_assert_ptr_null(bad);
	}
	ck_assert_uint_le(req_localtoken_count(), 4 * 3000);
	free_cfg(&threads_cfg);
}
END_TEST

/* ---- the endpoint ---- */

/* The next ask()'s Authorization header (NULL: none), and what attributed
 * its caller (NULL: its source range, SRC). */
static const char *a_authorization;
static const struct fg_attribution *a_caller_by;

struct answer {
	char www_authenticate[64];
	int status;
	json_t *body;
	char cache_control[32];
	char retry_after[16];
	const struct fg_tenant *tenant;
};

/* The token route's steps as req.c runs them (docs/overview.md): body
 * (size, then the parameters), client, tenant_rate, local_token, each
 * answering with the functions the steps call. */
#define WALL 1700000000.0   /* the wall clock the steps read, for sealed tokens */

static int run_steps(const struct fg_config *c, const struct fg_tenant *by_addr, bool dedicated,
		     const char *authorization, const char *ctype, const char *body, const struct fg_tenant **tenant,
		     struct evkeyvalq *h, struct evbuffer *out)
{
	struct localtoken_req q = {0};
	size_t len = strlen(body);
	double ra;
	int st;
	*tenant = NULL;
	if (len > c->max_body_bytes)
		st = req_localtoken_too_large(out);
	else if ((st = req_localtoken_read(&q, authorization, ctype, (const unsigned char *)body, len, out)) == 0 &&
		 (st = req_localtoken_authenticate(&q, c, by_addr, !by_addr ? NULL : a_caller_by ? a_caller_by : &SRC,
						   dedicated, tenant, out)) == 0) {
		if (!req_tenantrate_tenant_allows(*tenant, 50, &ra))
			st = req_localtoken_over_rate(*tenant, ra, h, out);   /* *tenant: logged as its 429 */
		else if ((st = req_localtoken_grant(&q, c, *tenant, 50, WALL, out)) != 200)
			*tenant = NULL;
	}
	req_localtoken_headers(&q, st, h);
	req_localtoken_parse_free(&q);
	return st;
}

static struct answer ask(const struct fg_config *c, const struct fg_tenant *by_addr, bool dedicated,
			 const char *ctype, const char *body)
{
	struct answer a = {0};
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	a.status = run_steps(c, by_addr, dedicated, a_authorization, ctype, body, &a.tenant, &h, out);
	a_authorization = NULL;
	a_caller_by = NULL;
	size_t n = evbuffer_get_length(out);
	char *text = calloc(1, n + 1);
	evbuffer_remove(out, text, n);
	ck_assert_ptr_null(strstr(text, "k-ops"));   /* never the key */
	a.body = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(a.body);
	const char *cc = evhttp_find_header(&h, "Cache-Control");
	snprintf(a.cache_control, sizeof a.cache_control, "%s", cc ? cc : "");
	const char *wa = evhttp_find_header(&h, "WWW-Authenticate");
	snprintf(a.www_authenticate, sizeof a.www_authenticate, "%s", wa ? wa : "");
	const char *ra = evhttp_find_header(&h, "Retry-After");
	snprintf(a.retry_after, sizeof a.retry_after, "%s", ra ? ra : "");
	free(text);
	evhttp_clear_headers(&h);
	evbuffer_free(out);
	return a;
}

static const char *field(const struct answer *a, const char *k)
{
	const char *v = json_string_value(json_object_get(a->body, k));
	return v ? v : "";
}

static struct cfg ep;

/* The status of one token request (its answer dropped). */
static int status_of(const struct fg_tenant *by_addr, bool dedicated, const char *body)
{
	struct answer a = ask(&ep.c, by_addr, dedicated, NULL, body);
	json_decref(a.body);
	return a.status;
}

static void setup_ep(void)
{
	const char *keys[] = { "k-ops", "k-ops-2" }, *okeys[] = { "k-other" };
	setup();
	mk_cfg(&ep, 3, (struct fg_tenant *[]){ mk_tenant("ops", keys, 2), mk_tenant("other", okeys, 1),
					       mk_tenant("src", NULL, 0) });
	ep.c.local_token_ttl = 120;
}

static void teardown_ep(void)
{
	free_cfg(&ep);
	teardown();
}

START_TEST(test_form_and_json)
{
	static const char *const form = "application/x-www-form-urlencoded";
	struct answer a = ask(&ep.c, NULL, false, form,
			      "grant_type=client_credentials&client_id=ops&client_secret=k-ops");
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_eq(a.tenant, ep.t[0]);
	ck_assert_str_eq(field(&a, "token_type"), "bearer");
	ck_assert_str_eq(field(&a, "scope"), "fleet:clearance");
	ck_assert_int_eq(json_integer_value(json_object_get(a.body, "expires_in")), 120);
	ck_assert_str_eq(a.cache_control, "no-store");
	const char *tok = field(&a, "access_token");
	ck_assert_ptr_eq(req_localtoken_lookup(&ep.c, tok, strlen(tok), 50), ep.t[0]);
	ck_assert_ptr_null(req_localtoken_lookup(&ep.c, tok, strlen(tok), 170));   /* local_token_ttl */
	json_decref(a.body);

	/* The second key, percent- and plus-encoded parameters, extra ones. */
	a = ask(&ep.c, NULL, false, form, "client_id=%6Fps&grant_type=client_credentials&client_secret=k%2Dops-2&scope=x+y");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	/* JSON, with and without its Content-Type; form without one. */
	a = ask(&ep.c, NULL, false, "application/json; charset=utf-8",
		"{\"grant_type\":\"client_credentials\",\"client_id\":\"ops\",\"client_secret\":\"k-ops\"}");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	a = ask(&ep.c, NULL, false, NULL,
		" {\"grant_type\":\"client_credentials\",\"client_id\":\"ops\",\"client_secret\":\"k-ops\"}");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	a = ask(&ep.c, NULL, false, NULL, "grant_type=client_credentials&client_id=ops&client_secret=k-ops");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
}
END_TEST

START_TEST(test_refusals)
{
	static const struct { const char *body; int status; const char *error; } cases[] = {
		{ "grant_type=client_credentials&client_id=ops&client_secret=k-other", 401, "invalid_client" },
		{ "grant_type=client_credentials&client_id=nobody&client_secret=k-ops", 401, "invalid_client" },
		{ "grant_type=client_credentials&client_id=ops&client_secret=", 401, "invalid_client" },
		{ "grant_type=client_credentials&client_id=ops", 401, "invalid_client" },
		{ "grant_type=client_credentials&client_secret=k-ops", 401, "invalid_client" },
		{ "grant_type=client_credentials&client_id=src&client_secret=k-ops", 401, "invalid_client" },
		{ "grant_type=password&client_id=ops&client_secret=k-ops", 400, "unsupported_grant_type" },
		{ "client_id=ops&client_secret=k-ops", 400, "invalid_request" },
		{ "grant_type=client_credentials&client_id=ops&client_id=other&client_secret=k-ops", 400,
		  "invalid_request" },
		{ "grant_type=client_credentials&client_id", 400, "invalid_request" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct answer a = ask(&ep.c, NULL, false, "application/x-www-form-urlencoded", cases[i].body);
		ck_assert_msg(a.status == cases[i].status, "case %zu: %d", i, a.status);
		ck_assert_str_eq(field(&a, "error"), cases[i].error);
		ck_assert_ptr_null(a.tenant);
		ck_assert_ptr_null(json_object_get(a.body, "access_token"));
		json_decref(a.body);
	}
	/* The two 401s for "wrong secret" and "no such tenant" say the same. */
	struct answer x = ask(&ep.c, NULL, false, NULL, "grant_type=client_credentials&client_id=ops&client_secret=no");
	struct answer y = ask(&ep.c, NULL, false, NULL, "grant_type=client_credentials&client_id=nope&client_secret=no");
	ck_assert(json_equal(x.body, y.body));
	json_decref(x.body);
	json_decref(y.body);
	/* JSON that is not an object of strings, or repeats a key. */
	static const char *const bad_json[] = {
		"{\"grant_type\":\"client_credentials\",\"client_id\":\"ops\",\"client_secret\":5}",
		"{\"grant_type\":\"client_credentials\",\"client_id\":\"ops\",\"client_id\":\"ops\",\"client_secret\":\"k-ops\"}",
		"[\"grant_type\"]", "{",
	};
	for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
		struct answer a = ask(&ep.c, NULL, false, "application/json", bad_json[i]);
		ck_assert_msg(a.status == 400, "json case %zu: %d", i, a.status);
		json_decref(a.body);
	}
	/* Larger than max_body_bytes. */
	char big[2048];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct answer a = ask(&ep.c, NULL, false, NULL, big);
	ck_assert_int_eq(a.status, 413);
	json_decref(a.body);
	ck_assert_uint_eq(req_localtoken_count(), 0);
}
END_TEST

/* A token request counts against its tenant's request rate: over it,
 * 429 with Retry-After and no token; other tenants are not slowed. Only
 * a request that authenticated counts (wrong secrets spend nothing). */
START_TEST(test_rate)
{
	ep.t[0]->has_rate = true;
	ep.t[0]->rate = (struct fg_rate){ .count = 2, .window_s = 60 };
	const char *ops = "grant_type=client_credentials&client_id=ops&client_secret=k-ops";
	const char *wrong = "grant_type=client_credentials&client_id=ops&client_secret=nope";
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(status_of(NULL, false, wrong), 401);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(status_of(NULL, false, ops), 200);
	struct answer a = ask(&ep.c, NULL, false, NULL, ops);
	ck_assert_int_eq(a.status, 429);
	ck_assert_str_eq(field(&a, "error"), "temporarily_unavailable");
	ck_assert_ptr_null(json_object_get(a.body, "access_token"));
	ck_assert_ptr_eq(a.tenant, ep.t[0]);   /* logged as its 429 */
	ck_assert_str_eq(a.retry_after, "30");   /* one token of 2/60s */
	json_decref(a.body);
	ck_assert_int_eq(status_of(NULL, false, "grant_type=client_credentials&client_id=other&client_secret=k-other"),
			 200);
	ck_assert_uint_eq(req_localtoken_count(), 3);
}
END_TEST

/* A caller attributed by listener or source needs no secret, for its own
 * tenant only; a dedicated listener hands out no other tenant's token. */
START_TEST(test_by_address)
{
	const char *body_src = "grant_type=client_credentials&client_id=src&client_secret=anything";
	struct answer a = ask(&ep.c, ep.t[2], false, NULL, body_src);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_eq(a.tenant, ep.t[2]);
	json_decref(a.body);
	ck_assert_int_eq(status_of(ep.t[2], false, "grant_type=client_credentials&client_id=src"), 200);
	/* By source as src, asking for ops with ops' key: the key decides. */
	ck_assert_int_eq(status_of(ep.t[2], false, "grant_type=client_credentials&client_id=ops&client_secret=k-ops"),
			 200);
	ck_assert_int_eq(status_of(ep.t[2], false, "grant_type=client_credentials&client_id=ops"), 401);
	/* On src's own listener, even ops' right key gets nothing. */
	ck_assert_int_eq(status_of(ep.t[2], true, "grant_type=client_credentials&client_id=ops&client_secret=k-ops"),
			 401);
	ck_assert_int_eq(status_of(ep.t[2], true, "grant_type=client_credentials&client_id=src"), 200);
	/* A token issued to an address is not bound to any key. */
	a = ask(&ep.c, ep.t[0], false, NULL, "grant_type=client_credentials&client_id=ops");
	ck_assert_int_eq(a.status, 200);
	const char *tok = field(&a, "access_token");
	ep.t[0]->nkeys = 0;   /* a reload took ops' keys, ops is still there */
	ck_assert_ptr_eq(req_localtoken_lookup(&ep.c, tok, strlen(tok), 51), ep.t[0]);
	json_decref(a.body);
}
END_TEST

/* ---- issue 25: HTTP Basic, sealed tokens; issue 22: %00, attribution ---- */

static char *b64(const char *s, bool url, bool pad)
{
	static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *a = url ? u : std;
	size_t n = strlen(s), o = 0;
	char *out = calloc(1, n * 2 + 16);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
		if (i + 1 < n) v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n) v |= (unsigned char)s[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n) out[o++] = a[v >> 6 & 63]; else if (pad) out[o++] = '=';
		if (i + 2 < n) out[o++] = a[v & 63]; else if (pad) out[o++] = '=';
	}
	return out;
}

static char *basic(const char *idsecret, bool url, bool pad)
{
	char *e = b64(idsecret, url, pad), *h = NULL;
	ck_assert_int_ge(asprintf(&h, "Basic %s", e), 0);
	free(e);
	return h;
}

START_TEST(test_basic_parser)
{
	struct localtoken_req q = {0};
	/* The secret holds what openssl rand -base64 makes: + / = */
	char *h = basic("ops:a+b/c=d%41", false, true);
	ck_assert_int_eq(req_localtoken_parse_basic(h, &q), 0);
	ck_assert(q.basic);
	ck_assert_str_eq(q.basic_id[0], "ops");
	ck_assert_str_eq(q.basic_secret[0], "a+b/c=d%41");   /* as sent */
	ck_assert_str_eq(q.basic_secret[1], "a b/c=dA");     /* form-decoded */
	ck_assert_uint_eq(q.basic_secret_len[1], 8);
	req_localtoken_parse_free(&q);
	free(h);
	/* base64url, unpadded; scheme in any case; a colon in the secret */
	memset(&q, 0, sizeof q);
	h = basic("ops:?>?>:x", true, false);
	h[0] = 'b';
	h[2] = 'S';
	ck_assert_int_eq(req_localtoken_parse_basic(h, &q), 0);
	ck_assert_str_eq(q.basic_secret[0], "?>?>:x");
	req_localtoken_parse_free(&q);
	free(h);
	/* A decoded %00 is no value: the raw form stands for both */
	memset(&q, 0, sizeof q);
	h = basic("ops:k%00junk", false, true);
	ck_assert_int_eq(req_localtoken_parse_basic(h, &q), 0);
	ck_assert_str_eq(q.basic_secret[1], "k%00junk");
	req_localtoken_parse_free(&q);
	free(h);
	static const char *const bad[] = {
		"Basic", "Basic ", "Basic !!!!", "Basic b3Bz",   /* "ops": no colon */
		"Basic Om9wcw==",                                  /* ":ops": no id */
		"Basic b3BzOms=x", "Basic b3BzOms===", "Basic b3BzO", "Basicb3BzOms=",
		"Basic b3B zOms=",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&q, 0, sizeof q);
		ck_assert_msg(req_localtoken_parse_basic(bad[i], &q) == -1, "case %zu", i);
		req_localtoken_parse_free(&q);
	}
	memset(&q, 0, sizeof q);
	char nul[] = "Basic b3BzOmsAeA==";   /* "ops:k\0x" */
	ck_assert_int_eq(req_localtoken_parse_basic(nul, &q), -1);
	req_localtoken_parse_free(&q);
}
END_TEST

START_TEST(test_basic_endpoint)
{
	static const char *const form = "application/x-www-form-urlencoded";
	const char *gt = "grant_type=client_credentials";
	/* Raw and form-encoded secrets both work, in either alphabet. */
	const char *const ok[] = { "ops:k-ops", "ops:k%2Dops", "%6Fps:k-ops-2" };
	for (size_t i = 0; i < 3; i++)
		for (int url = 0; url < 2; url++) {
			char *h = basic(ok[i], url, !url);
			a_authorization = h;
			struct answer a = ask(&ep.c, NULL, false, form, gt);
			ck_assert_msg(a.status == 200, "case %zu/%d: %d", i, url, a.status);
			ck_assert_ptr_eq(a.tenant, ep.t[0]);
			json_decref(a.body);
			free(h);
		}
	/* A client_id in the body beside Basic: the same one only. */
	char *h = basic("ops:k-ops", false, true);
	a_authorization = h;
	struct answer a = ask(&ep.c, NULL, false, form, "grant_type=client_credentials&client_id=ops");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	static const char *const both[] = {
		"grant_type=client_credentials&client_id=ops&client_secret=k-ops",
		"grant_type=client_credentials&client_secret=k-ops",
		"grant_type=client_credentials&client_id=other",
	};
	for (size_t i = 0; i < 3; i++) {
		a_authorization = h;
		a = ask(&ep.c, NULL, false, form, both[i]);
		ck_assert_msg(a.status == 400, "both %zu: %d", i, a.status);
		ck_assert_str_eq(field(&a, "error"), "invalid_request");
		json_decref(a.body);
	}
	a_authorization = h;   /* the JSON form, the same rule */
	a = ask(&ep.c, NULL, false, "application/json",
		"{\"grant_type\":\"client_credentials\",\"client_secret\":\"k-ops\"}");
	ck_assert_int_eq(a.status, 400);
	json_decref(a.body);
	a_authorization = h;
	a = ask(&ep.c, NULL, false, "application/json", "{\"grant_type\":\"client_credentials\"}");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	free(h);
	/* Wrong secret or malformed value: 401 invalid_client, and the
	 * scheme to use (RFC 6749 5.2). */
	const char *const no[] = { "Basic b3BzOm5vcGU=" /* ops:nope */, "Basic !!", "Basic b3Bz" };
	for (size_t i = 0; i < 3; i++) {
		a_authorization = no[i];
		a = ask(&ep.c, NULL, false, form, gt);
		ck_assert_msg(a.status == 401, "no %zu: %d", i, a.status);
		ck_assert_str_eq(field(&a, "error"), "invalid_client");
		ck_assert_str_eq(a.www_authenticate, "Basic realm=\"fleetgate\"");
		json_decref(a.body);
	}
	/* Body credentials get no WWW-Authenticate (no scheme was used). */
	a = ask(&ep.c, NULL, false, form, "grant_type=client_credentials&client_id=ops&client_secret=nope");
	ck_assert_int_eq(a.status, 401);
	ck_assert_str_eq(a.www_authenticate, "");
	json_decref(a.body);
}
END_TEST

START_TEST(test_form_nul)
{
	/* %00 cut the value in libevent's parser: KEY%00junk was KEY. */
	static const char *const bodies[] = {
		"grant_type=client_credentials&client_id=ops&client_secret=k-ops%00junk",
		"grant_type=client_credentials&client_id=ops%00x&client_secret=k-ops",
		"grant_type=client_credentials%00&client_id=ops&client_secret=k-ops",
	};
	for (size_t i = 0; i < 3; i++) {
		struct answer a = ask(&ep.c, NULL, false, "application/x-www-form-urlencoded", bodies[i]);
		ck_assert_msg(a.status == 400, "case %zu: %d", i, a.status);
		ck_assert_str_eq(field(&a, "error"), "invalid_request");
		json_decref(a.body);
	}
	struct answer a = ask(&ep.c, NULL, false, "application/json",
			      "{\"grant_type\":\"client_credentials\",\"client_id\":\"ops\",\"client_secret\":\"k-ops\\u0000x\"}");
	ck_assert_int_eq(a.status, 400);
	json_decref(a.body);
	ck_assert_uint_eq(req_localtoken_count(), 0);
}
END_TEST

/* A token issued to a source address (or listener) dies when a reload
 * removes that range (or listener) from its tenant, as a key's does. */
START_TEST(test_attribution_rechecked)
{
	struct answer a = ask(&ep.c, ep.t[2], false, NULL, "grant_type=client_credentials&client_id=src");
	ck_assert_int_eq(a.status, 200);
	char tok[LOCALTOKEN_LEN + 1];
	snprintf(tok, sizeof tok, "%s", field(&a, "access_token"));
	json_decref(a.body);
	ck_assert_ptr_eq(req_localtoken_lookup(&ep.c, tok, strlen(tok), 51), ep.t[2]);
	ep.t[2]->nsources = 0;   /* a reload took its sources line */
	ck_assert_ptr_null(req_localtoken_lookup(&ep.c, tok, strlen(tok), 51));
	ep.t[2]->nsources = 1;
	ep.t[2]->sources[0].bits = 16;   /* another range */
	ck_assert_ptr_null(req_localtoken_lookup(&ep.c, tok, strlen(tok), 51));
	ep.t[2]->sources[0].bits = 8;
	ck_assert_ptr_eq(req_localtoken_lookup(&ep.c, tok, strlen(tok), 51), ep.t[2]);
	/* No attribution, no token. */
	struct fg_attribution none = {0};
	ck_assert_int_eq(req_localtoken_issue("src", &none, 0, 10, tok), -1);
	ck_assert_int_eq(req_localtoken_issue("src", NULL, 0, 10, tok), -1);
}
END_TEST

static void set_keys(struct fg_config *c, unsigned char cur, unsigned char prev)
{
	c->local_token_nkeys = 0;
	if (cur) {
		memset(c->local_token_keys[0], cur, 32);
		c->local_token_kids[c->local_token_nkeys++] = cur;
	}
	if (prev) {
		memset(c->local_token_keys[1], prev, 32);
		c->local_token_kids[c->local_token_nkeys++] = prev;
	}
}

START_TEST(test_sealed)
{
	set_keys(&ep.c, 0xA1, 0);
	struct answer a = ask(&ep.c, NULL, false, NULL, "grant_type=client_credentials&client_id=ops&client_secret=k-ops");
	ck_assert_int_eq(a.status, 200);
	char tok[LOCALTOKEN_SEALED_LEN + 1];
	ck_assert_uint_eq(strlen(field(&a, "access_token")), LOCALTOKEN_SEALED_LEN);
	snprintf(tok, sizeof tok, "%s", field(&a, "access_token"));
	json_decref(a.body);
	ck_assert_uint_eq(req_localtoken_count(), 0);   /* nothing held in this process */
	for (const char *p = tok; *p; p++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	/* Any configuration with the key: another instance, or this one
	 * after a restart (the monotonic clock means nothing to it). */
	ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL), ep.t[0]);
	ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 1e9, WALL + 119), ep.t[0]);
	/* Expired (wall clock), or claiming to outlive local_token_ttl + skew. */
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL + 120));
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL - LOCALTOKEN_SKEW - 1));
	ep.c.local_token_ttl = 10;   /* a reload shortened it: longer-lived tokens end */
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL));
	ep.c.local_token_ttl = 120;
	/* Altered anywhere (each position, a flip), truncated, extended. */
	for (size_t i = 0; i < LOCALTOKEN_SEALED_LEN; i++) {
		char t2[LOCALTOKEN_SEALED_LEN + 1];
		memcpy(t2, tok, sizeof t2);
		t2[i] = t2[i] == 'A' ? 'B' : 'A';
		ck_assert_msg(!req_localtoken_lookup_at(&ep.c, t2, strlen(t2), 0, WALL), "altered at %zu", i);
	}
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, LOCALTOKEN_SEALED_LEN - 1, 0, WALL));
	char longer[LOCALTOKEN_SEALED_LEN + 2];
	snprintf(longer, sizeof longer, "%sA", tok);
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, longer, strlen(longer), 0, WALL));
	/* Forged: sealed under another key. */
	struct localtoken_claims cl = { .tenant = "ops", .expires = WALL + 60 };
	req_attr_by_keyhash(ep.t[0]->keys[0], &cl.by);
	unsigned char other[32];
	memset(other, 0x5A, sizeof other);
	char forged[LOCALTOKEN_SEALED_LEN + 1];
	ck_assert_int_eq(req_localtoken_seal(other, 0xA1, &cl, forged), 0);
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, forged, strlen(forged), 0, WALL));
	/* Rotation: the old key as previous still opens it; removed, not. */
	set_keys(&ep.c, 0xB2, 0xA1);
	ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL), ep.t[0]);
	set_keys(&ep.c, 0xB2, 0);
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL));
	set_keys(&ep.c, 0, 0);   /* no key configured: not a token at all */
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL));
	/* Its key removed from its tenant by a reload: dead, as in the store. */
	set_keys(&ep.c, 0xA1, 0);
	ep.t[0]->keys[0][0] ^= 1;
	ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 0, WALL));
	ep.t[0]->keys[0][0] ^= 1;
	/* What it holds: the claims, never a key or another tenant. */
	ck_assert_int_eq(req_localtoken_unseal(&ep.c, tok, strlen(tok), &cl), 0);
	ck_assert_str_eq(cl.tenant, "ops");
	ck_assert_int_eq(cl.by.by, FG_BY_KEY);
	ck_assert(cl.expires == WALL + 120);
	/* One length for every tenant name (no length tells names apart). */
	a = ask(&ep.c, ep.t[2], false, NULL, "grant_type=client_credentials&client_id=src");
	ck_assert_uint_eq(strlen(field(&a, "access_token")), LOCALTOKEN_SEALED_LEN);
	ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, field(&a, "access_token"), LOCALTOKEN_SEALED_LEN, 0, WALL),
			 ep.t[2]);
	json_decref(a.body);
	set_keys(&ep.c, 0, 0);
}
END_TEST

/* ---- found by the localtoken fuzz target and its review ---- */

/* A form parameter's name is form-decoded however long its encoding:
 * %63%6C%69%65%6E%74_secret is client_secret (17 characters sent, once
 * skipped as no name of ours), so it counts as the one client_secret and
 * a second one is refused as for any repeated parameter. */
START_TEST(test_form_long_encoded_name)
{
	static const char *const form = "application/x-www-form-urlencoded";
	struct answer a = ask(&ep.c, NULL, false, form,
			      "grant_type=client_credentials&client_id=ops&%63%6C%69%65%6E%74_secret=k-ops");
	ck_assert_int_eq(a.status, 200);
	json_decref(a.body);
	a = ask(&ep.c, NULL, false, form,
		"grant_type=client_credentials&client_id=ops&client_secret=k-ops&%63%6C%69%65%6E%74%5Fid=other");
	ck_assert_int_eq(a.status, 400);
	ck_assert_str_eq(field(&a, "error"), "invalid_request");
	json_decref(a.body);
	/* Beside Basic, a body secret under a long encoded name is still one. */
	a_authorization = "Basic b3BzOmstb3Bz";   /* ops:k-ops */
	a = ask(&ep.c, NULL, false, form, "grant_type=client_credentials&%63%6C%69%65%6E%74%5F%73ecret=k-ops");
	ck_assert_int_eq(a.status, 400);
	json_decref(a.body);
}
END_TEST

/* Reading a form body does work in proportion to its length: each
 * pair's scratch value was wiped over the whole body's length, so a
 * body of max_body_bytes (1 MiB by default) made of empty pairs took
 * about 350 000 wipes of 1 MiB each (minutes of one worker) before the
 * answer. Now each wipe covers the pair's own value. */
START_TEST(test_form_many_pairs_linear)
{
	size_t len = (1 << 20) / 3 * 3;   /* whole "a=&" pairs, under 1 MiB */
	unsigned char *body = malloc(len);
	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < len; i++)
		body[i] = "a=&"[i % 3];
	memcpy(body, "grant_type=client_credentials&", 30);
	struct localtoken_req q = {0};
	struct evbuffer *out = evbuffer_new();
	double t0 = clock_now();
	ck_assert_int_eq(req_localtoken_read(&q, NULL, "application/x-www-form-urlencoded", body, len, out), 0);
	ck_assert_msg(clock_now() - t0 < 2.0, "took %.1f s", clock_now() - t0);
	ck_assert_str_eq(q.grant_type, "client_credentials");
	req_localtoken_parse_free(&q);
	evbuffer_free(out);
	free(body);
}
END_TEST

/* seal refuses claims that unseal would not give back: an attribution
 * of no kind a token carries (none, by a local token, or no kind at all:
 * the token would never open) and an expiry that is no
 * number of seconds from 0 to 2^64 (NaN or beyond made the conversion
 * to an integer undefined). A fraction of a second is dropped. */
START_TEST(test_seal_refuses_what_unseal_refuses)
{
	unsigned char key[32];
	memset(key, 0xA1, sizeof key);
	set_keys(&ep.c, 0xA1, 0);
	char tok[LOCALTOKEN_SEALED_LEN + 1];
	struct localtoken_claims cl = { .tenant = "ops", .expires = WALL }, back;
	req_attr_by_keyhash(ep.t[0]->keys[0], &cl.by);
	cl.by.by = FG_BY_NONE;
	ck_assert_int_eq(req_localtoken_seal(key, 0xA1, &cl, tok), -1);
	cl.by.by = FG_BY_TOKEN;   /* a "how" for log lines, never carried */
	ck_assert_int_eq(req_localtoken_seal(key, 0xA1, &cl, tok), -1);
	cl.by.by = (enum fg_attr_by)(FG_BY_TOKEN + 1);
	ck_assert_int_eq(req_localtoken_seal(key, 0xA1, &cl, tok), -1);
	cl.by.by = FG_BY_KEY;
	static const double bad[] = { NAN, INFINITY, -1, 18446744073709551616.0, 1e300 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cl.expires = bad[i];
		ck_assert_msg(req_localtoken_seal(key, 0xA1, &cl, tok) == -1, "expiry %zu", i);
	}
	cl.expires = WALL + 0.75;
	ck_assert_int_eq(req_localtoken_seal(key, 0xA1, &cl, tok), 0);
	ck_assert_int_eq(req_localtoken_unseal(&ep.c, tok, strlen(tok), &back), 0);
	ck_assert(back.expires == WALL);
	ck_assert_int_eq(back.by.by, FG_BY_KEY);
	set_keys(&ep.c, 0, 0);
}
END_TEST

/* ---- issues 24 and 25: a client attributed by its certificate ---- */

/* What the attribute step of the token route gives a client on a TLS
 * connection showing a verified certificate with NAME (and PIN, when
 * not NULL), from 192.168.0.1 (no tenant's source range). */
static const struct fg_tenant *by_cert(const char *name, const unsigned char *pin, struct fg_attribution *how,
				       enum fg_attr_result *res)
{
	struct fg_peer_cert pc = { .state = FG_CERT_VERIFIED, .nnames = 1 };
	pc.names[0] = strdup(name);
	if (pin)
		memcpy(pc.sha256, pin, 32);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0xC0A80001) };
	const struct fg_tenant *t = req_policy_attribute_how(&ep.c, NULL, &pc, NULL, (struct sockaddr *)&sin, true,
							     how, res);
	tenant_cert_peer_clear(&pc);
	return t;
}

static void cert_index(void)
{
	struct fg_errors errs = {0};
	tenant_cert_index_free(ep.c.certs);
	ep.c.certs = tenant_cert_index(ep.t, ep.c.ntenants, &errs);
	ck_assert_uint_eq(errs.n, 0);
	conf_errors_free(&errs);
}

/* A token issued to a client its certificate attributed (mTLS, no
 * secret) carries the certificate's name or pin, never TOKEN, and ends
 * when a reload removes that name or pin from its tenant (issue 25: "or
 * the client certificate name or pin once the TLS issue lands"), in the
 * store and sealed alike. A request made with it is attributed "by
 * token"; a certificate-attributed client gets no other tenant's token,
 * even with that tenant's key. */
START_TEST(test_cert_attributed_token)
{
	static const char name[] = "spiffe://fleet.example/ns/prod/sa/other";
	unsigned char pin[32];
	memset(pin, 0x77, sizeof pin);
	struct fg_tenant *other = ep.t[1];
	other->cert_names = calloc(1, sizeof *other->cert_names);
	other->cert_names[0] = strdup(name);
	other->ncert_names = 1;
	other->cert_pins = calloc(1, sizeof *other->cert_pins);
	memcpy(other->cert_pins[0], pin, 32);
	other->ncert_pins = 0;   /* the pin comes later */
	cert_index();

	for (int sealed = 0; sealed < 2; sealed++) {
		set_keys(&ep.c, sealed ? 0xA1 : 0, 0);
		struct fg_attribution how;
		enum fg_attr_result res;
		ck_assert_ptr_eq(by_cert(name, NULL, &how, &res), other);
		ck_assert_int_eq(how.by, FG_BY_CERT);
		a_caller_by = &how;
		struct answer a = ask(&ep.c, other, false, NULL, "grant_type=client_credentials&client_id=other");
		ck_assert_int_eq(a.status, 200);
		char tok[LOCALTOKEN_SEALED_LEN + 1];
		snprintf(tok, sizeof tok, "%s", field(&a, "access_token"));
		json_decref(a.body);
		ck_assert_uint_eq(strlen(tok), sealed ? LOCALTOKEN_SEALED_LEN : LOCALTOKEN_LEN);
		if (sealed) {
			struct localtoken_claims cl;
			ck_assert_int_eq(req_localtoken_unseal(&ep.c, tok, strlen(tok), &cl), 0);
			ck_assert_int_eq(cl.by.by, FG_BY_CERT);
			ck_assert_mem_eq(cl.by.fp, how.fp, FG_ATTR_FP_LEN);
		}
		ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL), other);
		/* Its other key is no matter; its name removed by a reload: dead. */
		other->nkeys = 0;
		ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL), other);
		other->nkeys = 1;
		other->ncert_names = 0;
		cert_index();
		ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL));
		/* Another name in its place is not the one it was issued to. */
		other->cert_names[0][strlen(name) - 1] = 'X';
		other->ncert_names = 1;
		cert_index();
		ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL));
		other->cert_names[0][strlen(name) - 1] = 'r';
		cert_index();
		ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL), other);

		/* By pin: matched first, carried, and rechecked the same way. */
		other->ncert_pins = 1;
		cert_index();
		ck_assert_ptr_eq(by_cert(name, pin, &how, &res), other);
		ck_assert_int_eq(how.by, FG_BY_CERT);
		a_caller_by = &how;
		a = ask(&ep.c, other, false, NULL, "grant_type=client_credentials&client_id=other");
		ck_assert_int_eq(a.status, 200);
		snprintf(tok, sizeof tok, "%s", field(&a, "access_token"));
		json_decref(a.body);
		ck_assert_ptr_eq(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL), other);
		other->ncert_pins = 0;   /* the name is still there: not what it was issued to */
		cert_index();
		ck_assert_ptr_null(req_localtoken_lookup_at(&ep.c, tok, strlen(tok), 51, WALL));

		/* Certificate of other, asking for ops with ops' own key: refused. */
		ck_assert_ptr_eq(by_cert(name, NULL, &how, &res), other);
		a_caller_by = &how;
		a = ask(&ep.c, other, false, NULL, "grant_type=client_credentials&client_id=ops&client_secret=k-ops");
		ck_assert_int_eq(a.status, 401);
		ck_assert_str_eq(field(&a, "error"), "invalid_client");
		json_decref(a.body);
	}
	set_keys(&ep.c, 0, 0);
	/* Used as a bearer (no certificate now): its tenant, "by token"; with
	 * the certificate beside it, by the certificate. */
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	struct fg_attribution how, used;
	enum fg_attr_result res;
	ck_assert_ptr_eq(by_cert(name, NULL, &how, &res), other);
	char tok[LOCALTOKEN_LEN + 1], bearer[LOCALTOKEN_LEN + 16];
	ck_assert_int_eq(req_localtoken_issue("other", &how, clock_now(), 60, tok), 0);
	snprintf(bearer, sizeof bearer, "Bearer %s", tok);
	evhttp_add_header(&h, "Authorization", bearer);
	ck_assert_ptr_eq(req_policy_attribute_how(&ep.c, NULL, NULL, &h, NULL, false, &used, &res), other);
	ck_assert_int_eq(used.by, FG_BY_TOKEN);
	ck_assert_str_eq(req_attr_name(used.by), "token");
	struct fg_peer_cert pc = { .state = FG_CERT_VERIFIED, .nnames = 1 };
	pc.names[0] = strdup(name);
	ck_assert_ptr_eq(req_policy_attribute_how(&ep.c, NULL, &pc, &h, NULL, false, &used, &res), other);
	ck_assert_int_eq(used.by, FG_BY_CERT);
	/* Never a token issued on a token. */
	ck_assert_int_eq(req_localtoken_issue("other", &(struct fg_attribution){ .by = FG_BY_TOKEN }, clock_now(), 60,
					      tok), -1);
	evhttp_clear_headers(&h);
	/* A certificate of other with ops' key beside it, on any route: 401. */
	TAILQ_INIT(&h);
	evhttp_add_header(&h, "X-API-Key", "k-ops");
	ck_assert_ptr_null(req_policy_attribute_how(&ep.c, NULL, &pc, &h, NULL, false, &how, &res));
	ck_assert_int_eq(res, FG_ATTR_CONFLICT);
	ck_assert_int_eq(how.by, FG_BY_NONE);
	/* One that did not verify never attributes, not even by its key. */
	pc.state = FG_CERT_FAILED;
	ck_assert_ptr_null(req_policy_attribute_how(&ep.c, NULL, &pc, &h, NULL, false, &how, &res));
	ck_assert_int_eq(res, FG_ATTR_BAD_CERT);
	tenant_cert_peer_clear(&pc);
	evhttp_clear_headers(&h);

	tenant_cert_index_free(ep.c.certs);
	ep.c.certs = NULL;
	free(other->cert_names[0]);
	free(other->cert_names);
	free(other->cert_pins);
	other->cert_names = NULL;
	other->cert_pins = NULL;
	other->ncert_names = other->ncert_pins = 0;
}
END_TEST

static Suite *localtoken_suite(void)
{
	Suite *s = suite_create("localtoken");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_issue_and_lookup);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_per_tenant_cap);
	tcase_add_test(tc, test_reload_rules);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	tc = tcase_create("endpoint");
	tcase_add_checked_fixture(tc, setup_ep, teardown_ep);
	tcase_add_test(tc, test_form_and_json);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_by_address);
	tcase_add_test(tc, test_basic_parser);
	tcase_add_test(tc, test_basic_endpoint);
	tcase_add_test(tc, test_form_nul);
	tcase_add_test(tc, test_attribution_rechecked);
	tcase_add_test(tc, test_sealed);
	tcase_add_test(tc, test_form_long_encoded_name);
	tcase_add_test(tc, test_form_many_pairs_linear);
	tcase_add_test(tc, test_seal_refuses_what_unseal_refuses);
	tcase_add_test(tc, test_cert_attributed_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(localtoken_suite());
}
