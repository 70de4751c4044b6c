// The configuration of a PostDevAI Hybrid Memory node: the settings of
// dragon_node.toml as a plain C++ struct, plus loading, validating and printing it.
//
//   std::vector<std::string> warnings;
//   Result<HybridMemoryConfig> config = LoadConfigFile("dragon_node.toml", &warnings);
//   if (config.ok()) status = ValidateConfig(*config, &warnings);
//
// Two steps, two kinds of problem:
//   * ParseConfig / LoadConfigFile check what the file says: TOML syntax, unknown
//     keys (with the nearest valid name), types, ranges and how settings fit
//     together (partition shares add up to 100, TLS all-or-nothing, ...). They
//     look at nothing outside the text.
//   * ValidateConfig checks the config against the machine it is about to run
//     on: does the RAM-Lake fit on its RAM disk, are the persistent store and the
//     WAL on durable storage, is there disk space for the persistent budget, do
//     the TLS files exist. It repeats the checks of ParseConfig too, so a config
//     built in code gets the same scrutiny as one read from a file.
//
// Errors: a failed call returns kInvalidArgument (kNotFound / kIoError when the
// file cannot be read) whose message lists EVERY problem found, one per line, as
//   <source>:<line>:<column>: <section.key>: <what is wrong>
// (the location is left out when the setting was not written in a file, e.g. for
// EmbeddedDefaults or a config built in code). A TOML syntax error stops parsing
// at the first one. Warnings (the config works but is probably not what was
// meant) are appended to *warnings in the same format when warnings is non-null.
//
// Units: "gb", "tb" and "mb" in key names are binary units — GiB (2^30 bytes),
// TiB (2^40) and MiB (2^20) — as RAM is counted.
//
// Thread-safety: the struct is a value. Every function here is thread-safe; the
// ones that look at the machine (EmbeddedDefaults, ValidateConfig) read the
// environment and must not race with setenv().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/status.h"

namespace postdevai {

// The four kinds of data the engine keeps; each has its own RAM-Lake partition,
// eviction policy, compression level and durability.
enum class DataKind : std::uint8_t { kVectors, kCode, kHistory, kMetadata };

inline constexpr std::size_t kDataKindCount = 4;
inline constexpr std::array<DataKind, kDataKindCount> kAllDataKinds = {
    DataKind::kVectors, DataKind::kCode, DataKind::kHistory, DataKind::kMetadata};

// "vectors", "code", "history", "metadata": the names used in config keys,
// metric labels and CLI output.
constexpr std::string_view DataKindName(DataKind kind) {
  switch (kind) {
    case DataKind::kVectors: return "vectors";
    case DataKind::kCode: return "code";
    case DataKind::kHistory: return "history";
    case DataKind::kMetadata: return "metadata";
  }
  return "unknown";
}

// The inverse of DataKindName; nullopt for any other name.
constexpr std::optional<DataKind> DataKindFromName(std::string_view name) {
  for (DataKind kind : kAllDataKinds) {
    if (DataKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

// Position in arrays indexed by kind (0..kDataKindCount-1).
constexpr std::size_t DataKindIndex(DataKind kind) { return static_cast<std::size_t>(kind); }

// How persistent values are compressed.
enum class Compression : std::uint8_t { kNone, kZstd };
constexpr std::string_view CompressionName(Compression c) {
  return c == Compression::kZstd ? "zstd" : "none";
}

// Which entry a full RAM-Lake partition demotes first.
//   kLru:    least recently used.
//   kSieve:  SIEVE (NSDI'24): FIFO with a visited bit; scan-resistant, lock-light.
//   kS3Fifo: S3-FIFO (SOSP'23): small probationary FIFO + main FIFO + ghost queue;
//            keeps one-hit wonders from flushing the hot set.
enum class EvictionPolicy : std::uint8_t { kLru, kSieve, kS3Fifo };
constexpr std::string_view EvictionPolicyName(EvictionPolicy p) {
  switch (p) {
    case EvictionPolicy::kLru: return "lru";
    case EvictionPolicy::kSieve: return "sieve";
    case EvictionPolicy::kS3Fifo: return "s3fifo";
  }
  return "unknown";
}

// When a write of a kind is acknowledged.
//   kDurable: after its WAL record is on stable storage (fdatasync, group commit).
//   kRelaxed: once its WAL record is handed to the OS; the next group commit
//             makes it durable. A process crash loses nothing, a power cut can
//             lose the writes of the last sync window. Not available yet:
//             ValidateConfig refuses it, naming the key.
enum class Durability : std::uint8_t { kDurable, kRelaxed };
constexpr std::string_view DurabilityName(Durability d) {
  return d == Durability::kDurable ? "durable" : "relaxed";
}

enum class LogLevel : std::uint8_t { kTrace, kDebug, kInfo, kWarning, kError };
constexpr std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

// The compact in-RAM copy every vector keeps for the first search pass.
//   kInt8: one signed byte per dimension (scaled per vector); candidates are
//          re-ranked at full precision.
//   kNone: no compact copy; every search scans full precision.
enum class VectorQuantization : std::uint8_t { kInt8, kNone };
constexpr std::string_view VectorQuantizationName(VectorQuantization q) {
  return q == VectorQuantization::kInt8 ? "int8" : "none";
}

// One RAM-Lake partition and the per-kind storage settings: [partitions.<kind>].
struct PartitionConfig {
  std::uint32_t share_percent = 0;  // of ramlake_size_gb; the four add up to 100
  EvictionPolicy eviction = EvictionPolicy::kLru;
  int zstd_level = 3;  // 1..19; used when compression is zstd
  Durability durability = Durability::kDurable;  // history is always durable

  bool operator==(const PartitionConfig&) const = default;
};

struct WalConfig {
  std::string path;  // empty: <persistent_path>/wal (see HybridMemoryConfig::WalPath)
  std::uint32_t segment_size_mb = 64;
  // At a checkpoint, segments wholly before the checkpoint LSN are moved to
  // the archive in the backup location (HybridMemoryConfig::WalArchivePath:
  // point-in-time recovery from a backup) when true, deleted when false.
  // The archive keeps only what the kept backups need.
  bool archive = true;
  // Most records one fdatasync may cover (group commit).
  std::uint32_t group_commit_max_batch = 256;
  // Writes to kinds with durability "relaxed" are acknowledged once their
  // WAL record is buffered and synced at most this many milliseconds later:
  // the most a crash of the node can lose of them.
  std::uint32_t relaxed_sync_ms = 20;

  bool operator==(const WalConfig&) const = default;
};

// The node on the network: where its doors listen and who may come in.
// The gRPC API (postdevai.memory.v1, every client: the CLI, Python, ...) is
// served at address:port; the CAF endpoint ([caf]) on the same address.
struct NodeConfig {
  std::string address = "127.0.0.1";  // the interface both doors listen on
  std::uint16_t port = 4710;          // the gRPC API; 0: any free port
  // TLS (PEM files): certificate + key; with ca_file too, mutual TLS (a
  // client must present a certificate that CA signed). All empty: plaintext.
  std::string certificate;
  std::string key;
  std::string ca_file;
  // Plaintext is accepted on loopback addresses only, unless insecure is true.
  bool insecure = false;
  // A file (mode 0600 or stricter, owned by the node's user) holding an
  // access token every gRPC call must carry ("authorization: Bearer TOKEN");
  // empty: no token asked.
  std::string token_file;

  bool operator==(const NodeConfig&) const = default;
};

// Limits of the gRPC API: what one peer can make the node hold or wait for.
struct GrpcConfig {
  std::uint32_t max_message_mb = 80;          // largest request or reply (a value is at most 64 MiB)
  std::uint32_t max_concurrent_streams = 100;  // calls in flight per connection
  std::uint32_t max_connections = 2048;       // open connections; the newest beyond it are ended
  std::uint32_t memory_mb = 512;              // what all connections together may hold
  std::uint32_t idle_timeout_seconds = 300;   // a connection with no call this long is closed
  std::uint32_t handshake_timeout_seconds = 10;  // to finish TCP + TLS + HTTP/2 set-up
  std::uint32_t deadline_seconds = 120;       // longest a call may run (a shorter client deadline wins)

  bool operator==(const GrpcConfig&) const = default;
};

// The CAF remote-actor endpoint, for actor-native C++ hosts and other nodes:
// the public protocol (engine_actor) only. Off by default. When on, it needs
// mutual TLS (node.certificate, node.key and node.ca_file), except on a
// loopback address with insecure = true.
struct CafEndpointConfig {
  bool enabled = false;
  std::uint16_t port = 4711;  // 0: any free port
  bool insecure = false;      // plaintext on loopback

  bool operator==(const CafEndpointConfig&) const = default;
};

// Whether `address` is a loopback address: "localhost", an IPv4 address in
// 127.0.0.0/8 or "::1" (a host name that merely starts with "127." is not).
bool IsLoopbackAddress(std::string_view address);

// Prometheus text exposition over HTTP.
struct MetricsConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";
  std::uint16_t port = 9464;  // 0: any free port

  bool operator==(const MetricsConfig&) const = default;
};

struct LoggingConfig {
  std::string file;  // empty: stderr
  LogLevel level = LogLevel::kInfo;

  bool operator==(const LoggingConfig&) const = default;
};

struct VectorsConfig {
  std::uint32_t dimension = 384;
  // The embedding model new vectors come from; a query naming another model is refused.
  std::string model = "lexical-v1";
  VectorQuantization quantization = VectorQuantization::kInt8;
  // How many best candidates of the quantized pass are re-ranked at full precision.
  std::uint32_t rerank_candidates = 100;
  // From this many vectors on, searches walk the HNSW graph (always kept up
  // to date); below it they scan the int8 copies, as fast and exact there.
  std::uint32_t graph_min_vectors = 10000;

  bool operator==(const VectorsConfig&) const = default;
};

struct SearchConfig {
  // Keep a BM25 index of every stored code file (in RAM, rebuilt from the
  // store at start-up) for lexical and hybrid search. Off: text searches
  // rank by vector only, and lexical mode is refused.
  bool lexical_index = true;

  bool operator==(const SearchConfig&) const = default;
};

struct TieringConfig {
  // A cold item read this many times within hot_retention_hours is promoted to RAM.
  std::uint32_t promote_after_hits = 2;
  // How often the tiering supervisor runs a promote/demote pass.
  std::uint32_t pass_interval_seconds = 10;
  // Warm the RAM-Lake with items the co-access model predicts.
  bool prefetch = true;

  bool operator==(const TieringConfig&) const = default;
};

// Where `memory backup` will write. Not available yet: a non-empty path is
// refused by ValidateConfig until backups land.
struct BackupConfig {
  std::string path;  // empty: <persistent_path>/backups (see HybridMemoryConfig::BackupPath)
  std::uint32_t interval_hours = 0;  // 0: backups only on demand (`memory backup`)
  std::uint32_t keep = 7;            // backups kept; older ones are pruned after each backup

  bool operator==(const BackupConfig&) const = default;
};

// Async replication ([replication]): a primary streams its WAL to replicas
// over its gRPC API (rpc/replication_service.h); a replica follows one
// primary, serves reads and refuses writes until promoted.
enum class ReplicationRole : std::uint8_t { kNone, kPrimary, kReplica };
constexpr std::string_view ReplicationRoleName(ReplicationRole r) {
  return r == ReplicationRole::kPrimary ? "primary" : r == ReplicationRole::kReplica ? "replica" : "none";
}
struct ReplicationConfig {
  ReplicationRole role = ReplicationRole::kNone;
  std::string primary;           // a replica's primary: "host:port" of its gRPC API
  std::uint32_t buffer_mb = 64;  // the newest durable WAL a primary keeps in RAM for its replicas

  bool operator==(const ReplicationConfig&) const = default;
};

// 1-based line and column of a key in its source; 0 when unknown.
struct SourcePosition {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// Where a config's settings were written, for error messages. Filled by
// ParseConfig; empty for EmbeddedDefaults() and configs built in code.
struct ConfigOrigin {
  std::string source_name;  // the file or name given to ParseConfig
  // "hybrid_memory.ramlake_size_gb" -> where that key was written.
  std::map<std::string, SourcePosition, std::less<>> positions;

  // Provenance is not part of a config's value: configs with the same settings
  // are equal wherever they came from.
  friend bool operator==(const ConfigOrigin&, const ConfigOrigin&) { return true; }
};

// Everything dragon_node.toml can say. A default-constructed value holds the
// machine-independent defaults and no paths (it does not validate); start from
// EmbeddedDefaults() for a config that runs.
struct HybridMemoryConfig {
  // [hybrid_memory] — the keys of the original design.
  double ramlake_size_gb = 1.0;   // the hot tier, GiB
  std::string ramlake_path;       // directory of the partition files; a RAM disk
  double persistent_size_tb = 0.0625;  // budget of the cold tier, TiB
  std::string persistent_path;    // LevelDB, WAL archive, backups; a real disk
  Compression compression = Compression::kZstd;
  std::uint32_t cache_size_mb = 256;        // LevelDB block cache
  std::uint32_t hot_retention_hours = 24;   // untouched this long => may be demoted
  std::uint32_t sync_interval_minutes = 5;  // checkpoint interval
  std::uint64_t max_ram_entries = 1'000'000;

  // [partitions.<kind>], indexed by DataKindIndex(); see partition().
  std::array<PartitionConfig, kDataKindCount> partitions = {
      PartitionConfig{30}, PartitionConfig{40}, PartitionConfig{20}, PartitionConfig{10}};

  WalConfig wal;                  // [wal]
  NodeConfig node;                // [node]
  GrpcConfig grpc;                // [grpc]
  CafEndpointConfig caf;          // [caf]
  MetricsConfig metrics;          // [metrics]
  LoggingConfig logging;          // [logging]
  VectorsConfig vectors;          // [vectors]
  SearchConfig search;            // [search]
  TieringConfig tiering;          // [tiering]
  BackupConfig backup;            // [backup]
  ReplicationConfig replication;  // [replication]

  ConfigOrigin origin;

  PartitionConfig& partition(DataKind kind) { return partitions[DataKindIndex(kind)]; }
  const PartitionConfig& partition(DataKind kind) const { return partitions[DataKindIndex(kind)]; }

  // Sizes in bytes (rounded down).
  std::uint64_t RamLakeBytes() const;
  std::uint64_t PartitionBytes(DataKind kind) const;  // its share of RamLakeBytes()
  std::uint64_t PersistentBytes() const;
  std::uint64_t CacheBytes() const;
  std::uint64_t WalSegmentBytes() const;
  // The effective directories: the configured one, or the default beneath
  // persistent_path when it is empty (so changing persistent_path moves them).
  std::string WalPath() const;     // wal.path or <persistent_path>/wal
  std::string BackupPath() const;  // backup.path or <persistent_path>/backups
  // <BackupPath()>/wal: where checkpointed WAL segments go when wal.archive,
  // pruned to what the kept backups need (storage/backup.h).
  std::string WalArchivePath() const;

  bool operator==(const HybridMemoryConfig&) const = default;
};

// Reads and parses the TOML file at path (see ParseConfig). Errors name `path`
// as given. kNotFound / kIoError when the file cannot be read.
Result<HybridMemoryConfig> LoadConfigFile(const std::string& path,
                                          std::vector<std::string>* warnings);

// Parses dragon_node.toml text. Every key is optional: unset keys keep
// EmbeddedDefaults() (wal.path and backup.path stay empty, i.e. follow
// persistent_path). source_name names the text in messages and in the
// result's origin. Reads no files (only the machine facts of EmbeddedDefaults).
Result<HybridMemoryConfig> ParseConfig(std::string_view toml_text, const std::string& source_name,
                                       std::vector<std::string>* warnings);

// Defaults that fit the machine this runs on:
//   ramlake_size_gb:  min(MemTotal / 8, 50% of /dev/shm), at least 64 MiB (total, not
//                     free, memory: the same size at every start, so files re-attach);
//   ramlake_path:     /dev/shm/postdevai-<user>/ramlake (when /dev/shm can hold
//                     the 64 MiB minimum in half of it), else <data dir>/ramlake;
//   persistent_path:  the data dir, $XDG_DATA_HOME/postdevai or
//                     ~/.local/share/postdevai; WAL and backups beneath it;
//   persistent_size_tb: half the free space there, at most 1 TiB, at least 1 GiB;
//   cache_size_mb:    MemTotal / 64, 8..2048 MiB;
//   max_ram_entries:  one per 4 KiB of RAM-Lake, at least 16384.
// Looks at the machine; creates nothing.
HybridMemoryConfig EmbeddedDefaults();

// Checks `config` against this machine (see the top of this file); creates nothing.
// ok, or kInvalidArgument listing every problem.
Status ValidateConfig(const HybridMemoryConfig& config, std::vector<std::string>* warnings);

// The config as TOML text, every setting written out (the effective config).
// For any c without content errors, ParseConfig(FormatConfig(c)) == c.
std::string FormatConfig(const HybridMemoryConfig& config);

}  // namespace postdevai
