/* conf_ini.c: the INI reader behind the main file and the tenant files.
 *
 * Why not libinih: Debian builds it with INI_MAX_LINE = 200 and its handler
 * gets no line number, while the contract needs lines of any length (VIN
 * lists and keys_sha256 lists grow long) and FILE:LINE in every error. So
 * this reader uses getline(3), which grows its buffer as needed.
 *
 * It only splits text: what a section or key means, and whether it is
 * allowed, is the handler's business. It never prints values, since a line
 * may hold a literal secret. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf_ini.h"

static char *conf_ini_ltrim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

static void conf_ini_rtrim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Cuts an inline comment: '#' or ';' at the start of S or after
 * whitespace. A '#' glued to text (a URL fragment, "abc;def") stays, so
 * values only lose what reads as a comment to a human. */
static void conf_ini_strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if ((*p == '#' || *p == ';') &&
		    (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

/* One line, already trimmed and not a comment. Returns 0 or -1 for a
 * syntax error (reported here). SECTION is the caller's current section,
 * replaced on a header. */
static int conf_ini_line(char *s, const char *path, int lineno, char **section,
		    ini_handler h, void *arg, struct fg_errors *errs)
{
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (!end) {
			conf_errors_add(errs, path, lineno, "section header without ']'");
			return -1;
		}
		*end = '\0';
		conf_ini_strip_comment(end + 1);
		if (*conf_ini_ltrim(end + 1)) {
			conf_errors_add(errs, path, lineno, "unexpected text after section header");
			return -1;
		}
		char *name = conf_ini_ltrim(s + 1);
		conf_ini_rtrim(name);
		if (!*name) {
			conf_errors_add(errs, path, lineno, "empty section name");
			return -1;
		}
		char *copy = strdup(name);
		if (!copy) {
			conf_errors_add(errs, path, lineno, "out of memory");
			return -1;
		}
		free(*section);
		*section = copy;
		h(arg, path, lineno, *section, NULL, NULL);
		return 0;
	}
	char *eq = strchr(s, '=');
	if (!eq) {
		conf_errors_add(errs, path, lineno, "expected \"[section]\" or \"key = value\"");
		return -1;
	}
	*eq = '\0';
	char *key = s, *value = eq + 1;
	conf_ini_rtrim(key);
	if (!*key) {
		conf_errors_add(errs, path, lineno, "missing key before '='");
		return -1;
	}
	conf_ini_strip_comment(value);
	value = conf_ini_ltrim(value);
	conf_ini_rtrim(value);
	h(arg, path, lineno, *section, key, value);
	return 0;
}

int conf_ini_parse_file(const char *path, ini_handler h, void *arg, struct fg_errors *errs)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *section = NULL;
	size_t cap = 0;
	int lineno = 0;

	if (!f) {
		conf_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	section = strdup("");
	if (!section) {
		conf_errors_add(errs, path, 0, "out of memory");
		fclose(f);
		return -1;
	}
	while (getline(&buf, &cap, f) != -1) {
		char *s = buf;
		lineno++;
		if (lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
			s += 3; /* UTF-8 BOM written by some editors */
		s = conf_ini_ltrim(s);
		conf_ini_rtrim(s);
		if (!*s || *s == '#' || *s == ';')
			continue;
		conf_ini_line(s, path, lineno, &section, h, arg, errs);
	}
	if (ferror(f))
		conf_errors_add(errs, path, lineno, "read error: %s", strerror(errno));
	free(buf);
	free(section);
	fclose(f);
	return 0;
}
