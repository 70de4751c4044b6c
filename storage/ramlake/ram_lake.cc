#include "storage/ramlake/ram_lake.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

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

Status CreatePrivateDirectory(FileSystem* fs, const std::string& path) {
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(path));
  // stat, not lstat: a symbolic link is judged by the directory it leads to,
  // so one planted by another user leads to a directory that is theirs.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", path);
  const uid_t self = ::geteuid();
  const unsigned mode = st.st_mode & 07777;
  if (st.st_uid == self && (mode & 077) == 0) return Status::Ok();
  char found[96];
  std::snprintf(found, sizeof found, "owned by uid %u with mode %04o", static_cast<unsigned>(st.st_uid), mode);
  return Status::InvalidArgument("RAM-Lake directory " + path + " is " + found + "; expected a directory owned by uid " +
                                 std::to_string(self) + " (this process's user) with mode 0700, since the files in "
                                 "it hold session history and code (" +
                                 (st.st_uid == self ? "chmod 0700 it" : "remove it") +
                                 ", or choose another ramlake_path)");
}

}  // namespace postdevai::storage::ramlake
