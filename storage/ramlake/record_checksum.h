// CRC32C (Castagnoli) for RAM-Lake records, on the SSE4.2 crc32 instruction.
//
// Records are checksummed on every write, so this is on the hot path: buffers
// of 192 bytes or more are split into three interleaved streams (the crc32
// instruction has a latency of 3 cycles but a throughput of 1), recombined
// with precomputed "shift by N zero bytes" tables. About 3x a single stream.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace postdevai::storage::ramlake {

// Extends `crc` (the CRC32C of some prefix, 0 for none) over data[0, n).
std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t Crc32c(const void* data, std::size_t n) { return Crc32cExtend(0, data, n); }

// A plain bytewise software CRC32C: the reference the fast one is tested against.
std::uint32_t Crc32cReference(std::uint32_t crc, const void* data, std::size_t n);

}  // namespace postdevai::storage::ramlake
