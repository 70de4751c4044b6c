// Internal: how the engine spawns each actor. Only actors/*.cc include this.
#pragma once

#include <array>
#include <functional>
#include <memory>

#include <caf/scheduler/test_coordinator.hpp>

#include "actors/interfaces.h"
#include "storage/file_system.h"
#include "postdevai/config.h"

namespace postdevai::storage {
class Wal;
class PersistentStore;
}  // namespace postdevai::storage

namespace postdevai::actors {

class HotReads;

inline constexpr std::size_t kKinds = 4;

// Spawns an actor that blocks on I/O: detached (a thread of its own), except
// under CAF's test coordinator (scheduler.policy = testing), whose job queue
// only the thread driving it may touch: there it is scheduled like the rest,
// so a test drives every actor itself and no other thread enqueues jobs.
template <class... Ts>
auto SpawnBlocking(caf::actor_system& sys, Ts&&... xs) {
  if (dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler()) != nullptr) {
    return sys.spawn(std::forward<Ts>(xs)...);
  }
  return sys.spawn<caf::detached>(std::forward<Ts>(xs)...);
}

// Opens (re-attaches) the RAM-Lake partition file of a kind. Blocking: it
// reads LevelDB to prove records current. Called on detached threads only.
using PartitionOpener = std::function<Result<partition_ptr>(DataKind kind)>;

// Microseconds on the actor clock (steady; the testing clock in tests).
template <class Self>
std::uint64_t ClockMicros(Self* self) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(self->clock().now().time_since_epoch()).count());
}

// The WAL payload of a write, its values compressed for `store`
// (storage::EncodeLoggedWrite): what an encoder replies.
Result<std::string> EncodeWrite(const storage::PersistentStore& store, const write_batch& batch);
encoder_actor SpawnEncoder(caf::actor_system& sys, std::shared_ptr<const storage::PersistentStore> store);

struct JournalOptions {
  std::size_t max_batch = 256;  // most writes one fdatasync covers ([wal] group_commit_max_batch)
  // Relaxed writes are synced at most this long after the first of them was
  // acknowledged ([wal] relaxed_sync_ms).
  std::chrono::milliseconds relaxed_sync_window{20};
  std::uint8_t relaxed_kinds = 0;  // bit k: kind k's durability is "relaxed" (for reports)
  // Whose wall clock stamps each batch (the WAL's clock records, for a
  // restore to a point in time). Null: the default file system's.
  storage::FileSystem* clock = nullptr;
};
// `store` (may be null in tests) learns how far the WAL is durable after
// relaxed writes are synced.
journal_actor SpawnJournal(caf::actor_system& sys, std::shared_ptr<storage::Wal> wal, JournalOptions options,
                           store_actor store);
store_actor SpawnStore(caf::actor_system& sys, std::shared_ptr<storage::PersistentStore> store);
// A partition actor; `partition` may be null (it then waits for attach_atom).
// It publishes its partition through hot_reads->view(kind).
partition_actor SpawnPartition(caf::actor_system& sys, DataKind kind, partition_ptr partition,
                               std::uint64_t restarts, store_actor store, std::shared_ptr<HotReads> hot_reads);

struct ControllerParts {
  journal_actor journal;
  store_actor store;
  std::array<partition_actor, kKinds> partitions;
  supervisor_actor supervisor;
  prefetcher_actor prefetcher;
  sync_timer_actor sync_timer;
  backup_actor backup;
  // The partitions' read views: the controller announces each write to the
  // view of its kind before acknowledging it, and counts their hits.
  std::shared_ptr<HotReads> hot_reads;
  // Compress writes before they are logged: one encoder per core, and the
  // store whose compression settings and dictionaries they use (the
  // controller encodes small writes itself, see controller_actor.cc).
  std::vector<encoder_actor> encoders;
  std::shared_ptr<const storage::PersistentStore> encoding_store;
  // Bit k: kind k's durability is "relaxed" (a write touching only such
  // kinds is acknowledged before its record is synced).
  std::uint8_t relaxed_kinds = 0;
  std::uint64_t max_value_bytes = 64u << 20;
  bool prefetch_enabled = true;
  std::uint32_t promote_after_hits = 2;  // [tiering]: disk reads before a key is loaded into RAM
  std::string vector_model;            // [vectors] model: what vectors records must carry
  std::uint32_t vector_dimension = 0;  // [vectors] dimension
};
controller_actor SpawnController(caf::actor_system& sys, ControllerParts parts);

struct SupervisorOptions {
  std::chrono::seconds pass_interval{10};
  std::chrono::hours hot_retention{24};
};
supervisor_actor SpawnSupervisor(caf::actor_system& sys, SupervisorOptions options,
                                 std::array<partition_actor, kKinds> partitions, PartitionOpener opener,
                                 store_actor store, std::shared_ptr<HotReads> hot_reads);
// Tells the supervisor, the store and the prefetcher who the controller is
// (they send to it).
void ConnectController(const ControllerParts& parts, const controller_actor& controller);

// Learns from the reads the controller reports and from those served by
// hot_reads (drained before every message and on a timer).
prefetcher_actor SpawnPrefetcher(caf::actor_system& sys, bool enabled, std::shared_ptr<HotReads> hot_reads);

// sync_wal_first: some kind is relaxed; a checkpoint syncs the WAL's
// buffered writes before it checkpoints the store.
// `archiver` archives the WAL segments each checkpoint releases.
sync_timer_actor SpawnSyncTimer(caf::actor_system& sys, std::chrono::seconds interval, store_actor store,
                                journal_actor journal, backup_actor archiver, bool sync_wal_first);

struct BackupOptions {
  std::string root;     // [backup] path (HybridMemoryConfig::BackupPath)
  std::string staging;  // on the store's file system: where the copy is made first
  std::chrono::hours interval{0};  // [backup] interval_hours; 0: on demand only
  std::size_t keep = 7;            // [backup] keep
  // How often the archive is pruned to what the kept backups need (and a
  // due backup is noticed): the checkpoint interval.
  std::chrono::seconds prune_interval{300};
  storage::FileSystem* fs = nullptr;
  std::shared_ptr<storage::Wal> wal;  // whose released segments it archives
  std::vector<std::string> hot_tier_files;  // copied into each backup (storage::CreateBackup)
};
backup_actor SpawnBackup(caf::actor_system& sys, BackupOptions options,
                         std::shared_ptr<storage::PersistentStore> store);

}  // namespace postdevai::actors
