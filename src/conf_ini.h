/* conf_ini.h: INI reader with line numbers and no line length limit.
 *
 * Debian's libinih is built with a 200-byte line limit and its handler does
 * not receive line numbers; the contract needs both (lines of any length,
 * FILE:LINE errors), so this small reader uses getline(3) instead. */
#ifndef FG_CONF_INI_H
#define FG_CONF_INI_H
#include "conf_errors.h"

/* Called for each `key = value` with the current section ("" before the
 * first header) and for each `[section]` header with key == NULL. Key and
 * value are trimmed; a value's trailing " # comment" / " ; comment" is
 * stripped. Parsing always goes on to the next line (so every error of a
 * file is found); the handler reports its own errors. */
typedef void (*ini_handler)(void *arg, const char *file, int line,
			    const char *section, const char *key, const char *value);

/* Parses PATH. Syntax errors go to ERRS as FILE:LINE. Returns -1 when the
 * file cannot be opened (error added), else 0. */
int conf_ini_parse_file(const char *path, ini_handler h, void *arg, struct fg_errors *errs);
#endif
