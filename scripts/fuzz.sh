#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan: docs/fuzzing.md) and runs each for
# SECONDS (default 30), starting from its seed corpus in fuzz/corpus/<target>/ (which includes the
# inputs of past findings, so they are replayed first). Fails on any crash, leak, sanitizer
# report, timeout (-timeout, default 10 s per input) or out-of-memory (-rss_limit_mb 2048): the
# input is left in $BUILD_DIR/fuzz-artifacts/<target>/ and the failing target named. Prints the
# executions and executions per second of each target, and their total. CI runs it after
# scripts/thread-safety.sh.
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: BUILD_DIR (default build-fuzz), CLANGXX (default clang++), TARGETS (default: all
# five, space-separated names without _fuzzer), JOBS (build; default: number of cores),
# FUZZ_FLAGS (more libFuzzer flags, e.g. -max_len=8192), SKIP_BUILD=1 (run what is built).
# The corpus each run grows is kept in $BUILD_DIR/fuzz-corpus/<target>/ (not in the repo):
# later runs start from it.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
CLANGXX=${CLANGXX:-clang++}
JOBS=${JOBS:-$(nproc)}
TARGETS=${TARGETS:-"manifest_decoder alertmanager_webhook domain_xml fence_agent_options api_router"}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/install-deps.sh
  # Tests and benchmarks are not built here: only the libraries the fuzzers link. Warnings are
  # scripts/thread-safety.sh's business (clang, -Werror): not made errors again here.
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$CLANGXX" -DVMK_FUZZ=ON -DVMK_BUILD_TESTS=OFF -DVMK_BUILD_BENCH=OFF \
    -DVMK_THREAD_SAFETY_ANALYSIS=OFF -DVMK_WERROR=OFF >/dev/null
  start=$(date +%s)
  cmake --build "$BUILD_DIR" --target fuzzers -j"$JOBS"
  echo "fuzz: built the fuzzers in $BUILD_DIR in $(($(date +%s) - start)) s"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
total_runs=0
summary=""
for t in $TARGETS; do
  bin="$BUILD_DIR/${t}_fuzzer"
  seeds="fuzz/corpus/$t"
  work="$BUILD_DIR/fuzz-corpus/$t"
  artifacts="$BUILD_DIR/fuzz-artifacts/$t"
  log="$BUILD_DIR/fuzz-logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s (log: $log)"
  rc=0
  # The outer timeout bounds a run whose exit hangs (LeakSanitizer scanning a huge heap after a
  # timeout was seen to spin).
  # shellcheck disable=SC2086
  timeout -k 10 $((SECONDS_PER_TARGET + 120)) "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} "$work" "$seeds" \
    >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  total_runs=$((total_runs + ${runs:-0}))
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    summary+=$(printf '%-22s %12s runs %8s exec/s  FAILED (exit %d)' "$t" "${runs:-?}" "${speed:-?}" "$rc")$'\n'
    echo "fuzz: $t FAILED (exit $rc); the end of its log:" >&2
    tail -40 "$log" >&2
    ls -l "$artifacts" >&2
  else
    summary+=$(printf '%-22s %12s runs %8s exec/s  ok (corpus %d inputs)' "$t" "$runs" "$speed" "$corpus")$'\n'
  fi
done
printf '%s' "$summary"
echo "fuzz: $total_runs executions in total, ${SECONDS_PER_TARGET} s per target"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD_DIR/fuzz-artifacts/)" >&2
  exit 1
fi
