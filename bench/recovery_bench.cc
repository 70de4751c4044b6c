// postdevai-bench recovery: how fast a restart replays the WAL.
//
// Writes --wal-mb MiB of 1 KiB records into a WAL, then times three restarts:
// the recovery scan alone with the files in the page cache, the same scan
// after dropping them from the cache (posix_fadvise DONTNEED: read from disk),
// and a full replay that applies every record to the persistent store
// (LevelDB + zstd), which is what a node does after a crash with no checkpoint.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
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
    std::printf("postdevai-bench recovery [--wal-mb N (1024)] [--value-bytes B (1024)] [--json]\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const auto wal_mb = static_cast<std::uint64_t>(OptionInt(args, "--wal-mb", 1024));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const std::string dir = MakeScratchDir("recovery");
  storage::WalOptions options;
  options.dir = dir + "/wal";
  options.prepare_segments_in_background = false;  // keep the timed restarts quiet

  // Fill the log: batches of 1000 records, one sync each.
  std::uint64_t records = 0;
  {
    auto wal = storage::Wal::Open(options, 0, nullptr);
    if (!wal.ok()) {
      std::fprintf(stderr, "recovery: %s\n", wal.status().ToString().c_str());
      return 1;
    }
    std::vector<std::string> values;
    for (int i = 0; i < 1000; ++i) values.push_back("code/" + std::to_string(i) + '\0' + CodeLikeValue(i, value_bytes));
    std::vector<storage::WalEntry> batch;
    for (const auto& v : values) batch.push_back({1, v});
    auto start = Clock::now();
    while ((*wal)->stats().bytes < (wal_mb << 20)) {
      auto lsn = (*wal)->AppendBatch(batch);
      if (!lsn.ok()) {
        std::fprintf(stderr, "recovery: %s\n", lsn.status().ToString().c_str());
        return 1;
      }
      records += batch.size();
    }
    std::fprintf(stderr, "recovery: wrote %llu records (%.0f MiB) in %.1f s\n", static_cast<unsigned long long>(records),
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
  auto mb_per_s = [](const Replay& r) { return static_cast<double>(r.payload_bytes) / (1 << 20) / r.seconds; };

  Replay warm = time_replay(nullptr);
  std::fprintf(stderr, "recovery: scan, page cache warm: %.0f MB/s\n", mb_per_s(warm));
  DropFromPageCache(options.dir);
  Replay cold = time_replay(nullptr);
  std::fprintf(stderr, "recovery: scan, from disk:       %.0f MB/s\n", mb_per_s(cold));

  // Full replay into the persistent store, in batches as the engine applies them.
  storage::PersistentStoreOptions store_options;
  store_options.path = dir + "/store";
  auto store = storage::PersistentStore::Open(store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "recovery: %s\n", store.status().ToString().c_str());
    return 1;
  }
  storage::StoreWriteBatch batch;
  Status apply_status;
  Replay full = time_replay([&](const storage::WalRecord& rec) {
    auto sep = rec.payload.find('\0');
    batch.Put(storage::Kind::kCode, rec.payload.substr(0, sep), rec.payload.substr(sep + 1), rec.lsn);
    if (batch.size() >= 1024) {
      apply_status = (*store)->Write(batch);
      batch.Clear();
    }
    return apply_status;
  });
  if (!batch.empty()) apply_status = (*store)->Write(batch);
  if (!apply_status.ok()) std::fprintf(stderr, "recovery: store: %s\n", apply_status.ToString().c_str());
  std::fprintf(stderr, "recovery: replay into the store: %.0f MB/s\n", mb_per_s(full));

  JsonWriter out;
  out.BeginObject().Field("scenario", "recovery").Field("wal_mib", static_cast<double>(warm.file_bytes) / (1 << 20));
  out.Field("records", warm.records).Field("value_bytes", static_cast<std::int64_t>(value_bytes));
  out.Field("scan_page_cache_mb_per_s", mb_per_s(warm)).Field("scan_page_cache_seconds", warm.seconds);
  out.Field("scan_from_disk_mb_per_s", mb_per_s(cold)).Field("scan_from_disk_seconds", cold.seconds);
  out.Field("replay_into_store_mb_per_s", mb_per_s(full)).Field("replay_into_store_seconds", full.seconds);
  out.Field("goal_mb_per_s", 500.0);
  out.EndObject();
  store->reset();
  RemoveTree(dir);
  if (json) std::printf("%s\n", out.str().c_str());
  return 0;
}

}  // namespace postdevai::bench
