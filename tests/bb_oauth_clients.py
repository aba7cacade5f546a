#!/usr/bin/env python3
"""Black-box tests of issue 25: standard OAuth2 client libraries, each at
its defaults, against the local token endpoint (they send HTTP Basic), and
sealed local tokens ([gateway] local_token_key): a token issued by one
instance is good on another with the same key and after a restart, and a
reload that removes its key, its source range or the sealing key ends it.

The client libraries are Debian's (python3-authlib,
python3-requests-oauthlib; scripts/setup installs them) and run under
/usr/bin/python3 in a subprocess, whatever python runs this file."""
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, main, sha256_hex  # noqa: E402

V1 = "EXVETESTVIN000001"
# What `openssl rand -base64 24` makes: + / = in it, so a client that does
# not form-encode Basic parts (authlib, requests) and one that does differ.
KEY_OPS = "q+3/Zt1x9Kd=Vb8mN2+w/0a7"
SEAL = "seal-key-1-" + "7f3a9c0e5b1d2468ace13579bdf02468"
SEAL2 = "seal-key-2-" + "0011223344556677889900aabbccddee"
SLOW = 10 if fgtest.VALGRIND else 1
SYSPY = "/usr/bin/python3"

CLIENT = r'''
import json, os, sys, time
mode, url, api, cid, secret = sys.argv[1:6]
out = {}
if mode == "authlib":
    from authlib.integrations.requests_client import OAuth2Session
    s = OAuth2Session(cid, secret, token_endpoint=url, grant_type="client_credentials")
    tok = s.fetch_token(url, grant_type="client_credentials")
    out["token"] = tok["access_token"]
    out["first"] = s.get(api).status_code
    if len(sys.argv) > 6:   # wait for expiry: authlib fetches a new token itself
        time.sleep(float(sys.argv[6]))
        out["again"] = s.get(api).status_code
        out["token2"] = s.token["access_token"]
elif mode == "requests-oauthlib":
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"   # plain http in the test
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session
    s = OAuth2Session(client=BackendApplicationClient(client_id=cid))
    tok = s.fetch_token(token_url=url, client_id=cid, client_secret=secret)
    out["token"] = tok["access_token"]
    out["first"] = s.get(api).status_code
print(json.dumps(out))
'''


def have_libraries():
    if not os.path.exists(SYSPY):
        return False
    r = subprocess.run([SYSPY, "-c", "import authlib, requests_oauthlib"], capture_output=True)
    return r.returncode == 0


HAVE = have_libraries()
SKIP = "Debian's python3-authlib and python3-requests-oauthlib are not installed in /usr/bin/python3 (scripts/setup installs them)"


def ops_tenant(key=KEY_OPS, extra=""):
    return "[tenant]\nname = ops\nkeys_sha256 = %s\nmethods = GET\nvins = %s\n%s" % (sha256_hex(key), V1, extra)


def set_gateway_key(g, **keys):
    with open(g.conf) as f:
        text = f.read()
    for k, v in keys.items():
        text, n = re.subn(r"(?m)^%s = .*\n" % k, "" if v is None else "%s = %s\n" % (k, v), text)
        if n == 0 and v is not None:
            text = text.replace("[gateway]\n", "[gateway]\n%s = %s\n" % (k, v), 1)
    with open(g.conf, "w") as f:
        f.write(text)


def restart(g):
    """Stops G and starts it again on the same configuration, on fresh
    ports: the kernel may hand a just-closed port to another connection as
    its local end, and listening on it again would then fail."""
    g.stop()
    g.port, g.admin_port = fgtest.free_port(), fgtest.free_port()
    set_gateway_key(g, listen="127.0.0.1:%d" % g.port, admin_listen="127.0.0.1:%d" % g.admin_port)
    g.start()


class OAuthClients(FgTestCase):
    def setUp(self):
        super().setUp()
        os.environ["FG_TEST_SEAL"] = SEAL
        self.s = self.sim()
        self.s.vehicles([{"vin": V1, "status": "approved", "brand": "bmw"}])

    def gw(self, ttl=60, key="env:FG_TEST_SEAL", tenants=None):
        conf = "local_token_ttl = %d\n" % ttl + ("local_token_key = %s\n" % key if key else "")
        return self.gateway(sim=self.s, gateway=conf, tenants=tenants or {"ops": ops_tenant()})

    def client(self, mode, g, *extra, secret=KEY_OPS, cid="ops"):
        r = subprocess.run([SYSPY, "-c", CLIENT, mode, "http://127.0.0.1:%d/v1/access_tokens" % g.port,
                            "http://127.0.0.1:%d/v1/fleets/vehicles/%s" % (g.port, V1), cid, secret]
                           + [str(x) for x in extra], capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return json.loads(r.stdout)

    def call(self, g, token):
        return fgtest.request(g.port, "GET", "/v1/fleets/vehicles/" + V1, headers={"Authorization": "Bearer " + token})

    @unittest.skipUnless(HAVE, SKIP)
    def test_authlib_defaults_token_call_and_refetch_on_expiry(self):
        g = self.gw(ttl=2 * SLOW)
        out = self.client("authlib", g, 2.5 * SLOW)
        self.assertEqual(out["first"], 200, out)
        self.assertEqual(out["again"], 200, out)
        self.assertNotEqual(out["token"], out["token2"], "authlib did not fetch a new token on expiry")
        self.assertEqual(self.call(g, out["token"]).status, 401)   # the first one has expired
        self.assertEqual(g.stats()["local_tokens"]["issued"], 2)

    @unittest.skipUnless(HAVE, SKIP)
    def test_authlib_per_process_store_without_key(self):
        g = self.gw(key=None)
        out = self.client("authlib", g)
        self.assertEqual(out["first"], 200, out)
        self.assertEqual(len(out["token"]), 43)

    @unittest.skipUnless(HAVE, SKIP)
    def test_requests_oauthlib_defaults(self):
        g = self.gw()
        out = self.client("requests-oauthlib", g)
        self.assertEqual(out["first"], 200, out)

    @unittest.skipUnless(HAVE, SKIP)
    def test_token_of_gateway_a_works_on_gateway_b_and_after_a_restart(self):
        a, b = self.gw(), self.gw()
        tok = self.client("authlib", a)["token"]
        self.assertEqual(len(tok), 163)
        self.assertEqual(self.call(b, tok).status, 200)
        restart(a)
        self.assertEqual(self.call(a, tok).status, 200)
        # Without the same key, B honours none of A's tokens.
        os.environ["FG_TEST_SEAL"] = SEAL2
        c = self.gw()
        r = self.call(c, tok)
        self.assertEqual(r.status, 401)
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "")

    @unittest.skipUnless(HAVE, SKIP)
    def test_a_reload_that_removes_its_key_revokes_it(self):
        g = self.gw()
        tok = self.client("requests-oauthlib", g)["token"]
        self.assertEqual(self.call(g, tok).status, 200)
        g.write_tenant("ops", ops_tenant(key="a-new-key-" + "x" * 16))
        self.assertEqual(g.reload()["reload_failures"], 0)
        r = self.call(g, tok)
        self.assertEqual(r.status, 401)
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "")

    def test_rotating_the_sealing_key(self):
        g = self.gw()
        body = urllib.parse.urlencode({"grant_type": "client_credentials"})
        basic = "Basic " + __import__("base64").b64encode(("ops:" + KEY_OPS).encode()).decode()
        r = g.request("POST", "/v1/access_tokens", body=body,
                      headers={"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        tok = r.json()["access_token"]
        set_gateway_key(g, local_token_key=SEAL2, local_token_key_previous="env:FG_TEST_SEAL")
        self.assertEqual(g.reload()["reload_failures"], 0)
        self.assertEqual(self.call(g, tok).status, 200)   # the previous key still opens it
        set_gateway_key(g, local_token_key_previous=None)
        self.assertEqual(g.reload()["reload_failures"], 0)
        self.assertEqual(self.call(g, tok).status, 401)
        # The sealing key appears nowhere: logs, /stats, answers, -T.
        text = g.all_logs() + g.logs() + json.dumps(g.stats()) + r.body.decode() + json.dumps(r.headers)
        m = g.admin("GET", "/metrics").body.decode()
        t = fgtest.run_fleetgate("-c", g.conf, "-T")
        self.assertIn("local_token_key = <redacted>", t.stdout)
        for secret in (SEAL, SEAL2, KEY_OPS):
            for where in (text, m, t.stdout + t.stderr):
                self.assertNotIn(secret, where)

    def test_basic_and_body_at_once_and_malformed_basic(self):
        g = self.gw()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        basic = "Basic " + __import__("base64").urlsafe_b64encode(("ops:" + KEY_OPS).encode()).decode().rstrip("=")
        r = g.request("POST", "/v1/access_tokens", headers=dict(form, Authorization=basic),
                      body="grant_type=client_credentials&client_secret=" + urllib.parse.quote(KEY_OPS))
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"), r)
        r = g.request("POST", "/v1/access_tokens", headers=dict(form, Authorization="Basic !!notbase64"),
                      body="grant_type=client_credentials")
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"), r)
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="fleetgate"')
        r = g.request("POST", "/v1/access_tokens", headers=dict(form, Authorization=basic),
                      body="grant_type=client_credentials")
        self.assertEqual(r.status, 200, r)   # base64url, unpadded
        # On every other route Basic stays what it was: a credential that is no key.
        r = g.request("GET", "/v1/fleets/vehicles/" + V1, headers={"Authorization": basic})
        self.assertEqual(r.status, 401)
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate") or "")

    def test_source_token_ends_with_its_sources_line_and_a_wrong_bearer_is_401(self):
        """Issue 22: a wrong Authorization: Bearer on the token route was
        ignored and the source-address tenant got a token; a source token
        lived on after a reload removed the sources line."""
        g = self.gw(tenants={"src": "[tenant]\nname = src\nsources = 127.0.0.2/32\nvins = %s\n" % V1})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        body = "grant_type=client_credentials&client_id=src"
        r = g.request("POST", "/v1/access_tokens", body=body, headers=dict(form, Authorization="Bearer wrong"),
                      source="127.0.0.2")
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"), r)
        for key in (SEAL, None):
            with self.subTest(sealed=bool(key)):
                set_gateway_key(g, local_token_key="env:FG_TEST_SEAL" if key else None)
                g.write_tenant("src", "[tenant]\nname = src\nsources = 127.0.0.2/32\nvins = %s\n" % V1)
                self.assertEqual(g.reload()["reload_failures"], 0)
                r = g.request("POST", "/v1/access_tokens", body=body, headers=form, source="127.0.0.2")
                self.assertEqual(r.status, 200, r)
                tok = r.json()["access_token"]
                self.assertEqual(self.call(g, tok).status, 200)
                # A local token is no client credential at the token route.
                r = g.request("POST", "/v1/access_tokens", body=body, source="127.0.0.2",
                              headers=dict(form, Authorization="Bearer " + tok))
                self.assertEqual(r.status, 401, r)
                g.write_tenant("src", "[tenant]\nname = src\nkeys_sha256 = %s\nvins = %s\n" % (sha256_hex(KEY_OPS), V1))
                self.assertEqual(g.reload()["reload_failures"], 0)
                self.assertEqual(self.call(g, tok).status, 401)

    def test_nul_in_a_form_value_is_refused(self):
        g = self.gw()
        r = g.request("POST", "/v1/access_tokens", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      body="grant_type=client_credentials&client_id=ops&client_secret="
                           + urllib.parse.quote(KEY_OPS) + "%00junk")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"), r)


if __name__ == "__main__":
    main()
