/* hook_event.h: the one decoder of an inbound webhook delivery
 * (docs/webhooks.md): its headers' values (event name, delivery id,
 * X-HM-Signature-256) and its body. Pure: no lock, no clock, no I/O;
 * fuzzed by tests/fuzz/fuzz_hook_event.c. */
#ifndef FG_HOOK_EVENT_H
#define FG_HOOK_EVENT_H
#include <stdbool.h>
#include <stddef.h>

#define HOOK_DELIVERY_MAX 128   /* longest X-HM-Delivery taken */

/* Event names of X-HM-Event, as /stats and /metrics label them. */
#define HOOK_EVENT_TYPES(X) X(fleet_clearance_changed) X(ping) X(unknown)
enum hook_event_type {
#define X(n) HOOK_EV_##n,
	HOOK_EVENT_TYPES(X)
#undef X
	HOOK_EV_COUNT
};
extern const char *const hook_event_type_names[HOOK_EV_COUNT];

/* X-HM-Event's value (NULL: absent) as a type; anything else is unknown. */
enum hook_event_type hook_event_type_of(const char *name);

/* "sha256=" and 64 hex digits (either case) into OUT; false otherwise. */
bool hook_event_signature(const char *header, unsigned char out[32]);

/* A delivery id: 1 to HOOK_DELIVERY_MAX characters of [A-Za-z0-9._:-],
 * so it goes into a Redis key, a spool line and a log line as it is. */
bool hook_event_delivery_ok(const char *id);

/* A fleet_clearance_changed body:
 * {"vehicle":{"vin":VIN,...},"event":{"action":STATUS,"detail":...},...}. */
struct hook_event {
	char vin[18];     /* normalised, upper case */
	int status;       /* fg_status index of event.action */
};
/* Decodes BODY (LEN bytes; longer than MAX is refused before parsing):
 * one JSON object without duplicate keys, a valid VIN, a known status.
 * 0, or -1 with ERR saying what is wrong (never quoting the body). */
int hook_event_parse(const void *body, size_t len, size_t max, struct hook_event *out, char *err, size_t errlen);
#endif
