"""FreqUI through one origin: /bots/{id}/api/v1/... answers as a FreqTrade
bot would, through nginx, against real ftsim bots started by the
supervisor — login with the BTC Watcher account (HTTP Basic, body {}),
bot-scoped tokens, refresh, FreqUI's calls, viewer vs trader, and the
message WebSocket relayed to the bot, which ends with its login."""
import base64
import json
import time

import pytest

from test_gateway_proxy_support import WS, WS_CHECK_S, front  # noqa: F401
from test_gateway_support import (PASSWORD, claims_of, is_error,
                                  make_token)

# What FreqUI calls after a login (FREQTRADE.md section 8).
FREQUI_CALLS = ("ping", "show_config", "status", "locks", "profit_all",
                "profit", "trades?limit=500&offset=0", "balance",
                "historic_balance", "whitelist", "blacklist", "version",
                "count", "performance", "daily", "plot_config",
                "strategy/SimStrategy")


@pytest.fixture(scope="module")
def bots(front):  # noqa: F811
    a = front.create_bot("ui-a", extra={"ftsim": {
        "seed": 11, "entries_per_minute": 40, "min_trade_seconds": 2,
        "max_trade_seconds": 4}})
    b = front.create_bot("ui-b")
    return a, b


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        f"{user}:{password}".encode()).decode()}


def login(front, sid, user="viewer1", password=PASSWORD):
    return front.api("POST", f"/bots/{sid}/api/v1/token/login", {},
                     headers=basic(user, password))


def tokens(front, sid, user="viewer1", password=PASSWORD):
    r = login(front, sid, user, password)
    assert r.status == 200, r
    return r.body["access_token"], r.body["refresh_token"]


def test_login_gives_bot_scoped_tokens(front, bots):  # noqa: F811
    a, b = bots
    r = login(front, a)
    assert r.status == 200, r
    assert set(r.body) >= {"access_token", "refresh_token"}
    acc, ref = claims_of(r.body["access_token"]), claims_of(
        r.body["refresh_token"])
    assert acc["bot"] == a and acc["typ"] == "bot_access"
    assert ref["bot"] == a and ref["typ"] == "bot_refresh"
    assert acc["name"] == "viewer1" and acc["exp"] - acc["iat"] == 900
    assert ref["exp"] > acc["exp"]
    # wrong password, no Basic, an unknown bot
    is_error(login(front, a, password="wrong-Passw0rd!"), 401,
             "invalid_credentials")
    is_error(front.api("POST", f"/bots/{a}/api/v1/token/login", {}), 401)
    is_error(login(front, 999999), 404, "not_found")
    # the bot's own credentials are not an account here
    route = front.bot_route(a)
    is_error(login(front, a, route["username"], route["password"]), 401)


def test_freqtrade_calls_with_the_access_token(front, bots):  # noqa: F811
    a, _ = bots
    access, _ = tokens(front, a)
    for path in FREQUI_CALLS:
        r = front.api("GET", f"/bots/{a}/api/v1/{path}", token=access)
        assert r.status == 200, (path, r)
    assert front.api("GET", f"/bots/{a}/api/v1/ping").body == {
        "status": "pong"}
    is_error(front.api("GET", f"/bots/{a}/api/v1/status"), 401)
    r = front.api("GET", f"/bots/{a}/api/v1/show_config", token=access)
    assert r.body["dry_run"] is True and "api_version" in r.body


def test_refresh(front, bots):  # noqa: F811
    a, _ = bots
    access, refresh = tokens(front, a)
    r = front.api("POST", f"/bots/{a}/api/v1/token/refresh", {},
                  token=refresh)
    assert r.status == 200 and set(r.body) == {"access_token"}, r
    fresh = r.body["access_token"]
    assert fresh != access and claims_of(fresh)["typ"] == "bot_access"
    assert front.api("GET", f"/bots/{a}/api/v1/count",
                     token=fresh).status == 200
    # an access token does not refresh, a refresh token does not call
    is_error(front.api("POST", f"/bots/{a}/api/v1/token/refresh", {},
                       token=access), 401)
    is_error(front.api("GET", f"/bots/{a}/api/v1/count", token=refresh),
             401)


def test_tokens_stay_in_their_scope(front, bots):  # noqa: F811
    a, b = bots
    access, _ = tokens(front, a)
    is_error(front.api("GET", f"/bots/{b}/api/v1/count", token=access),
             401)
    is_error(front.api("GET", "/api/v1/strategies", token=access), 401)
    is_error(front.api("GET", f"/api/strategy/{a}/count", token=access),
             401)
    is_error(front.api("GET", f"/bots/{a}/api/v1/count",
                       role="viewer"), 401)  # an API token


def test_viewer_reads_trader_writes(front, bots):  # noqa: F811
    a, _ = bots
    viewer, _ = tokens(front, a)
    trader, _ = tokens(front, a, "trader1")
    is_error(front.api("POST", f"/bots/{a}/api/v1/pause", {},
                       token=viewer), 403, "forbidden")
    r = front.api("POST", f"/bots/{a}/api/v1/blacklist",
                  {"blacklist": ["ADA/USDT"]}, token=trader)
    assert r.status == 200 and "ADA/USDT" in r.body["blacklist"], r
    r = front.api("DELETE", f"/bots/{a}/api/v1/blacklist?pairs_to_delete="
                  "ADA/USDT", token=trader)
    assert r.status == 200 and "ADA/USDT" not in r.body["blacklist"], r


def test_logout_everywhere_ends_bot_tokens(front, bots):  # noqa: F811
    a, _ = bots
    front.make_user("ui-user", "viewer")
    access, refresh = tokens(front, a, "ui-user")
    api_token = front.token("ui-user", PASSWORD)
    assert front.api("GET", f"/bots/{a}/api/v1/count",
                     token=access).status == 200
    r = front.api("POST", "/api/v1/auth/logout?all=true", token=api_token)
    assert r.status == 204, r
    is_error(front.api("GET", f"/bots/{a}/api/v1/count", token=access), 401)
    is_error(front.api("POST", f"/bots/{a}/api/v1/token/refresh", {},
                       token=refresh), 401)


def test_message_websocket(front, bots):  # noqa: F811
    a, _ = bots
    access, _ = tokens(front, a)
    ws = WS(front.port, f"/bots/{a}/api/v1/message/ws?token={access}")
    assert ws.accepted, (ws.status, ws.body)
    # FreqUI's first messages
    ws.send({"type": "subscribe", "data": ["whitelist", "entry_fill",
                                           "exit_fill", "entry_cancel",
                                           "exit_cancel", "status"]})
    ws.send({"type": "whitelist", "data": ""})
    wl = ws.recv_until(lambda m: m.get("type") == "whitelist")
    assert wl["data"] == ["BTC/USDT", "ETH/USDT"]
    fill = ws.recv_until(lambda m: m.get("type") in ("entry_fill",
                                                     "exit_fill"), 40)
    assert isinstance(fill["trade_id"], int)
    ws.close()


def test_message_websocket_refusals(front, bots):  # noqa: F811
    a, b = bots
    access, refresh = tokens(front, a)
    for path in (f"/bots/{a}/api/v1/message/ws",
                 f"/bots/{a}/api/v1/message/ws?token=nope",
                 f"/bots/{a}/api/v1/message/ws?token={refresh}",
                 f"/bots/{b}/api/v1/message/ws?token={access}"):
        ws = WS(front.port, path)
        assert not ws.accepted and ws.status == 401, (path, ws.status)
        assert json.loads(ws.body)["error"] == "unauthorized"
        ws.s.close()
    # not an upgrade
    is_error(front.api("GET", f"/bots/{a}/api/v1/message/ws?token={access}"),
             400, "bad_request")


def whitelist_answers(ws):
    ws.send({"type": "whitelist", "data": ""})
    wl = ws.recv_until(lambda m: m.get("type") == "whitelist")
    assert wl["data"] == ["BTC/USDT", "ETH/USDT"]


def test_message_websocket_ends_with_its_login(front, bots):  # noqa: F811
    """Logout everywhere ends the relayed session within the check
    interval; the access token's own expiry does not (FreqUI reconnects
    with the same token, so ending there would end its stream)."""
    a, _ = bots
    front.make_user("ui-ws", "viewer")
    access, _ = tokens(front, a, "ui-ws")
    ws = WS(front.port, f"/bots/{a}/api/v1/message/ws?token={access}")
    assert ws.accepted, (ws.status, ws.body)
    whitelist_answers(ws)
    claims = claims_of(tokens(front, a)[0])  # viewer1's
    claims["exp"] = int(time.time()) + 2
    soon = make_token(claims)  # signed with the gateway's key
    kept = WS(front.port, f"/bots/{a}/api/v1/message/ws?token={soon}")
    assert kept.accepted, (kept.status, kept.body)

    r = front.api("POST", "/api/v1/auth/logout?all=true",
                  token=front.token("ui-ws", PASSWORD))
    assert r.status == 204, r
    t0 = time.monotonic()
    code, reason = ws.close_frame(WS_CHECK_S + 10)
    assert (code, reason) == (1008, "the token has been revoked; log in "
                              "again")
    assert time.monotonic() - t0 < WS_CHECK_S + 4
    ws.s.close()
    # past its expiry and a few checks, the other one still relays
    while time.time() < claims["exp"] + 3 * WS_CHECK_S:
        time.sleep(0.2)
    whitelist_answers(kept)
    kept.close()
