// RAM-Lake warm restart: re-attaching after a clean close and after kill -9,
// and every way a file can be untrustworthy (corrupt record, truncated,
// another partition's, another format version, corrupt header, full RAM disk).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/fault_injection_file_system.h"
#include "storage/ramlake/partition_format.h"
#include "storage/ramlake/ram_lake.h"
#include "storage/ramlake/record_checksum.h"
#include "tests/ramlake_test_util.h"

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
