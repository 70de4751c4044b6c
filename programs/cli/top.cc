// `postdevai-cli top`: a live dashboard of one node, drawn with ncurses.
//
// Two threads. The fetcher asks the node for `memory stats` every interval
// (and for the store breakdown, which scans every record, rarely) and feeds
// what comes back to the model (top_model.h), which turns successive
// reports into rates and lays out the screen; the UI thread only paints the
// model's screen and reads keys. Requests block (a stopped node can hold one
// for --timeout, a reconnect to it for ever), so keeping them off the UI
// thread is what lets `q` and Ctrl-C work at any moment.
#include <fcntl.h>
#include <langinfo.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <clocale>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "programs/cli/commands.h"
#include "programs/cli/top_model.h"

// Last: curses defines macros (OK, ERR, ...) that must not reach the headers
// above, and NCURSES_NOMACROS keeps erase()/clear()/move() functions, not
// macros that would rewrite std::string::clear().
#define NCURSES_NOMACROS
#include <curses.h>

namespace postdevai::cli {

namespace {

using Clock = top::Clock;
using Seconds = std::chrono::duration<double>;

// How long `q` waits for the fetcher to finish a request in flight before
// leaving without it (see Top()).
constexpr auto kQuitGrace = std::chrono::milliseconds(1000);

// --------------------------------------------------------------- fetcher

// The model and the fetcher's lifecycle, under `mu`. The fetcher updates
// the model; the UI copies it under the lock and draws from the copy.
struct Shared {
  explicit Shared(top::TopSettings settings) : model(std::move(settings)) {}
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool fetcher_done = false;
  top::DashboardModel model;
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
    const double took = Seconds(end - start).count();
    next_breakdown = end + std::chrono::duration_cast<Clock::duration>(Seconds(top::BreakdownPauseSeconds(took)));
    std::lock_guard lock(shared.mu);
    if (kinds.ok()) {
      shared.model.OnBreakdown(end, *kinds, took);
    } else {
      shared.model.OnBreakdownFailure(kinds.status());
    }
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
        shared.model.OnConnectStarted();
      }
      auto connected = NodeClient::Connect(reconnect);
      std::lock_guard lock(shared.mu);
      if (!connected.ok()) {
        shared.model.OnFailure(Clock::now(), connected.status());
        continue;
      }
      shared.model.OnConnected();
      owned = std::move(*connected);
      client = owned.get();
      next_breakdown = Clock::now();
    }

    {
      std::lock_guard lock(shared.mu);
      shared.model.OnRequestStarted(Clock::now());
    }
    auto stats = client->Stats();
    const auto at = Clock::now();
    std::lock_guard lock(shared.mu);
    if (stats.ok()) {
      shared.model.OnStats(at, std::time(nullptr), std::move(*stats));
      continue;
    }
    shared.model.OnFailure(at, stats.status());
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

// ------------------------------------------------------------- painting

// The curses colour pair of a tone; 0 is the terminal's own colours.
short PairOf(top::Tone tone) {
  switch (tone) {
    case top::Tone::kNormal: return 0;
    case top::Tone::kGood: return 1;
    case top::Tone::kWarn: return 2;
    case top::Tone::kBad: return 3;
    case top::Tone::kAccent: return 4;
  }
  return 0;
}

// Paints the model's screen onto stdscr, span by span.
void Paint(const top::Frame& frame, bool colors) {
  for (const top::Span& span : frame.spans()) {
    attr_t a = A_NORMAL;
    if (span.emphasis & top::kBold) a |= A_BOLD;
    if (span.emphasis & top::kUnderline) a |= A_UNDERLINE;
    if (span.emphasis & top::kReverse) a |= A_REVERSE;
    const short pair = PairOf(span.tone);
    if (colors && pair != 0) a |= COLOR_PAIR(pair);
    if (a != A_NORMAL) attron(a);
    mvaddstr(span.row, span.col, span.text.c_str());
    if (a != A_NORMAL) attroff(a);
  }
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
    // Anything written to stderr while curses owns the screen (gRPC's own
    // lines, -v logging) would scribble over it; send it nowhere until
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
      init_pair(PairOf(top::Tone::kGood), COLOR_GREEN, -1);
      init_pair(PairOf(top::Tone::kWarn), COLOR_YELLOW, -1);
      init_pair(PairOf(top::Tone::kBad), COLOR_RED, -1);
      init_pair(PairOf(top::Tone::kAccent), COLOR_CYAN, -1);
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

}  // namespace

Status Top(CommandContext& ctx, const ParsedArgs& args) {
  double interval = 1;
  if (auto v = args.Get("--interval")) {
    auto parsed = top::ParseInterval(*v);
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
  // connection gets top's short request limit (see top::kRequestTimeoutSeconds);
  // --timeout 0 still means waiting for ever.
  GlobalOptions options = ctx.options();
  options.timeout_seconds = top::RequestTimeoutSeconds(options.timeout_seconds, interval);
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

  top::TopSettings settings;
  settings.endpoint = (*node)->endpoint();
  settings.interval_seconds = interval;
  settings.request_timeout_seconds = options.timeout_seconds;
  if (live.config()) settings.sync_interval_seconds = static_cast<double>(live.config()->sync_interval_minutes) * 60.0;
  Shared shared(std::move(settings));
  shared.model.OnStats(Clock::now(), std::time(nullptr), std::move(*first));

  // Block glyphs need ncursesw to know the locale's encoding; only LC_CTYPE,
  // so that numbers keep their '.' whatever LC_NUMERIC says.
  std::setlocale(LC_CTYPE, "");
  const char* codeset = nl_langinfo(CODESET);
  const top::Glyphs glyphs = top::MakeGlyphs(codeset != nullptr && std::strcmp(codeset, "UTF-8") == 0);

  CursesSession session;
  g_quit_signal = 0;
  if (Status s = session.Start(); !s.ok()) return s;

  std::thread fetcher([&shared, client = *node, &reconnect, interval] { FetchLoop(shared, client, reconnect, interval); });

  for (;;) {
    const top::DashboardModel model = [&] {
      std::lock_guard lock(shared.mu);
      return shared.model;
    }();
    erase();
    Paint(top::LayoutScreen(model, Clock::now(), glyphs, LINES, COLS), session.colors());
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
