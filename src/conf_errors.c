/* conf_errors.c: the list of "FILE:LINE: message" lines that configuration
 * loading fills. It never stops anything: callers keep going after an error
 * so one -t run shows every problem. Messages must never hold a secret;
 * that is the caller's duty, this file only formats. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf_errors.h"

/* Keeps the list usable when memory runs out: the line is dropped, but the
 * caller still sees n > 0 if any earlier line made it. */
static void conf_errors_push(char ***lines, size_t *n, size_t *cap, char *line)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*lines)[i], line) == 0) {
			free(line);
			return;
		}
	}
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		char **v = realloc(*lines, ncap * sizeof(*v));
		if (!v) {
			free(line);
			return;
		}
		*lines = v;
		*cap = ncap;
	}
	(*lines)[(*n)++] = line;
}

__attribute__((format(printf, 3, 0)))
static char *conf_errors_format(const char *file, int line, const char *fmt, va_list ap)
{
	char *msg = NULL, *out = NULL;
	int r = vasprintf(&msg, fmt, ap);
	if (r < 0)
		return NULL;
	if (!file)
		r = asprintf(&out, "%s", msg);
	else if (line > 0)
		r = asprintf(&out, "%s:%d: %s", file, line, msg);
	else
		r = asprintf(&out, "%s: %s", file, msg);
	free(msg);
	return r < 0 ? NULL : out;
}

void conf_errors_add(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = conf_errors_format(file, line, fmt, ap);
	va_end(ap);
	if (out)
		conf_errors_push(&e->lines, &e->n, &e->cap, out);
}

void conf_errors_warn(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = conf_errors_format(file, line, fmt, ap);
	va_end(ap);
	if (out)
		conf_errors_push(&e->warnings, &e->nwarn, &e->capwarn, out);
}

void conf_errors_free(struct fg_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	for (size_t i = 0; i < e->nwarn; i++)
		free(e->warnings[i]);
	free(e->warnings);
	e->lines = e->warnings = NULL;
	e->n = e->cap = e->nwarn = e->capwarn = 0;
}
