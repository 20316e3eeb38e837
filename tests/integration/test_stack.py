"""The local stack as `make run` / `make stop` run it (scripts/stack):
start, start again, status, the front door with the demo strategies,
stop, stop again. It runs on a services.yml of the test's own (every
port moved), with the sanitizer build (BTCW_BIN), in its own data
folder with its own PostgreSQL, Redis and nginx.
"""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import (BUILD, ROOT, SANITIZER_MARKS, SERVICES, bot_pids,
                      free_port, kill_bots, set_yaml, wait_for,
                      write_services)

STACK = os.path.join(ROOT, "scripts", "stack")
ADMIN = ("stack-admin", "Stack-pass1!")


class Stack:
    def __init__(self):
        # Outside pytest's 0700 tmp folders: PostgreSQL runs as postgres.
        self.dir = tempfile.mkdtemp(prefix="btcw-stack.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        conf = os.path.join(self.dir, "config")
        os.mkdir(conf)
        for f in ("system.yml", "notifications.yml", "proxy.yml"):
            shutil.copy(os.path.join(ROOT, "config", f), conf)
        self.ports = write_services(pathlib.Path(conf) / "services.yml")
        base = free_port()
        system = pathlib.Path(conf) / "system.yml"
        set_yaml(system, "base_port", base)
        set_yaml(system, "port_range_end", base + 9)
        set_yaml(system, "max_strategies", 10)
        self.http = free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("BTCW_")}
        self.env.update({
            "BTCW_DATA": self.data, "BTCW_CONFIG_DIR": conf,
            "BTCW_PG_PORT": str(free_port()),
            "BTCW_REDIS_PORT": str(free_port()),
            "BTCW_HTTP_PORT": str(self.http), "BTCW_BIN": BUILD,
            "BTCW_ADMIN_USER": ADMIN[0], "BTCW_ADMIN_PASSWORD": ADMIN[1]})

    def run(self, cmd, timeout=300):
        return subprocess.run([STACK, cmd], env=self.env, text=True,
                              capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def pid(self, name):
        with open(os.path.join(self.data, "run", f"{name}.pid")) as f:
            return int(f.read())

    def api(self, method, path, body=None, token=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {token}"}
                        if token else {})})
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return json.loads(r.read())

    def sanitizer_reports(self):
        found = []
        logs = os.path.join(self.data, "logs")
        for name in os.listdir(logs) if os.path.isdir(logs) else ():
            path = os.path.join(logs, name)
            if not os.path.isfile(path):
                continue
            with open(path, errors="replace") as f:
                text = f.read()
            found += [f"{name}: {m}" for m in SANITIZER_MARKS if m in text]
        return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def stack():
    s = Stack()
    yield s
    s.run("stop", timeout=120)
    kill_bots(s.dir)
    reports = s.sanitizer_reports()
    shutil.rmtree(s.dir, ignore_errors=True)
    assert not reports, reports


def test_start_twice_status_front_door_stop_twice(stack):
    out = stack.run("start")
    assert out.returncode == 0, out.stdout + out.stderr
    # every daemon ready on the ports services.yml gives, and says so
    for name in SERVICES:
        p = stack.ports[name]
        line = next((l for l in out.stdout.splitlines()
                     if l.split()[:1] == [name]), "")
        assert f"rpc tcp://127.0.0.1:{p['rpc']}" in line, out.stdout
        assert f"admin :{p['admin']}" in line, out.stdout
        if name in ("gateway", "signal-ingest"):
            assert f"http :{p['http']}" in line, out.stdout
    assert f"http://127.0.0.1:{stack.http}" in out.stdout
    pids = {n: stack.pid(n) for n in SERVICES}
    secret = os.path.join(stack.data, "secrets", "jwt_secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    with open(secret) as f:
        assert len(f.read()) == 64

    # the first admin logs in at the front door and sees the demo bots
    token = stack.api("POST", "/api/v1/auth/login",
                      {"username": ADMIN[0],
                       "password": ADMIN[1]})["access_token"]

    def demo_running():
        got = stack.api("GET", "/api/v1/strategies", token=token)
        rows = got["strategies"] if isinstance(got, dict) else got
        return {r["name"]: r["status"] for r in rows} == {
            "demo-btc": "running", "demo-eth": "running",
            "demo-sol": "running"}
    wait_for(demo_running, 60, "the three demo strategies running")
    assert len(bot_pids(stack.dir)) == 3

    # again: nothing new is started
    again = stack.run("start")
    assert again.returncode == 0, again.stdout + again.stderr
    for name in ("postgres", "redis", "nginx", *SERVICES):
        assert any(l.split()[:1] == [name] and "already running" in l
                   for l in again.stdout.splitlines()), again.stdout
    assert {n: stack.pid(n) for n in SERVICES} == pids
    assert len(bot_pids(stack.dir)) == 3

    st = stack.run("status")
    assert st.returncode == 0, st.stdout
    assert st.stdout.count(" ready (pid ") == len(SERVICES)

    down = stack.run("stop", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    said = {l.split()[0] for l in down.stdout.splitlines()
            if l.split()[1:] == ["stopped"]}
    assert said == {"nginx", "redis", "postgres", *SERVICES}, down.stdout
    assert not [n for n, p in pids.items() if alive(p)]
    assert bot_pids(stack.dir) == {}

    # stopping what is stopped does nothing and says nothing
    twice = stack.run("stop", timeout=60)
    assert twice.returncode == 0 and twice.stdout == "", twice.stdout
    st = stack.run("status")
    assert st.returncode == 3
    assert st.stdout.count("not running") == len(SERVICES) + 3
