#!/usr/bin/env bash
# Builds the whole tree with AddressSanitizer + UndefinedBehaviorSanitizer into
# ${BUILD_DIR:-build-asan} and runs every test under them (ctest). Any report
# fails the run: UBSan does not recover, ASan aborts on the first error.
# Leak checking is off: CAF 0.17 and gRPC keep process-lifetime singletons
# that LeakSanitizer reports at exit. ThreadSanitizer has its own target in
# the normal build (read_view_tsan_test); it cannot share a binary with ASan.
# Not in .ci/run yet. Status (2026-12-04): every test that spawns an actor from
# a lambda without arguments stops at a UBSan report inside CAF 0.17's own
# header (caf/detail/init_fun_factory.hpp binds a reference to a null
# shared_ptr<std::tuple<>>); no other report was seen. Next step: build in
# recover mode and suppress that one CAF location, then add this to CI.
set -euo pipefail
cd "$(dirname "$0")/.."
"./scripts/deps.sh"
BUILD_DIR=${BUILD_DIR:-build-asan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOSTDEVAI_TSAN_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD_DIR" -- -j"${JOBS:-$(nproc)}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$BUILD_DIR"
ctest --output-on-failure -j"${JOBS:-$(nproc)}" "$@"
