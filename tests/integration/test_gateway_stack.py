"""The gateway in front of the real stack: ft-supervisor starting real
ftsim bots, signal-ingest storing their webhooks, PostgreSQL. A trader
drives a strategy's whole life through the public API; the real
services' errors come back with the right statuses. (The `real` fixture
is in test_gateway_support.py; route by route, test_gateway_real.py.)
"""
from conftest import wait_for
from test_gateway_support import is_error, real, status_of

assert real  # a fixture, used by name

def test_a_strategy_s_life_through_the_gateway(real):
    st = real
    body = {"name": "gw-life", "strategy_class": "SimStrategy",
            "exchange": "binance", "timeframe": "5m",
            "pair_whitelist": ["BTC/USDT"],
            "extra_config": {"ftsim": {"seed": 1}}}
    r = st.api("POST", "/api/v1/strategies", body, role="trader")
    assert r.status == 201, r
    sid = r.body["id"]
    assert r.body["status"] == "created" and r.body["version"] == "v1.0"
    r = st.api("PUT", f"/api/v1/strategies/{sid}", {"version": "v1.1"},
               role="trader")
    assert r.status == 200 and r.body["version"] == "v1.1"
    listed = st.api("GET", "/api/v1/strategies", role="viewer").body
    assert sid in [s["id"] for s in listed["strategies"]]

    r = st.api("POST", f"/api/v1/strategies/{sid}/start", role="trader")
    assert r.status == 202 and r.body["status"] in ("starting", "running")
    wait_for(lambda: status_of(st, sid) == "running", 40, "running")
    cap = st.api("GET", "/api/v1/system/capacity", role="viewer").body
    assert cap["running_strategies"] == 1
    pool = st.api("GET", "/api/v1/system/port-pool", role="viewer").body
    assert pool["allocated_ports"] == 1

    r = st.api("POST", f"/api/v1/strategies/{sid}/commands/reload_config",
               role="trader")
    assert r.status == 200, r
    assert r.body["id"] == sid and r.body["command"] == "reload_config"
    r = st.api("GET", f"/api/v1/strategies/{sid}/logs?limit=20",
               role="viewer")
    assert r.status == 200 and r.body["strategy_id"] == sid, r
    assert r.body["log_count"] == len(r.body["logs"])

    # the bot's webhooks, stored by signal-ingest, read through the gateway
    def signals():
        return st.api("GET", f"/api/v1/signals?strategy_id={sid}",
                      role="viewer").body["signals"]
    got = wait_for(signals, 30, "a signal from the bot")
    one = st.api("GET", f"/api/v1/signals/{got[0]['id']}", role="viewer")
    assert one.status == 200 and one.body["strategy_id"] == sid
    stats = st.api("GET", f"/api/v1/signals/stats?strategy_id={sid}",
                   role="viewer").body
    assert stats["total"] >= 1

    r = st.api("GET", f"/api/v1/strategies/{sid}/status/detailed",
               role="viewer")
    assert r.status == 200 and r.body["strategy"]["id"] == sid

    r = st.api("POST", f"/api/v1/strategies/{sid}/stop", role="trader")
    assert r.status == 202, r
    wait_for(lambda: status_of(st, sid) == "stopped", 40, "stopped")
    r = st.api("DELETE", f"/api/v1/strategies/{sid}", role="trader")
    assert r.status == 200 and r.body["status"] == "deleted"
    # the signals stay
    assert signals()


def test_the_real_services_errors(real):
    st = real
    base = {"name": "gw-errors", "strategy_class": "SimStrategy",
            "exchange": "binance", "timeframe": "5m",
            "pair_whitelist": ["BTC/USDT"]}
    sid = st.api("POST", "/api/v1/strategies", base, role="trader").body[
        "id"]
    is_error(st.api("POST", "/api/v1/strategies", dict(base, name="GW-Errors"),
                    role="trader"), 409, "conflict")
    b = is_error(st.api("POST", "/api/v1/strategies",
                        dict(base, name="gw-bad",
                             thresholds={"strong": 0.2, "medium": 0.5,
                                         "weak": 0.1}), role="trader"),
                 422, "invalid")
    assert "thresholds" in b["detail"]
    is_error(st.api("POST", "/api/v1/strategies",
                    dict(base, name="gw-managed",
                         extra_config={"dry_run": False}), role="trader"),
             403, "forbidden")
    is_error(st.api("GET", "/api/v1/strategies/999999", role="viewer"), 404,
             "not_found")
    is_error(st.api("POST", f"/api/v1/strategies/{sid}/commands/pause",
                    role="trader"), 409, "conflict")  # not running
    is_error(st.api("POST", f"/api/v1/strategies/{sid}/start",
                    role="viewer"), 403, "forbidden")
    is_error(st.api("GET", "/api/v1/signals/999999999", role="viewer"), 404,
             "not_found")
    assert status_of(st, sid) == "created"
