// The client core's EnginePort over CAF: the public protocol's verbs sent to
// an engine_actor — the engine in this process (Engine::local()) or a node's
// endpoint reached as a remote actor (ConnectToNode). Requests are issued by
// one bridge actor (cheaper than a scoped_actor per call); replies fulfil the
// callbacks on CAF's threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/interfaces.h"
#include "client/engine_port.h"

namespace postdevai::actors {

class HotReads;

struct ActorPortOptions {
  // How long one request may take before it fails with kUnavailable (an
  // actor that stopped mid-request never answers in CAF 0.17).
  std::chrono::milliseconds timeout = std::chrono::minutes(2);
  // Turns CAF's own errors (not the engine's) into a Status; null: FromError.
  std::function<Status(const char* verb, const caf::error&)> translate;
  // Called after every request with its verb, outcome and duration (-v).
  std::function<void(const char* verb, const Status&, std::chrono::microseconds)> observe;
  // The engine's read views (Engine::hot_reads), for a port to an engine in
  // this process: a read of a RAM-resident entry is then answered on the
  // calling thread, inside Read, without a message. Null: every read is a
  // request.
  std::shared_ptr<HotReads> hot_reads;
};

// The port stops its bridge actor when destroyed; destroy it before `sys`.
std::shared_ptr<client::EnginePort> MakeActorPort(caf::actor_system& sys, engine_actor engine,
                                                  ActorPortOptions options = {});

}  // namespace postdevai::actors
