// What the config layer needs to know about the machine: memory, the RAM disk,
// the user's data directory, and the file system under a path. Split from the
// decisions made with it (DefaultsForMachine) so those can be tested with any
// machine. Internal to config/. Thread-safe; reads the environment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai::config {

struct MachineFacts {
  std::uint64_t mem_total_bytes = 0;  // MemTotal of /proc/meminfo
  // The memory limit of this process's cgroup and its ancestors (the
  // smallest), when one is set: a container's memory.max. Pages of files on
  // a RAM disk count against it.
  std::optional<std::uint64_t> cgroup_memory_limit_bytes;
  // The memory this process may use: MemTotal, or the cgroup limit if smaller.
  std::uint64_t usable_memory_bytes() const {
    return cgroup_memory_limit_bytes && *cgroup_memory_limit_bytes < mem_total_bytes ? *cgroup_memory_limit_bytes
                                                                                       : mem_total_bytes;
  }
  std::optional<std::uint64_t> shm_total_bytes;  // size of /dev/shm, when there is one
  std::string user;      // login name, for per-user paths
  std::string data_dir;  // $XDG_DATA_HOME/postdevai or ~/.local/share/postdevai
  std::uint64_t data_dir_free_bytes = 0;  // free on the file system holding data_dir
};

MachineFacts ProbeMachine();

// The smallest memory limit on the path from the cgroup named in
// `proc_self_cgroup` (the text of /proc/self/cgroup) up to the root of the
// hierarchy mounted at `cgroup_root`: cgroup v2's memory.max, or v1's
// memory.limit_in_bytes (under <root>/memory). nullopt when none is set
// ("max", or v1's near-2^63 "unlimited") or nothing can be read.
std::optional<std::uint64_t> CgroupMemoryLimit(const std::string& proc_self_cgroup, const std::string& cgroup_root);
// The same for this process (/proc/self/cgroup, /sys/fs/cgroup).
std::optional<std::uint64_t> ProcessMemoryLimit();

// The embedded defaults for `machine` (see EmbeddedDefaults in config.h).
HybridMemoryConfig DefaultsForMachine(const MachineFacts& machine);

// The file system a path is (or would be) on. The path need not exist: its
// nearest existing ancestor decides, as that is where it would be created.
struct PathFacts {
  std::string existing_ancestor;  // the path itself when it exists
  bool on_ram_disk = false;       // tmpfs or ramfs: gone after a reboot
  std::string file_system;        // "tmpfs", "ramfs" or "disk"
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;  // free to unprivileged users
};

// kIoError when not even "/" can be inspected.
Result<PathFacts> ProbePath(const std::string& path);

// Bytes allocated to the files beneath dir (0 when it does not exist): the
// space a store already there holds, which is "free" for its budget too.
std::uint64_t AllocatedBytesUnder(const std::string& dir);

}  // namespace postdevai::config
