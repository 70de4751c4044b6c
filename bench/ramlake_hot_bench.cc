// postdevai-bench hot: point reads and writes of 1 KiB values on a RAM-Lake
// partition itself (no actors), beside std::unordered_map<std::string,
// std::string> holding the same keys, in the same run, same key order.
//
// Each side does the same work per operation: insert a key, overwrite it with
// a new value of the same size, overwrite it with values whose size changes
// every time (the partition then appends a new record and its cleaner
// reclaims the old; a same-size overwrite is done in place), or read it and
// copy the value out into a reused std::string.
// The partition additionally checksums every record (CRC32C), keeps its
// eviction order (LRU or SIEVE), per-entry statistics and the dirty queue
// (SetPersistedLsn after every write, as the engine's write-through would).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::bench {
namespace {

using storage::ramlake::EvictionPolicy;
using storage::ramlake::PartitionKind;
using storage::ramlake::PartitionOptions;
using storage::ramlake::RamLakePartition;

struct Figures {
  double insert_ns = 0, overwrite_ns = 0, resize_ns = 0, read_ns = 0;
  double index_bytes_per_entry = 0;
  std::uint64_t segments_cleaned = 0;
};

struct Workload {
  std::vector<std::string> keys;
  std::vector<std::string> values;       // a pool; value i % pool
  std::vector<std::string> resized;      // the same, 8..256 bytes shorter
  std::vector<std::uint32_t> order;      // random key indices for overwrites and reads
};

double NsPerOp(Clock::time_point start, std::size_t ops) {
  return SecondsSince(start) * 1e9 / static_cast<double>(ops);
}

Figures RunHashMap(const Workload& w) {
  Figures f;
  std::unordered_map<std::string, std::string> map;
  auto start = Clock::now();
  for (std::size_t i = 0; i < w.keys.size(); ++i) map.emplace(w.keys[i], w.values[i % w.values.size()]);
  f.insert_ns = NsPerOp(start, w.keys.size());
  start = Clock::now();
  for (std::size_t i = 0; i < w.order.size(); ++i) {
    map.find(w.keys[w.order[i]])->second = w.values[(i + 7) % w.values.size()];
  }
  f.overwrite_ns = NsPerOp(start, w.order.size());
  start = Clock::now();
  for (std::size_t i = 0; i < w.order.size(); ++i) {
    map.find(w.keys[w.order[i]])->second = (i & 1) ? w.resized[i % w.resized.size()] : w.values[i % w.values.size()];
  }
  f.resize_ns = NsPerOp(start, w.order.size());
  std::string out;
  std::size_t found = 0;
  start = Clock::now();
  for (std::uint32_t k : w.order) {
    auto it = map.find(w.keys[k]);
    if (it != map.end()) {
      out.assign(it->second);
      ++found;
    }
  }
  f.read_ns = NsPerOp(start, w.order.size());
  if (found != w.order.size()) std::fprintf(stderr, "hot: unordered_map lost keys\n");
  return f;
}

Result<Figures> RunPartition(const Workload& w, EvictionPolicy policy, const std::string& dir) {
  PartitionOptions options;
  options.file_path = dir + "/code.ramlake";
  options.kind = PartitionKind::kCode;
  std::uint64_t live = w.keys.size() * RamLakePartition::RecordFootprint(w.keys[0].size(), w.values[0].size());
  // Twice the live data: overwrites leave dead records for the cleaner, as
  // they do in any log-structured store; this is its steady state at 50%.
  options.capacity_bytes = live * 2 + (64ull << 20);
  options.eviction = policy;
  std::filesystem::remove(options.file_path);
  auto opened = RamLakePartition::Open(storage::FileSystem::Default(), options);
  if (!opened.ok()) return opened.status();
  RamLakePartition& part = **opened;
  Figures f;
  std::uint64_t lsn = 0;
  auto start = Clock::now();
  for (std::size_t i = 0; i < w.keys.size(); ++i) {
    Status s = part.Put(w.keys[i], w.values[i % w.values.size()], ++lsn);
    if (!s.ok()) return s;
    part.SetPersistedLsn(lsn);
  }
  f.insert_ns = NsPerOp(start, w.keys.size());
  start = Clock::now();
  for (std::size_t i = 0; i < w.order.size(); ++i) {
    Status s = part.Put(w.keys[w.order[i]], w.values[(i + 7) % w.values.size()], ++lsn);
    if (!s.ok()) return s;
    part.SetPersistedLsn(lsn);
  }
  f.overwrite_ns = NsPerOp(start, w.order.size());
  start = Clock::now();
  for (std::size_t i = 0; i < w.order.size(); ++i) {
    const std::string& v = (i & 1) ? w.resized[i % w.resized.size()] : w.values[i % w.values.size()];
    Status s = part.Put(w.keys[w.order[i]], v, ++lsn);
    if (!s.ok()) return s;
    part.SetPersistedLsn(lsn);
  }
  f.resize_ns = NsPerOp(start, w.order.size());
  std::string out;
  std::size_t found = 0;
  start = Clock::now();
  for (std::uint32_t k : w.order) found += part.Get(w.keys[k], &out).ok();
  f.read_ns = NsPerOp(start, w.order.size());
  if (found != w.order.size() || part.Stats().evictions != 0) {
    return Status::Corruption("hot: the partition lost keys or evicted");
  }
  f.index_bytes_per_entry = part.IndexBytesPerEntry();
  f.segments_cleaned = part.Stats().segments_cleaned;
  return f;
}

void WriteFigures(JsonWriter& json, const char* name, const Figures& f) {
  json.Key(name).BeginObject();
  json.Field("insert_ns_per_op", f.insert_ns);
  json.Field("overwrite_ns_per_op", f.overwrite_ns);
  json.Field("overwrite_resized_ns_per_op", f.resize_ns);
  json.Field("read_ns_per_op", f.read_ns);
  if (f.index_bytes_per_entry > 0) {
    json.Field("index_bytes_per_entry", f.index_bytes_per_entry);
    json.Field("segments_cleaned", f.segments_cleaned);
  }
  json.EndObject();
}

void WriteRatios(JsonWriter& json, const char* name, const Figures& ours, const Figures& map) {
  json.Key(name).BeginObject();
  json.Field("insert_ratio", ours.insert_ns / map.insert_ns);
  json.Field("overwrite_ratio", ours.overwrite_ns / map.overwrite_ns);
  json.Field("overwrite_resized_ratio", ours.resize_ns / map.resize_ns);
  json.Field("read_ratio", ours.read_ns / map.read_ns);
  json.EndObject();
}

}  // namespace

int RunHotBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench hot [--keys N (200000)] [--ops N (2000000)] [--value-bytes N (1024)]\n"
        "                    [--dir DIR (/dev/shm)] [--json]\n"
        "ns per insert / overwrite / read on a RAM-Lake partition (LRU and SIEVE) beside\n"
        "std::unordered_map<std::string, std::string>, same keys, same order; ratio = ours / map.\n");
    return 0;
  }
  const auto keys = static_cast<std::size_t>(OptionInt(args, "--keys", 200000));
  const auto ops = static_cast<std::size_t>(OptionInt(args, "--ops", 2000000));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  const std::string root = OptionValue(args, "--dir", "/dev/shm");
  const std::string dir = root + "/postdevai-bench-hot-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);

  Workload w;
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < keys; ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "code/src/file%08zu.cc", i);
    w.keys.emplace_back(buf);
  }
  for (std::size_t i = 0; i < 64; ++i) {
    w.values.push_back(CodeLikeValue(i, value_bytes));
    w.resized.push_back(CodeLikeValue(i + 64, value_bytes - std::min<std::size_t>(value_bytes - 1, 8 + i * 4)));
  }
  for (std::size_t i = 0; i < ops; ++i) w.order.push_back(static_cast<std::uint32_t>(rng() % keys));

  std::fprintf(stderr, "hot: %zu keys, %zu ops, %zu-byte values\n", keys, ops, value_bytes);
  Figures map = RunHashMap(w);
  auto lru = RunPartition(w, EvictionPolicy::kLru, dir);
  auto sieve = lru.ok() ? RunPartition(w, EvictionPolicy::kSieve, dir) : lru;
  RemoveTree(dir);
  if (!lru.ok() || !sieve.ok()) {
    std::fprintf(stderr, "hot: %s\n", (!lru.ok() ? lru : sieve).status().ToString().c_str());
    return 1;
  }

  JsonWriter json;
  json.BeginObject();
  json.Field("scenario", "hot");
  json.Field("keys", static_cast<std::uint64_t>(keys));
  json.Field("ops", static_cast<std::uint64_t>(ops));
  json.Field("value_bytes", static_cast<std::uint64_t>(value_bytes));
  json.Field("dir", root);
  WriteFigures(json, "unordered_map", map);
  WriteFigures(json, "ramlake_lru", *lru);
  WriteFigures(json, "ramlake_sieve", *sieve);
  WriteRatios(json, "lru_vs_map", *lru, map);
  WriteRatios(json, "sieve_vs_map", *sieve, map);
  json.Field("goal_ratio_max", 2.0);
  json.EndObject();
  if (HasFlag(args, "--json")) {
    std::printf("%s\n", json.str().c_str());
  } else {
    std::printf("%s\n", json.str().c_str());
  }
  return 0;
}

}  // namespace postdevai::bench
