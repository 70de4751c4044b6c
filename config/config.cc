// ParseConfig / LoadConfigFile (the only use of toml++ in the project),
// FormatConfig, ValidateConfig and EmbeddedDefaults.
#include "postdevai/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <toml++/toml.h>

#include "config/config_schema.h"
#include "config/machine_probe.h"
#include "config/problem_log.h"

namespace postdevai {
namespace {

using config::ProblemLog;
using config::Setting;
using config::SettingValue;
using config::ValueType;

constexpr double kBytesPerGiB = double(std::uint64_t{1} << 30);
constexpr double kBytesPerTiB = double(std::uint64_t{1} << 40);

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string path = dir;
  if (path.empty() || path.back() != '/') path += '/';
  path += name;
  return path;
}

// ---- Parsing ----------------------------------------------------------------

SourcePosition PositionOf(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}

// The TOML spec's names for what a node holds.
std::string TypeNameOf(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// The node as the setting's type, or what is wrong with its type.
std::optional<SettingValue> ToSettingValue(ValueType type, const toml::node& node,
                                           std::string* problem) {
  auto mismatch = [&](std::string got) {
    *problem = "expected " + std::string(config::ExpectedTypeName(type)) + ", got " + got;
    return std::nullopt;
  };
  switch (type) {
    case ValueType::kBoolean:
      if (const auto* b = node.as_boolean()) return SettingValue(b->get());
      return mismatch(TypeNameOf(node));
    case ValueType::kInteger:
      if (const auto* i = node.as_integer()) return SettingValue(i->get());
      return mismatch(TypeNameOf(node));
    case ValueType::kNumber:
      // "ramlake_size_gb = 200" is an integer in TOML; any number will do.
      if (const auto* f = node.as_floating_point()) return SettingValue(f->get());
      if (const auto* i = node.as_integer()) return SettingValue(double(i->get()));
      return mismatch(TypeNameOf(node));
    case ValueType::kString:
      if (const auto* s = node.as_string()) return SettingValue(s->get());
      return mismatch(TypeNameOf(node));
    case ValueType::kStringList: {
      const auto* array = node.as_array();
      if (array == nullptr) return mismatch(TypeNameOf(node));
      std::vector<std::string> strings;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const auto* s = (*array)[i].as_string();
        if (s == nullptr) {
          return mismatch("an array whose element " + std::to_string(i) + " is " +
                          TypeNameOf((*array)[i]));
        }
        strings.push_back(s->get());
      }
      return SettingValue(std::move(strings));
    }
  }
  return mismatch(TypeNameOf(node));
}

// The full path of the one setting whose key is `key`, if exactly one has it.
std::optional<std::string> UniqueSettingNamed(std::string_view key) {
  std::optional<std::string> found;
  for (const Setting& s : config::AllSettings()) {
    if (s.key != key) continue;
    if (found) return std::nullopt;  // "share" is in every partition: no single answer
    found = s.Path();
  }
  return found;
}

class DocumentReader {
 public:
  DocumentReader(HybridMemoryConfig* config, ProblemLog* errors) : config_(config), errors_(errors) {}

  // Applies every key of `table` (the section named `prefix`) to the config.
  void ReadTable(const toml::table& table, const std::string& prefix) {
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      const SourcePosition at = PositionOf(key.source());
      config_->origin.positions[path] = at;

      if (const Setting* setting = config::FindSetting(path)) {
        ReadSetting(*setting, node, path);
      } else if (config::IsSection(path)) {
        if (const toml::table* section = node.as_table()) {
          ReadTable(*section, path);
        } else {
          errors_->Add(path, "expected a table, got " + TypeNameOf(node));
          rejected_setting_ = true;
        }
      } else {
        ReportUnknownKey(prefix, name, path, at);
      }
    }
  }

  // Whether a known key held a value that was refused (so the config holds a
  // default where the file meant something else).
  bool rejected_setting() const { return rejected_setting_; }

 private:
  void ReadSetting(const Setting& setting, const toml::node& node, const std::string& path) {
    std::string problem;
    std::optional<SettingValue> value = ToSettingValue(setting.type, node, &problem);
    if (value) {
      if (std::optional<std::string> bad = setting.write(*value, *config_)) problem = *bad;
    }
    if (!problem.empty()) {
      errors_->Add(path, problem);
      rejected_setting_ = true;
    }
  }

  void ReportUnknownKey(const std::string& prefix, const std::string& name, const std::string& path,
                        SourcePosition at) {
    const std::vector<std::string> valid = config::NamesInside(prefix);
    std::string text = "unknown key '" + path + "'";
    if (std::optional<std::string> nearest = config::NearestName(name, valid)) {
      text += " — did you mean '" + *nearest + "'?";
    } else if (std::optional<std::string> elsewhere = UniqueSettingNamed(name)) {
      // The right key in the wrong section (or before any [section] header).
      text += " — did you mean '" + *elsewhere + "'?";
    } else {
      text += " (valid here: ";
      for (std::size_t i = 0; i < valid.size(); ++i) text += (i ? ", " : "") + valid[i];
      text += ")";
    }
    errors_->AddAtPosition(at, std::move(text));
  }

  HybridMemoryConfig* config_;
  ProblemLog* errors_;
  bool rejected_setting_ = false;
};

// ---- Formatting -------------------------------------------------------------

std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", ch);
          out += escape;
        } else {
          out += char(ch);
        }
    }
  }
  out += '"';
  return out;
}

std::string TomlValue(const SettingValue& value) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::string text = config::FormatNumber(d);
      // TOML reads "200" as an integer; keep floats floats.
      if (std::isfinite(d) && text.find_first_of(".e") == std::string::npos) text += ".0";
      return text;
    }
    std::string operator()(const std::string& s) const { return TomlString(s); }
    std::string operator()(const std::vector<std::string>& list) const {
      std::string out = "[";
      for (std::size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + TomlString(list[i]);
      return out + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

// ---- Validation against the machine -----------------------------------------

// "the RAM disk (tmpfs) holding /dev/shm/x" or, when the path does not exist
// yet, "the disk holding /mnt/ramdisk/x (nearest existing directory: /mnt)".
std::string Holding(const std::string& path, const config::PathFacts& facts) {
  std::string where = facts.on_ram_disk ? "the RAM disk (" + facts.file_system + ")" : "the disk";
  where += " holding " + path;
  if (facts.existing_ancestor != path) {
    where += " (nearest existing directory: " + facts.existing_ancestor + ")";
  }
  return where;
}

// The key that set `preferred` if the file did, else `fallback` (a problem with
// a size on a path reads best at whichever of the two the file wrote).
std::string_view AnchorKey(const HybridMemoryConfig& c, std::string_view preferred,
                           std::string_view fallback) {
  return c.origin.positions.count(preferred) != 0 || c.origin.positions.count(fallback) == 0
             ? preferred
             : fallback;
}

void CheckRamLake(const HybridMemoryConfig& c, ProblemLog* errors, ProblemLog* warnings) {
  Result<config::PathFacts> facts = config::ProbePath(c.ramlake_path);
  if (!facts.ok()) {
    errors->Add("hybrid_memory.ramlake_path", facts.status().message());
    return;
  }
  const std::uint64_t wanted = c.RamLakeBytes();
  const std::string_view anchor = AnchorKey(c, "hybrid_memory.ramlake_size_gb", "hybrid_memory.ramlake_path");
  const std::string size_text =
      "hybrid_memory.ramlake_size_gb: a RAM-Lake of " + config::FormatBytes(wanted);
  if (wanted > facts->total_bytes) {
    errors->AddAt(anchor, size_text + " does not fit on " + Holding(c.ramlake_path, *facts) +
                              ", which holds " + config::FormatBytes(facts->total_bytes) +
                              " in all");
  } else {
    // The RAM-Lake's own files (a warm restart) already occupy part of what it needs.
    const std::uint64_t free = facts->available_bytes + config::AllocatedBytesUnder(c.ramlake_path);
    if (wanted > free) {
      warnings->AddAt(anchor, size_text + " exceeds the " + config::FormatBytes(free) +
                                  " now free on " + Holding(c.ramlake_path, *facts) +
                                  "; writes will fail with ENOSPC before it is full");
    }
  }
  // The RAM-Lake's pages count against a container's memory limit: one that
  // does not fit gets the node killed at every start (its files are faulted in).
  if (auto limit = config::ProcessMemoryLimit()) {
    const std::string limit_text = "this process's cgroup memory limit of " + config::FormatBytes(*limit);
    if (wanted >= *limit) {
      errors->AddAt(anchor, size_text + " does not fit in " + limit_text +
                                ": the node would be killed for memory at start");
    } else if (wanted > *limit / 2) {
      warnings->AddAt(anchor, size_text + " is more than half of " + limit_text +
                                  ", which must also hold the process and LevelDB's cache");
    }
  }
  if (!facts->on_ram_disk) {
    warnings->Add("hybrid_memory.ramlake_path",
                  c.ramlake_path + " is not on a RAM disk (tmpfs or ramfs): the hot tier will be "
                  "written back to " + facts->existing_ancestor + "'s disk by the kernel");
  }
}

// The persistent store, the WAL and backups must survive a reboot.
void CheckDurablePaths(const HybridMemoryConfig& c, ProblemLog* errors) {
  struct DurablePath {
    std::string_view key;
    std::string path;
    bool derived;  // empty in the config: beneath persistent_path
  };
  const DurablePath paths[] = {
      {"hybrid_memory.persistent_path", c.persistent_path, false},
      {"wal.path", c.WalPath(), c.wal.path.empty()},
      {"backup.path", c.BackupPath(), c.backup.path.empty()},
  };
  bool persistent_on_ram_disk = false;
  for (const DurablePath& p : paths) {
    Result<config::PathFacts> facts = config::ProbePath(p.path);
    if (!facts.ok()) {
      errors->Add(p.key, facts.status().message());
      continue;
    }
    if (!facts->on_ram_disk) continue;
    // A derived path on the same RAM disk says nothing new.
    if (p.derived && persistent_on_ram_disk) continue;
    if (p.key == "hybrid_memory.persistent_path") persistent_on_ram_disk = true;
    // A derived path is reported at persistent_path, the key that placed it.
    std::string_view anchor = p.derived ? "hybrid_memory.persistent_path" : p.key;
    errors->AddAt(anchor, std::string(p.key) + ": not durable — " + Holding(p.path, *facts) +
                              " is erased by a reboot or power cut; put it on a real disk");
  }
}

void CheckPersistentBudget(const HybridMemoryConfig& c, ProblemLog* warnings) {
  Result<config::PathFacts> facts = config::ProbePath(c.persistent_path);
  if (!facts.ok()) return;  // CheckDurablePaths reported it
  // The store's own files count as room for its budget.
  const std::uint64_t room = facts->available_bytes + config::AllocatedBytesUnder(c.persistent_path);
  if (c.PersistentBytes() > room) {
    warnings->AddAt(AnchorKey(c, "hybrid_memory.persistent_size_tb", "hybrid_memory.persistent_path"),
                    "hybrid_memory.persistent_size_tb: a budget of " +
                        config::FormatBytes(c.PersistentBytes()) + " exceeds the " +
                        config::FormatBytes(room) + " free on " + Holding(c.persistent_path, *facts) +
                        "; the disk will fill up before the budget does");
  }
}

void CheckTlsFiles(const HybridMemoryConfig& c, ProblemLog* errors) {
  const std::pair<std::string_view, const std::string*> files[] = {
      {"node.certificate", &c.node.certificate}, {"node.key", &c.node.key},
      {"node.ca_file", &c.node.ca_file}, {"node.token_file", &c.node.token_file}};
  for (const auto& [key, path] : files) {
    if (!path->empty() && access(path->c_str(), R_OK) != 0) {
      errors->Add(key, "cannot read " + *path + ": " + std::strerror(errno));
    }
  }
}

}  // namespace

// ---- HybridMemoryConfig -----------------------------------------------------

bool IsLoopbackAddress(std::string_view address) {
  if (address == "localhost" || address == "::1" || address == "[::1]") return true;
  in_addr v4{};
  const std::string text(address);
  // inet_pton accepts only dotted-quad addresses: "127.evil.example" is a name, not loopback.
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

std::uint64_t HybridMemoryConfig::RamLakeBytes() const {
  return static_cast<std::uint64_t>(ramlake_size_gb * kBytesPerGiB);
}

std::uint64_t HybridMemoryConfig::PartitionBytes(DataKind kind) const {
  return RamLakeBytes() / 100 * partition(kind).share_percent;
}

std::uint64_t HybridMemoryConfig::PersistentBytes() const {
  return static_cast<std::uint64_t>(persistent_size_tb * kBytesPerTiB);
}

std::uint64_t HybridMemoryConfig::CacheBytes() const { return std::uint64_t{cache_size_mb} << 20; }

std::uint64_t HybridMemoryConfig::WalSegmentBytes() const {
  return std::uint64_t{wal.segment_size_mb} << 20;
}

std::string HybridMemoryConfig::WalPath() const {
  return wal.path.empty() ? JoinPath(persistent_path, "wal") : wal.path;
}

std::string HybridMemoryConfig::BackupPath() const {
  return backup.path.empty() ? JoinPath(persistent_path, "backups") : backup.path;
}

std::string HybridMemoryConfig::WalArchivePath() const { return JoinPath(BackupPath(), "wal"); }

// ---- Public functions -------------------------------------------------------

HybridMemoryConfig EmbeddedDefaults() {
  return config::DefaultsForMachine(config::ProbeMachine());
}

Result<HybridMemoryConfig> ParseConfig(std::string_view toml_text, const std::string& source_name,
                                       std::vector<std::string>* warnings) {
  HybridMemoryConfig result = EmbeddedDefaults();
  result.origin.source_name = source_name;
  ProblemLog errors(&result.origin);
  ProblemLog notes(&result.origin);

  toml::table document;
  // The one try/catch around toml++ in the project: its parser reports syntax
  // errors by exception (Debian builds it with exceptions on).
  try {
    document = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    errors.AddAtPosition(PositionOf(e.source()),
                         "TOML syntax error: " + std::string(e.description()));
    return errors.ToStatus();
  }

  DocumentReader reader(&result, &errors);
  reader.ReadTable(document, "");
  // Cross-setting rules would judge defaults standing in for refused values
  // and report problems the file does not have.
  if (!reader.rejected_setting()) config::CheckConsistency(result, &errors, &notes);

  notes.AppendTo(warnings);
  PDAI_RETURN_IF_ERROR(errors.ToStatus());
  return result;
}

Result<HybridMemoryConfig> LoadConfigFile(const std::string& path,
                                          std::vector<std::string>* warnings) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  auto failure = [&](int err) -> Status {
    std::string message = "cannot read config file " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(message) : Status::IoError(message);
  };
  if (!file) return failure(errno);
  std::string text;
  char buffer[16384];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) return failure(errno);  // e.g. EISDIR
  return ParseConfig(text, path, warnings);
}

std::string FormatConfig(const HybridMemoryConfig& config) {
  std::string out = "# PostDevAI Hybrid Memory: effective configuration";
  out += config.origin.source_name.empty() ? " (embedded defaults for this machine)\n"
                                           : " (from " + config.origin.source_name + ")\n";
  std::string section;
  for (const Setting& s : config::AllSettings()) {
    if (s.section != section) {
      section = s.section;
      out += "\n[" + section + "]\n";
    }
    SettingValue value = s.read(config);
    std::string line = s.key + " = " + TomlValue(value);
    std::string comment = s.help;
    if (s.meaning_of_empty && std::get<std::string>(value).empty()) {
      comment = "empty: " + s.meaning_of_empty(config);
    }
    if (!comment.empty()) {
      line.resize(std::max<std::size_t>(line.size() + 2, 40), ' ');
      line += "# " + comment;
    }
    out += line + "\n";
  }
  return out;
}

Status ValidateConfig(const HybridMemoryConfig& config, std::vector<std::string>* warnings) {
  ProblemLog errors(&config.origin);
  ProblemLog notes(&config.origin);
  config::CheckSettingValues(config, &errors);
  // The other checks need every value in range (absolute paths, sane sizes).
  if (errors.empty()) {
    // Its warnings are about the file's text and ParseConfig gave them already.
    ProblemLog text_notes(&config.origin);
    config::CheckConsistency(config, &errors, &text_notes);
    CheckRamLake(config, &errors, &notes);
    CheckDurablePaths(config, &errors);
    CheckPersistentBudget(config, &notes);
    CheckTlsFiles(config, &errors);
  }
  notes.AppendTo(warnings);
  return errors.ToStatus();
}

}  // namespace postdevai
