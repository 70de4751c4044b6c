#!/usr/bin/env bash
# Builds everything and starts a dragon_node on embedded defaults (sized for
# this machine; data under ~/.local/share/postdevai, RAM-Lake under /dev/shm).
# Extra arguments go to dragon_node, e.g. ./scripts/run.sh --config dragon_node.toml
# Stop it with Ctrl-C: it checkpoints and exits cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >&2
exec ./build/bin/dragon_node "$@"
