#!/usr/bin/env bash
# Forwarded throughput: a fresh 3-voter release cluster on loopback, `autochain bench` against a
# FOLLOWER (every submission is forwarded to the leader), RUNS times; prints each run's committed
# tx/s and p99. Compare two binaries by running it with each (AUTOCHAIN_BIN=...).
#
# Environment: AUTOCHAIN_BIN (default: build .build/release/autochain)  RUNS=2  TXS=20000
#              BATCH=500 (transfers per /submit-txs; 1 sends /submit-tx one at a time)  CONCURRENCY=4
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
readonly PROBE=scripts/bench/cluster_probe.py
RUNS=${RUNS:-2}; TXS=${TXS:-20000}; BATCH=${BATCH:-500}; CONCURRENCY=${CONCURRENCY:-4}
bench_binary

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-follower-bench.XXXXXX")
declare -A PID API P2P
pids=()
trap 'stop_pids "${pids[@]}"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
start_node() {  # NAME [--join]
    local name=$1; shift
    API[$name]=$(free_port); P2P[$name]=$(free_port)
    local peers=()
    [ "$name" = n1 ] || peers=(--peers "127.0.0.1:${P2P[n1]}")
    "$AUTOCHAIN_BIN" node --node-id "$name" --data-dir "$tmp/$name" --api-addr "127.0.0.1:${API[$name]}" \
        --p2p-addr "127.0.0.1:${P2P[$name]}" "${peers[@]}" "$@" --log-level warn >>"$tmp/$name.log" 2>&1 &
    PID[$name]=$!; pids+=("$!")
}
url() { echo "http://127.0.0.1:${API[$1]}"; }
wait_live() { for _ in $(seq 600); do curl -fsS --max-time 2 "$(url "$1")/health/live" >/dev/null 2>&1 && return 0; sleep 0.1; done; exit 1; }

export AUTOCHAIN_CLUSTER_TOKEN="bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1
start_node n1; wait_live n1
start_node n2 --join; start_node n3 --join; wait_live n2; wait_live n3
timeout 70 python3 "$PROBE" wait-voters 3 60 "$(url n1)"
for run in $(seq "$RUNS"); do
    read -r i _ _ < <(timeout 40 python3 "$PROBE" leader 30 "$(url n1)" "$(url n2)" "$(url n3)")
    follower=n$(( (i + 1) % 3 + 1 ))
    log "run $run: bench against follower $follower (leader n$((i + 1))), batch $BATCH"
    timeout 900 "$AUTOCHAIN_BIN" bench --node "$(url "$follower")" --key "$tmp/dev.key" --accounts 200 --txs "$TXS" \
        --concurrency "$CONCURRENCY" --batch "$BATCH" --timeout 120 --json "$tmp/run$run.json" >&2
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], {k: d[k] for k in d if not isinstance(d[k], (dict, list))})' \
        "$tmp/run$run.json" "run $run:"
done
