/* req_headcheck.c: the check of a request with a body on its headers alone,
 * before evhttp reads the body (http_conn.c holds the body back until
 * this answers): attribution and the declared size, so an unauthenticated
 * client cannot make the gateway buffer megabytes (docs/http.md, "Requests with a body are
 * refused on their headers"). The request's steps (req.c) run later as usual.
 *
 * Never: read the body, or refuse what the steps would let through. */
#include "req_headcheck.h"
#include "req_policy.h"
#include "req_route.h"
#include "stats.h"
#include <stdio.h>
#include <string.h>
#include <event2/http.h>

/* A request with a body, on its headers: attribution and size before the
 * body is read (req_policy_head); counted as the steps would count it. */
int req_headcheck_check(struct http_bind *b, struct evhttp_connection *evcon, const char *target, struct evkeyvalq *h,
		  char *detail, size_t len)
{
	struct http_cfgref *ref;
	struct fg_config *cfg = http_worker_config(http_bind_worker(b), &ref);
	const struct sockaddr *peer = http_conn_peer(evcon);
	char path[512];
	struct fg_route_match rm;
	snprintf(path, sizeof path, "%.*s", (int)strcspn(target, "?"), target);
	req_route_match_raw(FG_POST, path, &rm);   /* the token route's credentials are in its body */
	bool attribute = rm.status != 0 || !req_route_is_local(rm.route);
	int st = cfg ? req_policy_head(cfg, http_bind_tenant_listener(b), http_bind_cert(b, evcon), attribute, h, peer,
				       detail, len) : 0;
	http_config_release(ref);
	if (st)
		req_headcheck_count(st);
	return st;
}

void req_headcheck_count(int status)
{
	if (status == 401)
		stats_inc(STAT_unauthorized);
	else if (status != 503)
		stats_inc(STAT_bad_requests);
}
