# shellcheck shell=bash
# Start and stop a private PostgreSQL 15 and Redis on loopback ports under
# a folder of our own. Sourced by scripts/stack (the local stack) and
# tests/harness (the throwaway servers of a test run).
#
# PostgreSQL refuses to run as root: when we are root, its folder belongs
# to the 'postgres' system user (from Debian's postgresql-common) and its
# commands run through runuser.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER_DB=btcw   # superuser role and database name in our clusters

srv_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# srv_free_port START: the first port from START up that nothing listens on.
srv_free_port() {
	local p=$1
	while ss -Htln "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
	done
	echo "$p"
}

# srv_pg_start DIR PORT [extra postgres -c options...]
# Creates the cluster on first use; waits until it accepts connections.
# DIR/pg holds the data, DIR/pg-run the socket and pg.log.
srv_pg_start() {
	local dir=$1 port=$2
	shift 2
	local data=$dir/pg sock=$dir/pg-run opts=""
	local o
	for o in "$@"; do opts="$opts -c $o"; done
	mkdir -p "$data" "$sock"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$data" "$sock"
		chmod 700 "$data"
		if ! runuser -u postgres -- test -x "$dir"; then
			echo "servers: user postgres cannot reach $dir;" \
			     "choose a folder outside /root" >&2
			return 1
		fi
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		srv_as_pg "$PG_BIN/initdb" -D "$data" -U "$PG_USER_DB" \
			-A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; return 1; }
	fi
	srv_as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$sock/pg.log" -w -t 60 \
		-o "-p $port -k $sock -c listen_addresses=127.0.0.1 $opts" \
		start >/dev/null || { tail -20 "$sock/pg.log" >&2; return 1; }
	if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U "$PG_USER_DB" -d postgres \
		-tAc "select 1 from pg_database where datname='$PG_USER_DB'" |
		grep -q 1; then
		"$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER_DB" \
			"$PG_USER_DB"
	fi
}

srv_pg_running() {
	[ -f "$1/pg/postmaster.pid" ] &&
		srv_as_pg "$PG_BIN/pg_ctl" -D "$1/pg" status >/dev/null 2>&1
}

# srv_pg_stop DIR [mode]: mode fast (default) or immediate.
srv_pg_stop() {
	local dir=$1 mode=${2:-fast}
	srv_pg_running "$dir" || return 0
	srv_as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -m "$mode" -w -t 60 stop \
		>/dev/null
}

# srv_redis_start DIR PORT [extra redis-server arguments...]
srv_redis_start() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir/redis"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" \
		--daemonize yes --pidfile "$dir/redis.pid" \
		--logfile "$dir/redis.log" "$@" >/dev/null || return 1
	local i
	for i in $(seq 1 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	echo "servers: redis on port $port did not answer" >&2
	tail -20 "$dir/redis.log" >&2
	return 1
}

srv_redis_running() {
	[ -f "$1/redis.pid" ] && kill -0 "$(cat "$1/redis.pid")" 2>/dev/null
}

srv_redis_stop() {
	local dir=$1 pid i
	srv_redis_running "$dir" || return 0
	pid=$(cat "$dir/redis.pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
