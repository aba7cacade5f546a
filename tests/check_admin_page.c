/* check_admin_page.c: the status page's template filling. Figures come out in
 * the formats the page's script uses too, every value is HTML-escaped
 * (tenant names included), tenant rows are what /stats lists (a silent
 * tenant with zeros, a dropped one marked), the snapshot embedded for the
 * script cannot close its <script>, sections for /stats fields that may be
 * absent ([redis], list reads) are hidden until they exist, the list reads
 * under human labels, and the page as built has no mark left unfilled. */
#define _GNU_SOURCE   /* strndup */
#include <check.h>
#include "check_main.h"
#include <stdio.h>
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

/* A silent tenant is a row of zeros; one a reload dropped keeps its
 * counts and says so; "-" is never "removed". */
START_TEST(silent_and_removed_tenants)
{
	const char *snap = "{\"requests\":{\"tenants\":{"
			   "\"quiet\":{\"configured\":true,\"requests\":0,\"denied\":0,\"rate_limited\":0,\"errors\":0,"
			   "\"by_class\":{\"2xx\":0,\"4xx\":0,\"5xx\":0,\"other\":0}},"
			   "\"gone\":{\"configured\":false,\"requests\":2,\"denied\":0,\"rate_limited\":0,\"errors\":0,"
			   "\"by_class\":{\"2xx\":2,\"4xx\":0,\"5xx\":0,\"other\":0}},"
			   "\"-\":{\"configured\":false,\"requests\":1,\"denied\":0,\"rate_limited\":0,\"errors\":0,"
			   "\"by_class\":{\"2xx\":0,\"4xx\":1,\"5xx\":0,\"other\":0}}}}}";
	EXPECT("{{@tenants}}", snap,
	       "<tr><td>quiet</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>"
	       "<tr><td>gone<small> (removed)</small></td><td>2</td><td>0</td><td>0</td><td>0</td><td>2</td><td>0</td><td>0</td><td>0</td></tr>"
	       "<tr><td>-</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td><td>0</td><td>0</td></tr>");
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
	ck_assert_ptr_nonnull(strstr(got, "<div id=\"list-reads\" data-if=\"budget.list\" hidden>"));
	free(got);
	free(tpl);
}
END_TEST

/* The list-reads panel: each budget.list field under a label, never its
 * raw name (window_s, paused_for_s, refresh_scheduled, ...). */
START_TEST(list_reads_have_labels)
{
	static const char *const fields[] = { "sent", "batches", "vins", "served", "throttled", "failed",
					      "fallbacks", "refreshes_ahead", "limit", "window_s", "in_window",
					      "queued", "paused_for_s", "pauses", "pending", "refresh_scheduled",
					      "pending_share", "abandoned", "shed" };
	char *tpl = strndup((const char *)admin_page_html, admin_page_html_len);
	char *got = render(tpl, "{\"budget\":{\"limit\":60,\"list\":{\"sent\":3,\"batches\":2,\"vins\":140,"
				"\"served\":151,\"throttled\":0,\"failed\":0,\"fallbacks\":1,\"refreshes_ahead\":20,"
				"\"limit\":30,\"window_s\":60.0,\"in_window\":3,\"queued\":0,\"paused_for_s\":90.0,"
				"\"pauses\":0,\"pending\":0,\"refresh_scheduled\":20,\"pending_share\":3000,"
				"\"abandoned\":7,\"shed\":0}}}");
	char *panel = strstr(got, "<div id=\"list-reads\" data-if=\"budget.list\" >");
	ck_assert_ptr_nonnull(panel);
	char *end = strstr(panel, "</dl>");
	ck_assert_ptr_nonnull(end);
	*end = 0;
	char k[64];
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		snprintf(k, sizeof k, "data-k=\"budget.list.%s\"", fields[i]);
		ck_assert_msg(strstr(panel, k), "no row for budget.list.%s", fields[i]);
		snprintf(k, sizeof k, "<dt>%s</dt>", fields[i]);
		ck_assert_msg(!strstr(panel, k), "raw field name as a label: %s", fields[i]);
	}
	ck_assert_ptr_nonnull(strstr(panel, "<dt>429 pause left</dt><dd data-k=\"budget.list.paused_for_s\" data-f=\"dur\">1m 30s</dd>"));
	ck_assert_ptr_nonnull(strstr(panel, "<dt>refreshes scheduled</dt><dd data-k=\"budget.list.refresh_scheduled\">20</dd>"));
	ck_assert_ptr_nonnull(strstr(panel, "<span data-k=\"budget.list.in_window\">3</span> of <span data-k=\"budget.list.limit\">30</span> per"));
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
	tcase_add_test(tc, silent_and_removed_tenants);
	tcase_add_test(tc, embedded_snapshot_cannot_end_its_script);
	tcase_add_test(tc, sections_for_fields_to_come);
	tcase_add_test(tc, unknown_marks_stay_visible);
	tcase_add_test(tc, built_page_fills_every_mark);
	tcase_add_test(tc, list_reads_have_labels);
	suite_add_tcase(s, tc);
	return check_run(s);
}
