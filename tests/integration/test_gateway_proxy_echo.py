"""What the strategy proxy passes on and what it keeps back, seen from
the bot's side: the supervisor runs this file as its bot command (an echo
bot that speaks enough of FreqTrade's API: /ping, /stop, HTTP Basic with
its api_server credentials) and the bot answers every other request with
what it received. Requests go to the gateway directly, so that nginx's
own header handling does not hide the gateway's.

Run as a script it is the echo bot:
    python3 test_gateway_proxy_echo.py trade --config F --logfile L
"""
import base64
import http.server
import json
import signal
import sys

if __name__ != "__main__":
    import pytest

    from test_gateway_proxy_support import make_front
    from test_gateway_support import is_error

HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding",
       "upgrade", "proxy-authorization", "proxy-connection"}


# ---- the echo bot ----

class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    creds = ""

    def log_message(self, *a):
        pass

    def _send(self, status, obj, extra=(), chunked=False):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in extra:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path
        if path == "/api/v1/ping":
            return self._send(200, {"status": "pong"})
        if (self.headers.get("Authorization") != "Basic " + self.creds
                or path == "/api/v1/deny"):
            return self._send(401, {"detail": "Unauthorized"},
                              [("WWW-Authenticate", "Basic")])
        if path == "/api/v1/stop":
            return self._send(200, {"status": "stopping trader ..."})
        if path.startswith("/api/v1/big"):
            return self._send(200, {"big": "y" * 1_000_000}, chunked=True)
        self._send(200, {
            "method": self.command, "path": path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode(errors="replace"),
        }, extra=[("Connection", "X-Resp-Hop"), ("X-Resp-Hop", "1"),
                  ("Keep-Alive", "timeout=5"), ("Set-Cookie", "s=1"),
                  ("Access-Control-Allow-Origin", "*"),
                  ("X-End-To-End", "2")],
            chunked=path.startswith("/api/v1/chunked"))

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def serve(argv):
    cfg = json.load(open(argv[argv.index("--config") + 1]))
    api = cfg["api_server"]
    Echo.creds = base64.b64encode(
        f"{api['username']}:{api['password']}".encode()).decode()
    srv = http.server.ThreadingHTTPServer(
        (api["listen_ip_address"], api["listen_port"]), Echo)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    serve(sys.argv)
    sys.exit(0)


# ---- the tests ----

@pytest.fixture(scope="module")
def front(tmp_path_factory):
    yield from make_front(tmp_path_factory, [sys.executable, __file__])


@pytest.fixture(scope="module")
def echo(front):
    return front.create_bot("echo-bot")


def headers_of(r):
    return {k.lower(): v for k, v in r.body["headers"]}


def test_request_headers_hop_by_hop_and_credentials(front, echo):
    r = front.gw_api("GET", f"/api/strategy/{echo}/echo?x=1&y=%20z&x=2",
                     role="viewer", headers={
                         "Connection": "keep-alive, X-Hop",
                         "X-Hop": "secret", "Keep-Alive": "timeout=300",
                         "TE": "trailers", "Proxy-Authorization": "Basic x",
                         "Cookie": "session=abc", "X-Custom": "kept",
                         "Accept": "application/json"})
    assert r.status == 200, r
    assert r.body["method"] == "GET"
    assert r.body["path"] == "/api/v1/echo?x=1&y=%20z&x=2"
    h = headers_of(r)
    assert h["x-custom"] == "kept" and h["accept"] == "application/json"
    assert not (HOP | {"x-hop", "cookie"}) & set(h), h
    route = front.bot_route(echo)
    assert h["host"] == f"127.0.0.1:{route['port']}"
    # the caller's token never reaches the bot; the bot's own Basic does
    assert h["authorization"].startswith("Basic ")
    assert front.tokens["viewer"] not in json.dumps(r.body)
    # and the bot's credentials never reach the caller
    assert route["password"] not in r.text
    assert route["password"] not in json.dumps(r.headers)


def test_response_headers(front, echo):
    r = front.gw_api("GET", f"/api/strategy/{echo}/echo", role="viewer")
    assert r.headers["x-end-to-end"] == "2"
    for gone in ("x-resp-hop", "keep-alive", "set-cookie",
                 "access-control-allow-origin", "www-authenticate"):
        assert gone not in r.headers, (gone, r.headers)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"


def test_bodies_for_every_method(front, echo):
    for method in ("POST", "PUT", "DELETE"):
        raw = f'{{"m": "{method}", "unicode": "\u00e9\u4e2d"}}'.encode()
        r = front.gw_api(method, f"/api/strategy/{echo}/echo?q={method}",
                         raw=raw, role="trader",
                         ctype="application/json; charset=utf-8")
        assert r.status == 200, r
        assert r.body["method"] == method
        assert r.body["path"] == f"/api/v1/echo?q={method}"
        assert r.body["body"].encode() == raw
        h = headers_of(r)
        assert h["content-type"] == "application/json; charset=utf-8"
        assert h["content-length"] == str(len(raw))
    r = front.gw_api("POST", f"/api/strategy/{echo}/echo", role="trader",
                     ctype=None)
    assert r.status == 200 and r.body["body"] == ""
    assert headers_of(r)["content-length"] == "0"


def test_chunked_and_large_answers(front, echo):
    r = front.gw_api("GET", f"/api/strategy/{echo}/chunked", role="viewer")
    assert r.status == 200 and r.body["path"] == "/api/v1/chunked"
    assert "transfer-encoding" not in r.headers or r.headers[
        "transfer-encoding"] == "chunked"
    r = front.api("GET", f"/api/strategy/{echo}/big", role="viewer")
    assert r.status == 200 and len(r.body["big"]) == 1_000_000


def test_a_bot_refusing_our_credentials_is_502(front, echo):
    """Never a 401 the client would take for its own token failing."""
    r = front.gw_api("GET", f"/api/strategy/{echo}/deny", role="viewer")
    b = is_error(r, 502, "upstream_error")
    assert "credentials" in b["detail"]
    assert "www-authenticate" not in r.headers
