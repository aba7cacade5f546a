#!/usr/bin/env python3
"""Black-box tests of the token lifecycle (docs/tokens.md): rotation before
expiry, never sending a token in its last moments, single flight, 401
recovery, outage back-off, rejected credentials, ES256 client assertions,
TLS verification, and no token or secret anywhere it must not be."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, run_fleetgate, wait_for  # noqa: E402

VIN = "EXVETESTVIN000001"
PATH = "/v1/fleets/vehicles/" + VIN


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def fleet_requests(sim):
    return [r for r in sim.requests() if not r["path"].startswith("/v1/access_tokens")]


def token_requests(sim):
    return sim.stats()["requests"]["token"]


class TokenTestCase(FgTestCase):
    def start(self, lifetime=300, sim_extra=(), **gw):
        self.s = self.sim(lifetime=lifetime, extra=["--vin-rate", "100000000"] + list(sim_extra))
        self.s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"}])
        # The simulator's own limit of 60 single-VIN reads a minute is not
        # under test here.
        self.g = self.gateway(sim=self.s, upstream="vin_get_rate = 100000/s", cache="enabled = no", **gw)
        return self.s, self.g


class Rotation(TokenTestCase):
    def test_rotates_before_expiry_and_never_sends_an_expired_token(self):
        s, g = self.start(lifetime=2)
        # With 2-second tokens, rotation at about 1 s: in ~3.5 s of steady
        # traffic at least three tokens are issued and none is refused.
        end = time.monotonic() + 3.5
        statuses = []
        while time.monotonic() < end:
            statuses.append(g.request("GET", PATH).status)
        self.assertEqual(set(statuses), {200})
        self.assertGreaterEqual(s.stats()["tokens_issued"], 3)
        self.assertEqual(s.stats()["unauthorized"], 0)
        st = g.stats()["token"]
        self.assertTrue(st["valid"])
        self.assertGreaterEqual(st["refreshes"], 3)
        self.assertLessEqual(st["expires_in_s"], 2)

    def test_one_second_tokens_under_concurrency(self):
        s, g = self.start(lifetime=1)
        results = []

        def hammer():
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                results.append(g.request("GET", PATH).status)
        getters = [in_thread(hammer) for _ in range(4)]
        for get in getters:
            get()
        self.assertTrue(results)
        self.assertEqual(set(results), {200})
        # A token is never sent within a tenth of its lifetime of expiry, so
        # the upstream never refuses one as expired.
        self.assertEqual(s.stats()["unauthorized"], 0)

    def test_jwt_exp_earlier_than_expires_in_wins(self):
        # expires_in says 60 s, the JWT's exp says 2 s: the gateway must
        # believe exp, rotate at ~1 s and never send a token past it.
        s, g = self.start(lifetime=60, sim_extra=["--jwt-tokens", "--jwt-lifetime", "2"])
        self.assertLessEqual(g.stats()["token"]["expires_in_s"], 2)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            self.assertEqual(g.request("GET", PATH).status, 200)
        self.assertGreaterEqual(s.stats()["tokens_issued"], 3)
        self.assertEqual(s.stats()["unauthorized"], 0)

    def test_refresh_before_is_honoured(self):
        s, g = self.start(lifetime=30, oauth="client_id = %s\nclient_secret = file:client_secret\n"
                          "refresh_before = 28\n" % fgtest.CLIENT_ID)
        # 30 s lifetime, refresh 28 s before expiry: a new token after ~2 s.
        wait_for(lambda: s.stats()["tokens_issued"] >= 2, timeout=6, what="a refresh after ~2 s")


class SingleFlight(TokenTestCase):
    def test_forty_401s_cause_one_refresh_and_every_request_is_retried(self):
        s, g = self.start()
        g.request("GET", PATH)
        t0 = token_requests(s)
        s.revoke_tokens()
        getters = [in_thread(g.request, "GET", PATH) for _ in range(40)]
        statuses = [get().status for get in getters]
        self.assertEqual(statuses, [200] * 40)
        self.assertEqual(token_requests(s) - t0, 1, "one token fetch for forty 401s")
        self.assertGreaterEqual(g.stats()["upstream"]["retries_after_401"], 1)

    def test_post_is_retried_once_after_401(self):
        s, g = self.start()
        g.request("GET", PATH)
        s.revoke_tokens()
        body = {"vehicles": [{"vin": "EXVETESTVIN000077", "brand": "bmw"}]}
        r = g.request("POST", "/v1/fleets/vehicles", body=body)
        self.assertEqual(r.status, 200, r)
        posts = [x for x in fleet_requests(s) if x["method"] == "POST"]
        self.assertEqual(len(posts), 2)
        self.assertEqual(posts[0]["body"], posts[1]["body"])
        self.assertNotEqual(posts[0]["headers"]["Authorization"], posts[1]["headers"]["Authorization"])

    def test_second_401_is_502_blaming_the_gateway_credentials(self):
        s, g = self.start()
        g.request("GET", PATH)
        s.faults(status=401, routes=["get"])
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 502)
        e = r.json()["errors"][0]
        self.assertEqual(e["source"], "fleetgate")
        self.assertIn("rejected the gateway's credentials", e["detail"])
        self.assertEqual(len([x for x in fleet_requests(s) if x["method"] == "GET"]), 3)  # 1 + 2 attempts


class Outage(TokenTestCase):
    def test_keeps_current_token_backs_off_then_recovers(self):
        s, g = self.start(lifetime=4)
        self.assertEqual(g.request("GET", PATH).status, 200)
        s.faults(token_status=503)
        t0 = token_requests(s)
        # The current token stays in use until its safe end (~3.6 s).
        self.assertEqual(g.request("GET", PATH).status, 200)
        wait_for(lambda: g.admin("GET", "/readyz").status == 503, timeout=8, what="token to run out")
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 503)
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertIn("token", r.json()["errors"][0]["detail"])
        st = g.stats()["token"]
        self.assertGreaterEqual(st["failures_transient"], 1)
        self.assertEqual(st["failures_rejected"], 0)
        # Exponential back-off: 1, 2, 4 s (±20 %) — few attempts, not a storm.
        attempts = token_requests(s) - t0
        self.assertLessEqual(attempts, 5, "token requests during the outage: %d" % attempts)
        s.faults()
        wait_for(lambda: g.admin("GET", "/readyz").status == 200, timeout=20, what="recovery")
        self.assertEqual(g.request("GET", PATH).status, 200)
        self.assertIn("token request failed (HTTP 503)", g.logs())

    def test_hanging_token_endpoint_times_out_and_is_retried(self):
        s = self.sim()
        s.faults(token_hang=True)
        g = self.gateway(sim=s, upstream="timeout = 1", wait_ready=False)
        wait_for(lambda: g.stats()["token"]["failures_transient"] >= 1, timeout=10, what="a timed-out fetch")
        self.assertEqual(g.admin("GET", "/readyz").status, 503)
        s.faults()
        wait_for(lambda: g.admin("GET", "/readyz").status == 200, timeout=15, what="recovery")

    def test_rejected_credentials_are_a_configuration_problem(self):
        s = self.sim()
        g = self.gateway(sim=s, wait_ready=False,
                         oauth="client_id = %s\nclient_secret = wrong-secret-value\n" % fgtest.CLIENT_ID)
        wait_for(lambda: g.stats()["token"]["failures_rejected"] >= 1, what="a rejected fetch")
        r = g.admin("GET", "/readyz")
        self.assertEqual(r.status, 503)
        self.assertIn("401", r.json()["reason"])
        self.assertEqual(g.stats()["token"]["failures_transient"], 0)
        self.assertIn("rejected the gateway's credentials", g.logs())
        self.assertIn("check [oauth]", g.logs())
        g.stop()
        self.assertNotIn("wrong-secret-value", g.all_logs())


class ClientAssertion(FgTestCase):
    def keys(self, curve="prime256v1"):
        openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", "key.pem", cwd=self.dir)
        openssl("ec", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=self.dir)
        os.chmod(os.path.join(self.dir, "key.pem"), 0o600)

    def test_es256_assertion_is_accepted(self):
        self.keys()
        kid = "5e3cc349-1c6f-4975-aeaa-9d319086190b"
        s = fgtest.Sim(self.dir, extra=["--public-key", os.path.join(self.dir, "pub.pem"), "--key-id", kid])
        self._stops.append(s.stop)
        s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s, oauth="client_id = %s\nprivate_key_file = key.pem\nkey_id = %s\n"
                         % (fgtest.CLIENT_ID, kid))
        self.assertEqual(g.request("GET", PATH).status, 200)
        tok = [r for r in s.requests() if r["path"] == "/v1/access_tokens"][-1]
        self.assertIn("client_assertion", tok["body"])
        self.assertNotIn("client_secret", tok["body"])
        g.stop()
        with open(os.path.join(self.dir, "key.pem")) as f:
            key_body = "".join(f.read().splitlines()[1:-1])
        self.assertNotIn(key_body[:40], g.all_logs())

    def test_bad_keys_are_configuration_errors(self):
        self.keys("secp384r1")
        g = self.gateway(start=False, oauth="client_id = x\nprivate_key_file = key.pem\nkey_id = k\n")
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("key.pem", r.stderr)
        self.keys()
        os.chmod(os.path.join(self.dir, "key.pem"), 0o644)
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("readable", r.stderr)
        os.chmod(os.path.join(self.dir, "key.pem"), 0o600)
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 0, r.stderr)


class Tls(FgTestCase):
    def make_ca(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=fgtest " + name, cwd=d)
        return d

    def server_cert(self, ca):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1", cwd=ca)
        with open(os.path.join(ca, "ext.cnf"), "w") as f:
            f.write("subjectAltName = IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=ca)
        return os.path.join(ca, "srv.pem"), os.path.join(ca, "srv.key")

    def test_right_ca_works(self):
        ca = self.make_ca("good")
        s = self.sim(tls=self.server_cert(ca))
        s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s, upstream="ca_file = %s/ca.pem" % ca)
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 200, r)

    def test_wrong_ca_fails_with_clear_log_and_502(self):
        good = self.make_ca("good")
        other = self.make_ca("other")
        tls_sim = self.sim(tls=self.server_cert(good))
        plain = fgtest.Sim(self.dir)   # issues the token over plain HTTP
        self._stops.append(plain.stop)
        g = self.gateway(sim=tls_sim, upstream="ca_file = %s/ca.pem" % other,
                         oauth="client_id = %s\nclient_secret = file:client_secret\ntoken_url = %s/v1/access_tokens\n"
                         % (fgtest.CLIENT_ID, plain.base_url))
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 502)
        self.assertIn("TLS", r.json()["errors"][0]["detail"])
        self.assertIn("TLS to the upstream failed", g.logs())
        self.assertEqual(tls_sim.stats()["requests"]["get"], 0)

    def test_token_endpoint_with_wrong_ca_is_never_trusted(self):
        good = self.make_ca("good")
        other = self.make_ca("other")
        s = self.sim(tls=self.server_cert(good))
        g = self.gateway(sim=s, upstream="ca_file = %s/ca.pem" % other, wait_ready=False)
        wait_for(lambda: g.stats()["token"]["failures_transient"] >= 1, what="a failed TLS fetch")
        self.assertEqual(g.admin("GET", "/readyz").status, 503)
        self.assertEqual(s.stats()["tokens_issued"], 0)


class Secrets(TokenTestCase):
    def test_no_token_or_secret_in_logs_stats_metrics_or_headers(self):
        s, g = self.start(lifetime=2)
        responses = [g.request("GET", PATH) for _ in range(5)]
        s.revoke_tokens()
        responses.append(g.request("GET", PATH))
        s.faults(status=401, routes=["get"])
        responses.append(g.request("GET", PATH))
        tokens = {r["headers"].get("Authorization", "")[7:] for r in s.requests()} - {""}
        self.assertGreaterEqual(len(tokens), 2)
        stats = g.admin("GET", "/stats").body.decode()
        metrics = g.admin("GET", "/metrics").body.decode()
        self.assertEqual(g.stop(), 0)
        haystack = g.all_logs() + stats + metrics
        for r in responses:
            haystack += repr(r.headers) + r.body.decode()
        self.assertNotIn(fgtest.CLIENT_SECRET, haystack)
        for t in tokens:
            self.assertNotIn(t, haystack)


if __name__ == "__main__":
    fgtest.main()
