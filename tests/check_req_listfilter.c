/* check_req_listfilter.c: a list filtered per tenant keeps exactly the elements
 * whose VIN the tenant may see, in order and byte for byte, for both list
 * shapes, and the per-tenant memo never serves one tenant's view to
 * another. The expected text comes from a plain jansson filter here. */
#include <check.h>
#include "check_main.h"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "req_listfilter.h"
#include "req_policy.h"
#include "tenant.h"
#include "vinset.h"

static struct fg_tenant *mk_tenant(const char *name, const char *const *vins, bool all)
{
	struct fg_tenant *t = calloc(1, sizeof *t);
	t->name = strdup(name);
	t->vins = vinset_new();
	for (; vins && *vins; vins++)
		vinset_add(t->vins, *vins);
	if (all)
		vinset_add_prefix(t->vins, "*", NULL, 0);
	return t;
}

static void free_tenant(struct fg_tenant *t)
{
	vinset_free(t->vins);
	free(t->name);
	free(t);
}

static char *render(struct listview *v, struct fg_tenant *t, unsigned gen)
{
	struct evbuffer *b = evbuffer_new();
	ck_assert_int_eq(req_listfilter_render(v, t, gen, b), 0);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	evbuffer_free(b);
	return s;
}

static bool allowed(struct fg_tenant *t, json_t *el)
{
	json_t *jv = json_object_get(el, "vin");
	char vin[18];
	return json_is_string(jv) && vin_normalize(json_string_value(jv), json_string_length(jv), vin) &&
	       req_policy_allows_vin(t, vin);
}

/* The reference: the answer with the tenant's elements only, dumped; "*"
 * sees the answer as it came. */
static char *expected(struct fg_tenant *t, json_t *answer)
{
	json_t *copy = json_deep_copy(answer);
	json_t *arr = json_is_array(copy) ? copy : json_object_get(copy, "vehicles");
	for (size_t i = json_array_size(arr); i-- > 0 && !vinset_allows_all(t->vins);)
		if (!allowed(t, json_array_get(arr, i)))
			json_array_remove(arr, i);
	char *s = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(copy);
	return s;
}

static const char *list_text =
	"[{\"vin\":\"EXVETESTVIN000001\",\"status\":\"approved\",\"tags\":{\"a\":1}},"
	"{\"vin\":\"exvetestvin000002\",\"status\":\"pending\"},"
	"{\"status\":\"orphan\"},"
	"{\"vin\":\"EXVETESTVIN000003\",\"status\":\"revoked\",\"changelog\":[{\"s\":\"x\"}]}]";

START_TEST(array_answers_keep_the_tenants_elements)
{
	static const char *const d_vins[] = { "EXVETESTVIN000001", "EXVETESTVIN000002", NULL };
	static const char *const o_vins[] = { "EXVETESTVIN000003", NULL };
	json_t *answer = json_loads(list_text, 0, NULL);
	struct listview *v = req_listfilter_new(answer);
	ck_assert_ptr_nonnull(v);
	struct fg_tenant *d = mk_tenant("dispatch", d_vins, false);
	struct fg_tenant *o = mk_tenant("other", o_vins, false);
	struct fg_tenant *a = mk_tenant("admin", NULL, true);
	struct fg_tenant *none = mk_tenant("none", NULL, false);
	struct fg_tenant *ts[] = { d, o, a, none, d, o };   /* repeats come from the memo */
	for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
		char *got = render(v, ts[i], 1), *want = expected(ts[i], answer);
		ck_assert_str_eq(got, want);
		free(got);
		free(want);
	}
	char *s = render(v, none, 1);
	ck_assert_str_eq(s, "[]");
	free(s);
	req_listfilter_free(v);
	json_decref(answer);
	free_tenant(d);
	free_tenant(o);
	free_tenant(a);
	free_tenant(none);
}
END_TEST

/* Of an object only what can be filtered goes out: the vehicles (the
 * tenant's) and the errors (their title, detail and source). A count or
 * a next-page link speaks of vehicles the tenant may not see. */
START_TEST(wrapped_answers_keep_only_what_is_filtered)
{
	static const char *const d_vins[] = { "EXVETESTVIN000003", NULL };
	char text[1024];
	snprintf(text, sizeof text, "{\"count\":4,\"vehicles\":%s,\"next\":\"EXVETESTVIN000001\","
		 "\"errors\":[{\"title\":\"t\",\"vin\":\"EXVETESTVIN000001\"}]}", list_text);
	json_t *answer = json_loads(text, JSON_PRESERVE_ORDER, NULL);
	struct listview *v = req_listfilter_new(answer);
	ck_assert_ptr_nonnull(v);
	struct fg_tenant *d = mk_tenant("dispatch", d_vins, false);
	char *got = render(v, d, 1);
	json_t *want = json_loads("{\"errors\":[{\"title\":\"t\"}],\"vehicles\":[{\"vin\":\"EXVETESTVIN000003\","
				  "\"status\":\"revoked\",\"changelog\":[{\"s\":\"x\"}]}]}", 0, NULL);
	json_t *g = json_loads(got, 0, NULL);
	ck_assert_msg(json_equal(g, want), "%s", got);
	ck_assert_ptr_null(strstr(got, "000001"));
	json_decref(g);
	json_decref(want);
	free(got);
	req_listfilter_free(v);
	json_decref(answer);
	free_tenant(d);
}
END_TEST

START_TEST(memo_is_per_generation_and_name)
{
	static const char *const one[] = { "EXVETESTVIN000001", NULL };
	static const char *const three[] = { "EXVETESTVIN000003", NULL };
	json_t *answer = json_loads(list_text, 0, NULL);
	struct listview *v = req_listfilter_new(answer);
	struct fg_tenant *before = mk_tenant("dispatch", one, false);
	struct fg_tenant *after = mk_tenant("dispatch", three, false);   /* same name, reloaded */
	char *a = render(v, before, 1), *b = render(v, after, 2), *c = render(v, after, 2);
	ck_assert_ptr_nonnull(strstr(a, "000001"));
	ck_assert_ptr_null(strstr(b, "000001"));
	ck_assert_ptr_nonnull(strstr(b, "000003"));
	ck_assert_str_eq(b, c);
	for (unsigned g = 3; g < 20; g++) {   /* more generations than memo slots */
		char *x = render(v, before, g);
		ck_assert_ptr_nonnull(strstr(x, "000001"));
		free(x);
	}
	free(a);
	free(b);
	free(c);
	req_listfilter_free(v);
	json_decref(answer);
	free_tenant(before);
	free_tenant(after);
}
END_TEST

/* Heap bytes in use, mmapped blocks included (glibc); no movement under
 * ASan or valgrind, whose allocators mallinfo2 does not see. */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* [cache] max_bytes bounds memory only if req_listfilter_cost covers every
 * byte a cached list holds: 60 tenants reading one list (each seeing all
 * of it, the largest filtered copy) must not grow it past its cost. */
START_TEST(memo_stays_within_the_cost_charged)
{
	size_t n = 2000, cap = n * 80 + 16, len = 0;
	char *text = malloc(cap);
	text[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s{\"vin\":\"EXVETESTVIN%06zu\",\"status\":\"approved\"}",
					i ? "," : "", i);
	text[len++] = ']';
	text[len] = 0;
	json_t *answer = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(answer);
	char *probe = malloc(1 << 20);
	memset(probe, 1, 1 << 20);
	bool measurable = heap_used() >= (1 << 20);
	free(probe);
	size_t before = heap_used();
	struct listview *v = req_listfilter_new(answer);
	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < 60; i++) {
		char name[32];
		snprintf(name, sizeof name, "tenant-%02d", i);
		struct fg_tenant *t = mk_tenant(name, NULL, true);
		char *r = render(v, t, 1);
		ck_assert_uint_eq(strlen(r), len);
		free(r);
		free_tenant(t);
		ck_assert_uint_le(req_listfilter_memo_bytes(v), req_listfilter_cost(v));
	}
	size_t held = heap_used() - before;
	/* 16 KiB of slack: freed chunks in glibc's per-thread cache still
	 * count as in use. Without the memo's byte bound it held 8 copies. */
	if (measurable)
		ck_assert_msg(held <= req_listfilter_cost(v) + 16384, "the view holds %zu bytes but is charged %zu", held,
			      req_listfilter_cost(v));
	req_listfilter_free(v);
	json_decref(answer);
	free(text);
}
END_TEST

START_TEST(objects_without_a_list_keep_nothing_unfiltered)
{
	static const char *const d_vins[] = { "EXVETESTVIN000003", NULL };
	struct fg_tenant *d = mk_tenant("dispatch", d_vins, false);
	json_t *o = json_loads("{\"vin\":\"EXVETESTVIN000001\",\"errors\":[{\"detail\":\"retry after 5s\",\"n\":1}]}",
			       0, NULL);
	struct listview *v = req_listfilter_new(o);
	ck_assert_ptr_nonnull(v);
	char *got = render(v, d, 1);
	ck_assert_str_eq(got, "{\"errors\":[{\"detail\":\"retry after 5s\"}]}");
	free(got);
	req_listfilter_free(v);
	json_decref(o);
	json_t *n = json_integer(7);
	ck_assert_ptr_null(req_listfilter_new(n));
	json_decref(n);
	json_t *e = json_loads("[]", 0, NULL);
	v = req_listfilter_new(e);
	ck_assert_ptr_nonnull(v);
	req_listfilter_free(v);
	json_decref(e);
	free_tenant(d);
}
END_TEST

/* Found by tests/fuzz/fuzz_listview.c: another member holding the
 * marker's text once moved the tenant's list under that member (the
 * marker was "\u0001fleetgate-list\u0001"; now it is checked unique).
 * Only "errors" passes beside "vehicles" now, so the marker's text comes
 * in an error's detail. */
START_TEST(marker_text_in_the_answer_keeps_the_frame)
{
	static const char *const d_vins[] = { "EXVETESTVIN000001", NULL };
	json_t *answer = json_loads("{\"errors\":[{\"detail\":\"\\u0001fleetgate-list-0000000000000000\\u0001\","
				    "\"title\":\"\\u0001fleetgate-list\\u0001\"}],"
				    "\"vehicles\":[{\"vin\":\"EXVETESTVIN000001\"},{\"vin\":\"EXVETESTVIN000009\"}]}",
				    0, NULL);
	ck_assert_ptr_nonnull(answer);
	struct listview *v = req_listfilter_new(answer);
	ck_assert_ptr_nonnull(v);
	struct fg_tenant *d = mk_tenant("dispatch", d_vins, false);
	char *got = render(v, d, 1);
	json_t *out = json_loads(got, 0, NULL);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(json_array_size(json_object_get(out, "vehicles")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(out, "vehicles"), 0), "vin")),
			 "EXVETESTVIN000001");
	ck_assert(json_equal(json_object_get(out, "errors"), json_object_get(answer, "errors")));
	json_decref(out);
	free(got);
	req_listfilter_free(v);
	json_decref(answer);
	free_tenant(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("listview");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, array_answers_keep_the_tenants_elements);
	tcase_add_test(tc, wrapped_answers_keep_only_what_is_filtered);
	tcase_add_test(tc, memo_is_per_generation_and_name);
	tcase_add_test(tc, marker_text_in_the_answer_keeps_the_frame);
	tcase_add_test(tc, objects_without_a_list_keep_nothing_unfiltered);
	tcase_add_test(tc, memo_stays_within_the_cost_charged);
	suite_add_tcase(s, tc);
	return check_run(s);
}
