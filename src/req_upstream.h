/* req_upstream.h: the request steps forward and answer (req_upstream.c). */
#ifndef FG_REQ_UPSTREAM_H
#define FG_REQ_UPSTREAM_H
#include "req.h"

/* Starts the upstream exchange (a mutation's intent line first). */
enum req_go req_upstream_forward(struct req *r);
/* The exchange is over (and not a 401 being retried): the answer. */
enum req_go req_upstream_answer(struct req *r);
#endif
