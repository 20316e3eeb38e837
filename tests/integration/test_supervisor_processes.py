"""ft-supervisor and the bots' processes, with real ftsim bots: a bot
that ignores SIGTERM is SIGKILLed at shutdown_timeout; the whole process
group goes on a stop or a crash; adoption after a kill -9 of the
supervisor checks that the bot's port is its own; processes.list tells
true cpu / RSS / uptime; reconcile removes stale files; a delete keeps
the strategy's signals.

Bots with a process group of more than one process come from a small
shell script used as the FreqTrade command (the supervisor appends
`trade --config F --logfile L`), which runs ftsim under it.
"""
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import set_yaml, wait_for
from test_supervisor import FTSIM, ping, sup, sup_factory  # noqa

assert sup and sup_factory  # fixtures, re-exported for pytest


# ---- helpers ----

def wrapper(tmp_path, name, body):
    """A FreqTrade command: a shell script around ftsim ($FTSIM)."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\nFTSIM=" + shlex.quote(FTSIM) + "\n" +
                    body + "\n")
    path.chmod(0o755)
    return str(path)


def stat_fields(pid):
    """/proc/<pid>/stat fields from the state on (field 3), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return text.rstrip("\0").split("\0") if text else []


def group(pgid):
    """Live (non-zombie) processes of process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat_fields(d)
            if f and int(f[2]) == pgid and f[0] != "Z":
                out.append(int(d))
    return out


def kill_groups(pgids):
    """After a failed test: the leftovers kill_bots cannot see (their
    command lines do not name the data folder)."""
    for pgid in pgids:
        if group(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass


def logged(s, event):
    return [e for e in s.proc.log_events() if e.get("event") == event]


class Pong(BaseHTTPRequestHandler):
    """Answers every GET as a FreqTrade /api/v1/ping would."""

    def do_GET(self):
        body = b'{"status":"pong"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start(s, sid):
    """Start sid and wait until it runs: its strategy.state (with the
    pid and port that strategies.get does not tell)."""
    def running():
        return [e["data"] for e in s.events("strategy.state")
                if e["data"]["strategy_id"] == sid
                and e["data"]["status"] == "running"]
    n = len(running())
    s.start_bot(sid)
    return wait_for(lambda: running()[n] if len(running()) > n else None,
                    10, f"strategy {sid} running event")


def pid_now(s, sid):
    (p,) = s.ok("supervisor.processes.list",
                {"strategy_ids": [sid]})["processes"]
    return p["pid"]


def stopped_event(s, sid):
    return s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                        and d["cause"] == "exited"
                        and d["status"] == "stopped")


# ---- SIGTERM, SIGKILL and process groups ----

def test_bot_ignoring_sigterm_is_killed_at_shutdown_timeout(sup_factory,
                                                           tmp_path):
    # The leader ignores SIGTERM (the sleep inherits the ignored
    # signal); ftsim, its child, installs its own handler and serves
    # the API.
    cmd = wrapper(tmp_path, "deaf.sh", "trap '' TERM\n"
                  '"$FTSIM" "$@" &\n'
                  "exec sleep 120")
    s = sup_factory(command=[cmd])
    set_yaml(s.confdir / "system.yml", "shutdown_timeout", 3)
    s.start()
    sid = s.create("stubborn")["id"]
    pgids = []
    try:
        pgid = start(s, sid)["pid"]
        pgids.append(pgid)
        assert cmdline(pgid)[:1] == ["sleep"] and len(group(pgid)) == 2

        t0 = time.monotonic()
        s.ok("supervisor.strategies.stop", {"id": sid})
        st = stopped_event(s, sid)
        took = time.monotonic() - t0
        # only the SIGKILL at the deadline ended it
        assert took > 2.8, took
        assert st["term_signal"] == 9 and st["exit_code"] is None
        kills = [e for e in logged(s, "bot.kill") if e["id"] == sid]
        assert len(kills) == 1
        wait_for(lambda: not group(pgid), 5, "the group gone")
        assert s.ok("supervisor.port_pool.get")["allocated_ports"] == 0

        # the same at the supervisor's own SIGTERM: it waits for the
        # deadline, kills, and exits cleanly with the desired state kept
        pgid = start(s, sid)["pid"]
        pgids.append(pgid)
        t0 = time.monotonic()
        assert s.stop() == 0
        assert time.monotonic() - t0 > 2.8
        assert not group(pgid)
        kills = [e for e in logged(s, "bot.kill") if e["id"] == sid]
        assert len(kills) == 2
        assert s.db(f"SELECT status, desired_state FROM strategies"
                    f" WHERE id = {sid}") == "stopped|running"
    finally:
        kill_groups(pgids)


def test_stop_and_crash_kill_the_whole_process_group(sup_factory,
                                                     tmp_path):
    # ftsim leads the group; a child of it shrugs off SIGTERM and would
    # outlive it
    cmd = wrapper(tmp_path, "with-child.sh",
                  "(trap '' TERM; exec sleep 120) &\n"
                  'exec "$FTSIM" "$@"')
    s = sup_factory(command=[cmd])
    s.start()
    sid = s.create("family")["id"]

    pgids = []

    def started():
        pgid = start(s, sid)["pid"]
        pgids.append(pgid)
        wait_for(lambda: [p for p in group(pgid)
                          if cmdline(p)[:1] == ["sleep"]], 10, "the child")
        return pgid
    try:
        pgid = started()
        s.ok("supervisor.strategies.stop", {"id": sid})
        st = stopped_event(s, sid)
        assert st["exit_code"] == 0  # ftsim itself went on SIGTERM
        wait_for(lambda: not group(pgid), 5, "the child killed on stop")

        pgid = started()
        os.kill(pgid, signal.SIGKILL)
        s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                     and d["cause"] == "crashed")
        wait_for(lambda: not group(pgid), 5, "the child killed on crash")
        s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                     and d["cause"] == "ready" and d["pid"] != pgid)
    finally:
        kill_groups(pgids)


# ---- adoption checks the port ----

def test_adoption_refuses_a_port_held_by_another(sup, tmp_path):
    sid = sup.create("owned")["id"]
    got = start(sup, sid)
    port, pid = got["port"], got["pid"]
    argv = cmdline(pid)
    sup.kill9()
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not group(pid), 10, "the bot gone")
    # while the supervisor is down, another program takes the port and
    # answers /ping there, and a process that looks like the bot (its
    # command line, a session of its own) holds nothing
    srv = ThreadingHTTPServer(("127.0.0.1", port), Pong)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"] +
        argv[argv.index("trade"):], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: f"strategy_{sid}.json" in " ".join(
            cmdline(fake.pid)), 10, "the look-alike")
        assert ping(port)[0] == 200  # a /ping alone would be fooled
        sup.start()
        # not adopted: killed, and the strategy started afresh on a
        # port of its own
        fake.wait(20)
        wait_for(lambda: sup.ok("supervisor.strategies.get",
                                {"id": sid})["status"] == "running",
                 30, "started afresh")
        now = sup.ok("supervisor.strategies.get", {"id": sid})
        assert now["port"] != port
        assert cmdline(pid_now(sup, sid))[0] == FTSIM
        assert ("running", "adopted") not in sup.logged_states(sid)
        refused = [e for e in logged(sup, "reconcile.port_not_its_own")
                   if e["id"] == sid]
        assert refused and refused[0]["pid"] == fake.pid
        assert refused[0]["why"] == "another process holds it"
        routes = sup.ok("supervisor.routes.list")["routes"]
        assert [r["port"] for r in routes] == [now["port"]]
    finally:
        srv.shutdown()
        srv.server_close()
        if fake.poll() is None:
            fake.kill()
            fake.wait()


def test_adoption_accepts_a_port_held_by_the_bots_group(sup_factory,
                                                        tmp_path):
    # the leader is the shell; ftsim, its child, holds the port
    cmd = wrapper(tmp_path, "shell.sh", '"$FTSIM" "$@" &\nwait')
    s = sup_factory(command=[cmd])
    s.start()
    sid = s.create("wrapped")["id"]
    got = start(s, sid)
    pgid = got["pid"]
    assert os.path.basename(cmdline(pgid)[0]) == "sh"
    s.kill9()
    s.start()
    s.wait_status(sid, "running")
    assert ("running", "adopted") in s.logged_states(sid)
    now = s.ok("supervisor.strategies.get", {"id": sid})
    assert pid_now(s, sid) == pgid and now["port"] == got["port"]
    assert not logged(s, "reconcile.port_not_its_own")
    assert ping(now["port"])[0] == 200


# ---- process stats ----

def sample(pid):
    """(cpu ticks, uptime s, rss MB, monotonic s) of pid, as /proc says."""
    f = stat_fields(pid)
    with open("/proc/uptime") as u:
        up = float(u.read().split()[0])
    hz = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12]), up - int(f[19]) / hz,
            int(f[21]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20,
            time.monotonic())


def test_process_stats_are_true(sup):
    hz = os.sysconf("SC_CLK_TCK")
    t_req = time.time()
    sid = sup.create("measured")["id"]
    idle = sup.create("not-running")["id"]
    got = start(sup, sid)
    pid = got["pid"]

    def call():
        a = sample(pid)
        r = sup.ok("supervisor.processes.list")["processes"]
        return a, r, sample(pid)
    a, r, b = call()
    assert [p["strategy_id"] for p in r] == [sid]  # idle has none
    p = r[0]
    assert p["pid"] == pid and p["port"] == got["port"]
    assert p["status"] == "running" and p["restart_count"] == 0
    # each figure lies between what /proc said just before and after
    assert a[1] - 0.02 <= p["uptime_seconds"] <= b[1] + 0.02, (a, p, b)
    assert 1 < p["rss_mb"] < 4096
    assert min(a[2], b[2]) - 1 <= p["rss_mb"] <= max(a[2], b[2]) + 1
    # the first call: the average since the process started
    lo = a[0] / hz / b[1] * 100
    hi = b[0] / hz / a[1] * 100
    assert lo - 0.02 <= p["cpu_percent"] <= hi + 0.02, (lo, p, hi)
    started = datetime.datetime.fromisoformat(
        p["started_at"].replace("Z", "+00:00")).timestamp()
    assert t_req - 1 <= started <= time.time() + 1

    # the next: over the time between the two calls
    time.sleep(1)
    c, r2, d = call()
    cpu = r2[0]["cpu_percent"]
    lo = max(0.0, (c[0] - b[0]) / hz / (d[3] - a[3]) * 100)
    hi = (d[0] - a[0]) / hz / (c[3] - b[3]) * 100
    assert lo * 0.99 - 0.02 <= cpu <= hi * 1.01 + 0.02, (lo, cpu, hi)
    assert r2[0]["uptime_seconds"] >= p["uptime_seconds"] + 0.9
    assert sup.ok("supervisor.processes.list",
                  {"strategy_ids": [idle]})["processes"] == []


# ---- reconcile's clean-up, and delete ----

def test_reconcile_removes_stale_files(sup):
    run = sup.create("keeps-running")["id"]
    idle = sup.create("was-stopped", pairs=["ETH/USDT"])["id"]
    run_pid = start(sup, run)["pid"]
    sup.start_bot(idle)
    sup.ok("supervisor.strategies.stop", {"id": idle})
    sup.wait_status(idle, "stopped")
    cfgdir = os.path.join(sup.data, "freqtrade", "configs")
    logs = os.path.dirname(cmdline(run_pid)[-1])
    assert os.path.exists(os.path.join(cfgdir, f"strategy_{idle}.json"))
    sup.kill9()
    stale = [f"strategy_{idle}.json", f"strategy_{run}.json.tmp.4242",
             "strategy_999999.json", f"strategy_{idle}.json.tmp.77"]
    for name in stale[1:]:
        with open(os.path.join(cfgdir, name), "w") as f:
            f.write("{}")
    with open(os.path.join(cfgdir, "notes.txt"), "w") as f:
        f.write("not the supervisor's")
    sup.start()
    sup.wait_status(run, "running")
    left = sorted(os.listdir(cfgdir))
    assert left == sorted([f"strategy_{run}.json", "notes.txt"]), left
    assert [e["files"] for e in logged(sup, "reconcile.cleaned")] == [4]
    # a stopped strategy's history stays
    assert os.path.exists(os.path.join(logs, f"strategy_{idle}.log"))
    assert ("running", "adopted") in sup.logged_states(run)


def test_delete_keeps_the_signals(sup):
    sid = sup.create("has-history")["id"]
    got = start(sup, sid)
    cfg = json.load(open(os.path.join(sup.data, "freqtrade", "configs",
                                      f"strategy_{sid}.json")))
    db = cfg["db_url"][len("sqlite:///"):]
    log = cmdline(got["pid"])[-1]
    for suffix in ("", "-wal"):  # as FreqTrade leaves them
        open(db + suffix, "w").close()
    sup.db("INSERT INTO signals (strategy_id, dedupe_key, action, pair,"
           " level, raw) VALUES"
           f" ({sid}, 'del-1', 'entry', 'BTC/USDT', 'ignore', '{{}}'),"
           f" ({sid}, 'del-2', 'exit', 'BTC/USDT', 'ignore', '{{}}')")
    before = sup.db(f"SELECT id, dedupe_key FROM signals"
                    f" WHERE strategy_id = {sid} ORDER BY id")
    assert len(before.splitlines()) == 2
    assert os.path.exists(log) and os.path.exists(log[:-4] + ".stderr")

    d = sup.ok("supervisor.strategies.delete", {"id": sid}, timeout=30)
    assert d["status"] == "deleted"
    assert sup.db(f"SELECT id, dedupe_key FROM signals"
                  f" WHERE strategy_id = {sid} ORDER BY id") == before
    assert sup.db(f"SELECT status, deleted_at IS NOT NULL FROM strategies"
                  f" WHERE id = {sid}") == "deleted|t"
    for path in (db, db + "-wal", log, log[:-4] + ".stderr"):
        assert not os.path.exists(path), path
    got = sup.ok("supervisor.strategies.get", {"id": sid})
    assert got["status"] == "deleted"
