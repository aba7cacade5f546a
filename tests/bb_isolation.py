#!/usr/bin/env python3
"""Black-box tests of issue 22's admin side, its smaller items and the
durable audit log: the admin listener has a connection cap and an idle
timeout of its own, an admin listener reachable from other hosts needs a
token (or admin_open = yes), and a SIGKILL after N answered mutations
leaves N intent and N result lines (docs/operations.md, "The audit log")."""
import json
import os
import resource
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fgtest import FgTestCase, free_port, in_thread, run_fleetgate, sha256_hex, wait_for  # noqa: E402

VIN = "EXVETESTVIN000001"
PATH = "/v1/fleets/vehicles/" + VIN
CLEARANCE = json.dumps({"vin": VIN, "status": "approved", "brand": "bmw"})


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def raw(port, data, timeout=10):
    """Sends DATA on a fresh connection; returns everything read until the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk


class Isolation(FgTestCase):
    def start(self, **kw):
        self.s = self.sim(extra=["--vin-rate", "100000000"])
        self.s.vehicles([{"vin": VIN, "status": "approved", "brand": "bmw"}])
        kw.setdefault("upstream", "vin_get_rate = 100000/s\n")
        self.g = self.gateway(sim=self.s, **kw)
        return self.g

    def script(self, route, **kw):
        kw["route"] = route
        return self.s.ctl("POST", "/_sim/script", kw)


class AdminConnections(Isolation):
    def test_idle_admin_connections_cannot_take_the_tenants_descriptors(self):
        # 300 idle admin connections at RLIMIT_NOFILE=256 used to exhaust
        # the descriptors: tenant requests timed out, accept() failed.
        g = self.start(gateway="admin_max_connections = 16\nadmin_idle_timeout = 60\n", preexec_fn=low_nofile)
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection(("127.0.0.1", g.admin_port), timeout=10))
            # Those over the cap are answered 503 and closed at once.
            shed = socks[-1]
            self.assertIn(b" 503 ", shed.recv(4096).split(b"\r\n")[0] + b" ")
            for _ in range(20):   # tenants keep their descriptors (they timed out before)
                r = g.request("GET", PATH, timeout=10)
                self.assertEqual(r.status, 200, r)
        finally:
            for c in socks:
                c.close()
        st = wait_for(lambda: (lambda s: s if s["connections"]["admin_open"] <= 1 else None)(g.stats()),
                      what="admin connections closed")
        self.assertGreaterEqual(st["connections"]["admin_shed"], 300 - 16, st["connections"])
        self.assertIn("admin_max_connections reached", g.logs())

    def test_an_idle_admin_connection_is_closed_after_admin_idle_timeout(self):
        g = self.start(gateway="admin_idle_timeout = 1\n")
        with socket.create_connection(("127.0.0.1", g.admin_port), timeout=20) as c:
            self.assertEqual(c.recv(1), b"")   # closed by the gateway, well before 20 s


class AdminOpen(Isolation):
    def conf(self, gateway):
        path = os.path.join(self.dir, "t.conf")
        os.makedirs(os.path.join(self.dir, "tenants.d"), exist_ok=True)
        with open(path, "w") as f:
            f.write("[gateway]\nlisten = 127.0.0.1:1\ntenants_dir = tenants.d\n%s\n"
                    "[oauth]\nclient_id = x\nclient_secret = y\n" % gateway)
        return path

    def test_admin_off_loopback_without_token_is_refused_at_t(self):
        r = run_fleetgate("-t", "-c", self.conf("admin_listen = 0.0.0.0:18081"))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("t.conf:4: admin_listen: 0.0.0.0:18081 is reachable from other hosts", r.stderr)
        self.assertIn("admin_open = yes", r.stderr)
        self.assertNotIn("configuration OK", r.stdout)
        for ok in ("admin_listen = 0.0.0.0:18081\nadmin_open = yes",
                   "admin_listen = 0.0.0.0:18081\nadmin_token_sha256 = %s" % sha256_hex("t"),
                   "admin_listen = 127.0.0.1:18081", "admin_listen = [::1]:18081", "admin_listen = localhost:18081",
                   "admin_listen = unix:%s/a.sock" % self.dir):
            r = run_fleetgate("-t", "-c", self.conf(ok))
            self.assertEqual(r.returncode, 0, (ok, r.stderr))

    def test_reload_that_drops_the_token_of_an_open_admin_listener_is_refused(self):
        token, port = "admin-secret", free_port()
        self.s = self.sim()
        g = self.gateway(sim=self.s, start=False,
                         gateway="admin_listen = 0.0.0.0:%d\nadmin_token_sha256 = %s\n" % (port, sha256_hex(token)))
        g.admin_port = port
        g.start()
        with open(g.conf) as f:
            text = f.read().replace("admin_token_sha256 = %s\n" % sha256_hex(token), "")
        with open(g.conf, "w") as f:
            f.write(text)
        self.assertEqual(g.reload()["reload_failures"], 1)
        self.assertIn("is reachable from other hosts", g.logs())
        # A new admin_listen on loopback does not help: the one in force moves only with a restart.
        with open(g.conf, "w") as f:
            f.write(text.replace("0.0.0.0:%d" % port, "127.0.0.1:%d" % free_port()))
        self.assertEqual(g.reload()["reload_failures"], 2)


class Smaller(Isolation):
    def test_local_token_endpoint_refuses_application_jsonx_with_415(self):
        g = self.start(tenants={"all": "[tenant]\nname = all\nsources = 127.0.0.1\nmethods = GET\nvin_prefixes = *\n"})
        body = json.dumps({"grant_type": "client_credentials", "client_id": "all", "client_secret": "x"})
        r = g.request("POST", "/v1/access_tokens", body=body, headers={"Content-Type": "application/jsonx"})
        self.assertEqual(r.status, 415, r)
        for ct in ("application/json; charset=utf-8", "application/vnd.x+json"):
            r = g.request("POST", "/v1/access_tokens", body=body, headers={"Content-Type": ct})
            self.assertEqual(r.status, 200, (ct, r))
        r = g.request("POST", "/v1/fleets/vehicles", body=json.dumps({"vehicles": []}),
                      headers={"Content-Type": "application/jsonx"})
        self.assertEqual(r.status, 415, r)

    def test_an_upstream_answer_without_content_type_gets_none(self):
        g = self.start(cache="enabled = no")
        self.script("get", body=CLEARANCE, headers={})
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Type"), r.headers)

    def test_429_with_unreadable_retry_after_and_overflowing_hint_gets_the_pause(self):
        g = self.start(cache="enabled = no")
        self.script("get", status=429, body="retry after 99999999999999999999s",
                    headers={"Content-Type": "text/plain", "Retry-After": "soon"})
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.header("Retry-After"), "3600")
        # Without any hint: a whole window of vin_get_rate.
        g.admin("POST", "/budget/resume")
        self.script("get", status=429, body="{}", headers={"Content-Type": "application/json",
                                                           "Retry-After": "-1"})
        r = g.request("GET", PATH)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.header("Retry-After"), "1")   # 100000/s: a window of one second

    def test_content_length_with_a_sign_is_400(self):
        g = self.start()
        for cl in ("+2", "-2", "2 2", "0x2"):
            out = raw(g.port, b"POST /v1/fleets/vehicles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + cl.encode() + b"\r\n\r\n{}")
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), (cl, out[:200]))
        self.assertEqual(self.s.stats()["requests"].get("create", 0), 0)

    def test_admin_bearer_takes_a_tab_as_the_tenant_side_does(self):
        token = "admin-secret"
        g = self.start(gateway="admin_token_sha256 = %s\n" % sha256_hex(token))
        for auth in ("Bearer\t" + token, "bearer  " + token, "Bearer \t" + token + " "):
            out = raw(g.admin_port, b"POST /budget/resume HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Authorization: " + auth.encode() + b"\r\nContent-Length: 0\r\n\r\n")
            self.assertTrue(out.startswith(b"HTTP/1.1 200"), (auth, out[:200]))
        out = raw(g.admin_port, b"POST /budget/resume HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Authorization: Bearer wrong\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 401"), out[:200])


class DurableAudit(Isolation):
    N = 12

    def killed_after_mutations(self, sync):
        g = self.start(gateway="audit_sync = yes\n" if sync else "")
        vins = ["EXVETESTVIN0000%02d" % i for i in range(10, 10 + self.N)]
        self.s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in vins])
        rids = []
        for i, vin in enumerate(vins):
            rid = "kill-%s-%d" % (sync, i)
            r = g.request("DELETE", "/v1/fleets/vehicles/" + vin, headers={"X-Request-Id": rid})
            self.assertEqual(r.status, 200, r)
            rids.append(rid)
        g.proc.send_signal(signal.SIGKILL)
        g.proc.wait(30)
        g.proc = None   # nothing left to stop
        g.stderr.close()
        with open(g.audit_log) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        intents = [o["request_id"] for o in lines if o.get("event") == "intent"]
        results = [o["request_id"] for o in lines if o.get("event") == "result"]
        self.assertEqual(intents, rids)
        self.assertEqual(results, rids)
        for o in lines:
            self.assertEqual(o["vins"], [vins[rids.index(o["request_id"])]], o)
            self.assertEqual(o["route"], "vehicle_delete", o)
        return lines

    def test_sigkill_after_n_answered_mutations_leaves_n_intent_and_n_result_lines(self):
        self.killed_after_mutations(sync=False)

    def test_with_audit_sync_too(self):
        self.killed_after_mutations(sync=True)

    def test_intent_line_is_written_before_the_upstream_answers(self):
        g = self.start(gateway="audit_sync = yes\n")
        self.script("delete", body="{}", delay_ms=3000)
        get = in_thread(g.request, "DELETE", PATH, headers={"X-Request-Id": "slow-del"})
        wait_for(lambda: "slow-del" in read(g.audit_log),
                 what="the intent line while the upstream still works")
        text = read(g.audit_log)
        self.assertIn('"event":"intent"', text)
        self.assertNotIn('"event":"result"', text)
        self.assertEqual(get().status, 200)
        wait_for(lambda: '"event":"result"' in read(g.audit_log), what="the result line")


if __name__ == "__main__":
    from fgtest import main
    main()
