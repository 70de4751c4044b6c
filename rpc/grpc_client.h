// A C++ client of the gRPC API (postdevai.memory.v1): what postdevai-cli
// and postdevai-bench use to reach a node. Each call blocks until the node
// answers or the timeout passes. A thin transport: the operations' logic
// (code ids, chunking, vectors, checks) runs in the node's client core.
//
// Errors: the node's own (kNotFound, kInvalidArgument, kTooLarge, kNoSpace,
// ...) come back with the node's message; failures of the connection are
// kUnavailable naming the node ("node 127.0.0.1:4710 is not reachable").
// Thread-safety: calls may come from several threads concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/memory_client.h"
#include "postdevai/hybrid_memory.h"
#include "postdevai/records.h"
#include "postdevai/status.h"

namespace postdevai::memory::v1 {
class GetCodeRequest;
}  // namespace postdevai::memory::v1

namespace postdevai::rpc {

struct ConnectionOptions {
  std::string host;
  std::uint16_t port = 0;
  // TLS when any of these is set: ca_file verifies the node's certificate
  // (empty: the system's roots); certificate + key are this client's, for a
  // node that asks for mutual TLS.
  std::string ca_file;
  std::string certificate;
  std::string key;
  // The name the node's certificate must carry; empty: host.
  std::string tls_server_name;
  // Sent as "authorization: Bearer TOKEN" when not empty.
  std::string token;
  // How long one call may take; zero waits forever.
  std::chrono::seconds timeout{120};
  // Where a caller's -v goes (connect, each call, its outcome and time); null: quiet.
  std::function<void(const std::string&)> log;
};

// A node's replication (ReplicationStatusReply in memory.proto).
struct ReplicationInfo {
  std::string role, state, primary, error, fenced, store;
  std::uint64_t durable_lsn = 0, primary_durable_lsn = 0, lag_lsns = 0, lag_bytes = 0;
  double lag_seconds = 0, last_heard_seconds = -1;
  std::uint64_t records_received = 0, bytes_received = 0, reconnects = 0, replicas = 0, buffer_bytes = 0;
};
struct PromotionInfo {
  std::string store;          // id and new epoch
  std::uint64_t first_lsn = 0;  // the new epoch's first LSN
};

// What a streamed ingest stored.
struct IngestSummary {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t batches = 0;
  std::uint64_t last_lsn = 0;
  struct Refused {
    std::string path;
    std::string reason;
  };
  std::vector<Refused> refused;
};

class MemoryConnection {
 public:
  // Connects and asks the node for its info (model, dimension, limits).
  static Result<std::unique_ptr<MemoryConnection>> Connect(const ConnectionOptions& options);
  ~MemoryConnection();

  // "host:port".
  const std::string& endpoint() const;
  const records::engine_info& info() const;

  Result<client::Stored> StoreCode(const client::CodeFile& file);
  // Streams files to the node (IngestCode): `next` fills the next one and
  // returns true, or returns false when there are no more. Files the node
  // refuses (too large, bad embeddings) are listed in the summary.
  Result<IngestSummary> IngestCode(const std::function<bool(client::CodeFile*)>& next);
  Result<CodeRecord> GetCode(const std::string& id);
  Result<CodeRecord> GetCodeByPath(const std::string& path);
  Result<std::uint64_t> DeleteCode(const std::string& path);

  Result<std::uint64_t> StoreContext(const std::string& session, const std::vector<std::string>& messages,
                                     const std::vector<std::vector<float>>& embeddings = {},
                                     bool builtin_embedder = false);
  Result<records::append_result> AppendContext(const std::string& session, const std::string& message);
  Result<client::SessionContext> GetContext(const std::string& session);

  Result<std::uint64_t> PutMetadata(const std::string& key, const std::string& value);
  Result<records::read_result> GetMetadata(const std::string& key);
  Result<std::uint64_t> DeleteMetadata(const std::string& key);

  Result<std::vector<SearchHit>> SearchSimilar(const std::vector<float>& query, std::size_t limit,
                                               const SearchFilter& filter = {});
  Result<std::vector<SearchHit>> SearchText(const std::string& text, std::size_t limit,
                                            const SearchFilter& filter = {});

  Result<records::memory_report> Stats();
  Result<std::vector<records::store_kind_report>> Breakdown();
  Result<std::vector<records::eviction_result>> Evict(std::uint64_t older_than_seconds, bool dry_run);
  Result<std::uint64_t> Sync();
  Result<std::uint64_t> Compact();
  // `memory backup`: a backup now, then pruning.
  Result<records::backup_report> Backup();
  // Replication: the node's role and, for a replica, its lag; and a
  // replica's promotion (rpc/replication.h).
  Result<ReplicationInfo> ReplicationStatus();
  Result<PromotionInfo> Promote();
  Result<std::vector<records::finding>> Diagnose();

  MemoryConnection(const MemoryConnection&) = delete;
  MemoryConnection& operator=(const MemoryConnection&) = delete;

  struct Impl;

 private:
  explicit MemoryConnection(std::unique_ptr<Impl> impl);
  Result<CodeRecord> GetCode(const memory::v1::GetCodeRequest& request);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai::rpc
