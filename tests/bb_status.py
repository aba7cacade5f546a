#!/usr/bin/env python3
"""Black-box tests of the status page (GET / on the admin listener,
docs/operations.md): after scripted traffic the plain HTML already holds
the figures (server-rendered from the /stats snapshot, so readable without
JavaScript), and headless Chromium renders the live page, polling /stats,
with the tenants (a configured one that sent nothing among them), the
budget limit, a denied count, the token state and the list reads under
human labels. The page loads nothing external, holds no secret, fits 320 px, and is not
served on tenant listeners.

Chromium is Debian's `chromium` (scripts/setup installs it). Where it
cannot be found the browser tests are skipped with a message saying so;
the plain-HTTP tests always run. FG_STATUS_SCREENSHOT=PATH also writes a
screenshot of the page there (how docs/status-page.png is made)."""
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase  # noqa: E402

VIN1 = "EXVETESTVIN000001"
VIN2 = "EXVETESTVIN000002"
KEY_A = "alpha-key-7f3a9c1e55"
KEY_B = "beta-key-0b8d2e6f44"
KEY_IDLE = "idle-key-4c6a0e9b21"
KEY_UNKNOWN = "nobody-key-93c1d7a2"
LIMIT = 7   # vin_get_rate: a number no other figure on the page is likely to be

TENANTS = {
    "alpha": "[tenant]\nname = alpha\nkeys_sha256 = %s\nmethods = GET\nvin_prefixes = EXVE\n"
             % fgtest.sha256_hex(KEY_A),
    "beta": "[tenant]\nname = beta\nkeys_sha256 = %s\nmethods = GET\nvins = %s\n"
            % (fgtest.sha256_hex(KEY_B), VIN1),
    # Configured, never sends: the page and /stats list it with zeros.
    "idle": "[tenant]\nname = idle\nkeys_sha256 = %s\nmethods = GET\nvins = %s\n"
            % (fgtest.sha256_hex(KEY_IDLE), VIN2),
}
ZEROS = ["0"] * 8

# The list-reads panel: each budget.list field of /stats under its label.
LIST_LABELS = {
    "in_window": "in window", "limit": "in window", "window_s": "in window",
    "queued": "batch waiting for a slot", "pending": "VINs waiting",
    "paused_for_s": "429 pause left", "pauses": "429 pauses", "sent": "list reads sent",
    "batches": "batches gathered", "vins": "VINs carried", "served": "single reads answered",
    "fallbacks": "back to single reads", "throttled": "answered 429", "failed": "failed reads",
    "refreshes_ahead": "refreshed ahead", "refresh_scheduled": "refreshes scheduled",
    "pending_share": "most one tenant may have waiting", "abandoned": "dropped, nobody waiting",
    "shed": "over a tenant's share, read singly",
}


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def by_id(page, ident):
    """The text of the element with id IDENT (no nested elements)."""
    m = re.search(r'<[a-z0-9]+ [^>]*\bid="%s"[^>]*>([^<]*)<' % re.escape(ident), page)
    if not m:
        raise AssertionError("no element with id %s in the page" % ident)
    return html.unescape(m.group(1)).strip()


def by_key(page, key):
    """The text of every element that shows /stats field KEY (data-k)."""
    return [html.unescape(v).strip()
            for v in re.findall(r'<[a-z0-9]+ [^>]*\bdata-k="%s"[^>]*>([^<]*)<' % re.escape(key), page)]


def list_reads(page):
    """The list-reads panel: ([its <dt> labels], {budget.list field: shown text},
    its visible text)."""
    m = re.search(r'<div id="list-reads"[^>]*>(.*?)</dl>', page, re.S)
    assert m, "no list-reads panel in the page"
    panel = m.group(1)
    labels = [html.unescape(t).strip() for t in re.findall(r"<dt>(.*?)</dt>", panel, re.S)]
    shown = {k: html.unescape(v).strip()
             for k, v in re.findall(r'data-k="budget\.list\.([a-z_]+)"[^>]*>([^<]*)<', panel)}
    text = html.unescape(re.sub(r"<[^>]*>", " ", panel))
    return labels, shown, text


def tenant_rows(page):
    """{tenant: [requests, denied, rate limited, errors, 2xx, 4xx, 5xx, other]}."""
    body = re.search(r'<tbody id="tenant-rows">(.*?)</tbody>', page, re.S)
    assert body, "no tenant table in the page"
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


class StatusPage(FgTestCase):
    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"},
                         {"vin": VIN2, "status": "approved", "brand": "bmw"}])
        self.g = self.gateway(sim=self.s, tenants=TENANTS, upstream="vin_get_rate = %d/min\n" % LIMIT)

    def traffic(self):
        """alpha: a miss and a hit; beta: one allowed read and one denied
        (VIN2 is not beta's); an unknown key: 401."""
        g = self.g
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"X-API-Key": KEY_A}).status, 200)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"X-API-Key": KEY_A}).status, 200)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"X-API-Key": KEY_B}).status, 200)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN2, headers={"X-API-Key": KEY_B}).status, 403)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1,
                                   headers={"X-API-Key": KEY_UNKNOWN}).status, 401)

    def page(self):
        r = self.g.admin("GET", "/")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        return r, r.body.decode("utf-8")

    def assert_figures(self, page, where):
        """The figures the issue names, in PAGE (server HTML or browser DOM)."""
        self.assertEqual(by_id(page, "budget-limit"), str(LIMIT), where)
        self.assertEqual(by_id(page, "denied-total"), "1", where)
        self.assertEqual(by_id(page, "token-state"), "valid", where)
        rows = tenant_rows(page)
        self.assertEqual(rows.get("alpha", [])[:4], ["2", "0", "0", "0"], where + ": %r" % rows)
        self.assertEqual(rows.get("beta", [])[:4], ["2", "1", "0", "0"], where + ": %r" % rows)
        self.assertEqual(rows["beta"][4:7], ["1", "1", "0"], where + ": by class")
        self.assertIn("-", rows, where + ": the 401 has no tenant")
        self.assertEqual(rows.get("idle"), ZEROS, where + ": the silent tenant is listed: %r" % rows)

    def assert_list_reads(self, page, st, where):
        """Every budget.list field of /stats is on the panel under its
        human label, and no raw field name is shown."""
        fields = st["budget"]["list"]
        labels, shown, text = list_reads(page)
        self.assertEqual(set(shown), set(fields), where + ": a list field without a labelled row")
        self.assertEqual(set(labels), set(LIST_LABELS.values()), where)
        for k in fields:
            self.assertIn(LIST_LABELS[k], labels, where + ": " + k)
            self.assertNotIn(k, labels, where + ": raw field name as a label")
            if "_" in k:
                self.assertNotIn(k, text, where + ": raw field name shown")
        self.assertEqual(shown["sent"], str(fields["sent"]), where)

    # ---- plain HTTP: the figures are in the HTML itself -----------------

    def test_server_renders_the_figures_from_the_stats_snapshot(self):
        self.traffic()
        _, page = self.page()
        st = self.g.stats()
        self.assert_figures(page, "server HTML")
        # Each server-rendered figure is the /stats field its element names.
        for key, want in (("budget.limit", st["budget"]["limit"]),
                          ("budget.in_window", st["budget"]["in_window"]),
                          ("requests.total", st["requests"]["total"]),
                          ("requests.denied", st["requests"]["denied"]),
                          ("cache.hits", st["cache"]["hits"]),
                          ("cache.misses", st["cache"]["misses"]),
                          ("token.refreshes", st["token"]["refreshes"]),
                          ("config.generation", st["config"]["generation"])):
            self.assertEqual(by_key(page, key), [str(want)], key)
        self.assertEqual(st["cache"]["hits"], 2)
        self.assertEqual(by_key(page, "cache.hit_ratio"), ["%.1f%%" % (st["cache"]["hit_ratio"] * 100)])
        self.assertEqual(by_key(page, "version"), [st["version"]])
        self.assertEqual(by_key(page, "readiness.ready"), ["ready"])
        self.assertEqual(by_key(page, "config.last_reload"), ["none"])
        self.assertRegex(page, r'<meter min="0" max="%d" value="1"' % LIMIT)
        # No mark is left unfilled, and no [redis] means no Redis section.
        self.assertNotIn("{{", page)
        self.assertRegex(page, r'<section id="redis" data-if="redis" hidden>')
        # List-backed reads: the list budget's section is shown, labelled.
        self.assertRegex(page, r'<div id="list-reads" data-if="budget.list" >')
        self.assert_list_reads(page, st, "server HTML")
        self.assertEqual(list_reads(page)[1]["limit"], str(st["budget"]["list"]["limit"]))

    def test_stats_lists_every_configured_tenant(self):
        # Before any traffic: every tenant in force, with zeros.
        st = self.g.stats()
        zero = {"configured": True, "requests": 0, "denied": 0, "rate_limited": 0, "errors": 0,
                "by_class": {"2xx": 0, "4xx": 0, "5xx": 0, "other": 0}}
        self.assertEqual(st["requests"]["tenants"], {n: zero for n in ("alpha", "beta", "idle")})
        self.assertEqual(st["requests"]["by_tenant"], {"alpha": 0, "beta": 0, "idle": 0})
        self.traffic()
        st = self.g.stats()
        self.assertEqual(st["requests"]["tenants"]["idle"], zero)
        self.assertEqual(st["requests"]["by_tenant"], {"alpha": 2, "beta": 2, "idle": 0, "-": 1})
        self.assertIs(st["requests"]["tenants"]["-"]["configured"], False)
        # A reload drops beta (it has counts: kept until restart, marked
        # not configured) and idle (no counts: gone with its configuration).
        self.g.remove_tenant("beta")
        self.g.remove_tenant("idle")
        self.g.reload()
        st = self.g.stats()
        self.assertEqual(st["config"]["last_reload"], "ok")
        ts = st["requests"]["tenants"]
        self.assertEqual(sorted(ts), ["-", "alpha", "beta"])
        self.assertIs(ts["alpha"]["configured"], True)
        self.assertEqual((ts["beta"]["configured"], ts["beta"]["requests"], ts["beta"]["denied"]), (False, 2, 1))
        self.assertEqual(st["requests"]["by_tenant"], {"alpha": 2, "beta": 2, "-": 1})
        self.assertEqual(sum(st["requests"]["by_tenant"].values()), st["requests"]["total"])
        rows = tenant_rows(self.page()[1])
        self.assertEqual(sorted(rows), ["-", "alpha", "beta<small> (removed)</small>"])
        # Configured again: the same counts, in force again.
        self.g.write_tenant("idle", TENANTS["idle"])
        self.g.reload()
        ts = self.g.stats()["requests"]["tenants"]
        self.assertEqual(ts["idle"], zero)

    def test_page_is_self_contained_and_holds_no_secret(self):
        self.traffic()
        r, page = self.page()
        for pat in (r'\bsrc=', r'<link\b', r'@import', r'url\(', r'href="(?!stats"|metrics")'):
            self.assertNotRegex(page, pat, "the page must load nothing")
        csp = r.header("Content-Security-Policy")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        for secret in (fgtest.CLIENT_SECRET, KEY_A, KEY_B, KEY_UNKNOWN, "Bearer"):
            self.assertNotIn(secret, page)
        tokens = {q["headers"].get("Authorization", "")[len("Bearer "):] for q in self.s.requests()} - {""}
        self.assertTrue(tokens, "the sim saw the gateway's token")
        for tok in tokens:
            self.assertNotIn(tok, page)

    def test_reload_result_shows(self):
        _, page = self.page()
        self.assertEqual(by_key(page, "config.last_reload"), ["none"])
        self.assertEqual(by_key(page, "config.last_reload_ago_s"), [""])
        self.g.reload()
        _, page = self.page()
        self.assertEqual(by_key(page, "config.last_reload"), ["ok"])
        self.assertEqual(by_key(page, "config.generation"), ["2"])
        self.assertRegex(by_key(page, "config.last_reload_ago_s")[0], r"^\d+s ago$")

    def test_same_access_rules_as_the_other_admin_routes(self):
        r = self.g.request("GET", "/", headers={"X-API-Key": KEY_A})
        self.assertEqual(r.status, 404, "the page is never on a tenant listener")
        r = self.g.admin("POST", "/")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET")

    # ---- headless Chromium: the live page -------------------------------

    def browser(self, *args, window="1100,900", port=None, budget=7000):
        exe = chromium()
        if not exe:
            self.skipTest("chromium is not installed (scripts/setup installs Debian's chromium); "
                          "the status page was checked over plain HTTP only")
        profile = tempfile.mkdtemp(prefix="fg-chromium-", dir=self.dir)
        # A virtual-time budget lets the page's 2 s polls run without the
        # test waiting for them in real time.
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--user-data-dir=" + profile, "--window-size=" + window,
               "--run-all-compositor-stages-before-draw", "--virtual-time-budget=%d" % budget]
        out = subprocess.run(cmd + list(args) + ["http://127.0.0.1:%d/" % (port or self.g.admin_port)],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        return out.stdout

    def test_chromium_renders_the_live_figures(self):
        # The page as served before any traffic, then the traffic: a
        # stand-in admin origin hands the browser that old page and the
        # gateway's live /stats, so the figures in the DOM can only have
        # come from the page's own polling and rendering.
        _, before = self.page()
        self.assertEqual(by_id(before, "denied-total"), "0")
        # The configured limit shows before any read has used the budget.
        self.assertEqual(by_id(before, "budget-limit"), str(LIMIT))
        # Every configured tenant is listed before it sends anything.
        self.assertEqual(tenant_rows(before), {"alpha": ZEROS, "beta": ZEROS, "idle": ZEROS})
        self.traffic()
        origin = StaleOrigin(before.encode(), self.g.admin_port)
        self.addCleanup(origin.close)
        if not chromium():
            self.browser()   # skips with the message
        dom = self.browser("--dump-dom", port=origin.port)
        self.assertGreaterEqual(origin.stats_served, 2, "the page polled /stats")
        polls = re.search(r'<body data-polls="(\d+)"', dom)
        self.assertTrue(polls and int(polls.group(1)) >= 2, "the page counted its polls: %r" % dom[:400])
        self.assertRegex(by_id(dom, "live"), r"^live, updated ")
        self.assert_figures(dom, "browser DOM")
        self.assert_list_reads(dom, self.g.stats(), "browser DOM")
        # The chart is drawn by the page from its polled history.
        self.assertEqual(len(re.findall(r'<polyline points="[0-9., ]+"', dom)), 3)
        self.assertRegex(dom, r'<section id="redis" data-if="redis" hidden')
        shot = os.environ.get("FG_STATUS_SCREENSHOT")
        if shot:
            self.screenshot(os.path.abspath(shot))

    def screenshot(self, path):
        """docs/status-page.png: the live page after ~30 s of paced traffic.
        Virtual time stands still while a fetch is pending, so an origin
        that holds each /stats answer for 2 real seconds makes the page's
        2 s polls span 2 s of real traffic, and the chart true rates."""
        stop = threading.Event()

        def busy(k):
            # Three clients, so one waiting for budget stalls only itself;
            # the first purges now and then to cause upstream reads.
            n = 0
            while not stop.wait(0.02 if (n // 200) % 2 else 0.008):
                n += 1
                if k == 0 and n % 400 == 0:
                    self.g.admin("POST", "/cache/purge")
                vin = VIN2 if n % 9 == 0 else VIN1
                self.g.request("GET", "/v1/fleets/vehicles/" + vin, headers={"X-API-Key": KEY_B if k else KEY_A})
        threads = [threading.Thread(target=busy, args=(k,), daemon=True) for k in range(3)]
        for t in threads:
            t.start()
        origin = StaleOrigin(None, self.g.admin_port, hold=2.0)
        try:
            self.browser("--screenshot=" + path, "--hide-scrollbars", window="1000,960",
                         port=origin.port, budget=30000)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
            origin.close()

    def test_chromium_fits_320_px(self):
        self.traffic()
        dom = self.browser("--dump-dom", window="320,900")
        self.assertIn('data-fits="true"', dom, "the page scrolls sideways at 320 px")
        self.assert_figures(dom, "browser DOM at 320 px")


class StaleOrigin:
    """A loopback HTTP server answering / with PAGE and /stats with the
    gateway's live /stats (counting them): the browser's view of an admin
    listener whose page was rendered before the traffic. PAGE None: the
    gateway's page of now. HOLD: seconds each /stats answer is held."""

    def __init__(self, page, admin_port, hold=0.0):
        outer = self
        self.stats_served = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/stats":
                    time.sleep(hold)   # the point of HOLD: real time passes between polls
                    r = fgtest.request(admin_port, "GET", "/stats", timeout=10)
                    body, ctype = r.body, "application/json"
                    outer.stats_served += 1
                elif self.path == "/":
                    body, ctype = page or fgtest.request(admin_port, "GET", "/", timeout=10).body, \
                        "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


if __name__ == "__main__":
    fgtest.main()
