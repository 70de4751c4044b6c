// CRC32C (Castagnoli), hardware-accelerated with SSE4.2. Used to frame WAL
// records and to check values; a record is never trusted unless it matches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace postdevai::storage::crc32c {

// Extends `crc` (the CRC32C of some prefix) over data[0, n). Three
// interleaved SSE4.2 streams, recombined by carry-less shift tables.
std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t n);

// A bytewise table implementation, for testing Extend against.
std::uint32_t ExtendReference(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t Value(const void* data, std::size_t n) { return Extend(0, data, n); }
inline std::uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

}  // namespace postdevai::storage::crc32c
