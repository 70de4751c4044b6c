#include "storage/cold_tier.h"

#include <algorithm>
#include <chrono>

#include "records/coding.h"

namespace postdevai::storage {

namespace {

// A store write of a replay: big enough that LevelDB's per-write costs
// vanish, small enough that two of them in RAM are nothing.
constexpr std::size_t kReplayBatchOps = 4096;
constexpr std::size_t kReplayBatchBytes = 8u << 20;

}  // namespace

void StampLoggedTime(std::string* payload, std::uint64_t micros) {
  char stamp[kTimeStampBytes];
  stamp[0] = 'T';
  records::EncodeFixed64(stamp + 1, micros);
  payload->insert(0, stamp, sizeof stamp);
}

std::optional<std::uint64_t> LoggedTime(std::string_view payload) {
  if (payload.size() < kTimeStampBytes || payload[0] != 'T') return std::nullopt;
  return records::DecodeFixed64(payload.data() + 1);
}

std::string EncodeMutations(const std::vector<Mutation>& mutations) {
  std::string out;
  for (const auto& m : mutations) {
    out.push_back(m.is_delete ? 'D' : m.encoded ? 'E' : 'P');
    out.push_back(static_cast<char>(m.kind));
    records::PutVarintPrefixed(&out, m.key);
    if (!m.is_delete) records::PutVarintPrefixed(&out, m.value);
  }
  return out;
}

Status DecodeMutations(std::string_view in, std::vector<Mutation>* out) {
  out->clear();
  if (!in.empty() && in[0] == 'T') {
    if (in.size() < kTimeStampBytes) return Status::Corruption("mutation record: truncated time stamp");
    in.remove_prefix(kTimeStampBytes);
  }
  while (!in.empty()) {
    if (in.size() < 2) return Status::Corruption("mutation record: truncated");
    Mutation m;
    char op = in[0];
    auto kind = static_cast<std::uint8_t>(in[1]);
    in.remove_prefix(2);
    if ((op != 'P' && op != 'E' && op != 'D') || kind >= kKindCount) {
      return Status::Corruption("mutation record: bad op or kind");
    }
    m.kind = static_cast<Kind>(kind);
    m.is_delete = op == 'D';
    m.encoded = op == 'E';
    if (!records::GetVarintPrefixed(&in, &m.key) || (!m.is_delete && !records::GetVarintPrefixed(&in, &m.value))) {
      return Status::Corruption("mutation record: truncated key or value");
    }
    out->push_back(m);
  }
  return Status::Ok();
}

Result<std::string> EncodeLoggedWrite(const PersistentStore& store, const std::vector<Mutation>& mutations) {
  std::vector<std::string> encoded;  // owns the compressed values
  encoded.reserve(mutations.size());
  std::vector<Mutation> logged = mutations;
  for (auto& m : logged) {
    if (m.is_delete || m.encoded) continue;
    auto value = store.EncodeUnstamped(m.kind, m.key, m.value);
    if (!value.ok()) return value.status();
    encoded.push_back(std::move(*value));
    m.value = encoded.back();
    m.encoded = true;
  }
  return EncodeMutations(logged);
}

ReplayApplier::ReplayApplier(PersistentStore& store) : store_(store), writer_([this] { WriteLoop(); }) {}

ReplayApplier::~ReplayApplier() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

Status ReplayApplier::Add(std::uint8_t type, std::string_view payload, std::uint64_t lsn) {
  switch (type) {
    case kWalRecordMutations:
      PDAI_RETURN_IF_ERROR(AddLoggedWrite(payload, lsn, &filling_));
      if (filling_.size() >= kReplayBatchOps || filling_.bytes() >= kReplayBatchBytes) return HandOver();
      return Status::Ok();
    case kWalRecordDictionary:
      PDAI_RETURN_IF_ERROR(Finish());
      return store_.ImportDictionary(payload).WithContext("wal record " + std::to_string(lsn));
    default: return Status::Corruption("wal record " + std::to_string(lsn) + ": unknown type");
  }
}

Status ReplayApplier::Finish() {
  PDAI_RETURN_IF_ERROR(HandOver());
  return Drain();
}

Status ReplayApplier::HandOver() {
  if (filling_.empty()) return Status::Ok();
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return handed_.empty() || !error_.ok(); });
  if (!error_.ok()) return error_;
  std::swap(handed_, filling_);
  filling_.Clear();
  lock.unlock();
  changed_.notify_all();
  return Status::Ok();
}

Status ReplayApplier::Drain() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return (handed_.empty() && !writing_) || !error_.ok(); });
  return error_;
}

void ReplayApplier::WriteLoop() {
  StoreWriteBatch batch;
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] { return !handed_.empty() || closing_; });
    if (closing_) return;
    std::swap(batch, handed_);
    writing_ = true;
    lock.unlock();
    Status s = store_.Write(batch);
    batch.Clear();
    lock.lock();
    writing_ = false;
    if (!s.ok()) {
      if (error_.ok()) error_ = s.WithContext("replaying the WAL into the store");
      handed_.Clear();  // nothing after a failed write
    }
    changed_.notify_all();
  }
}

Status AddLoggedWrite(std::string_view payload, std::uint64_t lsn, StoreWriteBatch* batch) {
  std::vector<Mutation> mutations;
  PDAI_RETURN_IF_ERROR(DecodeMutations(payload, &mutations).WithContext("wal record " + std::to_string(lsn)));
  for (const auto& m : mutations) {
    if (m.is_delete) {
      batch->Delete(m.kind, m.key, lsn);
    } else if (m.encoded) {
      batch->PutEncoded(m.kind, m.key, m.value, lsn);
    } else {
      batch->Put(m.kind, m.key, m.value, lsn);
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Wal>> RecoverColdTier(PersistentStore& store, WalOptions wal_options,
                                             DurableStoreRecovery* report, const ReplayObserver& observer) {
  auto start = std::chrono::steady_clock::now();
  const std::uint64_t checkpoint = store.CheckpointLsn();
  wal_options.min_next_lsn = std::max(wal_options.min_next_lsn, checkpoint + 1);
  report->checkpoint_lsn = checkpoint;
  ReplayApplier applier(store);
  std::vector<Mutation> observed;
  auto wal = Wal::Open(wal_options, checkpoint, [&](const WalRecord& r) -> Status {
    if (observer && r.type == kWalRecordMutations) {
      PDAI_RETURN_IF_ERROR(DecodeMutations(r.payload, &observed).WithContext("wal record " + std::to_string(r.lsn)));
      for (const auto& m : observed) observer(r.lsn, m);
    }
    return applier.Add(r.type, r.payload, r.lsn);
  }, &report->wal);
  if (!wal.ok()) return wal.status();
  PDAI_RETURN_IF_ERROR(applier.Finish());
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return wal;
}

}  // namespace postdevai::storage
