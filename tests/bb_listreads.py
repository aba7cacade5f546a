#!/usr/bin/env python3
"""Black-box tests of list-backed reads (issue 14, docs/cache.md "List-backed
reads"): single-VIN misses answered by batched list reads with a `vin` `in`
filter (vin_reads = auto | list | single), the fall-back to single reads for
a VIN the list answer lacks (a real 404 still comes from the upstream) and
for a failed list read (stale-if-error first), the pacing of list reads
(list_get_rate, the 429 pause), refresh-ahead of polled entries, policy per
tenant, and what /stats, /metrics and the access log say about it.

Rates and TTLs are scaled down so each case runs in seconds."""
import itertools
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, wait_for  # noqa: E402

GET = "/v1/fleets/vehicles/"
PREFIX = "EXVELIST"


def fleet_vin(i):
    return "%s%09d" % (PREFIX, i)


def keyed_tenant(name, key, prefixes="*", vins=None):
    t = "[tenant]\nname = %s\nkeys_sha256 = %s\nmethods = GET\n" % (name, fgtest.sha256_hex(key))
    if vins:
        return t + "vins = %s\n" % ", ".join(vins)
    return t + "vin_prefixes = %s\n" % prefixes


def list_filters(sim):
    """The VIN sets of the list reads the simulator saw, in order."""
    out = []
    for e in sim.requests():
        if e["route"] != "list":
            continue
        f = json.loads(urllib.parse.parse_qs(e["query"])["filter"][0])
        out.append(f)
    return out


class ListCase(FgTestCase):
    upstream = ""
    cache = "ttl = 60\n"
    tenants = None
    sim_extra = ("--seed-count", "150", "--seed-prefix", PREFIX)

    def setUp(self):
        super().setUp()
        self.s = self.sim(extra=self.sim_extra)
        self.g = self.gateway(sim=self.s, upstream=self.upstream, cache=self.cache, tenants=self.tenants)

    def get(self, vin, **kw):
        return self.g.request("GET", GET + vin, **kw)

    def all_at_once(self, vins, **kw):
        getters = [in_thread(self.get, v, **kw) for v in vins]
        return [g(120) for g in getters]

    def list_stats(self):
        return self.g.stats()["budget"]["list"]


class HundredVins(ListCase):
    """Done when: 100 VINs at once, 10 single reads a minute upstream."""
    upstream = "vin_get_rate = 10/min\n"
    sim_extra = ListCase.sim_extra + ("--vin-rate", "10")

    def test_hundred_vins_at_once_within_ten_single_reads(self):
        vins = [fleet_vin(i) for i in range(1, 101)]
        rs = self.all_at_once(vins)
        for v, r in zip(vins, rs):
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["vin"], v, r)
            self.assertEqual(r.header("X-Cache"), "MISS", r)
        sim = self.s.stats()
        self.assertLessEqual(sim["requests"]["get"], 10, sim)
        self.assertGreaterEqual(sim["requests"]["list"], 1, sim)
        self.assertLessEqual(sim["requests"]["list"], 10, sim)
        self.assertEqual(sim["rate_limited"], 0, sim)
        self.assertEqual(sim["list_rate_limited"], 0, sim)
        self.assertNotIn("429", sim["by_status"], sim)
        filters = list_filters(self.s)
        self.assertEqual(len(filters), sim["requests"]["list"])
        listed = set()
        for f in filters:
            self.assertEqual(f["vin"]["operator"], "in", f)
            listed.update(f["vin"]["value"])
        # Every VIN went upstream once, by a list read or a single read.
        self.assertEqual(len(listed) + sim["requests"]["get"], 100, (len(listed), sim))
        from_list = [r for r in rs if "detail=list-read" in (r.header("Cache-Status") or "")]
        self.assertEqual(len(from_list), len(listed))
        st = self.list_stats()
        self.assertEqual(st["sent"], sim["requests"]["list"], st)
        self.assertEqual(st["vins"], len(listed), st)
        self.assertEqual(st["served"], len(listed), st)
        self.assertGreaterEqual(st["batches"], 1, st)
        # Asked again: all hits, nothing upstream.
        before = self.s.stats()["requests"]
        rs = self.all_at_once(vins)
        self.assertEqual([r.header("X-Cache") for r in rs], ["HIT"] * 100)
        self.assertEqual([r.json()["vin"] for r in rs], vins)
        self.assertEqual(self.s.stats()["requests"], before)
        # The access log says which misses a list read answered.
        def caches():
            with open(self.g.access_log) as f:
                return [json.loads(line).get("cache") for line in f if line.startswith("{")]
        wait_for(lambda: caches().count("MISS-LIST") >= len(listed), what="MISS-LIST in the access log")
        self.assertEqual(caches().count("MISS-LIST"), len(listed))
        m = self.g.admin("GET", "/metrics").body.decode()
        self.assertIn("fleetgate_list_reads_total %d" % st["sent"], m)
        self.assertIn("fleetgate_list_read_vins_total %d" % st["vins"], m)


class ListMode(ListCase):
    upstream = "vin_reads = list\nlist_batch_window = 0.2\n"

    def test_unknown_vin_still_gets_the_upstream_404(self):
        unknown = "EXVEUNKNOWN000001"
        rs = self.all_at_once([unknown, fleet_vin(1), fleet_vin(2)])
        self.assertEqual(rs[0].status, 404, rs[0])
        self.assertNotEqual(rs[0].json()["errors"][0]["source"], "fleetgate", rs[0])
        self.assertEqual([r.status for r in rs[1:]], [200, 200])
        sim = self.s.stats()["requests"]
        self.assertEqual(sim["get"], 1, sim)       # the unknown VIN alone, after the list read
        self.assertEqual(sim["list"], 1, sim)
        self.assertEqual(self.list_stats()["fallbacks"], 1)

    def test_fifty_requests_of_one_vin_are_one_filter_entry(self):
        rs = self.all_at_once([fleet_vin(7)] * 50 + [fleet_vin(8)])
        self.assertEqual({r.status for r in rs}, {200})
        self.assertEqual({r.json()["vin"] for r in rs[:50]}, {fleet_vin(7)})
        # However the 51 requests fall into windows, VIN 7 went upstream once.
        listed = [v for f in list_filters(self.s) for v in f["vin"]["value"]]
        self.assertEqual(sorted(listed), [fleet_vin(7), fleet_vin(8)])
        self.assertEqual(self.s.stats()["requests"]["get"], 0)
        self.assertEqual(self.list_stats()["served"] + self.g.stats()["cache"]["hits"], 51)

    def test_a_no_cache_read_goes_single(self):
        r = self.get(fleet_vin(3), headers={"Cache-Control": "no-cache"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.s.stats()["requests"], dict(self.s.stats()["requests"], get=1, list=0))


class FailedListRead(ListCase):
    upstream = "vin_reads = list\n"
    cache = "ttl = 1\nstale_if_error = 600\n"

    def test_failed_list_read_falls_back_to_stale_then_to_single_reads(self):
        cached, fresh = fleet_vin(1), fleet_vin(2)
        self.assertEqual(self.get(cached).status, 200)
        self.s.faults(status=500, routes=["list"])
        # Once the entry has expired: the stale entry for the cached VIN,
        # a single read for the other.
        wait_for(lambda: self.get(cached).header("X-Cache") == "STALE", what="a stale answer")
        r = self.get(fresh)
        self.assertEqual((r.status, r.header("X-Cache"), r.json()["vin"]), (200, "MISS", fresh), r)
        self.assertEqual(self.s.stats()["requests"]["get"], 1)
        st = self.list_stats()
        self.assertGreaterEqual(st["failed"], 2, st)
        self.assertGreaterEqual(st["fallbacks"], 1, st)


class ListPacing(ListCase):
    upstream = "vin_reads = list\nlist_batch_window = 10ms\nlist_get_rate = 1000/min\n"
    sim_extra = ListCase.sim_extra + ("--list-rate", "2")

    def test_list_429_pauses_list_reads_and_requests_go_single(self):
        for i in range(1, 6):
            r = self.get(fleet_vin(i))
            self.assertEqual((r.status, r.json()["vin"]), (200, fleet_vin(i)), r)
        sim = self.s.stats()
        self.assertEqual(sim["requests"]["list"], 3, sim)   # two answered, one 429, then the pause
        self.assertEqual(sim["list_rate_limited"], 1, sim)
        self.assertEqual(sim["requests"]["get"], 3, sim)
        st = self.list_stats()
        self.assertEqual(st["throttled"], 1, st)
        self.assertGreater(self.g.stats()["budget"]["list"]["paused_for_s"], 0)


class PauseWhileQueued(ListCase):
    """A batch waiting for a list slot when another list read meets a 429
    goes to single reads at once instead of waiting out the slot or the
    pause (its requests would otherwise sit until their deadline)."""
    upstream = ("vin_reads = list\nlist_batch_window = 10ms\nlist_batch_max = 1\n"
                "list_get_rate = 2/min\nqueue_timeout = 30\ntimeout = 10\n")
    sim_extra = ListCase.sim_extra + ("--list-rate", "1")

    def test_a_queued_batch_falls_back_when_list_reads_pause(self):
        self.s.faults(latency_ms=1000, routes=["list"])
        t0 = time.monotonic()
        vins = [fleet_vin(i) for i in range(1, 4)]
        answers = self.all_at_once(vins)
        took = time.monotonic() - t0
        for v, r in zip(vins, answers):
            self.assertEqual((r.status, r.json()["vin"]), (200, v), r)
        sim = self.s.stats()
        # Two list reads (one answered, one 429); the 429'd VIN and the
        # queued one went single.
        self.assertEqual((sim["requests"]["list"], sim["requests"]["get"]), (2, 2), sim)
        st = self.list_stats()
        self.assertEqual((st["throttled"], st["fallbacks"]), (1, 2), st)
        # Not the 60 s of the list window nor the 40 s of the deadline.
        self.assertLess(took, 20, answers)
        # Each request is one miss, however it was answered.
        self.assertEqual(self.g.stats()["cache"]["misses"], 3)


class ListBudget(ListCase):
    upstream = "vin_reads = list\nlist_batch_window = 10ms\nlist_get_rate = 2/s\nqueue_timeout = 5\n"

    def test_list_reads_are_paced_by_list_get_rate(self):
        t0 = time.monotonic()
        for i in range(1, 6):
            self.assertEqual(self.get(fleet_vin(i)).status, 200)
        times = sorted(e["time_ms"] for e in self.s.requests() if e["route"] == "list")
        self.assertEqual(len(times), 5)
        # Never more than 2 in any second: the third waited for a slot.
        for a, b in zip(times, times[2:]):
            self.assertGreaterEqual(b - a, 950, times)
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        self.assertEqual(self.s.stats()["requests"]["get"], 0)


class RefreshAhead(ListCase):
    """Done when: TTL 3 s, 20 VINs polled every second for 10 s."""
    cache = "ttl = 3\n"

    def test_polled_vins_stay_hits_without_single_reads(self):
        vins = [fleet_vin(i) for i in range(1, 21)]
        first = self.all_at_once(vins)
        self.assertEqual({r.status for r in first}, {200})
        singles = self.s.stats()["requests"]["get"]
        hits = total = 0
        t0 = time.monotonic()
        for rnd in range(1, 11):
            # The polling service's own schedule, not synchronisation.
            time.sleep(max(0, t0 + rnd - time.monotonic()))
            for r in self.all_at_once(vins):
                self.assertEqual(r.status, 200, r)
                total += 1
                hits += r.header("X-Cache") == "HIT"
        self.assertGreaterEqual(hits / total, 0.95, (hits, total))
        self.assertEqual(self.s.stats()["requests"]["get"], singles)
        self.assertGreaterEqual(self.list_stats()["refreshes_ahead"], 40)

    def test_entries_nobody_reads_are_not_refreshed(self):
        self.assertEqual(self.get(fleet_vin(1)).status, 200)
        self.assertEqual(self.get(fleet_vin(1)).header("X-Cache"), "HIT")   # read once: one refresh
        wait_for(lambda: self.list_stats()["refreshes_ahead"] == 1, what="one refresh")
        lists = self.s.stats()["requests"]["list"]
        # Nobody reads the refreshed life: no further refresh, then it expires.
        time.sleep(3.5)
        self.assertEqual(self.s.stats()["requests"]["list"], lists)
        self.assertEqual(self.list_stats()["refreshes_ahead"], 1)


class RefreshOff(ListCase):
    cache = "ttl = 2\nrefresh_ahead = no\n"

    def test_no_refresh_when_off(self):
        self.assertEqual(self.get(fleet_vin(1)).status, 200)
        self.assertEqual(self.get(fleet_vin(1)).header("X-Cache"), "HIT")
        wait_for(lambda: self.get(fleet_vin(1)).header("X-Cache") == "MISS", what="the entry to expire")
        self.assertEqual(self.s.stats()["requests"]["list"], 0)
        self.assertEqual(self.list_stats()["refreshes_ahead"], 0)


class Policy(ListCase):
    upstream = "vin_reads = list\nlist_batch_window = 0.2\n"
    tenants = {
        "a": keyed_tenant("a", "key-a", vins=[fleet_vin(i) for i in range(1, 6)]),
        "b": keyed_tenant("b", "key-b", vins=[fleet_vin(i) for i in range(6, 11)]),
    }

    def test_a_batch_answers_each_tenant_only_its_own_vins(self):
        ga = [in_thread(self.get, fleet_vin(i), headers={"X-API-Key": "key-a"}) for i in range(1, 6)]
        gb = [in_thread(self.get, fleet_vin(i), headers={"X-API-Key": "key-b"}) for i in range(6, 11)]
        # a asks for b's VINs in the same window: refused before any batch.
        gx = [in_thread(self.get, fleet_vin(i), headers={"X-API-Key": "key-a"}) for i in range(6, 11)]
        for i, g in enumerate(ga + gb, start=1):
            r = g(60)
            self.assertEqual((r.status, r.json()["vin"]), (200, fleet_vin(i)), r)
        for g in gx:
            r = g(60)
            self.assertEqual(r.status, 403, r)
            self.assertNotIn(PREFIX, json.dumps([v for v in r.json().get("vin", [])]))
        self.assertEqual(self.s.stats()["requests"]["get"], 0)
        # Cached by b's list-served reads, still refused to a.
        r = self.get(fleet_vin(6), headers={"X-API-Key": "key-a"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.get(fleet_vin(6), headers={"X-API-Key": "key-b"}).header("X-Cache"), "HIT")


class AbandonedReads(ListCase):
    """Issue 22 item 1: a tenant (vin_prefixes = *) that asks for a VIN and
    hangs up 5-10 ms later, over and over, must not grow the pending set
    without bound nor starve another tenant's read: its abandoned VINs are
    dropped (never sent, never holding a list slot) and the pending set is
    served round robin across tenants. On main the victim got 504."""
    mode = "list"
    tenants = {
        "hostile": keyed_tenant("hostile", "key-h"),
        "victim": keyed_tenant("victim", "key-v", vins=[fleet_vin(1), fleet_vin(2)]),
    }

    def setUp(self):
        # A list slot about every second, 5 VINs each; the victim waits up
        # to 6 s. FIFO behind the flood it would need dozens of slots.
        self.upstream = ("vin_reads = %s\nlist_batch_max = 5\nlist_get_rate = 1/s\nvin_get_rate = 1/min\n"
                         "queue_timeout = 4\ntimeout = 2\n" % self.mode)
        super().setUp()

    def flood(self, stop, counter):
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
                s.sendall(b"GET /v1/fleets/vehicles/EXVEFLD%010d HTTP/1.1\r\nHost: x\r\nX-API-Key: key-h\r\n\r\n"
                          % next(counter))
                time.sleep(random.uniform(0.005, 0.010))
                s.close()
            except OSError:
                pass

    def test_a_tenant_hanging_up_on_its_reads_starves_nobody(self):
        counter, stop = itertools.count(), threading.Event()
        flooders = [threading.Thread(target=self.flood, args=(stop, counter)) for _ in range(4)]
        for t in flooders:
            t.start()
        try:
            # List reads under way and a flood's worth of VINs asked.
            wait_for(lambda: self.list_stats()["sent"] >= 2 and self.g.stats()["requests"]["total"] >= 300,
                     timeout=60, what="the flood to get going")
            box = {}
            victim = threading.Thread(target=lambda: box.update(r=self.get(fleet_vin(1),
                                                                             headers={"X-API-Key": "key-v"})))
            victim.start()
            st = self.list_stats()
            pending_max, share = st["pending"], st.get("pending_share", 0)
            while victim.is_alive():
                pending_max = max(pending_max, self.list_stats()["pending"])
                victim.join(0.05)
            r = box["r"]
        finally:
            stop.set()
            for t in flooders:
                t.join(30)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "MISS"), (r, self.list_stats()))
        self.assertEqual(r.json()["vin"], fleet_vin(1))
        # Bounded: the hostile tenant's share plus the victim's one VIN.
        self.assertLessEqual(pending_max, share + 1, pending_max)
        # Nobody waits any more: the pending set empties, and what was
        # dropped is counted.
        wait_for(lambda: self.list_stats()["pending"] == 0, timeout=30, what="the pending set to empty")
        st = self.list_stats()
        self.assertGreater(st["abandoned"], 0, st)
        self.assertEqual(self.g.stats()["requests"]["tenants"]["victim"]["requests"], 1)


class AbandonedReadsAuto(AbandonedReads):
    mode = "auto"


class RoundRobin(ListCase):
    """Pending VINs are served round robin across tenants, as the single-read
    queue is: one tenant's 60 queued VINs do not go ahead of another's one."""
    upstream = ("vin_reads = list\nlist_batch_window = 10ms\nlist_batch_max = 5\nlist_get_rate = 2/s\n"
                "queue_timeout = 30\ntimeout = 5\n")
    tenants = {
        "bulk": keyed_tenant("bulk", "key-a", vins=[fleet_vin(i) for i in range(1, 61)]),
        "one": keyed_tenant("one", "key-b", vins=[fleet_vin(100)]),
    }

    def test_one_tenants_backlog_does_not_delay_anothers_read(self):
        bulk = [in_thread(self.get, fleet_vin(i), headers={"X-API-Key": "key-a"}) for i in range(1, 61)]
        wait_for(lambda: self.list_stats()["pending"] >= 40, timeout=30, what="a backlog of 40 VINs")
        before = self.s.stats()["requests"]["list"]
        r = self.get(fleet_vin(100), headers={"X-API-Key": "key-b"})
        self.assertEqual((r.status, r.json()["vin"]), (200, fleet_vin(100)), r)
        for g in bulk:
            self.assertEqual(g(120).status, 200)
        filters = [set(f["vin"]["value"]) for f in list_filters(self.s)]
        at = [i for i, f in enumerate(filters) if fleet_vin(100) in f]
        self.assertEqual(len(at), 1, filters)
        # In the first list read sent after it asked (one more may have
        # been under way already), not after the backlog's 8 more.
        self.assertLessEqual(at[0], before + 1, (before, filters))
        self.assertEqual(self.s.stats()["requests"]["get"], 0)


class SingleMode(ListCase):
    upstream = "vin_reads = single\nvin_get_rate = 5/s\n"

    def test_single_never_sends_a_list_read(self):
        rs = self.all_at_once([fleet_vin(i) for i in range(1, 11)])
        self.assertEqual({r.status for r in rs}, {200})
        self.assertEqual(self.s.stats()["requests"]["get"], 10)
        self.assertEqual(self.s.stats()["requests"]["list"], 0)
        self.assertEqual(self.list_stats()["sent"], 0)


if __name__ == "__main__":
    fgtest.main()
