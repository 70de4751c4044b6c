#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "bench/scenarios.h"

namespace postdevai::bench {

bool HasFlag(const Args& args, const std::string& flag) {
  for (const auto& a : args) if (a == flag) return true;
  return false;
}

std::string OptionValue(const Args& args, const std::string& flag, const std::string& fallback) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) if (args[i] == flag) return args[i + 1];
  return fallback;
}

long long OptionInt(const Args& args, const std::string& flag, long long fallback) {
  std::string v = OptionValue(args, flag, "");
  if (v.empty()) return fallback;
  return std::atoll(v.c_str());
}

std::string MakeScratchDir(const std::string& scenario) {
  const char* base = std::getenv("POSTDEVAI_BENCH_DIR");
  std::filesystem::path root = base ? base : std::filesystem::temp_directory_path();
  // /tmp may be tmpfs on some machines; fsync figures would then be meaningless.
  auto dir = root / ("postdevai-bench-" + scenario + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace postdevai::bench
