// `postdevai-cli top`: a live dashboard of one node, drawn with ncurses.
//
// Two threads. The fetcher asks the node for `memory stats` every interval
// (and for the store breakdown, which scans every record, rarely) and turns
// successive reports into rates; the UI thread only draws and reads keys.
// Requests block (a stopped node can hold one for --timeout, a reconnect to
// it for ever), so keeping them off the UI thread is what lets `q` and
// Ctrl-C work at any moment.
//
// Every figure on screen comes from the node: counters since the node
// started, or differences between two reports divided by the time between
// them. Nothing is interpolated; a refresh without reads has no hit rate
// and shows none.
#include <fcntl.h>
#include <langinfo.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cmath>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "programs/cli/commands.h"

// Last: curses defines macros (OK, ERR, ...) that must not reach the headers
// above, and NCURSES_NOMACROS keeps erase()/clear()/move() functions, not
// macros that would rewrite std::string::clear().
#define NCURSES_NOMACROS
#include <curses.h>

namespace postdevai::cli {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// The dashboard is laid out for this size; smaller terminals get a message.
constexpr int kMinCols = 80;
constexpr int kMinRows = 24;
// How much history the sparklines keep.
constexpr double kHistorySeconds = 60;
// The breakdown reads every record in the store: ask at most this often, and
// never more than 1/20 of the time (a store that takes 2 s to scan is
// scanned every 40 s), so that watching a node does not load it.
constexpr double kBreakdownEverySeconds = 10;
constexpr double kBreakdownMaxDutyCycle = 0.05;
// How long one request may take in top (unless --timeout is shorter): a
// stats report takes milliseconds, and CAF 0.17 silently drops requests to
// a node whose connection died, so without a short limit a dead node would
// freeze the screen for the whole default --timeout (120 s).
constexpr std::uint64_t kRequestTimeoutSeconds = 10;
// How long `q` waits for the fetcher to finish a request in flight before
// leaving without it (see Top()).
constexpr auto kQuitGrace = std::chrono::milliseconds(1000);

double SecondsBetween(Clock::time_point a, Clock::time_point b) { return Seconds(b - a).count(); }

// ------------------------------------------------------------------ model

// One refresh's view of activity: rates from the difference to the report
// before. Empty optionals: not measurable (no reads in the interval, first
// report, node restarted, connection down).
struct HistoryPoint {
  Clock::time_point at;
  bool reported = false;  // the node answered this refresh
  std::optional<double> hit_rate;        // RAM hits / reads in the interval
  std::optional<double> ops_per_second;  // reads + writes
  std::uint64_t reads = 0, ram_hits = 0, writes = 0;  // in the interval
};

struct Rates {
  double reads_per_second = 0, writes_per_second = 0, wal_bytes_per_second = 0;
  std::optional<double> hit_rate;
  std::optional<double> read_mean_seconds, write_mean_seconds;
};

struct Compression {
  Clock::time_point at;
  std::uint64_t raw_bytes = 0, stored_bytes = 0, entries = 0;
  double scan_seconds = 0;  // how long the node took to answer
};

// Everything the screen shows. The fetcher updates it under Shared::mu; the
// UI copies it under the lock and draws from the copy.
struct Model {
  std::string endpoint;
  double interval_seconds = 1;
  std::optional<double> sync_interval_seconds;  // from --config, to judge the lag

  std::optional<NodeStats> stats;  // the latest report
  Clock::time_point stats_at;
  std::time_t stats_wall = 0;      // the same moment on the wall clock, for "as of"
  std::optional<Rates> rates;      // between the two latest reports
  // Whether `stats` is the report just before the next one. After a failed
  // refresh it is not: a difference across the outage would be an average
  // over it, shown as "now".
  bool baseline = false;
  std::deque<HistoryPoint> history;

  std::optional<Compression> compression;
  std::string compression_error;

  // Connection: `lost` while the node cannot be reached; the fetcher keeps
  // trying every interval and counts the attempts.
  bool lost = false;
  std::string error;               // why the last refresh failed (lost or not)
  Clock::time_point lost_at;
  std::uint64_t failed_attempts = 0;
  bool reconnecting = false;       // a connect is in flight
  std::optional<Clock::time_point> request_started;  // a stats request is in flight
  std::uint64_t request_timeout_seconds = 0;  // 0: none
  std::uint64_t reconnects = 0;    // connections re-established since top started
  std::uint64_t node_restarts_seen = 0;  // counters went backwards: a new node process
};

// Adds a history point and drops those older than the window. Refreshes
// that never happened (a request that hung for seconds) become points
// without a report, so that a sparkline's columns stay one interval apart.
void Remember(Model& m, HistoryPoint p) {
  if (!m.history.empty() && m.interval_seconds > 0) {
    const auto last = m.history.back().at;
    const double missed = std::floor(SecondsBetween(last, p.at) / m.interval_seconds + 0.5) - 1;
    const double cap = kHistorySeconds / m.interval_seconds;
    for (int k = 1; k <= static_cast<int>(std::min(missed, cap)); ++k) {
      HistoryPoint filler;
      filler.at = last + std::chrono::duration_cast<Clock::duration>(Seconds(k * m.interval_seconds));
      m.history.push_back(filler);
    }
  }
  m.history.push_back(p);
  while (!m.history.empty() && SecondsBetween(m.history.front().at, p.at) > kHistorySeconds) m.history.pop_front();
}

// Mean request time over the interval from the histograms' counts and sums.
std::optional<double> IntervalMean(const LatencyInfo& before, const LatencyInfo& now) {
  if (now.count <= before.count) return std::nullopt;
  return (now.sum_seconds - before.sum_seconds) / static_cast<double>(now.count - before.count);
}

void OnStats(Model& m, Clock::time_point at, NodeStats s) {
  HistoryPoint point;
  point.at = at;
  point.reported = true;
  m.rates.reset();
  if (m.stats) {
    const NodeStats& b = *m.stats;
    // Counters only grow within one node process; a smaller one means the
    // node restarted (or another one answers at the address): start over
    // rather than show a negative rate.
    const bool restarted = s.reads < b.reads || s.writes < b.writes || s.ram_hits < b.ram_hits ||
                           s.sync.wal_bytes < b.sync.wal_bytes || s.read_latency.count < b.read_latency.count ||
                           s.write_latency.count < b.write_latency.count;
    const double dt = SecondsBetween(m.stats_at, at);
    if (restarted) {
      ++m.node_restarts_seen;
    } else if (m.baseline && dt > 0) {
      Rates r;
      const std::uint64_t reads = s.reads - b.reads, writes = s.writes - b.writes;
      r.reads_per_second = static_cast<double>(reads) / dt;
      r.writes_per_second = static_cast<double>(writes) / dt;
      r.wal_bytes_per_second = static_cast<double>(s.sync.wal_bytes - b.sync.wal_bytes) / dt;
      if (reads > 0) r.hit_rate = static_cast<double>(s.ram_hits - b.ram_hits) / static_cast<double>(reads);
      r.read_mean_seconds = IntervalMean(b.read_latency, s.read_latency);
      r.write_mean_seconds = IntervalMean(b.write_latency, s.write_latency);
      point.hit_rate = r.hit_rate;
      point.ops_per_second = r.reads_per_second + r.writes_per_second;
      point.reads = reads;
      point.ram_hits = s.ram_hits - b.ram_hits;
      point.writes = writes;
      m.rates = r;
    }
  }
  m.stats = std::move(s);
  m.stats_at = at;
  m.stats_wall = std::time(nullptr);
  m.baseline = true;
  if (m.lost) ++m.reconnects;
  m.lost = false;
  m.error.clear();
  m.failed_attempts = 0;
  Remember(m, point);
}

// A refresh that got no report. `lost`: the node is unreachable or did not
// answer in time (kUnavailable); otherwise it answered with an error of its
// own, and the connection stands.
void OnFailure(Model& m, Clock::time_point at, const Status& s) {
  const bool lost = s.code() == StatusCode::kUnavailable;
  if (lost && !m.lost) m.lost_at = at;
  if (!lost && m.lost) ++m.reconnects;  // it answered, if with an error
  m.lost = lost;
  // A lost node's message names it already; the node's own errors keep their kind.
  m.error = lost && !s.message().empty() ? s.message() : s.ToString();
  ++m.failed_attempts;
  // The last report stays on screen (marked as old); rates need two
  // consecutive reports again.
  m.rates.reset();
  m.baseline = false;
  HistoryPoint point;
  point.at = at;
  Remember(m, point);
}

void OnBreakdown(Model& m, Clock::time_point at, const std::vector<StoreKindInfo>& kinds, double scan_seconds) {
  Compression c;
  c.at = at;
  c.scan_seconds = scan_seconds;
  for (const auto& k : kinds) {
    c.raw_bytes += k.raw_bytes;
    c.stored_bytes += k.stored_bytes;
    c.entries += k.entries;
  }
  m.compression = c;
  m.compression_error.clear();
}

// --------------------------------------------------------------- fetcher

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool fetcher_done = false;
  Model model;
};

// Asks the node for stats every interval until Shared::stop, and for the
// breakdown when due. Starts with the client top connected before drawing;
// when a request finds the node gone it drops that client and connects anew
// with `reconnect` every interval.
void FetchLoop(Shared& shared, NodeClient* first, const ConnectOptions& reconnect, double interval_seconds) {
  NodeClient* client = first;
  std::unique_ptr<NodeClient> owned;  // a client this loop connected (not the first)
  const auto interval = std::chrono::duration_cast<Clock::duration>(Seconds(interval_seconds));
  // Top took the first report just before starting this loop.
  auto next = Clock::now() + interval;
  auto next_breakdown = Clock::now();

  auto breakdown_if_due = [&] {
    if (client == nullptr || Clock::now() < next_breakdown) return;
    const auto start = Clock::now();
    auto kinds = client->Breakdown();
    const auto end = Clock::now();
    const double took = SecondsBetween(start, end);
    next_breakdown = end + std::chrono::duration_cast<Clock::duration>(
                               Seconds(std::max(kBreakdownEverySeconds, took / kBreakdownMaxDutyCycle)));
    std::lock_guard lock(shared.mu);
    if (kinds.ok()) {
      OnBreakdown(shared.model, end, *kinds, took);
      return;
    }
    // Not a verdict on the connection: a big store can take longer to scan
    // than a request may wait. The next stats request decides that.
    shared.model.compression_error = kinds.status().message();
  };

  for (;;) {
    breakdown_if_due();
    {
      std::unique_lock lock(shared.mu);
      shared.cv.wait_until(lock, next, [&] { return shared.stop; });
      if (shared.stop) break;
    }
    // Fixed rate, but no burst to catch up after a slow request.
    next += interval;
    if (next < Clock::now()) next = Clock::now() + interval;

    if (client == nullptr) {
      owned.reset();
      {
        std::lock_guard lock(shared.mu);
        shared.model.reconnecting = true;
      }
      auto connected = NodeClient::Connect(reconnect);
      std::lock_guard lock(shared.mu);
      shared.model.reconnecting = false;
      if (!connected.ok()) {
        OnFailure(shared.model, Clock::now(), connected.status());
        continue;
      }
      owned = std::move(*connected);
      client = owned.get();
      next_breakdown = Clock::now();
    }

    {
      std::lock_guard lock(shared.mu);
      shared.model.request_started = Clock::now();
    }
    auto stats = client->Stats();
    const auto at = Clock::now();
    std::lock_guard lock(shared.mu);
    shared.model.request_started.reset();
    if (stats.ok()) {
      OnStats(shared.model, at, std::move(*stats));
      continue;
    }
    OnFailure(shared.model, at, stats.status());
    // kUnavailable: the connection is gone or the node did not answer within
    // --timeout. Anything else is the node's own refusal: keep the connection.
    if (stats.status().code() == StatusCode::kUnavailable) client = nullptr;
  }
  // Destroying a client ends its actor system: done here, on this thread,
  // so that a slow shutdown never holds the UI.
  owned.reset();
  std::lock_guard lock(shared.mu);
  shared.fetcher_done = true;
  shared.cv.notify_all();
}

// ------------------------------------------------------------- formatting

// The glyphs: Unicode blocks when the terminal's locale is UTF-8, ASCII
// otherwise (a C locale would show UTF-8 bytes as garbage).
struct Glyphs {
  bool utf8 = false;
  std::vector<std::string> levels;  // sparkline, lowest to highest
  std::vector<std::string> eighths; // partial bar cells, 1/8 .. 7/8
  std::string full, empty, le, arrow, dot;
  std::string gap;   // a refresh without a value (no reads)
  std::string down;  // a refresh without a report (node unreachable or not answering)
};

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

// Error messages may be long and (from CAF) carry control characters.
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

// ------------------------------------------------------------------ drawing

enum ColorPair : short { kPairNormal = 0, kPairGood = 1, kPairWarn = 2, kPairBad = 3, kPairAccent = 4, kPairDim = 5 };

class Screen {
 public:
  Screen(int rows, int cols, bool colors) : rows_(rows), cols_(cols), colors_(colors) {}
  int rows() const { return rows_; }
  int cols() const { return cols_; }

  // Draws text at (row, col), clipped to the screen's width.
  void Put(int row, int col, const std::string& text, ColorPair pair = kPairNormal, attr_t attrs = A_NORMAL) const {
    if (row < 0 || row >= rows_ || col >= cols_) return;
    const attr_t a = attrs | (colors_ && pair != kPairNormal ? COLOR_PAIR(pair) : A_NORMAL);
    if (a != A_NORMAL) attron(a);
    mvaddstr(row, col, Clip(text, cols_ - col).c_str());
    if (a != A_NORMAL) attroff(a);
  }

 private:
  int rows_, cols_;
  bool colors_;
};

// Column layout of the partition table.
constexpr int kColName = 0, kColEntries = 10, kColBytes = 19, kColBar = 43;
constexpr int kEntriesWidth = 8, kBytesWidth = 23;
constexpr int kUsageWidth = 7, kHitWidth = 8, kRestartsWidth = 5;
constexpr int kSuffixWidth = kUsageWidth + kHitWidth + kRestartsWidth;
constexpr int kLabelWidth = 12;  // "hit rate    " and the like

std::string HitText(std::uint64_t hits, std::uint64_t lookups) {
  return lookups == 0 ? "-" : Percent(static_cast<double>(hits) / static_cast<double>(lookups));
}

void DrawPartitionRow(const Screen& s, int row, const std::string& name, std::uint64_t entries, std::uint64_t bytes,
                      std::uint64_t budget, const std::string& hit, std::uint64_t restarts, bool ready, bool bold,
                      const Glyphs& g) {
  const attr_t a = bold ? A_BOLD : A_NORMAL;
  s.Put(row, kColName, PadRight(name, kColEntries - kColName - 1), kPairNormal, a);
  s.Put(row, kColEntries, PadLeft(Count(entries), kEntriesWidth), kPairNormal, a);
  s.Put(row, kColBytes, PadLeft(FormatBytes(bytes) + " / " + FormatBytes(budget), kBytesWidth), kPairNormal, a);
  const int bar_cells = s.cols() - kColBar - 2 - kSuffixWidth;
  const double used = budget == 0 ? 0 : static_cast<double>(bytes) / static_cast<double>(budget);
  if (!ready) {
    s.Put(row, kColBar, PadRight("[re-attaching]", bar_cells + 2), kPairWarn, A_BOLD);
  } else {
    s.Put(row, kColBar, "[");
    // Near the budget the partition is evicting to make room: normal for a
    // cache, but worth a different colour.
    s.Put(row, kColBar + 1, Bar(used, bar_cells, g), used >= 0.95 ? kPairWarn : kPairGood);
    s.Put(row, kColBar + 1 + bar_cells, "]");
  }
  const int suffix = s.cols() - kSuffixWidth;
  s.Put(row, suffix, PadLeft(budget == 0 ? "-" : Percent(used), kUsageWidth), kPairNormal, a);
  s.Put(row, suffix + kUsageWidth, PadLeft(hit, kHitWidth), kPairNormal, a);
  s.Put(row, suffix + kUsageWidth + kHitWidth, PadLeft(std::to_string(restarts), kRestartsWidth),
        restarts > 0 ? kPairBad : kPairNormal, restarts > 0 ? A_BOLD : a);
}

// A sparkline of the history's values (nullopt: a gap), newest at the right,
// at most `cells` wide; returns how many seconds it spans.
double DrawSparkline(const Screen& s, int row, int col, int cells, const std::deque<HistoryPoint>& history,
                     std::optional<double> HistoryPoint::*field, double scale, const Glyphs& g) {
  const std::size_t n = std::min(history.size(), static_cast<std::size_t>(std::max(cells, 0)));
  const std::size_t first = history.size() - n;
  std::string line;
  for (std::size_t i = first; i < history.size(); ++i) {
    const auto& v = history[i].*field;
    line += v ? Level(scale > 0 ? *v / scale : 0, g) : history[i].reported ? g.gap : g.down;
  }
  s.Put(row, col, line, kPairAccent);
  if (n < 2) return 0;
  return SecondsBetween(history[first].at, history.back().at);
}

// "last 42s" to the left of a sparkline (its right end is now).
std::string SpanLabel(double seconds) {
  if (seconds <= 0) return "";
  return seconds < 10 ? Printf("last %.1fs", seconds) : Printf("last %.0fs", seconds);
}

void DrawTooSmall(const Screen& s) {
  const std::string lines[] = {
      "terminal too small",
      std::to_string(s.cols()) + "x" + std::to_string(s.rows()) + ", top needs " + std::to_string(kMinCols) + "x" +
          std::to_string(kMinRows),
      "q quits",
  };
  int row = std::max(0, s.rows() / 2 - 1);
  for (const auto& l : lines) {
    s.Put(row++, std::max(0, (s.cols() - Width(l)) / 2), l, kPairWarn, A_BOLD);
  }
}

// Rows the dashboard needs for `partitions` partition rows.
int RowsNeeded(std::size_t partitions) { return kMinRows + std::max(0, static_cast<int>(partitions) - 4); }

void DrawDashboard(const Screen& s, const Model& m, Clock::time_point now, const Glyphs& g) {
  const NodeStats& st = *m.stats;
  const std::string sep = " " + g.dot + " ";

  // Title.
  s.Put(0, 0, "postdevai top", kPairAccent, A_BOLD);
  {
    // While the node is lost the figures are its last report's: the time
    // says which, in red.
    const std::string right = "every " + FormatSeconds(m.interval_seconds) + sep + "as of " + WallClock(m.stats_wall);
    const int right_col = s.cols() - Width(right);
    s.Put(0, 14, Clip(g.dot + " node " + m.endpoint, right_col - 15));
    s.Put(0, right_col, right, m.lost ? kPairBad : kPairNormal, m.lost ? A_BOLD : A_NORMAL);
  }

  // Partitions.
  int row = 2;
  {
    const int suffix = s.cols() - kSuffixWidth;
    s.Put(row, kColName, "PARTITION", kPairNormal, A_UNDERLINE);
    s.Put(row, kColEntries, PadLeft("ENTRIES", kEntriesWidth), kPairNormal, A_UNDERLINE);
    s.Put(row, kColBytes, PadLeft("IN RAM / BUDGET", kBytesWidth), kPairNormal, A_UNDERLINE);
    s.Put(row, kColBar, "USAGE", kPairNormal, A_UNDERLINE);
    s.Put(row, suffix, PadLeft("USE", kUsageWidth), kPairNormal, A_UNDERLINE);
    s.Put(row, suffix + kUsageWidth, PadLeft("HIT", kHitWidth), kPairNormal, A_UNDERLINE);
    s.Put(row, suffix + kUsageWidth + kHitWidth, PadLeft("RST", kRestartsWidth), kPairNormal, A_UNDERLINE);
  }
  ++row;
  std::uint64_t entries = 0, bytes = 0, budget = 0, restarts = 0, evictions = 0, uncached = 0, dirty = 0;
  for (const auto& p : st.partitions) {
    DrawPartitionRow(s, row++, p.kind, p.entries, p.bytes, p.budget_bytes, HitText(p.hits, p.hits + p.misses),
                     p.restarts, p.ready, false, g);
    entries += p.entries;
    bytes += p.bytes;
    budget += p.budget_bytes;
    restarts += p.restarts;
    evictions += p.evictions;
    uncached += p.uncached_writes;
    dirty += p.dirty_entries;
  }
  DrawPartitionRow(s, row++, "total", entries, bytes, budget, HitText(st.ram_hits, st.reads), restarts, true, true, g);
  ++row;

  // Hit rate: this refresh, the window, since the node started.
  const int spark_cells = s.cols() - kLabelWidth - 10;
  {
    std::uint64_t window_reads = 0, window_writes = 0;
    std::uint64_t window_hits = 0;
    for (const auto& p : m.history) {
      window_reads += p.reads;
      window_hits += p.ram_hits;
      window_writes += p.writes;
    }
    std::string now_text = m.rates ? (m.rates->hit_rate ? Percent(*m.rates->hit_rate) : "- (no reads)") : "-";
    std::string line = "now " + now_text;
    line += sep + "last 60s " + (window_reads == 0 ? "-" : Percent(static_cast<double>(window_hits) / static_cast<double>(window_reads)));
    line += sep + "since start " + (st.reads == 0 ? "-" : Percent(static_cast<double>(st.ram_hits) / static_cast<double>(st.reads)));
    s.Put(row, 0, "hit rate", kPairNormal, A_BOLD);
    s.Put(row, kLabelWidth, line);
    ++row;
    const double span = DrawSparkline(s, row, kLabelWidth, spark_cells, m.history, &HistoryPoint::hit_rate, 1.0, g);
    s.Put(row, 0, PadLeft(SpanLabel(span), kLabelWidth - 2));
    s.Put(row, kLabelWidth + spark_cells + 1, "0-100%");
    ++row;

    // Operations per second.
    s.Put(row, 0, "ops/s", kPairNormal, A_BOLD);
    std::string ops = m.rates ? "reads " + Rate(m.rates->reads_per_second) + "  writes " + Rate(m.rates->writes_per_second)
                              : "reads -  writes -";
    ops += sep + "last 60s: " + Count(window_reads) + " reads, " + Count(window_writes) + " writes";
    s.Put(row, kLabelWidth, ops);
    ++row;
    double peak = 0;
    for (const auto& p : m.history) peak = std::max(peak, p.ops_per_second.value_or(0));
    const double ops_span =
        DrawSparkline(s, row, kLabelWidth, spark_cells, m.history, &HistoryPoint::ops_per_second, peak, g);
    s.Put(row, 0, PadLeft(SpanLabel(ops_span), kLabelWidth - 2));
    s.Put(row, kLabelWidth + spark_cells + 1, "max " + Rate(peak));
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
  s.Put(row, 0, "latency", kPairNormal, A_BOLD);
  s.Put(row++, kLabelWidth, latency("reads", st.read_latency, m.rates ? m.rates->read_mean_seconds : std::nullopt));
  s.Put(row++, kLabelWidth, latency("writes", st.write_latency, m.rates ? m.rates->write_mean_seconds : std::nullopt));

  // Sync lag: time since the last checkpoint, and the writes it does not cover.
  {
    const double lag = st.sync.seconds_since_checkpoint;
    const std::uint64_t behind = st.sync.durable_lsn > st.sync.checkpoint_lsn ? st.sync.durable_lsn - st.sync.checkpoint_lsn : 0;
    ColorPair pair = kPairNormal;
    if (m.sync_interval_seconds && *m.sync_interval_seconds > 0) {
      if (lag > 2 * *m.sync_interval_seconds) pair = kPairBad;
      else if (lag > 1.2 * *m.sync_interval_seconds) pair = kPairWarn;
    }
    s.Put(row, 0, "sync lag", kPairNormal, A_BOLD);
    std::string line = FormatSeconds(lag) + " since the last checkpoint" + sep + std::to_string(behind) +
                       " LSNs after it" + sep + "LSN " + std::to_string(st.sync.durable_lsn);
    s.Put(row++, kLabelWidth, line, pair);
  }

  // WAL backlog: what a crash now would replay.
  {
    s.Put(row, 0, "WAL", kPairNormal, A_BOLD);
    std::string line = std::to_string(st.sync.wal_segments) + (st.sync.wal_segments == 1 ? " segment" : " segments") +
                       sep + FormatBytes(st.sync.wal_live_bytes) + " live";
    if (m.rates) line += sep + FormatBytes(static_cast<std::uint64_t>(m.rates->wal_bytes_per_second)) + "/s appended";
    s.Put(row++, kLabelWidth, line);
  }

  // Compression, from the last breakdown.
  {
    s.Put(row, 0, "compression", kPairNormal, A_BOLD);
    std::string line;
    ColorPair pair = kPairNormal;
    if (m.compression) {
      const Compression& c = *m.compression;
      if (c.stored_bytes == 0) {
        line = "- (nothing in the store yet)";
      } else {
        line = Printf("%.2fx", static_cast<double>(c.raw_bytes) / static_cast<double>(c.stored_bytes)) + " (" +
               FormatBytes(c.raw_bytes) + " " + g.arrow + " " + FormatBytes(c.stored_bytes) + ", " + Count(c.entries) +
               " records)";
      }
      line += sep + "as of " + Ago(SecondsBetween(c.at, now));
      // A slow scan is repeated less often: say why the figure is old.
      if (c.scan_seconds / kBreakdownMaxDutyCycle > kBreakdownEverySeconds) {
        line += " (scan took " + FormatSeconds(c.scan_seconds) + ")";
      }
    } else if (!m.compression_error.empty()) {
      line = "unknown: " + Sanitize(m.compression_error);
      pair = kPairWarn;
    } else {
      line = "asking the node...";
    }
    s.Put(row++, kLabelWidth, line, pair);
  }

  // Counters that explain the rest: eviction pressure, promotions, prefetch.
  {
    s.Put(row, 0, "activity", kPairNormal, A_BOLD);
    std::string line = "evictions " + Count(evictions) + sep + "promotions " + Count(st.promotions) + sep +
                       "dirty " + Count(dirty) + sep + "prefetch " +
                       (st.prefetch_enabled ? Count(st.prefetch_hits) + "/" + Count(st.prefetches) + " hit" : "off") +
                       sep + "errors " + Count(st.errors);
    if (uncached > 0) line += sep + "uncached " + Count(uncached);
    s.Put(row++, kLabelWidth, line, st.errors > 0 ? kPairWarn : kPairNormal);
  }

  // Connection state, on the lines above the keys.
  {
    const int status_row = s.rows() - 4;
    // A reason over two lines: connect errors name the address and CAF's
    // error, which rarely fit in one.
    auto reason = [&](ColorPair pair) {
      const std::string error = Sanitize(m.error);
      const std::string first = Clip(error, s.cols() - 1);
      s.Put(status_row + 1, 1, first, pair);
      if (first.size() < error.size()) s.Put(status_row + 2, 1, error.substr(first.size()), pair);
    };
    if (m.lost) {
      const std::string retry = m.reconnecting ? "reconnecting now" : "retrying every " + FormatSeconds(m.interval_seconds);
      s.Put(status_row, 0,
            PadRight(" CONNECTION LOST " + Ago(SecondsBetween(m.lost_at, now)) + sep + retry + " (attempt " +
                         std::to_string(m.failed_attempts) + ")",
                     s.cols()),
            kPairBad, A_BOLD | A_REVERSE);
      reason(kPairBad);
    } else if (!m.error.empty()) {
      s.Put(status_row, 0,
            "connected, but the node answered the last refresh with an error (" + std::to_string(m.failed_attempts) +
                "x):",
            kPairWarn, A_BOLD);
      reason(kPairWarn);
    } else if (m.request_started && SecondsBetween(*m.request_started, now) > std::max(2.0, 2 * m.interval_seconds)) {
      s.Put(status_row, 0,
            "waiting for the node: no reply for " + FormatSeconds(SecondsBetween(*m.request_started, now)) +
                (m.request_timeout_seconds > 0
                     ? " (counts as lost after " + std::to_string(m.request_timeout_seconds) + "s)"
                     : ""),
            kPairWarn, A_BOLD);
    } else {
      std::string line = "connected" + sep + "updated " + Ago(SecondsBetween(m.stats_at, now));
      if (m.reconnects > 0) line += sep + "reconnected " + std::to_string(m.reconnects) + "x";
      if (m.node_restarts_seen > 0) line += sep + "node restarted " + std::to_string(m.node_restarts_seen) + "x";
      s.Put(status_row, 0, line, kPairGood);
    }
  }

  // Keys, and what the sparklines' blanks mean.
  const std::string legend = (g.utf8 ? g.gap + " no reads   " : std::string()) + g.down + " no report from the node ";
  s.Put(s.rows() - 1, 0, PadRight(" q quit", s.cols() - Width(legend)) + legend, kPairNormal, A_REVERSE);
}

// ------------------------------------------------------------ the terminal

volatile std::sig_atomic_t g_quit_signal = 0;

void OnQuitSignal(int sig) { g_quit_signal = sig; }

// The terminal in curses mode for its lifetime: endwin() however top leaves
// (q, Ctrl-C, an exception), stderr silenced meanwhile, signal handlers
// restored.
class CursesSession {
 public:
  CursesSession() = default;
  CursesSession(const CursesSession&) = delete;
  CursesSession& operator=(const CursesSession&) = delete;

  Status Start() {
    // Our SIGINT/SIGTERM/SIGHUP handlers go in first: ncurses installs its
    // own only where none is set, and ours let the loop below leave through
    // endwin() instead of dying with the terminal in raw mode.
    struct sigaction sa {};
    sa.sa_handler = OnQuitSignal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &old_actions_[i]);
    handlers_installed_ = true;

    const char* term = std::getenv("TERM");
    const std::string term_name = term != nullptr ? term : "unset";
    screen_ = newterm(nullptr, stdout, stdin);
    if (screen_ == nullptr) {
      return Status::InvalidArgument("cannot draw on this terminal (TERM=" + term_name +
                                     "): top needs a terminal curses knows");
    }
    // A terminal that cannot move the cursor (TERM=dumb) would get the
    // screen as a stream of lines.
    const char* cup = tigetstr(const_cast<char*>("cup"));
    if (cup == nullptr || cup == reinterpret_cast<char*>(-1)) {
      End();
      return Status::InvalidArgument("TERM=" + term_name + " cannot position the cursor: top needs a full-screen terminal");
    }
    // Anything written to stderr while curses owns the screen (CAF's own
    // warnings, -v logging) would scribble over it; send it nowhere until
    // endwin. Only when stderr is a terminal: a redirected stderr is safe.
    if (::isatty(STDERR_FILENO)) {
      saved_stderr_ = ::dup(STDERR_FILENO);
      const int null = ::open("/dev/null", O_WRONLY);
      if (saved_stderr_ >= 0 && null >= 0) ::dup2(null, STDERR_FILENO);
      if (null >= 0) ::close(null);
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    // getch waits at most this long, so signals and new data show promptly.
    timeout(200);
    colors_ = has_colors();
    if (colors_) {
      start_color();
      use_default_colors();
      init_pair(kPairGood, COLOR_GREEN, -1);
      init_pair(kPairWarn, COLOR_YELLOW, -1);
      init_pair(kPairBad, COLOR_RED, -1);
      init_pair(kPairAccent, COLOR_CYAN, -1);
      init_pair(kPairDim, COLOR_BLUE, -1);
    }
    return Status::Ok();
  }

  bool colors() const { return colors_; }

  // Leaves curses mode (idempotent).
  void End() {
    if (screen_ != nullptr) {
      endwin();
      delscreen(screen_);
      screen_ = nullptr;
      std::fflush(stdout);
    }
    if (saved_stderr_ >= 0) {
      ::dup2(saved_stderr_, STDERR_FILENO);
      ::close(saved_stderr_);
      saved_stderr_ = -1;
    }
    if (handlers_installed_) {
      for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &old_actions_[i], nullptr);
      handlers_installed_ = false;
    }
  }

  ~CursesSession() { End(); }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  SCREEN* screen_ = nullptr;
  int saved_stderr_ = -1;
  bool colors_ = false;
  bool handlers_installed_ = false;
  struct sigaction old_actions_[3] {};
};

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

}  // namespace

Status Top(CommandContext& ctx, const ParsedArgs& args) {
  double interval = 1;
  if (auto v = args.Get("--interval")) {
    auto parsed = ParseInterval(*v);
    if (!parsed.ok()) return parsed.status();
    interval = *parsed;
  }
  if (ctx.json()) {
    return Status::InvalidArgument("top draws a dashboard and has no --json output (memory stats --json reports the same figures)");
  }
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    return Status::InvalidArgument("top needs a terminal on stdin and stdout (for scripts: memory stats --json)");
  }

  // Connect and take the first report before touching the terminal: an
  // unreachable node is one line and exit 3, not a flash of curses. The
  // connection gets top's short request limit (see kRequestTimeoutSeconds);
  // --timeout 0 still means waiting for ever.
  GlobalOptions options = ctx.options();
  if (options.timeout_seconds > 0) {
    const auto two_intervals = static_cast<std::uint64_t>(std::ceil(2 * interval));
    options.timeout_seconds = std::min(options.timeout_seconds, std::max(kRequestTimeoutSeconds, two_intervals));
  }
  CommandContext live(options);
  if (Status s = live.LoadConfig(); !s.ok()) return s;
  auto node = live.Node();
  if (!node.ok()) return node.status();
  auto first = (*node)->Stats();
  if (!first.ok()) return first.status();

  // Reconnects use the same address and TLS files as the first connection
  // (already checked by Node()), but not its watchdog: that one exits the
  // process, which must not happen with curses on the screen. A connect
  // that hangs only holds the fetcher, and the screen says so.
  ConnectOptions reconnect;
  {
    auto endpoint = live.NodeEndpoint();
    if (!endpoint.ok()) return endpoint.status();
    reconnect.host = endpoint->host;
    reconnect.port = endpoint->port;
    if (live.config()) reconnect.tls = live.config()->node;
    if (!options.cert.empty()) reconnect.tls.certificate = options.cert;
    if (!options.key.empty()) reconnect.tls.key = options.key;
    if (!options.ca.empty()) reconnect.tls.ca_file = options.ca;
    reconnect.timeout = std::chrono::seconds(options.timeout_seconds);
  }

  Shared shared;
  shared.model.endpoint = (*node)->endpoint();
  shared.model.interval_seconds = interval;
  shared.model.request_timeout_seconds = options.timeout_seconds;
  if (live.config()) shared.model.sync_interval_seconds = static_cast<double>(live.config()->sync_interval_minutes) * 60.0;
  OnStats(shared.model, Clock::now(), std::move(*first));

  // Block glyphs need ncursesw to know the locale's encoding; only LC_CTYPE,
  // so that numbers keep their '.' whatever LC_NUMERIC says.
  std::setlocale(LC_CTYPE, "");
  const char* codeset = nl_langinfo(CODESET);
  const Glyphs glyphs = MakeGlyphs(codeset != nullptr && std::strcmp(codeset, "UTF-8") == 0);

  CursesSession session;
  g_quit_signal = 0;
  if (Status s = session.Start(); !s.ok()) return s;

  std::thread fetcher([&shared, client = *node, &reconnect, interval] { FetchLoop(shared, client, reconnect, interval); });

  for (;;) {
    Model model;
    {
      std::lock_guard lock(shared.mu);
      model = shared.model;
    }
    erase();
    Screen screen(LINES, COLS, session.colors());
    if (COLS < kMinCols || LINES < RowsNeeded(model.stats ? model.stats->partitions.size() : 4)) {
      DrawTooSmall(screen);
    } else {
      DrawDashboard(screen, model, Clock::now(), glyphs);
    }
    refresh();

    const int key = getch();
    if (key == 'q' || key == 'Q' || key == 3 /* Ctrl-C when ISIG is off */ || g_quit_signal != 0) break;
    // KEY_RESIZE and timeouts simply redraw.
  }

  // Give the terminal back first: the user sees the prompt at once.
  session.End();
  {
    std::unique_lock lock(shared.mu);
    shared.stop = true;
    shared.cv.notify_all();
    if (!shared.cv.wait_for(lock, kQuitGrace, [&] { return shared.fetcher_done; })) {
      // A request or connect in flight cannot be cancelled, and the node may
      // never answer it. The terminal is restored and nothing is buffered:
      // leave without waiting for it.
      lock.unlock();
      std::fflush(stdout);
      std::fflush(stderr);
      std::_Exit(0);
    }
  }
  fetcher.join();
  return Status::Ok();
}

}  // namespace postdevai::cli
