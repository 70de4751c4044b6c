// postdevai-cli's connection to a dragon_node: the node's gRPC API
// (postdevai.memory.v1, rpc/grpc_client.h), the one door every client uses;
// TLS when the settings carry a CA or a certificate, mutual TLS with a
// certificate and key, and the access token when one is given. The
// `memory ...` reports are translated into the plain structs the operations
// commands print.
//
// Errors name the node ("node 127.0.0.1:4710 ..."): kUnavailable when it
// cannot be reached, does not answer within the timeout or drops the
// connection; the node's own errors (kNotFound, kInvalidArgument, kTooLarge,
// ...) come back with the node's message.
// Thread-safety: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/records.h"
#include "postdevai/status.h"
#include "rpc/grpc_client.h"

namespace postdevai::cli {

// One RAM-Lake partition (actors::partition_report).
struct PartitionInfo {
  std::string kind;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;         // live bytes in the partition file
  std::uint64_t budget_bytes = 0;  // usable bytes
  std::uint64_t hits = 0, misses = 0, evictions = 0;
  std::uint64_t dirty_entries = 0;  // not yet applied to the store: never evicted
  std::uint64_t persisted_lsn = 0;
  std::uint64_t restarts = 0;
  std::uint64_t max_record_bytes = 0;  // larger values are never cached in RAM
  std::uint64_t uncached_writes = 0;   // writes RAM refused (too large, or all dirty)
  bool ready = false;  // false while the partition re-attaches after a restart
  std::string eviction_policy;
  std::string file;    // the partition file, as the node sees it
  // Vectors partition: the search index in RAM (both tiers' vectors).
  std::uint64_t index_vectors = 0, index_bytes = 0, index_graph_bytes = 0;
  // Code and history partitions: the lexical index (files or messages, RAM).
  std::uint64_t text_index_units = 0, text_index_bytes = 0;
};

// The journal's, store's and sync timer's view (actors::sync_report).
struct SyncInfo {
  std::uint64_t durable_lsn = 0, applied_lsn = 0, checkpoint_lsn = 0;
  double seconds_since_checkpoint = 0;
  std::uint64_t wal_segments = 0;  // live segment files
  std::uint64_t wal_bytes = 0;     // framed bytes appended since the node started
  std::uint64_t wal_syncs = 0, wal_records = 0, checkpoints = 0;
  std::uint64_t wal_live_bytes = 0;  // record bytes in live segments: the backlog on disk
  // Relaxed durability (records::sync_report): bit k = kind k relaxed; per
  // kind, bytes acknowledged but not durable and the oldest one's age.
  std::uint32_t relaxed_kinds = 0;
  std::uint64_t relaxed_sync_ms = 0;
  std::vector<std::uint64_t> unsynced_bytes, unsynced_micros;
  std::uint64_t lost_relaxed_writes = 0;
  // Backups and the WAL archive (records::sync_report).
  std::string backup_path;
  std::uint64_t archive_segments = 0, archive_bytes = 0, backups = 0, last_backup_lsn = 0;
  double archive_oldest_age_seconds = 0, last_backup_age_seconds = 0;
  std::string backup_error;
};

// What an eviction from one partition took, or in a dry run would take.
struct EvictionInfo {
  std::string kind;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// Latencies of requests as the controller saw them, from its histogram.
struct LatencyInfo {
  std::uint64_t count = 0;
  double sum_seconds = 0;
  // The quantile's bucket bound: the q-quantile took at most this long.
  // Negative when it fell in the last, unbounded bucket (or no requests).
  double p50_at_most_seconds = -1, p99_at_most_seconds = -1;
};

// `memory stats` (actors::memory_report).
struct NodeStats {
  std::vector<PartitionInfo> partitions;
  SyncInfo sync;
  std::uint64_t reads = 0, writes = 0, ram_hits = 0, disk_reads = 0, promotions = 0;
  std::uint64_t prefetches = 0, prefetch_hits = 0;
  bool prefetch_enabled = false;
  LatencyInfo read_latency, write_latency;
  std::uint64_t errors = 0;  // requests the node answered with an error
  // The node's replication (role, a replica's lag); empty when the node
  // does not say.
  std::optional<rpc::ReplicationInfo> replication;
};

// One kind in the persistent store (actors::store_kind_report).
struct StoreKindInfo {
  std::string kind;
  std::uint64_t entries = 0;
  std::uint64_t raw_bytes = 0;     // values before compression
  std::uint64_t stored_bytes = 0;  // values as stored (compressed, headers included)
  std::uint64_t disk_bytes = 0;    // LevelDB's estimate of table bytes (memtable not counted)
  std::uint32_t dictionary_id = 0;
};

struct ConnectOptions {
  std::string host;
  std::uint16_t port = 0;
  NodeConfig tls;  // ca_file: TLS, verifying the node; certificate + key: mutual TLS
  std::string token;  // the node's access token; empty: none
  // How long one request may take; zero waits forever.
  std::chrono::seconds timeout{120};
  // Where -v sends what the client does (connect, each request and its time);
  // null: quiet.
  std::function<void(const std::string&)> log;
};

class NodeClient {
 public:
  // Connects (TCP, and the TLS handshake when configured). kUnavailable
  // naming host:port when nothing answers or the handshake is refused.
  static Result<std::unique_ptr<NodeClient>> Connect(const ConnectOptions& options);
  ~NodeClient();

  // "host:port" of the node.
  const std::string& endpoint() const;

  Result<NodeStats> Stats();
  Result<std::vector<StoreKindInfo>> Breakdown();
  // Evicts clean RAM entries unused for `older_than_seconds`; how many went.
  Result<std::uint64_t> Evict(std::uint64_t older_than_seconds);
  // Per partition; with dry_run nothing is evicted and the counts say what would be.
  Result<std::vector<EvictionInfo>> EvictDetailed(std::uint64_t older_than_seconds, bool dry_run);
  // Checkpoints now; the checkpoint LSN.
  Result<std::uint64_t> Sync();
  // Compacts the store; its bytes on disk afterwards.
  Result<std::uint64_t> Compact();
  // The node's findings about itself (`diagnose memory`).
  Result<std::vector<records::finding>> Diagnose();
  // The data operations (code, sessions, metadata, search).
  rpc::MemoryConnection& memory();

  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  struct Impl;

 private:
  explicit NodeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai::cli
