// The zstd dictionary value_codec_fuzzer registers (as id 1) and make_corpus
// compresses its dictionary seeds with: a raw-content dictionary (zstd takes
// any bytes as one) shaped like the values the code kind holds.
#pragma once

#include <string_view>

namespace postdevai::fuzz {

inline constexpr std::string_view kValueCodecDictionary =
    "#include <cstdint>\n#include <string>\n#include <vector>\nnamespace postdevai {\n"
    "std::string Encode(std::string_view raw, std::uint64_t lsn) const {\n  return std::string(raw);\n}\n"
    "for (std::size_t i = 0; i < values.size(); ++i) {\n  if (!status.ok()) return status;\n}\n"
    "}  // namespace postdevai\n";

}  // namespace postdevai::fuzz
