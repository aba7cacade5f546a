/* conf_tls.c: a [tls] block's files, loaded and checked (docs/operations.md,
 * "TLS"). Every load runs the same checks, so `fleetgate -t`, start-up and
 * a reload refuse the same mistakes: a key that does not match its
 * certificate, a chain, CA or CRL file that does not parse, an expired
 * certificate, a private key every user may read.
 *
 * Never: print or log a private key or anything read from its file (errors
 * name the file); keep the key file's bytes (wiped once parsed); build an
 * SSL_CTX (http_tls.c does, from what is loaded here). */
#define _GNU_SOURCE
#include "conf_tls.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define TLS_KEY_MAX (1024 * 1024)   /* a PEM key file is a few KB */
#define TLS_WARN_DAYS 14

enum { L_CERT, L_KEY, L_CA, L_CRL };

struct tls_load {
	struct fg_tls *t;
	const char *path;
	const int *lines;
	struct fg_errors *errs;
	EVP_MD_CTX *id;   /* hashes what verification depends on */
};

/* The first OpenSSL reason in the queue (never key material), and the queue cleared. */
static const char *tls_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "not PEM";
}

/* The whole of FILE into memory (NUL-terminated), for hashing and
 * parsing; NULL with errno. */
static unsigned char *tls_slurp(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = malloc(TLS_KEY_MAX + 1);
	size_t n = buf ? fread(buf, 1, TLS_KEY_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > TLS_KEY_MAX) {
		if (buf)
			OPENSSL_cleanse(buf, TLS_KEY_MAX + 1);
		free(buf);
		errno = buf ? EFBIG : ENOMEM;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Every certificate of FILE; the first into *FIRST when asked. */
static STACK_OF(X509) *tls_certs(struct tls_load *L, int line, const char *key, const char *file, X509 **first)
{
	size_t len;
	unsigned char *buf = tls_slurp(file, &len);
	if (!buf) {
		conf_errors_add(L->errs, L->path, L->lines[line], "%s: cannot read \"%s\": %s", key, file, strerror(errno));
		return NULL;
	}
	if (L->id && line != L_CERT)
		EVP_DigestUpdate(L->id, buf, len);
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	while (bio && sk && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();   /* the end of the file reads as an error */
	BIO_free(bio);
	free(buf);
	if (!sk || sk_X509_num(sk) == 0) {
		conf_errors_add(L->errs, L->path, L->lines[line], "%s: \"%s\" holds no PEM certificate", key, file);
		sk_X509_free(sk);
		return NULL;
	}
	if (first)
		*first = sk_X509_shift(sk);
	return sk;
}

static STACK_OF(X509_CRL) *tls_crls(struct tls_load *L, const char *file)
{
	size_t len;
	unsigned char *buf = tls_slurp(file, &len);
	if (!buf) {
		conf_errors_add(L->errs, L->path, L->lines[L_CRL], "crl_file: cannot read \"%s\": %s", file, strerror(errno));
		return NULL;
	}
	EVP_DigestUpdate(L->id, buf, len);
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
	X509_CRL *x;
	while (bio && sk && (x = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)))
		if (!sk_X509_CRL_push(sk, x))
			X509_CRL_free(x);
	ERR_clear_error();
	BIO_free(bio);
	free(buf);
	if (!sk || sk_X509_CRL_num(sk) == 0) {
		conf_errors_add(L->errs, L->path, L->lines[L_CRL], "crl_file: \"%s\" holds no PEM CRL", file);
		sk_X509_CRL_free(sk);
		return NULL;
	}
	return sk;
}

/* An encrypted key would need a passphrase at every reload: refused. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

static EVP_PKEY *tls_key(struct tls_load *L, const char *file)
{
	struct stat st;
	if (stat(file, &st) == 0 && (st.st_mode & 04)) {
		conf_errors_add(L->errs, L->path, L->lines[L_KEY], "key_file: \"%s\" is readable by every user (mode %04o); "
				"chmod 600, or 640 with group ssl-cert", file, (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	size_t len;
	unsigned char *buf = tls_slurp(file, &len);
	if (!buf) {
		conf_errors_add(L->errs, L->path, L->lines[L_KEY], "key_file: cannot read \"%s\": %s", file, strerror(errno));
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL) : NULL;
	const char *why = k ? NULL : tls_why();
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);   /* the key's bytes live only in K from here */
	free(buf);
	if (!k)
		conf_errors_add(L->errs, L->path, L->lines[L_KEY], "key_file: \"%s\" holds no unencrypted PEM private key (%s)",
				file, why);
	return k;
}

static void tls_expiry(struct tls_load *L)
{
	struct fg_tls *t = L->t;
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(t->cert), &tm) != 1) {
		conf_errors_add(L->errs, L->path, L->lines[L_CERT], "cert_file: \"%s\": unreadable notAfter", t->cert_file);
		return;
	}
	t->not_after = (double)timegm(&tm);
	double days = (t->not_after - (double)time(NULL)) / 86400.0;
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
	if (days < 0)
		conf_errors_add(L->errs, L->path, L->lines[L_CERT], "cert_file: \"%s\" expired on %s", t->cert_file, when);
	else if (days < TLS_WARN_DAYS)
		conf_errors_warn(L->errs, L->path, L->lines[L_CERT], "cert_file: \"%s\" expires in %.0f days (%s)",
				 t->cert_file, days < 1 ? 0 : days, when);
	if (X509_cmp_current_time(X509_get0_notBefore(t->cert)) > 0)
		conf_errors_warn(L->errs, L->path, L->lines[L_CERT], "cert_file: \"%s\" is not valid yet", t->cert_file);
}

static void tls_pair(struct tls_load *L)
{
	struct fg_tls *t = L->t;
	t->chain = tls_certs(L, L_CERT, "cert_file", t->cert_file, &t->cert);
	t->key = tls_key(L, t->key_file);
	if (!t->cert || !t->key)
		return;
	if (X509_check_private_key(t->cert, t->key) != 1) {
		ERR_clear_error();
		conf_errors_add(L->errs, L->path, L->lines[L_KEY], "key_file: \"%s\" is not the key of cert_file \"%s\"",
				t->key_file, t->cert_file);
		return;
	}
	tls_expiry(L);
}

void conf_tls_load(struct fg_tls *t, bool wanted, const char *conf_path, const int lines[4], struct fg_errors *errs)
{
	struct tls_load L = { t, conf_path, lines, errs, EVP_MD_CTX_new() };
	if (t->verify < 0)
		t->verify = t->client_ca_file ? FG_TLS_VERIFY_OPTIONAL : FG_TLS_VERIFY_OFF;
	if (t->verify != FG_TLS_VERIFY_OFF && !t->client_ca_file)
		conf_errors_add(errs, conf_path, lines[L_CA], "%s client_verify = %s needs client_ca_file", t->section ? t->section : "[tls]",
				t->verify == FG_TLS_VERIFY_REQUIRED ? "required" : "optional");
	if (t->crl_file && !t->client_ca_file)
		conf_errors_add(errs, conf_path, lines[L_CRL], "%s crl_file needs client_ca_file", t->section ? t->section : "[tls]");
	if (!t->cert_file != !t->key_file)
		conf_errors_add(errs, conf_path, lines[t->cert_file ? L_CERT : L_KEY], "%s needs both cert_file and key_file", t->section ? t->section : "[tls]");
	else if (!t->cert_file && wanted)
		conf_errors_add(errs, conf_path, 0, "a tls:// listener needs %s cert_file and key_file", t->section ? t->section : "[tls]");
	if (!L.id || EVP_DigestInit_ex(L.id, EVP_sha256(), NULL) != 1) {
		conf_errors_add(errs, conf_path, 0, "out of memory");
		EVP_MD_CTX_free(L.id);
		return;
	}
	unsigned char mode = (unsigned char)t->verify;
	EVP_DigestUpdate(L.id, &mode, 1);
	if (t->cert_file && t->key_file)
		tls_pair(&L);
	if (t->client_ca_file)
		t->cas = tls_certs(&L, L_CA, "client_ca_file", t->client_ca_file, NULL);
	if (t->crl_file)
		t->crls = tls_crls(&L, t->crl_file);
	EVP_DigestFinal_ex(L.id, t->verify_id, NULL);
	EVP_MD_CTX_free(L.id);
}

void conf_tls_free(struct fg_tls *t)
{
	SSL_CTX_free(t->ctx);
	X509_free(t->cert);
	sk_X509_pop_free(t->chain, X509_free);
	EVP_PKEY_free(t->key);
	sk_X509_pop_free(t->cas, X509_free);
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	t->ctx = NULL;
	t->cert = NULL;
	t->chain = t->cas = NULL;
	t->key = NULL;
	t->crls = NULL;
}

void conf_tls_report(const struct fg_tls *t, FILE *out)
{
	if (!t->cert)
		return;
	char subject[256];
	X509_NAME_oneline(X509_get_subject_name(t->cert), subject, sizeof subject);
	double days = (t->not_after - (double)time(NULL)) / 86400.0;
	fprintf(out, "tls: %s: %s, expires in %.0f days; client certificates %s\n", t->cert_file, subject,
		days < 0 ? 0 : days, t->verify == FG_TLS_VERIFY_REQUIRED ? "required"
		: t->verify == FG_TLS_VERIFY_OPTIONAL ? "optional" : "off");
}
