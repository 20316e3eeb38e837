"""The PostgreSQL schema (libcommon/schema/NNNN_name.sql) on a real server.

Needs BTCW_TEST_PG_DSN (tests/harness/servers.sh start). A fresh database
gets every migration applied in order, each in its own transaction, the way
the migrations runner does it; every test then works on its own copy of that
database (CREATE DATABASE ... TEMPLATE), and all of them are dropped at the
end. Only psql is used: no Python PostgreSQL driver is needed.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "libcommon" / "schema"
PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"

TABLES = {
    "users", "revoked_tokens", "login_throttle", "strategies", "backups",
    "freqtrade_upgrades", "signals", "alerts", "notification_digests",
    "notifications",
}


# ---------------------------------------------------------------- helpers

def parse_dsn(dsn):
    """libpq key=value connection string -> dict (handles 'quoted' values)."""
    out = {}
    pat = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)")
    pos = 0
    dsn = dsn.strip()
    while pos < len(dsn):
        m = pat.match(dsn, pos)
        if not m:
            raise ValueError(f"cannot parse DSN near {dsn[pos:]!r}")
        key, val = m.group(1), m.group(2)
        if val.startswith("'"):
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        out[key] = val
        pos = m.end()
    return out


def make_dsn(parts):
    def q(v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return " ".join(f"{k}={q(v)}" for k, v in parts.items())


def with_db(dsn, dbname):
    parts = parse_dsn(dsn)
    parts["dbname"] = dbname
    return make_dsn(parts)


def lit(s):
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def psql(dsn, sql, check=True, single_transaction=False, env=None):
    """Run SQL (one or more statements) through psql; returns the process.

    Output is unaligned, tuples only; errors are verbose so that they carry
    the SQLSTATE and the constraint name.
    """
    args = [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-v", "VERBOSITY=verbose", "-d", dsn, "-f", "-"]
    if single_transaction:
        args.insert(1, "--single-transaction")
    p = subprocess.run(args, input=sql, capture_output=True, text=True,
                       timeout=120, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"psql failed ({p.returncode}):\n{sql}\n"
                             f"{p.stderr}")
    return p


def q(dsn, sql):
    """Rows of a query, as lists of column strings."""
    out = psql(dsn, sql).stdout
    return [line.split("|") for line in out.splitlines() if line != ""]


def q1(dsn, sql):
    """The single value of a single-row, single-column query."""
    rows = q(dsn, sql)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def expect_error(dsn, sql, sqlstate, constraint=None):
    """SQL must fail with this SQLSTATE (and name this constraint)."""
    p = psql(dsn, sql, check=False)
    assert p.returncode != 0, f"expected {sqlstate}, but it worked:\n{sql}"
    assert f"ERROR:  {sqlstate}:" in p.stderr, p.stderr
    if constraint:
        assert constraint in p.stderr, p.stderr
    return p.stderr


def migration_files():
    return sorted(SCHEMA_DIR.glob("*.sql"), key=lambda f: f.name)


def new_strategy(db, name=None, **cols):
    cols.setdefault("name", name or f"strat-{uuid.uuid4().hex[:10]}")
    cols.setdefault("strategy_class", "SampleStrategy")
    cols.setdefault("exchange", "binance")
    cols.setdefault("timeframe", "5m")
    cols.setdefault("pair_whitelist", '["BTC/USDT", "ETH/USDT"]')
    names = ", ".join(cols)
    vals = ", ".join(lit(v) for v in cols.values())
    return int(q1(db, f"INSERT INTO strategies ({names}) VALUES ({vals}) "
                      "RETURNING id"))


def signal_insert(strategy_id, key, level="strong", priority="P0",
                  extra=""):
    pr = "NULL" if priority is None else lit(priority)
    return (
        "INSERT INTO signals (strategy_id, dedupe_key, action, pair, "
        "direction, trade_id, open_rate, strength, level, priority, raw) "
        f"VALUES ({strategy_id}, {lit(key)}, 'entry_fill', 'BTC/USDT', "
        f"'long', 7, 64250.5, 0.9, {lit(level)}, {pr}, "
        "'{\"type\": \"entry_fill\", \"pair\": \"BTC/USDT\"}') "
        f"{extra}")


def open_transaction(db, app, sql):
    """A second session (psql, application_name app) that has run sql
    inside BEGIN and now waits, idle in transaction; end it with
    .communicate("COMMIT;\\n")."""
    env = dict(os.environ, PGAPPNAME=app)
    proc = subprocess.Popen(
        [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write("BEGIN;\n" + sql + ";\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while q(db, "SELECT state FROM pg_stat_activity WHERE "
                f"application_name = {lit(app)}") != [["idle in transaction"]]:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{app} never became idle in transaction")
        time.sleep(0.05)
    return proc


def end(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def plan_nodes(plan):
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    stack = [plan]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("Plans", []))


def explain(db, sql):
    out = psql(db, "EXPLAIN (FORMAT JSON) " + sql).stdout
    return json.loads(out)[0]["Plan"]


def strip_sql(text):
    """SQL text without comments, string literals and dollar-quoted bodies:
    what is left are the statements' keywords."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and text.startswith("''", j):
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            out.append("''")
            i = j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m:
                tag = m.group(0)
                j = text.find(tag, i + len(tag))
                assert j >= 0, "unterminated dollar quote"
                out.append("$body$")
                i = j + len(tag)
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# --------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def server_dsn():
    dsn = os.environ.get("BTCW_TEST_PG_DSN")
    if not dsn:
        pytest.fail("BTCW_TEST_PG_DSN is not set: start the servers with "
                    "eval \"$(tests/harness/servers.sh start)\"")
    return dsn


@pytest.fixture(scope="session")
def dbs(server_dsn):
    """Creates databases on the test server; drops them all at the end."""
    created = []

    def create(template=None):
        name = f"btcw_schema_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        tmpl = f" TEMPLATE {template}" if template else ""
        psql(server_dsn, f"CREATE DATABASE {name}{tmpl};")
        created.append(name)
        return name

    yield create
    for name in reversed(created):
        psql(server_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);",
             check=False)


@pytest.fixture(scope="session")
def migrated(server_dsn, dbs):
    """Name of a fresh database with every migration applied, in order,
    each file in its own transaction (psql --single-transaction)."""
    name = dbs()
    dsn = with_db(server_dsn, name)
    files = migration_files()
    assert files, f"no migrations in {SCHEMA_DIR}"
    for f in files:
        p = subprocess.run(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-d", dsn, "-f", str(f)],
            capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{f.name} failed:\n{p.stderr}"
    return name


@pytest.fixture
def db(server_dsn, dbs, migrated):
    """DSN of this test's own copy of the migrated database."""
    return with_db(server_dsn, dbs(template=migrated))


# ---------------------------------------------------- the migration files

def test_migration_files_follow_the_rules():
    files = migration_files()
    assert files
    versions = []
    for f in files:
        m = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", f.name)
        assert m, f"{f.name}: name must be NNNN_name.sql (lowercase)"
        versions.append(int(m.group(1)))
        text = f.read_text(encoding="utf-8")
        assert "??" not in text, f"{f.name}: '??' is a C trigraph"
        assert not re.search(r"^\s*\\", text, re.M), \
            f"{f.name}: psql meta-commands do not work in the runner"
        code = strip_sql(text)
        for stmt in code.split(";"):
            words = stmt.split()
            if not words:
                continue
            first = words[0].upper()
            assert first not in ("BEGIN", "COMMIT", "ROLLBACK", "START",
                                 "END", "SAVEPOINT", "VACUUM"), \
                f"{f.name}: {first} cannot run inside the runner's " \
                "transaction"
        assert not re.search(r"\bCONCURRENTLY\b", code, re.I), \
            f"{f.name}: CONCURRENTLY cannot run inside a transaction"
        assert not re.search(r"\bschema_migrations\b", code, re.I), \
            f"{f.name}: schema_migrations belongs to the runner"
    assert len(set(versions)) == len(versions), "duplicate version numbers"
    assert versions[0] == 1


def test_embedded_sql_compiles(tmp_path):
    """scripts/embed-sql.sh turns the files into C that builds with our
    warnings as errors."""
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    files = [str(f) for f in migration_files()]
    gen = subprocess.run(["sh", str(ROOT / "scripts" / "embed-sql.sh"),
                          *files], capture_output=True, text=True,
                         check=True)
    src = tmp_path / "lc_schema.c"
    src.write_text(gen.stdout)
    # The Makefile's warning flags.
    warn = ("-Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes "
            "-Wold-style-definition -Wpointer-arith -Wformat=2 -Wshadow "
            "-Wundef -Wvla -Wwrite-strings -fno-common").split()
    p = subprocess.run([gcc, "-std=c11", "-D_GNU_SOURCE", *warn,
                        "-I", str(ROOT), "-c", str(src), "-o",
                        str(tmp_path / "lc_schema.o")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"lc_schema_migrations_count = {len(files)};" in gen.stdout


def test_every_table_exists_and_is_commented(db):
    rows = q(db, "SELECT c.relname, obj_description(c.oid, 'pg_class') "
                 "FROM pg_class c JOIN pg_namespace n ON n.oid = "
                 "c.relnamespace WHERE n.nspname = 'public' AND "
                 "c.relkind = 'r'")
    found = {r[0]: r[1] for r in rows}
    assert TABLES <= set(found), TABLES - set(found)
    assert "schema_migrations" not in found
    for t in TABLES:
        assert found[t], f"table {t} has no COMMENT"


# ------------------------------------------------------------- strategies

def test_thresholds_must_be_ordered(db):
    bad = (
        "INSERT INTO strategies (name, strategy_class, exchange, timeframe, "
        "threshold_strong, threshold_medium, threshold_weak) VALUES "
        "('t', 'S', 'binance', '5m', {}, {}, {})")
    # weak > medium
    expect_error(db, bad.format(0.8, 0.5, 0.6), "23514",
                 "strategies_thresholds_ordered")
    # strong above 1, weak below 0
    expect_error(db, bad.format(1.2, 0.5, 0.4), "23514",
                 "strategies_thresholds_ordered")
    expect_error(db, bad.format(0.8, 0.5, -0.1), "23514",
                 "strategies_thresholds_ordered")
    # boundaries and equal values are fine
    psql(db, bad.format(1, 1, 0) + ";")
    psql(db, bad.replace("'t'", "'t2'").format(0.5, 0.5, 0.5) + ";")
    # an update cannot break the order either
    sid = new_strategy(db)
    expect_error(db, "UPDATE strategies SET threshold_weak = 0.7 "
                     f"WHERE id = {sid}", "23514",
                 "strategies_thresholds_ordered")
    assert q1(db, "SELECT threshold_strong || ',' || threshold_medium || "
                  f"',' || threshold_weak FROM strategies WHERE id = {sid}"
              ) == "0.8,0.6,0.4"


def test_live_names_unique_but_deleted_name_reusable(db):
    first = new_strategy(db, "Alpha")
    expect_error(db, "INSERT INTO strategies (name, strategy_class, "
                     "exchange, timeframe) VALUES ('alpha', 'S', 'binance', "
                     "'5m')", "23505", "strategies_name_live_key")
    # soft delete keeps the row and frees the name
    psql(db, "UPDATE strategies SET status = 'deleted', deleted_at = now() "
             f"WHERE id = {first};")
    second = new_strategy(db, "ALPHA")
    assert second != first
    assert q1(db, "SELECT count(*) FROM strategies WHERE lower(name) = "
                  "'alpha'") == "2"
    # the second deleted copy may coexist with the first
    psql(db, "UPDATE strategies SET status = 'deleted', deleted_at = now() "
             f"WHERE id = {second};")
    new_strategy(db, "alpha")
    # status and deleted_at agree
    sid = new_strategy(db)
    expect_error(db, "UPDATE strategies SET status = 'deleted' "
                     f"WHERE id = {sid}", "23514",
                 "strategies_deleted_consistent")


def test_port_never_shared_and_released_on_delete(db):
    a = new_strategy(db, port="8085")
    expect_error(db, "UPDATE strategies SET port = 8085 WHERE id = "
                     f"{new_strategy(db)}", "23505", "strategies_port_key")
    expect_error(db, "UPDATE strategies SET status = 'deleted', "
                     f"deleted_at = now() WHERE id = {a}", "23514",
                 "strategies_deleted_released")
    expect_error(db, "UPDATE strategies SET port = 80 WHERE id = "
                     f"{a}", "23514", "strategies_port_range")


def test_strategy_gets_distinct_random_secrets(db):
    a, b = new_strategy(db), new_strategy(db)
    rows = q(db, "SELECT webhook_token, api_password FROM strategies "
                 f"WHERE id IN ({a}, {b}) ORDER BY id")
    (ta, pa), (tb, pb) = rows
    assert re.fullmatch(r"[0-9a-f]{64}", ta) and ta != tb
    assert len(pa) >= 32 and pa != pb and pa != ta
    expect_error(db, f"UPDATE strategies SET webhook_token = 'short' "
                     f"WHERE id = {a}", "23514",
                 "strategies_webhook_token_format")


def test_updated_at_follows_changes(db):
    sid = new_strategy(db)
    before = q1(db, f"SELECT updated_at FROM strategies WHERE id = {sid}")
    time.sleep(0.01)
    psql(db, f"UPDATE strategies SET status = 'starting' WHERE id = {sid};")
    assert q1(db, f"SELECT updated_at > {lit(before)}::timestamptz AND "
                  f"updated_at > created_at FROM strategies WHERE id = {sid}"
              ) == "t"


# ---------------------------------------------------------------- signals

def test_signal_stored_once_per_dedupe_key(db):
    sid = new_strategy(db)
    other = new_strategy(db)
    ins = signal_insert(sid, "k-1",
                        extra="ON CONFLICT (strategy_id, dedupe_key) "
                              "DO NOTHING RETURNING id")
    assert len(q(db, ins)) == 1
    assert len(q(db, ins)) == 0          # the retried webhook
    assert q1(db, "SELECT count(*) FROM signals WHERE strategy_id = "
                  f"{sid}") == "1"
    # the same key from another strategy is another signal
    assert len(q(db, ins.replace(f"VALUES ({sid},", f"VALUES ({other},"))
               ) == 1
    # without ON CONFLICT the duplicate is an error, not a second row
    expect_error(db, signal_insert(sid, "k-1"), "23505",
                 "signals_strategy_dedupe_key")


def test_signal_needs_existing_strategy(db):
    expect_error(db, signal_insert(987654, "k"), "23503",
                 "signals_strategy_id_fkey")
    # and a strategy with signals cannot be removed, only soft-deleted
    sid = new_strategy(db)
    psql(db, signal_insert(sid, "k") + ";")
    expect_error(db, f"DELETE FROM strategies WHERE id = {sid}", "23503")
    psql(db, "UPDATE strategies SET status = 'deleted', deleted_at = now() "
             f"WHERE id = {sid};")
    assert q1(db, f"SELECT count(*) FROM signals WHERE strategy_id = {sid}"
              ) == "1"


def test_strategy_rule_is_kept_per_statement(db):
    """Since 0009 the signals -> strategies rule is one check per INSERT
    statement and triggers on strategies, not a per-row foreign key; it
    must hold just as the key did."""
    assert q1(db, "SELECT count(*) FROM pg_constraint WHERE conname = "
                  "'signals_strategy_id_fkey'") == "0"
    sid = new_strategy(db)
    # one unknown strategy fails the whole multi-row statement
    b = expect_error(db, "INSERT INTO signals (strategy_id, dedupe_key,"
                         " action, level, raw) VALUES"
                         f" ({sid}, 'm-1', 'status', 'ignore', '{{}}'),"
                         " (987655, 'm-2', 'status', 'ignore', '{}')",
                     "23503", "signals_strategy_id_fkey")
    assert "(strategy_id)=(987655)" in b
    assert q1(db, f"SELECT count(*) FROM signals WHERE strategy_id = {sid}"
              ) == "0"
    psql(db, signal_insert(sid, "k") + ";")
    expect_error(db, f"UPDATE strategies SET id = DEFAULT WHERE id = {sid}",
                 "23503")
    expect_error(db, "TRUNCATE strategies CASCADE", "23503")
    # a strategy no signal names may still be removed
    spare = new_strategy(db)
    psql(db, f"DELETE FROM strategies WHERE id = {spare};")


def test_strategy_delete_racing_an_insert_leaves_no_orphan(db):
    """A delete waits for an insert in flight, then sees its rows."""
    sid = new_strategy(db)
    writer = open_transaction(db, "btcw-signal-writer",
                              signal_insert(sid, "race"))
    deleter = None
    try:
        deleter = subprocess.Popen(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v",
             "VERBOSITY=verbose", "-d", db, "-c",
             f"DELETE FROM strategies WHERE id = {sid}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert deleter.poll() is None  # waits for the writer
        out, err = writer.communicate("COMMIT;\n", timeout=20)
        assert writer.returncode == 0, err
        _, err = deleter.communicate(timeout=20)
        assert deleter.returncode != 0 and "23503" in err, err
    finally:
        end(writer)
        end(deleter)
    assert q1(db, f"SELECT count(*) FROM signals s JOIN strategies t"
                  f" ON t.id = s.strategy_id WHERE s.strategy_id = {sid}"
              ) == "1"


def test_signals_are_append_only(db):
    sid = new_strategy(db)
    psql(db, signal_insert(sid, "k") + ";")
    expect_error(db, "UPDATE signals SET pair = 'ETH/USDT'", "23001")
    expect_error(db, "DELETE FROM signals", "23001")
    expect_error(db, "TRUNCATE signals CASCADE", "23001")
    assert q1(db, "SELECT pair FROM signals") == "BTC/USDT"


def test_signal_grading_is_consistent(db):
    sid = new_strategy(db)
    expect_error(db, signal_insert(sid, "a", "strong", "P1"), "23514",
                 "signals_level_priority")
    expect_error(db, signal_insert(sid, "b", "ignore", "P2"), "23514",
                 "signals_level_priority")
    psql(db, signal_insert(sid, "c", "ignore", None) + ";")
    expect_error(db, signal_insert(sid, "d").replace("0.9", "1.5"), "23514",
                 "signals_strength_range")
    expect_error(db, signal_insert(sid, "e").replace("'entry_fill',",
                                                     "'buy',", 1),
                 "23514", "signals_action_valid")


def fill_signals(db, n_strategies=20, n_signals=5000):
    ids = [new_strategy(db) for _ in range(n_strategies)]
    arr = "ARRAY[" + ",".join(map(str, ids)) + "]"
    psql(db, f"""
        INSERT INTO signals (strategy_id, dedupe_key, action, pair, level,
                             priority, strength, received_at, raw)
        SELECT ({arr})[1 + i % {n_strategies}],
               'gen-' || i,
               (ARRAY['entry','entry_fill','exit','exit_fill'])[1 + i % 4],
               (ARRAY['BTC/USDT','ETH/USDT','SOL/USDT'])[1 + i % 3],
               CASE WHEN i % 50 = 0 THEN 'strong'
                    WHEN i % 10 = 0 THEN 'medium'
                    WHEN i % 3 = 0 THEN 'weak' ELSE 'ignore' END,
               CASE WHEN i % 50 = 0 THEN 'P0'
                    WHEN i % 10 = 0 THEN 'P1'
                    WHEN i % 3 = 0 THEN 'P2' END,
               0.5,
               now() - i * interval '1 minute',
               '{{}}'
        FROM generate_series(1, {n_signals}) AS i;
    """)
    psql(db, "VACUUM ANALYZE signals;")
    return ids


def test_signal_list_uses_index_with_keyset_paging(db):
    ids = fill_signals(db)
    sid = ids[3]
    base = (f"SELECT id, received_at FROM signals WHERE strategy_id = {sid} "
            "AND received_at >= now() - interval '60 days' "
            "AND received_at < now() {keyset} "
            "ORDER BY received_at DESC, id DESC LIMIT 50")
    page1 = q(db, base.format(keyset=""))
    assert len(page1) == 50
    last_id, last_at = page1[-1]
    keyset = f"AND (received_at, id) < ({lit(last_at)}::timestamptz, " \
             f"{last_id})"
    page2 = q(db, base.format(keyset=keyset))
    assert len(page2) == 50
    assert not {r[0] for r in page1} & {r[0] for r in page2}
    expected = q(db, f"SELECT id FROM signals WHERE strategy_id = {sid} "
                     "ORDER BY received_at DESC, id DESC LIMIT 100")
    assert [r[0] for r in page1 + page2] == [r[0] for r in expected]

    plan = explain(db, base.format(keyset=keyset))
    nodes = list(plan_nodes(plan))
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes), plan
    assert any(n.get("Index Name") == "signals_strategy_received_idx"
               for n in nodes), plan
    assert not any(n["Node Type"] == "Sort" for n in nodes), plan

    # with no strategy filter, the time index; for one level, the level one
    glob = explain(db, "SELECT id FROM signals WHERE received_at < now() "
                       "ORDER BY received_at DESC, id DESC LIMIT 50")
    assert any(n.get("Index Name") == "signals_received_idx"
               for n in plan_nodes(glob)), glob
    strong = explain(db, "SELECT id FROM signals WHERE level = 'strong' "
                         "ORDER BY received_at DESC, id DESC LIMIT 50")
    assert any(n.get("Index Name") == "signals_level_received_idx"
               for n in plan_nodes(strong)), strong


def test_signal_stats_are_index_only(db):
    ids = fill_signals(db)
    sid = ids[5]
    sql = ("SELECT level, count(*) FROM signals WHERE strategy_id = "
           f"{sid} GROUP BY level ORDER BY level")
    plan = explain(db, sql)
    assert any(n["Node Type"] == "Index Only Scan" and
               n.get("Index Name") == "signals_strategy_received_idx"
               for n in plan_nodes(plan)), plan
    counts = dict(q(db, sql))
    assert sum(map(int, counts.values())) == 250
    assert set(counts) <= {"strong", "medium", "weak", "ignore"}
    day = explain(db, "SELECT strategy_id, level, count(*) FROM signals "
                      "WHERE received_at >= now() - interval '1 day' "
                      "GROUP BY 1, 2")
    assert any(n["Node Type"] == "Index Only Scan"
               for n in plan_nodes(day)), day


# ---------------------------------------------------------- notifications

CLAIM = """
    SELECT id FROM notifications
    WHERE status IN ('pending', 'failed', 'sending')
      AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
"""


def add_notification(db, due, status="pending", kind="test", extra=None):
    cols = {"kind": kind, "channel": "email", "priority": "P1",
            "status": status, "payload": '{"text": "hi"}'}
    cols.update(extra or {})
    names = ", ".join(list(cols) + ["next_attempt_at"])
    vals = ", ".join([lit(v) for v in cols.values()] +
                     [f"now() + interval '{due} seconds'"])
    return q1(db, f"INSERT INTO notifications ({names}) VALUES ({vals}) "
                  "RETURNING id")


def test_outbox_claim_returns_due_rows_in_order(db):
    late = add_notification(db, -10)
    early = add_notification(db, -30)
    retry = add_notification(db, -20, status="failed")
    add_notification(db, 3600)                       # not due yet
    add_notification(db, -40, status="sent",
                     extra={"sent_at": "2025-01-01T00:00:00Z"})
    add_notification(db, -50, status="dead")
    lease_over = add_notification(db, -5, status="sending")
    assert [r[0] for r in q(db, CLAIM.format(limit=10))] == \
        [early, retry, late, lease_over]

    # Among years of history the claim still reads only the live rows,
    # through the partial index.
    psql(db, """
        INSERT INTO notifications (kind, channel, priority, status, payload,
                                   next_attempt_at, sent_at)
        SELECT 'test', 'email', 'P2', 'sent', '{}',
               now() - i * interval '1 minute', now()
        FROM generate_series(1, 5000) AS i;
        ANALYZE notifications;
    """)
    plan = explain(db, CLAIM.format(limit=10))
    assert any(n.get("Index Name") == "notifications_due_idx"
               for n in plan_nodes(plan)), plan
    assert not any(n["Node Type"] == "Seq Scan" for n in plan_nodes(plan))

    # A second notifier skips the rows the first one holds.
    holder = open_transaction(db, "btcw-claim-holder", CLAIM.format(limit=2))
    try:
        claimed = q(db, f"""
            WITH due AS ({CLAIM.format(limit=10)})
            UPDATE notifications n
               SET status = 'sending', attempts = n.attempts + 1,
                   last_attempt_at = now(),
                   next_attempt_at = now() + interval '120 seconds'
              FROM due WHERE n.id = due.id
            RETURNING n.id""")
        assert sorted(r[0] for r in claimed) == sorted([late, lease_over])
        out, err = holder.communicate("COMMIT;\n", timeout=20)
        assert holder.returncode == 0, err
        assert out.split() == [early, retry]
    finally:
        end(holder)
    # claimed rows are leased: not due again until the lease ends
    assert [r[0] for r in q(db, CLAIM.format(limit=10))] == [early, retry]
    assert q1(db, f"SELECT attempts FROM notifications WHERE id = {late}"
              ) == "1"


def test_outbox_enqueue_is_idempotent_and_history_kept(db):
    sid = new_strategy(db)
    sig = q1(db, signal_insert(sid, "n-1") + " RETURNING id")
    enqueue = ("INSERT INTO notifications (kind, signal_id, channel, "
               f"priority, payload) VALUES ('signal', {sig}, 'feishu', "
               "'P0', '{}') ON CONFLICT (signal_id, channel) "
               "WHERE signal_id IS NOT NULL DO NOTHING RETURNING id")
    assert len(q(db, enqueue)) == 1
    assert len(q(db, enqueue)) == 0
    assert len(q(db, enqueue.replace("'feishu'", "'sms'"))) == 1
    # kind and source must agree
    expect_error(db, "INSERT INTO notifications (kind, channel, priority, "
                     "payload) VALUES ('signal', 'sms', 'P0', '{}')",
                 "23514", "notifications_source_matches_kind")
    # suppressed rows say why; sent rows say when
    expect_error(db, "INSERT INTO notifications (kind, channel, priority, "
                     "status, payload) VALUES ('test', 'sms', 'P0', "
                     "'suppressed', '{}')", "23514",
                 "notifications_suppressed_has_reason")
    expect_error(db, "UPDATE notifications SET status = 'sent'", "23514",
                 "notifications_sent_has_time")
    # history is never deleted
    expect_error(db, "DELETE FROM notifications", "23001")


def test_held_back_notifications_reported_in_digest(db):
    sid = new_strategy(db)
    held = []
    for i in range(3):
        sig = q1(db, signal_insert(sid, f"h-{i}") + " RETURNING id")
        held.append(q1(db, (
            "INSERT INTO notifications (kind, signal_id, channel, priority, "
            "status, suppressed_reason, payload) VALUES ('signal', "
            f"{sig}, 'email', 'P1', 'suppressed', 'rate_limit_pair', '{{}}')"
            " RETURNING id")))
    pending = ("SELECT id FROM notifications WHERE channel = 'email' AND "
               "status = 'suppressed' AND reported_in_digest_id IS NULL "
               "ORDER BY id")
    assert [r[0] for r in q(db, pending)] == held
    dig = q1(db, "INSERT INTO notification_digests (channel, period_start, "
                 "period_end, item_count) VALUES ('email', now() - interval "
                 "'5 minutes', now(), 3) RETURNING id")
    psql(db, f"""
        UPDATE notifications SET reported_in_digest_id = {dig}
        WHERE id IN ({", ".join(held)});
        INSERT INTO notifications (kind, digest_id, channel, priority,
                                   payload)
        VALUES ('digest', {dig}, 'email', 'P2', '{{"held": 3}}');
    """)
    assert q(db, pending) == []
    assert q1(db, "SELECT count(*) FROM notifications WHERE kind = 'digest' "
                  "AND status = 'pending'") == "1"


# ----------------------------------------------------------------- alerts

def test_open_alert_is_raised_once_per_fingerprint(db):
    raise_sql = (
        "INSERT INTO alerts (source, kind, severity, fingerprint, message) "
        "VALUES ('monitor', 'capacity.high', 'warning', 'capacity.high', "
        "'utilization 85%') ON CONFLICT (fingerprint) WHERE resolved_at IS "
        "NULL DO UPDATE SET occurrences = alerts.occurrences + 1, "
        "last_seen_at = now() RETURNING id, occurrences, priority")
    first = q(db, raise_sql)[0]
    again = q(db, raise_sql)[0]
    assert first[0] == again[0] and again[1] == "2" and again[2] == "P1"
    psql(db, f"UPDATE alerts SET resolved_at = now() WHERE id = {first[0]};")
    third = q(db, raise_sql)[0]
    assert third[0] != first[0] and third[1] == "1"
    crit = q1(db, "INSERT INTO alerts (source, kind, severity, fingerprint, "
                  "message) VALUES ('backup', 'backup.failed', 'critical', "
                  "'backup.failed', 'disk full') RETURNING priority")
    assert crit == "P0"


# ------------------------------------------------------------------ users

ARGON = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


def test_usernames_unique_case_insensitively(db):
    ins = ("INSERT INTO users (username, password_hash, role) VALUES "
           "({}, " + lit(ARGON) + ", 'admin') RETURNING id")
    uid = q1(db, ins.format(lit("Alice")))
    expect_error(db, ins.format(lit("alice")), "23505",
                 "users_username_lower_key")
    expect_error(db, ins.format(lit("ALICE")), "23505",
                 "users_username_lower_key")
    assert q1(db, "SELECT id FROM users WHERE lower(username) = "
                  "lower('aLiCe')") == uid
    q1(db, ins.format(lit("bob")))
    # only argon2id hashes, only known roles
    expect_error(db, "INSERT INTO users (username, password_hash) VALUES "
                     "('carol', 'plaintext')", "23514",
                 "users_password_hash_argon2id")
    expect_error(db, "INSERT INTO users (username, password_hash, role) "
                     f"VALUES ('carol', {lit(ARGON)}, 'root')", "23514",
                 "users_role_valid")


def test_token_revocation_and_lockout_columns(db):
    uid = q1(db, "INSERT INTO users (username, password_hash) VALUES "
                 f"('dave', {lit(ARGON)}) RETURNING id")
    jti = uuid.uuid4().hex
    psql(db, "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES "
             f"({lit(jti)}, {uid}, now() + interval '24 hours');")
    expect_error(db, "INSERT INTO revoked_tokens (jti, user_id, expires_at) "
                     f"VALUES ({lit(jti)}, {uid}, now())", "23505")
    # five failures lock the account for 30 minutes (the gateway's update)
    for _ in range(5):
        row = q(db, "UPDATE users SET failed_logins = failed_logins + 1, "
                    "last_failed_login_at = now(), locked_until = CASE WHEN "
                    "failed_logins + 1 >= 5 THEN now() + interval "
                    f"'30 minutes' END WHERE id = {uid} "
                    "RETURNING failed_logins, locked_until IS NOT NULL")
    assert row == [["5", "t"]]
    # deleting the user removes its revocations
    psql(db, f"DELETE FROM users WHERE id = {uid};")
    assert q1(db, "SELECT count(*) FROM revoked_tokens") == "0"


# ------------------------------------------------ backups and upgrades

def test_one_backup_and_one_upgrade_at_a_time(db):
    ins = "INSERT INTO backups (triggered_by) VALUES ('manual') RETURNING id"
    bid = q1(db, ins)
    expect_error(db, ins, "23505", "backups_one_running_key")
    expect_error(db, "UPDATE backups SET status = 'succeeded', finished_at = "
                     f"now() WHERE id = {bid}", "23514",
                 "backups_succeeded_complete")
    psql(db, "UPDATE backups SET status = 'succeeded', finished_at = now(), "
             "verified_at = now(), path = '/backup/20250101T000000Z', "
             "size_bytes = 1234, manifest = '{\"files\": []}', "
             f"manifest_sha256 = {lit('0' * 64)} WHERE id = {bid};")
    q1(db, ins)     # the next run may start

    up = ("INSERT INTO freqtrade_upgrades (to_version, to_command, "
          f"backup_id) VALUES ('2025.8', 'freqtrade', {bid}) RETURNING id")
    q1(db, up)
    expect_error(db, up, "23505", "freqtrade_upgrades_one_running_key")
