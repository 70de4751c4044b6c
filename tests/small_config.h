// The engine config most engine tests start from: embedded defaults shrunk
// to a 1 GiB store and a RAM-Lake of `ramlake_bytes` under `ram_dir`, so that
// nothing depends on the machine's disks or memory.
#pragma once

#include <cstdint>
#include <string>

#include "postdevai/config.h"

namespace postdevai::testing {

inline HybridMemoryConfig SmallEngineConfig(const std::string& disk_dir, const std::string& ram_dir,
                                            std::uint64_t ramlake_bytes = std::uint64_t{64} << 20) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = disk_dir;
  c.persistent_size_tb = 1.0 / 1024;  // 1 GiB
  c.ramlake_path = ram_dir + "/ramlake";
  c.ramlake_size_gb = double(ramlake_bytes) / double(std::uint64_t{1} << 30);
  c.cache_size_mb = 8;
  c.wal.segment_size_mb = 1;
  return c;
}

}  // namespace postdevai::testing
