#include "programs/node_options.h"

namespace postdevai {

storage::DurableStoreOptions DurableStoreOptionsFromConfig(const HybridMemoryConfig& config) {
  storage::DurableStoreOptions o;
  o.wal_dir = config.WalPath();
  o.wal_segment_size = config.WalSegmentBytes();
  o.wal_archive = config.wal.archive;
  o.wal_archive_dir = config.WalArchivePath();
  o.store.path = config.persistent_path + "/store";
  o.store.cache_size_mb = config.cache_size_mb;
  o.store.compression = config.compression == Compression::kZstd;
  for (DataKind kind : kAllDataKinds) {
    o.store.kinds[DataKindIndex(kind)].level = config.partition(kind).zstd_level;
  }
  return o;
}

}  // namespace postdevai
