#!/usr/bin/env bash
# Keeps docs/openapi.yaml and a real node honest with each other.
#
#   1. builds the node (debug) unless AUTOCHAIN_BIN names a binary;
#   2. makes a cached Python venv under .build/venv with pinned schemathesis and PyNaCl;
#   3. starts a fresh single node (temporary data dir, free ports) and waits for /health/ready;
#   4. runs scripts/check-pynacl-client.py: an independent Python client of docs/PROTOCOL.md signs
#      a transfer from the development key, submits it with ?wait=commit, checks the balance;
#      then scripts/check-pynacl-peer.py: an independent Python peer recomputes the secure
#      channel's test vectors and completes a real handshake and ping/pong on the peer port;
#   5. runs schemathesis against docs/openapi.yaml, twice: once with generated inputs for every
#      operation, once for the lookups with identifiers that exist (the committed tx and its
#      block), so the 200 answers of GET /tx/{hash} and GET /block/hash/{hash} are checked too;
#   6. runs `promtool check metrics` on GET /metrics when promtool is installed;
#   7. stops the node (by its PID) and exits non-zero if any step failed.
#
# Environment:
#   EXAMPLES=100         schemathesis examples per operation (bounds the run: ~1 min at 100)
#   SEED=<n>             schemathesis seed (default: random, printed so a failure can be replayed)
#   AUTOCHAIN_BIN=path   use this binary instead of building .build/debug/autochain
#   INSTALL_MISSING=1    apt-get install what is missing (python3-venv, prometheus for promtool);
#                        also done when CI is set
#   PROMTOOL_LINT=warn   report promtool lint problems (exit 3) without failing; default: fail
#   KEEP_TMP=1           keep the node's data dir and log
# Reports (JUnit XML, node log on failure) land in .build/conformance/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly SCHEMATHESIS_VERSION=4.32.5
readonly PYNACL_VERSION=1.6.2
readonly VENV=.build/venv
readonly OUT=.build/conformance
readonly READY_WAIT_S=30
readonly SCHEMATHESIS_TIMEOUT_S=240   # hard stop for one schemathesis pass
EXAMPLES=${EXAMPLES:-100}
SEED=${SEED:-$RANDOM$RANDOM}
want_install() { [ -n "${CI:-}" ] || [ "${INSTALL_MISSING:-0}" = 1 ]; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
. scripts/install-prometheus.sh

log() { printf '\n==> %s\n' "$*"; }
failures=()
fail() { failures+=("$1"); printf 'FAILED: %s\n' "$1"; }

# ---- build and venv -------------------------------------------------------------------------
if [ -z "${AUTOCHAIN_BIN:-}" ]; then
    log "swift build (debug)"
    swift build >/dev/null
    AUTOCHAIN_BIN=.build/debug/autochain
fi
[ -x "$AUTOCHAIN_BIN" ] || { echo "no autochain binary at $AUTOCHAIN_BIN"; exit 1; }

stamp="schemathesis==$SCHEMATHESIS_VERSION pynacl==$PYNACL_VERSION"
if [ "$(cat "$VENV/.autochain-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "python venv at $VENV ($stamp)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then   # Debian's python3 needs python3-venv for this
        rm -rf "$VENV"
        if ! want_install; then
            echo "python3 cannot make a venv: install python3-venv (or run with INSTALL_MISSING=1)"; exit 1
        fi
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" "pynacl==$PYNACL_VERSION"
    echo "$stamp" > "$VENV/.autochain-stamp"
fi
PY="$VENV/bin/python"

# ---- a fresh node ---------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autochain-conformance.XXXXXX")
node_pid=""
stop_node() {
    [ -n "$node_pid" ] || return 0
    kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
    node_pid=""
}
cleanup() {
    stop_node
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
p2p_port=$(free_port)
url="http://127.0.0.1:$api_port"
mkdir -p "$OUT"

log "node on $url (data $tmp/data)"
# A cluster token, as a production node has: membership calls without it must get 401 (and the
# fuzzer must not be able to change who votes on the node under test).
credential="conformance-credential-$RANDOM$RANDOM"
AUTOCHAIN_CLUSTER_TOKEN="$credential" \
"$AUTOCHAIN_BIN" node --data-dir "$tmp/data" --api-addr "127.0.0.1:$api_port" \
    --p2p-addr "127.0.0.1:$p2p_port" --log-level warn >"$tmp/node.log" 2>&1 &
node_pid=$!
ready=""
for _ in $(seq $((READY_WAIT_S * 10))); do
    if curl -fsS --max-time 2 "$url/health/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "node not ready within ${READY_WAIT_S}s; its log:"; cat "$tmp/node.log"; exit 1
fi

# ---- an independent client of docs/PROTOCOL.md ----------------------------------------------
log "PyNaCl client (scripts/check-pynacl-client.py)"
tx_hash=""
if client_out=$("$PY" scripts/check-pynacl-client.py "$url"); then
    echo "$client_out"
    tx_hash=$(tail -n 1 <<<"$client_out")
else
    echo "$client_out"; fail "PyNaCl client"
fi

# ---- an independent peer of docs/PROTOCOL.md ------------------------------------------------
log "PyNaCl peer (scripts/check-pynacl-peer.py): channel test vectors, then a handshake and ping/pong"
"$PY" scripts/check-pynacl-peer.py "$url" "127.0.0.1:$p2p_port" "$credential" || fail "PyNaCl peer"

# ---- schemathesis ---------------------------------------------------------------------------
# Workers stay at 1: with threads, CPython 3.11's ast module can fail inside hypothesis
# ("AST constructor recursion depth mismatch"), an error of the tool, not of the node.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
run_schemathesis() {  # name, [config file], extra `run` args...
    local name=$1 config=${2:-}; shift 2 || shift
    local global=(); [ -n "$config" ] && global=(--config-file "$config")
    log "schemathesis $SCHEMATHESIS_VERSION: $name (examples $EXAMPLES, seed $SEED)"
    # From $OUT, so schemathesis keeps its .schemathesis/ cache under .build, not in the work tree.
    (cd "$OUT" && timeout --kill-after=10 "$SCHEMATHESIS_TIMEOUT_S" "$repo/$VENV/bin/schemathesis" "${global[@]}" \
        run "$repo/docs/openapi.yaml" "$@" \
        --url "$url" --checks "$checks" --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
        --request-timeout 10 --no-color --generation-database none \
        --report junit --report-junit-path "schemathesis-$name.xml") \
        || fail "schemathesis $name (replay: SEED=$SEED EXAMPLES=$EXAMPLES $0)"
}
run_schemathesis generated

if [ -n "$tx_hash" ]; then
    height=$(curl -fsS --max-time 5 "$url/tx/$tx_hash" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["height"])')
    block_hash=$(curl -fsS --max-time 5 "$url/block/$height" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["block"]["hash"])')
    cat >"$tmp/schemathesis.toml" <<EOF
[[operations]]
include-name = "GET /tx/{hash}"
parameters = { "path.hash" = "$tx_hash" }

[[operations]]
include-name = "GET /block/hash/{hash}"
parameters = { "path.hash" = "$block_hash" }

[[operations]]
include-name = "GET /block/{height}"
parameters = { "path.height" = $height }
EOF
    run_schemathesis existing "$tmp/schemathesis.toml" --include-path-regex '^/(tx|block)/'
else
    echo "skipping the pass with existing identifiers: the PyNaCl client committed nothing"
fi

# ---- Prometheus exposition ------------------------------------------------------------------
if ! command -v promtool >/dev/null && want_install; then
    log "installing promtool (Debian package prometheus; its service is kept from starting)"
    install_prometheus
fi
if command -v promtool >/dev/null; then
    log "promtool check metrics ($(promtool --version 2>&1 | head -n 1))"
    curl -fsS --max-time 5 "$url/metrics" >"$OUT/metrics.txt"
    set +e; promtool check metrics <"$OUT/metrics.txt"; rc=$?; set -e
    case "$rc" in
        0) echo "promtool: no problems" ;;
        3) if [ "${PROMTOOL_LINT:-fail}" = warn ]; then echo "promtool: lint problems above (PROMTOOL_LINT=warn)"
           else fail "promtool check metrics: lint problems (exit 3)"; fi ;;
        *) fail "promtool check metrics (exit $rc)" ;;
    esac
else
    log "promtool not installed: SKIPPING the /metrics check (apt-get install prometheus, or INSTALL_MISSING=1)"
fi

# ---- the node must have survived all of it --------------------------------------------------
if ! kill -0 "$node_pid" 2>/dev/null; then
    fail "node exited during the run"
elif ! curl -fsS --max-time 5 "$url/health/live" >/dev/null; then
    fail "node stopped answering /health/live"
fi
if grep -qiE 'level=(error|fatal)|fatal error|precondition' "$tmp/node.log"; then
    fail "node logged errors (see $OUT/node.log)"
fi
stop_node
cp "$tmp/node.log" "$OUT/node.log"

echo
if [ ${#failures[@]} -gt 0 ]; then
    printf 'API conformance: %d failure(s):\n' "${#failures[@]}"; printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "API conformance: all checks passed (schemathesis $SCHEMATHESIS_VERSION, seed $SEED)"
