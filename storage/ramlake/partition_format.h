// The on-file layout of a RAM-Lake partition. Internal to storage/ramlake.
//
//   file     = header page (4 KiB: FileHeader at 0, watermark slots at 512)
//              + segment_count segments
//   segment  = SegmentHeader (32 bytes) + records, appended; the tail is unused
//   record   = RecordHeader (32 bytes) + key + value + zero padding to 8 bytes
//
// All integers are little-endian (x86 only: the checksum needs SSE4.2).
//
// Why segments: space is allocated by appending records to the open ("head")
// segment; overwritten and evicted records leave dead bytes behind, and a
// cleaner copies the live records out of the emptiest segment and reuses it
// whole. Free space therefore never fragments: any record up to
// max_record_bytes fits whenever the accounted live bytes are under the limit.
//
// Why a sequence number in every record: a reused segment still holds records
// of its previous life beyond the new write position. Each use of a segment
// gets a fresh sequence number, written in its header and in every record
// appended during that use, so a scan after a crash stops trusting bytes at
// the first record that does not carry the current number.
//
// Why the state byte is outside the checksum: eviction marks a record dead with
// one single-byte store, which a kill -9 cannot tear.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace postdevai::storage::ramlake::format {

static_assert(std::endian::native == std::endian::little, "the RAM-Lake file format is little-endian");

inline constexpr std::uint64_t kFileMagic = 0x314B414C4D415244ull;  // "DRAMLAK1"
inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::uint64_t kFileHeaderBytes = 4096;  // data starts page-aligned

// Reserved bytes are written as zero and ignored on read (they are inside the
// checksum like the rest). Files of earlier builds of version 1 may hold
// non-zero bytes there (bytes 20..24 and 56..80 once held snapshot fields) and
// still re-attach.
struct FileHeader {
  std::uint64_t magic;
  std::uint32_t format_version;
  std::uint32_t header_crc;         // CRC32C of this struct with header_crc = 0
  std::uint8_t kind;                // PartitionKind
  std::uint8_t reserved0[7];
  std::uint64_t capacity_bytes;     // the file's size, header included
  std::uint32_t segment_bytes;
  std::uint32_t segment_count;
  std::uint64_t generation;         // new on every rebuild of the file
  std::uint64_t created_wall_micros;
  std::uint8_t reserved1[72];
};
static_assert(sizeof(FileHeader) == 128);
static_assert(offsetof(FileHeader, capacity_bytes) == 24 && offsetof(FileHeader, reserved1) == 56,
              "the layout of format version 1");

// The watermark (see ramlake_partition.h, "Warm restart"): the highest LSN
// the partition has applied, with the identity of the store it was applied
// against. It lives in the header page, outside FileHeader and its checksum,
// because it changes with every applied write and must be updated without
// rewriting the header. Two slots, written alternately, each with its own
// sequence and check: a kill -9 while one slot is being written leaves it
// failing its check, and the other slot (the previous value, still true) is
// read instead. The slot with the higher sequence whose check holds wins.
// Files of earlier builds of version 1 hold zeros here: no valid slot, so no
// watermark (their records are proven key by key).
inline constexpr std::uint64_t kWatermarkOffset = 512;
inline constexpr std::uint32_t kWatermarkSlots = 2;

struct WatermarkSlot {
  std::uint64_t lsn;             // every write up to here has been applied
  std::uint64_t store_identity;  // of the store those writes went to (0: unknown)
  std::uint64_t sequence;        // increases with every slot written
  std::uint32_t check;           // WatermarkChecksum
  std::uint32_t reserved;
};
static_assert(sizeof(WatermarkSlot) == 32);
static_assert(kWatermarkOffset >= sizeof(FileHeader) &&
              kWatermarkOffset + kWatermarkSlots * sizeof(WatermarkSlot) <= kFileHeaderBytes);

// CRC32C of the slot's first 24 bytes, salted with the file's generation so
// that a slot never counts in another life of the file.
std::uint32_t WatermarkChecksum(const WatermarkSlot& slot, std::uint64_t generation);

inline constexpr std::uint32_t kSegmentMagic = 0x47534C52;  // "RLSG"
inline constexpr std::uint32_t kSegmentHeaderBytes = 32;

struct SegmentHeader {
  std::uint32_t magic;
  std::uint32_t crc;          // CRC32C of bytes [8, 32)
  std::uint64_t sequence;     // this use of the segment; increases across the file
  std::uint64_t generation;   // FileHeader::generation of the file it was written in
  std::uint32_t index;        // position in the file
  std::uint8_t kind;
  std::uint8_t reserved[3];
};
static_assert(sizeof(SegmentHeader) == kSegmentHeaderBytes);

inline constexpr std::uint32_t kRecordMagic = 0x31524C52;  // "RLR1"
inline constexpr std::uint8_t kRecordLive = 0x4C;          // 'L'
inline constexpr std::uint8_t kRecordDead = 0x44;          // 'D'
inline constexpr std::uint32_t kRecordHeaderBytes = 32;
inline constexpr std::uint32_t kMaxKeyBytes = 0xFFFF;

struct RecordHeader {
  std::uint32_t magic;
  std::uint8_t state;         // kRecordLive / kRecordDead; not checksummed
  std::uint8_t kind;
  std::uint16_t key_size;
  std::uint32_t value_size;
  std::uint32_t crc;          // CRC32C of bytes [5, 12) ++ [16, 32 + key + value)
  std::uint64_t lsn;
  std::uint64_t sequence;     // SegmentHeader::sequence of the segment's use
};
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);

// Bytes a record occupies in its segment: header + key + value, 8-aligned.
constexpr std::uint64_t RecordFootprint(std::uint64_t key_size, std::uint64_t value_size) {
  return (kRecordHeaderBytes + key_size + value_size + 7) & ~std::uint64_t{7};
}

std::uint32_t FileHeaderChecksum(const FileHeader& header);
std::uint32_t SegmentHeaderChecksum(const SegmentHeader& header);
// The checksum a record at `record` (header followed by key and value) must carry.
std::uint32_t RecordChecksum(const char* record);

// Writes a complete record (header, key, value, padding, checksum) at `dst`,
// which must have RecordFootprint(key.size(), value.size()) bytes.
void WriteRecord(char* dst, std::uint8_t kind, std::string_view key, std::string_view value,
                 std::uint64_t lsn, std::uint64_t sequence);
// Gives a copied record a new segment sequence and recomputes its checksum.
void ResequenceRecord(char* record, std::uint64_t sequence);

inline const RecordHeader* HeaderAt(const char* record) {
  return reinterpret_cast<const RecordHeader*>(record);
}
inline std::string_view RecordKey(const char* record) {
  return {record + kRecordHeaderBytes, HeaderAt(record)->key_size};
}
inline std::string_view RecordValue(const char* record) {
  const RecordHeader* h = HeaderAt(record);
  return {record + kRecordHeaderBytes + h->key_size, h->value_size};
}

// What a segment scan found at one offset.
enum class ScanVerdict : std::uint8_t {
  kLive,     // well-formed, checksum holds, state live
  kDead,     // well-formed, checksum holds, marked dead by eviction or erase
  kCorrupt,  // looked like a record of this use of the segment but fails its
             // checksum or carries an unknown state (torn by a crash, or bit rot)
};

// Walks the records of one segment use: starts after the segment header and
// follows record lengths; where a record is corrupt or the bytes are not a
// record header of `sequence`, it steps 8 bytes at a time looking for the next
// record of this use (so one corrupt record costs only itself). Calls
// visit(offset_in_segment, verdict) for each record found; returns the end of
// the last well-formed record (where appending would continue).
template <class Visit>
std::uint32_t ScanSegment(const char* segment, std::uint32_t segment_bytes, std::uint64_t sequence,
                          std::uint8_t kind, std::uint32_t max_record_bytes, Visit&& visit) {
  std::uint32_t offset = kSegmentHeaderBytes;
  std::uint32_t end_of_valid = kSegmentHeaderBytes;
  while (offset + kRecordHeaderBytes <= segment_bytes) {
    const char* p = segment + offset;
    RecordHeader h;
    std::memcpy(&h, p, sizeof h);
    std::uint64_t footprint = RecordFootprint(h.key_size, h.value_size);
    bool plausible = h.magic == kRecordMagic && h.sequence == sequence && h.kind == kind &&
                     footprint <= max_record_bytes && offset + footprint <= segment_bytes;
    if (!plausible) {
      offset += 8;
      continue;
    }
    if (RecordChecksum(p) != h.crc || (h.state != kRecordLive && h.state != kRecordDead)) {
      visit(offset, ScanVerdict::kCorrupt);
      offset += 8;
      continue;
    }
    visit(offset, h.state == kRecordLive ? ScanVerdict::kLive : ScanVerdict::kDead);
    offset += static_cast<std::uint32_t>(footprint);
    end_of_valid = offset;
  }
  return end_of_valid;
}

}  // namespace postdevai::storage::ramlake::format
