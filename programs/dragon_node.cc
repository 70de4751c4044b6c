// dragon_node: the PostDevAI Hybrid Memory node.
//
//   dragon_node [--config FILE] [--check-config]
//
// Without --config it runs on embedded defaults sized for this machine. It
// recovers (LevelDB checkpoint + WAL replay, RAM-Lake re-attach), runs the
// actor engine until SIGINT or SIGTERM, then checkpoints and stops cleanly.
#include <pthread.h>
#include <signal.h>

#include <cstdarg>
#include <mutex>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "actors/actor_port.h"
#include "actors/engine.h"
#include "actors/remote.h"
#include "client/diagnosis.h"
#include "client/memory_client.h"
#include "config/config_cli.h"
#include "postdevai/config.h"
#include "postdevai/log.h"
#include "programs/metrics_exporter.h"
#include "rpc/grpc_log.h"
#include "rpc/grpc_server.h"

namespace {

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: dragon_node [--config FILE] [--check-config]\n"
               "\n"
               "  --config FILE    read FILE (TOML, see dragon_node.toml); default: embedded\n"
               "                   defaults sized for this machine\n"
               "  --check-config   validate the config, print the effective config and exit:\n"
               "                   0 when usable, 1 with every problem (file:line: key: what)\n"
               "  --help           this text\n"
               "\n"
               "Stops cleanly (checkpoint, files flushed) on SIGINT or SIGTERM.");
}

int Fail(const std::string& what) {
  postdevai::LogError("dragon_node", what);
  return 1;
}

// printf-style info line in the node's log.
[[gnu::format(printf, 1, 2)]] void Info(const char* format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  postdevai::LogInfo("dragon_node", line);
}

// Why the engine died, when it did: set by its watch, read by main.
std::mutex engine_death_mutex;
std::string engine_death;

// Connections, LevelDB's tables and WAL segments all take descriptors; the
// usual soft limit of 1024 is far below what a busy node needs, and the hard
// limit is ours to use.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    Info("file descriptor limit raised from %llu to %llu", static_cast<unsigned long long>(before),
         static_cast<unsigned long long>(limit.rlim_max));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintUsage(stdout);
      return 0;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check-config") {
      check_only = true;
    } else {
      std::fprintf(stderr, "dragon_node: unknown argument '%s'\n", arg.c_str());
      PrintUsage(stderr);
      return 2;
    }
  }
  if (check_only) return postdevai::config::RunCheckConfig(config_path, std::cout, std::cerr);

  std::vector<std::string> warnings;
  postdevai::HybridMemoryConfig config;
  if (config_path.empty()) {
    config = postdevai::EmbeddedDefaults();
  } else {
    auto loaded = postdevai::LoadConfigFile(config_path, &warnings);
    if (!loaded.ok()) return Fail(loaded.status().message());
    config = std::move(*loaded);
  }
  postdevai::Status valid = postdevai::ValidateConfig(config, &warnings);
  for (const auto& w : warnings) postdevai::LogWarning("dragon_node", w);
  if (!valid.ok()) return Fail(valid.message());
  if (auto logging = postdevai::ConfigureLogging(config.logging); !logging.ok()) return Fail(logging.ToString());

  // Block the stop signals before the actor system starts its threads, so
  // that only the main thread receives them (below).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);  // the engine died (OnUnexpectedStop)
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  RaiseDescriptorLimit();
  // gRPC's own lines in the node's log format; its debug chatter dropped.
  postdevai::rpc::RouteGrpcLogs([](postdevai::rpc::GrpcLogSeverity severity, std::string_view line) {
    if (severity == postdevai::rpc::GrpcLogSeverity::kError) postdevai::LogWarning("grpc", line);
    if (severity == postdevai::rpc::GrpcLogSeverity::kInfo) postdevai::LogInfo("grpc", line);
  });
  caf::actor_system_config cfg;
  postdevai::actors::ConfigureActorSystem(cfg);
  postdevai::actors::LoadNetworkModules(cfg, config.node);
  caf::actor_system system{cfg};

  Info("config: %s", config_path.empty() ? "embedded defaults" : config_path.c_str());
  postdevai::actors::EngineReport report;
  auto engine = postdevai::actors::Engine::Start(system, config, &report);
  if (!engine.ok()) return Fail(engine.status().ToString());
  Info("persistent store: %s (LevelDB, %s values)", report.store_path.c_str(),
               config.compression == postdevai::Compression::kZstd ? "zstd-compressed" : "uncompressed");
  Info("write-ahead log: %s", report.wal_path.c_str());
  Info("RAM-Lake: %s (%.2f GiB)", report.ramlake_path.c_str(), config.ramlake_size_gb);
  if (!report.ramlake_warning.empty()) postdevai::LogWarning("dragon_node", report.ramlake_warning);
  Info("recovered in %.3f s: checkpoint LSN %llu, replayed %llu WAL records",
               report.cold.seconds, static_cast<unsigned long long>(report.cold.checkpoint_lsn),
               static_cast<unsigned long long>(report.cold.wal.replayed));
  if (report.cold.wal.torn_tail) Info("%s", report.cold.wal.torn_tail_detail.c_str());
  for (postdevai::DataKind kind : postdevai::kAllDataKinds) {
    // How the file was proven current (watermark or key by key, and why).
    const auto& r = report.partitions[postdevai::DataKindIndex(kind)];
    Info("partition %-8s %s", std::string(postdevai::DataKindName(kind)).c_str(), r.ToString().c_str());
  }
  // The gRPC API: the door every client uses. Its calls reach the engine
  // through the client core, each with the configured deadline.
  postdevai::actors::ActorPortOptions grpc_port_options;
  grpc_port_options.timeout = std::chrono::seconds(config.grpc.deadline_seconds);
  grpc_port_options.hot_reads = (*engine)->hot_reads();  // RAM hits answered on gRPC's own threads
  auto grpc_memory = postdevai::client::ConnectMemoryClient(
      postdevai::actors::MakeActorPort(system, (*engine)->local(), grpc_port_options), "grpc");
  if (!grpc_memory.ok()) {
    (void)(*engine)->Stop();
    return Fail(grpc_memory.status().ToString());
  }
  std::shared_ptr<postdevai::client::MemoryClient> memory_for_grpc = std::move(*grpc_memory);
  auto diagnose = [memory_for_grpc, config](postdevai::client::Reply<std::vector<postdevai::records::finding>> done) {
    postdevai::client::DiagnoseNode(*memory_for_grpc, config, std::move(done));
  };
  auto grpc = postdevai::rpc::GrpcServer::Start(memory_for_grpc, config, std::move(diagnose));
  if (!grpc.ok()) {
    (void)(*engine)->Stop();
    return Fail(grpc.status().ToString());
  }
  Info("serving the gRPC API postdevai.memory.v1 at %s:%u (%s)", config.node.address.c_str(), (*grpc)->port(),
       (*grpc)->security().c_str());
  if (config.caf.enabled) {
    auto port = postdevai::actors::PublishEndpoint(system, (*engine)->endpoint(), config.node, config.caf);
    if (!port.ok()) {
      (*grpc)->Shutdown(std::chrono::seconds(0));
      (void)(*engine)->Stop();
      return Fail(port.status().ToString());
    }
    Info("serving the engine at %s:%u (CAF endpoint, %s)", config.node.address.c_str(), *port,
         postdevai::actors::UsesTls(config.node) ? "mutual TLS" : "plaintext, insecure, loopback");
  }
  std::unique_ptr<postdevai::MetricsExporter> metrics;
  if (config.metrics.enabled) {
    auto started = postdevai::MetricsExporter::Start(system, (*engine)->local(), config.metrics,
                                                     [server = grpc->get()] { return server->counters(); });
    if (!started.ok()) {
      (*grpc)->Shutdown(std::chrono::seconds(0));
      (void)(*engine)->Stop();
      return Fail(started.status().ToString());
    }
    metrics = std::move(*started);
    Info("metrics at http://%s:%u/metrics", config.metrics.address.c_str(), metrics->port());
  }
  Info("ready; checkpoint every %u min; SIGINT/SIGTERM stops", config.sync_interval_minutes);

  // Serving: a node whose engine died must not linger, answering nothing.
  (*engine)->OnUnexpectedStop([main_thread = pthread_self()](const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(engine_death_mutex);
      engine_death = why;
    }
    pthread_kill(main_thread, SIGUSR1);  // wakes sigwait below
  });

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (sig == SIGUSR1) {
    std::string why;
    {
      std::lock_guard<std::mutex> lock(engine_death_mutex);
      why = engine_death;
    }
    metrics.reset();
    (*grpc)->Shutdown(std::chrono::seconds(0));
    (void)(*engine)->Stop();
    return Fail(why + "; the node stops (the WAL holds every acknowledged write: restart it)");
  }
  Info("%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  metrics.reset();
  // Calls in flight get a moment to finish; new ones are refused.
  (*grpc)->Shutdown(std::chrono::seconds(10));
  auto stopped = (*engine)->Stop();
  if (!stopped.ok()) return Fail(stopped.ToString());
  Info("checkpointed; stopped cleanly");
  return 0;
}
