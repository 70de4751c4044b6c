// AnnGraph: an approximate nearest-neighbour graph (HNSW: a navigable
// small-world graph in layers) over int8 quantized vectors the caller stores.
//
// The graph holds links only. Node ids are the caller's row numbers: every call
// that reads vectors is given the caller's rows (simd::Int8Rows, codes from
// QuantizeInt8 with zeroed padding) and node n is row n there. The caller
// decides which rows are nodes (Insert/Remove) and may reuse a removed node's
// row for a new vector: Insert it again.
//
// Distances are the int8 estimates of the vector kernels (ScoreInt8Gathered)
// under one metric fixed at construction; the graph is only meaningful for
// queries under that metric. Stored-to-stored distances (neighbour selection)
// re-encode the stored node as a query (QuantizeQuery of its decoded codes).
//
// Real time: Insert links the node before it returns; Remove unlinks it (its
// neighbours get a replacement link from its own neighbours, so the graph
// stays navigable) and a removed node is never visited again, even through a
// link some other node still holds; a removed node is never returned.
//
// Thread-safety: none. Search is const but uses scratch buffers of the graph
// (visited marks, heaps): one thread at a time, like VectorIndex, which owns
// the graph in the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "simd/vector_kernels.h"

namespace postdevai::simd {

struct AnnGraphOptions {
  // Links per node on the upper layers (HNSW's M); the base layer keeps up to
  // twice as many. 16 suits 100-1000 dimensional embeddings.
  std::uint32_t degree = 16;
  // Candidates examined per layer while inserting (HNSW's ef_construction):
  // higher builds slower and searches better.
  std::uint32_t build_breadth = 128;
  VectorMetric metric = VectorMetric::kCosine;
  std::uint64_t seed = 0x9E3779B97F4A7C15ull;  // layer assignment: the same inserts give the same graph
};

// A query prepared for traversal: QuantizeQuery's codes (padded) and parameters.
struct AnnQuery {
  const std::int8_t* codes = nullptr;
  Int8QueryParams params;
};

class AnnGraph {
 public:
  // `dimension` is the vectors' (the codes are padded to PaddedInt8Dimension).
  AnnGraph(AnnGraphOptions options, std::size_t dimension);

  const AnnGraphOptions& options() const { return options_; }
  std::size_t size() const { return live_; }
  bool Contains(std::uint32_t node) const { return node < levels_.size() && levels_[node] != kNoNode; }

  // Makes `node` (a row of `rows` holding the quantized `vector`, dimension
  // floats) a node of the graph, linked to its nearest nodes. The node must not
  // be in the graph (Remove it first to replace its vector).
  void Insert(std::uint32_t node, const float* vector, const Int8Rows& rows);
  // Insert for a node whose full-precision vector is not at hand: its
  // quantized row, decoded, stands for it.
  void InsertStored(std::uint32_t node, const Int8Rows& rows);

  // Unlinks `node`; no-op for a node not in the graph.
  void Remove(std::uint32_t node, const Int8Rows& rows);

  // Up to `breadth` nodes nearest to `query` among those `admit` accepts (an
  // empty admit accepts every node), best first, as (metric estimate, node).
  // Fewer come back when fewer are reachable or admitted: a caller that needs
  // k results must handle a short answer (VectorIndex falls back to a scan).
  // With a selective `admit` the traversal visits many nodes for few results
  // (at worst every node reachable, each scored once): the caller should scan
  // instead below some selectivity.
  using Admit = std::function<bool(std::uint32_t)>;
  std::vector<ScoredId> Search(const AnnQuery& query, std::size_t breadth, const Int8Rows& rows,
                               const Admit& admit = {}) const;

  // Pre-allocates room for node ids below `count`.
  void Reserve(std::size_t count);

  // RAM the graph uses (links, layers, scratch), allocated capacity.
  std::size_t RamBytes() const;

  // Persistence (VectorIndex snapshots the graph with its rows): Serialize
  // appends the links; Deserialize replaces this graph's links with such
  // bytes, or returns false with the reason in *error and changes nothing. It
  // checks what traversals rely on (counts, layers, entry point within
  // bounds), not the bytes' integrity: the caller frames them with a checksum.
  void Serialize(std::string* out) const;
  bool Deserialize(std::string_view in, std::string* error);

 private:
  static constexpr std::int8_t kNoNode = -1;
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  struct Candidate {
    float distance;  // smaller is nearer, whatever the metric
    std::uint32_t node;
  };
  struct Nearer {
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance < b.distance; }
  };
  struct Farther {
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance > b.distance; }
  };
  // A stored node re-encoded as a query, for stored-to-stored distances.
  struct NodeQuery {
    std::vector<std::int8_t> codes;
    std::vector<float> decoded;
    AnnQuery query;
  };

  std::size_t Capacity(int layer) const { return layer == 0 ? 2 * options_.degree : options_.degree; }
  // A node's link list on a layer: [count, id, id, ...] with room for Capacity(layer) ids.
  std::uint32_t* Links(std::uint32_t node, int layer);
  const std::uint32_t* Links(std::uint32_t node, int layer) const;
  int RandomLayer();
  float Distance(float score) const { return HigherIsBetter(options_.metric) ? -score : score; }
  // Distances from the query to `nodes` (scratch: `scores`).
  void Distances(const AnnQuery& query, const Int8Rows& rows, std::span<const std::uint32_t> nodes,
                 std::vector<float>* scores) const;
  void Encode(std::uint32_t node, const Int8Rows& rows, NodeQuery* out) const;
  // Insert's work, given the new node as a query.
  void InsertNode(std::uint32_t node, const AnnQuery& query, const Int8Rows& rows);
  // Greedy walk on one upper layer towards the query.
  Candidate Descend(const AnnQuery& query, Candidate from, int layer, const Int8Rows& rows) const;
  // The best-first search of one layer, keeping `breadth` admitted nodes;
  // returns them nearest first.
  std::vector<Candidate> SearchLayer(const AnnQuery& query, std::span<const Candidate> entries, std::size_t breadth,
                                     int layer, const Int8Rows& rows, const Admit& admit) const;
  // HNSW's neighbour heuristic: from `candidates` (nearest first to the base
  // node), keep up to `limit` that are nearer to the base than to any kept one.
  std::vector<std::uint32_t> SelectNeighbours(std::span<const Candidate> candidates, std::size_t limit,
                                              const Int8Rows& rows) const;
  // Adds the link from -> to on `layer`, re-selecting from's links when full.
  void Link(std::uint32_t from, std::uint32_t to, int layer, const Int8Rows& rows);
  void ChooseEntryPoint();
  void NewEpoch() const;

  AnnGraphOptions options_;
  std::size_t dimension_;
  std::size_t padded_;
  std::size_t base_stride_;  // uint32 per node on the base layer: 1 + 2 * degree
  std::size_t upper_stride_;  // uint32 per upper layer: 1 + degree
  double layer_scale_;

  std::vector<std::int8_t> levels_;         // top layer of each node; kNoNode for ids not in the graph
  std::vector<std::uint32_t> base_links_;   // base_stride_ per node id
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> upper_links_;  // layers 1..top, upper_stride_ each
  std::uint32_t entry_ = kNone;
  int top_layer_ = -1;
  std::size_t live_ = 0;
  std::uint64_t rng_;

  // Scratch for traversals (one at a time: see thread-safety above).
  mutable std::vector<std::uint32_t> visited_;  // epoch of the last visit, per node id
  mutable std::uint32_t epoch_ = 0;
  mutable std::vector<std::uint32_t> batch_;
  mutable std::vector<float> batch_scores_;
  mutable NodeQuery selector_;  // SelectNeighbours: each candidate against the kept ones
  mutable std::vector<float> selector_scores_;
  NodeQuery base_query_;  // Link, Remove: a node against its (new) neighbours
  std::vector<float> base_scores_;
  std::vector<std::int8_t> insert_codes_;
  NodeQuery stored_query_;  // InsertStored: the node's decoded row
};

}  // namespace postdevai::simd
