"""Shared pieces of the gateway's part-2 tests (no tests in here): the
strategy proxy, FreqUI through one origin, /ws, nginx in front.

- Front: the real stack — PostgreSQL, ft-supervisor starting real ftsim
  bots, signal-ingest, the gateway — behind a real nginx started with
  scripts/lib/nginx.sh exactly as the local stack starts it. One per test
  module (`front` fixture), so the bots start once.
- WS: a minimal RFC 6455 client on the socket module (as
  test_ftsim_ws.py's), with a path, headers and close codes.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import (BUILD, ROOT, Proc, binary, free_port, http_get,
                      kill_bots, psql, set_yaml, wait_for, write_services)
from test_gateway_support import (ADMIN, CLEAN_SQL, PASSWORD, Stack,
                                  StandIn, api, gw_env, reset_accounts,
                                  set_rpc_timeout)

FTSIM = os.path.join(BUILD, "ftsim")
NGINX_SH = os.path.join(ROOT, "scripts", "lib", "nginx.sh")
PROXY_TIMEOUT = 2  # system.gateway.proxy_timeout in these tests (s)
WS_CHECK_S = 1  # system.gateway.ws_auth_check_interval in these tests
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- nginx through scripts/lib/nginx.sh ----

def nginx(fn, *args):
    out = subprocess.run(["bash", "-c", f'. "{NGINX_SH}"; {fn} "$@"', "x",
                          *map(str, args)], capture_output=True, text=True,
                         timeout=30)
    return out.returncode, out.stdout + out.stderr


class Nginx:
    def __init__(self, folder, gw_url):
        self.dir, self.port = folder, free_port()
        rc, out = nginx("nginx_start", folder, self.port, gw_url)
        assert rc == 0, out

    def running(self):
        return nginx("nginx_running", self.dir)[0] == 0

    def stop(self):
        rc, out = nginx("nginx_stop", self.dir)
        assert rc == 0, out

    def error_log(self):
        p = os.path.join(self.dir, "error.log")
        return open(p).read() if os.path.exists(p) else ""


# ---- the stack, once per module ----

class Front(Stack):
    """Stack (test_gateway_support) whose api() goes through nginx;
    gw_api() talks to the gateway directly."""

    def __init__(self, proc, confdir, standins, pg_dsn, ng):
        super().__init__(proc, confdir, standins, pg_dsn)
        self.ng = ng
        self.gw_port = self.port
        self.port = ng.port
        self.bots = {}

    def gw_api(self, method, path, body=None, role=None, **kw):
        token = kw.pop("token", None) or (self.tokens[role] if role
                                          else None)
        return api(self.gw_port, method, path, body, token=token, **kw)

    def status_of(self, sid):
        return self.api("GET", f"/api/v1/strategies/{sid}",
                        role="viewer").body["status"]

    def routed(self, sid):
        return self.api("GET", f"/api/strategy/{sid}/ping",
                        role="viewer").status == 200

    def create_bot(self, name, extra=None, start=True):
        body = {"name": name, "strategy_class": "SimStrategy",
                "exchange": "binance", "timeframe": "5m",
                "pair_whitelist": ["BTC/USDT", "ETH/USDT"],
                "extra_config": extra or {"ftsim": {"seed": 7}}}
        r = self.api("POST", "/api/v1/strategies", body, role="trader")
        assert r.status == 201, r
        sid = r.body["id"]
        if start:
            self.start_bot(sid)
        return sid

    def start_bot(self, sid):
        r = self.api("POST", f"/api/v1/strategies/{sid}/start",
                     role="trader")
        assert r.status == 202, r
        wait_for(lambda: self.status_of(sid) == "running", 40,
                 f"strategy {sid} running")
        wait_for(lambda: self.routed(sid), 10, f"route to {sid}")

    def stop_bot(self, sid):
        r = self.api("POST", f"/api/v1/strategies/{sid}/stop",
                     role="trader")
        assert r.status == 202, r
        wait_for(lambda: self.status_of(sid) == "stopped", 40,
                 f"strategy {sid} stopped")

    def bot_route(self, sid):
        """The supervisor's route with the bot's own credentials."""
        from conftest import call
        r = call(self.confdir.ports["ft-supervisor"]["rpc"],
                 "supervisor.routes.get", {"strategy_id": sid})
        assert r["ok"], r
        return r["result"]

    def restart_gateway(self):
        """Stop the gateway (it must exit 0) and start a new one."""
        assert self.proc.stop() == 0, self.proc.output()
        self.proc = self.start("gateway", gw_env(self.env, admin=None))


def _module_env(tmp):
    return {"BTCW_PG_PORT": os.environ["BTCW_TEST_PG_PORT"],
            "BTCW_REDIS_PORT": os.environ["BTCW_TEST_REDIS_PORT"],
            "BTCW_DATABASE_DSN": "", "BTCW_LOG_LEVEL": "info",
            "BTCW_DATA": str(tmp / "data"),
            "BTCW_JWT_SECRET": "test-jwt-secret-" + "x" * 32}


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """The whole stack behind nginx, shared by a module's tests."""
    yield from make_front(tmp_path_factory)


def make_front(tmp_path_factory, command=None):
    """The stack's generator; command (a list) replaces ftsim as the
    supervisor's bot command."""
    assert os.path.exists(FTSIM), f"ftsim not built: {FTSIM}"
    pg_dsn = os.environ["BTCW_TEST_PG_DSN"]
    tmp = tmp_path_factory.mktemp("front")
    confdir = tmp / "config"
    confdir.mkdir()
    for f in ("system.yml", "notifications.yml", "proxy.yml"):
        shutil.copy(os.path.join(ROOT, "config", f), confdir / f)
    ports = write_services(confdir / "services.yml")
    psql(pg_dsn, CLEAN_SQL)
    set_rpc_timeout(confdir, 5000)
    y = confdir / "system.yml"
    base = 22000 + (os.getpid() * 53 + 977) % 6000
    set_yaml(y, "command", json.dumps(command or [FTSIM]))
    set_yaml(y, "base_port", base)
    set_yaml(y, "port_range_end", base + 29)
    set_yaml(y, "max_strategies", 20)
    set_yaml(y, "startup_timeout", 20)
    set_yaml(y, "shutdown_timeout", 5)
    set_yaml(y, "proxy_timeout", PROXY_TIMEOUT)
    set_yaml(y, "ws_auth_check_interval", WS_CHECK_S)
    yield from _run(tmp, confdir, ports, _module_env(tmp), pg_dsn)


class _ConfDir:
    """Just enough of conftest.ConfDir for Stack and start()."""

    def __init__(self, path, ports):
        self.path, self.ports = path, ports

    def __truediv__(self, other):
        return self.path / other

    def __str__(self):
        return str(self.path)

    def __fspath__(self):
        return str(self.path)


def _run(tmp, confdir, ports, env, pg_dsn):
    cd = _ConfDir(confdir, ports)
    procs = []
    monitor = StandIn(ports["monitor"]["rpc"], "monitor")

    def start(name, e):
        p = Proc([binary(name), "--config", str(cd)], tmp,
                 f"{name}-{len(procs)}", e)
        procs.append(p)
        admin = ports[name]["admin"]
        wait_for(lambda: http_get(f"http://127.0.0.1:{admin}/readyz")[0]
                 == 200 or not p.alive(), what=f"{name} /readyz")
        assert p.alive(), p.output()
        return p

    ng = None
    try:
        sup = start("ft-supervisor", env)
        ing = start("signal-ingest", env)
        reset_accounts(pg_dsn)
        gwp = start("gateway", gw_env(env))
        ng = Nginx(str(tmp / "nginx"),
                   f"http://127.0.0.1:{ports['gateway']['http']}")
        st = Front(gwp, cd, {"monitor": monitor}, pg_dsn, ng)
        st.env, st.start, st.sup, st.ing = env, start, sup, ing
        st.tokens["admin"] = st.token(*ADMIN)
        for role in ("trader", "viewer"):
            st.make_user(f"{role}1", role)
            st.tokens[role] = st.token(f"{role}1", PASSWORD)
        yield st
    finally:
        problems = []
        if ng:
            ng.stop()
        for p in reversed(procs):
            rc = p.stop(40)
            p.log.close()
            if rc != 0:
                problems.append(f"{p.name} exited {rc}:\n{p.output()}")
            try:
                p.check_clean()
            except AssertionError as e:
                problems.append(str(e))
        kill_bots(str(tmp / "data"))
        monitor.stop()
        psql(pg_dsn, CLEAN_SQL)
        if problems:
            pytest.fail("\n".join(problems))


# ---- WebSocket client ----

class WS:
    """A blocking RFC 6455 client: handshake, masked frames out."""

    def __init__(self, port, path, headers=None, timeout=10, rcvbuf=0):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {})
                        .items())
        self.s.sendall((
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                break
            head += chunk
        lines = head.decode(errors="replace").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1]
                        .strip() for ln in lines[1:] if ":" in ln}
        want = base64.b64encode(hashlib.sha1((key + GUID).encode())
                                .digest()).decode()
        self.accepted = (self.status == 101 and
                         self.headers.get("sec-websocket-accept") == want)
        self.body = b""
        if not self.accepted:
            n = int(self.headers.get("content-length", "0"))
            while len(self.body) < n:
                chunk = self.s.recv(n - len(self.body))
                if not chunk:
                    break
                self.body += chunk

    def send_frame(self, data, opcode=1):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4]
                                          for i, b in enumerate(data)))

    def send(self, obj):
        self.send_frame(json.dumps(obj).encode())

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv_frame(self, timeout=10):
        self.s.settimeout(timeout)
        b0, b1 = self._read(2)
        assert not b1 & 0x80, "server frames are not masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def recv(self, timeout=10):
        """The next text message as JSON (pings answered, skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.recv_frame(max(0.1, deadline -
                                           time.monotonic()))
            if op == 1:
                return json.loads(data)
            if op == 9:
                self.send_frame(data, opcode=10)
            if op == 8:
                code = struct.unpack("!H", data[:2])[0] if data else 1005
                raise ConnectionError(f"closed {code}")

    def recv_until(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if pred(m):
                return m
        raise AssertionError("no such message")

    def close_code(self, timeout=10):
        """Read until the server's close frame; its code."""
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.recv_frame(max(0.1, deadline -
                                           time.monotonic()))
            if op == 8:
                return struct.unpack("!H", data[:2])[0] if data else 1005

    def close_frame(self, timeout=10):
        """Read (answering pings) until the server's close frame;
        (code, reason). Raises if it does not come within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no close frame in time")
            try:
                op, data = self.recv_frame(left)
            except socket.timeout:
                raise AssertionError("no close frame in time")
            if op == 9:
                self.send_frame(data, opcode=10)
            if op == 8:
                code = struct.unpack("!H", data[:2])[0] if data else 1005
                return code, data[2:].decode()

    def close(self):
        try:
            self.send_frame(struct.pack("!H", 1000), opcode=8)
            self.close_code(5)
        except (OSError, ConnectionError):
            pass
        finally:
            self.s.close()
