# Shared by the benchmark scripts (sourced after `cd` to the repository root).
#   log MSG...       progress on stderr
#   has PHASE        true when $PHASES names that phase letter
#   bench_binary     sets AUTOCHAIN_BIN to an absolute path: the given one, or a release build

log() { printf '==> %s\n' "$*" >&2; }

has() { case "${PHASES:-}" in *"$1"*) return 0;; esac; return 1; }

bench_binary() {
    if [ -z "${AUTOCHAIN_BIN:-}" ]; then
        log "swift build -c release (a no-op when up to date)"
        swift build -c release >/dev/null
        AUTOCHAIN_BIN=.build/release/autochain
    fi
    [ -x "$AUTOCHAIN_BIN" ] || { echo "no autochain binary at $AUTOCHAIN_BIN"; exit 1; }
    AUTOCHAIN_BIN=$(realpath "$AUTOCHAIN_BIN")
}
