#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (AddressSanitizer + libFuzzer, release, cached in
# .build-fuzz/) and runs each for FUZZ_SECONDS. Exits non-zero when a target crashes or breaks a
# property it checks; the reproducer is kept under .build-fuzz/crashes/<target>/ and the command
# that replays it is printed.
#
#   FUZZ_SECONDS=60      seconds per target (default 60)
#   FUZZ_TARGETS="json toml"   which targets (default: all, see ALL_TARGETS)
#   FUZZ_JOBS=1          targets run at once (each uses one core)
#   FUZZ_NICE=10         niceness of the fuzzing processes
#   FUZZ_BUILD_DIR=.build-fuzz   build, corpus, crash and log directory
#
# Each target starts from its seed corpus in fuzz/corpus/<target>/ (read-only here) plus what
# earlier runs found in .build-fuzz/corpus/<target>/ (new inputs go there), with the dictionary
# fuzz/dict/<target>.dict. Logs: .build-fuzz/runs/<target>.log; one line per run is appended to
# .build-fuzz/runs/summary.tsv. A target alone, by hand:
#   .build-fuzz/release/fuzz-json -dict=fuzz/dict/json.dict .build-fuzz/corpus/json fuzz/corpus/json
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH

ALL_TARGETS="http-request chunked json toml transaction block peer-message registry-body"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
JOBS=${FUZZ_JOBS:-1}
NICENESS=${FUZZ_NICE:-10}
OUT=${FUZZ_BUILD_DIR:-.build-fuzz}

for t in $TARGETS; do
    case " $ALL_TARGETS " in *" $t "*) ;; *) echo "fuzz: unknown target '$t' (known: $ALL_TARGETS)" >&2; exit 2 ;; esac
done
mkdir -p "$OUT/runs"

# --- build -----------------------------------------------------------------------------------
# -enable-testing: the registry and peer targets reach internal entry points (@testable import).
# `--sanitize=fuzzer` tells SwiftPM to leave `main` to libFuzzer (with -enable-testing it would
# otherwise rename each target's entry point and alias `main` to it); the one
# `-sanitize=fuzzer,address` flag after it is what swiftc keeps: given `--sanitize` twice, SwiftPM
# passes two -sanitize flags in no fixed order and swiftc honours only the last.
build_log="$OUT/runs/build.log"
echo "fuzz: building the targets (sanitizers: fuzzer, address) into $OUT/ ..."
started=$(date +%s)
# SwiftPM does not notice files added to the root package (a dependency of fuzz/) after it planned
# the build (e.g. by a git pull): without its plan it plans again, which costs a few seconds.
rm -f "$OUT/release/description.json"
if ! nice -n "$NICENESS" swift build --package-path fuzz --scratch-path "$OUT" -c release \
        --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing >"$build_log" 2>&1; then
    grep -v "__asan_extra_spill_area" "$build_log" | tail -40
    echo "fuzz: build failed (full log: $build_log)" >&2
    exit 1
fi
echo "fuzz: built in $(( $(date +%s) - started )) s"

# --- run -------------------------------------------------------------------------------------
# The Swift runtime's own crash backtracer would take the signal before libFuzzer does.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=0:symbolize=1}

run_target() {
    local t=$1 bin="$OUT/release/fuzz-$1" corpus="$OUT/corpus/$1" crashes="$OUT/crashes/$1" log="$OUT/runs/$1.log"
    mkdir -p "$corpus" "$crashes"
    local dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
    local before
    before=$(ls "$crashes" | wc -l)
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a runaway allocation is a crash.
    nice -n "$NICENESS" "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1
    local status=$?
    if ! grep -q "inline 8-bit counters" "$log"; then  # the build flags above are easy to get wrong
        echo "fuzz: $t is not instrumented for coverage (see $log); fuzzing it would find nothing" >&2
        return 1
    fi
    local execs rate corp after
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    after=$(ls "$crashes" | wc -l)
    local found=$((after - before))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$SECONDS_PER_TARGET" "${execs:-?}" \
        "${rate:-?}" "${corp:-?}" "$found" >>"$OUT/runs/summary.tsv"
    printf 'fuzz: %-14s %6s s %12s execs %8s exec/s  corpus %6s  crashes %s\n' "$t" "$SECONDS_PER_TARGET" \
        "${execs:-?}" "${rate:-?}" "${corp:-?}" "$found"
    if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
        grep -E "fuzz property violated|ERROR: |SUMMARY: |Fatal error" "$log" | head -5 | sed 's/^/    /'
        local artifact
        artifact=$(ls -t "$crashes" | head -1)
        echo "    FAILED (exit $status); log: $log"
        [ -n "$artifact" ] && echo "    replay: SWIFT_BACKTRACE=enable=no $bin $crashes/$artifact"
        return 1
    fi
}

failed=0
running=0
pids=()
for t in $TARGETS; do
    if [ "$JOBS" -le 1 ]; then
        run_target "$t" || failed=1
    else
        run_target "$t" &
        pids+=($!)
        running=$((running + 1))
        if [ "$running" -ge "$JOBS" ]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
            running=$((running - 1))
        fi
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done

if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED — a target crashed or broke a property (reproducers in $OUT/crashes/)" >&2
    exit 1
fi
echo "fuzz: every target ran ${SECONDS_PER_TARGET} s without a crash"
