#!/usr/bin/env bash
# Builds the unit suites (specs_test, providers_test, reconciler_test) with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer (-DVMK_SANITIZE=address,undefined, every
# library instrumented, UB aborts, leaks reported) in a build directory of its own and runs each
# once. Fails on any test failure or sanitizer report. CI runs it twice (ASan+UBSan, then TSan
# on reconciler_test and specs_test): docs/fuzzing.md.
# Usage: scripts/sanitize.sh [SUITE...]   (default: the three suites)
# Environment: BUILD_DIR (default build-asan), CLANGXX (default clang++), SANITIZE (default
# address,undefined; "thread" for TSan in its own BUILD_DIR), JOBS (default: number of cores),
# GTEST_FILTER (passed to each suite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-asan}
CLANGXX=${CLANGXX:-clang++}
JOBS=${JOBS:-$(nproc)}
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(specs_test providers_test reconciler_test)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CLANGXX" -DVMK_SANITIZE="${SANITIZE:-address,undefined}" \
  -DVMK_BUILD_BENCH=OFF >/dev/null
start=$(date +%s)
cmake --build "$BUILD_DIR" --target "${SUITES[@]}" -j"$JOBS"
echo "sanitize: built ${SUITES[*]} in $BUILD_DIR in $(($(date +%s) - start)) s"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}
failed=()
for suite in "${SUITES[@]}"; do
  start=$(date +%s)
  rc=0
  (cd "$BUILD_DIR" && "./$suite" ${GTEST_FILTER:+--gtest_filter="$GTEST_FILTER"}) \
    >"$BUILD_DIR/$suite.sanitize.log" 2>&1 || rc=$?
  echo "sanitize: $suite exit $rc in $(($(date +%s) - start)) s ($(grep -c '^\[       OK \]' "$BUILD_DIR/$suite.sanitize.log") tests passed; log $BUILD_DIR/$suite.sanitize.log)"
  if [ "$rc" -ne 0 ]; then
    failed+=("$suite")
    grep -E 'ERROR: |runtime error|SUMMARY|\[  FAILED  \]' "$BUILD_DIR/$suite.sanitize.log" | head -20 >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: FAILED: ${failed[*]}" >&2
  exit 1
fi
