#!/usr/bin/env bash
# The cluster on a three-host Docker Swarm (scripts/swarm-lab.sh: three engines in network
# namespaces on this machine), deployed with deploy/swarm/stack.yml (scripts/swarm-up.sh), and:
#   1. the registry's Swarm provider creates node1..3, one per host (zones a/b/c), all voters;
#      a transfer commits (?wait=commit) through the gateway;
#   2. `docker kill` a follower's container: the registry restarts it on its host and volume
#      (same identity), it votes again; the time from kill to a new container and to voting;
#   3. `docker kill` the leader's container: a new leader, the old one restarted and voting.
# After each: every node reports the same head hash, and every transfer acknowledged so far is
# committed on every node (each node asked directly, inside its own network namespace).
# Known (not the Swarm provider's): right after a restart, a transfer through the gateway can time
# out: the gateway keeps each node URL's resolved address until its node list changes, and on
# Swarm a restarted node has a new address (1 failure in the last of 3 runs).
# Not yet here (issue 14): a host stopped or cut off (replacement on another host, fencing of the
# old copy), scale 5 and back, the registry's host lost.
#
# Skips (exit 0, "SKIP:") when the lab cannot be built here (no root, namespaces or dockerd).
# Tears down what it made (the stack; the lab when it started it) unless KEEP=1.
# Last line: "N passed, M failed"; exit 1 when any failed.
# Env: AUTOCHAIN_BIN (host binary that signs transfers; default .build-docker/release/autochain,
#      else the debug build), KEEP=1.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
wait_for() { local s=$1 end; shift; end=$(($(date +%s) + s)); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.5; done; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

BIN=${AUTOCHAIN_BIN:-.build-docker/release/autochain}
[ -x "$BIN" ] || BIN=$(PATH=/opt/swift/usr/bin:$PATH swift build --show-bin-path 2>/dev/null)/autochain
[ -x "$BIN" ] || { echo "SKIP: no autochain binary (make release, or AUTOCHAIN_BIN)"; echo "0 passed, 0 failed"; exit 0; }
for t in curl jq nsenter; do command -v $t >/dev/null || { echo "SKIP: $t missing"; echo "0 passed, 0 failed"; exit 0; }; done

LAB_STARTED=0
lab_status=$(scripts/swarm-lab.sh status 2>/dev/null)
if [[ $lab_status != *"engine 1: pid"* ]]; then
  out=$(scripts/swarm-lab.sh up 2>&1); rc=$?
  if [ $rc = 2 ]; then echo "$out" | grep SKIP; echo "0 passed, 0 failed"; exit 0; fi
  [ $rc = 0 ] || { echo "FAIL - the swarm lab did not come up"; echo "0 passed, 1 failed"; exit 1; }
  LAB_STARTED=1
fi
ENGINES=(/run/acswarm-1.sock /run/acswarm-2.sock /run/acswarm-3.sock)
export DOCKER_HOST=unix://${ENGINES[0]}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autochain-swarm-test.XXXXXX")
TXS=$WORK/acknowledged.txt; : > "$TXS"
"$BIN" keygen --dev --out "$WORK/dev.key" >/dev/null 2>&1
ALICE=0x00000000000000000000000000000000000a11ce

# wipe_cluster: the stack and every node volume of it on every lab engine (a fresh chain each run)
wipe_cluster() {
  scripts/swarm-up.sh down >/dev/null 2>&1
  local e; for e in "${ENGINES[@]}"; do
    DOCKER_HOST=unix://$e docker volume ls -q --filter label=autochain.cluster=autochain-swarm | xargs -r env DOCKER_HOST=unix://$e docker volume rm >/dev/null 2>&1
  done
}
wipe_cluster
teardown() {
  if [ "$FAIL" -gt 0 ]; then
    mkdir -p .build/test-swarm && rm -f .build/test-swarm/*.log
    for e in "${ENGINES[@]}"; do
      for c in $(DOCKER_HOST=unix://$e docker ps -aq --filter label=autochain.cluster=autochain-swarm); do
        DOCKER_HOST=unix://$e docker logs -t "$c" > ".build/test-swarm/$(basename "$e" .sock)-$c.log" 2>&1
      done
    done
    docker service logs --raw autochain-swarm_registry > .build/test-swarm/registry.log 2>&1
    echo "--- logs in .build/test-swarm/"
  fi
  if [ "${KEEP:-0}" != 1 ]; then
    wipe_cluster
    [ $LAB_STARTED = 1 ] && scripts/swarm-lab.sh down >/dev/null 2>&1
  fi
  rm -rf "$WORK"
  echo "$PASS passed, $FAIL failed"
}
trap teardown EXIT

# ---- helpers: nodes are reached inside their own network namespace (their API is on the overlay only)
engine_of() { local e; for e in "${ENGINES[@]}"; do [ -n "$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$1")" ] && { echo "$e"; return 0; }; done; return 1; }
container_of() { local e; e=$(engine_of "$1") || return 1; DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$1"; }
in_node() { local n=$1 e c pid; shift; e=$(engine_of "$n") || return 1; c=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n")
  pid=$(DOCKER_HOST=unix://$e docker inspect -f '{{.State.Pid}}' "$c") || return 1; nsenter -t "$pid" -n "$@"; }
node_get() { in_node "$1" curl -s -m 5 "http://127.0.0.1:8080$2"; }
host_addr_of_task() { local task host; task=$(docker service ps "$1" --filter desired-state=running -q | head -1)
  host=$(docker inspect --format '{{.NodeID}}' "$task" 2>/dev/null) && docker node inspect --format '{{.Status.Addr}}' "$host"; }
REG=""; GW=""
reg() { curl -s -m 5 "$REG/$1"; }
nodes() { reg status | jq -r '.nodes[].id' | sort; }
leader() { reg status | jq -r '.leader // empty'; }
# voting NODE: a voter in the registry's view, and its running container itself says it follows
# or leads a leader (asked inside it: a stale heartbeat of a killed container does not count)
voting() {
  reg status | jq -e --arg n "$1" '(.voters | index($n)) != null' >/dev/null || return 1
  node_get "$1" /status | jq -e '(.role == "follower" or .role == "leader") and .leader != null' >/dev/null
}
transfer() {
  local out; out=$(timeout 30 "$BIN" transfer --node "$GW" --key "$WORK/dev.key" --to $ALICE --amount 1000 --wait 2>/dev/null) || return 1
  case "$out" in *committed*) echo "${out%% *}" >> "$TXS"; return 0;; esac; return 1
}
one_head() { local n h heads=""; for n in $(nodes); do h=$(node_get "$n" /chain/head | jq -r '.head.hash') || return 1; heads="$heads $h"; done
  [ "$(echo $heads | tr ' ' '\n' | sort -u | wc -l)" = 1 ] && [ "$(echo $heads | wc -w)" -ge 3 ]; }
all_txs_everywhere() { local n h got want; want=$(wc -l < "$TXS"); [ "$want" -gt 0 ] || return 1
  for n in $(nodes); do got=0; for h in $(cat "$TXS"); do
      [ "$(node_get "$n" "/tx/$h" | jq -r '.status')" = committed ] && got=$((got + 1)); done
    [ "$got" = "$want" ] || { echo "  $n has $got of the $want" >&2; return 1; }; done; }
after_scenario() {
  check "$1: every node on the same head hash" wait_for 60 one_head
  check "$1: all $(wc -l < "$TXS") acknowledged transfers committed on every node" all_txs_everywhere
}
# kill_and_time NODE: kills its container, waits for a new one and for it to vote; prints both times
kill_and_time() {
  local n=$1 e old t0 t1="" run
  e=$(engine_of "$n") || return 1; old=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n")
  t0=$(now); DOCKER_HOST=unix://$e docker kill "$old" >/dev/null || return 1
  replaced() { local c; c=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n"); [ -n "$c" ] && [ "$c" != "$old" ]; }
  wait_for 60 replaced || return 1
  t1=$(now)
  wait_for 60 voting "$n" || return 1
  [ "$(engine_of "$n")" = "$e" ] || { echo "  $n came back on another host" >&2; return 1; }
  echo "  $n: new container $(secs "$t0" "$t1") s after the kill, voting again after $(secs "$t0" "$(now)") s, same host"
}

# ---- 1. deploy -------------------------------------------------------------------------------------
t0=$(now)
stack_up() { WAIT_S=180 scripts/swarm-up.sh up >/dev/null 2>&1; }
check "the stack comes up on the swarm (scripts/swarm-up.sh up)" stack_up
echo "  up in $(secs "$t0" "$(now)") s"
REG=http://$(host_addr_of_task autochain-swarm_registry):9090
# The gateway exits while `registry` does not resolve yet; Swarm restarts it (condition any).
gateway_running() { GW=http://$(host_addr_of_task autochain-swarm_gateway):8080 && curl -s -m 3 "$GW/health/live" >/dev/null; }
check "the gateway runs" wait_for 60 gateway_running
three_voters() { reg status | jq -e '(.voters | length) == 3 and .leader != null' >/dev/null; }
spread() { [ "$(for n in $(nodes); do engine_of "$n"; done | sort -u | wc -l)" = 3 ]; }
check "three voters, node1..3" wait_for 60 three_voters
check "one node per host" spread
check "a transfer commits through the gateway ($GW)" wait_for 60 transfer
after_scenario "deployed"

# ---- 2. a follower's container killed --------------------------------------------------------------
L=$(leader); F=$(nodes | grep -vx "$L" | head -1)
check "kill follower $F: restarted on its host and voting" kill_and_time "$F"
check "kill $F: a transfer commits" transfer
after_scenario "kill $F"

# ---- 3. the leader's container killed --------------------------------------------------------------
L=$(leader)
check "kill leader $L: restarted and voting" kill_and_time "$L"
has_leader() { [ -n "$(leader)" ]; }
check "kill leader $L: a leader again" wait_for 30 has_leader
check "kill leader $L: a transfer commits" wait_for 30 transfer
after_scenario "kill leader $L"
