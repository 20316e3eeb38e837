"""Live push at /ws through nginx: token auth, the welcome / ping /
subscribe messages, a signal a real bot's webhook produced (supervisor ->
ftsim -> signal-ingest -> signal.new -> gateway -> /ws), strategy.state,
a client that does not read being dropped while others carry on, and a
session ending with its login (logout, account disabled, role changed,
token expired) within system.gateway.ws_auth_check_interval.

Events the stack has no daemon for yet (system.status comes from the
monitor) are published by a small pub0 server written against nng's TCP
wire protocol, listening on the monitor's events address."""
import datetime
import json
import socket
import struct
import threading
import time

import pytest

from conftest import http_get, psql, wait_for
from test_gateway_proxy_support import WS, WS_CHECK_S, front  # noqa: F401
from test_gateway_support import PASSWORD, claims_of, make_token

# How long after the change a session may take to end: the interval,
# the one-second sweep that starts the checks, the query and nginx, with
# room for a loaded machine. Far below "never".
ENDS_WITHIN = WS_CHECK_S + 4


class Pub:
    """A pub0 socket on 127.0.0.1:port (SP over TCP: an 8-byte greeting,
    then 64-bit length-prefixed messages) sending to every subscriber."""

    def __init__(self, port):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(8)
        self.subs, self.lock, self.seq = [], threading.Lock(), 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            c.sendall(b"\x00SP\x00" + struct.pack(">HH", 0x20, 0))
            greet = b""
            while len(greet) < 8:
                greet += c.recv(8 - len(greet))
            with self.lock:
                self.subs.append(c)

    def publish(self, topic, data):
        self.seq += 1
        ts = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        env = {"v": 1, "id": f"test-pub-{self.seq}", "topic": topic,
               "ts": ts, "data": data}
        msg = (topic + " " + json.dumps(env)).encode()
        with self.lock:
            for c in self.subs:
                c.sendall(struct.pack(">Q", len(msg)) + msg)

    def close(self):
        self.srv.close()
        with self.lock:
            for c in self.subs:
                c.close()


@pytest.fixture(scope="module")
def monitor_pub(front):  # noqa: F811
    p = Pub(front.confdir.ports["monitor"]["events"])
    wait_for(lambda: p.subs, 10, "the gateway subscribed")
    yield p
    p.close()


def ws(front, token=None, **kw):  # noqa: F811
    t = token or front.tokens["viewer"]
    c = WS(front.port, f"/ws?token={t}", **kw)
    assert c.accepted, (c.status, c.body)
    return c


def test_token_auth(front):  # noqa: F811
    for path, headers in (("/ws", None), ("/ws?token=nope", None),
                          ("/ws?token=" + make_token({"sub": "1"},
                                                     key="k" * 40), None)):
        c = WS(front.port, path, headers)
        assert not c.accepted and c.status == 401, (path, c.status)
        assert json.loads(c.body)["error"] == "unauthorized"
        c.s.close()
    c = WS(front.port, "/ws", {"Authorization": "Bearer " +
                               front.tokens["viewer"]})
    assert c.accepted
    hello = c.recv()
    assert hello["type"] == "welcome" and hello["user"] == "viewer1"
    assert hello["role"] == "viewer" and "signal.new" in hello["topics"]
    c.close()
    r = front.api("GET", "/ws", role="viewer")  # not an upgrade
    assert r.status == 400, r


def test_ping_and_subscribe(front):  # noqa: F811
    c = ws(front)
    assert c.recv()["type"] == "welcome"
    c.send({"type": "ping"})
    assert c.recv() == {"type": "pong"}
    c.send({"type": "subscribe", "topics": ["signal.new", "alert.raised"]})
    assert c.recv() == {"type": "subscribed",
                        "topics": ["signal.new", "alert.raised"]}
    c.send({"type": "subscribe", "topics": ["nope"]})
    assert c.recv()["type"] == "error"
    c.send({"type": "hello"})
    assert c.recv()["type"] == "error"
    c.close()


def test_a_bot_signal_and_its_state_reach_ws(front):  # noqa: F811
    c = ws(front)
    assert c.recv()["type"] == "welcome"
    sid = front.create_bot("ws-signals", extra={"ftsim": {
        "seed": 5, "entries_per_minute": 60}})
    # The bot may send its first entries before the supervisor has seen
    # it answer /ping: the two kinds of event come in either order.
    got = {}

    def both(m):
        d = m["data"]
        if m["type"] == "strategy.state" and d["strategy_id"] == sid \
                and d["status"] == "running":
            got["state"] = m
        if m["type"] == "signal.new" and d["strategy_id"] == sid \
                and d.get("pair") and "signal" not in got:
            got["signal"] = m  # an entry or exit
        return len(got) == 2
    c.recv_until(both, 60)
    st, sig = got["state"], got["signal"]
    assert st["id"] and st["ts"].endswith("Z")
    assert sig["data"]["pair"] in ("BTC/USDT", "ETH/USDT")
    stored = front.api("GET", f"/api/v1/signals/{sig['data']['id']}",
                       role="viewer")
    assert stored.status == 200 and stored.body["strategy_id"] == sid
    c.close()
    front.stop_bot(sid)


def test_monitor_events_and_a_slow_client(front, monitor_pub):  # noqa
    fast = ws(front)
    assert fast.recv()["type"] == "welcome"
    # a client that never reads, with a small receive buffer
    slow = WS(front.port, f"/ws?token={front.tokens['viewer']}",
              rcvbuf=4096)
    assert slow.accepted
    monitor_pub.publish("system.status", {"cpu_percent": 12.5})
    m = fast.recv_until(lambda m: m["type"] == "system.status", 10)
    assert m["data"] == {"cpu_percent": 12.5}
    blob = "x" * 300_000
    n = 40
    got = []

    def reader():
        while len(got) < n:
            m = fast.recv(30)
            if m["type"] == "system.status" and "blob" in m["data"]:
                got.append(m["data"]["seq"])
    t = threading.Thread(target=reader)
    t.start()
    # 6 MB/s: a reader that reads keeps up with room to spare (each
    # blob is a sixth of the 1 MiB a client may have queued, so a pause
    # of ~150 ms of this Python reader is not taken for slowness), while
    # the 12 MB in all are far more than the slow client's queue and
    # kernel buffers hold.
    for i in range(n):
        monitor_pub.publish("system.status", {"seq": i, "blob": blob})
        time.sleep(0.05)
    t.join(60)
    assert got == list(range(n))  # the reading client got every one

    def dropped():
        st, text = http_get(
            f"http://127.0.0.1:{front.admin_port}/metrics")
        for line in text.splitlines():
            if line.startswith("btcw_gateway_ws_messages_total{result="
                               "\"dropped_slow\"}"):
                return float(line.split()[-1]) >= 1
        return False
    wait_for(dropped, 10, "the slow client dropped")
    # the slow client finds a 1008 close after what was queued, or a reset
    slow.s.settimeout(10)
    try:
        code = slow.close_code(20)
        assert code == 1008
    except (ConnectionError, OSError):
        pass
    slow.s.close()
    fast.close()


def test_shutdown_with_sessions_and_requests_in_flight(front):  # noqa
    """SIGTERM with a /ws client, a FreqUI message websocket and a
    proxied request to a slow bot open: the request still gets its
    answer, the websockets a 1001 close, the gateway exits 0 with no
    sanitizer report (checked at the module's end)."""
    import base64
    import http.client
    sid = front.create_bot("ws-shutdown", extra={"ftsim": {
        "seed": 9, "slow_ms": 1500, "slow_endpoints": ["/profit"]}})
    push = ws(front)
    assert push.recv()["type"] == "welcome"
    auth = base64.b64encode(b"viewer1:Passw0rd!x").decode()
    r = front.api("POST", f"/bots/{sid}/api/v1/token/login", {},
                  headers={"Authorization": "Basic " + auth})
    relay = WS(front.port, f"/bots/{sid}/api/v1/message/ws?token="
               f"{r.body['access_token']}")
    assert relay.accepted
    conn = http.client.HTTPConnection("127.0.0.1", front.gw_port,
                                      timeout=20)
    conn.request("GET", f"/api/strategy/{sid}/profit", headers={
        "Authorization": "Bearer " + front.tokens["viewer"]})
    time.sleep(0.3)
    front.restart_gateway()
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert push.close_code(10) == 1001
    try:
        assert relay.close_code(10) in (1001, 1011)
    except (ConnectionError, OSError):
        pass  # nginx may end the tunnel without a frame
    front.tokens["viewer"] = front.token("viewer1", "Passw0rd!x")
    front.tokens["trader"] = front.token("trader1", "Passw0rd!x")
    front.stop_bot(sid)


# ---- a session lasts as long as its login ----

def user_session(front, name, role="viewer"):  # noqa: F811
    """A new account, its token and an open /ws session on it."""
    u = front.make_user(name, role)
    token = front.token(name, PASSWORD)
    c = ws(front, token)
    assert c.recv()["type"] == "welcome"
    return u, token, c


def ends(c, want_reason):
    """c gets a 1008 close naming want_reason within ENDS_WITHIN s."""
    t0 = time.monotonic()
    code, reason = c.close_frame(ENDS_WITHIN + 5)
    took = time.monotonic() - t0
    assert (code, reason) == (1008, want_reason), (code, reason)
    assert took < ENDS_WITHIN, took
    c.s.close()


def still_open(c):
    """c answers after a few more check intervals."""
    time.sleep(3 * WS_CHECK_S)  # checks run meanwhile; none may end it
    c.send({"type": "ping"})
    assert c.recv() == {"type": "pong"}


def test_logout_ends_that_session_only(front):  # noqa: F811
    _, token, c = user_session(front, "ws-logout")
    # the same account logged in twice: the other login stays
    other = ws(front, front.token("ws-logout", PASSWORD))
    assert other.recv()["type"] == "welcome"
    r = front.api("POST", "/api/v1/auth/logout", token=token)
    assert r.status == 204, r
    ends(c, "the token has been revoked; log in again")
    still_open(other)
    r = front.api("POST", "/api/v1/auth/logout?all=true",
                  token=front.token("ws-logout", PASSWORD))
    assert r.status == 204, r
    ends(other, "the token has been revoked; log in again")


def test_disabling_the_account_ends_its_sessions(front):  # noqa: F811
    u, _, c = user_session(front, "ws-disabled")
    _, _, bystander = user_session(front, "ws-bystander")
    r = front.api("POST", f"/api/v1/users/{u['id']}/disable",
                  role="admin")
    assert r.status == 200, r
    ends(c, "the account is disabled")
    still_open(bystander)
    bystander.close()


def test_a_role_change_ends_the_session(front):  # noqa: F811
    u, _, c = user_session(front, "ws-role")
    r = front.api("PUT", f"/api/v1/users/{u['id']}/role",
                  {"role": "trader"}, role="admin")
    assert r.status == 200, r
    ends(c, "the token has been revoked; log in again")
    # a role changed in SQL, without the API (token_version unchanged)
    u, _, c = user_session(front, "ws-role-sql")
    psql(front.pg_dsn, "UPDATE users SET role = 'trader' "
         f"WHERE id = {u['id']}")
    ends(c, "the account's role changed")


def test_the_token_expiring_ends_the_session(front):  # noqa: F811
    front.make_user("ws-expiry", "viewer")
    claims = claims_of(front.token("ws-expiry", PASSWORD))
    claims["exp"] = int(time.time()) + 3
    token = make_token(claims)  # signed with the gateway's key
    c = ws(front, token)
    assert c.recv()["type"] == "welcome"
    code, reason = c.close_frame(3 + ENDS_WITHIN)
    assert (code, reason) == (1008, "token expired")
    assert time.time() >= claims["exp"]
    c.s.close()
