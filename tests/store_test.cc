// Persistent store (cold tier): real LevelDB on disk under /tmp, all of its
// I/O through our FileSystem seam, faults and power cuts through the
// FaultInjectionFileSystem.
#include <catch2/catch.hpp>

#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/write_batch.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/cold_tier.h"
#include "storage/fault_injection_file_system.h"
#include "storage/key_schema.h"
#include "storage/leveldb_env.h"
#include "storage/persistent_store.h"
#include "storage/value_codec.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using postdevai::testing::TempDir;

namespace {

// "prefix" + number, spelled so that GCC 12 at -O3 does not raise its false
// -Wrestrict alarm on `"literal" + std::to_string(n)` (GCC PR105329).
std::string Numbered(std::string_view prefix, std::uint64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

PersistentStoreOptions OptionsAt(const std::string& path, FileSystem* fs = FileSystem::Default()) {
  PersistentStoreOptions o;
  o.path = path;
  o.file_system = fs;
  o.cache_size_mb = 8;
  o.dictionary_training_records = 0;  // tests that want training ask for it
  return o;
}

std::unique_ptr<PersistentStore> OpenOrFail(const PersistentStoreOptions& options) {
  auto store = PersistentStore::Open(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

std::string GetOrFail(const PersistentStore& store, Kind kind, const std::string& key) {
  auto v = store.Get(kind, key);
  INFO(DataKindName(kind) << " " << key << ": " << v.status().ToString());
  REQUIRE(v.ok());
  return *v;
}

std::string CodeChunk(std::mt19937_64& rng, std::size_t bytes) {
  static const char* lines[] = {
      "  if (!status.ok()) return status;\n",
      "  for (std::size_t i = 0; i < count; ++i) {\n",
      "#include <vector>\n",
      "  auto result = store->Get(Kind::kCode, key);\n",
      "  // Keeps the newest value of every key.\n",
      "}\n\n",
      "template <class T> class Result;\n",
  };
  std::string out;
  while (out.size() < bytes) {
    out += lines[rng() % (sizeof lines / sizeof lines[0])];
    out += Numbered("  int v", rng() % 500) + Numbered(" = ", rng() % 10000) + ";\n";
  }
  out.resize(bytes);
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

FaultRule Fault(FaultOp op, StatusCode code, std::string path_contains = "", int count = -1, bool short_write = false) {
  FaultRule rule;
  rule.op = op;
  rule.code = code;
  rule.path_contains = std::move(path_contains);
  rule.count = count;
  rule.short_write = short_write;
  return rule;
}

// Stops LevelDB's background thread (one per process, shared by every DB:
// leveldb::Env::Default(), to which our Env delegates Schedule) until
// Release(), so that a rolled-over memtable stays unflushed.
class BackgroundThreadGate {
 public:
  void Block() {
    leveldb::Env::Default()->Schedule(
        [](void* arg) {
          auto* gate = static_cast<BackgroundThreadGate*>(arg);
          std::unique_lock lock(gate->mu_);
          gate->blocked_ = true;
          gate->cv_.notify_all();
          gate->cv_.wait(lock, [gate] { return gate->released_; });
        },
        this);
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return blocked_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  ~BackgroundThreadGate() { Release(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  bool released_ = false;
};

// A power cut: nothing reaches the disk from now on, the store goes away
// (LevelDB's destructor and background work hit the injected faults), then
// every unsynced byte and every unsynced directory entry is undone.
void PowerCut(FaultInjectionFileSystem& fs, std::unique_ptr<PersistentStore>& store) {
  for (FaultOp op : {FaultOp::kCreate, FaultOp::kWrite, FaultOp::kSync, FaultOp::kRename, FaultOp::kRemove,
                     FaultOp::kSyncDir, FaultOp::kTruncate}) {
    fs.InjectFault(Fault(op, StatusCode::kIoError));
  }
  store.reset();
  fs.ClearFaults();
  REQUIRE(fs.DropUnsyncedData().ok());
}

}  // namespace

TEST_CASE("key schema keeps kinds and internal keys apart", "[store]") {
  for (Kind kind : kAllKinds) {
    std::string key = EncodeKey(kind, "same");
    auto decoded = DecodeKey(key);
    REQUIRE(decoded);
    CHECK(decoded->kind == kind);
    CHECK(decoded->user_key == "same");
    KeyRange range = KindRange(kind);
    CHECK(key >= range.begin);
    CHECK(key < range.end);
    CHECK(EncodeKey(kind, "\xff\xff\xff") < range.end);
    CHECK(CheckpointLsnKey() < range.begin);
    CHECK(DictionaryKey(0xffffffff) < range.begin);
    CHECK(range.end <= KeyPastEverything());
    CHECK(DataKindFromName(DataKindName(kind)) == kind);
  }
  CHECK_FALSE(DecodeKey(CheckpointLsnKey()));
  CHECK(DictionaryIdFromKey(DictionaryKey(77)) == 77u);
  CHECK_FALSE(DictionaryIdFromKey(CheckpointLsnKey()));
}

TEST_CASE("status conversion to LevelDB and back keeps the code and message", "[store]") {
  for (Status s : {Status::NotFound("a"), Status::Corruption("b"), Status::InvalidArgument("c"),
                   Status::IoError("d"), Status::NoSpace("write x: No space left on device"), Status::Busy("f"),
                   Status::TooLarge("g"), Status::Closed("h"), Status::Unavailable("i")}) {
    Status back = FromLevelDbStatus(ToLevelDbStatus(s));
    CHECK(back.code() == s.code());
    CHECK(back.message() == s.message());
  }
  CHECK(FromLevelDbStatus(ToLevelDbStatus(Status::Ok())).ok());
}

TEST_CASE("values round-trip per kind, and kinds never mix", "[store]") {
  TempDir dir("store");
  auto store = OpenOrFail(OptionsAt(dir.path()));
  std::uint64_t lsn = 0;
  for (Kind kind : kAllKinds) {
    for (int i = 0; i < 50; ++i) {
      std::string value = std::string(DataKindName(kind)) + Numbered(" value ", i) + std::string(i * 10, 'x');
      REQUIRE(store->Put(kind, Numbered("key", i), value, ++lsn).ok());
    }
  }
  REQUIRE(store->Put(Kind::kHistory, "only-history", "h", ++lsn).ok());
  REQUIRE(store->Put(Kind::kCode, std::string("bin\0ary", 7), std::string("\0\1\2", 3), ++lsn).ok());

  auto check_all = [&](PersistentStore& s) {
    std::uint64_t expect_lsn = 0;
    for (Kind kind : kAllKinds) {
      for (int i = 0; i < 50; ++i) {
        ++expect_lsn;
        auto v = s.Get(kind, Numbered("key", i));
        REQUIRE(v.ok());
        CHECK(*v == std::string(DataKindName(kind)) + Numbered(" value ", i) + std::string(i * 10, 'x'));
        auto l = s.GetLsn(kind, Numbered("key", i));
        REQUIRE(l.ok());
        CHECK(*l == expect_lsn);
      }
    }
    CHECK(s.Get(Kind::kCode, "only-history").status().IsNotFound());
    CHECK(s.Get(Kind::kHistory, "only-history").ok());
    auto bin = s.Get(Kind::kCode, std::string("bin\0ary", 7));
    REQUIRE(bin.ok());
    CHECK(*bin == std::string("\0\1\2", 3));
  };
  check_all(*store);
  store.reset();
  store = OpenOrFail(OptionsAt(dir.path()));
  check_all(*store);

  // Delete removes from one kind only.
  REQUIRE(store->Delete(Kind::kCode, "key3", ++lsn).ok());
  CHECK(store->Get(Kind::kCode, "key3").status().IsNotFound());
  CHECK(store->Get(Kind::kVectors, "key3").ok());
  CHECK(store->LastAppliedLsn() == lsn);
}

TEST_CASE("a batch applies puts and deletes in order, oversized values refuse the whole batch", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.max_value_bytes = 1 << 20;
  auto store = OpenOrFail(options);
  StoreWriteBatch batch;
  batch.Put(Kind::kMetadata, "a", "1", 1);
  batch.Put(Kind::kMetadata, "b", "2", 2);
  batch.Delete(Kind::kMetadata, "a", 3);
  batch.Put(Kind::kMetadata, "c", "3", 4);
  REQUIRE(store->Write(batch).ok());
  CHECK(store->Get(Kind::kMetadata, "a").status().IsNotFound());
  CHECK(GetOrFail(*store, Kind::kMetadata, "b") == "2");
  CHECK(GetOrFail(*store, Kind::kMetadata, "c") == "3");

  StoreWriteBatch big;
  big.Put(Kind::kMetadata, "d", "4", 5);
  big.Put(Kind::kCode, "huge", std::string((1 << 20) + 1, 'z'), 6);
  Status s = store->Write(big);
  CHECK(s.code() == StatusCode::kTooLarge);
  CHECK(s.message().find("code key \"huge\"") != std::string::npos);
  CHECK(store->Get(Kind::kMetadata, "d").status().IsNotFound());
}

TEST_CASE("iteration, counts and sizes stay within their kind", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.write_buffer_size = 256 << 10;
  auto store = OpenOrFail(options);
  std::mt19937_64 rng(5);
  std::map<Kind, std::map<std::string, std::string>> expected;
  const std::map<Kind, int> counts = {{Kind::kVectors, 300}, {Kind::kCode, 500}, {Kind::kHistory, 40},
                                      {Kind::kMetadata, 0}};
  std::uint64_t lsn = 0;
  for (auto [kind, n] : counts) {
    for (int i = 0; i < n; ++i) {
      std::string key = Numbered("k", i);
      std::string value = kind == Kind::kVectors ? RandomBytes(rng, 3072) : CodeChunk(rng, 1000 + rng() % 1000);
      expected[kind][key] = value;
      REQUIRE(store->Put(kind, key, value, ++lsn).ok());
    }
  }
  REQUIRE(store->Compact().ok());  // so that the on-disk estimate sees everything

  for (auto [kind, n] : counts) {
    INFO(DataKindName(kind));
    std::map<std::string, std::string> seen;
    REQUIRE(store->ForEach(kind, [&](const StoredRecord& r) {
      seen.emplace(std::string(r.key), std::string(r.value));
      return true;
    }).ok());
    CHECK(seen == expected[kind]);

    auto stats = store->Stats(kind);
    REQUIRE(stats.ok());
    CHECK(stats->entries == static_cast<std::uint64_t>(n));
    std::uint64_t raw = 0;
    for (auto& [k, v] : expected[kind]) raw += v.size();
    CHECK(stats->raw_bytes == raw);
    if (kind == Kind::kCode) {
      CHECK(stats->compression_ratio() > 2.0);
      CHECK(stats->approximate_disk_bytes > stats->stored_bytes / 2);
      CHECK(stats->approximate_disk_bytes < raw);  // stored compressed
    }
    if (kind == Kind::kVectors) CHECK(stats->approximate_disk_bytes >= raw * 9 / 10);  // random: incompressible
    if (n == 0) {
      CHECK(stats->stored_bytes == 0);
      CHECK(stats->approximate_disk_bytes == 0);
    }
  }
  // Early stop.
  int visited = 0;
  REQUIRE(store->ForEachHeader(Kind::kCode, [&](const StoredRecord& r) {
    CHECK(r.value.empty());
    CHECK(r.lsn > 0);
    return ++visited < 10;
  }).ok());
  CHECK(visited == 10);
}

TEST_CASE("compression 'none' stores raw values", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.compression = false;
  auto store = OpenOrFail(options);
  std::mt19937_64 rng(6);
  std::string chunk = CodeChunk(rng, 1500);
  REQUIRE(store->Put(Kind::kCode, "a", chunk, 1).ok());
  auto stats = store->Stats(Kind::kCode);
  REQUIRE(stats.ok());
  CHECK(stats->stored_bytes > chunk.size());
  CHECK(stats->stored_bytes < chunk.size() + 32);
  CHECK(GetOrFail(*store, Kind::kCode, "a") == chunk);
  CHECK(store->TrainDictionary(Kind::kCode).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("values stay readable across dictionary changes and reopen", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.dictionary_bytes = 16 << 10;
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> expected;
  std::uint64_t lsn = 0;
  auto write = [&](PersistentStore& s, int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      std::string key = prefix + std::to_string(i);
      std::string value = CodeChunk(rng, 1024 + rng() % 1024);
      expected[key] = value;
      REQUIRE(s.Put(Kind::kCode, key, value, ++lsn).ok());
    }
  };
  std::uint32_t first = 0, second = 0;
  {
    auto store = OpenOrFail(options);
    write(*store, 800, "plain/");
    auto d1 = store->TrainDictionary(Kind::kCode);
    INFO(d1.status().ToString());
    REQUIRE(d1.ok());
    first = d1->id;
    CHECK(d1->samples == 800);
    write(*store, 800, "dict1/");
    auto d2 = store->TrainDictionary(Kind::kCode);
    REQUIRE(d2.ok());
    second = d2->id;
    CHECK(second > first);
    write(*store, 800, "dict2/");
    // Overwrite some old keys: they take the newest dictionary.
    write(*store, 100, "plain/");
  }
  auto store = OpenOrFail(options);
  REQUIRE(store->Dictionaries().size() == 2);
  CHECK(store->Dictionaries()[0].id == first);
  CHECK(store->Dictionaries()[1].kind == Kind::kCode);
  std::map<std::uint32_t, int> by_dictionary;
  std::map<std::string, std::string> seen;
  REQUIRE(store->ForEach(Kind::kCode, [&](const StoredRecord& r) {
    by_dictionary[r.dictionary_id] += 1;
    seen.emplace(r.key, r.value);
    CHECK(r.dictionary_id == (r.key.substr(0, 6) == "plain/" && r.lsn <= 800 ? 0u
                              : r.key.substr(0, 6) == "dict1/"                ? first
                                                                               : second));
    return true;
  }).ok());
  CHECK(seen == expected);
  CHECK(by_dictionary[0] == 700);
  CHECK(by_dictionary[first] == 800);
  CHECK(by_dictionary[second] == 900);
  for (const auto& [key, value] : expected) REQUIRE(GetOrFail(*store, Kind::kCode, key) == value);
  // New writes use the newest dictionary after reopen too.
  REQUIRE(store->Put(Kind::kCode, "after", CodeChunk(rng, 1500), ++lsn).ok());
  CHECK(store->Stats(Kind::kCode)->dictionary_id == second);
  std::uint32_t after_dictionary = 0;
  REQUIRE(store->ForEachHeader(Kind::kCode, [&](const StoredRecord& r) {
    if (r.key == "after") after_dictionary = r.dictionary_id;
    return true;
  }).ok());
  CHECK(after_dictionary == second);
}

TEST_CASE("the first dictionary is trained automatically at the threshold", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.dictionary_training_records = 300;
  options.dictionary_training_bytes = 256 << 10;
  options.dictionary_bytes = 8 << 10;
  std::mt19937_64 rng(8);
  {
    auto store = OpenOrFail(options);
    for (int i = 0; i < 299; ++i) REQUIRE(store->Put(Kind::kCode, Numbered("a", i), CodeChunk(rng, 1200), i + 1).ok());
    CHECK(store->Dictionaries().empty());
    // Vectors never train (use_dictionary is off for them by default).
    for (int i = 0; i < 400; ++i) REQUIRE(store->Put(Kind::kVectors, std::to_string(i), CodeChunk(rng, 1200), 1000 + i).ok());
    CHECK(store->Dictionaries().empty());
  }
  // The count survives a reopen (rebuilt from the stored records).
  auto store = OpenOrFail(options);
  REQUIRE(store->Put(Kind::kCode, "a299", CodeChunk(rng, 1200), 2000).ok());
  REQUIRE(store->Dictionaries().size() == 1);
  CHECK(store->Dictionaries()[0].kind == Kind::kCode);
  CHECK(store->Dictionaries()[0].samples == 300);
  REQUIRE(store->Put(Kind::kCode, "b", CodeChunk(rng, 1200), 2001).ok());
  auto stats = store->Stats(Kind::kCode);
  REQUIRE(stats.ok());
  CHECK(stats->entries_with_dictionary == 1);
  CHECK(stats->dictionary_id == store->Dictionaries()[0].id);
  CHECK(store->Stats(Kind::kVectors)->dictionary_id == 0);

  // Retrained once as many records again have been written (growth 2): the
  // kind held 300 when the first was trained; "b" and 298 more make 299.
  for (int i = 0; i < 298; ++i) REQUIRE(store->Put(Kind::kCode, Numbered("c", i), CodeChunk(rng, 1200), 3000 + i).ok());
  CHECK(store->Dictionaries().size() == 1);
  REQUIRE(store->Put(Kind::kCode, "c298", CodeChunk(rng, 1200), 4000).ok());
  REQUIRE(store->Dictionaries().size() == 2);
  CHECK(store->Dictionaries()[1].kind_records == 600);
  CHECK(store->Stats(Kind::kCode)->dictionary_id == store->Dictionaries()[1].id);
  // Reopened, the kind's size at its last training is remembered.
  store.reset();
  store = OpenOrFail(options);
  REQUIRE(store->Dictionaries().size() == 2);
  CHECK(store->Dictionaries()[1].kind_records == 600);
}

TEST_CASE("automatic retraining can be turned off", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.dictionary_training_records = 200;
  options.dictionary_training_bytes = 64 << 10;
  options.dictionary_bytes = 8 << 10;
  options.dictionary_retrain_growth = 0;
  std::mt19937_64 rng(17);
  auto store = OpenOrFail(options);
  for (int i = 0; i < 1000; ++i) REQUIRE(store->Put(Kind::kHistory, Numbered("m", i), CodeChunk(rng, 700), i + 1).ok());
  CHECK(store->Dictionaries().size() == 1);
}

TEST_CASE("a corrupt value is Corruption for that key only", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  std::mt19937_64 rng(9);
  std::map<std::string, std::string> expected;
  {
    auto store = OpenOrFail(options);
    for (int i = 0; i < 100; ++i) {
      expected[Numbered("k", i)] = CodeChunk(rng, 1500);
      REQUIRE(store->Put(Kind::kCode, Numbered("k", i), expected[Numbered("k", i)], i + 1).ok());
    }
    REQUIRE(store->Put(Kind::kHistory, "k5", "history k5", 200).ok());
  }
  {
    // Damage two stored values behind the store's back, with LevelDB itself.
    leveldb::Options raw_options;
    raw_options.compression = leveldb::kNoCompression;
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(raw_options, dir.path(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    std::string value;
    REQUIRE(db->Get(leveldb::ReadOptions(), EncodeKey(Kind::kCode, "k5"), &value).ok());
    value[value.size() / 2] ^= 0x40;  // inside the zstd frame
    REQUIRE(db->Put(leveldb::WriteOptions(), EncodeKey(Kind::kCode, "k5"), value).ok());
    REQUIRE(db->Get(leveldb::ReadOptions(), EncodeKey(Kind::kCode, "k7"), &value).ok());
    value[3] ^= 0x01;  // inside the header (raw length)
    REQUIRE(db->Put(leveldb::WriteOptions(), EncodeKey(Kind::kCode, "k7"), value).ok());
  }
  auto store = OpenOrFail(options);
  auto bad = store->Get(Kind::kCode, "k5");
  REQUIRE(bad.status().IsCorruption());
  CHECK(bad.status().message().find("code key \"k5\"") != std::string::npos);
  CHECK(store->Get(Kind::kCode, "k7").status().IsCorruption());
  CHECK(store->GetLsn(Kind::kCode, "k7").status().IsCorruption());
  auto lsn5 = store->GetLsn(Kind::kCode, "k5");  // header intact: the LSN is still known
  REQUIRE(lsn5.ok());
  CHECK(*lsn5 == 6);
  CHECK(GetOrFail(*store, Kind::kHistory, "k5") == "history k5");
  for (const auto& [key, value] : expected) {
    if (key == "k5" || key == "k7") continue;
    auto v = store->Get(Kind::kCode, key);
    REQUIRE(v.ok());
    CHECK(*v == value);
  }
  int visited = 0;
  Status s = store->ForEach(Kind::kCode, [&](const StoredRecord&) {
    ++visited;
    return true;
  });
  CHECK(s.IsCorruption());
  CHECK(s.message().find("2 code record(s)") != std::string::npos);
  CHECK(visited == 98);
  auto stats = store->Stats(Kind::kCode);
  REQUIRE(stats.ok());
  CHECK(stats->entries == 99);  // k7's header is unreadable; k5's is fine
  // Rewriting the key heals it.
  REQUIRE(store->Put(Kind::kCode, "k5", "fresh", 300).ok());
  CHECK(GetOrFail(*store, Kind::kCode, "k5") == "fresh");
}

TEST_CASE("a synced LevelDB write alone does not make a rolled-over log durable", "[store][powercut]") {
  // Why Checkpoint flushes the memtable: this is the hazard, shown with raw
  // LevelDB on our Env. If this test ever fails, LevelDB changed and the
  // reasoning in PersistentStore::Checkpoint must be revisited.
  TempDir dir("store-hazard");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);
  auto env = NewLevelDbEnv(&fs);
  leveldb::Options o;
  o.create_if_missing = true;
  o.env = env.get();
  o.write_buffer_size = 64 << 10;
  o.compression = leveldb::kNoCompression;
  leveldb::DB* raw = nullptr;
  REQUIRE(leveldb::DB::Open(o, dir.path(), &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  std::mt19937_64 rng(10);
  BackgroundThreadGate gate;
  gate.Block();  // the memtable that rolls over stays unflushed
  // Write until the memtable rolls over (with the background thread stopped,
  // the only file the writer creates is the new log), then a little more
  // into the new log: less than a memtable, or the next write would wait for
  // the flush forever.
  const std::uint64_t creates = fs.CallCount(FaultOp::kCreate);
  int written = 0;
  while (fs.CallCount(FaultOp::kCreate) == creates) {
    REQUIRE(written < 1000);
    REQUIRE(db->Put(leveldb::WriteOptions(), Numbered("key", written++), RandomBytes(rng, 1000)).ok());
  }
  for (int i = 0; i < 10; ++i) REQUIRE(db->Put(leveldb::WriteOptions(), Numbered("key", written++), RandomBytes(rng, 1000)).ok());
  leveldb::WriteOptions synced;
  synced.sync = true;
  REQUIRE(db->Put(synced, "synced", "yes").ok());
  // Power cut before the background flush: nothing more reaches the disk.
  for (FaultOp op : {FaultOp::kCreate, FaultOp::kWrite, FaultOp::kSync, FaultOp::kRename, FaultOp::kRemove,
                     FaultOp::kSyncDir}) {
    fs.InjectFault(Fault(op, StatusCode::kIoError));
  }
  gate.Release();
  db.reset();
  fs.ClearFaults();
  REQUIRE(fs.DropUnsyncedData().ok());

  REQUIRE(leveldb::DB::Open(o, dir.path(), &raw).ok());
  db.reset(raw);
  std::string value;
  CHECK(db->Get(leveldb::ReadOptions(), "synced", &value).ok());
  CHECK(db->Get(leveldb::ReadOptions(), "key0", &value).IsNotFound());  // written before the synced write: lost
}

TEST_CASE("Checkpoint survives a power cut after many memtable roll-overs", "[store][powercut]") {
  TempDir dir("store-power");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);  // a new file or rename is lost unless its directory was synced
  auto options = OptionsAt(dir.path(), &fs);
  options.write_buffer_size = 64 << 10;  // many memtable roll-overs
  std::mt19937_64 rng(11);
  std::map<std::string, std::string> before;
  std::uint64_t lsn = 0;
  auto store = OpenOrFail(options);
  // ~2.5 MiB of incompressible values: dozens of rolled-over logs.
  for (int i = 0; i < 2500; ++i) {
    std::string key = Numbered("c", i);
    before[key] = RandomBytes(rng, 1000);
    REQUIRE(store->Put(Kind::kCode, key, before[key], ++lsn).ok());
  }
  const std::uint64_t checkpoint_lsn = lsn;
  REQUIRE(store->Checkpoint(checkpoint_lsn).ok());
  CHECK(store->CheckpointLsn() == checkpoint_lsn);
  // After the checkpoint: unsynced writes that the power cut takes away.
  for (int i = 0; i < 20; ++i) REQUIRE(store->Put(Kind::kMetadata, Numbered("after", i), "x", ++lsn).ok());
  PowerCut(fs, store);

  store = OpenOrFail(options);
  CHECK(store->CheckpointLsn() == checkpoint_lsn);
  for (const auto& [key, value] : before) REQUIRE(GetOrFail(*store, Kind::kCode, key) == value);
  // Proof that the power cut really dropped what was not synced.
  for (int i = 0; i < 20; ++i) CHECK(store->Get(Kind::kMetadata, Numbered("after", i)).status().IsNotFound());
  // A checkpoint cannot go back.
  CHECK(store->Checkpoint(checkpoint_lsn - 1).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Checkpoint covers a rolled-over memtable that is not flushed yet", "[store][powercut]") {
  // The case a synced write alone gets wrong (see the LevelDB test above).
  TempDir dir("store-power-imm");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);
  auto options = OptionsAt(dir.path(), &fs);
  options.write_buffer_size = 64 << 10;
  std::mt19937_64 rng(15);
  std::map<std::string, std::string> before;
  std::uint64_t lsn = 0;
  // A fresh store: LevelDB's background thread has nothing pending, so the
  // gate below cannot hold back a flush the writer would wait for.
  auto store = OpenOrFail(options);
  BackgroundThreadGate gate;
  gate.Block();
  const std::uint64_t creates = fs.CallCount(FaultOp::kCreate);
  auto put = [&](int i) {
    std::string key = Numbered("h", i);
    before[key] = RandomBytes(rng, 1000);
    REQUIRE(store->Put(Kind::kHistory, key, before[key], ++lsn).ok());
  };
  int written = 0;
  while (fs.CallCount(FaultOp::kCreate) == creates) {  // until the roll-over (see the test above)
    REQUIRE(written < 1000);
    put(written++);
  }
  for (int i = 0; i < 10; ++i) put(written++);

  const std::uint64_t checkpoint_lsn = lsn;
  auto checkpoint = std::async(std::launch::async, [&] { return store->Checkpoint(checkpoint_lsn); });
  // Checkpoint must wait for the rolled-over memtable to be flushed, which
  // cannot happen while the background thread is held: it must not return.
  CHECK(checkpoint.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
  gate.Release();
  Status s = checkpoint.get();
  REQUIRE(s.ok());
  for (int i = 0; i < 5; ++i) REQUIRE(store->Put(Kind::kMetadata, Numbered("after", i), "x", ++lsn).ok());
  PowerCut(fs, store);

  store = OpenOrFail(options);
  CHECK(store->CheckpointLsn() == checkpoint_lsn);
  for (const auto& [key, value] : before) REQUIRE(GetOrFail(*store, Kind::kHistory, key) == value);
  for (int i = 0; i < 5; ++i) CHECK(store->Get(Kind::kMetadata, Numbered("after", i)).status().IsNotFound());
}

TEST_CASE("a power cut right after reopening loses nothing", "[store][powercut]") {
  // Opening writes a new MANIFEST and renames a temp file onto CURRENT. If
  // that rename were not made durable, a power cut before any later
  // directory sync would leave no CURRENT -- and LevelDB would start an empty
  // database.
  TempDir dir("store-power-open");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);
  auto options = OptionsAt(dir.path(), &fs);
  std::mt19937_64 rng(16);
  std::map<std::string, std::string> expected;
  {
    auto store = OpenOrFail(options);
    for (int i = 0; i < 100; ++i) {
      expected[Numbered("k", i)] = CodeChunk(rng, 1000);
      REQUIRE(store->Put(Kind::kCode, Numbered("k", i), expected[Numbered("k", i)], i + 1).ok());
    }
    REQUIRE(store->Checkpoint(100).ok());
  }
  for (int round = 0; round < 3; ++round) {
    auto store = OpenOrFail(options);
    PowerCut(fs, store);
  }
  auto store = OpenOrFail(options);
  CHECK(store->CheckpointLsn() == 100);
  for (const auto& [key, value] : expected) REQUIRE(GetOrFail(*store, Kind::kCode, key) == value);
}

TEST_CASE("dictionaries survive a power cut with the values that use them", "[store][powercut]") {
  TempDir dir("store-power-dict");
  FaultInjectionFileSystem fs;
  fs.set_strict_directories(true);
  auto options = OptionsAt(dir.path(), &fs);
  options.write_buffer_size = 64 << 10;
  options.dictionary_bytes = 8 << 10;
  std::mt19937_64 rng(12);
  std::map<std::string, std::string> expected;
  auto store = OpenOrFail(options);
  std::uint64_t lsn = 0;
  for (int i = 0; i < 400; ++i) {
    expected[Numbered("a", i)] = CodeChunk(rng, 1200);
    REQUIRE(store->Put(Kind::kCode, Numbered("a", i), expected[Numbered("a", i)], ++lsn).ok());
  }
  REQUIRE(store->TrainDictionary(Kind::kCode).ok());
  for (int i = 0; i < 400; ++i) {
    expected[Numbered("b", i)] = CodeChunk(rng, 1200);
    REQUIRE(store->Put(Kind::kCode, Numbered("b", i), expected[Numbered("b", i)], ++lsn).ok());
  }
  REQUIRE(store->Checkpoint(lsn).ok());
  PowerCut(fs, store);
  store = OpenOrFail(options);
  REQUIRE(store->Dictionaries().size() == 1);
  std::map<std::string, std::string> seen;
  REQUIRE(store->ForEach(Kind::kCode, [&](const StoredRecord& r) {
    seen.emplace(r.key, r.value);
    return true;
  }).ok());
  CHECK(seen == expected);
}

TEST_CASE("ENOSPC and EIO give clear errors, and writes work again once cleared", "[store][faults]") {
  TempDir dir("store-faults");
  FaultInjectionFileSystem fs;
  auto options = OptionsAt(dir.path(), &fs);
  options.write_buffer_size = 64 << 10;
  std::mt19937_64 rng(13);
  std::map<std::string, std::string> acknowledged;
  std::uint64_t lsn = 0;
  auto store = OpenOrFail(options);
  auto put = [&](const std::string& key) {
    std::string value = RandomBytes(rng, 900);
    Status s = store->Put(Kind::kCode, key, value, ++lsn);
    if (s.ok()) acknowledged[key] = value;
    return s;
  };
  auto all_intact = [&] {
    for (const auto& [key, value] : acknowledged) {
      auto v = store->Get(Kind::kCode, key);
      INFO(key << ": " << v.status().ToString());
      REQUIRE(v.ok());
      REQUIRE(*v == value);
    }
  };
  for (int i = 0; i < 200; ++i) REQUIRE(put(Numbered("before", i)).ok());

  SECTION("disk full on the log") {
    fs.InjectFault(Fault(FaultOp::kWrite, StatusCode::kNoSpace, ".log"));
    Status s = put("refused");
    REQUIRE(s.code() == StatusCode::kNoSpace);
    CHECK(s.message().find("No space left on device") != std::string::npos);
    CHECK(s.message().find(".log") != std::string::npos);
    CHECK(put("refused-again").code() == StatusCode::kNoSpace);
    all_intact();  // reads keep working meanwhile
    fs.ClearFaults();
    REQUIRE(put("after").ok());
  }
  SECTION("a short write tears the log record") {
    // Start a fresh log (Checkpoint flushes the memtable), tear its first
    // record, then write less than one 32 KiB log block after it: without
    // the reopen that follows a failed write, those records would share the
    // block with the torn one and LevelDB's recovery would drop them all.
    REQUIRE(store->Checkpoint(lsn).ok());
    fs.InjectFault(Fault(FaultOp::kWrite, StatusCode::kNoSpace, ".log", 1, /*short_write=*/true));
    CHECK(put("torn").code() == StatusCode::kNoSpace);
    for (int i = 0; i < 20; ++i) REQUIRE(put(Numbered("after", i)).ok());
  }
  SECTION("EIO on the log sync fails the checkpoint") {
    fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError, ".log"));
    Status s = store->Checkpoint(lsn);
    REQUIRE(s.code() == StatusCode::kIoError);
    CHECK(s.message().find("checkpoint") != std::string::npos);
    CHECK(store->CheckpointLsn() == 0);
    fs.ClearFaults();
    REQUIRE(store->Checkpoint(lsn).ok());
    CHECK(store->CheckpointLsn() == lsn);
  }
  SECTION("disk full while flushing a table fails the checkpoint") {
    fs.InjectFault(Fault(FaultOp::kWrite, StatusCode::kNoSpace, ".ldb"));
    Status s = store->Checkpoint(lsn);
    REQUIRE(s.code() == StatusCode::kNoSpace);
    CHECK(store->CheckpointLsn() == 0);
    fs.ClearFaults();
    REQUIRE(store->Checkpoint(lsn).ok());
    REQUIRE(put("after").ok());
  }
  SECTION("a reopen that fails closes the store until the disk has room") {
    fs.InjectFault(Fault(FaultOp::kWrite, StatusCode::kNoSpace));
    fs.InjectFault(Fault(FaultOp::kCreate, StatusCode::kNoSpace));
    REQUIRE(put("refused").code() == StatusCode::kNoSpace);
    Status reopen = store->Reopen();
    REQUIRE(reopen.code() == StatusCode::kNoSpace);
    CHECK(reopen.message().find("reopening") != std::string::npos);
    auto closed = store->Get(Kind::kCode, "before0");
    REQUIRE(closed.status().code() == StatusCode::kClosed);
    CHECK(closed.status().message().find("closed") != std::string::npos);
    CHECK(put("still-refused").code() == StatusCode::kNoSpace);
    fs.ClearFaults();
    REQUIRE(put("after").ok());
  }
  all_intact();
  REQUIRE(store->Reopen().ok());
  all_intact();
  store.reset();
  store = OpenOrFail(options);
  all_intact();
}

TEST_CASE("a background compaction failure is reported and recovered from", "[store][faults]") {
  TempDir dir("store-compact");
  FaultInjectionFileSystem fs;
  auto options = OptionsAt(dir.path(), &fs);
  options.write_buffer_size = 64 << 10;
  std::mt19937_64 rng(14);
  auto store = OpenOrFail(options);
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 1000; ++i) {
    expected[Numbered("k", i)] = RandomBytes(rng, 800);
    REQUIRE(store->Put(Kind::kVectors, Numbered("k", i), expected[Numbered("k", i)], i + 1).ok());
  }
  fs.InjectFault(Fault(FaultOp::kSync, StatusCode::kIoError, ".ldb"));
  Status s = store->Compact();
  REQUIRE(s.code() == StatusCode::kIoError);
  CHECK(s.message().find("compacting") != std::string::npos);
  fs.ClearFaults();
  REQUIRE(store->Compact().ok());
  for (const auto& [key, value] : expected) REQUIRE(GetOrFail(*store, Kind::kVectors, key) == value);
}

TEST_CASE("options are validated", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.path.clear();
  CHECK(PersistentStore::Open(options).status().code() == StatusCode::kInvalidArgument);
  options = OptionsAt(dir.path());
  options.kinds[KindIndex(Kind::kCode)].level = 99;
  auto r = PersistentStore::Open(options);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("code") != std::string::npos);
  // A second store on the same directory is refused while the first is open.
  auto first = OpenOrFail(OptionsAt(dir.path()));
  CHECK(PersistentStore::Open(OptionsAt(dir.path())).status().code() == StatusCode::kBusy);
}

TEST_CASE("GetWithLsn returns the value and the LSN of its write in one lookup", "[store]") {
  TempDir dir("store");
  auto store = OpenOrFail(OptionsAt(dir.path()));
  REQUIRE(store->Put(Kind::kMetadata, "k", "first", 41).ok());
  REQUIRE(store->Put(Kind::kMetadata, "k", "second", 42).ok());
  auto got = store->GetWithLsn(Kind::kMetadata, "k");
  REQUIRE(got.ok());
  CHECK(got->value == "second");
  CHECK(got->lsn == 42);
  CHECK(store->GetWithLsn(Kind::kCode, "k").status().IsNotFound());
}

TEST_CASE("overwriting the same keys retrains at exponentially spaced points only", "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.dictionary_training_records = 200;
  options.dictionary_training_bytes = 64 << 10;
  options.dictionary_bytes = 8 << 10;
  std::mt19937_64 rng(11);
  auto store = OpenOrFail(options);
  // 400 keys, overwritten 20 times: 8000 writes of a kind that never grows.
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 400; ++i) {
      REQUIRE(store->Put(Kind::kCode, Numbered("k", i), CodeChunk(rng, 600), round * 400 + i + 1).ok());
    }
  }
  // Without the write-count spacing it retrained every 400 writes (about 20
  // dictionaries); with it: at 200 writes, then at about 400, 800, 1600, 3200, 6400.
  CHECK(store->Dictionaries().size() <= 7);
  CHECK(store->Dictionaries().size() >= 2);
}

TEST_CASE("opening the store raises the descriptor soft limit to the hard limit", "[store][descriptors]") {
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max <= 256) {
    WARN("hard descriptor limit too low to lower");
    return;
  }
  rlimit low = saved;
  low.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  TempDir dir("store");
  auto store = OpenOrFail(OptionsAt(dir.path()));
  rlimit now{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
  CHECK(now.rlim_cur == saved.rlim_max);
  // LevelDB's tables get a bounded share of the raised limit, not its old 1000.
  CHECK(store->options().max_open_files == LevelDbMaxOpenFiles(now.rlim_cur));
  CHECK(store->options().max_open_files < static_cast<int>(std::min<rlim_t>(now.rlim_cur, 1u << 30)));
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
}

TEST_CASE("LevelDB's open tables are half the descriptor limit, within LevelDB's bounds", "[store][descriptors]") {
  CHECK(LevelDbMaxOpenFiles(1024) == 512);  // 512 left for WAL segments, RAM-Lake files and sockets
  CHECK(LevelDbMaxOpenFiles(20000) == 10000);
  CHECK(LevelDbMaxOpenFiles(100) == 74);  // LevelDB's minimum
  CHECK(LevelDbMaxOpenFiles(1u << 20) == 50000);  // LevelDB's maximum
  CHECK(LevelDbMaxOpenFiles(RLIM_INFINITY) == 50000);
  // An explicit value is a cap, never more than the share.
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.max_open_files = 1 << 30;
  auto store = OpenOrFail(options);
  CHECK(store->options().max_open_files == LevelDbMaxOpenFiles(RaiseDescriptorLimit()));
  options.max_open_files = -1;
  CHECK(PersistentStore::Open(options).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("a write compressed once before its LSN is stored as compressed, stamped, and replayed the same way",
          "[store]") {
  TempDir dir("store");
  auto options = OptionsAt(dir.path());
  options.dictionary_bytes = 16 << 10;
  std::mt19937_64 rng(11);
  auto store = OpenOrFail(options);
  std::uint64_t lsn = 0;
  for (int i = 0; i < 400; ++i) REQUIRE(store->Put(Kind::kCode, "seed/" + std::to_string(i), CodeChunk(rng, 1500), ++lsn).ok());
  auto dict = store->TrainDictionary(Kind::kCode);
  REQUIRE(dict.ok());

  // The writer's side: compressed with the kind's dictionary, no LSN yet.
  const std::string raw = CodeChunk(rng, 4000);
  const std::string deleted_key = "seed/7";
  auto payload = EncodeLoggedWrite(*store, {Mutation{Kind::kCode, "encoded", raw},
                                            Mutation{Kind::kCode, deleted_key, {}, /*is_delete=*/true},
                                            Mutation{Kind::kMetadata, "tiny", "m"}});
  REQUIRE(payload.ok());
  CHECK(payload->size() < raw.size() / 2);  // the WAL carries the compressed bytes
  std::vector<Mutation> decoded;
  REQUIRE(DecodeMutations(*payload, &decoded).ok());
  REQUIRE(decoded.size() == 3);
  CHECK(decoded[0].encoded);
  auto header = ParseValueHeader(decoded[0].value);
  REQUIRE(header.ok());
  CHECK(header->lsn == 0);
  CHECK(header->dictionary_id == dict->id);
  CHECK(header->raw_length == raw.size());

  // The store's side (live and on replay): the same bytes, stamped.
  const std::uint64_t write_lsn = ++lsn;
  StoreWriteBatch batch;
  REQUIRE(AddLoggedWrite(*payload, write_lsn, &batch).ok());
  REQUIRE(store->Write(batch).ok());
  auto stored = store->GetWithLsn(Kind::kCode, "encoded");
  REQUIRE(stored.ok());
  CHECK(stored->value == raw);
  CHECK(stored->lsn == write_lsn);
  CHECK(store->Get(Kind::kCode, deleted_key).status().IsNotFound());
  CHECK(GetOrFail(*store, Kind::kMetadata, "tiny") == "m");
  CHECK(store->LastAppliedLsn() == write_lsn);

  // A value naming a dictionary this store never had, or a damaged header,
  // is refused as a whole batch, naming the key.
  ValueHeader foreign = *header;
  foreign.dictionary_id = dict->id + 100;
  std::string forged = EncodeValueHeader(foreign) + std::string(decoded[0].value.substr(header->header_length));
  StoreWriteBatch bad;
  bad.PutEncoded(Kind::kCode, "forged", forged, ++lsn);
  Status s = store->Write(bad);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK(s.message().find("forged") != std::string::npos);
  CHECK(s.message().find("dictionary " + std::to_string(dict->id + 100)) != std::string::npos);
  std::string torn(decoded[0].value);
  torn[1] ^= 0x40;
  StoreWriteBatch bad_header;
  bad_header.PutEncoded(Kind::kCode, "torn", torn, ++lsn);
  CHECK(store->Write(bad_header).code() == StatusCode::kCorruption);
  CHECK(store->Get(Kind::kCode, "forged").status().IsNotFound());
  CHECK(store->Get(Kind::kCode, "torn").status().IsNotFound());
}

TEST_CASE("a store has an identity that survives reopening, and a new epoch is durable", "[store][identity]") {
  TempDir dir("store-identity");
  StoreIdentity first;
  {
    auto store = OpenOrFail(OptionsAt(dir.path()));
    first = store->identity();
    CHECK(first.id != 0);
    CHECK(first.epoch == 1);
  }
  {
    auto store = OpenOrFail(OptionsAt(dir.path()));
    CHECK(store->identity().id == first.id);
    auto next = store->StartNewEpoch(42);
    REQUIRE(next.ok());
    CHECK(next->epoch == 2);
    CHECK(next->epoch_start_lsn == 42);
    CHECK(next->Fingerprint() != first.Fingerprint());
  }
  auto store = OpenOrFail(OptionsAt(dir.path()));
  CHECK(store->identity().id == first.id);
  CHECK(store->identity().epoch == 2);
  CHECK(store->identity().epoch_start_lsn == 42);
  // Another store is another id.
  TempDir other("store-identity-other");
  auto another = OpenOrFail(OptionsAt(other.path()));
  CHECK(another->identity().id != first.id);
  // An empty store may take another's identity (a replica's); one holding
  // writes may not.
  REQUIRE(another->AdoptIdentity(store->identity()).ok());
  CHECK(another->identity().id == first.id);
  CHECK(another->identity().epoch == 2);
  REQUIRE(store->Put(Kind::kMetadata, "k", "v", 1).ok());
  StoreIdentity stranger{first.id ^ 1, 1, 0};
  CHECK(store->AdoptIdentity(stranger).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("CheckpointInto copies the store as of its checkpoint while compactions run", "[store][backup]") {
  TempDir dir("store-copy");
  auto options = OptionsAt(dir.path());
  options.write_buffer_size = 64 << 10;  // many tables, compactions during the copy
  auto store = OpenOrFail(options);
  std::mutex writer_mu;  // the store actor: the only writer, never during a copy
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lsn{0};
  std::atomic<bool> write_failed{false};  // Catch's assertions are for the test's thread
  std::thread writer([&] {
    std::mt19937 random(7);
    while (!stop.load()) {
      std::lock_guard lock(writer_mu);
      const std::uint64_t next = lsn + 1;
      const std::string key = Numbered("key", static_cast<int>(random() % 3000));
      if (!store->Put(Kind::kCode, key, Numbered("value at ", static_cast<int>(next)) + std::string(300, 'v'), next).ok()) {
        write_failed = true;
        return;
      }
      lsn = next;
    }
  });
  while (lsn.load() < 5000 && !write_failed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  TempDir copies("store-copies");
  std::uint64_t at = 0;
  std::map<std::string, std::uint64_t> expected;  // key -> LSN of its last write up to `at`
  {
    std::lock_guard lock(writer_mu);
    at = lsn;
    auto copied_at = store->CheckpointInto(copies.path() + "/one");
    REQUIRE(copied_at.ok());
    CHECK(*copied_at == at);
    REQUIRE(store->ForEachHeader(Kind::kCode, [&](const StoredRecord& r) {
      expected[std::string(r.key)] = r.lsn;
      return true;
    }).ok());
  }
  while (lsn.load() < at + 3000 && !write_failed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  REQUIRE_FALSE(write_failed);
  // A second copy into the same place is refused.
  CHECK(store->CheckpointInto(copies.path() + "/one").status().code() == StatusCode::kInvalidArgument);

  auto copy = OpenOrFail(OptionsAt(copies.path() + "/one"));
  CHECK(copy->CheckpointLsn() == at);
  CHECK(copy->identity().id == store->identity().id);
  std::map<std::string, std::uint64_t> got;
  REQUIRE(copy->ForEach(Kind::kCode, [&](const StoredRecord& r) {
    got[std::string(r.key)] = r.lsn;
    CHECK(r.value.starts_with(Numbered("value at ", static_cast<int>(r.lsn))));
    return true;
  }).ok());
  CHECK(got == expected);
}

TEST_CASE("a logged dictionary is imported once, and another under the same id is refused", "[store][backup]") {
  TempDir a_dir("store-dict-a"), b_dir("store-dict-b"), c_dir("store-dict-c");
  auto fill = [&](PersistentStore& s, std::uint64_t seed) {
    std::mt19937_64 local(seed);
    for (int i = 0; i < 600; ++i) {
      REQUIRE(s.Put(Kind::kCode, "k" + std::to_string(i), CodeChunk(local, 1500), static_cast<std::uint64_t>(i + 1)).ok());
    }
  };
  auto a = OpenOrFail(OptionsAt(a_dir.path()));
  std::vector<std::string> logged;
  a->SetDictionaryLog([&](std::string_view payload) {
    logged.emplace_back(payload);
    return Status::Ok();
  });
  fill(*a, 1);
  auto trained = a->TrainDictionary(Kind::kCode);
  REQUIRE(trained.ok());
  REQUIRE(logged.size() == 1);  // logged before it could be used
  // A value compressed with it, as the write path logs it.
  auto encoded = a->EncodeUnstamped(Kind::kCode, "new", "int main() { return 0; }\n");
  REQUIRE(encoded.ok());

  // Another store replaying that log: imports it, then takes the value.
  auto c = OpenOrFail(OptionsAt(c_dir.path()));
  REQUIRE(c->ImportDictionary(logged[0]).ok());
  REQUIRE(c->ImportDictionary(logged[0]).ok());  // again: nothing to do
  CHECK(c->Dictionaries().size() == 1);
  StoreWriteBatch batch;
  batch.PutEncoded(Kind::kCode, "new", *encoded, 7);
  REQUIRE(c->Write(batch).ok());
  auto read = c->Get(Kind::kCode, "new");
  REQUIRE(read.ok());
  CHECK(*read == "int main() { return 0; }\n");

  // A store that trained its own dictionary 1 refuses the logged one.
  auto b = OpenOrFail(OptionsAt(b_dir.path()));
  fill(*b, 2);
  REQUIRE(b->TrainDictionary(Kind::kCode).ok());
  Status refused = b->ImportDictionary(logged[0]);
  CHECK(refused.IsCorruption());
  CHECK_THAT(refused.message(), Catch::Contains("differs"));
  CHECK(c->ImportDictionary("xy").IsCorruption());
}
