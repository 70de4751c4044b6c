// dragon_node: the PostDevAI Hybrid Memory node.
//
//   dragon_node [--config FILE] [--check-config]
//
// Without --config it runs on embedded defaults sized for this machine. It
// recovers the cold tier (LevelDB checkpoint + WAL replay), then serves until
// SIGINT or SIGTERM, checkpointing every sync_interval_minutes and once more on
// the way out.
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "config/config_cli.h"
#include "postdevai/config.h"
#include "programs/node_options.h"
#include "storage/durable_store.h"

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
               "Stops cleanly (checkpoint, files flushed) on SIGINT or SIGTERM.\n");
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "dragon_node: %s\n", what.c_str());
  return 1;
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
  for (const auto& w : warnings) std::fprintf(stderr, "dragon_node: warning: %s\n", w.c_str());
  if (!valid.ok()) return Fail(valid.message());

  // Block the stop signals; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto options = postdevai::DurableStoreOptionsFromConfig(config);
  std::fprintf(stderr, "dragon_node: config: %s\n", config_path.empty() ? "embedded defaults" : config_path.c_str());
  std::fprintf(stderr, "dragon_node: persistent store: %s (LevelDB, %s values)\n", options.store.path.c_str(),
               options.store.compression ? "zstd-compressed" : "uncompressed");
  std::fprintf(stderr, "dragon_node: write-ahead log: %s (segments before a checkpoint: %s)\n",
               options.wal_dir.c_str(), options.wal_archive ? ("archived to " + options.wal_archive_dir).c_str() : "deleted");

  postdevai::storage::DurableStoreRecovery recovery;
  auto store = postdevai::storage::DurableStore::Open(options, &recovery);
  if (!store.ok()) return Fail(store.status().ToString());
  std::fprintf(stderr, "dragon_node: recovered in %.3f s: checkpoint LSN %llu, replayed %llu WAL records (%llu segments)\n",
               recovery.seconds, static_cast<unsigned long long>(recovery.checkpoint_lsn),
               static_cast<unsigned long long>(recovery.wal.replayed),
               static_cast<unsigned long long>(recovery.wal.segments));
  if (recovery.wal.torn_tail) std::fprintf(stderr, "dragon_node: %s\n", recovery.wal.torn_tail_detail.c_str());
  std::fprintf(stderr, "dragon_node: ready; checkpoint every %u min; SIGINT/SIGTERM stops\n",
               config.sync_interval_minutes);

  const timespec interval{static_cast<time_t>(config.sync_interval_minutes) * 60, 0};
  for (;;) {
    int sig = sigtimedwait(&stop_signals, nullptr, &interval);
    if (sig == SIGINT || sig == SIGTERM) {
      std::fprintf(stderr, "dragon_node: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig < 0 && errno != EAGAIN && errno != EINTR) return Fail(std::string("waiting for signals: ") + std::strerror(errno));
    auto lsn = (*store)->Checkpoint();
    if (!lsn.ok()) {
      std::fprintf(stderr, "dragon_node: checkpoint failed (will retry): %s\n", lsn.status().ToString().c_str());
    }
  }
  auto lsn = (*store)->Checkpoint();
  if (!lsn.ok()) return Fail("final checkpoint: " + lsn.status().ToString());
  std::fprintf(stderr, "dragon_node: checkpoint at LSN %llu; stopped cleanly\n", static_cast<unsigned long long>(*lsn));
  return 0;
}
