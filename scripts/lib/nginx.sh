# shellcheck shell=bash
# nginx as a plain local process under a folder of our own, for the local
# stack (scripts/stack) and the integration tests, rendered from the
# containers' config (deploy/nginx.conf): the lines marked "# btcw:<name>"
# are replaced, every location stays as it is.
#
#   nginx_start DIR PORT GATEWAY_HTTP_URL [WWW_DIR]
#       render DIR/nginx.conf and start nginx on 127.0.0.1:PORT in front
#       of the gateway at GATEWAY_HTTP_URL (http://127.0.0.1:7110); static
#       files (the dashboard at /, FreqUI at /frequi/) come from WWW_DIR
#       (default DIR/www). pid, logs and temp folders live in DIR. Waits
#       until /healthz answers. Started by root, the workers run as root
#       too (loopback only, and they must reach folders under DIR).
#   nginx_running DIR     is it running (pid file and process)?
#   nginx_stop DIR        graceful stop (QUIT), KILL after 10 s.
#   nginx_render DIR PORT GATEWAY_HTTP_URL [WWW_DIR]   only the config.

NGINX_BIN=${NGINX_BIN:-nginx}
NGINX_TEMPLATE=${NGINX_TEMPLATE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/deploy/nginx.conf}

nginx_render() {
	local dir=$1 port=$2 url=$3 www=${4:-$1/www}
	local upstream user_line=""
	upstream=${url#*://}
	upstream=${upstream%%/*}
	case "$upstream" in
	*:*) ;;
	*) upstream="$upstream:80" ;;
	esac
	if [ "$(id -u)" -eq 0 ]; then
		user_line="user root;"
	fi
	mkdir -p "$dir/tmp" "$www" || return 1
	local tmp="client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;"
	# '|' delimits: none of the values may hold one.
	case "$dir$www$upstream" in *"|"*)
		echo "nginx: '|' in a path or address" >&2; return 1 ;;
	esac
	sed -e "s|^.*# btcw:user\$|$user_line|" \
	    -e "s|^.*# btcw:workers\$|worker_processes 1;|" \
	    -e "s|^.*# btcw:pid\$|pid $dir/nginx.pid;|" \
	    -e "s|^.*# btcw:error_log\$|error_log $dir/error.log warn;|" \
	    -e "s|^.*# btcw:access_log\$|    access_log $dir/access.log;|" \
	    -e "s|^.*# btcw:temp\$|    $tmp|" \
	    -e "s|^.*# btcw:gateway\$|        server $upstream;|" \
	    -e "s|^.*# btcw:listen\$|        listen 127.0.0.1:$port;|" \
	    -e "s|^.*# btcw:www\$|        root $www;|" \
	    "$NGINX_TEMPLATE" >"$dir/nginx.conf.new" || return 1
	if grep -q "# btcw:[a-z_]*$" "$dir/nginx.conf.new"; then
		echo "nginx: unrendered line in $NGINX_TEMPLATE" >&2
		return 1
	fi
	mv "$dir/nginx.conf.new" "$dir/nginx.conf"
}

nginx_running() {
	[ -f "$1/nginx.pid" ] && kill -0 "$(cat "$1/nginx.pid")" 2>/dev/null
}

nginx_start() {
	local dir=$1 port=$2 i
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd)
	if nginx_running "$dir"; then
		echo "nginx: already running in $dir" >&2
		return 1
	fi
	nginx_render "$dir" "$port" "$3" "${4:-}" || return 1
	"$NGINX_BIN" -q -t -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
		2>"$dir/nginx-check.log" ||
		{ cat "$dir/nginx-check.log" >&2; return 1; }
	"$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" ||
		{ tail -20 "$dir/error.log" >&2; return 1; }
	for i in $(seq 1 100); do
		if nginx_running "$dir" &&
			curl -fsS -o /dev/null --noproxy '*' \
				"http://127.0.0.1:$port/healthz" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nginx: no answer on 127.0.0.1:$port" >&2
	tail -20 "$dir/error.log" >&2
	nginx_stop "$dir"
	return 1
}

nginx_stop() {
	local dir=$1 pid i
	nginx_running "$dir" || return 0
	pid=$(cat "$dir/nginx.pid")
	kill -QUIT "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
