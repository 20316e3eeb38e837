#!/usr/bin/env bash
# gateway benchmark, in one run on loopback (not a timed test):
#
#  HTTP  wrk against an ftsim bot's /status (started by ft-supervisor),
#        for a busy bot (3 open trades: ~6.4 KB the bot computes) and an
#        idle one ("[]": the proxies' own cost shows)
#        A  the bot directly             :bot/api/v1/status
#        B  nginx proxy_pass, upstream keep-alive (as the anchors'
#           conf/proxy.conf; the bot's Basic credentials set by nginx)
#        G  our gateway                  /api/strategy/{id}/status with a
#           bearer token (auth, role, route, keep-alive pool)
#        requests/s, p50, p99 and the ratios G/B, G/A, B/A per round.
#        Goal: G >= 0.9 x B requests/s, G p99 <= 1.5 x B p99.
#  WS    CLIENTS WebSocket clients on /ws while RATE signal.new events/s
#        are published on the bus (a pub socket on the monitor's events
#        address, which the gateway subscribes to): delivery latency
#        p50 / p99 / max and the gateway's RSS (bench/gateway/wsload.c,
#        built here with gcc).
#
#   bench/gateway/run.sh        build, start, measure, print, clean up
#
# Settings (environment): DUR (10), WARM (2), CONNS (64), THREADS (2),
# ROUNDS (2), CLIENTS (1000), RATE (1000), WS_DUR (10), SKIP_HTTP=1
# (only the WS part), KEEP=1 keeps the temp folder (logs), HOLD=S keeps
# the stack up S seconds before measuring (URLs in the temp folder). Every server
# started here is stopped here (trap); everything listens on 127.0.0.1. The gateway runs with
# BTCW_LOG_LEVEL=warn (no line per request), as nginx runs with
# access_log off.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/servers.sh

DUR=${DUR:-10} WARM=${WARM:-2} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2} CLIENTS=${CLIENTS:-1000} RATE=${RATE:-1000}
WS_DUR=${WS_DUR:-10}
BUILD=build/bench
ADMIN_USER=bench-admin ADMIN_PASS='Bench-pass-1!'

echo "== build ($BUILD, no sanitizers)"
make -s BUILD=$BUILD $BUILD/gateway $BUILD/ft-supervisor $BUILD/ftsim
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-o $BUILD/wsload bench/gateway/wsload.c -lnng -lcrypto

TMP=$(mktemp -d /tmp/btcw-bench-gateway.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	srv_pg_stop "$TMP" fast || true
	if [ -n "${KEEP:-}" ]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

PG_PORT=$(srv_free_port $((24000 + RANDOM % 8000)))
echo "== postgres on $PG_PORT, in $TMP"
srv_pg_start "$TMP" "$PG_PORT" max_connections=100 >&2

# ---- config: free ports, the ftsim command, a small port pool ----
port() { srv_free_port $(($1 + RANDOM % 50)); }
mkdir -p "$TMP/config" "$TMP/data"
cp config/system.yml config/notifications.yml config/proxy.yml "$TMP/config/"
BASE=$(port 26000)
sed -i -e "s|^\(\s*command:\).*|\1 [\"$PWD/$BUILD/ftsim\"]|" \
	-e "s|^\(\s*base_port:\).*|\1 $BASE|" \
	-e "s|^\(\s*port_range_end:\).*|\1 $((BASE + 9))|" \
	-e "s|^\(\s*max_strategies:\).*|\1 10|" \
	"$TMP/config/system.yml"
{
	echo "services:"
	p=$(port 27000)
	for s in ft-supervisor gateway signal-ingest monitor notifier backup; do
		echo "  $s:"
		echo "    rpc: tcp://127.0.0.1:$p"
		echo "    events: tcp://127.0.0.1:$((p + 1))"
		echo "    admin_port: $((p + 2))"
		if [ "$s" = gateway ]; then
			echo "    http_port: $((p + 3))"
			echo "    http_url: http://127.0.0.1:$((p + 3))"
			GW_HTTP=$((p + 3)) GW_ADMIN=$((p + 2))
		fi
		[ "$s" = ft-supervisor ] && SUP_ADMIN=$((p + 2)) SUP_RPC=$p
		[ "$s" = monitor ] && MON_EVENTS=$((p + 1))
		p=$((p + 10))
	done
} >"$TMP/config/services.yml"

start() { # name log-level [env...]
	local name=$1 level=$2
	shift 2
	env BTCW_PG_PORT="$PG_PORT" BTCW_DATABASE_DSN= BTCW_DATA="$TMP/data" \
		BTCW_LOG_LEVEL="$level" "$@" \
		"$BUILD/$name" --config "$TMP/config" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	echo "$name pid $!"
}
wait_url() { # url
	for _ in $(seq 200); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "no answer from $1" >&2
	return 1
}

start ft-supervisor info
wait_url "http://127.0.0.1:$SUP_ADMIN/readyz"
start gateway warn BTCW_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	BTCW_ADMIN_USER=$ADMIN_USER BTCW_ADMIN_PASSWORD="$ADMIN_PASS"
GW_PID=${PIDS[-1]}
wait_url "http://127.0.0.1:$GW_ADMIN/readyz"
GW="http://127.0.0.1:$GW_HTTP"

jget() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -fsS "$GW/api/v1/auth/login" -H 'Content-Type: application/json' \
	-d "{\"username\":\"$ADMIN_USER\",\"password\":\"$ADMIN_PASS\"}" |
	jget '["access_token"]')
AUTH="Authorization: Bearer $TOKEN"
# Two bots: "busy" keeps 3 trades open (/status ~6.4 KB of JSON the bot
# computes each time), "idle" has none (/status is "[]": the bot is fast
# and the proxies' own cost shows).
declare -A SID BOT_PORT BASIC
make_bot() { # name max_open_trades
	SID[$1]=$(curl -fsS "$GW/api/v1/strategies" -H "$AUTH" \
		-H 'Content-Type: application/json' -d '{"name": "bench-'"$1"'",
		"strategy_class": "SimStrategy", "exchange": "binance",
		"timeframe": "5m", "pair_whitelist": ["BTC/USDT", "ETH/USDT",
		"SOL/USDT"], "extra_config": {"max_open_trades": '"$2"',
		"ftsim": {"seed": 1, "entries_per_minute": 600,
		"min_trade_seconds": 86400, "max_trade_seconds": 86401}}}' |
		jget '["id"]')
	curl -fsS -o /dev/null -X POST "$GW/api/v1/strategies/${SID[$1]}/start" \
		-H "$AUTH"
}
bot_route() { # name
	local route
	for _ in $(seq 300); do
		curl -fs -o /dev/null "$GW/api/strategy/${SID[$1]}/ping" \
			-H "$AUTH" && break
		sleep 0.1
	done
	route=$(nngcat --req --dial "tcp://127.0.0.1:$SUP_RPC" --ascii \
		--recv-timeout 5 --data "{\"v\":1,\"id\":1,\"method\":
		\"supervisor.routes.get\",\"params\":{\"strategy_id\":
		${SID[$1]}}}")
	BOT_PORT[$1]=$(echo "$route" | jget '["result"]["port"]')
	BASIC[$1]=$(echo "$route" | python3 -c 'import json,sys,base64
r = json.load(sys.stdin)["result"]
u = r["username"] + ":" + r["password"]
print(base64.b64encode(u.encode()).decode())')
	echo "bot $1: strategy ${SID[$1]} on port ${BOT_PORT[$1]}"
}
make_bot busy 3
make_bot idle 0
bot_route busy
bot_route idle
sleep 3 # the busy bot's trades open

# ---- nginx as the anchors run it (conf/proxy.conf), credentials added ----
NG_PORT=$(port 28000)
mkdir -p "$TMP/nginx"
upstream() { # name
	cat <<EOF
    upstream bot_$1 {
        server 127.0.0.1:${BOT_PORT[$1]};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NG_PORT;
        location /api/strategy/${SID[$1]}/ {
            proxy_pass http://bot_$1/api/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Basic ${BASIC[$1]}";
        }
    }
EOF
}
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path client_body; proxy_temp_path proxy;
    fastcgi_temp_path fastcgi; uwsgi_temp_path uwsgi; scgi_temp_path scgi;
    keepalive_requests 100000;
$(upstream busy | sed '/^    server {$/,$d')
$(upstream idle | sed '/^    server {$/,$d')
    server {
        listen 127.0.0.1:$NG_PORT;
$(upstream busy | sed -n '/location/,/^        }$/p')
$(upstream idle | sed -n '/location/,/^        }$/p')
    }
}
EOF
nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
PIDS+=($!)
echo "nginx pid $!"
wait_url "http://127.0.0.1:$NG_PORT/api/strategy/${SID[idle]}/ping"

declare -A URL HDR
for bot in busy idle; do
	URL[A$bot]="http://127.0.0.1:${BOT_PORT[$bot]}/api/v1/status"
	URL[B$bot]="http://127.0.0.1:$NG_PORT/api/strategy/${SID[$bot]}/status"
	URL[G$bot]="$GW/api/strategy/${SID[$bot]}/status"
	HDR[A$bot]="Authorization: Basic ${BASIC[$bot]}"
	HDR[B$bot]="X-Bench: 1"
	HDR[G$bot]="$AUTH"
	for a in A B G; do
		k=$a$bot
		printf 'body %s %s: %s bytes, HTTP %s\n' "$bot" "$a" \
			"$(curl -fsS -H "${HDR[$k]}" "${URL[$k]}" | wc -c)" \
			"$(curl -s -o /dev/null -w '%{http_code}' \
				-H "${HDR[$k]}" "${URL[$k]}")"
	done
done

# wrk's "Requests/sec", and the 50% / 99% latencies in ms
parse() { # file -> "rps p50 p99 errors"
	python3 - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = {p: ms(*re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M).groups())
       for p in ("50", "99")}
err = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: (.*)", t)
print(f"{rps:.0f} {lat['50']:.3f} {lat['99']:.3f} "
      f"{(err.group(1) if err else '0')}{' sock:' + sock.group(1).replace(' ', '') if sock else ''}")
EOF
}

if [ -n "${HOLD:-}" ]; then # keep the stack up for manual runs
	for k in "${!URL[@]}"; do
		printf '%s %s | %s\n' "$k" "${URL[$k]}" "${HDR[$k]}"
	done >"$TMP/urls.txt"
	echo "holding for ${HOLD}s; URLs and headers in $TMP/urls.txt"
	echo "gateway pid $GW_PID"
	sleep "$HOLD"
fi

http_bench() {
echo
echo "== HTTP: wrk -t$THREADS -c$CONNS -d${DUR}s --latency, ${WARM}s warm-up"
for r in $(seq "$ROUNDS"); do
	for bot in busy idle; do
		for a in A B G; do
			k=$a$bot
			timeout 60 wrk -t"$THREADS" -c"$CONNS" -d"${WARM}s" \
				-H "${HDR[$k]}" "${URL[$k]}" >/dev/null
			sleep 1
			timeout 60 wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" \
				--latency -H "${HDR[$k]}" "${URL[$k]}" \
				>"$TMP/wrk-$k-r$r.txt"
			echo "$k $r $(parse "$TMP/wrk-$k-r$r.txt")" \
				>>"$TMP/results.txt"
			sleep 1
		done
	done
done
python3 - "$ROUNDS" "$TMP/results.txt" <<'EOF'
import sys
rounds = int(sys.argv[1])
res = {}
for ln in open(sys.argv[2]):
    k, r, *v = ln.split()
    res[(k, int(r))] = v
names = {"A": "A  wrk -> bot (direct)",
         "B": "B  wrk -> nginx proxy_pass -> bot",
         "G": "G  wrk -> gateway -> bot"}
bodies = {"busy": "busy bot, /status ~6.4 KB", "idle": 'idle bot, /status "[]"'}
for bot in ("busy", "idle"):
    print(f"\n{bodies[bot]}:\n")
    print("| path | round | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    for a in "ABG":
        for r in range(1, rounds + 1):
            v = res[(a + bot, r)]
            print(f"| {names[a]} | {r} | {float(v[0]):,.0f} | {v[1]} "
                  f"| {v[2]} | {v[3]} |")
print("\n| bot | round | G/B req/s | G/B p99 | G/A req/s | B/A req/s "
      "| goal (G/B >= 0.9, p99 <= 1.5x) |")
print("|---|---|---|---|---|---|---|")
for bot in ("busy", "idle"):
    for r in range(1, rounds + 1):
        a, b, g = (res[(x + bot, r)] for x in "ABG")
        rr = float(g[0]) / float(b[0])
        pr = float(g[2]) / float(b[2])
        ok = "met" if rr >= 0.9 and pr <= 1.5 else "NOT met"
        print(f"| {bot} | {r} | {rr:.3f} | {pr:.2f} "
              f"| {float(g[0]) / float(a[0]):.3f} "
              f"| {float(b[0]) / float(a[0]):.3f} | {ok} |")
EOF
}
[ -n "${SKIP_HTTP:-}" ] || http_bench

# ---- WebSocket live push ----
echo
echo "== WS: $CLIENTS clients on /ws, $RATE signal.new/s for ${WS_DUR}s"
rss() { awk '/^VmRSS/{print $2}' "/proc/$GW_PID/status"; }
hwm() { awk '/^VmHWM/{print $2}' "/proc/$GW_PID/status"; }
echo "gateway RSS before: $(rss) kB"
ulimit -n 20000
$BUILD/wsload --port "$GW_HTTP" --token "$TOKEN" --clients "$CLIENTS" \
	--rate "$RATE" --seconds "$WS_DUR" \
	--pub "tcp://127.0.0.1:$MON_EVENTS" --rss-pid "$GW_PID"
echo "gateway RSS after: $(rss) kB (peak over the whole run: $(hwm) kB)"
