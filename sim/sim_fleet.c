/* sim_fleet.c: the simulated fleet: in-memory clearances, their automatic
 * transitions (pending -> approved, revoking -> revoked, canceling ->
 * canceled after --pending-delay), the clearance routes of
 * hm-fleet-clearance-v1.yml and the sliding-window limit on single-VIN reads.
 *
 * Transitions are applied lazily whenever a vehicle is looked at, so there is
 * no timer per vehicle and a 10,000-vehicle fleet costs nothing while idle. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

const char *const sim_statuses[] = {
	"approved", "pending", "revoking", "revoked", "rejected",
	"canceling", "canceled", NULL
};

static const char *const sim_brands[] = {
	"bmw", "citroen", "ds", "mercedes-benz", "mini", "opel", "peugeot",
	"vauxhall", "jeep", "fiat", "alfaromeo", "ford", "renault", "dacia",
	"toyota", "lexus", "porsche", "maserati", "kia", "tesla", "volvo-cars",
	"skoda", "audi", "volkswagen", "seat", "cupra", "polestar", "sandbox", NULL
};

/* The canonical (static) spelling of a status, or NULL when unknown. */
const char *sim_status_intern(const char *name)
{
	int i;

	for (i = 0; name && sim_statuses[i]; i++)
		if (strcmp(name, sim_statuses[i]) == 0)
			return sim_statuses[i];
	return NULL;
}

int sim_brand_valid(const char *brand)
{
	int i;

	for (i = 0; brand && sim_brands[i]; i++)
		if (strcmp(brand, sim_brands[i]) == 0)
			return 1;
	return 0;
}

/* ---- store -------------------------------------------------------------- */

static struct sim_vehicle *sim_fleet_find(const char *vin)
{
	json_t *pos = json_object_get(sim_g.fleet.index, vin);

	return pos ? sim_g.fleet.v[json_integer_value(pos)] : NULL;
}

static int sim_in_transition(const char *status)
{
	return !strcmp(status, "pending") || !strcmp(status, "revoking") ||
	       !strcmp(status, "canceling");
}

/* Moves V to STATUS as of monotonic time AT and schedules the automatic
 * follow-up of a transitional status. */
static void sim_vehicle_set(struct sim_vehicle *v, const char *status, int64_t at)
{
	char ts[32];
	const char *prev = v->status;

	sim_iso_time(at, ts, sizeof(ts));
	v->status = status;
	sim_webhook_changed(v->vin, prev, status);
	json_array_append_new(v->changelog,
		json_pack("{s:s,s:s}", "timestamp", ts, "status", status));
	v->due_ms = 0;
	if (sim_in_transition(status) && sim_g.cfg.pending_delay > 0)
		v->due_ms = at + sim_g.cfg.pending_delay * 1000;
}

/* Applies a transition that has come due. */
static struct sim_vehicle *sim_vehicle_settle(struct sim_vehicle *v)
{
	int64_t due;

	if (!v || !(due = v->due_ms) || sim_now_ms() < due)
		return v;
	if (!strcmp(v->status, "pending"))
		sim_vehicle_set(v, "approved", due);
	else if (!strcmp(v->status, "revoking"))
		sim_vehicle_set(v, "revoked", due);
	else if (!strcmp(v->status, "canceling"))
		sim_vehicle_set(v, "canceled", due);
	v->due_ms = 0;
	return v;
}

/* Every transition that has come due, now (the webhook timer): its
 * delivery leaves when the change happens, not when someone reads. */
void sim_fleet_settle_due(void)
{
	for (size_t i = 0; i < sim_g.fleet.n; i++)
		if (sim_g.fleet.v[i]->due_ms)
			sim_vehicle_settle(sim_g.fleet.v[i]);
}

static struct sim_vehicle *sim_vehicle_new(const char *vin)
{
	struct sim_fleet *f = &sim_g.fleet;
	struct sim_vehicle *v, **nv;
	size_t ncap;

	if (f->n == f->cap) {
		ncap = f->cap ? f->cap * 2 : 256;
		nv = realloc(f->v, ncap * sizeof(*nv));
		if (!nv)
			return NULL;
		f->v = nv;
		f->cap = ncap;
	}
	v = calloc(1, sizeof(*v));
	if (!v || !(v->vin = strdup(vin))) {
		free(v);
		return NULL;
	}
	v->changelog = json_array();
	v->tags = json_object();
	json_object_set_new(f->index, vin, json_integer((json_int_t)f->n));
	f->v[f->n++] = v;
	return v;
}

/* Creates or (unless KEEP_EXISTING) updates a clearance. NULL brand or
 * tags keep what the vehicle has. */
int sim_fleet_upsert(const char *vin, const char *status, const char *brand,
		     json_t *tags, int keep_existing)
{
	struct sim_vehicle *v = sim_fleet_find(vin);

	if (v && keep_existing)
		return 0;
	if (!v && !(v = sim_vehicle_new(vin)))
		return -1;
	if (brand || !v->brand) {
		free(v->brand);
		v->brand = strdup(brand ? brand : "sandbox");
	}
	if (tags && json_is_object(tags)) {
		json_decref(v->tags);
		v->tags = json_deep_copy(tags);
	}
	sim_vehicle_set(v, status, sim_now_ms());
	return 0;
}

void sim_fleet_free(void)
{
	struct sim_fleet *f = &sim_g.fleet;
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i]->vin);
		free(f->v[i]->brand);
		json_decref(f->v[i]->tags);
		json_decref(f->v[i]->changelog);
		free(f->v[i]);
	}
	free(f->v);
	json_decref(f->index);
	memset(f, 0, sizeof(*f));
}

static json_t *sim_vehicle_json(struct sim_vehicle *v)
{
	sim_vehicle_settle(v);
	/* The changelog is copied: a delayed answer must show the state it
	 * was built with, not what was appended meanwhile. */
	return json_pack("{s:s,s:s,s:s,s:o,s:O}", "vin", v->vin, "status", v->status,
		"brand", v->brand, "changelog", json_copy(v->changelog), "tags", v->tags);
}

json_t *sim_fleet_dump(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sim_g.fleet.n; i++)
		json_array_append_new(a, sim_vehicle_json(sim_g.fleet.v[i]));
	return a;
}

/* ---- seeding ------------------------------------------------------------ */

int sim_fleet_seed_file(const char *path)
{
	json_error_t err;
	json_t *a = json_load_file(path, 0, &err), *it;
	const char *vin, *status, *brand;
	size_t i;

	if (!json_is_array(a)) {
		fprintf(stderr, "fleetgate-sim: %s:%d: %s\n", path, err.line,
			a ? "seed must be a JSON array" : err.text);
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, it) {
		vin = json_string_value(json_object_get(it, "vin"));
		status = json_string_value(json_object_get(it, "status"));
		brand = json_string_value(json_object_get(it, "brand"));
		if (!vin || !sim_status_intern(status ? status : "approved")) {
			fprintf(stderr, "fleetgate-sim: %s: entry %zu needs a \"vin\" and a known \"status\"\n",
				path, i);
			json_decref(a);
			return -1;
		}
		sim_fleet_upsert(vin, sim_status_intern(status ? status : "approved"),
			brand, json_object_get(it, "tags"), 0);
	}
	json_decref(a);
	return 0;
}

/* PREFIX + counter zero-padded to 17 characters, counting from 1. */
int sim_fleet_seed_count(long n, const char *prefix)
{
	size_t plen = strlen(prefix), dlen;
	char vin[32], digits[24];
	long i;

	snprintf(digits, sizeof(digits), "%ld", n);
	if (plen + strlen(digits) > 17) {
		fprintf(stderr, "fleetgate-sim: --seed-prefix %s leaves no room for %ld vehicles in 17 characters\n",
			prefix, n);
		return -1;
	}
	memcpy(vin, prefix, plen);
	for (i = 1; i <= n; i++) {
		dlen = (size_t)snprintf(digits, sizeof(digits), "%ld", i);
		memset(vin + plen, '0', 17 - plen - dlen);
		memcpy(vin + 17 - dlen, digits, dlen + 1);
		if (sim_fleet_upsert(vin, "approved", "sandbox", NULL, 0) != 0)
			return -1;
	}
	return 0;
}

/* ---- single-VIN rate limit -------------------------------------------- */

void sim_window_clear(void)
{
	sim_g.window.head = sim_g.window.len = 0;
	sim_g.window.forced_until_ms = 0;
	sim_g.list_window.head = sim_g.list_window.len = 0;
}

void sim_window_free(void)
{
	free(sim_g.window.t);
	memset(&sim_g.window, 0, sizeof(sim_g.window));
	free(sim_g.list_window.t);
	memset(&sim_g.list_window, 0, sizeof(sim_g.list_window));
}

static int sim_window_push(struct sim_window *w, int64_t now)
{
	int64_t *nt;
	size_t ncap, i;

	if (w->len == w->cap) {
		ncap = w->cap ? w->cap * 2 : 64;
		nt = malloc(ncap * sizeof(*nt));
		if (!nt)
			return -1;
		for (i = 0; i < w->len; i++)
			nt[i] = w->t[(w->head + i) % w->cap];
		free(w->t);
		w->t = nt;
		w->cap = ncap;
		w->head = 0;
	}
	w->t[(w->head + w->len++) % w->cap] = now;
	return 0;
}

static long sim_ceil_s(int64_t ms)
{
	long s = (long)((ms + 999) / 1000);

	return s < 1 ? 1 : s;
}

/* 0 when a read may go ahead now under LIMIT per window (and counts it
 * in W); otherwise the seconds until a slot frees. Single-VIN GETs use
 * --vin-rate, list reads --list-rate (the real upstream enforces no list
 * limit today; the option lets fleetgate's pacing of them be tested). */
static long sim_window_take(struct sim_window *w, long limit)
{
	int64_t now = sim_now_ms();

	if (w->forced_until_ms > now)
		return sim_ceil_s(w->forced_until_ms - now);
	if (limit <= 0)
		return 0;
	while (w->len && w->t[w->head] <= now - SIM_WINDOW_MS) {
		w->head = (w->head + 1) % w->cap;
		w->len--;
	}
	if ((long)w->len >= limit)
		return sim_ceil_s(w->t[w->head] + SIM_WINDOW_MS - now);
	sim_window_push(w, now);
	return 0;
}

/* ---- routes ------------------------------------------------------------- */

static void sim_not_found(struct sim_reply *r, const char *vin)
{
	char detail[192];

	snprintf(detail, sizeof(detail), "Clearance for VIN %.128s not found", vin);
	sim_reply_error(r, 404, "Not found", detail, "vin");
}

/* Reads one of the supported filter fields into a set (a JSON object whose
 * keys are the accepted values). Returns -1 on a malformed condition. */
static int sim_filter_set(json_t *filter, const char *field, json_t **set)
{
	json_t *cond = json_object_get(filter, field), *val, *it;
	const char *op;
	size_t i;

	*set = NULL;
	if (!cond)
		return 0;
	op = json_string_value(json_object_get(cond, "operator"));
	val = json_object_get(cond, "value");
	if (!op || !val)
		return -1;
	*set = json_object();
	if (!strcmp(op, "eq") && json_is_string(val)) {
		json_object_set_new(*set, json_string_value(val), json_true());
		return 0;
	}
	if (!strcmp(op, "in") && json_is_array(val)) {
		json_array_foreach(val, i, it) {
			if (!json_is_string(it))
				return -1;
			json_object_set_new(*set, json_string_value(it), json_true());
		}
		return 0;
	}
	return -1;
}

/* The decoded "filter" query parameter ('+' means space), or NULL. */
static char *sim_query_filter(const char *query)
{
	const char *p = query, *end;
	char *raw, *dec;

	while (p && *p) {
		end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		if (!strncmp(p, "filter=", 7)) {
			raw = strndup(p + 7, (size_t)(end - p - 7));
			dec = raw ? evhttp_uridecode(raw, 1, NULL) : NULL;
			free(raw);
			return dec;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static void sim_route_list(struct sim_ctx *c, struct sim_reply *r)
{
	char *text = sim_query_filter(c->query);
	json_t *filter = NULL, *vins = NULL, *statuses = NULL, *out;
	struct sim_vehicle *v;
	size_t i;
	long retry = sim_window_take(&sim_g.list_window, sim_g.cfg.list_rate);
	char detail[96];

	if (retry > 0) {
		free(text);
		sim_g.stats.list_rate_limited++;
		snprintf(detail, sizeof(detail), "Please moderate the request rate and avoid bursts; retry after %lds", retry);
		sim_reply_error(r, 429, "Too many requests", detail, "fleet-manager-api:fleetgate-sim");
		r->retry_after = retry;
		return;
	}
	if (text) {
		filter = json_loads(text, 0, NULL);
		free(text);
		if (!json_is_object(filter) || sim_filter_set(filter, "vin", &vins) ||
		    sim_filter_set(filter, "status", &statuses)) {
			sim_reply_error(r, 400, "Bad Request",
				"filter must be URL-encoded JSON such as {\"vin\":{\"operator\":\"eq\",\"value\":\"...\"}}",
				"filter");
			goto out;
		}
	}
	out = json_array();
	for (i = 0; i < sim_g.fleet.n; i++) {
		v = sim_vehicle_settle(sim_g.fleet.v[i]);
		if (vins && !json_object_get(vins, v->vin))
			continue;
		if (statuses && !json_object_get(statuses, v->status))
			continue;
		json_array_append_new(out, sim_vehicle_json(v));
	}
	sim_reply_json(r, 200, out);
out:
	json_decref(filter);
	json_decref(vins);
	json_decref(statuses);
}

/* One entry of a create answer (FleetVin). */
static json_t *sim_create_one(json_t *item)
{
	const char *vin = json_string_value(json_object_get(item, "vin"));
	const char *brand = json_string_value(json_object_get(item, "brand"));
	json_t *tags = json_object_get(item, "tags");
	struct sim_vehicle *v;
	const char *bad = NULL;

	if (!vin)
		bad = "vin can't be blank";
	else if (strlen(vin) != 17)
		bad = "vin should be 17 character(s)";
	else if (!sim_brand_valid(brand))
		bad = "The brand is invalid";
	else if (tags && !json_is_object(tags))
		bad = "tags must be an object";
	if (bad)
		return json_pack("{s:s,s:s,s:s}", "vin", vin ? vin : "",
			"status", "error", "description", bad);
	/* Existing clearances keep their state, as upstream does. */
	if (sim_fleet_upsert(vin, "pending", brand, tags, 1) != 0 ||
	    !(v = sim_vehicle_settle(sim_fleet_find(vin))))
		return json_pack("{s:s,s:s,s:s}", "vin", vin, "status", "error",
			"description", "out of memory");
	return json_pack("{s:s,s:s,s:O}", "vin", v->vin, "status", v->status, "tags", v->tags);
}

static void sim_route_create(struct sim_ctx *c, struct sim_reply *r)
{
	json_t *body = sim_parse_body(c, r), *vehicles, *item, *out;
	size_t i;

	if (!body)
		return;
	vehicles = json_object_get(body, "vehicles");
	if (!json_is_array(vehicles)) {
		sim_reply_error(r, 422, "Unprocessable Entity",
			"vehicles is missing or not an array", "vehicles");
		json_decref(body);
		return;
	}
	out = json_array();
	json_array_foreach(vehicles, i, item)
		json_array_append_new(out, sim_create_one(item));
	sim_reply_json(r, 200, json_pack("{s:o}", "vehicles", out));
	json_decref(body);
}

static void sim_route_get(struct sim_ctx *c, struct sim_reply *r)
{
	long retry = sim_window_take(&sim_g.window, sim_g.cfg.vin_rate);
	struct sim_vehicle *v;
	char detail[64];

	if (retry > 0) {
		sim_g.stats.rate_limited++;
		snprintf(detail, sizeof(detail), "retry after %lds", retry);
		sim_reply_error(r, 429, "Too many requests", detail,
			"fleet-manager-api:fleetgate-sim");
		r->retry_after = retry;
		return;
	}
	v = sim_fleet_find(c->vin);
	if (!v) {
		sim_not_found(r, c->vin);
		return;
	}
	sim_reply_json(r, 200, sim_vehicle_json(v));
}

/* DELETE and the deprecated cancel_activation: approved -> revoking,
 * pending -> canceling. Returns the vehicle or NULL with R filled. */
static struct sim_vehicle *sim_remove(struct sim_ctx *c, struct sim_reply *r)
{
	struct sim_vehicle *v = sim_vehicle_settle(sim_fleet_find(c->vin));

	if (!v) {
		sim_not_found(r, c->vin);
		return NULL;
	}
	if (!strcmp(v->status, "approved")) {
		sim_vehicle_set(v, "revoking", sim_now_ms());
		return v;
	}
	if (!strcmp(v->status, "pending")) {
		sim_vehicle_set(v, "canceling", sim_now_ms());
		return v;
	}
	sim_reply_error(r, 409, "Conflict", sim_in_transition(v->status) ?
		"Clearance is in transition mode" : "Clearance is already removed", "vin");
	return NULL;
}

static void sim_route_delete(struct sim_ctx *c, struct sim_reply *r)
{
	struct sim_vehicle *v = sim_remove(c, r);

	if (v)
		sim_reply_json(r, 200, json_pack("{s:s,s:s,s:O}", "vin", v->vin,
			"status", v->status, "tags", v->tags));
}

static void sim_route_cancel(struct sim_ctx *c, struct sim_reply *r)
{
	struct sim_vehicle *v = sim_remove(c, r);

	if (v)
		sim_reply_json(r, 200, json_pack("{s:s,s:s}", "vin", v->vin,
			"status", v->status));
}

static void sim_access_token_error(struct sim_reply *r, const char *desc)
{
	sim_reply_json(r, 400, json_pack("{s:s,s:s}", "error", "invalid_request",
		"error_description", desc));
}

/* Deprecated vehicle access token: only for approved clearances. The
 * token is not valid on the fleet routes. */
static void sim_route_access_token(struct sim_ctx *c, struct sim_reply *r)
{
	json_t *body = sim_parse_body(c, r);
	const char *vin = json_string_value(json_object_get(body, "vin"));
	struct sim_vehicle *v;
	char *tok, *refresh, start[32], end[32];

	if (!body)
		return;
	v = vin ? sim_vehicle_settle(sim_fleet_find(vin)) : NULL;
	if (!vin)
		sim_access_token_error(r, "vin can't be blank");
	else if (!v || strcmp(v->status, "approved"))
		sim_access_token_error(r, "vin has no approved clearance");
	else {
		tok = sim_random_id();
		refresh = sim_random_id();
		sim_iso_time(sim_now_ms(), start, sizeof(start));
		sim_iso_time(sim_now_ms() + 3600 * 1000, end, sizeof(end));
		sim_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s}",
			"access_token", tok, "refresh_token", refresh,
			"token_type", "bearer", "expires_in", 3600,
			"scope", "vehicle:data", "validity_start_date", start,
			"validity_end_date", end));
		free(tok);
		free(refresh);
	}
	json_decref(body);
}

static void sim_unauthorized(struct sim_reply *r, const char *why)
{
	char detail[256];

	sim_g.stats.unauthorized++;
	snprintf(detail, sizeof(detail), "%s. The token must be obtained through the "
		"service account API and sent as a header with the format "
		"\"Authorization: Bearer <token>\"", why);
	sim_reply_error(r, 401, "Unauthorized", detail, "Authorization");
	r->www_auth = 1;
}

void sim_fleet_route(struct sim_ctx *c, struct sim_reply *r)
{
	const char *why = NULL;

	if (!sim_token_check(c->req, &why)) {
		sim_unauthorized(r, why);
		return;
	}
	switch (c->route) {
	case SIM_R_LIST: sim_route_list(c, r); break;
	case SIM_R_CREATE: sim_route_create(c, r); break;
	case SIM_R_GET: sim_route_get(c, r); break;
	case SIM_R_DELETE: sim_route_delete(c, r); break;
	case SIM_R_CANCEL: sim_route_cancel(c, r); break;
	case SIM_R_ACCESS_TOKEN: sim_route_access_token(c, r); break;
	default: sim_reply_error(r, 404, "Not Found", "no such route", "path"); break;
	}
}
