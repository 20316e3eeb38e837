"""End to end: a bot that the supervisor started (ftsim, configured by the
supervisor with the strategy's own webhook URL and token) delivers its
webhooks to signal-ingest, which stores them graded and serves them back
over RPC and publishes them as signal.new."""
import json
import subprocess

from conftest import call, psql, start_daemon, wait_for
from test_supervisor import sup, sup_factory  # noqa: F401 (fixtures)


def test_supervised_bot_webhooks_reach_the_ingester(sup, spawn, confdir,
                                                    env, pg_dsn, tmp_path):
    ports = confdir.ports["signal-ingest"]
    start_daemon(spawn, "signal-ingest", confdir, env)
    events = tmp_path / "signal.new.txt"
    watcher = subprocess.Popen(
        ["stdbuf", "-oL", "nngcat", "--sub", "--dial",
         f"tcp://127.0.0.1:{ports['events']}", "--subscribe",
         "signal.new ", "--quoted"],
        stdout=open(events, "wb"), stderr=subprocess.DEVNULL)
    try:
        sid = sup.create("e2e", pairs=("BTC/USDT", "ETH/USDT"),
                         thresholds={"strong": 0.8, "medium": 0.6,
                                     "weak": 0.4},
                         extra_config={"ftsim": {
                             "seed": 3, "entries_per_minute": 60}})["id"]
        sup.start_bot(sid)

        def stored(action):
            return int(psql(pg_dsn, "SELECT count(*) FROM signals WHERE "
                            f"strategy_id = {sid} AND action = '{action}'"))
        # the bot reports its state at start, then trades
        wait_for(lambda: stored("status") > 0, timeout=30,
                 what="the bot's status webhook")
        wait_for(lambda: stored("entry") > 0, timeout=90,
                 what="an entry signal from the bot")

        rows = psql(pg_dsn, "SELECT pair, level, strength FROM signals "
                    f"WHERE strategy_id = {sid} AND action = 'entry'")
        pair, level, strength = rows.splitlines()[0].split("|")
        assert pair in ("BTC/USDT", "ETH/USDT")
        s = float(strength)
        want = ("strong" if s >= 0.8 else "medium" if s >= 0.6
                else "weak" if s >= 0.4 else "ignore")
        assert level == want

        rep = call(ports["rpc"], "ingest.signals.list",
                   {"strategy_id": sid, "action": "entry"})
        assert rep["ok"], rep
        items = rep["result"]["signals"]
        assert items and all(i["strategy_id"] == sid for i in items)

        def published():
            for line in events.read_text(errors="replace").splitlines():
                topic, _, body = json.loads(line).partition(" ")
                data = json.loads(body)["data"]
                if data.get("strategy_id") == sid:
                    return data
            return None
        data = wait_for(published, timeout=30, what="signal.new")
        assert data["action"] in ("status", "entry", "entry_fill",
                                  "strategy_msg", "exit", "exit_fill")
    finally:
        watcher.kill()
        watcher.wait()
