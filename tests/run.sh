#!/usr/bin/env bash
# `make test`: install what is missing, build everything with ASan+UBSan,
# start a throwaway PostgreSQL and Redis, run every unit test (cmocka) and
# every integration test (pytest), and end with one line:
#   N passed, N failed
# Exit status 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# Called from make: our own make must not inherit its jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL
ROOT=$PWD

scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

BUILD=build/asan
export BTCW_BUILD=$ROOT/$BUILD
echo "== build ($BUILD, address,undefined)"
if ! make -s BUILD=$BUILD SANITIZE=address,undefined all tests; then
	echo "0 passed, 1 failed"
	exit 1
fi

# Any sanitizer report fails the test that produced it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=66
export LSAN_OPTIONS=exitcode=66:suppressions=$ROOT/tests/harness/lsan.supp

echo "== servers"
env_lines=$(tests/harness/servers.sh start) || {
	echo "0 passed, 1 failed"; exit 1; }
eval "$env_lines"
# Only this shell holds the lifeline: when it exits, however it exits, the
# reaper stops PostgreSQL and Redis and removes $BTCW_TEST_DIR.
exec 9>"$BTCW_TEST_DIR/lifeline"
echo "postgres on $BTCW_TEST_PG_PORT, redis on $BTCW_TEST_REDIS_PORT," \
     "in $BTCW_TEST_DIR"

passed=0
failed=0
failures=()

echo "== source checks"
out=$(tests/lint.sh)
p=$(grep -c '^ok ' <<<"$out")
f=$(grep -c '^not ok ' <<<"$out")
passed=$((passed + p))
failed=$((failed + f))
((f > 0)) && { failures+=("lint"); echo "$out"; }
echo "$p passed, $f failed (tests/lint.sh)"

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
	name=$(basename "$t")
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t" 2>&1 9>&-)
	rc=$?
	p=$(grep -c '^ok ' <<<"$out")
	f=$(grep -c '^not ok ' <<<"$out")
	if ((rc != 0 && f == 0)); then
		f=1 # crashed, timed out or a sanitizer report
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if ((f > 0)); then
		failures+=("$name")
		echo "$out" | tail -60
		echo "FAIL $name ($p passed, $f failed, exit $rc)"
	else
		echo "ok   $name ($p passed)"
	fi
done

echo "== integration tests"
junit=$BTCW_TEST_DIR/pytest.xml
/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$junit" \
	tests/integration tests/proto tests/schema 9>&-
rc=$?
if [ -f "$junit" ]; then
	read -r pp pf < <(/usr/bin/python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
)
else
	pp=0 pf=1
fi
if ((rc != 0 && pf == 0)); then
	pf=1 # pytest itself failed (collection error, no tests…)
fi
passed=$((passed + pp))
failed=$((failed + pf))
((pf > 0)) && failures+=("pytest")

((${#failures[@]})) && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
