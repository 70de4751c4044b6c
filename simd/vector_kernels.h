// SIMD kernels for vector search: float32 distances, 8-bit scalar quantization
// ("int8"), single- and multi-query scans, top-k selection.
//
// Every function here is compiled once per CPU target Highway knows (AVX-512
// with VNNI, AVX-512, AVX2, SSE4, SSSE3 and a portable scalar fallback) and
// picks the best one the CPU supports at its first call (Highway dynamic
// dispatch). No Highway type appears in this header: callers pass plain
// pointers and sizes.
//
// Conventions
//  * Pointers need no alignment; `dim` is the number of meaningful components.
//  * Scores: inner product and cosine similarity are "higher is better";
//    squared L2 is a distance, "lower is better" (see HigherIsBetter).
//  * Cosine similarity of a zero vector with anything is 0.
//  * Inputs must be finite; NaN/inf inputs give unspecified scores (the vector
//    index refuses them at write time, so kernels do not pay to check).
//
// Thread-safety: every function is a pure function of its arguments and may be
// called from any number of threads at once. TopK is a value type: one per
// thread. ForceKernelTargetForTest changes a process-wide setting (tests only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postdevai::simd {

enum class VectorMetric : std::uint8_t {
  kInnerProduct,  // sum a[i]*b[i]; higher is better
  kSquaredL2,     // sum (a[i]-b[i])^2; lower is better
  kCosine,        // <a,b> / (|a| |b|); higher is better
};

constexpr std::string_view VectorMetricName(VectorMetric metric) {
  switch (metric) {
    case VectorMetric::kInnerProduct: return "inner_product";
    case VectorMetric::kSquaredL2: return "squared_l2";
    case VectorMetric::kCosine: return "cosine";
  }
  return "unknown";
}

constexpr bool HigherIsBetter(VectorMetric metric) { return metric != VectorMetric::kSquaredL2; }

// ---------------------------------------------------------------- float32 pairs

float InnerProduct(const float* a, const float* b, std::size_t dim);
float SquaredL2(const float* a, const float* b, std::size_t dim);
float SquaredNorm(const float* a, std::size_t dim);
float CosineSimilarity(const float* a, const float* b, std::size_t dim);
// One of the three above, by metric.
float Score(VectorMetric metric, const float* a, const float* b, std::size_t dim);

// ---------------------------------------------------------------- float32 scans

// `count` rows of `dim` floats each, row r starting at data + r * stride
// (stride >= dim, in floats). A stride that is a multiple of 16 floats keeps
// rows on cache-line boundaries when data is 64-byte aligned.
struct FloatRows {
  const float* data = nullptr;
  std::size_t count = 0;
  std::size_t stride = 0;
};

// scores[r] = metric(query, row r) for every row. One sequential pass over the
// rows; for the cosine metric the row norms are computed in the same pass.
void ScoreFloatRows(VectorMetric metric, const float* query, std::size_t dim, const FloatRows& rows,
                    float* scores);

// The multi-query kernel: scores[q * scores_stride + r] = metric(query q, row r)
// where query q starts at queries + q * query_stride. The rows are read from
// memory once for the whole batch: they are visited in cache-sized tiles and
// every query is scored against a tile before the next tile is loaded, with
// queries and rows register-blocked (4 queries x 4 rows per inner step on
// AVX-512, 4 x 2 elsewhere), so a batch of queries costs little more memory
// traffic than one query and runs at the core's FMA rate.
void ScoreFloatRowsMulti(VectorMetric metric, const float* queries, std::size_t num_queries,
                         std::size_t query_stride, std::size_t dim, const FloatRows& rows, float* scores,
                         std::size_t scores_stride);

// ---------------------------------------------------------------- int8 quantization

// Code buffers are padded to a multiple of this many components; the kernels
// read whole padded rows. Pad query codes with zeros (QuantizeQuery does); the
// padding of stored codes may hold anything.
inline constexpr std::size_t kInt8CodeAlignment = 64;
inline constexpr std::size_t PaddedInt8Dimension(std::size_t dim) {
  return (dim + kInt8CodeAlignment - 1) / kInt8CodeAlignment * kInt8CodeAlignment;
}
// Query codes are signed 8-bit in [-kQueryCodeLimit, kQueryCodeLimit]; stored
// codes unsigned 8-bit. Unsigned x signed 8-bit is the operand shape of the
// AVX-512 VNNI dot-product instruction (vpdpbusd), which scores 64 components
// per instruction. The int32 sums cannot overflow up to kMaxInt8Dimension.
inline constexpr int kQueryCodeLimit = 127;
inline constexpr std::size_t kMaxInt8Dimension = 8192;

// A stored vector x is encoded per vector as x[i] ~= offset + scale * code[i],
// code[i] in [0, 255]: offset is x's minimum and scale spreads x's range over
// the 256 codes (every vector uses its full code range, whatever its scale).
// With the exact squared norm kept beside it (from the float vector, not the
// codes) every metric can be estimated, for a query q ~= qscale * qcode:
//   <q,x>   ~= offset * sum(q) + scale * qscale * <qcode, code>
//   |q-x|^2 ~= |q|^2 + |x|^2 - 2 <q,x>
//   cos     ~= <q,x> / (|q| |x|)
// The integer part <qcode, code> is exact; the estimate's error is the
// rounding of both vectors to their codes.
struct Int8Params {
  float scale = 0;   // 0 when every component equals offset
  float offset = 0;
  float squared_norm = 0;
};

// Encodes x (dim floats) into codes[0, dim); codes[dim, padded) are set to 0.
// `codes` must hold PaddedInt8Dimension(dim) bytes.
Int8Params QuantizeInt8(const float* x, std::size_t dim, std::uint8_t* codes);

// A query encoded for the 8-bit scans: q[i] ~= scale * code[i] (symmetric),
// with the exact sum and squared norm of q. codes[dim, padded) are set to 0.
struct Int8QueryParams {
  float scale = 0;
  float sum = 0;
  float squared_norm = 0;
};
// `codes` must hold PaddedInt8Dimension(dim) values.
Int8QueryParams QuantizeQuery(const float* query, std::size_t dim, std::int8_t* codes);

// Exact sum of codes[i] * query_codes[i] over padded_dim components (a
// multiple of kInt8CodeAlignment, at most kMaxInt8Dimension; query codes within
// +-kQueryCodeLimit).
std::int32_t DotCodes(const std::uint8_t* codes, const std::int8_t* query_codes, std::size_t padded_dim);

// Stored rows: codes of row r at codes + r * stride (stride >= padded dim, in
// bytes), its parameters at scales[r], offsets[r], squared_norms[r].
struct Int8Rows {
  const std::uint8_t* codes = nullptr;
  std::size_t count = 0;
  std::size_t stride = 0;
  const float* scales = nullptr;
  const float* offsets = nullptr;
  const float* squared_norms = nullptr;
};

// scores[r] = the metric estimated from the codes (formulas above). The score
// of a row does not depend on which call or position it is scored in.
void ScoreInt8Rows(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                   std::size_t padded_dim, const Int8Rows& rows, float* scores);

// Multi-query form: query q's codes at query_codes + q * query_stride and its
// parameters at queries[q]; scores[q * scores_stride + r]. Same tiling as
// ScoreFloatRowsMulti: one pass over the stored codes for the whole batch.
void ScoreInt8RowsMulti(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams* queries,
                        std::size_t num_queries, std::size_t query_stride, std::size_t padded_dim,
                        const Int8Rows& rows, float* scores, std::size_t scores_stride);

// Gathered form, for graph traversal (the rows to score are a node's
// neighbours, scattered through memory): scores[j] = the estimate for row
// row_ids[j] of `rows` (rows.count is not consulted; every id must be a valid
// row). A row scores exactly as ScoreInt8Rows scores it. The rows are
// prefetched a group ahead of the one being scored.
void ScoreInt8Gathered(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                       std::size_t padded_dim, const Int8Rows& rows, const std::uint32_t* row_ids, std::size_t n,
                       float* scores);

// ---------------------------------------------------------------- top-k selection

// Writes to positions the index of every i in [0, n) whose score is at least as
// good as `bound` (>= when higher_is_better, <= otherwise), in increasing order,
// and returns how many. NaN scores never qualify. positions needs room for n.
std::size_t FilterCandidates(const float* scores, std::size_t n, float bound, bool higher_is_better,
                             std::uint32_t* positions);

struct ScoredId {
  float score;
  std::uint64_t id;
};

// Keeps the k best (score, id) pairs offered. Best means highest score when
// higher_is_better, lowest otherwise; equal scores prefer the smaller id, so
// the result is deterministic. NaN scores are ignored (callers use NaN to mark
// rows a filter excludes). Block offers first drop, with a SIMD comparison,
// every score worse than the current k-th best, so a scan's selection cost is
// a compare per score plus heap work only for the few that could enter.
class TopK {
 public:
  TopK(std::size_t k, bool higher_is_better);

  void Offer(float score, std::uint64_t id);
  // Offers scores[i] with id first_id + i, for i < n.
  void OfferBlock(const float* scores, std::size_t n, std::uint64_t first_id);

  std::size_t k() const { return k_; }
  std::size_t size() const { return heap_.size(); }
  // Returns the kept pairs, best first, and empties the selection.
  std::vector<ScoredId> TakeSorted();

 private:
  bool Better(const ScoredId& a, const ScoredId& b) const;  // a ranks before b
  float Bound() const;  // k-th best so far, or the worst possible score while not full

  std::size_t k_;
  bool higher_is_better_;
  std::vector<ScoredId> heap_;  // worst on top (heap ordered by Better)
  std::vector<std::uint32_t> positions_;
};

// ---------------------------------------------------------------- targets (tests, diagnostics)

// Highway targets compiled into this library that this CPU supports, as
// Highway target bits (HWY_AVX3, HWY_AVX2, ...), best first.
std::vector<std::int64_t> SupportedKernelTargets();
// Name of a target bit ("AVX3", "AVX2", "SSE4", "EMU128", ...).
std::string KernelTargetName(std::int64_t target);
// The target the dispatcher uses now.
std::int64_t DispatchedKernelTarget();
// Restricts dispatch to `target` (one of SupportedKernelTargets()); 0 undoes it.
// Process-wide; for tests only.
void ForceKernelTargetForTest(std::int64_t target);

}  // namespace postdevai::simd
