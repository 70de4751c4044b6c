// The engine's timers under CAF's deterministic test scheduler and clock: the
// sync timer's checkpoints, the supervisor's tiering pass and the prefetcher,
// driven by advancing the actor clock instead of sleeping. (The journal and
// the store are detached actors with threads of their own; the driver runs
// the scheduled actors until the awaited reply arrives.)
#include <catch2/catch.hpp>

#include <caf/scheduler/test_coordinator.hpp>

#include <filesystem>
#include <random>
#include <thread>

#include "actors/engine.h"
#include "actors/errors.h"
#include "storage/backup.h"
#include "postdevai/hybrid_memory.h"
#include "records/stored_values.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::actors;
using postdevai::testing::TempDir;

namespace {

constexpr DataKind kCode = DataKind::kCode;

struct Deterministic {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::unique_ptr<caf::scoped_actor> self;
  std::unique_ptr<Engine> engine;

  explicit Deterministic(const HybridMemoryConfig& config) {
    AddMessageTypes(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    self = std::make_unique<caf::scoped_actor>(*sys);
    auto started = Engine::Start(*sys, config);
    REQUIRE(started.ok());
    engine = std::move(*started);
    sched->run();
  }
  ~Deterministic() {
    // Stop() blocks on replies: let the scheduled actors run meanwhile.
    std::atomic<bool> done{false};
    std::thread driver([&] {
      while (!done) {
        sched->run();
        std::this_thread::yield();
      }
    });
    engine.reset();
    done = true;
    driver.join();
  }

  // Runs scheduled actors until a message is waiting for `self`: however
  // long the detached actors take on a loaded machine, up to two minutes
  // (then the test fails rather than blocks).
  void DriveUntilReply() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while ((*self)->mailbox().empty()) {
      if (sched->run() == 0) std::this_thread::yield();
      if (std::chrono::steady_clock::now() > deadline) FAIL("no reply within two minutes");
    }
  }
  // Runs scheduled actors until nothing is left to do, twice in a row with
  // the detached actors given time to answer in between.
  void Settle() {
    for (int quiet = 0; quiet < 50;) {
      if (sched->run() == 0) {
        ++quiet;
        std::this_thread::yield();
      } else {
        quiet = 0;
      }
    }
  }
  // The first open built the (empty) vector index: the vectors partition
  // saves it once it runs, on its writer thread. Waits (30 s at most) for it.
  bool WaitForFirstSnapshot(const std::string& snapshot) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(snapshot) && std::chrono::steady_clock::now() < deadline) {
      sched->run();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::filesystem::exists(snapshot);
  }

  // Asks for stats until `done` holds for them (the detached store may still
  // be busy, e.g. flushing its memtable for a checkpoint).
  template <class Pred>
  memory_report StatsWhen(Pred done) {
    memory_report r;
    for (int i = 0; i < 100000; ++i) {
      r = Ask<memory_report>(stats_atom_v);
      if (done(r)) break;
      std::this_thread::yield();
    }
    return r;
  }

  template <class T, class... Ts>
  T Ask(Ts... xs) {
    T out{};
    auto handle = (*self)->request(engine->local(), caf::infinite, xs...);
    DriveUntilReply();
    handle.receive([&](T& r) { out = std::move(r); }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
    return out;
  }
  std::uint64_t Put(std::string key, std::string value) {
    write_batch batch;
    batch.mutations.push_back(mutation{kCode, std::move(key), std::move(value), false});
    return Ask<std::uint64_t>(write_atom_v, std::move(batch));
  }
  read_result Get(std::string key, std::string reader = "test") {
    return Ask<read_result>(read_atom_v, kCode, std::move(key), std::move(reader));
  }
};

HybridMemoryConfig Config(const TempDir& disk, const TempDir& ram) {
  auto c = postdevai::testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  c.sync_interval_minutes = 5;
  c.hot_retention_hours = 24;
  c.tiering.pass_interval_seconds = 60;
  c.tiering.promote_after_hits = 1000;  // promotions only from the prefetcher here
  return c;
}

}  // namespace

TEST_CASE("the sync timer checkpoints every sync_interval_minutes of actor-clock time", "[engine][clock]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  Deterministic d(Config(disk, ram));
  for (int i = 0; i < 40; ++i) d.Put("k" + std::to_string(i), "v");
  auto before = d.Ask<memory_report>(stats_atom_v);
  CHECK(before.sync.checkpoint_lsn == 0);
  CHECK(before.sync.durable_lsn == 40);

  d.sched->clock().advance_time(std::chrono::minutes(4));
  d.Settle();
  CHECK(d.Ask<memory_report>(stats_atom_v).sync.checkpoints == 0);  // not yet

  d.sched->clock().advance_time(std::chrono::minutes(1));
  auto after = d.StatsWhen([](const memory_report& r) { return r.sync.checkpoints > 0; });
  CHECK(after.sync.checkpoints == 1);
  CHECK(after.sync.checkpoint_lsn == 40);
  CHECK(after.sync.seconds_since_checkpoint == Approx(0.0));
  d.sched->clock().advance_time(std::chrono::seconds(90));
  CHECK(d.Ask<memory_report>(stats_atom_v).sync.seconds_since_checkpoint == Approx(90.0));
}

TEST_CASE("the tiering pass demotes what was not touched for hot_retention_hours", "[engine][clock]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  Deterministic d(Config(disk, ram));
  for (int i = 0; i < 30; ++i) d.Put("old" + std::to_string(i), "v" + std::to_string(i));
  // Make them clean (the store has them), as a checkpoint would.
  CHECK(d.Ask<std::uint64_t>(sync_atom_v) == 30);
  d.Settle();
  d.sched->clock().advance_time(std::chrono::hours(23));
  d.Settle();
  d.Put("fresh", "recent write");
  CHECK(d.Get("old3").served_from == tier::ram);  // touched: stays another 24 h
  d.sched->clock().advance_time(std::chrono::hours(2));
  d.Settle();
  auto stats = d.Ask<memory_report>(stats_atom_v);
  // Everything but "fresh" and "old3" was idle for 25 h and clean: demoted.
  CHECK(stats.partitions[DataKindIndex(kCode)].entries == 2);
  CHECK(stats.partitions[DataKindIndex(kCode)].evictions == 29);
  auto old = d.Get("old7");
  CHECK(old.served_from == tier::disk);
  CHECK(old.value == "v7");
  CHECK(d.Get("old3").served_from == tier::ram);
}

TEST_CASE("the prefetcher learns each reader's order, not the interleaving of several", "[engine][clock]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  Deterministic d(Config(disk, ram));
  for (const char* key : {"a.h", "a.cc", "b.h", "b.cc"}) d.Put(key, "content");
  CHECK(d.Ask<std::uint64_t>(sync_atom_v) == 4);
  d.Settle();
  auto evict_all = [&] {
    d.sched->clock().advance_time(std::chrono::seconds(5));
    (void)d.Ask<std::vector<eviction_result>>(evict_atom_v, std::uint64_t{1}, false);
  };
  // alice reads a.h then a.cc, bob b.h then b.cc, interleaved. Learned as one
  // stream this would be a.h -> b.h -> a.cc -> b.cc.
  for (int round = 0; round < 2; ++round) {
    evict_all();
    CHECK(d.Get("a.h", "alice").served_from == tier::disk);
    CHECK(d.Get("b.h", "bob").served_from == tier::disk);
    CHECK(d.Get("a.cc", "alice").served_from == tier::disk);
    CHECK(d.Get("b.cc", "bob").served_from == tier::disk);
    d.Settle();
  }
  evict_all();
  CHECK(d.Get("a.h", "alice").served_from == tier::disk);
  auto warmed = d.StatsWhen([](const memory_report& r) { return r.promotions >= 1; });
  CHECK(warmed.promotions == 1);
  d.Settle();
  CHECK(d.Get("a.cc", "alice").served_from == tier::ram);  // alice's next file, warmed
  CHECK(d.Get("b.h", "carol").served_from == tier::disk);   // not what the interleaving suggested
}

TEST_CASE("the prefetcher learns what is read together and warms it", "[engine][clock]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  Deterministic d(Config(disk, ram));
  d.Put("a.h", "header");
  d.Put("a.cc", "source");
  CHECK(d.Ask<std::uint64_t>(sync_atom_v) == 2);
  d.Settle();
  // Evicts everything: untouched for at least a second of actor-clock time
  // (recency has one-second resolution).
  auto evict_all = [&] {
    d.sched->clock().advance_time(std::chrono::seconds(5));
    std::uint64_t evicted = 0;
    for (const auto& r : d.Ask<std::vector<eviction_result>>(evict_atom_v, std::uint64_t{1}, false)) evicted += r.entries;
    return evicted;
  };
  // Twice: a.h then a.cc, both from disk. The prefetcher learns a.h → a.cc.
  for (int round = 0; round < 2; ++round) {
    evict_all();
    CHECK(d.Get("a.h").served_from == tier::disk);
    CHECK(d.Get("a.cc").served_from == tier::disk);
    d.Settle();
  }
  evict_all();
  CHECK(d.Get("a.h").served_from == tier::disk);
  // The prefetch of a.cc completes: it lands in RAM (a promotion) once the
  // detached store actor has answered.
  auto warmed = d.StatsWhen([](const memory_report& r) { return r.promotions >= 1; });
  CHECK(warmed.promotions == 1);
  CHECK(d.Get("a.cc").served_from == tier::ram);
  auto stats = d.Ask<memory_report>(stats_atom_v);
  CHECK(stats.prefetches >= 1);
  CHECK(stats.prefetch_hits >= 1);
}

TEST_CASE("the vector index is snapshotted every sync interval when enough changed, not otherwise",
          "[engine][clock][vectors]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  const auto config = Config(disk, ram);
  const std::string snapshot = config.ramlake_path + "/vectors.index";
  std::uint64_t lsn = 0;
  std::string periodic;
  {
    Deterministic d(config);
    REQUIRE(d.WaitForFirstSnapshot(snapshot));  // the empty index, saved once the partition runs
    const std::string empty = testing::ReadFile(snapshot);
    // 30 files' vectors, as StoreAndIndexCode writes them.
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (int f = 0; f < 30; ++f) {
      records::FileVectors v;
      v.model = config.vectors.model;
      v.dimension = config.vectors.dimension;
      v.path = "src/f" + std::to_string(f) + ".cc";
      v.language = "cpp";
      for (std::size_t i = 0; i < 3 * v.dimension; ++i) v.values.push_back(normal(rng));
      write_batch batch;
      batch.mutations.push_back(
          mutation{DataKind::kVectors, CodeIdForPath(v.path), records::EncodeFileVectors(v), false});
      lsn = d.Ask<std::uint64_t>(write_atom_v, std::move(batch));
    }
    d.Settle();
    CHECK(testing::ReadFile(snapshot) == empty);  // not before the interval

    // One interval later: written by the partition's writer thread.
    d.sched->clock().advance_time(std::chrono::minutes(config.sync_interval_minutes));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (testing::ReadFile(snapshot) == empty && std::chrono::steady_clock::now() < deadline) {
      d.sched->run();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    periodic = testing::ReadFile(snapshot);
    REQUIRE(periodic != empty);
    CHECK(periodic.size() > empty.size() + 90 * config.vectors.dimension);  // 90 int8 copies at least

    // Nothing changed since: the next interval writes nothing.
    const auto written_at = std::filesystem::last_write_time(snapshot);
    d.sched->clock().advance_time(std::chrono::minutes(config.sync_interval_minutes));
    d.Settle();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(std::filesystem::last_write_time(snapshot) == written_at);
  }  // a clean stop writes the snapshot again
  // The periodic snapshot held everything: the clean stop wrote the same bytes.
  CHECK(testing::ReadFile(snapshot) == periodic);
  CHECK(lsn == 30);
}

TEST_CASE("past 20000 vectors indexed since the last snapshot, one is written before the sync interval",
          "[engine][clock][vectors]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  const auto config = Config(disk, ram);  // sync interval 5 min
  const std::string snapshot = config.ramlake_path + "/vectors.index";
  Deterministic d(config);
  REQUIRE(d.WaitForFirstSnapshot(snapshot));
  const std::string empty = testing::ReadFile(snapshot);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  auto write_file = [&](int f, std::size_t chunks) {
    records::FileVectors v;
    v.model = config.vectors.model;
    v.dimension = config.vectors.dimension;
    v.path = "src/big" + std::to_string(f) + ".cc";
    v.language = "cpp";
    for (std::size_t i = 0; i < chunks * v.dimension; ++i) v.values.push_back(normal(rng));
    write_batch batch;
    batch.mutations.push_back(mutation{DataKind::kVectors, CodeIdForPath(v.path), records::EncodeFileVectors(v), false});
    (void)d.Ask<std::uint64_t>(write_atom_v, std::move(batch));
  };
  auto one_check = [&] {
    // One check interval (10 s), far less than the sync interval.
    d.sched->clock().advance_time(std::chrono::seconds(10));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (testing::ReadFile(snapshot) == empty && std::chrono::steady_clock::now() < deadline) {
      d.sched->run();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  // 19,000 vectors: under the bound, and 10 s is not the sync interval.
  for (int f = 0; f < 38; ++f) write_file(f, 500);
  d.Settle();
  one_check();
  CHECK(testing::ReadFile(snapshot) == empty);
  // 2,000 more: past it; the next check writes one.
  for (int f = 38; f < 42; ++f) write_file(f, 500);
  d.Settle();
  one_check();
  const std::string written = testing::ReadFile(snapshot);
  REQUIRE(written != empty);
  CHECK(written.size() > empty.size() + 21000 * config.vectors.dimension);  // 21,000 int8 copies at least
}

TEST_CASE("a scheduled backup is made when one is due, and not again before the next interval", "[engine][clock][backup]") {
  TempDir disk("clock");
  TempDir ram("clock", "/dev/shm");
  auto config = Config(disk, ram);
  config.backup.path = disk.path() + "/backups";
  config.backup.interval_hours = 24;
  Deterministic d(config);
  for (int i = 0; i < 20; ++i) d.Put("k" + std::to_string(i), "v" + std::to_string(i));
  CHECK(d.Ask<memory_report>(stats_atom_v).sync.backups == 0);
  // The backup actor looks at every checkpoint interval; none exists yet, so
  // one is due at once.
  d.sched->clock().advance_time(std::chrono::minutes(5));
  auto after = d.StatsWhen([](const memory_report& r) { return r.sync.backups > 0; });
  REQUIRE(after.sync.backups == 1);
  CHECK(after.sync.last_backup_lsn == 20);
  CHECK(after.sync.backup_path == config.backup.path);
  CHECK(after.sync.backup_error.empty());
  auto listed = storage::ListBackups(storage::FileSystem::Default(), config.backup.path);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  // The next look, an interval later: the backup is minutes old, not a day.
  d.Put("later", "x");
  d.sched->clock().advance_time(std::chrono::minutes(5));
  d.Settle();
  CHECK(d.Ask<memory_report>(stats_atom_v).sync.backups == 1);
}
