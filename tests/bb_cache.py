#!/usr/bin/env python3
"""Black-box tests of the clearance cache and the upstream budget (docs/cache.md;
issue 5): hits with Age, coalescing, invalidation and the
generation rule, stale-if-error, the shared sliding-window budget with its
fair queue, the pause after an upstream 429, tenant rates, purge.

The budget test scales the window down: fleetgate runs with
vin_get_rate = 10/s (the same sliding-window code as 60/min, one second
instead of sixty) so a burst of 150 reads plays out within queue_timeout."""
import collections
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, wait_for  # noqa: E402

VIN = "EXVETESTVIN000001"
VIN2 = "EXVETESTVIN000002"
VIN3 = "EXVETESTVIN000003"
UNKNOWN = "EXVETESTVIN000099"
GET = "/v1/fleets/vehicles/"
LIST = "/v1/fleets/vehicles"


def keyed_tenant(name, key, extra=""):
    return "[tenant]\nname = %s\nkeys_sha256 = %s\nmethods = GET, POST, DELETE\nvin_prefixes = *\n%s" % (
        name, fgtest.sha256_hex(key), extra)


def fleetgate_error(test, r, status):
    test.assertEqual(r.status, status, r)
    test.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
    e = r.json()["errors"][0]
    test.assertEqual(e["source"], "fleetgate", r)
    return e


def retry_after(test, r, lo=1, hi=60):
    v = r.header("Retry-After")
    test.assertIsNotNone(v, r.headers)
    test.assertTrue(lo <= int(v) <= hi, v)
    return int(v)


def concurrently(fns):
    """Runs every callable at once (released together) and returns results."""
    start = threading.Barrier(len(fns))

    def run(fn):
        start.wait(30)
        return fn()
    getters = [in_thread(run, fn) for fn in fns]
    return [g(120) for g in getters]


class CacheCase(FgTestCase):
    cache = "ttl = 60\nttl_list = 30\nstale_if_error = 600\n"
    upstream = ""
    tenants = None
    # Clearances stay in the state a test gave them: under valgrind on a
    # loaded machine a test can outlast the simulator's default 5 s
    # pending -> approved delay, and a VIN would change under its asserts.
    sim_extra = ("--pending-delay", "0")

    def setUp(self):
        super().setUp()
        self.s = self.sim(extra=self.sim_extra)
        self.s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"},
                         {"vin": VIN2, "status": "approved", "brand": "bmw"},
                         {"vin": VIN3, "status": "pending", "brand": "mini"}])
        self.g = self.gateway(sim=self.s, cache=self.cache, upstream=self.upstream, tenants=self.tenants)

    def upstream_count(self, route="get"):
        return self.s.stats()["requests"][route]

    def get(self, vin=VIN, headers=None, **kw):
        return self.g.request("GET", GET + vin, headers=headers, **kw)

    def list(self, query="", headers=None):
        return self.g.request("GET", LIST + (("?" + query) if query else ""), headers=headers)


class Hits(CacheCase):
    tenants = {"all": fgtest.DEFAULT_TENANT,
               "narrow": "[tenant]\nname = narrow\nkeys_sha256 = %s\nvins = %s\n" % (
                   fgtest.sha256_hex("narrow-key"), VIN)}

    def test_second_read_is_hit_with_age_and_one_upstream_request(self):
        r = self.get()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(r.header("Cache-Status"), "fleetgate; fwd=miss; fwd-status=200; stored")
        self.assertIsNone(r.header("Age"))
        r2 = self.get()
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.header("X-Cache"), "HIT")
        self.assertEqual(r2.body, r.body)
        self.assertTrue(r2.header("Content-Type").startswith("application/json"))
        self.assertRegex(r2.header("Cache-Status"), r"^fleetgate; hit; ttl=(\d+)$")
        self.assertLessEqual(int(r2.header("Cache-Status").rsplit("=", 1)[1]), 60)
        self.assertGreaterEqual(int(r2.header("Age")), 0)
        self.assertEqual(self.upstream_count(), 1)
        # Age counts up while the entry sits in the cache.
        wait_for(lambda: int(self.get().header("Age")) >= 1, timeout=5, interval=0.2, what="Age >= 1")
        self.assertEqual(self.upstream_count(), 1)
        st = self.g.stats()
        self.assertEqual(st["cache"]["misses"], 1)
        self.assertGreaterEqual(st["cache"]["hits"], 2)
        self.assertEqual(st["cache"]["entries"], 1)
        self.assertGreater(st["cache"]["bytes"], len(r.body))

    def test_list_keys_normalize_the_filter_and_filter_per_tenant(self):
        f1 = urllib.parse.urlencode({"filter": '{"status": {"operator": "in", "value": ["approved"]}}'})
        f2 = urllib.parse.urlencode({"filter": '{"status":{"value":["approved"],\n "operator":"in"}}'})
        vins = lambda r: sorted(v["vin"] for v in (r.json() if isinstance(r.json(), list) else r.json()["vehicles"]))
        r = self.list(f1)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "MISS"), r)
        self.assertEqual(vins(r), [VIN, VIN2])
        r = self.list(f2)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"), r)
        self.assertEqual(vins(r), [VIN, VIN2])
        self.assertEqual(self.upstream_count("list"), 1)
        # The cached whole list goes out filtered for a narrower tenant.
        full = self.list()
        self.assertEqual(full.header("X-Cache"), "MISS")
        narrow = self.list(headers={"X-API-Key": "narrow-key"})
        self.assertEqual(narrow.header("X-Cache"), "HIT")
        self.assertEqual(vins(full), [VIN, VIN2, VIN3])
        self.assertEqual(vins(narrow), [VIN])
        self.assertEqual(self.upstream_count("list"), 2)
        # Another parameter or a filter that is not JSON is not forwarded
        # (docs/http.md: 400), so nothing uncacheable goes upstream.
        for q in ("page=2", f1 + "&page=2", "filter=%7Bnope"):
            r = self.list(q)
            self.assertEqual(r.status, 400, q)
        self.assertEqual(self.upstream_count("list"), 2)

    def test_no_cache_forwards_and_replaces_the_entry(self):
        self.assertEqual(self.get().json()["status"], "approved")
        self.s.vehicles([{"vin": VIN, "status": "revoked", "brand": "bmw"}])
        self.assertEqual(self.get().header("X-Cache"), "HIT")
        r = self.get(headers={"Cache-Control": "no-cache"})
        self.assertEqual((r.header("X-Cache"), r.json()["status"]), ("MISS", "revoked"), r)
        self.assertEqual(r.header("Cache-Status"), "fleetgate; fwd=request; fwd-status=200; stored")
        self.assertEqual(self.upstream_count(), 2)
        r = self.get()
        self.assertEqual((r.header("X-Cache"), r.json()["status"]), ("HIT", "revoked"), r)
        self.assertEqual(self.upstream_count(), 2)

    def test_mutations_are_bypass_and_errors_are_not_stored(self):
        r = self.get(UNKNOWN)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.get(UNKNOWN).header("X-Cache"), "MISS")
        self.assertEqual(self.upstream_count(), 2)
        r = self.g.request("DELETE", GET + VIN3)
        self.assertEqual(r.header("X-Cache"), "BYPASS")
        self.assertEqual(r.header("Cache-Status"), "fleetgate; fwd=method")

    def test_purge_via_admin(self):
        self.get()
        self.get(VIN2)
        self.list()
        self.assertEqual(self.get().header("X-Cache"), "HIT")
        self.assertEqual(self.g.stats()["cache"]["entries"], 3)
        r = self.g.admin("POST", "/cache/purge?vin=" + VIN)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["entries"], 2)   # the VIN and the list
        self.assertEqual(self.get().header("X-Cache"), "MISS")
        self.assertEqual(self.get(VIN2).header("X-Cache"), "HIT")
        self.assertEqual(self.list().header("X-Cache"), "MISS")
        r = self.g.admin("POST", "/cache/purge")
        self.assertEqual(r.json()["entries"], 3)
        self.assertEqual(self.get(VIN2).header("X-Cache"), "MISS")
        self.assertEqual(self.g.admin("POST", "/cache/purge?vin=nope").status, 400)
        self.assertGreaterEqual(self.g.stats()["cache"]["invalidations"], 2)
        # A wrong method on a known admin path is 405 naming the right one.
        r = self.g.admin("GET", "/cache/purge")
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"), r)
        r = self.g.admin("POST", "/stats")
        self.assertEqual((r.status, r.header("Allow")), (405, "GET"), r)
        self.assertEqual(self.g.admin("GET", "/nope").status, 404)


class Disabled(CacheCase):
    cache = "enabled = no\n"

    def test_disabled_cache_bypasses_everything(self):
        for _ in range(2):
            r = self.get()
            self.assertEqual((r.status, r.header("X-Cache")), (200, "BYPASS"), r)
            self.assertEqual(r.header("Cache-Status"), "fleetgate; fwd=bypass")
        self.assertEqual(self.upstream_count(), 2)
        self.assertEqual(self.g.stats()["cache"]["entries"], 0)


class Coalescing(CacheCase):
    def test_50_concurrent_reads_make_one_upstream_request(self):
        # The upstream is slow, so the reads really overlap.
        self.s.faults(latency_ms=700, routes=["get"])
        results = concurrently([lambda: self.get() for _ in range(50)])
        for r in results:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["vin"], VIN)
            self.assertEqual(r.json()["status"], "approved")
        self.assertEqual(self.upstream_count(), 1)
        c = self.g.stats()["cache"]
        self.assertEqual(c["misses"], 1)
        self.assertEqual(c["misses"] + c["coalesced"] + c["hits"], 50)
        self.assertGreater(c["coalesced"], 0)
        xc = collections.Counter(r.header("X-Cache") for r in results)
        self.assertEqual(xc["MISS"] + xc["HIT"], 50, xc)
        self.assertTrue(any("collapsed" in (r.header("Cache-Status") or "") for r in results))

    def test_a_shared_answer_that_is_not_cacheable_goes_to_every_waiter(self):
        self.s.faults(latency_ms=700, routes=["get"])
        results = concurrently([lambda: self.get(UNKNOWN) for _ in range(20)])
        for r in results:
            self.assertEqual(r.status, 404, r)
            self.assertNotEqual(r.json()["errors"][0].get("source"), "fleetgate")
        self.assertEqual(self.upstream_count(), 1)


class Invalidation(CacheCase):
    def test_delete_then_get_returns_the_new_status(self):
        self.assertEqual(self.get().json()["status"], "approved")
        self.assertEqual(self.get().header("X-Cache"), "HIT")
        self.assertEqual(self.list().header("X-Cache"), "MISS")
        self.assertEqual(self.list().header("X-Cache"), "HIT")
        r = self.g.request("DELETE", GET + VIN)
        self.assertEqual(r.status, 200, r)
        r = self.get()
        self.assertEqual((r.header("X-Cache"), r.json()["status"]), ("MISS", "revoking"), r)
        r = self.list()
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertIn("revoking", [v["status"] for v in (r.json() if isinstance(r.json(), list)
                                                          else r.json()["vehicles"]) if v["vin"] == VIN])
        self.assertEqual(self.upstream_count(), 2)

    def test_create_and_cancel_invalidate_too(self):
        self.get(VIN3)
        self.list()
        new = "EXVETESTVIN000042"
        r = self.g.request("POST", LIST, body={"vehicles": [{"vin": new, "brand": "bmw"}]})
        self.assertEqual(r.status, 200, r)
        r = self.list()
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertIn(new, r.body.decode())
        self.assertEqual(self.get(VIN3).header("X-Cache"), "HIT")
        r = self.g.request("POST", "/v1/fleets/%s/cancel_activation" % VIN3)
        self.assertLess(r.status, 500, r)
        r = self.get(VIN3)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(r.json()["status"], "canceling")

    def test_slow_read_racing_a_delete_does_not_resurrect_the_old_status(self):
        self.s.faults(latency_ms=1500, routes=["get"])
        slow = in_thread(self.get)
        # The read has reached the upstream (and its answer is decided) ...
        wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="the slow read at the simulator")
        # ... when a DELETE goes through.
        r = self.g.request("DELETE", GET + VIN)
        self.assertEqual(r.status, 200, r)
        old = slow()
        self.assertEqual(old.status, 200, old)
        self.assertEqual(old.json()["status"], "approved")   # the race happened
        self.assertNotIn("stored", old.header("Cache-Status"))
        self.s.ctl("DELETE", "/_sim/faults")
        r = self.get()
        self.assertEqual((r.header("X-Cache"), r.json()["status"]), ("MISS", "revoking"), r)
        self.assertEqual(self.upstream_count(), 2)


class Stale(CacheCase):
    # Refresh-ahead would keep a polled entry fresh through list reads.
    cache = "ttl = 1\nttl_list = 1\nstale_if_error = 3\nrefresh_ahead = no\n"

    def poll_until(self, want, path_vin=VIN, timeout=10):
        return wait_for(lambda: (lambda r: r if r.header("X-Cache") == want or
                                 (want is None and r.status >= 500) else None)(self.get(path_vin)),
                        timeout=timeout, interval=0.1, what="X-Cache %s" % want)

    def test_stale_entry_is_served_while_the_upstream_fails(self):
        self.assertEqual(self.get().header("X-Cache"), "MISS")
        self.s.faults(status=503, routes=["get"])
        r = self.poll_until("STALE")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "approved")
        self.assertGreaterEqual(int(r.header("Age")), 1)
        self.assertRegex(r.header("Cache-Status"), r"^fleetgate; fwd=stale; ttl=-\d+; fwd-status=503$")
        # Without an entry, the upstream's error goes through as it is.
        r = self.get(VIN2)
        self.assertEqual((r.status, r.header("X-Cache")), (503, "MISS"), r)
        # Past stale_if_error the error goes through too.
        r = self.poll_until(None)
        self.assertEqual(r.status, 503, r)
        self.assertGreaterEqual(self.g.stats()["cache"]["stale"], 1)

    def test_stale_entry_is_served_when_the_upstream_is_unreachable(self):
        self.assertEqual(self.get().header("X-Cache"), "MISS")
        self.s.faults(close=True, routes=["get"])
        r = self.poll_until("STALE")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vin"], VIN)
        self.assertIn("detail=upstream-failed", r.header("Cache-Status"))


class Budget(CacheCase):
    # The single-VIN budget alone: with auto, misses beyond it would join list reads.
    upstream = "vin_get_rate = 10/s\nvin_reads = single\n"
    sim_extra = ("--vin-rate", "40", "--seed-count", "200", "--seed-prefix", "EXVEBURST")
    tenants = {"alpha": keyed_tenant("alpha", "alpha-key"), "beta": keyed_tenant("beta", "beta-key")}

    def test_burst_of_150_reads_stays_within_the_budget_and_is_fair(self):
        n, window_ms = 10, 1000
        vins = ["EXVEBURST%08d" % i for i in range(1, 156)]
        t0 = time.monotonic()
        alpha = [in_thread(self.get, v, headers={"X-API-Key": "alpha-key"}) for v in vins[:150]]
        # Once alpha's burst fills the queue, beta asks for five reads.
        wait_for(lambda: self.g.stats()["budget"]["queued"] >= 50, what="alpha's reads queued")
        beta = [in_thread(self.get, v, headers={"X-API-Key": "beta-key"}) for v in vins[150:]]
        a = [g(120) for g in alpha]
        b = [g(120) for g in beta]
        elapsed = time.monotonic() - t0
        # The simulator never had to refuse anything ...
        sim = self.s.stats()
        self.assertEqual(sim["rate_limited"], 0)
        # ... and never saw more than N single-VIN reads in any window.
        times = sorted(e["time_ms"] for e in self.s.requests() if e["route"] == "get")
        self.assertEqual(len(times), sim["requests"]["get"])
        for i in range(len(times) - n):
            self.assertGreaterEqual(times[i + n] - times[i], window_ms, times)
        # Beta was served in the same period, through the same budget.
        for r, v in zip(b, vins[150:]):
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["vin"], v)
        # Alpha: the first window's worth at once, more after waiting their
        # turn, the rest 429 with a Retry-After that estimates the wait.
        ok = [r for r in a if r.status == 200]
        refused = [r for r in a if r.status != 200]
        for r in refused:
            fleetgate_error(self, r, 429)
            retry_after(self, r)
        self.assertGreater(len(ok), n, "reads that waited for budget were served")
        self.assertGreater(len(refused), 0)
        self.assertEqual(len(ok) + len(b), len(times))
        self.assertLess(elapsed, 30)
        st = self.g.stats()
        self.assertEqual(st["rate_limited"], len(refused))
        self.assertEqual(st["budget"]["sends"], len(times))
        self.assertEqual(st["budget"]["limit"], n)


class BudgetRate(CacheCase):
    upstream = "vin_get_rate = 7/min\n"

    def test_the_configured_rate_is_in_force_before_any_read_and_after_a_reload(self):
        # No single-VIN read has been made: the rate still comes from the file.
        b = self.g.stats()["budget"]
        self.assertEqual((b["limit"], b["window_s"]), (7, 60))
        with open(self.g.conf) as f:
            text = f.read()
        fgtest.write_atomic(self.g.conf, text.replace("vin_get_rate = 7/min", "vin_get_rate = 9/s"))
        self.assertEqual(self.g.reload()["reloads"], 1)
        b = self.g.stats()["budget"]
        self.assertEqual((b["limit"], b["window_s"]), (9, 1))
        self.assertEqual(b["sends"], 0)


class Pause(CacheCase):
    cache = "ttl = 1\nstale_if_error = 600\n"
    upstream = "vin_reads = single\n"

    def test_after_an_upstream_429_nothing_reaches_that_route_until_retry_after(self):
        pause = 20
        self.assertEqual(self.get(VIN2).status, 200)   # an entry to serve stale later
        self.s.ctl("POST", "/_sim/rate_limit", {"retry_after": pause})
        r = self.get()
        self.assertEqual(r.status, 429, r)              # the upstream's own 429, relayed
        self.assertNotEqual(r.json()["errors"][0].get("source"), "fleetgate")
        gets = [e for e in self.s.requests() if e["route"] == "get"]
        t429 = gets[-1]["time_ms"]
        n429 = len(gets)
        # During the pause: fleetgate answers by itself ...
        r = self.get(VIN3)
        fleetgate_error(self, r, 429)
        self.assertGreaterEqual(retry_after(self, r, hi=pause), pause - 3)
        # ... serves stale where it can ...
        r = wait_for(lambda: (lambda r: r if r.header("X-Cache") == "STALE" else None)(self.get(VIN2)),
                     timeout=5, interval=0.2, what="a stale answer during the pause")
        self.assertIn("detail=upstream-paused", r.header("Cache-Status"))
        # ... and keeps refusing until the pause is over; then reads flow.
        refused = []

        def served():
            r = self.get(VIN3)
            if r.status == 429:
                refused.append(r)
                return None
            return r
        r = wait_for(served, timeout=pause + 15, interval=0.5, what="reads to flow again")
        self.assertEqual(r.status, 200, r)
        self.assertGreater(len(refused), 5)
        for x in refused:
            fleetgate_error(self, x, 429)
        gets = [e for e in self.s.requests() if e["route"] == "get"]
        self.assertEqual(gets[n429 - 1]["time_ms"], t429)
        self.assertGreaterEqual(gets[n429]["time_ms"] - t429, pause * 1000)
        self.assertEqual(self.s.stats()["rate_limited"], 1)
        self.assertEqual(self.g.stats()["budget"]["pauses"], 1)


class TenantRate(CacheCase):
    tenants = {"limited": keyed_tenant("limited", "limited-key", "rate = 1/min\nburst = 2\n"),
               "free": keyed_tenant("free", "free-key")}

    def test_tenant_over_its_rate_gets_429_and_others_are_unaffected(self):
        lim = {"X-API-Key": "limited-key"}
        self.assertEqual(self.get(headers=lim).status, 200)
        self.assertEqual(self.get(headers=lim).status, 200)
        r = self.get(headers=lim)
        e = fleetgate_error(self, r, 429)
        self.assertIn("limited", e["detail"])
        self.assertGreaterEqual(retry_after(self, r), 20)   # one token a minute
        for _ in range(10):
            r = self.get(headers={"X-API-Key": "free-key"})
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.g.request("GET", LIST, headers=lim).status, 429)
        self.assertEqual(self.g.stats()["rate_limited"], 2)
        self.assertEqual(self.upstream_count(), 1)


if __name__ == "__main__":
    fgtest.main()
