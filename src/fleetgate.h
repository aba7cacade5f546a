/* fleetgate.h: constants shared by every file. Nothing here allocates. */
#ifndef FG_FLEETGATE_H
#define FG_FLEETGATE_H

#include "fg_autoconf.h" /* PACKAGE_VERSION */
#include <stddef.h>
#include <stdbool.h>

#define FG_VERSION PACKAGE_VERSION
#define FG_ERR_LEN 512
#define FG_VIN_LEN 17
/* Event-loop threads at most; a larger [gateway] workers is an error. */
#define FG_MAX_WORKERS 64
/* Upstream connections a worker keeps warm (CURLMOPT_MAXCONNECTS). */
#define FG_UPSTREAM_CONNS 32

/* Clearance statuses of the upstream API, in the order of the ttl_<status>
 * table in struct fg_config. */
#define FG_STATUS_LIST(X) \
	X(approved) X(pending) X(revoking) X(revoked) \
	X(rejected) X(canceling) X(canceled)
enum fg_status {
#define X(s) FG_STATUS_##s,
	FG_STATUS_LIST(X)
#undef X
	FG_STATUS_COUNT
};
/* Index of a status name, or -1 when it is not a known status. */
int fg_status_index(const char *name);
extern const char *const fg_status_names[FG_STATUS_COUNT];

/* Operation bits of a tenant's `methods`. */
enum { FG_M_GET = 1, FG_M_POST = 2, FG_M_DELETE = 4 };

#endif
