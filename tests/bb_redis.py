#!/usr/bin/env python3
"""Black-box tests of the Redis connection (issue 16, foundation): with a
[redis] section, /stats has a "redis" section and /metrics fleetgate_redis_*
lines; the state follows a real redis-server (up; SIGKILL: down within a
deadline while requests still work; restarted: up again; SIGSTOP: commands
time out, nothing hangs); a wrong password is an error without the password
in it; without [redis] nothing about Redis appears; -t refuses rediss://,
host names and credentials in the url with the reason."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, wait_for, run_fleetgate  # noqa: E402

VIN = "EXVETESTVIN000001"
GET = "/v1/fleets/vehicles/"
REDIS_PASSWORD = "r3dis-pa55word-never-shown"


def redis_state(g):
    return g.stats()["redis"]["state"]


class RedisConnection(FgTestCase):
    def setUp(self):
        super().setUp()
        self.r = self.redis()
        self.s = self.sim()
        self.s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"}])

    def start(self, extra=""):
        return self.gateway(sim=self.s, redis="url = %s\ntimeout = 0.2\nconnect_timeout = 0.5\n%s"
                            % (self.r.url, extra))

    def test_up_then_down_on_kill_then_up_after_restart(self):
        g = self.start()
        wait_for(lambda: redis_state(g) == "up", what="redis up")
        st = g.stats()["redis"]
        self.assertGreaterEqual(st["connects"], 1)
        self.assertEqual(st["eviction_policy"], "noeviction")
        self.assertTrue(st["eviction_safe"])
        metrics = g.admin("GET", "/metrics").body.decode()
        self.assertIn("fleetgate_redis_up 1\n", metrics)
        self.assertEqual(g.admin("GET", "/readyz").json(), {"status": "ready"})
        self.assertEqual(g.request("GET", GET + VIN).status, 200)   # cached before Redis goes

        self.r.kill(signal.SIGKILL)
        t0 = time.monotonic()
        wait_for(lambda: redis_state(g) == "down", timeout=6, what="redis down")
        # down after ~2 s of failure, not at the first error
        self.assertGreater(time.monotonic() - t0, 1.0)
        st = g.stats()["redis"]
        self.assertGreaterEqual(st["disconnects"], 1)
        self.assertNotEqual(st["last_error"], "")
        # cached answers do not depend on Redis (the budget does: bb_redis_share.py)
        self.assertEqual(g.request("GET", GET + VIN).header("X-Cache"), "HIT")
        ready = g.admin("GET", "/readyz")
        self.assertEqual(ready.status, 200)
        self.assertTrue(ready.json()["detail"].startswith("degraded: redis is down"), ready.json())
        self.assertIn("fleetgate_redis_up 0\n", g.admin("GET", "/metrics").body.decode())

        self.r.start()
        wait_for(lambda: redis_state(g) == "up", timeout=6, what="redis up again")
        self.assertGreaterEqual(g.stats()["redis"]["connects"], 2)

    def test_sigstop_times_out_and_nothing_hangs(self):
        g = self.start()
        wait_for(lambda: redis_state(g) == "up", what="redis up")
        self.assertEqual(g.request("GET", GET + VIN).status, 200)
        self.r.kill(signal.SIGSTOP)
        try:
            # liveness PINGs time out; the admin listener answers meanwhile
            wait_for(lambda: g.stats()["redis"]["timeouts"] >= 1, timeout=5, what="a redis time-out")
            t0 = time.monotonic()
            self.assertEqual(g.admin("GET", "/healthz").status, 200)
            self.assertLess(time.monotonic() - t0, 1.0)
            wait_for(lambda: redis_state(g) == "down", timeout=6, what="redis down while stopped")
            self.assertEqual(g.request("GET", GET + VIN).header("X-Cache"), "HIT")
        finally:
            self.r.kill(signal.SIGCONT)
        wait_for(lambda: redis_state(g) == "up", timeout=6, what="redis up after SIGCONT")

    def test_wrong_password_is_an_error_without_the_password(self):
        self.r.cmd("CONFIG", "SET", "requirepass", "the-right-one")
        with open(os.path.join(self.dir, "redis_pw"), "w") as f:
            f.write(REDIS_PASSWORD + "\n")
        g = self.start("password = file:redis_pw\n")
        wait_for(lambda: "handshake refused" in g.stats()["redis"]["last_error"], timeout=5,
                 what="AUTH refused")
        self.assertNotEqual(redis_state(g), "up")
        everything = g.admin("GET", "/stats").body.decode() + g.admin("GET", "/metrics").body.decode()
        g.stop()
        everything += g.all_logs()
        self.assertNotIn(REDIS_PASSWORD, everything)

    def test_password_and_db_from_env_are_used(self):
        self.r.cmd("CONFIG", "SET", "requirepass", REDIS_PASSWORD)
        os.environ["FG_TEST_REDIS_PW"] = REDIS_PASSWORD
        try:
            g = self.gateway(sim=self.s, redis="url = redis://127.0.0.1:%d/3\npassword = env:FG_TEST_REDIS_PW\n"
                             % self.r.port)
        finally:
            del os.environ["FG_TEST_REDIS_PW"]
        wait_for(lambda: redis_state(g) == "up", what="redis up with AUTH and SELECT 3")
        self.assertTrue(any("db=3" in line for line in client_list(self.r)), client_list(self.r))

    def test_eviction_policy_that_can_evict_the_budget_is_reported(self):
        self.r.cmd("CONFIG", "SET", "maxmemory", "100mb")
        self.r.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        g = self.start()
        wait_for(lambda: redis_state(g) == "up", what="redis up")
        st = g.stats()["redis"]
        self.assertFalse(st["eviction_safe"])
        self.assertEqual(st["eviction_policy"], "allkeys-lru")
        ready = g.admin("GET", "/readyz")
        self.assertEqual(ready.status, 200)
        self.assertIn("allkeys-lru", ready.json()["detail"])
        self.assertIn("maxmemory-policy", g.logs())


def client_list(r):
    """CLIENT LIST through a connection that authenticates first."""
    import socket
    s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    try:
        f = s.makefile("rb")
        s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(REDIS_PASSWORD), REDIS_PASSWORD.encode()))
        fgtest._resp_read(f)
        s.sendall(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n")
        return fgtest._resp_read(f).splitlines()
    finally:
        s.close()


class NoRedis(FgTestCase):
    def test_without_redis_section_nothing_about_redis(self):
        s = self.sim()
        g = self.gateway(sim=s)
        self.assertNotIn("redis", g.stats())
        self.assertNotIn("fleetgate_redis", g.admin("GET", "/metrics").body.decode())

    def test_empty_url_is_no_redis(self):
        s = self.sim()
        g = self.gateway(sim=s, redis="url =\n")
        self.assertNotIn("redis", g.stats())


class ConfigCheck(FgTestCase):
    def check(self, redis):
        g = self.gateway(redis=redis, start=False)
        return run_fleetgate("-t", "-c", g.conf)

    def test_rediss_refused_with_the_reason(self):
        r = self.check("url = rediss://127.0.0.1:6380/0\n")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"fleetgate\.conf:\d+: url: rediss:// \(TLS\) is not supported: "
                                   r"Debian's hiredis 0\.14 is built without TLS")
        self.assertIn("unix socket", r.stderr)
        self.assertIn("tunnel", r.stderr)

    def test_host_name_refused_ip_and_unix_accepted(self):
        r = self.check("url = redis://redis.example.com:6379/0\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a name: write its IP address or use unix:/path", r.stderr)
        for ok in ("redis://127.0.0.1:6379/2", "redis://[::1]:6379", "unix:/run/redis/redis.sock",
                   "redis://localhost"):
            r = self.check("url = %s\n" % ok)
            self.assertEqual(r.returncode, 0, (ok, r.stderr))

    def test_credentials_in_url_refused_without_echoing_them(self):
        r = self.check("url = redis://user:hunter2secret@127.0.0.1:6379/0\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("credentials do not belong in the url", r.stderr)
        self.assertNotIn("hunter2secret", r.stderr)

    def test_bad_values_each_reported(self):
        r = self.check("url = redis://127.0.0.1:6379/x\ntimeout = fast\non_failure = maybe\n"
                       "instances = 0\nusername = bob\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the database after '/' must be a number", r.stderr)
        self.assertIn("timeout: \"fast\" is not a duration", r.stderr)
        self.assertIn("on_failure: \"maybe\" is neither share nor closed", r.stderr)
        self.assertIn("instances: 0 is out of range", r.stderr)


if __name__ == "__main__":
    fgtest.main()
