// How code files, session contexts and their embeddings are encoded as values
// of the engine's code, history and vectors kinds. Every writer and reader of
// those kinds uses these functions (the client core, the vector index), so a
// file stored by one is read back by every other. Header-only and free of CAF.
//
// Formats (records/coding.h: fixed32 little-endian, length-prefixed strings):
//   code value:    path  language  content                (three strings)
//   history value: u32 count, then count messages         (strings)
//   vectors value: the embeddings of one code file's chunks, or of one
//                  session's messages:
//                  u32 version (1), u32 owner (0 code file, 1 session),
//                  model, u32 dimension, path, language, session, u32 count,
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
#include "records/coding.h"

namespace postdevai::records {

// The parts of a stored code file (no id or LSN: those come from the key and the read).
struct CodeParts {
  std::string path;
  std::string language;
  std::string content;
};

inline std::string EncodeCode(std::string_view path, std::string_view language, std::string_view content) {
  std::string v;
  v.reserve(12 + path.size() + language.size() + content.size());
  for (auto part : {path, language, content}) PutLengthPrefixed(&v, part);
  return v;
}

// `id` only names the record in the error message.
inline Result<CodeParts> DecodeCode(std::string_view id, std::string_view v) {
  CodeParts r;
  if (!GetLengthPrefixed(&v, &r.path) || !GetLengthPrefixed(&v, &r.language) || !GetLengthPrefixed(&v, &r.content)) {
    return Status::Corruption("code record " + std::string(id) + ": malformed");
  }
  return r;
}

inline std::string EncodeMessages(const std::vector<std::string>& messages) {
  std::string v;
  PutFixed32(&v, static_cast<std::uint32_t>(messages.size()));
  for (const auto& m : messages) PutLengthPrefixed(&v, m);
  return v;
}

// `session` only names the record in the error message.
inline Result<std::vector<std::string>> DecodeMessages(std::string_view session, std::string_view v) {
  auto bad = [&] { return Status::Corruption("session context " + std::string(session) + ": malformed"); };
  std::uint32_t count;
  if (!GetFixed32(&v, &count)) return bad();
  // Each message takes at least its 4-byte length: a count beyond that is a lie.
  if (count > v.size() / 4) return bad();
  std::vector<std::string> out(count);
  for (auto& message : out) {
    if (!GetLengthPrefixed(&v, &message)) return bad();
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
  PutFixed32(&v, 1);
  PutFixed32(&v, f.owner);
  PutLengthPrefixed(&v, f.model);
  PutFixed32(&v, f.dimension);
  for (const std::string* text : {&f.path, &f.language, &f.session}) PutLengthPrefixed(&v, *text);
  PutFixed32(&v, static_cast<std::uint32_t>(f.chunks()));
  v.append(reinterpret_cast<const char*>(f.values.data()), f.values.size() * sizeof(float));
  return v;
}

// `key` only names the record in the error message.
inline Result<FileVectors> DecodeFileVectors(std::string_view key, std::string_view v) {
  auto bad = [&] { return Status::Corruption("vectors record " + std::string(key) + ": malformed"); };
  FileVectors f;
  std::uint32_t version, owner, dimension, chunks;
  if (!GetFixed32(&v, &version) || version != 1 || !GetFixed32(&v, &owner) || owner > 1 ||
      !GetLengthPrefixed(&v, &f.model) || !GetFixed32(&v, &dimension) || !GetLengthPrefixed(&v, &f.path) ||
      !GetLengthPrefixed(&v, &f.language) || !GetLengthPrefixed(&v, &f.session) || !GetFixed32(&v, &chunks)) {
    return bad();
  }
  f.owner = static_cast<FileVectors::Owner>(owner);
  f.dimension = dimension;
  if (dimension == 0 || chunks > (1u << 20) ||
      v.size() != static_cast<std::uint64_t>(chunks) * dimension * sizeof(float)) {
    return bad();
  }
  f.values.resize(static_cast<std::size_t>(chunks) * dimension);
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
