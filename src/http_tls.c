/* http_tls.c: TLS for the worker layer's tls:// listeners (docs/operations.md,
 * "TLS"), with OpenSSL 3 through libevent's bufferevent_openssl.
 *
 * The SSL_CTX of a [tls] block is built here from what conf_tls.c loaded
 * and checked, once per configuration (http_tls_prepare, before the
 * configuration is put in force), and lives as long as the configuration:
 * a connection takes the one in force when it is accepted, a reload
 * swaps it for new connections only. Modern defaults, not settings: ECDHE
 * only, no compression, no renegotiation, no 0-RTT (it would replay a
 * DELETE), ALPN http/1.1, SSL_OP_NO_* below min_version, and an
 * unexpected EOF from the peer is an ordinary close (OpenSSL 3 calls it an
 * error; Debian's libevent 2.1.12 does not know). Session tickets are
 * sealed with the process's keys, rotated hourly and kept across reloads,
 * so a reload loses no resumption; the session id context is the hash of
 * what client verification depends on, so a session from before a CA
 * change never resumes.
 *
 * Never: write plaintext to a TLS connection's socket (the one raw answer
 * is to a client that spoke plain HTTP to a TLS port), read or log a
 * private key, or block. */
#define _GNU_SOURCE
#include "http_tls.h"
#include "clock.h"
#include "log.h"
#include "metric.h"
#include "tenant.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <event2/bufferevent_ssl.h>

/* ---- counters ------------------------------------------------------------ */

/* Handshakes by result: the Prometheus label values, in order. */
#define TLS_RESULTS(X) X(ok) X(no_hello) X(not_tls) X(bad_hello) X(protocol) X(client_cert) X(peer_alert) X(closed)
enum tls_result {
#define X(n) TLS_##n,
	TLS_RESULTS(X)
#undef X
	TLS_NRESULTS
};
static const char *const tls_result_names[] = {
#define X(n) #n,
	TLS_RESULTS(X)
#undef X
};
static atomic_ulong tls_handshakes[TLS_NRESULTS];
static atomic_ulong tls_resumed;
static atomic_ulong tls_versions[2];   /* TLSv1.2, TLSv1.3 */

/* One log line a second at most, whatever a flood of hostile peers does. */
static void tls_log_limited(const char *what)
{
	static atomic_long last;
	long now = (long)clock_now(), was = atomic_load(&last);
	if (now != was && atomic_compare_exchange_strong(&last, &was, now))
		log_warn("TLS handshake failed: %s (logged once a second at most; counted in "
			 "fleetgate_tls_handshakes_total)", what);
}

/* ---- session tickets ------------------------------------------------------ */

#define TLS_TICKET_ROTATE 3600   /* seconds a ticket key seals new tickets; it opens them one more period */

struct tls_ticket_key {
	unsigned char name[16], aes[32], hmac[32];
	double born;
};
static pthread_mutex_t tls_ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_ticket_key tls_ticket_keys[2];   /* [0] seals; [1] only opens */
static bool tls_ticket_ready;

static int tls_ticket_new(struct tls_ticket_key *k, double now)
{
	k->born = now;
	return RAND_bytes(k->name, sizeof k->name) == 1 && RAND_bytes(k->aes, sizeof k->aes) == 1 &&
	       RAND_bytes(k->hmac, sizeof k->hmac) == 1 ? 0 : -1;
}

static int tls_ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
			 EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ticket_key k;
	int rc = 1;
	double now = clock_now();
	pthread_mutex_lock(&tls_ticket_lock);
	if (!tls_ticket_ready || now - tls_ticket_keys[0].born >= TLS_TICKET_ROTATE) {
		struct tls_ticket_key fresh;
		if (tls_ticket_new(&fresh, now) == 0) {
			tls_ticket_keys[1] = tls_ticket_ready ? tls_ticket_keys[0] : fresh;
			tls_ticket_keys[0] = fresh;
			tls_ticket_ready = true;
		}
		OPENSSL_cleanse(&fresh, sizeof fresh);
	}
	if (!tls_ticket_ready) {
		rc = enc ? -1 : 0;
	} else if (enc) {
		k = tls_ticket_keys[0];
	} else if (memcmp(name, tls_ticket_keys[0].name, 16) == 0) {
		k = tls_ticket_keys[0];
	} else if (memcmp(name, tls_ticket_keys[1].name, 16) == 0 &&
		   now - tls_ticket_keys[1].born < 2 * TLS_TICKET_ROTATE) {
		k = tls_ticket_keys[1];
		rc = 2;   /* good, but sealed with the old key: a new ticket follows */
	} else {
		rc = 0;   /* unknown key: a full handshake */
	}
	pthread_mutex_unlock(&tls_ticket_lock);
	if (rc <= 0)
		return rc;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 || EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		rc = -1;
	}
	if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof k);
	return rc;
}

/* ---- contexts -------------------------------------------------------------- */

const struct fg_tls *http_tls_settings(const struct fg_config *c, enum http_tls_kind k)
{
	/* tenant and admin listeners share [tls]; the webhook listener has its own */
	return k == HTTP_TLS_WEBHOOK ? &c->webhook_tls : &c->tls;
}

SSL_CTX *http_tls_ctx(const struct fg_config *c, enum http_tls_kind k)
{
	return c ? http_tls_settings(c, k)->ctx : NULL;
}

static int tls_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, h1, sizeof h1 - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;   /* no http/1.1 offered: go on without ALPN */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* client_verify = optional: a certificate that does not verify does not
 * fail the handshake; SSL_get_verify_result keeps why, and it never
 * attributes (req_policy.c refuses the request). */
static int tls_verify_optional(int ok, X509_STORE_CTX *x)
{
	return 1;
}

static int tls_done_index = -1;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static void tls_init_once(void) { tls_done_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/* A finished handshake, counted once per connection (TLS 1.3's tickets
 * after the handshake do not count again). */
static void tls_info_cb(const SSL *s, int where, int ret)
{
	if (!(where & SSL_CB_HANDSHAKE_DONE) || SSL_get_ex_data(s, tls_done_index))
		return;
	SSL_set_ex_data((SSL *)s, tls_done_index, (void *)1);
	atomic_fetch_add_explicit(&tls_handshakes[TLS_ok], 1, memory_order_relaxed);
	if (SSL_session_reused((SSL *)s))
		atomic_fetch_add_explicit(&tls_resumed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&tls_versions[SSL_version(s) == TLS1_3_VERSION], 1, memory_order_relaxed);
}

static int tls_client_verify(SSL_CTX *ctx, const struct fg_tls *t)
{
	if (t->verify == FG_TLS_VERIFY_OFF || !t->cas)
		return 0;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	if (!names)
		return -1;
	for (int i = 0; i < sk_X509_num(t->cas); i++) {
		X509 *ca = sk_X509_value(t->cas, i);
		X509_NAME *n = X509_NAME_dup(X509_get_subject_name(ca));
		if (X509_STORE_add_cert(store, ca) != 1 || !n || !sk_X509_NAME_push(names, n)) {
			X509_NAME_free(n);
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return -1;
		}
	}
	SSL_CTX_set_client_CA_list(ctx, names);   /* the CAs a client may pick its certificate by */
	for (int i = 0; t->crls && i < sk_X509_CRL_num(t->crls); i++)
		if (X509_STORE_add_crl(store, sk_X509_CRL_value(t->crls, i)) != 1)
			return -1;
	if (t->crls)
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	SSL_CTX_set_verify_depth(ctx, 5);
	if (t->verify == FG_TLS_VERIFY_REQUIRED)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_optional);
	return 0;
}

static SSL_CTX *tls_ctx_new(const struct fg_tls *t)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	if (t->min_version == FG_TLS_1_3)
		opts |= SSL_OP_NO_TLSv1_2;
	SSL_CTX_set_options(ctx, opts);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);   /* idle connections hold no record buffers */
	bool ok = SSL_CTX_set_min_proto_version(ctx, t->min_version == FG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION) == 1 &&
		  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 &&   /* TLS 1.2: ECDHE only */
		  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") == 1 &&
		  SSL_CTX_set_max_early_data(ctx, 0) == 1 && SSL_CTX_set_recv_max_early_data(ctx, 0) == 1 &&
		  SSL_CTX_use_certificate(ctx, t->cert) == 1 && SSL_CTX_use_PrivateKey(ctx, t->key) == 1;
	for (int i = 0; ok && t->chain && i < sk_X509_num(t->chain); i++)
		ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(t->chain, i)) == 1;
	ok = ok && SSL_CTX_check_private_key(ctx) == 1 && tls_client_verify(ctx, t) == 0 &&
	     SSL_CTX_set_session_id_context(ctx, t->verify_id, sizeof t->verify_id) == 1 &&
	     SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) == 1;
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_timeout(ctx, TLS_TICKET_ROTATE);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	return ctx;
}

static int tls_prepare_block(struct fg_config *c, struct fg_tls *t, const char *section, struct fg_errors *errs)
{
	if (!t->cert || !t->key || t->ctx)
		return 0;
	t->ctx = tls_ctx_new(t);
	if (!t->ctx) {
		unsigned long e = ERR_peek_last_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		conf_errors_add(errs, c->path, conf_key_line(c, section, "cert_file"), "[%s]: no TLS context from \"%s\": %s",
				section, t->cert_file, why ? why : "out of memory");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int http_tls_prepare(struct fg_config *c, struct fg_errors *errs)
{
	pthread_once(&tls_once, tls_init_once);
	int a = tls_prepare_block(c, &c->tls, "tls", errs);
	int b = tls_prepare_block(c, &c->webhook_tls, "webhook", errs);
	return a < 0 || b < 0 ? -1 : 0;
}

/* ---- connections ------------------------------------------------------------ */

struct bufferevent *http_tls_bev_new(struct event_base *base, SSL_CTX *ctx)
{
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	if (!ssl)
		return NULL;
	/* No read high-watermark and no rate limit are ever set on it:
	 * decrypted bytes OpenSSL holds (SSL_pending) would stall behind them. */
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Why a handshake that never finished failed, from the errors the
 * bufferevent kept; *PLAIN_HTTP: the client sent an HTTP request. */
static enum tls_result tls_failure(struct bufferevent *bev, SSL *s, bool *plain_http)
{
	unsigned long e = bufferevent_get_openssl_error(bev), more;
	while ((more = bufferevent_get_openssl_error(bev)))
		(void)more;
	*plain_http = false;
	if (!e)
		return BIO_number_read(SSL_get_rbio(s)) == 0 ? TLS_no_hello : TLS_closed;
	int r = ERR_GET_REASON(e);
	if (r == SSL_R_HTTP_REQUEST || r == SSL_R_HTTPS_PROXY_REQUEST) {
		*plain_http = r == SSL_R_HTTP_REQUEST;
		return TLS_not_tls;
	}
	if (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_UNKNOWN_PROTOCOL)
		return BIO_number_read(SSL_get_rbio(s)) <= 5 ? TLS_not_tls : TLS_protocol;
	if (r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_NO_SHARED_CIPHER || r == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	    r == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM || r == SSL_R_NO_SHARED_GROUPS || r == SSL_R_VERSION_TOO_LOW)
		return TLS_protocol;
	if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE || r == SSL_R_CERTIFICATE_VERIFY_FAILED)
		return TLS_client_cert;
	if (r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256)
		return TLS_peer_alert;   /* the client refused us (our certificate, say) */
	return TLS_bad_hello;
}

void http_tls_closing(struct bufferevent *bev)
{
	SSL *s = bufferevent_openssl_get_ssl(bev);
	if (!s)
		return;
	if (SSL_is_init_finished(s)) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !(SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN))
			SSL_shutdown(s);   /* libevent frees the connection without one */
		ERR_clear_error();
		return;
	}
	bool plain;
	enum tls_result why = tls_failure(bev, s, &plain);
	atomic_fetch_add_explicit(&tls_handshakes[why], 1, memory_order_relaxed);
	if (why != TLS_no_hello && why != TLS_closed)
		tls_log_limited(tls_result_names[why]);
	if (plain) {
		/* It spoke plain HTTP: a plain answer is the one it can read. */
		static const char body[] = "{\"errors\":[{\"title\":\"Bad Request\",\"detail\":\"this port speaks TLS: "
			"use https://\",\"source\":\"fleetgate\"}]}";
		char ans[512];
		int n = snprintf(ans, sizeof ans, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", sizeof body - 1, body);
		int fd = bufferevent_getfd(bev);
		if (fd >= 0 && n > 0 && (size_t)n < sizeof ans)
			(void)!send(fd, ans, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	ERR_clear_error();
}

static void tls_output_cb(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	SSL *s = bufferevent_openssl_get_ssl(bev);
	if (!s || evbuffer_get_length(out) > 0 || (SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN))
		return;
	if (SSL_is_init_finished(s))
		SSL_shutdown(s);
	ERR_clear_error();
	int fd = bufferevent_getfd(bev);
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
}

void http_tls_close_after_output(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	if (evbuffer_add_cb(out, tls_output_cb, bev))
		tls_output_cb(out, NULL, bev);   /* already empty: now */
}

/* NAME (LEN bytes from a certificate) as a C string, unless it holds a NUL. */
static void tls_peer_name(struct fg_peer_cert *pc, const unsigned char *name, int len)
{
	if (pc->nnames == FG_CERT_NAMES || len <= 0 || memchr(name, 0, (size_t)len))
		return;
	char *s = strndup((const char *)name, (size_t)len);
	if (s)
		pc->names[pc->nnames++] = s;
}

void http_tls_peer(struct bufferevent *bev, struct fg_peer_cert *pc)
{
	memset(pc, 0, sizeof *pc);
	SSL *s = bufferevent_openssl_get_ssl(bev);
	X509 *x = s ? SSL_get0_peer_certificate(s) : NULL;
	if (!x)
		return;
	if (SSL_get_verify_result(s) != X509_V_OK) {
		pc->state = FG_CERT_FAILED;
		return;
	}
	unsigned int n = 0;
	if (X509_digest(x, EVP_sha256(), pc->sha256, &n) != 1 || n != 32) {
		pc->state = FG_CERT_FAILED;   /* cannot be told apart: attributes to nobody */
		ERR_clear_error();
		return;
	}
	pc->state = FG_CERT_VERIFIED;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int pass = 0; pass < 2 && gens; pass++) {   /* URIs (SPIFFE IDs) first, then DNS names */
		for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			if (g->type == (pass ? GEN_DNS : GEN_URI))
				tls_peer_name(pc, ASN1_STRING_get0_data(g->d.ia5), ASN1_STRING_length(g->d.ia5));
		}
	}
	GENERAL_NAMES_free(gens);
	X509_NAME *subj = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	unsigned char *cn = NULL;
	int len = i >= 0 ? ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i))) : -1;
	if (len > 0)
		tls_peer_name(pc, cn, len);
	OPENSSL_free(cn);
	ERR_clear_error();
}

/* ---- metrics ------------------------------------------------------------------ */

/* Each tls:// listener of C with the block it serves. */
static void tls_each_listener(const struct fg_config *c, void (*fn)(void *arg, const char *spec, const struct fg_tls *t),
			      void *arg)
{
	for (size_t i = 0; i < c->listen.n; i++)
		if (c->listen.v[i].tls)
			fn(arg, c->listen.v[i].spec, http_tls_settings(c, HTTP_TLS_TENANT));
	for (size_t i = 0; i < c->admin_listen.n; i++)
		if (c->admin_listen.v[i].tls)
			fn(arg, c->admin_listen.v[i].spec, http_tls_settings(c, HTTP_TLS_ADMIN));
	for (size_t t = 0; t < c->ntenants; t++)
		for (size_t i = 0; i < c->tenants[t]->listen.n; i++)
			if (c->tenants[t]->listen.v[i].tls)
				fn(arg, c->tenants[t]->listen.v[i].spec, http_tls_settings(c, HTTP_TLS_TENANT));
	for (size_t i = 0; i < c->webhook_listen.n; i++)
		if (c->webhook_listen.v[i].tls)
			fn(arg, c->webhook_listen.v[i].spec, http_tls_settings(c, HTTP_TLS_WEBHOOK));
}

static void tls_json_cert(void *arg, const char *spec, const struct fg_tls *t)
{
	json_t *o = arg;
	if (!t->cert)
		return;
	char subject[256], line[64];
	X509_NAME_oneline(X509_get_subject_name(t->cert), subject, sizeof subject);
	double days = (t->not_after - (double)time(NULL)) / 86400.0;
	json_array_append_new(json_object_get(o, "certificates"), json_pack("{s:s,s:s,s:f,s:f}", "listener", spec,
					     "subject", subject, "expires", t->not_after, "days_left", days));
	/* The status page's panel: one line per listener. */
	time_t na = (time_t)t->not_after;
	struct tm tm;
	char when[16] = "";
	if (gmtime_r(&na, &tm))
		strftime(when, sizeof when, "%Y-%m-%d", &tm);
	if (days < 0)
		snprintf(line, sizeof line, "expired (%s)", when);
	else
		snprintf(line, sizeof line, "%.0f days left (%s)", days, when);
	json_t *ex = json_object_get(o, "expiry");
	if (!ex)
		json_object_set_new(o, "expiry", ex = json_object());
	json_object_set_new(ex, spec, json_string(line));
}

json_t *http_tls_json(const struct fg_config *c)
{
	json_t *o = json_object(), *hs = json_object(), *certs = json_array();
	for (int i = 0; i < TLS_NRESULTS; i++)
		json_object_set_new(hs, tls_result_names[i], json_integer((json_int_t)atomic_load(&tls_handshakes[i])));
	json_object_set_new(o, "handshakes", hs);
	json_object_set_new(o, "resumed", json_integer((json_int_t)atomic_load(&tls_resumed)));
	json_object_set_new(o, "versions", json_pack("{s:I,s:I}", "TLSv1.2", (json_int_t)atomic_load(&tls_versions[0]),
						     "TLSv1.3", (json_int_t)atomic_load(&tls_versions[1])));
	json_object_set_new(o, "certificates", certs);
	if (c)
		tls_each_listener(c, tls_json_cert, o);
	return o;
}

static void tls_prom_cert(void *arg, const char *spec, const struct fg_tls *t)
{
	if (t->cert)
		metric_value(arg, "fleetgate_tls_certificate_expiry_timestamp_seconds",
			     (const char *const[]){ "listener", spec, NULL }, t->not_after);
}

void http_tls_prometheus(struct evbuffer *b, const struct fg_config *c)
{
	metric_family(b, "fleetgate_tls_handshakes_total", METRIC_COUNTER,
		      "TLS handshakes on tls:// tenant listeners by result: ok, or why one failed");
	for (int i = 0; i < TLS_NRESULTS; i++)
		metric_u64(b, "fleetgate_tls_handshakes_total", (const char *const[]){ "result", tls_result_names[i], NULL },
			   atomic_load(&tls_handshakes[i]));
	metric_counter(b, "tls_resumed_total", "TLS handshakes that resumed a session (ticket or session id)",
		       (double)atomic_load(&tls_resumed));
	metric_family(b, "fleetgate_tls_protocol_total", METRIC_COUNTER, "Finished TLS handshakes by protocol version");
	metric_u64(b, "fleetgate_tls_protocol_total", (const char *const[]){ "version", "TLSv1.2", NULL },
		   atomic_load(&tls_versions[0]));
	metric_u64(b, "fleetgate_tls_protocol_total", (const char *const[]){ "version", "TLSv1.3", NULL },
		   atomic_load(&tls_versions[1]));
	if (!c)
		return;
	metric_family(b, "fleetgate_tls_certificate_expiry_timestamp_seconds", METRIC_GAUGE,
		      "When the certificate a tls:// listener serves expires (Unix time)");
	tls_each_listener(c, tls_prom_cert, b);
}
