// postdevai-bench replication: does a replica keep up with its primary's
// durable write rate, and how far behind is it?
//
// Two dragon_nodes on this machine (a primary, a replica following it over
// TCP) and --writers gRPC clients writing --value-bytes metadata values.
//   alone      the primary with no replica: its durable write rate (the peer);
//   catch-up   a new replica copies what that phase wrote: records/s, MB/s;
//   following  the same writers with the replica following: the primary's
//              rate, the replica's apply rate, and each write's lag -- from
//              its acknowledgement by the primary to the first moment the
//              replica reports holding it (polled every 10 ms) -- p50, p99,
//              max.
#include <algorithm>
#include <cstring>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/node_process.h"
#include "bench/scenarios.h"
#include "rpc/grpc_client.h"
#include "tests/test_util.h"

namespace postdevai::bench {
namespace {

std::string NodeToml(const std::string& ram, const std::string& data, std::uint16_t port, const std::string& role) {
  return "[hybrid_memory]\nramlake_size_gb = 0.25\nramlake_path = \"" + ram + "\"\npersistent_path = \"" + data +
         "\"\npersistent_size_tb = 0.01\ncache_size_mb = 32\n[metrics]\nenabled = false\n[node]\nport = " +
         std::to_string(port) + "\n[replication]\n" + role;
}

struct Acked {
  std::uint64_t lsn;
  Clock::time_point at;
};

// `writers` clients writing for `seconds`; returns every acknowledgement.
std::vector<Acked> Write(rpc::MemoryConnection& node, int writers, double seconds, std::size_t value_bytes,
                         const std::string& prefix, std::atomic<std::uint64_t>* failures) {
  std::mutex mu;
  std::vector<Acked> all;
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 random(static_cast<std::uint64_t>(w) + 1);
      std::vector<Acked> mine;
      std::string value(value_bytes, 'x');
      for (std::uint64_t i = 0; Clock::now() < end; ++i) {
        for (std::size_t b = 0; b + 8 <= value.size(); b += 8) {
          const std::uint64_t r = random();
          std::memcpy(value.data() + b, &r, 8);
        }
        auto lsn = node.PutMetadata(prefix + std::to_string(w) + "-" + std::to_string(i % 5000), value);
        if (!lsn.ok()) {
          failures->fetch_add(1);
          continue;
        }
        mine.push_back({*lsn, Clock::now()});
      }
      std::lock_guard lock(mu);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  std::sort(all.begin(), all.end(), [](const Acked& a, const Acked& b) { return a.lsn < b.lsn; });
  return all;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int Fail(const std::string& what) {
  std::fprintf(stderr, "replication: %s\n", what.c_str());
  return 1;
}

}  // namespace

int RunReplicationBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf("postdevai-bench replication [--writers N (16)] [--seconds S (15)] [--value-bytes N (1024)] [--json]\n"
                "  the primary's durable write rate alone (the peer), a new replica's catch-up, then the\n"
                "  primary's and the replica's rates with the replica following, and each write's lag\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const int writers = static_cast<int>(OptionInt(args, "--writers", 16));
  const double seconds = static_cast<double>(OptionInt(args, "--seconds", 15));
  const auto value_bytes = static_cast<std::size_t>(OptionInt(args, "--value-bytes", 1024));
  if (writers < 1 || writers > 256 || seconds <= 0 || value_bytes < 8) return Fail("bad option (see --help)");

  testing::TempDir scratch("bench-replication");
  const std::string ram = "/dev/shm/postdevai-bench-replication-" + std::to_string(::getpid());
  struct RemoveRam {
    std::string path;
    ~RemoveRam() { std::filesystem::remove_all(path); }
  } remove_ram{ram};
  const std::uint16_t primary_port = FreePort(), replica_port = FreePort();
  const std::string primary_config = scratch.path() + "/primary.toml", replica_config = scratch.path() + "/replica.toml";
  if (!WriteFile(primary_config, NodeToml(ram + "/primary", scratch.path() + "/primary", primary_port,
                                          "role = \"primary\"\n")) ||
      !WriteFile(replica_config, NodeToml(ram + "/replica", scratch.path() + "/replica", replica_port,
                                          "role = \"replica\"\nprimary = \"127.0.0.1:" +
                                              std::to_string(primary_port) + "\"\n"))) {
    return Fail("cannot write the configs in " + scratch.path());
  }
  NodeProcess primary("primary");
  if (!primary.Start(primary_config, false)) return 1;
  auto connect = [](std::uint16_t port) {
    rpc::ConnectionOptions o;
    o.host = "127.0.0.1";
    o.port = port;
    o.timeout = std::chrono::seconds(30);
    return rpc::MemoryConnection::Connect(o);
  };
  auto p = connect(primary_port);
  if (!p.ok()) return Fail(p.status().ToString());
  std::atomic<std::uint64_t> failures{0};

  // 1. The primary alone.
  const auto alone_started = Clock::now();
  auto alone = Write(**p, writers, seconds, value_bytes, "alone-", &failures);
  const double alone_rate = static_cast<double>(alone.size()) / Seconds(Clock::now() - alone_started);
  if (alone.empty()) return Fail("no write was acknowledged");
  const std::uint64_t alone_last = alone.back().lsn;

  // 2. A new replica copies all of it.
  NodeProcess replica("replica");
  const auto catch_up_started = Clock::now();
  if (!replica.Start(replica_config, false)) return 1;
  auto r = connect(replica_port);
  if (!r.ok()) return Fail(r.status().ToString());
  auto replica_lsn = [&]() -> std::uint64_t {
    auto s = (*r)->ReplicationStatus();
    return s.ok() ? s->durable_lsn : 0;
  };
  while (replica_lsn() < alone_last) {
    if (Seconds(Clock::now() - catch_up_started) > 600) return Fail("the replica did not catch up within 10 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double catch_up_seconds = Seconds(Clock::now() - catch_up_started);
  const double catch_up_mb = static_cast<double>(alone.size() * value_bytes) / 1e6;

  // 3. The same writers with the replica following, its position polled.
  std::atomic<bool> sampling{true};
  std::vector<Acked> seen;  // (replica's durable LSN, when)
  std::thread sampler([&] {
    while (sampling) {
      const std::uint64_t lsn = replica_lsn();
      seen.push_back({lsn, Clock::now()});
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const auto follow_started = Clock::now();
  auto following = Write(**p, writers, seconds, value_bytes, "following-", &failures);
  const double follow_seconds = Seconds(Clock::now() - follow_started);
  const double primary_rate = static_cast<double>(following.size()) / follow_seconds;
  const std::uint64_t first = following.empty() ? 0 : following.front().lsn;
  const std::uint64_t last = following.empty() ? 0 : following.back().lsn;
  while (replica_lsn() < last && Seconds(Clock::now() - follow_started) < seconds + 600) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sampling = false;
  sampler.join();
  auto status = (*r)->ReplicationStatus();
  // Each write's lag: from its acknowledgement to the first sample that holds it.
  std::vector<double> lags;
  lags.reserve(following.size());
  std::size_t s = 0;
  Clock::time_point replica_done = follow_started;
  for (const auto& w : following) {
    while (s < seen.size() && seen[s].lsn < w.lsn) ++s;
    if (s == seen.size()) break;
    lags.push_back(std::max(0.0, Seconds(seen[s].at - w.at)));
    replica_done = std::max(replica_done, seen[s].at);
  }
  const double replica_rate =
      following.empty() ? 0 : static_cast<double>(last - first + 1) / Seconds(replica_done - follow_started);
  std::sort(lags.begin(), lags.end());
  auto pct = [&](double q) { return lags.empty() ? 0.0 : lags[static_cast<std::size_t>(q * (lags.size() - 1))]; };

  replica.process.Stop();
  primary.process.Stop();
  JsonWriter out;
  out.BeginObject().Field("scenario", "replication")
      .Field("writers", writers)
      .Field("value_bytes", static_cast<std::uint64_t>(value_bytes))
      .Field("seconds_per_phase", seconds)
      .Field("primary_alone_writes_per_second", alone_rate)
      .Field("catch_up_records", static_cast<std::uint64_t>(alone.size()))
      .Field("catch_up_seconds", catch_up_seconds)
      .Field("catch_up_records_per_second", static_cast<double>(alone.size()) / catch_up_seconds)
      .Field("catch_up_mb_per_second", catch_up_mb / catch_up_seconds)
      .Field("primary_with_replica_writes_per_second", primary_rate)
      .Field("replica_applied_writes_per_second", replica_rate)
      .Field("with_replica_vs_primary_alone_write_ratio", alone_rate > 0 ? primary_rate / alone_rate : 0)
      .Field("replica_vs_primary_rate_ratio", primary_rate > 0 ? replica_rate / primary_rate : 0)
      .Field("lag_p50_seconds", pct(0.5))
      .Field("lag_p99_seconds", pct(0.99))
      .Field("lag_max_seconds", lags.empty() ? 0.0 : lags.back())
      .Field("lag_samples", static_cast<std::uint64_t>(lags.size()))
      .Field("replica_caught_up", status.ok() && status->durable_lsn >= last)
      .Field("failed_writes", failures.load());
  out.EndObject();
  if (json) {
    std::printf("%s\n", out.str().c_str());
  } else {
    std::printf("primary alone: %.0f durable writes/s (%d writers, %zu B values)\n", alone_rate, writers, value_bytes);
    std::printf("new replica caught up %zu writes in %.2f s (%.0f writes/s, %.1f MB/s)\n", alone.size(),
                catch_up_seconds, static_cast<double>(alone.size()) / catch_up_seconds, catch_up_mb / catch_up_seconds);
    std::printf("with the replica following: primary %.0f writes/s (%.2fx alone), replica applied %.0f/s (%.2fx)\n",
                primary_rate, alone_rate > 0 ? primary_rate / alone_rate : 0, replica_rate,
                primary_rate > 0 ? replica_rate / primary_rate : 0);
    std::printf("lag from acknowledgement to the replica: p50 %.3f s, p99 %.3f s, max %.3f s (%zu writes)\n", pct(0.5),
                pct(0.99), lags.empty() ? 0.0 : lags.back(), lags.size());
  }
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace postdevai::bench
