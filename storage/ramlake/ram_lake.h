// The RAM-Lake as a whole: four partition files (vectors, code, history,
// metadata) under one directory, sharing one byte budget and one entry cap.
// There is no object for the whole: the engine opens each partition itself
// (RamLakePartition::Open, see ramlake_partition.h) and hands it to the actor
// that drives it. This header says how the totals are split and where the
// files should live.
//
// Thread-safety: plain values and pure functions; IsRamDisk and
// CreatePrivateDirectory ask the kernel.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "postdevai/status.h"
#include "storage/ramlake/ramlake_options.h"

namespace postdevai::storage {
class FileSystem;
}  // namespace postdevai::storage

namespace postdevai::storage::ramlake {

// The whole RAM-Lake, as configured. The engine fills it from the config
// (actors/engine.cc), which has already checked that the shares add up to 100
// and that the size fits on the RAM disk; nothing here checks them again.
struct RamLakeOptions {
  std::string path;                 // directory of the partition files (ideally tmpfs)
  std::uint64_t total_bytes = 0;    // ramlake_size_gb in bytes
  // Share of total_bytes per partition, in PartitionKind order; must add up to
  // at most 100.
  std::array<std::uint32_t, kPartitionCount> share_percent = {30, 40, 20, 10};
  // Most entries across all partitions; 0: no limit. Split across partitions
  // by share (see PartitionOptionsFor) so that no partition needs to ask
  // another before inserting: each one is driven by its own actor.
  std::uint64_t max_ram_entries = 0;
  std::array<EvictionPolicy, kPartitionCount> eviction = {
      EvictionPolicy::kLru, EvictionPolicy::kLru, EvictionPolicy::kLru, EvictionPolicy::kLru};
  std::uint32_t segment_bytes = 0;  // 0: derived per partition
  std::uint64_t persisted_lsn = 0;  // the persistent store's LSN at start-up
};

// What partition `kind` gets: file <path>/<kind>.ramlake, capacity
// total_bytes * share / 100, max_entries max_ram_entries * share / 100 (at
// least 1 when max_ram_entries is set), and the lake's eviction policy,
// segment size and persisted LSN. With shares adding up to at most 100 the
// four never exceed the totals together. Creates nothing: the caller creates
// the directory and opens the file.
PartitionOptions PartitionOptionsFor(const RamLakeOptions& options, PartitionKind kind);

// True when path is on tmpfs or ramfs (statfs). A RAM-Lake elsewhere works,
// but the kernel may write every page of its files back to a disk: the engine
// warns once at start-up. Errors: statfs's (path missing: kNotFound).
Result<bool> IsRamDisk(const std::string& path);

// Creates the RAM-Lake directory and any missing parents through fs (new
// directories are 0700, see FileSystem::CreateDir), then makes sure it is
// private: the partition files hold session history and code, and the default
// path (/dev/shm/postdevai-$USER) is predictable, so a directory found there
// must be owned by this process's effective user and give group and others no
// access at all. Nothing is changed when it is not: a directory another user
// owns is theirs, and one of ours with looser permissions is for the user to
// chmod 0700 (or to choose another ramlake_path).
// Errors: fs's from creating; kInvalidArgument naming the path, the owner and
// mode found and what is expected when the directory is not private.
Status CreatePrivateDirectory(FileSystem* fs, const std::string& path);

}  // namespace postdevai::storage::ramlake
