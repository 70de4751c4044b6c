// The approximate nearest-neighbour graph inside VectorIndex, against a
// brute-force oracle: recall after inserts, replacements and deletes; removed
// and replaced vectors never come back; filtered searches return exactly
// min(k, matching) results through the graph, the scan and the fallback
// between them.
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

constexpr const char* kModel = "ann-test";
constexpr std::size_t kDim = 48;

// Unit vectors around `clusters` centres: near neighbours differ by little,
// as in real embedding collections (and unlike uniform noise, where every
// vector is about as far as any other).
class Clustered {
 public:
  Clustered(std::size_t clusters, std::uint64_t seed) : rng_(seed) {
    for (std::size_t c = 0; c < clusters; ++c) centres_.push_back(Gaussian(1.0f));
  }
  std::vector<float> Next() {
    const auto& centre = centres_[rng_() % centres_.size()];
    std::vector<float> v = Gaussian(0.45f);
    for (std::size_t i = 0; i < kDim; ++i) v[i] += centre[i];
    float norm = 0;
    for (float x : v) norm += x * x;
    for (float& x : v) x /= std::sqrt(norm);
    return v;
  }

 private:
  std::vector<float> Gaussian(float sigma) {
    std::normal_distribution<float> normal(0.0f, sigma);
    std::vector<float> v(kDim);
    for (float& x : v) x = normal(rng_);
    return v;
  }
  std::mt19937_64 rng_;
  std::vector<std::vector<float>> centres_;
};

VectorAttributes ChunkOf(std::uint64_t id) {
  // Files of 10 chunks; a file's language is one of three.
  static const char* kLanguages[] = {"cpp", "python", "rust"};
  const std::uint64_t file = id / 10;
  return {VectorOwnerKind::kCodeChunk, "src/f" + std::to_string(file) + ".x", kLanguages[file % 3], {}};
}

struct Oracle {
  std::map<std::uint64_t, std::pair<std::vector<float>, VectorAttributes>> stored;

  // The exact top k (cosine) among vectors `pass` admits.
  template <typename Pass>
  std::vector<std::uint64_t> TopK(const std::vector<float>& query, std::size_t k, Pass pass) const {
    std::vector<std::pair<double, std::uint64_t>> scored;
    for (const auto& [id, entry] : stored) {
      if (!pass(entry.second)) continue;
      double dot = 0;  // unit vectors: cosine is the inner product
      for (std::size_t i = 0; i < kDim; ++i) dot += double(query[i]) * entry.first[i];
      scored.push_back({-dot, id});
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < std::min(k, scored.size()); ++i) out.push_back(scored[i].second);
    return out;
  }
};

class Fixture {
 public:
  Fixture() {
    VectorIndexOptions options;
    options.model = kModel;
    options.dimension = kDim;
    options.keep_full_precision = true;
    options.graph_min_vectors = 1000;  // small data, graph path
    options.rerank_candidates = 40;
    index = std::move(*VectorIndex::Create(options));
  }

  void Put(std::uint64_t id, std::vector<float> v, VectorAttributes attributes) {
    VectorEntry e{id, v, attributes};
    REQUIRE(index->Add(kModel, e).ok());
    oracle.stored[id] = {std::move(v), std::move(attributes)};
  }
  void Drop(std::uint64_t id) {
    REQUIRE(index->Remove(id));
    oracle.stored.erase(id);
  }

  std::vector<VectorHit> Search(const std::vector<float>& query, const VectorSearchOptions& options) {
    auto hits = index->Search(kModel, query, options, nullptr);
    REQUIRE(hits.ok());
    return *hits;
  }

  // Recall@10 over `queries` against the oracle; every hit must be stored
  // (never a removed id) and carry its stored vector's exact score.
  double Recall(Clustered& queries, std::size_t count) {
    VectorSearchOptions options;
    REQUIRE(index->UsesGraph(options));
    std::size_t found = 0;
    for (std::size_t q = 0; q < count; ++q) {
      const std::vector<float> query = queries.Next();
      const auto hits = Search(query, options);
      const auto truth = oracle.TopK(query, options.k, [](const VectorAttributes&) { return true; });
      REQUIRE(hits.size() == truth.size());
      const std::set<std::uint64_t> want(truth.begin(), truth.end());
      for (const VectorHit& h : hits) {
        auto it = oracle.stored.find(h.id);
        REQUIRE(it != oracle.stored.end());
        double dot = 0;
        for (std::size_t i = 0; i < kDim; ++i) dot += double(query[i]) * it->second.first[i];
        CHECK(h.score == Approx(dot).margin(1e-4));
        found += want.count(h.id);
      }
    }
    return double(found) / double(count * 10);
  }

  std::unique_ptr<VectorIndex> index;
  Oracle oracle;
};

}  // namespace

TEST_CASE("the graph keeps recall@10 against brute force through inserts, replacements and deletes") {
  Fixture f;
  Clustered data(60, 1);
  Clustered queries(60, 1);  // the same centres, other draws
  for (std::uint64_t id = 0; id < 5000; ++id) f.Put(id, data.Next(), ChunkOf(id));
  const double initial = f.Recall(queries, 100);
  CHECK(initial >= 0.95);

  // Replace a third of the vectors with new ones (same ids, new values): the
  // old values must not be found, the new ones must.
  for (std::uint64_t id = 0; id < 5000; id += 3) f.Put(id, data.Next(), ChunkOf(id));
  const double replaced = f.Recall(queries, 100);
  CHECK(replaced >= 0.95);

  // Delete a third, then insert new ids into the freed slots.
  for (std::uint64_t id = 1; id < 5000; id += 3) f.Drop(id);
  const double deleted = f.Recall(queries, 100);
  CHECK(deleted >= 0.95);
  for (std::uint64_t id = 5000; id < 6500; ++id) f.Put(id, data.Next(), ChunkOf(id));
  const double refilled = f.Recall(queries, 100);
  CHECK(refilled >= 0.95);
  WARN("recall@10: initial " << initial << ", after replacements " << replaced << ", after deletes " << deleted
                             << ", after refill " << refilled);
  CHECK(f.index->size() == f.oracle.stored.size());
}

TEST_CASE("vectors added while linking is deferred are found at once and keep recall once linked") {
  Fixture f;
  Clustered data(60, 5);
  Clustered queries(60, 5);
  for (std::uint64_t id = 0; id < 4000; ++id) f.Put(id, data.Next(), ChunkOf(id));

  // What a restart re-applies: new vectors, replacements, and removals of
  // some of them, all left out of the graph.
  f.index->DeferLinking(true);
  for (std::uint64_t id = 4000; id < 5000; ++id) f.Put(id, data.Next(), ChunkOf(id));
  for (std::uint64_t id = 0; id < 4000; id += 20) f.Put(id, data.Next(), ChunkOf(id));  // 200 replaced
  for (std::uint64_t id = 4000; id < 5000; id += 10) f.Drop(id);                        // 100 removed
  f.index->DeferLinking(false);
  REQUIRE(f.index->unlinked() == 1000 + 200 - 100);

  // Each unlinked vector is its own nearest neighbour, on the graph path.
  VectorSearchOptions one;
  one.k = 1;
  REQUIRE(f.index->UsesGraph(one));
  for (std::uint64_t id = 4001; id < 5000; id += 7) {
    if (!f.oracle.stored.count(id)) continue;
    const auto hits = f.Search(f.oracle.stored.at(id).first, one);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].id == id);
  }
  const double unlinked_recall = f.Recall(queries, 100);
  CHECK(unlinked_recall >= 0.95);
  // Filters still return exactly k (python files: a third of them).
  VectorSearchOptions python;
  python.k = 25;
  python.filter.language = "python";
  const auto filtered = f.Search(data.Next(), python);
  CHECK(filtered.size() == 25);
  for (const VectorHit& h : filtered) CHECK(f.oracle.stored.at(h.id).second.language == "python");

  // A snapshot keeps them unlinked, and loads back to the same answers.
  std::string snapshot;
  f.index->Serialize(&snapshot);
  VectorIndexOptions options = f.index->options();
  auto loaded = std::move(*VectorIndex::Create(options));
  REQUIRE(loaded->Deserialize(snapshot).ok());
  CHECK(loaded->unlinked() == f.index->unlinked());
  for (int q = 0; q < 20; ++q) {
    const auto query = queries.Next();
    auto a = loaded->Search(kModel, query, VectorSearchOptions{}, nullptr);
    REQUIRE(a.ok());
    const auto b = f.Search(query, VectorSearchOptions{});
    REQUIRE(a->size() == b.size());
    for (std::size_t i = 0; i < b.size(); ++i) CHECK((*a)[i].id == b[i].id);
  }

  // Linked a slice at a time; a still unlinked vector removed on the way.
  std::size_t remaining = f.index->LinkUnlinked(64);
  CHECK(remaining == 1100 - 64);
  f.Drop(4005);  // among the first deferred: linking takes the newest first
  CHECK(f.index->unlinked() == remaining - 1);
  while (f.index->LinkUnlinked(64) > 0) {
  }
  CHECK(f.index->unlinked() == 0);
  const double linked_recall = f.Recall(queries, 100);
  CHECK(linked_recall >= 0.95);
  WARN("recall@10 with 1,100 vectors unlinked " << unlinked_recall << ", once linked " << linked_recall);
  CHECK(f.index->size() == f.oracle.stored.size());

  // More unlinked vectors than linked ones: the search scans everything.
  f.index->DeferLinking(true);
  for (std::uint64_t id = 10000; id < 16000; ++id) f.Put(id, data.Next(), ChunkOf(id));
  CHECK_FALSE(f.index->UsesGraph(VectorSearchOptions{}));
  for (std::uint64_t id = 10000; id < 16000; id += 500) {
    const auto hits = f.Search(f.oracle.stored.at(id).first, one);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].id == id);
  }
}

TEST_CASE("a write is reflected by the next graph search") {
  Fixture f;
  Clustered data(40, 2);
  for (std::uint64_t id = 0; id < 3000; ++id) f.Put(id, data.Next(), ChunkOf(id));
  VectorSearchOptions options;
  REQUIRE(f.index->UsesGraph(options));
  for (int round = 0; round < 20; ++round) {
    const std::vector<float> query = data.Next();
    // Inserted: the query itself is its own nearest neighbour.
    f.Put(9000, query, ChunkOf(9000));
    auto hits = f.Search(query, options);
    REQUIRE(!hits.empty());
    CHECK(hits[0].id == 9000);
    // Replaced by a far vector: not at the top any more, and never with the
    // old value's score.
    std::vector<float> away(query);
    for (float& x : away) x = -x;
    f.Put(9000, away, ChunkOf(9000));
    for (const VectorHit& h : f.Search(query, options)) CHECK((h.id != 9000 || h.score < 0.5f));
    // Removed: never returned.
    f.Drop(9000);
    for (const VectorHit& h : f.Search(query, options)) CHECK(h.id != 9000);
  }
}

TEST_CASE("filtered searches return exactly min(k, matching) on the graph, the scan and the fallback") {
  Fixture f;
  Clustered data(50, 3);
  for (std::uint64_t id = 0; id < 4000; ++id) f.Put(id, data.Next(), ChunkOf(id));
  // A few history messages in two sessions.
  for (std::uint64_t id = 100000; id < 100015; ++id) {
    f.Put(id, data.Next(), {VectorOwnerKind::kHistoryMessage, {}, {}, id < 100012 ? "s1" : "s2"});
  }
  struct Case {
    const char* what;
    VectorFilter filter;
    bool graph;  // whether the graph serves it (the rest scan)
  };
  VectorFilter language;
  language.language = "python";  // a third of the files
  VectorFilter one_file;
  one_file.path_prefix = "src/f7.";  // 10 chunks
  VectorFilter session;
  session.session = "s1";  // 12 messages
  VectorFilter small_session;
  small_session.session = "s2";  // 3 messages, fewer than k
  VectorFilter history;
  history.kind = VectorOwnerKind::kHistoryMessage;
  VectorFilter crossing;
  // Each criterion admits many vectors, together only files 1, 10..19 and
  // 100..199 in rust: the estimate says "graph", the walk comes back short
  // and the scan answers.
  crossing.path_prefix = "src/f1";
  crossing.language = "rust";
  const std::vector<Case> cases = {{"language", language, true},     {"one file", one_file, false},
                                   {"session", session, false},      {"small session", small_session, false},
                                   {"history kind", history, false}, {"crossing", crossing, true}};
  for (const Case& c : cases) {
    INFO(c.what);
    VectorSearchOptions options;
    options.filter = c.filter;
    CHECK(f.index->UsesGraph(options) == c.graph);
    auto pass = [&](const VectorAttributes& a) {
      if (c.filter.kind && a.kind != *c.filter.kind) return false;
      if (!a.path.starts_with(c.filter.path_prefix)) return false;
      if (!c.filter.language.empty() && a.language != c.filter.language) return false;
      if (!c.filter.session.empty() && a.session != c.filter.session) return false;
      return true;
    };
    std::size_t found = 0, wanted = 0;
    for (int q = 0; q < 30; ++q) {
      const std::vector<float> query = data.Next();
      const auto hits = f.Search(query, options);
      const auto truth = f.oracle.TopK(query, options.k, pass);
      REQUIRE(hits.size() == truth.size());
      const std::set<std::uint64_t> want(truth.begin(), truth.end());
      for (const VectorHit& h : hits) {
        REQUIRE(f.oracle.stored.count(h.id) == 1);
        CHECK(pass(f.oracle.stored[h.id].second));
        found += want.count(h.id);
      }
      wanted += truth.size();
    }
    CHECK(double(found) / double(wanted) >= 0.9);
  }
}

TEST_CASE("graph candidates are re-ranked from both tiers: cold vectors stay findable") {
  // The engine's setting: no float copy in the index; full precision comes
  // from RAM (hot) or the store (cold). Half the vectors are cold.
  class TwoTiers : public FullPrecisionSource {
   public:
    Status Fetch(std::span<const std::uint64_t> ids, float* out) override {
      for (std::size_t i = 0; i < ids.size(); ++i) {
        auto it = vectors.find(ids[i]);
        if (it == vectors.end()) return Status::NotFound("vector " + std::to_string(ids[i]));
        ++(ids[i] % 2 == 0 ? cold_reads : hot_reads);
        std::copy(it->second.begin(), it->second.end(), out + i * kDim);
      }
      return Status::Ok();
    }
    std::map<std::uint64_t, std::vector<float>> vectors;
    std::size_t hot_reads = 0, cold_reads = 0;  // even ids are cold
  } tiers;
  VectorIndexOptions options;
  options.model = kModel;
  options.dimension = kDim;
  options.graph_min_vectors = 1000;
  options.rerank_candidates = 40;
  auto index = std::move(*VectorIndex::Create(options));
  Clustered data(50, 6);
  Oracle oracle;
  for (std::uint64_t id = 0; id < 4000; ++id) {
    std::vector<float> v = data.Next();
    REQUIRE(index->Add(kModel, VectorEntry{id, v, ChunkOf(id)}).ok());
    tiers.vectors[id] = v;
    oracle.stored[id] = {std::move(v), ChunkOf(id)};
  }
  VectorSearchOptions search;
  REQUIRE(index->UsesGraph(search));
  std::size_t found = 0;
  for (int q = 0; q < 50; ++q) {
    const std::vector<float> query = data.Next();
    auto hits = index->Search(kModel, query, search, &tiers);
    REQUIRE(hits.ok());
    const auto truth = oracle.TopK(query, search.k, [](const VectorAttributes&) { return true; });
    REQUIRE(hits->size() == truth.size());
    const std::set<std::uint64_t> want(truth.begin(), truth.end());
    for (const VectorHit& h : *hits) found += want.count(h.id);
  }
  CHECK(double(found) / (50.0 * 10) >= 0.95);
  CHECK(tiers.hot_reads > 0);
  CHECK(tiers.cold_reads > 0);
}

TEST_CASE("searches the graph cannot serve scan: other metrics, exact requests, small indexes") {
  Fixture f;
  Clustered data(20, 4);
  for (std::uint64_t id = 0; id < 999; ++id) f.Put(id, data.Next(), ChunkOf(id));
  VectorSearchOptions options;
  CHECK_FALSE(f.index->UsesGraph(options));  // below graph_min_vectors
  f.Put(999, data.Next(), ChunkOf(999));
  f.Put(1000, data.Next(), ChunkOf(1000));
  CHECK(f.index->UsesGraph(options));
  options.metric = VectorMetric::kSquaredL2;  // the graph is built for cosine
  CHECK_FALSE(f.index->UsesGraph(options));
  options.metric = VectorMetric::kCosine;
  options.rerank_candidates = f.index->size();  // the engine's exact request
  CHECK_FALSE(f.index->UsesGraph(options));
}

TEST_CASE("[vectors] graph_min_vectors from the config decides when searches walk the graph") {
  VectorsConfig config;
  config.dimension = kDim;
  config.model = kModel;
  Clustered data(20, 4);
  // More than 16 x rerank_candidates (100): below, a walk is a slower scan.
  constexpr std::uint32_t kVectors = 2000;
  for (const std::uint32_t min_vectors : {0u, 1800u, 10000u}) {
    config.graph_min_vectors = min_vectors;
    auto index = std::move(*VectorIndex::Create(VectorIndexOptions::FromConfig(config)));
    for (std::uint64_t id = 0; id < kVectors; ++id) REQUIRE(index->Add(kModel, VectorEntry{id, data.Next(), ChunkOf(id)}).ok());
    INFO("graph_min_vectors = " << min_vectors << ", " << kVectors << " vectors");
    CHECK(index->UsesGraph(VectorSearchOptions{}) == (min_vectors <= kVectors));
  }
}

}  // namespace postdevai
