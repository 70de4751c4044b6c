// `memory backup` (through the node) and `backup list|verify|prune` (on the
// backup location's files, so they work with no node running: after losing
// the data disk is when they matter most).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "programs/cli/commands.h"
#include "storage/backup.h"

namespace postdevai::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::string FormatTime(std::uint64_t micros) {
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// The backup location: DIR when given, else --config's [backup] path.
Result<std::string> BackupRoot(CommandContext& ctx, const ParsedArgs& args) {
  if (!args.positionals.empty()) return args.positionals[0];
  if (ctx.config()) return ctx.config()->BackupPath();
  return Status::InvalidArgument("which backup location? give DIR, or --config with the node's [backup] path");
}

Json ManifestJson(const storage::BackupManifest& b) {
  Json j = Json::MakeObject();
  j.Set("path", b.dir)
      .Set("name", b.name)
      .Set("store", b.store.ToString())
      .Set("lsn", b.lsn)
      .Set("created", FormatTime(b.created_micros))
      .Set("created_micros", b.created_micros)
      .Set("files", static_cast<std::uint64_t>(b.files.size()))
      .Set("bytes", b.bytes());
  return j;
}

}  // namespace

Status MemoryBackup(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto made = (*node)->memory().Backup();
  if (!made.ok()) return made.status();
  ctx.result()
      .Set("node", (*node)->endpoint())
      .Set("path", made->path)
      .Set("store", made->store)
      .Set("lsn", made->lsn)
      .Set("files", made->files)
      .Set("bytes", made->bytes)
      .Set("seconds", made->seconds)
      .Set("pruned_backups", made->pruned_backups)
      .Set("pruned_archive_segments", made->pruned_segments);
  if (!ctx.json()) {
    std::printf("backup %s: every write up to LSN %llu, %llu files, %s, in %s\n", made->path.c_str(),
                static_cast<unsigned long long>(made->lsn), static_cast<unsigned long long>(made->files),
                FormatBytes(made->bytes).c_str(), FormatSeconds(made->seconds).c_str());
    if (made->pruned_backups > 0 || made->pruned_segments > 0) {
      std::printf("pruned %llu older backups and %llu archived WAL segments no kept backup needs\n",
                  static_cast<unsigned long long>(made->pruned_backups),
                  static_cast<unsigned long long>(made->pruned_segments));
    }
  }
  return Status::Ok();
}

Status BackupList(CommandContext& ctx, const ParsedArgs& args) {
  auto root = BackupRoot(ctx, args);
  if (!root.ok()) return root.status();
  storage::FileSystem* fs = storage::FileSystem::Default();
  if (!fs->FileExists(*root)) return Status::NotFound("no backup location at " + *root);
  std::vector<std::string> problems;
  auto backups = storage::ListBackups(fs, *root, &problems);
  if (!backups.ok()) return backups.status();
  auto archive = storage::ListArchive(fs, storage::ArchiveDir(*root), &problems);
  if (!archive.ok()) return archive.status();
  const storage::ArchiveUsage usage = storage::MeasureArchive(*archive);
  Json list = Json::MakeArray();
  for (const auto& b : *backups) list.Push(ManifestJson(b));
  Json unreadable = Json::MakeArray();
  for (const auto& p : problems) unreadable.Push(Json(p));
  ctx.result()
      .Set("location", *root)
      .Set("backups", std::move(list))
      .Set("unreadable", std::move(unreadable))
      .Set("archive_segments", usage.segments)
      .Set("archive_bytes", usage.bytes);
  if (!ctx.json()) {
    if (backups->empty()) std::printf("no backups in %s\n", root->c_str());
    for (const auto& b : *backups) {
      std::printf("%s  LSN %-12llu %s  %zu files  %s\n", b.name.c_str(), static_cast<unsigned long long>(b.lsn),
                  FormatTime(b.created_micros).c_str(), b.files.size(), FormatBytes(b.bytes()).c_str());
    }
    std::printf("WAL archive: %llu segments, %s\n", static_cast<unsigned long long>(usage.segments),
                FormatBytes(usage.bytes).c_str());
    for (const auto& p : problems) std::fprintf(stderr, "unreadable: %s\n", p.c_str());
  }
  return Status::Ok();
}

Status BackupVerify(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& dir = args.positionals[0];
  storage::FileSystem* fs = storage::FileSystem::Default();
  const bool tty = ::isatty(STDERR_FILENO) != 0 && !ctx.json();
  auto last = Clock::now();
  const auto start = last;
  auto verified = storage::VerifyBackup(fs, dir, [&](std::uint64_t done, std::uint64_t total) {
    if (!tty || Clock::now() - last < std::chrono::milliseconds(500)) return;
    last = Clock::now();
    std::fprintf(stderr, "\rverifying: %s of %s", FormatBytes(done).c_str(), FormatBytes(total).c_str());
  });
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!verified.ok()) return verified.status();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Json problems = Json::MakeArray();
  for (const auto& p : verified->problems) problems.Push(Json(p));
  ctx.result()
      .Set("path", dir)
      .Set("ok", verified->ok())
      .Set("files", verified->files)
      .Set("bytes", verified->bytes)
      .Set("seconds", seconds)
      .Set("problems", std::move(problems));
  if (!verified->ok()) {
    std::string what;
    for (const auto& p : verified->problems) what += "\n  " + p;
    return Status::Corruption("backup " + dir + " fails verification (" + std::to_string(verified->problems.size()) +
                              " of " + std::to_string(verified->files) + " files):" + what);
  }
  if (!ctx.json()) {
    std::printf("backup %s is sound: %llu files, %s re-read against the manifest in %s\n", dir.c_str(),
                static_cast<unsigned long long>(verified->files), FormatBytes(verified->bytes).c_str(),
                FormatSeconds(seconds).c_str());
  }
  return Status::Ok();
}

Status BackupPrune(CommandContext& ctx, const ParsedArgs& args) {
  auto root = BackupRoot(ctx, args);
  if (!root.ok()) return root.status();
  auto keep_arg = args.Get("--keep");
  if (!keep_arg) return Status::InvalidArgument("backup prune: --keep N is required");
  auto keep = ParseCount(*keep_arg, 1000000, "--keep");
  if (!keep.ok()) return keep.status();
  if (*keep == 0) return Status::InvalidArgument("--keep must be at least 1 (a prune never removes every backup)");
  storage::FileSystem* fs = storage::FileSystem::Default();
  if (!fs->FileExists(*root)) return Status::NotFound("no backup location at " + *root);
  auto removed = storage::PruneBackups(fs, *root, *keep);
  if (!removed.ok()) return removed.status();
  Json list = Json::MakeArray();
  for (const auto& b : *removed) list.Push(ManifestJson(b));
  ctx.result().Set("location", *root).Set("kept", *keep).Set("removed", std::move(list));
  if (!ctx.json()) {
    for (const auto& b : *removed) std::printf("removed %s (LSN %llu)\n", b.name.c_str(), static_cast<unsigned long long>(b.lsn));
    std::printf("%zu backups removed, the newest %llu kept; the node prunes the WAL archive to what they need at its "
                "next checkpoint\n",
                removed->size(), static_cast<unsigned long long>(*keep));
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
