// RAM-Lake partitions: reads and writes, checksums, statistics, the index's
// cost per entry, and the four partitions opened as the engine opens them
// (budgets split by share, RAM-disk detection).
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/ramlake/ram_lake.h"
#include "storage/ramlake/record_checksum.h"
#include "storage/ramlake/slot_index.h"
#include "tests/ramlake_test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using namespace postdevai::storage::ramlake;
using namespace postdevai::ramlake_testing;

TEST_CASE("CRC32C matches the standard check value and a bytewise reference", "[ramlake]") {
  const char* check = "123456789";
  CHECK(Crc32c(check, 9) == 0xE3069283u);
  std::mt19937_64 rng(7);
  std::string buf(40000, '\0');
  for (auto& c : buf) c = static_cast<char>(rng());
  for (std::size_t len : {0, 1, 7, 8, 63, 64, 191, 192, 193, 1000, 1056, 4096, 12287, 12288, 12289, 40000}) {
    for (std::size_t start : {0, 1, 3}) {
      if (start + len > buf.size()) continue;
      INFO("len " << len << " start " << start);
      CHECK(Crc32c(buf.data() + start, len) == Crc32cReference(0, buf.data() + start, len));
    }
  }
  // Extending in pieces equals one pass.
  std::uint32_t crc = Crc32c(buf.data(), 5000);
  crc = Crc32cExtend(crc, buf.data() + 5000, 35000);
  CHECK(crc == Crc32c(buf.data(), 40000));
}

TEST_CASE("SlotIndex finds, erases and grows without losing entries", "[ramlake]") {
  SlotIndex index;
  std::vector<std::uint64_t> hashes;
  std::mt19937_64 rng(1);
  std::vector<bool> present;
  for (int i = 0; i < 20000; ++i) {
    hashes.push_back(rng());
    index.Insert(hashes.back(), i);
    present.push_back(true);
  }
  // Erase a random half; every survivor is still found, no erased one is.
  for (int i = 0; i < 20000; i += 1 + static_cast<int>(rng() % 3)) {
    index.Erase(hashes[i], i);
    present[i] = false;
  }
  for (int i = 0; i < 20000; ++i) {
    std::uint32_t got = index.Find(hashes[i], [&](std::uint32_t slot) { return slot == static_cast<std::uint32_t>(i); });
    CHECK((got == static_cast<std::uint32_t>(i)) == present[i]);
  }
}

TEST_CASE("Put, Get, overwrite and Erase", "[ramlake]") {
  ShmDir dir("basic");
  auto p = RamLakePartition::Open(FileSystem::Default(), SmallPartition(dir.path()));
  REQUIRE(p.ok());
  RamLakePartition& part = **p;

  REQUIRE(part.Put("alpha", "one", 1).ok());
  REQUIRE(part.Put("beta", std::string(3000, 'b'), 2).ok());
  std::string v;
  REQUIRE(part.Get("alpha", &v).ok());
  CHECK(v == "one");
  REQUIRE(part.Get("beta", &v).ok());
  CHECK(v == std::string(3000, 'b'));
  CHECK(part.Get("gamma", &v).IsNotFound());

  // Overwrite with a newer LSN replaces, an older LSN is ignored.
  REQUIRE(part.Put("alpha", "two", 5).ok());
  REQUIRE(part.Put("alpha", "stale", 4).ok());
  REQUIRE(part.Get("alpha", &v).ok());
  CHECK(v == "two");
  auto view = part.Lookup("alpha");
  REQUIRE(view.has_value());
  CHECK(view->lsn == 5);
  CHECK(view->value == "two");

  REQUIRE(part.Erase("alpha").ok());
  CHECK_FALSE(part.Contains("alpha"));
  CHECK(part.Erase("alpha").IsNotFound());

  PartitionStats s = part.Stats();
  CHECK(s.entries == 1);
  CHECK(s.hits == 4);
  CHECK(s.misses == 1);
  CHECK(s.stale_puts_ignored == 1);
  CHECK(s.erases == 1);
  CHECK(s.live_bytes == RamLakePartition::RecordFootprint(4, 3000));
  CHECK(part.Verify().ok());

  CHECK(part.Put("", "x", 9).code() == StatusCode::kInvalidArgument);
  CHECK(part.Put("huge", std::string(part.max_record_bytes(), 'x'), 9).code() == StatusCode::kTooLarge);
}

TEST_CASE("Per-entry statistics track recency, frequency and dirtiness", "[ramlake]") {
  ShmDir dir("entrystats");
  auto options = SmallPartition(dir.path());
  options.persisted_lsn = 10;
  auto p = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(p.ok());
  RamLakePartition& part = **p;
  const std::uint64_t t0 = FileSystem::Default()->NowMicros();
  part.SetNow(t0 + 5'000'000);
  REQUIRE(part.Put("k", "v", 11).ok());
  part.SetNow(t0 + 9'000'000);
  std::string v;
  REQUIRE(part.Get("k", &v).ok());
  REQUIRE(part.Get("k", &v).ok());
  auto st = part.GetEntryStats("k");
  REQUIRE(st.has_value());
  CHECK(st->access_count == 3);
  CHECK(st->lsn == 11);
  CHECK(st->dirty);
  CHECK(st->last_access_micros >= t0 + 8'000'000);
  CHECK(st->last_access_micros <= t0 + 10'000'000);
  part.SetPersistedLsn(11);
  CHECK_FALSE(part.GetEntryStats("k")->dirty);
  CHECK(part.Stats().dirty_entries == 0);
}

TEST_CASE("Overwrite churn keeps working forever: the cleaner reclaims every dead byte", "[ramlake]") {
  ShmDir dir("churn");
  auto p = RamLakePartition::Open(FileSystem::Default(), SmallPartition(dir.path()));
  REQUIRE(p.ok());
  RamLakePartition& part = **p;
  std::mt19937_64 rng(3);
  std::map<std::string, std::pair<std::uint64_t, std::size_t>> expect;  // key -> lsn, size
  // 200 keys of 100..2000 bytes: about 220 KB live in a 4 MiB file, written
  // over about 40 times (~60 MB appended): segments are cleaned again and again.
  for (std::uint64_t lsn = 1; lsn <= 40000; ++lsn) {
    std::string key = KeyFor(rng() % 200);
    std::size_t size = 100 + rng() % 1900;
    REQUIRE(part.Put(key, ValueFor(key, lsn, size), lsn).ok());
    expect[key] = {lsn, size};
  }
  part.SetPersistedLsn(40000);
  PartitionStats s = part.Stats();
  CHECK(s.evictions == 0);
  CHECK(s.segments_cleaned > 100);
  CHECK(s.entries == expect.size());
  std::string v;
  for (const auto& [key, ls] : expect) {
    REQUIRE(part.Get(key, &v).ok());
    CHECK(v == ValueFor(key, ls.first, ls.second));
  }
  REQUIRE(part.Verify().ok());
}

TEST_CASE("Index costs well under 100 bytes per entry (10 million entries under 1 GiB)", "[ramlake]") {
  ShmDir dir("bytesperentry");
  auto options = SmallPartition(dir.path(), PartitionKind::kMetadata, 160ull << 20);
  options.segment_bytes = 0;
  auto p = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(p.ok());
  RamLakePartition& part = **p;
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    REQUIRE(part.Put(KeyFor(i), "m", i + 1).ok());
  }
  CHECK(part.Stats().evictions == 0);
  part.SetPersistedLsn(1'000'000);  // the dirty queue drains, as it does in steady state
  double per_entry = part.IndexBytesPerEntry();
  INFO("index bytes per entry: " << per_entry);
  CHECK(per_entry < 64.0);
  CHECK(per_entry * 10'000'000 < 1024.0 * 1024 * 1024 * 0.75);
}

TEST_CASE("Partitions opened from the lake's options split the budget and the entry cap by share", "[ramlake]") {
  ShmDir dir("lake");
  RamLakeOptions options;
  options.path = dir.path() + "/lake";
  options.total_bytes = 64ull << 20;
  options.max_ram_entries = 1000;
  options.eviction = {EvictionPolicy::kLru, EvictionPolicy::kSieve, EvictionPolicy::kS3Fifo, EvictionPolicy::kLru};
  std::uint64_t bytes = 0, entries = 0;
  for (PartitionKind kind : kAllPartitionKinds) {
    PartitionOptions p = PartitionOptionsFor(options, kind);
    bytes += p.capacity_bytes;
    entries += p.max_entries;
  }
  CHECK(bytes <= options.total_bytes);
  CHECK(entries <= options.max_ram_entries);
  CHECK(PartitionOptionsFor(options, PartitionKind::kCode).capacity_bytes == (64ull << 20) * 40 / 100);
  CHECK(PartitionOptionsFor(options, PartitionKind::kHistory).max_entries == 200);

  // As the engine does: the directory, then each partition file on its own.
  FileSystem* fs = FileSystem::Default();
  REQUIRE(fs->CreateDirs(options.path).ok());
  CHECK(IsRamDisk(options.path).value());  // /dev/shm is tmpfs
  std::array<std::unique_ptr<RamLakePartition>, kPartitionCount> partitions;
  for (PartitionKind kind : kAllPartitionKinds) {
    OpenReport report;
    auto opened = RamLakePartition::Open(fs, PartitionOptionsFor(options, kind), OpenHooks{}, &report);
    REQUIRE(opened.ok());
    CHECK(report.outcome == OpenReport::Outcome::kCreated);
    CHECK(std::filesystem::file_size(options.path + "/" + std::string(DataKindName(kind)) + ".ramlake") <=
          options.total_bytes * options.share_percent[PartitionIndex(kind)] / 100);
    partitions[PartitionIndex(kind)] = std::move(*opened);
  }
  CHECK(partitions[PartitionIndex(PartitionKind::kCode)]->eviction_policy() == EvictionPolicy::kSieve);
  // Entries cap of a partition holds under load.
  RamLakePartition& meta = *partitions[PartitionIndex(PartitionKind::kMetadata)];
  for (std::uint64_t i = 0; i < 500; ++i) {
    REQUIRE(meta.Put(KeyFor(i), "x", i + 1).ok());
    meta.SetPersistedLsn(i + 1);
  }
  CHECK(meta.Stats().entries == 100);
}

TEST_CASE("IsRamDisk tells a RAM disk from a disk, and a partition works on either", "[ramlake]") {
  ShmDir shm("isram");
  CHECK(IsRamDisk(shm.path()).value());
  CHECK(IsRamDisk(shm / "missing").status().IsNotFound());

  ShmDir dir("notram", "/tmp");
  if (IsRamDisk(dir.path()).value()) {
    WARN("/tmp is a RAM disk here; nothing to check");
    return;
  }
  RamLakeOptions options;
  options.path = dir.path();
  options.total_bytes = 16ull << 20;
  auto p = RamLakePartition::Open(FileSystem::Default(), PartitionOptionsFor(options, PartitionKind::kCode));
  REQUIRE(p.ok());
  REQUIRE((*p)->Put("k", "v", 1).ok());
  std::string v;
  REQUIRE((*p)->Get("k", &v).ok());
  CHECK(v == "v");
}

TEST_CASE("A second process cannot open a partition file in use", "[ramlake]") {
  ShmDir dir("lock");
  auto options = SmallPartition(dir.path());
  auto first = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(first.ok());
  // flock is per open file description: a second open in this process
  // conflicts just as another process would.
  auto second = RamLakePartition::Open(FileSystem::Default(), options);
  CHECK(second.status().code() == StatusCode::kBusy);
}

TEST_CASE("A write too large for a record drops the older resident version", "[ramlake]") {
  ShmDir dir("toolarge");
  auto p = RamLakePartition::Open(FileSystem::Default(), SmallPartition(dir.path()));
  REQUIRE(p.ok());
  RamLakePartition& part = **p;
  const std::string huge(part.max_record_bytes(), 'x');
  REQUIRE(part.Put("k", "small", 1).ok());
  // The store now holds the large version; the small one must not be served.
  CHECK(part.Put("k", huge, 2).code() == StatusCode::kTooLarge);
  CHECK_FALSE(part.Contains("k"));
  // A late, older write (a promotion) leaves a newer resident version alone.
  REQUIRE(part.Put("j", "newer", 5).ok());
  CHECK(part.Put("j", huge, 3).code() == StatusCode::kTooLarge);
  std::string v;
  REQUIRE(part.Get("j", &v).ok());
  CHECK(v == "newer");
  CHECK(part.Verify().ok());
}

TEST_CASE("The watermark never moves backwards and is found again after a close", "[ramlake][watermark]") {
  ShmDir dir("watermark-basic");
  auto options = SmallPartition(dir.path());
  OpenHooks hooks;
  hooks.store_identity = 7;
  {
    OpenReport report;
    auto p = RamLakePartition::Open(FileSystem::Default(), options, hooks, &report);
    REQUIRE(p.ok());
    CHECK(report.proof == OpenReport::Proof::kNone);
    CHECK((*p)->applied_lsn() == 0);
    REQUIRE((*p)->Put("k", "v", 10).ok());
    (*p)->SetAppliedLsn(10);
    (*p)->SetAppliedLsn(5);
    CHECK((*p)->applied_lsn() == 10);
  }
  FakeStore store;
  store.lsn["k"] = 10;
  OpenHooks again = store.Hooks();
  again.store_identity = 7;
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, again, &report);
  REQUIRE(p.ok());
  CHECK(report.file_watermark_lsn == 10);
  CHECK(report.proof == OpenReport::Proof::kKeyByKey);  // no replay given
  CHECK((*p)->applied_lsn() == 10);
  CHECK((*p)->Contains("k"));
}
