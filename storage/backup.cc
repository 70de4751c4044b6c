#include "storage/backup.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <unordered_set>

#include "postdevai/log.h"
#include "storage/cold_tier.h"
#include "storage/crc32c.h"
#include "storage/wal.h"

namespace postdevai::storage {

namespace {

constexpr std::string_view kPartialPrefix = ".partial-";
constexpr std::string_view kBackupPrefix = "backup-";
constexpr std::string_view kStoreDir = "store";
constexpr std::string_view kHotTierDir = "ramlake";
constexpr std::uint64_t kMaxManifestBytes = 64u << 20;

std::string Hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08" PRIx32, v);
  return buf;
}

std::string Hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string BackupName(std::uint64_t micros, std::uint64_t lsn) {
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "backup-%04d%02d%02dT%02d%02d%02d.%06" PRIu64 "Z-lsn%" PRIu64, tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros % 1000000, lsn);
  return buf;
}

std::string EncodeManifest(const BackupManifest& m) {
  std::string out = "postdevai-backup 1\n";
  out += "store " + Hex64(m.store.id) + "\n";
  out += "epoch " + std::to_string(m.store.epoch) + "\n";
  out += "lsn " + std::to_string(m.lsn) + "\n";
  out += "created " + std::to_string(m.created_micros) + "\n";
  for (const auto& f : m.files) out += "file " + std::to_string(f.bytes) + " " + Hex32(f.crc32c) + " " + f.path + "\n";
  out += "end " + Hex32(crc32c::Value(out)) + "\n";
  return out;
}

bool ParseU64(const std::string& s, int base, std::uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoull(s.c_str(), &end, base);
  return errno == 0 && end != nullptr && *end == '\0';
}

Status DecodeManifest(std::string_view text, const std::string& where, BackupManifest* m) {
  auto bad = [&](const std::string& why) { return Status::Corruption("backup manifest " + where + ": " + why); };
  const auto end = text.rfind("end ");
  if (end == std::string_view::npos || (end != 0 && text[end - 1] != '\n')) return bad("no end line (cut short?)");
  std::uint64_t crc = 0;
  std::string end_line(text.substr(end + 4));
  while (!end_line.empty() && end_line.back() == '\n') end_line.pop_back();
  if (!ParseU64(end_line, 16, &crc) || crc != crc32c::Value(text.substr(0, end))) return bad("fails its checksum");
  std::istringstream in{std::string(text.substr(0, end))};
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string tag;
    fields >> tag;
    std::string a, b, c;
    fields >> a;
    if (tag == "postdevai-backup") {
      if (a != "1") return bad("format " + a + ", this build reads 1");
      header = true;
    } else if (tag == "store") {
      if (!ParseU64(a, 16, &m->store.id)) return bad("bad store id");
    } else if (tag == "epoch") {
      if (!ParseU64(a, 10, &m->store.epoch)) return bad("bad epoch");
    } else if (tag == "lsn") {
      if (!ParseU64(a, 10, &m->lsn)) return bad("bad lsn");
    } else if (tag == "created") {
      if (!ParseU64(a, 10, &m->created_micros)) return bad("bad creation time");
    } else if (tag == "file") {
      fields >> b;
      std::getline(fields >> std::ws, c);
      BackupFile f;
      std::uint64_t crc32 = 0;
      if (!ParseU64(a, 10, &f.bytes) || !ParseU64(b, 16, &crc32) || c.empty() || c.find("..") != std::string::npos ||
          c.front() == '/') {
        return bad("bad file line: " + line);
      }
      f.crc32c = static_cast<std::uint32_t>(crc32);
      f.path = c;
      m->files.push_back(std::move(f));
    } else {
      return bad("unknown line: " + line);
    }
  }
  if (!header || m->store.id == 0 || m->store.epoch == 0) return bad("incomplete");
  return Status::Ok();
}

std::string NameOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The archived segment names: "e000003-wal-000000000042.log" or the plain
// "wal-000000000042.log" of a log without an epoch.
bool ParseArchivedName(std::string_view name, std::uint64_t* seq) {
  if (name.starts_with("e")) {
    auto dash = name.find('-');
    if (dash == std::string_view::npos) return false;
    name.remove_prefix(dash + 1);
  }
  return ParseWalSegmentName(name, seq);
}

// Archive order: by epoch, then sequence.
void SortArchive(std::vector<ArchivedSegment>* segments) {
  std::sort(segments->begin(), segments->end(),
            [](const auto& a, const auto& b) { return std::tie(a.epoch, a.sequence) < std::tie(b.epoch, b.sequence); });
}

std::uint64_t ModifiedMicros(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000 + static_cast<std::uint64_t>(st.st_mtim.tv_nsec) / 1000;
}

// Which segments of `segments` (sorted by epoch, then sequence) hold records
// after `lsn` in the history of (store, epoch): the one holding lsn + 1 and
// every later one, as long as the sequence runs on without a hole.
std::vector<ArchivedSegment> SegmentsAfter(const std::vector<ArchivedSegment>& segments, const StoreIdentity& store,
                                           std::uint64_t lsn) {
  std::vector<ArchivedSegment> mine;
  for (const auto& s : segments) {
    if ((s.store_id == store.id || s.store_id == 0) && s.epoch == store.epoch) mine.push_back(s);
  }
  std::size_t first = mine.size();
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const bool last = i + 1 == mine.size();
    // Segment i ends where segment i + 1 starts (or is the last: unknown).
    if (last || mine[i + 1].first_lsn > lsn + 1) {
      first = i;
      break;
    }
  }
  std::vector<ArchivedSegment> out;
  for (std::size_t i = first; i < mine.size(); ++i) {
    if (!out.empty() && mine[i].sequence != out.back().sequence + 1) break;  // a hole: the rest is unusable
    out.push_back(mine[i]);
  }
  return out;
}

}  // namespace

std::uint64_t BackupManifest::bytes() const {
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  return total;
}

std::string ArchiveDir(const std::string& root) { return JoinPath(root, kArchiveDirName); }

Result<BackupManifest> ReadBackupManifest(FileSystem* fs, const std::string& dir) {
  const std::string path = JoinPath(dir, kBackupManifestName);
  if (!fs->FileExists(path)) return Status::NotFound(dir + " is not a backup (it has no " + std::string(kBackupManifestName) + " file)");
  // Bounded before it is read: a store has thousands of files, not millions.
  auto size = fs->GetFileSize(path);
  if (!size.ok()) return size.status();
  if (*size > kMaxManifestBytes) {
    return Status::Corruption("backup manifest " + path + " is " + std::to_string(*size) + " bytes, more than the " +
                              std::to_string(kMaxManifestBytes) + " a manifest may have");
  }
  auto text = ReadFileToString(fs, path);
  if (!text.ok()) return text.status();
  BackupManifest m;
  PDAI_RETURN_IF_ERROR(DecodeManifest(*text, path, &m));
  m.dir = dir;
  m.name = NameOf(dir);
  return m;
}

Result<BackupManifest> CreateBackup(FileSystem* fs, const std::string& root, const std::string& staging,
                                    const StoreIdentity& store, const CheckpointIntoFn& checkpoint,
                                    const std::vector<std::string>& hot_tier_files) {
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(root).WithContext("creating the backup location " + root));
  // What an earlier, failed attempt left.
  const std::string staging_hot = staging + "." + std::string(kHotTierDir);
  for (const auto& dir : {staging, staging_hot}) {
    if (fs->FileExists(dir)) PDAI_RETURN_IF_ERROR(RemoveTree(fs, dir));
  }
  (void)PruneBackups(fs, root, SIZE_MAX, /*remove_partial=*/true);
  auto cleanup = [&] {
    (void)RemoveTree(fs, staging);
    if (fs->FileExists(staging_hot)) (void)RemoveTree(fs, staging_hot);
  };

  // 0. The hot tier's snapshots, before the checkpoint (see backup.h).
  std::vector<std::string> hot_names;
  for (const auto& from : hot_tier_files) {
    if (!fs->FileExists(from)) continue;
    const std::string name = NameOf(from);
    Status s = fs->CreateDirs(staging_hot);
    if (s.ok()) s = CopyFile(fs, from, JoinPath(staging_hot, name));
    if (s.IsNotFound()) continue;  // replaced or removed meanwhile
    if (!s.ok()) {
      cleanup();
      return s.WithContext("copying " + from + " for a backup");
    }
    hot_names.push_back(name);
  }
  // 1. The store as of a checkpoint, on the store's own file system.
  auto lsn = checkpoint(staging);
  if (!lsn.ok()) {
    cleanup();
    return lsn.status().WithContext("copying the store for a backup");
  }
  // 2. Proven: LevelDB opens the copy and finds every file it names.
  {
    PersistentStoreOptions options;
    options.path = staging;
    options.file_system = fs;
    options.cache_size_mb = 0;
    auto opened = PersistentStore::Open(options);
    if (!opened.ok()) {
      cleanup();
      return opened.status().WithContext("the store's copy for a backup does not open (retry the backup)");
    }
    if ((*opened)->CheckpointLsn() != *lsn || (*opened)->identity().id != store.id) {
      cleanup();
      return Status::Corruption("the store's copy for a backup is at LSN " + std::to_string((*opened)->CheckpointLsn()) +
                                ", expected " + std::to_string(*lsn));
    }
  }
  // 3. Into the backup location: moved (same file system) or copied, each
  // file's CRC32C taken from the bytes as they are in the backup.
  BackupManifest m;
  m.store = store;
  m.lsn = *lsn;
  m.created_micros = fs->WallClockMicros();
  m.name = BackupName(m.created_micros, m.lsn);
  m.dir = JoinPath(root, m.name);
  const std::string partial = JoinPath(root, std::string(kPartialPrefix) + m.name);
  // Moves (same file system: then read once for its checksum) or copies the
  // files `names` of `from_dir` into partial/<subdir>, listing each.
  auto take = [&](const std::string& from_dir, std::string_view subdir, const std::vector<std::string>& names) {
    const std::string to_dir = JoinPath(partial, subdir);
    PDAI_RETURN_IF_ERROR(fs->CreateDirs(to_dir));
    for (const auto& name : names) {
      const std::string from = JoinPath(from_dir, name);
      const std::string to = JoinPath(to_dir, name);
      CopiedFile copied;
      if (fs->RenameFile(from, to).ok()) {
        auto sum = ChecksumFile(fs, to);
        if (!sum.ok()) return sum.status();
        copied = *sum;
      } else {
        PDAI_RETURN_IF_ERROR(CopyFile(fs, from, to, &copied));
      }
      m.files.push_back(BackupFile{std::string(subdir) + "/" + name, copied.bytes, copied.crc32c});
    }
    return fs->SyncDir(to_dir);
  };
  auto names = fs->GetChildren(staging);
  Status s = names.status();
  if (s.ok()) {
    std::sort(names->begin(), names->end());
    std::erase_if(*names, [](const std::string& name) {
      return name == "LOCK" || name == "LOG" || name == "LOG.old";  // LevelDB's own, not data
    });
    s = take(staging, kStoreDir, *names);
  }
  if (s.ok() && !hot_names.empty()) s = take(staging_hot, kHotTierDir, hot_names);
  if (s.ok()) s = WriteFileAtomically(fs, JoinPath(partial, kBackupManifestName), EncodeManifest(m));
  if (s.ok()) s = fs->RenameFile(partial, m.dir);
  if (s.ok()) s = fs->SyncDir(root);
  cleanup();
  if (!s.ok()) {
    (void)RemoveTree(fs, partial);
    return s.WithContext("writing the backup into " + root);
  }
  return m;
}

Result<std::vector<BackupManifest>> ListBackups(FileSystem* fs, const std::string& root,
                                                std::vector<std::string>* problems) {
  std::vector<BackupManifest> out;
  if (!fs->FileExists(root)) return out;
  auto names = fs->GetChildren(root);
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    if (!name.starts_with(kBackupPrefix)) continue;
    auto m = ReadBackupManifest(fs, JoinPath(root, name));
    if (!m.ok()) {
      if (problems != nullptr) problems->push_back(m.status().ToString());
      continue;
    }
    out.push_back(std::move(*m));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.store.epoch, a.lsn, a.created_micros) < std::tie(b.store.epoch, b.lsn, b.created_micros);
  });
  return out;
}

Result<BackupVerification> VerifyBackup(FileSystem* fs, const std::string& dir,
                                        const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  auto m = ReadBackupManifest(fs, dir);
  if (!m.ok()) return m.status();
  BackupVerification v;
  const std::uint64_t total = m->bytes();
  for (const auto& f : m->files) {
    ++v.files;
    const std::uint64_t before = v.bytes;
    auto sum = ChecksumFile(fs, JoinPath(dir, f.path), [&](std::uint64_t bytes) {
      v.bytes = before + bytes;
      if (progress) progress(v.bytes, total);
    });
    if (!sum.ok()) {
      v.problems.push_back(f.path + ": " + sum.status().ToString());
    } else if (sum->bytes != f.bytes) {
      v.problems.push_back(f.path + ": " + std::to_string(sum->bytes) + " bytes, the manifest says " +
                           std::to_string(f.bytes));
    } else if (sum->crc32c != f.crc32c) {
      v.problems.push_back(f.path + ": CRC32C " + Hex32(sum->crc32c) + ", the manifest says " + Hex32(f.crc32c) +
                           " (the file's bytes changed)");
    }
  }
  return v;
}

Result<std::vector<BackupManifest>> PruneBackups(FileSystem* fs, const std::string& root, std::size_t keep,
                                                 bool remove_partial) {
  if (keep == 0) return Status::InvalidArgument("prune must keep at least one backup");
  std::vector<BackupManifest> removed;
  if (!fs->FileExists(root)) return removed;
  if (remove_partial) {
    auto names = fs->GetChildren(root);
    if (!names.ok()) return names.status();
    for (const auto& name : *names) {
      if (name.starts_with(kPartialPrefix)) PDAI_RETURN_IF_ERROR(RemoveTree(fs, JoinPath(root, name)));
    }
  }
  auto backups = ListBackups(fs, root);
  if (!backups.ok()) return backups.status();
  if (backups->size() <= keep) return removed;
  const std::size_t drop = backups->size() - keep;
  for (std::size_t i = 0; i < drop; ++i) {
    // The manifest first: a crash midway leaves no listed, half-removed backup.
    const auto& b = (*backups)[i];
    PDAI_RETURN_IF_ERROR(fs->RemoveFile(JoinPath(b.dir, kBackupManifestName)));
    PDAI_RETURN_IF_ERROR(fs->SyncDir(b.dir));
    PDAI_RETURN_IF_ERROR(RemoveTree(fs, b.dir));
    removed.push_back(b);
  }
  PDAI_RETURN_IF_ERROR(fs->SyncDir(root));
  return removed;
}

Result<std::vector<ArchivedSegment>> ListArchive(FileSystem* fs, const std::string& archive_dir,
                                                 std::vector<std::string>* problems) {
  std::vector<ArchivedSegment> out;
  if (!fs->FileExists(archive_dir)) return out;
  auto names = fs->GetChildren(archive_dir);
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    std::uint64_t seq = 0;
    if (!ParseArchivedName(name, &seq)) continue;
    const std::string path = JoinPath(archive_dir, name);
    auto header = ReadWalSegmentHeader(fs, path);
    if (!header.ok()) {
      if (problems != nullptr) problems->push_back(header.status().ToString());
      continue;
    }
    auto size = fs->GetFileSize(path);
    if (!size.ok()) return size.status();
    out.push_back(ArchivedSegment{path, header->sequence, header->epoch, header->first_lsn, header->store_id, *size,
                                  ModifiedMicros(path)});
  }
  SortArchive(&out);
  return out;
}

ArchiveUsage MeasureArchive(const std::vector<ArchivedSegment>& segments) {
  ArchiveUsage u;
  for (const auto& s : segments) {
    ++u.segments;
    u.bytes += s.bytes;
    if (s.modified_micros != 0 && (u.oldest_micros == 0 || s.modified_micros < u.oldest_micros)) {
      u.oldest_micros = s.modified_micros;
    }
  }
  return u;
}

Result<ArchivePruning> PruneArchive(FileSystem* fs, const std::string& archive_dir,
                                    const std::vector<BackupManifest>& backups) {
  auto segments = ListArchive(fs, archive_dir);
  if (!segments.ok()) return segments.status();
  std::unordered_set<std::string> needed;
  for (const auto& b : backups) {
    for (const auto& s : SegmentsAfter(*segments, b.store, b.lsn)) needed.insert(s.path);
  }
  ArchivePruning pruning;
  for (auto& s : *segments) {
    if (needed.count(s.path) > 0) {
      pruning.kept.push_back(std::move(s));
      continue;
    }
    PDAI_RETURN_IF_ERROR(fs->RemoveFile(s.path).WithContext("pruning the WAL archive"));
    pruning.removed.push_back(std::move(s));
  }
  if (!pruning.removed.empty()) PDAI_RETURN_IF_ERROR(fs->SyncDir(archive_dir));
  return pruning;
}

std::string RestorePlan::ToString() const {
  std::string out = "restore backup " + backup.name + " (store " + backup.store.ToString() + ", LSN " +
                    std::to_string(backup.lsn) + ", " + std::to_string(backup.files.size()) + " files, " +
                    std::to_string(backup.bytes()) + " bytes)";
  if (segments.empty()) {
    out += "; no archived WAL continues it: the store is restored as of LSN " + std::to_string(backup.lsn);
  } else {
    std::uint64_t bytes = 0;
    for (const auto& s : segments) bytes += s.bytes;
    out += "; then replay " + std::to_string(segments.size()) + " archived WAL segments (" + std::to_string(bytes) +
           " bytes, from LSN " + std::to_string(segments.front().first_lsn) + ")";
  }
  return out;
}

Result<RestorePlan> PlanRestore(FileSystem* fs, const std::string& backup_dir, const std::string& archive_dir,
                                const RestoreTarget& target, const std::string& wal_dir) {
  RestorePlan plan;
  auto m = ReadBackupManifest(fs, backup_dir);
  if (!m.ok()) return m.status();
  plan.backup = std::move(*m);
  if (target.lsn && *target.lsn < plan.backup.lsn) {
    return Status::InvalidArgument("target LSN " + std::to_string(*target.lsn) + " is before backup " +
                                   plan.backup.name + " (LSN " + std::to_string(plan.backup.lsn) +
                                   "): restore an older backup");
  }
  if (target.time_micros && *target.time_micros < plan.backup.created_micros) {
    // The copy holds every write up to its checkpoint, made just before it
    // was created: it may hold writes after the target.
    return Status::InvalidArgument("target time is before backup " + plan.backup.name +
                                   " was taken: restore an older backup");
  }
  auto segments = ListArchive(fs, archive_dir);
  if (!segments.ok()) return segments.status();
  if (!wal_dir.empty()) {
    if (!fs->FileExists(wal_dir)) return Status::NotFound("no WAL directory at " + wal_dir);
    auto live = ListArchive(fs, wal_dir);
    if (!live.ok()) return live.status();
    for (auto& s : *live) {
      const bool archived = std::any_of(segments->begin(), segments->end(), [&](const ArchivedSegment& a) {
        return a.epoch == s.epoch && a.sequence == s.sequence;
      });
      if (!archived) segments->push_back(std::move(s));
    }
    SortArchive(&*segments);
  }
  plan.segments = SegmentsAfter(*segments, plan.backup.store, plan.backup.lsn);
  if (!plan.segments.empty() && plan.segments.front().first_lsn > plan.backup.lsn + 1) {
    return Status::Corruption("the WAL archive in " + archive_dir + " starts at LSN " +
                              std::to_string(plan.segments.front().first_lsn) + " but backup " + plan.backup.name +
                              " ends at LSN " + std::to_string(plan.backup.lsn) + ": LSNs " +
                              std::to_string(plan.backup.lsn + 1) + " to " +
                              std::to_string(plan.segments.front().first_lsn - 1) + " are missing");
  }
  return plan;
}

std::optional<std::string> BackupHotTierFile(const BackupManifest& backup, std::string_view name) {
  const std::string path = std::string(kHotTierDir) + "/" + std::string(name);
  for (const auto& f : backup.files) {
    if (f.path == path) return JoinPath(backup.dir, path);
  }
  return std::nullopt;
}

Result<RestoreReport> RestoreBackup(FileSystem* fs, const RestorePlan& plan, const RestoreTarget& target,
                                    const PersistentStoreOptions& store_options, const std::string& wal_dir,
                                    bool start_new_epoch) {
  const auto started = std::chrono::steady_clock::now();
  RestoreReport report;
  report.plan = plan;
  const BackupManifest& backup = plan.backup;
  if (fs->FileExists(JoinPath(store_options.path, "CURRENT"))) {
    return Status::InvalidArgument("a store exists at " + store_options.path +
                                   ": move it away first (a restore never overwrites data)");
  }
  if (fs->FileExists(wal_dir)) {
    auto names = fs->GetChildren(wal_dir);
    if (!names.ok()) return names.status();
    for (const auto& name : *names) {
      std::uint64_t seq;
      if (ParseWalSegmentName(name, &seq)) {
        return Status::InvalidArgument("the WAL directory " + wal_dir + " holds segments (" + name +
                                       "): move it away first (its records would be replayed onto the restore)");
      }
    }
  }
  // 1. The backup, every byte checked.
  auto verified = VerifyBackup(fs, backup.dir);
  if (!verified.ok()) return verified.status();
  if (!verified->ok()) {
    return Status::Corruption("backup " + backup.name + " fails verification: " + verified->problems.front() +
                              (verified->problems.size() > 1
                                   ? " (and " + std::to_string(verified->problems.size() - 1) + " more)"
                                   : std::string()));
  }
  // 2. Its store, copied beside the final place: it takes that place only
  // once the restore is complete.
  PersistentStoreOptions restoring = store_options;
  restoring.path = store_options.path + ".restoring";
  // A bulk load: a larger memtable means fewer, larger level-0 tables and
  // fewer compaction stalls while the archive is replayed.
  restoring.write_buffer_size = std::max<std::size_t>(store_options.write_buffer_size, 64u << 20);
  if (fs->FileExists(restoring.path)) PDAI_RETURN_IF_ERROR(RemoveTree(fs, restoring.path));
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(restoring.path));
  for (const auto& f : backup.files) {
    if (!f.path.starts_with(std::string(kStoreDir) + "/")) continue;  // the hot tier's: the caller's to install
    const std::string name = NameOf(f.path);
    PDAI_RETURN_IF_ERROR(CopyFile(fs, JoinPath(backup.dir, f.path), JoinPath(restoring.path, name)));
  }
  PDAI_RETURN_IF_ERROR(fs->SyncDir(restoring.path));
  auto opened = PersistentStore::Open(restoring);
  if (!opened.ok()) return opened.status().WithContext("opening the restored store");
  PersistentStore& store = **opened;
  // Dictionaries come from the log (ImportDictionary), in order; one the
  // store trained itself meanwhile would take an id the log uses.
  store.set_auto_training(false);
  if (store.identity().id != backup.store.id || store.CheckpointLsn() != backup.lsn) {
    return Status::Corruption("the restored store is " + store.identity().ToString() + " at LSN " +
                              std::to_string(store.CheckpointLsn()) + ", the manifest says " +
                              backup.store.ToString() + " at LSN " + std::to_string(backup.lsn));
  }
  // 3. The archive replayed onto it, from a scratch copy of the segments
  // (opening a log writes to its directory), up to the target.
  std::uint64_t applied = backup.lsn;
  const auto replay_started = std::chrono::steady_clock::now();
  if (!plan.segments.empty()) {
    const std::string scratch = store_options.path + ".restore-wal";
    if (fs->FileExists(scratch)) PDAI_RETURN_IF_ERROR(RemoveTree(fs, scratch));
    PDAI_RETURN_IF_ERROR(fs->CreateDirs(scratch));
    for (const auto& s : plan.segments) {
      const std::string to = JoinPath(scratch, WalSegmentName(s.sequence));
      if (!fs->LinkFile(s.path, to).ok()) PDAI_RETURN_IF_ERROR(CopyFile(fs, s.path, to));
    }
    WalOptions wal_options;
    wal_options.dir = scratch;
    wal_options.fs = fs;
    wal_options.archive = false;
    wal_options.store_id = backup.store.id;
    wal_options.prepare_segments_in_background = false;
    // Reading takes each file as long as it is; the segment Open starts
    // after recovery (never written here) is kept as small as a log allows.
    wal_options.segment_size = 8192;
    bool stopped = false;
    std::uint64_t clock = 0;
    ReplayApplier applier(store);
    WalRecoveryReport wal_report;
    auto wal = Wal::Open(wal_options, backup.lsn, [&](const WalRecord& r) -> Status {
      if (stopped) return Status::Ok();
      if (target.lsn && r.lsn > *target.lsn) {
        stopped = true;
        return Status::Ok();
      }
      if (const auto logged = r.type == kWalRecordMutations ? LoggedTime(r.payload) : std::nullopt) {
        if (target.time_micros && *logged > *target.time_micros) {
          stopped = true;
          return Status::Ok();
        }
        clock = *logged;
      }
      PDAI_RETURN_IF_ERROR(applier.Add(r.type, r.payload, r.lsn));
      ++report.replayed_records;
      report.replayed_bytes += r.payload.size();
      applied = r.lsn;
      return Status::Ok();
    }, &wal_report);
    if (!wal.ok()) return wal.status().WithContext("replaying the WAL archive");
    wal->reset();
    PDAI_RETURN_IF_ERROR(applier.Finish().WithContext("replaying the WAL archive"));
    PDAI_RETURN_IF_ERROR(RemoveTree(fs, scratch));
    report.last_write_micros = clock;
  }
  report.replay_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - replay_started).count();
  if (target.lsn && applied < *target.lsn) {
    opened->reset();
    (void)RemoveTree(fs, restoring.path);
    return Status::InvalidArgument("target LSN " + std::to_string(*target.lsn) + " is past what backup " +
                                   backup.name + " and the archive hold (up to LSN " + std::to_string(applied) +
                                   "): nothing was restored");
  }
  // 4. A new history from here: checkpointed at what was applied, new epoch.
  PDAI_RETURN_IF_ERROR(store.Checkpoint(applied).WithContext("checkpointing the restored store"));
  auto identity = start_new_epoch ? store.StartNewEpoch(applied + 1) : Result<StoreIdentity>(store.identity());
  if (!identity.ok()) return identity.status();
  report.identity = *identity;
  report.restored_lsn = applied;
  opened->reset();  // LevelDB closed before its directory moves
  if (fs->FileExists(store_options.path)) PDAI_RETURN_IF_ERROR(RemoveTree(fs, store_options.path));  // holds no store
  PDAI_RETURN_IF_ERROR(fs->RenameFile(restoring.path, store_options.path));
  PDAI_RETURN_IF_ERROR(fs->SyncDir(DirName(store_options.path)));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace postdevai::storage
