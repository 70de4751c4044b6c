#include "storage/crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>

namespace postdevai::storage::crc32c {
namespace {

constexpr std::uint32_t kPolynomial = 0x82f63b78;  // CRC32C, bit-reflected

// a * b modulo the CRC polynomial, in the reflected representation (after
// zlib's multmodp). Only used to build the tables.
std::uint32_t MultiplyModP(std::uint32_t a, std::uint32_t b) {
  std::uint32_t m = 1u << 31;
  std::uint32_t p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return p;
}

// x^(8n) modulo the polynomial: appending n zero bytes multiplies the CRC
// register by this.
std::uint32_t ZeroBytesOperator(std::size_t n) {
  std::uint32_t result = 1u << 31;  // x^0
  std::uint32_t power = 1u << 23;   // x^8
  while (n != 0) {
    if (n & 1) result = MultiplyModP(power, result);
    power = MultiplyModP(power, power);
    n >>= 1;
  }
  return result;
}

// Multiplication by a constant is linear over GF(2): four byte-indexed tables
// turn it into four loads.
struct ShiftTable {
  std::array<std::array<std::uint32_t, 256>, 4> t;
  explicit ShiftTable(std::size_t zero_bytes) {
    std::uint32_t op = ZeroBytesOperator(zero_bytes);
    for (int k = 0; k < 4; ++k) {
      for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = MultiplyModP(op, b << (8 * k));
    }
  }
  std::uint32_t Shift(std::uint32_t crc) const {
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
  }
};

constexpr std::size_t kLongStream = 4096;  // for large values (code files)
constexpr std::size_t kShortStream = 64;   // for typical 1 KiB records

const ShiftTable& LongShift() {
  static const ShiftTable table(kLongStream);
  return table;
}
const ShiftTable& ShortShift() {
  static const ShiftTable table(kShortStream);
  return table;
}

inline std::uint64_t Load64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Three streams of `stream` bytes each, for as long as the input lasts.
inline void ThreeWay(std::uint64_t* crc, const unsigned char** p, std::size_t* n, std::size_t stream,
                     const ShiftTable& shift) {
  while (*n >= 3 * stream) {
    std::uint64_t c0 = *crc, c1 = 0, c2 = 0;
    const unsigned char* a = *p;
    const unsigned char* end = a + stream;
    while (a < end) {
      c0 = _mm_crc32_u64(c0, Load64(a));
      c1 = _mm_crc32_u64(c1, Load64(a + stream));
      c2 = _mm_crc32_u64(c2, Load64(a + 2 * stream));
      a += 8;
    }
    // register(s, A||B) = shift(register(s, A), |B|) ^ register(0, B)
    std::uint32_t c = shift.Shift(static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
    c = shift.Shift(c) ^ static_cast<std::uint32_t>(c2);
    *crc = c;
    *p += 3 * stream;
    *n -= 3 * stream;
  }
}

}  // namespace

std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  ThreeWay(&c, &p, &n, kLongStream, LongShift());
  ThreeWay(&c, &p, &n, kShortStream, ShortShift());
  while (n >= 8) {
    c = _mm_crc32_u64(c, Load64(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}

std::uint32_t ExtendReference(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
  }
  return ~c;
}

}  // namespace postdevai::storage::crc32c
