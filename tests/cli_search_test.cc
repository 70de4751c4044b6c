// `ingest` indexes what it stores and `search TEXT` finds it, through a real
// node; the CLI's embeddings refused by a node of another dimension.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai::testing;

namespace {

std::vector<std::string> At(const NodeProcess& node, std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "--node", "127.0.0.1:" + std::to_string(node.port())});
  return args;
}

}  // namespace

TEST_CASE("ingest indexes a source tree and search finds files by what they are about", "[cli][search]") {
  NodeProcess node;
  TempDir tree("tree");
  std::filesystem::create_directories(tree / "net");
  std::filesystem::create_directories(tree / "db");
  WriteFile(tree / "net/socket.cc", "int openSocketConnection(int port);\nvoid closeSocketConnection(int fd);\n");
  WriteFile(tree / "db/btree.cc", "void splitBtreeNode(Node* n);\nvoid mergeBtreeNodes(Node* a, Node* b);\n");
  WriteFile(tree / "db/journal.py", "def replay_write_ahead_log(path):\n    return read_records(path)\n");

  CliResult ingest = RunCli(At(node, {"ingest", tree.path()}));
  INFO(ingest.out << ingest.err);
  REQUIRE(ingest.exit_code == 0);
  CHECK(ingest.Json()["indexed"].boolean);

  // The vector index's RAM is reported with the vectors partition.
  CliResult breakdown = RunCli(At(node, {"memory", "breakdown"}));
  REQUIRE(breakdown.exit_code == 0);
  bool found = false;
  const JsonValue breakdown_json = breakdown.Json();
  for (const auto& p : breakdown_json["partitions"].array) {
    if (p["kind"].string != "vectors") continue;
    found = true;
    CHECK(p["index_vectors"].u64() >= 3);  // a chunk or more per file
    CHECK(p["index_bytes"].u64() > p["index_vectors"].u64() * 384);  // an int8 copy each at least
    CHECK(p["index_bytes_per_vector"].number > 384);
  }
  CHECK(found);

  CliResult search = RunCli(At(node, {"search", "split", "btree", "node", "--limit", "2"}));
  INFO(search.out << search.err);
  REQUIRE(search.exit_code == 0);
  auto results = search.Json()["results"].array;
  REQUIRE(results.size() == 2);
  CHECK(results[0]["path"].string == (tree / "db/btree.cc"));
  CHECK(results[0]["score"].number > results[1]["score"].number);

  // Identifier splitting: snake_case query, camelCase code.
  CliResult socket = RunCli(At(node, {"search", "open_socket_connection", "--limit", "1"}));
  REQUIRE(socket.exit_code == 0);
  CHECK(socket.Json()["results"].array.at(0)["path"].string == (tree / "net/socket.cc"));

  // Filters and exact mode.
  CliResult python = RunCli(At(node, {"search", "replay log", "--language", "python", "--exact"}));
  REQUIRE(python.exit_code == 0);
  auto py = python.Json()["results"].array;
  REQUIRE(py.size() == 1);
  CHECK(py[0]["path"].string == (tree / "db/journal.py"));
  CliResult net = RunCli(At(node, {"search", "btree", "--path-prefix", tree / "net"}));
  REQUIRE(net.exit_code == 0);
  const JsonValue net_json = net.Json();
  for (const auto& r : net_json["results"].array) CHECK(r["path"].string.rfind(tree / "net", 0) == 0);

  // `code put` of new content replaces the file's vectors too: a word only
  // the old content had no longer finds that file.
  WriteFile(tree / "new_btree.cc", "int unrelatedHelper(int x);\n");
  CliResult put = RunCli(At(node, {"code", "put", tree / "db/btree.cc", "--file", tree / "new_btree.cc"}));
  INFO(put.out << put.err);
  REQUIRE(put.exit_code == 0);
  CliResult after = RunCli(At(node, {"search", "split", "btree", "node", "--exact"}));
  REQUIRE(after.exit_code == 0);
  const JsonValue after_json = after.Json();
  CHECK(!after_json["results"].array.empty());
  for (const auto& r : after_json["results"].array) CHECK(r["path"].string != (tree / "db/btree.cc"));
  CliResult got = RunCli({"--node", "127.0.0.1:" + std::to_string(node.port()), "code", "get", "--path", tree / "db/btree.cc"});
  CHECK(got.out == "int unrelatedHelper(int x);\n");

  // Bad arguments name the problem; a --dimension that is not the node's is
  // refused naming both.
  CliResult bad = RunCli({"--node", "127.0.0.1:" + std::to_string(node.port()), "search", "x", "--limit", "0"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--limit") != std::string::npos);
  CliResult mismatch = RunCli(At(node, {"search", "x", "--dimension", "64"}));
  CHECK(mismatch.exit_code != 0);
  CHECK(mismatch.ErrIsOneLine());
  INFO(mismatch.err);
  CHECK(mismatch.err.find("--dimension 64 is not the node's") != std::string::npos);
  CHECK(mismatch.err.find("has dimension 384") != std::string::npos);
}
