// Write-ahead log: framing, torn tails, corruption, group commit, power cuts
// and injected I/O errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "storage/fault_injection_file_system.h"
#include "storage/wal.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using postdevai::testing::CopyDir;
using postdevai::testing::ReadFile;
using postdevai::testing::TempDir;
using postdevai::testing::WriteFile;

namespace {

constexpr std::uint64_t kSmallSegment = 64 * 1024;
constexpr std::uint64_t kSegmentHeader = 4096;

std::string Payload(std::uint64_t i) {
  std::string p = "record-" + std::to_string(i) + ":";
  p.append(20 + (i * 37) % 300, static_cast<char>('a' + i % 26));
  return p;
}

FaultRule Fault(FaultOp op, StatusCode code, int skip = 0, int count = -1, bool short_write = false) {
  FaultRule rule;
  rule.op = op;
  rule.code = code;
  rule.skip = skip;
  rule.count = count;
  rule.short_write = short_write;
  return rule;
}

std::uint64_t Framed(std::size_t payload) { return 32 + ((payload + 7) & ~std::size_t{7}); }

WalOptions SmallOptions(const std::string& dir, FileSystem* fs = FileSystem::Default()) {
  WalOptions o;
  o.dir = dir;
  o.fs = fs;
  o.segment_size = kSmallSegment;
  o.prepare_segments_in_background = false;  // deterministic file operations
  return o;
}

struct Replayed {
  std::vector<std::uint64_t> lsns;
  std::vector<std::string> payloads;
  Wal::ReplayFn fn() {
    return [this](const WalRecord& r) {
      lsns.push_back(r.lsn);
      payloads.emplace_back(r.payload);
      return Status::Ok();
    };
  }
};

std::string SegmentFile(const std::string& dir, int seq = 1) {
  char name[64];
  std::snprintf(name, sizeof name, "wal-%012d.log", seq);
  return dir + "/" + name;
}

// Writes records 1..n one at a time (each its own sync) into dir.
void WriteRecords(const std::string& dir, int n) {
  auto wal = Wal::Open(SmallOptions(dir), 0, nullptr);
  REQUIRE(wal.ok());
  for (int i = 1; i <= n; ++i) {
    auto lsn = (*wal)->Append(1, Payload(i));
    REQUIRE(lsn.ok());
    REQUIRE(*lsn == static_cast<std::uint64_t>(i));
  }
}

}  // namespace

TEST_CASE("records round-trip across reopen, in LSN order", "[wal]") {
  TempDir dir("wal");
  WriteRecords(dir.path(), 50);
  Replayed r;
  WalRecoveryReport report;
  auto wal = Wal::Open(SmallOptions(dir.path()), 0, r.fn(), &report);
  REQUIRE(wal.ok());
  REQUIRE(r.lsns.size() == 50);
  for (int i = 0; i < 50; ++i) {
    CHECK(r.lsns[i] == static_cast<std::uint64_t>(i + 1));
    CHECK(r.payloads[i] == Payload(i + 1));
  }
  CHECK(report.last_lsn == 50);
  CHECK_FALSE(report.torn_tail);
  // Appends continue after the last record.
  auto next = (*wal)->Append(1, "after reopen");
  REQUIRE(next.ok());
  CHECK(*next == 51);
}

TEST_CASE("replay starts after the given LSN and twice gives the same records", "[wal]") {
  TempDir dir("wal");
  WriteRecords(dir.path(), 20);
  for (int round = 0; round < 2; ++round) {
    Replayed r;
    auto wal = Wal::Open(SmallOptions(dir.path()), 12, r.fn());
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == 8);
    CHECK(r.lsns.front() == 13);
    CHECK(r.payloads.back() == Payload(20));
  }
}

TEST_CASE("a cut at every byte of the last three records loses exactly the cut records", "[wal]") {
  TempDir dir("wal");
  const int n = 10;
  WriteRecords(dir.path(), n);
  std::vector<std::uint64_t> ends(n + 1);  // ends[i]: offset after record i
  ends[0] = kSegmentHeader;
  for (int i = 1; i <= n; ++i) ends[i] = ends[i - 1] + Framed(Payload(i).size());
  const std::string original = ReadFile(SegmentFile(dir.path()));

  TempDir work("wal-cut");
  for (std::uint64_t cut = ends[n - 3]; cut <= ends[n]; ++cut) {
    CopyDir(dir.path(), work.path());
    std::filesystem::resize_file(SegmentFile(work.path()), cut);
    int expected = 0;
    while (expected < n && ends[expected + 1] <= cut) ++expected;

    Replayed r;
    WalRecoveryReport report;
    auto wal = Wal::Open(SmallOptions(work.path()), 0, r.fn(), &report);
    INFO("cut at offset " << cut);
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == static_cast<std::size_t>(expected));
    CHECK(r.payloads.back() == Payload(expected));
    CHECK(report.torn_tail == (cut != ends[expected]));
    auto lsn = (*wal)->Append(1, "fresh");
    REQUIRE(lsn.ok());
    CHECK(*lsn == static_cast<std::uint64_t>(expected + 1));
    wal->reset();

    Replayed again;
    auto reopened = Wal::Open(SmallOptions(work.path()), 0, again.fn());
    REQUIRE(reopened.ok());
    REQUIRE(again.lsns.size() == static_cast<std::size_t>(expected + 1));
    CHECK(again.payloads.back() == "fresh");
  }
}

TEST_CASE("zero and garbage tails are never applied", "[wal]") {
  TempDir dir("wal");
  const int n = 6;
  WriteRecords(dir.path(), n);
  std::uint64_t end = kSegmentHeader;
  for (int i = 1; i <= n; ++i) end += Framed(Payload(i).size());
  std::mt19937_64 rng(42);

  for (int trial = 0; trial < 40; ++trial) {
    TempDir work("wal-tail");
    CopyDir(dir.path(), work.path());
    std::string seg = ReadFile(SegmentFile(work.path()));
    // Garbage right after the last record, of random length; or a fake record
    // header of zeros with a valid-looking length.
    std::size_t len = 1 + rng() % 2000;
    for (std::size_t k = 0; k < len; ++k) seg[end + k] = static_cast<char>(trial % 2 ? rng() : 0);
    WriteFile(SegmentFile(work.path()), seg);

    Replayed r;
    auto wal = Wal::Open(SmallOptions(work.path()), 0, r.fn());
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == static_cast<std::size_t>(n));
    auto lsn = (*wal)->Append(1, "next");
    REQUIRE(lsn.ok());
    CHECK(*lsn == n + 1);
    wal->reset();
    Replayed again;
    REQUIRE(Wal::Open(SmallOptions(work.path()), 0, again.fn()).ok());
    REQUIRE(again.lsns.size() == static_cast<std::size_t>(n + 1));
    CHECK(again.payloads.back() == "next");
  }
}

TEST_CASE("a flipped byte in a middle record is reported as corruption", "[wal]") {
  TempDir dir("wal");
  const int n = 9;
  WriteRecords(dir.path(), n);
  std::uint64_t start = kSegmentHeader;
  for (int i = 1; i < 5; ++i) start += Framed(Payload(i).size());
  const std::uint64_t size = Framed(Payload(5).size());
  const std::string original = ReadFile(SegmentFile(dir.path()));

  TempDir work("wal-flip");
  for (std::uint64_t off = start; off < start + size; ++off) {
    // Padding bytes after the payload are not covered by any checksum; they
    // carry no data, so a flip there changes nothing readable.
    const std::uint64_t payload_end = start + 32 + Payload(5).size();
    CopyDir(dir.path(), work.path());
    std::string seg = original;
    seg[off] = static_cast<char>(seg[off] ^ 0x5a);
    WriteFile(SegmentFile(work.path()), seg);
    Replayed r;
    auto wal = Wal::Open(SmallOptions(work.path()), 0, r.fn());
    INFO("flipped byte at offset " << off);
    if (off >= payload_end) {
      REQUIRE(wal.ok());
      CHECK(r.lsns.size() == static_cast<std::size_t>(n));
      continue;
    }
    REQUIRE_FALSE(wal.ok());
    CHECK(wal.status().IsCorruption());
    CHECK_THAT(wal.status().message(), Catch::Contains("wal-000000000001.log") && Catch::Contains("LSN 5"));
    // Records before the damage were still handed over; none after it.
    CHECK(r.lsns.size() == 4);
  }
}

TEST_CASE("segments roll, are archived after a checkpoint and the archive is intact", "[wal]") {
  TempDir dir("wal");
  auto options = SmallOptions(dir.path());
  const int n = 1000;  // ~250 KiB: several 64 KiB segments
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    std::uint64_t framed = 0;
    for (int i = 1; i <= n; ++i) {
      REQUIRE((*wal)->Append(1, Payload(i)).ok());
      framed += Framed(Payload(i).size());
    }
    CHECK((*wal)->stats().segments > 3);
    CHECK((*wal)->stats().live_bytes == framed);  // the backlog, exactly
    REQUIRE((*wal)->ReleaseThrough(700).ok());
    CHECK((*wal)->stats().segments >= 1);
    // What was released no longer counts; what is left holds at least LSNs 701..n.
    std::uint64_t kept = 0;
    for (int i = 701; i <= n; ++i) kept += Framed(Payload(i).size());
    CHECK((*wal)->stats().live_bytes < framed);
    CHECK((*wal)->stats().live_bytes >= kept);
  }
  // The archive holds the older segments, the live dir the rest.
  std::size_t archived = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "-archive")) archived += e.is_regular_file();
  CHECK(archived >= 2);
  Replayed live;
  WalRecoveryReport report;
  REQUIRE(Wal::Open(options, 0, live.fn(), &report).ok());
  CHECK(report.first_lsn <= 701);
  CHECK(report.first_lsn > 1);
  REQUIRE(live.lsns.size() == n - report.first_lsn + 1);
  for (std::size_t i = 0; i < live.lsns.size(); ++i) {
    REQUIRE(live.lsns[i] == report.first_lsn + i);
    REQUIRE(live.payloads[i] == Payload(report.first_lsn + i));
  }
  // The archived segments are a log of their own (read from a copy: opening
  // a log may write to it): every record before the live log, intact.
  TempDir archive("wal-archive-copy");
  CopyDir(dir.path() + "-archive", archive.path());
  std::filesystem::remove_all(dir.path() + "-archive");
  Replayed archived_records;
  REQUIRE(Wal::Open(SmallOptions(archive.path()), 0, archived_records.fn()).ok());
  REQUIRE(archived_records.lsns.size() == report.first_lsn - 1);
  for (std::size_t i = 0; i < archived_records.lsns.size(); ++i) {
    REQUIRE(archived_records.lsns[i] == i + 1);
    REQUIRE(archived_records.payloads[i] == Payload(i + 1));
  }
}

TEST_CASE("segments before a checkpoint can be deleted instead of archived", "[wal]") {
  TempDir dir("wal");
  auto options = SmallOptions(dir.path());
  options.archive = false;
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  for (int i = 1; i <= 800; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
  const auto before = (*wal)->stats().segments;
  REQUIRE((*wal)->ReleaseThrough(800).ok());
  CHECK((*wal)->stats().segments == 1);
  CHECK(before > 1);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "-archive"));
}

TEST_CASE("LSNs never restart below the checkpoint", "[wal]") {
  TempDir dir("wal");
  auto options = SmallOptions(dir.path());
  options.min_next_lsn = 1000;
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  auto lsn = (*wal)->Append(1, "x");
  REQUIRE(lsn.ok());
  CHECK(*lsn == 1000);
}

TEST_CASE("oversized and type-0 records are refused with a clear error", "[wal]") {
  TempDir dir("wal");
  auto wal = Wal::Open(SmallOptions(dir.path()), 0, nullptr);
  REQUIRE(wal.ok());
  auto big = (*wal)->Append(1, std::string(kSmallSegment, 'x'));
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().code() == StatusCode::kTooLarge);
  auto zero = (*wal)->Append(0, "x");
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.status().code() == StatusCode::kInvalidArgument);
  // A record that fills most of a segment still goes in (on a fresh segment).
  REQUIRE((*wal)->Append(1, "small").ok());
  REQUIRE((*wal)->Append(1, std::string((*wal)->max_payload(), 'y')).ok());
}

TEST_CASE("concurrent writers share syncs (group commit) and lose nothing", "[wal]") {
  TempDir dir("wal");
  WalOptions options;
  options.dir = dir.path();
  options.segment_size = 1 << 20;
  const int writers = 16, per_writer = 150;
  std::mutex mu;
  std::map<std::uint64_t, std::string> acknowledged;
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        for (int i = 0; i < per_writer; ++i) {
          std::string p = std::to_string(w) + "-w-" + std::to_string(i);
          auto lsn = (*wal)->Append(1, p);
          REQUIRE(lsn.ok());
          std::lock_guard lock(mu);
          acknowledged[*lsn] = p;
        }
      });
    }
    for (auto& t : threads) t.join();
    auto stats = (*wal)->stats();
    CHECK(stats.records == writers * per_writer);
    CHECK(stats.syncs < stats.records);  // some syncs acknowledged several writes
    CHECK(stats.max_batch > 1);
  }
  REQUIRE(acknowledged.size() == writers * per_writer);
  CHECK(acknowledged.begin()->first == 1);
  CHECK(acknowledged.rbegin()->first == writers * per_writer);
  Replayed r;
  REQUIRE(Wal::Open(options, 0, r.fn()).ok());
  REQUIRE(r.lsns.size() == acknowledged.size());
  for (std::size_t i = 0; i < r.lsns.size(); ++i) REQUIRE(acknowledged.at(r.lsns[i]) == r.payloads[i]);
}

TEST_CASE("power cut: every acknowledged write survives, torn or dropped tails do not harm", "[wal][powercut]") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    TempDir dir("wal-power");
    FaultInjectionFileSystem fs;
    fs.set_strict_directories(true);
    auto options = SmallOptions(dir.path(), &fs);
    options.prepare_segments_in_background = seed % 2 == 0;
    std::mutex mu;
    std::map<std::uint64_t, std::string> acknowledged;
    std::set<std::string> attempted;
    {
      auto wal = Wal::Open(options, 0, nullptr);
      REQUIRE(wal.ok());
      std::vector<std::thread> threads;
      std::atomic<bool> cut{false};
      for (int w = 0; w < 6; ++w) {
        threads.emplace_back([&, w] {
          for (int i = 0; i < 400 && !cut; ++i) {
            std::string p = Payload(seed * 100000 + w * 1000 + i);
            {
              std::lock_guard lock(mu);
              attempted.insert(p);
            }
            auto lsn = (*wal)->Append(1, p);
            if (!lsn.ok()) continue;
            std::lock_guard lock(mu);
            acknowledged[*lsn] = p;
          }
        });
      }
      // The moment of the cut: from here no sync reaches the disk. Writes still
      // land in the page cache and are lost (or torn) by the power cut below.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + 7 * seed));
      fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError));
      fs.InjectFault(Fault(FaultOp::kSyncDir, StatusCode::kIoError));
      cut = true;
      for (auto& t : threads) t.join();
    }
    fs.ClearFaults();
    if (seed % 3 == 0) {
      REQUIRE(fs.DropUnsyncedData().ok());
    } else {
      REQUIRE(fs.TearUnsyncedData(seed).ok());
    }
    Replayed r;
    WalRecoveryReport report;
    auto wal = Wal::Open(options, 0, r.fn(), &report);
    INFO("seed " << seed << ": " << (wal.ok() ? report.torn_tail_detail : wal.status().ToString()));
    REQUIRE(wal.ok());
    std::map<std::uint64_t, std::string> recovered;
    for (std::size_t i = 0; i < r.lsns.size(); ++i) recovered[r.lsns[i]] = r.payloads[i];
    REQUIRE(!acknowledged.empty());
    for (const auto& [lsn, payload] : acknowledged) {
      REQUIRE(recovered.count(lsn) == 1);
      REQUIRE(recovered[lsn] == payload);
    }
    // Anything beyond the acknowledged writes is a write whose caller was told
    // it failed (its outcome was unknown), never garbage.
    for (const auto& [lsn, payload] : recovered) REQUIRE(attempted.count(payload) == 1);
    REQUIRE((*wal)->Append(1, "after power cut").ok());
  }
}

namespace {

struct FaultCase {
  FaultOp op;
  StatusCode code;
  bool short_write;
  const char* name;
};

}  // namespace

TEST_CASE("ENOSPC and EIO on every write, sync and rename: clear errors, no loss, recovery", "[wal][faults]") {
  const FaultCase cases[] = {
      {FaultOp::kCreate, StatusCode::kNoSpace, false, "create ENOSPC"},
      {FaultOp::kWrite, StatusCode::kNoSpace, false, "write ENOSPC"},
      {FaultOp::kWrite, StatusCode::kNoSpace, true, "short write ENOSPC"},
      {FaultOp::kWrite, StatusCode::kIoError, false, "write EIO"},
      {FaultOp::kSync, StatusCode::kIoError, false, "sync EIO"},
      {FaultOp::kSync, StatusCode::kNoSpace, false, "sync ENOSPC"},
      {FaultOp::kRename, StatusCode::kIoError, false, "rename EIO"},
      {FaultOp::kSyncDir, StatusCode::kIoError, false, "directory sync EIO"},
  };
  for (const auto& fc : cases) {
    // Count how many calls of this kind a clean run makes, then fail each one.
    std::uint64_t total_calls = 0;
    {
      TempDir dir("wal-count");
      FaultInjectionFileSystem fs;
      auto wal = Wal::Open(SmallOptions(dir.path(), &fs), 0, nullptr);
      REQUIRE(wal.ok());
      for (int i = 1; i <= 400; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
      total_calls = fs.CallCount(fc.op);
    }
    REQUIRE(total_calls > 0);
    const std::uint64_t step = std::max<std::uint64_t>(1, total_calls / 40);
    for (std::uint64_t k = 0; k < total_calls; k += step) {
      INFO(fc.name << ", failing call #" << k << " of " << total_calls);
      TempDir dir("wal-fault");
      FaultInjectionFileSystem fs;
      auto options = SmallOptions(dir.path(), &fs);
      fs.InjectFault(Fault(fc.op, fc.code, static_cast<int>(k), 1, fc.short_write));
      std::map<std::uint64_t, std::string> acknowledged;
      std::set<std::string> failed;
      int errors = 0;
      {
        auto wal = Wal::Open(options, 0, nullptr);
        if (!wal.ok()) {
          ++errors;
          CHECK(wal.status().code() == fc.code);
          fs.ClearFaults();
          wal = Wal::Open(options, 0, nullptr);  // space is back
          REQUIRE(wal.ok());
        }
        for (int i = 1; i <= 400; ++i) {
          auto lsn = (*wal)->Append(1, Payload(i));
          if (lsn.ok()) {
            acknowledged[*lsn] = Payload(i);
          } else {
            ++errors;
            failed.insert(Payload(i));
            CHECK(lsn.status().code() == fc.code);
            CHECK_THAT(lsn.status().message(), Catch::Contains(dir.path()));
          }
        }
        // Once the fault is gone, writes succeed again.
        auto again = (*wal)->Append(1, "after the fault");
        REQUIRE(again.ok());
        acknowledged[*again] = "after the fault";
      }
      CHECK(errors <= 1);
      Replayed r;
      auto wal = Wal::Open(options, 0, r.fn());
      REQUIRE(wal.ok());
      std::map<std::uint64_t, std::string> recovered;
      for (std::size_t i = 0; i < r.lsns.size(); ++i) recovered[r.lsns[i]] = r.payloads[i];
      // Exactly the acknowledged records: a failed write is erased, never
      // retried behind the caller's back and acknowledged.
      CHECK(recovered == acknowledged);
    }
  }
}

TEST_CASE("intact records behind a torn one are erased, never revived by later appends", "[wal]") {
  // A group-commit batch whose first record was torn but whose later records
  // reached the disk: none of them was acknowledged. After recovery, a new
  // record of the same size takes the torn one's place; the old intact records
  // behind it must not reappear as its successors.
  TempDir dir("wal");
  WriteRecords(dir.path(), 6);
  std::uint64_t batch_start = kSegmentHeader;
  for (int i = 1; i <= 6; ++i) batch_start += Framed(Payload(i).size());
  {
    auto wal = Wal::Open(SmallOptions(dir.path()), 0, nullptr);
    REQUIRE(wal.ok());
    const std::string a(100, 'a'), b(100, 'b'), c(100, 'c');
    REQUIRE((*wal)->AppendBatch({{1, a}, {1, b}, {1, c}}).ok());
  }
  std::string seg = ReadFile(SegmentFile(dir.path()));
  seg[batch_start + 40] ^= 1;  // tear the batch's first record
  WriteFile(SegmentFile(dir.path()), seg);

  Replayed first;
  WalRecoveryReport report;
  auto wal = Wal::Open(SmallOptions(dir.path()), 0, first.fn(), &report);
  REQUIRE(wal.ok());
  CHECK(first.lsns.size() == 6);
  CHECK(report.torn_tail);
  REQUIRE((*wal)->Append(1, std::string(100, 'x')).ok());
  wal->reset();

  Replayed second;
  REQUIRE(Wal::Open(SmallOptions(dir.path()), 0, second.fn()).ok());
  REQUIRE(second.lsns.size() == 7);
  CHECK(second.payloads.back() == std::string(100, 'x'));
}
