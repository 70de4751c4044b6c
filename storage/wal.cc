#include "storage/wal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "postdevai/log.h"
#include "records/coding.h"
#include "storage/crc32c.h"

namespace postdevai::storage {

namespace {

constexpr std::uint64_t kSegmentHeaderSize = 4096;
constexpr std::uint64_t kRecordHeaderSize = 32;
constexpr std::uint64_t kSegmentMagic = 0x314c415749414450ull;  // "PDAIWAL1"
constexpr std::uint32_t kFormatVersion = 3;
constexpr std::uint32_t kFormatWithoutStore = 2;  // read, never written
constexpr std::uint32_t kFormatWithoutSalt = 1;   // read, never written
constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();
constexpr std::string_view kSegmentPrefix = "wal-";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::string_view kSpareSuffix = ".log.tmp";

using records::DecodeFixed32;
using records::DecodeFixed64;
using records::EncodeFixed32;
using records::EncodeFixed64;

std::uint64_t Align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
std::uint64_t FramedSize(std::size_t payload) { return kRecordHeaderSize + Align8(payload); }

// What a record's header CRC starts from: the CRC32C of its segment's salt
// (0, a plain CRC, in format 1). A record copied into another segment, or
// from another log, fails its check there.
std::uint32_t RecordSeed(std::uint64_t salt) {
  char buf[8];
  EncodeFixed64(buf, salt);
  return crc32c::Value(buf, sizeof buf);
}

// Everything but the header CRC, which SealRecord fills in once the segment
// the record goes to is known.
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
  std::memcpy(h + kRecordHeaderSize, payload.data(), payload.size());
}

void SealRecord(char* h, std::uint32_t seed) { EncodeFixed32(h, crc32c::Extend(seed, h + 4, kRecordHeaderSize - 4)); }

struct DecodedRecord {
  std::uint64_t lsn;
  std::uint64_t durable_lsn;
  std::uint8_t type;
  std::string_view payload;
  std::uint64_t framed_size;
};

// True when [p, p+avail) starts with an intact record of the segment whose
// record seed is `seed`.
bool DecodeRecord(const char* p, std::uint64_t avail, std::uint32_t seed, DecodedRecord* out) {
  if (avail < kRecordHeaderSize) return false;
  if (DecodeFixed32(p) != crc32c::Extend(seed, p + 4, kRecordHeaderSize - 4)) return false;
  std::uint32_t length = DecodeFixed32(p + 8);
  auto type = static_cast<std::uint8_t>(p[12]);
  std::uint64_t lsn = DecodeFixed64(p + 16);
  if (type == 0 || lsn == 0 || FramedSize(length) > avail) return false;
  std::string_view payload(p + kRecordHeaderSize, length);
  if (DecodeFixed32(p + 4) != crc32c::Value(payload)) return false;
  *out = DecodedRecord{lsn, DecodeFixed64(p + 24), type, payload, FramedSize(length)};
  return true;
}

std::string EncodeSegmentHeader(std::uint64_t seq, std::uint64_t first_lsn, std::uint64_t salt,
                                std::uint64_t store_id, std::uint64_t epoch) {
  std::string h(kSegmentHeaderSize, '\0');
  EncodeFixed32(h.data() + 4, kFormatVersion);
  EncodeFixed64(h.data() + 8, kSegmentMagic);
  EncodeFixed64(h.data() + 16, seq);
  EncodeFixed64(h.data() + 24, first_lsn);
  EncodeFixed64(h.data() + 32, salt);
  EncodeFixed64(h.data() + 40, store_id);
  EncodeFixed64(h.data() + 48, epoch);
  EncodeFixed32(h.data(), crc32c::Value(h.data() + 4, 52));
  return h;
}

struct SegmentHeader {
  std::uint64_t seq = 0;
  std::uint64_t first_lsn = 0;
  std::uint32_t version = 0;
  std::uint32_t record_seed = 0;
  std::uint64_t salt = 0;
  std::uint64_t store_id = 0;  // 0: written before segments named their store
  std::uint64_t epoch = 0;
};

Status DecodeSegmentHeader(std::string_view data, const std::string& path, SegmentHeader* out) {
  if (data.size() < kSegmentHeaderSize) {
    return Status::Corruption("wal segment " + path + ": shorter (" + std::to_string(data.size()) +
                              " bytes) than its header");
  }
  const char* p = data.data();
  const std::uint32_t version = DecodeFixed32(p + 4);
  if (DecodeFixed64(p + 8) != kSegmentMagic) return Status::Corruption("wal segment " + path + ": bad magic");
  if (version != kFormatVersion && version != kFormatWithoutStore && version != kFormatWithoutSalt) {
    return Status::Corruption("wal segment " + path + ": format version " + std::to_string(version) +
                              ", this build reads " + std::to_string(kFormatWithoutSalt) + " to " +
                              std::to_string(kFormatVersion));
  }
  const std::size_t covered = version == kFormatWithoutSalt ? 28 : version == kFormatWithoutStore ? 36 : 52;
  if (DecodeFixed32(p) != crc32c::Value(p + 4, covered)) {
    return Status::Corruption("wal segment " + path + ": bad header checksum");
  }
  out->seq = DecodeFixed64(p + 16);
  out->first_lsn = DecodeFixed64(p + 24);
  out->version = version;
  out->salt = version == kFormatWithoutSalt ? 0 : DecodeFixed64(p + 32);
  out->record_seed = version == kFormatWithoutSalt ? 0 : RecordSeed(out->salt);
  if (version == kFormatVersion) {
    out->store_id = DecodeFixed64(p + 40);
    out->epoch = DecodeFixed64(p + 48);
  }
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
  bool clean_end = true;                   // only zeros after `end`
};

// Reads the intact, consecutive records from first_lsn up to (not including)
// `limit`, handing those after replay_after to fn.
Result<SegmentScan> ScanRecords(std::string_view data, std::uint64_t first_lsn, std::uint64_t limit,
                                std::uint32_t seed, std::uint64_t replay_after, const Wal::ReplayFn& fn,
                                std::uint64_t* replayed) {
  SegmentScan scan;
  scan.next_lsn = first_lsn;
  std::uint64_t pos = kSegmentHeaderSize;
  DecodedRecord r;
  while (pos < data.size() && scan.next_lsn < limit && DecodeRecord(data.data() + pos, data.size() - pos, seed, &r) &&
         r.lsn == scan.next_lsn) {
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

// After a bad record at `from` where LSN `bad_lsn` was due: is there an intact
// record of this segment further on that was written after `bad_lsn` had been
// made durable? Only a record that could be one of this log's successors
// counts: bound to this segment by its seed (so not bytes copied from another
// segment or log, e.g. in a stored value), with an LSN after the bad one, and
// far enough from it for the records in between. Bytes that merely look like a
// record (a copy of this segment's own earlier records, say) never make a torn
// tail a refusal to start.
bool LaterRecordVouchesFor(std::string_view data, std::uint64_t from, std::uint64_t bad_lsn, std::uint32_t seed) {
  DecodedRecord r;
  for (std::uint64_t pos = from + 8; pos + kRecordHeaderSize <= data.size(); pos += 8) {
    const std::uint64_t lsn = DecodeFixed64(data.data() + pos + 16);
    if (lsn <= bad_lsn) continue;  // zeros, an earlier record, or not a successor
    if (lsn - bad_lsn > (pos - from) / kRecordHeaderSize) continue;  // too close to have successors before it
    if (DecodeRecord(data.data() + pos, data.size() - pos, seed, &r) && r.durable_lsn >= bad_lsn) return true;
  }
  return false;
}

Result<std::string> ReadFilePrefix(FileSystem* fs, const std::string& path, std::uint64_t max_bytes) {
  std::string data;
  PDAI_RETURN_IF_ERROR(ReadFilePrefixInto(fs, path, max_bytes, &data));
  return data;
}

}  // namespace

struct Wal::Segment {
  std::uint64_t seq = 0;
  std::uint64_t first_lsn = 0;
  std::string path;
  std::unique_ptr<WritableFile> file;
  std::uint64_t write_offset = kSegmentHeaderSize;
  std::uint32_t record_seed = 0;
};

Wal::Wal(const WalOptions& options) : options_(options) {
  if (options_.archive_dir.empty()) options_.archive_dir = options_.dir + "-archive";
  std::random_device random;
  salt_state_ = (std::uint64_t{random()} << 32) ^ random() ^ options_.fs->WallClockMicros();
}

Wal::~Wal() {
  // A clean close loses nothing: buffered records are made durable first.
  Status s = Sync();
  if (!s.ok()) LogError("wal", "closing " + options_.dir + ": buffered records could not be synced: " + s.ToString());
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
  auto lock = fs->LockFile(JoinPath(options_.dir, "LOCK"));
  if (!lock.ok()) {
    if (lock.status().code() == StatusCode::kBusy) {
      return Status::Busy("the write-ahead log in " + options_.dir +
                          " is in use by another process (or another engine in this one): one node per WAL directory");
    }
    return lock.status();
  }
  lock_ = std::move(*lock);
  auto names = fs->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  std::vector<std::uint64_t> seqs;
  bool removed_spare = false;
  for (const auto& name : *names) {
    std::uint64_t seq;
    if (ParseSegmentName(name, &seq)) {
      seqs.push_back(seq);
    } else if (std::string_view(name).ends_with(kSpareSuffix)) {
      PDAI_RETURN_IF_ERROR(fs->RemoveFile(JoinPath(options_.dir, name)));  // an unfinished spare
      removed_spare = true;
    }
  }
  if (removed_spare) PDAI_RETURN_IF_ERROR(fs->SyncDir(options_.dir));
  std::sort(seqs.begin(), seqs.end());

  // The headers first: a segment's records end where any later segment
  // starts. Normally that is the next one; after a failed write, a segment
  // that starts at a lower LSN abandons what the earlier ones hold from there.
  const std::size_t n = seqs.size();
  std::vector<SegmentHeader> headers(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string path = SegmentPath(seqs[i]);
    auto head = ReadFilePrefix(fs, path, kSegmentHeaderSize);
    if (!head.ok()) return head.status();
    PDAI_RETURN_IF_ERROR(DecodeSegmentHeader(*head, path, &headers[i]));
    if (headers[i].seq != seqs[i]) {
      return Status::Corruption("wal segment " + path + ": header names sequence " + std::to_string(headers[i].seq));
    }
    if (headers[i].store_id != 0 && options_.store_id != 0 && headers[i].store_id != options_.store_id) {
      char ids[80];
      std::snprintf(ids, sizeof ids, "%016" PRIx64 ", this node's store is %016" PRIx64, headers[i].store_id,
                    options_.store_id);
      return Status::InvalidArgument("wal segment " + path + " belongs to store " + ids +
                                     ": the WAL directory is another node's (give each node its own [wal] path)");
    }
    if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
      return Status::Corruption("wal segment " + SegmentName(seqs[i - 1] + 1) + " is missing between " +
                                SegmentName(seqs[i - 1]) + " and " + SegmentName(seqs[i]));
    }
  }
  std::vector<std::uint64_t> limit(n, kNoLimit);  // records of segment i have LSNs below limit[i]
  for (std::size_t i = n; i-- > 1;) limit[i - 1] = std::min(limit[i], headers[i].first_lsn);
  // The segment that abandoned what segment i holds from limit[i] on.
  auto abandoned_by = [&](std::size_t i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      if (headers[j].first_lsn == limit[i]) return seqs[j];
    }
    return std::uint64_t{0};
  };

  std::uint64_t next_lsn = 0;  // unknown until the first segment that holds records
  std::string segment_bytes;
  const std::string* data = &segment_bytes;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string path = SegmentPath(seqs[i]);
    const SegmentHeader& header = headers[i];
    PDAI_RETURN_IF_ERROR(ReadFilePrefixInto(fs, path, kNoLimit, &segment_bytes));
    report->bytes_scanned += data->size();
    report->segments++;
    const bool last = i + 1 == n;
    if (header.first_lsn >= limit[i]) {
      // Started, then abandoned whole by a later segment (a failed write):
      // whatever it holds is never read.
      std::uint64_t by = 0;
      if (!AllZero(std::string_view(*data).substr(std::min<std::uint64_t>(data->size(), kSegmentHeaderSize)))) {
        by = abandoned_by(i);
        report->abandoned_segments++;
        report->abandoned_detail += "wal segment " + path + ": abandoned whole by " + SegmentName(by) + "; ";
      }
      live_segments_.push_back(LiveSegment{header.seq, header.first_lsn, 0, by});
      continue;
    }
    if (next_lsn != 0 && header.first_lsn != next_lsn) {
      return Status::Corruption("wal segment " + path + ": starts at LSN " + std::to_string(header.first_lsn) +
                                " but the log before it ends at LSN " + std::to_string(next_lsn - 1));
    }
    if (next_lsn == 0) {
      report->first_lsn = header.first_lsn;
      if (header.first_lsn > replay_after + 1) {
        return Status::Corruption("wal segment " + path + " starts at LSN " + std::to_string(header.first_lsn) +
                                  ", but the store's checkpoint is LSN " + std::to_string(replay_after) + ": LSNs " +
                                  std::to_string(replay_after + 1) + " to " + std::to_string(header.first_lsn - 1) +
                                  " are missing (the store is older than the log, or segments were removed); "
                                  "restore the store from a backup with the WAL archive");
      }
    }
    std::uint64_t replayed = 0;
    auto scan = ScanRecords(*data, header.first_lsn, limit[i], header.record_seed, replay_after, replay, &replayed);
    if (!scan.ok()) return scan.status();
    report->replayed += replayed;
    report->records += scan->records;
    next_lsn = scan->next_lsn;
    const std::string where = "wal segment " + path + " offset " + std::to_string(scan->end) + " (LSN " +
                              std::to_string(next_lsn) + ")";
    std::uint64_t by = 0;
    if (!last && next_lsn == limit[i]) {
      // Complete. What follows, if anything, is what a failed write left.
      if (!scan->clean_end) {
        by = abandoned_by(i);
        report->abandoned_segments++;
        report->abandoned_detail += where + ": the rest abandoned by " + SegmentName(by) + "; ";
      }
    } else if (!last) {
      // A later segment is only started once this one is synced up to the
      // later segment's first LSN: the records before it were acknowledged.
      return Status::Corruption(where + ": " +
                                (scan->clean_end ? std::string("missing") : std::string("record fails its checks")) +
                                ", but " + SegmentName(abandoned_by(i)) + " starts at LSN " +
                                std::to_string(limit[i]) +
                                ", which proves it had been acknowledged; the log is damaged (restore from a backup "
                                "or replica)");
    } else if (!scan->clean_end) {
      // The last segment: a bad record (or the start of unused space) with
      // something after it. Torn tail or corruption?
      if (LaterRecordVouchesFor(*data, scan->end, next_lsn, header.record_seed)) {
        return Status::Corruption(where + ": record fails its checks, but later records prove it had been "
                                  "acknowledged; the log is damaged (restore from a backup or replica)");
      }
      // Left where it is: the segment started below abandons it.
      report->torn_tail = true;
      report->torn_tail_detail = where + ": torn write at the end of the log, cut off";
    }
    live_segments_.push_back(LiveSegment{header.seq, header.first_lsn, scan->end - kSegmentHeaderSize, by});
    stats_.live_bytes += scan->end - kSegmentHeaderSize;
  }
  report->last_lsn = next_lsn == 0 ? 0 : next_lsn - 1;
  next_seq_ = seqs.empty() ? 1 : seqs.back() + 1;

  next_lsn_ = std::max<std::uint64_t>({next_lsn, options_.min_next_lsn, 1});
  durable_lsn_ = next_lsn_ - 1;
  if (!live_segments_.empty() && next_lsn_ != next_lsn) {
    // The log ends before the checkpoint (its segments were released, or an
    // operator removed them): everything in it is in the store already. Retire
    // it, so that the log never has a hole in its LSNs.
    PDAI_RETURN_IF_ERROR(ReleaseThrough(next_lsn_ - 1, /*include_active=*/true));
  }
  // Appends never go on in a segment an earlier run wrote: that run may have
  // died after an fsync of it failed (which the kernel reports only once), and
  // a torn tail may follow its last intact record. The new segment abandons
  // whatever follows that record.
  PDAI_RETURN_IF_ERROR(RollSegment(next_lsn_));
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
  if (!spare.ok()) return spare.status().WithContext("starting wal segment " + SegmentName(seq));

  // The header is durable before the segment gets its name, so a named
  // segment always says where it starts. (A name left by an earlier attempt
  // that failed after its rename is replaced by this one.)
  salt_state_ = salt_state_ * 6364136223846793005ull + 1442695040888963407ull;
  const std::uint64_t salt = salt_state_ ^ (salt_state_ >> 29) ^ (seq << 17);
  auto file = fs->NewAppendableFile(*spare);
  if (!file.ok()) return file.status().WithContext("starting wal segment " + SegmentName(seq));
  Status s = (*file)->WriteAt(0, EncodeSegmentHeader(seq, first_lsn, salt, options_.store_id, options_.epoch));
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = fs->RenameFile(*spare, SegmentPath(seq));
  if (s.ok()) s = fs->SyncDir(options_.dir);
  if (!s.ok()) {
    (void)(*file)->Close();
    if (fs->FileExists(*spare)) (void)fs->RemoveFile(*spare);
    return s.WithContext("starting wal segment " + SegmentName(seq));
  }
  // The segment being left is never written again (after a failure: see
  // Failures in wal.h).
  if (active_ && active_->file) (void)active_->file->Close();
  auto seg = std::make_unique<Segment>();
  seg->seq = seq;
  seg->first_lsn = first_lsn;
  seg->path = SegmentPath(seq);
  seg->file = std::move(*file);
  seg->record_seed = RecordSeed(salt);
  active_ = std::move(seg);
  ++next_seq_;
  {
    std::lock_guard lock(mu_);
    live_segments_.push_back(LiveSegment{seq, first_lsn, 0, 0});
    stats_.segments = live_segments_.size();
  }
  StartPreparingSpare();
  return Status::Ok();
}

Status Wal::Abandon() {
  const std::uint64_t from = abandon_.from_lsn;
  PDAI_RETURN_IF_ERROR(RollSegment(from).WithContext("abandoning the wal records from LSN " + std::to_string(from)));
  std::lock_guard lock(mu_);
  for (auto& seg : live_segments_) {
    if (std::find(abandon_.holders.begin(), abandon_.holders.end(), seg.seq) != abandon_.holders.end()) {
      seg.abandoned_by = active_->seq;
      ++stats_.abandoned_segments;
    }
  }
  abandon_ = PendingAbandon{};
  return Status::Ok();
}

Status Wal::WriteBatch(std::string& bytes, const std::vector<PendingRecord>& records,
                       std::vector<std::uint64_t>* written_to) {
  std::size_t i = 0;
  while (i < records.size()) {
    std::uint64_t space = options_.segment_size - active_->write_offset;
    std::size_t j = i;
    std::uint64_t len = 0;
    while (j < records.size() && len + records[j].size <= space) len += records[j++].size;
    if (j == i) {
      // The segment is full: it was synced with the previous write; move on.
      PDAI_RETURN_IF_ERROR(RollSegment(records[i].lsn));
      continue;
    }
    for (std::size_t k = i; k < j; ++k) {
      SealRecord(bytes.data() + records[k].offset, active_->record_seed);
      (*written_to)[k] = active_->seq;
    }
    std::string_view chunk(bytes.data() + records[i].offset, len);
    PDAI_RETURN_IF_ERROR(active_->file->WriteAt(active_->write_offset, chunk));
    active_->write_offset += len;
    i = j;
    if (i < records.size()) {
      PDAI_RETURN_IF_ERROR(active_->file->Sync());  // finish this segment before the next
      last_synced_lsn_ = records[i - 1].lsn;
    }
  }
  PDAI_RETURN_IF_ERROR(active_->file->Sync());
  last_synced_lsn_ = records.back().lsn;
  return Status::Ok();
}

void Wal::CountLiveBytesLocked(std::uint64_t seq, std::uint64_t bytes) {
  for (auto it = live_segments_.rbegin(); it != live_segments_.rend(); ++it) {
    if (it->seq == seq) {
      it->bytes += bytes;
      break;
    }
  }
  stats_.live_bytes += bytes;
}

Result<std::uint64_t> Wal::AppendBatch(const std::vector<WalEntry>& entries, WalWait wait) {
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
    pending_records_.push_back(
        PendingRecord{next_lsn_, offset, pending_.size() - offset, first, wait == WalWait::kBuffered});
    ++next_lsn_;
  }
  if (wait == WalWait::kBuffered) {
    stats_.next_lsn = next_lsn_;
    return first;
  }
  PDAI_RETURN_IF_ERROR(AwaitDurableLocked(lock, next_lsn_ - 1, failed_generation_));
  return first;
}

Status Wal::Sync() {
  std::unique_lock lock(mu_);
  if (durable_lsn_ + 1 >= next_lsn_) return Status::Ok();
  return AwaitDurableLocked(lock, next_lsn_ - 1, failed_generation_);
}

void Wal::GatherLocked(std::unique_lock<std::mutex>& lock, Waiter& leader) {
  const std::size_t expected = last_batch_writers_.size();
  if (returned_writers_ >= expected) return;
  // Capped: a writer that stopped writing costs the next batch this wait once
  // (the batch after it no longer names that thread).
  const auto budget = std::min<std::chrono::nanoseconds>(last_sync_time_ / 2, std::chrono::milliseconds(1));
  const auto deadline = std::chrono::steady_clock::now() + budget;
  gathering_ = &leader.cv;
  while (returned_writers_ < expected) {
    if (leader.cv.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  gathering_ = nullptr;
}

Status Wal::AwaitDurableLocked(std::unique_lock<std::mutex>& lock, std::uint64_t last, std::uint64_t my_generation) {
  Waiter me{last, std::this_thread::get_id(), {}};
  if (std::find(last_batch_writers_.begin(), last_batch_writers_.end(), me.thread) != last_batch_writers_.end() &&
      ++returned_writers_ >= last_batch_writers_.size() && gathering_ != nullptr) {
    gathering_->notify_one();
  }
  waiters_.push_back(&me);
  struct Unregister {
    std::vector<Waiter*>& waiters;
    Waiter* me;
    ~Unregister() { std::erase(waiters, me); }
  } unregister{waiters_, &me};

  for (;;) {
    if (failed_generation_ != my_generation) {
      // A batch failed after these records were queued. They made it only if
      // they were durable (and not abandoned) when it failed.
      const auto& failure = failures_[my_generation];
      if (failure.durable_lsn >= last) return Status::Ok();
      return failure.status;
    }
    if (durable_lsn_ >= last) return Status::Ok();
    if (sync_in_progress_) {
      me.cv.wait(lock);
      continue;
    }
    if (pending_records_.empty()) {
      // Nothing in flight and nothing queued, yet `last` is not durable: its
      // records went with a failed batch (that bumped the generation).
      return Status::IoError("wal " + options_.dir + ": records up to LSN " + std::to_string(last) +
                             " were lost with a failed write");
    }
    // Become the leader: write and sync everything queued so far, once the
    // last batch's writers are back.
    sync_in_progress_ = true;
    GatherLocked(lock, me);
    last_batch_writers_.clear();
    for (const Waiter* w : waiters_) last_batch_writers_.push_back(w->thread);  // each waits for this batch
    returned_writers_ = 0;
    std::string bytes;
    bytes.swap(pending_);
    std::vector<PendingRecord> records;
    records.swap(pending_records_);
    lock.unlock();

    last_synced_lsn_ = records.front().lsn - 1;
    std::vector<std::uint64_t> written_to(records.size(), 0);
    Status s;
    if (abandon_.from_lsn != 0) {
      // Closed: the records of a failed write are still to be abandoned, and
      // nothing may be written before they are.
      Status a = Abandon();
      if (!a.ok()) {
        s = Status::Closed("wal " + options_.dir + " is closed: the records of a failed write could not be "
                           "abandoned yet (" + a.ToString() + "); this write was not logged");
      }
    }
    const auto write_start = std::chrono::steady_clock::now();
    if (s.ok()) s = WriteBatch(bytes, records, &written_to);
    const auto write_time = std::chrono::steady_clock::now() - write_start;
    // The writers whose records were all synced keep their acknowledgement;
    // from the first writer with a record not synced on, they all fail.
    std::uint64_t abandon_from = 0;
    if (!s.ok()) {
      abandon_from = records[last_synced_lsn_ + 1 - records.front().lsn].writer_first_lsn;
      std::vector<std::uint64_t> holders;
      for (std::size_t k = 0; k < records.size(); ++k) {
        if (records[k].lsn >= abandon_from && written_to[k] != 0 &&
            std::find(holders.begin(), holders.end(), written_to[k]) == holders.end()) {
          holders.push_back(written_to[k]);
        }
      }
      if (!holders.empty()) {
        // Some of their bytes are in a segment, and may be on disk whole:
        // abandon them durably before anyone is told they failed.
        abandon_ = PendingAbandon{abandon_from, std::move(holders)};
        Status a = Abandon();
        if (!a.ok()) {
          s = Status::Closed("wal " + options_.dir + ": a write failed (" + s.ToString() +
                             ") and its records could not be abandoned (" + a.ToString() +
                             "); whether this write is in the log is unknown until the log is recovered");
        }
      }
    }

    if (options_.on_durable) {
      // Still the leader: the next batch is told of after this one.
      std::vector<WalRecord> durable;
      durable.reserve(records.size());
      for (const auto& r : records) {
        if (!s.ok() && r.lsn >= abandon_from) break;
        const char* h = bytes.data() + r.offset;
        durable.push_back(WalRecord{r.lsn, static_cast<std::uint8_t>(h[12]),
                                    std::string_view(h + kRecordHeaderSize, DecodeFixed32(h + 8))});
      }
      if (!durable.empty()) options_.on_durable(durable);
    }
    lock.lock();
    sync_in_progress_ = false;
    last_sync_time_ = std::chrono::duration_cast<std::chrono::nanoseconds>(write_time);
    if (s.ok()) {
      durable_lsn_ = records.back().lsn;
      for (std::size_t k = 0; k < records.size(); ++k) CountLiveBytesLocked(written_to[k], records[k].size);
      stats_.records += records.size();
      stats_.bytes += bytes.size();
      stats_.syncs++;
      stats_.max_batch = std::max<std::uint64_t>(stats_.max_batch, records.size());
    } else {
      // The records before abandon_from were synced and stay acknowledged;
      // the rest of this batch and everything queued behind it fails. Their
      // LSNs are handed out again.
      for (std::size_t k = 0; k < records.size() && records[k].lsn < abandon_from; ++k) {
        CountLiveBytesLocked(written_to[k], records[k].size);
        stats_.records++;
        stats_.bytes += records[k].size;
      }
      durable_lsn_ = std::max(durable_lsn_, abandon_from - 1);
      // Buffered records that go with them were acknowledged as buffered
      // only: they are lost, and counted (see kBuffered in wal.h).
      for (const auto& r : records) stats_.lost_buffered_records += r.lsn > durable_lsn_ && r.buffered;
      for (const auto& r : pending_records_) stats_.lost_buffered_records += r.buffered;
      failures_.push_back(Failure{durable_lsn_, s});
      ++failed_generation_;
      ++stats_.failed_batches;
      pending_.clear();
      pending_records_.clear();
      next_lsn_ = durable_lsn_ + 1;
    }
    stats_.closed = abandon_.from_lsn != 0;
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
    const std::size_t n = live_segments_.size();
    // Segment i holds LSNs below the first LSN of every later segment; the
    // last one is being written.
    std::vector<std::uint64_t> limit(n, kNoLimit);
    for (std::size_t i = n; i-- > 1;) limit[i - 1] = std::min(limit[i], live_segments_[i].first_lsn);
    std::size_t count = 0;
    while (count < n && (count + 1 < n ? limit[count] - 1 <= checkpoint_lsn : include_active)) ++count;
    // Abandoned records leave only with the segment that abandoned them: an
    // archive never holds records that the log did not.
    for (bool shrunk = true; shrunk;) {
      shrunk = false;
      for (std::size_t i = 0; i < count && !shrunk; ++i) {
        const std::uint64_t by = live_segments_[i].abandoned_by;
        if (by == 0) continue;
        auto it = std::find_if(live_segments_.begin(), live_segments_.end(), [&](const auto& s) { return s.seq == by; });
        if (it == live_segments_.end() || static_cast<std::size_t>(it - live_segments_.begin()) >= count) {
          count = i;
          shrunk = true;
        }
      }
    }
    for (std::size_t i = 0; i < count; ++i) releasable.push_back(live_segments_[i].seq);
  }
  if (releasable.empty()) return Status::Ok();
  FileSystem* fs = options_.fs;
  const std::uint64_t archive_epoch = epoch();
  if (options_.archive) PDAI_RETURN_IF_ERROR(fs->CreateDirs(options_.archive_dir));
  Status s;
  std::size_t done = 0;
  for (std::uint64_t seq : releasable) {
    if (options_.archive) {
      // A rename, or a copy when the archive is on another file system.
      s = MoveFile(fs, SegmentPath(seq), JoinPath(options_.archive_dir, ArchivedWalSegmentName(archive_epoch, seq)));
    } else {
      s = fs->RemoveFile(SegmentPath(seq));
    }
    if (!s.ok()) break;
    ++done;
  }
  // MoveFile synced both directories for every archived segment.
  if (done > 0 && !options_.archive) {
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

Result<std::uint64_t> WalFileReader::Read(std::uint64_t from, std::uint64_t through, std::uint64_t max_bytes,
                                          const std::function<Status(const WalRecord&)>& fn) {
  // The segments by sequence: live ones, and this epoch's archived ones
  // (live wins: a segment being archived may be in both for a moment).
  std::map<std::uint64_t, std::string> paths;
  auto archived = fs_->GetChildren(archive_dir_);
  if (archived.ok()) {
    const std::string prefix = ArchivedWalSegmentName(epoch_, 0).substr(0, ArchivedWalSegmentName(epoch_, 0).size() -
                                                                            SegmentName(0).size());
    for (const auto& name : *archived) {
      std::uint64_t seq;
      if (std::string_view(name).starts_with(prefix) && ParseSegmentName(std::string_view(name).substr(prefix.size()), &seq)) {
        paths[seq] = JoinPath(archive_dir_, name);
      }
    }
  }
  auto live = fs_->GetChildren(dir_);
  if (!live.ok()) return live.status();
  for (const auto& name : *live) {
    std::uint64_t seq;
    if (ParseSegmentName(name, &seq)) paths[seq] = JoinPath(dir_, name);
  }
  // Only the run of consecutive sequences that ends with the newest counts:
  // the limits of a segment come from those after it (see Recover).
  std::vector<std::pair<std::uint64_t, std::string>> chain(paths.begin(), paths.end());
  for (std::size_t i = chain.size(); i-- > 1;) {
    if (chain[i - 1].first + 1 != chain[i].first) {
      chain.erase(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  const std::size_t n = chain.size();
  std::vector<SegmentFacts> headers(n);
  std::map<std::string, SegmentFacts> seen;  // only what still exists stays cached
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& path = chain[i].second;
    auto cached = headers_.find(path);
    if (cached != headers_.end()) {
      headers[i] = cached->second;
    } else {
      auto head = ReadFilePrefix(fs_, path, kSegmentHeaderSize);
      if (!head.ok()) return head.status();
      SegmentHeader header;
      PDAI_RETURN_IF_ERROR(DecodeSegmentHeader(*head, path, &header));
      headers[i] = SegmentFacts{header.first_lsn, header.record_seed};
    }
    seen.emplace(path, headers[i]);
  }
  headers_ = std::move(seen);
  std::vector<std::uint64_t> limit(n, kNoLimit);
  for (std::size_t i = n; i-- > 1;) limit[i - 1] = std::min(limit[i], headers[i].first_lsn);
  std::size_t i = 0;
  while (i < n && !(headers[i].first_lsn <= from && from < limit[i])) ++i;
  if (i == n) {
    std::uint64_t oldest = 0;
    for (std::size_t k = 0; k < n && oldest == 0; ++k) {
      if (headers[k].first_lsn < limit[k]) oldest = headers[k].first_lsn;
    }
    return Status::NotFound("LSN " + std::to_string(from) + " is no longer in the write-ahead log or its archive" +
                            (oldest ? " (the oldest there is LSN " + std::to_string(oldest) + ")" : std::string()));
  }
  std::uint64_t next = from;
  std::uint64_t handed = 0;
  // A window of the segment being read: one read covers many small records.
  std::string window;
  std::uint64_t window_at = 0;
  for (; i < n && next <= through && (handed == 0 || handed < max_bytes); ++i) {
    auto file = fs_->NewRandomAccessFile(chain[i].second);
    if (!file.ok()) return file.status();
    window.clear();
    std::uint64_t pos = kSegmentHeaderSize;
    std::uint64_t lsn = headers[i].first_lsn;
    while (lsn < limit[i] && lsn <= through && (handed == 0 || handed < max_bytes)) {
      // The bytes at [pos, pos + need), from the window or read anew (at
      // least 1 MiB at a time); shorter at the end of the file.
      auto bytes_at = [&](std::uint64_t need) -> Result<std::string_view> {
        if (window_at > pos || pos + need > window_at + window.size()) {
          window.resize(std::max<std::uint64_t>(need, 1u << 20));
          std::string_view got;
          PDAI_RETURN_IF_ERROR((*file)->Read(pos, window.size(), window.data(), &got));
          if (got.data() != window.data()) std::memmove(window.data(), got.data(), got.size());
          window.resize(got.size());
          window_at = pos;
        }
        const std::uint64_t off = pos - window_at;
        return std::string_view(window).substr(off, std::min<std::uint64_t>(need, window.size() - off));
      };
      auto got = bytes_at(kRecordHeaderSize);
      if (!got.ok()) return got.status();
      if (got->size() < kRecordHeaderSize) break;
      got = bytes_at(FramedSize(DecodeFixed32(got->data() + 8)));
      if (!got.ok()) return got.status();
      DecodedRecord r;
      if (!DecodeRecord(got->data(), got->size(), headers[i].record_seed, &r) || r.lsn != lsn) {
        if (lsn < from || lsn > through) break;
        return Status::Corruption("wal segment " + chain[i].second + " offset " + std::to_string(pos) +
                                  ": record LSN " + std::to_string(lsn) + " fails its checks");
      }
      if (lsn >= from) {
        PDAI_RETURN_IF_ERROR(fn(WalRecord{r.lsn, r.type, r.payload}));
        handed += r.payload.size() + 1;
        next = lsn + 1;
      }
      pos += r.framed_size;
      ++lsn;
    }
  }
  return next;
}

Status Wal::AdoptStore(std::uint64_t store_id, std::uint64_t epoch) {
  std::lock_guard lock(mu_);
  if (next_lsn_ != 1 || durable_lsn_ != 0 || !pending_records_.empty() || sync_in_progress_) {
    return Status::InvalidArgument("wal " + options_.dir + " holds records: it cannot take another store's id");
  }
  options_.store_id = store_id;
  options_.epoch = epoch;
  // Every live segment's header names the new store (they hold no records:
  // the salt stays, so nothing else changes).
  for (const auto& seg : live_segments_) {
    const std::string path = SegmentPath(seg.seq);
    auto head = ReadFilePrefix(options_.fs, path, kSegmentHeaderSize);
    if (!head.ok()) return head.status();
    SegmentHeader header;
    PDAI_RETURN_IF_ERROR(DecodeSegmentHeader(*head, path, &header));
    auto file = options_.fs->NewAppendableFile(path);
    if (!file.ok()) return file.status();
    PDAI_RETURN_IF_ERROR(
        (*file)->WriteAt(0, EncodeSegmentHeader(header.seq, header.first_lsn, header.salt, store_id, epoch)));
    PDAI_RETURN_IF_ERROR((*file)->Sync());
    PDAI_RETURN_IF_ERROR((*file)->Close());
  }
  return Status::Ok();
}

Result<WalSegmentInfo> ReadWalSegmentHeader(FileSystem* fs, const std::string& path) {
  auto head = ReadFilePrefix(fs, path, kSegmentHeaderSize);
  if (!head.ok()) return head.status();
  SegmentHeader header;
  PDAI_RETURN_IF_ERROR(DecodeSegmentHeader(*head, path, &header));
  return WalSegmentInfo{header.seq, header.first_lsn, header.store_id, header.epoch};
}

std::string WalSegmentName(std::uint64_t sequence) { return SegmentName(sequence); }

std::string ArchivedWalSegmentName(std::uint64_t epoch, std::uint64_t sequence) {
  if (epoch == 0) return SegmentName(sequence);
  char buf[32];
  std::snprintf(buf, sizeof buf, "e%06" PRIu64 "-", epoch);
  return buf + SegmentName(sequence);
}
bool ParseWalSegmentName(std::string_view name, std::uint64_t* sequence) { return ParseSegmentName(name, sequence); }

std::uint64_t Wal::epoch() const {
  std::lock_guard lock(mu_);
  return options_.epoch;
}

std::uint64_t Wal::durable_lsn() const {
  std::lock_guard lock(mu_);
  return durable_lsn_;
}

WalStats Wal::stats() const {
  std::lock_guard lock(mu_);
  WalStats s = stats_;
  s.buffered_records = next_lsn_ - 1 - durable_lsn_;
  s.buffered_bytes = pending_.size();
  return s;
}

}  // namespace postdevai::storage
