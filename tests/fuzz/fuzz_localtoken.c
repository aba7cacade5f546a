#define _GNU_SOURCE
/* fuzz_localtoken.c: the decoders of the local token endpoint
 * (src/req_localtoken.c; docs/http.md, "Local access tokens"), each
 * against a plain model of what docs/http.md says it accepts.
 *
 * The first byte picks what the rest is:
 * (0) an Authorization value for req_localtoken_parse_basic (HTTP Basic: base64
 *     or base64url, padded or not, of id ":" secret), then the body step
 *     with it and a body of just grant_type;
 * (1) a byte choosing the Content-Type (form, JSON, none, other) and the
 *     Authorization (none, a Basic one, a Bearer one, or the rest up to
 *     its first NUL), then the body for req_localtoken_read;
 * (2) text for req_localtoken_unseal against a fixed pair of keys (and
 *     req_localtoken_lookup_at with it);
 * (3) claims for req_localtoken_seal (key, kind, expiry, fingerprint, the
 *     byte to change and where, tenant name), sealed and unsealed again.
 *
 * Asserts besides memory safety and UB:
 * - Basic is accepted exactly when the model decodes id:secret (an id not
 *   empty, no NUL); the parts as sent equal the model's, the decoded
 *   parts are the form-decoding or, when that holds a NUL, the part as
 *   sent; every part is NUL-free (its length is its strlen) and together
 *   no longer than the base64 allows; an accepted value is one
 *   req_attr_is_basic calls Basic (else the body step never reads it).
 * - The body step answers exactly the model's status and OAuth error:
 *   401 invalid_client for an unreadable Basic value, 400 invalid_request
 *   (body neither form nor a JSON object of strings, a parameter twice,
 *   %00 or \u0000, credentials both in Basic and in the body, grant_type
 *   missing), 400 unsupported_grant_type, else 0 with grant_type
 *   client_credentials and exactly the model's client_id and secret.
 *   Every answer has Cache-Control: no-store and Pragma: no-cache, a 401
 *   to a Basic client WWW-Authenticate: Basic. A refusal's body is
 *   {"error", "error_description"} only.
 * - No client secret (from the body, or Basic's as sent or decoded)
 *   appears in the error body or in a log line: checked when the secret
 *   holds a byte that the fixed messages and timestamps never use.
 * - Unseal: only LOCALTOKEN_SEALED_LEN characters can open; a refusal
 *   leaves the claims zeroed; opened claims have a kind of the four a
 *   token carries (listener, certificate, key, source), a
 *   NUL-free name of 1..64 characters and a whole expiry; a token of the
 *   store's length finds nothing (this process issues none).
 * - Seal accepts exactly the claims unseal can give back (a name of
 *   1..64, one of the four kinds, never NONE or TOKEN, an expiry in
 *   [0, 2^64)); its token is
 *   163 base64url characters, unseals under either configured key (not
 *   under a key that is not configured) to the same claims, the expiry
 *   in whole seconds; two seals differ (the nonce); any one byte changed,
 *   the token cut by one or extended by one fails to unseal. */
#include "fuzz.h"
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/sha.h>
#include "conf.h"
#include "req_localtoken.h"
#include "req_policy.h"
#include "tenant.h"

#define KID_CUR 0xA1
#define KID_PREV 0xB2
#define WALL 1700000000.0

static struct fg_config cfg;
static struct fg_tenant ops;
static struct fg_tenant *tenants[1] = { &ops };
static unsigned char ops_keys[1][32];
static unsigned char stray_key[32];   /* configured nowhere */

static void setup(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	static char ops_name[] = "ops";
	ops.name = ops_name;
	SHA256((const unsigned char *)"k-ops", 5, ops_keys[0]);
	ops.keys = ops_keys;
	ops.nkeys = 1;
	cfg.tenants = tenants;
	cfg.ntenants = 1;
	cfg.local_token_ttl = 3600;
	cfg.max_body_bytes = 1 << 20;
	memset(cfg.local_token_keys[0], 0x11, 32);
	memset(cfg.local_token_keys[1], 0x22, 32);
	memset(stray_key, 0x33, 32);
	cfg.local_token_kids[0] = KID_CUR;
	cfg.local_token_kids[1] = KID_PREV;
	cfg.local_token_nkeys = 2;
}

/* ---- what the log and the answers may hold ---- */

static FILE *cap_saved, *cap_mem;
static char *cap_text;
static size_t cap_len;

/* Log lines go to stderr: catch them for the secret check. */
static void capture_begin(void)
{
	cap_text = NULL;
	cap_len = 0;
	cap_mem = open_memstream(&cap_text, &cap_len);
	FUZZ_ASSERT(cap_mem);
	cap_saved = stderr;
	stderr = cap_mem;
}

static void capture_end(void)
{
	stderr = cap_saved;
	fclose(cap_mem);
}

/* Whether S holds a byte none of the endpoint's fixed texts (the OAuth
 * errors, the log lines and their timestamps) use: such a secret cannot
 * appear in them by chance, so finding it there is a leak. */
static bool unusual(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && !strchr(" _:,.'\"{}()-+/<>\n", ch))
			return true;
	}
	return false;
}

static void assert_secret_absent(const char *secret, size_t n, const char *text)
{
	if (secret && n && unusual(secret, n) && text)
		FUZZ_ASSERT(!memmem(text, strlen(text), secret, n));
}

/* ---- the models ---- */

static int m_hex(unsigned char c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* application/x-www-form-urlencoded decoding as libevent does it ('+' a
 * space, %XX a byte, any other '%' itself); -1 when it holds a NUL. */
static ssize_t m_unform(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] == '%' && n - i >= 3 && m_hex((unsigned char)s[i + 1]) >= 0 && m_hex((unsigned char)s[i + 2]) >= 0) {
			out[o++] = (char)(m_hex((unsigned char)s[i + 1]) * 16 + m_hex((unsigned char)s[i + 2]));
			i += 3;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
			i++;
		}
	}
	out[o] = '\0';
	return memchr(out, '\0', o) ? -1 : (ssize_t)o;
}

static bool m_blank(char c) { return c == ' ' || c == '\t'; }

static int m_b64(unsigned char c)
{
	static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p = c ? strchr(std, c) : NULL;
	if (p)
		return (int)(p - std);
	p = c ? strchr(url, c) : NULL;
	return p ? (int)(p - url) : -1;
}

struct m_basic {
	bool is_basic;    /* of the Basic scheme: the body step reads it */
	int rc;
	char *id, *secret;   /* as sent, when rc is 0 */
	size_t idn, secn;
};

/* docs/http.md: Basic, blanks, then base64 or base64url (padded right or
 * not at all) of id ":" secret, the id not empty, no NUL anywhere. */
static void m_basic(const char *a, struct m_basic *m)
{
	memset(m, 0, sizeof *m);
	m->rc = -1;
	size_t n = strlen(a), i = 0;
	while (i < n && m_blank(a[i]))
		i++;
	while (n > i && m_blank(a[n - 1]))
		n--;
	m->is_basic = n - i >= 5 && strncasecmp(a + i, "Basic", 5) == 0 && (n - i == 5 || m_blank(a[i + 5]));
	if (!m->is_basic || n - i == 5)
		return;
	for (i += 5; i < n && m_blank(a[i]); i++)
		;
	const char *b = a + i;
	size_t len = n - i, pad = 0;
	while (pad < 2 && len && b[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len == 0 || len % 4 == 1 || (pad && (len + pad) % 4 != 0))
		return;
	unsigned char *raw = malloc(len);
	size_t o = 0;
	for (size_t g = 0; g < len; g += 4) {
		size_t k = len - g < 4 ? len - g : 4;
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = j < k ? m_b64((unsigned char)b[g + j]) : 0;
			if (d < 0) {
				free(raw);
				return;
			}
			v = v << 6 | (uint32_t)d;
		}
		for (size_t j = 0; j + 1 < k; j++)
			raw[o++] = (unsigned char)(v >> (16 - 8 * j));
	}
	unsigned char *colon = memchr(raw, ':', o);
	if (colon && colon != raw && !memchr(raw, '\0', o)) {
		m->rc = 0;
		m->idn = (size_t)(colon - raw);
		m->secn = o - m->idn - 1;
		m->id = fuzz_strndup(raw, m->idn);
		m->secret = fuzz_strndup(colon + 1, m->secn);
	}
	free(raw);
}

/* A part form-decoded, or as sent when that would hold a NUL. */
static char *m_decoded(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	if (m_unform(s, n, out) < 0) {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return out;
}

static void m_basic_free(struct m_basic *m)
{
	free(m->id);
	free(m->secret);
}

enum { P_GRANT, P_ID, P_SECRET };
static const char *const params[] = { "grant_type", "client_id", "client_secret" };

struct m_body {
	char *v[3];
	size_t n[3];
};

static int m_set(struct m_body *m, const char *name, const char *v, size_t n)
{
	for (int k = 0; k < 3; k++)
		if (strcmp(name, params[k]) == 0) {
			if (m->v[k])
				return -1;   /* each parameter once */
			m->v[k] = fuzz_strndup((const uint8_t *)v, n);
			m->n[k] = n;
		}
	return 0;
}

/* name=value pairs joined by '&' (a trailing '&' ends the list), both
 * sides form-decoded; a pair without '=' or with an empty name, a raw
 * NUL or a value decoding to one refuses the body. */
static int m_form(const uint8_t *b, size_t n, struct m_body *m)
{
	if (memchr(b, '\0', n))
		return -1;
	const char *s = (const char *)b;
	char *name = malloc(n + 1), *val = malloc(n + 1);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		const char *amp = memchr(s + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - s) : n;
		const char *eq = memchr(s + i, '=', end - i);
		if (!eq || eq == s + i) {
			rc = -1;
			break;
		}
		ssize_t nn = m_unform(s + i, (size_t)(eq - s - i), name);
		ssize_t vn = m_unform(eq + 1, end - (size_t)(eq + 1 - s), val);
		if (vn < 0 || (nn >= 0 && m_set(m, name, val, (size_t)vn) < 0))
			rc = -1;
		i = end + 1;
	}
	free(name);
	free(val);
	return rc;
}

/* A JSON object whose grant_type, client_id and client_secret (those
 * present) are strings without \u0000, no member twice. */
static int m_json(const uint8_t *b, size_t n, struct m_body *m)
{
	json_t *j = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, NULL);
	int rc = json_is_object(j) ? 0 : -1;
	for (int k = 0; k < 3 && rc == 0; k++) {
		json_t *v = json_object_get(j, params[k]);
		if (v && !json_is_string(v))
			rc = -1;
		else if (v) {
			FUZZ_ASSERT(strlen(json_string_value(v)) == json_string_length(v));
			m_set(m, params[k], json_string_value(v), json_string_length(v));
		}
	}
	json_decref(j);
	return rc;
}

static const char *const ctypes[] = {
	"application/x-www-form-urlencoded", "application/json", "application/json; charset=utf-8",
	"Application/X-WWW-Form-Urlencoded;charset=UTF-8", NULL, "text/plain",
};

/* JSON when the Content-Type says so, form when it says so, else JSON
 * exactly when the first non-blank byte is '{'. */
static bool m_is_json(int ct, const uint8_t *b, size_t n)
{
	if (ct == 1 || ct == 2)
		return true;
	if (ct == 0 || ct == 3)
		return false;
	size_t i = 0;
	while (i < n && strchr(" \t\r\n", b[i]) && b[i])
		i++;
	return i < n && b[i] == '{';
}

/* ---- (0) and (1): Basic and the body step ---- */

static void check_basic(const char *value)
{
	struct localtoken_req q = {0};
	struct m_basic m;
	m_basic(value, &m);
	int rc = req_localtoken_parse_basic(value, &q);
	FUZZ_ASSERT(q.basic);
	FUZZ_ASSERT(rc == m.rc);
	FUZZ_ASSERT(req_attr_is_basic(value) == m.is_basic);
	if (rc == 0) {
		FUZZ_ASSERT(m.is_basic);
		char *dec[2] = { m_decoded(m.id, m.idn), m_decoded(m.secret, m.secn) };
		for (int f = 0; f < 2; f++) {
			FUZZ_ASSERT(q.basic_id[f] && q.basic_secret[f]);
			FUZZ_ASSERT(q.basic_id[f][0] != '\0');
			FUZZ_ASSERT(strlen(q.basic_secret[f]) == q.basic_secret_len[f]);
			FUZZ_ASSERT(strlen(q.basic_id[f]) + 1 + q.basic_secret_len[f] <= strlen(value) * 3 / 4);
		}
		FUZZ_ASSERT(strcmp(q.basic_id[0], m.id) == 0 && strcmp(q.basic_secret[0], m.secret) == 0);
		FUZZ_ASSERT(q.basic_secret_len[0] == m.secn);
		FUZZ_ASSERT(strcmp(q.basic_id[1], dec[0]) == 0 && strcmp(q.basic_secret[1], dec[1]) == 0);
		free(dec[0]);
		free(dec[1]);
	}
	req_localtoken_parse_free(&q);
	m_basic_free(&m);
}

static void check_read(const char *auth, int ct, const uint8_t *body, size_t len)
{
	/* The model's answer. */
	struct m_basic mb;
	struct m_body m = {0};
	int mst = 0;
	const char *merr = NULL;
	char *dec_id = NULL, *dec_secret = NULL;
	if (auth)
		m_basic(auth, &mb);
	else
		memset(&mb, 0, sizeof mb);
	if (mb.rc == 0) {
		dec_id = m_decoded(mb.id, mb.idn);
		dec_secret = m_decoded(mb.secret, mb.secn);
	}
	bool basic_ok = mb.is_basic && mb.rc == 0;
	if (mb.is_basic && mb.rc < 0) {
		mst = 401;
		merr = "invalid_client";
	} else if (ctypes[ct] && strcmp(ctypes[ct], "text/plain") == 0) {
		mst = 415;   /* a media type neither form nor JSON */
		merr = "invalid_request";
	} else if ((m_is_json(ct, body, len) ? m_json(body, len, &m) : m_form(body, len, &m)) < 0) {
		mst = 400;
		merr = "invalid_request";
	} else if (basic_ok && (m.v[P_SECRET] || (m.v[P_ID] && strcmp(m.v[P_ID], mb.id) != 0 &&
						  strcmp(m.v[P_ID], dec_id) != 0))) {
		mst = 400;
		merr = "invalid_request";
	} else if (!m.v[P_GRANT]) {
		mst = 400;
		merr = "invalid_request";
	} else if (strcmp(m.v[P_GRANT], "client_credentials") != 0) {
		mst = 400;
		merr = "unsupported_grant_type";
	}

	/* The code's. */
	struct localtoken_req q = {0};
	struct evbuffer *out = evbuffer_new();
	unsigned char *copy = malloc(len ? len : 1);   /* exactly LEN: ASan sees a read past it */
	memcpy(copy, body, len);
	capture_begin();
	int st = req_localtoken_read(&q, auth, ctypes[ct], copy, len, out);
	capture_end();
	free(copy);
	FUZZ_ASSERT(st == mst);
	FUZZ_ASSERT(q.basic == mb.is_basic);
	size_t n = evbuffer_get_length(out);
	char *text = calloc(1, n + 1);
	evbuffer_remove(out, text, n);
	if (st == 0) {
		FUZZ_ASSERT(n == 0);
		FUZZ_ASSERT(q.grant_type && strcmp(q.grant_type, "client_credentials") == 0);
		FUZZ_ASSERT(!q.client_id == !m.v[P_ID] && (!q.client_id || strcmp(q.client_id, m.v[P_ID]) == 0));
		FUZZ_ASSERT(!q.secret == !m.v[P_SECRET]);
		if (q.secret) {
			FUZZ_ASSERT(q.secret_len == m.n[P_SECRET] && strlen(q.secret) == q.secret_len);
			FUZZ_ASSERT(memcmp(q.secret, m.v[P_SECRET], q.secret_len) == 0);
			FUZZ_ASSERT(q.secret_len <= len && !q.basic);
		}
		if (q.client_id)
			FUZZ_ASSERT(strlen(q.client_id) <= len);
	} else {
		json_t *j = json_loads(text, 0, NULL);
		FUZZ_ASSERT(json_is_object(j) && json_object_size(j) == 2);
		FUZZ_ASSERT(json_is_string(json_object_get(j, "error_description")));
		const char *e = json_string_value(json_object_get(j, "error"));
		FUZZ_ASSERT(e && strcmp(e, merr) == 0);
		json_decref(j);
	}
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	req_localtoken_headers(&q, st ? st : 200, &h);
	const char *cc = evhttp_find_header(&h, "Cache-Control"), *pr = evhttp_find_header(&h, "Pragma");
	const char *wa = evhttp_find_header(&h, "WWW-Authenticate");
	FUZZ_ASSERT(cc && strcmp(cc, "no-store") == 0 && pr && strcmp(pr, "no-cache") == 0);
	FUZZ_ASSERT(!wa == !(st == 401 && mb.is_basic));
	evhttp_clear_headers(&h);

	/* No secret the client sent in the answer or the log. */
	const char *secrets[] = { m.v[P_SECRET], mb.secret, dec_secret, q.secret };
	size_t slen[] = { m.n[P_SECRET], mb.secn, dec_secret ? strlen(dec_secret) : 0, q.secret_len };
	for (int i = 0; i < 4; i++) {
		assert_secret_absent(secrets[i], slen[i], text);
		assert_secret_absent(secrets[i], slen[i], cap_text);
	}
	free(cap_text);
	free(text);
	evbuffer_free(out);
	req_localtoken_parse_free(&q);
	for (int k = 0; k < 3; k++)
		free(m.v[k]);
	free(dec_id);
	free(dec_secret);
	m_basic_free(&mb);
}

/* ---- (2) and (3): sealed tokens ---- */

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static bool b64url_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* The model's kinds a token may carry (docs/http.md): what attributed the
 * client, never "none" or "by a local token". */
static bool sealed_kind(enum fg_attr_by by)
{
	return by == FG_BY_LISTENER || by == FG_BY_CERT || by == FG_BY_KEY || by == FG_BY_SOURCE;
}

static void check_unseal(const uint8_t *in, size_t len)
{
	char *tok = malloc(len ? len : 1);   /* not terminated: only LEN is read */
	memcpy(tok, in, len);
	struct localtoken_claims cl;
	memset(&cl, 0x5A, sizeof cl);
	int rc = req_localtoken_unseal(&cfg, tok, len, &cl);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc < 0) {
		FUZZ_ASSERT(zeroed(&cl, sizeof cl));
	} else {
		FUZZ_ASSERT(len == LOCALTOKEN_SEALED_LEN && b64url_text(tok, len));
		FUZZ_ASSERT(sealed_kind(cl.by.by));
		size_t nl = strnlen(cl.tenant, sizeof cl.tenant);
		FUZZ_ASSERT(nl >= 1 && nl <= 64);
		FUZZ_ASSERT(cl.expires >= 0 && cl.expires == floor(cl.expires) && cl.expires < 18446744073709551616.0);
	}
	const struct fg_tenant *t = req_localtoken_lookup_at(&cfg, tok, len, 0, WALL);
	if (len == LOCALTOKEN_LEN)
		FUZZ_ASSERT(!t);   /* nothing was issued to the store */
	if (t)
		FUZZ_ASSERT(rc == 0 && t == &ops && strcmp(cl.tenant, "ops") == 0 && cl.expires > WALL &&
			    cl.expires <= WALL + cfg.local_token_ttl + LOCALTOKEN_SKEW);
	free(tok);
}

static int unseal_copy(const char *tok, size_t len, struct localtoken_claims *cl)
{
	char *t = malloc(len ? len : 1);
	memcpy(t, tok, len);
	int rc = req_localtoken_unseal(&cfg, t, len, cl);
	free(t);
	return rc;
}

/* Layout: key (0 current, 1 previous, 2 a key not configured, with the
 * current one's id), kind, expiry form (odd: an integer of the next 8
 * bytes; even: their bits as a double), 8 bytes of expiry, 18 of
 * fingerprint, 2 of the position and 1 of the byte to change, then the
 * tenant name (up to 65 bytes, NUL-terminated when shorter). */
#define RT_HEAD (3 + 8 + FG_ATTR_FP_LEN + 3)
static void check_roundtrip(const uint8_t *in, size_t len)
{
	uint8_t h[RT_HEAD] = {0};
	memcpy(h, in, len < RT_HEAD ? len : RT_HEAD);
	const uint8_t *name = len > RT_HEAD ? in + RT_HEAD : NULL;
	size_t namelen = len > RT_HEAD ? len - RT_HEAD : 0;

	struct localtoken_claims cl;
	memset(&cl, 0, sizeof cl);
	int which = h[0] % 3;
	const unsigned char *key = which == 2 ? stray_key : cfg.local_token_keys[which];
	unsigned char kid = which == 1 ? KID_PREV : KID_CUR;
	cl.by.by = (enum fg_attr_by)(h[1] % 8);   /* the six kinds and two past them */
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | h[3 + i];
	if (h[2] & 1)
		cl.expires = (double)u;
	else
		memcpy(&cl.expires, &u, sizeof cl.expires);
	memcpy(cl.by.fp, h + 11, FG_ATTR_FP_LEN);
	memcpy(cl.tenant, name ? (const char *)name : "", namelen < sizeof cl.tenant ? namelen : sizeof cl.tenant);
	size_t nl = strnlen(cl.tenant, sizeof cl.tenant);
	bool valid = nl >= 1 && nl <= 64 && sealed_kind(cl.by.by) &&
		     cl.expires >= 0 && cl.expires < 18446744073709551616.0;

	char tok[LOCALTOKEN_SEALED_LEN + 1], tok2[LOCALTOKEN_SEALED_LEN + 1];
	int rc = req_localtoken_seal(key, kid, &cl, tok);
	FUZZ_ASSERT(rc == (valid ? 0 : -1));
	if (rc < 0)
		return;
	FUZZ_ASSERT(strlen(tok) == LOCALTOKEN_SEALED_LEN && b64url_text(tok, LOCALTOKEN_SEALED_LEN));
	struct localtoken_claims back;
	rc = unseal_copy(tok, LOCALTOKEN_SEALED_LEN, &back);
	if (which == 2) {
		FUZZ_ASSERT(rc == -1 && zeroed(&back, sizeof back));
		return;
	}
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(memcmp(back.tenant, cl.tenant, nl) == 0 && back.tenant[nl] == '\0');
	FUZZ_ASSERT(back.by.by == cl.by.by && memcmp(back.by.fp, cl.by.fp, FG_ATTR_FP_LEN) == 0);
	FUZZ_ASSERT(back.expires == trunc(cl.expires));

	/* A fresh nonce: another token, the same claims. */
	FUZZ_ASSERT(req_localtoken_seal(key, kid, &cl, tok2) == 0);
	FUZZ_ASSERT(strcmp(tok, tok2) != 0 && unseal_copy(tok2, LOCALTOKEN_SEALED_LEN, &back) == 0);

	/* One byte changed, anywhere, to anything: refused. */
	size_t pos = ((size_t)h[29] << 8 | h[30]) % LOCALTOKEN_SEALED_LEN;
	memcpy(tok2, tok, sizeof tok2);
	tok2[pos] = (char)(h[31] != (uint8_t)tok[pos] ? h[31] : h[31] ^ 1);
	FUZZ_ASSERT(unseal_copy(tok2, LOCALTOKEN_SEALED_LEN, &back) == -1 && zeroed(&back, sizeof back));
	FUZZ_ASSERT(unseal_copy(tok, LOCALTOKEN_SEALED_LEN - 1, &back) == -1);
	char longer[LOCALTOKEN_SEALED_LEN + 1];
	memcpy(longer, tok, LOCALTOKEN_SEALED_LEN);
	longer[LOCALTOKEN_SEALED_LEN] = 'A';
	FUZZ_ASSERT(unseal_copy(longer, LOCALTOKEN_SEALED_LEN + 1, &back) == -1);

	/* Looked up: only ever its own tenant, and only within its life. */
	const struct fg_tenant *t = req_localtoken_lookup_at(&cfg, tok, LOCALTOKEN_SEALED_LEN, 0, trunc(cl.expires) - 1);
	if (t)
		FUZZ_ASSERT(t == &ops && strcmp(cl.tenant, "ops") == 0);
	FUZZ_ASSERT(!req_localtoken_lookup_at(&cfg, tok, LOCALTOKEN_SEALED_LEN, 0, trunc(cl.expires)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	setup();
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	switch (data[0] % 4) {
	case 0: {
		char *v = fuzz_strndup(in, len);   /* a header value ends at a NUL */
		check_basic(v);
		check_read(v, 0, (const uint8_t *)"grant_type=client_credentials", 29);
		free(v);
		break;
	}
	case 1: {
		if (len < 1)
			return 0;
		int ct = (in[0] & 15) % 6, a = (in[0] >> 4) % 4;
		const uint8_t *body = in + 1;
		size_t blen = len - 1;
		char *auth = NULL;
		if (a == 1)
			auth = strdup("Basic b3BzOnMzY3JldCE=");   /* ops:s3cret! */
		else if (a == 2)
			auth = strdup("Bearer k-ops");
		else if (a == 3) {
			const uint8_t *nul = memchr(body, '\0', blen);
			size_t an = nul ? (size_t)(nul - body) : blen;
			auth = fuzz_strndup(body, an);
			body += nul ? an + 1 : an;
			blen -= nul ? an + 1 : an;
		}
		check_read(auth, ct, body, blen);
		free(auth);
		break;
	}
	case 2:
		check_unseal(in, len);
		break;
	default:
		check_roundtrip(in, len);
		break;
	}
	return 0;
}
