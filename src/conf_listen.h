/* conf_listen.h: the rules that span a configuration's listeners. Takes
 * the lists, not the configuration: conf.c calls it while loading. */
#ifndef FG_CONF_LISTEN_H
#define FG_CONF_LISTEN_H
#include <stdbool.h>
#include "conf_errors.h"
#include "conf_parse.h"   /* struct fg_addrlist */
#include "tenant.h"

/* Each listener of FILE (shared LISTEN, ADMIN, the tenants') in one place
 * only; errors as FILE:LINE (ADMIN_LINE: where admin_listen is set). */
void conf_listen_check(const char *file, const struct fg_addrlist *listen, const struct fg_addrlist *admin,
		       struct fg_tenant *const *tenants, size_t ntenants, struct fg_errors *errs, int admin_line);
/* The webhook listeners (WEBHOOK) are in no other place (LISTEN, ADMIN,
 * a tenant's); errors at LINE. */
void conf_listen_check_webhook(const char *file, const struct fg_addrlist *webhook, const struct fg_addrlist *listen,
			       const struct fg_addrlist *admin, struct fg_tenant *const *tenants, size_t ntenants,
			       struct fg_errors *errs, int line);
/* As redis' protected mode: an error for every listener of ADMIN (the
 * admin listeners in force, which may be an older configuration's: they
 * move only with a restart) reachable from other hosts, unless GUARDED
 * (admin_token_sha256 set, or admin_open = yes). */
void conf_listen_check_admin(const char *file, const struct fg_addrlist *admin, bool guarded,
			     struct fg_errors *errs, int line);
/* Whether A is reachable only from this host: a unix: socket, or a host
 * that is (or resolves only to) loopback addresses. */
bool conf_listen_is_local(const struct fg_addr *a);
#endif
