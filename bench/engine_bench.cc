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
//   facade          plain host threads (1, and --read-threads for hot reads)
//                   through HybridMemory (blocking calls),
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
//   leveldb peer    LevelDB 1.23 in process, in the same run, on the same
//                   shapes: its Get on the hot keys (1 and N threads, beside the
//                   facade's hot reads, adjacent in time) and the in-RAM YCSB
//                   workloads with sync=true writes (ours are durable too),
//                   each right after ours. A fresh database on the same disk
//                   as our store, kNoCompression, default block cache, loaded,
//                   compacted and warmed by one pass of Gets before timing (our
//                   hot keys get the same one pass). The point reads
//                   and the YCSB loop are written once, over a small interface
//                   (KvTarget: read / update / read-modify-write) with one
//                   implementation per system; ratios are ours / LevelDB.
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
#include <leveldb/db.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
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
  int read_threads = 8;           // the facade's and LevelDB's multi-threaded hot reads
  double fsync_seconds = 1;       // each single-writer fdatasync baseline
  double big_warmup_seconds = 1;  // YCSB C before the larger-than-RAM-Lake runs
  double settle_seconds = 0.5;    // idle pause after each in-RAM YCSB run (ours and the peer's)
  bool quick = false;
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
// The systems a point-read or YCSB run drives, behind one small interface, so
// the workload logic (key choice, operation mix, what a read-modify-write
// changes) is written once and both systems run exactly the same operations:
// our facade, and LevelDB in process as the peer.

struct ReadCounters {
  std::uint64_t reads = 0, ram_hits = 0, promotions = 0;
};

class KvTarget {
 public:
  virtual ~KvTarget() = default;
  virtual const char* name() const = 0;
  // Reads the key's value into *value; false on an error or a miss.
  virtual bool Read(const std::string& key, std::string* value) = 0;
  // Overwrites the key's value, durably (acknowledged once it survives a crash).
  virtual bool Update(const std::string& key, std::string_view value) = 0;
  // YCSB F: read the record, change one of its ten 100-byte fields, write it back.
  bool ReadModifyWrite(const std::string& key, std::mt19937_64& rng) {
    std::string v;
    if (!Read(key, &v) || v.size() != kValueBytes) return false;
    const std::size_t field = rng() % 10;
    const std::string& source = ValuePool()[rng() % ValuePool().size()];
    v.replace(field * 100, 100, source, field * 100, 100);
    return Update(key, v);
  }
  // Read counters for a hit rate; a peer without a RAM tier has none.
  virtual std::optional<ReadCounters> Counters() { return std::nullopt; }
};

// Our facade: blocking calls from host threads (HybridMemory).
class FacadeTarget final : public KvTarget {
 public:
  explicit FacadeTarget(HybridMemory& memory) : memory_(memory) {}
  const char* name() const override { return "facade"; }
  bool Read(const std::string& key, std::string* value) override {
    auto v = memory_.GetMetadata(key);
    if (!v.ok()) return false;
    *value = std::move(*v);
    return true;
  }
  bool Update(const std::string& key, std::string_view value) override {
    return memory_.PutMetadata(key, value).ok();
  }
  std::optional<ReadCounters> Counters() override {
    auto s = memory_.Stats();
    if (!s.ok()) return std::nullopt;
    return ReadCounters{s->reads, s->ram_hits, s->promotions};
  }

 private:
  HybridMemory& memory_;
};

// The peer: LevelDB 1.23 in process, a fresh database in `dir`, no
// compression (our values are the same bytes), default block cache, writes
// with sync=true (ours are acknowledged only once durable).
class LevelDbTarget final : public KvTarget {
 public:
  static std::unique_ptr<LevelDbTarget> Open(const std::string& dir, std::string* error) {
    leveldb::Options options;
    options.create_if_missing = true;
    options.error_if_exists = true;
    options.compression = leveldb::kNoCompression;
    leveldb::DB* raw = nullptr;
    const leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
    if (!s.ok()) {
      *error = s.ToString();
      return nullptr;
    }
    return std::unique_ptr<LevelDbTarget>(new LevelDbTarget(raw));
  }
  const char* name() const override { return "leveldb"; }
  bool Read(const std::string& key, std::string* value) override {
    return db_->Get(read_options_, key, value).ok();
  }
  bool Update(const std::string& key, std::string_view value) override {
    return db_->Put(sync_, key, leveldb::Slice(value.data(), value.size())).ok();
  }
  // The same records our hot set holds (key j gets pool value j), in batches
  // of 100 like LoadHotKeys, then one synced write and a full compaction: the
  // reads then find every key in one sorted table, LevelDB's best read state.
  bool Load(const std::vector<std::string>& keys) {
    leveldb::WriteOptions no_sync;
    for (std::size_t i = 0; i < keys.size(); i += 100) {
      leveldb::WriteBatch batch;
      for (std::size_t j = i; j < std::min(keys.size(), i + 100); ++j) batch.Put(keys[j], ValuePool()[j % ValuePool().size()]);
      if (!db_->Write(no_sync, &batch).ok()) return false;
    }
    leveldb::WriteBatch empty;
    if (!db_->Write(sync_, &empty).ok()) return false;
    db_->CompactRange(nullptr, nullptr);
    return true;
  }
  std::string Property(const char* name) {
    std::string v;
    return db_->GetProperty(name, &v) ? v : std::string();
  }

 private:
  explicit LevelDbTarget(leveldb::DB* db) : db_(db) { sync_.sync = true; }
  std::unique_ptr<leveldb::DB> db_;
  leveldb::ReadOptions read_options_;  // defaults: no checksum verification, fill the cache
  leveldb::WriteOptions sync_;
};

// One read of every key before timing: LevelDB's block cache (and the page
// cache) warm; our re-attached RAM-Lake's pages touched once.
bool WarmPass(KvTarget& target, const std::vector<std::string>& keys) {
  std::string v;
  for (const auto& k : keys) {
    if (!target.Read(k, &v) || v.size() != kValueBytes) return false;
  }
  return true;
}

// Ours / theirs throughput.
double Ratio(const Run& ours, const Run& theirs) {
  return theirs.ops_per_s() > 0 ? ours.ops_per_s() / theirs.ops_per_s() : 0;
}

// `threads` threads of uniform point reads over `keys`, each read checked for
// a full 1 KiB value. The same seeds on every target: the same key sequence.
Run PointReads(KvTarget& target, const std::vector<std::string>& keys, int threads, double seconds) {
  return HostThreads(threads, seconds, 1, [&](int, std::mt19937_64& rng) -> int {
    std::string v;
    return target.Read(keys[rng() % keys.size()], &v) && v.size() == kValueBytes ? 0 : -1;
  })[0];
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
  std::unique_ptr<YcsbResult> leveldb;  // the same workload on the peer (in-RAM set only)
  double vs_leveldb_ratio() const {
    return leveldb && leveldb->total.ops_per_s() > 0 ? total.ops_per_s() / leveldb->total.ops_per_s() : 0;
  }
};

// One YCSB workload on any target: the key choice, the mix and the
// read-modify-write are this function's, whatever system runs them.
YcsbResult RunYcsb(KvTarget& target, char workload, const std::vector<std::string>& keys, const Zipfian& zipf,
                   int threads, double seconds) {
  YcsbResult y;
  y.workload = workload;
  y.records = keys.size();
  const double read_share = workload == 'A' ? 0.5 : workload == 'B' ? 0.95 : workload == 'C' ? 1.0 : 0.5;
  const auto before = target.Counters();
  y.by_op = HostThreads(threads, seconds, 3, [&](int, std::mt19937_64& rng) -> int {
    const std::string& key = keys[Scramble(zipf.Next(rng), keys.size())];
    const bool read = std::uniform_real_distribution<double>(0, 1)(rng) < read_share;
    if (read) {
      std::string v;
      return target.Read(key, &v) && v.size() == kValueBytes ? 0 : -1;
    }
    if (workload != 'F') return target.Update(key, ValuePool()[rng() % ValuePool().size()]) ? 1 : -1;
    return target.ReadModifyWrite(key, rng) ? 2 : -1;
  });
  const auto after = target.Counters();
  for (auto& r : y.by_op) {
    y.total.ops += r.ops;
    y.total.errors += r.errors;
    y.total.seconds = r.seconds;
    y.total.latency.Merge(r.latency);
  }
  if (before && after) {
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
  if (y.leveldb) {
    YcsbResult& p = *y.leveldb;
    json.Field("leveldb_ops_per_s", p.total.ops_per_s());
    json.Field("facade_vs_leveldb_ratio", y.vs_leveldb_ratio());
    json.Key("leveldb").BeginObject();
    json.Field("write_sync", true);
    json.Field("threads", threads);
    json.Field("ops", p.total.ops);
    json.Field("ops_per_s", p.total.ops_per_s());
    json.Field("p50_us", p.total.latency.PercentileMicros(0.5));
    json.Field("p99_us", p.total.latency.PercentileMicros(0.99));
    json.Field("p999_us", p.total.latency.PercentileMicros(0.999));
    if (p.total.errors) json.Field("errors", p.total.errors);
    for (std::size_t k = 0; k < 3; ++k) {
      if (p.by_op[k].ops > 0) WriteRun(json, names[k], p.by_op[k]);
    }
    json.EndObject();
  }
  json.EndObject();
}

// One goal of the bench: a measured value against its target.
struct Goal {
  std::string name;
  std::optional<double> value;  // nullopt: not measured in this run
  bool at_least = true;         // value >= target, else value <= target
  double target = 0;
  const char* unit = "ratio";
  bool met() const { return value && (at_least ? *value >= target : *value <= target); }
};

void WriteGoals(JsonWriter& json, const std::vector<Goal>& goals) {
  json.Key("goals").BeginArray();
  for (const auto& g : goals) {
    json.BeginObject();
    json.Field("name", g.name);
    if (g.value) {
      json.Field("value", *g.value);
    } else {
      json.Key("value").String("not measured");
    }
    json.Field("target", g.target);
    json.Field("comparison", g.at_least ? ">=" : "<=");
    json.Field("unit", g.unit);
    json.Field("met", g.met());
    json.EndObject();
  }
  json.EndArray();
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

// Whether two paths live on the same file system (device).
bool SameDevice(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
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
  if (HasFlag(args, "--quick")) {
    o.quick = true;
    o.seconds = 0.3;
    o.ycsb_seconds = 0.5;
    o.fsync_seconds = 0.3;
    o.big_warmup_seconds = 0.3;
    o.settle_seconds = 0.1;
  }
  o.seconds = std::stod(OptionValue(args, "--seconds", std::to_string(o.seconds)));
  o.hot_keys = static_cast<std::size_t>(OptionInt(args, "--hot-keys", static_cast<long long>(o.hot_keys)));
  o.writers = static_cast<int>(OptionInt(args, "--writers", o.writers));
  o.window = static_cast<int>(OptionInt(args, "--window", o.window));
  o.ycsb_seconds = std::stod(OptionValue(args, "--ycsb-seconds", std::to_string(o.ycsb_seconds)));
  o.ycsb_threads = static_cast<int>(OptionInt(args, "--ycsb-threads", o.ycsb_threads));
  o.read_threads = std::max(1, static_cast<int>(OptionInt(args, "--read-threads", o.read_threads)));
  o.big_records = static_cast<std::size_t>(OptionInt(args, "--big-records", static_cast<long long>(o.big_records)));
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
      "usage: postdevai-bench engine [--quick] [--seconds S (2)] [--hot-keys N (10000)] [--rates R1,R2 (10000,50000)]\n"
      "                              [--read-threads N (8)] [--writers N (16)] [--window W (8)] [--ycsb-seconds S (3)]\n"
      "                              [--ycsb-threads N (8)] [--big-records N (80000)] [--no-ycsb]\n"
      "                              [--scheduler-variants] [--compression zstd|none] [--json]\n"
      "Point reads/writes of 1 KiB values through the actor engine (actor->actor, facade, baselines),\n"
      "durable writes under 1 and N writers against the fdatasync rate, and YCSB A/B/C/F (zipfian 0.99).\n"
      "Peer, in the same run on the same shapes: LevelDB 1.23 in process (fresh database on the same disk,\n"
      "kNoCompression, default block cache, warmed by one pass): its Get on the hot keys from 1 and\n"
      "--read-threads threads beside the facade's hot reads, and the in-RAM YCSB workloads with sync=true\n"
      "writes; ratios (facade_vs_leveldb_ratio) are ours / LevelDB. The JSON's goals array says which\n"
      "targets were met (hot reads and YCSB >= 1.0x LevelDB, actor-to-actor read p50 <= 2 us, ...).\n"
      "--quick: --seconds 0.3 --ycsb-seconds 0.5, fdatasync baselines and the big-set warm-up 0.3 s.\n"
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
  // The peer's database: beside our store, on the same disk (same root).
  const std::string disk_peer = MakeScratchDir("engine-leveldb");
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      for (const auto& d : dirs) RemoveTree(d);
    }
  } cleanup{{disk, ram, disk_big, ram_big, disk_peer}};
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
  json.Field("quick", o.quick);
  json.Field("seconds_per_run", o.seconds);
  json.Field("read_threads", o.read_threads);
  json.Field("ycsb_seconds_per_run", o.ycsb_seconds);
  json.Field("ycsb_threads", o.ycsb_threads);
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
  Run facade_read, facade_read_n, leveldb_read, leveldb_read_n;
  Run writers_1, writers_n, writers_window, fsync_append, fsync_overwrite, fsync_append_after;
  double facade_hit_rate = 0, facade_hit_rate_n = 0, writes_per_sync_n = 0, writes_per_sync_window = 0;
  double leveldb_load_s = 0;
  std::string leveldb_files_per_level;
  std::vector<YcsbResult> ycsb;
  {
    auto opened = HybridMemory::Open(config);
    if (!opened.ok()) {
      std::fprintf(stderr, "engine: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    HybridMemory& memory = **opened;
    FacadeTarget facade(memory);
    // The peer, loaded with the same records, compacted and warmed before any
    // read is timed; it stays open (idle) beside the engine through phase 2.
    std::string peer_error;
    auto leveldb = LevelDbTarget::Open(disk_peer + "/db", &peer_error);
    if (!leveldb) {
      std::fprintf(stderr, "engine: leveldb: %s\n", peer_error.c_str());
      return 1;
    }
    const auto peer_load_start = Clock::now();
    if (!leveldb->Load(hot_keys) || !WarmPass(*leveldb, hot_keys)) {
      std::fprintf(stderr, "engine: leveldb: loading or warming the hot keys failed\n");
      return 1;
    }
    leveldb_load_s = SecondsSince(peer_load_start);
    for (int level = 0; level < 7; ++level) {
      const std::string n = leveldb->Property(("leveldb.num-files-at-level" + std::to_string(level)).c_str());
      leveldb_files_per_level += (level ? "," : "") + (n.empty() ? std::string("?") : n);
    }
    std::fprintf(stderr, "engine: leveldb peer: %zu records loaded, compacted and warmed in %.2f s (files per level %s)\n",
                 hot_keys.size(), leveldb_load_s, leveldb_files_per_level.c_str());
    // Our side gets the same one warm pass (the re-attached RAM-Lake's pages
    // are touched once), so both are timed warm.
    if (!WarmPass(facade, hot_keys)) {
      std::fprintf(stderr, "engine: warming the facade's hot keys failed\n");
      ++errors;
    }
    // The floor of any blocking cross-thread call, measured right before the
    // facade's reads (the machine is shared: adjacent runs see the same load).
    mutex_cv = MutexHandoffRun(o.hot_keys, o.seconds);
    Progress("mutex+cv hand-off (baseline)", mutex_cv);
    errors += mutex_cv.errors;
    // Hot reads: ours and the peer's alternate, 1 thread then N, so each pair
    // is adjacent in time on this shared machine.
    auto hit_rate_of = [&](auto&& run) {
      const auto c0 = facade.Counters();
      run();
      const auto c1 = facade.Counters();
      return c0 && c1 && c1->reads > c0->reads
                 ? static_cast<double>(c1->ram_hits - c0->ram_hits) / static_cast<double>(c1->reads - c0->reads)
                 : 0.0;
    };
    facade_hit_rate = hit_rate_of([&] { facade_read = PointReads(facade, hot_keys, 1, o.seconds); });
    Progress("facade read (1 host thread)", facade_read);
    leveldb_read = PointReads(*leveldb, hot_keys, 1, o.seconds);
    Progress("leveldb Get (1 thread)", leveldb_read);
    facade_hit_rate_n = hit_rate_of([&] { facade_read_n = PointReads(facade, hot_keys, o.read_threads, o.seconds); });
    char what[64];
    std::snprintf(what, sizeof what, "facade read (%d host threads)", o.read_threads);
    Progress(what, facade_read_n);
    leveldb_read_n = PointReads(*leveldb, hot_keys, o.read_threads, o.seconds);
    std::snprintf(what, sizeof what, "leveldb Get (%d threads)", o.read_threads);
    Progress(what, leveldb_read_n);
    std::fprintf(stderr, "engine: hot reads, facade vs leveldb: 1 thread %.2fx, %d threads %.2fx\n",
                 Ratio(facade_read, leveldb_read), o.read_threads, Ratio(facade_read_n, leveldb_read_n));
    errors += facade_read_n.errors + leveldb_read.errors + leveldb_read_n.errors;

    // The single-writer sync rate is measured right before and right after
    // the durable writes, on the same disk: the disk is shared and its sync
    // time drifts, so the ratio uses the faster of the two (the conservative
    // denominator).
    fsync_append = FdatasyncRun(disk, false, o.fsync_seconds);
    Progress("append 1 KiB + fdatasync", fsync_append);
    fsync_overwrite = FdatasyncRun(disk, true, o.fsync_seconds);
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
    fsync_append_after = FdatasyncRun(disk, false, o.fsync_seconds);
    Progress("append 1 KiB + fdatasync (after)", fsync_append_after);
    if (s2.ok() && s3.ok() && s4.ok()) {
      writes_per_sync_n = static_cast<double>(s3->writes - s2->writes) / std::max<double>(1, s3->wal_syncs - s2->wal_syncs);
      writes_per_sync_window =
          static_cast<double>(s4->writes - s3->writes) / std::max<double>(1, s4->wal_syncs - s3->wal_syncs);
    }
    errors += fsync_append.errors + fsync_overwrite.errors + fsync_append_after.errors;
    errors += facade_read.errors + writers_1.errors + writers_n.errors + writers_window.errors;

    if (o.ycsb) {
      // Each workload runs on ours, then right after on the peer, so the pair
      // sees the same machine (the VM's speed drifts by 2x between runs
      // minutes apart). A pause after each run lets that system's background
      // work from its writes (our applier and store, LevelDB's compactions)
      // finish outside the other's timed window.
      const Zipfian zipf(hot_keys.size(), 0.99);
      const auto settle = std::chrono::duration<double>(o.settle_seconds);
      for (char w : {'A', 'B', 'C', 'F'}) {
        auto y = RunYcsb(facade, w, hot_keys, zipf, o.ycsb_threads, o.ycsb_seconds);
        y.ramlake_mib = hot_ramlake_mib;
        std::fprintf(stderr, "engine: YCSB %c, %zu records (fit in RAM): %.0f ops/s, hit rate %.3f\n", w, y.records,
                     y.total.ops_per_s(), y.hit_rate);
        errors += y.total.errors;
        std::this_thread::sleep_for(settle);
        y.leveldb = std::make_unique<YcsbResult>(RunYcsb(*leveldb, w, hot_keys, zipf, o.ycsb_threads, o.ycsb_seconds));
        std::fprintf(stderr,
                     "engine: YCSB %c, %zu records, leveldb (sync writes): %.0f ops/s (p50 %.2f us, p99 %.2f us); "
                     "ours / leveldb %.2fx\n",
                     w, y.records, y.leveldb->total.ops_per_s(), y.leveldb->total.latency.PercentileMicros(0.5),
                     y.leveldb->total.latency.PercentileMicros(0.99), y.vs_leveldb_ratio());
        errors += y.leveldb->total.errors;
        std::this_thread::sleep_for(settle);
        ycsb.push_back(std::move(y));
      }
    }
    leveldb.reset();  // waits for its background compactions: none run into phase 3
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
    FacadeTarget facade(memory);
    (void)RunYcsb(facade, 'C', keys, zipf, o.ycsb_threads, o.big_warmup_seconds);
    for (char w : {'A', 'B', 'C', 'F'}) {
      auto y = RunYcsb(facade, w, keys, zipf, o.ycsb_threads, o.ycsb_seconds);
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
  json.Field("read_threads", o.read_threads);
  WriteRun(json, "read_n_threads", facade_read_n);
  json.Field("read_n_threads_hit_rate", facade_hit_rate_n);
  WriteBreakdown(json, "read_breakdown_rebuilt_bridge", bridge_probe);
  WriteRun(json, "write", writers_1);
  json.Field("hit_rate", facade_hit_rate);
  json.EndObject();

  json.Key("leveldb_peer").BeginObject();
  json.Field("name", "leveldb");
  json.Field("version", std::to_string(leveldb::kMajorVersion) + "." + std::to_string(leveldb::kMinorVersion));
  json.Field("in_process", true);
  json.Field("dir", disk_peer + "/db");
  json.Field("same_disk_as_store", SameDevice(disk, disk_peer));
  json.Field("compression", "none");
  json.Field("block_cache", "default (8 MiB)");
  json.Field("records", static_cast<std::uint64_t>(hot_keys.size()));
  json.Field("compacted_before_reads", true);
  json.Field("files_per_level", leveldb_files_per_level);
  json.Field("warm_passes_before_timing", 1);
  json.Field("load_compact_warm_s", leveldb_load_s);
  json.Field("write_sync", true);
  json.Field("ycsb_settle_s_after_each_run", o.ycsb ? o.settle_seconds : 0.0);
  json.EndObject();

  // Hot point reads of the same keys and values, the same threads and
  // duration, ours through the facade and LevelDB's Get, adjacent in time.
  json.Key("hot_reads_vs_leveldb").BeginArray();
  const std::pair<int, std::pair<Run*, Run*>> read_pairs[] = {{1, {&facade_read, &leveldb_read}},
                                                              {o.read_threads, {&facade_read_n, &leveldb_read_n}}};
  for (auto& [threads, runs] : read_pairs) {
    Run& ours = *runs.first;
    Run& peer = *runs.second;
    json.BeginObject();
    json.Field("threads", threads);
    json.Field("seconds", o.seconds);
    json.Field("facade_reads_per_s", ours.ops_per_s());
    json.Field("facade_p50_us", ours.latency.PercentileMicros(0.5));
    json.Field("facade_p99_us", ours.latency.PercentileMicros(0.99));
    json.Field("facade_hit_rate", threads == 1 ? facade_hit_rate : facade_hit_rate_n);
    json.Field("leveldb_reads_per_s", peer.ops_per_s());
    json.Field("leveldb_p50_us", peer.latency.PercentileMicros(0.5));
    json.Field("leveldb_p99_us", peer.latency.PercentileMicros(0.99));
    json.Field("facade_vs_leveldb_ratio", Ratio(ours, peer));
    if (ours.errors + peer.errors > 0) json.Field("errors", ours.errors + peer.errors);
    json.EndObject();
  }
  json.EndArray();

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

  std::vector<Goal> goals;
  goals.push_back({"facade hot read, 1 thread, >= 1.0x LevelDB Get (facade_vs_leveldb_ratio)",
                   Ratio(facade_read, leveldb_read), true, 1.0, "ratio"});
  goals.push_back({"facade hot read, " + std::to_string(o.read_threads) +
                       " threads, >= 1.0x LevelDB Get (facade_vs_leveldb_ratio)",
                   Ratio(facade_read_n, leveldb_read_n), true, 1.0, "ratio"});
  for (char w : {'A', 'B', 'C', 'F'}) {
    std::optional<double> ratio;
    for (const auto& y : ycsb) {
      if (y.workload == w && !y.larger_than_ramlake && y.leveldb) ratio = y.vs_leveldb_ratio();
    }
    goals.push_back({std::string("YCSB ") + w + " in RAM >= 1.0x LevelDB sync=true (facade_vs_leveldb_ratio)", ratio,
                     true, 1.0, "ratio"});
  }
  goals.push_back({"actor-to-actor hot read p50 (closed loop) <= 2 us", actor_read.latency.PercentileMicros(0.5), false,
                   2.0, "us"});
  goals.push_back({"facade hot read p99 (1 thread) <= scoped_actor read p50 (target = that p50)",
                   facade_read.latency.PercentileMicros(0.99), false, scoped_read.latency.PercentileMicros(0.5), "us"});
  goals.push_back({"durable writes, N writers blocking, >= 50x single-writer fdatasync", writers_n.ops_per_s() / sync_rate,
                   true, 50.0, "ratio"});
  goals.push_back({"durable writes, N writers x window, >= 50x single-writer fdatasync",
                   writers_window.ops_per_s() / sync_rate, true, 50.0, "ratio"});
  WriteGoals(json, goals);
  for (const auto& g : goals) {
    const char* unit = std::string_view(g.unit) == "us" ? " us" : "x";
    char value[96] = "not measured";
    if (g.value) {
      std::snprintf(value, sizeof value, "%.2f%s (target %s %.2f%s)", *g.value, unit, g.at_least ? ">=" : "<=",
                    g.target, unit);
    }
    std::fprintf(stderr, "engine: goal [%s] %-78s %s\n", !g.value ? "n/a " : g.met() ? "met " : "MISS", g.name.c_str(),
                 value);
  }
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
