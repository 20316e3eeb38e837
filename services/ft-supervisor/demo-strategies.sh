#!/usr/bin/env bash
# Three simulated strategies for the local stack: creates demo-btc,
# demo-eth and demo-sol (BTC/USDT, ETH/USDT, SOL/USDT) if they do not exist
# and starts them, over ft-supervisor's RPC with nngcat alone.
#
#   services/ft-supervisor/demo-strategies.sh [RPC_URL]
#
# RPC_URL defaults to $BTCW_SUPERVISOR_RPC, else tcp://127.0.0.1:7101.
# Idempotent: a strategy already there is only (re)started. Waits up to
# 60 s for the supervisor to answer (it may still be reconciling).
set -euo pipefail
url=${1:-${BTCW_SUPERVISOR_RPC:-tcp://127.0.0.1:7101}}
id=0

call() { # call METHOD PARAMS_JSON -> the reply on stdout
	id=$((id + 1))
	nngcat --req --dial "$url" --ascii --recv-timeout 10 \
		--data "{\"v\":1,\"id\":$id,\"method\":\"$1\",\"params\":$2}"
}

field() { # field EXPR < reply: python expression on r (the reply)
	/usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); '"$1"
}

for _ in $(seq 60); do
	if call supervisor.capacity.get '{}' 2>/dev/null |
		field 'sys.exit(0 if r["ok"] else 1)'; then
		break
	fi
	sleep 1
done

existing=$(call supervisor.strategies.list '{}' |
	field 'print("\n".join("%s %d" % (s["name"], s["id"])
	       for s in r["result"]["strategies"]))')

for spec in "demo-btc BTC/USDT 0.3" "demo-eth ETH/USDT 0.5" \
	"demo-sol SOL/USDT 0.8"; do
	read -r name pair rate <<<"$spec"
	sid=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$existing")
	if [ -z "$sid" ]; then
		params="{\"name\":\"$name\",\"strategy_class\":\"SimStrategy\",
			\"exchange\":\"binance\",\"timeframe\":\"5m\",
			\"pair_whitelist\":[\"$pair\"],
			\"extra_config\":{\"ftsim\":{\"entries_per_minute\":$rate}}}"
		sid=$(call supervisor.strategies.create "${params//$'\n'/}" |
			field '(print(r["result"]["id"]) if r["ok"] else
			       sys.exit("create: " + r["error"]["message"]))')
		echo "created $name (id $sid)"
	fi
	call supervisor.strategies.start "{\"id\":$sid}" |
		field '(print("%s: %s" % (r["result"]["name"],
		       r["result"]["status"])) if r["ok"] else
		       sys.exit("start: " + r["error"]["message"]))'
done
