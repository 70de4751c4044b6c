// Arrays of trivially copyable values in the snapshot formats of the vector
// index and its graph: a fixed64 element count, then the elements' bytes as
// they are in memory (these snapshots are read back by the same build on the
// same little-endian host; the caller frames them with a checksum).
// Integers and strings use records/coding.h.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "records/coding.h"

namespace postdevai::simd {

template <typename T>
void PutArray(std::string* out, const T* data, std::size_t count) {
  static_assert(std::is_trivially_copyable_v<T>);
  records::PutFixed64(out, count);
  out->append(reinterpret_cast<const char*>(data), count * sizeof(T));
}

template <typename T>
void PutArray(std::string* out, const std::vector<T>& v) {
  PutArray(out, v.data(), v.size());
}

// Consumes an array written by PutArray; false (nothing consumed) when the
// input is too short for the count it claims.
template <typename T>
bool GetArray(std::string_view* in, std::vector<T>* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::string_view probe = *in;
  std::uint64_t count = 0;
  if (!records::GetFixed64(&probe, &count) || count > probe.size() / sizeof(T)) return false;
  out->resize(count);
  if (count > 0) std::memcpy(out->data(), probe.data(), count * sizeof(T));  // an empty vector's data() may be null
  probe.remove_prefix(count * sizeof(T));
  *in = probe;
  return true;
}

// Consumes an array written by PutArray without copying it: *bytes views
// its elements in the input (unaligned; copy them out with memcpy), so a
// large array is copied once, straight to where it belongs.
inline bool GetArrayBytes(std::string_view* in, std::size_t element_size, std::string_view* bytes) {
  std::string_view probe = *in;
  std::uint64_t count = 0;
  if (!records::GetFixed64(&probe, &count) || count > probe.size() / element_size) return false;
  *bytes = probe.substr(0, count * element_size);
  probe.remove_prefix(count * element_size);
  *in = probe;
  return true;
}

}  // namespace postdevai::simd
