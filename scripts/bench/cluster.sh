#!/usr/bin/env bash
# Three-node cluster benchmark: a fresh 3-voter release cluster on loopback, medians of the runs.
#
#   (a) peak:      autochain bench against the leader, --accounts 1000 --txs 60000 --concurrency 4
#                  --batch 500 -> committed tx/s, submit-to-commit latency p50/p99
#   (b) paced:     the same at half the median peak rate (--rate N --batch 100) -> p99 latency
#   (e) unbatched: autochain bench --single --concurrency 64 against the leader: one transfer per
#                  /submit-tx request on each of 64 keep-alive connections -> committed tx/s
#   (c) failover:  FAILOVERS times: a client loops `autochain transfer --wait` (one at a time, every
#                  ~20 ms) against a follower; kill -9 the leader; time from the kill to the first
#                  increase of the commit index on a survivor (and, client view, to the commit of the
#                  first transfer submitted after the kill); restart the killed node on its data dir
#                  (same flags, no --join) and wait until it is back in sync -> median and max
#   (d) catch-up:  grow the chain by CATCHUP_TXS transfers (default 1,000,000; with CATCHUP_BUDGET_S
#                  set, at most what the peak rate commits in that many seconds) as fast as the
#                  cluster commits them (bench flow control: at most GROW_WINDOW in flight); then
#                  CATCHUP_RUNS times start an EMPTY node (n4, n5, ...) with --join, time from its
#                  start until its height equals the leader's -> transfers/s synced (every transfer
#                  of the chain, from its autochain_txs_committed_total); stop it and remove it.
#                  The empty node runs with [p2p] sync_transfer_signatures = CATCHUP_SIGNATURES
#                  (default "verify", the node's default; "trust_leader_signed" skips the transfer
#                  signatures of blocks their term's leader signed, see docs/OPERATIONS.md)
#
# The three voters run with [consensus] replicated_transfer_signatures = REPLICATION_SIGNATURES
# (default "verify", the node's default; "trust_leader_signed": followers skip the transfer
# signatures of blocks the leader of their current term signed, see docs/OPERATIONS.md).
#
# While the first peak run goes, the CPU each node process uses is sampled from /proc (and, when
# `perf` is installed and PERF=1, `perf record -a -g` of the whole machine for 3 s: the three
# nodes and the bench client share its cores), both from 0.5 s after the bench began submitting;
# the same for the first unbatched run (2.5 s of CPU, 2 s of perf). Each
# profile gives perf-{peak,unbatched}-machine.txt (every process, by thread name and library) and
# perf-{peak,unbatched}-top.txt / -children.txt (the leader's own samples).
#
# Prints a Markdown table and keeps every run's raw output in .build/bench/cluster/.
#
# Environment:
#   AUTOCHAIN_BIN=path   use this binary instead of building .build/release/autochain
#   RUNS=3  TXS=60000  FAILOVERS=10  PERF=1  UNBATCHED_TXS=30000
#   CATCHUP_TXS=1000000  CATCHUP_RUNS=3  GROW_WINDOW=20000  CATCHUP_BUDGET_S= (unset: no cap)
#   CATCHUP_SIGNATURES=verify|trust_leader_signed  REPLICATION_SIGNATURES=verify|trust_leader_signed
#   PHASES=abcde         run only these phases; phase b without a needs PEAK_TPS (it sets the pace)
#
# The chain for (d) is grown with one account per 500 transfers (at most 20,000 accounts) and at
# most GROW_WINDOW transfers in flight: the bench never outruns the mempool, so nothing is
# refused and nothing waits out future_ttl_s.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/cluster
readonly PROBE=scripts/bench/cluster_probe.py
readonly READY_WAIT_S=60
readonly BENCH_TIMEOUT_S=1800     # one bench run, hard stop
readonly SYNC_WAIT_S=300          # a restarted node back in sync
readonly CATCHUP_WAIT_S=1200      # a fresh node synced
RUNS=${RUNS:-3}
TXS=${TXS:-60000}
FAILOVERS=${FAILOVERS:-10}
CATCHUP_TXS=${CATCHUP_TXS:-1000000}
CATCHUP_BUDGET_S=${CATCHUP_BUDGET_S:-}   # set: grow by at most PEAK x this many seconds
CATCHUP_RUNS=${CATCHUP_RUNS:-3}
CATCHUP_SIGNATURES=${CATCHUP_SIGNATURES:-verify}
REPLICATION_SIGNATURES=${REPLICATION_SIGNATURES:-verify}
GROW_WINDOW=${GROW_WINDOW:-20000}
PERF=${PERF:-1}
PHASES=${PHASES:-abcde}
UNBATCHED_TXS=${UNBATCHED_TXS:-30000}


bench_binary

# ---- nodes: started here, stopped here, by PID only -----------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-cluster-bench.XXXXXX")
declare -A PID API P2P
all_pids=()   # every PID ever started (a killed one is simply gone)
extra_pids=() # perf and the like
cleanup() {
    stop_pids "${extra_pids[@]}" "${all_pids[@]}"
    cp "$tmp"/*.log "$OUT/" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# start_node NAME [--join]: ports are picked at the first start and kept for restarts.
start_node() {
    local name=$1; shift
    [ -n "${API[$name]:-}" ] || { API[$name]=$(free_port); P2P[$name]=$(free_port); }
    local peers=()
    [ "$name" = n1 ] || peers=(--peers "127.0.0.1:${P2P[n1]}")
    # The catch-up node knows all three: a join sent to a follower is refused ("not the leader")
    # and not redirected, so with n1 alone it would wait for ever once n1 no longer leads.
    case "$name" in n1|n2|n3) ;; *) peers=(--peers "127.0.0.1:${P2P[n1]},127.0.0.1:${P2P[n2]},127.0.0.1:${P2P[n3]}");; esac
    REPLICATED_TRANSFER_SIGNATURES=$REPLICATION_SIGNATURES "$AUTOCHAIN_BIN" node --node-id "$name" --data-dir "$tmp/$name" --api-addr "127.0.0.1:${API[$name]}" \
        --p2p-addr "127.0.0.1:${P2P[$name]}" "${peers[@]}" "$@" --log-level info >>"$tmp/$name.log" 2>&1 &
    PID[$name]=$!
    all_pids+=("$!")
}
url() { echo "http://127.0.0.1:${API[$1]}"; }
urls() { for n in "$@"; do url "$n"; done; }
wait_ready() {  # NAME
    for _ in $(seq $((READY_WAIT_S * 10))); do
        curl -fsS --max-time 2 "$(url "$1")/health/live" >/dev/null 2>&1 && return 0
        kill -0 "${PID[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "node $1 not live within ${READY_WAIT_S}s:"; tail -50 "$tmp/$1.log"; exit 1
}
leader_name() {  # -> n1|n2|n3 (the leader all three agree on)
    local i
    read -r i _ _ < <(timeout 40 python3 "$PROBE" leader 30 $(urls n1 n2 n3))
    echo "n$((i + 1))"
}

rm -rf "$OUT"; mkdir -p "$OUT"
# One credential for the bench cluster (a joining node refuses to start without the cluster's).
export AUTOCHAIN_CLUSTER_TOKEN="bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1
"$AUTOCHAIN_BIN" keygen --out "$tmp/sink.key" >/dev/null 2>&1
sink=$(sed -n 's/.*"address" *: *"\(0x[0-9a-f]*\)".*/\1/p' "$tmp/sink.key")

log "starting a 3-node cluster (replicated_transfer_signatures = $REPLICATION_SIGNATURES)"
start_node n1; wait_ready n1
start_node n2 --join; start_node n3 --join
wait_ready n2; wait_ready n3
timeout 70 python3 "$PROBE" wait-voters 3 60 "$(url n1)"
leader=$(leader_name)
log "cluster up: leader $leader"

# A bench run goes to the current leader; when leadership moves during a run (the bench then
# fails with 503 no_leader/not_leader), the run is noted in $OUT/bench-retries.log and repeated once.
bench() {  # JSON_OUT TXS extra-args...
    local json=$1 txs=$2; shift 2
    for attempt in 1 2; do
        leader=$(leader_name)
        # Its output also goes to NAME.log, where the samplers wait for "bench: submitting".
        if timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$(url "$leader")" --key "$tmp/dev.key" \
            --txs "$txs" --concurrency 4 --json "$json" --timeout 120 "$@" > >(tee -a "${json%.json}.log" >&2) 2>&1 \
            && [ -s "$json" ]; then
            return 0
        fi
        echo "$(date -u +%FT%TZ) $json attempt $attempt failed against $leader; statuses:" >>"$OUT/bench-retries.log"
        timeout 10 python3 "$PROBE" status $(urls n1 n2 n3) >>"$OUT/bench-retries.log" 2>&1 || true
        log "bench against $leader failed (attempt $attempt)"
    done
    echo "bench wrote no $json"; exit 1
}

# await_submitting BENCH_LOG: returns 0.5 s after BENCH_LOG says the bench is submitting (its
# funding and signing done), or after 300 s of waiting for it.
await_submitting() {
    for _ in $(seq 3000); do grep -qs "bench: submitting" "$1" && break; sleep 0.1; done
    sleep 0.5
}

# CPU split per process while a bench runs: utime+stime ticks of each node and of the bench client,
# from `await_submitting BENCH_LOG` on.
cpu_sample() {  # OUT_JSON SECONDS BENCH_LOG  (runs in the background)
    await_submitting "$3" && python3 - "$1" "$2" "${PID[n1]}" "${PID[n2]}" "${PID[n3]}" "$leader" <<'EOF' &
import json, os, sys, time
out, secs, pids, leader = sys.argv[1], float(sys.argv[2]), [int(p) for p in sys.argv[3:6]], sys.argv[6]
hz = os.sysconf("SC_CLK_TCK")
def ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return None
def bench_pids():
    r = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if len(cmd) > 1 and os.path.basename(cmd[0]).startswith(b"autochain") and cmd[1] == b"bench":
                r.append(int(p))
    return r
bench = bench_pids()  # the bench is submitting by now
def total():
    t = {f"n{i+1}": ticks(p) for i, p in enumerate(pids)}
    b = [ticks(p) for p in bench]
    t["bench"] = None if None in b else sum(b)
    return t
a, t0 = total(), time.monotonic()
b, t1 = a, t0
# Up to SECONDS, and only while every process sampled at the start is still there: a short run
# ends the window early instead of losing the bench's ticks.
while time.monotonic() - t0 < secs:
    time.sleep(0.1)
    now = total()
    if any(now[k] is None for k in a if a[k] is not None):
        break
    b, t1 = now, time.monotonic()
if t1 == t0:
    sys.exit(0)
res = {k: round((b[k] - a[k]) / hz / (t1 - t0), 3) for k in a if a[k] is not None and b[k] is not None}
res["leader"] = leader
res["seconds"] = round(t1 - t0, 1)
json.dump(res, open(out, "w"))
EOF
    extra_pids+=("$!")
}

# perf_start NAME SECONDS BENCH_LOG (PERF=1, perf installed): in the background, from
# `await_submitting BENCH_LOG` on, `perf record -a -g` of the whole machine for SECONDS into
# $OUT/perf-NAME.data.
perf_start() {
    [ "$PERF" = 1 ] && command -v perf >/dev/null || return 0
    (await_submitting "$3"
     timeout $(($2 + 20)) perf record -a -F 499 -g -o "$OUT/perf-$1.data" -- sleep "$2" \
        >"$OUT/perf-$1-record.log" 2>&1 || true) &
    extra_pids+=("$!")
}

# perf_summary NAME PID: once the samplers are done, $OUT/perf-NAME.data (when perf wrote one)
# becomes perf-NAME-machine.txt (self time of every process by thread name and library),
# perf-NAME-top.txt (process PID's self time by library and symbol) and perf-NAME-children.txt
# (the same with callees).
perf_summary() {
    [ ${#extra_pids[@]} -eq 0 ] || wait "${extra_pids[@]}" 2>/dev/null || true
    local data="$OUT/perf-$1.data"
    [ -s "$data" ] || return 0
    perf report -i "$data" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' \
        | head -30 >"$OUT/perf-$1-machine.txt" || true
    perf report -i "$data" --pid "$2" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' \
        | head -40 >"$OUT/perf-$1-top.txt" || true
    perf report -i "$data" --pid "$2" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' \
        | head -60 >"$OUT/perf-$1-children.txt" || true
    rm -f "$data"
}

# ---- (a) peak ---------------------------------------------------------------------------------
peak_files=()
has a || RUNS_A=0
for run in $(seq "${RUNS_A:-$RUNS}"); do
    log "(a) peak run $run against $leader"
    if [ "$run" = 1 ]; then
        cpu_sample "$OUT/cpu-peak.json" 3 "$OUT/bench-peak-1.log"
        perf_start peak 3 "$OUT/bench-peak-1.log"
    fi
    bench "$OUT/bench-peak-$run.json" "$TXS" --batch 500 --accounts 1000
    peak_files+=("$OUT/bench-peak-$run.json")
done
perf_summary peak "${PID[$leader]}"
if has a; then peak_tps=$(median "${peak_files[@]}" txPerSecond); else peak_tps=${PEAK_TPS:-0}; fi
if has b && [ "$peak_tps" = 0 ]; then echo "PEAK_TPS is needed for phase b without phase a"; exit 1; fi
if [ -n "$CATCHUP_BUDGET_S" ] && [ "$peak_tps" = 0 ]; then echo "CATCHUP_BUDGET_S needs phase a or PEAK_TPS"; exit 1; fi
rate=$(python3 -c "print(max(1, int($peak_tps / 2)))")

# ---- (b) paced --------------------------------------------------------------------------------
paced_files=()
has b || RUNS_B=0
for run in $(seq "${RUNS_B:-$RUNS}"); do
    log "(b) paced run $run at $rate tx/s"
    bench "$OUT/bench-paced-$run.json" "$TXS" --batch 100 --rate "$rate" --accounts 1000
    paced_files+=("$OUT/bench-paced-$run.json")
done

# ---- (e) unbatched clients (before the failovers, on the first leader) --------------------------
unbatched_files=()
has e || RUNS_E=0
for run in $(seq "${RUNS_E:-$RUNS}"); do
    log "(e) unbatched run $run: 64 connections, one transfer per /submit-tx request"
    if [ "$run" = 1 ]; then
        leader=$(leader_name)
        cpu_sample "$OUT/cpu-unbatched.json" 2.5 "$OUT/bench-unbatched-1.log"
        perf_start unbatched 2 "$OUT/bench-unbatched-1.log"
    fi
    bench "$OUT/bench-unbatched-$run.json" "$UNBATCHED_TXS" --single --concurrency 64 --accounts 1000
    unbatched_files+=("$OUT/bench-unbatched-$run.json")
done
perf_summary unbatched "${PID[$leader]}"

# ---- (c) failover -----------------------------------------------------------------------------
# 16 funded client keys, so a transfer starts every ~20 ms even while earlier ones wait.
client_keys=()
has c || FAILOVERS=0
for k in $(seq $((FAILOVERS > 0 ? 16 : 0))); do
    "$AUTOCHAIN_BIN" keygen --out "$tmp/client-$k.key" >/dev/null 2>&1
    addr=$(sed -n 's/.*"address" *: *"\(0x[0-9a-f]*\)".*/\1/p' "$tmp/client-$k.key")
    timeout 40 "$AUTOCHAIN_BIN" transfer --node "$(url "$leader")" --key "$tmp/dev.key" --to "$addr" --amount 1000000 --wait >/dev/null
    client_keys+=("$tmp/client-$k.key")
done
client_keys=$(IFS=,; echo "${client_keys[*]:-}")
for i in $(seq "$FAILOVERS"); do
    leader=$(leader_name)
    survivors=(); for n in n1 n2 n3; do [ "$n" = "$leader" ] || survivors+=("$n"); done
    log "(c) failover $i: kill -9 $leader (pid ${PID[$leader]}), client on ${survivors[0]}"
    timeout 60 python3 "$PROBE" failover "${PID[$leader]}" 30 "$OUT/failover-$i.json" "$AUTOCHAIN_BIN" "$client_keys" "$sink" \
        $(urls "${survivors[@]}") >&2
    { wait "${PID[$leader]}"; } 2>/dev/null || true
    start_node "$leader"
    wait_ready "$leader"
    timeout $((SYNC_WAIT_S + 10)) python3 "$PROBE" wait-sync "$SYNC_WAIT_S" "$(url "$leader")" $(urls "${survivors[@]}")
    timeout 70 python3 "$PROBE" wait-voters 3 60 "$(url "$leader")"
done
leader=$(leader_name)

# ---- (d) catch-up -----------------------------------------------------------------------------
# The chain grows by CATCHUP_TXS transfers as fast as the cluster commits them (the bench keeps
# at most GROW_WINDOW in flight), then CATCHUP_RUNS fresh nodes (n4, n5, ...) join one after
# another, each from an empty data directory; each is timed from its start until its height
# equals the leader's, then stopped and removed from the membership.
if has d; then
catchup_txs=$CATCHUP_TXS
if [ -n "$CATCHUP_BUDGET_S" ]; then
    catchup_txs=$(python3 -c "print(min($CATCHUP_TXS, max(10000, int($peak_tps * $CATCHUP_BUDGET_S) // 1000 * 1000)))")
fi
grow_accounts=$(python3 -c "print(max(1000, min(20000, $catchup_txs // 500)))")
log "(d) growing the chain by $catchup_txs transfers from $grow_accounts accounts, at most $GROW_WINDOW in flight (leader $leader)"
bench "$OUT/bench-grow.json" "$catchup_txs" --batch 500 --window "$GROW_WINDOW" --accounts "$grow_accounts"
leader=$(leader_name)
chain_height=$(timeout 10 python3 "$PROBE" status "$(url "$leader")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
for run in $(seq "$CATCHUP_RUNS"); do
    fresh="n$((3 + run))"
    log "(d) catch-up run $run: chain at height $chain_height; starting an empty $fresh with --join (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/catchup-$run.loadavg"
    t0=$(date +%s.%N)
    SYNC_TRANSFER_SIGNATURES=$CATCHUP_SIGNATURES start_node "$fresh" --join
    if WAIT_PID=${PID[$fresh]} timeout $((CATCHUP_WAIT_S + 10)) python3 "$PROBE" wait-sync "$CATCHUP_WAIT_S" "$(url "$fresh")" $(urls n1 n2 n3); then
        t1=$(date +%s.%N)
        fresh_txs=$(python3 "$PROBE" metric "$(url "$fresh")" autochain_txs_committed_total)
        fresh_height=$(timeout 10 python3 "$PROBE" status "$(url "$fresh")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
        grep 'block sync' "$tmp/$fresh.log" >"$OUT/$fresh-block-sync.log" || true
        sync_s=$(sed -n 's/.*block sync finished.*seconds=\([0-9.]*\).*/\1/p' "$tmp/$fresh.log" | tail -1)
        python3 -c '
import json, sys
t0, t1, txs, height, grown, load = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[7]
sync_s = float(sys.argv[6]) if sys.argv[6] else None
print(json.dumps({"seconds": t1 - t0, "transfersSynced": txs, "blocksSynced": height, "grownBy": grown,
                  "transfersPerSecond": txs / (t1 - t0), "blocksPerSecond": height / (t1 - t0),
                  "blockSyncSeconds": sync_s, "loadavg": load, "transferSignatures": sys.argv[8]}))
' "$t0" "$t1" "$fresh_txs" "$fresh_height" "$catchup_txs" "$sync_s" "$(cat "$OUT/catchup-$run.loadavg")" "$CATCHUP_SIGNATURES" >"$OUT/catchup-$run.json"
        log "(d) run $run: $(cat "$OUT/catchup-$run.json")"
    else
        # Keep going: the other figures stand; the report says the catch-up failed and why.
        log "(d) $fresh did not catch up (see $OUT/$fresh.log)"
        grep 'block sync\|precondition\|crashed\|ChainStore.swift\|RuntimeLoop.swift' "$tmp/$fresh.log" | head -20 >"$OUT/$fresh-failure.txt" || true
        printf '{"failed": true, "chainHeight": %s}\n' "$chain_height" >"$OUT/catchup-$run.json"
    fi
    kill -TERM "${PID[$fresh]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${PID[$fresh]}" 2>/dev/null || break; sleep 0.1; done
    { wait "${PID[$fresh]}"; } 2>/dev/null || true
    leader=$(leader_name)
    curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $AUTOCHAIN_CLUSTER_TOKEN" -d "{\"nodeId\": \"$fresh\"}" \
        "$(url "$leader")/members/remove" >/dev/null 2>&1 || log "(d) could not remove $fresh from the membership"
    sleep 1
    chain_height=$(timeout 10 python3 "$PROBE" status "$(url "$leader")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
done
python3 - "$OUT" "$CATCHUP_RUNS" <<'EOF2'
import json, os, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
rows = [json.load(open(os.path.join(out, f"catchup-{i}.json"))) for i in range(1, runs + 1)]
ok = [r for r in rows if not r.get("failed")]
if not ok:
    json.dump(rows[0], open(os.path.join(out, "catchup.json"), "w"))
else:
    med = {k: statistics.median(r[k] for r in ok) for k in ("seconds", "transfersPerSecond", "blocksPerSecond", "transfersSynced")}
    med.update({"blocksSynced": ok[0]["blocksSynced"], "runs": rows, "failedRuns": len(rows) - len(ok)})
    json.dump(med, open(os.path.join(out, "catchup.json"), "w"))
EOF2
fi
for n in n1 n2 n3; do kill -0 "${PID[$n]}" 2>/dev/null || { echo "node $n died; its log:"; tail -30 "$tmp/$n.log"; exit 1; }; done
grep -h 'level=error\|halt' "$tmp"/n*.log >"$OUT/node-errors.log" 2>/dev/null || true

# ---- report -----------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$RUNS" "$FAILOVERS" "$rate" "$(nproc)" "$cpu" "$OUT" <<'EOF'
import json, statistics, sys, os
runs, fos, rate, nproc, cpu, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def load(prefix, n):
    return [json.load(open(os.path.join(out, f"{prefix}-{i}.json"))) for i in range(1, n + 1)]
have = lambda f: os.path.exists(os.path.join(out, f))
peak = load("bench-peak", runs) if have("bench-peak-1.json") else []
paced = load("bench-paced", runs) if have("bench-paced-1.json") else []
unbatched = load("bench-unbatched", runs) if have("bench-unbatched-1.json") else []
fo = load("failover", fos) if have("failover-1.json") else []
cu = json.load(open(os.path.join(out, "catchup.json"))) if have("catchup.json") else {"failed": True, "chainHeight": "-"}
if cu.get("failed"):
    cu = {"transfersSynced": float("nan"), "blocksSynced": f"FAILED (chain height {cu['chainHeight']}; see n4-failure.txt)",
          "seconds": float("nan"), "transfersPerSecond": float("nan"), "blocksPerSecond": float("nan"), "failed": True}
fo_s = [f["commitResumedS"] for f in fo]
fo_c = [f["clientCommitS"] for f in fo if f["clientCommitS"] is not None]
nan = (float("nan"), [])
def med(rows, *path):
    if not rows:
        return nan
    vals = []
    for r in rows:
        for k in path:
            r = r[k]
        vals.append(float(r))
    return statistics.median(vals), vals
if not fo_s:
    fo_s = [float("nan")]
rows = [
    ("(a) peak committed tx/s", med(peak, "txPerSecond"), "{:.0f}"),
    ("(a) peak latency p50 (ms)", med(peak, "latencyMs", "p50"), "{:.1f}"),
    ("(a) peak latency p99 (ms)", med(peak, "latencyMs", "p99"), "{:.1f}"),
    (f"(b) paced at {rate} tx/s: committed tx/s", med(paced, "txPerSecond"), "{:.0f}"),
    ("(b) paced latency p50 (ms)", med(paced, "latencyMs", "p50"), "{:.1f}"),
    ("(b) paced latency p99 (ms)", med(paced, "latencyMs", "p99"), "{:.1f}"),
    ("(e) unbatched, 64 connections, one per /submit-tx: committed tx/s", med(unbatched, "txPerSecond"), "{:.0f}"),
    ("(e) unbatched latency p99 (ms)", med(unbatched, "latencyMs", "p99"), "{:.1f}"),
    ("(c) failover: kill -9 leader -> commit resumes (s), median", (statistics.median(fo_s), fo_s), "{:.2f}"),
    ("(c) failover: kill -9 leader -> commit resumes (s), max", (max(fo_s), []), "{:.2f}"),
    ("(c) failover: client's first post-kill transfer committed (s), median", (statistics.median(fo_c) if fo_c else float("nan"), fo_c), "{:.2f}"),
    (f"(d) catch-up of a fresh node: transfers/s ({cu['transfersSynced']:.0f} transfers, {cu['blocksSynced']} blocks, {cu['seconds']:.1f} s)",
     (cu["transfersPerSecond"], []), "{:.0f}"),
    ("(d) catch-up: blocks/s", (cu["blocksPerSecond"], []), "{:.0f}"),
]
# Phases that did not run are left out of the table (a phase that ran and failed stays in it).
ran = {"a": bool(peak), "b": bool(paced), "c": bool(fo), "e": bool(unbatched),
       "d": have("catchup.json") or any(f.endswith("-failure.txt") for f in os.listdir(out))}
rows = [r for r in rows if ran[r[0][1]]]
print(f"\nMachine: {nproc} cores, {cpu}; 3-node release cluster on loopback; {runs} bench runs, {fos} failovers; medians.\n")
print("| measurement | median | runs |")
print("|---|---:|---|")
summary = {"machine": {"nproc": int(nproc), "cpu": cpu}, "runs": runs, "pacedRate": rate, "medians": {}, "failover": fo, "catchup": cu}
for name, (m, vals), fmt in rows:
    print(f"| {name} | {fmt.format(m)} | {', '.join(fmt.format(v) for v in vals)} |")
    summary["medians"][name] = m
cpu_path = os.path.join(out, "cpu-peak.json")
if os.path.exists(cpu_path):
    c = json.load(open(cpu_path))
    summary["cpuPeak"] = c
    print(f"\nCPU during peak run 1 (cores busy, leader {c.pop('leader')}, {c.pop('seconds')} s): " +
          ", ".join(f"{k} {v:.2f}" for k, v in c.items()))
refused = sum(r["rejected"] for r in peak + paced + unbatched)
if refused:
    print(f"\nNote: {refused} transfers were refused across the bench runs (see {out}/bench-*.json).")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
EOF
