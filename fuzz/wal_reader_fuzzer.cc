// Fuzz target: the write-ahead log recovered from arbitrary segment files,
// through the real reader (storage/wal.h) on real files.
//
// Input: one flags byte, then segment files, each a u32 little-endian length
// and that many bytes (the last one takes the rest of the input). They are
// written as wal-000000000001.log, wal-000000000002.log, ... into an empty
// directory, and Wal::Open recovers the log from them. Flag bit 0 first
// repairs the checksums (the segment header's, and every record's the
// framing reaches), so that mutated lengths, LSNs and payloads get past the
// CRCs to the logic behind them.
//
// Checked beyond "no crash, no out-of-bounds read, no hang":
//   * replay hands out consecutive LSNs, and the report counts what it handed out;
//   * a mutation payload that decodes (DecodeMutations) encodes back to
//     mutations that decode the same;
//   * once Open has succeeded, the next Open replays exactly the same records
//     plus one appended in between: recovery neither loses an acknowledged
//     record nor invents one.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_harness.h"
#include "records/coding.h"
#include "storage/cold_tier.h"
#include "storage/crc32c.h"
#include "storage/wal.h"

namespace {

using postdevai::fuzz::Fail;
using postdevai::fuzz::InputReader;
using postdevai::fuzz::ScratchDir;
namespace storage = postdevai::storage;
namespace records = postdevai::records;

// The segment and record framing of storage/wal.h (format 2; format 1 has no
// salt and its header CRC covers bytes [4, 32)).
constexpr std::size_t kSegmentHeaderBytes = 4096;
constexpr std::size_t kRecordHeaderBytes = 32;
constexpr std::size_t kMaxSegments = 4;

void RepairChecksums(std::string* segment) {
  if (segment->size() < kSegmentHeaderBytes) return;
  char* h = segment->data();
  const bool salted = records::DecodeFixed32(h + 4) != 1;
  records::EncodeFixed32(h, storage::crc32c::Value(h + 4, salted ? 36 : 28));
  std::uint32_t seed = 0;
  if (salted) seed = storage::crc32c::Value(h + 32, 8);
  for (std::size_t pos = kSegmentHeaderBytes; pos + kRecordHeaderBytes <= segment->size();) {
    char* r = segment->data() + pos;
    const std::uint64_t length = records::DecodeFixed32(r + 8);
    const std::uint64_t framed = kRecordHeaderBytes + ((length + 7) & ~std::uint64_t{7});
    if (framed > segment->size() - pos) break;
    records::EncodeFixed32(r + 4, storage::crc32c::Value(r + kRecordHeaderBytes, length));
    records::EncodeFixed32(r, storage::crc32c::Extend(seed, r + 4, kRecordHeaderBytes - 4));
    pos += framed;
  }
}

struct Replayed {
  std::uint64_t lsn;
  std::uint8_t type;
  std::string payload;
  bool operator==(const Replayed&) const = default;
};

bool SameMutations(const std::vector<storage::Mutation>& a, const std::vector<storage::Mutation>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].key != b[i].key || a[i].value != b[i].value ||
        a[i].is_delete != b[i].is_delete || a[i].encoded != b[i].encoded) {
      return false;
    }
  }
  return true;
}

void CheckMutationPayload(std::string_view payload) {
  std::vector<storage::Mutation> decoded;
  if (!storage::DecodeMutations(payload, &decoded).ok()) return;
  const std::string again = storage::EncodeMutations(decoded);
  std::vector<storage::Mutation> redecoded;
  if (!storage::DecodeMutations(again, &redecoded).ok() || !SameMutations(decoded, redecoded)) {
    Fail("a WAL mutation payload does not survive decode, encode, decode");
  }
}

// Opens the log in dir and returns what it replayed, checking the replay's
// own promises; the Wal stays open in *wal.
postdevai::Result<std::vector<Replayed>> OpenAndReplay(const std::string& dir, std::unique_ptr<storage::Wal>* wal,
                                                     storage::WalRecoveryReport* report) {
  storage::WalOptions options;
  options.dir = dir;
  options.segment_size = 16 << 10;  // every Open starts a segment: keep the zero-filling small
  options.archive = false;
  options.prepare_segments_in_background = false;
  std::vector<Replayed> replayed;
  auto opened = storage::Wal::Open(
      options, /*replay_after=*/0,
      [&](const storage::WalRecord& r) {
        if (!replayed.empty() && r.lsn != replayed.back().lsn + 1) Fail("replay skipped or repeated an LSN");
        if (r.type == storage::kWalRecordMutations) CheckMutationPayload(r.payload);
        replayed.push_back(Replayed{r.lsn, r.type, std::string(r.payload)});
        return postdevai::Status::Ok();
      },
      report);
  if (!opened.ok()) return opened.status();
  if (report->replayed != replayed.size() || report->records != replayed.size()) {
    Fail("the recovery report does not count the records replayed");
  }
  if (!replayed.empty() && report->last_lsn != replayed.back().lsn) Fail("the recovery report's last LSN is not the last replayed");
  *wal = std::move(*opened);
  return replayed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ScratchDir scratch("wal");
  const std::string dir = scratch / "wal";
  InputReader input(data, size);
  const bool repair = input.Fixed<std::uint8_t>() & 1;
  std::filesystem::create_directories(dir);
  for (std::size_t seq = 1; seq <= kMaxSegments && !input.empty(); ++seq) {
    std::string segment(seq == kMaxSegments ? input.Rest() : input.LengthPrefixed());
    if (repair) RepairChecksums(&segment);
    char name[32];
    std::snprintf(name, sizeof name, "/wal-%012zu.log", seq);
    std::ofstream(dir + name, std::ios::binary).write(segment.data(), static_cast<std::streamsize>(segment.size()));
  }

  std::unique_ptr<storage::Wal> wal;
  storage::WalRecoveryReport report;
  auto first = OpenAndReplay(dir, &wal, &report);
  if (first.ok()) {
    const std::string appended_payload = "appended between two recoveries";
    auto appended = wal->Append(storage::kWalRecordMutations + 1, appended_payload);
    if (!appended.ok()) Fail("append after a successful recovery failed: " + appended.status().ToString());
    if (*appended != report.last_lsn + 1) Fail("the first append did not continue the recovered log's LSNs");
    wal.reset();

    std::vector<Replayed> expected = std::move(*first);
    expected.push_back(Replayed{*appended, storage::kWalRecordMutations + 1, appended_payload});
    storage::WalRecoveryReport second_report;
    auto second = OpenAndReplay(dir, &wal, &second_report);
    if (!second.ok()) Fail("a log that recovered once no longer does: " + second.status().ToString());
    if (*second != expected) Fail("the second recovery replayed other records than the first plus the append");
    wal.reset();
  }
  scratch.Clear();
  return 0;
}
