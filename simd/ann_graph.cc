#include "simd/ann_graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <queue>

#include "simd/array_coding.h"

namespace postdevai::simd {

namespace {

constexpr int kMaxLayer = 16;
constexpr std::uint32_t kFormatVersion = 1;

std::uint64_t NextRandom(std::uint64_t& state) {  // splitmix64
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

AnnGraph::AnnGraph(AnnGraphOptions options, std::size_t dimension)
    : options_(options),
      dimension_(dimension),
      padded_(PaddedInt8Dimension(dimension)),
      base_stride_(1 + 2 * std::size_t{options.degree}),
      upper_stride_(1 + std::size_t{options.degree}),
      layer_scale_(1.0 / std::log(std::max<double>(2.0, options.degree))),
      rng_(options.seed),
      insert_codes_(padded_) {}

void AnnGraph::Reserve(std::size_t count) {
  if (count <= levels_.size()) return;
  levels_.resize(count, kNoNode);
  base_links_.resize(count * base_stride_, 0);
  visited_.resize(count, 0);
}

std::uint32_t* AnnGraph::Links(std::uint32_t node, int layer) {
  if (layer == 0) return base_links_.data() + std::size_t{node} * base_stride_;
  return upper_links_.find(node)->second.data() + std::size_t(layer - 1) * upper_stride_;
}

const std::uint32_t* AnnGraph::Links(std::uint32_t node, int layer) const {
  return const_cast<AnnGraph*>(this)->Links(node, layer);
}

int AnnGraph::RandomLayer() {
  // HNSW's exponentially decaying layer distribution: P(layer >= l) = degree^-l.
  const double uniform = (double(NextRandom(rng_) >> 11) + 0.5) / double(1ull << 53);
  return std::min(kMaxLayer, static_cast<int>(-std::log(uniform) * layer_scale_));
}

void AnnGraph::NewEpoch() const {
  if (++epoch_ == 0) {  // wrapped: forget every old mark
    std::fill(visited_.begin(), visited_.end(), 0);
    epoch_ = 1;
  }
}

void AnnGraph::Distances(const AnnQuery& query, const Int8Rows& rows, std::span<const std::uint32_t> nodes,
                         std::vector<float>* scores) const {
  if (scores->size() < nodes.size()) scores->resize(nodes.size());
  ScoreInt8Gathered(options_.metric, query.codes, query.params, padded_, rows, nodes.data(), nodes.size(),
                    scores->data());
  for (std::size_t i = 0; i < nodes.size(); ++i) (*scores)[i] = Distance((*scores)[i]);
}

void AnnGraph::Encode(std::uint32_t node, const Int8Rows& rows, NodeQuery* out) const {
  out->codes.resize(padded_);
  out->decoded.resize(dimension_);
  const std::uint8_t* codes = rows.codes + std::size_t{node} * rows.stride;
  const float scale = rows.scales[node], offset = rows.offsets[node];
  for (std::size_t i = 0; i < dimension_; ++i) out->decoded[i] = offset + scale * float(codes[i]);
  out->query.params = QuantizeQuery(out->decoded.data(), dimension_, out->codes.data());
  out->query.codes = out->codes.data();
}

AnnGraph::Candidate AnnGraph::Descend(const AnnQuery& query, Candidate from, int layer, const Int8Rows& rows) const {
  for (bool moved = true; moved;) {
    moved = false;
    const std::uint32_t* links = Links(from.node, layer);
    batch_.clear();
    for (std::uint32_t i = 1; i <= links[0]; ++i) {
      if (Contains(links[i]) && levels_[links[i]] >= layer) batch_.push_back(links[i]);
    }
    Distances(query, rows, batch_, &batch_scores_);
    Candidate best = from;
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      if (batch_scores_[i] < best.distance) best = {batch_scores_[i], batch_[i]};
    }
    if (best.node != from.node) {
      from = best;
      moved = true;
    }
  }
  return from;
}

std::vector<AnnGraph::Candidate> AnnGraph::SearchLayer(const AnnQuery& query, std::span<const Candidate> entries,
                                                       std::size_t breadth, int layer, const Int8Rows& rows,
                                                       const Admit& admit) const {
  NewEpoch();
  std::priority_queue<Candidate, std::vector<Candidate>, Farther> frontier;  // nearest on top
  std::priority_queue<Candidate, std::vector<Candidate>, Nearer> kept;       // farthest on top
  auto bound = [&] { return kept.empty() ? std::numeric_limits<float>::infinity() : kept.top().distance; };
  for (const Candidate& e : entries) {
    visited_[e.node] = epoch_;
    frontier.push(e);
    if (!admit || admit(e.node)) kept.push(e);
  }
  while (kept.size() > breadth) kept.pop();
  while (!frontier.empty()) {
    const Candidate current = frontier.top();
    // Without a filter, stop once the nearest unexplored node is farther than
    // every kept one. With a filter, go on until `breadth` admitted nodes are
    // kept: the admitted ones may lie beyond rejected ones.
    if (current.distance > bound() && (kept.size() >= breadth || !admit)) break;
    frontier.pop();
    const std::uint32_t* links = Links(current.node, layer);
    batch_.clear();
    for (std::uint32_t i = 1; i <= links[0]; ++i) {
      const std::uint32_t next = links[i];
      if (next >= levels_.size() || visited_[next] == epoch_) continue;
      visited_[next] = epoch_;
      // A removed node, or a reused id that no longer reaches this layer: a
      // stale link, never followed.
      if (levels_[next] < layer) continue;
      batch_.push_back(next);
    }
    Distances(query, rows, batch_, &batch_scores_);
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      const Candidate c{batch_scores_[i], batch_[i]};
      if (kept.size() >= breadth && c.distance >= bound()) continue;
      frontier.push(c);
      if (admit && !admit(c.node)) continue;
      kept.push(c);
      if (kept.size() > breadth) kept.pop();
    }
  }
  std::vector<Candidate> out(kept.size());
  for (std::size_t i = out.size(); i-- > 0;) {
    out[i] = kept.top();
    kept.pop();
  }
  return out;
}

std::vector<std::uint32_t> AnnGraph::SelectNeighbours(std::span<const Candidate> candidates, std::size_t limit,
                                                      const Int8Rows& rows) const {
  std::vector<std::uint32_t> kept;
  kept.reserve(limit);
  for (const Candidate& c : candidates) {
    if (kept.size() >= limit) break;
    bool diverse = true;
    if (!kept.empty()) {
      Encode(c.node, rows, &selector_);
      Distances(selector_.query, rows, kept, &selector_scores_);
      for (std::size_t i = 0; i < kept.size() && diverse; ++i) diverse = selector_scores_[i] >= c.distance;
    }
    if (diverse) kept.push_back(c.node);
  }
  return kept;
}

void AnnGraph::Link(std::uint32_t from, std::uint32_t to, int layer, const Int8Rows& rows) {
  std::uint32_t* links = Links(from, layer);
  const std::size_t capacity = Capacity(layer);
  for (std::uint32_t i = 1; i <= links[0]; ++i) {
    if (links[i] == to) return;
  }
  if (links[0] < capacity) {
    links[++links[0]] = to;
    return;
  }
  // Full: re-select among the current links and the newcomer, by distance to
  // `from` (stale links to removed nodes drop out here).
  batch_.clear();
  for (std::uint32_t i = 1; i <= links[0]; ++i) {
    if (links[i] != from && Contains(links[i]) && levels_[links[i]] >= layer) batch_.push_back(links[i]);
  }
  batch_.push_back(to);
  Encode(from, rows, &base_query_);
  Distances(base_query_.query, rows, batch_, &base_scores_);
  std::vector<Candidate> candidates(batch_.size());
  for (std::size_t i = 0; i < batch_.size(); ++i) candidates[i] = {base_scores_[i], batch_[i]};
  std::sort(candidates.begin(), candidates.end(), Nearer());
  const std::vector<std::uint32_t> chosen = SelectNeighbours(candidates, capacity, rows);
  links[0] = static_cast<std::uint32_t>(chosen.size());
  std::copy(chosen.begin(), chosen.end(), links + 1);
}

void AnnGraph::Insert(std::uint32_t node, const float* vector, const Int8Rows& rows) {
  InsertNode(node, AnnQuery{insert_codes_.data(), QuantizeQuery(vector, dimension_, insert_codes_.data())}, rows);
}

void AnnGraph::InsertStored(std::uint32_t node, const Int8Rows& rows) {
  Encode(node, rows, &stored_query_);
  InsertNode(node, stored_query_.query, rows);
}

void AnnGraph::InsertNode(std::uint32_t node, const AnnQuery& query, const Int8Rows& rows) {
  if (node >= levels_.size()) Reserve(std::max<std::size_t>({std::size_t{node} + 1, 1024, levels_.size() * 2}));
  const int layer = RandomLayer();
  levels_[node] = static_cast<std::int8_t>(layer);
  base_links_[std::size_t{node} * base_stride_] = 0;
  if (layer > 0) {
    upper_links_[node].assign(std::size_t(layer) * upper_stride_, 0);
  } else {
    upper_links_.erase(node);
  }
  ++live_;
  if (entry_ == kNone) {
    entry_ = node;
    top_layer_ = layer;
    return;
  }
  const std::uint32_t entry = entry_;
  Distances(query, rows, std::span<const std::uint32_t>(&entry, 1), &batch_scores_);
  Candidate nearest{batch_scores_[0], entry};
  for (int l = top_layer_; l > layer; --l) nearest = Descend(query, nearest, l, rows);
  std::vector<Candidate> entries{nearest};
  for (int l = std::min(layer, top_layer_); l >= 0; --l) {
    std::vector<Candidate> found = SearchLayer(query, entries, options_.build_breadth, l, rows, {});
    std::erase_if(found, [&](const Candidate& c) { return c.node == node; });
    const std::vector<std::uint32_t> chosen = SelectNeighbours(found, options_.degree, rows);
    std::uint32_t* links = Links(node, l);
    links[0] = static_cast<std::uint32_t>(chosen.size());
    std::copy(chosen.begin(), chosen.end(), links + 1);
    for (std::uint32_t neighbour : chosen) Link(neighbour, node, l, rows);
    if (!found.empty()) entries = std::move(found);
  }
  if (layer > top_layer_) {
    entry_ = node;
    top_layer_ = layer;
  }
}

void AnnGraph::Remove(std::uint32_t node, const Int8Rows& rows) {
  if (!Contains(node)) return;
  const int top = levels_[node];
  levels_[node] = kNoNode;  // from here on no traversal follows a link to it
  --live_;
  for (int l = 0; l <= top; ++l) {
    const std::uint32_t* own = Links(node, l);
    std::vector<std::uint32_t> neighbours;
    for (std::uint32_t i = 1; i <= own[0]; ++i) {
      if (Contains(own[i]) && levels_[own[i]] >= l) neighbours.push_back(own[i]);
    }
    // Each neighbour that linked back loses that link; it gets in exchange
    // the nearest of the removed node's other neighbours it does not link
    // yet, so paths that went through the removed node still exist.
    for (std::uint32_t n : neighbours) {
      std::uint32_t* links = Links(n, l);
      std::uint32_t* end = links + 1 + links[0];
      std::uint32_t* hole = std::find(links + 1, end, node);
      if (hole == end) continue;
      *hole = *(end - 1);
      --links[0];
      end = links + 1 + links[0];
      batch_.clear();
      for (std::uint32_t m : neighbours) {
        if (m != n && std::find(links + 1, end, m) == end) batch_.push_back(m);
      }
      if (batch_.empty()) continue;
      Encode(n, rows, &base_query_);
      Distances(base_query_.query, rows, batch_, &base_scores_);
      const std::size_t best = std::min_element(base_scores_.begin(), base_scores_.begin() + batch_.size()) -
                               base_scores_.begin();
      links[++links[0]] = batch_[best];
    }
  }
  base_links_[std::size_t{node} * base_stride_] = 0;
  upper_links_.erase(node);
  if (node == entry_) ChooseEntryPoint();
}

void AnnGraph::ChooseEntryPoint() {
  // Rare (the entry point is one node of the top layer): a scan of one byte
  // per node id.
  entry_ = kNone;
  top_layer_ = -1;
  for (std::size_t n = 0; n < levels_.size(); ++n) {
    if (levels_[n] > top_layer_) {
      top_layer_ = levels_[n];
      entry_ = static_cast<std::uint32_t>(n);
    }
  }
}

std::vector<ScoredId> AnnGraph::Search(const AnnQuery& query, std::size_t breadth, const Int8Rows& rows,
                                       const Admit& admit) const {
  std::vector<ScoredId> out;
  if (entry_ == kNone || breadth == 0) return out;
  const std::uint32_t entry = entry_;
  Distances(query, rows, std::span<const std::uint32_t>(&entry, 1), &batch_scores_);
  Candidate nearest{batch_scores_[0], entry};
  for (int l = top_layer_; l > 0; --l) nearest = Descend(query, nearest, l, rows);
  const std::vector<Candidate> found =
      SearchLayer(query, std::span<const Candidate>(&nearest, 1), breadth, 0, rows, admit);
  out.reserve(found.size());
  for (const Candidate& c : found) out.push_back({Distance(c.distance), c.node});  // Distance is its own inverse
  return out;
}

std::size_t AnnGraph::RamBytes() const {
  std::size_t bytes = sizeof(*this);
  bytes += levels_.capacity() + base_links_.capacity() * 4 + visited_.capacity() * 4;
  bytes += upper_links_.bucket_count() * sizeof(void*);
  for (const auto& [node, links] : upper_links_) {
    bytes += 48 + links.capacity() * 4;  // map node (next, key, vector header) + the links
  }
  bytes += (batch_.capacity() + batch_scores_.capacity() + selector_scores_.capacity() + base_scores_.capacity()) * 4;
  bytes += insert_codes_.capacity() + 2 * (padded_ + dimension_ * 4);
  return bytes;
}

void AnnGraph::Serialize(std::string* out) const {
  records::PutFixed32(out, kFormatVersion);
  records::PutFixed32(out, options_.degree);
  records::PutFixed64(out, dimension_);
  records::PutFixed32(out, entry_);
  records::PutFixed32(out, static_cast<std::uint32_t>(top_layer_));
  records::PutFixed64(out, live_);
  records::PutFixed64(out, rng_);
  PutArray(out, levels_);
  PutArray(out, base_links_);
  records::PutFixed64(out, upper_links_.size());
  for (const auto& [node, links] : upper_links_) {
    records::PutFixed32(out, node);
    PutArray(out, links);
  }
}

bool AnnGraph::Deserialize(std::string_view in, std::string* error) {
  auto fail = [&](const char* what) {
    *error = std::string("ANN graph: ") + what;
    return false;
  };
  std::uint32_t version = 0, degree = 0, entry = kNone, top = 0;
  std::uint64_t dimension = 0, live = 0, uppers = 0, rng = 0;
  if (!records::GetFixed32(&in, &version) || version != kFormatVersion) return fail("unknown format version");
  if (!records::GetFixed32(&in, &degree) || degree != options_.degree) return fail("built with another degree");
  if (!records::GetFixed64(&in, &dimension) || dimension != dimension_) return fail("built for another dimension");
  if (!records::GetFixed32(&in, &entry) || !records::GetFixed32(&in, &top) || !records::GetFixed64(&in, &live) ||
      !records::GetFixed64(&in, &rng)) {
    return fail("truncated header");
  }
  std::vector<std::int8_t> levels;
  std::vector<std::uint32_t> base;
  if (!GetArray(&in, &levels) || !GetArray(&in, &base) || base.size() != levels.size() * base_stride_) {
    return fail("truncated or inconsistent base layer");
  }
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> upper;
  if (!records::GetFixed64(&in, &uppers)) return fail("truncated upper layers");
  for (std::uint64_t i = 0; i < uppers; ++i) {
    std::uint32_t node = 0;
    std::vector<std::uint32_t> links;
    if (!records::GetFixed32(&in, &node) || !GetArray(&in, &links)) return fail("truncated upper layers");
    if (node >= levels.size() || levels[node] <= 0 || links.size() != std::size_t(levels[node]) * upper_stride_) {
      return fail("inconsistent upper layers");
    }
    upper.emplace(node, std::move(links));
  }
  if (!in.empty()) return fail("trailing bytes");
  // Traversals index by the link counts and follow the entry point: both
  // must be within bounds whatever the bytes said.
  std::size_t counted = 0;
  for (std::size_t n = 0; n < levels.size(); ++n) {
    if (levels[n] < kNoNode || levels[n] > kMaxLayer) return fail("a layer out of range");
    if (levels[n] != kNoNode) ++counted;
    if (base[n * base_stride_] > 2 * degree) return fail("a link count exceeds the degree");
    if (levels[n] > 0 && upper.count(static_cast<std::uint32_t>(n)) == 0) return fail("missing upper layers");
  }
  for (const auto& [node, links] : upper) {
    for (std::size_t l = 0; l < links.size(); l += upper_stride_) {
      if (links[l] > degree) return fail("a link count exceeds the degree");
    }
  }
  if (counted != live) return fail("node count mismatch");
  if (entry == kNone ? live != 0 : (entry >= levels.size() || levels[entry] != static_cast<std::int32_t>(top))) {
    return fail("bad entry point");
  }
  levels_ = std::move(levels);
  base_links_ = std::move(base);
  upper_links_ = std::move(upper);
  entry_ = entry;
  top_layer_ = entry == kNone ? -1 : static_cast<int>(top);
  live_ = live;
  rng_ = rng;
  visited_.assign(levels_.size(), 0);
  epoch_ = 0;
  return true;
}

}  // namespace postdevai::simd
