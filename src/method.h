/* method.h: the one table of HTTP methods: the enum the routing table
 * matches on, the name logs and upstream requests use, and libevent's
 * command it comes from. Every method libevent can deliver has a row, so
 * the access log names a refused HEAD or PUT as what it was. */
#ifndef FG_METHOD_H
#define FG_METHOD_H

/*        id       name        libevent command */
#define FG_METHODS(X) \
	X(GET,     "GET",      EVHTTP_REQ_GET) \
	X(POST,    "POST",     EVHTTP_REQ_POST) \
	X(DELETE,  "DELETE",   EVHTTP_REQ_DELETE) \
	X(HEAD,    "HEAD",     EVHTTP_REQ_HEAD) \
	X(PUT,     "PUT",      EVHTTP_REQ_PUT) \
	X(OPTIONS, "OPTIONS",  EVHTTP_REQ_OPTIONS) \
	X(TRACE,   "TRACE",    EVHTTP_REQ_TRACE) \
	X(CONNECT, "CONNECT",  EVHTTP_REQ_CONNECT) \
	X(PATCH,   "PATCH",    EVHTTP_REQ_PATCH)

enum fg_method {
#define X(id, name, cmd) FG_##id,
	FG_METHODS(X)
#undef X
	FG_OTHER   /* anything else libevent may deliver */
};

/* "GET", ...; "OTHER" for FG_OTHER. */
const char *method_name(enum fg_method m);
/* The method of a libevent command (enum evhttp_cmd_type). */
enum fg_method method_from_evhttp(int cmd);
#endif
