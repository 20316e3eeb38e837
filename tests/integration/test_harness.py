"""The test harness keeps its promise: the throwaway PostgreSQL and Redis
go away when the process that started them dies, even by SIGKILL."""
import os
import signal
import subprocess

from conftest import ROOT, wait_for


def port_open(port):
    return subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
                          capture_output=True).returncode == 0


def test_servers_torn_down_when_the_runner_is_killed():
    script = ('eval "$(tests/harness/servers.sh start)" || exit 1; '
              'exec 9>"$BTCW_TEST_DIR/lifeline"; '
              'echo "$BTCW_TEST_DIR $BTCW_TEST_PG_PORT $BTCW_TEST_REDIS_PORT"; '
              'sleep 600')
    p = subprocess.Popen(["bash", "-c", script], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        tmpdir, pg_port, redis_port = p.stdout.readline().split()
        assert os.path.isdir(tmpdir)
        assert port_open(pg_port) and port_open(redis_port)
        dsn = f"host=127.0.0.1 port={pg_port} user=btcw dbname=btcw"
        assert subprocess.run(["psql", dsn, "-tAc", "select 1"],
                              capture_output=True, text=True).stdout \
            .strip() == "1"
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # no trap, no cleanup code runs
        p.wait()
    wait_for(lambda: not os.path.exists(tmpdir), timeout=60,
             what="the reaper to remove the temp folder")
    assert not port_open(pg_port) and not port_open(redis_port)
