// The read view of one RAM-Lake partition: lets any number of threads read
// resident entries directly, without a message to the partition's owner, while
// the owner (the partition actor) stays the only writer.
//
// Design (why a reader-writer lock and not a seqlock or epochs): a partition's
// index is an open-addressing table that grows, its slot table is a vector
// that reallocates, the cleaner moves records and a Put may overwrite a record
// in place. A seqlock would have every reader race with all of these and
// re-validate afterwards, which C++'s memory model only allows if every byte
// read (file and index) is read atomically; epochs would need deferred
// reclamation of the index, the slot table and file space. A reader-writer
// lock makes each read a plain read of a quiescent partition: readers share
// the lock, the owner takes it exclusively for each change. Its price is two
// atomic operations on the lock's cache line per read — what LevelDB's own Get
// pays for its mutex, twice over. The lock prefers writers, so a stream of
// readers cannot starve the owner; the owner holds it for one change at a
// time (a Put, a batch of writes, an eviction pass), never across I/O.
//
// Freshness (never stale after an acknowledgement): writes reach a partition
// asynchronously — the controller acknowledges a write after sending it to
// the partition actor, which may not have applied it yet. So the dispatcher
// (the controller) announces each write's LSN before acknowledging it
// (WritesDispatched), the owner announces what it has applied
// (WritesApplied), and a reader serves only while the two agree; otherwise it
// declines and the caller asks the partition actor, whose mailbox is in order
// behind the write. A write that is in flight thus only makes readers of that
// one partition take the slow path for the few microseconds until it lands.
//
// What readers do to statistics and recency: hits are counted per reader
// thread (striped, no shared counter); the slots read are noted in small
// per-stripe rings that the owner drains into the partition (NoteSharedReads)
// each time it takes the lock. The rings are lossy by design: under a flood of
// reads some recency updates are dropped, never a hit count.
//
// Thread-safety: Read, hits(), Contains and WritesDispatched from any thread. The rest
// from the owner only, and Publish, WritesApplied (when publishing) and
// DrainReads only while holding an OwnerLock.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace postdevai::storage::ramlake {

class RamLakePartition;

class PartitionReadView {
 public:
  PartitionReadView();
  ~PartitionReadView();
  PartitionReadView(const PartitionReadView&) = delete;
  PartitionReadView& operator=(const PartitionReadView&) = delete;

  // --- readers (any thread) ---

  // Copies key's value and LSN when the published partition holds it and
  // every write announced so far has been applied; false otherwise (nothing
  // published, a write in flight, or not resident): the caller must then ask
  // the partition's owner. Never blocks on I/O; waits only while the owner
  // holds the lock for one change.
  bool Read(std::string_view key, std::string* value, std::uint64_t* lsn);
  // Reads served by Read so far.
  std::uint64_t hits() const;
  // Whether the published partition holds key; counts nothing. A write in
  // flight may change the answer at any moment: it is a hint.
  bool Contains(std::string_view key);

  // --- the dispatcher of writes (any one thread at a time) ---

  // A write with this LSN is on its way to the owner; call before the write
  // is acknowledged. LSNs only grow.
  void WritesDispatched(std::uint64_t lsn) { dispatched_.store(lsn, std::memory_order_release); }
  std::uint64_t dispatched_lsn() const { return dispatched_.load(std::memory_order_acquire); }

  // --- the owner ---

  // Holds readers off while the owner changes the partition; every
  // non-const call on a published partition must be made under one.
  class OwnerLock {
   public:
    explicit OwnerLock(PartitionReadView& view);
    ~OwnerLock();
    OwnerLock(const OwnerLock&) = delete;
    OwnerLock& operator=(const OwnerLock&) = delete;

   private:
    PartitionReadView& view_;
  };

  // Under an OwnerLock: from now on readers read `partition` (null: nothing,
  // every read declines), which reflects every write up to applied_lsn.
  // Reads noted for a previous partition are dropped.
  void Publish(RamLakePartition* partition, std::uint64_t applied_lsn);
  // The owner has applied every write up to lsn (it receives them in order).
  void WritesApplied(std::uint64_t lsn) { applied_.store(lsn, std::memory_order_release); }
  std::uint64_t applied_lsn() const { return applied_.load(std::memory_order_acquire); }
  // Under an OwnerLock: accounts the reads made since the last drain to the
  // published partition (NoteSharedReads). OwnerLock's destructor does not
  // drain: the owner decides when (the partition actor drains at every change).
  void DrainReads();

 private:
  static constexpr std::size_t kStripes = 16;
  static constexpr std::size_t kRingSlots = 64;  // recency notes per stripe between drains
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> hits{0};
    std::array<std::atomic<std::uint32_t>, kRingSlots> ring{};  // slot + 1; 0: empty
    std::uint64_t drained = 0;                                  // owner only, under the lock
  };
  static std::size_t ThisThreadStripe();

  mutable pthread_rwlock_t lock_;
  RamLakePartition* partition_ = nullptr;  // guarded by lock_
  std::atomic<std::uint64_t> dispatched_{0};
  std::atomic<std::uint64_t> applied_{0};
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace postdevai::storage::ramlake
