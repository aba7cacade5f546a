/* conf_errors.h: a growing list of "FILE:LINE: message" lines. Configuration
 * loading collects every error instead of stopping at the first one, so -t
 * and a failed reload can report them all. */
#ifndef FG_CONF_ERRORS_H
#define FG_CONF_ERRORS_H
#include <stddef.h>

struct fg_errors {
	char **lines;
	size_t n, cap;
	char **warnings;     /* worth saying, but no reason to refuse the file */
	size_t nwarn, capwarn;
};

/* Appends "FILE:LINE: message", unless that very line is already there
 * (a VIN file shared by two tenants is read twice but reported once); line 0 gives "FILE: message"; a NULL file
 * gives just the message. */
void conf_errors_add(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same for a warning (e.g. a secret file others may read): -t prints
 * it and still exits 0; start-up and reload log it. */
void conf_errors_warn(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void conf_errors_free(struct fg_errors *e);
#endif
