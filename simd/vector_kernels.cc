// Highway kernels behind simd/vector_kernels.h. Laid out like Highway's
// hwy/examples/skeleton.cc: this file is re-included once per target by
// foreach_target.h; the code between HWY_BEFORE_NAMESPACE/HWY_AFTER_NAMESPACE is
// compiled for each target, the HWY_ONCE part once, with dispatch wrappers.
//
// Register blocking uses small arrays of vectors with compile-time extents; on
// x86 (fixed-size vectors) the compiler keeps them in registers.
#include "simd/vector_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd/vector_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/cache_control.h"
#include "hwy/contrib/dot/dot-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace postdevai {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// 1 / scale of a quantizer, or 0 (every code 0) when the range is empty or
// so small (denormal) that its inverse overflows: inf * 0 would make NaN codes.
inline float InverseScale(float scale) {
  const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
  return std::isfinite(inverse) ? inverse : 0.0f;
}

// Rows visited per tile by the multi-query kernels: the tile stays in the L2
// cache (1 MiB per core here) while every query is scored against it.
constexpr std::size_t kTileBytes = 256 * 1024;

// The int8 single-query scan reads its rows (768 bytes at 768-d) four at a
// time, which to the hardware prefetcher is one sequential stream; alone it
// leaves this core well short of DRAM bandwidth (~23 GB/s measured here against
// ~29 with help). So the scan also prefetches each row's cache lines this many
// bytes ahead: far enough to cover DRAM latency, near enough to stay in cache
// until used. The float scan reads four rows 3 KiB apart, four streams the
// hardware prefetcher follows on its own (software prefetch measured no gain).
constexpr std::size_t kInt8PrefetchBytes = 4096;
constexpr std::size_t kCacheLine = 64;

std::size_t TileRows(std::size_t row_bytes) {
  return std::clamp<std::size_t>(kTileBytes / std::max<std::size_t>(row_bytes, 1), 8, 4096);
}

// ------------------------------------------------------------------ pairs

float InnerProductImpl(const float* a, const float* b, std::size_t dim) {
  return hn::Dot::Compute<0>(DF(), a, b, dim);
}

float SquaredL2Impl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t dim) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * N <= dim; i += 2 * N) {
    const VF d0 = hn::Sub(hn::LoadU(d, a + i), hn::LoadU(d, b + i));
    const VF d1 = hn::Sub(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N));
    sum0 = hn::MulAdd(d0, d0, sum0);
    sum1 = hn::MulAdd(d1, d1, sum1);
  }
  for (; i + N <= dim; i += N) {
    const VF d0 = hn::Sub(hn::LoadU(d, a + i), hn::LoadU(d, b + i));
    sum0 = hn::MulAdd(d0, d0, sum0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
  for (; i < dim; ++i) {
    const float diff = a[i] - b[i];
    sum += diff * diff;
  }
  return sum;
}

float SquaredNormImpl(const float* a, std::size_t dim) { return hn::Dot::Compute<0>(DF(), a, a, dim); }

float CosineFromParts(float dot, float squared_norm_a, float squared_norm_b) {
  if (squared_norm_a <= 0.0f || squared_norm_b <= 0.0f) return 0.0f;
  return dot / (std::sqrt(squared_norm_a) * std::sqrt(squared_norm_b));
}

float CosineImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t dim) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF dot = hn::Zero(d), na = hn::Zero(d), nb = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= dim; i += N) {
    const VF va = hn::LoadU(d, a + i);
    const VF vb = hn::LoadU(d, b + i);
    dot = hn::MulAdd(va, vb, dot);
    na = hn::MulAdd(va, va, na);
    nb = hn::MulAdd(vb, vb, nb);
  }
  float s_dot = hn::GetLane(hn::SumOfLanes(d, dot));
  float s_na = hn::GetLane(hn::SumOfLanes(d, na));
  float s_nb = hn::GetLane(hn::SumOfLanes(d, nb));
  for (; i < dim; ++i) {
    s_dot += a[i] * b[i];
    s_na += a[i] * a[i];
    s_nb += b[i] * b[i];
  }
  return CosineFromParts(s_dot, s_na, s_nb);
}

// ------------------------------------------------------------------ float blocks

// Horizontal sums of four vectors at once: a transpose-and-add within each
// 128-bit block, then the blocks folded together. About a third of the
// instructions of four separate SumOfLanes, which matters in the multi-query
// kernel, where every (query, row) pair ends with a horizontal sum.
HWY_INLINE void SumOfLanes4(DF d, VF a, VF b, VF c, VF e, float* HWY_RESTRICT out) {
#if HWY_TARGET == HWY_SCALAR
  out[0] = hn::GetLane(a);
  out[1] = hn::GetLane(b);
  out[2] = hn::GetLane(c);
  out[3] = hn::GetLane(e);
  (void)d;
#else
  const hn::Repartition<std::uint64_t, DF> d64;
  // Per block: [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, e.
  const VF ab = hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b));
  const VF ce = hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e));
  // Per block: [sum a, sum b, sum c, sum e].
  const auto ab64 = hn::BitCast(d64, ab);
  const auto ce64 = hn::BitCast(d64, ce);
  const VF blocks = hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, ab64, ce64)),
                            hn::BitCast(d, hn::InterleaveUpper(d64, ab64, ce64)));
  constexpr std::size_t kMaxLanes = hn::MaxLanes(DF());
  HWY_ALIGN float lanes[kMaxLanes];
  hn::Store(blocks, d, lanes);
  const std::size_t N = hn::Lanes(d);
  for (std::size_t j = 0; j < 4; ++j) {
    float sum = lanes[j];
    for (std::size_t block = 4; block < N; block += 4) sum += lanes[block + j];
    out[j] = sum;
  }
#endif
}

// sums[f] = horizontal sum of acc[f], for kCount accumulators, four at a time.
template <std::size_t kCount>
HWY_INLINE void SumOfLanesMany(DF d, const VF* acc, float* HWY_RESTRICT sums) {
  std::size_t f = 0;
  if (hn::Lanes(d) >= 4) {
    for (; f + 4 <= kCount; f += 4) SumOfLanes4(d, acc[f], acc[f + 1], acc[f + 2], acc[f + 3], sums + f);
  }
  for (; f < kCount; ++f) sums[f] = hn::GetLane(hn::SumOfLanes(d, acc[f]));
}

// Makes the compiler keep v in a register. In the register-blocked kernels a
// query vector feeds several FMAs; left alone, GCC folds its load into every
// one of them (a memory operand looks free), which turns a 2-load/8-FMA step
// into 10 loads and makes the multi-query kernel load-bound (measured ~25%
// slower on this machine).
template <class V>
HWY_INLINE void KeepInRegister(V& v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  asm("" : "+v"(v.raw));
#else
  (void)v;
#endif
}

// What a float block computes per (query, row) pair.
enum class PairKind { kDot, kSquaredL2 };

// out[q * out_stride + r] for kQ queries x kR rows: dot product or squared L2.
// When row_norms is non-null (kDot only) it also writes each row's squared norm
// to row_norms[r], from the same loads: the cosine scan needs no second pass.
template <std::size_t kQ, std::size_t kR, PairKind kKind>
HWY_INLINE void FloatBlock(const float* HWY_RESTRICT queries, std::size_t query_stride,
                           const float* HWY_RESTRICT rows, std::size_t row_stride, std::size_t dim,
                           float* HWY_RESTRICT out, std::size_t out_stride, float* HWY_RESTRICT row_norms) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF acc[kQ][kR];
  VF norm[kR];
  for (std::size_t r = 0; r < kR; ++r) {
    norm[r] = hn::Zero(d);
    for (std::size_t q = 0; q < kQ; ++q) acc[q][r] = hn::Zero(d);
  }
  const bool want_norms = row_norms != nullptr;
  std::size_t i = 0;
  for (; i + N <= dim; i += N) {
    VF rv[kR];
    for (std::size_t r = 0; r < kR; ++r) rv[r] = hn::LoadU(d, rows + r * row_stride + i);
    if (want_norms) {
      for (std::size_t r = 0; r < kR; ++r) norm[r] = hn::MulAdd(rv[r], rv[r], norm[r]);
    }
    for (std::size_t q = 0; q < kQ; ++q) {
      VF qv = hn::LoadU(d, queries + q * query_stride + i);
      if constexpr (kR > 1) KeepInRegister(qv);
      for (std::size_t r = 0; r < kR; ++r) {
        if constexpr (kKind == PairKind::kSquaredL2) {
          const VF diff = hn::Sub(qv, rv[r]);
          acc[q][r] = hn::MulAdd(diff, diff, acc[q][r]);
        } else {
          acc[q][r] = hn::MulAdd(qv, rv[r], acc[q][r]);
        }
      }
    }
  }
  float sums[kQ * kR];
  SumOfLanesMany<kQ * kR>(d, &acc[0][0], sums);
  float norm_sums[kR];
  if (want_norms) SumOfLanesMany<kR>(d, norm, norm_sums);
  for (std::size_t r = 0; r < kR; ++r) {
    const float* row = rows + r * row_stride;
    if (want_norms) {
      float n = norm_sums[r];
      for (std::size_t j = i; j < dim; ++j) n += row[j] * row[j];
      row_norms[r] = n;
    }
    for (std::size_t q = 0; q < kQ; ++q) {
      const float* query = queries + q * query_stride;
      float s = sums[q * kR + r];
      for (std::size_t j = i; j < dim; ++j) {
        if constexpr (kKind == PairKind::kSquaredL2) {
          const float diff = query[j] - row[j];
          s += diff * diff;
        } else {
          s += query[j] * row[j];
        }
      }
      out[q * out_stride + r] = s;
    }
  }
}

// Rows per register block of the multi-query kernels: 4 queries x 4 rows needs
// 16 accumulators + 5 operands, which fits AVX-512's 32 registers; targets
// with 16 registers use 4 x 2.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr std::size_t kRowsPerBlock = 4;
#else
constexpr std::size_t kRowsPerBlock = 2;
#endif

// Scores queries [0, kQ) against rows [0, num_rows), kRowsPerBlock rows per step.
template <std::size_t kQ, PairKind kKind>
void FloatQueryBlockAllRows(const float* queries, std::size_t query_stride, const float* rows,
                            std::size_t row_stride, std::size_t num_rows, std::size_t dim, float* out,
                            std::size_t out_stride) {
  std::size_t r = 0;
  for (; r + kRowsPerBlock <= num_rows; r += kRowsPerBlock) {
    FloatBlock<kQ, kRowsPerBlock, kKind>(queries, query_stride, rows + r * row_stride, row_stride, dim, out + r,
                                         out_stride, nullptr);
  }
  for (; r < num_rows; ++r) {
    FloatBlock<kQ, 1, kKind>(queries, query_stride, rows + r * row_stride, row_stride, dim, out + r, out_stride,
                             nullptr);
  }
}

template <PairKind kKind>
void FloatQueriesAgainstTile(const float* queries, std::size_t num_queries, std::size_t query_stride,
                             const float* rows, std::size_t row_stride, std::size_t num_rows, std::size_t dim,
                             float* out, std::size_t out_stride) {
  std::size_t q = 0;
  for (; q + 4 <= num_queries; q += 4) {
    FloatQueryBlockAllRows<4, kKind>(queries + q * query_stride, query_stride, rows, row_stride, num_rows, dim,
                                     out + q * out_stride, out_stride);
  }
  const float* rest = queries + q * query_stride;
  float* rest_out = out + q * out_stride;
  switch (num_queries - q) {
    case 3: FloatQueryBlockAllRows<3, kKind>(rest, query_stride, rows, row_stride, num_rows, dim, rest_out, out_stride); break;
    case 2: FloatQueryBlockAllRows<2, kKind>(rest, query_stride, rows, row_stride, num_rows, dim, rest_out, out_stride); break;
    case 1: FloatQueryBlockAllRows<1, kKind>(rest, query_stride, rows, row_stride, num_rows, dim, rest_out, out_stride); break;
    default: break;
  }
}

void ScoreFloatRowsImpl(VectorMetric metric, const float* query, std::size_t dim, const FloatRows& rows,
                        float* scores) {
  // One query, four rows per step: four independent accumulator chains hide
  // the FMA latency, and the scan is one sequential stream over the rows.
  constexpr std::size_t kR = 4;
  const std::size_t stride = rows.stride;
  if (metric == VectorMetric::kSquaredL2) {
    std::size_t r = 0;
    for (; r + kR <= rows.count; r += kR) {
      FloatBlock<1, kR, PairKind::kSquaredL2>(query, 0, rows.data + r * stride, stride, dim, scores + r, 0, nullptr);
    }
    for (; r < rows.count; ++r) {
      FloatBlock<1, 1, PairKind::kSquaredL2>(query, 0, rows.data + r * stride, stride, dim, scores + r, 0, nullptr);
    }
    return;
  }
  const bool cosine = metric == VectorMetric::kCosine;
  float norms[kR];
  float* row_norms = cosine ? norms : nullptr;
  const float query_norm = cosine ? SquaredNormImpl(query, dim) : 0.0f;
  std::size_t r = 0;
  for (; r + kR <= rows.count; r += kR) {
    FloatBlock<1, kR, PairKind::kDot>(query, 0, rows.data + r * stride, stride, dim, scores + r, 0, row_norms);
    if (cosine) {
      for (std::size_t j = 0; j < kR; ++j) scores[r + j] = CosineFromParts(scores[r + j], query_norm, norms[j]);
    }
  }
  for (; r < rows.count; ++r) {
    FloatBlock<1, 1, PairKind::kDot>(query, 0, rows.data + r * stride, stride, dim, scores + r, 0, row_norms);
    if (cosine) scores[r] = CosineFromParts(scores[r], query_norm, norms[0]);
  }
}

void ScoreFloatRowsMultiImpl(VectorMetric metric, const float* queries, std::size_t num_queries,
                             std::size_t query_stride, std::size_t dim, const FloatRows& rows, float* scores,
                             std::size_t scores_stride) {
  if (num_queries == 0 || rows.count == 0) return;
  const std::size_t tile = TileRows(rows.stride * sizeof(float));
  std::vector<float> query_norms;
  std::vector<float> row_norms;
  if (metric == VectorMetric::kCosine) {
    query_norms.resize(num_queries);
    for (std::size_t q = 0; q < num_queries; ++q) query_norms[q] = SquaredNormImpl(queries + q * query_stride, dim);
    row_norms.resize(tile);
  }
  for (std::size_t begin = 0; begin < rows.count; begin += tile) {
    const std::size_t n = std::min(tile, rows.count - begin);
    const float* tile_rows = rows.data + begin * rows.stride;
    if (metric == VectorMetric::kSquaredL2) {
      FloatQueriesAgainstTile<PairKind::kSquaredL2>(queries, num_queries, query_stride, tile_rows, rows.stride, n,
                                                    dim, scores + begin, scores_stride);
      continue;
    }
    FloatQueriesAgainstTile<PairKind::kDot>(queries, num_queries, query_stride, tile_rows, rows.stride, n, dim,
                                            scores + begin, scores_stride);
    if (metric == VectorMetric::kCosine) {
      // The tile is still in cache: the norms cost no memory traffic.
      for (std::size_t r = 0; r < n; ++r) row_norms[r] = SquaredNormImpl(tile_rows + r * rows.stride, dim);
      for (std::size_t q = 0; q < num_queries; ++q) {
        float* out = scores + q * scores_stride + begin;
        for (std::size_t r = 0; r < n; ++r) out[r] = CosineFromParts(out[r], query_norms[q], row_norms[r]);
      }
    }
  }
}

// ------------------------------------------------------------------ int8

using DI16 = hn::ScalableTag<std::int16_t>;
using DU8 = hn::Rebind<std::uint8_t, DI16>;  // as many 8-bit lanes as DI16 has 16-bit lanes
using DI8 = hn::Rebind<std::int8_t, DI16>;
using DI32 = hn::Repartition<std::int32_t, DI16>;

Int8Params QuantizeInt8Impl(const float* HWY_RESTRICT x, std::size_t dim, std::uint8_t* HWY_RESTRICT codes) {
  Int8Params params;
  const std::size_t padded = PaddedInt8Dimension(dim);
  if (dim == 0) {
    std::memset(codes, 0, padded);
    return params;
  }
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF vmin = hn::Set(d, x[0]), vmax = vmin, vnorm = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= dim; i += N) {
    const VF v = hn::LoadU(d, x + i);
    vmin = hn::Min(vmin, v);
    vmax = hn::Max(vmax, v);
    vnorm = hn::MulAdd(v, v, vnorm);
  }
  float lo = hn::GetLane(hn::MinOfLanes(d, vmin));
  float hi = hn::GetLane(hn::MaxOfLanes(d, vmax));
  float norm = hn::GetLane(hn::SumOfLanes(d, vnorm));
  for (std::size_t j = i; j < dim; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
    norm += x[j] * x[j];
  }
  params.offset = lo;
  params.scale = (hi - lo) / 255.0f;
  params.squared_norm = norm;
  const float inv_scale = InverseScale(params.scale);

  // code = clamp(round_half_even((x - offset) * inv_scale), 0, 255)
  const hn::RebindToSigned<DF> di32;
  const hn::Rebind<std::uint8_t, DF> d8;
  const VF voffset = hn::Set(d, params.offset);
  const VF vinv = hn::Set(d, inv_scale);
  const auto vlo = hn::Zero(di32);
  const auto vhi = hn::Set(di32, 255);
  i = 0;
  for (; i + N <= dim; i += N) {
    const auto code = hn::NearestInt(hn::Mul(hn::Sub(hn::LoadU(d, x + i), voffset), vinv));
    hn::StoreU(hn::DemoteTo(d8, hn::Min(hn::Max(code, vlo), vhi)), d8, codes + i);
  }
  for (; i < dim; ++i) {
    const float scaled = (x[i] - params.offset) * inv_scale;
    // Not finite only for vectors CheckVectorValues refuses; never a cast of NaN.
    codes[i] = std::isfinite(scaled) ? static_cast<std::uint8_t>(std::clamp(std::nearbyint(scaled), 0.0f, 255.0f)) : 0;
  }
  std::memset(codes + dim, 0, padded - dim);
  return params;
}

Int8QueryParams QuantizeQueryImpl(const float* HWY_RESTRICT query, std::size_t dim,
                                  std::int8_t* HWY_RESTRICT codes) {
  Int8QueryParams params;
  const std::size_t padded = PaddedInt8Dimension(dim);
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF vabs = hn::Zero(d), vsum = hn::Zero(d), vnorm = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= dim; i += N) {
    const VF v = hn::LoadU(d, query + i);
    vabs = hn::Max(vabs, hn::Abs(v));
    vsum = hn::Add(vsum, v);
    vnorm = hn::MulAdd(v, v, vnorm);
  }
  float max_abs = hn::GetLane(hn::MaxOfLanes(d, vabs));
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  float norm = hn::GetLane(hn::SumOfLanes(d, vnorm));
  for (std::size_t j = i; j < dim; ++j) {
    max_abs = std::max(max_abs, std::fabs(query[j]));
    sum += query[j];
    norm += query[j] * query[j];
  }
  params.sum = sum;
  params.squared_norm = norm;
  params.scale = max_abs / static_cast<float>(kQueryCodeLimit);
  const float inv_scale = InverseScale(params.scale);
  const hn::RebindToSigned<DF> di32;
  const hn::Rebind<std::int8_t, DF> d8;
  const VF vinv = hn::Set(d, inv_scale);
  const auto vlo = hn::Set(di32, -kQueryCodeLimit);
  const auto vhi = hn::Set(di32, kQueryCodeLimit);
  i = 0;
  for (; i + N <= dim; i += N) {
    const auto code = hn::NearestInt(hn::Mul(hn::LoadU(d, query + i), vinv));
    hn::StoreU(hn::DemoteTo(d8, hn::Min(hn::Max(code, vlo), vhi)), d8, codes + i);
  }
  for (; i < dim; ++i) {
    const float limit = static_cast<float>(kQueryCodeLimit);
    codes[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(query[i] * inv_scale), -limit, limit));
  }
  std::fill(codes + dim, codes + padded, std::int8_t{0});
  return params;
}

// Integer dot products sum(code[i] * query_code[i]) of kQ queries x kR rows.
// With kPrefetch (single-query scans), each row's line kInt8PrefetchBytes
// ahead is prefetched once per cache line read.
//
// AVX3_DL (AVX-512 VNNI): one vpdpbusd multiplies 64 unsigned codes by 64
// signed query codes and adds each group of four products into an int32 lane.
// Highway 1.0.3 has no op for it (its ReorderWidenMulAccumulate is vpmaddwd on
// 16-bit lanes even on AVX3_DL), so this target calls the intrinsic on the
// vectors' raw registers. The stored codes are unsigned and the query codes
// signed precisely because vpdpbusd takes u8 x s8.
// Other targets widen both to int16 as they load them and multiply pairwise
// into int32 lanes (ReorderWidenMulAccumulate: vpmaddwd on x86).
// Both compute the exact integer sum, so every target returns the same dots.
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0.3's AVX3_DL target string enables AVX-VNNI (VEX, 256-bit) but not
// AVX512-VNNI, although its CPU check for the target requires AVX512-VNNI; so
// this one function adds it to the target's instruction set.
template <std::size_t kQ, std::size_t kR, bool kPrefetch>
__attribute__((target(HWY_TARGET_STR ",avx512vnni"))) HWY_NOINLINE void Int8BlockVnni(
    const std::int8_t* HWY_RESTRICT queries, std::size_t query_stride, const std::uint8_t* const* rows,
    std::size_t padded_dim, std::int32_t* HWY_RESTRICT out, std::size_t out_stride) {
  const hn::Full512<std::uint8_t> du8;
  const hn::Full512<std::int8_t> di8;
  const hn::Full512<std::int32_t> d32;
  using V32 = hn::Vec<decltype(d32)>;
  V32 acc[kQ][kR];
  for (std::size_t q = 0; q < kQ; ++q) {
    for (std::size_t r = 0; r < kR; ++r) acc[q][r] = hn::Zero(d32);
  }
  for (std::size_t i = 0; i < padded_dim; i += 64) {
    if constexpr (kPrefetch) {
      for (std::size_t r = 0; r < kR; ++r) hwy::Prefetch(rows[r] + i + kInt8PrefetchBytes);
    }
    hn::Vec<decltype(du8)> rv[kR];
    for (std::size_t r = 0; r < kR; ++r) rv[r] = hn::LoadU(du8, rows[r] + i);
    for (std::size_t q = 0; q < kQ; ++q) {
      auto qv = hn::LoadU(di8, queries + q * query_stride + i);
      if constexpr (kR > 1) KeepInRegister(qv);
      for (std::size_t r = 0; r < kR; ++r) acc[q][r].raw = _mm512_dpbusd_epi32(acc[q][r].raw, rv[r].raw, qv.raw);
    }
  }
  for (std::size_t q = 0; q < kQ; ++q) {
    for (std::size_t r = 0; r < kR; ++r) out[q * out_stride + r] = hn::GetLane(hn::SumOfLanes(d32, acc[q][r]));
  }
}
#endif

// Rows are given by address (row r at rows[r]): strided scans and gathered
// graph neighbours share the kernel.
template <std::size_t kQ, std::size_t kR, bool kPrefetch = false>
HWY_INLINE void Int8Block(const std::int8_t* HWY_RESTRICT queries, std::size_t query_stride,
                          const std::uint8_t* const* rows, std::size_t padded_dim, std::int32_t* HWY_RESTRICT out,
                          std::size_t out_stride) {
#if HWY_TARGET == HWY_AVX3_DL
  Int8BlockVnni<kQ, kR, kPrefetch>(queries, query_stride, rows, padded_dim, out, out_stride);
#else
  const DI16 d16;
  const DU8 du8;
  const DI8 di8;
  const DI32 d32;
  using V32 = hn::Vec<DI32>;
  using V16 = hn::Vec<DI16>;
  const std::size_t N = hn::Lanes(d16);
  V32 sum0[kQ][kR];
  V32 sum1[kQ][kR];
  for (std::size_t q = 0; q < kQ; ++q) {
    for (std::size_t r = 0; r < kR; ++r) sum0[q][r] = sum1[q][r] = hn::Zero(d32);
  }
  for (std::size_t i = 0; i < padded_dim; i += N) {
    if constexpr (kPrefetch) {
      if (i % kCacheLine == 0) {
        for (std::size_t r = 0; r < kR; ++r) hwy::Prefetch(rows[r] + i + kInt8PrefetchBytes);
      }
    }
    V16 rv[kR];
    for (std::size_t r = 0; r < kR; ++r) rv[r] = hn::PromoteTo(d16, hn::LoadU(du8, rows[r] + i));
    for (std::size_t q = 0; q < kQ; ++q) {
      V16 qv = hn::PromoteTo(d16, hn::LoadU(di8, queries + q * query_stride + i));
      if constexpr (kR > 1) KeepInRegister(qv);
      for (std::size_t r = 0; r < kR; ++r) {
        sum0[q][r] = hn::ReorderWidenMulAccumulate(d32, qv, rv[r], sum0[q][r], sum1[q][r]);
      }
    }
  }
  for (std::size_t q = 0; q < kQ; ++q) {
    for (std::size_t r = 0; r < kR; ++r) {
      out[q * out_stride + r] =
          hn::GetLane(hn::SumOfLanes(d32, hn::RearrangeToOddPlusEven(sum0[q][r], sum1[q][r])));
    }
  }
#endif
}

// Int8Block over kR rows `stride` bytes apart from `first`.
template <std::size_t kQ, std::size_t kR, bool kPrefetch = false>
HWY_INLINE void Int8BlockStrided(const std::int8_t* HWY_RESTRICT queries, std::size_t query_stride,
                                 const std::uint8_t* first, std::size_t stride, std::size_t padded_dim,
                                 std::int32_t* HWY_RESTRICT out, std::size_t out_stride) {
  const std::uint8_t* rows[kR];
  for (std::size_t r = 0; r < kR; ++r) rows[r] = first + r * stride;
  Int8Block<kQ, kR, kPrefetch>(queries, query_stride, rows, padded_dim, out, out_stride);
}

std::int32_t DotCodesImpl(const std::uint8_t* codes, const std::int8_t* query_codes, std::size_t padded_dim) {
  std::int32_t out = 0;
  Int8Block<1, 1>(query_codes, 0, &codes, padded_dim, &out, 0);
  return out;
}

// Turns integer dot products of rows [0, n) into metric estimates.
void FinishInt8Scores(VectorMetric metric, const Int8QueryParams& query, const std::int32_t* HWY_RESTRICT dots,
                      const float* HWY_RESTRICT scales, const float* HWY_RESTRICT offsets,
                      const float* HWY_RESTRICT squared_norms, std::size_t n, float* HWY_RESTRICT out) {
  const DF d;
  const hn::RebindToSigned<DF> di32;
  const std::size_t N = hn::Lanes(d);
  const VF qscale = hn::Set(d, query.scale);
  const VF qsum = hn::Set(d, query.sum);
  const VF qnorm2 = hn::Set(d, query.squared_norm);
  const VF qnorm = hn::Set(d, std::sqrt(query.squared_norm));
  const VF two = hn::Set(d, 2.0f);
  const VF zero = hn::Zero(d);
  auto finish = [&](const std::int32_t* HWY_RESTRICT dot_in, const float* HWY_RESTRICT scale_in,
                    const float* HWY_RESTRICT offset_in, const float* HWY_RESTRICT norm_in, float* HWY_RESTRICT dst) {
    const VF dot = hn::ConvertTo(d, hn::LoadU(di32, dot_in));
    // <q,x> ~= offset * sum(q) + scale * qscale * <qcode, xcode>
    const VF ip = hn::MulAdd(hn::LoadU(d, offset_in), qsum, hn::Mul(hn::Mul(hn::LoadU(d, scale_in), qscale), dot));
    VF result;
    if (metric == VectorMetric::kInnerProduct) {
      result = ip;
    } else if (metric == VectorMetric::kSquaredL2) {
      result = hn::NegMulAdd(two, ip, hn::Add(qnorm2, hn::LoadU(d, norm_in)));
    } else {
      const VF xnorm2 = hn::LoadU(d, norm_in);
      const auto valid = hn::And(hn::Gt(xnorm2, zero), hn::Gt(qnorm, zero));
      result = hn::IfThenElseZero(valid, hn::Div(ip, hn::Mul(qnorm, hn::Sqrt(hn::Max(xnorm2, zero)))));
    }
    hn::StoreU(result, d, dst);
  };
  std::size_t i = 0;
  for (; i + N <= n; i += N) finish(dots + i, scales + i, offsets + i, squared_norms + i, out + i);
  if (i < n) {
    // The tail goes through the same vector code (zero-padded copies), so a
    // row's score does not depend on where a chunk or tile boundary falls:
    // single and batched searches rank identically.
    constexpr std::size_t kMax = hn::MaxLanes(DF());
    HWY_ALIGN std::int32_t tail_dots[kMax] = {};
    HWY_ALIGN float tail_scales[kMax] = {}, tail_offsets[kMax] = {}, tail_norms[kMax] = {}, tail_out[kMax];
    const std::size_t rest = n - i;
    std::copy_n(dots + i, rest, tail_dots);
    std::copy_n(scales + i, rest, tail_scales);
    std::copy_n(offsets + i, rest, tail_offsets);
    std::copy_n(squared_norms + i, rest, tail_norms);
    finish(tail_dots, tail_scales, tail_offsets, tail_norms, tail_out);
    std::copy_n(tail_out, rest, out + i);
  }
}

// Rows per chunk between the integer scan and FinishInt8Scores: the dots stay in L1.
constexpr std::size_t kInt8Chunk = 256;

void ScoreInt8RowsImpl(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                       std::size_t padded_dim, const Int8Rows& rows, float* scores) {
  HWY_ALIGN std::int32_t dots[kInt8Chunk];
  constexpr std::size_t kR = 4;
  for (std::size_t begin = 0; begin < rows.count; begin += kInt8Chunk) {
    const std::size_t n = std::min(kInt8Chunk, rows.count - begin);
    const std::uint8_t* base = rows.codes + begin * rows.stride;
    std::size_t r = 0;
    for (; r + kR <= n; r += kR) {
      Int8BlockStrided<1, kR, true>(query_codes, 0, base + r * rows.stride, rows.stride, padded_dim, dots + r, 0);
    }
    for (; r < n; ++r) {
      Int8BlockStrided<1, 1>(query_codes, 0, base + r * rows.stride, rows.stride, padded_dim, dots + r, 0);
    }
    FinishInt8Scores(metric, query, dots, rows.scales + begin, rows.offsets + begin, rows.squared_norms + begin, n,
                     scores + begin);
  }
}

void ScoreInt8GatheredImpl(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                           std::size_t padded_dim, const Int8Rows& rows, const std::uint32_t* row_ids, std::size_t n,
                           float* scores) {
  HWY_ALIGN std::int32_t dots[kInt8Chunk];
  HWY_ALIGN float scales[kInt8Chunk], offsets[kInt8Chunk], norms[kInt8Chunk];
  constexpr std::size_t kR = 4;
  // Scattered rows defeat the hardware prefetcher: each group of rows is
  // requested whole while the group before it is being scored.
  auto prefetch_rows = [&](const std::uint32_t* ids, std::size_t count) {
    for (std::size_t r = 0; r < count; ++r) {
      const std::uint8_t* row = rows.codes + std::size_t{ids[r]} * rows.stride;
      for (std::size_t off = 0; off < padded_dim; off += kCacheLine) hwy::Prefetch(row + off);
    }
  };
  for (std::size_t begin = 0; begin < n; begin += kInt8Chunk) {
    const std::size_t count = std::min(kInt8Chunk, n - begin);
    const std::uint32_t* ids = row_ids + begin;
    prefetch_rows(ids, std::min(kR, count));
    std::size_t r = 0;
    for (; r < count; r += kR) {
      const std::size_t group = std::min(kR, count - r);
      if (r + kR < count) prefetch_rows(ids + r + kR, std::min(kR, count - r - kR));
      const std::uint8_t* ptrs[kR];
      for (std::size_t j = 0; j < group; ++j) ptrs[j] = rows.codes + std::size_t{ids[r + j]} * rows.stride;
      if (group == kR) {
        Int8Block<1, kR>(query_codes, 0, ptrs, padded_dim, dots + r, 0);
      } else {
        for (std::size_t j = 0; j < group; ++j) Int8Block<1, 1>(query_codes, 0, ptrs + j, padded_dim, dots + r + j, 0);
      }
    }
    for (std::size_t j = 0; j < count; ++j) {
      scales[j] = rows.scales[ids[j]];
      offsets[j] = rows.offsets[ids[j]];
      norms[j] = rows.squared_norms[ids[j]];
    }
    FinishInt8Scores(metric, query, dots, scales, offsets, norms, count, scores + begin);
  }
}

template <std::size_t kQ>
void Int8QueryBlockAllRows(const std::int8_t* queries, std::size_t query_stride, const std::uint8_t* rows,
                           std::size_t row_stride, std::size_t num_rows, std::size_t padded_dim, std::int32_t* out,
                           std::size_t out_stride) {
  std::size_t r = 0;
  for (; r + kRowsPerBlock <= num_rows; r += kRowsPerBlock) {
    Int8BlockStrided<kQ, kRowsPerBlock>(queries, query_stride, rows + r * row_stride, row_stride, padded_dim,
                                        out + r, out_stride);
  }
  for (; r < num_rows; ++r) {
    Int8BlockStrided<kQ, 1>(queries, query_stride, rows + r * row_stride, row_stride, padded_dim, out + r,
                            out_stride);
  }
}

void ScoreInt8RowsMultiImpl(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams* queries,
                            std::size_t num_queries, std::size_t query_stride, std::size_t padded_dim,
                            const Int8Rows& rows, float* scores, std::size_t scores_stride) {
  if (num_queries == 0 || rows.count == 0) return;
  const std::size_t tile = TileRows(rows.stride);
  std::vector<std::int32_t> dots(num_queries * tile);
  for (std::size_t begin = 0; begin < rows.count; begin += tile) {
    const std::size_t n = std::min(tile, rows.count - begin);
    const std::uint8_t* tile_rows = rows.codes + begin * rows.stride;
    std::size_t q = 0;
    for (; q + 4 <= num_queries; q += 4) {
      Int8QueryBlockAllRows<4>(query_codes + q * query_stride, query_stride, tile_rows, rows.stride, n, padded_dim,
                               dots.data() + q * tile, tile);
    }
    const std::int8_t* rest = query_codes + q * query_stride;
    std::int32_t* rest_out = dots.data() + q * tile;
    switch (num_queries - q) {
      case 3: Int8QueryBlockAllRows<3>(rest, query_stride, tile_rows, rows.stride, n, padded_dim, rest_out, tile); break;
      case 2: Int8QueryBlockAllRows<2>(rest, query_stride, tile_rows, rows.stride, n, padded_dim, rest_out, tile); break;
      case 1: Int8QueryBlockAllRows<1>(rest, query_stride, tile_rows, rows.stride, n, padded_dim, rest_out, tile); break;
      default: break;
    }
    for (std::size_t qi = 0; qi < num_queries; ++qi) {
      FinishInt8Scores(metric, queries[qi], dots.data() + qi * tile, rows.scales + begin, rows.offsets + begin,
                       rows.squared_norms + begin, n, scores + qi * scores_stride + begin);
    }
  }
}

// ------------------------------------------------------------------ selection

std::size_t FilterCandidatesImpl(const float* HWY_RESTRICT scores, std::size_t n, float bound, bool higher_is_better,
                                 std::uint32_t* HWY_RESTRICT positions) {
  const DF d;
  const hn::RebindToUnsigned<DF> du;
  const std::size_t N = hn::Lanes(d);
  const VF vbound = hn::Set(d, bound);
  auto index = hn::Iota(du, 0);
  const auto step = hn::Set(du, static_cast<std::uint32_t>(N));
  std::size_t count = 0;
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const VF v = hn::LoadU(d, scores + i);
    const auto pass = higher_is_better ? hn::Ge(v, vbound) : hn::Le(v, vbound);  // false for NaN
    if (!hn::AllFalse(d, pass)) {
      count += hn::CompressBlendedStore(index, hn::RebindMask(du, pass), du, positions + count);
    }
    index = hn::Add(index, step);
  }
  for (; i < n; ++i) {
    const bool pass = higher_is_better ? scores[i] >= bound : scores[i] <= bound;
    if (pass) positions[count++] = static_cast<std::uint32_t>(i);
  }
  return count;
}

std::int64_t DispatchedTargetImpl() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace simd
}  // namespace postdevai
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace postdevai::simd {

HWY_EXPORT(InnerProductImpl);
HWY_EXPORT(SquaredL2Impl);
HWY_EXPORT(SquaredNormImpl);
HWY_EXPORT(CosineImpl);
HWY_EXPORT(ScoreFloatRowsImpl);
HWY_EXPORT(ScoreFloatRowsMultiImpl);
HWY_EXPORT(QuantizeInt8Impl);
HWY_EXPORT(QuantizeQueryImpl);
HWY_EXPORT(DotCodesImpl);
HWY_EXPORT(ScoreInt8RowsImpl);
HWY_EXPORT(ScoreInt8RowsMultiImpl);
HWY_EXPORT(ScoreInt8GatheredImpl);
HWY_EXPORT(FilterCandidatesImpl);
HWY_EXPORT(DispatchedTargetImpl);

float InnerProduct(const float* a, const float* b, std::size_t dim) {
  return HWY_DYNAMIC_DISPATCH(InnerProductImpl)(a, b, dim);
}
float SquaredL2(const float* a, const float* b, std::size_t dim) {
  return HWY_DYNAMIC_DISPATCH(SquaredL2Impl)(a, b, dim);
}
float SquaredNorm(const float* a, std::size_t dim) { return HWY_DYNAMIC_DISPATCH(SquaredNormImpl)(a, dim); }
float CosineSimilarity(const float* a, const float* b, std::size_t dim) {
  return HWY_DYNAMIC_DISPATCH(CosineImpl)(a, b, dim);
}
float Score(VectorMetric metric, const float* a, const float* b, std::size_t dim) {
  switch (metric) {
    case VectorMetric::kInnerProduct: return InnerProduct(a, b, dim);
    case VectorMetric::kSquaredL2: return SquaredL2(a, b, dim);
    case VectorMetric::kCosine: return CosineSimilarity(a, b, dim);
  }
  return 0.0f;
}

void ScoreFloatRows(VectorMetric metric, const float* query, std::size_t dim, const FloatRows& rows,
                    float* scores) {
  HWY_DYNAMIC_DISPATCH(ScoreFloatRowsImpl)(metric, query, dim, rows, scores);
}
void ScoreFloatRowsMulti(VectorMetric metric, const float* queries, std::size_t num_queries,
                         std::size_t query_stride, std::size_t dim, const FloatRows& rows, float* scores,
                         std::size_t scores_stride) {
  HWY_DYNAMIC_DISPATCH(ScoreFloatRowsMultiImpl)(metric, queries, num_queries, query_stride, dim, rows, scores,
                                                scores_stride);
}

Int8Params QuantizeInt8(const float* x, std::size_t dim, std::uint8_t* codes) {
  return HWY_DYNAMIC_DISPATCH(QuantizeInt8Impl)(x, dim, codes);
}
Int8QueryParams QuantizeQuery(const float* query, std::size_t dim, std::int8_t* codes) {
  return HWY_DYNAMIC_DISPATCH(QuantizeQueryImpl)(query, dim, codes);
}
std::int32_t DotCodes(const std::uint8_t* codes, const std::int8_t* query_codes, std::size_t padded_dim) {
  return HWY_DYNAMIC_DISPATCH(DotCodesImpl)(codes, query_codes, padded_dim);
}
void ScoreInt8Rows(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                   std::size_t padded_dim, const Int8Rows& rows, float* scores) {
  HWY_DYNAMIC_DISPATCH(ScoreInt8RowsImpl)(metric, query_codes, query, padded_dim, rows, scores);
}
void ScoreInt8RowsMulti(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams* queries,
                        std::size_t num_queries, std::size_t query_stride, std::size_t padded_dim,
                        const Int8Rows& rows, float* scores, std::size_t scores_stride) {
  HWY_DYNAMIC_DISPATCH(ScoreInt8RowsMultiImpl)(metric, query_codes, queries, num_queries, query_stride, padded_dim,
                                               rows, scores, scores_stride);
}

void ScoreInt8Gathered(VectorMetric metric, const std::int8_t* query_codes, const Int8QueryParams& query,
                       std::size_t padded_dim, const Int8Rows& rows, const std::uint32_t* row_ids, std::size_t n,
                       float* scores) {
  HWY_DYNAMIC_DISPATCH(ScoreInt8GatheredImpl)(metric, query_codes, query, padded_dim, rows, row_ids, n, scores);
}

std::size_t FilterCandidates(const float* scores, std::size_t n, float bound, bool higher_is_better,
                             std::uint32_t* positions) {
  return HWY_DYNAMIC_DISPATCH(FilterCandidatesImpl)(scores, n, bound, higher_is_better, positions);
}

// ------------------------------------------------------------------ TopK

TopK::TopK(std::size_t k, bool higher_is_better) : k_(k), higher_is_better_(higher_is_better) {
  heap_.reserve(k);
}

bool TopK::Better(const ScoredId& a, const ScoredId& b) const {
  if (a.score != b.score) return higher_is_better_ ? a.score > b.score : a.score < b.score;
  return a.id < b.id;
}

float TopK::Bound() const {
  if (heap_.size() < k_) {
    return higher_is_better_ ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }
  return heap_.front().score;
}

void TopK::Offer(float score, std::uint64_t id) {
  if (k_ == 0 || std::isnan(score)) return;
  const ScoredId item{score, id};
  // std heap functions keep the "largest" on top; with Better as "less", the
  // top is the worst kept pair, the one a better newcomer replaces.
  auto better = [this](const ScoredId& a, const ScoredId& b) { return Better(a, b); };
  if (heap_.size() < k_) {
    heap_.push_back(item);
    std::push_heap(heap_.begin(), heap_.end(), better);
    return;
  }
  if (!Better(item, heap_.front())) return;
  std::pop_heap(heap_.begin(), heap_.end(), better);
  heap_.back() = item;
  std::push_heap(heap_.begin(), heap_.end(), better);
}

void TopK::OfferBlock(const float* scores, std::size_t n, std::uint64_t first_id) {
  if (k_ == 0 || n == 0) return;
  if (positions_.size() < n) positions_.resize(n);
  // Ties with the bound pass the filter: an equal score with a smaller id may
  // still enter. Offer re-checks against the bound as it rises.
  const std::size_t count = FilterCandidates(scores, n, Bound(), higher_is_better_, positions_.data());
  for (std::size_t j = 0; j < count; ++j) {
    const std::uint32_t i = positions_[j];
    Offer(scores[i], first_id + i);
  }
}

std::vector<ScoredId> TopK::TakeSorted() {
  std::vector<ScoredId> out;
  out.swap(heap_);
  std::sort(out.begin(), out.end(), [this](const ScoredId& a, const ScoredId& b) { return Better(a, b); });
  heap_.reserve(k_);
  return out;
}

// ------------------------------------------------------------------ targets

std::vector<std::int64_t> SupportedKernelTargets() {
  std::vector<std::int64_t> targets = hwy::SupportedAndGeneratedTargets();
  // Highway lists lowest bit first, which is the best target on x86.
  return targets;
}

std::string KernelTargetName(std::int64_t target) { return hwy::TargetName(target); }

std::int64_t DispatchedKernelTarget() { return HWY_DYNAMIC_DISPATCH(DispatchedTargetImpl)(); }

void ForceKernelTargetForTest(std::int64_t target) { hwy::SetSupportedTargetsForTest(target); }

}  // namespace postdevai::simd
#endif  // HWY_ONCE
