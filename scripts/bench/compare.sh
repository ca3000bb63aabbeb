#!/usr/bin/env bash
# autochain 3-node cluster vs etcd 3-member cluster, on the same machine, one after the other:
# runs scripts/bench/cluster.sh and scripts/bench/etcd.sh (their environment knobs pass through)
# and prints one side-by-side table from their summaries (.build/bench/{cluster,etcd}/summary.json),
# also written to .build/bench/compare.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh

log "autochain 3-node cluster (scripts/bench/cluster.sh)"
scripts/bench/cluster.sh | tee .build/bench-cluster-table.md.tmp
log "etcd 3-member cluster (scripts/bench/etcd.sh)"
scripts/bench/etcd.sh | tee .build/bench-etcd-table.md.tmp
mv .build/bench-cluster-table.md.tmp .build/bench/cluster/table.md
mv .build/bench-etcd-table.md.tmp .build/bench/etcd/table.md

python3 - <<'EOF' | tee .build/bench/compare.md
import json, math
a = json.load(open(".build/bench/cluster/summary.json"))
e = json.load(open(".build/bench/etcd/summary.json"))
am, em = a["medians"], e["medians"]
def pick(d, prefix):
    for k, v in d.items():
        if k.startswith(prefix):
            return v
    return float("nan")
fo_a = [f["commitResumedS"] for f in a["failover"]]
fo_ac = [f["clientCommitS"] for f in a["failover"] if f["clientCommitS"] is not None]
fo_e = [f["firstPutS"] for f in e["failover"]]
med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2]) / 2
print(f"\nMachine: {a['machine']['nproc']} cores, {a['machine']['cpu']}; both clusters 3 voters on loopback, "
      "heartbeat 100 ms, election timeout 1 s; medians.\n")
print("| | autochain 3 nodes | etcd 3 members |")
print("|---|---:|---:|")
print(f"| write throughput, peak (committed/s) | {pick(am, '(a) peak committed'):.0f} tx/s (bench, batches of 500, 4 conns) "
      f"| {pick(em, '(a) puts/s'):.0f} puts/s (64 threads, 1 key per put, HTTP gateway) |")
print(f"| latency p99 (ms) | {pick(am, '(b) paced latency p99'):.0f} at half peak; {pick(am, '(a) peak latency p99'):.0f} at peak "
      f"| {pick(em, '(a) put latency p99'):.0f} at 64 threads |")
cp = [(k, v) for k, v in em.items() if k.startswith("(b) etcdctl")]
if cp:
    print(f"| etcdctl check perf | - | " + "; ".join(f"{k.split('--')[1]} {v:.0f}/s" for k, v in cp) + " |")
print(f"| failover, kill -9 leader -> next commit (s), median / max | {med(fo_a):.2f} / {max(fo_a):.2f} "
      f"| {med(fo_e):.2f} / {max(fo_e):.2f} |")
if fo_ac:
    print(f"| failover, client view: first write started after the kill commits (s), median / max | {med(fo_ac):.2f} / {max(fo_ac):.2f} "
          f"| {med(fo_e):.2f} / {max(fo_e):.2f} |")
cu = a.get("catchup", {})
v = cu.get("transfersPerSecond", float("nan"))
print(f"| catch-up of a fresh member | {'FAILED' if cu.get('failed') or (isinstance(v, float) and math.isnan(v)) else f'{v:.0f} transfers/s'} | not measured |")
EOF
