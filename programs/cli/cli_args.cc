#include "programs/cli/cli_args.h"

#include <cctype>
#include <cstdio>
#include <limits>

namespace postdevai::cli {

namespace {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

Result<std::uint64_t> ParseDurationSeconds(std::string_view text, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad duration " + Quote(text) + " for " + std::string(what) + ": " + why +
                                   " (examples: 30s, 15m, 24h, 7d, 1h30m)");
  };
  if (text.empty()) return bad("empty");
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad("expected a number at " + Quote(text.substr(i)));
    std::uint64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
      if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return bad("too large");
      n = n * 10 + digit;
      ++i;
    }
    if (i == text.size()) return bad("missing unit after " + std::to_string(n) + ": use s, m, h or d");
    std::uint64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return bad("unknown unit " + Quote(text.substr(i, 1)) + ": use s, m, h or d");
    }
    ++i;
    // Durations beyond ~290 years are typos; refusing them also keeps the
    // node's microsecond arithmetic (seconds * 10^6) from overflowing.
    constexpr std::uint64_t kMaxSeconds = 100ull * 365 * 86400;
    if (n > kMaxSeconds / unit || total + n * unit > kMaxSeconds) return bad("longer than 100 years");
    total += n * unit;
  }
  return total;
}

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> ParseEndpoint(std::string_view text, std::uint16_t default_port, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad " + std::string(what) + " " + Quote(text) + ": " + why +
                                   " (expected HOST:PORT, e.g. 127.0.0.1:4710)");
  };
  Endpoint e;
  std::string_view port_text;
  if (text.empty()) return bad("empty");
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    e.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected ':' after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return bad("missing port after ':'");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      return bad("an IPv6 address needs brackets: [ADDRESS]:PORT");
    }
    if (colon == std::string_view::npos) {
      e.host = std::string(text);
    } else {
      e.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return bad("missing port after ':'");
    }
  }
  if (e.host.empty()) return bad("missing host");
  if (port_text.empty()) {
    e.port = default_port;
    return e;
  }
  auto port = ParseCount(port_text, 65535, std::string(what) + " port");
  if (!port.ok()) return bad("port " + Quote(port_text) + " is not a number");
  if (*port == 0) return bad("port 0 cannot be connected to");
  e.port = static_cast<std::uint16_t>(*port);
  return e;
}

Result<std::uint64_t> ParseCount(std::string_view text, std::uint64_t max, std::string_view what) {
  if (text.empty()) return Status::InvalidArgument("bad " + std::string(what) + ": empty");
  std::uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return Status::InvalidArgument("bad " + std::string(what) + " " + Quote(text) + ": not a whole number");
    }
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    // n * 10 + digit <= max, written so that nothing overflows.
    if (n > max / 10 || digit > max - n * 10) {
      return Status::InvalidArgument("bad " + std::string(what) + " " + Quote(text) + ": at most " +
                                     std::to_string(max));
    }
    n = n * 10 + digit;
  }
  return n;
}

Result<ParsedArgs> ParseCommandArgs(const std::vector<std::string>& args, const std::vector<OptionSpec>& options,
                                    const std::vector<PositionalSpec>& positionals, std::string_view command) {
  ParsedArgs out;
  const std::string see = " (see postdevai-cli " + std::string(command) + " --help)";
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!options_done && arg == "--") {
      options_done = true;
      continue;
    }
    // A lone "-" is a positional (conventionally stdin); anything else
    // starting with '-' is an option.
    if (!options_done && arg.size() > 1 && arg[0] == '-') {
      std::string name = arg;
      std::optional<std::string> inline_value;
      if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
      const OptionSpec* spec = nullptr;
      for (const auto& o : options) {
        if (o.name == name) spec = &o;
      }
      if (spec == nullptr) return Status::InvalidArgument("unknown option " + Quote(name) + " for " + std::string(command) + see);
      if (spec->value_name.empty()) {
        if (inline_value) return Status::InvalidArgument("option " + name + " takes no value" + see);
        out.values[name] = "";
        continue;
      }
      if (inline_value) {
        out.values[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        out.values[name] = args[++i];
      } else {
        return Status::InvalidArgument("option " + name + " needs a value: " + name + " " + spec->value_name + see);
      }
      continue;
    }
    out.positionals.push_back(arg);
  }
  // Match positionals to their specs.
  std::size_t required = 0;
  bool variadic = false;
  for (const auto& p : positionals) {
    if (p.required) ++required;
    if (p.variadic) variadic = true;
  }
  if (out.positionals.size() < required) {
    const auto& missing = positionals[out.positionals.size()];
    return Status::InvalidArgument("missing " + missing.name + " for " + std::string(command) + see);
  }
  if (!variadic && out.positionals.size() > positionals.size()) {
    return Status::InvalidArgument("unexpected argument " + Quote(out.positionals[positionals.size()]) + " for " +
                                   std::string(command) + see);
  }
  return out;
}

}  // namespace postdevai::cli
