/* errors.c: the list of "FILE:LINE: message" lines that configuration
 * loading fills. It never stops anything: callers keep going after an error
 * so one -t run shows every problem. Messages must never hold a secret;
 * that is the caller's duty, this file only formats. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "errors.h"

/* Keeps the list usable when memory runs out: the line is dropped, but the
 * caller still sees n > 0 if any earlier line made it. */
static void errors_push(struct fg_errors *e, char *line)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		char **v = realloc(e->lines, cap * sizeof(*v));
		if (!v) {
			free(line);
			return;
		}
		e->lines = v;
		e->cap = cap;
	}
	e->lines[e->n++] = line;
}

void errors_add(struct fg_errors *e, const char *file, int line, const char *fmt, ...)
{
	char *msg = NULL, *out = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	if (!file)
		r = asprintf(&out, "%s", msg);
	else if (line > 0)
		r = asprintf(&out, "%s:%d: %s", file, line, msg);
	else
		r = asprintf(&out, "%s: %s", file, msg);
	free(msg);
	if (r < 0)
		return;
	errors_push(e, out);
}

void errors_free(struct fg_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	e->lines = NULL;
	e->n = e->cap = 0;
}
