// `memory stats|breakdown|evict|sync-status|sync|compact`: the operator's
// view of the two tiers, and the repairs the controller offers.
#include <chrono>
#include <cstdio>

#include "programs/cli/commands.h"

namespace postdevai::cli {

namespace {

using Clock = std::chrono::steady_clock;

double Ratio(std::uint64_t num, std::uint64_t den) {
  return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

// A rate that has no meaning yet (no reads) is null in JSON, not 0.
Json RateOrNull(std::uint64_t num, std::uint64_t den) {
  return den == 0 ? Json() : Json(Ratio(num, den));
}

// "250us", "2.5ms", "1.20s".
std::string FormatMicros(double seconds) {
  char buf[32];
  if (seconds < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.0fus", seconds * 1e6);
  } else if (seconds < 1) {
    std::snprintf(buf, sizeof buf, "%.1fms", seconds * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", seconds);
  }
  return buf;
}

std::string Percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

Json PartitionJson(const PartitionInfo& p) {
  Json j = Json::MakeObject();
  j.Set("kind", p.kind)
      .Set("entries", p.entries)
      .Set("bytes", p.bytes)
      .Set("budget_bytes", p.budget_bytes)
      .Set("usage", RateOrNull(p.bytes, p.budget_bytes))
      .Set("hits", p.hits)
      .Set("misses", p.misses)
      .Set("hit_rate", RateOrNull(p.hits, p.hits + p.misses))
      .Set("evictions", p.evictions)
      .Set("dirty_entries", p.dirty_entries)
      .Set("persisted_lsn", p.persisted_lsn)
      .Set("restarts", p.restarts)
      .Set("ready", p.ready)
      .Set("eviction_policy", p.eviction_policy)
      .Set("file", p.file);
  return j;
}

Json LatencyJson(const LatencyInfo& l) {
  Json j = Json::MakeObject();
  j.Set("count", l.count)
      .Set("mean_seconds", l.count == 0 ? Json() : Json(l.sum_seconds / static_cast<double>(l.count)))
      .Set("p50_at_most_seconds", l.p50_at_most_seconds < 0 ? Json() : Json(l.p50_at_most_seconds))
      .Set("p99_at_most_seconds", l.p99_at_most_seconds < 0 ? Json() : Json(l.p99_at_most_seconds));
  return j;
}

std::string LatencyText(const LatencyInfo& l) {
  if (l.count == 0) return "-";
  auto bound = [](double s) { return s < 0 ? std::string("> 1s") : "<= " + FormatMicros(s); };
  return "mean " + FormatMicros(l.sum_seconds / static_cast<double>(l.count)) + ", p50 " + bound(l.p50_at_most_seconds) +
         ", p99 " + bound(l.p99_at_most_seconds);
}

// Per kind: its durability and, for relaxed kinds, what a crash would lose now.
Json DurabilityJson(const SyncInfo& s) {
  Json kinds = Json::MakeArray();
  for (DataKind kind : kAllDataKinds) {
    const std::size_t k = DataKindIndex(kind);
    Json j = Json::MakeObject();
    j.Set("kind", std::string(DataKindName(kind)))
        .Set("durability", (s.relaxed_kinds >> k & 1) ? "relaxed" : "durable")
        .Set("unsynced_bytes", k < s.unsynced_bytes.size() ? s.unsynced_bytes[k] : 0)
        .Set("unsynced_seconds", k < s.unsynced_micros.size() ? s.unsynced_micros[k] / 1e6 : 0.0);
    kinds.Push(std::move(j));
  }
  return kinds;
}

// One line per relaxed kind for the text output; nothing when all are durable.
void PrintRelaxed(const SyncInfo& s) {
  for (DataKind kind : kAllDataKinds) {
    const std::size_t k = DataKindIndex(kind);
    if ((s.relaxed_kinds >> k & 1) == 0) continue;
    const std::uint64_t bytes = k < s.unsynced_bytes.size() ? s.unsynced_bytes[k] : 0;
    const double age = k < s.unsynced_micros.size() ? s.unsynced_micros[k] / 1e6 : 0;
    std::printf("relaxed %-8s %s acknowledged, not yet durable (oldest %s; synced within %llu ms)\n",
                std::string(DataKindName(kind)).c_str(), FormatBytes(bytes).c_str(), FormatSeconds(age).c_str(),
                static_cast<unsigned long long>(s.relaxed_sync_ms));
  }
  if (s.lost_relaxed_writes > 0) {
    std::printf("relaxed  %llu acknowledged relaxed writes were lost to a failed WAL sync since the node started\n",
                static_cast<unsigned long long>(s.lost_relaxed_writes));
  }
}

// Backups and the WAL archive.
Json BackupJson(const SyncInfo& s) {
  Json j = Json::MakeObject();
  j.Set("path", s.backup_path)
      .Set("backups", s.backups)
      .Set("last_backup_lsn", s.last_backup_lsn)
      .Set("last_backup_age_seconds", s.last_backup_age_seconds)
      .Set("archive_segments", s.archive_segments)
      .Set("archive_bytes", s.archive_bytes)
      .Set("archive_oldest_age_seconds", s.archive_oldest_age_seconds)
      .Set("error", s.backup_error.empty() ? Json() : Json(s.backup_error));
  return j;
}

void PrintBackups(const SyncInfo& s) {
  if (s.backups == 0) {
    std::printf("backups         none in %s (postdevai-cli memory backup makes one)\n", s.backup_path.c_str());
  } else {
    std::printf("backups         %llu in %s; the newest holds every write up to LSN %llu (%s old)\n",
                static_cast<unsigned long long>(s.backups), s.backup_path.c_str(),
                static_cast<unsigned long long>(s.last_backup_lsn), FormatSeconds(s.last_backup_age_seconds).c_str());
  }
  std::printf("WAL archive     %llu segment(s), %s", static_cast<unsigned long long>(s.archive_segments),
              FormatBytes(s.archive_bytes).c_str());
  if (s.archive_segments > 0) std::printf(", the oldest %s old", FormatSeconds(s.archive_oldest_age_seconds).c_str());
  std::printf("\n");
  if (!s.backup_error.empty()) std::printf("backup problem  %s\n", s.backup_error.c_str());
}

Json SyncJson(const SyncInfo& s) {
  Json j = Json::MakeObject();
  j.Set("durable_lsn", s.durable_lsn)
      .Set("applied_lsn", s.applied_lsn)
      .Set("checkpoint_lsn", s.checkpoint_lsn)
      .Set("sync_lag_seconds", s.seconds_since_checkpoint)
      .Set("unsynced_records", s.durable_lsn > s.checkpoint_lsn ? s.durable_lsn - s.checkpoint_lsn : 0)
      .Set("wal_segments", s.wal_segments)
      .Set("wal_live_bytes", s.wal_live_bytes)
      .Set("wal_bytes_since_start", s.wal_bytes)
      .Set("wal_records_since_start", s.wal_records)
      .Set("wal_syncs_since_start", s.wal_syncs)
      .Set("checkpoints_since_start", s.checkpoints)
      .Set("relaxed_sync_ms", s.relaxed_sync_ms)
      .Set("lost_relaxed_writes", s.lost_relaxed_writes)
      .Set("durability", DurabilityJson(s))
      .Set("backups", BackupJson(s));
  return j;
}

void PrintPartitionTable(const std::vector<PartitionInfo>& partitions) {
  std::printf("%-9s %10s %11s %11s %7s %10s %10s %9s %10s %7s %8s  %s\n", "partition", "entries", "in RAM",
              "budget", "use", "hits", "misses", "hit rate", "evictions", "dirty", "restarts", "policy");
  for (const auto& p : partitions) {
    std::printf("%-9s %10llu %11s %11s %7s %10llu %10llu %9s %10llu %7llu %8llu  %s%s\n", p.kind.c_str(),
                static_cast<unsigned long long>(p.entries), FormatBytes(p.bytes).c_str(),
                FormatBytes(p.budget_bytes).c_str(), Percent(Ratio(p.bytes, p.budget_bytes)).c_str(),
                static_cast<unsigned long long>(p.hits), static_cast<unsigned long long>(p.misses),
                p.hits + p.misses == 0 ? "-" : Percent(Ratio(p.hits, p.hits + p.misses)).c_str(),
                static_cast<unsigned long long>(p.evictions), static_cast<unsigned long long>(p.dirty_entries),
                static_cast<unsigned long long>(p.restarts), p.eviction_policy.c_str(),
                p.ready ? "" : "  (NOT READY: re-attaching)");
  }
}

// The node's configured sync interval, when --config says it.
std::optional<double> SyncIntervalSeconds(const CommandContext& ctx) {
  if (!ctx.config()) return std::nullopt;
  return static_cast<double>(ctx.config()->sync_interval_minutes) * 60.0;
}

}  // namespace

Status MemoryStats(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto stats = (*node)->Stats();
  if (!stats.ok()) return stats.status();
  const NodeStats& s = *stats;

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint());
  Json parts = Json::MakeArray();
  std::uint64_t entries = 0, bytes = 0, budget = 0;
  for (const auto& p : s.partitions) {
    parts.Push(PartitionJson(p));
    entries += p.entries;
    bytes += p.bytes;
    budget += p.budget_bytes;
  }
  j.Set("partitions", std::move(parts));
  j.Set("ram_entries", entries).Set("ram_bytes", bytes).Set("ram_budget_bytes", budget);
  j.Set("reads", s.reads)
      .Set("writes", s.writes)
      .Set("ram_hits", s.ram_hits)
      .Set("disk_reads", s.disk_reads)
      .Set("hit_rate", RateOrNull(s.ram_hits, s.reads))
      .Set("promotions", s.promotions)
      .Set("prefetch_enabled", s.prefetch_enabled)
      .Set("prefetches", s.prefetches)
      .Set("prefetch_hits", s.prefetch_hits)
      .Set("errors", s.errors)
      .Set("read_latency", LatencyJson(s.read_latency))
      .Set("write_latency", LatencyJson(s.write_latency))
      .Set("sync", SyncJson(s.sync))
      .Set("replication", s.replication ? ReplicationJson(*s.replication) : Json());
  if (ctx.json()) return Status::Ok();

  std::printf("node %s\n\n", (*node)->endpoint().c_str());
  PrintPartitionTable(s.partitions);
  std::printf("%-9s %10llu %11s %11s %7s\n\n", "total", static_cast<unsigned long long>(entries),
              FormatBytes(bytes).c_str(), FormatBytes(budget).c_str(), Percent(Ratio(bytes, budget)).c_str());
  std::printf("reads      %llu (from RAM %llu, from disk %llu; hit rate %s)\n", static_cast<unsigned long long>(s.reads),
              static_cast<unsigned long long>(s.ram_hits), static_cast<unsigned long long>(s.disk_reads),
              s.reads == 0 ? "- (no reads yet)" : Percent(Ratio(s.ram_hits, s.reads)).c_str());
  std::printf("writes     %llu; requests answered with an error: %llu\n", static_cast<unsigned long long>(s.writes),
              static_cast<unsigned long long>(s.errors));
  std::printf("latency    reads: %s; writes: %s\n", LatencyText(s.read_latency).c_str(), LatencyText(s.write_latency).c_str());
  std::printf("promotions %llu; prefetch %s: %llu issued, %llu hit\n", static_cast<unsigned long long>(s.promotions),
              s.prefetch_enabled ? "on" : "off", static_cast<unsigned long long>(s.prefetches),
              static_cast<unsigned long long>(s.prefetch_hits));
  std::printf("LSN        durable %llu, applied %llu, checkpoint %llu (last checkpoint %s ago)\n",
              static_cast<unsigned long long>(s.sync.durable_lsn), static_cast<unsigned long long>(s.sync.applied_lsn),
              static_cast<unsigned long long>(s.sync.checkpoint_lsn), FormatSeconds(s.sync.seconds_since_checkpoint).c_str());
  std::printf("backups    %llu (newest: LSN %llu, %s old); WAL archive %llu segment(s), %s\n",
              static_cast<unsigned long long>(s.sync.backups), static_cast<unsigned long long>(s.sync.last_backup_lsn),
              FormatSeconds(s.sync.last_backup_age_seconds).c_str(),
              static_cast<unsigned long long>(s.sync.archive_segments), FormatBytes(s.sync.archive_bytes).c_str());
  if (s.replication) PrintReplication(*s.replication);
  return Status::Ok();
}

Status MemoryBreakdown(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto stats = (*node)->Stats();
  if (!stats.ok()) return stats.status();
  auto kinds = (*node)->Breakdown();
  if (!kinds.ok()) return kinds.status();

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint());
  Json parts = Json::MakeArray();
  for (const auto& p : stats->partitions) {
    Json pj = Json::MakeObject();
    pj.Set("kind", p.kind)
        .Set("entries", p.entries)
        .Set("ram_bytes", p.bytes)
        .Set("budget_bytes", p.budget_bytes)
        .Set("usage", RateOrNull(p.bytes, p.budget_bytes))
        .Set("dirty_entries", p.dirty_entries);
    if (p.kind == "vectors") {
      pj.Set("index_vectors", p.index_vectors)
          .Set("index_bytes", p.index_bytes)
          .Set("index_graph_bytes", p.index_graph_bytes)
          .Set("index_bytes_per_vector", p.index_vectors == 0 ? Json() : Json(static_cast<double>(p.index_bytes) /
                                                                                static_cast<double>(p.index_vectors)));
    }
    if (p.kind == "code" || p.kind == "history") {
      pj.Set("text_index_units", p.text_index_units).Set("text_index_bytes", p.text_index_bytes);
    }
    parts.Push(std::move(pj));
  }
  j.Set("partitions", std::move(parts));
  Json store = Json::MakeArray();
  std::uint64_t entries = 0, disk = 0, stored = 0, raw = 0;
  for (const auto& k : *kinds) {
    Json kj = Json::MakeObject();
    kj.Set("kind", k.kind)
        .Set("entries", k.entries)
        .Set("disk_bytes", k.disk_bytes)
        .Set("compressed_bytes", k.stored_bytes)
        .Set("raw_bytes", k.raw_bytes)
        .Set("compression_ratio", RateOrNull(k.raw_bytes, k.stored_bytes))
        .Set("dictionary_id", static_cast<std::uint64_t>(k.dictionary_id));
    store.Push(std::move(kj));
    entries += k.entries;
    disk += k.disk_bytes;
    stored += k.stored_bytes;
    raw += k.raw_bytes;
  }
  j.Set("store", std::move(store));
  Json totals = Json::MakeObject();
  totals.Set("entries", entries)
      .Set("disk_bytes", disk)
      .Set("compressed_bytes", stored)
      .Set("raw_bytes", raw)
      .Set("compression_ratio", RateOrNull(raw, stored));
  j.Set("store_total", std::move(totals));
  if (ctx.json()) return Status::Ok();

  std::printf("RAM-Lake (hot tier) at %s\n", (*node)->endpoint().c_str());
  std::printf("%-9s %10s %11s %11s %7s %7s\n", "partition", "entries", "in RAM", "budget", "use", "dirty");
  for (const auto& p : stats->partitions) {
    std::printf("%-9s %10llu %11s %11s %7s %7llu\n", p.kind.c_str(), static_cast<unsigned long long>(p.entries),
                FormatBytes(p.bytes).c_str(), FormatBytes(p.budget_bytes).c_str(),
                Percent(Ratio(p.bytes, p.budget_bytes)).c_str(), static_cast<unsigned long long>(p.dirty_entries));
  }
  for (const auto& p : stats->partitions) {
    if (p.kind != "vectors" || p.index_vectors == 0) continue;
    std::printf("\nvector index: %llu vectors (both tiers) in %s of RAM, %s per vector (graph %s)\n",
                static_cast<unsigned long long>(p.index_vectors), FormatBytes(p.index_bytes).c_str(),
                FormatBytes(p.index_bytes / p.index_vectors).c_str(), FormatBytes(p.index_graph_bytes).c_str());
  }
  for (const auto& p : stats->partitions) {
    if ((p.kind != "code" && p.kind != "history") || p.text_index_units == 0) continue;
    std::printf("%stext index (%s): %llu %s (both tiers) in %s of RAM\n", p.kind == "code" ? "\n" : "",
                p.kind.c_str(), static_cast<unsigned long long>(p.text_index_units),
                p.kind == "code" ? "files" : "messages", FormatBytes(p.text_index_bytes).c_str());
  }
  std::printf("\nLevelDB (cold tier)\n");
  std::printf("%-9s %10s %11s %11s %11s %7s %6s\n", "kind", "entries", "on disk", "compressed", "raw", "ratio", "dict");
  auto row = [](const std::string& name, std::uint64_t e, std::uint64_t d, std::uint64_t s, std::uint64_t r,
                const std::string& dict) {
    char ratio[16] = "-";
    if (s > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", Ratio(r, s));
    std::printf("%-9s %10llu %11s %11s %11s %7s %6s\n", name.c_str(), static_cast<unsigned long long>(e),
                FormatBytes(d).c_str(), FormatBytes(s).c_str(), FormatBytes(r).c_str(), ratio, dict.c_str());
  };
  for (const auto& k : *kinds) {
    row(k.kind, k.entries, k.disk_bytes, k.stored_bytes, k.raw_bytes,
        k.dictionary_id == 0 ? "-" : std::to_string(k.dictionary_id));
  }
  row("total", entries, disk, stored, raw, "");
  std::printf("\non disk: LevelDB's estimate of its table files; recent writes still in the memtable are not\n"
              "counted until LevelDB flushes them. compressed: values as stored (zstd, headers included).\n");
  return Status::Ok();
}

Status MemoryEvict(CommandContext& ctx, const ParsedArgs& args) {
  auto older_text = args.Get("--older-than");
  if (!older_text) {
    return Status::InvalidArgument("memory evict needs --older-than DURATION (e.g. --older-than 24h)");
  }
  auto older = ParseDurationSeconds(*older_text, "--older-than");
  if (!older.ok()) return older.status();
  const bool dry_run = args.Has("--dry-run");

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto before = (*node)->Stats();
  if (!before.ok()) return before.status();

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint()).Set("older_than_seconds", *older).Set("dry_run", dry_run);

  if (dry_run) {
    auto preview = (*node)->EvictDetailed(*older, /*dry_run=*/true);
    if (!preview.ok()) return preview.status();
    std::uint64_t entries = 0, bytes = 0;
    Json parts = Json::MakeArray();
    for (const auto& p : *preview) {
      entries += p.entries;
      bytes += p.bytes;
      Json pj = Json::MakeObject();
      pj.Set("kind", p.kind).Set("would_evict_entries", p.entries).Set("would_evict_bytes", p.bytes);
      parts.Push(std::move(pj));
    }
    j.Set("would_evict_entries", entries).Set("would_evict_bytes", bytes).Set("partitions", std::move(parts));
    if (ctx.json()) return Status::Ok();
    std::printf("dry run: nothing evicted. %llu entries (%s) unused for %s would go from RAM (they stay in LevelDB):\n",
                static_cast<unsigned long long>(entries), FormatBytes(bytes).c_str(), older_text->c_str());
    std::printf("%-9s %10s %12s\n", "partition", "entries", "bytes");
    for (const auto& p : *preview) {
      std::printf("%-9s %10llu %12s\n", p.kind.c_str(), static_cast<unsigned long long>(p.entries),
                  FormatBytes(p.bytes).c_str());
    }
    return Status::Ok();
  }

  auto evicted = (*node)->Evict(*older);
  if (!evicted.ok()) return evicted.status();
  auto after = (*node)->Stats();
  if (!after.ok()) return after.status().WithContext("evicted " + std::to_string(*evicted) + " entries, then");

  Json parts = Json::MakeArray();
  for (std::size_t i = 0; i < after->partitions.size(); ++i) {
    const auto& a = after->partitions[i];
    Json pj = Json::MakeObject();
    pj.Set("kind", a.kind)
        .Set("entries_before", i < before->partitions.size() ? before->partitions[i].entries : 0)
        .Set("entries_after", a.entries)
        .Set("bytes_before", i < before->partitions.size() ? before->partitions[i].bytes : 0)
        .Set("bytes_after", a.bytes);
    parts.Push(std::move(pj));
  }
  j.Set("evicted", *evicted).Set("partitions", std::move(parts));
  if (ctx.json()) return Status::Ok();

  std::printf("evicted %llu entries unused for %s from RAM; they stay in LevelDB and come back on a read.\n",
              static_cast<unsigned long long>(*evicted), older_text->c_str());
  std::printf("%-9s %22s %24s\n", "partition", "entries before->after", "in RAM before->after");
  for (std::size_t i = 0; i < after->partitions.size() && i < before->partitions.size(); ++i) {
    const auto& b = before->partitions[i];
    const auto& a = after->partitions[i];
    std::printf("%-9s %10llu -> %-10llu %11s -> %-11s\n", a.kind.c_str(), static_cast<unsigned long long>(b.entries),
                static_cast<unsigned long long>(a.entries), FormatBytes(b.bytes).c_str(), FormatBytes(a.bytes).c_str());
  }
  return Status::Ok();
}

Status MemorySyncStatus(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto stats = (*node)->Stats();
  if (!stats.ok()) return stats.status();
  const SyncInfo& s = stats->sync;
  const auto interval = SyncIntervalSeconds(ctx);

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint())
      .Set("durable_lsn", s.durable_lsn)
      .Set("applied_lsn", s.applied_lsn)
      .Set("checkpoint_lsn", s.checkpoint_lsn)
      .Set("sync_lag_seconds", s.seconds_since_checkpoint)
      .Set("sync_interval_seconds", interval ? Json(*interval) : Json())
      .Set("unsynced_records", s.durable_lsn > s.checkpoint_lsn ? s.durable_lsn - s.checkpoint_lsn : 0)
      .Set("wal_segments", s.wal_segments)
      .Set("wal_live_bytes", s.wal_live_bytes)
      .Set("wal_bytes_since_start", s.wal_bytes)
      .Set("wal_records_since_start", s.wal_records)
      .Set("wal_syncs_since_start", s.wal_syncs)
      .Set("checkpoints_since_start", s.checkpoints)
      .Set("relaxed_sync_ms", s.relaxed_sync_ms)
      .Set("lost_relaxed_writes", s.lost_relaxed_writes)
      .Set("durability", DurabilityJson(s))
      .Set("backups", BackupJson(s));
  const auto& replication = stats->replication;
  if (replication) j.Set("replication", ReplicationJson(*replication));
  if (ctx.json()) return Status::Ok();

  std::printf("node            %s\n", (*node)->endpoint().c_str());
  std::printf("durable LSN     %llu   (acknowledged writes, on disk in the WAL)\n",
              static_cast<unsigned long long>(s.durable_lsn));
  std::printf("applied LSN     %llu   (in LevelDB, not necessarily synced)\n", static_cast<unsigned long long>(s.applied_lsn));
  std::printf("checkpoint LSN  %llu   (LevelDB durable up to here; recovery replays the WAL after it)\n",
              static_cast<unsigned long long>(s.checkpoint_lsn));
  std::printf("sync lag        %s since the last checkpoint", FormatSeconds(s.seconds_since_checkpoint).c_str());
  if (interval) {
    std::printf(" (checkpoint interval %s)\n", FormatSeconds(*interval).c_str());
  } else {
    std::printf(" (pass --config with the node's config to compare it with sync_interval_minutes)\n");
  }
  std::printf("unsynced        %llu WAL records after the checkpoint\n",
              static_cast<unsigned long long>(s.durable_lsn > s.checkpoint_lsn ? s.durable_lsn - s.checkpoint_lsn : 0));
  std::printf("WAL             %llu live segment(s) holding %s of records; since the node started: %s in %llu records, %llu syncs\n",
              static_cast<unsigned long long>(s.wal_segments), FormatBytes(s.wal_live_bytes).c_str(), FormatBytes(s.wal_bytes).c_str(),
              static_cast<unsigned long long>(s.wal_records), static_cast<unsigned long long>(s.wal_syncs));
  std::printf("checkpoints     %llu since the node started\n", static_cast<unsigned long long>(s.checkpoints));
  PrintRelaxed(s);
  PrintBackups(s);
  if (replication) PrintReplication(*replication);
  return Status::Ok();
}

Status MemorySync(CommandContext& ctx, const ParsedArgs& args) {
  const bool force = args.Has("--force");
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto before = (*node)->Stats();
  if (!before.ok()) return before.status();
  const SyncInfo& b = before->sync;

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint()).Set("forced", force).Set("checkpoint_lsn_before", b.checkpoint_lsn);
  // Without --force, a checkpoint that would record nothing new is skipped:
  // the node's sync timer does this on its own schedule anyway.
  if (!force && b.checkpoint_lsn >= b.durable_lsn) {
    j.Set("checkpointed", false).Set("checkpoint_lsn", b.checkpoint_lsn).Set("seconds", 0.0);
    if (!ctx.json()) {
      std::printf("already synced: checkpoint LSN %llu covers every durable write; nothing to do "
                  "(--force checkpoints anyway)\n",
                  static_cast<unsigned long long>(b.checkpoint_lsn));
    }
    return Status::Ok();
  }
  const auto start = Clock::now();
  auto lsn = (*node)->Sync();
  if (!lsn.ok()) return lsn.status();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  j.Set("checkpointed", true).Set("checkpoint_lsn", *lsn).Set("seconds", seconds);
  if (!ctx.json()) {
    std::printf("checkpointed: LevelDB durable up to LSN %llu (was %llu) in %s; WAL segments before it released\n",
                static_cast<unsigned long long>(*lsn), static_cast<unsigned long long>(b.checkpoint_lsn),
                FormatSeconds(seconds).c_str());
  }
  return Status::Ok();
}

Status MemoryCompact(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto kinds = (*node)->Breakdown();
  if (!kinds.ok()) return kinds.status();
  std::uint64_t before = 0;
  for (const auto& k : *kinds) before += k.disk_bytes;
  const auto start = Clock::now();
  auto after = (*node)->Compact();
  if (!after.ok()) return after.status();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint()).Set("disk_bytes_before", before).Set("disk_bytes_after", *after).Set("seconds", seconds);
  if (!ctx.json()) {
    std::printf("compacted LevelDB in %s: %s on disk before, %s after\n", FormatSeconds(seconds).c_str(),
                FormatBytes(before).c_str(), FormatBytes(*after).c_str());
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
