#!/usr/bin/env bash
# A Docker Swarm of four hosts on this one machine (docs/OPERATIONS.md, "The lab: four hosts on one
# machine"): each dockerd in its own network namespace with its own data root, exec
# root, socket, pid file and --bip, the namespaces joined by a bridge; engine 1 initialises the
# swarm, 2 and 3 join as managers (so the swarm survives the loss of any one manager), 4 as a
# worker (a spare: after a host is lost, its node's replacement still finds a host of its own),
# hosts labelled zone=a/b/c/d, the dispatcher heartbeat at LAB_HEARTBEAT_S, and the project image
# loaded into each engine. The main engine is never touched.
#
# Each engine also listens on /run/<prefix>-here/docker.sock, a path private to its own mount
# namespace: the same path names the local engine on every host, as /var/run/docker.sock does
# on real hosts, so a registry Swarm moves to another manager talks to that manager.
#
#   scripts/swarm-lab.sh up       build it (idempotent: what exists is kept); prints the sockets
#   scripts/swarm-lab.sh down     stop the daemons it started (by PID), delete the namespaces,
#                                 bridge, iptables rule, data and exec roots
#   scripts/swarm-lab.sh status   daemons, swarm hosts, services
#   scripts/swarm-lab.sh env N    prints `export DOCKER_HOST=...` for engine N (and the socket
#                                 path a container on any lab host mounts)
#   scripts/swarm-lab.sh kill N   host N loses power: SIGKILL to its dockerd, containerd, shims
#                                 and containers at once (the swarm sees it go silent)
#   scripts/swarm-lab.sh start N  host N boots again: its exec root cleared (as /run is at boot),
#                                 its dockerd started; it rejoins the swarm from its data root
#
# Needs root, iproute2, iptables and docker.io (dockerd 20.10). Every wait is bounded; a failed
# `up` tears down what it made. Exit 2 (and a line starting "SKIP:") when the machine cannot
# host the lab (no root, no namespaces, no dockerd), so tests can skip.
#
# Env: LAB_PREFIX (default acswarm: names of everything made), LAB_HOSTS (default 4),
#      LAB_MANAGERS (default 3; the others join as workers), LAB_HEARTBEAT_S (default 2: Swarm's
#      dispatcher heartbeat; a host is marked down after about three missed, docs/OPERATIONS.md),
#      IMAGE (default autochain:latest; taken from the main engine when it has it, else built
#      into engine 1 by scripts/docker/build-image.sh), SKIP_IMAGE=1 (load no image).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
P=${LAB_PREFIX:-acswarm}
N=${LAB_HOSTS:-4}
MANAGERS=${LAB_MANAGERS:-3}
HEARTBEAT_S=${LAB_HEARTBEAT_S:-2}
HERE=/run/$P-here
BR=${P}-br
NET=10.99.0
IMAGE=${IMAGE:-autochain:latest}

sock() { echo "/run/$P-$1.sock"; }
ns() { echo "$P$1"; }
addr() { echo "$NET.1$1"; }
pidfile() { echo "/run/$P-$1.lab.pid"; }
dk() { local i=$1; shift; DOCKER_HOST="unix://$(sock "$i")" timeout 120 docker "$@"; }
alive() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }
skip() { echo "SKIP: $*"; exit 2; }

preflight() {
  [ "$(id -u)" = 0 ] || skip "the swarm lab needs root (network namespaces, mounts, dockerd)"
  for t in ip iptables dockerd docker; do command -v $t >/dev/null || skip "$t is missing"; done
  ip netns list >/dev/null 2>&1 || skip "no network namespaces here"
}

net_up() {
  ip link show "$BR" >/dev/null 2>&1 || { ip link add "$BR" type bridge && ip addr add "$NET.1/24" dev "$BR"; } || return 1
  ip link set "$BR" up || return 1
  local i
  for i in $(seq 1 "$N"); do
    ip netns list | grep -qw "$(ns "$i")" || ip netns add "$(ns "$i")" || return 1
    if ! ip link show "${P}v$i" >/dev/null 2>&1; then
      ip link add "${P}v$i" type veth peer name eth0 netns "$(ns "$i")" || return 1
      ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev eth0 || return 1
    fi
    ip link set "${P}v$i" master "$BR" up || return 1
    ip -n "$(ns "$i")" link set eth0 up && ip -n "$(ns "$i")" link set lo up || return 1
  done
  # Docker's own FORWARD policy (DROP) would drop traffic between the namespaces otherwise.
  iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || iptables -I FORWARD 1 -i "$BR" -o "$BR" -j ACCEPT
}

# Inside the namespace (`ip netns exec` gives it its own mount namespace and /sys): cgroup v1
# hierarchies mounted afresh (dockerd fails with "Devices cgroup isn't mounted" otherwise), then
# dockerd with everything of its own. DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: without it every task
# first waits ~20 s on a registry that cannot be reached.
engine_up() {
  local i=$1
  alive "$i" && return 0
  mkdir -p "/var/lib/$P-$i" "/run/$P-$i" "$HERE"
  ip netns exec "$(ns "$i")" sh -c '
    mount -t tmpfs here "$6" || exit 1
    mount -t tmpfs cgroup /sys/fs/cgroup || exit 1
    for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
      mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || exit 1; done
    mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
    exec dockerd --data-root "$1" --exec-root "$2" --pidfile "$2.pid" -H "unix://$3" -H "unix://$6/docker.sock" --bip "$4" --cgroup-parent "$5"' \
    sh "/var/lib/$P-$i" "/run/$P-$i" "$(sock "$i")" "172.3$i.0.1/24" "/$P-$i" "$HERE" >> "/var/log/$P-$i.log" 2>&1 &
  echo $! > "$(pidfile "$i")"
  local t
  for t in $(seq 1 120); do
    dk "$i" info >/dev/null 2>&1 && { log "engine $i up (pid $(cat "$(pidfile "$i")"), $(sock "$i"))"; return 0; }
    alive "$i" || break
    sleep 0.5
  done
  log "engine $i did not come up in 60 s; tail of /var/log/$P-$i.log:"; tail -5 "/var/log/$P-$i.log" >&2
  return 1
}

swarm_up() {
  if [ "$(dk 1 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    dk 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" >/dev/null || return 1
  fi
  # Swarm marks a host down after about three dispatcher heartbeats without a word (5 s by default).
  dk 1 swarm update --dispatcher-heartbeat "${HEARTBEAT_S}s" >/dev/null || return 1
  local token i role
  for i in $(seq 2 "$N"); do
    [ "$(dk "$i" info --format '{{.Swarm.LocalNodeState}}')" = active ] && continue
    role=manager; [ "$i" -gt "$MANAGERS" ] && role=worker
    token=$(dk 1 swarm join-token -q $role) || return 1
    dk "$i" swarm join --token "$token" --advertise-addr "$(addr "$i")" --listen-addr "$(addr "$i"):2377" "$(addr 1):2377" >/dev/null || return 1
  done
  local zones=(a b c d e f g h i)
  for i in $(seq 1 "$N"); do
    local id; id=$(dk "$i" info --format '{{.Swarm.NodeID}}') || return 1
    dk 1 node update --label-add "zone=${zones[$((i - 1))]}" "$id" >/dev/null || return 1
  done
  for i in $(seq 1 60); do
    [ "$(dk 1 node ls --format '{{.Status}}' | grep -c Ready)" = "$N" ] && return 0
    sleep 0.5
  done
  log "not every host is Ready after 30 s"; return 1
}

image_up() {
  [ "${SKIP_IMAGE:-0}" = 1 ] && return 0
  local i
  if ! dk 1 image inspect "$IMAGE" >/dev/null 2>&1; then
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
      log "loading $IMAGE from the main engine into engine 1"
      docker save "$IMAGE" | dk 1 load -q >/dev/null || return 1
    else
      log "building $IMAGE in engine 1"
      DOCKER_HOST="unix://$(sock 1)" IMAGE=$IMAGE nice -n 10 scripts/docker/build-image.sh || return 1
    fi
  fi
  local want; want=$(dk 1 image inspect "$IMAGE" --format '{{.Id}}')
  for i in $(seq 2 "$N"); do
    [ "$(dk "$i" image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null)" = "$want" ] && continue
    log "loading $IMAGE into engine $i"
    dk 1 save "$IMAGE" | dk "$i" load -q >/dev/null || return 1
  done
}

# Whether the kernel seals overlay traffic (`--opt encrypted` uses IPsec ESP with AES-GCM):
# adds and deletes one ESP state in a scratch namespace.
esp_available() {
  local probe=${P}esp rc=0
  ip netns add "$probe" 2>/dev/null || return 1
  ip -n "$probe" xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 reqid 1 mode transport \
    aead 'rfc4106(gcm(aes))' 0x0123456789abcdef0123456789abcdef01234567 128 >/dev/null 2>&1 || rc=1
  ip netns del "$probe"
  return $rc
}

up() {
  preflight
  trap 'log "lab up failed: tearing down"; down; exit 1' ERR
  set -E
  net_up || false
  for i in $(seq 1 "$N"); do engine_up "$i" || false; done
  swarm_up || false
  image_up || false
  trap - ERR
  if esp_available; then log "kernel has IPsec ESP: encrypted overlay networks work"; else
    log "kernel lacks IPsec ESP (AES-GCM): overlay networks here cannot be encrypted (--opt encrypted would drop traffic)"; fi
  log "lab up: $N engines ($MANAGERS managers) at $(for i in $(seq 1 "$N"); do printf '%s ' "$(sock "$i")"; done)"
  log "use one: export DOCKER_HOST=unix://$(sock 1)   (hosts reach each other on $NET.11-1$N;"
  log "each engine is also $HERE/docker.sock inside its own host, the socket a container mounts)"
}

# Every engine the lab has, whatever LAB_HOSTS says now (a pid file or a namespace left).
made_engines() { local i; for i in $(seq 1 9); do { [ -f "$(pidfile "$i")" ] || ip netns list | grep -qw "$(ns "$i")"; } && echo "$i"; done; }

down() {
  local i t pid
  for i in $(made_engines); do
    if alive "$i"; then
      pid=$(cat "$(pidfile "$i")")
      kill -TERM "$pid" 2>/dev/null
      for t in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { log "engine $i (pid $pid) did not stop in 30 s: SIGKILL"; kill -KILL "$pid"; }
      log "engine $i stopped"
    fi
    # Whatever still runs in the namespace was started by that engine (container processes).
    if ip netns list | grep -qw "$(ns "$i")"; then
      for pid in $(ip netns pids "$(ns "$i")" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
      ip netns del "$(ns "$i")"
    fi
    ip link del "${P}v$i" 2>/dev/null
    rm -f "$(pidfile "$i")" "$(sock "$i")"
    [ -d "/var/lib/$P-$i" ] && rm -rf --one-file-system "/var/lib/$P-$i" "/run/$P-$i" "/run/$P-$i.pid"
  done
  rmdir "$HERE" 2>/dev/null
  ip link del "$BR" 2>/dev/null
  while iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null; do iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT; done
  log "lab down"
  return 0
}

# power_off N: the engine's daemons and its containers' processes killed at once (SIGKILL), as a
# host losing power. Container processes live in network namespaces of their own, so they are
# found through the engine (their init's PID) before it dies; the rest is in the host's namespace.
power_off() {
  local i=$1 pids c
  alive "$i" || { log "engine $i is not running"; return 1; }
  pids=$(for c in $(dk "$i" ps -q); do dk "$i" inspect -f '{{.State.Pid}}' "$c"; done | grep -v '^0$')
  pids="$pids $(ip netns pids "$(ns "$i")")"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  local t; for t in $(seq 1 40); do alive "$i" || break; sleep 0.25; done
  rm -f "$(pidfile "$i")"
  log "engine $i powered off (SIGKILL to $(echo $pids | wc -w) processes)"
}

# power_on N: /run's part of the engine cleared (a boot clears /run), its dockerd started again.
power_on() {
  local i=$1
  alive "$i" && { log "engine $i is running"; return 0; }
  [ -d "/var/lib/$P-$i" ] || { log "engine $i was never made (scripts/swarm-lab.sh up)"; return 1; }
  rm -rf --one-file-system "/run/$P-$i" "/run/$P-$i.pid"; rm -f "$(sock "$i")"
  engine_up "$i"
}

status() {
  local i
  for i in $(made_engines); do
    if alive "$i"; then echo "engine $i: pid $(cat "$(pidfile "$i")"), $(sock "$i"), swarm $(dk "$i" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)"
    else echo "engine $i: not running"; fi
  done
  alive 1 || return 0
  dk 1 node ls 2>/dev/null
  dk 1 service ls 2>/dev/null
}

case "${1:-}" in
  up) up ;;
  down) [ "$(id -u)" = 0 ] || skip "needs root"; down ;;
  status) status ;;
  env) echo "export DOCKER_HOST=unix://$(sock "${2:-1}") DOCKER_SOCKET_HOST=$HERE/docker.sock" ;;
  kill) [ -n "${2:-}" ] || { echo "usage: $0 kill N" >&2; exit 64; }; power_off "$2" ;;
  start) [ -n "${2:-}" ] || { echo "usage: $0 start N" >&2; exit 64; }; power_on "$2" ;;
  *) echo "usage: $0 up|down|status|env N|kill N|start N" >&2; exit 64 ;;
esac
