#include "storage/ramlake/ram_lake.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <cerrno>

namespace postdevai::storage::ramlake {

PartitionOptions RamLake::PartitionOptionsFor(const RamLakeOptions& options, PartitionKind kind) {
  const std::size_t i = PartitionIndex(kind);
  PartitionOptions p;
  p.file_path = JoinPath(options.path, std::string(DataKindName(kind)) + ".ramlake");
  p.kind = kind;
  p.capacity_bytes = options.total_bytes / 100 * options.share_percent[i] +
                     options.total_bytes % 100 * options.share_percent[i] / 100;
  p.segment_bytes = options.segment_bytes;
  if (options.max_ram_entries != 0) {
    p.max_entries = std::max<std::uint64_t>(options.max_ram_entries * options.share_percent[i] / 100, 1);
  }
  p.eviction = options.eviction[i];
  p.persisted_lsn = options.persisted_lsn;
  return p;
}

Result<bool> RamLake::IsRamDisk(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) return StatusFromErrno(errno, "statfs", path);
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

Result<std::unique_ptr<RamLake>> RamLake::Open(FileSystem* fs, const RamLakeOptions& options,
                                               const std::array<OpenHooks, kPartitionCount>& hooks) {
  std::uint32_t share_sum = 0;
  for (std::uint32_t share : options.share_percent) share_sum += share;
  if (share_sum > 100) {
    return Status::InvalidArgument("RAM-Lake partition shares add up to " + std::to_string(share_sum) +
                                   "%, more than 100%");
  }
  if (options.path.empty()) return Status::InvalidArgument("RAM-Lake: no path");
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(options.path).WithContext("RAM-Lake directory"));

  std::unique_ptr<RamLake> lake(new RamLake());
  auto ram_disk = IsRamDisk(options.path);
  if (!ram_disk.ok()) {
    lake->storage_warning_ = "cannot tell whether " + options.path + " is a RAM disk (" +
                             ram_disk.status().ToString() + ")";
  } else if (!*ram_disk) {
    lake->storage_warning_ = options.path +
                             " is not a RAM disk (tmpfs/ramfs): the RAM-Lake works there, but its pages may be "
                             "written back to disk, which is slower; mount a tmpfs or use /dev/shm";
  }
  for (PartitionKind kind : kAllPartitionKinds) {
    const std::size_t i = PartitionIndex(kind);
    auto partition = RamLakePartition::Open(fs, PartitionOptionsFor(options, kind), hooks[i], &lake->reports_[i]);
    if (!partition.ok()) return partition.status();
    lake->partitions_[i] = std::move(partition.value());
  }
  return lake;
}

}  // namespace postdevai::storage::ramlake
