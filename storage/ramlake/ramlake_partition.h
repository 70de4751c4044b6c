// One RAM-Lake partition: a memory-mapped file on a RAM disk holding the hot
// copies of one kind of data (vectors, code, history or metadata), with a
// compact key index, an eviction policy, access statistics and a
// crash-consistent warm restart.
//
// The RAM-Lake is a cache of the persistent store, never the only copy: every
// Put carries the LSN of the write (assigned by the journal), and the owner
// tells the partition up to which LSN the persistent store can serve reads
// (SetPersistedLsn). Entries above that LSN are dirty and are never evicted;
// everything else may be dropped at any time, and the caller reads it from
// the persistent store on a miss.
//
// Budget: the file is the partition's whole byte budget, reserved up front
// (fallocate), so a full RAM disk is a kNoSpace error from Open and never a
// SIGBUS later. Records are appended to segments; a cleaner reclaims the
// emptiest segment by moving its live records, so free space never fragments.
// Live bytes are kept at or under usable_bytes() (about 91..94% of the data
// area — the head-room that lets the cleaner always make progress); entries at
// or under max_entries. Both are accounted exactly: Verify() recomputes them.
//
// Crash model: a kill -9 can stop the process between any two instructions,
// but every store it made to the mapping survives (the pages belong to the
// file). Each record carries key, length, LSN and a CRC32C, verified for
// every record on every re-attach; a record that fails it is dropped. Files
// Open cannot trust at all (missing, wrong size, foreign format version,
// another partition's file, corrupt header) are rebuilt as an empty
// partition, whose misses the caller serves from the persistent store. A
// power cut loses a tmpfs file entirely: Open then rebuilds. The partition
// never calls msync: durability is the journal's job, not the cache's.
//
// Warm restart: which records are current. A record may be kept only if the
// store holds exactly its LSN for its key. Two proofs, chosen per Open and
// named in the OpenReport:
//
//   watermark  The owner calls SetAppliedLsn(W) once it has passed every
//              write of this partition's kind with LSN <= W to Put or Erase,
//              in LSN order; the file keeps W (two checked slots in the
//              header page, written after the records they cover, so a
//              kill -9 leaves the previous, still true, value). Invariant:
//              no resident record (k, r) has a write to k in (r, W] -- an
//              applied write replaces or erases the record, and promotions
//              (Put of a value read from the store) are current when made.
//              After a restart the cold tier has replayed the WAL after its
//              checkpoint C up to its end L, and the caller names every key
//              of this kind written in (C, L] with its last LSN
//              (WatermarkProof). If W >= C and the file was written against
//              this store (store_identity), then for each record (k, r):
//                r > L           dropped: the write was lost with the WAL's
//                                unsynced tail, the store never had it;
//                k written in (C, L]  kept iff its last write there is a put
//                                at exactly r (what replay left in the store);
//                otherwise       r <= C (else k was written in (C, L]), and
//                                no write to k in (r, W] nor in (C, L] which
//                                covers (W, L]: the store holds k at r. Kept.
//              This rests on the cold tier's contract: after the replay the
//              store holds exactly the writes up to L. The cost is the scan
//              itself (checksums, index) plus one hash probe per record
//              when the replay changed keys of this kind.
//              No store lookup per record; a sample of kept records is still
//              checked against store_lsn when given (spot_checks): one
//              mismatch means the proof's premises do not hold (say another
//              store's history behind the same identity), and the whole file
//              is proven again key by key.
//   key by key Every live record is looked up with store_lsn (one LevelDB
//              read each, ~3.5 us). Used when no WatermarkProof is given (a
//              partition restarted while the node runs: the WAL was not just
//              replayed), when the file has no valid watermark (an older
//              build's, or never advanced), when it was written against
//              another store or its watermark is older than the checkpoint
//              (the WAL no longer holds the writes in between), and after a
//              failed spot check.
// Either way Open ends by writing the watermark the re-attached file is now
// proven at (end_lsn when a WatermarkProof was given, else the file's own).
//
// Thread-safety: a partition is single-threaded by contract: it is owned and
// driven by exactly one CAF actor (or one thread), and every call must come
// from it — with one exception, ReadShared, which other threads may call
// concurrently with each other and with the owner's const calls, but never
// with a non-const call. PartitionReadView (read_view.h) enforces exactly
// that with a lock, and is the only intended caller of ReadShared. Different
// partitions are independent and may be driven by different threads. No call
// blocks on anything but the page cache, except Open, which does file I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postdevai/status.h"
#include "storage/file_system.h"
#include "storage/ramlake/ramlake_options.h"
#include "storage/ramlake/slot_index.h"

namespace postdevai::storage::ramlake {

class EvictionQueue;
namespace format {
struct WatermarkSlot;
}  // namespace format

// An entry Put had to drop to make room: the caller must treat it as living in
// the persistent store only from now on.
struct EvictedEntry {
  std::string key;
  std::uint64_t lsn = 0;
  std::uint64_t bytes = 0;  // footprint in the file
};

// A resident value, viewed in place. The views stay valid until the next
// mutating call on the partition (Put, Erase, eviction).
struct ValueView {
  std::string_view value;
  std::uint64_t lsn = 0;
};

// Per-entry access statistics, for the tiering supervisor and the prefetcher.
struct EntryStats {
  std::uint64_t lsn = 0;
  std::uint64_t bytes = 0;               // footprint in the file
  std::uint64_t last_access_micros = 0;  // in the clock given to SetNow (seconds resolution)
  std::uint32_t access_count = 0;        // Put + hits, saturating at 2^24-1
  bool dirty = false;                    // LSN above the persisted LSN: not evictable
};

// Per-partition statistics, for the metrics and `memory stats`.
struct PartitionStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t stale_puts_ignored = 0;  // Put with an LSN older than the resident one
  std::uint64_t rejected_puts = 0;       // Put that failed with kBusy (all dirty)
  std::uint64_t erases = 0;
  std::uint64_t evictions = 0;
  std::uint64_t evicted_bytes = 0;
  std::uint64_t entries = 0;
  std::uint64_t live_bytes = 0;      // sum of the footprints of resident records
  std::uint64_t dirty_entries = 0;
  std::uint64_t dirty_bytes = 0;
  std::uint64_t usable_bytes = 0;    // live_bytes never exceeds this
  std::uint64_t capacity_bytes = 0;  // the file
  std::uint64_t max_entries = 0;     // 0: no limit
  std::uint64_t segments_cleaned = 0;
  std::uint64_t bytes_relocated = 0; // copied by the cleaner
  std::uint64_t free_segments = 0;
  std::uint64_t segment_count = 0;
  std::uint64_t persisted_lsn = 0;
  double HitRate() const { return hits + misses == 0 ? 0.0 : double(hits) / double(hits + misses); }
};

// What Open did with the file it found.
struct OpenReport {
  enum class Outcome : std::uint8_t {
    kCreated,     // there was no file: a new one was made
    kReattached,  // the file was trusted record by record
    kRebuilt,     // the file could not be trusted and was reinitialized, empty
  };
  // How the re-attached records were proven current (see "Warm restart").
  enum class Proof : std::uint8_t {
    kNone,       // nothing to prove (created or rebuilt)
    kWatermark,  // the file's watermark and the replayed keys
    kKeyByKey,   // one store lookup per record
  };
  Outcome outcome = Outcome::kCreated;
  std::string rebuild_reason;  // why (kRebuilt only), ready to log
  Proof proof = Proof::kNone;
  std::string key_by_key_reason;  // why not the watermark (kKeyByKey only), ready to log
  std::uint64_t generation = 0;
  std::uint64_t file_watermark_lsn = 0;  // the watermark found in the file (0: none)
  std::uint64_t checkpoint_lsn = 0;      // of the WatermarkProof given (0: none given)
  std::uint64_t end_lsn = 0;             // likewise
  std::uint64_t changed_keys = 0;        // keys of this kind the replay changed after the checkpoint
  std::uint64_t store_lookups = 0;       // store_lsn calls (every record, or the spot checks)
  std::uint64_t records_kept = 0;               // re-attached
  std::uint64_t records_dropped_stale = 0;      // LSN is not what the store holds
  std::uint64_t records_dropped_past_end = 0;   // LSN above the log's end: the write was lost
  std::uint64_t records_dropped_corrupt = 0;    // checksum failed (torn by a crash, bit rot)
  std::uint64_t records_dropped_duplicate = 0;  // an equal copy was kept (cleaner moved it)
  std::uint64_t records_dropped_over_budget = 0;// kept but evicted to fit the budget
  std::uint64_t bytes_scanned = 0;
  std::uint64_t elapsed_micros = 0;
  std::uint64_t RecordsDropped() const {
    return records_dropped_stale + records_dropped_past_end + records_dropped_corrupt + records_dropped_duplicate +
           records_dropped_over_budget;
  }
  std::string ToString() const;  // one line for the log
};

// The last change to each key of one kind that a WAL replay applied after
// the store's checkpoint: the keys a watermark proof must not take from the
// file on trust. Filled by the caller (the engine, from RecoverColdTier's
// observer). Not thread-safe; read-only during Open.
class ChangedKeys {
 public:
  struct Change {
    std::uint64_t lsn = 0;
    bool erased = false;  // the last change was a delete
  };
  // Notes a put or delete of key at lsn; the change with the highest LSN
  // is kept per key.
  void Note(std::string_view key, std::uint64_t lsn, bool erased);
  // The last change to key, or null when it was not changed.
  const Change* Find(std::string_view key) const;
  // Calls visit(key, change) for every changed key, in no particular order.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const auto& [key, change] : changes_) visit(std::string_view(key), change);
  }
  std::size_t size() const { return changes_.size(); }
  bool empty() const { return changes_.empty(); }
  void Clear() { changes_.clear(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  std::unordered_map<std::string, Change, Hash, std::equal_to<>> changes_;
};

// What start-up knows once the WAL has been replayed into the store: the
// premises of the watermark proof (see "Warm restart"). It describes the
// store as it is while Open runs; nothing may write to the store meanwhile.
struct WatermarkProof {
  std::uint64_t checkpoint_lsn = 0;  // the store's checkpoint: replay started after it
  std::uint64_t end_lsn = 0;         // the last LSN the store holds: the WAL's last record, or the checkpoint
  // Every key of this partition's kind written in (checkpoint_lsn, end_lsn],
  // with its last change. Required (may be empty); must outlive Open.
  const ChangedKeys* changed = nullptr;
};

// How Open proves records current (see "Warm restart").
struct OpenHooks {
  // The LSN the persistent store holds for key, or nullopt when it has none.
  // Called during Open only: for every live record on the key-by-key proof,
  // for a sample (spot_checks) on the watermark proof. Without it and
  // without a watermark proof that holds, no record can be proven current:
  // an existing file is rebuilt.
  std::function<std::optional<std::uint64_t>(std::string_view key)> store_lsn;
  // Present at start-up, after the WAL replay; null otherwise (then the
  // proof is key by key).
  const WatermarkProof* watermark = nullptr;
  // The store's identity, written with the watermark: a file's watermark
  // proves nothing against another store. 0: unknown, so the watermark
  // proof is never used (and the file's watermark is written with 0).
  std::uint64_t store_identity = 0;
  // Kept records checked against store_lsn on the watermark proof (evenly
  // spread over the file); 0 disables the check.
  std::uint32_t spot_checks = 256;
};

class RamLakePartition {
 public:
  // Opens (or creates) the partition file at options.file_path: locks it
  // against other processes (kBusy when held), reserves its whole size, maps
  // it, and re-attaches or rebuilds it as described above; *report (optional)
  // says which and why. Errors: kInvalidArgument for options that cannot work
  // (capacity under 4 segments, ...), kNoSpace when the RAM disk cannot hold
  // the file (a file being created or rebuilt is removed again), kBusy when
  // another process has it open, kIoError otherwise; each names the partition
  // and its file. The directory must exist. A file that cannot be trusted is
  // never an error: it is rebuilt, empty.
  static Result<std::unique_ptr<RamLakePartition>> Open(FileSystem* fs, const PartitionOptions& options,
                                                        const OpenHooks& hooks = {},
                                                        OpenReport* report = nullptr);

  // Unmaps and unlocks; the file stays for the next Open to re-attach.
  ~RamLakePartition();
  RamLakePartition(const RamLakePartition&) = delete;
  RamLakePartition& operator=(const RamLakePartition&) = delete;

  // Stores key -> value written at `lsn` (the journal's LSN), replacing an
  // older version; an LSN older than the resident one is ignored (Ok, counted
  // in stale_puts_ignored) so a late promotion never hides a newer write.
  // Evicts clean entries (policy order) as needed and appends them to
  // *evicted when given. Errors:
  //   kInvalidArgument  empty key, or key over 65535 bytes;
  //   kTooLarge         the record exceeds max_record_bytes() or the budget;
  //   kBusy             the dirty entries alone leave no room: nothing was
  //                     evicted; wait for SetPersistedLsn and retry.
  // On error the key is not resident afterwards, unless with a newer LSN (a
  // replaced version is dropped, never left behind stale). A replacement of the same footprint is
  // written in place, others are appended; either way the old version is
  // gone, so after a crash the key re-attaches only if the store holds the
  // new version's LSN.
  Status Put(std::string_view key, std::string_view value, std::uint64_t lsn,
             std::vector<EvictedEntry>* evicted = nullptr);

  // Copies the value into *value. kNotFound on a miss. Counts a hit or miss
  // and updates the entry's recency, frequency and policy position.
  Status Get(std::string_view key, std::string* value);
  // Like Get without the copy; see ValueView for how long the view lives.
  std::optional<ValueView> Lookup(std::string_view key);
  // Residency check: no statistics, no policy update.
  bool Contains(std::string_view key) const;

  // For reader threads (see Thread-safety above): copies the resident value
  // of key into *value and its LSN into *lsn and returns its slot, or
  // nullopt on a miss. Changes nothing — no statistics, no recency — so it
  // is safe beside other ReadShared calls; the owner later accounts for the
  // hit with NoteSharedReads.
  std::optional<std::uint32_t> ReadShared(std::string_view key, std::string* value, std::uint64_t* lsn) const;
  // The owner accounts for `hits` hits made through ReadShared and, for each
  // of `slots`, refreshes recency and tells the eviction policy, as Lookup
  // does. A slot that is no longer live is skipped; one that was reused by
  // another key since gets that access instead (recency is a heuristic; a
  // wrong touch never loses data).
  void NoteSharedReads(std::uint64_t hits, const std::uint32_t* slots, std::size_t slot_count);

  // Drops the entry (dirty or not). kNotFound when it is not resident.
  Status Erase(std::string_view key);

  // The persistent store can serve every write up to lsn: entries at or below
  // it become clean (evictable). Never moves backwards.
  void SetPersistedLsn(std::uint64_t lsn);
  std::uint64_t persisted_lsn() const { return persisted_lsn_; }

  // The watermark (see "Warm restart"): the owner has passed every write of
  // this partition's kind with an LSN up to lsn to Put or Erase, in LSN order
  // (whatever they returned), and every other Put it made was of a value
  // current when made. Recorded in the file after the records it covers
  // (one 32-byte store to the header page, no system call); never moves
  // backwards.
  void SetAppliedLsn(std::uint64_t lsn);
  std::uint64_t applied_lsn() const { return applied_lsn_; }

  // The owner's clock (the actor clock), for per-entry recency. Resolution is
  // one second; Open starts it at fs->NowMicros().
  void SetNow(std::uint64_t now_micros);
  // Adopts the owner's clock: from now on SetNow and EvictColderThan take
  // times of that clock (e.g. the actor clock, which tests drive), keeping
  // every entry's age. Open starts on fs->NowMicros().
  void RebaseClock(std::uint64_t now_micros);

  // Evicts every clean entry last accessed before cutoff_micros (`memory
  // evict --cold --older-than`); returns how many. Walks every entry.
  std::uint64_t EvictColderThan(std::uint64_t cutoff_micros, std::vector<EvictedEntry>* evicted = nullptr);
  // What EvictColderThan(cutoff_micros) would evict, without evicting: the
  // entries and their bytes (`memory evict --dry-run`). Walks every entry.
  struct EvictionPreview {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
  };
  EvictionPreview PreviewEvictColderThan(std::uint64_t cutoff_micros) const;

  std::optional<EntryStats> GetEntryStats(std::string_view key) const;
  PartitionStats Stats() const;

  // Calls visit(key, value, lsn) for each resident entry, coldest first in
  // policy order. visit must not call back into the partition.
  void ForEach(const std::function<void(std::string_view key, std::string_view value, std::uint64_t lsn)>& visit) const;

  // Checks every invariant the partition relies on: each resident record's
  // checksum, key and LSN; live and dirty bytes and entry counts recomputed
  // from scratch; per-segment live bytes; index and policy list consistency.
  // kCorruption naming the first violation. O(entries); for tests and
  // `diagnose memory`.
  Status Verify() const;

  // Memory of the index, entry table, dirty queue and the policy's ghost list
  // (S3-FIFO) divided by the number of entries (allocated capacity, so what
  // the process really pays).
  double IndexBytesPerEntry() const;
  std::uint64_t IndexMemoryBytes() const;

  PartitionKind kind() const { return options_.kind; }
  const std::string& file_path() const { return options_.file_path; }
  std::uint64_t usable_bytes() const { return usable_bytes_; }
  std::uint64_t max_record_bytes() const { return max_record_bytes_; }
  std::uint64_t generation() const { return generation_; }
  EvictionPolicy eviction_policy() const { return options_.eviction; }

  // The footprint a record of this key and value size takes in the file
  // (header + key + value, 8-byte aligned): what live_bytes counts.
  static std::uint64_t RecordFootprint(std::size_t key_size, std::size_t value_size);
  // The segment size Open uses for a capacity when none is given.
  static std::uint32_t DefaultSegmentBytes(std::uint64_t capacity_bytes);

 private:
  struct Entry;
  struct Segment;
  class Layout;

  RamLakePartition(FileSystem* fs, PartitionOptions options);

  Status OpenFile(const OpenHooks& hooks, OpenReport* report);
  Status Rebuild(const std::string& reason, bool existed, OpenReport* report);
  Status MapFile(std::uint64_t file_size);
  void Unmap();
  // The valid watermark slot (of generation_) with the highest sequence, if
  // any; positions the next WriteWatermark after it.
  std::optional<format::WatermarkSlot> PickWatermark(const format::WatermarkSlot* slots);
  // The proof Open will use for the file; *reason says why not the watermark.
  OpenReport::Proof ChooseProof(const OpenHooks& hooks, const std::optional<format::WatermarkSlot>& found,
                                std::string* reason) const;
  // Rebuilds the in-memory state from the file, keeping the live records
  // judge(key, lsn) accepts and marking the others dead.
  template <class Judge>
  void ScanRecords(Judge&& judge, OpenReport* report);
  Status Reattach(const OpenHooks& hooks, OpenReport::Proof proof, OpenReport* report);
  // Describes the first sampled record whose LSN is not what the store holds, if any.
  std::optional<std::string> SpotCheck(const OpenHooks& hooks, OpenReport* report) const;
  // Records applied_lsn_ and store_identity_ in the file.
  void WriteWatermark();
  void ResetState();
  void FreeOneSegmentByEviction(OpenReport* report);

  // Index and entries.
  std::uint32_t FindSlot(std::string_view key, std::uint64_t hash) const;
  std::string_view KeyOf(std::uint32_t slot) const;
  std::uint32_t NewSlot();
  // as_victim: the slot is the one the policy just picked to evict.
  void RemoveEntry(std::uint32_t slot, std::uint64_t hash, bool mark_record_dead, bool as_victim = false);
  void ReleaseRecord(std::uint32_t slot, bool mark_record_dead);
  void MarkDirty(std::uint32_t slot);
  void Touch(std::uint32_t slot);

  // Eviction (the order is policy_'s).
  bool Evictable(std::uint32_t slot) const;
  std::uint32_t PickVictim();
  bool EvictOne(std::vector<EvictedEntry>* evicted);

  // Space.
  Result<std::uint64_t> AllocateRecord(std::uint64_t footprint);
  bool OpenHeadSegment();
  void CleanOneSegment();
  std::uint64_t SegmentOffset(std::uint32_t segment) const;
  void WriteSegmentHeader(std::uint32_t segment, std::uint64_t sequence);

  FileSystem* fs_;
  PartitionOptions options_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<WritableFile> file_;
  char* base_ = nullptr;
  std::uint64_t mapped_bytes_ = 0;

  std::uint32_t segment_bytes_ = 0;
  std::uint32_t segment_count_ = 0;
  std::uint64_t usable_bytes_ = 0;
  std::uint64_t max_record_bytes_ = 0;
  std::uint64_t max_entries_ = 0;
  std::uint64_t generation_ = 0;

  std::vector<Segment> segments_;
  std::vector<std::uint32_t> free_segments_;
  std::uint32_t head_segment_;
  std::uint64_t next_sequence_ = 1;

  // Grows only in NewSlot, which then re-binds policy_ to it.
  std::vector<Entry> entries_;
  std::uint32_t free_slots_;
  SlotIndex index_;
  // Orders the live entries for eviction; its per-entry state is in each
  // Entry's node (see eviction_policy.h).
  std::unique_ptr<EvictionQueue> policy_;

  // Dirty entries by LSN (min-heap of {lsn, slot}; stale items are skipped).
  std::vector<std::pair<std::uint64_t, std::uint32_t>> dirty_heap_;
  std::uint64_t persisted_lsn_ = 0;

  // The watermark and what is written with it.
  std::uint64_t applied_lsn_ = 0;
  std::uint64_t store_identity_ = 0;
  std::uint64_t watermark_sequence_ = 0;  // of the slot last written
  std::uint32_t watermark_slot_ = 1;      // the slot last written

  std::uint64_t clock_base_micros_ = 0;
  std::uint32_t now_seconds_ = 0;

  PartitionStats stats_;
};

}  // namespace postdevai::storage::ramlake
