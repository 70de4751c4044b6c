#include "programs/cli/top_model.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "programs/cli/cli_args.h"

namespace postdevai::cli::top {

namespace {

using Seconds = std::chrono::duration<double>;

double SecondsBetween(Clock::time_point a, Clock::time_point b) { return Seconds(b - a).count(); }

// Mean request time over the interval from the histograms' counts and sums.
std::optional<double> IntervalMean(const LatencyInfo& before, const LatencyInfo& now) {
  if (now.count <= before.count) return std::nullopt;
  return (now.sum_seconds - before.sum_seconds) / static_cast<double>(now.count - before.count);
}

std::optional<double> Fraction(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

Result<double> ParseInterval(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  std::string rest = end == nullptr ? "" : end;
  if (rest == "s") rest.clear();  // "2s" reads as seconds too
  if (text.empty() || errno != 0 || !rest.empty() || !std::isfinite(v) || v < 0.1 || v > 3600) {
    return Status::InvalidArgument("bad --interval '" + text + "': seconds from 0.1 to 3600 (e.g. 1, 0.5, 5s)");
  }
  return v;
}

std::uint64_t RequestTimeoutSeconds(std::uint64_t timeout_seconds, double interval_seconds) {
  if (timeout_seconds == 0) return 0;
  const auto two_intervals = static_cast<std::uint64_t>(std::ceil(2 * interval_seconds));
  return std::min(timeout_seconds, std::max(kRequestTimeoutSeconds, two_intervals));
}

double BreakdownPauseSeconds(double scan_seconds) {
  return std::max(kBreakdownEverySeconds, scan_seconds / kBreakdownMaxDutyCycle);
}

// ------------------------------------------------------------------ model

std::optional<double> Compression::ratio() const { return Fraction(raw_bytes, stored_bytes); }

bool Compression::slows_refresh() const { return scan_seconds / kBreakdownMaxDutyCycle > kBreakdownEverySeconds; }

DashboardModel::DashboardModel(TopSettings settings) : settings_(std::move(settings)) {}

// Refreshes that never happened (a request that hung for seconds) become
// points without a report, so that a sparkline's columns stay one interval
// apart; at most a window's worth, since older ones would be dropped anyway.
void DashboardModel::Remember(HistoryPoint point) {
  const double interval = settings_.interval_seconds;
  if (!history_.empty() && interval > 0) {
    const auto last = history_.back().at;
    const double missed = std::floor(SecondsBetween(last, point.at) / interval + 0.5) - 1;
    const double cap = kHistorySeconds / interval;
    for (int k = 1; k <= static_cast<int>(std::min(missed, cap)); ++k) {
      HistoryPoint filler;
      filler.at = last + std::chrono::duration_cast<Clock::duration>(Seconds(k * interval));
      history_.push_back(filler);
    }
  }
  history_.push_back(point);
  while (!history_.empty() && SecondsBetween(history_.front().at, point.at) > kHistorySeconds) history_.pop_front();
}

void DashboardModel::OnStats(Clock::time_point at, std::time_t wall, NodeStats s) {
  HistoryPoint point;
  point.at = at;
  point.reported = true;
  rates_.reset();
  if (stats_) {
    const NodeStats& b = *stats_;
    // Counters only grow within one node process; a smaller one means the
    // node restarted (or another one answers at the address): start over
    // rather than show a negative rate. Every counter subtracted below is
    // checked here, so no difference can wrap around.
    const bool restarted = s.reads < b.reads || s.writes < b.writes || s.ram_hits < b.ram_hits ||
                           s.sync.wal_bytes < b.sync.wal_bytes || s.read_latency.count < b.read_latency.count ||
                           s.write_latency.count < b.write_latency.count;
    const double dt = SecondsBetween(stats_at_, at);
    if (restarted) {
      ++node_restarts_seen_;
    } else if (baseline_ && dt > 0) {
      Rates r;
      const std::uint64_t reads = s.reads - b.reads, writes = s.writes - b.writes;
      r.reads_per_second = static_cast<double>(reads) / dt;
      r.writes_per_second = static_cast<double>(writes) / dt;
      r.wal_bytes_per_second = static_cast<double>(s.sync.wal_bytes - b.sync.wal_bytes) / dt;
      r.hit_rate = Fraction(s.ram_hits - b.ram_hits, reads);
      r.read_mean_seconds = IntervalMean(b.read_latency, s.read_latency);
      r.write_mean_seconds = IntervalMean(b.write_latency, s.write_latency);
      point.hit_rate = r.hit_rate;
      point.ops_per_second = r.reads_per_second + r.writes_per_second;
      point.reads = reads;
      point.ram_hits = s.ram_hits - b.ram_hits;
      point.writes = writes;
      rates_ = r;
    }
  }
  stats_ = std::move(s);
  stats_at_ = at;
  stats_wall_ = wall;
  baseline_ = true;
  if (lost_) ++reconnects_;
  lost_ = false;
  error_.clear();
  failed_attempts_ = 0;
  request_started_.reset();
  Remember(point);
}

void DashboardModel::OnFailure(Clock::time_point at, const Status& s) {
  const bool lost = s.code() == StatusCode::kUnavailable;
  if (lost && !lost_) lost_at_ = at;
  if (!lost && lost_) ++reconnects_;  // it answered, if with an error
  lost_ = lost;
  // A lost node's message names it already; the node's own errors keep their kind.
  error_ = lost && !s.message().empty() ? s.message() : s.ToString();
  ++failed_attempts_;
  rates_.reset();
  baseline_ = false;
  reconnecting_ = false;
  request_started_.reset();
  HistoryPoint point;
  point.at = at;
  Remember(point);
}

void DashboardModel::OnBreakdown(Clock::time_point at, const std::vector<StoreKindInfo>& kinds, double scan_seconds) {
  Compression c;
  c.at = at;
  c.scan_seconds = scan_seconds;
  for (const auto& k : kinds) {
    c.raw_bytes += k.raw_bytes;
    c.stored_bytes += k.stored_bytes;
    c.entries += k.entries;
  }
  compression_ = c;
  compression_error_.clear();
}

void DashboardModel::OnBreakdownFailure(const Status& status) { compression_error_ = status.message(); }

void DashboardModel::OnConnectStarted() { reconnecting_ = true; }

void DashboardModel::OnConnected() { reconnecting_ = false; }

void DashboardModel::OnRequestStarted(Clock::time_point at) { request_started_ = at; }

ConnectionState DashboardModel::Connection(Clock::time_point now) const {
  if (lost_) return ConnectionState::kLost;
  if (!error_.empty()) return ConnectionState::kNodeError;
  // Two intervals, but at least 2 s: a report normally takes milliseconds.
  if (request_started_ && SecondsBetween(*request_started_, now) > std::max(2.0, 2 * settings_.interval_seconds)) {
    return ConnectionState::kWaiting;
  }
  return ConnectionState::kConnected;
}

WindowTotals DashboardModel::Window() const {
  WindowTotals w;
  for (const auto& p : history_) {
    w.reads += p.reads;
    w.ram_hits += p.ram_hits;
    w.writes += p.writes;
    w.peak_ops_per_second = std::max(w.peak_ops_per_second, p.ops_per_second.value_or(0));
  }
  w.hit_rate = Fraction(w.ram_hits, w.reads);
  return w;
}

PartitionTable DashboardModel::Partitions() const {
  const NodeStats& st = *stats_;
  PartitionTable t;
  PartitionRow& total = t.total;
  total.name = "total";
  for (const auto& p : st.partitions) {
    PartitionRow row;
    row.name = p.kind;
    row.entries = p.entries;
    row.bytes = p.bytes;
    row.budget_bytes = p.budget_bytes;
    row.restarts = p.restarts;
    row.usage = Fraction(p.bytes, p.budget_bytes);
    row.hit_rate = Fraction(p.hits, p.hits + p.misses);
    row.ready = p.ready;
    t.partitions.push_back(std::move(row));
    total.entries += p.entries;
    total.bytes += p.bytes;
    total.budget_bytes += p.budget_bytes;
    total.restarts += p.restarts;
    t.evictions += p.evictions;
    t.uncached_writes += p.uncached_writes;
    t.dirty_entries += p.dirty_entries;
  }
  total.usage = Fraction(total.bytes, total.budget_bytes);
  total.hit_rate = Fraction(st.ram_hits, st.reads);
  return t;
}

SyncLag DashboardModel::Sync() const {
  const SyncInfo& sync = stats_->sync;
  SyncLag lag;
  lag.seconds_since_checkpoint = sync.seconds_since_checkpoint;
  lag.lsns_after_checkpoint = sync.durable_lsn > sync.checkpoint_lsn ? sync.durable_lsn - sync.checkpoint_lsn : 0;
  lag.durable_lsn = sync.durable_lsn;
  const auto& interval = settings_.sync_interval_seconds;
  if (interval && *interval > 0) {
    if (lag.seconds_since_checkpoint > 2 * *interval) {
      lag.severity = Severity::kBad;
    } else if (lag.seconds_since_checkpoint > 1.2 * *interval) {
      lag.severity = Severity::kWarn;
    }
  }
  return lag;
}

// ----------------------------------------------------------------- layout

namespace {

// Display width of UTF-8 text: one cell per code point (every glyph used
// here is one cell wide).
int Width(const std::string& s) {
  int n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The first `cells` cells of s.
std::string Clip(const std::string& s, int cells) {
  if (cells <= 0) return "";
  int n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (n == cells) return s.substr(0, i);
      ++n;
    }
  }
  return s;
}

std::string PadRight(const std::string& s, int cells) {
  const int w = Width(s);
  return w >= cells ? Clip(s, cells) : s + std::string(static_cast<std::size_t>(cells - w), ' ');
}

std::string PadLeft(const std::string& s, int cells) {
  const int w = Width(s);
  return w >= cells ? s : std::string(static_cast<std::size_t>(cells - w), ' ') + s;
}

std::string Printf(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Percent(double fraction) { return Printf("%.1f%%", fraction * 100.0); }

// A fraction as a percentage, "-" when there is none.
std::string PercentOrDash(const std::optional<double>& fraction) { return fraction ? Percent(*fraction) : "-"; }

// Counts that stay readable in a narrow column: 1234567 -> "1.23M".
std::string Count(std::uint64_t n) {
  if (n < 1000000) return std::to_string(n);
  if (n < 1000000000) return Printf("%.2fM", static_cast<double>(n) / 1e6);
  return Printf("%.2fG", static_cast<double>(n) / 1e9);
}

// A rate per second: "0", "3.5", "250", "12.3k".
std::string Rate(double v) {
  if (v <= 0) return "0";
  if (v < 100) return Printf("%.1f", v);
  if (v < 10000) return Printf("%.0f", v);
  if (v < 10000000) return Printf("%.1fk", v / 1e3);
  return Printf("%.1fM", v / 1e6);
}

// "250us", "2.5ms", "1.20s".
std::string Duration(double seconds) {
  if (seconds < 1e-3) return Printf("%.0fus", seconds * 1e6);
  if (seconds < 1) return Printf("%.1fms", seconds * 1e3);
  return Printf("%.2fs", seconds);
}

// The histogram's bound for a quantile: "<= 250us", or "> 1s" when it fell
// in the unbounded last bucket (the node's largest bound is 1 s:
// actors/messages.h kLatencyBoundsMicros).
std::string Bound(double seconds, const Glyphs& g) {
  if (seconds < 0) return "> 1s";
  return g.le + " " + Duration(seconds);
}

std::string Ago(double seconds) { return FormatSeconds(std::max(0.0, seconds)) + " ago"; }

std::string WallClock(std::time_t t) {
  char buf[16];
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// Error messages may be long and (from gRPC) carry control characters.
std::string Sanitize(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

// A usage bar of `cells` cells for fraction f, in eighths of a cell when
// the glyphs allow.
std::string Bar(double f, int cells, const Glyphs& g) {
  f = std::clamp(f, 0.0, 1.0);
  const int eighths_total = static_cast<int>(std::lround(f * cells * 8));
  int full = eighths_total / 8;
  int part = eighths_total % 8;
  if (g.eighths.empty()) {
    // ASCII: round to whole cells, but never show a non-empty partition as empty.
    full = static_cast<int>(std::lround(f * cells));
    if (full == 0 && f > 0) full = 1;
    part = 0;
  } else if (full == 0 && part == 0 && f > 0) {
    part = 1;
  }
  std::string s;
  for (int i = 0; i < full; ++i) s += g.full;
  int used = full;
  if (part > 0 && used < cells) {
    s += g.eighths[static_cast<std::size_t>(part - 1)];
    ++used;
  }
  for (; used < cells; ++used) s += g.empty;
  return s;
}

// The glyph for `value` in [0, 1].
const std::string& Level(double value, const Glyphs& g) {
  const auto n = static_cast<double>(g.levels.size());
  const auto i = static_cast<std::size_t>(std::clamp(std::floor(value * n), 0.0, n - 1));
  return g.levels[i];
}

// "last 42s" to the left of a sparkline (its right end is now).
std::string SpanLabel(double seconds) {
  if (seconds <= 0) return "";
  return seconds < 10 ? Printf("last %.1fs", seconds) : Printf("last %.0fs", seconds);
}

Tone ToneOf(Severity s) {
  switch (s) {
    case Severity::kNormal: return Tone::kNormal;
    case Severity::kWarn: return Tone::kWarn;
    case Severity::kBad: return Tone::kBad;
  }
  return Tone::kNormal;
}

// Column layout of the partition table.
constexpr int kColName = 0, kColEntries = 10, kColBytes = 19, kColBar = 43;
constexpr int kEntriesWidth = 8, kBytesWidth = 23;
constexpr int kUsageWidth = 7, kHitWidth = 8, kRestartsWidth = 5;
constexpr int kSuffixWidth = kUsageWidth + kHitWidth + kRestartsWidth;
constexpr int kLabelWidth = 12;  // "hit rate    " and the like

void LayoutPartitionRow(Frame& f, int row, const PartitionRow& p, bool bold, const Glyphs& g) {
  const unsigned a = bold ? kBold : kPlain;
  f.Put(row, kColName, PadRight(p.name, kColEntries - kColName - 1), Tone::kNormal, a);
  f.Put(row, kColEntries, PadLeft(Count(p.entries), kEntriesWidth), Tone::kNormal, a);
  f.Put(row, kColBytes, PadLeft(FormatBytes(p.bytes) + " / " + FormatBytes(p.budget_bytes), kBytesWidth), Tone::kNormal,
        a);
  const int bar_cells = f.cols() - kColBar - 2 - kSuffixWidth;
  const double used = p.usage.value_or(0);
  if (!p.ready) {
    f.Put(row, kColBar, PadRight("[re-attaching]", bar_cells + 2), Tone::kWarn, kBold);
  } else {
    f.Put(row, kColBar, "[");
    // Near the budget the partition is evicting to make room: normal for a
    // cache, but worth a different colour.
    f.Put(row, kColBar + 1, Bar(used, bar_cells, g), used >= 0.95 ? Tone::kWarn : Tone::kGood);
    f.Put(row, kColBar + 1 + bar_cells, "]");
  }
  const int suffix = f.cols() - kSuffixWidth;
  f.Put(row, suffix, PadLeft(PercentOrDash(p.usage), kUsageWidth), Tone::kNormal, a);
  f.Put(row, suffix + kUsageWidth, PadLeft(PercentOrDash(p.hit_rate), kHitWidth), Tone::kNormal, a);
  f.Put(row, suffix + kUsageWidth + kHitWidth, PadLeft(std::to_string(p.restarts), kRestartsWidth),
        p.restarts > 0 ? Tone::kBad : Tone::kNormal, p.restarts > 0 ? kBold : a);
}

void LayoutTooSmall(Frame& f) {
  const std::string lines[] = {
      "terminal too small",
      std::to_string(f.cols()) + "x" + std::to_string(f.rows()) + ", top needs " + std::to_string(kMinCols) + "x" +
          std::to_string(kMinRows),
      "q quits",
  };
  int row = std::max(0, f.rows() / 2 - 1);
  for (const auto& l : lines) {
    f.Put(row++, std::max(0, (f.cols() - Width(l)) / 2), l, Tone::kWarn, kBold);
  }
}

void LayoutDashboard(Frame& f, const DashboardModel& m, Clock::time_point now, const Glyphs& g) {
  const NodeStats& st = *m.stats();
  const TopSettings& settings = m.settings();
  const std::string sep = " " + g.dot + " ";

  // Title.
  f.Put(0, 0, "postdevai top", Tone::kAccent, kBold);
  {
    // While the node is lost the figures are its last report's: the time
    // says which, in red.
    const std::string right =
        "every " + FormatSeconds(settings.interval_seconds) + sep + "as of " + WallClock(m.stats_wall());
    const int right_col = f.cols() - Width(right);
    f.Put(0, 14, Clip(g.dot + " node " + settings.endpoint, right_col - 15));
    f.Put(0, right_col, right, m.lost() ? Tone::kBad : Tone::kNormal, m.lost() ? kBold : kPlain);
  }

  // Partitions.
  int row = 2;
  {
    const int suffix = f.cols() - kSuffixWidth;
    f.Put(row, kColName, "PARTITION", Tone::kNormal, kUnderline);
    f.Put(row, kColEntries, PadLeft("ENTRIES", kEntriesWidth), Tone::kNormal, kUnderline);
    f.Put(row, kColBytes, PadLeft("IN RAM / BUDGET", kBytesWidth), Tone::kNormal, kUnderline);
    f.Put(row, kColBar, "USAGE", Tone::kNormal, kUnderline);
    f.Put(row, suffix, PadLeft("USE", kUsageWidth), Tone::kNormal, kUnderline);
    f.Put(row, suffix + kUsageWidth, PadLeft("HIT", kHitWidth), Tone::kNormal, kUnderline);
    f.Put(row, suffix + kUsageWidth + kHitWidth, PadLeft("RST", kRestartsWidth), Tone::kNormal, kUnderline);
  }
  ++row;
  const PartitionTable table = m.Partitions();
  for (const auto& p : table.partitions) LayoutPartitionRow(f, row++, p, false, g);
  LayoutPartitionRow(f, row++, table.total, true, g);
  ++row;

  // Hit rate: this refresh, the window, since the node started.
  const int spark_cells = f.cols() - kLabelWidth - 10;
  const std::optional<Rates>& rates = m.rates();
  const WindowTotals window = m.Window();
  {
    const std::string now_text = rates ? (rates->hit_rate ? Percent(*rates->hit_rate) : "- (no reads)") : "-";
    std::string line = "now " + now_text;
    line += sep + "last 60s " + PercentOrDash(window.hit_rate);
    line += sep + "since start " + PercentOrDash(table.total.hit_rate);
    f.Put(row, 0, "hit rate", Tone::kNormal, kBold);
    f.Put(row, kLabelWidth, line);
    ++row;
    const Sparkline spark = MakeSparkline(m.history(), &HistoryPoint::hit_rate, 1.0, spark_cells, g);
    f.Put(row, kLabelWidth, spark.text, Tone::kAccent);
    f.Put(row, 0, PadLeft(SpanLabel(spark.span_seconds), kLabelWidth - 2));
    f.Put(row, kLabelWidth + spark_cells + 1, "0-100%");
    ++row;
  }

  // Operations per second.
  {
    f.Put(row, 0, "ops/s", Tone::kNormal, kBold);
    std::string ops = rates ? "reads " + Rate(rates->reads_per_second) + "  writes " + Rate(rates->writes_per_second)
                            : "reads -  writes -";
    ops += sep + "last 60s: " + Count(window.reads) + " reads, " + Count(window.writes) + " writes";
    f.Put(row, kLabelWidth, ops);
    ++row;
    const double peak = window.peak_ops_per_second;
    const Sparkline spark = MakeSparkline(m.history(), &HistoryPoint::ops_per_second, peak, spark_cells, g);
    f.Put(row, kLabelWidth, spark.text, Tone::kAccent);
    f.Put(row, 0, PadLeft(SpanLabel(spark.span_seconds), kLabelWidth - 2));
    f.Put(row, kLabelWidth + spark_cells + 1, "max " + Rate(peak));
    ++row;
  }

  // Latency: quantiles from the node's cumulative histogram (bucket bounds),
  // the mean over the last refresh from its count and sum.
  auto latency = [&](const char* what, const LatencyInfo& l, const std::optional<double>& mean_now) {
    std::string line = PadRight(what, 7);
    if (l.count == 0) {
      line += "none yet";
    } else {
      line += PadRight("p50 " + Bound(l.p50_at_most_seconds, g), 13) + " " +
              PadRight("p99 " + Bound(l.p99_at_most_seconds, g), 13) + " since start";
      line += sep + "mean now " + (mean_now ? Duration(*mean_now) : std::string("-"));
    }
    return line;
  };
  f.Put(row, 0, "latency", Tone::kNormal, kBold);
  f.Put(row++, kLabelWidth, latency("reads", st.read_latency, rates ? rates->read_mean_seconds : std::nullopt));
  f.Put(row++, kLabelWidth, latency("writes", st.write_latency, rates ? rates->write_mean_seconds : std::nullopt));

  // Sync lag: time since the last checkpoint, and the writes it does not cover.
  {
    const SyncLag lag = m.Sync();
    f.Put(row, 0, "sync lag", Tone::kNormal, kBold);
    std::string line = FormatSeconds(lag.seconds_since_checkpoint) + " since the last checkpoint" + sep +
                       std::to_string(lag.lsns_after_checkpoint) + " LSNs after it" + sep + "LSN " +
                       std::to_string(lag.durable_lsn);
    Tone tone = ToneOf(lag.severity);
    // Replication: a replica's lag behind its primary, or a primary's replicas.
    if (const auto& r = st.replication; r && r->role == "replica") {
      line += sep + "replica " + r->state + ", " + std::to_string(r->lag_lsns) + " LSNs / " +
              FormatBytes(r->lag_bytes) + " / " + FormatSeconds(r->lag_seconds) + " behind " + r->primary;
      if (r->state != "streaming" && r->state != "caught up") tone = Tone::kWarn;
    } else if (r && r->role == "primary") {
      line += sep + "primary of " + std::to_string(r->replicas) + (r->replicas == 1 ? " replica" : " replicas");
    }
    if (st.replication && !st.replication->fenced.empty()) {
      line += sep + "FENCED: takes no writes";
      tone = Tone::kBad;
    }
    f.Put(row++, kLabelWidth, line, tone);
  }

  // WAL backlog: what a crash now would replay.
  {
    f.Put(row, 0, "WAL", Tone::kNormal, kBold);
    std::string line = std::to_string(st.sync.wal_segments) + (st.sync.wal_segments == 1 ? " segment" : " segments") +
                       sep + FormatBytes(st.sync.wal_live_bytes) + " live";
    if (rates) line += sep + FormatBytes(static_cast<std::uint64_t>(rates->wal_bytes_per_second)) + "/s appended";
    // The archive and the newest backup: what a restore would start from.
    line += sep + "archive " + FormatBytes(st.sync.archive_bytes);
    if (st.sync.archive_segments > 0) line += " (" + FormatSeconds(st.sync.archive_oldest_age_seconds) + ")";
    line += sep + (st.sync.backups == 0 ? std::string("no backup")
                                        : "backup " + FormatSeconds(st.sync.last_backup_age_seconds) + " old");
    f.Put(row++, kLabelWidth, line, st.sync.backup_error.empty() ? Tone::kNormal : Tone::kWarn);
  }

  // Relaxed durability: what a crash now would lose (only when a kind is relaxed).
  if (st.sync.relaxed_kinds != 0) {
    f.Put(row, 0, "at risk", Tone::kNormal, kBold);
    std::string line;
    for (DataKind kind : kAllDataKinds) {
      const std::size_t k = DataKindIndex(kind);
      if ((st.sync.relaxed_kinds >> k & 1) == 0) continue;
      const std::uint64_t bytes = k < st.sync.unsynced_bytes.size() ? st.sync.unsynced_bytes[k] : 0;
      const double age = k < st.sync.unsynced_micros.size() ? st.sync.unsynced_micros[k] / 1e6 : 0;
      if (!line.empty()) line += sep;
      line += std::string(DataKindName(kind)) + " " + FormatBytes(bytes);
      if (bytes > 0) line += " (" + FormatSeconds(age) + " old)";
    }
    line += sep + "relaxed, synced within " + std::to_string(st.sync.relaxed_sync_ms) + " ms";
    if (st.sync.lost_relaxed_writes > 0) line += sep + std::to_string(st.sync.lost_relaxed_writes) + " lost";
    f.Put(row++, kLabelWidth, line, st.sync.lost_relaxed_writes > 0 ? Tone::kBad : Tone::kNormal);
  }

  // Compression, from the last breakdown.
  {
    f.Put(row, 0, "compression", Tone::kNormal, kBold);
    std::string line;
    Tone tone = Tone::kNormal;
    if (const auto& c = m.compression()) {
      if (const auto ratio = c->ratio()) {
        line = Printf("%.2fx", *ratio) + " (" + FormatBytes(c->raw_bytes) + " " + g.arrow + " " +
               FormatBytes(c->stored_bytes) + ", " + Count(c->entries) + " records)";
      } else {
        line = "- (nothing in the store yet)";
      }
      line += sep + "as of " + Ago(SecondsBetween(c->at, now));
      // A slow scan is repeated less often: say why the figure is old.
      if (c->slows_refresh()) line += " (scan took " + FormatSeconds(c->scan_seconds) + ")";
    } else if (!m.compression_error().empty()) {
      line = "unknown: " + Sanitize(m.compression_error());
      tone = Tone::kWarn;
    } else {
      line = "asking the node...";
    }
    f.Put(row++, kLabelWidth, line, tone);
  }

  // Counters that explain the rest: eviction pressure, promotions, prefetch.
  {
    f.Put(row, 0, "activity", Tone::kNormal, kBold);
    std::string line = "evictions " + Count(table.evictions) + sep + "promotions " + Count(st.promotions) + sep +
                       "dirty " + Count(table.dirty_entries) + sep + "prefetch " +
                       (st.prefetch_enabled ? Count(st.prefetch_hits) + "/" + Count(st.prefetches) + " hit" : "off") +
                       sep + "errors " + Count(st.errors);
    if (table.uncached_writes > 0) line += sep + "uncached " + Count(table.uncached_writes);
    f.Put(row++, kLabelWidth, line, st.errors > 0 ? Tone::kWarn : Tone::kNormal);
  }

  // Connection state, on the lines above the keys.
  {
    const int status_row = f.rows() - 4;
    // A reason over two lines: connect errors name the address and gRPC's
    // error, which rarely fit in one.
    auto reason = [&](Tone tone) {
      const std::string error = Sanitize(m.error());
      const std::string first = Clip(error, f.cols() - 1);
      f.Put(status_row + 1, 1, first, tone);
      if (first.size() < error.size()) f.Put(status_row + 2, 1, error.substr(first.size()), tone);
    };
    switch (m.Connection(now)) {
      case ConnectionState::kLost: {
        const std::string retry =
            m.reconnecting() ? "reconnecting now" : "retrying every " + FormatSeconds(settings.interval_seconds);
        f.Put(status_row, 0,
              PadRight(" CONNECTION LOST " + Ago(SecondsBetween(m.lost_at(), now)) + sep + retry + " (attempt " +
                           std::to_string(m.failed_attempts()) + ")",
                       f.cols()),
              Tone::kBad, kBold | kReverse);
        reason(Tone::kBad);
        break;
      }
      case ConnectionState::kNodeError:
        f.Put(status_row, 0,
              "connected, but the node answered the last refresh with an error (" +
                  std::to_string(m.failed_attempts()) + "x):",
              Tone::kWarn, kBold);
        reason(Tone::kWarn);
        break;
      case ConnectionState::kWaiting: {
        const std::uint64_t limit = settings.request_timeout_seconds;
        f.Put(status_row, 0,
              "waiting for the node: no reply for " + FormatSeconds(SecondsBetween(*m.request_started(), now)) +
                  (limit > 0 ? " (counts as lost after " + std::to_string(limit) + "s)" : ""),
              Tone::kWarn, kBold);
        break;
      }
      case ConnectionState::kConnected: {
        std::string line = "connected" + sep + "updated " + Ago(SecondsBetween(m.stats_at(), now));
        if (m.reconnects() > 0) line += sep + "reconnected " + std::to_string(m.reconnects()) + "x";
        if (m.node_restarts_seen() > 0) line += sep + "node restarted " + std::to_string(m.node_restarts_seen()) + "x";
        f.Put(status_row, 0, line, Tone::kGood);
        break;
      }
    }
  }

  // Keys, and what the sparklines' blanks mean.
  const std::string legend = (g.utf8 ? g.gap + " no reads   " : std::string()) + g.down + " no report from the node ";
  f.Put(f.rows() - 1, 0, PadRight(" q quit", f.cols() - Width(legend)) + legend, Tone::kNormal, kReverse);
}

}  // namespace

Glyphs MakeGlyphs(bool utf8) {
  Glyphs g;
  g.utf8 = utf8;
  if (utf8) {
    g.levels = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
    g.eighths = {"\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589"};
    g.full = "\u2588";
    g.empty = " ";
    g.le = "\u2264";
    g.arrow = "\u2192";
    g.dot = "\u00b7";
    g.gap = "\u00b7";
    g.down = "\u00d7";
  } else {
    g.levels = {"_", ".", ",", "-", "~", "+", "*", "#"};
    g.full = "#";
    g.empty = ".";
    g.le = "<=";
    g.arrow = "->";
    g.dot = "|";
    g.gap = " ";
    g.down = "x";
  }
  return g;
}

Sparkline MakeSparkline(const std::deque<HistoryPoint>& history, std::optional<double> HistoryPoint::*field,
                        double scale, int cells, const Glyphs& glyphs) {
  const std::size_t n = std::min(history.size(), static_cast<std::size_t>(std::max(cells, 0)));
  const std::size_t first = history.size() - n;
  Sparkline spark;
  for (std::size_t i = first; i < history.size(); ++i) {
    const auto& v = history[i].*field;
    spark.text += v ? Level(scale > 0 ? *v / scale : 0, glyphs) : history[i].reported ? glyphs.gap : glyphs.down;
  }
  if (n >= 2) spark.span_seconds = SecondsBetween(history[first].at, history.back().at);
  return spark;
}

void Frame::Put(int row, int col, const std::string& text, Tone tone, unsigned emphasis) {
  // A start left of the screen is dropped too: curses refuses to move there.
  if (row < 0 || row >= rows_ || col < 0 || col >= cols_) return;
  spans_.push_back(Span{row, col, Clip(text, cols_ - col), tone, emphasis});
}

std::vector<std::string> Frame::Lines() const {
  std::vector<std::vector<std::string>> cells(static_cast<std::size_t>(std::max(rows_, 0)),
                                              std::vector<std::string>(static_cast<std::size_t>(std::max(cols_, 0)), " "));
  for (const Span& span : spans_) {
    auto& line = cells[static_cast<std::size_t>(span.row)];
    std::size_t col = static_cast<std::size_t>(span.col);
    for (std::size_t i = 0; i < span.text.size() && col < line.size(); ++col) {
      std::size_t end = i + 1;
      while (end < span.text.size() && (static_cast<unsigned char>(span.text[end]) & 0xC0) == 0x80) ++end;
      line[col] = span.text.substr(i, end - i);
      i = end;
    }
  }
  std::vector<std::string> lines;
  for (const auto& row : cells) {
    std::string line;
    for (const auto& cell : row) line += cell;
    lines.push_back(std::move(line));
  }
  return lines;
}

int RowsNeeded(std::size_t partitions) { return kMinRows + std::max(0, static_cast<int>(partitions) - 4); }

Frame LayoutScreen(const DashboardModel& model, Clock::time_point now, const Glyphs& glyphs, int rows, int cols) {
  Frame frame(rows, cols);
  const auto& stats = model.stats();
  if (cols < kMinCols || rows < RowsNeeded(stats ? stats->partitions.size() : 4)) {
    LayoutTooSmall(frame);
  } else if (!stats) {
    frame.Put(0, 0, "postdevai top: waiting for the node's first report", Tone::kAccent, kBold);
  } else {
    LayoutDashboard(frame, model, now, glyphs);
  }
  return frame;
}

}  // namespace postdevai::cli::top
