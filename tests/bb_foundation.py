#!/usr/bin/env python3
"""Black-box tests of the foundation: command line, forwarding of every
route with an injected token, header rules, error shapes, graceful drain."""
import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, run_fleetgate, wait_for  # noqa: E402

VIN = "EXVETESTVIN000001"
VIN2 = "EXVETESTVIN000002"
KEYED = """[tenant]
name = keyed
keys_sha256 = %s
methods = GET, POST, DELETE
vin_prefixes = EXVE
""" % fgtest.sha256_hex("client-key-123")


def fleetgate_error(test, r, status):
    """Asserts the JSON error shape of docs/http.md."""
    test.assertEqual(r.status, status, r)
    test.assertTrue(r.header("Content-Type").startswith("application/json"))
    e = r.json()["errors"][0]
    test.assertEqual(e["source"], "fleetgate")
    test.assertTrue(e["title"])
    test.assertTrue(e["detail"])
    return e


class CommandLine(FgTestCase):
    def test_version_and_help(self):
        r = run_fleetgate("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^fleetgate \d+\.\d+")
        r = run_fleetgate("-h")
        self.assertEqual(r.returncode, 0)
        self.assertIn("-c FILE", r.stdout)

    def test_check_good_config(self):
        g = self.gateway(start=False)
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_check_reports_misspelt_key_with_file_and_line(self):
        g = self.gateway(start=False)
        with open(g.conf) as f:
            lines = f.read().splitlines()
        lines.insert(3, "wokers = 2")
        with open(g.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:4:" % g.conf, r.stdout + r.stderr)
        self.assertIn("wokers", r.stdout + r.stderr)
        # The daemon refuses to start with the same configuration.
        r = run_fleetgate("-c", g.conf)
        self.assertEqual(r.returncode, 1)

    def test_cannot_bind_is_exit_2(self):
        sim = self.sim()
        g = self.gateway(sim=sim)
        os.makedirs(self.dir + "/second")
        g2 = fgtest.Gateway(self.dir + "/second", sim=sim, start=False)
        with open(g2.conf) as f:
            text = f.read().replace("listen = 127.0.0.1:%d\n" % g2.port, "listen = 127.0.0.1:%d\n" % g.port, 1)
        with open(g2.conf, "w") as f:
            f.write(text)
        r = run_fleetgate("-c", g2.conf)
        self.assertEqual(r.returncode, 2, r.stderr)


class Forwarding(FgTestCase):
    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"},
                         {"vin": VIN2, "status": "pending", "brand": "bmw"}])
        self.g = self.gateway(sim=self.s, tenants={"all": fgtest.DEFAULT_TENANT, "keyed": KEYED})

    def last_upstream(self):
        reqs = [r for r in self.s.requests() if not r["path"].startswith("/v1/access_tokens")]
        self.assertTrue(reqs, "the simulator saw no fleet request")
        return reqs[-1]

    def assert_clean_upstream_headers(self, up):
        h = {k.lower(): v for k, v in up["headers"].items()}
        self.assertTrue(h["authorization"].startswith("Bearer "), h)
        self.assertNotIn("client-key-123", h["authorization"])
        self.assertNotIn("x-api-key", h)
        self.assertNotIn("cookie", h)
        self.assertNotIn("x-forwarded-for", h)
        self.assertNotIn("proxy-authorization", h)
        return h

    def test_every_route_reaches_upstream_with_token(self):
        cases = [
            ("GET", "/v1/fleets/vehicles", None, "/v1/fleets/vehicles"),
            ("POST", "/v1/fleets/vehicles", {"vehicles": [{"vin": "EXVETESTVIN000003", "brand": "bmw"}]},
             "/v1/fleets/vehicles"),
            ("GET", "/v1/fleets/vehicles/" + VIN, None, "/v1/fleets/vehicles/" + VIN),
            ("DELETE", "/v1/fleets/vehicles/" + VIN2, None, "/v1/fleets/vehicles/" + VIN2),
            ("POST", "/v1/fleets/%s/cancel_activation" % "EXVETESTVIN000003", None,
             "/v1/fleets/EXVETESTVIN000003/cancel_activation"),
            ("POST", "/v1/fleets/access_tokens", {"vin": VIN}, "/v1/fleets/access_tokens"),
        ]
        for method, path, body, up_path in cases:
            with self.subTest(method=method, path=path):
                r = self.g.request(method, path, body=body, headers={
                    "X-API-Key": "client-key-123", "Cookie": "session=abc",
                    "X-Forwarded-For": "10.1.2.3", "Proxy-Authorization": "Basic eHh4",
                    "X-Request-Id": "req-%s-1" % method.lower(), "Accept": "application/json"})
                self.assertNotIn(r.status, (401, 502, 503, 504), r)
                self.assertEqual(r.header("X-Request-Id"), "req-%s-1" % method.lower())
                up = self.last_upstream()
                self.assertEqual(up["method"], method)
                self.assertEqual(up["path"], up_path)
                h = self.assert_clean_upstream_headers(up)
                self.assertEqual(h["x-request-id"], "req-%s-1" % method.lower())
                self.assertEqual(h["accept"], "application/json")

    def test_get_returns_upstream_status_type_and_body(self):
        r = self.g.request("GET", "/v1/fleets/vehicles/" + VIN)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.json()["vin"], VIN)
        self.assertEqual(r.json()["status"], "approved")
        self.assertRegex(r.header("X-Request-Id"), r"^[0-9a-f]{32}$")
        # Upstream errors pass through with their own status and body.
        r = self.g.request("GET", "/v1/fleets/vehicles/EXVETESTVIN000099")
        self.assertEqual(r.status, 404)
        self.assertNotEqual(r.json()["errors"][0].get("source"), "fleetgate")

    def test_bearer_key_of_client_is_not_forwarded(self):
        r = self.g.request("GET", "/v1/fleets/vehicles/" + VIN, headers={"Authorization": "Bearer client-key-123"})
        self.assertEqual(r.status, 200, r)
        self.assert_clean_upstream_headers(self.last_upstream())
        # A key that matches no tenant is refused before anything goes up.
        n = len(self.s.requests())
        r = self.g.request("GET", "/v1/fleets/vehicles/" + VIN, headers={"Authorization": "Bearer wrong-key"})
        fleetgate_error(self, r, 401)
        self.assertEqual(len(self.s.requests()), n)

    def test_token_is_the_one_the_simulator_issued_and_stays_current(self):
        self.g.request("GET", "/v1/fleets/vehicles/" + VIN)
        self.assertGreaterEqual(self.s.stats()["tokens_issued"], 1)
        self.assertEqual(self.s.stats()["unauthorized"], 0)

    def test_error_shapes(self):
        fleetgate_error(self, self.g.request("GET", "/v1/nothing"), 404)
        fleetgate_error(self, self.g.request("GET", "/"), 404)
        e = self.g.request("PUT", "/v1/fleets/vehicles/" + VIN)
        fleetgate_error(self, e, 405)
        self.assertEqual(e.header("Allow"), "GET, DELETE")
        e = self.g.request("DELETE", "/v1/fleets/vehicles")
        fleetgate_error(self, e, 405)
        self.assertEqual(e.header("Allow"), "GET, POST")
        fleetgate_error(self, self.g.request("GET", "/v1/fleets/vehicles/NOTAVIN"), 400)
        fleetgate_error(self, self.g.request("POST", "/v1/fleets/vehicles", body="{not json",
                                             headers={"Content-Type": "application/json"}), 400)
        big = "x" * (1048576 + 1)
        fleetgate_error(self, self.g.request("POST", "/v1/fleets/vehicles", body=big,
                                             headers={"Content-Type": "application/json"}), 413)
        # None of these reached the upstream.
        self.assertEqual([r for r in self.s.requests() if not r["path"].startswith("/v1/access_tokens")], [])

    def test_upstream_timeout_is_504(self):
        self.s.faults(latency_ms=7000, routes=["get"])
        fleetgate_error(self, self.g.request("GET", "/v1/fleets/vehicles/" + VIN), 504)

    def test_graceful_drain_on_sigterm(self):
        self.s.faults(latency_ms=1500, routes=["get"])
        pending = in_thread(self.g.request, "GET", "/v1/fleets/vehicles/" + VIN)
        wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="request in flight at the simulator")
        self.g.send_signal(signal.SIGTERM)
        r = pending()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.g.stop(), 0)

    def test_client_hanging_up_mid_request_is_harmless(self):
        import socket
        self.s.faults(latency_ms=800, routes=["get"])
        for _ in range(3):
            c = socket.create_connection(("127.0.0.1", self.g.port))
            send_get(c, "/v1/fleets/vehicles/" + VIN, "gone")
            wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="request at the simulator")
            c.close()
        wait_for(lambda: self.s.stats()["in_flight"] == 0, what="the slow answers to arrive")
        self.s.faults()
        wait_for(lambda: self.g.stats()["requests"]["in_flight"] == 0, what="fleetgate to finish them")
        self.assertEqual(self.g.request("GET", "/v1/fleets/vehicles/" + VIN).status, 200)

    def test_secrets_never_logged(self):
        self.g.request("GET", "/v1/fleets/vehicles/" + VIN, headers={"X-API-Key": "client-key-123"})
        self.g.request("GET", "/v1/fleets/vehicles/" + VIN)
        self.g.request("POST", "/v1/fleets/vehicles", body={"vehicles": [{"vin": VIN, "brand": "bmw"}]})
        tokens = {r["headers"].get("Authorization", "")[7:] for r in self.s.requests()}
        tokens.discard("")
        self.assertTrue(tokens)
        self.assertEqual(self.g.stop(), 0)
        text = self.g.all_logs() + self.g.logs()
        self.assertIn("token", text)  # the logs do talk about the token...
        self.assertNotIn(fgtest.CLIENT_SECRET, text)  # ...but never show it
        for t in tokens:
            self.assertNotIn(t, text)
        self.assertNotIn("client-key-123", text)


class UpstreamDown(FgTestCase):
    def test_unreachable_upstream_is_502(self):
        s = self.sim()
        dead = fgtest.free_port()
        g = self.gateway(sim=s, base_url="http://127.0.0.1:%d" % dead,
                         oauth="client_id = %s\nclient_secret = file:client_secret\ntoken_url = %s/v1/access_tokens\n"
                         % (fgtest.CLIENT_ID, s.base_url))
        fleetgate_error(self, g.request("GET", "/v1/fleets/vehicles/" + VIN), 502)

    def test_readyz_is_503_without_token(self):
        dead = fgtest.free_port()
        g = self.gateway(base_url="http://127.0.0.1:%d" % dead, wait_ready=False)
        r = g.admin("GET", "/readyz")
        self.assertEqual(r.status, 503)
        self.assertIn("reason", r.json())
        self.assertEqual(g.admin("GET", "/healthz").json(), {"status": "ok"})
        # With no token, a request waits queue_timeout, then 503 + Retry-After.
        r = g.request("GET", "/v1/fleets/vehicles/" + VIN)
        fleetgate_error(self, r, 503)
        self.assertTrue(int(r.header("Retry-After")) >= 1)


def send_get(sock, path, rid):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n\r\n" % (path, rid)).encode())


def read_answer(f):
    """One HTTP/1.1 answer from the buffered reader F: (status, headers, body)."""
    status = int(f.readline().split()[1])
    headers = {}
    for line in iter(f.readline, b"\r\n"):
        if not line:
            raise AssertionError("connection closed inside the headers")
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


SEED = ["--seed-count", "3000", "--seed-prefix", "EXVESEED", "--vin-rate", "0"]
SEED_VIN, SEED_VIN2 = "EXVESEED000000001", "EXVESEED000000002"


class Connections(FgTestCase):
    """Client and upstream connections over their whole life: keep-alive,
    a request arriving while another is answered, hang-ups, an upstream
    restart, answers larger than a socket buffer. fleetgate keeps event
    registrations across requests (docs/benchmarks.md); these are the cases
    where that must step aside correctly. One worker, so every connection
    shares one event base and reused descriptors meet old registrations."""

    def setUp(self):
        super().setUp()
        self.s = self.sim(extra=SEED)
        self.g = self.gateway(sim=self.s, workers=1, cache="enabled = no\n", upstream="vin_get_rate = 100000/s\n")

    def assert_new_connections_served(self, n):
        """N requests, each on a new connection: a registration left on a
        closed descriptor would hang the one that gets its number."""
        for i in range(n):
            r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + SEED_VIN, timeout=10)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))

    def requests_on(self, c, f, n, tag, status=200):
        """N requests one after the other on the open connection C."""
        for i in range(n):
            send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "%s-%d" % (tag, i))
            self.assertEqual(read_answer(f)[0], status, "%s-%d" % (tag, i))

    def access_line(self, rid):
        """The access log line of request RID, once flushed (once a second)."""
        def find():
            with open(self.g.access_log) as f:
                return [json.loads(l) for l in f if '"%s"' % rid in l]
        return wait_for(find, what="the access log line of " + rid)[0]

    def connect(self):
        c = socket.create_connection(("127.0.0.1", self.g.port), timeout=20)
        self.addCleanup(c.close)
        return c, c.makefile("rb")

    def test_keep_alive_connection_serves_many_requests(self):
        c, f = self.connect()
        for i in range(40):
            send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "ka-%d" % i)
            st, h, body = read_answer(f)
            self.assertEqual((st, h["x-request-id"]), (200, "ka-%d" % i))
            self.assertEqual(json.loads(body)["vin"], SEED_VIN)

    def test_request_arriving_while_another_is_answered(self):
        self.s.faults(latency_ms=400, routes=["get"])
        c, f = self.connect()
        send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "first")
        wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="first request at the simulator")
        send_get(c, "/v1/fleets/vehicles/" + SEED_VIN2, "second")
        answers = [read_answer(f) for _ in range(2)]
        self.assertEqual([(a[0], a[1]["x-request-id"]) for a in answers], [(200, "first"), (200, "second")])
        self.s.faults()
        send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "third")
        self.assertEqual(read_answer(f)[0], 200)

    def test_hang_ups_mid_request_leave_new_connections_served(self):
        self.s.faults(latency_ms=300, routes=["get"])
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", self.g.port))
            send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "gone")
            wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="request at the simulator")
            c.close()
        wait_for(lambda: self.g.stats()["requests"]["in_flight"] == 0, what="fleetgate to finish them")
        self.s.faults()
        # The descriptors of the closed connections come back for these.
        self.assert_new_connections_served(60)

    def test_idle_connections_closed_by_timeout_leave_new_ones_served(self):
        self.g.stop()
        self.g = self.gateway(sim=self.s, workers=1, gateway="client_timeout = 1\n",
                              upstream="vin_get_rate = 100000/s\n")
        for round_ in range(3):
            c, f = self.connect()
            send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "idle-%d" % round_)
            self.assertEqual(read_answer(f)[0], 200)
            self.assertEqual(f.read(1), b"", "fleetgate closes the idle connection")
            self.assert_new_connections_served(10)

    def test_client_gone_while_queued_for_budget_spends_no_read(self):
        self.g.stop()
        self.g = self.gateway(sim=self.s, workers=1, cache="enabled = no\n",
                              upstream="vin_get_rate = 1/min\nqueue_timeout = 30\n")
        self.assertEqual(fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + SEED_VIN).status, 200)
        c = socket.create_connection(("127.0.0.1", self.g.port))
        send_get(c, "/v1/fleets/vehicles/" + SEED_VIN2, "gave-up")
        wait_for(lambda: self.g.stats()["budget"]["queued"] == 1, what="the read queued for budget")
        c.close()
        # Dropped at once, not after queue_timeout (30 s) or a budget slot.
        wait_for(lambda: self.g.stats()["requests"]["in_flight"] == 0, timeout=5, what="the queued read dropped")
        st = self.g.stats()
        self.assertEqual(st["budget"]["queued"], 0)
        self.assertEqual(st["requests"]["by_status"].get("499"), 1, st["requests"])
        self.assertIn('fleetgate_requests_total{tenant="all",route="vehicle_get",code="499"} 1',
                      self.g.admin("GET", "/metrics").body.decode())
        line = self.access_line("gave-up")
        self.assertEqual((line["status"], line["path"]), (499, "/v1/fleets/vehicles/" + SEED_VIN2))
        self.assertNotIn("/v1/fleets/vehicles/" + SEED_VIN2, [r["path"] for r in self.s.requests()])

    def test_leader_gone_while_queued_passes_the_read_to_its_waiter(self):
        self.g.stop()
        self.g = self.gateway(sim=self.s, workers=1, upstream="vin_get_rate = 1/s\nqueue_timeout = 30\nvin_reads = single\n")
        self.s.faults(latency_ms=1500, routes=["get"])
        first = in_thread(fgtest.request, self.g.port, "GET", "/v1/fleets/vehicles/" + SEED_VIN)
        wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="the first read holding the budget")
        leader = socket.create_connection(("127.0.0.1", self.g.port))
        send_get(leader, "/v1/fleets/vehicles/" + SEED_VIN2, "leader")
        wait_for(lambda: self.g.stats()["budget"]["queued"] == 1, what="the leader queued for budget")
        waiter = in_thread(fgtest.request, self.g.port, "GET", "/v1/fleets/vehicles/" + SEED_VIN2,
                           headers={"X-Request-Id": "waiter"})
        wait_for(lambda: self.g.stats()["requests"]["in_flight"] == 3, what="a second read of the same VIN")
        leader.close()
        self.assertEqual(first().status, 200)
        self.assertEqual(waiter().status, 200)
        self.assertEqual(self.access_line("leader")["status"], 499)
        self.assertEqual([r["path"] for r in self.s.requests()].count("/v1/fleets/vehicles/" + SEED_VIN2), 1)

    def test_client_gone_during_the_upstream_exchange_lets_it_finish(self):
        self.s.faults(latency_ms=400, routes=["get"])
        c = socket.create_connection(("127.0.0.1", self.g.port))
        send_get(c, "/v1/fleets/vehicles/" + SEED_VIN, "left")
        wait_for(lambda: self.s.stats()["in_flight"] >= 1, what="the read at the simulator")
        c.close()
        line = self.access_line("left")
        self.assertEqual(line["status"], 200, "the exchange ran to its end")
        self.s.faults()
        self.assert_new_connections_served(5)

    def test_upstream_restart_is_survived(self):
        c, f = self.connect()
        self.requests_on(c, f, 5, "before")
        port = self.s.port
        self.s.stop()
        self.s = self.sim(extra=SEED, port=port)
        # The pooled upstream connections died idle; their descriptors are
        # reused below by new client and upstream sockets alike.
        self.requests_on(c, f, 5, "after")
        self.assert_new_connections_served(30)

    def test_upstream_dropping_connections_leaves_new_ones_served(self):
        c, f = self.connect()
        self.requests_on(c, f, 3, "warm")
        self.s.faults(close=True, routes=["get"])
        self.requests_on(c, f, 3, "dropped", status=502)
        self.s.faults()
        self.assert_new_connections_served(30)

    def test_answer_larger_than_the_socket_buffers(self):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.settimeout(20)
        c.connect(("127.0.0.1", self.g.port))
        self.addCleanup(c.close)
        f = c.makefile("rb")
        for i in range(2):
            send_get(c, "/v1/fleets/vehicles", "big-%d" % i)
            st, h, body = read_answer(f)
            self.assertEqual(st, 200)
            self.assertEqual(len(body), int(h["content-length"]))
            self.assertGreater(len(body), 200000)
            self.assertEqual(len(json.loads(body)), 3000)


if __name__ == "__main__":
    fgtest.main()
