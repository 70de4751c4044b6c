// ReplayApplier (storage/cold_tier.h) under ThreadSanitizer: a restart's
// replay reads and decodes records on the caller's thread while the
// applier's thread writes the batches before them to the store. Built into
// read_view_tsan_test with the storage sources instrumented; the replay's
// results are checked by tests/durable_store_test.cc as well.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "storage/cold_tier.h"
#include "storage/persistent_store.h"
#include "storage/wal.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;

TEST_CASE("a replay spanning many store batches applies every record in order", "[replay][tsan]") {
  testing::TempDir dir("replay-applier");
  WalOptions wal_options;
  wal_options.dir = dir / "wal";
  wal_options.segment_size = 1 << 20;
  constexpr int kRecords = 20000, kKeys = 700;
  {
    auto wal = Wal::Open(wal_options, 0, nullptr);
    REQUIRE(wal.ok());
    for (int i = 0; i < kRecords; i += 500) {
      std::vector<std::string> payloads;
      for (int j = i; j < i + 500; ++j) {
        const std::string key = "k" + std::to_string(j % kKeys);
        payloads.push_back(EncodeMutations({Mutation{Kind::kCode, key, "value " + std::to_string(j)}}));
      }
      std::vector<WalEntry> batch;
      for (const auto& p : payloads) batch.push_back({kWalRecordMutations, p});
      REQUIRE((*wal)->AppendBatch(batch).ok());
    }
  }
  PersistentStoreOptions store_options;
  store_options.path = dir / "store";
  store_options.write_buffer_size = 256 << 10;  // memtable switches during the replay too
  auto store = PersistentStore::Open(store_options);
  REQUIRE(store.ok());
  (*store)->set_auto_training(false);
  DurableStoreRecovery recovery;
  auto wal = RecoverColdTier(**store, wal_options, &recovery);
  INFO(wal.status().ToString());
  REQUIRE(wal.ok());
  CHECK(recovery.wal.replayed == kRecords);
  // Each key holds its last write.
  for (int k = 0; k < kKeys; ++k) {
    const int last = k + ((kRecords - 1 - k) / kKeys) * kKeys;
    auto got = (*store)->Get(Kind::kCode, "k" + std::to_string(k));
    REQUIRE(got.ok());
    REQUIRE(*got == "value " + std::to_string(last));
  }
}
