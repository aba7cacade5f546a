/* sim_webhook.c: the simulator's webhook deliveries (docs/simulator.md
 * "Webhooks"): with --webhook-url, every status change of a vehicle
 * (a create, pending -> approved after --pending-delay, a delete's
 * revoking and then revoked, a /_sim/vehicles update) is POSTed there as
 * High Mobility does: X-HM-Event fleet_clearance_changed, a unique
 * X-HM-Delivery, X-HM-Signature-256 "sha256=" + hex HMAC-SHA256 of the
 * raw body under --webhook-secret (and the deprecated SHA-1
 * X-HM-Signature), body {"vehicle":{"vin"},"event":{"action","detail"}}.
 * A delivery that gets no 2xx (connection failure or 5xx) is retried with
 * the same id, three times a second apart.
 *
 * Transitions are otherwise settled lazily, when a vehicle is read; with
 * a webhook URL a 50 ms timer settles them when they come due, so the
 * delivery leaves when the change happens.
 *
 * Faults, from POST /_sim/webhooks: duplicate (the next N deliveries are
 * sent twice, same id), bad_signature (the next N are signed with a wrong
 * key), lose (the next N are dropped), reorder (the next N are held and
 * sent newest first), burst (the next delivery is sent N times, each with
 * its own id), replay (the K-th latest delivery sent again now, with a new
 * id unless same_id), send (a delivery of one's own: event, vin, status). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/hmac.h>

#define WH_RECENT 64
#define WH_RETRIES 3

struct wh_delivery {
	char *id;
	char *event;
	char *body;
	char vin[18];
	char status[16];
	int bad_sig;
	int tries;
	int code;            /* last answer; 0: none yet */
};

static struct {
	int on;
	struct evhttp_uri *uri;
	struct evhttp_connection *conn;
	struct event *settle_ev;
	struct wh_delivery *recent[WH_RECENT];   /* ring, for replay */
	size_t rhead, rlen;
	struct wh_delivery *held[256];           /* reorder */
	size_t nheld;
	long f_duplicate, f_bad_sig, f_lose, f_reorder, f_burst;
	uint64_t sent, lost, failed, retried, by_code[6];   /* 1xx..5xx, index 0: no answer */
} wh;

static void wh_free(struct wh_delivery *d)
{
	if (!d)
		return;
	free(d->id);
	free(d->event);
	free(d->body);
	free(d);
}

static void wh_hex(const unsigned char *in, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void wh_send(struct wh_delivery *d);

struct wh_retry {
	struct wh_delivery *d;
};

static void wh_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	wh_send(arg);
}

static void wh_done(struct evhttp_request *req, void *arg)
{
	struct wh_delivery *d = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	d->code = code;
	wh.by_code[code >= 100 && code < 600 ? code / 100 : 0]++;
	if ((code == 0 || code >= 500) && d->tries < WH_RETRIES + 1) {
		struct timeval tv = { 1, 0 };
		wh.retried++;
		if (event_base_once(sim_g.base, -1, EV_TIMEOUT, wh_retry_cb, d, &tv) == 0)
			return;
	}
	if (code < 200 || code > 299)
		wh.failed++;
	/* D stays in the ring of recent deliveries (freed from there). */
}

static void wh_send(struct wh_delivery *d)
{
	const char *key = sim_g.cfg.webhook_secret ? sim_g.cfg.webhook_secret : "";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 8], hdr[2 * EVP_MAX_MD_SIZE + 16];
	size_t blen = strlen(d->body);
	struct evhttp_request *req;
	const char *path = evhttp_uri_get_path(wh.uri);

	d->tries++;
	if (d->bad_sig)
		key = "not-the-webhook-secret";
	req = evhttp_request_new(wh_done, d);
	if (!req)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char host[300];
	snprintf(host, sizeof host, "%s:%d", evhttp_uri_get_host(wh.uri), evhttp_uri_get_port(wh.uri));
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "User-Agent", "fleetgate-sim-webhook");
	evhttp_add_header(h, "X-HM-Event", d->event);
	evhttp_add_header(h, "X-HM-Delivery", d->id);
	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)d->body, blen, mac, &maclen);
	wh_hex(mac, maclen, hex);
	snprintf(hdr, sizeof hdr, "sha256=%s", hex);
	evhttp_add_header(h, "X-HM-Signature-256", hdr);
	HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)d->body, blen, mac, &maclen);
	wh_hex(mac, maclen, hex);
	snprintf(hdr, sizeof hdr, "sha1=%s", hex);
	evhttp_add_header(h, "X-HM-Signature", hdr);
	evbuffer_add(evhttp_request_get_output_buffer(req), d->body, blen);
	if (evhttp_make_request(wh.conn, req, EVHTTP_REQ_POST, path && *path ? path : "/") == 0)
		wh.sent++;
}

static void wh_remember(struct wh_delivery *d)
{
	size_t slot = (wh.rhead + wh.rlen) % WH_RECENT;
	if (wh.rlen == WH_RECENT) {
		wh_free(wh.recent[wh.rhead]);
		wh.recent[wh.rhead] = NULL;
		wh.rhead = (wh.rhead + 1) % WH_RECENT;
		slot = (wh.rhead + wh.rlen - 1) % WH_RECENT;
	} else {
		wh.rlen++;
	}
	wh.recent[slot] = d;
}

static struct wh_delivery *wh_new(const char *event, const char *vin, const char *status, const char *prev)
{
	struct wh_delivery *d = calloc(1, sizeof *d);
	json_t *body;
	if (!d)
		return NULL;
	d->id = sim_random_id();
	d->event = strdup(event);
	snprintf(d->vin, sizeof d->vin, "%s", vin ? vin : "");
	snprintf(d->status, sizeof d->status, "%s", status ? status : "");
	if (!strcmp(event, "ping"))
		body = json_pack("{s:s}", "zen", "fleetgate-sim webhook configured");
	else
		body = json_pack("{s:{s:s},s:{s:s,s:{s:s?}}}", "vehicle", "vin", d->vin, "event", "action", d->status,
				 "detail", "previous", prev);
	d->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!d->id || !d->event || !d->body) {
		wh_free(d);
		return NULL;
	}
	return d;
}

/* A delivery copied for a burst or a replay, with a new id unless SAME_ID. */
static struct wh_delivery *wh_copy(const struct wh_delivery *o, int same_id)
{
	struct wh_delivery *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	*d = *o;
	d->id = same_id ? strdup(o->id) : sim_random_id();
	d->event = strdup(o->event);
	d->body = strdup(o->body);
	d->tries = d->code = d->bad_sig = 0;
	if (!d->id || !d->event || !d->body) {
		wh_free(d);
		return NULL;
	}
	return d;
}

/* The faults in force decide what becomes of D. */
static void wh_dispatch(struct wh_delivery *d)
{
	wh_remember(d);
	if (wh.f_lose > 0) {
		wh.f_lose--;
		wh.lost++;
		return;
	}
	if (wh.f_bad_sig > 0) {
		wh.f_bad_sig--;
		d->bad_sig = 1;
	}
	if (wh.f_reorder > 0) {
		wh.held[wh.nheld++] = d;
		if (--wh.f_reorder == 0 || wh.nheld == sizeof wh.held / sizeof *wh.held) {
			while (wh.nheld > 0)
				wh_send(wh.held[--wh.nheld]);
			wh.f_reorder = 0;
		}
		return;
	}
	wh_send(d);
	if (wh.f_duplicate > 0) {
		wh.f_duplicate--;
		struct wh_delivery *c = wh_copy(d, 1);
		if (c) {
			wh_remember(c);
			wh_send(c);
		}
	}
	for (; wh.f_burst > 1; wh.f_burst--) {
		struct wh_delivery *c = wh_copy(d, 0);
		if (!c)
			break;
		wh_remember(c);
		wh_send(c);
	}
	wh.f_burst = 0;
}

void sim_webhook_changed(const char *vin, const char *prev, const char *status)
{
	if (!wh.on || (prev && !strcmp(prev, status)))
		return;
	struct wh_delivery *d = wh_new("fleet_clearance_changed", vin, status, prev);
	if (d)
		wh_dispatch(d);
}

static void wh_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	sim_fleet_settle_due();
}

int sim_webhook_start(void)
{
	const char *url = sim_g.cfg.webhook_url;
	if (!url)
		return 0;
	wh.uri = evhttp_uri_parse(url);
	const char *host = wh.uri ? evhttp_uri_get_host(wh.uri) : NULL;
	const char *scheme = wh.uri ? evhttp_uri_get_scheme(wh.uri) : NULL;
	if (!host || !scheme || strcmp(scheme, "http") != 0 || evhttp_uri_get_port(wh.uri) <= 0) {
		fprintf(stderr, "fleetgate-sim: --webhook-url must be http://HOST:PORT/PATH\n");
		return -1;
	}
	wh.conn = evhttp_connection_base_new(sim_g.base, NULL, host, (ev_uint16_t)evhttp_uri_get_port(wh.uri));
	wh.settle_ev = event_new(sim_g.base, -1, EV_PERSIST, wh_settle_cb, NULL);
	struct timeval tv = { 0, 50000 };
	if (!wh.conn || !wh.settle_ev || event_add(wh.settle_ev, &tv) != 0)
		return -1;
	evhttp_connection_set_timeout(wh.conn, 5);
	wh.on = 1;
	return 0;
}

void sim_webhook_clear(void)
{
	wh.f_duplicate = wh.f_bad_sig = wh.f_lose = wh.f_reorder = wh.f_burst = 0;
	while (wh.nheld > 0)
		wh_send(wh.held[--wh.nheld]);
	wh.sent = wh.lost = wh.failed = wh.retried = 0;
	memset(wh.by_code, 0, sizeof wh.by_code);
}

void sim_webhook_stop(void)
{
	wh.on = 0;
	if (wh.settle_ev)
		event_free(wh.settle_ev);
	if (wh.conn)
		evhttp_connection_free(wh.conn);   /* pending requests are cancelled */
	if (wh.uri)
		evhttp_uri_free(wh.uri);
	for (size_t i = 0; i < WH_RECENT; i++)
		wh_free(wh.recent[i]);
	memset(&wh, 0, sizeof wh);
}

static json_t *wh_dump(void)
{
	json_t *recent = json_array();
	for (size_t i = 0; i < wh.rlen; i++) {
		const struct wh_delivery *d = wh.recent[(wh.rhead + wh.rlen - 1 - i) % WH_RECENT];
		json_array_append_new(recent, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:b}", "id", d->id, "event", d->event,
			"vin", d->vin, "status", d->status, "code", d->code, "tries", d->tries, "bad_signature", d->bad_sig));
	}
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I},s:{s:i,s:i,s:i,s:i,s:i},s:i,s:o}",
		"enabled", wh.on, "sent", (json_int_t)wh.sent, "lost", (json_int_t)wh.lost,
		"failed", (json_int_t)wh.failed, "retried", (json_int_t)wh.retried,
		"answers", "2xx", (json_int_t)wh.by_code[2], "4xx", (json_int_t)wh.by_code[4],
		"5xx", (json_int_t)wh.by_code[5], "none", (json_int_t)wh.by_code[0],
		"faults", "duplicate", (int)wh.f_duplicate, "bad_signature", (int)wh.f_bad_sig, "lose", (int)wh.f_lose,
		"reorder", (int)wh.f_reorder, "burst", (int)wh.f_burst,
		"held", (int)wh.nheld, "recent", recent);
}

static long wh_num(json_t *j, const char *k, int *bad)
{
	json_t *v = json_object_get(j, k);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000) {
		*bad = 1;
		return 0;
	}
	return (long)json_integer_value(v);
}

/* GET: the counters and recent deliveries; DELETE: faults and counters
 * cleared; POST: faults added, a replay or a delivery of one's own. */
json_t *sim_webhook_control(enum evhttp_cmd_type m, json_t *j, const char **err)
{
	*err = NULL;
	if (m == EVHTTP_REQ_DELETE) {
		sim_webhook_clear();
		return wh_dump();
	}
	if (m != EVHTTP_REQ_POST)
		return wh_dump();
	if (!wh.on) {
		*err = "no --webhook-url was given";
		return NULL;
	}
	int bad = 0;
	long dup = wh_num(j, "duplicate", &bad), sig = wh_num(j, "bad_signature", &bad), lose = wh_num(j, "lose", &bad);
	long reorder = wh_num(j, "reorder", &bad), burst = wh_num(j, "burst", &bad), replay = wh_num(j, "replay", &bad);
	json_t *send = json_object_get(j, "send");
	if (bad || (send && !json_is_object(send)) || reorder > 256 || (replay && (size_t)replay > wh.rlen)) {
		*err = "duplicate, bad_signature, lose, reorder (<= 256), burst and replay (<= deliveries kept) are "
		       "counts; send is an object {event, vin, status}";
		return NULL;
	}
	wh.f_duplicate += dup;
	wh.f_bad_sig += sig;
	wh.f_lose += lose;
	wh.f_reorder += reorder;
	wh.f_burst += burst;
	if (replay) {
		const struct wh_delivery *o = wh.recent[(wh.rhead + wh.rlen - (size_t)replay) % WH_RECENT];
		struct wh_delivery *d = wh_copy(o, json_is_true(json_object_get(j, "same_id")));
		if (d)
			wh_dispatch(d);
	}
	if (send) {
		const char *ev = json_string_value(json_object_get(send, "event"));
		const char *vin = json_string_value(json_object_get(send, "vin"));
		const char *st = json_string_value(json_object_get(send, "status"));
		struct wh_delivery *d = wh_new(ev ? ev : "fleet_clearance_changed", vin, st, NULL);
		if (d)
			wh_dispatch(d);
	}
	return wh_dump();
}
