#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana against promtool, a real cluster and a real Prometheus:
#   1. promtool check config on the scrape configuration (and its rule file);
#   2. promtool test rules deploy/prometheus/tests/*.yml; every alert fires in some test, and each
#      alert's tests fail when its expression is replaced by one that never fires (they can tell);
#   3. `autochain up` (3 nodes) and a short `autochain load`: every metric the Grafana dashboard
#      and the alert rules query is exported (a # TYPE line) by a node's or the registry's /metrics;
#   4. a real Prometheus with deploy/prometheus/prometheus.yml (the registry address swapped in)
#      finds the registry and the 3 nodes through GET /discover/prometheus (instance = node ID),
#      scrapes them, evaluates every rule without error, and answers every dashboard query
#      (committed transfers/s above 0 after the load).
#
# Environment: AUTOCHAIN_BIN (default: swift build, .build/debug/autochain); INSTALL_MISSING=1 or
# CI installs the Debian package prometheus (promtool and the server) when missing; without them
# steps 1, 2 and 4 are skipped with a message (step 3 still runs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
want_install() { [ -n "${CI:-}" ] || [ "${INSTALL_MISSING:-0}" = 1 ]; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
. scripts/install-prometheus.sh
log() { printf '\n==> %s\n' "$*"; }
failures=()
fail() { failures+=("$1"); printf 'FAILED: %s\n' "$1"; }
check=scripts/observability-check.py
prom_dir=deploy/prometheus
dashboard=deploy/grafana/autochain.json

if [ -z "${AUTOCHAIN_BIN:-}" ]; then
    log "swift build (debug)"
    swift build >/dev/null
    AUTOCHAIN_BIN=.build/debug/autochain
fi
[ -x "$AUTOCHAIN_BIN" ] || { echo "no autochain binary at $AUTOCHAIN_BIN"; exit 1; }

tmp=$(mktemp -d)
up_pid=""; prom_pid=""
cleanup() {
    [ -n "$prom_pid" ] && { kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; }
    [ -n "$up_pid" ] && { kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 "$check" self-test || fail "PromQL metric-name extraction (self-test)"

# ---- 1 and 2: promtool --------------------------------------------------------------------
if ! command -v promtool >/dev/null && want_install; then
    log "installing promtool and prometheus (Debian package prometheus; its service is kept from starting)"
    install_prometheus
fi
if command -v promtool >/dev/null; then
    log "promtool check config $prom_dir/prometheus.yml ($(promtool --version 2>&1 | head -n 1))"
    promtool check config "$prom_dir/prometheus.yml" || fail "promtool check config"

    log "promtool test rules $prom_dir/tests/*.yml"
    promtool test rules "$prom_dir"/tests/*.yml || fail "promtool test rules"
    python3 "$check" coverage "$prom_dir/alerts.yml" "$prom_dir"/tests/*.yml || fail "an alert rule without a test where it fires"

    log "each alert's tests fail when its expression never fires"
    mkdir -p "$tmp/mutant/tests"
    cp "$prom_dir"/tests/*.yml "$tmp/mutant/tests/"
    alerts=$(sed -n 's/^ *- alert: \([A-Za-z0-9_]*\).*/\1/p' "$prom_dir/alerts.yml")
    for alert in $alerts; do
        python3 "$check" mutate "$prom_dir/alerts.yml" "$alert" "$tmp/mutant/alerts.yml" || { fail "mutate $alert"; continue; }
        if promtool test rules "$tmp/mutant"/tests/*.yml >/dev/null 2>&1; then
            fail "$alert: its tests still pass when it never fires"
        else
            echo "$alert: caught"
        fi
    done
else
    log "promtool not installed: SKIPPING promtool check config / test rules (apt-get install prometheus, or INSTALL_MISSING=1)"
fi

# ---- 3: the metric names, against a running cluster -------------------------------------------
reg_port=$(free_port); gw_port=$(free_port)
registry="127.0.0.1:$reg_port"
log "autochain up on $registry (3 nodes)"
"$AUTOCHAIN_BIN" up --nodes 3 --data-dir "$tmp/nodes" --addr "$registry" --gateway-addr "127.0.0.1:$gw_port" >"$tmp/up.log" 2>&1 &
up_pid=$!
ready=""
for _ in $(seq 600); do
    if curl -fsS --max-time 1 "http://$registry/status" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["voters"])==3 and d["leader"] and d["aliveNodes"]==3 else 1)' 2>/dev/null; then
        ready=1; break
    fi
    sleep 0.1
done
if [ -z "$ready" ]; then tail -30 "$tmp/up.log"; echo "FAILED: the cluster did not come up in 60 s"; exit 1; fi
node_url=$(curl -fsS "http://$registry/discover" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["apiUrl"])')

"$AUTOCHAIN_BIN" keygen --dev --out "$tmp/dev.key" 2>/dev/null >/dev/null
log "autochain load (a short script through the gateway)"
"$AUTOCHAIN_BIN" load --node "http://127.0.0.1:$gw_port" --key "$tmp/dev.key" --accounts 20 \
    --phases "ramp:0-100/3s,hold:100/3s" | tail -n 3 || fail "autochain load"

curl -fsS "http://$registry/metrics" >"$tmp/registry.metrics" || fail "GET /metrics of the registry"
curl -fsS "$node_url/metrics" >"$tmp/node.metrics" || fail "GET /metrics of a node"
log "every metric the dashboard and the alert rules query is exported"
python3 "$check" names "$dashboard" "$prom_dir/alerts.yml" "$tmp/node.metrics" "$tmp/registry.metrics" \
    || fail "the dashboard or the alert rules query metrics nobody exports"

# ---- 4: a real Prometheus scraping the cluster ------------------------------------------------
if command -v prometheus >/dev/null; then
    prom_port=$(free_port)
    prom="http://127.0.0.1:$prom_port"
    mkdir -p "$tmp/prom"
    sed "s/127\.0\.0\.1:9090/$registry/g" "$prom_dir/prometheus.yml" >"$tmp/prom/prometheus.yml"
    cp "$prom_dir/alerts.yml" "$tmp/prom/alerts.yml"
    log "prometheus on $prom, discovering the nodes through http://$registry/discover/prometheus"
    prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
        --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prom.log" 2>&1 &
    prom_pid=$!
    targets_ok=""
    for _ in $(seq 240); do  # 120 s: generous for a busy machine, Prometheus's SD refresh included
        if curl -fsS --max-time 1 "$prom/api/v1/targets" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
nodes = sorted(x["labels"].get("instance") for x in t if x["labels"]["job"] == "autochain-nodes" and x["health"] == "up")
reg = [x for x in t if x["labels"]["job"] == "autochain-registry" and x["health"] == "up"]
sys.exit(0 if nodes == ["node1", "node2", "node3"] and len(reg) == 1 else 1)' 2>/dev/null; then
            targets_ok=1; break
        fi
        sleep 0.5
    done
    if [ -n "$targets_ok" ]; then echo "targets up: the registry and node1, node2, node3"; else
        fail "Prometheus did not find and scrape the registry and node1..3 through HTTP SD"
        curl -fsS "$prom/api/v1/targets" | head -c 2000; echo; tail -20 "$tmp/prom.log"
    fi
    # Another load while Prometheus watches, so rates have samples on both sides.
    "$AUTOCHAIN_BIN" load --node "http://127.0.0.1:$gw_port" --key "$tmp/dev.key" --accounts 20 --phases "hold:100/12s" >/dev/null \
        || fail "autochain load (second run)"
    log "every rule evaluates without error, every dashboard query answers"
    rules_ok=""
    for _ in $(seq 240); do  # 120 s: several evaluation intervals even on a busy machine
        if curl -fsS "$prom/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
sys.exit(0 if rules and not bad and all(r["lastEvaluation"] > "2000" for r in rules) else 1)' 2>/dev/null; then rules_ok=1; break; fi
        sleep 0.5
    done
    [ -n "$rules_ok" ] && echo "rules: all evaluated, health ok" || { fail "alert rules not all healthy"; curl -fsS "$prom/api/v1/rules" | head -c 3000; echo; }
    python3 "$check" queries "$dashboard" "$prom_dir/alerts.yml" >"$tmp/queries.txt"
    while IFS= read -r q; do
        answer=$(curl -fsS -G "$prom/api/v1/query" --data-urlencode "query=$q" 2>&1) || { fail "query refused: $q: $answer"; continue; }
        python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["status"]=="success" else 1)' "$answer" || fail "query failed: $q"
    done <"$tmp/queries.txt"
    echo "$(wc -l <"$tmp/queries.txt") queries answered"
    tps=$(curl -fsS -G "$prom/api/v1/query" --data-urlencode 'query=max(rate(autochain_txs_committed_total{job="autochain-nodes"}[1m]))' \
        | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
    echo "committed transfers/s as Prometheus saw them: $tps"
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$tps" || fail "Prometheus saw no committed transfers"
else
    log "prometheus not installed: SKIPPING the real Prometheus check (apt-get install prometheus, or INSTALL_MISSING=1)"
fi

if [ ${#failures[@]} -gt 0 ]; then
    echo; echo "observability: ${#failures[@]} failed:"; printf '  %s\n' "${failures[@]}"
    tail -20 "$tmp/up.log"
    exit 1
fi
echo; echo "observability: all passed"
