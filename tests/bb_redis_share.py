#!/usr/bin/env python3
"""Black-box tests of state shared through Redis (issue 16): two fleetgate
processes, one simulator and one private redis-server.

The budget: reads split across both instances never exceed the
application's limit in any window and cause no upstream 429 (and, the
control, the same run without [redis] does); a 429 seen by one instance
pauses the other; Redis killed: down, cached answers still served, the
fallback share respected; Redis restarted empty: re-seeded, no overflow;
Redis stopped (SIGSTOP): commands time out and nothing hangs.

The cache's second level: a miss through A is a HIT through B (with its
age from Redis), a DELETE through A is seen by B at once, misses of one
VIN on both instances at once go upstream once (the fill lock), and with
cache = no nothing is shared.

The simulator enforces --vin-rate 10 single reads a minute and fleetgate
runs with vin_get_rate = 10/min with a short queue_timeout, so the reads
beyond the limit are refused by fleetgate within a second instead of
waiting a minute. The fallback test scales the window down instead
(4/s: same code, a one-second window)."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, wait_for  # noqa: E402

GET = "/v1/fleets/vehicles/"
PREFIX = "fgtest"


def vin(i):
    return "SIMVIN%011d" % i


def budget_key():
    return "%s:budget:{%s}" % (PREFIX, fgtest.sha256_hex(fgtest.CLIENT_ID)[:32])


class Shared(FgTestCase):
    rate = "10/min"
    sim_rate = "10"
    instances = 2

    def setUp(self):
        super().setUp()
        self.s = self.sim(extra=["--seed-count", "200", "--vin-rate", self.sim_rate])

    def two(self, redis=True, extra_redis="", queue_timeout=1):
        """Instances A and B, each in its own folder."""
        out = []
        for name in ("a", "b"):
            d = os.path.join(self.dir, name)
            os.makedirs(d, exist_ok=True)
            conf = None
            if redis:
                conf = ("url = %s\nprefix = %s\ntimeout = 0.2\nconnect_timeout = 0.5\ninstances = %d\n%s"
                        % (self.r.url, PREFIX, self.instances, extra_redis))
            g = fgtest.Gateway(d, sim=self.s, redis=conf,
                               # The shared single-VIN budget and cache are what is
                               # tested here: no list-backed reads in between (with
                               # auto, a full budget would send misses to them).
                               upstream="vin_get_rate = %s\nqueue_timeout = %s\nvin_reads = single\n"
                                        % (self.rate, queue_timeout),
                               cache="refresh_ahead = no\n")
            self._stops.append(lambda g=g: self.assertIn(g.stop(), (0, None)))
            out.append(g)
        if redis:
            for g in out:
                wait_for(lambda g=g: g.stats()["redis"]["state"] == "up", what="redis up")
        return out

    def burst(self, pairs):
        """GETs in parallel: [(gateway, vin)] -> statuses."""
        res = [None] * len(pairs)

        def one(i, g, v):
            res[i] = g.request("GET", GET + v).status
        ts = [threading.Thread(target=one, args=(i, g, v)) for i, (g, v) in enumerate(pairs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        return res

    def sim_gets(self):
        return [q for q in self.s.requests() if q["route"] == "get"]


class SharedBudget(Shared):
    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_reads_across_two_instances_stay_within_the_limit(self):
        a, b = self.two()
        # three through each first (so both hold sends of the window), then a burst over both
        res = [g.request("GET", GET + vin(i + 1)).status for i, g in enumerate([a, a, a, b, b, b])]
        self.assertEqual(res, [200] * 6)
        res += self.burst([((a, b)[i % 2], vin(i + 7)) for i in range(24)])
        st = self.s.stats()
        self.assertEqual(st["rate_limited"], 0, st)          # no upstream 429
        self.assertEqual(st["requests"]["get"], 10, st)       # exactly the limit
        self.assertEqual(res.count(200), 10, res)
        self.assertEqual(res.count(429), 20, res)
        for g in (a, b):
            self.assertEqual(g.stats()["budget"]["scope"], "shared")
        self.assertEqual(self.r.cmd("ZCARD", budget_key()), 10)
        self.assertGreater(self.r.cmd("PTTL", budget_key()), 0)   # every key has its TTL
        # both instances sent some of them: the budget is one, not two
        self.assertGreaterEqual(a.stats()["budget"]["sends"], 3)
        self.assertGreaterEqual(b.stats()["budget"]["sends"], 3)
        self.assertEqual(a.stats()["budget"]["sends"] + b.stats()["budget"]["sends"], 10)

    def test_429_seen_by_one_instance_pauses_the_other(self):
        a, b = self.two()
        self.s.ctl("POST", "/_sim/rate_limit", {"retry_after": 30})
        self.assertEqual(a.request("GET", GET + vin(1)).status, 429)
        wait_for(lambda: (self.r.cmd("PTTL", budget_key() + ":pause") or 0) > 20000,
                 timeout=3, what="the pause in Redis")
        before = self.s.stats()["requests"]["get"]
        r = b.request("GET", GET + vin(2))
        self.assertEqual(r.status, 429, r)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertEqual(self.s.stats()["requests"]["get"], before)   # B did not ask upstream
        self.assertGreater(b.stats()["budget"]["paused_for_s"], 20)

    def test_restarted_empty_redis_is_reseeded(self):
        a, b = self.two()
        res = self.burst([(a, vin(i + 1)) for i in range(6)])
        self.assertEqual(res, [200] * 6)
        self.r.restart()   # empty: no persistence
        wait_for(lambda: (self.r.cmd("ZCARD", budget_key()) or 0) == 6, timeout=8,
                 what="A's six sends seeded into the new Redis")
        wait_for(lambda: b.stats()["redis"]["state"] == "up", timeout=8, what="B up again")
        wait_for(lambda: b.stats()["budget"]["scope"] == "shared", timeout=8, what="B shared again")
        res = self.burst([(b, vin(i + 100)) for i in range(10)])
        st = self.s.stats()
        self.assertEqual(res.count(200), 4, res)
        self.assertEqual(st["rate_limited"], 0, st)
        self.assertEqual(st["requests"]["get"], 10, st)

    def test_sigstop_commands_time_out_and_nothing_hangs(self):
        a, b = self.two()
        self.assertEqual(a.request("GET", GET + vin(1)).status, 200)
        self.r.kill(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = a.request("GET", GET + vin(2), timeout=10)
            # unknown is never "granted": nothing went upstream while Redis was silent
            self.assertEqual(r.status, 429, r)
            self.assertLess(time.monotonic() - t0, 3.0)
            self.assertEqual(a.request("GET", GET + vin(1)).header("X-Cache"), "HIT")
            wait_for(lambda: a.stats()["redis"]["timeouts"] >= 1, timeout=5, what="a redis time-out")
            self.assertEqual(self.s.stats()["requests"]["get"], 1)
        finally:
            self.r.kill(signal.SIGCONT)
        wait_for(lambda: a.stats()["budget"]["scope"] == "shared", timeout=8, what="shared again")
        self.assertEqual(a.request("GET", GET + vin(3)).status, 200)


class SharedCache(Shared):
    sim_rate = "0"
    rate = "60/s"

    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_miss_through_a_is_hit_through_b(self):
        a, b = self.two()
        r1 = a.request("GET", GET + vin(1))
        self.assertEqual((r1.status, r1.header("X-Cache")), (200, "MISS"))
        wait_for(lambda: a.stats()["cache"]["second_level"]["stores"] == 1, timeout=3, what="stored in Redis")
        time.sleep(1.1)   # so Age, from Redis's remaining TTL, is at least 1
        r2 = b.request("GET", GET + vin(1))
        self.assertEqual((r2.status, r2.header("X-Cache")), (200, "HIT"), r2)
        self.assertIn("detail=shared", r2.header("Cache-Status"))
        self.assertGreaterEqual(int(r2.header("Age")), 1)
        self.assertEqual(r2.json(), r1.json())
        self.assertEqual(self.s.stats()["requests"]["get"], 1)
        self.assertEqual(b.stats()["cache"]["second_level"]["hits"], 1)
        # B keeps it in front now: a first-level hit, no Redis round trip
        self.assertEqual(b.request("GET", GET + vin(1)).header("X-Cache"), "HIT")
        self.assertEqual(b.stats()["cache"]["second_level"]["hits"], 1)
        ttl = self.r.cmd("PTTL", "%s:cache:{%s}:v" % (PREFIX, vin(1)))
        self.assertGreater(ttl, 0)

    def test_delete_through_a_is_seen_by_b_at_once(self):
        a, b = self.two()
        self.assertEqual(a.request("GET", GET + vin(2)).json()["status"], "approved")
        self.assertEqual(b.request("GET", GET + vin(2)).header("X-Cache"), "HIT")   # B holds a copy
        self.assertEqual(a.request("DELETE", GET + vin(2)).status, 200)
        wait_for(lambda: b.stats()["cache"]["second_level"]["remote_invalidations"] >= 1, timeout=1,
                 what="B told of the DELETE")
        r = b.request("GET", GET + vin(2))
        self.assertEqual(r.header("X-Cache"), "MISS", r)
        self.assertNotEqual(r.json()["status"], "approved")

    def test_misses_on_both_instances_go_upstream_once(self):
        a, b = self.two()
        self.s.faults(latency_ms=500, routes=["get"])
        res = self.burst([(a, vin(3)), (b, vin(3)), (a, vin(3)), (b, vin(3))])
        self.assertEqual(res, [200] * 4)
        self.assertEqual(self.s.stats()["requests"]["get"], 1)
        waits = sum(g.stats()["cache"]["second_level"]["lock_waits"] for g in (a, b))
        self.assertGreaterEqual(waits, 1)

    def test_store_that_raced_a_delete_is_refused(self):
        a, b = self.two()
        self.s.faults(latency_ms=700, routes=["get"])
        got = fgtest.in_thread(a.request, "GET", GET + vin(5))
        wait_for(lambda: self.s.stats()["in_flight"] == 1, timeout=3, what="A's read upstream")
        self.s.faults()
        self.assertEqual(b.request("DELETE", GET + vin(5)).status, 200)
        self.assertEqual(got().json()["status"], "approved")   # A's answer, from before the DELETE
        wait_for(lambda: a.stats()["cache"]["second_level"]["stores_refused"] == 1, timeout=3,
                 what="the racing store refused")
        self.assertEqual(self.r.cmd("EXISTS", "%s:cache:{%s}:v" % (PREFIX, vin(5))), 0)
        r = b.request("GET", GET + vin(5))
        self.assertNotEqual(r.json()["status"], "approved", r)

    def test_lost_subscription_flushes_the_local_cache(self):
        a, b = self.two()
        self.assertEqual(a.request("GET", GET + vin(6)).status, 200)
        self.assertEqual(a.stats()["cache"]["entries"], 1)
        self.r.cmd("CLIENT", "KILL", "TYPE", "pubsub")
        wait_for(lambda: a.stats()["cache"]["second_level"]["flushes"] == 1, timeout=5,
                 what="flushed after resubscribing")
        self.assertEqual(a.stats()["cache"]["entries"], 0)

    def test_cache_no_shares_nothing(self):
        a, b = self.two(extra_redis="cache = no\n")
        self.assertEqual(a.request("GET", GET + vin(4)).status, 200)
        self.assertEqual(b.request("GET", GET + vin(4)).header("X-Cache"), "MISS")
        self.assertNotIn("second_level", a.stats()["cache"])
        self.assertEqual(self.s.stats()["requests"]["get"], 2)


class Control(Shared):
    def test_without_redis_two_instances_overrun_the_limit(self):
        a, b = self.two(redis=False)
        self.burst([((a, b)[i % 2], vin(i + 1)) for i in range(30)])
        st = self.s.stats()
        self.assertGreater(st["requests"]["get"], 10, st)
        self.assertGreater(st["rate_limited"], 0, st)
        self.assertEqual(a.stats()["budget"]["scope"], "local")


class Fallback(Shared):
    rate = "4/s"        # window 1.1 s; share floor(4 / 2) = 2
    sim_rate = "0"

    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_redis_killed_down_hits_served_share_respected(self):
        a, b = self.two(queue_timeout=3)
        self.assertEqual(a.request("GET", GET + vin(1)).status, 200)
        self.r.kill(signal.SIGKILL)
        wait_for(lambda: a.stats()["redis"]["state"] == "down", timeout=6, what="down")
        wait_for(lambda: a.stats()["budget"]["scope"] == "local-share", timeout=2, what="local share")
        self.assertEqual(a.stats()["budget"]["share"], 2)
        t0 = time.monotonic()
        hit = a.request("GET", GET + vin(1))
        self.assertEqual((hit.status, hit.header("X-Cache")), (200, "HIT"))
        self.assertLess(time.monotonic() - t0, 0.5)
        # nothing for one window after going down, then 2 a window
        first = a.request("GET", GET + vin(2))
        self.assertEqual(first.status, 200)
        self.assertGreater(time.monotonic() - t0, 0.7)
        n0 = len(self.sim_gets())
        self.burst([(a, vin(i + 10)) for i in range(8)])
        times = [q["time_ms"] for q in self.sim_gets()[n0 - 1:]]
        for i, t in enumerate(times):
            inside = [u for u in times if t <= u < t + 1000]
            self.assertLessEqual(len(inside), 2, (i, times))
        ready = a.admin("GET", "/readyz")
        self.assertEqual(ready.status, 200)

    def test_closed_serves_only_cached_answers(self):
        a, b = self.two(extra_redis="on_failure = closed\n")
        self.assertEqual(a.request("GET", GET + vin(1)).status, 200)
        self.r.kill(signal.SIGKILL)
        wait_for(lambda: a.stats()["budget"]["scope"] == "closed", timeout=6, what="closed")
        n0 = self.s.stats()["requests"]["get"]
        self.assertEqual(a.request("GET", GET + vin(1)).header("X-Cache"), "HIT")
        self.assertEqual(a.request("GET", GET + vin(2)).status, 429)
        self.assertEqual(self.s.stats()["requests"]["get"], n0)


if __name__ == "__main__":
    fgtest.main()
