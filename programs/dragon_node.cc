// dragon_node: the PostDevAI Hybrid Memory node.
//
//   dragon_node [--config FILE] [--check-config]
//   dragon_node [--config FILE] --restore BACKUP_DIR [--to-lsn N | --to-time T] [--archive DIR] [--wal DIR]
//               [--dry-run] [--as-replica]
//
// Without --config it runs on embedded defaults sized for this machine. It
// recovers (LevelDB checkpoint + WAL replay, RAM-Lake re-attach), runs the
// actor engine until SIGINT or SIGTERM, then checkpoints and stops cleanly.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdarg>
#include <ctime>
#include <optional>
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
#include "actors/vector_catalog.h"
#include "storage/backup.h"
#include "client/diagnosis.h"
#include "client/memory_client.h"
#include "config/config_cli.h"
#include "postdevai/config.h"
#include "postdevai/log.h"
#include "programs/metrics_exporter.h"
#include "rpc/grpc_log.h"
#include "rpc/grpc_server.h"
#include "rpc/replication.h"

namespace {

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: dragon_node [--config FILE] [--check-config]\n"
               "       dragon_node [--config FILE] --restore BACKUP_DIR [--to-lsn N | --to-time T]\n"
               "                   [--archive DIR] [--wal DIR] [--dry-run] [--as-replica]\n"
               "\n"
               "  --config FILE    read FILE (TOML, see dragon_node.toml); default: embedded\n"
               "                   defaults sized for this machine\n"
               "  --check-config   validate the config, print the effective config and exit:\n"
               "                   0 when usable, 1 with every problem (file:line: key: what)\n"
               "  --restore DIR    build the config's store from the backup in DIR plus the WAL\n"
               "                   archive, replayed up to the target (default: all of it), as\n"
               "                   a new epoch; then exit. The store directory must hold no\n"
               "                   store and the WAL directory no segments (move them away).\n"
               "                   The RAM-Lake is rebuilt when the node next starts.\n"
               "  --to-lsn N       replay the archive up to LSN N exactly\n"
               "  --to-time T      replay every write logged at or before T: UTC as\n"
               "                   2026-12-05T10:30:00Z (fractions of a second allowed) or\n"
               "                   @SECONDS since the Unix epoch\n"
               "  --archive DIR    the WAL archive to replay (default: DIR's backup location's)\n"
               "  --wal DIR        also replay the segments of this WAL directory (the node's\n"
               "                   own, moved aside): the writes no checkpoint archived yet\n"
               "  --dry-run        say what the restore would do; change nothing\n"
               "  --as-replica     keep the backup's identity and epoch instead of starting a\n"
               "                   new one: the store of a replica ([replication] role =\n"
               "                   \"replica\") that follows the backup's primary from there\n"
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
std::string resync_copy;  // a replica's verified copy of its primary (engine_death_mutex)

// Installs the backup's vector index snapshot for the restored store
// (actors::InstallHotTierFromBackup); true when it did. A failure is no
// failure of the restore: the first start rebuilds the index, as it says.
bool InstallHotTier(postdevai::storage::FileSystem* fs, const postdevai::HybridMemoryConfig& config,
                    const postdevai::storage::BackupManifest& backup, const postdevai::storage::StoreIdentity& restored) {
  auto installed = postdevai::actors::InstallHotTierFromBackup(fs, config, backup, restored);
  if (!installed.ok()) {
    postdevai::LogWarning("restore", "the backup's vector index snapshot is not installed (" +
                                         installed.status().ToString() + "): the first start rebuilds the index");
    return false;
  }
  for (const auto& path : *installed) Info("installed %s from the backup", path.c_str());
  return !installed->empty();
}

// A replica's restart onto a fresh copy of its primary (rpc/replication.h):
// with the engine stopped, its store and WAL move aside to
// <dir>.before-resync (replacing an earlier pair), the copy is restored
// keeping the primary's identity, and the copy's directory is removed. The
// caller then runs the node again.
postdevai::Status RestoreOntoCopy(const postdevai::HybridMemoryConfig& config, const std::string& copy) {
  namespace storage = postdevai::storage;
  storage::FileSystem* fs = storage::FileSystem::Default();
  auto options = postdevai::actors::DurableStoreOptionsFromConfig(config);
  options.store.file_system = fs;
  for (const std::string& dir : {options.store.path, options.wal_dir}) {
    const std::string aside = dir + ".before-resync";
    if (fs->FileExists(aside)) PDAI_RETURN_IF_ERROR(storage::RemoveTree(fs, aside));
    if (fs->FileExists(dir)) PDAI_RETURN_IF_ERROR(fs->RenameFile(dir, aside));
  }
  // The copy alone (no archive beside it): the replica follows its primary
  // from the copy's LSN.
  auto plan = storage::PlanRestore(fs, copy, copy + "/no-archive", storage::RestoreTarget{});
  if (!plan.ok()) return plan.status();
  auto restored = storage::RestoreBackup(fs, *plan, storage::RestoreTarget{}, options.store, options.wal_dir,
                                         /*start_new_epoch=*/false);
  if (!restored.ok()) return restored.status();
  Info("restored the primary's copy: every write up to LSN %llu (%s); the old store and WAL are in %s.before-resync",
       static_cast<unsigned long long>(restored->restored_lsn), restored->identity.ToString().c_str(),
       options.store.path.c_str());
  InstallHotTier(fs, config, plan->backup, restored->identity);
  return storage::RemoveTree(fs, storage::DirName(copy));
}

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

// "2026-12-05T10:30:00Z", "2026-12-05T10:30:00.25Z" or "@1733394600.25":
// microseconds since the Unix epoch.
std::optional<std::uint64_t> ParseTime(const std::string& text) {
  double fraction = 0;
  std::time_t seconds = 0;
  if (text.starts_with("@")) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str() + 1, &end);
    if (end == text.c_str() + 1 || *end != '\0' || !(v >= 0)) return std::nullopt;
    return static_cast<std::uint64_t>(v * 1e6);
  }
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  if (*rest == '.') {
    char* end = nullptr;
    fraction = std::strtod(rest, &end);
    rest = end;
  }
  if (std::string_view(rest) != "Z") return std::nullopt;
  seconds = ::timegm(&tm);
  if (seconds < 0) return std::nullopt;
  return static_cast<std::uint64_t>(seconds) * 1000000 + static_cast<std::uint64_t>(fraction * 1e6);
}

struct RestoreArgs {
  std::string backup_dir;
  std::string archive_dir;
  std::string wal_dir;  // extra segments: the old WAL, moved aside
  postdevai::storage::RestoreTarget target;
  bool dry_run = false;
  bool as_replica = false;  // keep the identity: a replica's copy of its primary
};

// --restore: plans, then (unless a dry run) restores; the node does not start.
int RunRestore(const postdevai::HybridMemoryConfig& config, const RestoreArgs& args) {
  namespace storage = postdevai::storage;
  storage::FileSystem* fs = storage::FileSystem::Default();
  const std::string archive =
      !args.archive_dir.empty() ? args.archive_dir : storage::ArchiveDir(storage::DirName(args.backup_dir));
  auto plan = storage::PlanRestore(fs, args.backup_dir, archive, args.target, args.wal_dir);
  if (!plan.ok()) return Fail("restore: " + plan.status().ToString());
  auto options = postdevai::actors::DurableStoreOptionsFromConfig(config);
  options.store.file_system = fs;
  std::string target = "every write the archive holds";
  if (args.target.lsn) target = "LSN " + std::to_string(*args.target.lsn);
  if (args.target.time_micros) target = "the last write at or before @" + std::to_string(*args.target.time_micros / 1e6);
  Info("restore plan: %s; target: %s; into %s (WAL %s)", plan->ToString().c_str(), target.c_str(),
       options.store.path.c_str(), options.wal_dir.c_str());
  if (args.dry_run) {
    const bool has_index = storage::BackupHotTierFile(plan->backup, postdevai::actors::kVectorIndexSnapshotName).has_value();
    std::printf("dry run: would %s; target: %s; into %s (WAL directory %s); then %s epoch %llu%s\n",
                plan->ToString().c_str(), target.c_str(), options.store.path.c_str(), options.wal_dir.c_str(),
                args.as_replica ? "keep" : "start",
                static_cast<unsigned long long>(plan->backup.store.epoch + (args.as_replica ? 0 : 1)),
                has_index ? ("; then install the backup's vector index snapshot into " + config.ramlake_path).c_str()
                          : "");
    return 0;
  }
  auto restored = storage::RestoreBackup(fs, *plan, args.target, options.store, options.wal_dir, !args.as_replica);
  if (!restored.ok()) return Fail("restore: " + restored.status().ToString());
  const bool index_installed = InstallHotTier(fs, config, plan->backup, restored->identity);
  std::printf("restored %s into %s: up to LSN %llu (%llu WAL records, %llu bytes replayed) in %.3f s; the store is "
              "now %s. Start the node to serve it (its RAM-Lake fills from the store%s).\n",
              plan->backup.name.c_str(), options.store.path.c_str(),
              static_cast<unsigned long long>(restored->restored_lsn),
              static_cast<unsigned long long>(restored->replayed_records),
              static_cast<unsigned long long>(restored->replayed_bytes), restored->seconds,
              restored->identity.ToString().c_str(),
              index_installed ? "; its vector index is loaded from the backup's snapshot"
                              : "; its vector index is built from the store");
  return 0;
}

// What replication needs of the engine (rpc/replication.h).
class EngineReplicationHost final : public postdevai::rpc::ReplicationHost {
 public:
  explicit EngineReplicationHost(postdevai::actors::Engine& engine) : engine_(engine) {}
  postdevai::storage::StoreIdentity identity() const override { return engine_.identity(); }
  std::uint64_t durable_lsn() const override { return engine_.durable_lsn(); }
  postdevai::storage::ReplicationLog& log() override { return *engine_.replication_log(); }
  postdevai::storage::WalFileReader WalFiles() const override { return engine_.WalFiles(); }
  postdevai::Result<std::uint64_t> ApplyReplicated(std::vector<postdevai::storage::ReplicatedRecord> records) override {
    return engine_.ApplyReplicated(std::move(records));
  }
  postdevai::Status AdoptEpoch(const postdevai::storage::StoreIdentity& primary) override {
    return engine_.AdoptEpoch(primary);
  }
  postdevai::Status Fence(const postdevai::storage::StoreIdentity& successor, const std::string& by) override {
    return engine_.Fence(successor, by);
  }
  std::string fenced() const override { return engine_.fenced(); }
  postdevai::Result<postdevai::storage::StoreIdentity> Promote(const std::string& former_primary) override {
    return engine_.Promote(former_primary);
  }
  std::string promoted_from() const override { return engine_.promoted_from(); }
  postdevai::Result<std::string> Backup() override { return engine_.Backup(); }
  bool followed() const override { return engine_.followed(); }
  postdevai::Status NoteFollowed() override { return engine_.NoteFollowed(); }
  void HoldWrites(std::string reason) override { engine_.HoldWrites(std::move(reason)); }
  void ReleaseWrites() override { engine_.ReleaseWrites(); }

 private:
  postdevai::actors::Engine& engine_;
};

// The `diagnose memory` finding on replication: a replica that does not hear
// from its primary, or lags, and a node that was fenced.
postdevai::records::finding ReplicationFinding(const postdevai::rpc::ReplicationStatus& s) {
  postdevai::records::finding f{"replication", "ok", "", ""};
  if (!s.fenced.empty()) {
    return {"replication", "critical", s.fenced,
            "make this node a replica of the new primary ([replication] role = \"replica\", primary = its address)"};
  }
  if (s.role == "primary") {
    f.seen = "primary of store " + s.identity.ToString() + ": " + std::to_string(s.replicas) + " replica(s) following";
    return f;
  }
  if (s.role != "replica") {
    f.seen = "none ([replication] role = \"none\"): the data is on this node's disks only";
    return f;
  }
  char lag[160];
  std::snprintf(lag, sizeof lag, "%llu LSNs, %.1f s behind", static_cast<unsigned long long>(s.lag_lsns),
                s.lag_seconds);
  f.seen = "replica of " + s.primary + ", " + s.state + ": " + lag + (s.error.empty() ? "" : "; " + s.error);
  if (s.state != "streaming" && s.state != "caught up") {
    f.status = "warning";
    f.action = "check that the primary " + s.primary + " runs and is reachable with this node's TLS files and token";
  } else if (s.lag_seconds > 60) {
    f.status = "warning";
    f.action = "the replica falls behind: give it more disk or CPU, or fewer writers on the primary";
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  bool restore = false;
  RestoreArgs restore_args;
  auto value = [&](int& i, const std::string& flag) -> std::optional<std::string> {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "dragon_node: %s needs a value\n", flag.c_str());
      return std::nullopt;
    }
    return std::string(argv[++i]);
  };
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
    } else if (arg == "--restore" || arg == "--archive" || arg == "--wal" || arg == "--to-lsn" || arg == "--to-time") {
      auto v = value(i, arg);
      if (!v) return 2;
      if (arg == "--restore") {
        restore = true;
        restore_args.backup_dir = *v;
        while (restore_args.backup_dir.size() > 1 && restore_args.backup_dir.back() == '/') {
          restore_args.backup_dir.pop_back();
        }
      } else if (arg == "--archive") {
        restore_args.archive_dir = *v;
      } else if (arg == "--wal") {
        restore_args.wal_dir = *v;
      } else if (arg == "--to-lsn") {
        char* end = nullptr;
        errno = 0;
        const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
        if (v->empty() || *end != '\0' || errno != 0 || v->front() == '-') {
          std::fprintf(stderr, "dragon_node: --to-lsn '%s' is not an LSN\n", v->c_str());
          return 2;
        }
        restore_args.target.lsn = n;
      } else {
        restore_args.target.time_micros = ParseTime(*v);
        if (!restore_args.target.time_micros) {
          std::fprintf(stderr, "dragon_node: --to-time '%s' is not a time (2026-12-05T10:30:00Z or @SECONDS)\n",
                       v->c_str());
          return 2;
        }
      }
    } else if (arg == "--dry-run") {
      restore_args.dry_run = true;
    } else if (arg == "--as-replica") {
      restore_args.as_replica = true;
    } else {
      std::fprintf(stderr, "dragon_node: unknown argument '%s'\n", arg.c_str());
      PrintUsage(stderr);
      return 2;
    }
  }
  if (check_only) return postdevai::config::RunCheckConfig(config_path, std::cout, std::cerr);
  const bool restore_flags = !restore_args.archive_dir.empty() || !restore_args.wal_dir.empty() || restore_args.target.lsn ||
                             restore_args.target.time_micros || restore_args.dry_run || restore_args.as_replica;
  if (restore_flags && !restore) {
    std::fprintf(stderr, "dragon_node: --to-lsn, --to-time, --archive, --wal, --dry-run and --as-replica go with --restore\n");
    return 2;
  }
  if (restore_args.target.lsn && restore_args.target.time_micros) {
    std::fprintf(stderr, "dragon_node: give --to-lsn or --to-time, not both\n");
    return 2;
  }

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
  if (restore) return RunRestore(config, restore_args);

  // Block the stop signals before the actor system starts its threads, so
  // that only the main thread receives them (below).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);  // the engine died (OnUnexpectedStop)
  sigaddset(&stop_signals, SIGUSR2);  // a replica has a copy of its primary to restart onto
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
  // `diagnose memory`: the client core's checks, and this node's replication.
  postdevai::rpc::ReplicationNode* replication_node = nullptr;  // set once it runs
  auto diagnose = [memory_for_grpc, config, &replication_node](
                      postdevai::client::Reply<std::vector<postdevai::records::finding>> done) {
    postdevai::client::DiagnoseNode(
        *memory_for_grpc, config,
        [done = std::move(done), node = replication_node](
            postdevai::Result<std::vector<postdevai::records::finding>> findings) {
          if (findings.ok() && node != nullptr) findings->push_back(ReplicationFinding(node->status()));
          done(std::move(findings));
        });
  };
  // Replication: the Follow and Fence calls beside the API, and a
  // replica's follower.
  EngineReplicationHost replication_host(**engine);
  auto replication = postdevai::rpc::ReplicationNode::Start(
      &replication_host, config, config.node.address + ":" + std::to_string(config.node.port),
      [main_thread = pthread_self()](const std::string& copy) {
        {
          std::lock_guard<std::mutex> lock(engine_death_mutex);
          resync_copy = copy;
        }
        pthread_kill(main_thread, SIGUSR2);  // wakes sigwait below
      });
  if (!replication.ok()) {
    (void)(*engine)->Stop();
    return Fail(replication.status().ToString());
  }
  replication_node = replication->get();
  auto grpc = postdevai::rpc::GrpcServer::Start(memory_for_grpc, config, std::move(diagnose), replication->get());
  if (!grpc.ok()) {
    (*replication)->Stop();
    (void)(*engine)->Stop();
    return Fail(grpc.status().ToString());
  }
  if (config.replication.role != postdevai::ReplicationRole::kNone) {
    const auto status = (*replication)->status();
    Info("replication: %s%s%s (store %s)", status.role.c_str(), status.primary.empty() ? "" : " of ",
         status.primary.c_str(), status.identity.ToString().c_str());
  }
  if (!(*engine)->fenced().empty()) postdevai::LogWarning("dragon_node", (*engine)->fenced());
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
                                                     [server = grpc->get()] { return server->counters(); },
                                                     [node = replication->get()] { return node->status(); });
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
    (*replication)->Stop();
    (*grpc)->Shutdown(std::chrono::seconds(0));
    (void)(*engine)->Stop();
    return Fail(why + "; the node stops (the WAL holds every acknowledged write: restart it)");
  }
  if (sig == SIGUSR2) {
    std::string copy;
    {
      std::lock_guard<std::mutex> lock(engine_death_mutex);
      copy = resync_copy;
    }
    Info("stopping to restart onto the primary's copy in %s", copy.c_str());
    metrics.reset();
    (*replication)->Stop();
    (*grpc)->Shutdown(std::chrono::seconds(10));
    auto stopped = (*engine)->Stop();
    if (!stopped.ok()) return Fail(stopped.ToString());
    engine->reset();
    auto restored = RestoreOntoCopy(config, copy);
    if (!restored.ok()) return Fail("restoring the primary's copy: " + restored.ToString());
    // The same program, arguments and pid, on the restored store.
    std::fflush(nullptr);
    ::execv("/proc/self/exe", argv);
    return Fail(std::string("restarting: ") + std::strerror(errno));
  }
  Info("%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  metrics.reset();
  (*replication)->Stop();  // replicas' streams end; a replica stops following
  // Calls in flight get a moment to finish; new ones are refused.
  (*grpc)->Shutdown(std::chrono::seconds(10));
  auto stopped = (*engine)->Stop();
  if (!stopped.ok()) return Fail(stopped.ToString());
  Info("checkpointed; stopped cleanly");
  return 0;
}
