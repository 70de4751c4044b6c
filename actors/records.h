// How code files and session contexts are encoded as values of the engine's
// code and history kinds. Every writer and reader of those kinds uses these
// functions (the blocking facade, postdevai-cli), so that a file stored by
// one is read back by the other. Header-only and free of CAF, so that
// programs can include it without the actor headers.
//
// Formats (little-endian 32-bit lengths):
//   code value:    len(path) path  len(language) language  len(content) content
//   history value: count, then len(message) message, count times
// The key of a code record is CodeIdForPath(path) (include/postdevai/hybrid_memory.h);
// the key of a session context is the session id.
//
// Decoders never read past the value: a length that overruns it is
// kCorruption naming the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/status.h"

namespace postdevai::records {

namespace detail {

inline void PutLength(std::string* out, std::size_t n) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

// Reads a length and checks that that many bytes follow.
inline bool GetLength(std::string_view* in, std::size_t* n) {
  if (in->size() < 4) return false;
  *n = 0;
  for (int i = 0; i < 4; ++i) *n |= static_cast<std::size_t>(static_cast<std::uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(4);
  return *n <= in->size();
}

}  // namespace detail

// The parts of a stored code file (no id or LSN: those come from the key and the read).
struct CodeParts {
  std::string path;
  std::string language;
  std::string content;
};

inline std::string EncodeCode(std::string_view path, std::string_view language, std::string_view content) {
  std::string v;
  v.reserve(12 + path.size() + language.size() + content.size());
  for (auto part : {path, language, content}) {
    detail::PutLength(&v, part.size());
    v.append(part);
  }
  return v;
}

// `id` only names the record in the error message.
inline Result<CodeParts> DecodeCode(std::string_view id, std::string_view v) {
  CodeParts r;
  std::string* parts[] = {&r.path, &r.language, &r.content};
  for (auto* part : parts) {
    std::size_t n;
    if (!detail::GetLength(&v, &n)) return Status::Corruption("code record " + std::string(id) + ": malformed");
    part->assign(v.substr(0, n));
    v.remove_prefix(n);
  }
  return r;
}

inline std::string EncodeMessages(const std::vector<std::string>& messages) {
  std::string v;
  detail::PutLength(&v, messages.size());
  for (const auto& m : messages) {
    detail::PutLength(&v, m.size());
    v += m;
  }
  return v;
}

// `session` only names the record in the error message.
inline Result<std::vector<std::string>> DecodeMessages(std::string_view session, std::string_view v) {
  if (v.size() < 4) return Status::Corruption("session context " + std::string(session) + ": malformed");
  std::size_t count = 0;
  for (int i = 0; i < 4; ++i) count |= static_cast<std::size_t>(static_cast<std::uint8_t>(v[i])) << (8 * i);
  v.remove_prefix(4);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t n;
    if (!detail::GetLength(&v, &n)) {
      return Status::Corruption("session context " + std::string(session) + ": malformed");
    }
    out.emplace_back(v.substr(0, n));
    v.remove_prefix(n);
  }
  return out;
}

}  // namespace postdevai::records
