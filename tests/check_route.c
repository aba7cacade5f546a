/* check_route.c: route matching (SPEC.md §4) and the header allowlist. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "route.h"
#include "forward.h"
#include "fleetgate.h"

static struct fg_route_match M(enum fg_method m, const char *path)
{
	struct fg_route_match r;
	route_match(m, path, &r);
	return r;
}

START_TEST(routes_match)
{
	struct fg_route_match r = M(FG_GET, "/v1/fleets/vehicles");
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.route, FG_R_LIST);
	ck_assert_int_eq(M(FG_POST, "/v1/fleets/vehicles").route, FG_R_CREATE);
	r = M(FG_GET, "/v1/fleets/vehicles/exvetestvin000001");
	ck_assert_int_eq(r.route, FG_R_GET);
	ck_assert_str_eq(r.vin, "EXVETESTVIN000001");
	ck_assert_int_eq(M(FG_DELETE, "/v1/fleets/vehicles/EXVETESTVIN000001").route, FG_R_DELETE);
	r = M(FG_POST, "/v1/fleets/WBADT43452G296403/cancel_activation");
	ck_assert_int_eq(r.route, FG_R_CANCEL);
	ck_assert_str_eq(r.vin, "WBADT43452G296403");
	ck_assert_int_eq(M(FG_POST, "/v1/fleets/access_tokens").route, FG_R_ACCESS_TOKEN);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehicles/").route, FG_R_LIST);
}
END_TEST

START_TEST(routes_405_with_allow)
{
	struct fg_route_match r = M(FG_DELETE, "/v1/fleets/vehicles");
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "GET, POST");
	r = M(FG_POST, "/v1/fleets/vehicles/EXVETESTVIN000001");
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "GET, DELETE");
	r = M(FG_GET, "/v1/fleets/EXVETESTVIN000001/cancel_activation");
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "POST");
	r = M(FG_OTHER, "/v1/fleets/access_tokens");
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "POST");
}
END_TEST

START_TEST(routes_404_and_400)
{
	ck_assert_int_eq(M(FG_GET, "/").status, 404);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets").status, 404);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehicles/A/B").status, 404);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehiclesX").status, 404);
	ck_assert_int_eq(M(FG_POST, "/v1/fleets//cancel_activation").status, 404);
	ck_assert_int_eq(M(FG_GET, "/v2/fleets/vehicles").status, 404);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehicles/SHORT").status, 400);
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehicles/EXVETESTVIN00000!").status, 400);
	ck_assert_int_eq(M(FG_POST, "/v1/fleets/NOTAVIN/cancel_activation").status, 400);
}
END_TEST

START_TEST(route_policy_bits)
{
	ck_assert_uint_eq(route_needs(FG_R_LIST), FG_M_GET);
	ck_assert_uint_eq(route_needs(FG_R_CREATE), FG_M_POST);
	ck_assert_uint_eq(route_needs(FG_R_CANCEL), FG_M_DELETE);
	ck_assert(route_is_mutation(FG_R_ACCESS_TOKEN));
	ck_assert(!route_is_mutation(FG_R_GET));
	ck_assert_str_eq(route_name(FG_R_GET), "vehicle_get");
}
END_TEST

START_TEST(headers_allowlist)
{
	ck_assert(forward_header_allowed("Content-Type"));
	ck_assert(forward_header_allowed("accept"));
	const char *dropped[] = { "Authorization", "X-API-Key", "Cookie", "Connection", "Keep-Alive",
				  "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
				  "Host", "Content-Length", "X-Forwarded-For", "Forwarded", "X-Request-Id",
				  "Expect" };
	for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
		ck_assert_msg(!forward_header_allowed(dropped[i]), "%s must not go upstream", dropped[i]);
}
END_TEST

START_TEST(error_status_for_curl_codes)
{
	ck_assert_int_eq(forward_error_status(CURLE_OPERATION_TIMEDOUT), 504);
	ck_assert_int_eq(forward_error_status(CURLE_COULDNT_CONNECT), 502);
	ck_assert_int_eq(forward_error_status(CURLE_PEER_FAILED_VERIFICATION), 502);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, routes_match);
	tcase_add_test(tc, routes_405_with_allow);
	tcase_add_test(tc, routes_404_and_400);
	tcase_add_test(tc, route_policy_bits);
	tcase_add_test(tc, headers_allowlist);
	tcase_add_test(tc, error_status_for_curl_codes);
	suite_add_tcase(s, tc);
	return check_run(s);
}
