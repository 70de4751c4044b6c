// The built-in embedder as the CLI uses it (ingest indexes, search queries):
// always at the node's own model and dimension, which the client core learns
// from the node when it connects.
#pragma once

#include <cstdlib>
#include <string>

#include "client/memory_client.h"
#include "programs/cli/commands.h"

namespace postdevai::cli {

// --dimension is a check, not a choice: when given it must be the node's.
inline Status CheckEmbeddingDimension(const ParsedArgs& args, const client::MemoryClient& memory) {
  auto d = args.Get("--dimension");
  if (!d) return Status::Ok();
  char* end = nullptr;
  const unsigned long long n = std::strtoull(d->c_str(), &end, 10);
  if (end == d->c_str() || *end != '\0' || n < 2 || n > 8192) {
    return Status::InvalidArgument("bad --dimension '" + *d + "': a number from 2 to 8192");
  }
  if (n != memory.info().vector_dimension) {
    return Status::InvalidArgument("--dimension " + *d + " is not the node's: its model '" +
                                   memory.info().vector_model + "' has dimension " +
                                   std::to_string(memory.info().vector_dimension));
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
