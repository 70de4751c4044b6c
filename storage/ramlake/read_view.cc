#include "storage/ramlake/read_view.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::storage::ramlake {
namespace {

// A failed lock call means a broken invariant (a lock taken twice by its
// owner, memory corruption): continuing would read a partition mid-change.
void CheckLockCall(int rc, const char* what) {
  if (rc == 0) return;
  std::fprintf(stderr, "postdevai: RAM-Lake read view: %s failed (error %d)\n", what, rc);
  std::abort();
}

}  // namespace

PartitionReadView::PartitionReadView() {
  pthread_rwlockattr_t attr;
  CheckLockCall(pthread_rwlockattr_init(&attr), "pthread_rwlockattr_init");
  // Writer preference: a waiting owner blocks new readers, so it is never
  // starved by a continuous stream of them.
  CheckLockCall(pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
                "pthread_rwlockattr_setkind_np");
  CheckLockCall(pthread_rwlock_init(&lock_, &attr), "pthread_rwlock_init");
  pthread_rwlockattr_destroy(&attr);
}

PartitionReadView::~PartitionReadView() { pthread_rwlock_destroy(&lock_); }

std::size_t PartitionReadView::ThisThreadStripe() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

bool PartitionReadView::Read(std::string_view key, std::string* value, std::uint64_t* lsn) {
  // Load the dispatched LSN first: a write acknowledged before this read
  // began was announced before its acknowledgement, so it is seen here.
  const std::uint64_t dispatched = dispatched_.load(std::memory_order_acquire);
  CheckLockCall(pthread_rwlock_rdlock(&lock_), "pthread_rwlock_rdlock");
  bool hit = false;
  // applied_ is read under the lock: the owner applies under it, so what it
  // has announced as applied is what this read sees.
  if (partition_ != nullptr && applied_.load(std::memory_order_acquire) >= dispatched) {
    if (auto slot = partition_->ReadShared(key, value, lsn)) {
      Stripe& stripe = stripes_[ThisThreadStripe()];
      const std::uint64_t n = stripe.hits.fetch_add(1, std::memory_order_relaxed);
      stripe.ring[n % kRingSlots].store(*slot + 1, std::memory_order_relaxed);
      hit = true;
    }
  }
  CheckLockCall(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
  return hit;
}

bool PartitionReadView::Contains(std::string_view key) {
  CheckLockCall(pthread_rwlock_rdlock(&lock_), "pthread_rwlock_rdlock");
  const bool resident = partition_ != nullptr && partition_->Contains(key);
  CheckLockCall(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
  return resident;
}

std::uint64_t PartitionReadView::hits() const {
  std::uint64_t total = 0;
  for (const Stripe& s : stripes_) total += s.hits.load(std::memory_order_relaxed);
  return total;
}

PartitionReadView::OwnerLock::OwnerLock(PartitionReadView& view) : view_(view) {
  CheckLockCall(pthread_rwlock_wrlock(&view_.lock_), "pthread_rwlock_wrlock");
}

PartitionReadView::OwnerLock::~OwnerLock() {
  CheckLockCall(pthread_rwlock_unlock(&view_.lock_), "pthread_rwlock_unlock");
}

void PartitionReadView::Publish(RamLakePartition* partition, std::uint64_t applied_lsn) {
  partition_ = partition;
  applied_.store(applied_lsn, std::memory_order_release);
  for (Stripe& s : stripes_) {
    s.drained = s.hits.load(std::memory_order_relaxed);
    for (auto& note : s.ring) note.store(0, std::memory_order_relaxed);
  }
}

void PartitionReadView::DrainReads() {
  if (partition_ == nullptr) return;
  std::uint64_t hits = 0;
  std::array<std::uint32_t, kStripes * kRingSlots> slots;
  std::size_t count = 0;
  for (Stripe& s : stripes_) {
    const std::uint64_t total = s.hits.load(std::memory_order_relaxed);
    const std::uint64_t fresh = total - s.drained;
    hits += fresh;
    const std::uint64_t noted = fresh < kRingSlots ? fresh : kRingSlots;
    for (std::uint64_t i = total - noted; i < total; ++i) {
      const std::uint32_t note = s.ring[i % kRingSlots].exchange(0, std::memory_order_relaxed);
      if (note != 0) slots[count++] = note - 1;
    }
    s.drained = total;
  }
  if (hits != 0) partition_->NoteSharedReads(hits, slots.data(), count);
}

}  // namespace postdevai::storage::ramlake
