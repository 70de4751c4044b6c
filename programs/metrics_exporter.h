// The node's Prometheus endpoint: every second it asks the controller for its
// report and updates the metrics that /metrics serves (prometheus-cpp's
// exposer, text format). Runs on a thread of its own; stopping joins it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <functional>

#include "actors/interfaces.h"
#include "rpc/grpc_server.h"
#include "rpc/replication.h"
#include "postdevai/config.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace postdevai {

class MetricsExporter {
 public:
  // Serves on config.address:config.port (0: any free port). Errors name the
  // address when it cannot be bound.
  // `grpc` (may be null): the gRPC door's counters, exported as postdevai_grpc_*;
  // `replication` (may be null): the node's replication, as replication_*.
  static Result<std::unique_ptr<MetricsExporter>> Start(caf::actor_system& sys,
                                                        actors::engine_actor engine,
                                                        const MetricsConfig& config,
                                                        std::function<rpc::GrpcCounters()> grpc = nullptr,
                                                        std::function<rpc::ReplicationStatus()> replication = nullptr);
  ~MetricsExporter();
  std::uint16_t port() const { return port_; }

  // One refresh, now (the thread does this every second).
  void Refresh();

 private:
  MetricsExporter() = default;
  struct Metrics;
  caf::actor_system* sys_ = nullptr;
  actors::engine_actor engine_;
  std::function<rpc::GrpcCounters()> grpc_;
  std::function<rpc::ReplicationStatus()> replication_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> metrics_;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace postdevai
