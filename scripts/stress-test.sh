#!/usr/bin/env bash
# The test suite under CPU load: proof that no test depends on timing it does not control.
#
# Clones this repository at HEAD into a temporary directory (a clean clone: nothing built, no
# data), starts two CPU-bound processes (`stress-ng --cpu 2`, installed with apt-get when missing;
# a shell busy loop per CPU when it cannot be had), and runs the README's test command (`make
# test`, what .ci/run runs) RUNS times in a row in that clone. The stress processes it started are
# killed by PID however the script ends. Prints a summary (commit, date, per run: result,
# duration, load average) to stdout and to the log file, and keeps each run's full output next to it.
# Exit status 0 only when every run passed.
#
# Env: RUNS (default 3), RUN_TIMEOUT_S (bound on one run, default 3600), STRESS_CPUS (CPU-bound
#      processes, default 2), TEST_CMD (default "make test"), OUT_DIR (where the summary and the
#      runs' logs go, default .build/stress-test/<date>-<commit>), KEEP=1 (keep the clone).
# Not a CI step (.ci/run does not call it): it takes RUNS times as long as make test under load.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RUNS=${RUNS:-3}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-3600}
STRESS_CPUS=${STRESS_CPUS:-2}
TEST_CMD=${TEST_CMD:-make test}
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || { echo "RUNS must be 1..99, got '$RUNS'" >&2; exit 2; }
[[ $RUN_TIMEOUT_S =~ ^[1-9][0-9]*$ ]] || { echo "RUN_TIMEOUT_S must be a positive number of seconds" >&2; exit 2; }
[[ $STRESS_CPUS =~ ^[1-9][0-9]?$ ]] || { echo "STRESS_CPUS must be 1..99" >&2; exit 2; }

COMMIT=$(git rev-parse HEAD)
SHORT=$(git rev-parse --short HEAD)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT_DIR=${OUT_DIR:-$REPO/.build/stress-test/$STAMP-$SHORT}
mkdir -p "$OUT_DIR"
SUMMARY=$OUT_DIR/summary.log
WORK=$(mktemp -d /tmp/autochain-stress.XXXXXX)
STRESS_PIDS=()
SAMPLER_PID=
RUN_PID=

say() { echo "$*" | tee -a "$SUMMARY"; }

cleanup() {
  # timeout(1) runs the test command in a process group of its own and passes TERM on to all of it.
  if [[ -n $RUN_PID ]]; then kill "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null; fi
  [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
  for pid in "${STRESS_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${STRESS_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "clone kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stress-ng from Debian when it can be had (as root or with sudo), else busy loops.
ensure_stress_ng() {
  command -v stress-ng >/dev/null && return 0
  local sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  echo "installing stress-ng"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq stress-ng; } >/dev/null 2>&1
  command -v stress-ng >/dev/null
}

# Starts the CPU load, bounded by the whole run's time even if this script is killed -9.
start_stress() {
  local bound_s=$(( RUNS * RUN_TIMEOUT_S + 600 ))
  if ensure_stress_ng; then
    stress-ng --cpu "$STRESS_CPUS" --timeout "${bound_s}s" --quiet &
    STRESS_PIDS+=($!)
    STRESS_WHAT="stress-ng --cpu $STRESS_CPUS (pid ${STRESS_PIDS[0]})"
  else
    for _ in $(seq "$STRESS_CPUS"); do
      timeout "$bound_s" bash -c 'while :; do :; done' &
      STRESS_PIDS+=($!)
    done
    STRESS_WHAT="$STRESS_CPUS shell busy loops (stress-ng could not be installed; pids ${STRESS_PIDS[*]})"
  fi
}

# Samples the 1-minute load average every 10 s into $1 while a run lasts.
sample_load() { while :; do cut -d' ' -f1 /proc/loadavg >> "$1"; sleep 10; done; }

load_summary() {  # mean and max of the samples in $1
  awk '{ s += $1; if ($1 > m) m = $1; n++ } END { if (n) printf "mean %.1f, max %.1f (%d samples)", s / n, m, n; else print "no samples" }' "$1"
}

# What a run's log says: the Swift test count, the compose and swarm scenarios' last lines, or the failures.
run_findings() {
  local log=$1 swift compose swarm failed
  swift=$(grep -aE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?(passed|failed)' "$log" | tail -1 | sed 's/^[^A-Za-z]*//')
  compose=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  swarm=$(grep -aE '^swarm: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  failed=$(grep -aE '✘ Test [^ ]+.* (failed|recorded an issue)' "$log" | sed -E 's/.*✘ Test ([^ ]+).*/\1/' | sort -u | head -10 | tr '\n' ' ')
  echo "  swift: ${swift:-no summary line}"
  [[ -n $compose ]] && echo "  compose: $compose"
  [[ -n $swarm ]] && echo "  $swarm"
  [[ -n $failed ]] && echo "  failed tests: $failed"
  return 0
}

if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  echo "note: uncommitted changes are not tested; the clone is of commit $SHORT"
fi
git clone --quiet --no-hardlinks "$REPO" "$WORK/autochain" && git -C "$WORK/autochain" checkout --quiet --detach "$COMMIT" || {
  echo "cannot clone $REPO at $COMMIT" >&2; exit 2; }

start_stress
say "stress test: $TEST_CMD x $RUNS beside $STRESS_WHAT"
say "commit: $COMMIT ($(git log -1 --format=%s "$COMMIT" | cut -c1-80))"
say "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, clean clone in $WORK/autochain"
say "bound: $RUN_TIMEOUT_S s per run; logs in $OUT_DIR"

PASSED=0
for run in $(seq "$RUNS"); do
  log=$OUT_DIR/run-$run.log
  : > "$OUT_DIR/load-$run.txt"
  sample_load "$OUT_DIR/load-$run.txt" &
  SAMPLER_PID=$!
  start=$(date +%s)
  (cd "$WORK/autochain" && exec timeout --kill-after=60 "$RUN_TIMEOUT_S" bash -c "$TEST_CMD") > "$log" 2>&1 &
  RUN_PID=$!
  wait "$RUN_PID"
  rc=$?
  RUN_PID=
  duration=$(( $(date +%s) - start ))
  kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=
  case $rc in
    0) result=passed; PASSED=$((PASSED + 1)) ;;
    124|137) result="TIMED OUT after $RUN_TIMEOUT_S s" ;;
    *) result="FAILED (exit $rc)" ;;
  esac
  say "run $run/$RUNS: $result in $((duration / 60)) min $((duration % 60)) s; load average (1 min) $(load_summary "$OUT_DIR/load-$run.txt")"
  run_findings "$log" | tee -a "$SUMMARY"
done
say "result: $PASSED of $RUNS runs passed ($TEST_CMD beside $STRESS_CPUS CPU-bound processes, commit $SHORT)"
[[ $PASSED == "$RUNS" ]]
