/* fuzz_token.c: the token endpoint's answer (up_token_parse_answer in
 * src/up_token.c) and reading a JWT's exp (up_jwt_peek_exp, base64url in
 * src/up_jwt.c).
 *
 * The first byte picks what the rest is: (0) the endpoint's whole answer;
 * (1) a JWT payload, sent base64url-encoded as the access_token of an
 * answer, so the fuzzer works on the claims' JSON directly; (2) a token or
 * base64url text. Asserts: an accepted answer gives a non-empty token of at
 * most 8192 bytes and a positive, finite lifetime no longer than
 * expires_in, or exactly the 1 s floor when expires_in is below it (the
 * clamp docs/tokens.md describes); a refused one an error that never holds the token;
 * up_jwt_peek_exp agrees with jansson on the payload's integer exp; base64url
 * decoding and encoding round-trip. */
#include "fuzz.h"
#include <math.h>
#include <jansson.h>
#include "up_jwt.h"
#include "conf_secret.h"
#include "up_token.h"

static void check_answer(const char *body, size_t len)
{
	struct fg_secret tok = {0};
	double lifetime = -1;
	char err[256] = "";
	int rc = up_token_parse_answer(body, len, &tok, &lifetime, err, sizeof err);

	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *at = json_object_get(o, "access_token");
	json_t *ei = json_object_get(o, "expires_in");
	if (rc == 0) {
		FUZZ_ASSERT(!conf_secret_empty(&tok) && tok.len <= 8192);
		FUZZ_ASSERT(json_is_string(at) && tok.len == json_string_length(at));
		FUZZ_ASSERT(memcmp(conf_secret_data(&tok), json_string_value(at), tok.len) == 0);
		FUZZ_ASSERT(isfinite(lifetime) && lifetime > 0);
		FUZZ_ASSERT(json_is_number(ei));
		FUZZ_ASSERT(lifetime <= json_number_value(ei) ||
			    (lifetime == 1.0 && json_number_value(ei) < 1.0));
	} else {
		FUZZ_ASSERT(rc == -1 && conf_secret_empty(&tok) && err[0]);
		/* The messages hold no digit, so a token with one must not show. */
		if (json_is_string(at) && json_string_length(at) > 0 &&
		    strpbrk(json_string_value(at), "0123456789"))
			FUZZ_ASSERT(!strstr(err, json_string_value(at)));
	}
	json_decref(o);
	conf_secret_wipe(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0:
		check_answer(in, len);
		break;
	case 1: {
		char *payload = up_jwt_b64url((const unsigned char *)in, len);
		FUZZ_ASSERT(payload);
		size_t tlen = strlen(payload) + 64;
		char *token = malloc(tlen);
		snprintf(token, tlen, "eyJhbGciOiJFUzI1NiJ9.%s.c2ln", payload);
		long long exp = 0;
		int rc = up_jwt_peek_exp(token, strlen(token), &exp);
		json_t *claims = json_loadb(in, len, 0, NULL);
		json_t *jexp = json_object_get(claims, "exp");
		if (json_is_integer(jexp))
			FUZZ_ASSERT(rc == 0 && exp == json_integer_value(jexp));
		else if (!json_is_real(jexp))
			FUZZ_ASSERT(rc == -1);
		json_decref(claims);

		json_t *ans = json_pack("{s:s, s:i}", "access_token", token, "expires_in", 300);
		char *body = json_dumps(ans, JSON_COMPACT);
		check_answer(body, strlen(body));
		free(body);
		json_decref(ans);
		free(token);
		free(payload);
		break;
	}
	default: {
		long long exp;
		int rc = up_jwt_peek_exp(in, len, &exp);
		FUZZ_ASSERT(rc == 0 || rc == -1);
		size_t n;
		unsigned char *raw = up_jwt_b64url_decode(in, len, &n);
		if (raw) {
			char *enc = up_jwt_b64url(raw, n);
			size_t n2;
			unsigned char *raw2 = enc ? up_jwt_b64url_decode(enc, strlen(enc), &n2) : NULL;
			FUZZ_ASSERT(raw2 && n2 == n && memcmp(raw, raw2, n) == 0);
			free(raw2);
			free(enc);
			free(raw);
		}
		break;
	}
	}
	return 0;
}
