// The sync timer: every sync_interval_minutes (and on `memory sync --force`)
// it asks the store for a checkpoint, then lets the archiver (the backup
// actor) release the WAL
// segments behind it. sync_lag_seconds is the actor-clock time since the last
// checkpoint.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "postdevai/log.h"

namespace postdevai::actors {
namespace {

struct sync_timer_state {
  std::chrono::seconds interval{300};
  store_actor store;
  journal_actor journal;
  backup_actor archiver;
  caf::actor_clock::time_point last_checkpoint;
  std::uint64_t checkpoint_lsn = 0;
  std::uint64_t checkpoints = 0;
  bool sync_wal_first = false;  // relaxed kinds exist: their buffered writes are synced first
  static inline const char* name = "postdevai.sync_timer";
};

void CheckpointStore(sync_timer_actor::stateful_pointer<sync_timer_state> self,
                     std::function<void(caf::expected<std::uint64_t>)> done);

// Syncs the WAL (relaxed writes still in its buffer become durable, and the
// journal tells the store, which applies them), checkpoints the store, then
// releases the WAL; delivers the LSN (or the error) to `done`.
void Checkpoint(sync_timer_actor::stateful_pointer<sync_timer_state> self,
                std::function<void(caf::expected<std::uint64_t>)> done) {
  // Every kind durable: every acknowledged write is durable already.
  if (!self->state.sync_wal_first) return CheckpointStore(self, std::move(done));
  self->request(self->state.journal, caf::infinite, sync_atom_v)
      .then([=](std::uint64_t) { CheckpointStore(self, done); }, [=](caf::error& err) { done(std::move(err)); });
}

void CheckpointStore(sync_timer_actor::stateful_pointer<sync_timer_state> self,
                     std::function<void(caf::expected<std::uint64_t>)> done) {
  self->request(self->state.store, caf::infinite, checkpoint_atom_v)
      .then(
          [=](std::uint64_t lsn) {
            auto& st = self->state;
            st.checkpoint_lsn = lsn;
            st.last_checkpoint = self->clock().now();
            ++st.checkpoints;
            self->request(st.archiver, caf::infinite, release_atom_v, lsn)
                .then([=](std::uint64_t) { done(lsn); },
                      [=](caf::error& err) {
                        // The checkpoint holds; old segments stay until the next one.
                        LogWarning("sync", "releasing WAL segments failed: " + caf::to_string(err));
                        done(lsn);
                      });
          },
          [=](caf::error& err) { done(std::move(err)); });
}

sync_timer_actor::behavior_type SyncTimerBehavior(sync_timer_actor::stateful_pointer<sync_timer_state> self,
                                                  std::chrono::seconds interval, store_actor store,
                                                  journal_actor journal, backup_actor archiver, bool sync_wal_first) {
  auto& st = self->state;
  st.sync_wal_first = sync_wal_first;
  st.interval = interval;
  st.store = std::move(store);
  st.journal = std::move(journal);
  st.archiver = std::move(archiver);
  st.last_checkpoint = self->clock().now();
  self->delayed_send(self, st.interval, tick_atom_v);
  return {
      [=](tick_atom) {
        Checkpoint(self, [=](caf::expected<std::uint64_t> lsn) {
          if (!lsn) LogWarning("sync", "checkpoint failed (will retry): " + caf::to_string(lsn.error()));
        });
        self->delayed_send(self, self->state.interval, tick_atom_v);
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        auto rp = self->make_response_promise<std::uint64_t>();
        Checkpoint(self, [=](caf::expected<std::uint64_t> lsn) mutable {
          if (lsn) {
            rp.deliver(*lsn);
          } else {
            rp.deliver(lsn.error());
          }
        });
        return rp;
      },
      [=](stats_atom) -> sync_report {
        auto& st = self->state;
        sync_report r;
        r.checkpoint_lsn = st.checkpoint_lsn;
        r.checkpoints = st.checkpoints;
        r.seconds_since_checkpoint = std::chrono::duration<double>(self->clock().now() - st.last_checkpoint).count();
        return r;
      },
  };
}

}  // namespace

sync_timer_actor SpawnSyncTimer(caf::actor_system& sys, std::chrono::seconds interval, store_actor store,
                                journal_actor journal, backup_actor archiver, bool sync_wal_first) {
  return sys.spawn(SyncTimerBehavior, interval, std::move(store), std::move(journal), std::move(archiver),
                   sync_wal_first);
}

}  // namespace postdevai::actors
