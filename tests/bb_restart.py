#!/usr/bin/env python3
"""Black-box tests of restarts that refuse no connection (issue 23): the
test plays systemd's part in socket activation. It binds the listening
sockets itself and hands them to the gateway as descriptors 3, 4, ...
with LISTEN_FDS and LISTEN_PID, keeps a client loop running while the old
process drains and a new one takes the same sockets, and counts every
refused, reset or unanswered request. Also: without inherited sockets
nothing changes, an inherited socket no listener wants is logged and
closed, a unix socket the service manager made is never unlinked."""
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase, listening_socket, main, wait_for  # noqa: E402

SLOW = 10 if fgtest.VALGRIND else 1
VINS = ["EXVETESTVIN%06d" % i for i in range(1, 9)]
VIN_SLOW = "EXVETESTVIN000099"


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for l in f if l.strip())


def socket_inodes(pid):
    """The inodes of the sockets process PID holds open."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]$", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


class ClientLoop:
    """THREADS threads, each sending GETs over fresh connections (no
    keep-alive: every request is a new connect()) until stopped, counting
    what became of each."""

    def __init__(self, port, threads=4, timeout=30):
        self.port = port
        self.timeout = timeout * SLOW
        self.lock = threading.Lock()
        self.counts = {}
        self.statuses = {}
        self.worst_s = 0.0
        self.stuck = False
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def count(self, key, status=None, took=0.0):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if status is not None:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            self.worst_s = max(self.worst_s, took)

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def run(self, i):
        n = 0
        while not self.stop_flag.is_set():
            vin = VINS[(i + n) % len(VINS)]
            n += 1
            t0 = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                conn.request("GET", "/v1/fleets/vehicles/" + vin)
                r = conn.getresponse()
                r.read()
                self.count("answered", r.status, time.monotonic() - t0)
            except ConnectionRefusedError:
                self.count("refused")
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.count("reset")
            except socket.timeout:
                self.count("timeout")
            except OSError as e:
                self.count("error %s" % e.__class__.__name__)
            finally:
                conn.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(self.timeout + 10)
            self.stuck = self.stuck or t.is_alive()
        with self.lock:
            return dict(self.counts), dict(self.statuses), self.worst_s


class Restart(FgTestCase):
    def activated(self, sim, extra_socks=(), **kw):
        """A gateway whose listeners come from sockets the test made (as
        fleetgate.socket would), plus EXTRA_SOCKS after them."""
        g = self.gateway(sim=sim, start=False, **kw)
        socks = [listening_socket(("127.0.0.1", g.port)), listening_socket(("127.0.0.1", g.admin_port))]
        for s in socks:
            self.addCleanup(s.close)
        g.start(listen_fds=socks + list(extra_socks))
        return g, socks

    def second(self, a, socks, name="b"):
        """Instance NAME: the same configuration and sockets as A, its own
        stderr and logs (so the test sees which one answered)."""
        conf = os.path.join(a.dir, name + ".conf")
        with open(a.conf) as f:
            text = f.read()
        text = text.replace(a.access_log, os.path.join(a.dir, name + "-access.log"))
        text = text.replace(a.audit_log, os.path.join(a.dir, name + "-audit.log"))
        with open(conf, "w") as f:
            f.write(text)
        b = fgtest.Gateway.__new__(fgtest.Gateway)
        b.__dict__.update(a.__dict__)
        b.conf = conf
        b.access_log = os.path.join(a.dir, name + "-access.log")
        b.audit_log = os.path.join(a.dir, name + "-audit.log")
        b.stderr_path = os.path.join(a.dir, name + ".stderr")
        b.proc = None
        self._stops.append(lambda: self.assertIn(b.stop(), (0, None)))
        # A, still draining, answers the admin listener too: B's own log
        # says when it serves.
        b.start(wait_ready=False, listen_fds=socks)
        wait_for(lambda: b.proc.poll() is not None or " started: " in b.logs(), timeout=20 * SLOW,
                 what="instance %s started" % name)
        self.assertIsNone(b.proc.poll(), b.logs())
        return b

    def test_a_restart_under_load_refuses_no_connection(self):
        s = self.sim()
        s.vehicles([{"vin": v, "status": "approved", "brand": "bmw"} for v in VINS + [VIN_SLOW]])
        # The slow request below must outlast B's start, valgrind's too,
        # without being cut (shutdown_timeout) or timed out upstream.
        a, socks = self.activated(s, cache="ttl = 3600\n", upstream="timeout = %d\n" % (10 * SLOW),
                                  gateway="shutdown_timeout = %d\n" % (30 * SLOW))
        self.assertIn("inherited from the service manager", a.logs())
        for v in VINS:   # A answers the loop from its cache
            self.assertEqual(a.request("GET", "/v1/fleets/vehicles/" + v).status, 200)
        loop = ClientLoop(a.port)
        try:
            self.restart_under(loop, s, a, socks)
        finally:
            loop.stop()   # before tearDown stops the gateways: no one would accept then

    def restart_under(self, loop, s, a, socks):
        wait_for(lambda: loop.total() >= 50, timeout=30 * SLOW, what="the loop running against A")
        # A request in flight keeps A draining while B starts.
        s.faults(latency_ms=1500 * SLOW)
        slow = fgtest.in_thread(lambda: a.request("GET", "/v1/fleets/vehicles/" + VIN_SLOW, timeout=60 * SLOW))
        wait_for(lambda: a.stats()["requests"]["in_flight"] >= 1, what="the slow request in flight on A")
        a.send_signal(signal.SIGTERM)
        wait_for(lambda: "no longer accepting" in a.logs(), what="A draining")
        at_sigterm = loop.total()
        b = self.second(a, socks)
        self.assertIsNone(a.proc.poll(), "A finished draining before B started: the test proves less")
        s.faults(latency_ms=0)
        self.assertEqual(slow().status, 200, "the request in flight on A was not finished by A")
        self.assertEqual(a.proc.wait(30 * SLOW), 0)
        a_served = count_lines(a.access_log)   # flushed at exit
        wait_for(lambda: b.stats()["requests"]["total"] >= 100, timeout=60 * SLOW, what="B answering the loop")
        counts, statuses, worst = loop.stop()
        self.assertEqual(b.stop(), 0)
        b_served = count_lines(b.access_log)
        print("\nrestart under load: %r, statuses %r; %d sent from SIGTERM on; A answered %d, B %d; "
              "slowest answer %.3f s" % (counts, statuses, counts.get("answered", 0) - at_sigterm, a_served,
                                         b_served, worst), file=sys.stderr)
        self.assertFalse(loop.stuck, "a client thread got no answer")
        self.assertEqual(set(counts), {"answered"}, counts)
        self.assertEqual(set(statuses), {200}, statuses)
        self.assertIn("inherited from the service manager", b.logs())
        # Every answer the loop got came from one instance or the other
        # (the test's own requests to A are the difference).
        self.assertEqual(a_served + b_served, counts["answered"] + len(VINS) + 1)

    def test_without_inherited_sockets_nothing_changes(self):
        s = self.sim()
        s.vehicles([{"vin": VINS[0], "status": "approved", "brand": "bmw"}])
        g = self.gateway(sim=s)
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VINS[0]).status, 200)
        self.assertNotIn("socket activation", g.logs())
        self.assertNotIn("inherited", g.logs())

    def test_sockets_for_another_process_are_not_taken(self):
        # LISTEN_PID names another process (a parent that forgot to unset
        # it): the descriptors are not this gateway's to take.
        s = self.sim()
        g = self.gateway(sim=s, start=False)
        os.environ.update(LISTEN_PID="1", LISTEN_FDS="1")
        try:
            g.start()
        finally:
            del os.environ["LISTEN_PID"], os.environ["LISTEN_FDS"]
        self.assertNotIn("socket activation", g.logs())
        self.assertEqual(g.admin("GET", "/healthz").status, 200)

    def test_an_inherited_socket_no_listener_wants_is_logged_and_closed(self):
        s = self.sim()
        stray = listening_socket(("127.0.0.1", fgtest.free_port()))
        self.addCleanup(stray.close)
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        g, _ = self.activated(s, extra_socks=[stray, a])
        logs = g.logs()
        self.assertIn("socket activation: 3 listening sockets inherited", logs)
        self.assertIn("inherited socket 127.0.0.1:%d matches no listener" % stray.getsockname()[1], logs)
        self.assertIn("inherited descriptor 6 is not a listening TCP or unix stream socket; closed", logs)
        held = socket_inodes(g.proc.pid)
        self.assertNotIn(os.fstat(stray.fileno()).st_ino, held)
        self.assertNotIn(os.fstat(a.fileno()).st_ino, held)
        self.assertEqual(g.admin("GET", "/healthz").status, 200)

    def test_an_inherited_unix_socket_outlives_the_process_and_serves_the_next(self):
        # A tenant's dedicated unix listener, made by the "service manager".
        s = self.sim()
        s.vehicles([{"vin": VINS[0], "status": "approved", "brand": "bmw"}])
        path = os.path.join(self.dir, "dispatch.sock")
        unix = listening_socket(path)
        self.addCleanup(unix.close)
        tenants = {"all": fgtest.DEFAULT_TENANT,
                   "dispatch": "[tenant]\nname = dispatch\nlisten = unix:%s\nmethods = GET\nvin_prefixes = *\n" % path}
        g = self.gateway(sim=s, start=False, tenants=tenants)
        socks = [listening_socket(("127.0.0.1", g.port)), listening_socket(("127.0.0.1", g.admin_port)), unix]
        for x in socks[:2]:
            self.addCleanup(x.close)
        g.start(listen_fds=socks)
        self.assertIn("listener unix:%s: inherited" % path, g.logs())
        self.assertEqual(g.request("GET", "/v1/fleets/vehicles/" + VINS[0], unix=path).status, 200)
        self.assertEqual(g.stop(), 0)
        self.assertTrue(os.path.exists(path), "the gateway unlinked the service manager's socket file")
        # A connection made while no gateway runs waits in the backlog.
        pending = fgtest.in_thread(lambda: fgtest.request(0, "GET", "/v1/fleets/vehicles/" + VINS[0], unix=path,
                                                          timeout=30 * SLOW))
        b = self.second(g, socks)
        self.assertEqual(pending().status, 200)
        self.assertEqual(b.request("GET", "/v1/fleets/vehicles/" + VINS[0], unix=path).status, 200)

    def test_a_reload_that_drops_an_inherited_listener_says_where_it_still_is(self):
        s = self.sim()
        path = os.path.join(self.dir, "dispatch.sock")
        unix = listening_socket(path)
        self.addCleanup(unix.close)
        tenants = {"all": fgtest.DEFAULT_TENANT,
                   "dispatch": "[tenant]\nname = dispatch\nlisten = unix:%s\nmethods = GET\nvin_prefixes = *\n" % path}
        g = self.gateway(sim=s, start=False, tenants=tenants)
        socks = [listening_socket(("127.0.0.1", g.port)), listening_socket(("127.0.0.1", g.admin_port)), unix]
        for x in socks[:2]:
            self.addCleanup(x.close)
        g.start(listen_fds=socks)
        g.remove_tenant("dispatch")
        self.assertTrue(g.reload()["last_reload_success"])
        wait_for(lambda: "closing listener unix:%s; the service manager still holds its socket" % path in g.logs(),
                 what="the warning")
        self.assertTrue(os.path.exists(path), "the reload unlinked the service manager's socket file")

if __name__ == "__main__":
    main()
