/* up_jwt.h: ES256 client assertions (docs/tokens.md) and reading a token's exp.
 * Signing uses OpenSSL; the JWS signature is the raw 64-byte r||s, not the
 * DER that ECDSA_do_sign / EVP_DigestSign produce. */
#ifndef FG_UP_JWT_H
#define FG_UP_JWT_H
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>

/* Loads a PEM private key; refuses a key that is not EC P-256, a file that
 * cannot be read, or one that is group/world-readable. */
EVP_PKEY *up_jwt_load_key(const char *path, char *err, size_t errlen);

/* Compact JWS over {"alg":"ES256","typ":"JWT"} and claims iss=KEY_ID,
 * aud=AUD, iat=NOW, random jti, ver=2. Returns malloc'd text or NULL. */
char *up_jwt_es256_assertion(EVP_PKEY *key, const char *key_id, const char *aud,
			  time_t now, char *err, size_t errlen);

/* When TOKEN looks like a JWT whose payload has a numeric "exp", stores it
 * and returns 0; otherwise -1. The signature is not checked. */
int up_jwt_peek_exp(const char *token, size_t len, long long *exp);

/* base64url without padding; returns malloc'd text. */
char *up_jwt_b64url(const unsigned char *in, size_t len);
/* Decodes base64url (padding optional); returns malloc'd bytes or NULL. */
unsigned char *up_jwt_b64url_decode(const char *in, size_t len, size_t *outlen);
#endif
