/* check_req_route.c: route matching (docs/http.md) with the path decoding and
 * query reading in front of it (§12 "Hardening"), and the header
 * allowlist. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "req_route.h"
#include "req_query.h"
#include "up_forward.h"
#include "fleetgate.h"

static struct fg_route_match M(enum fg_method m, const char *path)
{
	struct fg_route_match r;
	req_route_match_raw(m, path, &r);
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

/* Decoding by length: nothing decodes to a NUL that ends the path early
 * or to a slash that makes another path shape. */
START_TEST(paths_decode_without_aliases)
{
	struct fg_route_match r = M(FG_GET, "/v1/fleets/vehicles/%45XVETESTVIN000001");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.vin, "EXVETESTVIN000001");
	ck_assert_int_eq(M(FG_GET, "/v1/fleets/vehicle%73").route, FG_R_LIST);
	const char *bad[] = { "/v1/fleets/vehicles/EXVETESTVIN000001%00junk", "/v1/fleets/vehicles%00/EXVETESTVIN000001",
			      "/v1/fleets/vehicles%2FEXVETESTVIN000001", "/v1/fleets%2fvehicles", "/v1/fleets/vehicles%",
			      "/v1/fleets/vehicles%4", "/v1/fleets/vehicles%zz", "/v1/fleets/vehicles/%G0" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r = M(FG_GET, bad[i]);
		ck_assert_msg(r.status == 400, "%s: %d", bad[i], r.status);
		ck_assert_ptr_nonnull(r.detail);
	}
	char out[64];
	const char *why = NULL;
	ck_assert_int_eq(req_route_decode_path("/a%41+b", out, &why), 5);
	ck_assert_str_eq(out, "/aA+b");   /* '+' is a plus in a path */
	ck_assert_int_eq(req_route_decode_path("/a%00", out, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "NUL"));
	ck_assert_int_eq(req_route_decode_path("/a%2f", out, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "slash"));
}
END_TEST

static int Q(enum fg_route route, const char *query, char **filter)
{
	char detail[256];
	int st = req_query_parse(route, query, filter, detail, sizeof detail);
	if (st)
		ck_assert_msg(detail[0], "no detail for %s", query);
	return st;
}

START_TEST(queries_take_only_the_filter)
{
	char *f = NULL;
	ck_assert_int_eq(Q(FG_R_LIST, NULL, &f), 0);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(Q(FG_R_LIST, "", &f), 0);
	ck_assert_ptr_null(f);
	/* normalized: key order, white space and escapes do not matter */
	ck_assert_int_eq(Q(FG_R_LIST, "filter=%7B%22status%22%3A%7B%22in%22%3A%5B%22approved%22%5D%7D%2C%22brand%22%3A%22bmw%22%7D", &f), 0);
	ck_assert_str_eq(f, "{\"brand\":\"bmw\",\"status\":{\"in\":[\"approved\"]}}");
	char *g = NULL;
	ck_assert_int_eq(Q(FG_R_LIST, "filter=%7B+%22br%61nd%22+%3A+%22bmw%22%2C%0A%22status%22%3A%7B%22in%22%3A%5B%22approved%22%5D%7D%7D&", &g), 0);
	ck_assert_str_eq(f, g);
	free(g);
	/* what goes upstream is what was parsed, percent-encoded */
	char *up = req_query_upstream(f);
	ck_assert_str_eq(up, "filter=%7B%22brand%22%3A%22bmw%22%2C%22status%22%3A%7B%22in%22%3A%5B%22approved%22%5D%7D%7D");
	free(up);
	free(f);
	/* refused: other parameters on any route, a filter off the list route */
	const char *refused[] = { "page=2", "filter=%7B%7D&page=2", "filter=%7B%7D&filter=%7B%7D", "filter",
				  "filter=", "filter=%7Bnot-json", "filter=%5B1%5D", "filter=%zz", "filter=%7B%7D%",
				  "%", "filter=%7B%22vin%22%3A1%2C%22vin%22%3A2%7D", "filter=%7B%22a%22%3A%22%00%22%7D",
				  "fil%74er=%7B%7D%00" };
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		f = NULL;
		ck_assert_msg(Q(FG_R_LIST, refused[i], &f) == 400, "%s", refused[i]);
		ck_assert_ptr_null(f);
	}
	ck_assert_int_eq(Q(FG_R_GET, "filter=%7B%7D", &f), 400);
	ck_assert_int_eq(Q(FG_R_DELETE, "vin=EXVETESTVIN000002", &f), 400);
	ck_assert_int_eq(Q(FG_R_CREATE, "x", &f), 400);
	ck_assert_int_eq(Q(FG_R_GET, "&", &f), 0);
}
END_TEST

START_TEST(route_policy_bits)
{
	ck_assert_uint_eq(req_route_needs(FG_R_LIST), FG_M_GET);
	ck_assert_uint_eq(req_route_needs(FG_R_CREATE), FG_M_POST);
	ck_assert_uint_eq(req_route_needs(FG_R_CANCEL), FG_M_DELETE);
	ck_assert(req_route_is_mutation(FG_R_ACCESS_TOKEN));
	ck_assert(!req_route_is_mutation(FG_R_GET));
	ck_assert_str_eq(req_route_name(FG_R_GET), "vehicle_get");
}
END_TEST

START_TEST(headers_allowlist)
{
	ck_assert(up_forward_header_allowed("accept"));
	/* A body goes up labelled as the JSON it was checked as, never with
	 * the client's label. */
	ck_assert(!up_forward_header_allowed("Content-Type"));
	const char *dropped[] = { "Authorization", "X-API-Key", "Cookie", "Connection", "Keep-Alive",
				  "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
				  "Host", "Content-Length", "X-Forwarded-For", "Forwarded", "X-Request-Id",
				  "Expect" };
	for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
		ck_assert_msg(!up_forward_header_allowed(dropped[i]), "%s must not go upstream", dropped[i]);
}
END_TEST

START_TEST(error_status_for_curl_codes)
{
	ck_assert_int_eq(up_forward_error_status(CURLE_OPERATION_TIMEDOUT), 504);
	ck_assert_int_eq(up_forward_error_status(CURLE_COULDNT_CONNECT), 502);
	ck_assert_int_eq(up_forward_error_status(CURLE_PEER_FAILED_VERIFICATION), 502);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, routes_match);
	tcase_add_test(tc, routes_405_with_allow);
	tcase_add_test(tc, routes_404_and_400);
	tcase_add_test(tc, paths_decode_without_aliases);
	tcase_add_test(tc, queries_take_only_the_filter);
	tcase_add_test(tc, route_policy_bits);
	tcase_add_test(tc, headers_allowlist);
	tcase_add_test(tc, error_status_for_curl_codes);
	suite_add_tcase(s, tc);
	return check_run(s);
}
