// postdevai-bench soak: a dragon_node under mixed load from many gRPC clients
// (metadata puts, deletes and gets, code files with the built-in embedder,
// session appends, text searches, forced checkpoints) while, at random
// moments, the node is killed with SIGKILL and restarted, its data disk is
// filled to the last byte for a while, and its RAM disk is filled before a
// restart. At the end the node is restarted once more and every write that
// was acknowledged is read back.
//
// Each client owns its keys, files and session, so the value a key must hold
// is known: the last acknowledged write, or one of the writes after it whose
// outcome is unknown (they failed, possibly after reaching the log). A read
// that returns anything else, or misses an acknowledged value, is a lost write.
//
// The disks are file systems of their own (tests/small_disk.h: an ext4 loop
// image for the data, a tmpfs for the RAM-Lake), so "full" is the kernel's
// ENOSPC. Mounting needs root; without it the scenario runs with the kills
// only and says so.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/json_writer.h"
#include "bench/node_process.h"
#include "bench/scenarios.h"
#include "rpc/grpc_client.h"
#include "tests/small_disk.h"

namespace postdevai::bench {
namespace {

using Clock = std::chrono::steady_clock;
using testing::SmallDisk;

struct Options {
  double seconds = 600;
  int clients = 8;
  int keys_per_client = 1500;
  int max_value_bytes = 16 * 1024;
  double chaos_min_s = 15, chaos_max_s = 40;  // between two chaos events
  bool json = false;
  std::uint64_t seed = 1;
};

// The value of write `version` of `key`: reproducible from both, of a size
// between 64 bytes and max_bytes, and compressible about as much as code.
std::string ValueOf(const std::string& key, std::uint64_t version, int max_bytes) {
  std::mt19937_64 rng(std::hash<std::string>{}(key) * 31 + version);
  const std::size_t size = 64 + rng() % static_cast<std::uint64_t>(max_bytes - 63);
  std::string v = key + "#" + std::to_string(version) + ":";
  static const char kWords[][8] = {"int ", "return ", "if (", "x", "y", " = ", ";\n", "value", "++", "}\n"};
  while (v.size() < size) v += rng() % 4 == 0 ? std::string(1, static_cast<char>('a' + rng() % 26)) : kWords[rng() % 10];
  v.resize(size);
  return v;
}

// What one key may hold: the last acknowledged write (nullopt: absent, i.e.
// never written or deleted) and the writes after it whose outcome is unknown.
struct KeyState {
  bool ever_acknowledged = false;
  std::optional<std::uint64_t> acknowledged;  // version; nullopt: deleted / absent
  std::set<std::optional<std::uint64_t>> unknown;
  bool Accepts(const std::optional<std::uint64_t>& found) const {
    return found == acknowledged || unknown.count(found) != 0;
  }
};

struct Counters {
  std::atomic<std::uint64_t> ops{0}, acknowledged_writes{0}, failed_writes{0}, reads{0}, read_errors{0};
  std::atomic<std::uint64_t> searches{0}, checkpoints{0}, appends_acknowledged{0}, files_acknowledged{0};
  std::atomic<std::uint64_t> wrong_reads_live{0};  // a successful read that no write explains
  std::mutex first_problem_mu;
  std::string first_problem;
  void Problem(const std::string& what) {
    std::lock_guard lock(first_problem_mu);
    if (first_problem.empty()) first_problem = what;
  }
};

// One client: its keys k<c>-<i>, its files src/c<c>/f<i>.cc, its session s<c>.
struct ClientLedger {
  std::vector<KeyState> keys;
  std::vector<std::uint64_t> next_version;
  std::map<int, KeyState> files;         // file index -> version of its content
  std::vector<std::string> appended;     // acknowledged appends, in order
  std::set<std::string> maybe_appended;  // appends that failed (may be in the log)
};

std::string KeyName(int client, int i) { return "k" + std::to_string(client) + "-" + std::to_string(i); }
std::string FilePath(int client, int i) { return "src/c" + std::to_string(client) + "/f" + std::to_string(i) + ".cc"; }
std::string Session(int client) { return "soak-session-" + std::to_string(client); }

// The version a stored value says it is (ValueOf's "key#version:"), if it is one of key's.
std::optional<std::uint64_t> VersionIn(const std::string& key, const std::string& value) {
  const std::string prefix = key + "#";
  if (value.rfind(prefix, 0) != 0) return std::nullopt;
  const auto colon = value.find(':', prefix.size());
  if (colon == std::string::npos) return std::nullopt;
  return std::stoull(value.substr(prefix.size(), colon - prefix.size()));
}

bool IsWrite(int op) { return op < 60; }

void RunClient(int c, const Options& o, rpc::MemoryConnection* node, ClientLedger* ledger, Counters* counters,
               const std::atomic<bool>* stop) {
  std::mt19937_64 rng(o.seed * 1000 + static_cast<std::uint64_t>(c));
  int appends = 0;
  while (!stop->load()) {
    const int op = static_cast<int>(rng() % 100);
    const int i = static_cast<int>(rng() % static_cast<std::uint64_t>(o.keys_per_client));
    const std::string key = KeyName(c, i);
    KeyState& state = ledger->keys[i];
    Status outcome;
    if (op < 40) {  // put
      const std::uint64_t version = ++ledger->next_version[i];
      auto r = node->PutMetadata(key, ValueOf(key, version, o.max_value_bytes));
      outcome = r.status();
      if (r.ok()) {
        state.acknowledged = version;
        state.ever_acknowledged = true;
        state.unknown.clear();
      } else {
        state.unknown.insert(version);
      }
    } else if (op < 48) {  // delete
      auto r = node->DeleteMetadata(key);
      outcome = r.status();
      if (r.ok()) {
        state.acknowledged.reset();
        state.unknown.clear();
      } else {
        state.unknown.insert(std::nullopt);
      }
    } else if (op < 53) {  // a code file with its vectors (built-in embedder)
      const int f = i % 50;
      KeyState& file = ledger->files[f];
      const std::uint64_t version = ++ledger->next_version[i];
      client::CodeFile code;
      code.path = FilePath(c, f);
      code.language = "cpp";
      code.content = ValueOf(code.path, version, 4096);
      code.builtin_embedder = true;
      auto r = node->StoreCode(code);
      outcome = r.status();
      if (r.ok()) {
        file.acknowledged = version;
        file.ever_acknowledged = true;
        file.unknown.clear();
        counters->files_acknowledged++;
      } else {
        file.unknown.insert(version);
      }
    } else if (op < 60) {  // append to the client's session
      const std::string message = "c" + std::to_string(c) + " message " + std::to_string(appends++) + " " +
                                  std::string(rng() % 2000, 'm');
      auto r = node->AppendContext(Session(c), message);
      outcome = r.status();
      if (r.ok()) {
        ledger->appended.push_back(message);
        counters->appends_acknowledged++;
      } else {
        ledger->maybe_appended.insert(message);
      }
    } else if (op < 95) {  // read a key of ours
      counters->reads++;
      auto r = node->GetMetadata(key);
      if (r.ok() || r.status().IsNotFound()) {
        std::optional<std::uint64_t> found;
        if (r.ok()) found = VersionIn(key, r->value);
        const bool intact = !r.ok() || (found && r->value == ValueOf(key, *found, o.max_value_bytes));
        if (!intact || !state.Accepts(found)) {
          counters->wrong_reads_live++;
          counters->Problem("read of " + key + " returned " + (r.ok() ? r->value.substr(0, 40) : "nothing") +
                            " while the last acknowledged write was version " +
                            (state.acknowledged ? std::to_string(*state.acknowledged) : "none (deleted)"));
        }
        // What was read is now the settled state: a later read must agree.
        if (r.ok() ? found.has_value() : true) {
          state.acknowledged = found;
          state.unknown.clear();
        }
      } else {
        counters->read_errors++;
      }
    } else if (op < 99) {
      auto r = node->SearchText("return value " + std::to_string(i), 10);
      if (r.ok()) counters->searches++;
    } else {
      if (node->Sync().ok()) counters->checkpoints++;
    }
    counters->ops++;
    if (IsWrite(op)) {
      if (outcome.ok()) {
        counters->acknowledged_writes++;
      } else {
        counters->failed_writes++;
      }
    }
    // A node that is down answers at once: do not spin.
    if (!outcome.ok() && outcome.code() == StatusCode::kUnavailable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

std::string ConfigToml(const std::string& ram, const std::string& data, std::uint16_t port) {
  return "[hybrid_memory]\nramlake_size_gb = 0.0625\nramlake_path = \"" + ram + "/ramlake\"\npersistent_path = \"" +
         data + "/node\"\npersistent_size_tb = 0.001\ncache_size_mb = 16\nsync_interval_minutes = 1\n" +
         "[wal]\nsegment_size_mb = 4\narchive = false\n[metrics]\nenabled = false\n[node]\nport = " +
         std::to_string(port) + "\n";
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: postdevai-bench soak [--seconds S] [--clients N] [--keys N] [--value-bytes N]\n"
               "                            [--chaos-every MIN MAX] [--seed N] [--json]\n\n"
               "Mixed load on a dragon_node from N gRPC clients (default 8) for S seconds (default 600)\n"
               "with kill -9 and restart, a full data disk, and a full RAM disk at random moments every\n"
               "MIN..MAX seconds (default 15..40); then every acknowledged write is read back.\n"
               "Reports ops, kills, disk-full episodes and lost writes (the goal: 0). Full disks need\n"
               "root (a loop-mounted ext4 image and a tmpfs); without it only the kills run.\n"
               "Exit code: 0 when nothing was lost, 1 otherwise.\n");
}

}  // namespace

int RunSoakBench(const Args& args) {
  if (HasFlag(args, "--help") || HasFlag(args, "-h")) {
    Usage(stdout);
    return 0;
  }
  Options o;
  o.seconds = static_cast<double>(OptionInt(args, "--seconds", 600));
  o.clients = static_cast<int>(OptionInt(args, "--clients", 8));
  o.keys_per_client = static_cast<int>(OptionInt(args, "--keys", 1500));
  o.max_value_bytes = static_cast<int>(OptionInt(args, "--value-bytes", 16 * 1024));
  o.seed = static_cast<std::uint64_t>(OptionInt(args, "--seed", 1));
  o.json = HasFlag(args, "--json");
  for (std::size_t a = 0; a + 2 < args.size(); ++a) {
    if (args[a] == "--chaos-every") {
      o.chaos_min_s = std::stod(args[a + 1]);
      o.chaos_max_s = std::stod(args[a + 2]);
    }
  }
  if (o.seconds <= 0 || o.clients < 1 || o.clients > 256 || o.keys_per_client < 1 || o.max_value_bytes < 64 ||
      o.chaos_min_s <= 0 || o.chaos_max_s < o.chaos_min_s) {
    std::fprintf(stderr, "soak: bad option (see --help)\n");
    return 2;
  }

  // The disks: an ext4 loop image for the data, a tmpfs for the RAM-Lake.
  SmallDisk data(SmallDisk::Kind::kExt4, 768u << 20, "bench-soak-data");
  SmallDisk ram(SmallDisk::Kind::kRamDisk, 96u << 20, "bench-soak-ram");
  const bool full_disks = data.mounted() && ram.mounted();
  testing::TempDir plain("bench-soak");
  const std::string data_dir = data.mounted() ? data.path() : plain.path() + "/data";
  const std::string ram_dir = ram.mounted() ? ram.path() : "/dev/shm/postdevai-bench-soak-" + std::to_string(::getpid());
  if (!full_disks) {
    std::fprintf(stderr, "soak: cannot mount the scratch disks (%s%s): running the kills only\n", data.error().c_str(),
                 ram.error().c_str());
  }
  std::filesystem::create_directories(data_dir);
  std::filesystem::create_directories(ram_dir);
  const std::string config = plain.path() + "/dragon_node.toml";
  const std::uint16_t port = FreePort();
  if (port == 0 || !WriteFile(config, ConfigToml(ram_dir, data_dir, port))) {
    std::fprintf(stderr, "soak: cannot write %s\n", config.c_str());
    return 1;
  }

  NodeProcess node("soak");
  if (!node.Start(config, false)) return 1;
  rpc::ConnectionOptions co;
  co.host = "127.0.0.1";
  co.port = port;
  co.timeout = std::chrono::seconds(20);
  auto connection = rpc::MemoryConnection::Connect(co);
  if (!connection.ok()) {
    std::fprintf(stderr, "soak: %s\n", connection.status().ToString().c_str());
    return 1;
  }

  Counters counters;
  std::vector<ClientLedger> ledgers(static_cast<std::size_t>(o.clients));
  for (auto& l : ledgers) {
    l.keys.resize(static_cast<std::size_t>(o.keys_per_client));
    l.next_version.resize(static_cast<std::size_t>(o.keys_per_client));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back(RunClient, c, std::cref(o), connection->get(), &ledgers[static_cast<std::size_t>(c)],
                         &counters, &stop);
  }

  // Chaos: one event at a time, at random moments.
  std::mt19937_64 rng(o.seed);
  std::uint64_t kills = 0, disk_full = 0, ram_full = 0, restarts_refused = 0;
  std::string restart_problem;
  auto restart = [&]() {
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (node.Start(config, false, &why)) return true;
      ++restarts_refused;
    }
    restart_problem = why;
    return false;
  };
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  bool node_up = true;
  while (Clock::now() < end && node_up) {
    const double wait = o.chaos_min_s + std::uniform_real_distribution<double>(0, o.chaos_max_s - o.chaos_min_s)(rng);
    const auto at = std::min(end, Clock::now() + std::chrono::duration<double>(wait));
    while (Clock::now() < at && node.process.Alive()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Clock::now() >= end) break;
    if (!node.process.Alive()) {
      std::fprintf(stderr, "soak: dragon_node died by itself:\n%s\n", ReadAll(node.log).c_str());
      node_up = restart();
      continue;
    }
    const int event = full_disks ? static_cast<int>(rng() % 3) : 0;
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (event == 0) {
      std::fprintf(stderr, "soak: %.0f s: kill -9\n", t);
      node.process.Kill();
      ++kills;
      node_up = restart();
    } else if (event == 1) {
      std::fprintf(stderr, "soak: %.0f s: data disk full for 8 s\n", t);
      data.FillLeaving(0);
      ++disk_full;
      std::this_thread::sleep_for(std::chrono::seconds(8));
      data.RemoveFiller();
    } else {
      // A reboot (kill -9, the RAM disk's files gone) after which the RAM
      // disk is full of others' files: the start must cope (a smaller RAM-Lake,
      // or none at all), and a later start gets the configured size back.
      const bool none_free = rng() % 2 == 0;
      std::fprintf(stderr, "soak: %.0f s: kill -9, RAM-Lake files gone, RAM disk %s; restart\n", t,
                   none_free ? "full" : "nearly full");
      node.process.Kill();
      std::filesystem::remove_all(ram_dir + "/ramlake");
      ram.FillLeaving(none_free ? 0 : (12u << 20));
      ++kills;
      ++ram_full;
      node_up = restart();
      std::this_thread::sleep_for(std::chrono::seconds(5));
      ram.RemoveFiller();
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  const double load_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Verification on a clean restart.
  const auto verify_start = Clock::now();
  node.process.Stop();
  if (node_up) node_up = restart();
  std::uint64_t lost = 0, checked = 0;
  std::string first_loss;
  auto lose = [&](const std::string& what) {
    ++lost;
    if (first_loss.empty()) first_loss = what;
  };
  if (node_up) {
    connection = rpc::MemoryConnection::Connect(co);
    if (!connection.ok()) node_up = false;
  }
  if (node_up) {
    rpc::MemoryConnection& check = **connection;
    for (int c = 0; c < o.clients; ++c) {
      const ClientLedger& l = ledgers[static_cast<std::size_t>(c)];
      for (int i = 0; i < o.keys_per_client; ++i) {
        const KeyState& state = l.keys[static_cast<std::size_t>(i)];
        if (!state.ever_acknowledged) continue;
        const std::string key = KeyName(c, i);
        auto r = check.GetMetadata(key);
        ++checked;
        if (!r.ok() && !r.status().IsNotFound()) {
          lose(key + ": " + r.status().ToString());
          continue;
        }
        std::optional<std::uint64_t> found;
        if (r.ok()) found = VersionIn(key, r->value);
        if ((r.ok() && (!found || r->value != ValueOf(key, *found, o.max_value_bytes))) || !state.Accepts(found)) {
          lose(key + ": holds " + (r.ok() ? "version " + (found ? std::to_string(*found) : "?") : "nothing") +
               ", the last acknowledged write was " +
               (state.acknowledged ? "version " + std::to_string(*state.acknowledged) : "a delete"));
        }
      }
      for (const auto& [f, state] : l.files) {
        if (!state.ever_acknowledged) continue;
        const std::string path = FilePath(c, f);
        auto r = check.GetCodeByPath(path);
        ++checked;
        std::optional<std::uint64_t> found;
        if (r.ok()) found = VersionIn(path, r->content);
        if (!r.ok() || !state.Accepts(found)) lose(path + ": " + (r.ok() ? "another version" : r.status().ToString()));
      }
      if (!l.appended.empty()) {
        auto context = check.GetContext(Session(c));
        ++checked;
        if (!context.ok()) {
          lose(Session(c) + ": " + context.status().ToString());
        } else {
          // Every acknowledged append, in order; between them only appends whose outcome was unknown.
          std::size_t next = 0;
          for (const auto& m : context->messages) {
            if (next < l.appended.size() && m == l.appended[next]) {
              ++next;
            } else if (l.maybe_appended.count(m) == 0) {
              lose(Session(c) + ": a message no append wrote: " + m.substr(0, 40));
            }
          }
          if (next != l.appended.size()) {
            lose(Session(c) + ": " + std::to_string(l.appended.size() - next) + " acknowledged appends missing");
          }
        }
      }
    }
  }
  const double verify_seconds = std::chrono::duration<double>(Clock::now() - verify_start).count();
  node.process.Stop();
  connection = Status::Unavailable("closed");
  if (!ram.mounted()) RemoveTree(ram_dir);

  const bool ok = node_up && lost == 0 && counters.wrong_reads_live == 0;
  JsonWriter out;
  out.BeginObject()
      .Field("scenario", "soak")
      .Field("seconds", load_seconds)
      .Field("clients", o.clients)
      .Field("ops", counters.ops.load())
      .Field("ops_per_s", static_cast<double>(counters.ops.load()) / load_seconds)
      .Field("writes_acknowledged", counters.acknowledged_writes.load())
      .Field("writes_failed", counters.failed_writes.load())
      .Field("appends_acknowledged", counters.appends_acknowledged.load())
      .Field("code_files_acknowledged", counters.files_acknowledged.load())
      .Field("reads", counters.reads.load())
      .Field("read_errors", counters.read_errors.load())
      .Field("searches", counters.searches.load())
      .Field("checkpoints", counters.checkpoints.load())
      .Field("kills", kills)
      .Field("disk_full_episodes", disk_full)
      .Field("ram_disk_full_episodes", ram_full)
      .Field("full_disks_tested", full_disks)
      .Field("restarts_refused", restarts_refused)
      .Field("records_checked", checked)
      .Field("lost_writes", lost)
      .Field("wrong_reads_during_load", counters.wrong_reads_live.load())
      .Field("verify_seconds", verify_seconds)
      .Field("node_served_to_the_end", node_up)
      .Field("first_problem", !restart_problem.empty() ? restart_problem
                              : !first_loss.empty()   ? first_loss
                                                      : counters.first_problem)
      .EndObject();
  std::fprintf(stderr,
               "soak: %.0f s, %llu ops (%.0f/s), %llu kills, %llu disk-full and %llu RAM-disk-full episodes, "
               "%llu records checked, %llu lost writes%s\n",
               load_seconds, static_cast<unsigned long long>(counters.ops.load()),
               static_cast<double>(counters.ops.load()) / load_seconds, static_cast<unsigned long long>(kills),
               static_cast<unsigned long long>(disk_full), static_cast<unsigned long long>(ram_full),
               static_cast<unsigned long long>(checked), static_cast<unsigned long long>(lost),
               ok ? "" : " -- FAILED");
  if (!ok) {
    std::fprintf(stderr, "soak: first problem: %s\n",
                 (!restart_problem.empty() ? restart_problem : !first_loss.empty() ? first_loss : counters.first_problem).c_str());
  }
  if (o.json) std::printf("%s\n", out.str().c_str());
  return ok ? 0 : 1;
}

}  // namespace postdevai::bench
