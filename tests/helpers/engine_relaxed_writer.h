// What tests/helpers/engine_relaxed_writer.cc (the child that gets killed) and
// tests/relaxed_durability_test.cc (the parent that checks) agree on.
//
// One writer thread performs op 0, 1, 2, ... in order: every fourth op stores
// a session context (history: always durable), the others put a metadata key
// (metadata: durability "relaxed" here, synced within kRelaxedSyncMs). After
// each acknowledged op the child writes its index as 8 raw bytes to stdout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "postdevai/config.h"

namespace postdevai::testing {

inline constexpr std::uint32_t kRelaxedSyncMs = 20;

inline HybridMemoryConfig RelaxedWriterConfig(const std::string& persistent_dir, const std::string& ramlake_dir) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = persistent_dir;
  c.persistent_size_tb = 1.0 / 1024;
  c.ramlake_path = ramlake_dir;
  c.ramlake_size_gb = 64.0 / 1024;
  c.cache_size_mb = 8;
  c.max_ram_entries = 100000;
  c.wal.segment_size_mb = 1;
  c.wal.relaxed_sync_ms = kRelaxedSyncMs;
  c.partition(DataKind::kMetadata).durability = Durability::kRelaxed;
  c.partition(DataKind::kCode).durability = Durability::kRelaxed;
  return c;
}

inline bool RelaxedOpIsDurable(std::uint64_t i) { return i % 4 == 0; }
inline std::string RelaxedOpKey(std::uint64_t i) {
  return (RelaxedOpIsDurable(i) ? "session-" : "meta/") + std::to_string(i);
}
inline std::string RelaxedOpValue(std::uint64_t i) { return "value of op " + std::to_string(i) + std::string(i % 97, '+'); }

}  // namespace postdevai::testing
