/* req_tenantrate.h: tenant request rates, one token bucket per tenant name
 * (docs/cache.md). Functions that depend on time take NOW (monotonic
 * seconds), so unit tests drive the clock. */
#ifndef FG_REQ_TENANTRATE_H
#define FG_REQ_TENANTRATE_H
#include <stdbool.h>

/* One token bucket: RATE tokens a second up to BURST. */
struct ratelimit_bucket {
	double tokens;
	double last;
	bool primed;
};
/* Takes one token: 0 when it was there, else the seconds until one is. */
double req_tenantrate_bucket_take(struct ratelimit_bucket *bk, double rate, double burst, double now);
/* The shared bucket of tenant NAME (kept across reloads by name). True
 * when the request may go on; otherwise *RETRY_AFTER gets the wait. */
bool req_tenantrate_tenant_take(const char *name, double rate, double burst, double now, double *retry_after);
struct fg_tenant;
/* The request rate of tenant T (docs/cache.md; rate, burst): true when it
 * has none or the request may go on; otherwise *RETRY_AFTER gets the
 * wait (> 0). Every request attributed to T counts, local token requests
 * included. */
bool req_tenantrate_tenant_allows(const struct fg_tenant *t, double now, double *retry_after);
/* Frees every bucket (exit). */
void req_tenantrate_shutdown(void);
#endif
