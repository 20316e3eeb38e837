"""ft-supervisor's lifecycle with real ftsim bots: a bot that never
becomes ready, a crash and its restart, a crash loop and its alert, the
supervisor's own kill -9 followed by reconcile (no orphan, no duplicate),
and the FreqTrade upgrade with its roll back."""
import os
import signal
import subprocess
import time

from conftest import wait_for
from test_supervisor import FTSIM, ping, sup, sup_factory  # noqa

assert sup and sup_factory  # fixtures, re-exported for pytest


def test_bot_that_never_becomes_ready(sup_factory):
    s = sup_factory(startup_timeout=2)
    s.start()
    sid = s.create("hangs", extra_config={"ftsim": {"hang": True}})["id"]
    t0 = time.monotonic()
    s.ok("supervisor.strategies.start", {"id": sid})
    st = s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                      and d["cause"] == "start_failed", timeout=20)
    assert 1.5 < time.monotonic() - t0 < 10
    assert st["status"] == "failed" and "/api/v1/ping" in st["reason"]
    a = s.wait_event("alert.raised", lambda d: d["strategy_id"] == sid)
    assert a["kind"] == "strategy_start_failed" and a["priority"] == "P1"
    got = s.ok("supervisor.strategies.get", {"id": sid})
    assert got["status"] == "failed" and got["port"] is None
    assert "within 2 s" in got["last_error"]
    wait_for(lambda: not s.pids(), what="the hung bot killed")
    # never routed, never retried on its own
    assert not [e for e in s.events("route.update")
                if e["data"]["strategy_id"] == sid]
    assert s.db(f"SELECT desired_state, port IS NULL FROM strategies"
                f" WHERE id = {sid}") == "stopped|t"
    assert s.ok("supervisor.port_pool.get")["allocated_ports"] == 0
    assert s.counters("starts", "start_failures", "crashes", "restarts") \
        == {"starts": 1, "start_failures": 1, "crashes": 0, "restarts": 0}


def test_crash_is_seen_at_once_and_restarted(sup):
    sid = sup.create("crashy")["id"]
    first = sup.start_bot(sid)
    (pid,) = sup.pids()
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    crash = sup.wait_event("strategy.state", lambda d: d["strategy_id"]
                           == sid and d["cause"] == "crashed")
    assert crash["status"] == "failed" and crash["term_signal"] == 9
    sup.wait_event("route.update", lambda d: d["strategy_id"] == sid
                   and d["op"] == "remove")
    a = sup.wait_event("alert.raised", lambda d: d["strategy_id"] == sid)
    assert a["kind"] == "strategy_crashed"
    again = sup.wait_event("strategy.state", lambda d: d["strategy_id"]
                           == sid and d["cause"] == "ready"
                           and d["restart_count"] == 1)
    took = time.monotonic() - t0
    assert 0.9 < took < 10, took  # at least a second between restarts
    assert again["pid"] != pid
    causes = [c for st, c in sup.states(sid)]
    assert causes[-3:] == ["crashed", "restarting", "ready"]
    got = sup.ok("supervisor.strategies.get", {"id": sid})
    assert got["restart_count"] == 1 and got["status"] == "running"
    assert got["port"] == first["port"]
    assert ping(got["port"])[0] == 200
    assert sup.db(f"SELECT restart_count, recent_restarts FROM strategies"
                  f" WHERE id = {sid}") == "1|1"
    # the first start and the restart; one crash; no loop
    assert sup.counters("starts", "crashes", "restarts", "crash_loops",
                        "start_failures") == {
        "starts": 2, "crashes": 1, "restarts": 1, "crash_loops": 0,
        "start_failures": 0}
    m = sup.metrics()
    assert m['btcw_supervisor_strategies{status="running"}'] == 1
    assert m['btcw_supervisor_strategies{status="failed"}'] == 0


def test_crash_loop_gives_up_with_a_p0_alert(sup_factory):
    s = sup_factory(restarts=2, window=60)
    s.start()
    sid = s.create("loops", extra_config={"ftsim": {
        "crash_after": 0.3, "crash_exit_code": 3}})["id"]
    s.ok("supervisor.strategies.start", {"id": sid})
    st = s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                      and d["cause"] == "crash_loop", timeout=40)
    assert st["status"] == "failed" and st["exit_code"] == 3
    assert "not retrying" in st["reason"]
    a = s.wait_event("alert.raised", lambda d: d["strategy_id"] == sid
                     and d["kind"] == "strategy_crash_loop")
    assert a["priority"] == "P0" and a["severity"] == "critical"
    assert a["dedup_key"] == f"strategy:{sid}:crash_loop"
    assert a["details"]["restarts"] == 2
    causes = [c for _, c in s.states(sid)]
    assert causes.count("restarting") == 2 and causes.count("crashed") == 2
    time.sleep(2.5)  # and nothing more happens
    assert not s.pids()
    assert [c for _, c in s.states(sid)] == causes
    # three runs, each crashed; two restarts, then the loop was called
    assert s.counters("starts", "crashes", "restarts", "crash_loops") == {
        "starts": 3, "crashes": 3, "restarts": 2, "crash_loops": 1}
    m = s.metrics()
    assert m['btcw_supervisor_strategies{status="failed"}'] == 1
    assert m["btcw_supervisor_slots_used"] == 0
    assert m["btcw_supervisor_ports_allocated"] == 0
    assert s.db(f"SELECT status, desired_state FROM strategies"
                f" WHERE id = {sid}") == "failed|stopped"
    # a manual start is allowed again; a fixed bot resolves the alert
    s.ok("supervisor.strategies.update",
         {"id": sid, "extra_config": {"ftsim": {"seed": 2}}})
    s.start_bot(sid)
    r = s.wait_event("alert.resolved", lambda d: d["strategy_id"] == sid)
    assert r["kind"] == "strategy_crash_loop"


def test_silent_bot_is_killed_and_restarted(sup_factory):
    s = sup_factory(health=1)
    s.start()
    sid = s.create("deaf")["id"]
    s.start_bot(sid)
    (pid,) = s.pids()
    os.kill(pid, signal.SIGSTOP)  # alive, but its API never answers
    st = s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                      and d["cause"] == "crashed", timeout=20)
    assert "silent" in st["reason"]
    s.wait_event("strategy.state", lambda d: d["strategy_id"] == sid
                 and d["cause"] == "ready" and d["pid"] != pid)
    assert pid not in s.pids()


def test_supervisor_kill9_then_reconcile(sup):
    a = sup.create("adopt-a")["id"]
    b = sup.create("adopt-b", pairs=["ETH/USDT"])["id"]
    c = sup.create("adopt-c", pairs=["SOL/USDT"])["id"]
    for i in (a, b, c):
        sup.start_bot(i)
    before = sup.pids()
    assert len(before) == 3
    ports = {i: sup.ok("supervisor.strategies.get", {"id": i})["port"]
             for i in (a, b, c)}
    sup.kill9()
    # while it is down: c dies, and someone starts a duplicate of a
    pid_c = next(p for p, cmd in before.items()
                 if f"strategy_{c}.json" in cmd)
    os.kill(pid_c, signal.SIGKILL)
    cmd_a = next(cmd for cmd in before.values()
                 if f"strategy_{a}.json" in cmd).split()
    dup = subprocess.Popen(cmd_a, start_new_session=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    sup.start()
    for i in (a, b, c):
        sup.wait_status(i, "running")
    after = sup.pids()
    assert len(after) == 3, after  # no orphan, no duplicate
    for i in (a, b):
        (pid,) = [p for p, cmd in before.items()
                  if f"strategy_{i}.json" in cmd]
        assert pid in after  # adopted, not restarted
        assert ("running", "adopted") in sup.logged_states(i)
    assert dup.pid not in after
    dup.wait(10)
    routes = sup.ok("supervisor.routes.list")["routes"]
    assert sorted(r["strategy_id"] for r in routes) == [a, b, c]
    for r in routes:
        assert ping(r["port"])[0] == 200
        if r["strategy_id"] != c:
            assert r["port"] == ports[r["strategy_id"]]
    # an adopted bot is watched too (not our child: pidfd)
    (pid_b,) = [p for p, cmd in after.items()
                if f"strategy_{b}.json" in cmd]
    os.kill(pid_b, signal.SIGKILL)
    sup.wait_event("strategy.state", lambda d: d["strategy_id"] == b
                   and d["cause"] == "crashed")
    sup.wait_event("strategy.state", lambda d: d["strategy_id"] == b
                   and d["cause"] == "ready" and d["pid"] != pid_b)
    assert len(sup.pids()) == 3
    # since the restart: a and b adopted, c started, b restarted
    assert sup.counters("adopted", "starts", "crashes", "restarts") == {
        "adopted": 2, "starts": 2, "crashes": 1, "restarts": 1}


def test_upgrade_with_rollback_then_success(sup):
    ids = [sup.create(f"up-{i}")["id"] for i in range(2)]
    for i in ids:
        sup.start_bot(i)
    assert sup.ok("supervisor.upgrade.get")["state"] == "idle"
    old = set(sup.pids())
    st = sup.ok("supervisor.upgrade.start",
                {"target_version": "2099.1", "command": ["/bin/false"]})
    assert st["state"] == "stopping" and st["target_version"] == "2099.1"
    sup.err("supervisor.upgrade.start", {"target_version": "2099.2"},
            "conflict")
    sup.err("supervisor.strategies.start", {"id": ids[0]}, "conflict")
    done = wait_for(lambda: (lambda u: u if u["state"] in (
        "succeeded", "rolled_back", "failed") else None)(
            sup.ok("supervisor.upgrade.get")), 60, "upgrade outcome")
    assert done["state"] == "rolled_back", done
    assert done["current_version"] == done["previous_version"]
    assert sorted(done["failed_strategy_ids"]) == sorted(ids)
    assert sorted(done["strategy_ids"]) == sorted(ids)
    assert "rolled back" in done["message"]
    a = sup.wait_event("alert.raised",
                       lambda d: d["kind"] == "upgrade_failed")
    assert a["priority"] == "P0"
    for i in ids:
        sup.wait_status(i, "running")
    now = sup.pids()
    assert len(now) == 2 and not (set(now) & old)
    assert all(FTSIM in cmd for cmd in now.values())
    assert sup.db("SELECT status, to_version FROM freqtrade_upgrades") == \
        "rolled_back|2099.1"

    st = sup.ok("supervisor.upgrade.start",
                {"target_version": "2025.9", "command": [FTSIM]})
    done = wait_for(lambda: (lambda u: u if u["state"] in (
        "succeeded", "rolled_back", "failed") else None)(
            sup.ok("supervisor.upgrade.get")), 60, "upgrade outcome")
    assert done["state"] == "succeeded", done
    assert done["current_version"] == "2025.9"
    assert done["failed_strategy_ids"] == []
    for i in ids:
        sup.wait_status(i, "running")
    # the version in force survives a restart of the supervisor
    assert sup.stop() == 0
    sup.start()
    assert sup.ok("supervisor.upgrade.get")["current_version"] == "2025.9"
    for i in ids:
        sup.wait_status(i, "running")
