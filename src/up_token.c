/* up_token.c: the OAuth2 client-credentials token (docs/tokens.md).
 *
 * Owns: the current token, its timings on the monotonic clock, the refresh
 * timer, back-off after failures, the single fetch in flight, and the list
 * of requests waiting for a token. All of it sits behind one mutex; the
 * fetch itself runs on the main event base, so workers only take the lock
 * long enough to copy the token or leave a waiter.
 *
 * The endpoint is trusted with credentials, not with our process: an
 * answer is taken only when its token is RFC 6750 token characters (a CR
 * or LF would split every upstream request it rides on), its lifetime is
 * clamped to TOKEN_LIFETIME_MIN..MAX, and token requests are at least
 * TOKEN_FETCH_GAP apart whatever the answers say.
 *
 * Never: log, count or return a token or a client secret anywhere but the
 * Authorization header and the token request body. Error texts carry the
 * endpoint's status and error code only. */
#include "up_token.h"
#include "clock.h"
#include "up_forward.h"
#include "up_jwt.h"
#include "log.h"
#include "waiter.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/queue.h>

struct token_waiter {
	struct waiter wt;        /* first: waiter.c frees the whole */
	TAILQ_ENTRY(token_waiter) next;
	token_ready_fn cb;
	void *arg;
};
TAILQ_HEAD(token_waitq, token_waiter);

enum token_fail { TOKEN_FAIL_NONE, TOKEN_FAIL_REJECTED, TOKEN_FAIL_TRANSIENT };

/* A lifetime outside these is an answer we do not believe: below a second
 * the refresh timer would spin; above a day nobody rotates a credential,
 * and 1e300 does not fit the timer at all. */
#define TOKEN_LIFETIME_MIN 1.0
#define TOKEN_LIFETIME_MAX 86400.0
/* Seconds between the starts of two token requests, at least: the last
 * guard against any answer, timer or kick that would hammer the endpoint. */
#define TOKEN_FETCH_GAP 1.0
/* A token answer is a few hundred bytes; nothing needs more than this. */
#define TOKEN_ANSWER_MAX 65536

static struct {
	pthread_mutex_t mu;
	struct event_base *base;
	struct upstream *up;
	struct event *timer;         /* next refresh or retry */
	struct event *kick;          /* activated from any thread: fetch now */
	struct fg_config *cfg;       /* the configuration fetches use */

	struct fg_secret tok;
	uint64_t gen;                /* 0: never had one */
	double usable_until;         /* monotonic: last moment it may be sent */
	double lifetime;
	bool bad;                    /* rejected by the upstream */
	double last_ok_at;           /* monotonic: the last successful fetch */

	bool fetching;
	double last_fetch;           /* monotonic start of the last request; 0: none */
	struct fwd *inflight;
	char *body;                  /* request body, wiped after the fetch */
	size_t body_len;
	unsigned failures;           /* consecutive */
	enum token_fail last_fail;
	char last_error[256];

	struct token_waitq waiters;
	struct token_stats st;
} tk = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Uniform in [lo, hi). */
static double up_token_jitter(double lo, double hi)
{
	uint32_t r = 0;
	RAND_bytes((unsigned char *)&r, sizeof r);
	return lo + (hi - lo) * ((double)r / 4294967296.0);
}

static bool up_token_usable_locked(double now)
{
	return !conf_secret_empty(&tk.tok) && !tk.bad && now < tk.usable_until;
}

/* ---- waking waiters ----------------------------------------------------- */

static void up_token_waiter_run(struct waiter *wt)
{
	struct token_waiter *w = (struct token_waiter *)wt;
	w->cb(w->arg);
}

/* Lock held: every waiter leaves the list, onto Q, to be woken once the
 * lock is released. */
static void up_token_take_all_locked(struct token_waitq *q)
{
	struct token_waiter *w;
	while ((w = TAILQ_FIRST(&tk.waiters))) {
		TAILQ_REMOVE(&tk.waiters, w, next);
		waiter_take_locked(&w->wt);
		TAILQ_INSERT_TAIL(q, w, next);
	}
}

/* Lock released: each callback runs on its waiter's own thread. */
static void up_token_wake(struct token_waitq *q)
{
	struct token_waiter *w;
	while ((w = TAILQ_FIRST(q))) {
		TAILQ_REMOVE(q, w, next);
		waiter_wake(&w->wt);
	}
}

void up_token_wait_cancel(struct token_waiter *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&tk.mu);
	if (waiter_cancel_locked(&w->wt)) {
		TAILQ_REMOVE(&tk.waiters, w, next);
		free(w);
	}
	pthread_mutex_unlock(&tk.mu);
}

/* ---- the fetch ---------------------------------------------------------- */

static void up_token_schedule(double delay)
{
	if (!(delay >= 0))           /* also NaN */
		delay = 0;
	if (delay > TOKEN_LIFETIME_MAX)
		delay = TOKEN_LIFETIME_MAX;   /* the conversion below must fit */
	struct timeval tv = clock_timeval(delay);
	evtimer_add(tk.timer, &tv);
}

static void up_token_body_wipe(void)
{
	if (tk.body) {
		OPENSSL_cleanse(tk.body, tk.body_len);
		free(tk.body);
	}
	tk.body = NULL;
	tk.body_len = 0;
}

/* The request body of §5, with a client secret or a signed assertion. */
static int up_token_build_body(const struct fg_config *c, char *err, size_t errlen)
{
	json_t *o = json_object();
	char *assertion = NULL;
	json_t *secret_v = NULL;
	int rc = -1;
	json_object_set_new(o, "grant_type", json_string("client_credentials"));
	json_object_set_new(o, "client_id", json_string(c->client_id));
	if (c->private_key) {
		assertion = up_jwt_es256_assertion(c->private_key, c->key_id, c->audience,
						time(NULL), err, errlen);
		if (!assertion)
			goto out;
		json_object_set_new(o, "client_assertion_type",
				    json_string("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
		json_object_set_new(o, "client_assertion", json_string(assertion));
	} else {
		secret_v = json_stringn(conf_secret_data(&c->client_secret), c->client_secret.len);
		json_object_set(o, "client_secret", secret_v);
	}
	if (c->scope)
		json_object_set_new(o, "scope", json_string(c->scope));
	tk.body = json_dumps(o, JSON_COMPACT);
	tk.body_len = tk.body ? strlen(tk.body) : 0;
	rc = tk.body ? 0 : -1;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
out:
	/* jansson keeps its own copy of the secret: wipe it before it is freed. */
	if (secret_v) {
		OPENSSL_cleanse((char *)json_string_value(secret_v), json_string_length(secret_v));
		json_decref(secret_v);
	}
	if (assertion) {
		OPENSSL_cleanse(assertion, strlen(assertion));
		free(assertion);
	}
	json_decref(o);
	return rc;
}

static void up_token_fetch_done(void *arg, struct fwd *f);

static void up_token_fetch(void)
{
	char err[FG_ERR_LEN];
	if (tk.fetching || !tk.cfg)
		return;
	evtimer_del(tk.timer);
	double now = clock_now();
	if (tk.last_fetch > 0 && now - tk.last_fetch < TOKEN_FETCH_GAP) {
		up_token_schedule(tk.last_fetch + TOKEN_FETCH_GAP - now);
		return;
	}
	tk.last_fetch = now;
	if (up_token_build_body(tk.cfg, err, sizeof err) < 0) {
		log_error("token: cannot build the token request: %s", err);
		tk.st.failures++;
		tk.st.fail_rejected++;
		tk.failures++;
		up_token_schedule(60);
		return;
	}
	struct fwd_params p = {
		.method = "POST", .url = tk.cfg->token_url,
		.content_type = "application/json",
		.body = tk.body, .body_len = tk.body_len, .cfg = tk.cfg,
		.max_bytes = TOKEN_ANSWER_MAX,
	};
	tk.inflight = up_forward_start(tk.up, &p, up_token_fetch_done, NULL);
	if (!tk.inflight) {
		up_token_body_wipe();
		log_error("token: cannot start the token request");
		up_token_schedule(1);
		return;
	}
	tk.fetching = true;
	log_debug("token: requesting a token from %s", tk.cfg->token_url);
}

/* RFC 6750 b64token, the only thing that may follow "Bearer ":
 * 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
static bool up_token_chars_ok(const char *s, size_t len)
{
	size_t i = 0;
	for (; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
			break;
	}
	if (i == 0)
		return false;
	while (i < len && s[i] == '=')
		i++;
	return i == len;
}

/* Reads access_token and expires_in; the lifetime is cut to the JWT's exp
 * when the token is a JWT expiring earlier, then clamped. */
int up_token_parse_answer(const char *body, size_t len, struct fg_secret *out, double *lifetime,
		       char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, 0, &je);
	int rc = -1;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "the answer is not a JSON object");
		goto out;
	}
	json_t *at = json_object_get(o, "access_token");
	json_t *ei = json_object_get(o, "expires_in");
	if (!json_is_string(at) || json_string_length(at) == 0 || json_string_length(at) > 8192) {
		snprintf(err, errlen, "the answer has no usable access_token");
		goto out;
	}
	if (!up_token_chars_ok(json_string_value(at), json_string_length(at))) {
		snprintf(err, errlen, "the answer's access_token has characters a bearer token may not have");
		goto out;
	}
	if (!json_is_number(ei) || json_number_value(ei) <= 0) {
		snprintf(err, errlen, "the answer has no positive expires_in");
		goto out;
	}
	*lifetime = json_number_value(ei);
	long long exp;
	if (up_jwt_peek_exp(json_string_value(at), json_string_length(at), &exp) == 0) {
		/* In double: exp comes from the endpoint, and exp - now in
		 * integers overflows for an exp near INT64_MIN. */
		double left = (double)exp - (double)time(NULL);
		if (left < TOKEN_LIFETIME_MIN) {
			snprintf(err, errlen, "the token's exp is past or less than a second away");
			goto out;
		}
		/* The earlier of the two wins; an expires_in under a second
		 * is raised to the floor below, as without a JWT. */
		if (left < *lifetime)
			*lifetime = left;
	}
	if (*lifetime < TOKEN_LIFETIME_MIN || *lifetime > TOKEN_LIFETIME_MAX) {
		double given = *lifetime;
		*lifetime = given < TOKEN_LIFETIME_MIN ? TOKEN_LIFETIME_MIN : TOKEN_LIFETIME_MAX;
		log_warn("token: the token endpoint's lifetime %g s is outside %.0f s .. %.0f s; using %.0f s",
			 given, TOKEN_LIFETIME_MIN, TOKEN_LIFETIME_MAX, *lifetime);
	}
	conf_secret_set(out, json_string_value(at), json_string_length(at));
	OPENSSL_cleanse((char *)json_string_value(at), json_string_length(at));
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* Names the endpoint's OAuth error code when it gave one (never a secret). */
static void up_token_error_code(struct fwd *f, char *code, size_t len)
{
	struct evbuffer *b = up_forward_body(f);
	json_t *o = json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, NULL);
	json_t *e = json_object_get(o, "error");
	snprintf(code, len, "%s", json_is_string(e) ? json_string_value(e) : "");
	for (char *p = code; *p; p++)
		if ((*p < 'a' || *p > 'z') && *p != '_')
			*p = '?';
	json_decref(o);
}

static void up_token_failed(enum token_fail kind, const char *what)
{
	tk.failures++;
	tk.st.failures++;
	tk.last_fail = kind;
	snprintf(tk.last_error, sizeof tk.last_error, "%s", what);
	unsigned shift = tk.failures > 7 ? 6 : tk.failures - 1;
	double delay = (double)(1u << shift);
	if (delay > 60)
		delay = 60;
	delay *= up_token_jitter(0.8, 1.2);
	if (delay > 60)
		delay = 60;
	if (kind == TOKEN_FAIL_REJECTED) {
		tk.st.fail_rejected++;
		log_error("token: the token endpoint rejected the gateway's credentials (%s); "
			  "check [oauth] client_id and client_secret / private_key_file; retrying in %.0f s",
			  what, delay);
	} else {
		tk.st.fail_transient++;
		log_warn("token: token request failed (%s); retrying in %.1f s", what, delay);
	}
	up_token_schedule(delay);
}

static void up_token_installed(struct fg_secret *t, double lifetime, double now)
{
	conf_secret_wipe(&tk.tok);
	tk.tok = *t;
	tk.gen++;
	tk.bad = false;
	tk.lifetime = lifetime;
	double margin = lifetime / 10 < 5 ? lifetime / 10 : 5;
	tk.usable_until = now + lifetime - margin;
	tk.failures = 0;
	tk.last_fail = TOKEN_FAIL_NONE;
	tk.last_error[0] = 0;
	tk.st.refreshes++;
	tk.last_ok_at = now;

	double refresh;
	int rb = tk.cfg ? tk.cfg->refresh_before : -1;
	if (rb >= 0)
		refresh = lifetime - rb;
	else
		refresh = lifetime / 2 * up_token_jitter(0.95, 1.05);
	/* A refresh_before longer than the lifetime must not spin. */
	if (refresh < lifetime / 10)
		refresh = lifetime / 10;
	up_token_schedule(refresh);
	log_info("token: new access token, lifetime %.0f s, next refresh in %.1f s", lifetime, refresh);
}

static void up_token_fetch_done(void *arg, struct fwd *f)
{
	char err[FG_ERR_LEN];
	struct fg_secret t = { 0 };
	double lifetime = 0;
	double now = clock_now();
	CURLcode rc = up_forward_result(f);
	long status = up_forward_status(f);

	struct token_waitq woken = TAILQ_HEAD_INITIALIZER(woken);
	pthread_mutex_lock(&tk.mu);
	tk.fetching = false;
	tk.inflight = NULL;
	up_token_body_wipe();
	if (rc != CURLE_OK) {
		snprintf(err, sizeof err, "%s (%s): %s", up_forward_error_text(rc), up_forward_peer(f), curl_easy_strerror(rc));
		up_token_failed(TOKEN_FAIL_TRANSIENT, err);
	} else if (status == 400 || status == 401 || status == 403) {
		char code[64], what[128];
		up_token_error_code(f, code, sizeof code);
		snprintf(what, sizeof what, "HTTP %ld%s%s", status, code[0] ? " " : "", code);
		up_token_failed(TOKEN_FAIL_REJECTED, what);
	} else if (status != 200) {
		snprintf(err, sizeof err, "HTTP %ld", status);
		up_token_failed(TOKEN_FAIL_TRANSIENT, err);
	} else if (up_token_parse_answer((const char *)evbuffer_pullup(up_forward_body(f), -1),
				      evbuffer_get_length(up_forward_body(f)), &t, &lifetime, err, sizeof err) < 0) {
		up_token_failed(TOKEN_FAIL_TRANSIENT, err);
	} else {
		up_token_installed(&t, lifetime, now);
		up_token_take_all_locked(&woken);
	}
	pthread_mutex_unlock(&tk.mu);
	up_token_wake(&woken);
	up_forward_free(f);
}

static void up_token_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	pthread_mutex_lock(&tk.mu);
	up_token_fetch();
	pthread_mutex_unlock(&tk.mu);
}

/* From any thread: a fetch now, unless one is running. */
static void up_token_kick_locked(void)
{
	if (!tk.fetching && tk.kick)
		event_active(tk.kick, EV_TIMEOUT, 0);
}

/* ---- public API --------------------------------------------------------- */

int up_token_start(struct event_base *base, struct fg_config *cfg)
{
	TAILQ_INIT(&tk.waiters);
	tk.base = base;
	tk.up = up_multi_new(base, 4);
	tk.timer = evtimer_new(base, up_token_timer_cb, NULL);
	tk.kick = event_new(base, -1, 0, up_token_timer_cb, NULL);
	if (!tk.up || !tk.timer || !tk.kick)
		return -1;
	pthread_mutex_lock(&tk.mu);
	tk.cfg = conf_ref(cfg);
	up_token_fetch();
	pthread_mutex_unlock(&tk.mu);
	return 0;
}

static bool up_token_creds_differ(const struct fg_config *a, const struct fg_config *b)
{
	return strcmp(a->token_url, b->token_url) != 0 ||
	       strcmp(a->client_id, b->client_id) != 0 ||
	       !conf_secret_equal(&a->client_secret, &b->client_secret) ||
	       (a->private_key_file == NULL) != (b->private_key_file == NULL) ||
	       (a->private_key_file && strcmp(a->private_key_file, b->private_key_file) != 0) ||
	       (a->key_id == NULL) != (b->key_id == NULL) ||
	       (a->key_id && strcmp(a->key_id, b->key_id) != 0) ||
	       (a->scope == NULL) != (b->scope == NULL) ||
	       (a->scope && strcmp(a->scope, b->scope) != 0);
}

void up_token_config_changed(struct fg_config *cfg)
{
	pthread_mutex_lock(&tk.mu);
	struct fg_config *old = tk.cfg;
	tk.cfg = conf_ref(cfg);
	if (old && up_token_creds_differ(old, cfg)) {
		log_info("token: credentials changed, fetching a new token");
		tk.failures = 0;
		up_token_kick_locked();
	}
	pthread_mutex_unlock(&tk.mu);
	if (old)
		conf_unref(old);
}

void up_token_stop(void)
{
	pthread_mutex_lock(&tk.mu);
	if (tk.inflight)
		up_forward_cancel(tk.inflight);
	tk.inflight = NULL;
	tk.fetching = false;
	up_token_body_wipe();
	struct token_waiter *w;
	while ((w = TAILQ_FIRST(&tk.waiters))) {
		TAILQ_REMOVE(&tk.waiters, w, next);
		free(w);
	}
	conf_secret_wipe(&tk.tok);
	if (tk.timer)
		event_free(tk.timer);
	if (tk.kick)
		event_free(tk.kick);
	tk.timer = tk.kick = NULL;
	up_multi_free(tk.up);
	tk.up = NULL;
	if (tk.cfg)
		conf_unref(tk.cfg);
	tk.cfg = NULL;
	pthread_mutex_unlock(&tk.mu);
}

bool up_token_acquire(struct fg_secret *out, uint64_t *gen,
		   struct event_base *base, token_ready_fn cb, void *arg,
		   struct token_waiter **w)
{
	bool ok = false;
	pthread_mutex_lock(&tk.mu);
	if (up_token_usable_locked(clock_now())) {
		conf_secret_copy(out, &tk.tok);
		*gen = tk.gen;
		ok = true;
	} else if (cb) {
		struct token_waiter *nw = waiter_new(sizeof *nw, &tk.mu, base, up_token_waiter_run, NULL);
		if (nw) {
			nw->cb = cb;
			nw->arg = arg;
			TAILQ_INSERT_TAIL(&tk.waiters, nw, next);
		}
		*w = nw;
		/* An expired token with a back-off timer pending still waits for
		 * the timer: hammering a failing endpoint helps nobody. */
		if (tk.failures == 0)
			up_token_kick_locked();
	}
	pthread_mutex_unlock(&tk.mu);
	return ok;
}

void up_token_reject(uint64_t gen)
{
	pthread_mutex_lock(&tk.mu);
	if (gen == tk.gen && !tk.bad && !conf_secret_empty(&tk.tok)) {
		tk.bad = true;
		tk.st.rejected_by_upstream++;
		log_warn("token: the upstream answered 401 to the current token; fetching a new one");
		up_token_kick_locked();
	}
	pthread_mutex_unlock(&tk.mu);
}

bool up_token_ready(char *reason, size_t len)
{
	pthread_mutex_lock(&tk.mu);
	bool ok = up_token_usable_locked(clock_now());
	if (!ok) {
		if (tk.last_error[0])
			snprintf(reason, len, "no valid upstream token: %s", tk.last_error);
		else if (tk.gen == 0)
			snprintf(reason, len, "no upstream token yet");
		else
			snprintf(reason, len, "upstream token expired or rejected; refreshing");
	}
	pthread_mutex_unlock(&tk.mu);
	return ok;
}

void up_token_get_stats(struct token_stats *out)
{
	pthread_mutex_lock(&tk.mu);
	*out = tk.st;
	double now = clock_now();
	out->valid = up_token_usable_locked(now);
	out->expires_in_s = out->valid ? tk.usable_until - now : 0;
	out->generation = tk.gen;
	out->last_refresh_ago_s = tk.gen ? now - tk.last_ok_at : -1;
	pthread_mutex_unlock(&tk.mu);
}
