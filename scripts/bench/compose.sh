#!/usr/bin/env bash
# The compose cluster's speed, for docs/BENCHMARKS.md. Phases (PHASES, default ikrt):
#   (i) image: build-image.sh from nothing (every autochain image and base deleted; the binary
#       already built) and with only the binary changed (a copy with one extra ELF section, so the
#       image's layer really changes), IMAGE_RUNS times each;
#   (k) kill -> replacement, KILLS times: `docker rm -f` a follower's container and `docker volume
#       rm` its volume (a node that cannot be restarted), time until a new node (new container,
#       new ID) is a voter at the leader's height; the cluster settles (3 voters) before the next;
#   (r) kill -> restart, KILLS times: `docker kill` a follower, time until the same container is
#       back, a voter, at the leader's height;
#   (t) committed transfers/s, side by side: the compose cluster and three local processes of the
#       same binary (started as scripts/bench/cluster.sh does), RUNS alternating runs each of
#       `autochain bench --node LEADER --key DEV --txs TXS --concurrency 4 --batch 500 --accounts 1000`
#       (the compose leader through its published port, as a client outside Docker sees it).
# Prints a Markdown table (with `cat /proc/loadavg` at the start and end of each phase) and keeps
# raw output in .build/bench/compose/. Take the team's benchmark lock around it:
#   flock /tmp/autochain-bench.lock scripts/bench/compose.sh
# Tears down what it started: the compose cluster and the nodes its registry made, the local node
# processes (by PID), and a dockerd if it started one.
#
# Env: PHASES=ikrt RUNS=3 TXS=60000 KILLS=5 IMAGE_RUNS=3; REGISTRY_PORT, GATEWAY_PORT, NODE1_PORT ..
#      NODE3_PORT (host ports; each one not set is a free one, chosen and printed at the start, so
#      the run never depends on 9090, 8080 or 8000-8002 being free).
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
. scripts/docker/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
readonly OUT=.build/bench/compose CLUSTER=autochain
readonly PROBE=scripts/bench/cluster_probe.py BIN=.build-docker/release/autochain
PHASES=${PHASES:-ikrt}; RUNS=${RUNS:-3}; TXS=${TXS:-60000}; KILLS=${KILLS:-5}; IMAGE_RUNS=${IMAGE_RUNS:-3}
rm -rf "$OUT"; mkdir -p "$OUT"
RESULTS=$OUT/results.tsv   # phase \t measurement \t value
: > "$RESULTS"
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
loadavg() { note "$1" "load average ($2)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

ensure_docker || { echo "no Docker engine: nothing measured"; exit 1; }
ensure_credential || exit 1
for t in curl jq python3; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
choose_compose_ports || exit 1
readonly REG=http://127.0.0.1:$REGISTRY_PORT
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-compose-bench.XXXXXX")
declare -A PID API P2P
cleanup() {
  stop_pids "${PID[@]}"
  docker stop -t 5 autochain-registry >/dev/null 2>&1
  compose down -v --remove-orphans -t 5 >/dev/null 2>&1
  local extra; extra=$(docker ps -aq --filter label=autochain.cluster=$CLUSTER)
  [ -z "$extra" ] || docker rm -f $extra >/dev/null 2>&1
  extra=$(docker volume ls -q --filter label=autochain.cluster=$CLUSTER)
  [ -z "$extra" ] || docker volume rm -f $extra >/dev/null 2>&1
  docker network rm $CLUSTER >/dev/null 2>&1
  cp "$tmp"/*.log "$OUT/" 2>/dev/null; rm -rf "$tmp"
  stop_dockerd_if_ours
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$BIN" ]; then log "building the image's binary"; scripts/docker/build-image.sh || exit 1; fi
"$BIN" keygen --dev --out "$tmp/dev.key" >/dev/null 2>&1

# ---- (i) image build times ------------------------------------------------------------------------
# Our images: autochain*, autochain-base*, and untagged earlier builds (their entrypoint is ours).
our_images() {
  { docker images -q autochain; docker images -q autochain-base
    for i in $(docker images -q --filter dangling=true); do
      [ "$(docker image inspect -f '{{json .Config.Entrypoint}}' "$i" 2>/dev/null)" = '["/usr/local/bin/autochain"]' ] && echo "$i"
    done; } | sort -u
}
if has i; then
  loadavg i start
  for run in $(seq "$IMAGE_RUNS"); do
    # Children first: a base with images built on it cannot go, so a few rounds.
    for _ in 1 2 3 4; do ids=$(our_images); [ -z "$ids" ] && break; docker rmi -f $ids >/dev/null 2>&1; done
    [ -z "$(docker images -q autochain-base)" ] || { echo "could not delete the cached base"; exit 1; }
    rm -rf .build-docker/context
    t0=$(now); SKIP_SWIFT_BUILD=1 scripts/docker/build-image.sh 2>>"$OUT/image.log" || exit 1
    note i "image from nothing (no base, no layers; binary built) s" "$(elapsed "$t0")"
    cp "$BIN" "$tmp/autochain.stamped"
    date +%s%N > "$tmp/stamp"
    objcopy --add-section ".autochain_bench_stamp=$tmp/stamp" "$tmp/autochain.stamped"
    t0=$(now); AUTOCHAIN_BIN="$tmp/autochain.stamped" scripts/docker/build-image.sh 2>>"$OUT/image.log" || exit 1
    note i "image with only the binary changed s" "$(elapsed "$t0")"
  done
  SKIP_SWIFT_BUILD=1 scripts/docker/build-image.sh 2>>"$OUT/image.log" || exit 1   # the real binary again
  loadavg i end
fi

# ---- the compose cluster --------------------------------------------------------------------------
ip_of() { docker inspect -f "{{with index .NetworkSettings.Networks \"$CLUSTER\"}}{{.IPAddress}}{{end}}" "$1" 2>/dev/null; }
url_of() { local ip; ip=$(ip_of "$1"); [ -n "$ip" ] && echo "http://$ip:8080"; }
running_nodes() { docker ps --filter "label=autochain.cluster=$CLUSTER" --filter label=autochain.node --format '{{.Names}}' | sort; }
st() { curl -s -m 2 "$1/status"; }
leader_url() {  # the compose leader's URL on the bridge network
  local c l; for c in $(running_nodes); do l=$(st "$(url_of "$c")" | jq -r '.leader // empty' 2>/dev/null); [ -n "$l" ] && { url_of "$CLUSTER-$l"; return; }; done
  return 1
}
# voter_at_head URL: a voter (follower or leader) whose height is the leader's
voter_at_head() {
  local s h lu lh; s=$(st "$1") || return 1; lu=$(leader_url) || return 1
  h=$(echo "$s" | jq -r 'select(.role == "follower" or .role == "leader") | .height' 2>/dev/null)
  lh=$(st "$lu" | jq -r '.height' 2>/dev/null)
  [ -n "$h" ] && [ "$h" = "$lh" ]
}
settled() {  # three voters, no learner, three running node containers the registry knows alive
  [ "$(running_nodes | wc -l)" = 3 ] && curl -s -m 2 $REG/status | jq -e '(.voters | length) == 3 and (.learners | length) == 0
    and .quorum == "ok" and (.nodes | length) == 3 and ([.nodes[] | select(.state == "alive")] | length) == 3' >/dev/null 2>&1
}
new_container() { running_nodes | grep -vxF -f "$tmp/before" | head -1 | grep .; }
has_ip() { [ -n "$(ip_of "$1")" ]; }
wait_for() { local secs=$1; shift; local end=$(($(date +%s) + secs)); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done; }
# unsettled WHAT: says why the cluster is not settled (what `settled` checks, the registry's last
# events and log) into the output and $OUT/unsettled.log, then fails the run
unsettled() {
  { echo "$1"; echo "running node containers: $(running_nodes | tr '\n' ' ')"
    curl -s -m 2 $REG/status | jq -c '{voters, learners, quorum, nodes: [.nodes[] | {id, state}]}' 2>&1
    curl -s -m 2 $REG/events | jq -r '.events[-15:][] | "\(.kind) \(.node) \(.message)"' 2>&1
    docker logs --tail 20 autochain-registry 2>&1; } | tee -a "$OUT/unsettled.log"
  exit 1
}
a_follower() { local c l; l=$(st "$(leader_url)" | jq -r .nodeId); for c in $(running_nodes); do [ "$c" != "$CLUSTER-$l" ] && { echo "$c"; return; }; done; return 1; }

if has k || has r || has t; then
  compose down -v --remove-orphans -t 2 >/dev/null 2>&1
  compose up -d >/dev/null 2>&1 || { echo "compose up failed"; exit 1; }
  wait_for 120 settled || unsettled "the compose cluster did not settle"
  # A little history, so a replacement has blocks to sync.
  timeout 300 "$BIN" bench --node "http://127.0.0.1:$NODE1_PORT" --key "$tmp/dev.key" --txs 5000 --accounts 100 --concurrency 2 --batch 100 \
    --json "$OUT/warmup.json" >/dev/null 2>&1 || true
  wait_for 60 settled
fi

# ---- (k) kill -> replacement ------------------------------------------------------------------------
if has k; then
  loadavg k start
  for run in $(seq "$KILLS"); do
    wait_for 120 settled || unsettled "(k) run $run: the cluster did not settle first"
    victim=$(a_follower); running_nodes > "$tmp/before"
    height=$(st "$(leader_url)" | jq -r .height)
    t0=$(now)
    docker rm -f "$victim" >/dev/null && docker volume rm "$victim-data" >/dev/null \
      || { echo "(k) run $run: could not remove $victim and its volume (the registry restarted it first?)"; note k "kill+rm a follower -> a new node, a voter at the leader's height s" invalid; continue; }
    wait_for 60 new_container || { echo "(k) run $run: no replacement container within 60 s"; exit 1; }
    new=$(new_container); spawned=$(elapsed "$t0")
    wait_for 30 has_ip "$new"; u=$(url_of "$new")
    wait_for 120 voter_at_head "$u" || { echo "(k) run $run: $new not a voter at the head within 120 s"; exit 1; }
    took=$(elapsed "$t0")
    note k "kill+rm a follower -> the new node's container started s" "$spawned"
    note k "kill+rm a follower -> a new node, a voter at the leader's height s" "$took"
    echo "run $run: $victim (chain height $height) -> $new: container after $spawned s, caught-up voter after $took s" >> "$OUT/kills.log"
    curl -s -m 2 $REG/events | jq -r '.events[-10:][] | "\(.at // "") \(.kind) \(.node) \(.message)"' > "$OUT/events-k-$run.txt" 2>&1
    log "(k) run $run: $victim -> $new: container after $spawned s, caught-up voter after $took s"
  done
  wait_for 120 settled
  loadavg k end
fi

# ---- (r) kill -> restart ----------------------------------------------------------------------------
if has r; then
  loadavg r start
  for run in $(seq "$KILLS"); do
    wait_for 120 settled || unsettled "(r) run $run: the cluster did not settle first"
    victim=$(a_follower); cid=$(docker inspect -f '{{.Id}}' "$victim")
    started=$(docker inspect -f '{{.State.StartedAt}}' "$victim")
    t0=$(now)
    docker kill "$victim" >/dev/null
    # Running again means started anew (it may come back with another IP on the network).
    wait_for 60 sh -c "[ \"\$(docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' $victim 2>/dev/null)\" != 'true $started' ] && \
      [ \"\$(docker inspect -f '{{.State.Running}}' $victim)\" = true ]" || { echo "(r) $victim not restarted";
      curl -s -m 2 $REG/events | jq -r '.events[-12:][] | "\(.kind) \(.node) \(.message)"'; docker logs --tail 15 autochain-registry; exit 1; }
    back=$(elapsed "$t0")
    [ "$(docker inspect -f '{{.Id}}' "$victim")" = "$cid" ] || { echo "(r) $victim was replaced, not restarted"; exit 1; }
    wait_for 120 voter_at_head "$(url_of "$victim")" || { echo "(r) $victim not back at the head: $(st "$(url_of "$victim")" | head -c 600);
      leader $(leader_url): $(st "$(leader_url)" | head -c 300)"; docker logs --tail 20 "$victim"; exit 1; }
    took=$(elapsed "$t0")
    note r "docker kill a follower -> the same container running again s" "$back"
    note r "docker kill a follower -> back, a voter at the leader's height s" "$took"
    echo "run $run: $victim running after $back s, at the head after $took s" >> "$OUT/kills.log"
    log "(r) run $run: $victim running after $back s, at the head after $took s"
  done
  loadavg r end
fi

# ---- (t) transfers/s: compose vs local processes ------------------------------------------------------
compose_leader() {  # through the published port when the leader is node1..3
  local l; l=$(st "$(leader_url)" | jq -r .nodeId)
  case "$l" in node1) echo "http://127.0.0.1:$NODE1_PORT";; node2) echo "http://127.0.0.1:$NODE2_PORT";; node3) echo "http://127.0.0.1:$NODE3_PORT";; *) leader_url;; esac
}
bench() {  # SIDE RUN URL
  timeout --kill-after=10 900 "$BIN" bench --node "$3" --key "$tmp/dev.key" --txs "$TXS" --concurrency 4 --batch 500 --accounts 1000 \
    --json "$OUT/bench-$1-$2.json" --timeout 600 > "$OUT/bench-$1-$2.txt" 2>&1 \
    && note t "$1 committed tx/s" "$(jq -r .txPerSecond "$OUT/bench-$1-$2.json")" \
    && note t "$1 latency p50 ms" "$(jq -r .latencyMs.p50 "$OUT/bench-$1-$2.json")" \
    || { echo "(t) $1 run $2 failed:"; tail -5 "$OUT/bench-$1-$2.txt"; note t "$1 committed tx/s" failed; }
}
if has t; then
  start_local_cluster "$tmp" || exit 1
  wait_for 60 settled
  loadavg t start
  for run in $(seq "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="local compose"; else order="compose local"; fi
    for side in $order; do
      if [ "$side" = local ]; then u=$(local_leader); else u=$(compose_leader); fi
      log "(t) run $run: $side, bench against $u"
      bench "$side" "$run" "$u"
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
    key = (phase, what)
    rows.setdefault(key, []).append(value)
print(f"\n{sys.argv[2]} cores. Medians over the runs.\n")
print("| phase | measurement | median | runs |")
print("|---|---|---:|---|")
for (phase, what), vals in rows.items():
    nums = []
    for v in vals:
        try: nums.append(float(v))
        except ValueError: pass
    med = f"{statistics.median(nums):.2f}" if nums and len(nums) == len(vals) else "-"
    shown = [f"{float(v):.2f}" if v.replace(".", "", 1).isdigit() else v for v in vals]
    print(f"| {phase} | {what} | {med} | {', '.join(shown)} |")
loc = [float(v) for (p, w), vs in rows.items() if w == "local committed tx/s" for v in vs if v != "failed"]
com = [float(v) for (p, w), vs in rows.items() if w == "compose committed tx/s" for v in vs if v != "failed"]
if loc and com:
    l, c = statistics.median(loc), statistics.median(com)
    print(f"\ncompose / local committed tx/s (medians): {c:.0f} / {l:.0f} = {100 * c / l:.1f} %")
EOF
