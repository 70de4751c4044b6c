// postdevai-cli against a real dragon_node in another process: every command
// run as a subprocess, its --json output parsed and its numbers checked
// against what the previous commands did; the command line's errors; an
// unreachable node; clients that die or misbehave mid-request.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <filesystem>
#include <set>

#include "actors/remote.h"
#include "postdevai/hybrid_memory.h"
#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

// Runs a --json command that must succeed; its object. Nothing may appear on
// stderr (the CLI is quiet unless -v) except ingest's progress lines.
JsonValue Ok(const NodeProcess& node, std::vector<std::string> args, const std::string& stdin_data = "") {
  const bool progress = !args.empty() && args[0] == "ingest";
  args.insert(args.begin(), "--json");
  CliResult r = RunCli(CliArgsFor(node, args), stdin_data);
  INFO("postdevai-cli " << [&] {
    std::string s;
    for (auto& a : args) s += a + " ";
    return s;
  }() << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  if (progress) {
    REQUIRE(r.err.rfind("ingest: ", 0) == 0);
  } else {
    REQUIRE(r.err.empty());
  }
  return r.Json();
}

const JsonValue& Partition(const JsonValue& stats, const std::string& kind) {
  for (const auto& p : stats["partitions"].array) {
    if (p["kind"].string == kind) return p;
  }
  throw std::runtime_error("no partition " + kind);
}

std::uint64_t RamEntries(const JsonValue& stats) {
  std::uint64_t n = 0;
  for (const auto& p : stats["partitions"].array) n += p["entries"].u64();
  return n;
}

// A failing command: its exit code, one line on stderr containing `needle`,
// and (with --json) an error object on stdout.
void ExpectFailure(const std::vector<std::string>& args, int exit_code, const std::string& needle) {
  CliResult r = RunCli(args);
  INFO("args: " << [&] {
    std::string s;
    for (auto& a : args) s += a + " ";
    return s;
  }() << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == exit_code);
  CHECK(r.ErrIsOneLine());
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(r.err.rfind("postdevai-cli: ", 0) == 0);

  std::vector<std::string> json_args = args;
  json_args.insert(json_args.begin(), "--json");
  CliResult j = RunCli(json_args);
  CHECK(j.exit_code == exit_code);
  JsonValue v = j.Json();
  CHECK(v["error"]["message"].string.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("every command level answers --help", "[cli]") {
  const std::vector<std::vector<std::string>> helps = {
      {"--help"},
      {"help"},
      {"memory", "--help"},
      {"diagnose", "--help"},
      {"code", "--help"},
      {"context", "--help"},
      {"meta", "--help"},
      {"memory", "stats", "--help"},
      {"memory", "breakdown", "--help"},
      {"memory", "evict", "--help"},
      {"memory", "sync-status", "--help"},
      {"memory", "sync", "--help"},
      {"memory", "compact", "--help"},
      {"diagnose", "memory", "--help"},
      {"code", "put", "--help"},
      {"code", "get", "-h"},
      {"ingest", "--help"},
      {"context", "add", "--help"},
      {"context", "show", "--help"},
      {"meta", "get", "--help"},
      {"meta", "set", "--help"},
      {"meta", "delete", "--help"},
      {"help", "memory", "evict"},
  };
  for (const auto& args : helps) {
    CliResult r = RunCli(args);
    INFO(args[0] << " " << (args.size() > 1 ? args[1] : ""));
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("usage: postdevai-cli", 0) == 0);
  }
  // Every command is listed at the top.
  CliResult top = RunCli({"--help"});
  for (const char* c : {"memory stats", "memory breakdown", "memory evict", "memory sync-status", "memory sync",
                        "memory compact", "diagnose memory", "code put", "code get", "ingest", "context add",
                        "context show", "meta get", "meta set", "meta delete"}) {
    CHECK(top.out.find(c) != std::string::npos);
  }
  CHECK(RunCli({"memory", "evict", "--help"}).out.find("--older-than DURATION") != std::string::npos);
}

TEST_CASE("bad command lines are refused with one line naming the problem", "[cli]") {
  ExpectFailure({}, 2, "missing COMMAND");
  ExpectFailure({"frobnicate"}, 2, "unknown command 'frobnicate'");
  ExpectFailure({"memory"}, 2, "missing subcommand for memory");
  ExpectFailure({"memory", "frob"}, 2, "unknown command 'memory frob'");
  ExpectFailure({"memory", "stats", "--bogus"}, 2, "unknown option '--bogus'");
  ExpectFailure({"memory", "stats", "extra"}, 2, "unexpected argument 'extra'");
  ExpectFailure({"memory", "evict", "--older-than"}, 2, "option --older-than needs a value");
  ExpectFailure({"memory", "evict"}, 2, "needs --older-than");
  ExpectFailure({"memory", "evict", "--older-than", "24"}, 2, "bad duration '24'");
  ExpectFailure({"memory", "evict", "--older-than", "5x"}, 2, "bad duration '5x'");
  ExpectFailure({"memory", "evict", "--older-than", "-3h"}, 2, "bad duration '-3h'");
  ExpectFailure({"memory", "evict", "--older-than", "99999999999d"}, 2, "bad duration");
  ExpectFailure({"--node"}, 2, "option --node needs a value");
  ExpectFailure({"--node", "localhost:notaport", "memory", "stats"}, 2, "bad --node 'localhost:notaport'");
  ExpectFailure({"--node", "localhost:70000", "memory", "stats"}, 2, "bad --node 'localhost:70000'");
  ExpectFailure({"--timeout", "soon", "memory", "stats"}, 2, "bad --timeout");
  ExpectFailure({"code", "get"}, 2, "exactly one of --id ID or --path PATH");
  ExpectFailure({"code", "get", "--id", "1", "--path", "a"}, 2, "exactly one of --id ID or --path PATH");
  ExpectFailure({"code", "put"}, 2, "missing PATH");
  ExpectFailure({"meta", "set", "k"}, 2, "missing VALUE");
  ExpectFailure({"context", "show"}, 2, "missing SESSION");
  ExpectFailure({"ingest", "/nonexistent/dir/for/postdevai"}, 2, "/nonexistent/dir/for/postdevai is not a directory");
  ExpectFailure({"ingest", "/tmp", "--max-file-bytes", "lots"}, 2, "bad --max-file-bytes 'lots'");
  ExpectFailure({"--config", "/nonexistent/postdevai.toml", "memory", "stats"}, 2, "/nonexistent/postdevai.toml");
  ExpectFailure({"--cert", "/tmp/x.crt", "memory", "stats"}, 2, "mutual TLS needs --cert and --key together");
}

TEST_CASE("a node that is not there is named in one line", "[cli]") {
  const std::uint16_t port = UnusedPort();
  const std::string endpoint = "127.0.0.1:" + std::to_string(port);
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"memory", "stats"}, {"meta", "get", "k"}, {"diagnose", "memory"}, {"memory", "sync", "--force"}}) {
    std::vector<std::string> args = {"--node", endpoint};
    args.insert(args.end(), command.begin(), command.end());
    ExpectFailure(args, 3, endpoint);
  }
}

TEST_CASE("every command against a node in another process, --json parsed", "[cli]") {
  NodeProcess node;
  TempDir work("cli-data");

  const JsonValue stats0 = Ok(node, {"memory", "stats"});
  REQUIRE(stats0["partitions"].array.size() == 4);
  const std::uint64_t writes0 = stats0["writes"].u64();
  for (const char* kind : {"vectors", "code", "history", "metadata"}) {
    const auto& p = Partition(stats0, kind);
    CHECK(p["budget_bytes"].u64() > 0);
    CHECK(p["ready"].boolean);
  }

  SECTION("code, context and metadata round-trip; memory stats counts the writes") {
    // code put from a file and from stdin.
    const std::string source = "#include <cstdio>\nint main() { std::puts(\"hi\\t\\\"there\\\"\"); }\n";
    WriteFile(work / "main.cc", source);
    JsonValue put = Ok(node, {"code", "put", "src/main.cc", "--file", work / "main.cc"});
    CHECK(put["path"].string == "src/main.cc");
    CHECK(put["language"].string == "cpp");
    CHECK(put["bytes"].u64() == source.size());
    CHECK(put["id"].string == CodeIdForPath("src/main.cc"));
    const std::uint64_t put_lsn = put["lsn"].u64();
    CHECK(put_lsn > 0);
    JsonValue put2 = Ok(node, {"code", "put", "lib/util.py", "--language", "python3"}, "def f():\n    return 1\n");
    CHECK(put2["language"].string == "python3");
    CHECK(put2["lsn"].u64() > put_lsn);

    JsonValue stats1 = Ok(node, {"memory", "stats"});
    CHECK(stats1["writes"].u64() == writes0 + 2);
    CHECK(Partition(stats1, "code")["entries"].u64() == Partition(stats0, "code")["entries"].u64() + 2);
    CHECK(Partition(stats1, "code")["bytes"].u64() > Partition(stats0, "code")["bytes"].u64());

    JsonValue got = Ok(node, {"code", "get", "--path", "src/main.cc"});
    CHECK(got["content"].string == source);
    CHECK(got["lsn"].u64() == put_lsn);
    CHECK(got["served_from"].string == "ram");
    JsonValue by_id = Ok(node, {"code", "get", "--id", put2["id"].string});
    CHECK(by_id["path"].string == "lib/util.py");
    CHECK(by_id["content"].string == "def f():\n    return 1\n");
    // Without --json: exactly the stored bytes.
    CliResult raw = RunCli(CliArgsFor(node, {"code", "get", "--path", "src/main.cc"}));
    CHECK(raw.exit_code == 0);
    CHECK(raw.out == source);
    // Content that is not UTF-8 comes back in base64, still valid JSON.
    Ok(node, {"code", "put", "bin/latin1.txt", "--file", "-"}, std::string("caf\xe9\n"));
    JsonValue latin1 = Ok(node, {"code", "get", "--path", "bin/latin1.txt"});
    CHECK(!latin1.Has("content"));
    CHECK(latin1["content_base64"].string == "Y2Fm6Qo=");

    CliResult missing = RunCli(CliArgsFor(node, {"code", "get", "--path", "no/such/file.cc"}));
    CHECK(missing.exit_code == 1);
    CHECK(missing.ErrIsOneLine());
    CHECK(missing.err.find("no code stored for path no/such/file.cc") != std::string::npos);

    // Metadata.
    JsonValue set = Ok(node, {"meta", "set", "project.name", "postdevai"});
    CHECK(set["key"].string == "project.name");
    JsonValue get = Ok(node, {"meta", "get", "project.name"});
    CHECK(get["value"].string == "postdevai");
    CHECK(get["lsn"].u64() == set["lsn"].u64());
    CliResult plain = RunCli(CliArgsFor(node, {"meta", "get", "project.name"}));
    CHECK(plain.out == "postdevai\n");
    JsonValue del = Ok(node, {"meta", "delete", "project.name"});
    CHECK(del["existed"].boolean);
    CliResult gone = RunCli(CliArgsFor(node, {"meta", "get", "project.name"}));
    CHECK(gone.exit_code == 1);
    CHECK(gone.err.find("no metadata key 'project.name'") != std::string::npos);
    CHECK(!Ok(node, {"meta", "delete", "project.name"})["existed"].boolean);

    // Session context: messages append in order; words join into one message.
    CHECK(Ok(node, {"context", "add", "s-1", "fix", "the", "bug"})["messages"].u64() == 1);
    CHECK(Ok(node, {"context", "add", "s-1", "--", "--not-an-option"})["messages"].u64() == 2);
    CHECK(Ok(node, {"context", "add", "s-1"}, "from stdin\n")["messages"].u64() == 3);
    JsonValue ctx = Ok(node, {"context", "show", "s-1"});
    REQUIRE(ctx["messages"].array.size() == 3);
    CHECK(ctx["messages"][0].string == "fix the bug");
    CHECK(ctx["messages"][1].string == "--not-an-option");
    CHECK(ctx["messages"][2].string == "from stdin");
    CliResult no_session = RunCli(CliArgsFor(node, {"context", "show", "nobody"}));
    CHECK(no_session.exit_code == 1);
    CHECK(no_session.err.find("no context for session nobody") != std::string::npos);

    JsonValue stats2 = Ok(node, {"memory", "stats"});
    CHECK(stats2["writes"].u64() > stats1["writes"].u64());
    CHECK(stats2["reads"].u64() > stats1["reads"].u64());
    CHECK(stats2["sync"]["durable_lsn"].u64() >= ctx["lsn"].u64());
    CHECK(stats2["write_latency"]["count"].u64() >= stats2["writes"].u64() - writes0);
  }

  SECTION("breakdown, sync, evict and compact move the numbers they should") {
    for (int i = 0; i < 20; ++i) {
      Ok(node, {"meta", "set", "k" + std::to_string(i), std::string(300, static_cast<char>('a' + i))});
    }
    // Small enough for the test RAM-Lake to cache (larger records are served from LevelDB only).
    Ok(node, {"code", "put", "a/b.cc"}, std::string(3000, 'x'));

    JsonValue breakdown = Ok(node, {"memory", "breakdown"});
    REQUIRE(breakdown["store"].array.size() == 4);
    REQUIRE(breakdown["partitions"].array.size() == 4);
    for (const auto& k : breakdown["store"].array) {
      if (k["kind"].string == "metadata") {
        CHECK(k["entries"].u64() == 20);
        CHECK(k["raw_bytes"].u64() == 20 * 300);
        CHECK(k["compressed_bytes"].u64() > 0);
      }
      if (k["kind"].string == "code") {
        CHECK(k["entries"].u64() == 1);
        CHECK(k["raw_bytes"].u64() > 3000);
        // 3000 'x' compress: the ratio shows it.
        CHECK(k["compression_ratio"].number > 10);
      }
    }
    for (const auto& p : breakdown["partitions"].array) {
      if (p["kind"].string == "metadata") CHECK(p["entries"].u64() == 20);
      CHECK(p.Has("ram_bytes"));
      CHECK(p.Has("budget_bytes"));
    }

    JsonValue status1 = Ok(node, {"memory", "sync-status"});
    const std::uint64_t durable = status1["durable_lsn"].u64();
    CHECK(durable >= 21);
    CHECK(status1["checkpoint_lsn"].u64() < durable);
    CHECK(status1["unsynced_records"].u64() == durable - status1["checkpoint_lsn"].u64());
    CHECK(status1["wal_segments"].u64() >= 1);
    CHECK(status1.Has("sync_lag_seconds"));
    CHECK(status1["sync_interval_seconds"].is_null());  // unknown without --config
    REQUIRE(status1["durability"].array.size() == 4);
    for (const auto& k : status1["durability"].array) {
      CHECK(k["durability"].string == "durable");  // the default for every kind
      CHECK(k["unsynced_bytes"].u64() == 0);
    }
    JsonValue status_cfg = Ok(node, {"--config", node.config_path(), "memory", "sync-status"});
    CHECK(status_cfg["sync_interval_seconds"].number == 300);

    // memory sync --force moves the checkpoint LSN to the durable one.
    JsonValue sync = Ok(node, {"memory", "sync", "--force"});
    CHECK(sync["checkpointed"].boolean);
    CHECK(sync["checkpoint_lsn_before"].u64() == status1["checkpoint_lsn"].u64());
    CHECK(sync["checkpoint_lsn"].u64() == durable);
    JsonValue status2 = Ok(node, {"memory", "sync-status"});
    CHECK(status2["checkpoint_lsn"].u64() == durable);
    CHECK(status2["unsynced_records"].u64() == 0);
    CHECK(status2["checkpoints_since_start"].u64() > status1["checkpoints_since_start"].u64());
    // Without --force, a sync with nothing new to record is skipped.
    JsonValue idle = Ok(node, {"memory", "sync"});
    CHECK(!idle["checkpointed"].boolean);
    CHECK(idle["checkpoint_lsn"].u64() == durable);
    Ok(node, {"meta", "set", "after-sync", "1"});
    JsonValue busy = Ok(node, {"memory", "sync"});
    CHECK(busy["checkpointed"].boolean);
    CHECK(busy["checkpoint_lsn"].u64() == durable + 1);

    // Evict: --dry-run evicts nothing and counts what would go.
    JsonValue before = Ok(node, {"memory", "stats"});
    const std::uint64_t entries = RamEntries(before);
    INFO("stats before evicting: " << [&] {
      std::string s;
      for (const auto& p : before["partitions"].array) s += p["kind"].string + "=" + std::to_string(p["entries"].u64()) + " ";
      return s;
    }());
    CHECK(entries == 22);  // 21 metadata keys and one file
    JsonValue dry = Ok(node, {"memory", "evict", "--cold", "--older-than", "0s", "--dry-run"});
    CHECK(dry["dry_run"].boolean);
    const std::uint64_t would = dry["would_evict_entries"].u64();
    CHECK(would <= entries);
    CHECK(would > 0);
    CHECK(dry["would_evict_bytes"].u64() > 0);
    CHECK(RamEntries(Ok(node, {"memory", "stats"})) == entries);
    // Everything was used within the last hour: nothing goes.
    JsonValue none = Ok(node, {"memory", "evict", "--cold", "--older-than", "1h"});
    CHECK(none["evicted"].u64() == 0);
    CHECK(RamEntries(Ok(node, {"memory", "stats"})) == entries);
    // Everything clean goes (all of it is checkpointed, hence clean).
    JsonValue evict = Ok(node, {"memory", "evict", "--cold", "--older-than", "0s"});
    CHECK(evict["evicted"].u64() > 0);
    // Later, with a later cutoff: at least what the dry run counted.
    CHECK(evict["evicted"].u64() >= would);
    JsonValue after = Ok(node, {"memory", "stats"});
    CHECK(RamEntries(after) == entries - evict["evicted"].u64());
    CHECK(RamEntries(after) < entries);
    std::uint64_t evictions = 0;
    for (const auto& p : after["partitions"].array) evictions += p["evictions"].u64();
    CHECK(evictions >= evict["evicted"].u64());
    // Evicted entries are still there, now from disk.
    JsonValue cold = Ok(node, {"meta", "get", "k3"});
    CHECK(cold["value"].string == std::string(300, 'd'));
    CHECK(cold["served_from"].string == "disk");

    JsonValue compact = Ok(node, {"memory", "compact"});
    CHECK(compact["disk_bytes_after"].u64() > 0);
    CHECK(compact.Has("disk_bytes_before"));
    CHECK(Ok(node, {"meta", "get", "k19"})["value"].string == std::string(300, 't'));
  }

  SECTION("diagnose memory reports every check with what to do") {
    JsonValue d = Ok(node, {"--config", node.config_path(), "diagnose", "memory"});
    CHECK(d["local"].boolean);
    std::set<std::string> checks;
    for (const auto& f : d["findings"].array) {
      checks.insert(f["check"].string);
      const std::string status = f["status"].string;
      CHECK((status == "ok" || status == "warning" || status == "critical" || status == "unknown"));
      CHECK(!f["finding"].string.empty());
      // Anything not ok says what to do.
      if (status == "warning" || status == "critical") CHECK(!f["action"].is_null());
    }
    for (const char* c : {"ram_disk", "wal_storage", "budget", "hit_rate", "sync_lag", "wal_backlog", "compression",
                          "partition_health", "disk_space", "backups"}) {
      CHECK(checks.count(c) == 1);
    }
    // The test node keeps its RAM-Lake on /dev/shm and its WAL on a disk.
    for (const auto& f : d["findings"].array) {
      if (f["check"].string == "ram_disk") CHECK(f["status"].string == "ok");
      if (f["check"].string == "wal_storage") CHECK(f["status"].string == "ok");
      if (f["check"].string == "partition_health") CHECK(f["status"].string == "ok");
      // No backup was made: the check says so, and how to make one.
      if (f["check"].string == "backups") CHECK(f["status"].string == "warning");
    }
    // The node diagnoses itself with its own config: no --config needed,
    // and the checks that compare against the config are made.
    JsonValue bare = Ok(node, {"diagnose", "memory"});
    for (const auto& f : bare["findings"].array) {
      if (f["check"].string == "sync_lag") CHECK(f["status"].string == "ok");
      if (f["check"].string == "wal_storage") CHECK(f["status"].string == "ok");
    }
  }

  SECTION("diagnose memory flags a low hit rate and says what to do") {
    TempDir tree("cli-cold-tree");
    for (int i = 0; i < 110; ++i) WriteFile(tree / ("f" + std::to_string(i) + ".txt"), "file " + std::to_string(i) + "\n");
    REQUIRE(Ok(node, {"ingest", tree.path()})["files"].u64() == 110);
    Ok(node, {"memory", "sync", "--force"});
    REQUIRE(Ok(node, {"memory", "evict", "--older-than", "0s"})["evicted"].u64() >= 110);
    // Each file read once: every read goes to disk (one read does not promote).
    for (int i = 0; i < 110; ++i) {
      REQUIRE(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / ("f" + std::to_string(i) + ".txt")})).exit_code == 0);
    }
    JsonValue d = Ok(node, {"diagnose", "memory"});
    bool flagged = false;
    for (const auto& f : d["findings"].array) {
      if (f["check"].string != "hit_rate") continue;
      flagged = true;
      CHECK(f["status"].string == "warning");  // RAM has room: cold reads, not a RAM shortage
      CHECK(f["action"].string.find("promote_after_hits") != std::string::npos);
    }
    CHECK(flagged);
    CHECK(d["summary"]["warning"].u64() >= 1);
  }

  SECTION("human output of every memory command") {
    for (const auto& args : std::vector<std::vector<std::string>>{{"memory", "stats"},
                                                                  {"memory", "breakdown"},
                                                                  {"memory", "sync-status"},
                                                                  {"memory", "sync", "--force"},
                                                                  {"memory", "evict", "--older-than", "7d", "--dry-run"},
                                                                  {"memory", "evict", "--cold", "--older-than", "15m"},
                                                                  {"memory", "compact"},
                                                                  {"diagnose", "memory"}}) {
      CliResult r = RunCli(CliArgsFor(node, args));
      INFO(args[0] << " " << args[1] << "\n" << r.err);
      CHECK(r.exit_code == 0);
      CHECK(!r.out.empty());
      CHECK(r.err.empty());
    }
    CliResult stats = RunCli(CliArgsFor(node, {"memory", "stats"}));
    for (const char* kind : {"vectors", "code", "history", "metadata"}) CHECK(stats.out.find(kind) != std::string::npos);
    // -v logs the connection and each request on stderr.
    CliResult verbose = RunCli(CliArgsFor(node, {"-v", "memory", "stats"}));
    CHECK(verbose.err.find("connected to 127.0.0.1:" + std::to_string(node.port())) != std::string::npos);
  }
}

TEST_CASE("ingest stores a source tree's text files and skips the rest", "[cli]") {
  NodeProcess node;
  TempDir tree("cli-tree");
  namespace fs = std::filesystem;
  fs::create_directories(tree / "src/deep/er");
  fs::create_directories(tree / ".git/objects");
  fs::create_directories(tree / "build/CMakeFiles");
  fs::create_directories(tree / "build-release");
  WriteFile(tree / "src/a.cc", "int a() { return 1; }\n");
  WriteFile(tree / "src/deep/er/b.py", "def b():\n    return 2\n");
  WriteFile(tree / "README.md", "# tree\n");
  WriteFile(tree / "src/blob.bin", std::string("ELF\0\1\2\3", 7));
  WriteFile(tree / "src/huge.txt", std::string(3000, 'h'));
  WriteFile(tree / ".git/config", "[core]\n");
  WriteFile(tree / "build/CMakeFiles/x.cc", "int x;\n");
  WriteFile(tree / "build-release/y.cc", "int y;\n");
  fs::create_symlink(tree / "src/a.cc", tree / "src/link.cc");
  // Hidden files hold secrets; .gitignore files say what is not source.
  WriteFile(tree / ".env", "API_KEY=secret\n");
  WriteFile(tree / ".gitignore", "# generated\n*.log\n!keep.log\n/generated/\n");
  WriteFile(tree / "app.log", "noise\n");
  WriteFile(tree / "keep.log", "kept\n");
  fs::create_directories(tree / "generated");
  fs::create_directories(tree / "src/generated");
  WriteFile(tree / "generated/g.cc", "int g;\n");
  WriteFile(tree / "src/generated/h.cc", "int h;\n");  // /generated/ is anchored to the root
  WriteFile(tree / "src/.gitignore", "local.cc\n");
  WriteFile(tree / "src/local.cc", "int local;\n");
  WriteFile(tree / "src/deep/local.cc", "int local2;\n");  // a name pattern: any depth below

  CliResult r = RunCli(CliArgsFor(node, {"--json", "ingest", tree.path(), "--max-file-bytes", "2000"}));
  INFO(r.out << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  JsonValue j = r.Json();
  CHECK(j["files"].u64() == 5);  // a.cc, b.py, README.md, keep.log, src/generated/h.cc
  CHECK(j["bytes"].u64() == std::string("int a() { return 1; }\n").size() +
                              std::string("def b():\n    return 2\n").size() + std::string("# tree\n").size() +
                              std::string("kept\n").size() + std::string("int h;\n").size());
  CHECK(j["skipped"]["hidden"].u64() == 3);      // .env, .gitignore, src/.gitignore
  CHECK(j["skipped"]["gitignored"].u64() == 4);  // app.log, generated/, src/local.cc, src/deep/local.cc
  CHECK(j["skipped"]["binary"].u64() == 1);
  CHECK(j["skipped"]["too_large"].u64() == 1);
  CHECK(j["skipped"]["special"].u64() == 1);
  CHECK(j["skipped"]["directories"].u64() == 3);  // .git, build, build-release
  CHECK(j["batches"].u64() >= 1);
  CHECK(j["seconds"].number >= 0);
  CHECK(j["indexed"].boolean);  // searchable (see tests/cli_search_test.cc)
  CHECK(j["embedding_model"].string == "lexical-v1");
  // stderr is not a terminal here: plain progress lines, no bar.
  CHECK(r.err.find("ingest: 6/6 files") != std::string::npos);  // the binary file counts as walked
  CHECK(r.err.find('\r') == std::string::npos);

  const std::string a = (fs::path(tree.path()) / "src/a.cc").lexically_normal().string();
  JsonValue got = Ok(node, {"code", "get", "--path", a});
  CHECK(got["content"].string == "int a() { return 1; }\n");
  CHECK(got["language"].string == "cpp");
  CHECK(got["lsn"].u64() == j["last_lsn"].u64());
  CHECK(Ok(node, {"code", "get", "--path", tree / "src/deep/er/b.py"})["language"].string == "python");
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / ".git/config"})).exit_code == 1);
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / "src/blob.bin"})).exit_code == 1);
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / "build-release/y.cc"})).exit_code == 1);

  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / ".env"})).exit_code == 1);
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / "app.log"})).exit_code == 1);
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / "src/deep/local.cc"})).exit_code == 1);
  CHECK(Ok(node, {"code", "get", "--path", tree / "keep.log"})["content"].string == "kept\n");

  JsonValue stats = Ok(node, {"memory", "stats"});
  CHECK(Partition(stats, "code")["entries"].u64() == 5);

  // Asked for: hidden files and what .gitignore excludes are stored too.
  JsonValue all = Ok(node, {"ingest", tree.path(), "--max-file-bytes", "2000", "--hidden", "--no-gitignore"});
  CHECK(all["skipped"]["hidden"].u64() == 0);
  CHECK(all["skipped"]["gitignored"].u64() == 0);
  CHECK(Ok(node, {"code", "get", "--path", tree / ".env"})["content"].string == "API_KEY=secret\n");
  CHECK(RunCli(CliArgsFor(node, {"code", "get", "--path", tree / ".git/config"})).exit_code == 1);  // VCS: never
}

TEST_CASE("clients that die or misbehave mid-request leave the node serving", "[cli]") {
  NodeProcess node(NodeProcess::CafEnabled());
  TempDir tree("cli-big-tree");
  // Enough data that ingest is still writing when it is killed.
  for (int d = 0; d < 40; ++d) {
    std::filesystem::create_directories(tree / ("d" + std::to_string(d)));
    for (int f = 0; f < 100; ++f) {
      WriteFile(tree / ("d" + std::to_string(d) + "/f" + std::to_string(f) + ".txt"),
                std::string(8000, static_cast<char>('a' + (d + f) % 26)));
    }
  }
  TempDir out("cli-killed");
  for (int delay_ms : {0, 5, 50, 150, 400}) {
    pid_t pid = SpawnCli(CliArgsFor(node, {"ingest", tree.path()}), out.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    WaitCli(pid);
    REQUIRE(ProcessAlive(node.pid()));
    JsonValue stats = Ok(node, {"memory", "stats"});
    CHECK(stats["partitions"].array.size() == 4);
  }

  // Raw bytes that are neither gRPC's protocol nor CAF's, then a hang-up,
  // on both doors.
  for (std::uint16_t port : {node.port(), node.caf_port()})
  for (const std::string& junk : {std::string("GET / HTTP/1.0\r\n\r\n"), std::string(100000, '\xff'), std::string()}) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (!junk.empty()) (void)::write(fd, junk.data(), junk.size());
    ::close(fd);
  }
  REQUIRE(ProcessAlive(node.pid()));
  CHECK(Ok(node, {"meta", "set", "still", "here"})["lsn"].u64() > 0);

  // A request for an operation the controller does not have.
  caf::actor_system_config cfg;
  actors::AddMessageTypes(cfg);
  actors::LoadNetworkModules(cfg, NodeConfig{});
  caf::actor_system sys{cfg};
  auto controller = actors::ConnectToNode(sys, "127.0.0.1", node.caf_port(), NodeConfig{});
  REQUIRE(controller.ok());
  caf::scoped_actor self{sys};
  bool refused = false;
  self->request(caf::actor_cast<caf::actor>(*controller), std::chrono::seconds(30), std::string("no such operation"))
      .receive([&](const std::string&) {}, [&](caf::error&) { refused = true; });
  CHECK(refused);
  REQUIRE(ProcessAlive(node.pid()));
  CHECK(Ok(node, {"meta", "get", "still"})["value"].string == "here");
}

TEST_CASE("records the CLI writes read back through the engine's own facade", "[cli]") {
  NodeProcess node;
  Ok(node, {"code", "put", "proj/x.rs", "--language", "rust"}, "fn main() {}\n");
  Ok(node, {"context", "add", "sess", "first"});
  Ok(node, {"context", "add", "sess", "second"});
  Ok(node, {"meta", "set", "m", "v"});
  REQUIRE(node.Stop() == 0);

  std::vector<std::string> warnings;
  auto config = LoadConfigFile(node.config_path(), &warnings);
  REQUIRE(config.ok());
  auto memory = HybridMemory::Open(*config);
  REQUIRE(memory.ok());
  auto code = (*memory)->GetCodeByPath("proj/x.rs");
  REQUIRE(code.ok());
  CHECK(code->content == "fn main() {}\n");
  CHECK(code->language == "rust");
  auto context = (*memory)->GetContext("sess");
  REQUIRE(context.ok());
  CHECK(*context == std::vector<std::string>{"first", "second"});
  auto meta = (*memory)->GetMetadata("m");
  REQUIRE(meta.ok());
  CHECK(*meta == "v");
}

TEST_CASE("sync-status shows what relaxed kinds have at risk", "[cli]") {
  // A long window: nothing syncs the relaxed writes behind the test's back.
  NodeProcess node("[partitions.metadata]\ndurability = \"relaxed\"\n[wal]\nrelaxed_sync_ms = 10000\n");
  for (int i = 0; i < 5; ++i) Ok(node, {"meta", "set", "relaxed-" + std::to_string(i), std::string(100, 'r')});
  JsonValue status = Ok(node, {"memory", "sync-status"});
  CHECK(status["relaxed_sync_ms"].u64() == 10000);
  for (const auto& k : status["durability"].array) {
    INFO(k["kind"].string);
    CHECK(k["durability"].string == (k["kind"].string == "metadata" ? "relaxed" : "durable"));
    if (k["kind"].string == "metadata") {
      CHECK(k["unsynced_bytes"].u64() >= 5 * 16);  // as logged: keys and compressed values
      CHECK(k["unsynced_seconds"].number > 0);   // the oldest waits since the first set
      CHECK(k["unsynced_seconds"].number < 10);  // and no longer than the window
    } else {
      CHECK(k["unsynced_bytes"].u64() == 0);
    }
  }
  CliResult text = RunCli(CliArgsFor(node, {"memory", "sync-status"}));
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("relaxed metadata") && Catch::Contains("not yet durable"));
  // A forced sync checkpoints, and the relaxed writes read back.
  Ok(node, {"memory", "sync", "--force"});
  JsonValue value = Ok(node, {"meta", "get", "relaxed-4"});
  CHECK(value["value"].string == std::string(100, 'r'));
}
