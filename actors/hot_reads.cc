#include "actors/hot_reads.h"

#include <atomic>
#include <chrono>

namespace postdevai::actors {
namespace {

std::size_t ThisThreadNotes(std::size_t stripes) {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index % stripes;
}

}  // namespace

HotReads::HotReads(bool learn_accesses) : learn_accesses_(learn_accesses) {}

bool HotReads::Read(DataKind kind, std::string_view key, std::string_view reader, records::read_result* out) {
  if (DataKindIndex(kind) >= views_.size() || key.empty() || key.size() > records::kMaxKeyBytes) return false;
  const auto started = std::chrono::steady_clock::now();
  if (!views_[DataKindIndex(kind)].Read(key, &out->value, &out->lsn)) return false;
  out->served_from = records::tier::ram;
  const std::size_t stripe = ThisThreadNotes(kNoteStripes);
  {
    const auto nanos = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
    std::size_t bucket = 0;
    while (bucket < records::kLatencyBoundsMicros.size() && nanos > records::kLatencyBoundsMicros[bucket] * 1000) {
      ++bucket;
    }
    Latency& latency = latency_[stripe];
    latency.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    latency.sum_nanos.fetch_add(nanos, std::memory_order_relaxed);
  }
  if (!learn_accesses_) return true;
  if (reader.size() > records::kMaxReaderBytes) reader = reader.substr(0, records::kMaxReaderBytes);
  Notes& notes = notes_[stripe];
  std::lock_guard<std::mutex> lock(notes.mutex);
  if (notes.accesses.size() < kMaxPendingAccesses / kNoteStripes) {
    notes.accesses.push_back(Access{kind, std::string(key), std::string(reader)});
  }
  return true;
}

bool HotReads::Resident(DataKind kind, std::string_view key) {
  return DataKindIndex(kind) < views_.size() && views_[DataKindIndex(kind)].Contains(key);
}

std::uint64_t HotReads::hits() const {
  std::uint64_t total = 0;
  for (const auto& v : views_) total += v.hits();
  return total;
}

records::latency_histogram HotReads::ReadLatency() const {
  records::latency_histogram h;
  std::uint64_t sum_nanos = 0;
  for (const Latency& stripe : latency_) {
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      const std::uint64_t n = stripe.buckets[i].load(std::memory_order_relaxed);
      h.buckets[i] += n;
      h.count += n;
    }
    sum_nanos += stripe.sum_nanos.load(std::memory_order_relaxed);
  }
  h.sum_seconds = static_cast<double>(sum_nanos) / 1e9;
  return h;
}

std::vector<HotReads::Access> HotReads::TakeAccesses() {
  std::vector<Access> taken;
  for (Notes& notes : notes_) {
    std::lock_guard<std::mutex> lock(notes.mutex);
    if (taken.empty()) {
      taken.swap(notes.accesses);
    } else {
      for (auto& a : notes.accesses) taken.push_back(std::move(a));
      notes.accesses.clear();
    }
  }
  return taken;
}

}  // namespace postdevai::actors
