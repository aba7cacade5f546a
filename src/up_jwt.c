/* up_jwt.c: the ES256 client assertion of docs/tokens.md, reading a token's exp,
 * and base64url.
 *
 * Owns loading the service-account private key (refusing anything that is
 * not an unencrypted EC P-256 key in a file only its owner can read) and
 * turning OpenSSL's DER ECDSA signature into the raw 64-byte r||s that JWS
 * requires. It must never put key material, a token or an assertion into
 * an error text, and never log.
 */
#define _GNU_SOURCE
#include "fleetgate.h"
#include "up_jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* ---- base64url ---------------------------------------------------------- */

static const char jwt_b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *up_jwt_b64url(const unsigned char *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	size_t o = 0, i = 0;
	if (!out)
		return NULL;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = jwt_b64_alpha[v >> 18 & 63];
		out[o++] = jwt_b64_alpha[v >> 12 & 63];
		out[o++] = jwt_b64_alpha[v >> 6 & 63];
		out[o++] = jwt_b64_alpha[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
		out[o++] = jwt_b64_alpha[v >> 18 & 63];
		out[o++] = jwt_b64_alpha[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = jwt_b64_alpha[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static int up_jwt_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

unsigned char *up_jwt_b64url_decode(const char *in, size_t len, size_t *outlen)
{
	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return NULL;   /* a lone sextet cannot end a byte */
	unsigned char *out = malloc(len / 4 * 3 + 3);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int v = up_jwt_b64_value(in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (outlen)
		*outlen = o;
	return out;
}

/* ---- the private key ---------------------------------------------------- */

/* An encrypted key would make PEM_read_PrivateKey prompt on the terminal of
 * a daemon; answering "no passphrase" makes it fail instead. */
static int up_jwt_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static bool up_jwt_is_p256(EVP_PKEY *key)
{
	char group[64];
	size_t len = 0;
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return false;
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len))
		return false;
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

EVP_PKEY *up_jwt_load_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	FILE *f = NULL;
	struct stat st;
	/* fstat on the opened file, so the mode checked is the file read */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read private key: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: private key is not a regular file", path);
		goto done;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: private key is group/world-readable (chmod 600)", path);
		goto done;
	}
	if (!(f = fdopen(fd, "r"))) {
		snprintf(err, errlen, "%s: cannot read private key: %s", path, strerror(errno));
		goto done;
	}
	fd = -1;
	key = PEM_read_PrivateKey(f, NULL, up_jwt_no_passphrase, NULL);
	if (!key) {
		/* OpenSSL's reason text is generic, never the key's bytes, but
		 * the queue is cleared rather than reported to be sure. */
		snprintf(err, errlen, "%s: not an unencrypted PEM private key", path);
		goto done;
	}
	if (!up_jwt_is_p256(key)) {
		snprintf(err, errlen, "%s: private key must be EC P-256 (prime256v1) for ES256", path);
		EVP_PKEY_free(key);
		key = NULL;
		goto done;
	}
done:
	ERR_clear_error();
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	return key;
}

/* ---- signing ------------------------------------------------------------ */

/* A version 4 UUID from 16 random bytes: unique per assertion, as jti
 * must be so the token endpoint can refuse a replay. */
static int up_jwt_uuid(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
		 b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* b64url(JSON) of OBJ; takes the reference. */
static char *up_jwt_b64_json(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *out = text ? up_jwt_b64url((unsigned char *)text, strlen(text)) : NULL;
	free(text);
	json_decref(obj);
	return out;
}

/* Signs INPUT with SHA-256 and writes the JWS form r||s (each 32 bytes,
 * big-endian, left-padded) to RAW. */
static int up_jwt_sign_raw(EVP_PKEY *key, const char *input, unsigned char raw[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];   /* 72 bytes at most for P-256 */
	size_t derlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	int rc = -1;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
		goto done;
	const unsigned char *p = der;
	if (!(sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)))
		goto done;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		goto done;
	rc = 0;
done:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

char *up_jwt_es256_assertion(EVP_PKEY *key, const char *key_id, const char *aud,
			  time_t now, char *err, size_t errlen)
{
	char jti[37], *head = NULL, *body = NULL, *input = NULL, *sig = NULL, *out = NULL;
	unsigned char raw[64];
	if (!key || !key_id || !aud) {
		snprintf(err, errlen, "client assertion needs a private key, key_id and audience");
		return NULL;
	}
	if (up_jwt_uuid(jti) < 0) {
		snprintf(err, errlen, "client assertion: no random bytes for jti");
		goto done;
	}
	head = up_jwt_b64_json(json_pack("{s:s,s:s}", "alg", "ES256", "typ", "JWT"));
	body = up_jwt_b64_json(json_pack("{s:s,s:s,s:I,s:s,s:i}", "iss", key_id, "aud", aud,
				      "iat", (json_int_t)now, "jti", jti, "ver", 2));
	if (!head || !body || asprintf(&input, "%s.%s", head, body) < 0) {
		input = NULL;
		snprintf(err, errlen, "client assertion: out of memory");
		goto done;
	}
	if (up_jwt_sign_raw(key, input, raw) < 0) {
		snprintf(err, errlen, "client assertion: signing with the private key failed");
		goto done;
	}
	if (!(sig = up_jwt_b64url(raw, sizeof(raw))) || asprintf(&out, "%s.%s", input, sig) < 0) {
		out = NULL;
		snprintf(err, errlen, "client assertion: out of memory");
	}
done:
	ERR_clear_error();
	OPENSSL_cleanse(raw, sizeof(raw));
	free(head);
	free(body);
	free(input);
	free(sig);
	return out;
}

/* ---- reading exp -------------------------------------------------------- */

int up_jwt_peek_exp(const char *token, size_t len, long long *exp)
{
	const char *dot1 = token ? memchr(token, '.', len) : NULL;
	if (!dot1)
		return -1;
	const char *rest = dot1 + 1;
	const char *dot2 = memchr(rest, '.', len - (size_t)(rest - token));
	if (!dot2 || dot1 == token)
		return -1;
	size_t plen;
	unsigned char *payload = up_jwt_b64url_decode(rest, (size_t)(dot2 - rest), &plen);
	if (!payload)
		return -1;
	json_t *claims = json_loadb((const char *)payload, plen, 0, NULL);
	OPENSSL_cleanse(payload, plen);
	free(payload);
	json_t *jexp = json_object_get(claims, "exp");
	int rc = -1;
	if (json_is_integer(jexp)) {
		*exp = (long long)json_integer_value(jexp);
		rc = 0;
	} else if (json_is_real(jexp) && json_real_value(jexp) > -9e18 &&
		   json_real_value(jexp) < 9e18) {
		*exp = (long long)json_real_value(jexp);
		rc = 0;
	}
	json_decref(claims);
	return rc;
}
