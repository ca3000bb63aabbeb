#!/usr/bin/env bash
# The gateway's overhead, side by side in one run: one fresh release node, `autochain gateway` in
# front of it (its node list served as a static /discover), and, as a reference for what a
# production reverse proxy reaches on the same machine, Debian's nginx in front of it with the
# configuration `autochain nginx-config` generates (upstream keepalive), measured alternately:
#
#   (r) reads:  wrk -t2 -c64 -d10s  URL/chain/head    direct, gateway, nginx (1 worker), nginx (auto)
#   (w) writes: autochain bench --accounts 1000 --txs $TXS --concurrency 4 --batch 500
#               -> committed tx/s                      direct, gateway, nginx (1 worker)
#
# RUNS rounds (default 3); prints the medians, each run, and ratios to direct as a Markdown table;
# raw output in .build/bench-gateway/. nginx runs in the foreground as this script's own process,
# with its prefix, pid file, logs and temp paths under the temporary directory (access log off,
# as the gateway keeps none); NGINX=0 leaves it out (it is installed with apt-get when missing).
#
# Environment: AUTOCHAIN_BIN (default: a release build), RUNS=3, TXS=50000, NGINX=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench-gateway
readonly READY_WAIT_S=30
readonly BENCH_TIMEOUT_S=600
RUNS=${RUNS:-3}
TXS=${TXS:-50000}
NGINX=${NGINX:-1}

bench_binary
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (scripts/bench/single-node.sh installs it)"; exit 1; }
[ "$NGINX" = 1 ] && ensure_nginx

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-bench-gw.XXXXXX")
pids=()
cleanup() { stop_pids "${pids[@]}"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() {  # URL PID NAME
    for _ in $(seq $((READY_WAIT_S * 10))); do
        curl -fsS --max-time 2 "$1" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "$3 not ready within ${READY_WAIT_S}s:"; cat "$tmp/$3.log"; exit 1
}

export AUTOCHAIN_CLUSTER_TOKEN=bench-gateway-credential-0123456789abcdef
api=$(free_port); p2p=$(free_port); reg=$(free_port); gw=$(free_port)
"$AUTOCHAIN_BIN" node --node-id node1 --data-dir "$tmp/node" --api-addr "127.0.0.1:$api" --p2p-addr "127.0.0.1:$p2p" \
    --log-level warn >"$tmp/node.log" 2>&1 &
node_pid=$!; pids+=("$node_pid")
direct="http://127.0.0.1:$api"
wait_ready "$direct/health/ready" "$node_pid" node

# The registry's part for the gateway: a /discover listing the node (the gateway re-reads it).
mkdir -p "$tmp/registry"
printf '{"nodes":[{"id":"node1","apiUrl":"%s","state":"alive"}]}' "$direct" >"$tmp/registry/discover"
python3 -m http.server "$reg" --bind 127.0.0.1 --directory "$tmp/registry" >"$tmp/registry.log" 2>&1 &
pids+=("$!")
"$AUTOCHAIN_BIN" gateway --registry "http://127.0.0.1:$reg" --addr "127.0.0.1:$gw" --log-level warn >"$tmp/gateway.log" 2>&1 &
gw_pid=$!; pids+=("$gw_pid")
through="http://127.0.0.1:$gw"
wait_ready "$through/health/ready" "$gw_pid" gateway

# nginx with the generated configuration, one instance per worker setting: WORKERS PORT
start_nginx() {
    local dir="$tmp/nginx-$1"
    mkdir -p "$dir"
    "$AUTOCHAIN_BIN" nginx-config --registry "http://127.0.0.1:$reg" --listen "127.0.0.1:$2" --out "$dir/autochain.conf" >/dev/null
    nginx_conf "$dir" "$1" "    client_body_buffer_size 16m;  # bodies stay in memory, as in the gateway
    include $dir/autochain.conf;" >"$dir/nginx.conf"
    "$nginx_bin" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" || { cat "$dir/error.log"; exit 1; }
    "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$tmp/nginx-$1.log" 2>&1 &
    pids+=("$!")
    wait_ready "http://127.0.0.1:$2/health/ready" "$!" "nginx-$1"
}
readers=(direct gateway)
writers=(direct gateway)
if [ "$NGINX" = 1 ]; then
    ngx1=$(free_port); ngxauto=$(free_port)
    start_nginx 1 "$ngx1"
    start_nginx auto "$ngxauto"
    readers+=(nginx1 nginxauto)
    writers+=(nginx1)
fi
url_of() {
    case "$1" in
        direct) echo "$direct" ;;
        gateway) echo "$through" ;;
        nginx1) echo "http://127.0.0.1:$ngx1" ;;
        nginxauto) echo "http://127.0.0.1:$ngxauto" ;;
    esac
}
"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1

rm -rf "$OUT"; mkdir -p "$OUT"
wrk_json() {  # TXT JSON
    python3 - "$1" "$2" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
json.dump({"requestsPerSecond": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
           "non2xx": int(errors.group(1)) if errors else 0}, open(sys.argv[2], "w"))
PY
}
for run in $(seq "$RUNS"); do
    for via in "${readers[@]}"; do
        url=$(url_of "$via")
        log "run $run: wrk $via ($url)"
        timeout --kill-after=10 60 wrk -t2 -c64 -d10s "$url/chain/head" >"$OUT/wrk-$via-$run.txt"
        wrk_json "$OUT/wrk-$via-$run.txt" "$OUT/wrk-$via-$run.json"
    done
    for via in "${writers[@]}"; do
        url=$(url_of "$via")
        log "run $run: bench $via ($url)"
        timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$url" --key "$tmp/dev.key" \
            --accounts 1000 --txs "$TXS" --concurrency 4 --batch 500 --json "$OUT/bench-$via-$run.json" --timeout 300 >&2
    done
done
kill -0 "$node_pid" && kill -0 "$gw_pid" || { echo "the node or the gateway died"; tail -20 "$tmp"/*.log; exit 1; }
[ "$NGINX" = 1 ] && [ -s "$tmp/nginx-1/error.log" ] && { log "nginx error log (1 worker):"; tail -5 "$tmp/nginx-1/error.log" >&2; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$RUNS" "$(nproc)" "$cpu" "$OUT" "$TXS" "$load" "${readers[*]}" "${writers[*]}" <<'PY'
import json, statistics, sys, os
runs, nproc, cpu, out, txs, load = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
readers, writers = sys.argv[7].split(), sys.argv[8].split()
names = {"direct": "direct", "gateway": "gateway", "nginx1": "nginx, 1 worker", "nginxauto": "nginx, workers auto"}
def vals(kind, via, key):
    return [json.load(open(os.path.join(out, f"{kind}-{via}-{i}.json")))[key] for i in range(1, runs + 1)]
print(f"\nMachine: {nproc} cores, {cpu}; load average at the end {load}; {runs} runs each, alternating "
      f"{' / '.join(readers)}; medians, every run in brackets, ratio to direct.\n")
print("| measurement | " + " | ".join(names[v] for v in readers) + " |")
print("|---|" + "---:|" * len(readers))
summary = {"loadAverage": load}
fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
for name, kind, key, vias in [("GET /chain/head req/s (wrk -t2 -c64 -d10s)", "wrk", "requestsPerSecond", readers),
                              (f"committed tx/s (bench, {txs} transfers, batch 500, 4 connections)", "bench", "txPerSecond", writers)]:
    md = statistics.median(vals(kind, "direct", key))
    cells, summary[kind] = [], {}
    for via in readers:
        if via not in vias: cells.append("-"); continue
        xs = vals(kind, via, key)
        m = statistics.median(xs)
        cells.append(f"{m:.0f} [{fmt(xs)}]" + ("" if via == "direct" else f" = {100 * m / md:.0f} %"))
        summary[kind][via] = {"median": m, "runs": xs, "ratio": m / md}
    print(f"| {name} | " + " | ".join(cells) + " |")
bad = sum(vals("wrk", v, "non2xx")[i] for v in readers for i in range(runs))
if bad: print(f"\nNote: wrk saw {bad} non-2xx answers (see {out}/wrk-*.txt).")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
PY
