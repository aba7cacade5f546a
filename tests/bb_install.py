#!/usr/bin/env python3
"""Black-box tests of installation (issue 13): `make install DESTDIR=...`
from the build folder lays fleetgate out as a Debian service — a systemd
unit that `systemd-analyze verify` accepts, sysusers.d and tmpfiles.d files
that create the user and the folders the unit writes, man pages that groff
renders without a warning, every docs/*.md — and installs nothing live: no
tenant, loopback listeners, a configuration that will not start without
credentials. Re-installing keeps an edited fleetgate.conf, uninstalling
leaves it. The alert rules and the dashboard use only metrics fleetgate
exports, and sd_notify reports ready, reloading and stopping.

Tools that may be missing (systemd-analyze, groff, promtool) skip their
check with a message instead of failing."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fgtest  # noqa: E402
from fgtest import FgTestCase  # noqa: E402

BUILDDIR = fgtest.BUILDDIR
SRCDIR = fgtest.SRCDIR
# Hashes of the demo tenants' keys (etc/tenants.d): never installed live.
DEMO_KEY_HASHES = ("806647bb62d32253b6797dad9d71d211d172005a6564317a920e9ba78322a338",
                   "e3443290e72630db38ebbff1dc6e9889a2ac533600d4b55c9302d782dd9d1307")
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "PrivateDevices=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=")


def make(*args, check=True):
    """make in the build folder, outside the jobserver of a `make check`
    that may be running this test."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", BUILDDIR] + list(args), capture_output=True, text=True,
                       env=env, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("make %s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def install_dirs():
    out = make("print-install-dirs").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def built_with_libsystemd():
    with open(os.path.join(BUILDDIR, "fg_autoconf.h")) as f:
        return re.search(r"^#define HAVE_LIBSYSTEMD 1$", f.read(), re.M) is not None


def read(path):
    with open(path) as f:
        return f.read()


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


def skip_note(msg):
    print("SKIP (check not run): " + msg, file=sys.stderr)


class InstallLayout(unittest.TestCase):
    """One `make install` into a fresh DESTDIR, read by every test here."""

    @classmethod
    def setUpClass(cls):
        cls.dirs = install_dirs()
        cls._tmp = tempfile.TemporaryDirectory(prefix="fginstall-")
        cls.dest = cls._tmp.name
        make("install", "DESTDIR=" + cls.dest)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def p(self, var, *rest):
        return os.path.join(self.dest + self.dirs[var], *rest)

    def test_binaries_are_installed(self):
        self.assertTrue(os.access(self.p("sbindir", "fleetgate"), os.X_OK))
        self.assertTrue(os.access(self.p("bindir", "fleetgate-sim"), os.X_OK))
        r = subprocess.run([self.p("sbindir", "fleetgate"), "-V"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("fleetgate "))

    def test_unit_runs_the_installed_daemon_as_its_own_user_sandboxed(self):
        unit = read(self.p("systemdsystemunitdir", "fleetgate.service"))
        self.assertNotRegex(unit, r"@[A-Za-z_]+@", "a placeholder was not substituted")
        conf = os.path.join(self.dirs["sysconfdir"], "fleetgate", "fleetgate.conf")
        daemon = os.path.join(self.dirs["sbindir"], "fleetgate")
        self.assertIn("\nExecStart=%s -c %s\n" % (daemon, conf), unit)
        self.assertIn("\nExecStartPre=%s -t -q -c %s\n" % (daemon, conf), unit)
        self.assertIn("\nExecReload=/bin/kill -HUP $MAINPID\n", unit)
        # Installed unconfigured, the unit waits for the secret the shipped
        # configuration names instead of failing (docs/operations.md).
        secret = os.path.join(self.dirs["sysconfdir"], "fleetgate", "client_secret")
        self.assertIn("\nConditionFileNotEmpty=%s\n" % secret, unit)
        self.assertIn("\n#client_secret = file:client_secret\n",
                      read(self.p("sysconfdir", "fleetgate", "fleetgate.conf")))
        self.assertIn("\nUser=fleetgate\n", unit)
        self.assertIn("\nType=%s\n" % ("notify" if built_with_libsystemd() else "simple"), unit)
        for line in HARDENING:
            self.assertIn("\n" + line, unit)
        logdir = os.path.join(self.dirs["localstatedir"], "log", "fleetgate")
        rw = re.search(r"^ReadWritePaths=(.*)$", unit, re.M).group(1).split()
        self.assertIn("-" + logdir, rw)

    def test_systemd_analyze_verify_is_clean(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        # verify wants the ExecStart binaries and the man pages to exist:
        # point it at the DESTDIR copies.
        # The socket unit is checked beside the service it activates.
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name in ("fleetgate.service", "fleetgate.socket"):
                unit = read(self.p("systemdsystemunitdir", name))
                unit = unit.replace(self.dirs["sbindir"] + "/", self.dest + self.dirs["sbindir"] + "/")
                paths.append(os.path.join(d, name))
                with open(paths[-1], "w") as f:
                    f.write(unit)
            env = dict(os.environ, MANPATH=self.dest + self.dirs["mandir"], SYSTEMD_LOG_LEVEL="notice")
            r = subprocess.run(["systemd-analyze", "verify"] + paths, capture_output=True, text=True, env=env,
                               timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_socket_unit_holds_the_shipped_listeners_for_restarts(self):
        # What fleetgate.socket lists is what the shipped fleetgate.conf
        # listens on (docs/operations.md, "Restarts that refuse no connection").
        sock = read(self.p("systemdsystemunitdir", "fleetgate.socket"))
        self.assertNotRegex(sock, r"@[A-Za-z_]+@", "a placeholder was not substituted")
        conf = read(self.p("sysconfdir", "fleetgate", "fleetgate.conf"))
        wanted = set()
        for key in ("listen", "admin_listen"):
            value = re.search(r"(?m)^%s = (.*)$" % key, conf).group(1)
            wanted |= {a.strip() for a in value.split(",")}
        self.assertEqual(set(re.findall(r"(?m)^ListenStream=(.*)$", sock)), wanted)
        self.assertIn("\nWantedBy=sockets.target\n", sock)

    def test_sysusers_and_tmpfiles_make_the_user_and_the_folders_the_unit_writes(self):
        sysusers = read(self.p("sysusersdir", "fleetgate.conf"))
        self.assertRegex(sysusers, r"(?m)^u fleetgate - ")
        # The unit's SupplementaryGroups=ssl-cert must resolve on a machine
        # without Debian's ssl-cert package.
        if re.search(r"(?m)^SupplementaryGroups=.*\bssl-cert\b", unit := read(self.p("systemdsystemunitdir", "fleetgate.service"))):
            self.assertRegex(sysusers, r"(?m)^g ssl-cert -")
        tmpfiles = read(self.p("tmpfilesdir", "fleetgate.conf"))
        logdir = os.path.join(self.dirs["localstatedir"], "log", "fleetgate")
        self.assertIn("d %s 0750 fleetgate adm -" % logdir, tmpfiles)
        # The installed configuration logs into that folder.
        conf = read(self.p("sysconfdir", "fleetgate", "fleetgate.conf"))
        self.assertIn("access_log = %s/access.log" % logdir, conf)
        self.assertIn("audit_log = %s/audit.log" % logdir, conf)
        # logrotate rotates exactly those files and signals the service.
        rot = read(self.p("sysconfdir", "logrotate.d", "fleetgate"))
        self.assertIn("%s/access.log %s/audit.log {" % (logdir, logdir), rot)
        self.assertIn("systemctl kill -s USR1 --kill-who=main fleetgate.service", rot)
        self.assertIn("create 0640 fleetgate adm", rot)
        if os.geteuid() != 0 or not shutil.which("systemd-sysusers") or not shutil.which("systemd-tmpfiles"):
            return skip_note("running systemd-sysusers/systemd-tmpfiles --root needs root and both tools")
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "etc"))
            with open(os.path.join(root, "etc", "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/sh\n")
            with open(os.path.join(root, "etc", "group"), "w") as f:
                f.write("root:x:0:\nadm:x:4:\n")
            subprocess.run(["systemd-sysusers", "--root=" + root, self.p("sysusersdir", "fleetgate.conf")],
                           check=True, capture_output=True, timeout=60)
            user = [l.split(":") for l in read(os.path.join(root, "etc", "passwd")).splitlines()
                    if l.startswith("fleetgate:")]
            self.assertEqual(len(user), 1)
            self.assertEqual(user[0][6], "/usr/sbin/nologin")
            self.assertTrue(any(l.startswith("ssl-cert:") for l in read(os.path.join(root, "etc", "group")).splitlines()))
            subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create",
                            self.p("tmpfilesdir", "fleetgate.conf")], check=True, capture_output=True, timeout=60)
            st = os.stat(root + logdir)
            self.assertEqual((st.st_mode & 0o7777, st.st_uid, st.st_gid), (0o750, int(user[0][2]), 4))

    def test_man_pages_render_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff is not installed (Debian package groff-base)")
        for section, name in (("8", "fleetgate"), ("5", "fleetgate.conf"), ("1", "fleetgate-sim")):
            page = self.p("mandir", "man" + section, name + "." + section)
            r = subprocess.run(["groff", "-ww", "-mandoc", "-Tutf8", page], capture_output=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr.decode()), (0, ""), page)
            text = re.sub(r".\x08", "", r.stdout.decode())
            self.assertIn("NAME", text)
            self.assertIn(name.upper() + "(" + section + ")", text)

    def test_docs_license_and_examples_go_to_the_docs_folder(self):
        docs = sorted(f for f in os.listdir(os.path.join(SRCDIR, "docs")) if f.endswith(".md"))
        self.assertTrue(docs)
        for f in docs + ["README.md", "LICENSE"]:
            self.assertTrue(os.path.isfile(self.p("docdir", f)), "%s is not installed (Makefile.am dist_doc_DATA)"
                            % f)
        self.assertIn("BSD 2-Clause", read(self.p("docdir", "LICENSE")))
        for f in ("fleetgate.conf.default", "prometheus.yml", "prometheus-rules.yml", "grafana-dashboard.json",
                  "demo/fleetgate.conf", "demo/sim-vehicles.json", "demo/tenants.d/dispatch.conf"):
            self.assertTrue(os.path.isfile(self.p("docdir", "examples", f)), f)
        # The shipped default is what fleetgate.conf is compared with.
        self.assertEqual(read(self.p("docdir", "examples", "fleetgate.conf.default")),
                         read(self.p("sysconfdir", "fleetgate", "fleetgate.conf")))

    def test_nothing_live_is_installed(self):
        etc = self.p("sysconfdir", "fleetgate")
        self.assertEqual(os.listdir(os.path.join(etc, "tenants.d")), [], "a tenant was installed")
        for f in files_under(self.dest + self.dirs["sysconfdir"]):
            text = read(os.path.join(self.dest + self.dirs["sysconfdir"], f))
            for h in DEMO_KEY_HASHES:
                self.assertNotIn(h, text, f)
        conf = read(os.path.join(etc, "fleetgate.conf"))
        listens = re.findall(r"(?m)^\s*(?:listen|admin_listen)\s*=\s*(.*)$", conf)
        self.assertEqual(len(listens), 2)
        for v in listens:
            self.assertTrue(v.startswith("127.0.0.1:"), v)
        self.assertNotRegex(conf, r"(?m)^\s*client_(id|secret)\s*=", "credentials are set as shipped")
        # As shipped it does not start: -t names what is missing.
        daemon = self.p("sbindir", "fleetgate")
        r = subprocess.run([daemon, "-t", "-c", os.path.join(etc, "fleetgate.conf")], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("[oauth] client_id is required", r.stderr)
        # With credentials added it is valid, with no tenant at all.
        with tempfile.TemporaryDirectory() as d:
            shutil.copytree(etc, os.path.join(d, "fleetgate"))
            conf = os.path.join(d, "fleetgate", "fleetgate.conf")
            with open(conf) as f:
                text = f.read()
            # -t checks that the log folders exist and are writable: the
            # packaged ones (/var/log/fleetgate) are made by tmpfiles.d.
            text = re.sub(r"(?m)^(access_log|audit_log) = .*/(\w+\.log)$", r"\1 = %s/\2" % d, text)
            with open(conf, "w") as f:
                f.write(text + "\n[oauth]\nclient_id = test-client\nclient_secret = file:client_secret\n")
            secret = os.path.join(d, "fleetgate", "client_secret")
            with open(secret, "w") as f:
                f.write("x\n")
            os.chmod(secret, 0o600)   # -t warns about a secret others can read
            r = subprocess.run([daemon, "-t", "-c", os.path.join(d, "fleetgate", "fleetgate.conf")],
                               capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))


class ReinstallAndUninstall(unittest.TestCase):
    def test_edited_conf_survives_reinstall_and_uninstall(self):
        dirs = install_dirs()
        with tempfile.TemporaryDirectory(prefix="fginstall-") as dest:
            conf = dest + os.path.join(dirs["sysconfdir"], "fleetgate", "fleetgate.conf")
            make("install", "DESTDIR=" + dest)
            with open(conf, "a") as f:
                f.write("# edited by the operator\n")
            edited = read(conf)
            r = make("install", "DESTDIR=" + dest)
            self.assertEqual(read(conf), edited, "make install overwrote an edited fleetgate.conf")
            self.assertIn("KEEP", r.stdout)
            make("uninstall", "DESTDIR=" + dest)
            self.assertEqual(read(conf), edited, "make uninstall removed an edited fleetgate.conf")
            # Everything else is gone.
            self.assertEqual(files_under(dest), [os.path.relpath(conf, dest)])

    def test_unchanged_conf_is_removed_by_uninstall(self):
        with tempfile.TemporaryDirectory(prefix="fginstall-") as dest:
            make("install", "DESTDIR=" + dest)
            self.assertTrue(files_under(dest))
            make("uninstall", "DESTDIR=" + dest)
            self.assertEqual(files_under(dest), [])


class DebianVersion(unittest.TestCase):
    """One version (issue 23): debian/changelog's upstream version is
    configure.ac's AC_INIT version, which fleetgate -V prints. debian/rules
    checks the same when a package is built; this says so in make check."""

    def test_changelog_agrees_with_configure_ac_and_fleetgate_v(self):
        changelog = os.path.join(SRCDIR, "debian", "changelog")
        if not os.path.isfile(changelog):
            self.skipTest("no debian/ in this tree")
        m = re.match(r"fleetgate \((?:\d+:)?([^)\s]+)-[^-)\s]+\) ", read(changelog))
        self.assertIsNotNone(m, "debian/changelog's first line is not 'fleetgate (VERSION-REVISION) ...'")
        ac = re.search(r"^AC_INIT\(\[fleetgate\], *\[([^]]+)\]", read(os.path.join(SRCDIR, "configure.ac")), re.M)
        self.assertEqual(m.group(1), ac.group(1), "add a debian/changelog entry for the AC_INIT version")
        r = subprocess.run([os.path.join(BUILDDIR, "src", "fleetgate"), "-V"], capture_output=True, text=True)
        self.assertEqual(r.stdout, "fleetgate %s\n" % ac.group(1))


def metric_names(text):
    """fleetgate_* names in TEXT, with histogram suffixes dropped."""
    return {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bfleetgate_[a-z_]+\b", text)}


class Monitoring(FgTestCase):
    def exported(self):
        # with a [redis] section (nobody listens there): its families are
        # exported too, since the rules use one
        g = self.gateway(wait_ready=False, redis="url = redis://127.0.0.1:%d/0\n" % fgtest.free_port())
        r = g.admin("GET", "/metrics")
        self.assertEqual(r.status, 200)
        return set(re.findall(r"(?m)^# TYPE (fleetgate_[a-z_]+) ", r.body.decode()))

    def test_rules_and_dashboard_use_only_exported_metrics(self):
        exported = self.exported()
        documented = metric_names(read(os.path.join(SRCDIR, "docs", "metrics.md")))
        rules = read(os.path.join(SRCDIR, "etc", "prometheus-rules.yml"))
        dash_text = read(os.path.join(SRCDIR, "etc", "grafana-dashboard.json"))
        dash = json.loads(dash_text)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        used = metric_names(rules) | metric_names(" ".join(exprs))
        self.assertGreaterEqual(len(used), 15)
        self.assertEqual(used - exported, set(), "not in /metrics")
        self.assertEqual(used - documented, set(), "not in docs/metrics.md")

    def test_every_alert_has_severity_summary_description_and_runbook(self):
        path = os.path.join(SRCDIR, "etc", "prometheus-rules.yml")
        text = read(path)
        alerts = re.split(r"(?m)^\s*- alert: ", text)[1:]
        names = [a.split("\n", 1)[0].strip() for a in alerts]
        for want in ("FleetgateDown", "FleetgateTokenInvalid", "FleetgateBudgetSaturated",
                     "FleetgateUpstreamErrors", "FleetgateUpstreamThrottling", "FleetgateReloadFailed"):
            self.assertIn(want, names)
        for name, a in zip(names, alerts):
            self.assertRegex(a, r"\n\s+severity: (critical|warning)\n", name)
            for key in ("summary", "description", "runbook"):
                self.assertRegex(a, r"\n\s+%s: \S" % key, name)
        if not shutil.which("promtool"):
            return skip_note("promtool is not installed (Debian package prometheus)")
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(alerts), r.stdout)


class Notify(FgTestCase):
    """sd_notify, as systemd would receive it on NOTIFY_SOCKET."""

    def test_ready_reloading_and_stopping_are_reported(self):
        if not built_with_libsystemd():
            self.skipTest("built without libsystemd: notify.c is a no-op and the unit is Type=simple")
        path = os.path.join(self.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)  # a deadline: each message is read as soon as it arrives
        self.addCleanup(sock.close)
        old = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = path
        try:
            g = self.gateway(wait_ready=False)
        finally:
            if old is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = old
        self.assertEqual(sock.recv(4096), b"READY=1")
        # READY=1 came after the listeners were bound.
        self.assertEqual(g.admin("GET", "/healthz").status, 200)
        g.send_signal(signal.SIGHUP)
        self.assertRegex(sock.recv(4096).decode(), r"^RELOADING=1\nMONOTONIC_USEC=\d+$")
        self.assertEqual(sock.recv(4096), b"READY=1")
        g.send_signal(signal.SIGTERM)
        self.assertEqual(sock.recv(4096), b"STOPPING=1")


if __name__ == "__main__":
    fgtest.main()
