#!/usr/bin/env bash
# Configures (once) and builds into ${BUILD_DIR:-build}. Uses ccache when present.
set -euo pipefail
cd "$(dirname "$0")/.."
"./scripts/deps.sh"
BUILD_DIR=${BUILD_DIR:-build}
# Paths under the checkout are hashed relative to it: a clean clone elsewhere
# (CI) reuses what this checkout compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
BUILD_TYPE=${BUILD_TYPE:-Release}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD_DIR" -- -j"${JOBS:-$(nproc)}"
