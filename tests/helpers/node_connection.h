// The C++ gRPC client (rpc/grpc_client.h) connected to a NodeProcess, for
// tests that talk to a real node in process: the test fails when it cannot
// connect. Tests that include it link postdevai_rpc (tests/CMakeLists.txt).
#pragma once

#include <catch2/catch.hpp>

#include <memory>

#include "rpc/grpc_client.h"
#include "tests/helpers/node_process.h"

namespace postdevai::testing {

inline std::unique_ptr<rpc::MemoryConnection> Connect(const NodeProcess& node) {
  rpc::ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = node.port();
  auto connected = rpc::MemoryConnection::Connect(options);
  INFO(connected.status().ToString());
  REQUIRE(connected.ok());
  return std::move(*connected);
}

}  // namespace postdevai::testing
