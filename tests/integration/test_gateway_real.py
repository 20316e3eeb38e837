"""Every public route that ft-supervisor, signal-ingest, the notifier and
backup answer, against those real daemons (real ftsim bots, PostgreSQL,
Redis): each route's success path with the answer checked against the
method's result schema in proto/, every role's allowed and forbidden
calls (a forbidden call changes nothing), and a supervisor that hangs or
dies with a request in hand. (test_gateway_routes.py shows, with
stand-ins, the exact parameters each route sends downstream.)
"""
import itertools
import os
import signal
import threading
import time

from conftest import binary, schema_errors, wait_for
from test_gateway_routes import ING, ROUTES, SUP, served
from test_gateway_support import is_error, real, status_of

assert real  # a fixture, used by name

RPC_S = 5.0  # the real fixture's services.bus.rpc_timeout_ms
NAMES = itertools.count(1)
# the schema each route's answer must conform to (the service's result,
# passed through); None for the gateway's own combined answers
COMBINED = {("GET", "/api/v1/strategies/overview")}
CONFIG_SERVED = {  # /system/config/{name} -> the service answering
    "ft-supervisor": "supervisor", "signal-ingest": "ingest",
    "notifications": "notifier", "backup": "backup"}


def strategy_body(**extra):
    body = {"name": f"real-{os.getpid()}-{next(NAMES)}",
            "strategy_class": "SimStrategy", "exchange": "binance",
            "timeframe": "5m", "pair_whitelist": ["BTC/USDT", "ETH/USDT"],
            # many entries a minute: signals arrive within seconds
            "extra_config": {"ftsim": {"seed": 7, "entries_per_minute": 30}}}
    body.update(extra)
    return body


def new_strategy(st):
    r = st.api("POST", "/api/v1/strategies", strategy_body(), role="trader")
    assert r.status == 201, r
    return r.body["id"]


def running_strategy(st):
    sid = new_strategy(st)
    assert st.api("POST", f"/api/v1/strategies/{sid}/start",
                  role="trader").status == 202
    wait_for(lambda: status_of(st, sid) == "running", 40, "running")
    return sid


class Targets:
    """What each route acts on: a running strategy with signals, and a
    fresh strategy (started if the route needs one) for every call that
    changes state, so that any role's call can succeed."""

    def __init__(self, st):
        self.st = st
        self.pending = {}  # (method, pattern) -> a call not made yet
        self.sid = running_strategy(st)
        sig = wait_for(lambda: st.api(
            "GET", f"/api/v1/signals?strategy_id={self.sid}&limit=1",
            role="viewer").body["signals"], 40, "a signal from the bot")
        self.signal_id = sig[0]["id"]

    def request(self, method, pattern):
        """(path, body, expected status) of one call of the route: the
        same until done() says it was made (a refused call leaves its
        target as it was, for the next role)."""
        key = (method, pattern)
        if key not in self.pending:
            self.pending[key] = self.build(method, pattern)
        return self.pending[key]

    def done(self, method, pattern):
        self.pending.pop((method, pattern), None)

    def build(self, method, pattern):
        return CALLS[(method, pattern)](self)


S = "/api/v1/strategies"
# (method, pattern) -> f(targets) -> (path, body, expected status); made
# on demand, since some create (and start) a strategy
CALLS = {
    ("GET", S): lambda t: (f"{S}?limit=50", None, 200),
    ("POST", S): lambda t: (S, strategy_body(timeframe="1h"), 201),
    ("GET", S + "/overview"): lambda t: (S + "/overview", None, 200),
    ("GET", S + "/{id}"): lambda t: (f"{S}/{t.sid}", None, 200),
    ("PUT", S + "/{id}"): lambda t: (
        f"{S}/{t.sid}", {"version": f"v1.{next(NAMES)}"}, 200),
    ("DELETE", S + "/{id}"): lambda t: (
        f"{S}/{new_strategy(t.st)}", None, 200),
    ("POST", S + "/{id}/start"): lambda t: (
        f"{S}/{new_strategy(t.st)}/start", None, 202),
    ("POST", S + "/{id}/stop"): lambda t: (
        f"{S}/{running_strategy(t.st)}/stop", None, 202),
    # FreqTrade answers "already running": harmless to repeat
    ("POST", S + "/{id}/commands/{command}"): lambda t: (
        f"{S}/{t.sid}/commands/start", None, 200),
    ("GET", S + "/{id}/logs"): lambda t: (
        f"{S}/{t.sid}/logs?limit=20", None, 200),
    ("GET", "/api/v1/signals"): lambda t: (
        f"/api/v1/signals?strategy_id={t.sid}&limit=5", None, 200),
    ("GET", "/api/v1/signals/stats"): lambda t: (
        f"/api/v1/signals/stats?strategy_id={t.sid}", None, 200),
    ("GET", "/api/v1/signals/{id}"): lambda t: (
        f"/api/v1/signals/{t.signal_id}", None, 200),
    ("GET", "/api/v1/system/capacity"): lambda t: (
        "/api/v1/system/capacity", None, 200),
    ("GET", "/api/v1/system/port-pool"): lambda t: (
        "/api/v1/system/port-pool", None, 200),
    ("GET", "/api/v1/freqtrade/upgrade"): lambda t: (
        "/api/v1/freqtrade/upgrade", None, 200),
}


def real_routes():
    """(method, pattern, bus method) of every route the real supervisor
    or ingester answers, from test_gateway_routes.ROUTES. The upgrade
    (it restarts every bot) has a test of its own."""
    return [(r[0], r[1], r[6]) for r in ROUTES
            if r[5] in (SUP, ING) and r[6] != "supervisor.upgrade.start"]


def conforms(bus, body):
    rel = f"methods/{bus}.result.schema.json"
    assert schema_errors(rel, body) == [], (bus, body)


def test_every_route_s_success_path(real):
    st = real
    t = Targets(st)
    for method, pattern, bus in real_routes():
        path, body, status = t.request(method, pattern)
        r = st.api(method, path, body, role="admin")
        assert r.status == status, (method, path, r)
        t.done(method, pattern)
        if (method, pattern) not in COMBINED:
            conforms(bus, r.body)
    # what the answers say about the world
    one = st.api("GET", f"/api/v1/strategies/{t.sid}", role="viewer").body
    assert one["status"] == "running" and one["port"]
    sig = st.api("GET", f"/api/v1/signals/{t.signal_id}", role="viewer")
    assert sig.body["strategy_id"] == t.sid
    cap = st.api("GET", "/api/v1/system/capacity", role="viewer").body
    assert cap["running_strategies"] >= 2  # t.sid and the one started
    logs = st.api("GET", f"/api/v1/strategies/{t.sid}/logs?limit=20",
                  role="viewer").body
    assert logs["log_count"] == len(logs["logs"]) > 0


def test_config_of_every_real_service_and_reload_all(real):
    st = real
    for name, prefix in CONFIG_SERVED.items():
        r = st.api("GET", f"/api/v1/system/config/{name}", role="admin")
        assert r.status == 200, (name, r)
        conforms(f"{prefix}.config.show", r.body)
        assert r.body["service"] == prefix
    r = st.api("POST", "/api/v1/system/config/reload", role="admin")
    assert r.status == 200, r
    assert [x["service"] for x in r.body["results"]] == [
        "supervisor", "gateway", "ingest", "monitor", "notifier", "backup"]
    assert all(x["ok"] for x in r.body["results"]), r.body
    # a reload reaches the real daemons: each logs that it reloaded
    for name in ("ft-supervisor", "signal-ingest", "notifier", "backup"):
        events = [e.get("event") for e in st.procs[name].log_events()]
        assert "config.reloaded" in events, (name, events[-10:])


def world(st):
    """What a call changes at once (a bot's status follows later, as the
    bots that allowed calls started come up)."""
    return (st.sql("SELECT id, name, desired_state, version,"
                   " deleted_at IS NULL FROM strategies ORDER BY id"),
            st.sql("SELECT count(*) FROM freqtrade_upgrades"))


def test_roles(real):
    """Allowed roles get the route's answer; the others get 403 and the
    world does not change; nobody gets in without a token."""
    st = real
    t = Targets(st)
    roles = served()
    for method, pattern, bus in real_routes():
        allowed = roles[(method, pattern)].split(",")
        for role in ("viewer", "trader", "admin"):
            path, body, status = t.request(method, pattern)
            before = world(st)
            r = st.api(method, path, body, role=role)
            if role in allowed:
                assert r.status == status, (role, method, path, r)
                t.done(method, pattern)
            else:
                b = is_error(r, 403, "forbidden")
                assert role in b["detail"], b
                assert world(st) == before, (role, method, path)
        path, body, _ = t.request(method, pattern)
        before = world(st)
        is_error(st.api(method, path, body), 401, "unauthorized")
        assert world(st) == before, (method, path)


def test_upgrade_through_the_gateway(real):
    """The FreqTrade upgrade (admin only) restarts the running bots under
    the new version label; the gateway reports its progress."""
    st = real
    sid = running_strategy(st)
    for role in ("viewer", "trader"):
        is_error(st.api("POST", "/api/v1/freqtrade/upgrade",
                        {"target_version": "2025.10"}, role=role), 403)
    r = st.api("POST", "/api/v1/freqtrade/upgrade",
               {"target_version": "2025.10"}, role="admin")
    assert r.status == 202, r
    conforms("supervisor.upgrade.start", r.body)

    def done():
        b = st.api("GET", "/api/v1/freqtrade/upgrade", role="viewer").body
        return b if b["state"] in ("succeeded", "rolled_back",
                                   "failed") else None
    b = wait_for(done, 90, "the upgrade to end")
    conforms("supervisor.upgrade.get", b)
    assert b["state"] == "succeeded", b
    assert b["current_version"] == "2025.10" and sid in b["strategy_ids"]
    assert st.sql("SELECT to_version, status FROM freqtrade_upgrades") == \
        "2025.10|succeeded"
    wait_for(lambda: status_of(st, sid) == "running", 40, "running again")


def hold(st, path):
    """Start a GET in a thread; returns (thread, out)."""
    out = {}

    def call():
        t0 = time.monotonic()
        out["r"] = st.api("GET", path, role="viewer")
        out["took"] = time.monotonic() - t0
    th = threading.Thread(target=call)
    th.start()
    return th, out


def test_a_supervisor_that_hangs_or_dies_mid_request(real):
    st = real
    sid = new_strategy(st)
    sup = st.procs["ft-supervisor"]
    # hung (SIGSTOP): the gateway answers 504 at its deadline
    sup.signal(signal.SIGSTOP)
    try:
        th, out = hold(st, f"/api/v1/strategies/{sid}")
        th.join(RPC_S + 5)
        assert not th.is_alive()
        b = is_error(out["r"], 504, "timeout")
        assert "supervisor did not answer in time" in b["detail"]
        assert RPC_S - 0.5 < out["took"] < RPC_S + 3
        # dies holding a request: 503 at once, not at the deadline
        th, out = hold(st, f"/api/v1/strategies/{sid}")
        time.sleep(0.5)  # the request is on its way to the stopped daemon
        sup.signal(signal.SIGKILL)
    finally:
        sup.signal(signal.SIGCONT)
    th.join(RPC_S + 5)
    assert not th.is_alive()
    b = is_error(out["r"], 503, "unavailable")
    assert "supervisor is unavailable" in b["detail"], b
    assert out["took"] < RPC_S - 1, out["took"]
    # nobody listens now: 503 as well
    is_error(st.api("GET", "/api/v1/system/capacity", role="viewer"), 503,
             "unavailable")
    # its successor takes over the same registry; the gateway redials
    proc = st.spawn([binary("ft-supervisor"), "--config", str(st.confdir)],
                    "ft-supervisor-2", env=st.env)
    st.procs["ft-supervisor"] = proc
    wait_for(lambda: st.api("GET", f"/api/v1/strategies/{sid}",
                            role="viewer").status == 200, 30,
             "the gateway to reach the new supervisor")
    assert status_of(st, sid) == "created"
