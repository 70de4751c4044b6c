// The tiering supervisor: watches the partition actors and restarts a crashed
// one (its file is re-attached on a detached thread, so the others keep
// serving and nothing is lost: the store has every write); runs the periodic
// tiering pass that demotes what has not been touched for hot_retention_hours.
// (Promotions are decided by the controller, which has the value in hand.)
#include <thread>

#include "actors/errors.h"
#include "actors/spawn.h"
#include "postdevai/log.h"

namespace postdevai::actors {
namespace {

struct supervisor_state {
  SupervisorOptions options;
  std::array<partition_actor, kKinds> partitions;
  std::array<std::uint64_t, kKinds> restarts{};
  PartitionOpener opener;
  store_actor store;
  std::shared_ptr<HotReads> hot_reads;  // handed to every partition actor
  caf::actor controller;
  std::uint64_t total_restarts = 0;
  bool stopping = false;
  static inline const char* name = "postdevai.supervisor";
};

void Watch(supervisor_actor::stateful_pointer<supervisor_state> self, std::size_t k) {
  self->monitor(self->state.partitions[k]);
}

void Restart(supervisor_actor::stateful_pointer<supervisor_state> self, std::size_t k) {
  auto& st = self->state;
  ++st.restarts[k];
  ++st.total_restarts;
  auto kind = static_cast<DataKind>(k);
  auto fresh = SpawnPartition(self->system(), kind, nullptr, st.restarts[k], st.store, st.hot_reads);
  st.partitions[k] = fresh;
  Watch(self, k);
  // Re-attach the file off the scheduler: it reads LevelDB to prove records
  // current. Only once the store holds every write that went to the old
  // actor may it judge the file: the controller confirms the new route (writes
  // after it queue in the new actor), and the store applies what was sent
  // before (its mailbox is in order). The controller names the last write
  // it sent to the old actor: the re-attached file reflects it (read views
  // serve from the new actor once it has also applied what came after).
  auto opener = st.opener;
  auto store = st.store;
  auto start_opener = [self, opener, store, kind, fresh](std::uint64_t routed_lsn) {
    self->system().spawn<caf::detached>([opener, store, kind, fresh, routed_lsn](caf::blocking_actor* b) {
      const std::string name(DataKindName(kind));
      for (int attempt = 1;; ++attempt) {
        Status synced;
        b->request(store, std::chrono::minutes(5), sync_atom_v)
            .receive([](std::uint64_t) {}, [&](caf::error& e) { synced = FromError(e); });
        Result<partition_ptr> partition = synced.ok() ? opener(kind) : Result<partition_ptr>(synced);
        if (partition.ok()) {
          (*partition)->reflects_lsn = routed_lsn;
          caf::anon_send(fresh, attach_atom_v, std::move(*partition));
          return;
        }
        LogError("supervisor", "partition " + name + " could not be re-attached (attempt " + std::to_string(attempt) +
                                   "): " + partition.status().ToString());
        if (attempt == 5) return;  // reads keep coming from the store
        std::this_thread::sleep_for(std::chrono::seconds(attempt));
      }
    });
  };
  if (st.controller) {
    self->request(caf::actor_cast<controller_actor>(st.controller), caf::infinite, route_atom_v, kind, fresh)
        .then([start_opener](std::uint64_t routed_lsn) { start_opener(routed_lsn); },
              [start_opener](caf::error&) { start_opener(0); });
  } else {
    start_opener(0);
  }
}

supervisor_actor::behavior_type SupervisorBehavior(supervisor_actor::stateful_pointer<supervisor_state> self,
                                                   SupervisorOptions options,
                                                   std::array<partition_actor, kKinds> partitions,
                                                   PartitionOpener opener, store_actor store,
                                                   std::shared_ptr<HotReads> hot_reads) {
  auto& st = self->state;
  st.store = std::move(store);
  st.hot_reads = std::move(hot_reads);
  st.options = options;
  st.partitions = std::move(partitions);
  st.opener = std::move(opener);
  for (std::size_t k = 0; k < kKinds; ++k) Watch(self, k);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    for (std::size_t k = 0; k < kKinds; ++k) {
      if (msg.source != st.partitions[k].address()) continue;
      if (st.stopping || msg.reason == caf::exit_reason::user_shutdown || msg.reason == caf::exit_reason::normal) return;
      LogWarning("supervisor", "partition " + std::string(DataKindName(static_cast<DataKind>(k))) + " stopped (" +
                                   caf::to_string(msg.reason) + "); restarting it");
      Restart(self, k);
      return;
    }
  });
  self->attach_functor([=] { self->state.stopping = true; });
  self->delayed_send(self, st.options.pass_interval, tick_atom_v);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        const auto now = ClockMicros(self);
        const auto retention =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(st.options.hot_retention).count());
        if (now > retention) {
          for (const auto& p : st.partitions) caf::anon_send(p, evict_atom_v, now - retention, false);
        }
        self->delayed_send(self, st.options.pass_interval, tick_atom_v);
      },
      [=](stats_atom) -> std::uint64_t { return self->state.total_restarts; },
      [=](route_atom, const caf::actor& controller) { self->state.controller = controller; },
      [=](route_atom) {
        std::vector<caf::actor> out;
        for (const auto& p : self->state.partitions) out.push_back(caf::actor_cast<caf::actor>(p));
        return out;
      },
  };
}

}  // namespace

supervisor_actor SpawnSupervisor(caf::actor_system& sys, SupervisorOptions options,
                                 std::array<partition_actor, kKinds> partitions, PartitionOpener opener,
                                 store_actor store, std::shared_ptr<HotReads> hot_reads) {
  return sys.spawn(SupervisorBehavior, options, std::move(partitions), std::move(opener), std::move(store),
                   std::move(hot_reads));
}

void ConnectController(const ControllerParts& parts, const controller_actor& controller) {
  auto untyped = caf::actor_cast<caf::actor>(controller);
  caf::anon_send(parts.supervisor, route_atom_v, untyped);
  caf::anon_send(parts.store, route_atom_v, untyped);
  caf::anon_send(parts.prefetcher, route_atom_v, untyped);
}

}  // namespace postdevai::actors
