# Shared by scripts/docker/*.sh and scripts/test-compose.sh (sourced, not run).
# ensure_docker: installs Debian's docker.io (and docker-compose, debootstrap) when missing, starts
# dockerd when no engine answers, and waits (bounded) for `docker info`. Returns 1 when no engine
# can be had (no root, no apt, dockerd refuses to start) so callers can skip cleanly.

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  local missing=""
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing="$missing docker-compose"
  if [ -n "$missing" ]; then
    log "installing:$missing"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 \
      || { as_root apt-get update -qq >/dev/null 2>&1 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1; } \
      || { log "cannot install$missing"; return 1; }
  fi
  command -v docker >/dev/null 2>&1 || { log "no docker client"; return 1; }
  if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null 2>&1 || { log "no dockerd"; return 1; }
    if ! pgrep -x dockerd >/dev/null 2>&1; then
      log "starting dockerd (log: /var/log/dockerd.log)"
      as_root sh -c 'nohup dockerd > /var/log/dockerd.log 2>&1 &' || { log "cannot start dockerd (not root?)"; return 1; }
    fi
    local i
    for i in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { log "dockerd did not come up in 30 s; tail of /var/log/dockerd.log:"; tail -5 /var/log/dockerd.log >&2 2>/dev/null; return 1; }
  fi
  return 0
}

# compose: `docker compose` (v2) when present, else docker-compose 1.29.
compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
