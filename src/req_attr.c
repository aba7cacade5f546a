/* req_attr.c: attribution records (docs/http.md, "Local access tokens"):
 * how a request was attributed, and fingerprints of what attributed it,
 * never the key or the certificate itself.
 *
 * Never: hold or compare a key in the clear. */
#include "req_attr.h"
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

const char *req_attr_name(enum fg_attr_by by)
{
	switch (by) {
	case FG_BY_LISTENER: return "listener";
	case FG_BY_CERT: return "cert";
	case FG_BY_KEY: return "key";
	case FG_BY_TOKEN: return "token";
	case FG_BY_SOURCE: return "source";
	case FG_BY_NONE: break;
	}
	return NULL;
}

bool req_attr_sealable(enum fg_attr_by by)
{
	return by == FG_BY_LISTENER || by == FG_BY_CERT || by == FG_BY_KEY || by == FG_BY_SOURCE;
}

void req_attr_by_keyhash(const unsigned char keyhash[32], struct fg_attribution *a)
{
	memset(a, 0, sizeof *a);
	a->by = FG_BY_KEY;
	memcpy(a->fp, keyhash, 16);
}

void req_attr_by_listener(const char *spec, struct fg_attribution *a)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	memset(a, 0, sizeof *a);
	a->by = FG_BY_LISTENER;
	SHA256((const unsigned char *)spec, strlen(spec), h);
	memcpy(a->fp, h, 16);
}

void req_attr_by_range(const struct fg_cidr *r, struct fg_attribution *a)
{
	memset(a, 0, sizeof *a);
	a->by = FG_BY_SOURCE;
	a->fp[0] = r->family == AF_INET6 ? 6 : 4;
	a->fp[1] = (unsigned char)r->bits;
	memcpy(a->fp + 2, r->addr, 16);
}

void req_attr_by_cert(const char *name, const unsigned char pin[32], struct fg_attribution *a)
{
	static const char tag_name[] = "fleetgate cert_names", tag_pin[] = "fleetgate cert_sha256";
	unsigned char h[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	memset(a, 0, sizeof *a);
	a->by = FG_BY_CERT;
	a->fp[16] = pin ? 2 : 1;
	bool ok = x && EVP_DigestInit_ex(x, EVP_sha256(), NULL) == 1 &&
		  (pin ? EVP_DigestUpdate(x, tag_pin, sizeof tag_pin) == 1 && EVP_DigestUpdate(x, pin, 32) == 1
		       : EVP_DigestUpdate(x, tag_name, sizeof tag_name) == 1 &&
			 EVP_DigestUpdate(x, name, strlen(name)) == 1) &&
		  EVP_DigestFinal_ex(x, h, NULL) == 1;
	EVP_MD_CTX_free(x);
	if (!ok) {
		a->by = FG_BY_NONE;   /* out of memory: attributes nothing, holds for nobody */
		return;
	}
	memcpy(a->fp, h, 16);
}

bool req_attr_holds(const struct fg_tenant *t, const struct fg_attribution *a)
{
	struct fg_attribution x;
	bool holds = false;
	if (!t)
		return false;
	switch (a->by) {
	case FG_BY_KEY:
		for (size_t k = 0; k < t->nkeys; k++)
			holds |= CRYPTO_memcmp(t->keys[k], a->fp, 16) == 0;
		break;
	case FG_BY_LISTENER:
		for (size_t j = 0; j < t->listen.n; j++) {
			req_attr_by_listener(t->listen.v[j].spec, &x);
			holds |= memcmp(x.fp, a->fp, sizeof x.fp) == 0;
		}
		break;
	case FG_BY_SOURCE:
		for (size_t j = 0; j < t->nsources; j++) {
			req_attr_by_range(&t->sources[j], &x);
			holds |= memcmp(x.fp, a->fp, sizeof x.fp) == 0;
		}
		break;
	case FG_BY_CERT:
		for (size_t j = 0; j < t->ncert_names; j++) {
			req_attr_by_cert(t->cert_names[j], NULL, &x);
			holds |= memcmp(x.fp, a->fp, sizeof x.fp) == 0;
		}
		for (size_t j = 0; j < t->ncert_pins; j++) {
			req_attr_by_cert(NULL, t->cert_pins[j], &x);
			holds |= memcmp(x.fp, a->fp, sizeof x.fp) == 0;
		}
		break;
	case FG_BY_NONE:
	case FG_BY_TOKEN:   /* never carried by a token */
		break;
	}
	return holds;
}

bool req_attr_is_basic(const char *authorization)
{
	const char *a = authorization;
	size_t n = strlen(a);
	while (n && (*a == ' ' || *a == '\t'))
		a++, n--;
	while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
		n--;
	return n >= 5 && strncasecmp(a, "Basic", 5) == 0 && (n == 5 || a[5] == ' ' || a[5] == '\t');
}
