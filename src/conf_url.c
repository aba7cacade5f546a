/* conf_url.c: upstream URLs checked with libcurl's own URL parser (curl_url),
 * so a URL that passes -t is one curl will use as written. Pure: no
 * fleetgate module, no logging, no shared state. */
#include "conf_url.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int conf_url_check(const char *text, char *err, size_t errlen)
{
	int rc = -1;
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLU *u = curl_url();
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Without CURLU_NON_SUPPORT_SCHEME curl refuses schemes it was not
	 * built with; the scheme is checked below in plain words anyway. */
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, text, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		if (uc == CURLUE_BAD_PORT_NUMBER)
			snprintf(err, errlen, "URL \"%s\" has a bad port (1 to 65535)", text);
		else if (uc == CURLUE_NO_HOST)
			snprintf(err, errlen, "URL \"%s\" has no host name", text);
		else
			snprintf(err, errlen, "URL \"%s\" cannot be parsed: %s", text, curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		snprintf(err, errlen, "URL \"%s\" must start with http:// or https://", text);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		snprintf(err, errlen, "URL \"%s\" has no host name", text);
		goto out;
	}
	/* curl takes "host:0" and any five digits; connect() would not. */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		long p = strtol(port, NULL, 10);
		if (p < 1 || p > 65535) {
			snprintf(err, errlen, "URL \"%s\" has a bad port (1 to 65535)", text);
			goto out;
		}
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}
