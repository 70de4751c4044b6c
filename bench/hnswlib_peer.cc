#include "bench/hnswlib_peer.h"

#ifdef POSTDEVAI_HAVE_HNSWLIB
#include <hnswlib/hnswlib.h>
#endif

namespace postdevai::bench {

#ifdef POSTDEVAI_HAVE_HNSWLIB

struct HnswlibPeer::Impl {
  Impl(std::size_t dim, std::size_t max_elements, std::size_t m, std::size_t ef_construction)
      : space(dim), index(&space, max_elements, m, ef_construction, 100) {}
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> index;
};

bool HnswlibPeer::Available() {
#if defined(__AVX512F__)
  return __builtin_cpu_supports("avx512f");
#elif defined(__AVX__)
  return __builtin_cpu_supports("avx");
#else
  return true;
#endif
}

std::string HnswlibPeer::Build() {
#if defined(__AVX512F__)
  return "hnswlib 0.6.2 (Debian libhnswlib-dev), distances compiled for AVX-512";
#elif defined(__AVX__)
  return "hnswlib 0.6.2 (Debian libhnswlib-dev), distances compiled for AVX";
#else
  return "hnswlib 0.6.2 (Debian libhnswlib-dev), distances compiled for SSE";
#endif
}

HnswlibPeer::HnswlibPeer(std::size_t dim, std::size_t max_elements, std::size_t m, std::size_t ef_construction)
    : impl_(std::make_unique<Impl>(dim, max_elements, m, ef_construction)) {}
HnswlibPeer::~HnswlibPeer() = default;

void HnswlibPeer::Add(const float* vector, std::uint64_t label) { impl_->index.addPoint(vector, label); }
void HnswlibPeer::MarkDelete(std::uint64_t label) { impl_->index.markDelete(label); }
void HnswlibPeer::SetEf(std::size_t ef) { impl_->index.setEf(ef); }

std::vector<std::uint64_t> HnswlibPeer::Search(const float* query, std::size_t k) const {
  auto found = impl_->index.searchKnn(query, k);
  std::vector<std::uint64_t> labels(found.size());
  for (std::size_t i = labels.size(); i-- > 0;) {  // the queue pops the farthest first
    labels[i] = found.top().second;
    found.pop();
  }
  return labels;
}

double HnswlibPeer::BytesPerVector(std::size_t count) const {
  const auto& index = impl_->index;
  double bytes = double(index.max_elements_) * double(index.size_data_per_element_);
  for (std::size_t i = 0; i < index.cur_element_count; ++i) {
    if (index.element_levels_[i] > 0) bytes += double(index.size_links_per_element_) * index.element_levels_[i];
  }
  bytes += double(index.max_elements_) * (sizeof(int) + sizeof(void*) + sizeof(std::mutex));
  // label map: bucket pointer + node (next, key, value) per element
  bytes += double(index.label_lookup_.bucket_count()) * sizeof(void*) + double(index.label_lookup_.size()) * 32;
  return count ? bytes / double(count) : 0.0;
}

#else  // built without libhnswlib-dev

struct HnswlibPeer::Impl {};
bool HnswlibPeer::Available() { return false; }
std::string HnswlibPeer::Build() { return "absent (libhnswlib-dev not installed at configure time)"; }
HnswlibPeer::HnswlibPeer(std::size_t, std::size_t, std::size_t, std::size_t) {}
HnswlibPeer::~HnswlibPeer() = default;
void HnswlibPeer::Add(const float*, std::uint64_t) {}
void HnswlibPeer::MarkDelete(std::uint64_t) {}
void HnswlibPeer::SetEf(std::size_t) {}
std::vector<std::uint64_t> HnswlibPeer::Search(const float*, std::size_t) const { return {}; }
double HnswlibPeer::BytesPerVector(std::size_t) const { return 0; }

#endif

}  // namespace postdevai::bench
