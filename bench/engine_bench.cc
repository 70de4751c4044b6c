// postdevai-bench engine: point reads and writes of 1 KiB values through the
// actor engine, with the baselines the figures mean something against, all in
// one run:
//
//   baselines       mutex + condition-variable hand-off between two threads;
//                   caf::scoped_actor request/receive (one reused scoped_actor)
//                   to an echo actor and to the controller (the same read the
//                   facade does); append + fdatasync and overwrite + fdatasync
//                   of 1 KiB on the work disk (the single-writer sync rate),
//                   measured right before and after the durable writes.
//   actor_to_actor  an actor in the host's actor system, request/then to the
//                   controller: closed loop (one request outstanding) and open
//                   loop at fixed rates (latency counted from the scheduled
//                   send time, so a stall is not hidden by sending less, and
//                   from the actual send).
//   facade          a plain host thread through HybridMemory (blocking calls),
//                   plus the facade's bridge rebuilt here with timestamps to
//                   split a call into host -> bridge, bridge -> controller ->
//                   bridge, and bridge -> host.
//   durable_writes  facade writes from 1 and 16 threads, blocking, and 16
//                   threads each keeping a window of async writes in flight;
//                   writes/s, writes per WAL sync, and the ratio to the
//                   single-writer fdatasync rate.
//   ycsb            A (50/50 read/update), B (95/5), C (read only), F (50%
//                   read, 50% read-modify-write), scrambled zipfian (0.99)
//                   keys, on a key set that fits the RAM-Lake and on one larger
//                   than the whole RAM-Lake, with the hit rate beside latencies.
//   --scheduler-variants  the host-thread reads again under other CAF
//                   work-stealing settings (why the facade's tail is what it is).
//
// Hot data: the hot keys are written and checkpointed before any read is
// timed, and the facade phase reopens the same files (the RAM-Lake is
// re-attached), so hot reads are RAM hits; the JSON reports the hit rate seen.
// Writes overwrite hot keys with same-size values, so they never push the hot
// set out of RAM. Latencies are per request, in microseconds. The machines are
// shared: the load average at start and end is in the JSON.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <filesystem>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "actors/messages.h"
#include "postdevai/actor_api.h"
#include "postdevai/hybrid_memory.h"

namespace postdevai::bench {
namespace {

using pdb_tick_atom = caf::atom_constant<caf::atom("pdb_tick")>;
constexpr pdb_tick_atom pdb_tick_atom_v{};

constexpr std::size_t kValueBytes = 1024;
constexpr DataKind kMeta = DataKind::kMetadata;

std::uint64_t NanosBetween(Clock::time_point a, Clock::time_point b) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

struct Options {
  double seconds = 2;             // per measured run
  std::size_t hot_keys = 10000;
  std::vector<double> open_rates = {10000, 50000};
  int writers = 16;
  int window = 8;                 // async writes in flight per writer
  double ycsb_seconds = 3;
  int ycsb_threads = 8;
  std::size_t big_records = 80000;  // > the 64 MiB RAM-Lake of the big-set engine
  bool ycsb = true;
  bool scheduler_variants = false;  // re-run host-thread reads under other CAF scheduler settings
  bool compress = true;             // --compression none: the store keeps values raw
};

// One measured run: operations, wall time, latencies.
struct Run {
  std::uint64_t ops = 0, errors = 0;
  double seconds = 0;
  LatencyRecorder latency;
  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

void WriteRun(JsonWriter& json, std::string_view name, Run& r) {
  json.Key(name).BeginObject();
  json.Field("ops", r.ops);
  json.Field("ops_per_s", r.ops_per_s());
  json.Field("p50_us", r.latency.PercentileMicros(0.50));
  json.Field("p99_us", r.latency.PercentileMicros(0.99));
  json.Field("p999_us", r.latency.PercentileMicros(0.999));
  json.Field("max_us", r.latency.PercentileMicros(1.0));
  if (r.errors > 0) json.Field("errors", r.errors);
  json.EndObject();
}

void Progress(const char* what, Run& r) {
  std::fprintf(stderr, "engine: %-34s %10.0f ops/s  p50 %8.2f us  p99 %8.2f us  p99.9 %8.2f us%s\n", what,
               r.ops_per_s(), r.latency.PercentileMicros(0.5), r.latency.PercentileMicros(0.99),
               r.latency.PercentileMicros(0.999), r.errors ? "  ERRORS" : "");
}

std::string HotKey(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "hot/%08zu", i);
  return buf;
}

std::vector<std::string> MakeKeys(std::size_t n, std::string (*name)(std::size_t)) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back(name(i));
  return keys;
}

// Values are made before any clock starts.
const std::vector<std::string>& ValuePool() {
  static const std::vector<std::string> pool = [] {
    std::vector<std::string> p;
    for (std::uint64_t i = 0; i < 1024; ++i) p.push_back(CodeLikeValue(i, kValueBytes));
    return p;
  }();
  return pool;
}

HybridMemoryConfig BenchConfig(const std::string& disk, const std::string& ram, double ramlake_mib, bool compress) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.compression = compress ? Compression::kZstd : Compression::kNone;
  c.persistent_path = disk;
  c.persistent_size_tb = 4.0 / 1024;  // 4 GiB budget
  c.ramlake_path = ram + "/ramlake";
  c.ramlake_size_gb = ramlake_mib / 1024;
  c.cache_size_mb = 64;
  c.max_ram_entries = 1'000'000;
  c.wal.segment_size_mb = 64;
  c.wal.archive = false;  // a bench writes GBs: released segments are deleted
  return c;
}

// ---------------------------------------------------------------------------
// Baselines without the engine.

// append (or overwrite in place) 1 KiB + fdatasync, one writer: what one
// durable write costs with no batching at all.
Run FdatasyncRun(const std::string& dir, bool preallocated, double seconds) {
  Run r;
  const std::string path = dir + (preallocated ? "/fsync-overwrite" : "/fsync-append");
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) {
    r.errors = 1;
    return r;
  }
  const std::string block = ValuePool()[0];
  constexpr std::size_t kSlots = 64 * 1024;
  if (preallocated) {
    std::string zeros(1 << 20, '\0');
    for (std::size_t off = 0; off < kSlots * kValueBytes; off += zeros.size()) {
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) < 0) ++r.errors;
    }
    ::fsync(fd);
  }
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (std::uint64_t i = 0;; ++i) {
    const auto t0 = Clock::now();
    if (t0 >= deadline) break;
    const off_t off = static_cast<off_t>((preallocated ? i % kSlots : i) * kValueBytes);
    if (::pwrite(fd, block.data(), block.size(), off) != static_cast<ssize_t>(block.size())) ++r.errors;
    if (::fdatasync(fd) != 0) ++r.errors;
    r.latency.Add(NanosBetween(t0, Clock::now()));
    ++r.ops;
  }
  r.seconds = SecondsSince(start);
  ::close(fd);
  ::unlink(path.c_str());
  return r;
}

// Two threads, one request slot: the client posts a key and waits; the server
// looks the key up, copies the 1 KiB value into the reply and signals back.
// The floor for any blocking cross-thread call.
Run MutexHandoffRun(std::size_t keys, double seconds) {
  std::unordered_map<std::string, std::string> map;
  for (std::size_t i = 0; i < keys; ++i) map[HotKey(i)] = ValuePool()[i % ValuePool().size()];
  const auto names = MakeKeys(keys, HotKey);
  std::mutex mu;
  std::condition_variable request_cv, reply_cv;
  const std::string* request = nullptr;
  std::string reply;
  bool has_reply = false, stop = false;
  std::thread server([&] {
    std::unique_lock lock(mu);
    for (;;) {
      request_cv.wait(lock, [&] { return request != nullptr || stop; });
      if (stop) return;
      reply = map.find(*request)->second;
      request = nullptr;
      has_reply = true;
      reply_cv.notify_one();
    }
  });
  Run r;
  std::mt19937_64 rng(1);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (;;) {
    const auto t0 = Clock::now();
    if (t0 >= deadline) break;
    const std::string& key = names[rng() % names.size()];
    std::string value;
    {
      std::unique_lock lock(mu);
      request = &key;
      request_cv.notify_one();
      reply_cv.wait(lock, [&] { return has_reply; });
      has_reply = false;
      value = std::move(reply);
    }
    if (value.size() != kValueBytes) ++r.errors;
    r.latency.Add(NanosBetween(t0, Clock::now()));
    ++r.ops;
  }
  r.seconds = SecondsSince(start);
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  request_cv.notify_one();
  server.join();
  return r;
}

// ---------------------------------------------------------------------------
// Actor clients (run inside the host's actor system, beside the engine).

struct ClosedLoop {
  engine_actor controller;
  const std::vector<std::string>* keys = nullptr;
  bool writes = false;
  Clock::time_point deadline;
  std::mt19937_64 rng{7};
  Run run;
  std::uint64_t disk_reads = 0;  // hot reads must not have any: reported as a miss count
  Clock::time_point started;
  std::promise<void> done;
};

void IssueNext(caf::event_based_actor* self, std::shared_ptr<ClosedLoop> st) {
  const auto t0 = Clock::now();
  if (t0 >= st->deadline) {
    st->run.seconds = std::chrono::duration<double>(t0 - st->started).count();
    st->done.set_value();
    self->quit();
    return;
  }
  const std::size_t i = st->rng() % st->keys->size();
  auto on_error = [=](caf::error&) {
    ++st->run.errors;
    IssueNext(self, st);
  };
  if (st->writes) {
    write_batch batch;
    batch.mutations.push_back(MakePut(DataKind::kMetadata, (*st->keys)[i], ValuePool()[st->rng() % ValuePool().size()]));
    self->request(st->controller, caf::infinite, write_atom_v, std::move(batch))
        .then(
            [=](std::uint64_t) {
              st->run.latency.Add(NanosBetween(t0, Clock::now()));
              ++st->run.ops;
              IssueNext(self, st);
            },
            on_error);
  } else {
    self->request(st->controller, caf::infinite, read_atom_v, kMeta, (*st->keys)[i], std::string())
        .then(
            [=](read_result& r) {
              st->run.latency.Add(NanosBetween(t0, Clock::now()));
              if (r.value.size() != kValueBytes) ++st->run.errors;
              if (r.served_from != tier::ram) ++st->disk_reads;
              ++st->run.ops;
              IssueNext(self, st);
            },
            on_error);
  }
}

Run ActorClosedLoop(caf::actor_system& sys, const engine_actor& controller, const std::vector<std::string>& keys,
                    bool writes, double seconds, std::uint64_t* disk_reads = nullptr) {
  auto st = std::make_shared<ClosedLoop>();
  st->controller = controller;
  st->keys = &keys;
  st->writes = writes;
  auto done = st->done.get_future();
  sys.spawn([st, seconds](caf::event_based_actor* self) {
    st->started = Clock::now();
    st->deadline = st->started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    IssueNext(self, st);
  });
  done.wait();
  if (disk_reads) *disk_reads = st->disk_reads;
  return std::move(st->run);
}

// Open loop: requests are due every 1/rate seconds whatever the replies do.
// The actor wakes on a timer and sends everything due; latency counts from the
// due time (what a caller arriving then would see), and separately from the
// actual send (the engine's service time).
struct OpenLoop {
  engine_actor controller;
  const std::vector<std::string>* keys = nullptr;
  std::mt19937_64 rng{11};
  Clock::duration interval{};
  Clock::time_point start, end, next_due;
  std::uint64_t outstanding = 0;
  bool all_sent = false;
  Run from_schedule, service;
  std::promise<void> done;
};

void MaybeFinish(caf::event_based_actor* self, const std::shared_ptr<OpenLoop>& st) {
  if (!st->all_sent || st->outstanding > 0) return;
  st->from_schedule.seconds = st->service.seconds = SecondsSince(st->start);
  st->done.set_value();
  self->quit();
}

void SendDue(caf::event_based_actor* self, std::shared_ptr<OpenLoop> st) {
  const auto now = Clock::now();
  while (st->next_due <= now && st->next_due < st->end) {
    const auto due = st->next_due;
    st->next_due += st->interval;
    ++st->outstanding;
    const auto sent = Clock::now();
    self->request(st->controller, caf::infinite, read_atom_v, kMeta, (*st->keys)[st->rng() % st->keys->size()], std::string())
        .then(
            [=](read_result& r) {
              const auto t = Clock::now();
              st->from_schedule.latency.Add(NanosBetween(due, t));
              st->service.latency.Add(NanosBetween(sent, t));
              if (r.value.size() != kValueBytes) ++st->from_schedule.errors;
              ++st->from_schedule.ops;
              ++st->service.ops;
              --st->outstanding;
              MaybeFinish(self, st);
            },
            [=](caf::error&) {
              ++st->from_schedule.errors;
              --st->outstanding;
              MaybeFinish(self, st);
            });
  }
  if (st->next_due >= st->end) {
    st->all_sent = true;
    MaybeFinish(self, st);
    return;
  }
  const auto wait = st->next_due - Clock::now();
  if (wait <= Clock::duration::zero()) {
    self->send(self, pdb_tick_atom_v);  // already due again: no timer round trip
  } else {
    self->delayed_send(self, wait, pdb_tick_atom_v);
  }
}

std::pair<Run, Run> ActorOpenLoop(caf::actor_system& sys, const engine_actor& controller,
                                  const std::vector<std::string>& keys, double rate, double seconds) {
  auto st = std::make_shared<OpenLoop>();
  st->controller = controller;
  st->keys = &keys;
  st->interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto done = st->done.get_future();
  sys.spawn([st, seconds](caf::event_based_actor* self) -> caf::behavior {
    st->start = st->next_due = Clock::now();
    st->end = st->start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    self->send(self, pdb_tick_atom_v);
    return {[=](pdb_tick_atom) { SendDue(self, st); }};
  });
  done.wait();
  return {std::move(st->from_schedule), std::move(st->service)};
}

// One scoped_actor, reused for every request (creating one per call costs
// more than the call).
template <class Request>
Run ScopedActorRun(caf::actor_system& sys, double seconds, Request request) {
  caf::scoped_actor self{sys};
  Run r;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::mt19937_64 rng(3);
  for (;;) {
    const auto t0 = Clock::now();
    if (t0 >= deadline) break;
    if (!request(self, rng)) ++r.errors;
    r.latency.Add(NanosBetween(t0, Clock::now()));
    ++r.ops;
  }
  r.seconds = SecondsSince(start);
  return r;
}

// The facade's mechanism rebuilt with timestamps (actors/hybrid_memory.cc:
// a host thread anon_sends a facade_call to one bridge actor, the bridge
// requests the controller and fulfils a std::promise the host waits on), to
// see where a facade call's time goes: host -> bridge (the scheduler waking a
// worker for an external enqueue), bridge -> controller -> bridge (the
// engine), bridge -> host (waking the blocked host thread).
struct BridgeBreakdown {
  Run total;
  LatencyRecorder to_bridge, engine, to_host;
};

BridgeBreakdown FacadeBridgeProbe(caf::actor_system& sys, const engine_actor& controller,
                                  const std::vector<std::string>& keys, double seconds) {
  auto bridge = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[=](actors::facade_call_ptr& call) { call->run(self); }};
  });
  BridgeBreakdown b;
  std::mt19937_64 rng(5);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (;;) {
    const auto t0 = Clock::now();
    if (t0 >= deadline) break;
    struct Stamps {
      Clock::time_point at_bridge, replied;
      bool ok = false;
    };
    auto promise = std::make_shared<std::promise<Stamps>>();
    auto future = promise->get_future();
    auto call = std::make_shared<actors::facade_call>();
    call->run = [promise, controller, key = keys[rng() % keys.size()]](caf::event_based_actor* self) {
      const auto at_bridge = Clock::now();
      self->request(controller, caf::infinite, read_atom_v, kMeta, key, std::string())
          .then([=](read_result& r) { promise->set_value({at_bridge, Clock::now(), r.value.size() == kValueBytes}); },
                [=](caf::error&) { promise->set_value({at_bridge, Clock::now(), false}); });
    };
    caf::anon_send(bridge, std::move(call));
    const Stamps s = future.get();
    const auto t3 = Clock::now();
    if (!s.ok) ++b.total.errors;
    b.to_bridge.Add(NanosBetween(t0, s.at_bridge));
    b.engine.Add(NanosBetween(s.at_bridge, s.replied));
    b.to_host.Add(NanosBetween(s.replied, t3));
    b.total.latency.Add(NanosBetween(t0, t3));
    ++b.total.ops;
  }
  b.total.seconds = SecondsSince(start);
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
  return b;
}

void WriteBreakdown(JsonWriter& json, std::string_view name, BridgeBreakdown& b) {
  json.Key(name).BeginObject();
  WriteRun(json, "total", b.total);
  const std::pair<const char*, LatencyRecorder*> parts[] = {
      {"host_to_bridge", &b.to_bridge}, {"bridge_to_controller_and_back", &b.engine}, {"bridge_to_host", &b.to_host}};
  for (auto& [part, rec] : parts) {
    json.Key(part).BeginObject();
    json.Field("p50_us", rec->PercentileMicros(0.5));
    json.Field("p99_us", rec->PercentileMicros(0.99));
    json.Field("p999_us", rec->PercentileMicros(0.999));
    json.EndObject();
  }
  json.EndObject();
}

void ProgressBreakdown(const char* what, BridgeBreakdown& b) {
  Progress(what, b.total);
  std::fprintf(stderr, "engine:   p50/p99 us: host->bridge %.2f/%.2f, bridge->controller->bridge %.2f/%.2f, bridge->host %.2f/%.2f\n",
               b.to_bridge.PercentileMicros(0.5), b.to_bridge.PercentileMicros(0.99), b.engine.PercentileMicros(0.5),
               b.engine.PercentileMicros(0.99), b.to_host.PercentileMicros(0.5), b.to_host.PercentileMicros(0.99));
}

// Writes the hot keys in batches of 100 and checkpoints: afterwards they are
// clean, resident, and re-attach on the facade's restart.
bool LoadHotKeys(caf::actor_system& sys, const engine_actor& controller, const std::vector<std::string>& keys) {
  caf::scoped_actor self{sys};
  bool ok = true;
  for (std::size_t i = 0; i < keys.size() && ok; i += 100) {
    write_batch batch;
    for (std::size_t j = i; j < std::min(keys.size(), i + 100); ++j) {
      batch.mutations.push_back(MakePut(DataKind::kMetadata, keys[j], ValuePool()[j % ValuePool().size()]));
    }
    self->request(controller, caf::infinite, write_atom_v, std::move(batch))
        .receive([](std::uint64_t) {},
                 [&](caf::error& e) {
                   std::fprintf(stderr, "engine: loading: %s\n", StatusFromError(e).ToString().c_str());
                   ok = false;
                 });
  }
  self->request(controller, caf::infinite, sync_atom_v)
      .receive([](std::uint64_t) {}, [&](caf::error&) { ok = false; });
  return ok;
}

// ---------------------------------------------------------------------------
// Host threads through the facade.

// `threads` threads run op(thread, rng) for `seconds`; one Run per op kind
// (op returns the kind index it performed, or -1 on error).
template <class Op>
std::vector<Run> HostThreads(int threads, double seconds, std::size_t kinds, Op op) {
  std::vector<std::vector<Run>> per_thread(threads, std::vector<Run>(kinds));
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (;;) {
        const auto t0 = Clock::now();
        if (t0 >= deadline) break;
        const int kind = op(t, rng);
        if (kind < 0) {
          ++per_thread[t][0].errors;
          continue;
        }
        per_thread[t][kind].latency.Add(NanosBetween(t0, Clock::now()));
        ++per_thread[t][kind].ops;
      }
    });
  }
  for (auto& th : pool) th.join();
  const double elapsed = SecondsSince(start);
  std::vector<Run> merged(kinds);
  for (auto& runs : per_thread) {
    for (std::size_t k = 0; k < kinds; ++k) {
      merged[k].ops += runs[k].ops;
      merged[k].errors += runs[k].errors;
      merged[k].latency.Merge(runs[k].latency);
    }
  }
  for (auto& m : merged) m.seconds = elapsed;
  return merged;
}

// `writers` threads of blocking durable writes (one in flight each).
Run FacadeWriters(HybridMemory& memory, const std::vector<std::string>& keys, int writers, double seconds) {
  return HostThreads(writers, seconds, 1, [&](int, std::mt19937_64& rng) -> int {
    const auto& key = keys[rng() % keys.size()];
    return memory.PutMetadata(key, ValuePool()[rng() % ValuePool().size()]).ok() ? 0 : -1;
  })[0];
}

// `writers` threads, each keeping `window` async writes in flight. Latency
// runs from a write's issue to its acknowledgement being taken (in issue
// order, the order the journal acknowledges in).
Run FacadeWindowedWriters(HybridMemory& memory, const std::vector<std::string>& keys, int writers, int window,
                          double seconds) {
  std::vector<Run> runs(writers);
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (int t = 0; t < writers; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(500 + t);
      std::deque<std::pair<Clock::time_point, std::future<Status>>> in_flight;
      auto retire = [&] {
        auto oldest = std::move(in_flight.front());
        in_flight.pop_front();
        if (!oldest.second.get().ok()) ++runs[t].errors;
        runs[t].latency.Add(NanosBetween(oldest.first, Clock::now()));
        ++runs[t].ops;
      };
      while (Clock::now() < deadline) {
        while (static_cast<int>(in_flight.size()) < window) {
          const auto& key = keys[rng() % keys.size()];
          in_flight.emplace_back(Clock::now(), memory.PutMetadataAsync(key, ValuePool()[rng() % ValuePool().size()]));
        }
        retire();
      }
      while (!in_flight.empty()) retire();
    });
  }
  for (auto& th : pool) th.join();
  Run merged;
  merged.seconds = SecondsSince(start);
  for (auto& r : runs) {
    merged.ops += r.ops;
    merged.errors += r.errors;
    merged.latency.Merge(r.latency);
  }
  return merged;
}

// ---------------------------------------------------------------------------
// YCSB.

// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record
// synthetic databases"), items 0..n-1, item 0 the most popular.
class Zipfian {
 public:
  Zipfian(std::uint64_t n, double theta) : n_(n), theta_(theta) {
    zetan_ = Zeta(n, theta);
    const double zeta2 = Zeta(2, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1 - std::pow(2.0 / static_cast<double>(n), 1 - theta)) / (1 - zeta2 / zetan_);
  }
  std::uint64_t Next(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const double uz = u * zetan_;
    if (uz < 1) return 0;
    if (uz < 1 + std::pow(0.5, theta_)) return 1;
    auto v = static_cast<std::uint64_t>(static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1, alpha_));
    return std::min(v, n_ - 1);
  }

 private:
  static double Zeta(std::uint64_t n, double theta) {
    double sum = 0;
    for (std::uint64_t i = 1; i <= n; ++i) sum += 1 / std::pow(static_cast<double>(i), theta);
    return sum;
  }
  std::uint64_t n_;
  double theta_, zetan_, alpha_, eta_;
};

// YCSB's "scrambled" zipfian: popular items spread over the key space.
std::uint64_t Scramble(std::uint64_t rank, std::uint64_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < 8; ++i) {
    h ^= (rank >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h % n;
}

std::string RecordKey(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%010zu", i);
  return buf;
}

struct YcsbResult {
  char workload = 'A';
  std::size_t records = 0;
  bool larger_than_ramlake = false;
  double ramlake_mib = 0;
  Run total;
  std::vector<Run> by_op;  // read, update, read-modify-write
  double hit_rate = 0;
  std::uint64_t reads = 0, ram_hits = 0, promotions = 0;
};

YcsbResult RunYcsb(HybridMemory& memory, char workload, const std::vector<std::string>& keys, const Zipfian& zipf,
                   int threads, double seconds) {
  YcsbResult y;
  y.workload = workload;
  y.records = keys.size();
  const double read_share = workload == 'A' ? 0.5 : workload == 'B' ? 0.95 : workload == 'C' ? 1.0 : 0.5;
  const auto before = memory.Stats();
  y.by_op = HostThreads(threads, seconds, 3, [&](int, std::mt19937_64& rng) -> int {
    const std::string& key = keys[Scramble(zipf.Next(rng), keys.size())];
    const bool read = std::uniform_real_distribution<double>(0, 1)(rng) < read_share;
    if (read) {
      auto v = memory.GetMetadata(key);
      return v.ok() && v->size() == kValueBytes ? 0 : -1;
    }
    if (workload != 'F') {
      return memory.PutMetadata(key, ValuePool()[rng() % ValuePool().size()]).ok() ? 1 : -1;
    }
    auto v = memory.GetMetadata(key);  // read-modify-write: change one "field"
    if (!v.ok() || v->size() != kValueBytes) return -1;
    const std::size_t field = rng() % 10;
    const std::string& source = ValuePool()[rng() % ValuePool().size()];
    v->replace(field * 100, 100, source, field * 100, 100);
    return memory.PutMetadata(key, *v).ok() ? 2 : -1;
  });
  const auto after = memory.Stats();
  for (auto& r : y.by_op) {
    y.total.ops += r.ops;
    y.total.errors += r.errors;
    y.total.seconds = r.seconds;
    y.total.latency.Merge(r.latency);
  }
  if (before.ok() && after.ok()) {
    y.reads = after->reads - before->reads;
    y.ram_hits = after->ram_hits - before->ram_hits;
    y.promotions = after->promotions - before->promotions;
    y.hit_rate = y.reads ? static_cast<double>(y.ram_hits) / static_cast<double>(y.reads) : 0;
  }
  return y;
}

void WriteYcsb(JsonWriter& json, YcsbResult& y, int threads) {
  json.BeginObject();
  json.Field("workload", std::string(1, y.workload));
  json.Field("records", static_cast<std::uint64_t>(y.records));
  json.Field("record_bytes", static_cast<std::uint64_t>(kValueBytes));
  json.Field("ramlake_mib", y.ramlake_mib);
  json.Field("larger_than_ramlake", y.larger_than_ramlake);
  json.Field("threads", threads);
  json.Field("ops", y.total.ops);
  json.Field("ops_per_s", y.total.ops_per_s());
  json.Field("hit_rate", y.hit_rate);
  json.Field("promotions", y.promotions);
  json.Field("p50_us", y.total.latency.PercentileMicros(0.5));
  json.Field("p99_us", y.total.latency.PercentileMicros(0.99));
  json.Field("p999_us", y.total.latency.PercentileMicros(0.999));
  if (y.total.errors) json.Field("errors", y.total.errors);
  const char* names[] = {"read", "update", "read_modify_write"};
  for (std::size_t k = 0; k < 3; ++k) {
    if (y.by_op[k].ops > 0) WriteRun(json, names[k], y.by_op[k]);
  }
  json.EndObject();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One CAF scheduler setting under test, with its own system and engine.
struct Variant {
  const char* name = "";
  std::function<void(caf::actor_system_config&)> tune;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<EmbeddedEngine> engine;  // destroyed before sys
  std::vector<double> scoped_p50, bridge_p50, bridge_p99, host_to_bridge_p99, bridge_to_host_p99, bridge_ops_per_s,
      actor_p50, actor_p99;
  ~Variant() {
    engine.reset();
    sys.reset();
  }
};

// The 1-minute load average: the machines are shared, and other processes'
// CPU and disk use shows up in tail latencies and sync times.
double LoadAverage() {
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

std::string RamScratchDir(const std::string& tag) {
  std::error_code ec;
  const std::string root = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
  const std::string dir = root + "/postdevai-bench-" + tag + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  return dir;
}

Options ParseOptions(const Args& args) {
  Options o;
  o.seconds = std::stod(OptionValue(args, "--seconds", "2"));
  o.hot_keys = static_cast<std::size_t>(OptionInt(args, "--hot-keys", 10000));
  o.writers = static_cast<int>(OptionInt(args, "--writers", 16));
  o.window = static_cast<int>(OptionInt(args, "--window", 8));
  o.ycsb_seconds = std::stod(OptionValue(args, "--ycsb-seconds", "3"));
  o.ycsb_threads = static_cast<int>(OptionInt(args, "--ycsb-threads", 8));
  o.big_records = static_cast<std::size_t>(OptionInt(args, "--big-records", 80000));
  o.ycsb = !HasFlag(args, "--no-ycsb");
  o.scheduler_variants = HasFlag(args, "--scheduler-variants");
  o.compress = OptionValue(args, "--compression", "zstd") != "none";
  const std::string rates = OptionValue(args, "--rates", "");
  if (!rates.empty()) {
    o.open_rates.clear();
    std::stringstream in(rates);
    for (std::string r; std::getline(in, r, ',');) o.open_rates.push_back(std::stod(r));
  }
  return o;
}

void PrintHelp() {
  std::printf(
      "usage: postdevai-bench engine [--seconds S (2)] [--hot-keys N (10000)] [--rates R1,R2 (10000,50000)]\n"
      "                              [--writers N (16)] [--window W (8)] [--ycsb-seconds S (3)]\n"
      "                              [--ycsb-threads N (8)] [--big-records N (80000)] [--no-ycsb]\n"
      "                              [--scheduler-variants] [--compression zstd|none] [--json]\n"
      "Point reads/writes of 1 KiB values through the actor engine (actor->actor, facade, baselines),\n"
      "durable writes under 1 and N writers against the fdatasync rate, and YCSB A/B/C/F (zipfian 0.99).\n"
      "Data: persistent files under $POSTDEVAI_BENCH_DIR or the temp dir (a real disk), RAM-Lake under /dev/shm.\n");
}

}  // namespace

int RunEngineBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    PrintHelp();
    return 0;
  }
  const Options o = ParseOptions(args);
  const std::string disk = MakeScratchDir("engine");
  const std::string ram = RamScratchDir("engine");
  const std::string disk_big = MakeScratchDir("engine-big");
  const std::string ram_big = RamScratchDir("engine-big");
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      for (const auto& d : dirs) RemoveTree(d);
    }
  } cleanup{{disk, ram, disk_big, ram_big}};
  const double hot_ramlake_mib = 256;
  const auto config = BenchConfig(disk, ram, hot_ramlake_mib, o.compress);
  const auto hot_keys = MakeKeys(o.hot_keys, HotKey);
  (void)ValuePool();
  std::uint64_t errors = 0;

  JsonWriter json;
  json.BeginObject();
  json.Field("scenario", "engine");
  json.Field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
  json.Field("hot_keys", static_cast<std::uint64_t>(o.hot_keys));
  json.Field("hot_kind", "metadata");
  json.Field("compression", o.compress ? "zstd" : "none");
  json.Field("ramlake_mib", hot_ramlake_mib);
  json.Field("seconds_per_run", o.seconds);
  json.Field("cores", static_cast<std::uint64_t>(std::thread::hardware_concurrency()));
  json.Field("persistent_dir", disk);
  json.Field("load_average_at_start", LoadAverage());

  Run mutex_cv;  // measured beside the facade's reads (phase 2)

  // --- Phase 1: the engine in our own actor system (an actor-native host).
  Run scoped_echo, scoped_read, actor_read, actor_write;
  BridgeBreakdown bridge_probe;
  std::uint64_t actor_read_disk_reads = 0;
  std::vector<std::pair<double, std::pair<Run, Run>>> open_loops;
  double actor_phase_hit_rate = 0;
  {
    caf::actor_system_config cfg;
    ConfigureActorSystem(cfg);
    caf::actor_system sys{cfg};
    auto engine = StartHybridMemory(sys, config);
    if (!engine.ok()) {
      std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
      return 1;
    }
    const engine_actor controller = (*engine)->engine();
    if (!LoadHotKeys(sys, controller, hot_keys)) return 1;

    // scoped_actor baselines: a trivial echo actor (the hand-off alone) and
    // the controller's hot read (the same work as the facade's GetMetadata).
    auto echo = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      auto value = std::make_shared<std::string>(ValuePool()[0]);
      return {[value](std::uint64_t) { return *value; }};
    });
    scoped_echo = ScopedActorRun(sys, std::min(o.seconds, 1.0), [&](caf::scoped_actor& self, std::mt19937_64& rng) {
      bool ok = false;
      self->request(echo, caf::infinite, static_cast<std::uint64_t>(rng()))
          .receive([&](std::string& v) { ok = v.size() == kValueBytes; }, [&](caf::error&) {});
      return ok;
    });
    Progress("scoped_actor -> echo actor", scoped_echo);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    scoped_read = ScopedActorRun(sys, o.seconds, [&](caf::scoped_actor& self, std::mt19937_64& rng) {
      bool ok = false;
      self->request(controller, caf::infinite, read_atom_v, kMeta, hot_keys[rng() % hot_keys.size()], std::string())
          .receive([&](read_result& r) { ok = r.value.size() == kValueBytes; }, [&](caf::error&) {});
      return ok;
    });
    Progress("scoped_actor -> controller read", scoped_read);
    bridge_probe = FacadeBridgeProbe(sys, controller, hot_keys, std::min(o.seconds, 1.0));
    ProgressBreakdown("facade-style bridge (rebuilt here)", bridge_probe);

    actor_read = ActorClosedLoop(sys, controller, hot_keys, false, o.seconds, &actor_read_disk_reads);
    Progress("actor -> controller read (closed)", actor_read);
    for (double rate : o.open_rates) {
      auto [sched, service] = ActorOpenLoop(sys, controller, hot_keys, rate, o.seconds);
      char what[64];
      std::snprintf(what, sizeof what, "actor read open loop %.0f/s", rate);
      Progress(what, sched);
      errors += sched.errors;
      open_loops.push_back({rate, {std::move(sched), std::move(service)}});
    }
    actor_write = ActorClosedLoop(sys, controller, hot_keys, true, o.seconds);
    Progress("actor -> controller write (closed)", actor_write);

    caf::scoped_actor self{sys};
    self->request(controller, caf::infinite, stats_atom_v)
        .receive(
            [&](memory_report& r) {
              actor_phase_hit_rate = r.reads ? static_cast<double>(r.ram_hits) / static_cast<double>(r.reads) : 0;
            },
            [&](caf::error&) {});
    Status stopped = (*engine)->Stop();
    if (!stopped.ok()) std::fprintf(stderr, "engine: stop: %s\n", stopped.ToString().c_str());
  }
  errors += scoped_echo.errors + scoped_read.errors + actor_read.errors + actor_write.errors;

  // --- Optional: the same host-thread calls under other scheduler settings.
  // Every variant runs its own actor system and engine, all started up front;
  // then short runs go round-robin over the variants, several rounds, so a
  // burst of load from elsewhere on the machine hits every variant alike. Each
  // figure is the median over the rounds of that round's percentile.
  std::vector<std::unique_ptr<Variant>> variants;
  if (o.scheduler_variants) {
    using namespace std::chrono_literals;
    auto add = [&](const char* name, std::function<void(caf::actor_system_config&)> tune) {
      auto v = std::make_unique<Variant>();
      v->name = name;
      v->tune = std::move(tune);
      variants.push_back(std::move(v));
    };
    add("caf_defaults_after_ConfigureActorSystem", [](caf::actor_system_config&) {});
    add("no_moderate_polling", [](caf::actor_system_config& c) { c.set("work-stealing.moderate-poll-attempts", 0); });
    add("moderate_sleep_5us",
        [](caf::actor_system_config& c) { c.set("work-stealing.moderate-sleep-duration", caf::timespan{5us}); });
    add("aggressive_poll_20000",
        [](caf::actor_system_config& c) { c.set("work-stealing.aggressive-poll-attempts", 20000); });
    add("one_worker", [](caf::actor_system_config& c) { c.set("scheduler.max-threads", 1); });
    int n = 0;
    for (auto& v : variants) {
      ConfigureActorSystem(v->cfg);
      v->tune(v->cfg);
      v->sys = std::make_unique<caf::actor_system>(v->cfg);
      auto engine = StartHybridMemory(*v->sys, BenchConfig(disk + "/variant" + std::to_string(n),
                                                           ram + "/variant" + std::to_string(n), hot_ramlake_mib,
                                                           o.compress));
      ++n;
      if (!engine.ok()) {
        std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
        return 1;
      }
      v->engine = std::move(*engine);
      if (!LoadHotKeys(*v->sys, v->engine->engine(), hot_keys)) return 1;
    }
    const int rounds = 5;
    const double slice = std::max(0.1, o.seconds / 5);
    for (int round = 0; round < rounds; ++round) {
      std::fprintf(stderr, "engine: scheduler variants, round %d of %d\n", round + 1, rounds);
      for (auto& v : variants) {
        const engine_actor controller = v->engine->engine();
        Run scoped = ScopedActorRun(*v->sys, slice, [&](caf::scoped_actor& self, std::mt19937_64& rng) {
          bool ok = false;
          self->request(controller, caf::infinite, read_atom_v, kMeta, hot_keys[rng() % hot_keys.size()], std::string())
              .receive([&](read_result& r) { ok = r.value.size() == kValueBytes; }, [&](caf::error&) {});
          return ok;
        });
        BridgeBreakdown bridge = FacadeBridgeProbe(*v->sys, controller, hot_keys, slice);
        Run actor = ActorClosedLoop(*v->sys, controller, hot_keys, false, slice);
        errors += scoped.errors + bridge.total.errors + actor.errors;
        v->scoped_p50.push_back(scoped.latency.PercentileMicros(0.5));
        v->bridge_p50.push_back(bridge.total.latency.PercentileMicros(0.5));
        v->bridge_p99.push_back(bridge.total.latency.PercentileMicros(0.99));
        v->host_to_bridge_p99.push_back(bridge.to_bridge.PercentileMicros(0.99));
        v->bridge_to_host_p99.push_back(bridge.to_host.PercentileMicros(0.99));
        v->bridge_ops_per_s.push_back(bridge.total.ops_per_s());
        v->actor_p50.push_back(actor.latency.PercentileMicros(0.5));
        v->actor_p99.push_back(actor.latency.PercentileMicros(0.99));
      }
    }
    for (auto& v : variants) {
      std::fprintf(stderr,
                   "engine: %-40s bridge p50 %6.2f p99 %7.2f (host->bridge p99 %7.2f) us; scoped_actor p50 %6.2f; "
                   "actor p50 %5.2f us\n",
                   v->name, Median(v->bridge_p50), Median(v->bridge_p99), Median(v->host_to_bridge_p99),
                   Median(v->scoped_p50), Median(v->actor_p50));
      (void)v->engine->Stop();
      v->engine.reset();
      v->sys.reset();
    }
  }

  // --- Phase 2: the facade, reopening the same files (RAM-Lake re-attached).
  Run facade_read, writers_1, writers_n, writers_window, fsync_append, fsync_overwrite, fsync_append_after;
  double facade_hit_rate = 0, writes_per_sync_n = 0, writes_per_sync_window = 0;
  std::vector<YcsbResult> ycsb;
  {
    auto opened = HybridMemory::Open(config);
    if (!opened.ok()) {
      std::fprintf(stderr, "engine: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    HybridMemory& memory = **opened;
    // The floor of any blocking cross-thread call, measured right before the
    // facade's reads (the machine is shared: adjacent runs see the same load).
    mutex_cv = MutexHandoffRun(o.hot_keys, o.seconds);
    Progress("mutex+cv hand-off (baseline)", mutex_cv);
    errors += mutex_cv.errors;
    const auto s0 = memory.Stats();
    facade_read = HostThreads(1, o.seconds, 1, [&](int, std::mt19937_64& rng) -> int {
      auto v = memory.GetMetadata(hot_keys[rng() % hot_keys.size()]);
      return v.ok() && v->size() == kValueBytes ? 0 : -1;
    })[0];
    Progress("facade read (1 host thread)", facade_read);
    const auto s1 = memory.Stats();
    if (s0.ok() && s1.ok() && s1->reads > s0->reads) {
      facade_hit_rate = static_cast<double>(s1->ram_hits - s0->ram_hits) / static_cast<double>(s1->reads - s0->reads);
    }

    // The single-writer sync rate is measured right before and right after
    // the durable writes, on the same disk: the disk is shared and its sync
    // time drifts, so the ratio uses the faster of the two (the conservative
    // denominator).
    fsync_append = FdatasyncRun(disk, false, 1.0);
    Progress("append 1 KiB + fdatasync", fsync_append);
    fsync_overwrite = FdatasyncRun(disk, true, 1.0);
    Progress("overwrite 1 KiB + fdatasync", fsync_overwrite);
    writers_1 = FacadeWriters(memory, hot_keys, 1, o.seconds);
    Progress("durable writes, 1 writer", writers_1);
    const auto s2 = memory.Stats();
    writers_n = FacadeWriters(memory, hot_keys, o.writers, o.seconds);
    Progress("durable writes, N writers", writers_n);
    const auto s3 = memory.Stats();
    writers_window = FacadeWindowedWriters(memory, hot_keys, o.writers, o.window, o.seconds);
    Progress("durable writes, N writers x window", writers_window);
    const auto s4 = memory.Stats();
    fsync_append_after = FdatasyncRun(disk, false, 1.0);
    Progress("append 1 KiB + fdatasync (after)", fsync_append_after);
    if (s2.ok() && s3.ok() && s4.ok()) {
      writes_per_sync_n = static_cast<double>(s3->writes - s2->writes) / std::max<double>(1, s3->wal_syncs - s2->wal_syncs);
      writes_per_sync_window =
          static_cast<double>(s4->writes - s3->writes) / std::max<double>(1, s4->wal_syncs - s3->wal_syncs);
    }
    errors += fsync_append.errors + fsync_overwrite.errors + fsync_append_after.errors;
    errors += facade_read.errors + writers_1.errors + writers_n.errors + writers_window.errors;

    if (o.ycsb) {
      const Zipfian zipf(hot_keys.size(), 0.99);
      for (char w : {'A', 'B', 'C', 'F'}) {
        auto y = RunYcsb(memory, w, hot_keys, zipf, o.ycsb_threads, o.ycsb_seconds);
        y.ramlake_mib = hot_ramlake_mib;
        std::fprintf(stderr, "engine: YCSB %c, %zu records (fit in RAM): %.0f ops/s, hit rate %.3f\n", w, y.records,
                     y.total.ops_per_s(), y.hit_rate);
        errors += y.total.errors;
        ycsb.push_back(std::move(y));
      }
    }
  }

  // --- Phase 3: YCSB on a key set larger than the whole RAM-Lake.
  if (o.ycsb) {
    const double small_ramlake_mib = 64;
    auto opened = HybridMemory::Open(BenchConfig(disk_big, ram_big, small_ramlake_mib, o.compress));
    if (!opened.ok()) {
      std::fprintf(stderr, "engine: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    HybridMemory& memory = **opened;
    const auto keys = MakeKeys(o.big_records, RecordKey);
    std::fprintf(stderr, "engine: loading %zu records (%.0f MiB) beside a %.0f MiB RAM-Lake\n", keys.size(),
                 static_cast<double>(keys.size() * kValueBytes) / (1 << 20), small_ramlake_mib);
    const auto load_start = Clock::now();
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> load_errors{0};
    std::vector<std::thread> loaders;
    for (int t = 0; t < 4; ++t) {
      loaders.emplace_back([&] {
        std::deque<std::future<Status>> window;
        for (std::size_t i = next++; i < keys.size(); i = next++) {
          window.push_back(memory.PutMetadataAsync(keys[i], ValuePool()[i % ValuePool().size()]));
          if (window.size() >= 64) {
            if (!window.front().get().ok()) ++load_errors;
            window.pop_front();
          }
        }
        for (auto& f : window) {
          if (!f.get().ok()) ++load_errors;
        }
      });
    }
    for (auto& t : loaders) t.join();
    if (!memory.Sync().ok()) ++load_errors;
    const double load_s = SecondsSince(load_start);
    std::fprintf(stderr, "engine: loaded in %.1f s (%.0f writes/s)\n", load_s, static_cast<double>(keys.size()) / load_s);
    errors += load_errors;
    const Zipfian zipf(keys.size(), 0.99);
    // Warm up: the hot part of the distribution is promoted into RAM.
    (void)RunYcsb(memory, 'C', keys, zipf, o.ycsb_threads, 1.0);
    for (char w : {'A', 'B', 'C', 'F'}) {
      auto y = RunYcsb(memory, w, keys, zipf, o.ycsb_threads, o.ycsb_seconds);
      y.ramlake_mib = small_ramlake_mib;
      y.larger_than_ramlake = true;
      std::fprintf(stderr, "engine: YCSB %c, %zu records (> RAM-Lake): %.0f ops/s, hit rate %.3f\n", w, y.records,
                   y.total.ops_per_s(), y.hit_rate);
      errors += y.total.errors;
      ycsb.push_back(std::move(y));
    }
  }

  // --- Report.
  json.Key("baselines").BeginObject();
  WriteRun(json, "mutex_cv_handoff", mutex_cv);
  WriteRun(json, "scoped_actor_echo", scoped_echo);
  WriteRun(json, "scoped_actor_read", scoped_read);
  WriteRun(json, "append_fdatasync_1k", fsync_append);
  WriteRun(json, "append_fdatasync_1k_after_writes", fsync_append_after);
  WriteRun(json, "overwrite_fdatasync_1k", fsync_overwrite);
  json.EndObject();

  json.Key("actor_to_actor").BeginObject();
  WriteRun(json, "read_closed_loop", actor_read);
  json.Field("read_closed_loop_disk_reads", actor_read_disk_reads);
  json.Key("read_open_loop").BeginArray();
  for (auto& [rate, runs] : open_loops) {
    json.BeginObject();
    json.Field("target_ops_per_s", rate);
    json.Field("achieved_ops_per_s", runs.first.ops_per_s());
    WriteRun(json, "from_schedule", runs.first);
    WriteRun(json, "from_send", runs.second);
    json.EndObject();
  }
  json.EndArray();
  WriteRun(json, "write_closed_loop", actor_write);
  json.Field("hit_rate", actor_phase_hit_rate);
  json.EndObject();

  json.Key("facade").BeginObject();
  WriteRun(json, "read", facade_read);
  WriteBreakdown(json, "read_breakdown_rebuilt_bridge", bridge_probe);
  WriteRun(json, "write", writers_1);
  json.Field("hit_rate", facade_hit_rate);
  json.EndObject();

  const double sync_rate = std::max(fsync_append.ops_per_s(), fsync_append_after.ops_per_s());
  json.Key("durable_writes").BeginObject();
  json.Field("single_writer_append_fdatasync_per_s", sync_rate);
  json.Field("single_writer_append_fdatasync_per_s_before", fsync_append.ops_per_s());
  json.Field("single_writer_append_fdatasync_per_s_after", fsync_append_after.ops_per_s());
  json.Field("single_writer_overwrite_fdatasync_per_s", fsync_overwrite.ops_per_s());
  WriteRun(json, "writers_1", writers_1);
  json.Field("writers_1_ratio_to_fdatasync", writers_1.ops_per_s() / sync_rate);
  json.Field("writers", o.writers);
  WriteRun(json, "writers_n", writers_n);
  json.Field("writers_n_ratio_to_fdatasync", writers_n.ops_per_s() / sync_rate);
  json.Field("writers_n_writes_per_sync", writes_per_sync_n);
  json.Field("window_per_writer", o.window);
  WriteRun(json, "writers_n_windowed", writers_window);
  json.Field("writers_n_windowed_ratio_to_fdatasync", writers_window.ops_per_s() / sync_rate);
  json.Field("writers_n_windowed_writes_per_sync", writes_per_sync_window);
  json.EndObject();

  if (!variants.empty()) {
    json.Key("scheduler_variants").BeginArray();
    for (auto& v : variants) {
      json.BeginObject();
      json.Field("name", v->name);
      json.Field("rounds", static_cast<std::uint64_t>(v->bridge_p50.size()));
      json.Field("facade_style_read_p50_us", Median(v->bridge_p50));
      json.Field("facade_style_read_p99_us", Median(v->bridge_p99));
      json.Field("facade_style_read_ops_per_s", Median(v->bridge_ops_per_s));
      json.Field("host_to_bridge_p99_us", Median(v->host_to_bridge_p99));
      json.Field("bridge_to_host_p99_us", Median(v->bridge_to_host_p99));
      json.Field("scoped_actor_read_p50_us", Median(v->scoped_p50));
      json.Field("actor_read_p50_us", Median(v->actor_p50));
      json.Field("actor_read_p99_us", Median(v->actor_p99));
      json.EndObject();
    }
    json.EndArray();
  }

  json.Key("ycsb").BeginArray();
  for (auto& y : ycsb) WriteYcsb(json, y, o.ycsb_threads);
  json.EndArray();

  json.Key("goals").BeginObject();
  const double actor_p50 = actor_read.latency.PercentileMicros(0.5);
  json.Field("actor_read_p50_us", actor_p50);
  json.Field("actor_read_p50_goal_us", 5.0);
  json.Field("actor_read_p50_met", actor_p50 <= 5.0);
  const double facade_p99 = facade_read.latency.PercentileMicros(0.99);
  const double scoped_p50 = scoped_read.latency.PercentileMicros(0.5);
  json.Field("facade_read_p99_us", facade_p99);
  json.Field("scoped_actor_read_p50_us", scoped_p50);
  json.Field("facade_read_p99_le_scoped_actor_p50_met", facade_p99 <= scoped_p50);
  json.Field("durable_writers_n_ratio", writers_n.ops_per_s() / sync_rate);
  json.Field("durable_writers_n_windowed_ratio", writers_window.ops_per_s() / sync_rate);
  json.Field("durable_ratio_goal", 50.0);
  json.Field("durable_ratio_met_blocking", writers_n.ops_per_s() / sync_rate >= 50.0);
  json.Field("durable_ratio_met_windowed", writers_window.ops_per_s() / sync_rate >= 50.0);
  json.EndObject();
  json.Field("load_average_at_end", LoadAverage());
  json.Field("errors", errors);
  json.EndObject();
  std::printf("%s\n", json.str().c_str());
  if (errors > 0) {
    std::fprintf(stderr, "engine: %llu operations failed: the figures are not valid\n",
                 static_cast<unsigned long long>(errors));
    return 1;
  }
  return 0;
}

}  // namespace postdevai::bench
