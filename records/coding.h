// The one set of byte encoders every format of ours uses — the records
// layer's stored values, the WAL's mutation payloads, the store's value
// headers (LevelDB's util/coding.h, cut to what we need): little-endian
// fixed-width integers, varints (7 bits a byte, low groups first) and
// strings prefixed with their length.
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

// In place, into a buffer that has room (a frame being built, a mapped page).
inline void EncodeFixed32(char* dst, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void EncodeFixed64(char* dst, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline std::uint32_t DecodeFixed32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[i])) << (8 * i);
  return v;
}
inline std::uint64_t DecodeFixed64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(p[i])) << (8 * i);
  return v;
}

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

inline void PutVarint64(std::string* dst, std::uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

// At most `max_bytes` bytes (10 for 64 bits, 5 for 32).
inline bool GetVarint(std::string_view* in, int max_bytes, std::uint64_t* v) {
  std::uint64_t result = 0;
  for (int i = 0; i < max_bytes && i < static_cast<int>(in->size()); ++i) {
    const auto byte = static_cast<std::uint8_t>((*in)[i]);
    result |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

inline bool GetVarint64(std::string_view* in, std::uint64_t* v) { return GetVarint(in, 10, v); }

inline bool GetVarint32(std::string_view* in, std::uint32_t* v) {
  std::uint64_t wide;
  if (!GetVarint(in, 5, &wide) || wide > UINT32_MAX) return false;
  *v = static_cast<std::uint32_t>(wide);
  return true;
}

// Length (varint) then the bytes.
inline void PutVarintPrefixed(std::string* dst, std::string_view value) {
  PutVarint64(dst, value.size());
  dst->append(value);
}

inline bool GetVarintPrefixed(std::string_view* in, std::string_view* value) {
  std::string_view probe = *in;
  std::uint64_t n;
  if (!GetVarint64(&probe, &n) || n > probe.size()) return false;
  *value = probe.substr(0, n);
  probe.remove_prefix(n);
  *in = probe;
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
