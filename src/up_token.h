/* up_token.h: the upstream access token, shared by every worker.
 *
 * One token manager runs on the main thread's event base with its own
 * upstream handle. Workers ask for the current token with up_token_acquire();
 * when none is usable they leave a waiter and are woken on their own event
 * base (event_base_once) when a token arrives. At most one token request is
 * in flight at any time. */
#ifndef FG_UP_TOKEN_H
#define FG_UP_TOKEN_H
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include "conf.h"
#include "conf_secret.h"

struct token_waiter;
typedef void (*token_ready_fn)(void *arg);

struct token_stats {
	bool valid;
	double expires_in_s;      /* until the token is no longer sent; 0 when none */
	uint64_t refreshes;       /* successful fetches */
	uint64_t failures;        /* failed fetches, both kinds */
	uint64_t fail_rejected;   /* credentials rejected: fix the configuration */
	uint64_t fail_transient;  /* 5xx, time-outs, unusable answers */
	uint64_t rejected_by_upstream; /* tokens marked bad after an upstream 401 */
	uint64_t generation;
	double last_refresh_ago_s; /* since the last successful fetch; -1 before the first */
};

/* Starts the manager on BASE (the main loop) and fetches the first token. */
int up_token_start(struct event_base *base, struct fg_config *cfg);
/* A new configuration: fetch a fresh token when the credentials changed. */
void up_token_config_changed(struct fg_config *cfg);
void up_token_stop(void);

/* When a token is usable: copies it to OUT (caller wipes), stores its
 * generation and returns true. Otherwise, when BASE/CB are given, leaves a
 * waiter in *W that calls CB(ARG) on BASE once a token arrives, makes sure a
 * fetch is under way, and returns false. */
bool up_token_acquire(struct fg_secret *out, uint64_t *gen,
		   struct event_base *base, token_ready_fn cb, void *arg,
		   struct token_waiter **w);
/* Withdraws a waiter that has not fired (same thread that made it). */
void up_token_wait_cancel(struct token_waiter *w);
/* The upstream answered 401 to a request sent with token GEN: when GEN is
 * still current, it is marked bad and a new one fetched (once). */
void up_token_reject(uint64_t gen);

/* True when a usable token is held; otherwise REASON says why. */
bool up_token_ready(char *reason, size_t len);
void up_token_get_stats(struct token_stats *out);
/* Parses the token endpoint's 200 answer BODY: the access_token into OUT
 * and its LIFETIME in seconds (expires_in, cut to the JWT's exp when that
 * is earlier). -1 with ERR filled (never with the token) when unusable.
 * Exposed for tests/fuzz/fuzz_token.c. */
int up_token_parse_answer(const char *body, size_t len, struct fg_secret *out, double *lifetime,
		       char *err, size_t errlen);
#endif
