// The schema of dragon_node.toml: every key, its type, its allowed values and
// where it lives in HybridMemoryConfig — the one table that parsing, printing
// and validating all walk, so they cannot drift apart. Plus the checks that
// span several keys. Internal to config/; no toml++ here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/problem_log.h"
#include "postdevai/config.h"

namespace postdevai::config {

enum class ValueType : std::uint8_t { kBoolean, kInteger, kNumber, kString, kStringList };

// "a boolean", "an integer", "a number", "a string", "an array of strings".
std::string_view ExpectedTypeName(ValueType type);

// A value as TOML holds it. A kNumber setting is always given a double
// (ParseConfig widens TOML integers), the others the alternative of their type.
using SettingValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct Setting {
  std::string section;  // "hybrid_memory", "partitions.code"
  std::string key;      // "ramlake_size_gb"
  ValueType type = ValueType::kString;
  std::string help;     // one line, printed by FormatConfig beside the value
  std::function<SettingValue(const HybridMemoryConfig&)> read;
  // Stores `value` into `config`, or leaves it alone and says what is wrong
  // with the value ("must be between 1 and 19, got 25").
  std::function<std::optional<std::string>(const SettingValue& value, HybridMemoryConfig& config)>
      write;
  // For strings whose empty value stands for something ("stderr", a derived
  // path): what it stands for in `config`. Unset for the others.
  std::function<std::string(const HybridMemoryConfig&)> meaning_of_empty;

  std::string Path() const { return section + "." + key; }
};

// Every key, grouped by section, in the order FormatConfig writes them.
const std::vector<Setting>& AllSettings();

// The setting at a dotted path ("wal.segment_size_mb"), or nullptr.
const Setting* FindSetting(std::string_view path);

// Whether path names a section or a table above one ("partitions").
bool IsSection(std::string_view path);

// The keys and sub-tables directly inside a section ("" = the top level).
std::vector<std::string> NamesInside(std::string_view section);

// The candidate closest to name by edit distance (case-insensitive, a swap of
// neighbours counts once), when close enough to be a typo of it.
std::optional<std::string> NearestName(std::string_view name,
                                       const std::vector<std::string>& candidates);

// Re-checks every setting's value as ParseConfig would (for configs built in code).
void CheckSettingValues(const HybridMemoryConfig& config, ProblemLog* errors);

// The rules that span several settings: partition shares add up to 100, TLS
// is all or nothing, plaintext only on loopback unless insecure, distinct
// ports, features not available yet refused. Needs every setting to hold an accepted value.
void CheckConsistency(const HybridMemoryConfig& config, ProblemLog* errors, ProblemLog* warnings);

// "200 GiB", "23.5 GiB", "64 MiB", "512 B".
std::string FormatBytes(std::uint64_t bytes);

// The shortest text that reads back as exactly `value` ("0.0625", "200", "nan").
std::string FormatNumber(double value);

}  // namespace postdevai::config
