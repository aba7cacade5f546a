/* sim.h: shared state and seams of fleetgate-sim, the local stand-in for the
 * High Mobility Fleet Clearance and OAuth2 APIs (docs/simulator.md).
 *
 * The simulator is single-threaded: one event base, one evhttp. Every module
 * reads the one global `sim_g`, which keeps the handlers small and makes the
 * clean-up at exit (valgrind-clean) one place. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdint.h>
#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>

#define SIM_WINDOW_MS 60000	/* the single-VIN GET budget's window */
#define SIM_LOG_MAX 200		/* /_sim/requests keeps this many entries */
#define SIM_LOG_BODY_MAX 65536	/* body bytes kept per logged request */

/* Route classes: counters in /_sim/stats and the names used by
 * /_sim/faults "routes". Keep in the order of sim_route_names. */
enum sim_route {
	SIM_R_TOKEN,
	SIM_R_LIST,
	SIM_R_CREATE,
	SIM_R_GET,
	SIM_R_DELETE,
	SIM_R_CANCEL,
	SIM_R_ACCESS_TOKEN,
	SIM_R_OTHER,
	SIM_R_COUNT
};
extern const char *const sim_route_names[SIM_R_COUNT];

struct sim_config {
	char *listen_host;		/* as given, brackets stripped */
	int listen_port;
	const char *tls_cert, *tls_key;
	const char *client_id, *client_secret;
	const char *public_key_file, *key_id, *audience;
	EVP_PKEY *public_key;
	long token_lifetime;
	int jwt_tokens;
	long jwt_lifetime;      /* exp of JWT tokens; 0 = token_lifetime */
	const char *seed_file;
	long seed_count;
	const char *seed_prefix;
	long pending_delay;		/* seconds; 0 = never */
	long vin_rate;			/* per window; 0 = unlimited */
	long list_rate;			/* list reads per window; 0 = unlimited */
	const char *port_file;
	const char *webhook_url;	/* --webhook-url: deliveries go there */
	const char *webhook_secret;	/* --webhook-secret: they are signed with it */
	int verbose;
};

struct sim_stats {
	uint64_t requests[SIM_R_COUNT];
	json_t *by_status;		/* "200" -> count */
	uint64_t tokens_issued;
	uint64_t unauthorized;
	uint64_t rate_limited;
	uint64_t list_rate_limited;	/* 429s of list reads (--list-rate) */
	uint64_t in_flight;		/* gauge: received, not yet answered */
};

struct sim_faults {
	long latency_ms;
	int status;
	int close;
	unsigned routes;		/* bit per enum sim_route; 0 = all */
	long count;			/* fleet faults left; -1 = unlimited */
	int token_status;
	int token_hang;
	long token_latency_ms;
};

/* Sliding window of accepted single-VIN GETs: a ring of monotonic ms. */
struct sim_window {
	int64_t *t;
	size_t cap, head, len;
	int64_t forced_until_ms;	/* /_sim/rate_limit: 429 until then */
};

struct sim_vehicle {
	char *vin;
	char *brand;
	const char *status;		/* one of sim_statuses[] */
	json_t *tags;			/* object */
	json_t *changelog;		/* array of {timestamp,status} */
	int64_t due_ms;			/* next automatic transition; 0 = none */
};

struct sim_fleet {
	struct sim_vehicle **v;		/* insertion order = list order */
	size_t n, cap;
	json_t *index;			/* vin -> integer position in v */
};

/* An answer being built: handlers fill it, sim_http sends it. */
struct sim_reply {
	int status;
	json_t *body;			/* owned; NULL = no body */
	long retry_after;		/* > 0: Retry-After header */
	const char *allow;		/* 405: Allow header */
	int www_auth;			/* 401 on fleet routes */
};

/* What a handler sees of a request. */
struct sim_ctx {
	struct evhttp_request *req;
	enum sim_route route;
	const char *path;
	const char *query;		/* raw, may be NULL */
	const char *vin;		/* path VIN, when the route has one */
	const char *body;		/* NUL-terminated copy of the body */
	size_t body_len;
};

struct sim_pending;

struct sim {
	struct event_base *base;
	struct evhttp *http;
	struct sim_config cfg;
	struct sim_stats stats;
	struct sim_faults faults;
	struct sim_window window;
	struct sim_window list_window;	/* accepted list reads (--list-rate) */
	struct sim_fleet fleet;
	json_t *tokens;			/* token -> integer expiry (mono ms) */
	json_t *log[SIM_LOG_MAX];	/* ring of request log entries */
	size_t log_head, log_len;
	uint64_t log_seq;
	struct sim_pending *pending;	/* deferred answers, for clean-up */
};
extern struct sim sim_g;

/* sim.c */
int64_t sim_now_ms(void);
void sim_iso_time(int64_t mono_ms, char *buf, size_t len);

/* sim_http.c: dispatch, deferred answers, stats, request log. */
void sim_http_cb(struct evhttp_request *req, void *arg);
void sim_send_json(struct evhttp_request *req, int status, json_t *body);
json_t *sim_errors(const char *title, const char *detail, const char *source);
void sim_reply_error(struct sim_reply *r, int status, const char *title,
		     const char *detail, const char *source);
void sim_reply_json(struct sim_reply *r, int status, json_t *body);
const char *sim_reason(int status);
json_t *sim_parse_body(const struct sim_ctx *c, struct sim_reply *r);
void sim_pending_free_all(void);
void sim_log_clear(void);
json_t *sim_log_dump(void);
void sim_stats_clear(void);
json_t *sim_stats_dump(void);
int sim_route_index(const char *name);

/* sim_fleet.c: vehicles, clearance routes, single-VIN rate limit. */
extern const char *const sim_statuses[];
const char *sim_status_intern(const char *name);
int sim_brand_valid(const char *brand);
int sim_fleet_upsert(const char *vin, const char *status, const char *brand,
		     json_t *tags, int keep_existing);
int sim_fleet_seed_file(const char *path);
int sim_fleet_seed_count(long n, const char *prefix);
void sim_fleet_free(void);
json_t *sim_fleet_dump(void);
void sim_fleet_route(struct sim_ctx *c, struct sim_reply *r);
void sim_window_clear(void);
void sim_window_free(void);

/* sim_oauth.c: token endpoint, token store, ES256 assertions. */
void sim_oauth_route(struct sim_ctx *c, struct sim_reply *r);
int sim_token_check(struct evhttp_request *req, const char **why);
void sim_tokens_revoke(void);
EVP_PKEY *sim_load_public_key(const char *path);
char *sim_b64url(const unsigned char *in, size_t len);
unsigned char *sim_b64url_decode(const char *in, size_t len, size_t *outlen);
char *sim_random_id(void);

/* sim_control.c: the /_sim/ control surface. */
void sim_control_cb(struct evhttp_request *req, const char *path);
void sim_faults_clear(void);

/* sim_webhook.c: signed webhook deliveries of status changes. */
int sim_webhook_start(void);
void sim_webhook_stop(void);
void sim_webhook_clear(void);
void sim_webhook_changed(const char *vin, const char *prev, const char *status);
json_t *sim_webhook_control(enum evhttp_cmd_type m, json_t *body, const char **err);
void sim_fleet_settle_due(void);

/* sim_script.c: scripted raw answers (/_sim/script). */
void sim_script_control(struct evhttp_request *req, enum evhttp_cmd_type m);
int sim_script_answer(struct evhttp_request *req, enum sim_route route);
void sim_script_clear(void);

#endif
