// postdevai-bench trace: hit rates of the RAM-Lake eviction policies on
// traces over a data set five times the RAM-Lake, beside Belady's optimum
// (offline MIN) on the same trace.
//
// Traces (every request is a reference to one fixed-size entry; a miss is
// read from the persistent store and inserted, as the engine's read path does):
//   zipf-0.99, zipf-0.8   Zipfian popularity (YCSB's generator), no locality.
//   coding-session        a developer's day: tasks touch a handful of files
//                         (popular ones more often) — open a file (read all
//                         its chunks), edit a few chunks, re-read it, jump to
//                         a related file, sometimes return to an earlier
//                         task; now and then a repository-wide search reads
//                         a fifth of all files once (a scan).
// The policies run on a real RamLakePartition whose entry cap is a fifth of
// the data set's keys; MIN gets the same capacity. First references are
// misses for everyone (compulsory_miss_rate bounds every hit rate).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <queue>
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

// YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record
// synthetic databases"): item 0 is the most popular.
class Zipfian {
 public:
  Zipfian(std::uint64_t items, double theta) : n_(items), theta_(theta) {
    for (std::uint64_t i = 1; i <= n_; ++i) zetan_ += 1.0 / std::pow(double(i), theta_);
    double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta_);
    alpha_ = 1.0 / (1.0 - theta_);
    eta_ = (1.0 - std::pow(2.0 / double(n_), 1.0 - theta_)) / (1.0 - zeta2 / zetan_);
  }
  std::uint64_t Next(std::mt19937_64& rng) {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, theta_)) return 1;
    auto v = static_cast<std::uint64_t>(double(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return v >= n_ ? n_ - 1 : v;
  }

 private:
  std::uint64_t n_;
  double theta_, zetan_ = 0, alpha_ = 0, eta_ = 0;
};

struct Trace {
  std::string name;
  std::vector<std::uint32_t> requests;  // item ids
  std::uint32_t items = 0;              // distinct ids that can appear
};

Trace ZipfTrace(double theta, std::uint32_t items, std::size_t requests, std::uint64_t seed) {
  Trace t;
  char name[32];
  std::snprintf(name, sizeof name, "zipf-%.2g", theta);
  t.name = name;
  t.items = items;
  Zipfian zipf(items, theta);
  std::mt19937_64 rng(seed);
  // Scatter ranks over ids so popularity is not tied to key order.
  for (std::size_t i = 0; i < requests; ++i) {
    t.requests.push_back(static_cast<std::uint32_t>((zipf.Next(rng) * 2654435761ull) % items));
  }
  return t;
}

Trace CodingSessionTrace(std::uint32_t target_items, std::size_t requests, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  // The repository: files of 1..24 chunks (most small), numbered chunk ids.
  std::vector<std::uint32_t> first_chunk, chunks;
  std::uint32_t items = 0;
  while (items < target_items) {
    std::uint32_t n = 1 + static_cast<std::uint32_t>(
                              std::min<std::uint64_t>(rng() % 8 + rng() % 8 + (rng() % 10 == 0 ? rng() % 12 : 0), 23));
    first_chunk.push_back(items);
    chunks.push_back(n);
    items += n;
  }
  const auto files = static_cast<std::uint32_t>(first_chunk.size());
  Zipfian file_popularity(files, 0.9);  // headers and core modules are touched by every task
  auto popular_file = [&] { return static_cast<std::uint32_t>((file_popularity.Next(rng) * 2654435761ull) % files); };

  Trace t;
  t.name = "coding-session";
  auto read_file = [&](std::uint32_t f) {
    for (std::uint32_t c = 0; c < chunks[f] && t.requests.size() < requests; ++c) t.requests.push_back(first_chunk[f] + c);
  };
  std::vector<std::vector<std::uint32_t>> recent_tasks;
  while (t.requests.size() < requests) {
    // A task: a few files of its own corner of the repository; or, one time
    // in three, back to one of the last 20 tasks.
    std::vector<std::uint32_t> task;
    if (!recent_tasks.empty() && rng() % 3 == 0) {
      task = recent_tasks[rng() % recent_tasks.size()];
    } else {
      std::uint32_t corner = static_cast<std::uint32_t>(rng() % files);
      std::uint32_t n = 3 + static_cast<std::uint32_t>(rng() % 8);
      for (std::uint32_t i = 0; i < n; ++i) task.push_back((corner + static_cast<std::uint32_t>(rng() % 40)) % files);
      recent_tasks.push_back(task);
      if (recent_tasks.size() > 20) recent_tasks.erase(recent_tasks.begin());
    }
    // Work on it in bursts: open a file (the task's own, or a popular one it
    // uses), edit a few chunks, often re-read it.
    std::uint32_t steps = 100 + static_cast<std::uint32_t>(rng() % 300);
    for (std::uint32_t s = 0; s < steps && t.requests.size() < requests; ++s) {
      std::uint32_t f = rng() % 10 < 7 ? task[rng() % task.size()] : popular_file();
      read_file(f);
      std::uint32_t edits = static_cast<std::uint32_t>(rng() % 4);
      for (std::uint32_t e = 0; e < edits && t.requests.size() < requests; ++e) {
        t.requests.push_back(first_chunk[f] + static_cast<std::uint32_t>(rng() % chunks[f]));
      }
      if (rng() % 2 == 0) read_file(f);
    }
    // Now and then a repository-wide search or re-index reads a twentieth of
    // all files once: a scan that an LRU lets flush its hot set.
    if (rng() % 25 == 0) {
      std::uint32_t start = static_cast<std::uint32_t>(rng() % files);
      for (std::uint32_t i = 0; i < files / 20 && t.requests.size() < requests; ++i) read_file((start + i) % files);
    }
  }
  t.items = items;
  return t;
}

// Belady's MIN with bypass: on a miss with a full cache, evict whichever of
// the cached items and the new one is next used furthest in the future. The
// optimal hit rate for a cache of `capacity` equal-size entries.
double BeladyHitRate(const Trace& t, std::size_t capacity) {
  const std::size_t n = t.requests.size();
  constexpr std::size_t kNever = SIZE_MAX;
  std::vector<std::size_t> next_use(n);
  std::vector<std::size_t> upcoming(t.items, kNever);
  for (std::size_t i = n; i-- > 0;) {
    next_use[i] = upcoming[t.requests[i]];
    upcoming[t.requests[i]] = i;
  }
  std::vector<std::size_t> cached_next(t.items, 0);
  std::vector<bool> cached(t.items, false);
  std::priority_queue<std::pair<std::size_t, std::uint32_t>> farthest;  // lazy: stale items skipped
  std::size_t size = 0, hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t x = t.requests[i];
    if (cached[x]) {
      ++hits;
      cached_next[x] = next_use[i];
      farthest.emplace(next_use[i], x);
      continue;
    }
    if (size == capacity) {
      while (!cached[farthest.top().second] || cached_next[farthest.top().second] != farthest.top().first) farthest.pop();
      if (farthest.top().first <= next_use[i]) continue;  // bypass: x is needed last
      cached[farthest.top().second] = false;
      farthest.pop();
      --size;
    }
    cached[x] = true;
    cached_next[x] = next_use[i];
    farthest.emplace(next_use[i], x);
    ++size;
  }
  return double(hits) / double(n);
}

std::string ItemKey(std::uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "c%09u", id);
  return buf;
}

struct PolicyResult {
  double hit_rate = 0;
  double ns_per_request = 0;
};

Result<PolicyResult> RunPolicy(const Trace& t, EvictionPolicy policy, std::size_t capacity, std::size_t value_bytes,
                               const std::string& dir) {
  PartitionOptions options;
  options.file_path = dir + "/code.ramlake";
  options.kind = PartitionKind::kCode;
  options.eviction = policy;
  options.max_entries = capacity;
  // Bytes for exactly `capacity` entries (plus the cleaner's head-room): the
  // entry cap binds, as a fixed-size-item cache does.
  std::uint64_t footprint = RamLakePartition::RecordFootprint(ItemKey(0).size(), value_bytes);
  options.capacity_bytes = capacity * footprint * 10 / 9 + (8ull << 20);
  std::filesystem::remove(options.file_path);
  auto opened = RamLakePartition::Open(storage::FileSystem::Default(), options);
  if (!opened.ok()) return opened.status();
  RamLakePartition& part = **opened;
  part.SetPersistedLsn(UINT64_MAX / 2);  // everything read from the store is clean
  const std::string value(value_bytes, 'v');
  std::vector<std::string> keys(t.items);
  for (std::uint32_t i = 0; i < t.items; ++i) keys[i] = ItemKey(i);
  std::size_t hits = 0;
  auto start = Clock::now();
  for (std::uint32_t x : t.requests) {
    if (part.Lookup(keys[x])) {
      ++hits;
    } else {
      Status s = part.Put(keys[x], value, 1);
      if (!s.ok()) return s;
    }
  }
  PolicyResult r;
  r.ns_per_request = SecondsSince(start) * 1e9 / double(t.requests.size());
  r.hit_rate = double(hits) / double(t.requests.size());
  if (part.Stats().entries > capacity) return Status::Corruption("trace: entry cap exceeded");
  return r;
}

}  // namespace

int RunTraceBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench trace [--items N (200000)] [--requests N (4000000)] [--value-bytes N (128)]\n"
        "                      [--dir DIR (/dev/shm)] [--json]\n"
        "hit rate of LRU, SIEVE and S3-FIFO on a RAM-Lake partition holding a fifth of the data set,\n"
        "beside Belady's MIN, for Zipfian (0.99, 0.8) and coding-session traces.\n");
    return 0;
  }
  const auto items = static_cast<std::uint32_t>(OptionInt(args, "--items", 200000));
  const auto requests = static_cast<std::size_t>(OptionInt(args, "--requests", 4000000));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 128));
  const std::string root = OptionValue(args, "--dir", "/dev/shm");
  const std::string dir = root + "/postdevai-bench-trace-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);

  std::vector<Trace> traces;
  traces.push_back(ZipfTrace(0.99, items, requests, 1));
  traces.push_back(ZipfTrace(0.8, items, requests, 2));
  traces.push_back(CodingSessionTrace(items, requests, 3));

  JsonWriter json;
  json.BeginObject();
  json.Field("scenario", "trace");
  json.Field("requests", static_cast<std::uint64_t>(requests));
  json.Field("value_bytes", static_cast<std::uint64_t>(value_bytes));
  json.Field("data_set_to_ramlake_ratio", 5.0);
  json.Key("traces").BeginArray();
  int rc = 0;
  for (const Trace& t : traces) {
    // The data set (every key the trace can name) is five times the cache.
    std::vector<bool> seen(t.items, false);
    std::size_t distinct = 0;
    for (std::uint32_t x : t.requests) distinct += !seen[x] ? (seen[x] = true, 1) : 0;
    const std::size_t capacity = t.items / 5;
    std::fprintf(stderr, "trace %s: %zu requests, %u keys (%zu requested), cache %zu entries\n", t.name.c_str(),
                 t.requests.size(), t.items, distinct, capacity);
    double belady = BeladyHitRate(t, capacity);
    json.BeginObject();
    json.Field("trace", t.name);
    json.Field("data_set_keys", static_cast<std::uint64_t>(t.items));
    json.Field("distinct_keys_requested", static_cast<std::uint64_t>(distinct));
    json.Field("compulsory_miss_rate", double(distinct) / double(t.requests.size()));
    json.Field("cache_entries", static_cast<std::uint64_t>(capacity));
    json.Field("belady_min_hit_rate", belady);
    double lru_rate = 0;
    for (EvictionPolicy policy : {EvictionPolicy::kLru, EvictionPolicy::kSieve, EvictionPolicy::kS3Fifo}) {
      auto r = RunPolicy(t, policy, capacity, value_bytes, dir);
      if (!r.ok()) {
        std::fprintf(stderr, "trace: %s\n", r.status().ToString().c_str());
        rc = 1;
        continue;
      }
      std::string name(EvictionPolicyName(policy));
      json.Field(name + "_hit_rate", r->hit_rate);
      json.Field(name + "_ns_per_request", r->ns_per_request);
      if (policy == EvictionPolicy::kLru) {
        lru_rate = r->hit_rate;
      } else {
        json.Field(name + "_minus_lru_hit_rate", r->hit_rate - lru_rate);
      }
    }
    json.EndObject();
  }
  json.EndArray();
  json.Field("goal_hit_rate", 0.94);
  json.EndObject();
  RemoveTree(dir);
  std::printf("%s\n", json.str().c_str());
  return rc;
}

}  // namespace postdevai::bench
