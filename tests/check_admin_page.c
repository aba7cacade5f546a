/* check_admin_page.c: the status page's template filling. Figures come out in
 * the formats the page's script uses too, every value is HTML-escaped
 * (tenant names included), the snapshot embedded for the script cannot
 * close its <script>, sections for /stats fields that do not exist yet
 * ([redis], list reads) are hidden until they do and then list whatever the
 * object holds, and the page as built has no mark left unfilled. */
#define _GNU_SOURCE   /* strndup */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "admin_page.h"

static char *render(const char *tpl, const char *snap_json)
{
	json_error_t jerr;
	json_t *snap = json_loads(snap_json, 0, &jerr);
	ck_assert_msg(snap != NULL, "bad test JSON: %s", jerr.text);
	struct evbuffer *b = evbuffer_new();
	ck_assert_int_eq(admin_page_render(tpl, strlen(tpl), snap, b), 0);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	evbuffer_free(b);
	json_decref(snap);
	return s;
}

#define EXPECT(tpl, snap, want)                                                \
	do {                                                                    \
		char *got_ = render(tpl, snap);                                 \
		ck_assert_str_eq(got_, want);                                   \
		free(got_);                                                     \
	} while (0)

START_TEST(figures_use_the_scripts_formats)
{
	const char *snap = "{\"a\":{\"n\":42,\"r\":2.34,\"w\":60.0,\"s\":\"ok\",\"t\":true,\"f\":false,\"z\":null},"
			   "\"d\":[5,60,65,3600,3660,90000,-3],\"b\":[512,1536,67108864]}";
	EXPECT("{{a.n}} {{a.r}} {{a.w}} {{a.s}} {{a.t}}", snap, "42 2.3 60 ok true");
	EXPECT("[{{a.z}}][{{a.missing}}][{{nope.x.y}}]", snap,
	       "[\xe2\x80\x93][\xe2\x80\x93][\xe2\x80\x93]");
	EXPECT("{{a.n|dur}} {{a.w|dur}} {{a.r|dur}}", snap, "42s 1m 2s");
	EXPECT("{{a.n|ago}}|{{a.z|ago}}|{{a.missing|ago}}", snap, "42s ago||");
	EXPECT("{{a.r|pct}} {{a.z|pct}}", snap, "234.0% \xe2\x80\x93");
	EXPECT("{{a.t|valid}} {{a.f|valid}} {{a.t|ready}} {{a.f|ready}}", snap,
	       "valid no valid token ready not ready");
	EXPECT("{{a.t|state}}/{{a.f|state}}/{{a.s|state}}/{{a.n|state}}", snap, "ok/bad/ok/");
	EXPECT("[{{a.s|opt}}][{{a.z|opt}}]", snap, "[ok][]");
}
END_TEST

START_TEST(durations_and_bytes)
{
	EXPECT("{{s|dur}}", "{\"s\":65}", "1m 5s");
	EXPECT("{{s|dur}}", "{\"s\":3600}", "1h");
	EXPECT("{{s|dur}}", "{\"s\":3660}", "1h 1m");
	EXPECT("{{s|dur}}", "{\"s\":90000}", "1d 1h");
	EXPECT("{{s|dur}}", "{\"s\":-3}", "0s");
	EXPECT("{{b|bytes}}", "{\"b\":512}", "512 B");
	EXPECT("{{b|bytes}}", "{\"b\":1536}", "1.5 KiB");
	EXPECT("{{b|bytes}}", "{\"b\":67108864}", "64.0 MiB");
}
END_TEST

START_TEST(values_are_escaped)
{
	const char *snap = "{\"s\":\"<b a=\\\"1\\\">&'\",\"requests\":{\"tenants\":{\"<x>\":{\"requests\":3,"
			   "\"denied\":1,\"rate_limited\":0,\"errors\":0,\"by_class\":{\"2xx\":2,\"4xx\":1,\"5xx\":0,\"other\":0}}}}}";
	EXPECT("<p title=\"{{s}}\">{{s}}</p>", snap,
	       "<p title=\"&lt;b a=&quot;1&quot;&gt;&amp;&#39;\">&lt;b a=&quot;1&quot;&gt;&amp;&#39;</p>");
	EXPECT("{{@tenants}}", snap,
	       "<tr><td>&lt;x&gt;</td><td>3</td><td>1</td><td>0</td><td>0</td><td>2</td><td>1</td><td>0</td><td>0</td></tr>");
	EXPECT("{{@tenants}}", "{}", "<tr><td colspan=\"9\">no tenant traffic yet</td></tr>");
}
END_TEST

START_TEST(embedded_snapshot_cannot_end_its_script)
{
	char *got = render("<script>{{@json}}</script>", "{\"name\":\"</script><!--&x>\"}");
	ck_assert_str_eq(got, "<script>{\"name\":\"\\u003c/script\\u003e\\u003c!--\\u0026x\\u003e\"}</script>");
	json_t *back = json_loads(got + strlen("<script>"), JSON_DISABLE_EOF_CHECK, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(json_string_value(json_object_get(back, "name")), "</script><!--&x>");
	json_decref(back);
	free(got);
}
END_TEST

START_TEST(sections_for_fields_to_come)
{
	const char *tpl = "<section {{?redis}}><dl>{{@kv:redis}}</dl></section>";
	EXPECT(tpl, "{\"budget\":{}}", "<section hidden><dl></dl></section>");
	EXPECT(tpl, "{\"redis\":null}", "<section hidden><dl></dl></section>");
	EXPECT(tpl, "{\"redis\":{\"state\":\"down\",\"errors\":4,\"nested\":{\"x\":1}}}",
	       "<section ><dl><dt>state</dt><dd data-state=\"bad\">down</dd>"
	       "<dt>errors</dt><dd data-state=\"\">4</dd></dl></section>");
}
END_TEST

START_TEST(unknown_marks_stay_visible)
{
	EXPECT("a {{x|nosuchformat}} b {{ c", "{\"x\":1}", "a {{x|nosuchformat}} b {{ c");
}
END_TEST

/* The page as built: every mark is one this file knows, so none is left. */
START_TEST(built_page_fills_every_mark)
{
	char *tpl = strndup((const char *)admin_page_html, admin_page_html_len);
	char *got = render(tpl, "{\"version\":\"1\",\"budget\":{\"limit\":60}}");
	ck_assert_ptr_null(strstr(got, "{{"));
	ck_assert_ptr_nonnull(strstr(got, "<span id=\"budget-limit\" data-k=\"budget.limit\">60</span>"));
	ck_assert_ptr_nonnull(strstr(got, "<section id=\"redis\" data-if=\"redis\" hidden>"));
	free(got);
	free(tpl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, figures_use_the_scripts_formats);
	tcase_add_test(tc, durations_and_bytes);
	tcase_add_test(tc, values_are_escaped);
	tcase_add_test(tc, embedded_snapshot_cannot_end_its_script);
	tcase_add_test(tc, sections_for_fields_to_come);
	tcase_add_test(tc, unknown_marks_stay_visible);
	tcase_add_test(tc, built_page_fills_every_mark);
	suite_add_tcase(s, tc);
	return check_run(s);
}
