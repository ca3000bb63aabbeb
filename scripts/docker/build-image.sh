#!/usr/bin/env bash
# Builds the autochain image without pulling anything from a registry:
#   1. the release binary, statically linked against the Swift runtime;
#   2. a base image made from this machine's own copies of exactly the shared libraries `ldd`
#      names (libc, libsqlite3, libsodium, libstdc++, ...) plus a minimal /etc, `docker import`ed
#      as autochain-base:<hash of those libraries> — rebuilt only when that list or a library
#      changes (a Debian security update, say);
#   3. the top-level Dockerfile FROM that base: the binary, a non-root user, /data, HEALTHCHECK.
# Idempotent; with only the binary changed step 3 takes a few seconds.
#
# Env: IMAGE (default autochain:latest), AUTOCHAIN_BIN (use this binary, skip `swift build`),
#      SKIP_SWIFT_BUILD=1 (use .build-docker/release/autochain as it is).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/docker/lib.sh
IMAGE=${IMAGE:-autochain:latest}
BASE_REPO=autochain-base
BASE_VERSION=1   # bump when the rootfs layout below changes
UID_GID=10001

ensure_docker || { log "no Docker engine: cannot build $IMAGE"; exit 1; }
t0=$(date +%s.%N)

# 1. the binary
if [ -n "${AUTOCHAIN_BIN:-}" ]; then
  BIN=$AUTOCHAIN_BIN
else
  # Its own scratch path: `make release` (no static stdlib) and this never rebuild each other's work.
  SCRATCH=.build-docker
  BIN=$SCRATCH/release/autochain
  if [ "${SKIP_SWIFT_BUILD:-0}" != 1 ]; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
    log "swift build -c release --product autochain --static-swift-stdlib --scratch-path $SCRATCH"
    # Foundation's static library references mktemp; the linker's warning about it is expected.
    # Swift 6.3's loop-invariant-code-motion pass spins for many minutes (escape analysis) on the
    # NodeMain module at -O; without it the build takes its usual minute and a half.
    # The product only: the simulation test-support target imports modules @testable, which a
    # release build of every target refuses (and the image needs nothing else).
    # The filters never fail the pipeline (pipefail): an up-to-date build prints nothing they
    # keep, and a second `make test` in the same clone then stopped here without a word.
    if ! swift build -c release --product autochain --static-swift-stdlib --scratch-path "$SCRATCH" \
        -Xswiftc -Xllvm -Xswiftc -sil-disable-pass=loop-invariant-code-motion 2>&1 \
        | { grep -v "the use of \`mktemp' is dangerous" || true; } | { grep -E 'error|warning|Compiling|complete' || true; } | tail -5 >&2; then
      log "swift build failed"; exit 1
    fi
  fi
fi
[ -x "$BIN" ] || { log "no binary at $BIN"; exit 1; }
t1=$(date +%s.%N)

# 2. the base: the binary's shared libraries, their loader, a minimal /etc
mapfile -t LIBS < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[ "${#LIBS[@]}" -gt 0 ] || { log "ldd names no libraries for $BIN (static binary?)"; exit 1; }
HASH=$( { echo "v$BASE_VERSION uid $UID_GID"; for l in "${LIBS[@]}"; do echo "$l $(sha256sum < "$(readlink -f "$l")" | cut -c1-64)"; done; } | sha256sum | cut -c1-16)
BASE=$BASE_REPO:$HASH
if docker image inspect "$BASE" >/dev/null 2>&1; then
  log "base $BASE cached"
else
  log "making base $BASE from: ${LIBS[*]}"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  for l in "${LIBS[@]}"; do
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
  done
  mkdir -p "$root/etc" "$root/tmp" "$root/data" "$root/usr/local/bin"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nautochain:x:%s:%s:autochain:/data:/sbin/nologin\n' $UID_GID $UID_GID > "$root/etc/passwd"
  printf 'root:x:0:\nautochain:x:%s:\n' $UID_GID > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  : > "$root/etc/hosts"; : > "$root/etc/resolv.conf"
  chown -R $UID_GID:$UID_GID "$root/data"
  tar -C "$root" --numeric-owner -c . | docker import \
      -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      -m "autochain base: $(printf '%s ' "${LIBS[@]}")" - "$BASE" >/dev/null
  docker tag "$BASE" $BASE_REPO:latest
  rm -rf "$root"; trap - EXIT
fi
t2=$(date +%s.%N)

# 3. the image: a two-file build context (Dockerfile, binary) so nothing else is sent
ctx=.build-docker/context
mkdir -p "$ctx"
cp Dockerfile "$ctx/Dockerfile"
# Stripped (symbols only; Swift's reflection metadata stays): a third smaller. Skipped when unchanged.
if [ ! -f "$ctx/autochain.src" ] || ! cmp -s "$BIN" "$ctx/autochain.src"; then
  cp "$BIN" "$ctx/autochain.src"
  cp "$BIN" "$ctx/autochain.tmp"
  if command -v strip >/dev/null; then strip --strip-unneeded "$ctx/autochain.tmp"; fi
  mv "$ctx/autochain.tmp" "$ctx/autochain"
fi
printf 'autochain.src\nautochain.tmp\n' > "$ctx/.dockerignore"
DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$BASE" -t "$IMAGE" "$ctx" >/dev/null 2> >(grep -v -i 'deprecated\|legacy builder\|buildx\|buildkit\|environment-variable\|^ *$' >&2)
t3=$(date +%s.%N)
size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
log "$(awk -v i="$IMAGE" -v s="$size" -v b="$BASE" -v a="$t0" -v c="$t1" -v d="$t2" -v e="$t3" \
  'BEGIN { printf "image %s ready: %d MB (base %s); binary %.1fs, base %.1fs, image %.1fs", i, s / 1000000, b, c - a, d - c, e - d }')"
