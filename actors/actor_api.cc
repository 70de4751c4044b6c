// The public way in for actor-native hosts (include/postdevai/actor_api.h): a
// thin handle over actors::Engine, so that hosts see neither the storage nor
// the RAM-Lake headers engine.h pulls in.
#include "postdevai/actor_api.h"

#include <cstdio>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/hot_reads.h"
#include "actors/remote.h"

namespace postdevai {

namespace {

std::vector<std::string> RecoveryLog(const actors::EngineReport& report) {
  std::vector<std::string> log;
  char line[512];
  std::snprintf(line, sizeof line, "persistent store %s, write-ahead log %s, RAM-Lake %s", report.store_path.c_str(),
                report.wal_path.c_str(), report.ramlake_path.c_str());
  log.emplace_back(line);
  std::snprintf(line, sizeof line, "WAL: replayed %llu of %llu records after checkpoint %llu in %.3f s%s",
                static_cast<unsigned long long>(report.cold.wal.replayed),
                static_cast<unsigned long long>(report.cold.wal.records),
                static_cast<unsigned long long>(report.cold.checkpoint_lsn), report.cold.seconds,
                report.cold.wal.torn_tail ? " (torn tail cut off)" : "");
  log.emplace_back(line);
  if (report.cold.wal.torn_tail) log.push_back("WAL: " + report.cold.wal.torn_tail_detail);
  for (DataKind kind : kAllDataKinds) {
    log.push_back("RAM-Lake " + std::string(DataKindName(kind)) + ": " +
                  report.partitions[DataKindIndex(kind)].ToString());
  }
  if (!report.ramlake_warning.empty()) log.push_back("warning: " + report.ramlake_warning);
  return log;
}

}  // namespace

void ConfigureActorSystem(caf::actor_system_config& cfg) { actors::ConfigureActorSystem(cfg); }

Status StatusFromError(const caf::error& error) { return actors::FromError(error); }

void ConfigureRemoteAccess(caf::actor_system_config& cfg, const NodeConfig& tls) { actors::LoadNetworkModules(cfg, tls); }

Result<engine_actor> ConnectRemoteEngine(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                                         const NodeConfig& tls) {
  return actors::ConnectToNode(sys, host, port, tls);
}

EmbeddedEngine::EmbeddedEngine(std::unique_ptr<actors::Engine> engine) : engine_(std::move(engine)) {}

// Engine's destructor stops it (checkpoint, actors gone) if Stop was not called.
EmbeddedEngine::~EmbeddedEngine() = default;

engine_actor EmbeddedEngine::engine() const { return engine_->local(); }

std::optional<read_result> EmbeddedEngine::ReadHot(DataKind kind, std::string_view key, std::string_view reader) const {
  read_result hit;
  if (!engine_->hot_reads()->Read(kind, key, reader, &hit)) return std::nullopt;
  return hit;
}

Status EmbeddedEngine::Stop() { return engine_->Stop(); }

Result<std::unique_ptr<EmbeddedEngine>> StartHybridMemory(caf::actor_system& sys, const HybridMemoryConfig& config,
                                                          std::vector<std::string>* warnings) {
  PDAI_RETURN_IF_ERROR(ValidateConfig(config, warnings));
  actors::EngineReport report;
  auto engine = actors::Engine::Start(sys, config, &report);
  if (!engine.ok()) return engine.status();
  std::unique_ptr<EmbeddedEngine> handle(new EmbeddedEngine(std::move(*engine)));
  handle->recovery_log_ = RecoveryLog(report);
  return handle;
}

}  // namespace postdevai
