// A session context grows by appends well past the largest value the store
// takes (64 MiB): older messages are sealed in segments, an append rewrites
// only the head's tail, and a read returns every message in order, across a
// restart. Replacing the context removes its segments.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "postdevai/hybrid_memory.h"
#include "records/stored_values.h"
#include "storage/persistent_store.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::TempDir;

namespace {

HybridMemoryConfig Config(const TempDir& disk, const TempDir& ram) {
  HybridMemoryConfig c = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  c.wal.segment_size_mb = 16;  // room for the 3 MiB messages
  return c;
}

// Message i: distinct, its index at the front, of the given size, and
// incompressible (so that the bytes an append logs are what it wrote).
std::string Message(std::size_t i, std::size_t bytes) {
  std::string m = "message " + std::to_string(i) + ":";
  std::uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
  while (m.size() < bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m.push_back(static_cast<char>(x));
  }
  return m;
}

// Sizes that mix small messages (many per segment) with ones larger than a
// segment (each sealed alone), 80 MiB in all.
std::vector<std::size_t> Sizes() {
  std::vector<std::size_t> sizes;
  std::size_t total = 0;
  for (std::size_t i = 0; total < (80u << 20); ++i) {
    const std::size_t bytes = i % 10 == 9 ? (3u << 20) + i : 700 + i % 5000;
    sizes.push_back(bytes);
    total += bytes;
  }
  return sizes;
}

std::size_t HistoryRecords(const TempDir& disk) {
  storage::PersistentStoreOptions o;
  o.path = disk / "store";
  auto store = storage::PersistentStore::Open(o);
  REQUIRE(store.ok());
  std::size_t n = 0;
  REQUIRE((*store)->ForEachHeader(DataKind::kHistory, [&](const storage::StoredRecord&) {
    ++n;
    return true;
  }).ok());
  return n;
}

void CheckContext(HybridMemory& memory, const std::string& session, const std::vector<std::size_t>& sizes) {
  auto context = memory.GetContext(session);
  INFO(context.status().ToString());
  REQUIRE(context.ok());
  REQUIRE(context->size() == sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if ((*context)[i] != Message(i, sizes[i])) FAIL("message " << i << " differs");
  }
}

}  // namespace

TEST_CASE("appends take a session past 64 MiB, and it reads back whole and in order", "[sessions]") {
  TempDir disk("sessions");
  TempDir ram("sessions", "/dev/shm");
  const auto sizes = Sizes();
  {
    auto memory = HybridMemory::Open(Config(disk, ram));
    REQUIRE(memory.ok());
    REQUIRE((*memory)->StoreContext("other", {"untouched"}).ok());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      auto count = (*memory)->AppendContext("long", Message(i, sizes[i]));
      if (!count.ok()) FAIL("append " << i << ": " << count.status().ToString());
      REQUIRE(*count == i + 1);
    }
    CheckContext(**memory, "long", sizes);
    CHECK((*memory)->GetContext("other").value() == std::vector<std::string>{"untouched"});
  }
  // Far more records than the two sessions: the long one is in segments.
  const std::size_t segmented = HistoryRecords(disk);
  CHECK(segmented > 2 + 80 / 3);

  auto memory = HybridMemory::Open(Config(disk, ram));
  REQUIRE(memory.ok());
  CheckContext(**memory, "long", sizes);
  // Appends go on after the restart.
  auto count = (*memory)->AppendContext("long", "after the restart");
  REQUIRE(count.ok());
  CHECK(*count == sizes.size() + 1);
  CHECK((*memory)->GetContext("long").value().back() == "after the restart");

  // Replacing the context removes its segments; appends start again from it.
  REQUIRE((*memory)->StoreContext("long", {"fresh"}).ok());
  CHECK((*memory)->GetContext("long").value() == std::vector<std::string>{"fresh"});
  REQUIRE((*memory)->AppendContext("long", "next").value() == 2);
  CHECK((*memory)->GetContext("long").value() == std::vector<std::string>{"fresh", "next"});
  memory->reset();
  CHECK(HistoryRecords(disk) == 2);
}

TEST_CASE("a large context stored whole is sealed in segments, and appends to it stay small", "[sessions]") {
  TempDir disk("sessions");
  TempDir ram("sessions", "/dev/shm");
  auto memory = HybridMemory::Open(Config(disk, ram));
  REQUIRE(memory.ok());
  std::vector<std::string> messages;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 4000; ++i) {  // ~8 MiB: 32 segments
    sizes.push_back(2000 + i % 300);
    messages.push_back(Message(i, sizes.back()));
  }
  REQUIRE((*memory)->StoreContext("big", messages).ok());
  CheckContext(**memory, "big", sizes);
  const auto before = static_cast<std::int64_t>((*memory)->Stats().value().wal_bytes);
  sizes.push_back(10);
  REQUIRE((*memory)->AppendContext("big", Message(sizes.size() - 1, 10)).value() == sizes.size());
  // The append logged at most a segment's bytes, not the 8 MiB context.
  const auto after = static_cast<std::int64_t>((*memory)->Stats().value().wal_bytes);
  CHECK(after > before);
  CHECK(after - before < static_cast<std::int64_t>(records::kSessionSegmentBytes + 4096));
  CheckContext(**memory, "big", sizes);
  // Replaced by a smaller context that is itself segmented: no stale segment shows.
  messages.resize(1000);
  sizes.resize(1000);
  REQUIRE((*memory)->StoreContext("big", messages).ok());
  CheckContext(**memory, "big", sizes);
  records::SessionHead expected;
  for (const auto& m : messages) records::AppendToSession(&expected, m);
  REQUIRE(expected.sealed_segments >= 7);
  memory->reset();
  CHECK(HistoryRecords(disk) == 1 + expected.sealed_segments);
}

TEST_CASE("a session id beginning with NUL is refused on every session verb", "[sessions]") {
  TempDir disk("sessions");
  TempDir ram("sessions", "/dev/shm");
  auto memory = HybridMemory::Open(Config(disk, ram));
  REQUIRE(memory.ok());
  const std::string id("\0x", 2);
  for (const Status& s : {(*memory)->StoreContext(id, {"m"}), (*memory)->AppendContext(id, "m").status(),
                          (*memory)->GetContext(id).status()}) {
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find("NUL") != std::string::npos);
  }
}
