#!/usr/bin/env bash
# Builds the whole tree with AddressSanitizer + UndefinedBehaviorSanitizer
# (g++, -O1) into ${BUILD_DIR:-build-asan} and runs every test under them
# (ctest; extra arguments go to ctest, e.g. -R wal_test). .ci/run runs it.
#
# Any report fails the run. ASan aborts on its first error. UBSan halts on its
# first report (halt_on_error=1) except the reports scripts/sanitizers/ubsan.supp
# lists: a UBSan report can only be suppressed when its check recovers, so the
# build makes the `null` check recoverable (-fsanitize-recover=null) and every
# other check aborts in the instrumented code itself. That file holds the one
# suppression, inside CAF 0.17's own header; our code has none.
# LeakSanitizer is on, with scripts/sanitizers/lsan.supp for what third-party
# libraries keep until exit.
#
# Not run here: read_view_tsan_test (ThreadSanitizer cannot share a binary with
# ASan; the normal build runs it).
# Environment: BUILD_DIR, JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths under the checkout reach ccache relative to it, so a clone elsewhere
# (another CI workspace) hits the same cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
"./scripts/deps.sh"
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
sanitizers="$PWD/scripts/sanitizers"
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize-recover=null -fno-omit-frame-pointer"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
# Configured every time (a no-op when nothing changed) so that a build dir
# left by an older version of this script gets these flags. -O1: ASan's usual
# level; -O3 costs twice the compile time for nothing the sanitizers need.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOSTDEVAI_TSAN_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" "${launcher[@]}" >/dev/null
start=$SECONDS
cmake --build "$BUILD_DIR" -- -j"$JOBS"
built=$SECONDS
cd "$BUILD_DIR"
# ASan and LSan reports of every instrumented process go to a file of their
# own here (log_path: report.<exe>.<pid>), not to stderr: tests start children
# (dragon_node, postdevai-cli, tests/helpers, from the Python and TypeScript
# tests too, postdevai-top inside tmux) whose stderr goes to a log the test may
# never show and whose exit status it may not check (a node stopped with
# SIGTERM, a client expected to fail). Any file here fails the run below.
# log_path is in UBSAN_OPTIONS too: g++ links UBSan as its own library
# (libubsan.so), whose start-up sets the report path of ASan's library (the
# two export the same interface) to whatever UBSAN_OPTIONS says, stderr if
# nothing. UBSan's own reports stay on stderr whatever log_path says, so the
# run also fails on any "runtime error:" in a test's output (ctest's
# LastTest.log holds the output of passing tests too); a UBSan report of a
# child whose stderr goes to a file of the test's (dragon_node's node.log)
# shows only as the child's exit status 1.
reports="$PWD/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
log="log_path=$reports/report:log_exe_name=1"
# quarantine_size_mb=32 (default 256): ASan holds freed memory back to catch
# uses after free, and that counts in a process's RSS. grpc_hostile_test bounds
# the node's RSS growth to 300 MiB: with 256 MiB held back it grew 306-463 MiB,
# with 32 at most 194 MiB. A use after free is still caught while the freed
# block is among the last 32 MiB freed.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_odr_violation=0:quarantine_size_mb=32:$log
export LSAN_OPTIONS=suppressions=$sanitizers/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=suppressions=$sanitizers/ubsan.supp:print_stacktrace=1:halt_on_error=1:$log
status=0
ctest --output-on-failure -j"$JOBS" "$@" || status=$?
found=$(find "$reports" -type f | sort)
if [ -n "$found" ]; then
  echo "sanitize: $(echo "$found" | wc -l) process(es) reported (files in $reports):" >&2
  while IFS= read -r f; do echo "==== $f" >&2; cat "$f" >&2; done <<<"$found"
  status=1
fi
if grep -q "runtime error:" Testing/Temporary/LastTest.log 2>/dev/null; then
  echo "sanitize: UndefinedBehaviorSanitizer reports in the tests' output (Testing/Temporary/LastTest.log):" >&2
  grep -n "runtime error:" Testing/Temporary/LastTest.log | sort -t: -k2 -u | head -50 >&2
  status=1
fi
echo "sanitize: build $((built - start)) s, tests $((SECONDS - built)) s" >&2
exit $status
