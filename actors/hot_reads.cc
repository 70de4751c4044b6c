#include "actors/hot_reads.h"

namespace postdevai::actors {

HotReads::HotReads(bool learn_accesses) : learn_accesses_(learn_accesses) {}

bool HotReads::Read(DataKind kind, std::string_view key, std::string_view reader, records::read_result* out) {
  if (DataKindIndex(kind) >= views_.size() || key.empty() || key.size() > records::kMaxKeyBytes) return false;
  if (!views_[DataKindIndex(kind)].Read(key, &out->value, &out->lsn)) return false;
  out->served_from = records::tier::ram;
  if (!learn_accesses_) return true;
  if (reader.size() > records::kMaxReaderBytes) reader = reader.substr(0, records::kMaxReaderBytes);
  std::lock_guard<std::mutex> lock(accesses_mutex_);
  if (accesses_.size() < kMaxPendingAccesses) accesses_.push_back(Access{kind, std::string(key), std::string(reader)});
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
  std::lock_guard<std::mutex> lock(accesses_mutex_);
  taken.swap(accesses_);
  return taken;
}

}  // namespace postdevai::actors
