// Fuzz target: dragon_node.toml text through ParseConfig (config/config.cc),
// what LoadConfigFile and `dragon_node --check-config` do with a file's bytes.
//
// This target compiles its own copy of config/*.cc with toml++ built in
// (TOML_HEADER_ONLY=1, fuzz/CMakeLists.txt) instead of linking Debian's
// prebuilt libtomlplusplus.so: the TOML parser is then instrumented too, so
// coverage guides the fuzzer through TOML's syntax and not only through our
// schema. Same toml++ version (3.3), same sources of ours.
//
// Input: the whole input is the text (named "fuzz.toml").
//
// Not run: ValidateConfig. It probes the paths a config names (statvfs, and
// a walk of what is under the RAM-Lake and persistent paths): with fuzzed
// paths such as "/" that is a walk of the whole machine per input.
//
// Checked beyond "no crash, no exception out of ParseConfig":
//   * a refused text gives kInvalidArgument whose message has one problem per
//     line, each a non-empty line starting with the source name (the format
//     include/postdevai/config.h promises: <source>[:<line>:<column>]: ...);
//   * an accepted config equals itself (no NaN slipped through a range
//     check), and FormatConfig's text of it parses back to an equal config
//     that formats to the same text (the promise of FormatConfig);
//   * the warnings, too, are non-empty single lines naming the source.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_harness.h"
#include "postdevai/config.h"

namespace {

using postdevai::fuzz::Fail;

constexpr std::string_view kSource = "fuzz.toml";

void CheckLines(std::string_view text, std::string_view what) {
  if (text.empty()) Fail(std::string(what) + " is empty");
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.substr(0, kSource.size()) != kSource) {
      Fail(std::string(what) + " has a line that does not start with the source name: '" +
           std::string(line.substr(0, 200)) + "'");
    }
    start = end + 1;
  }
}

postdevai::Result<postdevai::HybridMemoryConfig> Parse(std::string_view text, std::vector<std::string>* warnings) {
  try {
    return postdevai::ParseConfig(text, std::string(kSource), warnings);
  } catch (const std::exception& e) {
    Fail(std::string("ParseConfig let an exception out: ") + e.what());
  } catch (...) {
    Fail("ParseConfig let an exception of unknown type out");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  auto parsed = Parse(text, &warnings);
  for (const auto& w : warnings) CheckLines(w, "a warning");
  if (!parsed.ok()) {
    if (parsed.status().code() != postdevai::StatusCode::kInvalidArgument) {
      Fail("ParseConfig failed with other than kInvalidArgument: " + parsed.status().ToString());
    }
    CheckLines(parsed.status().message(), "the error message");
    return 0;
  }
  const postdevai::HybridMemoryConfig& config = *parsed;
  if (!(config == config)) Fail("an accepted config is not equal to itself (a NaN got through)");
  const std::string formatted = postdevai::FormatConfig(config);
  std::vector<std::string> ignored;
  auto reparsed = Parse(formatted, &ignored);
  if (!reparsed.ok()) {
    Fail("FormatConfig's text of an accepted config is refused: " + reparsed.status().message() + "\n--- text:\n" +
         formatted);
  }
  if (!(*reparsed == config)) Fail("ParseConfig(FormatConfig(c)) != c; text:\n" + formatted);
  if (postdevai::FormatConfig(*reparsed) != formatted) Fail("FormatConfig is not stable over a round trip");
  return 0;
}
