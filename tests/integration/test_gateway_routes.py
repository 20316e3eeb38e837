"""The gateway's REST API -> bus mapping, route by route: the success path
of every route that goes downstream (with the parameters the service
receives), every role's allowed and forbidden calls, 401 without a token,
unknown routes and methods, body and parameter checks, downstream errors
mapped to statuses, and a service that hangs or stops mid-request.

The services behind the gateway are StandIn objects here (answering with
proto/samples/valid and recording every call), so that each route's
exact downstream parameters and every error mapping can be shown; the
gateway and PostgreSQL are real. The same routes against the real
daemons: test_gateway_real.py.
"""
import json
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary, http_get
from test_gateway_support import (RPC_TIMEOUT_MS, gw, is_error,
                                  sample_result, standins, wait_until)

assert gw and standins  # fixtures, used by name

SUP, ING, MON, NOT, BAK = ("ft-supervisor", "signal-ingest", "monitor",
                           "notifier", "backup")

CREATE = {"name": "btc-trend-1h", "strategy_class": "TrendFollowV2",
          "exchange": "binance", "timeframe": "1h",
          "pair_whitelist": ["BTC/USDT", "ETH/USDT"], "proxy_id": 1,
          "thresholds": {"strong": 0.8, "medium": 0.6, "weak": 0.4},
          "auto_start": True, "version": "v1.2",
          "extra_config": {"stake_currency": "USDT", "stake_amount": 100}}
SIGNALS_Q = ("strategy_id=3&pair=BTC%2FUSDT&action=entry&level=strong"
             "&since=2025-06-01T00:00:00Z&until=2025-06-02T00:00:00.5Z"
             "&before_id=100&order=desc&limit=20&include_raw=false")
SIGNALS_P = {"strategy_id": 3, "pair": "BTC/USDT", "action": "entry",
             "level": "strong", "since": "2025-06-01T00:00:00Z",
             "until": "2025-06-02T00:00:00.5Z", "before_id": 100,
             "order": "desc", "limit": 20, "include_raw": False}
SETTINGS = {"rate_limiting": {"global_max_per_minute": 10}}
BID = "20250601T030000Z"

# (method, pattern, path, body, status, service, bus method, params)
ROUTES = [
    ("GET", "/api/v1/strategies", "/api/v1/strategies?status=running"
     "&include_deleted=true&after_id=2&limit=10", None, 200, SUP,
     "supervisor.strategies.list", {"status": "running",
                                    "include_deleted": True,
                                    "after_id": 2, "limit": 10}),
    ("POST", "/api/v1/strategies", "/api/v1/strategies", CREATE, 201, SUP,
     "supervisor.strategies.create", CREATE),
    ("GET", "/api/v1/strategies/overview", "/api/v1/strategies/overview",
     None, 200, SUP, "supervisor.strategies.list", {}),
    ("GET", "/api/v1/strategies/{id}", "/api/v1/strategies/3", None, 200,
     SUP, "supervisor.strategies.get", {"id": 3}),
    ("PUT", "/api/v1/strategies/{id}", "/api/v1/strategies/3",
     {"version": "v1.3", "thresholds": {"strong": 0.9, "medium": 0.5,
                                         "weak": 0.1}}, 200, SUP,
     "supervisor.strategies.update",
     {"id": 3, "version": "v1.3", "thresholds": {"strong": 0.9,
                                                  "medium": 0.5,
                                                  "weak": 0.1}}),
    ("DELETE", "/api/v1/strategies/{id}", "/api/v1/strategies/3", None,
     200, SUP, "supervisor.strategies.delete", {"id": 3}),
    ("POST", "/api/v1/strategies/{id}/start", "/api/v1/strategies/3/start",
     None, 202, SUP, "supervisor.strategies.start", {"id": 3}),
    ("POST", "/api/v1/strategies/{id}/stop", "/api/v1/strategies/3/stop",
     None, 202, SUP, "supervisor.strategies.stop", {"id": 3}),
    ("POST", "/api/v1/strategies/{id}/commands/{command}",
     "/api/v1/strategies/3/commands/reload_config", None, 200, SUP,
     "supervisor.strategies.command", {"id": 3,
                                       "command": "reload_config"}),
    ("GET", "/api/v1/strategies/{id}/logs",
     "/api/v1/strategies/3/logs?limit=50", None, 200, SUP,
     "supervisor.logs.get", {"strategy_id": 3, "limit": 50}),
    ("GET", "/api/v1/strategies/{id}/status/detailed",
     "/api/v1/strategies/3/status/detailed", None, 200, MON,
     "monitor.strategy_status.get", {"strategy_id": 3}),
    ("GET", "/api/v1/signals", "/api/v1/signals?" + SIGNALS_Q, None, 200,
     ING, "ingest.signals.list", SIGNALS_P),
    ("GET", "/api/v1/signals/stats", "/api/v1/signals/stats?strategy_id=3"
     "&since=2025-06-01T00:00:00Z", None, 200, ING,
     "ingest.signal_stats.get", {"strategy_id": 3,
                                 "since": "2025-06-01T00:00:00Z"}),
    ("GET", "/api/v1/signals/{id}", "/api/v1/signals/4294967296", None,
     200, ING, "ingest.signals.get", {"id": 4294967296}),
    ("GET", "/api/v1/system/capacity", "/api/v1/system/capacity", None,
     200, SUP, "supervisor.capacity.get", {}),
    ("GET", "/api/v1/system/port-pool", "/api/v1/system/port-pool", None,
     200, SUP, "supervisor.port_pool.get", {}),
    ("GET", "/api/v1/system/capacity/detailed",
     "/api/v1/system/capacity/detailed", None, 200, MON,
     "monitor.capacity_report.get", {}),
    ("GET", "/api/v1/system/capacity/utilization-trend",
     "/api/v1/system/capacity/utilization-trend?hours=6", None, 200, MON,
     "monitor.capacity_trend.get", {"hours": 6}),
    ("GET", "/api/v1/system/capacity/alert-threshold",
     "/api/v1/system/capacity/alert-threshold", None, 200, MON,
     "monitor.alert_threshold.get", {}),
    ("POST", "/api/v1/system/capacity/alert-threshold",
     "/api/v1/system/capacity/alert-threshold", {"threshold_percent": 75},
     200, MON, "monitor.alert_threshold.set", {"threshold_percent": 75}),
    ("GET", "/api/v1/system/statistics", "/api/v1/system/statistics", None,
     200, MON, "monitor.statistics.get", {}),
    ("GET", "/api/v1/system/health", "/api/v1/system/health", None, 200,
     MON, "monitor.health.get", {}),
    ("GET", "/api/v1/system/config/{name}",
     "/api/v1/system/config/monitoring", None, 200, MON,
     "monitor.config.show", {}),
    ("POST", "/api/v1/system/config/reload",
     "/api/v1/system/config/reload?name=notifications", None, 200, NOT,
     "notifier.config.reload", {}),
    ("POST", "/api/v1/freqtrade/upgrade", "/api/v1/freqtrade/upgrade",
     {"target_version": "2025.9"}, 202, SUP, "supervisor.upgrade.start",
     {"target_version": "2025.9"}),
    ("GET", "/api/v1/freqtrade/upgrade", "/api/v1/freqtrade/upgrade", None,
     200, SUP, "supervisor.upgrade.get", {}),
    ("GET", "/api/v1/notifications/settings",
     "/api/v1/notifications/settings", None, 200, NOT,
     "notifier.settings.get", {}),
    ("PUT", "/api/v1/notifications/settings",
     "/api/v1/notifications/settings", SETTINGS, 200, NOT,
     "notifier.settings.set", SETTINGS),
    ("GET", "/api/v1/notifications/history",
     "/api/v1/notifications/history?channel=email&priority=P1&limit=5",
     None, 200, NOT, "notifier.history.list",
     {"channel": "email", "priority": "P1", "limit": 5}),
    ("POST", "/api/v1/notifications/test", "/api/v1/notifications/test",
     {"channel": "email", "message": "hello"}, 200, NOT,
     "notifier.test.send", {"channel": "email", "message": "hello"}),
    ("GET", "/api/v1/notifications/channels",
     "/api/v1/notifications/channels", None, 200, NOT,
     "notifier.channels.list", {}),
    ("GET", "/api/v1/backups", "/api/v1/backups?status=ok&limit=5", None,
     200, BAK, "backup.backups.list", {"status": "ok", "limit": 5}),
    ("POST", "/api/v1/backups", "/api/v1/backups",
     {"components": ["postgres"], "note": "before change"}, 202, BAK,
     "backup.backups.run", {"components": ["postgres"],
                            "note": "before change"}),
    ("GET", "/api/v1/backups/status", "/api/v1/backups/status", None, 200,
     BAK, "backup.status.get", {}),
    ("GET", "/api/v1/backups/{id}", f"/api/v1/backups/{BID}", None, 200,
     BAK, "backup.backups.get", {"id": BID}),
    ("POST", "/api/v1/backups/{id}/restore",
     f"/api/v1/backups/{BID}/restore", {"confirm": True}, 202, BAK,
     "backup.backups.restore", {"id": BID, "confirm": True}),
]
# Combined answers, not one service's result passed through.
COMBINED = {"/api/v1/strategies/overview",
            "/api/v1/strategies/{id}/status/detailed"}


def served():
    out = subprocess.run([binary("gateway"), "--print-routes"],
                         capture_output=True, text=True, check=True)
    return {(m, p): roles for m, p, roles in
            (line.split(" ") for line in out.stdout.splitlines())}


def test_every_downstream_route_is_in_this_table():
    """Every route is tested here, or is an account / health route
    (test_gateway_auth.py, test_gateway_users.py, test_gateway_health.py)
    or a proxy / FreqUI / live-push route (test_gateway_proxy*.py,
    test_gateway_ws.py)."""
    table = {(r[0], r[1]) for r in ROUTES}
    others = {k for k in served()
              if k[1].startswith(("/api/v1/auth/", "/api/v1/users",
                                  "/api/strategy/", "/api/gateway/",
                                  "/bots/"))
              or k[1] in ("/api/v1/health", "/ws", "/api/strategies/status",
                          "/api/v1/strategies/gateway/status")}
    assert table | others == set(served())


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0]} {r[2]}"
                                                for r in ROUTES])
def test_success_path(gw, route):
    method, pattern, path, body, status, svc, bus, params = route
    r = gw.api(method, path, body, role="admin")
    assert r.status == status, r
    assert r.headers["content-type"].startswith("application/json")
    got = gw.standins[svc].calls_of(bus)
    assert got and got[-1] == params, (bus, got)
    if pattern not in COMBINED:
        assert r.body == sample_result(bus)


def test_roles(gw):
    """Each role gets the route's answer where allowed, 403 (and no call
    downstream) where not; nobody without a token."""
    roles = served()
    for method, pattern, path, body, status, svc, bus, _ in ROUTES:
        allowed = roles[(method, pattern)].split(",")
        for role in ("viewer", "trader", "admin"):
            before = len(gw.standins[svc].calls_of(bus))
            r = gw.api(method, path, body, role=role)
            after = len(gw.standins[svc].calls_of(bus))
            if role in allowed:
                assert r.status == status, (role, method, path, r)
                assert after == before + 1
            else:
                b = is_error(r, 403, "forbidden")
                assert role in b["detail"], b
                assert after == before, (role, method, path)
        r = gw.api(method, path, body)
        is_error(r, 401, "unauthorized")
    # the matrix in words: viewers read, traders also act on strategies
    # and notifications, only admins touch system settings and backups
    assert roles[("GET", "/api/v1/signals")] == "admin,trader,viewer"
    assert roles[("POST", "/api/v1/strategies/{id}/start")] == \
        "admin,trader"
    assert roles[("POST", "/api/v1/system/config/reload")] == "admin"
    assert roles[("GET", "/api/v1/backups")] == "admin"


def test_overview_and_detailed(gw):
    r = gw.api("GET", "/api/v1/strategies/overview", role="viewer")
    assert r.status == 200
    listed = sample_result("supervisor.strategies.list")["strategies"]
    assert r.body["total"] == len(listed)
    assert r.body["strategies"] == listed
    assert sum(r.body["by_status"].values()) == len(listed)
    assert r.body["health"] == sample_result("monitor.strategy_status.list")
    assert r.body["health_error"] is None
    r = gw.api("GET", "/api/v1/strategies/3/status/detailed", role="viewer")
    assert r.body["strategy"] == sample_result("supervisor.strategies.get")
    assert r.body["health"] == sample_result("monitor.strategy_status.get")
    # the monitor down: the registry still answers, health says why not
    gw.standins[MON].stop()
    r = gw.api("GET", "/api/v1/strategies/overview", role="viewer")
    assert r.status == 200 and r.body["health"] is None
    # unavailable, also if a call went out as the connection died
    assert r.body["health_error"].startswith("monitor: unavailable"), r
    # the supervisor's answer decides the status
    gw.sup().handlers["supervisor.strategies.get"] = lambda p: (
        "error", "not_found", f"no strategy {p['id']}")
    r = gw.api("GET", "/api/v1/strategies/9/status/detailed", role="viewer")
    is_error(r, 404, "not_found")


def test_config_of_the_gateway_itself_and_reload_all(gw):
    r = gw.api("GET", "/api/v1/system/config/gateway", role="admin")
    assert r.status == 200, r
    assert r.body["service"] == "gateway"  # proto's config.show result
    cfg = r.body["config"]
    assert "system" in cfg and "services" in cfg
    assert gw.confdir.ports["gateway"]["http"] == \
        cfg["services"]["gateway"]["http_port"]
    assert "gw-test-secret" not in r.text  # the key is masked
    for name, svc in (("ft-supervisor", SUP), ("signal-ingest", ING),
                      ("proxy", MON), ("backup", BAK)):
        assert gw.api("GET", f"/api/v1/system/config/{name}",
                      role="admin").status == 200
    b = is_error(gw.api("GET", "/api/v1/system/config/nope", role="admin"),
                 404, "not_found")
    assert "monitoring" in b["detail"]
    r = gw.api("POST", "/api/v1/system/config/reload", role="admin")
    assert r.status == 200, r
    assert [x["service"] for x in r.body["results"]] == [
        "supervisor", "gateway", "ingest", "monitor", "notifier", "backup"]
    assert all(x["ok"] for x in r.body["results"])
    gw.standins[BAK].stop()
    r = gw.api("POST", "/api/v1/system/config/reload", role="admin")
    b = is_error(r, 502, "upstream_error")
    assert "backup (unavailable)" in b["detail"]
    assert r.body["failed"] == 1


# ---- errors ----

def test_unknown_routes_and_methods(gw):
    for path in ("/api/v1/nope", "/api/v2/strategies", "/", "/api/v1/",
                 "/api/v1/strategies/", "/api/v1//strategies"):
        b = is_error(gw.api("GET", path, role="admin"), 404, "not_found")
        assert "no route" in b["detail"]
    r = gw.api("DELETE", "/api/v1/strategies", role="admin")
    is_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    for method in ("PATCH", "TRACE", "OPTIONS"):
        r = gw.api(method, "/api/v1/signals", role="admin")
        is_error(r, 405, "method_not_allowed")
    is_error(gw.api("GET", "/nowhere"), 404)  # no token needed for a 404


def test_bodies(gw):
    path = "/api/v1/strategies"
    before = len(gw.sup().calls)
    big = dict(CREATE, extra_config={"x": "a" * 70000})
    b = is_error(gw.api("POST", path, big, role="trader"), 413, "too_large")
    assert "65536" in b["detail"]
    is_error(gw.api("POST", path, raw=b"{\"name\": ", role="trader"), 400,
             "bad_request")
    is_error(gw.api("POST", path, raw=b"[1, 2]", role="trader"), 400,
             "bad_request")
    is_error(gw.api("POST", path, role="trader"), 400, "bad_request")
    is_error(gw.api("POST", path, CREATE, role="trader", ctype="text/plain"),
             415, "unsupported_media_type")
    cases = [
        (dict(CREATE, timeframe="7x"), "timeframe: must look like"),
        (dict(CREATE, pair_whitelist=["BTC/USDT", "BTCUSDT"]),
         "pair_whitelist[1]: must look like"),
        (dict(CREATE, pair_whitelist=[]), "pair_whitelist: must have 1 to"),
        (dict(CREATE, thresholds={"strong": 2, "medium": 0.5, "weak": 0.1}),
         "thresholds.strong: must be between 0 and 1"),
        (dict(CREATE, auto_start="yes"), "auto_start: must be true or "
                                         "false"),
        (dict(CREATE, status="running"), "status: is not a known field"),
        ({k: v for k, v in CREATE.items() if k != "name"},
         "name: is required"),
        (dict(CREATE, proxy_id=0), "proxy_id: must be between 1"),
    ]
    for body, words in cases:
        b = is_error(gw.api("POST", path, body, role="trader"), 422,
                     "invalid")
        assert b["detail"].startswith(words), (body, b)
    is_error(gw.api("PUT", "/api/v1/strategies/3", {}, role="trader"), 422)
    b = is_error(gw.api("GET", "/api/v1/strategies/abc", role="trader"), 422)
    assert b["detail"].startswith("id:")
    is_error(gw.api("GET", "/api/v1/strategies/0", role="trader"), 422)
    b = is_error(gw.api("POST", "/api/v1/strategies/3/commands/reboot",
                        role="trader"), 404)
    assert "reload_config" in b["detail"]
    for q, words in (("limit=0", "limit: must be between 1 and 1000"),
                     ("level=loud", "level: must be one of"),
                     ("since=yesterday", "since: must look like"),
                     ("strategy_id=x", "strategy_id: must be an integer"),
                     ("colour=red", "colour: is not a known parameter"),
                     ("limit=1&limit=2", "limit: is given more than once")):
        b = is_error(gw.api("GET", f"/api/v1/signals?{q}", role="viewer"),
                     422, "invalid")
        assert b["detail"].startswith(words), (q, b)
    is_error(gw.api("GET", "/api/v1/backups/yesterday", role="admin"), 422)
    b = is_error(gw.api("POST", f"/api/v1/backups/{BID}/restore",
                        {"confirm": False}, role="admin"), 422)
    assert b["detail"].startswith("confirm:")
    assert len(gw.sup().calls) == before  # nothing went downstream


def test_body_past_the_transport_limit(gw):
    """Past 1 MiB libevent answers 413 itself, before reading the body."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(b"POST /api/v1/strategies HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: 50000000\r\n\r\n{")
    head = s.recv(4096).decode(errors="replace")
    s.close()
    assert head.startswith("HTTP/1.1 413"), head


def test_downstream_errors_are_mapped(gw):
    sup = gw.sup()
    cases = [
        (("error", "not_found", "no strategy 42", {"id": 42}), 404,
         "not_found", "no strategy 42"),
        (("error", "conflict", "strategy 42 is already running"), 409,
         "conflict", "already running"),
        (("error", "limit_reached", "max_strategies (999) reached"), 409,
         "limit_reached", "max_strategies"),
        (("error", "invalid", "must hold strong >= medium >= weak",
          {"field": "thresholds"}), 422, "invalid",
         "must hold strong >= medium >= weak (field: thresholds)"),
        (("error", "invalid", "thresholds: must hold strong >= medium",
          {"field": "thresholds"}), 422, "invalid",
         "thresholds: must hold strong >= medium"),
        (("error", "forbidden", "extra_config may not set exchange"), 403,
         "forbidden", "extra_config"),
        (("error", "upstream_error", "the bot answered 500"), 502,
         "upstream_error", "bot answered"),
        (("error", "upstream_timeout", "the bot did not answer"), 504,
         "upstream_timeout", "bot did not"),
        (("error", "unavailable", "database down"), 503, "unavailable",
         "supervisor is unavailable"),
        (("error", "internal", "bug"), 500, "internal", "bug"),
        (("error", "something_new", "?"), 502, "upstream_error", "?"),
    ]
    for reply, status, code, words in cases:
        sup.handlers["supervisor.strategies.start"] = lambda p, r=reply: r
        b = is_error(gw.api("POST", "/api/v1/strategies/42/start",
                            role="trader"), status, code)
        assert words in b["detail"], (reply, b)


def test_a_silent_service_is_a_504_not_a_hang(gw):
    gw.sup().handlers["supervisor.capacity.get"] = lambda p: "hang"
    t = time.monotonic()
    b = is_error(gw.api("GET", "/api/v1/system/capacity", role="viewer"),
                 504, "timeout")
    took = time.monotonic() - t
    assert RPC_TIMEOUT_MS / 1000 - 0.2 < took < RPC_TIMEOUT_MS / 1000 + 2
    assert "supervisor did not answer in time" in b["detail"]
    # slow methods (a bot behind them) wait longer than the bus default
    gw.sup().handlers["supervisor.logs.get"] = lambda p: (time.sleep(3),
                                                          {"x": 1})[1]
    r = gw.api("GET", "/api/v1/strategies/3/logs", role="viewer")
    assert r.status == 200 and r.body == {"x": 1}


def test_a_service_stopped_mid_request(gw):
    sup = gw.sup()
    sup.handlers["supervisor.strategies.get"] = lambda p: "hang"
    out = {}

    def call():
        t = time.monotonic()
        out["r"] = gw.api("GET", "/api/v1/strategies/3", role="viewer")
        out["took"] = time.monotonic() - t

    th = threading.Thread(target=call)
    th.start()
    assert wait_until(lambda: sup.calls_of("supervisor.strategies.get"))
    sup.stop()  # the supervisor dies holding the request
    th.join(RPC_TIMEOUT_MS / 1000 + 5)
    assert not th.is_alive()
    # the lost connection ends the call at once, not at the deadline
    b = is_error(out["r"], 503, "unavailable")
    assert "lost" in b["detail"], b
    assert out["took"] < RPC_TIMEOUT_MS / 1000 - 0.5, out["took"]
    # now nobody listens: unavailable, still within the deadline
    t = time.monotonic()
    b = is_error(gw.api("GET", "/api/v1/system/port-pool", role="viewer"),
                 503, "unavailable")
    assert time.monotonic() - t < RPC_TIMEOUT_MS / 1000 + 2
    assert "supervisor is unavailable" in b["detail"]
    # readiness follows
    assert wait_until(lambda: http_get(
        f"http://127.0.0.1:{gw.admin_port}/readyz")[0] == 503, 15)
    st, body = http_get(f"http://127.0.0.1:{gw.admin_port}/readyz")
    assert json.loads(body)["failed"] == ["supervisor"]
