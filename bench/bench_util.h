// Shared pieces of the bench scenarios: latency recording, value generation.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace postdevai::bench {

using Clock = std::chrono::steady_clock;

// The median of v (the upper one of an even count); 0 when empty.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Collects latencies (ns) and reports percentiles.
class LatencyRecorder {
 public:
  void Add(std::uint64_t ns) { samples_.push_back(ns); }
  void Merge(const LatencyRecorder& other) { samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end()); }
  std::size_t count() const { return samples_.size(); }
  // q in [0, 1]; microseconds.
  double PercentileMicros(double q) {
    if (samples_.empty()) return 0;
    if (!sorted_) {
      std::sort(samples_.begin(), samples_.end());
      sorted_ = true;
    }
    auto idx = static_cast<std::size_t>(q * static_cast<double>(samples_.size() - 1));
    return static_cast<double>(samples_[idx]) / 1000.0;
  }

 private:
  std::vector<std::uint64_t> samples_;
  bool sorted_ = false;
};

// A value that compresses like source code does (~3x), deterministic per seed.
inline std::string CodeLikeValue(std::uint64_t seed, std::size_t bytes) {
  static const char* words[] = {"int ", "return ", "const ", "std::string ", "auto ", "if (", ") {\n", "}\n",
                                "for (", "; ++i", "value", "key_", "Status ", "ok()", "->", "  ", "namespace ",
                                "template <class T>", "// ", "nullptr", "size_t ", "0x", "buffer", "(", ");\n"};
  std::mt19937_64 rng(seed);
  std::string v;
  v.reserve(bytes + 32);
  while (v.size() < bytes) {
    v += words[rng() % (sizeof(words) / sizeof(words[0]))];
    if (rng() % 4 == 0) v += std::to_string(rng() % 100000);
  }
  v.resize(bytes);
  return v;
}

}  // namespace postdevai::bench
