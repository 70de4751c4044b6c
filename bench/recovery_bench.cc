// postdevai-bench recovery: how fast a restart replays the WAL.
//
// Writes a WAL holding --wal-mb MiB of 1 KiB code values, logged as the
// engine logs them (each value compressed once by the writer's side,
// storage::EncodeLoggedWrite), then times three restarts: the recovery scan
// alone with the files in the page cache, the same scan after dropping them
// from the cache (posix_fadvise DONTNEED: read from disk), and a full replay
// into an empty persistent store through storage::RecoverColdTier, which is
// what a node does after a crash with no checkpoint. Replay rates are in MB
// of values (raw bytes) per second; the WAL's own bytes are reported beside.
#include <fcntl.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/cold_tier.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::bench {
namespace {

void DropFromPageCache(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct Replay {
  double seconds = 0;
  std::uint64_t records = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t file_bytes = 0;
};

}  // namespace

int RunRecoveryBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf("postdevai-bench recovery [--wal-mb N (1024)] [--value-bytes B (1024)] [--json]\n"
                "  --wal-mb: MiB of values logged (raw bytes; the WAL holds them compressed)\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const auto wal_mb = static_cast<std::uint64_t>(OptionInt(args, "--wal-mb", 1024));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const std::string dir = MakeScratchDir("recovery");
  storage::WalOptions options;
  options.dir = dir + "/wal";
  options.prepare_segments_in_background = false;  // keep the timed restarts quiet

  // Fill the log: batches of 1000 writes, one sync each, each write's value
  // compressed by the writer as the engine's encoders do (with the settings
  // of a default store).
  std::uint64_t records = 0, raw_bytes = 0;
  {
    storage::PersistentStoreOptions encoding_options;
    encoding_options.path = dir + "/encoding-store";
    auto encoding_store = storage::PersistentStore::Open(encoding_options);
    auto wal = storage::Wal::Open(options, 0, nullptr);
    if (!encoding_store.ok() || !wal.ok()) {
      std::fprintf(stderr, "recovery: %s\n",
                   (encoding_store.ok() ? wal.status() : encoding_store.status()).ToString().c_str());
      return 1;
    }
    std::vector<std::string> payloads;
    std::uint64_t batch_raw_bytes = 0;
    for (int i = 0; i < 1000; ++i) {
      const std::string key = "code/" + std::to_string(i);
      const std::string value = CodeLikeValue(i, value_bytes);
      auto payload = storage::EncodeLoggedWrite(**encoding_store, {storage::Mutation{storage::Kind::kCode, key, value}});
      if (!payload.ok()) {
        std::fprintf(stderr, "recovery: %s\n", payload.status().ToString().c_str());
        return 1;
      }
      payloads.push_back(std::move(*payload));
      batch_raw_bytes += value.size();
    }
    std::vector<storage::WalEntry> batch;
    for (const auto& p : payloads) batch.push_back({storage::kWalRecordMutations, p});
    auto start = Clock::now();
    while (raw_bytes < (wal_mb << 20)) {
      auto lsn = (*wal)->AppendBatch(batch);
      if (!lsn.ok()) {
        std::fprintf(stderr, "recovery: %s\n", lsn.status().ToString().c_str());
        return 1;
      }
      records += batch.size();
      raw_bytes += batch_raw_bytes;
    }
    std::fprintf(stderr, "recovery: wrote %llu records (%.0f MiB of values, %.0f MiB logged) in %.1f s\n",
                 static_cast<unsigned long long>(records), static_cast<double>(raw_bytes) / (1 << 20),
                 static_cast<double>((*wal)->stats().bytes) / (1 << 20), SecondsSince(start));
  }

  auto time_replay = [&](const storage::Wal::ReplayFn& fn) {
    Replay r;
    storage::WalRecoveryReport report;
    auto start = Clock::now();
    auto wal = storage::Wal::Open(options, 0, [&](const storage::WalRecord& rec) {
      r.payload_bytes += rec.payload.size();
      ++r.records;
      return fn ? fn(rec) : Status::Ok();
    }, &report);
    r.seconds = SecondsSince(start);
    r.file_bytes = report.bytes_scanned;
    if (!wal.ok()) std::fprintf(stderr, "recovery: %s\n", wal.status().ToString().c_str());
    return r;
  };
  // Values (raw bytes) per second: what a restart gets back.
  auto mb_per_s = [&](const Replay& r) { return static_cast<double>(raw_bytes) / (1 << 20) / r.seconds; };
  auto wal_mb_per_s = [](const Replay& r) { return static_cast<double>(r.file_bytes) / (1 << 20) / r.seconds; };

  Replay warm = time_replay(nullptr);
  std::fprintf(stderr, "recovery: scan, page cache warm: %.0f MB/s\n", mb_per_s(warm));
  DropFromPageCache(options.dir);
  Replay cold = time_replay(nullptr);
  std::fprintf(stderr, "recovery: scan, from disk:       %.0f MB/s\n", mb_per_s(cold));

  // Full replay into an empty persistent store, as a node restarts.
  storage::PersistentStoreOptions store_options;
  store_options.path = dir + "/store";
  auto store = storage::PersistentStore::Open(store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "recovery: %s\n", store.status().ToString().c_str());
    return 1;
  }
  // As Engine::Start replays: no dictionary of the store's own meanwhile.
  (*store)->set_auto_training(false);
  Replay full;
  {
    storage::DurableStoreRecovery recovery;
    auto start = Clock::now();
    auto wal = storage::RecoverColdTier(**store, options, &recovery);
    full.seconds = SecondsSince(start);
    full.records = recovery.wal.replayed;
    full.file_bytes = recovery.wal.bytes_scanned;
    if (!wal.ok()) std::fprintf(stderr, "recovery: %s\n", wal.status().ToString().c_str());
  }
  std::fprintf(stderr, "recovery: replay into the store: %.0f MB/s of values (%.0f MB/s of WAL)\n", mb_per_s(full),
               wal_mb_per_s(full));

  // The peer: LevelDB itself taking the same values in batches of 1000
  // (unsynced, no compression): the ingest rate any replay into it is bound by.
  Replay ingest;
  {
    leveldb::Options ldb_options;
    ldb_options.create_if_missing = true;
    ldb_options.compression = leveldb::kNoCompression;
    leveldb::DB* raw_db = nullptr;
    auto s = leveldb::DB::Open(ldb_options, dir + "/leveldb-peer", &raw_db);
    if (!s.ok()) {
      std::fprintf(stderr, "recovery: leveldb: %s\n", s.ToString().c_str());
      return 1;
    }
    std::unique_ptr<leveldb::DB> db(raw_db);
    std::vector<std::string> values;
    for (int i = 0; i < 1000; ++i) values.push_back(CodeLikeValue(i, value_bytes));
    auto start = Clock::now();
    for (std::uint64_t done = 0; done < records && s.ok(); done += values.size()) {
      leveldb::WriteBatch wb;
      for (std::size_t i = 0; i < values.size(); ++i) wb.Put("code/" + std::to_string(done + i), values[i]);
      s = db->Write(leveldb::WriteOptions(), &wb);
    }
    ingest.seconds = SecondsSince(start);
    if (!s.ok()) std::fprintf(stderr, "recovery: leveldb: %s\n", s.ToString().c_str());
  }
  std::fprintf(stderr, "recovery: LevelDB ingest of the same values: %.0f MB/s\n", mb_per_s(ingest));

  JsonWriter out;
  out.BeginObject().Field("scenario", "recovery").Field("wal_mib", static_cast<double>(warm.file_bytes) / (1 << 20));
  out.Field("records", warm.records).Field("value_bytes", static_cast<std::int64_t>(value_bytes));
  out.Field("scan_page_cache_mb_per_s", mb_per_s(warm)).Field("scan_page_cache_seconds", warm.seconds);
  out.Field("scan_from_disk_mb_per_s", mb_per_s(cold)).Field("scan_from_disk_seconds", cold.seconds);
  out.Field("value_mib", static_cast<double>(raw_bytes) / (1 << 20));
  out.Field("replay_into_store_mb_per_s", mb_per_s(full)).Field("replay_into_store_seconds", full.seconds);
  out.Field("replay_into_store_wal_mb_per_s", wal_mb_per_s(full));
  out.Field("leveldb_ingest_mb_per_s", mb_per_s(ingest));
  out.Field("replay_vs_leveldb_ingest_ratio", mb_per_s(full) / mb_per_s(ingest));
  out.Field("goal_mb_per_s", 500.0);
  out.EndObject();
  store->reset();
  RemoveTree(dir);
  if (json) std::printf("%s\n", out.str().c_str());
  return 0;
}

}  // namespace postdevai::bench
