// postdevai-bench remote: point reads of 1 KiB values over loopback TCP
// through CAF remote actors (a real dragon_node process, the clients in this
// process), with 1 and 50 concurrent clients, beside redis-benchmark GET
// against a local redis-server with the same clients and value size, in the
// same run.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/remote.h"
#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"

namespace postdevai::bench {
namespace {

using namespace postdevai::actors;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path().string();
}

// A dragon_node child on a temp config; its port parsed from the log.
struct Node {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string log;
  std::string ram;  // the node's RAM-Lake directory, removed when it stops
  bool Start(const std::string& dir) {
    const std::string config = dir + "/node.toml";
    ram = "/dev/shm/postdevai-bench-remote-" + std::to_string(::getpid());
    std::ofstream out(config);
    out << "[hybrid_memory]\nramlake_size_gb = 0.25\nramlake_path = \"" << ram << "\"\npersistent_path = \"" << dir
        << "/data\"\npersistent_size_tb = 0.001\ncache_size_mb = 64\n[node]\nport = 0\n[metrics]\nenabled = false\n";
    out.close();
    log = dir + "/node.log";
    const std::string exe = SelfDir() + "/dragon_node";
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      ::execl(exe.c_str(), exe.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const std::regex serving(R"(serving the engine at [0-9.]+:([0-9]+))");
    for (int i = 0; i < 400; ++i) {
      std::smatch m;
      std::string text = ReadAll(log);
      if (std::regex_search(text, m, serving)) {
        port = static_cast<std::uint16_t>(std::stoi(m[1]));
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "remote: dragon_node did not start:\n%s\n", ReadAll(log).c_str());
    return false;
  }
  ~Node() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (!ram.empty()) RemoveTree(ram);
  }
};

struct Run {
  std::uint64_t ops = 0;
  double seconds = 0;
  LatencyRecorder latency;
  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// `clients` actors, each with one read outstanding at a time, for `seconds`.
Run ReadLoop(caf::actor_system& sys, const engine_actor& node, int clients, int keys, double seconds) {
  struct Shared {
    std::mutex mu;
    Run run;
    int done = 0;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    sys.spawn([=](caf::event_based_actor* self) {
      auto latency = std::make_shared<LatencyRecorder>();
      auto next = std::make_shared<std::function<void(std::uint64_t)>>();
      *next = [=](std::uint64_t i) {
        if (Clock::now() >= deadline) {
          std::lock_guard lock(shared->mu);
          shared->run.ops += latency->count();
          shared->run.latency.Merge(*latency);
          ++shared->done;
          shared->cv.notify_all();
          self->quit();
          return;
        }
        const auto t0 = Clock::now();
        const std::string key = "k" + std::to_string((i * 7919 + static_cast<std::uint64_t>(c)) % static_cast<std::uint64_t>(keys));
        self->request(node, std::chrono::seconds(30), read_atom_v, DataKind::kMetadata, key, std::string())
            .then(
                [=](read_result&) {
                  latency->Add(static_cast<std::uint64_t>(
                      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
                  (*next)(i + 1);
                },
                [=](caf::error& e) {
                  std::fprintf(stderr, "remote: read failed: %s\n", caf::to_string(e).c_str());
                  (*next)(i + 1);
                });
      };
      (*next)(0);
    });
  }
  std::unique_lock lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->done == clients; });
  shared->run.seconds = SecondsSince(start);
  return std::move(shared->run);
}

struct RedisResult {
  double rps = 0, p50_ms = 0, p99_ms = 0;
  bool ok = false;
};

RedisResult RunRedisBenchmark(std::uint16_t port, int clients, int keys, int requests, int value_bytes) {
  // Fill the same key space first, then GET with random keys.
  std::string fill = "redis-benchmark -p " + std::to_string(port) + " -q -t set -n " + std::to_string(keys) +
                     " -r " + std::to_string(keys) + " -d " + std::to_string(value_bytes) + " > /dev/null 2>&1";
  if (std::system(fill.c_str()) != 0) return {};
  std::string cmd = "redis-benchmark -p " + std::to_string(port) + " -t get --csv -c " + std::to_string(clients) +
                    " -n " + std::to_string(requests) + " -r " + std::to_string(keys) + " -d " +
                    std::to_string(value_bytes) + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  std::regex row(R"re("GET","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)")re");
  std::smatch m;
  RedisResult r;
  if (!std::regex_search(out, m, row)) {
    std::fprintf(stderr, "remote: could not read redis-benchmark's output:\n%s\n", out.c_str());
    return r;
  }
  r.rps = std::stod(m[1]);
  r.p50_ms = std::stod(m[4]);
  r.p99_ms = std::stod(m[6]);
  r.ok = true;
  return r;
}

std::uint16_t FreePort() {
  for (std::uint16_t p = 26379; p < 27379; ++p) {
    std::string probe = "redis-cli -p " + std::to_string(p) + " ping > /dev/null 2>&1";
    if (std::system(probe.c_str()) != 0) return p;
  }
  return 0;
}

}  // namespace

int RunRemoteBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf("postdevai-bench remote [--seconds S (5)] [--keys N (10000)] [--clients 1,50] [--json]\n"
                "  Point reads of 1 KiB values through CAF remote actors over loopback beside\n"
                "  redis-benchmark GET on a local redis-server (package redis-server).\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const double seconds = std::atof(OptionValue(args, "--seconds", "5").c_str());
  const int keys = static_cast<int>(OptionInt(args, "--keys", 10000));
  const int value_bytes = 1024;
  const std::string dir = MakeScratchDir("remote");
  Node node;
  if (!node.Start(dir)) return 1;

  caf::actor_system_config cfg;
  ConfigureActorSystem(cfg);
  LoadNetworkModules(cfg, NodeConfig{});
  caf::actor_system sys{cfg};
  auto controller = ConnectToNode(sys, "127.0.0.1", node.port, NodeConfig{});
  if (!controller.ok()) {
    std::fprintf(stderr, "remote: %s\n", controller.status().ToString().c_str());
    return 1;
  }
  {
    // Load the keys, 100 per write.
    caf::scoped_actor self{sys};
    const std::string value(value_bytes, 'v');
    for (int k = 0; k < keys; k += 100) {
      write_batch batch;
      for (int j = k; j < std::min(keys, k + 100); ++j) {
        batch.mutations.push_back(mutation{DataKind::kMetadata, "k" + std::to_string(j), value, false});
      }
      self->request(*controller, std::chrono::seconds(30), write_atom_v, std::move(batch))
          .receive([](std::uint64_t) {}, [](caf::error& e) { std::fprintf(stderr, "remote: %s\n", caf::to_string(e).c_str()); });
    }
  }

  // redis-server on a free port, no persistence.
  const std::uint16_t redis_port = FreePort();
  pid_t redis = ::fork();
  if (redis == 0) {
    int fd = ::open("/dev/null", O_WRONLY);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string port = std::to_string(redis_port);
    ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--save", "", "--appendonly", "no",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 100; ++i) {
    std::string ping = "redis-cli -p " + std::to_string(redis_port) + " ping > /dev/null 2>&1";
    if (std::system(ping.c_str()) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  JsonWriter out;
  out.BeginObject().Field("scenario", "remote").Field("value_bytes", value_bytes).Field("keys", keys);
  out.Field("transport", "CAF 0.17 remote actors over loopback TCP (one multiplexed connection per client process)");
  out.Key("runs").BeginArray();
  std::stringstream list(OptionValue(args, "--clients", "1,50"));
  std::string item;
  while (std::getline(list, item, ',')) {
    const int clients = std::atoi(item.c_str());
    (void)ReadLoop(sys, *controller, clients, keys, 0.5);  // warm up
    Run ours = ReadLoop(sys, *controller, clients, keys, seconds);
    const int requests = static_cast<int>(std::max(20000.0, ours.ops_per_s() * seconds));
    RedisResult redis_run = RunRedisBenchmark(redis_port, clients, keys, requests, value_bytes);
    std::fprintf(stderr, "remote: %2d clients: ours %8.0f reads/s (p50 %6.0f us, p99 %6.0f us)  redis %8.0f GET/s (p50 %6.0f us, p99 %6.0f us)  ratio %.2fx\n",
                 clients, ours.ops_per_s(), ours.latency.PercentileMicros(0.5), ours.latency.PercentileMicros(0.99),
                 redis_run.rps, redis_run.p50_ms * 1000, redis_run.p99_ms * 1000,
                 redis_run.rps > 0 ? ours.ops_per_s() / redis_run.rps : 0.0);
    out.BeginObject().Field("clients", clients);
    out.Field("ours_reads_per_s", ours.ops_per_s())
        .Field("ours_p50_us", ours.latency.PercentileMicros(0.5))
        .Field("ours_p99_us", ours.latency.PercentileMicros(0.99))
        .Field("redis_get_per_s", redis_run.rps)
        .Field("redis_p50_us", redis_run.p50_ms * 1000)
        .Field("redis_p99_us", redis_run.p99_ms * 1000)
        .Field("ratio_vs_redis", redis_run.rps > 0 ? ours.ops_per_s() / redis_run.rps : 0.0);
    out.EndObject();
  }
  out.EndArray().EndObject();
  ::kill(redis, SIGTERM);
  ::waitpid(redis, nullptr, 0);
  RemoveTree(dir);
  if (json) std::printf("%s\n", out.str().c_str());
  return 0;
}

}  // namespace postdevai::bench
