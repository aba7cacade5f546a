#!/usr/bin/env python3
"""Black-box tests of TLS and mutual TLS (issue 24): tls:// listeners,
tenants attributed by a verified client certificate (SPIFFE URI, pin), a
foreign CA's certificate with the same name refused, a standard OAuth2
library over https with no override, SIGHUP rotating the served
certificate, -t on a broken pair, and hostile peers (silent connections,
plain HTTP, garbage). Every certificate is made here with openssl; no key
is committed."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, free_port, main, run_fleetgate, sha256_hex, wait_for  # noqa: E402

V1, V2 = "EXVETESTVIN000001", "EXVETESTVIN000002"
SPIFFE = "spiffe://example.org/dispatch"
KEY_DISPATCH, KEY_OPS = "dispatch-key-0b7e21", "ops-key-9d1c33"
SLOW = 10 if fgtest.VALGRIND else 1
SYS_PYTHON = "/usr/bin/python3"   # Debian's, with python3-requests-oauthlib


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


class Pki:
    """A private CA, a foreign CA, server and client certificates in DIR."""

    def __init__(self, d):
        self.d = d
        for ca in ("ca", "foreign"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "30", "-subj", "/CN=%s test CA" % ca,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        self.leaf("server", "ca", "DNS:localhost,IP:127.0.0.1", "serverAuth")
        self.leaf("dispatch", "ca", "URI:" + SPIFFE, "clientAuth")
        self.leaf("evil", "foreign", "URI:" + SPIFFE, "clientAuth")   # same name, wrong CA
        self.leaf("pinned", "ca", "URI:spiffe://example.org/unlisted", "clientAuth")
        self.leaf("nobody", "ca", "URI:spiffe://example.org/nobody", "clientAuth")

    def leaf(self, name, ca, san, eku, days=30):
        with open(os.path.join(self.d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=%s\n" % (san, eku))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=" + name, cwd=self.d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
                "-out", name + ".crt", "-days", str(days), "-extfile", name + ".ext", cwd=self.d)
        os.chmod(self.p(name + ".key"), 0o600)

    def p(self, name):
        return os.path.join(self.d, name)

    def der_sha256(self, name):
        out = subprocess.run(["openssl", "x509", "-in", self.p(name + ".crt"), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        import hashlib
        return hashlib.sha256(out).hexdigest()

    def ctx(self, cert=None):
        c = ssl.create_default_context(cafile=self.p("ca.crt"))
        if cert:
            c.load_cert_chain(self.p(cert + ".crt"), self.p(cert + ".key"))
        return c


def https(port, method, path, ctx, body=None, headers=None, host="localhost", timeout=20):
    import http.client
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return fgtest.Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def served_cert(port):
    """The DER of the certificate the listener serves now (a new connection)."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with c.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def tenants(pki):
    return {
        "dispatch": "[tenant]\nname = dispatch\ncert_names = %s\nkeys_sha256 = %s\nmethods = GET, POST\nvins = %s\n"
                    % (SPIFFE, sha256_hex(KEY_DISPATCH), V1),
        "pinned": "[tenant]\nname = pinned\ncert_sha256 = %s\nvins = %s\n" % (pki.der_sha256("pinned"), V2),
        "ops": "[tenant]\nname = ops\nkeys_sha256 = %s\nvins = %s\n" % (sha256_hex(KEY_OPS), V2),
    }


class Tls(FgTestCase):
    def setUp(self):
        super().setUp()
        self.pki = Pki(self.dir)
        self.s = self.sim()
        self.s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in (V1, V2)])
        self.tport, self.dport = free_port(), free_port()
        t = tenants(self.pki)
        t["dedicated"] = "[tenant]\nname = dedicated\nlisten = tls://127.0.0.1:%d\nvins = %s\n" % (self.dport, V2)
        self.g = self.gateway(sim=self.s, tenants=t, gateway="listen = tls://127.0.0.1:%d\n"
                              "client_header_timeout = %d\n" % (self.tport, 2 * SLOW), extra_sections=[
                                  ("tls", "cert_file = server.crt\nkey_file = server.key\nclient_ca_file = ca.crt\n")])

    def access_lines(self):
        with open(self.g.access_log) as f:
            return [json.loads(l) for l in f if l.startswith("{")]

    def test_spiffe_certificate_attributes_its_tenant(self):
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("dispatch"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["vin"], V1)
        # by pin: a certificate whose name no tenant lists, pinned by one
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V2, self.pki.ctx("pinned"))
        self.assertEqual(r.status, 200, r)
        line = wait_for(lambda: [l for l in self.access_lines() if l.get("tenant") == "pinned"], what="access line")
        self.assertEqual(line[0]["by"], "cert")
        line = wait_for(lambda: [l for l in self.access_lines() if l.get("tenant") == "dispatch"], what="access line")
        self.assertEqual(line[0]["by"], "cert")
        self.assertNotIn(SPIFFE, open(self.g.access_log).read(), "the certificate itself is never logged")
        # curl --cert, as a shell script would
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", self.pki.p("ca.crt"),
                              "--cert", self.pki.p("dispatch.crt"), "--key", self.pki.p("dispatch.key"),
                              "https://localhost:%d/v1/fleets/vehicles/%s" % (self.tport, V1)],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "200", out.stderr)

    def test_local_token_of_a_certificate_ends_with_its_name(self):
        """Issues 24 and 25 as one: an mTLS client gets a local token with
        its client_id alone (its certificate authenticates it), the token
        works without the certificate ("by":"token"), and a reload that
        removes the certificate's name from the tenant ends it, though the
        tenant and its key stay."""
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = https(self.tport, "POST", "/v1/access_tokens", self.pki.ctx("dispatch"),
                  body="grant_type=client_credentials&client_id=dispatch", headers=form)
        self.assertEqual(r.status, 200, r)
        tok = r.json()["access_token"]
        # another tenant's token is not handed to dispatch's certificate, even with that tenant's key
        r = https(self.tport, "POST", "/v1/access_tokens", self.pki.ctx("dispatch"),
                  body="grant_type=client_credentials&client_id=ops&client_secret=" + KEY_OPS, headers=form)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "invalid_client")
        bearer = {"Authorization": "Bearer " + tok}
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx(), headers=bearer)
        self.assertEqual(r.status, 200, r)
        lines = wait_for(lambda: [l for l in self.access_lines() if l.get("tenant") == "dispatch"] or None,
                         what="access lines")
        self.assertEqual([l["by"] for l in lines], ["cert", "token"])
        self.g.write_tenant("dispatch", "[tenant]\nname = dispatch\nkeys_sha256 = %s\nmethods = GET, POST\n"
                            "vins = %s\n" % (sha256_hex(KEY_DISPATCH), V1))
        self.assertEqual(self.g.reload()["reload_failures"], 0)
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx(), headers=bearer)
        self.assertEqual(r.status, 401, r)
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx(), headers={"X-API-Key": KEY_DISPATCH})
        self.assertEqual(r.status, 200, r)

    def test_foreign_ca_with_the_same_name_is_refused(self):
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("evil"))
        self.assertEqual(r.status, 401, r)
        self.assertIn("did not verify", r.json()["errors"][0]["detail"])
        # not even with a valid key beside it, and never by source
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("evil"),
                  headers={"X-API-Key": KEY_DISPATCH})
        self.assertEqual(r.status, 401, r)
        self.assertFalse([l for l in self.access_lines() if l.get("tenant")], "a foreign certificate attributed")

    def test_conflicts_are_refused(self):
        # dispatch's certificate with ops's key
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V2, self.pki.ctx("dispatch"),
                  headers={"X-API-Key": KEY_OPS})
        self.assertEqual(r.status, 401, r)
        # with its own key: fine
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("dispatch"),
                  headers={"X-API-Key": KEY_DISPATCH})
        self.assertEqual(r.status, 200, r)
        # another tenant's certificate on a dedicated listener: refused, not taken for the port's tenant
        r = https(self.dport, "GET", "/v1/fleets/vehicles/" + V2, self.pki.ctx("dispatch"))
        self.assertEqual(r.status, 401, r)
        r = https(self.dport, "GET", "/v1/fleets/vehicles/" + V2, self.pki.ctx())
        self.assertEqual(r.status, 200, r)
        # a verified certificate that names no tenant goes on to keys
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V2, self.pki.ctx("nobody"),
                  headers={"X-API-Key": KEY_OPS})
        self.assertEqual(r.status, 200, r)
        ops = wait_for(lambda: [l["by"] for l in self.access_lines() if l.get("tenant") == "ops"], what="access line")
        self.assertEqual(ops, ["key"])

    def test_oauth2_library_over_https_without_override(self):
        if not os.path.exists(SYS_PYTHON) or subprocess.run(
                [SYS_PYTHON, "-c", "import requests_oauthlib"], capture_output=True).returncode != 0:
            self.skipTest("python3-requests-oauthlib is not installed (scripts/setup installs it)")
        script = r"""
import sys
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session
base, ca, cid, secret, vin = sys.argv[1:6]
s = OAuth2Session(client=BackendApplicationClient(client_id=cid))
tok = s.fetch_token(token_url=base + "/v1/access_tokens", client_id=cid, client_secret=secret,
                    include_client_id=True, verify=ca)
assert tok["token_type"].lower() == "bearer", tok
r = s.get(base + "/v1/fleets/vehicles/" + vin, verify=ca)
print(r.status_code, r.json().get("vin"))
"""
        env = {k: v for k, v in os.environ.items() if k != "OAUTHLIB_INSECURE_TRANSPORT"}
        out = subprocess.run([SYS_PYTHON, "-c", script, "https://localhost:%d" % self.tport, self.pki.p("ca.crt"),
                              "dispatch", KEY_DISPATCH, V1], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["200", V1])

    def test_sighup_rotates_the_served_certificate(self):
        old = served_cert(self.tport)
        # a broken pair is refused as a whole: the old certificate stays
        self.pki.leaf("other", "ca", "DNS:localhost", "serverAuth")
        os.replace(self.pki.p("other.crt"), self.pki.p("server.crt"))
        cfg = self.g.reload()
        self.assertGreaterEqual(cfg["reload_failures"], 1)
        self.assertIn("is not the key of cert_file", self.g.logs())
        self.assertEqual(served_cert(self.tport), old)
        # a resumable session survives a good reload (the ticket keys stay)
        ctx = self.pki.ctx()
        with socket.create_connection(("127.0.0.1", self.tport), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(b"GET /v1/fleets/vehicles/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % V1.encode())
                t.recv(65536)
                session = t.session
        self.pki.leaf("server", "ca", "DNS:localhost,IP:127.0.0.1", "serverAuth")   # a new pair
        cfg = self.g.reload()
        new = served_cert(self.tport)
        self.assertNotEqual(new, old)
        with socket.create_connection(("127.0.0.1", self.tport), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost", session=session) as t:
                self.assertTrue(t.session_reused, "a reload lost session resumption")
        # The client may finish its TLS 1.3 handshake before the server has
        # read its Finished and counted the resumption: poll, not read once.
        wait_for(lambda: self.g.stats()["tls"]["resumed"] >= 1, timeout=10 * SLOW, what="the resumption counted")

    def test_metrics_and_stats(self):
        https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("dispatch"))
        m = self.g.admin("GET", "/metrics").body.decode()
        self.assertIn('fleetgate_tls_certificate_expiry_timestamp_seconds{listener="tls://127.0.0.1:%d"}' % self.tport, m)
        self.assertIn('fleetgate_tls_handshakes_total{result="ok"}', m)
        self.assertIn('fleetgate_tls_protocol_total{version="TLSv1.3"}', m)
        st = self.g.stats()["tls"]
        self.assertGreaterEqual(st["handshakes"]["ok"], 1)
        self.assertTrue(any(c["days_left"] > 29 for c in st["certificates"]))
        page = self.g.admin("GET", "/").body.decode()
        self.assertIn("TLS certificates", page)
        self.assertRegex(page, r"tls://127\.0\.0\.1:%d</dt><dd[^>]*>(29|30) days left" % self.tport)

    def test_hostile_peers(self):
        # plain HTTP on a TLS port: a short 400, never a hang
        r = fgtest.request(self.tport, "GET", "/v1/fleets/vehicles", timeout=10)
        self.assertEqual(r.status, 400, r)
        # garbage that starts like a ClientHello: closed, counted, logged at most once a second
        t0 = time.monotonic()
        for i in range(20):
            with socket.create_connection(("127.0.0.1", self.tport), timeout=10) as s:
                s.sendall(b"\x16\x03\x01\x00\x40" + os.urandom(64))
                s.settimeout(10)
                try:
                    while s.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
        failed = lambda hs: sum(v for k, v in hs.items() if k not in ("ok", "no_hello", "closed"))
        wait_for(lambda: failed(self.g.stats()["tls"]["handshakes"]) >= 20, timeout=10 * SLOW, what="20 failed handshakes counted")
        lines = self.g.logs().count("TLS handshake failed")
        self.assertLessEqual(lines, int(time.monotonic() - t0) + 3, "a garbage ClientHello is logged per connection")

    def test_silent_connections_leave_a_real_client_served(self):
        silent = []
        for _ in range(300):
            silent.append(socket.create_connection(("127.0.0.1", self.tport), timeout=30))
        wait_for(lambda: self.g.stats()["connections"]["open"] >= 300, timeout=10 * SLOW,
                 what="the silent connections to be counted")
        t0 = time.monotonic()
        r = https(self.tport, "GET", "/v1/fleets/vehicles/" + V1, self.pki.ctx("dispatch"))
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertLess(took, 1.0 * SLOW + 1.0, "a real client waited behind silent ones")
        # and they are closed after client_header_timeout, without an answer
        deadline = time.monotonic() + 20 * SLOW
        for s in silent:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            self.assertEqual(s.recv(1), b"", "a silent connection got bytes or stayed open")
            s.close()
        wait_for(lambda: self.g.stats()["connections"]["open"] == 0, timeout=10 * SLOW,
                 what="the silent connections to be closed")
        self.assertGreaterEqual(self.g.stats()["tls"]["handshakes"]["no_hello"], 300)


class TlsRequired(FgTestCase):
    def test_required_fails_the_handshake_without_a_good_certificate(self):
        pki = Pki(self.dir)
        s = self.sim()
        s.vehicles([{"vin": V1, "status": "approved", "brand": "bmw"}])
        port = free_port()
        g = self.gateway(sim=s, tenants=tenants(pki), gateway="listen = tls://127.0.0.1:%d\n" % port,
                         extra_sections=[("tls", "cert_file = server.crt\nkey_file = server.key\n"
                                                 "client_ca_file = ca.crt\nclient_verify = required\nmin_version = 1.3\n")])
        self.assertEqual(https(port, "GET", "/v1/fleets/vehicles/" + V1, pki.ctx("dispatch")).status, 200)
        for who in ("evil", None):
            with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                https(port, "GET", "/v1/fleets/vehicles/" + V1, pki.ctx(who))
        old = ssl.create_default_context(cafile=pki.p("ca.crt"))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        old.load_cert_chain(pki.p("dispatch.crt"), pki.p("dispatch.key"))
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            https(port, "GET", "/v1/fleets/vehicles/" + V1, old)
        hs = wait_for(lambda: (lambda h: h if h["client_cert"] + h["peer_alert"] >= 1 and h["protocol"] >= 1 else None)(
            g.stats()["tls"]["handshakes"]), timeout=10 * SLOW, what="the refused handshakes counted")
        self.assertGreaterEqual(hs["client_cert"] + hs["peer_alert"], 1, hs)
        self.assertGreaterEqual(hs["protocol"], 1, hs)


class TlsAdmin(FgTestCase):
    """A tls:// admin listener beside a plain one: its connections count
    against the same admin_max_connections; one over the cap is closed
    (no plaintext 503 on a TLS port), a plain one gets the 503."""

    def test_admin_cap_holds_for_tls_admin_connections(self):
        pki = Pki(self.dir)
        self.s = self.sim()
        plain, tls = free_port(), free_port()
        g = self.gateway(sim=self.s, start=False, gateway="admin_listen = 127.0.0.1:%d, tls://127.0.0.1:%d\n"
                         "admin_max_connections = 3\nadmin_idle_timeout = 60\n" % (plain, tls),
                         extra_sections=[("tls", "cert_file = server.crt\nkey_file = server.key\n")])
        g.admin_port = plain
        g.start()
        r = https(tls, "GET", "/healthz", pki.ctx())
        self.assertEqual(r.status, 200, r)
        idle = [socket.create_connection(("127.0.0.1", tls), timeout=10) for _ in range(3)]
        try:
            # the three idle TLS connections fill the cap: a plain admin request is shed
            wait_for(lambda: g.admin("GET", "/healthz").status == 503 or None, what="the cap to be full")
            with socket.create_connection(("127.0.0.1", tls), timeout=10) as s:
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                    with pki.ctx().wrap_socket(s, server_hostname="localhost") as t:
                        t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        if not t.recv(4096):
                            raise ConnectionError("closed")
        finally:
            for c in idle:
                c.close()
        wait_for(lambda: https(tls, "GET", "/healthz", pki.ctx()).status == 200 or None, what="the cap freed")
        self.assertGreaterEqual(g.stats()["connections"]["admin_shed"], 2)


class TlsCheck(FgTestCase):
    """-t on the [tls] block."""

    def conf(self, tls):
        pki = Pki(self.dir)
        g = self.gateway(tenants=tenants(pki), start=False, gateway="listen = tls://127.0.0.1:%d\n" % free_port(),
                         extra_sections=[("tls", tls)])
        return pki, g

    def test_mismatched_pair(self):
        pki, g = self.conf("cert_file = server.crt\nkey_file = dispatch.key\n")
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("is not the key of cert_file", r.stderr)
        self.assertNotIn("PRIVATE KEY", r.stdout + r.stderr)

    def test_world_readable_key_expiry_and_print(self):
        pki, g = self.conf("cert_file = server.crt\nkey_file = server.key\n")
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"expires in (29|30) days")
        r = run_fleetgate("-T", "-c", g.conf)
        self.assertNotIn("PRIVATE KEY", r.stdout + r.stderr)
        self.assertIn("min_version = 1.2", r.stdout)
        os.chmod(pki.p("server.key"), 0o644)
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("readable by every user", r.stderr)
        os.chmod(pki.p("server.key"), 0o640)   # group ssl-cert: fine
        self.assertEqual(run_fleetgate("-t", "-c", g.conf).returncode, 0)
        pki.leaf("soon", "ca", "DNS:localhost", "serverAuth", days=3)
        with open(g.conf) as f:
            text = f.read().replace("server.crt", "soon.crt").replace("server.key", "soon.key")
        with open(g.conf, "w") as f:
            f.write(text)
        r = run_fleetgate("-t", "-c", g.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("expires in", r.stderr)
        self.assertIn("warning:", r.stderr)
        self.assertEqual(run_fleetgate("-t", "-c", g.conf).returncode, 0)


if __name__ == "__main__":
    main()
