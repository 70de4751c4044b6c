#include "actors/remote.h"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/errors.h"

namespace postdevai::actors {

bool UsesTls(const NodeConfig& node) {
  return !node.certificate.empty() && !node.key.empty() && !node.ca_file.empty();
}

void LoadNetworkModules(caf::actor_system_config& cfg, const NodeConfig& node) {
  cfg.load<caf::io::middleman>();
  if (UsesTls(node)) {
    cfg.load<caf::openssl::manager>();
    cfg.set("openssl.certificate", node.certificate);
    cfg.set("openssl.key", node.key);
    cfg.set("openssl.cafile", node.ca_file);
  }
}

Result<std::uint16_t> PublishEndpoint(caf::actor_system& sys, const engine_actor& endpoint, const NodeConfig& node,
                                      const CafEndpointConfig& caf) {
  const bool tls = UsesTls(node);
  const std::string where = node.address + ":" + std::to_string(caf.port);
  if (!tls && !(caf.insecure && IsLoopbackAddress(node.address))) {
    return Status::InvalidArgument("refusing to serve the CAF endpoint on " + where +
                                   " without mutual TLS: set node.certificate, node.key and node.ca_file, or "
                                   "(on a loopback address only) caf.insecure = true");
  }
  caf::expected<std::uint16_t> port = tls ? caf::openssl::publish(endpoint, caf.port, node.address.c_str(), true)
                                          : caf::io::publish(endpoint, caf.port, node.address.c_str(), true);
  if (!port) {
    return Status::Unavailable("cannot serve the CAF endpoint on " + where + ": " + sys.render(port.error()));
  }
  return *port;
}

Result<engine_actor> ConnectToNode(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                                   const NodeConfig& tls) {
  caf::expected<engine_actor> node = UsesTls(tls) ? caf::openssl::remote_actor<engine_actor>(sys, host, port)
                                                  : sys.middleman().remote_actor<engine_actor>(host, port);
  if (!node) {
    return Status::Unavailable("no dragon_node reachable at " + host + ":" + std::to_string(port) + " (" +
                               sys.render(node.error()) + ")");
  }
  return *node;
}

}  // namespace postdevai::actors
