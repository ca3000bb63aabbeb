# Shared by the benchmark scripts (sourced after `cd` to the repository root).
#   log MSG...       progress on stderr
#   has PHASE        true when $PHASES names that phase letter
#   bench_binary     sets AUTOCHAIN_BIN to an absolute path: the given one, or a release build
#   stop_pids, free_port, median, ensure_nginx, nginx_conf: see each below

log() { printf '==> %s\n' "$*" >&2; }

has() { case "${PHASES:-}" in *"$1"*) return 0;; esac; return 1; }

bench_binary() {
    if [ -z "${AUTOCHAIN_BIN:-}" ]; then
        # The product only: the test-support targets import modules @testable, which a release
        # build of every target refuses.
        log "swift build -c release --product autochain (a no-op when up to date)"
        swift build -c release --product autochain >/dev/null
        AUTOCHAIN_BIN=.build/release/autochain
    fi
    [ -x "$AUTOCHAIN_BIN" ] || { echo "no autochain binary at $AUTOCHAIN_BIN"; exit 1; }
    AUTOCHAIN_BIN=$(realpath "$AUTOCHAIN_BIN")
}

# stop_pids [-t SECONDS] PID...: SIGTERM to each, then SIGKILL to any still alive after SECONDS
# (default 5), and reaps them. Only the PIDs given: the scripts stop nothing they did not start.
stop_pids() {
    local tenths=50 pid
    if [ "${1:-}" = -t ]; then tenths=$(($2 * 10)); shift 2; fi
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# free_port: a loopback TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# median FILE... JSON_PATH: the median of one (dotted) field across JSON files.
median() {
    python3 - "$@" <<'PY'
import json, statistics, sys
*files, path = sys.argv[1:]
values = []
for f in files:
    v = json.load(open(f))
    for k in path.split("."):
        v = v[k]
    values.append(float(v))
print(statistics.median(values))
PY
}

# ensure_nginx: sets nginx_bin to Debian's nginx, installing nginx-light when missing; exits with
# a message when it cannot be had (NGINX=0 in the calling script leaves nginx out).
ensure_nginx() {
    nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
    if [ -z "$nginx_bin" ]; then
        log "installing nginx-light (apt)"
        local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
        timeout 300 $sudo apt-get install -y -qq nginx-light >/dev/null 2>&1 || true
        nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
        [ -n "$nginx_bin" ] || { echo "nginx could not be installed (apt-get install nginx-light); NGINX=0 leaves it out"; exit 1; }
    fi
}

# nginx_conf DIR WORKERS HTTP_LINES: an nginx.conf for a foreground nginx of this script's own
# (prefix DIR, pid and logs in DIR, no access log), HTTP_LINES inside its http block. Its workers
# run as this user, so a root master's workers may read and write under DIR.
nginx_conf() {
    cat <<EOF
daemon off;
user $(id -un);
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $1/tmp-body;
    proxy_temp_path $1/tmp-proxy;
    fastcgi_temp_path $1/tmp-fastcgi;
$3
}
EOF
}

# start_local_cluster DIR: three nodes of $BIN on free loopback ports, data and logs under DIR (n1
# bootstraps, n2 and n3 join through it), waits (bounded) until all three vote; sets API[nN],
# P2P[nN] and PID[nN] (the caller declares them: declare -A PID API P2P). The local side that
# compose.sh and swarm.sh compare their clusters with.
start_local_cluster() {
  local dir=$1 name
  for name in n1 n2 n3; do
    API[$name]=$(free_port); P2P[$name]=$(free_port)
    local extra=(); [ "$name" = n1 ] || extra=(--peers "127.0.0.1:${P2P[n1]}" --join)
    "$BIN" node --node-id "$name" --data-dir "$dir/$name" --api-addr "127.0.0.1:${API[$name]}" \
      --p2p-addr "127.0.0.1:${P2P[$name]}" "${extra[@]}" --log-level info >>"$dir/$name.log" 2>&1 &
    PID[$name]=$!
    # n1 must lead its chain before the others join through it.
    [ "$name" != n1 ] || timeout 40 python3 scripts/bench/cluster_probe.py wait-voters 1 30 "http://127.0.0.1:${API[n1]}" >/dev/null \
      || { echo "local n1 did not start"; return 1; }
  done
  timeout 70 python3 scripts/bench/cluster_probe.py wait-voters 3 60 "http://127.0.0.1:${API[n1]}" || { echo "local cluster did not form"; return 1; }
}

# local_leader: the URL of the local cluster's leader (start_local_cluster's n1..n3)
local_leader() {
  local i; read -r i _ _ < <(timeout 40 python3 scripts/bench/cluster_probe.py leader 30 "http://127.0.0.1:${API[n1]}" \
    "http://127.0.0.1:${API[n2]}" "http://127.0.0.1:${API[n3]}") || return 1
  echo "http://127.0.0.1:${API[n$((i + 1))]}"
}
