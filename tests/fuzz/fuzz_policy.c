/* fuzz_policy.c: a tenant's policy on one request (req_policy_check in
 * src/tenant.c): the create body's vehicles[].vin, the access-token body's
 * vin, and the VIN of a path.
 *
 * Input: one byte (route, the tenant's methods, the detail buffer's size),
 * then the JSON body (POST routes) or the path VIN (other routes). The
 * verdict is checked against a plain model written here from docs/http.md:
 * 403 for a method the tenant lacks, 400 for a wrong body shape or a text
 * that is not a VIN, 403 when any VIN is not the tenant's, else allowed;
 * the VINs handed back are normalized, distinct, and (when allowed) all
 * the tenant's; the detail is terminated and printable whatever the body
 * held. */
#include "fuzz.h"
#include <jansson.h>
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"
#include "fleetgate.h"

static const enum fg_route routes[8] = {
	FG_R_CREATE, FG_R_ACCESS_TOKEN, FG_R_GET, FG_R_DELETE,
	FG_R_CANCEL, FG_R_LIST, FG_R_NONE, FG_R_CREATE,
};

static struct fg_tenant *tenant;

static struct fg_tenant *fuzz_tenant(void)
{
	if (!tenant) {
		tenant = calloc(1, sizeof *tenant);
		tenant->name = strdup("fuzz");
		tenant->vins = vinset_new();
		vinset_add(tenant->vins, "WBA00000000000001");
		vinset_add(tenant->vins, "1HGCM82633A004352");
		vinset_add_prefix(tenant->vins, "EXVE", NULL, 0);
	}
	return tenant;
}

/* The model: 0, 400 or 403 for VIN text V (NULL: missing or not a string). */
static int model_vin(const struct fg_tenant *t, const char *v, size_t len, int *denied)
{
	char n[18];
	if (!v || !vin_normalize(v, len, n))
		return 400;
	if (!vinset_contains(t->vins, n))
		(*denied)++;
	return 0;
}

static int model(const struct fg_tenant *t, enum fg_route r, const char *path_vin, json_t *body)
{
	unsigned need = r == FG_R_LIST || r == FG_R_GET ? FG_M_GET :
			r == FG_R_CREATE || r == FG_R_ACCESS_TOKEN ? FG_M_POST :
			r == FG_R_DELETE || r == FG_R_CANCEL ? FG_M_DELETE : 0;
	if (!need)
		return 404;
	if (!(t->methods & need))
		return 403;
	int denied = 0, bad = 0;
	if (r == FG_R_CREATE) {
		json_t *a = json_object_get(body, "vehicles");
		if (!json_is_object(body) || !json_is_array(a))
			return 400;
		size_t i;
		json_t *el;
		json_array_foreach(a, i, el) {
			json_t *v = json_object_get(el, "vin");
			if (!json_is_object(el) || !json_is_string(v))
				return 400;
			bad |= model_vin(t, json_string_value(v), json_string_length(v), &denied);
		}
	} else if (r == FG_R_ACCESS_TOKEN) {
		json_t *v = json_object_get(body, "vin");
		bad = model_vin(t, json_is_string(v) ? json_string_value(v) : NULL, json_string_length(v), &denied);
	} else if (r != FG_R_LIST) {
		bad = model_vin(t, path_vin, path_vin ? strlen(path_vin) : 0, &denied);
	}
	return bad ? 400 : denied ? 403 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	struct fg_tenant *t = fuzz_tenant();
	enum fg_route r = routes[data[0] & 7];
	t->methods = (data[0] >> 3) & 7;
	size_t detaillen = data[0] & 0x40 ? 64 : 8192;
	json_t *body = NULL;
	char *path_vin = NULL;
	if (r == FG_R_CREATE || r == FG_R_ACCESS_TOKEN) {
		/* req.c answers a body that is not JSON before policy runs */
		body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
		if (!body)
			return 0;
	} else {
		path_vin = fuzz_strndup(data + 1, size - 1);
	}

	char *detail = malloc(detaillen);
	char **vins = NULL;
	size_t nvins = 0;
	int st = req_policy_check(t, r, path_vin, body, &vins, &nvins, detail, detaillen);
	FUZZ_ASSERT(st == model(t, r, path_vin, body));
	FUZZ_ASSERT(memchr(detail, 0, detaillen) != NULL);
	for (const char *d = detail; *d; d++)
		FUZZ_ASSERT((unsigned char)*d >= 0x20 && *d != 0x7f);
	if (st != 0)
		FUZZ_ASSERT(detail[0] != 0);
	FUZZ_ASSERT((vins == NULL) == (nvins == 0));
	struct vinset *seen = vinset_new();
	for (size_t i = 0; i < nvins; i++) {
		FUZZ_ASSERT(fuzz_is_vin(vins[i]));
		FUZZ_ASSERT(!vinset_contains(seen, vins[i]));   /* distinct */
		vinset_add(seen, vins[i]);
		if (st == 0)
			FUZZ_ASSERT(req_policy_allows_vin(t, vins[i]));
	}
	vinset_free(seen);
	if (st == 400)
		FUZZ_ASSERT(nvins == 0);
	req_policy_vins_free(vins, nvins);
	free(detail);
	free(path_vin);
	json_decref(body);
	return 0;
}
