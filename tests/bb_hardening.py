#!/usr/bin/env python3
"""Black-box tests of what a hostile tenant or client tries (issue 12):
whatever the gateway checked is what the upstream acts on. Duplicate JSON
keys, a body labelled as something other than JSON, query parameters smuggled
onto routes that take none, encoded NULs and slashes in paths, and
non-standard Authorization headers must each be refused before anything
reaches the simulator. And what comes back on the list route is filtered
for the tenant whatever its status or shape, or refused (item 3)."""
import http.client
import json
import socket
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fgtest import FgTestCase, main, sha256_hex, wait_for  # noqa: E402

ALLOWED, ALLOWED2, DENIED = "EXVETESTVIN000001", "EXVETESTVIN000002", "EXVETESTVIN000901"
KEY = "hardening-key-1"
NOCACHE = {"Cache-Control": "no-cache"}


def fleet_requests(sim):
    return {k: v for k, v in sim.stats()["requests"].items() if k != "token"}


def header_of(entry, name):
    for k, v in entry["headers"].items():
        if k.lower() == name.lower():
            return v
    return None


class Gateway(FgTestCase):
    """A keyed tenant and a source tenant in front of the simulator."""

    def setUp(self):
        super().setUp()
        self.s = self.sim()
        self.s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in (ALLOWED, ALLOWED2, DENIED)])
        self.g = self.gateway(sim=self.s, tenants={
            "keyed": "[tenant]\nname = keyed\nkeys_sha256 = %s\nmethods = GET, POST, DELETE\nvins = %s, %s\n"
                     % (sha256_hex(KEY), ALLOWED, ALLOWED2),
            "local": "[tenant]\nname = local\nsources = 127.0.0.1\nmethods = GET, POST, DELETE\nvins = %s\n"
                     % ALLOWED,
        })

    def send(self, method, path, body=None, headers=None):
        h = {"X-API-Key": KEY}
        h.update(headers or {})
        return self.g.request(method, path, body=body, headers=h)

    def assert_refused(self, status, method, path, body=None, headers=None, *words):
        before = fleet_requests(self.s)
        r = self.send(method, path, body=body, headers=headers)
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        e = r.json()["errors"][0]
        self.assertEqual(e["source"], "fleetgate", r)
        for w in words:
            self.assertIn(w, e["detail"])
        self.assertEqual(fleet_requests(self.s), before, "the upstream was reached")
        return r


class Hostile(Gateway):
    # 1. duplicate keys ---------------------------------------------------

    def test_duplicate_keys_in_create_body_are_400(self):
        body = '{"vehicles":[{"vin":"%s","vin":"%s","brand":"bmw"}]}' % (DENIED, ALLOWED)
        self.assert_refused(400, "POST", "/v1/fleets/vehicles", body, {"Content-Type": "application/json"},
                            "duplicate")

    def test_duplicate_keys_in_access_token_body_are_400(self):
        body = '{"vin":"%s","vin":"%s"}' % (DENIED, ALLOWED)
        self.assert_refused(400, "POST", "/v1/fleets/access_tokens", body,
                            {"Content-Type": "application/json"}, "duplicate")

    def test_duplicate_keys_in_filter_are_400(self):
        import urllib.parse
        f = '{"vin":"%s","vin":"%s"}' % (DENIED, ALLOWED)
        self.assert_refused(400, "GET", "/v1/fleets/vehicles?filter=" + urllib.parse.quote(f), None, NOCACHE,
                            "duplicate")

    # 2. content type -----------------------------------------------------

    def test_form_labelled_body_is_415(self):
        body = '{"vin":"%s","x":"&vin=%s&y="}' % (ALLOWED, DENIED)
        self.assert_refused(415, "POST", "/v1/fleets/access_tokens", body,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def test_unlabelled_and_json_bodies_go_upstream_as_json(self):
        for ct in (None, "application/json; charset=utf-8", "application/vnd.api+json"):
            with self.subTest(content_type=ct):
                h = {"Content-Type": ct} if ct else {}
                r = self.send("POST", "/v1/fleets/access_tokens", '{"vin":"%s"}' % ALLOWED, h)
                self.assertNotIn(r.status, (400, 403, 415), r)
                last = [q for q in self.s.requests() if q["route"] == "access_token"][-1]
                self.assertEqual(header_of(last, "Content-Type"), "application/json", last)

    # 4. queries ----------------------------------------------------------

    def test_queries_on_vin_routes_are_400(self):
        for method, path in (("DELETE", "/v1/fleets/vehicles/%s?vin=%s" % (ALLOWED, DENIED)),
                             ("GET", "/v1/fleets/vehicles/%s?x=1" % ALLOWED),
                             ("POST", "/v1/fleets/%s/cancel_activation?vin=%s" % (ALLOWED, DENIED))):
            with self.subTest(method=method, path=path):
                self.assert_refused(400, method, path, None, NOCACHE, "query")

    def test_list_takes_only_filter(self):
        self.assert_refused(400, "GET", "/v1/fleets/vehicles?limit=5", None, NOCACHE, "query")
        self.assert_refused(400, "GET", "/v1/fleets/vehicles?filter=%7B%7D&vin=" + DENIED, None, NOCACHE, "query")

    def test_malformed_query_is_400_and_spends_nothing(self):
        for q in ("filter=%zz", "filter=%7B", "%"):
            with self.subTest(query=q):
                self.assert_refused(400, "GET", "/v1/fleets/vehicles?" + q, None, NOCACHE)

    # 5. path decoding ----------------------------------------------------

    def test_encoded_nul_and_slash_in_paths_are_400(self):
        for path in ("/v1/fleets/vehicles/%s%%00junk" % ALLOWED,
                     "/v1/fleets/vehicles%%00/%s" % ALLOWED,
                     "/v1/fleets/vehicles%%2F%s" % ALLOWED,
                     "/v1/fleets%%2fvehicles/%s" % ALLOWED):
            with self.subTest(path=path):
                self.assert_refused(400, "GET", path, None, NOCACHE)

    # 6. authorization ----------------------------------------------------

    def test_bearer_with_tab_is_the_key(self):
        r = self.g.request("GET", "/v1/fleets/vehicles/" + ALLOWED2,
                           headers={"Authorization": "Bearer\t" + KEY})
        self.assertEqual(r.status, 200, r)

    def test_unmatched_authorization_of_any_form_is_401_even_from_a_source_tenant(self):
        for auth in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer\tnot-a-key"):
            with self.subTest(auth=auth):
                before = fleet_requests(self.s)
                r = self.g.request("GET", "/v1/fleets/vehicles/" + ALLOWED, headers={"Authorization": auth, **NOCACHE})
                self.assertEqual(r.status, 401, r)
                self.assertEqual(fleet_requests(self.s), before)

    def raw(self, method, path, headers, body=None):
        """A request whose headers (pairs) may repeat a name."""
        c = http.client.HTTPConnection("127.0.0.1", self.g.port, timeout=10)
        try:
            c.putrequest(method, path, skip_accept_encoding=True)
            for k, v in headers:
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body.encode() if body is not None else None)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_a_repeated_credential_header_is_400_never_the_first_or_last(self):
        """RFC 9110 makes Authorization a singleton: two of them (or two
        X-API-Key) are ambiguous, and a proxy in front may have read the
        other one. Refused even when one of them is a good key, and even
        from a source-attributed address; 400 without WWW-Authenticate, so
        an OAuth client does not fetch a new token in a loop."""
        path = "/v1/fleets/vehicles/" + ALLOWED2
        cases = [
            [("Authorization", "Bearer " + KEY), ("Authorization", "Bearer junk")],
            [("Authorization", "Bearer junk"), ("Authorization", "Bearer " + KEY)],
            [("X-API-Key", KEY), ("X-API-Key", KEY)],
            [("X-API-Key", KEY), ("Authorization", "Bearer " + KEY), ("authorization", "Bearer " + KEY)],
        ]
        for hs in cases:
            with self.subTest(headers=hs):
                before = fleet_requests(self.s)
                status, body = self.raw("GET", path, hs + [("Cache-Control", "no-cache")])
                self.assertEqual(status, 400, body)
                self.assertIn("more than one Authorization or X-API-Key", body.decode())
                self.assertEqual(fleet_requests(self.s), before)
        # The head check of a request with a body says the same, before
        # reading the body.
        body = json.dumps({"vehicles": [{"vin": ALLOWED, "brand": "bmw"}]})
        status, text = self.raw("POST", "/v1/fleets/vehicles",
                                [("X-API-Key", KEY), ("X-API-Key", "other"),
                                 ("Content-Type", "application/json")], body)
        self.assertEqual(status, 400, text)
        # One of each, the same key: still one credential, as before.
        status, text = self.raw("GET", path, [("X-API-Key", KEY), ("Authorization", "Bearer " + KEY)])
        self.assertEqual(status, 200, text)

    def test_whitespace_before_a_header_colon_is_400(self):
        """libevent would keep "Authorization " as a name of its own, which
        fleetgate ignores while a proxy in front may trim and read it (RFC
        9112 5.1: a server must answer 400). Also for a GET, and for a
        folded line (RFC 9112 5.2)."""
        path = "/v1/fleets/vehicles/" + ALLOWED
        for lines in (["Authorization : Bearer junk"],
                      ["X-API-Key: " + KEY, "X-API-Key\t: other"],
                      ["X-API-Key: " + KEY, " X-Folded: x"]):
            with self.subTest(lines=lines):
                before = fleet_requests(self.s)
                head = "GET %s HTTP/1.1\r\nHost: x\r\nCache-Control: no-cache\r\n%s\r\n\r\n" % (
                    path, "".join(l + "\r\n" for l in lines))
                with socket.create_connection(("127.0.0.1", self.g.port), timeout=10) as c:
                    c.sendall(head.encode())
                    got = b""
                    while True:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 400 "), got)
                self.assertIn(b"header field name is not a token", got)
                self.assertEqual(fleet_requests(self.s), before)

    def test_source_tenant_without_authorization_still_works(self):
        r = self.g.request("GET", "/v1/fleets/vehicles/" + ALLOWED)
        self.assertEqual(r.status, 200, r)


LIST = "/v1/fleets/vehicles"


def item(vin, status="approved"):
    return {"vin": vin, "status": status, "brand": "bmw"}


class ListAnswers(Gateway):
    """Item 3: an answer on the list route reaches the tenant only as what
    the tenant may see: filtered whatever its status, reduced to vehicles
    and errors when it is an object, 502 when it cannot be filtered."""

    def script(self, **kw):
        kw["route"] = "list"
        self.assertIn("list", self.s.ctl("POST", "/_sim/script", kw))

    def assert_hidden(self, r):
        self.assertNotIn(DENIED.encode(), r.body, r)

    def test_list_answers_of_every_status_are_filtered(self):
        answer = [item(ALLOWED), item(DENIED, "pending")]
        # 200 last: it is stored, and would then answer for a 429 or 500.
        for status in (203, 206, 299, 400, 404, 409, 429, 500, 200):
            with self.subTest(status=status):
                self.script(status=status, body=json.dumps(answer),
                            headers={"Content-Type": "application/json", "Retry-After": "3"})
                r = self.send("GET", LIST, headers=NOCACHE)
                self.assertEqual(r.status, status, r)
                self.assert_hidden(r)
                self.assertEqual(r.json(), [item(ALLOWED)])
                if status == 429:
                    self.assertEqual(r.header("Retry-After"), "3")

    def test_object_answers_keep_only_vehicles_and_errors(self):
        answer = {"total": 2, "vehicles": [item(ALLOWED), item(DENIED)], "hidden": [{"vin": DENIED}],
                  "errors": [{"title": "Partial", "detail": "one is not shown", "source": "api", "vin": DENIED}],
                  "next": "/v1/fleets/vehicles?after=" + DENIED}
        for status in (200, 206, 404):
            with self.subTest(status=status):
                self.script(status=status, body=json.dumps(answer))
                r = self.send("GET", LIST, headers=NOCACHE)
                self.assertEqual(r.status, status, r)
                self.assert_hidden(r)
                self.assertEqual(r.json(), {"vehicles": [item(ALLOWED)],
                                            "errors": [{"title": "Partial", "detail": "one is not shown",
                                                        "source": "api"}]})

    def test_list_answers_that_cannot_be_filtered_are_502(self):
        for status, body in ((200, "not json " + DENIED), (206, json.dumps(DENIED)),
                             (404, "<html>no %s here</html>" % DENIED), (200, json.dumps({"data": [item(DENIED)]})),
                             (299, "{}")):
            with self.subTest(status=status, body=body):
                self.script(status=status, body=body, headers={"Content-Type": "text/html"})
                r = self.send("GET", LIST, headers=NOCACHE)
                self.assertEqual(r.status, 502, r)
                self.assertEqual(r.json()["errors"][0]["source"], "fleetgate")
                self.assert_hidden(r)
        # An empty answer has nothing to filter: it is relayed as it came.
        self.script(status=404, body="")
        r = self.send("GET", LIST, headers=NOCACHE)
        self.assertEqual((r.status, r.body), (404, b""), r)

    def test_without_the_cache_too(self):
        g = self.gateway(sim=self.s, cache="enabled = no\n", tenants={
            "keyed": "[tenant]\nname = keyed\nkeys_sha256 = %s\nvins = %s\n" % (sha256_hex(KEY), ALLOWED)})
        for status in (200, 206):
            with self.subTest(status=status):
                self.script(status=status, body=json.dumps({"vehicles": [item(ALLOWED), item(DENIED)], "n": 2}))
                r = g.request("GET", LIST, headers={"X-API-Key": KEY})
                self.assertEqual((r.status, r.json()), (status, {"vehicles": [item(ALLOWED)]}), r)

    def test_waiters_get_their_own_view_of_one_answer(self):
        """Two tenants asking at once share one upstream answer (206, not
        stored); each gets its own view of it, not the other's."""
        self.script(status=206, body=json.dumps([item(ALLOWED), item(ALLOWED2), item(DENIED)]), delay_ms=800)
        before = fleet_requests(self.s).get("list", 0)
        got = {}
        keyed = threading.Thread(target=lambda: got.__setitem__("keyed", self.send("GET", LIST)))
        keyed.start()
        wait_for(lambda: fleet_requests(self.s).get("list", 0) == before + 1, what="the list request upstream")
        got["local"] = self.g.request("GET", LIST)   # attributed by source: the other tenant
        keyed.join(10)
        self.assertEqual(fleet_requests(self.s).get("list", 0), before + 1, "not one upstream answer for both")
        self.assertEqual((got["keyed"].status, got["keyed"].json()), (206, [item(ALLOWED), item(ALLOWED2)]))
        self.assertEqual((got["local"].status, got["local"].json()), (206, [item(ALLOWED)]))


if __name__ == "__main__":
    main()
