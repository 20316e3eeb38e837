#!/usr/bin/env bash
# signal-ingest benchmark: durable signals per second from 64 concurrent
# FreqTrade-shaped webhook senders on loopback, against the single-row
# INSERT rate pgbench reaches with 16 clients on the same PostgreSQL (the
# anchor of /work/shared/bench-anchors, test b), in one run.
#
#   bench/ingest/run.sh            build, start, measure, print, clean up
#
# Settings (environment): DUR (10), WARM (2), CONNS (64), THREADS (2),
# STRATEGIES (20), PGBENCH_CLIENTS (16), ROUNDS (1), PRE_SQL (SQL run on
# the ingester's database before the rounds, for experiments with the
# schema: indexes, column types), KEEP=1 keeps the
# temp folder (logs), TOP=1 shows top's view in the middle of each run. PostgreSQL runs with its defaults: fsync on,
# synchronous_commit on -- durability is the point. Everything listens
# on 127.0.0.1, everything started here is stopped here (trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib/servers.sh

DUR=${DUR:-10} WARM=${WARM:-2} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
NSTRAT=${STRATEGIES:-20} PGB_CLIENTS=${PGBENCH_CLIENTS:-16}
ROUNDS=${ROUNDS:-1}
ANCHOR_SQL=${ANCHOR_SQL:-/work/shared/bench-anchors/pg/insert1.sql}
BUILD=${BUILD:-build/bench} # CFLAGS from the environment reach make

echo "== build ($BUILD, no sanitizers)"
make -s BUILD=$BUILD $BUILD/signal-ingest

TMP=$(mktemp -d /tmp/btcw-bench-ingest.XXXXXX)
chmod 755 "$TMP"
DAEMON_PID=
cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	srv_pg_stop "$TMP" fast || true
	if [ -n "${KEEP:-}" ]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

PG_PORT=$(srv_free_port $((24000 + RANDOM % 8000)))
echo "== postgres on $PG_PORT (fsync on, defaults), in $TMP"
srv_pg_start "$TMP" "$PG_PORT" max_connections=200 >&2
DSN="host=127.0.0.1 port=$PG_PORT user=btcw dbname=btcw"
PSQL=(psql -XqtA -v ON_ERROR_STOP=1)
"${PSQL[@]}" "$DSN" -c "SHOW fsync" -c "SHOW synchronous_commit" |
	tr '\n' ' ' | sed 's/^/fsync, synchronous_commit: /'
echo

# ---- signal-ingest ----
HTTP=$(srv_free_port $((PG_PORT + 11)))
RPC=$(srv_free_port $((HTTP + 1)))
EVENTS=$(srv_free_port $((RPC + 1)))
ADMIN=$(srv_free_port $((EVENTS + 1)))
mkdir -p "$TMP/config" "$TMP/data"
cp config/system.yml config/notifications.yml config/proxy.yml "$TMP/config/"
cat >"$TMP/config/services.yml" <<EOF
services:
  signal-ingest:
    rpc: tcp://127.0.0.1:$RPC
    events: tcp://127.0.0.1:$EVENTS
    admin_port: $ADMIN
    http_port: $HTTP
    http_url: http://127.0.0.1:$HTTP
EOF
BTCW_PG_PORT=$PG_PORT BTCW_DATABASE_DSN= BTCW_DATA="$TMP/data" \
BTCW_LOG_LEVEL=warn $BUILD/signal-ingest --config "$TMP/config" \
	>"$TMP/signal-ingest.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
	curl -fs -o /dev/null "http://127.0.0.1:$ADMIN/readyz" && break
	sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$ADMIN/readyz" ||
	{ cat "$TMP/signal-ingest.log"; exit 1; }

STRATS=""
for i in $(seq "$NSTRAT"); do
	tok=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
	id=$("${PSQL[@]}" "$DSN" -c "INSERT INTO strategies (name,
		strategy_class, exchange, timeframe, pair_whitelist,
		webhook_token) VALUES ('bench-$i', 'SampleStrategy', 'binance',
		'5m', '[\"BTC/USDT\"]', '$tok') RETURNING id")
	STRATS="$STRATS $id:$tok"
done
export STRATEGIES="$STRATS"
if [ -n "${PRE_SQL:-}" ]; then
	echo "== PRE_SQL: $PRE_SQL"
	"${PSQL[@]}" "$DSN" -c "$PRE_SQL"
fi
sleep 1.2 # the cache's next reload has them (a miss also reloads it)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
# CPU ticks of the whole PostgreSQL cluster (postmaster and children)
pg_ticks() {
	local pm pid t=0 stat rest
	pm=$(head -1 "$TMP/pg/postmaster.pid")
	for pid in $pm $(pgrep -P "$pm"); do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		rest=${stat##*) } # after the command name
		set -- $rest
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
rows() { "${PSQL[@]}" "$DSN" -c "SELECT count(*) FROM signals"; }
URL="http://127.0.0.1:$HTTP"

# the anchor: pgbench's own table, in a database of its own
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U btcw anchor
"${PSQL[@]}" "host=127.0.0.1 port=$PG_PORT user=btcw dbname=anchor" -c "
	CREATE TABLE signals (id bigserial PRIMARY KEY, strategy_id int,
	pair text, action text, rate double precision, payload jsonb,
	received_at timestamptz DEFAULT now())"

run_ingest() { # $1 round
	local out="$TMP/wrk-r$1.txt" before after t0 t1 c0 c1
	RUN=$((2 * $1)) wrk -t"$THREADS" -c"$CONNS" -d"${WARM}s" \
		-s bench/ingest/webhook.lua "$URL" >/dev/null
	"${PSQL[@]}" "$DSN" -c "CHECKPOINT"
	before=$(rows)
	c0=$(cpu_ticks)
	local p0 p1
	p0=$(pg_ticks)
	t0=$(date +%s%N)
	local top_pid=
	if [ -n "${TOP:-}" ]; then # where the CPU goes, mid-run
		(sleep $((DUR / 2)); top -b -n 2 -d 2 -w 120 |
			awk '/^top/ {n++} n == 2' | head -16 \
			>"$TMP/top-r$1.txt") &
		top_pid=$!
	fi
	RUN=$((2 * $1 + 1)) timeout $((DUR + 30)) wrk -t"$THREADS" \
		-c"$CONNS" -d"${DUR}s" --latency -s bench/ingest/webhook.lua \
		"$URL" >"$out" 2>&1
	t1=$(date +%s%N)
	c1=$(cpu_ticks)
	p1=$(pg_ticks)
	after=$(rows)
	local reqs non2xx p50 p99 secs
	reqs=$(awk '/requests in/ {print $1}' "$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b-a)/1e9}')
	ING_RATE=$(awk -v n="$((after - before))" -v s="$DUR" \
		'BEGIN {printf "%.0f", n / s}')
	echo "round $1 ingest: $((after - before)) durable signals" \
	     "(wrk: $reqs answered, ${non2xx:-0} non-2xx) in ${DUR} s" \
	     "(wall $secs s): $ING_RATE signals/s, p50 $p50, p99 $p99," \
	     "CPU per signal: ingester" \
	     "$(((c1 - c0) * 10000 / (after - before + 1))) us, PostgreSQL" \
	     "$(((p1 - p0) * 10000 / (after - before + 1))) us"
	ING_P50=$p50 ING_P99=$p99
	if [ -n "$top_pid" ]; then
		wait "$top_pid" || true
		sed 's/^/top: /' "$TMP/top-r$1.txt"
	fi
	if [ "$((after - before))" -lt "${reqs:-0}" ] && [ -z "$non2xx" ]; then
		echo "WARNING: fewer rows than acknowledged webhooks" >&2
	fi
}

run_pgbench() { # $1 round
	local out="$TMP/pgbench-r$1.txt" adsn
	adsn="host=127.0.0.1 port=$PG_PORT user=btcw dbname=anchor"
	"${PSQL[@]}" "$adsn" -c "TRUNCATE signals" -c "CHECKPOINT"
	timeout $((DUR + 60)) "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" \
		-U btcw -n -M prepared -f "$ANCHOR_SQL" -c "$PGB_CLIENTS" -j 2 \
		-T "$DUR" anchor >"$out" 2>&1
	PGB_TPS=$(awk '/^tps/ {printf "%.0f", $3}' "$out")
	echo "round $1 pgbench: single-row INSERT commits, $PGB_CLIENTS" \
	     "clients: $PGB_TPS tps ($(grep -E '^latency average' "$out"))"
}

for r in $(seq "$ROUNDS"); do
	run_ingest "$r"
	run_pgbench "$r"
	echo "== round $r: ingest $ING_RATE durable signals/s (p50 $ING_P50," \
	     "p99 $ING_P99) vs pgbench $PGB_TPS commits/s: ratio" \
	     "$(awk -v a="$ING_RATE" -v b="$PGB_TPS" \
		'BEGIN {printf "%.2f", a / b}')"
done
curl -fs "http://127.0.0.1:$ADMIN/metrics" |
	grep -E '^btcw_ingest_(batch_rows|commit_seconds)_(sum|count)|^btcw_ingest_(rejected|spooled)' |
	sed 's/^/metrics: /' || true
