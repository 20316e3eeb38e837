#!/usr/bin/python3
"""ftsim size benchmark (not a timed test): start N idle ftsim bots with a
webhook configured, let every bot deliver its startup webhooks (so the
HTTP client and whatever it loads are initialised, as in real use), then
report per process: RSS as ps shows it, PSS and Private_Dirty from
/proc/PID/smaps_rollup, and CPU ticks used over IDLE seconds. Then each
bot gets what FreqUI does to it (a token login, a message websocket left
open) and its memory is measured again ("*_ui").

Run through run.sh (it builds a release ftsim). Prints a JSON report.
Settings (environment): BTCW_BUILD (build folder), BENCH_COUNTS ("1 50"),
IDLE (30, seconds of CPU sampling), SETTLE (3, seconds after the last
webhook before measuring), BENCH_URL (webhook URL; default a local
receiver started here).
"""
import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BTCW_BUILD", os.path.join(ROOT, "build", "bench"))
COUNTS = [int(n) for n in os.environ.get("BENCH_COUNTS", "1 50").split()]
IDLE = float(os.environ.get("IDLE", "30"))
SETTLE = float(os.environ.get("SETTLE", "3"))
HZ = os.sysconf("SC_CLK_TCK")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Receiver:
    """Counts webhook POSTs (answers 200, keeps nothing)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rcv.lock:
                    rcv.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port, url):
    tmpl = {"type": "{type}", "status": "{status}"}
    return {
        "max_open_trades": 3, "stake_currency": "USDT", "stake_amount": 100,
        "dry_run": True, "dry_run_wallet": 1000, "timeframe": "5m",
        "strategy": "SampleStrategy", "initial_state": "running",
        "exchange": {"name": "binance", "pair_whitelist": [
            "BTC/USDT", "ETH/USDT", "SOL/USDT"]},
        "pairlists": [{"method": "StaticPairList"}],
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": port, "username": "ft",
                       "password": "pw", "jwt_secret_key": "s"},
        # every lifecycle message goes out, trades too, then idle:
        # no entries (what runs is the worker tick and the heartbeat)
        "webhook": {"enabled": True, "url": url, "format": "json",
                    "status": tmpl, "warning": tmpl, "startup": tmpl,
                    "entry_fill": {"pair": "{pair}"},
                    "exit_fill": {"pair": "{pair}"}},
        "ftsim": {"entries_per_minute": 0},
    }


def ping(port):
    try:
        with OPENER.open("http://127.0.0.1:%d/api/v1/ping" % port,
                         timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def frequi(port):
    """A token login, then a message websocket left open (the socket is
    returned; closing it ends the connection)."""
    auth = base64.b64encode(b"ft:pw").decode()
    req = urllib.request.Request(
        "http://127.0.0.1:%d/api/v1/token/login" % port, data=b"{}",
        headers={"Authorization": "Basic " + auth,
                 "Content-Type": "application/json"})
    with OPENER.open(req, timeout=10) as r:
        tok = json.load(r)["access_token"]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /api/v1/message/ws?token=%s HTTP/1.1\r\nHost: x\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "\r\n" % (tok, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1024)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit("websocket refused: %r" % head[:80])
    return s


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def ps_rss(pid):
    return int(subprocess.run(["ps", "-o", "rss=", "-p", str(pid)],
                              capture_output=True, text=True).stdout)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def run(n, url, rcv, work):
    procs, ports = [], []
    before = rcv.count if rcv else 0
    for i in range(n):
        port = free_port()
        path = os.path.join(work, "bot%d.json" % i)
        with open(path, "w") as f:
            json.dump(config(port, url), f)
        procs.append(subprocess.Popen(
            [os.path.join(BUILD, "ftsim"), "trade", "--config", path,
             "--logfile", os.path.join(work, "bot%d.log" % i)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports.append(port)
    try:
        deadline = time.monotonic() + 60 + n
        for port in ports:
            while not ping(port):
                if time.monotonic() > deadline:
                    sys.exit("a bot did not answer /ping")
                time.sleep(0.1)
        # status, warning and two startup messages per bot
        while rcv and rcv.count - before < 4 * n:
            if time.monotonic() > deadline:
                sys.exit("webhooks missing: %d of %d" %
                         (rcv.count - before, 4 * n))
            time.sleep(0.1)
        time.sleep(SETTLE)
        pids = [p.pid for p in procs]
        mem = [dict(smaps(pid), ps_rss=ps_rss(pid)) for pid in pids]
        t0 = [cpu_ticks(pid) for pid in pids]
        time.sleep(IDLE)
        ticks = [cpu_ticks(pid) - a for pid, a in zip(pids, t0)]
        socks = [frequi(port) for port in ports]
        time.sleep(SETTLE)
        ui = [dict(smaps(pid), ps_rss=ps_rss(pid)) for pid in pids]
        for s in socks:
            s.close()
        alive = sum(p.poll() is None for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def avg(key, of=mem):
        return round(sum(m[key] for m in of) / n / 1024, 2)

    return {
        "instances": n, "alive_at_end": alive,
        "rss_mb_ps": avg("ps_rss"), "rss_mb_smaps": avg("Rss"),
        "pss_mb": avg("Pss"), "private_dirty_mb": avg("Private_Dirty"),
        "private_clean_mb": avg("Private_Clean"),
        "shared_clean_mb": avg("Shared_Clean"),
        "idle_seconds": IDLE, "idle_cpu_ticks_total": sum(ticks),
        "idle_cpu_ms_total": round(sum(ticks) * 1000 / HZ),
        "idle_cpu_pct_per_instance": round(
            sum(ticks) / HZ / IDLE / n * 100, 4),
        "rss_mb_ps_ui": avg("ps_rss", ui), "pss_mb_ui": avg("Pss", ui),
        "private_dirty_mb_ui": avg("Private_Dirty", ui),
    }


def main():
    url = os.environ.get("BENCH_URL")
    rcv = None
    if not url:
        rcv = Receiver()
        url = rcv.url
    work = tempfile.mkdtemp(prefix="btcw-bench-ftsim.")
    try:
        libs = subprocess.run(["ldd", os.path.join(BUILD, "ftsim")],
                              capture_output=True, text=True).stdout
        report = {"binary": os.path.join(BUILD, "ftsim"),
                  "shared_libraries": len(libs.strip().splitlines()),
                  "webhook_url": url,
                  "runs": [run(n, url, rcv, work) for n in COUNTS]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
