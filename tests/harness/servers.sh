#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for one test run, always torn down.
#
#   eval "$(tests/harness/servers.sh start)"   # prints export lines
#   tests/harness/servers.sh run CMD [ARGS...]  # CMD with them, then gone
#
# starts both on free loopback ports in a new temp folder, plus a reaper
# that stops them and deletes the folder as soon as the process that ran
# 'start' goes away, however it goes (a failed test, Ctrl-C, SIGKILL):
# the reaper waits for EOF on a pipe only the caller holds open.
# 'stop' does the same at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/servers.sh"

cleanup() {
	local dir=$1
	srv_pg_stop "$dir" immediate || true
	srv_redis_stop "$dir" || true
	rm -rf "$dir"
}

case "${1:-}" in
start)
	dir=$(mktemp -d /tmp/btcw-test.XXXXXX)
	chmod 755 "$dir"
	# A free port can be taken between the check and the bind (other
	# test runs on the machine): try a few ports before giving up. The
	# range 29000-31999 is below the ephemeral ports and apart from
	# the tests' own (tests/integration/conftest.py free_port).
	for try in 1 2 3 4 5; do
		pg_port=$(srv_free_port $((29000 + RANDOM % 3000)))
		srv_pg_start "$dir" "$pg_port" fsync=off full_page_writes=off \
			max_connections=200 >&2 && break
		[ "$try" = 5 ] && { cleanup "$dir"; exit 1; }
	done
	for try in 1 2 3 4 5; do
		redis_port=$(srv_free_port $((29000 + RANDOM % 3000)))
		srv_redis_start "$dir" "$redis_port" --save '' --appendonly no \
			>&2 && break
		[ "$try" = 5 ] && { cleanup "$dir"; exit 1; }
	done
	mkfifo "$dir/lifeline"
	# The reaper: blocks reading the lifeline until every writer is gone.
	setsid bash -c '. "$0"; cat "$1/lifeline" >/dev/null;
		srv_pg_stop "$1" immediate; srv_redis_stop "$1"; rm -rf "$1"' \
		"$here/../../scripts/lib/servers.sh" "$dir" \
		</dev/null >/dev/null 2>&1 &
	echo "export BTCW_TEST_DIR=$dir"
	echo "export BTCW_TEST_PG_DSN='host=127.0.0.1 port=$pg_port user=btcw dbname=btcw'"
	echo "export BTCW_TEST_PG_PORT=$pg_port"
	echo "export BTCW_TEST_REDIS_HOST=127.0.0.1"
	echo "export BTCW_TEST_REDIS_PORT=$redis_port"
	# The caller must hold the lifeline open: exec 9>"$BTCW_TEST_DIR/lifeline"
	;;
run)
	shift
	env_lines=$("$0" start) || exit 1
	eval "$env_lines"
	exec 9>"$BTCW_TEST_DIR/lifeline"
	"$@" 9>&-
	;;
stop)
	[ -n "${BTCW_TEST_DIR:-}" ] && [ -d "$BTCW_TEST_DIR" ] &&
		cleanup "$BTCW_TEST_DIR"
	;;
*)
	echo "usage: $0 start|stop|run CMD..." >&2
	exit 100
	;;
esac
