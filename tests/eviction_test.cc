// RAM-Lake budgets and eviction: a partition never holds more than its budget,
// evicts only clean entries and reports every eviction; each policy makes the
// same hit/miss and eviction decisions as a plain reference model on random
// operation sequences.
#include <catch2/catch.hpp>

#include <deque>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/ramlake/ramlake_partition.h"
#include "tests/ramlake_test_util.h"

using namespace postdevai;
using namespace postdevai::storage;
using namespace postdevai::storage::ramlake;
using namespace postdevai::ramlake_testing;

namespace {

// The reference: the textbook form of each policy over std::list and
// std::unordered_map, with the partition's byte and entry budgets and its
// dirty/clean rule, and nothing else (no segments, no file).
class ReferenceCache {
 public:
  ReferenceCache(EvictionPolicy policy, std::uint64_t usable_bytes, std::uint64_t max_entries)
      : policy_(policy), usable_(usable_bytes), max_entries_(max_entries) {
    ghost_capacity_ = max_entries != 0 ? max_entries : std::max<std::uint64_t>(usable_bytes / 1024, 64);
  }

  // Returns the status code and appends evicted keys.
  StatusCode Put(const std::string& key, std::size_t value_size, std::uint64_t lsn, std::vector<std::string>* evicted) {
    std::uint64_t fp = RamLakePartition::RecordFootprint(key.size(), value_size);
    auto it = map_.find(key);
    bool is_new = it == map_.end();
    if (!is_new) {
      Item& item = it->second;
      if (item.lsn > lsn) return StatusCode::kOk;
      live_ -= item.fp;
      if (item.dirty) {
        dirty_bytes_ -= item.fp;
        --dirty_count_;
        item.dirty = false;
      }
      item.fp = 0;
      Access(key);
      item.pinned = true;
    }
    bool needs_slot = is_new && max_entries_ != 0 && map_.size() >= max_entries_;
    if (dirty_bytes_ + fp > usable_ || (needs_slot && map_.size() == dirty_count_)) {
      if (!is_new) Remove(key);
      return StatusCode::kBusy;
    }
    while (is_new && max_entries_ != 0 && map_.size() >= max_entries_) EvictOne(evicted);
    while (live_ + fp > usable_) EvictOne(evicted);
    if (is_new) {
      Item item;
      map_[key] = item;
      Insert(key);
    }
    Item& item = map_[key];
    item.fp = fp;
    item.lsn = lsn;
    item.pinned = false;
    live_ += fp;
    if (lsn > persisted_) {
      item.dirty = true;
      dirty_bytes_ += fp;
      ++dirty_count_;
    }
    return StatusCode::kOk;
  }

  bool Get(const std::string& key) {
    if (!map_.count(key)) return false;
    Access(key);
    return true;
  }

  bool Erase(const std::string& key) {
    if (!map_.count(key)) return false;
    Remove(key);
    return true;
  }

  void SetPersisted(std::uint64_t lsn) {
    if (lsn <= persisted_) return;
    persisted_ = lsn;
    for (auto& [key, item] : map_) {
      if (item.dirty && item.lsn <= lsn) {
        item.dirty = false;
        dirty_bytes_ -= item.fp;
        --dirty_count_;
      }
    }
  }

  std::uint64_t live() const { return live_; }
  std::size_t size() const { return map_.size(); }

 private:
  struct Item {
    std::uint64_t fp = 0, lsn = 0;
    bool dirty = false, pinned = false, visited = false, in_main = false;
    int freq = 0;
    std::list<std::string>::iterator pos;
  };

  bool Evictable(const Item& item) const { return !item.dirty && !item.pinned; }

  void Insert(const std::string& key) {
    Item& item = map_[key];
    std::list<std::string>* list = &small_;
    if (policy_ == EvictionPolicy::kS3Fifo) {
      std::uint64_t g = GhostHash(key);
      auto gi = ghost_pos_.find(g);
      if (gi != ghost_pos_.end()) {
        ghost_[gi->second] = 0;
        ghost_pos_.erase(gi);
        item.in_main = true;
        list = &main_;
      }
    }
    list->push_front(key);
    item.pos = list->begin();
  }

  void Access(const std::string& key) {
    Item& item = map_[key];
    switch (policy_) {
      case EvictionPolicy::kLru:
        small_.erase(item.pos);
        small_.push_front(key);
        item.pos = small_.begin();
        break;
      case EvictionPolicy::kSieve: item.visited = true; break;
      case EvictionPolicy::kS3Fifo: item.freq = std::min(item.freq + 1, 3); break;
    }
  }

  void Remove(const std::string& key) {
    Item& item = map_[key];
    live_ -= item.fp;
    if (item.dirty) {
      dirty_bytes_ -= item.fp;
      --dirty_count_;
    }
    std::list<std::string>& list = item.in_main ? main_ : small_;
    if (has_hand_ && hand_ == item.pos) {
      if (hand_ == small_.begin()) {
        has_hand_ = false;
      } else {
        --hand_;
      }
    }
    list.erase(item.pos);
    map_.erase(key);
  }

  void EvictOne(std::vector<std::string>* evicted) {
    std::string victim = Victim();
    REQUIRE(!victim.empty());
    evicted->push_back(victim);
    Remove(victim);
  }

  static std::uint64_t GhostHash(const std::string& key) {
    std::uint64_t h = std::hash<std::string_view>{}(key);
    return h == 0 ? 1 : h;
  }

  std::string Victim() {
    switch (policy_) {
      case EvictionPolicy::kLru:
        for (auto it = small_.rbegin(); it != small_.rend(); ++it) {
          if (Evictable(map_[*it])) return *it;
        }
        return "";
      case EvictionPolicy::kSieve: {
        auto it = has_hand_ ? hand_ : std::prev(small_.end());
        for (std::size_t steps = 0; steps < 5 * map_.size() + 8; ++steps) {
          Item& item = map_[*it];
          if (item.visited) {
            item.visited = false;
          } else if (Evictable(item)) {
            if (it == small_.begin()) {
              has_hand_ = false;
            } else {
              has_hand_ = true;
              hand_ = std::prev(it);
            }
            return *it;
          }
          it = it == small_.begin() ? std::prev(small_.end()) : std::prev(it);
        }
        return "";
      }
      case EvictionPolicy::kS3Fifo:
        for (std::size_t steps = 0; steps < 5 * map_.size() + 8; ++steps) {
          bool small_over = !small_.empty() && small_.size() * 10 >= std::max<std::size_t>(map_.size(), 1);
          if (small_over || main_.empty()) {
            if (small_.empty()) return "";
            std::string key = small_.back();
            Item& item = map_[key];
            if (item.freq >= 1 || !Evictable(item)) {
              small_.pop_back();
              main_.push_front(key);
              item.pos = main_.begin();
              item.in_main = true;
              item.freq = 0;
              continue;
            }
            AddGhost(GhostHash(key));
            return key;
          }
          std::string key = main_.back();
          Item& item = map_[key];
          if (item.freq > 0 || !Evictable(item)) {
            if (item.freq > 0) --item.freq;
            main_.pop_back();
            main_.push_front(key);
            item.pos = main_.begin();
            continue;
          }
          return key;
        }
        return "";
    }
    return "";
  }

  void AddGhost(std::uint64_t g) {
    std::size_t pos;
    if (ghost_.size() < ghost_capacity_) {
      pos = ghost_.size();
      ghost_.push_back(0);
    } else {
      pos = ghost_next_;
      ghost_next_ = (ghost_next_ + 1) % ghost_.size();
      if (ghost_[pos] != 0) ghost_pos_.erase(ghost_[pos]);
    }
    if (ghost_pos_.count(g) == 0) {
      ghost_[pos] = g;
      ghost_pos_[g] = pos;
    } else {
      ghost_[pos] = 0;
    }
  }

  EvictionPolicy policy_;
  std::uint64_t usable_, max_entries_;
  std::uint64_t live_ = 0, dirty_bytes_ = 0, dirty_count_ = 0, persisted_ = 0;
  std::unordered_map<std::string, Item> map_;
  std::list<std::string> small_;  // LRU order / SIEVE queue / S3-FIFO small queue; front = newest
  std::list<std::string> main_;   // S3-FIFO main queue
  bool has_hand_ = false;
  std::list<std::string>::iterator hand_;
  std::vector<std::uint64_t> ghost_;
  std::size_t ghost_next_ = 0;
  std::uint64_t ghost_capacity_;
  std::unordered_map<std::uint64_t, std::size_t> ghost_pos_;
};

void RunAgainstReference(EvictionPolicy policy, std::uint64_t max_entries, std::uint64_t seed) {
  ShmDir dir("model");
  auto options = SmallPartition(dir.path(), PartitionKind::kVectors, 1 << 20);
  options.eviction = policy;
  options.max_entries = max_entries;
  auto opened = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(opened.ok());
  RamLakePartition& part = **opened;
  ReferenceCache model(policy, part.usable_bytes(), max_entries);

  std::mt19937_64 rng(seed);
  std::uint64_t lsn = 0;
  std::uint64_t persisted = 0;
  std::unordered_map<std::string, std::uint64_t> latest;  // the persistent store's view: key -> lsn
  std::size_t hits = 0, evictions = 0, busy = 0;
  for (int op = 0; op < 30000; ++op) {
    INFO("policy " << EvictionPolicyName(policy) << " seed " << seed << " op " << op);
    // A skewed key choice so that policies have something to get right.
    std::uint64_t r = rng() % 100;
    std::uint64_t k = r < 40 ? rng() % 60 : (r < 70 ? rng() % 400 : rng() % 2000);
    std::string key = KeyFor(k);
    std::uint64_t kind = rng() % 100;
    if (kind < 35) {
      std::size_t size = 50 + rng() % 2500;
      std::uint64_t put_lsn = ++lsn;
      // A late, stale put of a resident key (a promotion racing a newer
      // write); a caller never offers a version older than the store's for a
      // key that is not resident, so neither does the test.
      if (rng() % 50 == 0 && part.Contains(key)) put_lsn = latest[key] - 1;
      std::vector<EvictedEntry> evicted;
      Status s = part.Put(key, ValueFor(key, put_lsn, size), put_lsn, &evicted);
      std::vector<std::string> model_evicted;
      StatusCode expected = model.Put(key, size, put_lsn, &model_evicted);
      REQUIRE(s.code() == expected);
      REQUIRE(evicted.size() == model_evicted.size());
      for (std::size_t i = 0; i < evicted.size(); ++i) REQUIRE(evicted[i].key == model_evicted[i]);
      evictions += evicted.size();
      if (!s.ok()) ++busy;
      if (put_lsn > latest[key]) latest[key] = put_lsn;
    } else if (kind < 95) {
      auto view = part.Lookup(key);
      REQUIRE(view.has_value() == model.Get(key));
      if (view) {
        ++hits;
        // Never a stale version: what is resident is what was written last.
        REQUIRE(view->lsn == latest[key]);
        REQUIRE(view->value == ValueFor(key, view->lsn, view->value.size()));
      }
    } else if (kind < 97) {
      REQUIRE(part.Erase(key).ok() == model.Erase(key));
    } else if ((op / 6000) % 4 != 3) {
      // The persistent store catches up, but stalls for one stretch in four
      // (dirty entries pile up and Put must refuse rather than overflow).
      std::uint64_t lag = rng() % 3 == 0 ? 0 : rng() % 200;
      persisted = std::max(persisted, lsn > lag ? lsn - lag : 0);
      part.SetPersistedLsn(persisted);
      model.SetPersisted(persisted);
    }
    REQUIRE(part.Stats().live_bytes == model.live());
    REQUIRE(part.Stats().entries == model.size());
    REQUIRE(part.Stats().live_bytes <= part.usable_bytes());
    if (op % 1000 == 0) REQUIRE(part.Verify().ok());
  }
  REQUIRE(part.Verify().ok());
  // The sequence must have exercised what it claims to test.
  CHECK(hits > 1000);
  CHECK(evictions > 1000);
  CHECK(busy > 0);
}

}  // namespace

TEST_CASE("LRU makes the reference model's decisions", "[ramlake][eviction]") {
  for (std::uint64_t seed : {1, 2, 3}) RunAgainstReference(EvictionPolicy::kLru, 0, seed);
  RunAgainstReference(EvictionPolicy::kLru, 150, 4);
}

TEST_CASE("SIEVE makes the reference model's decisions", "[ramlake][eviction]") {
  for (std::uint64_t seed : {1, 2, 3}) RunAgainstReference(EvictionPolicy::kSieve, 0, seed);
  RunAgainstReference(EvictionPolicy::kSieve, 150, 4);
}

TEST_CASE("S3-FIFO makes the reference model's decisions", "[ramlake][eviction]") {
  for (std::uint64_t seed : {1, 2, 3}) RunAgainstReference(EvictionPolicy::kS3Fifo, 0, seed);
  RunAgainstReference(EvictionPolicy::kS3Fifo, 150, 4);
}

TEST_CASE("Filling past the budget evicts, never exceeds it, and reports every eviction", "[ramlake][eviction]") {
  for (EvictionPolicy policy : {EvictionPolicy::kLru, EvictionPolicy::kSieve, EvictionPolicy::kS3Fifo}) {
    INFO("policy " << EvictionPolicyName(policy));
    ShmDir dir("budget");
    auto options = SmallPartition(dir.path(), PartitionKind::kCode, 2 << 20);
    options.eviction = policy;
    auto opened = RamLakePartition::Open(FileSystem::Default(), options);
    REQUIRE(opened.ok());
    RamLakePartition& part = **opened;
    std::unordered_map<std::string, std::string> store;  // the persistent store: every write
    std::unordered_map<std::string, bool> resident;
    std::uint64_t written = 0;
    std::mt19937_64 rng(11);
    for (std::uint64_t lsn = 1; lsn <= 20000; ++lsn) {
      std::string key = KeyFor(lsn % 5000);
      std::string value = ValueFor(key, lsn, 200 + rng() % 1800);
      std::vector<EvictedEntry> evicted;
      REQUIRE(part.Put(key, value, lsn, &evicted).ok());
      part.SetPersistedLsn(lsn);  // written through to the store
      store[key] = value;
      resident[key] = true;
      written += value.size();
      for (const EvictedEntry& e : evicted) {
        REQUIRE(e.key != key);
        REQUIRE(resident[e.key]);
        resident[e.key] = false;
      }
      REQUIRE(part.Stats().live_bytes <= part.usable_bytes());
      REQUIRE(part.usable_bytes() < options.capacity_bytes);
    }
    CHECK(written > 10 * options.capacity_bytes);
    CHECK(part.Stats().evictions > 10000);
    // Exactly the keys never reported evicted are resident, with their latest
    // value; everything else is still readable from the store.
    std::string v;
    for (const auto& [key, is_resident] : resident) {
      REQUIRE(part.Contains(key) == is_resident);
      if (is_resident) {
        REQUIRE(part.Get(key, &v).ok());
        REQUIRE(v == store[key]);
      }
    }
    REQUIRE(part.Verify().ok());
  }
}

TEST_CASE("Dirty entries are never evicted, a full dirty partition refuses with kBusy", "[ramlake][eviction]") {
  ShmDir dir("dirty");
  auto options = SmallPartition(dir.path(), PartitionKind::kHistory, 1 << 20);
  auto opened = RamLakePartition::Open(FileSystem::Default(), options);
  REQUIRE(opened.ok());
  RamLakePartition& part = **opened;
  // Nothing is persisted: every entry is dirty.
  std::uint64_t lsn = 0;
  Status s;
  std::vector<EvictedEntry> evicted;
  while ((s = part.Put(KeyFor(lsn), std::string(1000, 'd'), lsn + 1, &evicted)).ok()) ++lsn;
  CHECK(s.code() == StatusCode::kBusy);
  CHECK(s.message().find("dirty") != std::string::npos);
  CHECK(evicted.empty());
  CHECK(part.Stats().rejected_puts == 1);
  CHECK(part.Stats().dirty_entries == lsn);
  // Replacing a dirty entry when nothing can make room drops the old version
  // rather than leaving it behind stale.
  CHECK(part.Put(KeyFor(0), std::string(3000, 'n'), lsn + 10).code() == StatusCode::kBusy);
  CHECK_FALSE(part.Contains(KeyFor(0)));
  // Once the store has the first half, those become evictable, oldest first.
  part.SetPersistedLsn(lsn / 2);
  REQUIRE(part.Put("fresh", std::string(3000, 'f'), lsn + 20, &evicted).ok());
  REQUIRE_FALSE(evicted.empty());
  for (const EvictedEntry& e : evicted) CHECK(e.lsn <= lsn / 2);
  CHECK(part.Verify().ok());
}

TEST_CASE("EvictColderThan drops clean entries not used since the cutoff", "[ramlake][eviction]") {
  ShmDir dir("cold");
  auto opened = RamLakePartition::Open(FileSystem::Default(), SmallPartition(dir.path()));
  REQUIRE(opened.ok());
  RamLakePartition& part = **opened;
  const std::uint64_t t0 = FileSystem::Default()->NowMicros();
  part.SetNow(t0);
  for (int i = 0; i < 10; ++i) REQUIRE(part.Put(KeyFor(i), "old", i + 1).ok());
  part.SetNow(t0 + 3600'000'000ull);
  for (int i = 0; i < 3; ++i) REQUIRE(part.Lookup(KeyFor(i)).has_value());
  REQUIRE(part.Put("dirty-old", "x", 100).ok());
  part.SetPersistedLsn(10);
  std::vector<EvictedEntry> evicted;
  CHECK(part.EvictColderThan(t0 + 1800'000'000ull, &evicted) == 7);
  CHECK(evicted.size() == 7);
  CHECK(part.Stats().entries == 4);  // three recently read, one dirty
  CHECK(part.Verify().ok());
}
