// Values for tests that must fill WAL segments: they compress poorly.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace postdevai::testing {

// About `bytes` of digits from a generator seeded by i: the same i, the
// same value.
inline std::string IncompressibleValue(int i, std::size_t bytes, const std::string& prefix = "value ") {
  std::mt19937_64 random(static_cast<std::uint64_t>(i) * 7919 + 1);
  std::string v = prefix + std::to_string(i) + ":";
  while (v.size() < bytes) v += std::to_string(random());
  return v;
}

}  // namespace postdevai::testing
