// The channel to a node that every C++ client of its gRPC services opens
// (the CLI's MemoryConnection, a replica following its primary): TLS when
// the options name a CA file, certificate or key; no limit on message sizes
// (the node enforces its own).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "postdevai/status.h"
#include "rpc/grpc_client.h"

namespace postdevai::rpc {

// Errors of reading the PEM files, naming them.
Result<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options, const std::string& endpoint);

}  // namespace postdevai::rpc
