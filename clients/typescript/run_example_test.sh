#!/bin/bash
# The TypeScript example against a real dragon_node (ctest: typescript_example).
#
#   run_example_test.sh DRAGON_NODE SOURCE_DIR WORK_DIR PROTO
#
# Copies the client (package.json, package-lock.json, tsconfig.json, src/)
# from SOURCE_DIR to WORK_DIR and installs and compiles it there (nothing is
# written into the source tree), starts DRAGON_NODE with a throwaway config
# (ports 0, RAM-Lake under /dev/shm), runs `node dist/example.js` against it,
# and always stops the node (SIGTERM to the pid it started) and removes its
# directories. Exit 77 (skip): no npm/node, or npm cannot reach its registry.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 DRAGON_NODE SOURCE_DIR WORK_DIR PROTO" >&2
  exit 2
fi
dragon_node=$1
source_dir=$2
work_dir=$3
proto=$4
SKIP=77

for tool in npm node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: no $tool on PATH (the TypeScript client needs Node.js and npm)"
    exit $SKIP
  fi
done

# --- the client, installed and compiled in the build tree ---
start=$SECONDS
mkdir -p "$work_dir"
rm -rf "$work_dir/src" "$work_dir/dist"
cp "$source_dir/package.json" "$source_dir/package-lock.json" "$source_dir/tsconfig.json" "$work_dir/"
cp -R "$source_dir/src" "$work_dir/src"
cd "$work_dir"

# --prefer-offline: a warm cache needs no network at all. Shorter retry waits:
# without a network, npm gives up in 10-20 s instead of ~70 s.
npm_log=$work_dir/npm-ci.log
if ! npm ci --no-audit --no-fund --prefer-offline --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=8000 \
    >"$npm_log" 2>&1; then
  cat "$npm_log"
  if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|network' "$npm_log"; then
    echo "SKIP: npm ci cannot reach the npm registry and its cache lacks the packages (no network?)"
    exit $SKIP
  fi
  echo "FAIL: npm ci failed (log above)"
  exit 1
fi
echo "npm ci done after $((SECONDS - start)) s"
npx --no-install tsc
echo "tsc done after $((SECONDS - start)) s"

# --- a throwaway node ---
tmp=$(mktemp -d "${TMPDIR:-/tmp}/postdevai-ts-XXXXXX")
shm=$(mktemp -d /dev/shm/postdevai-ts-XXXXXX)
node_pid=

cleanup() {
  local status=$?
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do  # 30 s
      kill -0 "$node_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$node_pid" 2>/dev/null; then
      echo "dragon_node (pid $node_pid) ignored SIGTERM for 30 s; killing it" >&2
      kill -KILL "$node_pid" 2>/dev/null || true
      status=1
    fi
    wait "$node_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ "$status" -ne $SKIP ] && [ -f "$tmp/node.log" ]; then
    echo "--- node log ---" >&2
    cat "$tmp/node.log" >&2
  fi
  rm -rf "$tmp" "$shm"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$tmp/dragon_node.toml" <<EOF
[hybrid_memory]
ramlake_size_gb = 0.0625
ramlake_path = "$shm/ramlake"
persistent_size_tb = 0.001
persistent_path = "$tmp/data"
cache_size_mb = 8
[node]
port = 0
[metrics]
port = 0
EOF

"$dragon_node" --config "$tmp/dragon_node.toml" </dev/null >"$tmp/node.log" 2>&1 &
node_pid=$!

port=
for _ in $(seq 1 600); do  # 30 s
  port=$(sed -n 's/.*serving the gRPC API postdevai\.memory\.v1 at 127\.0\.0\.1:\([0-9][0-9]*\) (.*/\1/p' "$tmp/node.log" | head -n 1)
  [ -n "$port" ] && break
  if ! kill -0 "$node_pid" 2>/dev/null; then
    wait "$node_pid" && code=0 || code=$?
    node_pid=
    echo "FAIL: dragon_node exited at start-up with status $code" >&2
    exit 1
  fi
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "FAIL: dragon_node did not report its gRPC endpoint within 30 s" >&2
  exit 1
fi
echo "dragon_node (pid $node_pid) serves 127.0.0.1:$port"

POSTDEVAI_PROTO=$proto timeout 60 node dist/example.js "127.0.0.1:$port"
echo "typescript_example: OK after $((SECONDS - start)) s"
