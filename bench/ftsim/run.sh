#!/usr/bin/env bash
# ftsim size benchmark: a release build (no sanitizers) of ftsim in
# $BUILD (build/bench-ftsim), then bench.py: 1 and 50 idle bots with a
# webhook configured; RSS, PSS, private memory and idle CPU (30 s) per
# bot, then memory again after a token login and an open message
# websocket per bot (what FreqUI does). Prints the JSON report; results
# and how to read them: bench/ftsim/RESULTS.md. Settings: see bench.py
# (BENCH_COUNTS, IDLE, SETTLE, BENCH_URL).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/bench-ftsim}
make -s BUILD="$BUILD" "$BUILD/ftsim"
export BTCW_BUILD=$PWD/$BUILD
exec /usr/bin/python3 bench/ftsim/bench.py
