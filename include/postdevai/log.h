// The process-wide log: every line goes to stderr and, when configured, to a
// file, each with a UTC timestamp, a level and the component that wrote it:
//   2026-11-25T10:58:01.123Z WARN  store: applying 12 writes failed (will retry): ...
// Lines below the configured level are dropped. Thread-safe.
#pragma once

#include <string_view>

#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai {

// Sets the level and (re)opens the log file for appending; an empty file
// logs to stderr only. Errors name the file.
Status ConfigureLogging(const LoggingConfig& config);

void Log(LogLevel level, std::string_view component, std::string_view message);

inline void LogInfo(std::string_view component, std::string_view message) { Log(LogLevel::kInfo, component, message); }
inline void LogWarning(std::string_view component, std::string_view message) {
  Log(LogLevel::kWarning, component, message);
}
inline void LogError(std::string_view component, std::string_view message) { Log(LogLevel::kError, component, message); }

}  // namespace postdevai
