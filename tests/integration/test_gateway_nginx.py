"""nginx in front, started by scripts/lib/nginx.sh from deploy/nginx.conf
as the local stack starts it: the rendered config, the locations, static
files for the dashboard and FreqUI, nginx's own errors in the API's JSON
shape, the client address the gateway sees, start / stop."""
import os

from conftest import free_port
from test_gateway_proxy_support import Nginx, front, nginx  # noqa: F401
from test_gateway_support import api, is_error


def test_rendered_config(front):  # noqa: F811
    conf = open(os.path.join(front.ng.dir, "nginx.conf")).read()
    assert f"listen 127.0.0.1:{front.port};" in conf
    assert f"server 127.0.0.1:{front.gw_port};" in conf
    assert f"pid {front.ng.dir}/nginx.pid;" in conf
    for line in conf.splitlines():  # every marked line was replaced
        assert not line.rstrip().split(" ")[-1].startswith("btcw:"), line
    assert front.ng.running()
    rc, out = nginx("nginx_start", front.ng.dir, front.port,
                    f"http://127.0.0.1:{front.gw_port}")
    assert rc != 0 and "already running" in out
    r = api(front.port, "GET", "/healthz")
    assert r.status == 200 and r.text == "ok\n"


def test_api_through_nginx(front):  # noqa: F811
    r = front.api("GET", "/api/v1/health")
    assert r.status == 200 and r.body["service"] == "gateway", r
    # the gateway's own JSON errors pass through unchanged
    is_error(front.api("GET", "/api/v1/nope", role="viewer"), 404,
             "not_found")
    big = {"name": "x" * (70 * 1024)}
    is_error(front.api("POST", "/api/v1/strategies", big, role="trader"),
             413, "too_large")


def test_client_address_is_nginx_s_view(front):  # noqa: F811
    """A client cannot choose the address its failed logins count
    against: nginx overwrites X-Real-IP with the peer's address."""
    front.sql("DELETE FROM login_throttle")
    r = front.api("POST", "/api/v1/auth/login",
                  {"username": "nobody-here", "password": "Wrong-pass1!"},
                  headers={"X-Real-IP": "10.9.9.9"})
    is_error(r, 401, "invalid_credentials")
    assert front.sql("SELECT host(client_addr) FROM login_throttle") == \
        "127.0.0.1"
    front.sql("DELETE FROM login_throttle")


def test_static_dashboard_and_frequi(front):  # noqa: F811
    www = os.path.join(front.ng.dir, "www")
    os.makedirs(os.path.join(www, "frequi", "assets"), exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<p>dashboard</p>")
    with open(os.path.join(www, "frequi", "index.html"), "w") as f:
        f.write("<p>frequi</p>")
    with open(os.path.join(www, "frequi", "assets", "app.js"), "w") as f:
        f.write("console.log(1)")
    assert api(front.port, "GET", "/").text == "<p>dashboard</p>"
    assert api(front.port, "GET", "/some/page").text == "<p>dashboard</p>"
    assert api(front.port, "GET", "/frequi/").text == "<p>frequi</p>"
    r = api(front.port, "GET", "/frequi/assets/app.js")
    assert r.text == "console.log(1)"
    assert "javascript" in r.headers["content-type"]
    assert api(front.port, "GET",
               "/frequi/trade/deep/link").text == "<p>frequi</p>"


def test_gateway_down_is_a_json_502(tmp_path):
    dead = free_port()
    ng = Nginx(str(tmp_path / "ng"), f"http://127.0.0.1:{dead}")
    try:
        for path in ("/api/v1/health", "/bots/1/api/v1/ping",
                     "/freqtrade/1/ping"):
            r = api(ng.port, "GET", path)
            assert r.status == 502, (path, r)
            assert r.body == {"error": "unavailable",
                              "detail": "the gateway does not answer"}
    finally:
        ng.stop()
    assert not ng.running()
    rc, _ = nginx("nginx_stop", ng.dir)  # stopping twice is fine
    assert rc == 0
