// postdevai-bench cold: durable 1 KiB writes per second through our path
// (WAL group commit, then an unsynced write into the persistent store) beside
// raw LevelDB writes with sync=true, with the same writer threads in one run.
//
// Our write takes the engine's path: the writer's thread compresses the value
// once (EncodeUnstamped, as the engine's encoders do before the journal);
// the WAL record carries the compressed bytes; the write is acknowledged when
// that record is durable; the store applies the same bytes behind it
// (PutEncoded), in batches, on an applier thread, as the store actor does. The
// clock stops only when the applier has caught up, so the store's work counts.
#include <fcntl.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/cold_tier.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::bench {
namespace {

struct RunResult {
  std::uint64_t ops = 0;
  double seconds = 0;
  LatencyRecorder latency;
  std::uint64_t syncs = 0;
  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// Values are made before the clock starts: generating them is not the work measured.
constexpr std::size_t kPoolSize = 4096;
const std::vector<std::string>& ValuePool(std::size_t value_bytes) {
  static std::vector<std::string> pool;
  if (pool.empty() || pool[0].size() != value_bytes) {
    pool.clear();
    for (std::size_t i = 0; i < kPoolSize; ++i) pool.push_back(CodeLikeValue(i, value_bytes));
  }
  return pool;
}

std::string Key(int writer, std::uint64_t i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "code/w%02d/%012llu", writer, static_cast<unsigned long long>(i));
  return buf;
}

// Runs `op(writer, i)` on `writers` threads for `seconds`.
template <class Op>
RunResult RunWriters(int writers, double seconds, Op op) {
  RunResult result;
  std::atomic<bool> stop{false};
  std::vector<LatencyRecorder> latencies(writers);
  std::vector<std::uint64_t> counts(writers, 0);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto t0 = Clock::now();
        if (!op(w, i)) {
          stop = true;
          return;
        }
        latencies[w].Add(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
        ++counts[w];
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  result.seconds = SecondsSince(start);
  for (int w = 0; w < writers; ++w) {
    result.ops += counts[w];
    result.latency.Merge(latencies[w]);
  }
  return result;
}

// Applies acknowledged writes to the store in batches, like the store actor:
// a durable write at once; a relaxed one (hold_until_durable) only once the
// WAL is durable past it (Release), as the journal tells the store after each
// sync, so the store never holds a write a crash could take from the WAL.
class Applier {
 public:
  Applier(storage::PersistentStore* store, bool hold_until_durable)
      : store_(store), hold_(hold_until_durable), thread_([this] { Loop(); }) {}
  ~Applier() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Submit(std::string key, std::string encoded, std::uint64_t lsn) {
    std::lock_guard lock(mu_);
    queue_.push_back({std::move(key), std::move(encoded), lsn});
    if (!hold_) cv_.notify_one();
  }
  // The WAL is durable through `lsn`: the writes held up to it may be applied.
  void Release(std::uint64_t lsn) {
    std::lock_guard lock(mu_);
    durable_ = std::max(durable_, lsn);
    cv_.notify_one();
  }
  void Drain() {
    std::unique_lock lock(mu_);
    drained_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }
  const Status& error() const { return error_; }

 private:
  struct Item {
    std::string key;
    std::string encoded;  // EncodeUnstamped's output
    std::uint64_t lsn;
  };
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return done_ || (!queue_.empty() && (!hold_ || queue_.front().lsn <= durable_)); });
      if (queue_.empty() && done_) return;
      std::deque<Item> items;
      if (!hold_ || done_) {
        items.swap(queue_);
      } else {
        std::deque<Item> held;  // writers submit nearly, not exactly, in LSN order
        for (auto& it : queue_) (it.lsn <= durable_ ? items : held).push_back(std::move(it));
        queue_.swap(held);
      }
      busy_ = true;
      lock.unlock();
      storage::StoreWriteBatch batch;
      for (auto& it : items) batch.PutEncoded(storage::Kind::kCode, it.key, it.encoded, it.lsn);
      Status s = store_->Write(batch);
      lock.lock();
      if (!s.ok() && error_.ok()) error_ = s;
      busy_ = false;
      if (queue_.empty()) drained_.notify_all();
    }
  }
  storage::PersistentStore* store_;
  std::mutex mu_;
  std::condition_variable cv_, drained_;
  std::deque<Item> queue_;
  const bool hold_;
  std::uint64_t durable_ = 0;  // hold_: the WAL is durable through this LSN
  bool done_ = false, busy_ = false;
  Status error_;
  std::thread thread_;
};

// relaxed_sync: 0 for durable writes (each acknowledged after its sync);
// otherwise relaxed ones (storage::WalWait::kBuffered), a syncer thread making
// them durable every relaxed_sync, as the journal's timer does.
RunResult RunOurs(const std::string& dir, int writers, double seconds, std::size_t value_bytes,
                  std::chrono::milliseconds relaxed_sync = std::chrono::milliseconds(0)) {
  storage::WalOptions wal_options;
  wal_options.dir = dir + "/wal";
  auto wal = storage::Wal::Open(wal_options, 0, nullptr);
  if (!wal.ok()) {
    std::fprintf(stderr, "cold: %s\n", wal.status().ToString().c_str());
    std::exit(1);
  }
  storage::PersistentStoreOptions store_options;
  store_options.path = dir + "/store";
  // The steady state of a store in use: its code dictionary trained before
  // the clock starts, from values like the ones written. A store retrains
  // only at each doubling of a kind (O(log n) times in its life); a fresh
  // one doubling from 1,000 records would retrain eight times in a run.
  store_options.dictionary_retrain_growth = 0;
  auto store = storage::PersistentStore::Open(store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "cold: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  {
    storage::StoreWriteBatch seed;
    for (std::size_t i = 0; i < kPoolSize; ++i) {
      seed.Put(storage::Kind::kCode, "code/seed/" + std::to_string(i), ValuePool(value_bytes)[i], 0);
    }
    Status s = (*store)->Write(seed);
    if (s.ok() && (*store)->Dictionaries().empty()) s = (*store)->TrainDictionary(storage::Kind::kCode).status();
    if (!s.ok()) {
      std::fprintf(stderr, "cold: seeding the store: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  RunResult r;
  const bool relaxed = relaxed_sync.count() > 0;
  {
    Applier applier(store->get(), relaxed);
    std::atomic<bool> stop_syncing{false};
    std::thread syncer;
    if (relaxed) {
      syncer = std::thread([&] {
        while (!stop_syncing) {
          std::this_thread::sleep_for(relaxed_sync);
          if ((*wal)->Sync().ok()) applier.Release((*wal)->stats().durable_lsn);
        }
      });
    }
    auto start = Clock::now();
    r = RunWriters(writers, seconds, [&](int w, std::uint64_t i) {
      std::string key = Key(w, i);
      const std::string& value = ValuePool(value_bytes)[(i * 64 + static_cast<std::uint64_t>(w)) % kPoolSize];
      auto encoded = (*store)->EncodeUnstamped(storage::Kind::kCode, key, value);
      if (!encoded.ok()) {
        std::fprintf(stderr, "cold: %s\n", encoded.status().ToString().c_str());
        return false;
      }
      storage::Mutation put;
      put.kind = storage::Kind::kCode;
      put.key = key;
      put.value = *encoded;
      put.encoded = true;
      const std::string record = storage::EncodeMutations({put});
      auto lsn = (*wal)->AppendBatch({storage::WalEntry{storage::kWalRecordMutations, record}},
                                     relaxed ? storage::WalWait::kBuffered : storage::WalWait::kDurable);
      if (!lsn.ok()) {
        std::fprintf(stderr, "cold: %s\n", lsn.status().ToString().c_str());
        return false;
      }
      applier.Submit(std::move(key), std::move(*encoded), *lsn);
      return true;
    });
    if (relaxed) {
      stop_syncing = true;
      syncer.join();
      // The last window's writes made durable too, then applied.
      if ((*wal)->Sync().ok()) applier.Release((*wal)->stats().durable_lsn);
    }
    applier.Drain();
    r.seconds = SecondsSince(start);  // includes catching up on the store
    if (!applier.error().ok()) std::fprintf(stderr, "cold: store: %s\n", applier.error().ToString().c_str());
  }
  r.syncs = (*wal)->stats().syncs;
  return r;
}

RunResult RunLevelDb(const std::string& dir, int writers, double seconds, std::size_t value_bytes) {
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  auto s = leveldb::DB::Open(options, dir + "/leveldb", &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "cold: leveldb: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<leveldb::DB> db(raw);
  leveldb::WriteOptions sync;
  sync.sync = true;
  return RunWriters(writers, seconds, [&](int w, std::uint64_t i) {
    const std::string& value = ValuePool(value_bytes)[(i * 64 + static_cast<std::uint64_t>(w)) % kPoolSize];
    auto st = db->Put(sync, Key(w, i), value);
    if (!st.ok()) std::fprintf(stderr, "cold: leveldb: %s\n", st.ToString().c_str());
    return st.ok();
  });
}

// One writer appending `value_bytes` and calling fdatasync each time: the
// rate a single writer gets from the disk with no batching at all.
double MeasureSingleWriterFsyncRate(const std::string& dir, std::size_t value_bytes, double seconds) {
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  std::string value(value_bytes, 'x');
  std::uint64_t n = 0;
  auto start = Clock::now();
  while (SecondsSince(start) < seconds) {
    if (::write(fd, value.data(), value.size()) < 0 || ::fdatasync(fd) != 0) break;
    ++n;
  }
  double rate = static_cast<double>(n) / SecondsSince(start);
  ::close(fd);
  ::unlink(path.c_str());
  return rate;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::atoi(item.c_str()));
  return out;
}

}  // namespace

int RunColdBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench cold [--writers 1,4,16,64] [--seconds S] [--value-bytes B] [--relaxed-sync-ms MS]\n"
        "                     [--json]\n"
        "  Durable writes/s through WAL group commit + persistent store, beside raw\n"
        "  LevelDB sync=true writes with the same writers; and relaxed writes\n"
        "  (acknowledged buffered, synced every MS, default 20) beside our durable ones.\n"
        "  Scratch files go under $POSTDEVAI_BENCH_DIR or the system temp dir (must not be tmpfs).\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const auto writer_counts = ParseList(OptionValue(args, "--writers", "1,4,16,64"));
  const double seconds = std::atof(OptionValue(args, "--seconds", "3").c_str());
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const int relaxed_sync_ms = static_cast<int>(OptionInt(args, "--relaxed-sync-ms", 20));
  const std::string dir = MakeScratchDir("cold");
  (void)ValuePool(value_bytes);

  const double fsync_rate = MeasureSingleWriterFsyncRate(dir, value_bytes, std::min(seconds, 2.0));
  std::fprintf(stderr, "cold: single-writer append+fdatasync: %.0f/s\n", fsync_rate);

  JsonWriter out;
  out.BeginObject().Field("scenario", "cold").Field("value_bytes", static_cast<std::int64_t>(value_bytes));
  out.Field("seconds_per_run", seconds).Field("single_writer_fdatasync_per_s", fsync_rate);
  out.Key("runs").BeginArray();
  double ours_single = 0;
  for (int writers : writer_counts) {
    RemoveTree(dir + "/wal");
    RemoveTree(dir + "/wal-archive");
    RemoveTree(dir + "/store");
    RemoveTree(dir + "/leveldb");
    RunResult ours = RunOurs(dir, writers, seconds, value_bytes);
    RunResult peer = RunLevelDb(dir, writers, seconds, value_bytes);
    RemoveTree(dir + "/wal");
    RemoveTree(dir + "/wal-archive");
    RemoveTree(dir + "/store");
    RunResult relaxed = RunOurs(dir, writers, seconds, value_bytes, std::chrono::milliseconds(relaxed_sync_ms));
    if (writers == 1) ours_single = ours.ops_per_s();
    const double ratio = peer.ops_per_s() > 0 ? ours.ops_per_s() / peer.ops_per_s() : 0;
    std::fprintf(stderr, "cold: %3d writers: ours %9.0f writes/s (p99 %7.0f us, %.1f writes/sync)  leveldb sync %9.0f/s (p99 %7.0f us)  ratio %.2fx\n",
                 writers, ours.ops_per_s(), ours.latency.PercentileMicros(0.99),
                 ours.syncs ? static_cast<double>(ours.ops) / static_cast<double>(ours.syncs) : 0, peer.ops_per_s(),
                 peer.latency.PercentileMicros(0.99), ratio);
    std::fprintf(stderr, "cold: %3d writers: ours relaxed (synced every %d ms) %9.0f writes/s = %.1fx durable\n", writers,
                 relaxed_sync_ms, relaxed.ops_per_s(), ours.ops_per_s() > 0 ? relaxed.ops_per_s() / ours.ops_per_s() : 0);
    out.BeginObject().Field("writers", writers);
    out.Field("ours_writes_per_s", ours.ops_per_s())
        .Field("ours_p50_us", ours.latency.PercentileMicros(0.5))
        .Field("ours_p99_us", ours.latency.PercentileMicros(0.99))
        .Field("ours_writes_per_sync", ours.syncs ? static_cast<double>(ours.ops) / static_cast<double>(ours.syncs) : 0.0)
        .Field("leveldb_sync_writes_per_s", peer.ops_per_s())
        .Field("leveldb_p50_us", peer.latency.PercentileMicros(0.5))
        .Field("leveldb_p99_us", peer.latency.PercentileMicros(0.99))
        .Field("ratio_vs_leveldb", ratio)
        .Field("ratio_vs_single_writer_fdatasync", fsync_rate > 0 ? ours.ops_per_s() / fsync_rate : 0.0)
        .Field("ratio_vs_our_single_writer", ours_single > 0 ? ours.ops_per_s() / ours_single : 0.0)
        .Field("ours_relaxed_writes_per_s", relaxed.ops_per_s())
        .Field("ours_relaxed_p99_us", relaxed.latency.PercentileMicros(0.99))
        .Field("relaxed_vs_durable_ratio", ours.ops_per_s() > 0 ? relaxed.ops_per_s() / ours.ops_per_s() : 0.0);
    out.EndObject();
  }
  out.EndArray().EndObject();
  RemoveTree(dir);
  if (json) std::printf("%s\n", out.str().c_str());
  return 0;
}

}  // namespace postdevai::bench
