#include "config/machine_probe.h"

#include <linux/magic.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace postdevai::config {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kTiB = std::uint64_t{1} << 40;
constexpr std::uint64_t kMinRamLakeBytes = 64 * kMiB;
constexpr const char* kShmPath = "/dev/shm";

std::uint64_t ReadMemTotal() {
  std::ifstream meminfo("/proc/meminfo");
  std::string name;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> name >> kib >> unit) {
    if (name == "MemTotal:") return kib * 1024;
  }
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? std::uint64_t(pages) * std::uint64_t(page_size) : 0;
}

std::optional<std::uint64_t> ShmSize() {
  struct stat st {};
  if (stat(kShmPath, &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  struct statvfs vfs {};
  if (statvfs(kShmPath, &vfs) != 0) return std::nullopt;
  return std::uint64_t(vfs.f_blocks) * vfs.f_frsize;
}

struct Account {
  std::string name;
  std::string home;
};

Account CurrentAccount() {
  Account account;
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::string buffer(size > 0 ? std::size_t(size) : 16384, '\0');
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(geteuid(), &pw, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    account.name = found->pw_name;
    account.home = found->pw_dir;
  }
  if (account.name.empty()) {
    const char* user = std::getenv("USER");
    account.name = user != nullptr && *user != '\0' ? user : "uid" + std::to_string(geteuid());
  }
  // $HOME wins over the password database, as it does for every XDG program.
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') account.home = home;
  return account;
}

std::string DataDir(const Account& account) {
  // The XDG spec says relative values are invalid and must be ignored.
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/postdevai";
  }
  if (!account.home.empty() && account.home != "/") return account.home + "/.local/share/postdevai";
  // No home (a system account): /var/tmp survives reboots, unlike /tmp on many systems.
  return "/var/tmp/postdevai-" + account.name;
}

std::string NearestExistingAncestor(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.is_relative()) p = std::filesystem::current_path() / p;
  struct stat st {};
  while (stat(p.c_str(), &st) != 0) {
    if (!p.has_relative_path()) break;  // "/" itself
    p = p.parent_path();
  }
  std::string s = p.string();
  if (s.size() > 1 && s.back() == '/') s.pop_back();  // "a/b/" from lexically_normal
  return s;
}

// The limit in the file at `path` ("max" or a byte count), if any.
std::optional<std::uint64_t> ReadLimitFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0') return std::nullopt;
  // cgroup v1 says "unlimited" with a page-rounded 2^63 - 1.
  if (value >= (std::uint64_t{1} << 62)) return std::nullopt;
  return value;
}

// The smallest limit in `file` from `dir` up to `root` (both included).
std::optional<std::uint64_t> SmallestLimitUp(std::filesystem::path dir, const std::filesystem::path& root,
                                             const char* file) {
  std::optional<std::uint64_t> smallest;
  for (;;) {
    if (auto limit = ReadLimitFile((dir / file).string()); limit && (!smallest || *limit < *smallest)) {
      smallest = limit;
    }
    if (dir == root || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  return smallest;
}

}  // namespace

std::optional<std::uint64_t> CgroupMemoryLimit(const std::string& proc_self_cgroup, const std::string& cgroup_root) {
  // Lines are "id:controllers:path": v2's is "0::/path"; v1's memory
  // controller has "memory" among its controllers.
  std::istringstream lines(proc_self_cgroup);
  std::string line;
  std::optional<std::uint64_t> smallest;
  auto consider = [&](std::optional<std::uint64_t> limit) {
    if (limit && (!smallest || *limit < *smallest)) smallest = limit;
  };
  while (std::getline(lines, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    // A path that climbs out of the hierarchy (".." segments) is not followed.
    if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos) continue;
    if (first == 1 && line[0] == '0' && controllers.empty()) {
      const std::filesystem::path root(cgroup_root);
      consider(SmallestLimitUp(root / path.substr(1), root, "memory.max"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      const std::filesystem::path root = std::filesystem::path(cgroup_root) / "memory";
      consider(SmallestLimitUp(root / path.substr(1), root, "memory.limit_in_bytes"));
    }
  }
  return smallest;
}

std::optional<std::uint64_t> ProcessMemoryLimit() {
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  return CgroupMemoryLimit(text.str(), "/sys/fs/cgroup");
}

Result<PathFacts> ProbePath(const std::string& path) {
  PathFacts facts;
  facts.existing_ancestor = NearestExistingAncestor(path);
  struct statfs fs {};
  if (statfs(facts.existing_ancestor.c_str(), &fs) != 0) {
    return Status::IoError("statfs " + facts.existing_ancestor + ": " + std::strerror(errno));
  }
  // f_type is the file system's magic number; tmpfs and ramfs live only in RAM.
  if (fs.f_type == TMPFS_MAGIC) {
    facts.file_system = "tmpfs";
  } else if (fs.f_type == RAMFS_MAGIC) {
    facts.file_system = "ramfs";
  } else {
    facts.file_system = "disk";
  }
  facts.on_ram_disk = facts.file_system != "disk";
  // statvfs counts blocks in f_frsize units, the way df does.
  struct statvfs vfs {};
  if (statvfs(facts.existing_ancestor.c_str(), &vfs) != 0) {
    return Status::IoError("statvfs " + facts.existing_ancestor + ": " + std::strerror(errno));
  }
  facts.total_bytes = std::uint64_t(vfs.f_blocks) * vfs.f_frsize;
  facts.available_bytes = std::uint64_t(vfs.f_bavail) * vfs.f_frsize;
  return facts;
}

std::uint64_t AllocatedBytesUnder(const std::string& dir) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += std::uint64_t(st.st_blocks) * 512;  // st_blocks counts 512-byte units
    }
  }
  return total;
}

MachineFacts ProbeMachine() {
  MachineFacts machine;
  machine.mem_total_bytes = ReadMemTotal();
  machine.cgroup_memory_limit_bytes = ProcessMemoryLimit();
  machine.shm_total_bytes = ShmSize();
  Account account = CurrentAccount();
  machine.user = account.name;
  machine.data_dir = DataDir(account);
  if (Result<PathFacts> facts = ProbePath(machine.data_dir); facts.ok()) {
    machine.data_dir_free_bytes = facts->available_bytes;
  }
  return machine;
}

HybridMemoryConfig DefaultsForMachine(const MachineFacts& machine) {
  HybridMemoryConfig config;

  // An eighth of the machine's memory leaves room for the OS, the page cache
  // that LevelDB reads through, and the host application. Total, not free,
  // memory: the size must not change from one start to the next (the
  // RAM-Lake itself uses free memory), or every restart would rebuild the
  // partition files instead of re-attaching them. On a RAM disk the files
  // also count against its size: take at most half, so other users of
  // /dev/shm keep room.
  // A container's memory limit counts, not the host's: the RAM-Lake's pages
  // are charged to the container, and it would be killed at start.
  const std::uint64_t memory = machine.usable_memory_bytes();
  std::uint64_t ramlake = memory / 8;
  bool use_shm = machine.shm_total_bytes && *machine.shm_total_bytes / 2 >= kMinRamLakeBytes;
  if (use_shm) ramlake = std::min(ramlake, *machine.shm_total_bytes / 2);
  // At least 64 MiB, unless that is more than a quarter of a small container.
  ramlake = std::max(ramlake, std::min(kMinRamLakeBytes, memory / 4));
  ramlake = std::max(ramlake / kMiB, std::uint64_t{1}) * kMiB;  // whole MiB: exact in GiB
  config.ramlake_size_gb = double(ramlake) / double(kGiB);
  config.ramlake_path = use_shm ? std::string(kShmPath) + "/postdevai-" + machine.user + "/ramlake"
                                : machine.data_dir + "/ramlake";

  config.persistent_path = machine.data_dir;
  std::uint64_t persistent = std::clamp(machine.data_dir_free_bytes / 2, kGiB, kTiB) / kGiB * kGiB;
  config.persistent_size_tb = double(persistent) / double(kTiB);

  std::uint64_t cache = std::clamp(memory / 64, 8 * kMiB, 2048 * kMiB);
  config.cache_size_mb = std::uint32_t(cache / kMiB);
  // An average item of ~4 KiB (a code chunk, a history message, a 768-d vector).
  config.max_ram_entries = std::max<std::uint64_t>(ramlake / 4096, 16384);
  return config;
}

}  // namespace postdevai::config
