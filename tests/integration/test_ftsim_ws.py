"""ftsim's message websocket (/api/v1/message/ws) with a small client
written on the socket module (handshake, masked frames), and CORS as
Starlette's CORSMiddleware answers FreqUI (exact origins, credentials,
preflight)."""
import base64
import calendar
import hashlib
import json
import os
import socket
import struct
import time

from conftest import wait_for
from test_ftsim import ORIGIN, Bot, api, basic, request

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS:
    def __init__(self, port, token, origin=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Origin: {origin}\r\n" if origin else ""
        self.s.sendall((
            f"GET /api/v1/message/ws?token={token} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                break
            head += chunk
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1]
                        .strip() for ln in lines[1:] if ":" in ln}
        want = base64.b64encode(hashlib.sha1((key + GUID).encode())
                                .digest()).decode()
        self.accepted = (self.status == 101 and
                         self.headers.get("sec-websocket-accept") == want)

    def send(self, obj, opcode=1):
        data = json.dumps(obj).encode() if opcode == 1 else obj
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.s.sendall(hdr + mask + masked)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv_frame(self, timeout=10):
        self.s.settimeout(timeout)
        b0, b1 = self._read(2)
        assert not b1 & 0x80, "server frames are not masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def recv(self, timeout=10):
        """The next text message as JSON (pings skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.recv_frame(max(0.1, deadline - time.monotonic()))
            if op == 1:
                return json.loads(data)
            if op == 8:
                raise ConnectionError(f"closed {data[:2].hex()}")

    def recv_type(self, typ, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if m.get("type") == typ:
                return m
        raise AssertionError(f"no {typ} message")

    def close(self):
        try:
            self.send(struct.pack("!H", 1000), opcode=8)
            op = None
            while op != 8:  # messages already on their way come first
                op, data = self.recv_frame(5)
            assert struct.unpack("!H", data[:2])[0] == 1000
        finally:
            self.s.close()


def access_token(bot):
    return bot.ok("POST", "/token/login")["access_token"]


def test_ws_subscribe_and_receive(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"initial_state": "stopped"})
    ws = WS(bot.port, access_token(bot))
    assert ws.accepted, (ws.status, ws.headers)
    # FreqUI's first messages
    ws.send({"type": "subscribe", "data": ["whitelist", "entry_fill",
                                           "exit_fill", "entry_cancel",
                                           "exit_cancel", "status"]})
    ws.send({"type": "whitelist", "data": ""})
    wl = ws.recv_type("whitelist")
    assert wl == {"type": "whitelist",
                  "data": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]}
    bot.ok("POST", "/start")
    st = ws.recv_type("status")
    assert st == {"type": "status", "status": "running"}
    fill = ws.recv_type("entry_fill")
    assert isinstance(fill["trade_id"], int)
    assert isinstance(fill["open_rate"], float)
    assert fill["pair"] in wl["data"]
    assert fill["open_date"].endswith("+00:00") and "T" in fill["open_date"]
    ex = ws.recv_type("exit_fill")
    assert isinstance(ex["profit_amount"], float) and ex["is_final_exit"]
    ws.close()


def test_ws_only_subscribed_types(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    ws = WS(bot.port, access_token(bot))
    ws.send({"type": "subscribe", "data": ["exit_fill"]})
    # an unknown type in the list: the whole request is ignored
    ws.send({"type": "subscribe", "data": ["exit_fill", "nonsense"]})
    for _ in range(3):
        assert ws.recv(20)["type"] == "exit_fill"
    ws.close()


def test_ws_analyzed_df(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    ws = WS(bot.port, access_token(bot))
    ws.send({"type": "analyzed_df", "data": {"limit": 5,
                                             "pair": "ETH/USDT"}})
    m = ws.recv_type("analyzed_df")
    assert m["data"]["key"][:2] == ["ETH/USDT", "5m"]
    df = json.loads(m["data"]["df"]["__value__"])
    assert len(df["data"]) == 5 and "close" in df["columns"]
    ws.close()


def test_ws_token_from_config(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"api_server": {"ws_token": ["abc", "def"]}})
    ws = WS(bot.port, "def")
    assert ws.accepted
    ws.close()


def test_ws_bad_token_is_refused(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"api_server": {"ws_token": "abc"}})
    refresh = bot.ok("POST", "/token/login")["refresh_token"]
    for token in ("wrong", refresh, ""):
        ws = WS(bot.port, token)
        if ws.status == 101:  # accepted, then closed with 1008
            op, data = ws.recv_frame()
            assert op == 8 and struct.unpack("!H", data[:2])[0] == 1008
        else:  # uvicorn: a close before accept answers 403
            assert ws.status == 403
        ws.s.close()
    assert bot.proc.alive()


def test_ws_closed_on_shutdown(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    ws = WS(bot.port, access_token(bot))
    assert ws.accepted
    bot.proc.signal(15)
    assert bot.proc.p.wait(15) == 0
    try:
        while True:
            op, _ = ws.recv_frame(5)
            if op == 8:
                break
    except (ConnectionError, OSError):
        pass
    ws.s.close()


def test_cors_preflight_and_simple_requests(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    pre = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization,content-type"}
    st, h, body = api(bot.port, "OPTIONS", "/status", headers=pre,
                      auth=False)
    assert st == 200 and body == "OK"
    assert h["access-control-allow-origin"] == ORIGIN
    assert h["access-control-allow-credentials"] == "true"
    assert "GET" in h["access-control-allow-methods"]
    assert h["access-control-allow-headers"] == "authorization,content-type"
    assert "access-control-max-age" in h

    bad = dict(pre, Origin="http://evil.example")
    st, h, body = api(bot.port, "OPTIONS", "/status", headers=bad,
                      auth=False)
    assert st == 400 and body == "Disallowed CORS origin"
    assert "access-control-allow-origin" not in h

    st, h, _ = api(bot.port, "GET", "/ping", headers={"Origin": ORIGIN},
                   auth=False)
    assert st == 200 and h["access-control-allow-origin"] == ORIGIN
    assert h["access-control-allow-credentials"] == "true"
    st, h, _ = api(bot.port, "GET", "/status", headers={"Origin": ORIGIN},
                   auth=False)
    assert st == 401 and h["access-control-allow-origin"] == ORIGIN
    st, h, _ = api(bot.port, "GET", "/ping",
                   headers={"Origin": "http://evil.example"}, auth=False)
    assert st == 200 and "access-control-allow-origin" not in h


def test_frequi_login_flow(spawn, tmp_path):
    """What FreqUI does after adding a bot (FREQTRADE.md §8)."""
    bot = Bot(spawn, tmp_path)
    h = {"Origin": ORIGIN}
    st, _, toks = request(bot.port, "POST", "/api/v1/token/login", body={},
                          headers=h, auth=basic())
    assert st == 200
    tok = toks["access_token"]
    for path in ("/ping", "/show_config", "/status", "/locks", "/profit_all",
                 "/trades?limit=500&offset=0", "/balance",
                 "/historic_balance", "/whitelist", "/blacklist",
                 "/strategy/SampleStrategy", "/plot_config",
                 "/pair_candles?pair=BTC/USDT&timeframe=5m&limit=50"):
        st, hdrs, body = request(bot.port, "GET", "/api/v1" + path,
                                 headers=h, token=tok)
        assert st == 200, (path, body)
        assert hdrs["access-control-allow-origin"] == ORIGIN
    cfg = request(bot.port, "GET", "/api/v1/show_config", token=tok)[2]
    assert cfg["api_version"] >= 2.2  # FreqUI then opens the websocket
    ws = WS(bot.port, tok)
    assert ws.accepted
    ws.close()
    wait_for(lambda: bot.proc.alive(), what="alive")


def collect(ws, seconds):
    """Every message that arrives within seconds."""
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.append(ws.recv(max(0.1, deadline - time.monotonic())))
        except (TimeoutError, socket.timeout):
            break
    return out


def test_ws_whitelist_pushed_when_it_changes(spawn, tmp_path):
    """_refresh_active_whitelist: the blacklist takes a pair out at the
    next iteration, and a changed whitelist is pushed (FreqUI's
    subscription)."""
    bot = Bot(spawn, tmp_path, {"ftsim": {"entries_per_minute": 0}})
    ws = WS(bot.port, access_token(bot))
    ws.send({"type": "subscribe", "data": ["whitelist"]})
    time.sleep(1.5)  # an unchanged whitelist is not pushed
    assert collect(ws, 1) == []
    bot.ok("POST", "/blacklist", body={"blacklist": ["ETH/USDT"]})
    m = ws.recv_type("whitelist")
    assert m == {"type": "whitelist", "data": ["BTC/USDT", "SOL/USDT"]}
    assert bot.ok("GET", "/whitelist") == {
        "whitelist": ["BTC/USDT", "SOL/USDT"], "length": 2,
        "method": ["StaticPairList"]}
    ws.send({"type": "whitelist", "data": ""})
    assert ws.recv_type("whitelist")["data"] == ["BTC/USDT", "SOL/USDT"]
    assert "Pair ETH/USDT in your blacklist. Removing it from " \
           "whitelist..." in bot.log()
    bot.ok("DELETE", "/blacklist?pairs_to_delete=ETH/USDT")
    m = ws.recv_type("whitelist")
    assert m["data"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    ws.close()


def candle_bot(spawn, tmp_path, timeframe, name="ftsim"):
    return Bot(spawn, tmp_path, {"timeframe": timeframe,
                                 "ftsim": {"entries_per_minute": 0}},
               name=name)


def test_ws_new_candle_and_analyzed_df(spawn, tmp_path):
    """DataProvider._emit_df for every pair of the whitelist at each new
    candle: analyzed_df with the closed candle (dataframe.tail(1)), then
    new_candle with the pair's key."""
    bot = candle_bot(spawn, tmp_path, "1s")
    ws = WS(bot.port, access_token(bot))
    ws.send({"type": "subscribe", "data": ["new_candle", "analyzed_df"]})
    msgs = collect(ws, 4.5)
    ws.close()
    pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    seen = {p: [] for p in pairs}
    for i, m in enumerate(msgs):
        assert m["type"] in ("new_candle", "analyzed_df"), m
        if m["type"] != "new_candle":
            continue
        assert set(m) == {"type", "data"}
        pair, tf, kind = m["data"]
        assert (tf, kind) == ("1s", "spot") and pair in pairs
        # the candle's dataframe comes just before its new_candle
        df_msg = msgs[i - 1]
        assert i > 0 and df_msg["type"] == "analyzed_df"
        data = df_msg["data"]
        assert set(data) == {"key", "df", "la"}
        assert data["key"] == m["data"]
        assert data["df"]["__type__"] == "dataframe"
        frame = json.loads(data["df"]["__value__"])
        assert frame["columns"] == ["date", "open", "high", "low", "close",
                                    "volume"]
        assert len(frame["data"]) == 1  # tail(1)
        row = dict(zip(frame["columns"], frame["data"][0]))
        assert row["date"] % 1000 == 0  # epoch ms of a 1 s candle
        assert row["low"] <= min(row["open"], row["close"])
        assert row["high"] >= max(row["open"], row["close"])
        assert data["la"].endswith("+00:00") and data["la"][10] == "T"
        # the closed candle: it ended before the message was made
        la = calendar.timegm(time.strptime(data["la"][:19],
                                           "%Y-%m-%dT%H:%M:%S"))
        assert row["date"] / 1000 + 1 <= la
        seen[pair].append(row)
    for pair, rows in seen.items():
        # one per candle: 4.5 s of 1 s candles, none twice (a slow
        # iteration skips to the latest closed candle)
        assert 2 <= len(rows) <= 6, (pair, len(rows))
        dates = [r["date"] for r in rows]
        assert dates == sorted(set(dates))
    # the pushed candles are /pair_candles' candles
    c = bot.ok("GET", "/pair_candles?pair=BTC/USDT&timeframe=1s&limit=30")
    by_date = {r["__date_ts"]: r for r in
               (dict(zip(c["columns"], row)) for row in c["data"])}
    for row in seen["BTC/USDT"]:
        hist = by_date.get(row["date"])
        if hist:  # older than 30 s cannot be: the test took 5 s
            assert hist["close"] == row["close"]
            assert hist["open"] == row["open"]
    assert any(r["date"] in by_date for r in seen["BTC/USDT"])


def test_ws_no_new_candle_between_candles(spawn, tmp_path):
    """With 5m candles, iterations every second push a pair's candle once,
    not at every iteration."""
    bot = candle_bot(spawn, tmp_path, "5m")
    ws = WS(bot.port, access_token(bot))
    ws.send({"type": "subscribe", "data": ["new_candle"]})
    msgs = collect(ws, 3.5)
    ws.close()
    per_pair = {}
    for m in msgs:
        per_pair[m["data"][0]] = per_pair.get(m["data"][0], 0) + 1
    assert all(n <= 1 for n in per_pair.values()), per_pair
