// `postdevai-cli top` in a real terminal: a detached tmux session (private
// socket) runs a shell, the test types the command into it, reads the screen
// with capture-pane and presses keys with send-keys. Against a real
// dragon_node: the dashboard draws every partition with the node's numbers,
// its 60-second window counts exactly the reads and writes made meanwhile,
// the compression line matches `memory breakdown`, q and Ctrl-C give the
// shell back with the terminal restored, a small terminal says so, an
// unreachable node is one line and exit 3, and a node that goes away (and
// comes back) is shown and reconnected while q keeps working.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai::testing;

namespace {

using Clock = std::chrono::steady_clock;

struct Output {
  int exit_code = -1;
  std::string out;
};

// Runs a program (found on PATH) to completion; stdout and stderr together.
Output RunProgram(const std::vector<std::string>& args) {
  TempDir dir("top-run");
  const std::string out_path = dir / "out";
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  Output r;
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out_path);
  return r;
}

bool TmuxInstalled() { return RunProgram({"tmux", "-V"}).exit_code == 0; }

// A tmux server of our own (-L: a private socket, -f /dev/null: no user
// config) with one session running an interactive sh whose prompt we know.
// The server is killed on destruction, whatever the test did.
class TmuxTerminal {
 public:
  static constexpr const char* kPrompt = "top-test$ ";
  // What capture-pane shows of it (it drops trailing spaces).
  static constexpr const char* kPromptShown = "top-test$";

  TmuxTerminal(int cols, int rows, const std::vector<std::string>& env = {}) {
    static std::atomic<int> counter{0};
    socket_ = "postdevai-top-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::vector<std::string> args = {"new-session", "-d", "-s", "top", "-x", std::to_string(cols), "-y",
                                     std::to_string(rows), "--", "env", std::string("PS1=") + kPrompt};
    args.insert(args.end(), env.begin(), env.end());
    args.push_back("sh");
    Output r = Tmux(args);
    if (r.exit_code != 0) throw std::runtime_error("tmux new-session failed: " + r.out);
    WaitFor([](const std::string& screen) { return screen.find(kPromptShown) != std::string::npos; },
            "the shell's prompt");
  }
  ~TmuxTerminal() { Tmux({"kill-server"}); }
  TmuxTerminal(const TmuxTerminal&) = delete;
  TmuxTerminal& operator=(const TmuxTerminal&) = delete;

  Output Tmux(std::vector<std::string> args) const {
    args.insert(args.begin(), {"tmux", "-L", socket_, "-f", "/dev/null"});
    return RunProgram(args);
  }

  // The visible screen, one line per row.
  std::string Capture() const {
    Output r = Tmux({"capture-pane", "-p", "-t", "top"});
    return r.exit_code == 0 ? r.out : "";
  }

  // Types a line into the shell and presses Enter.
  void TypeLine(const std::string& line) const {
    Tmux({"send-keys", "-t", "top", "-l", line});
    Tmux({"send-keys", "-t", "top", "Enter"});
  }
  void Press(const std::string& key) const { Tmux({"send-keys", "-t", "top", key}); }

  bool SessionAlive() const { return Tmux({"has-session", "-t", "top"}).exit_code == 0; }

  // Polls the screen until `done` holds; fails the test (showing the last
  // screen) after `limit`.
  std::string WaitFor(const std::function<bool(const std::string&)>& done, const std::string& what,
                      std::chrono::seconds limit = std::chrono::seconds(40)) const {
    const auto deadline = Clock::now() + limit;
    std::string screen;
    for (;;) {
      screen = Capture();
      if (done(screen)) return screen;
      if (Clock::now() > deadline) {
        FAIL_CHECK("timed out after " << limit.count() << " s waiting for " << what << "; the screen:\n" << screen);
        throw std::runtime_error("timed out waiting for " + what);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::string WaitForText(const std::string& text, std::chrono::seconds limit = std::chrono::seconds(40)) const {
    return WaitFor([&](const std::string& s) { return s.find(text) != std::string::npos; }, "'" + text + "'", limit);
  }

 private:
  std::string socket_;
};

// 'a b' quoted for sh.
std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string TopCommand(std::uint16_t port, const std::string& extra = "") {
  return ShellQuote(CliPath()) + " --node 127.0.0.1:" + std::to_string(port) + " top " + extra + "; echo top-exit=$?";
}

std::vector<std::string> At(const NodeProcess& node, std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "--node", "127.0.0.1:" + std::to_string(node.port())});
  return args;
}

JsonValue Json(const NodeProcess& node, std::vector<std::string> args, const std::string& stdin_data = "") {
  CliResult r = RunCli(At(node, args), stdin_data);
  INFO("postdevai-cli " << args[0] << " " << (args.size() > 1 ? args[1] : "") << "\nstdout: " << r.out
                        << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.Json();
}

// The dashboard's partition table: name -> ENTRIES column.
std::map<std::string, std::uint64_t> EntriesOnScreen(const std::string& screen) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream lines(screen);
  std::string line;
  const std::regex row(R"(^(vectors|code|history|metadata|total) +([0-9]+) )");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) out[m[1]] = std::stoull(m[2]);
  }
  return out;
}

bool HasAllPartitions(const std::string& screen) {
  const auto e = EntriesOnScreen(screen);
  for (const char* name : {"vectors", "code", "history", "metadata", "total"}) {
    if (e.count(name) == 0) return false;
  }
  return screen.find("hit rate") != std::string::npos && screen.find("ops/s") != std::string::npos;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

// After top exits: our echo, a fresh prompt, the dashboard gone (curses left
// the alternate screen) and the terminal back in canonical mode with echo
// (stty, run by the shell, prints the modes top left behind).
void ExpectShellBack(const TmuxTerminal& term, int exit_code) {
  std::string screen = term.WaitForText("top-exit=" + std::to_string(exit_code), std::chrono::seconds(20));
  CHECK(screen.find("PARTITION") == std::string::npos);
  CHECK(screen.find("terminal too small") == std::string::npos);
  // $((40+2)): the marker appears only in the output, not in the typed line.
  term.TypeLine(
      "stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo -e -icanon -e -echo | tr '\\n' ' '; echo modes-$((40+2))");
  screen = term.WaitForText("modes-42");
  INFO(screen);
  CHECK(screen.find("icanon echo modes-42") != std::string::npos);
}

}  // namespace

TEST_CASE("top draws every partition with the node's numbers and quits on q", "[top]") {
  if (!TmuxInstalled()) {
    WARN("SKIPPED: tmux is not installed (scripts/deps.sh installs it); the dashboard tests need it");
    return;
  }
  NodeProcess node;
  // Some records of three kinds before top starts.
  for (int i = 0; i < 3; ++i) {
    Json(node, {"code", "put", "src/file" + std::to_string(i) + ".cc"},
         "int f" + std::to_string(i) + "() { return " + std::to_string(i) + "; }\n");
  }
  Json(node, {"meta", "set", "owner", "alice"});
  Json(node, {"meta", "set", "project", "postdevai"});
  Json(node, {"context", "add", "session-1", "hello", "dashboard"});
  const JsonValue before_top = Json(node, {"memory", "stats"});

  TmuxTerminal term(80, 24);
  term.TypeLine(TopCommand(node.port()));
  std::string screen = term.WaitFor(HasAllPartitions, "the dashboard");
  INFO("dashboard:\n" << screen);

  // Every partition row shows the node's entry count; the total adds up.
  auto entries = EntriesOnScreen(screen);
  std::uint64_t total = 0;
  for (const auto& p : before_top["partitions"].array) {
    CHECK(entries[p["kind"].string] == p["entries"].u64());
    total += p["entries"].u64();
  }
  CHECK(entries["code"] == 3);
  CHECK(entries["metadata"] == 2);
  CHECK(entries["total"] == total);
  CHECK(screen.find("connected") != std::string::npos);
  CHECK(screen.find("sync lag") != std::string::npos);
  CHECK(screen.find("WAL") != std::string::npos);

  // Reads and writes while top watches: its 60-second window must count
  // exactly what the node counted meanwhile, with the same hit rate.
  const JsonValue before = Json(node, {"memory", "stats"});
  constexpr int kWrites = 5, kReads = 4;
  for (int i = 0; i < kWrites; ++i) Json(node, {"meta", "set", "key" + std::to_string(i), "value"});
  for (int i = 0; i < kReads; ++i) Json(node, {"code", "get", "--path", "src/file" + std::to_string(i % 3) + ".cc"});
  const JsonValue after = Json(node, {"memory", "stats"});
  const std::uint64_t reads = after["reads"].u64() - before["reads"].u64();
  const std::uint64_t writes = after["writes"].u64() - before["writes"].u64();
  const std::uint64_t hits = after["ram_hits"].u64() - before["ram_hits"].u64();
  CHECK(reads == kReads);
  CHECK(writes == kWrites);
  const std::string window = "last 60s: " + std::to_string(reads) + " reads, " + std::to_string(writes) + " writes";
  screen = term.WaitForText(window);
  CHECK(screen.find("last 60s " + Percent(static_cast<double>(hits) / static_cast<double>(reads))) != std::string::npos);
  CHECK(EntriesOnScreen(screen)["metadata"] == 2 + kWrites);
  // Since the node started: its own hit rate, on the total row and the hit rate line.
  CHECK(screen.find("since start " + Percent(after["hit_rate"].number)) != std::string::npos);

  // Compression comes from the store breakdown (every 10 s at most): once
  // it covers the new records, ratio and count are `memory breakdown`'s.
  const JsonValue breakdown = Json(node, {"memory", "breakdown"});
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2fx", breakdown["store_total"]["compression_ratio"].number);
  const std::string records = std::to_string(breakdown["store_total"]["entries"].u64()) + " records)";
  screen = term.WaitForText(records, std::chrono::seconds(30));
  CHECK(screen.find(std::string("compression ") + ratio) != std::string::npos);

  term.Press("q");
  ExpectShellBack(term, 0);
  // Leaving the shell closes the only pane: the session is gone.
  term.TypeLine("exit");
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (term.SessionAlive() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(term.SessionAlive());
}

TEST_CASE("top in a small terminal says so, draws once it grows, and Ctrl-C quits", "[top]") {
  if (!TmuxInstalled()) {
    WARN("SKIPPED: tmux is not installed (scripts/deps.sh installs it); the dashboard tests need it");
    return;
  }
  NodeProcess node;
  Json(node, {"meta", "set", "k", "v"});
  // LC_ALL=C: no UTF-8, so top must fall back to ASCII bars and sparklines.
  TmuxTerminal term(60, 15, {"LC_ALL=C"});
  term.TypeLine(TopCommand(node.port(), "--interval 0.5"));
  std::string screen = term.WaitForText("terminal too small");
  CHECK(screen.find("60x15, top needs 80x24") != std::string::npos);

  REQUIRE(term.Tmux({"resize-window", "-t", "top", "-x", "80", "-y", "24"}).exit_code == 0);
  screen = term.WaitFor(HasAllPartitions, "the dashboard after resizing");
  INFO(screen);
  CHECK(screen.find("terminal too small") == std::string::npos);
  CHECK(screen.find("every 500ms") != std::string::npos);
  // ASCII only: every byte on the screen is 7-bit.
  CHECK(std::none_of(screen.begin(), screen.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }));
  CHECK(EntriesOnScreen(screen)["metadata"] == 1);

  term.Press("C-c");
  ExpectShellBack(term, 0);
}

TEST_CASE("top against an unreachable node: one line, exit 3, no dashboard", "[top]") {
  if (!TmuxInstalled()) {
    WARN("SKIPPED: tmux is not installed (scripts/deps.sh installs it); the dashboard tests need it");
    return;
  }
  TmuxTerminal term(80, 24);
  const std::uint16_t port = UnusedPort();
  term.TypeLine(TopCommand(port));
  std::string screen = term.WaitForText("top-exit=3");
  INFO(screen);
  CHECK(screen.find("postdevai-cli: no dragon_node reachable at 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(screen.find("PARTITION") == std::string::npos);

  // Without a terminal: refused before connecting.
  CliResult r = RunCli({"--node", "127.0.0.1:" + std::to_string(port), "top"});
  CHECK(r.exit_code == 2);
  CHECK(r.ErrIsOneLine());
  CHECK(r.err.find("top needs a terminal") != std::string::npos);
  // Bad options: one line, exit 2.
  r = RunCli({"top", "--interval", "0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad --interval '0'") != std::string::npos);
  r = RunCli({"--json", "top"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no --json output") != std::string::npos);
  r = RunCli({"top", "--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--interval SECONDS") != std::string::npos);
}

TEST_CASE("top shows a lost node, keeps retrying, reconnects when it is back, and q still quits", "[top]") {
  if (!TmuxInstalled()) {
    WARN("SKIPPED: tmux is not installed (scripts/deps.sh installs it); the dashboard tests need it");
    return;
  }
  NodeProcess node;
  // The node comes back on the same port: pin the one it got.
  {
    std::string config = ReadFile(node.config_path());
    const std::string any = "[node]\nport = 0\n";
    REQUIRE(config.find(any) != std::string::npos);
    config.replace(config.find(any), any.size(), "[node]\nport = " + std::to_string(node.port()) + "\n");
    WriteFile(node.config_path(), config);
  }
  Json(node, {"meta", "set", "k", "v"});

  TmuxTerminal term(80, 24);
  // --timeout 5 (shorter than top's own 10 s): a request the dead
  // connection swallows gives up sooner.
  term.TypeLine(TopCommand(node.port(), "--timeout 5"));
  term.WaitFor(HasAllPartitions, "the dashboard");

  node.Stop();
  std::string screen = term.WaitForText("CONNECTION LOST", std::chrono::seconds(30));
  // It keeps trying: the attempt count grows.
  screen = term.WaitFor(
      [](const std::string& s) {
        std::smatch m;
        return std::regex_search(s, m, std::regex(R"(\(attempt ([0-9]+)\))")) && std::stoi(m[1]) >= 3;
      },
      "a third reconnect attempt");
  INFO(screen);
  CHECK(screen.find("127.0.0.1:" + std::to_string(node.port())) != std::string::npos);
  // The last figures stay on screen.
  CHECK(HasAllPartitions(screen));

  node.Start();
  screen = term.WaitForText("reconnected 1x", std::chrono::seconds(40));
  CHECK(screen.find("CONNECTION LOST") == std::string::npos);
  CHECK(EntriesOnScreen(screen)["metadata"] == 1);

  // And q while the node is gone again.
  node.Stop();
  term.WaitForText("CONNECTION LOST", std::chrono::seconds(30));
  term.Press("q");
  ExpectShellBack(term, 0);
}
