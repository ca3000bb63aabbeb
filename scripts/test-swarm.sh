#!/usr/bin/env bash
# The cluster on a Docker Swarm of four hosts (scripts/swarm-lab.sh: engines in network
# namespaces on this machine, three managers and a spare worker), deployed with
# deploy/swarm/stack.yml (scripts/swarm-up.sh), and:
#   1. the registry's Swarm provider creates node1..3, one per host (zones), all voters; a
#      transfer commits (?wait=commit) through the gateway;
#   2. `docker kill` a follower's container: the registry restarts it on its host and volume
#      (same identity), it votes again; the time from kill to a new container and to voting;
#   3. `docker kill` the leader's container: a new leader, the old one restarted and voting;
#   4. a host cut off (its lab veth taken down; one holding one node, not the registry's): a
#      transfer still commits (quorum kept), the registry replaces its node on a host of its own,
#      voting (the gateway, when it ran there, runs on another manager); then the link comes back and the old copy is fenced: it is stopped
#      (by itself, exit 78, told it was retired or superseded, or by Swarm) within a bound and
#      never rejoins the configuration, which lists its ID as retired;
#   5. the registry's host loses power (every process of that lab host killed at once): the
#      cluster keeps committing meanwhile (through a node's own API), Swarm runs the registry on
#      another manager, the new registry rebuilds its view from heartbeats (3 voters, a leader),
#      replaces the lost host's node if it held one, restarts a follower killed after it (it
#      heals again), the gateway serves again; the host boots back and no second registry runs;
#   6. `autochain scale 5`, then `scale 3`: five members (voters up to the registry's
#      target_voters, 3 by default; the rest learners), then three voters and no learner.
# After each: every node reports the same head hash, and every transfer acknowledged so far is
# committed on every node (each node asked directly, inside its own network namespace).
# Timings are printed on lines starting "  time:"; scripts/bench/swarm.sh takes medians.
#
# Skips (exit 0, "SKIP:") when the lab cannot be built here (no root, namespaces or dockerd).
# Tears down what it made (the stack; the lab when it started it) unless KEEP=1.
# Last line: "swarm: N passed, M failed"; exit 1 when any failed. SIGTERM (make test's bound)
# still tears down.
# Env: SWARM_REGISTRY_HOST_LOST=0 leaves out scenario 5 (the registry's host powered off).
#      AUTOCHAIN_BIN (host binary that signs transfers; default .build-docker/release/autochain,
#      else the debug build), KEEP=1, LAB_HOSTS (default 4; at least 4).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

BIN=${AUTOCHAIN_BIN:-.build-docker/release/autochain}
[ -x "$BIN" ] || BIN=$(PATH=/opt/swift/usr/bin:$PATH swift build --show-bin-path 2>/dev/null)/autochain
[ -x "$BIN" ] || { echo "SKIP: no autochain binary (make release, or AUTOCHAIN_BIN)"; echo "swarm: 0 passed, 0 failed"; exit 0; }
for t in curl jq nsenter; do command -v $t >/dev/null || { echo "SKIP: $t missing"; echo "swarm: 0 passed, 0 failed"; exit 0; }; done

export LAB_HOSTS=${LAB_HOSTS:-4} LAB_MANAGERS=3
[ "$LAB_HOSTS" -ge 4 ] || { echo "LAB_HOSTS must be at least 4 (three managers and a spare host)"; exit 64; }
LAB_STARTED=0
lab_status=$(scripts/swarm-lab.sh status 2>/dev/null)
if [[ $lab_status != *"engine $LAB_HOSTS: pid"* ]]; then
  [[ $lab_status == *"engine 1: pid"* ]] || LAB_STARTED=1
  out=$(scripts/swarm-lab.sh up 2>&1); rc=$?
  if [ $rc = 2 ]; then echo "$out" | grep SKIP; echo "swarm: 0 passed, 0 failed"; exit 0; fi
  [ $rc = 0 ] || { echo "FAIL - the swarm lab did not come up"; echo "$out" | tail -5; echo "swarm: 0 passed, 1 failed"; exit 1; }
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autochain-swarm-test.XXXXXX")
TXS=$WORK/acknowledged.txt; : > "$TXS"
"$BIN" keygen --dev --out "$WORK/dev.key" >/dev/null 2>&1
. scripts/swarm-lib.sh

# wipe_cluster: the stack and every node volume of it on every lab engine (a fresh chain each run)
wipe_cluster() {
  scripts/swarm-up.sh down >/dev/null 2>&1
  local e; for e in "${ENGINES[@]}"; do
    DOCKER_HOST=unix://$e docker volume ls -q --filter label=autochain.cluster=autochain-swarm | xargs -r env DOCKER_HOST=unix://$e docker volume rm >/dev/null 2>&1
  done
}
wipe_cluster
CUT_LINK="" POWERED_OFF=""
teardown() {
  [ -n "$CUT_LINK" ] && ip link set "$CUT_LINK" up 2>/dev/null
  [ -n "$POWERED_OFF" ] && scripts/swarm-lab.sh start "$POWERED_OFF" >/dev/null 2>&1
  use_manager_other_than 0
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
  echo "swarm: $PASS passed, $FAIL failed"
}
trap teardown EXIT
trap 'bad "stopped by a signal"; exit 143' TERM INT

after_scenario() {
  check "$1: every node on the same head hash" wait_for 60 one_head
  check "$1: all $(wc -l < "$TXS") acknowledged transfers committed on every node" all_txs_everywhere
}
timing() { echo "  time: $1 = $2 s (load $(load))"; }

# ---- 1. deploy -------------------------------------------------------------------------------------
t0=$(now)
# DOCKER_SOCKET_HOST: the path that names the local engine on every lab host (scripts/swarm-lab.sh)
stack_up() { DOCKER_SOCKET_HOST=/run/acswarm-here/docker.sock WAIT_S=180 scripts/swarm-up.sh up >/dev/null 2>&1; }
check "the stack comes up on the swarm (scripts/swarm-up.sh up)" stack_up
timing "stack up" "$(secs "$t0" "$(now)")"
check "the registry answers" wait_for 60 find_registry
# The gateway answers 503 until `registry` resolves and answers (it does not exit).
check "the gateway runs" wait_for 60 find_gateway
check "three voters, node1..3" wait_for 60 three_voters
check "one node per host" wait_for 120 spread
check "a transfer commits through the gateway ($GW)" wait_for 60 transfer
after_scenario "deployed"

# ---- 2. a follower's container killed --------------------------------------------------------------
L=$(leader); F=$(nodes | grep -vx "$L" | head -1)
check "kill follower $F: restarted on its host and voting" kill_and_time "$F"
timing "follower container killed -> voting" "${KILL_VOTING_S:-?}"
check "kill $F: a transfer commits" transfer
after_scenario "kill $F"

# ---- 3. the leader's container killed --------------------------------------------------------------
L=$(leader)
check "kill leader $L: restarted and voting" kill_and_time "$L"
timing "leader container killed -> voting" "${KILL_VOTING_S:-?}"
has_leader() { [ -n "$(leader)" ]; }
check "kill leader $L: a leader again" wait_for 30 has_leader
check "kill leader $L: a transfer commits" wait_for 30 transfer
after_scenario "kill leader $L"

# ---- 4. a whole host cut off, then back: the old copy fenced ---------------------------------------
# Its link to the others (the lab's host-side veth, acswarmvN) taken down. Its engine's socket is
# a local file, so the test still sees what runs there.
if ! read -r VI VICTIM VROLE < <(cut_victim); then
  bad "host cut off: no host holds exactly one node without the registry"
else
  VE=${ENGINES[$((VI - 1))]}; CUT_LINK=acswarmv$VI
  use_manager_other_than "$VI"
  was=$( [ "$(leader)" = "$VICTIM" ] && echo leader || echo follower )
  survivor=$(nodes | grep -vx "$VICTIM" | head -1)
  t0=$(now); ip link set "$CUT_LINK" down
  # Through a node on another host: the gateway may have run on the cut host.
  check "host $VI cut (swarm $VROLE; $VICTIM, $was): a transfer commits (two of three voters)" wait_for 60 transfer "$survivor"
  check "host $VI cut: $VICTIM replaced, three voters voting" wait_for 240 replaced_without "$VICTIM"
  timing "host cut off -> replacement voting" "$(secs "$t0" "$(now)")"

  # The link back at once, while the old copy may still run (Swarm's agent stops a task whose
  # health check fails, and the cut-off copy lost its leader: 15-20 s after the cut). A running
  # old copy must be fenced now: the registry answers it `retired` (its ID and key are
  # tombstoned) and it stops itself (exit 78), or Swarm stops it (its service is at zero
  # replicas); no member lets it back in.
  old_c=$(DOCKER_HOST=unix://$VE docker ps -q --filter "label=autochain.node=$VICTIM")
  t1=$(now); ip link set "$CUT_LINK" up; CUT_LINK=""
  old_gone() { [ -z "$(DOCKER_HOST=unix://$VE docker ps -q --filter "label=autochain.node=$VICTIM")" ]; }
  how_it_ended() { local c; c=$(DOCKER_HOST=unix://$VE docker ps -aq --latest --filter "label=autochain.node=$VICTIM")
    DOCKER_HOST=unix://$VE docker inspect -f 'exit {{.State.ExitCode}} at {{.State.FinishedAt}}' "$c" 2>/dev/null; }
  if [ -z "$old_c" ]; then
    ok "host $VI back: the old copy of $VICTIM had already stopped while cut off ($(how_it_ended); cut at $(date -u -d "@${t0%.*}" +%T))"
  else
    check "host $VI back: the old copy of $VICTIM, running when the link came back, stops within 60 s" wait_for 60 old_gone
    echo "  old copy of $VICTIM: $(how_it_ended), $(secs "$t1" "$(now)") s after the link came back (78: it stopped itself, fenced)"
    DOCKER_HOST=unix://$VE docker logs "$old_c" 2>&1 | grep -E 'retired|superseded' | tail -2 | sed 's/^/    /'
  fi
  tombstoned() { local n; n=$(leader); [ -n "$n" ] && node_get "$n" /members | jq -e --arg v "$VICTIM" '(.retired | index($v)) != null
    and ([.voters[].id, .learners[].id] | index($v)) == null' >/dev/null; }
  check "host $VI back: $VICTIM is retired in the configuration, not a member" wait_for 30 tombstoned
  not_on_cut_host() { local n; for n in $(nodes); do [ "$n" = "$VICTIM" ] && return 1; [ "$(engine_of "$n")" != "$VE" ] || return 1; done; }
  check "host $VI back: every node on the other hosts" not_on_cut_host
  check "host $VI back: one node per host" wait_for 60 spread
  check "host $VI back: Ready in the swarm" wait_for 120 hosts_ready
  check "host $VI back: the gateway serves" wait_for 120 find_gateway
  check "host $VI back: a transfer commits through the gateway" wait_for 60 transfer
  after_scenario "host $VI cut and back"
fi

# ---- 5. the registry's host loses power ------------------------------------------------------------
# Before 8010c88 this failed on a quiet machine: nodes restarted while the lost host's node name
# did not resolve waited ~10 s in getaddrinfo before they listened or heartbeat, and the new
# registry restarted them again before they could report, until the quorum was lost for good.
RE=$(service_engine autochain-swarm_registry); RI=$(engine_index "$RE")
RNODES=$(members_on "$RE" | xargs); GE=$(service_engine autochain-swarm_gateway)
if [ "${SWARM_REGISTRY_HOST_LOST:-1}" != 1 ]; then
  echo "  skipped: the registry's host lost (SWARM_REGISTRY_HOST_LOST=0)"
elif [ "$(echo $RNODES | wc -w)" -gt 1 ]; then
  bad "registry host lost: host $RI holds more than one voter ($RNODES): its loss would cost the quorum"
else
  use_manager_other_than "$RI" || bad "registry host lost: no other manager answers"
  survivor=$(nodes | grep -vxF -e "${RNODES:-none}" | head -1)
  t0=$(now); scripts/swarm-lab.sh kill "$RI" >/dev/null 2>&1; POWERED_OFF=$RI
  echo "  host $RI (registry$([ "$GE" = "$RE" ] && echo ", gateway")${RNODES:+, $RNODES}) powered off"
  check "registry host $RI lost: a transfer commits meanwhile (through $survivor)" wait_for 60 transfer "$survivor"
  registry_elsewhere() { find_registry && [ "$(service_engine autochain-swarm_registry)" != "$RE" ]; }
  check "registry host $RI lost: the registry runs on another manager" wait_for 120 registry_elsewhere
  timing "registry host lost -> registry answering on another host" "$(secs "$t0" "$(now)")"
  rebuilt() { reg status | jq -e '.leader != null and (.voters | length) == 3' >/dev/null; }
  check "registry host $RI lost: the new registry knows the leader and the voters (from heartbeats)" wait_for 60 rebuilt
  if [ -n "$RNODES" ]; then
    check "registry host $RI lost: $RNODES replaced, three voters voting" wait_for 240 replaced_without "$RNODES"
    timing "registry host lost -> its node's replacement voting" "$(secs "$t0" "$(now)")"
  fi
  check "registry host $RI lost: a transfer commits" wait_for 60 transfer "$survivor"
  L=$(leader); F=$(nodes | grep -vx "$L" | head -1)
  check "registry host $RI lost: the new registry restarts killed follower $F" kill_and_time "$F"
  check "registry host $RI lost: the gateway serves again" wait_for 120 find_gateway
  check "registry host $RI lost: a transfer commits through the gateway" wait_for 60 transfer
  after_scenario "registry host $RI lost"
  scripts/swarm-lab.sh start "$RI" >/dev/null 2>&1; POWERED_OFF=""
  check "host $RI back: Ready in the swarm" wait_for 120 hosts_ready
  one_registry() { [ "$(docker service ps autochain-swarm_registry --filter desired-state=running -q | wc -l)" = 1 ] \
    && [ -z "$(dke "$RI" ps -q --filter label=com.docker.swarm.service.name=autochain-swarm_registry)" ]; }
  check "host $RI back: one registry runs, not on it" wait_for 60 one_registry
  check "host $RI back: a transfer commits" wait_for 60 transfer
  after_scenario "host $RI back"
fi

# ---- 6. scale to five, then back to three ----------------------------------------------------------
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
