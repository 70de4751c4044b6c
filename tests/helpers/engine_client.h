// Blocking access to an engine started in a test's own actor system: the
// system (configured as the engine wants it) and a client of the public
// protocol over a scoped actor. One Client per thread.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/engine.h"
#include "actors/errors.h"

namespace postdevai::testing {

struct System {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  System() {
    actors::ConfigureActorSystem(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

struct Client {
  caf::scoped_actor self;
  actors::engine_actor engine;
  Client(caf::actor_system& sys, actors::engine_actor e) : self(sys), engine(std::move(e)) {}

  Result<std::uint64_t> Put(DataKind kind, std::string key, std::string value) {
    records::write_batch batch;
    batch.mutations.push_back(records::MakePut(kind, std::move(key), std::move(value)));
    return Write(std::move(batch));
  }
  Result<std::uint64_t> Write(records::write_batch batch) {
    return Ask<std::uint64_t>(std::chrono::seconds(30), actors::write_atom_v, std::move(batch));
  }
  Result<records::read_result> Get(DataKind kind, std::string key) {
    return Ask<records::read_result>(std::chrono::seconds(30), actors::read_atom_v, kind, std::move(key),
                                     std::string("test"));
  }
  // A checkpoint (`memory sync --force`): the store's, then the WAL released.
  Result<std::uint64_t> Sync() { return Ask<std::uint64_t>(std::chrono::seconds(60), actors::sync_atom_v); }
  // Fails the test when the engine does not answer.
  records::memory_report Stats() {
    auto r = Ask<records::memory_report>(std::chrono::seconds(30), actors::stats_atom_v);
    if (!r.ok()) FAIL(r.status().ToString());
    return r.ok() ? std::move(*r) : records::memory_report{};
  }
  records::sync_report SyncReport() { return Stats().sync; }
  // Evicts every clean entry from RAM; how many.
  std::uint64_t EvictAll() {
    auto results = Ask<std::vector<records::eviction_result>>(std::chrono::seconds(30), actors::evict_atom_v,
                                                              std::uint64_t{0}, false);
    if (!results.ok()) FAIL(results.status().ToString());
    std::uint64_t evicted = 0;
    if (results.ok()) {
      for (const auto& r : *results) evicted += r.entries;
    }
    return evicted;
  }

 private:
  template <class T, class... Ts>
  Result<T> Ask(std::chrono::seconds timeout, Ts&&... xs) {
    Result<T> out = Status::Unavailable("no reply");
    self->request(engine, timeout, std::forward<Ts>(xs)...)
        .receive([&](T& reply) { out = std::move(reply); }, [&](caf::error& e) { out = actors::FromError(e); });
    return out;
  }
};

}  // namespace postdevai::testing
