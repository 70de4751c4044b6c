// The backup actor: makes backups (storage/backup.h) on demand and every
// [backup] interval_hours, prunes them to [backup] keep, archives the WAL
// segments each checkpoint releases (off the journal's thread: a copy to
// another file system must not stall writes), and prunes the archive to
// what the kept backups need, so it never grows without bound. Detached:
// copying a store is blocking I/O. The store's copy is made by
// PersistentStore::CheckpointInto, which holds the store's writes off for as
// long as it links (or, across file systems, copies) the files: writes are
// still acknowledged meanwhile (the WAL takes them) and applied right after.
// Being the only actor that writes the backup location, it never prunes
// what a backup in progress needs.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "postdevai/log.h"
#include "storage/backup.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::actors {
namespace {

struct backup_state {
  BackupOptions options;
  std::shared_ptr<storage::PersistentStore> store;
  // What stats report, refreshed after each backup and prune.
  storage::ArchiveUsage archive;
  std::uint64_t backups = 0;
  std::uint64_t last_backup_lsn = 0;
  std::uint64_t last_backup_micros = 0;  // wall clock
  std::string error;
  static inline const char* name = "postdevai.backup";
};

using backup_pointer = backup_actor::stateful_pointer<backup_state>;

// Prunes the archive to what the complete backups need; refreshes the
// figures stats reports. Returns how many segments it removed.
Result<std::uint64_t> PruneAndMeasure(backup_pointer self) {
  auto& st = self->state;
  auto backups = storage::ListBackups(st.options.fs, st.options.root);
  if (!backups.ok()) return backups.status();
  auto pruned = storage::PruneArchive(st.options.fs, storage::ArchiveDir(st.options.root), *backups);
  if (!pruned.ok()) return pruned.status();
  st.archive = storage::MeasureArchive(pruned->kept);
  st.backups = backups->size();
  st.last_backup_lsn = backups->empty() ? 0 : backups->back().lsn;
  st.last_backup_micros = 0;
  for (const auto& b : *backups) st.last_backup_micros = std::max(st.last_backup_micros, b.created_micros);
  return pruned->removed.size();
}

Result<backup_report> MakeBackup(backup_pointer self) {
  auto& st = self->state;
  const auto started = std::chrono::steady_clock::now();
  auto store = st.store;
  auto made = storage::CreateBackup(st.options.fs, st.options.root, st.options.staging, store->identity(),
                                    [store](const std::string& dir) { return store->CheckpointInto(dir); },
                                    st.options.hot_tier_files);
  if (!made.ok()) return made.status();
  backup_report r;
  r.path = made->dir;
  r.store = made->store.ToString();
  r.lsn = made->lsn;
  r.files = made->files.size();
  r.bytes = made->bytes();
  auto pruned = storage::PruneBackups(st.options.fs, st.options.root, std::max<std::size_t>(1, st.options.keep));
  if (!pruned.ok()) return pruned.status().WithContext("backup " + made->name + " is made; pruning older ones failed");
  r.pruned_backups = pruned->size();
  auto segments = PruneAndMeasure(self);
  if (!segments.ok()) return segments.status().WithContext("backup " + made->name + " is made; pruning the archive failed");
  r.pruned_segments = *segments;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  LogInfo("backup", "backup " + r.path + " at LSN " + std::to_string(r.lsn) + ": " + std::to_string(r.files) +
                        " files, " + std::to_string(r.bytes) + " bytes in " + std::to_string(r.seconds) + " s");
  return r;
}

backup_actor::behavior_type BackupBehavior(backup_pointer self, BackupOptions options,
                                           std::shared_ptr<storage::PersistentStore> store) {
  self->state.options = std::move(options);
  self->state.store = std::move(store);
  if (auto pruned = PruneAndMeasure(self); !pruned.ok()) self->state.error = pruned.status().ToString();
  self->delayed_send(self, self->state.options.prune_interval, tick_atom_v);
  return {
      [=](backup_atom) -> caf::result<backup_report> {
        auto made = MakeBackup(self);
        if (!made.ok()) return ToError(made.status());
        self->state.error.clear();
        return *made;
      },
      [=](release_atom, std::uint64_t lsn) -> caf::result<std::uint64_t> {
        // The Wal is thread-safe: appends go on in the journal meanwhile.
        Status s = self->state.options.wal->ReleaseThrough(lsn);
        if (!s.ok()) return ToError(s);
        if (auto pruned = PruneAndMeasure(self); !pruned.ok()) {
          self->state.error = "pruning the WAL archive: " + pruned.status().ToString();
          LogWarning("backup", self->state.error);
        }
        return lsn;
      },
      [=](tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, st.options.prune_interval, tick_atom_v);
        const std::uint64_t now = st.options.fs->WallClockMicros();
        const auto interval = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(st.options.interval).count());
        if (interval > 0 && now >= st.last_backup_micros + interval) {
          auto made = MakeBackup(self);
          if (made.ok()) {
            st.error.clear();
          } else {
            st.error = "scheduled backup: " + made.status().ToString();
            LogWarning("backup", st.error + " (retried at the next interval)");
          }
          return;
        }
        auto pruned = PruneAndMeasure(self);
        if (!pruned.ok()) {
          st.error = "pruning the WAL archive: " + pruned.status().ToString();
          LogWarning("backup", st.error);
        }
      },
      [=](stats_atom) -> sync_report {
        auto& st = self->state;
        sync_report r;
        const double now = static_cast<double>(st.options.fs->WallClockMicros());
        auto age = [now](std::uint64_t micros) { return micros == 0 ? 0.0 : std::max(0.0, (now - micros) / 1e6); };
        r.backup_path = st.options.root;
        r.archive_segments = st.archive.segments;
        r.archive_bytes = st.archive.bytes;
        r.archive_oldest_age_seconds = age(st.archive.oldest_micros);
        r.backups = st.backups;
        r.last_backup_lsn = st.last_backup_lsn;
        r.last_backup_age_seconds = age(st.last_backup_micros);
        r.backup_error = st.error;
        return r;
      },
  };
}

}  // namespace

backup_actor SpawnBackup(caf::actor_system& sys, BackupOptions options, std::shared_ptr<storage::PersistentStore> store) {
  return SpawnBlocking(sys, BackupBehavior, std::move(options), std::move(store));
}

}  // namespace postdevai::actors
