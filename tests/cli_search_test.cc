// `ingest` indexes what it stores and `search TEXT` finds it, through a real
// node; the CLI's embeddings refused by a node of another dimension.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

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
  // So is the text index's, with the code partition.
  bool text_index = false;
  for (const auto& p : breakdown_json["partitions"].array) {
    if (p["kind"].string != "code") continue;
    text_index = true;
    CHECK(p["text_index_units"].u64() == 3);
    CHECK(p["text_index_bytes"].u64() > 0);
  }
  CHECK(text_index);

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
  // (Vector mode: the path db/btree.cc itself still names a b-tree for the
  // lexical side.)
  CliResult after = RunCli(At(node, {"search", "split", "btree", "node", "--exact", "--mode", "vector"}));
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

TEST_CASE("search is hybrid by default with lines and snippets and answers alike after kill -9", "[cli][search]") {
  NodeProcess node;
  TempDir tree("tree");
  std::string checksum;
  for (int i = 1; i <= 200; ++i) {
    checksum += i == 150 ? "uint32_t crc32_update(uint32_t crc, const char* data); // rolling checksum\n"
                         : "int padding_line_" + std::to_string(i) + " = 0;\n";
  }
  WriteFile(tree / "crc.cc", checksum);
  WriteFile(tree / "dns.py", "def resolve_hostname(name):\n    return query_nameserver(name)\n");
  WriteFile(tree / "draw.js", "function drawCircle(ctx, radius) { ctx.arc(0, 0, radius); }\n");
  REQUIRE(RunCli(At(node, {"ingest", tree.path()})).exit_code == 0);

  CliResult search = RunCli(At(node, {"search", "rolling", "checksum", "update"}));
  INFO(search.out << search.err);
  REQUIRE(search.exit_code == 0);
  const JsonValue json = search.Json();
  CHECK(json["mode"].string == "hybrid");
  const auto& results = json["results"].array;
  REQUIRE(!results.empty());
  CHECK(results[0]["path"].string == (tree / "crc.cc"));
  CHECK(results[0]["lexical_score"].number > 0);
  CHECK(results[0]["first_line"].u64() <= 150);
  CHECK(results[0]["last_line"].u64() >= 150);
  bool shown = false;
  for (const auto& line : results[0]["snippet"].array) shown = shown || line["line"].u64() == 150;
  CHECK(shown);
  std::set<std::string> paths;
  for (const auto& r : results) paths.insert(r["path"].string);
  CHECK(paths.size() == results.size());  // one result per file

  // Text output: path:lines, then numbered snippet lines.
  CliResult text = RunCli({"--node", "127.0.0.1:" + std::to_string(node.port()), "search", "rolling checksum"});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("crc.cc:") != std::string::npos);
  CHECK(text.out.find("   150 | uint32_t crc32_update") != std::string::npos);

  // Only stop words or symbols: a clear answer, exit 0.
  CliResult nothing = RunCli({"--node", "127.0.0.1:" + std::to_string(node.port()), "search", "the", "of", "&&"});
  CHECK(nothing.exit_code == 0);
  CHECK(nothing.out.find("nothing to search for") != std::string::npos);
  CliResult both_kinds = RunCli(At(node, {"search", "x", "--code-only", "--sessions-only"}));
  CHECK(both_kinds.exit_code == 2);
  CHECK(both_kinds.err.find("--code-only") != std::string::npos);
  CliResult bad_mode = RunCli(At(node, {"search", "x", "--mode", "fuzzy"}));
  CHECK(bad_mode.exit_code == 2);
  CHECK(bad_mode.err.find("--mode") != std::string::npos);
  // A session's message is found and shown as well: its matching lines,
  // numbered within the message.
  REQUIRE(RunCli(At(node, {"context", "add", "s-notes", "the", "mailer", "batches", "outgoing", "letters"}))
              .exit_code == 0);
  CliResult in_session = RunCli(At(node, {"search", "mailer", "letters", "--sessions-only"}));
  INFO(in_session.out << in_session.err);
  REQUIRE(in_session.exit_code == 0);
  const JsonValue session_json = in_session.Json();
  const auto& session_hits = session_json["results"].array;
  REQUIRE(session_hits.size() == 1);
  CHECK(session_hits[0]["session"].string == "s-notes");
  REQUIRE(session_hits[0]["snippet"].array.size() == 1);
  CHECK(session_hits[0]["snippet"].array[0]["line"].u64() == 1);
  CHECK(session_hits[0]["snippet"].array[0]["text"].string == "the mailer batches outgoing letters");
  CliResult session_text =
      RunCli({"--node", "127.0.0.1:" + std::to_string(node.port()), "search", "letters", "--sessions-only"});
  REQUIRE(session_text.exit_code == 0);
  CHECK(session_text.out.find("session s-notes, message 0") != std::string::npos);
  CHECK(session_text.out.find("     1 | the mailer batches outgoing letters") != std::string::npos);
  CliResult lexical = RunCli(At(node, {"search", "resolve", "hostname", "--mode", "lexical"}));
  REQUIRE(lexical.exit_code == 0);
  REQUIRE(lexical.Json()["results"].array.size() == 1);
  CHECK(lexical.Json()["results"].array[0]["path"].string == (tree / "dns.py"));

  // The text index is rebuilt from the store after a kill -9: same answers.
  std::vector<std::string> queries = {"rolling checksum", "resolve hostname", "draw circle radius"};
  auto summary = [&](const std::string& q) {
    CliResult r = RunCli(At(node, {"search", q, "--no-snippet"}));
    REQUIRE(r.exit_code == 0);
    std::string s;
    const JsonValue json = r.Json();
    for (const auto& hit : json["results"].array) {
      s += hit["path"].string + ":" + std::to_string(hit["first_line"].u64()) + " " +
           std::to_string(hit["lexical_score"].number) + "\n";
    }
    return s;
  };
  std::vector<std::string> before;
  for (const auto& q : queries) before.push_back(summary(q));
  node.Kill();
  node.Start();
  for (std::size_t i = 0; i < queries.size(); ++i) {
    INFO(queries[i]);
    CHECK(!before[i].empty());
    CHECK(summary(queries[i]) == before[i]);
  }
}
