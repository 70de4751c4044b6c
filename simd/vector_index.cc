#include "simd/vector_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_set>

#include "simd/array_coding.h"

namespace postdevai {

namespace {

// Rows scored per call between selections: the scores stay in L1/L2 and the
// top-k filter sees them while hot.
constexpr std::size_t kScanBlockRows = 4096;
constexpr std::size_t kBatchBlockRows = 1024;
// Rows fetched through the source per call in an exact scan without a kept copy.
constexpr std::size_t kFetchBlockRows = 256;
constexpr std::size_t kFullAlignmentFloats = 16;  // 64 bytes

constexpr float kExcluded = std::numeric_limits<float>::quiet_NaN();  // TopK ignores NaN

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

std::string_view VectorOwnerKindName(VectorOwnerKind kind) {
  switch (kind) {
    case VectorOwnerKind::kCodeChunk: return "code_chunk";
    case VectorOwnerKind::kHistoryMessage: return "history_message";
  }
  return "unknown";
}

VectorIndexOptions VectorIndexOptions::FromConfig(const VectorsConfig& config) {
  VectorIndexOptions options;
  options.model = config.model;
  options.dimension = config.dimension;
  options.quantization = config.quantization;
  options.rerank_candidates = config.rerank_candidates;
  options.graph_min_vectors = config.graph_min_vectors;
  return options;
}

// ------------------------------------------------------------------ storage helpers

void VectorIndex::AlignedFree::operator()(void* p) const { ::operator delete(p, std::align_val_t{64}); }

void VectorIndex::AlignedBytes::Reserve(std::size_t bytes, std::size_t used) {
  if (bytes <= capacity_) return;
  std::unique_ptr<std::byte, AlignedFree> grown(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{64})));
  if (used > 0) std::memcpy(grown.get(), data_.get(), used);
  data_ = std::move(grown);
  capacity_ = bytes;
}

VectorIndex::StringTable::StringTable() {
  // Id 0 is the empty string, never released: "no path", "no session".
  strings_.emplace_back();
  refs_.push_back(1);
  ids_.emplace(std::string(), 0);
}

std::uint32_t VectorIndex::StringTable::Acquire(std::string_view s) {
  if (s.empty()) return 0;
  auto it = ids_.find(std::string(s));
  if (it != ids_.end()) {
    ++refs_[it->second];
    return it->second;
  }
  std::uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    strings_[id] = std::string(s);
    refs_[id] = 1;
  } else {
    id = static_cast<std::uint32_t>(strings_.size());
    strings_.emplace_back(s);
    refs_.push_back(1);
  }
  ids_.emplace(strings_[id], id);
  return id;
}

void VectorIndex::StringTable::Release(std::uint32_t id) {
  if (id == 0) return;
  if (--refs_[id] > 0) return;
  ids_.erase(strings_[id]);
  strings_[id].clear();
  strings_[id].shrink_to_fit();
  free_.push_back(id);
}

std::optional<std::uint32_t> VectorIndex::StringTable::Find(std::string_view s) const {
  auto it = ids_.find(std::string(s));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::size_t VectorIndex::StringTable::RamBytes() const {
  std::size_t bytes = strings_.capacity() * sizeof(std::string) + refs_.capacity() * 4 + free_.capacity() * 4;
  for (const auto& s : strings_) bytes += s.capacity() > 15 ? s.capacity() + 1 : 0;  // beyond the SSO buffer
  // The map holds a second copy of each string in its node.
  for (const auto& [s, id] : ids_) bytes += sizeof(void*) * 2 + sizeof(std::string) + 8 + (s.capacity() > 15 ? s.capacity() + 1 : 0);
  bytes += ids_.bucket_count() * sizeof(void*);
  return bytes;
}

// ------------------------------------------------------------------ filter

struct VectorIndex::CompiledFilter {
  bool any = true;       // no criterion: every slot passes
  bool nothing = false;  // a criterion no stored vector meets
  std::optional<VectorOwnerKind> kind;
  std::vector<std::uint8_t> path_ok;  // by string id; empty: any path
  std::optional<std::uint32_t> language;
  std::optional<std::uint32_t> session;
  // At least as many live vectors as pass (counts per kind and per string).
  std::size_t matches_bound = 0;

  bool Pass(const SlotAttributes& a) const {
    if (kind && a.kind != *kind) return false;
    if (!path_ok.empty() && !path_ok[a.path]) return false;
    if (language && a.language != *language) return false;
    if (session && a.session != *session) return false;
    return true;
  }
};

VectorIndex::CompiledFilter VectorIndex::Compile(const VectorFilter& filter) const {
  CompiledFilter compiled;
  compiled.matches_bound = size();
  if (filter.empty()) return compiled;
  compiled.any = false;
  compiled.kind = filter.kind;
  auto bound = [&](std::size_t count) { compiled.matches_bound = std::min(compiled.matches_bound, count); };
  if (filter.kind) bound(kind_count_[static_cast<int>(*filter.kind)]);
  if (!filter.path_prefix.empty()) {
    // Decided once per distinct path, not once per vector. A string's
    // references bound the vectors naming it as a path.
    compiled.path_ok.resize(strings_.size());
    std::size_t referencing = 0;
    for (std::size_t id = 1; id < strings_.size(); ++id) {
      const auto sid = static_cast<std::uint32_t>(id);
      compiled.path_ok[id] = std::string_view(strings_.Get(sid)).starts_with(filter.path_prefix);
      if (compiled.path_ok[id]) referencing += strings_.References(sid);
    }
    bound(referencing);
  }
  if (!filter.language.empty()) {
    compiled.language = strings_.Find(filter.language);
    if (!compiled.language) compiled.nothing = true;
    else bound(strings_.References(*compiled.language));
  }
  if (!filter.session.empty()) {
    compiled.session = strings_.Find(filter.session);
    if (!compiled.session) compiled.nothing = true;
    else bound(strings_.References(*compiled.session));
  }
  return compiled;
}

// ------------------------------------------------------------------ lifecycle

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(VectorIndexOptions options) {
  if (options.model.empty()) return Status::InvalidArgument("vector index: the embedding model name is empty");
  if (options.dimension == 0 || options.dimension > simd::kMaxInt8Dimension) {
    return Status::InvalidArgument("vector index: dimension " + std::to_string(options.dimension) +
                                   " is outside 1.." + std::to_string(simd::kMaxInt8Dimension));
  }
  return std::unique_ptr<VectorIndex>(new VectorIndex(std::move(options)));
}

VectorIndex::VectorIndex(VectorIndexOptions options)
    : options_(std::move(options)),
      code_stride_(simd::PaddedInt8Dimension(options_.dimension)),
      full_stride_((options_.dimension + kFullAlignmentFloats - 1) / kFullAlignmentFloats * kFullAlignmentFloats) {
  if (quantized() && options_.graph_degree > 0) {
    simd::AnnGraphOptions graph;
    graph.degree = options_.graph_degree;
    graph.build_breadth = std::max(options_.graph_build_breadth, options_.graph_degree);
    graph.metric = options_.graph_metric;
    graph_ = std::make_unique<simd::AnnGraph>(graph, options_.dimension);
  }
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::Reserve(std::size_t count) {
  if (count <= slot_capacity_) return;
  const std::size_t used = ids_.size();
  ids_.reserve(count);
  scales_.reserve(count);
  offsets_.reserve(count);
  squared_norms_.reserve(count);
  attributes_.reserve(count);
  if (quantized()) codes_.Reserve(count * code_stride_, used * code_stride_);
  if (options_.keep_full_precision) full_.Reserve(count * full_stride_ * sizeof(float), used * full_stride_ * sizeof(float));
  slot_of_id_.reserve(count);
  if (graph_) graph_->Reserve(count);
  slot_capacity_ = count;
}

const std::uint8_t* VectorIndex::codes(std::size_t slot) const {
  return reinterpret_cast<const std::uint8_t*>(codes_.data()) + slot * code_stride_;
}

const float* VectorIndex::full(std::size_t slot) const {
  return reinterpret_cast<const float*>(full_.data()) + slot * full_stride_;
}

simd::Int8Rows VectorIndex::Rows() const {
  return {codes(0), slot_count(), code_stride_, scales_.data(), offsets_.data(), squared_norms_.data()};
}

bool VectorIndex::Admits(const CompiledFilter& filter, std::size_t slot) const {
  const SlotAttributes& a = attributes_[slot];
  return a.live && (filter.any || filter.Pass(a));
}

// ------------------------------------------------------------------ writes

Status VectorIndex::CheckModel(std::string_view model, std::size_t dimension, std::string_view what) const {
  if (model != options_.model) {
    return Status::InvalidArgument(std::string(what) + " is a " + Quote(model) + " embedding but this index holds " +
                                   Quote(options_.model) + " embeddings (different models are not comparable)");
  }
  if (dimension != options_.dimension) {
    return Status::InvalidArgument(std::string(what) + " has " + std::to_string(dimension) + " dimensions but " +
                                   Quote(options_.model) + " embeddings have " + std::to_string(options_.dimension));
  }
  return Status::Ok();
}

Status CheckVectorValues(std::span<const float> values, std::string_view what) {
  double squared_norm = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::InvalidArgument(std::string(what) + ": component " + std::to_string(i) + " is " +
                                     (std::isnan(values[i]) ? "NaN" : "infinite") + " (vectors must be finite)");
    }
    squared_norm += double(values[i]) * double(values[i]);
  }
  if (squared_norm > kMaxVectorSquaredNorm) {
    char norm[32];
    std::snprintf(norm, sizeof norm, "%.3g", std::sqrt(squared_norm));
    return Status::InvalidArgument(std::string(what) + ": a norm of " + norm +
                                   " is too large (at most 4.6e18: scores would overflow)");
  }
  return Status::Ok();
}

Status VectorIndex::CheckEntry(const VectorEntry& entry) const {
  const std::string what = "vector " + std::to_string(entry.id);
  if (entry.attributes.kind == VectorOwnerKind::kCodeChunk && entry.attributes.path.empty()) {
    return Status::InvalidArgument(what + ": a code chunk needs the path of its file");
  }
  return CheckVectorValues(entry.values, what);
}

Status VectorIndex::Add(std::string_view model, const VectorEntry& entry) {
  PDAI_RETURN_IF_ERROR(CheckModel(model, entry.values.size(), "vector " + std::to_string(entry.id)));
  PDAI_RETURN_IF_ERROR(CheckEntry(entry));
  AddChecked(entry);
  return Status::Ok();
}

Status VectorIndex::ReplaceFile(std::string_view model, std::string_view path, std::span<const VectorEntry> entries) {
  if (path.empty()) return Status::InvalidArgument("ReplaceFile: empty path");
  std::unordered_set<std::uint64_t> seen;
  for (const VectorEntry& entry : entries) {
    const std::string what = "vector " + std::to_string(entry.id);
    PDAI_RETURN_IF_ERROR(CheckModel(model, entry.values.size(), what));
    PDAI_RETURN_IF_ERROR(CheckEntry(entry));
    if (entry.attributes.kind != VectorOwnerKind::kCodeChunk || entry.attributes.path != path) {
      return Status::InvalidArgument(what + ": ReplaceFile(" + Quote(path) + ") takes code chunks of that file only");
    }
    if (!seen.insert(entry.id).second) return Status::InvalidArgument(what + ": id given twice");
  }
  RemoveFile(path);
  for (const VectorEntry& entry : entries) AddChecked(entry);
  return Status::Ok();
}

void VectorIndex::AddChecked(const VectorEntry& entry) {
  if (auto it = slot_of_id_.find(entry.id); it != slot_of_id_.end()) RemoveSlot(it->second);
  std::size_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = ids_.size();
    if (slot == slot_capacity_) Reserve(std::max<std::size_t>(1024, slot_capacity_ * 2));
    ids_.push_back(0);
    scales_.push_back(0);
    offsets_.push_back(0);
    squared_norms_.push_back(0);
    attributes_.emplace_back();
  }

  const std::size_t dim = options_.dimension;
  ids_[slot] = entry.id;
  if (quantized()) {
    std::uint8_t* row = reinterpret_cast<std::uint8_t*>(codes_.data()) + slot * code_stride_;
    const simd::Int8Params p = simd::QuantizeInt8(entry.values.data(), dim, row);
    scales_[slot] = p.scale;
    offsets_[slot] = p.offset;
    squared_norms_[slot] = p.squared_norm;
  } else {
    scales_[slot] = 0;
    offsets_[slot] = 0;
    squared_norms_[slot] = simd::SquaredNorm(entry.values.data(), dim);
  }
  if (options_.keep_full_precision) {
    float* row = reinterpret_cast<float*>(full_.data()) + slot * full_stride_;
    std::memcpy(row, entry.values.data(), dim * sizeof(float));
    std::fill(row + dim, row + full_stride_, 0.0f);
  }
  SlotAttributes a;
  a.kind = entry.attributes.kind;
  a.path = strings_.Acquire(entry.attributes.path);
  a.language = strings_.Acquire(entry.attributes.language);
  a.session = strings_.Acquire(entry.attributes.session);
  a.live = true;
  attributes_[slot] = a;
  ++kind_count_[static_cast<int>(a.kind)];
  if (a.kind == VectorOwnerKind::kCodeChunk) ids_of_path_[a.path].push_back(entry.id);
  slot_of_id_.emplace(entry.id, static_cast<std::uint32_t>(slot));
  if (!graph_) return;
  if (defer_linking_) {
    unlinked_position_.emplace(static_cast<std::uint32_t>(slot), unlinked_.size());
    unlinked_.push_back(static_cast<std::uint32_t>(slot));
  } else {
    graph_->Insert(static_cast<std::uint32_t>(slot), entry.values.data(), Rows());
  }
}

void VectorIndex::Unlink(std::uint32_t slot) {
  auto at = unlinked_position_.find(slot);
  if (at == unlinked_position_.end()) return;
  const std::size_t position = at->second;
  unlinked_position_.erase(at);
  if (position + 1 != unlinked_.size()) {
    unlinked_[position] = unlinked_.back();
    unlinked_position_[unlinked_[position]] = position;
  }
  unlinked_.pop_back();
}

std::size_t VectorIndex::LinkUnlinked(std::size_t max_vectors) {
  for (std::size_t linked = 0; linked < max_vectors && !unlinked_.empty(); ++linked) {
    const std::uint32_t slot = unlinked_.back();
    unlinked_.pop_back();
    unlinked_position_.erase(slot);
    graph_->InsertStored(slot, Rows());
  }
  return unlinked_.size();
}

void VectorIndex::RemoveSlot(std::size_t slot) {
  const std::uint64_t id = ids_[slot];
  const SlotAttributes a = attributes_[slot];
  if (a.kind == VectorOwnerKind::kCodeChunk) {
    auto it = ids_of_path_.find(a.path);
    if (it != ids_of_path_.end()) {
      auto& list = it->second;
      list.erase(std::find(list.begin(), list.end(), id));
      if (list.empty()) ids_of_path_.erase(it);
    }
  }
  strings_.Release(a.path);
  strings_.Release(a.language);
  strings_.Release(a.session);
  slot_of_id_.erase(id);
  --kind_count_[static_cast<int>(a.kind)];
  // The codes stay until the slot is reused: the graph reads the removed
  // node's neighbours' codes while it repairs their links.
  Unlink(static_cast<std::uint32_t>(slot));
  if (graph_) graph_->Remove(static_cast<std::uint32_t>(slot), Rows());  // no-op when unlinked
  attributes_[slot] = SlotAttributes{};
  free_slots_.push_back(static_cast<std::uint32_t>(slot));
}

bool VectorIndex::Remove(std::uint64_t id) {
  auto it = slot_of_id_.find(id);
  if (it == slot_of_id_.end()) return false;
  RemoveSlot(it->second);
  return true;
}

std::size_t VectorIndex::RemoveFile(std::string_view path) {
  const auto path_id = strings_.Find(path);
  if (!path_id || *path_id == 0) return 0;
  auto it = ids_of_path_.find(*path_id);
  if (it == ids_of_path_.end()) return 0;
  const std::vector<std::uint64_t> ids = it->second;  // RemoveSlot edits the list
  for (std::uint64_t id : ids) Remove(id);
  return ids.size();
}

std::size_t VectorIndex::RemoveSession(std::string_view session) {
  const auto session_id = strings_.Find(session);
  if (!session_id || *session_id == 0) return 0;
  std::vector<std::uint64_t> ids;
  for (std::size_t slot = 0; slot < slot_count(); ++slot) {
    if (attributes_[slot].live && attributes_[slot].session == *session_id) ids.push_back(ids_[slot]);
  }
  for (std::uint64_t id : ids) Remove(id);
  return ids.size();
}

Result<VectorAttributes> VectorIndex::Attributes(std::uint64_t id) const {
  auto it = slot_of_id_.find(id);
  if (it == slot_of_id_.end()) return Status::NotFound("vector " + std::to_string(id) + " is not in the index");
  const SlotAttributes& a = attributes_[it->second];
  VectorAttributes out;
  out.kind = a.kind;
  out.path = strings_.Get(a.path);
  out.language = strings_.Get(a.language);
  out.session = strings_.Get(a.session);
  return out;
}

// ------------------------------------------------------------------ search

std::size_t VectorIndex::Candidates(const VectorSearchOptions& options) const {
  const std::size_t wanted = options.rerank_candidates != 0 ? options.rerank_candidates : options_.rerank_candidates;
  return std::max(options.k, wanted);
}

Status VectorIndex::CheckQuery(std::string_view model, std::span<const float> queries, std::size_t num_queries,
                               const VectorSearchOptions& options) const {
  if (options.k == 0) return Status::InvalidArgument("vector search: k must be at least 1");
  if (num_queries == 0) return Status::InvalidArgument("vector search: no query");
  if (queries.size() % num_queries != 0) {
    return Status::InvalidArgument("vector search: " + std::to_string(queries.size()) + " floats do not split into " +
                                   std::to_string(num_queries) + " queries");
  }
  const std::size_t dim = queries.size() / num_queries;
  PDAI_RETURN_IF_ERROR(CheckModel(model, dim, "the query"));
  for (std::size_t q = 0; q < num_queries; ++q) {
    const auto query = queries.subspan(q * dim, dim);
    PDAI_RETURN_IF_ERROR(CheckVectorValues(query, "query " + std::to_string(q)));
    if (options.metric == VectorMetric::kCosine && simd::SquaredNorm(query.data(), dim) <= 0.0f) {
      return Status::InvalidArgument("query " + std::to_string(q) + " is a zero vector: cosine similarity is undefined");
    }
  }
  return Status::Ok();
}

Status VectorIndex::CheckSource(const FullPrecisionSource* source) const {
  if (source != nullptr || options_.keep_full_precision) return Status::Ok();
  return Status::InvalidArgument(
      "vector search: no full-precision source, and this index keeps no full-precision copy (re-ranking and exact "
      "search read full-precision vectors)");
}

Status VectorIndex::FetchFull(FullPrecisionSource* source, std::span<const std::uint64_t> ids, float* out) const {
  const std::size_t dim = options_.dimension;
  if (!options_.keep_full_precision) return source->Fetch(ids, out).WithContext("fetching full-precision vectors");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto it = slot_of_id_.find(ids[i]);
    if (it == slot_of_id_.end()) {
      std::fill(out + i * dim, out + (i + 1) * dim, 0.0f);  // removed: Rerank skips it
      continue;
    }
    std::memcpy(out + i * dim, full(it->second), dim * sizeof(float));
  }
  return Status::Ok();
}

bool VectorIndex::GraphServes(const VectorSearchOptions& options, const CompiledFilter& filter) const {
  if (!graph_ || options.metric != options_.graph_metric) return false;
  const std::size_t live = size();
  const std::size_t linked = graph_->size();
  // A walk that must return a sizeable share of the index is a slower scan;
  // so is scoring more unlinked vectors one by one than the walk covers.
  if (linked < options_.graph_min_vectors || unlinked_.size() > linked || Candidates(options) * 16 > live) {
    return false;
  }
  return filter.any ||
         double(filter.matches_bound) >= options_.graph_filter_matches_per_candidate * double(Candidates(options));
}

bool VectorIndex::UsesGraph(const VectorSearchOptions& options) const {
  return quantized() && GraphServes(options, Compile(options.filter));
}

std::vector<VectorCandidates> VectorIndex::ScanCandidates(const float* queries, std::size_t num_queries,
                                                          const VectorSearchOptions& options) const {
  const std::size_t dim = options_.dimension;
  const std::size_t padded = code_stride_;
  const CompiledFilter filter = Compile(options.filter);
  std::vector<VectorCandidates> candidates(num_queries);
  if (filter.nothing || size() == 0) return candidates;

  std::vector<std::int8_t> query_codes(num_queries * padded);
  std::vector<simd::Int8QueryParams> query_params(num_queries);
  for (std::size_t q = 0; q < num_queries; ++q) {
    query_params[q] = simd::QuantizeQuery(queries + q * dim, dim, query_codes.data() + q * padded);
  }
  if (!GraphServes(options, filter)) {
    return ScanQuantized(query_codes.data(), query_params.data(), num_queries, options, filter);
  }
  const simd::Int8Rows rows = Rows();
  simd::AnnGraph::Admit admit;
  if (!filter.any) admit = [&](std::uint32_t slot) { return filter.Pass(attributes_[slot]); };
  for (std::size_t q = 0; q < num_queries; ++q) {
    const simd::AnnQuery query{query_codes.data() + q * padded, query_params[q]};
    std::vector<simd::ScoredId> found = graph_->Search(query, Candidates(options), rows, admit);
    if (!unlinked_.empty()) {
      simd::TopK top(Candidates(options), simd::HigherIsBetter(options.metric));
      for (const simd::ScoredId& c : found) top.Offer(c.score, c.id);
      ScoreUnlinked(query, options, filter, &top);
      found = top.TakeSorted();
    }
    if (found.size() < options.k) {
      // Short of k: fewer vectors pass the filter than estimated, or the walk
      // missed them. The scan finds every one that passes.
      candidates[q] = std::move(ScanQuantized(query.codes, &query_params[q], 1, options, filter)[0]);
      continue;
    }
    for (const simd::ScoredId& c : found) {  // c.id is a slot
      candidates[q].ids.push_back(ids_[c.id]);
      candidates[q].approximate_scores.push_back(c.score);
    }
  }
  return candidates;
}

void VectorIndex::ScoreUnlinked(const simd::AnnQuery& query, const VectorSearchOptions& options,
                                const CompiledFilter& filter, simd::TopK* top) const {
  const simd::Int8Rows rows = Rows();
  std::vector<float> scores(std::min(unlinked_.size(), kScanBlockRows));
  for (std::size_t begin = 0; begin < unlinked_.size(); begin += kScanBlockRows) {
    const std::size_t n = std::min(kScanBlockRows, unlinked_.size() - begin);
    const std::uint32_t* slots = unlinked_.data() + begin;
    simd::ScoreInt8Gathered(options.metric, query.codes, query.params, code_stride_, rows, slots, n, scores.data());
    for (std::size_t i = 0; i < n; ++i) {
      if (filter.any || filter.Pass(attributes_[slots[i]])) top->Offer(scores[i], slots[i]);
    }
  }
}

std::vector<VectorCandidates> VectorIndex::ScanQuantized(const std::int8_t* query_codes,
                                                         const simd::Int8QueryParams* query_params,
                                                         std::size_t num_queries, const VectorSearchOptions& options,
                                                         const CompiledFilter& filter) const {
  const std::size_t padded = code_stride_;
  std::vector<VectorCandidates> candidates(num_queries);
  const bool higher = simd::HigherIsBetter(options.metric);
  std::vector<simd::TopK> tops(num_queries, simd::TopK(Candidates(options), higher));
  const std::size_t block = num_queries == 1 ? kScanBlockRows : kBatchBlockRows;
  const bool every_slot = filter.any && free_slots_.empty();
  std::vector<float> scores(num_queries * block);
  for (std::size_t begin = 0; begin < slot_count(); begin += block) {
    const std::size_t n = std::min(block, slot_count() - begin);
    const simd::Int8Rows rows{codes(begin), n, code_stride_, scales_.data() + begin, offsets_.data() + begin,
                              squared_norms_.data() + begin};
    if (num_queries == 1) {
      simd::ScoreInt8Rows(options.metric, query_codes, query_params[0], padded, rows, scores.data());
    } else {
      simd::ScoreInt8RowsMulti(options.metric, query_codes, query_params, num_queries, padded, padded, rows,
                               scores.data(), block);
    }
    if (!every_slot) {
      for (std::size_t i = 0; i < n; ++i) {
        if (Admits(filter, begin + i)) continue;
        for (std::size_t q = 0; q < num_queries; ++q) scores[q * block + i] = kExcluded;
      }
    }
    for (std::size_t q = 0; q < num_queries; ++q) tops[q].OfferBlock(scores.data() + q * block, n, begin);
  }
  for (std::size_t q = 0; q < num_queries; ++q) {
    for (const simd::ScoredId& c : tops[q].TakeSorted()) {  // c.id is a slot
      candidates[q].ids.push_back(ids_[c.id]);
      candidates[q].approximate_scores.push_back(c.score);
    }
  }
  return candidates;
}

Status VectorIndex::ScanExact(const float* queries, std::size_t num_queries, const VectorSearchOptions& options,
                              FullPrecisionSource* source, std::vector<std::vector<VectorHit>>* hits) const {
  const std::size_t dim = options_.dimension;
  const CompiledFilter filter = Compile(options.filter);
  hits->assign(num_queries, {});
  if (filter.nothing || size() == 0) return Status::Ok();
  const bool every_slot = filter.any && free_slots_.empty();
  const bool higher = simd::HigherIsBetter(options.metric);
  std::vector<simd::TopK> tops(num_queries, simd::TopK(options.k, higher));

  if (options_.keep_full_precision) {
    const std::size_t block = num_queries == 1 ? kScanBlockRows : kBatchBlockRows;
    std::vector<float> scores(num_queries * block);
    for (std::size_t begin = 0; begin < slot_count(); begin += block) {
      const std::size_t n = std::min(block, slot_count() - begin);
      const simd::FloatRows rows{full(begin), n, full_stride_};
      if (num_queries == 1) {
        simd::ScoreFloatRows(options.metric, queries, dim, rows, scores.data());
      } else {
        simd::ScoreFloatRowsMulti(options.metric, queries, num_queries, dim, dim, rows, scores.data(), block);
      }
      if (!every_slot) {
        for (std::size_t i = 0; i < n; ++i) {
          if (Admits(filter, begin + i)) continue;
          for (std::size_t q = 0; q < num_queries; ++q) scores[q * block + i] = kExcluded;
        }
      }
      for (std::size_t q = 0; q < num_queries; ++q) tops[q].OfferBlock(scores.data() + q * block, n, begin);
    }
  } else {
    // Every vector through the source, a block at a time: hot ones from RAM,
    // cold ones from disk. Only vectors passing the filter are fetched.
    std::vector<std::uint32_t> slots;
    std::vector<std::uint64_t> ids;
    std::vector<float> vectors(kFetchBlockRows * dim);
    std::vector<float> scores(num_queries * kFetchBlockRows);
    for (std::size_t begin = 0; begin < slot_count(); begin += kFetchBlockRows) {
      const std::size_t end = std::min(slot_count(), begin + kFetchBlockRows);
      slots.clear();
      ids.clear();
      for (std::size_t slot = begin; slot < end; ++slot) {
        if (!Admits(filter, slot)) continue;
        slots.push_back(static_cast<std::uint32_t>(slot));
        ids.push_back(ids_[slot]);
      }
      if (slots.empty()) continue;
      PDAI_RETURN_IF_ERROR(FetchFull(source, ids, vectors.data()));
      const simd::FloatRows rows{vectors.data(), slots.size(), dim};
      simd::ScoreFloatRowsMulti(options.metric, queries, num_queries, dim, dim, rows, scores.data(), kFetchBlockRows);
      for (std::size_t q = 0; q < num_queries; ++q) {
        for (std::size_t j = 0; j < slots.size(); ++j) tops[q].Offer(scores[q * kFetchBlockRows + j], slots[j]);
      }
    }
  }
  for (std::size_t q = 0; q < num_queries; ++q) {
    for (const simd::ScoredId& s : tops[q].TakeSorted()) (*hits)[q].push_back({ids_[s.id], s.score});
  }
  return Status::Ok();
}

Result<std::vector<VectorHit>> VectorIndex::FetchAndRerank(std::span<const float> query,
                                                           const VectorCandidates& candidates,
                                                           const VectorSearchOptions& options,
                                                           FullPrecisionSource* source) const {
  std::vector<float> full_vectors(candidates.ids.size() * options_.dimension);
  PDAI_RETURN_IF_ERROR(FetchFull(source, candidates.ids, full_vectors.data()));
  return Rerank(query, candidates, full_vectors, options);
}

Result<std::vector<VectorHit>> VectorIndex::Search(std::string_view model, std::span<const float> query,
                                                   const VectorSearchOptions& options,
                                                   FullPrecisionSource* source) const {
  PDAI_RETURN_IF_ERROR(CheckSource(source));
  if (ScansExactly(options)) {
    PDAI_RETURN_IF_ERROR(CheckQuery(model, query, 1, options));
    std::vector<std::vector<VectorHit>> hits;
    PDAI_RETURN_IF_ERROR(ScanExact(query.data(), 1, options, source, &hits));
    return std::move(hits[0]);
  }
  // The engine's two phases, with the fetch in between done here.
  auto candidates = FindCandidates(model, query, options);
  if (!candidates.ok()) return candidates.status();
  return FetchAndRerank(query, *candidates, options, source);
}

Result<std::vector<std::vector<VectorHit>>> VectorIndex::SearchBatch(std::string_view model,
                                                                     std::span<const float> queries,
                                                                     std::size_t num_queries,
                                                                     const VectorSearchOptions& options,
                                                                     FullPrecisionSource* source) const {
  PDAI_RETURN_IF_ERROR(CheckSource(source));
  PDAI_RETURN_IF_ERROR(CheckQuery(model, queries, num_queries, options));
  std::vector<std::vector<VectorHit>> hits;
  if (ScansExactly(options)) {
    PDAI_RETURN_IF_ERROR(ScanExact(queries.data(), num_queries, options, source, &hits));
    return hits;
  }
  // FindCandidates for the whole batch in one scan, then Rerank per query.
  const std::vector<VectorCandidates> candidates = ScanCandidates(queries.data(), num_queries, options);
  const std::size_t dim = options_.dimension;
  hits.reserve(num_queries);
  for (std::size_t q = 0; q < num_queries; ++q) {
    auto reranked = FetchAndRerank(queries.subspan(q * dim, dim), candidates[q], options, source);
    if (!reranked.ok()) return reranked.status();
    hits.push_back(std::move(*reranked));
  }
  return hits;
}

Result<VectorCandidates> VectorIndex::FindCandidates(std::string_view model, std::span<const float> query,
                                                     const VectorSearchOptions& options) const {
  PDAI_RETURN_IF_ERROR(CheckQuery(model, query, 1, options));
  if (!quantized()) {
    // No compact copies to scan (quantization none): every vector the filter
    // admits is a candidate, and the re-rank scores them all at full
    // precision — an exact search in the same two phases.
    VectorCandidates all;
    const CompiledFilter filter = Compile(options.filter);
    if (filter.nothing) return all;
    for (std::size_t slot = 0; slot < slot_count(); ++slot) {
      if (!Admits(filter, slot)) continue;
      all.ids.push_back(ids_[slot]);
    }
    all.approximate_scores.assign(all.ids.size(), 0.0f);
    return all;
  }
  return std::move(ScanCandidates(query.data(), 1, options)[0]);
}

Result<std::vector<VectorHit>> VectorIndex::Rerank(std::span<const float> query, const VectorCandidates& candidates,
                                                   std::span<const float> full_vectors,
                                                   const VectorSearchOptions& options) const {
  const std::size_t dim = options_.dimension;
  if (query.size() != dim) PDAI_RETURN_IF_ERROR(CheckModel(options_.model, query.size(), "the query"));
  if (full_vectors.size() != candidates.ids.size() * dim) {
    return Status::InvalidArgument("Rerank: " + std::to_string(full_vectors.size()) + " floats given for " +
                                   std::to_string(candidates.ids.size()) + " candidates of dimension " +
                                   std::to_string(dim));
  }
  if (options.k == 0) return Status::InvalidArgument("vector search: k must be at least 1");
  simd::TopK top(options.k, simd::HigherIsBetter(options.metric));
  for (std::size_t j = 0; j < candidates.ids.size(); ++j) {
    if (!Contains(candidates.ids[j])) continue;  // removed since FindCandidates
    top.Offer(simd::Score(options.metric, query.data(), full_vectors.data() + j * dim, dim), candidates.ids[j]);
  }
  std::vector<VectorHit> hits;
  for (const simd::ScoredId& s : top.TakeSorted()) hits.push_back({s.id, s.score});
  return hits;
}

// ------------------------------------------------------------------ snapshots

namespace {
// 2: the unlinked vectors' slots follow the string table (1 had none).
constexpr std::uint32_t kSnapshotVersion = 2;
using simd::GetArray;
using simd::GetArrayBytes;
using simd::PutArray;
}  // namespace

void VectorIndex::StringTable::Serialize(std::string* out) const {
  records::PutFixed64(out, strings_.size());
  for (const std::string& s : strings_) records::PutLengthPrefixed(out, s);
  PutArray(out, refs_);
}

bool VectorIndex::StringTable::Deserialize(std::string_view* in) {
  std::uint64_t count = 0;
  if (!records::GetFixed64(in, &count) || count == 0 || count > in->size() / 4) return false;
  std::vector<std::string> strings(count);
  for (auto& s : strings) {
    if (!records::GetLengthPrefixed(in, &s)) return false;
  }
  std::vector<std::uint32_t> refs;
  if (!GetArray(in, &refs) || refs.size() != count || !strings[0].empty()) return false;
  std::unordered_map<std::string, std::uint32_t> ids;
  std::vector<std::uint32_t> free;
  for (std::uint32_t id = 1; id < count; ++id) {
    if (refs[id] == 0) {
      if (!strings[id].empty()) return false;
      free.push_back(id);
    } else if (strings[id].empty() || !ids.emplace(strings[id], id).second) {
      return false;  // a live string must be non-empty and unique
    }
  }
  ids.emplace(std::string(), 0);
  strings_ = std::move(strings);
  refs_ = std::move(refs);
  free_ = std::move(free);
  ids_ = std::move(ids);
  return true;
}

void VectorIndex::Serialize(std::string* out) const {
  // One allocation for the whole snapshot (gigabytes at millions of
  // vectors): a growing string would copy and fault in each doubling.
  const std::size_t per_slot = sizeof(std::uint64_t) + 3 * sizeof(float) + sizeof(SlotAttributes) +
                               (quantized() ? code_stride_ : 0) +
                               (options_.keep_full_precision ? full_stride_ * sizeof(float) : 0);
  out->reserve(out->size() + 256 + options_.model.size() + slot_count() * per_slot +
               free_slots_.size() * sizeof(std::uint32_t) + strings_.RamBytes() + GraphRamBytes());
  records::PutFixed32(out, kSnapshotVersion);
  records::PutLengthPrefixed(out, options_.model);
  records::PutFixed32(out, options_.dimension);
  records::PutFixed32(out, static_cast<std::uint32_t>(options_.quantization));
  records::PutFixed32(out, options_.keep_full_precision ? 1 : 0);
  records::PutFixed32(out, graph_ ? options_.graph_degree : 0);
  records::PutFixed32(out, static_cast<std::uint32_t>(options_.graph_metric));
  PutArray(out, ids_);
  PutArray(out, quantized() ? codes(0) : nullptr, quantized() ? slot_count() * code_stride_ : 0);
  PutArray(out, scales_);
  PutArray(out, offsets_);
  PutArray(out, squared_norms_);
  PutArray(out, attributes_);
  PutArray(out, options_.keep_full_precision ? full(0) : nullptr,
           options_.keep_full_precision ? slot_count() * full_stride_ : 0);
  PutArray(out, free_slots_);
  strings_.Serialize(out);
  PutArray(out, unlinked_);
  std::string graph;
  if (graph_) graph_->Serialize(&graph);
  records::PutFixed64(out, graph.size());
  out->append(graph);
}

Status VectorIndex::Deserialize(std::string_view in) {
  // Whatever happens, start from empty: a failed load leaves nothing half-read.
  auto fresh = Create(options_);
  if (!fresh.ok()) return fresh.status();
  VectorIndex& built = **fresh;
  auto corrupt = [](const std::string& what) { return Status::Corruption("vector index snapshot: " + what); };
  std::uint32_t version = 0, dimension = 0, quantization = 0, keep_full = 0, degree = 0, metric = 0;
  std::string model;
  if (!records::GetFixed32(&in, &version) || !records::GetLengthPrefixed(&in, &model) ||
      !records::GetFixed32(&in, &dimension) || !records::GetFixed32(&in, &quantization) ||
      !records::GetFixed32(&in, &keep_full) || !records::GetFixed32(&in, &degree) ||
      !records::GetFixed32(&in, &metric)) {
    return corrupt("truncated header");
  }
  if (version != kSnapshotVersion && version != 1) return corrupt("unknown version " + std::to_string(version));
  if (model != options_.model || dimension != options_.dimension ||
      quantization != static_cast<std::uint32_t>(options_.quantization) ||
      (keep_full != 0) != options_.keep_full_precision || degree != (graph_ ? options_.graph_degree : 0) ||
      metric != static_cast<std::uint32_t>(options_.graph_metric)) {
    return Status::InvalidArgument("vector index snapshot of model '" + model + "' (dimension " +
                                   std::to_string(dimension) + ", graph degree " + std::to_string(degree) +
                                   ") was taken with other options than this index's (model '" + options_.model +
                                   "', dimension " + std::to_string(options_.dimension) + ", graph degree " +
                                   std::to_string(graph_ ? options_.graph_degree : 0) + ")");
  }
  std::string_view code_bytes, full_bytes;  // the big arrays are copied once, below
  if (!GetArray(&in, &built.ids_) || !GetArrayBytes(&in, 1, &code_bytes) || !GetArray(&in, &built.scales_) ||
      !GetArray(&in, &built.offsets_) || !GetArray(&in, &built.squared_norms_) ||
      !GetArray(&in, &built.attributes_) || !GetArrayBytes(&in, sizeof(float), &full_bytes) ||
      !GetArray(&in, &built.free_slots_) || !built.strings_.Deserialize(&in) ||
      (version >= 2 && !GetArray(&in, &built.unlinked_))) {
    return corrupt("truncated arrays");
  }
  const std::size_t slots = built.ids_.size();
  if (built.scales_.size() != slots || built.offsets_.size() != slots || built.squared_norms_.size() != slots ||
      built.attributes_.size() != slots || code_bytes.size() != (quantized() ? slots * code_stride_ : 0) ||
      full_bytes.size() != (options_.keep_full_precision ? slots * full_stride_ * sizeof(float) : 0)) {
    return corrupt("array sizes disagree");
  }
  std::uint64_t graph_bytes = 0;
  if (!records::GetFixed64(&in, &graph_bytes) || graph_bytes != in.size()) return corrupt("truncated graph");
  // Room first (Reserve sizes the arrays and the graph), then the contents.
  const std::size_t capacity = std::max<std::size_t>(slots, 1);
  if (quantized()) built.codes_.Reserve(capacity * code_stride_, 0);
  if (options_.keep_full_precision) built.full_.Reserve(capacity * full_stride_ * sizeof(float), 0);
  built.slot_capacity_ = capacity;
  built.slot_of_id_.reserve(slots);
  if (quantized()) std::memcpy(built.codes_.data(), code_bytes.data(), code_bytes.size());
  if (options_.keep_full_precision) std::memcpy(built.full_.data(), full_bytes.data(), full_bytes.size());
  // The maps are derived from the slots, and checked against the free list
  // and the string references while they are built.
  std::vector<std::uint32_t> references(built.strings_.size(), 0);
  std::size_t free_count = 0;
  for (std::size_t slot = 0; slot < slots; ++slot) {
    const SlotAttributes& a = built.attributes_[slot];
    if (!a.live) {
      ++free_count;
      continue;
    }
    if (a.path >= references.size() || a.language >= references.size() || a.session >= references.size() ||
        static_cast<int>(a.kind) > 1) {
      return corrupt("attributes out of range");
    }
    for (std::uint32_t id : {a.path, a.language, a.session}) {
      if (id != 0) ++references[id];
    }
    if (!built.slot_of_id_.emplace(built.ids_[slot], static_cast<std::uint32_t>(slot)).second) {
      return corrupt("id " + std::to_string(built.ids_[slot]) + " in two slots");
    }
    ++built.kind_count_[static_cast<int>(a.kind)];
    if (a.kind == VectorOwnerKind::kCodeChunk) built.ids_of_path_[a.path].push_back(built.ids_[slot]);
  }
  for (std::uint32_t slot : built.free_slots_) {
    if (slot >= slots || built.attributes_[slot].live) return corrupt("the free list names a used slot");
  }
  if (free_count != built.free_slots_.size()) return corrupt("free slots not all listed");
  for (std::uint32_t id = 1; id < references.size(); ++id) {
    if (references[id] != built.strings_.References(id)) return corrupt("string references disagree");
  }
  for (std::size_t position = 0; position < built.unlinked_.size(); ++position) {
    const std::uint32_t slot = built.unlinked_[position];
    if (!built.graph_ || slot >= slots || !built.attributes_[slot].live ||
        !built.unlinked_position_.emplace(slot, position).second) {
      return corrupt("the unlinked list names a free, repeated or unknown slot");
    }
  }
  if (built.graph_) {
    std::string error;
    if (!built.graph_->Deserialize(in, &error)) return corrupt(error);
    // Every live slot is either a node of the graph or unlinked.
    if (built.graph_->size() + built.unlinked_.size() != built.size()) {
      return corrupt("the graph and the slots disagree");
    }
    for (std::size_t slot = 0; slot < slots; ++slot) {
      const bool node = built.graph_->Contains(static_cast<std::uint32_t>(slot));
      const bool unlinked = built.unlinked_position_.count(static_cast<std::uint32_t>(slot)) != 0;
      if (built.attributes_[slot].live != (node || unlinked) || (node && unlinked)) {
        return corrupt("the graph and the slots disagree");
      }
    }
    built.graph_->Reserve(built.slot_capacity_);
  } else if (!in.empty()) {
    return corrupt("a graph in a snapshot of an index without one");
  }
  // Adopt the loaded state.
  std::swap(ids_, built.ids_);
  std::swap(codes_, built.codes_);
  std::swap(scales_, built.scales_);
  std::swap(offsets_, built.offsets_);
  std::swap(squared_norms_, built.squared_norms_);
  std::swap(attributes_, built.attributes_);
  std::swap(full_, built.full_);
  std::swap(slot_capacity_, built.slot_capacity_);
  std::swap(free_slots_, built.free_slots_);
  std::swap(kind_count_, built.kind_count_);
  std::swap(graph_, built.graph_);
  std::swap(slot_of_id_, built.slot_of_id_);
  std::swap(strings_, built.strings_);
  std::swap(ids_of_path_, built.ids_of_path_);
  std::swap(unlinked_, built.unlinked_);
  std::swap(unlinked_position_, built.unlinked_position_);
  return Status::Ok();
}

// ------------------------------------------------------------------ accounting

std::size_t VectorIndex::RamBytes() const {
  std::size_t bytes = sizeof(*this);
  bytes += ids_.capacity() * sizeof(std::uint64_t);
  bytes += codes_.capacity() + full_.capacity();
  bytes += (scales_.capacity() + offsets_.capacity() + squared_norms_.capacity()) * sizeof(float);
  bytes += attributes_.capacity() * sizeof(SlotAttributes);
  // unordered_map: one bucket pointer each, one heap node per entry (next
  // pointer + key/value pair, rounded to the allocator's 16-byte granule).
  auto node_bytes = [](std::size_t payload) { return (sizeof(void*) + payload + 15) / 16 * 16; };
  bytes += slot_of_id_.bucket_count() * sizeof(void*) +
           slot_of_id_.size() * node_bytes(sizeof(std::pair<const std::uint64_t, std::uint32_t>));
  bytes += ids_of_path_.bucket_count() * sizeof(void*);
  for (const auto& [path, ids] : ids_of_path_) {
    bytes += node_bytes(sizeof(std::pair<const std::uint32_t, std::vector<std::uint64_t>>)) +
             ids.capacity() * sizeof(std::uint64_t);
  }
  bytes += strings_.RamBytes();
  bytes += free_slots_.capacity() * sizeof(std::uint32_t);
  bytes += unlinked_.capacity() * sizeof(std::uint32_t) + unlinked_position_.bucket_count() * sizeof(void*) +
           unlinked_position_.size() * node_bytes(sizeof(std::pair<const std::uint32_t, std::size_t>));
  return bytes + GraphRamBytes();
}

std::size_t VectorIndex::GraphRamBytes() const { return graph_ ? graph_->RamBytes() : 0; }

double VectorIndex::RamBytesPerVector() const {
  if (size() == 0) return 0;
  return static_cast<double>(RamBytes()) / static_cast<double>(size());
}

}  // namespace postdevai
