#!/usr/bin/env python3
"""Black-box tests of tenants and VIN policy (docs/tenants.md, the policy half of
§4) and of reload on SIGHUP (§1): every route allows the tenant's VINs and
refuses the others before anything reaches the simulator, list answers are
filtered, each attribution path works, and a reload swaps the whole policy
atomically (or changes nothing), opens and closes tenant listeners and
leaves requests in flight alone."""
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, run_fleetgate, sha256_hex, wait_for, write_atomic  # noqa: E402

SLOW = 10 if fgtest.VALGRIND else 1
NOCACHE = {"Cache-Control": "no-cache"}

A1, A2, A3 = "EXVETESTVIN000001", "EXVETESTVIN000002", "EXVETESTVIN000003"
B1, B2 = "EXVETESTVIN000901", "EXVETESTVIN000902"
FLEET = [A1, A2, A3, B1, B2]

DISPATCH_KEY, READER_KEY, OTHER_KEY, POSTER_KEY = "dispatch-key-1", "reader-key-1", "other-key-1", "poster-key-1"


def tenant(name, **keys):
    lines = ["[tenant]", "name = %s" % name]
    lines += ["%s = %s" % (k, v) for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def keyed(key):
    return {"X-API-Key": key}


def fleet_requests(sim):
    """What the simulator received on the fleet routes, by route."""
    reqs = sim.stats()["requests"]
    return {k: v for k, v in reqs.items() if k != "token"}


def refused(port):
    """True when nothing accepts on PORT any more."""
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class TenantCase(FgTestCase):
    def assert_error(self, r, status, *words):
        """The JSON error shape of docs/http.md, with WORDS in the detail."""
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        e = r.json()["errors"][0]
        self.assertEqual(e["source"], "fleetgate")
        self.assertEqual(e["title"], fgtest_reason(status))
        for w in words:
            self.assertIn(w, e["detail"])
        return e["detail"]

    def seed(self, sim, vins=FLEET, status="approved"):
        sim.vehicles([{"vin": v, "status": status, "brand": "bmw"} for v in vins])


def fgtest_reason(status):
    return {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}[status]


# ---- policy on every route ------------------------------------------------


class Policy(TenantCase):
    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.seed(self.s)
        self.g = self.gateway(sim=self.s, tenants={
            "dispatch": tenant("dispatch", keys_sha256=sha256_hex(DISPATCH_KEY), methods="GET, POST, DELETE",
                               vins="%s, %s" % (A1, A2.lower()), vin_file="dispatch.vins"),
            "reader": tenant("reader", keys_sha256=sha256_hex(READER_KEY), vin_prefixes="EXVE"),
            "poster": tenant("poster", keys_sha256=sha256_hex(POSTER_KEY), methods="POST", vin_prefixes="*"),
            "other": tenant("other", keys_sha256=sha256_hex(OTHER_KEY), methods="GET, POST, DELETE",
                            vins="%s, %s" % (B1, B2)),
        }, start=False)
        with open(os.path.join(self.g.tenants_dir, "dispatch.vins"), "w") as f:
            f.write("# the dispatch fleet\n  %s  # trimmed, comment after\n\n" % A3.lower())
        self.g.start()

    # route, method, path, body for VIN; the simulator's route name
    # (the simulator issues access tokens for approved clearances only, so
    # that route goes before the ones that revoke)
    ROUTES = [
        ("get", "GET", lambda v: "/v1/fleets/vehicles/" + v, lambda v: None),
        ("access_token", "POST", lambda v: "/v1/fleets/access_tokens", lambda v: {"vin": v}),
        ("delete", "DELETE", lambda v: "/v1/fleets/vehicles/" + v, lambda v: None),
        ("cancel", "POST", lambda v: "/v1/fleets/%s/cancel_activation" % v, lambda v: None),
        ("create", "POST", lambda v: "/v1/fleets/vehicles", lambda v: {"vehicles": [{"vin": v, "brand": "bmw"}]}),
    ]

    def test_every_vin_route_allows_own_vins_and_refuses_others_upstream_untouched(self):
        for simroute, method, path, body in self.ROUTES:
            for vin in (A1, A2, A3):   # inline, inline lower-case, VIN file
                with self.subTest(route=simroute, vin=vin, allowed=True):
                    before = fleet_requests(self.s)
                    r = self.g.request(method, path(vin), body=body(vin), headers={**keyed(DISPATCH_KEY), **NOCACHE})
                    # (the upstream's own refusals, e.g. 409 for a cancel
                    # after the delete, are fine: it was reached)
                    self.assertNotIn(r.status, (400, 401, 403), r)
                    after = fleet_requests(self.s)
                    self.assertEqual(after[simroute], before[simroute] + 1, (before, after))
            with self.subTest(route=simroute, vin=B1, allowed=False):
                before = fleet_requests(self.s)
                r = self.g.request(method, path(B1), body=body(B1), headers=keyed(DISPATCH_KEY))
                self.assert_error(r, 403, "VIN " + B1, "not allowed for tenant dispatch", "vins")
                self.assertEqual(fleet_requests(self.s), before)
        # The last request the simulator saw for a path VIN is the allowed one.
        last = [q for q in self.s.requests() if q["route"] == "access_token"][-1]
        self.assertIn(A3, last["body"])

    def test_list_is_filtered_to_the_tenants_vins(self):
        cases = [(DISPATCH_KEY, {A1, A2, A3}), (OTHER_KEY, {B1, B2}), (READER_KEY, set(FLEET))]
        for key, want in cases:
            with self.subTest(key=key):
                before = fleet_requests(self.s)["list"]
                r = self.g.request("GET", "/v1/fleets/vehicles", headers={**keyed(key), **NOCACHE})
                self.assertEqual(r.status, 200, r)
                self.assertEqual({v["vin"] for v in r.json()}, want)
                self.assertEqual(fleet_requests(self.s)["list"], before + 1)
        # The client's filter goes upstream as parsed (this one is already
        # compact with sorted keys, so byte for byte); the answer is still filtered.
        flt = "%7B%22status%22%3A%7B%22operator%22%3A%22eq%22%2C%22value%22%3A%22approved%22%7D%7D"
        r = self.g.request("GET", "/v1/fleets/vehicles?filter=" + flt, headers={**keyed(OTHER_KEY), **NOCACHE})
        self.assertEqual(r.status, 200, r)
        self.assertEqual({v["vin"] for v in r.json()}, {B1, B2})
        last = [q for q in self.s.requests() if q["route"] == "list"][-1]
        self.assertEqual(last["query"], "filter=" + flt)

    def test_methods_policy(self):
        before = fleet_requests(self.s)
        # GET-only tenant: DELETE, cancel (counts as DELETE) and POSTs are refused.
        r = self.g.request("DELETE", "/v1/fleets/vehicles/" + A1, headers=keyed(READER_KEY))
        self.assert_error(r, 403, "method DELETE", "tenant reader", "methods = GET")
        r = self.g.request("POST", "/v1/fleets/%s/cancel_activation" % A1, headers=keyed(READER_KEY))
        self.assert_error(r, 403, "method DELETE", "cancel_activation counts as DELETE")
        r = self.g.request("POST", "/v1/fleets/vehicles", body={"vehicles": [{"vin": A1}]}, headers=keyed(READER_KEY))
        self.assert_error(r, 403, "method POST", "tenant reader")
        r = self.g.request("POST", "/v1/fleets/access_tokens", body={"vin": A1}, headers=keyed(READER_KEY))
        self.assert_error(r, 403, "method POST", "tenant reader")
        # POST-only tenant with every VIN: no reads, no cancel.
        r = self.g.request("GET", "/v1/fleets/vehicles", headers=keyed(POSTER_KEY))
        self.assert_error(r, 403, "method GET", "tenant poster")
        r = self.g.request("GET", "/v1/fleets/vehicles/" + A1, headers=keyed(POSTER_KEY))
        self.assert_error(r, 403, "method GET", "tenant poster")
        r = self.g.request("POST", "/v1/fleets/%s/cancel_activation" % A1, headers=keyed(POSTER_KEY))
        self.assert_error(r, 403, "method DELETE", "tenant poster")
        self.assertEqual(fleet_requests(self.s), before)
        # ...while the allowed ones of the same tenants do go up.
        r = self.g.request("GET", "/v1/fleets/vehicles/" + A1, headers={**keyed(READER_KEY), **NOCACHE})
        self.assertEqual(r.status, 200, r)
        r = self.g.request("POST", "/v1/fleets/access_tokens", body={"vin": B1}, headers=keyed(POSTER_KEY))
        self.assertEqual(r.status, 200, r)
        after = fleet_requests(self.s)
        self.assertEqual((after["get"], after["access_token"]), (before["get"] + 1, before["access_token"] + 1))

    def test_create_is_all_or_nothing(self):
        before = fleet_requests(self.s)
        body = {"vehicles": [{"vin": A1, "brand": "bmw"}, {"vin": B1, "brand": "bmw"},
                             {"vin": A2, "brand": "bmw"}, {"vin": B2.lower(), "brand": "bmw"}]}
        r = self.g.request("POST", "/v1/fleets/vehicles", body=body, headers=keyed(DISPATCH_KEY))
        d = self.assert_error(r, 403, B1, B2, "not allowed for tenant dispatch")
        self.assertNotIn(A1, d)
        self.assertNotIn(A2, d)
        # one denied VIN among allowed ones
        body = {"vehicles": [{"vin": A1}, {"vin": A2}, {"vin": B1}, {"vin": A3}]}
        r = self.g.request("POST", "/v1/fleets/vehicles", body=body, headers=keyed(DISPATCH_KEY))
        self.assert_error(r, 403, "VIN " + B1 + " is not allowed")
        self.assertEqual(fleet_requests(self.s), before)
        # all allowed: forwarded once, body as sent
        body = {"vehicles": [{"vin": A1, "brand": "bmw"}, {"vin": A3, "brand": "bmw"}]}
        r = self.g.request("POST", "/v1/fleets/vehicles", body=body, headers=keyed(DISPATCH_KEY))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(fleet_requests(self.s)["create"], before["create"] + 1)

    def test_bad_bodies_are_400_and_never_forwarded(self):
        before = fleet_requests(self.s)
        cases = [
            ("/v1/fleets/vehicles", '{"vehicles": [{"vin": "%s"}, {"vin": "WBADT4345"}]}' % A1, "WBADT4345"),
            ("/v1/fleets/vehicles", '{"vehicles": [{"vin": "%s"}]' % A1, "not valid JSON"),
            ("/v1/fleets/vehicles", '', "not valid JSON"),
            ("/v1/fleets/vehicles", '[{"vin": "%s"}]' % A1, "JSON object"),
            ("/v1/fleets/vehicles", '{"vehicles": "%s"}' % A1, "vehicles"),
            ("/v1/fleets/vehicles", '{"vehicles": [{"vin": 17}]}', "vehicles[0].vin must be a string"),
            ("/v1/fleets/vehicles", '{"vehicles": ["%s"]}' % A1, "vehicles[0] must be an object"),
            ("/v1/fleets/access_tokens", '{"vin": "%s-"}' % A1, "is not a VIN"),
            ("/v1/fleets/access_tokens", '{"vehicle": "%s"}' % A1, "\"vin\" string"),
            ("/v1/fleets/access_tokens", 'vin=%s' % A1, "not valid JSON"),
        ]
        for path, body, word in cases:
            with self.subTest(body=body):
                r = self.g.request("POST", path, body=body,
                                   headers={**keyed(DISPATCH_KEY), "Content-Type": "application/json"})
                self.assert_error(r, 400, word)
        r = self.g.request("GET", "/v1/fleets/vehicles/EXVETESTVIN00000%21", headers=keyed(DISPATCH_KEY))
        self.assert_error(r, 400)
        self.assertEqual(fleet_requests(self.s), before)


# ---- attribution ----------------------------------------------------------


class Attribution(TenantCase):
    """Tenants that each allow one VIN, so the answer tells who was picked."""

    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.seed(self.s)
        self.dash_port = fgtest.free_port()
        self.sock = os.path.join(self.dir, "board.sock")
        self.v6 = ipv6_loopback()
        tenants = {
            "dash": tenant("dash", listen="127.0.0.1:%d" % self.dash_port, vins=A1),
            # relative unix: paths are relative to the tenant file's folder
            "board": tenant("board", listen="unix:../board.sock", vins=A2),
            "keyed": tenant("keyed", keys_sha256="%s, %s" % (sha256_hex("old-key"), sha256_hex("new-key")),
                            vins=A3),
            "loopnet": tenant("loopnet", sources="127.0.0.0/30", vins=B1),
            "host": tenant("host", sources="127.0.0.1", vins=B2),
        }
        if self.v6:
            tenants["six"] = tenant("six", sources="::1/128", vins=A1)
        self.g = self.gateway(sim=self.s, tenants=tenants, start=False)
        if self.v6:
            self.v6_port = fgtest.free_port()
            with open(self.g.conf) as f:
                text = f.read()
            text = text.replace("listen = 127.0.0.1:%d\n" % self.g.port,
                                "listen = 127.0.0.1:%d, [::1]:%d\n" % (self.g.port, self.v6_port), 1)
            with open(self.g.conf, "w") as f:
                f.write(text)
        self.g.start()

    def who(self, allowed_vin, **kw):
        """Asserts ALLOWED_VIN is served (200) to whoever KW makes the caller."""
        r = self.g.request("GET", "/v1/fleets/vehicles/" + allowed_vin, headers={**kw.pop("headers", {}), **NOCACHE}, **kw)
        self.assertEqual(r.status, 200, r)
        return r

    def denied_tenant(self, vin, **kw):
        """The tenant named by the 403 for VIN: who the caller was taken for."""
        r = self.g.request("GET", "/v1/fleets/vehicles/" + vin, **kw)
        self.assertEqual(r.status, 403, r)
        return re.search(r"tenant ([A-Za-z0-9_.-]+)", r.json()["errors"][0]["detail"]).group(1)

    def test_dedicated_tcp_listener(self):
        self.who(A1, port=self.dash_port)
        self.assertEqual(self.denied_tenant(B2, port=self.dash_port), "dash")
        # First match wins: on a dedicated listener keys are not looked at,
        # neither another tenant's nor an unknown one (docs/tenants.md).
        self.assertEqual(self.denied_tenant(A3, port=self.dash_port, headers=keyed("new-key")), "dash")
        self.who(A1, port=self.dash_port, headers=keyed("no-such-key"))

    def test_dedicated_unix_listener(self):
        self.assertTrue(os.path.exists(self.sock))
        self.who(A2, unix=self.sock)
        self.assertEqual(self.denied_tenant(A1, unix=self.sock), "board")
        # a unix client has no address: the source ranges never match it
        self.assertEqual(self.denied_tenant(B2, unix=self.sock), "board")

    def test_api_key_bearer_and_x_api_key(self):
        for h in ({"Authorization": "Bearer new-key"}, {"Authorization": "bearer old-key"},
                  {"X-API-Key": "new-key"}, {"X-API-Key": "old-key"}):
            with self.subTest(h=h):
                self.who(A3, headers=dict(h))
                self.assertEqual(self.denied_tenant(B2, headers=dict(h)), "keyed")

    def test_wrong_key_from_an_allowed_source_is_401(self):
        before = fleet_requests(self.s)
        for h in ({"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"X-API-Key": sha256_hex("new-key")}):
            with self.subTest(h=h):
                r = self.g.request("GET", "/v1/fleets/vehicles/" + B2, headers=h)   # 127.0.0.1 is "host"
                self.assert_error(r, 401, "API key")
        self.assertEqual(fleet_requests(self.s), before)

    def test_most_specific_source_wins_and_no_match_is_401(self):
        self.who(B2)                                             # 127.0.0.1/32: host
        self.assertEqual(self.denied_tenant(B1), "host")
        self.who(B1, source="127.0.0.2")                         # 127.0.0.0/30: loopnet
        self.assertEqual(self.denied_tenant(B2, source="127.0.0.2"), "loopnet")
        before = fleet_requests(self.s)
        r = self.g.request("GET", "/v1/fleets/vehicles/" + B1, source="127.0.0.9")   # nothing
        self.assert_error(r, 401, "no tenant")
        self.assertEqual(fleet_requests(self.s), before)

    def test_ipv6_loopback_source(self):
        if not self.v6:
            self.skipTest("::1 cannot be bound here")
        self.who(A1, port=self.v6_port, host="::1")
        self.assertEqual(self.denied_tenant(B2, port=self.v6_port, host="::1"), "six")
        # the IPv4 client on the same gateway is still "host"
        self.assertEqual(self.denied_tenant(A1), "host")


# ---- reload ---------------------------------------------------------------


class Hammer:
    """Client threads sending allowed requests until stopped; counts every
    answer and every connection-level failure."""

    def __init__(self, g, threads=3, headers=None, path="/v1/fleets/vehicles"):
        self.g, self.path, self.headers = g, path, headers or {}
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.failures = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i):
        conn = None
        while not self.stop_ev.is_set():
            try:
                if i == 0:   # thread 0 keeps its connection alive across reloads
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.g.port, timeout=30)
                    conn.request("GET", self.path, headers={**self.headers, **NOCACHE})
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                else:
                    status = self.g.request("GET", self.path, headers={**self.headers, **NOCACHE}).status
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append(repr(e))
                conn = None
        if conn:
            conn.close()

    def total(self):
        with self.lock:
            return sum(self.statuses.values())

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)
        return self.statuses, self.failures


class Reload(TenantCase):
    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.seed(self.s)
        self.g = self.gateway(sim=self.s, tenants={
            "dispatch": tenant("dispatch", keys_sha256=sha256_hex(DISPATCH_KEY), sources="127.0.0.1",
                               vin_file="dispatch.vins"),
            "other": tenant("other", keys_sha256=sha256_hex(OTHER_KEY), vins=B1),
        }, start=False)
        self.vins = os.path.join(self.g.tenants_dir, "dispatch.vins")
        write_atomic(self.vins, A1 + "\n")
        self.g.start()

    def status(self, vin, **kw):
        return self.g.request("GET", "/v1/fleets/vehicles/" + vin, headers={**kw.pop("headers", {}), **NOCACHE},
                              **kw).status

    def test_vin_added_by_reload_is_allowed_within_a_second_under_load(self):
        self.assertEqual(self.status(A2), 403)
        c0 = self.g.stats()["config"]
        hammer = Hammer(self.g)
        try:
            wait_for(lambda: hammer.total() >= 20, timeout=30, what="load to build up")
            write_atomic(self.vins, "%s\n%s\n" % (A1, A2))
            t0 = time.monotonic()
            self.g.send_signal(signal.SIGHUP)
            wait_for(lambda: self.status(A2) == 200, timeout=1.0 * SLOW, interval=0.01,
                     what="the added VIN to be allowed")
            took = time.monotonic() - t0
            # a few more reloads while the load goes on, with a tenant
            # listener coming and going each time
            extra = fgtest.free_port()
            for i in range(4):
                if i % 2 == 0:
                    self.g.write_tenant("late", tenant("late", listen="127.0.0.1:%d" % extra, vins=A3))
                else:
                    self.g.remove_tenant("late")
                n0 = hammer.total()
                self.g.reload()
                wait_for(lambda: hammer.total() >= n0 + 5, timeout=30, what="load to go on after the reload")
        finally:
            statuses, failures = hammer.stop()
        self.assertLess(took, 1.0 * SLOW)
        self.assertEqual(failures, [], "connection-level failures during reloads")
        self.assertEqual(set(statuses), {200}, statuses)
        self.assertGreater(sum(statuses.values()), 40)
        c1 = self.g.stats()["config"]
        self.assertEqual(c1["reloads"], c0["reloads"] + 5)
        self.assertEqual(c1["reload_failures"], c0["reload_failures"])
        self.assertGreater(c1["generation"], c0["generation"])
        self.assertIn("configuration reloaded", self.g.logs())

    def test_broken_tenant_file_leaves_the_old_policy_in_force(self):
        c0 = self.g.stats()["config"]
        # In the same reload: a VIN added (would be allowed) and a broken
        # tenant file. Nothing of it may take effect.
        write_atomic(self.vins, "%s\n%s\n" % (A1, A2))
        self.g.write_tenant("broken", "[tenant]\nname = broken\nsources = 10.0.0.0/33\nmethods = GET\n")
        c1 = self.g.reload()
        self.assertEqual(c1["reload_failures"], c0["reload_failures"] + 1)
        self.assertEqual(c1["reloads"], c0["reloads"])
        self.assertEqual(c1["generation"], c0["generation"])
        self.assertEqual(c1["tenants"], 2)
        broken = os.path.join(self.g.tenants_dir, "broken.conf")
        wait_for(lambda: "%s:3:" % broken in self.g.logs(), what="FILE:LINE in the log")
        self.assertEqual(self.status(A2), 403)
        self.assertEqual(self.status(A1), 200)
        self.assertEqual(self.status(B1, headers=keyed(OTHER_KEY)), 200)
        # A malformed VIN in the VIN file is refused the same way.
        self.g.remove_tenant("broken")
        write_atomic(self.vins, "%s\n%s\nNOT-A-VIN\n" % (A1, A2))
        c2 = self.g.reload()
        self.assertEqual(c2["reload_failures"], c1["reload_failures"] + 1)
        wait_for(lambda: "%s:3:" % self.vins in self.g.logs(), what="VIN file FILE:LINE in the log")
        self.assertEqual(self.status(A2), 403)
        # Fixed: the next reload takes all of it.
        write_atomic(self.vins, "%s\n%s\n" % (A1, A2))
        c3 = self.g.reload()
        self.assertEqual(c3["reloads"], c0["reloads"] + 1)
        self.assertEqual(self.status(A2), 200)

    def test_tenant_listeners_open_and_close_on_reload(self):
        port = fgtest.free_port()
        sock = os.path.join(self.dir, "late.sock")
        self.assertTrue(refused(port))
        self.g.write_tenant("late", tenant("late", listen="127.0.0.1:%d, unix:%s" % (port, sock), vins=A3))
        self.assertEqual(self.g.reload()["tenants"], 3)
        self.assertEqual(self.status(A3, port=port), 200)
        self.assertEqual(self.status(A3, unix=sock), 200)
        self.assertEqual(self.status(A1, port=port), 403)
        self.assertEqual(self.status(A3), 403)   # shared listener: still dispatch
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)   # kept alive across the reload
        idle.request("GET", "/v1/fleets/vehicles/" + A3, headers=NOCACHE)
        r = idle.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.g.remove_tenant("late")
        self.assertEqual(self.g.reload()["tenants"], 2)
        wait_for(lambda: refused(port), timeout=5 * SLOW, what="the removed listener to refuse connections")
        self.assertFalse(os.path.exists(sock))
        # The kept-alive connection is never served as anyone else: it is
        # answered 503 + Connection: close, or already closed by the server.
        try:
            idle.request("GET", "/v1/fleets/vehicles/" + A1, headers=keyed(DISPATCH_KEY))
            r = idle.getresponse()
            self.assertEqual((r.status, r.getheader("Connection")), (503, "close"))
        except (ConnectionError, http.client.RemoteDisconnected):
            pass
        idle.close()
        # ...and it can come back on the same address.
        self.g.write_tenant("late", tenant("late", listen="127.0.0.1:%d" % port, vins=A3))
        self.g.reload()
        self.assertEqual(self.status(A3, port=port), 200)
        self.assertIn("closing listener 127.0.0.1:%d" % port, self.g.logs())

    def test_in_flight_requests_finish_under_their_configuration(self):
        port = fgtest.free_port()
        self.g.write_tenant("late", tenant("late", listen="127.0.0.1:%d" % port, vins=A3))
        self.g.reload()
        self.s.faults(latency_ms=1500, routes=["get"])
        on_shared = in_thread(self.status, A1)
        on_late = in_thread(self.status, A3, port=port)
        wait_for(lambda: self.s.stats()["in_flight"] >= 2, what="both requests in flight at the simulator")
        # The reload removes A1 from dispatch and the whole "late" tenant
        # with its listener.
        write_atomic(self.vins, A2 + "\n")
        self.g.remove_tenant("late")
        self.g.reload()
        self.assertEqual(on_shared(), 200)
        self.assertEqual(on_late(), 200)
        self.s.faults()
        self.assertEqual(self.status(A1), 403)
        wait_for(lambda: refused(port), timeout=5 * SLOW, what="the removed listener to close")


# ---- fleetgate -t ---------------------------------------------------------


class CheckCommand(TenantCase):
    def check(self, tenants, files=None):
        g = fgtest.Gateway(self.dir, tenants=tenants, start=False)
        for name, text in (files or {}).items():
            with open(os.path.join(g.tenants_dir, name), "w") as f:
                f.write(text)
        r = run_fleetgate("-t", "-c", g.conf)
        return g, r

    def assert_reports(self, r, *prefix_and_words):
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        lines = out.splitlines()
        for prefix, word in prefix_and_words:
            self.assertTrue(any(ln.startswith(prefix) and word in ln for ln in lines),
                            "no line %r...%r in:\n%s" % (prefix, word, out))

    def test_cross_tenant_duplicates(self):
        k = sha256_hex("shared-key")
        g, r = self.check({
            "a": "[tenant]\nname = same\nlisten = 127.0.0.1:19101\nkeys_sha256 = %s\nsources = 10.0.0.0/8\n" % k,
            "b": "[tenant]\nname = same\nlisten = 127.0.0.1:19101\nkeys_sha256 = %s\nsources = 10.1.2.3/8\n" % k,
        })
        b = os.path.join(g.tenants_dir, "b.conf")
        self.assert_reports(r, (b + ":2:", "tenant name \"same\""), (b + ":3:", "127.0.0.1:19101"),
                            (b + ":4:", "API key"), (b + ":5:", "10.0.0.0/8"))
        self.assertNotIn(k, r.stdout + r.stderr)

    def test_malformed_values_with_file_and_line(self):
        g, r = self.check({
            "t": "[tenant]\nname = t\nsources = 10.0.0.0/8\n"
                 "vins = EXVETESTVIN00000\n"          # 4: 16 characters
                 "keys_sha256 = my-actual-secret-key\n"   # 5: not a hash, never echoed
                 "rate = 10/fortnight\n"              # 6
                 "vin_file = missing.vins, t.vins\n"  # 7
                 "burst = 0\n"                        # 8
                 "listen = 127.0.0.1:99999\n",        # 9
            "u": "[tenant]\nsources = 10.0.0.0/40, 300.1.1.1\n",
            "v": "[tenant]\nname = bad{label=\"x\"}\nsources = 10.9.0.0/16\n",
        }, files={"t.vins": "# ok\n%s\nEXVETESTVIN00000$\n" % A1})
        t = os.path.join(g.tenants_dir, "t.conf")
        u = os.path.join(g.tenants_dir, "u.conf")
        v = os.path.join(g.tenants_dir, "v.conf")
        self.assert_reports(r, (t + ":4:", "malformed VIN"), (t + ":5:", "keys_sha256"), (t + ":6:", "rate"),
                            (t + ":7:", os.path.join(g.tenants_dir, "missing.vins") + ": cannot read"),
                            (os.path.join(g.tenants_dir, "t.vins") + ":3:", "malformed VIN"),
                            (t + ":8:", "burst"), (t + ":9:", "listen"),
                            (u + ":2:", "10.0.0.0/40"), (u + ":2:", "300.1.1.1"),
                            (v + ":2:", "name"))
        self.assertNotIn("my-actual-secret-key", r.stdout + r.stderr)

    def test_good_tenants_are_ok(self):
        _, r = self.check({"a": tenant("a", sources="10.0.0.0/8", vins=A1, rate="5/s", burst="9"),
                           "b": tenant("b.x-y_Z", sources="10.0.0.0/16", vin_prefixes="*")})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK", r.stdout)


# ---- a million VINs -------------------------------------------------------


class MillionVins(TenantCase):
    def test_a_million_vin_file_loads_at_startup(self):
        s = self.sim()
        inside, outside = "EXVEM%012d" % 765432, "EXVEN%012d" % 765432
        self.seed(s, [inside, outside])
        g = self.gateway(sim=s, tenants={"big": tenant("big", sources="127.0.0.1", vin_file="big.vins")},
                         start=False)
        with open(os.path.join(g.tenants_dir, "big.vins"), "w") as f:
            f.write("# a million VINs\n")
            f.write("".join("EXVEM%012d\n" % i for i in range(1000000)))
        g.start()
        self.assertEqual(g.stats()["config"]["vins"], 1000000)
        r = g.request("GET", "/v1/fleets/vehicles/" + inside, headers=NOCACHE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vin"], inside)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + outside).status, 403)
        # and a reload keeps it
        self.assertEqual(g.reload()["vins"], 1000000)


if __name__ == "__main__":
    fgtest.main()
