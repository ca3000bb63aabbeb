#!/usr/bin/env bash
# etcd reference benchmark: a 3-member etcd cluster on loopback (apt's etcd-server, default
# heartbeat 100 ms / election timeout 1 s, the same as autochain's), medians of the runs.
#
#   (a) writes/s:  a python3 client (scripts/bench/etcd_load.py) doing single-key puts through
#                  etcd's HTTP/JSON gateway (POST /v3/kv/put, keep-alive), CONCURRENCY=64 threads,
#                  DURATION_S=10 s against the leader, RUNS=3 runs
#   (b) check:     etcdctl check perf --load=L for each L in CHECK_PERF_LOADS (default "s m l";
#                  `l` is the rate #15 compares against); each runs 60 s; their pass/fail and
#                  throughput lines are kept
#   (c) failover:  FAILOVERS=10 times: a client puts every ~20 ms against a survivor (HTTP
#                  gateway, 0.5 s timeout per put); kill -9 the leader (from `etcdctl endpoint
#                  status -w json`); time from the kill to the first successful put started after
#                  it; restart the member on its data dir; wait until all three are healthy
#
# Prints a Markdown table; raw output in .build/bench/etcd/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh

readonly OUT=.build/bench/etcd
readonly LOAD=scripts/bench/etcd_load.py
RUNS=${RUNS:-3}
FAILOVERS=${FAILOVERS:-10}
CONCURRENCY=${CONCURRENCY:-64}
DURATION_S=${DURATION_S:-10}
CHECK_PERF_LOADS=${CHECK_PERF_LOADS:-s m l}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export ETCDCTL_API=3


if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    log "installing etcd-server etcd-client (apt)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server etcd-client >/dev/null
fi
command -v etcd >/dev/null || { echo "etcd is missing: apt-get install etcd-server etcd-client"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/etcd-bench.XXXXXX")
declare -A PID CPORT PPORT
all_pids=()
cleanup() {
    stop_pids "${all_pids[@]}"
    cp "$tmp"/*.log "$OUT/" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

names=(e1 e2 e3)
for n in "${names[@]}"; do CPORT[$n]=$(free_port); PPORT[$n]=$(free_port); done
initial=$(for n in "${names[@]}"; do printf '%s=http://127.0.0.1:%s,' "$n" "${PPORT[$n]}"; done); initial=${initial%,}
curl_url() { echo "http://127.0.0.1:${CPORT[$1]}"; }
all_endpoints=$(for n in "${names[@]}"; do printf '%s,' "$(curl_url "$n")"; done); all_endpoints=${all_endpoints%,}

start_member() {  # NAME STATE(new|existing)
    local n=$1
    etcd --name "$n" --data-dir "$tmp/$n" \
        --listen-client-urls "$(curl_url "$n")" --advertise-client-urls "$(curl_url "$n")" \
        --listen-peer-urls "http://127.0.0.1:${PPORT[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${PPORT[$n]}" \
        --initial-cluster "$initial" --initial-cluster-state "$2" --initial-cluster-token etcd-bench \
        >>"$tmp/$n.log" 2>&1 &
    PID[$n]=$!
    all_pids+=("$!")
}
wait_healthy() {  # all three members healthy, bounded
    for _ in $(seq 300); do
        timeout 5 etcdctl --endpoints="$all_endpoints" --command-timeout=2s endpoint health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "etcd cluster not healthy within 30 s"; timeout 5 etcdctl --endpoints="$all_endpoints" endpoint health || true; exit 1
}
leader_name() {  # the member whose id is the leader every answering member names
    timeout 10 etcdctl --endpoints="$all_endpoints" --command-timeout=2s endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
rows = json.load(sys.stdin)
for r in rows:
    if r["Status"]["header"]["member_id"] == r["Status"]["leader"]:
        port = r["Endpoint"].rsplit(":", 1)[1]
        print(port); break
' | { read -r port; for n in "${names[@]}"; do [ "${CPORT[$n]}" = "$port" ] && echo "$n"; done; true; }
}

rm -rf "$OUT"; mkdir -p "$OUT"
etcd --version 2>/dev/null | sed -n 1p >"$OUT/version.txt" || true
log "starting a 3-member etcd cluster ($(head -1 "$OUT/version.txt"))"
for n in "${names[@]}"; do start_member "$n" new; done
wait_healthy
leader=$(leader_name)
[ -n "$leader" ] || { echo "no etcd leader"; exit 1; }
log "etcd up: leader $leader"

# ---- (a) writes/s via the HTTP gateway --------------------------------------------------------
for run in $(seq "$RUNS"); do
    leader=$(leader_name)
    log "(a) put run $run: $CONCURRENCY threads x ${DURATION_S}s against $leader"
    timeout $((DURATION_S + 60)) python3 "$LOAD" throughput "$(curl_url "$leader")" "$CONCURRENCY" "$DURATION_S" "$OUT/put-$run.json" >&2
done

# ---- (b) etcdctl check perf ---------------------------------------------------------------------
for l in $CHECK_PERF_LOADS; do
    case $l in s|m|l|xl) ;; *) echo "CHECK_PERF_LOADS: unknown load '$l' (s, m, l, xl)"; exit 1;; esac
    log "(b) etcdctl check perf --load=$l (60 s)"
    timeout 180 etcdctl --endpoints="$all_endpoints" check perf --load="$l" 2>&1 | tr '\r' '\n' \
        | grep -E 'PASS|FAIL|Throughput|Slowest|Stddev|rror' >"$OUT/check-perf-$l.txt" || true
    timeout 60 etcdctl --endpoints="$all_endpoints" del --prefix /etcdctl-check-perf/ >/dev/null 2>&1 || true
done

# ---- (c) failover -----------------------------------------------------------------------------
for i in $(seq "$FAILOVERS"); do
    leader=$(leader_name)
    survivor=""; for n in "${names[@]}"; do [ "$n" = "$leader" ] || { survivor=$n; break; }; done
    log "(c) failover $i: kill -9 etcd $leader (pid ${PID[$leader]}), client on $survivor"
    timeout 60 python3 "$LOAD" failover "${PID[$leader]}" 30 "$(curl_url "$survivor")" "$OUT/failover-$i.json" >&2
    { wait "${PID[$leader]}"; } 2>/dev/null || true
    start_member "$leader" existing
    wait_healthy
done

# ---- report -----------------------------------------------------------------------------------
python3 - "$RUNS" "$FAILOVERS" "$OUT" "$CONCURRENCY" <<'EOF'
import json, os, re, statistics, sys
runs, fos, out, conc = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
put = [json.load(open(os.path.join(out, f"put-{i}.json"))) for i in range(1, runs + 1)]
fo = [json.load(open(os.path.join(out, f"failover-{i}.json"))) for i in range(1, fos + 1)]
wps = [p["writesPerSecond"] for p in put]
p99 = [p["latencyMs"]["p99"] for p in put]
fs = [f["firstPutS"] for f in fo]
version = open(os.path.join(out, "version.txt")).read().strip()
print(f"\netcd ({version}), 3 members on loopback; medians.\n")
print("| measurement | median | runs |")
print("|---|---:|---|")
rows = []
if put:
    rows += [(f"(a) puts/s, {conc} threads, HTTP gateway, 1 key per put", statistics.median(wps), wps, "{:.0f}"),
             ("(a) put latency p99 (ms)", statistics.median(p99), p99, "{:.1f}")]
if fo:  # FAILOVERS=0 skips phase (c)
    rows += [("(c) failover: kill -9 leader -> first put OK (s), median", statistics.median(fs), fs, "{:.2f}"),
             ("(c) failover: max (s)", max(fs), [], "{:.2f}")]
for l in ("s", "m", "l", "xl"):
    path = os.path.join(out, f"check-perf-{l}.txt")
    if os.path.exists(path):
        text = open(path).read()
        m = re.search(r"Throughput (?:is|too low:) (\d+) writes/s", text)  # PASS says "is", FAIL "too low:"
        verdict = "PASS" if re.search(r"^PASS\s*$", text, re.M) or "PASS:" in text and "FAIL" not in text else "FAIL"
        rows.append((f"(b) etcdctl check perf --load={l}: writes/s ({verdict})", float(m.group(1)) if m else float("nan"), [], "{:.0f}"))
summary = {"version": version, "medians": {}}
for name, m, vals, fmt in rows:
    print(f"| {name} | {fmt.format(m)} | {', '.join(fmt.format(v) for v in vals)} |")
    summary["medians"][name] = m
summary["failover"] = fo
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
EOF
