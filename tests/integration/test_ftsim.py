"""ftsim, the FreqTrade simulator, against the contract in FREQTRADE.md:
command line and exit codes, the REST API's fields, types and status codes,
every auth rule, the state machine, reload_config, the SIGTERM sequence,
logs and the fault modes. Webhooks: test_ftsim_webhook.py; the message
websocket and CORS: test_ftsim_ws.py (both use the helpers below).

Written against FreqTrade's behaviour, not ftsim's internals, so that the
same tests hold for a real `freqtrade trade` where it makes sense."""
import base64
import copy
import http.client
import http.server
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary, free_port, wait_for

USER, PASSWORD, SECRET = "ft", "pw-1", "test-secret-0123456789"
ORIGIN = "http://ui.example:3000"


def deep_update(d, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            deep_update(d[k], v)
        else:
            d[k] = v
    return d


def ft_config(port, over=None):
    cfg = {
        "max_open_trades": 3,
        "stake_currency": "USDT",
        "stake_amount": 100,
        "tradable_balance_ratio": 0.99,
        "dry_run": True,
        "dry_run_wallet": 1000,
        "timeframe": "5m",
        "strategy": "SampleStrategy",
        "initial_state": "running",
        "exchange": {"name": "binance", "key": "", "secret": "",
                     "pair_whitelist": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                     "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same"},
        "exit_pricing": {"price_side": "same"},
        "internals": {"process_throttle_secs": 1},
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": port, "verbosity": "error",
                       "jwt_secret_key": SECRET, "CORS_origins": [ORIGIN],
                       "username": USER, "password": PASSWORD},
        "ftsim": {"seed": 7, "entries_per_minute": 120,
                  "min_trade_seconds": 2, "max_trade_seconds": 4,
                  "volatility": 0.02},
    }
    return deep_update(cfg, copy.deepcopy(over or {}))


def basic(user=USER, password=PASSWORD):
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def request(port, method, path, body=None, headers=None, auth=True,
            token=None, timeout=10):
    """(status, lowercase headers, parsed JSON or text)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    elif auth is True:
        h["Authorization"] = basic()
    elif auth:
        h["Authorization"] = auth
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()
    try:
        return r.status, hdrs, json.loads(data)
    except ValueError:
        return r.status, hdrs, data.decode(errors="replace")


def api(port, method, path, **kw):
    return request(port, method, "/api/v1" + path, **kw)


def ping_ok(port, timeout=1):
    try:
        st, _, body = api(port, "GET", "/ping", auth=False, timeout=timeout)
        return st == 200 and body == {"status": "pong"}
    except OSError:
        return False


class Bot:
    """One ftsim process and its config file."""

    def __init__(self, spawn, tmp_path, over=None, name="ftsim",
                 wait=True, env=None, drop=()):
        self.port = free_port()
        self.cfg = ft_config(self.port, over)
        for key in drop:  # keys the config must not have at all
            self.cfg.pop(key)
        self.path = tmp_path / f"{name}.json"
        self.logfile = tmp_path / f"{name}-freqtrade.log"
        self.write()
        self.proc = spawn([binary("ftsim"), "trade", "--config",
                           str(self.path), "--logfile", str(self.logfile)],
                          name, env=env)
        if wait:
            wait_for(lambda: ping_ok(self.port) or not self.proc.alive(),
                     what="ftsim /ping")
            assert self.proc.alive(), self.proc.output()

    def write(self):
        self.path.write_text(json.dumps(self.cfg, indent=1))

    def get(self, path, **kw):
        return api(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return api(self.port, "POST", path, body=body, **kw)

    def ok(self, method, path, body=None, **kw):
        st, _, js = api(self.port, method, path, body=body, **kw)
        assert st == 200, (path, st, js)
        return js

    def log(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    def state(self):
        return self.ok("GET", "/show_config")["state"]

    def wait_trades(self, closed=1, timeout=20):
        return wait_for(lambda: self.ok("GET", "/trades")["total_trades"]
                        >= closed, timeout, what=f"{closed} closed trades")


class Hook:
    """A webhook receiver: records every POST; answers statuses[i] to the
    i-th request (then 200), after delay seconds."""

    def __init__(self, statuses=(), delay=0.0):
        self.reqs = []
        self.statuses = list(statuses)
        self.delay = delay
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                with hook.lock:
                    status = hook.statuses.pop(0) if hook.statuses else 200
                    hook.reqs.append({"t": time.monotonic(),
                                      "path": self.path,
                                      "headers": dict(self.headers),
                                      "body": body, "status": status})
                if hook.delay:
                    time.sleep(hook.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path="/hook/7?token=s3cret"):
        return f"http://127.0.0.1:{self.srv.server_address[1]}{path}"

    def bodies(self):
        with self.lock:
            return [r["body"] for r in self.reqs]

    def json(self):
        return [json.loads(b) for b in self.bodies()]

    def wait_json(self, pred, timeout=20, what="webhook"):
        return wait_for(lambda: [j for j in self.json() if pred(j)],
                        timeout, what=what)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


STATUS_TMPL = {"type": "{type}", "status": "{status}"}


def status_hook(url, **extra):
    wh = {"enabled": True, "url": url, "format": "json",
          "status": STATUS_TMPL, "warning": STATUS_TMPL,
          "startup": STATUS_TMPL}
    wh.update(extra)
    return {"webhook": wh}


def statuses(hook):
    return [j["status"] for j in hook.json() if j.get("type") == "status"]


# ---------------------------------------------------------------------------
# command line, exit codes

def run_ftsim(args, timeout=20):
    return subprocess.run([binary("ftsim"), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_version_flag():
    for flag in ("--version", "-V"):
        r = run_ftsim([flag])
        assert r.returncode == 0
        assert re.search(r"freqtrade \d{4}\.\d+", r.stdout)


def test_missing_config_file_exits_2(tmp_path):
    r = run_ftsim(["trade", "--config", str(tmp_path / "nope.json"),
                   "--logfile", str(tmp_path / "l.log")])
    assert r.returncode == 2
    assert "not found" in r.stderr


def test_missing_userdir_exits_2(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(ft_config(free_port())))
    r = run_ftsim(["trade", "--config", str(cfg), "--userdir",
                   str(tmp_path / "nodir")])
    assert r.returncode == 2
    assert "does not exist" in r.stderr


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["api_server"].pop("listen_port"),
     "'listen_port' is a required property"),
    (lambda c: c["api_server"].pop("password"),
     "'password' is a required property"),
    (lambda c: c["api_server"].update(listen_port=80),
     "80 is less than the minimum of 1024"),
    (lambda c: c["api_server"].update(listen_port=70000),
     "70000 is greater than the maximum of 65535"),
    (lambda c: c["api_server"].update(listen_port="8080"),
     "'8080' is not of type 'integer'"),
    (lambda c: c["api_server"].update(listen_ip_address="localhost"),
     "'localhost' is not a 'ipv4'"),
    (lambda c: c.pop("exchange"), "'exchange' is a required property"),
    (lambda c: c.update(initial_state="flying"),
     "'flying' is not one of"),
])
def test_invalid_config_exits_1(tmp_path, mutate, message):
    cfg = ft_config(free_port())
    mutate(cfg)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    log = tmp_path / "ft.log"
    r = run_ftsim(["trade", "--config", str(path), "--logfile", str(log)])
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert message in log.read_text()


def test_configs_merge_in_order_with_comments_and_env(spawn, tmp_path):
    port = free_port()
    base = tmp_path / "base.json"
    base.write_text("{\n // FreqTrade allows comments\n" +
                    json.dumps(ft_config(port))[1:])
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"bot_name": "second",
                                 "api_server": {"username": "other"}}))
    proc = spawn([binary("ftsim"), "trade", "-c", str(base), "-c",
                  str(extra), "--logfile", str(tmp_path / "l.log")],
                 "ftsim", env={"FREQTRADE__BOT_NAME": "from-env"})
    wait_for(lambda: ping_ok(port), what="ping")
    st, _, cfg = api(port, "GET", "/show_config", auth=basic("other"))
    assert st == 200
    assert cfg["bot_name"] == "from-env"
    assert proc.alive()


# ---------------------------------------------------------------------------
# auth

def test_ping_public_everything_else_needs_credentials(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    st, _, body = bot.get("/ping", auth=False)
    assert (st, body) == (200, {"status": "pong"})
    st, hdrs, _ = request(bot.port, "HEAD", "/api/v1/ping", auth=False)
    assert st == 200
    for path in ("/version", "/status", "/show_config", "/balance",
                 "/trades", "/profit", "/logs", "/health", "/whitelist"):
        st, _, body = bot.get(path, auth=False)
        assert (st, body) == (401, {"detail": "Unauthorized"}), path
    st, _, body = bot.get("/version", auth=basic(password="wrong"))
    assert (st, body) == (401, {"detail": "Unauthorized"})
    st, _, body = bot.get("/version", auth="Basic !!notbase64")
    assert st == 401
    assert body == {"detail": "Invalid authentication credentials"}
    st, _, body = bot.get("/version", token="not.a.jwt")
    assert (st, body) == (401, {"detail": "Could not validate credentials"})
    st, _, body = bot.get("/version")
    assert st == 200 and isinstance(body["version"], str)
    st, _, body = bot.post("/start", auth=False)
    assert st == 401


def jwt_claims(tok):
    head, payload, _sig = tok.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(payload))))


def test_token_login_and_refresh(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    st, hdrs, body = bot.post("/token/login", body={}, auth=False)
    assert (st, body) == (401, {"detail": "Not authenticated"})
    assert hdrs.get("www-authenticate") == "Basic"
    st, _, body = bot.post("/token/login", auth=basic(password="nope"))
    assert (st, body) == (401, {"detail": "Incorrect username or password"})
    st, _, toks = bot.post("/token/login", body={})
    assert st == 200 and set(toks) == {"access_token", "refresh_token"}
    head, acc = jwt_claims(toks["access_token"])
    assert head["alg"] == "HS256"
    assert acc["identity"] == {"u": USER} and acc["type"] == "access"
    assert 14 * 60 <= acc["exp"] - acc["iat"] <= 15 * 60
    _, ref = jwt_claims(toks["refresh_token"])
    assert ref["type"] == "refresh"
    assert 29 * 86400 <= ref["exp"] - ref["iat"] <= 30 * 86400

    st, _, body = bot.get("/count", token=toks["access_token"])
    assert st == 200 and body["max"] == 3
    # a refresh token is no access token, and the other way round
    st, hdrs, body = bot.get("/count", token=toks["refresh_token"])
    assert (st, body) == (401, {"detail": "Could not validate credentials"})
    assert hdrs.get("www-authenticate") == "Bearer"
    st, _, body = bot.post("/token/refresh", token=toks["access_token"])
    assert st == 401
    st, _, body = bot.post("/token/refresh", auth=False)
    assert (st, body) == (401, {"detail": "Could not validate credentials"})
    st, _, body = bot.post("/token/refresh", token=toks["refresh_token"])
    assert st == 200 and set(body) == {"access_token"}
    st, _, _ = bot.get("/version", token=body["access_token"])
    assert st == 200


def test_token_signed_with_another_secret_is_refused(spawn, tmp_path):
    a = Bot(spawn, tmp_path, name="a")
    b = Bot(spawn, tmp_path, {"api_server": {"jwt_secret_key": "other"}},
            name="b")
    tok = a.ok("POST", "/token/login")["access_token"]
    st, _, body = b.get("/version", token=tok)
    assert (st, body) == (401, {"detail": "Could not validate credentials"})


def test_unknown_routes_and_methods(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    st, _, body = bot.get("/no_such_thing")
    assert (st, body) == (404, {"detail": "Not Found"})
    st, _, body = bot.post("/status")
    assert (st, body) == (405, {"detail": "Method Not Allowed"})
    st, _, body = bot.get("/start")
    assert st == 405


# ---------------------------------------------------------------------------
# endpoints: fields, types, units

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_types(obj, spec, where):
    for key, typ in spec.items():
        assert key in obj, f"{where}: no {key}"
        v = obj[key]
        if typ == "num":
            assert is_num(v), f"{where}.{key}={v!r}"
        elif typ == "num?":
            assert v is None or is_num(v), f"{where}.{key}={v!r}"
        elif typ == "str?":
            assert v is None or isinstance(v, str), f"{where}.{key}={v!r}"
        else:
            assert isinstance(v, typ) and not (
                typ is int and isinstance(v, bool)), f"{where}.{key}={v!r}"


TRADE_FIELDS = {
    "trade_id": int, "pair": str, "base_currency": str,
    "quote_currency": str, "is_open": bool, "is_short": bool,
    "exchange": str, "amount": float, "stake_amount": float,
    "strategy": str, "enter_tag": "str?", "timeframe": int,
    "fee_open": float, "fee_close": float, "open_date": str,
    "open_timestamp": int, "open_rate": float, "close_date": "str?",
    "close_rate": "num?", "profit_ratio": "num?", "profit_pct": "num?",
    "profit_abs": "num?", "realized_profit": float, "exit_reason": "str?",
    "stop_loss_abs": float, "stop_loss_pct": float, "min_rate": "num?",
    "max_rate": "num?", "has_open_orders": bool, "orders": list,
    "leverage": float, "trading_mode": str,
}
ORDER_FIELDS = {"order_id": str, "status": str, "amount": float,
                "filled": float, "safe_price": float, "cost": float,
                "ft_order_side": str, "order_type": str, "is_open": bool,
                "order_timestamp": int}
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def check_trade(t, now_ms):
    check_types(t, TRADE_FIELDS, f"trade {t.get('trade_id')}")
    assert DATE_RE.match(t["open_date"])
    assert abs(t["open_timestamp"] - now_ms) < 600_000  # milliseconds
    assert t["timeframe"] == 5
    assert t["pair"] == f"{t['base_currency']}/{t['quote_currency']}"
    assert t["enter_tag"] is None or re.match(r"strength=[01]\.\d\d$",
                                              t["enter_tag"])
    for o in t["orders"]:
        check_types(o, ORDER_FIELDS, "order")


def test_status_trades_and_trade(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    bot.wait_trades(2)
    now_ms = time.time() * 1000
    status = bot.ok("GET", "/status")
    assert isinstance(status, list)
    for t in status:
        check_trade(t, now_ms)
        assert t["is_open"] and t["close_date"] is None
        check_types(t, {"current_rate": float, "total_profit_abs": float,
                        "stoploss_current_dist": float,
                        "stoploss_current_dist_pct": float,
                        "stoploss_current_dist_ratio": float}, "status")
    res = bot.ok("GET", "/trades")
    check_types(res, {"trades": list, "trades_count": int, "offset": int,
                      "total_trades": int}, "trades")
    assert res["offset"] == 0
    assert res["trades_count"] == len(res["trades"])
    for t in res["trades"]:
        check_trade(t, now_ms)
        assert not t["is_open"]
        assert DATE_RE.match(t["close_date"])
        assert isinstance(t["trade_duration"], int)  # minutes
        assert isinstance(t["close_timestamp"], int)
        assert t["close_timestamp"] >= t["open_timestamp"]
        assert t["exit_reason"]
        assert len(t["orders"]) == 2
    ids = [t["trade_id"] for t in res["trades"]]
    assert ids == sorted(ids)
    page = bot.ok("GET", "/trades?limit=1&offset=1")
    assert page["trades_count"] == 1 and page["offset"] == 1
    assert page["trades"][0]["trade_id"] == ids[1]
    st, _, body = bot.get("/trades?limit=abc")
    assert st == 422
    st, _, body = bot.get("/trades?limit=1001")
    assert st == 422
    one = bot.ok("GET", f"/trade/{ids[0]}")
    assert one["trade_id"] == ids[0] and one["pair"] == res["trades"][0][
        "pair"]
    st, _, body = bot.get("/trade/999999")
    assert (st, body) == (404, {"detail": "Trade not found."})
    st, _, body = bot.get("/trade/abc")
    assert st == 422


def test_profit_balance_count_are_consistent(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    bot.wait_trades(3)
    count = bot.ok("GET", "/count")
    check_types(count, {"current": int, "max": int, "total_stake": float},
                "count")
    bot.ok("POST", "/stop")
    wait_for(lambda: bot.state() == "stopped", what="stopped")
    time.sleep(1.5)  # let the last iteration finish
    status = bot.ok("GET", "/status")
    trades = bot.ok("GET", "/trades")["trades"]
    profit = bot.ok("GET", "/profit")
    balance = bot.ok("GET", "/balance")
    st, _, err = bot.get("/count")
    assert (st, err) == (502, {"error": "Error querying /api/v1/count: "
                                        "trader is not running"})

    floats = ("profit_closed_coin", "profit_closed_ratio",
              "profit_closed_percent", "profit_all_coin", "profit_all_ratio",
              "profit_closed_fiat", "winrate", "expectancy",
              "max_drawdown", "max_drawdown_abs", "best_pair_profit_ratio")
    check_types(profit, {k: float for k in floats}, "profit")
    ints = ("trade_count", "closed_trade_count", "first_trade_timestamp",
            "latest_trade_timestamp", "winning_trades", "losing_trades",
            "bot_start_timestamp")
    check_types(profit, {k: int for k in ints}, "profit")
    check_types(profit, {"avg_duration": str, "best_pair": str,
                         "first_trade_date": str,
                         "first_trade_humanized": str}, "profit")
    assert re.match(r"^(\d+ days?, )?\d+:\d\d:\d\d$", profit["avg_duration"])
    assert profit["closed_trade_count"] == len(trades)
    assert profit["trade_count"] == len(trades) + len(status)
    assert profit["winning_trades"] + profit["losing_trades"] == len(trades)
    closed = sum(t["profit_abs"] for t in trades)
    assert profit["profit_closed_coin"] == pytest.approx(closed, abs=1e-6)
    open_abs = sum(t["profit_abs"] for t in status)
    assert profit["profit_all_coin"] == pytest.approx(closed + open_abs,
                                                      abs=1e-6)
    assert profit["profit_closed_ratio"] == pytest.approx(closed / 990,
                                                          abs=1e-9)
    assert profit["first_trade_timestamp"] > 1e12  # milliseconds

    check_types(balance, {"currencies": list, "total": float,
                          "total_bot": float, "starting_capital": float,
                          "starting_capital_ratio": float, "symbol": str,
                          "stake": str, "note": str}, "balance")
    assert balance["starting_capital"] == pytest.approx(990)
    usdt = [c for c in balance["currencies"] if c["currency"] == "USDT"][0]
    stakes = sum(t["stake_amount"] for t in status)
    assert usdt["free"] == pytest.approx(1000 + closed - stakes, abs=1e-6)
    value = usdt["free"] + sum(t["amount"] * t["current_rate"]
                               for t in status)
    assert balance["total"] == pytest.approx(value, abs=1e-6)
    for t in status:
        fee = t["fee_open"]
        gross = t["amount"] * t["current_rate"] * (1 - fee)
        cost = t["amount"] * t["open_rate"] * (1 + fee)
        assert t["profit_abs"] == pytest.approx(gross - cost, abs=2e-8)
        assert t["profit_pct"] == pytest.approx(t["profit_ratio"] * 100,
                                                abs=0.006)
    assert bot.ok("GET", "/profit_all")["all"]["trade_count"] == \
        profit["trade_count"]


def test_show_config_health_version_sysinfo(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"bot_name": "sim-7"})
    cfg = bot.ok("GET", "/show_config")
    check_types(cfg, {"version": str, "api_version": float, "dry_run": bool,
                      "stake_currency": str, "stake_amount": str,
                      "max_open_trades": int, "minimal_roi": dict,
                      "stoploss": float, "timeframe": str,
                      "timeframe_ms": int, "timeframe_min": int,
                      "exchange": str, "strategy": str, "bot_name": str,
                      "state": str, "runmode": str,
                      "force_entry_enable": bool,
                      "position_adjustment_enable": bool}, "show_config")
    assert cfg["stake_amount"] == "100"
    assert cfg["api_version"] >= 2.2
    assert (cfg["timeframe_ms"], cfg["timeframe_min"]) == (300000, 5)
    assert cfg["bot_name"] == "sim-7" and cfg["runmode"] == "dry_run"
    assert cfg["state"] == "running"
    assert bot.ok("GET", "/version")["version"] == cfg["version"]
    wait_for(lambda: bot.ok("GET", "/health")["last_process_ts"],
             what="a processed iteration")
    h = bot.ok("GET", "/health")
    for k in ("last_process_ts", "bot_start_ts", "bot_startup_ts"):
        assert isinstance(h[k], int) and abs(h[k] - time.time()) < 120, k
    for k in ("last_process", "bot_start", "bot_startup"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", h[k]), k
    t0 = time.monotonic()
    si = bot.ok("GET", "/sysinfo")
    assert time.monotonic() - t0 >= 0.9  # psutil samples for a second
    assert isinstance(si["cpu_pct"], list) and si["cpu_pct"]
    assert all(is_num(c) for c in si["cpu_pct"]) and is_num(si["ram_pct"])


def test_health_nulls_while_never_started(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"initial_state": "stopped"})
    time.sleep(1.2)
    h = bot.ok("GET", "/health")
    assert h["last_process"] is None and h["last_process_ts"] is None
    assert h["bot_startup_ts"] is None


def test_lists_locks_strategy_candles(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"exchange": {"pair_blacklist": ["DOGE/USDT"]}})
    wl = bot.ok("GET", "/whitelist")
    assert wl == {"whitelist": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                  "length": 3, "method": ["StaticPairList"]}
    bl = bot.ok("GET", "/blacklist")
    assert bl["blacklist"] == ["DOGE/USDT"] and bl["length"] == 1
    assert bl["errors"] == {} and bl["method"] == ["StaticPairList"]
    bl = bot.ok("POST", "/blacklist", body={"blacklist": ["XRP/USDT",
                                                          "DOGE/USDT"]})
    assert bl["blacklist"] == ["DOGE/USDT", "XRP/USDT"]
    assert "DOGE/USDT" in bl["errors"]
    bl = bot.ok("DELETE", "/blacklist?pairs_to_delete=XRP/USDT")
    assert bl["blacklist"] == ["DOGE/USDT"]
    assert bot.ok("GET", "/locks") == {"lock_count": 0, "locks": []}
    pc = bot.ok("GET", "/plot_config")
    assert "main_plot" in pc and "subplots" in pc
    assert bot.ok("GET", "/strategies") == {"strategies": ["SampleStrategy"]}
    s = bot.ok("GET", "/strategy/SampleStrategy")
    assert s["strategy"] == "SampleStrategy" and "class" in s["code"]
    st, _, body = bot.get("/strategy/Nope")
    assert (st, body) == (404, {"detail": "Strategy not found"})
    c = bot.ok("GET", "/pair_candles?pair=BTC/USDT&timeframe=5m&limit=20")
    check_types(c, {"pair": str, "timeframe": str, "timeframe_ms": int,
                    "columns": list, "data": list, "length": int,
                    "last_analyzed_ts": int, "data_start_ts": int,
                    "data_stop_ts": int}, "pair_candles")
    assert c["length"] == len(c["data"]) == 20
    cols = c["columns"]
    for col in ("date", "open", "high", "low", "close", "volume",
                "__date_ts"):
        assert col in cols
    row = dict(zip(cols, c["data"][-1]))
    assert row["low"] <= row["close"] <= row["high"]
    assert row["__date_ts"] == c["data_stop_ts"]
    st, _, body = bot.get("/pair_candles?pair=BTC/USDT")
    assert st == 422
    assert isinstance(bot.ok("GET", "/performance"), list)
    d = bot.ok("GET", "/daily?timescale=3")
    assert len(d["data"]) == 3 and d["stake_currency"] == "USDT"
    assert re.match(r"^\d{4}-\d\d-\d\d$", d["data"][0]["date"])
    assert set(bot.ok("GET", "/stats")) == {"exit_reasons", "durations"}


def test_logs_rows_and_buffer(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    logs = bot.ok("GET", "/logs")
    check_types(logs, {"log_count": int, "logs": list}, "logs")
    assert logs["log_count"] == len(logs["logs"]) > 0
    for row in logs["logs"]:
        assert isinstance(row, list) and len(row) == 5
        date, ms, name, level, msg = row
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", date)
        assert isinstance(ms, float) and ms > 1e12  # epoch milliseconds
        assert isinstance(name, str) and level in (
            "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert isinstance(msg, str)
    assert bot.ok("GET", "/logs?limit=3")["log_count"] == 3
    # 1000 records at most; when full, the oldest half is dropped
    bot.ok("POST", "/stop")
    wait_for(lambda: bot.state() == "stopped", what="stopped")
    c = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
    for _ in range(1100):  # each logs "API Error calling: ..."
        c.request("GET", "/api/v1/count",
                  headers={"Authorization": basic()})
        c.getresponse().read()
    c.close()
    n = bot.ok("GET", "/logs")["log_count"]
    assert 500 <= n <= 999  # the 1000th record trims (see below)


LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - "
                     r"[\w.]+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")


def test_logfile_format_and_heartbeat(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    wait_for(lambda: "Bot heartbeat" in bot.log(), what="heartbeat")
    lines = bot.log().splitlines()
    starts = [ln for ln in lines if LINE_RE.match(ln)]
    assert len(starts) > 10
    hb = [ln for ln in lines if "Bot heartbeat" in ln]
    assert re.search(r" - freqtrade\.worker - INFO - Bot heartbeat\. "
                     r"PID=\d+, version='[^']+', state='RUNNING'$", hb[0])
    assert any("Changing state to: RUNNING" in ln for ln in lines)


# ---------------------------------------------------------------------------
# state machine

def test_state_machine(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, {"initial_state": "stopped",
                                **status_hook(hook.url())})
    assert bot.state() == "stopped"
    hook.wait_json(lambda j: j.get("status") == "stopped", what="stopped")
    st, _, body = bot.get("/count")
    assert st == 502 and "trader is not running" in body["error"]
    assert bot.ok("POST", "/stop") == {"status": "already stopped"}
    assert bot.ok("POST", "/start") == {"status": "starting trader ..."}
    assert bot.ok("POST", "/start") == {"status": "already running"}
    assert bot.state() == "running"
    hook.wait_json(lambda j: j.get("status") == "running", what="running")
    assert bot.ok("POST", "/pause") == {
        "status": "paused, no more entries will occur from now. Run "
                  "/start to enable entries."}
    assert bot.state() == "paused"
    assert bot.ok("GET", "/count")["max"] == 3  # works while paused
    hook.wait_json(lambda j: j.get("status") == "paused", what="paused")
    assert bot.ok("POST", "/stop") == {"status": "stopping trader ..."}
    hook.wait_json(lambda j: j.get("status") == "stopped" and
                   statuses(hook).count("stopped") == 2, what="stopped 2")
    assert bot.ok("POST", "/stopentry")["status"].startswith(
        "starting bot with trader in paused state")
    assert bot.state() == "paused"
    # the worker announces what it sees at its next iteration
    hook.wait_json(lambda j: statuses(hook).count("paused") == 2,
                   what="paused again")
    assert bot.ok("POST", "/stopbuy")["status"].startswith("paused")
    assert bot.ok("POST", "/start") == {"status": "starting trader ..."}
    hook.wait_json(lambda j: statuses(hook).count("running") == 2,
                   what="running again")
    seq = [s for s in statuses(hook)]
    assert seq[:5] == ["stopped", "running", "paused", "stopped", "paused"]


def test_paused_bot_exits_but_does_not_enter(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"min_trade_seconds": 3,
                                          "max_trade_seconds": 3}})
    wait_for(lambda: len(bot.ok("GET", "/status")) == 3, what="3 open")
    bot.ok("POST", "/pause")
    wait_for(lambda: bot.ok("GET", "/status") == [], timeout=20,
             what="open trades closed while paused")
    time.sleep(2.5)
    assert bot.ok("GET", "/status") == []


def test_reload_config(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, {"bot_name": "before",
                                **status_hook(hook.url())})
    hook.wait_json(lambda j: j.get("status") == "running", what="running")
    bot.ok("POST", "/stop")
    wait_for(lambda: "stopped" in statuses(hook), what="stopped")
    bot.cfg["bot_name"] = "after"
    bot.write()
    assert bot.ok("POST", "/reload_config") == {
        "status": "Reloading config ..."}
    closed = wait_for(lambda: not ping_ok(bot.port, timeout=0.3),
                      timeout=10, what="the port to close")
    assert closed
    wait_for(lambda: ping_ok(bot.port), timeout=15, what="the port back")
    cfg = bot.ok("GET", "/show_config")
    assert cfg["bot_name"] == "after"
    # back to initial_state (running), announced as "config reloaded"
    assert cfg["state"] == "running"
    hook.wait_json(lambda j: j.get("status") == "config reloaded",
                   what="config reloaded")
    seq = statuses(hook)
    i = seq.index("reload_config")
    assert seq[i + 1] == "config reloaded"
    assert "running" not in seq[i:]
    assert bot.proc.alive()


def test_reload_with_broken_config_exits(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    del bot.cfg["api_server"]["listen_port"]
    bot.write()
    bot.ok("POST", "/reload_config")
    bot.proc.expect_fail = True
    assert bot.proc.p.wait(20) == 1


# ---------------------------------------------------------------------------
# SIGTERM and faults

def test_sigterm_sends_process_died_and_exits_0(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, status_hook(hook.url()))
    wait_for(lambda: len(bot.ok("GET", "/status")) > 0, what="open trades")
    bot.proc.signal(signal.SIGTERM)
    assert bot.proc.p.wait(15) == 0
    msgs = [j for j in hook.json() if j.get("type") in ("status", "warning")]
    texts = [j["status"] for j in msgs]
    died = texts.index("process died")
    assert "open trades active" in texts[died + 1]
    assert not ping_ok(bot.port)
    log = bot.log()
    assert "SIGINT received, aborting ..." in log
    assert log.index("process died") < log.index("SIGINT received")


def test_sigint_too(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    bot.proc.signal(signal.SIGINT)
    assert bot.proc.p.wait(15) == 0


def test_startup_delay_before_the_api_opens(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"startup_delay": 2}}, wait=False)
    time.sleep(0.8)
    assert not ping_ok(bot.port)
    wait_for(lambda: ping_ok(bot.port), timeout=10, what="ping after delay")


def test_hang_never_opens_the_api(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"hang": True}}, wait=False)
    time.sleep(2)
    assert bot.proc.alive() and not ping_ok(bot.port)
    bot.proc.signal(signal.SIGTERM)
    assert bot.proc.p.wait(10) == 0


def test_port_in_use_hangs_like_uvicorn(spawn, tmp_path):
    port = free_port()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        bot = Bot(spawn, tmp_path, {"api_server": {"listen_port": port}},
                  wait=False)
        wait_for(lambda: "address already in use" in bot.log(),
                 what="bind error")
        assert bot.proc.alive()
    finally:
        squatter.close()


def test_crash_after(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"crash_after": 1.5}})
    bot.proc.expect_fail = True
    assert bot.proc.p.wait(10) == 1
    assert "Fatal exception!" in bot.log()


def test_slow_and_failing_endpoints(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {
        "slow_ms": 700, "slow_endpoints": ["/status"],
        "fail_endpoints": ["/api/v1/profit"], "fail_status": 503}})
    t0 = time.monotonic()
    bot.ok("GET", "/status")
    assert time.monotonic() - t0 >= 0.65
    t0 = time.monotonic()
    assert ping_ok(bot.port)
    assert time.monotonic() - t0 < 0.5
    st, _, _ = bot.get("/profit")
    assert st == 503


def test_slow_answer_survives_client_going_away(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"slow_ms": 800}})
    s = socket.create_connection(("127.0.0.1", bot.port))
    s.sendall(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\nAuthorization: "
              + basic().encode() + b"\r\n\r\n")
    s.close()
    time.sleep(1.2)
    assert bot.ok("GET", "/version")


# ---------------------------------------------------------------------------
# what the "Done when" implies, checked one by one

def test_log_buffer_trims_to_exactly_500(spawn, tmp_path):
    """FreqTrade's BufferingHandler appends, then flushes once it holds
    1000 records, keeping the newest 500: 999 is the most /logs shows and
    the 1000th record leaves exactly 500."""
    bot = Bot(spawn, tmp_path, {"initial_state": "stopped",
                                "internals": {"heartbeat_interval": 0}})
    # stopped, no heartbeat: the only new records are the ones made here
    wait_for(lambda: bot.state() == "stopped", what="stopped")
    time.sleep(1.5)
    c = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)

    def one_record():  # /count while stopped logs "API Error calling"
        c.request("GET", "/api/v1/count",
                  headers={"Authorization": basic()})
        assert c.getresponse().read()

    def count():
        c.request("GET", "/api/v1/logs", headers={"Authorization":
                                                  basic()})
        return json.loads(c.getresponse().read())["log_count"]

    n0 = count()
    assert 0 < n0 < 999
    for _ in range(998 - n0):
        one_record()
    assert count() == 998
    one_record()
    assert count() == 999
    last = bot.ok("GET", "/logs?limit=2")["logs"]
    one_record()  # the 1000th
    assert count() == 500
    logs = bot.ok("GET", "/logs")["logs"]
    assert len(logs) == 500
    # the newest half stayed, in order: the 998th and 999th records are
    # now the 498th and 499th (rows carry their own ms timestamps)
    assert logs[-3:-1] == last
    one_record()
    assert count() == 501
    c.close()


def heartbeats(bot):
    out = []
    for ln in bot.log().splitlines():
        m = re.match(r"^(\S+ \S+),(\d{3}) - freqtrade\.worker - INFO - "
                     r"Bot heartbeat\. PID=\d+, version='[^']+', "
                     r"state='(\w+)'$", ln)
        if m:
            t = time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S"))
            out.append((t + int(m[2]) / 1000, m[3]))
    return out


def test_heartbeat_repeats_at_its_interval(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"internals": {"heartbeat_interval": 2},
                                "ftsim": {"entries_per_minute": 0}})
    wait_for(lambda: len(heartbeats(bot)) >= 3, timeout=30,
             what="3 heartbeats")
    hb = heartbeats(bot)
    assert all(st == "RUNNING" for _, st in hb)
    # the worker runs every second; the heartbeat only every 2 s
    gaps = [b[0] - a[0] for a, b in zip(hb, hb[1:])]
    assert all(g >= 1.9 for g in gaps), gaps
    bot.ok("POST", "/stop")
    wait_for(lambda: any(st == "STOPPED" for _, st in heartbeats(bot)),
             timeout=20, what="a heartbeat while stopped")


def test_initial_state_absent_means_stopped(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, status_hook(hook.url()),
              drop=["initial_state"])
    assert "initial_state" not in json.loads(bot.path.read_text())
    assert bot.state() == "stopped"
    hook.wait_json(lambda j: j.get("status") == "stopped", what="stopped")
    st, _, body = bot.get("/count")
    assert st == 502 and "trader is not running" in body["error"]
    time.sleep(2)  # entries_per_minute is 120: none while stopped
    assert bot.ok("GET", "/status") == []
    assert bot.ok("GET", "/trades")["total_trades"] == 0
    # no trading, so no startup messages
    assert not [j for j in hook.json() if j.get("type") == "startup"]
    assert statuses(hook) == ["stopped"]


def test_initial_state_paused(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, {"initial_state": "paused",
                                **status_hook(hook.url())})
    assert bot.state() == "paused"
    # paused trades (startup messages) but opens nothing
    hook.wait_json(lambda j: j.get("type") == "startup" and
                   j["status"].startswith("Searching for"),
                   what="startup messages")
    assert statuses(hook)[0] == "paused"
    assert bot.ok("GET", "/count") == {"current": 0, "max": 3,
                                       "total_stake": 0.0}
    wait_for(lambda: bot.ok("GET", "/health")["last_process_ts"],
             what="an iteration")
    time.sleep(2)
    assert bot.ok("GET", "/status") == []
    assert bot.ok("POST", "/start") == {"status": "starting trader ..."}
    wait_for(lambda: bot.ok("GET", "/status"), what="entries once running")


def test_same_seed_same_candles_in_two_processes(spawn, tmp_path):
    """Prices depend on the seed and the time, not on when the process
    started: the second bot starts in a later price step (10 s)."""
    a = Bot(spawn, tmp_path, {"ftsim": {"entries_per_minute": 0}},
            name="a")
    t = time.time()
    time.sleep(10 - t % 10 + 0.5)
    b = Bot(spawn, tmp_path, {"ftsim": {"entries_per_minute": 0}},
            name="b")
    c = Bot(spawn, tmp_path, {"ftsim": {"entries_per_minute": 0,
                                        "seed": 8}}, name="c")

    def closed(bot, pair):
        """date -> row of the candles that were closed when the bot last
        moved its prices (the last one is still forming, its close is the
        live price; the one before may have closed since)."""
        got = bot.ok("GET", f"/pair_candles?pair={pair}&timeframe=5m"
                            "&limit=60")
        rows = [dict(zip(got["columns"], r)) for r in got["data"][:-2]]
        return {r["__date_ts"]: r for r in rows}

    for pair in ("ETH/USDT", "BTC/USDT"):
        ca, cb, cc = (closed(x, pair) for x in (a, b, c))
        common = set(ca) & set(cb)
        assert len(common) >= 57  # a candle may close between the calls
        assert all(ca[d] == cb[d] for d in common), pair
        assert any(ca[d] != cc[d] for d in set(ca) & set(cc))


def test_shapes_of_profit_all_locks_historic_balance(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    bot.wait_trades(2)
    bot.ok("POST", "/stop")
    wait_for(lambda: bot.state() == "stopped", what="stopped")
    time.sleep(1.5)
    pa = bot.ok("GET", "/profit_all")
    assert set(pa) == {"all", "long", "short"}
    assert pa["long"] is None and pa["short"] is None  # spot
    profit = bot.ok("GET", "/profit")
    assert set(pa["all"]) == set(profit)
    for k in ("trade_count", "closed_trade_count", "profit_closed_coin",
              "profit_all_coin", "winning_trades", "losing_trades"):
        assert pa["all"][k] == profit[k], k

    locks = bot.ok("GET", "/locks")
    assert locks == {"lock_count": 0, "locks": []}

    hb = bot.ok("GET", "/historic_balance")
    check_types(hb, {"columns": list, "data": list, "length": int},
                "historic_balance")
    cols = hb["columns"]
    assert cols[0] == "__date_ts" and "total_quote" in cols
    assert all(isinstance(c, str) for c in cols)
    assert hb["length"] == len(hb["data"]) >= 2  # start + a closed trade
    now_ms = time.time() * 1000
    stamps = []
    for row in hb["data"]:
        assert len(row) == len(cols)
        rec = dict(zip(cols, row))
        assert isinstance(rec["__date_ts"], int)
        assert 0 <= now_ms - rec["__date_ts"] < 600_000  # milliseconds
        assert is_num(rec["total_quote"])
        assert 900 < rec["total_quote"] < 1100  # around the wallet
        stamps.append(rec["__date_ts"])
    assert stamps == sorted(stamps)
    assert hb["capture_start_ts"] == stamps[0]
    # the last sample is the wallet after the last closed trade (open
    # trades valued at that time's rates: near today's total)
    bal = bot.ok("GET", "/balance")
    last = dict(zip(cols, hb["data"][-1]))
    assert last["total_quote"] == pytest.approx(bal["total"], rel=0.02)


def test_crash_exit_code(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"ftsim": {"crash_after": 1,
                                          "crash_exit_code": 3}})
    bot.proc.expect_fail = True
    assert bot.proc.p.wait(10) == 3
    assert "Fatal exception!" in bot.log()


# ---------------------------------------------------------------------------
# tokens as PyJWT makes and checks them

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(claims, secret=SECRET, header=None):
    import hashlib
    import hmac
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"},
                             separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(),
                   hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def test_tokens_made_elsewhere(spawn, tmp_path):
    bot = Bot(spawn, tmp_path)
    now = int(time.time())
    good = {"identity": {"u": USER}, "exp": now + 60, "iat": now,
            "type": "access"}
    st, _, _ = bot.get("/version", token=make_jwt(good))
    assert st == 200  # what PyJWT issues with the same secret
    bad = {
        "expired": make_jwt(dict(good, exp=now - 1)),
        "refresh": make_jwt(dict(good, type="refresh")),
        "no exp": make_jwt({k: v for k, v in good.items() if k != "exp"}),
        "issued later": make_jwt(dict(good, iat=now + 3600)),
        "other secret": make_jwt(good, secret="another"),
        "alg none": make_jwt(good, header={"alg": "none"}).rsplit(
            ".", 1)[0] + ".",
        "HS512 header": make_jwt(good, header={"alg": "HS512"}),
        "no identity": make_jwt({k: v for k, v in good.items()
                                 if k != "identity"}),
    }
    for what, tok in bad.items():
        st, _, body = bot.get("/version", token=tok)
        assert (st, body) == (401, {"detail":
                                    "Could not validate credentials"}), what
    # a valid signature does not cover a changed payload
    tok = bot.ok("POST", "/token/login")["access_token"]
    head, _, sig = tok.split(".")
    forged = b64url(json.dumps(dict(good, identity={"u": "admin"}))
                    .encode())
    st, _, _ = bot.get("/version", token=f"{head}.{forged}.{sig}")
    assert st == 401
    # ours, read back the way FreqTrade's PyJWT would
    head, payload, sig = tok.split(".")
    assert tok == make_jwt(json.loads(base64.urlsafe_b64decode(
        payload + "=" * (-len(payload) % 4))))
