/* req_log.h: a tenant request's id and its access and audit lines. */
#ifndef FG_REQ_LOG_H
#define FG_REQ_LOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "method.h"
#include "req_route.h"

struct evhttp_request;

#define REQLOG_ID_LEN 64   /* longest X-Request-Id kept from a client */

/* What the lines say of one request. */
struct reqlog {
	const char *rid;
	const char *tenant;         /* NULL: none was attributed */
	enum fg_method method;
	enum fg_route route;
	const char *uri;            /* as received */
	const char *path_vin;       /* "" when the path has none */
	char *const *vins;          /* a POST body's VINs */
	size_t nvins;
	int upstream_status;        /* -1: not forwarded; 0: no answer */
	double duration_s;
	double upstream_ms;
	const char *cache;          /* X-Cache */
	struct evhttp_request *er;  /* its client (ADDR:PORT, [V6]:PORT or "unix")
				     * is named only when a line is written */
	const char *by;             /* how the tenant was attributed: listener, cert, key, token,
				     * source; NULL: it was not */
};

/* The access line (when the access log is on) and, for a mutating route,
 * the audit result line of a request answered STATUS with BYTES of body.
 * Returns the audit line's number (log_audit), 0 when none was written. */
uint64_t req_log_write(const struct reqlog *l, int status, size_t bytes);
/* The audit intent line of a mutation about to be forwarded (written at
 * once); its number, 0 when none was written. */
uint64_t req_log_intent(const struct reqlog *l);
/* A client's X-Request-Id worth keeping: 1 to REQLOG_ID_LEN of [A-Za-z0-9-_.:]. */
bool req_log_id_acceptable(const char *s);
/* A new id: 32 hex digits and a NUL into OUT. */
void req_log_id_new(char *out);
#endif
