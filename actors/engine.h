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
#include <string>

#include "actors/endpoint_actor.h"
#include "actors/interfaces.h"
#include "postdevai/config.h"
#include "storage/cold_tier.h"
#include "storage/ramlake/ramlake_partition.h"

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
  bool stopped_ = false;
  // Set before Stop ends the actors: their ends are then expected.
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

// The storage options a config implies.
storage::DurableStoreOptions DurableStoreOptionsFromConfig(const HybridMemoryConfig& config);

// Recommended actor-system settings for the engine: at most as many worker
// threads as cores, and our message types registered.
void ConfigureActorSystem(caf::actor_system_config& cfg);

}  // namespace postdevai::actors
