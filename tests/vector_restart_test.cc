// The vector index's HNSW graph through a real dragon_node (gRPC), across a
// clean stop and a kill -9: after each restart the index is loaded from its
// snapshot (no rebuild), brought up to date with what the store took since,
// and answers as a brute-force scan would: every acknowledged vector is
// found, deleted and replaced vectors never are, recall@10 against the exact
// search stays high.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "rpc/grpc_client.h"
#include "tests/helpers/node_connection.h"
#include "tests/helpers/node_process.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

constexpr std::size_t kDim = 32;

// Clustered unit vectors: the shape that makes a graph work for its answers.
class VectorSource {
 public:
  VectorSource() : rng_(20261204) {
    std::normal_distribution<float> g(0, 1);
    for (auto& c : centers_) {
      c.resize(kDim);
      for (float& x : c) x = g(rng_);
    }
  }
  std::vector<float> Next() {
    std::normal_distribution<float> g(0, 0.35f);
    const auto& c = centers_[std::uniform_int_distribution<std::size_t>(0, centers_.size() - 1)(rng_)];
    std::vector<float> v(kDim);
    double norm = 0;
    for (std::size_t d = 0; d < kDim; ++d) {
      v[d] = c[d] + g(rng_);
      norm += double(v[d]) * v[d];
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::vector<float>> centers_ = std::vector<std::vector<float>>(24);
};

std::string PathOf(int i) { return "src/f" + std::to_string(i) + ".cc"; }

// Stores one one-chunk file per (path, vector).
void Store(rpc::MemoryConnection& memory, const std::map<std::string, std::vector<float>>& files) {
  auto it = files.begin();
  auto summary = memory.IngestCode([&](client::CodeFile* file) {
    if (it == files.end()) return false;
    *file = client::CodeFile{it->first, "int x;\n", "cpp", {it->second}, false};
    ++it;
    return true;
  });
  INFO(summary.status().ToString());
  REQUIRE(summary.ok());
  REQUIRE(summary->refused.empty());
  REQUIRE(summary->files == files.size());
}

std::vector<std::string> Paths(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.path);
  return out;
}

// What the index must answer for `live` (path -> its vector now), and never
// for `gone` (paths deleted) or `old` (vectors a path no longer has).
void CheckAnswers(rpc::MemoryConnection& memory, const std::map<std::string, std::vector<float>>& live,
                  const std::set<std::string>& gone, const std::map<std::string, std::vector<float>>& old,
                  VectorSource& queries, const std::string& stage) {
  INFO(stage);
  // Every acknowledged vector is its own nearest neighbour.
  int checked = 0, found = 0, position = 0;
  for (auto it = live.begin(); it != live.end(); ++it) {
    if (position++ % 7 != 0) continue;  // a sample: every 7th
    auto hits = memory.SearchSimilar(it->second, 1);
    REQUIRE(hits.ok());
    ++checked;
    found += (!hits->empty() && hits->front().path == it->first) ? 1 : 0;
  }
  INFO(found << " of " << checked << " stored vectors found as their own nearest neighbour");
  CHECK(found == checked);
  // A deleted file's vector and a replaced file's old vector are never returned.
  for (const auto& [path, vector] : old) {
    auto hits = memory.SearchSimilar(vector, 10);
    REQUIRE(hits.ok());
    for (const SearchHit& h : *hits) {
      if (gone.count(h.path)) FAIL("deleted " << h.path << " returned");
      if (h.path == path) {
        // Only its new vector may match, with the new vector's score.
        const auto& now = live.at(path);
        double dot = 0;
        for (std::size_t d = 0; d < kDim; ++d) dot += double(vector[d]) * now[d];
        CHECK(std::abs(h.score - dot) < 1e-3);
      }
    }
  }
  // Recall@10 of the default (graph) search against the exact one.
  double recall = 0;
  constexpr int kQueries = 100;
  for (int q = 0; q < kQueries; ++q) {
    const auto query = queries.Next();
    auto approximate = memory.SearchSimilar(query, 10);
    SearchFilter exact_filter;
    exact_filter.exact = true;
    auto exact = memory.SearchSimilar(query, 10, exact_filter);
    REQUIRE(approximate.ok());
    REQUIRE(exact.ok());
    REQUIRE(exact->size() == 10);
    const auto truth = Paths(*exact);
    std::set<std::string> want(truth.begin(), truth.end());
    int hit = 0;
    for (const auto& p : Paths(*approximate)) hit += want.count(p) ? 1 : 0;
    recall += hit / 10.0;
  }
  recall /= kQueries;
  INFO("recall@10 against the exact search: " << recall);
  CHECK(recall >= 0.95);
}

std::string LogSince(const NodeProcess& node, std::size_t offset) {
  const std::string log = node.log();
  return log.size() > offset ? log.substr(offset) : std::string();
}

}  // namespace

TEST_CASE("the HNSW graph answers after a clean stop and after kill -9, loaded from its snapshot, not rebuilt",
          "[vectors][restart]") {
  // graph_min_vectors = 0: every search walks the graph, however small.
  NodeProcess node("[vectors]\ndimension = " + std::to_string(kDim) + "\nmodel = \"test-32\"\ngraph_min_vectors = 0\n");
  VectorSource source;
  std::map<std::string, std::vector<float>> live, old;
  std::set<std::string> gone;
  {
    auto memory = Connect(node);
    std::map<std::string, std::vector<float>> first;
    for (int i = 0; i < 3000; ++i) first[PathOf(i)] = source.Next();
    Store(*memory, first);
    live = first;
    CheckAnswers(*memory, live, gone, old, source, "before any restart");
  }

  // A clean stop writes the index's snapshot; the next start loads it.
  std::size_t offset = node.log().size();
  REQUIRE(node.Stop() == 0);
  node.Start();
  std::string log = LogSince(node, offset);
  INFO(log);
  REQUIRE(log.find("vector index loaded from") != std::string::npos);
  CHECK(log.find("building the index from the store") == std::string::npos);
  {
    auto memory = Connect(node);
    CheckAnswers(*memory, live, gone, old, source, "after a clean stop");

    // Writes the snapshot does not have: new files, deletions, replacements.
    std::map<std::string, std::vector<float>> more;
    for (int i = 3000; i < 3600; ++i) more[PathOf(i)] = source.Next();
    Store(*memory, more);
    live.insert(more.begin(), more.end());
    for (int i = 0; i < 3000; i += 15) {
      const std::string path = PathOf(i);
      REQUIRE(memory->DeleteCode(path).ok());
      old[path] = live.at(path);
      live.erase(path);
      gone.insert(path);
    }
    std::map<std::string, std::vector<float>> replaced;
    for (int i = 7; i < 3000; i += 15) {
      const std::string path = PathOf(i);
      old[path] = live.at(path);
      replaced[path] = source.Next();
    }
    Store(*memory, replaced);
    for (const auto& [path, v] : replaced) live[path] = v;
  }

  // kill -9: the snapshot is the clean stop's; the store has the rest.
  offset = node.log().size();
  node.Kill();
  node.Start();
  log = LogSince(node, offset);
  INFO(log);
  REQUIRE(log.find("vector index loaded from") != std::string::npos);
  CHECK(log.find("building the index from the store") == std::string::npos);
  CHECK(log.find("rebuilding from the store") == std::string::npos);
  CHECK(log.find(" 0 records re-applied") == std::string::npos);
  {
    auto memory = Connect(node);
    CheckAnswers(*memory, live, gone, old, source, "after kill -9");
  }

  // What the start re-applied was left unlinked from the graph and linked
  // while the node served; then a snapshot holds it, so another kill -9
  // re-applies nothing.
  const std::string written = "vector index snapshot written";
  for (int i = 0; i < 600 && LogSince(node, offset).find(written) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  log = LogSince(node, offset);
  INFO(log);
  REQUIRE(log.find("every vector is linked into the graph") != std::string::npos);
  REQUIRE(log.find(written) != std::string::npos);
  offset = node.log().size();
  node.Kill();
  node.Start();
  log = LogSince(node, offset);
  INFO(log);
  CHECK(log.find(" 0 records re-applied, 0 removed since the snapshot, found from the WAL replay; 0 vectors to link") !=
        std::string::npos);
  auto memory = Connect(node);
  CheckAnswers(*memory, live, gone, old, source, "after a second kill -9, from the snapshot written after linking");
}
