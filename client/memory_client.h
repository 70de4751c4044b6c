// The client core: each domain operation of the engine implemented once —
// store a code file (and replace its vectors), store and index it, read it
// back by id or path, store / append / read a session's context, metadata,
// search with filters, and the operations of `memory ...`. The facade
// (include/postdevai/hybrid_memory.h) and postdevai-cli use it; each talks to
// its engine through an EnginePort.
//
// Every operation comes in two forms: with a callback (run exactly once, on
// the port's thread, or inside the call when the arguments are refused) for
// servers and hosts that must not block a thread, and returning a future
// (nothing blocks until get()). Errors name the problem: kInvalidArgument (empty path / key /
// session, embeddings of the wrong dimension or count), kNotFound ("no code
// stored for path P"), and whatever the engine answers (kTooLarge, kNoSpace,
// kUnavailable, ...). Thread-safe: methods may be called concurrently.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/engine_port.h"
#include "postdevai/hybrid_memory.h"
#include "postdevai/status.h"
#include "postdevai/records.h"

namespace postdevai::client {

template <class T>
using Future = std::future<Result<T>>;

// A code file to store, with the embeddings of its chunks (records::
// SplitIntoChunks order) when it is to be indexed; none: not indexed, and
// any vectors the path had are removed (they describe old content).
// With builtin_embedder, the client core embeds the chunks itself with the
// built-in lexical embedder (see WithLexicalEmbeddings) instead.
struct CodeFile {
  std::string path;
  std::string content;
  std::string language;
  std::vector<std::vector<float>> chunk_embeddings;
  bool builtin_embedder = false;
};

// Where a write landed.
struct Stored {
  std::string id;  // the record's id (code: CodeIdForPath(path); sessions: the session id)
  std::uint64_t lsn = 0;
};

struct SessionContext {
  std::vector<std::string> messages;
  std::uint64_t lsn = 0;
  bool served_from_ram = false;
};

class MemoryClient {
 public:
  // `info` is the engine's (its vector model and dimension): what this
  // client's vectors records carry. `reader` names this client's stream of
  // reads for the engine's prefetcher ("facade", "cli:1234", a session id).
  MemoryClient(std::shared_ptr<EnginePort> port, records::engine_info info, std::string reader);

  const records::engine_info& info() const { return info_; }
  EnginePort& port() const { return *port_; }

  // --- code ---
  // Stores (or replaces) the file; vectors the path had are removed.
  void StoreCode(CodeFile file, Reply<Stored> done);
  Future<Stored> StoreCode(CodeFile file);
  // Several files in one atomic write (one LSN), each as StoreCode stores it.
  void StoreCodeFiles(std::vector<CodeFile> files, Reply<std::uint64_t> done);
  Future<std::uint64_t> StoreCodeFiles(std::vector<CodeFile> files);
  // The file's chunks embedded with the built-in lexical embedder at the
  // engine's dimension; kInvalidArgument unless the engine's model is the
  // lexical embedder's ("lexical-v1").
  Result<CodeFile> WithLexicalEmbeddings(CodeFile file) const;
  void GetCode(std::string id, Reply<CodeRecord> done);
  Future<CodeRecord> GetCode(std::string id);
  void GetCodeByPath(std::string path, Reply<CodeRecord> done);
  Future<CodeRecord> GetCodeByPath(std::string path);
  // Deletes the file and its vectors.
  void DeleteCode(std::string path, Reply<std::uint64_t> done);
  Future<std::uint64_t> DeleteCode(std::string path);

  // --- sessions ---
  // Replaces the session's context; with embeddings (one per message) its
  // messages are indexed, with builtin_embedder they are embedded by the
  // built-in lexical embedder, without either any old message vectors go.
  void StoreContext(std::string session, std::vector<std::string> messages,
                    std::vector<std::vector<float>> message_embeddings, bool builtin_embedder, Reply<Stored> done);
  Future<Stored> StoreContext(std::string session, std::vector<std::string> messages,
                              std::vector<std::vector<float>> message_embeddings = {}, bool builtin_embedder = false);
  void GetContext(std::string session, Reply<SessionContext> done);
  Future<SessionContext> GetContext(std::string session);
  // Appends one message durably; concurrent appends are never lost.
  void AppendContext(std::string session, std::string message, Reply<records::append_result> done);
  Future<records::append_result> AppendContext(std::string session, std::string message);

  // --- metadata ---
  Future<std::uint64_t> PutMetadata(std::string key, std::string value);
  Future<records::read_result> GetMetadata(std::string key);
  // The same with a callback (run on the port's thread), for hosts that
  // build futures of their own types.
  void PutMetadata(std::string key, std::string value, Reply<std::uint64_t> done);
  void GetMetadata(std::string key, Reply<records::read_result> done);
  void DeleteMetadata(std::string key, Reply<std::uint64_t> done);
  Future<std::uint64_t> DeleteMetadata(std::string key);

  // --- search ---
  // The query must be finite and of the engine's dimension.
  void SearchSimilar(std::vector<float> query, std::size_t limit, SearchFilter filter, Reply<std::vector<SearchHit>> done);
  Future<std::vector<SearchHit>> SearchSimilar(std::vector<float> query, std::size_t limit, SearchFilter filter = {});
  // By `text`, as filter.mode says: lexical (BM25 over the code files),
  // vector (the text embedded with the built-in lexical embedder: the same
  // model check as WithLexicalEmbeddings) or hybrid (both fused; lexical
  // alone when the engine's model is not the built-in one). An empty or
  // stop-word-only text finds nothing: an empty result, not an error.
  void SearchText(std::string_view text, std::size_t limit, SearchFilter filter, Reply<std::vector<SearchHit>> done);
  Future<std::vector<SearchHit>> SearchText(std::string_view text, std::size_t limit, SearchFilter filter = {});
  // Hybrid with the caller's own query embedding (filter.mode may narrow it
  // to vector or lexical).
  void SearchHybrid(std::vector<float> query, std::string_view text, std::size_t limit, SearchFilter filter,
                    Reply<std::vector<SearchHit>> done);
  Future<std::vector<SearchHit>> SearchHybrid(std::vector<float> query, std::string_view text, std::size_t limit,
                                              SearchFilter filter = {});

  // --- operations ---
  void Stats(Reply<records::memory_report> done);
  Future<records::memory_report> Stats();
  void Breakdown(Reply<std::vector<records::store_kind_report>> done);
  Future<std::vector<records::store_kind_report>> Breakdown();
  void Evict(std::uint64_t older_than_seconds, bool dry_run, Reply<std::vector<records::eviction_result>> done);
  Future<std::vector<records::eviction_result>> Evict(std::uint64_t older_than_seconds, bool dry_run);
  void Sync(Reply<std::uint64_t> done);
  Future<std::uint64_t> Sync();
  void Compact(Reply<std::uint64_t> done);
  Future<std::uint64_t> Compact();
  // A backup now (storage/backup.h), then pruning.
  void Backup(Reply<records::backup_report> done);
  Future<records::backup_report> Backup();

 private:
  Result<records::write_batch> CodeFileMutations(CodeFile& file, records::write_batch batch) const;
  Status CheckLexicalModel(const char* what) const;
  // Every search: checks, the filters, and the hits converted.
  void Search(records::search_request request, std::size_t limit, SearchFilter filter,
              Reply<std::vector<SearchHit>> done);
  // The code record under id; with a path, only if it is that path's.
  void ReadCode(std::string id, std::optional<std::string> path, Reply<CodeRecord> done);
  Result<records::write_batch> ContextMutations(const std::string& session, const std::vector<std::string>& messages,
                                                std::vector<std::vector<float>> message_embeddings,
                                                bool builtin_embedder, std::uint64_t* sealed_segments) const;
  std::shared_ptr<EnginePort> port_;
  records::engine_info info_;
  std::string reader_;
};

// Asks the engine behind `port` for its info, then builds a client on it.
Result<std::unique_ptr<MemoryClient>> ConnectMemoryClient(std::shared_ptr<EnginePort> port, std::string reader);

}  // namespace postdevai::client
