#include "actors/hot_reads.h"

#include <atomic>

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
  if (!views_[DataKindIndex(kind)].Read(key, &out->value, &out->lsn)) return false;
  out->served_from = records::tier::ram;
  if (!learn_accesses_) return true;
  if (reader.size() > records::kMaxReaderBytes) reader = reader.substr(0, records::kMaxReaderBytes);
  Notes& notes = notes_[ThisThreadNotes(kNoteStripes)];
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
