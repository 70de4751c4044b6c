#!/usr/bin/env bash
# Builds everything and runs every test (ctest). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j"${JOBS:-$(nproc)}" "$@"
