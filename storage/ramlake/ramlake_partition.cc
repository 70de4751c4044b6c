#include "storage/ramlake/ramlake_partition.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "storage/ramlake/eviction_policy.h"
#include "storage/ramlake/partition_format.h"

namespace postdevai::storage::ramlake {

namespace fmt = format;

namespace {

constexpr std::uint32_t kNone = SlotIndex::kNoSlot;

// Entry::node.owner_bits (28 bits): the access count in the low 24 bits,
// flags above.
constexpr std::uint32_t kCountMask = (1u << 24) - 1;
constexpr std::uint32_t kLive = 1u << 24;
constexpr std::uint32_t kDirty = 1u << 25;
constexpr std::uint32_t kPinned = 1u << 26;  // being replaced by the Put in progress

enum SegmentState : std::uint8_t { kFree = 0, kHead = 1, kSealed = 2 };

constexpr std::uint32_t kMinSegmentBytes = 16 * 1024;
constexpr std::uint32_t kMaxSegmentBytes = 64 * 1024 * 1024;
constexpr std::uint32_t kMinSegments = 4;

inline std::uint64_t HashKey(std::string_view key) { return std::hash<std::string_view>{}(key); }

// What a proof says of one live record at re-attach.
enum class Judgement : std::uint8_t { kKeep, kStale, kPastEnd };

std::string Shorten(std::string_view key) {
  return key.size() <= 80 ? std::string(key) : std::string(key.substr(0, 80)) + "...";
}

}  // namespace

void ChangedKeys::Note(std::string_view key, std::uint64_t lsn, bool erased) {
  auto it = changes_.find(key);
  if (it == changes_.end()) {
    changes_.emplace(std::string(key), Change{lsn, erased});
  } else if (lsn >= it->second.lsn) {
    it->second = Change{lsn, erased};
  }
}

const ChangedKeys::Change* ChangedKeys::Find(std::string_view key) const {
  auto it = changes_.find(key);
  return it == changes_.end() ? nullptr : &it->second;
}

// 32 bytes per resident entry (see IndexBytesPerEntry).
struct RamLakePartition::Entry {
  // File offset / 8 in the low 40 bits (8 TiB), footprint / 8 in the high 24
  // (128 MiB); 0 while the entry has no record (a Put replacing it).
  std::uint64_t location = 0;
  std::uint64_t lsn = 0;
  // The policy's links and bits, and ours (count and flags, see above); on
  // the free list, node.next is the next free slot.
  EvictionNode node;
  std::uint32_t last_access = 0;  // seconds since clock_base_micros_

  std::uint64_t Offset() const { return (location & ((1ull << 40) - 1)) * 8; }
  std::uint64_t Footprint() const { return (location >> 40) * 8; }
  static std::uint64_t Encode(std::uint64_t offset, std::uint64_t footprint) {
    return (offset / 8) | ((footprint / 8) << 40);
  }
};


struct RamLakePartition::Segment {
  std::uint64_t sequence = 0;
  std::uint32_t used = 0;        // append position, from the segment's start
  std::uint32_t live_bytes = 0;  // footprints of resident records in it
  std::uint8_t state = kFree;
};

std::string OpenReport::ToString() const {
  std::string s;
  switch (outcome) {
    case Outcome::kCreated: s = "created"; break;
    case Outcome::kReattached: s = "re-attached"; break;
    case Outcome::kRebuilt: s = "rebuilt (" + rebuild_reason + ")"; break;
  }
  const std::string log = checkpoint_lsn + end_lsn == 0 ? std::string()
                                                         : ", checkpoint " + std::to_string(checkpoint_lsn) +
                                                               ", log end " + std::to_string(end_lsn);
  if (proof == Proof::kWatermark) {
    s += " by watermark (file at LSN " + std::to_string(file_watermark_lsn) + log + ", " +
         std::to_string(changed_keys) + " keys changed since the checkpoint, " + std::to_string(store_lookups) +
         " spot-checked in the store)";
  } else if (proof == Proof::kKeyByKey) {
    s += " key by key (" + key_by_key_reason + "; " + std::to_string(store_lookups) + " store lookups" + log + ")";
  }
  s += ": kept " + std::to_string(records_kept) + ", dropped " + std::to_string(RecordsDropped()) +
       " (stale " + std::to_string(records_dropped_stale) + ", past the log's end " +
       std::to_string(records_dropped_past_end) + ", corrupt " + std::to_string(records_dropped_corrupt) +
       ", duplicate " + std::to_string(records_dropped_duplicate) + ", over budget " +
       std::to_string(records_dropped_over_budget) + ") in " + std::to_string(elapsed_micros / 1000) + " ms";
  return s;
}

std::uint64_t RamLakePartition::RecordFootprint(std::size_t key_size, std::size_t value_size) {
  return fmt::RecordFootprint(key_size, value_size);
}

std::uint32_t RamLakePartition::DefaultSegmentBytes(std::uint64_t capacity_bytes) {
  std::uint64_t target = capacity_bytes / 64;
  std::uint64_t s = 64 * 1024;
  while (s * 2 <= target && s * 2 <= 8 * 1024 * 1024) s *= 2;
  // Small partitions: keep at least kMinSegments segments.
  while (s > kMinSegmentBytes && capacity_bytes < fmt::kFileHeaderBytes + kMinSegments * s) s /= 2;
  return static_cast<std::uint32_t>(s);
}

RamLakePartition::RamLakePartition(FileSystem* fs, PartitionOptions options)
    : fs_(fs), options_(std::move(options)), head_segment_(kNone), free_slots_(kNone) {
  static_assert(sizeof(Entry) == 32, "the per-entry index cost is part of the contract");
  static_assert(kPinned < (1u << 28) && kCountMask < kLive, "owner_bits has 28 bits");
}

RamLakePartition::~RamLakePartition() {
  Unmap();
  if (file_) (void)file_->Close();
}

// ---------------------------------------------------------------------------
// Open, re-attach, rebuild

Result<std::unique_ptr<RamLakePartition>> RamLakePartition::Open(FileSystem* fs, const PartitionOptions& options,
                                                                 const OpenHooks& hooks, OpenReport* report) {
  OpenReport local_report;
  if (report == nullptr) report = &local_report;
  *report = OpenReport{};
  std::uint64_t start = fs->NowMicros();
  std::string context = "RAM-Lake partition " + std::string(DataKindName(options.kind)) + " at " +
                        options.file_path;

  if (options.file_path.empty()) return Status::InvalidArgument(context + ": no file path");
  if (static_cast<std::uint8_t>(options.kind) >= kPartitionCount) {
    return Status::InvalidArgument(context + ": unknown partition kind");
  }
  std::uint32_t segment_bytes =
      options.segment_bytes != 0 ? options.segment_bytes : DefaultSegmentBytes(options.capacity_bytes);
  if (segment_bytes < kMinSegmentBytes || segment_bytes > kMaxSegmentBytes || segment_bytes % 8 != 0) {
    return Status::InvalidArgument(context + ": segment size " + std::to_string(segment_bytes) +
                                   " must be a multiple of 8 between 16 KiB and 64 MiB");
  }
  std::uint64_t segments = options.capacity_bytes > fmt::kFileHeaderBytes
                               ? (options.capacity_bytes - fmt::kFileHeaderBytes) / segment_bytes
                               : 0;
  if (segments < kMinSegments || segments > 0xFFFFFFFFull) {
    return Status::InvalidArgument(context + ": capacity " + std::to_string(options.capacity_bytes) +
                                   " bytes holds " + std::to_string(segments) + " segments of " +
                                   std::to_string(segment_bytes) + " bytes; at least " +
                                   std::to_string(kMinSegments) + " are needed");
  }

  std::unique_ptr<RamLakePartition> p(new RamLakePartition(fs, options));
  p->segment_bytes_ = segment_bytes;
  p->segment_count_ = static_cast<std::uint32_t>(segments);
  p->options_.capacity_bytes = fmt::kFileHeaderBytes + segments * segment_bytes;
  p->options_.segment_bytes = segment_bytes;
  // The cleaner needs one free segment to copy into, and each segment may
  // waste up to one record's worth at its tail. Keeping live bytes under
  // (N - 2) * (S - M) guarantees that the emptiest sealed segment always holds
  // less than S - M live bytes, so cleaning it always frees space.
  p->max_record_bytes_ = (segment_bytes / 16) & ~std::uint64_t{7};
  p->usable_bytes_ = (segments - 2) * (segment_bytes - p->max_record_bytes_);
  p->max_entries_ = options.max_entries;
  p->persisted_lsn_ = options.persisted_lsn;
  p->clock_base_micros_ = fs->NowMicros();
  p->policy_ = NewEvictionQueue(options.eviction, p->max_entries_, p->usable_bytes_);

  p->store_identity_ = hooks.store_identity;
  if (hooks.watermark != nullptr) {
    report->checkpoint_lsn = hooks.watermark->checkpoint_lsn;
    report->end_lsn = hooks.watermark->end_lsn;
    report->changed_keys = hooks.watermark->changed != nullptr ? hooks.watermark->changed->size() : 0;
  }

  auto lock = fs->LockFile(options.file_path + ".lock");
  if (!lock.ok()) return lock.status().WithContext(context);
  p->lock_ = std::move(lock.value());

  Status s = p->OpenFile(hooks, report);
  if (!s.ok()) return s.WithContext(context);
  // What the file is proven current at from now on: everything the store
  // holds when a replay was just done (nothing is pending below it), else
  // what the file said (Reattach), else nothing.
  if (hooks.watermark != nullptr) p->applied_lsn_ = hooks.watermark->end_lsn;
  p->WriteWatermark();
  report->generation = p->generation_;
  report->elapsed_micros = fs->NowMicros() - start;
  return p;
}

Status RamLakePartition::OpenFile(const OpenHooks& hooks, OpenReport* report) {
  const std::string& path = options_.file_path;
  if (!fs_->FileExists(path)) return Rebuild("", /*existed=*/false, report);
  auto size = fs_->GetFileSize(path);
  if (!size.ok()) return size.status();

  // Read and judge the header (and the watermark) before mapping anything.
  fmt::FileHeader header{};
  fmt::WatermarkSlot slots[fmt::kWatermarkSlots] = {};
  std::string reason;
  {
    auto file = fs_->NewRandomAccessFile(path);
    if (!file.ok()) return file.status();
    char page[fmt::kWatermarkOffset + sizeof slots];
    std::string_view got;
    PDAI_RETURN_IF_ERROR((*file)->Read(0, sizeof page, page, &got));
    if (got.size() < sizeof header) {
      reason = "file is " + std::to_string(*size) + " bytes, too short for a header";
    } else {
      std::memcpy(&header, got.data(), sizeof header);
      if (got.size() == sizeof page) std::memcpy(slots, got.data() + fmt::kWatermarkOffset, sizeof slots);
    }
  }
  if (reason.empty()) {
    const std::string kind_name(DataKindName(options_.kind));
    if (header.magic != fmt::kFileMagic) {
      reason = "not a RAM-Lake partition file (bad magic)";
    } else if (fmt::FileHeaderChecksum(header) != header.header_crc) {
      reason = "file header fails its checksum";
    } else if (header.format_version != fmt::kFormatVersion) {
      reason = "file has format version " + std::to_string(header.format_version) + ", this build reads " +
               std::to_string(fmt::kFormatVersion);
    } else if (header.kind != static_cast<std::uint8_t>(options_.kind)) {
      reason = "file belongs to partition " +
               (header.kind < kPartitionCount
                    ? std::string(DataKindName(static_cast<PartitionKind>(header.kind)))
                    : "#" + std::to_string(header.kind)) +
               ", not " + kind_name;
    } else if (header.capacity_bytes != options_.capacity_bytes || header.segment_bytes != segment_bytes_ ||
               header.segment_count != segment_count_) {
      reason = "file was made for " + std::to_string(header.capacity_bytes) + " bytes in segments of " +
               std::to_string(header.segment_bytes) + ", configured " + std::to_string(options_.capacity_bytes) +
               " in segments of " + std::to_string(segment_bytes_);
    } else if (*size != options_.capacity_bytes) {
      reason = "file is " + std::to_string(*size) + " bytes, expected " + std::to_string(options_.capacity_bytes) +
               " (truncated or resized)";
    }
  }
  OpenReport::Proof proof = OpenReport::Proof::kNone;
  if (reason.empty()) {
    generation_ = header.generation;
    const std::optional<fmt::WatermarkSlot> found = PickWatermark(slots);
    report->file_watermark_lsn = found ? found->lsn : 0;
    if (found && found->store_identity != 0 && store_identity_ != 0 && found->store_identity != store_identity_) {
      // Its records may carry the same keys and LSNs as this store's and
      // still hold other values: none of them can be trusted.
      char ids[96];
      std::snprintf(ids, sizeof ids, "%016llx, this store's is %016llx",
                    static_cast<unsigned long long>(found->store_identity),
                    static_cast<unsigned long long>(store_identity_));
      reason = std::string("file belongs to another store, or to this store before a restore (its store "
                           "fingerprint is ") + ids + ")";
    }
    // Kept by a key-by-key re-attach: the file's records stay true to it.
    if (found && found->store_identity == store_identity_) applied_lsn_ = found->lsn;
    proof = ChooseProof(hooks, found, &report->key_by_key_reason);
    if (reason.empty() && proof == OpenReport::Proof::kKeyByKey && !hooks.store_lsn) {
      reason = "no persistent-store LSN lookup was given and " + report->key_by_key_reason +
               ", so no record can be proven current";
    }
  }
  if (!reason.empty()) return Rebuild(reason, /*existed=*/true, report);

  auto file = fs_->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  file_ = std::move(file.value());
  // Reserve every block (again): the file may have been copied sparse, and a
  // hole would turn a full RAM disk into a SIGBUS at some later write.
  PDAI_RETURN_IF_ERROR(file_->Allocate(0, options_.capacity_bytes)
                           .WithContext("reserving " + std::to_string(options_.capacity_bytes) + " bytes"));
  PDAI_RETURN_IF_ERROR(MapFile(options_.capacity_bytes));
  PDAI_RETURN_IF_ERROR(Reattach(hooks, proof, report));
  report->outcome = OpenReport::Outcome::kReattached;
  return Status::Ok();
}

std::optional<fmt::WatermarkSlot> RamLakePartition::PickWatermark(const fmt::WatermarkSlot* slots) {
  std::optional<fmt::WatermarkSlot> best;
  for (std::uint32_t i = 0; i < fmt::kWatermarkSlots; ++i) {
    if (fmt::WatermarkChecksum(slots[i], generation_) != slots[i].check) continue;
    if (!best || slots[i].sequence > best->sequence) {
      best = slots[i];
      watermark_slot_ = i;
      watermark_sequence_ = slots[i].sequence;
    }
  }
  return best;
}

OpenReport::Proof RamLakePartition::ChooseProof(const OpenHooks& hooks,
                                                const std::optional<fmt::WatermarkSlot>& found,
                                                std::string* reason) const {
  const WatermarkProof* proof = hooks.watermark;
  if (proof == nullptr) {
    *reason = "no WAL replay to prove a watermark against (a partition restarted while running)";
  } else if (proof->changed == nullptr) {
    *reason = "the keys the WAL replay changed were not given";
  } else if (!found) {
    *reason = "the file holds no watermark (written by an older build, or left unproven)";
  } else if (hooks.store_identity == 0) {
    *reason = "the store's identity is unknown";
  } else if (found->store_identity != hooks.store_identity) {
    *reason = "the file's watermark was written against another store";
  } else if (found->lsn < proof->checkpoint_lsn) {
    *reason = "the file's watermark " + std::to_string(found->lsn) + " is older than the store's checkpoint " +
              std::to_string(proof->checkpoint_lsn) + ": the WAL no longer holds the writes in between";
  } else {
    reason->clear();
    return OpenReport::Proof::kWatermark;
  }
  return OpenReport::Proof::kKeyByKey;
}

Status RamLakePartition::Rebuild(const std::string& reason, bool existed, OpenReport* report) {
  report->outcome = existed ? OpenReport::Outcome::kRebuilt : OpenReport::Outcome::kCreated;
  report->rebuild_reason = reason;
  Unmap();
  if (file_) {
    (void)file_->Close();
    file_.reset();
  }
  auto file = fs_->NewWritableFile(options_.file_path);  // truncates: nothing old survives
  if (!file.ok()) return file.status();
  file_ = std::move(file.value());
  Status reserved = file_->Allocate(0, options_.capacity_bytes);
  if (!reserved.ok()) {
    // Leave no half-reserved file behind to confuse the next start.
    (void)file_->Close();
    file_.reset();
    (void)fs_->RemoveFile(options_.file_path);
    return reserved.WithContext("reserving " + std::to_string(options_.capacity_bytes) +
                                " bytes for the partition file");
  }
  PDAI_RETURN_IF_ERROR(MapFile(options_.capacity_bytes));

  // The truncated file holds no watermark slot; an empty partition is
  // current at any LSN, and Open writes the one it starts from.
  applied_lsn_ = 0;
  watermark_sequence_ = 0;
  watermark_slot_ = fmt::kWatermarkSlots - 1;
  report->proof = OpenReport::Proof::kNone;
  report->key_by_key_reason.clear();
  report->file_watermark_lsn = 0;
  generation_ = fs_->WallClockMicros();
  fmt::FileHeader header{};
  header.magic = fmt::kFileMagic;
  header.format_version = fmt::kFormatVersion;
  header.kind = static_cast<std::uint8_t>(options_.kind);
  header.capacity_bytes = options_.capacity_bytes;
  header.segment_bytes = segment_bytes_;
  header.segment_count = segment_count_;
  header.generation = generation_;
  header.created_wall_micros = fs_->WallClockMicros();
  header.header_crc = fmt::FileHeaderChecksum(header);
  std::memcpy(base_, &header, sizeof header);
  ResetState();
  for (std::uint32_t i = segment_count_; i-- > 0;) free_segments_.push_back(i);
  return Status::Ok();
}

Status RamLakePartition::MapFile(std::uint64_t file_size) {
  int fd = file_->fd();
  if (fd < 0) return Status::InvalidArgument("the file system gives no descriptor to map");
  // MAP_POPULATE: fault the whole file in now (start-up) rather than one page
  // at a time on the hot path.
  void* p = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return StatusFromErrno(errno, "mmap", options_.file_path);
  base_ = static_cast<char*>(p);
  mapped_bytes_ = file_size;
  return Status::Ok();
}

void RamLakePartition::Unmap() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
  base_ = nullptr;
  mapped_bytes_ = 0;
}

void RamLakePartition::ResetState() {
  segments_.assign(segment_count_, Segment{});
  free_segments_.clear();
  head_segment_ = kNone;
  next_sequence_ = 1;
  entries_.clear();
  free_slots_ = kNone;
  index_.Clear();
  policy_->Clear();
  dirty_heap_.clear();
  stats_ = PartitionStats{};
}

template <class Judge>
void RamLakePartition::ScanRecords(Judge&& judge, OpenReport* report) {
  ResetState();
  // Segments in the order they were written, so that re-inserting their
  // records reproduces "newest at the head" for the policy.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> order;
  for (std::uint32_t i = 0; i < segment_count_; ++i) {
    fmt::SegmentHeader sh;
    std::memcpy(&sh, base_ + SegmentOffset(i), sizeof sh);
    if (sh.magic == fmt::kSegmentMagic && fmt::SegmentHeaderChecksum(sh) == sh.crc &&
        sh.generation == generation_ && sh.index == i && sh.kind == static_cast<std::uint8_t>(options_.kind)) {
      order.emplace_back(sh.sequence, i);
    }
  }
  std::sort(order.begin(), order.end());

  const auto kind = static_cast<std::uint8_t>(options_.kind);
  for (const auto& segment_in_order : order) {
    // Not a structured binding: the lambda below uses index, and clang 14
    // (the fuzz build's compiler) cannot capture those.
    const std::uint64_t sequence = segment_in_order.first;
    const std::uint32_t index = segment_in_order.second;
    Segment& seg = segments_[index];
    seg.sequence = sequence;
    next_sequence_ = std::max(next_sequence_, sequence + 1);
    char* seg_base = base_ + SegmentOffset(index);
    seg.used = fmt::ScanSegment(
        seg_base, segment_bytes_, sequence, kind, static_cast<std::uint32_t>(max_record_bytes_),
        [&](std::uint32_t offset, fmt::ScanVerdict verdict) {
          if (verdict == fmt::ScanVerdict::kCorrupt) {
            ++report->records_dropped_corrupt;
            return;
          }
          if (verdict == fmt::ScanVerdict::kDead) return;
          char* record = seg_base + offset;
          const fmt::RecordHeader* h = fmt::HeaderAt(record);
          std::string_view key = fmt::RecordKey(record);
          const Judgement judgement = judge(key, h->lsn);
          if (judgement != Judgement::kKeep) {
            ++(judgement == Judgement::kPastEnd ? report->records_dropped_past_end : report->records_dropped_stale);
            record[offsetof(fmt::RecordHeader, state)] = static_cast<char>(fmt::kRecordDead);
            return;
          }
          std::uint64_t hash = HashKey(key);
          if (FindSlot(key, hash) != kNone) {
            // The cleaner had copied it and was killed before marking the
            // original dead: same key, same LSN, same value.
            ++report->records_dropped_duplicate;
            record[offsetof(fmt::RecordHeader, state)] = static_cast<char>(fmt::kRecordDead);
            return;
          }
          std::uint64_t footprint = fmt::RecordFootprint(h->key_size, h->value_size);
          std::uint32_t slot = NewSlot();
          Entry& e = entries_[slot];
          e.location = Entry::Encode(SegmentOffset(index) + offset, footprint);
          e.lsn = h->lsn;
          e.node.owner_bits = kLive;
          e.last_access = now_seconds_;
          index_.Insert(hash, slot);
          policy_->Insert(slot, hash, EvictionQueue::Arrival::kReattach);
          seg.live_bytes += static_cast<std::uint32_t>(footprint);
          stats_.live_bytes += footprint;
          ++stats_.entries;
          ++report->records_kept;
        });
    report->bytes_scanned += seg.used;
    seg.state = seg.live_bytes > 0 ? kSealed : kFree;
  }
}

Status RamLakePartition::Reattach(const OpenHooks& hooks, OpenReport::Proof proof, OpenReport* report) {
  const WatermarkProof* watermark = hooks.watermark;
  // Nothing above the log's end is ever kept, whichever the proof: those
  // writes were lost with the WAL's unsynced tail (the store never had them).
  const std::uint64_t end = watermark != nullptr ? watermark->end_lsn : std::numeric_limits<std::uint64_t>::max();
  report->proof = proof;
  if (proof == OpenReport::Proof::kWatermark) {
    const ChangedKeys& changed = *watermark->changed;
    const std::uint64_t checkpoint = watermark->checkpoint_lsn;
    ScanRecords(
        [&](std::string_view key, std::uint64_t lsn) {
          if (lsn > end) return Judgement::kPastEnd;
          if (!changed.empty()) {
            if (const ChangedKeys::Change* c = changed.Find(key)) {
              return !c->erased && c->lsn == lsn ? Judgement::kKeep : Judgement::kStale;
            }
          }
          // A record above the checkpoint whose key the replay did not change
          // cannot come from this store's log: not trusted.
          return lsn <= checkpoint ? Judgement::kKeep : Judgement::kStale;
        },
        report);
    if (std::optional<std::string> contradiction = SpotCheck(hooks, report)) {
      // The premises do not hold; what was dropped stays dropped (dead in the
      // file), the rest is proven again.
      proof = report->proof = OpenReport::Proof::kKeyByKey;
      report->key_by_key_reason = "the watermark proof failed its spot check: " + *contradiction;
      report->records_kept = 0;
      report->records_dropped_corrupt = 0;
      report->bytes_scanned = 0;
    }
  }
  if (proof == OpenReport::Proof::kKeyByKey) {
    ScanRecords(
        [&](std::string_view key, std::uint64_t lsn) {
          if (lsn > end) return Judgement::kPastEnd;
          ++report->store_lookups;
          const std::optional<std::uint64_t> stored = hooks.store_lsn(key);
          return stored && *stored == lsn ? Judgement::kKeep : Judgement::kStale;
        },
        report);
  }

  std::uint64_t max_kept_lsn = 0;
  for (const Entry& e : entries_) {
    if (e.node.owner_bits & kLive) max_kept_lsn = std::max(max_kept_lsn, e.lsn);
  }
  for (std::uint32_t i = segment_count_; i-- > 0;) {
    if (segments_[i].state == kFree) free_segments_.push_back(i);
  }
  // Every kept record is what the store holds, so the store can serve it:
  // it is clean by definition.
  persisted_lsn_ = std::max(persisted_lsn_, max_kept_lsn);

  // A re-attached file may hold more than the budget: records the cleaner
  // had copied but not yet marked, or a smaller max_entries than last time.
  while (stats_.live_bytes > usable_bytes_ || (max_entries_ != 0 && stats_.entries > max_entries_)) {
    std::uint32_t victim = PickVictim();
    if (victim == kNone) break;
    RemoveEntry(victim, HashKey(KeyOf(victim)), /*mark_record_dead=*/true, /*as_victim=*/true);
    --report->records_kept;
    ++report->records_dropped_over_budget;
  }
  // The cleaner needs a free segment to copy into; a file re-attached full
  // to the last segment gets one by dropping the emptiest segment's entries.
  if (free_segments_.empty()) FreeOneSegmentByEviction(report);
  // The counters describe this run, not the scan.
  stats_.evictions = 0;
  stats_.evicted_bytes = 0;
  return Status::Ok();
}

std::optional<std::string> RamLakePartition::SpotCheck(const OpenHooks& hooks, OpenReport* report) const {
  if (!hooks.store_lsn || hooks.spot_checks == 0 || stats_.entries == 0) return std::nullopt;
  const std::size_t stride = (entries_.size() + hooks.spot_checks - 1) / hooks.spot_checks;
  for (std::size_t slot = 0; slot < entries_.size(); slot += stride) {
    const Entry& e = entries_[slot];
    if (!(e.node.owner_bits & kLive)) continue;
    const std::string_view key = KeyOf(static_cast<std::uint32_t>(slot));
    ++report->store_lookups;
    const std::optional<std::uint64_t> stored = hooks.store_lsn(key);
    if (!stored || *stored != e.lsn) {
      return "'" + Shorten(key) + "' is at LSN " + std::to_string(e.lsn) + " in the file but " +
             (stored ? "at " + std::to_string(*stored) : std::string("absent")) + " in the store";
    }
  }
  return std::nullopt;
}

void RamLakePartition::FreeOneSegmentByEviction(OpenReport* report) {
  std::uint32_t victim = kNone;
  for (std::uint32_t i = 0; i < segment_count_; ++i) {
    if (segments_[i].state == kSealed && (victim == kNone || segments_[i].live_bytes < segments_[victim].live_bytes)) {
      victim = i;
    }
  }
  if (victim == kNone) return;
  const std::uint64_t begin = SegmentOffset(victim);
  for (std::uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const Entry& e = entries_[slot];
    if (!(e.node.owner_bits & kLive) || e.Offset() < begin || e.Offset() >= begin + segment_bytes_) continue;
    RemoveEntry(slot, HashKey(KeyOf(slot)), /*mark_record_dead=*/true);
    --report->records_kept;
    ++report->records_dropped_over_budget;
  }
  segments_[victim].state = kFree;
  segments_[victim].used = 0;
  free_segments_.push_back(victim);
}

// ---------------------------------------------------------------------------
// Reads and writes

Status RamLakePartition::Put(std::string_view key, std::string_view value, std::uint64_t lsn,
                             std::vector<EvictedEntry>* evicted) {
  if (key.empty() || key.size() > fmt::kMaxKeyBytes) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes: must be 1..65535");
  }
  const std::uint64_t footprint = fmt::RecordFootprint(key.size(), value.size());
  if (footprint > max_record_bytes_) {
    // The resident version, if any, is older than this write: it must go
    // (the store serves the key), or a read or a re-attach would find it.
    const std::uint64_t hash = HashKey(key);
    const std::uint32_t resident = FindSlot(key, hash);
    if (resident != kNone && entries_[resident].lsn <= lsn) RemoveEntry(resident, hash, /*mark_record_dead=*/true);
    return Status::TooLarge("record of " + std::to_string(footprint) + " bytes exceeds the largest record (" +
                            std::to_string(max_record_bytes_) + " bytes) of RAM-Lake partition " +
                            std::string(DataKindName(options_.kind)));
  }
  const std::uint64_t hash = HashKey(key);
  std::uint32_t slot = FindSlot(key, hash);
  ++stats_.puts;
  const bool new_key = slot == kNone;
  if (!new_key) {
    if (entries_[slot].lsn > lsn) {
      ++stats_.stale_puts_ignored;
      return Status::Ok();
    }
    if (entries_[slot].Footprint() == footprint) {
      // Same size (every vector, most metadata): overwrite in place. Budget
      // and segment accounting do not change and the cleaner gets no garbage.
      // A kill -9 mid-write leaves a record that fails its checksum, which
      // re-attach drops — the same outcome as losing the old version, which
      // a replaced record never promises to keep.
      Entry& e = entries_[slot];
      if (e.node.owner_bits & kDirty) {
        e.node.owner_bits &= ~kDirty;
        --stats_.dirty_entries;
        stats_.dirty_bytes -= footprint;
      }
      const std::uint64_t offset = e.Offset();
      const std::uint32_t segment = static_cast<std::uint32_t>((offset - fmt::kFileHeaderBytes) / segment_bytes_);
      fmt::WriteRecord(base_ + offset, static_cast<std::uint8_t>(options_.kind), key, value, lsn,
                       segments_[segment].sequence);
      e.lsn = lsn;
      if (lsn > persisted_lsn_) MarkDirty(slot);
      policy_->Access(slot);
      Touch(slot);
      return Status::Ok();
    }
    // From here on the old version is garbage: it stops counting against the
    // budget, and the entry cannot be chosen as a victim of its own Put.
    // Marking it dead costs nothing (FindSlot just read that cache line) and
    // spares the cleaner a lookup per overwritten record. After a crash the
    // key is then resident only if the new version is what the store holds.
    ReleaseRecord(slot, /*mark_record_dead=*/true);
    policy_->Access(slot);
    entries_[slot].node.owner_bits |= kPinned;
  }
  // Decide before evicting anything whether evicting every clean entry would
  // be enough; if not, fail without having dropped anything.
  const bool needs_slot = new_key && max_entries_ != 0 && stats_.entries >= max_entries_;
  if (stats_.dirty_bytes + footprint > usable_bytes_ || (needs_slot && stats_.entries == stats_.dirty_entries)) {
    if (!new_key) RemoveEntry(slot, hash, /*mark_record_dead=*/true);
    ++stats_.rejected_puts;
    return Status::Busy("RAM-Lake partition " + std::string(DataKindName(options_.kind)) + ": " +
                        std::to_string(stats_.dirty_bytes) + " bytes in " + std::to_string(stats_.dirty_entries) +
                        " dirty entries leave no room; entries above LSN " + std::to_string(persisted_lsn_) +
                        " wait for the persistent store");
  }
  // The check above guarantees victims; a policy that finds none anyway is
  // a bug, reported rather than spun on.
  bool evicted_enough = true;
  while (evicted_enough && new_key && max_entries_ != 0 && stats_.entries >= max_entries_) {
    evicted_enough = EvictOne(evicted);
  }
  while (evicted_enough && stats_.live_bytes + footprint > usable_bytes_) evicted_enough = EvictOne(evicted);
  Result<std::uint64_t> offset = evicted_enough ? AllocateRecord(footprint)
                                                : Result<std::uint64_t>(Status::Corruption(
                                                      "eviction policy found no victim among clean entries"));
  if (!offset.ok()) {
    if (!new_key) RemoveEntry(slot, hash, /*mark_record_dead=*/true);
    return offset.status();
  }
  const std::uint32_t segment = static_cast<std::uint32_t>((*offset - fmt::kFileHeaderBytes) / segment_bytes_);
  fmt::WriteRecord(base_ + *offset, static_cast<std::uint8_t>(options_.kind), key, value, lsn,
                   segments_[segment].sequence);
  if (new_key) {
    slot = NewSlot();
    entries_[slot].node.owner_bits = kLive;
    index_.Insert(hash, slot);
    ++stats_.entries;
  }
  Entry& e = entries_[slot];
  e.location = Entry::Encode(*offset, footprint);
  e.lsn = lsn;
  e.node.owner_bits &= ~kPinned;
  segments_[segment].live_bytes += static_cast<std::uint32_t>(footprint);
  stats_.live_bytes += footprint;
  if (lsn > persisted_lsn_) MarkDirty(slot);
  if (new_key) policy_->Insert(slot, hash, EvictionQueue::Arrival::kPut);
  Touch(slot);
  return Status::Ok();
}

std::optional<ValueView> RamLakePartition::Lookup(std::string_view key) {
  std::uint32_t slot = FindSlot(key, HashKey(key));
  if (slot == kNone) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  policy_->Access(slot);
  Touch(slot);
  const Entry& e = entries_[slot];
  return ValueView{fmt::RecordValue(base_ + e.Offset()), e.lsn};
}

Status RamLakePartition::Get(std::string_view key, std::string* value) {
  auto view = Lookup(key);
  if (!view) return Status::NotFound("not resident");  // short: no allocation on a miss
  value->assign(view->value.data(), view->value.size());
  return Status::Ok();
}

bool RamLakePartition::Contains(std::string_view key) const { return FindSlot(key, HashKey(key)) != kNone; }

std::optional<std::uint32_t> RamLakePartition::ReadShared(std::string_view key, std::string* value,
                                                          std::uint64_t* lsn) const {
  const std::uint32_t slot = FindSlot(key, HashKey(key));
  if (slot == kNone) return std::nullopt;
  const Entry& e = entries_[slot];
  const std::string_view v = fmt::RecordValue(base_ + e.Offset());
  value->assign(v.data(), v.size());
  *lsn = e.lsn;
  return slot;
}

void RamLakePartition::NoteSharedReads(std::uint64_t hits, const std::uint32_t* slots, std::size_t slot_count) {
  stats_.hits += hits;
  for (std::size_t i = 0; i < slot_count; ++i) {
    const std::uint32_t slot = slots[i];
    if (slot >= entries_.size() || !(entries_[slot].node.owner_bits & kLive)) continue;
    policy_->Access(slot);
    Touch(slot);
  }
}

Status RamLakePartition::Erase(std::string_view key) {
  std::uint64_t hash = HashKey(key);
  std::uint32_t slot = FindSlot(key, hash);
  if (slot == kNone) return Status::NotFound("not resident");
  RemoveEntry(slot, hash, /*mark_record_dead=*/true);
  ++stats_.erases;
  return Status::Ok();
}

void RamLakePartition::SetPersistedLsn(std::uint64_t lsn) {
  if (lsn <= persisted_lsn_) return;
  persisted_lsn_ = lsn;
  auto later = [](const auto& a, const auto& b) { return a.first > b.first; };
  while (!dirty_heap_.empty() && dirty_heap_.front().first <= lsn) {
    std::uint32_t slot = dirty_heap_.front().second;
    std::pop_heap(dirty_heap_.begin(), dirty_heap_.end(), later);
    dirty_heap_.pop_back();
    Entry& e = entries_[slot];
    // Skip stale items: the slot may since have been replaced, freed or reused.
    if ((e.node.owner_bits & kLive) && (e.node.owner_bits & kDirty) && e.lsn <= lsn) {
      e.node.owner_bits &= ~kDirty;
      --stats_.dirty_entries;
      stats_.dirty_bytes -= e.Footprint();
    }
  }
  // A burst of dirty writes should not leave its queue's memory behind.
  if (dirty_heap_.capacity() > 4 * dirty_heap_.size() + 4096) dirty_heap_.shrink_to_fit();
}

void RamLakePartition::SetAppliedLsn(std::uint64_t lsn) {
  if (lsn <= applied_lsn_) return;
  applied_lsn_ = lsn;
  WriteWatermark();
}

void RamLakePartition::WriteWatermark() {
  fmt::WatermarkSlot slot{};
  slot.lsn = applied_lsn_;
  slot.store_identity = store_identity_;
  slot.sequence = ++watermark_sequence_;
  slot.check = fmt::WatermarkChecksum(slot, generation_);
  // Into the slot not holding the current value, which stays readable if
  // this write is torn by a kill -9.
  watermark_slot_ = (watermark_slot_ + 1) % fmt::kWatermarkSlots;
  // The records the watermark covers are in the mapping before it claims
  // them: the compiler must not sink their stores below this one (the CPU
  // keeps store order, and a killed process's stores all reach the pages).
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(base_ + fmt::kWatermarkOffset + std::uint64_t{watermark_slot_} * sizeof slot, &slot, sizeof slot);
}

void RamLakePartition::SetNow(std::uint64_t now_micros) {
  std::uint64_t seconds = now_micros > clock_base_micros_ ? (now_micros - clock_base_micros_) / 1000000 : 0;
  now_seconds_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(seconds, 0xFFFFFFFFu));
}

void RamLakePartition::RebaseClock(std::uint64_t now_micros) {
  const std::uint64_t elapsed = std::uint64_t{now_seconds_} * 1000000;
  clock_base_micros_ = now_micros > elapsed ? now_micros - elapsed : 0;
  SetNow(now_micros);
}

std::uint64_t RamLakePartition::EvictColderThan(std::uint64_t cutoff_micros, std::vector<EvictedEntry>* evicted) {
  std::uint64_t count = 0;
  for (std::uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const Entry& e = entries_[slot];
    if (!Evictable(slot)) continue;
    if (clock_base_micros_ + std::uint64_t{e.last_access} * 1000000 >= cutoff_micros) continue;
    std::string_view key = KeyOf(slot);
    if (evicted) evicted->push_back({std::string(key), e.lsn, e.Footprint()});
    ++stats_.evictions;
    stats_.evicted_bytes += e.Footprint();
    RemoveEntry(slot, HashKey(key), /*mark_record_dead=*/true);
    ++count;
  }
  return count;
}

RamLakePartition::EvictionPreview RamLakePartition::PreviewEvictColderThan(std::uint64_t cutoff_micros) const {
  EvictionPreview preview;
  for (std::uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const Entry& e = entries_[slot];
    if (!Evictable(slot)) continue;
    if (clock_base_micros_ + std::uint64_t{e.last_access} * 1000000 >= cutoff_micros) continue;
    ++preview.entries;
    preview.bytes += e.Footprint();
  }
  return preview;
}

std::optional<EntryStats> RamLakePartition::GetEntryStats(std::string_view key) const {
  std::uint32_t slot = FindSlot(key, HashKey(key));
  if (slot == kNone) return std::nullopt;
  const Entry& e = entries_[slot];
  EntryStats s;
  s.lsn = e.lsn;
  s.bytes = e.Footprint();
  s.last_access_micros = clock_base_micros_ + std::uint64_t{e.last_access} * 1000000;
  s.access_count = e.node.owner_bits & kCountMask;
  s.dirty = (e.node.owner_bits & kDirty) != 0;
  return s;
}

PartitionStats RamLakePartition::Stats() const {
  PartitionStats s = stats_;
  s.usable_bytes = usable_bytes_;
  s.capacity_bytes = options_.capacity_bytes;
  s.max_entries = max_entries_;
  s.free_segments = free_segments_.size();
  s.segment_count = segment_count_;
  s.persisted_lsn = persisted_lsn_;
  return s;
}

void RamLakePartition::ForEach(
    const std::function<void(std::string_view, std::string_view, std::uint64_t)>& visit) const {
  for (std::uint32_t slot = policy_->Coldest(); slot != kNone; slot = policy_->Warmer(slot)) {
    const char* record = base_ + entries_[slot].Offset();
    visit(fmt::RecordKey(record), fmt::RecordValue(record), entries_[slot].lsn);
  }
}

// ---------------------------------------------------------------------------
// Entries and index

std::uint32_t RamLakePartition::FindSlot(std::string_view key, std::uint64_t hash) const {
  return index_.Find(hash, [&](std::uint32_t slot) {
    const Entry& e = entries_[slot];
    // The entry of a Put in progress has let go of its old record, which the
    // cleaner may still come across: it must not find the entry through it.
    if (e.location == 0) return false;
    const char* record = base_ + e.Offset();
    return fmt::HeaderAt(record)->key_size == key.size() &&
           std::memcmp(record + fmt::kRecordHeaderBytes, key.data(), key.size()) == 0;
  });
}

std::string_view RamLakePartition::KeyOf(std::uint32_t slot) const {
  return fmt::RecordKey(base_ + entries_[slot].Offset());
}

std::uint32_t RamLakePartition::NewSlot() {
  std::uint32_t slot;
  if (free_slots_ != kNone) {
    slot = free_slots_;
    free_slots_ = entries_[slot].node.next;
  } else {
    slot = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
    policy_->Bind(NodeTable(entries_));  // the table may have moved
  }
  entries_[slot] = Entry{};
  return slot;
}

void RamLakePartition::ReleaseRecord(std::uint32_t slot, bool mark_record_dead) {
  Entry& e = entries_[slot];
  if (e.location == 0) return;
  std::uint64_t offset = e.Offset();
  std::uint64_t footprint = e.Footprint();
  Segment& seg = segments_[(offset - fmt::kFileHeaderBytes) / segment_bytes_];
  seg.live_bytes -= static_cast<std::uint32_t>(footprint);
  stats_.live_bytes -= footprint;
  if (e.node.owner_bits & kDirty) {
    e.node.owner_bits &= ~kDirty;
    --stats_.dirty_entries;
    stats_.dirty_bytes -= footprint;
  }
  // One byte, one store: a kill -9 leaves it either live or dead, never torn.
  if (mark_record_dead) base_[offset + offsetof(fmt::RecordHeader, state)] = static_cast<char>(fmt::kRecordDead);
  e.location = 0;
}

void RamLakePartition::RemoveEntry(std::uint32_t slot, std::uint64_t hash, bool mark_record_dead,
                                   bool as_victim) {
  ReleaseRecord(slot, mark_record_dead);
  policy_->Remove(slot, hash, as_victim);
  index_.Erase(hash, slot);
  Entry& e = entries_[slot];
  e.node = EvictionNode{};
  e.node.next = free_slots_;
  free_slots_ = slot;
  --stats_.entries;
}

void RamLakePartition::MarkDirty(std::uint32_t slot) {
  Entry& e = entries_[slot];
  e.node.owner_bits |= kDirty;
  ++stats_.dirty_entries;
  stats_.dirty_bytes += e.Footprint();
  auto later = [](const auto& a, const auto& b) { return a.first > b.first; };
  dirty_heap_.emplace_back(e.lsn, slot);
  std::push_heap(dirty_heap_.begin(), dirty_heap_.end(), later);
  // Replaced dirty entries leave stale items behind; rebuild before they
  // outnumber the live ones so the queue stays O(dirty entries).
  if (dirty_heap_.size() > 2 * stats_.dirty_entries + 1024) {
    dirty_heap_.clear();
    for (std::uint32_t s = 0; s < entries_.size(); ++s) {
      const std::uint32_t bits = entries_[s].node.owner_bits;
      if ((bits & kLive) && (bits & kDirty)) dirty_heap_.emplace_back(entries_[s].lsn, s);
    }
    std::make_heap(dirty_heap_.begin(), dirty_heap_.end(), later);
  }
}

void RamLakePartition::Touch(std::uint32_t slot) {
  Entry& e = entries_[slot];
  e.last_access = now_seconds_;
  if ((e.node.owner_bits & kCountMask) != kCountMask) ++e.node.owner_bits;
}

// ---------------------------------------------------------------------------
// Eviction (in policy_'s order)

bool RamLakePartition::Evictable(std::uint32_t slot) const {
  std::uint32_t bits = entries_[slot].node.owner_bits;
  return (bits & kLive) && !(bits & (kDirty | kPinned));
}

std::uint32_t RamLakePartition::PickVictim() {
  return policy_->PickVictim([this](std::uint32_t slot) { return Evictable(slot); });
}

bool RamLakePartition::EvictOne(std::vector<EvictedEntry>* evicted) {
  std::uint32_t victim = PickVictim();
  if (victim == kNone) return false;
  const Entry& e = entries_[victim];
  std::string_view key = KeyOf(victim);
  if (evicted) evicted->push_back({std::string(key), e.lsn, e.Footprint()});
  ++stats_.evictions;
  stats_.evicted_bytes += e.Footprint();
  RemoveEntry(victim, HashKey(key), /*mark_record_dead=*/true, /*as_victim=*/true);
  return true;
}

// ---------------------------------------------------------------------------
// Space: a log-structured arena of segments

std::uint64_t RamLakePartition::SegmentOffset(std::uint32_t segment) const {
  return fmt::kFileHeaderBytes + std::uint64_t{segment} * segment_bytes_;
}

void RamLakePartition::WriteSegmentHeader(std::uint32_t segment, std::uint64_t sequence) {
  fmt::SegmentHeader sh{};
  sh.magic = fmt::kSegmentMagic;
  sh.sequence = sequence;
  sh.generation = generation_;
  sh.index = segment;
  sh.kind = static_cast<std::uint8_t>(options_.kind);
  sh.crc = fmt::SegmentHeaderChecksum(sh);
  std::memcpy(base_ + SegmentOffset(segment), &sh, sizeof sh);
}

bool RamLakePartition::OpenHeadSegment() {
  if (free_segments_.empty()) return false;
  if (head_segment_ != kNone) segments_[head_segment_].state = kSealed;
  std::uint32_t segment = free_segments_.back();
  free_segments_.pop_back();
  Segment& seg = segments_[segment];
  seg.sequence = next_sequence_++;
  seg.used = fmt::kSegmentHeaderBytes;
  seg.live_bytes = 0;
  seg.state = kHead;
  // The new sequence makes every record of the segment's previous use
  // unreadable to a scan, before anything new is appended.
  WriteSegmentHeader(segment, seg.sequence);
  head_segment_ = segment;
  return true;
}

Result<std::uint64_t> RamLakePartition::AllocateRecord(std::uint64_t footprint) {
  for (std::uint64_t attempt = 0; attempt < 4ull * segment_count_ + 8; ++attempt) {
    if (head_segment_ != kNone && segments_[head_segment_].used + footprint <= segment_bytes_) {
      Segment& head = segments_[head_segment_];
      std::uint64_t offset = SegmentOffset(head_segment_) + head.used;
      head.used += static_cast<std::uint32_t>(footprint);
      return offset;
    }
    // Keep one free segment in reserve: the cleaner copies into it.
    if (free_segments_.size() >= 2 || (head_segment_ == kNone && !free_segments_.empty())) {
      OpenHeadSegment();
      continue;
    }
    CleanOneSegment();
  }
  return Status::Corruption("RAM-Lake partition " + std::string(DataKindName(options_.kind)) +
                            ": the cleaner made no progress (space accounting is broken)");
}

void RamLakePartition::CleanOneSegment() {
  // Greedy: the sealed segment with the fewest live bytes costs the least to
  // empty. N is at most a few thousand, and each clean moves up to a segment,
  // so a linear pick is noise.
  std::uint32_t victim = kNone;
  for (std::uint32_t i = 0; i < segment_count_; ++i) {
    if (segments_[i].state != kSealed) continue;
    if (victim == kNone || segments_[i].live_bytes < segments_[victim].live_bytes) victim = i;
  }
  if (victim == kNone) return;
  Segment& seg = segments_[victim];
  const std::uint64_t seg_offset = SegmentOffset(victim);

  auto relocate = [&](std::uint32_t slot) {
    Entry& e = entries_[slot];
    std::uint64_t footprint = e.Footprint();
    if (head_segment_ == kNone || segments_[head_segment_].used + footprint > segment_bytes_) {
      if (!OpenHeadSegment()) return false;
    }
    Segment& head = segments_[head_segment_];
    std::uint64_t from = e.Offset();
    std::uint64_t to = SegmentOffset(head_segment_) + head.used;
    std::memcpy(base_ + to, base_ + from, footprint);
    fmt::ResequenceRecord(base_ + to, head.sequence);
    head.used += static_cast<std::uint32_t>(footprint);
    head.live_bytes += static_cast<std::uint32_t>(footprint);
    seg.live_bytes -= static_cast<std::uint32_t>(footprint);
    // The copy is complete and valid before the original is marked dead; a
    // crash in between leaves two equal records, and re-attach keeps one.
    base_[from + offsetof(fmt::RecordHeader, state)] = static_cast<char>(fmt::kRecordDead);
    e.location = Entry::Encode(to, footprint);
    stats_.bytes_relocated += footprint;
    return true;
  };

  // Walk the records by their lengths. Our own records need no checksum
  // here; bytes that do not parse (a corrupt record found at re-attach) are
  // stepped over 8 at a time.
  std::uint32_t offset = fmt::kSegmentHeaderBytes;
  while (seg.live_bytes > 0 && offset + fmt::kRecordHeaderBytes <= seg.used) {
    const char* record = base_ + seg_offset + offset;
    const fmt::RecordHeader* h = fmt::HeaderAt(record);
    std::uint64_t footprint = fmt::RecordFootprint(h->key_size, h->value_size);
    if (h->magic != fmt::kRecordMagic || h->sequence != seg.sequence || footprint > max_record_bytes_ ||
        offset + footprint > seg.used) {
      offset += 8;
      continue;
    }
    if (h->state == fmt::kRecordLive) {
      std::string_view key = fmt::RecordKey(record);
      std::uint32_t slot = FindSlot(key, HashKey(key));
      if (slot != kNone && entries_[slot].Offset() == seg_offset + offset) {
        if (!relocate(slot)) return;
      }
    }
    offset += static_cast<std::uint32_t>(footprint);
  }
  if (seg.live_bytes > 0) {
    // The walk missed a record (it can only be misled by corrupt bytes):
    // find the stragglers through the entry table instead.
    for (std::uint32_t slot = 0; slot < entries_.size() && seg.live_bytes > 0; ++slot) {
      const Entry& e = entries_[slot];
      if (!(e.node.owner_bits & kLive) || e.location == 0) continue;
      std::uint64_t at = e.Offset();
      if (at >= seg_offset && at < seg_offset + segment_bytes_) {
        if (!relocate(slot)) return;
      }
    }
  }
  seg.state = kFree;
  seg.used = 0;
  free_segments_.push_back(victim);
  ++stats_.segments_cleaned;
}

// ---------------------------------------------------------------------------
// Introspection

std::uint64_t RamLakePartition::IndexMemoryBytes() const {
  return entries_.capacity() * sizeof(Entry) + index_.MemoryBytes() +
         dirty_heap_.capacity() * sizeof(dirty_heap_[0]) + segments_.capacity() * sizeof(Segment) +
         free_segments_.capacity() * sizeof(std::uint32_t) + policy_->MemoryBytes();
}

double RamLakePartition::IndexBytesPerEntry() const {
  return stats_.entries == 0 ? 0.0 : double(IndexMemoryBytes()) / double(stats_.entries);
}

Status RamLakePartition::Verify() const {
  auto fail = [&](const std::string& what) {
    return Status::Corruption("RAM-Lake partition " + std::string(DataKindName(options_.kind)) + ": " + what);
  };
  std::vector<std::uint64_t> segment_live(segment_count_, 0);
  std::uint64_t live = 0, entries = 0, dirty = 0, dirty_bytes = 0;
  for (std::uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const Entry& e = entries_[slot];
    if (!(e.node.owner_bits & kLive)) continue;
    ++entries;
    if (e.location == 0) return fail("entry " + std::to_string(slot) + " has no record");
    std::uint64_t offset = e.Offset();
    if (offset < fmt::kFileHeaderBytes || offset + e.Footprint() > options_.capacity_bytes) {
      return fail("entry " + std::to_string(slot) + " points outside the file");
    }
    const char* record = base_ + offset;
    const fmt::RecordHeader* h = fmt::HeaderAt(record);
    std::uint32_t segment = static_cast<std::uint32_t>((offset - fmt::kFileHeaderBytes) / segment_bytes_);
    if (h->magic != fmt::kRecordMagic || h->state != fmt::kRecordLive || fmt::RecordChecksum(record) != h->crc ||
        h->lsn != e.lsn || h->sequence != segments_[segment].sequence ||
        fmt::RecordFootprint(h->key_size, h->value_size) != e.Footprint()) {
      return fail("record of entry " + std::to_string(slot) + " at offset " + std::to_string(offset) +
                  " is not the live, checksummed record the entry describes");
    }
    if (FindSlot(fmt::RecordKey(record), HashKey(fmt::RecordKey(record))) != slot) {
      return fail("the index does not lead to entry " + std::to_string(slot));
    }
    if (segments_[segment].state == kFree) return fail("entry " + std::to_string(slot) + " lives in a free segment");
    segment_live[segment] += e.Footprint();
    live += e.Footprint();
    bool is_dirty = (e.node.owner_bits & kDirty) != 0;
    if (is_dirty != (e.lsn > persisted_lsn_)) return fail("dirty flag of entry " + std::to_string(slot) + " is wrong");
    if (is_dirty) {
      ++dirty;
      dirty_bytes += e.Footprint();
    }
  }
  if (entries != stats_.entries || entries != index_.size()) {
    return fail("entry count " + std::to_string(stats_.entries) + " / index " + std::to_string(index_.size()) +
                ", counted " + std::to_string(entries));
  }
  if (live != stats_.live_bytes) {
    return fail("live bytes " + std::to_string(stats_.live_bytes) + ", counted " + std::to_string(live));
  }
  if (dirty != stats_.dirty_entries || dirty_bytes != stats_.dirty_bytes) return fail("dirty accounting is off");
  if (live > usable_bytes_) return fail("live bytes exceed the usable budget");
  if (max_entries_ != 0 && entries > max_entries_) return fail("entries exceed max_entries");
  std::uint64_t free_count = 0;
  for (std::uint32_t i = 0; i < segment_count_; ++i) {
    if (segments_[i].live_bytes != segment_live[i]) {
      return fail("segment " + std::to_string(i) + " accounts " + std::to_string(segments_[i].live_bytes) +
                  " live bytes, counted " + std::to_string(segment_live[i]));
    }
    if (segments_[i].state == kFree) ++free_count;
  }
  if (free_count != free_segments_.size()) return fail("free segment list is off");
  if (std::string broken = policy_->Check(entries); !broken.empty()) return fail(broken);
  std::uint64_t listed = 0;
  for (std::uint32_t s = policy_->Coldest(); s != kNone; s = policy_->Warmer(s)) {
    if (!(entries_[s].node.owner_bits & kLive)) return fail("policy list is broken");
    if (++listed > entries) break;
  }
  if (listed != entries) return fail("policy lists hold " + std::to_string(listed) + " of " + std::to_string(entries));
  return Status::Ok();
}

}  // namespace postdevai::storage::ramlake
