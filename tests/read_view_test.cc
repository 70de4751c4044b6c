// The RAM-Lake read view (storage/ramlake/read_view.h): reader threads read a
// partition while its owner overwrites, erases, evicts, cleans segments and
// re-opens it. Every value read must be one that was written for that key, at
// the LSN reported, never a mix of two versions, another key's bytes or freed
// memory; a write announced but not yet applied is never read around.
//
// This file is built twice: as read_view_test, and as read_view_tsan_test with
// ThreadSanitizer (tests/CMakeLists.txt), which turns any data race between
// the readers and the owner into a failure.
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "ramlake_test_util.h"
#include "storage/file_system.h"
#include "storage/ramlake/ramlake_partition.h"
#include "storage/ramlake/read_view.h"

using namespace postdevai;
using namespace postdevai::storage::ramlake;
using namespace postdevai::ramlake_testing;

namespace {

// "key|lsn|" then ValueFor(key, lsn): a reader can check every byte.
std::string Versioned(const std::string& key, std::uint64_t lsn, std::size_t body) {
  return key + "|" + std::to_string(lsn) + "|" + ValueFor(key, lsn, body);
}

// Empty when `value` is exactly what Versioned(key, lsn, ...) wrote; else why not.
std::string CheckVersioned(const std::string& key, std::uint64_t lsn, const std::string& value) {
  const std::string prefix = key + "|" + std::to_string(lsn) + "|";
  if (value.compare(0, prefix.size(), prefix) != 0) return "prefix of " + key + " at LSN " + std::to_string(lsn);
  const std::size_t body = value.size() - prefix.size();
  if (value.compare(prefix.size(), body, ValueFor(key, lsn, body)) != 0) {
    return "body of " + key + " at LSN " + std::to_string(lsn) + " is a mix";
  }
  return {};
}

std::unique_ptr<RamLakePartition> OpenOrDie(const PartitionOptions& options, const FakeStore& store) {
  auto p = RamLakePartition::Open(storage::FileSystem::Default(), options, store.Hooks());
  REQUIRE(p.ok());
  return std::move(*p);
}

}  // namespace

TEST_CASE("hot readers never see a torn, freed or foreign value while the owner changes the partition",
          "[ramlake][read_view]") {
  ShmDir dir("read-view");
  // 512 KiB with 64 KiB segments for ~1 MB of values (100..3500 bytes over
  // 600 keys): puts evict, replacements move records, the cleaner relocates.
  auto options = SmallPartition(dir.path(), PartitionKind::kCode, 512 << 10);
  FakeStore store;
  auto partition = OpenOrDie(options, store);
  partition->RebaseClock(0);  // times below are seconds since the test began
  PartitionReadView view;
  {
    PartitionReadView::OwnerLock lock(view);
    view.Publish(partition.get(), 0);
  }
  constexpr int kKeys = 600;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> hits{0}, declined{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;

  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::string value;
    std::uint64_t lsn = 0;
    while (!done.load(std::memory_order_relaxed)) {
      const std::string key = KeyFor(rng() % kKeys);
      if (!view.Read(key, &value, &lsn)) {
        declined.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      hits.fetch_add(1, std::memory_order_relaxed);
      std::string why = CheckVersioned(key, lsn, value);
      if (!why.empty() && failures.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        first_failure = why;
      }
    }
  };
  std::vector<std::thread> readers;
  for (unsigned i = 0; i < 3; ++i) readers.emplace_back(reader, 17 + i);

  // The owner: the only writer, every change under the owner lock.
  std::mt19937 rng(7);
  std::uint64_t lsn = 0;
  int reopens = 0;
  std::uint64_t cleaned = 0, evicted = 0;  // over every opening
  const int kSteps = 12000;
  for (int step = 0; step < kSteps; ++step) {
    const std::string key = KeyFor(rng() % kKeys);
    const unsigned action = rng() % 100;
    // About a dozen restarts, each opening living long enough (~1000
    // steps, some 2 MB written into 512 KiB) to evict and clean.
    if (rng() % 1000 == 0) {
      // A restart: readers let go, the file is re-opened and re-attached.
      {
        PartitionReadView::OwnerLock lock(view);
        view.Publish(nullptr, 0);
      }
      cleaned += partition->Stats().segments_cleaned;
      evicted += partition->Stats().evictions;
      partition.reset();
      partition = OpenOrDie(options, store);
      partition->RebaseClock(std::uint64_t(step) * 1'000'000);
      PartitionReadView::OwnerLock lock(view);
      view.Publish(partition.get(), lsn);
      ++reopens;
      continue;
    }
    PartitionReadView::OwnerLock lock(view);
    view.DrainReads();
    partition->SetNow(std::uint64_t(step) * 1'000'000);  // one "second" a step
    if (action < 8) {
      (void)partition->Erase(key);
      store.lsn.erase(key);
    } else if (action < 10) {
      if (step > 300) partition->EvictColderThan(std::uint64_t(step - 300) * 1'000'000);
    } else {
      ++lsn;
      const std::size_t body = 100 + rng() % 3400;
      if (partition->Put(key, Versioned(key, lsn, body), lsn).ok()) store.lsn[key] = lsn;
      partition->SetPersistedLsn(lsn);  // clean, so evictable
    }
    view.WritesApplied(lsn);
  }
  done = true;
  for (auto& t : readers) t.join();
  INFO(first_failure);
  CHECK(failures.load() == 0);
  CHECK(hits.load() > 1000);  // the readers really read, not only declined
  CHECK(reopens > 0);
  {
    PartitionReadView::OwnerLock lock(view);
    view.DrainReads();
  }
  CHECK(partition->Verify().ok());
  // The owner really did move and drop records under the readers.
  CHECK(cleaned + partition->Stats().segments_cleaned > 0);
  CHECK(evicted + partition->Stats().evictions > 0);
}

TEST_CASE("a hot read declines while an announced write has not landed, and sees it once applied",
          "[ramlake][read_view]") {
  ShmDir dir("read-view-fresh");
  FakeStore store;
  auto partition = OpenOrDie(SmallPartition(dir.path()), store);
  PartitionReadView view;
  std::string value;
  std::uint64_t lsn = 0;
  CHECK_FALSE(view.Read("k", &value, &lsn));  // nothing published
  {
    PartitionReadView::OwnerLock lock(view);
    view.Publish(partition.get(), 0);
    REQUIRE(partition->Put("k", "one", 1).ok());
    view.WritesApplied(1);
  }
  REQUIRE(view.Read("k", &value, &lsn));
  CHECK(value == "one");
  CHECK(lsn == 1);
  CHECK_FALSE(view.Read("absent", &value, &lsn));
  // The dispatcher announces LSN 2 (and acknowledges it): until the owner
  // applies it, no reader may serve the version it replaces.
  view.WritesDispatched(2);
  CHECK_FALSE(view.Read("k", &value, &lsn));
  {
    PartitionReadView::OwnerLock lock(view);
    REQUIRE(partition->Put("k", "two", 2).ok());
    view.WritesApplied(2);
  }
  REQUIRE(view.Read("k", &value, &lsn));
  CHECK(value == "two");
  CHECK(lsn == 2);
  // Withdrawn: every read declines, the partition may go.
  {
    PartitionReadView::OwnerLock lock(view);
    view.Publish(nullptr, 2);
  }
  CHECK_FALSE(view.Read("k", &value, &lsn));
  CHECK(view.hits() == 2);
}

TEST_CASE("hot reads count as hits and keep what they read warm", "[ramlake][read_view]") {
  ShmDir dir("read-view-recency");
  FakeStore store;
  auto partition = OpenOrDie(SmallPartition(dir.path()), store);
  PartitionReadView view;
  {
    PartitionReadView::OwnerLock lock(view);
    view.Publish(partition.get(), 0);
    partition->RebaseClock(0);
    REQUIRE(partition->Put("read", "r", 1).ok());
    REQUIRE(partition->Put("unread", "u", 2).ok());
    partition->SetPersistedLsn(2);
    view.WritesApplied(2);
    partition->SetNow(100'000'000);  // 100 s later
  }
  std::string value;
  std::uint64_t lsn = 0;
  for (int i = 0; i < 5; ++i) REQUIRE(view.Read("read", &value, &lsn));
  PartitionReadView::OwnerLock lock(view);
  view.DrainReads();
  CHECK(partition->Stats().hits == 5);
  // Both were written at 0 s; only "read" was used since: an eviction of
  // what is colder than 50 s takes "unread" alone.
  partition->EvictColderThan(50'000'000);
  CHECK(partition->Contains("read"));
  CHECK_FALSE(partition->Contains("unread"));
}
