// What a primary keeps in memory for its replicas: the most recent durable
// WAL records, fed by the Wal as it makes them durable (WalOptions::
// on_durable), read by the streams that send them to replicas
// (rpc/replication_service.h). A replica further behind than the records
// held here is served from the WAL's files (WalFileReader).
//
// Memory: at most capacity_bytes of payloads (the oldest records leave
// first), whatever the replicas do: a replica that stops reading holds
// nothing here, only its position.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "storage/wal.h"

namespace postdevai::storage {

// One WAL record as a replica receives it.
struct ReplicatedRecord {
  std::uint64_t lsn = 0;
  std::uint8_t type = 0;
  std::string payload;
};

class ReplicationLog {
 public:
  explicit ReplicationLog(std::uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  // How far the WAL was durable when it opened: records up to it are only
  // in its files. Before the first OnDurable.
  void StartAfter(std::uint64_t durable_lsn);

  // The Wal's on_durable: keeps copies of the records, wakes readers.
  void OnDurable(const std::vector<WalRecord>& records);

  enum class ReadOutcome : std::uint8_t {
    kRecords,      // *out holds records from `from` on
    kNothingNew,   // `from` is past the durable LSN and stayed so for `wait`
    kNotInMemory,  // `from` is older than every record held: read the files
    kClosed,
  };
  // Appends to *out the records from LSN `from` on, at most max_bytes of
  // payload (at least one record). Waits up to `wait` when there is none yet.
  ReadOutcome Read(std::uint64_t from, std::uint64_t max_bytes, std::chrono::milliseconds wait,
                   std::vector<ReplicatedRecord>* out);

  std::uint64_t durable_lsn() const;
  // Wall clock (microseconds since the Unix epoch) of the newest time stamp
  // the durable records carried (storage::LoggedTime); 0: none yet.
  std::uint64_t durable_micros() const;
  // Bytes of payload held.
  std::uint64_t bytes() const;
  // Payload bytes of the records held after `lsn` (all held, when it is
  // older than every one).
  std::uint64_t BytesAfter(std::uint64_t lsn) const;
  // Wakes every reader; reads return kClosed from then on.
  void Close();

 private:
  const std::uint64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable grown_;
  struct Held {
    ReplicatedRecord record;
    std::uint64_t end;  // appended_ after it
  };
  std::deque<Held> records_;  // consecutive LSNs
  std::uint64_t bytes_ = 0;
  std::uint64_t appended_ = 0;  // payload bytes ever taken in
  std::uint64_t durable_lsn_ = 0;
  std::uint64_t durable_micros_ = 0;
  bool closed_ = false;
};

}  // namespace postdevai::storage
