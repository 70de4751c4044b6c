// PostDevAI Hybrid Memory for hosts without actors: a blocking facade, with
// std::future variants for hosts that want to overlap calls.
//
// HybridMemory runs its own CAF actor system (worker threads ≤ cores) and the
// engine inside it (see actors/engine.h). Every call is a message to the
// engine's controller: writes return once durable (WAL fsync, group-committed
// with concurrent writers) and visible to every later read.
//
// Errors are values that name the problem: kNotFound (unknown id or key),
// kInvalidArgument (empty key, bad argument), kTooLarge (value over the limit),
// kNoSpace / kIoError (the disk), kUnavailable (the engine has stopped).
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai {

struct CodeRecord {
  std::string id;        // stable: derived from the path (see CodeIdForPath)
  std::string path;
  std::string language;
  std::string content;
  std::uint64_t lsn = 0;        // the write that stored it
  bool served_from_ram = false;
};

struct PartitionStats {
  std::string kind;             // "vectors", "code", "history", "metadata"
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t budget_bytes = 0;
  std::uint64_t hits = 0, misses = 0, evictions = 0;
  std::uint64_t restarts = 0;
  std::string eviction_policy;
  // Durability ("durable" or "relaxed") and, for relaxed kinds, what a crash
  // of the process would lose now: bytes of acknowledged writes not yet
  // durable, and the age of the oldest of them (bounded by relaxed_sync_ms).
  std::string durability;
  std::uint64_t unsynced_bytes = 0;
  double unsynced_seconds = 0;
};

struct MemoryStats {
  std::vector<PartitionStats> partitions;
  std::uint64_t reads = 0, writes = 0, ram_hits = 0, disk_reads = 0, promotions = 0;
  std::uint64_t prefetches = 0, prefetch_hits = 0;
  std::uint64_t durable_lsn = 0, applied_lsn = 0, checkpoint_lsn = 0;
  double sync_lag_seconds = 0;
  std::uint64_t wal_segments = 0, wal_bytes = 0, wal_syncs = 0;
  double hit_rate() const { return reads == 0 ? 0.0 : static_cast<double>(ram_hits) / static_cast<double>(reads); }
};

// One result of a similarity search: a chunk of a stored file, or a message
// of a session's context.
// A backup Backup() made (storage/backup.h has the layout).
struct BackupInfo {
  std::string path;        // its directory in the backup location
  std::uint64_t lsn = 0;   // it holds every write up to this LSN
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
};

struct SearchHit {
  enum class Owner : std::uint8_t { kCodeChunk, kHistoryMessage };
  Owner owner = Owner::kCodeChunk;
  std::string id;        // code chunks: the file's code id (GetCode(id) returns it)
  std::string path;      // code chunks
  std::uint32_t chunk = 0;  // the chunk of the file, or the message of the session (in the order given)
  std::string language;  // code chunks
  std::string session;   // history messages
  // Higher is better. Vector mode: cosine similarity; lexical: BM25;
  // hybrid: reciprocal rank fusion of both rankings.
  float score = 0;
  // Lexical and hybrid modes (one hit per file): the best chunk's lines,
  // 1-based and inclusive (0: unknown), and each part's own score (0: that
  // part did not find the file).
  std::uint32_t first_line = 0;
  std::uint32_t last_line = 0;
  float vector_score = 0;
  float lexical_score = 0;
};

// How a text search ranks: hybrid (the default) fuses the lexical index's
// BM25 ranking of files with the vector index's, one result per file; vector
// ranks chunks by embedding similarity only; lexical by BM25 only.
enum class SearchMode : std::uint8_t { kHybrid, kVector, kLexical };

struct SearchFilter {
  enum class Owner : std::uint8_t { kAny, kCodeChunks, kHistoryMessages };
  Owner owner = Owner::kAny;
  std::string path_prefix;  // empty: any path
  std::string language;     // empty: any language
  std::string session;      // empty: any session
  bool exact = false;       // score every vector at full precision (slower)
  SearchMode mode = SearchMode::kHybrid;  // SearchText and SearchHybrid (SearchSimilar ranks by vector)
};

// The id StoreCode gives a path: 32 hex digits, the first 128 bits of the
// path's SHA-256. A cryptographic hash, so that no one can craft a path whose
// record overwrites another file's (stores written before used a 64-bit FNV
// hash of 16 hex digits; they are moved to these ids when opened).
std::string CodeIdForPath(std::string_view path);

class HybridMemory {
 public:
  // Recovers the data under the config's paths and starts the engine.
  static Result<std::unique_ptr<HybridMemory>> Open(const HybridMemoryConfig& config);
  // Checkpoints and stops the engine.
  ~HybridMemory();

  // Stores (or replaces) the file at path; returns its id. Vectors the path
  // had describe the old content and are removed.
  Result<std::string> StoreCode(std::string_view path, std::string_view content, std::string_view language);
  Result<CodeRecord> GetCode(std::string_view id);
  Result<CodeRecord> GetCodeByPath(std::string_view path);
  // Deletes the file and its vectors.
  Status DeleteCode(std::string_view path);

  // Stores the file and the embeddings of its chunks (one vector per chunk,
  // in chunk order) in one durable write, replacing what the path had; the
  // vectors are found by the first search after it returns. The vectors must
  // be of the node's [vectors] model and dimension and finite, or the call
  // fails with kInvalidArgument naming the difference and nothing is stored.
  Result<std::string> StoreAndIndexCode(std::string_view path, std::string_view content, std::string_view language,
                                        const std::vector<std::vector<float>>& chunk_embeddings);
  // The same with the built-in lexical embedder (model "lexical-v1"): the
  // file is split into chunks of about 1.5 KiB at line ends and each chunk
  // embedded. For nodes whose [vectors] model is lexical-v1.
  Result<std::string> StoreAndIndexCodeLexical(std::string_view path, std::string_view content,
                                               std::string_view language);
  // The stored chunks nearest to `query_embedding` (a vector of the node's
  // model), best first, across RAM and disk.
  Result<std::vector<SearchHit>> SearchSimilar(const std::vector<float>& query_embedding, std::size_t limit,
                                               const SearchFilter& filter = {});
  // Searches by `text` as filter.mode says: hybrid (default) and vector embed
  // it with the built-in lexical embedder when that is the engine's model
  // (vector mode requires it; hybrid is lexical-only without it).
  Result<std::vector<SearchHit>> SearchText(std::string_view text, std::size_t limit, const SearchFilter& filter = {});
  // Hybrid search for hosts that bring their own embeddings: the query
  // embedding for the vector side, the text for the lexical side.
  Result<std::vector<SearchHit>> SearchHybrid(const std::vector<float>& query_embedding, std::string_view text,
                                              std::size_t limit, const SearchFilter& filter = {});

  // Replaces a session's context with `messages`; durable when it returns.
  // The session's message vectors, if it had any, go with the old messages.
  Status StoreContext(std::string_view session_id, const std::vector<std::string>& messages);
  // The same, with one embedding per message (in order) for SearchSimilar;
  // the same checks as StoreAndIndexCode.
  Status StoreContextAndIndex(std::string_view session_id, const std::vector<std::string>& messages,
                              const std::vector<std::vector<float>>& message_embeddings);
  Result<std::vector<std::string>> GetContext(std::string_view session_id);
  // Appends one message to a session's context, durably; returns how many
  // messages the session has now. Concurrent appends to one session are
  // applied one after another: none is lost. (Not indexed for search.)
  Result<std::uint64_t> AppendContext(std::string_view session_id, std::string_view message);

  Status PutMetadata(std::string_view key, std::string_view value);
  Result<std::string> GetMetadata(std::string_view key);
  Status DeleteMetadata(std::string_view key);

  // Async forms: the future is fulfilled on an engine thread.
  std::future<Result<std::string>> GetMetadataAsync(std::string_view key);
  std::future<Status> PutMetadataAsync(std::string_view key, std::string_view value);

  Result<MemoryStats> Stats();
  // Evicts from RAM every clean entry unused for `age`; returns how many.
  Result<std::uint64_t> EvictColderThan(std::chrono::seconds age);
  // Checkpoint now; returns the checkpoint LSN.
  Result<std::uint64_t> Sync();
  // Compacts the store; returns the bytes it takes on disk afterwards.
  Result<std::uint64_t> Compact();
  // A consistent backup into the config's backup location ([backup] path)
  // while writes go on, then older backups pruned to [backup] keep and the
  // WAL archive to what the kept ones need. Restore with
  // `dragon_node --restore`.
  Result<BackupInfo> Backup();

  HybridMemory(const HybridMemory&) = delete;
  HybridMemory& operator=(const HybridMemory&) = delete;

  struct Impl;

 private:
  explicit HybridMemory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai
