#!/usr/bin/env python3
"""Black-box tests of inbound webhooks (issue 26, docs/webhooks.md):
fleetgate-sim posts signed fleet_clearance_changed deliveries to the
[webhook] listener on each status change, with scripted faults, and the
cache follows the upstream.

- a signed event is visible in the next answer (a cache hit, no upstream
  read) and then verified by a list read carrying its VIN;
- a bad or missing signature changes nothing (401);
- a replayed old event misleads for one verification round only: the list
  read's answer wins and the disagreement is counted;
- a duplicate delivery (same X-HM-Delivery) is ignored, here and, through
  Redis, on another instance;
- a lost delivery is found by reconciliation (drift counted, entry fixed);
- the listener's own refusals: 404, 405, 413 (on the headers), 400, ping,
  unknown events; its own connection cap;
- the secret never shows in logs, /stats, /metrics, the status page or -T.

Every wait is a poll with a deadline on a count or a status, never a sleep."""
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, request, run_fleetgate, wait_for  # noqa: E402

GET = "/v1/fleets/vehicles/"
PREFIX = "WHOOKVIN"
SECRET = "whsec-do-not-leak-0123456789"
OLD_SECRET = "whsec-previous-do-not-leak-42"
PATH = "/v1/webhooks/high-mobility"


def vin(i):
    return "%s%09d" % (PREFIX, i)


def sign(body, key=SECRET):
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def clearance_body(v, status):
    return json.dumps({"vehicle": {"vin": v}, "event": {"action": status, "detail": {}}}).encode()


class WebhookCase(FgTestCase):
    reconcile = "0"
    redis_conf = None

    def setUp(self):
        super().setUp()
        self.wport = fgtest.free_port()
        url = "http://127.0.0.1:%d%s" % (self.wport, PATH)
        self.s = self.sim(extra=("--seed-count", "40", "--seed-prefix", PREFIX, "--pending-delay", "0",
                                 "--webhook-url", url, "--webhook-secret", SECRET))
        self.g = self.start_gateway(self.wport)

    def start_gateway(self, wport, **kw):
        hook = ("listen = 127.0.0.1:%d\nsecret = %s\nsecret_previous = %s\nverify_delay = 0.2\n"
                "reconcile_interval = %s\nmax_body_bytes = 4K\n" % (wport, SECRET, OLD_SECRET, self.reconcile))
        return self.gateway(sim=self.s, cache="ttl = 3600\nttl_approved = 3600\nttl_revoking = 3600\n"
                            "ttl_pending = 3600\nttl_revoked = 3600\nrefresh_ahead = no\n",
                            upstream="vin_reads = list\nlist_batch_window = 0.02\nlist_get_rate = 100/min\n",
                            webhook=hook, redis=self.redis_conf, **kw)

    # ---- helpers -------------------------------------------------------

    def hook(self, g=None):
        return (g or self.g).stats()["webhooks"]

    def applied(self, g=None):
        return self.hook(g)["events"]["fleet_clearance_changed"]["applied"]

    def status_of(self, v, g=None):
        r = (g or self.g).request("GET", GET + v)
        self.assertEqual(r.status, 200, r)
        return r.json()["status"], r.header("X-Cache")

    def list_reads_with(self, v):
        n = 0
        for e in self.s.requests():
            if e["route"] == "list" and v in urllib.parse.unquote(e.get("query") or ""):
                n += 1
        return n

    def cached(self, v):
        """Reads V until it is a cache hit."""
        self.status_of(v)
        wait_for(lambda: self.status_of(v)[1] == "HIT", what="a cache hit of %s" % v)

    def post(self, body, headers, port=None, path=PATH, method="POST"):
        return request(port or self.wport, method, path, body=body, headers=headers)

    def signed(self, v, status, delivery, key=SECRET, port=None):
        body = clearance_body(v, status)
        return self.post(body, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": delivery,
                                "X-HM-Signature-256": sign(body, key), "Content-Type": "application/json"},
                         port=port)


class Inbound(WebhookCase):

    def test_signed_event_visible_in_next_answer_and_verified_by_a_list_read(self):
        v = vin(1)
        self.cached(v)
        reads = self.list_reads_with(v)
        self.s.vehicles([{"vin": v, "status": "revoking"}])      # the sim pushes the change
        wait_for(lambda: self.applied() == 1, what="the delivery applied")
        self.assertEqual(self.status_of(v), ("revoking", "HIT"))   # the next answer, from the cache
        wait_for(lambda: self.hook()["verify"]["agreed"] == 1, what="the verification")
        self.assertEqual(self.list_reads_with(v), reads + 1)       # one list read verified it
        h = self.hook()
        self.assertEqual(h["verify"]["disagreements"], 0)
        self.assertEqual(h["verify"]["pending"], 0)
        self.assertEqual(self.status_of(v), ("revoking", "HIT"))
        self.assertEqual(self.s.webhooks()["answers"]["2xx"], 1)

    def test_delete_pushes_revoking_then_revoked(self):
        v = vin(2)
        self.cached(v)
        r = self.g.request("DELETE", GET + v)
        self.assertLess(r.status, 300, r)
        wait_for(lambda: self.applied() == 1, what="revoking applied")
        # the DELETE itself dropped the entry; the webhook's status and the
        # upstream's agree, and the next read caches it
        self.assertEqual(self.status_of(v)[0], "revoking")
        self.assertEqual(self.status_of(v), ("revoking", "HIT"))
        wait_for(lambda: self.hook()["verify"]["agreed"] == 1, what="the verification")

    def test_bad_or_missing_signature_changes_nothing(self):
        v = vin(3)
        self.cached(v)
        self.s.webhooks(bad_signature=1)
        self.s.vehicles([{"vin": v, "status": "revoked"}])
        wait_for(lambda: self.s.webhooks()["answers"]["4xx"] == 1, what="the sim's delivery refused")
        body = clearance_body(v, "revoked")
        r = self.post(body, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": "d-nosig"})
        self.assertEqual(r.status, 401)
        r = self.post(body, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": "d-badsig",
                             "X-HM-Signature-256": "sha256=" + "0" * 64})
        self.assertEqual(r.status, 401)
        r = self.post(body, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": "d-sha1",
                             "X-HM-Signature-256": "sha1=abc"})
        self.assertEqual(r.status, 401)
        h = self.hook()
        self.assertEqual(h["events"]["fleet_clearance_changed"]["unauthorized"], 4)
        self.assertEqual(h["events"]["fleet_clearance_changed"]["applied"], 0)
        self.assertEqual(h["verify"]["scheduled"], 0)
        self.assertEqual(self.status_of(v), ("approved", "HIT"))
        # the previous secret is still honoured during a rotation
        self.assertEqual(self.signed(v, "revoked", "d-oldkey", key=OLD_SECRET).status, 200)
        self.assertEqual(self.status_of(v), ("revoked", "HIT"))

    def test_replayed_old_event_is_corrected_within_one_verification_round(self):
        v = vin(4)
        self.cached(v)
        reads = self.list_reads_with(v)
        # an old event (pending) replayed while the upstream says approved
        self.s.webhooks(send={"vin": v, "status": "pending"})
        wait_for(lambda: self.applied() == 1, what="the old event applied")
        wait_for(lambda: self.hook()["verify"]["disagreements"] == 1, what="the disagreement")
        self.assertEqual(self.status_of(v), ("approved", "HIT"))   # the upstream won
        self.assertEqual(self.list_reads_with(v), reads + 1)       # in one round
        self.assertIn("the upstream disagrees on %s" % v, self.g.logs())

    def test_reordered_events_end_in_the_upstream_state(self):
        v = vin(5)
        self.cached(v)
        self.s.webhooks(reorder=2)
        self.s.vehicles([{"vin": v, "status": "revoking"}])
        self.s.vehicles([{"vin": v, "status": "revoked"}])   # sent newest first: revoked, then revoking
        wait_for(lambda: self.applied() == 2, what="both applied")
        wait_for(lambda: self.hook()["verify"]["pending"] == 0, what="verification done")
        self.assertEqual(self.status_of(v), ("revoked", "HIT"))

    def test_duplicate_delivery_is_ignored(self):
        v = vin(6)
        self.cached(v)
        self.s.webhooks(duplicate=1)
        self.s.vehicles([{"vin": v, "status": "revoking"}])
        wait_for(lambda: self.s.webhooks()["answers"]["2xx"] == 2, what="both copies answered")
        h = self.hook()
        self.assertEqual(h["events"]["fleet_clearance_changed"]["applied"], 1)
        self.assertEqual(h["events"]["fleet_clearance_changed"]["duplicate"], 1)
        self.assertEqual(h["dedupe"]["hits"], 1)
        self.assertEqual(h["verify"]["scheduled"], 1)
        # a retry of an old delivery (same id) later is a duplicate too
        self.s.webhooks(replay=1, same_id=True)
        wait_for(lambda: self.hook()["dedupe"]["hits"] == 2, what="the replay ignored")
        self.assertEqual(self.applied(), 1)

    def test_a_burst_is_applied_once_per_delivery_and_verified_together(self):
        vs = [vin(10 + i) for i in range(20)]
        for v in vs:
            self.cached(v)
        before = len(self.s.requests())
        self.s.vehicles([{"vin": v, "status": "revoking"} for v in vs])
        wait_for(lambda: self.applied() == 20, what="20 deliveries applied")
        wait_for(lambda: self.hook()["verify"]["agreed"] == 20, what="20 verified")
        for v in vs:
            self.assertEqual(self.status_of(v), ("revoking", "HIT"))
        # 20 VINs verified by far fewer list reads than 20
        carried = sum(1 for e in self.s.requests()[before:] if e["route"] == "list"
                      and any(x in urllib.parse.unquote(e.get("query") or "") for x in vs))
        self.assertLessEqual(carried, 5)

    def test_listener_refusals_ping_and_unknown_events(self):
        body = clearance_body(vin(7), "approved")
        ok = {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": "d1", "X-HM-Signature-256": sign(body)}
        self.assertEqual(self.post(body, ok, path="/elsewhere").status, 404)
        r = self.post(None, {}, method="GET")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "POST")
        big = b"{" + b" " * 5000 + b"}"
        r = self.post(big, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Signature-256": sign(big)})
        self.assertEqual(r.status, 413)
        for bad in (b"{not json", b'{"vehicle":{"vin":"SHORT"},"event":{"action":"approved"}}',
                    b'{"vehicle":{"vin":"%s"},"event":{"action":"exploded"}}' % vin(7).encode(),
                    b'{"vehicle":{"vin":"%s","vin":"%s"},"event":{"action":"approved"}}' % (vin(7).encode(), vin(8).encode())):
            r = self.post(bad, {"X-HM-Event": "fleet_clearance_changed", "X-HM-Delivery": "d-bad",
                                "X-HM-Signature-256": sign(bad)})
            self.assertEqual(r.status, 400, bad)
        r = self.post(body, dict(ok, **{"X-HM-Delivery": "not a valid id!"}))
        self.assertEqual(r.status, 400)
        ping = b'{"zen":"hello"}'
        r = self.post(ping, {"X-HM-Event": "ping", "X-HM-Delivery": "p1", "X-HM-Signature-256": sign(ping)})
        self.assertEqual((r.status, r.json()["status"]), (200, "ok"))
        r = self.post(ping, {"X-HM-Event": "vehicle_moved", "X-HM-Delivery": "u1", "X-HM-Signature-256": sign(ping)})
        self.assertEqual((r.status, r.json()["status"]), (200, "ignored"))
        ev = self.hook()["events"]
        self.assertEqual(ev["ping"]["ok"], 1)
        self.assertEqual(ev["unknown"]["ignored"], 1)
        self.assertEqual(ev["fleet_clearance_changed"]["too_large"], 1)
        self.assertEqual(ev["fleet_clearance_changed"]["malformed"], 5)
        self.assertEqual(ev["fleet_clearance_changed"]["applied"], 0)
        m = self.g.admin("GET", "/metrics").body.decode()
        self.assertIn('fleetgate_webhook_events_total{event="ping",result="ok"} 1', m)
        self.assertIn('fleetgate_webhook_events_total{event="unknown",result="ignored"} 1', m)
        self.assertIn("fleetgate_webhook_reconcile_drift_total 0", m)
        self.assertIn('fleetgate_webhook_verifications_total{result="disagreed"} 0', m)
        self.assertIn("fleetgate_webhook_dedupe_hits_total 0", m)

    def test_secret_never_in_logs_stats_metrics_page_or_dash_T(self):
        v = vin(9)
        self.cached(v)
        self.s.webhooks(bad_signature=1)
        self.s.vehicles([{"vin": v, "status": "revoking"}])
        wait_for(lambda: self.s.webhooks()["answers"]["4xx"] == 1, what="refused delivery")
        self.s.vehicles([{"vin": v, "status": "revoked"}])
        wait_for(lambda: self.applied() == 1, what="applied")
        seen = self.g.all_logs() + json.dumps(self.g.stats()) + self.g.admin("GET", "/metrics").body.decode()
        seen += self.g.admin("GET", "/").body.decode()
        r = run_fleetgate("-c", self.g.conf, "-T")
        self.assertEqual(r.returncode, 0, r.stderr)
        seen += r.stdout + r.stderr
        self.assertIn("secret = <redacted>", r.stdout)
        for s in (SECRET, OLD_SECRET):
            self.assertNotIn(s, seen)

    def test_status_page_panel_labels_every_shown_field(self):
        v = vin(11)
        self.cached(v)
        self.s.vehicles([{"vin": v, "status": "revoking"}])
        wait_for(lambda: self.hook()["verify"]["agreed"] == 1, what="verified")
        page = self.g.admin("GET", "/").body.decode()
        m = re.search(r'<section id="webhooks" data-if="webhooks" >(.*?)</section>', page, re.S)
        self.assertTrue(m, "no webhooks panel")
        rows = re.findall(r'<div><dt>([^<]+)</dt><dd data-k="([a-z_.]+)">([^<]*)</dd></div>', m.group(1))
        self.assertEqual(len(rows), 14)
        st = self.g.stats()
        for label, key, shown in rows:
            self.assertNotIn("_", label, "raw field name as a label: " + label)
            val = st
            for part in key.split("."):
                val = val[part]
            self.assertEqual(shown, str(val), key)
        self.assertIn(("changes applied", "webhooks.events.fleet_clearance_changed.applied", "1"), rows)

    def test_connection_cap_of_its_own(self):
        self.g.stop()
        self._stops.pop()
        g = self.start_gateway(self.wport)
        # tenant listener connections do not count against the webhook cap
        held = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(3)]
        wait_for(lambda: g.stats()["connections"]["open"] >= 3, what="tenant connections open")
        self.assertEqual(g.stats()["webhooks"]["connections_open"], 0)
        ping = b"{}"
        r = self.post(ping, {"X-HM-Event": "ping", "X-HM-Signature-256": sign(ping)})
        self.assertEqual(r.status, 200)
        for c in held:
            c.close()


class Tls(FgTestCase):
    """A tls:// webhook listener with a certificate of its own ([webhook]
    cert_file, key_file; no [tls] block, no client CA)."""

    def test_tls_listener_with_its_own_certificate(self):
        import ssl
        import subprocess
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", "hook.key", "-out", "hook.crt", "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], cwd=self.dir, check=True,
                       capture_output=True)
        os.chmod(os.path.join(self.dir, "hook.key"), 0o600)
        s = self.sim(extra=("--seed-count", "5", "--seed-prefix", PREFIX))
        wport = fgtest.free_port()
        hook = "listen = tls://127.0.0.1:%d\nsecret = %s\ncert_file = hook.crt\nkey_file = hook.key\n" % (wport, SECRET)
        g = self.gateway(sim=s, webhook=hook, cache="ttl = 3600\n")
        v = vin(1)
        self.assertEqual(g.request("GET", GET + v).status, 200)
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "hook.crt"))
        body = clearance_body(v, "revoking")
        conn = http.client.HTTPSConnection("127.0.0.1", wport, timeout=10, context=ctx)
        conn.request("POST", PATH, body=body, headers={"X-HM-Event": "fleet_clearance_changed",
                                                       "X-HM-Delivery": "tls-1", "X-HM-Signature-256": sign(body)})
        r = conn.getresponse()
        self.assertEqual((r.status, json.loads(r.read())["status"]), (200, "applied"))
        conn.close()
        r = g.request("GET", GET + v)
        self.assertEqual((r.json()["status"], r.header("X-Cache")), ("revoking", "HIT"))
        # plain HTTP to the TLS port gets no delivery through
        with self.assertRaises((OSError, http.client.HTTPException, AssertionError)):
            rr = request(wport, "POST", PATH, body=body, headers={"X-HM-Signature-256": sign(body)})
            self.assertNotEqual(rr.status, 200)
            raise AssertionError("refused as it should be")
        self.assertEqual(g.stats()["webhooks"]["events"]["fleet_clearance_changed"]["applied"], 1)
        self.assertIn(":%d" % wport, json.dumps(g.stats().get("tls", {})))
        # without its certificate a tls:// webhook listener is a configuration error
        with open(g.conf) as f:
            text = f.read()
        with open(g.conf, "w") as f:
            f.write(text.replace("cert_file = hook.crt\n", ""))
        r = run_fleetgate("-c", g.conf, "-t")
        self.assertEqual(r.returncode, 1)
        self.assertIn("[webhook]", r.stderr)


class Reconciliation(WebhookCase):
    reconcile = "1"

    def test_lost_event_is_found_by_reconciliation(self):
        v = vin(20)
        self.cached(v)
        self.s.webhooks(lose=1)
        self.s.vehicles([{"vin": v, "status": "revoked"}])
        self.assertEqual(self.s.webhooks()["lost"], 1)
        self.assertEqual(self.status_of(v), ("approved", "HIT"))   # the cache does not know yet
        wait_for(lambda: self.hook()["reconcile"]["drift"] >= 1, timeout=20, what="drift found")
        self.assertEqual(self.status_of(v), ("revoked", "HIT"))
        h = self.hook()
        self.assertGreaterEqual(h["reconcile"]["checked"], 1)
        self.assertEqual(h["events"]["fleet_clearance_changed"]["applied"], 0)
        self.assertIn("reconciliation found drift on %s" % v, self.g.logs())


class SharedDedupe(WebhookCase):
    """Two instances behind one webhook URL share the window through Redis."""

    def setUp(self):
        FgTestCase.setUp(self)
        self.r = self.redis()
        self.redis_conf = "url = %s\ninstances = 2\n" % self.r.url
        self.wport = fgtest.free_port()
        url = "http://127.0.0.1:%d%s" % (self.wport, PATH)
        self.s = self.sim(extra=("--seed-count", "40", "--seed-prefix", PREFIX, "--pending-delay", "0",
                                 "--webhook-url", url, "--webhook-secret", SECRET))
        self.g = self.start_gateway(self.wport)
        self.wport2 = fgtest.free_port()
        self.g2 = self.start_gateway(self.wport2)

    def test_a_delivery_applied_by_one_instance_is_a_duplicate_on_the_other(self):
        v = vin(30)
        self.cached(v)
        self.status_of(v, self.g2)
        wait_for(lambda: self.status_of(v, self.g2)[1] == "HIT", what="cached on the second instance")
        self.s.vehicles([{"vin": v, "status": "revoking"}])   # delivered to the first instance
        wait_for(lambda: self.applied() == 1, what="applied by the first instance")
        self.assertEqual(self.status_of(v), ("revoking", "HIT"))
        # the other instance dropped its copy through the Redis invalidation
        wait_for(lambda: self.status_of(v, self.g2)[0] == "revoking", what="second instance follows")
        # High Mobility's retry of the same delivery reaches the other one
        delivery = self.s.webhooks()["recent"][0]["id"]
        r = self.signed(v, "revoking", delivery, port=self.wport2)
        self.assertEqual((r.status, r.json()["status"]), (200, "duplicate"))
        self.assertEqual(self.hook(self.g2)["dedupe"]["redis_hits"], 1)
        self.assertEqual(self.applied(self.g2), 0)


if __name__ == "__main__":
    fgtest.main()
