// Serving the engine to actor-native C++ hosts and other nodes as a CAF remote
// actor over TCP (off unless [caf] enabled), and reaching such a node. Mutual TLS through CAF's
// OpenSSL module when a certificate, key and CA file are all configured; a
// peer without a certificate from that CA is refused during the handshake.
#pragma once

#include <cstdint>
#include <string>

#include "actors/interfaces.h"
#include "postdevai/config.h"

namespace postdevai::actors {

// Whether these settings ask for TLS (all of certificate, key and CA set).
bool UsesTls(const NodeConfig& node);

// Loads the network modules into cfg: the middleman, and the OpenSSL manager
// with the certificate, key and CA when UsesTls(node). Call before the
// actor_system is constructed.
void LoadNetworkModules(caf::actor_system_config& cfg, const NodeConfig& node);

// Publishes the engine's CAF endpoint (Engine::endpoint(): the public
// protocol only) at node.address:caf.port (0: any free port); returns the
// port. Mutual TLS when UsesTls(node); plaintext only on a loopback address
// with caf.insecure. Errors name the address.
Result<std::uint16_t> PublishEndpoint(caf::actor_system& sys, const engine_actor& endpoint, const NodeConfig& node,
                                      const CafEndpointConfig& caf);

// Connects to the endpoint of the node at host:port, with TLS when
// UsesTls(tls). kUnavailable naming host:port when nothing answers there.
Result<engine_actor> ConnectToNode(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                                   const NodeConfig& tls);

}  // namespace postdevai::actors
