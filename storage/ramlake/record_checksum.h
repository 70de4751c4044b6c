// Record checksums of the RAM-Lake files: CRC32C, the same function the WAL
// uses (storage/crc32c.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/crc32c.h"

namespace postdevai::storage::ramlake {

inline std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t n) {
  return crc32c::Extend(crc, data, n);
}
inline std::uint32_t Crc32c(const void* data, std::size_t n) { return crc32c::Extend(0, data, n); }
inline std::uint32_t Crc32cReference(std::uint32_t crc, const void* data, std::size_t n) {
  return crc32c::ExtendReference(crc, data, n);
}

}  // namespace postdevai::storage::ramlake
