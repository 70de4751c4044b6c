// How code files and session contexts are encoded as values of the engine's
// code and history kinds. Every writer and reader of those kinds uses these
// functions (the blocking facade, postdevai-cli), so that a file stored by
// one is read back by the other. Header-only and free of CAF, so that
// programs can include it without the actor headers.
//
// Formats (little-endian 32-bit lengths):
//   code value:    len(path) path  len(language) language  len(content) content
//   history value: count, then len(message) message, count times
//   vectors value: the embeddings of one code file's chunks, or of one
//                  session's messages:
//                  u32 version (1), u32 owner (0 code file, 1 session),
//                  len(model) model, u32 dimension, len(path) path,
//                  len(language) language, len(session) session, u32 count,
//                  then count x dimension float32
// The key of a code record is CodeIdForPath(path) (include/postdevai/hybrid_memory.h),
// and so is the key of that file's vectors record (in the vectors kind); the
// key of a session context is the session id, and that of its vectors record
// SessionVectorsKey(session).
//
// Decoders never read past the value: a length that overruns it is
// kCorruption naming the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
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

// The embeddings of one code file's chunks, or of one session's messages
// (the vectors kind).
struct FileVectors {
  enum Owner : std::uint32_t { kCodeFile = 0, kSession = 1 };
  Owner owner = kCodeFile;
  std::string model;
  std::uint32_t dimension = 0;
  std::string path;      // code files
  std::string language;  // code files
  std::string session;   // sessions
  std::vector<float> values;  // chunks() x dimension, chunk after chunk
  std::size_t chunks() const { return dimension == 0 ? 0 : values.size() / dimension; }
};

inline std::string EncodeFileVectors(const FileVectors& f) {
  std::string v;
  v.reserve(32 + f.model.size() + f.path.size() + f.language.size() + f.values.size() * sizeof(float));
  detail::PutLength(&v, 1);
  detail::PutLength(&v, f.owner);
  detail::PutLength(&v, f.model.size());
  v += f.model;
  detail::PutLength(&v, f.dimension);
  for (const std::string* text : {&f.path, &f.language, &f.session}) {
    detail::PutLength(&v, text->size());
    v += *text;
  }
  detail::PutLength(&v, f.chunks());
  v.append(reinterpret_cast<const char*>(f.values.data()), f.values.size() * sizeof(float));
  return v;
}

// `key` only names the record in the error message.
inline Result<FileVectors> DecodeFileVectors(std::string_view key, std::string_view v) {
  auto bad = [&] { return Status::Corruption("vectors record " + std::string(key) + ": malformed"); };
  auto u32 = [&](std::size_t* out) {
    if (v.size() < 4) return false;
    *out = 0;
    for (int i = 0; i < 4; ++i) *out |= static_cast<std::size_t>(static_cast<std::uint8_t>(v[i])) << (8 * i);
    v.remove_prefix(4);
    return true;
  };
  auto text = [&](std::string* out) {
    std::size_t n;
    if (!detail::GetLength(&v, &n)) return false;
    out->assign(v.substr(0, n));
    v.remove_prefix(n);
    return true;
  };
  FileVectors f;
  std::size_t version, owner, dimension, chunks;
  if (!u32(&version) || version != 1 || !u32(&owner) || owner > 1 || !text(&f.model) || !u32(&dimension) ||
      !text(&f.path) || !text(&f.language) || !text(&f.session) || !u32(&chunks)) {
    return bad();
  }
  f.owner = static_cast<FileVectors::Owner>(owner);
  f.dimension = static_cast<std::uint32_t>(dimension);
  if (dimension == 0 || chunks > (1u << 20) || v.size() != chunks * dimension * sizeof(float)) return bad();
  f.values.resize(chunks * dimension);
  std::memcpy(f.values.data(), v.data(), v.size());
  return f;
}

// The key of a session's vectors record in the vectors kind (code files use
// CodeIdForPath, 16 hex digits, so the two never collide).
inline std::string SessionVectorsKey(std::string_view session) { return "session/" + std::string(session); }

// Splits source text into chunks of about `target_bytes` at line ends (a
// line longer than that is a chunk of its own): what each embedding covers.
inline std::vector<std::string_view> SplitIntoChunks(std::string_view content, std::size_t target_bytes = 1536) {
  std::vector<std::string_view> chunks;
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t end = start;
    while (end < content.size()) {
      std::size_t line_end = content.find('\n', end);
      line_end = line_end == std::string_view::npos ? content.size() : line_end + 1;
      if (end > start && line_end - start > target_bytes) break;
      end = line_end;
    }
    chunks.push_back(content.substr(start, end - start));
    start = end;
  }
  return chunks;
}

}  // namespace postdevai::records
