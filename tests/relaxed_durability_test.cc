// Relaxed durability: writes to a relaxed kind are acknowledged before their
// WAL record is synced and synced within [wal] relaxed_sync_ms. After kill -9
// at most that window of them is missing (what survives is a prefix of the
// log: nothing after a missing write), none of a durable kind is; after a
// clean stop nothing is missing; `memory stats` shows what is at risk.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "postdevai/hybrid_memory.h"
#include "tests/helpers/child_process.h"
#include "tests/helpers/engine_relaxed_writer.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

using Clock = std::chrono::steady_clock;

// Whether op i is in the memory, failing the test on a read error.
bool Present(HybridMemory& memory, std::uint64_t i) {
  if (RelaxedOpIsDurable(i)) {
    auto context = memory.GetContext(RelaxedOpKey(i));
    if (!context.ok() || context->empty()) {
      INFO("op " << i << ": " << context.status().ToString());
      REQUIRE((context.ok() || context.status().IsNotFound()));
      return false;
    }
    CHECK(context->back() == RelaxedOpValue(i));
    return true;
  }
  auto value = memory.GetMetadata(RelaxedOpKey(i));
  if (!value.ok()) {
    INFO("op " << i << ": " << value.status().ToString());
    REQUIRE(value.status().IsNotFound());
    return false;
  }
  CHECK(*value == RelaxedOpValue(i));
  return true;
}

}  // namespace

TEST_CASE("after kill -9 at most the relaxed window is missing, and no durable write", "[relaxed]") {
  TempDir disk("relaxed-kill");
  TempDir ram("relaxed-kill", "/dev/shm");
  const std::string persistent = disk.path(), ramlake = ram / "ramlake";
  const Child child =
      SpawnWithPipe({std::string(POSTDEVAI_BIN_DIR) + "/engine_relaxed_writer", persistent, ramlake});
  const pid_t pid = child.pid;

  // Read acknowledgements (and when they arrived) for a while, then kill.
  std::vector<Clock::time_point> acked_at;  // by op
  std::string pending;
  auto read_for = [&](std::chrono::milliseconds how_long) {
    const auto deadline = Clock::now() + how_long;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return;
      pollfd p{child.out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      const ssize_t n = ::read(child.out, buf, sizeof buf);
      if (n <= 0) return;
      pending.append(buf, static_cast<std::size_t>(n));
      const auto now = Clock::now();
      for (; pending.size() >= 8; pending.erase(0, 8)) acked_at.push_back(now);
    }
  };
  read_for(std::chrono::milliseconds(2500));
  REQUIRE(::kill(pid, SIGKILL) == 0);  // pid > 0: checked above
  const auto killed_at = Clock::now();
  int wstatus = 0;
  REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
  ::close(child.out);
  REQUIRE(WIFSIGNALED(wstatus));  // it was running, not failing
  REQUIRE(acked_at.size() > 100);

  auto opened = HybridMemory::Open(RelaxedWriterConfig(persistent, ramlake));
  REQUIRE(opened.ok());
  auto& memory = **opened;
  // What survives is a prefix of the ops (the WAL is one log in LSN order).
  std::uint64_t present = 0;
  while (present < acked_at.size() + 64 && Present(memory, present)) ++present;
  for (std::uint64_t i = present; i < present + 64; ++i) CHECK_FALSE(Present(memory, i));
  std::uint64_t last_durable = 0;
  for (std::uint64_t i = 0; i < acked_at.size(); ++i) {
    if (RelaxedOpIsDurable(i)) last_durable = i;
  }
  INFO(acked_at.size() << " ops acknowledged, " << present << " present after the restart");
  CHECK(present > last_durable);  // every durable write, and every write before it
  // Nothing acknowledged well before the kill is missing: the window plus
  // generous slack for a loaded machine (one sync, scheduling).
  const auto safe_before = killed_at - std::chrono::milliseconds(kRelaxedSyncMs) - std::chrono::milliseconds(1000);
  for (std::uint64_t i = present; i < acked_at.size(); ++i) CHECK(acked_at[i] > safe_before);
}

TEST_CASE("relaxed writes survive a clean stop, and stats show what is at risk until a sync", "[relaxed]") {
  TempDir disk("relaxed-stop");
  TempDir ram("relaxed-stop", "/dev/shm");
  auto config = RelaxedWriterConfig(disk.path(), ram / "ramlake");
  config.wal.relaxed_sync_ms = 10000;  // long: nothing syncs them behind the test's back
  {
    auto opened = HybridMemory::Open(config);
    REQUIRE(opened.ok());
    auto& memory = **opened;
    for (std::uint64_t i = 1; i < 200; ++i) {
      if (!RelaxedOpIsDurable(i)) REQUIRE(memory.PutMetadata(RelaxedOpKey(i), RelaxedOpValue(i)).ok());
    }
    auto stats = memory.Stats();
    REQUIRE(stats.ok());
    for (const auto& p : stats->partitions) {
      INFO(p.kind);
      if (p.kind == "metadata") {
        CHECK(p.durability == "relaxed");
        CHECK(p.unsynced_bytes > 150 * 12);  // as logged (compressed)
      } else {
        CHECK(p.unsynced_bytes == 0);
        CHECK(p.durability == (p.kind == "code" ? "relaxed" : "durable"));
      }
    }
    // A durable write syncs everything before it: nothing is at risk.
    REQUIRE(memory.StoreContext(RelaxedOpKey(0), {RelaxedOpValue(0)}).ok());
    stats = memory.Stats();
    REQUIRE(stats.ok());
    for (const auto& p : stats->partitions) CHECK(p.unsynced_bytes == 0);
    // So does a checkpoint (memory sync): relaxed writes are durable after it.
    for (std::uint64_t i = 201; i < 210; ++i) {
      if (!RelaxedOpIsDurable(i)) REQUIRE(memory.PutMetadata(RelaxedOpKey(i), RelaxedOpValue(i)).ok());
    }
    REQUIRE(memory.Sync().ok());
    stats = memory.Stats();
    REQUIRE(stats.ok());
    for (const auto& p : stats->partitions) CHECK(p.unsynced_bytes == 0);
    for (std::uint64_t i = 210; i < 400; ++i) {
      if (!RelaxedOpIsDurable(i)) REQUIRE(memory.PutMetadata(RelaxedOpKey(i), RelaxedOpValue(i)).ok());
    }
  }  // a clean stop, with relaxed writes still in the WAL's buffer
  auto opened = HybridMemory::Open(config);
  REQUIRE(opened.ok());
  for (std::uint64_t i = 1; i < 400; ++i) {
    if (i != 200 && !RelaxedOpIsDurable(i)) CHECK(Present(**opened, i));
  }
  CHECK(Present(**opened, 0));
}
