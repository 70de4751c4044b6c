#include "config/config_cli.h"

#include <string_view>
#include <vector>

#include "postdevai/config.h"

namespace postdevai::config {
namespace {

// A failed Status from the config layer carries one problem per line.
void PrintProblems(const Status& status, std::ostream& err) {
  std::string_view rest = status.message();
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    err << "error: " << rest.substr(0, end) << '\n';
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
}

void PrintWarnings(const std::vector<std::string>& warnings, std::ostream& err) {
  for (const std::string& w : warnings) err << "warning: " << w << '\n';
}

}  // namespace

int RunCheckConfig(const std::string& path_or_empty, std::ostream& out, std::ostream& err) {
  std::vector<std::string> warnings;
  Result<HybridMemoryConfig> config =
      path_or_empty.empty() ? Result<HybridMemoryConfig>(EmbeddedDefaults())
                            : LoadConfigFile(path_or_empty, &warnings);
  if (!config.ok()) {
    PrintWarnings(warnings, err);
    PrintProblems(config.status(), err);
    return 1;
  }
  Status valid = ValidateConfig(*config, &warnings);
  PrintWarnings(warnings, err);
  if (!valid.ok()) {
    PrintProblems(valid, err);
    return 1;
  }
  out << FormatConfig(*config);
  return 0;
}

}  // namespace postdevai::config
