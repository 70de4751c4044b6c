// kill -9 of the whole engine (actor system, journal, store, RAM-Lake on
// /dev/shm) while several threads write mixed kinds and checkpoints run:
// after every kill the engine is restarted on the same files and every
// acknowledged write must be there with its value.
//
// The child is tests/helpers/engine_writer.cc, exec'ed (a forked copy of a
// process with LevelDB or CAF threads would lack the threads). It reports
// each acknowledged op over a pipe; ops are deterministic per (writer, index)
// (tests/helpers/engine_writer.h), so the parent knows what state each key
// must be in. One op per writer may have become durable without its report
// reaching us (killed in between): its state is accepted too, and only that.
//
// POSTDEVAI_KILL_CYCLES and POSTDEVAI_KILL_SEED override the cycle count and
// the seed (printed on failure) to reproduce or stretch a run.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "postdevai/hybrid_memory.h"
#include "storage/backup.h"
#include "tests/helpers/child_process.h"
#include "tests/helpers/engine_writer.h"
#include "tests/test_util.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

using Clock = std::chrono::steady_clock;

long EnvOr(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : fallback;
}

Child SpawnWriter(const std::string& persistent, const std::string& ramlake, std::uint64_t seed,
                  const std::array<std::uint64_t, kEngineWriters>& starts) {
  std::vector<std::string> args = {std::string(POSTDEVAI_BIN_DIR) + "/engine_writer", persistent, ramlake,
                                   std::to_string(seed)};
  for (auto s : starts) args.push_back(std::to_string(s));
  return SpawnWithPipe(std::move(args));
}

// Reads whatever the child reported (8-byte acks) into `pending` until the
// deadline; with no deadline, until EOF.
void ReadAcks(int fd, std::optional<Clock::time_point> deadline, std::string* pending) {
  char buf[4096];
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) return;
      timeout_ms = static_cast<int>(left);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0) return;  // deadline
    if (ready < 0) continue;  // EINTR
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EOF: the child is gone
    pending->append(buf, static_cast<std::size_t>(n));
  }
}

// The state a key is in, read through the facade: nullopt when absent.
std::optional<std::string> ReadState(HybridMemory& memory, char group, const std::string& key) {
  Status status;
  switch (group) {
    case 'c': {
      auto r = memory.GetCodeByPath(key);
      if (r.ok()) return EngineWriterCodeState(r->content, r->language);
      status = r.status();
      break;
    }
    case 'h': {
      auto r = memory.GetContext(key);
      if (r.ok()) return EngineWriterContextState(*r);
      status = r.status();
      break;
    }
    default: {
      auto r = memory.GetMetadata(key);
      if (r.ok()) return *r;
      status = r.status();
    }
  }
  INFO("reading " << key << ": " << status.ToString());
  REQUIRE(status.IsNotFound());
  return std::nullopt;
}

std::string Describe(const std::optional<std::string>& state) {
  if (!state) return "<absent>";
  return "\"" + state->substr(0, 40) + "\"... (" + std::to_string(state->size()) + " bytes)";
}

// What the parent knows: per writer, the last reported op; per key, the last
// reported op that touched it.
struct Model {
  std::array<std::int64_t, kEngineWriters> acked;
  std::map<std::string, std::uint64_t> last_op;  // group + key -> op index (writer is in the key)
  std::uint64_t total = 0;
  Model() { acked.fill(-1); }

  void Ack(int writer, std::uint64_t i) {
    INFO("writer " << writer << " reported op " << i << " after op " << acked[writer]);
    REQUIRE(static_cast<std::int64_t>(i) == acked[writer] + 1);  // in order, no gaps
    acked[writer] = static_cast<std::int64_t>(i);
    const auto op = EngineWriterOpFor(writer, i);
    last_op[std::string(1, op.group) + op.key] = i;
    ++total;
  }

  std::array<std::uint64_t, kEngineWriters> NextOps() const {
    std::array<std::uint64_t, kEngineWriters> next;
    for (int w = 0; w < kEngineWriters; ++w) next[w] = static_cast<std::uint64_t>(acked[w] + 1);
    return next;
  }
};

// Checks every key any writer may have touched; returns how many were read.
int Verify(HybridMemory& memory, const Model& model, const std::string& when) {
  int checked = 0;
  for (int w = 0; w < kEngineWriters; ++w) {
    const auto unreported = EngineWriterOpFor(w, static_cast<std::uint64_t>(model.acked[w] + 1));
    for (char group : {'c', 'h', 'm'}) {
      for (int slot = 0; slot < kEngineWriterSlots; ++slot) {
        const std::string key = EngineWriterKey(w, group, slot);
        std::optional<std::string> expected;
        std::string expected_from = "never written";
        auto it = model.last_op.find(std::string(1, group) + key);
        if (it != model.last_op.end()) {
          expected = EngineWriterStateAfter(EngineWriterOpFor(w, it->second));
          expected_from = "op " + std::to_string(it->second);
        }
        const auto actual = ReadState(memory, group, key);
        ++checked;
        if (actual == expected) continue;
        // The one op of this writer that may be durable but unreported.
        if (unreported.group == group && unreported.key == key && actual == EngineWriterStateAfter(unreported)) continue;
        FAIL(when << ": " << key << " holds " << Describe(actual) << ", expected " << Describe(expected) << " from "
                  << expected_from << " of writer " << w << " (last reported op " << model.acked[w] << ")");
      }
    }
  }
  return checked;
}

}  // namespace

TEST_CASE("kill -9 during concurrent mixed writes and checkpoints loses nothing acknowledged", "[engine][kill]") {
  TempDir disk("engine-kill");
  TempDir ram("engine-kill", "/dev/shm");
  const std::string ramlake = ram.path() + "/ramlake";
  const auto config = EngineWriterConfig(disk.path(), ramlake);
  const long cycles = EnvOr("POSTDEVAI_KILL_CYCLES", 60);
  const auto seed = static_cast<std::uint64_t>(EnvOr("POSTDEVAI_KILL_SEED", 20240611));
  INFO("seed " << seed << " (POSTDEVAI_KILL_SEED)");
  std::mt19937_64 rng(seed);

  Model model;
  int cycles_with_acks = 0, early_kills = 0;
  std::uint64_t keys_checked = 0;
  const auto started = Clock::now();
  for (long cycle = 0; cycle < cycles; ++cycle) {
    INFO("cycle " << cycle);
    // Kill anywhere from inside recovery (the engine takes ~50 ms to open)
    // to well into the stream of writes: counted from the first
    // acknowledgement, so that a slow start (a loaded machine, the sanitizer
    // build) does not turn every kill into one during recovery.
    const bool during_recovery = rng() % 8 == 0;
    const auto run_for = std::chrono::milliseconds(during_recovery ? 1 + rng() % 60 : 60 + rng() % 300);
    Child child = SpawnWriter(disk.path(), ramlake, rng(), model.NextOps());
    std::string pending;
    if (!during_recovery) {
      const auto limit = Clock::now() + std::chrono::seconds(30);
      while (pending.size() < 8 && Clock::now() < limit) {
        ReadAcks(child.out, Clock::now() + std::chrono::milliseconds(5), &pending);
      }
    }
    ReadAcks(child.out, Clock::now() + run_for, &pending);
    ::kill(child.pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
    ReadAcks(child.out, std::nullopt, &pending);  // what it wrote before dying
    ::close(child.out);
    INFO("writer exit status " << status << " (exited " << WIFEXITED(status) << ", code "
                               << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")");
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    REQUIRE(pending.size() % 8 == 0);
    const std::uint64_t before = model.total;
    for (std::size_t off = 0; off < pending.size(); off += 8) {
      std::uint64_t ack;
      std::memcpy(&ack, pending.data() + off, 8);
      const int writer = static_cast<int>(ack >> 56);
      REQUIRE(writer < kEngineWriters);
      model.Ack(writer, ack & ((std::uint64_t{1} << 56) - 1));
    }
    if (model.total > before) ++cycles_with_acks;
    if (model.total == before) ++early_kills;

    // Restart on the same files (WAL replay, RAM-Lake re-attach) and check.
    auto memory = HybridMemory::Open(config);
    INFO("reopening: " << memory.status().ToString());
    REQUIRE(memory.ok());
    keys_checked += Verify(**memory, model, "after the kill");
    if (cycle % 5 == 4) {
      // Both tiers must agree: checkpoint, drop RAM, and read it all from disk.
      REQUIRE((*memory)->Sync().ok());
      REQUIRE((*memory)->EvictColderThan(std::chrono::seconds(0)).ok());
      keys_checked += Verify(**memory, model, "from disk after evicting RAM");
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  // The children's checkpoints released WAL segments while writes went on
  // (archived, then pruned: no backup needs them): the release path was
  // exercised. Segments are numbered from 1; the oldest left tells.
  auto live = storage::ListArchive(storage::FileSystem::Default(), config.WalPath());
  REQUIRE(live.ok());
  REQUIRE_FALSE(live->empty());
  const std::size_t archived = live->front().sequence - 1;
  CHECK(archived > 0);
  std::printf("engine kill -9: %ld cycles in %.1f s, %llu acknowledged ops (%d cycles killed before any), %llu key checks, "
              "%zu WAL segments released\n",
              cycles, seconds, static_cast<unsigned long long>(model.total), early_kills,
              static_cast<unsigned long long>(keys_checked), archived);
  CHECK(cycles_with_acks >= cycles / 2);
  CHECK(model.total >= static_cast<std::uint64_t>(cycles) * 20);
}
