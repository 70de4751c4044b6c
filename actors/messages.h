// The messages the actors exchange, with CAF inspection and type IDs.
// Included only by actors/*.cc and by hosts that talk to the engine as actors
// (include/postdevai/actor_api.h): CAF headers are heavy.
#pragma once

#include <caf/all.hpp>

#include <array>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postdevai/status.h"

namespace postdevai::storage::ramlake {
class RamLakePartition;
}

namespace postdevai::actors {

// One change: a put (value) or a delete, of one key of one kind (DataKind).
struct mutation {
  std::uint8_t kind = 0;
  std::string key;
  std::string value;
  bool erase = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mutation& x) {
  return f(caf::meta::type_name("mutation"), x.kind, x.key, x.value, x.erase);
}

// Mutations applied atomically under one LSN.
struct write_batch {
  std::vector<mutation> mutations;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
  return f(caf::meta::type_name("write_batch"), x.mutations);
}

// A durable write the journal logged: its LSN and mutations.
struct logged_write {
  std::uint64_t lsn = 0;
  std::vector<mutation> mutations;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logged_write& x) {
  return f(caf::meta::type_name("logged_write"), x.lsn, x.mutations);
}

// A value and the LSN that wrote it.
struct versioned_value {
  std::string value;
  std::uint64_t lsn = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, versioned_value& x) {
  return f(caf::meta::type_name("versioned_value"), x.value, x.lsn);
}

// Where a read was served from.
enum class tier : std::uint8_t { ram = 0, disk = 1 };  // CAF serializes enums itself

struct read_result {
  std::string value;
  std::uint64_t lsn = 0;
  tier served_from = tier::ram;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_result& x) {
  return f(caf::meta::type_name("read_result"), x.value, x.lsn, x.served_from);
}

// Statistics of one RAM-Lake partition.
struct partition_report {
  std::uint8_t kind = 0;
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_report& x) {
  return f(caf::meta::type_name("partition_report"), x.kind, x.entries, x.bytes, x.budget_bytes, x.hits,
           x.misses, x.evictions, x.dirty_entries, x.persisted_lsn, x.restarts, x.max_record_bytes,
           x.uncached_writes, x.promotions, x.ready, x.eviction_policy, x.file);
}

// What an eviction from one partition took (or, in a dry run, would take).
struct eviction_result {
  std::uint8_t kind = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, eviction_result& x) {
  return f(caf::meta::type_name("eviction_result"), x.kind, x.entries, x.bytes);
}

// Statistics of one kind in the persistent store.
struct store_kind_report {
  std::uint8_t kind = 0;
  std::uint64_t entries = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t disk_bytes = 0;
  std::uint32_t dictionary_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_kind_report& x) {
  return f(caf::meta::type_name("store_kind_report"), x.kind, x.entries, x.raw_bytes, x.stored_bytes,
           x.disk_bytes, x.dictionary_id);
}

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sync_report& x) {
  return f(caf::meta::type_name("sync_report"), x.durable_lsn, x.applied_lsn, x.checkpoint_lsn,
           x.seconds_since_checkpoint, x.wal_segments, x.wal_bytes, x.wal_syncs, x.wal_records, x.wal_live_bytes, x.checkpoints,
           x.store_disk_bytes, x.store_raw_bytes, x.store_encoded_bytes);
}

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_histogram& x) {
  return f(caf::meta::type_name("latency_histogram"), x.buckets, x.sum_seconds, x.count);
}

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory_report& x) {
  return f(caf::meta::type_name("memory_report"), x.partitions, x.sync, x.reads, x.writes, x.ram_hits,
           x.disk_reads, x.promotions, x.prefetches, x.prefetch_hits, x.prefetch_enabled, x.read_latency,
           x.write_latency, x.errors);
}

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

// A similarity search (SearchSimilar). metric: 0 inner product, 1 squared
// L2, 2 cosine (simd::VectorMetric). owner_kind 255: any.
struct search_request {
  std::vector<float> query;
  std::string model;
  std::uint32_t k = 10;
  std::uint8_t metric = 2;
  bool exact = false;
  std::uint8_t owner_kind = 255;
  std::string path_prefix;
  std::string language;
  std::string session;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(caf::meta::type_name("search_request"), x.query, x.model, x.k, x.metric, x.exact, x.owner_kind,
           x.path_prefix, x.language, x.session);
}

struct search_hit {
  std::uint64_t id = 0;
  std::string path;      // code chunks
  std::uint32_t chunk = 0;  // chunk of the file, or message of the session
  std::string language;
  std::string session;   // history messages
  float score = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.id, x.path, x.chunk, x.language, x.session, x.score);
}

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
CAF_ADD_ATOM(postdevai, postdevai::actors, crash_atom, "pd_crash")
CAF_ADD_ATOM(postdevai, postdevai::actors, route_atom, "pd_route")
CAF_ADD_ATOM(postdevai, postdevai::actors, prefetch_atom, "pd_prefet")
CAF_ADD_ATOM(postdevai, postdevai::actors, sync_atom, "pd_sync")
CAF_ADD_ATOM(postdevai, postdevai::actors, search_atom, "pd_search")
CAF_ADD_ATOM(postdevai, postdevai::actors, append_atom, "pd_append")

CAF_ERROR_CODE_ENUM(postdevai::StatusCode, "postdevai")
