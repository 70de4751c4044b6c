#include "storage/ramlake/eviction_policy.h"

#include <algorithm>

namespace postdevai::storage::ramlake {

namespace {

constexpr std::uint32_t kNone = SlotIndex::kNoSlot;

// An intrusive doubly linked list over the nodes: head = newest, tail = oldest.
struct SlotList {
  std::uint32_t head = kNone;
  std::uint32_t tail = kNone;
  std::uint64_t size = 0;

  void PushHead(const NodeTable& nodes, std::uint32_t slot) {
    EvictionNode& n = nodes[slot];
    n.prev = kNone;
    n.next = head;
    if (head != kNone) {
      nodes[head].prev = slot;
    } else {
      tail = slot;
    }
    head = slot;
    ++size;
  }

  void Unlink(const NodeTable& nodes, std::uint32_t slot) {
    EvictionNode& n = nodes[slot];
    if (n.prev != kNone) {
      nodes[n.prev].next = n.next;
    } else {
      head = n.next;
    }
    if (n.next != kNone) {
      nodes[n.next].prev = n.prev;
    } else {
      tail = n.prev;
    }
    n.prev = n.next = kNone;
    --size;
  }

  // Walks head to tail: links agree both ways, the walk ends within `limit`
  // nodes at `tail`, after `size` nodes, and belongs(node) holds for each.
  template <class Belongs>
  std::string Check(const NodeTable& nodes, std::uint64_t limit, Belongs&& belongs) const {
    std::uint64_t count = 0;
    std::uint32_t prev = kNone;
    for (std::uint32_t s = head; s != kNone; s = nodes[s].next) {
      if (nodes[s].prev != prev || !belongs(nodes[s])) return "policy list is broken";
      if (++count > limit) return "policy list has a cycle";
      prev = s;
    }
    if (prev != tail || count != size) return "policy list tail or count is off";
    return "";
  }
};

// Least recently used: every use moves the entry to the head; victims come
// from the tail.
class LruQueue final : public EvictionQueue {
 public:
  void Clear() override { list_ = SlotList{}; }

  void Insert(std::uint32_t slot, std::uint64_t, Arrival) override { list_.PushHead(nodes_, slot); }

  void Access(std::uint32_t slot) override {
    if (list_.head != slot) {
      list_.Unlink(nodes_, slot);
      list_.PushHead(nodes_, slot);
    }
  }

  void Remove(std::uint32_t slot, std::uint64_t, bool) override { list_.Unlink(nodes_, slot); }

  std::uint32_t PickVictim(Evictable evictable) override {
    for (std::uint32_t s = list_.tail; s != kNone; s = nodes_[s].prev) {
      if (evictable(s)) return s;
    }
    return kNone;
  }

  std::uint32_t Coldest() const override { return list_.tail; }
  std::uint32_t Warmer(std::uint32_t slot) const override { return nodes_[slot].prev; }

  std::string Check(std::uint64_t entries) const override {
    return list_.Check(nodes_, entries, [](const EvictionNode&) { return true; });
  }

  std::uint64_t MemoryBytes() const override { return 0; }

 private:
  SlotList list_;
};

// SIEVE (NSDI'24): one FIFO, a visited bit per entry, and a hand that walks
// from the oldest entry toward the newest, clearing visited bits; the first
// unvisited evictable entry goes. A hit only sets a bit.
class SieveQueue final : public EvictionQueue {
 public:
  void Clear() override {
    list_ = SlotList{};
    hand_ = kNone;
  }

  void Insert(std::uint32_t slot, std::uint64_t, Arrival) override { list_.PushHead(nodes_, slot); }

  void Access(std::uint32_t slot) override { nodes_[slot].policy_bits |= kVisited; }

  void Remove(std::uint32_t slot, std::uint64_t, bool) override {
    if (hand_ == slot) hand_ = nodes_[slot].prev;
    list_.Unlink(nodes_, slot);
  }

  std::uint32_t PickVictim(Evictable evictable) override {
    // Bounded: with no evictable entry it gives up instead of spinning.
    const std::uint64_t bound = 5 * list_.size + 8;
    std::uint32_t s = hand_ != kNone ? hand_ : list_.tail;
    for (std::uint64_t steps = 0; steps < bound && s != kNone; ++steps) {
      EvictionNode& n = nodes_[s];
      if (n.policy_bits & kVisited) {
        n.policy_bits &= ~kVisited;
      } else if (evictable(s)) {
        hand_ = n.prev;
        return s;
      }
      s = n.prev != kNone ? n.prev : list_.tail;
    }
    return kNone;
  }

  std::uint32_t Coldest() const override { return list_.tail; }
  std::uint32_t Warmer(std::uint32_t slot) const override { return nodes_[slot].prev; }

  std::string Check(std::uint64_t entries) const override {
    std::string broken =
        list_.Check(nodes_, entries, [](const EvictionNode& n) { return (n.policy_bits & ~kVisited) == 0; });
    if (!broken.empty() || hand_ == kNone) return broken;
    for (std::uint32_t s = list_.head; s != kNone; s = nodes_[s].next) {
      if (s == hand_) return "";
    }
    return "SIEVE hand points outside the queue";
  }

  std::uint64_t MemoryBytes() const override { return 0; }

 private:
  static constexpr std::uint32_t kVisited = 1;

  SlotList list_;
  std::uint32_t hand_ = kNone;
};

// S3-FIFO (SOSP'23): a small probationary FIFO (a tenth of the entries), a
// main FIFO with a 2-bit frequency per entry, and a ghost list of key hashes
// recently evicted from probation. A scan passes through the small queue
// without touching the main one.
class S3FifoQueue final : public EvictionQueue {
 public:
  explicit S3FifoQueue(std::uint64_t ghost_capacity) : ghost_capacity_(ghost_capacity) {}

  void Clear() override {
    small_ = SlotList{};
    main_ = SlotList{};
    ghost_ring_.clear();
    ghost_next_ = 0;
    ghost_index_.Clear();
  }

  void Insert(std::uint32_t slot, std::uint64_t key_hash, Arrival arrival) override {
    bool to_main = arrival == Arrival::kReattach;
    if (!to_main && !ghost_ring_.empty()) {
      // A key evicted from the small queue not long ago is back: it has
      // proven itself, skip probation.
      std::uint64_t g = GhostHash(key_hash);
      std::uint32_t pos = ghost_index_.Find(g, [&](std::uint32_t p) { return ghost_ring_[p] == g; });
      if (pos != kNone) {
        ghost_index_.Erase(g, pos);
        ghost_ring_[pos] = 0;
        to_main = true;
      }
    }
    if (to_main) {
      nodes_[slot].policy_bits |= kInMain;
      main_.PushHead(nodes_, slot);
    } else {
      small_.PushHead(nodes_, slot);
    }
  }

  void Access(std::uint32_t slot) override {
    EvictionNode& n = nodes_[slot];
    if (Freq(n) < 3) SetFreq(n, Freq(n) + 1);
  }

  void Remove(std::uint32_t slot, std::uint64_t key_hash, bool victim) override {
    if (nodes_[slot].policy_bits & kInMain) {
      main_.Unlink(nodes_, slot);
      return;
    }
    // Remember a victim of probation: if it comes back soon it goes straight to main.
    if (victim) AddGhost(GhostHash(key_hash));
    small_.Unlink(nodes_, slot);
  }

  std::uint32_t PickVictim(Evictable evictable) override {
    const std::uint64_t entries = small_.size + main_.size;
    const std::uint64_t bound = 5 * entries + 8;
    for (std::uint64_t steps = 0; steps < bound; ++steps) {
      bool small_over = small_.size > 0 && small_.size * 10 >= std::max<std::uint64_t>(entries, 1);
      if (small_over || main_.head == kNone) {
        std::uint32_t s = small_.tail;
        if (s == kNone) return kNone;
        EvictionNode& n = nodes_[s];
        if (Freq(n) >= 1 || !evictable(s)) {
          // Read again while on probation (or cannot leave yet): promote.
          small_.Unlink(nodes_, s);
          n.policy_bits |= kInMain;
          SetFreq(n, 0);
          main_.PushHead(nodes_, s);
          continue;
        }
        return s;
      }
      std::uint32_t s = main_.tail;
      EvictionNode& n = nodes_[s];
      if (Freq(n) > 0 || !evictable(s)) {
        if (Freq(n) > 0) SetFreq(n, Freq(n) - 1);
        main_.Unlink(nodes_, s);
        main_.PushHead(nodes_, s);
        continue;
      }
      return s;
    }
    return kNone;
  }

  // The probationary queue holds the colder entries.
  std::uint32_t Coldest() const override { return small_.tail != kNone ? small_.tail : main_.tail; }
  std::uint32_t Warmer(std::uint32_t slot) const override {
    const EvictionNode& n = nodes_[slot];
    if (n.prev != kNone || (n.policy_bits & kInMain)) return n.prev;
    return main_.tail;
  }

  std::string Check(std::uint64_t entries) const override {
    std::string broken =
        small_.Check(nodes_, entries, [](const EvictionNode& n) { return !(n.policy_bits & kInMain); });
    if (broken.empty()) {
      broken = main_.Check(nodes_, entries, [](const EvictionNode& n) { return (n.policy_bits & kInMain) != 0; });
    }
    return broken;
  }

  std::uint64_t MemoryBytes() const override {
    return ghost_ring_.capacity() * sizeof(std::uint64_t) + ghost_index_.MemoryBytes();
  }

 private:
  // policy_bits: in the main queue, and a 2-bit frequency above it.
  static constexpr std::uint32_t kInMain = 1;
  static constexpr std::uint32_t kFreqShift = 1;
  static std::uint32_t Freq(const EvictionNode& n) { return n.policy_bits >> kFreqShift; }
  static void SetFreq(EvictionNode& n, std::uint32_t f) {
    n.policy_bits = (n.policy_bits & kInMain) | (f << kFreqShift);
  }

  // Ghosts are hashes; 0 marks an empty ring position.
  static std::uint64_t GhostHash(std::uint64_t hash) { return hash == 0 ? 1 : hash; }

  void AddGhost(std::uint64_t g) {
    std::uint32_t pos;
    if (ghost_ring_.size() < ghost_capacity_) {
      pos = static_cast<std::uint32_t>(ghost_ring_.size());
      ghost_ring_.push_back(0);
    } else {
      pos = static_cast<std::uint32_t>(ghost_next_);
      ghost_next_ = (ghost_next_ + 1) % ghost_ring_.size();
      if (ghost_ring_[pos] != 0) ghost_index_.Erase(ghost_ring_[pos], pos);
    }
    if (ghost_index_.Find(g, [&](std::uint32_t p) { return ghost_ring_[p] == g; }) == kNone) {
      ghost_ring_[pos] = g;
      ghost_index_.Insert(g, pos);
    } else {
      ghost_ring_[pos] = 0;
    }
  }

  const std::uint64_t ghost_capacity_;
  SlotList small_;
  SlotList main_;
  std::vector<std::uint64_t> ghost_ring_;
  std::size_t ghost_next_ = 0;
  SlotIndex ghost_index_;  // ghost hash -> ring position
};

}  // namespace

std::unique_ptr<EvictionQueue> NewEvictionQueue(EvictionPolicy policy, std::uint64_t max_entries,
                                                std::uint64_t usable_bytes) {
  switch (policy) {
    case EvictionPolicy::kLru: return std::make_unique<LruQueue>();
    case EvictionPolicy::kSieve: return std::make_unique<SieveQueue>();
    case EvictionPolicy::kS3Fifo:
      return std::make_unique<S3FifoQueue>(max_entries != 0 ? max_entries
                                                            : std::max<std::uint64_t>(usable_bytes / 1024, 64));
  }
  return std::make_unique<LruQueue>();  // not reached: the config admits only the three
}

}  // namespace postdevai::storage::ramlake
