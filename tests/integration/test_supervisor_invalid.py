"""Every invalid input to ft-supervisor is refused with a clear error
(code, the field in details, a message naming the problem) and changes
nothing: the registry rows, the upgrades table and the event stream are
the same before and after."""
import json
import os

from conftest import ROOT
from test_supervisor import sup, sup_factory  # noqa: F401

GOOD = {"name": "valid-one", "strategy_class": "SimStrategy",
        "exchange": "binance", "timeframe": "1h",
        "pair_whitelist": ["BTC/USDT"]}


def create(**over):
    p = dict(GOOD)
    for k, v in over.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return p


# (method, params or a function of the existing id, code, field, words)
CASES = [
    ("create", create(name=None), "invalid", "name", "missing"),
    ("create", create(name=" lead"), "invalid", "name", "letters"),
    ("create", create(exchange="mtgox"), "invalid", "exchange",
     "unknown exchange 'mtgox'"),
    ("create", create(timeframe="2m"), "invalid", "timeframe",
     "unknown timeframe '2m'"),
    ("create", create(pair_whitelist=[]), "invalid", "pair_whitelist",
     "empty"),
    ("create", create(pair_whitelist=["BTCUSDT"]), "invalid",
     "pair_whitelist", "not a pair"),
    ("create", create(thresholds={"strong": 0.5, "medium": 0.7,
                                  "weak": 0.1}),
     "invalid", "thresholds", "weak <= medium <= strong"),
    ("create", create(thresholds={"strong": 1.5, "medium": 0.7,
                                  "weak": 0.1}),
     "invalid", "thresholds.strong", "0 to 1"),
    ("create", create(extra_config={"api_server": {"listen_port": 1}}),
     "forbidden", "extra_config.api_server", "manages it"),
    ("create", create(extra_config={"webhook": {"enabled": False}}),
     "forbidden", "extra_config.webhook", "manages it"),
    ("create", create(extra_config={"db_url": "sqlite://"}),
     "forbidden", "extra_config.db_url", "manages it"),
    ("create", create(extra_config={"datadir": "/tmp"}), "forbidden",
     "extra_config.datadir", "manages it"),
    ("create", create(extra_config={"stake_amount": 5,
                                    "add_config_files": ["strategy_1.json"]}),
     "forbidden", "extra_config.add_config_files", "another bot's secrets"),
    ("create", create(extra_config={"freqaimodel_path": "/tmp"}),
     "forbidden", "extra_config.freqaimodel_path", "import code"),
    ("create", create(extra_config=["x"]), "invalid", "extra_config",
     "object"),
    ("create", create(proxy_id=99), "invalid", "proxy_id",
     "unknown proxy_id 99"),
    ("create", create(auto_start="yes"), "invalid", "auto_start",
     "true or false"),
    ("create", create(color="red"), "invalid", "color", "unknown field"),
    ("create", create(name="EXISTING"), "conflict", "name",
     "already exists"),
    ("update", lambda i: {"id": i, "status": "running"}, "invalid",
     "status", "not writable"),
    ("update", lambda i: {"id": i, "port": 9000}, "invalid", "port",
     "not writable"),
    ("update", lambda i: {"id": i}, "invalid", "params", "at least one"),
    ("update", lambda i: {"id": i, "thresholds": {
        "strong": 0.2, "medium": 0.3, "weak": 0.1}}, "invalid",
     "thresholds", "weak <= medium <= strong"),
    ("update", lambda i: {"id": i, "extra_config": {"exchange": {}}},
     "forbidden", "extra_config.exchange", "manages it"),
    ("update", lambda i: {"id": i, "extra_config": {
        "user_data_dir": "/tmp"}}, "forbidden", "extra_config.user_data_dir",
     "manages it"),
    ("update", lambda i: {"id": i, "extra_config": {
        "add_config_files": ["../configs/strategy_1.json"]}}, "forbidden",
     "extra_config.add_config_files", "another bot's secrets"),
    ("update", lambda i: {"id": i, "name": "other-one"}, "conflict",
     "name", "already exists"),
    ("update", lambda i: {"id": 999999, "version": "v3"}, "not_found",
     None, "no strategy 999999"),
    ("start", {"id": "1"}, "invalid", "id", "integer"),
    ("start", {"id": 0}, "invalid", "id", "integer"),
    ("start", {"id": 999999}, "not_found", None, "no strategy"),
    ("stop", {"id": 999999}, "not_found", None, "no strategy"),
    ("command", lambda i: {"id": i, "command": "shutdown"}, "invalid",
     "command", "start, stop, reload_config or pause"),
    ("command", lambda i: {"id": i, "command": "pause"}, "conflict",
     None, "not running"),
    ("delete", {"id": 999999}, "not_found", None, "no strategy"),
]

OTHER = [
    ("supervisor.logs.get", lambda i: {"strategy_id": i, "limit": 5000},
     "invalid", "limit", "1-1000"),
    ("supervisor.strategies.list", {"status": "sleeping"}, "invalid",
     "status", "unknown status"),
    ("supervisor.strategies.list", {"limit": 0}, "invalid", "limit",
     "1-1000"),
    ("supervisor.processes.list", {"strategy_ids": "1"}, "invalid",
     "strategy_ids", "list of ids"),
    ("supervisor.routes.get", lambda i: {"strategy_id": i}, "not_found",
     None, "not running"),
    ("supervisor.port_pool.get", {"x": 1}, "invalid", "x",
     "unknown field"),
    ("supervisor.upgrade.start", {"target_version": "../evil"},
     "invalid", "target_version", "version"),
    ("supervisor.upgrade.start", {"target_version": "2026.1",
                                  "command": []},
     "invalid", "command", "list of 1-"),
    ("supervisor.upgrade.start", {"target_version": "2026.1",
                                  "force": True},
     "invalid", "force", "unknown field"),
]


def snapshot(s):
    return (s.db("SELECT * FROM strategies WHERE deleted_at IS NULL"
                 " ORDER BY id"),
            s.db("SELECT count(*) FROM freqtrade_upgrades"))


def test_every_invalid_input_is_refused_and_changes_nothing(sup):
    existing = sup.create("existing")["id"]
    sup.create("other-one")
    before = snapshot(sup)
    events = len(sup.events())
    cases = [(f"supervisor.strategies.{m}", p, c, f, w)
             for m, p, c, f, w in CASES] + OTHER
    for method, params, code, field, words in cases:
        if callable(params):
            params = params(existing)
        e = sup.err(method, params, code)
        assert words in e["message"], (method, params, e)
        if field:
            assert e.get("details", {}).get("field") == field, (
                method, params, e)
    assert snapshot(sup) == before
    assert len(sup.events()) == events
    assert not sup.pids()


def test_malformed_envelopes(sup):
    # params of the wrong type for the method's fields
    e = sup.err("supervisor.strategies.get", {"id": [1]}, "invalid")
    assert e["details"]["field"] == "id"
    e = sup.err("supervisor.strategies.create", {}, "invalid")
    assert "missing required field 'name'" == e["message"]


def test_every_key_the_contract_refuses_is_refused(sup):
    """proto's list of refused extra_config keys and the daemon's agree:
    each is forbidden, named in the error, and nothing is stored."""
    path = os.path.join(ROOT, "proto", "schemas", "common",
                        "strategy.schema.json")
    schema = json.load(open(path))
    keys = schema["$defs"]["extra_config"]["propertyNames"]["not"]["enum"]
    # the keys that point a bot at other files are among them
    assert {"add_config_files", "datadir", "user_data_dir", "logfile",
            "freqaimodel_path", "db_url", "strategy_path"} <= set(keys)
    before = snapshot(sup)
    for k in keys:
        e = sup.err("supervisor.strategies.create",
                    create(extra_config={k: "x"}), "forbidden")
        assert e["details"]["field"] == f"extra_config.{k}", e
        assert f"'{k}'" in e["message"], e
    assert snapshot(sup) == before
    # a key that only looks alike is an ordinary setting
    sup.create("near-miss", extra_config={"datadir_note": "x"})
