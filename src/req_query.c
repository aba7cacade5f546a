/* req_query.c: the query string of a tenant request, read strictly.
 *
 * The upstream acts on whatever query it is sent, so fleetgate forwards
 * none it has not checked: on the list route a single `filter`, parsed as
 * a JSON object (duplicate keys refused: parsers disagree on which one
 * wins), and sent upstream as it was parsed — the same normalized text the
 * list cache is keyed on. Every other parameter on any route is 400
 * rather than dropped, so a client never believes a parameter it sent
 * was acted on. A malformed query is 400 here, before attribution, so it
 * never reaches the upstream or spends a budget slot.
 *
 * Pure functions of their arguments (jansson for the filter); never logs. */
#include "req_query.h"
#include <stdbool.h>
#include "conf_parse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

/* Form decoding of IN (LEN bytes) into OUT (room for LEN + 1): %XX and
 * '+' for space. Returns the decoded length, or -1 on a malformed or NUL
 * escape. */
static long req_query_decode(const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi = i + 1 < len ? conf_parse_hexdigit(in[i + 1]) : -1;
			int lo = hi >= 0 && i + 2 < len ? conf_parse_hexdigit(in[i + 2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return (long)n;
}

/* The filter's value V (N bytes, decoded) as normalized JSON, or 400. */
static int req_query_filter(const char *v, size_t n, char **filter, char *detail, size_t detaillen)
{
	json_error_t je;
	json_t *j = json_loadb(v, n, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(detail, detaillen, "the filter query parameter is not valid JSON: %s", je.text);
		return 400;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(detail, detaillen, "the filter query parameter must be a JSON object");
		return 400;
	}
	*filter = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!*filter) {
		snprintf(detail, detaillen, "out of memory");
		return 500;
	}
	return 0;
}

int req_query_parse(enum fg_route route, const char *query, char **filter, char *detail, size_t detaillen)
{
	*filter = NULL;
	if (detaillen)
		detail[0] = '\0';
	/* The local token endpoint reads its parameters from the body only
	 * (RFC 6749); a query there is ignored, never forwarded anywhere. */
	if (!query || !*query || route == FG_R_LOCAL_TOKEN)
		return 0;
	size_t qlen = strlen(query);
	char *buf = malloc(qlen + 1);
	if (!buf) {
		snprintf(detail, detaillen, "out of memory");
		return 500;
	}
	int status = 0;
	for (const char *p = query; *p && !status;) {
		size_t plen = strcspn(p, "&");
		const char *eq = memchr(p, '=', plen);
		size_t nlen = eq ? (size_t)(eq - p) : plen;
		long dn = req_query_decode(p, nlen, buf);
		if (plen == 0) {
			/* "a&&b", a trailing '&': nothing to act on */
		} else if (dn < 0) {
			snprintf(detail, detaillen, "the query has a malformed percent-encoding");
			status = 400;
		} else if (route != FG_R_LIST || strcmp(buf, "filter") != 0) {
			snprintf(detail, detaillen, "query parameters are not accepted here: only filter, "
				 "on GET /v1/fleets/vehicles, is forwarded");
			status = 400;
		} else if (*filter) {
			snprintf(detail, detaillen, "the query holds more than one filter");
			status = 400;
		} else if (!eq) {
			snprintf(detail, detaillen, "the filter query parameter has no value");
			status = 400;
		} else if ((dn = req_query_decode(eq + 1, plen - nlen - 1, buf)) < 0) {
			snprintf(detail, detaillen, "the query has a malformed percent-encoding");
			status = 400;
		} else {
			status = req_query_filter(buf, (size_t)dn, filter, detail, detaillen);
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	free(buf);
	if (status) {
		free(*filter);
		*filter = NULL;
	}
	return status;
}

char *req_query_upstream(const char *filter)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(filter);
	char *out = malloc(sizeof "filter=" + 3 * n);
	if (!out)
		return NULL;
	char *p = out + snprintf(out, sizeof "filter=", "filter=");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)filter[i];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '-' || c == '.' || c == '_' || c == '~';
		if (plain) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}
