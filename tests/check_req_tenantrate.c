/* check_req_tenantrate.c: tenant request rates with an injected clock: the
 * token-bucket maths and one bucket per tenant name. */
#include <check.h>
#include "check_main.h"
#include "req_tenantrate.h"

START_TEST(token_bucket_maths)
{
	struct ratelimit_bucket bk = { 0 };
	for (int i = 0; i < 4; i++)
		ck_assert_double_eq(req_tenantrate_bucket_take(&bk, 2, 4, 0), 0);   /* the burst */
	ck_assert_double_eq_tol(req_tenantrate_bucket_take(&bk, 2, 4, 0), 0.5, 1e-9);
	ck_assert_double_eq_tol(req_tenantrate_bucket_take(&bk, 2, 4, 0.25), 0.25, 1e-9);
	ck_assert_double_eq(req_tenantrate_bucket_take(&bk, 2, 4, 0.5), 0);
	/* A long idle refills to the burst, not beyond. */
	for (int i = 0; i < 4; i++)
		ck_assert_double_eq(req_tenantrate_bucket_take(&bk, 2, 4, 1000), 0);
	ck_assert_double_gt(req_tenantrate_bucket_take(&bk, 2, 4, 1000), 0);
	/* Steady state: RATE a second. */
	int ok = 0;
	for (double t = 2000; t < 2010; t += 0.01)
		ok += req_tenantrate_bucket_take(&bk, 2, 4, t) == 0;
	ck_assert_int_ge(ok, 20);
	ck_assert_int_le(ok, 24);   /* 20 from the rate + at most the burst */
}
END_TEST

START_TEST(tenant_buckets_are_separate)
{
	double ra;
	for (int i = 0; i < 3; i++)
		ck_assert(req_tenantrate_tenant_take("busy", 1, 3, 50, &ra));
	ck_assert(!req_tenantrate_tenant_take("busy", 1, 3, 50, &ra));
	ck_assert_double_eq_tol(ra, 1, 1e-9);
	ck_assert(req_tenantrate_tenant_take("quiet", 1, 3, 50, &ra));   /* not slowed */
	ck_assert(req_tenantrate_tenant_take("busy", 1, 3, 51, &ra));
	req_tenantrate_shutdown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, token_bucket_maths);
	tcase_add_test(tc, tenant_buckets_are_separate);
	suite_add_tcase(s, tc);
	return check_run(s);
}
