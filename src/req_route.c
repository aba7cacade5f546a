/* req_route.c: the routing table of docs/http.md, plus the local token route
 * (POST /v1/access_tokens, which has no upstream path), and the decoding
 * of the path it is matched on. Matching is by path shape first (so a
 * known path with the wrong method is 405, not 404), then by method.
 * Decoding is by length and refuses %00 and %2F: a path whose decoding
 * could end early or grow a separator would be checked as one resource
 * and acted on by the upstream as another. Pure functions; the only
 * allocations are the decoded copy in req_route_match_raw and
 * req_route_upstream_url's answer. */
#include "req_route.h"
#include "fleetgate.h"
#include "conf_parse.h"
#include "vinset.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_names[FG_R_COUNT] = {
	[FG_R_NONE] = "none",
	[FG_R_LIST] = "vehicles_list",
	[FG_R_CREATE] = "vehicles_create",
	[FG_R_GET] = "vehicle_get",
	[FG_R_DELETE] = "vehicle_delete",
	[FG_R_CANCEL] = "cancel_activation",
	[FG_R_ACCESS_TOKEN] = "access_token",
	[FG_R_LOCAL_TOKEN] = "local_token",
};

const char *req_route_name(enum fg_route r)
{
	return (r >= 0 && r < FG_R_COUNT) ? route_names[r] : "none";
}

unsigned req_route_needs(enum fg_route r)
{
	switch (r) {
	case FG_R_LIST: case FG_R_GET: return FG_M_GET;
	case FG_R_CREATE: case FG_R_ACCESS_TOKEN: return FG_M_POST;
	case FG_R_DELETE: case FG_R_CANCEL: return FG_M_DELETE;
	default: return 0;
	}
}

int req_route_upstream_path(const struct fg_route_match *m, char *out, size_t len)
{
	int n;
	if ((m->route == FG_R_GET || m->route == FG_R_DELETE || m->route == FG_R_CANCEL) && !m->vin[0])
		return -1;   /* the path's VIN was refused */
	switch (m->route) {
	case FG_R_LIST:
	case FG_R_CREATE: n = snprintf(out, len, "/v1/fleets/vehicles"); break;
	case FG_R_GET:
	case FG_R_DELETE: n = snprintf(out, len, "/v1/fleets/vehicles/%s", m->vin); break;
	case FG_R_CANCEL: n = snprintf(out, len, "/v1/fleets/%s/cancel_activation", m->vin); break;
	case FG_R_ACCESS_TOKEN: n = snprintf(out, len, "/v1/fleets/access_tokens"); break;
	default: return -1;
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *req_route_upstream_url(const struct fg_route_match *m, const char *base_url, const char *query)
{
	char path[128];
	if (req_route_upstream_path(m, path, sizeof path) < 0)
		return NULL;
	size_t n = strlen(base_url) + strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	char *url = malloc(n);
	if (url)
		snprintf(url, n, "%s%s%s%s", base_url, path, query ? "?" : "", query ? query : "");
	return url;
}

bool req_route_is_mutation(enum fg_route r)
{
	return r == FG_R_CREATE || r == FG_R_DELETE || r == FG_R_CANCEL || r == FG_R_ACCESS_TOKEN;
}

bool req_route_is_local(enum fg_route r)
{
	return r == FG_R_LOCAL_TOKEN;
}

/* A path segment with the VIN, up to the next '/' or the end. */
static bool req_route_take_vin(const char *seg, size_t len, struct fg_route_match *out)
{
	if (!vin_normalize(seg, len, out->vin)) {
		out->status = 400;
		out->detail = "the VIN in the path is malformed: 17 characters of A-Z and 0-9 expected";
		return false;
	}
	return true;
}

static void req_route_method(struct fg_route_match *out, enum fg_method m,
			 enum fg_method m1, enum fg_route r1,
			 enum fg_method m2, enum fg_route r2, const char *allow)
{
	if (m == m1)
		out->route = r1;
	else if (r2 != FG_R_NONE && m == m2)
		out->route = r2;
	else {
		out->status = 405;
		out->allow = allow;
	}
}

long req_route_decode_path(const char *raw, char *out, const char **why)
{
	size_t n = 0;
	for (const char *p = raw; *p; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		int hi = conf_parse_hexdigit(p[1]), lo = hi < 0 ? -1 : conf_parse_hexdigit(p[2]);
		if (hi < 0 || lo < 0) {
			*why = "the path has a malformed percent-encoding";
			return -1;
		}
		char c = (char)(hi * 16 + lo);
		if (c == '\0' || c == '/') {
			*why = c ? "the path holds an encoded slash (%2F)" : "the path holds an encoded NUL (%00)";
			return -1;
		}
		out[n++] = c;
		p += 2;
	}
	out[n] = '\0';
	return (long)n;
}

void req_route_match_raw(enum fg_method m, const char *rawpath, struct fg_route_match *out)
{
	const char *why = "the path cannot be decoded";
	char *path = malloc(strlen(rawpath) + 1);
	long n = path ? req_route_decode_path(rawpath, path, &why) : -1;
	if (n >= 0)
		req_route_match(m, path, (size_t)n, out);
	else {
		memset(out, 0, sizeof *out);
		out->status = path ? 400 : 500;
		out->detail = path ? why : "out of memory";
	}
	free(path);
}

void req_route_match(enum fg_method m, const char *path, size_t plen, struct fg_route_match *out)
{
	static const char vehicles[] = "/v1/fleets/vehicles";
	static const char fleets[] = "/v1/fleets/";
	memset(out, 0, sizeof *out);
	out->status = 404;

	/* A trailing slash names the same resource. */
	if (plen > 1 && path[plen - 1] == '/')
		plen--;

	if (plen == sizeof vehicles - 1 && memcmp(path, vehicles, plen) == 0) {
		out->status = 0;
		req_route_method(out, m, FG_GET, FG_R_LIST, FG_POST, FG_R_CREATE, "GET, POST");
		return;
	}
	if (plen > sizeof vehicles && memcmp(path, vehicles, sizeof vehicles - 1) == 0 &&
	    path[sizeof vehicles - 1] == '/') {
		const char *seg = path + sizeof vehicles;
		size_t slen = plen - sizeof vehicles;
		if (memchr(seg, '/', slen))
			return;
		out->status = 0;
		req_route_method(out, m, FG_GET, FG_R_GET, FG_DELETE, FG_R_DELETE, "GET, DELETE");
		if (out->status == 0)
			req_route_take_vin(seg, slen, out);
		return;
	}
	if (plen == strlen("/v1/access_tokens") && memcmp(path, "/v1/access_tokens", plen) == 0) {
		out->status = 0;
		req_route_method(out, m, FG_POST, FG_R_LOCAL_TOKEN, FG_OTHER, FG_R_NONE, "POST");
		return;
	}
	if (plen == strlen("/v1/fleets/access_tokens") &&
	    memcmp(path, "/v1/fleets/access_tokens", plen) == 0) {
		out->status = 0;
		req_route_method(out, m, FG_POST, FG_R_ACCESS_TOKEN, FG_OTHER, FG_R_NONE, "POST");
		return;
	}
	/* /v1/fleets/{vin}/cancel_activation */
	static const char cancel[] = "/cancel_activation";
	if (plen > sizeof fleets - 1 + sizeof cancel - 1 &&
	    memcmp(path, fleets, sizeof fleets - 1) == 0 &&
	    memcmp(path + plen - (sizeof cancel - 1), cancel, sizeof cancel - 1) == 0) {
		const char *seg = path + sizeof fleets - 1;
		size_t slen = plen - (sizeof fleets - 1) - (sizeof cancel - 1);
		if (slen == 0 || memchr(seg, '/', slen))
			return;
		out->status = 0;
		req_route_method(out, m, FG_POST, FG_R_CANCEL, FG_OTHER, FG_R_NONE, "POST");
		if (out->status == 0)
			req_route_take_vin(seg, slen, out);
	}
}
