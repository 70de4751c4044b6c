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

constexpr std::chrono::milliseconds kFirstRetry{200};
constexpr std::chrono::milliseconds kLongestRetry{10'000};

struct store_state {
  std::shared_ptr<storage::PersistentStore> store;
  std::vector<logged_payload> queued;  // in LSN order
  std::uint64_t durable_lsn = 0;       // the WAL is durable up to here
  bool flush_pending = false;
  // Applying failed (a full disk, EIO): the writes wait in the queue, safe in
  // the WAL, reads are served from the queue and LevelDB, and only the retry
  // timer (backing off) or an explicit checkpoint tries again.
  bool failing = false;
  std::chrono::milliseconds retry_delay{kFirstRetry};
  std::uint64_t failed_attempts = 0;
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
// writes stay queued (they are durable in the WAL) and are retried by the
// retry timer, backing off from kFirstRetry to kLongestRetry; while failing,
// only a retry (or a checkpoint: `attempt_while_failing`) tries again.
void Flush(store_actor::stateful_pointer<store_state> self, bool attempt_while_failing = false) {
  auto& st = self->state;
  st.flush_pending = false;
  const std::size_t n = DurablePrefix(st);
  if (n == 0 || (st.failing && !attempt_while_failing)) return;
  storage::StoreWriteBatch batch;
  Status s;
  for (std::size_t i = 0; i < n && s.ok(); ++i) s = storage::AddLoggedWrite(st.queued[i].payload, st.queued[i].lsn, &batch);
  if (s.ok()) s = st.store->Write(batch);
  if (!s.ok()) {
    st.last_error = s;
    ++st.failed_attempts;
    if (!st.failing) {
      st.failing = true;
      LogWarning("store", "applying " + std::to_string(n) + " writes failed; they are safe in the WAL, reads go on "
                              "(from the queue and LevelDB), retrying with backoff: " + s.ToString());
      self->delayed_send(self, st.retry_delay, tick_atom_v);
    }
    return;
  }
  if (st.failing) {
    LogInfo("store", "applying writes again after " + std::to_string(st.failed_attempts) + " failed attempts");
    st.failing = false;
    st.retry_delay = kFirstRetry;
    st.failed_attempts = 0;
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
      [=](flush_atom) { Flush(self); },
      [=](tick_atom) {
        // The retry timer of a failing store.
        auto& st = self->state;
        Flush(self, /*attempt_while_failing=*/true);
        if (st.failing) {
          st.retry_delay = std::min(st.retry_delay * 2, kLongestRetry);
          self->delayed_send(self, st.retry_delay, tick_atom_v);
        }
      },
      [=](persisted_atom, std::uint64_t wal_durable_lsn) {
        auto& st = self->state;
        st.durable_lsn = std::max(st.durable_lsn, wal_durable_lsn);
        Flush(self);
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        Flush(self, /*attempt_while_failing=*/true);
        if (DurablePrefix(self->state) > 0) {
          return ToError(self->state.last_error.WithContext("the store is behind"));
        }
        return self->state.applied_lsn;
      },
      [=](read_atom, DataKind kind, const std::string& key) -> caf::result<versioned_value> {
        // A read sees every write acknowledged before it. Those LevelDB
        // lacks are in the queue: relaxed writes not durable yet, and any
        // the store could not apply (a full disk): read from there, newest
        // first; for every other key LevelDB is current.
        auto& st = self->state;
        Flush(self);
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
        Flush(self, /*attempt_while_failing=*/true);
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
        if (self->state.failing) r.store_error = self->state.last_error.ToString();
        return r;
      },
      [=](route_atom, const caf::actor& controller) { self->state.controller = controller; },
  };
}

}  // namespace

store_actor SpawnStore(caf::actor_system& sys, std::shared_ptr<storage::PersistentStore> store) {
  return SpawnBlocking(sys, StoreBehavior, std::move(store));
}

}  // namespace postdevai::actors
