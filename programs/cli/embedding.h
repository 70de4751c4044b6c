// The built-in embedder as the CLI uses it (ingest indexes, search queries).
#pragma once

#include <cstdlib>
#include <string>

#include "programs/cli/commands.h"
#include "simd/lexical_embedder.h"

namespace postdevai::cli {

// The embedding dimension: --dimension, else --config's [vectors] dimension,
// else the lexical embedder's default; it must be the node's.
inline Result<std::size_t> EmbeddingDimension(const CommandContext& ctx, const ParsedArgs& args) {
  if (auto d = args.Get("--dimension")) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(d->c_str(), &end, 10);
    if (end == d->c_str() || *end != '\0' || n < 2 || n > 8192) {
      return Status::InvalidArgument("bad --dimension '" + *d + "': a number from 2 to 8192");
    }
    return static_cast<std::size_t>(n);
  }
  if (ctx.config()) return static_cast<std::size_t>(ctx.config()->vectors.dimension);
  return LexicalEmbedder::kDefaultDimension;
}

}  // namespace postdevai::cli
