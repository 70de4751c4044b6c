// The gRPC API (proto/postdevai/memory/v1/memory.proto) as dragon_node serves
// it: a thin adapter from the generated messages to the client core
// (client/memory_client.h), which implements every operation once. No
// domain logic lives here; only the wire, its limits and who may call.
//
// Security: served on node.address:node.port. TLS when node.certificate and
// node.key are set, mutual TLS (clients must present a certificate that
// node.ca_file signed) when node.ca_file is set too; plaintext is refused on
// a non-loopback address unless node.insecure. With node.token_file every
// call must carry "authorization: Bearer TOKEN" (UNAUTHENTICATED otherwise);
// the file must be the node user's and not readable by others.
//
// Limits ([grpc]): message size; calls in flight per connection
// (max_concurrent_streams, counted by the node itself: gRPC 1.51 enforces it
// only for clients that acknowledge its SETTINGS); bytes of requests and
// replies held by calls in flight over all connections (memory_mb, also
// gRPC's resource quota); idle and handshake timeouts; keepalive pings that
// drop a peer that stops answering; and deadline_seconds, enforced on each
// request a call makes to the engine (past it the call fails UNAVAILABLE; a
// client's shorter deadline ends the call for the client first). Calls
// beyond a limit get RESOURCE_EXHAUSTED naming it. Connections: at most max_connections (the newest beyond it are ended
// within 200 ms), and the connection of a client that opens streams past
// max_concurrent_streams is ended (rpc/connection_guard.h: gRPC 1.51 can do
// neither itself).
//
// Thread-safety: Start, port and Shutdown from one thread; calls are served
// on gRPC's threads and answered from the engine's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/memory_client.h"
#include "postdevai/config.h"
#include "postdevai/records.h"
#include "postdevai/status.h"

namespace postdevai::rpc {

// What the gRPC door has seen since it started (Prometheus: postdevai_grpc_*).
struct GrpcCounters {
  std::uint64_t calls = 0;            // calls that arrived (unary and streams)
  std::uint64_t errors = 0;           // answered with an error (refusals included)
  std::uint64_t refused_limit = 0;    // refused by max_concurrent_streams or memory_mb
  std::uint64_t refused_token = 0;    // refused for a missing or wrong access token
  std::uint64_t in_flight = 0;        // calls not answered yet
  std::uint64_t held_bytes = 0;       // bytes of requests and replies held (see memory_mb)
  std::uint64_t connections = 0;      // open connections (scanned every 200 ms)
  std::uint64_t refused_connections = 0;  // ended for being over max_connections
  std::uint64_t dropped_connections = 0;  // ended for opening streams past max_concurrent_streams
};

class ReplicationNode;

// Runs `diagnose memory`'s checks on this node and answers with the findings.
using DiagnoseFunction = std::function<void(client::Reply<std::vector<records::finding>>)>;

class GrpcServer {
 public:
  // Starts serving `memory` (its engine's info is what Info answers) with
  // the settings of config.node and config.grpc, and, when given,
  // `replication`'s service (rpc/replication.h) beside it, which must
  // outlive the server. Errors name the address or
  // the file (kInvalidArgument: plaintext on a non-loopback address, a token
  // file others may read; kUnavailable: the port is taken).
  static Result<std::unique_ptr<GrpcServer>> Start(std::shared_ptr<client::MemoryClient> memory,
                                                   const HybridMemoryConfig& config, DiagnoseFunction diagnose,
                                                   ReplicationNode* replication = nullptr);
  // Shuts down (see Shutdown) if still serving.
  ~GrpcServer();

  // The port it listens on (the configured one, or the one picked for 0).
  std::uint16_t port() const;
  // "plaintext", "TLS" or "mutual TLS", with ", access token" when one is asked.
  const std::string& security() const;
  // Thread-safe.
  GrpcCounters counters() const;
  // Stops accepting calls; calls in flight get up to `grace` to finish, then
  // are cancelled. Returns once every call is done.
  void Shutdown(std::chrono::milliseconds grace);

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai::rpc
