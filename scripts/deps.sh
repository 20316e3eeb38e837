#!/usr/bin/env bash
# Install the Debian packages BTC Watcher builds, runs and tests with.
# Idempotent and quiet when nothing is missing; needs root (or sudo) only
# when something must be installed.
set -euo pipefail

PKGS=(
  # build
  gcc make pkg-config
  # libraries (headers)
  libevent-dev libcurl4-openssl-dev libcjson-dev libpq-dev libhiredis-dev
  libyaml-dev libnng-dev libcmocka-dev libjwt-dev libssl-dev libargon2-dev
  nettle-dev
  # tools and servers
  nng-utils postgresql-15 postgresql-client-15 redis-server redis-tools
  curl procps iproute2 python3 python3-pytest python3-jsonschema
  # promtool, which checks our /metrics output; load generators
  prometheus wrk postgresql-contrib nginx-light
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
       grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
((${#missing[@]} == 0)) && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "deps: missing ${missing[*]} and not root (no sudo)" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Servers are started by our own scripts on private ports, never by the
# package's init scripts: a policy-rc.d (unless one exists) keeps apt from
# starting them.
policy=/usr/sbin/policy-rc.d
ours=
if [ ! -e "$policy" ]; then
  $SUDO sh -c "printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy"
  ours=1
fi
$SUDO apt-get update -qq
rc=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  >/dev/null || rc=$?
[ -n "$ours" ] && $SUDO rm -f "$policy"
exit $rc
