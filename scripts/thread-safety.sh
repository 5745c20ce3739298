#!/usr/bin/env bash
# Compiles every target (libraries, daemon, CLI, tests, benchmarks) with clang and its
# thread-safety analysis (-Wthread-safety as errors: see common/thread_annotations.h and
# common/mutex.h), with -Wall -Wextra and, by default, warnings as errors. Runs nothing: the
# analysis happens at compile time, and scripts/test.sh runs the tests on the gcc build.
# CI runs it after scripts/test.sh.
# Environment: BUILD_DIR (default build-clang), CLANGXX (default clang++), VMK_WERROR (default ON),
# JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-clang}
CLANGXX=${CLANGXX:-clang++}
JOBS=${JOBS:-$(nproc)}
# Debug: unoptimised compiles are the quickest, and the analysis does not depend on -O.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CLANGXX" \
  -DVMK_THREAD_SAFETY_ANALYSIS=ON -DVMK_WERROR="${VMK_WERROR:-ON}" >/dev/null
start=$(date +%s)
cmake --build "$BUILD_DIR" -j"$JOBS"
echo "thread-safety: $CLANGXX build of all targets in $BUILD_DIR took $(($(date +%s) - start)) s"
