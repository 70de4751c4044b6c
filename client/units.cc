#include "client/units.h"

#include <cstdio>

namespace postdevai::client {

std::string FormatBytes(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

std::string FormatSeconds(double seconds) {
  char buf[48];
  if (seconds < 1) {
    std::snprintf(buf, sizeof buf, "%.0fms", seconds * 1000.0);
    return buf;
  }
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  auto s = static_cast<std::uint64_t>(seconds);
  const std::uint64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (d > 0) {
    std::snprintf(buf, sizeof buf, "%llud %lluh", static_cast<unsigned long long>(d), static_cast<unsigned long long>(h));
  } else if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lluh %llum", static_cast<unsigned long long>(h), static_cast<unsigned long long>(m));
  } else {
    std::snprintf(buf, sizeof buf, "%llum %llus", static_cast<unsigned long long>(m), static_cast<unsigned long long>(sec));
  }
  return buf;
}

}  // namespace postdevai::client
