#!/usr/bin/env bash
# Single-node benchmark: one fresh release node, three runs of each measurement, medians.
#
#   (a) peak:    autochain bench --accounts 1000 --txs 100000 --concurrency 4 --batch 500
#                -> committed tx/s, submit-to-commit latency p50/p99
#   (b) paced:   the same at half the median peak rate (--rate N --batch 100) -> p99 latency
#   (c) reads:   wrk -t2 -c64 -d10s URL/chain/head -> req/s
#   (d) memory:  VmRSS of a freshly started idle node after 2 s (a new node per run)
#   (e) unbatched: autochain bench --single --concurrency 64 (one transfer per /submit-tx request,
#                keep-alive, 64 connections) -> committed tx/s, latency
#   (f) nginx:   Debian's nginx serving the same /chain/head JSON as a static file (1 worker, and
#                workers auto), wrk -t2 -c64 -d10s, alternating with (c) run by run -> req/s, and
#                the node's share of nginx's better rate (NGINX=0 leaves nginx out)
#
# Prints a Markdown table of the medians with the machine, and keeps every run's raw output in
# .build/bench/single-node/ (bench-peak-N.json, bench-paced-N.json, bench-unbatched-N.json, wrk*-N.txt,
# rss-N.json, summary.json).
#
# Environment:
#   AUTOCHAIN_BIN=path   use this binary instead of building .build/release/autochain
#   RUNS=3               runs per measurement
#   TXS=100000           transfers per bench run
#   UNBATCHED_TXS=30000  transfers per unbatched run (e)
#   NGINX=1              measure nginx serving the same JSON (f)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/single-node
readonly READY_WAIT_S=30
readonly BENCH_TIMEOUT_S=600     # one bench run, hard stop
readonly IDLE_SETTLE_S=2
RUNS=${RUNS:-3}
TXS=${TXS:-100000}
UNBATCHED_TXS=${UNBATCHED_TXS:-30000}
NGINX=${NGINX:-1}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo


# ---- binary and tools -----------------------------------------------------------------------
bench_binary
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null || true
fi
command -v wrk >/dev/null || { echo "wrk is missing and could not be installed: apt-get install wrk"; exit 1; }
[ "$NGINX" = 1 ] && ensure_nginx

# ---- nodes: started here, stopped here, by PID only -----------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-bench.XXXXXX")
pids=()
cleanup() {
    stop_pids "${pids[@]}"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# start_node NAME -> sets NODE_PID and NODE_URL; waits (bounded) for /health/ready
start_node() {
    local name=$1 api p2p
    api=$(free_port); p2p=$(free_port)
    "$AUTOCHAIN_BIN" node --data-dir "$tmp/$name" --api-addr "127.0.0.1:$api" --p2p-addr "127.0.0.1:$p2p" \
        --log-level warn >"$tmp/$name.log" 2>&1 &
    NODE_PID=$!
    pids+=("$NODE_PID")
    NODE_URL="http://127.0.0.1:$api"
    for _ in $(seq $((READY_WAIT_S * 10))); do
        curl -fsS --max-time 2 "$NODE_URL/health/ready" >/dev/null 2>&1 && return 0
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "node $name not ready within ${READY_WAIT_S}s:"; cat "$tmp/$name.log"; exit 1
}
stop_node() { stop_pids "$1"; }  # PID

rm -rf "$OUT"; mkdir -p "$OUT"
"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1  # it warns that the key is public

# ---- (d) idle memory, fresh node per run (first, before anything warms the page cache) ------
for run in $(seq "$RUNS"); do
    start_node "idle-$run"
    sleep "$IDLE_SETTLE_S"
    rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$NODE_PID/status")
    printf '{"run": %d, "vmRssKiB": %d, "settleSeconds": %d}\n' "$run" "$rss_kb" "$IDLE_SETTLE_S" >"$OUT/rss-$run.json"
    log "idle RSS run $run: $rss_kb KiB"
    stop_node "$NODE_PID"
done

# ---- one node for (a), (b), (c) -------------------------------------------------------------
start_node bench
url=$NODE_URL
log "bench node $url (pid $NODE_PID)"

bench() {  # JSON_OUT extra-args...
    local json=$1; shift
    timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$url" --key "$tmp/dev.key" \
        --accounts 1000 --txs "$TXS" --concurrency 4 --json "$json" --timeout 300 "$@" >&2
    [ -s "$json" ] || { echo "bench wrote no $json"; exit 1; }
}

peak_files=()
for run in $(seq "$RUNS"); do
    log "(a) peak run $run"
    bench "$OUT/bench-peak-$run.json" --batch 500
    peak_files+=("$OUT/bench-peak-$run.json")
done
peak_tps=$(median "${peak_files[@]}" txPerSecond)
rate=$(python3 -c "print(max(1, int($peak_tps / 2)))")

paced_files=()
for run in $(seq "$RUNS"); do
    log "(b) paced run $run at $rate tx/s"
    bench "$OUT/bench-paced-$run.json" --batch 100 --rate "$rate"
    paced_files+=("$OUT/bench-paced-$run.json")
done

for run in $(seq "$RUNS"); do
    log "(e) unbatched run $run: 64 connections, one transfer per /submit-tx request"
    timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$url" --key "$tmp/dev.key" \
        --accounts 1000 --txs "$UNBATCHED_TXS" --concurrency 64 --single --json "$OUT/bench-unbatched-$run.json" --timeout 300 >&2
    [ -s "$OUT/bench-unbatched-$run.json" ] || { echo "bench wrote no $OUT/bench-unbatched-$run.json"; exit 1; }
done

# nginx serving the node's own /chain/head answer as a file: the same bytes and content type
# (WORKERS PORT).
start_nginx() {
    local dir="$tmp/nginx-$1"
    mkdir -p "$dir/www/chain"
    curl -fsS --max-time 5 "$url/chain/head" >"$dir/www/chain/head"
    nginx_conf "$dir" "$1" "    server {
        listen 127.0.0.1:$2;
        root $dir/www;
        location = /chain/head { default_type application/json; }
    }" >"$dir/nginx.conf"
    "$nginx_bin" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" || { cat "$dir/error.log"; exit 1; }
    "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$tmp/nginx-$1.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 100); do curl -fsS --max-time 1 "http://127.0.0.1:$2/chain/head" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "nginx ($1 workers) not serving; its error log:"; cat "$dir/error.log"; exit 1
}
readers=(node)
if [ "$NGINX" = 1 ]; then
    ngx1=$(free_port); start_nginx 1 "$ngx1"
    ngxauto=$(free_port); start_nginx auto "$ngxauto"
    readers+=(nginx1 nginxauto)
fi
reader_url() {
    case $1 in
        node) echo "$url/chain/head" ;;
        nginx1) echo "http://127.0.0.1:$ngx1/chain/head" ;;
        nginxauto) echo "http://127.0.0.1:$ngxauto/chain/head" ;;
    esac
}

# (c) and (f): the readers alternate within each run, so drift in the machine hits all alike.
for run in $(seq "$RUNS"); do
  for reader in "${readers[@]}"; do
    name=wrk; [ "$reader" = node ] || name="wrk-$reader"
    log "(c/f) wrk run $run: $reader"
    timeout --kill-after=10 60 wrk -t2 -c64 -d10s --latency "$(reader_url "$reader")" >"$OUT/$name-$run.txt"
    python3 - "$OUT/$name-$run.txt" "$OUT/$name-$run.json" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(s):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
json.dump({"requestsPerSecond": rps, "latencyP99Ms": ms(p99.group(1)) if p99 else None,
           "non2xx": int(errors.group(1)) if errors else 0}, open(sys.argv[2], "w"))
EOF
  done
done

kill -0 "$NODE_PID" 2>/dev/null || { echo "bench node died; its log:"; cat "$tmp/bench.log"; exit 1; }

# ---- report ---------------------------------------------------------------------------------
rss_files=(); for run in $(seq "$RUNS"); do rss_files+=("$OUT/rss-$run.json"); done
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$RUNS" "$rate" "$(nproc)" "$cpu" "$OUT" "$NGINX" <<'EOF'
import json, statistics, sys, os
runs, rate, nproc, cpu, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
nginx = sys.argv[6] == "1"
def load(prefix, ext="json"):
    return [json.load(open(os.path.join(out, f"{prefix}-{i}.{ext}"))) for i in range(1, runs + 1)]
def med(rows, *path):
    vals = []
    for r in rows:
        for k in path:
            r = r[k]
        vals.append(float(r))
    return statistics.median(vals), vals
peak, paced, wrk, rss = load("bench-peak"), load("bench-paced"), load("wrk"), load("rss")
unbatched = load("bench-unbatched")
rows = [
    ("(a) peak committed tx/s", med(peak, "txPerSecond"), "{:.0f}"),
    ("(a) peak latency p50 (ms)", med(peak, "latencyMs", "p50"), "{:.1f}"),
    ("(a) peak latency p99 (ms)", med(peak, "latencyMs", "p99"), "{:.1f}"),
    (f"(b) paced at {rate} tx/s: committed tx/s", med(paced, "txPerSecond"), "{:.0f}"),
    ("(b) paced latency p50 (ms)", med(paced, "latencyMs", "p50"), "{:.1f}"),
    ("(b) paced latency p99 (ms)", med(paced, "latencyMs", "p99"), "{:.1f}"),
    ("(c) GET /chain/head req/s (wrk -t2 -c64)", med(wrk, "requestsPerSecond"), "{:.0f}"),
    ("(d) idle RSS after 2 s (MiB)", (statistics.median(r["vmRssKiB"] / 1024 for r in rss), [r["vmRssKiB"] / 1024 for r in rss]), "{:.1f}"),
    ("(e) unbatched, 64 connections, one per /submit-tx: committed tx/s", med(unbatched, "txPerSecond"), "{:.0f}"),
    ("(e) unbatched latency p99 (ms)", med(unbatched, "latencyMs", "p99"), "{:.1f}"),
]
if nginx:
    ngx1, ngxauto = load("wrk-nginx1"), load("wrk-nginxauto")
    best = [max(a["requestsPerSecond"], b["requestsPerSecond"]) for a, b in zip(ngx1, ngxauto)]
    share = [n["requestsPerSecond"] / b for n, b in zip(wrk, best)]
    rows += [
        ("(f) nginx, same JSON as a file, 1 worker: req/s", med(ngx1, "requestsPerSecond"), "{:.0f}"),
        ("(f) nginx, same JSON as a file, workers auto: req/s", med(ngxauto, "requestsPerSecond"), "{:.0f}"),
        ("(f) node's GET /chain/head as a share of nginx's better rate, same run", (statistics.median(share), share), "{:.2f}"),
    ]
    wrk = wrk + ngx1 + ngxauto
refused = sum(r["rejected"] for r in peak + paced + unbatched)
print(f"\nMachine: {nproc} cores, {cpu}; {runs} runs each, medians; every run in the last column.\n")
print("| measurement | median | runs |")
print("|---|---:|---|")
summary = {"machine": {"nproc": int(nproc), "cpu": cpu}, "runs": runs, "pacedRate": rate, "medians": {}}
for name, (m, vals), fmt in rows:
    print(f"| {name} | {fmt.format(m)} | {', '.join(fmt.format(v) for v in vals)} |")
    summary["medians"][name] = m
if refused:
    print(f"\nNote: {refused} transfers were refused across the bench runs (see {out}/bench-*.json).")
if any(w.get("non2xx") for w in wrk):
    print(f"\nNote: wrk saw non-2xx answers (see {out}/wrk-*.txt).")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
EOF
