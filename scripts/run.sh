#!/usr/bin/env bash
# The main job: builds everything, starts a dragon_node on embedded defaults
# (sized for this machine; data under ~/.local/share/postdevai, RAM-Lake under
# /dev/shm) and shows it working through its gRPC API: stores a real source
# tree found on this machine (indexed for search), reads a file back and
# checks it, searches it, prints the node's stats, and runs the Python
# client's quickstart against it. The node
# then keeps serving until Ctrl-C (it checkpoints and stops cleanly).
#
#   ./scripts/run.sh                      # embedded defaults
#   ./scripts/run.sh --config my.toml     # arguments go to dragon_node
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >&2
bin=build/bin

log=$(mktemp -t dragon_node.XXXXXX.log)
"$bin/dragon_node" "$@" 2>"$log" &
node=$!
tail -n +1 -f "$log" --pid "$node" >&2 &
stop() { kill -INT "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 600); do
  grep -q "ready;" "$log" && break
  kill -0 "$node" 2>/dev/null || { echo "run.sh: dragon_node did not start (see above)" >&2; exit 1; }
  sleep 0.1
done
endpoint=$(sed -n 's/.*serving the gRPC API postdevai.memory.v1 at \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1)
cli=("$bin/postdevai-cli" --node "$endpoint")

# A real source tree: this repository's own sources, else the C++ headers.
tree=storage
[ -f "$tree/wal.h" ] || tree=$(ls -d /usr/include/c++/* | head -n 1)
sample=$(find "$tree" -type f -name '*.h' | head -n 1)

echo >&2
echo "run.sh: storing the source tree $tree in the node at $endpoint" >&2
"${cli[@]}" ingest "$tree"
echo "run.sh: reading $sample back" >&2
if "${cli[@]}" code get --path "$sample" | cmp -s - "$sample"; then
  echo "run.sh: $sample came back byte for byte" >&2
else
  echo "run.sh: $sample came back different" >&2
  exit 1
fi
echo "run.sh: searching it: \"write-ahead log group commit\"" >&2
"${cli[@]}" search "write-ahead log group commit" --limit 5
"${cli[@]}" memory stats
echo "run.sh: a backup of it, while it serves (restore: dragon_node --restore DIR)" >&2
"${cli[@]}" memory backup
echo "run.sh: the same node from Python (clients/python, over the gRPC API)" >&2
PYTHONPATH=build/python /usr/bin/python3 clients/python/examples/quickstart.py "$endpoint"
echo >&2
echo "run.sh: dragon_node is serving at $endpoint; try: $bin/postdevai-cli --node $endpoint memory stats" >&2
echo "run.sh: Ctrl-C stops it" >&2
wait "$node"
