// A hostile CAF peer against a real dragon_node over TCP (tests/helpers/
// hostile_peer.cc): exit and kill messages, a linked peer that vanishes,
// every internal verb, messages the node has no handler for or cannot
// decode, and requests past every bound. Each is refused or harmless: the
// node keeps serving, every acknowledged write reads back, and after a
// kill -9 the restarted node replays its WAL and still has them all.
#include <catch2/catch.hpp>

#include <regex>

#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai::testing;

namespace {

// Every acknowledged write so far reads back through the node.
void AllReadBack(const NodeProcess& node, int writes) {
  for (int i = 0; i < writes; ++i) {
    CliResult get = RunCli(CliArgsFor(node, {"meta", "get", "key" + std::to_string(i)}));
    INFO(get.err);
    REQUIRE(get.exit_code == 0);
    CHECK(get.out == "value " + std::to_string(i) + "\n");
  }
}

}  // namespace

TEST_CASE("a hostile peer cannot stop the node, reach its internals or lose acknowledged writes", "[remote][security]") {
  NodeProcess node(NodeProcess::CafEnabled());
  int writes = 0;
  auto write_some = [&](int n) {
    for (int i = 0; i < n; ++i, ++writes) {
      CliResult set = RunCli(CliArgsFor(node, {"meta", "set", "key" + std::to_string(writes), "value " + std::to_string(writes)}));
      REQUIRE(set.exit_code == 0);
    }
  };
  write_some(5);

  for (const std::string attack : {"exit", "link", "internal", "unknown", "bounds"}) {
    SECTION(attack) {
      CliResult peer = RunProgram("hostile_peer", {std::to_string(node.caf_port()), attack});
      INFO("hostile_peer " << attack << "\n" << peer.out << peer.err << "\nnode log:\n" << node.log());
      CHECK(peer.exit_code == 0);  // every check of the peer's own held
      CHECK(peer.out.find("FAIL") == std::string::npos);
      REQUIRE(ProcessAlive(node.pid()));
      // The node serves everyone else: reads back what it acknowledged and
      // acknowledges more.
      AllReadBack(node, writes);
      write_some(3);
      AllReadBack(node, writes);
      CliResult stats = RunCli(CliArgsFor(node, {"--json", "memory", "stats"}));
      REQUIRE(stats.exit_code == 0);
      // Nothing the peer sent reached the log: the durable LSN is exactly
      // the writes made here (a forged apply at 2^64-1 would show).
      CHECK(stats.Json()["sync"]["durable_lsn"].number == static_cast<double>(writes));
      if (attack == "internal" || attack == "unknown") {
        CHECK(node.log().find("refused a message outside the public protocol") != std::string::npos);
      }

      // A crash now: the restarted node replays the WAL (the checkpoint was
      // not moved by the peer) and has every acknowledged write.
      node.Kill();
      node.Start();
      const std::string log = node.log();
      std::smatch replay;
      const std::regex replayed(R"(recovered in [0-9.]+ s: checkpoint LSN ([0-9]+), replayed ([0-9]+) WAL records)");
      std::string::const_iterator from = log.begin();
      std::string last_checkpoint, last_replayed;
      while (std::regex_search(from, log.end(), replay, replayed)) {
        last_checkpoint = replay[1];
        last_replayed = replay[2];
        from = replay.suffix().first;
      }
      INFO(log);
      REQUIRE(!last_checkpoint.empty());
      CHECK(std::stoull(last_checkpoint) + std::stoull(last_replayed) == static_cast<unsigned long long>(writes));
      AllReadBack(node, writes);
    }
  }
}
