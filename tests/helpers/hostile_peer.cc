// A hostile CAF peer for hostile_peer_test: connects to a dragon_node's
// endpoint over TCP and tries one attack on it.
//
//   hostile_peer PORT ATTACK
//
// ATTACK:
//   exit      anon_send_exit with kill, user_shutdown and an error reason
//   link      link an actor to the endpoint, kill it, then vanish (_exit)
//   internal  every internal verb (persisted, prefetch, route, promote,
//             access, attach, apply with LSN 2^64-1, flush, checkpoint,
//             release, tick): each request must be refused; then whether a
//             reply ever comes from an actor other than the endpoint
//   unknown   messages of types the node has no handler for, or cannot decode
//   bounds    search with k = 2^31, an oversized key, evict with 2^64-1
//             seconds, a read of an unknown kind
// Prints one line per check ("ok: ..." or "FAIL: ..."); the exit code is the
// number of failed checks (the link attack exits 0 without a word).
#include <unistd.h>

#include <caf/io/all.hpp>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/interfaces.h"
#include "actors/remote.h"
#include "actors/spawn.h"

using namespace postdevai;
using namespace postdevai::actors;

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

// A request the endpoint must refuse (an error, not a reply). Sent untyped:
// a peer is not bound by our interface.
template <class... Ts>
void MustBeRefused(caf::scoped_actor& self, const caf::actor& node, const std::string& what, Ts&&... xs) {
  bool refused = false;
  std::string detail = "no answer";
  self->request(node, std::chrono::seconds(10), std::forward<Ts>(xs)...)
      .receive([&](caf::message& reply) { detail = "answered " + caf::to_string(reply); },
               [&](caf::error& err) {
                 refused = true;
                 detail = caf::to_string(err);
               });
  Check(refused, what + " refused (" + detail + ")");
}

bool Serves(caf::scoped_actor& self, const engine_actor& node) {
  bool served = false;
  self->request(node, std::chrono::seconds(10), info_atom_v)
      .receive([&](engine_info&) { served = true; }, [](caf::error&) {});
  return served;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: hostile_peer PORT exit|link|internal|unknown|bounds\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const std::string attack = argv[2];

  caf::actor_system_config cfg;
  ConfigureActorSystem(cfg);
  // The peer knows the engine's internal types (it was built from our
  // headers) and registers them, so it can at least try to send them.
  cfg.add_message_type<logged_write>("postdevai.logged_write");
  cfg.add_message_type<std::vector<logged_write>>("postdevai.logged_writes");
  cfg.add_message_type<versioned_value>("postdevai.versioned_value");
  cfg.add_message_type<partition_actor>("postdevai.partition_actor");
  cfg.add_message_type<tier>("postdevai.tier");
  LoadNetworkModules(cfg, NodeConfig{});
  caf::actor_system sys{cfg};
  auto connected = ConnectToNode(sys, "127.0.0.1", port, NodeConfig{});
  if (!connected.ok()) {
    std::fprintf(stderr, "hostile_peer: %s\n", connected.status().ToString().c_str());
    return 100;
  }
  const engine_actor node = *connected;
  const caf::actor untyped = caf::actor_cast<caf::actor>(node);
  caf::scoped_actor self{sys};

  if (attack == "exit") {
    caf::anon_send_exit(untyped, caf::exit_reason::kill);
    caf::anon_send_exit(untyped, caf::exit_reason::user_shutdown);
    self->send_exit(untyped, caf::make_error(caf::sec::runtime_error));
    self->send(untyped, caf::down_msg{self->address(), caf::exit_reason::kill});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Check(Serves(self, node), "the endpoint still answers after exit messages");
  } else if (attack == "link") {
    // An actor of ours linked to the endpoint dies with `kill`: linked
    // actors get an exit_msg with that reason. Then the whole peer vanishes.
    auto linked = sys.spawn([untyped](caf::event_based_actor* a) -> caf::behavior {
      a->link_to(untyped);
      a->delayed_send(a, std::chrono::milliseconds(100), tick_atom_v);
      return {[a](tick_atom) { a->quit(caf::exit_reason::kill); }};
    });
    self->link_to(untyped);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::fflush(stdout);
    ::_exit(0);  // a peer that vanishes mid-connection, links and all
  } else if (attack == "internal") {
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    MustBeRefused(self, untyped, "persisted(2^64-1)", persisted_atom_v, max);
    MustBeRefused(self, untyped, "prefetch", prefetch_atom_v, DataKind::kCode, std::string("k"));
    MustBeRefused(self, untyped, "promote", promote_atom_v, std::string("k"), versioned_value{"forged", max});
    MustBeRefused(self, untyped, "access", access_atom_v, DataKind::kCode, std::string("k"), std::string("me"));
    MustBeRefused(self, untyped, "checkpoint", checkpoint_atom_v);
    MustBeRefused(self, untyped, "release(2^64-1)", release_atom_v, max);
    MustBeRefused(self, untyped, "flush", flush_atom_v);
    MustBeRefused(self, untyped, "tick", tick_atom_v);
    MustBeRefused(self, untyped, "route()", route_atom_v);
    MustBeRefused(self, untyped, "evict(cutoff, dry) as a partition", evict_atom_v, max, max);
    MustBeRefused(self, untyped, "read(key) as a partition", read_atom_v, std::string("k"));
    // Replies come from the endpoint itself, never from an internal actor a
    // `delegate` would have exposed.
    caf::actor_addr sender;
    self->request(node, std::chrono::seconds(10), breakdown_atom_v)
        .receive([&](std::vector<store_kind_report>&) { sender = caf::actor_cast<caf::actor_addr>(self->current_sender()); },
                 [](caf::error&) {});
    Check(sender == untyped.address(), "the breakdown reply comes from the endpoint");
    self->request(node, std::chrono::seconds(10), sync_atom_v)
        .receive([&](std::uint64_t) { sender = caf::actor_cast<caf::actor_addr>(self->current_sender()); },
                 [](caf::error&) {});
    Check(sender == untyped.address(), "the sync reply comes from the endpoint");
    // Messages whose types the node cannot decode come last: the node drops
    // this connection for them.
    MustBeRefused(self, untyped, "route(kind, partition) with our own actor", route_atom_v, DataKind::kCode,
                  caf::actor_cast<partition_actor>(self->address()));
    std::vector<logged_write> forged{logged_write{max, {records::MakePut(DataKind::kMetadata, "owned", "forged")}}};
    MustBeRefused(self, untyped, "apply at LSN 2^64-1", apply_atom_v, std::move(forged));
  } else if (attack == "unknown") {
    MustBeRefused(self, untyped, "a string and an int", std::string("junk"), 42);
    MustBeRefused(self, untyped, "a bare integer", 7);
    MustBeRefused(self, untyped, "write with the wrong payload", write_atom_v, std::string("not a batch"));
    Check(Serves(self, node), "the endpoint still answers");
    caf::anon_send(untyped, tier::disk);  // a type the node cannot decode: it drops the connection
  } else if (attack == "bounds") {
    search_request huge;
    huge.query = std::vector<float>(384, 0.5f);
    huge.model = "lexical-v1";
    huge.k = 1u << 31;
    MustBeRefused(self, untyped, "search with k = 2^31", search_atom_v, huge);
    MustBeRefused(self, untyped, "a read with a 1 MiB key", read_atom_v, DataKind::kCode, std::string(1 << 20, 'k'), std::string());
    MustBeRefused(self, untyped, "a read of kind 200", read_atom_v, static_cast<DataKind>(200), std::string("k"), std::string());
    write_batch bad_kind;
    bad_kind.mutations.push_back(records::MakePut(static_cast<DataKind>(77), "k", "v"));
    MustBeRefused(self, untyped, "a write of kind 77", write_atom_v, bad_kind);
    search_request bad_owner = huge;
    bad_owner.k = 5;
    bad_owner.owner = static_cast<records::vector_owner>(9);
    MustBeRefused(self, untyped, "a search with owner 9", search_atom_v, bad_owner);
    bool labelled = false;
    self->request(node, std::chrono::seconds(10), read_atom_v, DataKind::kMetadata, std::string("key0"),
                  std::string(1 << 20, 'r'))
        .receive([&](read_result&) { labelled = true; }, [](caf::error&) {});
    Check(labelled, "a read with a 1 MiB reader label is answered (the node keeps only its first bytes)");
    bool evicted = false;
    self->request(node, std::chrono::seconds(10), evict_atom_v, std::numeric_limits<std::uint64_t>::max(), false)
        .receive([&](std::vector<eviction_result>&) { evicted = true; }, [](caf::error&) {});
    Check(evicted, "evict older than 2^64-1 s is harmless (answered)");
    Check(Serves(self, node), "the endpoint still answers");
  } else {
    std::fprintf(stderr, "hostile_peer: unknown attack '%s'\n", attack.c_str());
    return 2;
  }
  return failures;
}
