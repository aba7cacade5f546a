/* req_log.c: a tenant request's id and its access and audit lines (JSON,
 * written through log.c). One line of each per request, whatever became
 * of it, so the logs can be read as the record of what was asked.
 *
 * Never: log a secret (the lines carry no header values). */
#include "req_log.h"
#include "log.h"
#include <stdint.h>
#include <stdio.h>
#include <openssl/rand.h>
#include <jansson.h>

/* The fields the access and audit lines share. */
static json_t *req_log_line(const struct reqlog *l)
{
	char ts[40];
	log_time_iso(ts, sizeof ts);
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "request_id", json_string(l->rid));
	json_object_set_new(o, "tenant", l->tenant ? json_string(l->tenant) : json_null());
	json_object_set_new(o, "by", l->by ? json_string(l->by) : json_null());
	json_object_set_new(o, "method", json_string(method_name(l->method)));
	json_object_set_new(o, "client", log_client(l->er));
	return o;
}

static json_t *req_log_vins(const struct reqlog *l)
{
	json_t *vins = json_array();
	for (size_t i = 0; i < l->nvins; i++)
		json_array_append_new(vins, json_string(l->vins[i]));
	if (!l->nvins && l->path_vin[0])
		json_array_append_new(vins, json_string(l->path_vin));
	return vins;
}

/* The intent line of a mutation about to be forwarded: if the process
 * dies after the upstream acted and before the answer, this is the
 * record that it was asked (docs/operations.md). */
uint64_t req_log_intent(const struct reqlog *l)
{
	json_t *o = req_log_line(l);
	json_object_set_new(o, "event", json_string("intent"));
	json_object_set_new(o, "route", json_string(req_route_name(l->route)));
	json_object_set_new(o, "vins", req_log_vins(l));
	return log_audit(o);
}

/* One result line for every request on a mutating route, whatever became
 * of it: forwarded (upstream_status is the upstream's answer, 0 when none
 * came), or refused before that (401, 403, 400, 503: upstream_status null),
 * because refused mutation attempts are what an audit is read for. */
static uint64_t req_log_audit(const struct reqlog *l, int status)
{
	if (!req_route_is_mutation(l->route))
		return 0;
	json_t *o = req_log_line(l);
	json_object_set_new(o, "event", json_string("result"));
	json_object_set_new(o, "route", json_string(req_route_name(l->route)));
	json_object_set_new(o, "vins", req_log_vins(l));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "upstream_status", l->upstream_status >= 0 ? json_integer(l->upstream_status) : json_null());
	return log_audit(o);
}

uint64_t req_log_write(const struct reqlog *l, int status, size_t bytes)
{
	if (log_access_on()) {
		json_t *o = req_log_line(l);
		json_object_set_new(o, "path", json_string(l->uri ? l->uri : ""));
		json_object_set_new(o, "route", json_string(req_route_name(l->route)));
		/* What was routed: the decoded, normalized path the upstream
		 * is (or would be) sent; null when the path routed nowhere. */
		struct fg_route_match m = { .route = l->route };
		char routed[128];
		snprintf(m.vin, sizeof m.vin, "%s", l->path_vin);
		json_object_set_new(o, "routed_path", req_route_upstream_path(&m, routed, sizeof routed) == 0
				    ? json_string(routed) : json_null());
		json_object_set_new(o, "status", json_integer(status));
		json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
		json_object_set_new(o, "duration_ms", json_real(l->duration_s * 1000.0));
		json_object_set_new(o, "upstream_ms", json_real(l->upstream_ms));
		json_object_set_new(o, "cache", json_string(l->cache));
		json_object_set_new(o, "upstream_status",
				    l->upstream_status >= 0 ? json_integer(l->upstream_status) : json_null());
		log_access(o);
	}
	return req_log_audit(l, status);
}

bool req_log_id_acceptable(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= REQLOG_ID_LEN || !(c == '-' || c == '_' || c == '.' || c == ':' ||
					    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return n > 0;
}

/* xorshift64*, one state per thread (a request's id is made on its
 * worker's thread): ids need to be unique, not secret. */
static _Thread_local uint64_t reqlog_rng;

void req_log_id_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	if (!reqlog_rng) {
		RAND_bytes((unsigned char *)&reqlog_rng, sizeof reqlog_rng);
		reqlog_rng |= 1;
	}
	for (int k = 0; k < 2; k++) {
		reqlog_rng ^= reqlog_rng >> 12;
		reqlog_rng ^= reqlog_rng << 25;
		reqlog_rng ^= reqlog_rng >> 27;
		uint64_t v = reqlog_rng * 0x2545F4914F6CDD1DULL;
		for (int i = 0; i < 16; i++)
			out[k * 16 + i] = hex[(v >> (i * 4)) & 15];
	}
	out[32] = 0;
}
