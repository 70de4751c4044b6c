// One RAM-Lake partition per actor. The partition object is single-threaded
// by contract; this actor is its only writer. Other threads read it through
// its read view (hot reads): every change this actor makes is made under the
// view's owner lock, and the view learns what has been applied. While its
// file is being (re-)attached by a detached opener, reads miss (the
// controller falls back to the store) and writes queue up, so nothing stale
// is ever served. The file's watermark (ramlake_partition.h, "Warm restart")
// advances with every applied batch and every persisted LSN: the controller
// sends a partition its writes in LSN order, and a persisted LSN only after
// every write up to it.
#include "actors/errors.h"
#include "actors/hot_reads.h"
#include "actors/spawn.h"
#include "actors/vector_catalog.h"
#include "simd/lexical_index.h"
#include "postdevai/log.h"
#include "storage/ramlake/ramlake_partition.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstring>
#include <unordered_map>

namespace postdevai::actors {
namespace {

using storage::ramlake::RamLakePartition;

struct partition_state {
  partition_ptr opened;                    // null while attaching
  RamLakePartition* partition = nullptr;   // opened->lake
  std::shared_ptr<HotReads> hot_reads;     // view(kind) publishes `partition`
  store_actor store;                       // cold full-precision vectors for search
  DataKind kind = DataKind::kVectors;
  std::uint64_t restarts = 0;
  std::uint64_t persisted_lsn = 0;
  // Held while attaching, applied in order once attached.
  std::vector<logged_write> queued_writes;
  std::uint64_t uncached_writes = 0;
  std::uint64_t promotions = 0;
  // Vectors partition: the index's periodic snapshot (MaybeSnapshotIndex).
  std::uint64_t index_changes = 0;     // writes indexed since the last snapshot
  std::uint64_t index_lsn = 0;         // the newest of them
  std::uint64_t last_snapshot_micros = 0;
  std::uint64_t vectors_indexed_at_snapshot = 0;  // VectorCatalog::vectors_indexed() then
  bool ticking = false;
  std::thread snapshot_writer;
  std::shared_ptr<std::atomic<bool>> snapshot_written;  // set by snapshot_writer when done
  static inline const char* name = "postdevai.partition";

  storage::ramlake::PartitionReadView& view() { return hot_reads->view(kind); }
  // The actor ends (CAF destroys its state in on_exit): readers must let go
  // of the partition before it is unmapped.
  ~partition_state() {
    if (snapshot_writer.joinable()) snapshot_writer.join();
    if (!hot_reads) return;
    storage::ramlake::PartitionReadView::OwnerLock lock(view());
    view().Publish(nullptr, 0);
  }
};

// Holds hot readers off while the actor changes its partition, and first
// accounts for what they read since the last change (hits, recency).
class Changing {
 public:
  explicit Changing(partition_state& st) : lock_(st.view()) { st.view().DrainReads(); }

 private:
  storage::ramlake::PartitionReadView::OwnerLock lock_;
};

// Code or history partition: the lexical search of request.text, request.k
// files (messages) deep.
caf::result<std::vector<search_hit>> SearchWords(partition_state& st, const search_request& request) {
  if (!st.opened) return ToError(Status::Unavailable("search: the text index is being rebuilt; try again"));
  if (!st.opened->lexical) {
    if (request.mode == records::search_mode::hybrid) return std::vector<search_hit>{};  // the vector side alone
    return ToError(Status::InvalidArgument(
        "search: lexical mode needs the lexical index, which is off ([search] lexical_index = false)"));
  }
  return LexicalResults(st.opened->lexical->Search(request.text, request.k, request));
}

// Under Changing. Tells the read view and the file's watermark the last LSN
// applied (writes come in LSN order).
void ApplyWrites(partition_state& st, const std::vector<logged_write>& writes) {
  for (const auto& w : writes) {
    for (const auto& m : w.mutations) {
      if (m.kind != st.kind) continue;
      if (m.erase) {
        (void)st.partition->Erase(m.key);  // absent is fine
      } else {
        // kBusy (all dirty) or kTooLarge: the write is not cached; the store
        // serves it. Put leaves no stale version behind on error.
        if (!st.partition->Put(m.key, m.value, w.lsn).ok()) ++st.uncached_writes;
      }
      // The vectors partition indexes what it stores, and the code and
      // history partitions keep their lexical indexes, for every write, hot
      // or not cached: searchable as soon as the write is acknowledged (the
      // controller acknowledges after this message was sent, and this
      // partition handles messages in order).
      if (st.opened->lexical) {
        Status indexed = st.opened->lexical->Apply(
            m.kind, m.key, m.erase ? std::nullopt : std::optional<std::string_view>(m.value));
        if (!indexed.ok()) LogWarning(DataKindName(m.kind), "not searchable by text: " + indexed.ToString());
      }
      if (st.opened->vectors) {
        Status indexed = st.opened->vectors->Apply(m.key, m.erase ? nullptr : &m.value, w.lsn);
        if (!indexed.ok()) LogWarning("vectors", "not indexed: " + indexed.ToString());
        ++st.index_changes;
        st.index_lsn = w.lsn;
      }
    }
  }
  if (writes.empty()) return;
  st.view().WritesApplied(writes.back().lsn);
  st.partition->SetAppliedLsn(writes.back().lsn);
}

// The LSN the vectors index reflects the store through, written with its
// snapshot: the controller sends a persisted LSN only after every write up
// to it, and the store holds those; 0 (not known) while the index holds a
// write the store may not have yet.
std::uint64_t IndexThroughLsn(const partition_state& st) {
  if (st.index_lsn > st.persisted_lsn) return 0;
  return std::max(st.persisted_lsn, st.opened->vectors_through_lsn);
}

// A restart after a crash puts back into the index what changed since its
// last snapshot: unlinked, so searchable at once, but scored one by one by
// every search until the actor has linked them, at the cost of graph inserts
// (measured at 768 dimensions on one core: ~6K vectors/s into a graph of
// 50K, ~2K/s into one of 1M). Past this many vectors indexed since the last
// snapshot, the next check writes one, whatever the interval, so that such a
// restart leaves seconds of linking, not minutes.
constexpr std::uint64_t kMostVectorsToReapply = 20'000;
// How often the vectors partition checks whether a snapshot is due.
constexpr std::chrono::seconds kSnapshotCheckInterval{10};

// Vectors partition, every kSnapshotCheckInterval (or the sync interval if
// shorter): writes a snapshot of the index when kMostVectorsToReapply vectors
// were indexed since the last one, or at the sync interval when enough
// changed (1% of its vectors), or when anything changed in an hour; so that a
// restart after a crash re-applies little (the snapshot of a clean stop
// covers the rest). Only of writes the store
// holds (index_lsn <= persisted_lsn): a snapshot newer than the store could,
// after a crash lost relaxed writes whose LSNs are then given out again,
// claim a vector for a key at an LSN the store holds another value under.
// The bytes are taken here, the only pause searches see; a thread writes
// them (one at a time).
std::chrono::seconds SnapshotCheckInterval(const partition_state& st) {
  return std::min<std::chrono::seconds>(kSnapshotCheckInterval, st.opened->vectors_snapshot_interval);
}

void MaybeSnapshotIndex(partition_state& st, std::uint64_t now_micros) {
  if (!st.opened || !st.opened->vectors || !st.opened->encode_vectors_snapshot) return;
  if (st.index_changes == 0 && !st.opened->vectors_snapshot_due) return;
  if (st.opened->vectors->index().unlinked() > 0) return;  // Tick links them first: a complete graph
  if (st.snapshot_writer.joinable()) {
    if (!st.snapshot_written->load()) return;  // still writing the last one
    st.snapshot_writer.join();
  }
  const std::uint64_t vectors = st.opened->vectors->index().size();
  const std::uint64_t since = now_micros - st.last_snapshot_micros;
  const std::uint64_t interval = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(st.opened->vectors_snapshot_interval).count());
  const std::uint64_t indexed = st.opened->vectors->vectors_indexed() - st.vectors_indexed_at_snapshot;
  const bool enough = st.opened->vectors_snapshot_due || indexed >= kMostVectorsToReapply ||
                      (since >= interval && st.index_changes * 100 >= vectors) || since >= 3'600'000'000ull;
  if (!enough || st.index_lsn > st.persisted_lsn) return;
  std::string bytes = st.opened->encode_vectors_snapshot(IndexThroughLsn(st));
  const bool after_open = st.opened->vectors_snapshot_due;
  st.index_changes = 0;
  st.opened->vectors_snapshot_due = false;
  st.vectors_indexed_at_snapshot = st.opened->vectors->vectors_indexed();
  st.last_snapshot_micros = now_micros;
  st.snapshot_written = std::make_shared<std::atomic<bool>>(false);
  st.snapshot_writer = std::thread([write = st.opened->write_vectors_snapshot, bytes = std::move(bytes),
                                    done = st.snapshot_written, after_open] {
    Status written = write(bytes);
    if (!written.ok()) {
      LogWarning("vectors", "a periodic snapshot of the index failed: " + written.ToString());
    } else if (after_open) {
      LogInfo("vectors", "vector index snapshot written: the next start loads what this one applied");
    }
    done->store(true);
  });
}

// Vectors partition: vectors the open left unlinked from the graph
// (VectorIndex::DeferLinking) are linked this many per message, so that a
// search or a write waits at most a few milliseconds for a slice (a graph
// insert: ~0.2-0.6 ms at 768 dimensions, 1 ms at 1M vectors; 32 per slice
// made the median search right after a kill -9 at 1M vectors 35 ms).
constexpr std::size_t kLinksPerSlice = 8;

// Vectors partition, at each tick: links a slice of the unlinked vectors or,
// once there are none, considers a snapshot. The next tick comes at once
// while vectors remain unlinked, after SnapshotCheckInterval otherwise (one
// chain of ticks per actor).
void Tick(partition_actor::stateful_pointer<partition_state> self) {
  auto& st = self->state;
  VectorIndex* index = st.opened && st.opened->vectors ? &st.opened->vectors->index() : nullptr;
  if (index != nullptr && index->unlinked() > 0) {
    if (index->LinkUnlinked(kLinksPerSlice) > 0) {
      self->send(self, tick_atom_v);
      return;
    }
    LogInfo("vectors", "every vector is linked into the graph (" + std::to_string(index->size()) + " vectors)");
  }
  MaybeSnapshotIndex(st, ClockMicros(self));
  self->delayed_send(self, SnapshotCheckInterval(st), tick_atom_v);
}

// Vectors partition: the first tick, once there is an index (at spawn, or
// when a restarted partition attaches).
void StartSnapshotTicks(partition_actor::stateful_pointer<partition_state> self) {
  auto& st = self->state;
  if (st.ticking || !st.opened || !st.opened->vectors || st.opened->vectors_snapshot_interval.count() <= 0) return;
  st.ticking = true;
  st.last_snapshot_micros = ClockMicros(self);
  st.vectors_indexed_at_snapshot = st.opened->vectors->vectors_indexed();
  if (st.opened->vectors->index().unlinked() > 0 || st.opened->vectors_snapshot_due) {
    self->send(self, tick_atom_v);
  } else {
    self->delayed_send(self, SnapshotCheckInterval(st), tick_atom_v);
  }
}

// Under Changing.
void Attach(partition_state& st, partition_ptr opened) {
  st.opened = std::move(opened);
  st.partition = st.opened ? st.opened->lake.get() : nullptr;
}

// Under Changing, once the partition reflects every write dispatched to it:
// readers may read it from now on.
void Publish(partition_state& st) {
  const std::uint64_t applied = std::max(st.view().applied_lsn(), st.opened ? st.opened->reflects_lsn : 0);
  st.view().Publish(st.partition, applied);
}

// One search waiting for full-precision vectors from the store.
struct SearchJob {
  search_request request;
  VectorSearchOptions options;
  VectorCandidates candidates;
  std::unordered_map<std::string, records::FileVectors> files;  // by key
  int outstanding = 0;
  caf::typed_response_promise<std::vector<search_hit>> promise;
};

VectorSearchOptions OptionsFor(const search_request& r, std::size_t index_size) {
  VectorSearchOptions o;
  o.k = r.k;
  o.metric = static_cast<VectorMetric>(r.metric);
  // Exact: every vector is a candidate and is scored at full precision.
  o.rerank_candidates = r.exact ? std::max<std::size_t>(index_size, r.k) : 0;
  if (r.owner == records::vector_owner::code_chunk) o.filter.kind = VectorOwnerKind::kCodeChunk;
  if (r.owner == records::vector_owner::history_message) o.filter.kind = VectorOwnerKind::kHistoryMessage;
  o.filter.path_prefix = r.path_prefix;
  o.filter.language = r.language;
  o.filter.session = r.session;
  return o;
}

// Re-ranks with the fetched vectors and answers.
caf::expected<std::vector<search_hit>> FinishSearch(const VectorCatalog& catalog, const SearchJob& job) {
  const auto& index = catalog.index();
  const std::size_t dim = index.dimension();
  std::vector<float> full(job.candidates.ids.size() * dim, 0.0f);
  for (std::size_t i = 0; i < job.candidates.ids.size(); ++i) {
    const std::uint64_t id = job.candidates.ids[i];
    auto key = catalog.KeyOf(id);
    if (!key) continue;  // removed meanwhile: Rerank skips it
    auto file = job.files.find(*key);
    const std::size_t chunk = VectorCatalog::ChunkOf(id);
    if (file == job.files.end() || chunk >= file->second.chunks() || file->second.dimension != dim) continue;
    std::memcpy(full.data() + i * dim, file->second.values.data() + chunk * dim, dim * sizeof(float));
  }
  auto hits = index.Rerank(job.request.query, job.candidates, full, job.options);
  if (!hits.ok()) return ToError(hits.status());
  std::vector<search_hit> out;
  out.reserve(hits->size());
  for (const auto& h : *hits) {
    auto attributes = index.Attributes(h.id);
    if (!attributes.ok()) continue;
    out.push_back(search_hit{h.id, attributes->path, VectorCatalog::ChunkOf(h.id),
                             attributes->language, attributes->session, h.score});
  }
  return out;
}

partition_actor::behavior_type PartitionBehavior(partition_actor::stateful_pointer<partition_state> self,
                                                 DataKind kind, partition_ptr partition,
                                                 std::uint64_t restarts, store_actor store,
                                                 std::shared_ptr<HotReads> hot_reads) {
  auto& st = self->state;
  st.kind = kind;
  st.hot_reads = std::move(hot_reads);
  // A clean stop (the engine's user_shutdown) saves the vector index's
  // snapshot first: the next start loads it rather than re-applying every
  // vector written since the last one. Any other exit ends the actor as CAF
  // would (a crash leaves the older snapshot; the next open reconciles it).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& state = self->state;
    if (msg.reason == caf::exit_reason::user_shutdown && state.opened && state.opened->encode_vectors_snapshot) {
      if (state.snapshot_writer.joinable()) state.snapshot_writer.join();
      Status saved =
          state.opened->write_vectors_snapshot(state.opened->encode_vectors_snapshot(IndexThroughLsn(state)));
      if (!saved.ok()) LogWarning("vectors", "saving the index at stop failed (the next start re-applies): " + saved.ToString());
    }
    self->quit(msg.reason);
  });
  {
    Changing changing(st);
    Attach(st, std::move(partition));
    if (st.partition) {
      st.partition->RebaseClock(ClockMicros(self));
      Publish(st);
    }
  }
  st.restarts = restarts;
  st.store = std::move(store);
  StartSnapshotTicks(self);
  return {
      [=](apply_atom, std::vector<logged_write>& writes) {
        auto& st = self->state;
        if (!st.partition) {
          for (auto& w : writes) st.queued_writes.push_back(std::move(w));
          return;
        }
        Changing changing(st);
        st.partition->SetNow(ClockMicros(self));
        ApplyWrites(st, writes);
      },
      [=](read_atom, const std::string& key) -> caf::result<versioned_value> {
        auto& st = self->state;
        if (!st.partition) return ToError(Status::NotFound("partition attaching"));
        Changing changing(st);  // Lookup updates statistics and recency
        st.partition->SetNow(ClockMicros(self));
        auto view = st.partition->Lookup(key);
        if (!view) return ToError(Status::NotFound(key));
        return versioned_value{std::string(view->value), view->lsn};
      },
      [=](promote_atom, std::string& key, versioned_value& value) {
        auto& st = self->state;
        // While attaching, a promotion is dropped: queued behind writes it
        // could bring a deleted key back, and it is only a cache fill.
        if (!st.partition) return;
        Changing changing(st);
        // Too large for a record of this partition (or all dirty): it stays
        // on disk, and the promotion does not count.
        if (st.partition->Put(key, value.value, value.lsn).ok()) {
          ++st.promotions;
        } else {
          ++st.uncached_writes;
        }
      },
      [=](access_atom, const std::string& key) -> bool {
        return self->state.partition != nullptr && self->state.partition->Contains(key);
      },
      [=](persisted_atom, std::uint64_t lsn) {
        auto& st = self->state;
        st.persisted_lsn = std::max(st.persisted_lsn, lsn);
        if (!st.partition) return;
        Changing changing(st);
        st.partition->SetPersistedLsn(st.persisted_lsn);
        // The controller sent every write up to lsn here before this
        // message: all are applied, so the watermark may advance to it.
        st.partition->SetAppliedLsn(st.persisted_lsn);
      },
      [=](evict_atom, std::uint64_t cutoff_micros, bool dry_run) -> caf::result<std::uint64_t, std::uint64_t> {
        auto& st = self->state;
        if (!st.partition) return {std::uint64_t{0}, std::uint64_t{0}};
        Changing changing(st);
        if (dry_run) {
          auto preview = st.partition->PreviewEvictColderThan(cutoff_micros);
          return {preview.entries, preview.bytes};
        }
        std::vector<storage::ramlake::EvictedEntry> evicted;
        st.partition->EvictColderThan(cutoff_micros, &evicted);
        std::uint64_t bytes = 0;
        for (const auto& e : evicted) bytes += e.bytes;
        return {static_cast<std::uint64_t>(evicted.size()), bytes};
      },
      [=](stats_atom) -> partition_report {
        auto& st = self->state;
        partition_report r;
        r.kind = st.kind;
        r.restarts = st.restarts;
        r.uncached_writes = st.uncached_writes;
        r.promotions = st.promotions;
        r.ready = st.partition != nullptr;
        if (st.partition) {
          Changing changing(st);  // counts the hot reads made so far
          auto s = st.partition->Stats();
          r.entries = s.entries;
          r.bytes = s.live_bytes;
          r.budget_bytes = s.usable_bytes;
          r.hits = s.hits;
          r.misses = s.misses;
          r.evictions = s.evictions;
          r.dirty_entries = s.dirty_entries;
          r.persisted_lsn = s.persisted_lsn;
          r.max_record_bytes = st.partition->max_record_bytes();
          r.eviction_policy = std::string(EvictionPolicyName(st.partition->eviction_policy()));
          r.file = st.partition->file_path();
        }
        if (st.opened && st.opened->vectors) {
          const auto& index = st.opened->vectors->index();
          r.index_vectors = index.size();
          r.index_bytes = index.RamBytes();
          r.index_graph_bytes = index.GraphRamBytes();
        }
        if (st.opened && st.opened->lexical) {
          r.text_index_units = st.opened->lexical->files();
          r.text_index_bytes = st.opened->lexical->RamBytes();
        }
        return r;
      },
      [=](search_atom, search_request& request) -> caf::result<std::vector<search_hit>> {
        auto& st = self->state;
        if (st.kind == DataKind::kCode || st.kind == DataKind::kHistory) return SearchWords(st, request);
        if (st.kind != DataKind::kVectors) {
          return ToError(Status::InvalidArgument("search: not the vectors partition"));
        }
        if (!st.opened) return ToError(Status::Unavailable("search: the vector index is being rebuilt; try again"));
        auto& catalog = *st.opened->vectors;
        auto job = std::make_shared<SearchJob>();
        job->options = OptionsFor(request, catalog.index().size());
        auto candidates = catalog.index().FindCandidates(request.model, request.query, job->options);
        if (!candidates.ok()) return ToError(candidates.status());
        job->candidates = std::move(*candidates);
        job->request = std::move(request);
        // Full precision from RAM where the file's record is hot ...
        std::vector<std::string> cold;
        {
          Changing changing(st);  // Lookup updates statistics and recency
          for (std::uint64_t id : job->candidates.ids) {
            auto key = catalog.KeyOf(id);
            if (!key || job->files.count(*key)) continue;
            if (auto view = st.partition->Lookup(*key)) {
              auto file = records::DecodeFileVectors(*key, view->value);
              if (file.ok()) {
                job->files.emplace(*key, std::move(*file));
                continue;
              }
            }
            if (std::find(cold.begin(), cold.end(), *key) == cold.end()) cold.push_back(*key);
          }
        }
        if (cold.empty()) {
          auto hits = FinishSearch(catalog, *job);
          if (!hits) return hits.error();
          return std::move(*hits);
        }
        // ... and from the store for the rest (both tiers are always searched).
        job->promise = self->make_response_promise<std::vector<search_hit>>();
        job->outstanding = static_cast<int>(cold.size());
        auto finish_one = [=] {
          if (--job->outstanding > 0) return;
          if (!self->state.opened) {
            job->promise.deliver(ToError(Status::Unavailable("search: the vectors partition restarted")));
            return;
          }
          auto hits = FinishSearch(*self->state.opened->vectors, *job);
          if (hits) {
            job->promise.deliver(std::move(*hits));
          } else {
            job->promise.deliver(hits.error());
          }
        };
        for (const auto& key : cold) {
          self->request(st.store, caf::infinite, read_atom_v, DataKind::kVectors, key)
              .then(
                  [=](versioned_value& v) {
                    auto file = records::DecodeFileVectors(key, v.value);
                    if (file.ok()) job->files.emplace(key, std::move(*file));
                    finish_one();
                  },
                  [=](caf::error&) { finish_one(); });  // deleted meanwhile: skipped by Rerank
        }
        return job->promise;
      },
      [=](search_atom, search_request& request, std::vector<search_hit>& vector_hits,
          std::vector<search_hit>& lexical_hits) -> caf::result<std::vector<search_hit>> {
        auto& st = self->state;
        if (st.kind != DataKind::kCode) return ToError(Status::InvalidArgument("search: not the code partition"));
        const LexicalIndex* index = st.opened ? st.opened->lexical.get() : nullptr;
        return FuseHybrid(vector_hits, lexical_hits, index, request.k, HybridLexicalWeight(request.model));
      },
      [=](attach_atom, partition_ptr& partition) {
        auto& st = self->state;
        Changing changing(st);
        Attach(st, std::move(partition));
        st.partition->SetPersistedLsn(st.persisted_lsn);
        st.partition->RebaseClock(ClockMicros(self));
        ApplyWrites(st, st.queued_writes);
        st.queued_writes.clear();
        Publish(st);
        StartSnapshotTicks(self);
      },
      [=](tick_atom) { Tick(self); },
  };
}

}  // namespace

opened_partition::~opened_partition() = default;

partition_actor SpawnPartition(caf::actor_system& sys, DataKind kind, partition_ptr partition,
                               std::uint64_t restarts, store_actor store, std::shared_ptr<HotReads> hot_reads) {
  return sys.spawn(PartitionBehavior, kind, std::move(partition), restarts, std::move(store), std::move(hot_reads));
}

}  // namespace postdevai::actors
