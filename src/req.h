/* request.h: the handler of tenant requests (request.c), which main
 * registers with http_set_handler. */
#ifndef FG_REQUEST_H
#define FG_REQUEST_H
#include "http.h"

extern const struct http_handler request_handler;
#endif
