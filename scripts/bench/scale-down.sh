#!/usr/bin/env bash
# Scaling down through the registry: `autochain up --nodes 3`, `autochain scale 5` (two learners
# join), then `autochain scale 3`: the time from the scale request until the cluster's membership
# (GET /members through the gateway) is 3 voters and no learner. RUNS times, a fresh cluster each.
#
# Environment: AUTOCHAIN_BIN=path (default: a release build), RUNS=3.
# Prints one line per run and the median; the registry's events of each run go to
# .build/bench/scale-down/events-N.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/scale-down
readonly WAIT_S=180   # each state waited for, at most
RUNS=${RUNS:-3}
bench_binary
rm -rf "$OUT"; mkdir -p "$OUT"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-scale-down.XXXXXX")
up_pid=""
cleanup() { [ -z "$up_pid" ] || stop_pids -t 20 "$up_pid"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# members GATEWAY_PORT -> "VOTERS LEARNERS" ("? ?" when no node answers yet)
members() {
    curl -s --max-time 2 "http://127.0.0.1:$1/members" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["voters"]), len(d["learners"]))' 2>/dev/null || echo "? ?"
}
# wait_members GATEWAY_PORT VOTERS LEARNERS: true once the membership is that, false after WAIT_S
wait_members() {
    local v l
    for _ in $(seq $((WAIT_S * 10))); do
        read -r v l < <(members "$1")
        [ "$v" = "$2" ] && [ "$l" = "$3" ] && return 0
        sleep 0.1
    done
    echo "membership still $v voters, $l learners after ${WAIT_S}s (wanted $2, $3)" >&2
    return 1
}

times=()
for run in $(seq "$RUNS"); do
    reg=$(free_port); gw=$(free_port)
    data="$tmp/run-$run"
    "$AUTOCHAIN_BIN" up --nodes 3 --data-dir "$data" --addr "127.0.0.1:$reg" --gateway-addr "127.0.0.1:$gw" \
        --log-level warn >"$tmp/up-$run.log" 2>&1 &
    up_pid=$!
    wait_members "$gw" 3 0
    timeout 30 "$AUTOCHAIN_BIN" scale --registry "http://127.0.0.1:$reg" --data-dir "$data" 5 >/dev/null
    wait_members "$gw" 3 2
    start=$(date +%s.%N)
    timeout 30 "$AUTOCHAIN_BIN" scale --registry "http://127.0.0.1:$reg" --data-dir "$data" 3 >/dev/null
    wait_members "$gw" 3 0
    end=$(date +%s.%N)
    t=$(python3 -c "print(round($end - $start, 2))")
    times+=("$t")
    log "run $run: scale 5 -> 3 in $t s"
    curl -s --max-time 5 "http://127.0.0.1:$reg/events" >"$OUT/events-$run.txt" 2>/dev/null || true
    stop_pids -t 20 "$up_pid"; up_pid=""
done
python3 -c "import statistics, sys; t = [float(x) for x in sys.argv[1:]]; print(f'scale 5 -> 3 (3 voters, no learner): median {statistics.median(t):.2f} s, runs {\", \".join(map(str, t))}')" "${times[@]}"
