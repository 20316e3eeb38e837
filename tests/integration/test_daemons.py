"""Every daemon built on the service kit: start-up from a config folder,
/healthz /readyz /metrics, <svc>.config.show over nng, config errors with
file:line:key, SIGHUP reload (invalid keeps the old config), SIGTERM."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import binary, call, free_port, http_get, schema_errors, \
    start_daemon, wait_for

# daemon -> (rpc method prefix, readiness checks it must report at least)
DAEMONS = {
    "ft-supervisor": ("supervisor", {"postgres"}),
    "gateway": ("gateway", {"postgres"}),
    "signal-ingest": ("ingest", {"postgres"}),
    "monitor": ("monitor", {"redis"}),
    "notifier": ("notifier", {"postgres"}),
    "backup": ("backup", {"postgres", "redis"}),
}


@pytest.mark.parametrize("name", list(DAEMONS))
def test_daemon_starts_serves_and_stops(spawn, confdir, env, name, tmp_path):
    prefix, checks = DAEMONS[name]
    if name == "gateway":  # not ready until the supervisor answers
        start_daemon(spawn, "ft-supervisor", confdir, env)
    proc = start_daemon(spawn, name, confdir, env)
    admin = confdir.ports[name]["admin"]

    st, body = http_get(f"http://127.0.0.1:{admin}/healthz")
    health = json.loads(body)
    assert st == 200 and health["status"] == "ok"
    assert health["service"] == name and health["version"]

    st, body = http_get(f"http://127.0.0.1:{admin}/readyz")
    ready = json.loads(body)
    # the kit's checks, plus whatever the daemon adds of its own
    assert st == 200 and checks <= set(ready["checks"])
    assert set(ready["checks"].values()) == {"ok"}

    st, text = http_get(f"http://127.0.0.1:{admin}/metrics")
    assert st == 200
    assert f'btcw_build_info{{service="{name}"' in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    rep = call(confdir.ports[name]["rpc"], f"{prefix}.config.show")
    assert rep["ok"], rep
    assert schema_errors(f"methods/{prefix}.config.show.result.schema.json",
                         rep["result"]) == []
    assert rep["result"]["service"] == prefix
    assert {s["status"] for s in rep["result"]["sources"]} == {"loaded"}
    cfg = rep["result"]["config"]
    assert set(cfg) == {"system", "notifications", "proxy", "services"}
    assert cfg["system"]["monitoring"]["system_status_interval"] == 30

    assert proc.stop() == 0
    events = [e["event"] for e in proc.log_events()]
    assert "daemon.started" in events and "daemon.stopped" in events


def test_version_and_usage(tmp_path):
    out = subprocess.run([binary("monitor"), "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and re.match(r"monitor \d+\.\d+", out.stdout)
    out = subprocess.run([binary("monitor"), "--nope"],
                         capture_output=True, text=True)
    assert out.returncode == 100 and "usage:" in out.stderr


def replace_line(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    lines = text.splitlines()
    return next(i + 1 for i, l in enumerate(lines) if old in l)


def test_invalid_config_refused_with_file_line_key(confdir, env):
    sysyml = confdir / "system.yml"
    line = replace_line(sysyml, "system_status_interval: 30",
                        "system_status_interval: abc")
    out = subprocess.run([binary("monitor"), "--config", str(confdir)],
                         capture_output=True, text=True, timeout=20,
                         env={**os.environ, **env})
    assert out.returncode == 100
    want = (f'{sysyml}:{line}: system.monitoring.system_status_interval: '
            f'expected a positive integer, got "abc"')
    assert want in out.stderr.replace('\\"', '"'), out.stderr


def test_unknown_key_refused(confdir, env):
    sysyml = confdir / "system.yml"
    line = replace_line(sysyml, "system_status_interval: 30",
                        "sytem_status_interval: 30")
    out = subprocess.run([binary("monitor"), "--config", str(confdir)],
                         capture_output=True, text=True, timeout=20,
                         env={**os.environ, **env})
    assert out.returncode == 100
    assert (f"{sysyml}:{line}: system.monitoring.sytem_status_interval: "
            "unknown key") in out.stderr, out.stderr


def test_check_config_prints_what_the_daemon_would_run_with(confdir, env):
    """--check-config: the effective configuration as JSON on stdout
    (defaults filled in, ${ENV} expanded, secrets hidden), nothing
    started; an invalid file is the usual file:line:key error."""
    (confdir / "proxy.yml").unlink()
    for name in ("monitor", "gateway"):  # the gateway: with its secret
        out = subprocess.run([binary(name), "--config", str(confdir),
                              "--check-config"], capture_output=True,
                             text=True, timeout=20,
                             env={**os.environ, **env})
        assert out.returncode == 0, out.stderr
        cfg = json.loads(out.stdout)
        assert set(cfg) == {"system", "notifications", "proxy", "services"}
        svc = cfg["services"]["monitor"]
        assert svc["admin_port"] == confdir.ports["monitor"]["admin"]
        assert svc["rpc"] == \
            f"tcp://127.0.0.1:{confdir.ports['monitor']['rpc']}"
        assert cfg["system"]["ports"]["base_port"] == 8081
        assert cfg["system"]["freqtrade"]["config_directory"].startswith(
            env["BTCW_DATA"])
        secret = cfg["system"]["security"]["jwt_secret_key"]
        assert secret != env["BTCW_JWT_SECRET"] and \
            env["BTCW_JWT_SECRET"] not in out.stdout
        # nothing listens: it did not start
        admin = confdir.ports[name]["admin"]
        assert http_get(f"http://127.0.0.1:{admin}/healthz")[0] != 200
    line = replace_line(confdir / "system.yml", "base_port: 8081",
                        "base_port: eighty")
    out = subprocess.run([binary("monitor"), "--config", str(confdir),
                          "--check-config"], capture_output=True,
                         text=True, timeout=20, env={**os.environ, **env})
    assert out.returncode == 100 and out.stdout == ""
    assert f"system.yml:{line}: system.ports.base_port" in out.stderr


def test_missing_files_mean_defaults_and_a_warning(spawn, confdir, env):
    for f in ("system.yml", "notifications.yml", "proxy.yml"):
        (confdir / f).unlink()
    proc = spawn([binary("monitor"), "--config", str(confdir)], "monitor",
                 env=env)
    admin = confdir.ports["monitor"]["admin"]
    wait_for(lambda: http_get(f"http://127.0.0.1:{admin}/healthz")[0]
             == 200, what="monitor /healthz")
    warned = {e.get("file", e.get("path", "")).rsplit("/", 1)[-1]
              for e in proc.log_events() if e["event"] == "config.missing"}
    assert warned == {"system.yml", "notifications.yml", "proxy.yml"}
    rep = call(confdir.ports["monitor"]["rpc"], "monitor.config.show")
    assert {s["path"].rsplit("/", 1)[-1]: s["status"]
            for s in rep["result"]["sources"]} == {
        "system.yml": "missing", "notifications.yml": "missing",
        "proxy.yml": "missing", "services.yml": "loaded"}
    monitoring = rep["result"]["config"]["system"]["monitoring"]
    assert monitoring["capacity_interval"] == 300


def test_sighup_reload_keeps_old_config_when_invalid(spawn, confdir, env):
    proc = start_daemon(spawn, "monitor", confdir, env)
    rpc = confdir.ports["monitor"]["rpc"]
    sysyml = confdir / "system.yml"

    def interval():
        rep = call(rpc, "monitor.config.show")
        cfg = rep["result"]["config"]
        return cfg["system"]["monitoring"]["system_status_interval"]

    good = sysyml.read_text()
    line = replace_line(sysyml, "system_status_interval: 30",
                        "system_status_interval: -5")
    proc.signal(signal.SIGHUP)
    failed = wait_for(lambda: [e for e in proc.log_events()
                               if e["event"] == "config.reload_failed"],
                      what="config.reload_failed")
    assert f"system.yml:{line}: system.monitoring.system_status_interval" \
        in failed[0]["error"]
    assert interval() == 30 and proc.alive()
    # the same through the RPC method: a clear error, old config kept
    rep = call(rpc, "monitor.config.reload")
    assert rep["ok"] is False and rep["error"]["code"] == "invalid"
    assert "system_status_interval" in rep["error"]["message"]
    assert rep["error"]["details"] == {
        "file": str(sysyml), "line": line,
        "key": "system.monitoring.system_status_interval"}
    assert interval() == 30

    sysyml.write_text(good.replace("system_status_interval: 30",
                                   "system_status_interval: 45"))
    proc.signal(signal.SIGHUP)
    wait_for(lambda: interval() == 45, what="reloaded interval")

    # a restart-only key is applied to the record but named in a warning
    services = (confdir / "services.yml").read_text()
    new_admin = free_port()
    (confdir / "services.yml").write_text(services.replace(
        f"admin_port: {confdir.ports['monitor']['admin']}",
        f"admin_port: {new_admin}"))
    rep = call(rpc, "monitor.config.reload")
    assert rep["ok"], rep
    assert schema_errors("methods/monitor.config.reload.result.schema.json",
                         rep["result"]) == []
    assert rep["result"]["changed_keys"] == ["services.monitor.admin_port"]
    assert rep["result"]["restart_required_keys"] == [
        "services.monitor.admin_port"]
    assert any(e["event"] == "config.restart_required"
               and e["key"] == "services.monitor.admin_port"
               for e in proc.log_events())
