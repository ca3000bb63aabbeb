#!/usr/bin/env bash
# autochain on Docker Swarm (deploy/swarm/stack.yml), what `make up-swarm` / `make down-swarm` run.
#
#   scripts/swarm-up.sh up      swarm (a one-host swarm initialised when the engine is in none),
#                               image, credential secret, overlay network, stack; waits (bounded)
#                               until the registry reports a leader, quorum and 3 nodes alive
#   scripts/swarm-up.sh down    the stack, then the node services the registry created, the
#                               network and the secret; node volumes stay (WIPE=1 deletes the
#                               ones on this engine's host); leaves the swarm if `up` made it
#   scripts/swarm-up.sh status  the registry's view
#
# The engine is the one `docker` talks to: DOCKER_HOST picks another (the swarm lab's:
# `eval $(scripts/swarm-lab.sh env 1)`). Env: STACK (default autochain-swarm), WAIT_S (default 180),
# IMAGE (default autochain:latest), REGISTRY_PORT / GATEWAY_PORT (published on the host that runs
# each, default 9090 / 8080), DOCKER_SOCKET_HOST (the engine socket's path on whichever manager
# runs the registry; default DOCKER_HOST's path, else /var/run/docker.sock; the swarm lab's is
# /run/acswarm-here/docker.sock, the same path naming each lab host's own engine).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/docker/lib.sh
STACK=${STACK:-autochain-swarm}
CLUSTER=autochain-swarm
NETWORK=autochain-swarm
SECRET=autochain-credential
IMAGE=${IMAGE:-autochain:latest}
export AUTOCHAIN_IMAGE=$IMAGE REGISTRY_PORT=${REGISTRY_PORT:-9090} GATEWAY_PORT=${GATEWAY_PORT:-8080}
MADE_MARK=.build-docker/swarm-initialised-by-up.$(echo "${DOCKER_HOST:-default}" | tr -c 'a-zA-Z0-9\n' _)

engine_socket() { case "${DOCKER_HOST:-}" in unix://*) echo "${DOCKER_HOST#unix://}" ;; *) echo /var/run/docker.sock ;; esac; }

# The address of the host running the registry's task (its published port is there).
registry_url() {
  local task host addr
  task=$(docker service ps "${STACK}_registry" --filter desired-state=running -q 2>/dev/null | head -1)
  host=$([ -n "$task" ] && docker inspect --format '{{.NodeID}}' "$task" 2>/dev/null) || return 1
  addr=$(docker node inspect --format '{{.Status.Addr}}' "$host" 2>/dev/null) || return 1
  [ -n "$addr" ] || return 1
  [ "$addr" = 0.0.0.0 ] && addr=127.0.0.1
  echo "http://$addr:$REGISTRY_PORT"
}

healthy_now() {
  local reg st
  reg=$(registry_url) || { echo "  registry: no running task"; return 1; }
  st=$(curl -s -m 3 "$reg/status") || { echo "  registry: no answer at $reg"; return 1; }
  echo "$st" | jq -r --arg r "$reg" '"  registry \($r): leader \(.leader // "-"), quorum \(.quorum), \(.aliveNodes) nodes alive, voters \(.voters | join(","))"'
  echo "$st" | jq -e '.quorum == "ok" and .leader != null and .aliveNodes >= 3 and (.voters | length) >= 3' >/dev/null || return 1
  [ "$(echo "$st" | jq -r '[.nodes[] | select(.state == "alive") | .height] | unique | length')" = 1 ] || { echo "  nodes on different heights"; return 1; }
}

esp_available() {
  local probe=acswarmesp$$ rc=0
  ip netns add "$probe" 2>/dev/null || return 1
  ip -n "$probe" xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 reqid 1 mode transport \
    aead 'rfc4106(gcm(aes))' 0x0123456789abcdef0123456789abcdef01234567 128 >/dev/null 2>&1 || rc=1
  ip netns del "$probe"
  return $rc
}

up() {
  ensure_docker || exit 1
  for t in curl jq; do command -v $t >/dev/null || { log "$t is required"; exit 1; }; done
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    log "the engine is in no swarm: initialising a one-host swarm (advertised on 127.0.0.1)"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || exit 1
    mkdir -p .build-docker && : > "$MADE_MARK"
  fi
  [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] || { log "this engine is a swarm worker: run on a manager"; exit 1; }
  docker image inspect "$IMAGE" >/dev/null 2>&1 || scripts/docker/build-image.sh || exit 1
  if [ "$(docker node ls -q | wc -l)" -gt 1 ]; then
    log "several hosts: each needs $IMAGE loaded (docker save $IMAGE | ssh HOST docker load), or a registry to pull from"
  fi
  ensure_credential || exit 1
  docker secret inspect "$SECRET" >/dev/null 2>&1 \
    || printf '%s' "$AUTOCHAIN_CLUSTER_TOKEN" | docker secret create --label autochain.cluster=$CLUSTER "$SECRET" - >/dev/null || exit 1
  if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
    local opts=()
    if esp_available; then opts=(--opt encrypted); log "overlay network $NETWORK: encrypted (IPsec ESP)"
    else log "overlay network $NETWORK: NOT encrypted (this kernel has no IPsec ESP); the nodes' P2P channel is sealed, REST and registry calls between hosts are not"; fi
    docker network create -d overlay --attachable "${opts[@]}" --label autochain.cluster=$CLUSTER "$NETWORK" >/dev/null || exit 1
  fi
  DOCKER_SOCKET_HOST=${DOCKER_SOCKET_HOST:-$(engine_socket)} docker stack deploy -c deploy/swarm/stack.yml "$STACK" >/dev/null || exit 1
  local end=$(($(date +%s) + ${WAIT_S:-180}))
  until healthy_now >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && { log "not healthy within ${WAIT_S:-180} s:"; healthy_now; exit 1; }
    sleep 1
  done
  log "stack $STACK up: registry $(registry_url) (dashboard at /), gateway on port $GATEWAY_PORT of the host running it"
  healthy_now || true
}

down() {
  docker info >/dev/null 2>&1 || { log "no Docker engine answers"; exit 1; }
  docker stack rm "$STACK" >/dev/null 2>&1
  local s i
  # The registry is gone first, so nothing restarts the nodes while they are removed.
  for i in $(seq 1 60); do [ -z "$(docker service ls -q --filter "name=${STACK}_")" ] && break; sleep 0.5; done
  for s in $(docker service ls -q --filter "label=autochain.cluster=$CLUSTER"); do docker service rm "$s" >/dev/null; done
  for i in $(seq 1 120); do
    [ -z "$(docker ps -aq --filter "label=autochain.cluster=$CLUSTER")" ] && break; sleep 0.5
  done
  for i in $(seq 1 20); do docker network rm "$NETWORK" >/dev/null 2>&1 && break; docker network inspect "$NETWORK" >/dev/null 2>&1 || break; sleep 0.5; done
  docker secret rm "$SECRET" >/dev/null 2>&1
  if [ "${WIPE:-0}" = 1 ]; then
    for s in $(docker volume ls -q --filter "label=autochain.cluster=$CLUSTER"); do docker volume rm "$s" >/dev/null; done
    log "node volumes on this host deleted (other hosts keep theirs: docker volume ls --filter label=autochain.cluster=$CLUSTER)"
  fi
  if [ -f "$MADE_MARK" ]; then docker swarm leave --force >/dev/null && log "left the one-host swarm that up made"; rm -f "$MADE_MARK"; fi
  log "stack $STACK down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) healthy_now ;;
  *) echo "usage: $0 up|down|status" >&2; exit 64 ;;
esac
