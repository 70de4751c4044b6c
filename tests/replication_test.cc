// Async replication with real processes: a primary dragon_node taking writes
// over gRPC, a replica dragon_node following it over TCP, kill -9 of either,
// restarts, a replica too far behind, a stalled replica, promotion and the
// former primary coming back.
#include <catch2/catch.hpp>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "postdevai/replication/v1/replication.grpc.pb.h"
#include "rpc/grpc_client.h"
#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_connection.h"
#include "tests/helpers/node_process.h"
#include "tests/helpers/test_values.h"

using namespace postdevai;
using namespace postdevai::testing;
using Catch::Matchers::Contains;

namespace {

std::string Value(int i) { return IncompressibleValue(i, 800); }

// Polls `done` until it holds or `seconds` pass; returns whether it held.
template <class Done>
bool Eventually(int seconds, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string PrimaryToml(const std::string& extra = "") {
  return "[wal]\nsegment_size_mb = 1\n[replication]\nrole = \"primary\"\n" + extra;
}

std::string ReplicaToml(const NodeProcess& primary) {
  return "[wal]\nsegment_size_mb = 1\n[replication]\nrole = \"replica\"\nprimary = \"127.0.0.1:" +
         std::to_string(primary.port()) + "\"\n";
}

std::uint64_t ReplicaLsn(rpc::MemoryConnection& replica) {
  auto status = replica.ReplicationStatus();
  return status.ok() ? status->durable_lsn : 0;
}

// Waits until the replica holds every write up to `lsn`.
void WaitFor(rpc::MemoryConnection& replica, std::uint64_t lsn) {
  Eventually(60, [&] { return ReplicaLsn(replica) >= lsn; });
  auto status = replica.ReplicationStatus();
  REQUIRE(status.ok());
  INFO("replica: " << status->state << " " << status->error);
  REQUIRE(status->durable_lsn >= lsn);
}

struct Written {
  std::string key, value;
  std::uint64_t lsn;
};

// Every write is on `node` with its value (each key written once).
void ExpectAll(rpc::MemoryConnection& node, const std::vector<Written>& writes) {
  std::size_t wrong = 0;
  for (const auto& w : writes) {
    auto got = node.GetMetadata(w.key);
    if (!got.ok() || got->value != w.value) {
      if (wrong++ == 0) FAIL_CHECK(w.key << " (LSN " << w.lsn << "): " << got.status().ToString());
    }
  }
  CHECK(wrong == 0);
}

// Writes keys prefix-0.. to `node` until stopped, recording what was acknowledged.
class Writer {
 public:
  Writer(rpc::MemoryConnection& node, std::string prefix) : node_(node), prefix_(std::move(prefix)) {
    thread_ = std::thread([this] {
      for (int i = 0; !stop_; ++i) {
        std::string key = prefix_ + std::to_string(i);
        auto lsn = node_.PutMetadata(key, Value(i));
        if (!lsn.ok()) break;  // the node died
        std::lock_guard lock(mu_);
        writes_.push_back({key, Value(i), *lsn});
      }
    });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return writes_.size();
  }
  const std::vector<Written>& writes() const { return writes_; }

 private:
  rpc::MemoryConnection& node_;
  std::string prefix_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Written> writes_;
  std::thread thread_;
};

void WaitForCount(Writer& writer, std::size_t n) {
  while (writer.count() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::vector<Written> Put(rpc::MemoryConnection& node, const std::string& prefix, int n) {
  std::vector<Written> writes;
  for (int i = 0; i < n; ++i) {
    auto lsn = node.PutMetadata(prefix + std::to_string(i), Value(i));
    REQUIRE(lsn.ok());
    writes.push_back({prefix + std::to_string(i), Value(i), *lsn});
  }
  return writes;
}

}  // namespace

TEST_CASE("a replica follows its primary, serves reads, refuses writes and catches up after restarts",
          "[replication]") {
  NodeProcess primary(PrimaryToml(), "", "", "", NodeProcess::FreePort());
  auto p = Connect(primary);
  auto writes = Put(*p, "before-", 300);

  // A new, empty replica takes the primary's store and everything in it.
  NodeProcess replica(ReplicaToml(primary));
  auto r = Connect(replica);
  WaitFor(*r, writes.back().lsn);
  ExpectAll(*r, writes);
  auto status = r->ReplicationStatus();
  REQUIRE(status.ok());
  CHECK(status->role == "replica");
  CHECK(status->store == p->ReplicationStatus()->store);
  auto refused = r->PutMetadata("on-the-replica", "no");
  CHECK(refused.status().code() == StatusCode::kClosed);
  CHECK_THAT(refused.status().message(), Contains("replica of 127.0.0.1:" + std::to_string(primary.port())));
  CliResult cli = RunCli(CliArgsFor(replica, {"meta", "set", "x", "y"}));
  CHECK(cli.exit_code == 1);
  CHECK_THAT(cli.err, Contains("send writes to the primary"));

  // The replica stopped, then killed in the middle of a stream of writes:
  // each time it takes up where it was.
  replica.Stop();
  auto more = Put(*p, "while-stopped-", 200);
  replica.Start();
  r = Connect(replica);
  {
    Writer writer(*p, "stream-");
    WaitForCount(writer, 300);
    replica.Kill();
    WaitForCount(writer, 600);
    replica.Start();
    r = Connect(replica);
    WaitForCount(writer, 900);
    writer.Stop();
    WaitFor(*r, writer.writes().back().lsn);
    ExpectAll(*r, writer.writes());
  }
  ExpectAll(*r, more);

  // The primary restarted (same address): the replica reconnects. Having
  // had a replica, the primary holds writes back for a moment first (a
  // replica promoted meanwhile would fence it).
  primary.Stop();
  primary.Start();
  p = Connect(primary);
  CHECK(p->ReplicationStatus()->state == "starting");
  Status held = p->PutMetadata("during-the-hold", "x").status();
  CHECK(held.code() == StatusCode::kClosed);
  CHECK_THAT(held.message(), Contains("starting"));
  REQUIRE(Eventually(10, [&] { return p->ReplicationStatus()->state == "serving"; }));
  auto after = Put(*p, "after-restart-", 100);
  WaitFor(*r, after.back().lsn);
  ExpectAll(*r, after);
  ExpectAll(*r, writes);
  const JsonValue shown = RunCli(CliArgsFor(replica, {"--json", "replication", "status"})).Json();
  CHECK(shown["replication"]["role"].string == "replica");
  CHECK(shown["replication"]["lag_lsns"].u64() == 0);
  CHECK(shown["replication"]["reconnects"].u64() >= 1);
  const JsonValue stats = RunCli(CliArgsFor(replica, {"--json", "memory", "stats"})).Json();
  CHECK(stats["replication"]["primary"].string == "127.0.0.1:" + std::to_string(primary.port()));
  CHECK(stats["replication"]["durable_lsn"].u64() >= after.back().lsn);
  const std::string sync_status = RunCli(CliArgsFor(replica, {"memory", "sync-status"})).out;
  CHECK_THAT(sync_status, Contains("replica of 127.0.0.1:" + std::to_string(primary.port())));
  const JsonValue diagnosis = RunCli(CliArgsFor(replica, {"--json", "diagnose", "memory"})).Json();
  std::size_t replication_checks = 0;
  for (const auto& f : diagnosis["findings"].array) {
    if (f["check"].string != "replication") continue;
    ++replication_checks;
    CHECK(f["status"].string == "ok");
    CHECK_THAT(f["finding"].string, Contains("replica of 127.0.0.1:" + std::to_string(primary.port())));
  }
  CHECK(replication_checks == 1);
  const JsonValue at_primary = RunCli(CliArgsFor(primary, {"--json", "memory", "sync-status"})).Json();
  CHECK(at_primary["replication"]["role"].string == "primary");
  CHECK(at_primary["replication"]["replicas"].u64() == 1);
}

TEST_CASE("kill -9 of the primary mid-stream leaves the replica a prefix of what it acknowledged",
          "[replication]") {
  NodeProcess primary(PrimaryToml(), "", "", "", NodeProcess::FreePort());
  auto p = Connect(primary);
  NodeProcess replica(ReplicaToml(primary));
  auto r = Connect(replica);
  Writer writer(*p, "key-");
  WaitForCount(writer, 1500);
  primary.Kill();
  writer.Stop();
  const auto& acked = writer.writes();
  // Whatever the replica holds is the primary's history up to its LSN:
  // every acknowledged write up to it, none after it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::uint64_t held = ReplicaLsn(*r);
  CHECK(held > 0);
  CHECK(held <= acked.back().lsn + 1);  // at most the one write in flight beyond
  std::size_t present = 0;
  for (const auto& w : acked) {
    auto got = r->GetMetadata(w.key);
    INFO(w.key << " LSN " << w.lsn << " replica at " << held);
    if (w.lsn <= held) {
      REQUIRE(got.ok());
      CHECK(got->value == w.value);
      ++present;
    } else {
      CHECK(got.status().IsNotFound());
    }
  }
  CHECK(present > 0);
  // The primary comes back with everything it acknowledged; the replica
  // gets the rest.
  primary.Start();
  p = Connect(primary);
  WaitFor(*r, acked.back().lsn);
  ExpectAll(*r, acked);
}

TEST_CASE("a replica the primary can no longer serve fetches a copy of it and follows from there",
          "[replication][backup]") {
  TempDir backups("replication-backups");
  // Nothing in RAM for replicas: every record is read from the WAL's files.
  NodeProcess primary(PrimaryToml("buffer_mb = 0\n[backup]\npath = \"" + backups.path() + "\"\n"), "", "", "",
                      NodeProcess::FreePort());
  auto p = Connect(primary);
  auto first = Put(*p, "first-", 4000);  // ~2 MB compressed: more than a segment
  REQUIRE(RunCli(CliArgsFor(primary, {"memory", "sync", "--force"})).exit_code == 0);
  // No backup yet: the released segments are gone, LSN 1 with them. The
  // replica is refused, fetches a copy (a backup the primary makes for
  // it), restarts onto it and follows.
  TempDir replica_data("replica-data");
  const std::string replica_store = replica_data.path() + "/data";
  NodeProcess replica(ReplicaToml(primary), "", replica_store, "", NodeProcess::FreePort());
  auto r = Connect(replica);
  WaitFor(*r, first.back().lsn);
  CHECK_THAT(replica.log(), Contains("no longer has the records the replica needs") &&
                                Contains("a verified copy of the primary is in") && Contains("restored the primary's copy"));
  CHECK(std::filesystem::exists(replica_store + "/store.before-resync"));
  CHECK_FALSE(std::filesystem::exists(replica_store + "/resync"));
  ExpectAll(*r, first);
  auto second = Put(*p, "second-", 4000);
  REQUIRE(RunCli(CliArgsFor(primary, {"memory", "sync", "--force"})).exit_code == 0);  // archives segments
  WaitFor(*r, second.back().lsn);
  ExpectAll(*r, second);

  // By hand: a backup of the primary restored as the replica's store keeps
  // the primary's identity; the replica follows from there, reading the
  // primary's WAL files and archive.
  const JsonValue backup = RunCli(CliArgsFor(primary, {"--json", "memory", "backup"})).Json();
  const std::string backup_dir = backup["path"].string;
  REQUIRE(!backup_dir.empty());
  replica.Stop();
  auto third = Put(*p, "third-", 4000);
  REQUIRE(RunCli(CliArgsFor(primary, {"memory", "sync", "--force"})).exit_code == 0);
  std::filesystem::remove_all(replica_store);
  CliResult restored =
      RunProgram("dragon_node", {"--config", replica.config_path(), "--restore", backup_dir, "--as-replica"});
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK_THAT(restored.out, Contains("/epoch 1"));
  replica.Start();
  r = Connect(replica);
  WaitFor(*r, third.back().lsn);
  ExpectAll(*r, first);
  ExpectAll(*r, second);
  ExpectAll(*r, third);
}

TEST_CASE("a replica that stops reading keeps the primary's memory bounded", "[replication]") {
  NodeProcess primary(PrimaryToml("buffer_mb = 8\n"), "", "", "", NodeProcess::FreePort());
  auto p = Connect(primary);
  auto anon_rss = [&] {
    std::string status = ReadFile("/proc/" + std::to_string(primary.pid()) + "/status");
    auto at = status.find("RssAnon:");
    return std::stoull(status.substr(at + 8)) * 1024;  // kB
  };
  auto flood = [&](const std::string& prefix) {  // ~60 MB of writes
    for (int batch = 0; batch < 5; ++batch) Put(*p, prefix + std::to_string(batch) + "-", 15000);
  };
  // What the node grows by taking writes with no replica...
  Put(*p, "warm-", 2000);
  const std::uint64_t start = anon_rss();
  flood("alone-");
  const std::uint64_t alone = anon_rss() - start;
  // ... and with a replica that asks for everything and never reads a batch.
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(primary.port()), grpc::InsecureChannelCredentials());
  auto stub = postdevai::replication::v1::Replication::NewStub(channel);
  grpc::ClientContext ctx;
  postdevai::replication::v1::FollowRequest req;
  req.set_from_lsn(1);
  auto identity = p->ReplicationStatus();
  REQUIRE(identity.ok());
  req.mutable_store()->set_id(std::stoull(identity->store.substr(0, 16), nullptr, 16));
  req.mutable_store()->set_epoch(1);
  auto reader = stub->Follow(&ctx, req);  // never read
  const std::uint64_t before = anon_rss();
  flood("stalled-");
  const std::uint64_t stalled = anon_rss() - before;
  INFO("RssAnon growth: " << (alone >> 20) << " MiB with no replica, " << (stalled >> 20)
                          << " MiB with a stalled one");
  // The stalled stream holds one batch and its window, and the log its 8
  // MiB: far less than the 60 MB it did not read.
  CHECK(stalled < alone + (24u << 20));
  auto status = p->ReplicationStatus();
  REQUIRE(status.ok());
  CHECK(status->replicas == 1);
  CHECK(status->buffer_bytes <= (8u << 20));
  ctx.TryCancel();
}

TEST_CASE("a promoted replica takes writes in a new epoch and its former primary refuses them", "[replication]") {
  const std::uint16_t primary_port = NodeProcess::FreePort();
  NodeProcess primary(PrimaryToml(), "", "", "", primary_port);
  const std::string primary_data = primary.disk().path() + "/data";
  auto p = Connect(primary);
  auto before = Put(*p, "before-", 500);
  NodeProcess replica(ReplicaToml(primary), "", "", "", NodeProcess::FreePort());
  auto r = Connect(replica);
  WaitFor(*r, before.back().lsn);
  primary.Kill();

  // Promotion: a new epoch from the next LSN; writes taken.
  CHECK(RunCli(CliArgsFor(primary, {"replication", "status"})).exit_code == 3);
  const JsonValue promoted = RunCli(CliArgsFor(replica, {"--json", "replication", "promote"})).Json();
  CHECK_THAT(promoted["store"].string, Contains("/epoch 2"));
  CHECK(promoted["first_lsn"].u64() == before.back().lsn + 1);
  auto after = Put(*r, "after-", 200);
  CHECK(after.front().lsn == before.back().lsn + 1);
  CHECK(RunCli(CliArgsFor(replica, {"replication", "promote"})).exit_code == 1);  // not a replica any more
  // The promotion survives a restart with the old config.
  replica.Stop();
  replica.Start();
  r = Connect(replica);
  CHECK(r->ReplicationStatus()->role == "primary");
  CHECK(r->PutMetadata("after-restart", "yes").ok());

  // The former primary comes back: it takes no write before it is told it
  // was replaced, and refuses them from then on, across restarts.
  primary.Start();
  p = Connect(primary);
  CHECK(p->PutMetadata("stale-at-once", "write").status().code() == StatusCode::kClosed);
  Eventually(20, [&] { return !p->ReplicationStatus()->fenced.empty(); });
  CHECK_THAT(p->ReplicationStatus()->fenced, Contains("127.0.0.1:" + std::to_string(replica.port())));
  Status refused = p->PutMetadata("stale", "write").status();
  CHECK(refused.code() == StatusCode::kClosed);
  const JsonValue diagnosis = RunCli(CliArgsFor(primary, {"--json", "diagnose", "memory"})).Json();
  for (const auto& f : diagnosis["findings"].array) {
    if (f["check"].string == "replication") CHECK(f["status"].string == "critical");
  }
  CHECK_THAT(refused.message(), Contains("replaced by its promoted replica"));
  primary.Stop();
  primary.Start();
  p = Connect(primary);
  CHECK(p->PutMetadata("stale-again", "write").status().code() == StatusCode::kClosed);
  primary.Stop();

  // Made a replica of the new primary, the former one follows it: it holds
  // nothing the new one lacks (everything it took reached the replica
  // before it died), so it takes the new epoch and what came after.
  NodeProcess follower(ReplicaToml(replica), "", primary_data);
  auto f = Connect(follower);
  auto later = Put(*r, "later-", 50);
  WaitFor(*f, later.back().lsn);
  CHECK_THAT(f->ReplicationStatus()->store, Contains("/epoch 2"));
  CHECK(f->ReplicationStatus()->fenced.empty());
  ExpectAll(*f, before);
  ExpectAll(*f, after);
  ExpectAll(*f, later);
}

TEST_CASE("a former primary that took writes the promoted replica never got is refused and becomes a copy",
          "[replication]") {
  NodeProcess primary(PrimaryToml(), "", "", "", NodeProcess::FreePort());
  const std::string primary_data = primary.disk().path() + "/data";
  auto p = Connect(primary);
  auto shared = Put(*p, "shared-", 100);
  NodeProcess replica(ReplicaToml(primary), "", "", "", NodeProcess::FreePort());
  auto r = Connect(replica);
  WaitFor(*r, shared.back().lsn);
  replica.Stop();  // the replica falls behind ...
  auto lost = Put(*p, "only-on-the-old-primary-", 20);
  primary.Stop();
  replica.Start();  // ... and is promoted without them
  r = Connect(replica);
  REQUIRE(RunCli(CliArgsFor(replica, {"replication", "promote"})).exit_code == 0);
  auto after = Put(*r, "after-", 20);
  NodeProcess follower(ReplicaToml(replica), "", primary_data, "", NodeProcess::FreePort());
  auto f = Connect(follower);
  // It is refused as diverged, and becomes a copy of the new primary (the
  // same LSNs, of the new epoch); what only it held stays in the store it
  // moved aside.
  Eventually(60, [&] {
    auto status = f->ReplicationStatus();
    return status.ok() && status->store.find("/epoch 2") != std::string::npos;
  });
  REQUIRE_THAT(f->ReplicationStatus()->store, Contains("/epoch 2"));
  WaitFor(*f, after.back().lsn);
  CHECK_THAT(follower.log(), Contains("diverged") && Contains("fetching a copy of it"));
  ExpectAll(*f, after);
  ExpectAll(*f, shared);
  CHECK(f->GetMetadata(lost.front().key).status().IsNotFound());
  CHECK(std::filesystem::exists(primary_data + "/store.before-resync"));
}
