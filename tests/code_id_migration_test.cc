// A store written with the old 64-bit FNV code ids opens with every file
// found by path, its vectors searchable, and anything that only looks like an
// old id left where it is; the move runs once.
//
// The old store is made from a current one: each file's code and vectors
// records are moved back under their old ids through the store API and the
// format property is removed, which is exactly what a store from before the
// change holds.
#include <catch2/catch.hpp>

#include <leveldb/db.h>

#include <string>
#include <vector>

#include "actors/code_id_migration.h"
#include "postdevai/hybrid_memory.h"
#include "records/stored_values.h"
#include "storage/key_schema.h"
#include "storage/persistent_store.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::TempDir;

namespace {

HybridMemoryConfig Config(const TempDir& disk, const TempDir& ram) {
  return testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
}

std::unique_ptr<storage::PersistentStore> OpenStore(const TempDir& disk) {
  storage::PersistentStoreOptions o;
  o.path = disk / "store";
  auto store = storage::PersistentStore::Open(o);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

std::string PathOf(int i) { return "src/module" + std::to_string(i) + "/file.cc"; }
std::string ContentOf(int i) { return "int function_" + std::to_string(i) + "() { return widget_" + std::to_string(i) + "; }\n"; }

}  // namespace

TEST_CASE("a store with the old FNV code ids is moved to SHA-256 ids once, and every file is found", "[migration]") {
  TempDir disk("code-ids");
  TempDir first_ram("code-ids", "/dev/shm");
  constexpr int kFiles = 30;
  // A code record whose key has the shape of an old id but is not the old id
  // of the path it holds: it must stay under its key.
  const std::string decoy_key = "0123456789abcdef";
  {
    auto memory = HybridMemory::Open(Config(disk, first_ram));
    REQUIRE(memory.ok());
    for (int i = 0; i < kFiles; ++i) {
      if (i % 3 == 0) {
        REQUIRE((*memory)->StoreCode(PathOf(i), ContentOf(i), "cpp").ok());
      } else {
        REQUIRE((*memory)->StoreAndIndexCodeLexical(PathOf(i), ContentOf(i), "cpp").ok());
      }
    }
  }
  {
    auto store = OpenStore(disk);
    for (int i = 0; i < kFiles; ++i) {
      const std::string new_id = CodeIdForPath(PathOf(i));
      const std::string old_id = actors::LegacyCodeIdForPath(PathOf(i));
      REQUIRE(new_id.size() == 32);
      REQUIRE(old_id.size() == 16);
      for (DataKind kind : {DataKind::kCode, DataKind::kVectors}) {
        auto record = store->GetWithLsn(kind, new_id);
        if (kind == DataKind::kVectors && i % 3 == 0) {
          REQUIRE(record.status().IsNotFound());
          continue;
        }
        REQUIRE(record.ok());
        REQUIRE(store->Put(kind, old_id, record->value, record->lsn).ok());
        REQUIRE(store->Delete(kind, new_id, record->lsn).ok());
      }
    }
    REQUIRE(store->Put(DataKind::kCode, decoy_key, records::EncodeCode("decoy.cc", "cpp", "decoy"),
                       store->LastAppliedLsn())
                .ok());
    REQUIRE(store->Checkpoint(store->LastAppliedLsn()).ok());
  }
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), disk / "store", &raw).ok());
    leveldb::WriteOptions sync;
    sync.sync = true;
    REQUIRE(raw->Delete(sync, storage::PropertyKey("code_ids")).ok());
    delete raw;
  }

  // A fresh RAM disk: the old RAM-Lake files still hold the new ids.
  TempDir second_ram("code-ids", "/dev/shm");
  {
    auto memory = HybridMemory::Open(Config(disk, second_ram));
    INFO(memory.status().ToString());
    REQUIRE(memory.ok());
    for (int i = 0; i < kFiles; ++i) {
      INFO(PathOf(i));
      auto code = (*memory)->GetCodeByPath(PathOf(i));
      REQUIRE(code.ok());
      CHECK(code->content == ContentOf(i));
      CHECK(code->id == CodeIdForPath(PathOf(i)));
      CHECK((*memory)->GetCode(actors::LegacyCodeIdForPath(PathOf(i))).status().IsNotFound());
    }
    auto decoy = (*memory)->GetCode(decoy_key);
    REQUIRE(decoy.ok());
    CHECK(decoy->path == "decoy.cc");
    // The moved vectors are indexed under the new ids.
    auto hits = (*memory)->SearchText("function_7 widget_7", 3);
    REQUIRE(hits.ok());
    REQUIRE_FALSE(hits->empty());
    CHECK(hits->front().path == PathOf(7));
    CHECK(hits->front().id == CodeIdForPath(PathOf(7)));
  }
  // The move is recorded, and a second pass over the whole store (forced by
  // another property value) finds nothing left to move.
  auto store = OpenStore(disk);
  CHECK(store->GetProperty("code_ids").value() == "sha256-128");
  REQUIRE(store->SetProperty("code_ids", "forced-rescan").ok());
  auto again = actors::MoveLegacyCodeIds(*store, [](DataKind, std::string_view key, std::uint64_t, bool) {
    FAIL("moved " << key << " twice");
  });
  REQUIRE(again.ok());
  CHECK(*again == 0);
  CHECK(store->GetProperty("code_ids").value() == "sha256-128");
}
