// Fuzz target: the decoders of the values the code, history and vectors kinds
// hold (records/stored_values.h), fed what a disk or a peer could hold.
// Every reader of those kinds (the client core, the vector catalog, the
// code-id migration) trusts what these decoders return.
//
// Input: a selector byte, then the value. Selector bits 0-2, modulo 5: which
// decoder (0 DecodeCode, 1 DecodeMessages, 2 DecodeFileVectors,
// 3 SplitIntoChunks, 4 DecodeSessionHead + AppendToSession); bits 3-7 scale
// SplitIntoChunks' target (1 + 64 * bits; 0 its default).
//
// Checked beyond "no crash, no out-of-bounds read":
//   * a value that decodes, re-encoded, decodes to the same parts (floats
//     compared bit for bit); the re-encoding is the input itself (vectors:
//     the decoder takes the whole value) or a prefix of it (code, messages:
//     trailing bytes are ignored) -- one encoding per value;
//   * a decoded vectors record is consistent: a non-zero dimension, and
//     exactly chunks() x dimension floats;
//   * allocation bounded by the input: the decoders never believe a count or
//     length the value does not back (the default -malloc_limit_mb catches
//     one that does);
//   * a session head that decodes: its sealed counts are believable (at least
//     one message per segment, at most kMaxSessionSegments); appending one
//     message counts one more, and seals the old tail (returned encoded, and
//     decoding to it) exactly when the tail would outgrow kSessionSegmentBytes;
//   * SplitIntoChunks: the chunks are non-empty, concatenate to the content,
//     end at line ends (all but the last), and a chunk over the target is a
//     single line.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_harness.h"
#include "records/stored_values.h"

namespace {

using postdevai::fuzz::Fail;
using postdevai::fuzz::InputReader;
namespace records = postdevai::records;

bool StartsWith(std::string_view input, std::string_view prefix) { return input.substr(0, prefix.size()) == prefix; }

void CheckCode(std::string_view value) {
  auto parts = records::DecodeCode("fuzz", value);
  if (!parts.ok()) {
    if (!parts.status().IsCorruption()) Fail("DecodeCode failed with other than kCorruption");
    return;
  }
  const std::string again = records::EncodeCode(parts->path, parts->language, parts->content);
  if (!StartsWith(value, again)) Fail("EncodeCode(DecodeCode(v)) is not a prefix of v");
  auto redecoded = records::DecodeCode("fuzz", again);
  if (!redecoded.ok() || redecoded->path != parts->path || redecoded->language != parts->language ||
      redecoded->content != parts->content) {
    Fail("a re-encoded code value decodes to other parts");
  }
}

void CheckMessages(std::string_view value) {
  auto messages = records::DecodeMessages("fuzz", value);
  if (!messages.ok()) {
    if (!messages.status().IsCorruption()) Fail("DecodeMessages failed with other than kCorruption");
    return;
  }
  const std::string again = records::EncodeMessages(*messages);
  if (!StartsWith(value, again)) Fail("EncodeMessages(DecodeMessages(v)) is not a prefix of v");
  auto redecoded = records::DecodeMessages("fuzz", again);
  if (!redecoded.ok() || *redecoded != *messages) Fail("re-encoded messages decode to other messages");
}

bool SameVectors(const records::FileVectors& a, const records::FileVectors& b) {
  return a.owner == b.owner && a.model == b.model && a.dimension == b.dimension && a.path == b.path &&
         a.language == b.language && a.session == b.session && a.values.size() == b.values.size() &&
         (a.values.empty() || std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
}

void CheckFileVectors(std::string_view value) {
  auto vectors = records::DecodeFileVectors("fuzz", value);
  if (!vectors.ok()) {
    if (!vectors.status().IsCorruption()) Fail("DecodeFileVectors failed with other than kCorruption");
    return;
  }
  if (vectors->dimension == 0) Fail("a vectors record of dimension 0 decoded");
  if (vectors->values.size() != vectors->chunks() * vectors->dimension) {
    Fail("a decoded vectors record holds a partial chunk");
  }
  const std::string again = records::EncodeFileVectors(*vectors);
  if (again != value) Fail("EncodeFileVectors(DecodeFileVectors(v)) != v");
  auto redecoded = records::DecodeFileVectors("fuzz", again);
  if (!redecoded.ok() || !SameVectors(*redecoded, *vectors)) Fail("a re-encoded vectors record decodes otherwise");
}

void CheckSessionHead(std::string_view value) {
  auto head = records::DecodeSessionHead("fuzz", value);
  if (!head.ok()) {
    if (!head.status().IsCorruption()) Fail("DecodeSessionHead failed with other than kCorruption");
    return;
  }
  if (head->sealed_segments > records::kMaxSessionSegments || head->sealed_messages < head->sealed_segments) {
    Fail("a session head with unbelievable sealed counts decoded");
  }
  const std::string again = records::EncodeSessionHead(*head);
  if (!StartsWith(value, again)) Fail("EncodeSessionHead(DecodeSessionHead(v)) is not a prefix of v");
  auto redecoded = records::DecodeSessionHead("fuzz", again);
  if (!redecoded.ok() || redecoded->sealed_segments != head->sealed_segments ||
      redecoded->sealed_messages != head->sealed_messages || redecoded->tail != head->tail) {
    Fail("a re-encoded session head decodes to another head");
  }

  records::SessionHead appended = *head;
  const std::string message = "appended by the fuzzer";
  auto sealed = records::AppendToSession(&appended, message);
  if (appended.message_count() != head->message_count() + 1) Fail("AppendToSession did not count one message more");
  if (appended.tail.empty() || appended.tail.back() != message) Fail("AppendToSession did not end with the message");
  std::size_t tail_bytes = 4;
  for (const auto& m : head->tail) tail_bytes += 4 + m.size();
  const bool should_seal = !head->tail.empty() && tail_bytes + 4 + message.size() > records::kSessionSegmentBytes;
  if (sealed.has_value() != should_seal) Fail("AppendToSession sealed when it should not, or did not when it should");
  if (sealed) {
    auto segment = records::DecodeMessages("fuzz", *sealed);
    if (!segment.ok() || *segment != head->tail) Fail("a sealed segment does not decode to the old tail");
    if (appended.sealed_segments != head->sealed_segments + 1 || appended.tail.size() != 1) {
      Fail("sealing did not add one segment and start a new tail");
    }
  }
}

void CheckChunks(std::string_view content, std::size_t target) {
  const auto chunks = target == 0 ? records::SplitIntoChunks(content) : records::SplitIntoChunks(content, target);
  if (target == 0) target = 1536;
  std::string joined;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const std::string_view chunk = chunks[i];
    if (chunk.empty()) Fail("SplitIntoChunks returned an empty chunk");
    if (i + 1 < chunks.size() && chunk.back() != '\n') Fail("a chunk other than the last does not end a line");
    if (chunk.size() > target && chunk.substr(0, chunk.size() - 1).find('\n') != std::string_view::npos) {
      Fail("a chunk over the target holds more than one line");
    }
    joined.append(chunk);
  }
  if (joined != content) Fail("the chunks do not concatenate to the content");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader input(data, size);
  const auto selector = input.Fixed<std::uint8_t>();
  const std::string_view value = input.Rest();
  switch ((selector & 7) % 5) {
    case 0: CheckCode(value); break;
    case 1: CheckMessages(value); break;
    case 2: CheckFileVectors(value); break;
    case 3: {
      const std::size_t scale = selector >> 3;
      CheckChunks(value, scale == 0 ? 0 : 1 + 64 * scale);
      break;
    }
    case 4: CheckSessionHead(value); break;
  }
  return 0;
}
