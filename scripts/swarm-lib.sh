# Shared by scripts/test-swarm.sh and scripts/bench/swarm.sh (sourced, not run): the cluster on
# the swarm lab (scripts/swarm-lab.sh) seen from this machine. Nodes' APIs are on the overlay
# only, so a node is asked inside its own network namespace (nsenter into its container's).
#
# Needs: BIN (the host binary that signs transfers), WORK (a scratch directory with dev.key),
# TXS (the file of acknowledged transfer hashes). Sets DOCKER_HOST to a manager of the lab.
LAB_HOSTS=${LAB_HOSTS:-4}
LAB_MANAGERS=${LAB_MANAGERS:-3}
ENGINES=(); for _i in $(seq 1 "$LAB_HOSTS"); do ENGINES+=("/run/acswarm-$_i.sock"); done; unset _i
export DOCKER_HOST=unix://${ENGINES[0]}
ALICE=0x00000000000000000000000000000000000a11ce
REG=""; GW=""

# wait_for SECONDS CMD...: until CMD succeeds, every WAIT_STEP_S (default 0.5 s; timings use 0.2)
wait_for() { local s=$1 end; shift; end=$(($(date +%s) + s)); until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep "${WAIT_STEP_S:-0.5}"; done; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
dke() { local i=$1; shift; DOCKER_HOST=unix://${ENGINES[$((i - 1))]} timeout 60 docker "$@"; }

# use_manager_other_than I: the swarm API through a manager engine other than I that answers as one
use_manager_other_than() {
  local i; for i in $(seq 1 "$LAB_MANAGERS"); do
    [ "$i" = "$1" ] && continue
    [ "$(dke "$i" info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = true ] && { export DOCKER_HOST=unix://${ENGINES[$((i - 1))]}; return 0; }
  done; return 1; }

# engine_of NODE: the socket of the engine running NODE's container; engine_index SOCKET: its number
engine_of() { local e; for e in "${ENGINES[@]}"; do [ -n "$(DOCKER_HOST=unix://$e timeout 20 docker ps -q --filter "label=autochain.node=$1" 2>/dev/null)" ] && { echo "$e"; return 0; }; done; return 1; }
engine_index() { local i; for i in $(seq 1 "$LAB_HOSTS"); do [ "${ENGINES[$((i - 1))]}" = "$1" ] && { echo "$i"; return 0; }; done; return 1; }
# service_engine NAME: the engine running a container of the stack's service NAME
service_engine() { local e; for e in "${ENGINES[@]}"; do
    [ -n "$(DOCKER_HOST=unix://$e timeout 20 docker ps -q --filter "label=com.docker.swarm.service.name=$1" 2>/dev/null)" ] && { echo "$e"; return 0; }; done; return 1; }
in_node() { local n=$1 e c pid; shift; e=$(engine_of "$n") || return 1; c=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n" | head -1)
  pid=$(DOCKER_HOST=unix://$e docker inspect -f '{{.State.Pid}}' "$c") || return 1; nsenter -t "$pid" -n "$@"; }
node_get() { in_node "$1" curl -s -m 5 "http://127.0.0.1:8080$2"; }
# the lab address of the host running the stack service's task (its ports are published there)
host_addr_of_task() { local task host; task=$(docker service ps "$1" --filter desired-state=running -q 2>/dev/null | head -1)
  [ -n "$task" ] && host=$(docker inspect --format '{{.NodeID}}' "$task" 2>/dev/null) && docker node inspect --format '{{.Status.Addr}}' "$host"; }
find_registry() { local a; a=$(host_addr_of_task autochain-swarm_registry) && [ -n "$a" ] && REG=http://$a:9090 && curl -s -m 3 "$REG/status" >/dev/null; }
find_gateway() { local a; a=$(host_addr_of_task autochain-swarm_gateway) && [ -n "$a" ] && GW=http://$a:8080 && curl -s -m 3 "$GW/health/live" >/dev/null; }
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
all_voting() { local n; for n in $(nodes); do voting "$n" || return 1; done; }
three_voters() { reg status | jq -e '(.voters | length) == 3 and .leader != null' >/dev/null; }
# transfer [NODE]: 1000 units to ALICE, through the gateway, or through NODE's own API (inside its
# namespace; a follower forwards it to the leader); the hash is kept when it committed
transfer() {
  local out
  if [ -n "${1:-}" ]; then
    out=$(in_node "$1" timeout 30 "$BIN" transfer --node http://127.0.0.1:8080 --key "$WORK/dev.key" --to $ALICE --amount 1000 --wait 2>/dev/null) || return 1
  else
    out=$(timeout 30 "$BIN" transfer --node "$GW" --key "$WORK/dev.key" --to $ALICE --amount 1000 --wait 2>/dev/null) || return 1
  fi
  case "$out" in *committed*) echo "${out%% *}" >> "$TXS"; return 0;; esac; return 1
}
# members_on ENGINE: the members whose containers run on that engine
members_on() { local n; for n in $(nodes); do [ "$(engine_of "$n")" = "$1" ] && echo "$n"; done; }
one_head() { local n h heads=""; for n in $(nodes); do h=$(node_get "$n" /chain/head | jq -r '.head.hash') || return 1; heads="$heads $h"; done
  [ "$(echo $heads | tr ' ' '\n' | sort -u | wc -l)" = 1 ] && [ "$(echo $heads | wc -w)" -ge 3 ]; }
all_txs_everywhere() { local n h got want; want=$(wc -l < "$TXS"); [ "$want" -gt 0 ] || return 1
  for n in $(nodes); do got=0; for h in $(cat "$TXS"); do
      [ "$(node_get "$n" "/tx/$h" | jq -r '.status')" = committed ] && got=$((got + 1)); done
    [ "$got" = "$want" ] || { echo "  $n has $got of the $want" >&2; return 1; }; done; }
swarm_leader_index() { local id e; id=$(docker node ls --filter role=manager --format '{{.ID}} {{.ManagerStatus}}' | awk '$2 == "Leader" { print $1 }')
  for e in "${ENGINES[@]}"; do [ "$(DOCKER_HOST=unix://$e docker info --format '{{.Swarm.NodeID}}' 2>/dev/null)" = "$id" ] && { engine_index "$e"; return 0; }; done; return 1; }
hosts_ready() { [ "$(docker node ls --format '{{.Status}}' 2>/dev/null | grep -c Ready)" = "$LAB_HOSTS" ]; }

# task_running NODE: Swarm shows its task Running (a task with a health check stays Starting
# until its first check passes, 5 s after its container started)
task_running() { docker service ps "autochain-swarm-$1" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null | grep -q '^Running'; }

# kill_and_time NODE: once Swarm shows its task Running, kills its container, waits for a new one
# on the same host and for it to vote; prints both times and sets KILL_NEW_S, KILL_VOTING_S
kill_and_time() {
  local n=$1 e old t0 t1
  wait_for 120 task_running "$n" || { echo "  $n's task is not Running in Swarm's view after 120 s" >&2; return 1; }
  e=$(engine_of "$n") || return 1; old=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n")
  t0=$(now); DOCKER_HOST=unix://$e docker kill "$old" >/dev/null || return 1
  replaced() { local c; c=$(DOCKER_HOST=unix://$e docker ps -q --filter "label=autochain.node=$n"); [ -n "$c" ] && [ "$c" != "$old" ]; }
  WAIT_STEP_S=0.2 wait_for 120 replaced || { echo "  no new container of $n within 120 s" >&2; return 1; }
  t1=$(now)
  WAIT_STEP_S=0.2 wait_for 120 voting "$n" || { echo "  $n not voting within 120 s of the kill" >&2; return 1; }
  KILL_NEW_S=$(secs "$t0" "$t1"); KILL_VOTING_S=$(secs "$t0" "$(now)")
  [ "$(engine_of "$n")" = "$e" ] || { echo "  $n came back on another host" >&2; return 1; }
  echo "  $n: new container $KILL_NEW_S s after the kill, voting again after $KILL_VOTING_S s, same host"
}

# cut_victim: a host to cut off: exactly one member on it and not the registry's host (a registry
# cut off with its host is scenario 5's host loss); the swarm's leading manager only when no other
# host qualifies (its loss adds a manager election to the detection), the spare worker first.
# Prints "INDEX NODE ROLE" (ROLE: worker, manager or leader: the host's part in the swarm).
cut_victim() {
  local re lead i e m pass role
  re=$(service_engine autochain-swarm_registry); lead=$(swarm_leader_index)
  for pass in 1 2; do
    for i in $(seq "$LAB_HOSTS" -1 1); do
      e=${ENGINES[$((i - 1))]}
      [ "$e" = "$re" ] && continue
      [ "$pass" = 1 ] && [ "$i" = "$lead" ] && continue
      m=$(members_on "$e")
      role=worker; [ "$i" -le "$LAB_MANAGERS" ] && role=manager; [ "$i" = "$lead" ] && role=leader
      [ "$(echo "$m" | grep -c .)" = 1 ] && { echo "$i $m $role"; return 0; }
    done
  done; return 1; }

# spread: no two members on one host (one node per host while the hosts allow; the lab has more
# hosts than members, even when the registry runs a fourth node for a while)
spread() { local n hosts="" count=0; for n in $(nodes); do hosts="$hosts $(engine_of "$n")"; count=$((count + 1)); done
  [ "$count" -ge 3 ] && [ "$(echo $hosts | tr ' ' '\n' | sort -u | wc -l)" = "$count" ]; }

# replaced_without NODE: three voters, NODE not among them, a leader, and every voter voting
replaced_without() { reg status | jq -e --arg n "$1" '(.voters | length) == 3 and (.voters | index($n)) == null and .leader != null' >/dev/null && all_voting; }
