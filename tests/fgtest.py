"""fgtest: black-box harness for fleetgate and fleetgate-sim.

Starts the simulator and the gateway on free loopback ports with generated
configuration, waits for them with polls that have deadlines (never bare
sleeps), and gives tests a small HTTP client. Set FG_VALGRIND=1 to run the
gateway under valgrind; stop() then fails the test on any leak or error.
"""
import fcntl
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILDDIR = os.environ.get("FG_BUILDDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
SRCDIR = os.environ.get("FG_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
FLEETGATE = os.path.join(BUILDDIR, "src", "fleetgate")
SIM = os.path.join(BUILDDIR, "sim", "fleetgate-sim")
VALGRIND = os.environ.get("FG_VALGRIND") == "1"

CLIENT_ID = "test-client-0001"
CLIENT_SECRET = "s3cr3t-client-secret-do-not-leak"


_ports_given = set()


def free_port():
    """A free loopback port, never one this process handed out before: the
    kernel may offer a just-closed port again, and a gateway's listen and
    admin_listen ports must differ."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls PRED until it returns a true value or TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=30, unix=None,
            source=None):
    """One request on a fresh connection; SOURCE binds the client's address
    (e.g. "127.0.0.2", to test source ranges)."""
    if unix:
        conn = UnixHTTPConnection(unix, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Sim:
    """fleetgate-sim on a free port."""

    def __init__(self, workdir, extra=(), lifetime=300, tls=None, port=None):
        self.port = port or free_port()
        self.scheme = "https" if tls else "http"
        args = [SIM, "--listen", "127.0.0.1:%d" % self.port, "--client-id", CLIENT_ID,
                "--client-secret", CLIENT_SECRET, "--token-lifetime", str(lifetime)]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        args += list(extra)
        self.log = open(os.path.join(workdir, "sim.log"), "a+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise AssertionError("fleetgate-sim did not start: %r" % line)

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def ctl(self, method, path, body=None):
        if self.scheme == "https":
            import ssl
            ctx = ssl._create_unverified_context()
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            if r.status >= 300:
                raise AssertionError("sim %s %s -> %d %r" % (method, path, r.status, raw))
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def stats(self):
        return self.ctl("GET", "/_sim/stats")

    def requests(self):
        return self.ctl("GET", "/_sim/requests")

    def faults(self, **kw):
        return self.ctl("POST", "/_sim/faults", kw)

    def reset(self):
        return self.ctl("POST", "/_sim/reset")

    def vehicles(self, items):
        return self.ctl("POST", "/_sim/vehicles", items)

    def revoke_tokens(self):
        return self.ctl("POST", "/_sim/revoke_tokens")

    def webhooks(self, **kw):
        """GET /_sim/webhooks without arguments; POST (faults, replay, send) with."""
        return self.ctl("POST", "/_sim/webhooks", kw) if kw else self.ctl("GET", "/_sim/webhooks")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


class Redis:
    """A private redis-server on a free loopback port: no persistence, DEBUG
    allowed from loopback (Redis 7 refuses it by default), stopped by PID.
    restart() comes back on the same port, empty."""

    def __init__(self, workdir, port=None):
        self.dir = workdir
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(workdir, "redis-%d.log" % self.port)
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
                "--dir", self.dir, "--logfile", self.log_path]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is not None or self.cmd("PING") == "PONG",
                 timeout=10, what="redis-server PING")
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %d" % self.proc.returncode)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def cmd(self, *args, timeout=5):
        """One command on a fresh connection (RESP by hand: no client
        library needed). Returns str, int, list, None; raises on -ERR."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            return _resp_read(s.makefile("rb"))
        finally:
            s.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(10)

    def restart(self):
        self.kill()
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)   # a stopped server cannot die by TERM
            self.proc.kill()
            self.proc.wait(10)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ValueError("redis error: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise OSError("bad RESP line %r" % line)


class FakeRedis:
    """A scripted stand-in for redis-server on a free loopback port, for what
    a real one will not do on demand: lie, cut replies, send huge ones,
    refuse writes. It speaks enough RESP for fleetgate's handshake (AUTH,
    SELECT, CONFIG GET, PING, SUBSCRIBE) and answers every script with what
    a healthy Redis would, unless the test's HANDLER says otherwise.

    EVALSHA is always answered NOSCRIPT, so fleetgate sends EVAL with the
    script's source, and the script is known by what it does (KINDS).
    HANDLER(kind, args, sock) returns bytes to send, None for the default,
    or FakeRedis.CLOSE to drop the connection without an answer; it may
    also write to SOCK itself (a streamed reply) and return b"". Every
    (kind, args) seen is in .calls."""

    CLOSE = object()
    KINDS = [("ZREMRANGEBYSCORE", "grant"), ("ARGV[2] == '1'", "commit"), ("local cur = redis.call('PTTL'", "pause"),
             ("'NX', at", "seed"), ("HMGET", "cache_get"), ("'s', ARGV[3]", "cache_put"),
             ("PUBLISH", "invalidate"), ("HGETALL", "drift"), ("return redis.call('DEL', KEYS[1])", "unlock")]

    def __init__(self, handler=None):
        self.handler = handler
        self.calls = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.srv.listen(64)
        self.conns = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def kinds(self):
        with self.lock:
            return [k for k, _ in self.calls]

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_cmd(f):
        line = f.readline()
        if not line:
            return None
        if not line.startswith(b"*"):
            return line.split()
        args = []
        for _ in range(int(line[1:])):
            n = int(f.readline()[1:])
            args.append(f.read(n + 2)[:-2])
        return args

    @staticmethod
    def bulk(v):
        v = v if isinstance(v, bytes) else str(v).encode()
        return b"$%d\r\n%s\r\n" % (len(v), v)

    @classmethod
    def array(cls, items):
        out = b"*%d\r\n" % len(items)
        for v in items:
            out += (b":%d\r\n" % v) if isinstance(v, int) else cls.bulk(v)
        return out

    def default(self, kind, args):
        now = int(time.time() * 1000)
        if kind == "grant":
            return self.array([0, 0, 1, now])
        if kind in ("commit",):
            return b":%d\r\n" % now
        if kind == "pause":
            return b":%s\r\n" % args[-1]
        if kind == "seed":
            return b":0\r\n"
        if kind == "cache_get":
            return self.array([0, "0", 1])
        if kind in ("cache_put", "unlock", "invalidate"):
            return b":1\r\n"
        if kind == "drift":
            return self.array([])
        return b"-ERR unknown script\r\n"

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                args = self._read_cmd(f)
                if args is None:
                    return
                name = args[0].upper().decode()
                if name == "EVALSHA":
                    c.sendall(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
                    continue
                if name == "EVAL":
                    src = args[1].decode(errors="replace")
                    kind = next((k for needle, k in self.KINDS if needle in src), "script")
                    rest = args[3:]
                else:
                    kind, rest = name.lower(), args[1:]
                with self.lock:
                    self.calls.append((kind, rest))
                out = self.handler(kind, rest, c) if self.handler else None
                if out is self.CLOSE:
                    return
                if out is None:
                    out = self._builtin(kind, rest)
                if out:
                    c.sendall(out)
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _builtin(self, kind, rest):
        if kind in ("auth", "select"):
            return b"+OK\r\n"
        if kind == "ping":
            return b"+PONG\r\n"
        if kind == "config":
            return self.array(["maxmemory-policy", "noeviction", "maxmemory", "0"])
        if kind == "subscribe":
            return b"*3\r\n" + self.bulk("subscribe") + self.bulk(rest[0]) + b":1\r\n"
        if kind == "pttl":
            return b":-2\r\n"
        return self.default(kind, rest)

    def stop(self):
        self.closed = True
        self.srv.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass


DEFAULT_TENANT = """[tenant]
name = all
sources = 127.0.0.1, ::1
methods = GET, POST, DELETE
vin_prefixes = *
"""


def merge_defaults(defaults, extra):
    """The harness's default lines minus the keys a test sets itself."""
    keys = {l.split("=", 1)[0].strip() for l in extra.splitlines() if "=" in l}
    return "".join(l + "\n" for l in defaults.splitlines() if l.split("=", 1)[0].strip() not in keys)


# What systemd does before it executes a socket-activated service: the
# sockets at descriptors 3.., and LISTEN_PID naming the process that will
# run the gateway (exec keeps the pid, also through valgrind).
LISTEN_TRAMPOLINE = """import os, sys
n = int(sys.argv[1])
fds = [int(a) for a in sys.argv[2:2 + n]]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i)
for fd in fds:
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(n))
os.execvp(sys.argv[2 + n], sys.argv[2 + n:])
"""


def listening_socket(address, backlog=1024):
    """A listening socket as fleetgate.socket would make it: ADDRESS is
    (host, port) for TCP or a path for a unix socket."""
    if isinstance(address, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(address)
    s.listen(backlog)
    return s


class Gateway:
    """fleetgate with a generated configuration in its own folder."""

    def __init__(self, workdir, sim=None, gateway="", upstream="", oauth=None, cache="",
                 redis=None, tenants=None, workers=2, wait_ready=True, base_url=None, start=True,
                 preexec_fn=None, extra_sections=(), webhook=None):
        self.dir = workdir
        self.preexec_fn = preexec_fn   # e.g. a lower RLIMIT_NOFILE for the gateway alone
        self.port = free_port()
        self.admin_port = free_port()
        self.tenants_dir = os.path.join(workdir, "tenants.d")
        os.makedirs(self.tenants_dir, exist_ok=True)
        with open(os.path.join(workdir, "client_secret"), "w") as f:
            f.write(CLIENT_SECRET + "\n")
        base = base_url or (sim.base_url if sim else "http://127.0.0.1:9")
        if oauth is None:
            oauth = "client_id = %s\nclient_secret = file:client_secret\n" % CLIENT_ID
        self.conf = os.path.join(workdir, "fleetgate.conf")
        self.access_log = os.path.join(workdir, "access.log")
        self.audit_log = os.path.join(workdir, "audit.log")
        self.stderr_path = os.path.join(workdir, "fleetgate.stderr")
        sections = [
            ("gateway", "listen = 127.0.0.1:%d\nadmin_listen = 127.0.0.1:%d\nworkers = %d\n"
                        "tenants_dir = tenants.d\naccess_log = %s\naudit_log = %s\nlog_level = debug\n"
                        "shutdown_timeout = 10\ndrain_delay = 0\n" % (self.port, self.admin_port, workers, self.access_log,
                                                     self.audit_log), gateway),
            ("upstream", "base_url = %s\ntimeout = 5\nconnect_timeout = 2\nqueue_timeout = 3\n" % base, upstream),
            ("oauth", "", oauth),
            ("cache", "", cache),
        ]
        if redis is not None:   # [redis] only when asked: absent = no Redis
            sections.append(("redis", "", redis))
        if webhook is not None:   # [webhook] likewise
            sections.append(("webhook", "", webhook))
        sections += [(name, "", text) for name, text in extra_sections]   # e.g. ("tls", "cert_file = ...")
        with open(self.conf, "w") as f:
            for name, defaults, extra in sections:
                f.write("[%s]\n%s%s\n" % (name, merge_defaults(defaults, extra), extra))
        for name, text in (tenants if tenants is not None else {"all": DEFAULT_TENANT}).items():
            with open(os.path.join(self.tenants_dir, name + ".conf"), "w") as f:
                f.write(text)
        self.proc = None
        if start:
            self.start(wait_ready)

    def start(self, wait_ready=True, listen_fds=None):
        """LISTEN_FDS: sockets handed over as systemd does (socket
        activation): descriptors 3, 4, ... in the gateway, LISTEN_FDS and
        LISTEN_PID (its own pid) in its environment."""
        args = [FLEETGATE, "-c", self.conf]
        if VALGRIND:
            self.vglog = os.path.join(self.dir, "valgrind.log")
            args = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                    "--log-file=" + self.vglog] + args
        self.stderr = open(self.stderr_path, "a")
        high = []
        if listen_fds:
            # Above any descriptor the child has, so placing them at 3.. in
            # the trampoline overwrites none of them.
            high = [fcntl.fcntl(s if isinstance(s, int) else s.fileno(), fcntl.F_DUPFD_CLOEXEC, 100)
                    for s in listen_fds]
            args = [sys.executable, "-c", LISTEN_TRAMPOLINE, str(len(high))] + [str(fd) for fd in high] + args
        try:
            self.proc = subprocess.Popen(args, stdout=self.stderr, stderr=self.stderr, preexec_fn=self.preexec_fn,
                                         pass_fds=high)
        finally:
            for fd in high:
                os.close(fd)
        slow = 10 if VALGRIND else 1
        wait_for(lambda: self.proc.poll() is not None or self.admin("GET", "/healthz").status == 200,
                 timeout=10 * slow, what="fleetgate /healthz")
        if self.proc.poll() is not None:
            raise AssertionError("fleetgate exited with %d:\n%s" % (self.proc.returncode, self.logs()))
        if wait_ready:
            wait_for(lambda: self.admin("GET", "/readyz").status == 200, timeout=10 * slow,
                     what="fleetgate /readyz")

    def request(self, method, path, body=None, headers=None, port=None, **kw):
        return request(port or self.port, method, path, body=body, headers=headers, **kw)

    def admin(self, method, path, body=None):
        return request(self.admin_port, method, path, body=body, timeout=10)

    def stats(self):
        return self.admin("GET", "/stats").json()

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        """SIGHUP, then waits until the reload is counted either way."""
        before = self.stats()["config"]
        n0 = before.get("reloads", 0) + before.get("reload_failures", 0)
        self.send_signal(signal.SIGHUP)
        wait_for(lambda: sum(self.stats()["config"].get(k, 0) for k in ("reloads", "reload_failures")) > n0,
                 what="reload to be counted")
        return self.stats()["config"]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * (5 if VALGRIND else 1))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("fleetgate did not stop within %ds" % timeout)
        self.stderr.close()
        rc = self.proc.returncode
        if VALGRIND and rc == 99:
            with open(self.vglog) as f:
                raise AssertionError("valgrind found errors or leaks:\n" + f.read()[-6000:])
        # A ThreadSanitizer build (scripts/test's tsan step) reports races on
        # stderr; with halt_on_error the gateway also exits non-zero.
        logs = self.logs()
        if "WARNING: ThreadSanitizer" in logs:
            at = logs.index("WARNING: ThreadSanitizer")
            raise AssertionError("ThreadSanitizer report:\n" + logs[at:at + 8000])
        return rc

    def logs(self):
        with open(self.stderr_path) as f:
            return f.read()

    def write_tenant(self, name, text):
        """Writes (or replaces, atomically by rename) tenants.d/NAME.conf."""
        write_atomic(os.path.join(self.tenants_dir, name + ".conf"), text)

    def remove_tenant(self, name):
        os.unlink(os.path.join(self.tenants_dir, name + ".conf"))

    def all_logs(self):
        out = self.logs()
        for p in (self.access_log, self.audit_log):
            if os.path.exists(p):
                with open(p) as f:
                    out += f.read()
        return out


def write_atomic(path, text):
    """Writes PATH through a temporary file and a rename, so a reload never
    reads it half written."""
    tmp = path + ".tmp~"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_fleetgate(*args, timeout=30):
    return subprocess.run([FLEETGATE] + list(args), capture_output=True, text=True, timeout=timeout)


class FgTestCase(unittest.TestCase):
    """A test case with a fresh working folder; subclasses start what they need."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="fgtest-")
        self.dir = self._tmp.name
        self._stops = []

    def tearDown(self):
        # Every process is stopped even when one stop fails; the first
        # failure is raised afterwards.
        first = None
        for fn in reversed(self._stops):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                first = first or e
        self._tmp.cleanup()
        if first:
            raise first

    def sim(self, **kw):
        s = Sim(self.dir, **kw)
        self._stops.append(s.stop)
        return s

    def redis(self, **kw):
        r = Redis(self.dir, **kw)
        self._stops.append(r.stop)
        return r

    def fake_redis(self, handler=None):
        r = FakeRedis(handler)
        self._stops.append(r.stop)
        return r

    def gateway(self, **kw):
        g = Gateway(self.dir, **kw)
        self._stops.append(lambda: self.assertIn(g.stop(), (0, None)))
        return g


def in_thread(fn, *args, **kw):
    """Runs FN in a thread; returns a getter that joins and returns its result."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - re-raised in the getter
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def get(timeout=60):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("background call did not finish")
        if "error" in box:
            raise box["error"]
        return box["value"]
    return get


def main():
    unittest.main(verbosity=2)
