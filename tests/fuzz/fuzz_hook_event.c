/* fuzz_hook_event.c: an inbound webhook delivery through the one decoder
 * (src/hook_event.c): the body, the X-HM-Signature-256 value, the
 * X-HM-Delivery id and the X-HM-Event name.
 *
 * Input: the first byte picks the cap (max_body_bytes: 64 << (b & 7));
 * the rest, up to a NUL, is the header value tried as signature, id and
 * event name; after the NUL, the body.
 *
 * Asserts: a body over the cap is always refused; an accepted body names
 * a VIN of 17 upper-case characters from the VIN alphabet and a known
 * status, and decodes to the same again (the decoder is deterministic); a
 * refusal always says why; an accepted signature is exactly "sha256=" and
 * 64 hex digits whose bytes print back to them (case aside); an accepted
 * id is 1..128 characters of the id alphabet; the event name always maps
 * to one of the types. */
#include "fuzz.h"
#include <ctype.h>
#include <strings.h>
#include "fleetgate.h"
#include "hook_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = (size_t)64 << (data[0] & 7);
	const uint8_t *p = data + 1, *end = data + size;
	const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
	size_t hlen = nul ? (size_t)(nul - p) : (size_t)(end - p);
	char *hdr = malloc(hlen + 1);
	FUZZ_ASSERT(hdr);
	memcpy(hdr, p, hlen);
	hdr[hlen] = '\0';
	const uint8_t *body = nul ? nul + 1 : end;
	size_t blen = (size_t)(end - body);

	struct hook_event ev, ev2;
	char err[160] = "";
	int rc = hook_event_parse(body, blen, cap, &ev, err, sizeof err);
	if (blen > cap)
		FUZZ_ASSERT(rc < 0);
	if (rc == 0) {
		FUZZ_ASSERT(strlen(ev.vin) == FG_VIN_LEN);
		for (int i = 0; i < FG_VIN_LEN; i++)
			FUZZ_ASSERT(isupper((unsigned char)ev.vin[i]) || isdigit((unsigned char)ev.vin[i]));
		FUZZ_ASSERT(ev.status >= 0 && ev.status < FG_STATUS_COUNT);
		char err2[160];
		FUZZ_ASSERT(hook_event_parse(body, blen, cap, &ev2, err2, sizeof err2) == 0);
		FUZZ_ASSERT(strcmp(ev.vin, ev2.vin) == 0 && ev.status == ev2.status);
	} else {
		FUZZ_ASSERT(err[0] != '\0');
	}

	unsigned char sig[32];
	if (hook_event_signature(hdr, sig)) {
		FUZZ_ASSERT(hlen == 71 && strncmp(hdr, "sha256=", 7) == 0);
		char hex[65];
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", sig[i]);
		FUZZ_ASSERT(strncasecmp(hex, hdr + 7, 64) == 0);
	}
	if (hook_event_delivery_ok(hdr)) {
		FUZZ_ASSERT(hlen >= 1 && hlen <= HOOK_DELIVERY_MAX);
		for (size_t i = 0; i < hlen; i++)
			FUZZ_ASSERT(isalnum((unsigned char)hdr[i]) || strchr("._:-", hdr[i]));
	}
	enum hook_event_type t = hook_event_type_of(hdr);
	FUZZ_ASSERT(t >= 0 && t < HOOK_EV_COUNT);
	free(hdr);
	return 0;
}
