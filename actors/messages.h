// The records layer's types as CAF messages: inspect overloads (found by
// argument-dependent lookup in namespace records), atoms and the
// engine-local handles the actors pass each other.
// Included only by actors/*.cc and by hosts that talk to the engine as actors
// (include/postdevai/actor_api.h): CAF headers are heavy.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postdevai/status.h"
#include "records/engine_types.h"

namespace postdevai::storage::ramlake {
class RamLakePartition;
}

namespace postdevai::records {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mutation& x) {
  return f(caf::meta::type_name("mutation"), x.kind, x.key, x.value, x.erase);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
  return f(caf::meta::type_name("write_batch"), x.mutations);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logged_write& x) {
  return f(caf::meta::type_name("logged_write"), x.lsn, x.mutations);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, versioned_value& x) {
  return f(caf::meta::type_name("versioned_value"), x.value, x.lsn);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_result& x) {
  return f(caf::meta::type_name("read_result"), x.value, x.lsn, x.served_from);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_result& x) {
  return f(caf::meta::type_name("append_result"), x.lsn, x.messages);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_report& x) {
  return f(caf::meta::type_name("partition_report"), x.kind, x.entries, x.bytes, x.budget_bytes, x.hits,
           x.misses, x.evictions, x.dirty_entries, x.persisted_lsn, x.restarts, x.max_record_bytes,
           x.uncached_writes, x.promotions, x.ready, x.eviction_policy, x.file);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, eviction_result& x) {
  return f(caf::meta::type_name("eviction_result"), x.kind, x.entries, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_kind_report& x) {
  return f(caf::meta::type_name("store_kind_report"), x.kind, x.entries, x.raw_bytes, x.stored_bytes,
           x.disk_bytes, x.dictionary_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sync_report& x) {
  return f(caf::meta::type_name("sync_report"), x.durable_lsn, x.applied_lsn, x.checkpoint_lsn,
           x.seconds_since_checkpoint, x.wal_segments, x.wal_bytes, x.wal_syncs, x.wal_records, x.wal_live_bytes,
           x.checkpoints, x.store_disk_bytes, x.store_raw_bytes, x.store_encoded_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_histogram& x) {
  return f(caf::meta::type_name("latency_histogram"), x.buckets, x.sum_seconds, x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory_report& x) {
  return f(caf::meta::type_name("memory_report"), x.partitions, x.sync, x.reads, x.writes, x.ram_hits,
           x.disk_reads, x.promotions, x.prefetches, x.prefetch_hits, x.prefetch_enabled, x.read_latency,
           x.write_latency, x.errors);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(caf::meta::type_name("search_request"), x.query, x.model, x.k, x.metric, x.exact, x.owner,
           x.path_prefix, x.language, x.session);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.id, x.path, x.chunk, x.language, x.session, x.score);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, engine_info& x) {
  return f(caf::meta::type_name("engine_info"), x.vector_model, x.vector_dimension, x.max_value_bytes);
}

}  // namespace postdevai::records

namespace postdevai::actors {

using records::append_result;
using records::engine_info;
using records::eviction_result;
using records::latency_histogram;
using records::logged_write;
using records::memory_report;
using records::mutation;
using records::partition_report;
using records::read_result;
using records::search_hit;
using records::search_request;
using records::store_kind_report;
using records::sync_report;
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
CAF_ADD_ATOM(postdevai, postdevai::actors, write_atom, "pd_write")
CAF_ADD_ATOM(postdevai, postdevai::actors, read_atom, "pd_read")
CAF_ADD_ATOM(postdevai, postdevai::actors, apply_atom, "pd_apply")
CAF_ADD_ATOM(postdevai, postdevai::actors, flush_atom, "pd_flush")
CAF_ADD_ATOM(postdevai, postdevai::actors, persisted_atom, "pd_persist")
CAF_ADD_ATOM(postdevai, postdevai::actors, promote_atom, "pd_promote")
CAF_ADD_ATOM(postdevai, postdevai::actors, evict_atom, "pd_evict")
CAF_ADD_ATOM(postdevai, postdevai::actors, stats_atom, "pd_stats")
CAF_ADD_ATOM(postdevai, postdevai::actors, breakdown_atom, "pd_brkdown")
CAF_ADD_ATOM(postdevai, postdevai::actors, checkpoint_atom, "pd_ckpt")
CAF_ADD_ATOM(postdevai, postdevai::actors, release_atom, "pd_release")
CAF_ADD_ATOM(postdevai, postdevai::actors, compact_atom, "pd_compact")
CAF_ADD_ATOM(postdevai, postdevai::actors, tick_atom, "pd_tick")
CAF_ADD_ATOM(postdevai, postdevai::actors, access_atom, "pd_access")
CAF_ADD_ATOM(postdevai, postdevai::actors, attach_atom, "pd_attach")
CAF_ADD_ATOM(postdevai, postdevai::actors, route_atom, "pd_route")
CAF_ADD_ATOM(postdevai, postdevai::actors, prefetch_atom, "pd_prefet")
CAF_ADD_ATOM(postdevai, postdevai::actors, sync_atom, "pd_sync")
CAF_ADD_ATOM(postdevai, postdevai::actors, search_atom, "pd_search")
CAF_ADD_ATOM(postdevai, postdevai::actors, append_atom, "pd_append")
CAF_ADD_ATOM(postdevai, postdevai::actors, info_atom, "pd_info")

CAF_ERROR_CODE_ENUM(postdevai::StatusCode, "postdevai")
