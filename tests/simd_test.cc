// Every kernel of simd/vector_kernels.h against a scalar reference, on every
// Highway target compiled into the library that this CPU supports (AVX-512,
// AVX2, SSE4, ... and the portable fallback): each test case forces one target
// and checks that the dispatcher really runs it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "simd/vector_kernels.h"

namespace postdevai::simd {
namespace {

// Forces dispatch to `target` for its lifetime.
class ScopedTarget {
 public:
  explicit ScopedTarget(std::int64_t target) { ForceKernelTargetForTest(target); }
  ~ScopedTarget() { ForceKernelTargetForTest(0); }
  ScopedTarget(const ScopedTarget&) = delete;
  ScopedTarget& operator=(const ScopedTarget&) = delete;
};

std::vector<float> RandomFloats(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double RefDot(const float* a, const float* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return s;
}
double RefL2(const float* a, const float* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s;
}
double RefScore(VectorMetric m, const float* a, const float* b, std::size_t n) {
  switch (m) {
    case VectorMetric::kInnerProduct: return RefDot(a, b, n);
    case VectorMetric::kSquaredL2: return RefL2(a, b, n);
    case VectorMetric::kCosine: {
      const double na = RefDot(a, a, n), nb = RefDot(b, b, n);
      return (na > 0 && nb > 0) ? RefDot(a, b, n) / std::sqrt(na * nb) : 0.0;
    }
  }
  return 0;
}

// Float sums in another order differ from the double reference by a few ulps
// of the sum of magnitudes.
void CheckClose(double got, double want, double magnitude) {
  CHECK(std::fabs(got - want) <= 1e-5 * magnitude + 1e-6);
}

constexpr VectorMetric kMetrics[] = {VectorMetric::kInnerProduct, VectorMetric::kSquaredL2, VectorMetric::kCosine};
// Dimensions around every vector width (4, 8, 16 floats; 32 int16) plus tails.
constexpr std::size_t kDims[] = {1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 100, 128, 129, 384, 767, 768};

}  // namespace

TEST_CASE("the library carries several targets and dispatches to each one forced") {
  const auto targets = SupportedKernelTargets();
  REQUIRE(!targets.empty());
  std::string names;
  for (auto t : targets) names += KernelTargetName(t) + " ";
  INFO("targets: " << names);
  // This machine has AVX-512 (with VNNI) and AVX2; the portable fallback is always there.
  CHECK(targets.size() >= 3);
  for (auto t : targets) {
    ScopedTarget scoped(t);
    CHECK(DispatchedKernelTarget() == t);
  }
  WARN("kernel targets tested: " << names);
}

TEST_CASE("float pair kernels match the scalar reference on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : kDims) {
      INFO("dim " << dim);
      const auto a = RandomFloats(dim, 1 + dim);
      const auto b = RandomFloats(dim, 1000 + dim);
      const double mag = RefDot(a.data(), a.data(), dim) + RefDot(b.data(), b.data(), dim);
      CheckClose(InnerProduct(a.data(), b.data(), dim), RefDot(a.data(), b.data(), dim), mag);
      CheckClose(SquaredL2(a.data(), b.data(), dim), RefL2(a.data(), b.data(), dim), mag);
      CheckClose(SquaredNorm(a.data(), dim), RefDot(a.data(), a.data(), dim), mag);
      CheckClose(CosineSimilarity(a.data(), b.data(), dim), RefScore(VectorMetric::kCosine, a.data(), b.data(), dim),
                 1.0);
      for (auto m : kMetrics) CheckClose(Score(m, a.data(), b.data(), dim), RefScore(m, a.data(), b.data(), dim), mag);
    }
    const std::vector<float> zero(16, 0.0f), one(16, 1.0f);
    CHECK(CosineSimilarity(zero.data(), one.data(), 16) == 0.0f);
  }
}

TEST_CASE("single-query float scans match the reference on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : {3, 16, 33, 128, 384}) {
      for (std::size_t count : {1, 3, 4, 5, 37}) {
        const std::size_t stride = dim + (dim % 2);  // strides larger than dim too
        const auto data = RandomFloats(count * stride, 7 * dim + count);
        const auto query = RandomFloats(dim, 99 + dim);
        for (auto m : kMetrics) {
          INFO("dim " << dim << " rows " << count << " metric " << VectorMetricName(m));
          std::vector<float> scores(count, -7.0f);
          ScoreFloatRows(m, query.data(), dim, FloatRows{data.data(), count, stride}, scores.data());
          for (std::size_t r = 0; r < count; ++r) {
            const float* row = data.data() + r * stride;
            const double mag = m == VectorMetric::kCosine
                                   ? 1.0
                                   : RefDot(row, row, dim) + RefDot(query.data(), query.data(), dim);
            CheckClose(scores[r], RefScore(m, query.data(), row, dim), mag);
          }
        }
      }
    }
  }
}

TEST_CASE("multi-query float scans match the reference on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    // Enough rows at dim 384 to span several cache tiles.
    for (std::size_t dim : {5, 64, 384}) {
      for (std::size_t num_queries : {1, 2, 3, 4, 5, 9}) {
        const std::size_t count = dim == 384 ? 400 : 23;
        const auto data = RandomFloats(count * dim, 3 * dim + num_queries);
        const std::size_t qstride = dim + 3;
        const auto queries = RandomFloats(num_queries * qstride, 5 * dim + num_queries);
        for (auto m : kMetrics) {
          INFO("dim " << dim << " queries " << num_queries << " metric " << VectorMetricName(m));
          const std::size_t sstride = count + 1;
          std::vector<float> scores(num_queries * sstride, -7.0f);
          ScoreFloatRowsMulti(m, queries.data(), num_queries, qstride, dim, FloatRows{data.data(), count, dim},
                              scores.data(), sstride);
          for (std::size_t q = 0; q < num_queries; ++q) {
            const float* query = queries.data() + q * qstride;
            for (std::size_t r = 0; r < count; ++r) {
              const float* row = data.data() + r * dim;
              const double mag = m == VectorMetric::kCosine ? 1.0 : RefDot(row, row, dim) + RefDot(query, query, dim);
              CheckClose(scores[q * sstride + r], RefScore(m, query, row, dim), mag);
            }
            CHECK(scores[q * sstride + count] == -7.0f);  // nothing written past the rows
          }
        }
      }
    }
  }
}

TEST_CASE("8-bit quantization matches the reference rounding on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : kDims) {
      INFO("dim " << dim);
      // An offset range (not centred on 0) exercises the per-vector offset.
      const auto x = RandomFloats(dim, 11 + dim, -0.3f, 2.1f);
      const std::size_t padded = PaddedInt8Dimension(dim);
      REQUIRE(padded % kInt8CodeAlignment == 0);
      std::vector<std::uint8_t> codes(padded, 99);
      const Int8Params p = QuantizeInt8(x.data(), dim, codes.data());
      const float lo = *std::min_element(x.begin(), x.end());
      const float hi = *std::max_element(x.begin(), x.end());
      CHECK(p.offset == lo);
      CHECK(p.scale == (hi - lo) / 255.0f);
      CheckClose(p.squared_norm, RefDot(x.data(), x.data(), dim), RefDot(x.data(), x.data(), dim));
      const float inv = p.scale > 0 ? 1.0f / p.scale : 0.0f;
      for (std::size_t i = 0; i < dim; ++i) {
        const float want = std::clamp(std::nearbyint((x[i] - p.offset) * inv), 0.0f, 255.0f);
        CHECK(int(codes[i]) == int(want));
        // The reconstruction is within half a step.
        CHECK(std::fabs(p.offset + p.scale * codes[i] - x[i]) <= 0.5f * p.scale * 1.001f + 1e-6f);
      }
      if (dim > 1) {
        // The full code range is used: the minimum maps to 0, the maximum to 255.
        CHECK(*std::min_element(codes.begin(), codes.begin() + dim) == 0);
        CHECK(*std::max_element(codes.begin(), codes.begin() + dim) == 255);
      }
      for (std::size_t i = dim; i < padded; ++i) CHECK(codes[i] == 0);
    }
    // A constant vector: scale 0, every code 0, offset carries the value.
    const std::vector<float> constant(40, 0.25f);
    std::vector<std::uint8_t> codes(PaddedInt8Dimension(40));
    const Int8Params p = QuantizeInt8(constant.data(), 40, codes.data());
    CHECK(p.scale == 0.0f);
    CHECK(p.offset == 0.25f);
    CHECK(std::all_of(codes.begin(), codes.end(), [](std::uint8_t c) { return c == 0; }));
  }
}

TEST_CASE("query quantization and the exact integer dot product on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : kDims) {
      INFO("dim " << dim);
      const auto q = RandomFloats(dim, 21 + dim);
      const std::size_t padded = PaddedInt8Dimension(dim);
      std::vector<std::int8_t> qcodes(padded, 99);
      const Int8QueryParams qp = QuantizeQuery(q.data(), dim, qcodes.data());
      float max_abs = 0;
      double sum = 0;
      for (float v : q) max_abs = std::max(max_abs, std::fabs(v)), sum += v;
      CHECK(qp.scale == max_abs / float(kQueryCodeLimit));
      CheckClose(qp.sum, sum, dim);
      const float inv = qp.scale > 0 ? 1.0f / qp.scale : 0.0f;
      for (std::size_t i = 0; i < dim; ++i) {
        CHECK(int(qcodes[i]) == int(std::nearbyint(q[i] * inv)));
        CHECK(std::abs(int(qcodes[i])) <= kQueryCodeLimit);
      }
      for (std::size_t i = dim; i < padded; ++i) CHECK(qcodes[i] == 0);

      // Random codes over the whole range: the int32 sum is exact.
      std::mt19937 rng{static_cast<unsigned>(dim)};
      std::vector<std::uint8_t> a(padded);
      std::vector<std::int8_t> b(padded);
      for (std::size_t i = 0; i < padded; ++i) {
        a[i] = std::uint8_t(rng() % 256);
        b[i] = std::int8_t(int(rng() % (2 * kQueryCodeLimit + 1)) - kQueryCodeLimit);
      }
      std::int64_t want = 0;
      for (std::size_t i = 0; i < padded; ++i) want += std::int64_t(a[i]) * b[i];
      CHECK(DotCodes(a.data(), b.data(), padded) == want);
    }
    // The largest dimension with the largest codes does not overflow.
    std::vector<std::uint8_t> a(kMaxInt8Dimension, 255);
    std::vector<std::int8_t> b(kMaxInt8Dimension, -kQueryCodeLimit);
    CHECK(std::int64_t(DotCodes(a.data(), b.data(), kMaxInt8Dimension)) ==
          -std::int64_t(kMaxInt8Dimension) * 255 * kQueryCodeLimit);
  }
}

namespace {
// What an int8 scan should return: the formulas of vector_kernels.h evaluated
// in double on the same codes.
double RefInt8Score(VectorMetric m, const std::vector<std::int8_t>& qcodes, const Int8QueryParams& qp,
                    const std::uint8_t* codes, const Int8Params& p, std::size_t padded) {
  double dot = 0;
  for (std::size_t i = 0; i < padded; ++i) dot += double(qcodes[i]) * codes[i];
  const double ip = double(p.offset) * qp.sum + double(p.scale) * qp.scale * dot;
  switch (m) {
    case VectorMetric::kInnerProduct: return ip;
    case VectorMetric::kSquaredL2: return double(qp.squared_norm) + p.squared_norm - 2 * ip;
    case VectorMetric::kCosine:
      return (p.squared_norm > 0 && qp.squared_norm > 0)
                 ? ip / std::sqrt(double(qp.squared_norm) * p.squared_norm)
                 : 0.0;
  }
  return 0;
}

struct Int8Table {
  std::size_t dim, padded, stride, count;
  std::vector<float> floats;
  std::vector<std::uint8_t> codes;
  std::vector<float> scales, offsets, norms;
  std::vector<Int8Params> params;
  Int8Rows rows() const {
    return Int8Rows{codes.data(), count, stride, scales.data(), offsets.data(), norms.data()};
  }
};

Int8Table MakeTable(std::size_t dim, std::size_t count, std::uint64_t seed) {
  Int8Table t;
  t.dim = dim;
  t.padded = PaddedInt8Dimension(dim);
  t.stride = t.padded + kInt8CodeAlignment;  // a stride larger than the codes
  t.count = count;
  t.floats = RandomFloats(dim * count, seed, -1.0f, 1.5f);
  t.codes.assign(t.stride * count, 0);
  for (std::size_t r = 0; r < count; ++r) {
    Int8Params p = QuantizeInt8(t.floats.data() + r * dim, dim, t.codes.data() + r * t.stride);
    t.params.push_back(p);
    t.scales.push_back(p.scale);
    t.offsets.push_back(p.offset);
    t.norms.push_back(p.squared_norm);
  }
  // Garbage in the padding beyond the codes must not matter.
  for (std::size_t r = 0; r < count; ++r) {
    for (std::size_t i = t.padded; i < t.stride; ++i) t.codes[r * t.stride + i] = 77;
  }
  return t;
}
}  // namespace

TEST_CASE("8-bit scans, single and multi-query, match the reference on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : {5, 64, 100, 384}) {
      // 700 rows: several 256-row chunks and, at 384-d, several tiles.
      const Int8Table t = MakeTable(dim, dim == 384 ? 700 : 37, 31 + dim);
      for (std::size_t num_queries : {1, 3, 4, 6}) {
        const std::size_t qstride = t.padded;
        std::vector<std::int8_t> qcodes(num_queries * qstride);
        std::vector<Int8QueryParams> qparams(num_queries);
        const auto qfloats = RandomFloats(num_queries * dim, 41 + dim + num_queries);
        for (std::size_t q = 0; q < num_queries; ++q) {
          qparams[q] = QuantizeQuery(qfloats.data() + q * dim, dim, qcodes.data() + q * qstride);
        }
        for (auto m : kMetrics) {
          INFO("dim " << dim << " queries " << num_queries << " metric " << VectorMetricName(m));
          std::vector<float> multi(num_queries * t.count);
          ScoreInt8RowsMulti(m, qcodes.data(), qparams.data(), num_queries, qstride, t.padded, t.rows(), multi.data(),
                             t.count);
          for (std::size_t q = 0; q < num_queries; ++q) {
            std::vector<float> single(t.count);
            ScoreInt8Rows(m, qcodes.data() + q * qstride, qparams[q], t.padded, t.rows(), single.data());
            const std::vector<std::int8_t> qc(qcodes.begin() + q * qstride, qcodes.begin() + (q + 1) * qstride);
            for (std::size_t r = 0; r < t.count; ++r) {
              const double want = RefInt8Score(m, qc, qparams[q], t.codes.data() + r * t.stride, t.params[r], t.padded);
              const double mag = m == VectorMetric::kCosine ? 1.0 : double(qparams[q].squared_norm) + t.norms[r] + dim;
              CheckClose(single[r], want, mag);
              CHECK(multi[q * t.count + r] == single[r]);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("gathered 8-bit scores (graph neighbours) match the reference and the scan on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    for (std::size_t dim : {5, 64, 100, 384}) {
      const Int8Table t = MakeTable(dim, 300, 57 + dim);
      std::vector<std::int8_t> qcodes(t.padded);
      const auto qfloats = RandomFloats(dim, 59 + dim);
      const Int8QueryParams qp = QuantizeQuery(qfloats.data(), dim, qcodes.data());
      // Scattered, repeated and out-of-order rows; counts around the group of
      // 4 and the 256-row chunk.
      std::mt19937_64 rng(dim);
      for (std::size_t n : {0, 1, 3, 4, 7, 64, 257, 300}) {
        std::vector<std::uint32_t> ids(n);
        for (auto& id : ids) id = std::uint32_t(rng() % t.count);
        for (auto m : kMetrics) {
          INFO("dim " << dim << " n " << n << " metric " << VectorMetricName(m));
          std::vector<float> all(t.count), gathered(n + 1);
          ScoreInt8Rows(m, qcodes.data(), qp, t.padded, t.rows(), all.data());
          ScoreInt8Gathered(m, qcodes.data(), qp, t.padded, t.rows(), ids.data(), n, gathered.data());
          for (std::size_t j = 0; j < n; ++j) {
            const std::uint32_t r = ids[j];
            const double want = RefInt8Score(m, qcodes, qp, t.codes.data() + r * t.stride, t.params[r], t.padded);
            const double mag = m == VectorMetric::kCosine ? 1.0 : double(qp.squared_norm) + t.norms[r] + dim;
            CheckClose(gathered[j], want, mag);
            CHECK(gathered[j] == all[r]);
          }
        }
      }
    }
  }
}

TEST_CASE("8-bit estimates track the float scores") {
  // Not a per-target check: how faithful the quantized ranking is. On uniform
  // data at 384-d the estimated inner product is within 1% of its spread.
  const std::size_t dim = 384;
  const Int8Table t = MakeTable(dim, 200, 5);
  const auto q = RandomFloats(dim, 6);
  std::vector<std::int8_t> qcodes(t.padded);
  const auto qp = QuantizeQuery(q.data(), dim, qcodes.data());
  std::vector<float> est(t.count);
  ScoreInt8Rows(VectorMetric::kInnerProduct, qcodes.data(), qp, t.padded, t.rows(), est.data());
  std::vector<double> exact(t.count);
  double lo = 1e30, hi = -1e30, worst = 0;
  for (std::size_t r = 0; r < t.count; ++r) {
    exact[r] = RefDot(q.data(), t.floats.data() + r * dim, dim);
    lo = std::min(lo, exact[r]);
    hi = std::max(hi, exact[r]);
  }
  for (std::size_t r = 0; r < t.count; ++r) worst = std::max(worst, std::fabs(est[r] - exact[r]));
  WARN("worst int8 inner-product error: " << worst / (hi - lo) << " of the spread");
  CHECK(worst <= 0.01 * (hi - lo));
}

TEST_CASE("candidate filter and top-k selection match sorting on every target") {
  for (auto target : SupportedKernelTargets()) {
    ScopedTarget scoped(target);
    INFO("target " << KernelTargetName(target));
    std::mt19937_64 rng(17);
    for (std::size_t n : {0, 1, 5, 16, 17, 100, 1000, 5003}) {
      std::vector<float> scores(n);
      // Few distinct values: plenty of ties to break by id.
      for (auto& s : scores) s = float(rng() % 97) / 7.0f;
      if (n > 10) scores[3] = std::numeric_limits<float>::quiet_NaN();
      for (bool higher : {true, false}) {
        INFO("n " << n << " higher " << higher);
        const float bound = 5.0f;
        std::vector<std::uint32_t> positions(n + 1);
        const std::size_t count = FilterCandidates(scores.data(), n, bound, higher, positions.data());
        std::vector<std::uint32_t> want;
        for (std::size_t i = 0; i < n; ++i) {
          if (higher ? scores[i] >= bound : scores[i] <= bound) want.push_back(std::uint32_t(i));
        }
        REQUIRE(count == want.size());
        CHECK(std::equal(want.begin(), want.end(), positions.begin()));

        for (std::size_t k : {1, 10, 100}) {
          const std::uint64_t first_id = 1000;
          TopK top(k, higher);
          // Offered in uneven blocks, as a scan does.
          for (std::size_t begin = 0; begin < n; begin += 333) {
            top.OfferBlock(scores.data() + begin, std::min<std::size_t>(333, n - begin), first_id + begin);
          }
          std::vector<ScoredId> all;
          for (std::size_t i = 0; i < n; ++i) {
            if (!std::isnan(scores[i])) all.push_back({scores[i], first_id + i});
          }
          std::sort(all.begin(), all.end(), [&](const ScoredId& a, const ScoredId& b) {
            if (a.score != b.score) return higher ? a.score > b.score : a.score < b.score;
            return a.id < b.id;
          });
          all.resize(std::min(all.size(), k));
          const auto got = top.TakeSorted();
          REQUIRE(got.size() == all.size());
          for (std::size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].id == all[i].id);
            CHECK(got[i].score == all[i].score);
          }
        }
      }
    }
  }
}

}  // namespace postdevai::simd
