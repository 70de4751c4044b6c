// The network endpoint: the only actor ever published to other processes.
// It serves the public protocol (engine_actor) and nothing else, answering
// each request with the controller's reply (request/then, so a peer only
// ever sees the endpoint's own address, never an internal actor's).
//
// A peer cannot stop it: exit messages (an anon_send_exit, even with
// exit_reason::kill, or a link to a peer that disconnects) and down messages
// are dropped on arrival, before CAF would act on them. Only StopEndpoint,
// from inside this process, stops it.
// Internal: included by actors/*.cc and the node's programs.
#pragma once

#include <atomic>
#include <memory>

#include "actors/interfaces.h"

namespace postdevai::actors {

struct Endpoint {
  engine_actor actor;
  // Set by StopEndpoint: from then on exit messages are obeyed.
  std::shared_ptr<std::atomic<bool>> stopping;
};

Endpoint SpawnEndpoint(caf::actor_system& sys, const controller_actor& controller);

// Stops the endpoint and waits until it is gone. Blocks: call from a plain thread.
void StopEndpoint(caf::actor_system& sys, Endpoint& endpoint);

}  // namespace postdevai::actors
