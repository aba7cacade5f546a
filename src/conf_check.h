/* conf_check.h: what -t adds to loading (log files writable), -T's print
 * of the effective configuration, and the keys a reload cannot change. */
#ifndef FG_CONF_CHECK_H
#define FG_CONF_CHECK_H
#include <stdio.h>
#include "conf.h"

/* Errors (FILE:LINE) for what loading cannot see but start-up would fail
 * on: an access or audit log that cannot be opened for append. */
void conf_check_files(const struct fg_config *c, struct fg_errors *errs);
/* nginx -T: every key of the key table with its effective value (defaults
 * included, secrets as <redacted>), then each tenant file as written. */
void conf_check_print(const struct fg_config *c, FILE *out);
/* Logs a warning for every key that differs between OLD and NEW but only
 * takes effect after a restart (workers, admin_listen, client_timeout). */
void conf_check_restart_keys(const struct fg_config *old, const struct fg_config *new);
#endif
