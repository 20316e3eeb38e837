"""Gateway health, readiness, metrics, hashing off the loop, and a
draining shutdown."""
import json
import signal
import subprocess
import threading
import time

from conftest import http_get, start_daemon
from test_gateway_support import (ADMIN, StandIn, api, gw, gw_env, is_error,
                                  standins, wait_until)

assert gw and standins  # fixtures, used by name


def test_public_health_and_readiness(gw):
    r = api(gw.port, "GET", "/api/v1/health")  # no token
    assert r.status == 200, r
    assert r.body["status"] == "ok"
    assert r.body["checks"] == {"database": "ok", "supervisor": "ok"}
    st, body = http_get(f"http://127.0.0.1:{gw.admin_port}/readyz")
    assert st == 200
    assert json.loads(body)["checks"] == {"postgres": "ok",
                                          "supervisor": "ok"}
    port = gw.sup().port
    gw.sup().stop()
    assert wait_until(lambda: api(gw.port, "GET",
                                  "/api/v1/health").status == 503, 15)
    r = api(gw.port, "GET", "/api/v1/health")
    b = is_error(r, 503, "unavailable")
    assert r.body["checks"]["supervisor"] == "unreachable"
    assert "supervisor" in b["detail"]
    st, body = http_get(f"http://127.0.0.1:{gw.admin_port}/readyz")
    assert st == 503 and json.loads(body)["failed"] == ["supervisor"]
    assert "btcw_gateway_supervisor_up 0" in gw.metrics()
    # it comes back: probed every second while down
    gw.standins["ft-supervisor"] = StandIn(port, "supervisor")
    assert wait_until(lambda: api(gw.port, "GET",
                                  "/api/v1/health").status == 200, 15)
    gw.standins["ft-supervisor"].stop()


def test_metrics(gw):
    gw.api("GET", "/api/v1/auth/me", role="viewer")
    gw.api("GET", "/api/v1/strategies/77", role="viewer")
    gw.api("GET", "/api/v1/nope", role="viewer")
    gw.sup().handlers["supervisor.capacity.get"] = lambda p: (
        "error", "unavailable", "draining")
    gw.api("GET", "/api/v1/system/capacity", role="viewer")
    gw.login(ADMIN[0], "Wrong!pass")
    text = gw.metrics()
    check = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for line in (
            'btcw_gateway_http_requests_total{route="/api/v1/auth/me",'
            'method="GET",status="200"} 1',
            'btcw_gateway_http_requests_total{route="/api/v1/strategies/'
            '{id}",method="GET",status="200"} 1',
            'btcw_gateway_http_requests_total{route="unmatched",'
            'method="GET",status="404"} 1',
            'btcw_gateway_http_requests_total{route="/api/v1/system/'
            'capacity",method="GET",status="503"} 1',
            'btcw_gateway_downstream_errors_total{service="supervisor",'
            'code="unavailable"} 1',
            'btcw_gateway_logins_total{result="failure"} 1',
            'btcw_gateway_lockouts_total{scope="account"} 0',
            'btcw_gateway_supervisor_up 1'):
        assert line in text, line
    assert 'btcw_gateway_http_request_duration_seconds_bucket{route="/api/' \
        'v1/auth/me",le="0.005"}' in text
    assert 'btcw_gateway_http_request_duration_seconds_count{route=' \
        '"/api/v1/auth/login"}' in text


def test_hashing_does_not_block_the_loop(gw):
    """16 logins (argon2id, tens of ms each) at once while the health
    route is polled: the loop keeps answering at once."""
    done = []

    def login():
        done.append(gw.login(*ADMIN).status)

    threads = [threading.Thread(target=login) for _ in range(16)]
    for t in threads:
        t.start()
    worst = 0.0
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        assert api(gw.port, "GET", "/api/v1/health").status == 200
        worst = max(worst, time.monotonic() - t0)
    for t in threads:
        t.join()
    assert done == [200] * 16
    assert worst < 0.25, worst


def test_sigterm_drains_requests_in_flight(gw):
    gw.sup().handlers["supervisor.capacity.get"] = lambda p: "hang"
    out = {}

    def call():
        out["r"] = gw.api("GET", "/api/v1/system/capacity", role="viewer")

    th = threading.Thread(target=call)
    th.start()
    assert wait_until(lambda: len(gw.sup().calls_of(
        "supervisor.capacity.get")) >= 2)  # the probe's, then ours
    gw.proc.signal(signal.SIGTERM)
    # no new connections while draining
    assert wait_until(lambda: api_refused(gw.port), 5)
    th.join(10)
    is_error(out["r"], 504, "timeout")  # answered, not dropped
    assert gw.proc.p.wait(15) == 0
    events = [e["event"] for e in gw.proc.log_events()]
    assert "http.draining" in events and "daemon.stopped" in events


def api_refused(port):
    try:
        api(port, "GET", "/api/v1/health", timeout=2)
    except OSError:
        return True
    return False


def test_upkeep_purges_dead_rows(gw):
    aid = gw.sql(f"SELECT id FROM users WHERE username = '{ADMIN[0]}'")
    gw.sql("INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES "
           f"('{'a' * 32}', {aid}, now() - interval '1 minute'), "
           f"('{'b' * 32}', {aid}, now() + interval '1 hour')")
    gw.sql("INSERT INTO login_throttle (client_addr, failed_count, "
           "updated_at) VALUES ('10.9.9.1', 1, now() - interval '2 days'),"
           " ('10.9.9.2', 1, now())")
    # the purge runs a second after start, then every 10 minutes
    assert gw.proc.stop() == 0
    gw.proc = start_daemon(gw.proc_spawn, "gateway", gw.confdir,
                           gw_env(gw.env))
    assert wait_until(lambda: gw.sql(
        "SELECT count(*) FROM revoked_tokens") == "1", 10)
    assert gw.sql("SELECT host(client_addr) FROM login_throttle") == \
        "10.9.9.2"
