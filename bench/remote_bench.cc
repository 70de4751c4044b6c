// postdevai-bench remote: a real dragon_node process served over loopback TCP
// through its gRPC API (postdevai.memory.v1) and its CAF endpoint, beside
// redis-benchmark against local redis-server processes, in the same run:
//   * 1 KiB point reads (GetMetadata / CAF read) and durable writes
//     (PutMetadata / CAF write: acknowledged after the WAL's fdatasync) with 1
//     and 50 clients, beside redis-benchmark GET and SET (-d 1024, no
//     pipelining), SET also against a redis-server with appendfsync always;
//   * a text search (limit 10) through gRPC beside the same search in-process
//     (the facade, postdevai::HybridMemory) over the same corpus.
// It reports throughput, latency percentiles and the CPU each side spent per
// operation (the machine's cores are shared by the node, the load generator
// and Redis), the ratios against the peers and the issue's goals.
//
// Processes: the bench kills only the children it started (by their pid,
// checked > 0), which also die with it (PR_SET_PDEATHSIG); it removes its
// scratch directory and its /dev/shm directory when it ends.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/remote.h"
#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/node_process.h"
#include "bench/remote_grpc.h"
#include "bench/scenarios.h"
#include "postdevai/config.h"
#include "postdevai/hybrid_memory.h"

namespace postdevai::bench {
namespace {

using namespace postdevai::actors;
using remote::GrpcOp;

// ---------------------------------------------------------------------------
// Options

struct Options {
  double seconds = 5;     // per measured leg
  double warmup = 0.5;    // before each measured leg (same clients)
  int keys = 10000;
  std::vector<int> clients = {1, 50};
  remote::GrpcDriver driver = remote::GrpcDriver::kCompletionQueue;
  int grpc_threads = 2;
  int grpc_channels = 0;  // 0: one per client
  bool grpc_shared_channel = true;  // also the clients' calls on one channel
  bool grpc_retries = false;
  int files = 3000;
  int file_bytes = 3072;
  int searches = 1000;
  bool search_ingest = true;  // store the corpus with IngestCode (else one StoreCode per file)
  bool grpc = true, caf = true, redis = true, search = true;
  bool reads = true, writes = true;
  bool json = false;
};

void PrintHelp() {
  std::printf(
      "usage: postdevai-bench remote [--quick] [--seconds S (5)] [--warmup S (0.5)] [--keys N (10000)]\n"
      "                              [--clients 1,50] [--grpc-driver cq|callback (cq)] [--grpc-threads N (2)]\n"
      "                              [--grpc-channels N (0: one per client)] [--no-shared-channel] [--grpc-retries]\n"
      "                              [--files N (3000)] [--file-bytes B (3072)] [--searches N (1000)]\n"
      "                              [--search-store ingest|unary (ingest)]\n"
      "                              [--ops read,write] [--no-grpc] [--no-caf] [--no-redis] [--no-search] [--json]\n"
      "A dragon_node on loopback: 1 KiB point reads and durable writes through its gRPC API and its CAF\n"
      "endpoint with 1 and 50 clients, beside redis-benchmark GET and SET (-d 1024, no pipelining) against\n"
      "a redis-server the bench starts (SET also with appendonly yes, appendfsync always), and a text search\n"
      "(limit 10) through gRPC beside the same search in-process (HybridMemory) over the same corpus.\n"
      "--quick: --seconds 1 --warmup 0.2 --keys 2000 --files 500 --searches 200 (under a minute).\n"
      "Needs redis-server and redis-benchmark (Debian packages redis-server, redis-tools).\n"
      "Data: $POSTDEVAI_BENCH_DIR or the temp dir (a real disk: WAL and AOF fsyncs), RAM-Lakes in /dev/shm.\n");
}

// Throws std::invalid_argument (from std::stod) or std::runtime_error with
// what is wrong.
Options ParseOptions(const Args& args) {
  Options o;
  if (HasFlag(args, "--quick")) {
    o.seconds = 1;
    o.warmup = 0.2;
    o.keys = 2000;
    o.files = 500;
    o.searches = 200;
  }
  o.seconds = std::stod(OptionValue(args, "--seconds", std::to_string(o.seconds)));
  o.warmup = std::stod(OptionValue(args, "--warmup", std::to_string(o.warmup)));
  o.keys = static_cast<int>(OptionInt(args, "--keys", o.keys));
  o.files = static_cast<int>(OptionInt(args, "--files", o.files));
  o.file_bytes = static_cast<int>(OptionInt(args, "--file-bytes", o.file_bytes));
  o.searches = static_cast<int>(OptionInt(args, "--searches", o.searches));
  o.search_ingest = OptionValue(args, "--search-store", "ingest") != "unary";
  o.grpc_threads = static_cast<int>(OptionInt(args, "--grpc-threads", o.grpc_threads));
  o.grpc_channels = static_cast<int>(OptionInt(args, "--grpc-channels", o.grpc_channels));
  o.grpc_retries = HasFlag(args, "--grpc-retries");
  o.grpc_shared_channel = !HasFlag(args, "--no-shared-channel");
  o.driver = OptionValue(args, "--grpc-driver", "cq") == "callback" ? remote::GrpcDriver::kCallback
                                                                     : remote::GrpcDriver::kCompletionQueue;
  const std::string list = OptionValue(args, "--clients", "");
  if (!list.empty()) {
    o.clients.clear();
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');) {
      if (std::atoi(item.c_str()) > 0) o.clients.push_back(std::atoi(item.c_str()));
    }
  }
  o.grpc = !HasFlag(args, "--no-grpc");
  o.caf = !HasFlag(args, "--no-caf");
  o.redis = !HasFlag(args, "--no-redis");
  o.search = !HasFlag(args, "--no-search");
  const std::string ops = OptionValue(args, "--ops", "read,write");
  o.reads = ops.find("read") != std::string::npos;
  o.writes = ops.find("write") != std::string::npos;
  o.json = HasFlag(args, "--json");
  const std::string store = OptionValue(args, "--search-store", "ingest");
  const std::string driver = OptionValue(args, "--grpc-driver", "cq");
  if (!(o.seconds > 0) || o.warmup < 0) throw std::runtime_error("--seconds must be > 0 and --warmup >= 0");
  if (o.keys < 1 || o.clients.empty()) throw std::runtime_error("--keys must be >= 1 and --clients a list like 1,50");
  if (o.files < 1 || o.file_bytes < 1 || o.searches < 0) throw std::runtime_error("--files and --file-bytes must be >= 1");
  if (o.grpc_threads < 1 || o.grpc_channels < 0) throw std::runtime_error("--grpc-threads must be >= 1");
  if (store != "ingest" && store != "unary") throw std::runtime_error("--search-store is ingest or unary");
  if (driver != "cq" && driver != "callback") throw std::runtime_error("--grpc-driver is cq or callback");
  if (!o.reads && !o.writes) throw std::runtime_error("--ops is read, write or read,write");
  return o;
}

std::vector<GrpcOp> LegOps(const Options& o) {
  std::vector<GrpcOp> ops;
  if (o.reads) ops.push_back(GrpcOp::kRead);
  if (o.writes) ops.push_back(GrpcOp::kWrite);
  return ops;
}

// ---------------------------------------------------------------------------
// Processes and CPU accounting

// The executable `name` on PATH, or empty.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

double RusageSeconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU seconds every process of the machine has used (/proc/stat).
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Removes what an earlier run that was killed (and so could not clean up)
// left in `root`: postdevai-bench-remote-<pid> whose process is gone.
void RemoveStaleRuns(const std::string& root) {
  std::error_code ec;
  const std::string prefix = "postdevai-bench-remote-";
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::fprintf(stderr, "remote: removing %s, left by a run that was killed\n", entry.path().c_str());
    RemoveTree(entry.path().string());
  }
}

// ---------------------------------------------------------------------------
// The node

// The node's config, and the same engine settings for the in-process one.
std::string EngineConfigToml(const std::string& ram, const std::string& disk) {
  std::ostringstream out;
  out << "[hybrid_memory]\nramlake_size_gb = 0.5\nramlake_path = \"" << ram << "\"\npersistent_path = \"" << disk
      << "\"\npersistent_size_tb = 0.004\ncache_size_mb = 64\n"
      << "[wal]\narchive = false\n"
      << "[metrics]\nenabled = false\n";
  return out.str();
}

// ---------------------------------------------------------------------------
// Figures of one leg

struct Leg {
  bool ran = false;
  std::uint64_t ops = 0, errors = 0;
  double per_s = 0, p50_us = 0, p99_us = 0;
  double client_cpu_us_per_op = -1;  // the load generator's CPU per operation
  double server_cpu_us_per_op = -1;  // the server process's CPU per operation
  double writes_per_fsync = -1;      // node writes: WAL records per fdatasync (group commit)
};

double PerOp(double cpu_seconds, std::uint64_t ops) {
  return ops > 0 && cpu_seconds >= 0 ? cpu_seconds * 1e6 / static_cast<double>(ops) : -1;
}

// WAL records per fdatasync over a leg, from the node's Stats (through gRPC).
struct WalProbe {
  remote::GrpcClients* stats = nullptr;
  std::uint64_t syncs = 0, records = 0;
  bool ok = false;
  void Begin() { ok = stats && stats->WalCounters(&syncs, &records); }
  double RecordsPerSync() const {
    std::uint64_t s = 0, r = 0;
    if (!ok || !stats->WalCounters(&s, &r) || s <= syncs) return -1;
    return static_cast<double>(r - records) / static_cast<double>(s - syncs);
  }
};

// The gRPC legs of `clients` clients over `channels` channels, named
// grpc_<op>_<clients><suffix>.
bool RunGrpcLegs(const Options& o, const std::string& target, NodeProcess& node, remote::GrpcClients* stats, int clients,
                 int channels, const std::string& suffix, std::map<std::string, Leg>* legs) {
  remote::GrpcClientOptions co;
  co.target = target;
  co.keys = o.keys;
  co.value_bytes = 1024;
  co.channels = channels;
  co.threads = o.grpc_threads;
  co.driver = o.driver;
  co.retries = o.grpc_retries;
  std::string error;
  auto grpc_clients = remote::GrpcClients::Connect(co, &error);
  if (!grpc_clients) {
    std::fprintf(stderr, "remote: %s\n", error.c_str());
    return false;
  }
  for (GrpcOp op : LegOps(o)) {
    const std::string name =
        std::string("grpc_") + (op == GrpcOp::kRead ? "read_" : "write_") + std::to_string(clients) + suffix;
    (void)grpc_clients->Run(op, clients, o.warmup);
    WalProbe wal{stats};
    wal.Begin();
    const double self0 = RusageSeconds(RUSAGE_SELF), node0 = node.CpuSeconds();
    auto r = grpc_clients->Run(op, clients, o.seconds);
    const double self1 = RusageSeconds(RUSAGE_SELF), node1 = node.CpuSeconds();
    if (op == GrpcOp::kWrite) (*legs)[name].writes_per_fsync = wal.RecordsPerSync();
    if (!node.Check()) return false;
    Leg& leg = (*legs)[name];
    leg.ran = true;
    leg.ops = r.ops;
    leg.errors = r.errors;
    leg.per_s = r.ops_per_s();
    leg.p50_us = r.latency.PercentileMicros(0.5);
    leg.p99_us = r.latency.PercentileMicros(0.99);
    leg.client_cpu_us_per_op = PerOp(self1 - self0, r.ops);
    leg.server_cpu_us_per_op = PerOp(node1 - node0, r.ops);
    if (r.errors > 0) {
      std::fprintf(stderr, "remote: %s: %llu errors, first: %s\n", name.c_str(),
                   static_cast<unsigned long long>(r.errors), r.first_error.c_str());
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// CAF clients (the endpoint's public protocol, one connection per process)

struct CafRun {
  std::uint64_t ops = 0, errors = 0;
  std::string first_error;
  double seconds = 0;
  LatencyRecorder latency;
};

// `clients` actors, each with one request outstanding at a time, for `seconds`.
CafRun CafLoop(caf::actor_system& sys, const engine_actor& node, GrpcOp op, int clients, int keys, double seconds) {
  struct Shared {
    std::mutex mu;
    CafRun run;
    int done = 0;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  const auto& values = remote::ValuePool(1024);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int c = 0; c < clients; ++c) {
    sys.spawn([=, &values](caf::event_based_actor* self) {
      struct Tally {
        LatencyRecorder latency;
        std::uint64_t errors = 0;
        std::string first_error;
      };
      auto tally = std::make_shared<Tally>();
      // The loop holds itself only through the request in flight: when it
      // stops issuing, the last handler's return frees it.
      auto loop = std::make_shared<std::function<void(std::uint64_t)>>();
      std::weak_ptr<std::function<void(std::uint64_t)>> weak = loop;
      *loop = [=, &values](std::uint64_t i) {
        auto next = weak.lock();
        if (Clock::now() >= deadline) {
          std::lock_guard lock(shared->mu);
          shared->run.ops += tally->latency.count();
          shared->run.errors += tally->errors;
          if (shared->run.first_error.empty()) shared->run.first_error = tally->first_error;
          shared->run.latency.Merge(tally->latency);
          ++shared->done;
          shared->cv.notify_all();
          self->quit();
          return;
        }
        const auto t0 = Clock::now();
        const std::uint64_t k = (i * 7919 + static_cast<std::uint64_t>(c) * 104729) % static_cast<std::uint64_t>(keys);
        auto failed = [=](caf::error& e) {
          if (tally->errors++ == 0) tally->first_error = caf::to_string(e);
          (*next)(i + 1);
        };
        auto ok = [=] {
          tally->latency.Add(static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
          (*next)(i + 1);
        };
        if (op == GrpcOp::kRead) {
          self->request(node, std::chrono::seconds(30), read_atom_v, DataKind::kMetadata, "k" + std::to_string(k),
                        std::string())
              .then([=](read_result&) { ok(); }, failed);
        } else {
          write_batch batch;
          batch.mutations.push_back(records::MakePut(DataKind::kMetadata, "k" + std::to_string(k), values[i % values.size()]));
          self->request(node, std::chrono::seconds(30), write_atom_v, std::move(batch))
              .then([=](std::uint64_t) { ok(); }, failed);
        }
      };
      (*loop)(0);
    });
  }
  std::unique_lock lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->done == clients; });
  shared->run.seconds = SecondsSince(start);
  return std::move(shared->run);
}

// ---------------------------------------------------------------------------
// Redis

// A redis-server of ours on a free loopback port.
struct Redis {
  ChildProcess process;
  std::uint16_t port = 0;

  bool Start(const std::string& exe, const std::string& dir, bool fsync_always) {
    std::filesystem::create_directories(dir);
    port = FreePort();
    std::vector<std::string> argv = {exe, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                                     "--dir", dir, "--daemonize", "no"};
    if (fsync_always) {
      argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always"});
    } else {
      argv.insert(argv.end(), {"--appendonly", "no"});
    }
    if (!process.Spawn(fsync_always ? "redis-server (appendfsync always)" : "redis-server", argv, dir + "/redis.log"))
      return false;
    for (int i = 0; i < 200; ++i) {
      std::string reply;
      if (Send("*1\r\n$4\r\nPING\r\n", 1, &reply) && reply.rfind("+PONG", 0) == 0) return process.Alive();
      if (!process.Alive()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    std::fprintf(stderr, "remote: redis-server did not start on port %u:\n%s\n", port,
                 ReadAll(dir + "/redis.log").c_str());
    return false;
  }

  // Sends `commands` (RESP), reads `replies` replies of one line each.
  bool Send(const std::string& commands, std::size_t replies, std::string* first_reply) const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    std::size_t sent = 0;
    std::string in;
    std::size_t lines = 0;
    char buf[65536];
    // Write and read in turns so neither side's buffers fill up.
    while (ok && (sent < commands.size() || lines < replies)) {
      if (sent < commands.size()) {
        const ssize_t n = ::send(fd, commands.data() + sent, std::min<std::size_t>(commands.size() - sent, 1 << 16), 0);
        if (n <= 0) ok = false;
        else sent += static_cast<std::size_t>(n);
      }
      const ssize_t r = ::recv(fd, buf, sizeof buf, sent < commands.size() ? MSG_DONTWAIT : 0);
      if (r == 0) ok = false;
      if (r > 0) {
        in.append(buf, static_cast<std::size_t>(r));
        lines = static_cast<std::size_t>(std::count(in.begin(), in.end(), '\n'));
      }
    }
    ::close(fd);
    if (first_reply) *first_reply = in.substr(0, in.find('\n'));
    return ok;
  }

  // SET key:%012d (redis-benchmark's -r key names) for every key.
  bool Fill(int keys, const std::vector<std::string>& values) const {
    std::string commands;
    for (int k = 0; k < keys; ++k) {
      char key[32];
      std::snprintf(key, sizeof key, "key:%012d", k);
      const std::string& v = values[static_cast<std::size_t>(k) % values.size()];
      commands += "*3\r\n$3\r\nSET\r\n$" + std::to_string(std::strlen(key)) + "\r\n" + key + "\r\n$" +
                  std::to_string(v.size()) + "\r\n" + v + "\r\n";
    }
    std::string first;
    return Send(commands, static_cast<std::size_t>(keys), &first) && first.rfind("+OK", 0) == 0;
  }
};

struct RedisBenchResult {
  bool ok = false;
  double rps = 0, p50_us = 0, p99_us = 0;
  double client_cpu_s = 0, server_cpu_s = 0;
};

RedisBenchResult RunRedisBenchmark(const std::string& exe, const Redis& server, const std::string& test, int clients,
                                   int keys, std::uint64_t requests, int value_bytes) {
  const std::string cmd = exe + " -h 127.0.0.1 -p " + std::to_string(server.port) + " -t " + test + " --csv -c " +
                          std::to_string(clients) + " -n " + std::to_string(requests) + " -r " + std::to_string(keys) +
                          " -d " + std::to_string(value_bytes) + " -P 1 2>/dev/null";
  RedisBenchResult r;
  const double children0 = RusageSeconds(RUSAGE_CHILDREN);
  const double server0 = ProcessCpuSeconds(server.process.pid);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::string out;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  r.client_cpu_s = RusageSeconds(RUSAGE_CHILDREN) - children0;
  r.server_cpu_s = ProcessCpuSeconds(server.process.pid) - server0;
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  std::string upper = test;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const std::regex row("\"" + upper + R"re(","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)")re");
  std::smatch m;
  if (!std::regex_search(out, m, row)) {
    std::fprintf(stderr, "remote: could not read redis-benchmark's output for %s:\n%s\n", test.c_str(), out.c_str());
    return r;
  }
  r.rps = std::stod(m[1]);
  r.p50_us = std::stod(m[4]) * 1000;
  r.p99_us = std::stod(m[6]) * 1000;
  r.ok = true;
  return r;
}

// redis-benchmark has no duration: a short run sizes the measured one.
Leg RedisLeg(const std::string& exe, const Redis& server, const std::string& test, int clients, int keys,
             const Options& o) {
  Leg leg;
  RedisBenchResult probe = RunRedisBenchmark(exe, server, test, clients, keys, 2000, 1024);
  if (!probe.ok) return leg;
  const auto requests = static_cast<std::uint64_t>(std::max(2000.0, probe.rps * o.seconds));
  RedisBenchResult r = RunRedisBenchmark(exe, server, test, clients, keys, requests, 1024);
  if (!r.ok) return leg;
  leg.ran = true;
  leg.ops = requests;
  leg.per_s = r.rps;
  leg.p50_us = r.p50_us;
  leg.p99_us = r.p99_us;
  leg.client_cpu_us_per_op = PerOp(r.client_cpu_s, requests);
  leg.server_cpu_us_per_op = PerOp(r.server_cpu_s, requests);
  return leg;
}

// ---------------------------------------------------------------------------
// The search corpus: synthetic C++ files and queries over their vocabulary.

struct Corpus {
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::string> queries;
};

Corpus MakeCorpus(int files, int file_bytes, int queries) {
  static const char* roots[] = {
      "parse",  "token",   "buffer", "config", "socket", "stream", "cache",  "index",  "vector", "query",
      "record", "journal", "batch",  "commit", "reader", "writer", "schema", "field",  "matrix", "kernel",
      "thread", "worker",  "queue",  "timer",  "signal", "handle", "client", "server", "packet", "header",
      "digest", "cipher",  "frame",  "chunk",  "window", "layout", "render", "widget", "event",  "policy",
      "ledger", "tensor",  "sparse", "shard",  "replica", "lease", "quorum", "epoch",  "snapshot", "compact"};
  constexpr std::size_t kRoots = sizeof(roots) / sizeof(roots[0]);
  std::mt19937_64 rng(20240601);
  auto ident = [&] { return std::string(roots[rng() % kRoots]) + "_" + roots[rng() % kRoots]; };
  Corpus c;
  for (int f = 0; f < files; ++f) {
    std::string text = "// " + ident() + ": " + roots[rng() % kRoots] + " " + roots[rng() % kRoots] + "\n#include <" +
                       roots[rng() % kRoots] + ".h>\n\nnamespace " + roots[rng() % kRoots] + " {\n\n";
    while (text.size() < static_cast<std::size_t>(file_bytes)) {
      const std::string fn = ident(), a = ident(), b = ident();
      text += "// " + std::string(roots[rng() % kRoots]) + " the " + roots[rng() % kRoots] + " before " +
              roots[rng() % kRoots] + "\nStatus " + fn + "(const " + a + "& in, " + b + "* out) {\n  if (in." +
              ident() + "() > " + std::to_string(rng() % 4096) + ") return " + ident() + "(in);\n  out->" + ident() +
              " = in." + ident() + ";\n  return Status::Ok();\n}\n\n";
    }
    text += "}  // namespace\n";
    c.files.emplace_back("src/" + std::string(roots[f % kRoots]) + "/file_" + std::to_string(f) + ".cc", std::move(text));
  }
  for (int q = 0; q < queries; ++q) {
    c.queries.push_back(ident() + " " + roots[rng() % kRoots] + " " + roots[rng() % kRoots]);
  }
  return c;
}

struct SearchFigures {
  bool ran = false;
  double grpc_p50_us = 0, grpc_p99_us = 0, grpc_mean_us = 0;
  double local_p50_us = 0, local_p99_us = 0, local_mean_us = 0;
  double grpc_ingest_files_per_s = 0, local_store_files_per_s = 0;
  double same_top_hit_fraction = 0;
  double grpc_server_cpu_us_per_op = -1, grpc_client_cpu_us_per_op = -1, local_cpu_us_per_op = -1;
  std::uint64_t errors = 0;
  std::string error;
};

// Stores the corpus in the node (IngestCode, built-in embedder) and times
// the queries through gRPC, one at a time; then opens an engine in this
// process with the same settings (HybridMemory, StoreAndIndexCodeLexical),
// stores the same corpus and times the same queries. One after the other:
// an idle engine's CAF workers poll and would take CPU from the other side.
SearchFigures RunSearch(const std::string& target, const Options& o, const NodeProcess& node, const std::string& disk,
                        const std::string& ram) {
  SearchFigures search;
  const Corpus corpus = MakeCorpus(o.files, o.file_bytes, o.searches);
  const std::vector<std::string> warm(corpus.queries.begin(),
                                      corpus.queries.begin() + std::min<std::ptrdiff_t>(50, std::ssize(corpus.queries)));
  std::vector<std::string> grpc_top, local_top;
  {
    remote::GrpcClientOptions co;
    co.target = target;
    co.keys = 1;
    auto grpc_clients = remote::GrpcClients::Connect(co, &search.error);
    if (!grpc_clients) return search;
    const auto t0 = Clock::now();
    if (!(o.search_ingest ? grpc_clients->Ingest(corpus.files, &search.error)
                          : grpc_clients->StoreEach(corpus.files, &search.error))) {
      return search;
    }
    search.grpc_ingest_files_per_s = static_cast<double>(corpus.files.size()) / SecondsSince(t0);
    (void)grpc_clients->Search(warm, 10, nullptr);  // the first queries fault pages in
    const double node0 = node.CpuSeconds(), self0 = RusageSeconds(RUSAGE_SELF);
    auto r = grpc_clients->Search(corpus.queries, 10, &grpc_top);
    const double node1 = node.CpuSeconds(), self1 = RusageSeconds(RUSAGE_SELF);
    search.errors += r.errors;
    if (r.errors > 0) search.error = "gRPC Search: " + r.first_error;
    search.grpc_p50_us = r.latency.PercentileMicros(0.5);
    search.grpc_p99_us = r.latency.PercentileMicros(0.99);
    search.grpc_mean_us = r.ops > 0 ? r.latency_sum_us / static_cast<double>(r.ops) : 0;
    search.grpc_server_cpu_us_per_op = PerOp(node1 - node0, r.ops);
    search.grpc_client_cpu_us_per_op = PerOp(self1 - self0, r.ops);
    if (r.ops == 0) return search;
  }
  const std::string config_path = disk + "/inproc.toml";
  if (!WriteFile(config_path, EngineConfigToml(ram, disk + "/data"))) {
    search.error = "cannot write " + config_path;
    return search;
  }
  std::vector<std::string> warnings;
  auto config = LoadConfigFile(config_path, &warnings);
  if (!config.ok()) {
    search.error = config.status().ToString();
    return search;
  }
  auto opened = HybridMemory::Open(*config);
  if (!opened.ok()) {
    search.error = "in-process engine: " + opened.status().ToString();
    return search;
  }
  std::unique_ptr<HybridMemory> local = std::move(*opened);
  const auto t0 = Clock::now();
  for (const auto& [path, content] : corpus.files) {
    auto id = local->StoreAndIndexCodeLexical(path, content, "cpp");
    if (!id.ok()) {
      search.error = "in-process StoreAndIndexCodeLexical: " + id.status().ToString();
      return search;
    }
  }
  search.local_store_files_per_s = static_cast<double>(corpus.files.size()) / SecondsSince(t0);
  for (const auto& q : warm) (void)local->SearchText(q, 10);
  LatencyRecorder local_latency;
  double local_sum = 0;
  const double local0 = RusageSeconds(RUSAGE_SELF);
  for (const auto& q : corpus.queries) {
    const auto s0 = Clock::now();
    auto hits = local->SearchText(q, 10);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s0).count();
    if (!hits.ok()) {
      ++search.errors;
      if (search.error.empty()) search.error = "in-process SearchText: " + hits.status().ToString();
      local_top.emplace_back();
      continue;
    }
    local_latency.Add(static_cast<std::uint64_t>(ns));
    local_sum += static_cast<double>(ns) / 1000;
    local_top.push_back(hits->empty() ? std::string() : hits->front().path);
  }
  search.local_cpu_us_per_op = PerOp(RusageSeconds(RUSAGE_SELF) - local0, local_latency.count());
  search.ran = local_latency.count() > 0;
  search.local_p50_us = local_latency.PercentileMicros(0.5);
  search.local_p99_us = local_latency.PercentileMicros(0.99);
  search.local_mean_us = local_latency.count() > 0 ? local_sum / static_cast<double>(local_latency.count()) : 0;
  std::size_t same = 0;
  for (std::size_t i = 0; i < std::min(grpc_top.size(), local_top.size()); ++i) {
    same += grpc_top[i] == local_top[i] && !grpc_top[i].empty();
  }
  search.same_top_hit_fraction =
      corpus.queries.empty() ? 0 : static_cast<double>(same) / static_cast<double>(corpus.queries.size());
  return search;
}

// ---------------------------------------------------------------------------
// Report

void Emit(JsonWriter& out, const std::string& name, const Leg& leg) {
  if (!leg.ran) return;
  out.Field(name + "_per_s", leg.per_s)
      .Field(name + "_p50_us", leg.p50_us)
      .Field(name + "_p99_us", leg.p99_us);
  if (leg.client_cpu_us_per_op >= 0) out.Field(name + "_client_cpu_us_per_op", leg.client_cpu_us_per_op);
  if (leg.server_cpu_us_per_op >= 0) out.Field(name + "_server_cpu_us_per_op", leg.server_cpu_us_per_op);
  if (leg.writes_per_fsync >= 0) out.Field(name + "_writes_per_fsync", leg.writes_per_fsync);
  if (leg.errors > 0) out.Field(name + "_errors", leg.errors);
}

}  // namespace

int RunRemoteBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    PrintHelp();
    return 0;
  }
  Options o;
  try {
    o = ParseOptions(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "remote: bad option: %s (see --help)\n", e.what());
    return 2;
  }
  const int value_bytes = 1024;

  std::string redis_server, redis_benchmark;
  if (o.redis) {
    redis_server = FindOnPath("redis-server");
    redis_benchmark = FindOnPath("redis-benchmark");
    if (redis_server.empty() || redis_benchmark.empty()) {
      std::fprintf(stderr,
                   "remote: %s not found on PATH: the bench runs Redis beside the node (install the Debian packages "
                   "redis-server and redis-tools, as scripts/deps.sh does), or pass --no-redis\n",
                   redis_server.empty() ? "redis-server" : "redis-benchmark");
      return 1;
    }
  }

  // What else runs on the machine meanwhile (reported: it skews every figure).
  const auto run_start = Clock::now();
  const double machine0 = MachineBusySeconds();
  const double ours0 = RusageSeconds(RUSAGE_SELF) + RusageSeconds(RUSAGE_CHILDREN);

  // Scratch: the node's and Redis's files on the work disk, RAM-Lakes in /dev/shm.
  const std::string dir = MakeScratchDir("remote");
  std::error_code ec;
  const std::string shm_root = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : dir;
  RemoveStaleRuns(std::filesystem::path(dir).parent_path().string());
  if (shm_root != dir) RemoveStaleRuns(shm_root);
  const std::string shm = shm_root + "/postdevai-bench-remote-" + std::to_string(::getpid());
  struct Cleanup {
    std::string dir, shm;
    ~Cleanup() {
      RemoveTree(shm);
      RemoveTree(dir);
    }
  } cleanup{dir, shm};
  std::filesystem::create_directories(dir + "/node");
  std::filesystem::create_directories(dir + "/inproc");

  std::map<std::string, Leg> legs;  // "grpc_read_50", "redis_get_1", ...
  SearchFigures search;
  JsonWriter out;

  {
    NodeProcess node("remote");
    std::string toml = EngineConfigToml(shm + "/node", dir + "/node/data") + "[node]\nport = 0\n";
    if (o.caf) toml += "[caf]\nenabled = true\nport = 0\ninsecure = true\n";
    if (!WriteFile(dir + "/node/node.toml", toml) || !node.Start(dir + "/node/node.toml", o.caf)) return 1;
    const std::string target = "127.0.0.1:" + std::to_string(node.grpc_port);
    std::fprintf(stderr, "remote: dragon_node pid %d, gRPC at %s%s\n", node.process.pid, target.c_str(),
                 o.caf ? (", CAF endpoint at 127.0.0.1:" + std::to_string(node.caf_port)).c_str() : "");

    // Load every key through gRPC (50 calls in flight), then check one. The
    // same channel reads the node's WAL counters around write legs.
    std::unique_ptr<remote::GrpcClients> stats;
    {
      remote::GrpcClientOptions co;
      co.target = target;
      co.keys = o.keys;
      std::string error;
      stats = remote::GrpcClients::Connect(co, &error);
      auto* loader = stats.get();
      if (!loader) {
        std::fprintf(stderr, "remote: %s\n", error.c_str());
        return 1;
      }
      auto loaded = loader->Run(GrpcOp::kWrite, 50, 0, static_cast<std::uint64_t>(o.keys), true);
      const std::string v = loader->Get("k" + std::to_string(o.keys - 1), &error);
      if (loaded.errors > 0 || v.size() != static_cast<std::size_t>(value_bytes)) {
        std::fprintf(stderr, "remote: loading %d keys failed: %s %s\n", o.keys, loaded.first_error.c_str(), error.c_str());
        return 1;
      }
      std::fprintf(stderr, "remote: loaded %d keys of %d bytes through gRPC in %.2f s\n", o.keys, value_bytes,
                   loaded.seconds);
    }

    Redis redis, redis_aof;
    if (o.redis) {
      if (!redis.Start(redis_server, dir + "/redis", false) || !redis_aof.Start(redis_server, dir + "/redis-aof", true))
        return 1;
      if (!redis.Fill(o.keys, remote::ValuePool(value_bytes))) {
        std::fprintf(stderr, "remote: could not fill redis-server with %d keys\n", o.keys);
        return 1;
      }
    }

    std::set<std::string> printed;
    for (int clients : o.clients) {
      const std::string n = std::to_string(clients);
      // gRPC: one channel (TCP connection) per client, as separate client
      // processes and redis-benchmark's -c have; with several clients also
      // all calls multiplexed on one channel, as one client process would.
      if (o.grpc) {
        const int channels = o.grpc_channels > 0 ? std::min(o.grpc_channels, clients) : clients;
        if (!RunGrpcLegs(o, target, node, stats.get(), clients, channels, "", &legs)) return 1;
        if (clients > 1 && o.grpc_shared_channel && channels > 1) {
          if (!RunGrpcLegs(o, target, node, stats.get(), clients, 1, "_shared_channel", &legs)) return 1;
        }
      }
      // CAF: a client actor system only while its legs run (its idle workers
      // poll and would take CPU from the other legs).
      if (o.caf) {
        caf::actor_system_config cfg;
        ConfigureActorSystem(cfg);
        LoadNetworkModules(cfg, NodeConfig{});
        caf::actor_system sys{cfg};
        auto endpoint = ConnectToNode(sys, "127.0.0.1", node.caf_port, NodeConfig{});
        if (!endpoint.ok()) {
          std::fprintf(stderr, "remote: %s\n", endpoint.status().ToString().c_str());
          return 1;
        }
        for (GrpcOp op : LegOps(o)) {
          const std::string name = std::string("caf_") + (op == GrpcOp::kRead ? "read_" : "write_") + n;
          (void)CafLoop(sys, *endpoint, op, clients, o.keys, o.warmup);
          WalProbe wal{stats.get()};
          wal.Begin();
          const double self0 = RusageSeconds(RUSAGE_SELF), node0 = node.CpuSeconds();
          CafRun r = CafLoop(sys, *endpoint, op, clients, o.keys, o.seconds);
          const double self1 = RusageSeconds(RUSAGE_SELF), node1 = node.CpuSeconds();
          if (op == GrpcOp::kWrite) legs[name].writes_per_fsync = wal.RecordsPerSync();
          if (!node.Check()) return 1;
          Leg& leg = legs[name];
          leg.ran = true;
          leg.ops = r.ops;
          leg.errors = r.errors;
          leg.per_s = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
          leg.p50_us = r.latency.PercentileMicros(0.5);
          leg.p99_us = r.latency.PercentileMicros(0.99);
          leg.client_cpu_us_per_op = PerOp(self1 - self0, r.ops);
          leg.server_cpu_us_per_op = PerOp(node1 - node0, r.ops);
          if (r.errors > 0) std::fprintf(stderr, "remote: %s: %llu errors, first: %s\n", name.c_str(),
                                         static_cast<unsigned long long>(r.errors), r.first_error.c_str());
        }
      }
      // Redis
      if (o.redis) {
        if (o.reads) legs["redis_get_" + n] = RedisLeg(redis_benchmark, redis, "get", clients, o.keys, o);
        if (o.writes) {
          legs["redis_set_" + n] = RedisLeg(redis_benchmark, redis, "set", clients, o.keys, o);
          legs["redis_set_fsync_" + n] = RedisLeg(redis_benchmark, redis_aof, "set", clients, o.keys, o);
        }
        if (!redis.process.Alive() || !redis_aof.process.Alive()) {
          std::fprintf(stderr, "remote: a redis-server stopped\n");
          return 1;
        }
      }
      for (const auto& [name, leg] : legs) {
        if (!leg.ran || !printed.insert(name).second) continue;
        std::fprintf(stderr, "remote: %-28s %9.0f ops/s  p50 %8.1f us  p99 %8.1f us  cpu/op client %6.1f us server %6.1f us\n",
                     name.c_str(), leg.per_s, leg.p50_us, leg.p99_us, leg.client_cpu_us_per_op, leg.server_cpu_us_per_op);
      }
    }
    redis.process.Stop();
    redis_aof.process.Stop();

    // Text search: the same corpus through gRPC and in-process.
    if (o.search && o.searches > 0) {
      search = RunSearch(target, o, node, dir + "/inproc", shm + "/inproc");
      if (!search.error.empty()) std::fprintf(stderr, "remote: search: %s\n", search.error.c_str());
      if (search.ran) {
        std::fprintf(stderr, "remote: text search (%d queries, limit 10, %d files): gRPC p50 %.1f us p99 %.1f us, "
                             "in-process p50 %.1f us p99 %.1f us, same top hit %.0f%%\n",
                     o.searches, o.files, search.grpc_p50_us, search.grpc_p99_us, search.local_p50_us,
                     search.local_p99_us, search.same_top_hit_fraction * 100);
      }
    }
    if (!node.Check()) return 1;
  }

  // ---- the report
  const double run_seconds = SecondsSince(run_start);
  const double others_cpu = (MachineBusySeconds() - machine0) -
                            (RusageSeconds(RUSAGE_SELF) + RusageSeconds(RUSAGE_CHILDREN) - ours0);
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  const double others_fraction = std::max(0.0, others_cpu / (run_seconds * cores));
  auto ratio = [&](const std::string& ours, const std::string& peer) -> std::optional<double> {
    auto a = legs.find(ours), b = legs.find(peer);
    if (a == legs.end() || b == legs.end() || !a->second.ran || !b->second.ran || b->second.per_s <= 0) return std::nullopt;
    return a->second.per_s / b->second.per_s;
  };
  struct RatioLine {
    std::string key;
    std::optional<double> value;
  };
  std::vector<RatioLine> ratios;
  for (int clients : o.clients) {
    const std::string n = std::to_string(clients);
    for (const char* door : {"grpc", "caf"}) {
      const std::string d = door;
      ratios.push_back({d + "_read_" + n + "_vs_redis_get_ratio", ratio(d + "_read_" + n, "redis_get_" + n)});
      ratios.push_back({d + "_write_" + n + "_vs_redis_set_fsync_ratio", ratio(d + "_write_" + n, "redis_set_fsync_" + n)});
      ratios.push_back({d + "_write_" + n + "_vs_redis_set_ratio", ratio(d + "_write_" + n, "redis_set_" + n)});
    }
    ratios.push_back({"grpc_read_" + n + "_vs_caf_read_" + n + "_ratio", ratio("grpc_read_" + n, "caf_read_" + n)});
    const std::string shared = "_shared_channel";
    ratios.push_back({"grpc_read_" + n + shared + "_vs_redis_get_ratio", ratio("grpc_read_" + n + shared, "redis_get_" + n)});
    ratios.push_back({"grpc_write_" + n + shared + "_vs_redis_set_fsync_ratio",
                      ratio("grpc_write_" + n + shared, "redis_set_fsync_" + n)});
  }
  std::optional<double> search_ratio;
  if (search.ran && search.local_p50_us > 0) search_ratio = search.grpc_p50_us / search.local_p50_us;
  std::optional<double> search_mean_ratio;
  if (search.ran && search.local_mean_us > 0) search_mean_ratio = search.grpc_mean_us / search.local_mean_us;

  out.BeginObject().Field("scenario", "remote");
  out.Field("value_bytes", value_bytes).Field("keys", o.keys).Field("seconds_per_leg", o.seconds);
  out.Field("cores", static_cast<int>(cores));
  out.Field("run_seconds", run_seconds);
  out.Field("other_processes_cpu_fraction", others_fraction);
  out.Field("grpc_transport", "gRPC " + std::string("C++ (Debian libgrpc++ 1.51), plaintext HTTP/2 over loopback TCP, ") +
                                  (o.grpc_channels > 0 ? std::to_string(o.grpc_channels) + " channels"
                                                       : std::string("one channel per client")) +
                                  " (each its own TCP connection; *_shared_channel legs: all calls on one), " +
                                  (o.driver == remote::GrpcDriver::kCompletionQueue
                                       ? "async API: " + std::to_string(o.grpc_threads) + " completion-queue thread(s)"
                                       : std::string("callback API")) +
                                  (o.grpc_retries ? ", retries on" : ", retries off"));
  out.Field("caf_transport", "CAF 0.17 remote actors over loopback TCP, one multiplexed connection for all clients");
  out.Field("redis_peer", "redis-benchmark -d 1024 -P 1 -r KEYS against redis-server 7 (appendonly no; fsync legs: "
                          "appendonly yes, appendfsync always, on the same disk as the node's WAL)");
  out.Field("writes_note", "node writes are durable (acknowledged after the WAL's fdatasync, group commit), values "
                           "code-like and zstd-compressed; redis_set legs without fsync, redis_set_fsync with "
                           "appendfsync always");
  out.Field("cpu_note", "cpu_us_per_op: CPU seconds of the load generator (client) and the server process over the "
                        "measured leg per completed operation; both share the machine's cores");
  for (const auto& [name, leg] : legs) Emit(out, name, leg);
  for (const auto& r : ratios) {
    if (r.value) out.Field(r.key, *r.value);
  }
  if (search.ran) {
    out.Field("search_files", o.files).Field("search_file_bytes", o.file_bytes).Field("search_queries", o.searches);
    out.Field("search_limit", 10);
    out.Field("grpc_search_p50_us", search.grpc_p50_us).Field("grpc_search_p99_us", search.grpc_p99_us);
    out.Field("grpc_search_mean_us", search.grpc_mean_us);
    out.Field("in_process_search_p50_us", search.local_p50_us).Field("in_process_search_p99_us", search.local_p99_us);
    out.Field("in_process_search_mean_us", search.local_mean_us);
    out.Field("grpc_search_server_cpu_us_per_op", search.grpc_server_cpu_us_per_op);
    out.Field("grpc_search_client_cpu_us_per_op", search.grpc_client_cpu_us_per_op);
    out.Field("in_process_search_cpu_us_per_op", search.local_cpu_us_per_op);
    out.Field("grpc_ingest_files_per_s", search.grpc_ingest_files_per_s);
    out.Field("in_process_store_files_per_s", search.local_store_files_per_s);
    out.Field("search_same_top_hit_fraction", search.same_top_hit_fraction);
    if (search_ratio) out.Field("grpc_search_vs_in_process_ratio", *search_ratio);
    if (search_mean_ratio) out.Field("grpc_search_mean_vs_in_process_ratio", *search_mean_ratio);
    out.Field("search_ratio_note", "grpc_search_vs_in_process_ratio: gRPC p50 latency / in-process p50 latency "
                                   "(HybridMemory::SearchText); lower is better, 1.10 = within 10%");
  }
  if (!search.error.empty()) out.Field("search_error", search.error);

  // The issue's goals, as measured (never adjusted).
  struct Goal {
    const char* name;
    std::string key;
    std::optional<double> value;
    bool at_least;
    double target;
  };
  auto find_ratio = [&](const std::string& key) -> std::optional<double> {
    for (const auto& r : ratios) if (r.key == key) return r.value;
    return std::nullopt;
  };
  const std::vector<Goal> goals = {
      {"gRPC reads at 50 clients >= 1.0x Redis GET", "grpc_read_50_vs_redis_get_ratio",
       find_ratio("grpc_read_50_vs_redis_get_ratio"), true, 1.0},
      {"gRPC reads at 1 client >= 0.5x Redis GET", "grpc_read_1_vs_redis_get_ratio",
       find_ratio("grpc_read_1_vs_redis_get_ratio"), true, 0.5},
      {"gRPC durable writes at 50 clients >= 1.0x Redis SET (appendfsync always)",
       "grpc_write_50_vs_redis_set_fsync_ratio", find_ratio("grpc_write_50_vs_redis_set_fsync_ratio"), true, 1.0},
      {"gRPC text search within 10% of in-process", "grpc_search_vs_in_process_ratio", search_ratio, false, 1.10},
  };
  out.Key("goals").BeginArray();
  for (const auto& g : goals) {
    out.BeginObject().Field("goal", g.name).Field("key", g.key);
    out.Field("target", std::string(g.at_least ? ">= " : "<= ") + std::to_string(g.target).substr(0, 4));
    if (g.value) {
      out.Field("value", *g.value).Field("met", g.at_least ? *g.value >= g.target : *g.value <= g.target);
    } else {
      out.Key("value").String("not measured").Key("met").Bool(false);
    }
    out.EndObject();
  }
  out.EndArray().EndObject();

  if (o.json) {
    std::printf("%s\n", out.str().c_str());
  } else {
    std::printf("remote: dragon_node over loopback, %d keys x %d B, %.1f s per leg; other processes used %.0f%% of the "
                "machine's CPU during the run\n\n", o.keys, value_bytes, o.seconds, others_fraction * 100);
    std::printf("%-30s %12s %10s %10s %14s %14s\n", "leg", "ops/s", "p50 us", "p99 us", "client cpu/op", "server cpu/op");
    for (const auto& [name, leg] : legs) {
      if (!leg.ran) continue;
      std::printf("%-30s %12.0f %10.1f %10.1f %11.1f us %11.1f us\n", name.c_str(), leg.per_s, leg.p50_us, leg.p99_us,
                  leg.client_cpu_us_per_op, leg.server_cpu_us_per_op);
    }
    std::printf("\n");
    for (const auto& r : ratios) {
      if (r.value) std::printf("%-56s %6.2fx\n", r.key.c_str(), *r.value);
    }
    if (search.ran) {
      std::printf("\ntext search, %d files of ~%d B, %d queries, limit 10:\n", o.files, o.file_bytes, o.searches);
      std::printf("  gRPC        p50 %8.1f us  p99 %8.1f us  mean %8.1f us\n", search.grpc_p50_us, search.grpc_p99_us,
                  search.grpc_mean_us);
      std::printf("  in-process  p50 %8.1f us  p99 %8.1f us  mean %8.1f us\n", search.local_p50_us, search.local_p99_us,
                  search.local_mean_us);
      std::printf("  CPU per search: gRPC node %.1f us + client %.1f us; in-process %.1f us (caller and engine)\n",
                  search.grpc_server_cpu_us_per_op, search.grpc_client_cpu_us_per_op, search.local_cpu_us_per_op);
      std::printf("  grpc_search_vs_in_process_ratio (p50) %.2fx; same top hit in %.0f%% of queries\n",
                  search_ratio.value_or(0), search.same_top_hit_fraction * 100);
    }
    std::printf("\ngoals:\n");
    for (const auto& g : goals) {
      std::printf("  [%s] %-72s %s\n",
                  !g.value ? "n/a " : (g.at_least ? *g.value >= g.target : *g.value <= g.target) ? "met " : "MISS",
                  g.name, g.value ? (std::to_string(*g.value).substr(0, 5) + "x").c_str() : "not measured");
    }
  }
  return 0;
}

}  // namespace postdevai::bench
