#!/usr/bin/env bash
# The compose cluster for operators: what `make up-docker`, `make down`, `make logs`, `make status`
# and `make health-check` run. Installs and starts a Docker engine when none answers (Debian's
# docker.io and docker-compose, via scripts/docker/lib.sh). Every wait is bounded.
#
#   cluster.sh up        build the image (cached: seconds when nothing changed), compose up -d, wait
#                        until every container is healthy (at most WAIT_S, default 120 s)
#   cluster.sh down      stop the registry first (so it restarts nothing), then compose down and
#                        the nodes the registry created itself; volumes are kept (the chain resumes
#                        on the next `up`) unless WIPE=1, which deletes every node's volume too
#   cluster.sh logs      the last TAIL (default 100) lines of every container of the cluster,
#                        merged in time order; FOLLOW=1 follows the compose services (Ctrl-C ends)
#   cluster.sh status    containers with their health, and the registry's view (leader, quorum,
#                        nodes with role and height)
#   cluster.sh health    exit 0 when the registry and every node container report healthy, the
#                        quorum is ok and all nodes are on one head; waits up to WAIT_S (default 60 s)
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/docker/lib.sh
CLUSTER=autochain
REG=http://127.0.0.1:${REGISTRY_PORT:-9090}
WAIT_S=${WAIT_S:-}

ensure_docker || { log "no Docker engine could be installed or started here"; exit 1; }
need() { local t; for t in "$@"; do command -v "$t" >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$t" >/dev/null 2>&1 || { log "cannot install $t"; exit 1; }; done; }
need curl jq
node_containers() { docker ps -a --filter "label=autochain.cluster=$CLUSTER" --filter label=autochain.node --format '{{.Names}}' | sort; }
all_containers() { docker ps -a --filter "label=autochain.cluster=$CLUSTER" --format '{{.Names}}' | sort; }

# healthy_now: prints one line per container and problem; true when all is well
healthy_now() {
  local c h ok=0 heads
  for c in $(all_containers); do
    h=$(docker inspect -f '{{.State.Status}}{{with .State.Health}} {{.Status}}{{end}}' "$c" 2>/dev/null)
    printf '  %-22s %s\n' "$c" "$h"
    case "$h" in "running healthy") ;; *) ok=1 ;; esac
  done
  [ -n "$(all_containers)" ] || { echo "  no autochain containers"; return 1; }
  local st; st=$(curl -s -m 3 "$REG/status") || { echo "  registry: no answer at $REG"; return 1; }
  echo "$st" | jq -r '"  registry: leader \(.leader // "-"), quorum \(.quorum), \(.aliveNodes) nodes alive, voters \(.voters | join(","))"'
  echo "$st" | jq -e '.quorum == "ok" and .leader != null' >/dev/null || ok=1
  heads=$(echo "$st" | jq -r '[.nodes[] | select(.state == "alive") | .height] | unique | length')
  [ "$heads" = 1 ] || { echo "  nodes are on $heads different heights"; ok=1; }
  return $ok
}

case "${1:-}" in
  up)
    scripts/docker/build-image.sh || exit 1
    ensure_credential || exit 1
    compose up -d || exit 1
    end=$(($(date +%s) + ${WAIT_S:-120}))
    until healthy_now >/dev/null 2>&1; do
      [ "$(date +%s)" -ge "$end" ] && { log "not healthy within ${WAIT_S:-120} s:"; healthy_now; exit 1; }
      sleep 1
    done
    healthy_now
    echo "dashboard and registry: $REG/   the cluster's REST API (gateway): http://127.0.0.1:${GATEWAY_PORT:-8080}/   nodes: http://127.0.0.1:${NODE1_PORT:-8000} ${NODE2_PORT:-8001} ${NODE3_PORT:-8002}"
    echo "cluster credential: AUTOCHAIN_CLUSTER_TOKEN in $PWD/.env — e.g. \`. ./.env; autochain scale --registry $REG --token \$AUTOCHAIN_CLUSTER_TOKEN 5\`"
    ;;
  down)
    # The registry goes first: stopping the nodes under it would look like failures to repair.
    docker stop -t 10 autochain-registry >/dev/null 2>&1
    if [ "${WIPE:-0}" = 1 ]; then compose down -v --remove-orphans -t 15; else compose down --remove-orphans -t 15; fi
    extra=$(docker ps -aq --filter "label=autochain.cluster=$CLUSTER")
    [ -z "$extra" ] || { docker stop -t 15 $extra >/dev/null; docker rm $extra >/dev/null; }
    docker network rm $CLUSTER >/dev/null 2>&1
    if [ "${WIPE:-0}" = 1 ]; then
      vols=$(docker volume ls -q --filter "label=autochain.cluster=$CLUSTER")
      [ -z "$vols" ] || docker volume rm $vols >/dev/null
      log "cluster removed, volumes deleted"
    else
      log "cluster stopped; volumes kept: $(docker volume ls -q --filter "label=autochain.cluster=$CLUSTER" | tr '\n' ' ')(WIPE=1 deletes them)"
    fi
    ;;
  logs)
    if [ "${FOLLOW:-0}" = 1 ]; then exec "$0" _follow; fi
    for c in $(all_containers); do
      docker logs -t --tail "${TAIL:-100}" "$c" 2>&1 | sed "s/^\([^ ]*\) /\1 ${c#$CLUSTER-} | /"
    done | sort -s -k1,1 | cut -d' ' -f2-
    ;;
  _follow)
    compose logs -f --tail "${TAIL:-100}"
    ;;
  status)
    docker ps -a --filter "label=autochain.cluster=$CLUSTER" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
    echo
    if st=$(curl -s -m 3 "$REG/status") && [ -n "$st" ]; then
      echo "$st" | jq -r '"leader \(.leader // "-")  quorum \(.quorum)  provider \(.provider)  voters \(.voters | join(","))  learners \(.learners | join(","))",
        (.nodes[] | "  \(.id)\t\(.state)\t\(.role)\theight \(.height)\t\(.apiUrl)")'
      echo
      curl -s -m 3 "$REG/events" | jq -r '.events[-5:][] | "  +\(.at | floor)s \(.kind) \(.node // "-"): \(.message)"'
    else
      echo "registry: no answer at $REG"
    fi
    ;;
  health)
    end=$(($(date +%s) + ${WAIT_S:-60}))
    until healthy_now >/dev/null 2>&1; do
      [ "$(date +%s)" -ge "$end" ] && { echo "UNHEALTHY:"; healthy_now; exit 1; }
      sleep 1
    done
    echo "healthy:"; healthy_now
    ;;
  *)
    echo "usage: $0 up|down|logs|status|health" >&2; exit 2 ;;
esac
