#include "programs/cli/node_client.h"

namespace postdevai::cli {

namespace {

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
  p.index_vectors = r.index_vectors;
  p.index_bytes = r.index_bytes;
  p.index_graph_bytes = r.index_graph_bytes;
  p.text_index_units = r.text_index_units;
  p.text_index_bytes = r.text_index_bytes;
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

}  // namespace

struct NodeClient::Impl {
  std::unique_ptr<rpc::MemoryConnection> memory;
};

NodeClient::NodeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeClient::~NodeClient() = default;

const std::string& NodeClient::endpoint() const { return impl_->memory->endpoint(); }

Result<std::unique_ptr<NodeClient>> NodeClient::Connect(const ConnectOptions& options) {
  rpc::ConnectionOptions connection;
  connection.host = options.host;
  connection.port = options.port;
  connection.ca_file = options.tls.ca_file;
  connection.certificate = options.tls.certificate;
  connection.key = options.tls.key;
  connection.token = options.token;
  connection.timeout = options.timeout;
  connection.log = options.log;
  auto memory = rpc::MemoryConnection::Connect(connection);
  if (!memory.ok()) return memory.status();
  auto impl = std::make_unique<Impl>();
  impl->memory = std::move(*memory);
  return std::unique_ptr<NodeClient>(new NodeClient(std::move(impl)));
}

rpc::MemoryConnection& NodeClient::memory() { return *impl_->memory; }

Result<std::vector<records::finding>> NodeClient::Diagnose() { return impl_->memory->Diagnose(); }

Result<NodeStats> NodeClient::Stats() {
  auto report = impl_->memory->Stats();
  if (!report.ok()) return report.status();
  NodeStats s;
  for (const auto& p : report->partitions) s.partitions.push_back(ToInfo(p));
  const auto& r = report->sync;
  s.sync = SyncInfo{r.durable_lsn, r.applied_lsn, r.checkpoint_lsn, r.seconds_since_checkpoint, r.wal_segments,
                    r.wal_bytes, r.wal_syncs, r.wal_records, r.checkpoints};
  s.sync.wal_live_bytes = r.wal_live_bytes;
  s.sync.relaxed_kinds = r.relaxed_kinds;
  s.sync.relaxed_sync_ms = r.relaxed_sync_ms;
  s.sync.unsynced_bytes = r.unsynced_bytes;
  s.sync.unsynced_micros = r.unsynced_micros;
  s.sync.lost_relaxed_writes = r.lost_relaxed_writes;
  s.sync.backup_path = r.backup_path;
  s.sync.archive_segments = r.archive_segments;
  s.sync.archive_bytes = r.archive_bytes;
  s.sync.archive_oldest_age_seconds = r.archive_oldest_age_seconds;
  s.sync.backups = r.backups;
  s.sync.last_backup_lsn = r.last_backup_lsn;
  s.sync.last_backup_age_seconds = r.last_backup_age_seconds;
  s.sync.backup_error = r.backup_error;
  if (auto replication = impl_->memory->ReplicationStatus(); replication.ok()) s.replication = std::move(*replication);
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
  auto kinds = impl_->memory->Breakdown();
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
  auto results = impl_->memory->Evict(older_than_seconds, dry_run);
  if (!results.ok()) return results.status();
  std::vector<EvictionInfo> out;
  for (const auto& r : *results) out.push_back(EvictionInfo{KindName(r.kind), r.entries, r.bytes});
  return out;
}

Result<std::uint64_t> NodeClient::Sync() { return impl_->memory->Sync(); }

Result<std::uint64_t> NodeClient::Compact() { return impl_->memory->Compact(); }

}  // namespace postdevai::cli
