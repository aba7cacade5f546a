#!/usr/bin/env python3
"""Black-box tests of the local token endpoint (issue 15): an existing High
Mobility client, pointed at fleetgate with a tenant's name and key as its
client_id and client_secret, works unchanged. Its token request is answered
by fleetgate itself (the upstream's token endpoint sees nothing of it), the
local bearer token attributes its tenant like an API key, wrong credentials
get the OAuth error shape, and the upstream only ever sees the gateway's own
token."""
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, in_thread, main, sha256_hex, wait_for  # noqa: E402

V1, V2, FOREIGN = "EXVETESTVIN000001", "EXVETESTVIN000002", "EXVETESTVIN000901"
KEY_OPS, KEY_OTHER = "ops-key-5c1e9a", "other-key-77d2b0"
SLOW = 10 if fgtest.VALGRIND else 1
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_requests(sim):
    return sim.stats()["requests"].get("token", 0)


class HMClient:
    """What a typical existing client does: its own token logic, form
    encoded, refreshing on expiry or 401. Nothing in here knows fleetgate."""

    def __init__(self, port, client_id, client_secret):
        self.port, self.client_id, self.client_secret = port, client_id, client_secret
        self.token, self.expires = None, 0

    def fetch_token(self):
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.client_id,
                                       "client_secret": self.client_secret})
        r = fgtest.request(self.port, "POST", "/v1/access_tokens", body=body, headers=FORM)
        if r.status != 200:
            return r
        j = r.json()
        self.token, self.expires = j["access_token"], time.monotonic() + j["expires_in"]
        return r

    def call(self, method, path, body=None):
        if not self.token or time.monotonic() >= self.expires:
            self.fetch_token()
        h = {"Authorization": "Bearer " + self.token}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body)
        r = fgtest.request(self.port, method, path, body=body, headers=h)
        if r.status == 401:
            self.fetch_token()
            h["Authorization"] = "Bearer " + self.token
            r = fgtest.request(self.port, method, path, body=body, headers=h)
        return r


class LocalToken(FgTestCase):
    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in (V1, FOREIGN)])
        self.g = self.gateway(sim=self.s, gateway="local_token_ttl = %d\n" % (3 * SLOW), tenants={
            "ops": "[tenant]\nname = ops\nkeys_sha256 = %s\nmethods = GET, POST, DELETE\nvins = %s, %s\n"
                   % (sha256_hex(KEY_OPS), V1, V2),
            "other": "[tenant]\nname = other\nkeys_sha256 = %s\nmethods = GET\nvins = %s\n"
                     % (sha256_hex(KEY_OTHER), FOREIGN),
        })

    def test_existing_client_sequence(self):
        tokens_before = token_requests(self.s)
        c = HMClient(self.g.port, "ops", KEY_OPS)
        r = c.fetch_token()
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["token_type"], "bearer")
        self.assertEqual(j["expires_in"], 3 * SLOW)
        self.assertNotIn(KEY_OPS, r.body.decode())
        self.assertEqual(token_requests(self.s), tokens_before, "a client's token request reached the upstream")

        r = c.call("POST", "/v1/fleets/vehicles", {"vehicles": [{"vin": V2, "brand": "bmw", "tags": {}}]})
        self.assertEqual(r.status, 200, r)
        r = c.call("GET", "/v1/fleets/vehicles/" + V1)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vin"], V1)
        f = json.dumps({"vin": {"operator": "eq", "value": V1}})   # printed with spaces
        r = c.call("GET", "/v1/fleets/vehicles?filter=" + urllib.parse.quote(f))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([v["vin"] for v in r.json()], [V1])
        r = c.call("DELETE", "/v1/fleets/vehicles/" + V2)
        self.assertIn(r.status, (200, 204), r)

        # The token runs out; the client notices by expiry or by a 401 and refetches.
        first = c.token
        wait_for(lambda: fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1,
                                        headers={"Authorization": "Bearer " + first}).status == 401,
                 timeout=10 * SLOW, what="the local token to expire")
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1,
                           headers={"Authorization": "Bearer " + first})
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "", r.headers)
        r = c.call("GET", "/v1/fleets/vehicles/" + V1)
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(c.token, first)

        # The upstream only ever saw the gateway's own token.
        for q in self.s.requests():
            auth = {k.lower(): v for k, v in q["headers"].items()}.get("authorization", "")
            self.assertNotIn(first, auth)
            self.assertNotIn(c.token, auth)
            self.assertNotIn(KEY_OPS, auth)
        self.assertEqual(token_requests(self.s), tokens_before)

    def test_json_token_request_works(self):
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens",
                           body={"grant_type": "client_credentials", "client_id": "ops", "client_secret": KEY_OPS})
        self.assertEqual(r.status, 200, r)

    def test_wrong_credentials_get_invalid_client_and_nothing_forwarded(self):
        before = self.s.stats()["requests"]
        for cid, secret in (("ops", KEY_OTHER), ("nobody", KEY_OPS), ("ops", "")):
            with self.subTest(client_id=cid):
                r = HMClient(self.g.port, cid, secret).fetch_token()
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.json()["error"], "invalid_client")
                self.assertNotIn(KEY_OPS, r.body.decode())
        self.assertEqual(self.s.stats()["requests"], before)

    def test_a_local_token_cannot_read_another_tenants_vins(self):
        c = HMClient(self.g.port, "ops", KEY_OPS)
        self.assertEqual(c.fetch_token().status, 200)
        r = c.call("GET", "/v1/fleets/vehicles/" + FOREIGN)
        self.assertEqual(r.status, 403, r)

    def test_unknown_bearer_is_401_invalid_token(self):
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1,
                           headers={"Authorization": "Bearer not-a-token-at-all"})
        self.assertEqual(r.status, 401, r)
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "")

    def test_key_as_bearer_keeps_working(self):
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1,
                           headers={"Authorization": "Bearer " + KEY_OPS})
        self.assertEqual(r.status, 200, r)

    def test_client_habits(self):
        """What hand-written clients send: a filter printed with spaces and
        quoted with %22 (spaces as %20 or +), their own Content-Type on a
        create with empty tags, and the deprecated routes, all with a local
        bearer token."""
        c = HMClient(self.g.port, "ops", KEY_OPS)
        self.assertEqual(c.fetch_token().status, 200)
        printed = '{"vin": {"operator": "eq", "value": "%s"}}' % V1
        for query in (urllib.parse.quote(printed, safe=""), urllib.parse.quote(printed, safe="{}:,"),
                      urllib.parse.quote_plus(printed, safe="{}:,")):
            with self.subTest(query=query):
                r = c.call("GET", "/v1/fleets/vehicles?filter=" + query)
                self.assertEqual(r.status, 200, r)
                self.assertEqual([v["vin"] for v in r.json()], [V1])
        h = {"Authorization": "Bearer " + c.token, "Content-Type": "application/json; charset=utf-8"}
        r = fgtest.request(self.g.port, "POST", "/v1/fleets/vehicles", headers=h,
                           body=json.dumps({"vehicles": [{"vin": V2, "brand": "bmw", "tags": {}}]}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vehicles"][0]["vin"], V2)
        r = c.call("POST", "/v1/fleets/access_tokens", {"vin": V1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["token_type"], "bearer")   # the upstream's vehicle token, relayed
        r = c.call("POST", "/v1/fleets/%s/cancel_activation" % V1)
        self.assertIn(r.status, (200, 204), r)
        seen = [q["route"] for q in self.s.requests()]
        self.assertIn("access_token", seen)
        self.assertIn("cancel", seen)

    def test_source_attributed_tenant_needs_no_secret(self):
        """A tenant attributed by its source address has no key: its client
        gets a token with any secret, from that address only, and the token
        then speaks for that tenant from anywhere."""
        self.g.write_tenant("src", "[tenant]\nname = src\nsources = 127.0.0.2/32\nvins = %s\n" % V1)
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "src",
                                       "client_secret": "whatever-the-client-had"})
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens", body=body, headers=FORM, source="127.0.0.1")
        self.assertEqual(r.status, 401, r)
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens", body=body, headers=FORM, source="127.0.0.2")
        self.assertEqual(r.status, 200, r)
        tok = r.json()["access_token"]
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1, headers={"Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 200, r)
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + FOREIGN,
                           headers={"Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 403, r)
        # Another tenant's name from that address still needs its key.
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens", source="127.0.0.2", headers=FORM,
                           body=urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "ops"}))
        self.assertEqual(r.status, 401, r)

    def test_tokens_survive_reloads_while_tenant_and_key_do(self):
        c = HMClient(self.g.port, "ops", KEY_OPS)
        self.assertEqual(c.fetch_token().status, 200)
        bearer = {"Authorization": "Bearer " + c.token}
        ops = "[tenant]\nname = ops\nkeys_sha256 = %s\nmethods = GET, POST, DELETE\nvins = %s, %s\n"
        # A reload that keeps ops and its key (and changes its VINs): alive.
        self.g.write_tenant("ops", ops % (sha256_hex(KEY_OPS), V1, FOREIGN))
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + FOREIGN, headers=bearer)
        self.assertEqual(r.status, 200, r)   # the new policy applies to the old token
        # The key that asked for the token is replaced: the token is dead.
        self.g.write_tenant("ops", ops % (sha256_hex("a-new-key"), V1, V2))
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + V1, headers=bearer)
        self.assertEqual(r.status, 401, r)
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "")
        # A token from the new key dies with its tenant.
        c = HMClient(self.g.port, "ops", "a-new-key")
        self.assertEqual(c.fetch_token().status, 200)
        self.g.remove_tenant("ops")
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        r = fgtest.request(self.g.port, "GET", "/v1/fleets/vehicles/" + FOREIGN,
                           headers={"Authorization": "Bearer " + c.token})
        self.assertEqual(r.status, 401, r)

    def test_removed_listener_says_reconnect_not_invalid_client(self):
        """A kept-alive connection on a dedicated listener that a reload
        removed gets 503 + Connection: close on the token route, as on
        every other route, not an invalid_client that blames the client's
        credentials."""
        port = fgtest.free_port()
        self.g.write_tenant("lane", "[tenant]\nname = lane\nlisten = 127.0.0.1:%d\nvins = %s\n" % (port, V1))
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "lane",
                                       "client_secret": "anything"})
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        idle.request("POST", "/v1/access_tokens", body=body, headers=FORM)
        r = idle.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        idle2 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        idle2.request("POST", "/v1/access_tokens", body=body, headers=FORM)
        r = idle2.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        # A slow request in flight keeps the removed listener (and so the
        # idle connections) alive until the requests have been sent.
        self.s.faults(latency_ms=int(4000 * SLOW), routes=["get"])
        slow = in_thread(fgtest.request, port, "GET", "/v1/fleets/vehicles/" + V1,
                         headers={"Cache-Control": "no-cache"}, timeout=30 * SLOW)
        wait_for(lambda: self.s.stats()["in_flight"] == 1, what="the slow read at the simulator")
        self.g.remove_tenant("lane")
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        counted = self.g.stats()["requests"]
        idle.request("POST", "/v1/access_tokens", body=body, headers=FORM)
        r = idle.getresponse()
        self.assertEqual((r.status, r.getheader("Connection")), (503, "close"), r.read())
        idle.close()
        # A request with a body is refused on its headers (before its body
        # is read) the same way, and neither refusal counts as the client's
        # fault: not unauthorized, not bad (docs/metrics.md).
        idle2.request("POST", "/v1/fleets/vehicles", body=json.dumps({"vehicles": [{"vin": V1, "brand": "bmw"}]}),
                      headers={"Content-Type": "application/json"})
        r = idle2.getresponse()
        self.assertEqual(r.status, 503, r.read())
        idle2.close()
        now = self.g.stats()["requests"]
        self.assertEqual((now["unauthorized"], now["bad"]), (counted["unauthorized"], counted["bad"]))
        self.assertEqual(slow(30 * SLOW).status, 200)   # in flight: finished under its configuration

    def test_counted_and_never_logged(self):
        ok = HMClient(self.g.port, "ops", KEY_OPS)
        self.assertEqual(ok.fetch_token().status, 200)
        self.assertEqual(HMClient(self.g.port, "ops", KEY_OTHER).fetch_token().status, 401)
        self.assertEqual(HMClient(self.g.port, "nobody", "x").fetch_token().status, 401)
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens", headers=FORM, body="grant_type=password")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "unsupported_grant_type")
        # A secret put in the query (clients should not, some do) is not logged either.
        r = fgtest.request(self.g.port, "POST", "/v1/access_tokens?client_secret=" + KEY_OPS, headers=FORM,
                           body="grant_type=client_credentials&client_id=ops&client_secret=" + KEY_OPS)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        r = fgtest.request(self.g.port, "GET", "/v1/access_tokens?client_secret=" + KEY_OPS)
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"))
        # However the path is spelled: the router matches it decoded.
        r = fgtest.request(self.g.port, "POST", "/v1/%61ccess_tokens?client_secret=" + KEY_OPS, headers=FORM,
                           body="grant_type=client_credentials&client_id=ops&client_secret=" + KEY_OPS)
        self.assertEqual(r.status, 200, r)
        r = fgtest.request(self.g.port, "GET", "/v1/%61ccess_tokens?client_secret=" + KEY_OPS)
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"))
        self.assertEqual(ok.call("GET", "/v1/fleets/vehicles/" + V1).status, 200)
        st = self.g.stats()
        self.assertEqual(st["local_tokens"], {"issued": 3, "refused": 3})
        self.assertEqual(st["requests"]["by_tenant"]["ops"], 4)   # three tokens issued, one read
        m = self.g.admin("GET", "/metrics").body.decode()
        self.assertIn("fleetgate_local_tokens_issued_total 3\n", m)
        self.assertIn("fleetgate_local_tokens_refused_total 3\n", m)
        self.assertIn('route="local_token",code="200"} 3', m)
        wait_for(lambda: '"path":"/v1/access_tokens"' in self.g.all_logs().replace(" ", ""),
                 what="the token requests' access lines")
        logs = self.g.all_logs()
        self.assertNotIn(ok.token, logs)
        self.assertNotIn(KEY_OPS, logs)
        self.assertNotIn(KEY_OTHER, logs)

    def test_size_and_rate_refusals_come_from_the_shared_steps_in_oauth_shape(self):
        """The token route runs the request's own body and tenant_rate steps
        (docs/overview.md): a body over max_body_bytes is 413 and a tenant
        over its rate 429 with Retry-After, both in the OAuth error shape
        with Cache-Control: no-store, and only a request that authenticated
        spends the tenant's rate."""
        self.g.write_tenant("ops", "[tenant]\nname = ops\nkeys_sha256 = %s\nmethods = GET\nvins = %s\nrate = 2/min\n"
                            % (sha256_hex(KEY_OPS), V1))
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        # Chunked, so no Content-Length lets the head check refuse it first.
        conn = http.client.HTTPConnection("127.0.0.1", self.g.port, timeout=10 * SLOW)
        conn.request("POST", "/v1/access_tokens", headers=FORM, encode_chunked=True,
                     body=iter([b"grant_type=client_credentials&client_id=ops&client_secret=", b"x" * 1100000]))
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["error"]), (413, "invalid_request"))
        self.assertEqual(resp.getheader("Cache-Control"), "no-store")
        conn.close()
        for _ in range(3):
            self.assertEqual(HMClient(self.g.port, "ops", "wrong").fetch_token().status, 401)
        for _ in range(2):
            self.assertEqual(HMClient(self.g.port, "ops", KEY_OPS).fetch_token().status, 200)
        r = HMClient(self.g.port, "ops", KEY_OPS).fetch_token()
        self.assertEqual((r.status, r.json()["error"]), (429, "temporarily_unavailable"), r)
        self.assertNotIn("access_token", r.json())
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(HMClient(self.g.port, "other", KEY_OTHER).fetch_token().status, 200)

    def test_refusal_takes_as_long_for_a_known_tenant_as_for_an_unknown_one(self):
        """The same work either way (every key hashed against): no timing
        tells a tenant name that exists from one that does not. Loose bound:
        loopback noise is larger than the difference."""
        def median(cid):
            ts = []
            for _ in range(40):
                t0 = time.perf_counter()
                r = HMClient(self.g.port, cid, "wrong-secret").fetch_token()
                ts.append(time.perf_counter() - t0)
                self.assertEqual(r.status, 401)
            return sorted(ts)[len(ts) // 2]
        median("ops")   # warm-up
        known, unknown = median("ops"), median("no-such-tenant")
        self.assertLess(abs(known - unknown), 0.005 * SLOW + 0.5 * min(known, unknown), (known, unknown))


if __name__ == "__main__":
    main()
