// The cold tier's durability (WAL + LevelDB store) on the code production runs:
//   - its restart, RecoverColdTier, over a Wal and a PersistentStore driven the
//     way the journal and store actors drive them: replay, replay twice,
//     checkpoints releasing the WAL, a malformed record;
//   - the journal's group commit (actors/journal_actor.cc): a write the WAL
//     cannot take fails alone;
//   - the whole engine (actors/engine.h) on a fault-injection file system: a
//     power cut that drops or tears every unsynced byte, and a store that
//     runs out of space while the WAL does not.
// kill -9 of the engine during writes and checkpoints: tests/engine_kill_test.cc.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/spawn.h"
#include "storage/backup.h"
#include "storage/cold_tier.h"
#include "storage/fault_injection_file_system.h"
#include "client/diagnosis.h"
#include "records/stored_values.h"
#include "tests/helpers/engine_client.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::actors;
using postdevai::testing::Client;
using postdevai::testing::System;
using postdevai::testing::TempDir;
using storage::DurableStoreOptions;
using storage::Kind;
using storage::DurableStoreRecovery;
using storage::Mutation;

namespace {

// The value read, or the error as text: compared without ever dereferencing
// an error.
std::string Got(const Result<std::string>& r) { return r.ok() ? *r : "<error: " + r.status().ToString() + ">"; }

std::string Value(std::uint64_t i) {
  std::string v = "value-" + std::to_string(i) + "|";
  v.append(100 + i % 700, static_cast<char>('a' + i % 26));
  return v;
}

// ---------------------------------------------------------------------------
// The cold tier under the actors.

DurableStoreOptions SmallOptions(const TempDir& dir) {
  DurableStoreOptions o;
  o.wal_dir = dir / "wal";
  o.wal_segment_size = 256 * 1024;
  o.store.path = dir / "store";
  o.store.write_buffer_size = 64 * 1024;  // many memtable rollovers
  o.store.cache_size_mb = 8;
  return o;
}

// The cold tier as the engine drives it, without the actors around it:
// opened as Engine::Start opens it (the store, then RecoverColdTier); a write
// logged as the journal actor logs it (one kWalRecordMutations record) and
// acknowledged when the WAL append returns; applied afterwards as the store
// actor applies it (a batch stamped with its LSN, in LSN order); a checkpoint
// taken as the store actor takes it (at what it has applied) and followed,
// as the sync timer does, by releasing the WAL through it.
class ColdTier {
 public:
  static std::unique_ptr<ColdTier> Open(const DurableStoreOptions& options, DurableStoreRecovery* recovery) {
    std::unique_ptr<ColdTier> tier(new ColdTier());
    auto store = storage::PersistentStore::Open(options.store);
    INFO("opening the store: " << store.status().ToString());
    REQUIRE(store.ok());
    tier->store_ = std::move(*store);
    auto wal = storage::RecoverColdTier(*tier->store_, WalOptionsFor(options), recovery);
    INFO("recovering: " << wal.status().ToString());
    REQUIRE(wal.ok());
    tier->wal_ = std::move(*wal);
    tier->applied_ = tier->store_->LastAppliedLsn();
    return tier;
  }

  static storage::WalOptions WalOptionsFor(const DurableStoreOptions& options) {
    storage::WalOptions w;
    w.dir = options.wal_dir;
    w.fs = options.store.file_system;
    w.segment_size = options.wal_segment_size;
    w.archive = options.wal_archive;
    w.archive_dir = options.wal_archive_dir;
    return w;
  }

  // The journal's part: the LSN once the write is durable (acknowledged).
  Result<std::uint64_t> Log(const std::vector<Mutation>& mutations) {
    return wal_->AppendBatch({storage::WalEntry{storage::kWalRecordMutations, storage::EncodeMutations(mutations)}});
  }
  // The store's part, for writes in LSN order.
  Status Apply(std::uint64_t lsn, const std::vector<Mutation>& mutations) {
    storage::StoreWriteBatch batch;
    for (const auto& m : mutations) {
      if (m.is_delete) {
        batch.Delete(m.kind, m.key, lsn);
      } else {
        batch.Put(m.kind, m.key, m.value, lsn);
      }
    }
    PDAI_RETURN_IF_ERROR(store_->Write(batch));
    applied_ = lsn;
    return Status::Ok();
  }
  Result<std::uint64_t> Write(const std::vector<Mutation>& mutations) {
    auto lsn = Log(mutations);
    if (!lsn.ok()) return lsn;
    PDAI_RETURN_IF_ERROR(Apply(*lsn, mutations));
    return lsn;
  }
  Result<std::uint64_t> Checkpoint() {
    const std::uint64_t lsn = std::max(applied_, store_->CheckpointLsn());
    PDAI_RETURN_IF_ERROR(store_->Checkpoint(lsn));
    PDAI_RETURN_IF_ERROR(wal_->ReleaseThrough(lsn));
    return lsn;
  }

  storage::PersistentStore& store() { return *store_; }
  storage::Wal& wal() { return *wal_; }

 private:
  ColdTier() = default;
  std::unique_ptr<storage::PersistentStore> store_;
  std::unique_ptr<storage::Wal> wal_;  // closed before the store
  std::uint64_t applied_ = 0;
};

// ---------------------------------------------------------------------------
// The engine.


std::size_t FilesIn(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) n += e.is_regular_file();
  return n;
}

}  // namespace

// (No ';' in test names: catch_discover_tests would split the name there and
// ctest would run a filter that matches nothing.)
TEST_CASE("restart replays every acknowledged write after the checkpoint, applied or not, and twice changes nothing",
          "[durable]") {
  TempDir dir("durable");
  const auto options = SmallOptions(dir);
  {
    DurableStoreRecovery recovery;
    auto tier = ColdTier::Open(options, &recovery);
    CHECK(recovery.wal.replayed == 0);
    for (int i = 0; i < 300; ++i) {
      const std::string key = "file-" + std::to_string(i % 100);
      const std::string value = Value(i);
      auto lsn = tier->Write({Mutation{Kind::kCode, key, value}});
      REQUIRE(lsn.ok());
      CHECK(*lsn == static_cast<std::uint64_t>(i + 1));
      REQUIRE(Got(tier->store().Get(Kind::kCode, key)) == value);
    }
    REQUIRE(tier->Write({Mutation{Kind::kCode, "file-7", {}, true}}).ok());
    // The process dies after the journal acknowledged these two writes and
    // before the store actor applied them: only the WAL has them.
    auto logged = tier->Log({Mutation{Kind::kMetadata, "a", "1"}, Mutation{Kind::kHistory, "s1/0", "hello"}});
    REQUIRE(logged.ok());
    CHECK(*logged == 302);
    logged = tier->Log({Mutation{Kind::kCode, "file-9", {}, true}});
    REQUIRE(logged.ok());
    CHECK(*logged == 303);
    CHECK(tier->store().Get(Kind::kMetadata, "a").status().IsNotFound());
    CHECK(tier->store().Get(Kind::kCode, "file-9").ok());
  }
  auto check = [&](storage::PersistentStore& store) {
    for (int k = 0; k < 100; ++k) {
      auto v = store.Get(Kind::kCode, "file-" + std::to_string(k));
      INFO("file-" << k << ": " << v.status().ToString());
      if (k == 7 || k == 9) {
        CHECK(v.status().IsNotFound());
      } else {
        REQUIRE(v.ok());
        CHECK(*v == Value(200 + k));
      }
    }
    CHECK(Got(store.Get(Kind::kMetadata, "a")) == "1");
    CHECK(Got(store.Get(Kind::kHistory, "s1/0")) == "hello");
  };
  // The first restart replays over a store that already holds most of the
  // writes, the second over what the first left: the same state both times.
  for (int round = 0; round < 2; ++round) {
    INFO("restart " << round);
    DurableStoreRecovery recovery;
    auto tier = ColdTier::Open(options, &recovery);
    CHECK(recovery.checkpoint_lsn == 0);
    CHECK(recovery.wal.replayed == 303);  // everything after the (absent) checkpoint, both times
    CHECK(tier->store().LastAppliedLsn() == 303);
    check(tier->store());
  }
}

TEST_CASE("a checkpoint releases the WAL before it: restart replays only what follows, and LSNs go on", "[durable]") {
  TempDir dir("durable");
  const auto options = SmallOptions(dir);
  std::uint64_t checkpoint = 0;
  {
    DurableStoreRecovery recovery;
    auto tier = ColdTier::Open(options, &recovery);
    for (int i = 0; i < 2000; ++i) {
      REQUIRE(tier->Write({Mutation{Kind::kCode, "k" + std::to_string(i), Value(i)}}).ok());
    }
    const auto segments_before = tier->wal().stats().segments;
    auto lsn = tier->Checkpoint();
    REQUIRE(lsn.ok());
    checkpoint = *lsn;
    CHECK(checkpoint == 2000);
    CHECK(tier->store().CheckpointLsn() == 2000);
    CHECK(tier->wal().stats().segments < segments_before);
    for (int i = 2000; i < 2050; ++i) {
      REQUIRE(tier->Write({Mutation{Kind::kCode, "k" + std::to_string(i), Value(i)}}).ok());
    }
  }
  CHECK(FilesIn(options.wal_dir + "-archive") > 0);  // released segments are archived
  DurableStoreRecovery recovery;
  auto tier = ColdTier::Open(options, &recovery);
  CHECK(recovery.checkpoint_lsn == checkpoint);
  CHECK(recovery.wal.replayed == 50);
  for (int i = 0; i < 2050; i += 7) {
    REQUIRE(Got(tier->store().Get(Kind::kCode, "k" + std::to_string(i))) == Value(i));
  }
  // New writes continue the LSN sequence.
  auto lsn = tier->Write({Mutation{Kind::kCode, "next", "x"}});
  REQUIRE(lsn.ok());
  CHECK(*lsn == 2051);
}

TEST_CASE("a restart whose store fails mid-replay names the store's error and the next restart applies every write",
          "[durable][faults]") {
  TempDir dir("durable");
  storage::FaultInjectionFileSystem fs;
  auto options = SmallOptions(dir);
  options.store.file_system = &fs;
  // Logged, never applied: the restart replays all of it, in several store
  // batches (written while the next is read). Half the keys are written
  // once, so a batch lost would show; the others come back often and are
  // deleted now and then, so a batch applied out of order would show.
  constexpr int kWrites = 12000, kKeys = 1000;
  std::map<std::string, std::string> expected;
  {
    DurableStoreRecovery recovery;
    auto tier = ColdTier::Open(options, &recovery);
    for (int i = 0; i < kWrites; i += 100) {
      std::vector<std::string> payloads;
      for (int j = i; j < i + 100; ++j) {
        const std::string key = j % 2 == 0 ? "once" + std::to_string(j) : "k" + std::to_string(j % kKeys);
        if (j % 13 == 0) {
          payloads.push_back(storage::EncodeMutations({Mutation{Kind::kCode, key, {}, /*is_delete=*/true}}));
          expected.erase(key);
        } else {
          expected[key] = Value(j);
          payloads.push_back(storage::EncodeMutations({Mutation{Kind::kCode, key, expected[key]}}));
        }
      }
      std::vector<storage::WalEntry> group;
      for (const auto& p : payloads) group.push_back({storage::kWalRecordMutations, p});
      REQUIRE(tier->wal().AppendBatch(group).ok());
    }
  }
  {
    auto store = storage::PersistentStore::Open(options.store);
    REQUIRE(store.ok());
    storage::FaultRule full;
    full.op = storage::FaultOp::kWrite;
    full.code = StatusCode::kNoSpace;
    full.path_contains = options.store.path;
    full.skip = 150;  // a few batches in
    fs.InjectFault(full);
    DurableStoreRecovery recovery;
    auto wal = storage::RecoverColdTier(**store, ColdTier::WalOptionsFor(options), &recovery);
    REQUIRE_FALSE(wal.ok());
    INFO(wal.status().ToString());
    CHECK(fs.InjectedCount() > 0);
    CHECK(wal.status().code() == StatusCode::kNoSpace);
  }
  fs.ClearFaults();
  auto store = storage::PersistentStore::Open(options.store);
  REQUIRE(store.ok());
  DurableStoreRecovery recovery;
  auto wal = storage::RecoverColdTier(**store, ColdTier::WalOptionsFor(options), &recovery);
  INFO(wal.status().ToString());
  REQUIRE(wal.ok());
  CHECK(recovery.wal.replayed == kWrites);
  CHECK((*store)->LastAppliedLsn() == kWrites);
  for (int j = 0; j < kWrites; ++j) {
    const std::string key = j % 2 == 0 ? "once" + std::to_string(j) : "k" + std::to_string(j % kKeys);
    auto got = (*store)->Get(Kind::kCode, key);
    const auto it = expected.find(key);
    INFO(key);
    if (it == expected.end()) {
      REQUIRE(got.status().IsNotFound());
    } else {
      REQUIRE(Got(got) == it->second);
    }
  }
}

TEST_CASE("a WAL record that is no mutation list fails the restart as corruption naming its LSN", "[durable]") {
  TempDir dir("durable");
  const auto options = SmallOptions(dir);
  // Each a well-formed put but for one thing.
  std::string bad_payload = storage::EncodeMutations({Mutation{Kind::kCode, "key", "value"}});
  std::uint8_t bad_type = storage::kWalRecordMutations;
  SECTION("a truncated payload") { bad_payload.pop_back(); }
  SECTION("an unknown operation") { bad_payload[0] = 'X'; }
  SECTION("a kind that does not exist") { bad_payload[1] = static_cast<char>(storage::kKindCount); }
  SECTION("an unknown record type") { bad_type = 9; }
  {
    DurableStoreRecovery recovery;
    auto tier = ColdTier::Open(options, &recovery);
    REQUIRE(tier->Write({Mutation{Kind::kCode, "k1", "v1"}}).ok());
    REQUIRE(tier->Write({Mutation{Kind::kCode, "k2", "v2"}}).ok());
    auto lsn = tier->wal().Append(bad_type, bad_payload);
    REQUIRE(lsn.ok());
    REQUIRE(*lsn == 3);
  }
  auto store = storage::PersistentStore::Open(options.store);
  REQUIRE(store.ok());
  DurableStoreRecovery recovery;
  auto wal = storage::RecoverColdTier(**store, ColdTier::WalOptionsFor(options), &recovery);
  REQUIRE_FALSE(wal.ok());
  CHECK(wal.status().IsCorruption());
  CHECK_THAT(wal.status().message(), Catch::Contains("wal record 3"));
}

TEST_CASE("one oversized write fails alone: the rest of its group commit is logged and acknowledged",
          "[durable][journal]") {
  System system;
  TempDir dir("journal");
  storage::FaultInjectionFileSystem fs;
  storage::WalOptions options;
  options.dir = dir / "wal";
  options.fs = &fs;
  options.segment_size = 64 * 1024;
  options.prepare_segments_in_background = false;
  auto opened = storage::Wal::Open(options, 0, nullptr);
  REQUIRE(opened.ok());
  std::shared_ptr<storage::Wal> wal = std::move(*opened);
  const std::string too_big(wal->max_payload(), 'x');  // with its key and framing, more than a record holds
  const std::size_t too_big_size = storage::EncodeMutations({Mutation{Kind::kCode, "big", too_big}}).size();

  // A sync point: the first write's sync waits until three more writes are
  // queued behind it, so that those three form the next group commit.
  std::mutex mu;
  std::condition_variable cv;
  bool in_sync = false, go_on = false;
  fs.SetHook(storage::FaultOp::kSync, [&](const std::string& path) {
    if (!path.ends_with(".log")) return;
    std::unique_lock lock(mu);
    if (in_sync) return;
    in_sync = true;
    cv.notify_all();
    cv.wait(lock, [&] { return go_on; });
  });
  auto journal = SpawnJournal(*system.sys, wal, JournalOptions{}, store_actor{});
  caf::scoped_actor self(*system.sys);
  auto put = [](std::string key, std::string value) {  // the payload an encoder would send
    return storage::EncodeMutations({Mutation{Kind::kCode, key, value}});
  };
  auto first = self->request(journal, caf::infinite, write_atom_v, put("first", "1"), std::uint8_t{0});
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_sync; });
  }
  auto small_before = self->request(journal, caf::infinite, write_atom_v, put("small-1", "a"), std::uint8_t{0});
  auto big = self->request(journal, caf::infinite, write_atom_v, put("big", too_big), std::uint8_t{0});
  auto small_after = self->request(journal, caf::infinite, write_atom_v, put("small-2", "b"), std::uint8_t{0});
  {
    std::lock_guard lock(mu);
    go_on = true;
  }
  cv.notify_all();
  auto reply = [](auto& handle) {
    Result<std::uint64_t> out = Status::Unavailable("no reply");
    handle.receive([&](std::uint64_t lsn) { out = lsn; }, [&](caf::error& e) { out = FromError(e); });
    return out;
  };
  const auto first_lsn = reply(first), before_lsn = reply(small_before), big_lsn = reply(big),
             after_lsn = reply(small_after);
  INFO("small-1: " << before_lsn.status().ToString() << ", small-2: " << after_lsn.status().ToString());
  REQUIRE(first_lsn.ok());
  REQUIRE(before_lsn.ok());
  REQUIRE(after_lsn.ok());
  CHECK(*first_lsn == 1);
  CHECK(*before_lsn == 2);
  CHECK(*after_lsn == 3);
  CHECK(wal->stats().max_batch == 2);  // small-1 and small-2 shared one sync
  REQUIRE_FALSE(big_lsn.ok());
  CHECK(big_lsn.status().code() == StatusCode::kTooLarge);
  CHECK_THAT(big_lsn.status().message(),
             Catch::Contains(std::to_string(too_big_size)) && Catch::Contains(std::to_string(wal->max_payload())));

  fs.SetHook(storage::FaultOp::kSync, nullptr);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->wait_for(journal);
  wal.reset();
  std::vector<std::string> keys;
  auto reopened = storage::Wal::Open(options, 0, [&](const storage::WalRecord& r) {
    std::vector<Mutation> mutations;
    PDAI_RETURN_IF_ERROR(storage::DecodeMutations(r.payload, &mutations));
    for (const auto& m : mutations) keys.emplace_back(m.key);
    return Status::Ok();
  });
  REQUIRE(reopened.ok());
  CHECK(keys == std::vector<std::string>{"first", "small-1", "small-2"});
}

TEST_CASE("power cut: every write the engine acknowledged is there after restart", "[durable][powercut]") {
  System system;
  const DataKind kinds[] = {DataKind::kCode, DataKind::kHistory, DataKind::kMetadata};
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    INFO("seed " << seed);
    TempDir disk("durable-power");
    TempDir ram("durable-power", "/dev/shm");
    const auto config = postdevai::testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");  // 1 MiB segments
    storage::FaultInjectionFileSystem fs;

    struct Written {
      DataKind kind;
      std::string key, value;
    };
    std::mutex mu;
    std::condition_variable acked_cv;
    std::vector<Written> acknowledged;
    std::vector<std::pair<Written, StatusCode>> failed;  // after the power went, and the error
    std::vector<std::string> unexpected;  // failures before the power went
    std::atomic<bool> power_out{false};
    auto acked_at_least = [&](std::size_t n) {
      std::unique_lock lock(mu);
      return acked_cv.wait_for(lock, std::chrono::minutes(2),
                               [&] { return acknowledged.size() >= n || !unexpected.empty(); }) &&
             unexpected.empty();
    };
    {
      auto engine = Engine::Start(*system.sys, config, nullptr, &fs);
      REQUIRE(engine.ok());
      std::vector<std::thread> writers;
      for (int w = 0; w < 4; ++w) {
        writers.emplace_back([&, w] {
          Client client(*system.sys, (*engine)->local());
          for (std::uint64_t i = 0; !power_out; ++i) {
            Written write{kinds[i % 3], "w" + std::to_string(w) + "/" + std::to_string(i), {}};
            // Several KiB each, incompressible (the WAL logs values
            // compressed): the 1 MiB WAL segments fill between checkpoints.
            write.value = Value(seed * 1000003 + w * 100000 + i);
            std::mt19937_64 noise(seed * 1000003 + w * 100000 + i);
            for (std::size_t n = 2000 + (i * 7919) % 8000; n > 0; --n) write.value.push_back(static_cast<char>(noise()));
            // A session context is a message list (the engine refuses anything else).
            if (write.kind == DataKind::kHistory) write.value = records::EncodeMessages({write.value});
            auto lsn = client.Put(write.kind, write.key, write.value);
            std::lock_guard lock(mu);
            if (lsn.ok()) {
              acknowledged.push_back(std::move(write));
            } else if (!power_out) {
              unexpected.push_back(write.key + ": " + lsn.status().ToString());
            } else {
              failed.emplace_back(std::move(write), lsn.status().code());
            }
            acked_cv.notify_all();
          }
        });
      }
      // Checkpoints while writing: the WAL is released behind them, so the
      // store's own durability is what keeps the older writes.
      for (std::size_t c = 1; c <= 3; ++c) {
        REQUIRE(acked_at_least(200 * c));
        auto checkpoint = Client(*system.sys, (*engine)->local()).Sync();
        INFO("checkpoint " << c << ": " << checkpoint.status().ToString());
        REQUIRE(checkpoint.ok());
      }
      REQUIRE(acked_at_least(600 + 25 * seed));
      // The power goes: nothing reaches the disk from here on.
      power_out = true;
      storage::FaultRule no_sync;
      no_sync.op = storage::FaultOp::kSync;
      fs.InjectFault(no_sync);
      storage::FaultRule no_dir_sync;
      no_dir_sync.op = storage::FaultOp::kSyncDir;
      fs.InjectFault(no_dir_sync);
      for (auto& t : writers) t.join();
      (void)(*engine)->Stop();  // its final checkpoint cannot reach the disk either
    }
    {
      std::lock_guard lock(mu);
      INFO("first unexpected failure: " << (unexpected.empty() ? "none" : unexpected.front()));
      REQUIRE(unexpected.empty());
    }
    fs.ClearFaults();
    // What the disk kept: unsynced bytes dropped or torn. RAM is empty.
    std::filesystem::remove_all(ram.path() + "/ramlake");
    REQUIRE((seed % 2 ? fs.DropUnsyncedData() : fs.TearUnsyncedData(seed)).ok());

    EngineReport report;
    auto engine = Engine::Start(*system.sys, config, &report, &fs);
    INFO("restart: " << (engine.ok() ? report.cold.wal.torn_tail_detail : engine.status().ToString()));
    REQUIRE(engine.ok());
    CHECK(report.cold.checkpoint_lsn >= 600);               // the store's checkpoints survived
    auto live = storage::ListArchive(storage::FileSystem::Default(), config.WalPath());
    REQUIRE(live.ok());
    REQUIRE_FALSE(live->empty());
    CHECK(live->front().sequence > 1);  // and the WAL before them was released (then pruned: no backup needs it)
    Client client(*system.sys, (*engine)->local());
    for (const auto& write : acknowledged) {
      auto got = client.Get(write.kind, write.key);
      INFO(DataKindName(write.kind) << " " << write.key << ": " << got.status().ToString());
      REQUIRE(got.ok());
      REQUIRE(got->value == write.value);
    }
    // A write the engine failed is not there (every key is written once),
    // unless its outcome was unknown: kClosed from the WAL, or no reply.
    for (const auto& [write, code] : failed) {
      if (code == StatusCode::kClosed || code == StatusCode::kUnavailable) continue;
      auto got = client.Get(write.kind, write.key);
      INFO(DataKindName(write.kind) << " " << write.key << " failed with " << StatusCodeName(code) << ": "
                                    << got.status().ToString());
      REQUIRE(got.status().IsNotFound());
    }
    REQUIRE((*engine)->Stop().ok());
  }
}

TEST_CASE("a store out of space fails checkpoints, not writes: the WAL keeps them until the store catches up",
          "[durable][faults]") {
  System system;
  TempDir disk("durable-enospc");
  TempDir ram("durable-enospc", "/dev/shm");
  auto config = postdevai::testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  config.tiering.prefetch = false;  // after an eviction, every read goes to the store
  storage::FaultInjectionFileSystem fs;
  auto key = [](int i) { return "k" + std::to_string(i); };
  auto engine = Engine::Start(*system.sys, config, nullptr, &fs);
  REQUIRE(engine.ok());
  auto client = std::make_unique<Client>(*system.sys, (*engine)->local());
  for (int i = 0; i < 50; ++i) REQUIRE(client->Put(DataKind::kCode, key(i), Value(i)).ok());
  auto first_checkpoint = client->Sync();
  REQUIRE(first_checkpoint.ok());
  REQUIRE(*first_checkpoint == 50);
  REQUIRE(client->EvictAll() == 50);  // k0..k49 are on disk only now

  // LevelDB's writes fail (its files are under store/); the WAL keeps working.
  storage::FaultRule full;
  full.op = storage::FaultOp::kWrite;
  full.code = StatusCode::kNoSpace;
  full.path_contains = disk / "store";
  fs.InjectFault(full);
  // Acknowledged: durable in the WAL, whatever the store does with them.
  for (int i = 50; i < 60; ++i) REQUIRE(client->Put(DataKind::kCode, key(i), Value(i)).ok());
  // The store cannot apply them, yet reads go on: LevelDB for the keys it
  // holds current, the store's queue for the others. A checkpoint fails with
  // the store's error, so the WAL is not released.
  auto old = client->Get(DataKind::kCode, key(10));
  INFO(old.status().ToString());
  REQUIRE(old.ok());
  CHECK(old->value == Value(10));
  CHECK(old->served_from == tier::disk);
  auto refused = client->Sync();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kNoSpace);
  CHECK_THAT(refused.status().message(), Catch::Contains("behind"));
  auto behind = client->SyncReport();
  CHECK(behind.durable_lsn == 60);
  CHECK(behind.checkpoint_lsn == 50);
  // The stats name the failing store, and so does diagnose memory.
  CHECK_THAT(behind.store_error, Catch::Contains("space"));
  bool named = false;
  for (const auto& f : client::DiagnoseNode(client->Stats(), {}, config)) {
    if (f.check != "store_apply") continue;
    named = true;
    CHECK(f.status == "critical");
    CHECK_THAT(f.seen, Catch::Contains("cannot apply") && Catch::Contains("space"));
    CHECK_THAT(f.action, Catch::Contains(config.persistent_path));
  }
  CHECK(named);

  auto check_from_disk = [&](int count) {
    auto checkpoint = client->Sync();
    INFO("checkpoint: " << checkpoint.status().ToString());
    REQUIRE(checkpoint.ok());
    REQUIRE(*checkpoint == static_cast<std::uint64_t>(count));
    client->EvictAll();
    for (int i = 0; i < count; ++i) {
      auto got = client->Get(DataKind::kCode, key(i));
      INFO(key(i) << ": " << got.status().ToString());
      REQUIRE(got.ok());
      REQUIRE(got->value == Value(i));
      REQUIRE(got->served_from == tier::disk);
    }
  };
  SECTION("space comes back: the store applies what it holds queued by itself, and checkpoints") {
    fs.ClearFaults();
    // The retry timer (backing off from 200 ms) applies the queue unasked.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (client->SyncReport().applied_lsn < 60 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(client->SyncReport().applied_lsn == 60);
    CHECK(client->SyncReport().store_error.empty());
    REQUIRE(client->Put(DataKind::kCode, key(60), Value(60)).ok());
    check_from_disk(61);
    client.reset();
    REQUIRE((*engine)->Stop().ok());
    engine->reset();
    EngineReport report;
    engine = Engine::Start(*system.sys, config, &report, &fs);
    REQUIRE(engine.ok());
    CHECK(report.cold.checkpoint_lsn == 61);
    client = std::make_unique<Client>(*system.sys, (*engine)->local());
    check_from_disk(61);
  }
  SECTION("the engine stops while the disk is still full: the restart replays the WAL") {
    client.reset();
    Status stopped = (*engine)->Stop();
    CHECK(stopped.code() == StatusCode::kNoSpace);  // the final checkpoint could not be taken
    engine->reset();
    fs.ClearFaults();
    EngineReport report;
    engine = Engine::Start(*system.sys, config, &report, &fs);
    REQUIRE(engine.ok());
    CHECK(report.cold.checkpoint_lsn == 50);
    CHECK(report.cold.wal.replayed == 10);
    client = std::make_unique<Client>(*system.sys, (*engine)->local());
    check_from_disk(60);
  }
  client.reset();
  REQUIRE((*engine)->Stop().ok());
}
