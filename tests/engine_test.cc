// The actor engine end to end: write and read paths, restart with re-attach,
// a partition crashed on purpose, bad input.
#include <catch2/catch.hpp>

#include <filesystem>
#include <atomic>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/hot_reads.h"
#include "records/stored_values.h"
#include "tests/helpers/engine_client.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace postdevai;
using namespace postdevai::actors;
using postdevai::testing::Client;
using postdevai::testing::System;
using postdevai::testing::TempDir;

namespace {

constexpr DataKind kCode = DataKind::kCode;
constexpr DataKind kMeta = DataKind::kMetadata;

HybridMemoryConfig SmallConfig(const TempDir& disk, const TempDir& ram) {
  return postdevai::testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
}


}  // namespace

TEST_CASE("writes are acknowledged durable, read back from RAM, and survive a restart in RAM", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  auto config = SmallConfig(disk, ram);
  System system;
  {
    auto engine = Engine::Start(*system.sys, config);
    REQUIRE(engine.ok());
    Client client(*system.sys, (*engine)->local());
    for (int i = 0; i < 200; ++i) {
      auto lsn = client.Put(kCode, "src/file" + std::to_string(i) + ".cc", "int f" + std::to_string(i) + "();");
      REQUIRE(lsn.ok());
      CHECK(*lsn == static_cast<std::uint64_t>(i + 1));
    }
    auto r = client.Get(kCode, "src/file7.cc");
    REQUIRE(r.ok());
    CHECK(r->value == "int f7();");
    CHECK(r->served_from == tier::ram);
    CHECK(client.Get(kCode, "src/missing.cc").status().IsNotFound());
    auto stats = client.Stats();
    CHECK(stats.writes == 200);
    CHECK(stats.partitions[DataKindIndex(kCode)].entries == 200);
    CHECK(stats.sync.wal_live_bytes > 200 * 40);  // the backlog: nothing checkpointed yet
    REQUIRE((*engine)->Stop().ok());
  }
  EngineReport report;
  auto engine = Engine::Start(*system.sys, config, &report);
  REQUIRE(engine.ok());
  CHECK(report.partitions[DataKindIndex(kCode)].records_kept == 200);  // re-attached, not reloaded
  Client client(*system.sys, (*engine)->local());
  auto r = client.Get(kCode, "src/file123.cc");
  REQUIRE(r.ok());
  CHECK(r->value == "int f123();");
  CHECK(r->served_from == tier::ram);
  // LSNs continue after the restart.
  auto lsn = client.Put(kCode, "after", "restart");
  REQUIRE(lsn.ok());
  CHECK(*lsn == 201);
}

TEST_CASE("a partition crashed on purpose is restarted, nothing is lost, the others keep serving", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  System system;
  auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
  REQUIRE(engine.ok());
  Client client(*system.sys, (*engine)->local());
  for (int i = 0; i < 100; ++i) {
    REQUIRE(client.Put(kCode, "c" + std::to_string(i), "code " + std::to_string(i)).ok());
    REQUIRE(client.Put(kMeta, "m" + std::to_string(i), "meta " + std::to_string(i)).ok());
  }
  // Crash the code partition's actor (the supervisor names the current ones).
  std::vector<caf::actor> partitions;
  client.self->request((*engine)->supervisor(), std::chrono::seconds(10), route_atom_v)
      .receive([&](std::vector<caf::actor>& p) { partitions = std::move(p); },
               [&](caf::error& e) { FAIL(caf::to_string(e)); });
  REQUIRE(partitions.size() == kDataKindCount);
  caf::anon_send_exit(partitions[DataKindIndex(kCode)], caf::exit_reason::kill);
  // Every code value stays readable throughout (from disk while re-attaching),
  // metadata keeps coming from RAM, and new writes are accepted.
  for (int i = 0; i < 100; ++i) {
    auto c = client.Get(kCode, "c" + std::to_string(i));
    REQUIRE(c.ok());
    CHECK(c->value == "code " + std::to_string(i));
    auto m = client.Get(kMeta, "m" + std::to_string(i));
    REQUIRE(m.ok());
    CHECK(m->served_from == tier::ram);
  }
  REQUIRE(client.Put(kCode, "c-new", "written after the crash").ok());
  // Overwrites and deletes racing the restart: the re-attached file must not
  // serve the values they replaced.
  for (int i = 50; i < 70; ++i) REQUIRE(client.Put(kCode, "c" + std::to_string(i), "rewritten " + std::to_string(i)).ok());
  for (int i = 70; i < 80; ++i) {
    write_batch erase;
    erase.mutations.push_back(mutation{kCode, "c" + std::to_string(i), "", true});
    REQUIRE(client.Write(std::move(erase)).ok());
  }
  // The restarted partition re-attaches its file and serves from RAM again.
  bool back_in_ram = false;
  for (int attempt = 0; attempt < 3000 && !back_in_ram; ++attempt) {
    auto stats = client.Stats();
    back_in_ram = stats.partitions[DataKindIndex(kCode)].ready && stats.partitions[DataKindIndex(kCode)].restarts == 1;
    if (!back_in_ram) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(back_in_ram);
  auto c = client.Get(kCode, "c42");
  REQUIRE(c.ok());
  CHECK(c->served_from == tier::ram);
  auto fresh = client.Get(kCode, "c-new");
  REQUIRE(fresh.ok());
  CHECK(fresh->value == "written after the crash");
  for (int i = 50; i < 70; ++i) {
    auto r = client.Get(kCode, "c" + std::to_string(i));
    REQUIRE(r.ok());
    CHECK(r->value == "rewritten " + std::to_string(i));
  }
  for (int i = 70; i < 80; ++i) CHECK(client.Get(kCode, "c" + std::to_string(i)).status().IsNotFound());
}

TEST_CASE("bad input gets an error that names it and leaves stored data intact", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  System system;
  auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
  REQUIRE(engine.ok());
  Client client(*system.sys, (*engine)->local());
  REQUIRE(client.Put(kMeta, "keep", "me").ok());

  auto empty_key = client.Put(kMeta, "", "x");
  CHECK(empty_key.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(empty_key.status().message(), Catch::Contains("empty key"));
  auto bad_kind = client.Put(static_cast<DataKind>(9), "k", "x");
  CHECK(bad_kind.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(bad_kind.status().message(), Catch::Contains("unknown kind 9"));
  auto too_large = client.Put(kMeta, "big", std::string((64u << 20) + 1, 'x'));
  CHECK(too_large.status().code() == StatusCode::kTooLarge);
  CHECK(client.Write(write_batch{}).status().code() == StatusCode::kInvalidArgument);
  CHECK(client.Get(static_cast<DataKind>(9), "k").status().code() == StatusCode::kInvalidArgument);

  auto kept = client.Get(kMeta, "keep");
  REQUIRE(kept.ok());
  CHECK(kept->value == "me");
  CHECK(client.Get(kMeta, "big").status().IsNotFound());
}

TEST_CASE("reads from disk are promoted after repeated access, evict and sync work", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  System system;
  auto config = SmallConfig(disk, ram);
  config.tiering.promote_after_hits = 2;
  auto engine = Engine::Start(*system.sys, config);
  REQUIRE(engine.ok());
  Client client(*system.sys, (*engine)->local());
  for (int i = 0; i < 50; ++i) REQUIRE(client.Put(kCode, "k" + std::to_string(i), "v" + std::to_string(i)).ok());
  // A forced checkpoint makes everything clean, then evicting all of it
  // (older than 0 s) empties RAM: reads must come from disk.
  auto checkpoint = client.Sync();
  REQUIRE(checkpoint.ok());
  CHECK(*checkpoint == 50);
  CHECK(client.EvictAll() == 50);
  auto first = client.Get(kCode, "k5");
  REQUIRE(first.ok());
  CHECK(first->served_from == tier::disk);
  CHECK(first->value == "v5");
  REQUIRE(client.Get(kCode, "k5").ok());  // second disk read: promoted
  bool promoted = false;
  for (int attempt = 0; attempt < 6000 && !promoted; ++attempt) {
    auto r = client.Get(kCode, "k5");
    REQUIRE(r.ok());
    promoted = r->served_from == tier::ram;
    if (!promoted) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(promoted);
  CHECK(client.Stats().promotions >= 1);
}

TEST_CASE("after kill -9 of a node, the restarted engine finds its hot data in RAM", "[engine][kill]") {
  TempDir disk("engine-kill");
  TempDir ram("engine-kill", "/dev/shm");
  const int count = 500;
  const std::string writer = std::string(POSTDEVAI_BIN_DIR) + "/engine_hot_writer";
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    const std::string ramlake = ram.path() + "/ramlake";
    const std::string n = std::to_string(count);
    ::execl(writer.c_str(), writer.c_str(), disk.path().c_str(), ramlake.c_str(), n.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  char buf[16] = {};
  REQUIRE(::read(out[0], buf, 6) == 6);  // "ready\n": every write acknowledged
  CHECK(std::string(buf, 5) == "ready");
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  ::close(out[0]);

  System system;
  EngineReport report;
  auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram), &report);
  REQUIRE(engine.ok());
  // The WAL had everything (no checkpoint ran), the store got it by replay,
  // and the RAM-Lake file was re-attached record by record.
  CHECK(report.cold.wal.replayed == static_cast<std::uint64_t>(count));
  CHECK(report.partitions[DataKindIndex(kCode)].outcome == storage::ramlake::OpenReport::Outcome::kReattached);
  CHECK(report.partitions[DataKindIndex(kCode)].records_kept == static_cast<std::uint64_t>(count));
  Client client(*system.sys, (*engine)->local());
  int in_ram = 0;
  for (int i = 0; i < count; ++i) {
    auto r = client.Get(kCode, "k" + std::to_string(i));
    REQUIRE(r.ok());
    REQUIRE(r->value == postdevai::testing::HotValue(i));
    in_ram += r->served_from == tier::ram;
  }
  CHECK(in_ram == count);
}

TEST_CASE("concurrent appends to one session lose no message", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  System system;
  auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
  REQUIRE(engine.ok());
  const int clients = 8, per_client = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      caf::scoped_actor self{*system.sys};
      for (int i = 0; i < per_client; ++i) {
        self->request((*engine)->local(), std::chrono::seconds(30), append_atom_v, std::string("s"),
                      "client " + std::to_string(c) + " message " + std::to_string(i))
            .receive([](append_result&) {}, [&](caf::error&) { ++failures; });
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  Client client(*system.sys, (*engine)->local());
  auto r = client.Get(DataKind::kHistory, "s");
  REQUIRE(r.ok());
  auto messages = records::DecodeMessages("s", r->value);
  REQUIRE(messages.ok());
  CHECK(messages->size() == static_cast<std::size_t>(clients * per_client));
  std::set<std::string> distinct(messages->begin(), messages->end());
  CHECK(distinct.size() == messages->size());
  // Each client's messages keep their order.
  for (int c = 0; c < clients; ++c) {
    int last = -1;
    const std::string prefix = "client " + std::to_string(c) + " message ";
    for (const auto& m : *messages) {
      if (m.rfind(prefix, 0) != 0) continue;
      const int i = std::stoi(m.substr(prefix.size()));
      CHECK(i == last + 1);
      last = i;
    }
  }
  // Appending to an empty session id is refused.
  caf::scoped_actor self{*system.sys};
  bool refused = false;
  self->request((*engine)->local(), std::chrono::seconds(10), append_atom_v, std::string(), std::string("x"))
      .receive([](append_result&) {}, [&](caf::error& e) { refused = FromError(e).code() == StatusCode::kInvalidArgument; });
  CHECK(refused);
  // A raw write of a session context that is not one is the writer's bad
  // input: refused, and the session's appends go on (found by fuzzing).
  auto raw = client.Put(DataKind::kHistory, "s", "not a message list");
  CHECK(raw.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(raw.status().message(), Catch::Contains("not an encoded session context"));
  self->request((*engine)->local(), std::chrono::seconds(10), append_atom_v, std::string("s"), std::string("after"))
      .receive([&](append_result& r) { CHECK(r.messages == static_cast<std::uint64_t>(clients * per_client + 1)); },
               [&](caf::error& e) { FAIL(caf::to_string(e)); });
}

TEST_CASE("the owner hears when the engine dies other than through Stop, and not on Stop", "[engine]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  System system;
  {
    auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
    REQUIRE(engine.ok());
    std::promise<std::string> died;
    auto heard = died.get_future();
    (*engine)->OnUnexpectedStop([&died](const std::string& why) { died.set_value(why); });
    // Nothing a peer can send does this (hostile_peer_test); only code in
    // this process can end the controller.
    caf::anon_send_exit((*engine)->controller(), caf::exit_reason::kill);
    REQUIRE(heard.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK_THAT(heard.get(), Catch::Contains("the engine's controller stopped"));
    (void)(*engine)->Stop();
  }
  {
    auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
    REQUIRE(engine.ok());
    std::atomic<int> calls{0};
    (*engine)->OnUnexpectedStop([&calls](const std::string&) { ++calls; });
    REQUIRE((*engine)->Stop().ok());
    CHECK(calls == 0);
  }
}

TEST_CASE("hot reads see every acknowledged write at once and never go back in time, across a partition restart",
          "[engine][hot_reads]") {
  TempDir disk("engine-hot");
  TempDir ram("engine-hot", "/dev/shm");
  System system;
  auto engine = Engine::Start(*system.sys, SmallConfig(disk, ram));
  REQUIRE(engine.ok());
  HotReads& hot = *(*engine)->hot_reads();
  constexpr int kKeysPerWriter = 20;
  constexpr int kWriters = 2;
  auto key_of = [](int writer, int i) { return "w" + std::to_string(writer) + "-" + std::to_string(i); };
  auto version_of = [](const std::string& key, const std::string& value) -> long {
    // "key@version"
    if (value.compare(0, key.size() + 1, key + "@") != 0) return -1;
    return std::stol(value.substr(key.size() + 1));
  };
  std::atomic<bool> done{false};
  std::atomic<int> stale_after_ack{0}, went_back{0}, malformed{0};
  std::atomic<std::uint64_t> hot_hits{0};
  std::mutex failed_mutex;
  std::vector<std::string> failed_writes;  // Catch's macros are not for threads

  auto writer = [&](int w) {
    Client client(*system.sys, (*engine)->local());
    for (long v = 1; v <= 150; ++v) {
      for (int i = 0; i < kKeysPerWriter; i += 7) {
        const std::string key = key_of(w, (i + v) % kKeysPerWriter);
        if (auto put = client.Put(kMeta, key, key + "@" + std::to_string(v)); !put.ok()) {
          std::lock_guard<std::mutex> lock(failed_mutex);
          failed_writes.push_back(put.status().ToString());
          return;
        }
        // Read-your-writes: served here or declined, never the older value.
        records::read_result r;
        if (hot.Read(kMeta, key, "writer", &r) && version_of(key, r.value) < v) ++stale_after_ack;
      }
    }
  };
  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::map<std::string, long> seen;
    while (!done.load()) {
      const std::string key = key_of(static_cast<int>(rng() % kWriters), static_cast<int>(rng() % kKeysPerWriter));
      records::read_result r;
      if (!hot.Read(kMeta, key, "reader", &r)) continue;
      ++hot_hits;
      const long v = version_of(key, r.value);
      if (v < 0) {
        ++malformed;
      } else if (v < seen[key]) {
        ++went_back;
      } else {
        seen[key] = v;
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 2; ++i) threads.emplace_back(reader, 11 + i);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back(writer, w);
  // Crash the metadata partition while all of that goes on.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client control(*system.sys, (*engine)->local());
  std::vector<caf::actor> partitions;
  control.self->request((*engine)->supervisor(), std::chrono::seconds(10), route_atom_v)
      .receive([&](std::vector<caf::actor>& p) { partitions = std::move(p); },
               [&](caf::error& e) { FAIL(caf::to_string(e)); });
  REQUIRE(partitions.size() == kDataKindCount);
  caf::anon_send_exit(partitions[DataKindIndex(kMeta)], caf::exit_reason::kill);
  for (auto& t : writers) t.join();
  CHECK(failed_writes == std::vector<std::string>{});
  // The restarted partition serves hot reads again once re-attached.
  bool served = false;
  for (int attempt = 0; attempt < 3000 && !served; ++attempt) {
    records::read_result r;
    served = hot.Read(kMeta, key_of(0, 0), "control", &r);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  done = true;
  for (auto& t : threads) t.join();
  CHECK(served);
  CHECK(stale_after_ack.load() == 0);
  CHECK(went_back.load() == 0);
  CHECK(malformed.load() == 0);
  CHECK(hot_hits.load() > 100);
  // Every key holds its last version, through the views and through the actors.
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kKeysPerWriter; ++i) {
      auto through_actors = control.Get(kMeta, key_of(w, i));
      REQUIRE(through_actors.ok());
      records::read_result r;
      if (hot.Read(kMeta, key_of(w, i), "control", &r)) CHECK(r.value == through_actors->value);
    }
  }
  // Hot hits are counted as reads and RAM hits.
  auto stats = control.Stats();
  CHECK(stats.ram_hits >= hot_hits.load());
  CHECK(stats.reads >= stats.ram_hits);
}

namespace {

unsigned ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("the engine's directories are created 0700 and its files 0600", "[engine][permissions]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  const auto config = SmallConfig(disk, ram);
  System system;
  auto engine = Engine::Start(*system.sys, config);
  REQUIRE(engine.ok());
  Client client(*system.sys, (*engine)->local());
  REQUIRE(client.Put(kCode, "secret.cc", "int secret();").ok());
  REQUIRE(client.Sync().ok());
  for (const std::string& dir : {config.ramlake_path, config.persistent_path + "/store", config.WalPath()}) {
    INFO(dir);
    CHECK(ModeOf(dir) == 0700);
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      INFO(entry.path().string());
      CHECK(ModeOf(entry.path().string()) == 0600);
      ++files;
    }
    CHECK(files > 0);
  }
}

TEST_CASE("a RAM-Lake directory open to others, or owned by another user, is refused at start",
          "[engine][permissions]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  const auto config = SmallConfig(disk, ram);
  System system;
  std::filesystem::create_directories(config.ramlake_path);
  REQUIRE(::chmod(config.ramlake_path.c_str(), 0755) == 0);
  {
    auto engine = Engine::Start(*system.sys, config);
    REQUIRE_FALSE(engine.ok());
    CHECK(engine.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(engine.status().message(), Catch::Contains(config.ramlake_path));
    CHECK_THAT(engine.status().message(), Catch::Contains("mode 0755"));
    CHECK_THAT(engine.status().message(), Catch::Contains("0700"));
    CHECK(ModeOf(config.ramlake_path) == 0755);  // refused, not changed behind the user's back
    CHECK(std::filesystem::is_empty(config.ramlake_path));
  }
  if (::geteuid() == 0) {
    // A directory someone else created in advance, private to them.
    REQUIRE(::chmod(config.ramlake_path.c_str(), 0700) == 0);
    REQUIRE(::chown(config.ramlake_path.c_str(), 65534, 65534) == 0);
    auto engine = Engine::Start(*system.sys, config);
    REQUIRE_FALSE(engine.ok());
    CHECK(engine.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(engine.status().message(), Catch::Contains(config.ramlake_path));
    CHECK_THAT(engine.status().message(), Catch::Contains("owned by uid 65534"));
    CHECK_THAT(engine.status().message(), Catch::Contains("uid " + std::to_string(::geteuid())));
    CHECK(std::filesystem::is_empty(config.ramlake_path));
  }
  // Ours and private: accepted.
  REQUIRE(::chown(config.ramlake_path.c_str(), ::geteuid(), ::getegid()) == 0);
  REQUIRE(::chmod(config.ramlake_path.c_str(), 0700) == 0);
  auto engine = Engine::Start(*system.sys, config);
  REQUIRE(engine.ok());
}

TEST_CASE("a search for more hits than the limit is refused, and the vectors partition keeps serving",
          "[engine][search]") {
  TempDir disk("engine");
  TempDir ram("engine", "/dev/shm");
  const auto config = SmallConfig(disk, ram);
  System system;
  auto engine = Engine::Start(*system.sys, config);
  REQUIRE(engine.ok());
  Client client(*system.sys, (*engine)->local());
  auto search = [&](std::uint32_t k) {
    records::search_request request;
    request.query.assign(config.vectors.dimension, 1.0f);
    request.model = config.vectors.model;
    request.k = k;
    Result<std::vector<records::search_hit>> out = Status::Unavailable("no reply");
    client.self->request((*engine)->local(), std::chrono::seconds(30), search_atom_v, std::move(request))
        .receive([&](std::vector<records::search_hit>& hits) { out = std::move(hits); },
                 [&](caf::error& e) { out = FromError(e); });
    return out;
  };
  auto huge = search(std::uint32_t{1} << 31);
  CHECK(huge.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(huge.status().message(), Catch::Contains("k of 2147483648"));
  CHECK_THAT(huge.status().message(), Catch::Contains("limit of " + std::to_string(records::kMaxSearchResults)));
  auto zero = search(0);
  CHECK(zero.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(zero.status().message(), Catch::Contains("k of 0"));
  auto normal = search(10);
  CHECK(normal.ok());
  auto largest = search(records::kMaxSearchResults);
  CHECK(largest.ok());
  const auto stats = client.Stats();
  CHECK(stats.partitions[DataKindIndex(DataKind::kVectors)].ready);
  CHECK(stats.partitions[DataKindIndex(DataKind::kVectors)].restarts == 0);
}
