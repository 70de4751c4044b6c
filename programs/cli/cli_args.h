// Parsing what a user types on postdevai-cli's command line: durations,
// HOST:PORT, counts, and the options of one command. Free of I/O so that
// tests check it directly; every error names the argument it is about.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/units.h"
#include "postdevai/status.h"

namespace postdevai::cli {

// "30s", "15m", "24h", "7d", or a sum of them ("1h30m"); a unit is required
// after every number, so that "24" is not silently 24 seconds. `what` names
// the option in the error ("--older-than").
Result<std::uint64_t> ParseDurationSeconds(std::string_view text, std::string_view what);

// "HOST:PORT", "[IPV6]:PORT" or "HOST" (then default_port). The port must be
// 1..65535.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string ToString() const;  // brackets an IPv6 literal
};
Result<Endpoint> ParseEndpoint(std::string_view text, std::uint16_t default_port, std::string_view what);

// A non-negative integer, at most `max`.
Result<std::uint64_t> ParseCount(std::string_view text, std::uint64_t max, std::string_view what);

// The options and positional arguments one command accepts.
struct OptionSpec {
  std::string name;        // "--older-than"
  std::string value_name;  // "DURATION"; empty for a flag
  std::string help;
};
struct PositionalSpec {
  std::string name;        // "PATH"
  bool required = true;
  bool variadic = false;   // takes every remaining argument (last one only)
};

struct ParsedArgs {
  std::map<std::string, std::string, std::less<>> values;  // option -> value ("" for a set flag)
  std::vector<std::string> positionals;
  bool Has(std::string_view option) const { return values.find(option) != values.end(); }
  std::optional<std::string> Get(std::string_view option) const {
    auto it = values.find(option);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

// Parses `args` (what follows the command words) against the specs. "--"
// ends the options: everything after it is positional. `command` names the
// command in errors ("memory evict").
Result<ParsedArgs> ParseCommandArgs(const std::vector<std::string>& args, const std::vector<OptionSpec>& options,
                                    const std::vector<PositionalSpec>& positionals, std::string_view command);

// "12.3 MiB", "3d 4h": the same units as the node's own reports.
using client::FormatBytes;
using client::FormatSeconds;

}  // namespace postdevai::cli
