// postdevai-bench warm: re-attaching a RAM-Lake partition of --entries 1 KiB
// entries after a restart, beside rebuilding it cold from the persistent
// store (LevelDB) — the two ways a restarted node can get its hot data back.
//
//   cold rebuild   a fresh partition file filled from PersistentStore::ForEach
//                  (LevelDB iteration + value decode + Put): MB/s of values.
//   warm re-attach RamLakePartition::Open on the file left behind: every
//                  record's checksum verified and its LSN compared with the
//                  store's. Measured twice: with the LSNs from an in-memory map
//                  (the RAM-Lake's own cost) and from PersistentStore::GetLsn
//                  (one LevelDB lookup per record, the end-to-end figure).
// The store lives on the work disk (a scratch directory), the partition on
// /dev/shm.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/persistent_store.h"
#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::bench {
namespace {

using storage::Kind;
using storage::PersistentStore;
using storage::ramlake::OpenHooks;
using storage::ramlake::OpenReport;
using storage::ramlake::PartitionKind;
using storage::ramlake::PartitionOptions;
using storage::ramlake::RamLakePartition;

std::string EntryKey(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "src/f%010llu.cc", static_cast<unsigned long long>(i));
  return buf;
}

}  // namespace

int RunWarmBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench warm [--entries N (1000000)] [--value-bytes N (1024)] [--dir DIR (/dev/shm)] [--json]\n"
        "warm re-attach time of a RAM-Lake partition beside a cold rebuild from the persistent store.\n");
    return 0;
  }
  const auto entries = static_cast<std::uint64_t>(OptionInt(args, "--entries", 1000000));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const std::string shm = OptionValue(args, "--dir", "/dev/shm") + "/postdevai-bench-warm-" + std::to_string(::getpid());
  const std::string store_dir = MakeScratchDir("warm");
  std::filesystem::create_directories(shm);
  auto fail = [&](const Status& s) {
    std::fprintf(stderr, "warm: %s\n", s.ToString().c_str());
    RemoveTree(shm);
    RemoveTree(store_dir);
    return 1;
  };

  // The persistent store: every entry at its LSN.
  storage::PersistentStoreOptions store_options;
  store_options.path = store_dir + "/store";
  store_options.compression = false;  // code-like values compress; the figure here is about the tiers
  store_options.cache_size_mb = 256;
  store_options.write_buffer_size = 64u << 20;
  auto store = PersistentStore::Open(store_options);
  if (!store.ok()) return fail(store.status());
  std::vector<std::string> pool;
  for (int i = 0; i < 256; ++i) pool.push_back(CodeLikeValue(i, value_bytes));
  auto start = Clock::now();
  {
    storage::StoreWriteBatch batch;
    for (std::uint64_t i = 0; i < entries; ++i) {
      batch.Put(Kind::kCode, EntryKey(i), pool[i % pool.size()], i + 1);
      if (batch.size() == 1000 || i + 1 == entries) {
        Status s = (*store)->Write(batch);
        if (!s.ok()) return fail(s);
        batch.Clear();
      }
    }
    Status s = (*store)->Checkpoint(entries);
    if (!s.ok()) return fail(s);
  }
  std::fprintf(stderr, "warm: store of %llu entries written in %.1f s\n", static_cast<unsigned long long>(entries),
               SecondsSince(start));

  PartitionOptions options;
  options.file_path = shm + "/code.ramlake";
  options.kind = PartitionKind::kCode;
  const std::uint64_t footprint = RamLakePartition::RecordFootprint(EntryKey(0).size(), value_bytes);
  options.capacity_bytes = entries * footprint * 10 / 9 + (64ull << 20);
  options.persisted_lsn = entries;
  const double value_mb = double(entries) * double(value_bytes) / 1e6;

  // Cold rebuild: new file, filled from the store in key order.
  OpenReport cold_report;
  start = Clock::now();
  double cold_seconds = 0;
  std::uint64_t loaded = 0;
  {
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, OpenHooks{}, &cold_report);
    if (!part.ok()) return fail(part.status());
    Status put_status;
    Status s = (*store)->ForEach(Kind::kCode, [&](const storage::StoredRecord& r) {
      put_status = (*part)->Put(r.key, r.value, r.lsn);
      loaded += put_status.ok();
      return put_status.ok();
    });
    if (!s.ok()) return fail(s);
    if (!put_status.ok()) return fail(put_status);
    cold_seconds = SecondsSince(start);
    if ((*part)->Stats().evictions != 0 || loaded != entries) return fail(Status::Corruption("cold rebuild lost entries"));
  }  // closed: the file stays, as after a crash (nothing is flushed on close)
  std::fprintf(stderr, "warm: cold rebuild %.2f s\n", cold_seconds);

  // The store's LSNs in memory (built outside the clock).
  std::unordered_map<std::string, std::uint64_t> lsn_map;
  lsn_map.reserve(entries);
  Status s = (*store)->ForEachHeader(Kind::kCode, [&](const storage::StoredRecord& r) {
    lsn_map.emplace(std::string(r.key), r.lsn);
    return true;
  });
  if (!s.ok()) return fail(s);

  OpenHooks in_memory;
  in_memory.store_lsn = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto it = lsn_map.find(std::string(key));
    if (it == lsn_map.end()) return std::nullopt;
    return it->second;
  };
  OpenReport warm_report;
  start = Clock::now();
  double warm_seconds = 0;
  {
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, in_memory, &warm_report);
    if (!part.ok()) return fail(part.status());
    warm_seconds = SecondsSince(start);
    if (warm_report.records_kept != entries) return fail(Status::Corruption("re-attach lost entries: " + warm_report.ToString()));
  }
  std::fprintf(stderr, "warm: re-attach %.3f s (%s)\n", warm_seconds, warm_report.ToString().c_str());

  OpenHooks from_leveldb;
  from_leveldb.store_lsn = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto lsn = (*store)->GetLsn(Kind::kCode, key);
    if (!lsn.ok()) return std::nullopt;
    return *lsn;
  };
  OpenReport leveldb_report;
  start = Clock::now();
  double warm_leveldb_seconds = 0;
  {
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, from_leveldb, &leveldb_report);
    if (!part.ok()) return fail(part.status());
    warm_leveldb_seconds = SecondsSince(start);
    if (leveldb_report.records_kept != entries) return fail(Status::Corruption("re-attach lost entries"));
  }
  std::fprintf(stderr, "warm: re-attach with LevelDB LSN lookups %.3f s\n", warm_leveldb_seconds);

  JsonWriter json;
  json.BeginObject();
  json.Field("scenario", "warm");
  json.Field("entries", entries);
  json.Field("value_bytes", static_cast<std::uint64_t>(value_bytes));
  json.Field("partition_file_bytes", options.capacity_bytes);
  json.Field("reattach_seconds", warm_seconds);
  json.Field("reattach_mb_per_s", value_mb / warm_seconds);
  json.Field("reattach_records_kept", warm_report.records_kept);
  json.Field("reattach_records_dropped", warm_report.RecordsDropped());
  json.Field("reattach_with_leveldb_lsn_seconds", warm_leveldb_seconds);
  json.Field("cold_rebuild_seconds", cold_seconds);
  json.Field("cold_rebuild_mb_per_s", value_mb / cold_seconds);
  json.Field("cold_over_warm_ratio", cold_seconds / warm_seconds);
  json.Field("goal_reattach_seconds_max", 1.0);
  json.EndObject();
  std::printf("%s\n", json.str().c_str());
  store = Status::Closed("done");
  RemoveTree(shm);
  RemoveTree(store_dir);
  return 0;
}

}  // namespace postdevai::bench
