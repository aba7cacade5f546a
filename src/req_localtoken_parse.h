/* req_localtoken_parse.h: a local token request as the client sends it
 * (docs/http.md, "Local access tokens"): the form or JSON body and HTTP
 * Basic client authentication, decoded into one struct. */
#ifndef FG_REQ_LOCALTOKEN_PARSE_H
#define FG_REQ_LOCALTOKEN_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include "req_attr.h"

struct localtoken_req {
	char *grant_type, *client_id, *secret;   /* from the body */
	size_t secret_len;
	bool basic;                        /* Authorization: Basic was sent */
	/* Basic: client id and secret as sent [0] and form-urlencoded-decoded [1] */
	char *basic_id[2], *basic_secret[2];
	size_t basic_secret_len[2];
	struct fg_attribution by;          /* authenticated: what the token carries */
};
void req_localtoken_parse_free(struct localtoken_req *q);

/* Reads `Authorization: Basic base64(id ":" secret)` (base64 or
 * base64url, padded or not) into Q, each part raw and form-decoded (a
 * decoded form holding a NUL is the raw one again). 0, or -1: not a
 * Basic value fleetgate can read (Q->basic is set either way). */
int req_localtoken_parse_basic(const char *authorization, struct localtoken_req *q);

/* A base64 digit's value (0..63), or -1; URL_ONLY: base64url's alphabet
 * alone (a sealed token), else either alphabet (HTTP Basic). */
int req_localtoken_parse_b64digit(int ch, bool url_only);

/* BODY/LEN with Content-Type CTYPE (may be NULL) into Q: JSON when its
 * media type says so (or +json), form-encoded when it says that, either
 * by the look of the body without one. 0; -1 malformed or a parameter
 * repeated or holding a NUL; -2 another media type (415). */
int req_localtoken_parse_body(const char *ctype, const unsigned char *body, size_t len, struct localtoken_req *q);
#endif
