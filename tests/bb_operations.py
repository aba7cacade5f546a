#!/usr/bin/env python3
"""Black-box tests of running fleetgate like nginx or pgbouncer (issue 13):
SIGUSR1 reopens logs and nothing else, SIGTERM enters a lame-duck phase
(/readyz 503 while tenants are still served) before draining, systemd's
notify protocol, the command line's long forms and -T, what -t catches that
start-up would fail on, and the fields an operator needs in the logs."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, main, run_fleetgate, wait_for  # noqa: E402

VIN1 = "EXVETESTVIN000001"
SLOW = 10 if fgtest.VALGRIND else 1


def set_keys(g, section, **keys):
    """Rewrites the generated main file: KEY = VALUE lines under [SECTION]
    (replacing the harness's own line of that key when there is one)."""
    with open(g.conf) as f:
        text = f.read()
    for k, v in keys.items():
        text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        if n == 0:
            text = text.replace("[%s]\n" % section, "[%s]\n%s = %s\n" % (section, k, v), 1)
    with open(g.conf, "w") as f:
        f.write(text)


def access_lines(g):
    if not os.path.exists(g.access_log):
        return []
    with open(g.access_log) as f:
        return [json.loads(l) for l in f if l.strip()]


class Signals(FgTestCase):
    def test_usr1_reopens_logs_and_does_not_reload(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, 200)
        wait_for(lambda: len(access_lines(g)) >= 1, what="first access line")
        gen = g.stats()["config"]["generation"]
        os.rename(g.access_log, g.access_log + ".1")
        # A half-edited tenant file must not be applied by a log rotation.
        g.write_tenant("broken", "[tenant]\nname = broken\nmethods = FLY\n")
        g.send_signal(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(g.access_log), what="access log reopened")
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, 200)
        wait_for(lambda: len(access_lines(g)) == 1, what="the new request in the new file")
        st = g.stats()["config"]
        self.assertEqual(st["generation"], gen)
        self.assertEqual(st.get("reload_failures", 0), 0)
        self.assertIsNone(g.proc.poll(), "SIGUSR1 killed fleetgate")

    def test_sigterm_lame_duck_then_drain(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s, start=False)
        set_keys(g, "gateway", drain_delay=str(2 * SLOW))
        g.start()
        t0 = time.monotonic()
        g.send_signal(signal.SIGTERM)
        wait_for(lambda: g.admin("GET", "/readyz").status == 503, what="/readyz 503 in the lame-duck phase")
        # Tenants are still served during the lame-duck phase.
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, 200)
        self.assertLess(time.monotonic() - t0, 2 * SLOW, "the test was too slow to see the phase")
        g.proc.wait(30 * SLOW)
        self.assertEqual(g.proc.returncode, 0)
        self.assertGreaterEqual(time.monotonic() - t0, 2 * SLOW - 0.2)


class Stopping(FgTestCase):
    def test_sigint_skips_the_lame_duck_and_cut_requests_are_logged(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s, start=False)
        set_keys(g, "gateway", drain_delay="60", shutdown_timeout="1")
        g.start()
        s.faults(latency_ms=20000)
        pending = fgtest.in_thread(lambda: g.request("GET", "/v1/fleets/vehicles/" + VIN1, timeout=30))
        wait_for(lambda: g.stats()["requests"]["in_flight"] == 1, what="the request in flight")
        t0 = time.monotonic()
        g.send_signal(signal.SIGINT)
        g.proc.wait(20 * SLOW)
        self.assertEqual(g.proc.returncode, 0)
        self.assertLess(time.monotonic() - t0, 10 * SLOW, "SIGINT waited for drain_delay")
        try:
            pending()
        except Exception:  # noqa: BLE001 - the connection is cut; that is the point
            pass
        cut = [a for a in access_lines(g) if a["status"] == 503]
        self.assertEqual(len(cut), 1, access_lines(g))
        self.assertIn("cut at shutdown_timeout", g.logs())

    def test_reload_says_workers_needs_a_restart(self):
        s = self.sim()
        g = self.gateway(sim=s, workers=2)
        set_keys(g, "gateway", workers="3")
        st = g.reload()
        self.assertEqual(st["reload_failures"], 0)
        self.assertTrue(st["last_reload_success"])
        wait_for(lambda: "workers changed" in g.logs(), what="the restart warning")

    def test_reload_failure_gauge(self):
        s = self.sim()
        g = self.gateway(sim=s)
        set_keys(g, "upstream", base_url="http://127.0.0.1:99999")
        st = g.reload()
        self.assertEqual(st["reload_failures"], 1)
        self.assertFalse(st["last_reload_success"])
        m = g.admin("GET", "/metrics").body.decode()
        self.assertIn("fleetgate_config_last_reload_success 0\n", m)
        self.assertIn("base_url", g.logs())


class Notify(FgTestCase):
    def test_sd_notify_ready_reloading_stopping(self):
        path = os.path.join(self.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10 * SLOW)
        self.addCleanup(sock.close)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            s = self.sim()
            g = self.gateway(sim=s)
        finally:
            del os.environ["NOTIFY_SOCKET"]

        def until(word):
            seen = []
            while True:
                msg = sock.recv(4096).decode()
                seen.append(msg)
                if word in msg.split("\n"):
                    return seen
        until("READY=1")
        g.send_signal(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        g.send_signal(signal.SIGTERM)
        until("STOPPING=1")


class CommandLine(FgTestCase):
    def setUp(self):
        super().setUp()
        self.g = self.gateway(start=False)

    def test_long_options(self):
        r = run_fleetgate("--version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("fleetgate "), r.stdout)
        r = run_fleetgate("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--config", r.stdout)
        r = run_fleetgate("--config", self.g.conf, "--test")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_fleetgate("-c", self.g.conf, "-t", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("configuration OK", r.stdout + r.stderr)

    def test_dash_T_prints_effective_configuration_without_secrets(self):
        r = run_fleetgate("-c", self.g.conf, "-T")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[upstream]", r.stdout)
        self.assertIn("vin_get_rate", r.stdout)     # a default, shown though not set
        self.assertIn("[tenant]", r.stdout)
        self.assertNotIn(fgtest.CLIENT_SECRET, r.stdout + r.stderr)

    def test_dash_T_redacts_a_literal_secret_and_shows_defaults(self):
        set_keys(self.g, "oauth", client_secret="literal-" + fgtest.CLIENT_SECRET)
        r = run_fleetgate("-c", self.g.conf, "-T")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(fgtest.CLIENT_SECRET, r.stdout + r.stderr)
        self.assertIn("client_secret = <redacted>", r.stdout)
        self.assertIn("drain_delay = 0", r.stdout)
        self.assertIn("ttl_list = 30", r.stdout)
        set_keys(self.g, "gateway", workers="many")
        r = run_fleetgate("-c", self.g.conf, "--test-print")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"fleetgate\.conf:\d+: workers")

    def test_t_reports_a_shared_vin_file_error_once(self):
        with open(os.path.join(self.g.tenants_dir, "shared.vins"), "w") as f:
            f.write("%s\nNOT-A-VIN\n" % VIN1)
        for name in ("a", "b"):
            self.g.write_tenant(name, "[tenant]\nname = %s\nkeys_sha256 = %s\nvin_file = shared.vins\n"
                                % (name, fgtest.sha256_hex("key-" + name)))
        r = run_fleetgate("-c", self.g.conf, "-t")
        self.assertEqual(r.returncode, 1)
        bad = [l for l in r.stderr.splitlines() if "NOT-A-VIN" in l]
        self.assertEqual(len(bad), 1, r.stderr)
        self.assertRegex(bad[0], r"shared\.vins:2: ")

    def test_startup_failure_goes_through_the_log(self):
        set_keys(self.g, "upstream", base_url="http://")
        r = run_fleetgate("-c", self.g.conf)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"(?m)^\d{4}-\d\d-\d\dT[\d:.]+Z error fleetgate: .*fleetgate\.conf:\d+: "
                                   r"base_url: URL \"http://\" has no host name$")

    def t_error(self, section, words, **keys):
        set_keys(self.g, section, **keys)
        r = run_fleetgate("-c", self.g.conf, "-t")
        self.assertEqual(r.returncode, 1, (keys, r.stdout, r.stderr))
        out = r.stdout + r.stderr
        self.assertRegex(out, r"fleetgate\.conf:\d+: ")
        for w in words:
            self.assertIn(w, out)
        return out

    def test_t_catches_bad_urls(self):
        for url in ("http://127.0.0.1:99999", "http://exa mple.com", "http://"):
            with self.subTest(url=url):
                self.t_error("upstream", ["base_url"], base_url=url)

    def test_t_catches_unwritable_log(self):
        self.t_error("gateway", ["access_log"], access_log="/proc/fleetgate-no/access.log")

    def test_t_warns_about_a_world_readable_secret(self):
        os.chmod(os.path.join(self.g.dir, "client_secret"), 0o644)
        r = run_fleetgate("-c", self.g.conf, "-t")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("client_secret", r.stdout + r.stderr)
        self.assertIn("readable", r.stdout + r.stderr)


class Logs(FgTestCase):
    def test_access_and_audit_lines_carry_client_and_upstream_status_files_0640(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, 200)
        g.request("DELETE", "/v1/fleets/vehicles/" + VIN1)
        wait_for(lambda: len(access_lines(g)) >= 2, what="two access lines")
        a = access_lines(g)
        self.assertRegex(a[0]["client"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(a[0]["upstream_status"], 200)
        with open(g.audit_log) as f:
            audit = [json.loads(l) for l in f if l.strip()]
        self.assertRegex(audit[-1]["client"], r"^127\.0\.0\.1:\d+$")
        for p in (g.access_log, g.audit_log):
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode) & 0o077, 0o040, p)

    def test_traceparent_goes_upstream_and_back(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"traceparent": tp, "tracestate": "x=1",
                                                                  "Cache-Control": "no-cache"})
        last = s.requests()[-1]
        got = {k.lower(): v for k, v in last["headers"].items()}
        self.assertEqual(got.get("traceparent"), tp)
        self.assertEqual(got.get("tracestate"), "x=1")

    def test_traceparent_comes_back_from_the_upstream(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        r = g.request("GET", "/v1/fleets/vehicles/" + VIN1, headers={"traceparent": tp})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("traceparent"), tp)   # the simulator answers it as received

    def test_journal_priorities_when_stderr_is_the_journal(self):
        s = self.sim()
        g = self.gateway(sim=s, start=False)
        open(g.stderr_path, "a").close()
        st = os.stat(g.stderr_path)
        os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        try:
            g.start()
        finally:
            del os.environ["JOURNAL_STREAM"]
        wait_for(lambda: "started" in g.logs(), what="the start-up line")
        lines = [l for l in g.logs().splitlines() if l]
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, r"^<[3467]>", l)
        self.assertTrue(any(l.startswith("<6>info: fleetgate") for l in lines), lines)

    def test_upstream_failure_line_names_the_address(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        s.stop()   # the token is held; the next exchange cannot connect
        r = g.request("GET", "/v1/fleets/vehicles/" + VIN1)
        self.assertEqual(r.status, 502)
        wait_for(lambda: "127.0.0.1:%d" % s.port in g.logs(), what="the address in the failure line")

    def test_token_failure_line_names_the_address(self):
        port = fgtest.free_port()   # nothing listens there
        g = self.gateway(base_url="http://127.0.0.1:%d" % port, wait_ready=False)
        wait_for(lambda: "token request failed" in g.logs(), what="a token failure line")
        line = [l for l in g.logs().splitlines() if "token request failed" in l][0]
        self.assertIn("127.0.0.1:%d" % port, line)

    def test_unix_listener_client_and_socket_mode(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        sock = os.path.join(self.dir, "fg.sock")
        g = self.gateway(sim=s, start=False, tenants={"u": "[tenant]\nname = u\nkeys_sha256 = %s\n"
                                                         "vin_prefixes = *\n" % fgtest.sha256_hex("unix-key")})
        group = __import__("grp").getgrgid(os.getgid()).gr_name
        set_keys(g, "gateway", listen="127.0.0.1:%d, unix:%s" % (g.port, sock), unix_mode="0660",
                 unix_group=group)
        g.start()
        st = os.stat(sock)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, os.getgid())
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1, unix=sock,
                                   headers={"X-API-Key": "unix-key"}).status, 200)
        wait_for(lambda: access_lines(g), what="the access line")
        self.assertEqual(access_lines(g)[-1]["client"], "unix")


class Admin(FgTestCase):
    def test_purge_needs_admin_token_and_is_audited(self):
        s = self.sim()
        g = self.gateway(sim=s, start=False)
        set_keys(g, "gateway", admin_token_sha256=fgtest.sha256_hex("admin-secret-1"))
        g.start()
        r = g.admin("POST", "/cache/purge")
        self.assertEqual(r.status, 401, r)
        r = fgtest.request(g.admin_port, "POST", "/cache/purge",
                           headers={"Authorization": "Bearer admin-secret-1"})
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: "purge" in g.all_logs(), what="an audit line for the purge")
        self.assertNotIn("admin-secret-1", g.all_logs())
        # Other POST routes need it too; GET routes never do.
        self.assertEqual(g.admin("POST", "/budget/resume").status, 401)
        self.assertEqual(g.admin("GET", "/metrics").status, 200)
        r = fgtest.request(g.admin_port, "POST", "/cache/purge",
                           headers={"Authorization": "Bearer admin-secret-2"})
        self.assertEqual(r.status, 401)
        wait_for(lambda: g.all_logs().count('"status":401') >= 3, what="refused attempts audited")
        self.assertNotIn("admin-secret-2", g.all_logs())

    def test_process_metrics_reload_gauges_and_latency_by_cache(self):
        s = self.sim()
        s.vehicles([{"vin": VIN1, "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        for _ in range(2):
            self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VIN1).status, 200)
        m = g.admin("GET", "/metrics").body.decode()
        vals = {}
        for line in m.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
        self.assertGreater(vals["process_resident_memory_bytes"], 1 << 20)
        self.assertGreater(vals["process_open_fds"], 3)
        self.assertGreater(vals["process_max_fds"], vals["process_open_fds"])
        self.assertLess(abs(vals["process_start_time_seconds"] - time.time()), 3600)
        self.assertIn("process_cpu_seconds_total", vals)
        self.assertLess(abs(vals["fleetgate_config_last_reload_timestamp_seconds"] - time.time()), 3600)
        self.assertEqual(vals["fleetgate_config_last_reload_success"], 1)
        c = 'fleetgate_request_duration_by_cache_seconds_count{cache="%s"}'
        self.assertEqual(vals[c % "miss"], 1)
        self.assertEqual(vals[c % "hit"], 1)
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    main()
