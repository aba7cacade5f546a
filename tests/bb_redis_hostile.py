#!/usr/bin/env python3
"""Black-box tests of issue 21, "Redis holds input, not truth": what anyone
who can write to Redis can and cannot do to fleetgate.

With a real redis-server, values are planted by hand (RESP on a raw
socket): second-level entries with statuses that break HTTP framing (1),
bodies naming another VIN or lifetimes of 10^12 ms (2), forged, unsigned
and replayed entries against [redis] signing_key (and a rotation), a ten
day pause (3), a fill lock nobody will release (7). With fgtest.FakeRedis,
a Redis that lies: a read-only replica and one that cuts every script
reply (4: down, on_failure, /readyz), an integer answer to the grant script
(5: never a grant) and a 100 MB reply (6: the connection is dropped, memory
stays bounded). Drift: two instances, one reloaded with a changed
allowlist, drift reported by both. Signing keys never appear in logs,
/stats, /metrics or -T output."""
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, FakeRedis, wait_for, run_fleetgate  # noqa: E402

GET = "/v1/fleets/vehicles/"
PREFIX = "hostile"
SIGNING_KEY = "signing-key-0f1e2d3c4b5a-never-shown"
OLD_SIGNING_KEY = "previous-signing-key-9a8b7c-never-shown"


def vin(i):
    return "SIMVIN%011d" % i


def key(v, what):
    return "%s:cache:{%s}:%s" % (PREFIX, v, what)


def pause_key():
    return "%s:budget:{%s}:pause" % (PREFIX, fgtest.sha256_hex(fgtest.CLIENT_ID)[:32])


def now_ms():
    return int(time.time() * 1000)


def l2(g):
    return g.stats()["cache"]["second_level"]


class Hostile(FgTestCase):
    """One simulator with 200 VINs; gateways against self.r (a real Redis
    unless a test starts a fake one)."""
    rate = "60/min"

    def setUp(self):
        super().setUp()
        self.s = self.sim(extra=["--seed-count", "200"])
        os.environ["FG_TEST_SIGNING_KEY"] = SIGNING_KEY
        os.environ["FG_TEST_OLD_SIGNING_KEY"] = OLD_SIGNING_KEY

    def start(self, r, name="a", redis_extra="", upstream="", cache="ttl = 5\nrefresh_ahead = no\n", wait_up=True):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        conf = ("url = %s\nprefix = %s\ntimeout = 0.2\nconnect_timeout = 0.5\n%s" % (r.url, PREFIX, redis_extra))
        g = fgtest.Gateway(d, sim=self.s, redis=conf, cache=cache,
                           upstream="vin_get_rate = %s\nvin_reads = single\n%s" % (self.rate, upstream))
        self._stops.append(lambda: self.assertIn(g.stop(), (0, None)))
        if wait_up:
            wait_for(lambda: g.stats()["redis"]["state"] == "up", what="redis up")
        return g

    def sim_gets(self):
        return [q for q in self.s.requests() if q["route"] == "get"]

    def plant(self, v, fields, px=600000):
        """A second-level entry for V, written as any Redis client could."""
        args = []
        for k, val in fields.items():
            args += [k, val]
        self.r.cmd("DEL", key(v, "v"))
        self.r.cmd("HSET", key(v, "v"), *args)
        self.r.cmd("PEXPIRE", key(v, "v"), px)


class PlantedEntries(Hostile):
    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def assert_from_upstream(self, g, v, before):
        r = g.request("GET", GET + v)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vin"], v)
        self.assertNotIn("detail=shared", r.header("Cache-Status") or "")
        self.assertEqual(len(self.sim_gets()), before + 1)   # it went upstream
        return r

    def test_statuses_that_break_framing_are_refused(self):
        """Item 1: an entry with status 204/101/304/0/-1/99999 and a body
        holding a whole HTTP response is not served: the read goes
        upstream, and the next response on the connection is the next
        response."""
        g = self.start(self.r)
        smuggled = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nSMUGGLED"
        for i, status in enumerate(["204", "101", "304", "0", "-1", "99999"]):
            v = vin(i + 1)
            self.plant(v, {"s": status, "t": "application/json", "b": smuggled, "f": "60000", "x": "0",
                           "e": str(now_ms() + 60000), "m": ""})
            before = len(self.sim_gets())
            c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
            try:
                for _ in range(2):   # two requests on one connection
                    c.request("GET", GET + v)
                    r = c.getresponse()
                    body = r.read()
                    self.assertEqual(r.status, 200, (status, body))
                    self.assertNotIn(b"SMUGGLED", body)
                    self.assertEqual(json.loads(body)["vin"], v)
            finally:
                c.close()
            self.assertEqual(len(self.sim_gets()), before + 1, status)
        st = l2(g)
        self.assertGreaterEqual(st["rejected"], 6, st)
        self.assertGreaterEqual(st["errors"], 6, st)
        self.assertIn("cache_l2_rejected_total", g.admin("GET", "/metrics").body.decode())

    def test_another_vins_body_and_endless_freshness_are_refused(self):
        """Item 2: a body naming another VIN is never served, however
        fresh it claims to be; lifetimes of 9.2e18 ms are refused without
        arithmetic overflow (the UBSan build would abort); a genuine-looking
        entry claiming 10^10 ms of freshness gets this instance's ttl (5 s)
        and is gone locally once it has passed, although Redis still holds
        it for longer."""
        g = self.start(self.r)
        self.plant(vin(1), {"s": "200", "t": "application/json", "b": json.dumps({"vin": vin(2), "status": "approved"}),
                            "f": "1000000000000", "x": "0", "e": str(now_ms() + 10 ** 12), "m": ""}, px=999999999)
        self.assert_from_upstream(g, vin(1), len(self.sim_gets()))
        self.plant(vin(3), {"s": "200", "t": "application/json", "b": json.dumps({"vin": vin(3), "status": "approved"}),
                            "f": "9200000000000000000", "x": "-18200000000000000000", "e": "-1", "m": ""},
                   px=999999999)
        self.assert_from_upstream(g, vin(3), len(self.sim_gets()))
        # right VIN, freshness far beyond ttl = 5: capped
        self.plant(vin(4), {"s": "200", "t": "application/json",
                            "b": json.dumps({"vin": vin(4), "status": "approved", "brand": "planted"}),
                            "f": "10000000000", "x": "0", "e": str(now_ms() + 10 ** 10), "m": ""}, px=10000000000)
        before = len(self.sim_gets())
        r = g.request("GET", GET + vin(4))
        self.assertEqual(r.status, 200)
        cs = r.header("Cache-Status")
        self.assertIn("detail=shared", cs)
        ttl = int(cs.split("ttl=")[1].split(";")[0])
        self.assertLessEqual(ttl, 5, cs)
        self.r.cmd("DEL", key(vin(4), "v"))
        # the local copy lives no longer than ttl: it goes upstream again
        wait_for(lambda: g.request("GET", GET + vin(4)).header("X-Cache") == "MISS", timeout=8,
                 interval=0.2, what="the capped local copy to expire")
        self.assertEqual(len(self.sim_gets()), before + 1)
        self.assertGreaterEqual(l2(g)["rejected"], 2)

    def test_wrong_content_type_and_oversized_body_are_refused(self):
        g = self.start(self.r, upstream="max_upstream_bytes = 4K\n")
        body = json.dumps({"vin": vin(1), "status": "approved"})
        self.plant(vin(1), {"s": "200", "t": "text/html", "b": body, "f": "60000", "x": "0",
                            "e": str(now_ms() + 60000), "m": ""})
        self.assert_from_upstream(g, vin(1), len(self.sim_gets()))
        self.plant(vin(2), {"s": "200", "t": "application/json\r\nX-Injected: 1",
                            "b": json.dumps({"vin": vin(2)}), "f": "60000", "x": "0", "e": str(now_ms() + 60000),
                            "m": ""})
        r = self.assert_from_upstream(g, vin(2), len(self.sim_gets()))
        self.assertIsNone(r.header("X-Injected"))
        big = json.dumps({"vin": vin(3), "pad": "x" * 8192})
        self.plant(vin(3), {"s": "200", "t": "application/json", "b": big, "f": "60000", "x": "0",
                            "e": str(now_ms() + 60000), "m": ""})
        self.assert_from_upstream(g, vin(3), len(self.sim_gets()))

    def test_planted_fill_lock_does_not_hold_a_miss_for_its_life(self):
        """Item 7: a fill lock nobody will release (written into Redis,
        30 s) holds a miss no longer than fills here take (at least 2 s),
        not the lock's life nor queue_timeout + timeout (8 s here)."""
        g = self.start(self.r)
        self.r.cmd("SET", key(vin(1), "l"), "planted", "PX", "30000")
        t0 = time.monotonic()
        r = g.request("GET", GET + vin(1))
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertLess(took, 5.0, "waited %.1f s for a planted lock" % took)
        self.assertEqual(l2(g)["lock_waits"], 1)


class SignedEntries(Hostile):
    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_signed_entries_are_shared_and_forgeries_refused(self):
        keyed = "signing_key = env:FG_TEST_SIGNING_KEY\n"
        a = self.start(self.r, "a", keyed)
        b = self.start(self.r, "b", keyed)
        self.assertTrue(l2(a)["signed"])
        # a genuine entry: signed, and a HIT through the other instance
        self.assertEqual(a.request("GET", GET + vin(1)).status, 200)
        wait_for(lambda: self.r.cmd("HGET", key(vin(1), "v"), "m"), what="the entry stored")
        mac = self.r.cmd("HGET", key(vin(1), "v"), "m")
        self.assertEqual(len(mac), 64)
        r = b.request("GET", GET + vin(1))
        self.assertIn("detail=shared", r.header("Cache-Status"), r.headers)

        # a forgery: well formed, unsigned or wrongly signed
        for v, m in ((vin(2), ""), (vin(3), "0" * 64), (vin(4), mac)):
            self.plant(v, {"s": "200", "t": "application/json", "b": json.dumps({"vin": v, "status": "approved"}),
                           "f": "60000", "x": "0", "e": str(now_ms() + 60000), "m": m})
            before = len(self.sim_gets())
            r = b.request("GET", GET + v)
            self.assertEqual(r.status, 200)
            self.assertNotIn("detail=shared", r.header("Cache-Status") or "", v)
            self.assertEqual(len(self.sim_gets()), before + 1)
        self.assertGreaterEqual(l2(b)["rejected"], 3)

        # a replay: a genuine entry saved before a DELETE, put back after
        # it (the generation moved on), is refused
        v = vin(5)
        self.assertEqual(a.request("GET", GET + v).status, 200)
        wait_for(lambda: self.r.cmd("HGET", key(v, "v"), "m"), what="the entry stored")
        saved = self.r.cmd("HGETALL", key(v, "v"))
        self.assertEqual(a.request("DELETE", GET + v).status // 100, 2)
        wait_for(lambda: self.r.cmd("EXISTS", key(v, "v")) == 0, what="the entry invalidated")
        self.r.cmd("HSET", key(v, "v"), *saved)
        self.r.cmd("PEXPIRE", key(v, "v"), 60000)
        c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        c.request("GET", GET + v)
        r = c.getresponse()
        r.read()
        c.close()
        self.assertNotIn("detail=shared", r.getheader("Cache-Status") or "")

    def test_previous_key_accepted_during_rotation(self):
        old = self.start(self.r, "old", "signing_key = env:FG_TEST_OLD_SIGNING_KEY\n")
        self.assertEqual(old.request("GET", GET + vin(1)).status, 200)
        wait_for(lambda: self.r.cmd("HGET", key(vin(1), "v"), "m"), what="the entry stored")
        new = self.start(self.r, "new", "signing_key = env:FG_TEST_SIGNING_KEY\n"
                                        "signing_key_previous = env:FG_TEST_OLD_SIGNING_KEY\n")
        self.assertIn("detail=shared", new.request("GET", GET + vin(1)).header("Cache-Status"))
        other = self.start(self.r, "other", "signing_key = env:FG_TEST_SIGNING_KEY\n")
        before = len(self.sim_gets())
        self.assertNotIn("detail=shared", other.request("GET", GET + vin(1)).header("Cache-Status") or "")
        self.assertEqual(len(self.sim_gets()), before + 1)

    def test_signing_keys_never_shown(self):
        with open(os.path.join(self.dir, "signing.key"), "w") as f:
            f.write(SIGNING_KEY + "\n")
        g = self.start(self.r, "a", "signing_key = file:%s\nsigning_key_previous = env:FG_TEST_OLD_SIGNING_KEY\n"
                       % os.path.join(self.dir, "signing.key"))
        self.assertEqual(g.request("GET", GET + vin(1)).status, 200)
        everything = g.admin("GET", "/stats").body.decode() + g.admin("GET", "/metrics").body.decode()
        everything += g.admin("GET", "/").body.decode(errors="replace")
        t = run_fleetgate("-c", g.conf, "-T")
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertIn("signing_key = <redacted>", t.stdout)
        everything += t.stdout + t.stderr
        g.stop()
        everything += g.all_logs()
        everything += "".join(str(x) for x in self.r.cmd("HGETALL", key(vin(1), "v")))
        self.assertNotIn(SIGNING_KEY, everything)
        self.assertNotIn(OLD_SIGNING_KEY, everything)


class SharedPause(Hostile):
    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_planted_pause_is_capped_and_ended_by_a_delete(self):
        """Item 3: SET pause PX 10 days: the 429's Retry-After is at most
        3600 s, and deleting the key ends the pause on every instance."""
        a = self.start(self.r, "a")
        b = self.start(self.r, "b")
        self.r.cmd("SET", pause_key(), "1", "PX", "864000000")
        for g, v in ((a, vin(1)), (b, vin(2))):
            r = g.request("GET", GET + v)
            self.assertEqual(r.status, 429, r)
            self.assertLessEqual(int(r.header("Retry-After")), 3600, r.headers)
            self.assertLessEqual(g.stats()["budget"]["paused_for_s"], 3600)
        self.r.cmd("DEL", pause_key())
        for g, v in ((a, vin(3)), (b, vin(4))):
            wait_for(lambda g=g, v=v: g.request("GET", GET + v).status == 200, timeout=5, interval=0.1,
                     what="reads again after the pause key was deleted")
            self.assertEqual(g.stats()["budget"]["paused_for_s"], 0)
        self.assertEqual(self.r.cmd("EXISTS", pause_key()), 0)   # and nobody wrote it back


class LyingRedis(Hostile):
    rate = "3/min"

    def test_read_only_replica_goes_down_and_the_fallback_takes_over(self):
        """Item 4: every script refused (READONLY): the connection is down
        after ~2 s although it holds, budget.scope falls back, /readyz
        says degraded; a Redis that answers again brings it back."""
        mode = {"ro": True}

        def handler(kind, args, sock):
            if mode["ro"] and kind in ("grant", "seed", "commit", "pause", "cache_get", "cache_put", "drift",
                                       "unlock", "invalidate"):
                return b"-READONLY You can't write against a read only replica.\r\n"
            return None
        self.r = self.fake_redis(handler)
        g = self.start(self.r, wait_up=False)
        wait_for(lambda: g.stats()["redis"]["state"] == "down", timeout=8, what="down while commands fail")
        wait_for(lambda: g.stats()["budget"]["scope"] in ("local-share", "closed"), timeout=2,
                 what="the budget's fallback")
        st = g.stats()
        self.assertIn("READONLY", st["redis"]["last_error"])
        ready = g.admin("GET", "/readyz")
        self.assertEqual(ready.status, 200)
        self.assertIn("degraded: redis is down", ready.json().get("detail", ""), ready.json())
        self.assertIn("fleetgate_redis_up 0", g.admin("GET", "/metrics").body.decode())
        mode["ro"] = False
        wait_for(lambda: g.stats()["redis"]["state"] == "up", timeout=8, what="up once commands work")
        wait_for(lambda: g.stats()["budget"]["scope"] == "shared", timeout=8, what="shared again")

    def test_cut_replies_go_down(self):
        """Item 4: a Redis that cuts every script reply half way."""
        def handler(kind, args, sock):
            if kind in ("grant", "seed", "commit", "cache_get", "drift"):
                sock.sendall(b"*4\r\n:0\r\n")
                return FakeRedis.CLOSE
            return None
        self.r = self.fake_redis(handler)
        g = self.start(self.r, wait_up=False)
        wait_for(lambda: g.stats()["redis"]["state"] == "down", timeout=8, what="down while replies are cut")
        wait_for(lambda: g.stats()["budget"]["scope"] in ("local-share", "closed"), timeout=2,
                 what="the budget's fallback")
        self.assertIn("degraded", g.admin("GET", "/readyz").json().get("detail", ""))

    def test_integer_reply_to_the_grant_is_not_a_grant(self):
        """Item 5: a grant answered with an integer is an error, never a
        slot: with 3 a minute, six reads send at most 3 upstream and cause
        no upstream 429."""
        def handler(kind, args, sock):
            return b":1\r\n" if kind == "grant" else None
        self.r = self.fake_redis(handler)
        g = self.start(self.r, upstream="queue_timeout = 1\n")
        res = [g.request("GET", GET + vin(i + 1)).status for i in range(6)]
        st = self.s.stats()
        self.assertLessEqual(len(self.sim_gets()), 3, (res, st))
        self.assertEqual(st["rate_limited"], 0, st)
        self.assertIn("grant", self.r.kinds())
        self.assertGreater(g.stats()["redis"]["errors"], 0)
        self.assertIn("reply refused", g.stats()["redis"]["last_error"])

    def test_oversized_reply_is_cut_off(self):
        """Item 6: a 100 MB reply to a cache lookup drops the connection
        with RSS bounded (max_upstream_bytes = 1M: the cap is about that),
        and the read is answered from the upstream."""
        size = 100 << 20

        def handler(kind, args, sock):
            if kind != "cache_get":
                return None
            head = b"*10\r\n:1\r\n$1\r\n0\r\n$3\r\n200\r\n$16\r\napplication/json\r\n$%d\r\n" % size
            sock.sendall(head)
            chunk = b"x" * (1 << 20)
            for _ in range(size >> 20):
                sock.sendall(chunk)   # OSError once fleetgate drops us: the serve loop ends
            return FakeRedis.CLOSE
        self.r = self.fake_redis(handler)
        g = self.start(self.r, upstream="max_upstream_bytes = 1M\n")

        def peak_kb():
            with open("/proc/%d/status" % g.proc.pid) as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        before = peak_kb()
        r = g.request("GET", GET + vin(1))
        self.assertEqual(r.status, 200, r)
        grown = peak_kb() - before
        self.assertLess(grown, 40 * 1024, "peak RSS grew by %d kB" % grown)
        wait_for(lambda: "size cap" in g.stats()["redis"]["last_error"], what="the cut reply noted")


class Drift(Hostile):
    def setUp(self):
        super().setUp()
        self.r = self.redis()

    def test_a_reload_that_reached_one_instance_is_drift(self):
        a = self.start(self.r, "a")
        b = self.start(self.r, "b")
        for g in (a, b):
            wait_for(lambda g=g: g.stats()["redis"]["config_instances"] == 2, timeout=8, what="both published")
            self.assertFalse(g.stats()["redis"]["config_drift"])
        self.assertEqual(a.stats()["redis"]["config_hash"], b.stats()["redis"]["config_hash"])
        self.assertIn("fleetgate_redis_config_drift 0", a.admin("GET", "/metrics").body.decode())
        # A's allowlist changes; B never hears of it
        a.write_tenant("all", fgtest.DEFAULT_TENANT.replace("vin_prefixes = *", "vin_prefixes = SIMVIN"))
        self.assertEqual(a.reload().get("reload_failures", 0), 0)
        for g in (a, b):
            wait_for(lambda g=g: g.stats()["redis"]["config_drift"], timeout=8, what="drift reported")
            self.assertEqual(g.stats()["redis"]["config_hashes"], 2)
            self.assertIn("fleetgate_redis_config_drift 1", g.admin("GET", "/metrics").body.decode())
            self.assertIn("different tenant configurations", g.admin("GET", "/readyz").json().get("detail", ""))
        self.assertIn("config_drift", b.admin("GET", "/").body.decode())   # the status page
        # the same change on B ends it
        b.write_tenant("all", fgtest.DEFAULT_TENANT.replace("vin_prefixes = *", "vin_prefixes = SIMVIN"))
        b.reload()
        for g in (a, b):
            wait_for(lambda g=g: not g.stats()["redis"]["config_drift"], timeout=8, what="drift over")


if __name__ == "__main__":
    fgtest.main()
