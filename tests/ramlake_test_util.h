// Helpers shared by the RAM-Lake tests: scratch directories on the RAM disk,
// deterministic values, and an in-memory stand-in for the persistent store's
// "which LSN do you hold for this key" answer.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::ramlake_testing {

// A fresh directory under /dev/shm (the RAM disk the RAM-Lake is meant for),
// removed with everything in it on destruction.
class ShmDir {
 public:
  explicit ShmDir(const std::string& tag, const std::string& root = "/dev/shm") {
    static std::atomic<int> counter{0};
    path_ = root + "/postdevai-ramlake-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ShmDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ShmDir(const ShmDir&) = delete;
  ShmDir& operator=(const ShmDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The value written for key at lsn: any byte of it tells both apart.
inline std::string ValueFor(std::string_view key, std::uint64_t lsn, std::size_t size) {
  std::string v(size, '\0');
  std::uint64_t x = std::hash<std::string_view>{}(key) ^ (lsn * 0x9E3779B97F4A7C15ull);
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<char>(x);
  }
  return v;
}

inline std::string KeyFor(std::uint64_t i) { return "key-" + std::to_string(i); }

// What the persistent store holds: key -> LSN. Counts the lookups made
// through Hooks().
struct FakeStore {
  std::unordered_map<std::string, std::uint64_t> lsn;
  mutable std::uint64_t lookups = 0;
  storage::ramlake::OpenHooks Hooks() const {
    storage::ramlake::OpenHooks hooks;
    hooks.store_lsn = [this](std::string_view key) -> std::optional<std::uint64_t> {
      ++lookups;
      auto it = lsn.find(std::string(key));
      if (it == lsn.end()) return std::nullopt;
      return it->second;
    };
    return hooks;
  }
};

inline storage::ramlake::PartitionOptions SmallPartition(const std::string& dir,
                                                         storage::ramlake::PartitionKind kind =
                                                             storage::ramlake::PartitionKind::kCode,
                                                         std::uint64_t capacity = 4 << 20) {
  storage::ramlake::PartitionOptions o;
  o.file_path = dir + "/" + std::string(DataKindName(kind)) + ".ramlake";
  o.kind = kind;
  o.capacity_bytes = capacity;
  o.segment_bytes = 64 * 1024;
  return o;
}

}  // namespace postdevai::ramlake_testing
