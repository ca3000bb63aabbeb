#!/usr/bin/env bash
# autochain next to the systems people would use instead, in one run, one table:
#   1. scripts/bench/single-node.sh: one node (peak, paced p99, unbatched clients, idle RSS) and
#      GET /chain/head next to Debian's nginx serving the same JSON;
#   2. scripts/bench/cluster.sh: a 3-node cluster (peak, paced p99, unbatched clients, failover
#      with kill -9, catch-up of an empty node), with the followers' default
#      (replicated_transfer_signatures = "verify"); then, TRUSTED=1 (default), its phases a, b
#      and e again on a fresh cluster whose followers trust leader-signed blocks
#      ("trust_leader_signed", docs/OPERATIONS.md), kept in .build/bench/cluster-trust/;
#   3. scripts/bench/etcd.sh: a 3-member etcd (puts/s, etcdctl check perf, failover with the
#      same client pattern: a write every ~20 ms against a survivor);
# one after the other on the same machine. Each script's environment knobs pass through
# (RUNS, FAILOVERS, CATCHUP_TXS, ...); SINGLE=0 leaves out step 1. Prints the table with each
# figure's target (issue #15), also written to .build/bench/compare.md; every script's own table
# is kept in .build/bench/{single-node,cluster,etcd}/table.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
SINGLE=${SINGLE:-1}
TRUSTED=${TRUSTED:-1}
STARTED=$(date -u +%FT%TZ)

if [ "$SINGLE" = 1 ]; then
    log "one node and nginx (scripts/bench/single-node.sh)"
    scripts/bench/single-node.sh | tee .build/bench-single-table.md.tmp
    mv .build/bench-single-table.md.tmp .build/bench/single-node/table.md
fi
rm -rf .build/bench/cluster-trust
if [ "$TRUSTED" = 1 ]; then
    log "autochain 3-node cluster, followers trusting leader-signed blocks (scripts/bench/cluster.sh, phases a b e)"
    REPLICATION_SIGNATURES=trust_leader_signed PHASES=abe FAILOVERS=0 CATCHUP_RUNS=0 scripts/bench/cluster.sh \
        | tee .build/bench-cluster-trust-table.md.tmp
    mv .build/bench/cluster .build/bench/cluster-trust
    mv .build/bench-cluster-trust-table.md.tmp .build/bench/cluster-trust/table.md
fi
log "autochain 3-node cluster (scripts/bench/cluster.sh)"
REPLICATION_SIGNATURES=verify scripts/bench/cluster.sh | tee .build/bench-cluster-table.md.tmp
log "etcd 3-member cluster (scripts/bench/etcd.sh)"
scripts/bench/etcd.sh | tee .build/bench-etcd-table.md.tmp
mv .build/bench-cluster-table.md.tmp .build/bench/cluster/table.md
mv .build/bench-etcd-table.md.tmp .build/bench/etcd/table.md

python3 - "$SINGLE" "$STARTED" "$(git rev-parse --short HEAD 2>/dev/null || echo -)" <<'EOF' | tee .build/bench/compare.md
import json, math, os, sys
single, started, commit = sys.argv[1] == "1", sys.argv[2], sys.argv[3]
a = json.load(open(".build/bench/cluster/summary.json"))
e = json.load(open(".build/bench/etcd/summary.json"))
s = json.load(open(".build/bench/single-node/summary.json")) if single else {"medians": {}}
t = json.load(open(".build/bench/cluster-trust/summary.json")) if os.path.exists(".build/bench/cluster-trust/summary.json") else None
am, em, sm = a["medians"], e["medians"], s["medians"]
nan = float("nan")
def pick(d, prefix):
    return next((v for k, v in d.items() if k.startswith(prefix)), nan)
def med(v):
    v = sorted(v)
    return nan if not v else v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
def n(x, fmt="{:,.0f}"):
    return "-" if isinstance(x, float) and math.isnan(x) else fmt.format(x)
def verdict(ok):
    return "met" if ok else "**not met**"
fo_a = [f["commitResumedS"] for f in a["failover"]]
fo_ac = [f["clientCommitS"] for f in a["failover"] if f["clientCommitS"] is not None]
fo_e = [f["firstPutS"] for f in e["failover"]]
check_l = pick(em, "(b) etcdctl check perf --load=l")
cu = a.get("catchup", {})
cu_tps = nan if cu.get("failed") else cu.get("transfersPerSecond", nan)
rows = []
if single:
    peak1, p99_1 = pick(sm, "(a) peak committed"), pick(sm, "(b) paced latency p99")
    unb1, head = pick(sm, "(e) unbatched, 64"), pick(sm, "(c) GET /chain/head")
    ngx = max(pick(sm, "(f) nginx, same JSON as a file, 1 worker"), pick(sm, "(f) nginx, same JSON as a file, workers auto"))
    share, rss = pick(sm, "(f) node's GET /chain/head as a share"), pick(sm, "(d) idle RSS")
    rows += [
        ("one node: peak committed transfers/s (batches of 500, 4 connections)", n(peak1), "-", f"≥ 25,000: {verdict(peak1 >= 25000)}"),
        ("one node: p99 submit-to-commit at half the peak (ms)", n(p99_1, "{:.0f}"), "-", f"< 50: {verdict(p99_1 < 50)}"),
        ("one node: unbatched, 64 connections, one transfer per /submit-tx (committed/s)", n(unb1), "-", f"≥ 10,000: {verdict(unb1 >= 10000)}"),
        ("one node: GET /chain/head (req/s, wrk -t2 -c64)", n(head), f"nginx, same JSON as a file: {n(ngx)} (node = {n(share, '{:.2f}')} of it)",
         f"≥ 0.5 of nginx: {verdict(share >= 0.5)}"),
        ("one node: idle RSS (MiB)", n(rss, "{:.1f}"), "-", f"< 20 MB (19.07 MiB): {verdict(rss * 1048576 < 20e6)}"),
    ]
peak3, p99_3, unb3 = pick(am, "(a) peak committed"), pick(am, "(b) paced latency p99"), pick(am, "(e) unbatched, 64")
rows += [
    ("3 nodes: peak committed/s", f"{n(peak3)} transfers/s (batches of 500, 4 connections)",
     f"{n(pick(em, '(a) puts/s'))} puts/s (64 threads, one key per put, HTTP gateway)", f"≥ 15,000: {verdict(peak3 >= 15000)}"),
    ("3 nodes: p99 latency (ms)", f"{n(p99_3, '{:.0f}')} at half the peak; {n(pick(am, '(a) peak latency p99'), '{:.0f}')} at the peak",
     f"{n(pick(em, '(a) put latency p99'), '{:.0f}')} at 64 threads", f"< 50 at half the peak: {verdict(p99_3 < 50)}"),
    ("3 nodes: unbatched, 64 connections, one transfer per request (committed/s)", n(unb3),
     f"etcdctl check perf --load=l: {n(check_l)} writes/s (autochain = {n(unb3 / check_l, '{:.1f}')}×)",
     f"≥ 2× etcd's check perf: {verdict(unb3 >= 2 * check_l)}"),
    ("3 nodes: failover, kill -9 of the leader → next commit on a survivor (s), median / max",
     f"{n(med(fo_a), '{:.2f}')} / {n(max(fo_a, default=nan), '{:.2f}')} ({len(fo_a)} kills)",
     f"{n(med(fo_e), '{:.2f}')} / {n(max(fo_e, default=nan), '{:.2f}')} ({len(fo_e)} kills; first put OK)",
     f"< 0.5 / < 1: {verdict(med(fo_a) < 0.5 and max(fo_a, default=nan) < 1)}"),
    ("3 nodes: failover, client view: first write started after the kill committed (s), median / max",
     f"{n(med(fo_ac), '{:.2f}')} / {n(max(fo_ac, default=nan), '{:.2f}')}", f"{n(med(fo_e), '{:.2f}')} / {n(max(fo_e, default=nan), '{:.2f}')}", "-"),
]
if t:
    tm = t["medians"]
    peak3t, p99_3t, unb3t = pick(tm, "(a) peak committed"), pick(tm, "(b) paced latency p99"), pick(tm, "(e) unbatched, 64")
    rows += [
        ("3 nodes, followers trusting leader-signed blocks: peak committed/s", n(peak3t), "-", f"≥ 15,000: {verdict(peak3t >= 15000)}"),
        ("3 nodes, followers trusting leader-signed blocks: p99 at half the peak (ms)", n(p99_3t, "{:.0f}"), "-",
         f"< 50: {verdict(p99_3t < 50)}"),
        ("3 nodes, followers trusting leader-signed blocks: unbatched (committed/s)", n(unb3t),
         f"etcdctl check perf --load=l: {n(check_l)} writes/s (autochain = {n(unb3t / check_l, '{:.1f}')}×)",
         f"≥ 2× etcd's check perf: {verdict(unb3t >= 2 * check_l)}"),
    ]
cu_how = next((r.get("transferSignatures") for r in cu.get("runs", []) if r.get("transferSignatures")), "verify")
rows += [
    (f"3 nodes: catch-up of an empty node (transfers/s; sync_transfer_signatures = {cu_how})",
     ("not run" if cu.get("blocksSynced", "").startswith("FAILED (chain height -") else "FAILED") if cu.get("failed") else n(cu_tps), "not measured",
     f"≥ 60,000: {verdict(cu_tps >= 60000)}"),
]
print(f"\nRun of {started} (commit {commit}); machine: {a['machine']['nproc']} cores, {a['machine']['cpu']}; "
      "release build; every cluster 3 voters on loopback, heartbeat 100 ms, election timeout 1 s; medians.\n")
print("| figure | autochain | reference, same run | target (#15) |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
