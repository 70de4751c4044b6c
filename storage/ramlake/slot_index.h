// A compact hash index from key to entry slot, for one RAM-Lake partition.
// Internal to storage/ramlake.
//
// Keys are not stored here: they live in the partition file next to their
// value, and the caller's `equals(slot)` compares against them. A bucket is
// 8 bytes — a 32-bit tag (the high half of the key's hash) and the slot — so
// the table costs 10..20 bytes per entry (load factor 0.4..0.8), and a probe
// rejects almost every non-matching bucket without touching the file.
// Open addressing, linear probing, backward-shift deletion (no tombstones, so
// churn never degrades lookups). The home bucket is derived from the tag
// alone, which is what lets the table grow without re-reading any key.
//
// Thread-safety: none (owned by a single-threaded partition).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace postdevai::storage::ramlake {

class SlotIndex {
 public:
  static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;

  SlotIndex() { Resize(1024); }

  // The slot whose key the caller's equals(slot) accepts among those sharing
  // hash's tag, or kNoSlot.
  template <class Equals>
  std::uint32_t Find(std::uint64_t hash, Equals&& equals) const {
    std::uint32_t tag = Tag(hash);
    std::size_t i = Home(tag);
    for (;;) {
      std::uint64_t b = buckets_[i];
      if (b == 0) return kNoSlot;
      if (static_cast<std::uint32_t>(b >> 32) == tag) {
        std::uint32_t slot = static_cast<std::uint32_t>(b) - 1;
        if (equals(slot)) return slot;
      }
      i = (i + 1) & mask_;
    }
  }

  // Adds slot under hash; the key must not be present already.
  void Insert(std::uint64_t hash, std::uint32_t slot) {
    if ((size_ + 1) * 5 > buckets_.size() * 4) Resize(buckets_.size() * 2);
    Place(Bucket(Tag(hash), slot));
    ++size_;
  }

  // Removes slot, which must have been inserted under hash.
  void Erase(std::uint64_t hash, std::uint32_t slot) {
    std::uint64_t wanted = Bucket(Tag(hash), slot);
    std::size_t i = Home(Tag(hash));
    while (buckets_[i] != wanted) i = (i + 1) & mask_;
    // Backward shift: pull later members of the probe run into the hole
    // unless that would move them before their home bucket.
    std::size_t hole = i;
    std::size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      std::uint64_t b = buckets_[j];
      if (b == 0) break;
      std::size_t home = Home(static_cast<std::uint32_t>(b >> 32));
      bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        buckets_[hole] = b;
        hole = j;
      }
    }
    buckets_[hole] = 0;
    --size_;
  }

  void Clear() {
    buckets_.assign(buckets_.size(), 0);
    size_ = 0;
  }
  std::size_t size() const { return size_; }
  std::size_t MemoryBytes() const { return buckets_.capacity() * sizeof(std::uint64_t); }

 private:
  static std::uint32_t Tag(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 32); }
  static std::uint64_t Bucket(std::uint32_t tag, std::uint32_t slot) {
    return (std::uint64_t{tag} << 32) | (std::uint64_t{slot} + 1);  // never 0
  }
  std::size_t Home(std::uint32_t tag) const {
    return static_cast<std::size_t>((tag * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  void Place(std::uint64_t bucket) {
    std::size_t i = Home(static_cast<std::uint32_t>(bucket >> 32));
    while (buckets_[i] != 0) i = (i + 1) & mask_;
    buckets_[i] = bucket;
  }
  void Resize(std::size_t bucket_count) {
    std::vector<std::uint64_t> old;
    old.swap(buckets_);
    buckets_.assign(bucket_count, 0);
    mask_ = bucket_count - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(bucket_count));
    for (std::uint64_t b : old) {
      if (b != 0) Place(b);
    }
  }

  std::vector<std::uint64_t> buckets_;
  std::size_t mask_ = 0;
  unsigned shift_ = 0;
  std::size_t size_ = 0;
};

}  // namespace postdevai::storage::ramlake
