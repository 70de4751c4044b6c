// Fuzz target: a RAM-Lake partition file re-attached by RamLakePartition::Open
// (storage/ramlake/ramlake_partition.h) from arbitrary bytes: a real file in
// a scratch directory, really memory-mapped.
//
// Input: a flags byte, the checkpoint and end LSNs of the watermark proof
// (u64 little-endian each), then the file. The file is cut or zero-padded to
// the partition's capacity (a 4 KiB header page and 4 segments of 16 KiB):
// a file of another size is rebuilt before a byte of it is read, so only
// this size reaches the re-attach. Flags:
//   bit 0    repair the checksums first (file header, watermark slots,
//            segment headers, and every record the framing reaches), so
//            mutations get past the CRCs to the logic behind them;
//   bit 1    prove records by the watermark (a WatermarkProof with the
//            checkpoint and end above) instead of key by key;
//   bits 2-3 the partition kind; bits 4-5 the eviction policy;
//   bit 6    a max_entries of 16 (re-attach then drops what is over it);
//   bit 7    the store lacks every third key the file holds.
// The store the proofs ask (store_lsn) holds, for every key of a live record
// in the file, the highest LSN found for it: the newest write.
//
// Checked beyond "no crash, no out-of-bounds access":
//   * Open never fails on a bad file (it rebuilds), and Verify() holds after it;
//   * what was kept is what the store holds (key by key, or when the spot
//     checks covered every entry);
//   * the report counts what is resident;
//   * after a Put and an Erase (a delete: the store loses the key too) and a
//     clean close, a re-attach keeps the Put and still only what the store holds.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/fuzz_harness.h"
#include "storage/file_system.h"
#include "storage/ramlake/partition_format.h"
#include "storage/ramlake/ramlake_partition.h"

namespace {

using postdevai::fuzz::Fail;
using postdevai::fuzz::InputReader;
using postdevai::fuzz::ScratchDir;
namespace ramlake = postdevai::storage::ramlake;
namespace format = postdevai::storage::ramlake::format;

constexpr std::uint32_t kSegmentBytes = 16 << 10;
constexpr std::uint32_t kSegments = 4;
constexpr std::uint64_t kCapacity = format::kFileHeaderBytes + std::uint64_t{kSegments} * kSegmentBytes;
constexpr std::uint32_t kMaxRecordBytes = (kSegmentBytes / 16) & ~7u;  // as RamLakePartition::Open derives it
constexpr std::uint64_t kStoreIdentity = 0x5EED;
constexpr std::uint32_t kSpotChecks = 256;

char* SegmentAt(std::string& file, std::uint32_t index) {
  return file.data() + format::kFileHeaderBytes + std::uint64_t{index} * kSegmentBytes;
}

template <class T>
T Load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <class T>
void Store(char* p, const T& value) {
  std::memcpy(p, &value, sizeof value);
}

void RepairChecksums(std::string& file) {
  auto header = Load<format::FileHeader>(file.data());
  header.header_crc = format::FileHeaderChecksum(header);
  Store(file.data(), header);
  for (std::uint32_t i = 0; i < format::kWatermarkSlots; ++i) {
    char* at = file.data() + format::kWatermarkOffset + i * sizeof(format::WatermarkSlot);
    auto slot = Load<format::WatermarkSlot>(at);
    slot.check = format::WatermarkChecksum(slot, header.generation);
    Store(at, slot);
  }
  for (std::uint32_t i = 0; i < kSegments; ++i) {
    char* segment = SegmentAt(file, i);
    auto segment_header = Load<format::SegmentHeader>(segment);
    segment_header.crc = format::SegmentHeaderChecksum(segment_header);
    Store(segment, segment_header);
    // Where ScanSegment would look for records, records get their checksum.
    for (std::uint32_t offset = format::kSegmentHeaderBytes; offset + format::kRecordHeaderBytes <= kSegmentBytes;) {
      char* record = segment + offset;
      auto h = Load<format::RecordHeader>(record);
      const std::uint64_t footprint = format::RecordFootprint(h.key_size, h.value_size);
      if (h.magic != format::kRecordMagic || footprint > kMaxRecordBytes || offset + footprint > kSegmentBytes) {
        offset += 8;
        continue;
      }
      h.crc = format::RecordChecksum(record);
      Store(record, h);
      offset += static_cast<std::uint32_t>(footprint);
    }
  }
}

// The store behind the partition: for every key of a live record in a
// segment the file's header vouches for, the highest LSN found.
std::map<std::string, std::uint64_t, std::less<>> StoreFor(std::string& file, std::uint8_t kind, bool forget_some) {
  std::map<std::string, std::uint64_t, std::less<>> store;
  const auto header = Load<format::FileHeader>(file.data());
  for (std::uint32_t i = 0; i < kSegments; ++i) {
    const char* segment = SegmentAt(file, i);
    const auto sh = Load<format::SegmentHeader>(segment);
    if (sh.magic != format::kSegmentMagic || sh.generation != header.generation || sh.index != i) continue;
    format::ScanSegment(segment, kSegmentBytes, sh.sequence, kind, kMaxRecordBytes,
                        [&](std::uint32_t offset, format::ScanVerdict verdict) {
                          if (verdict != format::ScanVerdict::kLive) return;
                          const char* record = segment + offset;
                          std::uint64_t& lsn = store[std::string(format::RecordKey(record))];
                          lsn = std::max(lsn, format::HeaderAt(record)->lsn);
                        });
  }
  if (forget_some) {
    std::size_t n = 0;
    std::erase_if(store, [&n](const auto&) { return n++ % 3 == 0; });
  }
  return store;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Describe(const ramlake::OpenReport& report) { return report.ToString(); }

// A record may be kept only if the store holds exactly its LSN for its key.
void CheckKeptIsStored(const ramlake::RamLakePartition& partition, const ramlake::OpenHooks& hooks,
                       const ramlake::OpenReport& report) {
  partition.ForEach([&](std::string_view key, std::string_view, std::uint64_t lsn) {
    if (hooks.store_lsn(key) != lsn) {
      Fail("re-attach kept a record whose LSN is not what the store holds: " + Describe(report));
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ScratchDir scratch("ramlake");
  InputReader input(data, size);
  const auto flags = input.Fixed<std::uint8_t>();
  const auto checkpoint_lsn = input.Fixed<std::uint64_t>();
  const auto end_lsn = input.Fixed<std::uint64_t>();
  std::string file(input.Rest());
  file.resize(kCapacity, '\0');
  if (flags & 1) RepairChecksums(file);

  ramlake::PartitionOptions options;
  options.file_path = scratch / "partition.ramlake";
  options.kind = static_cast<ramlake::PartitionKind>((flags >> 2) & 3);
  options.capacity_bytes = kCapacity;
  options.segment_bytes = kSegmentBytes;
  options.eviction = static_cast<ramlake::EvictionPolicy>(((flags >> 4) & 3) % 3);
  options.max_entries = (flags & 0x40) ? 16 : 0;
  auto store = StoreFor(file, static_cast<std::uint8_t>(options.kind), flags & 0x80);
  WriteFile(options.file_path, file);

  ramlake::ChangedKeys changed;  // what the WAL replay wrote after the checkpoint: the store's newer keys
  for (const auto& [key, lsn] : store) {
    if (lsn > checkpoint_lsn && lsn <= end_lsn) changed.Note(key, lsn, /*erased=*/false);
  }
  const ramlake::WatermarkProof proof{checkpoint_lsn, end_lsn, &changed};
  ramlake::OpenHooks hooks;
  hooks.store_lsn = [&store](std::string_view key) -> std::optional<std::uint64_t> {
    auto it = store.find(key);
    if (it == store.end()) return std::nullopt;
    return it->second;
  };
  hooks.watermark = (flags & 2) ? &proof : nullptr;
  hooks.store_identity = kStoreIdentity;
  hooks.spot_checks = kSpotChecks;

  auto* fs = postdevai::storage::FileSystem::Default();
  ramlake::OpenReport report;
  auto opened = ramlake::RamLakePartition::Open(fs, options, hooks, &report);
  if (!opened.ok()) Fail("Open failed on a file it should have rebuilt: " + opened.status().ToString());
  auto& partition = *opened;
  if (auto verified = partition->Verify(); !verified.ok()) {
    Fail("Verify after re-attach: " + verified.ToString() + " (" + Describe(report) + ")");
  }
  const auto stats = partition->Stats();
  if (report.outcome == ramlake::OpenReport::Outcome::kReattached && report.records_kept != stats.entries) {
    Fail("the open report's records_kept is not the number of entries: " + Describe(report));
  }
  const bool every_entry_proven =
      report.proof == ramlake::OpenReport::Proof::kKeyByKey || stats.entries <= kSpotChecks;
  if (every_entry_proven) CheckKeptIsStored(*partition, hooks, report);
  std::string erase_key;
  partition->ForEach([&](std::string_view key, std::string_view, std::uint64_t) {
    if (erase_key.empty()) erase_key = key;
  });

  // A write and an erase after the re-attach, then a clean close: the next
  // re-attach (key by key against the store as it now is) must see both.
  std::uint64_t next_lsn = std::max<std::uint64_t>(end_lsn, partition->persisted_lsn()) + 1;
  for (const auto& [key, lsn] : store) next_lsn = std::max(next_lsn, lsn + 1);
  if (next_lsn == 0) next_lsn = 1;  // the end LSN was the largest there is
  const std::string new_key = "fuzz/written-after-reattach";
  const std::string new_value = "a value put after the re-attach";
  if (auto put = partition->Put(new_key, new_value, next_lsn); !put.ok()) {
    Fail("Put after re-attach: " + put.ToString() + " (" + Describe(report) + ")");
  }
  store[new_key] = next_lsn;
  if (!erase_key.empty()) {
    if (!partition->Erase(erase_key).ok()) Fail("Erase of a resident key failed");
    store.erase(erase_key);
  }
  partition->SetAppliedLsn(next_lsn);
  opened->reset();

  ramlake::OpenReport again_report;
  ramlake::OpenHooks key_by_key = hooks;
  key_by_key.watermark = nullptr;
  auto again = ramlake::RamLakePartition::Open(fs, options, key_by_key, &again_report);
  if (!again.ok()) Fail("re-open after a clean close failed: " + again.status().ToString());
  if (auto verified = (*again)->Verify(); !verified.ok()) Fail("Verify after re-open: " + verified.ToString());
  CheckKeptIsStored(**again, key_by_key, again_report);
  std::string value;
  if (!(*again)->Get(new_key, &value).ok() || value != new_value) {
    Fail("a Put before a clean close did not re-attach: " + Describe(again_report));
  }
  again->reset();
  scratch.Clear();
  return 0;
}
