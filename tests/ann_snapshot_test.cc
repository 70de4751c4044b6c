// Restart without a rebuild: VectorIndex snapshots (the graph included) load
// back to the same answers, and VectorCatalog::Restore reconciles a snapshot
// with the store — records written, replaced and removed since are applied —
// and rebuilds, with a log line, from a corrupt, truncated, foreign or stale
// snapshot. The oracle is a catalog rebuilt from the same store.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/vector_catalog.h"
#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"
#include "records/stored_values.h"
#include "storage/file_system.h"
#include "storage/persistent_store.h"
#include "storage/ramlake/ramlake_partition.h"
#include "tests/test_util.h"

namespace postdevai {
namespace {

constexpr std::size_t kDim = 32;

std::vector<float> RandomUnit(std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(kDim);
  float norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

std::vector<float> Chunks(std::size_t count, std::mt19937_64& rng) {
  std::vector<float> values;
  for (std::size_t c = 0; c < count; ++c) {
    const auto v = RandomUnit(rng);
    values.insert(values.end(), v.begin(), v.end());
  }
  return values;
}

}  // namespace

TEST_CASE("a vector index snapshot loads back to the same answers and keeps taking writes") {
  VectorIndexOptions options;
  options.model = "m";
  options.dimension = kDim;
  options.keep_full_precision = true;
  options.graph_min_vectors = 500;  // the graph answers
  auto original = std::move(*VectorIndex::Create(options));
  std::mt19937_64 rng(1);
  std::vector<std::vector<float>> vectors;
  for (std::uint64_t id = 0; id < 3000; ++id) {
    vectors.push_back(RandomUnit(rng));
    const VectorAttributes a{VectorOwnerKind::kCodeChunk, "f" + std::to_string(id / 10), id % 2 ? "cpp" : "go", {}};
    REQUIRE(original->Add("m", VectorEntry{id, vectors.back(), a}).ok());
  }
  // Holes and replacements: free slots and relinked nodes are part of the state.
  for (std::uint64_t id = 0; id < 3000; id += 7) REQUIRE(original->Remove(id));
  for (std::uint64_t id = 3; id < 3000; id += 11) {
    vectors[id] = RandomUnit(rng);
    const VectorAttributes a{VectorOwnerKind::kCodeChunk, "f" + std::to_string(id / 10), "rust", {}};
    REQUIRE(original->Add("m", VectorEntry{id, vectors[id], a}).ok());
  }
  std::string snapshot;
  original->Serialize(&snapshot);

  auto loaded = std::move(*VectorIndex::Create(options));
  REQUIRE(loaded->Deserialize(snapshot).ok());
  REQUIRE(loaded->size() == original->size());
  VectorSearchOptions search;
  REQUIRE(loaded->UsesGraph(search));
  VectorSearchOptions filtered;
  filtered.filter.language = "rust";
  for (int q = 0; q < 30; ++q) {
    const auto query = RandomUnit(rng);
    for (const auto& o : {search, filtered}) {
      auto a = original->Search("m", query, o, nullptr);
      auto b = loaded->Search("m", query, o, nullptr);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      REQUIRE(a->size() == b->size());
      for (std::size_t i = 0; i < a->size(); ++i) CHECK((*a)[i].id == (*b)[i].id);
    }
  }
  // The loaded index takes writes like the original: both give the same
  // answers after the same inserts and removals.
  for (std::uint64_t id = 5000; id < 5200; ++id) {
    const auto v = RandomUnit(rng);
    const VectorAttributes a{VectorOwnerKind::kCodeChunk, "g" + std::to_string(id), "cpp", {}};
    REQUIRE(original->Add("m", VectorEntry{id, v, a}).ok());
    REQUIRE(loaded->Add("m", VectorEntry{id, v, a}).ok());
    CHECK(original->Remove(id - 4000) == loaded->Remove(id - 4000));
  }
  for (int q = 0; q < 20; ++q) {
    const auto query = RandomUnit(rng);
    auto a = original->Search("m", query, search, nullptr);
    auto b = loaded->Search("m", query, search, nullptr);
    REQUIRE(a->size() == b->size());
    for (std::size_t i = 0; i < a->size(); ++i) CHECK((*a)[i].id == (*b)[i].id);
  }

  SECTION("another index's options are refused") {
    VectorIndexOptions other = options;
    other.graph_degree = 8;
    auto index = std::move(*VectorIndex::Create(other));
    const Status s = index->Deserialize(snapshot);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(index->size() == 0);
  }
  SECTION("a truncated snapshot is refused at any cut, and the index stays as it was") {
    for (std::size_t cut : {std::size_t{0}, std::size_t{3}, snapshot.size() / 3, snapshot.size() / 2,
                            snapshot.size() - 1}) {
      auto index = std::move(*VectorIndex::Create(options));
      CHECK_FALSE(index->Deserialize(std::string_view(snapshot).substr(0, cut)).ok());
      CHECK(index->size() == 0);
    }
  }
}

namespace {

struct StoreFixture {
  StoreFixture() : dir("ann-snapshot") {
    storage::PersistentStoreOptions o;
    o.path = dir / "store";
    store = std::move(*storage::PersistentStore::Open(o));
    config.model = "m";
    config.dimension = kDim;
  }
  void PutFile(std::size_t file, std::size_t chunks, const std::string& language = "cpp") {
    records::FileVectors f;
    f.model = "m";
    f.dimension = kDim;
    f.path = "src/file" + std::to_string(file) + ".cc";
    f.language = language;
    f.values = Chunks(chunks, rng);
    REQUIRE(store->Put(DataKind::kVectors, CodeIdForPath(f.path), records::EncodeFileVectors(f), ++lsn).ok());
  }
  void DeleteFile(std::size_t file) {
    REQUIRE(store->Delete(DataKind::kVectors, CodeIdForPath("src/file" + std::to_string(file) + ".cc"), ++lsn).ok());
  }
  void PutSession(const std::string& session, std::size_t messages) {
    records::FileVectors f;
    f.owner = records::FileVectors::kSession;
    f.model = "m";
    f.dimension = kDim;
    f.session = session;
    f.values = Chunks(messages, rng);
    REQUIRE(store->Put(DataKind::kVectors, records::SessionVectorsKey(session), records::EncodeFileVectors(f), ++lsn)
                .ok());
  }
  std::unique_ptr<actors::VectorCatalog> Rebuilt() {
    auto c = std::move(*actors::VectorCatalog::Create(config));
    REQUIRE(c->Rebuild(*store).ok());
    return c;
  }
  actors::VectorCatalog::RestoreReport Restore(actors::VectorCatalog* c, std::uint64_t identity = 7) {
    auto report = c->Restore(storage::FileSystem::Default(), snapshot(), *store, identity);
    REQUIRE(report.ok());
    return *report;
  }
  std::string snapshot() const { return dir / "vectors.index"; }

  testing::TempDir dir;
  std::unique_ptr<storage::PersistentStore> store;
  VectorsConfig config;
  std::mt19937_64 rng{5};
  std::uint64_t lsn = 0;
};

// Same vectors (keys, chunks, attributes, candidates for a few queries) in
// both. Ids are compared through their keys: each catalog gives out its own
// id prefixes, in the order it first saw the keys.
void CheckSameIndex(const actors::VectorCatalog& got, const actors::VectorCatalog& want, std::mt19937_64& rng) {
  REQUIRE(got.index().size() == want.index().size());
  for (int q = 0; q < 10; ++q) {
    const auto query = RandomUnit(rng);
    VectorSearchOptions o;
    o.rerank_candidates = 1000;  // every vector: the whole ranking is compared
    auto a = got.index().FindCandidates("m", query, o);
    auto b = want.index().FindCandidates("m", query, o);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(a->ids.size() == b->ids.size());
    for (std::size_t i = 0; i < a->ids.size(); ++i) {
      CHECK(a->approximate_scores[i] == b->approximate_scores[i]);
      auto ga = got.index().Attributes(a->ids[i]);
      auto wa = want.index().Attributes(b->ids[i]);
      REQUIRE(ga.ok());
      REQUIRE(wa.ok());
      CHECK(*ga == *wa);
      const auto got_key = got.KeyOf(a->ids[i]);
      REQUIRE(got_key.has_value());
      CHECK(got_key == want.KeyOf(b->ids[i]));
      CHECK(actors::VectorCatalog::ChunkOf(a->ids[i]) == actors::VectorCatalog::ChunkOf(b->ids[i]));
    }
  }
}

}  // namespace

TEST_CASE("a catalog restores from its snapshot and applies only what the store changed since") {
  StoreFixture f;
  for (std::size_t file = 0; file < 40; ++file) f.PutFile(file, 12);
  f.PutSession("s1", 9);
  f.PutSession("s2", 4);

  // First open: no snapshot, so a build from the store; then saved.
  auto first = std::move(*actors::VectorCatalog::Create(f.config));
  auto report = f.Restore(first.get());
  CHECK(report.rebuilt);
  REQUIRE(first->SaveSnapshot(storage::FileSystem::Default(), f.snapshot(), 7).ok());
  CHECK((std::filesystem::status(f.snapshot()).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  // Unchanged store: loaded, nothing re-applied.
  {
    auto c = std::move(*actors::VectorCatalog::Create(f.config));
    report = f.Restore(c.get());
    CHECK_FALSE(report.rebuilt);
    CHECK(report.reapplied == 0);
    CHECK(report.removed == 0);
    CheckSameIndex(*c, *f.Rebuilt(), f.rng);
  }

  // Writes after the snapshot (as after a crash that lost no acknowledged
  // write but came after the last snapshot): a replaced file, a removed
  // file, a new file, a replaced session, a removed session.
  f.PutFile(3, 5, "python");
  f.DeleteFile(5);
  f.PutFile(100, 7);
  f.PutSession("s1", 2);
  REQUIRE(f.store->Delete(DataKind::kVectors, records::SessionVectorsKey("s2"), ++f.lsn).ok());
  auto c = std::move(*actors::VectorCatalog::Create(f.config));
  report = f.Restore(c.get());
  CHECK_FALSE(report.rebuilt);
  CHECK(report.reapplied == 3);
  CHECK(report.removed == 2);
  CheckSameIndex(*c, *f.Rebuilt(), f.rng);
}

TEST_CASE("with the WAL replay's proof a restore reads only the keys changed after the snapshot's LSN") {
  StoreFixture f;
  for (std::size_t file = 0; file < 40; ++file) f.PutFile(file, 12);
  f.PutSession("s1", 9);
  f.PutSession("s2", 4);
  const std::uint64_t checkpoint = f.lsn - 10;  // replay starts before the snapshot: the proof holds
  storage::ramlake::ChangedKeys changed;
  for (std::size_t file = 30; file < 40; ++file) {  // written before the snapshot, replayed after the checkpoint
    changed.Note(CodeIdForPath("src/file" + std::to_string(file) + ".cc"), checkpoint + file - 29, false);
  }
  auto first = f.Rebuilt();
  const std::uint64_t through = f.lsn;
  REQUIRE(first->SaveSnapshot(storage::FileSystem::Default(), f.snapshot(), 7, through).ok());

  // After the snapshot: a replaced file, a removed file, a new file, a
  // removed session; each noted as the replay would.
  auto note = [&](const std::string& key, bool erased) { changed.Note(key, f.lsn, erased); };
  f.PutFile(3, 5, "python");
  note(CodeIdForPath("src/file3.cc"), false);
  f.DeleteFile(5);
  note(CodeIdForPath("src/file5.cc"), true);
  f.PutFile(100, 7);
  note(CodeIdForPath("src/file100.cc"), false);
  REQUIRE(f.store->Delete(DataKind::kVectors, records::SessionVectorsKey("s2"), ++f.lsn).ok());
  note(records::SessionVectorsKey("s2"), true);

  storage::ramlake::WatermarkProof proof;
  proof.checkpoint_lsn = checkpoint;
  proof.end_lsn = f.lsn;
  proof.changed = &changed;
  {
    auto c = std::move(*actors::VectorCatalog::Create(f.config));
    auto report = c->Restore(storage::FileSystem::Default(), f.snapshot(), *f.store, 7, &proof);
    REQUIRE(report.ok());
    CHECK(report->by_watermark);
    CHECK(report->reapplied == 2);  // not the ten files the replay changed before the snapshot
    CHECK(report->removed == 2);
    CheckSameIndex(*c, *f.Rebuilt(), f.rng);
  }
  // A snapshot older than the checkpoint, or of an unknown LSN: the replay
  // does not cover what changed since, so every header is read.
  for (const std::uint64_t older : {checkpoint - 1, std::uint64_t{0}}) {
    REQUIRE(first->SaveSnapshot(storage::FileSystem::Default(), f.snapshot(), 7, older).ok());
    auto c = std::move(*actors::VectorCatalog::Create(f.config));
    auto report = c->Restore(storage::FileSystem::Default(), f.snapshot(), *f.store, 7, &proof);
    REQUIRE(report.ok());
    CHECK_FALSE(report->by_watermark);
    CHECK(report->reapplied == 2);
    CHECK(report->removed == 2);
    CheckSameIndex(*c, *f.Rebuilt(), f.rng);
  }
}

TEST_CASE("a snapshot a backup carried is adopted for the restored store and loads there without a rebuild") {
  StoreFixture f;
  for (std::size_t file = 0; file < 30; ++file) f.PutFile(file, 10);
  auto saved = std::move(*actors::VectorCatalog::Create(f.config));
  REQUIRE(saved->Rebuild(*f.store).ok());
  const std::uint64_t backup_identity = 7, restored_identity = 9;
  const std::uint64_t backup_lsn = f.lsn;
  const std::string carried = f.dir / "backup-vectors.index";
  REQUIRE(saved->SaveSnapshot(storage::FileSystem::Default(), carried, backup_identity).ok());
  auto* fs = storage::FileSystem::Default();

  // Refused: written for another store, reflecting writes after the backup,
  // damaged. Nothing is installed then.
  auto other = actors::VectorCatalog::AdoptSnapshot(fs, carried, 8, backup_lsn, f.snapshot(), restored_identity);
  CHECK(other.IsCorruption());
  CHECK_THAT(other.message(), Catch::Contains("another store"));
  auto later = actors::VectorCatalog::AdoptSnapshot(fs, carried, backup_identity, backup_lsn - 1, f.snapshot(),
                                                    restored_identity);
  CHECK(later.IsCorruption());
  CHECK_THAT(later.message(), Catch::Contains("after the backup's"));
  std::string damaged = testing::ReadFile(carried);
  damaged[damaged.size() / 2] ^= 1;
  const std::string damaged_path = f.dir / "damaged.index";
  testing::WriteFile(damaged_path, damaged);
  auto bad = actors::VectorCatalog::AdoptSnapshot(fs, damaged_path, backup_identity, backup_lsn, f.snapshot(),
                                                  restored_identity);
  CHECK(bad.IsCorruption());
  CHECK_THAT(bad.message(), Catch::Contains("checksum"));
  CHECK_FALSE(std::filesystem::exists(f.snapshot()));

  // Adopted, then the restore replays writes after the backup: the restored
  // store's first open loads the snapshot (under the new identity only) and
  // applies just those.
  REQUIRE(actors::VectorCatalog::AdoptSnapshot(fs, carried, backup_identity, backup_lsn, f.snapshot(),
                                               restored_identity)
              .ok());
  f.PutFile(2, 4);
  f.DeleteFile(7);
  f.PutFile(31, 6);
  auto c = std::move(*actors::VectorCatalog::Create(f.config));
  auto report = f.Restore(c.get(), restored_identity);
  CHECK_FALSE(report.rebuilt);
  CHECK(report.reapplied == 2);
  CHECK(report.removed == 1);
  CheckSameIndex(*c, *f.Rebuilt(), f.rng);
  auto as_before = std::move(*actors::VectorCatalog::Create(f.config));
  CHECK(f.Restore(as_before.get(), backup_identity).rebuilt);  // the old identity no longer matches
}

TEST_CASE("a corrupt, truncated, foreign or stale snapshot is detected and rebuilt with a log line") {
  StoreFixture f;
  for (std::size_t file = 0; file < 30; ++file) f.PutFile(file, 10);
  auto saved = std::move(*actors::VectorCatalog::Create(f.config));
  REQUIRE(saved->Rebuild(*f.store).ok());
  REQUIRE(saved->SaveSnapshot(storage::FileSystem::Default(), f.snapshot(), 7).ok());
  const std::string good = testing::ReadFile(f.snapshot());
  const std::string log = f.dir / "log";
  REQUIRE(ConfigureLogging(LoggingConfig{log, LogLevel::kInfo}).ok());

  struct Case {
    const char* what;
    std::string bytes;
    std::uint64_t identity;
    VectorsConfig config;
    const char* reason;
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;  // inside the quantized codes or the graph
  VectorsConfig unquantized = f.config;
  unquantized.quantization = VectorQuantization::kNone;  // no graph: another index
  const std::vector<Case> cases = {
      {"a flipped byte", flipped, 7, f.config, "checksum"},
      {"a truncated file", good.substr(0, good.size() - 100), 7, f.config, "checksum"},
      {"not a snapshot", "hello", 7, f.config, "magic"},
      {"another store's", good, 8, f.config, "another store"},
      {"other index options", good, 7, unquantized, "options"},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    testing::WriteFile(f.snapshot(), k.bytes);
    auto c = std::move(*actors::VectorCatalog::Create(k.config));
    auto report = c->Restore(storage::FileSystem::Default(), f.snapshot(), *f.store, k.identity);
    REQUIRE(report.ok());
    CHECK(report->rebuilt);
    CHECK(report->why.find(k.reason) != std::string::npos);
    CHECK(c->index().size() == 300);
    const std::string logged = testing::ReadFile(log);
    CHECK(logged.find("vector index snapshot " + f.snapshot() + " unusable") != std::string::npos);
    CHECK(logged.find(k.reason) != std::string::npos);
  }
  REQUIRE(ConfigureLogging(LoggingConfig{}).ok());
  // The intact file still loads.
  testing::WriteFile(f.snapshot(), good);
  auto c = std::move(*actors::VectorCatalog::Create(f.config));
  auto report = f.Restore(c.get());
  CHECK_FALSE(report.rebuilt);
  CheckSameIndex(*c, *f.Rebuilt(), f.rng);
}

}  // namespace postdevai
