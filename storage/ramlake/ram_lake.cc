#include "storage/ramlake/ram_lake.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>

#include "storage/file_system.h"

namespace postdevai::storage::ramlake {

PartitionOptions PartitionOptionsFor(const RamLakeOptions& options, PartitionKind kind) {
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

Result<bool> IsRamDisk(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) return StatusFromErrno(errno, "statfs", path);
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

}  // namespace postdevai::storage::ramlake
