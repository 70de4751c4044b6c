// What tests/helpers/durable_writer.cc and its test agree on.
#pragma once

#include <string>

#include "storage/durable_store.h"

namespace postdevai::testing {

inline storage::DurableStoreOptions DurableWriterOptions(const std::string& dir) {
  storage::DurableStoreOptions o;
  o.wal_dir = dir + "/wal";
  o.wal_segment_size = 256 * 1024;
  o.store.path = dir + "/store";
  o.store.write_buffer_size = 64 * 1024;  // many memtable rollovers
  o.store.cache_size_mb = 8;
  return o;
}

inline std::string DurableWriterValue(std::uint64_t i) {
  std::string v = "value-" + std::to_string(i) + "|";
  v.append(100 + i % 700, static_cast<char>('a' + i % 26));
  return v;
}

}  // namespace postdevai::testing
