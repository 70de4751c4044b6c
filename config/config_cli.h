// `dragon_node [--config F] --check-config`: validates a config without
// starting a node. Lives here so the program's main stays a dispatcher and the
// behaviour is testable with string streams.
#pragma once

#include <ostream>
#include <string>

namespace postdevai::config {

// Loads the config file at path_or_empty (embedded defaults when empty), runs
// ParseConfig's and ValidateConfig's checks, and
//   * when it is usable: writes the effective config as TOML to `out`, each
//     warning as "warning: ..." to `err`, and returns 0;
//   * otherwise: writes the warnings, then every problem as one line
//     "error: <file>:<line>:<column>: <key>: <what>" to `err`, and returns 1.
// `out` receives nothing but valid TOML, so it can be saved as a config file.
int RunCheckConfig(const std::string& path_or_empty, std::ostream& out, std::ostream& err);

}  // namespace postdevai::config
