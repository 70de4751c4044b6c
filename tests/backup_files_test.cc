// Backups and the WAL archive as files (storage/backup.h): what a failed or
// killed backup leaves, what pruning keeps, and archiving across file
// systems. The end-to-end path with real processes is in backup_test.cc.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "storage/backup.h"
#include "storage/cold_tier.h"
#include "storage/fault_injection_file_system.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using postdevai::testing::ReadFile;
using postdevai::testing::TempDir;
using postdevai::testing::WriteFile;
using Catch::Matchers::Contains;

namespace {

std::unique_ptr<PersistentStore> StoreWithData(const std::string& path, FileSystem* fs, int n) {
  PersistentStoreOptions options;
  options.path = path;
  options.file_system = fs;
  auto store = PersistentStore::Open(options);
  REQUIRE(store.ok());
  for (int i = 1; i <= n; ++i) {
    REQUIRE((*store)->Put(Kind::kMetadata, "key" + std::to_string(i), "value " + std::to_string(i), i).ok());
  }
  return std::move(*store);
}

Result<BackupManifest> Backup(FileSystem* fs, PersistentStore& store, const std::string& root) {
  return CreateBackup(fs, root, store.options().path + ".backup-staging", store.identity(),
                      [&](const std::string& dir) { return store.CheckpointInto(dir); });
}

std::size_t Entries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a failed backup leaves nothing listed, and the next one cleans up and succeeds", "[backup]") {
  TempDir dir("backup-fail");
  FaultInjectionFileSystem fs;
  auto store = StoreWithData(dir / "store", &fs, 100);
  const std::string root = dir / "backups";
  // The manifest cannot be written (the backup disk is full).
  fs.InjectFault(FaultRule{FaultOp::kWrite, StatusCode::kNoSpace, "BACKUP", 0, -1});
  auto failed = Backup(&fs, *store, root);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().IsNoSpace());
  fs.ClearFaults();
  auto listed = ListBackups(&fs, root);
  REQUIRE(listed.ok());
  CHECK(listed->empty());
  CHECK(Entries(root) == 0);  // no partial directory left behind
  CHECK_FALSE(std::filesystem::exists(dir / "store.backup-staging"));

  // A backup killed midway leaves a partial directory and a staging copy:
  // never listed, removed by the next backup.
  std::filesystem::create_directories(root + "/.partial-backup-x/store");
  std::filesystem::create_directories(dir / "store.backup-staging");
  WriteFile(dir / "store.backup-staging/CURRENT", "MANIFEST-000001\n");
  auto made = Backup(&fs, *store, root);
  REQUIRE(made.ok());
  CHECK_FALSE(std::filesystem::exists(root + "/.partial-backup-x"));
  listed = ListBackups(&fs, root);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().lsn == 100);
  auto verified = VerifyBackup(&fs, made->dir);
  REQUIRE(verified.ok());
  CHECK(verified->ok());
}

TEST_CASE("a manifest that fails its checksum is reported, not listed as a backup", "[backup]") {
  TempDir dir("backup-manifest");
  auto store = StoreWithData(dir / "store", FileSystem::Default(), 10);
  const std::string root = dir / "backups";
  auto made = Backup(FileSystem::Default(), *store, root);
  REQUIRE(made.ok());
  std::string manifest = ReadFile(made->dir + "/BACKUP");
  manifest[manifest.find("lsn ") + 4] = '9';
  WriteFile(made->dir + "/BACKUP", manifest);
  std::vector<std::string> problems;
  auto listed = ListBackups(FileSystem::Default(), root, &problems);
  REQUIRE(listed.ok());
  CHECK(listed->empty());
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems.front(), Contains("fails its checksum"));
  CHECK(VerifyBackup(FileSystem::Default(), made->dir).status().IsCorruption());
}

TEST_CASE("the archive keeps exactly what the backups need, epoch by epoch, and nothing without one", "[backup]") {
  TempDir dir("backup-archive");
  const std::string root = dir / "backups";
  const std::string archive = ArchiveDir(root);
  auto write_log = [&](std::uint64_t epoch, std::uint64_t first_lsn, int records) {
    WalOptions options;
    options.dir = dir / ("wal-" + std::to_string(epoch));
    options.segment_size = 64 << 10;
    options.archive_dir = archive;
    options.store_id = 0xABC;
    options.epoch = epoch;
    options.min_next_lsn = first_lsn;
    auto wal = Wal::Open(options, first_lsn - 1, nullptr);
    REQUIRE(wal.ok());
    for (int i = 0; i < records; ++i) REQUIRE((*wal)->Append(kWalRecordMutations, std::string(1000, 'x')).ok());
    REQUIRE((*wal)->ReleaseThrough((*wal)->durable_lsn()).ok());
  };
  write_log(1, 1, 600);    // epoch 1: LSNs 1..600, several segments
  write_log(2, 301, 300);  // epoch 2 after a restore to LSN 300: LSNs 301..600 again
  auto all = ListArchive(FileSystem::Default(), archive);
  REQUIRE(all.ok());
  REQUIRE(all->size() >= 6);

  auto manifest = [](std::uint64_t epoch, std::uint64_t lsn) {
    BackupManifest m;
    m.store = StoreIdentity{0xABC, epoch};
    m.lsn = lsn;
    return m;
  };
  // A backup of epoch 2 at LSN 450 needs epoch 2's segments from the one
  // holding 451 on; nothing of epoch 1.
  auto removed = PruneArchive(FileSystem::Default(), archive, {manifest(2, 450)});
  REQUIRE(removed.ok());
  auto left = ListArchive(FileSystem::Default(), archive);
  REQUIRE(left.ok());
  REQUIRE_FALSE(left->empty());
  CHECK(removed->kept.size() == left->size());
  CHECK(removed->removed.size() + left->size() == all->size());
  for (std::size_t i = 0; i < left->size(); ++i) {
    const auto& s = (*left)[i];
    CHECK(s.epoch == 2);
    if (i + 1 < left->size()) CHECK((*left)[i + 1].first_lsn > 451);  // each kept one holds LSNs past 450
  }
  CHECK(left->front().first_lsn <= 451);
  // A damaged file among them is reported, left alone, and stops nothing.
  WriteFile(archive + "/e000002-wal-000000000099.log", "not a segment");
  std::vector<std::string> problems;
  left = ListArchive(FileSystem::Default(), archive, &problems);
  REQUIRE(left.ok());
  CHECK(problems.size() == 1);
  // No backup: nothing is needed.
  REQUIRE(PruneArchive(FileSystem::Default(), archive, {}).ok());
  left = ListArchive(FileSystem::Default(), archive);
  REQUIRE(left.ok());
  CHECK(left->empty());
  CHECK(std::filesystem::exists(archive + "/e000002-wal-000000000099.log"));
}

TEST_CASE("WAL segments are archived onto another file system by copying", "[backup][wal]") {
  TempDir disk("archive-disk");
  TempDir other("archive-shm", "/dev/shm");  // another file system than /tmp's
  WalOptions options;
  options.dir = disk / "wal";
  options.segment_size = 64 << 10;
  options.archive_dir = other / "wal";
  options.store_id = 7;
  options.epoch = 3;
  auto wal = Wal::Open(options, 0, nullptr);
  REQUIRE(wal.ok());
  for (int i = 0; i < 300; ++i) REQUIRE((*wal)->Append(kWalRecordMutations, std::string(1000, 'y')).ok());
  const std::uint64_t before = (*wal)->stats().segments;
  REQUIRE((*wal)->ReleaseThrough((*wal)->durable_lsn()).ok());
  CHECK((*wal)->stats().segments == 1);  // the active one stays
  auto archived = ListArchive(FileSystem::Default(), options.archive_dir);
  REQUIRE(archived.ok());
  CHECK(archived->size() == before - 1);
  for (const auto& s : *archived) {
    CHECK(s.store_id == 7);
    CHECK(s.epoch == 3);
    CHECK(std::filesystem::path(s.path).filename().string().starts_with("e000003-wal-"));
    CHECK_FALSE(std::filesystem::exists(options.dir + "/" + WalSegmentName(s.sequence)));
  }
}

TEST_CASE("hot-tier files ride along in a backup: listed and verified with it and left out of a restored store",
          "[backup]") {
  TempDir dir("backup-hot");
  FileSystem* fs = FileSystem::Default();
  auto store = StoreWithData(dir / "store", fs, 50);
  std::filesystem::create_directories(dir / "ram");
  const std::string snapshot = dir / "ram/vectors.index";
  WriteFile(snapshot, "the index as of some LSN at or before the backup's");
  const std::string root = dir / "backups";
  auto made = CreateBackup(fs, root, store->options().path + ".backup-staging", store->identity(),
                           [&](const std::string& d) { return store->CheckpointInto(d); },
                           {snapshot, dir / "ram/not-there"});
  REQUIRE(made.ok());
  // Listed beside the store's files; one that does not exist is left out.
  auto carried = BackupHotTierFile(*made, "vectors.index");
  REQUIRE(carried.has_value());
  CHECK(*carried == made->dir + "/ramlake/vectors.index");
  CHECK(ReadFile(*carried) == ReadFile(snapshot));
  CHECK_FALSE(BackupHotTierFile(*made, "not-there").has_value());
  auto listed = ReadBackupManifest(fs, made->dir);
  REQUIRE(listed.ok());
  CHECK(std::count_if(listed->files.begin(), listed->files.end(),
                      [](const BackupFile& f) { return f.path == "ramlake/vectors.index"; }) == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "store.backup-staging.ramlake"));

  // A restore builds the store from the store's files only.
  auto plan = PlanRestore(fs, made->dir, ArchiveDir(root), RestoreTarget{}, "");
  REQUIRE(plan.ok());
  PersistentStoreOptions restored_options;
  restored_options.path = dir / "restored";
  auto restored = RestoreBackup(fs, *plan, RestoreTarget{}, restored_options, dir / "restored-wal");
  INFO(restored.status().ToString());
  REQUIRE(restored.ok());
  CHECK(restored->restored_lsn == 50);
  CHECK_FALSE(std::filesystem::exists(dir / "restored/vectors.index"));
  auto reopened = PersistentStore::Open(restored_options);
  REQUIRE(reopened.ok());
  auto got = (*reopened)->Get(Kind::kMetadata, "key50");
  REQUIRE(got.ok());
  CHECK(*got == "value 50");

  // Verification covers it: a flipped byte is named.
  std::string bytes = ReadFile(*carried);
  bytes[3] ^= 1;
  WriteFile(*carried, bytes);
  auto verified = VerifyBackup(fs, made->dir);
  REQUIRE(verified.ok());
  REQUIRE_FALSE(verified->ok());
  CHECK_THAT(verified->problems.front(), Contains("ramlake/vectors.index"));
}
