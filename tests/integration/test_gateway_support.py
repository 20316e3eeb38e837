"""Shared pieces of the gateway's integration tests (no tests in here).

- StandIn: a tiny nng req/rep server written against nng's TCP wire
  protocol (SP over TCP: an 8-byte greeting, then 64-bit length-prefixed
  messages whose header is the request's backtrace). It answers bus
  methods with the contract's own samples (proto/samples/valid) or with
  what a test tells it, and records every call. It shows exactly what
  the gateway sends downstream (test_gateway_routes.py), and it stands
  in for the monitor, whose methods are not written yet.
- api(): one HTTP request with the standard library.
- the `gw` fixture: PostgreSQL (real), stand-ins for the five other
  services, the gateway (real) with a JWT secret and a first admin, and
  a token per role.
- the `real` fixture: the real ft-supervisor (with real ftsim bots),
  signal-ingest, notifier and backup, PostgreSQL and Redis, the gateway;
  only the monitor is a stand-in.
"""
import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import socket
import struct
import threading
import time

import pytest

from conftest import (BUILD, ROOT, http_get, kill_bots, psql, set_yaml,
                      start_daemon)

SECRET = "gw-test-secret-0123456789abcdef0123456789abcdef"
ADMIN = ("root-admin", "Adm1n!pass-word")
PASSWORD = "Passw0rd!x"  # policy: >= 8 characters, a special one
SAMPLES = os.path.join(ROOT, "proto", "samples", "valid")
RPC_TIMEOUT_MS = 2000  # services.bus.rpc_timeout_ms in the tests

# service name in services.yml -> method prefix
STANDINS = {"ft-supervisor": "supervisor", "signal-ingest": "ingest",
            "monitor": "monitor", "notifier": "notifier",
            "backup": "backup"}


# ---- the stand-in bus service ----

def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def sample_result(method):
    """The result of proto/samples/valid/<method>.result.json (or of its
    first variant, <method>.result--*.json)."""
    path = os.path.join(SAMPLES, f"{method}.result.json")
    if not os.path.exists(path):
        variants = sorted(glob.glob(os.path.join(
            SAMPLES, f"{method}.result--*.json")))
        if not variants:
            raise FileNotFoundError(path)
        path = variants[0]
    with open(path) as f:
        return json.load(f)["result"]


class StandIn:
    """A rep0 service on 127.0.0.1:port answering bus requests.

    handlers[method] = fn(params) returning a result dict, or
    ("error", code, message[, details]), or "hang" (never answer).
    Without a handler the method's valid sample result is sent, or
    unknown_method when there is none. calls lists (method, params)."""

    SP_REP0, SP_REQ0 = 0x31, 0x30

    def __init__(self, port, prefix):
        self.port, self.prefix = port, prefix
        self.handlers, self.calls = {}, []
        self.lock = threading.Lock()
        self.conns = []
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(16)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        try:
            conn.sendall(b"\x00SP\x00" + struct.pack(">HH", self.SP_REP0,
                                                      0))
            greet = _recv_exact(conn, 8)
            assert greet[:4] == b"\x00SP\x00", greet
            while self.running:
                (n,) = struct.unpack(">Q", _recv_exact(conn, 8))
                self._handle(conn, _recv_exact(conn, n))
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()

    def _handle(self, conn, msg):
        i = 0  # the backtrace: 4-byte words up to one with the high bit
        while True:
            i += 4
            if msg[i - 4] & 0x80:
                break
        req = json.loads(msg[i:])
        method, params = req["method"], req.get("params", {})
        with self.lock:
            self.calls.append((method, params))
        reply = self._reply(req["id"], method, params)
        if reply is None:
            return
        body = msg[:i] + json.dumps(reply).encode()
        conn.sendall(struct.pack(">Q", len(body)) + body)

    def _reply(self, rid, method, params):
        fn = self.handlers.get(method)
        if fn is None:
            try:
                out = sample_result(method)
            except FileNotFoundError:
                out = ("error", "unknown_method", f"no method {method}")
        else:
            out = fn(params)
        if out == "hang":
            return None
        if isinstance(out, tuple):
            err = {"code": out[1], "message": out[2]}
            if len(out) > 3:
                err["details"] = out[3]
            return {"v": 1, "id": rid, "ok": False, "error": err}
        return {"v": 1, "id": rid, "ok": True, "result": out}

    def calls_of(self, method):
        with self.lock:
            return [p for m, p in self.calls if m == method]

    def stop(self):
        """Close the listener and every connection (a crash, seen from
        the gateway)."""
        self.running = False
        self.srv.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()


# ---- HTTP ----

class Resp:
    def __init__(self, status, body, text, headers):
        self.status, self.body, self.text = status, body, text
        self.headers = headers

    def __repr__(self):
        return f"<{self.status} {self.text[:300]!r}>"


def api(port, method, path, body=None, token=None, headers=None, raw=None,
        ctype="application/json", timeout=30):
    """One request; the status, the parsed JSON body (or None), the raw
    text and the headers (lower-case names)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    if data is not None and ctype:
        h["Content-Type"] = ctype
    h.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        js = json.loads(text) if text else None
    except ValueError:
        js = None
    return Resp(r.status, js, text, hdrs)


def is_error(resp, status, code=None):
    """resp is the {error, detail} JSON with this status (and code)."""
    assert resp.status == status, resp
    assert isinstance(resp.body, dict), resp
    assert isinstance(resp.body.get("error"), str), resp
    assert isinstance(resp.body.get("detail"), str) and resp.body[
        "detail"], resp
    if code:
        assert resp.body["error"] == code, resp
    return resp.body


# ---- tokens made by hand (forged, expired, other algorithms) ----

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def make_token(claims, key=SECRET, alg="HS256", header=None):
    head = header or {"alg": alg, "typ": "JWT"}
    signing = b64url_json(head) + "." + b64url_json(claims)
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
               "HS512": hashlib.sha512}
    if alg in digests and key is not None:
        sig = b64url(hmac.new(key.encode(), signing.encode(),
                              digests[alg]).digest())
    else:
        sig = ""
    return signing + "." + sig


def claims_of(token):
    return json.loads(unb64url(token.split(".")[1]))


# ---- the stack ----

def reset_accounts(pg_dsn):
    psql(pg_dsn, "DO $$ BEGIN IF to_regclass('users') IS NOT NULL THEN "
         "DELETE FROM revoked_tokens; DELETE FROM login_throttle; "
         "DELETE FROM users; END IF; END $$")


def set_rpc_timeout(confdir, ms=RPC_TIMEOUT_MS):
    path = confdir / "services.yml"
    text = path.read_text()
    path.write_text(text.replace(
        "services:\n", f"services:\n  bus:\n    rpc_timeout_ms: {ms}\n",
        1))


def gw_env(env, admin=ADMIN):
    e = dict(env)
    e["BTCW_JWT_SECRET"] = SECRET
    if admin:
        e["BTCW_ADMIN_USER"], e["BTCW_ADMIN_PASSWORD"] = admin
    else:
        e["BTCW_ADMIN_USER"] = e["BTCW_ADMIN_PASSWORD"] = ""
    return e


class Stack:
    """The running gateway, its stand-ins, and tokens per role."""

    def __init__(self, proc, confdir, standins, pg_dsn):
        self.proc, self.confdir, self.standins = proc, confdir, standins
        self.pg_dsn = pg_dsn
        self.port = confdir.ports["gateway"]["http"]
        self.admin_port = confdir.ports["gateway"]["admin"]
        self.tokens = {}

    def api(self, method, path, body=None, role=None, **kw):
        token = kw.pop("token", None) or (self.tokens[role] if role
                                          else None)
        return api(self.port, method, path, body, token=token, **kw)

    def sup(self):
        return self.standins["ft-supervisor"]

    def login(self, user, password, **kw):
        return api(self.port, "POST", "/api/v1/auth/login",
                   {"username": user, "password": password}, **kw)

    def token(self, user, password):
        r = self.login(user, password)
        assert r.status == 200, r
        return r.body["access_token"]

    def make_user(self, name, role, password=PASSWORD):
        r = self.api("POST", "/api/v1/users", {"username": name,
                                               "password": password,
                                               "role": role},
                     role="admin")
        assert r.status == 201, r
        return r.body

    def metrics(self):
        st, text = http_get(f"http://127.0.0.1:{self.admin_port}/metrics")
        assert st == 200
        return text

    def sql(self, q):
        return psql(self.pg_dsn, q)


def start_gateway(spawn, confdir, env, pg_dsn, admin=ADMIN):
    reset_accounts(pg_dsn)
    return start_daemon(spawn, "gateway", confdir, gw_env(env, admin))


@pytest.fixture
def standins(confdir):
    set_rpc_timeout(confdir)
    s = {name: StandIn(confdir.ports[name]["rpc"], prefix)
         for name, prefix in STANDINS.items()}
    yield s
    for x in s.values():
        x.stop()


@pytest.fixture
def gw(spawn, confdir, env, pg_dsn, standins):
    proc = start_gateway(spawn, confdir, env, pg_dsn)
    st = Stack(proc, confdir, standins, pg_dsn)
    st.proc_spawn, st.env = spawn, env  # to start it again
    st.tokens["admin"] = st.token(*ADMIN)
    for role in ("trader", "viewer"):
        st.make_user(f"{role}1", role)
        st.tokens[role] = st.token(f"{role}1", PASSWORD)
    return st


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


FTSIM = os.path.join(BUILD, "ftsim")
CLEAN_SQL = (
    "DO $$ BEGIN IF to_regclass('strategies') IS NOT NULL THEN"
    " UPDATE strategies SET status = 'deleted', deleted_at = now(),"
    " desired_state = 'stopped', port = NULL, pid = NULL,"
    " pid_starttime = NULL, pid_boot_id = NULL WHERE deleted_at IS NULL;"
    " END IF; IF to_regclass('freqtrade_upgrades') IS NOT NULL THEN"
    " DELETE FROM freqtrade_upgrades; END IF; END $$")


# ---- the real stack ----

@pytest.fixture
def real(spawn, confdir, env, pg_dsn, tmp_path):
    """st.procs holds the real daemons by name (a test that kills one
    puts its successor there)."""
    assert os.path.exists(FTSIM), f"ftsim not built: {FTSIM}"
    psql(pg_dsn, CLEAN_SQL)
    set_rpc_timeout(confdir, 5000)
    y = confdir / "system.yml"
    base = 22000 + (os.getpid() * 53) % 6000
    set_yaml(y, "command", json.dumps([FTSIM]))
    set_yaml(y, "base_port", base)
    set_yaml(y, "port_range_end", base + 29)
    set_yaml(y, "max_strategies", 30)
    set_yaml(y, "startup_timeout", 20)
    set_yaml(y, "shutdown_timeout", 5)
    monitor = StandIn(confdir.ports["monitor"]["rpc"], "monitor")
    procs = {name: start_daemon(spawn, name, confdir, env)
             for name in ("ft-supervisor", "signal-ingest", "notifier",
                          "backup")}
    reset_accounts(pg_dsn)
    gwp = start_daemon(spawn, "gateway", confdir, gw_env(env))
    st = Stack(gwp, confdir, {"monitor": monitor}, pg_dsn)
    st.procs, st.spawn, st.env = procs, spawn, env
    st.tokens["admin"] = st.token(*ADMIN)
    for role in ("trader", "viewer"):
        st.make_user(f"{role}1", role)
        st.tokens[role] = st.token(f"{role}1", PASSWORD)
    yield st
    assert procs["ft-supervisor"].stop(30) == 0  # stops every bot
    kill_bots(str(tmp_path / "data"))
    monitor.stop()
    psql(pg_dsn, CLEAN_SQL)


def status_of(st, sid):
    return st.api("GET", f"/api/v1/strategies/{sid}", role="viewer").body[
        "status"]
