/* admin_page.c: the operator's status page, GET / on the admin listener.
 *
 * The page (src/admin_page.html, built into the binary) is a template whose
 * double-brace marks this file fills from one /stats snapshot, the very
 * document admin.c's admin_stats_snapshot() builds for GET /stats: the
 * page never computes a figure of its own, so the two cannot disagree. A
 * figure the page needs belongs in /stats first. The formats below have twins of the same names
 * in the page's script, which refreshes the figures by polling /stats.
 *
 * Everything that leaves here is HTML-escaped (tenant names come from
 * files an operator wrote, not from us); no secret is in /stats, so none
 * can reach the page. */
#define _GNU_SOURCE   /* memmem */
#include "admin_page.h"
#include "http.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_DASH "\xe2\x80\x93" /* "–": no figure (yet) */

/* Text, HTML-escaped: fit for an element's content and a quoted attribute. */
static void admin_page_esc(struct evbuffer *out, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		evbuffer_add(out, s + run, i - run);
		evbuffer_add(out, rep, strlen(rep));
		run = i + 1;
	}
	evbuffer_add(out, s + run, n - run);
}

static void admin_page_text(struct evbuffer *out, const char *s) { admin_page_esc(out, s, strlen(s)); }

/* A dotted /stats path ("budget.limit"); NULL when absent. */
static json_t *admin_page_get(json_t *root, const char *path, size_t n)
{
	json_t *o = root;
	while (o && n) {
		const char *dot = memchr(path, '.', n);
		size_t k = dot ? (size_t)(dot - path) : n;
		char key[64];
		if (k >= sizeof key || !json_is_object(o))
			return NULL;
		memcpy(key, path, k);
		key[k] = 0;
		o = json_object_get(o, key);
		path += k + (dot ? 1 : 0);
		n -= k + (dot ? 1 : 0);
	}
	return o;
}

static bool admin_page_missing(const json_t *v) { return !v || json_is_null(v); }

/* The default format: integers as they are, other numbers to one decimal
 * (a whole real as an integer, as the script's JSON.parse sees it). */
static void admin_page_plain(struct evbuffer *out, json_t *v)
{
	if (admin_page_missing(v))
		evbuffer_add_printf(out, STATUS_DASH);
	else if (json_is_integer(v))
		evbuffer_add_printf(out, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == floor(d) && fabs(d) < 1e15)
			evbuffer_add_printf(out, "%.0f", d);
		else
			evbuffer_add_printf(out, "%.1f", d);
	} else if (json_is_string(v))
		admin_page_esc(out, json_string_value(v), json_string_length(v));
	else if (json_is_boolean(v))
		evbuffer_add_printf(out, "%s", json_is_true(v) ? "true" : "false");
	else
		evbuffer_add_printf(out, STATUS_DASH);
}

static void admin_page_dur(struct evbuffer *out, json_t *v)
{
	if (!json_is_number(v)) {
		evbuffer_add_printf(out, STATUS_DASH);
		return;
	}
	long long s = llround(json_number_value(v));
	if (s < 0)
		s = 0;
	long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, x = s % 60;
	/* Two units at most, the second left out when 0: "1m", "1m 5s". */
	long long big = d ? d : h ? h : m ? m : x, small = d ? h : h ? m : m ? x : 0;
	const char *u = d ? "dhm" : h ? "hm" : m ? "ms" : "s";
	evbuffer_add_printf(out, "%lld%c", big, u[0]);
	if (small)
		evbuffer_add_printf(out, " %lld%c", small, u[1]);
}

/* Nothing at all when it never happened: the figure beside it says so. */
static void admin_page_ago(struct evbuffer *out, json_t *v)
{
	if (!json_is_number(v))
		return;
	admin_page_dur(out, v);
	evbuffer_add_printf(out, " ago");
}

static void admin_page_bytes(struct evbuffer *out, json_t *v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	if (!json_is_number(v)) {
		evbuffer_add_printf(out, STATUS_DASH);
		return;
	}
	double n = json_number_value(v);
	int i = 0;
	while (n >= 1024 && i < 4) {
		n /= 1024;
		i++;
	}
	if (i)
		evbuffer_add_printf(out, "%.1f %s", n, unit[i]);
	else
		evbuffer_add_printf(out, "%.0f B", n);
}

static void admin_page_pct(struct evbuffer *out, json_t *v)
{
	if (json_is_number(v))
		evbuffer_add_printf(out, "%.1f%%", json_number_value(v) * 100);
	else
		evbuffer_add_printf(out, STATUS_DASH);
}

static void admin_page_valid(struct evbuffer *out, json_t *v)
{
	evbuffer_add_printf(out, "%s", !v ? STATUS_DASH : json_is_true(v) ? "valid" : "no valid token");
}

static void admin_page_ready(struct evbuffer *out, json_t *v)
{
	evbuffer_add_printf(out, "%s", !v ? STATUS_DASH : json_is_true(v) ? "ready" : "not ready");
}

/* data-state for colour: ok, bad, warn or nothing. */
static void admin_page_state(struct evbuffer *out, json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	if (json_is_true(v) || !strcmp(s, "ok") || !strcmp(s, "up"))
		evbuffer_add_printf(out, "ok");
	else if (json_is_false(v) || !strcmp(s, "failed") || !strcmp(s, "down"))
		evbuffer_add_printf(out, "bad");
	else if (!strcmp(s, "connecting"))
		evbuffer_add_printf(out, "warn");
}

static void admin_page_opt(struct evbuffer *out, json_t *v)
{
	if (!admin_page_missing(v))
		admin_page_plain(out, v);
}

/* The formats a {{path|fmt}} mark may name; the page's script has the same. */
static const struct {
	const char *name;
	void (*fn)(struct evbuffer *, json_t *);
} status_formats[] = {
	{ "", admin_page_plain }, { "dur", admin_page_dur }, { "ago", admin_page_ago },
	{ "bytes", admin_page_bytes }, { "pct", admin_page_pct }, { "valid", admin_page_valid },
	{ "ready", admin_page_ready }, { "state", admin_page_state }, { "opt", admin_page_opt },
};

static void admin_page_cell(struct evbuffer *out, json_t *v)
{
	evbuffer_add_printf(out, "<td>");
	admin_page_plain(out, v);
	evbuffer_add_printf(out, "</td>");
}

/* requests.tenants as table rows, in /stats' order: every tenant in
 * force (silent ones with zeros), those a reload dropped that still have
 * counts, marked, and "-". */
static void admin_page_tenants(struct evbuffer *out, json_t *snap)
{
	static const char *const cols[] = { "requests", "denied", "rate_limited", "errors" };
	static const char *const cls[] = { "2xx", "4xx", "5xx", "other" };
	json_t *ts = admin_page_get(snap, "requests.tenants", strlen("requests.tenants"));
	const char *name;
	json_t *t;
	if (!json_object_size(ts)) {
		evbuffer_add_printf(out, "<tr><td colspan=\"9\">no tenant traffic yet</td></tr>");
		return;
	}
	json_object_foreach(ts, name, t) {
		evbuffer_add_printf(out, "<tr><td>");
		admin_page_text(out, name);
		if (strcmp(name, "-") && json_is_false(json_object_get(t, "configured")))
			evbuffer_add_printf(out, "<small> (removed)</small>");
		evbuffer_add_printf(out, "</td>");
		for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
			admin_page_cell(out, json_object_get(t, cols[i]));
		json_t *bc = json_object_get(t, "by_class");
		for (size_t i = 0; i < sizeof cls / sizeof *cls; i++)
			admin_page_cell(out, json_object_get(bc, cls[i]));
		evbuffer_add_printf(out, "</tr>");
	}
}

/* An object's scalar fields as <dt>/<dd> pairs: a section whose fields
 * other work defines ([redis]) shows whatever /stats says. */
static void admin_page_kv(struct evbuffer *out, json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (json_is_object(v) || json_is_array(v))
			continue;
		evbuffer_add_printf(out, "<dt>");
		admin_page_text(out, k);
		evbuffer_add_printf(out, "</dt><dd data-state=\"");
		admin_page_state(out, v);
		evbuffer_add_printf(out, "\">");
		admin_page_plain(out, v);
		evbuffer_add_printf(out, "</dd>");
	}
}

/* The snapshot for the script, safe inside <script>: '<', '>' and '&' can
 * only be inside JSON strings, where \u escapes mean the same. */
static int admin_page_json(struct evbuffer *out, json_t *snap)
{
	char *s = json_dumps(snap, JSON_COMPACT);
	if (!s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '<')
			evbuffer_add_printf(out, "\\u003c");
		else if (*p == '>')
			evbuffer_add_printf(out, "\\u003e");
		else if (*p == '&')
			evbuffer_add_printf(out, "\\u0026");
		else
			evbuffer_add(out, p, 1);
	}
	free(s);
	return 0;
}

/* One mark's inside (between the braces). Unknown marks are kept as they
 * are, so a template mistake shows on the page and in the unit test. */
static int admin_page_mark(struct evbuffer *out, const char *m, size_t n, json_t *snap)
{
	if (n && m[0] == '?') {
		if (admin_page_missing(admin_page_get(snap, m + 1, n - 1)))
			evbuffer_add_printf(out, "hidden");
		return 0;
	}
	if (n == 8 && !memcmp(m, "@tenants", 8)) {
		admin_page_tenants(out, snap);
		return 0;
	}
	if (n == 5 && !memcmp(m, "@json", 5))
		return admin_page_json(out, snap);
	if (n > 4 && !memcmp(m, "@kv:", 4)) {
		admin_page_kv(out, admin_page_get(snap, m + 4, n - 4));
		return 0;
	}
	const char *bar = memchr(m, '|', n);
	size_t plen = bar ? (size_t)(bar - m) : n;
	const char *f = bar ? bar + 1 : "";
	size_t flen = bar ? n - plen - 1 : 0;
	for (size_t i = 0; i < sizeof status_formats / sizeof *status_formats; i++)
		if (strlen(status_formats[i].name) == flen && !memcmp(status_formats[i].name, f, flen)) {
			status_formats[i].fn(out, admin_page_get(snap, m, plen));
			return 0;
		}
	evbuffer_add(out, m - 2, n + 4);
	return 0;
}

int admin_page_render(const char *tpl, size_t len, json_t *snap, struct evbuffer *out)
{
	const char *p = tpl, *end = tpl + len;
	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2);
		const char *close = open ? memmem(open + 2, (size_t)(end - open - 2), "}}", 2) : NULL;
		if (!close) {
			evbuffer_add(out, p, (size_t)(end - p));
			break;
		}
		evbuffer_add(out, p, (size_t)(open - p));
		if (admin_page_mark(out, open + 2, (size_t)(close - open - 2), snap) < 0)
			return -1;
		p = close + 2;
	}
	return 0;
}

void admin_page_serve(struct evhttp_request *req, json_t *snap)
{
	struct evbuffer *b = evbuffer_new();
	if (!snap || !b || admin_page_render((const char *)admin_page_html, admin_page_html_len, snap, b) < 0) {
		json_decref(snap);
		if (b)
			evbuffer_free(b);
		http_send_error(req, 500, "out of memory");
		return;
	}
	json_decref(snap);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	/* The page loads nothing from anywhere and talks only to its own
	 * /stats; the policy makes that a promise the browser keeps. */
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
			  "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
			  "form-action 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	http_reply(req, 200, b);
	evbuffer_free(b);
}
