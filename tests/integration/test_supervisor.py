"""ft-supervisor against real PostgreSQL and ftsim bots: the registry,
the port pool, start / stop / delete, commands and logs, capacity, and
every reply and event checked against its schema in proto/.

The helpers here (Sup, the sup fixture) are shared with the other
test_supervisor_*.py files.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (BUILD, bot_pids, http_get, kill_bots, metrics, psql,
                      schema_errors, set_yaml, start_daemon, wait_for)

FTSIM = os.environ.get("BTCW_TEST_FTSIM") or os.path.join(BUILD, "ftsim")


# ---- the contract in proto/ ----

def check_reply(method, reply):
    """A reply validates against the envelope and its method's result
    (or the error schema)."""
    errs = schema_errors("envelope/reply.schema.json", reply)
    if reply.get("ok"):
        errs += schema_errors(f"methods/{method}.result.schema.json",
                              reply["result"])
    assert not errs, f"{method} reply breaks the schema: {errs}\n{reply}"


def check_event(env):
    topic = env["topic"]
    errs = schema_errors("envelope/event.schema.json", env)
    errs += schema_errors(f"topics/{topic}.schema.json", env["data"])
    assert not errs, f"{topic} event breaks the schema: {errs}\n{env}"


# ---- ports ----

def bindable(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_block(n, lo=21000, hi=29000):
    """n consecutive ports that can be bound now (below the ephemeral
    range and the fixtures' free_port() plan)."""
    start = lo + (os.getpid() * 97) % (hi - lo - n)
    for _ in range(200):
        if all(bindable(p) for p in range(start, start + n)):
            return start
        start = lo + (start - lo + n + 7) % (hi - lo - n)
    pytest.fail("no free port block")


def next_strategy_id(dsn):
    """The id the next strategy gets (1 before the first migration)."""
    out = psql(dsn, "SELECT COALESCE((SELECT COALESCE(last_value + 1,"
               " start_value) FROM pg_sequences"
               " WHERE sequencename = 'strategies_id_seq'), 1)")
    return int(out)


# ---- processes ----

# Soft-deletes every live strategy (signals keep their rows) and forgets
# the upgrades; a database no daemon has migrated yet has no tables.
CLEAN_SQL = (
    "DO $$ BEGIN IF to_regclass('strategies') IS NOT NULL THEN"
    " UPDATE strategies SET status = 'deleted', deleted_at = now(),"
    " desired_state = 'stopped', port = NULL, pid = NULL,"
    " pid_starttime = NULL, pid_boot_id = NULL WHERE deleted_at IS NULL;"
    " DELETE FROM freqtrade_upgrades; END IF; END $$")


class Sup:
    """One ft-supervisor under test, its event stream and its bots."""

    def __init__(self, spawn, confdir, env, tmp_path, pg_dsn, pool=40,
                 max_strategies=10, startup_timeout=10, restarts=5,
                 window=60, command=None, health=30):
        self.spawn, self.confdir, self.env = spawn, confdir, env
        self.tmp, self.dsn = tmp_path, pg_dsn
        self.data = str(tmp_path / "data")
        self.ports = confdir.ports["ft-supervisor"]
        self.base = port_block(pool)
        self.end = self.base + pool - 1
        y = confdir / "system.yml"
        set_yaml(y, "command", json.dumps(command or [FTSIM]))
        set_yaml(y, "base_port", self.base)
        set_yaml(y, "port_range_end", self.end)
        set_yaml(y, "max_strategies", max_strategies)
        set_yaml(y, "startup_timeout", startup_timeout)
        set_yaml(y, "shutdown_timeout", 5)
        set_yaml(y, "backoff_base_ms", 1000)
        set_yaml(y, "backoff_max_ms", 2000)
        set_yaml(y, "crash_loop_max_restarts", restarts)
        set_yaml(y, "crash_loop_window", window)
        set_yaml(y, "health_check_interval", health)
        self.proc = None
        self.sub = None
        self.events_path = tmp_path / "events.txt"
        self.seen = 0

    # -- process --
    def start(self):
        self.proc = start_daemon(self.spawn, "ft-supervisor", self.confdir,
                                 self.env)
        # reconciled: the registry methods answer
        wait_for(lambda: self.call("supervisor.capacity.get")["ok"],
                 what="reconcile")
        self.subscribe()
        return self.proc

    def subscribe(self):
        """(Re)dial the events socket now that it listens: a subscriber
        started earlier would be in nng's redial backoff. Events before
        this moment (a reconcile's) are in the log, see logged_states."""
        if self.sub:
            self.sub.kill()
            self.sub.wait()
        self.sub = subprocess.Popen(
            # nngcat writes through stdio: line-buffer it
            ["stdbuf", "-oL", "nngcat", "--sub", "--dial",
             f"tcp://127.0.0.1:{self.ports['events']}",
             "--subscribe", "", "--quoted"],
            stdout=open(self.events_path, "ab"),
            stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # the dial on loopback

    def logged_states(self, sid):
        return [(e["status"], e["cause"]) for e in self.proc.log_events()
                if e.get("event") == "strategy.state" and e["id"] == sid]

    def kill9(self):
        self.proc.signal(signal.SIGKILL)
        self.proc.p.wait(10)

    def stop(self):
        return self.proc.stop(30)

    def close(self):
        if self.sub:
            self.sub.kill()
            self.sub.wait()
        for env in self.events():
            check_event(env)

    # -- rpc --
    def call(self, method, params=None, timeout=10):
        body = json.dumps({"v": 1, "id": 7, "method": method,
                           "params": params or {}})
        out = subprocess.run(
            ["nngcat", "--req", "--dial",
             f"tcp://127.0.0.1:{self.ports['rpc']}", "--ascii", "--data",
             body, "--recv-timeout", str(timeout)],
            capture_output=True, text=True, timeout=timeout + 10)
        assert out.returncode == 0, out.stderr
        rep = json.loads(out.stdout)
        check_reply(method, rep)
        return rep

    def ok(self, method, params=None, timeout=10):
        rep = self.call(method, params, timeout)
        assert rep["ok"], rep
        return rep["result"]

    def err(self, method, params=None, code=None):
        rep = self.call(method, params)
        assert not rep["ok"], rep
        if code:
            assert rep["error"]["code"] == code, rep
        return rep["error"]

    # -- events --
    def events(self, topic=None):
        out = []
        if not self.events_path.exists():
            return out
        for line in self.events_path.read_text(errors="replace").splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            t, _, body = msg.partition(" ")
            env = json.loads(body)
            if topic is None or t == topic:
                out.append(env)
        return out

    def wait_event(self, topic, pred=lambda d: True, timeout=30,
                   what=None):
        def find():
            for e in self.events(topic):
                if pred(e["data"]):
                    return e["data"]
            return None
        return wait_for(find, timeout, what or topic)

    def states(self, sid):
        return [(e["data"]["status"], e["data"]["cause"])
                for e in self.events("strategy.state")
                if e["data"]["strategy_id"] == sid]

    def wait_status(self, sid, status, timeout=30):
        return wait_for(
            lambda: self.ok("supervisor.strategies.get",
                            {"id": sid})["status"] == status,
            timeout, f"strategy {sid} {status}")

    # -- strategies --
    def create(self, name, pairs=("BTC/USDT",), **more):
        params = {"name": name, "strategy_class": "SimStrategy",
                  "exchange": "binance", "timeframe": "5m",
                  "pair_whitelist": list(pairs)}
        params.setdefault("extra_config", {"ftsim": {"seed": 1}})
        params.update(more)
        return self.ok("supervisor.strategies.create", params)

    def start_bot(self, sid, timeout=30):
        self.ok("supervisor.strategies.start", {"id": sid})
        self.wait_status(sid, "running", timeout)
        return self.ok("supervisor.strategies.get", {"id": sid})

    def pids(self):
        return bot_pids(self.data)

    def metrics(self):
        """/metrics as {'name{labels}': value}."""
        return metrics(self.confdir.ports["ft-supervisor"]["admin"])

    def counters(self, *names):
        """The btcw_supervisor_<name>_total counters asked for."""
        m = self.metrics()
        return {n: m[f"btcw_supervisor_{n}_total"] for n in names}

    def db(self, sql):
        return psql(self.dsn, sql)


@pytest.fixture
def sup_factory(spawn, confdir, env, tmp_path, pg_dsn):
    assert os.path.exists(FTSIM), f"ftsim not built: {FTSIM}"
    psql(pg_dsn, CLEAN_SQL)
    made = []

    def make(**opts):
        s = Sup(spawn, confdir, env, tmp_path, pg_dsn, **opts)
        made.append(s)
        return s
    yield make
    for s in made:
        if s.proc and s.proc.alive():
            assert s.stop() == 0, s.proc.output()
    kill_bots(str(tmp_path / "data"))
    psql(pg_dsn, CLEAN_SQL)
    for s in made:
        s.close()


@pytest.fixture
def sup(sup_factory):
    s = sup_factory()
    s.start()
    return s


def ping(port):
    return http_get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=2)


# ---- tests ----

def test_create_start_stop_delete(sup):
    created = sup.create("btc-trend", version="v2.1",
                         thresholds={"strong": 0.9, "medium": 0.5,
                                     "weak": 0.2})
    sid = created["id"]
    assert created["status"] == "created" and created["port"] is None
    assert created["thresholds"] == {"strong": 0.9, "medium": 0.5,
                                     "weak": 0.2}
    row = sup.db(f"SELECT threshold_strong, desired_state, webhook_token"
                 f" FROM strategies WHERE id = {sid}").split("|")
    assert row[0] == "0.9" and row[1] == "stopped"
    token = row[2]

    started = sup.ok("supervisor.strategies.start", {"id": sid})
    assert started["status"] in ("starting", "running")
    s = sup.wait_status(sid, "running")
    s = sup.ok("supervisor.strategies.get", {"id": sid})
    port = s["port"]
    assert sup.base <= port <= sup.end
    assert ping(port)[0] == 200
    route = sup.wait_event("route.update", lambda d: d["op"] == "add"
                           and d["strategy_id"] == sid)
    assert route["port"] == port and route["host"] == "127.0.0.1"
    assert ("running", "ready") in sup.states(sid)

    # the bot's config: private, its own credentials, db and webhook
    cfg_path = os.path.join(sup.data, "freqtrade", "configs",
                            f"strategy_{sid}.json")
    assert os.stat(cfg_path).st_mode & 0o777 == 0o600
    cfg = json.load(open(cfg_path))
    r = sup.ok("supervisor.routes.get", {"strategy_id": sid})
    assert cfg["api_server"]["listen_port"] == port
    assert cfg["api_server"]["username"] == r["username"]
    assert cfg["api_server"]["password"] == r["password"]
    assert len(cfg["api_server"]["jwt_secret_key"]) >= 32
    ingest = sup.confdir.ports["signal-ingest"]["http"]
    assert cfg["webhook"]["url"] == (
        f"http://127.0.0.1:{ingest}/api/v1/signals/webhook/{sid}/{token}")
    assert cfg["webhook"]["format"] == "json"
    assert cfg["dry_run"] is True and cfg["strategy"] == "SimStrategy"
    assert f"strategy_{sid}" in cfg["db_url"]
    assert cfg["ftsim"] == {"seed": 1}
    # the secrets never travel in events
    for e in sup.events():
        assert r["password"] not in json.dumps(e)

    procs = sup.ok("supervisor.processes.list")["processes"]
    mine = [p for p in procs if p["strategy_id"] == sid]
    assert len(mine) == 1 and mine[0]["port"] == port
    assert mine[0]["pid"] in sup.pids()
    pool = sup.ok("supervisor.port_pool.get")
    assert pool["allocated_ports"] == 1 and pool["running_strategies"] == 1

    sup.ok("supervisor.strategies.stop", {"id": sid})
    sup.wait_status(sid, "stopped")
    sup.wait_event("route.update", lambda d: d["op"] == "remove"
                   and d["strategy_id"] == sid)
    assert ("stopping", "stop_requested") in sup.states(sid)
    assert ("stopped", "exited") in sup.states(sid)
    assert ping(port)[0] == 0
    assert sup.ok("supervisor.port_pool.get")["allocated_ports"] == 0
    assert not sup.pids()
    assert sup.db(f"SELECT status, desired_state, port IS NULL, pid IS NULL"
                  f" FROM strategies WHERE id = {sid}") == \
        "stopped|stopped|t|t"

    deleted = sup.ok("supervisor.strategies.delete", {"id": sid})
    assert deleted["status"] == "deleted" and deleted["deleted_at"]
    assert not os.path.exists(cfg_path)
    assert sup.ok("supervisor.strategies.get",
                  {"id": sid})["status"] == "deleted"
    assert sid not in [x["id"] for x in sup.ok(
        "supervisor.strategies.list")["strategies"]]
    page = {"include_deleted": True, "limit": 1}
    if sid > 1:
        page["after_id"] = sid - 1
    listed = sup.ok("supervisor.strategies.list", page)
    assert listed["strategies"][0]["id"] == sid
    sup.err("supervisor.strategies.start", {"id": sid}, "conflict")
    sup.err("supervisor.strategies.delete", {"id": sid}, "not_found")
    assert ("deleted", "deleted") in sup.states(sid)
    # the name can be used again
    sup.create("btc-trend")


def test_delete_running_stops_it_first(sup):
    sid = sup.create("eth-running", pairs=["ETH/USDT"])["id"]
    sup.start_bot(sid)
    assert sup.pids()
    d = sup.ok("supervisor.strategies.delete", {"id": sid}, timeout=30)
    assert d["status"] == "deleted" and d["port"] is None
    assert not sup.pids()
    assert sup.db(f"SELECT status, port IS NULL FROM strategies"
                  f" WHERE id = {sid}") == "deleted|t"


def test_preferred_fallback_and_held_port(sup_factory, pg_dsn):
    # base_port + id must be inside the pool: size it after the ids the
    # shared test database has used so far
    first = next_strategy_id(pg_dsn)
    size = max(100, first + 20)
    s = sup_factory(pool=size)
    s.start()
    a = s.create("pref-a")
    assert a["id"] == first
    want = s.base + a["id"]
    assert bindable(want)
    assert s.start_bot(a["id"])["port"] == want
    # b's preferred port is held by another program: skipped
    b = s.create("pref-b")
    held = socket.socket()
    held.bind(("127.0.0.1", s.base + b["id"]))
    held.listen(1)
    try:
        lowest = next(p for p in range(s.base, s.end + 1) if bindable(p))
        got = s.start_bot(b["id"])["port"]
    finally:
        held.close()
    assert got == lowest and got != s.base + b["id"]
    pool = s.ok("supervisor.port_pool.get")
    assert pool == {"total_ports": size, "available_ports": size - 2,
                    "allocated_ports": 2, "running_strategies": 2,
                    "port_range": f"{s.base}-{s.end}",
                    "max_concurrent": 10}


def test_strategy_limit(sup_factory):
    s = sup_factory(max_strategies=2)
    s.start()
    ids = [s.create(f"limit-{i}")["id"] for i in range(3)]
    s.start_bot(ids[0])
    s.start_bot(ids[1])
    e = s.err("supervisor.strategies.start", {"id": ids[2]},
              "limit_reached")
    assert "max_strategies (2)" in e["message"]
    assert s.ok("supervisor.strategies.get",
                {"id": ids[2]})["status"] == "created"
    cap = s.ok("supervisor.capacity.get")
    assert cap == {"max_strategies": 2, "running_strategies": 2,
                   "available_slots": 0, "utilization_percent": 100,
                   "port_range": f"{s.base}-{s.end}",
                   "can_start_more": False,
                   "architecture": "multi_instance_reverse_proxy"}
    stopped = s.ok("supervisor.strategies.stop_all")
    assert sorted(stopped["strategy_ids"]) == ids[:2]
    assert stopped["count"] == 2
    wait_for(lambda: not s.pids(), what="all stopped")
    wait_for(lambda: s.ok("supervisor.capacity.get")["can_start_more"],
             what="capacity back")
    s.start_bot(ids[2])


def test_commands_and_logs(sup):
    sid = sup.create("cmd-bot")["id"]
    e = sup.err("supervisor.strategies.command",
                {"id": sid, "command": "pause"}, "conflict")
    assert "not running" in e["message"]
    sup.start_bot(sid)
    for cmd in ("pause", "start", "stop", "start", "reload_config"):
        r = sup.ok("supervisor.strategies.command",
                   {"id": sid, "command": cmd}, timeout=35)
        assert r["id"] == sid and r["command"] == cmd and r["message"]
    wait_for(lambda: ping(sup.ok("supervisor.strategies.get",
                                 {"id": sid})["port"])[0] == 200,
             what="back after reload_config")
    logs = sup.ok("supervisor.logs.get", {"strategy_id": sid, "limit": 5},
                  timeout=35)
    assert logs["source"] == "api" and 0 < logs["log_count"] <= 5
    assert logs["log_count"] == len(logs["logs"])
    sup.ok("supervisor.strategies.stop", {"id": sid})
    sup.wait_status(sid, "stopped")
    logs = sup.ok("supervisor.logs.get", {"strategy_id": sid})
    assert logs["source"] == "file" and logs["log_count"] > 0


def test_extra_config_reaches_the_bot(sup):
    sid = sup.create("extra", extra_config={
        "stake_amount": 25, "max_open_trades": 2,
        "minimal_roi": {"0": 0.05}, "ftsim": {"seed": 7}})["id"]
    sup.start_bot(sid)
    cfg = json.load(open(os.path.join(
        sup.data, "freqtrade", "configs", f"strategy_{sid}.json")))
    assert cfg["stake_amount"] == 25 and cfg["max_open_trades"] == 2
    assert cfg["minimal_roi"] == {"0": 0.05}
    # an update reaches the bot at reload_config
    sup.ok("supervisor.strategies.update",
           {"id": sid, "extra_config": {"stake_amount": 30}})
    sup.ok("supervisor.strategies.command",
           {"id": sid, "command": "reload_config"}, timeout=35)
    cfg = json.load(open(os.path.join(
        sup.data, "freqtrade", "configs", f"strategy_{sid}.json")))
    assert cfg["stake_amount"] == 30 and "minimal_roi" not in cfg
    assert ("running", "updated") in sup.states(sid)


def test_sigterm_stops_bots_and_next_start_restores_them(sup):
    sid = sup.create("survivor")["id"]
    sup.start_bot(sid)
    assert sup.stop() == 0
    assert not sup.pids()
    assert sup.db(f"SELECT status, desired_state FROM strategies"
                  f" WHERE id = {sid}") == "stopped|running"
    sup.start()
    sup.wait_status(sid, "running")
    assert len(sup.pids()) == 1


def test_metrics(sup):
    sid = sup.create("metrics")["id"]
    sup.start_bot(sid)
    admin = sup.confdir.ports["ft-supervisor"]["admin"]
    st, text = http_get(f"http://127.0.0.1:{admin}/metrics")
    assert st == 200
    assert 'btcw_supervisor_strategies{status="running"} 1' in text
    assert "btcw_supervisor_starts_total 1" in text
    assert "btcw_supervisor_ports_allocated 1" in text
    assert "btcw_supervisor_start_latency_seconds_count 1" in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
