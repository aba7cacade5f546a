/* http_conn.h: a worker's client connections (http_conn.c), for http.c
 * alone.
 *
 * Calls go one way: http.c makes a worker's connections, hands them each
 * new connection and request of its listeners, and gives them, in
 * struct http_conn_owner, what they ask of it (the handler's hooks, the
 * limits in force). http_conn.c never calls http.c by name; it calls down
 * only (http_headblock.c, http_reply.c). */
#ifndef FG_HTTP_CONN_H
#define FG_HTTP_CONN_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include "tenant_cert.h"

struct evkeyvalq;
struct http_bind;    /* opaque here: handed back to the owner's hooks */
struct http_conns;   /* one worker's connections */

/* The limits a connection is held to, as the worker's configuration view
 * has them now. */
struct http_conn_limits {
	int header_timeout;    /* client_header_timeout, seconds */
	int body_timeout;      /* client_body_timeout, seconds */
	int max_connections;   /* over all workers; 0: no cap */
};

/* What the connections ask of the worker that owns them: the handler's
 * hooks (struct http_handler, http.h), the limits now, the header block's
 * cap. Every function runs on the worker's thread. */
struct http_conn_owner {
	void (*request)(struct evhttp_request *er, struct http_bind *b);
	bool (*client_gone)(struct evhttp_connection *evcon);
	int (*head)(struct http_bind *b, struct evhttp_connection *evcon, const char *target,
		    struct evkeyvalq *h, char *detail, size_t len);   /* may be NULL */
	void (*limits)(void *arg, struct http_conn_limits *l);
	void *arg;
	size_t max_headers;
	/* The count max_connections caps; NULL: the tenant-facing one
	 * (http_conn_count). A listener of its own (the webhook's) counts
	 * apart, so neither side's connections can take the other's. */
	atomic_long *count;
	const char *cap_name;   /* the cap's key in messages; NULL: "max_connections" */
};

/* A worker's connections, on its BASE; freed after its binds. */
struct http_conns *http_conns_new(struct event_base *base, const struct http_conn_owner *o);
void http_conns_free(struct http_conns *cs);
/* evhttp's bevcb and gencb for bind B of the worker that owns CS. TLS:
 * B is a tls:// listener's, and CTX the SSL_CTX in force for it (NULL:
 * none, and the connection is closed at once). */
struct bufferevent *http_conn_bev_new(struct http_conns *cs, struct event_base *base, struct http_bind *b,
				      bool tls, SSL_CTX *ctx);
void http_conn_request(struct http_conns *cs, struct evhttp_request *er, struct http_bind *b, bool tls);
/* The client certificate of EVCON's connection (read once, kept with
 * it); NULL on a plain connection. */
const struct fg_peer_cert *http_conn_tls_peer(struct http_conns *cs, struct evhttp_connection *evcon);
/* Client connections open on public and tenant listeners, all workers. */
long http_conn_count(void);
#endif
