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

#include "records/coding.h"
#include "storage/crc32c.h"
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

// The log goes on after recovering n records: the next append gets LSN
// n + 1, and a reopen replays it after them. Closes *wal.
void CheckLogContinues(std::unique_ptr<Wal>* wal, const std::string& dir, int n) {
  auto next = (*wal)->Append(1, "next");
  REQUIRE(next.ok());
  CHECK(*next == static_cast<std::uint64_t>(n) + 1);
  wal->reset();
  Replayed again;
  REQUIRE(Wal::Open(SmallOptions(dir), 0, again.fn()).ok());
  REQUIRE(again.lsns.size() == static_cast<std::size_t>(n + 1));
  CHECK(again.payloads.back() == "next");
}

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
    CheckLogContinues(&*wal, work.path(), n);
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
  // Reopened after the checkpoint at 700, as a restart does: the log
  // continues it, and replays what follows it.
  Replayed live;
  WalRecoveryReport report;
  REQUIRE(Wal::Open(options, 700, live.fn(), &report).ok());
  CHECK(report.first_lsn <= 701);
  CHECK(report.first_lsn > 1);
  REQUIRE(live.lsns.size() == n - 700);
  for (std::size_t i = 0; i < live.lsns.size(); ++i) {
    REQUIRE(live.lsns[i] == 701 + i);
    REQUIRE(live.payloads[i] == Payload(701 + i));
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

TEST_CASE("the next leader gathers the writers the last sync acknowledged instead of syncing half of them", "[wal]") {
  // Syncs made slow (20 ms) so that the writers a sync acknowledged are back
  // well within the leader's wait (half a sync). Without the gathering, four
  // writers settle into two halves that alternate: two writes a sync.
  TempDir dir("wal-gather");
  FaultInjectionFileSystem fs;
  fs.SetHook(FaultOp::kSync, [](const std::string& path) {
    if (path.find("wal-") != std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  WalOptions options;
  options.dir = dir.path();
  options.fs = &fs;
  options.segment_size = 1 << 20;
  const int writers = 4, per_writer = 30;
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  const auto syncs_before = (*wal)->stats().syncs;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i) failures += !(*wal)->Append(1, std::to_string(w) + "-" + std::to_string(i)).ok();
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures == 0);
  const auto stats = (*wal)->stats();
  const double per_sync = static_cast<double>(stats.records) / static_cast<double>(stats.syncs - syncs_before);
  INFO("writes per sync " << per_sync << ", largest batch " << stats.max_batch);
  CHECK(stats.max_batch == writers);
  CHECK(per_sync > 3.0);
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
    std::map<std::string, StatusCode> failed;  // payload -> the error its caller got
    {
      auto wal = Wal::Open(options, 0, nullptr);
      REQUIRE(wal.ok());
      std::vector<std::thread> threads;
      std::atomic<bool> cut{false};
      for (int w = 0; w < 6; ++w) {
        threads.emplace_back([&, w] {
          for (int i = 0; i < 400 && !cut; ++i) {
            std::string p = Payload(seed * 100000 + w * 1000 + i);
            auto lsn = (*wal)->Append(1, p);
            std::lock_guard lock(mu);
            if (lsn.ok()) {
              acknowledged[*lsn] = p;
            } else {
              failed[p] = lsn.status().code();
            }
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
    // kClosed: the log could not abandon its records (no new segment could be
    // started either), so its outcome was unknown. A write that failed with
    // any other error is never found.
    for (const auto& [lsn, payload] : recovered) {
      if (acknowledged.count(lsn) == 1) continue;
      INFO("LSN " << lsn << " was not acknowledged");
      REQUIRE(failed.count(payload) == 1);
      REQUIRE(failed[payload] == StatusCode::kClosed);
    }
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
  std::uint64_t batch_start = kSegmentHeader;
  for (int i = 1; i <= 6; ++i) batch_start += Framed(Payload(i).size());
  {
    auto wal = Wal::Open(SmallOptions(dir.path()), 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= 6; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
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

namespace {

// A payload of 1-2 KiB: batches of them fill 64 KiB segments in a few writes.
std::string BigPayload(std::uint64_t i) {
  std::string p = Payload(i);
  p.append(1000 + (i * 131) % 1000, static_cast<char>('A' + i % 26));
  return p;
}

enum class Crash { kProcess, kPowerDrop, kPowerTear };
const char* CrashName(Crash c) {
  switch (c) {
    case Crash::kProcess: return "the process dies";
    case Crash::kPowerDrop: return "power cut (unsynced bytes dropped)";
    case Crash::kPowerTear: return "power cut (unsynced bytes torn)";
  }
  return "?";
}

// Logs batches of 6 records, as the journal logs a group commit, until one
// fails; many of them straddle two segments. What the callers were told.
struct BatchRun {
  std::map<std::uint64_t, std::string> acknowledged;
  std::vector<std::string> failed;
  Status failure;
};
BatchRun LogBatchesUntilOneFails(Wal& wal, int batches) {
  BatchRun run;
  for (int b = 0; b < batches; ++b) {
    std::vector<std::string> payloads;
    for (int k = 0; k < 6; ++k) payloads.push_back(BigPayload(b * 10 + k));
    std::vector<WalEntry> entries;
    for (const auto& p : payloads) entries.push_back(WalEntry{1, p});
    auto first = wal.AppendBatch(entries);
    if (!first.ok()) {
      run.failed = payloads;
      run.failure = first.status();
      break;
    }
    for (std::size_t k = 0; k < payloads.size(); ++k) run.acknowledged[*first + k] = payloads[k];
  }
  return run;
}

}  // namespace

TEST_CASE("a write reported failed is never found after recovery, whether the process dies or the power goes",
          "[wal][faults][powercut]") {
  const FaultCase cases[] = {
      {FaultOp::kWrite, StatusCode::kIoError, false, "write EIO"},
      {FaultOp::kWrite, StatusCode::kNoSpace, true, "short write ENOSPC"},
      {FaultOp::kSync, StatusCode::kIoError, false, "sync EIO"},
      {FaultOp::kRename, StatusCode::kIoError, false, "rename EIO"},
      {FaultOp::kSyncDir, StatusCode::kIoError, false, "directory sync EIO"},
      {FaultOp::kCreate, StatusCode::kNoSpace, false, "create ENOSPC"},
  };
  const int batches = 40;  // ~6 segments
  for (const auto& fc : cases) {
    std::uint64_t total_calls = 0;
    {
      TempDir dir("wal-count");
      FaultInjectionFileSystem fs;
      auto wal = Wal::Open(SmallOptions(dir.path(), &fs), 0, nullptr);
      REQUIRE(wal.ok());
      const std::uint64_t before = fs.CallCount(fc.op);
      auto run = LogBatchesUntilOneFails(**wal, batches);
      REQUIRE(run.failed.empty());
      total_calls = fs.CallCount(fc.op) - before;
    }
    REQUIRE(total_calls > 0);
    const std::uint64_t step = std::max<std::uint64_t>(1, total_calls / 30);
    for (std::uint64_t k = 0; k < total_calls; k += step) {
      for (Crash crash : {Crash::kProcess, Crash::kPowerDrop, Crash::kPowerTear}) {
        INFO(fc.name << ", failing call #" << k << " of " << total_calls << ", then " << CrashName(crash));
        TempDir dir("wal-failed");
        FaultInjectionFileSystem fs;
        fs.set_strict_directories(true);
        const auto options = SmallOptions(dir.path(), &fs);
        BatchRun run;
        {
          auto wal = Wal::Open(options, 0, nullptr);
          REQUIRE(wal.ok());
          fs.InjectFault(Fault(fc.op, fc.code, static_cast<int>(k), 1, fc.short_write));
          run = LogBatchesUntilOneFails(**wal, batches);
        }
        REQUIRE_FALSE(run.failed.empty());
        INFO("the failure: " << run.failure.ToString());
        CHECK(run.failure.code() == fc.code);
        fs.ClearFaults();
        if (crash == Crash::kPowerDrop) REQUIRE(fs.DropUnsyncedData().ok());
        if (crash == Crash::kPowerTear) REQUIRE(fs.TearUnsyncedData(k + 1).ok());

        Replayed r;
        WalRecoveryReport report;
        auto wal = Wal::Open(options, 0, r.fn(), &report);
        INFO("recovery: " << (wal.ok() ? report.torn_tail_detail : wal.status().ToString()));
        REQUIRE(wal.ok());
        std::map<std::uint64_t, std::string> recovered;
        for (std::size_t i = 0; i < r.lsns.size(); ++i) recovered[r.lsns[i]] = r.payloads[i];
        for (const auto& p : run.failed) {
          INFO("a record of the failed batch");
          CHECK(std::find(r.payloads.begin(), r.payloads.end(), p) == r.payloads.end());
        }
        CHECK(recovered == run.acknowledged);
        // The log goes on where the acknowledged writes end.
        auto next = (*wal)->Append(1, "next");
        REQUIRE(next.ok());
        CHECK(*next == run.acknowledged.size() + 1);
      }
    }
  }
}

TEST_CASE("after a failed sync the segment is abandoned: the next write starts a new one and recovery keeps what was acknowledged",
          "[wal][faults]") {
  for (Crash crash : {Crash::kProcess, Crash::kPowerDrop}) {
    INFO(CrashName(crash));
    TempDir dir("wal-fsync");
    FaultInjectionFileSystem fs;
    fs.set_strict_directories(true);
    const auto options = SmallOptions(dir.path(), &fs);
    const std::string first_segment = "wal-000000000001.log";
    {
      auto wal = Wal::Open(options, 0, nullptr);
      REQUIRE(wal.ok());
      for (int i = 1; i <= 5; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
      FaultRule sync_fails = Fault(FaultOp::kSync, StatusCode::kIoError, 0, 1);
      sync_fails.path_contains = first_segment;
      fs.InjectFault(sync_fails);
      auto failed = (*wal)->Append(1, "the write whose sync failed");
      REQUIRE_FALSE(failed.ok());
      CHECK(failed.status().code() == StatusCode::kIoError);
      CHECK_THAT(failed.status().message(), Catch::Contains(first_segment));
      // The kernel may have dropped that file's dirty pages and will not say so
      // again: nothing is ever written to it or synced in it again.
      for (FaultOp op : {FaultOp::kWrite, FaultOp::kSync}) {
        FaultRule never_again = Fault(op, StatusCode::kIoError);
        never_again.path_contains = first_segment;
        fs.InjectFault(never_again);
      }
      for (int i = 6; i <= 10; ++i) {
        auto lsn = (*wal)->Append(1, Payload(i));
        INFO("write " << i << ": " << lsn.status().ToString());
        REQUIRE(lsn.ok());
        CHECK(*lsn == static_cast<std::uint64_t>(i));  // the failed write's LSN is handed out again
      }
      CHECK(std::filesystem::exists(SegmentFile(dir.path(), 2)));
      CHECK((*wal)->stats().segments == 2);
    }
    fs.ClearFaults();
    if (crash == Crash::kPowerDrop) REQUIRE(fs.DropUnsyncedData().ok());
    Replayed r;
    WalRecoveryReport report;
    auto wal = Wal::Open(options, 0, r.fn(), &report);
    INFO("recovery: " << (wal.ok() ? report.abandoned_detail : wal.status().ToString()));
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == 10);
    for (int i = 1; i <= 10; ++i) {
      CHECK(r.lsns[i - 1] == static_cast<std::uint64_t>(i));
      CHECK(r.payloads[i - 1] == Payload(i));
    }
    // The failed write's bytes are still in the abandoned segment when only
    // the process died: recovery knows them for what they are.
    if (crash == Crash::kProcess) CHECK(report.abandoned_segments == 1);
    auto next = (*wal)->Append(1, "next");
    REQUIRE(next.ok());
    CHECK(*next == 11);
  }
}

TEST_CASE("a new WAL directory, its segments and its archive survive a power cut", "[wal][powercut]") {
  TempDir root("wal-dirs");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);  // a directory entry is durable only once its parent is synced
  auto options = SmallOptions(root / "node/wal", &fs);  // neither node/ nor wal/ exists yet
  options.archive_dir = root / "node/archive/wal";
  const int n = 600;
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= n; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
    REQUIRE((*wal)->stats().segments > 2);
    REQUIRE((*wal)->ReleaseThrough(300).ok());
  }
  REQUIRE(fs.DropUnsyncedData().ok());

  Replayed live;
  WalRecoveryReport report;
  REQUIRE(Wal::Open(options, 300, live.fn(), &report).ok());
  REQUIRE(report.first_lsn > 1);
  REQUIRE(report.first_lsn <= 301);
  REQUIRE(live.lsns.size() == n - 300);
  for (std::size_t i = 0; i < live.lsns.size(); ++i) REQUIRE(live.payloads[i] == Payload(301 + i));
  // Every record before the live log is in the archive.
  REQUIRE(std::filesystem::exists(options.archive_dir));
  TempDir archive("wal-dirs-archive");
  CopyDir(options.archive_dir, archive.path());
  Replayed archived;
  REQUIRE(Wal::Open(SmallOptions(archive.path()), 0, archived.fn()).ok());
  REQUIRE(archived.lsns.size() == report.first_lsn - 1);
  for (std::size_t i = 0; i < archived.lsns.size(); ++i) REQUIRE(archived.payloads[i] == Payload(i + 1));
}

namespace {

// A WAL record of another log, verbatim: intact, correctly sequenced, with an
// LSN and a durable LSN past this log's end. A user may store any file as a
// value, a WAL segment included.
struct ForeignRecords {
  std::string bytes;  // records 1..n of another log, back to back
  std::vector<std::uint64_t> ends;
};
ForeignRecords ForeignLog(int n) {
  TempDir other("wal-foreign");
  WriteRecords(other.path(), n);
  ForeignRecords f;
  std::uint64_t end = kSegmentHeader;
  for (int i = 1; i <= n; ++i) f.ends.push_back(end += Framed(Payload(i).size()));
  f.bytes = ReadFile(SegmentFile(other.path())).substr(kSegmentHeader, end - kSegmentHeader);
  return f;
}

}  // namespace

TEST_CASE("a torn tail followed by bytes that look like records is the end of the log, never a refusal", "[wal]") {
  const ForeignRecords foreign = ForeignLog(40);
  const int n = 5;
  std::uint64_t tail = kSegmentHeader;
  for (int i = 1; i <= n; ++i) tail += Framed(Payload(i).size());

  std::mt19937_64 rng(8);
  for (int trial = 0; trial < 48; ++trial) {
    TempDir work("wal-torn");
    {
      auto wal = Wal::Open(SmallOptions(work.path()), 0, nullptr);
      REQUIRE(wal.ok());
      for (int i = 1; i <= n; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
      // The next write's value holds records: another log's (LSNs 1..40,
      // which run past this log's end and vouch for LSN 6), or this very
      // segment as it is (a backup of it stored as a value).
      std::string value(8 * (rng() % 40), 'v');
      value += trial % 4 == 3 ? ReadFile(SegmentFile(work.path())).substr(0, tail) : foreign.bytes;
      value.append(rng() % 300, 'w');
      auto lsn = (*wal)->Append(1, value);
      REQUIRE(lsn.ok());
      REQUIRE(*lsn == n + 1);
    }
    // The power went before that write was synced; the disk kept parts of it.
    std::string seg = ReadFile(SegmentFile(work.path()));
    const char* how = "";
    switch (trial % 3) {
      case 0:  // its first sector never reached the disk
        how = "first sector lost";
        std::fill(seg.begin() + static_cast<std::ptrdiff_t>(tail), seg.begin() + static_cast<std::ptrdiff_t>(tail + 512), '\0');
        break;
      case 1:  // a sector in the middle of its payload is lost
        how = "a payload sector lost";
        std::fill_n(seg.begin() + static_cast<std::ptrdiff_t>(tail + 32 + rng() % 64), 512, '\0');
        break;
      case 2:  // its header is torn
        how = "header torn";
        seg[tail + rng() % 32] ^= static_cast<char>(1 + rng() % 255);
        break;
    }
    WriteFile(SegmentFile(work.path()), seg);
    Replayed r;
    WalRecoveryReport report;
    auto wal = Wal::Open(SmallOptions(work.path()), 0, r.fn(), &report);
    INFO("trial " << trial << ", " << how << ": " << (wal.ok() ? report.torn_tail_detail : wal.status().ToString()));
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == static_cast<std::size_t>(n));
    CHECK(report.torn_tail);
    CheckLogContinues(&*wal, work.path(), n);
  }
}

TEST_CASE("mid-log damage followed by correctly sequenced records is corruption, stored records or not", "[wal]") {
  // The damaged record carries another log's records in its value; the
  // records after it are this log's own and prove it had been acknowledged.
  const ForeignRecords foreign = ForeignLog(10);
  TempDir dir("wal");
  std::uint64_t damaged_at = kSegmentHeader;
  {
    auto wal = Wal::Open(SmallOptions(dir.path()), 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= 3; ++i) {
      REQUIRE((*wal)->Append(1, Payload(i)).ok());
      damaged_at += Framed(Payload(i).size());
    }
    REQUIRE((*wal)->Append(1, std::string(64, 'v') + foreign.bytes).ok());
    for (int i = 5; i <= 8; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
  }
  const std::string original = ReadFile(SegmentFile(dir.path()));
  TempDir work("wal-damage");
  for (std::uint64_t off : {damaged_at + 1, damaged_at + 17, damaged_at + 40, damaged_at + 200}) {
    CopyDir(dir.path(), work.path());
    std::string seg = original;
    seg[off] ^= 0x20;
    WriteFile(SegmentFile(work.path()), seg);
    Replayed r;
    auto wal = Wal::Open(SmallOptions(work.path()), 0, r.fn());
    INFO("damage at offset " << off);
    REQUIRE_FALSE(wal.ok());
    CHECK(wal.status().IsCorruption());
    CHECK_THAT(wal.status().message(), Catch::Contains("LSN 4"));
    CHECK(r.lsns.size() == 3);
  }
  // A bad record at the end of a segment that a later segment follows: the
  // later segment proves it had been synced.
  TempDir rolled("wal-rolled");
  int records = 0;
  {
    auto wal = Wal::Open(SmallOptions(rolled.path()), 0, nullptr);
    REQUIRE(wal.ok());
    while ((*wal)->stats().segments < 2) REQUIRE((*wal)->Append(1, Payload(++records)).ok());
  }
  std::uint64_t last_in_first = kSegmentHeader, start = 0;
  int lsn = 0;
  while (last_in_first + Framed(Payload(lsn + 1).size()) <= kSmallSegment && lsn + 1 < records) {
    start = last_in_first;
    last_in_first += Framed(Payload(++lsn).size());
  }
  std::string seg = ReadFile(SegmentFile(rolled.path(), 1));
  seg[start + 40] ^= 1;
  WriteFile(SegmentFile(rolled.path(), 1), seg);
  auto wal = Wal::Open(SmallOptions(rolled.path()), 0, nullptr);
  INFO("the last record of segment 1 is LSN " << lsn);
  REQUIRE_FALSE(wal.ok());
  CHECK(wal.status().IsCorruption());
  CHECK_THAT(wal.status().message(), Catch::Contains("LSN " + std::to_string(lsn)));
}

TEST_CASE("a log in format version 1 is still read, and appends go on in a new segment", "[wal]") {
  // Version 1 (before records were bound to their segment): the same layout,
  // a header CRC over bytes [4, 32) of the segment header and of each record.
  using records::EncodeFixed32;
  using records::EncodeFixed64;
  std::string seg(kSmallSegment, '\0');
  EncodeFixed32(seg.data() + 4, 1);
  EncodeFixed64(seg.data() + 8, 0x314c415749414450ull);  // "PDAIWAL1"
  EncodeFixed64(seg.data() + 16, 1);                      // sequence
  EncodeFixed64(seg.data() + 24, 1);                      // first LSN
  EncodeFixed32(seg.data(), crc32c::Value(seg.data() + 4, 28));
  std::uint64_t pos = kSegmentHeader;
  for (std::uint64_t lsn = 1; lsn <= 5; ++lsn) {
    const std::string p = Payload(lsn);
    char* h = seg.data() + pos;
    EncodeFixed32(h + 4, crc32c::Value(p));
    EncodeFixed32(h + 8, static_cast<std::uint32_t>(p.size()));
    h[12] = 1;
    EncodeFixed64(h + 16, lsn);
    EncodeFixed64(h + 24, lsn - 1);
    EncodeFixed32(h, crc32c::Value(h + 4, 28));
    std::memcpy(h + 32, p.data(), p.size());
    pos += Framed(p.size());
  }
  TempDir dir("wal-v1");
  WriteFile(SegmentFile(dir.path()), seg);
  {
    Replayed r;
    auto wal = Wal::Open(SmallOptions(dir.path()), 0, r.fn());
    INFO(wal.status().ToString());
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() == 5);
    CHECK(r.payloads.back() == Payload(5));
    auto lsn = (*wal)->Append(1, "in format 2");
    REQUIRE(lsn.ok());
    CHECK(*lsn == 6);
  }
  CHECK(ReadFile(SegmentFile(dir.path())) == seg);  // never written in another format
  Replayed r;
  REQUIRE(Wal::Open(SmallOptions(dir.path()), 0, r.fn()).ok());
  REQUIRE(r.lsns.size() == 6);
  CHECK(r.payloads.back() == "in format 2");
}

TEST_CASE("when a failed write cannot be abandoned the log closes: kClosed until it can, then it goes on",
          "[wal][faults]") {
  for (Crash crash : {Crash::kProcess, Crash::kPowerDrop}) {
    INFO(CrashName(crash) << " while the log is closed");
    TempDir dir("wal-closed");
    FaultInjectionFileSystem fs;
    fs.set_strict_directories(true);
    const auto options = SmallOptions(dir.path(), &fs);
    {
      auto wal = Wal::Open(options, 0, nullptr);
      REQUIRE(wal.ok());
      for (int i = 1; i <= 5; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
      // Every sync fails: the write's, and the new segment's that would abandon it.
      fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError));
      auto in_doubt = (*wal)->Append(1, "in doubt");
      REQUIRE_FALSE(in_doubt.ok());
      CHECK(in_doubt.status().code() == StatusCode::kClosed);
      CHECK_THAT(in_doubt.status().message(), Catch::Contains("unknown"));
      CHECK((*wal)->stats().closed);
      // Closed: nothing is written until the failed write is abandoned.
      const std::uint64_t writes = fs.CallCount(FaultOp::kWrite);
      auto refused = (*wal)->Append(1, "refused");
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.status().code() == StatusCode::kClosed);
      CHECK_THAT(refused.status().message(), Catch::Contains("not logged"));
      if (crash == Crash::kPowerDrop) {
        // The disk recovers: the next write abandons the write in doubt first.
        fs.ClearFaults();
        auto lsn = (*wal)->Append(1, Payload(6));
        REQUIRE(lsn.ok());
        CHECK(*lsn == 6);
        CHECK_FALSE((*wal)->stats().closed);
      } else {
        CHECK(fs.CallCount(FaultOp::kWrite) - writes < 3);  // at most the new segment's zeros, never a record
      }
    }
    fs.ClearFaults();
    if (crash == Crash::kPowerDrop) REQUIRE(fs.DropUnsyncedData().ok());
    Replayed r;
    auto wal = Wal::Open(options, 0, r.fn());
    REQUIRE(wal.ok());
    REQUIRE(r.lsns.size() >= 5);
    for (int i = 1; i <= 5; ++i) CHECK(r.payloads[i - 1] == Payload(i));
    CHECK(std::find(r.payloads.begin(), r.payloads.end(), "refused") == r.payloads.end());
    if (crash == Crash::kProcess) {
      // The process died while the log was closed: the write in doubt reached
      // the file and was never abandoned, so it is there -- which its caller
      // was told could happen.
      REQUIRE(r.lsns.size() == 6);
      CHECK(r.payloads[5] == "in doubt");
    } else {
      REQUIRE(r.lsns.size() == 6);
      CHECK(r.payloads[5] == Payload(6));
    }
  }
}

TEST_CASE("a segment holding abandoned records is archived only with the segment that abandoned them", "[wal][faults]") {
  TempDir dir("wal-release");
  FaultInjectionFileSystem fs;
  const auto options = SmallOptions(dir / "wal", &fs);  // its archive goes beside it, in dir
  std::map<std::uint64_t, std::string> acknowledged;
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  auto append = [&](const std::string& p) {
    auto lsn = (*wal)->Append(1, p);
    REQUIRE(lsn.ok());
    acknowledged[*lsn] = p;
  };
  for (int i = 1; i <= 20; ++i) append(Payload(i));
  fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError, 0, 1));
  REQUIRE_FALSE((*wal)->Append(1, "failed").ok());  // segment 1 keeps its bytes, segment 2 abandons them
  for (int i = 21; (*wal)->stats().segments < 4; ++i) append(Payload(i));
  REQUIRE((*wal)->stats().abandoned_segments == 1);
  // Everything but the active segment 4 is checkpointed: segments 1 and 2 go
  // together (and 3 after them).
  const std::uint64_t checkpoint = (*wal)->durable_lsn() - 1;
  SECTION("released together") {
    REQUIRE((*wal)->ReleaseThrough(checkpoint).ok());
    CHECK((*wal)->stats().segments == 1);
  }
  SECTION("not while the abandoning segment is needed") {
    // A checkpoint that covers segment 1's records but not segment 2's keeps both.
    REQUIRE((*wal)->ReleaseThrough(25).ok());
    CHECK((*wal)->stats().segments == 4);
    CHECK_FALSE(std::filesystem::exists(options.dir + "-archive/wal-000000000001.log"));
    REQUIRE((*wal)->ReleaseThrough(checkpoint).ok());
  }
  wal->reset();
  // The archive, read on its own, holds exactly what was acknowledged before
  // the live log; the failed write is not in it.
  TempDir archive("wal-release-archive");
  CopyDir(options.dir + "-archive", archive.path());
  Replayed archived;
  WalRecoveryReport report;
  REQUIRE(Wal::Open(SmallOptions(archive.path()), 0, archived.fn(), &report).ok());
  CHECK(report.abandoned_segments == 1);
  REQUIRE_FALSE(archived.lsns.empty());
  for (std::size_t i = 0; i < archived.lsns.size(); ++i) {
    REQUIRE(archived.lsns[i] == i + 1);
    REQUIRE(archived.payloads[i] == acknowledged.at(i + 1));
  }
  Replayed live;
  REQUIRE(Wal::Open(options, archived.lsns.back(), live.fn()).ok());
  REQUIRE(live.lsns.front() == archived.lsns.back() + 1);
  REQUIRE(live.lsns.back() == acknowledged.rbegin()->first);
}

TEST_CASE("buffered appends return before any sync, a sync or a durable append makes them durable", "[wal]") {
  TempDir dir("wal-buffered");
  FaultInjectionFileSystem fs;
  auto options = SmallOptions(dir.path(), &fs);
  auto opened = Wal::Open(options, 0, nullptr);
  REQUIRE(opened.ok());
  auto& wal = *opened;
  const auto syncs_before = wal->stats().syncs;
  for (std::uint64_t i = 1; i <= 5; ++i) {
    auto lsn = wal->AppendBatch({WalEntry{1, Payload(i)}}, WalWait::kBuffered);
    REQUIRE(lsn.ok());
    CHECK(*lsn == i);
  }
  CHECK(wal->stats().syncs == syncs_before);  // nobody synced
  CHECK(wal->stats().buffered_records == 5);
  CHECK(wal->durable_lsn() == 0);
  REQUIRE(wal->Sync().ok());
  CHECK(wal->durable_lsn() == 5);
  CHECK(wal->stats().buffered_records == 0);
  CHECK(wal->Sync().ok());  // nothing to do
  // Buffered, then one durable append: that sync covers the buffered ones.
  REQUIRE(wal->AppendBatch({WalEntry{1, Payload(6)}}, WalWait::kBuffered).ok());
  REQUIRE(wal->Append(1, Payload(7)).ok());
  CHECK(wal->durable_lsn() == 7);
  // A power cut loses the buffered records not yet synced, and only them
  // (here even the closing sync fails).
  REQUIRE(wal->AppendBatch({WalEntry{1, Payload(8)}}, WalWait::kBuffered).ok());
  fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError));
  wal.reset();
  fs.ClearFaults();
  REQUIRE(fs.DropUnsyncedData().ok());
  Replayed r;
  REQUIRE(Wal::Open(options, 0, r.fn()).ok());
  CHECK(r.lsns == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("closing the log syncs buffered records, and a failed sync counts the buffered ones it lost", "[wal]") {
  TempDir dir("wal-buffered-close");
  FaultInjectionFileSystem fs;
  auto options = SmallOptions(dir.path(), &fs);
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= 3; ++i) REQUIRE((*wal)->AppendBatch({WalEntry{1, Payload(i)}}, WalWait::kBuffered).ok());
  }
  REQUIRE(fs.DropUnsyncedData().ok());  // the close synced them: a power cut now loses nothing
  Replayed r;
  auto wal = Wal::Open(options, 0, r.fn());
  REQUIRE(wal.ok());
  CHECK(r.lsns == std::vector<std::uint64_t>{1, 2, 3});

  REQUIRE((*wal)->AppendBatch({WalEntry{1, Payload(4)}, WalEntry{1, Payload(5)}}, WalWait::kBuffered).ok());
  fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError, 0, 1));
  Status s = (*wal)->Sync();
  CHECK(s.code() == StatusCode::kIoError);
  CHECK((*wal)->stats().lost_buffered_records == 2);
  CHECK((*wal)->durable_lsn() == 3);
  auto next = (*wal)->Append(1, Payload(6));  // the log goes on in a new segment
  REQUIRE(next.ok());
  CHECK(*next == 4);  // the lost records' LSNs are handed out again
  wal->reset();
  Replayed again;
  REQUIRE(Wal::Open(options, 0, again.fn()).ok());
  CHECK(again.lsns == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(again.payloads.back() == Payload(6));
}

TEST_CASE("a log names its store: another store's segments are refused, its own open", "[wal][identity]") {
  TempDir dir("wal-identity");
  auto options = SmallOptions(dir.path());
  options.store_id = 0x1111;
  options.epoch = 1;
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= 10; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
  }
  auto header = ReadWalSegmentHeader(FileSystem::Default(), dir.path() + "/" + WalSegmentName(1));
  REQUIRE(header.ok());
  CHECK(header->store_id == 0x1111);
  CHECK(header->epoch == 1);
  CHECK(header->first_lsn == 1);

  auto other = options;
  other.store_id = 0x2222;
  auto refused = Wal::Open(other, 0, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.status().ToString(), Catch::Contains("0000000000001111") && Catch::Contains("another node"));

  // A later epoch of the same store (after a restore or a promotion) reads it.
  auto later = options;
  later.epoch = 2;
  Replayed replayed;
  REQUIRE(Wal::Open(later, 0, replayed.fn()).ok());
  CHECK(replayed.lsns.size() == 10);
}

TEST_CASE("a second Wal on one directory is refused while the first is open", "[wal][identity]") {
  TempDir dir("wal-lock");
  auto options = SmallOptions(dir.path());
  auto first = Wal::Open(options, 0, nullptr);
  REQUIRE(first.ok());
  auto second = Wal::Open(options, 0, nullptr);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::kBusy);
  CHECK_THAT(second.status().ToString(), Catch::Contains("in use by another process"));
  first->reset();
  CHECK(Wal::Open(options, 0, nullptr).ok());
}

TEST_CASE("a log that does not continue the checkpoint is refused, naming the missing LSNs", "[wal][identity]") {
  TempDir dir("wal-gap");
  auto options = SmallOptions(dir.path());
  options.archive = false;  // released segments are deleted: nothing left beside the TempDir
  const int n = 1000;  // several segments
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 1; i <= n; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
    REQUIRE((*wal)->ReleaseThrough(700).ok());
  }
  WalRecoveryReport probe;
  {
    auto wal = Wal::Open(options, 700, nullptr, &probe);
    REQUIRE(wal.ok());
  }
  REQUIRE(probe.first_lsn > 1);
  // A store restored from before the released segments: its checkpoint is
  // older than the log's first record.
  const std::uint64_t old_checkpoint = probe.first_lsn - 2;
  auto refused = Wal::Open(options, old_checkpoint, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kCorruption);
  CHECK_THAT(refused.status().ToString(),
             Catch::Contains("LSNs " + std::to_string(old_checkpoint + 1) + " to " +
                             std::to_string(probe.first_lsn - 1) + " are missing"));
  // Exactly continuing it is fine.
  CHECK(Wal::Open(options, probe.first_lsn - 1, nullptr).ok());
}

TEST_CASE("durable records reach on_durable in order, and the file reader reads them from live and archived segments",
          "[wal][replication]") {
  TempDir dir("wal-reader");
  auto options = SmallOptions(dir.path());
  options.archive_dir = dir.path() + "/archive";
  options.store_id = 7;
  options.epoch = 3;
  std::vector<std::pair<std::uint64_t, std::string>> told;
  options.on_durable = [&](const std::vector<WalRecord>& records) {
    for (const auto& r : records) told.emplace_back(r.lsn, std::string(r.payload));
  };
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  const int n = 1000;  // several segments
  for (int i = 1; i <= n - 10; ++i) REQUIRE((*wal)->Append(1, Payload(i)).ok());
  // Buffered ones are told of once a sync covers them.
  for (int i = n - 9; i <= n; ++i) {
    REQUIRE((*wal)->AppendBatch({WalEntry{1, Payload(i)}}, WalWait::kBuffered).ok());
  }
  CHECK(told.size() == static_cast<std::size_t>(n - 10));
  REQUIRE((*wal)->Sync().ok());
  REQUIRE(told.size() == static_cast<std::size_t>(n));
  for (int i = 1; i <= n; ++i) {
    CHECK(told[static_cast<std::size_t>(i - 1)].first == static_cast<std::uint64_t>(i));
    CHECK(told[static_cast<std::size_t>(i - 1)].second == Payload(i));
  }
  REQUIRE((*wal)->ReleaseThrough(600).ok());  // archived
  REQUIRE(std::filesystem::exists(options.archive_dir));

  WalFileReader reader(FileSystem::Default(), options.dir, options.archive_dir, 3);
  std::vector<std::uint64_t> lsns;
  auto collect = [&](const WalRecord& r) {
    CHECK(std::string(r.payload) == Payload(r.lsn));
    lsns.push_back(r.lsn);
    return Status::Ok();
  };
  auto next = reader.Read(1, n, std::uint64_t{1} << 30, collect);
  REQUIRE(next.ok());
  CHECK(*next == static_cast<std::uint64_t>(n + 1));
  REQUIRE(lsns.size() == static_cast<std::size_t>(n));
  for (int i = 1; i <= n; ++i) CHECK(lsns[static_cast<std::size_t>(i - 1)] == static_cast<std::uint64_t>(i));
  // A window: from an LSN, through a bound, about so many bytes (at least one record).
  lsns.clear();
  next = reader.Read(500, 700, 2000, collect);
  REQUIRE(next.ok());
  CHECK(lsns.front() == 500);
  CHECK(lsns.size() < 20);
  CHECK(*next == lsns.back() + 1);
  lsns.clear();
  REQUIRE(reader.Read(650, 660, 1, collect).ok());
  CHECK(lsns == std::vector<std::uint64_t>{650});
  // Another epoch's archive is not this log's history.
  WalFileReader other_epoch(FileSystem::Default(), options.dir, options.archive_dir, 2);
  auto missing = other_epoch.Read(1, n, 1 << 20, collect);
  CHECK(missing.status().IsNotFound());
  // Pruned from the archive: not found, naming what is left.
  std::filesystem::remove_all(options.archive_dir);
  missing = reader.Read(1, n, 1 << 20, collect);
  REQUIRE(missing.status().IsNotFound());
  CHECK_THAT(missing.status().message(), Catch::Contains("LSN 1 is no longer") && Catch::Contains("the oldest there is"));
}

TEST_CASE("a new log takes another store's id but one holding records does not", "[wal][replication]") {
  TempDir dir("wal-adopt");
  auto options = SmallOptions(dir.path());
  options.store_id = 0x1111;
  options.epoch = 1;
  {
    auto wal = Wal::Open(options, 0, nullptr);
    REQUIRE(wal.ok());
    REQUIRE((*wal)->AdoptStore(0x2222, 4).ok());
    REQUIRE((*wal)->Append(1, Payload(1)).ok());
    CHECK((*wal)->AdoptStore(0x3333, 1).code() == StatusCode::kInvalidArgument);
  }
  options.store_id = 0x2222;
  Replayed replayed;
  REQUIRE(Wal::Open(options, 0, replayed.fn()).ok());
  CHECK(replayed.lsns == std::vector<std::uint64_t>{1});
  options.store_id = 0x1111;
  CHECK(Wal::Open(options, 0, nullptr).status().code() == StatusCode::kInvalidArgument);
}
