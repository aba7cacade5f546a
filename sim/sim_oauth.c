/* sim_oauth.c: the simulated OAuth2 token endpoint (hm-oauth-rest-v1.yml):
 * client_credentials with a client secret or an ES256 client assertion
 * (docs/tokens.md), the store of issued access tokens with their monotonic
 * expiry, and the base64url helpers both need.
 *
 * Tokens are opaque UUIDs, or with --jwt-tokens JWT-shaped strings whose
 * payload carries "exp" (the signature is random bytes: fleetgate only reads
 * exp, it never verifies a token it did not issue). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define SIM_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define SIM_IAT_SKEW_S 300

/* ---- base64url ---------------------------------------------------------- */

static const char sim_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *sim_b64url(const unsigned char *in, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;
	unsigned v;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*o++ = sim_b64[v >> 18 & 63];
		*o++ = sim_b64[v >> 12 & 63];
		*o++ = sim_b64[v >> 6 & 63];
		*o++ = sim_b64[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned)in[i] << 16;
		*o++ = sim_b64[v >> 18 & 63];
		*o++ = sim_b64[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		*o++ = sim_b64[v >> 18 & 63];
		*o++ = sim_b64[v >> 12 & 63];
		*o++ = sim_b64[v >> 6 & 63];
	}
	*o = 0;
	return out;
}

static int sim_b64_val(char ch)
{
	const char *p = ch ? strchr(sim_b64, ch) : NULL;

	return p ? (int)(p - sim_b64) : -1;
}

/* Decodes base64url, padding optional; NULL on a bad character. */
unsigned char *sim_b64url_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char *out;
	unsigned acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	while (len && in[len - 1] == '=')
		len--;
	out = malloc(len * 3 / 4 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		v = sim_b64_val(in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	*outlen = n;
	return out;
}

/* A random UUID (version 4), malloc'd. */
char *sim_random_id(void)
{
	unsigned char b[16];
	char *s = malloc(37);

	if (!s)
		return NULL;
	RAND_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		b[10], b[11], b[12], b[13], b[14], b[15]);
	return s;
}

/* ---- token store -------------------------------------------------------- */

int sim_token_check(struct evhttp_request *req, const char **why)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req),
					   "Authorization");
	json_t *exp;

	if (!h) {
		*why = "Missing authorization header";
		return 0;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		*why = "Invalid authorization header";
		return 0;
	}
	for (h += 7; *h == ' '; h++)
		;
	exp = json_object_get(sim_g.tokens, h);
	if (!exp) {
		*why = "Unknown or revoked access token";
		return 0;
	}
	if (sim_now_ms() >= json_integer_value(exp)) {
		*why = "Expired access token";
		return 0;
	}
	return 1;
}

void sim_tokens_revoke(void)
{
	json_object_clear(sim_g.tokens);
}

/* Expired tokens answer 401 "unknown" once pruned; that is what upstream
 * does with tokens it no longer knows, and it bounds the store. */
static void sim_tokens_prune(int64_t now)
{
	const char *k;
	json_t *v, *tmp;

	json_object_foreach_safe(sim_g.tokens, tmp, k, v)
		if (json_integer_value(v) + SIM_WINDOW_MS < now)
			json_object_del(sim_g.tokens, k);
}

static char *sim_b64url_json(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT), *out;

	if (!text)
		return NULL;
	out = sim_b64url((const unsigned char *)text, strlen(text));
	free(text);
	return out;
}

/* Seconds a token is accepted: a JWT's exp may be set shorter than the
 * expires_in we announce (--jwt-lifetime), to test that the gateway
 * believes the earlier of the two. */
static long sim_token_validity(void)
{
	if (sim_g.cfg.jwt_tokens && sim_g.cfg.jwt_lifetime > 0 &&
	    sim_g.cfg.jwt_lifetime < sim_g.cfg.token_lifetime)
		return sim_g.cfg.jwt_lifetime;
	return sim_g.cfg.token_lifetime;
}

static char *sim_jwt_token(void)
{
	time_t now = time(NULL);
	unsigned char sig[64];
	char *jti = sim_random_id(), *h, *p, *s, *out = NULL;
	json_t *hdr = json_pack("{s:s,s:s}", "alg", "ES256", "typ", "JWT");
	json_t *pl = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:i}",
		"exp", (json_int_t)(now + sim_token_validity()), "iat", (json_int_t)now,
		"iss", "fleetgate-sim", "scope", "fleet:clearance",
		"sub", sim_g.cfg.client_id, "jti", jti ? jti : "", "ver", 1);
	size_t n;

	RAND_bytes(sig, sizeof(sig));
	h = sim_b64url_json(hdr);
	p = sim_b64url_json(pl);
	s = sim_b64url(sig, sizeof(sig));
	if (h && p && s) {
		n = strlen(h) + strlen(p) + strlen(s) + 3;
		out = malloc(n);
		if (out)
			snprintf(out, n, "%s.%s.%s", h, p, s);
	}
	free(h);
	free(p);
	free(s);
	free(jti);
	json_decref(hdr);
	json_decref(pl);
	return out;
}

static void sim_token_issue(struct sim_reply *r)
{
	int64_t now = sim_now_ms();
	char *tok = sim_g.cfg.jwt_tokens ? sim_jwt_token() : sim_random_id();

	if (!tok) {
		sim_reply_json(r, 500, json_pack("{s:s}", "error", "server_error"));
		return;
	}
	sim_tokens_prune(now);
	json_object_set_new(sim_g.tokens, tok,
		json_integer(now + sim_token_validity() * 1000));
	sim_g.stats.tokens_issued++;
	sim_reply_json(r, 200, json_pack("{s:s,s:s,s:I,s:s}", "access_token", tok,
		"token_type", "bearer", "expires_in", (json_int_t)sim_g.cfg.token_lifetime,
		"scope", "fleet:clearance"));
	free(tok);
}

/* ---- client assertion (ES256) ----------------------------------------- */

EVP_PKEY *sim_load_public_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = NULL;
	X509 *x;
	char group[64] = "";

	if (!f)
		return NULL;
	/* A public key, the private key itself, or a certificate. */
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!k && !fseek(f, 0, SEEK_SET))
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!k && !fseek(f, 0, SEEK_SET) && (x = PEM_read_X509(f, NULL, NULL, NULL))) {
		k = X509_get_pubkey(x);
		X509_free(x);
	}
	fclose(f);
	if (k && (!EVP_PKEY_is_a(k, "EC") ||
		  !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
						  group, sizeof(group), NULL) ||
		  strcmp(group, "prime256v1") != 0)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

static json_t *sim_b64url_json_decode(const char *in, size_t len)
{
	size_t n;
	unsigned char *raw = sim_b64url_decode(in, len, &n);
	json_t *j = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;

	free(raw);
	return json_is_object(j) ? j : (json_decref(j), NULL);
}

/* JWS carries r||s (32 bytes each); OpenSSL verifies DER. */
static int sim_es256_verify(const char *input, size_t inlen,
			    const unsigned char *sig, size_t siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig, 32, NULL), *bs = BN_bin2bn(sig + 32, 32, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int derlen, ok = 0;

	if (siglen != 64 || !es || !br || !bs || !md || !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		goto out;
	}
	derlen = i2d_ECDSA_SIG(es, &der);
	ok = derlen > 0 &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, sim_g.cfg.public_key) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)derlen,
			      (const unsigned char *)input, inlen) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	return ok;
}

static int sim_aud_ok(json_t *aud)
{
	json_t *it;
	size_t i;

	if (!sim_g.cfg.audience)
		return 1;
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), sim_g.cfg.audience) == 0;
	json_array_foreach(aud, i, it)
		if (json_is_string(it) && !strcmp(json_string_value(it), sim_g.cfg.audience))
			return 1;
	return 0;
}

static const char *sim_claims_check(json_t *hdr, json_t *pl)
{
	json_t *iat = json_object_get(pl, "iat"), *exp = json_object_get(pl, "exp");
	const char *iss = json_string_value(json_object_get(pl, "iss"));
	long long now = (long long)time(NULL);

	if (!hdr || !pl)
		return "client_assertion is not a JWT";
	if (!json_is_string(json_object_get(hdr, "alg")) ||
	    strcmp(json_string_value(json_object_get(hdr, "alg")), "ES256"))
		return "client_assertion must be signed with ES256";
	if (!iss || strcmp(iss, sim_g.cfg.key_id))
		return "client_assertion iss is not a known key id";
	if (!sim_aud_ok(json_object_get(pl, "aud")))
		return "client_assertion aud is invalid";
	if (!json_is_integer(json_object_get(pl, "ver")) ||
	    json_integer_value(json_object_get(pl, "ver")) != 2)
		return "client_assertion ver must be 2";
	if (!json_is_number(iat) || json_number_value(iat) > now + SIM_IAT_SKEW_S ||
	    json_number_value(iat) < now - SIM_IAT_SKEW_S)
		return "client_assertion iat is missing or too far from now";
	if (exp && (!json_is_number(exp) || json_number_value(exp) < now))
		return "client_assertion is expired";
	return NULL;
}

/* NULL when JWT is a valid assertion, else why not. */
static const char *sim_assertion_check(const char *jwt)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_t *hdr = NULL, *pl = NULL;
	unsigned char *sig = NULL;
	const char *why;
	size_t siglen = 0;

	if (!sim_g.cfg.public_key)
		return "client_assertion is not accepted for this client";
	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return "client_assertion is not a JWT";
	hdr = sim_b64url_json_decode(jwt, (size_t)(d1 - jwt));
	pl = sim_b64url_json_decode(d1 + 1, (size_t)(d2 - d1 - 1));
	why = sim_claims_check(hdr, pl);
	if (!why) {
		sig = sim_b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
		if (!sig || !sim_es256_verify(jwt, (size_t)(d2 - jwt), sig, siglen))
			why = "client_assertion signature is invalid";
	}
	free(sig);
	json_decref(hdr);
	json_decref(pl);
	return why;
}

/* ---- the endpoint ------------------------------------------------------- */

static void sim_oauth_error(struct sim_reply *r, int status, const char *code,
			    const char *desc)
{
	sim_reply_json(r, status, json_pack("{s:s,s:s}", "error", code,
		"error_description", desc));
}

/* application/x-www-form-urlencoded into a JSON object of strings. */
static json_t *sim_form_params(const char *body)
{
	json_t *o = json_object();
	const char *p = body, *end, *eq;
	char *k, *v, *dk, *dv;

	while (*p) {
		end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			k = strndup(p, (size_t)(eq - p));
			v = strndup(eq + 1, (size_t)(end - eq - 1));
			dk = k ? evhttp_uridecode(k, 1, NULL) : NULL;
			dv = v ? evhttp_uridecode(v, 1, NULL) : NULL;
			if (dk && dv)
				json_object_set_new(o, dk, json_string(dv));
			free(k);
			free(v);
			free(dk);
			free(dv);
		}
		p = *end ? end + 1 : end;
	}
	return o;
}

static json_t *sim_token_params(struct sim_ctx *c, struct sim_reply *r)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(c->req),
					    "Content-Type");
	const char *b = c->body + strspn(c->body, " \t\r\n");
	json_t *j;

	/* A body that looks like JSON is JSON whatever it is labelled: curl -d
	 * labels everything as a form. */
	if (*b != '{' && ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33))
		return sim_form_params(c->body);
	j = json_loadb(c->body, c->body_len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		sim_oauth_error(r, 400, "invalid_request", "body must be a JSON object");
		return NULL;
	}
	return j;
}

static const char *sim_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Constant time, so the simulator does not teach bad habits. */
static int sim_secret_ok(const char *given)
{
	const char *want = sim_g.cfg.client_secret;
	size_t n = strlen(given);

	return want && n == strlen(want) && CRYPTO_memcmp(given, want, n) == 0;
}

/* Why the credentials in P are refused (with the status and OAuth error
 * code to answer), or NULL when a token may be issued. */
static const char *sim_grant_check(json_t *p, int *status, const char **code)
{
	const char *grant = sim_str(p, "grant_type"), *id = sim_str(p, "client_id");
	const char *secret = sim_str(p, "client_secret");
	const char *assertion = sim_str(p, "client_assertion");
	const char *atype = sim_str(p, "client_assertion_type");

	*status = 400;
	*code = "invalid_request";
	if (!grant)
		return "grant_type can't be blank";
	if (!id)
		return "client_id can't be blank";
	if (strcmp(grant, "client_credentials")) {
		*code = "unsupported_grant_type";
		return "only client_credentials is supported";
	}
	if (assertion && (!atype || strcmp(atype, SIM_ASSERTION_TYPE)))
		return "client_assertion_type is invalid";
	if (!assertion && !secret)
		return "client_secret can't be blank";
	*status = 401;
	*code = "invalid_client";
	if (strcmp(id, sim_g.cfg.client_id))
		return "client_id is invalid";
	if (assertion)
		return sim_assertion_check(assertion);
	return sim_secret_ok(secret) ? NULL : "client_secret is invalid";
}

static void sim_token_grant(json_t *p, struct sim_reply *r)
{
	const char *code, *why;
	int status;

	why = sim_grant_check(p, &status, &code);
	if (why)
		sim_oauth_error(r, status, code, why);
	else
		sim_token_issue(r);
}

/* DELETE /v1/access_tokens (RFC 7009): revokes one token. */
static void sim_token_revoke_one(json_t *p, struct sim_reply *r)
{
	const char *id = sim_str(p, "client_id"), *secret = sim_str(p, "client_secret");
	const char *tok = sim_str(p, "token");

	if (!id || !secret || !tok) {
		sim_oauth_error(r, 400, "invalid_request",
			"client_id, client_secret and token can't be blank");
	} else if (strcmp(id, sim_g.cfg.client_id) || !sim_secret_ok(secret)) {
		sim_oauth_error(r, 400, "invalid_request", "client is invalid");
	} else {
		json_object_del(sim_g.tokens, tok);
		sim_reply_json(r, 200, json_object());
	}
}

void sim_oauth_route(struct sim_ctx *c, struct sim_reply *r)
{
	json_t *p = sim_token_params(c, r);

	if (!p)
		return;
	if (evhttp_request_get_command(c->req) == EVHTTP_REQ_DELETE)
		sim_token_revoke_one(p, r);
	else
		sim_token_grant(p, r);
	json_decref(p);
}
