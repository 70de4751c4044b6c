// The blocking/async facade (include/postdevai/hybrid_memory.h) end to end:
// every operation against a real engine (actor system, WAL on the work disk,
// RAM-Lake on /dev/shm), restarts, and bad input.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "postdevai/hybrid_memory.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::TempDir;

namespace {

HybridMemoryConfig SmallConfig(const TempDir& disk, const TempDir& ram) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = disk.path();
  c.persistent_size_tb = 1.0 / 1024;  // 1 GiB: no dependence on the disk's free space
  c.ramlake_path = ram.path() + "/ramlake";
  c.ramlake_size_gb = 64.0 / 1024;  // 64 MiB
  c.cache_size_mb = 8;
  c.max_ram_entries = 100000;
  c.wal.segment_size_mb = 1;
  return c;
}

std::unique_ptr<HybridMemory> MustOpen(const HybridMemoryConfig& config) {
  auto opened = HybridMemory::Open(config);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  return std::move(*opened);
}

const PartitionStats& Partition(const MemoryStats& s, const std::string& kind) {
  for (const auto& p : s.partitions) {
    if (p.kind == kind) return p;
  }
  FAIL("no partition " << kind);
  return s.partitions.front();
}

// Every byte value, NULs included: the facade's encodings must be binary-safe.
std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

}  // namespace

TEST_CASE("code is stored and read back by id and by path, and a path is replaced and deleted", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));

  auto id = memory->StoreCode("src/main.cc", "int main() { return 0; }\n", "cpp");
  REQUIRE(id.ok());
  CHECK(*id == CodeIdForPath("src/main.cc"));
  CHECK(id->size() == 32);
  CHECK(CodeIdForPath("abc") == "ba7816bf8f01cfea414140de5dae2223");  // SHA-256("abc"), FIPS 180-2
  CHECK(id->find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(CodeIdForPath("src/main.cc") != CodeIdForPath("src/main.h"));

  auto by_id = memory->GetCode(*id);
  REQUIRE(by_id.ok());
  CHECK(by_id->id == *id);
  CHECK(by_id->path == "src/main.cc");
  CHECK(by_id->language == "cpp");
  CHECK(by_id->content == "int main() { return 0; }\n");
  CHECK(by_id->lsn > 0);
  CHECK(by_id->served_from_ram);

  auto by_path = memory->GetCodeByPath("src/main.cc");
  REQUIRE(by_path.ok());
  CHECK(by_path->id == *id);
  CHECK(by_path->content == by_id->content);
  CHECK(by_path->lsn == by_id->lsn);

  SECTION("replacing a path keeps its id and serves the new content") {
    auto again = memory->StoreCode("src/main.cc", "fn main() {}\n", "rust");
    REQUIRE(again.ok());
    CHECK(*again == *id);
    auto now = memory->GetCodeByPath("src/main.cc");
    REQUIRE(now.ok());
    CHECK(now->content == "fn main() {}\n");
    CHECK(now->language == "rust");
    CHECK(now->lsn > by_id->lsn);
  }

  SECTION("deleting a path removes it and nothing else") {
    REQUIRE(memory->StoreCode("src/util.cc", "void util();", "cpp").ok());
    REQUIRE(memory->DeleteCode("src/main.cc").ok());
    auto gone = memory->GetCode(*id);
    CHECK(gone.status().IsNotFound());
    CHECK_THAT(gone.status().message(), Catch::Contains(*id));
    auto gone_by_path = memory->GetCodeByPath("src/main.cc");
    CHECK(gone_by_path.status().IsNotFound());
    CHECK_THAT(gone_by_path.status().message(), Catch::Contains("src/main.cc"));
    auto other = memory->GetCodeByPath("src/util.cc");
    REQUIRE(other.ok());
    CHECK(other->content == "void util();");
    // Stored again after a delete: back, with a new LSN.
    REQUIRE(memory->StoreCode("src/main.cc", "int main();", "cpp").ok());
    CHECK(memory->GetCode(*id)->content == "int main();");
  }

  SECTION("content is binary-safe and may be larger than a RAM-Lake record") {
    std::string big;
    while (big.size() < 300 * 1024) big += AllBytes();
    auto big_id = memory->StoreCode("assets/blob.bin", big, "binary");
    REQUIRE(big_id.ok());
    auto back = memory->GetCode(*big_id);
    REQUIRE(back.ok());
    CHECK(back->content == big);
    CHECK(back->path == "assets/blob.bin");
    auto empty = memory->StoreCode("empty.txt", "", "text");
    REQUIRE(empty.ok());
    auto empty_back = memory->GetCode(*empty);
    REQUIRE(empty_back.ok());
    CHECK(empty_back->content.empty());
    CHECK(empty_back->language == "text");
  }
}

TEST_CASE("a session context round-trips, is replaced whole, and may be empty", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));

  const std::vector<std::string> messages = {"user: why does the build fail?", "", AllBytes(),
                                             std::string(20000, 'x'), "assistant: a missing include"};
  REQUIRE(memory->StoreContext("session-1", messages).ok());
  REQUIRE(memory->StoreContext("session-2", {"other"}).ok());
  auto back = memory->GetContext("session-1");
  REQUIRE(back.ok());
  CHECK(*back == messages);

  REQUIRE(memory->StoreContext("session-1", {"only this"}).ok());
  CHECK(memory->GetContext("session-1").value() == std::vector<std::string>{"only this"});
  REQUIRE(memory->StoreContext("session-1", {}).ok());
  auto empty = memory->GetContext("session-1");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  CHECK(memory->GetContext("session-2").value() == std::vector<std::string>{"other"});

  auto unknown = memory->GetContext("no-such-session");
  CHECK(unknown.status().IsNotFound());
  CHECK_THAT(unknown.status().message(), Catch::Contains("no-such-session"));
}

TEST_CASE("metadata is put, overwritten, read and deleted", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));

  REQUIRE(memory->PutMetadata("project/name", "postdevai").ok());
  REQUIRE(memory->PutMetadata("binary", AllBytes()).ok());
  REQUIRE(memory->PutMetadata("empty", "").ok());
  CHECK(memory->GetMetadata("project/name").value() == "postdevai");
  CHECK(memory->GetMetadata("binary").value() == AllBytes());
  auto empty = memory->GetMetadata("empty");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  REQUIRE(memory->PutMetadata("project/name", "dragon").ok());
  CHECK(memory->GetMetadata("project/name").value() == "dragon");

  REQUIRE(memory->DeleteMetadata("project/name").ok());
  auto gone = memory->GetMetadata("project/name");
  CHECK(gone.status().IsNotFound());
  CHECK_THAT(gone.status().message(), Catch::Contains("project/name"));
  CHECK(memory->GetMetadata("binary").value() == AllBytes());
  // Metadata and code live in different kinds: equal keys do not collide.
  auto code_id = memory->StoreCode("x.cc", "code", "cpp");
  REQUIRE(code_id.ok());
  REQUIRE(memory->PutMetadata(*code_id, "metadata under a code id").ok());
  CHECK(memory->GetCode(*code_id)->content == "code");
  CHECK(memory->GetMetadata(*code_id).value() == "metadata under a code id");
}

TEST_CASE("async calls overlap, from one thread and from many", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));
  const auto before = memory->Stats().value();

  // 200 writes in flight at once from one thread: they share WAL syncs.
  std::vector<std::future<Status>> puts;
  for (int i = 0; i < 200; ++i) {
    puts.push_back(memory->PutMetadataAsync("async/" + std::to_string(i), "value " + std::to_string(i)));
  }
  for (auto& f : puts) REQUIRE(f.get().ok());
  std::vector<std::future<Result<std::string>>> gets;
  for (int i = 0; i < 200; ++i) gets.push_back(memory->GetMetadataAsync("async/" + std::to_string(i)));
  for (int i = 0; i < 200; ++i) {
    auto v = gets[i].get();
    REQUIRE(v.ok());
    CHECK(*v == "value " + std::to_string(i));
  }
  auto missing = memory->GetMetadataAsync("async/none").get();
  CHECK(missing.status().IsNotFound());

  // Four threads with blocking calls, concurrently.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string key = "thread" + std::to_string(t) + "/" + std::to_string(i);
        if (!memory->PutMetadata(key, key).ok()) ++failures;
        auto v = memory->GetMetadata(key);
        if (!v.ok() || *v != key) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);

  const auto after = memory->Stats().value();
  CHECK(after.writes - before.writes == 400);
  CHECK(after.durable_lsn - before.durable_lsn == 400);
  // Group commit: concurrent writes share syncs.
  CHECK(after.wal_syncs - before.wal_syncs < 400);
}

TEST_CASE("[wal] group_commit_max_batch caps the writes one fdatasync covers", "[facade]") {
  // 200 async puts in flight at once: with the default batch they share a
  // few syncs; with a batch of 1 each write has a sync of its own.
  for (std::uint32_t max_batch : {256u, 1u}) {
    TempDir disk("facade");
    TempDir ram("facade", "/dev/shm");
    auto config = SmallConfig(disk, ram);
    config.wal.group_commit_max_batch = max_batch;
    auto memory = MustOpen(config);
    const auto before = memory->Stats().value();
    std::vector<std::future<Status>> puts;
    for (int i = 0; i < 200; ++i) puts.push_back(memory->PutMetadataAsync("k" + std::to_string(i), "v"));
    for (auto& p : puts) REQUIRE(p.get().ok());
    const auto after = memory->Stats().value();
    INFO("group_commit_max_batch " << max_batch);
    CHECK(after.durable_lsn - before.durable_lsn == 200);
    if (max_batch == 1) {
      CHECK(after.wal_syncs - before.wal_syncs == 200);
    } else {
      CHECK(after.wal_syncs - before.wal_syncs < 200);
    }
  }
}

TEST_CASE("an async future becomes ready without being waited on with get()", "[facade]") {
  // A host that polls (wait_for) instead of blocking must see the future
  // become ready once the write is durable (a deferred future never would).
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));
  auto get = memory->GetMetadataAsync("absent");
  CHECK(get.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto put = memory->PutMetadataAsync("k", "v");
  CHECK(put.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(put.get().ok());
}

TEST_CASE("stats move with the work done, and sync, evict and compact report what they did", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));
  const auto s0 = memory->Stats().value();
  CHECK(s0.partitions.size() == 4);

  for (int i = 0; i < 30; ++i) {
    REQUIRE(memory->StoreCode("lib/f" + std::to_string(i) + ".cc", "int f" + std::to_string(i) + "();", "cpp").ok());
  }
  for (int i = 0; i < 30; ++i) REQUIRE(memory->GetCodeByPath("lib/f" + std::to_string(i) + ".cc").ok());
  const auto s1 = memory->Stats().value();
  CHECK(s1.writes == s0.writes + 30);
  CHECK(s1.reads == s0.reads + 30);
  CHECK(s1.ram_hits == s0.ram_hits + 30);
  CHECK(s1.durable_lsn == s0.durable_lsn + 30);
  CHECK(s1.wal_syncs > s0.wal_syncs);
  CHECK(s1.wal_bytes > s0.wal_bytes);
  CHECK(Partition(s1, "code").entries == Partition(s0, "code").entries + 30);
  CHECK(Partition(s1, "code").bytes > Partition(s0, "code").bytes);
  CHECK(Partition(s1, "code").hits >= 30);
  CHECK(s1.hit_rate() > 0.99);

  // A checkpoint covers every acknowledged write; afterwards everything in RAM
  // is clean, so evicting entries older than 0 s empties the code partition.
  auto checkpoint = memory->Sync();
  REQUIRE(checkpoint.ok());
  CHECK(*checkpoint == s1.durable_lsn);
  const auto s2 = memory->Stats().value();
  CHECK(s2.checkpoint_lsn == *checkpoint);
  CHECK(s2.applied_lsn == s1.durable_lsn);
  auto evicted = memory->EvictColderThan(std::chrono::seconds(0));
  REQUIRE(evicted.ok());
  CHECK(*evicted >= 30);
  CHECK(Partition(memory->Stats().value(), "code").entries == 0);

  auto cold = memory->GetCodeByPath("lib/f7.cc");
  REQUIRE(cold.ok());
  CHECK(cold->content == "int f7();");
  CHECK_FALSE(cold->served_from_ram);
  const auto s3 = memory->Stats().value();
  CHECK(s3.disk_reads == s2.disk_reads + 1);
  CHECK(s3.hit_rate() < s1.hit_rate());

  auto compacted = memory->Compact();
  REQUIRE(compacted.ok());
  CHECK(*compacted > 0);
}

TEST_CASE("a restart keeps every kind of data", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  const auto config = SmallConfig(disk, ram);
  std::uint64_t lsn_before = 0;
  {
    auto memory = MustOpen(config);
    for (int i = 0; i < 50; ++i) {
      REQUIRE(memory->StoreCode("src/" + std::to_string(i) + ".cc", "content " + std::to_string(i), "cpp").ok());
    }
    REQUIRE(memory->StoreCode("src/7.cc", "replaced", "c").ok());
    REQUIRE(memory->DeleteCode("src/8.cc").ok());
    REQUIRE(memory->StoreContext("s", {"a", "b"}).ok());
    REQUIRE(memory->PutMetadata("m", "1").ok());
    REQUIRE(memory->PutMetadata("gone", "x").ok());
    REQUIRE(memory->DeleteMetadata("gone").ok());
    lsn_before = memory->Stats().value().durable_lsn;
  }  // the destructor checkpoints and stops

  auto memory = MustOpen(config);
  for (int i = 0; i < 50; ++i) {
    auto r = memory->GetCodeByPath("src/" + std::to_string(i) + ".cc");
    if (i == 8) {
      CHECK(r.status().IsNotFound());
      continue;
    }
    REQUIRE(r.ok());
    CHECK(r->content == (i == 7 ? std::string("replaced") : "content " + std::to_string(i)));
    CHECK(r->language == (i == 7 ? "c" : "cpp"));
    CHECK(r->served_from_ram);  // the RAM-Lake file was re-attached, not refilled
  }
  CHECK(memory->GetContext("s").value() == std::vector<std::string>{"a", "b"});
  CHECK(memory->GetMetadata("m").value() == "1");
  CHECK(memory->GetMetadata("gone").status().IsNotFound());
  const auto s = memory->Stats().value();
  CHECK(s.durable_lsn == lsn_before);
  CHECK(s.checkpoint_lsn == lsn_before);  // the clean stop checkpointed everything
  // LSNs continue after the restart.
  REQUIRE(memory->PutMetadata("after", "restart").ok());
  CHECK(memory->Stats().value().durable_lsn == lsn_before + 1);
}

TEST_CASE("bad input is refused with an error naming it, and stored data stays intact", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));
  auto id = memory->StoreCode("keep.cc", "kept", "cpp");
  REQUIRE(id.ok());
  REQUIRE(memory->StoreContext("keep", {"kept"}).ok());
  REQUIRE(memory->PutMetadata("keep", "kept").ok());
  const auto before = memory->Stats().value();

  auto empty_path = memory->StoreCode("", "x", "cpp");
  CHECK(empty_path.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(empty_path.status().message(), Catch::Contains("empty path"));

  auto empty_session = memory->StoreContext("", {"x"});
  CHECK(empty_session.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(empty_session.message(), Catch::Contains("empty session id"));

  auto empty_key = memory->PutMetadata("", "x");
  CHECK(empty_key.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(empty_key.message(), Catch::Contains("empty key"));
  auto empty_key_async = memory->PutMetadataAsync("", "x").get();
  CHECK(empty_key_async.code() == StatusCode::kInvalidArgument);
  auto delete_empty_key = memory->DeleteMetadata("");
  CHECK(delete_empty_key.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(delete_empty_key.message(), Catch::Contains("empty key"));

  auto long_key = memory->PutMetadata(std::string(5000, 'k'), "x");
  CHECK(long_key.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(long_key.message(), Catch::Contains("5000 bytes"));

  auto too_large = memory->PutMetadata("huge", std::string((64u << 20) + 1, 'x'));
  CHECK(too_large.code() == StatusCode::kTooLarge);
  CHECK_THAT(too_large.message(), Catch::Contains("huge") && Catch::Contains("exceeds the limit"));

  auto missing_id = memory->GetCode("ffffffffffffffff");
  CHECK(missing_id.status().IsNotFound());
  CHECK_THAT(missing_id.status().message(), Catch::Contains("ffffffffffffffff"));
  auto missing_path = memory->GetCodeByPath("never/stored.cc");
  CHECK(missing_path.status().IsNotFound());
  CHECK_THAT(missing_path.status().message(), Catch::Contains("never/stored.cc"));
  CHECK(memory->GetMetadata("huge").status().IsNotFound());

  // Nothing refused reached the log, and what was stored is untouched.
  const auto after = memory->Stats().value();
  CHECK(after.writes == before.writes);
  CHECK(after.durable_lsn == before.durable_lsn);
  CHECK(memory->GetCode(*id).value().content == "kept");
  CHECK(memory->GetContext("keep").value() == std::vector<std::string>{"kept"});
  CHECK(memory->GetMetadata("keep").value() == "kept");
}

TEST_CASE("reads of an empty key or path, and DeleteCode of an empty path, name the problem", "[facade]") {
  // Like StoreCode and the writes, reads and DeleteCode refuse an empty key or
  // path instead of answering "not found" (or logging an erase).
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto memory = MustOpen(SmallConfig(disk, ram));
  const auto before = memory->Stats().value();
  CHECK(memory->GetMetadata("").status().code() == StatusCode::kInvalidArgument);
  CHECK(memory->GetCode("").status().code() == StatusCode::kInvalidArgument);
  CHECK(memory->GetCodeByPath("").status().code() == StatusCode::kInvalidArgument);
  CHECK(memory->GetContext("").status().code() == StatusCode::kInvalidArgument);
  CHECK(memory->DeleteCode("").code() == StatusCode::kInvalidArgument);
  CHECK(memory->Stats().value().durable_lsn == before.durable_lsn);
}

TEST_CASE("opening with a bad config fails, naming the key", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  auto bad = SmallConfig(disk, ram);
  bad.ramlake_path.clear();
  auto refused = HybridMemory::Open(bad);
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.status().message(), Catch::Contains("ramlake_path"));
}

// Engine::Start failing half-way (here: LevelDB's lock is held, kBusy) must
// leave nothing running and not crash (it once stopped a never-spawned
// controller).
TEST_CASE("opening data another engine holds fails with kBusy and leaves the first working", "[facade]") {
  TempDir disk("facade");
  TempDir ram("facade", "/dev/shm");
  const auto config = SmallConfig(disk, ram);
  auto memory = MustOpen(config);
  REQUIRE(memory->PutMetadata("owner", "first").ok());
  auto second = HybridMemory::Open(config);
  CHECK_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::kBusy);
  CHECK(memory->GetMetadata("owner").value() == "first");
  REQUIRE(memory->PutMetadata("owner", "still first").ok());
  CHECK(memory->GetMetadata("owner").value() == "still first");
}
