#!/usr/bin/env bash
# What the encrypted peer channel costs: the same commit built twice and measured in one run with
# scripts/bench/cluster.sh (3-node peak tx/s, p99 at half the peak, failover, catch-up of an empty
# node).
#
#   sealed:    swift build -c release                         (what ships)
#   plaintext: swift build -c release --build-path .build-plaintext \
#                -Xswiftc -DAUTOCHAIN_BENCH_PLAINTEXT_FRAMES  (message frames not encrypted; the
#              handshake is the same; the node logs an UNSAFE warning at start)
#
# The two binaries run alternately, sealed, plaintext, plaintext, sealed (ROUNDS=2 by default), so
# a drift in the machine's load falls on both. Each round is one cluster.sh run with its own
# medians; this script prints the medians over all rounds of each binary side by side and writes
# them to .build/bench/channel-cost/table.md.
#
# Environment: ROUNDS=2  PHASES=abcd  RUNS=3  FAILOVERS=5  CATCHUP_TXS=200000  CATCHUP_RUNS=1
# (passed on to cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

readonly OUT=.build/bench/channel-cost
ROUNDS=${ROUNDS:-2}
export PHASES=${PHASES:-abcd} RUNS=${RUNS:-3} FAILOVERS=${FAILOVERS:-5}
export CATCHUP_TXS=${CATCHUP_TXS:-200000} CATCHUP_RUNS=${CATCHUP_RUNS:-1}
mkdir -p "$OUT"

log "building the sealed (shipped) and the plaintext benchmark binary of $(git rev-parse --short HEAD)"
swift build -c release --product autochain >/dev/null
swift build -c release --product autochain --build-path .build-plaintext -Xswiftc -DAUTOCHAIN_BENCH_PLAINTEXT_FRAMES >/dev/null
SEALED=$(realpath .build/release/autochain)
PLAIN=$(realpath .build-plaintext/release/autochain)

run() { # run NAME BINARY ROUND
    log "round $3: $1"
    AUTOCHAIN_BIN=$2 scripts/bench/cluster.sh > "$OUT/$1-$3.md"
    cp .build/bench/cluster/summary.json "$OUT/$1-$3.json"
}
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then run sealed "$SEALED" "$round"; run plaintext "$PLAIN" "$round"
    else run plaintext "$PLAIN" "$round"; run sealed "$SEALED" "$round"; fi
done

python3 - "$OUT" "$ROUNDS" <<'EOF' | tee "$OUT/table.md"
import json, sys, statistics as st
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    return [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
def pick(s, prefix):
    return next((v for k, v in s["medians"].items() if k.startswith(prefix)), None)
def collect(runs):
    peak = [pick(s, "(a) peak committed") for s in runs]
    p99 = [pick(s, "(b) paced latency p99") for s in runs]
    fo = [f["commitResumedS"] for s in runs for f in s.get("failover", [])]
    cu = [s.get("catchup", {}).get("transfersPerSecond") for s in runs]
    clean = lambda v: [x for x in v if isinstance(x, (int, float))]
    return {k: clean(v) for k, v in {"peak": peak, "p99": p99, "failover": fo, "catchup": cu}.items()}
sealed, plain = collect(load("sealed")), collect(load("plaintext"))
med = lambda v: st.median(v) if v else float("nan")
rows = [("(a) peak committed tx/s, median of the rounds' medians", "peak", "{:,.0f}"),
        ("(b) p99 submit-to-commit at half the peak (ms)", "p99", "{:.1f}"),
        ("(c) failover, kill -9 leader -> commit resumes (s), median of all kills", "failover", "{:.2f}"),
        ("(d) catch-up of an empty node (transfers/s)", "catchup", "{:,.0f}")]
print(f"\n| measurement | plaintext frames | sealed frames (shipped) | sealed / plaintext |")
print("|---|---:|---:|---:|")
for label, key, fmt in rows:
    a, b = med(plain[key]), med(sealed[key])
    print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {b / a:.2f} |")
print("\nRuns, plaintext: " + "; ".join(f"{k} {plain[k]}" for k in plain))
print("Runs, sealed: " + "; ".join(f"{k} {sealed[k]}" for k in sealed))
EOF
