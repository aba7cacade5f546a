/* http_tls.h: TLS on the worker layer's listeners (docs/operations.md,
 * "TLS"): the SSL_CTX of each kind of listener, the bufferevent a tls://
 * listener's connection is made with, what happens when one closes, the
 * client certificate a connection shows, and the TLS metrics.
 *
 * A listener picks its settings by its kind: tenant listeners (shared and
 * dedicated) and the admin listener take [tls]; a later kind (the webhook
 * listener) gets a block of its own in http_tls_settings, and nothing else
 * changes. */
#ifndef FG_HTTP_TLS_H
#define FG_HTTP_TLS_H
#include <stdbool.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <jansson.h>
#include "conf.h"
#include "tenant_cert.h"

/* WEBHOOK: [webhook]'s own certificate, no client CA. */
enum http_tls_kind { HTTP_TLS_TENANT, HTTP_TLS_ADMIN, HTTP_TLS_WEBHOOK };

/* The [tls]-like block a kind of listener takes its settings from. */
const struct fg_tls *http_tls_settings(const struct fg_config *c, enum http_tls_kind k);
/* Builds the SSL_CTX of every block of C that has a certificate loaded,
 * before C is put in force (start-up, reload, -t): -1 with ERRS when one
 * cannot be made, and the reload is refused. Session ticket keys are the
 * process's, kept across reloads, so a swapped SSL_CTX still resumes. */
int http_tls_prepare(struct fg_config *c, struct fg_errors *errs);
/* The SSL_CTX new connections of kind K get under C; NULL when none. */
SSL_CTX *http_tls_ctx(const struct fg_config *c, enum http_tls_kind k);

/* A server-side TLS bufferevent for a connection evhttp is about to set
 * up (the evhttp bevcb), or NULL. */
struct bufferevent *http_tls_bev_new(struct event_base *base, SSL_CTX *ctx);
/* The connection of BEV is closing (its events already off): a handshake
 * that never finished is counted by why (plain HTTP gets a short 400 in
 * plain text, as it was asked); a finished one gets its close_notify when
 * nothing is left to send. */
void http_tls_closing(struct bufferevent *bev);
/* Once BEV's output has gone: close_notify and a TCP half-close, as
 * shutdown(SHUT_WR) does for a plain connection (a refused request's
 * lingering close). */
void http_tls_close_after_output(struct bufferevent *bev);
/* The client certificate of BEV's connection into PC (tenant_cert.h). */
void http_tls_peer(struct bufferevent *bev, struct fg_peer_cert *pc);

/* /stats' "tls" section and the fleetgate_tls_* families, for C's tls://
 * listeners. */
json_t *http_tls_json(const struct fg_config *c);
void http_tls_prometheus(struct evbuffer *b, const struct fg_config *c);
#endif
