#include "storage/replication_log.h"

#include "storage/cold_tier.h"

namespace postdevai::storage {

void ReplicationLog::StartAfter(std::uint64_t durable_lsn) {
  std::lock_guard lock(mu_);
  durable_lsn_ = durable_lsn;
}

void ReplicationLog::OnDurable(const std::vector<WalRecord>& records) {
  {
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      if (r.type == kWalRecordMutations) {
        if (auto micros = LoggedTime(r.payload)) durable_micros_ = std::max(durable_micros_, *micros);
      }
      durable_lsn_ = r.lsn;
      if (r.payload.size() > capacity_) {
        // Larger than the whole log: only the files can serve it.
        records_.clear();
        bytes_ = 0;
        continue;
      }
      if (!records_.empty() && records_.back().record.lsn + 1 != r.lsn) {
        records_.clear();  // never a gap in memory: readers of older LSNs go to the files
        bytes_ = 0;
      }
      appended_ += r.payload.size();
      records_.push_back(Held{ReplicatedRecord{r.lsn, r.type, std::string(r.payload)}, appended_});
      bytes_ += r.payload.size();
      while (bytes_ > capacity_) {
        bytes_ -= records_.front().record.payload.size();
        records_.pop_front();
      }
    }
  }
  grown_.notify_all();
}

ReplicationLog::ReadOutcome ReplicationLog::Read(std::uint64_t from, std::uint64_t max_bytes,
                                                 std::chrono::milliseconds wait,
                                                 std::vector<ReplicatedRecord>* out) {
  std::unique_lock lock(mu_);
  if (!grown_.wait_for(lock, wait, [&] { return closed_ || from <= durable_lsn_; })) return ReadOutcome::kNothingNew;
  if (closed_) return ReadOutcome::kClosed;
  if (records_.empty() || from < records_.front().record.lsn) return ReadOutcome::kNotInMemory;
  std::uint64_t taken = 0;
  for (std::size_t i = from - records_.front().record.lsn; i < records_.size(); ++i) {
    const ReplicatedRecord& r = records_[i].record;
    if (taken > 0 && taken + r.payload.size() > max_bytes) break;
    out->push_back(r);
    taken += r.payload.size() + 1;
  }
  return ReadOutcome::kRecords;
}

std::uint64_t ReplicationLog::durable_lsn() const {
  std::lock_guard lock(mu_);
  return durable_lsn_;
}

std::uint64_t ReplicationLog::durable_micros() const {
  std::lock_guard lock(mu_);
  return durable_micros_;
}

std::uint64_t ReplicationLog::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::uint64_t ReplicationLog::BytesAfter(std::uint64_t lsn) const {
  std::lock_guard lock(mu_);
  if (records_.empty() || lsn >= records_.back().record.lsn) return 0;
  if (lsn < records_.front().record.lsn) return bytes_;
  return appended_ - records_[lsn - records_.front().record.lsn].end;
}

void ReplicationLog::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  grown_.notify_all();
}

}  // namespace postdevai::storage
