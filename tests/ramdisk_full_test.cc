// The RAM-Lake is a cache: a RAM disk with too little room for it must not
// keep the engine from starting. With some room, the RAM-Lake shrinks to it;
// with none, the engine runs through a minimal pass-through on the data disk.
// Either way every write is kept and read back, and a warning says why.
//
// Each case mounts its own small tmpfs (root only; elsewhere the test says it
// was skipped) and fills it with a file, as other users of /dev/shm would.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/small_disk.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::SmallDisk;
using postdevai::testing::TempDir;

namespace {

constexpr std::uint64_t kMiB = 1u << 20;

HybridMemoryConfig Config(const TempDir& disk, const std::string& ram_dir, std::uint64_t ramlake_bytes) {
  HybridMemoryConfig c = testing::SmallEngineConfig(disk.path(), ram_dir + "/ramlake");
  c.ramlake_size_gb = double(ramlake_bytes) / double(1u << 30);
  return c;
}

std::uint64_t Budget(HybridMemory& memory) {
  std::uint64_t total = 0;
  const MemoryStats stats = memory.Stats().value();  // a named copy: the loop must not outlive it
  for (const auto& p : stats.partitions) total += p.budget_bytes;
  return total;
}

void StoreAndReadBack(HybridMemory& memory, int files) {
  for (int i = 0; i < files; ++i) {
    const std::string path = "src/" + std::to_string(i) + ".cc";
    REQUIRE(memory.StoreCode(path, std::string(2000, char('a' + i % 26)), "cpp").ok());
  }
  for (int i = 0; i < files; ++i) {
    auto code = memory.GetCodeByPath("src/" + std::to_string(i) + ".cc");
    REQUIRE(code.ok());
    CHECK(code->content == std::string(2000, char('a' + i % 26)));
  }
}

}  // namespace

TEST_CASE("a RAM disk with little room gets a smaller RAM-Lake, one with none a pass-through", "[ramlake]") {
  SmallDisk ram(SmallDisk::Kind::kRamDisk, 24 * kMiB, "ramdisk-full");
  if (!ram.mounted()) {
    WARN("skipped: cannot mount a tmpfs here (" << ram.error() << "); needs root");
    return;
  }
  TempDir disk("ramdisk-full");
  TempDir log_dir("ramdisk-full");
  const std::string log = log_dir / "log";
  REQUIRE(ConfigureLogging(LoggingConfig{log, LogLevel::kInfo}).ok());

  SECTION("some room: the RAM-Lake shrinks to it, and a restart with room restores its size") {
    ram.FillLeaving(8 * kMiB);
    auto memory = HybridMemory::Open(Config(disk, ram.path(), 20 * kMiB));
    INFO(memory.status().ToString());
    REQUIRE(memory.ok());
    const std::uint64_t shrunk = Budget(**memory);
    CHECK(shrunk < 8 * kMiB);
    CHECK(shrunk >= 4 * kMiB);
    StoreAndReadBack(**memory, 200);
    CHECK(testing::ReadFile(log).find("has room for") != std::string::npos);
    memory->reset();

    ram.RemoveFiller();
    memory = HybridMemory::Open(Config(disk, ram.path(), 20 * kMiB));
    REQUIRE(memory.ok());
    CHECK(Budget(**memory) > 17 * kMiB);  // 20 MiB less the files' headers and indexes
    StoreAndReadBack(**memory, 200);
  }
  SECTION("no room: a pass-through on the data disk, and nothing written is lost") {
    ram.FillLeaving(0);
    REQUIRE(ram.Free() < kMiB);
    auto memory = HybridMemory::Open(Config(disk, ram.path(), 20 * kMiB));
    INFO(memory.status().ToString());
    REQUIRE(memory.ok());
    CHECK(Budget(**memory) <= kMiB);
    StoreAndReadBack(**memory, 300);  // ~600 KB: more than the pass-through holds
    REQUIRE((*memory)->StoreContext("s", {"kept"}).ok());
    CHECK(testing::ReadFile(log).find("running without a RAM-Lake") != std::string::npos);
    memory->reset();
    memory = HybridMemory::Open(Config(disk, ram.path(), 20 * kMiB));
    REQUIRE(memory.ok());
    CHECK((*memory)->GetContext("s").value() == std::vector<std::string>{"kept"});
    StoreAndReadBack(**memory, 10);
  }
  REQUIRE(ConfigureLogging(LoggingConfig{}).ok());
}
