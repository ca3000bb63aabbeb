#!/usr/bin/env bash
# The cluster on a three-host Docker Swarm (scripts/swarm-lab.sh: three engines in network
# namespaces on this machine), deployed with deploy/swarm/stack.yml (scripts/swarm-up.sh), and:
#   1. the registry's Swarm provider creates node1..3, one per host (zones a/b/c), all voters;
#      a transfer commits (?wait=commit) through the gateway;
#   2. `docker kill` a follower's container: the registry restarts it on its host and volume
#      (same identity), it votes again; the time from kill to a new container and to voting;
#   3. `docker kill` the leader's container: a new leader, the old one restarted and voting;
#   4. a host cut off (its lab veth taken down; one holding neither registry nor gateway): a
#      transfer still commits (quorum kept), the registry replaces its node on the other hosts;
#      then the link comes back, and what the old copy does is reported (not fenced yet);
#   5. `autochain scale 5`, then `scale 3`: five members (voters up to the registry's
#      target_voters, 3 by default; the rest learners), then three voters and no learner.
# After each: every node reports the same head hash, and every transfer acknowledged so far is
# committed on every node (each node asked directly, inside its own network namespace).
# Not yet here (issue 14): fencing of a cut-off host's old copy (only reported), the registry's
# host lost.
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
CUT_LINK=""
teardown() {
  [ -n "$CUT_LINK" ] && ip link set "$CUT_LINK" up 2>/dev/null
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
# nodes: the members (voters and learners); a replaced node's record can outlive its membership
nodes() { reg status | jq -r '(.voters + .learners)[]' | sort; }
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
# The gateway answers 503 until `registry` resolves and answers (it does not exit).
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

# ---- 4. a whole host cut off -----------------------------------------------------------------------
# Its link to the others (the lab's host-side veth, acswarmvN) taken down. Its engine's socket is
# a local file, so the test still sees what runs there.
load() { cut -d' ' -f1-3 /proc/loadavg; }
service_engine() { local e; for e in "${ENGINES[@]}"; do
    [ -n "$(DOCKER_HOST=unix://$e docker ps -q --filter "label=com.docker.swarm.service.name=$1")" ] && { echo "$e"; return 0; }; done; return 1; }
engine_index() { local i; for i in 1 2 3; do [ "${ENGINES[$((i - 1))]}" = "$1" ] && { echo "$i"; return 0; }; done; return 1; }
REG_E=$(service_engine autochain-swarm_registry); GW_E=$(service_engine autochain-swarm_gateway)
VICTIM="" VE=""
for n in $(nodes); do e=$(engine_of "$n") || continue
  [ "$e" != "$REG_E" ] && [ "$e" != "$GW_E" ] && { VICTIM=$n; VE=$e; break; }; done
if [ -z "$VICTIM" ]; then
  echo "skip - host cut off: the registry's and the gateway's hosts hold every node"
else
  VI=$(engine_index "$VE"); CUT_LINK=acswarmv$VI
  was=$( [ "$(leader)" = "$VICTIM" ] && echo leader || echo follower )
  t0=$(now); ip link set "$CUT_LINK" down
  check "host $VI cut ($VICTIM, $was): a transfer commits (two of three voters)" wait_for 60 transfer
  replaced_elsewhere() { reg status | jq -e --arg n "$VICTIM" '(.voters | length) == 3 and (.voters | index($n)) == null and .leader != null' >/dev/null; }
  check "host $VI cut: $VICTIM replaced, three voters again" wait_for 240 replaced_elsewhere
  echo "  replaced (three voters without $VICTIM) $(secs "$t0" "$(now)") s after the cut; load $(load)"
  not_on_cut_host() { local n; for n in $(nodes); do [ "$n" = "$VICTIM" ] && return 1; [ "$(engine_of "$n")" != "$VE" ] || return 1; done; }
  check "host $VI cut: every node on the other two hosts" wait_for 60 not_on_cut_host
  all_voting() { local n; for n in $(nodes); do voting "$n" || return 1; done; }
  check "host $VI cut: every node voting" wait_for 120 all_voting
  check "host $VI cut: a transfer commits" wait_for 60 transfer
  after_scenario "host $VI cut"

  # The link back: Swarm tells the host its task is no longer wanted (the service is at zero
  # replicas). Until incarnations fence it, the old copy is only observed here, not judged.
  old_c=$(DOCKER_HOST=unix://$VE docker ps -q --filter "label=autochain.node=$VICTIM")
  old_view=$( [ -n "$old_c" ] && node_get "$VICTIM" /status | jq -c '{role, leader, term, height: .head.height}' 2>/dev/null)
  t1=$(now); ip link set "$CUT_LINK" up; CUT_LINK=""
  old_gone() { [ -z "$(DOCKER_HOST=unix://$VE docker ps -q --filter "label=autochain.node=$VICTIM")" ]; }
  if [ -z "$old_c" ]; then
    last=$(DOCKER_HOST=unix://$VE docker ps -aq --latest --filter "label=autochain.node=$VICTIM")
    echo "  the old copy of $VICTIM had stopped while cut off: $(DOCKER_HOST=unix://$VE docker inspect -f 'exit {{.State.ExitCode}} at {{.State.FinishedAt}}' "$last" 2>/dev/null) (cut at $(date -u -d "@${t0%.*}" +%T))"
  elif wait_for 120 old_gone; then echo "  old copy of $VICTIM (before the link came back: ${old_view:-no answer}) stopped $(secs "$t1" "$(now)") s after"
  else echo "  old copy of $VICTIM still running 120 s after the link came back: $(node_get "$VICTIM" /status | jq -c '{role, leader, term}' 2>/dev/null)"; fi
  host_ready() { [ "$(docker node ls --format '{{.Status}}' | grep -c Ready)" = 3 ]; }
  check "host $VI back: Ready in the swarm" wait_for 120 host_ready
  check "host $VI back: a transfer commits" wait_for 60 transfer
  after_scenario "host $VI back"
fi

# ---- 5. scale to five, then back to three ----------------------------------------------------------
scale() { ensure_credential >/dev/null 2>&1 && timeout 30 "$BIN" scale --registry "$REG" "$1" >/dev/null; }
# members_n N: N members, every one alive in the registry's view, and a leader
members_n() { reg status | jq -e --argjson n "$1" '((.voters + .learners) | length) == $n and .leader != null
    and ([.nodes[] | select(.state == "alive") | .id] as $a | all((.voters + .learners)[]; . as $m | $a | index($m) != null))' >/dev/null; }
three_voters_only() { reg status | jq -e '(.voters | length) == 3 and (.learners | length) == 0 and .leader != null' >/dev/null; }
split() { reg status | jq -r '"\(.voters | length) voters, \(.learners | length) learners"'; }
t0=$(now)
check "scale 5: accepted" scale 5
check "scale 5: five members, all alive" wait_for 300 members_n 5
echo "  five members ($(split)) $(secs "$t0" "$(now)") s after scale 5; load $(load)"
check "scale 5: a transfer commits" wait_for 60 transfer
after_scenario "scale 5"
t0=$(now)
check "scale 3: accepted" scale 3
check "scale 3: three voters, no learner" wait_for 300 three_voters_only
echo "  three members ($(split)) $(secs "$t0" "$(now)") s after scale 3; load $(load)"
check "scale 3: a transfer commits" wait_for 60 transfer
after_scenario "scale 3"
