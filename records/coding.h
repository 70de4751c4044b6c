// The one set of byte encoders every value format of the records layer uses
// (LevelDB's util/coding.h, cut to what we need): little-endian fixed-width
// integers and strings prefixed with their 32-bit length.
//
// Decoders take a std::string_view they consume from the front and return
// false, consuming nothing they cannot vouch for, when the input is too
// short: a length that overruns the input is never believed.
// Header-only, no CAF; safe from any thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace postdevai::records {

inline void PutFixed32(std::string* dst, std::uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 4);
}

inline void PutFixed64(std::string* dst, std::uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 8);
}

// Length (fixed32) then the bytes.
inline void PutLengthPrefixed(std::string* dst, std::string_view value) {
  PutFixed32(dst, static_cast<std::uint32_t>(value.size()));
  dst->append(value);
}

inline bool GetFixed32(std::string_view* in, std::uint32_t* v) {
  if (in->size() < 4) return false;
  std::uint32_t x = 0;
  for (int i = 0; i < 4; ++i) x |= static_cast<std::uint32_t>(static_cast<std::uint8_t>((*in)[i])) << (8 * i);
  *v = x;
  in->remove_prefix(4);
  return true;
}

inline bool GetFixed64(std::string_view* in, std::uint64_t* v) {
  if (in->size() < 8) return false;
  std::uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x |= static_cast<std::uint64_t>(static_cast<std::uint8_t>((*in)[i])) << (8 * i);
  *v = x;
  in->remove_prefix(8);
  return true;
}

// A view into *in (valid as long as the input is).
inline bool GetLengthPrefixed(std::string_view* in, std::string_view* value) {
  std::string_view probe = *in;
  std::uint32_t n;
  if (!GetFixed32(&probe, &n) || n > probe.size()) return false;
  *value = probe.substr(0, n);
  probe.remove_prefix(n);
  *in = probe;
  return true;
}

inline bool GetLengthPrefixed(std::string_view* in, std::string* value) {
  std::string_view view;
  if (!GetLengthPrefixed(in, &view)) return false;
  value->assign(view);
  return true;
}

}  // namespace postdevai::records
