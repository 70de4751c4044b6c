// RAM-Lake warm restart: re-attaching after a clean close and after kill -9,
// and every way a file can be untrustworthy (corrupt record, truncated,
// another partition's, another format version, corrupt header, full RAM disk);
// the watermark proof, its fallback to a lookup per key, and the engine's
// restart through it.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/engine.h"
#include "storage/cold_tier.h"
#include "storage/fault_injection_file_system.h"
#include "storage/ramlake/partition_format.h"
#include "storage/ramlake/ram_lake.h"
#include "storage/ramlake/record_checksum.h"
#include "storage/wal.h"
#include "tests/helpers/engine_client.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/ramlake_test_util.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using namespace postdevai::storage::ramlake;
using namespace postdevai::ramlake_testing;

namespace {

std::string ReadAll(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string data;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  std::fclose(f);
  return data;
}

void PatchFile(const std::string& path, std::uint64_t offset, const void* bytes, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  REQUIRE(f != nullptr);
  std::fseek(f, static_cast<long>(offset), SEEK_SET);
  REQUIRE(std::fwrite(bytes, 1, n, f) == n);
  std::fclose(f);
}

// Writes `count` entries (key i at LSN i + 1) and closes the partition.
FakeStore Fill(const PartitionOptions& options, int count, std::size_t value_size = 500) {
  FakeStore store;
  auto p = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(p.ok());
  for (int i = 0; i < count; ++i) {
    std::string key = KeyFor(i);
    REQUIRE((*p)->Put(key, ValueFor(key, i + 1, value_size), i + 1).ok());
    store.lsn[key] = i + 1;
  }
  return store;
}

void ExpectAllResident(RamLakePartition& part, const FakeStore& store, std::size_t value_size = 500) {
  std::string v;
  for (const auto& [key, lsn] : store.lsn) {
    INFO("key " << key);
    REQUIRE(part.Get(key, &v).ok());
    REQUIRE(v == ValueFor(key, lsn, value_size));
  }
}

}  // namespace

TEST_CASE("A cleanly closed partition re-attaches every current record", "[ramlake][restart]") {
  ShmDir dir("clean");
  auto options = SmallPartition(dir.path());
  FakeStore store = Fill(options, 2000);
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(p.ok());
  CHECK(report.outcome == OpenReport::Outcome::kReattached);
  CHECK(report.records_kept == 2000);
  CHECK(report.RecordsDropped() == 0);
  ExpectAllResident(**p, store);
  CHECK((*p)->Verify().ok());
  INFO(report.ToString());
}

TEST_CASE("Records the store holds at another LSN, or not at all, are dropped", "[ramlake][restart]") {
  ShmDir dir("stale");
  auto options = SmallPartition(dir.path());
  FakeStore store = Fill(options, 1000);
  // The store moved on for 100 keys (written elsewhere after the RAM copy,
  // e.g. the RAM write was lost with the process), and deleted 50.
  for (int i = 0; i < 100; ++i) store.lsn[KeyFor(i)] = 5000 + i;
  for (int i = 100; i < 150; ++i) store.lsn.erase(KeyFor(i));
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(p.ok());
  CHECK(report.records_kept == 850);
  CHECK(report.records_dropped_stale == 150);
  for (int i = 0; i < 150; ++i) CHECK_FALSE((*p)->Contains(KeyFor(i)));
  std::string v;
  for (int i = 150; i < 1000; ++i) {
    REQUIRE((*p)->Get(KeyFor(i), &v).ok());
    CHECK(v == ValueFor(KeyFor(i), i + 1, 500));
  }
  // Writes after the restart land, and a second restart sees them too.
  REQUIRE((*p)->Put(KeyFor(0), "after", 6000).ok());
  store.lsn[KeyFor(0)] = 6000;
  CHECK((*p)->Verify().ok());
  p = Status::Closed("reopen");
  auto again = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(again.ok());
  CHECK(report.records_kept == 851);
  REQUIRE((*again)->Get(KeyFor(0), &v).ok());
  CHECK(v == "after");
}

TEST_CASE("After kill -9 at a random point every acknowledged write is re-attached", "[ramlake][restart]") {
  for (std::uint64_t round = 0; round < 6; ++round) {
    ShmDir dir("kill9");
    auto options = SmallPartition(dir.path(), PartitionKind::kCode, 4 << 20);
    const std::uint64_t seed = 1000 + round;
    // The child's stream: 300 keys written over and over with values of
    // 200..3000 bytes (~500 KB live in 4 MiB): the cleaner relocates records
    // all the time, so the kill lands in cleaning as often as in writing.
    auto op = [seed](std::uint64_t i, std::string* key, std::size_t* size) {
      std::mt19937_64 rng(seed * 1'000'003 + i);
      *key = KeyFor(rng() % 300);
      *size = 200 + rng() % 2800;
    };
    int acks[2];
    REQUIRE(::pipe(acks) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(acks[0]);
      auto p = RamLakePartition::Open(FileSystem::Default(), options);
      if (!p.ok()) ::_exit(2);
      for (std::uint64_t i = 0;; ++i) {
        std::string key;
        std::size_t size;
        op(i, &key, &size);
        std::vector<EvictedEntry> evicted;
        if (!(*p)->Put(key, ValueFor(key, i + 1, size), i + 1, &evicted).ok() || !evicted.empty()) ::_exit(3);
        (*p)->SetPersistedLsn(i + 1);
        // Acknowledge only after Put returned.
        if (::write(acks[1], &i, sizeof i) != sizeof i) ::_exit(4);
      }
    }
    ::close(acks[1]);
    std::mt19937_64 rng(seed);
    const std::uint64_t kill_after = 2000 + rng() % 30000;
    std::uint64_t acked = 0, last = 0;
    bool child_died = false;
    while (acked < kill_after) {
      ssize_t n = ::read(acks[0], &last, sizeof last);
      if (n != sizeof last) {
        child_died = true;
        break;
      }
      ++acked;
    }
    REQUIRE_FALSE(child_died);
    // Not synchronized with the child: it is somewhere inside a Put (or
    // between two) when the signal lands.
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    while (::read(acks[0], &last, sizeof last) == sizeof last) ++acked;  // acks already in the pipe
    ::close(acks[0]);

    // The persistent store holds every acknowledged write.
    FakeStore store;
    std::map<std::string, std::size_t> size_of;
    for (std::uint64_t i = 0; i < acked; ++i) {
      std::string key;
      std::size_t size;
      op(i, &key, &size);
      store.lsn[key] = i + 1;
      size_of[key] = size;
    }
    std::string in_flight;
    std::size_t ignored;
    op(acked, &in_flight, &ignored);

    OpenReport report;
    auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
    REQUIRE(p.ok());
    INFO("round " << round << ": " << acked << " acknowledged; " << report.ToString());
    CHECK(report.outcome == OpenReport::Outcome::kReattached);
    std::string v;
    std::size_t missing = 0;
    for (const auto& [key, lsn] : store.lsn) {
      if (!(*p)->Get(key, &v).ok()) {
        // Only the key of the unacknowledged Put may be gone: that Put had
        // already let go of the old version when the kill came.
        CHECK(key == in_flight);
        ++missing;
        continue;
      }
      CHECK(v == ValueFor(key, lsn, size_of[key]));
    }
    CHECK(missing <= 1);
    CHECK(report.records_kept == store.lsn.size() - missing);
    CHECK(report.records_dropped_corrupt <= 1);  // at most the torn in-flight record
    REQUIRE((*p)->Verify().ok());
    // The re-attached partition keeps working: more churn, still consistent.
    for (std::uint64_t i = 0; i < 5000; ++i) {
      std::string key = KeyFor(i % 300);
      REQUIRE((*p)->Put(key, ValueFor(key, 100000 + i, 1000), 100000 + i).ok());
    }
    REQUIRE((*p)->Verify().ok());
  }
}

TEST_CASE("One corrupt record is dropped, the rest re-attach", "[ramlake][restart]") {
  ShmDir dir("corrupt");
  auto options = SmallPartition(dir.path());
  FakeStore store = Fill(options, 500);
  // Flip one byte in the middle of key-123's value.
  std::string file = ReadAll(options.file_path);
  std::string value = ValueFor(KeyFor(123), 124, 500);
  std::size_t at = file.find(value.substr(0, 64));
  REQUIRE(at != std::string::npos);
  char flipped = static_cast<char>(file[at + 250] ^ 0x01);
  PatchFile(options.file_path, at + 250, &flipped, 1);

  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(p.ok());
  CHECK(report.outcome == OpenReport::Outcome::kReattached);
  CHECK(report.records_dropped_corrupt == 1);
  CHECK(report.records_kept == 499);
  CHECK_FALSE((*p)->Contains(KeyFor(123)));
  store.lsn.erase(KeyFor(123));
  ExpectAllResident(**p, store);
  CHECK((*p)->Verify().ok());
}

TEST_CASE("A corrupt record header costs only that record", "[ramlake][restart]") {
  ShmDir dir("corrupt-header");
  auto options = SmallPartition(dir.path());
  FakeStore store = Fill(options, 500);
  std::string file = ReadAll(options.file_path);
  std::string value = ValueFor(KeyFor(77), 78, 500);
  std::size_t at = file.find(value.substr(0, 64));
  REQUIRE(at != std::string::npos);
  // The record header sits right before the key; smash its value length.
  std::size_t header = at - KeyFor(77).size() - format::kRecordHeaderBytes;
  std::uint32_t bogus = 0x00FFFFFF;
  PatchFile(options.file_path, header + offsetof(format::RecordHeader, value_size), &bogus, sizeof bogus);
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(p.ok());
  CHECK(report.records_kept == 499);
  CHECK_FALSE((*p)->Contains(KeyFor(77)));
  store.lsn.erase(KeyFor(77));
  ExpectAllResident(**p, store);
  CHECK((*p)->Verify().ok());
}

TEST_CASE("Untrustworthy files are rebuilt empty, and the rebuilt file re-attaches", "[ramlake][restart]") {
  ShmDir dir("rebuild");
  auto options = SmallPartition(dir.path(), PartitionKind::kHistory);
  auto other = SmallPartition(dir.path(), PartitionKind::kCode);

  struct Case {
    const char* name;
    std::function<void()> damage;
    const char* reason;
  };
  std::vector<Case> cases = {
      {"truncated", [&] { std::filesystem::resize_file(options.file_path, 1 << 20); }, "truncated"},
      {"another partition's file",
       [&] {
         Fill(other, 10);
         std::filesystem::copy_file(other.file_path, options.file_path,
                                    std::filesystem::copy_options::overwrite_existing);
       },
       "belongs to partition code"},
      {"another format version",
       [&] {
         format::FileHeader h;
         std::string file = ReadAll(options.file_path);
         std::memcpy(&h, file.data(), sizeof h);
         h.format_version = 2;
         h.header_crc = format::FileHeaderChecksum(h);
         PatchFile(options.file_path, 0, &h, sizeof h);
       },
       "format version 2"},
      {"corrupt header",
       [&] {
         char junk = 0x5A;
         PatchFile(options.file_path, 40, &junk, 1);
       },
       "checksum"},
      {"not a partition file",
       [&] {
         std::string zeros(8, '\0');
         PatchFile(options.file_path, 0, zeros.data(), zeros.size());
       },
       "bad magic"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    FakeStore store = Fill(options, 300);
    c.damage();
    OpenReport report;
    auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
    REQUIRE(p.ok());
    CHECK(report.outcome == OpenReport::Outcome::kRebuilt);
    CHECK(report.rebuild_reason.find(c.reason) != std::string::npos);
    CHECK(report.records_kept == 0);
    // Nothing of the old file is trusted: the store serves every key now.
    for (int i = 0; i < 300; ++i) CHECK_FALSE((*p)->Contains(KeyFor(i)));
    CHECK((*p)->Stats().entries == 0);
    CHECK((*p)->Stats().live_bytes == 0);
    CHECK((*p)->Verify().ok());
    // The rebuilt file is a partition like any other: writes land, and the
    // next start re-attaches them.
    FakeStore after;
    for (int i = 0; i < 100; ++i) {
      std::string key = "new-" + std::to_string(i);
      REQUIRE((*p)->Put(key, ValueFor(key, 1000 + i, 500), 1000 + i).ok());
      after.lsn[key] = 1000 + i;
    }
    p = Status::Closed("restart");
    auto again = RamLakePartition::Open(FileSystem::Default(), options, after.Hooks(), &report);
    REQUIRE(again.ok());
    CHECK(report.outcome == OpenReport::Outcome::kReattached);
    CHECK(report.records_kept == 100);
    CHECK(report.RecordsDropped() == 0);
    ExpectAllResident(**again, after);
    CHECK((*again)->Verify().ok());
    again = Status::Closed("next case");
    std::filesystem::remove(other.file_path);
  }
}

TEST_CASE("Reserved header bytes are ignored: a version-1 file with them set re-attaches", "[ramlake][restart]") {
  ShmDir dir("reserved");
  auto options = SmallPartition(dir.path());
  FakeStore store = Fill(options, 200);
  format::FileHeader h;
  std::string file = ReadAll(options.file_path);
  std::memcpy(&h, file.data(), sizeof h);
  std::memset(h.reserved0, 0xA5, sizeof h.reserved0);
  std::memset(h.reserved1, 0x5A, sizeof h.reserved1);
  h.header_crc = format::FileHeaderChecksum(h);
  PatchFile(options.file_path, 0, &h, sizeof h);
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, store.Hooks(), &report);
  REQUIRE(p.ok());
  CHECK(report.outcome == OpenReport::Outcome::kReattached);
  CHECK(report.records_kept == 200);
  ExpectAllResident(**p, store);
}

TEST_CASE("Without an LSN lookup an existing file is not trusted", "[ramlake][restart]") {
  ShmDir dir("nolookup");
  auto options = SmallPartition(dir.path());
  Fill(options, 100);
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, OpenHooks{}, &report);
  REQUIRE(p.ok());
  CHECK(report.outcome == OpenReport::Outcome::kRebuilt);
  CHECK((*p)->Stats().entries == 0);
}

TEST_CASE("A full RAM disk is a clear kNoSpace at start-up", "[ramlake][restart]") {
  SECTION("injected ENOSPC on fallocate") {
    ShmDir dir("enospc");
    FaultInjectionFileSystem fs;
    FaultRule full_disk;
    full_disk.op = FaultOp::kAllocate;
    full_disk.code = StatusCode::kNoSpace;
    fs.InjectFault(full_disk);
    RamLakeOptions options;
    options.path = dir.path();
    options.total_bytes = 32ull << 20;
    // As the engine starts: every partition file in turn, stopping at the
    // first that cannot be opened.
    auto open_all = [&]() -> Status {
      std::vector<std::unique_ptr<RamLakePartition>> opened;
      for (PartitionKind kind : kAllPartitionKinds) {
        auto p = RamLakePartition::Open(&fs, PartitionOptionsFor(options, kind));
        if (!p.ok()) return p.status();
        opened.push_back(std::move(*p));
      }
      return Status::Ok();
    };
    Status full = open_all();
    REQUIRE_FALSE(full.ok());
    CHECK(full.code() == StatusCode::kNoSpace);
    CHECK(full.message().find("vectors") != std::string::npos);
    CHECK(full.message().find("reserving") != std::string::npos);
    // No half-made file is left behind for the next start to trip over.
    CHECK_FALSE(std::filesystem::exists(dir / "vectors.ramlake"));
    // Once there is room again, it starts.
    fs.ClearFaults();
    CHECK(open_all().ok());
  }
  SECTION("a real tmpfs asked for more than it can hold") {
    ShmDir dir("toobig");
    struct statvfs st;
    REQUIRE(::statvfs(dir.path().c_str(), &st) == 0);
    auto options = SmallPartition(dir.path());
    options.segment_bytes = 0;
    options.capacity_bytes = 2 * std::uint64_t{st.f_blocks} * st.f_frsize;  // twice the whole tmpfs
    auto p = RamLakePartition::Open(FileSystem::Default(), options);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == StatusCode::kNoSpace);
    CHECK_FALSE(std::filesystem::exists(options.file_path));
  }
}

TEST_CASE("The RAM-Lake directory is created private, its files 0600, and a shared one is refused",
          "[ramlake][permissions]") {
  ShmDir dir("private");
  auto mode_of = [](const std::string& path) {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<unsigned>(st.st_mode & 07777);
  };
  const std::string lake = dir / "postdevai-user/ramlake";
  REQUIRE(CreatePrivateDirectory(FileSystem::Default(), lake).ok());
  CHECK(mode_of(dir / "postdevai-user") == 0700);
  CHECK(mode_of(lake) == 0700);
  {
    auto p = RamLakePartition::Open(FileSystem::Default(), SmallPartition(lake), OpenHooks{});
    REQUIRE(p.ok());
    REQUIRE((*p)->Put("k", "v", 1).ok());
    for (const auto& entry : std::filesystem::directory_iterator(lake)) {
      INFO(entry.path().string());
      CHECK(mode_of(entry.path().string()) == 0600);
    }
  }
  CHECK(CreatePrivateDirectory(FileSystem::Default(), lake).ok());  // ours and private: taken as it is
  for (unsigned loose : {0750u, 0705u, 0777u}) {
    REQUIRE(::chmod(lake.c_str(), loose) == 0);
    Status s = CreatePrivateDirectory(FileSystem::Default(), lake);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", loose);
    CHECK_THAT(s.message(), Catch::Contains(lake) && Catch::Contains(std::string("mode ") + mode) &&
                                Catch::Contains("mode 0700"));
    CHECK(mode_of(lake) == loose);  // not changed behind the user's back
  }
  if (::geteuid() == 0) {
    REQUIRE(::chmod(lake.c_str(), 0700) == 0);
    REQUIRE(::chown(lake.c_str(), 65534, 65534) == 0);
    Status s = CreatePrivateDirectory(FileSystem::Default(), lake);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("owned by uid 65534") && Catch::Contains("remove it"));
  }
}

// ---------------------------------------------------------------------------
// The watermark proof (ramlake_partition.h, "Warm restart").

namespace {

constexpr std::uint64_t kStoreId = 42;

// A history of writes: ops[i] is the write at LSN i + 1. The oracle for what
// the store holds after any prefix and what a replay after a checkpoint changes.
struct History {
  struct Op {
    std::string key;
    std::size_t size = 0;
    bool erase = false;
  };
  std::vector<Op> ops;

  // `count` writes over `keys` keys, sizes 200..1200, one in `erase_one_in` a delete.
  static History Random(std::uint64_t seed, std::size_t count, std::size_t keys, std::size_t erase_one_in = 8) {
    History h;
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < count; ++i) {
      h.ops.push_back({KeyFor(rng() % keys), 200 + rng() % 1000, rng() % erase_one_in == 0});
    }
    return h;
  }
  const Op& At(std::uint64_t lsn) const { return ops[lsn - 1]; }
  // The store after every write up to `end`.
  FakeStore StoreAt(std::uint64_t end) const {
    FakeStore store;
    for (std::uint64_t lsn = 1; lsn <= end; ++lsn) {
      if (At(lsn).erase) {
        store.lsn.erase(At(lsn).key);
      } else {
        store.lsn[At(lsn).key] = lsn;
      }
    }
    return store;
  }
  // What replaying the WAL after `checkpoint` up to `end` changes.
  void ChangedAfter(std::uint64_t checkpoint, std::uint64_t end, ChangedKeys* changed) const {
    changed->Clear();
    for (std::uint64_t lsn = checkpoint + 1; lsn <= end; ++lsn) changed->Note(At(lsn).key, lsn, At(lsn).erase);
  }
  // As the partition actor applies a write.
  void Apply(RamLakePartition& part, std::uint64_t lsn) const {
    const Op& op = At(lsn);
    if (op.erase) {
      (void)part.Erase(op.key);  // absent is fine
    } else {
      REQUIRE(part.Put(op.key, ValueFor(op.key, lsn, op.size), lsn).ok());
    }
    part.SetPersistedLsn(lsn);
  }
  // The last write to key up to `end` (0: none).
  std::uint64_t LastWrite(const std::string& key, std::uint64_t end) const {
    for (std::uint64_t lsn = end; lsn > 0; --lsn) {
      if (At(lsn).key == key) return lsn;
    }
    return 0;
  }
};

// Opens a new partition file against store kStoreId and applies writes
// 1..applied, advancing the watermark after each; then closes it.
void ApplyAndClose(const PartitionOptions& options, const History& history, std::uint64_t applied) {
  OpenHooks hooks;
  hooks.store_identity = kStoreId;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, hooks);
  REQUIRE(p.ok());
  for (std::uint64_t lsn = 1; lsn <= applied; ++lsn) {
    history.Apply(**p, lsn);
    (*p)->SetAppliedLsn(lsn);
  }
}

OpenHooks ProofHooks(const FakeStore& store, const WatermarkProof& proof, std::uint64_t identity = kStoreId) {
  OpenHooks hooks = store.Hooks();
  hooks.watermark = &proof;
  hooks.store_identity = identity;
  return hooks;
}

// Every resident entry is exactly what the store holds (key, LSN and value);
// returns how many of the store's keys are not resident.
std::size_t ExpectOnlyCurrent(RamLakePartition& part, const History& history, const FakeStore& store) {
  std::set<std::string> keys;
  for (const auto& op : history.ops) keys.insert(op.key);
  std::size_t missing = 0;
  std::string v;
  for (const auto& key : keys) {
    INFO("key " << key);
    auto stored = store.lsn.find(key);
    auto resident = part.GetEntryStats(key);
    if (!resident) {
      missing += stored != store.lsn.end();
      continue;
    }
    REQUIRE(stored != store.lsn.end());  // deleted in the store: never served
    REQUIRE(resident->lsn == stored->second);
    REQUIRE(part.Get(key, &v).ok());
    CHECK(v == ValueFor(key, stored->second, history.At(stored->second).size));
  }
  return missing;
}

}  // namespace

TEST_CASE("A watermark re-attach keeps what the partition applied and drops what changed after it, "
          "with no lookup per key", "[ramlake][restart][watermark]") {
  ShmDir dir("watermark");
  auto options = SmallPartition(dir.path());
  const History history = History::Random(1, 1000, 300);
  // The partition applied writes 1..800 before the process died; the WAL
  // holds everything after the checkpoint at 600 up to 1000: writes
  // 801..1000 superseded or deleted records the file still holds.
  ApplyAndClose(options, history, 800);
  const FakeStore store = history.StoreAt(1000);
  ChangedKeys changed;
  history.ChangedAfter(600, 1000, &changed);
  WatermarkProof proof{600, 1000, &changed};

  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof), &report);
  REQUIRE(p.ok());
  INFO(report.ToString());
  CHECK(report.outcome == OpenReport::Outcome::kReattached);
  REQUIRE(report.proof == OpenReport::Proof::kWatermark);
  CHECK(report.file_watermark_lsn == 800);
  CHECK(report.changed_keys == changed.size());
  CHECK(report.ToString().find("by watermark") != std::string::npos);
  // Only the spot checks asked the store.
  CHECK(store.lookups == report.store_lookups);
  CHECK(store.lookups <= OpenHooks{}.spot_checks);
  CHECK(report.records_dropped_stale > 0);
  ExpectOnlyCurrent(**p, history, store);
  // Nothing current was dropped: a key whose last write the partition had
  // applied is resident; one written after the watermark is not.
  for (const auto& [key, lsn] : store.lsn) {
    INFO("key " << key << " last written at " << lsn);
    CHECK((*p)->Contains(key) == (lsn <= 800));
  }
  CHECK((*p)->applied_lsn() == 1000);  // proven at the log's end now
  CHECK((*p)->Verify().ok());

  // The next start (nothing written in between, checkpoint at 1000) takes
  // the same path and keeps everything.
  p = Status::Closed("restart");
  FakeStore same = history.StoreAt(1000);
  ChangedKeys none;
  WatermarkProof after{1000, 1000, &none};
  OpenReport again;
  auto q = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(same, after), &again);
  REQUIRE(q.ok());
  CHECK(again.proof == OpenReport::Proof::kWatermark);
  CHECK(again.file_watermark_lsn == 1000);
  CHECK(again.records_kept == report.records_kept);
  CHECK(again.RecordsDropped() == 0);
}

TEST_CASE("Records above the log's end are never kept, whichever the proof", "[ramlake][restart][watermark]") {
  ShmDir dir("pastend");
  auto options = SmallPartition(dir.path());
  const History history = History::Random(2, 1000, 300);
  // The partition applied all 1000 writes, but the WAL kept only 900: the
  // last 100 were lost with its unsynced tail, and the store never had them.
  ApplyAndClose(options, history, 1000);
  const FakeStore store = history.StoreAt(900);
  ChangedKeys changed;
  history.ChangedAfter(700, 900, &changed);
  WatermarkProof proof{700, 900, &changed};
  std::size_t above_end = 0;  // keys whose record in the file is a lost write
  for (std::uint64_t lsn = 901; lsn <= 1000; ++lsn) {
    const auto& key = history.At(lsn).key;
    above_end += !history.At(lsn).erase && history.LastWrite(key, 1000) == lsn;
  }
  REQUIRE(above_end > 0);

  std::uint64_t identity = kStoreId;
  OpenReport::Proof expected = OpenReport::Proof::kWatermark;
  SECTION("by watermark") {}
  SECTION("key by key") {
    identity = 0;  // unknown: nothing to prove a watermark with
    expected = OpenReport::Proof::kKeyByKey;
  }
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof, identity), &report);
  REQUIRE(p.ok());
  INFO(report.ToString());
  CHECK(report.proof == expected);
  CHECK(report.records_dropped_past_end == above_end);
  ExpectOnlyCurrent(**p, history, store);
  CHECK((*p)->applied_lsn() == 900);
  // LSNs 901.. are given again to new writes: the file's old ones are gone.
  REQUIRE((*p)->Put("new", "after the restart", 901).ok());
  (*p)->SetAppliedLsn(901);
  CHECK((*p)->Verify().ok());
}

TEST_CASE("A file written against another store is rebuilt, never trusted key by key", "[ramlake][restart][identity]") {
  // Another store (or this one before a restore) may hold the same keys at
  // the same LSNs with other values: a lookup per key cannot tell.
  ShmDir dir("foreign");
  auto options = SmallPartition(dir.path());
  const History history = History::Random(4, 500, 100);
  ApplyAndClose(options, history, 500);
  const FakeStore store = history.StoreAt(500);  // the same LSNs for every key
  ChangedKeys changed;
  WatermarkProof proof{500, 500, &changed};
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof, kStoreId + 1), &report);
  REQUIRE(p.ok());
  CHECK(report.outcome == OpenReport::Outcome::kRebuilt);
  CHECK_THAT(report.ToString(), Catch::Contains("another store"));
  CHECK((*p)->Stats().entries == 0);
}

TEST_CASE("A watermark that proves nothing falls back to a lookup per key", "[ramlake][restart][watermark]") {
  ShmDir dir("fallback");
  auto options = SmallPartition(dir.path());
  const History history = History::Random(3, 1000, 300);
  ApplyAndClose(options, history, 800);
  FakeStore store = history.StoreAt(1000);
  ChangedKeys changed;
  std::uint64_t checkpoint = 600;
  std::uint64_t identity = kStoreId;
  const WatermarkProof* proof_given = nullptr;
  WatermarkProof proof{checkpoint, 1000, &changed};
  std::string reason;
  bool all_dropped = false;

  SECTION("the watermark is older than the checkpoint") {
    // Writes 801..900 are no longer in the WAL: only the store knows them.
    checkpoint = 900;
    reason = "older than the store's checkpoint";
  }
  SECTION("the file holds no watermark") {
    const std::string zeros(2 * sizeof(format::WatermarkSlot), '\0');
    PatchFile(options.file_path, format::kWatermarkOffset, zeros.data(), zeros.size());
    reason = "holds no watermark";
  }
  SECTION("the store's identity is unknown") {
    identity = 0;
    reason = "identity is unknown";
  }
  SECTION("a partition restarted while the node runs (no replay)") {
    reason = "no WAL replay";
  }
  SECTION("the store contradicts the proof's premises (spot check)") {
    // Another history behind the same identity: every LSN differs.
    for (auto& [key, lsn] : store.lsn) lsn += 5000;
    reason = "spot check";
    all_dropped = true;
  }
  proof.checkpoint_lsn = checkpoint;
  history.ChangedAfter(checkpoint, 1000, &changed);
  if (reason != "no WAL replay") proof_given = &proof;
  OpenHooks hooks = store.Hooks();
  hooks.watermark = proof_given;
  hooks.store_identity = identity;
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, hooks, &report);
  REQUIRE(p.ok());
  INFO(report.ToString());
  CHECK(report.outcome == OpenReport::Outcome::kReattached);
  CHECK(report.proof == OpenReport::Proof::kKeyByKey);
  CHECK_THAT(report.key_by_key_reason, Catch::Contains(reason));
  CHECK_THAT(report.ToString(), Catch::Contains("key by key") && Catch::Contains(reason));
  CHECK(report.store_lookups == store.lookups);
  CHECK(store.lookups >= report.records_kept);
  if (all_dropped) {
    CHECK(report.records_kept == 0);
    return;
  }
  ExpectOnlyCurrent(**p, history, store);
  for (const auto& [key, lsn] : store.lsn) {
    INFO("key " << key << " last written at " << lsn);
    CHECK((*p)->Contains(key) == (lsn <= 800));
  }
  CHECK((*p)->applied_lsn() == (proof_given ? 1000 : identity == kStoreId ? 800 : 0));
  CHECK((*p)->Verify().ok());
}

TEST_CASE("A torn watermark slot leaves the previous watermark readable", "[ramlake][restart][watermark]") {
  ShmDir dir("torn");
  auto options = SmallPartition(dir.path());
  const History history = History::Random(4, 300, 100);
  ApplyAndClose(options, history, 300);  // the last two slots written: 299, 300
  const FakeStore store = history.StoreAt(300);
  auto slots = [&] {
    std::string file = ReadAll(options.file_path);
    std::array<format::WatermarkSlot, format::kWatermarkSlots> s;
    std::memcpy(s.data(), file.data() + format::kWatermarkOffset, sizeof s);
    return s;
  };
  auto s = slots();
  const std::size_t newest = s[0].sequence > s[1].sequence ? 0 : 1;
  REQUIRE(s[newest].lsn == 300);
  REQUIRE(s[1 - newest].lsn == 299);
  ChangedKeys changed;
  history.ChangedAfter(250, 300, &changed);
  WatermarkProof proof{250, 300, &changed};
  // A kill -9 in the middle of writing the newest slot.
  const std::uint64_t torn_lsn = 301;
  PatchFile(options.file_path, format::kWatermarkOffset + newest * sizeof(format::WatermarkSlot), &torn_lsn,
            sizeof torn_lsn);
  {
    OpenReport report;
    auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof), &report);
    REQUIRE(p.ok());
    INFO(report.ToString());
    CHECK(report.file_watermark_lsn == 299);
    CHECK(report.proof == OpenReport::Proof::kWatermark);
    ExpectOnlyCurrent(**p, history, store);
    CHECK((*p)->Stats().entries + 0 == store.lsn.size());
  }
  // Open wrote a slot of its own (300, the log's end) over the torn one, in
  // the slot after the one it read; now tear both.
  s = slots();
  for (std::size_t i = 0; i < format::kWatermarkSlots; ++i) {
    std::uint64_t garbage = s[i].lsn + 7;
    PatchFile(options.file_path, format::kWatermarkOffset + i * sizeof(format::WatermarkSlot), &garbage,
              sizeof garbage);
  }
  OpenReport report;
  auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof), &report);
  REQUIRE(p.ok());
  CHECK(report.file_watermark_lsn == 0);
  CHECK(report.proof == OpenReport::Proof::kKeyByKey);
  CHECK_THAT(report.key_by_key_reason, Catch::Contains("holds no watermark"));
  ExpectOnlyCurrent(**p, history, store);
}

TEST_CASE("After kill -9 while applying writes, a watermark re-attach serves only what the store holds",
          "[ramlake][restart][watermark]") {
  for (std::uint64_t round = 0; round < 6; ++round) {
    ShmDir dir("kill9-watermark");
    auto options = SmallPartition(dir.path(), PartitionKind::kCode, 4 << 20);
    // 300 keys, values of 200..3000 bytes, one write in 8 a delete: the
    // cleaner relocates records all the time, in-place overwrites and
    // appends mix, and the kill lands anywhere in them or in the watermark.
    History history;
    std::mt19937_64 ops_rng(round + 77);
    for (int i = 0; i < 40000; ++i) {
      history.ops.push_back({KeyFor(ops_rng() % 300), 200 + ops_rng() % 2800, ops_rng() % 8 == 0});
    }
    int acks[2];
    REQUIRE(::pipe(acks) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(acks[0]);
      OpenHooks hooks;
      hooks.store_identity = kStoreId;
      auto p = RamLakePartition::Open(FileSystem::Default(), options, hooks);
      if (!p.ok()) ::_exit(2);
      for (std::uint64_t lsn = 1; lsn <= history.ops.size(); ++lsn) {
        const auto& op = history.At(lsn);
        std::vector<EvictedEntry> evicted;
        if (op.erase) {
          (void)(*p)->Erase(op.key);
        } else if (!(*p)->Put(op.key, ValueFor(op.key, lsn, op.size), lsn, &evicted).ok() || !evicted.empty()) {
          ::_exit(3);
        }
        (*p)->SetPersistedLsn(lsn);
        (*p)->SetAppliedLsn(lsn);
        if (::write(acks[1], &lsn, sizeof lsn) != sizeof lsn) ::_exit(4);
      }
      ::_exit(0);
    }
    ::close(acks[1]);
    std::mt19937_64 rng(round);
    const std::uint64_t kill_after = 2000 + rng() % 30000;
    std::uint64_t acked = 0, last = 0;
    while (acked < kill_after && ::read(acks[0], &last, sizeof last) == sizeof last) ++acked;
    REQUIRE(acked == kill_after);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    while (::read(acks[0], &last, sizeof last) == sizeof last) ++acked;
    ::close(acks[0]);

    // The journal logs a write before the partition applies it, so the WAL
    // ends at the write in flight -- unless (even rounds) it was relaxed and
    // lost with the WAL's tail, which the partition may have applied anyway.
    const bool in_flight_logged = round % 2 == 1;
    const std::uint64_t end = acked + (in_flight_logged ? 1 : 0);
    const std::uint64_t checkpoint = acked > 1500 ? acked - 1 - rng() % 1500 : 0;
    const FakeStore store = history.StoreAt(end);
    ChangedKeys changed;
    history.ChangedAfter(checkpoint, end, &changed);
    WatermarkProof proof{checkpoint, end, &changed};
    OpenReport report;
    auto p = RamLakePartition::Open(FileSystem::Default(), options, ProofHooks(store, proof), &report);
    REQUIRE(p.ok());
    INFO("round " << round << ": " << acked << " acknowledged, checkpoint " << checkpoint << ", log end " << end
                  << "; " << report.ToString());
    CHECK(report.proof == OpenReport::Proof::kWatermark);
    CHECK(report.file_watermark_lsn >= acked);
    const std::size_t missing = ExpectOnlyCurrent(**p, history, store);
    // Only the key of the write in flight may be missing (its Put had let
    // go of the old version, or it wrote a record past the log's end).
    CHECK(missing <= 1);
    CHECK(report.records_dropped_corrupt <= 1);
    REQUIRE((*p)->Verify().ok());
  }
}

TEST_CASE("The engine re-attaches by watermark and never serves what the WAL replays past it",
          "[ramlake][restart][watermark][engine]") {
  using actors::Engine;
  using actors::EngineReport;
  using records::tier;
  postdevai::testing::TempDir disk("warm-engine");
  ShmDir ram("warm-engine");
  const auto config = postdevai::testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  postdevai::testing::System system;
  const DataKind kCode = DataKind::kCode;
  auto key = [](int i) { return "src/f" + std::to_string(i) + ".cc"; };
  auto expect_watermark = [](const EngineReport& report) {
    for (DataKind kind : kAllDataKinds) {
      const OpenReport& r = report.partitions[DataKindIndex(kind)];
      INFO(DataKindName(kind) << ": " << r.ToString());
      CHECK(r.outcome == OpenReport::Outcome::kReattached);
      CHECK(r.proof == OpenReport::Proof::kWatermark);
      CHECK(r.store_lookups <= OpenHooks{}.spot_checks);
    }
  };
  std::uint64_t last = 0;
  {
    auto engine = Engine::Start(*system.sys, config);
    REQUIRE(engine.ok());
    postdevai::testing::Client client(*system.sys, (*engine)->local());
    for (int i = 0; i < 300; ++i) REQUIRE(client.Put(kCode, key(i), "v1 " + std::to_string(i)).ok());
    REQUIRE((*engine)->Stop().ok());
  }
  {
    // A clean stop leaves every partition's watermark at the final
    // checkpoint (the last persisted LSN reached each partition before it
    // stopped), so every file is proven without a lookup per key.
    EngineReport report;
    auto engine = Engine::Start(*system.sys, config, &report);
    REQUIRE(engine.ok());
    expect_watermark(report);
    CHECK(report.partitions[DataKindIndex(kCode)].records_kept == 300);
    postdevai::testing::Client client(*system.sys, (*engine)->local());
    for (int i = 0; i < 50; ++i) REQUIRE(client.Put(kCode, key(i), "v2 " + std::to_string(i)).ok());
    for (int i = 50; i < 100; ++i) {
      records::write_batch batch;
      batch.mutations.push_back(records::MakeDelete(kCode, key(i)));
      auto lsn = client.Write(std::move(batch));
      REQUIRE(lsn.ok());
      last = *lsn;
    }
    REQUIRE((*engine)->Stop().ok());
  }
  {
    // Writes the journal made durable but that neither the store nor the
    // partition applied (the process died right after the fsync): the
    // restart replays them, and the records they supersede must not be served.
    const auto cold = actors::DurableStoreOptionsFromConfig(config);
    storage::WalOptions wal_options;
    wal_options.dir = cold.wal_dir;
    wal_options.segment_size = cold.wal_segment_size;
    wal_options.archive = cold.wal_archive;
    wal_options.archive_dir = cold.wal_archive_dir;
    wal_options.min_next_lsn = last + 1;
    auto wal = storage::Wal::Open(wal_options, last, nullptr);
    REQUIRE(wal.ok());
    const std::string overwritten = key(150), erased = key(151);  // the mutations view them
    storage::Mutation overwrite;
    overwrite.kind = kCode;
    overwrite.key = overwritten;
    overwrite.value = "v3 logged only";
    storage::Mutation erase;
    erase.kind = kCode;
    erase.key = erased;
    erase.is_delete = true;
    auto lsn = (*wal)->Append(storage::kWalRecordMutations, storage::EncodeMutations({overwrite, erase}));
    REQUIRE(lsn.ok());
    CHECK(*lsn == last + 1);
  }
  EngineReport report;
  auto engine = Engine::Start(*system.sys, config, &report);
  REQUIRE(engine.ok());
  CHECK(report.cold.wal.replayed == 1);
  expect_watermark(report);
  const OpenReport& code = report.partitions[DataKindIndex(kCode)];
  CHECK(code.changed_keys == 2);
  CHECK(code.records_dropped_stale == 2);
  CHECK(code.records_kept == 300 - 50 - 2);
  postdevai::testing::Client client(*system.sys, (*engine)->local());
  for (int i = 0; i < 300; ++i) {
    INFO(key(i));
    auto r = client.Get(kCode, key(i));
    if ((i >= 50 && i < 100) || i == 151) {
      CHECK(r.status().IsNotFound());
      continue;
    }
    REQUIRE(r.ok());
    if (i == 150) {
      CHECK(r->value == "v3 logged only");
      CHECK(r->served_from == tier::disk);
    } else {
      CHECK(r->value == (i < 50 ? "v2 " : "v1 ") + std::to_string(i));
      CHECK(r->served_from == tier::ram);
    }
  }
  REQUIRE((*engine)->Stop().ok());
}
