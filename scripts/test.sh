#!/usr/bin/env bash
# Builds vmkeeper and runs every test (unit, integration on libvirt's test driver, CLI end to end
# against a real vmkeeperd). Usage: scripts/test.sh [extra ctest args]
# Environment: BUILD_DIR (default build), VMK_WERROR=ON to fail on warnings (CI sets it),
# JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMK_WERROR="${VMK_WERROR:-OFF}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$JOBS" --timeout 600 "$@"
