#include "client/diagnosis.h"

#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "client/units.h"

namespace postdevai::client {

namespace {

std::string Name(DataKind kind) {
  return static_cast<std::size_t>(kind) < kDataKindCount ? std::string(DataKindName(kind))
                                                         : "kind " + std::to_string(static_cast<unsigned>(kind));
}

// statfs f_type values (linux/magic.h), spelled out to avoid the kernel header.
constexpr long kTmpfsMagic = 0x01021994;
constexpr long kRamfsMagic = 0x858458f6;

enum class Severity { kOk, kUnknown, kWarning, kCritical };

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kOk: return "ok";
    case Severity::kUnknown: return "unknown";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

struct Finding {
  std::string check;    // "ram_disk", "budget", ...
  Severity severity = Severity::kOk;
  std::string finding;  // what was seen, with the numbers
  std::string action;   // what to do; empty when nothing
};

std::string Percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}


// The filesystem holding `path` (or its nearest existing parent): whether it
// is a RAM disk, and its name for the message.
struct FsFacts {
  bool ok = false;
  bool ram_disk = false;
  std::string type;
};

FsFacts FilesystemOf(const std::string& path) {
  FsFacts facts;
  std::filesystem::path p(path);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  if (p.empty()) return facts;
  struct statfs fs {};
  if (::statfs(p.c_str(), &fs) != 0) return facts;
  facts.ok = true;
  const long type = static_cast<long>(fs.f_type);
  facts.ram_disk = type == kTmpfsMagic || type == kRamfsMagic;
  if (type == kTmpfsMagic) {
    facts.type = "tmpfs";
  } else if (type == kRamfsMagic) {
    facts.type = "ramfs";
  } else {
    static const std::pair<long, const char*> kNames[] = {
        {0xef53, "ext4"}, {0x58465342, "xfs"}, {0x9123683e, "btrfs"}, {0x794c7630, "overlayfs"},
        {0x2fc12fc1, "zfs"}, {0x6969, "nfs"}, {0x65735546, "fuse"}, {0x01021997, "9p"}};
    char buf[48];
    std::snprintf(buf, sizeof buf, "a disk filesystem (type 0x%lx)", static_cast<unsigned long>(type));
    facts.type = buf;
    for (const auto& [magic, name] : kNames) {
      if (magic == type) facts.type = name;
    }
  }
  return facts;
}

class Diagnosis {
 public:
  void Add(std::string check, Severity severity, std::string finding, std::string action = {}) {
    findings_.push_back(Finding{std::move(check), severity, std::move(finding), std::move(action)});
  }
  const std::vector<Finding>& findings() const { return findings_; }

 private:
  std::vector<Finding> findings_;
};

void CheckRamDisk(const HybridMemoryConfig& config, const records::memory_report& stats, Diagnosis* d) {
  std::map<std::string, std::vector<std::string>> by_fs;  // fs description -> partitions
  bool any_disk = false, any_unknown = false;
  std::string example;
  for (const auto& p : stats.partitions) {
    if (p.file.empty()) continue;
    FsFacts fs = FilesystemOf(p.file);
    if (!fs.ok) {
      any_unknown = true;
      continue;
    }
    if (!fs.ram_disk) {
      any_disk = true;
      example = p.file;
    }
    by_fs[fs.type].push_back(Name(p.kind));
  }
  std::string where;
  for (const auto& [type, kinds] : by_fs) {
    if (!where.empty()) where += "; ";
    std::string names;
    for (const auto& k : kinds) names += (names.empty() ? "" : ", ") + k;
    where += names + " on " + type;
  }
  if (any_disk) {
    d->Add("ram_disk", Severity::kWarning,
           "RAM-Lake partition files are not on a RAM disk (" + where + ", e.g. " + example +
               "): hot reads and writes go through the page cache of a real disk, and the RAM budget competes with it",
           "set [hybrid_memory] ramlake_path to a directory on tmpfs (e.g. /dev/shm/postdevai/ramlake) and restart "
           "the node; LevelDB keeps the data, the RAM-Lake is rebuilt from it");
  } else if (any_unknown || by_fs.empty()) {
    d->Add("ram_disk", Severity::kUnknown, "the node cannot inspect the file systems of its partition files",
           "check the permissions of the RAM-Lake directory (ramlake_path) for the node's user");
  } else {
    d->Add("ram_disk", Severity::kOk, "RAM-Lake partition files are on a RAM disk (" + where + ")");
  }
  // The WAL must be on real storage: fsync on tmpfs is a no-op.
  {
    const std::string wal = config.WalPath();
    FsFacts fs = FilesystemOf(wal);
    if (fs.ok && fs.ram_disk) {
      d->Add("wal_storage", Severity::kCritical,
             "the write-ahead log " + wal + " is on " + fs.type +
                 ": a power cut or reboot loses every acknowledged write since the last checkpoint",
             "set [wal] path (or [hybrid_memory] persistent_path) to a real disk and restart the node");
    } else if (fs.ok) {
      d->Add("wal_storage", Severity::kOk, "the write-ahead log " + wal + " is on " + fs.type);
    }
  }
}

void CheckBudgets(const HybridMemoryConfig& config, const records::memory_report& stats, Diagnosis* d) {
  std::uint64_t entries = 0;
  for (const auto& p : stats.partitions) {
    entries += p.entries;
    if (p.budget_bytes == 0) continue;
    const double use = static_cast<double>(p.bytes) / static_cast<double>(p.budget_bytes);
    const std::string seen = Name(p.kind) + ": " + FormatBytes(p.bytes) + " of " + FormatBytes(p.budget_bytes) + " (" +
                             Percent(use) + "), " + std::to_string(p.entries) + " entries, " +
                             std::to_string(p.dirty_entries) + " dirty";
    if (use >= 0.95) {
      d->Add("budget", Severity::kWarning,
             seen + ": full, so every new entry pushes an older one out (" + p.eviction_policy +
                 ") and reads of those go to disk",
             "give " + Name(p.kind) + " more RAM: raise [partitions." + Name(p.kind) +
                 "] share_percent or [hybrid_memory] ramlake_size_gb; or free room now with "
                 "postdevai-cli memory evict --cold --older-than 24h");
    } else if (use >= 0.85) {
      d->Add("budget", Severity::kWarning, seen + ": nearly full",
             "watch the hit rate; if it falls, raise [partitions." + Name(p.kind) + "] share_percent or ramlake_size_gb");
    } else {
      d->Add("budget", Severity::kOk, seen);
    }
  }
  if (config.max_ram_entries > 0) {
    const std::uint64_t max = config.max_ram_entries;
    const double use = static_cast<double>(entries) / static_cast<double>(max);
    if (use >= 0.9) {
      d->Add("budget", Severity::kWarning,
             std::to_string(entries) + " entries in RAM of max_ram_entries " + std::to_string(max) + " (" + Percent(use) + ")",
             "raise [hybrid_memory] max_ram_entries (each entry costs index memory) or evict cold entries");
    }
  }
}

void CheckHitRate(const records::memory_report& stats, Diagnosis* d) {
  // Below this many reads a rate says more about the warm-up than the sizing.
  constexpr std::uint64_t kMinReads = 100;
  if (stats.reads < kMinReads) {
    d->Add("hit_rate", Severity::kUnknown,
           std::to_string(stats.reads) + " reads since the node started: too few to judge the hit rate",
           "run the workload for a while and diagnose again");
    return;
  }
  const double rate = static_cast<double>(stats.ram_hits) / static_cast<double>(stats.reads);
  std::string seen = Percent(rate) + " of " + std::to_string(stats.reads) + " reads served from RAM (" +
                     std::to_string(stats.disk_reads) + " from disk, " + std::to_string(stats.promotions) +
                     " promotions)";
  std::string worst;
  double worst_rate = 2;
  for (const auto& p : stats.partitions) {
    if (p.hits + p.misses < kMinReads) continue;
    const double r = static_cast<double>(p.hits) / static_cast<double>(p.hits + p.misses);
    if (r < worst_rate) {
      worst_rate = r;
      worst = Name(p.kind);
    }
  }
  if (!worst.empty()) seen += "; lowest: " + worst + " at " + Percent(worst_rate);
  // Misses with a full partition mean the working set does not fit; misses
  // with room to spare are first reads of cold data (after a restart, an
  // eviction, or data never read since it was written) that promotion has
  // not brought back yet. The advice differs.
  double usage = 0;
  for (const auto& p : stats.partitions) {
    if ((worst.empty() || Name(p.kind) == worst) && p.budget_bytes > 0) {
      usage = std::max(usage, static_cast<double>(p.bytes) / static_cast<double>(p.budget_bytes));
    }
  }
  const std::string part = worst.empty() ? std::string("the busiest partition") : worst;
  const std::string action =
      usage >= 0.85 ? "the working set does not fit in RAM (" + part + " is " + Percent(usage) +
                          " full): raise ramlake_size_gb or the share of " + part
                    : "RAM has room (" + part + " is " + Percent(usage) +
                          " full): these are reads of cold data; items read [tiering] promote_after_hits times are "
                          "promoted, so a lower promote_after_hits brings them back sooner";
  if (rate < 0.5 && usage >= 0.85) {
    d->Add("hit_rate", Severity::kCritical, seen, action);
  } else if (rate < 0.8) {
    d->Add("hit_rate", Severity::kWarning, seen, action);
  } else {
    d->Add("hit_rate", Severity::kOk, seen);
  }
}

void CheckSync(const HybridMemoryConfig& config, const records::memory_report& stats, Diagnosis* d) {
  const records::sync_report& s = stats.sync;
  const std::string lag = FormatSeconds(s.seconds_since_checkpoint) + " since the last checkpoint (LSN " +
                          std::to_string(s.checkpoint_lsn) + ")";
  const std::string action =
      "run postdevai-cli memory sync --force; if it fails, its message and the node's log name the cause "
      "(disk full, I/O error)";
  {
    const double interval = config.sync_interval_minutes * 60.0;
    const std::string seen = lag + ", interval " + FormatSeconds(interval);
    const bool nothing_to_sync = s.checkpoint_lsn >= s.durable_lsn;
    if (nothing_to_sync) {
      d->Add("sync_lag", Severity::kOk, seen + "; every durable write is checkpointed");
    } else if (s.seconds_since_checkpoint > 2 * interval + 60) {
      d->Add("sync_lag", Severity::kCritical, seen + ": checkpoints are not happening", action);
    } else if (s.seconds_since_checkpoint > interval + 30) {
      d->Add("sync_lag", Severity::kWarning, seen + ": the last checkpoint is overdue", action);
    } else {
      d->Add("sync_lag", Severity::kOk, seen);
    }
  }
  // The store applies what the journal made durable; a growing gap means
  // LevelDB cannot keep up (or failed) and reads may miss recent writes on disk.
  const std::uint64_t behind = s.durable_lsn > s.applied_lsn ? s.durable_lsn - s.applied_lsn : 0;
  if (!s.store_error.empty()) {
    d->Add("store_apply", Severity::kCritical,
           "LevelDB cannot apply acknowledged writes (" + std::to_string(behind) +
               " wait, safe in the WAL; reads are still served): " + s.store_error,
           "free space on the disk of persistent_path (" + config.persistent_path +
               ") or fix its I/O errors; the store retries by itself and catches up");
  } else if (behind > 10000) {
    d->Add("store_apply", Severity::kWarning,
           "LevelDB is " + std::to_string(behind) + " writes behind the WAL (durable LSN " +
               std::to_string(s.durable_lsn) + ", applied " + std::to_string(s.applied_lsn) + ")",
           "check the disk of persistent_path (iostat); the node's log names a failing store");
  } else {
    d->Add("store_apply", Severity::kOk,
           "LevelDB has applied the WAL up to LSN " + std::to_string(s.applied_lsn) + " of " + std::to_string(s.durable_lsn));
  }
}

// The device holding `path`, or of its nearest existing ancestor.
std::optional<dev_t> DeviceOf(std::string path) {
  for (;;) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return st.st_dev;
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos || path == "/") return std::nullopt;
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

// Backups: is there a recent one, and would it survive the data disk?
void CheckBackups(const HybridMemoryConfig& config, const records::memory_report& stats, Diagnosis* d) {
  const records::sync_report& s = stats.sync;
  const std::string where = config.BackupPath();
  const std::string make = "postdevai-cli memory backup; set [backup] path on another disk and interval_hours for a "
                           "schedule (README: Backups and restore)";
  if (!s.backup_error.empty()) {
    d->Add("backups", Severity::kCritical, "the last scheduled backup or archive pruning failed: " + s.backup_error,
           "free space or fix the disk of " + where + "; then postdevai-cli memory backup");
    return;
  }
  if (s.backups == 0) {
    d->Add("backups", Severity::kWarning, "no backup in " + where + ": the data lives on one disk only", make);
    return;
  }
  const double interval = config.backup.interval_hours * 3600.0;
  const std::string seen = std::to_string(s.backups) + " backup(s) in " + where + ", the newest " +
                           FormatSeconds(s.last_backup_age_seconds) + " old (LSN " + std::to_string(s.last_backup_lsn) +
                           "); WAL archive " + FormatBytes(s.archive_bytes);
  if (interval > 0 && s.last_backup_age_seconds > 2 * interval) {
    d->Add("backups", Severity::kWarning, seen + ": scheduled backups are not happening",
           "see the node's log for backup lines; postdevai-cli memory backup makes one now");
    return;
  }
  const auto data_device = DeviceOf(config.persistent_path);
  const auto backup_device = DeviceOf(where);
  if (data_device && backup_device && *data_device == *backup_device) {
    d->Add("backups", Severity::kWarning, seen + ", on the same disk as the data: losing it loses both",
           "set [backup] path to another disk");
    return;
  }
  d->Add("backups", Severity::kOk, seen);
}

void CheckWal(const HybridMemoryConfig& config, const records::memory_report& stats, Diagnosis* d) {
  const records::sync_report& s = stats.sync;
  const std::uint64_t unsynced = s.durable_lsn > s.checkpoint_lsn ? s.durable_lsn - s.checkpoint_lsn : 0;
  std::string seen = std::to_string(s.wal_segments) + " live WAL segment(s), " + std::to_string(unsynced) +
                     " records after the checkpoint to replay after a crash";
  {
    seen += " (segments of " + FormatBytes(config.WalSegmentBytes()) + ": at most " +
            FormatBytes(s.wal_segments * config.WalSegmentBytes()) + " on disk)";
  }
  const std::string action =
      "postdevai-cli memory sync --force checkpoints and releases the segments before the checkpoint; if they stay, "
      "checkpoints are failing (see sync_lag)";
  if (s.wal_segments > 32) {
    d->Add("wal_backlog", Severity::kCritical, seen, action);
  } else if (s.wal_segments > 8 || unsynced > 1'000'000) {
    d->Add("wal_backlog", Severity::kWarning, seen, action);
  } else {
    d->Add("wal_backlog", Severity::kOk, seen);
  }
}

void CheckCompression(const HybridMemoryConfig& config, const std::vector<records::store_kind_report>& kinds, Diagnosis* d) {
  if (config.compression == Compression::kNone) {
    d->Add("compression", Severity::kWarning, "the config sets compression = \"none\": values are stored raw",
           "set [hybrid_memory] compression = \"zstd\"; values written from then on are compressed");
  }
  // Too little data says nothing about the ratio (and dictionaries are trained later).
  constexpr std::uint64_t kMinRawBytes = 1 << 20;
  std::uint64_t raw = 0, stored = 0;
  for (const auto& k : kinds) {
    raw += k.raw_bytes;
    stored += k.stored_bytes;
    if (k.raw_bytes < kMinRawBytes || k.stored_bytes == 0) continue;
    const double ratio = static_cast<double>(k.raw_bytes) / static_cast<double>(k.stored_bytes);
    const std::string seen = Name(k.kind) + ": " + FormatBytes(k.raw_bytes) + " raw in " + FormatBytes(k.stored_bytes) +
                             " stored (" + Fixed(ratio, 2) + "x" + (k.dictionary_id ? ", with a dictionary" : "") + ")";
    if (k.kind == DataKind::kVectors) {
      // Float embeddings are close to random bits: no codec does much with them.
      d->Add("compression", Severity::kOk, seen + "; embeddings compress little by nature");
    } else if (ratio < 1.2) {
      d->Add("compression", Severity::kWarning, seen + ": these values barely compress",
             "if compression is zstd, the values may already be compressed (store them uncompressed) or very "
             "small (a dictionary helps: it is trained once enough records exist)");
    } else {
      d->Add("compression", Severity::kOk, seen);
    }
  }
  if (raw < kMinRawBytes) {
    d->Add("compression", Severity::kUnknown,
           FormatBytes(raw) + " of values in LevelDB: too little to judge compression",
           "diagnose again once the store holds a few MiB");
  }
}

void CheckPartitionHealth(const records::memory_report& stats, Diagnosis* d) {
  for (const auto& p : stats.partitions) {
    if (!p.ready) {
      d->Add("partition_health", Severity::kCritical,
             Name(p.kind) + " partition is not attached (re-attaching after a restart, or its file failed to open): its "
                      "reads go to disk",
             "diagnose again in a few seconds; if it stays, the node's log names the file error; restarting the "
             "node rebuilds a damaged partition file from LevelDB");
      continue;
    }
    if (p.restarts > 0) {
      d->Add("partition_health", Severity::kWarning,
             Name(p.kind) + " partition restarted " + std::to_string(p.restarts) +
                 " time(s) since the node started (a crashed partition actor or a damaged file)",
             "read the node's log for the cause; repeated restarts point at the file " + p.file +
                 " or its RAM disk (full, unmounted)");
    }
    if (!p.file.empty()) {
      std::error_code ec;
      auto status = std::filesystem::status(p.file, ec);
      if (std::filesystem::exists(status)) {
        if (p.restarts == 0) d->Add("partition_health", Severity::kOk, Name(p.kind) + " partition file " + p.file + " is in place");
      } else if (ec && ec != std::errc::no_such_file_or_directory) {
        d->Add("partition_health", Severity::kUnknown, Name(p.kind) + " partition file " + p.file + ": " + ec.message(),
               "check the permissions of the RAM-Lake directory (ramlake_path) for the node's user");
      } else {
        d->Add("partition_health", Severity::kCritical,
               Name(p.kind) + " partition file " + p.file + " is missing (deleted, or its RAM disk was unmounted)",
               "restart the node: it recreates the file and reloads the partition from LevelDB");
      }
    } else if (p.restarts == 0) {
      d->Add("partition_health", Severity::kOk, Name(p.kind) + " partition is attached, no restarts");
    }
  }
}

void CheckDiskSpace(const HybridMemoryConfig& config, Diagnosis* d) {
  const std::string path = config.persistent_path;
  struct statvfs vfs {};
  if (path.empty() || ::statvfs(path.c_str(), &vfs) != 0) return;
  const double total = static_cast<double>(vfs.f_blocks) * static_cast<double>(vfs.f_frsize);
  const double free = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
  if (total <= 0) return;
  const std::string seen = FormatBytes(static_cast<std::uint64_t>(free)) + " free of " +
                           FormatBytes(static_cast<std::uint64_t>(total)) + " under " + path;
  if (free / total < 0.05) {
    d->Add("disk_space", Severity::kCritical, seen,
           "free disk space: writes fail with \"no space\" when LevelDB or the WAL cannot grow; postdevai-cli "
           "memory compact reclaims space held by overwritten and deleted values");
  } else if (free / total < 0.15) {
    d->Add("disk_space", Severity::kWarning, seen, "free disk space or move persistent_path to a larger disk");
  } else {
    d->Add("disk_space", Severity::kOk, seen);
  }
}

}  // namespace

std::vector<records::finding> DiagnoseNode(const records::memory_report& stats,
                                           const std::vector<records::store_kind_report>& kinds,
                                           const HybridMemoryConfig& config) {
  Diagnosis d;
  CheckRamDisk(config, stats, &d);
  CheckBudgets(config, stats, &d);
  CheckHitRate(stats, &d);
  CheckSync(config, stats, &d);
  CheckWal(config, stats, &d);
  CheckBackups(config, stats, &d);
  CheckCompression(config, kinds, &d);
  CheckPartitionHealth(stats, &d);
  CheckDiskSpace(config, &d);
  std::vector<records::finding> out;
  for (const auto& f : d.findings()) out.push_back({f.check, SeverityName(f.severity), f.finding, f.action});
  return out;
}

void DiagnoseNode(MemoryClient& memory, HybridMemoryConfig config, Reply<std::vector<records::finding>> done) {
  // Stats, then the store's breakdown, then the checks (file system calls:
  // a few statfs, run on the thread that delivers the breakdown).
  auto shared_config = std::make_shared<HybridMemoryConfig>(std::move(config));
  memory.Stats([&memory, shared_config, done = std::move(done)](Result<records::memory_report> stats) mutable {
    if (!stats.ok()) return done(stats.status());
    memory.Breakdown([shared_config, stats = std::move(*stats), done = std::move(done)](
                         Result<std::vector<records::store_kind_report>> kinds) mutable {
      if (!kinds.ok()) return done(kinds.status());
      done(DiagnoseNode(stats, *kinds, *shared_config));
    });
  });
}

}  // namespace postdevai::client
