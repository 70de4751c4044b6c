// postdevai-bench warm: a restart getting --entries 1 KiB entries of a RAM-Lake
// partition back, the two ways a restarted node can: re-attaching the file
// left behind (warm) beside rebuilding it from the persistent store (cold,
// the peer).
//
//   cold rebuild   a fresh partition file filled from PersistentStore::ForEach
//                  (LevelDB iteration + value decode + Put): MB/s of values.
//   warm restart   what Engine::Start does after a crash: RecoverColdTier
//                  replays the WAL after the store's checkpoint (here
//                  --tail-writes updates and deletes, 1% of the entries by
//                  default; the partition had applied the first half of them
//                  before the crash, the rest are in the WAL only) and names
//                  the keys it changed; RamLakePartition::Open then proves
//                  the file current by its watermark: every record's
//                  checksum verified, the changed keys judged by their last
//                  change, a sample spot-checked in LevelDB. Timed: the
//                  replay, the re-attach, and both together.
//   key by key     the same file re-attached with one LevelDB lookup per
//                  record (the fallback, and what every restart did before
//                  the watermark): for reference.
// The store and the WAL live on the work disk (a scratch directory), the
// partition on /dev/shm.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/cold_tier.h"
#include "storage/persistent_store.h"
#include "storage/ramlake/ramlake_partition.h"
#include "storage/wal.h"

namespace postdevai::bench {
namespace {

using storage::Kind;
using storage::PersistentStore;
using storage::ramlake::ChangedKeys;
using storage::ramlake::OpenHooks;
using storage::ramlake::OpenReport;
using storage::ramlake::PartitionKind;
using storage::ramlake::PartitionOptions;
using storage::ramlake::RamLakePartition;
using storage::ramlake::WatermarkProof;

// Any non-zero value: the store's identity the engine derives from its directory.
constexpr std::uint64_t kStoreIdentity = 0x5741524D;

std::string EntryKey(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "src/f%010llu.cc", static_cast<unsigned long long>(i));
  return buf;
}

}  // namespace

int RunWarmBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench warm [--entries N (1000000)] [--value-bytes N (1024)] [--tail-writes N (entries/100)]\n"
        "                     [--dir DIR (/dev/shm)] [--json]\n"
        "warm restart of a RAM-Lake partition (WAL replay + re-attach proven by the watermark) beside a cold\n"
        "rebuild from the persistent store, and the key-by-key re-attach for reference.\n");
    return 0;
  }
  const auto entries = static_cast<std::uint64_t>(OptionInt(args, "--entries", 1000000));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const auto tail_writes =
      static_cast<std::uint64_t>(OptionInt(args, "--tail-writes", static_cast<std::int64_t>(entries / 100)));
  const std::string shm = OptionValue(args, "--dir", "/dev/shm") + "/postdevai-bench-warm-" + std::to_string(::getpid());
  const std::string store_dir = MakeScratchDir("warm");
  std::filesystem::create_directories(shm);
  auto fail = [&](const Status& s) {
    std::fprintf(stderr, "warm: %s\n", s.ToString().c_str());
    RemoveTree(shm);
    RemoveTree(store_dir);
    return 1;
  };

  // The persistent store: every entry at its LSN, checkpointed.
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

  storage::WalOptions wal_options;
  wal_options.dir = store_dir + "/wal";
  wal_options.archive = false;
  wal_options.min_next_lsn = entries + 1;

  // Cold rebuild (the peer): new file, filled from the store in key order.
  // The file then lives on as the node's partition: its watermark at the
  // checkpoint, then the tail of writes after it, as the node applied them.
  OpenReport cold_report;
  double cold_seconds = 0;
  std::uint64_t tail_applied = 0;
  {
    OpenHooks identity;
    identity.store_identity = kStoreIdentity;
    start = Clock::now();
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, identity, &cold_report);
    if (!part.ok()) return fail(part.status());
    std::uint64_t loaded = 0;
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
    (*part)->SetAppliedLsn(entries);

    // The tail: updates and deletes (one in ten) of random entries, logged
    // in batches of 100 (one fsync each); the partition applies the first
    // half before the "crash", the store none (the replay will).
    auto wal = storage::Wal::Open(wal_options, entries, nullptr);
    if (!wal.ok()) return fail(wal.status());
    std::mt19937_64 rng(7);
    std::vector<std::string> keys, payloads;
    for (std::uint64_t i = 0; i < tail_writes; i += 100) {
      std::vector<storage::WalEntry> batch;
      keys.clear();
      payloads.clear();
      const std::uint64_t n = std::min<std::uint64_t>(100, tail_writes - i);
      for (std::uint64_t j = 0; j < n; ++j) keys.push_back(EntryKey(rng() % entries));
      for (std::uint64_t j = 0; j < n; ++j) {
        storage::Mutation m;
        m.kind = Kind::kCode;
        m.key = keys[j];
        m.is_delete = (i + j) % 10 == 9;
        if (!m.is_delete) m.value = pool[(i + j + 7) % pool.size()];
        payloads.push_back(storage::EncodeMutations({m}));
      }
      for (const auto& p : payloads) batch.push_back(storage::WalEntry{storage::kWalRecordMutations, p});
      auto first = (*wal)->AppendBatch(batch);
      if (!first.ok()) return fail(first.status());
      for (std::uint64_t j = 0; j < n && i + j < tail_writes / 2; ++j) {
        const std::uint64_t lsn = *first + j;
        if ((i + j) % 10 == 9) {
          (void)(*part)->Erase(keys[j]);
        } else {
          Status put = (*part)->Put(keys[j], pool[(i + j + 7) % pool.size()], lsn);
          if (!put.ok()) return fail(put);
        }
        (*part)->SetAppliedLsn(lsn);
        ++tail_applied;
      }
    }
  }  // closed as a killed process leaves it: nothing is flushed on close
  std::fprintf(stderr, "warm: cold rebuild %.2f s; %llu writes logged after the checkpoint, %llu applied\n",
               cold_seconds, static_cast<unsigned long long>(tail_writes),
               static_cast<unsigned long long>(tail_applied));

  OpenHooks hooks;
  hooks.store_lsn = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto lsn = (*store)->GetLsn(Kind::kCode, key);
    if (!lsn.ok()) return std::nullopt;
    return *lsn;
  };
  hooks.store_identity = kStoreIdentity;

  // Warm restart: the replay (naming the keys it changes), then the re-attach.
  storage::DurableStoreRecovery recovery;
  ChangedKeys changed;
  start = Clock::now();
  {
    auto wal = storage::RecoverColdTier(**store, wal_options, &recovery,
                                        [&changed](std::uint64_t lsn, const storage::Mutation& m) {
                                          if (m.kind == Kind::kCode) changed.Note(m.key, lsn, m.is_delete);
                                        });
    if (!wal.ok()) return fail(wal.status());
  }
  const double replay_seconds = SecondsSince(start);
  WatermarkProof proof{recovery.checkpoint_lsn, std::max(recovery.checkpoint_lsn, recovery.wal.last_lsn), &changed};
  hooks.watermark = &proof;
  OpenReport warm_report;
  double warm_seconds = 0;
  start = Clock::now();
  {
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, hooks, &warm_report);
    if (!part.ok()) return fail(part.status());
    warm_seconds = SecondsSince(start);
    if (warm_report.proof != OpenReport::Proof::kWatermark) {
      return fail(Status::Corruption("the re-attach was not proven by the watermark: " + warm_report.ToString()));
    }
    Status verified = (*part)->Verify();
    if (!verified.ok()) return fail(verified);
  }
  std::fprintf(stderr, "warm: replay of %llu records %.3f s, re-attach %.3f s (%s)\n",
               static_cast<unsigned long long>(recovery.wal.replayed), replay_seconds, warm_seconds,
               warm_report.ToString().c_str());

  // Key by key, for reference (no replay to prove a watermark against).
  hooks.watermark = nullptr;
  OpenReport key_report;
  double key_by_key_seconds = 0;
  start = Clock::now();
  {
    auto part = RamLakePartition::Open(storage::FileSystem::Default(), options, hooks, &key_report);
    if (!part.ok()) return fail(part.status());
    key_by_key_seconds = SecondsSince(start);
    if (key_report.records_kept != warm_report.records_kept) {
      return fail(Status::Corruption("the two proofs disagree: " + warm_report.ToString() + " / " +
                                     key_report.ToString()));
    }
  }
  std::fprintf(stderr, "warm: re-attach key by key %.3f s (%s)\n", key_by_key_seconds, key_report.ToString().c_str());

  JsonWriter json;
  json.BeginObject();
  json.Field("scenario", "warm");
  json.Field("entries", entries);
  json.Field("value_bytes", static_cast<std::uint64_t>(value_bytes));
  json.Field("partition_file_bytes", options.capacity_bytes);
  json.Field("tail_writes_after_checkpoint", tail_writes);
  json.Field("tail_writes_applied_before_crash", tail_applied);
  json.Field("warm_replay_seconds", replay_seconds);
  json.Field("warm_reattach_seconds", warm_seconds);
  json.Field("warm_restart_seconds", replay_seconds + warm_seconds);
  json.Field("warm_reattach_mb_per_s", value_mb / warm_seconds);
  json.Field("warm_reattach_proof", "watermark");
  json.Field("warm_reattach_records_kept", warm_report.records_kept);
  json.Field("warm_reattach_records_dropped", warm_report.RecordsDropped());
  json.Field("warm_reattach_store_lookups", warm_report.store_lookups);
  json.Field("key_by_key_reattach_seconds", key_by_key_seconds);
  json.Field("key_by_key_reattach_store_lookups", key_report.store_lookups);
  json.Field("cold_rebuild_seconds", cold_seconds);
  json.Field("cold_rebuild_mb_per_s", value_mb / cold_seconds);
  json.Field("cold_rebuild_over_warm_reattach_ratio", cold_seconds / warm_seconds);
  json.Field("cold_rebuild_over_warm_restart_ratio", cold_seconds / (replay_seconds + warm_seconds));
  json.Field("goal_reattach_seconds_max", 1.0);
  json.Field("goal_reattach_met", warm_seconds <= 1.0);
  json.EndObject();
  std::printf("%s\n", json.str().c_str());
  store = Status::Closed("done");
  RemoveTree(shm);
  RemoveTree(store_dir);
  return 0;
}

}  // namespace postdevai::bench
