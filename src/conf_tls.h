/* conf_tls.h: a [tls] block (docs/configuration.md, "[tls]"): the files as
 * written, and the certificate, key, client CAs and CRLs loaded and
 * checked from them. The worker layer builds its SSL_CTX from what is
 * loaded here (http_tls.c); conf_tls.c never makes one.
 *
 * Like tenant.h this must not include conf.h: conf.c holds a struct
 * fg_tls and calls in. */
#ifndef FG_CONF_TLS_H
#define FG_CONF_TLS_H
#include <stdbool.h>
#include <stdio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "conf_errors.h"

enum fg_tls_verify { FG_TLS_VERIFY_OFF, FG_TLS_VERIFY_OPTIONAL, FG_TLS_VERIFY_REQUIRED };
enum fg_tls_version { FG_TLS_1_2, FG_TLS_1_3 };   /* min_version's words, in order */

struct fg_tls {
	/* as written (conf.c's key table) */
	char *cert_file, *key_file, *client_ca_file, *crl_file;
	int verify;          /* enum fg_tls_verify; -1 until conf_tls_load derives it */
	int min_version;     /* enum fg_tls_version */
	/* loaded and checked by conf_tls_load; cert NULL: nothing loaded */
	X509 *cert;                 /* the leaf: cert_file's first certificate */
	STACK_OF(X509) *chain;      /* the rest of cert_file */
	EVP_PKEY *key;
	STACK_OF(X509) *cas;        /* client_ca_file */
	STACK_OF(X509_CRL) *crls;   /* crl_file */
	double not_after;           /* the leaf's notAfter, Unix time */
	/* What a resumed session must have been verified under (client CAs,
	 * CRLs, client_verify): the session id context. A session from
	 * before a change of these never resumes. */
	unsigned char verify_id[32];
	SSL_CTX *ctx;               /* built by http_tls_prepare; freed with the block */
	const char *section;        /* in messages: "[tls]" (NULL) or "[webhook]" */
};

/* Loads and checks T's files (LINES: the lines cert_file, key_file,
 * client_ca_file and crl_file were set on in CONF_PATH): the pair matches,
 * the chain, CAs and CRLs parse, the key is not readable by every user,
 * the certificate has not expired (a warning under 14 days). WANTED: some
 * listener is tls://, so a pair is required. Errors into ERRS. The key
 * file's bytes are wiped once parsed. */
void conf_tls_load(struct fg_tls *t, bool wanted, const char *conf_path, const int lines[4], struct fg_errors *errs);
void conf_tls_free(struct fg_tls *t);
/* -t's report: the certificate's subject and days to expiry (nothing
 * when none is loaded). */
void conf_tls_report(const struct fg_tls *t, FILE *out);
#endif
