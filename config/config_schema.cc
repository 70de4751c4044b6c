#include "config/config_schema.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <utility>

namespace postdevai::config {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kTiB = std::uint64_t{1} << 40;

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

Setting NewSetting(std::string section, std::string key, ValueType type, std::string help) {
  Setting s;
  s.section = std::move(section);
  s.key = std::move(key);
  s.type = type;
  s.help = std::move(help);
  return s;
}

// ---- Setting factories ------------------------------------------------------
// `access` is a generic lambda `[](auto& c) -> auto& { return c.some.field; }`:
// one accessor serves both reading (const config) and writing.

template <class Access>
using FieldOf = std::remove_reference_t<decltype(std::declval<Access>()(std::declval<HybridMemoryConfig&>()))>;

template <class Access>
Setting IntegerSetting(std::string section, std::string key, std::int64_t min, std::int64_t max,
                       std::string help, Access access) {
  using Field = FieldOf<Access>;
  Setting s = NewSetting(std::move(section), std::move(key), ValueType::kInteger, std::move(help));
  s.read = [access](const HybridMemoryConfig& c) -> SettingValue {
    return static_cast<std::int64_t>(access(c));
  };
  s.write = [access, min, max](const SettingValue& v,
                               HybridMemoryConfig& c) -> std::optional<std::string> {
    std::int64_t n = std::get<std::int64_t>(v);
    if (n < min || n > max) {
      return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
             std::to_string(n);
    }
    access(c) = static_cast<Field>(n);
    return std::nullopt;
  };
  return s;
}

// A size written as a float in `unit_bytes` units (GiB, TiB).
template <class Access>
Setting SizeSetting(std::string section, std::string key, std::uint64_t unit_bytes,
                    std::uint64_t min_bytes, std::uint64_t max_bytes, std::string help,
                    Access access) {
  Setting s = NewSetting(std::move(section), std::move(key), ValueType::kNumber, std::move(help));
  s.read = [access](const HybridMemoryConfig& c) -> SettingValue { return access(c); };
  s.write = [=](const SettingValue& v, HybridMemoryConfig& c) -> std::optional<std::string> {
    double x = std::get<double>(v);
    double min = double(min_bytes) / double(unit_bytes);
    double max = double(max_bytes) / double(unit_bytes);
    if (!(x >= min && x <= max)) {  // also rejects nan
      return "must be between " + FormatNumber(min) + " (" + FormatBytes(min_bytes) + ") and " +
             FormatNumber(max) + " (" + FormatBytes(max_bytes) + "), got " + FormatNumber(x);
    }
    access(c) = x;
    return std::nullopt;
  };
  return s;
}

template <class Access>
Setting BooleanSetting(std::string section, std::string key, std::string help, Access access) {
  Setting s = NewSetting(std::move(section), std::move(key), ValueType::kBoolean, std::move(help));
  s.read = [access](const HybridMemoryConfig& c) -> SettingValue { return access(c); };
  s.write = [access](const SettingValue& v, HybridMemoryConfig& c) -> std::optional<std::string> {
    access(c) = std::get<bool>(v);
    return std::nullopt;
  };
  return s;
}

enum class StringRule : std::uint8_t {
  kNonEmpty,
  kAbsolutePath,          // daemons must not depend on their working directory
  kAbsolutePathOrEmpty,   // empty: see Setting::meaning_of_empty
};

template <class Access>
Setting StringSetting(std::string section, std::string key, StringRule rule, std::string help,
                      Access access) {
  Setting s = NewSetting(std::move(section), std::move(key), ValueType::kString, std::move(help));
  s.read = [access](const HybridMemoryConfig& c) -> SettingValue { return access(c); };
  s.write = [access, rule](const SettingValue& v,
                           HybridMemoryConfig& c) -> std::optional<std::string> {
    const std::string& text = std::get<std::string>(v);
    if (text.empty()) {
      if (rule != StringRule::kAbsolutePathOrEmpty) return std::string("must not be empty");
    } else if (rule != StringRule::kNonEmpty && text.front() != '/') {
      return "must be an absolute path, got " + Quoted(text);
    }
    access(c) = text;
    return std::nullopt;
  };
  return s;
}

// An enum written as its name; `names` lists every value, `name_of` names one.
// `forbid` may reject a valid name for this particular setting (with the reason).
template <class Enum, std::size_t N, class Access>
Setting EnumSetting(std::string section, std::string key, std::array<Enum, N> values,
                    std::string_view (*name_of)(Enum), std::string help, Access access,
                    std::function<std::optional<std::string>(Enum)> forbid = {}) {
  Setting s = NewSetting(std::move(section), std::move(key), ValueType::kString, std::move(help));
  s.read = [access, name_of](const HybridMemoryConfig& c) -> SettingValue {
    return std::string(name_of(access(c)));
  };
  s.write = [=](const SettingValue& v, HybridMemoryConfig& c) -> std::optional<std::string> {
    const std::string& text = std::get<std::string>(v);
    for (Enum e : values) {
      if (name_of(e) != text) continue;
      if (forbid) {
        if (std::optional<std::string> reason = forbid(e)) return reason;
      }
      access(c) = e;
      return std::nullopt;
    }
    std::string allowed;
    for (Enum e : values) allowed += (allowed.empty() ? "" : ", ") + Quoted(name_of(e));
    return "must be one of " + allowed + ", got " + Quoted(text);
  };
  return s;
}

// "host:port" with a port in 1..65535; IPv6 hosts in brackets ("[::1]:4710").
std::optional<std::string> CheckPeerAddress(const std::string& peer) {
  std::size_t colon = peer.rfind(':');
  std::string_view host = colon == std::string::npos ? std::string_view() : std::string_view(peer).substr(0, colon);
  std::string_view port = colon == std::string::npos ? std::string_view() : std::string_view(peer).substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return "expected \"host:port\" with a port in 1..65535, got " + Quoted(peer);
  }
  return std::nullopt;
}

constexpr std::array kCompressions = {Compression::kZstd, Compression::kNone};
constexpr std::array kEvictionPolicies = {EvictionPolicy::kLru, EvictionPolicy::kSieve,
                                          EvictionPolicy::kS3Fifo};
constexpr std::array kDurabilities = {Durability::kDurable, Durability::kRelaxed};
constexpr std::array kLogLevels = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                   LogLevel::kWarning, LogLevel::kError};
constexpr std::array kQuantizations = {VectorQuantization::kInt8, VectorQuantization::kNone};
constexpr std::array kReplicationRoles = {ReplicationRole::kNone, ReplicationRole::kPrimary, ReplicationRole::kReplica};

std::vector<Setting> BuildSettings() {
  std::vector<Setting> all;
  const std::string hm = "hybrid_memory";
  all.push_back(SizeSetting(hm, "ramlake_size_gb", kGiB, kMiB, kGiB << 20,
                            "hot tier (RAM-Lake) size, GiB",
                            [](auto& c) -> auto& { return c.ramlake_size_gb; }));
  all.push_back(StringSetting(hm, "ramlake_path", StringRule::kAbsolutePath,
                              "RAM-Lake partition files; belongs on a RAM disk",
                              [](auto& c) -> auto& { return c.ramlake_path; }));
  all.push_back(SizeSetting(hm, "persistent_size_tb", kTiB, kGiB, kTiB << 10,
                            "cold tier (LevelDB) budget, TiB",
                            [](auto& c) -> auto& { return c.persistent_size_tb; }));
  all.push_back(StringSetting(hm, "persistent_path", StringRule::kAbsolutePath,
                              "LevelDB, WAL archive, backups; must be a real disk",
                              [](auto& c) -> auto& { return c.persistent_path; }));
  all.push_back(EnumSetting(hm, "compression", kCompressions, &CompressionName,
                            "persistent values: \"zstd\" or \"none\"",
                            [](auto& c) -> auto& { return c.compression; }));
  all.push_back(IntegerSetting(hm, "cache_size_mb", 1, 1 << 20, "LevelDB block cache, MiB",
                               [](auto& c) -> auto& { return c.cache_size_mb; }));
  all.push_back(IntegerSetting(hm, "hot_retention_hours", 0, 24 * 365 * 10,
                               "untouched this long => may be demoted to the cold tier",
                               [](auto& c) -> auto& { return c.hot_retention_hours; }));
  all.push_back(IntegerSetting(hm, "sync_interval_minutes", 1, 24 * 60,
                               "checkpoint interval (WAL -> LevelDB durable)",
                               [](auto& c) -> auto& { return c.sync_interval_minutes; }));
  all.push_back(IntegerSetting(hm, "max_ram_entries", 1, std::int64_t{1} << 40,
                               "most items held in the RAM-Lake",
                               [](auto& c) -> auto& { return c.max_ram_entries; }));

  for (DataKind kind : kAllDataKinds) {
    const std::string section = "partitions." + std::string(DataKindName(kind));
    const std::size_t i = DataKindIndex(kind);
    all.push_back(IntegerSetting(section, "share", 1, 100, "percent of the RAM-Lake",
                                 [i](auto& c) -> auto& { return c.partitions[i].share_percent; }));
    all.push_back(EnumSetting(section, "eviction", kEvictionPolicies, &EvictionPolicyName,
                              "\"lru\", \"sieve\" or \"s3fifo\"",
                              [i](auto& c) -> auto& { return c.partitions[i].eviction; }));
    all.push_back(IntegerSetting(section, "zstd_level", 1, 19, "1 (fast) .. 19 (small)",
                                 [i](auto& c) -> auto& { return c.partitions[i].zstd_level; }));
    std::function<std::optional<std::string>(Durability)> forbid;
    if (kind == DataKind::kHistory) {
      forbid = [](Durability d) -> std::optional<std::string> {
        if (d == Durability::kDurable) return std::nullopt;
        return "history is always \"durable\": session context exists nowhere else and "
               "cannot be rebuilt after a power cut (\"relaxed\" is allowed for vectors, code "
               "and metadata, which can be re-derived from their sources)";
      };
    }
    all.push_back(EnumSetting(section, "durability", kDurabilities, &DurabilityName,
                              "\"durable\" (ack after fdatasync) or \"relaxed\"",
                              [i](auto& c) -> auto& { return c.partitions[i].durability; },
                              std::move(forbid)));
  }

  all.push_back(StringSetting("wal", "path", StringRule::kAbsolutePathOrEmpty,
                              "write-ahead log segments; must be a real disk",
                              [](auto& c) -> auto& { return c.wal.path; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig& c) { return c.WalPath(); };
  all.push_back(IntegerSetting("wal", "segment_size_mb", 1, 1024, "MiB per segment file",
                               [](auto& c) -> auto& { return c.wal.segment_size_mb; }));
  all.push_back(BooleanSetting("wal", "archive",
                               "keep checkpointed segments in <backup path>/wal, for restores to a point in time",
                               [](auto& c) -> auto& { return c.wal.archive; }));
  all.push_back(IntegerSetting("wal", "group_commit_max_batch", 1, 65536,
                               "most records one fdatasync covers",
                               [](auto& c) -> auto& { return c.wal.group_commit_max_batch; }));
  all.push_back(IntegerSetting("wal", "relaxed_sync_ms", 1, 10000,
                               "a write to a kind with durability \"relaxed\" is synced at most this many "
                               "milliseconds after it is acknowledged",
                               [](auto& c) -> auto& { return c.wal.relaxed_sync_ms; }));

  all.push_back(StringSetting("node", "address", StringRule::kNonEmpty,
                              "interface the node's doors (gRPC, CAF) listen on",
                              [](auto& c) -> auto& { return c.node.address; }));
  all.push_back(IntegerSetting("node", "port", 0, 65535, "the gRPC API; 0: any free port",
                               [](auto& c) -> auto& { return c.node.port; }));
  all.push_back(StringSetting("node", "certificate", StringRule::kAbsolutePathOrEmpty,
                              "PEM certificate for TLS",
                              [](auto& c) -> auto& { return c.node.certificate; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig&) { return "no TLS"; };
  all.push_back(StringSetting("node", "key", StringRule::kAbsolutePathOrEmpty,
                              "PEM private key for TLS",
                              [](auto& c) -> auto& { return c.node.key; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig&) { return "no TLS"; };
  all.push_back(StringSetting("node", "ca_file", StringRule::kAbsolutePathOrEmpty,
                              "CA that signs the clients' certificates (mutual TLS)",
                              [](auto& c) -> auto& { return c.node.ca_file; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig&) { return "clients not verified"; };
  all.push_back(BooleanSetting("node", "insecure", "allow plaintext on non-loopback addresses",
                               [](auto& c) -> auto& { return c.node.insecure; }));
  all.push_back(StringSetting("node", "token_file", StringRule::kAbsolutePathOrEmpty,
                              "0600 file with the access token gRPC calls must carry",
                              [](auto& c) -> auto& { return c.node.token_file; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig&) { return "no token"; };

  all.push_back(IntegerSetting("grpc", "max_message_mb", 1, 1024, "largest request or reply, MiB",
                               [](auto& c) -> auto& { return c.grpc.max_message_mb; }));
  all.push_back(IntegerSetting("grpc", "max_concurrent_streams", 1, 100000, "calls in flight per connection",
                               [](auto& c) -> auto& { return c.grpc.max_concurrent_streams; }));
  all.push_back(IntegerSetting("grpc", "max_connections", 1, 1000000, "open connections; newer ones beyond are ended",
                               [](auto& c) -> auto& { return c.grpc.max_connections; }));
  all.push_back(IntegerSetting("grpc", "memory_mb", 16, 1 << 20, "what all connections may hold, MiB",
                               [](auto& c) -> auto& { return c.grpc.memory_mb; }));
  all.push_back(IntegerSetting("grpc", "idle_timeout_seconds", 1, 86400 * 7, "idle connections are closed",
                               [](auto& c) -> auto& { return c.grpc.idle_timeout_seconds; }));
  all.push_back(IntegerSetting("grpc", "handshake_timeout_seconds", 1, 3600, "to finish connection set-up",
                               [](auto& c) -> auto& { return c.grpc.handshake_timeout_seconds; }));
  all.push_back(IntegerSetting("grpc", "deadline_seconds", 1, 86400, "longest a call may run",
                               [](auto& c) -> auto& { return c.grpc.deadline_seconds; }));

  all.push_back(BooleanSetting("caf", "enabled", "serve the CAF endpoint (actor-native hosts, other nodes)",
                               [](auto& c) -> auto& { return c.caf.enabled; }));
  all.push_back(IntegerSetting("caf", "port", 0, 65535, "0: any free port",
                               [](auto& c) -> auto& { return c.caf.port; }));
  all.push_back(BooleanSetting("caf", "insecure", "allow plaintext on a loopback address",
                               [](auto& c) -> auto& { return c.caf.insecure; }));

  all.push_back(BooleanSetting("metrics", "enabled", "serve Prometheus metrics over HTTP",
                               [](auto& c) -> auto& { return c.metrics.enabled; }));
  all.push_back(StringSetting("metrics", "address", StringRule::kNonEmpty, "",
                              [](auto& c) -> auto& { return c.metrics.address; }));
  all.push_back(IntegerSetting("metrics", "port", 0, 65535, "0: any free port",
                               [](auto& c) -> auto& { return c.metrics.port; }));

  all.push_back(StringSetting("logging", "file", StringRule::kAbsolutePathOrEmpty, "",
                              [](auto& c) -> auto& { return c.logging.file; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig&) { return "stderr"; };
  all.push_back(EnumSetting("logging", "level", kLogLevels, &LogLevelName,
                            "trace, debug, info, warning or error",
                            [](auto& c) -> auto& { return c.logging.level; }));

  all.push_back(IntegerSetting("vectors", "dimension", 1, 65536, "floats per embedding",
                               [](auto& c) -> auto& { return c.vectors.dimension; }));
  all.push_back(StringSetting("vectors", "model", StringRule::kNonEmpty,
                              "embedding model of stored vectors",
                              [](auto& c) -> auto& { return c.vectors.model; }));
  all.push_back(EnumSetting("vectors", "quantization", kQuantizations, &VectorQuantizationName,
                            "compact copy for the first pass: \"int8\" or \"none\"",
                            [](auto& c) -> auto& { return c.vectors.quantization; }));
  all.push_back(IntegerSetting("vectors", "rerank_candidates", 1, 100000,
                               "re-ranked at full precision per query",
                               [](auto& c) -> auto& { return c.vectors.rerank_candidates; }));
  all.push_back(IntegerSetting("vectors", "graph_min_vectors", 0, 1u << 31,
                               "from this many vectors on, searches walk the HNSW graph",
                               [](auto& c) -> auto& { return c.vectors.graph_min_vectors; }));
  all.push_back(BooleanSetting("search", "lexical_index",
                               "BM25 index of code files for lexical and hybrid search (false: vector only)",
                               [](auto& c) -> auto& { return c.search.lexical_index; }));

  all.push_back(IntegerSetting("tiering", "promote_after_hits", 1, 1000000,
                               "cold reads before an item is promoted to RAM",
                               [](auto& c) -> auto& { return c.tiering.promote_after_hits; }));
  all.push_back(IntegerSetting("tiering", "pass_interval_seconds", 1, 86400,
                               "how often promote/demote runs",
                               [](auto& c) -> auto& { return c.tiering.pass_interval_seconds; }));
  all.push_back(BooleanSetting("tiering", "prefetch", "warm items the co-access model predicts",
                               [](auto& c) -> auto& { return c.tiering.prefetch; }));

  all.push_back(StringSetting("backup", "path", StringRule::kAbsolutePathOrEmpty,
                              "where backups go; ideally another disk",
                              [](auto& c) -> auto& { return c.backup.path; }));
  all.back().meaning_of_empty = [](const HybridMemoryConfig& c) { return c.BackupPath(); };
  all.push_back(IntegerSetting("backup", "interval_hours", 0, 24 * 365,
                               "a backup every N hours (0: only `memory backup`)",
                               [](auto& c) -> auto& { return c.backup.interval_hours; }));
  all.push_back(IntegerSetting("backup", "keep", 1, 10000,
                               "backups kept; older ones, and the WAL archive only they need, are pruned",
                               [](auto& c) -> auto& { return c.backup.keep; }));

  all.push_back(EnumSetting("replication", "role", kReplicationRoles, &ReplicationRoleName,
                            "\"primary\" streams its WAL to replicas; a \"replica\" follows `primary`",
                            [](auto& c) -> auto& { return c.replication.role; }));
  {
    Setting primary = NewSetting("replication", "primary", ValueType::kString,
                                 "a replica's primary: \"host:port\" of its gRPC API");
    primary.read = [](const HybridMemoryConfig& c) -> SettingValue { return c.replication.primary; };
    primary.write = [](const SettingValue& v, HybridMemoryConfig& c) -> std::optional<std::string> {
      const std::string& text = std::get<std::string>(v);
      if (!text.empty()) {
        if (std::optional<std::string> bad = CheckPeerAddress(text)) return bad;
      }
      c.replication.primary = text;
      return std::nullopt;
    };
    all.push_back(std::move(primary));
  }
  all.push_back(IntegerSetting("replication", "buffer_mb", 0, 65536,
                               "newest WAL kept in RAM for replicas, by a primary and by a replica (for its promotion); older records are read from disk",
                               [](auto& c) -> auto& { return c.replication.buffer_mb; }));
  return all;
}

// Optimal string alignment distance: insertions, deletions, substitutions and
// swaps of neighbours ("sise"/"size", "szie"/"size") each cost one.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool IsLoopback(std::string_view address) { return IsLoopbackAddress(address); }

bool IsWildcard(std::string_view address) {
  return address == "0.0.0.0" || address == "::" || address == "[::]";
}

void CheckPartitionShares(const HybridMemoryConfig& config, ProblemLog* errors) {
  std::uint32_t sum = 0;
  std::string terms;
  std::string anchor = "partitions";
  for (DataKind kind : kAllDataKinds) {
    const std::string key = "partitions." + std::string(DataKindName(kind)) + ".share";
    sum += config.partition(kind).share_percent;
    terms += (terms.empty() ? "" : " + ") + std::string(DataKindName(kind)) + " " +
             std::to_string(config.partition(kind).share_percent);
    // Point at the first share the file sets: that is where the reader edits.
    if (anchor == "partitions" && config.origin.positions.count(key) != 0) anchor = key;
  }
  if (sum != 100) {
    errors->AddAt(anchor, "partitions: the shares of the RAM-Lake must add up to 100 (percent), got " +
                              terms + " = " + std::to_string(sum));
  }
}

void CheckTls(const HybridMemoryConfig& config, ProblemLog* errors) {
  const NodeConfig& node = config.node;
  const std::array<std::pair<std::string_view, const std::string*>, 3> files = {
      {{"certificate", &node.certificate}, {"key", &node.key}, {"ca_file", &node.ca_file}}};
  std::string set;
  std::string missing;
  std::string anchor = "node";
  for (const auto& [name, value] : files) {
    std::string& list = value->empty() ? missing : set;
    list += (list.empty() ? "" : ", ") + std::string(name);
    if (!value->empty() && anchor == "node") anchor = "node." + std::string(name);
  }
  // certificate + key: TLS; with ca_file: mutual TLS. Anything else is a mistake.
  if (node.certificate.empty() != node.key.empty() || (!node.ca_file.empty() && node.certificate.empty())) {
    errors->AddAt(anchor, "node: TLS needs certificate and key together (and ca_file with them for mutual "
                              "TLS); " + set + " set but " + missing + " missing");
    return;
  }
  if (set.empty() && !IsLoopback(node.address) && !node.insecure) {
    errors->Add("node.address",
                Quoted(node.address) + " is reachable from other machines but no TLS is "
                "configured: set node.certificate, node.key (and node.ca_file for mutual TLS), or "
                "node.insecure = true to accept plaintext");
  }
  // Off loopback, TLS proves the node to its clients; something must prove
  // the clients to the node too: their certificates or the token.
  if (!set.empty() && !IsLoopback(node.address) && !node.insecure && node.ca_file.empty() && node.token_file.empty()) {
    errors->Add("node.address", Quoted(node.address) + " is reachable from other machines, and with neither " +
                                    "node.ca_file (mutual TLS) nor node.token_file anyone who reaches it may read and " +
                                    "write: set one, or node.insecure = true to accept that");
  }
  const CafEndpointConfig& caf = config.caf;
  if (caf.enabled && caf.insecure && node.ca_file.empty() && !node.token_file.empty()) {
    errors->Add("caf.insecure", "node.token_file guards the gRPC API, but a plaintext CAF endpoint takes no token: "
                                "any local user would bypass it; serve the CAF endpoint with mutual TLS instead");
  }
  if (caf.enabled && node.ca_file.empty()) {
    if (!IsLoopback(node.address)) {
      errors->Add("caf.enabled", "the CAF endpoint on " + Quoted(node.address) +
                                     " needs mutual TLS: set node.certificate, node.key and node.ca_file");
    } else if (!caf.insecure) {
      errors->Add("caf.enabled", "the CAF endpoint needs mutual TLS (node.certificate, node.key and "
                                 "node.ca_file), or caf.insecure = true to serve plaintext on loopback");
    }
  }
}

void CheckPorts(const HybridMemoryConfig& config, ProblemLog* errors) {
  const NodeConfig& node = config.node;
  const MetricsConfig& metrics = config.metrics;
  bool addresses_overlap = node.address == metrics.address || IsWildcard(node.address) ||
                           IsWildcard(metrics.address);
  if (metrics.enabled && node.port != 0 && node.port == metrics.port && addresses_overlap) {
    errors->Add("metrics.port", std::to_string(metrics.port) +
                                    " is node.port too; the node and the metrics endpoint "
                                    "cannot listen on one port");
  }
  const CafEndpointConfig& caf = config.caf;
  if (caf.enabled && caf.port != 0 && caf.port == node.port) {
    errors->Add("caf.port", std::to_string(caf.port) + " is node.port (the gRPC API) too; give the CAF endpoint another port");
  }
  if (caf.enabled && metrics.enabled && caf.port != 0 && caf.port == metrics.port && addresses_overlap) {
    errors->Add("caf.port", std::to_string(caf.port) + " is metrics.port too; give the CAF endpoint another port");
  }
}

// A replica needs its primary, and only a replica has one.
void CheckReplication(const HybridMemoryConfig& config, ProblemLog* errors) {
  const auto& r = config.replication;
  if (r.role == ReplicationRole::kReplica && r.primary.empty()) {
    errors->Add("replication.role", "a replica needs replication.primary, the \"host:port\" of its primary's gRPC API");
  }
  if (r.role != ReplicationRole::kNone && config.wal.segment_size_mb > config.grpc.max_message_mb) {
    // One WAL record goes to a replica in one message.
    errors->Add("grpc.max_message_mb", std::to_string(config.grpc.max_message_mb) +
                                           " MiB is less than wal.segment_size_mb (" +
                                           std::to_string(config.wal.segment_size_mb) +
                                           " MiB): the largest WAL record could not reach a replica");
  }
  if (r.role != ReplicationRole::kReplica && !r.primary.empty()) {
    errors->Add("replication.primary", "only a replica follows a primary: set replication.role = \"replica\", or "
                                       "remove the key");
  }
}

void CheckCompressionLevels(const HybridMemoryConfig& config, ProblemLog* warnings) {
  if (config.compression != Compression::kNone) return;
  for (DataKind kind : kAllDataKinds) {
    const std::string key = "partitions." + std::string(DataKindName(kind)) + ".zstd_level";
    if (config.origin.positions.count(key) != 0) {
      warnings->Add(key, "has no effect: hybrid_memory.compression is \"none\"");
    }
  }
}

}  // namespace

std::string_view ExpectedTypeName(ValueType type) {
  switch (type) {
    case ValueType::kBoolean: return "a boolean";
    case ValueType::kInteger: return "an integer";
    case ValueType::kNumber: return "a number";
    case ValueType::kString: return "a string";
    case ValueType::kStringList: return "an array of strings";
  }
  return "a value";
}

const std::vector<Setting>& AllSettings() {
  static const std::vector<Setting> settings = BuildSettings();
  return settings;
}

const Setting* FindSetting(std::string_view path) {
  for (const Setting& s : AllSettings()) {
    if (path.size() == s.section.size() + 1 + s.key.size() && path.starts_with(s.section) &&
        path[s.section.size()] == '.' && path.ends_with(s.key)) {
      return &s;
    }
  }
  return nullptr;
}

bool IsSection(std::string_view path) {
  for (const Setting& s : AllSettings()) {
    std::string_view section = s.section;
    if (section == path || (section.starts_with(path) && section[path.size()] == '.')) return true;
  }
  return false;
}

std::vector<std::string> NamesInside(std::string_view section) {
  std::vector<std::string> names;
  auto add = [&](std::string name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  };
  for (const Setting& s : AllSettings()) {
    std::string_view inner = s.section;
    if (!section.empty()) {
      if (inner == section) {
        add(s.key);
        continue;
      }
      if (!inner.starts_with(section) || inner[section.size()] != '.') continue;
      inner.remove_prefix(section.size() + 1);
    }
    add(std::string(inner.substr(0, inner.find('.'))));
  }
  return names;
}

std::optional<std::string> NearestName(std::string_view name,
                                       const std::vector<std::string>& candidates) {
  const std::string wanted = Lowercase(name);
  // A third of the name may be wrong, and two letters always: beyond that the
  // suggestion is more likely noise than the name meant.
  const std::size_t max_distance = std::max<std::size_t>(2, wanted.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = max_distance + 1;
  for (const std::string& candidate : candidates) {
    std::size_t d = EditDistance(wanted, Lowercase(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

void CheckSettingValues(const HybridMemoryConfig& config, ProblemLog* errors) {
  HybridMemoryConfig scratch = config;
  for (const Setting& s : AllSettings()) {
    if (std::optional<std::string> bad = s.write(s.read(config), scratch)) errors->Add(s.Path(), *bad);
  }
}

void CheckConsistency(const HybridMemoryConfig& config, ProblemLog* errors, ProblemLog* warnings) {
  CheckPartitionShares(config, errors);
  CheckTls(config, errors);
  CheckPorts(config, errors);
  CheckReplication(config, errors);
  CheckCompressionLevels(config, warnings);
}

std::string FormatBytes(std::uint64_t bytes) {
  static constexpr std::array<std::string_view, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  double value = double(bytes);
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  // Whole numbers print without decimals ("200 GiB"), others with one ("23.5 GiB").
  bool whole = value == std::floor(value);
  std::snprintf(buffer, sizeof buffer, whole ? "%.0f %s" : "%.1f %s", value, kUnits[unit].data());
  return buffer;
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, ec == std::errc() ? end : buffer);
}

}  // namespace postdevai::config
