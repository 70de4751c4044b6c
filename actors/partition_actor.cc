// One RAM-Lake partition per actor. The partition object is single-threaded
// by contract; this actor is its only user. While its file is being
// (re-)attached by a detached opener, reads miss (the controller falls back to
// the store) and writes queue up, so nothing stale is ever served.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::actors {
namespace {

using storage::ramlake::RamLakePartition;

struct partition_state {
  partition_ptr partition;
  std::uint8_t kind = 0;
  std::uint64_t restarts = 0;
  std::uint64_t persisted_lsn = 0;
  // Held while attaching, applied in order once attached.
  std::vector<logged_write> queued_writes;
  std::vector<std::pair<std::string, versioned_value>> queued_promotions;
  std::uint64_t uncached_writes = 0;
  static inline const char* name = "postdevai.partition";
};

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
    }
  }
}

partition_actor::behavior_type PartitionBehavior(partition_actor::stateful_pointer<partition_state> self,
                                                 std::uint8_t kind, partition_ptr partition,
                                                 std::uint64_t restarts) {
  auto& st = self->state;
  st.kind = kind;
  st.partition = std::move(partition);
  st.restarts = restarts;
  if (st.partition) st.partition->RebaseClock(ClockMicros(self));
  return {
      [=](apply_atom, std::vector<logged_write>& writes) {
        auto& st = self->state;
        if (!st.partition) {
          for (auto& w : writes) st.queued_writes.push_back(std::move(w));
          return;
        }
        st.partition->SetNow(ClockMicros(self));
        ApplyWrites(st, writes);
      },
      [=](read_atom, const std::string& key) -> caf::result<versioned_value> {
        auto& st = self->state;
        if (!st.partition) return ToError(Status::NotFound("partition attaching"));
        st.partition->SetNow(ClockMicros(self));
        auto view = st.partition->Lookup(key);
        if (!view) return ToError(Status::NotFound(key));
        return versioned_value{std::string(view->value), view->lsn};
      },
      [=](promote_atom, std::string& key, versioned_value& value) {
        auto& st = self->state;
        if (!st.partition) {
          st.queued_promotions.emplace_back(std::move(key), std::move(value));
          return;
        }
        (void)st.partition->Put(key, value.value, value.lsn);
      },
      [=](access_atom, const std::string& key) -> bool {
        return self->state.partition && self->state.partition->Contains(key);
      },
      [=](persisted_atom, std::uint64_t lsn) {
        auto& st = self->state;
        st.persisted_lsn = std::max(st.persisted_lsn, lsn);
        if (st.partition) st.partition->SetPersistedLsn(st.persisted_lsn);
      },
      [=](evict_atom, std::uint64_t cutoff_micros, bool dry_run) -> caf::result<std::uint64_t, std::uint64_t> {
        auto& st = self->state;
        if (!st.partition) return {std::uint64_t{0}, std::uint64_t{0}};
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
        r.ready = st.partition != nullptr;
        if (st.partition) {
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
        return r;
      },
      [=](attach_atom, partition_ptr& partition) {
        auto& st = self->state;
        st.partition = std::move(partition);
        st.partition->SetPersistedLsn(st.persisted_lsn);
        st.partition->RebaseClock(ClockMicros(self));
        ApplyWrites(st, st.queued_writes);
        for (auto& [key, value] : st.queued_promotions) (void)st.partition->Put(key, value.value, value.lsn);
        st.queued_writes.clear();
        st.queued_promotions.clear();
      },
      [=](crash_atom) {
        // An injected failure: the supervisor sees an abnormal exit and
        // restarts the partition from its file.
        self->quit(ToError(Status::IoError("partition crashed on purpose (test hook)")));
      },
  };
}

}  // namespace

partition_actor SpawnPartition(caf::actor_system& sys, std::uint8_t kind, partition_ptr partition,
                               std::uint64_t restarts) {
  return sys.spawn(PartitionBehavior, kind, std::move(partition), restarts);
}

}  // namespace postdevai::actors
