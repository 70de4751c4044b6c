// A small engine configuration shared by engine tests and their child programs.
#pragma once

#include <string>

#include "postdevai/config.h"

namespace postdevai::testing {

inline HybridMemoryConfig SmallEngineConfig(const std::string& persistent_dir, const std::string& ramlake_dir) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = persistent_dir;
  c.ramlake_path = ramlake_dir;
  c.ramlake_size_gb = 64.0 / 1024;  // 64 MiB
  c.cache_size_mb = 8;
  c.max_ram_entries = 100000;
  c.wal.segment_size_mb = 1;
  return c;
}

inline std::string HotValue(int i) { return "hot value " + std::to_string(i) + std::string(200 + i % 300, 'h'); }

}  // namespace postdevai::testing
