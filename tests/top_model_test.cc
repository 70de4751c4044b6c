// top's model and screen layout (programs/cli/top_model.h) without a
// terminal or a node: reports with known counters at known moments, and
// the figures and text that must follow from them. tests/top_test.cc drives
// the real program under tmux against a real node.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "programs/cli/top_model.h"

using namespace postdevai;
using namespace postdevai::cli;
using top::Clock;

namespace {

// A moment `seconds` after an arbitrary origin.
Clock::time_point At(double seconds) {
  return Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

top::TopSettings Settings(double interval_seconds = 1) {
  top::TopSettings s;
  s.endpoint = "127.0.0.1:4710";
  s.interval_seconds = interval_seconds;
  s.request_timeout_seconds = 10;
  return s;
}

PartitionInfo Partition(const std::string& kind, std::uint64_t bytes, std::uint64_t budget_bytes) {
  PartitionInfo p;
  p.kind = kind;
  p.bytes = bytes;
  p.budget_bytes = budget_bytes;
  p.ready = true;
  return p;
}

// A report from a node with the four usual partitions, each half full.
NodeStats Report(std::uint64_t reads, std::uint64_t ram_hits, std::uint64_t writes) {
  NodeStats s;
  for (const char* kind : {"vectors", "code", "history", "metadata"}) s.partitions.push_back(Partition(kind, 512, 1024));
  s.reads = reads;
  s.ram_hits = ram_hits;
  s.writes = writes;
  return s;
}

// s followed by spaces up to `cells` cells (a whole line as Lines() gives it).
std::string PadTo(const std::string& s, int cells);

int Cells(const std::string& s) {
  return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string PadTo(const std::string& s, int cells) {
  return s + std::string(static_cast<std::size_t>(std::max(0, cells - Cells(s))), ' ');
}

bool EndsWith(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

struct Screen {
  top::Frame frame;
  std::vector<std::string> lines;

  // The whole text, lines joined by '\n'.
  std::string Text() const {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  // The first line holding `text`, or "" (so a failed check shows the screen).
  std::string LineWith(const std::string& text) const {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return l;
    }
    return "";
  }
  // The first span holding `text`.
  const top::Span* SpanWith(const std::string& text) const {
    for (const auto& s : frame.spans()) {
      if (s.text.find(text) != std::string::npos) return &s;
    }
    return nullptr;
  }
};

Screen Draw(const top::DashboardModel& m, Clock::time_point now, bool utf8 = false, int rows = 24, int cols = 80) {
  top::Frame frame = top::LayoutScreen(m, now, top::MakeGlyphs(utf8), rows, cols);
  auto lines = frame.Lines();
  return Screen{std::move(frame), std::move(lines)};
}

}  // namespace

TEST_CASE("rates are counter differences divided by the time between two reports", "[top]") {
  top::DashboardModel m(Settings(2));
  NodeStats first = Report(100, 50, 10);
  first.sync.wal_bytes = 1000;
  first.read_latency = {10, 1.0, 0.001, 0.01};
  first.write_latency = {5, 0.5, 0.001, 0.01};
  m.OnStats(At(0), 0, first);
  // One report measures nothing.
  CHECK_FALSE(m.rates());
  REQUIRE(m.history().size() == 1);
  CHECK(m.history().back().reported);
  CHECK_FALSE(m.history().back().ops_per_second);

  NodeStats second = Report(300, 200, 30);
  second.sync.wal_bytes = 5000;
  second.read_latency = {30, 1.4, 0.001, 0.01};
  second.write_latency = {5, 0.5, 0.001, 0.01};  // no writes measured in the interval
  m.OnStats(At(2), 0, second);
  REQUIRE(m.rates());
  const top::Rates& r = *m.rates();
  CHECK(r.reads_per_second == Approx(100));
  CHECK(r.writes_per_second == Approx(10));
  CHECK(r.wal_bytes_per_second == Approx(2000));
  REQUIRE(r.hit_rate);
  CHECK(*r.hit_rate == Approx(0.75));
  REQUIRE(r.read_mean_seconds);
  CHECK(*r.read_mean_seconds == Approx(0.4 / 20));
  CHECK_FALSE(r.write_mean_seconds);

  const top::HistoryPoint& p = m.history().back();
  CHECK(p.reads == 200);
  CHECK(p.ram_hits == 150);
  CHECK(p.writes == 20);
  REQUIRE(p.ops_per_second);
  CHECK(*p.ops_per_second == Approx(110));

  const Screen s = Draw(m, At(2.5));
  INFO(s.Text());
  CHECK(s.LineWith("hit rate").find("now 75.0% | last 60s 75.0% | since start 66.7%") != std::string::npos);
  CHECK(s.LineWith("ops/s").find("reads 100  writes 10.0 | last 60s: 200 reads, 20 writes") != std::string::npos);
  CHECK(s.LineWith("max ").find("max 110") != std::string::npos);
  CHECK(s.LineWith("reads  p50").find("mean now 20.0ms") != std::string::npos);
  CHECK(s.LineWith("WAL").find("2.0 KiB/s appended") != std::string::npos);
  CHECK(s.LineWith("connected").find("connected | updated 500ms ago") == 0);
}

TEST_CASE("a node restart (a counter going backwards) gives no rate, and the next report measures from it", "[top]") {
  // Each counter that rates are computed from, going backwards on its own.
  struct Case {
    const char* name;
    void (*rewind)(NodeStats&);
  };
  const Case cases[] = {
      {"reads", [](NodeStats& s) { s.reads = 3; }},
      {"writes", [](NodeStats& s) { s.writes = 1; }},
      {"ram hits", [](NodeStats& s) { s.ram_hits = 2; }},
      {"WAL bytes", [](NodeStats& s) { s.sync.wal_bytes = 0; }},
      {"read latency count", [](NodeStats& s) { s.read_latency.count = 0; }},
      {"write latency count", [](NodeStats& s) { s.write_latency.count = 0; }},
  };
  for (const Case& c : cases) {
    INFO("rewound: " << c.name);
    top::DashboardModel m(Settings());
    auto report = [](std::uint64_t reads, std::uint64_t hits, std::uint64_t writes) {
      NodeStats s = Report(reads, hits, writes);
      s.sync.wal_bytes = writes * 100;
      s.read_latency = {reads, 0.001 * static_cast<double>(reads), 0.001, 0.001};
      s.write_latency = {writes, 0.002 * static_cast<double>(writes), 0.002, 0.002};
      return s;
    };
    m.OnStats(At(0), 0, report(1000, 900, 500));
    m.OnStats(At(1), 0, report(1100, 990, 510));
    REQUIRE(m.rates());

    NodeStats restarted = report(1200, 1080, 520);
    c.rewind(restarted);
    m.OnStats(At(2), 0, restarted);
    CHECK_FALSE(m.rates());
    CHECK(m.node_restarts_seen() == 1);
    CHECK(m.history().back().reported);
    CHECK_FALSE(m.history().back().ops_per_second);
    // Nothing wrapped around into the window.
    const top::WindowTotals w = m.Window();
    CHECK(w.reads == 100);
    CHECK(w.writes == 10);
    CHECK(w.peak_ops_per_second == Approx(110));

    // The new process is the baseline: small, positive rates.
    NodeStats next = restarted;
    next.reads += 20;
    next.ram_hits += 10;
    next.writes += 2;
    next.sync.wal_bytes += 200;
    next.read_latency.count += 20;
    next.write_latency.count += 2;
    m.OnStats(At(3), 0, next);
    REQUIRE(m.rates());
    CHECK(m.rates()->reads_per_second == Approx(20));
    CHECK(m.rates()->writes_per_second == Approx(2));
    CHECK(m.rates()->wal_bytes_per_second == Approx(200));
    CHECK(m.node_restarts_seen() == 1);
    CHECK(Draw(m, At(3)).LineWith("connected").find("node restarted 1x") != std::string::npos);
  }
}

TEST_CASE("a refresh without reads has no hit rate, and neither has a node without reads", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(10, 5, 0));
  m.OnStats(At(1), 0, Report(10, 5, 4));  // writes only
  REQUIRE(m.rates());
  CHECK_FALSE(m.rates()->hit_rate);
  CHECK(m.rates()->reads_per_second == 0);
  CHECK(m.rates()->writes_per_second == Approx(4));
  CHECK_FALSE(m.history().back().hit_rate);
  REQUIRE(m.history().back().ops_per_second);  // still measured: 4 writes/s
  CHECK_FALSE(m.Window().hit_rate);

  Screen s = Draw(m, At(1));
  INFO(s.Text());
  CHECK(s.LineWith("hit rate").find("now - (no reads) | last 60s - | since start 50.0%") != std::string::npos);
  CHECK(s.LineWith("ops/s").find("reads 0  writes 4.0") != std::string::npos);

  // A node that never served a read: no hit rate since start, and "-" in
  // the total row's HIT column (between USE and RST).
  top::DashboardModel idle(Settings());
  idle.OnStats(At(0), 0, Report(0, 0, 0));
  CHECK_FALSE(idle.Partitions().total.hit_rate);
  s = Draw(idle, At(0));
  CHECK(s.LineWith("hit rate").find("now - | last 60s - | since start -") != std::string::npos);
  const std::string total = s.LineWith("total");
  CHECK(total.substr(total.size() - 20) == "  50.0%       -    0");
}

TEST_CASE("the history keeps 60 seconds: older refreshes slide out of the window", "[top]") {
  top::DashboardModel m(Settings());
  for (int i = 0; i <= 100; ++i) m.OnStats(At(i), 0, Report(10u * i, 5u * i, 1u * i));
  // Points 40..100: none more than 60 s older than the newest.
  REQUIRE(m.history().size() == 61);
  CHECK(m.history().front().at == At(40));
  CHECK(m.history().back().at == At(100));
  const top::WindowTotals w = m.Window();
  CHECK(w.reads == 610);
  CHECK(w.ram_hits == 305);
  CHECK(w.writes == 61);
  REQUIRE(w.hit_rate);
  CHECK(*w.hit_rate == Approx(0.5));

  // At 80 columns a sparkline has 58 cells: the newest 58 refreshes, 57 s.
  const top::Sparkline spark =
      top::MakeSparkline(m.history(), &top::HistoryPoint::ops_per_second, w.peak_ops_per_second, 58, top::MakeGlyphs(false));
  CHECK(spark.text == std::string(58, '#'));
  CHECK(spark.span_seconds == Approx(57));
  const Screen s = Draw(m, At(100));
  INFO(s.Text());
  CHECK(s.LineWith("ops/s").find("last 60s: 610 reads, 61 writes") != std::string::npos);
  CHECK(s.LineWith("max 11.0").find("  last 57s  ##########") == 0);

  // After a long silence only the newest report is left (the missed
  // refreshes in between are all older than the window); no refresh failed,
  // so it still measures from the one before.
  m.OnStats(At(1000), 0, Report(20000, 10000, 2000));
  REQUIRE(m.history().size() == 1);
  CHECK(m.history().front().at == At(1000));
  CHECK(m.Window().reads == 19000);
  CHECK(m.rates()->reads_per_second == Approx(19000.0 / 900));
}

TEST_CASE("missed refreshes become blanks one interval apart, reports without a value are gaps", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(0, 0, 0));
  m.OnStats(At(1), 0, Report(10, 10, 0));  // hit rate 100%
  m.OnStats(At(5), 0, Report(20, 10, 0));  // 4 s later: 3 refreshes missed; hit rate 0%
  REQUIRE(m.history().size() == 6);
  for (int i = 2; i <= 4; ++i) {
    CHECK(m.history()[static_cast<std::size_t>(i)].at == At(i));
    CHECK_FALSE(m.history()[static_cast<std::size_t>(i)].reported);
  }
  m.OnFailure(At(6), Status::Unavailable("node 127.0.0.1:4710 did not answer"));

  const auto& hit = &top::HistoryPoint::hit_rate;
  // First report: a gap (reported, nothing measured); then 100%, three
  // refreshes without a report, 0%, and the failed refresh.
  CHECK(top::MakeSparkline(m.history(), hit, 1.0, 58, top::MakeGlyphs(false)).text == " #xxx_x");
  CHECK(top::MakeSparkline(m.history(), hit, 1.0, 58, top::MakeGlyphs(true)).text ==
        "\u00b7\u2588\u00d7\u00d7\u00d7\u2581\u00d7");
  // Narrower than the history: the newest points.
  const top::Sparkline last3 = top::MakeSparkline(m.history(), hit, 1.0, 3, top::MakeGlyphs(false));
  CHECK(last3.text == "x_x");
  CHECK(last3.span_seconds == Approx(2));
  CHECK(top::MakeSparkline(m.history(), hit, 1.0, 1, top::MakeGlyphs(false)).span_seconds == 0);

  // A gap far longer than the window adds at most a window of blanks.
  top::DashboardModel slow(Settings(0.5));
  slow.OnStats(At(0), 0, Report(0, 0, 0));
  slow.OnStats(At(30), 0, Report(0, 0, 0));
  CHECK(slow.history().size() == 61);  // 0, 59 blanks, 30
}

TEST_CASE("a lost node: attempts counted, last figures kept, rates need two reports after reconnecting", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(0, 0, 0));
  m.OnStats(At(1), 0, Report(10, 5, 1));
  for (int i = 2; i <= 4; ++i) m.OnFailure(At(i), Status::Unavailable("node 127.0.0.1:4710 did not answer within 10s"));
  CHECK(m.lost());
  CHECK(m.lost_at() == At(2));
  CHECK(m.failed_attempts() == 3);
  CHECK(m.Connection(At(4)) == top::ConnectionState::kLost);
  CHECK_FALSE(m.rates());
  REQUIRE(m.stats());
  CHECK(m.stats()->reads == 10);  // the last report stays

  Screen s = Draw(m, At(5));
  INFO(s.Text());
  CHECK(s.lines[20] == PadTo(" CONNECTION LOST 3.0s ago | retrying every 1.0s (attempt 3)", 80));
  CHECK(s.lines[21].find(" node 127.0.0.1:4710 did not answer within 10s") == 0);
  const top::Span* banner = s.SpanWith("CONNECTION LOST");
  REQUIRE(banner);
  CHECK(banner->tone == top::Tone::kBad);
  CHECK(banner->emphasis == (top::kBold | top::kReverse));
  // The title's time says the figures are old, in red.
  const top::Span* as_of = s.SpanWith("as of ");
  REQUIRE(as_of);
  CHECK(as_of->tone == top::Tone::kBad);
  CHECK(s.LineWith("ops/s").find("reads -  writes -") != std::string::npos);

  m.OnConnectStarted();
  CHECK(Draw(m, At(5)).lines[20].find("reconnecting now (attempt 3)") != std::string::npos);
  m.OnFailure(At(5), Status::Unavailable("no dragon_node reachable at 127.0.0.1:4710"));
  CHECK_FALSE(m.reconnecting());
  CHECK(m.failed_attempts() == 4);
  CHECK(m.lost_at() == At(2));

  m.OnConnectStarted();
  m.OnConnected();
  m.OnRequestStarted(At(6));
  m.OnStats(At(6), 0, Report(20, 10, 2));
  CHECK_FALSE(m.lost());
  CHECK(m.reconnects() == 1);
  CHECK(m.failed_attempts() == 0);
  CHECK(m.error().empty());
  CHECK_FALSE(m.request_started());
  // Not a rate across the outage.
  CHECK_FALSE(m.rates());
  CHECK(m.Connection(At(6)) == top::ConnectionState::kConnected);
  s = Draw(m, At(6.5));
  CHECK(s.lines[20].find("connected | updated 500ms ago | reconnected 1x") == 0);
  CHECK(s.SpanWith("connected | updated")->tone == top::Tone::kGood);

  m.OnStats(At(7), 0, Report(30, 15, 3));
  REQUIRE(m.rates());
  CHECK(m.rates()->reads_per_second == Approx(10));
}

TEST_CASE("an error from the node keeps the connection and is shown over two lines when long", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(0, 0, 0));
  m.OnFailure(At(1), Status::InvalidArgument("stats refused"));
  CHECK_FALSE(m.lost());
  CHECK(m.error() == "invalid argument: stats refused");
  CHECK(m.Connection(At(1)) == top::ConnectionState::kNodeError);
  CHECK(m.reconnects() == 0);
  Screen s = Draw(m, At(1));
  CHECK(s.lines[20].find("connected, but the node answered the last refresh with an error (1x):") == 0);
  CHECK(s.lines[21].find(" invalid argument: stats refused") == 0);

  // A long message, with a control character, continues on the next line.
  const std::string detail(100, 'e');
  m.OnFailure(At(2), Status::InvalidArgument("first\nline " + detail));
  s = Draw(m, At(2));
  const std::string shown = "invalid argument: first line " + detail;
  CHECK(s.lines[21] == " " + shown.substr(0, 79));
  CHECK(s.lines[22].find(" " + shown.substr(79)) == 0);

  // An error from a node that was lost: it answers again, a reconnect.
  m.OnFailure(At(3), Status::Unavailable("gone"));
  CHECK(m.lost());
  m.OnFailure(At(4), Status::TooLarge("too big"));
  CHECK_FALSE(m.lost());
  CHECK(m.reconnects() == 1);
  // An unreachable node without a message still says why.
  m.OnFailure(At(5), Status::Unavailable(""));
  CHECK(m.error() == "unavailable: ");
}

TEST_CASE("a request unanswered for over two intervals (at least 2 s) is shown as waiting", "[top]") {
  top::DashboardModel m(Settings(1));
  m.OnStats(At(0), 0, Report(0, 0, 0));
  m.OnRequestStarted(At(1));
  CHECK(m.Connection(At(2.9)) == top::ConnectionState::kConnected);
  CHECK(m.Connection(At(3.5)) == top::ConnectionState::kWaiting);
  CHECK(Draw(m, At(3.5)).lines[20].find("waiting for the node: no reply for 2.5s (counts as lost after 10s)") == 0);
  m.OnStats(At(4), 0, Report(0, 0, 0));
  CHECK(m.Connection(At(10)) == top::ConnectionState::kConnected);

  top::TopSettings slow_settings = Settings(5);
  slow_settings.request_timeout_seconds = 0;  // --timeout 0: no limit to mention
  top::DashboardModel slow(slow_settings);
  slow.OnStats(At(0), 0, Report(0, 0, 0));
  slow.OnRequestStarted(At(5));
  CHECK(slow.Connection(At(14.9)) == top::ConnectionState::kConnected);
  CHECK(slow.Connection(At(15.5)) == top::ConnectionState::kWaiting);
  CHECK(Draw(slow, At(15.5)).lines[20].find("waiting for the node: no reply for 10.5s   ") == 0);
}

TEST_CASE("partition rows: usage against the budget, hit rate, restarts, re-attaching", "[top]") {
  NodeStats st;
  st.partitions.push_back(Partition("vectors", 512 * 1024, 1024 * 1024));
  st.partitions.push_back(Partition("code", 0, 0));  // no budget
  st.partitions[1].hits = 3;
  st.partitions[1].misses = 1;
  st.partitions.push_back(Partition("history", 990, 1000));  // nearly full: evicting
  st.partitions.push_back(Partition("metadata", 1, 1ull << 30));
  st.partitions[3].restarts = 2;
  st.partitions[3].ready = false;
  st.partitions[3].evictions = 7;
  st.partitions[0].evictions = 1;
  st.partitions[0].uncached_writes = 4;
  st.partitions[2].dirty_entries = 9;
  for (auto& p : st.partitions) p.entries = 10;
  st.reads = 8;
  st.ram_hits = 6;
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, st);

  const top::PartitionTable t = m.Partitions();
  REQUIRE(t.partitions.size() == 4);
  CHECK(*t.partitions[0].usage == Approx(0.5));
  CHECK_FALSE(t.partitions[0].hit_rate);  // no lookups
  CHECK_FALSE(t.partitions[1].usage);
  CHECK(*t.partitions[1].hit_rate == Approx(0.75));
  CHECK(*t.partitions[2].usage == Approx(0.99));
  CHECK(t.total.entries == 40);
  CHECK(t.total.bytes == 512 * 1024 + 990 + 1);
  CHECK(t.total.budget_bytes == 1024 * 1024 + 1000 + (1ull << 30));
  CHECK(*t.total.usage == Approx(static_cast<double>(t.total.bytes) / static_cast<double>(t.total.budget_bytes)));
  CHECK(*t.total.hit_rate == Approx(0.75));  // the node's: 6 of 8 reads
  CHECK(t.total.restarts == 2);
  CHECK(t.evictions == 8);
  CHECK(t.uncached_writes == 4);
  CHECK(t.dirty_entries == 9);

  SECTION("ASCII") {
    st.partitions[3].ready = true;
    top::DashboardModel ascii(Settings());
    ascii.OnStats(At(0), 0, st);
    const Screen s = Draw(ascii, At(0));
    INFO(s.Text());
    // 80 columns leave 15 cells for a bar.
    CHECK(s.LineWith("vectors") ==
          "vectors         10     512.0 KiB / 1.0 MiB [########.......]  50.0%       -    0");
    CHECK(s.LineWith("code") == "code            10               0 B / 0 B [...............]      -   75.0%    0");
    // A byte in a GiB is not drawn as empty.
    CHECK(s.LineWith("metadata").find("[#..............]   0.0%") != std::string::npos);
    // Clipped at 80 columns; whole on a wider terminal.
    CHECK(s.LineWith("activity") ==
          "activity    evictions 8 | promotions 0 | dirty 9 | prefetch off | errors 0 | unc");
    CHECK(Draw(ascii, At(0), false, 24, 120).LineWith("activity").find("errors 0 | uncached 4 ") != std::string::npos);
  }
  SECTION("UTF-8, colours") {
    const Screen s = Draw(m, At(0), true);
    INFO(s.Text());
    // Eighths of a cell: 7.5 cells of 15.
    CHECK(s.LineWith("vectors").find("[\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u258c       ]") != std::string::npos);
    // Under 1/16 of a cell (the total's 0.05 %) still shows an eighth.
    CHECK(s.LineWith("total").find("[\u258f              ]   0.0%") != std::string::npos);
    CHECK(s.LineWith("metadata").find("[re-attaching]  ") != std::string::npos);
    // The bar of a nearly full partition is yellow, the others green.
    std::vector<top::Tone> bar_tones;
    for (const auto& span : s.frame.spans()) {
      if (span.col == 44 && span.row >= 3 && span.row <= 5) bar_tones.push_back(span.tone);
    }
    CHECK(bar_tones == std::vector<top::Tone>{top::Tone::kGood, top::Tone::kGood, top::Tone::kWarn});
    // Restarts in bold red.
    const auto restarts = std::find_if(s.frame.spans().begin(), s.frame.spans().end(),
                                       [](const top::Span& span) { return span.row == 6 && span.col == 75; });
    REQUIRE(restarts != s.frame.spans().end());
    CHECK(restarts->text == "    2");
    CHECK(restarts->tone == top::Tone::kBad);
    CHECK(restarts->emphasis == top::kBold);
  }
}

TEST_CASE("sync lag is judged against the configured sync interval", "[top]") {
  auto lag_after = [](std::optional<double> interval, double seconds) {
    top::TopSettings settings = Settings();
    settings.sync_interval_seconds = interval;
    top::DashboardModel m(settings);
    NodeStats st = Report(0, 0, 0);
    st.sync.seconds_since_checkpoint = seconds;
    st.sync.durable_lsn = 120;
    st.sync.checkpoint_lsn = 100;
    m.OnStats(At(0), 0, st);
    return m;
  };
  CHECK(lag_after(60.0, 72).Sync().severity == top::Severity::kNormal);
  CHECK(lag_after(60.0, 73).Sync().severity == top::Severity::kWarn);
  CHECK(lag_after(60.0, 121).Sync().severity == top::Severity::kBad);
  CHECK(lag_after(std::nullopt, 10000).Sync().severity == top::Severity::kNormal);
  CHECK(lag_after(0.0, 10000).Sync().severity == top::Severity::kNormal);

  const top::DashboardModel m = lag_after(60.0, 121);
  CHECK(m.Sync().lsns_after_checkpoint == 20);
  CHECK(m.Sync().durable_lsn == 120);
  const Screen s = Draw(m, At(0));
  CHECK(s.LineWith("sync lag").find("2m 1s since the last checkpoint | 20 LSNs after it | LSN 120") != std::string::npos);
  CHECK(s.SpanWith("since the last checkpoint")->tone == top::Tone::kBad);

  // A checkpoint ahead of the durable LSN (a report taken mid-checkpoint) is not a huge lag.
  NodeStats ahead = Report(0, 0, 0);
  ahead.sync.durable_lsn = 5;
  ahead.sync.checkpoint_lsn = 7;
  top::DashboardModel a(Settings());
  a.OnStats(At(0), 0, ahead);
  CHECK(a.Sync().lsns_after_checkpoint == 0);
}

TEST_CASE("compression comes from the last breakdown, and slow scans are paced and explained", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(0, 0, 0));
  CHECK(Draw(m, At(0)).LineWith("compression").find("asking the node...") != std::string::npos);

  m.OnBreakdownFailure(Status::Unavailable("breakdown\ttimed out"));
  Screen s = Draw(m, At(0));
  CHECK(s.LineWith("compression").find("unknown: breakdown timed out") != std::string::npos);
  CHECK(s.SpanWith("unknown: ")->tone == top::Tone::kWarn);

  std::vector<StoreKindInfo> kinds(2);
  kinds[0].raw_bytes = 2000;
  kinds[0].stored_bytes = 600;
  kinds[0].entries = 5;
  kinds[1].raw_bytes = 1000;
  kinds[1].stored_bytes = 400;
  kinds[1].entries = 2;
  m.OnBreakdown(At(1), kinds, 0.2);
  REQUIRE(m.compression());
  CHECK(*m.compression()->ratio() == Approx(3.0));
  CHECK_FALSE(m.compression()->slows_refresh());
  CHECK(m.compression_error().empty());
  s = Draw(m, At(6));
  CHECK(s.LineWith("compression").find("3.00x (2.9 KiB -> 1000 B, 7 records) | as of 5.0s ago") != std::string::npos);
  CHECK(s.LineWith("compression").find("scan took") == std::string::npos);

  // 1 s to scan: at 5 % of the time, every 20 s.
  m.OnBreakdown(At(7), kinds, 1.0);
  CHECK(m.compression()->slows_refresh());
  CHECK(Draw(m, At(8), false, 24, 120).LineWith("compression").find("as of 1.0s ago (scan took 1.0s)") != std::string::npos);
  CHECK(top::BreakdownPauseSeconds(0.01) == top::kBreakdownEverySeconds);
  CHECK(top::BreakdownPauseSeconds(0.5) == top::kBreakdownEverySeconds);
  CHECK(top::BreakdownPauseSeconds(1.0) == Approx(20));
  CHECK(top::BreakdownPauseSeconds(2.0) == Approx(40));

  m.OnBreakdown(At(9), {}, 0.01);
  CHECK_FALSE(m.compression()->ratio());
  CHECK(Draw(m, At(9)).LineWith("compression").find("- (nothing in the store yet) | as of 0ms ago") != std::string::npos);
}

TEST_CASE("latency lines: histogram bounds since start and the mean over the last refresh", "[top]") {
  top::DashboardModel m(Settings());
  NodeStats st = Report(0, 0, 0);
  st.read_latency = {4, 0.001, 0.00025, -1};  // p99 in the unbounded bucket
  m.OnStats(At(0), 0, st);
  Screen s = Draw(m, At(0));
  INFO(s.Text());
  CHECK(s.LineWith("latency").find("reads  p50 <= 250us  p99 > 1s      since start | mean now -") !=
        std::string::npos);
  CHECK(s.LineWith("writes none yet").find("            writes none yet") == 0);

  st.read_latency = {14, 0.026, 0.0025, 0.5};
  m.OnStats(At(1), 0, st);
  s = Draw(m, At(1), true);
  CHECK(s.LineWith("latency").find("p50 \u2264 2.5ms") != std::string::npos);
  CHECK(s.LineWith("latency").find("\u00b7 mean now 2.5ms") != std::string::npos);
}

TEST_CASE("the dashboard fills an 80x24 terminal and keeps its rows on a bigger one", "[top]") {
  top::DashboardModel m(Settings(0.5));
  m.OnStats(At(0), 0, Report(0, 0, 0));
  m.OnStats(At(0.5), 0, Report(4, 2, 1));
  for (bool utf8 : {false, true}) {
    INFO("utf8 " << utf8);
    const Screen s = Draw(m, At(0.5), utf8);
    INFO(s.Text());
    REQUIRE(s.lines.size() == 24);
    for (const auto& line : s.lines) CHECK(Cells(line) == 80);
    CHECK(std::regex_search(s.lines[0], std::regex("every 500ms .+ as of [0-9]{2}:[0-9]{2}:[0-9]{2}$")));
    CHECK(s.lines[2].find("PARTITION") == 0);
    CHECK(s.lines[7].find("total") == 0);
    CHECK(s.lines[20].find("connected") == 0);
    CHECK(s.lines[23].find(" q quit") == 0);
    if (utf8) {
      CHECK(s.lines[0].find("postdevai top \u00b7 node 127.0.0.1:4710") == 0);
      CHECK(EndsWith(s.lines[23], "\u00b7 no reads   \u00d7 no report from the node "));
    } else {
      CHECK(s.lines[0].find("postdevai top | node 127.0.0.1:4710") == 0);
      CHECK(EndsWith(s.lines[23], "   x no report from the node "));
      // Only ASCII: a C locale shows nothing else.
      const std::string text = s.Text();
      CHECK(std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }));
    }
  }
  // A bigger terminal: wider bars and sparklines, the status lines at the bottom.
  const Screen big = Draw(m, At(0.5), false, 40, 120);
  CHECK(big.lines[36].find("connected") == 0);
  CHECK(big.LineWith("vectors").find("[" + std::string(28, '#') + std::string(27, '.') + "]") != std::string::npos);
  // Sparklines of 120 - 12 - 10 = 98 cells, their scale after them.
  CHECK(big.LineWith("0-100%").find("0-100%") == 12 + 98 + 1);
}

TEST_CASE("a terminal too small for the dashboard gets a centred message", "[top]") {
  top::DashboardModel m(Settings());
  m.OnStats(At(0), 0, Report(0, 0, 0));
  Screen s = Draw(m, At(0), false, 15, 60);
  INFO(s.Text());
  CHECK(s.lines[6] == std::string(21, ' ') + "terminal too small" + std::string(21, ' '));
  CHECK(s.lines[7].find(std::string(19, ' ') + "60x15, top needs 80x24") == 0);
  CHECK(s.lines[8].find(std::string(26, ' ') + "q quits") == 0);
  CHECK(s.SpanWith("terminal too small")->tone == top::Tone::kWarn);

  CHECK(Draw(m, At(0), false, 24, 79).LineWith("terminal too small") != "");
  CHECK(Draw(m, At(0), false, 23, 80).LineWith("terminal too small") != "");
  CHECK(Draw(m, At(0), false, 24, 80).LineWith("PARTITION") != "");
  // A tiny terminal still gets what fits.
  s = Draw(m, At(0), false, 2, 10);
  CHECK(s.lines == std::vector<std::string>{"terminal t", "10x2, top "});

  // Each partition beyond four needs a row more.
  NodeStats six = Report(0, 0, 0);
  six.partitions.push_back(Partition("extra1", 0, 0));
  six.partitions.push_back(Partition("extra2", 0, 0));
  top::DashboardModel wide(Settings());
  wide.OnStats(At(0), 0, six);
  CHECK(top::RowsNeeded(6) == 26);
  CHECK(Draw(wide, At(0), false, 25, 80).LineWith("terminal too small") != "");
  const Screen fits = Draw(wide, At(0), false, 26, 80);
  CHECK(fits.lines[9].find("total") == 0);
  CHECK(fits.lines[22].find("connected") == 0);
}

TEST_CASE("a frame clips spans to the screen and later spans cover earlier ones", "[top]") {
  top::Frame f(2, 5);
  f.Put(0, 0, "abcdefgh");
  f.Put(0, 2, "\u2588\u2588");
  f.Put(1, 3, "xyz");
  f.Put(2, 0, "below the screen");
  f.Put(1, 5, "right of it");
  f.Put(1, -1, "left of it");
  REQUIRE(f.spans().size() == 3);
  CHECK(f.spans()[0].text == "abcde");
  CHECK(f.spans()[2].text == "xy");
  CHECK(f.Lines() == std::vector<std::string>{"ab\u2588\u2588e", "   xy"});
}

TEST_CASE("the --interval option and the request limit top connects with", "[top]") {
  CHECK(*top::ParseInterval("1") == 1);
  CHECK(*top::ParseInterval("0.5") == 0.5);
  CHECK(*top::ParseInterval("5s") == 5);
  CHECK(*top::ParseInterval("0.1") == Approx(0.1));
  CHECK(*top::ParseInterval("3600") == 3600);
  for (const char* bad : {"0", "0.09", "3601", "", "s", "1m", "abc", "nan", "inf", "-1", "1 s"}) {
    INFO(bad);
    const auto r = top::ParseInterval(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find(std::string("bad --interval '") + bad + "'") == 0);
  }
  CHECK(top::RequestTimeoutSeconds(120, 1) == 10);
  CHECK(top::RequestTimeoutSeconds(120, 30) == 60);
  CHECK(top::RequestTimeoutSeconds(120, 7.2) == 15);  // two intervals, rounded up
  CHECK(top::RequestTimeoutSeconds(5, 1) == 5);        // a shorter --timeout stands
  CHECK(top::RequestTimeoutSeconds(0, 1) == 0);        // --timeout 0: wait for ever
}
