// The engine's internal messages: the types only its own actors exchange
// (inspect overloads found by argument-dependent lookup in namespace
// records), internal atoms and the engine-local handles the actors pass each
// other. The public protocol's messages are postdevai/engine_protocol.h.
// Included only by actors/*.cc and the node's programs: CAF headers are heavy.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postdevai/engine_protocol.h"

namespace postdevai::storage::ramlake {
class RamLakePartition;
}
namespace postdevai {
class LexicalIndex;
}

namespace postdevai::records {

// A durable write the journal logged: its LSN and mutations.
struct logged_write {
  std::uint64_t lsn = 0;
  std::vector<mutation> mutations;
};

// A value and the LSN that wrote it.
// A logged write as the store applies it: the WAL payload (values already
// compressed as the store keeps them, storage::EncodeLoggedWrite) and its LSN.
struct logged_payload {
  std::uint64_t lsn = 0;
  std::string payload;
  // Acknowledged as durable. A relaxed write (false) may still be only in
  // the WAL's buffer: the store applies it once the WAL is durable past it.
  bool durable = true;
  // Its WAL record type (storage::kWalRecordMutations, or a dictionary's on
  // a replica, which logs its primary's records as they are).
  std::uint8_t type = 1;
};

struct versioned_value {
  std::string value;
  std::uint64_t lsn = 0;
};


template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logged_write& x) {
  return f(caf::meta::type_name("logged_write"), x.lsn, x.mutations);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logged_payload& x) {
  return f(caf::meta::type_name("logged_payload"), x.lsn, x.payload, x.durable, x.type);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, versioned_value& x) {
  return f(caf::meta::type_name("versioned_value"), x.value, x.lsn);
}

}  // namespace postdevai::records

namespace postdevai::actors {

using records::append_result;
using records::engine_info;
using records::eviction_result;
using records::latency_histogram;
using records::logged_payload;
using records::logged_write;
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
using records::versioned_value;
using records::write_batch;
using records::kLatencyBoundsMicros;

class VectorCatalog;

// An opened partition handed from the detached opener to its actor: the
// RAM-Lake file and, for the vectors partition, the search index rebuilt
// from the store. Local only.
struct opened_partition {
  std::unique_ptr<storage::ramlake::RamLakePartition> lake;
  std::unique_ptr<VectorCatalog> vectors;  // vectors partition only
  std::unique_ptr<LexicalIndex> lexical;   // code partition only
  // Every write of this kind up to this LSN is reflected in `lake`: it was
  // in the store the opener validated the file against (a re-attach after a
  // restart; writes after it queue in the new partition actor).
  std::uint64_t reflects_lsn = 0;
  // Vectors partition: the vector index's snapshot, so that the next start
  // loads it instead of re-applying what changed since the last one. The
  // bytes are taken by the partition actor (CPU only) and written by
  // write_vectors_snapshot (blocking file I/O: off the actor's thread, except
  // at a clean stop). Both empty when there is no snapshot. It is written at
  // a clean stop and, while the node runs, when 20,000 vectors were indexed
  // since the last one or, every vectors_snapshot_interval, when enough
  // changed (so a crash re-applies little; see MaybeSnapshotIndex).
  // The argument: the LSN the index reflects the store through (0: not
  // known), which lets the next start read only what the WAL replay changed
  // after it (VectorCatalog::Restore).
  std::function<std::string(std::uint64_t through_lsn)> encode_vectors_snapshot;
  // The LSN the index reflected the store through when it was opened.
  std::uint64_t vectors_through_lsn = 0;
  std::function<Status(const std::string&)> write_vectors_snapshot;
  std::chrono::seconds vectors_snapshot_interval{0};
  // The open changed the index (rebuilt it, or re-applied what changed since
  // its snapshot): the partition actor writes a snapshot once it has linked
  // the vectors the open left unlinked (VectorIndex::DeferLinking), instead
  // of the open writing one before the node serves. Cleared once written.
  bool vectors_snapshot_due = false;
  ~opened_partition();                     // actors/partition_actor.cc (complete types there)
};
using partition_ptr = std::shared_ptr<opened_partition>;

// A call from a host thread (the blocking facade), run by its bridge actor:
// `run` issues the request and fulfils the host's future. Local only.
struct facade_call {
  std::function<void(caf::event_based_actor*)> run;
};
using facade_call_ptr = std::shared_ptr<facade_call>;

}  // namespace postdevai::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postdevai::actors::partition_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postdevai::actors::facade_call_ptr)

// Atoms (defined outside the type-ID block: in CAF 0.17 they take no type ID).
// At most 10 characters each.
CAF_ADD_ATOM(postdevai, postdevai::actors, apply_atom, "pd_apply")
CAF_ADD_ATOM(postdevai, postdevai::actors, flush_atom, "pd_flush")
CAF_ADD_ATOM(postdevai, postdevai::actors, persisted_atom, "pd_persist")
CAF_ADD_ATOM(postdevai, postdevai::actors, promote_atom, "pd_promote")
CAF_ADD_ATOM(postdevai, postdevai::actors, checkpoint_atom, "pd_ckpt")
CAF_ADD_ATOM(postdevai, postdevai::actors, release_atom, "pd_release")
CAF_ADD_ATOM(postdevai, postdevai::actors, tick_atom, "pd_tick")
CAF_ADD_ATOM(postdevai, postdevai::actors, access_atom, "pd_access")
CAF_ADD_ATOM(postdevai, postdevai::actors, attach_atom, "pd_attach")
CAF_ADD_ATOM(postdevai, postdevai::actors, route_atom, "pd_route")
CAF_ADD_ATOM(postdevai, postdevai::actors, prefetch_atom, "pd_prefet")
CAF_ADD_ATOM(postdevai, postdevai::actors, encode_atom, "pd_encode")
CAF_ADD_ATOM(postdevai, postdevai::actors, replicate_atom, "pd_replic")
CAF_ADD_ATOM(postdevai, postdevai::actors, role_atom, "pd_role")

