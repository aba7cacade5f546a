/* hook_event.c: the one decoder of an inbound webhook delivery.
 *
 * Everything a delivery carries crosses the one boundary the internet
 * reaches, so it is checked here and nowhere else, bounds first: the body
 * length before the parser sees a byte, the signature header's exact
 * shape, the delivery id's alphabet and length (it becomes a Redis key
 * and a log field). Never: quote a body or a signature in an error. */
#include "hook_event.h"
#include "fleetgate.h"
#include "vinset.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *const hook_event_type_names[HOOK_EV_COUNT] = {
#define X(n) #n,
	HOOK_EVENT_TYPES(X)
#undef X
};

enum hook_event_type hook_event_type_of(const char *name)
{
	if (name && strcmp(name, "fleet_clearance_changed") == 0)
		return HOOK_EV_fleet_clearance_changed;
	if (name && strcmp(name, "ping") == 0)
		return HOOK_EV_ping;
	return HOOK_EV_unknown;
}

static int hook_event_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool hook_event_signature(const char *header, unsigned char out[32])
{
	if (!header || strncmp(header, "sha256=", 7) != 0 || strlen(header + 7) != 64)
		return false;
	const char *h = header + 7;
	for (int i = 0; i < 32; i++) {
		int hi = hook_event_hex(h[2 * i]), lo = hook_event_hex(h[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

bool hook_event_delivery_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > HOOK_DELIVERY_MAX)
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

int hook_event_parse(const void *body, size_t len, size_t max, struct hook_event *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = NULL;
	int rc = -1;

	if (len > max) {
		snprintf(err, errlen, "the body is larger than [webhook] max_body_bytes");
		return -1;
	}
	if (!body || len == 0) {
		snprintf(err, errlen, "the body is empty");
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root)) {
		snprintf(err, errlen, root ? "the body is not a JSON object" : "the body is not JSON (or has duplicate keys)");
		goto out;
	}
	json_t *vehicle = json_object_get(root, "vehicle"), *event = json_object_get(root, "event");
	const char *vin = json_string_value(json_object_get(vehicle, "vin"));
	const char *action = json_string_value(json_object_get(event, "action"));
	if (!json_is_object(vehicle) || !json_is_object(event)) {
		snprintf(err, errlen, "the body needs the objects \"vehicle\" and \"event\"");
		goto out;
	}
	if (!vin || !vin_normalize(vin, json_string_length(json_object_get(vehicle, "vin")), out->vin)) {
		snprintf(err, errlen, "vehicle.vin is not a VIN");
		goto out;
	}
	/* A status name holds no NUL: json_string_value would cut one short. */
	if (!action || strlen(action) != json_string_length(json_object_get(event, "action")) ||
	    (out->status = fg_status_index(action)) < 0) {
		snprintf(err, errlen, "event.action is not a clearance status");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
