// The engine: opens the tiers, recovers them and runs the seven actor roles
// (controller, journal, store, four partitions, supervisor, prefetcher, sync
// timer) inside a host's caf::actor_system. Used by dragon_node, by the
// blocking facade (include/postdevai/hybrid_memory.h) and by actor-native
// hosts (include/postdevai/actor_api.h).
//
// Start does the blocking part synchronously: open LevelDB, replay the WAL
// after its checkpoint, re-attach each RAM-Lake partition file (records whose
// checksum holds and whose LSN is what the store holds are kept; the rest is
// dropped), then spawns the actors. Stop checkpoints and stops them all.
// Thread-safety: Start/Stop from one thread; controller() from any.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "actors/endpoint_actor.h"
#include "actors/interfaces.h"
#include "postdevai/config.h"
#include "storage/cold_tier.h"
#include "storage/ramlake/ramlake_partition.h"
#include "storage/replication_log.h"

namespace postdevai::storage {
struct BackupManifest;
}

namespace postdevai::actors {

class HotReads;

struct EngineReport {
  storage::DurableStoreRecovery cold;                      // WAL replay
  std::array<storage::ramlake::OpenReport, 4> partitions;  // re-attach, by DataKind
  std::string ramlake_warning;                             // e.g. not on a RAM disk
  std::string store_path, wal_path, ramlake_path;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Start(caf::actor_system& sys, const HybridMemoryConfig& config,
                                               EngineReport* report = nullptr,
                                               storage::FileSystem* fs = storage::FileSystem::Default());
  ~Engine();

  // The public protocol, served by the controller itself: for this process
  // (the facade, actor-native hosts, the metrics exporter).
  engine_actor local() const { return controller_; }
  // The public protocol, served by the network endpoint: the only handle
  // that may be published to other processes.
  const engine_actor& endpoint() const { return endpoint_.actor; }
  // Internal, for tests: the whole controller and the supervisor (which
  // names the current partition actors).
  const controller_actor& controller() const { return controller_; }
  const supervisor_actor& supervisor() const { return supervisor_; }
  // Reads of RAM-resident entries without a message (actors/hot_reads.h),
  // for the threads of this process that read: pass it to MakeActorPort.
  // Stays valid after Stop (every read then declines).
  const std::shared_ptr<HotReads>& hot_reads() const { return hot_reads_; }

  // Checkpoints, then stops every actor and waits until they are gone (files
  // unmapped, LevelDB closed). Idempotent.
  Status Stop();

  // Replication ([replication], rpc/replication_service.h and
  // rpc/replica_follower.h). Thread-safe unless said otherwise.
  //
  // What a primary streams from memory: the newest durable WAL records.
  const std::shared_ptr<storage::ReplicationLog>& replication_log() const { return replication_log_; }
  // A reader of this node's WAL files, live and archived, for records no
  // longer in memory.
  storage::WalFileReader WalFiles() const;
  storage::StoreIdentity identity() const;
  // How far the WAL is durable.
  std::uint64_t durable_lsn() const;
  // A replica: logs its primary's records (consecutive, from durable_lsn() +
  // 1) as they are and applies them as the primary did; returns the last
  // LSN once reads and searches see them. kCorruption for a record that
  // does not decode or does not continue the log. Blocking; one caller at a
  // time.
  Result<std::uint64_t> ApplyReplicated(std::vector<storage::ReplicatedRecord> records);
  // Refuses writes with kClosed and this reason (a replica), or takes them
  // again (empty).
  void RefuseWrites(std::string reason);
  // A replica's promotion: a new epoch from the next LSN, durably, and the
  // primary it leaves (promoted_from); writes are taken from then on.
  // Returns the new identity.
  Result<storage::StoreIdentity> Promote(const std::string& former_primary);
  // The primary this node left when it was promoted ("": never promoted, or
  // it follows a primary again).
  std::string promoted_from() const;
  // A replica following a primary of a later epoch (it was promoted, or
  // restored) takes that epoch; a new replica that holds nothing yet takes
  // the primary's store id too (its WAL rewritten to name it).
  // kInvalidArgument for another store when this one holds writes.
  Status AdoptEpoch(const storage::StoreIdentity& primary);
  // A former primary told by its promoted replica that `successor` replaced
  // it: records it durably and refuses writes from now on, after restarts
  // too (until it is made a replica of the new primary, or promoted).
  // kInvalidArgument for another store or an epoch not after this one's.
  Status Fence(const storage::StoreIdentity& successor, const std::string& by);
  // Non-empty when this node was fenced: why it refuses writes.
  std::string fenced() const;
  // Whether a replica ever followed this node, and recording that it did
  // (durably, in the store).
  bool followed() const;
  Status NoteFollowed();
  // Writes refused (kClosed, reason) until ReleaseWrites takes them again;
  // neither undoes a fence (Fence wins whenever it comes).
  void HoldWrites(std::string reason);
  void ReleaseWrites();
  // A backup now, as `memory backup` makes one; returns its directory.
  // Blocking.
  Result<std::string> Backup();

  // Calls `died` once, on a CAF thread, if the controller or the network
  // endpoint terminates other than through Stop: the engine serves nothing
  // any more, and its owner should say why and stop (dragon_node exits).
  void OnUnexpectedStop(std::function<void(const std::string& why)> died);

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

 private:
  explicit Engine(caf::actor_system& sys) : sys_(sys) {}
  caf::actor_system& sys_;
  controller_actor controller_;
  Endpoint endpoint_;
  std::vector<caf::actor> actors_;  // everything to stop, controller last
  supervisor_actor supervisor_;
  std::shared_ptr<HotReads> hot_reads_;
  std::shared_ptr<storage::PersistentStore> store_;
  std::shared_ptr<storage::Wal> wal_;
  std::shared_ptr<storage::ReplicationLog> replication_log_;
  storage::FileSystem* fs_ = nullptr;
  std::string wal_dir_, wal_archive_dir_;
  mutable std::mutex fence_mu_;
  std::string fenced_;
  bool stopped_ = false;
  // Set before Stop ends the actors: their ends are then expected.
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

// The storage options a config implies.
storage::DurableStoreOptions DurableStoreOptionsFromConfig(const HybridMemoryConfig& config);

// After a restore from `backup` (storage::RestoreBackup) into the store the
// config names, now of identity `restored`: installs the hot-tier files the
// backup carries (the vector index snapshot) into the config's RAM-Lake
// directory, adopted for the restored store, so that the first start loads
// the index instead of rebuilding it from the store. Returns the files
// installed (none when the backup carries none). On error nothing usable is
// installed: the first start rebuilds, as without the backup's files.
Result<std::vector<std::string>> InstallHotTierFromBackup(storage::FileSystem* fs, const HybridMemoryConfig& config,
                                                          const storage::BackupManifest& backup,
                                                          const storage::StoreIdentity& restored);

// Recommended actor-system settings for the engine: at most as many worker
// threads as cores, and our message types registered.
void ConfigureActorSystem(caf::actor_system_config& cfg);

}  // namespace postdevai::actors
