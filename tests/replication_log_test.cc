// The primary's in-memory window of durable WAL records for its replicas
// (storage/replication_log.h).
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "storage/cold_tier.h"
#include "storage/replication_log.h"

using namespace postdevai::storage;
using Outcome = ReplicationLog::ReadOutcome;

namespace {

std::vector<WalRecord> Records(std::uint64_t first, std::uint64_t last, const std::string& payload) {
  std::vector<WalRecord> out;
  for (std::uint64_t lsn = first; lsn <= last; ++lsn) out.push_back(WalRecord{lsn, kWalRecordMutations, payload});
  return out;
}

}  // namespace

TEST_CASE("the replication log keeps the newest records within its capacity", "[replication]") {
  ReplicationLog log(1000);
  log.StartAfter(10);  // LSNs up to 10 are only in the files
  std::vector<ReplicatedRecord> out;
  CHECK(log.Read(5, 1 << 20, std::chrono::milliseconds(0), &out) == Outcome::kNotInMemory);
  const std::string payload(100, 'p');
  log.OnDurable(Records(11, 30, payload));  // 2,000 bytes: the oldest ten leave
  CHECK(log.durable_lsn() == 30);
  CHECK(log.bytes() == 1000);
  CHECK(log.Read(15, 1 << 20, std::chrono::milliseconds(0), &out) == Outcome::kNotInMemory);
  REQUIRE(log.Read(21, 1 << 20, std::chrono::milliseconds(0), &out) == Outcome::kRecords);
  REQUIRE(out.size() == 10);
  CHECK(out.front().lsn == 21);
  CHECK(out.back().lsn == 30);
  // At most max_bytes, but at least one record.
  out.clear();
  REQUIRE(log.Read(21, 250, std::chrono::milliseconds(0), &out) == Outcome::kRecords);
  CHECK(out.size() == 2);
  out.clear();
  REQUIRE(log.Read(21, 1, std::chrono::milliseconds(0), &out) == Outcome::kRecords);
  CHECK(out.size() == 1);
  CHECK(log.BytesAfter(25) == 500);
  CHECK(log.BytesAfter(30) == 0);
  CHECK(log.BytesAfter(3) == 1000);
  // A record larger than the whole log: only the files have it.
  log.OnDurable(Records(31, 31, std::string(2000, 'x')));
  out.clear();
  CHECK(log.Read(31, 1 << 20, std::chrono::milliseconds(0), &out) == Outcome::kNotInMemory);
  log.OnDurable(Records(32, 32, payload));
  CHECK(log.Read(32, 1 << 20, std::chrono::milliseconds(0), &out) == Outcome::kRecords);
}

TEST_CASE("a reader past the durable LSN waits for the next record, or times out, or is woken by Close",
          "[replication]") {
  ReplicationLog log(1 << 20);
  log.StartAfter(0);
  std::vector<ReplicatedRecord> out;
  CHECK(log.Read(1, 1 << 20, std::chrono::milliseconds(20), &out) == Outcome::kNothingNew);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string stamped;
    StampLoggedTime(&stamped, 1234567);
    log.OnDurable({WalRecord{1, kWalRecordMutations, stamped}});
  });
  CHECK(log.Read(1, 1 << 20, std::chrono::seconds(10), &out) == Outcome::kRecords);
  writer.join();
  REQUIRE(out.size() == 1);
  CHECK(log.durable_micros() == 1234567);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log.Close();
  });
  CHECK(log.Read(2, 1 << 20, std::chrono::seconds(10), &out) == Outcome::kClosed);
  closer.join();
}
