// Backups, restore and store identity with real processes: a dragon_node
// taking writes over gRPC, `postdevai-cli memory backup` and `backup
// list|verify`, `dragon_node --restore` to an LSN and to a time, and nodes
// refusing another store's files.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "rpc/grpc_client.h"
#include "storage/backup.h"
#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_connection.h"
#include "tests/helpers/node_process.h"
#include "tests/helpers/test_values.h"

using namespace postdevai;
using namespace postdevai::testing;
using Catch::Matchers::Contains;

namespace {

std::string Value(int i) { return IncompressibleValue(i, 3000, "write "); }

struct Written {
  std::string key;
  std::string value;
  std::uint64_t lsn = 0;
};

// What each key holds after every write whose LSN is at most `lsn`.
std::map<std::string, std::string> StateAt(const std::vector<Written>& writes, std::uint64_t lsn) {
  std::map<std::string, std::string> state;
  for (const auto& w : writes) {
    if (w.lsn <= lsn) state[w.key] = w.value;
  }
  return state;
}

std::uint64_t NowMicros() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Every key of `keys` holds exactly what `expected` says (absent: not found).
void ExpectState(rpc::MemoryConnection& memory, const std::vector<std::string>& keys,
                 const std::map<std::string, std::string>& expected) {
  std::size_t present = 0;
  for (const auto& key : keys) {
    auto got = memory.GetMetadata(key);
    auto want = expected.find(key);
    INFO(key);
    if (want == expected.end()) {
      CHECK(got.status().IsNotFound());
    } else {
      INFO(got.status().ToString());
      REQUIRE(got.ok());
      CHECK(got->value == want->second);
      ++present;
    }
  }
  CHECK(present == expected.size());
}

std::string BackupToml(const std::string& backups) {
  return "[wal]\nsegment_size_mb = 1\n[backup]\npath = \"" + backups + "\"\nkeep = 5\n";
}

}  // namespace

TEST_CASE("a backup taken during writes restores to an LSN and to a time, exactly", "[backup][restore]") {
  TempDir backups("backups");
  NodeProcess node(BackupToml(backups.path()));
  auto memory = Connect(node);
  std::vector<Written> writes;
  std::vector<std::string> keys;
  for (int k = 0; k < 200; ++k) keys.push_back("key-" + std::to_string(k));
  auto put = [&](int i) {
    Written w{keys[static_cast<std::size_t>(i) % keys.size()], Value(i), 0};
    auto lsn = memory->PutMetadata(w.key, w.value);
    if (!lsn.ok()) throw std::runtime_error(lsn.status().ToString());
    w.lsn = *lsn;
    writes.push_back(std::move(w));
  };

  // 1. A backup while a writer goes on: it writes until the backup is done
  // and 200 writes more (and at least 1,200 in all).
  std::atomic<int> done{0};
  std::atomic<int> stop_after{1 << 30};
  std::thread writer([&] {
    for (int i = 0; i < 1200 || i < stop_after; ++i) {
      put(i);
      done = i + 1;
    }
  });
  while (done < 500) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CliResult backup = RunCli(CliArgsFor(node, {"--json", "memory", "backup"}));
  stop_after = done + 200;
  writer.join();
  INFO(backup.err);
  REQUIRE(backup.exit_code == 0);
  const JsonValue made = backup.Json();
  const std::string backup_dir = made["path"].string;
  const std::uint64_t backup_lsn = made["lsn"].u64();
  CHECK(backup_lsn >= writes[499].lsn);
  CHECK(backup_lsn + 200 <= writes.back().lsn);  // the writer went on after it
  CHECK(made["files"].u64() > 0);

  // 2. More writes, with a moment in the middle; checkpoints archive the log.
  const int base = static_cast<int>(writes.size());
  const int at_target = base + 400, at_moment = base + 800;
  std::uint64_t moment = 0;
  for (int i = base; i < base + 2200; ++i) {
    put(i);
    if (i == at_moment) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      moment = NowMicros();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (i == base + 1400) REQUIRE(RunCli(CliArgsFor(node, {"memory", "sync", "--force"})).exit_code == 0);
  }
  REQUIRE(RunCli(CliArgsFor(node, {"memory", "sync", "--force"})).exit_code == 0);
  // Writes no checkpoint covers: in the live WAL only, never archived.
  for (int i = base + 2200; i < base + 2250; ++i) put(i);
  // The node reports the backup and the archive it keeps for it.
  const JsonValue stats = RunCli(CliArgsFor(node, {"--json", "memory", "stats"})).Json();
  CHECK(stats["sync"]["backups"]["backups"].u64() == 1);
  CHECK(stats["sync"]["backups"]["last_backup_lsn"].u64() == backup_lsn);
  CHECK(stats["sync"]["backups"]["archive_segments"].u64() >= 3);
  node.Stop();

  // The location lists it, verifies it, and holds the archive it needs.
  CliResult list = RunCli({"--json", "backup", "list", backups.path()});
  REQUIRE(list.exit_code == 0);
  CHECK(list.Json()["backups"].array.size() == 1);
  CHECK(list.Json()["archive_segments"].u64() >= 3);
  CliResult verify = RunCli({"backup", "verify", backup_dir});
  INFO(verify.err);
  CHECK(verify.exit_code == 0);
  auto archive = storage::ListArchive(storage::FileSystem::Default(), storage::ArchiveDir(backups.path()));
  REQUIRE(archive.ok());
  REQUIRE_FALSE(archive->empty());
  const std::uint64_t target = writes[static_cast<std::size_t>(at_target)].lsn;
  REQUIRE(target < archive->back().first_lsn);  // the archive holds all of it

  // 3. The data disk is lost: store and WAL gone (the archive is elsewhere).
  const std::string data = node.disk() / "data";
  std::filesystem::rename(data + "/store", data + "/store.lost");
  std::filesystem::rename(data + "/wal", data + "/wal.lost");

  // A dry run says what it would do and changes nothing.
  CliResult dry = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir, "--to-lsn",
                                             std::to_string(target), "--dry-run"});
  INFO(dry.out + dry.err);
  REQUIRE(dry.exit_code == 0);
  CHECK_THAT(dry.out, Contains("dry run") && Contains("archived WAL segments"));
  CHECK_FALSE(std::filesystem::exists(data + "/store"));

  // A target past the archive is refused, and nothing is restored.
  CliResult too_far = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir,
                                                 "--to-lsn", std::to_string(writes.back().lsn + 100000)});
  CHECK(too_far.exit_code == 1);
  CHECK_THAT(too_far.out + too_far.err, Contains("past what backup"));
  CHECK_FALSE(std::filesystem::exists(data + "/store/CURRENT"));

  SECTION("to an LSN") {
    CliResult restored = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir,
                                                    "--to-lsn", std::to_string(target)});
    INFO(restored.out + restored.err);
    REQUIRE(restored.exit_code == 0);
    CHECK_THAT(restored.out, Contains("up to LSN " + std::to_string(target)));
    node.Start();
    // The RAM-Lake still holds the lost store's newer values: refused.
    CHECK_THAT(node.log(), Contains("another store, or to this store before a restore"));
    auto again = Connect(node);
    ExpectState(*again, keys, StateAt(writes, target));
    // The restored node takes writes after the target.
    auto lsn = again->PutMetadata("after-restore", "yes");
    REQUIRE(lsn.ok());
    CHECK(*lsn > target);
  }
  SECTION("to the last write, with the old WAL's segments no checkpoint archived") {
    const std::uint64_t last = writes.back().lsn;
    CliResult refused = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir,
                                                   "--to-lsn", std::to_string(last)});
    CHECK(refused.exit_code == 1);  // the archive alone does not reach it
    CliResult restored = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir,
                                                    "--wal", data + "/wal.lost", "--to-lsn", std::to_string(last)});
    INFO(restored.out + restored.err);
    REQUIRE(restored.exit_code == 0);
    node.Start();
    auto again = Connect(node);
    ExpectState(*again, keys, StateAt(writes, last));
  }
  SECTION("to a time") {
    const std::string at = "@" + std::to_string(moment / 1000000) + "." + std::to_string(1000000 + moment % 1000000).substr(1);
    CliResult restored =
        RunProgram("dragon_node", {"--config", node.config_path(), "--restore", backup_dir, "--to-time", at});
    INFO(restored.out + restored.err);
    REQUIRE(restored.exit_code == 0);
    node.Start();
    auto again = Connect(node);
    // Writes up to at_moment were acknowledged before the moment, the rest after it.
    ExpectState(*again, keys, StateAt(writes, writes[static_cast<std::size_t>(at_moment)].lsn));
  }
}

TEST_CASE("a restore carries the vector index: the restored node loads it and serves every vector up to the target",
          "[backup][restore][vectors]") {
  TempDir backups("backups-vectors");
  NodeProcess node(BackupToml(backups.path()) + "[vectors]\ndimension = 8\nmodel = \"test\"\n");
  auto memory = Connect(node);
  // File i has one chunk whose embedding is its own direction.
  auto embedding = [](int i) {
    std::vector<float> v(8);
    double norm = 0;
    for (int d = 0; d < 8; ++d) {
      v[d] = static_cast<float>(std::cos(0.7 * (i + 1) * (d + 1)) + (d == i % 8 ? 2.0 : 0.0));
      norm += double(v[d]) * v[d];
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  };
  auto path = [](int i) { return "src/file" + std::to_string(i) + ".cc"; };
  auto store = [&](int i) {
    client::CodeFile f;
    f.path = path(i);
    f.content = "int f" + std::to_string(i) + "();\n";
    f.language = "cpp";
    f.chunk_embeddings = {embedding(i)};
    auto stored = memory->StoreCode(f);
    INFO(stored.status().ToString());
    REQUIRE(stored.ok());
    return stored->lsn;
  };
  for (int i = 0; i < 30; ++i) store(i);
  // A clean stop writes the index's snapshot; 5 files come after it, then
  // the backup (which carries that snapshot), then 5 more.
  memory.reset();
  node.Stop();
  node.Start();
  memory = Connect(node);
  for (int i = 30; i < 35; ++i) store(i);
  auto made = memory->Backup();
  INFO(made.status().ToString());
  REQUIRE(made.ok());
  REQUIRE(std::filesystem::exists(made->path + "/ramlake/vectors.index"));
  std::uint64_t target = 0;
  for (int i = 35; i < 40; ++i) {
    const std::uint64_t lsn = store(i);
    if (i == 37) target = lsn;  // files 38 and 39 come after the target
  }
  memory.reset();
  node.Stop();
  const std::string data = node.disk() / "data";
  std::filesystem::rename(data + "/store", data + "/store.lost");
  std::filesystem::rename(data + "/wal", data + "/wal.lost");

  CliResult restored = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", made->path, "--wal",
                                                  data + "/wal.lost", "--to-lsn", std::to_string(target)});
  INFO(restored.out + restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK_THAT(restored.out, Contains("vector index is loaded from the backup's snapshot"));
  node.Start();
  // Loaded, not rebuilt, and brought up to the target: files 30 to 37.
  CHECK_THAT(node.log(), Contains("vector index loaded from") && Contains("8 records re-applied"));
  auto again = Connect(node);
  for (int i = 0; i < 40; ++i) {
    auto hits = again->SearchSimilar(embedding(i), 1);
    INFO(path(i) << ": " << hits.status().ToString());
    REQUIRE(hits.ok());
    REQUIRE_FALSE(hits->empty());
    if (i <= 37) {
      CHECK(hits->front().path == path(i));
    } else {
      CHECK(hits->front().path != path(i));  // after the target: gone with it
    }
  }
}

TEST_CASE("backup verify names a flipped byte, and a restore refuses the backup", "[backup]") {
  TempDir backups("backups-flip");
  NodeProcess node(BackupToml(backups.path()));
  auto memory = Connect(node);
  for (int i = 0; i < 300; ++i) REQUIRE(memory->PutMetadata("key-" + std::to_string(i), Value(i)).ok());
  CliResult backup = RunCli(CliArgsFor(node, {"--json", "memory", "backup"}));
  REQUIRE(backup.exit_code == 0);
  const std::string dir = backup.Json()["path"].string;
  node.Stop();

  auto manifest = storage::ReadBackupManifest(storage::FileSystem::Default(), dir);
  REQUIRE(manifest.ok());
  // The largest file: a table holding values.
  auto largest = std::max_element(manifest->files.begin(), manifest->files.end(),
                                  [](const auto& a, const auto& b) { return a.bytes < b.bytes; });
  const std::string victim = dir + "/" + largest->path;
  std::string bytes = ReadFile(victim);
  bytes[bytes.size() / 2] ^= 0x10;
  WriteFile(victim, bytes);

  CliResult verify = RunCli({"backup", "verify", dir});
  CHECK(verify.exit_code == 1);
  CHECK_THAT(verify.err, Contains(largest->path) && Contains("CRC32C"));
  CliResult json = RunCli({"--json", "backup", "verify", dir});
  CHECK(json.exit_code == 1);

  const std::string data = node.disk() / "data";
  std::filesystem::rename(data + "/store", data + "/store.old");
  std::filesystem::rename(data + "/wal", data + "/wal.old");
  CliResult restored = RunProgram("dragon_node", {"--config", node.config_path(), "--restore", dir});
  CHECK(restored.exit_code == 1);
  CHECK_THAT(restored.out + restored.err, Contains("fails verification"));
  CHECK_FALSE(std::filesystem::exists(data + "/store/CURRENT"));
}

TEST_CASE("backups beyond keep are pruned, and the archive with them", "[backup]") {
  TempDir backups("backups-prune");
  NodeProcess node("[wal]\nsegment_size_mb = 1\n[backup]\npath = \"" + backups.path() + "\"\nkeep = 2\n");
  auto memory = Connect(node);
  int i = 0;
  for (int round = 0; round < 4; ++round) {
    for (int n = 0; n < 700; ++n, ++i) REQUIRE(memory->PutMetadata("key-" + std::to_string(i % 100), Value(i)).ok());
    REQUIRE(RunCli(CliArgsFor(node, {"memory", "sync", "--force"})).exit_code == 0);
    REQUIRE(RunCli(CliArgsFor(node, {"memory", "backup"})).exit_code == 0);
  }
  auto listed = storage::ListBackups(storage::FileSystem::Default(), backups.path());
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  // What is archived is only what the oldest kept backup needs: nothing
  // wholly before its LSN.
  auto archive = storage::ListArchive(storage::FileSystem::Default(), storage::ArchiveDir(backups.path()));
  REQUIRE(archive.ok());
  for (std::size_t s = 0; s + 1 < archive->size(); ++s) {
    CHECK((*archive)[s + 1].first_lsn > listed->front().lsn);
  }
  const JsonValue status = RunCli(CliArgsFor(node, {"--json", "memory", "sync-status"})).Json();
  CHECK(status["backups"]["backups"].u64() == 2);
  CHECK(status["backups"]["last_backup_lsn"].u64() == listed->back().lsn);
  CHECK(status["backups"]["archive_segments"].u64() == archive->size());

  // The CLI's own prune, with no node needed.
  node.Stop();
  CliResult prune = RunCli({"--json", "backup", "prune", backups.path(), "--keep", "1"});
  REQUIRE(prune.exit_code == 0);
  CHECK(prune.Json()["removed"].array.size() == 1);
  CHECK(RunCli({"backup", "prune", backups.path(), "--keep", "0"}).exit_code == 2);
  CHECK(RunCli({"backup", "prune", backups.path()}).exit_code != 0);
}

TEST_CASE("a second node on the same directories is refused with a clear error", "[backup][identity]") {
  NodeProcess node;
  CliResult second = RunProgram("dragon_node", {"--config", node.config_path()});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.out + second.err, Contains("another process"));
}

TEST_CASE("another store's WAL is refused, and its RAM-Lake files are rebuilt, not served", "[backup][identity]") {
  TempDir shared("shared");
  const std::string ramlake = std::string("/dev/shm/postdevai-test-shared-ramlake-") + std::to_string(::getpid());
  struct RemoveRamLake {
    std::string path;
    ~RemoveRamLake() { std::filesystem::remove_all(path); }
  } remove_ramlake{ramlake};
  TempDir data_a("store-a"), data_b("store-b");

  // Two configs that differ only in persistent_path share the RAM-Lake.
  {
    NodeProcess a("", "", data_a.path(), ramlake);
    REQUIRE(Connect(a)->PutMetadata("owner", "A").ok());
  }
  {
    NodeProcess b("", "", data_b.path(), ramlake);
    CHECK_THAT(b.log(), Contains("another store"));
    auto memory = Connect(b);
    CHECK(memory->GetMetadata("owner").status().IsNotFound());
    REQUIRE(memory->PutMetadata("owner", "B").ok());
  }
  {
    NodeProcess a("", "", data_a.path(), ramlake);
    auto got = Connect(a)->GetMetadata("owner");
    REQUIRE(got.ok());
    CHECK(got->value == "A");
  }

  // Two nodes given one WAL directory: the second is refused.
  TempDir wal("shared-wal");
  const std::string wal_toml = "[wal]\npath = \"" + wal.path() + "/wal\"\n";
  {
    NodeProcess a(wal_toml, "", data_a.path() + "/other");
    REQUIRE(Connect(a)->PutMetadata("k", "v").ok());
  }
  NodeProcess probe;  // a config to copy, with a store of its own
  const std::string config = probe.disk() / "with-shared-wal.toml";
  WriteFile(config, ReadFile(probe.config_path()) + wal_toml);
  probe.Stop();
  CliResult b = RunProgram("dragon_node", {"--config", config});
  CHECK(b.exit_code == 1);
  CHECK_THAT(b.out + b.err, Contains("belongs to store") && Contains("another node"));
}
