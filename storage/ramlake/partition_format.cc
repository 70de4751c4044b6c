#include "storage/ramlake/partition_format.h"

#include <cstddef>

#include "storage/ramlake/record_checksum.h"

namespace postdevai::storage::ramlake::format {

std::uint32_t FileHeaderChecksum(const FileHeader& header) {
  FileHeader copy = header;
  copy.header_crc = 0;
  return Crc32c(&copy, sizeof copy);
}

std::uint32_t WatermarkChecksum(const WatermarkSlot& slot, std::uint64_t generation) {
  std::uint32_t crc = Crc32c(&generation, sizeof generation);
  return Crc32cExtend(crc, &slot, offsetof(WatermarkSlot, check));
}

std::uint32_t SegmentHeaderChecksum(const SegmentHeader& header) {
  const char* p = reinterpret_cast<const char*>(&header);
  return Crc32c(p + 8, sizeof header - 8);
}

std::uint32_t RecordChecksum(const char* record) {
  const RecordHeader* h = HeaderAt(record);
  // [5, 12): kind, key_size, value_size. The state byte (4) stays out so that
  // eviction can flip it in place; the crc field itself (12..16) too.
  std::uint32_t crc = Crc32c(record + 5, 7);
  return Crc32cExtend(crc, record + 16, 16 + std::size_t{h->key_size} + h->value_size);
}

void WriteRecord(char* dst, std::uint8_t kind, std::string_view key, std::string_view value,
                 std::uint64_t lsn, std::uint64_t sequence) {
  RecordHeader h{};
  h.magic = kRecordMagic;
  h.state = kRecordLive;
  h.kind = kind;
  h.key_size = static_cast<std::uint16_t>(key.size());
  h.value_size = static_cast<std::uint32_t>(value.size());
  h.lsn = lsn;
  h.sequence = sequence;
  std::memcpy(dst, &h, sizeof h);
  std::memcpy(dst + kRecordHeaderBytes, key.data(), key.size());
  std::memcpy(dst + kRecordHeaderBytes + key.size(), value.data(), value.size());
  std::size_t used = kRecordHeaderBytes + key.size() + value.size();
  std::size_t footprint = RecordFootprint(key.size(), value.size());
  if (footprint > used) std::memset(dst + used, 0, footprint - used);
  std::uint32_t crc = RecordChecksum(dst);
  std::memcpy(dst + offsetof(RecordHeader, crc), &crc, sizeof crc);
}

void ResequenceRecord(char* record, std::uint64_t sequence) {
  std::memcpy(record + offsetof(RecordHeader, sequence), &sequence, sizeof sequence);
  std::uint32_t crc = RecordChecksum(record);
  std::memcpy(record + offsetof(RecordHeader, crc), &crc, sizeof crc);
}

}  // namespace postdevai::storage::ramlake::format
