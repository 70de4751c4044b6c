// The only CLI translation unit with CAF in it: the actor system, the remote
// controller handle and a scoped actor that issues blocking requests.
#include "programs/cli/node_client.h"

#include <caf/all.hpp>

#include "actors/engine.h"
#include "actors/errors.h"
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

PartitionInfo ToInfo(const actors::partition_report& r) {
  PartitionInfo p;
  p.kind = r.kind < kDataKindCount ? std::string(DataKindName(static_cast<DataKind>(r.kind)))
                                   : "kind " + std::to_string(r.kind);
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

LatencyInfo ToInfo(const actors::latency_histogram& h) {
  LatencyInfo info;
  info.count = h.count;
  info.sum_seconds = h.sum_seconds;
  if (h.count == 0) return info;
  // buckets[i] counts requests of at most kLatencyBoundsMicros[i] (and more
  // than the bound before); the last bucket has no upper bound.
  auto quantile = [&](double q) {
    const double target = q * static_cast<double>(h.count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      seen += h.buckets[i];
      if (static_cast<double>(seen) >= target) {
        return i < actors::kLatencyBoundsMicros.size() ? static_cast<double>(actors::kLatencyBoundsMicros[i]) / 1e6 : -1.0;
      }
    }
    return -1.0;
  };
  info.p50_at_most_seconds = quantile(0.5);
  info.p99_at_most_seconds = quantile(0.99);
  return info;
}

}  // namespace

struct NodeClient::Impl {
  ConnectOptions options;
  std::string endpoint;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<caf::scoped_actor> self;  // destroyed before the system
  actors::controller_actor node;

  ~Impl() {
    self.reset();
    node = nullptr;
  }

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  // Turns a failed request into a Status that names the node and the request.
  Status Translate(const char* what, const caf::error& error) const {
    if (error.category() == caf::atom("postdevai")) return actors::FromError(error);
    if (error == caf::sec::request_timeout) {
      return Status::Unavailable("node " + endpoint + " did not answer " + what + " within " +
                                 std::to_string(options.timeout.count()) + " s (raise --timeout, 0 waits forever)");
    }
    if (error == caf::sec::unexpected_response || error == caf::sec::unexpected_message) {
      // The reply (or our request) did not match the interface this CLI was
      // built with: the two sides were built from different messages.h.
      return Status::Unavailable("node " + endpoint + " did not understand " + what + " (" +
                                 OneLine(system->render(error)) +
                                 "): is it a different postdevai version than this postdevai-cli?");
    }
    return Status::Unavailable("node " + endpoint + " failed " + what + ": " + OneLine(system->render(error)));
  }

  // One blocking request; the reply of type T or the translated error.
  template <class T, class... Ts>
  Result<T> Ask(const char* what, Ts&&... xs) {
    Result<T> out = Status::Unavailable("node " + endpoint + ": no reply to " + what);
    const auto start = Clock::now();
    // Zero means no timeout; a year is as good as forever for a CLI.
    const auto timeout = options.timeout.count() == 0 ? std::chrono::seconds(365LL * 86400) : options.timeout;
    (*self)->request(node, timeout, std::forward<Ts>(xs)...)
        .receive([&](T& reply) { out = std::move(reply); },
                 [&](caf::error& error) { out = Translate(what, error); });
    Log(std::string(what) + ": " + (out.ok() ? "ok" : out.status().ToString()) + " in " +
        std::to_string(SecondsSince(start) * 1000.0) + " ms");
    return out;
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
  impl->node = std::move(*node);
  impl->self = std::make_unique<caf::scoped_actor>(*impl->system);
  return std::unique_ptr<NodeClient>(new NodeClient(std::move(impl)));
}

Result<NodeStats> NodeClient::Stats() {
  auto report = impl_->Ask<actors::memory_report>("memory stats", actors::stats_atom_v);
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
  auto kinds = impl_->Ask<std::vector<actors::store_kind_report>>("memory breakdown", actors::breakdown_atom_v);
  if (!kinds.ok()) return kinds.status();
  std::vector<StoreKindInfo> out;
  for (const auto& k : *kinds) {
    StoreKindInfo info;
    info.kind = k.kind < kDataKindCount ? std::string(DataKindName(static_cast<DataKind>(k.kind)))
                                        : "kind " + std::to_string(k.kind);
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
  return impl_->Ask<std::uint64_t>("memory evict", actors::evict_atom_v, older_than_seconds);
}

Result<std::vector<EvictionInfo>> NodeClient::EvictDetailed(std::uint64_t older_than_seconds, bool dry_run) {
  auto results = impl_->Ask<std::vector<actors::eviction_result>>(dry_run ? "memory evict --dry-run" : "memory evict",
                                                                 actors::evict_atom_v, older_than_seconds, dry_run);
  if (!results.ok()) return results.status();
  std::vector<EvictionInfo> out;
  for (const auto& r : *results) {
    out.push_back(EvictionInfo{r.kind < kDataKindCount ? std::string(DataKindName(static_cast<DataKind>(r.kind)))
                                                       : "kind " + std::to_string(r.kind),
                               r.entries, r.bytes});
  }
  return out;
}

Result<std::uint64_t> NodeClient::Sync() { return impl_->Ask<std::uint64_t>("memory sync", actors::sync_atom_v); }

Result<std::uint64_t> NodeClient::Compact() {
  return impl_->Ask<std::uint64_t>("memory compact", actors::compact_atom_v);
}

Result<std::uint64_t> NodeClient::Write(std::vector<Mutation> mutations) {
  actors::write_batch batch;
  batch.mutations.reserve(mutations.size());
  for (auto& m : mutations) {
    batch.mutations.push_back(
        actors::mutation{static_cast<std::uint8_t>(m.kind), std::move(m.key), std::move(m.value), m.erase});
  }
  return impl_->Ask<std::uint64_t>("write", actors::write_atom_v, std::move(batch));
}

Result<std::vector<SearchResult>> NodeClient::Search(const SearchQuery& query) {
  actors::search_request request;
  request.query = query.embedding;
  request.model = query.model;
  request.k = query.limit;
  request.exact = query.exact;
  request.path_prefix = query.path_prefix;
  request.language = query.language;
  auto hits = impl_->Ask<std::vector<actors::search_hit>>("search", actors::search_atom_v, std::move(request));
  if (!hits.ok()) return hits.status();
  std::vector<SearchResult> out;
  for (auto& h : *hits) out.push_back(SearchResult{std::move(h.path), h.chunk, std::move(h.language), h.score});
  return out;
}

Result<std::pair<std::uint64_t, std::uint64_t>> NodeClient::AppendContext(const std::string& session,
                                                                          const std::string& message) {
  Result<std::pair<std::uint64_t, std::uint64_t>> out = Status::Unavailable("node " + impl_->endpoint + ": no reply to context add");
  const auto timeout =
      impl_->options.timeout.count() == 0 ? std::chrono::seconds(365LL * 86400) : impl_->options.timeout;
  (*impl_->self)
      ->request(impl_->node, timeout, actors::append_atom_v, session, message)
      .receive([&](std::uint64_t lsn, std::uint64_t count) { out = std::make_pair(lsn, count); },
               [&](caf::error& error) { out = impl_->Translate("context add", error); });
  return out;
}

Result<ReadValue> NodeClient::Read(DataKind kind, const std::string& key) {
  auto r = impl_->Ask<actors::read_result>("read", actors::read_atom_v, static_cast<std::uint8_t>(kind), key);
  if (!r.ok()) return r.status();
  return ReadValue{std::move(r->value), r->lsn, r->served_from == actors::tier::ram};
}

}  // namespace postdevai::cli
