// The engine's public protocol as CAF messages, for hosts that run their own
// caf::actor_system (include/postdevai/actor_api.h) and for C++ peers that
// reach a dragon_node as a remote actor. Unlike the rest of include/postdevai/
// this header exposes CAF on purpose.
//
// engine_actor is every verb a host or a peer may use, and nothing else: the
// engine's internal actors have interfaces of their own (actors/interfaces.h)
// that are never published or handed out. The vocabulary (write_batch,
// read_result, memory_report, ...) is postdevai/records.h.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "postdevai/records.h"
#include "postdevai/status.h"

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
           x.uncached_writes, x.promotions, x.ready, x.eviction_policy, x.file, x.index_vectors, x.index_bytes,
           x.index_graph_bytes, x.text_index_units, x.text_index_bytes);
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
           x.checkpoints, x.store_disk_bytes, x.store_raw_bytes, x.store_encoded_bytes, x.relaxed_kinds,
           x.relaxed_sync_ms, x.unsynced_bytes, x.unsynced_micros, x.lost_relaxed_writes, x.store_error,
           x.backup_path, x.archive_segments, x.archive_bytes, x.archive_oldest_age_seconds, x.backups,
           x.last_backup_lsn, x.last_backup_age_seconds, x.backup_error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_report& x) {
  return f(caf::meta::type_name("backup_report"), x.path, x.store, x.lsn, x.files, x.bytes, x.seconds,
           x.pruned_backups, x.pruned_segments);
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
  return f(caf::meta::type_name("search_request"), x.query, x.text, x.mode, x.model, x.k, x.metric, x.exact,
           x.owner, x.path_prefix, x.language, x.session);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.id, x.path, x.chunk, x.language, x.session, x.score,
           x.first_line, x.last_line, x.vector_score, x.lexical_score);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, engine_info& x) {
  return f(caf::meta::type_name("engine_info"), x.vector_model, x.vector_dimension, x.max_value_bytes);
}

}  // namespace postdevai::records

// Atoms (defined outside the type-ID block: in CAF 0.17 they take no type ID).
// At most 10 characters each.
CAF_ADD_ATOM(postdevai, postdevai::actors, write_atom, "pd_write")
CAF_ADD_ATOM(postdevai, postdevai::actors, read_atom, "pd_read")
CAF_ADD_ATOM(postdevai, postdevai::actors, evict_atom, "pd_evict")
CAF_ADD_ATOM(postdevai, postdevai::actors, stats_atom, "pd_stats")
CAF_ADD_ATOM(postdevai, postdevai::actors, breakdown_atom, "pd_brkdown")
CAF_ADD_ATOM(postdevai, postdevai::actors, compact_atom, "pd_compact")
CAF_ADD_ATOM(postdevai, postdevai::actors, sync_atom, "pd_sync")
CAF_ADD_ATOM(postdevai, postdevai::actors, search_atom, "pd_search")
CAF_ADD_ATOM(postdevai, postdevai::actors, append_atom, "pd_append")
CAF_ADD_ATOM(postdevai, postdevai::actors, info_atom, "pd_info")
CAF_ADD_ATOM(postdevai, postdevai::actors, backup_atom, "pd_backup")

CAF_ERROR_CODE_ENUM(postdevai::StatusCode, "postdevai")

namespace postdevai::actors {

// ---------------------------------------------------------------------------
// The public protocol: every verb a host, the CLI or a remote peer may use.
// A node publishes it through its network endpoint only; hosts get the
// engine typed as this interface.
using engine_actor = caf::typed_actor<
    // Applies the mutations atomically under one LSN; replies the LSN once the
    // write is durable (WAL fdatasync, group-committed) and visible to every
    // later read and search. Errors: kInvalidArgument (no mutations, unknown
    // kind, empty or oversized key, vectors of another model or dimension, NaN),
    // kTooLarge (value over engine_info::max_value_bytes), kNoSpace, kIoError.
    caf::replies_to<write_atom, records::write_batch>::with<std::uint64_t>,
    // The value of (kind, key) from RAM, else from the store; kNotFound.
    // `reader` names the stream of reads (a client, a session; empty: none)
    // whose order the prefetcher learns to warm the likely next read.
    caf::replies_to<read_atom, DataKind, std::string, std::string>::with<records::read_result>,
    // Appends a message to a session's context (history kind) durably.
    // Appends to one session are applied one after another, so concurrent
    // appends never lose a message.
    caf::replies_to<append_atom, std::string, std::string>::with<records::append_result>,
    // The nearest stored vectors to the query over both tiers, best first;
    // k from 1 to records::kMaxSearchResults.
    caf::replies_to<search_atom, records::search_request>::with<std::vector<records::search_hit>>,
    // `memory stats`.
    caf::replies_to<stats_atom>::with<records::memory_report>,
    // `memory breakdown`: the store's side per kind (the RAM side is in stats).
    caf::replies_to<breakdown_atom>::with<std::vector<records::store_kind_report>>,
    // Evicts from RAM the clean entries unused for the given seconds, per
    // partition with bytes; with dry_run (true) only counts them.
    caf::replies_to<evict_atom, std::uint64_t, bool>::with<std::vector<records::eviction_result>>,
    // `memory sync --force`: checkpoint now; replies the checkpoint LSN.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    // `memory compact`: replies the store's bytes on disk afterwards.
    caf::replies_to<compact_atom>::with<std::uint64_t>,
    // `memory backup`: a consistent backup into [backup] path while writes go
    // on (storage/backup.h), then older backups pruned to [backup] keep and
    // the WAL archive to what the kept ones need.
    caf::replies_to<backup_atom>::with<records::backup_report>,
    // The vector model and dimension stored vectors must have, and limits.
    caf::replies_to<info_atom>::with<records::engine_info>>;

// Registers the public protocol's types for serialization (every actor
// system that talks to an engine, in-process or remote, needs them).
void AddPublicMessageTypes(caf::actor_system_config& cfg);

}  // namespace postdevai::actors

CAF_BEGIN_TYPE_ID_BLOCK(postdevai, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(postdevai, (postdevai::DataKind))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::mutation))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::records::mutation>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::write_batch))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::read_result))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::append_result))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::tier))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::partition_report))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::records::partition_report>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::eviction_result))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::records::eviction_result>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::store_kind_report))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::records::store_kind_report>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::sync_report))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::memory_report))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::latency_histogram))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::vector_owner))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::search_request))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::search_hit))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::records::search_hit>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::engine_info))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<float>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::engine_actor))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::search_mode))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::records::backup_report))
CAF_END_TYPE_ID_BLOCK(postdevai)
