#!/usr/bin/env bash
# Installs every Debian 12 package the build, tests and benches need.
# Idempotent: when everything is already installed it does nothing (no network).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache lld pkg-config
  libcaf-dev                 # actors (CAF 0.17.6)
  libleveldb-dev libsnappy-dev  # cold tier (LevelDB's link line names snappy)
  libzstd-dev                # value compression + dictionaries
  libhwy-dev                 # SIMD kernels (Highway)
  libtomlplusplus-dev        # dragon_node.toml
  catch2                     # tests (v2)
  prometheus-cpp-dev         # metrics exposition
  libncurses-dev             # live dashboard
  tmux                       # top_test drives the dashboard in a detached tmux pane
  libfaiss-dev               # bench peer for vector search (optional for the build)
  libhnswlib-dev             # bench peer for the vector graph index (header only; optional for the build)
  libxapian-dev              # bench peer for lexical search quality (BM25; postdevai-bench search-quality)
  prometheus                 # promtool: tests check the /metrics exposition with it
  openssl                    # tests generate throwaway TLS certificates (tls_test, never committed)
  redis-server redis-tools   # bench peer for remote point reads (postdevai-bench remote)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # the gRPC API (proto/)
  python3 python3-grpcio python3-protobuf  # the Python client (clients/python) and its tests
  python3-venv python3-wheel  # installing the Python client into a venv offline (clients/python/README.md)
  libssl-dev                 # SHA-256 for code ids (CodeIdForPath); also the TLS of CAF's openssl module
  clang-14 libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes for the fuzz targets (fuzz/, scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
