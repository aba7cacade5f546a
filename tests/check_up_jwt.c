/* check_up_jwt.c: ES256 client assertions verified independently of up_jwt.c
 * (split, decode, check the JSON, rebuild DER from r||s, EVP_DigestVerify),
 * key loading refusals, base64url and up_jwt_peek_exp. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "fleetgate.h"
#include "up_jwt.h"
#include "conf_secret.h"
#include "up_token.h"
#include <time.h>

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_jwt.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static EVP_PKEY *gen_ec(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Writes KEY as PEM to NAME with MODE; returns the path (static). */
static const char *write_key(EVP_PKEY *key, const char *name, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static json_t *decode_part(const char *p, size_t len)
{
	size_t n;
	unsigned char *raw = up_jwt_b64url_decode(p, len, &n);
	ck_assert_ptr_nonnull(raw);
	json_t *j = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* Verifies JWS with PUB the way a token endpoint would. */
static void verify_jws(const char *jws, EVP_PKEY *pub, const char *kid, const char *aud, time_t now)
{
	const char *d1 = strchr(jws, '.');
	ck_assert_ptr_nonnull(d1);
	const char *d2 = strchr(d1 + 1, '.');
	ck_assert_ptr_nonnull(d2);
	ck_assert_ptr_null(strchr(d2 + 1, '.'));
	ck_assert_ptr_null(strchr(jws, '='));   /* no padding anywhere */

	json_t *h = decode_part(jws, (size_t)(d1 - jws));
	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES256");
	ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
	ck_assert_uint_eq(json_object_size(h), 2);
	json_decref(h);

	json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), kid);
	ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), aud);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), (json_int_t)now);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "ver")), 2);
	ck_assert(json_is_integer(json_object_get(c, "ver")));
	const char *jti = json_string_value(json_object_get(c, "jti"));
	ck_assert_ptr_nonnull(jti);
	ck_assert_uint_ge(strlen(jti), 16);
	json_decref(c);

	size_t siglen;
	unsigned char *sig = up_jwt_b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
	ck_assert_ptr_nonnull(sig);
	ck_assert_uint_eq(siglen, 64);   /* raw r||s, not DER */

	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	ck_assert_int_eq(ECDSA_SIG_set0(es, r, s), 1);
	unsigned char *der = NULL;
	int derlen = i2d_ECDSA_SIG(es, &der);
	ck_assert_int_gt(derlen, 0);

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)jws,
					  (size_t)(d2 - jws)), 1);
	/* and a changed payload does not verify */
	char *tampered = strdup(jws);
	tampered[d1 - jws + 3] ^= 1;
	EVP_MD_CTX_reset(ctx);
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_ne(EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)tampered,
					  (size_t)(d2 - jws)), 1);
	free(tampered);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	free(sig);
}

static char *jti_of(const char *jws)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	char *jti = strdup(json_string_value(json_object_get(c, "jti")));
	json_decref(c);
	return jti;
}

START_TEST(assertion_verifies)
{
	EVP_PKEY *gen = gen_ec("P-256");
	char err[FG_ERR_LEN] = "";
	EVP_PKEY *key = up_jwt_load_key(write_key(gen, "sa.pem", 0600), err, sizeof(err));
	ck_assert_msg(key != NULL, "%s", err);
	time_t now = 1700000000;
	const char *kid = "5e3cc349-1c6f-4975-aeaa-9d319086190b";
	const char *aud = "https://sandbox.api.high-mobility.com/v1";
	/* many signatures: r or s with leading zero bytes must still be 32 */
	char *prev = NULL;
	for (int i = 0; i < 64; i++) {
		char *jws = up_jwt_es256_assertion(key, kid, aud, now, err, sizeof(err));
		ck_assert_msg(jws != NULL, "%s", err);
		verify_jws(jws, gen, kid, aud, now);
		char *jti = jti_of(jws);
		if (prev)
			ck_assert_str_ne(jti, prev);   /* a fresh jti every time */
		free(prev);
		prev = jti;
		free(jws);
	}
	free(prev);
	EVP_PKEY_free(key);
	EVP_PKEY_free(gen);
}
END_TEST

START_TEST(assertion_needs_inputs)
{
	char err[FG_ERR_LEN];
	ck_assert_ptr_null(up_jwt_es256_assertion(NULL, "k", "a", 0, err, sizeof(err)));
	ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(load_refuses_other_curves_and_rsa)
{
	char err[FG_ERR_LEN];
	EVP_PKEY *p384 = gen_ec("P-384");
	ck_assert_ptr_null(up_jwt_load_key(write_key(p384, "p384.pem", 0600), err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "P-256"));
	EVP_PKEY_free(p384);

	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(rsa);
	ck_assert_ptr_null(up_jwt_load_key(write_key(rsa, "rsa.pem", 0600), err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "P-256"));
	EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(load_refuses_readable_file)
{
	char err[FG_ERR_LEN];
	EVP_PKEY *k = gen_ec("P-256");
	const char *p = write_key(k, "open.pem", 0640);
	ck_assert_ptr_null(up_jwt_load_key(p, err, sizeof(err)));
	char want[512];
	snprintf(want, sizeof(want), "%s: private key is group/world-readable (chmod 600)", p);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(up_jwt_load_key(write_key(k, "world.pem", 0604), err, sizeof(err)));
	EVP_PKEY *ok = up_jwt_load_key(write_key(k, "ok.pem", 0400), err, sizeof(err));
	ck_assert_msg(ok != NULL, "%s", err);   /* owner-only read is fine */
	EVP_PKEY_free(ok);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(load_refuses_junk_missing_encrypted)
{
	char err[FG_ERR_LEN], path[256];
	snprintf(path, sizeof(path), "%s/junk.pem", tmpdir);
	FILE *f = fopen(path, "w");
	fputs("-----BEGIN PRIVATE KEY-----\nTUlTU0lOR0tFWU1BVEVSSUFM\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	chmod(path, 0600);
	ck_assert_ptr_null(up_jwt_load_key(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not an unencrypted PEM private key"));
	ck_assert_ptr_null(strstr(err, "TUlTU0lOR0tF"));   /* no key material in errors */

	snprintf(path, sizeof(path), "%s/none.pem", tmpdir);
	ck_assert_ptr_null(up_jwt_load_key(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));

	/* an encrypted key fails instead of prompting for a passphrase */
	EVP_PKEY *k = gen_ec("P-256");
	snprintf(path, sizeof(path), "%s/enc.pem", tmpdir);
	f = fopen(path, "w");
	ck_assert_int_eq(PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(), (unsigned char *)"pw", 2, NULL, NULL), 1);
	fclose(f);
	chmod(path, 0600);
	ck_assert_ptr_null(up_jwt_load_key(path, err, sizeof(err)));
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(b64url_round_trip)
{
	const unsigned char in[] = { 0xfb, 0xff, 0xfe, 0x00, 0x01, 0x3e, 0x3f };
	for (size_t n = 0; n <= sizeof(in); n++) {
		char *e = up_jwt_b64url(in, n);
		ck_assert_ptr_nonnull(e);
		ck_assert_ptr_null(strpbrk(e, "+/="));
		size_t m;
		unsigned char *d = up_jwt_b64url_decode(e, strlen(e), &m);
		ck_assert_ptr_nonnull(d);
		ck_assert_uint_eq(m, n);
		ck_assert(memcmp(d, in, n) == 0);
		free(d);
		free(e);
	}
	char *e = up_jwt_b64url((const unsigned char *)"\xfb\xff", 2);
	ck_assert_str_eq(e, "-_8");
	free(e);
	size_t m;
	unsigned char *d = up_jwt_b64url_decode("-_8=", 4, &m);   /* padding accepted */
	ck_assert_uint_eq(m, 2);
	free(d);
	ck_assert_ptr_null(up_jwt_b64url_decode("ab+c", 4, &m));
	ck_assert_ptr_null(up_jwt_b64url_decode("abcde", 5, &m));
}
END_TEST

static char *make_token(const char *payload)
{
	char *p = up_jwt_b64url((const unsigned char *)payload, strlen(payload)), *t = NULL;
	ck_assert_int_gt(asprintf(&t, "eyJhbGciOiJFUzI1NiJ9.%s.c2ln", p), 0);
	free(p);
	return t;
}

START_TEST(peek_exp)
{
	long long exp = 0;
	char *t = make_token("{\"sub\":\"x\",\"exp\":1700000600}");
	ck_assert_int_eq(up_jwt_peek_exp(t, strlen(t), &exp), 0);
	ck_assert_int_eq(exp, 1700000600LL);
	free(t);
	t = make_token("{\"exp\":1700000600.5}");
	ck_assert_int_eq(up_jwt_peek_exp(t, strlen(t), &exp), 0);
	ck_assert_int_eq(exp, 1700000600LL);
	free(t);
	t = make_token("{\"exp\":\"soon\"}");
	ck_assert_int_eq(up_jwt_peek_exp(t, strlen(t), &exp), -1);
	free(t);
	t = make_token("[1]");
	ck_assert_int_eq(up_jwt_peek_exp(t, strlen(t), &exp), -1);
	free(t);
	const char *opaque = "8f1c0a7e-opaque-token";
	ck_assert_int_eq(up_jwt_peek_exp(opaque, strlen(opaque), &exp), -1);
	ck_assert_int_eq(up_jwt_peek_exp("a.b", 3, &exp), -1);
	ck_assert_int_eq(up_jwt_peek_exp("a.!!!.c", 7, &exp), -1);
	/* LEN bounds the token: the second dot lies beyond it */
	t = make_token("{\"exp\":5}");
	ck_assert_int_eq(up_jwt_peek_exp(t, (size_t)(strrchr(t, '.') - t), &exp), -1);
	free(t);
}
END_TEST

/* A JWT's exp cuts the lifetime when earlier than expires_in; an
 * expires_in under a second is raised to the 1 s floor (docs/tokens.md)
 * whether or not the token is a JWT; an exp under a second away refuses
 * the token. */
START_TEST(answer_lifetime_with_exp)
{
	char body[512], err[128];
	double life = 0;
	struct fg_secret tok = {0};
	char *t = make_token("{\"exp\":99999999999}");
	snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":0.5}", t);
	ck_assert_int_eq(up_token_parse_answer(body, strlen(body), &tok, &life, err, sizeof err), 0);
	ck_assert(life == 1.0);
	conf_secret_wipe(&tok);
	free(t);
	char payload[64];
	snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)time(NULL) + 100);
	t = make_token(payload);
	snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":3600}", t);
	ck_assert_int_eq(up_token_parse_answer(body, strlen(body), &tok, &life, err, sizeof err), 0);
	ck_assert(life > 90 && life <= 100);
	conf_secret_wipe(&tok);
	free(t);
	t = make_token("{\"exp\":1}");
	snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":3600}", t);
	ck_assert_int_eq(up_token_parse_answer(body, strlen(body), &tok, &life, err, sizeof err), -1);
	ck_assert_str_eq(err, "the token's exp is past or less than a second away");
	ck_assert(conf_secret_empty(&tok));
	free(t);
}
END_TEST

static Suite *jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);   /* RSA key generation under sanitizers */
	tcase_add_test(tc, assertion_verifies);
	tcase_add_test(tc, assertion_needs_inputs);
	tcase_add_test(tc, load_refuses_other_curves_and_rsa);
	tcase_add_test(tc, load_refuses_readable_file);
	tcase_add_test(tc, load_refuses_junk_missing_encrypted);
	suite_add_tcase(s, tc);
	tc = tcase_create("encoding");
	tcase_add_test(tc, b64url_round_trip);
	tcase_add_test(tc, peek_exp);
	tcase_add_test(tc, answer_lifetime_with_exp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(jwt_suite());
}
