"""signal-ingest end to end: FreqTrade webhooks over HTTP into the real
PostgreSQL, graded, published as signal.new (watched with nngcat), read
back with the ingest.* RPC methods (nngcat). Every reply and event is
checked against its schema in proto/.

Strategies are inserted with psql (the supervisor owns them in real
life). The durability tests (PostgreSQL stopped, kill -9) are in
test_ingest_durability.py; they reuse the helpers here.
"""
import http.client
import json
import secrets
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (http_get, metrics, psql, schema_errors, start_daemon,
                      wait_for)

WEBHOOK = "/api/v1/signals/webhook"


# ---- the contract in proto/ ----

def check_reply(method, reply):
    errs = schema_errors("envelope/reply.schema.json", reply)
    if reply.get("ok"):
        errs += schema_errors(f"methods/{method}.result.schema.json",
                              reply["result"])
    assert not errs, f"{method} reply breaks the schema: {errs}\n{reply}"


def check_event(env):
    topic = env["topic"]
    errs = schema_errors("envelope/event.schema.json", env)
    errs += schema_errors(f"topics/{topic}.schema.json", env["data"])
    assert not errs, f"{topic} event breaks the schema: {errs}\n{env}"


# ---- strategies (the supervisor's table, written directly) ----

def add_strategy(dsn, strong=0.8, medium=0.6, weak=0.4, version="v1.0"):
    """A new strategy; returns (id, token, name)."""
    token = secrets.token_urlsafe(32)
    name = "it-" + uuid.uuid4().hex[:12]
    sid = int(psql(dsn, f"""
        INSERT INTO strategies (name, strategy_class, exchange, timeframe,
            pair_whitelist, webhook_token, threshold_strong,
            threshold_medium, threshold_weak, version)
        VALUES ('{name}', 'SampleStrategy', 'binance', '5m',
            '["BTC/USDT"]', '{token}', {strong}, {medium}, {weak},
            '{version}')
        RETURNING id"""))
    return sid, token, name


def delete_strategy(dsn, sid):
    psql(dsn, f"UPDATE strategies SET status = 'deleted', deleted_at = "
              f"now() WHERE id = {sid}")


# ---- the daemon ----

class Ingest:
    """A running signal-ingest with an HTTP client, an RPC client and a
    signal.new subscriber."""

    def __init__(self, spawn, confdir, env, tmp_path):
        self.spawn, self.confdir, self.env = spawn, confdir, env
        self.ports = confdir.ports["signal-ingest"]
        self.events_path = tmp_path / "ingest-events.txt"
        self.proc = None
        self.sub = None

    def start(self):
        self.proc = start_daemon(self.spawn, "signal-ingest", self.confdir,
                                 self.env)
        self.subscribe()
        return self.proc

    def subscribe(self):
        if self.sub:
            self.sub.kill()
            self.sub.wait()
        self.sub = subprocess.Popen(
            ["stdbuf", "-oL", "nngcat", "--sub", "--dial",
             f"tcp://127.0.0.1:{self.ports['events']}",
             "--subscribe", "", "--quoted"],
            stdout=open(self.events_path, "ab"),
            stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # the dial on loopback

    def close(self):
        if self.sub:
            self.sub.kill()
            self.sub.wait()
            self.sub = None
        for env in self.events():
            check_event(env)

    def events(self, topic=None):
        out = []
        if not self.events_path.exists():
            return out
        for line in self.events_path.read_text(errors="replace").splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            t, _, body = msg.partition(" ")
            env = json.loads(body)
            if topic is None or t == topic:
                out.append(env)
        return out

    def signal_events(self, sid):
        return [e["data"] for e in self.events("signal.new")
                if e["data"]["strategy_id"] == sid]

    # -- http --
    def post(self, path, body, ctype="application/json", headers=None,
             timeout=10):
        """(status, parsed JSON body) of one POST on a new connection."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["http"],
                                          timeout=timeout)
        try:
            h = {"Content-Type": ctype} if ctype else {}
            h.update(headers or {})
            conn.request("POST", path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            assert r.getheader("Content-Type") == "application/json"
            return r.status, json.loads(data)
        finally:
            conn.close()

    def send(self, sid, token, msg, **kw):
        return self.post(f"{WEBHOOK}/{sid}/{token}", msg, **kw)

    def metrics(self):
        return metrics(self.ports["admin"])

    # -- rpc --
    def call(self, method, params=None, timeout=10):
        body = json.dumps({"v": 1, "id": 7, "method": method,
                           "params": params or {}})
        out = subprocess.run(
            ["nngcat", "--req", "--dial",
             f"tcp://127.0.0.1:{self.ports['rpc']}", "--ascii", "--data",
             body, "--recv-timeout", str(timeout)],
            capture_output=True, text=True, timeout=timeout + 10)
        assert out.returncode == 0, out.stderr
        rep = json.loads(out.stdout)
        check_reply(method, rep)
        return rep

    def ok(self, method, params=None):
        rep = self.call(method, params)
        assert rep["ok"], rep
        return rep["result"]


@pytest.fixture
def ingest(spawn, confdir, env, tmp_path):
    i = Ingest(spawn, confdir, env, tmp_path)
    i.start()
    yield i
    i.close()


# ---- FreqTrade's messages, as the json format renders them ----

def entry(kind, trade_id, tag="ema_cross strength=0.86 rsi=28.4",
          when="2025-06-01 08:00:02.117000+00:00"):
    return {"type": kind, "trade_id": str(trade_id), "exchange": "Binance",
            "pair": "BTC/USDT", "direction": "Long", "leverage": "1.0",
            "limit": "64250.0", "open_rate": "64250.5",
            "order_type": "limit", "stake_amount": "99.97",
            "stake_currency": "USDT", "base_currency": "BTC",
            "quote_currency": "USDT", "fiat_currency": "USD",
            "amount": "0.001556", "open_date": when,
            "current_rate": "64251.0", "enter_tag": tag,
            "sub_trade": "False"}


def exit_(kind, trade_id, reason="roi strength=0.65",
          when="2025-06-01 10:00:00.500000+00:00"):
    return {"type": kind, "trade_id": str(trade_id), "exchange": "Binance",
            "pair": "ETH/USDT", "direction": "Short", "leverage": "1.0",
            "gain": "profit", "limit": "3499.0", "order_type": "limit",
            "open_rate": "3500.1", "close_rate": "3490.25",
            "order_rate": "3490.0", "amount": "0.0285",
            "stake_amount": "99.75", "stake_currency": "USDT",
            "profit_amount": "0.28", "profit_ratio": "0.0028",
            "exit_reason": reason, "enter_tag": "None",
            "open_date": "2025-06-01 07:00:00+00:00", "close_date": when,
            "current_rate": "3490.0", "cumulative_profit": "0.28",
            "final_profit_ratio": "0.0028", "is_final_exit": "True",
            "sub_trade": "False"}


MESSAGES = [
    # (message, action, level, rate, pair)
    (entry("entry", 1), "entry", "strong", 64250.5, "BTC/USDT"),
    (entry("entry_fill", 1), "entry_fill", "strong", 64250.5, "BTC/USDT"),
    (dict(entry("entry_cancel", 2, tag="strength=0.5"),
          reason="timeout"), "entry_cancel", "weak", 64250.5, "BTC/USDT"),
    (exit_("exit", 1), "exit", "medium", 3490.25, "ETH/USDT"),
    (exit_("exit_fill", 1), "exit_fill", "medium", 3490.25, "ETH/USDT"),
    ({k: v for k, v in exit_("exit_cancel", 3, "stop strength=0.3").items()
      if k not in ("close_rate", "order_rate", "cumulative_profit",
                   "final_profit_ratio", "is_final_exit")}
     | {"reason": "cancelled"}, "exit_cancel", "ignore", 3499.0,
     "ETH/USDT"),
    ({"type": "status", "status": "running"}, "status", "ignore", None,
     None),
    ({"type": "warning", "status": "Dry run is enabled"}, "warning",
     "ignore", None, None),
    ({"type": "exception", "status": "Traceback ..."}, "exception",
     "ignore", None, None),
    ({"type": "startup", "status": "Exchange: binance"}, "startup",
     "ignore", None, None),
    ({"type": "strategy_msg",
      "msg": json.dumps({"signal_strength": 0.82, "pair": "ETH/USDT",
                         "rate": 3512.4, "macd_hist": -1.8,
                         "trend": "down"})},
     "strategy_msg", "strong", 3512.4, "ETH/USDT"),
    ({"type": "protection_trigger", "id": "4", "pair": "BTC/USDT",
      "base_currency": "BTC", "lock_time": "2025-06-01 08:00:00",
      "lock_timestamp": "1748764800000",
      "lock_end_time": "2025-06-01 09:00:00",
      "lock_end_timestamp": "1748768400000", "reason": "StoplossGuard",
      "side": "long", "active": "True"}, "protection_trigger", "ignore",
     None, "BTC/USDT"),
    ({"type": "protection_trigger_global", "id": "5", "pair": "*",
      "base_currency": "*", "lock_time": "2025-06-01 08:00:00",
      "lock_timestamp": "1748764800000",
      "lock_end_time": "2025-06-01 09:00:00",
      "lock_end_timestamp": "1748768400000", "reason": "MaxDrawdown",
      "side": "*", "active": "True"}, "protection_trigger_global",
     "ignore", None, None),
]

PRIORITY = {"strong": "P0", "medium": "P1", "weak": "P2", "ignore": None}


def test_every_message_type_is_stored_graded_and_published(ingest,
                                                            pg_dsn):
    sid, token, name = add_strategy(pg_dsn)
    ids = []
    for msg, action, level, rate, pair in MESSAGES:
        code, body = ingest.send(sid, token, msg)
        assert code == 200, (msg, body)
        assert body["status"] == "stored", body
        assert body["level"] == level, (msg, body)
        assert body["priority"] == PRIORITY[level]
        ids.append(body["id"])
    assert ids == sorted(ids)

    for (msg, action, level, rate, pair), sig_id in zip(MESSAGES, ids):
        s = ingest.ok("ingest.signals.get", {"id": sig_id})
        assert s["strategy_id"] == sid and s["strategy_name"] == name
        assert (s["action"], s["level"], s["priority"]) == (
            action, level, PRIORITY[level])
        assert s["rate"] == rate and s["pair"] == pair, s
        assert s["raw"] == msg  # the body as received
    first = ingest.ok("ingest.signals.get", {"id": ids[1]})
    assert first["trade_id"] == 1 and first["direction"] == "long"
    assert first["amount"] == 0.001556 and first["stake_currency"] == "USDT"
    assert first["strength"] == 0.86
    assert first["indicators"] == {"signal_strength": 0.86, "rsi": 28.4}
    assert first["event_at"] == "2025-06-01T08:00:02.117Z"
    ex = ingest.ok("ingest.signals.get", {"id": ids[4]})
    assert (ex["profit_ratio"], ex["profit_abs"]) == (0.0028, 0.28)
    assert ex["exit_reason"] == "roi strength=0.65"
    assert ex["direction"] == "short"
    msg = ingest.ok("ingest.signals.get", {"id": ids[10]})
    assert msg["indicators"] == {"signal_strength": 0.82,
                                 "macd_hist": -1.8, "trend": "down"}
    st = ingest.ok("ingest.signals.get", {"id": ids[6]})
    assert st["message"] == "running" and st["event_at"] is None

    # one signal.new per stored signal, the same data minus raw
    events = wait_for(lambda: len(ingest.signal_events(sid)) == len(ids)
                      and ingest.signal_events(sid), what="signal.new")
    assert [e["id"] for e in events] == ids
    got = ingest.ok("ingest.signals.get", {"id": ids[0]})
    del got["raw"]
    assert events[0] == got
    m = ingest.metrics()
    assert m["btcw_ingest_stored_total"] >= len(ids)
    assert m["btcw_ingest_published_total"] >= len(ids)


def test_form_and_raw_formats(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    form = "type=exit_fill&trade_id=11&pair=BTC%2FUSDT&close_rate=65000.5" \
           "&exit_reason=roi+strength%3D0.9&close_date=2025-06-01+09%3A00%3A00"
    code, body = ingest.send(sid, token, form,
                             ctype="application/x-www-form-urlencoded")
    assert (code, body["level"]) == (200, "strong"), body
    s = ingest.ok("ingest.signals.get", {"id": body["id"]})
    assert (s["action"], s["rate"], s["pair"]) == ("exit_fill", 65000.5,
                                                   "BTC/USDT")
    assert s["raw"]["exit_reason"] == "roi strength=0.9"

    raw = "type=entry\ntrade_id=12\npair=ETH/USDT\nopen_rate=3500\n" \
          "enter_tag=strength=0.61\nopen_date=2025-06-01 08:00:00"
    code, body = ingest.send(sid, token, raw, ctype="text/plain")
    assert (code, body["level"]) == (200, "medium"), body
    s = ingest.ok("ingest.signals.get", {"id": body["id"]})
    assert s["raw"] == {"data": raw}
    assert (s["action"], s["trade_id"], s["rate"]) == ("entry", 12, 3500)

    code, body = ingest.send(sid, token,
                             json.dumps({"type": "status",
                                         "status": "from raw json"}),
                             ctype="text/plain; charset=utf-8")
    assert code == 200, body
    s = ingest.ok("ingest.signals.get", {"id": body["id"]})
    assert s["message"] == "from raw json"


def test_credentials_in_the_query_or_the_body(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    code, body = ingest.post(f"{WEBHOOK}/{sid}?token={token}",
                             entry("entry", 21))
    assert code == 200, body
    code, body = ingest.post(f"{WEBHOOK}?strategy_id={sid}&token={token}",
                             entry("entry", 22))
    assert code == 200, body
    code, body = ingest.post(WEBHOOK, dict(entry("entry", 23),
                                           strategy_id=str(sid),
                                           token=token))
    assert code == 200, body
    s = ingest.ok("ingest.signals.get", {"id": body["id"]})
    assert "token" not in s["raw"] and "strategy_id" not in s["raw"]
    assert token not in psql(pg_dsn, f"SELECT raw::text FROM signals "
                                     f"WHERE strategy_id = {sid}")
    code, body = ingest.post(WEBHOOK, entry("entry", 24))
    assert (code, body["error"]) == (404, "not_found")


def raw_request(port, data, read_timeout=5):
    """Send bytes on a raw socket; return what comes back until close
    or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(read_timeout)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            if len(rest) >= int(line.split(b":")[1]):
                                return out
        except socket.timeout:
            pass
        return out


def test_unreadable_strength_in_a_tag_is_kept(ingest, pg_dsn):
    """FreqTrade relays the strategy's enter_tag as it is and, refused,
    retries and then drops the whole signal: a strength there that is
    not from 0 to 1 is stored, graded as none (ignore, not clamped to a
    P0), with a warning in the answer, the log and a counter."""
    sid, token, _ = add_strategy(pg_dsn)
    metric = "btcw_ingest_strength_unreadable_total"
    before = ingest.metrics()[metric]
    code, body = ingest.send(sid, token,
                             entry("entry", 41, tag="ema strength=85 rsi=30"))
    assert code == 200, body
    assert (body["status"], body["level"], body["priority"]) == (
        "stored", "ignore", None)
    assert "'enter_tag'" in body["warning"] and "'85'" in body["warning"]
    s = ingest.ok("ingest.signals.get", {"id": body["id"]})
    assert s["strength"] == 0 and s["level"] == "ignore"
    assert s["indicators"] == {"signal_strength_invalid": "85", "rsi": 30}
    assert s["enter_tag"] == "ema strength=85 rsi=30"
    assert ingest.metrics()[metric] == before + 1
    assert any(ev["strength"] == 0 and ev["indicators"].get(
        "signal_strength_invalid") == "85"
        for ev in wait_for(lambda: ingest.signal_events(sid),
                           what="signal.new"))
    # FreqTrade's retry is the same signal, and says the same
    code, again = ingest.send(sid, token,
                              entry("entry", 41, tag="ema strength=85 rsi=30"))
    assert (code, again["status"]) == (200, "duplicate")
    assert again["warning"] == body["warning"]
    # a readable strength has no warning
    code, good = ingest.send(sid, token, entry("entry", 42))
    assert code == 200 and "warning" not in good, good
    assert ingest.metrics()[metric] == before + 2
    logged = [e for e in ingest.proc.log_events()
              if e.get("event") == "ingest.strength_unreadable"]
    assert len(logged) == 2 and logged[0]["strategy_id"] == sid
    assert logged[0]["warning"] == body["warning"]


def test_bad_inputs_are_refused_and_nothing_stored(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    gone, gone_token, _ = add_strategy(pg_dsn)
    delete_strategy(pg_dsn, gone)
    good = entry("entry", 31)

    def refused(status, code, path=None, body=good, **kw):
        got, b = ingest.post(path or f"{WEBHOOK}/{sid}/{token}", body, **kw)
        assert (got, b["error"]) == (status, code), b
        assert set(b) == {"error", "detail"}
        return b["detail"]

    # who is asking: unknown, wrong token and deleted look the same
    d1 = refused(404, "not_found", f"{WEBHOOK}/{sid}/{token}x")
    d2 = refused(404, "not_found", f"{WEBHOOK}/999999/{token}")
    d3 = refused(404, "not_found", f"{WEBHOOK}/{gone}/{gone_token}")
    assert d1 == d2 == d3
    refused(404, "not_found", f"{WEBHOOK}/abc/{token}")
    refused(404, "not_found", "/api/v1/other")
    # what is sent
    refused(415, "unsupported_media_type", ctype="application/xml")
    refused(415, "unsupported_media_type", ctype=None)
    assert "JSON" in refused(400, "invalid_json", body="{not json")
    assert "'trade_id'" in refused(
        400, "invalid_field", body=dict(good, trade_id=31))
    assert "'open_rate'" in refused(
        400, "invalid_field", body=dict(good, open_rate="sixty"))
    assert "'type'" in refused(400, "invalid_field",
                               body={"pair": "BTC/USDT"})
    assert "moon" in refused(422, "unknown_message_type",
                             body=dict(good, type="moon"))
    refused(422, "unsupported_message_type",
            body={"type": "new_candle", "data": "BTC/USDT"})
    # a strength out of range in the field a sender writes itself (in
    # a tag it is kept: test_unreadable_strength_in_a_tag_is_kept)
    assert "'signal_strength'" in refused(
        400, "invalid_field", body=dict(good, signal_strength="7"))

    # a body over the limit: refused from its Content-Length, unread
    limit = 65536
    head = (f"POST {WEBHOOK}/{sid}/{token} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {limit * 100}\r\n\r\n").encode()
    out = raw_request(ingest.ports["http"], head + b"{" * 1000)
    status, _, rest = out.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413"), out
    body = json.loads(out.partition(b"\r\n\r\n")[2])
    assert body["error"] == "payload_too_large"
    # and through a client that sends it all
    code, b = ingest.post(f"{WEBHOOK}/{sid}/{token}",
                          json.dumps(dict(good, pad="x" * limit)))
    assert (code, b["error"]) == (413, "payload_too_large")

    # the method
    conn = http.client.HTTPConnection("127.0.0.1", ingest.ports["http"])
    conn.request("GET", f"{WEBHOOK}/{sid}/{token}")
    r = conn.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "POST"
    assert json.loads(r.read())["error"] == "method_not_allowed"
    conn.close()

    assert psql(pg_dsn, f"SELECT count(*) FROM signals WHERE strategy_id "
                        f"IN ({sid}, {gone})") == "0"
    m = ingest.metrics()
    for reason in ("not_found", "unsupported_media_type", "invalid_json",
                   "invalid_field", "unknown_message_type",
                   "payload_too_large", "method_not_allowed"):
        assert m[f'btcw_ingest_rejected_total{{reason="{reason}"}}'] >= 1
    assert not ingest.signal_events(sid)


def test_the_same_webhook_twice_is_stored_once(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    msg = entry("entry_fill", 41)
    code, first = ingest.send(sid, token, msg)
    assert (code, first["status"]) == (200, "stored")
    code, again = ingest.send(sid, token, msg)
    assert (code, again["status"]) == (200, "duplicate"), again
    # the same message as a form body is the same message too
    code, form = ingest.send(
        sid, token, "&".join(f"{k}={v}" for k, v in msg.items())
        .replace("+", "%2B").replace(" ", "+"),
        ctype="application/x-www-form-urlencoded")
    assert (code, form["status"]) == (200, "duplicate"), form
    # a message without times of its own: a retry is the same one
    st = {"type": "status", "status": "running"}
    assert ingest.send(sid, token, st)[1]["status"] == "stored"
    assert ingest.send(sid, token, st)[1]["status"] == "duplicate"
    # the same trade's next message is a new one
    assert ingest.send(sid, token, entry("entry_fill", 41,
                                         when="2025-06-01 08:05:00"))[1][
        "status"] == "stored"
    assert psql(pg_dsn, f"SELECT count(*) FROM signals "
                        f"WHERE strategy_id = {sid}") == "3"
    time.sleep(0.5)
    assert len(ingest.signal_events(sid)) == 3
    assert ingest.metrics()["btcw_ingest_duplicates_total"] >= 3


def test_many_senders_at_once_are_each_answered(ingest, pg_dsn):
    """Concurrent webhooks form batches; every one gets its own id."""
    import threading
    sid, token, _ = add_strategy(pg_dsn)
    results, lock = [], threading.Lock()

    def sender(n):
        conn = http.client.HTTPConnection("127.0.0.1",
                                          ingest.ports["http"], timeout=10)
        for i in range(25):
            body = json.dumps(entry("entry", n * 1000 + i))
            conn.request("POST", f"{WEBHOOK}/{sid}/{token}", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            with lock:
                results.append((r.status, json.loads(r.read())))
        conn.close()

    threads = [threading.Thread(target=sender, args=(n,))
               for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 400
    assert all(code == 200 and b["status"] == "stored"
               for code, b in results), results[:3]
    assert len({b["id"] for _, b in results}) == 400
    assert psql(pg_dsn, f"SELECT count(*) FROM signals "
                        f"WHERE strategy_id = {sid}") == "400"
    m = ingest.metrics()
    assert m["btcw_ingest_batch_rows_count"] < m[
        "btcw_ingest_batch_rows_sum"], "no batch held more than one row"


def test_rpc_list_filters_paging_and_stats(ingest, pg_dsn):
    a, ta, na = add_strategy(pg_dsn)
    b, tb, nb = add_strategy(pg_dsn, strong=0.9, medium=0.5, weak=0.1)
    sent = []
    for i, (sid, tok) in enumerate([(a, ta), (a, ta), (b, tb), (a, ta),
                                    (b, tb)]):
        m = entry("entry", 100 + i, tag=f"strength=0.{5 + i}")
        if i == 3:
            m = exit_("exit_fill", 100 + i, reason="roi strength=0.95")
        code, body = ingest.send(sid, tok, m)
        assert code == 200, body
        sent.append((sid, body["id"], body["level"]))
    mine = [x[1] for x in sent]
    since = ingest.ok("ingest.signals.get", {"id": mine[0]})["received_at"]

    def ids(params):
        res = ingest.ok("ingest.signals.list", params)
        return [s["id"] for s in res["signals"]], res["has_more"]

    assert ids({"strategy_id": a}) == (
        sorted([i for s, i, _ in sent if s == a], reverse=True), False)
    assert ids({"strategy_id": a, "order": "asc", "limit": 2}) == (
        [mine[0], mine[1]], True)
    assert ids({"strategy_id": a, "order": "asc", "after_id": mine[1]}) \
        == ([mine[3]], False)
    assert ids({"strategy_id": a, "before_id": mine[3]}) == (
        [mine[1], mine[0]], False)
    assert ids({"strategy_id": b, "level": "strong"}) == ([mine[4]], False)
    assert ids({"strategy_id": a, "action": "exit_fill"}) == (
        [mine[3]], False)
    assert ids({"strategy_id": a, "pair": "ETH/USDT"}) == ([mine[3]], False)
    assert ids({"strategy_id": a, "since": since, "until": since}) == (
        [], False)
    listed = ingest.ok("ingest.signals.list",
                       {"strategy_id": a, "include_raw": True,
                        "limit": 1})["signals"][0]
    assert listed["raw"]["type"] == "exit_fill"
    assert "raw" not in ingest.ok("ingest.signals.list",
                                  {"strategy_id": a})["signals"][0]

    stats = ingest.ok("ingest.signal_stats.get", {"strategy_id": b})
    levels = [lv for s, _, lv in sent if s == b]
    assert stats["total"] == 2 and stats["until"] is None
    assert [x["strategy_id"] for x in stats["by_strategy"]] == [b]
    row = stats["by_strategy"][0]
    assert row["strategy_name"] == nb and row["total"] == 2
    for lv in ("strong", "medium", "weak", "ignore"):
        assert stats["by_level"][lv] == levels.count(lv) == row[lv]
    everything = ingest.ok("ingest.signal_stats.get", {"since": since})
    assert everything["since"] == since and everything["total"] >= 5

    for bad in ({"strategy_id": 0}, {"level": "huge"}, {"order": "up"},
                {"limit": 1001}, {"since": "yesterday"}, {"nope": 1},
                {"pair": 3}, {"include_raw": "yes"}):
        rep = ingest.call("ingest.signals.list", bad)
        assert not rep["ok"] and rep["error"]["code"] == "invalid", bad
        assert rep["error"]["details"]["field"] in bad
    rep = ingest.call("ingest.signals.get", {"id": 2 ** 40})
    assert rep["error"]["code"] == "not_found"
    rep = ingest.call("ingest.signals.get", {})
    assert rep["error"]["code"] == "invalid"


def publish_strategy_state(port, sid):
    """Play the supervisor: listen on its events port and publish a
    strategy.state event for sid a few times (the subscriber redials)."""
    env = {"v": 1, "id": f"supervisor-test-{sid}", "topic": "strategy.state",
           "ts": "2025-06-01T08:00:00.000Z",
           "data": {"strategy_id": sid, "status": "deleted"}}
    return subprocess.Popen(
        ["nngcat", "--pub", "--listen", f"tcp://127.0.0.1:{port}",
         "--data", "strategy.state " + json.dumps(env), "--interval",
         "1", "--count", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_deleted_strategy_is_refused(ingest, pg_dsn, confdir):
    sid, token, _ = add_strategy(pg_dsn)
    assert ingest.send(sid, token, entry("entry", 51))[0] == 200
    delete_strategy(pg_dsn, sid)
    # the supervisor announces the change: the cache reloads at once
    reloads = ingest.metrics()["btcw_ingest_strategy_reloads_total"]
    pub = publish_strategy_state(confdir.ports["ft-supervisor"]["events"],
                                 sid)
    try:
        wait_for(lambda: ingest.metrics()[
            "btcw_ingest_strategy_reloads_total"] > reloads, timeout=10,
            what="a reload after strategy.state")
    finally:
        pub.kill()
        pub.wait()
    code, body = ingest.send(sid, token, entry("entry", 52))
    assert (code, body["error"]) == (404, "not_found")
    assert psql(pg_dsn, f"SELECT count(*) FROM signals "
                        f"WHERE strategy_id = {sid}") == "1"


def test_metrics_and_readiness(ingest):
    code, text = http_get(
        f"http://127.0.0.1:{ingest.ports['admin']}/readyz")
    assert code == 200
    checks = json.loads(text)["checks"]
    for name in ("postgres", "strategies", "commit_pool", "spool"):
        assert checks[name] == "ok", checks
    m = ingest.metrics()
    for name in ("btcw_ingest_accepted_total", "btcw_ingest_spooled_total",
                 "btcw_ingest_replayed_total", "btcw_ingest_spool_bytes",
                 "btcw_ingest_spooling", "btcw_ingest_commit_seconds_count",
                 "btcw_ingest_batch_rows_count"):
        assert name in m, name
    assert m["btcw_ingest_spooling"] == 0


def test_body_limit_follows_a_reload(ingest, pg_dsn, confdir):
    import signal
    sid, token, _ = add_strategy(pg_dsn)
    big = dict(entry("entry", 61), pad="x" * 3000)
    assert ingest.send(sid, token, big)[0] == 200
    path = confdir / "system.yml"
    text = path.read_text()
    assert "max_body_bytes: 65536" in text
    path.write_text(text.replace("max_body_bytes: 65536",
                                 "max_body_bytes: 2048"))
    ingest.proc.signal(signal.SIGHUP)
    wait_for(lambda: any(e.get("event") == "config.reloaded"
                         for e in ingest.proc.log_events()),
             what="the reload")
    code, body = ingest.send(sid, token, dict(big, trade_id="62"))
    assert (code, body["error"]) == (413, "payload_too_large")
    assert "2048" in body["detail"]
    assert ingest.send(sid, token, entry("entry", 63))[0] == 200


def test_sigterm_answers_what_is_in_flight(ingest, pg_dsn):
    """A graceful stop finishes the webhooks it has taken."""
    import threading
    sid, token, _ = add_strategy(pg_dsn)
    answers, lock = [], threading.Lock()

    def sender(n):
        conn = http.client.HTTPConnection("127.0.0.1",
                                          ingest.ports["http"], timeout=10)
        for i in range(200):
            try:
                conn.request("POST", f"{WEBHOOK}/{sid}/{token}",
                             body=json.dumps(entry("entry", n * 1000 + i)),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                with lock:
                    answers.append((n * 1000 + i, r.status))
                r.read()
            except (OSError, http.client.HTTPException):
                break
        conn.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(answers) >= 50, what="some answers")
    assert ingest.proc.stop() == 0
    for t in threads:
        t.join(10)
    acked = {n for n, status in answers if status == 200}
    stored = set(map(int, psql(pg_dsn, f"SELECT trade_id FROM signals "
                                       f"WHERE strategy_id = {sid}")
                     .split()))
    assert acked <= stored
