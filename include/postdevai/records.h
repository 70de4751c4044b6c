// The vocabulary of the engine's public protocol: what a write carries, what
// a read, a search or a report returns. Plain structs with no CAF in them, so
// the client core, the CLI and the facade use them without the actor
// headers; postdevai/engine_protocol.h makes them CAF messages (inspect
// overloads and type IDs) for actor-native hosts and CAF peers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "postdevai/config.h"

namespace postdevai::records {

// Limits every entry point enforces before it allocates or forwards anything.
inline constexpr std::size_t kMaxKeyBytes = 4096;
inline constexpr std::uint32_t kMaxSearchResults = 10000;
inline constexpr std::size_t kMaxSearchTextBytes = 64 << 10;  // the text of a lexical or hybrid search
inline constexpr std::size_t kMaxReaderBytes = 256;          // longer reader labels are cut
inline constexpr std::size_t kMaxQueuedAppendsPerSession = 1024;

// One change: a put (value) or a delete, of one key of one kind.
struct mutation {
  DataKind kind = DataKind::kMetadata;
  std::string key;
  std::string value;
  bool erase = false;
};

inline mutation MakePut(DataKind kind, std::string key, std::string value) {
  return mutation{kind, std::move(key), std::move(value), false};
}
inline mutation MakeDelete(DataKind kind, std::string key) { return mutation{kind, std::move(key), {}, true}; }

// Mutations applied atomically under one LSN.
struct write_batch {
  std::vector<mutation> mutations;
};

// Where a read was served from.
enum class tier : std::uint8_t { ram = 0, disk = 1 };

struct read_result {
  std::string value;
  std::uint64_t lsn = 0;
  tier served_from = tier::ram;
};

// A message appended to a session's context: the write's LSN and how many
// messages the session holds now.
struct append_result {
  std::uint64_t lsn = 0;
  std::uint64_t messages = 0;
};

// Statistics of one RAM-Lake partition.
struct partition_report {
  DataKind kind = DataKind::kVectors;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;         // live bytes in the file
  std::uint64_t budget_bytes = 0;  // usable bytes
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t dirty_entries = 0;
  std::uint64_t persisted_lsn = 0;
  std::uint64_t restarts = 0;
  std::uint64_t max_record_bytes = 0;  // larger values are never cached in RAM
  std::uint64_t uncached_writes = 0;   // writes RAM refused (too large, or all dirty)
  std::uint64_t promotions = 0;        // values loaded from the store that landed in RAM
  bool ready = false;              // false while re-attaching after a restart
  std::string eviction_policy;
  std::string file;
  // Vectors partition: the search index in RAM (int8 copies, attributes,
  // graph), over both tiers' vectors.
  std::uint64_t index_vectors = 0;
  std::uint64_t index_bytes = 0;
  std::uint64_t index_graph_bytes = 0;
  // Code and history partitions: the lexical (BM25) index in RAM, over both
  // tiers: its units (code files, or session messages) and bytes.
  std::uint64_t text_index_units = 0;
  std::uint64_t text_index_bytes = 0;
};

// What an eviction from one partition took (or, in a dry run, would take).
struct eviction_result {
  DataKind kind = DataKind::kVectors;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// Statistics of one kind in the persistent store.
struct store_kind_report {
  DataKind kind = DataKind::kVectors;
  std::uint64_t entries = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t disk_bytes = 0;
  std::uint32_t dictionary_id = 0;
};

// The journal's and the sync timer's view.
struct sync_report {
  std::uint64_t durable_lsn = 0;
  std::uint64_t applied_lsn = 0;     // applied to the store
  std::uint64_t checkpoint_lsn = 0;
  double seconds_since_checkpoint = 0;  // sync_lag_seconds
  std::uint64_t wal_segments = 0;
  std::uint64_t wal_bytes = 0;       // appended since start
  std::uint64_t wal_syncs = 0;
  std::uint64_t wal_records = 0;
  std::uint64_t wal_live_bytes = 0;  // bytes of records in live segments (the backlog)
  std::uint64_t checkpoints = 0;
  // The store's side (O(1) figures, for metrics).
  std::uint64_t store_disk_bytes = 0;      // LevelDB's estimate
  std::uint64_t store_raw_bytes = 0;       // value bytes written since start
  std::uint64_t store_encoded_bytes = 0;   // the same, compressed, as stored
  // Relaxed durability (the RPO view): which kinds are relaxed (bit k: kind
  // k), the window within which their writes are synced, and, indexed by
  // kind, the bytes of acknowledged writes not yet durable (as logged: keys
  // and compressed values) and the age of the
  // oldest of them in microseconds: what a crash of the node would lose now.
  std::uint32_t relaxed_kinds = 0;
  std::uint64_t relaxed_sync_ms = 0;
  std::vector<std::uint64_t> unsynced_bytes;
  std::vector<std::uint64_t> unsynced_micros;
  std::uint64_t lost_relaxed_writes = 0;  // relaxed writes a failed sync lost since start
  // Non-empty while the store cannot apply acknowledged writes (a full disk,
  // an I/O error): its last error. The writes wait, safe in the WAL.
  std::string store_error;
  // Backups and the WAL archive ([backup] path): the archive's segments and
  // bytes, the age of its oldest segment, the complete backups there, and
  // the newest one's LSN and age (0: none). backup_error: the last failure
  // of a scheduled backup or of archive pruning, empty when none.
  std::string backup_path;
  std::uint64_t archive_segments = 0;
  std::uint64_t archive_bytes = 0;
  double archive_oldest_age_seconds = 0;
  std::uint64_t backups = 0;
  std::uint64_t last_backup_lsn = 0;
  double last_backup_age_seconds = 0;
  std::string backup_error;
};

// A backup the node just made (`memory backup`).
struct backup_report {
  std::string path;      // the backup's directory
  std::string store;     // the store's id and epoch, "<hex id>/epoch <n>"
  std::uint64_t lsn = 0; // the checkpoint it holds everything up to
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  std::uint64_t pruned_backups = 0;   // older backups removed ([backup] keep)
  std::uint64_t pruned_segments = 0;  // archived WAL segments no backup needs any more
};

// Request latencies seen by the controller, as cumulative histogram counts:
// buckets[i] counts requests that took at most kLatencyBoundsMicros[i] (the
// last bucket: longer than all of them).
inline constexpr std::array<std::uint64_t, 14> kLatencyBoundsMicros = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000};
struct latency_histogram {
  std::vector<std::uint64_t> buckets = std::vector<std::uint64_t>(kLatencyBoundsMicros.size() + 1, 0);
  double sum_seconds = 0;
  std::uint64_t count = 0;
  void Add(std::uint64_t micros) {
    std::size_t i = 0;
    while (i < kLatencyBoundsMicros.size() && micros > kLatencyBoundsMicros[i]) ++i;
    ++buckets[i];
    sum_seconds += static_cast<double>(micros) / 1e6;
    ++count;
  }
  // The q-quantile's bucket bound in seconds: the quantile took at most this
  // long. Negative when it fell in the last, unbounded bucket (or no requests).
  double QuantileAtMostSeconds(double q) const {
    if (count == 0) return -1;
    const double target = q * static_cast<double>(count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (static_cast<double>(seen) >= target) {
        return i < kLatencyBoundsMicros.size() ? static_cast<double>(kLatencyBoundsMicros[i]) / 1e6 : -1.0;
      }
    }
    return -1;
  }
};

// Everything `memory stats` shows.
struct memory_report {
  std::vector<partition_report> partitions;
  sync_report sync;
  std::uint64_t reads = 0, writes = 0, ram_hits = 0, disk_reads = 0, promotions = 0;
  std::uint64_t prefetches = 0, prefetch_hits = 0;
  bool prefetch_enabled = false;
  latency_histogram read_latency, write_latency;
  std::uint64_t errors = 0;  // requests answered with an error
};

// Who owns a vector: a chunk of a code file or a message of a session.
// any: no filter (search requests only).
enum class vector_owner : std::uint8_t { code_chunk = 0, history_message = 1, any = 255 };

// How a search ranks: by vector similarity to `query` (chunks, possibly
// several of one file), by BM25 over `text` in the lexical index of code
// files (one result per file), or both fused (hybrid: one result per file or
// session message; `query` may be empty, then it is lexical).
enum class search_mode : std::uint8_t { vector = 0, lexical = 1, hybrid = 2 };

// A search. metric: 0 inner product, 1 squared L2, 2 cosine
// (simd::VectorMetric).
struct search_request {
  std::vector<float> query;
  std::string text;  // lexical and hybrid modes
  search_mode mode = search_mode::vector;
  std::string model;
  std::uint32_t k = 10;
  std::uint8_t metric = 2;
  bool exact = false;
  vector_owner owner = vector_owner::any;
  std::string path_prefix;
  std::string language;
  std::string session;
};

struct search_hit {
  std::uint64_t id = 0;
  std::string path;      // code chunks
  std::uint32_t chunk = 0;  // chunk of the file, or message of the session
  std::string language;
  std::string session;   // history messages
  float score = 0;       // vector: similarity; lexical: BM25; hybrid: the fused rank score
  // Lexical and hybrid modes: the chunk's lines (1-based, inclusive; 0 when
  // unknown) and each part's own score (0: that part did not find it).
  std::uint32_t first_line = 0;
  std::uint32_t last_line = 0;
  float vector_score = 0;
  float lexical_score = 0;
};

// One finding of `diagnose memory`: a check, how it went ("ok", "unknown",
// "warning" or "critical"), what was seen (with the numbers) and what to do.
struct finding {
  std::string check;
  std::string status;
  std::string seen;
  std::string action;  // empty: nothing to do
};

// What a client needs to know about the engine it talks to.
struct engine_info {
  std::string vector_model;         // [vectors] model: what stored vectors must carry
  std::uint32_t vector_dimension = 0;
  std::uint64_t max_value_bytes = 0;  // larger values are refused (kTooLarge)
};

}  // namespace postdevai::records
