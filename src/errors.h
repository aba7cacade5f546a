/* errors.h: a growing list of "FILE:LINE: message" lines. Configuration
 * loading collects every error instead of stopping at the first one, so -t
 * and a failed reload can report them all. */
#ifndef FG_ERRORS_H
#define FG_ERRORS_H
#include <stddef.h>

struct fg_errors {
	char **lines;
	size_t n, cap;
};

/* Appends "FILE:LINE: message"; line 0 gives "FILE: message"; a NULL file
 * gives just the message. */
void errors_add(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void errors_free(struct fg_errors *e);
#endif
