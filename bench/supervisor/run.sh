#!/usr/bin/env bash
# ft-supervisor benchmark: release builds of ft-supervisor and ftsim in
# build/hsup-rel, a throwaway PostgreSQL, then bench.py (999 bots unless
# BENCH_BOTS says otherwise). Prints the JSON report.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s BUILD=build/hsup-rel build/hsup-rel/ft-supervisor build/hsup-rel/ftsim
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export BTCW_BUILD=$PWD/build/hsup-rel
exec tests/harness/servers.sh run /usr/bin/python3 bench/supervisor/bench.py
