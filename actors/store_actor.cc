// The persistent store actor: LevelDB + zstd, blocking I/O, so detached.
// Applies logged writes in LSN order, batched through the mailbox like the
// journal, and tells the controller how far it has applied (entries up to
// there may leave RAM: the store can serve them). A relaxed write waits in
// the queue until the WAL is durable past it (a durable write behind it, or
// the journal's word after a sync): LevelDB, whose unsynced writes survive a
// kill -9 in the page cache, must never hold a write the WAL lost, or a
// restart would find the two disagreeing. Reads see queued writes.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "postdevai/log.h"
#include "storage/cold_tier.h"
#include "storage/persistent_store.h"

namespace postdevai::actors {
namespace {

struct store_state {
  std::shared_ptr<storage::PersistentStore> store;
  std::vector<logged_payload> queued;  // in LSN order
  std::uint64_t durable_lsn = 0;       // the WAL is durable up to here
  bool flush_pending = false;
  bool retry_scheduled = false;  // a retry after a failed apply is on its way
  std::uint64_t applied_lsn = 0;
  caf::actor controller;
  Status last_error;
  static inline const char* name = "postdevai.store";
};

// Queued writes the WAL holds durably: the ones that may be applied.
std::size_t DurablePrefix(const store_state& st) {
  std::size_t n = 0;
  while (n < st.queued.size() && st.queued[n].lsn <= st.durable_lsn) ++n;
  return n;
}

// Applies every queued write that is durable in the WAL. On failure the
// writes stay queued (they are durable in the WAL) and are retried on the
// next flush.
void Flush(store_actor::stateful_pointer<store_state> self) {
  auto& st = self->state;
  st.flush_pending = false;
  const std::size_t n = DurablePrefix(st);
  if (n == 0) return;
  storage::StoreWriteBatch batch;
  Status s;
  for (std::size_t i = 0; i < n && s.ok(); ++i) s = storage::AddLoggedWrite(st.queued[i].payload, st.queued[i].lsn, &batch);
  if (s.ok()) s = st.store->Write(batch);
  if (!s.ok()) {
    st.last_error = s;
    if (!st.retry_scheduled) {
      LogWarning("store", "applying " + std::to_string(n) + " writes failed (will retry): " +
                              s.ToString());
      st.retry_scheduled = true;
      self->delayed_send(self, std::chrono::milliseconds(200), flush_atom_v);
    }
    return;
  }
  st.applied_lsn = st.queued[n - 1].lsn;
  st.queued.erase(st.queued.begin(), st.queued.begin() + static_cast<std::ptrdiff_t>(n));
  if (st.controller) self->send(caf::actor_cast<controller_actor>(st.controller), persisted_atom_v, st.applied_lsn);
}

store_actor::behavior_type StoreBehavior(store_actor::stateful_pointer<store_state> self,
                                         std::shared_ptr<storage::PersistentStore> store) {
  self->state.store = std::move(store);
  self->state.applied_lsn = self->state.store->LastAppliedLsn();
  self->state.durable_lsn = self->state.applied_lsn;  // after recovery the store holds the whole WAL
  return {
      [=](apply_atom, std::vector<logged_payload>& writes) {
        auto& st = self->state;
        for (auto& w : writes) {
          // A durable write: the WAL is durable up to it, relaxed writes
          // before it included.
          if (w.durable) st.durable_lsn = std::max(st.durable_lsn, w.lsn);
          st.queued.push_back(std::move(w));
        }
        if (!st.flush_pending) {
          st.flush_pending = true;
          self->send(self, flush_atom_v);
        }
      },
      [=](flush_atom) {
        self->state.retry_scheduled = false;
        Flush(self);
      },
      [=](persisted_atom, std::uint64_t wal_durable_lsn) {
        auto& st = self->state;
        st.durable_lsn = std::max(st.durable_lsn, wal_durable_lsn);
        Flush(self);
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        Flush(self);
        if (DurablePrefix(self->state) > 0) {
          return ToError(self->state.last_error.WithContext("the store is behind"));
        }
        return self->state.applied_lsn;
      },
      [=](read_atom, DataKind kind, const std::string& key) -> caf::result<versioned_value> {
        // A read sees every write acknowledged before it: apply what is
        // durable. If that fails, LevelDB lacks acknowledged writes: no
        // answer rather than an old one.
        auto& st = self->state;
        Flush(self);
        if (DurablePrefix(st) > 0) {
          return ToError(Status::Unavailable("the store cannot apply acknowledged writes (they are safe in the WAL): " +
                                             st.last_error.ToString()));
        }
        // Relaxed writes not durable yet are read from the queue, newest first.
        std::vector<storage::Mutation> mutations;
        const auto storage_kind = static_cast<storage::Kind>(kind);
        for (auto w = st.queued.rbegin(); w != st.queued.rend(); ++w) {
          if (!storage::DecodeMutations(w->payload, &mutations).ok()) continue;
          for (auto m = mutations.rbegin(); m != mutations.rend(); ++m) {
            if (m->kind != storage_kind || m->key != key) continue;
            if (m->is_delete) return ToError(Status::NotFound(std::string(DataKindName(kind)) + " key was deleted"));
            auto value = m->encoded ? st.store->DecodeEncoded(m->value) : Result<std::string>(std::string(m->value));
            if (!value.ok()) return ToError(value.status());
            return versioned_value{std::move(*value), w->lsn};
          }
        }
        auto stored = self->state.store->GetWithLsn(kind, key);
        if (!stored.ok()) return ToError(stored.status());
        return versioned_value{std::move(stored->value), stored->lsn};
      },
      [=](checkpoint_atom) -> caf::result<std::uint64_t> {
        Flush(self);
        auto& st = self->state;
        // Relaxed writes still waiting for the WAL are after the checkpoint:
        // the WAL replays them.
        if (DurablePrefix(st) > 0) return ToError(st.last_error.WithContext("checkpoint: the store is behind"));
        const std::uint64_t lsn = std::max(st.applied_lsn, st.store->CheckpointLsn());
        Status s = st.store->Checkpoint(lsn);
        if (!s.ok()) return ToError(s);
        return lsn;
      },
      [=](compact_atom) -> caf::result<std::uint64_t> {
        Flush(self);
        Status s = self->state.store->Compact();
        if (!s.ok()) return ToError(s);
        std::uint64_t bytes = 0;
        for (auto kind : storage::kAllKinds) {
          auto stats = self->state.store->Stats(kind);
          if (stats.ok()) bytes += stats->approximate_disk_bytes;
        }
        return bytes;
      },
      [=](breakdown_atom) -> caf::result<std::vector<store_kind_report>> {
        Flush(self);
        std::vector<store_kind_report> out;
        for (auto kind : storage::kAllKinds) {
          auto stats = self->state.store->Stats(kind);
          if (!stats.ok()) return ToError(stats.status());
          store_kind_report r;
          r.kind = kind;
          r.entries = stats->entries;
          r.raw_bytes = stats->raw_bytes;
          r.stored_bytes = stats->stored_bytes;
          r.disk_bytes = stats->approximate_disk_bytes;
          r.dictionary_id = stats->dictionary_id;
          out.push_back(r);
        }
        return out;
      },
      [=](stats_atom) -> sync_report {
        sync_report r;
        r.applied_lsn = self->state.applied_lsn;
        r.checkpoint_lsn = self->state.store->CheckpointLsn();
        r.store_disk_bytes = self->state.store->ApproximateDiskBytes();
        auto totals = self->state.store->Totals();
        r.store_raw_bytes = totals.raw_bytes;
        r.store_encoded_bytes = totals.stored_bytes;
        return r;
      },
      [=](route_atom, const caf::actor& controller) { self->state.controller = controller; },
  };
}

}  // namespace

store_actor SpawnStore(caf::actor_system& sys, std::shared_ptr<storage::PersistentStore> store) {
  return sys.spawn<caf::detached>(StoreBehavior, std::move(store));
}

}  // namespace postdevai::actors
