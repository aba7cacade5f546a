/* forward.c: request -> easy handle -> response relay.
 *
 * Headers going up are an allowlist (forward_header_allowed): whatever a
 * client sends beyond Content-Type and Accept — its own credentials,
 * cookies, hop-by-hop headers, X-Forwarded-For and the like — never
 * reaches the upstream, so nothing can leak a caller's secrets or our
 * internal addresses by accident. This file sets the Authorization header
 * from a token it is handed and never logs it. */
#include "forward.h"
#include "log.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>

struct fwd {
	CURL *easy;
	struct upstream *u;          /* while the transfer runs */
	struct upstream *pool;       /* where the easy handle goes back */
	struct curl_slist *hdrs;
	struct evbuffer *body;
	char content_type[128];
	int retry_after;
	long status;
	CURLcode rc;
	double ms;
	fwd_done_fn done;
	void *arg;
};

static const char *const fwd_allowed[] = { "Content-Type", "Accept", "Accept-Language" };

bool forward_header_allowed(const char *name)
{
	for (size_t i = 0; i < sizeof fwd_allowed / sizeof *fwd_allowed; i++)
		if (strcasecmp(name, fwd_allowed[i]) == 0)
			return true;
	return false;
}

int forward_error_status(CURLcode rc)
{
	return rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
}

const char *forward_error_text(CURLcode rc)
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
	default:
		return "the upstream exchange failed";
	}
}

static size_t fwd_write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	if (evbuffer_add(f->body, ptr, size * n) < 0)
		return 0;
	return size * n;
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
		f->content_type[0] = 0;
		f->retry_after = -1;
	} else if (fwd_header_is(line, len, "Content-Type", &v, &vlen)) {
		if (vlen >= sizeof f->content_type)
			vlen = sizeof f->content_type - 1;
		memcpy(f->content_type, v, vlen);
		f->content_type[vlen] = 0;
	} else {
		int s = forward_parse_retry_after(line, len);
		if (s >= 0)
			f->retry_after = s;
	}
	return len;
}

int forward_parse_retry_after(const char *line, size_t len)
{
	const char *v;
	size_t vlen;
	char tmp[16];
	if (!fwd_header_is(line, len, "Retry-After", &v, &vlen) || vlen == 0 || vlen >= sizeof tmp)
		return -1;
	memcpy(tmp, v, vlen);
	tmp[vlen] = 0;
	char *e;
	long s = strtol(tmp, &e, 10);
	return *e == 0 && s >= 0 && s < 86400 ? (int)s : -1;
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

static int fwd_build_headers(struct fwd *f, const struct fwd_params *p)
{
	char line[1024];
	if (p->client_headers) {
		const struct evkeyval *kv;
		TAILQ_FOREACH(kv, p->client_headers, next) {
			if (!forward_header_allowed(kv->key))
				continue;
			snprintf(line, sizeof line, "%s: %s", kv->key, kv->value);
			if (fwd_add_header(f, line) < 0)
				return -1;
		}
	} else if (p->content_type) {
		snprintf(line, sizeof line, "Content-Type: %s", p->content_type);
		if (fwd_add_header(f, line) < 0)
			return -1;
	}
	if (p->request_id) {
		snprintf(line, sizeof line, "X-Request-Id: %s", p->request_id);
		if (fwd_add_header(f, line) < 0)
			return -1;
	}
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

struct fwd *forward_start(struct upstream *u, const struct fwd_params *p, fwd_done_fn done, void *arg)
{
	struct fwd *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->done = done;
	f->arg = arg;
	f->retry_after = -1;
	f->body = evbuffer_new();
	f->pool = u;
	f->easy = upstream_easy_get(u);
	if (!f->body || !f->easy || fwd_build_headers(f, p) < 0)
		goto fail;
	CURL *e = f->easy;
	fwd_set_common(e, p->cfg);
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwd_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
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
	if (upstream_start(u, e, fwd_done_cb, f) < 0)
		goto fail;
	f->u = u;
	return f;
fail:
	forward_free(f);
	return NULL;
}

void forward_cancel(struct fwd *f)
{
	if (!f)
		return;
	if (f->u)
		upstream_cancel(f->u, f->easy);
	f->u = NULL;
	forward_free(f);
}

void forward_free(struct fwd *f)
{
	if (!f)
		return;
	if (f->easy)
		upstream_easy_put(f->pool, f->easy);
	/* The header list holds a copy of the token: wipe it before free. */
	for (struct curl_slist *h = f->hdrs; h; h = h->next)
		if (strncasecmp(h->data, "Authorization:", 14) == 0)
			OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(f->hdrs);
	if (f->body)
		evbuffer_free(f->body);
	free(f);
}

CURLcode forward_result(const struct fwd *f) { return f->rc; }
long forward_status(const struct fwd *f) { return f->status; }
const char *forward_content_type(const struct fwd *f) { return f->content_type; }
int forward_retry_after(const struct fwd *f) { return f->retry_after; }
struct evbuffer *forward_body(struct fwd *f) { return f->body; }
double forward_ms(const struct fwd *f) { return f->ms; }
