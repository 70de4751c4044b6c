// `postdevai-cli top` without the terminal: what top knows about one node,
// the figures it derives, and the text of each screen. No curses, no
// threads, no I/O, no clock: every moment is passed in, so tests drive the
// model with made-up times.
//
// DashboardModel takes the fetcher's events in the order they happened (a
// report, a refresh that failed, a store breakdown, a connect or request in
// flight) and turns successive reports into rates and a 60-second history.
// LayoutScreen turns a model into one screen of text: spans with a row, a
// column, a tone and an emphasis, which top.cc paints with curses in order.
//
// Every figure comes from the node: counters since the node started, or
// the difference between two consecutive reports divided by the time
// between them. Nothing is interpolated; a refresh without reads has no hit
// rate and shows none.
//
// Thread-safety: everything here is a value. A DashboardModel is not
// synchronised: top.cc updates it under a mutex and draws from a copy.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "postdevai/status.h"
#include "programs/cli/node_client.h"

namespace postdevai::cli::top {

using Clock = std::chrono::steady_clock;

// The dashboard is laid out for this size (with up to 4 partitions; each
// further one needs a row more); smaller terminals get a message.
inline constexpr int kMinCols = 80;
inline constexpr int kMinRows = 24;
// How much history the sparklines and the "last 60s" figures cover.
inline constexpr double kHistorySeconds = 60;
// The breakdown reads every record in the store: top asks at most every
// kBreakdownEverySeconds, and spends at most kBreakdownMaxDutyCycle of the
// time waiting for it, so that watching a node does not load it.
inline constexpr double kBreakdownEverySeconds = 10;
inline constexpr double kBreakdownMaxDutyCycle = 0.05;
// How long one request may take in top (unless --timeout is shorter): a
// stats report takes milliseconds, and a node behind a dead connection may
// not answer at all, so without a short limit it would freeze the figures
// for the whole default --timeout (120 s).
inline constexpr std::uint64_t kRequestTimeoutSeconds = 10;

// --interval: seconds from 0.1 to 3600, with an optional "s" ("1", "0.5",
// "5s"). kInvalidArgument quoting the text otherwise.
Result<double> ParseInterval(const std::string& text);

// The request limit top connects with: `timeout_seconds` (--timeout; 0
// means none and stays 0) capped at kRequestTimeoutSeconds, or at two
// intervals when those are longer.
std::uint64_t RequestTimeoutSeconds(std::uint64_t timeout_seconds, double interval_seconds);

// How long to wait, after a breakdown that took `scan_seconds`, before
// asking for the next: kBreakdownEverySeconds, longer for slow scans (a
// store that takes 2 s to scan is scanned every 40 s).
double BreakdownPauseSeconds(double scan_seconds);

// ------------------------------------------------------------------ model

// One refresh in the history. Empty optionals: not measurable (no reads in
// the interval, first report, node restarted, connection down).
struct HistoryPoint {
  Clock::time_point at;
  bool reported = false;                 // the node answered this refresh
  std::optional<double> hit_rate;        // RAM hits / reads in the interval
  std::optional<double> ops_per_second;  // reads + writes
  std::uint64_t reads = 0, ram_hits = 0, writes = 0;  // in the interval
};

// Activity between the two latest reports.
struct Rates {
  double reads_per_second = 0, writes_per_second = 0, wal_bytes_per_second = 0;
  std::optional<double> hit_rate;  // none without reads in the interval
  // Mean request time over the interval (histogram sum / count); none
  // without requests of that kind in the interval.
  std::optional<double> read_mean_seconds, write_mean_seconds;
};

// The store's size before and after compression, from one breakdown.
struct Compression {
  Clock::time_point at;
  std::uint64_t raw_bytes = 0, stored_bytes = 0, entries = 0;
  double scan_seconds = 0;  // how long the node took to answer

  // raw / stored; none while nothing is stored.
  std::optional<double> ratio() const;
  // Whether the scan was slow enough to be repeated less often than every
  // kBreakdownEverySeconds (the screen then says why the figure is old).
  bool slows_refresh() const;
};

// Sums over the history (the last kHistorySeconds).
struct WindowTotals {
  std::uint64_t reads = 0, ram_hits = 0, writes = 0;
  std::optional<double> hit_rate;    // ram_hits / reads; none without reads
  double peak_ops_per_second = 0;    // the sparkline's scale; 0 when none measured
};

// One row of the partition table.
struct PartitionRow {
  std::string name;
  std::uint64_t entries = 0, bytes = 0, budget_bytes = 0, restarts = 0;
  std::optional<double> usage;     // bytes / budget_bytes; none without a budget
  std::optional<double> hit_rate;  // RAM hits / lookups since the node started; none without lookups
  bool ready = true;               // false while the partition re-attaches after a restart
};

// The latest report's partitions: one row each, in the node's order, and
// their total, whose hit rate is the node's own (RAM hits / reads).
struct PartitionTable {
  std::vector<PartitionRow> partitions;
  PartitionRow total;
  std::uint64_t evictions = 0, uncached_writes = 0, dirty_entries = 0;  // summed over partitions
};

enum class Severity : std::uint8_t { kNormal, kWarn, kBad };

// How far the store's checkpoint is behind the journal.
struct SyncLag {
  double seconds_since_checkpoint = 0;
  std::uint64_t lsns_after_checkpoint = 0;  // durable writes the checkpoint does not cover
  std::uint64_t durable_lsn = 0;
  // Against the configured sync interval: kWarn past 1.2 intervals, kBad
  // past 2; kNormal when the interval is unknown.
  Severity severity = Severity::kNormal;
};

enum class ConnectionState : std::uint8_t {
  kConnected,  // the last refresh got a report
  kNodeError,  // connected, but the node answered the last refresh with an error
  kWaiting,    // connected, and a request has gone unanswered for over max(2 s, 2 intervals)
  kLost,       // the node cannot be reached (or did not answer in time); retrying
};

// What top is told at start.
struct TopSettings {
  std::string endpoint;                         // "host:port", for the title
  double interval_seconds = 1;                  // between refreshes; > 0
  std::optional<double> sync_interval_seconds;  // from --config: judges the sync lag
  std::uint64_t request_timeout_seconds = 0;    // after which a request counts as lost; 0: none
};

// What top knows about the node, fed with the fetcher's events. The events'
// moments (`at`) must not go backwards.
class DashboardModel {
 public:
  explicit DashboardModel(TopSettings settings);

  // A report from the node; `wall` is the same moment on the wall clock
  // (the title's "as of"). Rates come from the difference to the previous
  // report when that one was the refresh just before (no failure between)
  // and `at` is later. Counters that went backwards mean a new node process
  // answers: counted in node_restarts_seen(), no rates this time, and the
  // next report measures from this one. Ends a request in flight and the
  // lost state (counting a reconnect when lost).
  void OnStats(Clock::time_point at, std::time_t wall, NodeStats stats);
  // A refresh that got no report. kUnavailable: the node is unreachable or
  // did not answer in time, and the model is lost() until a report or an
  // error from the node comes; any other code is the node's own refusal and
  // the connection stands. The last report stays (its figures marked old);
  // rates need two consecutive reports again. Ends a connect or request in
  // flight.
  void OnFailure(Clock::time_point at, const Status& status);
  // A store breakdown that took `scan_seconds`; replaces the compression
  // figures and clears a breakdown error.
  void OnBreakdown(Clock::time_point at, const std::vector<StoreKindInfo>& kinds, double scan_seconds);
  // A breakdown that failed: its message is shown until one succeeds. Not a
  // verdict on the connection (a big store can take longer to scan than a
  // request may wait); the next stats request decides that.
  void OnBreakdownFailure(const Status& status);
  // A reconnect began / succeeded (a failed one is OnFailure).
  void OnConnectStarted();
  void OnConnected();
  // A stats request was sent at `at`; OnStats or OnFailure ends it.
  void OnRequestStarted(Clock::time_point at);

  const TopSettings& settings() const { return settings_; }
  // The latest report (kept while the node is lost) and when it came.
  const std::optional<NodeStats>& stats() const { return stats_; }
  Clock::time_point stats_at() const { return stats_at_; }
  std::time_t stats_wall() const { return stats_wall_; }
  // Between the two latest reports; none when not measurable.
  const std::optional<Rates>& rates() const { return rates_; }
  // One point per refresh (missed ones filled in, so that points stay one
  // interval apart), oldest first, none older than kHistorySeconds before
  // the newest.
  const std::deque<HistoryPoint>& history() const { return history_; }
  const std::optional<Compression>& compression() const { return compression_; }
  const std::string& compression_error() const { return compression_error_; }

  bool lost() const { return lost_; }
  const std::string& error() const { return error_; }  // why the last refresh failed; empty after a report
  Clock::time_point lost_at() const { return lost_at_; }
  std::uint64_t failed_attempts() const { return failed_attempts_; }  // since the last report
  bool reconnecting() const { return reconnecting_; }                 // a connect is in flight
  const std::optional<Clock::time_point>& request_started() const { return request_started_; }
  std::uint64_t reconnects() const { return reconnects_; }  // connections re-established
  std::uint64_t node_restarts_seen() const { return node_restarts_seen_; }

  // What the status line says at `now`.
  ConnectionState Connection(Clock::time_point now) const;
  WindowTotals Window() const;
  // Require stats().
  PartitionTable Partitions() const;
  SyncLag Sync() const;

 private:
  void Remember(HistoryPoint point);

  TopSettings settings_;
  std::optional<NodeStats> stats_;
  Clock::time_point stats_at_;
  std::time_t stats_wall_ = 0;
  std::optional<Rates> rates_;
  // Whether stats_ is the report just before the next one. After a failed
  // refresh it is not: a difference across the outage would be an average
  // over it, shown as "now".
  bool baseline_ = false;
  std::deque<HistoryPoint> history_;
  std::optional<Compression> compression_;
  std::string compression_error_;
  bool lost_ = false;
  std::string error_;
  Clock::time_point lost_at_;
  std::uint64_t failed_attempts_ = 0;
  bool reconnecting_ = false;
  std::optional<Clock::time_point> request_started_;
  std::uint64_t reconnects_ = 0;
  std::uint64_t node_restarts_seen_ = 0;
};

// ----------------------------------------------------------------- layout

// The glyphs: Unicode blocks for a UTF-8 terminal, ASCII otherwise (a C
// locale would show UTF-8 bytes as garbage). Every glyph is one cell wide.
struct Glyphs {
  bool utf8 = false;
  std::vector<std::string> levels;   // sparkline, lowest to highest
  std::vector<std::string> eighths;  // partial bar cells, 1/8 .. 7/8 (none in ASCII)
  std::string full, empty, le, arrow, dot;
  std::string gap;   // a refresh without a value (no reads)
  std::string down;  // a refresh without a report (node unreachable or not answering)
};
Glyphs MakeGlyphs(bool utf8);

// A sparkline of one history field, newest at the right, at most `cells`
// glyphs: a level for value / scale in [0, 1] (the lowest when scale <= 0),
// glyphs.gap for a report without a value, glyphs.down for a refresh
// without a report. span_seconds: from the first point shown to the last
// (0 under two points).
struct Sparkline {
  std::string text;
  double span_seconds = 0;
};
Sparkline MakeSparkline(const std::deque<HistoryPoint>& history, std::optional<double> HistoryPoint::*field,
                        double scale, int cells, const Glyphs& glyphs);

// How a span is drawn: its colour and its attributes.
enum class Tone : std::uint8_t { kNormal, kGood, kWarn, kBad, kAccent };
enum Emphasis : unsigned { kPlain = 0, kBold = 1u << 0, kUnderline = 1u << 1, kReverse = 1u << 2 };

// Text to draw at a cell: one terminal write.
struct Span {
  int row = 0, col = 0;
  std::string text;  // UTF-8, one cell per code point, already clipped to the screen
  Tone tone = Tone::kNormal;
  unsigned emphasis = kPlain;
};

// One screen of text, rows x cols cells, as spans painted in order (a later
// span covers an earlier one where they overlap).
class Frame {
 public:
  Frame(int rows, int cols) : rows_(rows), cols_(cols) {}
  int rows() const { return rows_; }
  int cols() const { return cols_; }

  // Adds text at (row, col), clipped to the width; nothing when the start
  // lies outside the screen.
  void Put(int row, int col, const std::string& text, Tone tone = Tone::kNormal, unsigned emphasis = kPlain);
  const std::vector<Span>& spans() const { return spans_; }
  // What the terminal shows once every span is painted over a blank screen:
  // rows() lines of cols() cells.
  std::vector<std::string> Lines() const;

 private:
  int rows_, cols_;
  std::vector<Span> spans_;
};

// Rows the dashboard needs for `partitions` partition rows.
int RowsNeeded(std::size_t partitions);

// The screen for a terminal of rows x cols at `now`: the dashboard, or a
// "terminal too small" message when it does not fit (kMinCols, and
// RowsNeeded for the latest report's partitions). Before any report: a
// line saying top waits for one.
Frame LayoutScreen(const DashboardModel& model, Clock::time_point now, const Glyphs& glyphs, int rows, int cols);

}  // namespace postdevai::cli::top
