// How code files, session contexts and their embeddings are encoded as values
// of the engine's code, history and vectors kinds. Every writer and reader of
// those kinds uses these functions (the client core, the vector index), so a
// file stored by one is read back by every other. Header-only and free of CAF.
//
// Formats (records/coding.h: fixed32 little-endian, length-prefixed strings):
//   code value:    path  language  content                (three strings)
//   history value: u32 count, then count messages         (strings)
//                  or, for a session whose older messages are sealed in
//                  segments (SessionHead): u32 0xFFFFFFFF, u64 sealed
//                  segments, u64 sealed messages, then the tail as above.
//                  Segment i holds its messages as above, under
//                  SessionSegmentKey(session, i) in the history kind.
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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/records.h"
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

// A session's context is a head record under the session id and, once it
// outgrows kSessionSegmentBytes, sealed segments of older messages: an append
// rewrites only the head's tail, never the whole context. Segments never
// change once written; a replaced context (StoreContext) deletes them.
inline constexpr std::size_t kSessionSegmentBytes = 256u << 10;
inline constexpr std::uint32_t kSegmentedHeadMarker = 0xFFFFFFFFu;
// More segments than any context can have (2^40 bytes of messages); a head
// that claims more is not believed.
inline constexpr std::uint64_t kMaxSessionSegments = std::uint64_t{1} << 22;

struct SessionHead {
  std::uint64_t sealed_segments = 0;  // segments 0 .. sealed_segments-1
  std::uint64_t sealed_messages = 0;  // messages in them, in all
  std::vector<std::string> tail;      // the newest messages, after the sealed ones
  std::uint64_t message_count() const { return sealed_messages + tail.size(); }
};

// Session ids beginning with this byte are refused: segment keys use it.
inline constexpr char kSessionSegmentTag = '\0';
// A session id leaves room in a key for the segment tag, separator and number.
inline constexpr std::size_t kMaxSessionIdBytes = kMaxKeyBytes - 10;

inline std::string SessionSegmentKey(std::string_view session, std::uint64_t segment) {
  std::string key;
  key.reserve(session.size() + 10);
  key.push_back(kSessionSegmentTag);
  key.append(session);
  key.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(segment >> shift));  // big-endian: in order
  return key;
}

// The head in the plain format while nothing is sealed (as every session
// written before segments existed), else in the segmented one.
inline std::string EncodeSessionHead(const SessionHead& head) {
  if (head.sealed_segments == 0) return EncodeMessages(head.tail);
  std::string v;
  PutFixed32(&v, kSegmentedHeadMarker);
  PutFixed64(&v, head.sealed_segments);
  PutFixed64(&v, head.sealed_messages);
  v += EncodeMessages(head.tail);
  return v;
}

inline Result<SessionHead> DecodeSessionHead(std::string_view session, std::string_view v) {
  SessionHead head;
  std::string_view rest = v;
  std::uint32_t marker;
  if (GetFixed32(&rest, &marker) && marker == kSegmentedHeadMarker) {
    if (!GetFixed64(&rest, &head.sealed_segments) || !GetFixed64(&rest, &head.sealed_messages) ||
        head.sealed_segments == 0 || head.sealed_segments > kMaxSessionSegments ||
        head.sealed_messages < head.sealed_segments) {
      return Status::Corruption("session context " + std::string(session) + ": malformed head");
    }
  } else {
    rest = v;
  }
  auto tail = DecodeMessages(session, rest);
  if (!tail.ok()) return tail.status();
  head.tail = std::move(*tail);
  return head;
}

// `head` with `message` appended: when the tail would outgrow
// kSessionSegmentBytes, the tail is sealed first and returned as the next
// segment's value (to be written under SessionSegmentKey(session,
// head.sealed_segments - 1) in the same batch as the new head).
inline std::optional<std::string> AppendToSession(SessionHead* head, std::string message) {
  std::size_t tail_bytes = 4;
  for (const auto& m : head->tail) tail_bytes += 4 + m.size();
  std::optional<std::string> sealed;
  if (!head->tail.empty() && tail_bytes + 4 + message.size() > kSessionSegmentBytes) {
    sealed = EncodeMessages(head->tail);
    head->sealed_segments += 1;
    head->sealed_messages += head->tail.size();
    head->tail.clear();
  }
  head->tail.push_back(std::move(message));
  return sealed;
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
  if (!v.empty()) std::memcpy(f.values.data(), v.data(), v.size());  // no chunks: data() may be null
  return f;
}

// The key of a session's vectors record in the vectors kind (code files use
// CodeIdForPath, 32 hex digits, so the two never collide).
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
