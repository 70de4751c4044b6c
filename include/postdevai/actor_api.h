// PostDevAI Hybrid Memory for hosts that run their own caf::actor_system.
//
// The engine's actors (controller, journal, store, four RAM-Lake partitions,
// supervisor, prefetcher, sync timer) are spawned into the HOST's actor
// system, and the host talks to the engine with typed requests of the public
// protocol (engine_actor): the same verbs a remote peer has, and nothing of
// the engine's internals.
// Hosts without actors use include/postdevai/hybrid_memory.h instead.
//
// Unlike the rest of include/postdevai/, this header exposes CAF types on
// purpose: it is for actor-native hosts. It is deliberately thin: the typed
// interface is engine_actor in postdevai/engine_protocol.h (one comment per
// handler), the messages are postdevai/records.h; this header re-exports what
// a host needs from them under namespace postdevai and adds the start/stop
// handle.
//
// A host, step by step:
//
//   caf::actor_system_config cfg;
//   postdevai::ConfigureActorSystem(cfg);   // message types; workers <= cores
//   caf::actor_system sys{cfg};
//   auto engine = postdevai::StartHybridMemory(sys, config);   // blocks: recovery
//   if (!engine.ok()) return Fail(engine.status().ToString());
//   postdevai::engine_actor memory = (*engine)->engine();
//
//   sys.spawn([memory](caf::event_based_actor* self) {
//     postdevai::write_batch batch;       // all mutations share one LSN, atomically
//     batch.mutations.push_back(postdevai::MakePut(postdevai::DataKind::kMetadata, "build/status", "green"));
//     self->request(memory, caf::infinite, postdevai::write_atom_v, std::move(batch))
//         .then(
//             [=](std::uint64_t lsn) {
//               // Durable (WAL fdatasync, group-committed) and visible to every
//               // later read. Read it back:
//               self->request(memory, caf::infinite, postdevai::read_atom_v,
//                             postdevai::DataKind::kMetadata, std::string("build/status"),
//                             std::string("my-host"))   // the reader: a stream the prefetcher learns
//                   .then([=](postdevai::read_result& r) { /* r.value, r.lsn, r.served_from */ },
//                         [=](caf::error& err) { /* StatusFromError(err).IsNotFound() ... */ });
//             },
//             [=](caf::error& err) { Log(postdevai::StatusFromError(err).ToString()); });
//   });
//   ...
//   (*engine)->Stop();   // from a plain thread, before `sys` is destroyed
//
// What the engine answers (see engine_actor in postdevai/engine_protocol.h):
//   write_atom, write_batch                 -> std::uint64_t LSN, once durable
//   read_atom, DataKind, key, reader        -> read_result {value, lsn, served_from}
//   append_atom, session, message           -> append_result {lsn, messages}
//   search_atom, search_request             -> std::vector<search_hit>
//   stats_atom                              -> memory_report (`memory stats`)
//   breakdown_atom                          -> std::vector<store_kind_report>
//   evict_atom, uint64_t seconds, bool dry  -> std::vector<eviction_result>
//   sync_atom                               -> checkpoint LSN
//   compact_atom                            -> bytes on disk afterwards
//   backup_atom                             -> backup_report (`memory backup`)
//   info_atom                               -> engine_info {vector model, dimension, limits}
//
// Errors arrive as caf::error in the "postdevai" category whose code is a
// StatusCode and whose context is the message; StatusFromError turns one back
// into a Status ("invalid argument: write: empty key"). CAF's own errors (the
// engine stopped, a request timed out) become kUnavailable.
//
// Keys and values are raw bytes per kind. The blocking facade stores code as
// an encoded record (path, language, content) under CodeIdForPath(path) and a
// session context as an encoded message list: an actor host that writes raw
// values under the same keys of those two kinds will make the facade's
// GetCode/GetContext report kCorruption for them. Metadata is raw in both.
//
// Thread-safety: an engine_actor handle may be copied to and used from any
// actor or thread. EmbeddedEngine::Stop blocks on a scoped_actor: call it from
// a plain thread, never from inside an actor's handler.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/engine_protocol.h"
#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai {

namespace actors {
class Engine;
}

// The public protocol and the vocabulary of its requests.
using actors::engine_actor;
using records::append_result;
using records::engine_info;
using records::eviction_result;
using records::memory_report;
using records::mutation;
using records::partition_report;
using records::read_result;
using records::search_hit;
using records::search_request;
using records::store_kind_report;
using records::sync_report;
using records::backup_report;
using records::tier;
using records::write_batch;
using records::MakeDelete;
using records::MakePut;

using actors::append_atom;
using actors::append_atom_v;
using actors::info_atom;
using actors::info_atom_v;
using actors::search_atom;
using actors::search_atom_v;

using actors::backup_atom;
using actors::backup_atom_v;
using actors::breakdown_atom;
using actors::breakdown_atom_v;
using actors::compact_atom;
using actors::compact_atom_v;
using actors::evict_atom;
using actors::evict_atom_v;
using actors::read_atom;
using actors::read_atom_v;
using actors::stats_atom;
using actors::stats_atom_v;
using actors::sync_atom;
using actors::sync_atom_v;
using actors::write_atom;
using actors::write_atom_v;

// Prepares a host's config for the engine: registers the engine's message
// types and caps the scheduler at one worker per core (more workers than cores
// make every blocking hand-off several times slower). Call it before the
// caf::actor_system is constructed from `cfg`; a host that sets
// scheduler.max-threads itself afterwards overrides the cap.
void ConfigureActorSystem(caf::actor_system_config& cfg);

// A caf::error from the engine as our Status (the one conversion point is
// actors/errors.h; this is its public name).
Status StatusFromError(const caf::error& error);

// --- a dragon_node's engine as a remote actor ---
// A node serves its CAF endpoint when its config has [caf] enabled = true
// (mutual TLS with node.certificate, node.key and node.ca_file; plaintext
// only on loopback with caf.insecure = true). Its remote engine_actor takes
// exactly the requests a local one does.
//
// Loads CAF's network modules into cfg (the middleman, and the OpenSSL
// manager with tls.certificate, tls.key and tls.ca_file when all three are
// set: this host's certificate and the CA that signed the node's). Call it
// after ConfigureActorSystem and before the caf::actor_system is built.
void ConfigureRemoteAccess(caf::actor_system_config& cfg, const NodeConfig& tls);
// The engine of the node whose CAF endpoint is at host:port (blocks while
// connecting). kUnavailable naming host:port when nothing answers there or
// the TLS handshake is refused.
Result<engine_actor> ConnectRemoteEngine(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                                         const NodeConfig& tls);

// The running engine inside a host's actor system. Owns the engine's actors:
// they stop (after a final checkpoint) when Stop is called or the handle is
// destroyed. The handle must be stopped or destroyed before the actor system
// it was started in; destroying it from an actor's handler is not allowed
// (see Stop).
class EmbeddedEngine {
 public:
  ~EmbeddedEngine();

  // The engine's public protocol. Valid until Stop; afterwards requests fail
  // with an error (kUnavailable through StatusFromError).
  engine_actor engine() const;

  // A read of a RAM-resident entry without a message: the value as read_atom
  // would answer it (served_from ram), read by the calling thread from the
  // partition's read view, or nullopt — not resident, a write to that
  // partition still landing, the engine stopped, or arguments read_atom would
  // refuse — and the host then sends read_atom as usual. Never stale: a write
  // acknowledged before the call is always seen. `reader` is the stream the
  // prefetcher learns from, as in read_atom. Thread-safe; callable from actor
  // handlers (it never waits for I/O, only, briefly, for the partition's owner
  // to finish one change).
  std::optional<read_result> ReadHot(DataKind kind, std::string_view key, std::string_view reader) const;

  // Checkpoints (the store is made durable and the WAL behind it released),
  // then stops every engine actor and waits until they are gone: files
  // unmapped, LevelDB closed, so the same paths may be opened again. Returns
  // the checkpoint's error, if any; the actors stop regardless. Idempotent.
  // Blocks: call from a plain thread.
  Status Stop();

  // What recovery did at start, one line per step, for logs ("WAL: replayed
  // 120 records after checkpoint 4711", "RAM-Lake code: 900 records kept").
  const std::vector<std::string>& recovery_log() const { return recovery_log_; }

  EmbeddedEngine(const EmbeddedEngine&) = delete;
  EmbeddedEngine& operator=(const EmbeddedEngine&) = delete;

 private:
  friend Result<std::unique_ptr<EmbeddedEngine>> StartHybridMemory(caf::actor_system&, const HybridMemoryConfig&,
                                                                      std::vector<std::string>*);
  explicit EmbeddedEngine(std::unique_ptr<actors::Engine> engine);
  std::unique_ptr<actors::Engine> engine_;
  std::vector<std::string> recovery_log_;
};

// Validates `config` against this machine (ValidateConfig; warnings, if any,
// are appended to *warnings when it is non-null), recovers the data under its
// paths (LevelDB, WAL replay after the checkpoint, RAM-Lake re-attach) and
// spawns the engine's actors into `sys`. Blocks for the recovery. Errors:
// kInvalidArgument (the config, naming every bad key), kBusy (another process
// has the store open), kCorruption / kIoError / kNoSpace (the files).
// `sys` should have been built from a config passed to ConfigureActorSystem.
Result<std::unique_ptr<EmbeddedEngine>> StartHybridMemory(caf::actor_system& sys, const HybridMemoryConfig& config,
                                                          std::vector<std::string>* warnings = nullptr);

}  // namespace postdevai
