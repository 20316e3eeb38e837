"""signal-ingest never loses an acknowledged signal and never stores one
twice: PostgreSQL stopped in the middle of a stream (the spool takes
over and is replayed in order), the ingester killed with SIGKILL under
load, and both at once.

The test PostgreSQL is shared with other tests: it is always started
again before a test ends.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import ROOT, psql, wait_for
from test_ingest import WEBHOOK, Ingest, add_strategy, entry


def _servers(cmd):
    subprocess.run(["bash", "-c", f". scripts/lib/servers.sh; {cmd}"],
                   cwd=ROOT, check=True, env=os.environ, timeout=120)


def pg_stop():
    _servers('srv_pg_stop "$BTCW_TEST_DIR" fast')


def pg_start():
    """Start it again (if it is down): other tests share it."""
    _servers('srv_pg_running "$BTCW_TEST_DIR" || srv_pg_start '
             '"$BTCW_TEST_DIR" "$BTCW_TEST_PG_PORT" fsync=off '
             'full_page_writes=off max_connections=200')


@pytest.fixture
def ingest(spawn, confdir, env, tmp_path):
    i = Ingest(spawn, confdir, env, tmp_path)
    i.start()
    yield i
    i.close()


class Sender(threading.Thread):
    """One FreqTrade bot: sends its webhooks one after another, each
    retried (like FreqTrade's webhook retries) until acknowledged or
    the sender is stopped; records what was acknowledged, in order."""

    def __init__(self, port, sid, token, first, retry=True):
        super().__init__(daemon=True)
        self.port, self.sid, self.token = port, sid, token
        self.first = self.n = first
        self.retry = retry
        self.acked = []       # (trade_id, status, body)
        self.stop_flag = threading.Event()
        self.conn = None

    def post(self, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=10)
        try:
            self.conn.request("POST", f"{WEBHOOK}/{self.sid}/{self.token}",
                              body=body,
                              headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            return r.status, json.loads(r.read())
        except (OSError, http.client.HTTPException, ValueError):
            self.conn.close()
            self.conn = None
            return None, None

    def run(self):
        while not self.stop_flag.is_set():
            secs = self.n % 60
            body = json.dumps(entry(
                "entry_fill", self.n,
                when=f"2025-06-01 08:{self.n // 60 % 60:02d}:{secs:02d}"))
            while not self.stop_flag.is_set():
                status, reply = self.post(body)
                if status in (200, 202):
                    self.acked.append((self.n, status, reply))
                    break
                if not self.retry:
                    break
                time.sleep(0.05)
            self.n += 1
        if self.conn:
            self.conn.close()

    def count(self, status=None):
        return sum(1 for _, s, _ in self.acked if status in (None, s))

    def stop(self):
        self.stop_flag.set()
        self.join(30)
        assert not self.is_alive()


def stored(dsn, sid):
    """[(trade_id, id)] of a strategy's signals, in id order."""
    out = psql(dsn, f"SELECT trade_id, id FROM signals WHERE strategy_id "
                    f"= {sid} ORDER BY id")
    return [tuple(map(int, line.split("|"))) for line in out.splitlines()]


def assert_all_acked_once(dsn, sid, senders, ordered):
    rows = stored(dsn, sid)
    trades = [t for t, _ in rows]
    assert len(trades) == len(set(trades)), "a signal was stored twice"
    acked = [n for s in senders for n, _, _ in s.acked]
    missing = set(acked) - set(trades)
    assert not missing, f"acknowledged but not stored: {sorted(missing)}"
    if ordered:
        # one sender waiting for each answer: stored in the order sent
        assert trades == sorted(trades), "stored out of order"
    return rows


def test_postgres_stopped_mid_stream(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    s = Sender(ingest.ports["http"], sid, token, first=1)
    s.start()
    try:
        wait_for(lambda: s.count() >= 40, what="acks before the stop")
        pg_stop()
        wait_for(lambda: s.count(202) >= 40, timeout=30,
                 what="signals spooled while PostgreSQL is down")
    finally:
        pg_start()
    n_after = s.count() + 40
    wait_for(lambda: s.count() >= n_after, timeout=60,
             what="acks after PostgreSQL is back")
    s.stop()
    wait_for(lambda: ingest.metrics()["btcw_ingest_spooling"] == 0,
             timeout=60, what="the spool to be replayed")
    rows = assert_all_acked_once(pg_dsn, sid, [s], ordered=True)
    assert len(rows) >= n_after
    # the ids follow the order too, spooled or not
    assert [i for _, i in rows] == sorted(i for _, i in rows)
    m = ingest.metrics()
    assert m["btcw_ingest_spooled_total"] >= 40
    assert m["btcw_ingest_replayed_total"] >= 40
    assert m["btcw_ingest_spool_bytes"] == 0
    # every signal was published once committed (one whose commit
    # outcome was lost may be published twice, with the same signal id);
    # on the wire events are best effort (nng drops for a subscriber that
    # falls behind), so what nngcat got is a subset, and most of it
    m = ingest.metrics()
    assert m["btcw_ingest_published_total"] >= len(rows)
    assert m["btcw_ingest_events_dropped_total"] == 0
    got = {e["id"] for e in ingest.signal_events(sid)}
    assert got <= {i for _, i in rows}
    assert len(got) >= 0.9 * len(rows)
    raised = [e["data"] for e in ingest.events("alert.raised")]
    resolved = [e["data"] for e in ingest.events("alert.resolved")]
    assert [a["kind"] for a in raised] == ["signal_spool_active"]
    assert [a["kind"] for a in resolved] == ["signal_spool_active"]


def test_kill9_under_load(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    senders = [Sender(ingest.ports["http"], sid, token, first=k * 100000,
                      retry=False) for k in range(1, 9)]
    for s in senders:
        s.start()
    wait_for(lambda: sum(s.count() for s in senders) >= 300,
             what="load")
    ingest.proc.signal(signal.SIGKILL)
    ingest.proc.p.wait(10)
    for s in senders:
        s.stop()
    ingest.start()  # the same spool directory
    assert_all_acked_once(pg_dsn, sid, senders, ordered=False)
    # each sender alone was answered in order
    rows = stored(pg_dsn, sid)
    for s in senders:
        mine = [i for t, i in rows if s.first <= t < s.first + 100000]
        assert mine == sorted(mine)


def test_spool_survives_kill9(ingest, pg_dsn):
    sid, token, _ = add_strategy(pg_dsn)
    s = Sender(ingest.ports["http"], sid, token, first=1, retry=False)
    # a webhook while PostgreSQL is up puts the strategy in the cache
    code, body = ingest.send(sid, token, entry("entry", 0))
    assert code == 200, body
    try:
        pg_stop()
        s.start()
        wait_for(lambda: s.count(202) >= 30, timeout=30,
                 what="spooled signals")
        s.stop()
        assert ingest.metrics()["btcw_ingest_spool_bytes"] > 0
        ingest.proc.signal(signal.SIGKILL)
        ingest.proc.p.wait(10)
    finally:
        pg_start()
    assert len(stored(pg_dsn, sid)) == 1
    ingest.start()  # finds the spool and replays it
    wait_for(lambda: len(stored(pg_dsn, sid)) >= s.count() + 1,
             timeout=60, what="the replay after the restart")
    wait_for(lambda: ingest.metrics()["btcw_ingest_spooling"] == 0,
             what="the spool to empty")
    rows = assert_all_acked_once(pg_dsn, sid, [s], ordered=True)
    assert len(rows) == s.count() + 1
    spool = os.path.join(ingest.env["BTCW_DATA"], "spool")
    assert not [f for f in os.listdir(spool) if f.startswith("seg-")]


def _waiting_inserts(dsn):
    """Backends whose INSERT INTO signals waits for a lock."""
    return psql(dsn, "SELECT pid FROM pg_stat_activity WHERE "
                     "wait_event_type = 'Lock' AND query LIKE "
                     "'INSERT INTO signals%'").split()


def _kill_waiting_inserts(dsn):
    psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE wait_event_type = 'Lock' AND query LIKE "
              "'INSERT INTO signals%'")


def test_failed_batch_spooled_before_queue(ingest, pg_dsn):
    """A batch in flight when PostgreSQL fails holds older signals than
    the lane's queue behind it: the spool, and so the replay, keeps
    them first. A lock on signals holds batch A in flight while B and
    then C queue behind it; A's backend is then terminated (PostgreSQL
    gone for that batch): all three are spooled, and once the lock is
    released they are stored A, B, C."""
    sid, token, _ = add_strategy(pg_dsn)
    port = ingest.ports["http"]
    # the strategy into the cache, and the commit path warm
    code, body = ingest.send(sid, token, entry("entry", 0))
    assert code == 200, body
    locker = subprocess.Popen(
        ["psql", pg_dsn, "-XtAq", "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    answers = {}

    def send(n):
        s = Sender(port, sid, token, first=n, retry=False)
        answers[n] = s.post(json.dumps(entry("entry", n)))
        s.conn.close()

    threads = []
    try:
        # SHARE blocks INSERT, not the SELECTs below
        locker.stdin.write("BEGIN; LOCK TABLE signals IN SHARE MODE;\n")
        locker.stdin.flush()
        wait_for(lambda: psql(pg_dsn, """
            SELECT count(*) FROM pg_locks l JOIN pg_class c
              ON c.oid = l.relation
            WHERE c.relname = 'signals' AND l.mode = 'ShareLock'
              AND l.granted""") == "1", what="the lock on signals")
        for n in (1, 2, 3):
            t = threading.Thread(target=send, args=(n,), daemon=True)
            t.start()
            threads.append(t)
            if n == 1:
                wait_for(lambda: _waiting_inserts(pg_dsn),
                         what="batch A waiting for the lock")
            wait_for(lambda: ingest.metrics()[
                "btcw_ingest_pending_webhooks"] >= n,
                what=f"webhook {n} with the committer")
        assert len(_waiting_inserts(pg_dsn)) == 1  # A alone is out
        _kill_waiting_inserts(pg_dsn)
        for t in threads:
            t.join(30)
        assert {n: a[0] for n, a in answers.items()} == \
            {1: 202, 2: 202, 3: 202}, answers
        # nothing of A may still run (a batch that timed out instead
        # leaves its statement on the server for a moment): a replay
        # batch killed here is read again
        _kill_waiting_inserts(pg_dsn)
    finally:
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(30)
    wait_for(lambda: ingest.metrics()["btcw_ingest_spooling"] == 0,
             timeout=60, what="the spool to be replayed")
    assert [t for t, _ in stored(pg_dsn, sid)] == [0, 1, 2, 3]
