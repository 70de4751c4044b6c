// A real engine in the fuzz target's own process, for the targets that drive
// the public doors (grpc_requests, caf_public_messages): its own actor
// system, configured as dragon_node configures one, and a small engine
// (64 MiB RAM-Lake, 8-float vectors so that a vector fits in a short input,
// 1 MiB WAL segments) whose store, WAL and RAM-Lake live in a ScratchDir.
// Started once per process on first use -- never per input -- and stopped at
// exit, in order (the door first, then the engine, then the actor system),
// so that a clean end of a fuzz run is not a crash in a destructor.
// Includes CAF: only these two targets include it.
#pragma once

#include <caf/all.hpp>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actors/engine.h"
#include "fuzz/fuzz_harness.h"
#include "postdevai/config.h"
#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"

namespace postdevai::fuzz {

class FuzzEngine {
 public:
  // The engine of this process (started by the first call; Fail if it cannot start).
  static FuzzEngine& Get() {
    static FuzzEngine* engine = [] {
      auto* e = new FuzzEngine();
      // On a thread of its own: exit() has already destroyed the main
      // thread's thread_locals when atexit handlers run, and CAF 0.17's
      // ~actor_system resets its thread-local logger pointer.
      std::atexit([] { std::thread([] { Get().Stop(); }).join(); });
      return e;
    }();
    return *engine;
  }

  caf::actor_system& system() { return *system_; }
  actors::Engine& engine() { return *engine_; }
  const HybridMemoryConfig& config() const { return config_; }

  // Runs `stop` at exit before the engine stops (latest registered first):
  // the door that serves the engine.
  void BeforeStop(std::function<void()> stop) { before_stop_.push_back(std::move(stop)); }

 private:
  FuzzEngine() : scratch_("engine") {
    config_ = EmbeddedDefaults();
    config_.persistent_path = scratch_ / "disk";
    config_.ramlake_path = scratch_ / "ram/ramlake";
    config_.ramlake_size_gb = 64.0 / 1024;
    config_.cache_size_mb = 8;
    config_.max_ram_entries = 100000;
    config_.wal.segment_size_mb = 1;
    config_.vectors.dimension = 8;
    config_.metrics.enabled = false;
    config_.caf.enabled = false;
    config_.node.address = "127.0.0.1";
    config_.node.port = 0;
    config_.grpc.deadline_seconds = 10;
    config_.logging.level = LogLevel::kError;  // a refused input is not news
    if (auto s = ConfigureLogging(config_.logging); !s.ok()) Fail("logging: " + s.ToString());
    // OpenSSL initializes itself on first use (CodeIdForPath's SHA-256) and
    // keeps that thread's error state in thread-specific data, which
    // LeakSanitizer does not scan on the gRPC and CAF threads: initialize
    // it here, on the main thread, rather than report it as a leak.
    (void)CodeIdForPath("fuzz");
    actors::ConfigureActorSystem(system_config_);
    system_ = std::make_unique<caf::actor_system>(system_config_);
    auto started = actors::Engine::Start(*system_, config_);
    if (!started.ok()) Fail("the engine does not start: " + started.status().ToString());
    engine_ = std::move(*started);
  }

  void Stop() {
    for (auto it = before_stop_.rbegin(); it != before_stop_.rend(); ++it) (*it)();
    before_stop_.clear();
    if (engine_) {
      if (auto s = engine_->Stop(); !s.ok()) Fail("the engine does not stop cleanly: " + s.ToString());
      engine_.reset();
    }
    system_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(scratch_.path(), ignored);
  }

  ScratchDir scratch_;
  HybridMemoryConfig config_;
  caf::actor_system_config system_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<actors::Engine> engine_;
  std::vector<std::function<void()>> before_stop_;
};

// For the targets that run an engine, from LLVMFuzzerInitialize:
// -detect_leaks=0 unless the command line sets it. libFuzzer's leak check
// after an input (rerun it, then a LeakSanitizer scan of the whole heap,
// whenever the process malloc'ed more than it freed during the input) fires
// on most inputs of a running engine, whose caches, memtable and gRPC/CAF
// threads legitimately allocate, and cut the rate about fivefold. Leaks are
// left to the decoder targets and to scripts/sanitize.sh's tests.
inline void SkipPerInputLeakCheck(int* argc, char*** argv) { AddFlagUnlessGiven(argc, argv, "-detect_leaks=0"); }

}  // namespace postdevai::fuzz
