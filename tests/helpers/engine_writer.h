// What tests/helpers/engine_writer.cc (the child that gets killed) and
// tests/engine_kill_test.cc (the parent that checks) agree on: the config, and
// the deterministic stream of operations each writer thread performs.
//
// Writer w performs op 0, 1, 2, ... of its own stream, one at a time, on keys
// only it touches (16 code paths, 16 sessions, 16 metadata keys), so the
// state of every key is a function of how far each writer got. An op is
// fully determined by (w, i): a restarted child repeats an op whose
// acknowledgement it never reported, and repeating it changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postdevai/config.h"

namespace postdevai::testing {

inline constexpr int kEngineWriters = 4;
inline constexpr int kEngineWriterSlots = 16;  // keys per writer and kind

inline HybridMemoryConfig EngineWriterConfig(const std::string& persistent_dir, const std::string& ramlake_dir) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = persistent_dir;
  c.persistent_size_tb = 1.0 / 1024;  // 1 GiB budget: no dependence on free space
  c.ramlake_path = ramlake_dir;
  c.ramlake_size_gb = 64.0 / 1024;  // 64 MiB
  c.cache_size_mb = 8;
  c.max_ram_entries = 100000;
  c.wal.segment_size_mb = 1;  // small segments: checkpoints release some often
  return c;
}

struct EngineWriterOp {
  enum class Type : std::uint8_t { kStoreCode, kDeleteCode, kStoreContext, kPutMetadata, kDeleteMetadata };
  Type type = Type::kPutMetadata;
  char group = 'm';   // 'c' code, 'h' history (context), 'm' metadata: which keys it touches
  std::string key;    // the path, session id or metadata key
  std::string value;  // code content or metadata value
  std::string language;
  std::vector<std::string> messages;
};

inline std::uint64_t EngineWriterMix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::string EngineWriterKey(int writer, char group, int slot) {
  const std::string w = "w" + std::to_string(writer);
  switch (group) {
    case 'c': return w + "/src/file" + std::to_string(slot) + ".cc";
    case 'h': return w + "-session-" + std::to_string(slot);
    default: return w + "/meta/" + std::to_string(slot);
  }
}

inline EngineWriterOp EngineWriterOpFor(int writer, std::uint64_t i) {
  const std::uint64_t r = EngineWriterMix((static_cast<std::uint64_t>(writer) << 48) ^ i);
  const int slot = static_cast<int>((r >> 8) % kEngineWriterSlots);
  const unsigned pick = static_cast<unsigned>(r % 100);
  const std::string tag = "w" + std::to_string(writer) + "#" + std::to_string(i) + ":";
  EngineWriterOp op;
  if (pick < 40) {
    op.type = pick < 35 ? EngineWriterOp::Type::kStoreCode : EngineWriterOp::Type::kDeleteCode;
    op.group = 'c';
    op.key = EngineWriterKey(writer, 'c', slot);
    if (op.type == EngineWriterOp::Type::kStoreCode) {
      // Mostly small files; one in 40 is larger than a RAM-Lake record of this
      // config can be, so it lives on disk only.
      const std::size_t size = (r >> 16) % 40 == 0 ? 40000 + (r >> 24) % 20000 : 20 + (r >> 24) % 3000;
      op.value = tag;
      while (op.value.size() < size) op.value += "int f" + std::to_string(op.value.size()) + "();\n";
      op.value.resize(size);
      op.language = (r >> 40) % 2 ? "cpp" : "c";
    }
  } else if (pick < 65) {
    op.type = EngineWriterOp::Type::kStoreContext;
    op.group = 'h';
    op.key = EngineWriterKey(writer, 'h', slot);
    const int count = static_cast<int>((r >> 16) % 5);  // 0..4 messages: empty contexts too
    for (int m = 0; m < count; ++m) {
      op.messages.push_back(tag + "message " + std::to_string(m) + std::string((r >> (20 + m)) % 400, 'm'));
    }
  } else {
    op.type = pick < 95 ? EngineWriterOp::Type::kPutMetadata : EngineWriterOp::Type::kDeleteMetadata;
    op.group = 'm';
    op.key = EngineWriterKey(writer, 'm', slot);
    if (op.type == EngineWriterOp::Type::kPutMetadata) op.value = tag + std::string((r >> 16) % 200, 'v');
  }
  return op;
}

// The canonical state an op leaves its key in: nullopt when the key is absent.
// Code: content + '\0' + language; context: each message length-prefixed.
inline std::string EngineWriterCodeState(const std::string& content, const std::string& language) {
  return content + std::string(1, '\0') + language;
}
inline std::string EngineWriterContextState(const std::vector<std::string>& messages) {
  std::string s = std::to_string(messages.size()) + ";";
  for (const auto& m : messages) s += std::to_string(m.size()) + ":" + m;
  return s;
}
inline std::optional<std::string> EngineWriterStateAfter(const EngineWriterOp& op) {
  switch (op.type) {
    case EngineWriterOp::Type::kStoreCode: return EngineWriterCodeState(op.value, op.language);
    case EngineWriterOp::Type::kStoreContext: return EngineWriterContextState(op.messages);
    case EngineWriterOp::Type::kPutMetadata: return op.value;
    case EngineWriterOp::Type::kDeleteCode:
    case EngineWriterOp::Type::kDeleteMetadata: return std::nullopt;
  }
  return std::nullopt;
}

// The record the child writes to its stdout after each acknowledged op.
inline std::uint64_t EngineWriterAck(int writer, std::uint64_t i) {
  return (static_cast<std::uint64_t>(writer) << 56) | i;
}

}  // namespace postdevai::testing
