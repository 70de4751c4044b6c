#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, ASan + UBSan, build dir
# ${BUILD_DIR:-build-fuzz}) and runs each for ${FUZZ_SECONDS:-60} seconds on a
# copy of its seed corpus fuzz/corpus/<target>/ (inputs libFuzzer finds never
# land in the repository). A target that crashes has its crashing input copied
# into fuzz/corpus/<target>/, where it stays as a regression seed; the others
# still run, and the script exits 1 at the end. One summary line per target.
#
# Usage: scripts/fuzz.sh [--help] [TARGET...]
#   TARGET   run only these (names as in fuzz/: wal_reader, value_codec, ...)
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60)
#   BUILD_DIR     build directory (default build-fuzz)
#   JOBS          build jobs (default 2)
#   NICE          niceness of the build and the runs (default 15)
#   FUZZ_LOG_DIR  where the logs of failed targets are kept (default $BUILD_DIR/fuzz-logs)
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=()
for f in fuzz/*_fuzzer.cc; do
  name=${f#fuzz/}
  all_targets+=("${name%_fuzzer.cc}")
done

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; echo "Targets: ${all_targets[*]}"; }

targets=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *)
      known=0
      for t in "${all_targets[@]}"; do [ "$t" = "$arg" ] && known=1; done
      if [ $known -eq 0 ]; then echo "fuzz.sh: unknown target '$arg' (known: ${all_targets[*]})" >&2; exit 2; fi
      targets+=("$arg")
      ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
NICE=${NICE:-15}
FUZZ_LOG_DIR=${FUZZ_LOG_DIR:-$BUILD_DIR/fuzz-logs}
start=$SECONDS

# Paths under the checkout reach ccache relative to it (see sanitize.sh).
export CCACHE_BASEDIR="$PWD"
./scripts/deps.sh
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
CC=clang-14 CXX=clang++-14 nice -n "$NICE" cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPOSTDEVAI_FUZZ=ON -DPOSTDEVAI_TSAN_TESTS=OFF "${launcher[@]}" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("${t}_fuzzer"); done
nice -n "$NICE" cmake --build "$BUILD_DIR" --target "${build_targets[@]}" -- -j"$JOBS"
built=$SECONDS

# Everything a run writes (corpus copies, crash inputs, the targets' scratch
# directories) lives in one directory of this run, on tmpfs when there is one.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d "$shm/postdevai-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT

sanitizers="$PWD/scripts/sanitizers"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-suppressions=$PWD/fuzz/ubsan.supp:print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$sanitizers/lsan.supp:print_suppressions=0}

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/tmp/$t"
  if [ -d "fuzz/corpus/$t" ]; then cp -r "fuzz/corpus/$t/." "$work/corpus/$t/"; fi
  log="$work/$t.log"
  t0=$SECONDS
  rc=0
  POSTDEVAI_FUZZ_TMPDIR="$work/tmp/$t" nice -n "$NICE" "$BUILD_DIR/bin/${t}_fuzzer" \
    -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" "$work/corpus/$t" >"$log" 2>&1 || rc=$?
  seconds=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#'); fi
  execs=${execs:-0}
  rate=$((seconds > 0 ? execs / seconds : execs))
  if [ $rc -eq 0 ]; then
    result="ok"
  else
    failed+=("$t")
    mkdir -p "$FUZZ_LOG_DIR"
    cp "$log" "$FUZZ_LOG_DIR/$t.log"
    crash=$(find "$work/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
      -o -name 'oom-*' \) | head -1)
    if [ -n "$crash" ]; then
      # A regression seed that still fails is already in the corpus: name it.
      saved=""
      for f in "fuzz/corpus/$t"/*; do
        if [ -f "$f" ] && cmp -s "$f" "$crash"; then saved=$f; break; fi
      done
      if [ -z "$saved" ]; then
        mkdir -p "fuzz/corpus/$t"
        cp "$crash" "fuzz/corpus/$t/"
        saved="fuzz/corpus/$t/$(basename "$crash")"
        result="FAILED (exit $rc): input saved as $saved"
      else
        result="FAILED (exit $rc) on $saved (already in the corpus)"
      fi
      echo "fuzz.sh: $t failed; crashing input: $saved; log: $FUZZ_LOG_DIR/$t.log" >&2
    else
      result="FAILED (exit $rc), no crashing input; log: $FUZZ_LOG_DIR/$t.log"
      echo "fuzz.sh: $t failed without a crashing input; log: $FUZZ_LOG_DIR/$t.log" >&2
    fi
    # The report's first lines say what broke.
    grep -m 8 -E 'ERROR: |runtime error|fuzz: property violated|==[0-9]+==' "$log" | sed "s/^/  $t: /" >&2 || true
  fi
  summary+=("$(printf '%-22s %10s execs %4s s %7s execs/s  %s' "$t" "$execs" "$seconds" "$rate" "$result")")
  rm -rf "$work/tmp/$t"
done

echo
printf '%s\n' "${summary[@]}"
echo "fuzz.sh: build $((built - start)) s, fuzzing $((SECONDS - built)) s, total $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
