"""The strategy proxy through nginx, against the real stack: routes from
ft-supervisor, real ftsim bots, every method with bodies and query
strings, the errors (404, 502, 504), roles, routes following the bots,
resync after a gateway restart, /api/strategies/status and
/api/gateway/health."""
import base64
import http.client
import json
import subprocess
import time

import pytest

from conftest import call, schema_errors, wait_for
from test_gateway_proxy_support import PROXY_TIMEOUT, front  # noqa: F401
from test_gateway_support import is_error, make_token


@pytest.fixture(scope="module")
def bots(front):  # noqa: F811
    a = front.create_bot("px-a")
    slow = front.create_bot("px-slow", extra={"ftsim": {
        "seed": 3, "slow_ms": (PROXY_TIMEOUT + 2) * 1000,
        "slow_endpoints": ["/profit"], "reload_delay": 4}})
    return a, slow


def direct(front, sid, method, path, body=None):
    """The same request straight to the bot, with its credentials."""
    r = front.bot_route(sid)
    conn = http.client.HTTPConnection(r["host"], r["port"], timeout=10)
    auth = base64.b64encode(f"{r['username']}:{r['password']}"
                            .encode()).decode()
    h = {"Authorization": "Basic " + auth}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read() or b"null")
    conn.close()
    return out


def test_get_with_a_query_string(front, bots):  # noqa: F811
    a, _ = bots
    r = front.api("GET", f"/api/strategy/{a}/show_config", role="viewer")
    assert r.status == 200, r
    assert r.body["dry_run"] is True and r.body["state"] == "running"
    assert r.headers["content-type"].startswith("application/json")
    assert "www-authenticate" not in r.headers
    r = front.api("GET", f"/api/strategy/{a}/trades?limit=1&offset=0",
                  role="viewer")
    assert r.status == 200, r
    assert r.body["offset"] == 0 and len(r.body["trades"]) <= 1
    st, want = direct(front, a, "GET", "/api/v1/whitelist")
    r = front.api("GET", f"/api/strategy/{a}/whitelist", role="viewer")
    assert (r.status, r.body) == (st, want)
    # the seed's path through nginx: /freqtrade/{id}/...
    r = front.api("GET", f"/freqtrade/{a}/whitelist", role="viewer")
    assert (r.status, r.body) == (st, want)


def test_post_put_delete_with_bodies(front, bots):  # noqa: F811
    a, _ = bots
    r = front.api("POST", f"/api/strategy/{a}/blacklist",
                  {"blacklist": ["XRP/USDT", "DOGE/USDT"]}, role="trader")
    assert r.status == 200, r
    assert {"XRP/USDT", "DOGE/USDT"} <= set(r.body["blacklist"])
    r = front.api("DELETE", f"/api/strategy/{a}/blacklist?pairs_to_delete="
                  "XRP/USDT&pairs_to_delete=DOGE/USDT", role="trader")
    assert r.status == 200, r
    assert "XRP/USDT" not in r.body["blacklist"]
    assert direct(front, a, "GET", "/api/v1/blacklist")[1][
        "blacklist"] == r.body["blacklist"]
    # a bot's own refusal passes through unchanged
    r = front.api("POST", f"/api/strategy/{a}/blacklist", {"nope": 1},
                  role="trader")
    assert r.status == 422 and r.body == {
        "detail": "blacklist: Field required"}, r
    r = front.api("PUT", f"/api/strategy/{a}/blacklist", {}, role="trader")
    assert r.status == 405, r
    r = front.api("POST", f"/api/strategy/{a}/pause", role="trader")
    assert r.status == 200 and "paused" in r.body["status"], r
    r = front.api("POST", f"/api/strategy/{a}/start", {}, role="admin")
    assert r.status == 200, r
    assert front.api("GET", f"/api/strategy/{a}/show_config",
                     role="viewer").body["state"] == "running"


def test_viewer_reads_trader_writes(front, bots):  # noqa: F811
    a, _ = bots
    assert front.api("GET", f"/api/strategy/{a}/count",
                     role="viewer").status == 200
    for method in ("POST", "PUT", "DELETE"):
        is_error(front.api(method, f"/api/strategy/{a}/stop",
                           role="viewer"), 403, "forbidden")
    is_error(front.api("GET", f"/api/strategy/{a}/status"), 401,
             "unauthorized")
    forged = make_token({"sub": "1"}, key="wrong-key")
    is_error(front.api("GET", f"/api/strategy/{a}/status", token=forged),
             401, "unauthorized")


def test_unknown_and_not_running_strategies_are_404(front, bots):  # noqa
    a, _ = bots
    is_error(front.api("GET", "/api/strategy/999999/status",
                       role="viewer"), 404, "not_found")
    idle = front.create_bot("px-idle", start=False)
    b = is_error(front.api("GET", f"/api/strategy/{idle}/status",
                           role="viewer"), 404, "not_found")
    assert "not running" in b["detail"]
    for bad in ("..", "%2e%2E", "x/../../ping"):
        r = front.gw_api("GET", f"/api/strategy/{a}/{bad}", role="viewer")
        assert r.status == 404, (bad, r)
    is_error(front.api("GET", "/api/strategy/0/status", role="viewer"),
             422, "invalid")


def test_a_slow_bot_is_504_and_the_loop_stays_free(front, bots):  # noqa
    _, slow = bots
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)
    conn.request("GET", f"/api/strategy/{slow}/profit",
                 headers={"Authorization": "Bearer " +
                          front.tokens["viewer"]})
    # meanwhile the gateway answers everything else at once
    for _ in range(5):
        t1 = time.monotonic()
        assert front.api("GET", f"/api/strategy/{slow}/count",
                         role="viewer").status == 200
        assert time.monotonic() - t1 < 1.0
    resp = conn.getresponse()
    body = json.loads(resp.read())
    took = time.monotonic() - t0
    assert resp.status == 504, body
    assert body["error"] == "upstream_timeout" and body["detail"]
    assert PROXY_TIMEOUT - 0.2 <= took < PROXY_TIMEOUT + 2, took


def test_a_bot_refusing_connections_is_502(front, bots):  # noqa: F811
    _, slow = bots
    r = front.api("POST", f"/api/strategy/{slow}/reload_config",
                  role="trader")
    assert r.status == 200, r
    # the bot closes its port for reload_delay (4 s); its route stays

    def refused():
        r = front.api("GET", f"/api/strategy/{slow}/ping", role="viewer")
        return r if r.status == 502 else None
    r = wait_for(refused, 10, "a 502 while the bot reloads")
    b = is_error(r, 502, "upstream_error")
    assert "does not accept connections" in b["detail"]
    wait_for(lambda: front.routed(slow), 20, "the bot back")


def test_keep_alive_connections_are_reused(front, bots):  # noqa: F811
    a, _ = bots
    port = front.bot_route(a)["port"]
    for _ in range(30):
        assert front.api("GET", f"/api/strategy/{a}/ping",
                         role="viewer").status == 200
    out = subprocess.run(["ss", "-Htn", "state", "established",
                          f"( dport = :{port} )"], capture_output=True,
                         text=True).stdout
    assert 1 <= len(out.splitlines()) <= 2, out


def test_routes_follow_the_bots(front, bots):  # noqa: F811
    a, _ = bots
    sid = front.create_bot("px-cycle")
    gw_rpc = front.confdir.ports["gateway"]["rpc"]
    listed = call(gw_rpc, "gateway.routes.list")
    assert listed["ok"], listed
    assert not schema_errors("methods/gateway.routes.list.result."
                             "schema.json", listed["result"])
    ids = {r["strategy_id"]: r["port"] for r in listed["result"]["routes"]}
    sup = call(front.confdir.ports["ft-supervisor"]["rpc"],
               "supervisor.routes.list")["result"]
    assert ids == {r["strategy_id"]: r["port"] for r in sup["routes"]}
    assert listed["result"]["boot_id"] == sup["boot_id"]
    assert "password" not in json.dumps(listed)

    front.stop_bot(sid)
    is_error(front.api("GET", f"/api/strategy/{sid}/ping", role="viewer"),
             404, "not_found")
    front.start_bot(sid)
    assert front.routed(sid)
    front.stop_bot(sid)
    assert not front.routed(sid)


def test_resync_after_a_gateway_restart_and_on_reload(front, bots):  # noqa
    a, slow = bots
    front.restart_gateway()
    front.tokens["viewer"] = front.token("viewer1", "Passw0rd!x")
    front.tokens["trader"] = front.token("trader1", "Passw0rd!x")
    wait_for(lambda: front.routed(a) and front.routed(slow), 10,
             "routes after the restart")
    r = front.api("POST", "/api/gateway/routes/reload", role="trader")
    assert r.status == 200, r
    assert not schema_errors("methods/gateway.routes.reload.result."
                             "schema.json", r.body)
    assert r.body["added"] == [] and r.body["removed"] == []
    assert r.body["routes_loaded"] >= 2
    is_error(front.api("POST", "/api/gateway/routes/reload",
                       role="viewer"), 403, "forbidden")
    rr = call(front.confdir.ports["gateway"]["rpc"],
              "gateway.routes.reload")
    assert rr["ok"] and rr["result"]["routes_loaded"] == r.body[
        "routes_loaded"], rr


def test_strategies_status_and_gateway_health(front, bots):  # noqa: F811
    a, slow = bots
    t0 = time.monotonic()
    r = front.api("GET", "/api/strategies/status", role="viewer")
    assert r.status == 200, r
    assert time.monotonic() - t0 < PROXY_TIMEOUT + 1
    by_id = {s["strategy_id"]: s for s in r.body["strategies"]}
    assert by_id[a]["state"] == "healthy" and by_id[a]["http_status"] == 200
    assert isinstance(by_id[a]["status"], list)
    assert by_id[a]["open_trades"] == len(by_id[a]["status"])
    assert r.body["total"] == len(r.body["strategies"])
    assert r.body["healthy"] + r.body["error"] + r.body[
        "unreachable"] == r.body["total"]

    h = front.api("GET", "/api/gateway/health", role="viewer")
    assert h.status == 200, h
    assert not schema_errors("methods/gateway.health.get.result."
                             "schema.json", h.body)
    assert h.body["total_strategies"] == h.body["routes_loaded"] >= 2
    assert h.body["status"] == "healthy"
    assert h.body["gateway_port"] == front.gw_port
    rpc = call(front.confdir.ports["gateway"]["rpc"], "gateway.health.get")
    assert rpc["ok"] and not schema_errors(
        "methods/gateway.health.get.result.schema.json", rpc["result"])
    c = front.api("GET", "/api/v1/strategies/gateway/status",
                  role="viewer")
    assert c.status == 200 and c.body["gateway"]["routes_loaded"] >= 2, c
