// Backups and the WAL archive: what lets the data outlive its disk.
//
// Layout of a backup location (ideally another disk), `root`:
//   <root>/backup-<UTC time>-lsn<N>/        one backup, complete
//       store/...                           a copy of the store's LevelDB
//                                           files as of its checkpoint at N
//       ramlake/...                         hot-tier snapshots taken before
//                                           that checkpoint (optional: the
//                                           vector index's, see CreateBackup)
//       BACKUP                              the manifest (below)
//   <root>/.partial-backup-...              a backup being written (never
//                                           listed; removed by the next one)
//   <root>/wal/e<epoch>-wal-<seq>.log       archived WAL segments (the
//                                           archive), sealed and checkpointed
//
// A backup is consistent by construction: the store's copy is exactly the
// store at one checkpoint LSN N (PersistentStore::CheckpointInto), so it needs
// no WAL; replaying the archive's records after N onto it reaches any later
// LSN the archive holds (point-in-time recovery, RestoreBackup).
//
// The manifest is text, one item per line, and ends with its own checksum:
//   postdevai-backup 1
//   store <16 hex digits>          the store's id
//   epoch <n>
//   lsn <n>                        the checkpoint the copy is at
//   created <microseconds since the Unix epoch>
//   file <bytes> <crc32c, 8 hex> <path relative to the backup>
//   ...
//   end <crc32c, 8 hex, of every byte before this line>
// A backup becomes visible (is renamed from .partial-) only after every file
// and the manifest are synced, so a crash mid-backup leaves no listed backup.
//
// Thread-safety: the functions keep no state. Two of them working on one root
// at once must not both write (create, prune): the node runs them from one
// actor; the CLI's prune removes only complete backups and never the archive.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storage/file_system.h"
#include "storage/persistent_store.h"

namespace postdevai::storage {

struct BackupFile {
  std::string path;  // relative to the backup's directory
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
};

// One complete backup, as its manifest describes it.
struct BackupManifest {
  std::string dir;  // the backup's directory (root/name)
  std::string name;
  StoreIdentity store;
  std::uint64_t lsn = 0;
  std::uint64_t created_micros = 0;
  std::vector<BackupFile> files;
  std::uint64_t bytes() const;
};

inline constexpr std::string_view kBackupManifestName = "BACKUP";
inline constexpr std::string_view kArchiveDirName = "wal";

// Makes a backup of `store` in `root`: a checkpoint at `lsn` copied
// (CheckpointInto) into `staging` -- a directory on the store's file system,
// so that tables are hard-linked and writes wait for milliseconds only --
// then proven by opening the copy, then moved or copied into the root with
// a manifest of sizes and CRC32Cs. `staging` is removed afterwards.
// `checkpoint` performs the first step; the node passes a call into its store
// actor (the only writer), others PersistentStore::CheckpointInto directly.
// Errors name the step; a failed backup leaves no listed backup behind.
//
// `hot_tier_files` (paths; optional) are copied, before the checkpoint, into
// <backup>/ramlake/ under their own names and listed in the manifest: files
// the hot tier rebuilds from the store when they are missing, such as the
// vector index snapshot, carried so that a restore need not rebuild them.
// Copied before the checkpoint, they reflect no write after the backup's LSN,
// which is what makes them a sound starting point for a restore from it
// (each reconciles with the store by LSN). A file that does not exist is left
// out; one that cannot be read fails the backup.
using CheckpointIntoFn = std::function<Result<std::uint64_t>(const std::string& dir)>;
Result<BackupManifest> CreateBackup(FileSystem* fs, const std::string& root, const std::string& staging,
                                    const StoreIdentity& store, const CheckpointIntoFn& checkpoint,
                                    const std::vector<std::string>& hot_tier_files = {});
// The path of the hot-tier file `name` in `backup` (see CreateBackup), or
// nullopt when the backup does not hold one.
std::optional<std::string> BackupHotTierFile(const BackupManifest& backup, std::string_view name);

// The complete backups in root, oldest (lowest LSN) first. A directory whose
// manifest is unreadable is reported in *problems (if given) and skipped.
Result<std::vector<BackupManifest>> ListBackups(FileSystem* fs, const std::string& root,
                                                std::vector<std::string>* problems = nullptr);
// Reads the manifest of the backup in dir: kNotFound when there is none,
// kCorruption when it fails its checksum or does not parse.
Result<BackupManifest> ReadBackupManifest(FileSystem* fs, const std::string& dir);

// What VerifyBackup found: every problem by file, empty when sound.
struct BackupVerification {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;  // read
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};
// Re-reads every byte of every file the manifest lists and compares sizes and
// CRC32Cs. `progress` (may be null) is told the bytes read so far.
Result<BackupVerification> VerifyBackup(FileSystem* fs, const std::string& dir,
                                        const std::function<void(std::uint64_t done, std::uint64_t total)>& progress = {});

// Removes the oldest complete backups beyond the newest `keep` (keep >= 1),
// and unfinished .partial- directories when remove_partial. Returns what it
// removed.
Result<std::vector<BackupManifest>> PruneBackups(FileSystem* fs, const std::string& root, std::size_t keep,
                                                 bool remove_partial = false);

// The archive: WAL segments a checkpoint released (Wal with archive_dir =
// ArchiveDir(root)), named with their epoch.
std::string ArchiveDir(const std::string& root);
struct ArchivedSegment {
  std::string path;
  std::uint64_t sequence = 0;
  std::uint64_t epoch = 0;
  std::uint64_t first_lsn = 0;
  std::uint64_t store_id = 0;
  std::uint64_t bytes = 0;
  std::uint64_t modified_micros = 0;  // since the Unix epoch
};
// The archive's segments, by epoch then sequence. Files that are not
// segments are left out, and so are segments whose header is unsound (named
// in *problems, if given): they are never pruned, and a restore stops at the
// hole they leave.
Result<std::vector<ArchivedSegment>> ListArchive(FileSystem* fs, const std::string& archive_dir,
                                                 std::vector<std::string>* problems = nullptr);
struct ArchiveUsage {
  std::uint64_t segments = 0;
  std::uint64_t bytes = 0;
  std::uint64_t oldest_micros = 0;  // mtime of the oldest segment; 0: none
};
ArchiveUsage MeasureArchive(const std::vector<ArchivedSegment>& segments);
// Removes every archived segment no backup in `backups` needs. A backup
// needs the segments of its store and epoch that hold records after its LSN
// (the last segment of an epoch, whose end is unknown, counts as holding
// some). With no backup the archive serves nothing and is emptied: it never
// grows without bound. Returns the segments removed and those kept.
struct ArchivePruning {
  std::vector<ArchivedSegment> removed;
  std::vector<ArchivedSegment> kept;
};
Result<ArchivePruning> PruneArchive(FileSystem* fs, const std::string& archive_dir,
                                    const std::vector<BackupManifest>& backups);

// Restore: a new store (and an empty WAL directory) from a backup plus the
// archive, replayed exactly up to a target.
struct RestoreTarget {
  std::optional<std::uint64_t> lsn;           // the last LSN to apply
  std::optional<std::uint64_t> time_micros;   // the last write time to apply
};
struct RestorePlan {
  BackupManifest backup;
  std::vector<ArchivedSegment> segments;  // to replay, in order
  std::uint64_t archive_last_lsn = 0;     // estimate: the highest LSN the chosen segments may hold
  std::string ToString() const;
};
struct RestoreReport {
  RestorePlan plan;
  std::uint64_t replayed_records = 0;
  std::uint64_t replayed_bytes = 0;
  std::uint64_t restored_lsn = 0;  // the store's checkpoint afterwards
  std::uint64_t last_write_micros = 0;  // time of the last write applied (0: unknown)
  StoreIdentity identity;          // the new epoch
  double seconds = 0;              // all of it
  double replay_seconds = 0;       // the archive's replay alone
};
// What RestoreBackup would do (nothing is written): the backup's manifest
// read and the segments that continue it, from the archive and, when given,
// a WAL directory of the same store (`wal_dir`: the node's own WAL, moved
// aside, holds the writes no checkpoint has archived yet -- what a restore
// to a few minutes ago needs). A segment in both is taken from the archive.
Result<RestorePlan> PlanRestore(FileSystem* fs, const std::string& backup_dir, const std::string& archive_dir,
                                const RestoreTarget& target, const std::string& wal_dir = "");
// Verifies the backup, copies its store into store_dir (which must hold no
// store) and replays the plan's segments onto it up to the target (all of
// them when no target is given), checkpoints, and starts a new epoch: the
// restored store is a new history, whose LSNs after the target never mix with
// the old one's (RAM-Lake files and WAL segments of the old epoch are
// refused) -- unless start_new_epoch is false: a replica's copy of its
// primary keeps the primary's identity. wal_dir must hold no segments. kInvalidArgument when the target
// is before the backup, or past what the archive holds (naming how far it
// goes); kCorruption when the backup fails verification or the archive has a
// gap.
Result<RestoreReport> RestoreBackup(FileSystem* fs, const RestorePlan& plan, const RestoreTarget& target,
                                    const PersistentStoreOptions& store_options, const std::string& wal_dir,
                                    bool start_new_epoch = true);

}  // namespace postdevai::storage
