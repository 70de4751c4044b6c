// The public protocol as a C++ interface with no transport in it: the verbs
// of engine_actor (actors/interfaces.h), each answered through a callback.
// The client core (client/memory_client.h) is written against this, once;
// a port carries the verbs to an engine — in this process or on a node —
// over CAF today (actors/actor_port.h), over gRPC later.
//
// Contract for implementations: every call eventually invokes `done` exactly
// once, on some thread of the port's (never inside the call for a remote
// engine; possibly inside it for an argument the port refuses), with the
// engine's reply or an error Status naming the problem. Thread-safe: calls
// may come from any thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "postdevai/status.h"
#include "postdevai/records.h"

namespace postdevai::client {

template <class T>
using Reply = std::function<void(Result<T>)>;

class EnginePort {
 public:
  virtual ~EnginePort() = default;

  virtual void Write(records::write_batch batch, Reply<std::uint64_t> done) = 0;
  // `reader` names the stream of reads the engine's prefetcher learns from.
  virtual void Read(DataKind kind, std::string key, std::string reader, Reply<records::read_result> done) = 0;
  virtual void Append(std::string session, std::string message, Reply<records::append_result> done) = 0;
  virtual void Search(records::search_request request, Reply<std::vector<records::search_hit>> done) = 0;
  virtual void Stats(Reply<records::memory_report> done) = 0;
  virtual void Breakdown(Reply<std::vector<records::store_kind_report>> done) = 0;
  virtual void Evict(std::uint64_t older_than_seconds, bool dry_run,
                     Reply<std::vector<records::eviction_result>> done) = 0;
  virtual void Sync(Reply<std::uint64_t> done) = 0;
  virtual void Compact(Reply<std::uint64_t> done) = 0;
  virtual void Backup(Reply<records::backup_report> done) = 0;
  virtual void Info(Reply<records::engine_info> done) = 0;
};

}  // namespace postdevai::client
