"""Process-level test fixtures: our real binaries against the real
PostgreSQL and Redis that tests/run.sh started (tests/harness/servers.sh).

Each daemon started here dies with the test process (PR_SET_PDEATHSIG), is
stopped with SIGTERM at teardown, and fails the test if it left a sanitizer
report in its log or exited non-zero.
"""
import ctypes
import datetime
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BTCW_BUILD", os.path.join(ROOT, "build", "asan"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_port_lock = threading.Lock()
# free_port() hands out ports from 10000-20999, in turn (wrapping), each
# checked bindable: below the bots' port pools of the tests (21000-28999),
# the harness's PostgreSQL and Redis (29000-31999) and the kernel's
# ephemeral range (32768 up), where any outgoing connection's local port
# could take a port between the check and the daemon's bind.
_PORT_LO, _PORT_HI = 10000, 21000
_next_port = [_PORT_LO + (os.getpid() * 211) % (_PORT_HI - _PORT_LO)]


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    """A loopback TCP port nothing listens on (each handed out once
    until the range wraps)."""
    with _port_lock:
        while True:
            p = _next_port[0]
            _next_port[0] = p + 1 if p + 1 < _PORT_HI else _PORT_LO
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                    return p
                except OSError:
                    continue


def need_env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run the tests with `make test`")
    return v


@pytest.fixture(scope="session")
def pg_dsn():
    return need_env("BTCW_TEST_PG_DSN")


@pytest.fixture(scope="session")
def redis_addr():
    return need_env("BTCW_TEST_REDIS_HOST"), int(
        need_env("BTCW_TEST_REDIS_PORT"))


def psql(dsn, sql):
    out = subprocess.run(["psql", dsn, "-XtAq", "-v", "ON_ERROR_STOP=1",
                          "-c", sql], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def redis_cli(addr, *args):
    out = subprocess.run(["redis-cli", "-h", addr[0], "-p", str(addr[1]),
                          *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# Loopback only: never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=5):
    """(status, body) of a GET; HTTP errors are returned, not raised; a
    connection that fails is status 0."""
    try:
        with _opener.open(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def metrics(admin_port):
    """A daemon's /metrics as {'name{labels}': value}."""
    code, text = http_get(f"http://127.0.0.1:{admin_port}/metrics")
    assert code == 200, text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class Proc:
    """One of our binaries running in the background."""

    def __init__(self, argv, tmp_path, name, env=None):
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL,
                                  env={**os.environ, **(env or {})},
                                  preexec_fn=_die_with_parent)

    def output(self):
        return self.log_path.read_text(errors="replace")

    def log_events(self):
        """The JSON log lines as dicts (non-JSON lines skipped)."""
        out = []
        for line in self.output().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            pytest.fail(f"{self.name} ignored SIGTERM for {timeout}s")

    def check_clean(self):
        text = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"{self.name}: sanitizer report:\n{text}"


@pytest.fixture
def spawn(tmp_path):
    """spawn(argv, name, env=None) -> Proc; every Proc is stopped at
    teardown and must exit 0 with no sanitizer report."""
    procs = []

    def _spawn(argv, name, env=None):
        proc = Proc(argv, tmp_path, name, env)
        procs.append(proc)
        return proc

    yield _spawn
    problems = []
    for proc in procs:
        rc = proc.stop()
        proc.log.close()
        if rc not in (0, -signal.SIGKILL) and not getattr(
                proc, "expect_fail", False):
            problems.append(f"{proc.name} exited {rc}:\n{proc.output()}")
        try:
            proc.check_clean()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems))


# ---- bots and their config ----

def bot_pids(marker):
    """pid -> cmdline of live (non-zombie) processes whose command line
    mentions marker (a test's own data folder)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and "trade" in cmd and state != "Z":
            out[int(d)] = cmd.replace("\0", " ")
    return out


def kill_bots(marker):
    for pid in bot_pids(marker):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def set_yaml(path, key, value):
    text = path.read_text()
    new, n = re.subn(rf"(?m)^(\s*{re.escape(key)}:)[^\n#]*?(\s*(#|$))",
                     rf"\g<1> {value}\g<2>", text, count=1)
    assert n == 1, key
    path.write_text(new)


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        path = os.path.join(BUILD, "tests", name)
    assert os.path.exists(path), f"{name} not built in {BUILD}"
    return path


# ---- daemons built on the service kit (libcommon/svc.h) ----

SERVICES = ("ft-supervisor", "gateway", "signal-ingest", "monitor",
            "notifier", "backup")


def write_services(path):
    """services.yml giving all six daemons free ports; returns
    {name: {"rpc", "events", "admin", "http"}}."""
    ports = {}
    lines = ["services:"]
    for name in SERVICES:
        p = {"rpc": free_port(), "events": free_port(),
             "admin": free_port(), "http": free_port()}
        ports[name] = p
        lines += [f"  {name}:",
                  f"    rpc: tcp://127.0.0.1:{p['rpc']}",
                  f"    events: tcp://127.0.0.1:{p['events']}",
                  f"    admin_port: {p['admin']}"]
        if name in ("gateway", "signal-ingest"):
            lines += [f"    http_port: {p['http']}",
                      f"    http_url: http://127.0.0.1:{p['http']}"]
    path.write_text("\n".join(lines) + "\n")
    return ports


class ConfDir(pathlib.PosixPath):
    """A config folder that also knows the ports it assigned (.ports)."""


@pytest.fixture
def confdir(tmp_path):
    """A copy of config/ whose services.yml uses free ports (.ports)."""
    d = ConfDir(tmp_path / "config")
    d.mkdir()
    for f in ("system.yml", "notifications.yml", "proxy.yml"):
        shutil.copy(os.path.join(ROOT, "config", f), d / f)
    d.ports = write_services(d / "services.yml")
    return d


@pytest.fixture
def env(tmp_path):
    """Environment for daemons: the test servers, a private data dir."""
    return {"BTCW_PG_PORT": need_env("BTCW_TEST_PG_PORT"),
            "BTCW_REDIS_PORT": need_env("BTCW_TEST_REDIS_PORT"),
            "BTCW_DATABASE_DSN": "", "BTCW_LOG_LEVEL": "info",
            "BTCW_DATA": str(tmp_path / "data"),
            "BTCW_JWT_SECRET": "test-jwt-secret-" + "x" * 32}


def call(port, method, params=None, rid=1, timeout=5):
    """One RPC over nng with nngcat, as an operator would; the reply."""
    body = json.dumps({"v": 1, "id": rid, "method": method,
                       "params": params or {}})
    out = subprocess.run(["nngcat", "--req", "--dial",
                          f"tcp://127.0.0.1:{port}", "--ascii", "--data",
                          body, "--recv-timeout", str(timeout)],
                         capture_output=True, text=True,
                         timeout=timeout + 10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def start_daemon(spawn, name, confdir, env):
    """Start a daemon with confdir and wait for its /readyz."""
    proc = spawn([binary(name), "--config", str(confdir)], name, env=env)
    admin = confdir.ports[name]["admin"]
    wait_for(lambda: http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200
             or not proc.alive(), what=f"{name} /readyz")
    assert proc.alive(), proc.output()
    return proc


# ---- the message contract (proto/schemas) ----

_SCHEMAS = pathlib.Path(ROOT) / "proto" / "schemas"
_ALL = {p.relative_to(_SCHEMAS).as_posix(): json.loads(p.read_text())
        for p in _SCHEMAS.rglob("*.schema.json")}
_STORE = {s["$id"]: s for s in _ALL.values() if "$id" in s}


def schema_errors(rel, instance):
    """Messages of every way instance breaks proto/schemas/<rel>
    (e.g. "methods/supervisor.capacity.get.result.schema.json"); [] if
    it conforms."""
    from jsonschema import Draft202012Validator, FormatChecker, \
        RefResolver
    formats = FormatChecker()

    @formats.checks("date-time", raises=ValueError)
    def _dt(value):
        if isinstance(value, str):
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    schema = _ALL[rel]
    v = Draft202012Validator(schema, format_checker=formats,
                             resolver=RefResolver.from_schema(
                                 schema, store=_STORE))
    return [f"{'/'.join(map(str, e.path))}: {e.message}"
            for e in v.iter_errors(instance)]
