/* tenant_cert.h: attribution by client certificate (docs/tenants.md,
 * "Client certificates"): the names and pins of every tenant in one hash
 * index, so a certificate finds its tenant in O(1) whatever the number of
 * tenants, and the identity a verified certificate presents.
 *
 * Like tenant.h, this must not include conf.h: conf.c builds the index. */
#ifndef FG_TENANT_CERT_H
#define FG_TENANT_CERT_H
#include <stdbool.h>
#include <stddef.h>
#include "conf_errors.h"

struct fg_tenant;
struct tenant_certs;   /* the index over one configuration's tenants */

#define FG_CERT_NAMES 16        /* names of one certificate looked at */

enum fg_cert_state {
	FG_CERT_NONE,       /* no client certificate (or a plain connection) */
	FG_CERT_FAILED,     /* presented, and it did not verify against client_ca_file */
	FG_CERT_VERIFIED,   /* presented and verified */
};

/* What a connection's client certificate shows: filled by the worker
 * layer (http_tls.c) once per connection. Names are its URI SANs (SPIFFE
 * IDs), DNS SANs and subject CN, in that order. Never logged. */
struct fg_peer_cert {
	enum fg_cert_state state;
	unsigned char sha256[32];   /* of the leaf's DER */
	int nnames;
	char *names[FG_CERT_NAMES];
};
void tenant_cert_peer_clear(struct fg_peer_cert *pc);

/* The index of every tenant's cert_names and cert_sha256; a name or pin
 * two tenants hold is an error in ERRS (on the later file's line). NULL
 * when there is nothing to index (or out of memory, also in ERRS). */
struct tenant_certs *tenant_cert_index(struct fg_tenant *const *t, size_t n, struct fg_errors *errs);
void tenant_cert_index_free(struct tenant_certs *ix);
/* The tenant a verified certificate PC belongs to (by pin or by any of its
 * names), or NULL. *CONFLICT: its pin and names point at two tenants (a
 * certificate that would be both is nobody's). What matched, for the
 * attribution a local token carries (req_attr.h): *PIN the tenant's
 * cert_sha256 entry when the pin did (it is looked at first), else *NAME
 * its first cert_names entry the certificate shows; the other NULL. Both
 * point into the tenant; either may be NULL when not wanted. */
const struct fg_tenant *tenant_cert_lookup(const struct tenant_certs *ix, const struct fg_peer_cert *pc,
					   bool *conflict, const char **name, const unsigned char **pin);
#endif
