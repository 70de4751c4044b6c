#include "rpc/convert.h"

#include <algorithm>

namespace postdevai::rpc {

namespace {

// A kind this client does not know (a newer node) stays unknown: shown as
// "kind 255", never counted as another kind.
DataKind KindNamed(const std::string& name) {
  return DataKindFromName(name).value_or(static_cast<DataKind>(255));
}

void ToProto(const records::latency_histogram& in, v1::LatencyHistogram* out) {
  for (auto b : records::kLatencyBoundsMicros) out->add_bounds_micros(b);
  for (auto c : in.buckets) out->add_buckets(c);
  out->set_sum_seconds(in.sum_seconds);
  out->set_count(in.count);
}

records::latency_histogram FromProto(const v1::LatencyHistogram& in) {
  records::latency_histogram out;
  // Buckets beyond ours (a newer node) fold into the last, unbounded one.
  for (int i = 0; i < in.buckets_size(); ++i) {
    out.buckets[std::min<std::size_t>(static_cast<std::size_t>(i), out.buckets.size() - 1)] += in.buckets(i);
  }
  out.sum_seconds = in.sum_seconds();
  out.count = in.count();
  return out;
}

}  // namespace

void ToProto(const records::memory_report& in, v1::StatsReply* out) {
  for (const auto& p : in.partitions) {
    auto* o = out->add_partitions();
    o->set_kind(std::string(DataKindName(p.kind)));
    o->set_entries(p.entries);
    o->set_bytes(p.bytes);
    o->set_budget_bytes(p.budget_bytes);
    o->set_hits(p.hits);
    o->set_misses(p.misses);
    o->set_evictions(p.evictions);
    o->set_dirty_entries(p.dirty_entries);
    o->set_persisted_lsn(p.persisted_lsn);
    o->set_restarts(p.restarts);
    o->set_max_record_bytes(p.max_record_bytes);
    o->set_uncached_writes(p.uncached_writes);
    o->set_promotions(p.promotions);
    o->set_ready(p.ready);
    o->set_eviction_policy(p.eviction_policy);
    o->set_index_vectors(p.index_vectors);
    o->set_index_bytes(p.index_bytes);
    o->set_index_graph_bytes(p.index_graph_bytes);
    o->set_text_index_units(p.text_index_units);
    o->set_text_index_bytes(p.text_index_bytes);
    o->set_file(p.file);
  }
  auto* s = out->mutable_sync();
  s->set_durable_lsn(in.sync.durable_lsn);
  s->set_applied_lsn(in.sync.applied_lsn);
  s->set_checkpoint_lsn(in.sync.checkpoint_lsn);
  s->set_seconds_since_checkpoint(in.sync.seconds_since_checkpoint);
  s->set_wal_segments(in.sync.wal_segments);
  s->set_wal_bytes(in.sync.wal_bytes);
  s->set_wal_syncs(in.sync.wal_syncs);
  s->set_wal_records(in.sync.wal_records);
  s->set_wal_live_bytes(in.sync.wal_live_bytes);
  s->set_checkpoints(in.sync.checkpoints);
  s->set_store_disk_bytes(in.sync.store_disk_bytes);
  s->set_store_raw_bytes(in.sync.store_raw_bytes);
  s->set_store_encoded_bytes(in.sync.store_encoded_bytes);
  s->set_relaxed_kinds(in.sync.relaxed_kinds);
  s->set_relaxed_sync_ms(in.sync.relaxed_sync_ms);
  for (auto b : in.sync.unsynced_bytes) s->add_unsynced_bytes(b);
  for (auto m : in.sync.unsynced_micros) s->add_unsynced_micros(m);
  s->set_lost_relaxed_writes(in.sync.lost_relaxed_writes);
  s->set_store_error(in.sync.store_error);
  s->set_backup_path(in.sync.backup_path);
  s->set_archive_segments(in.sync.archive_segments);
  s->set_archive_bytes(in.sync.archive_bytes);
  s->set_archive_oldest_age_seconds(in.sync.archive_oldest_age_seconds);
  s->set_backups(in.sync.backups);
  s->set_last_backup_lsn(in.sync.last_backup_lsn);
  s->set_last_backup_age_seconds(in.sync.last_backup_age_seconds);
  s->set_backup_error(in.sync.backup_error);
  out->set_reads(in.reads);
  out->set_writes(in.writes);
  out->set_ram_hits(in.ram_hits);
  out->set_disk_reads(in.disk_reads);
  out->set_promotions(in.promotions);
  out->set_prefetches(in.prefetches);
  out->set_prefetch_hits(in.prefetch_hits);
  out->set_prefetch_enabled(in.prefetch_enabled);
  ToProto(in.read_latency, out->mutable_read_latency());
  ToProto(in.write_latency, out->mutable_write_latency());
  out->set_errors(in.errors);
}

records::memory_report FromProto(const v1::StatsReply& in) {
  records::memory_report out;
  for (const auto& o : in.partitions()) {
    records::partition_report p;
    p.kind = KindNamed(o.kind());
    p.entries = o.entries();
    p.bytes = o.bytes();
    p.budget_bytes = o.budget_bytes();
    p.hits = o.hits();
    p.misses = o.misses();
    p.evictions = o.evictions();
    p.dirty_entries = o.dirty_entries();
    p.persisted_lsn = o.persisted_lsn();
    p.restarts = o.restarts();
    p.max_record_bytes = o.max_record_bytes();
    p.uncached_writes = o.uncached_writes();
    p.promotions = o.promotions();
    p.ready = o.ready();
    p.eviction_policy = o.eviction_policy();
    p.index_vectors = o.index_vectors();
    p.index_bytes = o.index_bytes();
    p.index_graph_bytes = o.index_graph_bytes();
    p.text_index_units = o.text_index_units();
    p.text_index_bytes = o.text_index_bytes();
    p.file = o.file();
    out.partitions.push_back(std::move(p));
  }
  const auto& s = in.sync();
  out.sync.durable_lsn = s.durable_lsn();
  out.sync.applied_lsn = s.applied_lsn();
  out.sync.checkpoint_lsn = s.checkpoint_lsn();
  out.sync.seconds_since_checkpoint = s.seconds_since_checkpoint();
  out.sync.wal_segments = s.wal_segments();
  out.sync.wal_bytes = s.wal_bytes();
  out.sync.wal_syncs = s.wal_syncs();
  out.sync.wal_records = s.wal_records();
  out.sync.wal_live_bytes = s.wal_live_bytes();
  out.sync.checkpoints = s.checkpoints();
  out.sync.store_disk_bytes = s.store_disk_bytes();
  out.sync.store_raw_bytes = s.store_raw_bytes();
  out.sync.store_encoded_bytes = s.store_encoded_bytes();
  out.sync.relaxed_kinds = s.relaxed_kinds();
  out.sync.relaxed_sync_ms = s.relaxed_sync_ms();
  // Bounded by the kinds there are: a peer's list cannot make us allocate.
  for (int i = 0; i < std::min(s.unsynced_bytes_size(), 8); ++i) out.sync.unsynced_bytes.push_back(s.unsynced_bytes(i));
  for (int i = 0; i < std::min(s.unsynced_micros_size(), 8); ++i) out.sync.unsynced_micros.push_back(s.unsynced_micros(i));
  out.sync.lost_relaxed_writes = s.lost_relaxed_writes();
  out.sync.store_error = s.store_error();
  out.sync.backup_path = s.backup_path();
  out.sync.archive_segments = s.archive_segments();
  out.sync.archive_bytes = s.archive_bytes();
  out.sync.archive_oldest_age_seconds = s.archive_oldest_age_seconds();
  out.sync.backups = s.backups();
  out.sync.last_backup_lsn = s.last_backup_lsn();
  out.sync.last_backup_age_seconds = s.last_backup_age_seconds();
  out.sync.backup_error = s.backup_error();
  out.reads = in.reads();
  out.writes = in.writes();
  out.ram_hits = in.ram_hits();
  out.disk_reads = in.disk_reads();
  out.promotions = in.promotions();
  out.prefetches = in.prefetches();
  out.prefetch_hits = in.prefetch_hits();
  out.prefetch_enabled = in.prefetch_enabled();
  out.read_latency = FromProto(in.read_latency());
  out.write_latency = FromProto(in.write_latency());
  out.errors = in.errors();
  return out;
}

void ToProto(const std::vector<records::store_kind_report>& in, v1::BreakdownReply* out) {
  for (const auto& k : in) {
    auto* o = out->add_kinds();
    o->set_kind(std::string(DataKindName(k.kind)));
    o->set_entries(k.entries);
    o->set_raw_bytes(k.raw_bytes);
    o->set_stored_bytes(k.stored_bytes);
    o->set_disk_bytes(k.disk_bytes);
    o->set_dictionary_id(k.dictionary_id);
  }
}

std::vector<records::store_kind_report> FromProto(const v1::BreakdownReply& in) {
  std::vector<records::store_kind_report> out;
  for (const auto& o : in.kinds()) {
    out.push_back({KindNamed(o.kind()), o.entries(), o.raw_bytes(), o.stored_bytes(), o.disk_bytes(), o.dictionary_id()});
  }
  return out;
}

void ToProto(const std::vector<records::eviction_result>& in, v1::EvictReply* out) {
  for (const auto& e : in) {
    auto* o = out->add_partitions();
    o->set_kind(std::string(DataKindName(e.kind)));
    o->set_entries(e.entries);
    o->set_bytes(e.bytes);
  }
}

std::vector<records::eviction_result> FromProto(const v1::EvictReply& in) {
  std::vector<records::eviction_result> out;
  for (const auto& o : in.partitions()) out.push_back({KindNamed(o.kind()), o.entries(), o.bytes()});
  return out;
}

void ToProto(const SearchHit& in, v1::SearchHit* out) {
  out->set_owner(in.owner == SearchHit::Owner::kCodeChunk ? v1::SearchHit::CODE_CHUNK : v1::SearchHit::SESSION_MESSAGE);
  out->set_id(in.id);
  out->set_path(in.path);
  out->set_chunk(in.chunk);
  out->set_language(in.language);
  out->set_session(in.session);
  out->set_score(in.score);
  out->set_first_line(in.first_line);
  out->set_last_line(in.last_line);
  out->set_vector_score(in.vector_score);
  out->set_lexical_score(in.lexical_score);
}

SearchHit FromProto(const v1::SearchHit& in) {
  SearchHit out;
  out.owner = in.owner() == v1::SearchHit::SESSION_MESSAGE ? SearchHit::Owner::kHistoryMessage : SearchHit::Owner::kCodeChunk;
  out.id = in.id();
  out.path = in.path();
  out.chunk = in.chunk();
  out.language = in.language();
  out.session = in.session();
  out.score = in.score();
  out.first_line = in.first_line();
  out.last_line = in.last_line();
  out.vector_score = in.vector_score();
  out.lexical_score = in.lexical_score();
  return out;
}

void ToProto(const std::vector<records::finding>& in, v1::DiagnoseReply* out) {
  for (const auto& f : in) {
    auto* o = out->add_findings();
    o->set_check(f.check);
    o->set_status(f.status);
    o->set_finding(f.seen);
    o->set_action(f.action);
  }
}

std::vector<records::finding> FromProto(const v1::DiagnoseReply& in) {
  std::vector<records::finding> out;
  for (const auto& o : in.findings()) out.push_back({o.check(), o.status(), o.finding(), o.action()});
  return out;
}

SearchFilter FilterOf(const v1::SearchRequest& request) {
  SearchFilter filter;
  if (request.owner() == v1::SearchRequest::CODE) filter.owner = SearchFilter::Owner::kCodeChunks;
  if (request.owner() == v1::SearchRequest::SESSIONS) filter.owner = SearchFilter::Owner::kHistoryMessages;
  filter.path_prefix = request.path_prefix();
  filter.language = request.language();
  filter.session = request.session();
  filter.exact = request.exact();
  switch (request.mode()) {
    case v1::SearchRequest::VECTOR: filter.mode = SearchMode::kVector; break;
    case v1::SearchRequest::LEXICAL: filter.mode = SearchMode::kLexical; break;
    default: filter.mode = SearchMode::kHybrid; break;
  }
  return filter;
}

}  // namespace postdevai::rpc
