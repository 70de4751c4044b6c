// hnswlib (Debian's libhnswlib-dev 0.6.2, header only), the graph peer of the
// vector scenario, behind a narrow interface: hnswlib picks its distance
// kernels at compile time, so its one translation unit (hnswlib_peer.cc) is
// compiled for AVX-512 — the peer at its best on these machines — and
// Available() checks the CPU before any of it runs.
//
// Thread-safety: one thread at a time (the scenario runs everything on one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace postdevai::bench {

class HnswlibPeer {
 public:
  // Compiled in (libhnswlib-dev present at configure time) and this CPU runs
  // the instructions it was compiled for.
  static bool Available();
  // The ISA the peer's distances were compiled for, for the report.
  static std::string Build();

  // Inner product space (the scenario's unit vectors), M links, ef_construction.
  HnswlibPeer(std::size_t dim, std::size_t max_elements, std::size_t m, std::size_t ef_construction);
  ~HnswlibPeer();

  void Add(const float* vector, std::uint64_t label);
  // hnswlib deletes lazily: the node stays in the graph, skipped in results.
  void MarkDelete(std::uint64_t label);
  void SetEf(std::size_t ef);
  // The k nearest labels, best first.
  std::vector<std::uint64_t> Search(const float* query, std::size_t k) const;
  // Its allocations for `count` elements: the level-0 block (links + vector +
  // label per element, allocated for max_elements), the upper-layer link
  // lists, the per-element level and lock arrays and the label map.
  double BytesPerVector(std::size_t count) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai::bench
