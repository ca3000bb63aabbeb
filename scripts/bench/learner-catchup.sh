#!/usr/bin/env bash
# A new learner from spawn to caught up (issue #5: under 60 s on a 1,000,000-transfer chain),
# with the registry doing the spawning:
#
#   1. `autochain up --nodes 3` (a registry with the process provider and a 3-voter cluster);
#   2. the chain grows by TXS transfers through the leader (`autochain bench`, flow-controlled);
#   3. RUNS times: `autochain scale --registry URL N+1`; the time from the scale request, and from
#      the registry's `node_spawned` event (GET /events), until the new node's height equals the
#      leader's. Each run adds one more learner (the earlier ones stay up, caught up and idle), so
#      every measured node starts empty.
#
# Load-based scaling is switched off for the run (a config with a CPU target no node reaches and
# max_nodes = 3 + RUNS), so the only spawns are the ones asked for.
#
# Environment: AUTOCHAIN_BIN=path  TXS=1000000  RUNS=3  GROW_WINDOW=20000  CATCHUP_WAIT_S=600
# Raw output in .build/bench/learner/; prints one JSON line per run and a summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/learner
readonly PROBE=scripts/bench/cluster_probe.py
TXS=${TXS:-1000000}
RUNS=${RUNS:-3}
GROW_WINDOW=${GROW_WINDOW:-20000}
CATCHUP_WAIT_S=${CATCHUP_WAIT_S:-600}

bench_binary

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-learner-bench.XXXXXX")
up_pid=""
cleanup() {
    if [ -n "$up_pid" ]; then
        stop_pids -t 15 "$up_pid"   # `up` stops its own nodes on SIGTERM
    fi
    cp "$tmp"/*.log "$OUT/" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$OUT"; mkdir -p "$OUT"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry="http://127.0.0.1:$port"
cat >"$tmp/config.toml" <<EOF
[autoscale]
min_nodes = 3
max_nodes = $((3 + RUNS))
metric = "cpu"
target_value = 1000.0
EOF
"$AUTOCHAIN_BIN" up --nodes 3 --data-dir "$tmp/cluster" --addr "127.0.0.1:$port" --config "$tmp/config.toml" \
    >"$tmp/up.log" 2>&1 &
up_pid=$!
log "registry $registry (autochain up, pid $up_pid)"

# discover: prints "ID ROLE HEIGHT APIURL STATE" per node
discover() {
    local body
    body=$(curl -fsS --max-time 2 "$registry/discover" 2>/dev/null) || return 0   # not up yet
    python3 -c '
import json, sys
for n in json.loads(sys.argv[1])["nodes"]:
    print(n["id"], n.get("role", "?"), n.get("height", 0), n.get("apiUrl", ""), n.get("state", "?"))' "$body" || true
}
leader_url() { discover | awk '$2 == "leader" && $5 == "alive" {print $4; exit}'; }

for _ in $(seq 600); do
    [ "$(discover | awk '$5 == "alive"' | wc -l)" -ge 3 ] && [ -n "$(leader_url)" ] && break
    kill -0 "$up_pid" 2>/dev/null || { tail -30 "$tmp/up.log"; exit 1; }
    sleep 0.1
done
leader=$(leader_url)
[ -n "$leader" ] || { echo "no leader within 60 s"; discover; exit 1; }
timeout 70 python3 "$PROBE" wait-voters 3 60 "$leader"
log "cluster up: leader $leader"

"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1
accounts=$(python3 -c "print(max(1000, min(20000, $TXS // 500)))")
log "growing the chain by $TXS transfers ($accounts accounts, at most $GROW_WINDOW in flight)"
timeout 3600 "$AUTOCHAIN_BIN" bench --node "$leader" --key "$tmp/dev.key" --accounts "$accounts" --txs "$TXS" \
    --concurrency 4 --batch 500 --window "$GROW_WINDOW" --timeout 120 --json "$OUT/bench-grow.json" >&2

for run in $(seq "$RUNS"); do
    leader=$(leader_url)
    height=$(curl -fsS --max-time 5 "$leader/chain/head" | python3 -c 'import json,sys; print(json.load(sys.stdin)["head"]["height"])')
    before=$(discover | awk '{print $1}' | sort)
    target=$((3 + run))
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "run $run: chain height $height; autochain scale --registry $registry $target (load $load)"
    t_scale=$(date +%s.%N)
    "$AUTOCHAIN_BIN" scale --registry "$registry" --data-dir "$tmp/cluster" "$target" >&2
    # The new node: the one /discover lists that was not there before.
    new_id=""; new_url=""
    for _ in $(seq 600); do
        new=$(discover | while read -r id _ _ url _; do echo "$before" | grep -qx "$id" || { echo "$id $url"; break; }; done)
        [ -n "$new" ] && { read -r new_id new_url <<<"$new"; break; }
        sleep 0.1
    done
    [ -n "$new_id" ] || { echo "no new node within 60 s"; curl -fsS "$registry/events" | tail -c 2000; exit 1; }
    log "run $run: $new_id at $new_url"
    if ! timeout $((CATCHUP_WAIT_S + 10)) python3 "$PROBE" wait-sync "$CATCHUP_WAIT_S" "$new_url" "$leader"; then
        echo "$new_id did not catch up within $CATCHUP_WAIT_S s"; exit 1
    fi
    t_done=$(date +%s.%N)
    curl -fsS --max-time 5 "$registry/events" >"$OUT/events-$run.json"
    txs=$(python3 "$PROBE" metric "$new_url" autochain_txs_committed_total)
    python3 - "$OUT/events-$run.json" "$new_id" "$t_scale" "$t_done" "$height" "$txs" "$load" "$run" <<'EOF' | tee "$OUT/run-$run.json"
import json, sys
events, node, t_scale, t_done, height, txs, load, run = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7], int(sys.argv[8])
ev = json.load(open(events))["events"]
scale = [e for e in ev if e["kind"] == "scale_requested"][-1]
spawn = [e for e in ev if e["kind"] == "node_spawned" and e.get("node") == node][-1]
from_scale = t_done - t_scale
spawn_after_scale = spawn["at"] - scale["at"]   # both on the registry's clock
print(json.dumps({"run": run, "node": node, "chainHeight": height, "transfersSynced": txs,
                  "fromScaleS": round(from_scale, 2), "spawnAfterScaleS": round(spawn_after_scale, 2),
                  "fromSpawnS": round(from_scale - spawn_after_scale, 2),
                  "transfersPerSecondFromSpawn": round(txs / (from_scale - spawn_after_scale)), "loadavg": load}))
EOF
done

python3 - "$OUT" "$RUNS" <<'EOF'
import json, os, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
rows = [json.load(open(os.path.join(out, f"run-{i}.json"))) for i in range(1, runs + 1)]
summary = {k: statistics.median(r[k] for r in rows) for k in ("fromScaleS", "fromSpawnS", "transfersPerSecondFromSpawn")}
summary["runs"] = rows
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(f"\nnew learner, spawn -> caught up on a chain of {rows[0]['transfersSynced']:.0f}+ transfers: "
      f"median {summary['fromSpawnS']:.1f} s from the spawn event, {summary['fromScaleS']:.1f} s from the scale request "
      f"(runs: {', '.join(str(r['fromSpawnS']) for r in rows)} s); target < 60 s")
EOF
