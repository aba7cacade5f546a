/* req_route.h: the six upstream routes of docs/http.md, the one local route
 * (POST /v1/access_tokens, answered by req_localtoken.c) and the matcher. */
#ifndef FG_REQ_ROUTE_H
#define FG_REQ_ROUTE_H
#include <stdbool.h>
#include <stddef.h>
#include "method.h"

enum fg_route {
	FG_R_NONE = 0,
	FG_R_LIST,          /* GET    /v1/fleets/vehicles */
	FG_R_CREATE,        /* POST   /v1/fleets/vehicles */
	FG_R_GET,           /* GET    /v1/fleets/vehicles/{vin} */
	FG_R_DELETE,        /* DELETE /v1/fleets/vehicles/{vin} */
	FG_R_CANCEL,        /* POST   /v1/fleets/{vin}/cancel_activation */
	FG_R_ACCESS_TOKEN,  /* POST   /v1/fleets/access_tokens */
	FG_R_LOCAL_TOKEN,   /* POST   /v1/access_tokens: answered locally, never forwarded */
	FG_R_COUNT
};

struct fg_route_match {
	enum fg_route route;
	int status;          /* 0 matched; 404 unknown path; 405 wrong method;
			      * 400 bad VIN or a path that cannot be decoded;
			      * 500 out of memory */
	const char *allow;   /* for 405: value of the Allow header */
	const char *detail;  /* for 400: what is wrong */
	char vin[18];        /* normalized path VIN for GET/DELETE/CANCEL */
};

/* PATH (LEN bytes) is the decoded path without query string. */
void req_route_match(enum fg_method m, const char *path, size_t len, struct fg_route_match *out);
/* RAWPATH as received (percent-encoded, no query) decoded and matched:
 * malformed percent-encoding, an encoded NUL (%00) or an encoded slash
 * (%2F) is status 400, so no decoding can make one path stand for
 * another. */
void req_route_match_raw(enum fg_method m, const char *rawpath, struct fg_route_match *out);
/* Decodes RAW's percent-escapes into OUT (room for strlen(RAW) + 1).
 * Returns the decoded length, or -1 with *WHY set when an escape is
 * malformed or decodes to NUL or '/'. '+' stays '+' (paths, not forms). */
long req_route_decode_path(const char *raw, char *out, const char **why);
const char *req_route_name(enum fg_route r);   /* stable label, e.g. "vehicle_get" */
unsigned req_route_needs(enum fg_route r);     /* FG_M_* bit the tenant needs */
bool req_route_is_mutation(enum fg_route r);
/* Whether R is answered by fleetgate itself (no tenant policy, no upstream). */
bool req_route_is_local(enum fg_route r);
/* The upstream path of matched route M into OUT; -1 when it has none. */
int req_route_upstream_path(const struct fg_route_match *m, char *out, size_t len);
/* BASE_URL + the upstream path of M + "?" QUERY (when not NULL), malloc'd;
 * NULL when M has no upstream path or memory ran out. */
char *req_route_upstream_url(const struct fg_route_match *m, const char *base_url, const char *query);
#endif
