// The network endpoint: the only actor ever published to other processes.
// It serves the public protocol (engine_actor) and nothing else, answering
// each request with the controller's reply (request/then, so a peer only
// ever sees the endpoint's own address, never an internal actor's).
//
// A peer cannot stop it: exit messages (an anon_send_exit, even with
// exit_reason::kill, or a link to a peer that disconnects) and down messages
// are dropped on arrival, before CAF would act on them. Only StopEndpoint,
// from inside this process, stops it — after answering what it forwarded.
// Internal: included by actors/*.cc and the node's programs.
#pragma once

#include <atomic>
#include <memory>

#include "actors/interfaces.h"

namespace postdevai::actors {

// Shared between the endpoint and StopEndpoint (atomics: two threads).
struct EndpointControl {
  std::atomic<bool> closing{false};       // new requests get kUnavailable "the node is stopping"
  std::atomic<bool> stopping{false};      // exit messages are obeyed
  std::atomic<std::int64_t> in_flight{0}; // forwarded, not yet answered
};

struct Endpoint {
  engine_actor actor;
  std::shared_ptr<EndpointControl> control;
};

Endpoint SpawnEndpoint(caf::actor_system& sys, const controller_actor& controller);

// Refuses new requests, waits (up to 30 s) until every forwarded one is
// answered, then stops the endpoint and waits until it is gone. Blocks: call
// from a plain thread.
void StopEndpoint(caf::actor_system& sys, Endpoint& endpoint);

}  // namespace postdevai::actors
