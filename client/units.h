// Sizes and durations as people read them, the same in every report
// (postdevai-cli's output, the node's diagnosis).
#pragma once

#include <cstdint>
#include <string>

namespace postdevai::client {

// "512 B", "1.5 KiB", "3.2 GiB" (binary units).
std::string FormatBytes(std::uint64_t bytes);
// "250ms", "12.5s", "3m 20s", "2h 5m", "1d 4h".
std::string FormatSeconds(double seconds);

}  // namespace postdevai::client
