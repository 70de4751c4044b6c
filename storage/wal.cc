#include "storage/wal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>

#include "records/coding.h"
#include "storage/crc32c.h"

namespace postdevai::storage {

namespace {

constexpr std::uint64_t kSegmentHeaderSize = 4096;
constexpr std::uint64_t kRecordHeaderSize = 32;
constexpr std::uint64_t kSegmentMagic = 0x314c415749414450ull;  // "PDAIWAL1"
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::string_view kSegmentPrefix = "wal-";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::string_view kSpareSuffix = ".log.tmp";

using records::DecodeFixed32;
using records::DecodeFixed64;
using records::EncodeFixed32;
using records::EncodeFixed64;

std::uint64_t Align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
std::uint64_t FramedSize(std::size_t payload) { return kRecordHeaderSize + Align8(payload); }

void EncodeRecord(std::string* out, std::uint64_t lsn, std::uint8_t type, std::string_view payload,
                  std::uint64_t durable_lsn) {
  std::size_t start = out->size();
  out->resize(start + FramedSize(payload.size()), '\0');
  char* h = out->data() + start;
  EncodeFixed32(h + 4, crc32c::Value(payload));
  EncodeFixed32(h + 8, static_cast<std::uint32_t>(payload.size()));
  h[12] = static_cast<char>(type);
  EncodeFixed64(h + 16, lsn);
  EncodeFixed64(h + 24, durable_lsn);
  EncodeFixed32(h, crc32c::Value(h + 4, kRecordHeaderSize - 4));
  std::memcpy(h + kRecordHeaderSize, payload.data(), payload.size());
}

struct DecodedRecord {
  std::uint64_t lsn;
  std::uint64_t durable_lsn;
  std::uint8_t type;
  std::string_view payload;
  std::uint64_t framed_size;
};

// True when [p, p+avail) starts with an intact record.
bool DecodeRecord(const char* p, std::uint64_t avail, DecodedRecord* out) {
  if (avail < kRecordHeaderSize) return false;
  if (DecodeFixed32(p) != crc32c::Value(p + 4, kRecordHeaderSize - 4)) return false;
  std::uint32_t length = DecodeFixed32(p + 8);
  auto type = static_cast<std::uint8_t>(p[12]);
  std::uint64_t lsn = DecodeFixed64(p + 16);
  if (type == 0 || lsn == 0 || FramedSize(length) > avail) return false;
  std::string_view payload(p + kRecordHeaderSize, length);
  if (DecodeFixed32(p + 4) != crc32c::Value(payload)) return false;
  *out = DecodedRecord{lsn, DecodeFixed64(p + 24), type, payload, FramedSize(length)};
  return true;
}

std::string EncodeSegmentHeader(std::uint64_t seq, std::uint64_t first_lsn) {
  std::string h(kSegmentHeaderSize, '\0');
  EncodeFixed32(h.data() + 4, kFormatVersion);
  EncodeFixed64(h.data() + 8, kSegmentMagic);
  EncodeFixed64(h.data() + 16, seq);
  EncodeFixed64(h.data() + 24, first_lsn);
  EncodeFixed32(h.data(), crc32c::Value(h.data() + 4, 28));
  return h;
}

struct SegmentHeader {
  std::uint64_t seq;
  std::uint64_t first_lsn;
};

Status DecodeSegmentHeader(std::string_view data, const std::string& path, SegmentHeader* out) {
  if (data.size() < kSegmentHeaderSize) {
    return Status::Corruption("wal segment " + path + ": shorter (" + std::to_string(data.size()) +
                              " bytes) than its header");
  }
  const char* p = data.data();
  if (DecodeFixed64(p + 8) != kSegmentMagic || DecodeFixed32(p) != crc32c::Value(p + 4, 28)) {
    return Status::Corruption("wal segment " + path + ": bad header (magic or checksum)");
  }
  if (DecodeFixed32(p + 4) != kFormatVersion) {
    return Status::Corruption("wal segment " + path + ": format version " + std::to_string(DecodeFixed32(p + 4)) +
                              ", this build reads " + std::to_string(kFormatVersion));
  }
  *out = SegmentHeader{DecodeFixed64(p + 16), DecodeFixed64(p + 24)};
  return Status::Ok();
}

std::string SegmentName(std::uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "wal-%012" PRIu64 ".log", seq);
  return buf;
}

// Parses "wal-000000000042.log" → 42.
bool ParseSegmentName(std::string_view name, std::uint64_t* seq) {
  if (name.size() != kSegmentPrefix.size() + 12 + kSegmentSuffix.size()) return false;
  if (!name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) return false;
  std::uint64_t v = 0;
  for (char c : name.substr(kSegmentPrefix.size(), 12)) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *seq = v;
  return true;
}

bool AllZero(std::string_view data) {
  static const char zeros[4096] = {};
  while (data.size() >= sizeof zeros) {
    if (std::memcmp(data.data(), zeros, sizeof zeros) != 0) return false;
    data.remove_prefix(sizeof zeros);
  }
  return std::memcmp(data.data(), zeros, data.size()) == 0;
}

// Where scanning one segment's records stopped.
struct SegmentScan {
  std::uint64_t end = kSegmentHeaderSize;  // offset after the last intact record
  std::uint64_t next_lsn = 0;              // LSN the next record must have
  std::uint64_t records = 0;
  bool clean_end = true;                   // false: stopped at a bad record or garbage
};

Result<SegmentScan> ScanRecords(std::string_view data, std::uint64_t next_lsn, std::uint64_t replay_after,
                                const Wal::ReplayFn& fn, std::uint64_t* replayed) {
  SegmentScan scan;
  scan.next_lsn = next_lsn;
  std::uint64_t pos = kSegmentHeaderSize;
  DecodedRecord r;
  while (pos < data.size() && DecodeRecord(data.data() + pos, data.size() - pos, &r) && r.lsn == scan.next_lsn) {
    if (fn && r.lsn > replay_after) {
      PDAI_RETURN_IF_ERROR(fn(WalRecord{r.lsn, r.type, r.payload}));
      ++*replayed;
    }
    pos += r.framed_size;
    ++scan.next_lsn;
    ++scan.records;
  }
  scan.end = pos;
  scan.clean_end = pos >= data.size() || AllZero(data.substr(pos));
  return scan;
}

// After a bad record where LSN `bad_lsn` was due: is there an intact record
// further on that was written after `bad_lsn` had been made durable?
bool LaterRecordVouchesFor(std::string_view data, std::uint64_t from, std::uint64_t bad_lsn) {
  DecodedRecord r;
  for (std::uint64_t pos = Align8(from + 1); pos + kRecordHeaderSize <= data.size(); pos += 8) {
    if (DecodeFixed64(data.data() + pos + 16) == 0) continue;  // fast path over zeros
    if (DecodeRecord(data.data() + pos, data.size() - pos, &r) && r.durable_lsn >= bad_lsn) return true;
  }
  return false;
}

Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path) {
  auto size = fs->GetFileSize(path);
  if (!size.ok()) return size.status();
  auto file = fs->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::string data(*size, '\0');
  std::string_view got;
  PDAI_RETURN_IF_ERROR((*file)->Read(0, data.size(), data.data(), &got));
  if (got.data() != data.data()) std::memmove(data.data(), got.data(), got.size());
  data.resize(got.size());
  return data;
}

}  // namespace

struct Wal::Segment {
  std::uint64_t seq = 0;
  std::uint64_t first_lsn = 0;
  std::string path;
  std::unique_ptr<WritableFile> file;
  std::uint64_t write_offset = kSegmentHeaderSize;
};

Wal::Wal(const WalOptions& options) : options_(options) {
  if (options_.archive_dir.empty()) options_.archive_dir = options_.dir + "-archive";
}

Wal::~Wal() {
  if (spare_thread_.joinable()) spare_thread_.join();
  if (active_ && active_->file) (void)active_->file->Close();
}

std::string Wal::SegmentPath(std::uint64_t seq) const { return JoinPath(options_.dir, SegmentName(seq)); }

std::uint64_t Wal::max_payload() const {
  return options_.segment_size - kSegmentHeaderSize - kRecordHeaderSize;
}

Result<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options, std::uint64_t replay_after,
                                       const ReplayFn& replay, WalRecoveryReport* report) {
  if (options.segment_size < 2 * kSegmentHeaderSize || options.segment_size % kSegmentHeaderSize != 0) {
    return Status::InvalidArgument("wal segment size must be a multiple of 4096 and at least 8192 bytes, got " +
                                   std::to_string(options.segment_size));
  }
  std::unique_ptr<Wal> wal(new Wal(options));
  WalRecoveryReport local;
  Status s = wal->Recover(replay_after, replay, report ? report : &local);
  if (!s.ok()) return s.WithContext("recovering the write-ahead log in " + options.dir);
  return wal;
}

Status Wal::Recover(std::uint64_t replay_after, const ReplayFn& replay, WalRecoveryReport* report) {
  FileSystem* fs = options_.fs;
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(options_.dir));
  auto names = fs->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  std::vector<std::uint64_t> seqs;
  for (const auto& name : *names) {
    std::uint64_t seq;
    if (ParseSegmentName(name, &seq)) {
      seqs.push_back(seq);
    } else if (std::string_view(name).ends_with(kSpareSuffix)) {
      PDAI_RETURN_IF_ERROR(fs->RemoveFile(JoinPath(options_.dir, name)));  // an unfinished spare
    }
  }
  std::sort(seqs.begin(), seqs.end());

  std::uint64_t next_lsn = 0;  // unknown until the first segment header
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const std::string path = SegmentPath(seqs[i]);
    auto data = ReadWholeFile(fs, path);
    if (!data.ok()) return data.status();
    SegmentHeader header;
    PDAI_RETURN_IF_ERROR(DecodeSegmentHeader(*data, path, &header));
    if (header.seq != seqs[i]) {
      return Status::Corruption("wal segment " + path + ": header names sequence " + std::to_string(header.seq));
    }
    if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
      return Status::Corruption("wal segment " + SegmentName(seqs[i - 1] + 1) + " is missing between " +
                                SegmentName(seqs[i - 1]) + " and " + SegmentName(seqs[i]));
    }
    if (next_lsn != 0 && header.first_lsn != next_lsn) {
      return Status::Corruption("wal segment " + path + ": starts at LSN " + std::to_string(header.first_lsn) +
                                " but the log before it ends at LSN " + std::to_string(next_lsn - 1));
    }
    if (next_lsn == 0) report->first_lsn = header.first_lsn;
    next_lsn = header.first_lsn;
    std::uint64_t replayed = 0;
    auto scan = ScanRecords(*data, next_lsn, replay_after, replay, &replayed);
    if (!scan.ok()) return scan.status();
    report->replayed += replayed;
    report->records += scan->records;
    report->bytes_scanned += data->size();
    report->segments++;
    next_lsn = scan->next_lsn;
    const bool last = i + 1 == seqs.size();
    if (!scan->clean_end) {
      // A bad record (or the start of unused space) before the end of a segment
      // that other segments follow. Torn tail or corruption?
      const std::uint64_t bad_lsn = next_lsn;
      std::string where = "wal segment " + path + " offset " + std::to_string(scan->end) + " (LSN " +
                          std::to_string(bad_lsn) + ")";
      bool vouched = LaterRecordVouchesFor(*data, scan->end, bad_lsn);
      // A later segment is only ever started after this one was synced whole.
      if (!last) vouched = true;
      if (vouched) {
        return Status::Corruption(where + ": record fails its checksum, but later records prove it had been "
                                  "acknowledged; the log is damaged (restore from a backup or replica)");
      }
      report->torn_tail = true;
      report->torn_tail_detail = where + ": torn write at the end of the log, cut off";
      // Zero the garbage so that new records are never followed by stale bytes.
      auto file = fs->NewAppendableFile(path);
      if (!file.ok()) return file.status();
      std::string zeros(data->size() - scan->end, '\0');
      PDAI_RETURN_IF_ERROR((*file)->WriteAt(scan->end, zeros));
      PDAI_RETURN_IF_ERROR((*file)->Sync());
      PDAI_RETURN_IF_ERROR((*file)->Close());
    }
    live_segments_.push_back(LiveSegment{header.seq, header.first_lsn, scan->end - kSegmentHeaderSize});
    stats_.live_bytes += scan->end - kSegmentHeaderSize;
    if (last) {
      active_ = std::make_unique<Segment>();
      active_->seq = header.seq;
      active_->first_lsn = header.first_lsn;
      active_->path = path;
      active_->write_offset = scan->end;
      auto file = fs->NewAppendableFile(path);
      if (!file.ok()) return file.status();
      active_->file = std::move(*file);
    }
  }
  report->last_lsn = next_lsn == 0 ? 0 : next_lsn - 1;
  next_seq_ = seqs.empty() ? 1 : seqs.back() + 1;

  next_lsn_ = std::max<std::uint64_t>({next_lsn, options_.min_next_lsn, 1});
  durable_lsn_ = next_lsn_ - 1;
  if (active_ && next_lsn_ != next_lsn) {
    // The log ends before the checkpoint (its segments were released, or an
    // operator removed them): everything in it is in the store already. Retire
    // it, so that the log never has a hole in its LSNs.
    (void)active_->file->Close();
    active_.reset();
    PDAI_RETURN_IF_ERROR(ReleaseThrough(next_lsn_ - 1, /*include_active=*/true));
  }
  if (!active_) {
    PDAI_RETURN_IF_ERROR(RollSegment(next_lsn_));
  } else {
    StartPreparingSpare();
  }
  stats_.next_lsn = next_lsn_;
  stats_.durable_lsn = durable_lsn_;
  stats_.segments = live_segments_.size();
  return Status::Ok();
}

Result<std::string> Wal::PrepareSegmentFile(std::uint64_t seq) {
  FileSystem* fs = options_.fs;
  std::string path = SegmentPath(seq) + ".tmp";
  auto file = fs->NewWritableFile(path);
  if (!file.ok()) return file.status();
  std::string zeros(1 << 20, '\0');
  Status s;
  for (std::uint64_t done = 0; s.ok() && done < options_.segment_size; done += zeros.size()) {
    s = (*file)->Append(std::string_view(zeros).substr(0, std::min<std::uint64_t>(zeros.size(),
                                                                                   options_.segment_size - done)));
  }
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) {
    (void)fs->RemoveFile(path);
    return s.WithContext("preparing wal segment");
  }
  return path;
}

void Wal::StartPreparingSpare() {
  if (!options_.prepare_segments_in_background || !active_) return;
  if (spare_thread_.joinable()) spare_thread_.join();
  std::uint64_t seq = next_seq_;
  spare_thread_ = std::thread([this, seq] {
    auto path = PrepareSegmentFile(seq);
    std::lock_guard lock(spare_mu_);
    spare_seq_ = seq;
    spare_path_ = std::move(path);
  });
}

Status Wal::RollSegment(std::uint64_t first_lsn) {
  FileSystem* fs = options_.fs;
  const std::uint64_t seq = next_seq_;
  if (spare_thread_.joinable()) spare_thread_.join();
  Result<std::string> spare = Status::NotFound("no spare");
  {
    std::lock_guard lock(spare_mu_);
    if (spare_seq_ == seq) spare = std::move(spare_path_);
    spare_path_ = Status::NotFound("no spare");
    spare_seq_ = 0;
  }
  if (!spare.ok()) spare = PrepareSegmentFile(seq);
  if (!spare.ok()) return spare.status();

  // The header is durable before the segment gets its name, so a named
  // segment always says where it starts.
  auto file = fs->NewAppendableFile(*spare);
  if (!file.ok()) return file.status();
  Status s = (*file)->WriteAt(0, EncodeSegmentHeader(seq, first_lsn));
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = fs->RenameFile(*spare, SegmentPath(seq));
  if (s.ok()) s = fs->SyncDir(options_.dir);
  if (!s.ok()) {
    (void)(*file)->Close();
    if (fs->FileExists(*spare)) (void)fs->RemoveFile(*spare);
    return s.WithContext("starting wal segment " + SegmentName(seq));
  }
  std::optional<std::uint64_t> finished_bytes;
  if (active_) finished_bytes = active_->write_offset - kSegmentHeaderSize;
  if (active_ && active_->file) (void)active_->file->Close();
  auto seg = std::make_unique<Segment>();
  seg->seq = seq;
  seg->first_lsn = first_lsn;
  seg->path = SegmentPath(seq);
  seg->file = std::move(*file);
  active_ = std::move(seg);
  ++next_seq_;
  {
    std::lock_guard lock(mu_);
    // The segment being left is finished: what it holds is final.
    if (!live_segments_.empty() && finished_bytes) live_segments_.back().bytes = *finished_bytes;
    live_segments_.push_back(LiveSegment{seq, first_lsn, 0});
    stats_.segments = live_segments_.size();
  }
  StartPreparingSpare();
  return Status::Ok();
}

Status Wal::WriteBatch(const std::string& bytes, const std::vector<PendingRecord>& records) {
  std::size_t i = 0;
  std::uint64_t batch_start = active_->write_offset;
  while (i < records.size()) {
    std::uint64_t space = options_.segment_size - active_->write_offset;
    std::size_t j = i;
    std::uint64_t len = 0;
    while (j < records.size() && len + records[j].size <= space) len += records[j++].size;
    if (j == i) {
      // The segment is full: it was synced with the previous write; move on.
      erase_from_ = erase_to_ = 0;
      PDAI_RETURN_IF_ERROR(RollSegment(records[i].lsn));
      batch_start = active_->write_offset;
      last_synced_lsn_ = records[i].lsn - 1;
      continue;
    }
    std::string_view chunk(bytes.data() + records[i].offset, len);
    erase_from_ = batch_start;
    erase_to_ = active_->write_offset + len;
    PDAI_RETURN_IF_ERROR(active_->file->WriteAt(active_->write_offset, chunk));
    active_->write_offset += len;
    i = j;
    if (i < records.size()) {
      PDAI_RETURN_IF_ERROR(active_->file->Sync());  // finish this segment before the next
      last_synced_lsn_ = records[i - 1].lsn;
      batch_start = active_->write_offset;
    }
  }
  PDAI_RETURN_IF_ERROR(active_->file->Sync());
  last_synced_lsn_ = records.back().lsn;
  erase_from_ = erase_to_ = 0;
  return Status::Ok();
}

Status Wal::EraseFailedTail() {
  if (erase_to_ > erase_from_) {
    std::string zeros(erase_to_ - erase_from_, '\0');
    PDAI_RETURN_IF_ERROR(active_->file->WriteAt(erase_from_, zeros).WithContext("erasing a failed wal write"));
    PDAI_RETURN_IF_ERROR(active_->file->Sync().WithContext("erasing a failed wal write"));
    active_->write_offset = erase_from_;
  }
  erase_from_ = erase_to_ = 0;
  return Status::Ok();
}

Result<std::uint64_t> Wal::AppendBatch(const std::vector<WalEntry>& entries) {
  if (entries.empty()) return Status::InvalidArgument("wal append: no records");
  for (const auto& e : entries) {
    if (e.type == 0) return Status::InvalidArgument("wal append: record type 0 is reserved");
    if (e.payload.size() > max_payload()) {
      return Status::TooLarge("wal append: record of " + std::to_string(e.payload.size()) +
                              " bytes exceeds the largest a segment holds (" + std::to_string(max_payload()) + ")");
    }
  }
  std::unique_lock lock(mu_);
  const std::uint64_t first = next_lsn_;
  for (const auto& e : entries) {
    std::size_t offset = pending_.size();
    EncodeRecord(&pending_, next_lsn_, e.type, e.payload, durable_lsn_);
    pending_records_.push_back(PendingRecord{next_lsn_, offset, pending_.size() - offset});
    ++next_lsn_;
  }
  const std::uint64_t last = next_lsn_ - 1;
  const std::uint64_t my_generation = failed_generation_;
  Waiter me{last, {}};
  waiters_.push_back(&me);
  struct Unregister {
    std::vector<Waiter*>& waiters;
    Waiter* me;
    ~Unregister() { std::erase(waiters, me); }
  } unregister{waiters_, &me};

  for (;;) {
    if (failed_generation_ != my_generation) {
      // A batch failed after these records were queued. They made it only if
      // they were durable before that failure.
      const auto& failure = failures_[my_generation];
      if (failure.durable_lsn >= last) return first;
      return failure.status;
    }
    if (durable_lsn_ >= last) return first;
    if (sync_in_progress_) {
      me.cv.wait(lock);
      continue;
    }
    // Become the leader: write and sync everything queued so far.
    sync_in_progress_ = true;
    std::string bytes;
    bytes.swap(pending_);
    std::vector<PendingRecord> records;
    records.swap(pending_records_);
    const bool erase_first = needs_erase_;
    lock.unlock();

    last_synced_lsn_ = records.front().lsn - 1;
    Status s = erase_first ? EraseFailedTail() : Status::Ok();
    if (s.ok()) s = WriteBatch(bytes, records);

    lock.lock();
    sync_in_progress_ = false;
    if (s.ok()) {
      durable_lsn_ = records.back().lsn;
      needs_erase_ = false;
      stats_.records += records.size();
      stats_.bytes += bytes.size();
      stats_.live_bytes += bytes.size();
      stats_.syncs++;
      stats_.max_batch = std::max<std::uint64_t>(stats_.max_batch, records.size());
    } else {
      // Whatever was synced before the failure stays acknowledged; the rest of
      // this batch and everything queued behind it fails and is erased.
      durable_lsn_ = std::max(durable_lsn_, last_synced_lsn_);
      failures_.push_back(Failure{durable_lsn_, s});
      ++failed_generation_;
      ++stats_.failed_batches;
      pending_.clear();
      pending_records_.clear();
      next_lsn_ = durable_lsn_ + 1;
      needs_erase_ = true;
    }
    stats_.next_lsn = next_lsn_;
    stats_.durable_lsn = durable_lsn_;
    WakeWaitersLocked(!s.ok());
  }
}

void Wal::WakeWaitersLocked(bool everyone) {
  // Waiters are in LSN order: wake the acknowledged ones, then the first one
  // still waiting, who becomes the next leader for whatever is queued.
  for (Waiter* w : waiters_) {
    w->cv.notify_one();
    if (!everyone && w->last_lsn > durable_lsn_) break;
  }
}

Status Wal::ReleaseThrough(std::uint64_t checkpoint_lsn) { return ReleaseThrough(checkpoint_lsn, false); }

Status Wal::ReleaseThrough(std::uint64_t checkpoint_lsn, bool include_active) {
  std::vector<std::uint64_t> releasable;
  {
    std::lock_guard lock(mu_);
    // Segment i holds LSNs [first_i, first_{i+1}); the last one is being written.
    for (std::size_t i = 0; i < live_segments_.size(); ++i) {
      if (i + 1 == live_segments_.size()) {
        if (include_active) releasable.push_back(live_segments_[i].seq);
      } else if (live_segments_[i + 1].first_lsn - 1 <= checkpoint_lsn) {
        releasable.push_back(live_segments_[i].seq);
      }
    }
  }
  if (releasable.empty()) return Status::Ok();
  FileSystem* fs = options_.fs;
  if (options_.archive) PDAI_RETURN_IF_ERROR(fs->CreateDirs(options_.archive_dir));
  Status s;
  std::size_t done = 0;
  for (std::uint64_t seq : releasable) {
    if (options_.archive) {
      s = fs->RenameFile(SegmentPath(seq), JoinPath(options_.archive_dir, SegmentName(seq)));
    } else {
      s = fs->RemoveFile(SegmentPath(seq));
    }
    if (!s.ok()) break;
    ++done;
  }
  if (done > 0 && options_.archive) {
    Status a = fs->SyncDir(options_.archive_dir);
    if (s.ok()) s = a;
  }
  if (done > 0) {
    Status d = fs->SyncDir(options_.dir);
    if (s.ok()) s = d;
  }
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < done; ++i) {
    stats_.live_bytes -= std::min(stats_.live_bytes, live_segments_[i].bytes);
  }
  live_segments_.erase(live_segments_.begin(), live_segments_.begin() + static_cast<std::ptrdiff_t>(done));
  stats_.segments = live_segments_.size();
  return s.WithContext("releasing wal segments through LSN " + std::to_string(checkpoint_lsn));
}

std::uint64_t Wal::durable_lsn() const {
  std::lock_guard lock(mu_);
  return durable_lsn_;
}

WalStats Wal::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace postdevai::storage
