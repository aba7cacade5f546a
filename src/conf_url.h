/* conf_url.h: checks an upstream URL the way libcurl will read it. */
#ifndef FG_CONF_URL_H
#define FG_CONF_URL_H
#include <stddef.h>

/* 0 when TEXT is an http:// or https:// URL that libcurl's URL API
 * accepts, with a host and a port in 1..65535; -1 with ERR saying what is
 * wrong otherwise. Catches at -t what would otherwise be retried for ever
 * as a "transient" failure (a port of 99999, a space in the host). */
int conf_url_check(const char *text, char *err, size_t errlen);
#endif
