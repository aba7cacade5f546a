/* check_stats.c: which tenants /stats lists (docs/metrics.md, /stats).
 * Every tenant of the configuration in force is in requests.by_tenant and
 * requests.tenants, with zeros before its first request; a name a reload
 * dropped stays while it has counts (marked not configured) and goes when
 * it has none; "-" appears once a request had no tenant. */
#include <check.h>
#include "check_main.h"
#include <string.h>
#include "stats.h"

static void in_force(const int *slots, size_t n)
{
	bool f[STATS_MAX_TENANTS] = { false };
	for (size_t i = 0; i < n; i++)
		f[slots[i]] = true;
	stats_tenants_in_force(f);
}

static json_int_t count(json_t *st, const char *map, const char *name)
{
	json_t *v = json_object_get(json_object_get(json_object_get(st, "requests"), map), name);
	if (!v)
		return -1;
	return json_integer_value(json_is_object(v) ? json_object_get(v, "requests") : v);
}

static json_t *tenant(json_t *st, const char *name)
{
	return json_object_get(json_object_get(json_object_get(st, "requests"), "tenants"), name);
}

START_TEST(silent_and_dropped_tenants)
{
	struct stats_shard *sh = stats_shard_new();
	stats_thread_init(sh);
	int a = stats_tenant_slot("alpha"), q = stats_tenant_slot("quiet");
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(q, 0);
	in_force((int[]){ a, q }, 2);

	json_t *st = stats_json();
	ck_assert_int_eq(count(st, "by_tenant", "quiet"), 0);
	ck_assert_int_eq(count(st, "tenants", "quiet"), 0);
	ck_assert(json_is_true(json_object_get(tenant(st, "quiet"), "configured")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(tenant(st, "quiet"), "by_class"), "2xx")), 0);
	ck_assert_int_eq(count(st, "by_tenant", "-"), -1);   /* no request without a tenant yet */
	json_decref(st);

	stats_request(a, FG_R_GET, 200, 0.001);
	stats_request(a, FG_R_GET, 403, 0.001);
	stats_request(-1, FG_R_NONE, 404, 0.001);
	st = stats_json();
	ck_assert_int_eq(count(st, "by_tenant", "alpha"), 2);
	ck_assert_int_eq(count(st, "tenants", "alpha"), 2);
	ck_assert_int_eq(count(st, "tenants", "quiet"), 0);
	ck_assert_int_eq(count(st, "by_tenant", "-"), 1);
	ck_assert(json_is_false(json_object_get(tenant(st, "-"), "configured")));
	json_decref(st);

	/* A reload drops both: alpha keeps its counts, quiet goes. */
	int n = stats_tenant_slot("new");
	in_force((int[]){ n }, 1);
	st = stats_json();
	ck_assert_int_eq(count(st, "tenants", "alpha"), 2);
	ck_assert(json_is_false(json_object_get(tenant(st, "alpha"), "configured")));
	ck_assert_int_eq(json_integer_value(json_object_get(tenant(st, "alpha"), "denied")), 1);
	ck_assert_int_eq(count(st, "tenants", "quiet"), -1);
	ck_assert_int_eq(count(st, "by_tenant", "quiet"), -1);
	ck_assert_int_eq(count(st, "by_tenant", "new"), 0);
	ck_assert_str_eq(json_object_iter_key(json_object_iter(json_object_get(json_object_get(st, "requests"),
									       "tenants"))), "alpha");
	json_decref(st);

	/* Back in force: the same slot, so the same counts. */
	ck_assert_int_eq(stats_tenant_slot("quiet"), q);
	in_force((int[]){ a, q, n }, 3);
	st = stats_json();
	ck_assert(json_is_true(json_object_get(tenant(st, "alpha"), "configured")));
	ck_assert_int_eq(count(st, "tenants", "quiet"), 0);
	json_decref(st);
	stats_thread_init(NULL);
	stats_shard_free(sh);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, silent_and_dropped_tenants);
	suite_add_tcase(s, tc);
	return check_run(s);
}
