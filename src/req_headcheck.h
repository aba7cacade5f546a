/* req_headcheck.h: a request with a body, checked on its headers. */
#ifndef FG_REQ_HEADCHECK_H
#define FG_REQ_HEADCHECK_H
#include <stddef.h>
#include "http.h"

/* The http_handler's head hook: 0 to read the body of the request with
 * TARGET and headers H that arrived on B, else the status to refuse it
 * with (400, 401, 413, 503; DETAIL filled). Counted as the steps would count
 * it. */
int req_headcheck_check(struct http_bind *b, struct evhttp_connection *evcon, const char *target, struct evkeyvalq *h,
		  char *detail, size_t len);
/* Counts a refusal of the request's head (attribution, size) with STATUS,
 * the same whether the head check or the steps refused it: 401 as
 * unauthorized, 400 and 413 as bad (docs/metrics.md); 503 (a listener
 * the operator removed, nothing the client did) in neither. */
void req_headcheck_count(int status);
#endif
