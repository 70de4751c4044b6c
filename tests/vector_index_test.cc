// VectorIndex against a brute-force scan kept beside it: every metric, exact
// mode and the re-rank path, after inserts, replacements and deletes, with half
// of the full-precision vectors served by a "cold" tier; quantized recall on
// clustered data; refusals; filters.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "simd/vector_index.h"

namespace postdevai {
namespace {

// Full-precision vectors in two tiers, like the engine's RAM-Lake (hot) and
// LevelDB (cold). Counts what each tier served; can be told to fail.
class TieredSource : public FullPrecisionSource {
 public:
  explicit TieredSource(std::size_t dim) : dim_(dim) {}
  void Put(std::uint64_t id, std::vector<float> v) {
    // Even ids live in the cold tier.
    (id % 2 == 0 ? cold_ : hot_)[id] = std::move(v);
  }
  void Erase(std::uint64_t id) {
    hot_.erase(id);
    cold_.erase(id);
  }
  Status Fetch(std::span<const std::uint64_t> ids, float* out) override {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (fail_id_ && *fail_id_ == ids[i]) return Status::IoError("cold tier: read of vector failed");
      const std::vector<float>* v = nullptr;
      if (auto it = hot_.find(ids[i]); it != hot_.end()) {
        v = &it->second;
        ++hot_reads;
      } else if (auto jt = cold_.find(ids[i]); jt != cold_.end()) {
        v = &jt->second;
        ++cold_reads;
      } else {
        return Status::NotFound("vector " + std::to_string(ids[i]));
      }
      std::copy(v->begin(), v->end(), out + i * dim_);
    }
    return Status::Ok();
  }
  void FailOn(std::uint64_t id) { fail_id_ = id; }
  // Moves a vector to the cold tier (an eviction).
  void Demote(std::uint64_t id) {
    if (auto it = hot_.find(id); it != hot_.end()) {
      cold_[id] = std::move(it->second);
      hot_.erase(it);
    }
  }
  std::size_t hot_reads = 0, cold_reads = 0;

 private:
  std::size_t dim_;
  std::map<std::uint64_t, std::vector<float>> hot_, cold_;
  std::optional<std::uint64_t> fail_id_;
};

// What the index should contain, for the brute-force reference.
struct Stored {
  std::vector<float> values;
  VectorAttributes attributes;
};

double ExactScore(VectorMetric m, const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
    l2 += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  }
  switch (m) {
    case VectorMetric::kInnerProduct: return dot;
    case VectorMetric::kSquaredL2: return l2;
    case VectorMetric::kCosine: return (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 0.0;
  }
  return 0;
}

bool Passes(const VectorFilter& f, const VectorAttributes& a) {
  if (f.kind && a.kind != *f.kind) return false;
  if (!f.path_prefix.empty() && !std::string_view(a.path).starts_with(f.path_prefix)) return false;
  if (!f.language.empty() && a.language != f.language) return false;
  if (!f.session.empty() && a.session != f.session) return false;
  return true;
}

struct RefHit {
  std::uint64_t id;
  double score;
};

std::vector<RefHit> BruteForce(const std::map<std::uint64_t, Stored>& stored, const std::vector<float>& query,
                               const VectorSearchOptions& options) {
  std::vector<RefHit> all;
  for (const auto& [id, s] : stored) {
    if (Passes(options.filter, s.attributes)) all.push_back({id, ExactScore(options.metric, query, s.values)});
  }
  const bool higher = simd::HigherIsBetter(options.metric);
  std::sort(all.begin(), all.end(), [&](const RefHit& a, const RefHit& b) {
    return higher ? a.score > b.score : a.score < b.score;
  });
  if (all.size() > options.k) all.resize(options.k);
  return all;
}

// Results equal the brute-force top k, ties aside: same length, the score at
// every rank matches, and every returned id has (exactly) the score returned
// and is really in the top k by its exact score.
void CheckMatchesBruteForce(const std::vector<VectorHit>& got, const std::vector<RefHit>& want,
                            const std::map<std::uint64_t, Stored>& stored, const std::vector<float>& query,
                            const VectorSearchOptions& options) {
  REQUIRE(got.size() == want.size());
  const double tol = 1e-4;
  std::set<std::uint64_t> seen;
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("rank " << i << " got id " << got[i].id << " want id " << want[i].id);
    CHECK(std::fabs(got[i].score - want[i].score) <= tol * (1 + std::fabs(want[i].score)));
    REQUIRE(stored.count(got[i].id) == 1);
    const double true_score = ExactScore(options.metric, query, stored.at(got[i].id).values);
    CHECK(std::fabs(got[i].score - true_score) <= tol * (1 + std::fabs(true_score)));
    CHECK(Passes(options.filter, stored.at(got[i].id).attributes));
    CHECK(seen.insert(got[i].id).second);
  }
}

std::vector<float> Gaussian(std::size_t dim, std::mt19937_64& rng, float sigma = 1.0f) {
  std::normal_distribution<float> n(0.0f, sigma);
  std::vector<float> v(dim);
  for (auto& x : v) x = n(rng);
  return v;
}

VectorAttributes Chunk(std::string path, std::string language) {
  VectorAttributes a;
  a.kind = VectorOwnerKind::kCodeChunk;
  a.path = std::move(path);
  a.language = std::move(language);
  return a;
}

VectorAttributes Message(std::string session) {
  VectorAttributes a;
  a.kind = VectorOwnerKind::kHistoryMessage;
  a.session = std::move(session);
  return a;
}

constexpr VectorMetric kMetrics[] = {VectorMetric::kInnerProduct, VectorMetric::kSquaredL2, VectorMetric::kCosine};
const char* const kModel = "test-model";

// Two indexes fed the same writes (one reading full precision through the
// tiered source, given to each search; one keeping its own copy), the source
// and the reference.
struct Fixture {
  explicit Fixture(std::size_t dimension) : dim(dimension), source(dimension) {
    VectorIndexOptions options;
    options.model = kModel;
    options.dimension = static_cast<std::uint32_t>(dim);
    options.rerank_candidates = 50;
    auto a = VectorIndex::Create(options);
    REQUIRE(a.ok());
    tiered = std::move(a.value());
    options.keep_full_precision = true;
    auto b = VectorIndex::Create(options);
    REQUIRE(b.ok());
    kept = std::move(b.value());
  }

  void Add(std::uint64_t id, std::vector<float> v, VectorAttributes attributes) {
    source.Put(id, v);
    VectorEntry e{id, v, attributes};
    REQUIRE(tiered->Add(kModel, e).ok());
    REQUIRE(kept->Add(kModel, e).ok());
    stored[id] = Stored{std::move(v), std::move(attributes)};
  }
  void ReplaceFile(const std::string& path, const std::vector<std::pair<std::uint64_t, std::vector<float>>>& vectors) {
    std::vector<VectorEntry> entries;
    for (const auto& [id, v] : vectors) {
      source.Put(id, v);
      entries.push_back(VectorEntry{id, v, Chunk(path, "cpp")});
    }
    REQUIRE(tiered->ReplaceFile(kModel, path, entries).ok());
    REQUIRE(kept->ReplaceFile(kModel, path, entries).ok());
    for (auto it = stored.begin(); it != stored.end();) {
      bool file_chunk = it->second.attributes.kind == VectorOwnerKind::kCodeChunk && it->second.attributes.path == path;
      it = file_chunk ? stored.erase(it) : std::next(it);
    }
    for (const auto& [id, v] : vectors) stored[id] = Stored{v, Chunk(path, "cpp")};
  }
  void Remove(std::uint64_t id) {
    CHECK(tiered->Remove(id) == (stored.count(id) == 1));
    CHECK(kept->Remove(id) == (stored.count(id) == 1));
    stored.erase(id);
    source.Erase(id);
  }
  // What a search of `index` is given: the tiered index reads through the
  // source, the other needs none.
  FullPrecisionSource* SourceFor(const VectorIndex* index) { return index == tiered.get() ? &source : nullptr; }

  std::size_t dim;
  TieredSource source;
  std::unique_ptr<VectorIndex> tiered, kept;
  std::map<std::uint64_t, Stored> stored;
};

// Clustered data: `clusters` centres, points scattered around them.
std::vector<std::vector<float>> ClusterCentres(std::size_t clusters, std::size_t dim, std::mt19937_64& rng) {
  std::vector<std::vector<float>> centres;
  for (std::size_t c = 0; c < clusters; ++c) centres.push_back(Gaussian(dim, rng));
  return centres;
}
std::vector<float> NearCentre(const std::vector<float>& centre, float spread, std::mt19937_64& rng) {
  std::vector<float> v = Gaussian(centre.size(), rng, spread);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] += centre[i];
  return v;
}

}  // namespace

TEST_CASE("searches equal a brute-force scan after inserts, replacements and deletes, half the vectors cold") {
  const std::size_t dim = 40;  // not a multiple of any vector width: exercises the padding
  Fixture f(dim);
  std::mt19937_64 rng(1);
  const auto centres = ClusterCentres(12, dim, rng);
  std::uint64_t next_id = 1;
  // 100 files of 10 chunks, 300 history messages in 3 sessions.
  for (int file = 0; file < 100; ++file) {
    const std::string path = (file % 2 ? "src/" : "tests/") + std::string("f") + std::to_string(file) + ".cc";
    for (int c = 0; c < 10; ++c) {
      f.Add(next_id++, NearCentre(centres[(file + c) % 12], 0.4f, rng), Chunk(path, file % 3 ? "cpp" : "python"));
    }
  }
  for (int m = 0; m < 300; ++m) f.Add(next_id++, NearCentre(centres[m % 12], 0.4f, rng), Message("s" + std::to_string(m % 3)));

  // Re-store 20 files with a different number of chunks; delete some vectors,
  // two files, a session; re-add one id with a new vector (upsert).
  for (int file = 0; file < 40; file += 2) {
    std::vector<std::pair<std::uint64_t, std::vector<float>>> chunks;
    for (int c = 0; c < 7; ++c) chunks.push_back({next_id++, NearCentre(centres[c], 0.4f, rng)});
    f.ReplaceFile("tests/f" + std::to_string(file) + ".cc", chunks);
  }
  for (std::uint64_t id = 3; id < 1300; id += 17) f.Remove(id);
  for (const std::string path : {"src/f51.cc", "src/f53.cc"}) {
    const std::size_t in_file =
        std::count_if(f.stored.begin(), f.stored.end(), [&](auto& e) { return e.second.attributes.path == path; });
    REQUIRE(in_file > 0);
    CHECK(f.tiered->RemoveFile(path) == in_file);
    CHECK(f.kept->RemoveFile(path) == in_file);
    for (auto it = f.stored.begin(); it != f.stored.end();) {
      it = it->second.attributes.path == path ? f.stored.erase(it) : std::next(it);
    }
  }
  const std::size_t in_s1 = std::count_if(f.stored.begin(), f.stored.end(), [](auto& e) { return e.second.attributes.session == "s1"; });
  CHECK(f.tiered->RemoveSession("s1") == in_s1);
  CHECK(f.kept->RemoveSession("s1") == in_s1);
  for (auto it = f.stored.begin(); it != f.stored.end();) {
    it = it->second.attributes.session == "s1" ? f.stored.erase(it) : std::next(it);
  }
  f.Add(1001, NearCentre(centres[5], 0.4f, rng), Message("s0"));  // existed: replaced in place
  REQUIRE(f.tiered->size() == f.stored.size());
  REQUIRE(f.kept->size() == f.stored.size());

  for (VectorMetric metric : kMetrics) {
    for (int qi = 0; qi < 12; ++qi) {
      const std::vector<float> query = NearCentre(centres[qi % 12], 0.5f, rng);
      INFO("metric " << simd::VectorMetricName(metric) << " query " << qi);
      VectorSearchOptions options;
      options.metric = metric;
      options.k = 10;
      const auto want = BruteForce(f.stored, query, options);

      options.mode = VectorSearchMode::kExact;
      f.source.hot_reads = f.source.cold_reads = 0;
      auto exact_tiered = f.tiered->Search(kModel, query, options, &f.source);
      REQUIRE(exact_tiered.ok());
      CheckMatchesBruteForce(*exact_tiered, want, f.stored, query, options);
      // The exact scan through the source read every vector from both tiers.
      CHECK(f.source.hot_reads + f.source.cold_reads == f.stored.size());
      CHECK(f.source.cold_reads > f.stored.size() / 3);

      auto exact_kept = f.kept->Search(kModel, query, options, nullptr);
      REQUIRE(exact_kept.ok());
      CheckMatchesBruteForce(*exact_kept, want, f.stored, query, options);

      // Re-ranking every vector: the quantized path must be exact too.
      options.mode = VectorSearchMode::kQuantizedRerank;
      options.rerank_candidates = f.stored.size();
      for (VectorIndex* index : {f.tiered.get(), f.kept.get()}) {
        auto reranked = index->Search(kModel, query, options, f.SourceFor(index));
        REQUIRE(reranked.ok());
        CheckMatchesBruteForce(*reranked, want, f.stored, query, options);
      }

      // The default re-rank depth on clustered data: the same neighbours here.
      options.rerank_candidates = 0;
      f.source.hot_reads = f.source.cold_reads = 0;
      auto defaults = f.tiered->Search(kModel, query, options, &f.source);
      REQUIRE(defaults.ok());
      CheckMatchesBruteForce(*defaults, want, f.stored, query, options);
      CHECK(f.source.hot_reads + f.source.cold_reads == 50);  // only the candidates are fetched
      CHECK(f.source.cold_reads > 0);
      CHECK(f.source.hot_reads > 0);
    }
  }
}

TEST_CASE("evictions to the cold tier and a restart leave results unchanged") {
  const std::size_t dim = 48;
  Fixture f(dim);
  std::mt19937_64 rng(8);
  const auto centres = ClusterCentres(10, dim, rng);
  for (std::uint64_t id = 0; id < 1200; ++id) {
    f.Add(id, NearCentre(centres[id % 10], 0.4f, rng), Chunk("f" + std::to_string(id / 12), "cpp"));
  }
  std::vector<std::vector<float>> queries;
  for (int q = 0; q < 8; ++q) queries.push_back(NearCentre(centres[q], 0.5f, rng));
  auto run_all = [&](const VectorIndex& index, VectorSearchMode mode) {
    std::vector<std::vector<VectorHit>> all;
    for (const auto& q : queries) {
      for (VectorMetric metric : kMetrics) {
        VectorSearchOptions options;
        options.metric = metric;
        options.mode = mode;
        auto hits = index.Search(kModel, q, options, &f.source);
        REQUIRE(hits.ok());
        all.push_back(*hits);
      }
    }
    return all;
  };
  auto same = [](const std::vector<std::vector<VectorHit>>& a, const std::vector<std::vector<VectorHit>>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      REQUIRE(a[i].size() == b[i].size());
      for (std::size_t j = 0; j < a[i].size(); ++j) {
        CHECK(a[i][j].id == b[i][j].id);
        CHECK(a[i][j].score == b[i][j].score);
      }
    }
  };
  for (VectorSearchMode mode : {VectorSearchMode::kQuantizedRerank, VectorSearchMode::kExact}) {
    const auto before = run_all(*f.tiered, mode);
    // Evict everything to the cold tier: the index notices nothing, the
    // full-precision reads now all come from the cold tier.
    for (const auto& [id, s] : f.stored) f.source.Demote(id);
    f.source.hot_reads = f.source.cold_reads = 0;
    same(run_all(*f.tiered, mode), before);
    CHECK(f.source.hot_reads == 0);
    CHECK(f.source.cold_reads > 0);

    // A restart: the index lives in RAM only; the engine rebuilds it from the
    // stored vectors (in any order), and it answers as before.
    VectorIndexOptions options = f.tiered->options();
    auto rebuilt = VectorIndex::Create(options);
    REQUIRE(rebuilt.ok());
    for (auto it = f.stored.rbegin(); it != f.stored.rend(); ++it) {
      REQUIRE((*rebuilt)->Add(kModel, VectorEntry{it->first, it->second.values, it->second.attributes}).ok());
    }
    same(run_all(**rebuilt, mode), before);
  }
}

TEST_CASE("batched searches return what single searches return") {
  const std::size_t dim = 64;
  Fixture f(dim);
  std::mt19937_64 rng(2);
  const auto centres = ClusterCentres(8, dim, rng);
  for (std::uint64_t id = 0; id < 2500; ++id) {
    f.Add(id, NearCentre(centres[id % 8], 0.5f, rng), Chunk("p/" + std::to_string(id / 5), id % 2 ? "go" : "cpp"));
  }
  const std::size_t num_queries = 7;
  std::vector<float> queries;
  for (std::size_t q = 0; q < num_queries; ++q) {
    auto v = NearCentre(centres[q % 8], 0.6f, rng);
    queries.insert(queries.end(), v.begin(), v.end());
  }
  for (VectorMetric metric : kMetrics) {
    for (VectorSearchMode mode : {VectorSearchMode::kQuantizedRerank, VectorSearchMode::kExact}) {
      for (bool filtered : {false, true}) {
        VectorSearchOptions options;
        options.metric = metric;
        options.mode = mode;
        options.k = 8;
        if (filtered) options.filter.language = "go";
        for (VectorIndex* index : {f.tiered.get(), f.kept.get()}) {
          auto batch = index->SearchBatch(kModel, queries, num_queries, options, f.SourceFor(index));
          REQUIRE(batch.ok());
          REQUIRE(batch->size() == num_queries);
          for (std::size_t q = 0; q < num_queries; ++q) {
            auto single = index->Search(kModel, std::span<const float>(queries).subspan(q * dim, dim), options,
                                        f.SourceFor(index));
            REQUIRE(single.ok());
            REQUIRE(single->size() == (*batch)[q].size());
            for (std::size_t i = 0; i < single->size(); ++i) {
              CHECK((*single)[i].id == (*batch)[q][i].id);
              CHECK((*single)[i].score == Approx((*batch)[q][i].score).epsilon(1e-5).margin(1e-5));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("quantized recall@10 on clustered data") {
  // 4000 vectors of the default dimension in 100 tight clusters: the neighbours
  // of a query differ by little, which is where int8 rounding shows.
  const std::size_t dim = 384, n = 4000, num_queries = 50;
  std::mt19937_64 rng(3);
  const auto centres = ClusterCentres(100, dim, rng);
  TieredSource source(dim);
  VectorIndexOptions options;
  options.model = kModel;
  options.dimension = dim;
  auto created = VectorIndex::Create(options);
  REQUIRE(created.ok());
  VectorIndex& index = **created;
  std::map<std::uint64_t, Stored> stored;
  for (std::uint64_t id = 0; id < n; ++id) {
    auto v = NearCentre(centres[id % 100], 0.3f, rng);
    source.Put(id, v);
    REQUIRE(index.Add(kModel, VectorEntry{id, v, Message("s")}).ok());
    stored[id] = Stored{std::move(v), Message("s")};
  }
  for (VectorMetric metric : kMetrics) {
    double recall_reranked = 0, recall_quantized_only = 0;
    for (std::size_t q = 0; q < num_queries; ++q) {
      const auto query = NearCentre(centres[(q * 7) % 100], 0.3f, rng);
      VectorSearchOptions search;
      search.metric = metric;
      search.k = 10;
      const auto want = BruteForce(stored, query, search);
      std::set<std::uint64_t> truth;
      for (const auto& h : want) truth.insert(h.id);
      auto count_found = [&](const std::vector<VectorHit>& hits) {
        return double(std::count_if(hits.begin(), hits.end(), [&](const VectorHit& h) { return truth.count(h.id); }));
      };
      auto reranked = index.Search(kModel, query, search, &source);  // default: 100 candidates
      REQUIRE(reranked.ok());
      recall_reranked += count_found(*reranked) / 10.0;
      search.rerank_candidates = 10;  // the quantized ranking alone decides the 10
      auto quantized = index.Search(kModel, query, search, &source);
      REQUIRE(quantized.ok());
      recall_quantized_only += count_found(*quantized) / 10.0;
    }
    recall_reranked /= num_queries;
    recall_quantized_only /= num_queries;
    INFO("metric " << simd::VectorMetricName(metric));
    WARN("recall@10 " << simd::VectorMetricName(metric) << ": re-ranked " << recall_reranked << ", int8 ranking alone "
                      << recall_quantized_only);
    CHECK(recall_reranked >= 0.99);
    CHECK(recall_quantized_only >= 0.9);
  }
}

TEST_CASE("a vector is found by the first search after Add, removed vectors never come back") {
  const std::size_t dim = 16;
  Fixture f(dim);
  std::mt19937_64 rng(4);
  for (std::uint64_t id = 0; id < 300; ++id) f.Add(id, Gaussian(dim, rng), Message("s"));
  VectorSearchOptions options;
  options.metric = VectorMetric::kSquaredL2;
  options.k = 1;
  for (std::uint64_t id = 1000; id < 1020; ++id) {
    auto v = Gaussian(dim, rng, 3.0f);
    f.Add(id, v, Message("s"));
    for (VectorIndex* index : {f.tiered.get(), f.kept.get()}) {
      auto hits = index->Search(kModel, v, options, f.SourceFor(index));
      REQUIRE(hits.ok());
      REQUIRE(hits->size() == 1);
      CHECK((*hits)[0].id == id);
      CHECK((*hits)[0].score == Approx(0.0f).margin(1e-6));
    }
    f.Remove(id);
    for (VectorIndex* index : {f.tiered.get(), f.kept.get()}) {
      auto hits = index->Search(kModel, v, options, f.SourceFor(index));
      REQUIRE(hits.ok());
      CHECK((*hits)[0].id != id);
    }
  }
  // Upsert: the same id with a new vector is found by the new one.
  auto v = Gaussian(dim, rng, 3.0f);
  f.Add(7, v, Message("s"));
  auto hits = f.tiered->Search(kModel, v, options, &f.source);
  REQUIRE(hits.ok());
  CHECK((*hits)[0].id == 7);
  CHECK(f.tiered->size() == 300);
}

TEST_CASE("wrong model, wrong dimension, NaN and infinity are refused with a clear error") {
  const std::size_t dim = 8;
  Fixture f(dim);
  std::vector<float> good(dim, 0.5f);
  f.Add(1, good, Chunk("a.cc", "cpp"));

  std::vector<float> short_vector(dim - 1, 0.5f);
  Status s = f.tiered->Add(kModel, VectorEntry{2, short_vector, Chunk("a.cc", "cpp")});
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("7 dimensions") != std::string::npos);
  CHECK(s.message().find("have 8") != std::string::npos);

  s = f.tiered->Add("other-model", VectorEntry{2, good, Chunk("a.cc", "cpp")});
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("'other-model'") != std::string::npos);
  CHECK(s.message().find(std::string("'") + kModel + "'") != std::string::npos);

  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> v = good;
    v[3] = bad;
    s = f.tiered->Add(kModel, VectorEntry{2, v, Chunk("a.cc", "cpp")});
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find("component 3") != std::string::npos);
    CHECK_FALSE(f.tiered->Contains(2));
    auto q = f.tiered->Search(kModel, v, VectorSearchOptions{}, &f.source);
    CHECK(q.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(f.tiered->size() == 1);

  CHECK(f.tiered->Search(kModel, short_vector, VectorSearchOptions{}, &f.source).status().code() ==
        StatusCode::kInvalidArgument);
  auto wrong_model = f.tiered->Search("other-model", good, VectorSearchOptions{}, &f.source);
  CHECK(wrong_model.status().code() == StatusCode::kInvalidArgument);
  CHECK(wrong_model.status().message().find("'other-model'") != std::string::npos);
  VectorSearchOptions zero_k;
  zero_k.k = 0;
  CHECK(f.tiered->Search(kModel, good, zero_k, &f.source).status().code() == StatusCode::kInvalidArgument);
  std::vector<float> zero(dim, 0.0f);
  CHECK(f.tiered->Search(kModel, zero, VectorSearchOptions{}, &f.source).status().code() ==
        StatusCode::kInvalidArgument);
  VectorSearchOptions l2;
  l2.metric = VectorMetric::kSquaredL2;
  CHECK(f.tiered->Search(kModel, zero, l2, &f.source).ok());  // a zero query is fine for L2
  CHECK(f.tiered->Add(kModel, VectorEntry{3, good, Chunk("", "cpp")}).code() == StatusCode::kInvalidArgument);

  // ReplaceFile is all or nothing.
  std::vector<float> nan_vector = good;
  nan_vector[0] = std::numeric_limits<float>::quiet_NaN();
  std::vector<VectorEntry> entries = {VectorEntry{10, good, Chunk("a.cc", "cpp")},
                                      VectorEntry{11, nan_vector, Chunk("a.cc", "cpp")}};
  CHECK(f.tiered->ReplaceFile(kModel, "a.cc", entries).code() == StatusCode::kInvalidArgument);
  CHECK(f.tiered->Contains(1));
  CHECK_FALSE(f.tiered->Contains(10));
  entries = {VectorEntry{10, good, Chunk("b.cc", "cpp")}};
  CHECK(f.tiered->ReplaceFile(kModel, "a.cc", entries).code() == StatusCode::kInvalidArgument);

  // Full-precision vectors from nowhere: no source and no kept copy, in every
  // mode and in batches; the kept copy needs no source.
  VectorSearchOptions exact_mode;
  exact_mode.mode = VectorSearchMode::kExact;
  for (const VectorSearchOptions& options : {VectorSearchOptions{}, exact_mode}) {
    auto no_source = f.tiered->Search(kModel, good, options, nullptr);
    CHECK(no_source.status().code() == StatusCode::kInvalidArgument);
    CHECK(no_source.status().message().find("source") != std::string::npos);
    CHECK(f.tiered->SearchBatch(kModel, good, 1, options, nullptr).status().code() == StatusCode::kInvalidArgument);
    CHECK(f.kept->Search(kModel, good, options, nullptr).ok());
  }

  // Unusable options.
  VectorIndexOptions options;
  options.keep_full_precision = true;
  options.dimension = 0;
  CHECK(VectorIndex::Create(options).status().code() == StatusCode::kInvalidArgument);
  options.dimension = 8;
  options.model.clear();
  CHECK(VectorIndex::Create(options).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("filters by owner kind, path prefix, language and session") {
  const std::size_t dim = 24;
  Fixture f(dim);
  std::mt19937_64 rng(5);
  std::uint64_t id = 0;
  for (int file = 0; file < 30; ++file) {
    const std::string path = (file < 10 ? "src/core/" : file < 20 ? "src/cli/" : "docs/") + std::to_string(file);
    for (int c = 0; c < 8; ++c) f.Add(id++, Gaussian(dim, rng), Chunk(path, file % 2 ? "rust" : "cpp"));
  }
  for (int m = 0; m < 150; ++m) f.Add(id++, Gaussian(dim, rng), Message(m % 2 ? "alpha" : "beta"));

  std::vector<VectorFilter> filters(9);
  filters[0].kind = VectorOwnerKind::kCodeChunk;
  filters[1].kind = VectorOwnerKind::kHistoryMessage;
  filters[2].path_prefix = "src/";
  filters[3].path_prefix = "src/core/";
  filters[3].language = "rust";
  filters[4].session = "alpha";
  filters[5].language = "cpp";
  filters[5].kind = VectorOwnerKind::kCodeChunk;
  filters[6].language = "cobol";         // matches nothing
  filters[7].path_prefix = "nowhere/";   // matches nothing
  filters[8].session = "alpha";
  filters[8].kind = VectorOwnerKind::kCodeChunk;  // contradictory
  for (std::size_t fi = 0; fi < filters.size(); ++fi) {
    for (VectorSearchMode mode : {VectorSearchMode::kQuantizedRerank, VectorSearchMode::kExact}) {
      INFO("filter " << fi << " mode " << int(mode));
      const auto query = Gaussian(dim, rng);
      VectorSearchOptions options;
      options.k = 15;
      options.mode = mode;
      options.metric = VectorMetric::kInnerProduct;
      options.filter = filters[fi];
      options.rerank_candidates = 1000;  // the full re-rank: comparable with brute force
      const auto want = BruteForce(f.stored, query, options);
      if (fi >= 6) CHECK(want.empty());
      for (VectorIndex* index : {f.tiered.get(), f.kept.get()}) {
        auto got = index->Search(kModel, query, options, f.SourceFor(index));
        REQUIRE(got.ok());
        CheckMatchesBruteForce(*got, want, f.stored, query, options);
      }
    }
  }
  auto attributes = f.tiered->Attributes(0);
  REQUIRE(attributes.ok());
  CHECK(attributes->path == "src/core/0");
  CHECK(attributes->language == "cpp");
  CHECK(f.tiered->Attributes(99999).status().IsNotFound());
}

TEST_CASE("two-phase search for asynchronous fetches, source errors reach the caller") {
  const std::size_t dim = 32;
  Fixture f(dim);
  std::mt19937_64 rng(6);
  for (std::uint64_t id = 0; id < 500; ++id) f.Add(id, Gaussian(dim, rng), Message("s"));
  const auto query = Gaussian(dim, rng);
  VectorSearchOptions options;
  options.k = 5;
  options.metric = VectorMetric::kCosine;
  auto candidates = f.tiered->FindCandidates(kModel, query, options);
  REQUIRE(candidates.ok());
  CHECK(candidates->ids.size() == 50);
  std::vector<float> full(candidates->ids.size() * dim);
  REQUIRE(f.source.Fetch(candidates->ids, full.data()).ok());
  // A candidate removed between the phases is not returned.
  const std::uint64_t removed = candidates->ids[0];
  auto before = f.tiered->Rerank(query, *candidates, full, options);
  REQUIRE(before.ok());
  auto direct = f.tiered->Search(kModel, query, options, &f.source);
  REQUIRE(direct.ok());
  REQUIRE(before->size() == direct->size());
  for (std::size_t i = 0; i < before->size(); ++i) CHECK((*before)[i].id == (*direct)[i].id);
  f.Remove(removed);
  auto after = f.tiered->Rerank(query, *candidates, full, options);
  REQUIRE(after.ok());
  for (const auto& h : *after) CHECK(h.id != removed);

  // A tier failing during re-rank fails the search with its error.
  f.source.FailOn((*direct)[1].id);
  auto failed = f.tiered->Search(kModel, query, options, &f.source);
  CHECK(failed.status().code() == StatusCode::kIoError);
  CHECK(failed.status().message().find("cold tier") != std::string::npos);
}

TEST_CASE("RAM bytes per vector are reported") {
  const std::size_t dim = 384;
  std::mt19937_64 rng(7);
  VectorIndexOptions options;
  options.model = kModel;
  options.dimension = dim;
  auto quantized = VectorIndex::Create(options);
  options.keep_full_precision = true;
  auto with_copy = VectorIndex::Create(options);
  options.keep_full_precision = true;
  options.quantization = VectorQuantization::kNone;
  auto unquantized = VectorIndex::Create(options);
  REQUIRE(quantized.ok());
  REQUIRE(with_copy.ok());
  REQUIRE(unquantized.ok());
  CHECK((*quantized)->RamBytesPerVector() == 0);
  const std::size_t n = 2000;
  for (auto* index : {quantized->get(), with_copy->get(), unquantized->get()}) index->Reserve(n);
  std::vector<std::vector<float>> vectors;  // by id
  for (std::uint64_t id = 0; id < n; ++id) {
    vectors.push_back(Gaussian(dim, rng));
    VectorEntry e{id, vectors.back(), Chunk("f" + std::to_string(id / 10), "cpp")};
    for (auto* index : {quantized->get(), with_copy->get(), unquantized->get()}) REQUIRE(index->Add(kModel, e).ok());
  }
  const double q = (*quantized)->RamBytesPerVector();
  const double c = (*with_copy)->RamBytesPerVector();
  const double u = (*unquantized)->RamBytesPerVector();
  const double graph = double((*quantized)->GraphRamBytes()) / n;
  WARN("RAM bytes per 384-d vector: int8 " << q << " (graph " << graph << "), int8 + float copy " << c
                                           << ", float only " << u);
  CHECK(q > dim);
  CHECK(q - graph < dim + 160);  // codes + 3 floats + id + attributes + maps
  // The graph: 2 x degree base-layer links + a count, a layer byte, a visit
  // mark, and the upper layers of one node in degree.
  CHECK(graph > 4 * 2 * options.graph_degree);
  CHECK(graph < 4 * (2 * options.graph_degree + 2) + 16);
  CHECK((*unquantized)->GraphRamBytes() == 0);
  CHECK(c + 1 >= q + 4 * dim);  // + 1: rounding of the two averages
  CHECK(u < c);
  CHECK(u > 4 * dim);

  // An unquantized index answers the default search with an exact scan.
  const auto query = Gaussian(dim, rng);
  VectorSearchOptions search;
  auto a = (*unquantized)->Search(kModel, query, search, nullptr);
  search.mode = VectorSearchMode::kExact;
  auto b = (*with_copy)->Search(kModel, query, search, nullptr);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->size() == b->size());
  for (std::size_t i = 0; i < a->size(); ++i) CHECK((*a)[i].id == (*b)[i].id);
  // In two phases (as the engine searches) it offers every vector as a
  // candidate, and the re-rank at full precision gives the exact answer.
  auto all = (*unquantized)->FindCandidates(kModel, query, search);
  REQUIRE(all.ok());
  CHECK(all->ids.size() == n);
  std::vector<float> full;
  for (std::uint64_t id : all->ids) full.insert(full.end(), vectors[id].begin(), vectors[id].end());
  auto c2 = (*unquantized)->Rerank(query, *all, full, search);
  REQUIRE(c2.ok());
  REQUIRE(c2->size() == b->size());
  for (std::size_t i = 0; i < c2->size(); ++i) CHECK((*c2)[i].id == (*b)[i].id);
}

}  // namespace postdevai
