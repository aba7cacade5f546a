/* fuzz_listview.c: a list answer filtered for a tenant (src/req_listfilter.c).
 *
 * The input is the upstream's list answer. For a tenant with a few VINs
 * and a prefix, and for one allowed all ("*"), the rendered text must be
 * valid JSON of the answer's shape (an array, or an object) whose list holds exactly the answer's elements with a
 * VIN the tenant may see, unchanged and in order; an object keeps only
 * "vehicles" and "errors" (each error only its string title, detail and
 * source): nothing else gets through. A second render (served from the
 * memo) gives the same bytes. */
#include "fuzz.h"
#include <jansson.h>
#include <event2/buffer.h>
#include "req_listfilter.h"
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"

static struct fg_tenant *mk(const char *name, bool all)
{
	struct fg_tenant *t = calloc(1, sizeof *t);
	t->name = strdup(name);
	t->vins = vinset_new();
	if (all) {
		vinset_add_prefix(t->vins, "*", NULL, 0);
	} else {
		vinset_add(t->vins, "WBA00000000000001");
		vinset_add(t->vins, "1HGCM82633A004352");
		vinset_add_prefix(t->vins, "EXVE", NULL, 0);
	}
	return t;
}

static char *render(struct listview *v, const struct fg_tenant *t, size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	FUZZ_ASSERT(b && req_listfilter_render(v, t, 1, b) == 0);
	*len = evbuffer_get_length(b);
	char *s = malloc(*len + 1);
	evbuffer_remove(b, s, *len);
	s[*len] = 0;
	evbuffer_free(b);
	return s;
}

static bool visible(const struct fg_tenant *t, json_t *el)
{
	json_t *jv = json_object_get(el, "vin");
	char vin[18];
	if (vinset_allows_all(t->vins))
		return true;
	return json_is_string(jv) && vin_normalize(json_string_value(jv), json_string_length(jv), vin) &&
	       req_policy_allows_vin(t, vin);
}

static void check(struct listview *v, const struct fg_tenant *t, json_t *answer)
{
	size_t len, len2;
	char *text = render(v, t, &len);
	char *again = render(v, t, &len2);
	FUZZ_ASSERT(len == len2 && memcmp(text, again, len) == 0);
	free(again);

	json_error_t je;
	json_t *out = json_loadb(text, len, 0, &je);
	if (!out)
		fprintf(stderr, "fuzz: not JSON (%s): %.*s\n", je.text, (int)(len > 2000 ? 2000 : len), text);
	FUZZ_ASSERT(out != NULL);
	json_t *in_arr = json_is_array(answer) ? answer : json_object_get(answer, "vehicles");
	json_t *out_arr = json_is_array(answer) ? out : json_object_get(out, "vehicles");
	FUZZ_ASSERT(json_is_array(in_arr) == json_is_array(out_arr));
	if (json_is_object(answer)) {
		/* only vehicles and errors, errors reduced to the error shape */
		FUZZ_ASSERT(json_is_object(out));
		const char *k;
		json_t *val;
		json_object_foreach(out, k, val) {
			FUZZ_ASSERT(strcmp(k, "vehicles") == 0 || strcmp(k, "errors") == 0);
			if (strcmp(k, "errors") != 0)
				continue;
			FUZZ_ASSERT(json_is_array(val));
			size_t i;
			json_t *e;
			json_array_foreach(val, i, e) {
				const char *ek;
				json_t *ev;
				json_object_foreach(e, ek, ev)
					FUZZ_ASSERT(json_is_string(ev) && (!strcmp(ek, "title") || !strcmp(ek, "detail") ||
									   !strcmp(ek, "source")));
			}
		}
	}
	if (!json_is_array(in_arr)) {
		json_decref(out);
		free(text);
		return;
	}
	size_t j = 0;
	for (size_t i = 0; i < json_array_size(in_arr); i++) {
		json_t *el = json_array_get(in_arr, i);
		if (!visible(t, el))
			continue;
		FUZZ_ASSERT(j < json_array_size(out_arr));
		FUZZ_ASSERT(json_equal(el, json_array_get(out_arr, j)));
		j++;
	}
	FUZZ_ASSERT(j == json_array_size(out_arr));
	json_decref(out);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	static struct fg_tenant *some, *all;
	if (!some) {
		some = mk("some", false);
		all = mk("all", true);
	}
	json_t *answer = json_loadb((const char *)data, size, 0, NULL);
	if (!answer)
		return 0;
	struct listview *v = req_listfilter_new(answer);
	FUZZ_ASSERT((v != NULL) == (json_is_array(answer) || json_is_object(answer)));
	if (v) {
		FUZZ_ASSERT(req_listfilter_cost(v) > 0);
		check(v, some, answer);
		check(v, all, answer);
	}
	req_listfilter_free(v);
	json_decref(answer);
	return 0;
}
