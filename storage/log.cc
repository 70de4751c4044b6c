#include "postdevai/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace postdevai {

namespace {

struct LogState {
  std::mutex mu;
  LogLevel level = LogLevel::kInfo;
  std::FILE* file = nullptr;
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: actors may log during exit
  return *state;
}

const char* LevelTag(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "TRACE";
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO ";
    case LogLevel::kWarning: return "WARN ";
    case LogLevel::kError: return "ERROR";
  }
  return "?    ";
}

}  // namespace

Status ConfigureLogging(const LoggingConfig& config) {
  auto& st = State();
  std::FILE* file = nullptr;
  if (!config.file.empty()) {
    file = std::fopen(config.file.c_str(), "a");
    if (file == nullptr) return Status::IoError("cannot open log file " + config.file + " for appending");
  }
  std::lock_guard lock(st.mu);
  if (st.file != nullptr) std::fclose(st.file);
  st.file = file;
  st.level = config.level;
  return Status::Ok();
}

void Log(LogLevel level, std::string_view component, std::string_view message) {
  auto& st = State();
  if (level < st.level) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc;
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line;
  line.reserve(48 + component.size() + message.size());
  line += stamp;
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ ", static_cast<int>(millis));
  line += ms;
  line += LevelTag(level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  line += '\n';
  std::lock_guard lock(st.mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (st.file != nullptr) {
    std::fwrite(line.data(), 1, line.size(), st.file);
    std::fflush(st.file);
  }
}

}  // namespace postdevai
