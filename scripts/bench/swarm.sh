#!/usr/bin/env bash
# The cluster on the swarm lab (scripts/swarm-lab.sh: four dockerd in network namespaces on this
# machine, three managers and a spare worker; the stack of deploy/swarm/stack.yml), for
# docs/BENCHMARKS.md. Phases (PHASES, default rht), RUNS times each (default 5), medians:
#   (r) container killed -> restarted and voting: `docker kill` a follower's container; time until
#       a new container of it runs on the same host, and until it votes (the registry lists it
#       as a voter and the node itself says it follows a leader);
#   (h) host lost -> replacement voting: a host holding one node (not the registry's; the swarm's
#       leading manager only when no other qualifies; the spare worker first) cut off (its veth
#       down); time until three voters without the cut node, every one voting; then the link
#       back, the old copy gone, every host Ready and one head before the next run;
#   (t) committed transfers/s, side by side, RUNS alternating runs each: the swarm cluster and
#       three local processes of the same binary, each with
#       `autochain bench --key DEV --txs TXS --concurrency 4 --batch 500 --accounts 1000` against
#       its leader (on the swarm: the client runs in the leader's network namespace, as a client
#       on the leader's host; local: over loopback).
# Prints a Markdown table (with the load average at the start and end of each phase) and keeps
# raw output in .build/bench/swarm/. Take the team's benchmark lock around it:
#   flock /tmp/autochain-bench.lock scripts/bench/swarm.sh
# Never uses the main Docker engine's containers or fixed host ports: the lab's engines have their
# own sockets and addresses (10.99.0.x), the local nodes take free loopback ports. Tears down the
# stack, the local node processes (by PID), and the lab when it started it (KEEP=1 keeps both).
#
# Env: PHASES=rht RUNS=5 TXS=30000 BENCH_TIMEOUT_S=600 (a bench run gives up that long after its
#      last commit: a run whose transfers were lost in an election ends, counted on what committed);
#      AUTOCHAIN_BIN (default .build-docker/release/autochain, the
#      image's binary).
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
. scripts/docker/lib.sh
readonly OUT=.build/bench/swarm PROBE=scripts/bench/cluster_probe.py
PHASES=${PHASES:-rht}; RUNS=${RUNS:-5}; TXS=${TXS:-30000}
BIN=$(realpath "${AUTOCHAIN_BIN:-.build-docker/release/autochain}" 2>/dev/null) && [ -x "$BIN" ] \
  || { echo "no binary at ${AUTOCHAIN_BIN:-.build-docker/release/autochain} (make image builds it)"; exit 1; }
for t in curl jq python3 nsenter; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
rm -rf "$OUT"; mkdir -p "$OUT"
RESULTS=$OUT/results.tsv; : > "$RESULTS"
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
loadavg() { note "$1" "load average ($2)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

export LAB_HOSTS=${LAB_HOSTS:-4} LAB_MANAGERS=3
LAB_STARTED=0
if [[ $(scripts/swarm-lab.sh status 2>/dev/null) != *"engine $LAB_HOSTS: pid"* ]]; then
  [[ $(scripts/swarm-lab.sh status 2>/dev/null) == *"engine 1: pid"* ]] || LAB_STARTED=1
  scripts/swarm-lab.sh up || { echo "the swarm lab did not come up"; exit 1; }
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autochain-swarm-bench.XXXXXX")
TXS_FILE=$WORK/acknowledged.txt; : > "$TXS_FILE"; TXS_COUNT=$TXS; TXS=$TXS_FILE
"$BIN" keygen --dev --out "$WORK/dev.key" >/dev/null 2>&1
. scripts/swarm-lib.sh
declare -A PID API P2P
CUT_LINK=""
wipe_cluster() {
  scripts/swarm-up.sh down >/dev/null 2>&1
  local e; for e in "${ENGINES[@]}"; do
    DOCKER_HOST=unix://$e docker volume ls -q --filter label=autochain.cluster=autochain-swarm | xargs -r env DOCKER_HOST=unix://$e docker volume rm >/dev/null 2>&1
  done
}
cleanup() {
  [ -n "$CUT_LINK" ] && ip link set "$CUT_LINK" up 2>/dev/null
  stop_pids "${PID[@]}"
  cp "$WORK"/*.log "$OUT/" 2>/dev/null
  docker service logs --raw autochain-swarm_registry > "$OUT/registry.log" 2>&1
  if [ "${KEEP:-0}" != 1 ]; then
    wipe_cluster
    [ $LAB_STARTED = 1 ] && scripts/swarm-lab.sh down >/dev/null 2>&1
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wipe_cluster
DOCKER_SOCKET_HOST=/run/acswarm-here/docker.sock WAIT_S=180 scripts/swarm-up.sh up || { echo "the stack did not come up"; exit 1; }
wait_for 60 find_registry && wait_for 60 find_gateway || { echo "no registry or gateway"; exit 1; }
settled() { three_voters && all_voting && one_head; }
wait_for 120 settled || { echo "the swarm cluster did not settle"; exit 1; }
wait_for 60 transfer || { echo "no transfer commits"; exit 1; }

# ---- (r) container killed -> restarted and voting ---------------------------------------------------
if has r; then
  loadavg r start
  for run in $(seq "$RUNS"); do
    wait_for 120 settled || { echo "(r) run $run: the cluster did not settle first"; exit 1; }
    L=$(leader); F=$(nodes | grep -vx "$L" | head -1)
    kill_and_time "$F" >> "$OUT/restarts.log" || { echo "(r) run $run: $F not restarted and voting in 60 s"; exit 1; }
    note r "docker kill a follower -> its new container running s" "$KILL_NEW_S"
    note r "docker kill a follower -> restarted and voting s" "$KILL_VOTING_S"
    log "(r) run $run: $F new container after $KILL_NEW_S s, voting after $KILL_VOTING_S s"
  done
  loadavg r end
fi

# ---- (h) host lost -> replacement voting ------------------------------------------------------------------
if has h; then
  loadavg h start
  for run in $(seq "$RUNS"); do
    wait_for 120 hosts_ready && wait_for 120 settled && wait_for 120 find_gateway || { echo "(h) run $run: the cluster did not settle first"; exit 1; }
    read -r VI VICTIM VROLE < <(cut_victim) || { echo "(h) run $run: no host to cut (one node, not the registry's)"; exit 1; }
    VE=${ENGINES[$((VI - 1))]}; CUT_LINK=acswarmv$VI
    use_manager_other_than "$VI"
    t0=$(now); ip link set "$CUT_LINK" down
    WAIT_STEP_S=0.2 wait_for 240 replaced_without "$VICTIM" || { echo "(h) run $run: $VICTIM not replaced in 240 s"; exit 1; }
    took=$(secs "$t0" "$(now)")
    note h "host cut off -> replacement voting, 3 voters s" "$took"
    log "(h) run $run: host $VI (swarm $VROLE, $VICTIM) cut; replaced and voting after $took s"
    ip link set "$CUT_LINK" up; CUT_LINK=""
    old_gone() { [ -z "$(DOCKER_HOST=unix://$VE docker ps -q --filter "label=autochain.node=$VICTIM")" ]; }
    wait_for 120 old_gone || { echo "(h) run $run: the old copy of $VICTIM still runs 120 s after the link came back"; exit 1; }
    c=$(DOCKER_HOST=unix://$VE docker ps -aq --latest --filter "label=autochain.node=$VICTIM")
    echo "run $run: host $VI (swarm $VROLE), $VICTIM replaced after $took s; old copy $(DOCKER_HOST=unix://$VE docker inspect -f 'exit {{.State.ExitCode}} at {{.State.FinishedAt}}' "$c" 2>/dev/null), cut at $(date -u -d "@${t0%.*}" +%T.%N)" >> "$OUT/host-cuts.log"
  done
  loadavg h end
fi

# ---- (t) transfers/s: swarm vs local processes ------------------------------------------------------------
bench() {  # SIDE RUN [NODE: run the client in that swarm node's namespace, else against LOCAL_URL]
  local side=$1 run=$2 where=(); [ -n "${3:-}" ] && where=(in_node "$3")
  local url=${LOCAL_URL:-}; [ -n "${3:-}" ] && url=http://127.0.0.1:8080
  "${where[@]}" timeout --kill-after=10 900 "$BIN" bench --node "$url" --key "$WORK/dev.key" --txs "$TXS_COUNT" --concurrency 4 --batch 500 \
    --accounts 1000 --json "$OUT/bench-$side-$run.json" --timeout "${BENCH_TIMEOUT_S:-600}" > "$OUT/bench-$side-$run.txt" 2>&1 \
    && note t "$side committed tx/s" "$(jq -r .txPerSecond "$OUT/bench-$side-$run.json")" \
    && note t "$side latency p50 ms" "$(jq -r .latencyMs.p50 "$OUT/bench-$side-$run.json")" \
    || { echo "(t) $side run $run failed:"; tail -5 "$OUT/bench-$side-$run.txt"; note t "$side committed tx/s" failed; }
}
if has t; then
  ensure_credential || exit 1   # the local nodes' shared cluster credential (.env, as compose.sh)
  start_local_cluster "$WORK" || exit 1
  wait_for 120 settled || { echo "(t) the swarm cluster did not settle"; exit 1; }
  loadavg t start
  for run in $(seq "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="local swarm"; else order="swarm local"; fi
    for side in $order; do
      if [ "$side" = local ]; then LOCAL_URL=$(local_leader); log "(t) run $run: local, bench against $LOCAL_URL"; bench local "$run"
      else L=$(leader); log "(t) run $run: swarm, bench inside leader $L's namespace"; bench swarm "$run" "$L"; fi
    done
  done
  loadavg t end
fi

# ---- report ---------------------------------------------------------------------------------------------
python3 - "$RESULTS" "$(nproc)" <<'EOF'
import statistics, sys
from collections import OrderedDict
rows = OrderedDict()
for line in open(sys.argv[1]):
    phase, what, value = line.rstrip("\n").split("\t")
    rows.setdefault((phase, what), []).append(value)
print(f"\n{sys.argv[2]} cores. Medians over the runs.\n")
print("| phase | measurement | median | runs |")
print("|---|---|---:|---|")
for (phase, what), vals in rows.items():
    nums = []
    for v in vals:
        try: nums.append(float(v))
        except ValueError: pass
    med = f"{statistics.median(nums):.2f}" if nums and len(nums) == len(vals) else "-"
    print(f"| {phase} | {what} | {med} | {', '.join(vals)} |")
loc = [float(v) for (p, w), vs in rows.items() if w == "local committed tx/s" for v in vs if v != "failed"]
sw = [float(v) for (p, w), vs in rows.items() if w == "swarm committed tx/s" for v in vs if v != "failed"]
if loc and sw:
    l, s = statistics.median(loc), statistics.median(sw)
    print(f"\nswarm / local committed tx/s (medians): {s:.0f} / {l:.0f} = {100 * s / l:.1f} %")
EOF
