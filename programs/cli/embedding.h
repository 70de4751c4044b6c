// The built-in embedder as the CLI uses it (ingest indexes, search queries):
// always at the node's own model and dimension, which the client core learns
// from the node when it connects.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "postdevai/records.h"
#include "programs/cli/commands.h"

namespace postdevai::cli {

// --dimension is a check, not a choice. Its spelling is checked before
// connecting (a bad argument is exit 2 whether or not a node answers) ...
inline Result<std::optional<std::uint32_t>> ParseDimensionFlag(const ParsedArgs& args) {
  auto d = args.Get("--dimension");
  if (!d) return std::optional<std::uint32_t>();
  char* end = nullptr;
  const unsigned long long n = std::strtoull(d->c_str(), &end, 10);
  if (end == d->c_str() || *end != '\0' || n < 2 || n > 8192) {
    return Status::InvalidArgument("bad --dimension '" + *d + "': a number from 2 to 8192");
  }
  return std::optional<std::uint32_t>(static_cast<std::uint32_t>(n));
}

// ... and, when given, it must be the node's.
inline Status CheckEmbeddingDimension(std::optional<std::uint32_t> wanted, const records::engine_info& node) {
  if (!wanted || *wanted == node.vector_dimension) return Status::Ok();
  return Status::InvalidArgument("--dimension " + std::to_string(*wanted) + " is not the node's: its model '" +
                                 node.vector_model + "' has dimension " + std::to_string(node.vector_dimension));
}

}  // namespace postdevai::cli
