#!/usr/bin/env bash
# Healing benchmark: how fast the registry brings a 3-voter cluster back to full voter strength
# after kill -9, on a chain of CHAIN_TXS transfers. One `autochain up --nodes 3` (registry with
# the process provider) on a free port and a temporary data directory; every node process is a
# child of it, and only those children are ever killed (by PID).
#
#   (a) restart:     RUNS times each, alternating: kill -9 a follower / the leader; the registry
#                    restarts it on its data -> seconds to full voter strength
#   (b) replacement: RUNS times, alternating follower / leader: delete the voter's data directory,
#                    kill -9 it; the registry spawns a new node (new ID, learner), it syncs the
#                    chain, the dead voter is removed and the new one promoted -> seconds to full
#                    voter strength
#   (c) quorum loss: RUNS times, alternating: kill -9 the leader and a follower / both followers
#                    while a client starts a `transfer --wait` every 50 ms -> seconds to the commit
#                    of the first transfer submitted after the kill, and to full voter strength
#
# Full voter strength: the leader's /status lists 3 voters, the registry reports each of them
# alive, and each answers /status as leader or follower of the same leader and term, at most 2
# blocks below the leader's height (see healing_probe.py). Between runs the cluster must be
# stable (full strength, no learners, nothing in flight, equal heights) for 2 s.
#
# Raw output in .build/bench/healing/ (one JSON per run with its timeline and the registry's
# events, the registry's and nodes' logs), summary in .build/bench/healing/summary.json.
#
# Environment:
#   AUTOCHAIN_BIN=path   use this binary instead of building .build/release/autochain
#   RUNS=10  CHAIN_TXS=100000  GROW_RATE=3000 (tx/s while growing the chain)  PHASES=abc
#   RUN_TIMEOUT_S=60 (one healing run, hard stop)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/healing
readonly PROBE=scripts/bench/healing_probe.py
readonly STABLE_WAIT_S=180        # cluster stable again between runs
readonly BENCH_TIMEOUT_S=900      # growing the chain, hard stop
RUNS=${RUNS:-10}
CHAIN_TXS=${CHAIN_TXS:-100000}
GROW_RATE=${GROW_RATE:-3000}
PHASES=${PHASES:-abc}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-60}

bench_binary

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-healing-bench.XXXXXX")
up_pid=""
cleanup() {
    if [ -n "$up_pid" ]; then
        # SIGTERM: the registry stops its node processes (SIGTERM, then SIGKILL after 5 s) and exits.
        stop_pids -t 15 "$up_pid"
    fi
    cp "$tmp"/up.log "$tmp"/data/*.log "$OUT/" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


rm -rf "$OUT"; mkdir -p "$OUT"
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-start.txt"
"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1
"$AUTOCHAIN_BIN" keygen --out "$tmp/sink.key" >/dev/null 2>&1
sink=$(sed -n 's/.*"address" *: *"\(0x[0-9a-f]*\)".*/\1/p' "$tmp/sink.key")

reg_port=$(free_port)
REG="http://127.0.0.1:$reg_port"
log "autochain up --nodes 3 --addr 127.0.0.1:$reg_port --data-dir $tmp/data"
"$AUTOCHAIN_BIN" up --nodes 3 --addr "127.0.0.1:$reg_port" --data-dir "$tmp/data" >"$tmp/up.log" 2>&1 &
up_pid=$!
timeout $((STABLE_WAIT_S + 10)) python3 "$PROBE" wait-stable "$REG" 3 "$STABLE_WAIT_S"
python3 "$PROBE" status "$REG" >&2

# ---- the chain: CHAIN_TXS transfers, at most 50 per account (nonces stay <=64 ahead) -----------
leader_url() { timeout 70 python3 "$PROBE" leader-url "$REG" 60; }
grow_accounts=$(python3 -c "print(max(100, min(100000, ($CHAIN_TXS + 49) // 50)))")
log "growing the chain by $CHAIN_TXS transfers ($grow_accounts accounts, at $GROW_RATE tx/s)"
t_grow=$(date +%s)
for attempt in 1 2; do
    url=$(leader_url)
    if timeout --kill-after=10 "$BENCH_TIMEOUT_S" "$AUTOCHAIN_BIN" bench --node "$url" --key "$tmp/dev.key" \
        --accounts "$grow_accounts" --txs "$CHAIN_TXS" --concurrency 4 --batch 500 --rate "$GROW_RATE" \
        --timeout 600 --json "$OUT/bench-grow.json" >"$OUT/bench-grow-$attempt.log" 2>&1 && [ -s "$OUT/bench-grow.json" ]; then
        break
    fi
    log "growing the chain failed against $url (attempt $attempt; see $OUT/bench-grow-$attempt.log)"
    [ "$attempt" = 2 ] && exit 1
done
timeout $((STABLE_WAIT_S + 10)) python3 "$PROBE" wait-stable "$REG" 3 "$STABLE_WAIT_S"
url=$(leader_url)
chain_height=$(curl -fsS --max-time 5 "$url/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
chain_txs=$(curl -fsS --max-time 5 "$url/metrics" | awk '$1 == "autochain_txs_committed_total" {print $2}')
log "chain: height $chain_height, $chain_txs transfers committed ($(( $(date +%s) - t_grow )) s to grow)"
printf '{"height": %s, "txsCommitted": %s}\n' "$chain_height" "${chain_txs:-0}" >"$OUT/chain.json"

# ---- clients for (c): funded keys, one transfer in flight per key ------------------------------
client_keys=""
if has c; then
    keys=()
    for k in $(seq 32); do
        "$AUTOCHAIN_BIN" keygen --out "$tmp/client-$k.key" >/dev/null 2>&1
        addr=$(sed -n 's/.*"address" *: *"\(0x[0-9a-f]*\)".*/\1/p' "$tmp/client-$k.key")
        timeout 40 "$AUTOCHAIN_BIN" transfer --node "$url" --key "$tmp/dev.key" --to "$addr" --amount 1000000 --wait >/dev/null
        keys+=("$tmp/client-$k.key")
    done
    client_keys=$(IFS=,; echo "${keys[*]}")
fi

# ---- the runs ---------------------------------------------------------------------------------
run() {  # NAME MODE
    local name=$1 mode=$2
    timeout $((STABLE_WAIT_S + 10)) python3 "$PROBE" wait-stable "$REG" 3 "$STABLE_WAIT_S"
    log "$name: $mode (load $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout $((RUN_TIMEOUT_S + 30)) python3 "$PROBE" run "$mode" "$REG" "$up_pid" "$tmp/data" 3 "$RUN_TIMEOUT_S" \
        "$OUT/$name.json" "$AUTOCHAIN_BIN" "$client_keys" "$sink" >&2 || log "$name: the probe failed (see $OUT/$name.json)"
}
if has a; then
    for i in $(seq "$RUNS"); do
        run "restart-follower-$i" restart-follower
        run "restart-leader-$i" restart-leader
    done
fi
if has b; then
    for i in $(seq "$RUNS"); do
        if [ $((i % 2)) = 1 ]; then run "replace-$i" replace-follower; else run "replace-$i" replace-leader; fi
    done
fi
if has c; then
    for i in $(seq "$RUNS"); do
        if [ $((i % 2)) = 1 ]; then run "quorum-$i" quorum-leader; else run "quorum-$i" quorum-followers; fi
    done
fi
timeout $((STABLE_WAIT_S + 10)) python3 "$PROBE" wait-stable "$REG" 3 "$STABLE_WAIT_S" || true
"$AUTOCHAIN_BIN" events --registry "$REG" >"$OUT/events.txt" 2>&1 || true
grep -h 'level=error\|halt\|precondition' "$tmp"/data/*.log >"$OUT/node-errors.log" 2>/dev/null || true
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end.txt"

# ---- report -----------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$OUT" "$(nproc)" "$cpu" "$CHAIN_TXS" <<'EOF'
import glob, json, os, statistics, sys
out, nproc, cpu, chain_txs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def runs(prefix):
    files = sorted(glob.glob(os.path.join(out, prefix + "-*.json")), key=lambda f: int(f.rsplit("-", 1)[1][:-5]))
    return [json.load(open(f)) for f in files]
def stats(values):
    ok = [v for v in values if v is not None]
    return {"runs": values, "median": statistics.median(ok) if ok else None, "max": max(ok) if ok else None,
            "failed": len(values) - len(ok)}
rows = [
    ("(a) restart, follower killed: to full voter strength (s)", [r["fullStrengthS"] for r in runs("restart-follower")], 5),
    ("(a) restart, leader killed: to full voter strength (s)", [r["fullStrengthS"] for r in runs("restart-leader")], 5),
    ("(a) restart, all: to full voter strength (s)", [r["fullStrengthS"] for r in runs("restart-follower") + runs("restart-leader")], 5),
    ("(b) replacement: to full voter strength (s)", [r["fullStrengthS"] for r in runs("replace")], 10),
    ("(b) replacement, follower killed (s)", [r["fullStrengthS"] for r in runs("replace") if r["mode"] == "replace-follower"], None),
    ("(b) replacement, leader killed (s)", [r["fullStrengthS"] for r in runs("replace") if r["mode"] == "replace-leader"], None),
    ("(c) quorum loss: to the first new commit (s)", [r["firstCommitS"] for r in runs("quorum")], 5),
    ("(c) quorum loss, leader + a follower killed: to the first new commit (s)",
     [r["firstCommitS"] for r in runs("quorum") if r["mode"] == "quorum-leader"], None),
    ("(c) quorum loss, both followers killed: to the first new commit (s)",
     [r["firstCommitS"] for r in runs("quorum") if r["mode"] == "quorum-followers"], None),
    ("(c) quorum loss: to full voter strength (s)", [r["fullStrengthS"] for r in runs("quorum")], None),
]
chain = json.load(open(os.path.join(out, "chain.json")))
load = {w: open(os.path.join(out, f"loadavg-{w}.txt")).read().strip() for w in ("start", "end")}
per_run = [float(r["loadavg"][0]) for p in ("restart-follower", "restart-leader", "replace", "quorum") for r in runs(p)]
summary = {"machine": {"nproc": nproc, "cpu": cpu}, "chain": chain, "chainTxsAsked": chain_txs, "loadavg": load,
           "loadavg1mAtEachKill": per_run, "results": {}}
print(f"\nMachine: {nproc} cores, {cpu}; chain height {chain['height']}, {chain['txsCommitted']} transfers committed.")
print(f"Load average (1/5/15 min) at the start {load['start']}, at the end {load['end']}; 1-min load at the kills "
      f"{min(per_run, default=0):.2f}-{max(per_run, default=0):.2f}.\n")
print("| measurement | median | max | target | runs |")
print("|---|---:|---:|---|---|")
for name, values, target in rows:
    if not values:
        continue
    s = stats(values)
    s["target"] = target
    summary["results"][name] = s
    fmt = lambda v: "FAILED" if v is None else f"{v:.2f}"
    verdict = "" if target is None or s["median"] is None else (f"< {target} s: " + ("met" if s["median"] < target else "MISSED"))
    print(f"| {name} | {fmt(s['median'])} | {fmt(s['max'])} | {verdict} | {', '.join(fmt(v) for v in values)} |")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
EOF
