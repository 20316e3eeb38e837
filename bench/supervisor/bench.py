#!/usr/bin/python3
"""ft-supervisor benchmark (not a timed test): start N ftsim bots, then
stop them all; report the wall time of each phase, the supervisor's RSS
and CPU, and the time from a kill -9 of one bot to its route being back.

Run through run.sh (it builds a release ft-supervisor and ftsim and a
throwaway PostgreSQL). Prints a JSON report on stdout.
"""
import concurrent.futures as cf
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BTCW_BUILD", os.path.join(ROOT, "build", "bench"))
N = int(os.environ.get("BENCH_BOTS", "999"))
WORK = os.environ.get("BENCH_DIR", "/tmp/btcw-bench-supervisor")
HZ = os.sysconf("SC_CLK_TCK")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def bindable(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_block(n, lo=10000, hi=32000):
    start = lo
    while start + n < hi:
        bad = next((p for p in range(start, start + n)
                    if not bindable(p)), None)
        if bad is None:
            return start
        start = bad + 1
    sys.exit("no free block of %d ports" % n)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(d, base):
    os.makedirs(d, exist_ok=True)
    for f in ("system.yml", "notifications.yml", "proxy.yml"):
        shutil.copy(os.path.join(ROOT, "config", f), d)
    names = ("ft-supervisor", "gateway", "signal-ingest", "monitor",
             "notifier", "backup")
    ports = {}
    lines = ["services:"]
    for name in names:
        p = {k: free_port() for k in ("rpc", "events", "admin", "http")}
        ports[name] = p
        lines += [f"  {name}:", f"    rpc: tcp://127.0.0.1:{p['rpc']}",
                  f"    events: tcp://127.0.0.1:{p['events']}",
                  f"    admin_port: {p['admin']}"]
        if name in ("gateway", "signal-ingest"):
            lines += [f"    http_port: {p['http']}",
                      f"    http_url: http://127.0.0.1:{p['http']}"]
    open(os.path.join(d, "services.yml"), "w").write("\n".join(lines) + "\n")
    y = os.path.join(d, "system.yml")
    text = open(y).read()
    for old, new in (
            ("command: [ftsim]", f"command: [{BUILD}/ftsim]"),
            ("base_port: 8081", f"base_port: {base}"),
            ("port_range_end: 9080", f"port_range_end: {base + N - 1}"),
            ("max_strategies: 999", f"max_strategies: {N}"),
            ("startup_timeout: 60", "startup_timeout: 300")):
        assert old in text, old
        text = text.replace(old, new)
    open(y, "w").write(text)
    return ports


class Rpc:
    def __init__(self, port):
        self.url = f"tcp://127.0.0.1:{port}"

    def __call__(self, method, params=None, timeout=30):
        body = json.dumps({"v": 1, "id": 1, "method": method,
                           "params": params or {}})
        out = subprocess.run(["nngcat", "--req", "--dial", self.url,
                              "--ascii", "--data", body, "--recv-timeout",
                              str(timeout)], capture_output=True,
                             text=True)
        rep = json.loads(out.stdout)
        if not rep["ok"]:
            raise RuntimeError(f"{method}: {rep['error']}")
        return rep["result"]


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = hwm = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return ticks / HZ, rss, hwm


def bots(marker):
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read()
            if marker.encode() in cmd and b"trade" in cmd:
                st = open(f"/proc/{d}/status").read()
                rss = next(int(l.split()[1]) for l in st.splitlines()
                           if l.startswith("VmRSS:"))
                out[int(d)] = rss / 1024
        except (OSError, StopIteration):
            pass
    return out


def metrics(port):
    with OPENER.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def running(rpc):
    n, after = 0, 0
    while True:
        params = {"status": "running", "limit": 1000}
        if after:
            params["after_id"] = after
        r = rpc("supervisor.strategies.list", params)
        n += len(r["strategies"])
        if not r["has_more"]:
            return n
        after = r["strategies"][-1]["id"]


def ping(port):
    try:
        with OPENER.open(f"http://127.0.0.1:{port}/api/v1/ping",
                         timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    base = port_block(N)
    cfgdir = os.path.join(WORK, "config")
    ports = write_config(cfgdir, base)
    sup_ports = ports["ft-supervisor"]
    env = {**os.environ, "BTCW_DATA": os.path.join(WORK, "data"),
           "BTCW_PG_PORT": os.environ["BTCW_TEST_PG_PORT"],
           "BTCW_DATABASE_DSN": "", "BTCW_LOG_LEVEL": "warn"}
    psql = ["psql", os.environ["BTCW_TEST_PG_DSN"], "-XtAq", "-c"]
    log = open(os.path.join(WORK, "ft-supervisor.log"), "wb")
    sup = subprocess.Popen([f"{BUILD}/ft-supervisor", "--config", cfgdir],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    rpc = Rpc(sup_ports["rpc"])
    report = {"bots": N, "cores": os.cpu_count(), "port_range":
              f"{base}-{base + N - 1}"}
    try:
        for _ in range(200):
            try:
                rpc("supervisor.capacity.get", timeout=1)
                break
            except (RuntimeError, ValueError):
                time.sleep(0.1)
        subprocess.run(psql + ["DELETE FROM freqtrade_upgrades"], check=True)
        pool = cf.ThreadPoolExecutor(8)
        t = time.monotonic()
        pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
        ids = list(pool.map(lambda i: rpc("supervisor.strategies.create", {
            "name": f"bench-{i}", "strategy_class": "SimStrategy",
            "exchange": "binance", "timeframe": "5m",
            "pair_whitelist": [pairs[i % 4]],
            "extra_config": {"ftsim": {"seed": i}}})["id"], range(N)))
        report["create_s"] = round(time.monotonic() - t, 2)

        cpu0, _, _ = proc_cpu_rss(sup.pid)
        t = time.monotonic()
        list(pool.map(lambda i: rpc("supervisor.strategies.start",
                                    {"id": i}), ids))
        report["start_requests_s"] = round(time.monotonic() - t, 2)
        while running(rpc) < N:
            time.sleep(0.5)
        report["start_all_s"] = round(time.monotonic() - t, 2)
        lat = metrics(sup_ports["admin"])
        report["spawn_to_ping_avg_s"] = round(
            lat["btcw_supervisor_start_latency_seconds_sum"]
            / lat["btcw_supervisor_start_latency_seconds_count"], 3)
        cpu1, rss, hwm = proc_cpu_rss(sup.pid)
        report["start_supervisor_cpu_s"] = round(cpu1 - cpu0, 2)
        report["supervisor_rss_mb"] = round(rss, 1)
        bot_rss = bots(WORK)
        report["bot_processes"] = len(bot_rss)
        report["bots_rss_total_mb"] = round(sum(bot_rss.values()), 1)
        report["bot_rss_avg_mb"] = round(
            sum(bot_rss.values()) / max(1, len(bot_rss)), 1)

        time.sleep(30)  # steady state: health pings, no work
        cpu2, rss, _ = proc_cpu_rss(sup.pid)
        report["steady_supervisor_cpu_percent"] = round(
            (cpu2 - cpu1) / 30 * 100, 2)

        victim = ids[N // 2]
        s = rpc("supervisor.strategies.get", {"id": victim})
        old = {p for p in bots(WORK)}
        procs = rpc("supervisor.processes.list",
                    {"strategy_ids": [victim]})["processes"]
        t = time.monotonic()
        os.kill(procs[0]["pid"], signal.SIGKILL)
        while rpc("supervisor.strategies.get",
                  {"id": victim})["status"] == "running":
            pass
        report["kill9_seen_s"] = round(time.monotonic() - t, 3)
        while True:
            try:
                r = rpc("supervisor.routes.get", {"strategy_id": victim},
                        timeout=2)
                if ping(r["port"]) and rpc(
                        "supervisor.strategies.get",
                        {"id": victim})["restart_count"] == 1:
                    break
            except RuntimeError:
                pass
            time.sleep(0.01)
        report["kill9_to_route_back_s"] = round(time.monotonic() - t, 3)
        report["kill9_port_kept"] = r["port"] == s["port"]
        assert len(set(bots(WORK)) - old) == 1

        cpu3, _, _ = proc_cpu_rss(sup.pid)
        t = time.monotonic()
        stopped = rpc("supervisor.strategies.stop_all")
        report["stop_all_reply_s"] = round(time.monotonic() - t, 3)
        report["stop_all_count"] = stopped["count"]
        while bots(WORK) or running(rpc):
            time.sleep(0.2)
        report["stop_all_s"] = round(time.monotonic() - t, 2)
        cpu4, rss, hwm = proc_cpu_rss(sup.pid)
        report["stop_supervisor_cpu_s"] = round(cpu4 - cpu3, 2)
        report["supervisor_peak_rss_mb"] = round(hwm, 1)
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(120)
        for p in bots(WORK):
            os.killpg(p, signal.SIGKILL)
        subprocess.run(psql + [
            "UPDATE strategies SET status = 'deleted', deleted_at = now(),"
            " desired_state = 'stopped', port = NULL, pid = NULL,"
            " pid_starttime = NULL, pid_boot_id = NULL"
            " WHERE deleted_at IS NULL"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
