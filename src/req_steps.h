/* req_steps.h: the handler of tenant requests (req_steps.c), which main
 * registers with http_set_handler. */
#ifndef FG_REQ_STEPS_H
#define FG_REQ_STEPS_H
#include "http.h"

extern const struct http_handler req_handler;
#endif
