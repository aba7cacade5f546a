/* fuzz_route.c: the route matcher behind libevent's URI parsing, with
 * fleetgate's own percent-decoding, as req.c drives it (src/req_route.c:
 * req_route_match_raw).
 *
 * Input: one byte picking the method, then the request target. Asserts:
 * the outcome is one of matched / 400 / 404 / 405; an encoded NUL or
 * slash is never matched; a match names a route whose method it is; 405
 * carries an Allow value; a VIN route holds a normalized VIN that appears
 * (case aside) in the decoded path; the list routes match only
 * /v1/fleets/vehicles (one trailing slash allowed). */
#define _GNU_SOURCE   /* strcasestr */
#include "fuzz.h"
#include <strings.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "req_route.h"
#include "fleetgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	enum fg_method m = (enum fg_method)(data[0] % 4);
	char *target = fuzz_strndup(data + 1, size - 1);
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	const char *raw = u ? evhttp_uri_get_path(u) : NULL;
	const char *why = NULL;
	char *path = raw ? malloc(strlen(raw) + 1) : NULL;
	long plen = path ? req_route_decode_path(raw, path, &why) : -1;
	const char *p = plen >= 0 ? path : "";

	struct fg_route_match rm;
	req_route_match_raw(m, raw ? raw : "", &rm);
	/* 500 is req_route.h's out-of-memory answer */
	FUZZ_ASSERT(rm.status == 0 || rm.status == 400 || rm.status == 404 || rm.status == 405 ||
		    rm.status == 500);
	if (raw && (strcasestr(raw, "%00") || strcasestr(raw, "%2f")))
		FUZZ_ASSERT(rm.status == 400);
	if (rm.status == 0)
		FUZZ_ASSERT(plen >= 0 && (size_t)plen == strlen(p));
	if (rm.status == 0) {
		FUZZ_ASSERT(rm.route > FG_R_NONE && rm.route < FG_R_COUNT);
		FUZZ_ASSERT(req_route_needs(rm.route) != 0 || req_route_is_local(rm.route));   /* the token endpoint needs no method */
		FUZZ_ASSERT(strcmp(req_route_name(rm.route), "none") != 0);
	} else {
		FUZZ_ASSERT(rm.route == FG_R_NONE || rm.status == 400);
	}
	if (rm.status == 405)
		FUZZ_ASSERT(rm.allow && *rm.allow);
	if (rm.status == 0 && (rm.route == FG_R_GET || rm.route == FG_R_DELETE || rm.route == FG_R_CANCEL)) {
		FUZZ_ASSERT(fuzz_is_vin(rm.vin));
		FUZZ_ASSERT(strcasestr(p, rm.vin) != NULL);
	}
	if (rm.status == 0 && (rm.route == FG_R_LIST || rm.route == FG_R_CREATE))
		FUZZ_ASSERT(strcmp(p, "/v1/fleets/vehicles") == 0 || strcmp(p, "/v1/fleets/vehicles/") == 0);
	if (rm.status == 0 && rm.route == FG_R_LIST)
		FUZZ_ASSERT(m == FG_GET);
	if (rm.status == 0 && rm.route == FG_R_CREATE)
		FUZZ_ASSERT(m == FG_POST);
	if (rm.status == 0 && rm.route == FG_R_DELETE)
		FUZZ_ASSERT(m == FG_DELETE);

	free(path);
	if (u)
		evhttp_uri_free(u);
	free(target);
	return 0;
}
