#!/usr/bin/env bash
# The compose cluster against a real Docker engine: builds the image (nothing pulled), brings up
# docker-compose.yml (registry with the Docker provider + node1..3), and checks that it is healthy,
# commits, and heals: a killed follower container is restarted by the registry, a killed leader
# too (after a new leader takes over), and `autochain scale 4` makes the registry create a 4th
# node container that syncs. Always tears down (`down -v` plus anything the registry created).
# Skips (exit 0) when no Docker engine can be had. Last line: "N passed, M failed".
#
# Env: SKIP_IMAGE_BUILD=1 (use the existing autochain:latest), KEEP=1 (leave the cluster up).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
CLUSTER=autochain
REG=http://127.0.0.1:9090
NODES=(node1 node2 node3)
declare -A PORT=([node1]=8000 [node2]=8001 [node3]=8002)
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

if ! ensure_docker; then
  echo "SKIP: no Docker engine could be installed or started here (see above); nothing was tested"
  echo "0 passed, 0 failed"
  exit 0
fi
for tool in curl jq; do
  command -v $tool >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null 2>&1 \
    || { echo "SKIP: $tool is missing and cannot be installed"; echo "0 passed, 0 failed"; exit 0; }
done

teardown() {
  local rc=$?
  if [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "--- registry events"; curl -s -m 3 $REG/events | jq -r '.events[] | "\(.at|floor)s \(.kind) \(.message)"' 2>/dev/null | tail -30
    echo "--- containers"; docker ps -a --filter label=autochain.cluster=$CLUSTER --format '{{.Names}} {{.Status}}'
    echo "--- registry log (tail)"; docker logs --tail 30 autochain-registry 2>&1
  fi
  if [ "${KEEP:-0}" != 1 ]; then
    compose down -v --remove-orphans -t 5 >/dev/null 2>&1
    # What the registry created itself (node4, ...) is not compose's to remove.
    local extra; extra=$(docker ps -aq --filter label=autochain.cluster=$CLUSTER)
    [ -n "$extra" ] && docker rm -f $extra >/dev/null 2>&1
    extra=$(docker volume ls -q --filter label=autochain.cluster=$CLUSTER)
    [ -n "$extra" ] && docker volume rm -f $extra >/dev/null 2>&1
  fi
  echo "$PASS passed, $FAIL failed"
}
trap teardown EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
if [ "${SKIP_IMAGE_BUILD:-0}" = 1 ] && docker image inspect autochain:latest >/dev/null 2>&1; then
  log "using the existing autochain:latest"
else
  scripts/docker/build-image.sh || { bad "image builds"; exit 1; }
fi
ok "image builds ($(($(date +%s) - t0)) s, $(($(docker image inspect autochain:latest --format '{{.Size}}') / 1000000)) MB)"
BIN=.build-docker/release/autochain

compose down -v --remove-orphans -t 2 >/dev/null 2>&1
t1=$(date +%s)
compose up -d 2>&1 | grep -v -i 'warn\|obsolete' >&2
[ "${PIPESTATUS[0]}" = 0 ] || { bad "compose up"; exit 1; }

# helpers
head_of() { curl -s -m 2 "http://127.0.0.1:$1/chain/head" | jq -r '.head.hash // empty' 2>/dev/null; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$1/health/ready")" = 200 ]; }
leader_of() { curl -s -m 2 "http://127.0.0.1:$1/status" | jq -r '.leader // empty' 2>/dev/null; }
# all_converged PORT...: every node ready and on the same head hash
all_converged() {
  local h="" p x
  for p in "$@"; do
    ready "$p" || return 1
    x=$(head_of "$p"); [ -n "$x" ] || return 1
    [ -z "$h" ] || [ "$h" = "$x" ] || return 1
    h=$x
  done
}
wait_for() { local secs=$1; shift; local end=$(($(date +%s) + secs)); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.5; done; }
event_seen() { curl -s -m 2 $REG/events | jq -e --arg k "$1" --arg n "$2" '[.events[] | select(.kind == $k and .node == $n)] | length > 0' >/dev/null 2>&1; }
healthy_container() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
all_healthy() { local c; for c in "$@"; do healthy_container "$c" || return 1; done; }

$BIN keygen --dev --out "${TMPDIR:-/tmp}/autochain-dev.key.$$" >/dev/null 2>&1
KEY="${TMPDIR:-/tmp}/autochain-dev.key.$$"
trap 'rm -f "$KEY"; teardown' EXIT
ALICE=0x00000000000000000000000000000000000a11ce
transfer() { $BIN transfer --node "http://127.0.0.1:$1" --key "$KEY" --to $ALICE --amount "${2:-1000}" --wait >/dev/null 2>&1; }

# 1. a healthy 3-node cluster
check "3 nodes ready on one head within 90 s" wait_for 90 all_converged 8000 8001 8002
log "compose up -> 3 nodes ready: $(($(date +%s) - t1)) s"
check "Docker reports every container healthy within 60 s" wait_for 60 all_healthy autochain-registry autochain-node1 autochain-node2 autochain-node3
log "compose up -> healthy: $(($(date +%s) - t1)) s"
check "registry sees node1..3 (docker provider)" wait_for 30 sh -c \
  "curl -s -m 2 $REG/status | jq -e '.provider == \"docker\" and ([.nodes[] | select(.state == \"alive\")] | length) == 3' >/dev/null"
check "a transfer commits (?wait=commit) through a follower's port" transfer 8001
check "all nodes reach the same head after it" wait_for 20 all_converged 8000 8001 8002

# 2. a follower container killed: the registry restarts it (same container, same volume)
L=$(leader_of 8000); F=""
for n in "${NODES[@]}"; do [ "$n" != "$L" ] && [ -n "$L" ] && { F=$n; break; }; done
if [ -z "$F" ]; then bad "a leader is known"; else
  docker kill "autochain-$F" >/dev/null
  t3=$(date +%s)
  check "registry records $F's exit" wait_for 30 event_seen node_exited "$F"
  check "registry restarts $F" wait_for 30 event_seen restart "$F"
  check "$F is back, ready, on the cluster's head" wait_for 60 all_converged 8000 8001 8002
  log "kill $F -> back on the head: $(($(date +%s) - t3)) s"
  check "a transfer commits after the restart" transfer "${PORT[$F]}"
  check "same head everywhere" wait_for 20 all_converged 8000 8001 8002
fi

# 3. the leader container killed: a new leader takes over at once, the registry restarts the old one
L=$(leader_of 8000)
if [ -z "$L" ]; then bad "a leader is known"; else
  docker kill "autochain-$L" >/dev/null
  other=""; for n in "${NODES[@]}"; do [ "$n" != "$L" ] && { other=$n; break; }; done
  check "a new leader is elected after $L is killed" wait_for 15 sh -c \
    "l=\$(curl -s -m 2 http://127.0.0.1:${PORT[$other]}/status | jq -r '.leader // empty'); [ -n \"\$l\" ] && [ \"\$l\" != $L ]"
  check "a transfer commits without the old leader" transfer "${PORT[$other]}"
  check "registry restarts $L" wait_for 30 event_seen restart "$L"
  check "$L is back on the cluster's head" wait_for 60 all_converged 8000 8001 8002
fi

# 4. scale to 4: the registry creates node4's container and volume, it joins as a learner
$BIN scale --registry $REG 4 >/dev/null 2>&1 || bad "scale request accepted"
check "registry spawns node4 (a labelled container)" wait_for 45 sh -c \
  "docker inspect -f '{{index .Config.Labels \"autochain.node\"}}' autochain-node4 2>/dev/null | grep -qx node4"
check "node4 is healthy and on the cluster's head" wait_for 90 sh -c \
  "[ \"\$(docker inspect -f '{{.State.Health.Status}}' autochain-node4 2>/dev/null)\" = healthy ] && \
   h=\$(docker exec autochain-node4 autochain health >/dev/null 2>&1 && curl -s -m 2 http://127.0.0.1:8000/chain/head | jq -r .head.height) && \
   [ \"\$(curl -s -m 2 $REG/status | jq -r '.nodes[] | select(.id==\"node4\") | .height')\" = \"\$h\" ]"
exit 0
