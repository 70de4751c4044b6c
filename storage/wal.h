// The write-ahead log: append-only segments of checksummed records with
// log sequence numbers (LSNs), group commit, and crash recovery.
//
// Durability contract. Append/AppendBatch return only after every byte of the
// records is durable (fdatasync). Writers that arrive while a sync is in flight
// queue up and share the next sync (group commit): with N concurrent writers one
// fdatasync acknowledges up to N writes. (Buffered appends, WalWait::kBuffered,
// are the exception: see there.) The next leader first gathers: writers the
// last sync acknowledged usually come straight back with their next write,
// so it waits for those threads (not for a count) until all of them are back
// or for half the last sync's duration at most, then syncs them together.
// Without it, N writers split into two halves that alternate between syncs,
// N/2 a sync. A lone writer, or one thread that writes for many (the
// engine's journal), never waits: it is the thread it would wait for.
// What a caller is told is exact:
//   ok        every record of the batch is durable and is replayed by every
//             recovery until ReleaseThrough passes it.
//   kClosed   the outcome is unknown: the log failed and could not abandon the
//             batch's records (see Failures), so each of them may or may not be
//             found after recovery. Only this code means that.
//   any other none of the batch's records is in the log, and none will ever be
//   error     found by a recovery, whether the process dies or the power goes
//             right after the error (kTooLarge and kInvalidArgument: nothing
//             was written; kIoError, kNoSpace: see Failures). Their LSNs are
//             handed out again.
//
// Failures. A failed write or sync is never retried-and-acknowledged. When one
// fails, the writers whose records were all synced keep their acknowledgement;
// the first writer with a record not yet synced, and every writer after it
// (queued ones too), fail. Their records may already be on disk, in part or
// even whole (a batch can be synced in part when it straddles two segments, a
// failed fsync leaves unknown what reached the disk), so before any of those
// writers is told, the log abandons them durably: it starts a new segment
// whose header names the first failed LSN as its first. Recovery reads every
// earlier segment only up to the first LSN of any later segment, so whatever
// the failed writes left behind is never read again. The segment where the
// failure struck is never written or synced again either: after a failed
// fsync the kernel may have dropped its dirty pages and will not report it
// twice (PostgreSQL's lesson), and a failed write may have left half a record.
// The next write goes to the new segment. If the new segment cannot be started
// (the disk refuses that too), the failed writers get kClosed and the log is
// closed: every later append first retries abandoning them, and fails with
// kClosed, writing nothing, until that succeeds.
//
// Segments are files `wal-<12-digit sequence>.log` of `segment_size` bytes,
// zero-filled and synced before use (so fdatasync of a record never has to
// update file metadata, about twice as fast here) and brought into the log by a
// rename followed by a directory sync; the log's directory is itself synced
// into its parent when Open creates it. A 4 KiB segment header (format 3):
//   u32 header_crc   CRC32C of bytes [4, 56)
//   u32 version      3 (read, no longer written: format 2, without the
//                    store's id and epoch, a header_crc over [4, 40); format 1
//                    also without salt, a header_crc over [4, 32), in records
//                    too)
//   u64 magic        "PDAIWAL1"
//   u64 sequence     the segment's sequence number
//   u64 first_lsn    the LSN of its first record; records of earlier segments
//                    from this LSN on are abandoned
//   u64 salt         random; binds every record of the segment to it
//   u64 store_id     the store the log belongs to (WalOptions::store_id)
//   u64 epoch        the store's epoch when the segment was started
//
// Ownership. Open takes an exclusive lock (the file LOCK in the log's
// directory) for the life of the Wal: a second process, or a second Wal in
// this one, gets kBusy. It refuses (kInvalidArgument, naming both ids) a
// segment that names another store than options.store_id, and (kCorruption,
// naming the missing LSNs) a log that does not continue the caller's
// checkpoint: its first record is after replay_after + 1, so the writes in
// between are nowhere (an older store restored beside a newer log, or
// segments removed by hand).
//
// Record framing (little endian, 8-byte aligned):
//   u32 header_crc   CRC32C of the segment's salt (8 bytes) then bytes [4, 32)
//   u32 payload_crc  CRC32C of the payload
//   u32 length       payload bytes
//   u8  type         caller-defined, never 0
//   u8  pad[3]
//   u64 lsn          consecutive: each record is its predecessor + 1
//   u64 durable_lsn  the highest LSN already durable when this record was made
//   payload, zero padding to a multiple of 8
//
// Open recovers the log and then always starts a new segment: a segment is
// only ever written by the Wal that started it, never by a later run (the run
// that started it may have died after an fsync of it failed). Recovery itself
// writes into no segment.
//
// Recovery reads each segment up to the last intact record before the first
// LSN of every later segment. A record that fails its checks (or has the wrong
// LSN) before that point in a segment that a later one follows means damage:
// the later segment was only started after this one was synced up to there.
// In the last segment it is the end of the log (a torn tail: those writes were
// never acknowledged) unless a later intact record of the same segment (its
// header CRC carries the segment's salt, so bytes copied from another segment
// or log, say a WAL file stored as a value, never qualify) whose LSN follows
// the bad one, at a distance its LSN allows, says through its durable_lsn that
// the bad record had already been made durable: then the log is corrupt and
// Open fails with kCorruption naming the segment, offset and LSN --
// acknowledged data is never silently dropped. A torn tail is left where it
// is: the segment Open starts abandons it.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/file_system.h"

namespace postdevai::storage {

// A record as Open hands it to the replay callback.
struct WalRecord {
  std::uint64_t lsn = 0;
  std::uint8_t type = 0;
  std::string_view payload;  // valid only during the callback
};

struct WalOptions {
  std::string dir;                              // created if missing
  FileSystem* fs = FileSystem::Default();
  std::uint64_t segment_size = 64ull << 20;     // bytes per segment file
  // Segments wholly before a checkpoint go to archive_dir (named by
  // ArchivedWalSegmentName; moved, or copied when it is on another file
  // system) when archive is true -- for point-in-time recovery from a backup
  // (storage/backup.h); the Wal itself never reads them again -- else deleted.
  bool archive = true;
  std::string archive_dir;                      // default: <dir>-archive
  // LSNs never go below this (checkpoint LSN + 1), even when every old segment
  // has been archived away.
  std::uint64_t min_next_lsn = 1;
  // Prepare the next zero-filled segment on a background thread.
  bool prepare_segments_in_background = true;
  // The store this log belongs to and its epoch (PersistentStore::identity),
  // written into every segment header. Segments of another store are
  // refused; 0 (a log used on its own, as in tests) checks nothing.
  std::uint64_t store_id = 0;
  std::uint64_t epoch = 0;
  // Told of records once they are durable, in LSN order, by one thread at a
  // time (the one that synced them), before their writers are acknowledged:
  // what a primary streams to its replicas (storage/replication_log.h).
  // Buffered records are told of when a later sync covers them; records of a
  // failed batch never. The views live for the call only; it must not block.
  std::function<void(const std::vector<WalRecord>& durable)> on_durable;
};

// A segment file's header, for tools that handle segments as files: the
// archive (what may be pruned) and restore (what to replay).
struct WalSegmentInfo {
  std::uint64_t sequence = 0;
  std::uint64_t first_lsn = 0;
  std::uint64_t store_id = 0;  // 0: a format without it
  std::uint64_t epoch = 0;
};
// kCorruption for a file that is not a sound segment header; I/O errors.
Result<WalSegmentInfo> ReadWalSegmentHeader(FileSystem* fs, const std::string& path);
// "wal-000000000042.log" for 42, and back (false for any other name).
std::string WalSegmentName(std::uint64_t sequence);
bool ParseWalSegmentName(std::string_view name, std::uint64_t* sequence);
// The name ReleaseThrough gives a segment in the archive:
// "e000003-wal-000000000042.log" (the plain name for epoch 0). A restore
// starts a new epoch whose segments count from 1 again: the epoch keeps the
// two histories' names apart.
std::string ArchivedWalSegmentName(std::uint64_t epoch, std::uint64_t sequence);

// Reads a log's records from its segment files while a Wal may be appending
// to them: the live segments in `dir` and those ReleaseThrough archived under
// this epoch's names in `archive_dir`. For a primary whose replica needs
// records no longer in memory (storage/replication_log.h). Reads only what
// a Wal has made durable (`through` must not pass its durable_lsn): bytes
// after that may be a batch being written. Not thread-safe (one per reader).
class WalFileReader {
 public:
  WalFileReader(FileSystem* fs, std::string dir, std::string archive_dir, std::uint64_t epoch)
      : fs_(fs), dir_(std::move(dir)), archive_dir_(std::move(archive_dir)), epoch_(epoch) {}
  // Hands `fn` the records from LSN `from` on, through `through` at most,
  // stopping once max_bytes of payload were handed over (at least one
  // record); returns the LSN after the last one handed over. kNotFound when
  // no segment holds `from` any more (released and pruned), naming the
  // oldest LSN the files hold; kCorruption for a record that fails its
  // checks before `through`; I/O errors.
  Result<std::uint64_t> Read(std::uint64_t from, std::uint64_t through, std::uint64_t max_bytes,
                             const std::function<Status(const WalRecord&)>& fn);

 private:
  FileSystem* fs_;
  std::string dir_, archive_dir_;
  std::uint64_t epoch_;
  // Segment headers read so far, by path (a named segment's header never
  // changes): a reader far behind does not re-read the archive's headers
  // for every batch.
  struct SegmentFacts {
    std::uint64_t first_lsn = 0;
    std::uint32_t record_seed = 0;
  };
  std::map<std::string, SegmentFacts> headers_;
};

// What Open found.
struct WalRecoveryReport {
  std::uint64_t segments = 0;
  std::uint64_t records = 0;         // intact records in the log
  std::uint64_t replayed = 0;        // records handed to the replay callback
  std::uint64_t bytes_scanned = 0;
  std::uint64_t first_lsn = 0;       // 0 when the log is empty
  std::uint64_t last_lsn = 0;
  bool torn_tail = false;            // a partial record was cut off the end
  std::string torn_tail_detail;      // where, for the log
  // Segments holding bytes of failed writes that a later segment abandoned
  // (see Failures); those bytes were not read.
  std::uint64_t abandoned_segments = 0;
  std::string abandoned_detail;      // which, for the log
};

struct WalStats {
  std::uint64_t records = 0;         // appended since open
  std::uint64_t bytes = 0;           // framed bytes appended since open
  std::uint64_t syncs = 0;           // fdatasync calls for records
  std::uint64_t max_batch = 0;       // most records acknowledged by one sync
  std::uint64_t segments = 0;        // live segment files
  std::uint64_t live_bytes = 0;      // bytes of records in live segments
  std::uint64_t next_lsn = 0;
  std::uint64_t durable_lsn = 0;
  std::uint64_t failed_batches = 0;
  std::uint64_t abandoned_segments = 0;  // segments left after a failure since open
  bool closed = false;               // failed writes could not be abandoned yet
  std::uint64_t buffered_records = 0;       // appended, not durable yet (kBuffered)
  std::uint64_t buffered_bytes = 0;         // framed bytes waiting for a leader
  std::uint64_t lost_buffered_records = 0;  // buffered records a failed write took with it
};

// What AppendBatch waits for.
enum class WalWait : std::uint8_t {
  // Returns once the records are durable (the durability contract above).
  kDurable,
  // Returns once the records are in the log's buffer, with their LSNs; they
  // become durable with the next sync, which the caller asks for (Sync) or a
  // later kDurable append performs (records are written in LSN order, so a
  // durable append makes every record before it durable too). Until then a
  // crash of the process loses them, and a failed write or sync that covers
  // them loses them as well (counted in WalStats::lost_buffered_records;
  // their LSNs are handed out again). Closing the log (the destructor) syncs
  // them. For data whose loss within a bounded window is acceptable.
  kBuffered,
};

// One record to append.
struct WalEntry {
  std::uint8_t type = 1;  // must not be 0
  std::string_view payload;
};

class Wal {
 public:
  using ReplayFn = std::function<Status(const WalRecord&)>;

  // Opens or creates the log in options.dir and recovers it. Every intact
  // record with lsn > replay_after is handed to `replay` in LSN order before
  // Open returns (replay may be null). An error from replay aborts Open.
  static Result<std::unique_ptr<Wal>> Open(const WalOptions& options, std::uint64_t replay_after,
                                           const ReplayFn& replay, WalRecoveryReport* report = nullptr);
  ~Wal();

  // Appends the records and returns the LSN of the first; they get
  // consecutive LSNs. Blocks until all are durable (kDurable) or only until
  // they are buffered (kBuffered, see there). Payloads larger than a segment
  // can hold (max_payload) refuse the whole batch with kTooLarge, naming the
  // size and the limit, before anything is queued; other batches are not
  // affected. Errors: see "Durability contract" above.
  Result<std::uint64_t> AppendBatch(const std::vector<WalEntry>& entries, WalWait wait = WalWait::kDurable);
  Result<std::uint64_t> Append(std::uint8_t type, std::string_view payload) {
    return AppendBatch({WalEntry{type, payload}});
  }

  // Makes every record appended so far durable (buffered ones included), as
  // a kDurable append of nothing would; ok at once when there is nothing to
  // sync. Errors as AppendBatch's.
  Status Sync();

  // Archives (or deletes) every segment whose records all have
  // lsn <= checkpoint_lsn, except the segment being written, oldest first. A
  // segment holding abandoned records goes only together with the segment
  // that abandoned them, so the archive reads as the log did.
  Status ReleaseThrough(std::uint64_t checkpoint_lsn);

  // A log that holds no records yet (a new replica's) takes the store id
  // and epoch of the store it copies: every live segment's header is
  // rewritten and synced, and later ones carry them. kInvalidArgument once
  // any record was appended.
  Status AdoptStore(std::uint64_t store_id, std::uint64_t epoch);

  std::uint64_t durable_lsn() const;
  WalStats stats() const;
  // The epoch this run names its segments and archived segments with
  // (WalOptions::epoch, or AdoptStore's).
  std::uint64_t epoch() const;
  const std::string& dir() const { return options_.dir; }

  // Largest payload one record may carry for this segment size.
  std::uint64_t max_payload() const;

  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

 private:
  explicit Wal(const WalOptions& options);
  struct Segment;
  struct PendingRecord {
    std::uint64_t lsn;
    std::size_t offset;  // in pending_
    std::size_t size;
    std::uint64_t writer_first_lsn;  // first LSN of the AppendBatch call it came in
    bool buffered;                   // appended with kBuffered: nobody waits for it
  };
  // Waits (as a writer, perhaps the leader) until every record up to `last`
  // is durable, or the batch holding it failed after generation
  // `my_generation`. Called with mu_ held through `lock`.
  Status AwaitDurableLocked(std::unique_lock<std::mutex>& lock, std::uint64_t last, std::uint64_t my_generation);

  Status Recover(std::uint64_t replay_after, const ReplayFn& replay, WalRecoveryReport* report);
  // Writes a batch taken by the leader into segments and syncs. Binds each
  // record to the segment it goes to (its header CRC); sets written_to[k] to
  // the sequence of the segment record k was (perhaps partly) written to.
  Status WriteBatch(std::string& bytes, const std::vector<PendingRecord>& records,
                    std::vector<std::uint64_t>* written_to);
  // Starts segment next_seq_ whose first record is first_lsn; it becomes the
  // active one.
  Status RollSegment(std::uint64_t first_lsn);
  // Starts a segment at abandon_.from_lsn, abandoning what abandon_.holders
  // hold from there on (see Failures in the header comment).
  Status Abandon();
  Status ReleaseThrough(std::uint64_t checkpoint_lsn, bool include_active);
  Result<std::string> PrepareSegmentFile(std::uint64_t seq);
  void StartPreparingSpare();
  std::string SegmentPath(std::uint64_t seq) const;

  // Held for the life of the Wal (see Ownership); declared first, so it is
  // released last.
  std::unique_ptr<FileLock> lock_;
  WalOptions options_;
  mutable std::mutex mu_;
  // Writers waiting for their records, in LSN order. Each has its own
  // condition variable so that a finished sync wakes exactly the writers it
  // acknowledged plus the next leader, not every waiting thread.
  struct Waiter {
    std::uint64_t last_lsn;
    std::thread::id thread;
    std::condition_variable cv;
  };
  std::vector<Waiter*> waiters_;
  void WakeWaitersLocked(bool everyone);
  // The leader about to take a batch waits for the writers of the previous
  // batch to come back (see the group commit in the header comment).
  void GatherLocked(std::unique_lock<std::mutex>& lock, Waiter& leader);
  // Protected by mu_: the threads that waited for the last batch taken, how
  // many of them have waited again since, the leader's condition variable
  // while it gathers, and how long the last batch's write and sync took.
  std::vector<std::thread::id> last_batch_writers_;
  std::size_t returned_writers_ = 0;
  std::condition_variable* gathering_ = nullptr;
  std::chrono::nanoseconds last_sync_time_{0};

  // Protected by mu_.
  std::uint64_t next_lsn_ = 1;
  std::uint64_t durable_lsn_ = 0;
  bool sync_in_progress_ = false;
  std::string pending_;                     // encoded records not yet taken by a leader
  std::vector<PendingRecord> pending_records_;
  std::uint64_t failed_generation_ = 0;     // bumped when a batch fails
  struct Failure {
    std::uint64_t durable_lsn;  // what was durable when the batch failed
    Status status;
  };
  std::vector<Failure> failures_;           // indexed by generation
  WalStats stats_;
  struct LiveSegment {
    std::uint64_t seq;
    std::uint64_t first_lsn;
    std::uint64_t bytes;         // bytes of acknowledged records in it
    std::uint64_t abandoned_by;  // the segment that abandoned records it holds, or 0
  };
  std::vector<LiveSegment> live_segments_;
  // Adds acknowledged record bytes to the live segment seq.
  void CountLiveBytesLocked(std::uint64_t seq, std::uint64_t bytes);

  // Owned by the leader (the one thread with sync_in_progress_), or by Open.
  std::unique_ptr<Segment> active_;
  std::uint64_t next_seq_ = 1;                   // sequence number of the next segment
  std::uint64_t last_synced_lsn_ = 0;            // progress of the current batch
  struct PendingAbandon {
    std::uint64_t from_lsn = 0;        // 0: nothing to abandon
    std::vector<std::uint64_t> holders;  // segments with bytes of records >= from_lsn
  };
  PendingAbandon abandon_;
  std::uint64_t salt_state_;                     // makes each segment's salt

  // The spare segment being prepared in the background.
  std::mutex spare_mu_;
  std::thread spare_thread_;
  std::uint64_t spare_seq_ = 0;
  Result<std::string> spare_path_{Status::NotFound("no spare")};
};

}  // namespace postdevai::storage
