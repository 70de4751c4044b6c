// Plain options for one RAM-Lake partition (the hot tier): where its file
// lives, how big it is, how many entries it may hold and which eviction policy
// it uses. PartitionOptionsFor (ram_lake.h) derives them from the configured
// totals; the RAM-Lake itself never parses anything.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postdevai/config.h"

namespace postdevai::storage::ramlake {

// The four partitions, one per DataKind; its value is the byte stored in every
// file and record, and DataKindName(kind) is the stem of the file name.
using PartitionKind = ::postdevai::DataKind;
inline constexpr std::size_t kPartitionCount = kDataKindCount;
inline constexpr std::array<PartitionKind, kPartitionCount> kAllPartitionKinds = kAllDataKinds;
constexpr std::size_t PartitionIndex(PartitionKind kind) { return DataKindIndex(kind); }

// Which clean entry a full partition evicts first.
//   kLru:    least recently used (reads and writes both count as a use).
//   kSieve:  SIEVE (NSDI'24): one FIFO, a visited bit and a moving hand. Reads
//            only set a bit, so hits are cheaper than LRU's, and entries read
//            once are evicted before entries read again.
//   kS3Fifo: S3-FIFO (SOSP'23): a small probationary FIFO (10% of the budget),
//            a main FIFO and a ghost list of recently evicted keys. A scan
//            passes through the small queue without touching the main one.
// (The config's EvictionPolicy; names via EvictionPolicyName.)
using EvictionPolicy = ::postdevai::EvictionPolicy;

// One partition file. PartitionOptionsFor (ram_lake.h) derives these from
// RamLakeOptions; tests and benches may build them directly.
struct PartitionOptions {
  std::string file_path;             // the partition's memory-mapped file
  PartitionKind kind = PartitionKind::kVectors;
  // Size of the file, header included: the partition's whole byte budget.
  // Rounded down to whole segments; at least 4 segments plus the header.
  std::uint64_t capacity_bytes = 0;
  // Allocation unit of the log-structured arena. 0: derived from the capacity
  // (capacity/64 rounded down to a power of two, clamped to 16 KiB..8 MiB).
  // The largest record is 1/16 of a segment.
  std::uint32_t segment_bytes = 0;
  // Most entries the partition may hold; 0: bounded by bytes only.
  std::uint64_t max_entries = 0;
  EvictionPolicy eviction = EvictionPolicy::kLru;
  // The initial "persisted up to" LSN: entries with a higher LSN are dirty.
  std::uint64_t persisted_lsn = 0;
};

}  // namespace postdevai::storage::ramlake
