// The config layer: dragon_node.toml parsing, the error messages for each kind
// of mistake, validation against this machine (on real paths: /dev/shm is a
// tmpfs, the build directory a disk), embedded defaults, and printing back.
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config_cli.h"
#include "config/config_schema.h"
#include "config/machine_probe.h"
#include "postdevai/config.h"
#include "tests/test_util.h"

namespace postdevai {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

const std::string kDragonNodeToml = std::string(POSTDEVAI_SOURCE_DIR) + "/dragon_node.toml";
// A directory on the work disk (not a RAM disk) that tests may name but never create.
const std::string kDiskDir = std::string(POSTDEVAI_BIN_DIR) + "/config_test_data";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The 1-based line of the first line of `text` that starts with `prefix`.
int LineOf(const std::string& text, std::string_view prefix) {
  std::istringstream lines(text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.starts_with(prefix)) return n;
  }
  FAIL("no line starts with " << prefix);
  return 0;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The problems ParseConfig reports for `text` (which must fail), one per element.
std::vector<std::string> ParseErrors(const std::string& text,
                                     std::vector<std::string>* warnings = nullptr) {
  Result<HybridMemoryConfig> config = ParseConfig(text, "dragon_node.toml", warnings);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == StatusCode::kInvalidArgument);
  return SplitLines(config.status().message());
}

HybridMemoryConfig ParseOk(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  Result<HybridMemoryConfig> config = ParseConfig(text, "test.toml", warnings);
  INFO(config.status().ToString());
  REQUIRE(config.ok());
  return std::move(config).value();
}

std::uint64_t FileSystemSize(const std::string& path) {
  struct statvfs vfs {};
  REQUIRE(statvfs(path.c_str(), &vfs) == 0);
  return std::uint64_t(vfs.f_blocks) * vfs.f_frsize;
}

TEST_CASE("data kinds have stable names", "[config]") {
  for (DataKind kind : kAllDataKinds) {
    REQUIRE(DataKindFromName(DataKindName(kind)) == kind);
  }
  CHECK(DataKindName(DataKind::kVectors) == "vectors");
  CHECK(DataKindName(DataKind::kCode) == "code");
  CHECK(DataKindName(DataKind::kHistory) == "history");
  CHECK(DataKindName(DataKind::kMetadata) == "metadata");
  CHECK_FALSE(DataKindFromName("vector").has_value());
}

TEST_CASE("the shipped dragon_node.toml parses cleanly with the Dragon Node's sizes", "[config]") {
  std::vector<std::string> warnings;
  Result<HybridMemoryConfig> config = LoadConfigFile(kDragonNodeToml, &warnings);
  INFO(config.status().ToString());
  REQUIRE(config.ok());
  CHECK(warnings.empty());
  CHECK(config->ramlake_size_gb == 200.0);
  CHECK(config->RamLakeBytes() == 200 * kGiB);
  CHECK(config->persistent_size_tb == 1.0);
  CHECK(config->cache_size_mb == 2048);
  CHECK(config->hot_retention_hours == 24);
  CHECK(config->sync_interval_minutes == 5);
  CHECK(config->max_ram_entries == 10'000'000);
  CHECK(config->compression == Compression::kZstd);
  CHECK(config->partition(DataKind::kCode).share_percent == 40);
  CHECK(config->partition(DataKind::kCode).eviction == EvictionPolicy::kS3Fifo);
  CHECK(config->partition(DataKind::kCode).zstd_level == 6);
  CHECK(config->PartitionBytes(DataKind::kVectors) == 200 * kGiB / 100 * 30);
  CHECK(config->origin.source_name == kDragonNodeToml);
}

TEST_CASE("dragon_node.toml does not validate here: its RAM-Lake exceeds the RAM disk", "[config]") {
  std::vector<std::string> warnings;
  Result<HybridMemoryConfig> config = LoadConfigFile(kDragonNodeToml, &warnings);
  REQUIRE(config.ok());
  const std::uint64_t shm_size = FileSystemSize("/dev/shm");
  if (shm_size >= 200 * kGiB) {
    WARN("not checked: this machine's /dev/shm holds 200 GiB");
    return;
  }

  Status status = ValidateConfig(*config, &warnings);
  REQUIRE_FALSE(status.ok());
  const int line = LineOf(ReadFile(kDragonNodeToml), "ramlake_size_gb");
  CHECK_THAT(status.message(),
             Contains(kDragonNodeToml + ":" + std::to_string(line) + ":1: hybrid_memory.ramlake_size_gb: "
                      "a RAM-Lake of 200 GiB does not fit on the RAM disk (tmpfs) holding "
                      "/dev/shm/postdevai/ramlake") &&
                 Contains("which holds " + config::FormatBytes(shm_size) + " in all"));
}

TEST_CASE("a syntax error names the file, line and column", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "[hybrid_memory]\n"
      "cache_size_mb = = 3\n");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], StartsWith("dragon_node.toml:2:") && Contains("TOML syntax error"));
}

TEST_CASE("a wrong type names file, line, key, expected and actual type", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "# comment\n"
      "[hybrid_memory]\n"
      "ramlake_size_gb = 1\n"
      "cache_size_mb = \"2048\"\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "dragon_node.toml:4:1: hybrid_memory.cache_size_mb: expected an integer, got string");

  errors = ParseErrors("[hybrid_memory]\nmax_ram_entries = 1.5\n");
  CHECK(errors == std::vector<std::string>{
                      "dragon_node.toml:2:1: hybrid_memory.max_ram_entries: expected an integer, got float"});
  errors = ParseErrors("wal = 3\n");
  CHECK(errors == std::vector<std::string>{"dragon_node.toml:1:1: wal: expected a table, got integer"});
  errors = ParseErrors("[replication]\nprimary = 2\n");
  CHECK(errors == std::vector<std::string>{"dragon_node.toml:2:1: replication.primary: expected a string, got integer"});
}

TEST_CASE("an unknown key names the nearest valid key", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "[hybrid_memory]\n"
      "ramlake_sise_gb = 8\n");
  CHECK(errors == std::vector<std::string>{
                      "dragon_node.toml:2:1: unknown key 'hybrid_memory.ramlake_sise_gb' — did you "
                      "mean 'ramlake_size_gb'?"});

  // Swapped letters, a misspelt section, a misspelt partition, case.
  CHECK_THAT(ParseErrors("[wal]\nsegmnet_size_mb = 8\n")[0], Contains("did you mean 'segment_size_mb'?"));
  CHECK_THAT(ParseErrors("[hybrid_memori]\ncache_size_mb = 8\n")[0],
             StartsWith("dragon_node.toml:1:2: unknown key 'hybrid_memori'") &&
                 Contains("did you mean 'hybrid_memory'?"));
  CHECK_THAT(ParseErrors("[partitions.vector]\nshare = 30\n")[0],
             Contains("unknown key 'partitions.vector' — did you mean 'vectors'?"));
  CHECK_THAT(ParseErrors("[node]\nPORT = 1\n")[0], Contains("did you mean 'port'?"));
  // The right key in the wrong place: name where it belongs.
  CHECK(ParseErrors("ramlake_size_gb = 8\n") ==
        std::vector<std::string>{"dragon_node.toml:1:1: unknown key 'ramlake_size_gb' — did you mean "
                                 "'hybrid_memory.ramlake_size_gb'?"});
  CHECK_THAT(ParseErrors("[hybrid_memory]\nsegment_size_mb = 8\n")[0],
             Contains("did you mean 'wal.segment_size_mb'?"));
  // Nothing close: list what is valid instead of guessing.
  CHECK_THAT(ParseErrors("[tiering]\ncolour = 1\n")[0],
             Contains("unknown key 'tiering.colour' (valid here: promote_after_hits, "
                      "pass_interval_seconds, prefetch)"));
}

TEST_CASE("out-of-range values say what is allowed and what was given", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "[hybrid_memory]\n"
      "ramlake_size_gb = -2.5\n"
      "persistent_size_tb = 0\n"
      "compression = \"lz4\"\n"
      "cache_size_mb = -5\n"
      "ramlake_path = \"ramlake\"\n"
      "[partitions.code]\n"
      "zstd_level = 25\n"
      "eviction = \"arc\"\n"
      "[node]\n"
      "port = 70000\n"
      "[replication]\n"
      "primary = \"dragon3\"\n");
  CHECK(errors == std::vector<std::string>{
      "dragon_node.toml:2:1: hybrid_memory.ramlake_size_gb: must be between 0.0009765625 (1 MiB) "
      "and 1048576 (1 PiB), got -2.5",
      "dragon_node.toml:3:1: hybrid_memory.persistent_size_tb: must be between 0.0009765625 "
      "(1 GiB) and 1024 (1 PiB), got 0",
      "dragon_node.toml:4:1: hybrid_memory.compression: must be one of \"zstd\", \"none\", got \"lz4\"",
      "dragon_node.toml:5:1: hybrid_memory.cache_size_mb: must be between 1 and 1048576, got -5",
      "dragon_node.toml:6:1: hybrid_memory.ramlake_path: must be an absolute path, got \"ramlake\"",
      "dragon_node.toml:8:1: partitions.code.zstd_level: must be between 1 and 19, got 25",
      "dragon_node.toml:9:1: partitions.code.eviction: must be one of \"lru\", \"sieve\", \"s3fifo\", "
      "got \"arc\"",
      "dragon_node.toml:11:1: node.port: must be between 0 and 65535, got 70000",
      "dragon_node.toml:13:1: replication.primary: expected \"host:port\" with a port in "
      "1..65535, got \"dragon3\"",
  });
  CHECK_THAT(ParseErrors("[hybrid_memory]\nramlake_size_gb = nan\n")[0], Contains("got nan"));
}

TEST_CASE("every kind of problem in one file is reported together, in file order", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "[hybrid_memory]\n"
      "cache_size_mb = \"big\"\n"
      "ramlake_sise_gb = 8\n"
      "[wal]\n"
      "segment_size_mb = 0\n");
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], StartsWith("dragon_node.toml:2:1: hybrid_memory.cache_size_mb: expected"));
  CHECK_THAT(errors[1], StartsWith("dragon_node.toml:3:1: unknown key"));
  CHECK_THAT(errors[2], StartsWith("dragon_node.toml:5:1: wal.segment_size_mb: must be"));
}

TEST_CASE("partition shares must add up to 100", "[config]") {
  // Dotted keys: the position is that of the last part ("share").
  std::vector<std::string> errors = ParseErrors(
      "[partitions]\n"
      "vectors.share = 30\n"
      "code.share = 50\n");
  CHECK(errors == std::vector<std::string>{
                      "dragon_node.toml:2:9: partitions: the shares of the RAM-Lake must add up to "
                      "100 (percent), got vectors 30 + code 50 + history 20 + metadata 10 = 110"});

  // A refused share is reported alone, not also as a wrong sum of the defaults.
  errors = ParseErrors("[partitions.code]\nshare = 150\n");
  CHECK(errors == std::vector<std::string>{
                      "dragon_node.toml:2:1: partitions.code.share: must be between 1 and 100, got 150"});

  HybridMemoryConfig config = ParseOk(
      "[partitions.vectors]\nshare = 25\n"
      "[partitions.code]\nshare = 45\n");
  CHECK(config.partition(DataKind::kVectors).share_percent == 25);
  CHECK(config.partition(DataKind::kCode).share_percent == 45);
}

TEST_CASE("history must stay durable, the other kinds may be relaxed within a bounded sync window", "[config]") {
  std::vector<std::string> errors = ParseErrors(
      "[partitions.history]\n"
      "durability = \"relaxed\"\n");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], StartsWith("dragon_node.toml:2:1: partitions.history.durability: history is "
                                   "always \"durable\"") &&
                            Contains("cannot be rebuilt"));

  HybridMemoryConfig relaxed =
      ParseOk("[partitions.vectors]\ndurability = \"relaxed\"\neviction = \"sieve\"\n[wal]\nrelaxed_sync_ms = 5\n");
  CHECK(relaxed.partition(DataKind::kVectors).durability == Durability::kRelaxed);
  CHECK(relaxed.partition(DataKind::kCode).durability == Durability::kDurable);
  CHECK(relaxed.wal.relaxed_sync_ms == 5);
  CHECK_THAT(ParseErrors("[wal]\nrelaxed_sync_ms = 0\n").at(0), Contains("wal.relaxed_sync_ms"));
  CHECK_THAT(ParseErrors("[wal]\nrelaxed_sync_ms = 60000\n").at(0), Contains("wal.relaxed_sync_ms"));
  HybridMemoryConfig config = ParseOk("[partitions.vectors]\ndurability = \"durable\"\neviction = \"sieve\"\n");
  CHECK(config.partition(DataKind::kVectors).eviction == EvictionPolicy::kSieve);
  CHECK(config.partition(DataKind::kHistory).durability == Durability::kDurable);
}

TEST_CASE("loopback means a loopback address, not a name that starts like one", "[config]") {
  CHECK(IsLoopbackAddress("127.0.0.1"));
  CHECK(IsLoopbackAddress("127.3.2.1"));
  CHECK(IsLoopbackAddress("localhost"));
  CHECK(IsLoopbackAddress("::1"));
  CHECK_FALSE(IsLoopbackAddress("127.evil.example"));
  CHECK_FALSE(IsLoopbackAddress("127.0.0.1.nip.io"));
  CHECK_FALSE(IsLoopbackAddress("10.0.0.1"));
  CHECK_FALSE(IsLoopbackAddress("0.0.0.0"));
  CHECK_THAT(ParseErrors("[node]\naddress = \"127.attacker.example\"\n")[0], Contains("no TLS is configured"));
}

TEST_CASE("node security, ports and replication are checked together", "[config]") {
  CHECK_THAT(ParseErrors("[node]\ncertificate = \"/etc/n.crt\"\n")[0],
             StartsWith("dragon_node.toml:2:1: node: TLS needs certificate and key together (and "
                        "ca_file with them for mutual TLS); certificate set but key, ca_file missing"));
  CHECK_THAT(ParseErrors("[node]\naddress = \"0.0.0.0\"\n")[0],
             StartsWith("dragon_node.toml:2:1: node.address: \"0.0.0.0\" is reachable from other "
                        "machines but no TLS is configured"));
  CHECK(ParseOk("[node]\naddress = \"0.0.0.0\"\ninsecure = true\n").node.insecure);
  CHECK(ParseOk("[node]\naddress = \"localhost\"\n").node.address == "localhost");

  CHECK(ParseErrors("[node]\nport = 9000\n[metrics]\nport = 9000\n") ==
        std::vector<std::string>{"dragon_node.toml:4:1: metrics.port: 9000 is node.port too; the node "
                                 "and the metrics endpoint cannot listen on one port"});
  CHECK(ParseOk("[node]\nport = 9000\n[metrics]\nport = 9000\nenabled = false\n").metrics.port == 9000);

  // TLS for the gRPC API: certificate + key (TLS), + ca_file (mutual TLS); a CA alone is a mistake.
  CHECK(ParseOk("[node]\ncertificate = \"/n.crt\"\nkey = \"/n.key\"\n").node.key == "/n.key");
  // Off loopback, TLS alone proves only the node: clients must prove
  // themselves too (mutual TLS or the token), unless insecure says otherwise.
  CHECK_THAT(ParseErrors("[node]\ncertificate = \"/n.crt\"\nkey = \"/n.key\"\naddress = \"0.0.0.0\"\n")[0],
             Contains("with neither node.ca_file (mutual TLS) nor node.token_file anyone who reaches it may read"));
  CHECK(ParseOk("[node]\ncertificate = \"/n.crt\"\nkey = \"/n.key\"\naddress = \"0.0.0.0\"\ntoken_file = \"/t\"\n")
            .node.token_file == "/t");
  // A token would be bypassed through a plaintext CAF endpoint.
  CHECK_THAT(ParseErrors("[node]\ntoken_file = \"/t\"\n[caf]\nenabled = true\ninsecure = true\n")[0],
             Contains("caf.insecure: node.token_file guards the gRPC API"));
  CHECK_THAT(ParseErrors("[node]\nca_file = \"/ca.crt\"\n")[0],
             Contains("TLS needs certificate and key together"));

  // The CAF endpoint is off by default; on, it needs mutual TLS, or loopback with caf.insecure.
  CHECK_FALSE(ParseOk("").caf.enabled);
  CHECK_THAT(ParseErrors("[caf]\nenabled = true\n")[0],
             Contains("caf.enabled: the CAF endpoint needs mutual TLS (node.certificate, node.key and node.ca_file), "
                      "or caf.insecure = true to serve plaintext on loopback"));
  CHECK(ParseOk("[caf]\nenabled = true\ninsecure = true\n").caf.insecure);
  CHECK_THAT(ParseErrors("[node]\naddress = \"0.0.0.0\"\ninsecure = true\n[caf]\nenabled = true\ninsecure = true\n")[0],
             Contains("caf.enabled: the CAF endpoint on \"0.0.0.0\" needs mutual TLS"));
  CHECK(ParseOk("[node]\ncertificate = \"/n.crt\"\nkey = \"/n.key\"\nca_file = \"/ca.crt\"\naddress = \"0.0.0.0\"\n"
                "[caf]\nenabled = true\n").caf.enabled);
  CHECK_THAT(ParseErrors("[node]\nport = 9100\n[caf]\nenabled = true\ninsecure = true\nport = 9100\n")[0],
             Contains("caf.port: 9100 is node.port (the gRPC API) too"));
  CHECK_THAT(ParseErrors("[grpc]\nmax_message_mb = 0\n")[0], Contains("grpc.max_message_mb"));
  CHECK(ParseOk("[grpc]\nmax_message_mb = 4\nidle_timeout_seconds = 30\ndeadline_seconds = 5\n").grpc.deadline_seconds == 5);
  CHECK_THAT(ParseErrors("[node]\ntoken_file = \"relative/token\"\n")[0], Contains("node.token_file"));

  // A replica needs its primary, and only a replica has one.
  CHECK_THAT(ParseErrors("[replication]\nrole = \"replica\"\n")[0],
             Contains("replication.role: a replica needs replication.primary"));
  CHECK_THAT(ParseErrors("[replication]\nrole = \"primary\"\nprimary = \"dragon2.lan:4710\"\n")[0],
             Contains("replication.primary: only a replica follows a primary"));
  CHECK_THAT(ParseErrors("[replication]\nrole = \"leader\"\n")[0],
             Contains("replication.role: must be one of \"none\", \"primary\", \"replica\""));
  HybridMemoryConfig config =
      ParseOk("[replication]\nrole = \"replica\"\nprimary = \"[::1]:4711\"\nbuffer_mb = 8\n");
  CHECK(config.replication.role == ReplicationRole::kReplica);
  CHECK(config.replication.primary == "[::1]:4711");
  CHECK(config.replication.buffer_mb == 8);
}

TEST_CASE("[backup] takes a path, a schedule and how many to keep, and the WAL archive goes there", "[config]") {
  HybridMemoryConfig config = ParseOk("[backup]\npath = \"/backup/postdevai\"\ninterval_hours = 24\nkeep = 3\n");
  CHECK(config.BackupPath() == "/backup/postdevai");
  CHECK(config.WalArchivePath() == "/backup/postdevai/wal");
  CHECK(config.backup.interval_hours == 24);
  CHECK(config.backup.keep == 3);
  CHECK_THAT(ParseErrors("[backup]\nkeep = 0\n").at(0), Contains("backup.keep"));
  CHECK_THAT(ParseErrors("[backup]\npath = \"relative/dir\"\n").at(0), Contains("backup.path"));
}

TEST_CASE("a zstd level with compression off is a warning", "[config]") {
  std::vector<std::string> warnings;
  HybridMemoryConfig config = ParseOk(
      "[hybrid_memory]\ncompression = \"none\"\n[partitions.code]\nzstd_level = 9\n", &warnings);
  CHECK(config.compression == Compression::kNone);
  CHECK(warnings == std::vector<std::string>{"test.toml:4:1: partitions.code.zstd_level: has no "
                                             "effect: hybrid_memory.compression is \"none\""});
}

TEST_CASE("unset keys keep the defaults, WAL and backups follow persistent_path", "[config]") {
  const HybridMemoryConfig defaults = EmbeddedDefaults();
  HybridMemoryConfig config = ParseOk(
      "[hybrid_memory]\n"
      "ramlake_size_gb = 2   # an integer is a fine number of GiB\n"
      "persistent_path = \"/srv/pdai\"\n");
  CHECK(config.ramlake_size_gb == 2.0);
  CHECK(config.ramlake_path == defaults.ramlake_path);
  CHECK(config.cache_size_mb == defaults.cache_size_mb);
  CHECK(config.WalPath() == "/srv/pdai/wal");
  CHECK(config.BackupPath() == "/srv/pdai/backups");
  CHECK(config.WalArchivePath() == "/srv/pdai/backups/wal");
  CHECK(config.origin.positions.at("hybrid_memory.persistent_path").line == 3);

  config = ParseOk("[wal]\npath = \"/fast/wal\"\n");
  CHECK(config.WalPath() == "/fast/wal");
}

TEST_CASE("embedded defaults fit the machine", "[config]") {
  config::MachineFacts machine;
  machine.mem_total_bytes = 24 * kGiB;
  machine.shm_total_bytes = 24 * kGiB;
  machine.user = "ada";
  machine.data_dir = "/home/ada/.local/share/postdevai";
  machine.data_dir_free_bytes = 80 * kGiB;

  HybridMemoryConfig config = config::DefaultsForMachine(machine);
  CHECK(config.RamLakeBytes() == 3 * kGiB);  // an eighth of the memory
  CHECK(config.ramlake_path == "/dev/shm/postdevai-ada/ramlake");
  CHECK(config.persistent_path == machine.data_dir);
  CHECK(config.WalPath() == machine.data_dir + "/wal");
  CHECK(config.PersistentBytes() == 40 * kGiB);  // half the free space
  CHECK(config.cache_size_mb == 24 * 1024 / 64);

  SECTION("a small /dev/shm caps the RAM-Lake at half of it") {
    machine.shm_total_bytes = 4 * kGiB;
    CHECK(config::DefaultsForMachine(machine).RamLakeBytes() == 2 * kGiB);
  }
  SECTION("the size depends on total memory only, so restarts re-attach") {
    auto first = config::DefaultsForMachine(machine);
    machine.data_dir_free_bytes /= 2;  // other things happen on the machine
    CHECK(config::DefaultsForMachine(machine).RamLakeBytes() == first.RamLakeBytes());
  }
  SECTION("a /dev/shm too small for 64 MiB in half of it is not used") {
    machine.shm_total_bytes = 64 * kMiB;  // Docker's default
    config = config::DefaultsForMachine(machine);
    CHECK(config.ramlake_path == machine.data_dir + "/ramlake");
    CHECK(config.RamLakeBytes() == 3 * kGiB);
  }
  SECTION("little memory still gets 64 MiB, unless that is over a quarter of it") {
    machine.mem_total_bytes = 400 * kMiB;
    config = config::DefaultsForMachine(machine);
    CHECK(config.RamLakeBytes() == 64 * kMiB);
    CHECK(config.cache_size_mb == 8);
    machine.mem_total_bytes = 100 * kMiB;
    CHECK(config::DefaultsForMachine(machine).RamLakeBytes() == 25 * kMiB);
  }
  SECTION("a container's memory limit sizes the RAM-Lake and the cache, not the host's memory") {
    machine.cgroup_memory_limit_bytes = 2 * kGiB;
    config = config::DefaultsForMachine(machine);
    CHECK(config.RamLakeBytes() == 256 * kMiB);
    CHECK(config.cache_size_mb == 32);
    machine.cgroup_memory_limit_bytes = 128 * kMiB;  // too small for the usual 64 MiB floor
    CHECK(config::DefaultsForMachine(machine).RamLakeBytes() == 32 * kMiB);
    machine.cgroup_memory_limit_bytes = 64 * kGiB;  // above the host's memory: the host decides
    CHECK(config::DefaultsForMachine(machine).RamLakeBytes() == 3 * kGiB);
  }
  SECTION("sizes are whole MiB, so they print exactly") {
    machine.mem_total_bytes = 10 * kGiB + 12345;
    config = config::DefaultsForMachine(machine);
    CHECK(config.RamLakeBytes() % kMiB == 0);
    CHECK(config.RamLakeBytes() == (10 * kGiB + 12345) / 8 / kMiB * kMiB);
  }
}

TEST_CASE("the cgroup memory limit is the smallest on the way to the root, v1 or v2", "[config]") {
  testing::TempDir root("cgroup");
  auto write = [&](const std::string& relative, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(root / relative).parent_path());
    testing::WriteFile(root / relative, text + "\n");
  };
  SECTION("v2: the container's memory.max, below a looser parent") {
    write("memory.max", "max");
    write("machine/memory.max", "8589934592");
    write("machine/ctr/memory.max", "268435456");
    CHECK(config::CgroupMemoryLimit("0::/machine/ctr\n", root.path()) == std::optional<std::uint64_t>(256 * kMiB));
    write("machine/memory.max", "134217728");  // a tighter parent wins
    CHECK(config::CgroupMemoryLimit("0::/machine/ctr\n", root.path()) == std::optional<std::uint64_t>(128 * kMiB));
  }
  SECTION("v2: no limit anywhere") {
    write("machine/ctr/memory.max", "max");
    CHECK_FALSE(config::CgroupMemoryLimit("0::/machine/ctr\n", root.path()).has_value());
  }
  SECTION("v1: memory.limit_in_bytes of the memory controller; 'unlimited' is no limit") {
    write("memory/memory.limit_in_bytes", "9223372036854771712");
    write("memory/docker/abc/memory.limit_in_bytes", "536870912");
    const std::string self = "12:pids:/docker/abc\n4:cpu,memory:/docker/abc\n0::/\n";
    CHECK(config::CgroupMemoryLimit(self, root.path()) == std::optional<std::uint64_t>(512 * kMiB));
    write("memory/docker/abc/memory.limit_in_bytes", "9223372036854771712");
    CHECK_FALSE(config::CgroupMemoryLimit(self, root.path()).has_value());
  }
  SECTION("garbage and paths that climb out are ignored") {
    write("memory.max", "268435456");
    CHECK_FALSE(config::CgroupMemoryLimit("nonsense\n0::relative\n0::/../../etc\n", root.path()).has_value());
    write("x/memory.max", "lots");
    CHECK(config::CgroupMemoryLimit("0::/x\n", root.path()) == std::optional<std::uint64_t>(256 * kMiB));
  }
}

TEST_CASE("embedded defaults validate on this machine", "[config]") {
  HybridMemoryConfig config = EmbeddedDefaults();
  std::vector<std::string> warnings;
  Status status = ValidateConfig(config, &warnings);
  INFO(status.ToString());
  CHECK(status.ok());
  CHECK(warnings.empty());
  CHECK(config.RamLakeBytes() >= 64 * kMiB);
  CHECK(config.ramlake_path.starts_with("/dev/shm/postdevai-"));  // this machine has /dev/shm
}

TEST_CASE("ValidateConfig: a RAM-Lake larger than its RAM disk is an error naming both sizes",
          "[config]") {
  const std::uint64_t shm_size = FileSystemSize("/dev/shm");
  const std::string text =
      "[hybrid_memory]\n"
      "ramlake_path = \"/dev/shm/postdevai-config-test/ramlake\"\n"
      "ramlake_size_gb = 1048576\n";
  HybridMemoryConfig config = ParseOk(text);
  Status status = ValidateConfig(config, nullptr);
  CHECK(status.message() ==
        "test.toml:3:1: hybrid_memory.ramlake_size_gb: a RAM-Lake of 1 PiB does not fit "
        "on the RAM disk (tmpfs) holding /dev/shm/postdevai-config-test/ramlake (nearest existing "
        "directory: /dev/shm), which holds " + config::FormatBytes(shm_size) + " in all");
}

TEST_CASE("ValidateConfig: a RAM-Lake on a disk works but is warned about", "[config]") {
  HybridMemoryConfig config = ParseOk("[hybrid_memory]\nramlake_path = \"" + kDiskDir + "/ramlake\"\n");
  std::vector<std::string> warnings;
  CHECK(ValidateConfig(config, &warnings).ok());
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], StartsWith("test.toml:2:1: hybrid_memory.ramlake_path: " + kDiskDir +
                                     "/ramlake is not on a RAM disk"));
}

TEST_CASE("ValidateConfig: persistent store and WAL on a RAM disk are not durable", "[config]") {
  SECTION("the persistent store (its WAL and backups beneath it are not repeated)") {
    HybridMemoryConfig config =
        ParseOk("[hybrid_memory]\npersistent_path = \"/dev/shm/postdevai-config-test/data\"\n");
    Status status = ValidateConfig(config, nullptr);
    CHECK(status.message() ==
          "test.toml:2:1: hybrid_memory.persistent_path: not durable — the RAM disk (tmpfs) holding "
          "/dev/shm/postdevai-config-test/data (nearest existing directory: /dev/shm) is erased by a "
          "reboot or power cut; put it on a real disk");
  }
  SECTION("the WAL alone") {
    HybridMemoryConfig config = ParseOk(
        "[hybrid_memory]\npersistent_path = \"" + kDiskDir + "\"\n"
        "[wal]\npath = \"/dev/shm\"\n");
    Status status = ValidateConfig(config, nullptr);
    CHECK(status.message() ==
          "test.toml:4:1: wal.path: not durable — the RAM disk (tmpfs) holding /dev/shm is erased by a "
          "reboot or power cut; put it on a real disk");
  }
  SECTION("a real disk is fine") {
    HybridMemoryConfig config = ParseOk("[hybrid_memory]\npersistent_path = \"" + kDiskDir + "\"\n");
    CHECK(ValidateConfig(config, nullptr).ok());
  }
}

TEST_CASE("ValidateConfig: a persistent budget beyond the free disk space is only a warning",
          "[config]") {
  HybridMemoryConfig config = ParseOk(
      "[hybrid_memory]\n"
      "persistent_path = \"" + kDiskDir + "\"\n"
      "persistent_size_tb = 1024\n");
  std::vector<std::string> warnings;
  CHECK(ValidateConfig(config, &warnings).ok());
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], StartsWith("test.toml:3:1: hybrid_memory.persistent_size_tb: a budget of "
                                     "1 PiB exceeds the ") &&
                              Contains(" free on the disk holding " + kDiskDir));
}

TEST_CASE("ValidateConfig: TLS files must be readable", "[config]") {
  HybridMemoryConfig config = ParseOk(
      "[node]\n"
      "certificate = \"/nonexistent/node.crt\"\n"
      "key = \"/nonexistent/node.key\"\n"
      "ca_file = \"" + kDragonNodeToml + "\"\n");
  Status status = ValidateConfig(config, nullptr);
  CHECK(status.message() ==
        "test.toml:2:1: node.certificate: cannot read /nonexistent/node.crt: No such file or directory\n"
        "test.toml:3:1: node.key: cannot read /nonexistent/node.key: No such file or directory");
}

TEST_CASE("ValidateConfig checks configs built in code as ParseConfig checks files", "[config]") {
  HybridMemoryConfig config = EmbeddedDefaults();
  config.partition(DataKind::kHistory).durability = Durability::kRelaxed;
  config.partition(DataKind::kMetadata).zstd_level = 25;
  config.persistent_path = "relative/dir";
  Status status = ValidateConfig(config, nullptr);
  std::vector<std::string> errors = SplitLines(status.message());
  REQUIRE(errors.size() == 3);  // no locations: not from a file
  CHECK_THAT(errors[0], StartsWith("hybrid_memory.persistent_path: must be an absolute path"));
  CHECK_THAT(errors[1], StartsWith("partitions.history.durability: history is always"));
  CHECK(errors[2] == "partitions.metadata.zstd_level: must be between 1 and 19, got 25");

  config = EmbeddedDefaults();
  config.partition(DataKind::kCode).share_percent = 45;
  CHECK_THAT(ValidateConfig(config, nullptr).message(),
             StartsWith("partitions: the shares of the RAM-Lake must add up to 100"));
}

// Every setting differs from its default, strings need escapes, and the sizes
// are not binary fractions.
HybridMemoryConfig UnusualConfig() {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.ramlake_size_gb = 0.1;
  c.ramlake_path = "/dev/shm/päth with \"quotes\" and \\ and\ttab";
  c.persistent_size_tb = 0.3;
  c.persistent_path = kDiskDir;
  c.compression = Compression::kNone;
  c.cache_size_mb = 77;
  c.hot_retention_hours = 0;
  c.sync_interval_minutes = 1;
  c.max_ram_entries = 123456789;
  c.partitions = {PartitionConfig{10, EvictionPolicy::kS3Fifo, 19, Durability::kDurable},
                  PartitionConfig{20, EvictionPolicy::kSieve, 1, Durability::kRelaxed},
                  PartitionConfig{30, EvictionPolicy::kLru, 2, Durability::kDurable},
                  PartitionConfig{40, EvictionPolicy::kSieve, 7, Durability::kDurable}};
  c.wal = {"/wal", 1, false, 7, 33};
  c.node = {"10.0.0.1", 0, "/c.pem", "/k.pem", "/ca.pem", true, "/etc/postdevai/token"};
  c.grpc = {3, 7, 5000, 99, 11, 13, 17};
  c.caf = {true, 4999, false};
  c.metrics = {false, "0.0.0.0", 1};
  c.logging = {"/var/log/x.log", LogLevel::kTrace};
  c.vectors = {768, "bge-small-en-v1.5", VectorQuantization::kNone, 7, 123};
  c.tiering = {9, 1, false};
  c.backup = {"/backups/pdai", 12, 5};
  c.replication = {ReplicationRole::kReplica, "[::1]:65535", 3};
  return c;
}

TEST_CASE("FormatConfig prints TOML that parses back to the same config", "[config]") {
  SECTION("embedded defaults") {
    HybridMemoryConfig config = EmbeddedDefaults();
    HybridMemoryConfig again = ParseOk(FormatConfig(config));
    CHECK(again == config);
  }
  SECTION("the shipped dragon_node.toml") {
    Result<HybridMemoryConfig> config = LoadConfigFile(kDragonNodeToml, nullptr);
    REQUIRE(config.ok());
    const std::string text = FormatConfig(*config);
    CHECK_THAT(text, Contains("ramlake_size_gb = 200.0") && Contains("max_ram_entries = 10000000"));
    CHECK(ParseOk(text) == *config);
  }
  SECTION("every setting changed") {
    HybridMemoryConfig config = UnusualConfig();
    const std::string text = FormatConfig(config);
    HybridMemoryConfig again = ParseOk(text);
    CHECK(again == config);
    // Printing is stable too (after the header line, which names the source).
    const std::string reprinted = FormatConfig(again);
    CHECK(reprinted.substr(reprinted.find('\n')) == text.substr(text.find('\n')));
    // The comparison sees every setting (a test that could not fail would be no test).
    again.vectors.rerank_candidates = 8;
    CHECK_FALSE(again == config);
  }
  SECTION("empty derived paths stay empty and show what they stand for") {
    HybridMemoryConfig config = EmbeddedDefaults();
    config.persistent_path = "/srv/pdai";
    const std::string text = FormatConfig(config);
    CHECK_THAT(text, Contains("path = \"\"") && Contains("# empty: /srv/pdai/wal") &&
                         Contains("# empty: /srv/pdai/backups"));
    HybridMemoryConfig again = ParseOk(text);
    CHECK(again.wal.path.empty());
    CHECK(again.WalPath() == "/srv/pdai/wal");
  }
}

TEST_CASE("LoadConfigFile names the file it cannot read", "[config]") {
  Result<HybridMemoryConfig> missing = LoadConfigFile("/nonexistent/dragon_node.toml", nullptr);
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message() ==
        "cannot read config file /nonexistent/dragon_node.toml: No such file or directory");
  Result<HybridMemoryConfig> directory = LoadConfigFile(POSTDEVAI_SOURCE_DIR, nullptr);
  CHECK(directory.status().code() == StatusCode::kIoError);
  CHECK_THAT(directory.status().message(), Contains("Is a directory"));
}

class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_(std::string(POSTDEVAI_BIN_DIR) + "/config_test_" + std::to_string(::getpid()) + ".toml") {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("RunCheckConfig (--check-config) prints the effective config, or every problem", "[config]") {
  SECTION("a good file: the config on out, warnings on err, exit 0") {
    TempFile file("[hybrid_memory]\npersistent_path = \"" + kDiskDir + "\"\n"
                  "persistent_size_tb = 1024\ncache_size_mb = 99\n");
    std::ostringstream out, err;
    CHECK(config::RunCheckConfig(file.path(), out, err) == 0);
    CHECK_THAT(err.str(), StartsWith("warning: " + file.path() + ":3:1: hybrid_memory.persistent_size_tb"));
    Result<HybridMemoryConfig> printed = ParseConfig(out.str(), "out", nullptr);
    REQUIRE(printed.ok());
    CHECK(printed->cache_size_mb == 99);
  }
  SECTION("a bad file: one error line per problem, exit 1") {
    TempFile file("[hybrid_memory]\ncache_size_mb = \"x\"\nramlake_sise_gb = 1\n");
    std::ostringstream out, err;
    CHECK(config::RunCheckConfig(file.path(), out, err) == 1);
    CHECK(out.str().empty());
    CHECK(err.str() == "error: " + file.path() + ":2:1: hybrid_memory.cache_size_mb: expected an integer, got string\n"
                       "error: " + file.path() + ":3:1: unknown key 'hybrid_memory.ramlake_sise_gb' — did you mean 'ramlake_size_gb'?\n");
  }
  SECTION("a file that parses but does not fit this machine") {
    std::ostringstream out, err;
    CHECK(config::RunCheckConfig(kDragonNodeToml, out, err) == (FileSystemSize("/dev/shm") < 200 * kGiB ? 1 : 0));
    CHECK_THAT(err.str(), Contains("error: " + kDragonNodeToml) && Contains("hybrid_memory.ramlake_size_gb"));
  }
  SECTION("no file: the embedded defaults") {
    std::ostringstream out, err;
    CHECK(config::RunCheckConfig("", out, err) == 0);
    CHECK(err.str().empty());
    CHECK_THAT(out.str(), Contains("(embedded defaults for this machine)"));
    REQUIRE(ParseConfig(out.str(), "out", nullptr).ok());
  }
}

TEST_CASE("suggestions come only from names close enough to be typos", "[config]") {
  const std::vector<std::string> names = {"ramlake_size_gb", "ramlake_path", "compression"};
  CHECK(config::NearestName("ramlake_sise_gb", names) == "ramlake_size_gb");
  CHECK(config::NearestName("ramlake_szie_gb", names) == "ramlake_size_gb");
  CHECK(config::NearestName("compresion", names) == "compression");
  CHECK_FALSE(config::NearestName("colour", names).has_value());
}

}  // namespace
}  // namespace postdevai

TEST_CASE("start-up refuses relaxed history and a replica without a primary built in code, naming the key", "[config]") {
  using namespace postdevai;
  HybridMemoryConfig config = EmbeddedDefaults();
  config.partition(DataKind::kCode).durability = Durability::kRelaxed;  // allowed
  config.partition(DataKind::kHistory).durability = Durability::kRelaxed;
  Status status = ValidateConfig(config, nullptr);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(status.message(), Contains("partitions.history.durability: history is always \"durable\"") &&
                                   !Contains("partitions.code"));
  config.partition(DataKind::kHistory).durability = Durability::kDurable;
  config.replication = {ReplicationRole::kReplica, "", 64};
  status = ValidateConfig(config, nullptr);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(status.message(), Contains("replication.role: a replica needs replication.primary") &&
                                   !Contains("partitions.code"));
}
