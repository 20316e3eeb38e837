"""Two processes talking RPC and pub/sub over nng, the server reading and
writing the real PostgreSQL and Redis (tests/integration/it_peer.c), plus
the operator's view of the same with nngcat alone."""
import json
import os
import subprocess
import time

import pytest

from conftest import (binary, free_port, http_get, psql, redis_cli,
                      wait_for)


@pytest.fixture
def kv_db(pg_dsn):
    """A fresh database with the it_kv table; its DSN."""
    name = f"it_kv_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    psql(pg_dsn, f"CREATE DATABASE {name}")
    dsn = pg_dsn.replace("dbname=btcw", f"dbname={name}")
    psql(dsn, "CREATE TABLE it_kv (key text PRIMARY KEY, value text)")
    yield dsn
    psql(pg_dsn, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def peer(spawn, kv_db):
    rpc = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    admin = free_port()

    def start(env=None):
        srv = spawn([binary("it_peer"), "server", rpc, pub, str(admin)],
                    "it_peer_server",
                    env={"BTCW_TEST_PG_DSN": kv_db, **(env or {})})
        return srv

    start.rpc, start.pub, start.admin, start.dsn = rpc, pub, admin, kv_db
    return start


def ready(admin):
    return http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200


def nngcat_req(url, body, timeout=5, tmp_path=None):
    if tmp_path is not None:  # too big for a command line
        path = tmp_path / "body.json"
        path.write_text(body)
        what = ["--file", str(path)]
    else:
        what = ["--data", body]
    out = subprocess.run(["nngcat", "--req", "--dial", url, "--ascii",
                          *what, "--recv-timeout", str(timeout)],
                         capture_output=True, text=True, timeout=timeout + 5)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_rpc_and_pubsub_between_two_processes(peer, redis_addr):
    srv = peer()
    wait_for(lambda: ready(peer.admin), what="it_peer /readyz")
    out = subprocess.run([binary("it_peer"), "client", peer.rpc, peer.pub,
                          "btc", "64250.5"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout)
    assert got == {
        "put": {"stored": True},
        "event": {"key": "btc", "value": "64250.5"},
        "get": {"key": "btc", "pg": "64250.5", "redis": "64250.5"},
    }
    # and the data is really there, seen from outside
    assert psql(peer.dsn, "SELECT value FROM it_kv WHERE key = 'btc'") \
        == "64250.5"
    assert redis_cli(redis_addr, "GET", "it:btc") == "64250.5"
    assert srv.alive()


def test_operator_calls_and_watches_with_nngcat(peer):
    peer()
    wait_for(lambda: ready(peer.admin), what="it_peer /readyz")
    watcher = subprocess.Popen(
        ["nngcat", "--sub", "--dial", peer.pub, "--subscribe",
         "kv.changed ", "--ascii", "--recv-timeout", "10", "--count", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the subscriber may still be connecting: publish until it hears
        deadline = time.monotonic() + 10
        n = 0
        while watcher.poll() is None and time.monotonic() < deadline:
            n += 1
            rep = nngcat_req(peer.rpc, json.dumps(
                {"v": 1, "id": n, "method": "kv.put",
                 "params": {"key": "eth", "value": str(n)}}))
            assert rep == {"v": 1, "id": n, "ok": True,
                           "result": {"stored": True}}
            time.sleep(0.1)
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    topic, _, body = out.strip().partition(" ")
    assert topic == "kv.changed", out + err
    event = json.loads(body)
    assert event["v"] == 1 and event["topic"] == "kv.changed"
    assert event["data"]["key"] == "eth"
    assert event["ts"].endswith("Z") and event["id"]
    rep = nngcat_req(peer.rpc, '{"v":1,"id":"g","method":"kv.get",'
                     '"params":{"key":"eth"}}')
    assert rep["ok"] and rep["id"] == "g"
    assert rep["result"]["pg"] == rep["result"]["redis"] == str(n)


@pytest.mark.parametrize("body,code", [
    ("not json", "bad_request"),
    ("[1,2]", "bad_request"),
    ('{"v":1,"id":1,"params":{}}', "bad_request"),
    ('{"v":2,"id":1,"method":"kv.get","params":{}}', "bad_request"),
    ('{"v":1,"id":1,"method":"kv.nope","params":{}}', "unknown_method"),
    ('{"v":1,"id":1,"method":"kv.put","params":{"key":1}}', "invalid"),
])
def test_malformed_messages_get_error_replies(peer, body, code):
    srv = peer()
    wait_for(lambda: ready(peer.admin), what="it_peer /readyz")
    rep = nngcat_req(peer.rpc, body)
    assert rep["v"] == 1 and rep["ok"] is False
    assert rep["error"]["code"] == code, rep
    assert rep["error"]["message"]
    assert srv.alive()


def test_oversized_message_gets_too_large(peer, tmp_path):
    srv = peer()
    wait_for(lambda: ready(peer.admin), what="it_peer /readyz")
    big = "x" * (1024 * 1024 + 10)
    rep = nngcat_req(peer.rpc, json.dumps(
        {"v": 1, "id": 7, "method": "kv.put",
         "params": {"key": "k", "value": big}}), tmp_path=tmp_path)
    assert rep["ok"] is False and rep["error"]["code"] == "too_large"
    assert rep["id"] in (7, None)
    assert srv.alive()


def test_readyz_names_redis_while_it_is_down(peer, tmp_path):
    """A private Redis the test can kill: /readyz turns 503 naming it,
    and 200 again once the server reconnected by itself."""
    port = free_port()
    rdir = tmp_path / "redis"
    rdir.mkdir()

    def redis_up():
        subprocess.run(["redis-server", "--port", str(port), "--bind",
                        "127.0.0.1", "--dir", str(rdir), "--daemonize",
                        "yes", "--save", "", "--pidfile",
                        str(rdir / "pid")], check=True,
                       capture_output=True)
        wait_for(lambda: subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True,
            text=True).stdout.strip() == "PONG", what="private redis")

    def redis_down():
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"],
                       capture_output=True)

    redis_up()
    try:
        peer(env={"BTCW_TEST_REDIS_PORT": str(port)})
        wait_for(lambda: ready(peer.admin), what="it_peer /readyz")
        redis_down()

        def unready():
            st, body = http_get(f"http://127.0.0.1:{peer.admin}/readyz")
            return st == 503 and json.loads(body)
        body = wait_for(unready, what="/readyz 503")
        assert body["failed"] == ["redis"]
        assert body["checks"]["postgres"] == "ok"
        redis_up()
        wait_for(lambda: ready(peer.admin), what="reconnect to redis")
    finally:
        redis_down()
