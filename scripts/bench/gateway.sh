#!/usr/bin/env bash
# The gateway's overhead, side by side in one run: one fresh release node, and `autochain gateway`
# in front of it (its node list served as a static /discover), measured alternately:
#
#   (r) reads:  wrk -t2 -c64 -d10s  URL/chain/head             direct, then through the gateway
#   (w) writes: autochain bench --accounts 1000 --txs $TXS --concurrency 4 --batch 500
#               -> committed tx/s                               direct, then through the gateway
#
# RUNS rounds (default 3); prints the medians, each run, and gateway/direct ratios as a Markdown
# table; raw output in .build/bench-gateway/.
#
# Environment: AUTOCHAIN_BIN (default: a release build), RUNS=3, TXS=50000.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench-gateway
readonly READY_WAIT_S=30
readonly BENCH_TIMEOUT_S=600
RUNS=${RUNS:-3}
TXS=${TXS:-50000}

bench_binary
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (scripts/bench/single-node.sh installs it)"; exit 1; }

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
    for via in direct gateway; do
        url=$direct; [ "$via" = gateway ] && url=$through
        log "run $run: wrk $via ($url)"
        timeout --kill-after=10 60 wrk -t2 -c64 -d10s "$url/chain/head" >"$OUT/wrk-$via-$run.txt"
        wrk_json "$OUT/wrk-$via-$run.txt" "$OUT/wrk-$via-$run.json"
    done
    for via in direct gateway; do
        url=$direct; [ "$via" = gateway ] && url=$through
        log "run $run: bench $via ($url)"
        timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$url" --key "$tmp/dev.key" \
            --accounts 1000 --txs "$TXS" --concurrency 4 --batch 500 --json "$OUT/bench-$via-$run.json" --timeout 300 >&2
    done
done
kill -0 "$node_pid" && kill -0 "$gw_pid" || { echo "the node or the gateway died"; tail -20 "$tmp"/*.log; exit 1; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$RUNS" "$(nproc)" "$cpu" "$OUT" "$TXS" <<'PY'
import json, statistics, sys, os
runs, nproc, cpu, out, txs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
def vals(kind, via, key):
    return [json.load(open(os.path.join(out, f"{kind}-{via}-{i}.json")))[key] for i in range(1, runs + 1)]
print(f"\nMachine: {nproc} cores, {cpu}; {runs} runs each, alternating direct/gateway; medians, every run in brackets.\n")
print("| measurement | direct | through the gateway | gateway / direct |")
print("|---|---:|---:|---:|")
summary = {}
for name, kind, key in [("GET /chain/head req/s (wrk -t2 -c64 -d10s)", "wrk", "requestsPerSecond"),
                        (f"committed tx/s (bench, {txs} transfers, batch 500, 4 connections)", "bench", "txPerSecond")]:
    d, g = vals(kind, "direct", key), vals(kind, "gateway", key)
    md, mg = statistics.median(d), statistics.median(g)
    fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    print(f"| {name} | {md:.0f} [{fmt(d)}] | {mg:.0f} [{fmt(g)}] | {100 * mg / md:.0f} % |")
    summary[kind] = {"direct": md, "gateway": mg, "ratio": mg / md}
bad = sum(vals("wrk", v, "non2xx")[i] for v in ("direct", "gateway") for i in range(runs))
if bad: print(f"\nNote: wrk saw {bad} non-2xx answers (see {out}/wrk-*.txt).")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
PY
