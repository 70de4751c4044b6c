// postdevai-bench vector [--n N] [--dim D] [--queries Q] [--batch B] [--k K] [--rerank R] [--rounds N]
//                        [--updates U] [--build-breadth B] [--no-faiss-ann] [--json]
//
// On one set of vectors, in one run:
//   * the approximate nearest-neighbour index (our HNSW graph over the int8
//     copies, re-ranked at full precision) beside hnswlib (Debian's
//     libhnswlib-dev, M=16, ef_construction=200): build time, recall@10
//     against latency as the search breadth (ef) grows, latency ratios at
//     recall 0.95 and 0.99, memory per vector, inserts/replacements/deletes
//     while searching (rate, search latency, worst pause), and filtered
//     searches through the graph and through the scan by selectivity (where
//     the index switches between them);
//   * this core's streaming-read bandwidth (measured here, the yardstick);
//   * our exact scan (float32, the index's own full-precision copy), one query
//     at a time and in a batch (the multi-query kernel);
//   * our default search: int8 scan + re-rank of the best candidates at full
//     precision, single and batched;
//   * the same default search with half of the full-precision vectors cold:
//     served from a LevelDB database this bench builds (raw float32 values,
//     read with Get), the other half from RAM;
//   * FAISS IndexFlatIP (Debian's libfaiss-dev) one query at a time and in a
//     batch, and its results as the correctness reference for recall@10.
// Metric: inner product on unit vectors (so also cosine). Everything runs on
// one thread: FAISS's OpenMP is limited to one thread for a like-for-like
// single-core comparison.
#include <link.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "leveldb/db.h"
#include "leveldb/write_batch.h"
#include "bench/hnswlib_peer.h"
#include "simd/vector_index.h"

#ifdef POSTDEVAI_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>
#endif

namespace postdevai::bench {
namespace {

constexpr const char* kModel = "bench-embedding";

// ------------------------------------------------------------------ data

std::uint64_t SplitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Approximately normal (sum of four uniforms, variance 1): fast enough to make
// 150 million components in a couple of seconds.
float RoughNormal(std::uint64_t& state) {
  const std::uint64_t r = SplitMix(state);
  float s = 0;
  for (int i = 0; i < 4; ++i) s += float((r >> (16 * i)) & 0xFFFF) / 65535.0f;
  return (s - 2.0f) * 1.7320508f;
}

void Normalize(float* v, std::size_t dim) {
  double n = 0;
  for (std::size_t i = 0; i < dim; ++i) n += double(v[i]) * v[i];
  const float inv = n > 0 ? float(1.0 / std::sqrt(n)) : 0.0f;
  for (std::size_t i = 0; i < dim; ++i) v[i] *= inv;
}

// Unit vectors around n/200 cluster centres (cosine ~0.9 to their centre), the
// shape of real embedding collections: near neighbours differ by little.
struct DataSet {
  std::size_t n, dim;
  std::vector<float> centres;
  std::vector<float> vectors;  // n x dim, back to back
};

DataSet MakeData(std::size_t n, std::size_t dim, std::uint64_t seed) {
  DataSet data{n, dim, {}, {}};
  const std::size_t clusters = std::max<std::size_t>(1, n / 200);
  std::uint64_t state = seed;
  data.centres.resize(clusters * dim);
  for (auto& x : data.centres) x = RoughNormal(state);
  data.vectors.resize(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const float* c = data.centres.data() + (SplitMix(state) % clusters) * dim;
    float* v = data.vectors.data() + i * dim;
    for (std::size_t j = 0; j < dim; ++j) v[j] = c[j] + 0.5f * RoughNormal(state);
    Normalize(v, dim);
  }
  return data;
}

std::vector<float> MakeQueries(const DataSet& data, std::size_t count, std::uint64_t seed) {
  std::uint64_t state = seed;
  const std::size_t clusters = data.centres.size() / data.dim;
  std::vector<float> q(count * data.dim);
  for (std::size_t i = 0; i < count; ++i) {
    const float* c = data.centres.data() + (SplitMix(state) % clusters) * data.dim;
    float* v = q.data() + i * data.dim;
    for (std::size_t j = 0; j < data.dim; ++j) v[j] = c[j] + 0.5f * RoughNormal(state);
    Normalize(v, data.dim);
  }
  return q;
}

// ------------------------------------------------------------------ bandwidth

// Streaming read of a buffer far larger than the caches, split into `streams`
// equal parts read side by side (the hardware prefetcher follows each part),
// summing 8-byte words in independent chains (the compiler vectorizes it).
// Returns the best of `passes`.
double MeasureReadBandwidth(const std::uint64_t* buffer, std::size_t words, int streams, int passes) {
  double best = 0;
  volatile std::uint64_t sink = 0;
  const std::size_t per_stream = words / std::size_t(streams) / 8 * 8;
  for (int p = 0; p < passes; ++p) {
    const auto start = Clock::now();
    std::uint64_t s[4][8] = {};
    for (std::size_t i = 0; i < per_stream; i += 8) {
      for (int st = 0; st < streams; ++st) {
        const std::uint64_t* w = buffer + std::size_t(st) * per_stream + i;
        for (int j = 0; j < 8; ++j) s[st][j] += w[j];
      }
    }
    const double secs = SecondsSince(start);
    for (auto& row : s) {
      for (std::uint64_t v : row) sink = sink + v;
    }
    best = std::max(best, double(per_stream * std::size_t(streams) * 8) / secs / 1e9);
  }
  return best;
}

struct Bandwidth {
  double best_gb_per_s = 0;
  double by_streams[3] = {};  // 1, 2, 4 streams
};

// The machine's single-core read bandwidth: the best of 1, 2 and 4 streams
// over 1 GiB (one stream alone understates what a core can pull).
Bandwidth MeasureBandwidth() {
  const std::size_t words = (std::size_t(1) << 30) / 8;
  std::unique_ptr<std::uint64_t[]> buffer(new std::uint64_t[words]);
  for (std::size_t i = 0; i < words; ++i) buffer[i] = i;  // touch every page
  Bandwidth b;
  const int streams[3] = {1, 2, 4};
  for (int i = 0; i < 3; ++i) {
    b.by_streams[i] = MeasureReadBandwidth(buffer.get(), words, streams[i], 3);
    b.best_gb_per_s = std::max(b.best_gb_per_s, b.by_streams[i]);
  }
  return b;
}

// ------------------------------------------------------------------ tiers

// The full-precision tiers of the engine: even ids hot in RAM (a plain array
// standing in for the RAM-Lake partition), odd ids — when `half_cold` — in a
// LevelDB database on the work disk.
class BenchSource : public FullPrecisionSource {
 public:
  BenchSource(const DataSet& data, leveldb::DB* cold) : data_(data), cold_(cold) {}
  Status Fetch(std::span<const std::uint64_t> ids, float* out) override {
    const std::size_t bytes = data_.dim * sizeof(float);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::uint64_t id = ids[i];
      if (cold_ == nullptr || id % 2 == 0) {
        std::memcpy(out + i * data_.dim, data_.vectors.data() + id * data_.dim, bytes);
        continue;
      }
      const auto start = Clock::now();
      char key[8];
      for (int b = 0; b < 8; ++b) key[b] = char(id >> (56 - 8 * b));
      leveldb::Status s = cold_->Get(leveldb::ReadOptions(), leveldb::Slice(key, 8), &value_);
      if (!s.ok()) return Status::IoError("cold tier: " + s.ToString());
      if (value_.size() != bytes) return Status::Corruption("cold tier: vector " + std::to_string(id) + " has wrong size");
      std::memcpy(out + i * data_.dim, value_.data(), bytes);
      cold_fetches += 1;
      cold_seconds += SecondsSince(start);
    }
    return Status::Ok();
  }
  std::size_t cold_fetches = 0;
  double cold_seconds = 0;

 private:
  const DataSet& data_;
  leveldb::DB* cold_;
  std::string value_;
};

Status BuildColdTier(const DataSet& data, const std::string& dir, std::unique_ptr<leveldb::DB>* db) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.compression = leveldb::kNoCompression;  // float32 noise does not compress
  options.write_buffer_size = 64 << 20;
  options.max_file_size = 64 << 20;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Status::IoError(s.ToString());
  db->reset(raw);
  const std::size_t bytes = data.dim * sizeof(float);
  leveldb::WriteBatch batch;
  for (std::uint64_t id = 1; id < data.n; id += 2) {
    char key[8];
    for (int b = 0; b < 8; ++b) key[b] = char(id >> (56 - 8 * b));
    batch.Put(leveldb::Slice(key, 8),
              leveldb::Slice(reinterpret_cast<const char*>(data.vectors.data() + id * data.dim), bytes));
    if (batch.ApproximateSize() > (8 << 20)) {
      s = raw->Write(leveldb::WriteOptions(), &batch);
      if (!s.ok()) return Status::IoError(s.ToString());
      batch.Clear();
    }
  }
  s = raw->Write(leveldb::WriteOptions(), &batch);
  if (!s.ok()) return Status::IoError(s.ToString());
  raw->CompactRange(nullptr, nullptr);
  return Status::Ok();
}

// ------------------------------------------------------------------ measuring

// Latencies of one measurement. The machine is shared (2 cores, other jobs
// come and go), so the median is the headline figure: a query that lost its
// core for a while moves the mean, not the median.
struct Timing {
  double mean_ms = 0;
  double p50_ms = 0, p99_ms = 0;
  // CPU time this thread got per query: when it is well below the wall-clock
  // mean, the core was shared with another job during the measurement.
  double cpu_ms = 0;
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

Timing Summarize(LatencyRecorder& latency, double total_seconds, std::size_t count, std::size_t per_sample) {
  Timing t;
  t.mean_ms = total_seconds * 1e3 / double(count);
  t.p50_ms = latency.PercentileMicros(0.5) / 1e3 / double(per_sample);
  t.p99_ms = latency.PercentileMicros(0.99) / 1e3 / double(per_sample);
  return t;
}

std::uint64_t NanosSince(Clock::time_point start) {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

double Recall(const std::vector<std::vector<std::uint64_t>>& got, const std::vector<std::vector<std::uint64_t>>& truth,
              std::size_t k) {
  double sum = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    std::set<std::uint64_t> t(truth[q].begin(), truth[q].begin() + std::min(k, truth[q].size()));
    std::size_t found = 0;
    for (std::size_t i = 0; i < std::min(k, got[q].size()); ++i) found += t.count(got[q][i]);
    sum += double(found) / double(k);
  }
  return truth.empty() ? 0 : sum / double(truth.size());
}

std::vector<std::uint64_t> Ids(const std::vector<VectorHit>& hits) {
  std::vector<std::uint64_t> ids;
  for (const auto& h : hits) ids.push_back(h.id);
  return ids;
}

// Runs every query alone, full precision from `source` (null: the index's own
// copy); returns per-query latency and the ids found.
Timing RunSingle(const VectorIndex& index, FullPrecisionSource* source, const std::vector<float>& queries,
                 std::size_t num_queries, const VectorSearchOptions& options,
                 std::vector<std::vector<std::uint64_t>>* found, bool* ok) {
  LatencyRecorder latency;
  found->assign(num_queries, {});
  const std::size_t dim = index.dimension();
  const double cpu_start = ThreadCpuSeconds();
  const auto start = Clock::now();
  for (std::size_t q = 0; q < num_queries; ++q) {
    const auto t0 = Clock::now();
    auto hits = index.Search(kModel, std::span<const float>(queries).subspan(q * dim, dim), options, source);
    latency.Add(NanosSince(t0));
    if (!hits.ok()) {
      std::fprintf(stderr, "vector bench: search failed: %s\n", hits.status().ToString().c_str());
      *ok = false;
      return {};
    }
    (*found)[q] = Ids(*hits);
  }
  Timing t = Summarize(latency, SecondsSince(start), num_queries, 1);
  t.cpu_ms = (ThreadCpuSeconds() - cpu_start) * 1e3 / double(num_queries);
  return t;
}

// Runs the queries in batches of `batch`, full precision from `source` (null:
// the index's own copy); per-query figures (batch time / batch).
Timing RunBatched(const VectorIndex& index, FullPrecisionSource* source, const std::vector<float>& queries,
                  std::size_t num_queries, std::size_t batch, const VectorSearchOptions& options,
                  std::vector<std::vector<std::uint64_t>>* found, bool* ok) {
  found->assign(num_queries, {});
  const std::size_t dim = index.dimension();
  LatencyRecorder latency;
  const double cpu_start = ThreadCpuSeconds();
  const auto start = Clock::now();
  for (std::size_t q = 0; q + batch <= num_queries; q += batch) {
    const std::size_t m = batch;
    const auto t0 = Clock::now();
    auto hits =
        index.SearchBatch(kModel, std::span<const float>(queries).subspan(q * dim, m * dim), m, options, source);
    if (!hits.ok()) {
      std::fprintf(stderr, "vector bench: batch search failed: %s\n", hits.status().ToString().c_str());
      *ok = false;
      return {};
    }
    latency.Add(NanosSince(t0));
    for (std::size_t i = 0; i < m; ++i) (*found)[q + i] = Ids((*hits)[i]);
  }
  Timing t = Summarize(latency, SecondsSince(start), num_queries / batch * batch, batch);
  t.cpu_ms = (ThreadCpuSeconds() - cpu_start) * 1e3 / double(num_queries / batch * batch);
  return t;
}

// The BLAS library this process actually loaded (reference BLAS, OpenBLAS,
// BLIS, ... — whatever the libblas.so.3 alternative or LD_LIBRARY_PATH picked):
// FAISS's batched path runs on it.
std::string BlasLibrary() {
  std::string found = "not loaded";
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("blas") == std::string::npos) return 0;
        char resolved[4096];
        *static_cast<std::string*>(data) = realpath(name.c_str(), resolved) ? resolved : name;
        return 1;
      },
      &found);
  return found;
}


// ------------------------------------------------------------------ ANN: ours vs hnswlib

constexpr std::size_t kPeerM = 16;
constexpr std::size_t kPeerEfConstruction = 200;

struct CurvePoint {
  std::size_t ef = 0;
  Timing timing;
  double recall = 0;
};

struct UpdateFigures {
  double inserts_per_s = 0;  // insert time only (the index is single-threaded: searches wait for it)
  double write_mean_us = 0;
  double write_p99_us = 0;
  double worst_pause_ms = 0;  // the longest single write: what a search queued behind it waits
  Timing search;              // searches interleaved with the writes
};

struct FilterPoint {
  std::string language;
  double selectivity = 0;
  double matches_per_candidate = 0;  // selectivity x n / candidates wanted: what the index's switch looks at
  Timing graph, scan;
  double graph_recall = 0, scan_recall = 0;
};

struct AnnReport {
  bool peer = false;
  std::size_t degree = 0, build_breadth = 0;
  double ours_build_s = 0, peer_build_s = 0;
  double ours_bytes_per_vector = 0, ours_graph_bytes_per_vector = 0, ours_bytes_without_float_copy = 0;
  double peer_bytes_per_vector = 0;
  std::vector<CurvePoint> ours, theirs;
  UpdateFigures ours_updates, peer_updates;
  std::size_t updates = 0;
  std::vector<FilterPoint> filtered;
  double filter_matches_per_candidate = 0;  // the index's default switch
  // Restart without a rebuild: the index's snapshot, written and loaded back
  // in memory (the catalog adds a CRC32C and a file on the RAM disk).
  double snapshot_bytes = 0, snapshot_save_s = 0, snapshot_load_s = 0;
  // Scaling: our curve over the first quarter of the data (n/4), against its
  // own exact answers: latency at n over latency at n/4 at equal recall.
  std::size_t quarter_n = 0;
  std::vector<CurvePoint> ours_quarter, theirs_quarter;
  // FAISS's graph and partitioned indexes (Debian's generic build), one thread.
  struct Peer {
    std::string name, index, parameters;
    double build_s = 0, bytes_per_vector = 0;
    std::vector<CurvePoint> curve;  // ef = efSearch (HNSW) or nprobe (IVF)
  };
  std::vector<Peer> faiss;
};

// A vector's language in the ANN index: groups of known size, so a language
// filter has a known selectivity.
struct LanguageGroup {
  const char* name;
  std::size_t percent;
};
constexpr LanguageGroup kLanguageGroups[] = {{"sel50", 50}, {"sel20", 20}, {"sel10", 10}, {"sel5", 5},
                                             {"sel2", 2},   {"sel1", 1},   {"rest", 12}};
std::string LanguageOf(std::uint64_t id) {
  std::size_t bucket = (id * 0x9E3779B97F4A7C15ull >> 32) % 100, start = 0;
  for (const LanguageGroup& g : kLanguageGroups) {
    if (bucket < start + g.percent) return g.name;
    start += g.percent;
  }
  return "rest";
}

// The lowest p50 latency among the points reaching `recall` (0 if none does).
double LatencyAtRecall(const std::vector<CurvePoint>& curve, double recall) {
  double best = 0;
  for (const CurvePoint& p : curve) {
    if (p.recall >= recall && (best == 0 || p.timing.p50_ms < best)) best = p.timing.p50_ms;
  }
  return best;
}

template <typename SearchFn>
CurvePoint MeasurePoint(std::size_t ef, const std::vector<float>& queries, std::size_t num_queries, std::size_t dim,
                        const std::vector<std::vector<std::uint64_t>>& truth, std::size_t k, SearchFn search) {
  CurvePoint point;
  point.ef = ef;
  std::vector<std::vector<std::uint64_t>> found(num_queries);
  LatencyRecorder latency;
  const double cpu_start = ThreadCpuSeconds();
  const auto start = Clock::now();
  for (std::size_t q = 0; q < num_queries; ++q) {
    const auto t0 = Clock::now();
    found[q] = search(queries.data() + q * dim);
    latency.Add(NanosSince(t0));
  }
  point.timing = Summarize(latency, SecondsSince(start), num_queries, 1);
  point.timing.cpu_ms = (ThreadCpuSeconds() - cpu_start) * 1e3 / double(num_queries);
  point.recall = Recall(found, truth, k);
  return point;
}

AnnReport RunAnnComparison(const DataSet& data, const std::vector<float>& queries, std::size_t num_queries,
                           const std::vector<std::vector<std::uint64_t>>& truth, std::size_t k, std::size_t updates,
                           std::size_t build_breadth, bool with_faiss, bool* ok) {
  AnnReport report;
  const std::size_t n = data.n, dim = data.dim;
  report.peer = HnswlibPeer::Available();
  report.updates = updates;
  VectorIndexOptions options;
  options.model = kModel;
  options.dimension = std::uint32_t(dim);
  options.keep_full_precision = true;  // re-rank from RAM, as hnswlib keeps its floats
  options.graph_metric = VectorMetric::kInnerProduct;
  options.graph_min_vectors = 0;
  if (build_breadth > 0) options.graph_build_breadth = std::uint32_t(build_breadth);
  report.degree = options.graph_degree;
  report.build_breadth = options.graph_build_breadth;
  auto created = VectorIndex::Create(options);
  if (!created.ok()) {
    *ok = false;
    return report;
  }
  VectorIndex& ours = **created;
  ours.Reserve(n + updates);
  std::fprintf(stderr, "vector: ANN: building our graph (M=%u, build breadth %u) over %zu vectors...\n",
               options.graph_degree, options.graph_build_breadth, n);
  auto entry_of = [&](std::uint64_t id, const float* values) {
    VectorAttributes a{VectorOwnerKind::kCodeChunk, "f" + std::to_string(id / 16), LanguageOf(id), {}};
    return VectorEntry{id, std::span<const float>(values, dim), std::move(a)};
  };
  auto start = Clock::now();
  for (std::uint64_t id = 0; id < n; ++id) {
    if (!ours.Add(kModel, entry_of(id, data.vectors.data() + id * dim)).ok()) *ok = false;
  }
  report.ours_build_s = SecondsSince(start);

  std::unique_ptr<HnswlibPeer> peer;
  if (report.peer) {
    std::fprintf(stderr, "vector: ANN: building hnswlib (M=%zu, ef_construction=%zu)...\n", kPeerM,
                 kPeerEfConstruction);
    peer = std::make_unique<HnswlibPeer>(dim, n + updates, kPeerM, kPeerEfConstruction);
    start = Clock::now();
    for (std::uint64_t id = 0; id < n; ++id) peer->Add(data.vectors.data() + id * dim, id);
    report.peer_build_s = SecondsSince(start);
    report.peer_bytes_per_vector = peer->BytesPerVector(n);
  }
  report.ours_bytes_per_vector = ours.RamBytesPerVector();
  report.ours_graph_bytes_per_vector = double(ours.GraphRamBytes()) / double(n);
  // The engine keeps the float vectors in the RAM-Lake partition, not in the index.
  report.ours_bytes_without_float_copy =
      report.ours_bytes_per_vector - double((dim + 15) / 16 * 16 * sizeof(float));

  {
    std::fprintf(stderr, "vector: ANN: snapshot and load (restart without a rebuild)...\n");
    std::string snapshot;
    start = Clock::now();
    ours.Serialize(&snapshot);
    report.snapshot_save_s = SecondsSince(start);
    report.snapshot_bytes = double(snapshot.size());
    auto loaded = VectorIndex::Create(options);
    start = Clock::now();
    if (!loaded.ok() || !(*loaded)->Deserialize(snapshot).ok()) *ok = false;
    report.snapshot_load_s = SecondsSince(start);
  }

  std::fprintf(stderr, "vector: ANN: recall/latency curves...\n");
  // Fine steps where the recall goals (0.95, 0.99) are reached: "the lowest
  // latency reaching a recall" is only as fine as this grid.
  for (std::size_t ef : {10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256}) {
    if (ef < k) continue;
    VectorSearchOptions search;
    search.k = k;
    search.metric = VectorMetric::kInnerProduct;
    search.rerank_candidates = ef;
    report.ours.push_back(MeasurePoint(ef, queries, num_queries, dim, truth, k, [&](const float* q) {
      auto hits = ours.Search(kModel, std::span<const float>(q, dim), search, nullptr);
      if (!hits.ok()) *ok = false;
      return hits.ok() ? Ids(*hits) : std::vector<std::uint64_t>{};
    }));
    if (peer) {
      peer->SetEf(ef);
      report.theirs.push_back(
          MeasurePoint(ef, queries, num_queries, dim, truth, k, [&](const float* q) { return peer->Search(q, k); }));
    }
  }

  {
    // The same build and curve over the first n/4 vectors.
    report.quarter_n = n / 4;
    std::fprintf(stderr, "vector: ANN: scaling: our graph over n/4 = %zu vectors...\n", report.quarter_n);
    auto small = VectorIndex::Create(options);
    if (!small.ok()) {
      *ok = false;
    } else {
      VectorIndex& quarter = **small;
      quarter.Reserve(report.quarter_n);
      for (std::uint64_t id = 0; id < report.quarter_n; ++id) {
        if (!quarter.Add(kModel, entry_of(id, data.vectors.data() + id * dim)).ok()) *ok = false;
      }
      VectorSearchOptions exact;
      exact.k = k;
      exact.metric = VectorMetric::kInnerProduct;
      exact.mode = VectorSearchMode::kExact;
      std::vector<std::vector<std::uint64_t>> quarter_truth(num_queries);
      for (std::size_t q = 0; q < num_queries; ++q) {
        auto hits = quarter.Search(kModel, std::span<const float>(queries.data() + q * dim, dim), exact, nullptr);
        if (hits.ok()) quarter_truth[q] = Ids(*hits);
      }
      for (const CurvePoint& at_n : report.ours) {
        VectorSearchOptions search;
        search.k = k;
        search.metric = VectorMetric::kInnerProduct;
        search.rerank_candidates = at_n.ef;
        report.ours_quarter.push_back(
            MeasurePoint(at_n.ef, queries, num_queries, dim, quarter_truth, k, [&](const float* q) {
              auto hits = quarter.Search(kModel, std::span<const float>(q, dim), search, nullptr);
              return hits.ok() ? Ids(*hits) : std::vector<std::uint64_t>{};
            }));
      }
      // hnswlib's own scaling on the same data, for reference.
      if (report.peer) {
        HnswlibPeer small_peer(dim, report.quarter_n, kPeerM, kPeerEfConstruction);
        for (std::uint64_t id = 0; id < report.quarter_n; ++id) small_peer.Add(data.vectors.data() + id * dim, id);
        for (const CurvePoint& at_n : report.ours) {
          small_peer.SetEf(at_n.ef);
          report.theirs_quarter.push_back(MeasurePoint(at_n.ef, queries, num_queries, dim, quarter_truth, k,
                                                       [&](const float* q) { return small_peer.Search(q, k); }));
        }
      }
    }
  }

#ifdef POSTDEVAI_HAVE_FAISS
  if (with_faiss) {
    omp_set_num_threads(1);
    auto labels_of = [k](const std::vector<faiss::Index::idx_t>& labels) {
      std::vector<std::uint64_t> out;
      for (std::size_t i = 0; i < k; ++i) {
        if (labels[i] >= 0) out.push_back(std::uint64_t(labels[i]));
      }
      return out;
    };
    {
      AnnReport::Peer peer_hnsw{"faiss_hnsw", "IndexHNSWFlat, inner product",
                                "M=16, efConstruction=200; curve over efSearch"};
      std::fprintf(stderr, "vector: ANN: building FAISS IndexHNSWFlat (M=16, efConstruction=200)...\n");
      faiss::IndexHNSWFlat hnsw(int(dim), int(kPeerM), faiss::METRIC_INNER_PRODUCT);
      hnsw.hnsw.efConstruction = int(kPeerEfConstruction);
      start = Clock::now();
      hnsw.add(faiss::Index::idx_t(n), data.vectors.data());
      peer_hnsw.build_s = SecondsSince(start);
      // Its vectors (flat codes), the links of every level, levels and offsets.
      peer_hnsw.bytes_per_vector =
          double(n * dim * sizeof(float) + hnsw.hnsw.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t) +
                 hnsw.hnsw.levels.size() * sizeof(int) + hnsw.hnsw.offsets.size() * sizeof(std::size_t)) /
          double(n);
      for (const CurvePoint& ours_point : report.ours) {
        hnsw.hnsw.efSearch = int(ours_point.ef);
        peer_hnsw.curve.push_back(MeasurePoint(ours_point.ef, queries, num_queries, dim, truth, k, [&](const float* q) {
          std::vector<float> distances(k);
          std::vector<faiss::Index::idx_t> labels(k);
          hnsw.search(1, q, faiss::Index::idx_t(k), distances.data(), labels.data());
          return labels_of(labels);
        }));
      }
      report.faiss.push_back(std::move(peer_hnsw));
    }
    {
      // sqrt(n) lists, trained on 64 vectors a list (k-means, 10 iterations).
      const std::size_t nlist = std::max<std::size_t>(16, std::size_t(std::sqrt(double(n))));
      const std::size_t train_n = std::min(n, 64 * nlist);
      AnnReport::Peer peer_ivf{"faiss_ivf", "IndexIVFFlat over IndexFlatIP, inner product",
                               "nlist=" + std::to_string(nlist) + " (sqrt n), trained on " + std::to_string(train_n) +
                                   " vectors; curve over nprobe"};
      std::fprintf(stderr, "vector: ANN: building FAISS IndexIVFFlat (nlist %zu)...\n", nlist);
      faiss::IndexFlatIP coarse{static_cast<faiss::Index::idx_t>(dim)};
      faiss::IndexIVFFlat ivf(&coarse, dim, nlist, faiss::METRIC_INNER_PRODUCT);
      ivf.cp.niter = 10;
      ivf.verbose = false;
      start = Clock::now();
      ivf.train(faiss::Index::idx_t(train_n), data.vectors.data());
      ivf.add(faiss::Index::idx_t(n), data.vectors.data());
      peer_ivf.build_s = SecondsSince(start);
      peer_ivf.bytes_per_vector =
          double(n * (dim * sizeof(float) + sizeof(faiss::Index::idx_t)) + nlist * dim * sizeof(float)) / double(n);
      for (std::size_t nprobe : {1, 2, 4, 8, 16, 32, 64, 128}) {
        if (nprobe > nlist) break;
        ivf.nprobe = nprobe;
        peer_ivf.curve.push_back(MeasurePoint(nprobe, queries, num_queries, dim, truth, k, [&](const float* q) {
          std::vector<float> distances(k);
          std::vector<faiss::Index::idx_t> labels(k);
          ivf.search(1, q, faiss::Index::idx_t(k), distances.data(), labels.data());
          return labels_of(labels);
        }));
      }
      report.faiss.push_back(std::move(peer_ivf));
    }
  }
#else
  (void)with_faiss;
#endif

  // Filtered: a language filter of known selectivity, through the graph and
  // through the scan (forced both ways), against the filtered exact answer.
  std::fprintf(stderr, "vector: ANN: filtered searches by selectivity (graph walk vs scan)...\n");
  const std::size_t filter_queries = std::min<std::size_t>(num_queries, 64);
  const double default_ratio = options.graph_filter_matches_per_candidate;
  for (const LanguageGroup& g : kLanguageGroups) {
    if (std::string_view(g.name) == "rest") continue;
    FilterPoint point;
    point.language = g.name;
    point.selectivity = double(g.percent) / 100.0;
    VectorSearchOptions search;
    search.k = k;
    search.metric = VectorMetric::kInnerProduct;
    search.rerank_candidates = 64;
    search.filter.language = g.name;
    VectorSearchOptions exact = search;
    exact.mode = VectorSearchMode::kExact;
    std::vector<std::vector<std::uint64_t>> filtered_truth(filter_queries);
    for (std::size_t q = 0; q < filter_queries; ++q) {
      auto hits = ours.Search(kModel, std::span<const float>(queries.data() + q * dim, dim), exact, nullptr);
      if (hits.ok()) filtered_truth[q] = Ids(*hits);
    }
    auto run = [&](const float* q) {
      auto hits = ours.Search(kModel, std::span<const float>(q, dim), search, nullptr);
      return hits.ok() ? Ids(*hits) : std::vector<std::uint64_t>{};
    };
    ours.SetGraphFilterMatchesPerCandidate(0.0);  // always the graph (falling back to the scan when short of k)
    CurvePoint graph = MeasurePoint(64, queries, filter_queries, dim, filtered_truth, k, run);
    ours.SetGraphFilterMatchesPerCandidate(1e30);  // never the graph
    CurvePoint scan = MeasurePoint(64, queries, filter_queries, dim, filtered_truth, k, run);
    point.matches_per_candidate = point.selectivity * double(n) / double(search.rerank_candidates);
    point.graph = graph.timing;
    point.graph_recall = graph.recall;
    point.scan = scan.timing;
    point.scan_recall = scan.recall;
    report.filtered.push_back(point);
  }
  ours.SetGraphFilterMatchesPerCandidate(default_ratio);
  report.filter_matches_per_candidate = default_ratio;

  // Writes while searching, one thread (the index's contract): per step one
  // insert of a new vector and one search; every 4th step also a delete and
  // every 4th (offset 2) a replacement of an existing id.
  std::fprintf(stderr, "vector: ANN: %zu inserts with deletes and replacements while searching...\n", updates);
  const std::vector<float> fresh = MakeQueries(data, updates, 777);
  VectorSearchOptions search;
  search.k = k;
  search.metric = VectorMetric::kInnerProduct;
  search.rerank_candidates = 64;
  auto measure_updates = [&](auto insert, auto remove, auto replace, auto query) {
    UpdateFigures figures;
    LatencyRecorder search_latency, write_latency;
    double insert_seconds = 0, write_seconds = 0;
    std::size_t writes = 0;
    std::uint64_t worst_ns = 0;
    auto timed = [&](auto op) {
      const auto t0 = Clock::now();
      op();
      const std::uint64_t ns = NanosSince(t0);
      write_latency.Add(ns);
      worst_ns = std::max(worst_ns, ns);
      write_seconds += double(ns) * 1e-9;
      ++writes;
      return double(ns) * 1e-9;
    };
    const auto all_start = Clock::now();
    for (std::size_t i = 0; i < updates; ++i) {
      const float* v = fresh.data() + i * dim;
      insert_seconds += timed([&] { insert(n + i, v); });
      if (i % 4 == 0) timed([&] { remove((i * 7919) % n); });
      if (i % 4 == 2) timed([&] { replace((i * 104729 + 1) % n, fresh.data() + ((i + 1) % updates) * dim); });
      const auto t0 = Clock::now();
      query(queries.data() + (i % num_queries) * dim);
      search_latency.Add(NanosSince(t0));
    }
    figures.search = Summarize(search_latency, SecondsSince(all_start), updates, 1);
    figures.inserts_per_s = insert_seconds > 0 ? double(updates) / insert_seconds : 0;
    figures.write_mean_us = writes ? write_seconds * 1e6 / double(writes) : 0;
    figures.worst_pause_ms = double(worst_ns) / 1e6;
    figures.write_p99_us = write_latency.PercentileMicros(0.99);
    return figures;
  };
  report.ours_updates = measure_updates(
      [&](std::uint64_t id, const float* v) {
        if (!ours.Add(kModel, entry_of(id, v)).ok()) *ok = false;
      },
      [&](std::uint64_t id) { ours.Remove(id); },
      [&](std::uint64_t id, const float* v) {
        if (!ours.Add(kModel, entry_of(id, v)).ok()) *ok = false;
      },
      [&](const float* q) { (void)ours.Search(kModel, std::span<const float>(q, dim), search, nullptr); });
  if (peer) {
    peer->SetEf(64);
    std::vector<bool> deleted(n, false);
    report.peer_updates = measure_updates(
        [&](std::uint64_t id, const float* v) { peer->Add(v, id); },
        [&](std::uint64_t id) {
          if (!deleted[id]) peer->MarkDelete(id);
          deleted[id] = true;
        },
        [&](std::uint64_t id, const float* v) {
          if (!deleted[id]) peer->Add(v, id);  // an existing label: hnswlib updates it in place
        },
        [&](const float* q) { (void)peer->Search(q, k); });
  }
  return report;
}

void WriteAnnReport(JsonWriter& w, const AnnReport& r, std::size_t n) {
  auto timing = [&](const Timing& t) {
    w.Field("p50_ms_per_query", t.p50_ms).Field("mean_ms_per_query", t.mean_ms).Field("p99_ms_per_query", t.p99_ms);
  };
  auto curve = [&](const std::vector<CurvePoint>& points) {
    w.BeginArray();
    for (const CurvePoint& p : points) {
      w.BeginObject();
      w.Field("ef", std::int64_t(p.ef));
      timing(p.timing);
      w.Field("recall_at_10", p.recall);
      w.EndObject();
    }
    w.EndArray();
  };
  auto updates = [&](const UpdateFigures& u) {
    w.BeginObject();
    w.Field("inserts_per_s", u.inserts_per_s);
    w.Field("write_mean_us", u.write_mean_us);
    w.Field("write_p99_us", u.write_p99_us);
    w.Field("worst_pause_ms", u.worst_pause_ms);
    w.Key("search_while_writing").BeginObject();
    timing(u.search);
    w.EndObject();
    w.EndObject();
  };
  w.Key("ann").BeginObject();
  w.Field("threads", 1);
  w.Key("ours").BeginObject();
  w.Field("index", "HNSW graph over the int8 copies (Highway kernels), re-rank at full precision from RAM; ef = "
                   "rerank_candidates");
  w.Field("degree_m", std::int64_t(r.degree)).Field("build_breadth", std::int64_t(r.build_breadth));
  w.Field("build_s", r.ours_build_s).Field("build_us_per_vector", r.ours_build_s * 1e6 / double(n));
  w.Field("ram_bytes_per_vector", r.ours_bytes_per_vector);
  w.Field("ram_bytes_per_vector_graph", r.ours_graph_bytes_per_vector);
  w.Field("ram_bytes_per_vector_without_float_copy", r.ours_bytes_without_float_copy);
  w.Key("snapshot").BeginObject();
  w.Field("bytes_per_vector", r.snapshot_bytes / double(n));
  w.Field("serialize_s", r.snapshot_save_s).Field("load_s", r.snapshot_load_s);
  w.Field("load_s_per_million_vectors", r.snapshot_load_s * 1e6 / double(n));
  w.Field("note", "in memory, float copy included (this index keeps one); the engine's snapshot has no float copy "
                  "and adds a CRC32C pass and a RAM-disk file read");
  w.EndObject();
  w.Key("curve");
  curve(r.ours);
  w.Key("updates");
  updates(r.ours_updates);
  w.EndObject();
  w.Key("hnswlib").BeginObject();
  w.Field("available", r.peer);
  w.Field("build", HnswlibPeer::Build());
  if (r.peer) {
    w.Field("m", std::int64_t(kPeerM)).Field("ef_construction", std::int64_t(kPeerEfConstruction));
    w.Field("build_s", r.peer_build_s).Field("build_us_per_vector", r.peer_build_s * 1e6 / double(n));
    w.Field("ram_bytes_per_vector", r.peer_bytes_per_vector);
    w.Key("curve");
    curve(r.theirs);
    w.Key("updates");
    updates(r.peer_updates);
    w.Field("updates_note", "hnswlib deletes lazily (markDelete: the node stays in the graph); a replacement is "
                            "addPoint of an existing label (updatePoint)");
  }
  w.EndObject();
  w.Field("updates", std::int64_t(r.updates));
  w.Field("updates_pattern", "per step: insert a new vector, then (every 4th step) delete or (every 4th, offset 2) "
                             "replace an existing one, then one search at ef 64");
  if (r.peer) {
    auto ratio = [&](const char* key, double recall) {
      const double ours = LatencyAtRecall(r.ours, recall), theirs = LatencyAtRecall(r.theirs, recall);
      if (ours > 0 && theirs > 0) {
        w.Field(key, ours / theirs);
      } else {
        w.Key(key).String("no point of one of them reaches this recall");
      }
    };
    ratio("latency_ratio_vs_hnswlib_at_recall_0_95", 0.95);
    ratio("latency_ratio_vs_hnswlib_at_recall_0_99", 0.99);
    w.Field("build_time_ratio_vs_hnswlib", r.ours_build_s / r.peer_build_s);
    w.Field("memory_ratio_vs_hnswlib", r.ours_bytes_per_vector / r.peer_bytes_per_vector);
    w.Field("memory_without_float_copy_ratio_vs_hnswlib", r.ours_bytes_without_float_copy / r.peer_bytes_per_vector);
    w.Field("insert_rate_ratio_vs_hnswlib", r.ours_updates.inserts_per_s / r.peer_updates.inserts_per_s);
    w.Field("ratio_note", "ratio < 1: ours is faster / smaller, except insert_rate (> 1: ours inserts faster)");
  }
  w.Key("faiss").BeginArray();
  for (const AnnReport::Peer& p : r.faiss) {
    w.BeginObject();
    w.Field("name", p.name).Field("index", p.index).Field("parameters", p.parameters);
    w.Field("build", "Debian libfaiss-dev 1.7.3, generic build without AVX2, one OpenMP thread");
    w.Field("build_s", p.build_s).Field("ram_bytes_per_vector", p.bytes_per_vector);
    w.Key("curve");
    curve(p.curve);
    for (double recall : {0.95, 0.99}) {
      const double ours = LatencyAtRecall(r.ours, recall), theirs = LatencyAtRecall(p.curve, recall);
      const std::string key = "latency_ratio_vs_" + p.name + (recall == 0.95 ? "_at_recall_0_95" : "_at_recall_0_99");
      if (ours > 0 && theirs > 0) {
        w.Field(key, ours / theirs);
      } else {
        w.Key(key).String("no point of one of them reaches this recall");
      }
    }
    w.Field("build_time_ratio_vs_" + p.name, r.ours_build_s / p.build_s);
    w.EndObject();
  }
  w.EndArray();
  w.Key("scaling").BeginObject();
  w.Field("n", std::int64_t(n)).Field("quarter_n", std::int64_t(r.quarter_n));
  w.Key("quarter_curve");
  curve(r.ours_quarter);
  for (double recall : {0.95, 0.99}) {
    const double at_n = LatencyAtRecall(r.ours, recall), at_quarter = LatencyAtRecall(r.ours_quarter, recall);
    const char* key = recall == 0.95 ? "latency_ratio_4x_n_at_recall_0_95" : "latency_ratio_4x_n_at_recall_0_99";
    if (at_n > 0 && at_quarter > 0) {
      w.Field(key, at_n / at_quarter);
    } else {
      w.Key(key).String("no point reaches this recall");
    }
  }
  for (double recall : {0.95, 0.99}) {
    const double at_n = LatencyAtRecall(r.theirs, recall), at_quarter = LatencyAtRecall(r.theirs_quarter, recall);
    const char* key = recall == 0.95 ? "hnswlib_latency_ratio_4x_n_at_recall_0_95" : "hnswlib_latency_ratio_4x_n_at_recall_0_99";
    if (at_n > 0 && at_quarter > 0) w.Field(key, at_n / at_quarter);
  }
  w.Field("note", "latency at n over latency at n/4 (same queries, each against its own exact answer), at the "
                  "lowest ef reaching the recall; goal for ours <= 1.6; hnswlib's on the same data for reference");
  w.EndObject();
  w.Field("filtered_note", "language filters of known selectivity, 64 candidates, 64 queries; the index walks the "
                           "graph when matches per candidate >= its switch, else scans");
  w.Field("filtered_switch_matches_per_candidate", r.filter_matches_per_candidate);
  w.Key("filtered").BeginArray();
  for (const FilterPoint& p : r.filtered) {
    w.BeginObject();
    w.Field("selectivity", p.selectivity);
    w.Field("matches_per_candidate", p.matches_per_candidate);
    w.Key("graph_walk").BeginObject();
    timing(p.graph);
    w.Field("recall_at_10", p.graph_recall);
    w.EndObject();
    w.Key("filtered_scan").BeginObject();
    timing(p.scan);
    w.Field("recall_at_10", p.scan_recall);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void PrintAnnReport(const AnnReport& r) {
  std::printf("  ANN (HNSW) ours: build %.1f s, %.0f B/vector (%.0f without the float copy, graph %.0f)\n",
              r.ours_build_s, r.ours_bytes_per_vector, r.ours_bytes_without_float_copy,
              r.ours_graph_bytes_per_vector);
  std::printf("  ANN snapshot: %.1f MB, serialize %.2f s, load %.2f s\n", r.snapshot_bytes / 1e6, r.snapshot_save_s,
              r.snapshot_load_s);
  if (r.peer) std::printf("  ANN hnswlib:     build %.1f s, %.0f B/vector\n", r.peer_build_s, r.peer_bytes_per_vector);
  for (const AnnReport::Peer& p : r.faiss) {
    std::printf("  ANN %s: build %.1f s, %.0f B/vector; curve:", p.name.c_str(), p.build_s, p.bytes_per_vector);
    for (const CurvePoint& c : p.curve) std::printf(" [%zu] %.3f ms %.3f", c.ef, c.timing.p50_ms, c.recall);
    std::printf("\n");
  }
  std::printf("  ANN ours at n/4 = %zu:", r.quarter_n);
  for (const CurvePoint& c : r.ours_quarter) std::printf(" [%zu] %.3f ms %.3f", c.ef, c.timing.p50_ms, c.recall);
  std::printf("\n");
  for (std::size_t i = 0; i < r.ours.size(); ++i) {
    std::printf("    ef %-4zu ours %7.3f ms recall %.4f", r.ours[i].ef, r.ours[i].timing.p50_ms, r.ours[i].recall);
    if (i < r.theirs.size()) std::printf("   hnswlib %7.3f ms recall %.4f", r.theirs[i].timing.p50_ms, r.theirs[i].recall);
    std::printf("\n");
  }
  std::printf("  updates while searching: ours %.0f inserts/s, worst pause %.2f ms, search p99 %.3f ms",
              r.ours_updates.inserts_per_s, r.ours_updates.worst_pause_ms, r.ours_updates.search.p99_ms);
  if (r.peer) {
    std::printf("; hnswlib %.0f inserts/s, worst pause %.2f ms", r.peer_updates.inserts_per_s,
                r.peer_updates.worst_pause_ms);
  }
  std::printf("\n");
  for (const FilterPoint& p : r.filtered) {
    std::printf("  filter selectivity %5.2f (%5.0f matches/candidate): graph %7.3f ms (recall %.3f), scan %7.3f ms "
                "(recall %.3f)\n",
                p.selectivity, p.matches_per_candidate, p.graph.p50_ms, p.graph_recall, p.scan.p50_ms, p.scan_recall);
  }
}

}  // namespace

int RunVectorBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench vector [--n N] [--dim D] [--queries Q] [--batch B] [--k K] [--rerank R] [--rounds N]\n"
        "                       [--updates U] [--build-breadth B] [--no-faiss-ann] [--json]\n"
        "  --n        vectors (default 50000)\n"
        "  --dim      dimension (default 768)\n"
        "  --queries  queries per measurement (default 192; rounded up to whole batches)\n"
        "  --batch    batch size of the batched runs (default 64)\n"
        "  --k        neighbours (default 10)\n"
        "  --rerank   candidates re-ranked at full precision (default 100)\n"
        "  --rounds   measurement rounds of the scans; figures are medians over rounds (default 3)\n"
        "  --updates  inserts while searching in the ANN comparison (default 2000)\n"
        "  --build-breadth  our graph's candidates per insert (default: the index's, 128)\n"
        "  --no-faiss-ann   leave FAISS's HNSW and IVF indexes out of the ANN comparison (their builds are slow)\n");
    return 0;
  }
  const std::size_t n = std::size_t(OptionInt(args, "--n", 50000));
  const std::size_t updates = std::size_t(std::max<long long>(4, OptionInt(args, "--updates", 2000)));
  const std::size_t build_breadth = std::size_t(std::max<long long>(0, OptionInt(args, "--build-breadth", 0)));
  const bool with_faiss = !HasFlag(args, "--no-faiss-ann");
  const std::size_t dim = std::size_t(OptionInt(args, "--dim", 768));
  const std::size_t batch = std::size_t(std::max<long long>(1, OptionInt(args, "--batch", 64)));
  const std::size_t wanted_queries = std::size_t(std::max<long long>(1, OptionInt(args, "--queries", 192)));
  const std::size_t num_queries = (wanted_queries + batch - 1) / batch * batch;
  const std::size_t k = std::size_t(OptionInt(args, "--k", 10));
  const std::size_t rerank = std::size_t(OptionInt(args, "--rerank", 100));
  const bool json = HasFlag(args, "--json");
  if (n < 2 || dim == 0 || dim > simd::kMaxInt8Dimension || k == 0) {
    std::fprintf(stderr, "vector bench: need --n >= 2, 1 <= --dim <= %zu, --k >= 1\n", simd::kMaxInt8Dimension);
    return 2;
  }
  bool ok = true;
  const double float_bytes = double(n) * double(dim) * sizeof(float);
  const double code_bytes = double(n) * double(simd::PaddedInt8Dimension(dim));


  std::fprintf(stderr, "vector: generating %zu x %zu vectors and %zu queries...\n", n, dim, num_queries);
  const DataSet data = MakeData(n, dim, 42);
  const std::vector<float> queries = MakeQueries(data, num_queries, 4242);

  // Index A keeps its own full-precision copy (the all-hot case, and the exact
  // scan); index B keeps only int8 copies, and its searches read full precision
  // through the two-tier source.
  VectorIndexOptions options;
  options.model = kModel;
  options.dimension = std::uint32_t(dim);
  options.rerank_candidates = std::uint32_t(rerank);
  options.keep_full_precision = true;
  options.graph_degree = 0;  // these two measure the scans; the ANN comparison builds its own index
  auto kept_or = VectorIndex::Create(options);
  std::fprintf(stderr, "vector: building the cold tier (LevelDB) for half the vectors...\n");
  const std::string scratch = MakeScratchDir("vector");
  std::unique_ptr<leveldb::DB> cold_db;
  Status cold_status = BuildColdTier(data, scratch + "/cold", &cold_db);
  if (!kept_or.ok() || !cold_status.ok()) {
    std::fprintf(stderr, "vector bench: setup failed: %s %s\n", kept_or.status().ToString().c_str(),
                 cold_status.ToString().c_str());
    RemoveTree(scratch);
    return 1;
  }
  BenchSource tiered_source(data, cold_db.get());
  options.keep_full_precision = false;
  auto tiered_or = VectorIndex::Create(options);
  if (!tiered_or.ok()) return 1;
  VectorIndex& kept = **kept_or;
  VectorIndex& tiered = **tiered_or;
  std::fprintf(stderr, "vector: indexing...\n");
  kept.Reserve(n);
  tiered.Reserve(n);
  const auto index_start = Clock::now();
  VectorAttributes attributes;
  attributes.kind = VectorOwnerKind::kHistoryMessage;
  attributes.session = "bench";
  for (std::uint64_t id = 0; id < n; ++id) {
    const VectorEntry entry{id, std::span<const float>(data.vectors).subspan(id * dim, dim), attributes};
    if (!kept.Add(kModel, entry).ok() || !tiered.Add(kModel, entry).ok()) return 1;
  }
  const double add_us = SecondsSince(index_start) * 1e6 / double(2 * n);

  VectorSearchOptions exact;
  exact.k = k;
  exact.metric = VectorMetric::kInnerProduct;
  exact.mode = VectorSearchMode::kExact;
  VectorSearchOptions quantized = exact;
  quantized.mode = VectorSearchMode::kQuantizedRerank;

  // Reference results: FAISS when present, else our exact scan.
  std::vector<std::vector<std::uint64_t>> truth;
  std::string reference = "ours_exact";
  Timing faiss_single, faiss_batch;
#ifdef POSTDEVAI_HAVE_FAISS
  omp_set_num_threads(1);
  faiss::IndexFlatIP flat{static_cast<faiss::Index::idx_t>(dim)};
  flat.add(faiss::Index::idx_t(n), data.vectors.data());
  {
    std::fprintf(stderr, "vector: FAISS IndexFlatIP, one query at a time...\n");
    std::vector<float> distances(k);
    std::vector<faiss::Index::idx_t> labels(k);
    truth.assign(num_queries, {});
    LatencyRecorder latency;
    const auto start = Clock::now();
    for (std::size_t q = 0; q < num_queries; ++q) {
      const auto t0 = Clock::now();
      flat.search(1, queries.data() + q * dim, faiss::Index::idx_t(k), distances.data(), labels.data());
      latency.Add(NanosSince(t0));
      for (auto l : labels) truth[q].push_back(std::uint64_t(l));
    }
    faiss_single = Summarize(latency, SecondsSince(start), num_queries, 1);
    std::fprintf(stderr, "vector: FAISS IndexFlatIP, batches of %zu (BLAS)...\n", batch);
    std::vector<float> bd(batch * k);
    std::vector<faiss::Index::idx_t> bl(batch * k);
    LatencyRecorder batch_latency;
    const auto bstart = Clock::now();
    for (std::size_t q = 0; q + batch <= num_queries; q += batch) {
      const auto t0 = Clock::now();
      flat.search(faiss::Index::idx_t(batch), queries.data() + q * dim, faiss::Index::idx_t(k), bd.data(), bl.data());
      batch_latency.Add(NanosSince(t0));
    }
    faiss_batch = Summarize(batch_latency, SecondsSince(bstart), num_queries / batch * batch, batch);
    reference = "faiss_index_flat_ip";
  }
#endif

  // The machine is shared (2 cores; other jobs start and stop), so the
  // comparisons run in rounds: each round measures the bandwidth yardstick and
  // then every scan back to back, ratios are taken within a round, and the
  // summary is the median over rounds.
  VectorSearchOptions scan_only = quantized;
  scan_only.rerank_candidates = k;  // the int8 ranking alone decides: the scan's own speed
  struct Round {
    Bandwidth bandwidth;
    Timing exact_single, exact_batch, quantized_single, quantized_batch, scan_only, cold_single;
    double cold_fetches_per_query = 0, cold_fetch_us = 0;
  };
  std::vector<Round> rounds(std::size_t(std::max<long long>(1, OptionInt(args, "--rounds", 3))));
  std::vector<std::vector<std::uint64_t>> exact_found, exact_batch_found, quantized_found, quantized_batch_found,
      scan_only_found, cold_found;
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    Round& round = rounds[r];
    std::fprintf(stderr, "vector: round %zu/%zu: bandwidth, exact, int8 + re-rank (hot, half cold), batches...\n",
                 r + 1, rounds.size());
    round.bandwidth = MeasureBandwidth();
    round.exact_single = RunSingle(kept, nullptr, queries, num_queries, exact, &exact_found, &ok);
    round.quantized_single = RunSingle(kept, nullptr, queries, num_queries, quantized, &quantized_found, &ok);
    round.scan_only = RunSingle(kept, nullptr, queries, num_queries, scan_only, &scan_only_found, &ok);
    tiered_source.cold_fetches = 0;
    tiered_source.cold_seconds = 0;
    round.cold_single = RunSingle(tiered, &tiered_source, queries, num_queries, quantized, &cold_found, &ok);
    round.cold_fetches_per_query = double(tiered_source.cold_fetches) / double(num_queries);
    round.cold_fetch_us =
        tiered_source.cold_fetches ? tiered_source.cold_seconds * 1e6 / double(tiered_source.cold_fetches) : 0;
    round.exact_batch = RunBatched(kept, nullptr, queries, num_queries, batch, exact, &exact_batch_found, &ok);
    round.quantized_batch =
        RunBatched(kept, nullptr, queries, num_queries, batch, quantized, &quantized_batch_found, &ok);
  }
  if (truth.empty()) truth = exact_found;

  // Exact mode through the source reads every vector, half of them from
  // LevelDB: a few queries are enough to see what that costs.
  const std::size_t cold_exact_queries = std::min<std::size_t>(3, num_queries);
  std::vector<std::vector<std::uint64_t>> cold_exact_found;
  const Timing cold_exact =
      RunSingle(tiered, &tiered_source, queries, cold_exact_queries, exact, &cold_exact_found, &ok);
  std::vector<std::vector<std::uint64_t>> truth_head(truth.begin(), truth.begin() + cold_exact_queries);

  const AnnReport ann = RunAnnComparison(data, queries, num_queries, truth, k, updates, build_breadth, with_faiss, &ok);

  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
  };
  auto over_rounds = [&](auto get) {
    std::vector<double> v;
    for (const Round& round : rounds) v.push_back(get(round));
    return median(v);
  };
  auto summary = [&](Timing Round::*field) {
    Timing t;
    t.p50_ms = over_rounds([&](const Round& r) { return (r.*field).p50_ms; });
    t.mean_ms = over_rounds([&](const Round& r) { return (r.*field).mean_ms; });
    t.cpu_ms = over_rounds([&](const Round& r) { return (r.*field).cpu_ms; });
    for (const Round& r : rounds) t.p99_ms = std::max(t.p99_ms, (r.*field).p99_ms);
    return t;
  };
  const Timing exact_single = summary(&Round::exact_single);
  const Timing exact_batch = summary(&Round::exact_batch);
  const Timing quantized_single = summary(&Round::quantized_single);
  const Timing quantized_batch = summary(&Round::quantized_batch);
  const Timing scan_only_single = summary(&Round::scan_only);
  const Timing cold_single = summary(&Round::cold_single);
  const double bandwidth = over_rounds([](const Round& r) { return r.bandwidth.best_gb_per_s; });
  const double exact_fraction = over_rounds([&](const Round& r) {
    return float_bytes / (r.exact_single.p50_ms * 1e-3) / 1e9 / r.bandwidth.best_gb_per_s;
  });
  const double scan_fraction = over_rounds([&](const Round& r) {
    return code_bytes / (r.scan_only.p50_ms * 1e-3) / 1e9 / r.bandwidth.best_gb_per_s;
  });
  const double quantized_speedup =
      over_rounds([](const Round& r) { return r.exact_single.p50_ms / r.quantized_single.p50_ms; });
  const double cold_fetches_per_query = over_rounds([](const Round& r) { return r.cold_fetches_per_query; });
  const double cold_fetch_us = over_rounds([](const Round& r) { return r.cold_fetch_us; });
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;

  const std::string target = simd::KernelTargetName(simd::DispatchedKernelTarget());
  auto gbps = [](double bytes, double ms) { return ms > 0 ? bytes / (ms * 1e-3) / 1e9 : 0.0; };
  const double exact_gbps = gbps(float_bytes, exact_single.p50_ms);
  const double scan_gbps = gbps(code_bytes, scan_only_single.p50_ms);
  const double faiss_gbps = gbps(float_bytes, faiss_single.p50_ms);
  const double recall_exact = Recall(exact_found, truth, k);
  const double recall_quantized = Recall(quantized_found, truth, k);
  const double recall_cold = Recall(cold_found, truth, k);

  auto timing = [&](JsonWriter& w, const Timing& t) {
    w.Field("p50_ms_per_query", t.p50_ms).Field("mean_ms_per_query", t.mean_ms).Field("p99_ms_per_query", t.p99_ms);
    if (t.cpu_ms > 0) w.Field("cpu_ms_per_query", t.cpu_ms);
  };
  JsonWriter w;
  w.BeginObject();
  w.Field("scenario", "vector");
  w.Field("n", std::int64_t(n)).Field("dim", std::int64_t(dim)).Field("k", std::int64_t(k));
  w.Field("queries", std::int64_t(num_queries)).Field("batch", std::int64_t(batch));
  w.Field("metric", "inner_product");
  w.Field("data", "unit vectors around n/200 Gaussian cluster centres; queries drawn the same way, not in the data");
  w.Field("threads", 1);
  w.Field("kernel_target", target);
  w.Field("recall_reference", reference);
  w.Field("headline_latency", "p50 (median) wall-clock per query, median over rounds; shared 2-core machine, see "
                              "load_average and rounds");
  w.Key("load_average").BeginArray().Number(load[0]).Number(load[1]).Number(load[2]).EndArray();
  w.Key("machine").BeginObject();
  w.Field("stream_read_gb_per_s", bandwidth);
  w.Field("stream_read_method", "one core, 1 GiB buffer, best of 3 passes each for 1, 2 and 4 side-by-side "
                                "streams (the best of those); measured at the start of every round, median shown");
  w.Key("stream_read_gb_per_s_by_streams_first_round").BeginArray();
  for (double b : rounds.front().bandwidth.by_streams) w.Number(b);
  w.EndArray();
  w.EndObject();
  w.Key("rounds").BeginArray();
  for (const Round& r : rounds) {
    w.BeginObject();
    w.Field("stream_read_gb_per_s", r.bandwidth.best_gb_per_s);
    w.Field("exact_single_p50_ms", r.exact_single.p50_ms);
    w.Field("exact_single_cpu_ms", r.exact_single.cpu_ms);
    w.Field("exact_fraction_of_bandwidth", float_bytes / (r.exact_single.p50_ms * 1e-3) / 1e9 / r.bandwidth.best_gb_per_s);
    w.Field("int8_rerank_single_p50_ms", r.quantized_single.p50_ms);
    w.Field("int8_rerank_speedup_vs_exact", r.exact_single.p50_ms / r.quantized_single.p50_ms);
    w.Field("int8_rerank_half_cold_p50_ms", r.cold_single.p50_ms);
    w.Field("exact_batch_p50_ms_per_query", r.exact_batch.p50_ms);
    w.EndObject();
  }
  w.EndArray();
  w.Field("float_data_mb", float_bytes / 1e6).Field("int8_codes_mb", code_bytes / 1e6);
  w.Field("add_us_per_vector", add_us);

  w.Key("ours").BeginObject();
  w.Key("exact_single").BeginObject();
  timing(w, exact_single);
  w.Field("gb_per_s_scanned", exact_gbps);
  w.Field("fraction_of_stream_bandwidth", exact_fraction);
  w.Field("recall_at_10", recall_exact);
  w.EndObject();
  w.Key("exact_batch").BeginObject();
  timing(w, exact_batch);
  w.Field("queries_per_s", 1e3 / exact_batch.p50_ms);
  w.Field("speedup_vs_exact_single", exact_single.p50_ms / exact_batch.p50_ms);
  w.Field("recall_at_10", Recall(exact_batch_found, truth, k));
  w.EndObject();
  w.Key("int8_scan_only_single").BeginObject();
  timing(w, scan_only_single);
  w.Field("gb_per_s_scanned", scan_gbps);
  w.Field("fraction_of_stream_bandwidth", scan_fraction);
  w.Field("recall_at_10", Recall(scan_only_found, truth, k));
  w.EndObject();
  w.Key("int8_rerank_single").BeginObject();
  w.Field("rerank_candidates", std::int64_t(rerank));
  timing(w, quantized_single);
  w.Field("speedup_vs_exact_single", quantized_speedup);
  w.Field("recall_at_10", recall_quantized);
  w.EndObject();
  w.Key("int8_rerank_batch").BeginObject();
  timing(w, quantized_batch);
  w.Field("queries_per_s", 1e3 / quantized_batch.p50_ms);
  w.Field("recall_at_10", Recall(quantized_batch_found, truth, k));
  w.EndObject();
  w.Key("int8_rerank_half_cold").BeginObject();
  w.Field("cold_tier", "LevelDB on the work disk built by the bench (raw float32 values, page cache warm): odd ids; "
                       "even ids from RAM");
  timing(w, cold_single);
  w.Field("recall_at_10", recall_cold);
  w.Field("cold_fetches_per_query", cold_fetches_per_query);
  w.Field("cold_fetch_us", cold_fetch_us);
  w.Key("exact_through_tiers").BeginObject();
  w.Field("queries", std::int64_t(cold_exact_queries));
  timing(w, cold_exact);
  w.Field("recall_at_10", Recall(cold_exact_found, truth_head, k));
  w.EndObject();
  w.EndObject();
  w.Key("ram_bytes_per_vector").BeginObject();
  w.Field("int8_index", tiered.RamBytesPerVector());
  w.Field("int8_index_with_float_copy", kept.RamBytesPerVector());
  w.Field("float32_vector_alone", double(dim * sizeof(float)));
  w.EndObject();
  w.EndObject();

  w.Key("faiss").BeginObject();
#ifdef POSTDEVAI_HAVE_FAISS
  w.Field("available", true);
  w.Field("build", "Debian libfaiss-dev 1.7.3, generic build without AVX2");
  w.Field("blas", BlasLibrary());
  w.Field("omp_threads", 1);
  w.Key("index_flat_ip_single").BeginObject();
  timing(w, faiss_single);
  w.Field("gb_per_s_scanned", faiss_gbps);
  w.EndObject();
  w.Key("index_flat_ip_batch").BeginObject();
  timing(w, faiss_batch);
  w.Field("queries_per_s", 1e3 / faiss_batch.p50_ms);
  w.EndObject();
  w.Field("ours_exact_single_speedup", faiss_single.p50_ms / exact_single.p50_ms);
  w.Field("ours_exact_batch_speedup", faiss_batch.p50_ms / exact_batch.p50_ms);
  w.Field("ratio_note", "FAISS here is Debian's generic build (no AVX2) on the BLAS named above; the ratios are "
                        "against that build, not an optimized FAISS");
#else
  w.Field("available", false);
  w.Field("note", "built without FAISS (install libfaiss-dev and reconfigure); recall is against our exact scan");
#endif
  w.EndObject();

  WriteAnnReport(w, ann, n);

  w.Key("goals").BeginObject();
  w.Field("exact_single_at_least_80pct_of_bandwidth", exact_fraction >= 0.8);
  w.Field("int8_rerank_at_least_3x_exact", quantized_speedup >= 3.0);
  w.Field("int8_rerank_recall_at_least_0_99", recall_quantized >= 0.99);
  w.Field("half_cold_recall_unchanged", recall_cold == recall_quantized);
#ifdef POSTDEVAI_HAVE_FAISS
  w.Field("batch_at_least_faiss_batch_throughput", exact_batch.p50_ms <= faiss_batch.p50_ms);
#endif
  if (ann.peer) {
    for (double recall : {0.95, 0.99}) {
      const double ours_ms = LatencyAtRecall(ann.ours, recall), theirs_ms = LatencyAtRecall(ann.theirs, recall);
      w.Field(recall == 0.95 ? "ann_latency_at_most_hnswlib_at_recall_0_95" : "ann_latency_at_most_hnswlib_at_recall_0_99",
              ours_ms > 0 && theirs_ms > 0 && ours_ms <= theirs_ms);
    }
    w.Field("ann_build_time_at_most_hnswlib", ann.ours_build_s <= ann.peer_build_s);
    // The engine's index keeps no float copy (the vectors' records hold them);
    // the stricter figure counts one, as hnswlib keeps its own.
    const double int8_copy = double(simd::PaddedInt8Dimension(dim));
    w.Field("ann_index_memory_at_most_hnswlib_plus_int8_copy",
            ann.ours_bytes_without_float_copy <= ann.peer_bytes_per_vector + int8_copy);
    w.Field("ann_memory_with_float_copy_at_most_hnswlib_plus_int8_copy",
            ann.ours_bytes_per_vector <= ann.peer_bytes_per_vector + int8_copy);
  }
  for (double recall : {0.95, 0.99}) {
    const double at_n = LatencyAtRecall(ann.ours, recall), at_quarter = LatencyAtRecall(ann.ours_quarter, recall);
    w.Field(recall == 0.95 ? "ann_latency_at_4x_n_at_most_1_6x_at_recall_0_95"
                           : "ann_latency_at_4x_n_at_most_1_6x_at_recall_0_99",
            at_n > 0 && at_quarter > 0 && at_n <= 1.6 * at_quarter);
  }
  for (const auto& p : ann.faiss) {
    for (double recall : {0.95, 0.99}) {
      const double ours_ms = LatencyAtRecall(ann.ours, recall), theirs_ms = LatencyAtRecall(p.curve, recall);
      w.Field("ann_latency_at_most_" + p.name + (recall == 0.95 ? "_at_recall_0_95" : "_at_recall_0_99"),
              ours_ms > 0 && theirs_ms > 0 && ours_ms <= theirs_ms);
    }
  }
  w.EndObject();
  w.EndObject();

  if (json) {
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("vector search, n=%zu dim=%zu k=%zu, %zu queries, one thread, kernels: %s (median ms/query; load %.1f)\n",
                n, dim, k, num_queries, target.c_str(), load[0]);
    std::printf("  stream read bandwidth        %7.1f GB/s\n", bandwidth);
    std::printf("  exact, single query          %7.2f ms  %6.1f GB/s (%3.0f%% of bandwidth)  recall@10 %.3f\n",
                exact_single.p50_ms, exact_gbps, 100 * exact_fraction, recall_exact);
    std::printf("  exact, batch of %-3zu         %7.3f ms  %6.0f queries/s\n", batch, exact_batch.p50_ms,
                1e3 / exact_batch.p50_ms);
    std::printf("  int8 scan only               %7.2f ms  %6.1f GB/s  recall@10 %.3f\n", scan_only_single.p50_ms,
                scan_gbps, Recall(scan_only_found, truth, k));
    std::printf("  int8 + re-rank %-4zu          %7.2f ms  %4.1fx exact      recall@10 %.3f\n", rerank,
                quantized_single.p50_ms, quantized_speedup, recall_quantized);
    std::printf("  int8 + re-rank, batch        %7.3f ms  recall@10 %.3f\n", quantized_batch.p50_ms,
                Recall(quantized_batch_found, truth, k));
    std::printf("  int8 + re-rank, half cold    %7.2f ms  recall@10 %.3f  (%.0f LevelDB reads/query, %.1f us each)\n",
                cold_single.p50_ms, recall_cold, cold_fetches_per_query, cold_fetch_us);
    std::printf("  exact through the tiers      %7.1f ms\n", cold_exact.p50_ms);
    std::printf("  RAM bytes/vector             %7.0f int8 index, %.0f with float copy\n", tiered.RamBytesPerVector(),
                kept.RamBytesPerVector());
#ifdef POSTDEVAI_HAVE_FAISS
    std::printf("  FAISS flat IP, single        %7.2f ms  %6.1f GB/s   [Debian generic build, no AVX2]\n",
                faiss_single.p50_ms, faiss_gbps);
    std::printf("  FAISS flat IP, batch of %-3zu %7.3f ms  %6.0f queries/s  [BLAS: %s]\n", batch, faiss_batch.p50_ms,
                1e3 / faiss_batch.p50_ms, BlasLibrary().c_str());
#else
    std::printf("  FAISS: absent (built without libfaiss-dev)\n");
#endif
    PrintAnnReport(ann);
  }
  cold_db.reset();
  RemoveTree(scratch);
  return ok ? 0 : 1;
}

}  // namespace postdevai::bench
