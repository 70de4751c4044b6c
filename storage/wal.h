// The write-ahead log: append-only segments of checksummed records with
// log sequence numbers (LSNs), group commit, and crash recovery.
//
// Durability contract. Append/AppendBatch return only after every byte of the
// records is durable (fdatasync). Writers that arrive while a sync is in flight
// queue up and share the next sync (group commit): with N concurrent writers one
// fdatasync acknowledges up to N writes. A failed write or sync is never
// retried-and-acknowledged: the callers of that batch get the error, the WAL
// erases the failed bytes (zeros + sync) before it accepts new writes, and the
// LSNs of the failed batch are handed out again.
//
// Segments are files `wal-<12-digit sequence>.log` of `segment_size` bytes,
// zero-filled and synced before use (so fdatasync of a record never has to
// update file metadata, about twice as fast here) and brought into the log by a
// rename followed by a directory sync. A 4 KiB segment header names the
// segment's sequence number and the LSN of its first record.
//
// Record framing (little endian, 8-byte aligned):
//   u32 header_crc   CRC32C of bytes [4, 32)
//   u32 payload_crc  CRC32C of the payload
//   u32 length       payload bytes
//   u8  type         caller-defined, never 0
//   u8  pad[3]
//   u64 lsn          consecutive: each record is its predecessor + 1
//   u64 durable_lsn  the highest LSN already durable when this record was made
//   payload, zero padding to a multiple of 8
//
// Recovery reads up to the last intact record. A record that fails its checks
// is the end of the log (a torn tail: those writes were never acknowledged)
// unless a later intact record says, through its durable_lsn, that the bad
// record had already been made durable: then the log is corrupt and Open fails
// with kCorruption naming the segment and offset — acknowledged data is never
// silently dropped. A torn tail is zeroed so that appends continue cleanly.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
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
  // Segments wholly before a checkpoint go to archive_dir when archive is true
  // (kept for the operator, e.g. point-in-time recovery from a backup; the Wal
  // itself never reads them again), else deleted.
  bool archive = true;
  std::string archive_dir;                      // default: <dir>-archive
  // LSNs never go below this (checkpoint LSN + 1), even when every old segment
  // has been archived away.
  std::uint64_t min_next_lsn = 1;
  // Prepare the next zero-filled segment on a background thread.
  bool prepare_segments_in_background = true;
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
  // consecutive LSNs. Blocks until all are durable. Payloads larger than a
  // segment can hold are refused with kTooLarge.
  Result<std::uint64_t> AppendBatch(const std::vector<WalEntry>& entries);
  Result<std::uint64_t> Append(std::uint8_t type, std::string_view payload) {
    return AppendBatch({WalEntry{type, payload}});
  }

  // Archives (or deletes) every segment whose records all have
  // lsn <= checkpoint_lsn, except the segment being written.
  Status ReleaseThrough(std::uint64_t checkpoint_lsn);

  std::uint64_t durable_lsn() const;
  WalStats stats() const;
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
  };

  Status Recover(std::uint64_t replay_after, const ReplayFn& replay, WalRecoveryReport* report);
  // Writes pending records (a batch taken by the leader) into segments and syncs.
  Status WriteBatch(const std::string& bytes, const std::vector<PendingRecord>& records);
  Status RollSegment(std::uint64_t first_lsn);
  Status EraseFailedTail();
  Status ReleaseThrough(std::uint64_t checkpoint_lsn, bool include_active);
  Result<std::string> PrepareSegmentFile(std::uint64_t seq);
  void StartPreparingSpare();
  std::string SegmentPath(std::uint64_t seq) const;

  WalOptions options_;
  mutable std::mutex mu_;
  // Writers waiting for their records, in LSN order. Each has its own
  // condition variable so that a finished sync wakes exactly the writers it
  // acknowledged plus the next leader, not every waiting thread.
  struct Waiter {
    std::uint64_t last_lsn;
    std::condition_variable cv;
  };
  std::vector<Waiter*> waiters_;
  void WakeWaitersLocked(bool everyone);

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
  bool needs_erase_ = false;                // a failed tail must be zeroed first
  WalStats stats_;
  struct LiveSegment {
    std::uint64_t seq;
    std::uint64_t first_lsn;
    std::uint64_t bytes;  // record bytes in it; set when the segment is finished
  };
  std::vector<LiveSegment> live_segments_;
  std::uint64_t next_seq_ = 1;              // sequence number of the next segment

  // Owned by the leader (the one thread with sync_in_progress_), or by Open.
  std::unique_ptr<Segment> active_;
  std::uint64_t erase_from_ = 0, erase_to_ = 0;  // failed bytes in active_
  std::uint64_t last_synced_lsn_ = 0;            // progress of the current batch

  // The spare segment being prepared in the background.
  std::mutex spare_mu_;
  std::thread spare_thread_;
  std::uint64_t spare_seq_ = 0;
  Result<std::string> spare_path_{Status::NotFound("no spare")};
};

}  // namespace postdevai::storage
