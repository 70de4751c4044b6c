#include "programs/metrics_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>

#include "postdevai/log.h"

namespace postdevai {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Prometheus counters only go up: add what was counted since the last refresh.
void Advance(prometheus::Counter& counter, std::uint64_t total) {
  const double now = static_cast<double>(total);
  if (now > counter.Value()) counter.Increment(now - counter.Value());
}

}  // namespace

struct MetricsExporter::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : usage(BuildGauge().Name("ramlake_usage_bytes").Help("Bytes of live records in each RAM-Lake partition").Register(r)),
        budget(BuildGauge().Name("ramlake_budget_bytes").Help("Bytes each RAM-Lake partition may hold").Register(r)),
        entries(BuildGauge().Name("ramlake_entries").Help("Entries resident in each RAM-Lake partition").Register(r)),
        index_vectors(BuildGauge().Name("vector_index_vectors").Help("Vectors in the search index (both tiers)").Register(r).Add({})),
        index_bytes(BuildGauge()
                        .Name("vector_index_bytes")
                        .Help("RAM the vector search index takes: int8 copies, attributes and graph")
                        .Register(r)
                        .Add({})),
        text_index_bytes(BuildGauge()
                             .Name("text_index_bytes")
                             .Help("RAM the lexical (BM25) index takes, per partition (code files, session messages)")
                             .Register(r)),
        unsynced_bytes(BuildGauge()
                           .Name("unsynced_bytes")
                           .Help("Bytes of acknowledged relaxed writes not yet durable, per kind (what a crash loses now)")
                           .Register(r)),
        unsynced_age(BuildGauge()
                         .Name("unsynced_age_seconds")
                         .Help("Age of the oldest acknowledged relaxed write not yet durable, per kind")
                         .Register(r)),
        hits(BuildCounter().Name("ramlake_hits_total").Help("Reads served by each partition").Register(r)),
        misses(BuildCounter().Name("ramlake_misses_total").Help("Reads each partition missed").Register(r)),
        evictions(BuildCounter().Name("ramlake_evictions_total").Help("Entries evicted from each partition").Register(r)),
        restarts(BuildCounter().Name("ramlake_partition_restarts_total").Help("Partition actors restarted by the supervisor").Register(r)),
        persistent(BuildGauge().Name("persistent_usage_bytes").Help("Bytes LevelDB takes on disk (its estimate)").Register(r).Add({})),
        hit_rate(BuildGauge().Name("cache_hit_rate").Help("Share of reads served from RAM since start").Register(r).Add({})),
        sync_lag(BuildGauge().Name("sync_lag_seconds").Help("Seconds since the last checkpoint").Register(r).Add({})),
        compression(BuildGauge().Name("compression_ratio").Help("Raw over stored bytes of values written since start").Register(r).Add({})),
        ops(BuildCounter().Name("postdevai_operations_total").Help("Requests the controller handled").Register(r)),
        reads(ops.Add({{"op", "read"}})),
        writes(ops.Add({{"op", "write"}})),
        disk_reads(BuildCounter().Name("postdevai_disk_reads_total").Help("Reads served from LevelDB").Register(r).Add({})),
        errors(BuildCounter().Name("postdevai_errors_total").Help("Requests answered with an error").Register(r).Add({})),
        promotions(BuildCounter().Name("postdevai_promotions_total").Help("Entries promoted from disk into RAM").Register(r).Add({})),
        prefetches(BuildCounter().Name("postdevai_prefetches_total").Help("Prefetches issued").Register(r).Add({})),
        prefetch_hits(BuildCounter().Name("postdevai_prefetch_hits_total").Help("Prefetched entries read afterwards").Register(r).Add({})),
        wal_bytes(BuildCounter().Name("wal_bytes_total").Help("Bytes appended to the write-ahead log since start").Register(r).Add({})),
        wal_syncs(BuildCounter().Name("wal_syncs_total").Help("fdatasync calls of the write-ahead log since start").Register(r).Add({})),
        wal_segments(BuildGauge().Name("wal_segments").Help("Live WAL segment files (the backlog before a checkpoint)").Register(r).Add({})),
        checkpoint_lsn(BuildGauge().Name("checkpoint_lsn").Help("LSN of the last checkpoint").Register(r).Add({})),
        durable_lsn(BuildGauge().Name("durable_lsn").Help("Highest durable LSN").Register(r).Add({})),
        archive_bytes(BuildGauge().Name("archive_bytes").Help("Bytes of the WAL archive in the backup location").Register(r).Add({})),
        archive_segments(BuildGauge().Name("archive_segments").Help("Segments in the WAL archive").Register(r).Add({})),
        archive_age(BuildGauge()
                        .Name("archive_oldest_age_seconds")
                        .Help("Age of the WAL archive's oldest segment (0: empty)")
                        .Register(r)
                        .Add({})),
        backups(BuildGauge().Name("backups").Help("Complete backups in the backup location").Register(r).Add({})),
        last_backup_age(BuildGauge()
                            .Name("last_backup_age_seconds")
                            .Help("Age of the newest backup (0: none)")
                            .Register(r)
                            .Add({})),
        last_backup_lsn(BuildGauge().Name("last_backup_lsn").Help("LSN the newest backup holds every write up to").Register(r).Add({})),
        latency(BuildHistogram().Name("postdevai_request_duration_seconds").Help("Controller request latency").Register(r)),
        grpc_calls(BuildCounter().Name("postdevai_grpc_calls_total").Help("Calls that reached the gRPC API").Register(r).Add({})),
        grpc_errors(BuildCounter().Name("postdevai_grpc_errors_total").Help("gRPC calls answered with an error (refusals included)").Register(r).Add({})),
        grpc_refused(BuildCounter().Name("postdevai_grpc_refused_total").Help("gRPC calls refused, by reason").Register(r)),
        grpc_in_flight(BuildGauge().Name("postdevai_grpc_calls_in_flight").Help("gRPC calls not answered yet").Register(r).Add({})),
        grpc_held(BuildGauge().Name("postdevai_grpc_held_bytes").Help("Bytes of gRPC requests and replies held (limit: grpc.memory_mb)").Register(r).Add({})),
        grpc_connections(BuildGauge().Name("postdevai_grpc_connections").Help("Open gRPC connections (limit: grpc.max_connections)").Register(r).Add({})),
        grpc_ended(BuildCounter().Name("postdevai_grpc_connections_ended_total").Help("gRPC connections the node ended, by reason").Register(r)),
        replication_lag_lsns(BuildGauge().Name("replication_lag_lsns").Help("A replica: LSNs its primary has made durable that it does not hold yet").Register(r).Add({})),
        replication_lag_bytes(BuildGauge().Name("replication_lag_bytes").Help("A replica: bytes of WAL records its primary holds beyond it (a lower bound when far behind)").Register(r).Add({})),
        replication_lag_seconds(BuildGauge().Name("replication_lag_seconds").Help("A replica: age difference of the primary's newest durable write and its own (both stamped by the primary)").Register(r).Add({})),
        replication_connected(BuildGauge().Name("replication_connected").Help("A replica: 1 while it hears from its primary, 0 otherwise").Register(r).Add({})),
        replication_replicas(BuildGauge().Name("replication_replicas").Help("A primary: replicas following it now").Register(r).Add({})),
        replication_buffer_bytes(BuildGauge().Name("replication_buffer_bytes").Help("A primary: WAL records held in RAM for replicas ([replication] buffer_mb)").Register(r).Add({})),
        replication_received(BuildCounter().Name("replication_received_records_total").Help("A replica: WAL records received and applied").Register(r).Add({})),
        replication_reconnects(BuildCounter().Name("replication_reconnects_total").Help("A replica: times it lost its primary and connected again").Register(r).Add({})),
        replication_fenced(BuildGauge().Name("replication_fenced").Help("1 when a promoted replica replaced this node: it refuses writes").Register(r).Add({})) {}

  prometheus::Family<prometheus::Gauge>& usage;
  prometheus::Family<prometheus::Gauge>& budget;
  prometheus::Family<prometheus::Gauge>& entries;
  prometheus::Gauge& index_vectors;
  prometheus::Gauge& index_bytes;
  prometheus::Family<prometheus::Gauge>& text_index_bytes;
  prometheus::Family<prometheus::Gauge>& unsynced_bytes;
  prometheus::Family<prometheus::Gauge>& unsynced_age;
  prometheus::Family<prometheus::Counter>& hits;
  prometheus::Family<prometheus::Counter>& misses;
  prometheus::Family<prometheus::Counter>& evictions;
  prometheus::Family<prometheus::Counter>& restarts;
  prometheus::Gauge& persistent;
  prometheus::Gauge& hit_rate;
  prometheus::Gauge& sync_lag;
  prometheus::Gauge& compression;
  prometheus::Family<prometheus::Counter>& ops;
  prometheus::Counter& reads;
  prometheus::Counter& writes;
  prometheus::Counter& disk_reads;
  prometheus::Counter& errors;
  prometheus::Counter& promotions;
  prometheus::Counter& prefetches;
  prometheus::Counter& prefetch_hits;
  prometheus::Counter& wal_bytes;
  prometheus::Counter& wal_syncs;
  prometheus::Gauge& wal_segments;
  prometheus::Gauge& checkpoint_lsn;
  prometheus::Gauge& durable_lsn;
  prometheus::Gauge& archive_bytes;
  prometheus::Gauge& archive_segments;
  prometheus::Gauge& archive_age;
  prometheus::Gauge& backups;
  prometheus::Gauge& last_backup_age;
  prometheus::Gauge& last_backup_lsn;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Counter& grpc_calls;
  prometheus::Counter& grpc_errors;
  prometheus::Family<prometheus::Counter>& grpc_refused;
  prometheus::Gauge& grpc_in_flight;
  prometheus::Gauge& grpc_held;
  prometheus::Gauge& grpc_connections;
  prometheus::Family<prometheus::Counter>& grpc_ended;
  prometheus::Gauge& replication_lag_lsns;
  prometheus::Gauge& replication_lag_bytes;
  prometheus::Gauge& replication_lag_seconds;
  prometheus::Gauge& replication_connected;
  prometheus::Gauge& replication_replicas;
  prometheus::Gauge& replication_buffer_bytes;
  prometheus::Counter& replication_received;
  prometheus::Counter& replication_reconnects;
  prometheus::Gauge& replication_fenced;
  prometheus::Histogram* read_latency = nullptr;
  prometheus::Histogram* write_latency = nullptr;
  actors::latency_histogram last_read, last_write;  // what was already observed
};

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::Start(caf::actor_system& sys,
                                                                actors::engine_actor engine,
                                                                const MetricsConfig& config,
                                                                std::function<rpc::GrpcCounters()> grpc,
                                                                std::function<rpc::ReplicationStatus()> replication) {
  std::unique_ptr<MetricsExporter> e(new MetricsExporter());
  e->replication_ = std::move(replication);
  e->sys_ = &sys;
  e->engine_ = std::move(engine);
  e->grpc_ = std::move(grpc);
  const std::string address = config.address + ":" + std::to_string(config.port);
  try {
    // prometheus-cpp (civetweb) reports a failed bind by throwing.
    e->exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& ex) {
    return Status::Unavailable("cannot serve metrics on " + address + ": " + ex.what());
  }
  auto ports = e->exposer_->GetListeningPorts();
  e->port_ = ports.empty() ? config.port : static_cast<std::uint16_t>(ports.front());
  e->registry_ = std::make_shared<prometheus::Registry>();
  e->metrics_ = std::make_unique<Metrics>(*e->registry_);
  std::vector<double> bounds;
  for (auto micros : actors::kLatencyBoundsMicros) bounds.push_back(static_cast<double>(micros) / 1e6);
  e->metrics_->read_latency = &e->metrics_->latency.Add({{"op", "read"}}, bounds);
  e->metrics_->write_latency = &e->metrics_->latency.Add({{"op", "write"}}, bounds);
  e->exposer_->RegisterCollectable(e->registry_);
  e->Refresh();
  e->thread_ = std::thread([raw = e.get()] {
    std::unique_lock lock(raw->mu_);
    while (!raw->stop_) {
      raw->cv_.wait_for(lock, std::chrono::seconds(1));
      if (raw->stop_) break;
      lock.unlock();
      raw->Refresh();
      lock.lock();
    }
  });
  return e;
}

MetricsExporter::~MetricsExporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MetricsExporter::Refresh() {
  caf::scoped_actor self{*sys_};
  actors::memory_report r;
  bool ok = false;
  self->request(engine_, std::chrono::seconds(5), actors::stats_atom_v)
      .receive([&](actors::memory_report& report) { r = std::move(report); ok = true; },
               [&](caf::error& err) { LogWarning("metrics", "refresh failed: " + caf::to_string(err)); });
  if (!ok) return;
  auto& m = *metrics_;
  for (const auto& p : r.partitions) {
    const std::map<std::string, std::string> label{{"partition", std::string(DataKindName(p.kind))}};
    m.usage.Add(label).Set(static_cast<double>(p.bytes));
    m.budget.Add(label).Set(static_cast<double>(p.budget_bytes));
    m.entries.Add(label).Set(static_cast<double>(p.entries));
    Advance(m.hits.Add(label), p.hits);
    Advance(m.misses.Add(label), p.misses);
    Advance(m.evictions.Add(label), p.evictions);
    Advance(m.restarts.Add(label), p.restarts);
    if (p.kind == DataKind::kVectors) {
      m.index_vectors.Set(static_cast<double>(p.index_vectors));
      m.index_bytes.Set(static_cast<double>(p.index_bytes));
    }
    if (p.kind == DataKind::kCode || p.kind == DataKind::kHistory) {
      m.text_index_bytes.Add(label).Set(static_cast<double>(p.text_index_bytes));
    }
    const std::size_t k = DataKindIndex(p.kind);
    if (k < r.sync.unsynced_bytes.size() && k < r.sync.unsynced_micros.size()) {
      m.unsynced_bytes.Add(label).Set(static_cast<double>(r.sync.unsynced_bytes[k]));
      m.unsynced_age.Add(label).Set(static_cast<double>(r.sync.unsynced_micros[k]) / 1e6);
    }
  }
  m.persistent.Set(static_cast<double>(r.sync.store_disk_bytes));
  m.hit_rate.Set(r.reads == 0 ? 0.0 : static_cast<double>(r.ram_hits) / static_cast<double>(r.reads));
  m.sync_lag.Set(r.sync.seconds_since_checkpoint);
  m.compression.Set(r.sync.store_encoded_bytes == 0
                        ? 1.0
                        : static_cast<double>(r.sync.store_raw_bytes) / static_cast<double>(r.sync.store_encoded_bytes));
  Advance(m.reads, r.reads);
  Advance(m.writes, r.writes);
  Advance(m.disk_reads, r.disk_reads);
  Advance(m.errors, r.errors);
  if (grpc_) {
    const rpc::GrpcCounters g = grpc_();
    Advance(m.grpc_calls, g.calls);
    Advance(m.grpc_errors, g.errors);
    Advance(m.grpc_refused.Add({{"reason", "limit"}}), g.refused_limit);
    Advance(m.grpc_refused.Add({{"reason", "token"}}), g.refused_token);
    m.grpc_in_flight.Set(static_cast<double>(g.in_flight));
    m.grpc_held.Set(static_cast<double>(g.held_bytes));
    m.grpc_connections.Set(static_cast<double>(g.connections));
    Advance(m.grpc_ended.Add({{"reason", "max_connections"}}), g.refused_connections);
    Advance(m.grpc_ended.Add({{"reason", "max_concurrent_streams"}}), g.dropped_connections);
  }
  if (replication_) {
    const rpc::ReplicationStatus s = replication_();
    m.replication_lag_lsns.Set(static_cast<double>(s.lag_lsns));
    m.replication_lag_bytes.Set(static_cast<double>(s.lag_bytes));
    m.replication_lag_seconds.Set(s.lag_seconds);
    m.replication_connected.Set(s.role == "replica" && s.last_heard_seconds >= 0 && s.last_heard_seconds < 5 ? 1 : 0);
    m.replication_replicas.Set(static_cast<double>(s.replicas));
    m.replication_buffer_bytes.Set(static_cast<double>(s.buffer_bytes));
    Advance(m.replication_received, s.records_received);
    Advance(m.replication_reconnects, s.reconnects);
    m.replication_fenced.Set(s.fenced.empty() ? 0 : 1);
  }
  Advance(m.promotions, r.promotions);
  Advance(m.prefetches, r.prefetches);
  Advance(m.prefetch_hits, r.prefetch_hits);
  Advance(m.wal_bytes, r.sync.wal_bytes);
  Advance(m.wal_syncs, r.sync.wal_syncs);
  m.wal_segments.Set(static_cast<double>(r.sync.wal_segments));
  m.checkpoint_lsn.Set(static_cast<double>(r.sync.checkpoint_lsn));
  m.durable_lsn.Set(static_cast<double>(r.sync.durable_lsn));
  m.archive_bytes.Set(static_cast<double>(r.sync.archive_bytes));
  m.archive_segments.Set(static_cast<double>(r.sync.archive_segments));
  m.archive_age.Set(r.sync.archive_oldest_age_seconds);
  m.backups.Set(static_cast<double>(r.sync.backups));
  m.last_backup_age.Set(r.sync.last_backup_age_seconds);
  m.last_backup_lsn.Set(static_cast<double>(r.sync.last_backup_lsn));
  // Histograms take increments: what arrived since the last refresh.
  auto observe = [](prometheus::Histogram* h, const actors::latency_histogram& now, actors::latency_histogram& last) {
    if (now.count <= last.count || now.buckets.size() != last.buckets.size()) return;
    std::vector<double> increments(now.buckets.size());
    for (std::size_t i = 0; i < increments.size(); ++i) increments[i] = static_cast<double>(now.buckets[i] - last.buckets[i]);
    h->ObserveMultiple(increments, now.sum_seconds - last.sum_seconds);
    last = now;
  };
  observe(m.read_latency, r.read_latency, m.last_read);
  observe(m.write_latency, r.write_latency, m.last_write);
}

}  // namespace postdevai
