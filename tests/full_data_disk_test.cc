// A node whose data disk fills up for real (a small tmpfs of its own, filled
// by acknowledged writes through postdevai-cli): writes fail naming the full
// disk, reads keep working, diagnose names the disk, the node restarts after
// kill -9 on the full disk, resumes writing by itself once there is room, and
// every acknowledged write is there at the end.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"
#include "tests/small_disk.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

// 64 KiB that compress little (so that they fill the disk).
std::string Value(std::size_t i) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937_64 rng(i);
  std::string v = "value " + std::to_string(i) + ":";
  while (v.size() < 64 * 1024) v.push_back(kAlphabet[rng() % 64]);
  return v;
}

std::string Key(std::size_t i) { return "k" + std::to_string(i); }

void CheckAllReadable(const NodeProcess& node, std::size_t acknowledged) {
  for (std::size_t i = 0; i < acknowledged; ++i) {
    CliResult r = RunCli(CliArgsFor(node, {"meta", "get", Key(i)}));
    if (r.exit_code != 0 || r.out != Value(i) + "\n") {
      FAIL("acknowledged write " << Key(i) << " not read back: exit " << r.exit_code << ", stderr " << r.err);
    }
  }
}

}  // namespace

TEST_CASE("a full data disk: writes fail naming it, reads and restarts work, writing resumes with room",
          "[disk-full]") {
  SmallDisk data(SmallDisk::Kind::kExt4, 48u << 20, "full-data-disk");
  if (!data.mounted()) {
    WARN("skipped: cannot mount a tmpfs here (" << data.error() << "); needs root");
    return;
  }
  NodeProcess node("[wal]\nsegment_size_mb = 1\n", "", data.path());
  data.FillLeaving(12u << 20);

  // Fill the rest with acknowledged writes until the disk refuses one.
  std::size_t acknowledged = 0;
  std::string refusal;
  for (std::size_t i = 0; i < 2000; ++i) {
    CliResult r = RunCli(CliArgsFor(node, {"meta", "set", Key(i), Value(i)}));
    if (r.exit_code == 0) {
      acknowledged = i + 1;
      continue;
    }
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);  // the operation failed; the node is reachable
    refusal = r.err;
    break;
  }
  INFO("refusal: " << refusal);
  REQUIRE_FALSE(refusal.empty());
  CHECK(refusal.find("space") != std::string::npos);
  REQUIRE(acknowledged > 20);

  // Reads keep working, from RAM and from the store.
  CheckAllReadable(node, acknowledged);
  CliResult diagnosis = RunCli(CliArgsFor(node, {"diagnose", "memory"}));
  INFO("diagnose: " << diagnosis.out << diagnosis.err);
  CHECK(diagnosis.exit_code != 3);
  CHECK((diagnosis.out + diagnosis.err).find("space") != std::string::npos);

  // Another write of that size still fails, naming the disk. (A small one
  // may still fit in the WAL segment already on disk: that is a real,
  // durable write.)
  CliResult refused = RunCli(CliArgsFor(node, {"meta", "set", Key(acknowledged), Value(acknowledged)}));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("space") != std::string::npos);

  // Room again: writing resumes without a restart.
  data.RemoveFiller();
  bool resumed = false;
  for (int attempt = 0; attempt < 100 && !resumed; ++attempt) {
    resumed = RunCli(CliArgsFor(node, {"meta", "set", "after-room", "y"})).exit_code == 0;
    if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(resumed);
  for (std::size_t i = acknowledged; i < acknowledged + 20; ++i) {
    REQUIRE(RunCli(CliArgsFor(node, {"meta", "set", Key(i), Value(i)})).exit_code == 0);
  }
  acknowledged += 20;

  // kill -9 on a full disk: a start there either serves (reads work,
  // writes fail naming the disk) or stops with an error naming it (LevelDB's
  // recovery must write a table: on a disk with no byte free it does the
  // latter); with room again it starts, and every acknowledged write is there.
  data.FillLeaving(0);
  node.Kill();
  try {
    node.Start();
    CheckAllReadable(node, acknowledged);
    CHECK(RunCli(CliArgsFor(node, {"meta", "set", "full-again", "x"})).err.find("space") != std::string::npos);
    node.Kill();
  } catch (const std::exception& e) {
    const std::string why = e.what();
    INFO(why);
    CHECK(why.find("No space left") != std::string::npos);
  }
  data.RemoveFiller();
  node.Start();
  CheckAllReadable(node, acknowledged);
  CHECK(RunCli(CliArgsFor(node, {"meta", "get", "after-room"})).out == "y\n");
}
