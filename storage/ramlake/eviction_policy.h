// The eviction policies of a RAM-Lake partition: the order in which a full
// partition gives up its clean entries (LRU, SIEVE or S3-FIFO, see
// ramlake_options.h). Internal to storage/ramlake.
//
// A policy only orders entries: it holds no keys, values or budgets, and never
// removes anything itself. The partition reports every entry that arrives, is
// used or leaves, and when it needs room asks for a victim, then removes that
// entry (telling the policy it left as a victim). Which entries may leave is
// the partition's call (PickVictim's `evictable`): dirty entries and the one a
// Put is replacing stay wherever the policy has them.
//
// Memory: the per-entry state of a policy lives in the partition's index
// slots, not in the policy — each slot embeds an EvictionNode (two list links
// and four bits) and the partition lends the policy its slot table (Bind). So
// a policy allocates nothing per entry; only S3-FIFO allocates at all (its
// ghost list: 8-byte key hashes, at most max_entries of them, and their index).
//
// Ownership: the partition owns its policy (NewEvictionQueue) and the slot
// table; slots are named by their index in it.
//
// Thread-safety: none, like the partition: every call comes from the thread
// that drives the partition. No call does I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "storage/ramlake/ramlake_options.h"
#include "storage/ramlake/slot_index.h"

namespace postdevai::storage::ramlake {

// The policy's share of one index slot, embedded in it. The last word is
// shared so that a slot stays 32 bytes: owner_bits are the partition's (a
// policy never reads or writes them), policy_bits the policy's. While a slot is
// listed, prev, next and policy_bits are the policy's alone. The partition
// resets a slot's node (EvictionNode{}) before it inserts the slot, and
// threads its free list through `next` while the slot is unused.
struct EvictionNode {
  std::uint32_t prev = SlotIndex::kNoSlot;  // toward the head of its list (newer)
  std::uint32_t next = SlotIndex::kNoSlot;  // toward the tail (older)
  std::uint32_t owner_bits : 28 = 0;
  std::uint32_t policy_bits : 4 = 0;
};
static_assert(sizeof(EvictionNode) == 12, "part of the partition's 32-byte slot");

// Where the nodes of the partition's slot table are: slot s's node is the
// `node` member of element s. A view: it does not follow the table when the
// table reallocates, so the partition binds a new one after every growth.
class NodeTable {
 public:
  NodeTable() = default;
  template <class Slot>
  explicit NodeTable(std::vector<Slot>& slots)
      : base_(slots.empty() ? nullptr : reinterpret_cast<char*>(&slots.front().node)), stride_(sizeof(Slot)) {
    static_assert(std::is_same_v<decltype(Slot::node), EvictionNode>);
  }

  EvictionNode& operator[](std::uint32_t slot) const {
    return *reinterpret_cast<EvictionNode*>(base_ + std::size_t{slot} * stride_);
  }

 private:
  char* base_ = nullptr;
  std::size_t stride_ = 0;
};

// One partition's eviction order over the slots it holds. Slots passed in are
// always bound (Bind) and, except to Insert, currently listed.
class EvictionQueue {
 public:
  // How an entry arrives, which decides where it goes.
  enum class Arrival : std::uint8_t {
    kPut,       // written by Put: the newest entry (S3-FIFO: on probation
                // unless its key was evicted from probation recently).
    kReattach,  // found in the file by Open, in write order: the newest entry
                // (S3-FIFO: straight into the main queue).
  };

  // The partition's say on who may leave: a borrowed predicate over slots
  // (any callable taking a slot; it must outlive the PickVictim call).
  class Evictable {
   public:
    template <class F>
    Evictable(const F& f)  // NOLINT: implicit by design, so a lambda can be passed as is
        : callable_(&f), call_([](const void* c, std::uint32_t slot) { return (*static_cast<const F*>(c))(slot); }) {}
    bool operator()(std::uint32_t slot) const { return call_(callable_, slot); }

   private:
    const void* callable_;
    bool (*call_)(const void*, std::uint32_t);
  };

  virtual ~EvictionQueue() = default;
  EvictionQueue(const EvictionQueue&) = delete;
  EvictionQueue& operator=(const EvictionQueue&) = delete;

  // Lends the policy the partition's slot table; see NodeTable.
  void Bind(NodeTable nodes) { nodes_ = nodes; }

  // Forgets every entry (the slots are being reset too) and the ghost list.
  virtual void Clear() = 0;

  // The entry in `slot` (its node freshly reset) joins; key_hash is the
  // partition's hash of its key.
  virtual void Insert(std::uint32_t slot, std::uint64_t key_hash, Arrival arrival) = 0;

  // The entry was used: a hit, or an overwrite. The hot path of reads.
  virtual void Access(std::uint32_t slot) = 0;

  // The entry leaves; the policy unlinks it. `victim`: it is the entry
  // PickVictim just returned (S3-FIFO then remembers key_hash if it was still
  // on probation). Erase, a Put that failed while replacing, EvictColderThan
  // and re-attach's segment freeing remove entries that are not victims.
  virtual void Remove(std::uint32_t slot, std::uint64_t key_hash, bool victim) = 0;

  // The next entry to evict among those evictable(slot) accepts, or kNoSlot
  // when the policy's bounded walk finds none (at most 5 * entries + 8 steps;
  // LRU: one pass). May reorder entries (SIEVE clears visited bits and moves
  // its hand; S3-FIFO promotes and rotates) but removes nothing: the caller
  // removes the victim with Remove(victim = true), or leaves it listed.
  virtual std::uint32_t PickVictim(Evictable evictable) = 0;

  // Every listed entry, coldest first (the order ForEach reports and Verify
  // walks): for (s = Coldest(); s != kNoSlot; s = Warmer(s)).
  virtual std::uint32_t Coldest() const = 0;
  virtual std::uint32_t Warmer(std::uint32_t slot) const = 0;

  // The policy's own invariants (links, list ends and counts, no cycle longer
  // than `entries`, per-policy bits), for Verify: what is wrong, or "" when
  // nothing is. O(entries).
  virtual std::string Check(std::uint64_t entries) const = 0;

  // Heap bytes the policy holds (allocated capacity): the ghost list, if any.
  virtual std::uint64_t MemoryBytes() const = 0;

 protected:
  EvictionQueue() = default;

  NodeTable nodes_;
};

// A policy of the given kind for a partition with these budgets (S3-FIFO
// sizes its ghost list from them: max_entries, or one ghost per KiB of
// usable_bytes, at least 64, when max_entries is 0). Never null.
std::unique_ptr<EvictionQueue> NewEvictionQueue(EvictionPolicy policy, std::uint64_t max_entries,
                                                std::uint64_t usable_bytes);

}  // namespace postdevai::storage::ramlake
