#!/usr/bin/env python3
"""Black-box tests of observability (docs/operations.md and docs/metrics.md): /stats counts equal
the traffic a test sent, /metrics parses as Prometheus text format 0.0.4
and agrees with /stats, the access log has one JSON line per request, the
audit log one per mutation with its VINs, admin routes are not served on
tenant listeners, access_log = off, log_level, log reopening on SIGHUP,
open connections, and no secret in any of it."""
import collections
import json
import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, wait_for  # noqa: E402

VIN1 = "EXVETESTVIN000001"
VIN2 = "EXVETESTVIN000002"
VIN3 = "EXVETESTVIN000003"
VIN4 = "EXVETESTVIN000004"
VIN5 = "EXVETESTVIN000005"
VIN6 = "EXVETESTVIN000006"
FOREIGN_VIN = "WBADT43452G296403"
KEY_A = "alpha-key-7f3a9c1e55"
KEY_B = "beta-key-0b8d2e6f44"
KEY_D = "delta-key-5e1f08a7c3"
KEY_UNKNOWN = "nobody-key-93c1d7a2"
VIN_RE = re.compile(r"\b[A-Z0-9]{17}\b")


def tenants(gamma_port):
    return {
        "alpha": "[tenant]\nname = alpha\nkeys_sha256 = %s\nmethods = GET, POST, DELETE\nvin_prefixes = EXVE\n"
                 % fgtest.sha256_hex(KEY_A),
        "beta": "[tenant]\nname = beta\nkeys_sha256 = %s\nmethods = GET\nvins = %s\n"
                % (fgtest.sha256_hex(KEY_B), VIN1),
        "gamma": "[tenant]\nname = gamma\nlisten = 127.0.0.1:%d\nmethods = GET\nvin_prefixes = *\n" % gamma_port,
        "delta": "[tenant]\nname = delta\nkeys_sha256 = %s\nmethods = GET\nvin_prefixes = EXVE\nrate = 1/min\nburst = 1\n"
                 % fgtest.sha256_hex(KEY_D),
    }


def start_with(test, sim, tenants_=None, **replace):
    """A gateway whose generated main file has KEY = VALUE lines replaced."""
    g = test.gateway(sim=sim, start=False, **({"tenants": tenants_} if tenants_ else {}))
    with open(g.conf) as f:
        text = f.read()
    for k, v in replace.items():
        text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        assert n == 1, k
    with open(g.conf, "w") as f:
        f.write(text)
    g.start()
    return g


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


# ---- a small Prometheus text format 0.0.4 parser ---------------------------

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(AssertionError):
    pass


def _labels(text, lineno):
    """Parses 'a="x",b="y\\"z"' into a dict, strictly."""
    out, i = {}, 0
    while i < len(text):
        m = LABEL_NAME.match(text, i)
        if not m:
            raise PromError("line %d: bad label name at %r" % (lineno, text[i:]))
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise PromError("line %d: label %s: expected =\"" % (lineno, name))
        i += 2
        val = []
        while True:
            if i >= len(text):
                raise PromError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise PromError("line %d: bad escape \\%s in label value" % (lineno, nxt))
                val.append({"n": "\n"}.get(nxt, nxt))
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise PromError("line %d: raw newline in label value" % lineno)
            else:
                val.append(c)
                i += 1
        if name in out:
            raise PromError("line %d: label %s twice" % (lineno, name))
        if name.startswith("__"):
            raise PromError("line %d: reserved label name %s" % (lineno, name))
        out[name] = "".join(val)
        if i < len(text):
            if text[i] != ",":
                raise PromError("line %d: expected , between labels" % lineno)
            i += 1
    return out


def _value(s, lineno):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(s)
    except ValueError:
        raise PromError("line %d: bad sample value %r" % (lineno, s))


def _family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return None


def parse_prometheus(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}
    or raises PromError naming the first violation of the format."""
    if text and not text.endswith("\n"):
        raise PromError("the exposition does not end with a newline")
    types, helps, fams, closed, seen = {}, {}, {}, set(), set()
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.fullmatch(name):
                    raise PromError("line %d: bad metric name %r" % (lineno, name))
                table = helps if parts[1] == "HELP" else types
                if name in table:
                    raise PromError("line %d: second %s for %s" % (lineno, parts[1], name))
                if name in closed or (current == name and fams.get(name, {}).get("samples")):
                    raise PromError("line %d: %s for %s after its samples" % (lineno, parts[1], name))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise PromError("line %d: bad TYPE line" % lineno)
                    types[name] = parts[3]
                else:
                    helps[name] = parts[3] if len(parts) == 4 else ""
                    if re.search(r"\\[^\\n]", helps[name]):
                        raise PromError("line %d: bad escape in HELP" % lineno)
                fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if current != name and current is not None:
                    closed.add(current)
                current = name
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not m:
            raise PromError("line %d: not a sample line: %r" % (lineno, line))
        name, ltext, vtext = m.group(1), m.group(2) or "", m.group(3)
        fam = _family_of(name, types)
        if fam is None:
            raise PromError("line %d: sample %s of an undeclared family" % (lineno, name))
        if fam in closed:
            raise PromError("line %d: samples of %s are not grouped together" % (lineno, fam))
        if current != fam and current is not None:
            closed.add(current)
        current = fam
        labels = _labels(ltext, lineno)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise PromError("line %d: duplicate sample %s%r" % (lineno, name, labels))
        seen.add(key)
        fams[fam]["samples"].append((name, labels, _value(vtext, lineno)))
    for name, f in fams.items():
        f["type"], f["help"] = types.get(name), helps.get(name)
        if f["type"] is None:
            raise PromError("family %s has HELP but no TYPE" % name)
        if f["help"] is None:
            raise PromError("family %s has no HELP" % name)
        _check_family(name, f)
    return fams


def _check_family(name, f):
    if f["type"] == "counter":
        if not name.endswith("_total"):
            raise PromError("counter %s does not end in _total" % name)
        for sname, _, v in f["samples"]:
            if sname != name or v < 0:
                raise PromError("counter %s: bad sample %s %r" % (name, sname, v))
    if name.endswith("_total") and f["type"] != "counter":
        raise PromError("%s ends in _total but is a %s" % (name, f["type"]))
    if f["type"] == "histogram":
        _check_histogram(name, f["samples"])
    for sname, labels, _ in f["samples"]:
        for k, v in labels.items():
            if k.lower() == "vin" or VIN_RE.fullmatch(v):
                raise PromError("%s: label %s=%r carries a VIN" % (sname, k, v))


def _check_histogram(name, samples):
    groups = collections.defaultdict(lambda: {"buckets": [], "sum": None, "count": None})
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups[rest]
        if sname == name + "_bucket":
            if "le" not in labels:
                raise PromError("%s: bucket without le" % name)
            g["buckets"].append((_value(labels["le"], 0), labels["le"], v))
        elif sname == name + "_sum":
            g["sum"] = v
        elif sname == name + "_count":
            g["count"] = v
        else:
            raise PromError("%s: unexpected sample %s in a histogram" % (name, sname))
    if not groups:
        raise PromError("histogram %s has no samples" % name)
    for rest, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][1] != "+Inf":
            raise PromError("histogram %s%r does not end in le=\"+Inf\"" % (name, rest))
        for (le0, _, v0), (le1, _, v1) in zip(b, b[1:]):
            if not le0 < le1 or v1 < v0:
                raise PromError("histogram %s: buckets not ascending and cumulative at le=%r" % (name, le1))
        if g["sum"] is None or g["count"] is None:
            raise PromError("histogram %s%r lacks _sum or _count" % (name, rest))
        if g["count"] != b[-1][2]:
            raise PromError("histogram %s: _count %r != +Inf bucket %r" % (name, g["count"], b[-1][2]))


def samples(fams, name):
    """Samples named NAME, in its own family or as _bucket/_sum/_count of one."""
    fam = _family_of(name, {k: f["type"] for k, f in fams.items()})
    return [(labels, v) for sname, labels, v in fams.get(fam, {"samples": []})["samples"] if sname == name]


def total(fams, name, **match):
    return sum(v for labels, v in samples(fams, name) if all(labels.get(k) == x for k, x in match.items()))


REQUIRED_FAMILIES = {
    "fleetgate_requests_total": ("counter", {"tenant", "route", "code"}),
    "fleetgate_request_duration_seconds": ("histogram", set()),
    "fleetgate_cache_hits_total": ("counter", set()),
    "fleetgate_cache_misses_total": ("counter", set()),
    "fleetgate_cache_entries": ("gauge", set()),
    "fleetgate_cache_bytes": ("gauge", set()),
    "fleetgate_token_refreshes_total": ("counter", {"result"}),
    "fleetgate_token_expiry_seconds": ("gauge", set()),
    "fleetgate_upstream_requests_total": ("counter", {"code"}),
    "fleetgate_upstream_duration_seconds": ("histogram", set()),
    "fleetgate_config_reloads_total": ("counter", {"result"}),
}


class Parser(FgTestCase):
    """The parser must reject what the format forbids, or the checks on the
    real /metrics would prove nothing."""

    GOOD = ('# HELP fleetgate_x_total X.\n# TYPE fleetgate_x_total counter\nfleetgate_x_total{a="q\\"\\\\"} 1\n'
            '# HELP fleetgate_h_seconds H.\n# TYPE fleetgate_h_seconds histogram\n'
            'fleetgate_h_seconds_bucket{le="0.1"} 1\nfleetgate_h_seconds_bucket{le="+Inf"} 2\n'
            'fleetgate_h_seconds_sum 0.3\nfleetgate_h_seconds_count 2\n')

    def test_accepts_good_and_rejects_each_violation(self):
        fams = parse_prometheus(self.GOOD)
        self.assertEqual(samples(fams, "fleetgate_x_total"), [({"a": 'q"\\'}, 1.0)])
        bad = {
            "second TYPE": self.GOOD + "# TYPE fleetgate_x_total counter\n",
            "second HELP": self.GOOD.replace("# TYPE fleetgate_x_total", "# HELP fleetgate_x_total Y.\n# TYPE fleetgate_x_total"),
            "undeclared": self.GOOD + "fleetgate_y 1\n",
            "not grouped": self.GOOD + "fleetgate_x_total{a=\"b\"} 1\n",
            "no _total": self.GOOD.replace("fleetgate_x_total", "fleetgate_x"),
            "no +Inf": self.GOOD.replace('{le="+Inf"} 2', '{le="1"} 2'),
            "not cumulative": self.GOOD.replace('{le="+Inf"} 2', '{le="+Inf"} 0').replace("_count 2", "_count 0"),
            "count mismatch": self.GOOD.replace("_count 2", "_count 3"),
            "no sum": self.GOOD.replace("fleetgate_h_seconds_sum 0.3\n", ""),
            "bad escape": self.GOOD.replace('\\"\\\\', "\\t"),
            "unquoted": self.GOOD.replace('a="q\\"\\\\"', "a=q"),
            "vin label": self.GOOD.replace('a="q\\"\\\\"', 'vin="%s"' % VIN1),
            "no newline": self.GOOD[:-1],
            "no HELP": self.GOOD.replace("# HELP fleetgate_x_total X.\n", ""),
        }
        for what, text in bad.items():
            with self.subTest(what=what):
                self.assertRaises(PromError, parse_prometheus, text)


# ---- the scripted mix -------------------------------------------------------

class Mix(FgTestCase):
    """One gateway, one scripted mix of traffic; then every view of it."""

    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in (VIN1, VIN2, VIN3, VIN4)])
        self.gamma_port = fgtest.free_port()
        # A short upstream timeout, so the time-out in the script is quick.
        self.g = start_with(self, self.s, tenants(self.gamma_port), timeout=2)
        self.s.reset()          # count only what the script sends
        self.sent = []          # (rid, tenant or "-", method, path, response)
        self.n = 0

    def send(self, tenant, method, path, body=None, key=None, port=None, expect=None):
        self.n += 1
        rid = "obs-%03d" % self.n
        headers = {"X-Request-Id": rid}
        if key:
            headers["X-API-Key"] = key
        r = self.g.request(method, path, body=body, headers=headers, port=port)
        if expect is not None:
            self.assertIn(r.status, expect if isinstance(expect, tuple) else (expect,), (method, path, r))
        self.assertEqual(r.header("X-Request-Id"), rid)
        self.sent.append((rid, tenant, method, path, r))
        return r

    def script(self):
        a, b = KEY_A, KEY_B
        v = "/v1/fleets/vehicles/"
        self.send("alpha", "GET", v + VIN1, key=a, expect=200)
        self.send("alpha", "GET", v + VIN1, key=a, expect=200)
        self.send("alpha", "GET", "/v1/fleets/vehicles", key=a, expect=200)
        self.send("beta", "GET", v + VIN1, key=b, expect=200)
        self.send("beta", "GET", v + VIN2, key=b, expect=403)
        self.send("beta", "DELETE", v + VIN1, key=b, expect=403)
        self.send("-", "GET", v + VIN1, key=KEY_UNKNOWN, expect=401)
        self.send("-", "GET", v + VIN1, expect=401)
        # Admin paths on tenant listeners are unknown routes there.
        for m, p in (("GET", "/stats"), ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz"),
                     ("POST", "/cache/purge")):
            r = self.send("-", m, p, key=a, expect=404)
            self.assertEqual(r.json()["errors"][0]["source"], "fleetgate")
            self.assertNotIn(b"fleetgate_", r.body)
            r = self.send("-", m, p, port=self.gamma_port, expect=404)
            self.assertNotIn(b"uptime", r.body)
        self.send("gamma", "GET", v + VIN3, port=self.gamma_port, expect=200)
        # Over the tenant's rate: a 429 of fleetgate's own.
        self.send("delta", "GET", "/v1/fleets/vehicles", key=KEY_D, expect=200)
        r = self.send("delta", "GET", "/v1/fleets/vehicles", key=KEY_D, expect=429)
        self.assertEqual(r.json()["errors"][0]["source"], "fleetgate")
        self.send("-", "GET", "/nope", key=a, expect=404)
        self.send("-", "PUT", "/v1/fleets/vehicles", key=a, expect=405)
        self.send("-", "GET", v + "BAD", key=a, expect=400)
        # Upstream faults: a 500 answer, then no answer in time. (Not a
        # closed connection: curl retries a reused one that dies, so the
        # simulator would count two requests for one exchange.)
        self.s.faults(status=500, count=1, routes=["get"])
        self.send("alpha", "GET", v + VIN4, key=a, expect=500)
        self.s.faults(latency_ms=3000, count=1, routes=["get"])
        self.send("alpha", "GET", v + VIN4, key=a, expect=504)
        # Mutations, allowed and refused.
        self.send("alpha", "POST", "/v1/fleets/vehicles", key=a, expect=(200, 201),
                  body={"vehicles": [{"vin": VIN5, "brand": "bmw"}, {"vin": VIN6, "brand": "bmw"}]})
        self.send("alpha", "DELETE", v + VIN5, key=a, expect=(200, 204))
        self.send("alpha", "POST", "/v1/fleets/%s/cancel_activation" % VIN6, key=a)
        self.send("alpha", "POST", "/v1/fleets/access_tokens", key=a, body={"vin": VIN1}, expect=(200, 201))
        self.send("beta", "POST", "/v1/fleets/vehicles", key=b, expect=403,
                  body={"vehicles": [{"vin": VIN1, "brand": "bmw"}]})
        self.send("alpha", "POST", "/v1/fleets/vehicles", key=a, expect=403,
                  body={"vehicles": [{"vin": FOREIGN_VIN, "brand": "bmw"}]})
        # A reload and a refused one.
        self.gen0 = self.g.stats()["config"]["generation"]
        self.g.reload()
        with open(self.g.conf) as f:
            good = f.read()
        fgtest.write_atomic(self.g.conf, good + "[nonsense]\n")
        self.g.reload()
        fgtest.write_atomic(self.g.conf, good)
        self.send("alpha", "GET", "/v1/fleets/vehicles", key=a, expect=200)
        # Last of the single-VIN reads: the upstream's 429 (fleetgate may
        # pause the route after it, so nothing follows on it).
        self.s.ctl("POST", "/_sim/rate_limit", {"retry_after": 1})
        self.send("alpha", "GET", v + VIN2, key=a, expect=(429, 200))
        self.s.ctl("POST", "/_sim/rate_limit", {"retry_after": 0})

    def read_lines(self, path, n, what):
        def enough():
            lines = read(path).splitlines()
            return lines if len(lines) >= n else None
        return wait_for(enough, timeout=10, what=what)

    def test_stats_metrics_and_logs_agree_with_the_traffic(self):
        self.script()
        st = self.g.stats()
        with self.subTest("stats"):
            self.check_stats(st)
        text = self.g.admin("GET", "/metrics")
        with self.subTest("metrics"):
            self.check_metrics(text, self.g.stats())
        with self.subTest("access log"):
            self.check_access_log()
        with self.subTest("audit log"):
            self.check_audit_log()
        with self.subTest("secrets"):
            self.check_no_secrets(text.body.decode())

    def check_stats(self, st):
        statuses = collections.Counter(str(r.status) for _, _, _, _, r in self.sent)
        tenants_ = collections.Counter(t for _, t, _, _, _ in self.sent)
        req = st["requests"]
        self.assertEqual(req["total"], len(self.sent))
        self.assertEqual(req["by_status"], dict(statuses))
        self.assertEqual(req["by_tenant"], dict(tenants_))
        self.assertEqual(req["unauthorized"], statuses["401"])
        self.assertEqual(req["denied"], statuses["403"])
        self.assertEqual(req["bytes"], sum(len(r.body) for _, _, _, _, r in self.sent))
        self.assertEqual(req["in_flight"], 0)
        self.assertEqual(st["version"], fgtest.run_fleetgate("-V").stdout.split()[1])
        self.assertIsInstance(st["uptime_s"], int)

        sim = self.s.stats()
        up_sent = sum(n for route, n in sim["requests"].items() if route != "token")
        up = st["upstream"]
        self.assertEqual(up["requests"], up_sent)
        self.assertEqual(sum(up["by_status"].values()), up_sent)
        self.assertEqual(up["by_status"].get("500"), 1)
        self.assertEqual(up["by_status"].get("0"), 1)          # the time-out
        self.assertEqual(up["errors"], 1)
        self.assertEqual(up["throttled"], sim["rate_limited"])
        self.assertEqual(up["by_status"].get("429", 0), sim["rate_limited"])
        lat = up["latency_ms"]
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"], lat)

        fg429 = sum(1 for _, _, _, _, r in self.sent
                    if r.status == 429 and r.json()["errors"][0].get("source") == "fleetgate")
        self.assertGreaterEqual(fg429, 1)
        self.assertEqual(st["rate_limited"], fg429)

        xc = collections.Counter(r.header("X-Cache") for _, _, _, _, r in self.sent)
        c = st["cache"]
        for k in ("entries", "bytes", "hits", "misses", "stale", "coalesced", "evictions", "invalidations"):
            self.assertIsInstance(c[k], int, k)
        self.assertGreaterEqual(xc["HIT"], 1, "the script's repeated read was not a hit")
        self.assertEqual(c["hits"], xc["HIT"])
        self.assertEqual(c["misses"], xc["MISS"])
        self.assertEqual(c["stale"], xc["STALE"])

        bu = st["budget"]
        for k in ("limit", "in_window", "queued", "sends"):
            self.assertIsInstance(bu[k], int, k)
        self.assertEqual(bu["limit"], 60)
        self.assertEqual(bu["queued"], 0)
        # Every single-VIN read that reached the upstream went through the
        # budget, all within one window.
        self.assertEqual(bu["sends"], sim["requests"]["get"])
        self.assertEqual(bu["in_window"], bu["sends"])

        t = st["token"]
        self.assertIs(t["valid"], True)
        self.assertGreater(t["expires_in_s"], 0)
        self.assertGreaterEqual(t["refreshes"], 1)
        self.assertEqual(t["failures"], t["failures_rejected"] + t["failures_transient"])
        self.assertEqual(t["failures"], 0)

        cf = st["config"]
        self.assertEqual((cf["reloads"], cf["reload_failures"]), (1, 1))
        self.assertEqual(cf["generation"], self.gen0 + 1)
        self.assertEqual((cf["tenants"], cf["vins"]), (4, 1))
        conn = st["connections"]
        self.assertGreaterEqual(conn["accepted"], len(self.sent))
        wait_for(lambda: self.g.stats()["connections"]["open"] == 0, what="every test connection closed")

    def check_metrics(self, r, st):
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.header("Content-Type"))
        fams = parse_prometheus(r.body.decode())
        for name, (typ, labels) in REQUIRED_FAMILIES.items():
            self.assertIn(name, fams, name)
            self.assertEqual(fams[name]["type"], typ, name)
            for _, got, _ in fams[name]["samples"]:
                self.assertEqual(set(got) - {"le"}, labels, name)
        for name in fams:
            # process_* are the client libraries' standard process families.
            self.assertTrue(name.startswith("fleetgate_") or name.startswith("process_"), name)
        req = "fleetgate_requests_total"
        self.assertEqual(total(fams, req), st["requests"]["total"])
        for code, n in st["requests"]["by_status"].items():
            self.assertEqual(total(fams, req, code=code), n, code)
        for tenant, n in st["requests"]["by_tenant"].items():
            self.assertEqual(total(fams, req, tenant=tenant), n, tenant)
        self.assertEqual(total(fams, req, route="vehicle_get", tenant="alpha", code="200"), 2)
        self.assertEqual(total(fams, "fleetgate_request_duration_seconds_count"), st["requests"]["total"])
        up = "fleetgate_upstream_requests_total"
        self.assertEqual(total(fams, up), st["upstream"]["requests"])
        for code, n in st["upstream"]["by_status"].items():
            self.assertEqual(total(fams, up, code=code), n, code)
        self.assertEqual(total(fams, "fleetgate_upstream_duration_seconds_count"), st["upstream"]["requests"])
        self.assertEqual(total(fams, "fleetgate_config_reloads_total", result="ok"), 1)
        self.assertEqual(total(fams, "fleetgate_config_reloads_total", result="failed"), 1)
        self.assertEqual(total(fams, "fleetgate_token_refreshes_total", result="ok"), st["token"]["refreshes"])
        self.assertGreater(total(fams, "fleetgate_token_expiry_seconds"), 0)
        self.assertEqual(total(fams, "fleetgate_cache_hits_total"), st["cache"]["hits"])
        self.assertEqual(total(fams, "fleetgate_cache_misses_total"), st["cache"]["misses"])
        self.assertEqual(total(fams, "fleetgate_cache_entries"), st["cache"]["entries"])
        self.assertEqual(total(fams, "fleetgate_upstream_errors_total"), st["upstream"]["errors"])
        self.assertEqual(total(fams, "fleetgate_config_generation"), st["config"]["generation"])
        self.assertEqual(total(fams, "fleetgate_budget_queued"), st["budget"]["queued"])
        self.assertNotIn(VIN1, r.body.decode())

    def check_access_log(self):
        lines = self.read_lines(self.g.access_log, len(self.sent), "one access line per request")
        self.assertEqual(len(lines), len(self.sent), "exactly one access line per request")
        by_rid = {}
        for line in lines:
            o = json.loads(line)
            for k in ("time", "request_id", "tenant", "method", "path", "status", "bytes", "duration_ms",
                      "upstream_ms", "cache"):
                self.assertIn(k, o, line)
            self.assertRegex(o["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIsInstance(o["duration_ms"], (int, float))
            self.assertIsInstance(o["upstream_ms"], (int, float))
            self.assertNotIn(o["request_id"], by_rid)
            by_rid[o["request_id"]] = o
        self.assertEqual(set(by_rid), {rid for rid, *_ in self.sent})
        for rid, tenant, method, path, r in self.sent:
            o = by_rid[rid]
            self.assertEqual((o["status"], o["method"], o["path"]), (r.status, method, path), rid)
            self.assertEqual(o["tenant"], None if tenant == "-" else tenant, rid)
            self.assertEqual(o["bytes"], len(r.body), rid)
            self.assertEqual(o["cache"], r.header("X-Cache"), rid)
            self.assertGreaterEqual(o["duration_ms"], o["upstream_ms"], rid)
            if r.status == 401 or "/stats" in path:
                self.assertEqual(o["upstream_ms"], 0, rid)

    def check_audit_log(self):
        mut = [(rid, t, m, p, r) for rid, t, m, p, r in self.sent
               if m in ("POST", "DELETE") and p.startswith("/v1/fleets/")]
        lines = self.read_lines(self.g.audit_log, len(mut), "one audit result line per mutation")
        got = {}
        for line in lines:
            o = json.loads(line)
            if o.get("event") == "intent":   # before forwarding; the result line follows
                continue
            for k in ("time", "request_id", "tenant", "method", "route", "vins", "status", "upstream_status"):
                self.assertIn(k, o, line)
            got[o["request_id"]] = o
        self.assertEqual(set(got), {rid for rid, *_ in mut}, "audit lines are the mutations, nothing else")
        sim_status = {}
        for rid, tenant, method, path, r in mut:
            o = got[rid]
            self.assertEqual((o["tenant"], o["method"], o["status"]), (tenant, method, r.status), rid)
            if r.status == 403:
                self.assertIsNone(o["upstream_status"], rid)
            else:
                self.assertEqual(o["upstream_status"], r.status, rid)
                sim_status[rid] = o
        create = [o for o in got.values() if o["route"] == "vehicles_create" and o["upstream_status"]]
        self.assertEqual([sorted(o["vins"]) for o in create], [[VIN5, VIN6]])
        delete = [o for o in got.values() if o["method"] == "DELETE" and o["upstream_status"]]
        self.assertEqual([o["vins"] for o in delete], [[VIN5]])
        self.assertEqual([o["vins"] for o in got.values() if "cancel" in o["route"]], [[VIN6]])
        self.assertEqual([o["vins"] for o in got.values() if "access" in o["route"]], [[VIN1]])
        refused_delete = [o for o in got.values() if o["tenant"] == "beta" and o["method"] == "DELETE"]
        self.assertEqual([o["vins"] for o in refused_delete], [[VIN1]])
        # A create refused for its VINs names them too.
        refused_create = [o for o in got.values() if o["tenant"] == "alpha"
                          and o["route"] == "vehicles_create" and o["status"] == 403]
        self.assertEqual([o["vins"] for o in refused_create], [[FOREIGN_VIN]])

    def secrets(self):
        out = {fgtest.CLIENT_SECRET, KEY_A, KEY_B, KEY_D, KEY_UNKNOWN}
        for e in self.s.requests():
            for k, v in e["headers"].items():
                if k.lower() == "authorization" and v.startswith("Bearer "):
                    out.add(v[7:])
        for _, _, _, p, r in self.sent:
            if p.endswith("access_tokens") and r.status < 300:
                for k in ("access_token", "refresh_token"):
                    if r.json().get(k):
                        out.add(r.json()[k])
        self.assertGreaterEqual(len(out), 5, "the sim saw no bearer token")
        return out

    def check_no_secrets(self, metrics):
        self.g.admin("GET", "/healthz")
        wait_for(lambda: os.path.getsize(self.g.audit_log) > 0, what="logs flushed")
        views = {"access log": read(self.g.access_log), "audit log": read(self.g.audit_log),
                 "diagnostics": self.g.logs(), "/stats": self.g.admin("GET", "/stats").body.decode(),
                 "/metrics": metrics}
        for secret in self.secrets():
            for where, text in views.items():
                self.assertNotIn(secret, text, "a secret in %s" % where)


# ---- logs -------------------------------------------------------------------

class Logs(FgTestCase):
    def gateway_with(self, sim, **replace):
        return start_with(self, sim, **replace)

    def test_access_log_off_writes_no_access_line_but_still_audits(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway_with(s, access_log="off")
        for i in range(3):
            self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1,
                                       headers={"X-Request-Id": "off-get-%d" % i}).status, 200)
        g.request("DELETE", "/v1/fleets/vehicles/" + VIN1, headers={"X-Request-Id": "off-del"})
        wait_for(lambda: "off-del" in read(g.audit_log), what="the audit line (and with it a flush)")
        self.assertFalse(os.path.exists(g.access_log))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "off")))
        self.assertNotIn('"request_id":"off-get-', g.logs())
        self.assertNotIn("off-get-", read(g.audit_log))

    def test_log_level_warn_drops_info_and_debug(self):
        s = self.sim()
        g = self.gateway_with(s, log_level="warn")
        s.faults(close=True, count=1, routes=["get"])
        self.assertIn(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, (502, 504))
        g.reload()
        wait_for(lambda: " warn fleetgate: " in g.logs(), what="the warning for the failed upstream exchange")
        levels = set(re.findall(r"^\S+ (\w+) fleetgate: ", g.logs(), re.M))
        self.assertEqual(levels - {"warn", "error"}, set(), g.logs())
        # The same gateway at the harness's debug level does write info lines.
        self.assertNotIn("SIGHUP: reloading", g.logs())

    def test_info_lines_at_debug_level(self):
        """The counterpart of the warn test: the filter is what removed them."""
        s = self.sim()
        g = self.gateway(sim=s)
        g.reload()
        wait_for(lambda: " info fleetgate: SIGHUP: reloading" in g.logs(), what="info line")

    def test_sighup_reopens_logs_even_when_the_reload_fails(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)

        def get(rid):
            self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"X-Request-Id": rid}).status, 200)

        def delete(rid):
            g.request("DELETE", "/v1/fleets/vehicles/" + VIN1, headers={"X-Request-Id": rid})

        def holds(path, rid):
            return rid in read(path)

        get("before-1")
        delete("before-del")
        wait_for(lambda: holds(g.access_log, "before-1") and holds(g.audit_log, "before-del"), what="first lines")
        os.rename(g.access_log, g.access_log + ".1")
        os.rename(g.audit_log, g.audit_log + ".1")
        get("moved-1")           # still the old file: nothing told fleetgate yet
        cf = g.reload()
        self.assertEqual(cf["reload_failures"], 0)
        get("after-1")
        delete("after-del")
        wait_for(lambda: holds(g.access_log, "after-1") and holds(g.audit_log, "after-del"),
                 what="lines in new files at the original paths")
        self.assertTrue(holds(g.access_log + ".1", "moved-1"))
        self.assertFalse(holds(g.access_log, "moved-1"))
        self.assertFalse(holds(g.access_log + ".1", "after-1"))
        self.assertFalse(holds(g.audit_log + ".1", "after-del"))
        self.assertTrue(holds(g.audit_log + ".1", "before-del"))

        # Rotation with a broken configuration: the reload is refused, the
        # logs are reopened all the same.
        os.rename(g.access_log, g.access_log + ".2")
        with open(g.conf) as f:
            good = f.read()
        fgtest.write_atomic(g.conf, good + "bogus_key = 1\n")
        cf = g.reload()
        self.assertEqual(cf["reload_failures"], 1)
        fgtest.write_atomic(g.conf, good)
        get("after-2")
        wait_for(lambda: holds(g.access_log, "after-2"), what="a new access log after a refused reload")
        self.assertFalse(holds(g.access_log + ".2", "after-2"))


# ---- connections ------------------------------------------------------------

class Connections(FgTestCase):
    def test_open_connections_are_counted_and_uncounted(self):
        s = self.sim()
        g = self.gateway(sim=s)

        def open_now():
            """(/stats, /metrics) views of the gauge; read apart, so compared
            by the polls below rather than asserted equal at once."""
            st = g.stats()
            fams = parse_prometheus(g.admin("GET", "/metrics").body.decode())
            return st["connections"]["open"], total(fams, "fleetgate_connections_open")

        wait_for(lambda: open_now() == (0, 0), what="no connection open")
        idle = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(3)]
        # One more that has been served and is kept alive.
        import http.client
        kept = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        kept.request("GET", "/v1/fleets/vehicles")
        kept.getresponse().read()
        try:
            wait_for(lambda: open_now() == (4, 4), what="four connections open")
            idle.pop().close()
            wait_for(lambda: open_now() == (3, 3), what="three connections open")
        finally:
            for c in idle:
                c.close()
            kept.close()
        wait_for(lambda: open_now() == (0, 0), what="every connection closed")
        self.assertGreaterEqual(g.stats()["connections"]["accepted"], 4)


if __name__ == "__main__":
    fgtest.main()
