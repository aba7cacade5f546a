/* req.h: the handler of tenant requests (req.c), which main
 * registers with http_set_handler. */
#ifndef FG_REQ_H
#define FG_REQ_H
#include "http.h"

extern const struct http_handler req_handler;
#endif
