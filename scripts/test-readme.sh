#!/usr/bin/env bash
# The README runs as written: every command block of README.md, then of docs/OPERATIONS.md, is run
# in order, in one bash session (variables and aliases carry over, as in a terminal), against a
# fresh cluster started the way `make up` starts it (`autochain up --nodes 3 --data-dir data/cluster
# --config config.toml`, from the built binary, in a scratch copy of the checkout's layout). The
# first command that fails stops the run, and the block and its output are printed.
#
# Blocks are the indented (4 spaces) code blocks and ```sh/```bash fences. A block that cannot run
# here (Docker, a second cluster on fixed ports, a command that runs until Ctrl-C) carries a visible
# annotation on the line before it in the document, `<!-- readme-test: skip: why -->`; it is listed
# as skipped, never dropped silently. Fences in another language (output, JSON) are not commands.
#
# Ports: the cluster takes free ports; the docs name the registry and the gateway through
# AUTOCHAIN_REGISTRY and AUTOCHAIN_GATEWAY (README, "Watch it heal"), which this sets, so the run
# never depends on 8080 and 9090 being free. Between blocks it waits (at most 60 s) until the
# cluster is whole again, as a reader waits for `make up`'s `running`/`repaired` line.
#
# Environment: AUTOCHAIN_BIN (default .build/debug/autochain); README_TEST_TIMEOUT_S (default 300)
# bounds the whole run of the blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
BIN=$(realpath "${AUTOCHAIN_BIN:-.build/debug/autochain}")
limit=${README_TEST_TIMEOUT_S:-300}
log() { printf '==> %s\n' "$*"; }

work=$(mktemp -d)
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The checkout as a reader has it after `make up` built it: the binary where make puts it.
mkdir -p "$work/.build/release" "$work/blocks"
ln -s "$BIN" "$work/.build/release/autochain"
cp config.toml "$work/"
for d in docs deploy scripts; do [ -e "$d" ] && ln -s "$repo/$d" "$work/$d"; done

# Blocks: one file per block (blocks/NNN.sh) and an index line "NNN<TAB>file:line<TAB>run|skip: why".
python3 - "$work/blocks" README.md docs/OPERATIONS.md <<'PY'
import re, sys
out, files = sys.argv[1], sys.argv[2:]
index, n = [], 0
for path in files:
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    def annotation(start):
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        m = re.match(r"\s*<!--\s*readme-test:\s*(.*?)\s*-->\s*$", lines[j]) if j >= 0 else None
        return m.group(1) if m else None
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if fence.group(1) in ("sh", "bash", "shell"):
                n += 1
                body = lines[i + 1:j]
                index.append((n, f"{path}:{i + 2}", annotation(i) or "run", body))
            i = j + 1
            continue
        if line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or (not lines[j].strip() and j + 1 < len(lines) and lines[j + 1].startswith("    "))):
                j += 1
            n += 1
            index.append((n, f"{path}:{i + 1}", annotation(i) or "run", [l[4:] for l in lines[i:j]]))
            i = j
            continue
        i += 1
with open(f"{out}/index", "w") as f:
    for n, where, what, body in index:
        open(f"{out}/{n:03d}.sh", "w").write("\n".join(body) + "\n")
        f.write(f"{n:03d}\t{where}\t{what}\n")
PY

log "autochain up (as make up does) in $work"
(cd "$work" && exec "$BIN" up --nodes 3 --data-dir data/cluster --config config.toml \
  --addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0) >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1200); do grep -q '^running:' "$work/up.log" && break; kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
grep -q '^running:' "$work/up.log" || { echo "FAILED: the cluster never said running"; tail -30 "$work/up.log"; exit 1; }
export AUTOCHAIN_REGISTRY; AUTOCHAIN_REGISTRY=$(sed -n 's#^registry and dashboard: \(http://[0-9.:]*\)/*$#\1#p' "$work/up.log" | head -1)
export AUTOCHAIN_GATEWAY; AUTOCHAIN_GATEWAY=$(sed -n 's#^gateway, one REST address for the whole cluster: ##p' "$work/up.log" | head -1)
log "registry $AUTOCHAIN_REGISTRY, gateway $AUTOCHAIN_GATEWAY"

# Whole: a leader, quorum ok, every voter alive, three times in a row half a second apart (a node
# just killed is seen dead within milliseconds; its restart takes about a second).
cat >"$work/whole.sh" <<'EOF'
whole_once() {
  curl -fsS --max-time 2 "$AUTOCHAIN_REGISTRY/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)
alive = {n["id"] for n in d["nodes"] if n["state"] == "alive"}
sys.exit(0 if d["leader"] and d["quorum"] == "ok" and len(d["voters"]) >= 3 and set(d["voters"]) <= alive else 1)'
}
wait_whole() {
  local streak=0
  for _ in $(seq 120); do
    if whole_once 2>/dev/null; then streak=$((streak + 1)); [ "$streak" -ge 3 ] && return 0; else streak=0; fi
    sleep 0.5
  done
  echo "the cluster was not whole again within 60 s" >&2; return 1
}
EOF

# One session runs every block; `current` names the block under way when it stops.
{
  echo "shopt -s expand_aliases"
  echo "source '$work/whole.sh'"
  echo "cd '$work'"
  while IFS=$'\t' read -r n where what; do
    [ "$what" = run ] || continue
    echo "echo $n >'$work/current'; wait_whole >'$work/blocks/$n.out' 2>&1 || exit 3"
    echo "set -eo pipefail; source '$work/blocks/$n.sh' >>'$work/blocks/$n.out' 2>&1; set +eo pipefail"
  done <"$work/blocks/index"
  echo "echo done >'$work/current'"
} >"$work/session.sh"

ran=0 skipped=0
while IFS=$'\t' read -r n where what; do
  case "$what" in
    run) ran=$((ran + 1)) ;;
    skip:\ ?*) skipped=$((skipped + 1)); log "skipped $where: ${what#skip: }" ;;
    *) echo "FAILED: $where: unknown annotation '$what' (expected <!-- readme-test: skip: why -->)"; exit 1 ;;
  esac
done <"$work/blocks/index"
log "running $ran blocks ($skipped skipped) in order, at most $limit s"
status=0
(cd "$work" && timeout "$limit" bash "$work/session.sh") || status=$?
current=$(cat "$work/current" 2>/dev/null || echo none)
if [ "$current" != done ]; then
  where=$(awk -F'\t' -v n="$current" '$1 == n { print $2 }' "$work/blocks/index")
  [ "$status" -eq 124 ] && why="did not finish within $limit s" || why="failed (exit status $status)"
  echo "FAILED: the block at $where $why:"
  sed 's/^/    /' "$work/blocks/$current.sh"
  echo "its output:"
  sed 's/^/    /' "$work/blocks/$current.out" 2>/dev/null || true
  echo "the cluster's last lines:"; tail -15 "$work/up.log"
  exit 1
fi
while IFS=$'\t' read -r n where what; do
  [ "$what" = run ] || continue
  log "ran $where"; awk 'NR <= 8 { print "    " $0 }' "$work/blocks/$n.out"
done <"$work/blocks/index"
echo "readme: $ran blocks passed, $skipped skipped, 0 failed"
