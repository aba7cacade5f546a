/* up_forward.c: request -> easy handle -> response relay.
 *
 * Headers going up are an allowlist (up_forward_header_allowed): whatever a
 * client sends beyond Accept — its own credentials, its Content-Type (a
 * body goes up as the application/json it was checked as),
 * cookies, hop-by-hop headers, X-Forwarded-For and the like — never
 * reaches the upstream, so nothing can leak a caller's secrets or our
 * internal addresses by accident. This file sets the Authorization header
 * from a token it is handed and never logs it.
 *
 * The upstream is not trusted with our memory or our clients: an answer
 * longer than max_upstream_bytes is cut off and failed, a status outside
 * 100..599 is a failed exchange, and control characters are taken out of
 * every header value relayed either way. */
#define _GNU_SOURCE   /* asprintf */
#include "up_forward.h"
#include "budget.h"
#include "log.h"
#include "stats.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <event2/http.h>

struct fwd {
	CURL *easy;
	struct upstream *u;          /* while the transfer runs */
	struct upstream *pool;       /* where the easy handle goes back */
	struct curl_slist *hdrs;
	struct evbuffer *body;
	size_t max_bytes;            /* the answer may not be longer */
	size_t got;                  /* body bytes so far */
	bool too_big;
	char *content_type;          /* NULL when absent */
	char *traceparent, *tracestate; /* W3C trace context the upstream answered */
	char peer[80];               /* "IP:PORT" tried, for failure lines */
	int retry_after;
	long status;
	CURLcode rc;
	double ms;
	fwd_done_fn done;
	void *arg;
};

/* traceparent and tracestate (W3C Trace Context) carry no secret and let
 * a trace span the gateway. Content-Type is not relayed: a body goes up
 * as application/json, whatever the client called it. */
static const char *const fwd_allowed[] = { "Accept", "Accept-Language", "traceparent", "tracestate" };

bool up_forward_header_allowed(const char *name)
{
	for (size_t i = 0; i < sizeof fwd_allowed / sizeof *fwd_allowed; i++)
		if (strcasecmp(name, fwd_allowed[i]) == 0)
			return true;
	return false;
}

int up_forward_error_status(CURLcode rc)
{
	return rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
}

const char *up_forward_error_text(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return "the upstream did not answer in time";
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS to the upstream failed (certificate not verified)";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "the upstream host name could not be resolved";
	case CURLE_COULDNT_CONNECT:
		return "the upstream could not be reached";
	case CURLE_FILESIZE_EXCEEDED:
		return "the upstream's answer is larger than [upstream] max_upstream_bytes";
	case CURLE_WEIRD_SERVER_REPLY:
		return "the upstream's answer is not valid HTTP";
	default:
		return "the upstream exchange failed";
	}
}

/* Retry-After beyond this is read as this: the same hour budget.c caps
 * an upstream pause at. */
#define FWD_RETRY_AFTER_MAX 3600

/* MAXFILESIZE stops an answer whose Content-Length is too big before its
 * body; this count stops one that is chunked or lies about its length. */
static size_t fwd_write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t len = size * n;
	if (len > f->max_bytes - f->got) {
		f->too_big = true;
		return 0;            /* curl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (evbuffer_add(f->body, ptr, len) < 0)
		return 0;
	f->got += len;
	return len;
}

/* VALUE without control characters (HTAB stays): they have no business in
 * a header value, and CR or LF would end the line. A new string or NULL. */
static char *fwd_clean_value(const char *value, size_t len)
{
	char *out = malloc(len + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\t')
			out[o++] = (char)c;
	}
	out[o] = 0;
	return out;
}

/* A Content-Length announced in the headers: the body buffer is made that
 * big at once, so the answer lands in one piece and reading it whole
 * later (evbuffer_pullup) does not copy it again. */
static void fwd_presize(struct fwd *f, const char *v, size_t vlen)
{
	size_t n = 0, i = 0;
	for (; i < vlen && v[i] >= '0' && v[i] <= '9' && n <= f->max_bytes; i++)
		n = n * 10 + (size_t)(v[i] - '0');
	if (i == vlen && i > 0 && n <= f->max_bytes && n > evbuffer_get_length(f->body))
		evbuffer_expand(f->body, n - evbuffer_get_length(f->body));
}

static bool fwd_header_is(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
	size_t nl = strlen(name);
	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	const char *v = line + nl + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*val = v;
	*vlen = (size_t)(end - v);
	return true;
}

static size_t fwd_header_cb(char *line, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t len = size * n;
	const char *v;
	size_t vlen;
	/* A new status line (after a 100 Continue, or a redirect) resets. */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		free(f->content_type);
		free(f->traceparent);
		free(f->tracestate);
		f->content_type = f->traceparent = f->tracestate = NULL;
		f->retry_after = -1;
	} else if (fwd_header_is(line, len, "traceparent", &v, &vlen)) {
		free(f->traceparent);
		f->traceparent = fwd_clean_value(v, vlen);
	} else if (fwd_header_is(line, len, "tracestate", &v, &vlen)) {
		free(f->tracestate);
		f->tracestate = fwd_clean_value(v, vlen);
	} else if (fwd_header_is(line, len, "Content-Type", &v, &vlen)) {
		free(f->content_type);
		f->content_type = fwd_clean_value(v, vlen);
	} else if (fwd_header_is(line, len, "Content-Length", &v, &vlen)) {
		fwd_presize(f, v, vlen);
	} else {
		int s = up_forward_parse_retry_after(line, len);
		if (s == FWD_RETRY_AFTER_MAX)
			log_warn("upstream: a Retry-After of %d s or more is read as %d s",
				 FWD_RETRY_AFTER_MAX, FWD_RETRY_AFTER_MAX);
		if (s >= 0)
			f->retry_after = s;
	}
	return len;
}

/* Delay-seconds, saturated at FWD_RETRY_AFTER_MAX rather than ignored
 * when huge (a pause is capped there anyway). */
int up_forward_parse_retry_after(const char *line, size_t len)
{
	const char *v;
	size_t vlen;
	if (!fwd_header_is(line, len, "Retry-After", &v, &vlen) || vlen == 0)
		return -1;
	long s = 0;
	size_t i = 0;
	for (; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
		if (s <= FWD_RETRY_AFTER_MAX)
			s = s * 10 + (v[i] - '0');
	if (i != vlen)
		return -1;
	return (int)(s > FWD_RETRY_AFTER_MAX ? FWD_RETRY_AFTER_MAX : s);
}

/* The "host[:port]" of URL (never a user:password part). */
static void fwd_url_host(const char *url, char *out, size_t len)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	const char *at = strchr(h, '@'), *end = h + strcspn(h, "/?#");
	if (at && at < end)
		h = at + 1;
	snprintf(out, len, "%.*s", (int)(end - h), h);
}

static void fwd_done_cb(void *arg, CURL *easy, CURLcode rc)
{
	struct fwd *f = arg;
	f->rc = rc;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
	double secs = 0;
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &secs);
	f->ms = secs * 1000.0;
	f->u = NULL;
	/* Where the exchange went (or tried to): the address curl connected
	 * to, else the URL's host, so a failure line says where it failed. */
	char *ip = NULL, *url = NULL;
	long port = 0;
	if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip &&
	    curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK && port > 0)
		snprintf(f->peer, sizeof f->peer, strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
	else if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url)
		fwd_url_host(url, f->peer, sizeof f->peer);
	if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		f->rc = CURLE_FILESIZE_EXCEEDED;
		evbuffer_drain(f->body, evbuffer_get_length(f->body));   /* give it back now */
		stats_inc(STAT_upstream_too_large);
	} else if (rc == CURLE_OK && (f->status < 100 || f->status > 599)) {
		/* Not an HTTP status: nothing a client could make sense of. */
		f->rc = CURLE_WEIRD_SERVER_REPLY;
		stats_inc(STAT_upstream_bad_status);
	}
	f->done(f->arg, f);
}

static int fwd_add_header(struct fwd *f, const char *line)
{
	struct curl_slist *n = curl_slist_append(f->hdrs, line);
	if (!n)
		return -1;
	f->hdrs = n;
	return 0;
}

/* "NAME: VALUE" at whatever length, control characters left out. */
static int fwd_add_header_kv(struct fwd *f, const char *name, const char *value)
{
	char *v = fwd_clean_value(value, strlen(value));
	char *line = NULL;
	int rc = -1;
	if (v && asprintf(&line, "%s: %s", name, v) >= 0)
		rc = fwd_add_header(f, line);
	free(line);
	free(v);
	return rc;
}

static int fwd_build_headers(struct fwd *f, const struct fwd_params *p)
{
	if (p->client_headers) {
		const struct evkeyval *kv;
		TAILQ_FOREACH(kv, p->client_headers, next) {
			if (!up_forward_header_allowed(kv->key))
				continue;
			if (fwd_add_header_kv(f, kv->key, kv->value) < 0)
				return -1;
		}
	}
	/* Without one, curl labels a POST body as a form; "Content-Type:"
	 * tells it to send none. */
	if (p->content_type ? fwd_add_header_kv(f, "Content-Type", p->content_type) < 0
			    : fwd_add_header(f, "Content-Type:") < 0)
		return -1;
	if (p->request_id && fwd_add_header_kv(f, "X-Request-Id", p->request_id) < 0)
		return -1;
	/* No "Expect: 100-continue" round trip for POST bodies. */
	if (p->body_len && fwd_add_header(f, "Expect:") < 0)
		return -1;
	if (p->bearer) {
		size_t alen = strlen(p->bearer) + sizeof "Authorization: Bearer ";
		char *auth = malloc(alen);
		if (!auth)
			return -1;
		snprintf(auth, alen, "Authorization: Bearer %s", p->bearer);
		int rc = fwd_add_header(f, auth);
		OPENSSL_cleanse(auth, alen);
		free(auth);
		return rc;
	}
	return 0;
}

static void fwd_set_common(CURL *e, const struct fg_config *c)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->timeout);
	/* Verification stays on; the only knob is which CAs to trust. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "fleetgate/" FG_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Never from the environment: an http_proxy variable must not
	 * silently route tokens through somewhere else. (NOPROXY "*" also
	 * spares curl reading no_proxy from the environment per transfer.) */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}

struct fwd *up_forward_start(struct upstream *u, const struct fwd_params *p, fwd_done_fn done, void *arg)
{
	struct fwd *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->done = done;
	f->arg = arg;
	f->retry_after = -1;
	f->max_bytes = p->max_bytes ? p->max_bytes : p->cfg->max_upstream_bytes;
	f->body = evbuffer_new();
	f->pool = u;
	f->easy = up_multi_easy_get(u);
	if (!f->body || !f->easy || fwd_build_headers(f, p) < 0)
		goto fail;
	CURL *e = f->easy;
	fwd_set_common(e, p->cfg);
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwd_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_bytes);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fwd_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	if (strcmp(p->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)p->body_len);
		/* The body stays owned by the caller until DONE. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body_len ? p->body : "");
	} else if (strcmp(p->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, p->method);
	}
	if (up_multi_start(u, e, fwd_done_cb, f) < 0)
		goto fail;
	f->u = u;
	return f;
fail:
	up_forward_free(f);
	return NULL;
}

void up_forward_cancel(struct fwd *f)
{
	if (!f)
		return;
	if (f->u)
		up_multi_cancel(f->u, f->easy);
	f->u = NULL;
	up_forward_free(f);
}

void up_forward_free(struct fwd *f)
{
	if (!f)
		return;
	if (f->easy)
		up_multi_easy_put(f->pool, f->easy);
	/* The header list holds a copy of the token: wipe it before free. */
	for (struct curl_slist *h = f->hdrs; h; h = h->next)
		if (strncasecmp(h->data, "Authorization:", 14) == 0)
			OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(f->hdrs);
	if (f->body)
		evbuffer_free(f->body);
	free(f->content_type);
	free(f->traceparent);
	free(f->tracestate);
	free(f);
}

CURLcode up_forward_result(const struct fwd *f) { return f->rc; }
long up_forward_status(const struct fwd *f) { return f->status; }
const char *up_forward_content_type(const struct fwd *f) { return f->content_type ? f->content_type : ""; }
int up_forward_retry_after(const struct fwd *f) { return f->retry_after; }

int up_forward_pause_hint(struct fwd *f)
{
	struct evbuffer *body = up_forward_body(f);
	int in_body = budget_parse_retry_after((const char *)evbuffer_pullup(body, -1), evbuffer_get_length(body));
	return in_body > f->retry_after ? in_body : f->retry_after;
}
int up_forward_pause(struct fwd *f, int dflt)
{
	int secs = up_forward_pause_hint(f);
	return secs >= 0 ? secs : dflt;
}

struct evbuffer *up_forward_body(struct fwd *f) { return f->body; }
double up_forward_ms(const struct fwd *f) { return f->ms; }
const char *up_forward_peer(const struct fwd *f) { return f->peer[0] ? f->peer : "unknown address"; }

void up_forward_trace_headers(const struct fwd *f, struct evkeyvalq *out)
{
	if (f->traceparent)
		evhttp_add_header(out, "traceparent", f->traceparent);
	if (f->tracestate)
		evhttp_add_header(out, "tracestate", f->tracestate);
}
