"""ftsim's webhooks as a real local HTTP server receives them: templates
rendered with FreqTrade's placeholders and Python str.format rules, every
JSON value a string, json/form/raw formats, legacy template keys, unknown
placeholders, retries, retry_delay and timeout, the trading loop waiting
for the webhook while the API keeps answering, and strategy_msg."""
import base64
import json
import re
import ssl
import subprocess
import time
import urllib.parse

import pytest

from conftest import wait_for
from test_ftsim import STATUS_TMPL, Bot, Hook, ping_ok, statuses
from test_ftsim import hook  # noqa: F401 (a fixture)

ENTRY_TMPL = {
    "event": "{type}", "id": "{trade_id}", "pair": "{pair}",
    "rate": "{open_rate}", "rate2": "{open_rate:.2f}",
    "date": "{open_date}", "day": "{open_date:%Y-%m-%d %H:%M:%S}",
    "tag": "{enter_tag}", "fiat": "{fiat_currency}", "amount": "{amount}",
    "stake": "{stake_amount}", "exchange": "{exchange}",
    "direction": "{direction}", "sub": "{sub_trade}",
    "braces": "{{literal}}", "leverage": "{leverage}",
}
EXIT_TMPL = {
    "event": "{type}", "id": "{trade_id}", "pair": "{pair}",
    "gain": "{gain}", "close": "{close_rate}", "profit": "{profit_amount}",
    "ratio": "{profit_ratio}", "pct": "{profit_ratio:.2%}",
    "reason": "{exit_reason}", "close_date": "{close_date}",
    "final": "{final_profit_ratio}", "is_final": "{is_final_exit}",
    "cumulative": "{cumulative_profit}", "current": "{current_rate}",
}
PY_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


def webhook(hook, **kw):
    wh = {"enabled": True, "url": hook.url(), "format": "json",
          "status": STATUS_TMPL, "entry_fill": ENTRY_TMPL,
          "exit_fill": EXIT_TMPL}
    wh.update(kw)
    return {"webhook": wh}


def test_json_bodies_every_value_a_string(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, webhook(hook))
    entry = hook.wait_json(lambda j: j.get("event") == "entry_fill")[0]
    ex = hook.wait_json(lambda j: j.get("event") == "exit_fill")[0]
    req = hook.reqs[0]
    assert req["path"] == "/hook/7?token=s3cret"  # secrets go in the URL
    assert req["headers"]["Content-Type"] == "application/json"
    for body in hook.json():
        assert all(isinstance(v, str) for v in body.values()), body

    assert re.match(r"^\d+$", entry["id"])
    assert entry["pair"] in ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    assert entry["rate2"] == f"{float(entry['rate']):.2f}"
    assert PY_DATE.match(entry["date"]), entry["date"]
    assert entry["day"] == entry["date"][:19]
    assert re.match(r"^strength=[01]\.\d\d$", entry["tag"])
    assert entry["fiat"] == "None" and entry["sub"] == "False"
    assert entry["exchange"] == "Binance" and entry["direction"] == "Long"
    assert entry["braces"] == "{literal}" and entry["leverage"] == "1.0"
    # Python's repr of floats: no trailing zeros beyond one decimal
    assert not re.search(r"\.\d*0$", entry["rate"]) or \
        entry["rate"].endswith(".0")

    assert ex["gain"] in ("profit", "loss") and ex["is_final"] == "True"
    assert ex["current"] == "None"  # fills carry no current rate
    assert ex["final"] == ex["ratio"] and ex["cumulative"] == ex["profit"]
    assert ex["pct"].endswith("%")
    assert PY_DATE.match(ex["close_date"])
    trade = bot.ok("GET", f"/trade/{ex['id']}")
    assert float(ex["close"]) == trade["close_rate"]
    assert float(ex["profit"]) == trade["profit_abs"]
    assert ex["reason"] == trade["exit_reason"]
    first = bot.ok("GET", f"/trade/{entry['id']}")
    assert float(entry["rate"]) == first["open_rate"]
    assert float(entry["amount"]) == first["amount"]


def test_startup_sequence(spawn, tmp_path, hook):
    Bot(spawn, tmp_path, webhook(hook, warning=STATUS_TMPL,
                                 startup=STATUS_TMPL))
    hook.wait_json(lambda j: j.get("type") == "startup" and
                   "Searching for USDT pairs" in j["status"],
                   what="startup messages")
    first = [j for j in hook.json() if "type" in j][:4]
    assert first[0] == {"type": "status", "status": "running"}
    assert first[1] == {"type": "warning", "status":
                        "Dry run is enabled. All trades are simulated."}
    assert first[2]["type"] == "startup"
    assert "*Exchange:* `binance`" in first[2]["status"]
    assert "*Stake per trade:* `100 USDT`" in first[2]["status"]
    assert first[3]["status"] == ("Searching for USDT pairs to buy and sell "
                                  "based on [{'StaticPairList': "
                                  "'StaticPairList'}]")


def test_form_and_raw_formats(spawn, tmp_path):
    form, raw = Hook(), Hook()
    try:
        Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": form.url("/f"), "format": "form",
            "status": {"status": "{status}", "note": "a b&c/d"}}},
            name="form")
        Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": raw.url("/r"), "format": "raw",
            "status": {"data": "bot is {status}!"}}}, name="raw")
        wait_for(lambda: form.bodies() and raw.bodies(), what="webhooks")
        r = form.reqs[0]
        assert r["headers"]["Content-Type"] == \
            "application/x-www-form-urlencoded"
        assert r["body"] == b"status=running&note=a+b%26c%2Fd"
        assert urllib.parse.parse_qs(r["body"].decode()) == {
            "status": ["running"], "note": ["a b&c/d"]}
        r = raw.reqs[0]
        assert r["headers"]["Content-Type"] == "text/plain"
        assert r["body"] == b"bot is running!"
    finally:
        form.close()
        raw.close()


def test_legacy_keys_and_explicit_priority(spawn, tmp_path, hook):
    Bot(spawn, tmp_path, {"webhook": {
        "enabled": True, "url": hook.url(), "format": "json",
        "webhookstatus": {"legacy": "{status}"},
        "warning": {"explicit": "{status}"},
        "webhookentryfill": {"legacy_fill": "{pair}"}}})
    hook.wait_json(lambda j: "legacy_fill" in j, what="legacy entry fill")
    bodies = hook.json()
    assert {"legacy": "running"} in bodies
    assert {"explicit": "Dry run is enabled. All trades are simulated."} \
        in bodies
    # webhookstatus covers startup messages too
    assert any(b.get("legacy", "").startswith("Searching for") for b in
               bodies)


def test_unknown_placeholder_skips_the_message(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, webhook(
        hook, status={"s": "{status}", "who": "{bot_name}"}))
    hook.wait_json(lambda j: j.get("event") == "entry_fill",
                   what="entries still sent")
    assert not any("who" in j for j in hook.json())
    wait_for(lambda: "Problem calling Webhook. Please check your webhook "
             "configuration. Exception: 'bot_name'" in bot.log(),
             what="the KeyError log")
    logs = bot.ok("GET", "/logs")["logs"]
    row = [r for r in logs if "Problem calling Webhook" in r[4]][0]
    assert row[3] == "ERROR" and "KeyError: 'bot_name'" in row[4]


def test_bad_format_spec_is_logged(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, webhook(
        hook, entry_fill={"x": "{fiat_currency:.2f}"}))
    wait_for(lambda: "Exception occurred within RPC module webhook" in
             bot.log(), what="the TypeError log")
    assert "unsupported format string passed to NoneType.__format__" in \
        bot.log()


def test_retries_with_delay(spawn, tmp_path):
    hook = Hook(statuses=[500, 503])
    try:
        bot = Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": hook.url(), "format": "json",
            "retries": 2, "retry_delay": 0.4, "status": STATUS_TMPL}})
        wait_for(lambda: len(hook.reqs) >= 3, what="3 attempts")
        first = hook.reqs[:3]
        assert [r["status"] for r in first] == [500, 503, 200]
        assert all(r["body"] == first[0]["body"] for r in first)
        for a, b in zip(first, first[1:]):
            assert b["t"] - a["t"] >= 0.35
        log = bot.log()
        assert log.count("Retrying webhook...") == 2
        assert "Could not call webhook url. Exception: 500 Server Error: " \
               "Internal Server Error for url: " + hook.url() in log
    finally:
        hook.close()


def test_gives_up_after_retries(spawn, tmp_path):
    hook = Hook(statuses=[404, 404, 404])
    try:
        bot = Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": hook.url(), "format": "json",
            "retries": 1, "retry_delay": 0.1, "status": STATUS_TMPL,
            "warning": STATUS_TMPL}})
        wait_for(lambda: len(hook.reqs) >= 3, what="next message")
        # "running" was tried twice and dropped; the next one goes on
        assert hook.reqs[0]["body"] == hook.reqs[1]["body"]
        assert hook.reqs[2]["body"] != hook.reqs[0]["body"]
        assert "404 Client Error: Not Found" in bot.log()
    finally:
        hook.close()


def test_timeout_and_refused(spawn, tmp_path):
    slow = Hook(delay=2.0)
    try:
        bot = Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": slow.url(), "format": "json",
            "timeout": 0.5, "status": STATUS_TMPL}}, name="slow")
        wait_for(lambda: "Read timed out" in bot.log(), what="timeout")
        dead = Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "url": "http://127.0.0.1:9/x", "format": "json",
            "status": STATUS_TMPL}}, name="dead")
        wait_for(lambda: "Could not call webhook url" in dead.log(),
                 what="refused")
        assert dead.proc.alive()
    finally:
        slow.close()


def test_trading_waits_for_the_webhook_but_the_api_answers(spawn, tmp_path):
    hook = Hook(delay=1.2)
    try:
        bot = Bot(spawn, tmp_path, webhook(hook, warning=STATUS_TMPL,
                                           startup=STATUS_TMPL))
        # status + warning + 2 startup messages: ~5 s before any trade
        for _ in range(5):
            t0 = time.monotonic()
            assert ping_ok(bot.port)
            assert bot.ok("GET", "/status") == []
            assert time.monotonic() - t0 < 0.5
            time.sleep(0.5)
        wait_for(lambda: bot.ok("GET", "/status"), timeout=20,
                 what="trading after the webhooks")
    finally:
        hook.close()


def test_strategy_msg_needs_allow_custom_messages(spawn, tmp_path, hook):
    bot = Bot(spawn, tmp_path, webhook(
        hook, allow_custom_messages=True,
        strategy_msg={"kind": "{type}", "msg": "{msg}"}))
    m = hook.wait_json(lambda j: j.get("kind") == "strategy_msg")[0]
    sig = json.loads(m["msg"])
    assert 0 <= sig["signal_strength"] <= 1
    assert sig["pair"] in ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    assert "Sending rpc strategy_msg" in bot.log()


def test_no_strategy_msg_without_allow_custom_messages(spawn, tmp_path,
                                                       hook):
    Bot(spawn, tmp_path, webhook(hook, strategy_msg={"msg": "{msg}"}))
    hook.wait_json(lambda j: j.get("event") == "exit_fill", what="exits")
    assert not any("msg" in j for j in hook.json())


@pytest.mark.parametrize("stake", [100, "unlimited"])
def test_stake_amount_in_messages(spawn, tmp_path, hook, stake):
    bot = Bot(spawn, tmp_path, {**webhook(hook), "stake_amount": stake})
    e = hook.wait_json(lambda j: j.get("event") == "entry_fill")[0]
    assert 5 <= float(e["stake"]) <= 330
    assert bot.ok("GET", "/show_config")["stake_amount"] == str(stake)
    assert "running" in statuses(hook)


def test_entry_and_exit_templates_before_the_fills(spawn, tmp_path, hook):
    """_notify_enter/_notify_exit without fill: the order is placed, the
    trade not yet filled (entry) or still open (exit)."""
    entry = dict(ENTRY_TMPL, current="{current_rate}")
    ex = dict(EXIT_TMPL, limit="{limit}", otype="{order_type}")
    bot = Bot(spawn, tmp_path, webhook(hook, entry=entry, exit=ex))
    wait_for(lambda: [j for j in hook.json() if j.get("event") ==
                      "exit_fill"], what="an exit fill")
    bodies = hook.json()
    events = [(j["event"], j["id"]) for j in bodies if "event" in j]
    e = [j for j in bodies if j.get("event") == "entry"][0]
    assert events.index(("entry", e["id"])) < \
        events.index(("entry_fill", e["id"]))
    assert re.match(r"^strength=[01]\.\d\d$", e["tag"])
    assert float(e["current"]) > 0 and float(e["rate"]) > 0
    assert e["sub"] == "False" and e["direction"] == "Long"
    x = [j for j in bodies if j.get("event") == "exit"][0]
    fill = [j for j in bodies if j.get("event") == "exit_fill" and
            j["id"] == x["id"]][0]
    assert events.index(("exit", x["id"])) < \
        events.index(("exit_fill", x["id"]))
    # the exit is ordered while the trade is open: not final yet
    assert x["is_final"] == "False" and x["final"] == "None"
    assert x["cumulative"] == "0.0"
    assert float(x["current"]) > 0  # the rate the exit was decided at
    assert x["close"] == fill["close"] and x["limit"] == x["close"]
    assert x["otype"] in ("limit", "market")
    assert PY_DATE.match(x["close_date"])
    assert x["reason"] == fill["reason"] == \
        bot.ok("GET", f"/trade/{x['id']}")["exit_reason"]


def test_whitelist_and_new_candle_templates(spawn, tmp_path, hook):
    """Data messages reach the webhook only with an explicit template;
    their data prints as Python prints a list and a tuple."""
    bot = Bot(spawn, tmp_path, {**webhook(
        hook, whitelist={"wl": "{data}"},
        new_candle={"kind": "{type}", "key": "{data}"}),
        "timeframe": "1s", "ftsim": {"entries_per_minute": 0}})
    hook.wait_json(lambda j: j.get("kind") == "new_candle",
                   what="new_candle")
    keys = {j["key"] for j in hook.json() if j.get("kind") == "new_candle"}
    assert "('BTC/USDT', '1s', <CandleType.SPOT: 'spot'>)" in keys
    bot.ok("POST", "/blacklist", body={"blacklist": ["SOL/USDT"]})
    m = hook.wait_json(lambda j: "wl" in j, what="whitelist")[0]
    assert m == {"wl": "['BTC/USDT', 'ETH/USDT']"}
    # not echoed in the log, as FreqTrade's NO_ECHO_MESSAGES
    assert "'type': new_candle" not in bot.log()
    assert "'type': whitelist" not in bot.log()


def test_request_as_requests_sends_it(spawn, tmp_path, hook):
    """Headers requests.post sends, user:password of the URL as Basic
    auth, a host name resolved (localhost, from /etc/hosts)."""
    port = hook.srv.server_address[1]
    Bot(spawn, tmp_path, {"webhook": {
        "enabled": True, "format": "json", "status": STATUS_TMPL,
        "url": f"http://u%40x:p%3Aw@localhost:{port}/h?k=1"}})
    hook.wait_json(lambda j: j.get("status") == "running", what="status")
    r = hook.reqs[0]
    assert r["path"] == "/h?k=1"
    h = r["headers"]
    assert h["Host"] == f"localhost:{port}"
    assert h["User-Agent"] == "python-requests/2.32.3"
    assert h["Accept"] == "*/*"
    assert h["Accept-Encoding"] == "gzip, deflate"
    assert h["Content-Length"] == str(len(r["body"]))
    assert h["Authorization"] == "Basic " + base64.b64encode(
        b"u@x:p:w").decode()


def test_unresolvable_host_is_a_failed_call(spawn, tmp_path):
    bot = Bot(spawn, tmp_path, {"webhook": {
        "enabled": True, "format": "json", "status": STATUS_TMPL,
        "url": "http://no-such-host.invalid/x"}})
    # without a reachable name server the resolver times out instead
    wait_for(lambda: "Failed to resolve 'no-such-host.invalid'" in
             bot.log(), timeout=60, what="the resolver's answer")
    assert "Could not call webhook url" in bot.log()
    assert ping_ok(bot.port)


@pytest.fixture
def tls_hook(tmp_path):
    """A webhook receiver on https with a certificate for 127.0.0.1 and
    localhost (made with the openssl tool); the CA file to trust it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    h = Hook()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    h.srv.socket = ctx.wrap_socket(h.srv.socket, server_side=True)
    yield h, cert
    h.close()


def test_https_webhook(spawn, tmp_path, tls_hook):
    """https as requests does it: verified against REQUESTS_CA_BUNDLE, by
    IP address and by name."""
    hook, cert = tls_hook
    port = hook.srv.server_address[1]
    env = {"REQUESTS_CA_BUNDLE": str(cert)}
    for host in ("127.0.0.1", "localhost"):
        Bot(spawn, tmp_path, {"webhook": {
            "enabled": True, "format": "json",
            "status": {"host": host, "status": "{status}"},
            "url": f"https://{host}:{port}/tls"}}, name=host, env=env)
        hook.wait_json(lambda j: j.get("host") == host and
                       j["status"] == "running", what=f"https to {host}")
    assert all(r["path"] == "/tls" for r in hook.reqs)


def test_https_untrusted_certificate(spawn, tmp_path, tls_hook):
    hook, _ = tls_hook
    port = hook.srv.server_address[1]
    bot = Bot(spawn, tmp_path, {"webhook": {
        "enabled": True, "format": "json", "status": STATUS_TMPL,
        "url": f"https://127.0.0.1:{port}/tls"}},
        env={"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""})
    wait_for(lambda: "certificate verify failed" in bot.log(),
             what="the verification failure")
    assert f"HTTPSConnectionPool(host='127.0.0.1', port={port})" in \
        bot.log()
    assert hook.reqs == []
