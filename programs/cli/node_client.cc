// The only CLI translation unit with CAF in it: the actor system, the remote
// endpoint, and the actor port the client core talks through.
#include "programs/cli/node_client.h"

#include <unistd.h>

#include <caf/all.hpp>

#include "actors/actor_port.h"
#include "actors/engine.h"
#include "actors/remote.h"

namespace postdevai::cli {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CAF's renderings of errors can span lines; our contract is one line.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

PartitionInfo ToInfo(const records::partition_report& r) {
  PartitionInfo p;
  p.kind = static_cast<std::size_t>(r.kind) < kDataKindCount ? std::string(DataKindName(r.kind))
                                                            : "kind " + std::to_string(static_cast<unsigned>(r.kind));
  p.entries = r.entries;
  p.bytes = r.bytes;
  p.budget_bytes = r.budget_bytes;
  p.hits = r.hits;
  p.misses = r.misses;
  p.evictions = r.evictions;
  p.dirty_entries = r.dirty_entries;
  p.persisted_lsn = r.persisted_lsn;
  p.restarts = r.restarts;
  p.max_record_bytes = r.max_record_bytes;
  p.uncached_writes = r.uncached_writes;
  p.ready = r.ready;
  p.eviction_policy = r.eviction_policy;
  p.file = r.file;
  return p;
}

LatencyInfo ToInfo(const records::latency_histogram& h) {
  LatencyInfo info;
  info.count = h.count;
  info.sum_seconds = h.sum_seconds;
  info.p50_at_most_seconds = h.QuantileAtMostSeconds(0.5);
  info.p99_at_most_seconds = h.QuantileAtMostSeconds(0.99);
  return info;
}

std::string KindName(DataKind kind) {
  return static_cast<std::size_t>(kind) < kDataKindCount ? std::string(DataKindName(kind))
                                                         : "kind " + std::to_string(static_cast<unsigned>(kind));
}

// Turns CAF's failure of a request into a Status that names the node and the
// request (the node's own errors come back as they were). Self-contained: a
// late reply may arrive while the client is being torn down.
Status TranslateFailure(const std::string& endpoint, std::chrono::seconds timeout, const char* what,
                        const caf::error& error) {
  if (error == caf::sec::request_timeout) {
    return Status::Unavailable("node " + endpoint + " did not answer " + what + " within " +
                               std::to_string(timeout.count()) + " s (raise --timeout, 0 waits forever)");
  }
  if (error == caf::sec::unexpected_response || error == caf::sec::unexpected_message) {
    // The reply (or our request) did not match the interface this CLI was
    // built with: the two sides were built from different messages.
    return Status::Unavailable("node " + endpoint + " did not understand " + what + " (" +
                               OneLine(caf::to_string(error)) +
                               "): is it a different postdevai version than this postdevai-cli?");
  }
  return Status::Unavailable("node " + endpoint + " failed " + what + ": " + OneLine(caf::to_string(error)));
}

}  // namespace

struct NodeClient::Impl {
  ConnectOptions options;
  std::string endpoint;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<client::MemoryClient> memory;  // destroyed before the system

  ~Impl() { memory.reset(); }

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }

};

NodeClient::NodeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeClient::~NodeClient() = default;

const std::string& NodeClient::endpoint() const { return impl_->endpoint; }

Result<std::unique_ptr<NodeClient>> NodeClient::Connect(const ConnectOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->endpoint = options.host.find(':') != std::string::npos ? "[" + options.host + "]:" + std::to_string(options.port)
                                                                : options.host + ":" + std::to_string(options.port);
  actors::ConfigureActorSystem(impl->cfg);
  // A CLI issues one request at a time: one worker thread for the scoped
  // actor's peers is plenty, and the middleman has its own thread.
  impl->cfg.set("scheduler.max-threads", static_cast<std::size_t>(1));
  actors::LoadNetworkModules(impl->cfg, options.tls);
  impl->system = std::make_unique<caf::actor_system>(impl->cfg);
  const bool tls = actors::UsesTls(options.tls);
  impl->Log("connecting to " + impl->endpoint + (tls ? " (mutual TLS, certificate " + options.tls.certificate + ")" : " (plaintext)"));
  const auto start = Clock::now();
  auto node = actors::ConnectToNode(*impl->system, options.host, options.port, options.tls);
  if (!node.ok()) {
    std::string message = OneLine(node.status().message());
    // A peer that hangs up during CAF's handshake is, in practice, a TLS
    // mismatch: say which side to check.
    if (message.find("disconnect_during_handshake") != std::string::npos) {
      message += tls ? "; TLS refused: the node rejected this client's certificate, or --ca does not hold the CA "
                       "that signed the node's"
                     : "; the node may require mutual TLS: give --cert, --key and --ca";
    }
    return Status::Unavailable(message);
  }
  impl->Log("connected to " + impl->endpoint + " in " + std::to_string(SecondsSince(start) * 1000.0) + " ms");
  actors::ActorPortOptions port_options;
  // Zero means no timeout; a year is as good as forever for a CLI.
  port_options.timeout = options.timeout.count() == 0 ? std::chrono::seconds(365LL * 86400) : options.timeout;
  port_options.translate = [endpoint = impl->endpoint, timeout = options.timeout](const char* what,
                                                                                 const caf::error& error) {
    return TranslateFailure(endpoint, timeout, what, error);
  };
  if (options.log) {
    port_options.observe = [log = options.log](const char* what, const Status& outcome, std::chrono::microseconds took) {
      log(std::string(what) + ": " + (outcome.ok() ? "ok" : outcome.ToString()) + " in " +
          std::to_string(static_cast<double>(took.count()) / 1000.0) + " ms");
    };
  }
  auto memory = client::ConnectMemoryClient(actors::MakeActorPort(*impl->system, std::move(*node), port_options),
                                            "cli:" + std::to_string(::getpid()));
  if (!memory.ok()) return memory.status();
  impl->memory = std::move(*memory);
  return std::unique_ptr<NodeClient>(new NodeClient(std::move(impl)));
}

client::MemoryClient& NodeClient::memory() { return *impl_->memory; }

Result<NodeStats> NodeClient::Stats() {
  auto report = impl_->memory->Stats().get();
  if (!report.ok()) return report.status();
  NodeStats s;
  for (const auto& p : report->partitions) s.partitions.push_back(ToInfo(p));
  const auto& r = report->sync;
  s.sync = SyncInfo{r.durable_lsn, r.applied_lsn, r.checkpoint_lsn, r.seconds_since_checkpoint, r.wal_segments,
                    r.wal_bytes, r.wal_syncs, r.wal_records, r.checkpoints};
  s.sync.wal_live_bytes = r.wal_live_bytes;
  s.reads = report->reads;
  s.writes = report->writes;
  s.ram_hits = report->ram_hits;
  s.disk_reads = report->disk_reads;
  s.promotions = report->promotions;
  s.prefetches = report->prefetches;
  s.prefetch_hits = report->prefetch_hits;
  s.prefetch_enabled = report->prefetch_enabled;
  s.read_latency = ToInfo(report->read_latency);
  s.write_latency = ToInfo(report->write_latency);
  s.errors = report->errors;
  return s;
}

Result<std::vector<StoreKindInfo>> NodeClient::Breakdown() {
  auto kinds = impl_->memory->Breakdown().get();
  if (!kinds.ok()) return kinds.status();
  std::vector<StoreKindInfo> out;
  for (const auto& k : *kinds) {
    StoreKindInfo info;
    info.kind = KindName(k.kind);
    info.entries = k.entries;
    info.raw_bytes = k.raw_bytes;
    info.stored_bytes = k.stored_bytes;
    info.disk_bytes = k.disk_bytes;
    info.dictionary_id = k.dictionary_id;
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::uint64_t> NodeClient::Evict(std::uint64_t older_than_seconds) {
  auto results = EvictDetailed(older_than_seconds, false);
  if (!results.ok()) return results.status();
  std::uint64_t total = 0;
  for (const auto& r : *results) total += r.entries;
  return total;
}

Result<std::vector<EvictionInfo>> NodeClient::EvictDetailed(std::uint64_t older_than_seconds, bool dry_run) {
  auto results = impl_->memory->Evict(older_than_seconds, dry_run).get();
  if (!results.ok()) return results.status();
  std::vector<EvictionInfo> out;
  for (const auto& r : *results) out.push_back(EvictionInfo{KindName(r.kind), r.entries, r.bytes});
  return out;
}

Result<std::uint64_t> NodeClient::Sync() { return impl_->memory->Sync().get(); }

Result<std::uint64_t> NodeClient::Compact() { return impl_->memory->Compact().get(); }

}  // namespace postdevai::cli
