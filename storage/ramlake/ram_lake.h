// The RAM-Lake: the hot tier's four partitions (vectors, code, history,
// metadata), each a memory-mapped file under one directory, sized by its share
// of the total. See ramlake_partition.h for what a partition guarantees.
//
// Ownership: RamLake owns its partitions; partition(kind) lends one out for
// the RamLake's lifetime. Thread-safety: Open is single-threaded; afterwards
// each partition is single-threaded on its own (one actor each), and the
// partitions share nothing, so four threads may drive the four partitions.
// The accessors below are read-only and safe from any thread once Open returns.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "postdevai/status.h"
#include "storage/file_system.h"
#include "storage/ramlake/ramlake_options.h"
#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::storage::ramlake {

class RamLake {
 public:
  // Creates options.path if missing and opens the four partition files (see
  // RamLakePartition::Open) with hooks[PartitionIndex(kind)]. Errors: the
  // first partition's error, with its name (kNoSpace when the RAM disk cannot
  // hold the reservation, kInvalidArgument for options that cannot work:
  // shares above 100%, a partition too small for 4 segments).
  static Result<std::unique_ptr<RamLake>> Open(FileSystem* fs, const RamLakeOptions& options,
                                               const std::array<OpenHooks, kPartitionCount>& hooks = {});

  RamLakePartition& partition(PartitionKind kind) { return *partitions_[PartitionIndex(kind)]; }
  const RamLakePartition& partition(PartitionKind kind) const { return *partitions_[PartitionIndex(kind)]; }
  const OpenReport& open_report(PartitionKind kind) const { return reports_[PartitionIndex(kind)]; }

  // Non-empty when options.path is not on a RAM disk (tmpfs/ramfs): it works,
  // but every page of the files may be written back to a disk. Said once, at
  // Open; the caller logs it.
  const std::string& storage_warning() const { return storage_warning_; }

  // What a partition gets: file <path>/<kind>.ramlake, capacity
  // total_bytes * share / 100, max_entries max_ram_entries * share / 100
  // (at least 1 when max_ram_entries is set), so the four never exceed the
  // totals together.
  static PartitionOptions PartitionOptionsFor(const RamLakeOptions& options, PartitionKind kind);

  // True when path is on tmpfs or ramfs (statfs). Errors: path missing.
  static Result<bool> IsRamDisk(const std::string& path);

 private:
  RamLake() = default;
  std::array<std::unique_ptr<RamLakePartition>, kPartitionCount> partitions_;
  std::array<OpenReport, kPartitionCount> reports_;
  std::string storage_warning_;
};

}  // namespace postdevai::storage::ramlake
