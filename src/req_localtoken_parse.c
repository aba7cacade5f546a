/* req_localtoken_parse.c: the one decoder of a local token request
 * (docs/http.md, "Local access tokens"): form (length-aware, so a %00
 * cannot cut a value), JSON (jansson, strings only), and HTTP Basic
 * (base64 or base64url, each part raw and form-decoded). A fuzz target
 * beside it: tests/fuzz/fuzz_localtoken.c.
 *
 * Never: keep a secret unwiped, or decide who the client is. */
#include "req_localtoken_parse.h"
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static void lt_free_secret(char *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

void req_localtoken_parse_free(struct localtoken_req *q)
{
	lt_free_secret(q->secret, q->secret_len);
	for (int i = 0; i < 2; i++) {
		lt_free_secret(q->basic_secret[i], q->basic_secret_len[i]);
		lt_free_secret(q->basic_id[i], q->basic_id[i] ? strlen(q->basic_id[i]) : 0);
	}
	free(q->grant_type);
	free(q->client_id);
	OPENSSL_cleanse(q, sizeof *q);
}

/* Takes NAME = VALUE into Q when it is one of the three; a second one of
 * the same name is refused (which would the client mean?). */
static int lt_param(struct localtoken_req *q, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char **slot = nlen == 10 && memcmp(name, "grant_type", 10) == 0 ? &q->grant_type
		    : nlen == 9 && memcmp(name, "client_id", 9) == 0 ? &q->client_id
		    : nlen == 13 && memcmp(name, "client_secret", 13) == 0 ? &q->secret : NULL;
	if (!slot)
		return 0;   /* scope, audience...: not ours to check */
	if (*slot || !(*slot = malloc(vlen + 1)))
		return -1;
	memcpy(*slot, value, vlen);
	(*slot)[vlen] = '\0';
	if (slot == &q->secret)
		q->secret_len = vlen;
	return 0;
}

static int lt_parse_json(const unsigned char *body, size_t len, struct localtoken_req *q)
{
	json_error_t je;
	/* Without JSON_ALLOW_NUL, a \u0000 in a string refuses the body. */
	json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je), *v;
	const char *k;
	int rc = json_is_object(j) ? 0 : -1;
	if (rc == 0) {
		json_object_foreach(j, k, v) {
			bool ours = !strcmp(k, "grant_type") || !strcmp(k, "client_id") || !strcmp(k, "client_secret");
			if (ours && (!json_is_string(v) ||
				     lt_param(q, k, strlen(k), json_string_value(v), json_string_length(v)) < 0))
				rc = -1;
			if (ours && json_is_string(v) && !strcmp(k, "client_secret"))
				OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
		}
	}
	json_decref(j);
	return rc;
}

static int lt_hex(int ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	     : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* S/N form-urlencoded-decoded ('+' is a space, %XX a byte; a '%' not
 * followed by two hex digits stays, as libevent reads it) into OUT
 * (room for N + 1), NUL-terminated. The decoded length, or -1 when it
 * holds a NUL (%00): a C string would cut there, so it is no value. */
static ssize_t lt_form_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n && (hi = lt_hex((unsigned char)s[i + 1])) >= 0 &&
			 (lo = lt_hex((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
		if (out[o - 1] == '\0') {
			OPENSSL_cleanse(out, o);
			return -1;
		}
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* name=value pairs joined by '&', each decoded: a pair without '=' or an
 * empty one, or a value holding %00, refuses the body. */
static int lt_parse_form(const unsigned char *body, size_t len, struct localtoken_req *q)
{
	char *s = malloc(len + 1), *buf = malloc(len + 1);
	int rc = s && buf && !memchr(body, '\0', len) ? 0 : -1;
	if (rc == 0) {
		memcpy(s, body, len);
		s[len] = '\0';
	}
	for (size_t i = 0; rc == 0 && i < len;) {
		size_t end = i + strcspn(s + i, "&");
		char *eq = memchr(s + i, '=', end - i);
		if (!eq || eq == s + i) {
			rc = -1;
			break;
		}
		/* The name decoded whole (however long its encoding, as
		 * %63%6C%69%65%6E%74_secret), kept when it may be ours; one
		 * holding a NUL is none of ours. */
		char name[16];
		size_t rawn = (size_t)(eq - (s + i)), rawv = (size_t)(s + end - eq - 1);
		ssize_t nn = lt_form_decode(s + i, rawn, buf);
		if (nn >= 0 && (size_t)nn < sizeof name)
			memcpy(name, buf, (size_t)nn + 1);
		else
			nn = -1;
		OPENSSL_cleanse(buf, rawn + 1);
		ssize_t vn = lt_form_decode(eq + 1, rawv, buf);
		if (vn < 0 || (nn >= 0 && lt_param(q, name, (size_t)nn, buf, (size_t)vn) < 0))
			rc = -1;
		/* What this pair wrote only: wiping the whole buffer per pair
		 * made a body of many short pairs cost its length squared. */
		OPENSSL_cleanse(buf, rawv + 1);
		i = end + 1;
	}
	if (s)
		OPENSSL_cleanse(s, len);
	free(s);
	free(buf);
	return rc;
}

int req_localtoken_parse_b64digit(int ch, bool url_only)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-' || (!url_only && ch == '+'))
		return 62;
	return ch == '_' || (!url_only && ch == '/') ? 63 : -1;
}

int req_localtoken_parse_basic(const char *authorization, struct localtoken_req *q)
{
	q->basic = true;
	size_t n = strlen(authorization), i = 0;
	while (i < n && (authorization[i] == ' ' || authorization[i] == '\t'))
		i++;
	while (n > i && (authorization[n - 1] == ' ' || authorization[n - 1] == '\t'))
		n--;
	if (n - i < 6 || strncasecmp(authorization + i, "Basic", 5) != 0 ||
	    (authorization[i + 5] != ' ' && authorization[i + 5] != '\t'))
		return -1;
	i += 5;
	while (i < n && (authorization[i] == ' ' || authorization[i] == '\t'))
		i++;
	const char *b = authorization + i;
	size_t bn = n - i, pad = 0;
	while (bn && b[bn - 1] == '=' && pad < 2) {
		bn--;
		pad++;
	}
	/* base64 or base64url (either alphabet), padded right or not at all */
	if (bn == 0 || bn % 4 == 1 || (pad && (bn + pad) % 4 != 0))
		return -1;
	unsigned char *raw = malloc(bn);
	if (!raw)
		return -1;
	uint32_t acc = 0;
	int bits = 0, rc = 0;
	size_t o = 0;
	for (size_t k = 0; k < bn && rc == 0; k++) {
		int v = req_localtoken_parse_b64digit((unsigned char)b[k], false);   /* either alphabet */
		if (v < 0) {
			rc = -1;
			break;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (unsigned char)(acc >> bits);
		}
	}
	unsigned char *colon = rc == 0 ? memchr(raw, ':', o) : NULL;
	/* "id:secret": the id is not empty; neither part holds a NUL */
	if (!colon || colon == raw || memchr(raw, '\0', o))
		rc = -1;
	if (rc == 0) {
		size_t idn = (size_t)(colon - raw), sn = o - idn - 1;
		for (int f = 0; f < 2 && rc == 0; f++) {
			q->basic_id[f] = malloc(idn + 1);
			q->basic_secret[f] = malloc(sn + 1);
			if (!q->basic_id[f] || !q->basic_secret[f]) {
				rc = -1;
				break;
			}
			ssize_t di = f ? lt_form_decode((const char *)raw, idn, q->basic_id[f]) : -1;
			ssize_t ds = f ? lt_form_decode((const char *)colon + 1, sn, q->basic_secret[f]) : -1;
			if (di < 0) {   /* as sent (also when its decoded form would hold a NUL) */
				memcpy(q->basic_id[f], raw, idn);
				q->basic_id[f][idn] = '\0';
			}
			if (ds < 0) {
				memcpy(q->basic_secret[f], colon + 1, sn);
				q->basic_secret[f][sn] = '\0';
			}
			q->basic_secret_len[f] = ds < 0 ? sn : (size_t)ds;
		}
	}
	OPENSSL_cleanse(raw, bn);
	free(raw);
	return rc;
}

/* Whether CT's media type (parameters and blanks aside) is NAME, or with
 * SUFFIX, ends in "+json" after a name of its own (application/x+json). */
static bool lt_media_is(const char *ct, size_t n, const char *name, bool suffix)
{
	size_t nn = strlen(name);
	if (n == nn && strncasecmp(ct, name, nn) == 0)
		return true;
	static const char app[] = "application/";
	size_t an = sizeof app - 1;
	return suffix && n > an + 5 && strncasecmp(ct, app, an) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0 &&
	       strcspn(ct + an, "/ \t") >= n - an;
}

/* JSON when its Content-Type says so, form-encoded when it says that (as
 * OAuth clients send by default), either by the look of the body without
 * one; any other media type (application/jsonx, text/plain) is 415: -2.
 * Malformed or repeated parameters: -1. */
int req_localtoken_parse_body(const char *ctype, const unsigned char *body, size_t len, struct localtoken_req *q)
{
	bool json;
	const char *ct = ctype ? ctype + strspn(ctype, " \t") : "";
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n && lt_media_is(ct, n, "application/json", true))
		json = true;
	else if (n && lt_media_is(ct, n, "application/x-www-form-urlencoded", false))
		json = false;
	else if (n)
		return -2;
	else {
		size_t i = 0;
		while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
			i++;
		json = i < len && body[i] == '{';
	}
	return json ? lt_parse_json(body, len, q) : lt_parse_form(body, len, q);
}
