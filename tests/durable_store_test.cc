// The cold tier's durable write path (WAL + LevelDB store): power cuts, kill -9,
// checkpoints and replay.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "storage/durable_store.h"
#include "storage/fault_injection_file_system.h"
#include "tests/helpers/durable_writer.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using postdevai::testing::TempDir;

namespace {

DurableStoreOptions SmallOptions(const TempDir& dir, FileSystem* fs = FileSystem::Default()) {
  DurableStoreOptions o = postdevai::testing::DurableWriterOptions(dir.path());
  o.fs = fs;
  return o;
}

std::string Value(std::uint64_t i) { return postdevai::testing::DurableWriterValue(i); }

}  // namespace

TEST_CASE("writes are readable at once and after reopen; replaying twice changes nothing", "[durable]") {
  TempDir dir("durable");
  auto options = SmallOptions(dir);
  {
    auto ds = DurableStore::Open(options);
    REQUIRE(ds.ok());
    for (int i = 0; i < 300; ++i) {
      REQUIRE((*ds)->Put(Kind::kCode, "file-" + std::to_string(i % 100), Value(i)).ok());
      REQUIRE((*ds)->Get(Kind::kCode, "file-" + std::to_string(i % 100)).value() == Value(i));
    }
    REQUIRE((*ds)->Delete(Kind::kCode, "file-7").ok());
    REQUIRE((*ds)->Write({Mutation{Kind::kMetadata, "a", "1"}, Mutation{Kind::kHistory, "s1/0", "hello"}}).ok());
  }
  auto check = [&](DurableStore& ds) {
    for (int k = 0; k < 100; ++k) {
      auto v = ds.Get(Kind::kCode, "file-" + std::to_string(k));
      if (k == 7) {
        CHECK(v.status().IsNotFound());
      } else {
        REQUIRE(v.ok());
        CHECK(*v == Value(200 + k));
      }
    }
    CHECK(ds.Get(Kind::kMetadata, "a").value() == "1");
    CHECK(ds.Get(Kind::kHistory, "s1/0").value() == "hello");
  };
  for (int round = 0; round < 2; ++round) {
    DurableStoreRecovery recovery;
    auto ds = DurableStore::Open(options, &recovery);
    REQUIRE(ds.ok());
    CHECK(recovery.checkpoint_lsn == 0);
    CHECK(recovery.wal.replayed == 302);  // everything after the (absent) checkpoint, both times
    check(**ds);
  }
}

TEST_CASE("a checkpoint releases the WAL before it; restart replays only what follows", "[durable]") {
  TempDir dir("durable");
  auto options = SmallOptions(dir);
  std::uint64_t checkpoint = 0;
  {
    auto ds = DurableStore::Open(options);
    REQUIRE(ds.ok());
    for (int i = 0; i < 2000; ++i) REQUIRE((*ds)->Put(Kind::kCode, "k" + std::to_string(i), Value(i)).ok());
    auto segments_before = (*ds)->wal().stats().segments;
    auto lsn = (*ds)->Checkpoint();
    REQUIRE(lsn.ok());
    checkpoint = *lsn;
    CHECK(checkpoint == 2000);
    CHECK((*ds)->wal().stats().segments < segments_before);
    for (int i = 2000; i < 2050; ++i) REQUIRE((*ds)->Put(Kind::kCode, "k" + std::to_string(i), Value(i)).ok());
  }
  DurableStoreRecovery recovery;
  auto ds = DurableStore::Open(options, &recovery);
  REQUIRE(ds.ok());
  CHECK(recovery.checkpoint_lsn == checkpoint);
  CHECK(recovery.wal.replayed == 50);
  for (int i = 0; i < 2050; i += 7) REQUIRE((*ds)->Get(Kind::kCode, "k" + std::to_string(i)).value() == Value(i));
  // New writes continue the LSN sequence.
  auto lsn = (*ds)->Put(Kind::kCode, "next", "x");
  REQUIRE(lsn.ok());
  CHECK(*lsn == 2051);
}

TEST_CASE("power cut: every acknowledged write is present after reopen", "[durable][powercut]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    TempDir dir("durable-power");
    FaultInjectionFileSystem fs;
    auto options = SmallOptions(dir, &fs);
    std::mutex mu;
    std::map<std::string, std::string> acknowledged;  // key → value (keys are written once)
    {
      auto ds = DurableStore::Open(options);
      REQUIRE(ds.ok());
      std::atomic<bool> cut{false};
      std::vector<std::thread> writers;
      for (int w = 0; w < 4; ++w) {
        writers.emplace_back([&, w] {
          for (std::uint64_t i = 0; !cut; ++i) {
            std::string key = "w" + std::to_string(w) + "/" + std::to_string(i);
            std::string value = Value(seed * 1000003 + i);
            Kind kind = static_cast<Kind>(i % 4);
            if ((*ds)->Put(kind, key, value).ok()) {
              std::lock_guard lock(mu);
              acknowledged[std::to_string(static_cast<int>(kind)) + key] = value;
            }
          }
        });
      }
      // Checkpoints while writing: the WAL is released behind them, so the
      // store's own durability is what keeps the older writes.
      for (int c = 0; c < 3; ++c) {
        std::this_thread::sleep_for(std::chrono::milliseconds(40 + 10 * seed));
        REQUIRE((*ds)->Checkpoint().ok());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * seed));
      // The power goes: nothing reaches the disk from here on.
      FaultRule no_sync;
      no_sync.op = FaultOp::kSync;
      fs.InjectFault(no_sync);
      FaultRule no_dir_sync;
      no_dir_sync.op = FaultOp::kSyncDir;
      fs.InjectFault(no_dir_sync);
      cut = true;
      for (auto& t : writers) t.join();
    }
    fs.ClearFaults();
    REQUIRE((seed % 2 ? fs.DropUnsyncedData() : fs.TearUnsyncedData(seed)).ok());

    DurableStoreRecovery recovery;
    auto ds = DurableStore::Open(options, &recovery);
    INFO("seed " << seed << ": " << (ds.ok() ? recovery.wal.torn_tail_detail : ds.status().ToString()));
    REQUIRE(ds.ok());
    REQUIRE(acknowledged.size() > 100);
    for (const auto& [k, value] : acknowledged) {
      auto kind = static_cast<Kind>(k[0] - '0');
      auto got = (*ds)->Get(kind, k.substr(1));
      REQUIRE(got.ok());
      REQUIRE(*got == value);
    }
  }
}

TEST_CASE("kill -9 during a stream of durable writes loses nothing acknowledged", "[durable][kill]") {
  TempDir dir("durable-kill");
  const std::string writer = std::string(POSTDEVAI_BIN_DIR) + "/durable_writer";
  std::mt19937_64 rng(7);
  std::uint64_t next = 0;
  std::map<std::string, std::string> acknowledged;
  for (int cycle = 0; cycle < 8; ++cycle) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const std::string first = std::to_string(next);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl(writer.c_str(), writer.c_str(), dir.path().c_str(), first.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    // Once it is writing (its first acknowledgement, however long start-up
    // takes on a loaded machine), let it go on for a while, then kill it at a
    // random moment.
    std::uint64_t first_ack;
    const bool started = ::read(fds[0], &first_ack, sizeof first_ack) == sizeof first_ack;
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 200));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    INFO("cycle " << cycle << ": writer exit status " << status);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(started);
    acknowledged["k" + std::to_string(first_ack)] = postdevai::testing::DurableWriterValue(first_ack);
    next = first_ack + 1;
    std::uint64_t i;
    std::uint64_t acked_this_cycle = 1;
    while (::read(fds[0], &i, sizeof i) == sizeof i) {
      acknowledged["k" + std::to_string(i)] = postdevai::testing::DurableWriterValue(i);
      next = i + 1;
      ++acked_this_cycle;
    }
    ::close(fds[0]);
    CHECK(acked_this_cycle > 0);

    auto ds = DurableStore::Open(postdevai::testing::DurableWriterOptions(dir.path()));
    REQUIRE(ds.ok());
    for (const auto& [k, v] : acknowledged) REQUIRE((*ds)->Get(Kind::kCode, k).value() == v);
  }
  CHECK(acknowledged.size() > 200);
}

TEST_CASE("a store write failing for lack of space is reported, and the store catches up afterwards", "[durable][faults]") {
  TempDir dir("durable-enospc");
  FaultInjectionFileSystem fs;
  auto options = SmallOptions(dir, &fs);
  auto ds = DurableStore::Open(options);
  REQUIRE(ds.ok());
  for (int i = 0; i < 50; ++i) REQUIRE((*ds)->Put(Kind::kCode, "k" + std::to_string(i), Value(i)).ok());
  // LevelDB's writes fail (its log is under store/); the WAL keeps working.
  FaultRule full;
  full.op = FaultOp::kWrite;
  full.code = StatusCode::kNoSpace;
  full.path_contains = dir / "store";
  fs.InjectFault(full);
  int failed = 0;
  for (int i = 50; i < 60; ++i) {
    auto r = (*ds)->Put(Kind::kCode, "k" + std::to_string(i), Value(i));
    if (!r.ok()) {
      ++failed;
      CHECK(r.status().code() == StatusCode::kNoSpace);
    }
  }
  CHECK(failed > 0);
  fs.ClearFaults();  // space is back
  REQUIRE((*ds)->Put(Kind::kCode, "k60", Value(60)).ok());
  // The writes that reported the error were durable in the WAL; the store
  // replayed them when it recovered, so everything is readable now.
  for (int i = 0; i <= 60; ++i) REQUIRE((*ds)->Get(Kind::kCode, "k" + std::to_string(i)).value() == Value(i));
  ds->reset();
  auto reopened = DurableStore::Open(options);
  REQUIRE(reopened.ok());
  for (int i = 0; i <= 60; ++i) REQUIRE((*reopened)->Get(Kind::kCode, "k" + std::to_string(i)).value() == Value(i));
}
