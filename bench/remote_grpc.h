// The gRPC side of `postdevai-bench remote`: load generators for the node's
// gRPC API (postdevai.memory.v1) that keep a fixed number of calls in flight
// with as little client CPU as possible, and the text-search client. No CAF
// and no gRPC types here: remote_bench.cc includes this beside CAF.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace postdevai::bench::remote {

enum class GrpcOp { kRead, kWrite };  // GetMetadata / PutMetadata of "k<N>"

// How load is driven.
//   kCompletionQueue: `threads` threads, each polling its own CompletionQueue
//     (the async API), each with its share of the clients: the cheapest way.
//   kCallback: the callback API (stub->async()); completions run on gRPC's
//     own threads and re-issue the next call from there.
enum class GrpcDriver { kCompletionQueue, kCallback };

struct GrpcLoadResult {
  std::uint64_t ops = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  LatencyRecorder latency;
  double latency_sum_us = 0;  // of the completed calls (for a mean)
  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

struct GrpcClientOptions {
  std::string target;      // "127.0.0.1:PORT"
  int channels = 1;        // channels (each its own TCP connection)
  int threads = 1;         // completion-queue threads (kCompletionQueue)
  GrpcDriver driver = GrpcDriver::kCompletionQueue;
  bool retries = false;    // gRPC's client retry support (on by default in gRPC; off here)
  int keys = 10000;        // key space "k0".."k<keys-1>"
  int value_bytes = 1024;
};

// A set of channels to one node, kept across runs (connections are made
// before any clock starts).
class GrpcClients {
 public:
  // Connects every channel (up to 10 s); null with *error on failure.
  static std::unique_ptr<GrpcClients> Connect(const GrpcClientOptions& options, std::string* error);
  ~GrpcClients();

  // `clients` calls in flight (client i on channel i % channels) for
  // `seconds`; or, with total_ops > 0, until that many calls were made.
  // sequential_keys: the i-th call takes key i (loading), else a random key.
  GrpcLoadResult Run(GrpcOp op, int clients, double seconds, std::uint64_t total_ops = 0, bool sequential_keys = false);

  // Stores `files` (path, content) with IngestCode and the built-in embedder.
  bool Ingest(const std::vector<std::pair<std::string, std::string>>& files, std::string* error);
  // The same with one StoreCode call per file, one after another.
  bool StoreEach(const std::vector<std::pair<std::string, std::string>>& files, std::string* error);
  // Runs each query in turn (one call in flight), limit 10; the top hit's
  // path of each query in *top (empty when none).
  GrpcLoadResult Search(const std::vector<std::string>& queries, int limit, std::vector<std::string>* top);
  // The node's WAL counters (Stats): fdatasyncs and records so far; false
  // when Stats fails.
  bool WalCounters(std::uint64_t* syncs, std::uint64_t* records);
  // GetMetadata of one key: its value, or empty with *error.
  std::string Get(const std::string& key, std::string* error);

  struct Impl;

 private:
  explicit GrpcClients(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The values written (64 of them, about as compressible as source code), of
// the size the first call asks for.
const std::vector<std::string>& ValuePool(int value_bytes);

}  // namespace postdevai::bench::remote
