// postdevai-bench backup: how long a backup, its verification and a restore
// take, beside plain copies of the same bytes.
//
// Fills a persistent store until LevelDB holds --store-mib MiB on disk
// (values that compress about 2x, as code does), then times:
//   backup    storage::CreateBackup into a backup location on the same disk
//             (tables hard-linked, every byte read once for its checksum) or
//             into --backup-dir (another file system: every byte copied);
//   verify    re-reading every byte against the manifest;
//   restore   storage::RestoreBackup of that backup plus --replay-mib MiB of
//             writes logged after it (archived WAL segments, compressed as the
//             engine logs them): the replay rate in MB/s of values.
// Peers in the same run: copying the store's directory file by file (the
// least any copying backup costs) and LevelDB's own ingest of the replayed
// values (what any replay into it is bound by).
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/backup.h"
#include "storage/cold_tier.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::bench {
namespace {

// Code-like text with a random part: compresses about 2x.
std::string HalfRandomValue(std::uint64_t seed, std::size_t bytes) {
  std::string v = CodeLikeValue(seed, bytes / 2);
  std::mt19937_64 random(seed);
  while (v.size() < bytes) {
    const std::uint64_t r = random();
    v.append(reinterpret_cast<const char*>(&r), sizeof r);
  }
  v.resize(bytes);
  return v;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "backup: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int RunBackupBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf("postdevai-bench backup [--store-mib N (1024)] [--replay-mib N (512)] [--backup-dir DIR] [--json]\n"
                "  --store-mib: the store's size on disk to back up\n"
                "  --replay-mib: MiB of values written after the backup, replayed by the restore\n"
                "  --backup-dir: a backup location on another file system (default: beside the store)\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const auto store_mib = static_cast<std::uint64_t>(OptionInt(args, "--store-mib", 1024));
  const auto replay_mib = static_cast<std::uint64_t>(OptionInt(args, "--replay-mib", 512));
  const std::string dir = MakeScratchDir("backup");
  const std::string other = OptionValue(args, "--backup-dir", "");
  const std::string root = other.empty() ? dir + "/backups" : other + "/postdevai-bench-backups";
  storage::FileSystem* fs = storage::FileSystem::Default();
  constexpr std::size_t kValueBytes = 4096;

  // 1. The store.
  storage::PersistentStoreOptions options;
  options.path = dir + "/store";
  options.file_system = fs;
  auto opened = storage::PersistentStore::Open(options);
  if (!opened.ok()) return Fail(opened.status());
  std::shared_ptr<storage::PersistentStore> store(std::move(*opened));
  std::uint64_t lsn = 0, raw = 0;
  auto started = Clock::now();
  while (store->ApproximateDiskBytes() < (store_mib << 20)) {
    storage::StoreWriteBatch batch;
    for (int i = 0; i < 1000; ++i, ++lsn) {
      const std::string value = HalfRandomValue(lsn, kValueBytes);
      raw += value.size();
      batch.Put(storage::Kind::kCode, "code/" + std::to_string(lsn), value, lsn + 1);
    }
    if (Status s = store->Write(batch); !s.ok()) return Fail(s);
  }
  if (Status s = store->Checkpoint(lsn); !s.ok()) return Fail(s);
  const std::uint64_t disk_bytes = store->ApproximateDiskBytes();
  std::fprintf(stderr, "backup: store of %.0f MiB on disk (%llu values, %.0f MiB raw) in %.1f s\n",
               static_cast<double>(disk_bytes) / (1 << 20), static_cast<unsigned long long>(lsn),
               static_cast<double>(raw) / (1 << 20), SecondsSince(started));

  // 2. The backup, and its verification.
  started = Clock::now();
  auto made = storage::CreateBackup(fs, root, options.path + ".backup-staging", store->identity(),
                                    [&](const std::string& staging) { return store->CheckpointInto(staging); });
  if (!made.ok()) return Fail(made.status());
  const double backup_seconds = SecondsSince(started);
  std::fprintf(stderr, "backup: %s: %.0f MiB in %.2f s\n", made->dir.c_str(),
               static_cast<double>(made->bytes()) / (1 << 20), backup_seconds);
  started = Clock::now();
  auto verified = storage::VerifyBackup(fs, made->dir);
  if (!verified.ok()) return Fail(verified.status());
  if (!verified->ok()) return Fail(Status::Corruption(verified->problems.front()));
  const double verify_seconds = SecondsSince(started);
  std::fprintf(stderr, "backup: verified in %.2f s\n", verify_seconds);

  // The peer: the store's files copied one by one, after the backup (by then
  // the fill's background compactions are over for both); removing the copy
  // is not timed.
  double copy_seconds = 0;
  started = Clock::now();
  std::uint64_t copied_bytes = 0;
  {
    const std::string copy = (other.empty() ? dir : other) + "/plain-copy";
    std::filesystem::create_directories(copy);
    for (const auto& e : std::filesystem::directory_iterator(options.path)) {
      storage::CopiedFile c;
      Status s = storage::CopyFile(fs, e.path().string(), copy + "/" + e.path().filename().string(), &c);
      if (s.IsNotFound()) continue;  // compacted away meanwhile (this copy is a yardstick, not a backup)
      if (!s.ok()) return Fail(s);
      copied_bytes += c.bytes;
    }
    (void)fs->SyncDir(copy);
    copy_seconds = SecondsSince(started);
    std::fprintf(stderr, "backup: peer, plain copy of the store's %.0f MiB: %.2f s\n",
                 static_cast<double>(copied_bytes) / (1 << 20), copy_seconds);
    RemoveTree(copy);
  }

  // 4. Writes after the backup, archived as a node archives them.
  std::uint64_t replay_raw = 0, replay_records = 0;
  {
    storage::WalOptions wal_options;
    wal_options.dir = dir + "/wal";
    wal_options.archive_dir = storage::ArchiveDir(root);
    wal_options.store_id = store->identity().id;
    wal_options.epoch = store->identity().epoch;
    wal_options.min_next_lsn = made->lsn + 1;
    auto wal = storage::Wal::Open(wal_options, made->lsn, nullptr);
    if (!wal.ok()) return Fail(wal.status());
    std::vector<std::string> payloads;
    std::uint64_t batch_raw = 0;
    for (int i = 0; i < 1000; ++i) {
      const std::string value = HalfRandomValue(1000000 + static_cast<std::uint64_t>(i), kValueBytes);
      auto payload = storage::EncodeLoggedWrite(
          *store, {storage::Mutation{storage::Kind::kCode, "code/new/" + std::to_string(i), value}});
      if (!payload.ok()) return Fail(payload.status());
      payloads.push_back(std::move(*payload));
      batch_raw += value.size();
    }
    std::vector<storage::WalEntry> batch;
    for (const auto& p : payloads) batch.push_back({storage::kWalRecordMutations, p});
    while (replay_raw < (replay_mib << 20)) {
      auto appended = (*wal)->AppendBatch(batch);
      if (!appended.ok()) return Fail(appended.status());
      replay_raw += batch_raw;
      replay_records += batch.size();
    }
    // Every sealed segment into the archive (the active one stays: as a node's).
    if (Status s = (*wal)->ReleaseThrough((*wal)->durable_lsn()); !s.ok()) return Fail(s);
  }
  store.reset();

  // 5. The restore: the backup, then the archive replayed.
  storage::RestoreTarget everything;
  auto plan = storage::PlanRestore(fs, made->dir, storage::ArchiveDir(root), everything);
  if (!plan.ok()) return Fail(plan.status());
  storage::PersistentStoreOptions restored_options;
  restored_options.path = dir + "/restored";
  restored_options.file_system = fs;
  started = Clock::now();
  auto restored = storage::RestoreBackup(fs, *plan, everything, restored_options, dir + "/restored-wal");
  if (!restored.ok()) return Fail(restored.status());
  const double restore_seconds = SecondsSince(started);
  // Values replayed: the records the archive held (the active segment's are not there).
  const double replayed_raw = static_cast<double>(restored->replayed_records) * kValueBytes;
  const double replay_mb_per_s = replayed_raw / (1 << 20) / restored->replay_seconds;
  std::fprintf(stderr, "backup: restore in %.2f s; replay of %llu records (%.0f MiB of values) at %.0f MB/s\n",
               restore_seconds, static_cast<unsigned long long>(restored->replayed_records), replayed_raw / (1 << 20),
               replay_mb_per_s);

  // 6. The peer of the replay: LevelDB ingesting the same number of values.
  double ingest_mb_per_s = 0;
  {
    leveldb::Options ldb_options;
    ldb_options.create_if_missing = true;
    ldb_options.compression = leveldb::kNoCompression;
    leveldb::DB* raw_db = nullptr;
    auto s = leveldb::DB::Open(ldb_options, dir + "/leveldb-peer", &raw_db);
    if (!s.ok()) return Fail(Status::IoError(s.ToString()));
    std::unique_ptr<leveldb::DB> db(raw_db);
    std::vector<std::string> values;
    for (int i = 0; i < 1000; ++i) values.push_back(HalfRandomValue(1000000 + static_cast<std::uint64_t>(i), kValueBytes));
    started = Clock::now();
    for (std::uint64_t done = 0; done < restored->replayed_records && s.ok(); done += values.size()) {
      leveldb::WriteBatch wb;
      for (std::size_t i = 0; i < values.size(); ++i) wb.Put("code/" + std::to_string(done + i), values[i]);
      s = db->Write(leveldb::WriteOptions(), &wb);
    }
    ingest_mb_per_s = replayed_raw / (1 << 20) / SecondsSince(started);
    std::fprintf(stderr, "backup: peer, LevelDB ingest of the same values: %.0f MB/s\n", ingest_mb_per_s);
  }

  JsonWriter out;
  out.BeginObject().Field("scenario", "backup");
  out.Field("store_disk_mib", static_cast<double>(disk_bytes) / (1 << 20));
  out.Field("backup_location", other.empty() ? "same file system (tables hard-linked)" : other);
  out.Field("backup_seconds", backup_seconds).Field("backup_mib", static_cast<double>(made->bytes()) / (1 << 20));
  out.Field("plain_copy_seconds", copy_seconds);
  out.Field("backup_vs_plain_copy_ratio", backup_seconds / copy_seconds);
  out.Field("backup_goal_seconds_per_gib", 10.0);
  out.Field("backup_seconds_per_gib", backup_seconds / (static_cast<double>(disk_bytes) / (1 << 30)));
  out.Field("verify_seconds", verify_seconds);
  out.Field("restore_seconds", restore_seconds).Field("restore_replay_seconds", restored->replay_seconds);
  out.Field("restore_replayed_records", restored->replayed_records);
  out.Field("restore_replay_mb_per_s", replay_mb_per_s);
  out.Field("leveldb_ingest_mb_per_s", ingest_mb_per_s);
  out.Field("replay_vs_leveldb_ingest_ratio", replay_mb_per_s / ingest_mb_per_s);
  out.Field("replay_goal_mb_per_s", 500.0);
  out.EndObject();
  RemoveTree(dir);
  if (!other.empty()) RemoveTree(root);
  if (json) std::printf("%s\n", out.str().c_str());
  return 0;
}

}  // namespace postdevai::bench
