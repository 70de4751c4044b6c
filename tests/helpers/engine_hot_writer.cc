// Child process for the RAM-Lake warm-restart test:
//   engine_hot_writer PERSISTENT_DIR RAMLAKE_DIR COUNT
// Starts the engine, writes COUNT code records k0..k<COUNT-1> (each
// acknowledged durable), prints "ready\n" on stdout and then waits to be
// killed with SIGKILL: the RAM-Lake files are left as a crash leaves them.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "actors/engine.h"
#include "actors/errors.h"
#include "tests/helpers/engine_test_config.h"

int main(int argc, char** argv) {
  using namespace postdevai;
  using namespace postdevai::actors;
  if (argc != 4) {
    std::fprintf(stderr, "usage: engine_hot_writer PERSISTENT_DIR RAMLAKE_DIR COUNT\n");
    return 2;
  }
  caf::actor_system_config cfg;
  ConfigureActorSystem(cfg);
  caf::actor_system sys{cfg};
  auto engine = Engine::Start(sys, testing::SmallEngineConfig(argv[1], argv[2]));
  if (!engine.ok()) {
    std::fprintf(stderr, "engine_hot_writer: %s\n", engine.status().ToString().c_str());
    return 3;
  }
  caf::scoped_actor self{sys};
  const int count = std::atoi(argv[3]);
  for (int i = 0; i < count; ++i) {
    write_batch batch;
    batch.mutations.push_back(mutation{DataKind::kCode, "k" + std::to_string(i),
                                       testing::HotValue(i), false});
    bool ok = false;
    self->request((*engine)->local(), std::chrono::seconds(30), write_atom_v, std::move(batch))
        .receive([&](std::uint64_t) { ok = true; },
                 [&](caf::error& e) { std::fprintf(stderr, "engine_hot_writer: %s\n", caf::to_string(e).c_str()); });
    if (!ok) return 4;
  }
  // Acknowledged means durable and sent to the partition; wait until the
  // partition has also written every record into its file, so the kill finds
  // them all there (a record still in the partition's mailbox would be served
  // from disk after the restart: safe, but not what this test measures).
  for (int attempt = 0; attempt < 10000; ++attempt) {
    std::uint64_t entries = 0;
    self->request((*engine)->local(), std::chrono::seconds(30), stats_atom_v)
        .receive([&](memory_report& r) { entries = r.partitions[static_cast<std::size_t>(DataKind::kCode)].entries; },
                 [](caf::error&) {});
    if (entries >= static_cast<std::uint64_t>(count)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}
