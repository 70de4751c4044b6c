#include "actors/endpoint_actor.h"

#include <thread>

#include "actors/errors.h"
#include "postdevai/log.h"

namespace postdevai::actors {
namespace {

class EndpointActor : public engine_actor::base {
 public:
  EndpointActor(caf::actor_config& cfg, controller_actor controller, std::shared_ptr<EndpointControl> control)
      : engine_actor::base(cfg), controller_(std::move(controller)), control_(std::move(control)) {}

  const char* name() const override { return "postdevai.endpoint"; }

  // Drops lifecycle messages a peer may send (or cause: a linked proxy that
  // dies) before CAF acts on them: exit_reason::kill would otherwise end the
  // actor whatever its exit handler says.
  void enqueue(caf::mailbox_element_ptr element, caf::execution_unit* host) override {
    const auto& content = element->content();
    const bool lifecycle = content.size() == 1 &&
                           (content.match_element<caf::exit_msg>(0) || content.match_element<caf::down_msg>(0));
    if (lifecycle && !control_->stopping.load(std::memory_order_acquire)) return;
    engine_actor::base::enqueue(std::move(element), host);
  }

  behavior_type make_behavior() override {
    auto* self = this;
    // A peer's stray or hostile messages are refused with unexpected_message;
    // the log names the first few, then every 1000th (a peer cannot flood it).
    set_default_handler([](caf::scheduled_actor* actor, caf::message_view& view) -> caf::result<caf::message> {
      auto* endpoint = static_cast<EndpointActor*>(actor);
      const auto n = ++endpoint->unexpected_;
      if (n <= 10 || n % 1000 == 0) {
        LogWarning("endpoint", "refused a message outside the public protocol (" + std::to_string(n) +
                                   " so far): " + caf::to_string(view.copy_content_to_message()).substr(0, 200));
      }
      return caf::sec::unexpected_message;
    });
    return {
        [=](write_atom, write_batch& batch) { return self->Relay<std::uint64_t>(write_atom_v, std::move(batch)); },
        [=](read_atom, DataKind kind, std::string& key, std::string& reader) {
          return self->Relay<read_result>(read_atom_v, kind, std::move(key), std::move(reader));
        },
        [=](append_atom, std::string& session, std::string& message) {
          return self->Relay<append_result>(append_atom_v, std::move(session), std::move(message));
        },
        [=](search_atom, search_request& request) {
          return self->Relay<std::vector<search_hit>>(search_atom_v, std::move(request));
        },
        [=](stats_atom) { return self->Relay<memory_report>(stats_atom_v); },
        [=](breakdown_atom) { return self->Relay<std::vector<store_kind_report>>(breakdown_atom_v); },
        [=](evict_atom, std::uint64_t seconds, bool dry_run) {
          return self->Relay<std::vector<eviction_result>>(evict_atom_v, seconds, dry_run);
        },
        [=](sync_atom) { return self->Relay<std::uint64_t>(sync_atom_v); },
        [=](compact_atom) { return self->Relay<std::uint64_t>(compact_atom_v); },
        [=](backup_atom) { return self->Relay<backup_report>(backup_atom_v); },
        [=](info_atom) { return self->Relay<engine_info>(info_atom_v); },
    };
  }

 private:
  // Longest a forwarded request may take (a compaction of a large store is
  // the slowest); past it the peer gets an error instead of a leak here.
  static constexpr auto kForwardTimeout = std::chrono::minutes(10);

  // Answers the request with the controller's reply (request/then: the peer
  // only ever sees this actor), or refuses it while the node stops.
  template <class T, class... Ts>
  caf::result<T> Relay(Ts&&... xs) {
    if (control_->closing.load(std::memory_order_acquire)) {
      return ToError(Status::Unavailable("the node is stopping"));
    }
    control_->in_flight.fetch_add(1);
    auto rp = make_response_promise<T>();
    request(controller_, kForwardTimeout, std::forward<Ts>(xs)...)
        .then(
            [rp, control = control_](T& reply) mutable {
              rp.deliver(std::move(reply));
              control->in_flight.fetch_sub(1);
            },
            [rp, control = control_](caf::error& err) mutable {
              rp.deliver(std::move(err));
              control->in_flight.fetch_sub(1);
            });
    return rp;
  }

  controller_actor controller_;
  std::shared_ptr<EndpointControl> control_;
  std::uint64_t unexpected_ = 0;
};

}  // namespace

Endpoint SpawnEndpoint(caf::actor_system& sys, const controller_actor& controller) {
  Endpoint endpoint;
  endpoint.control = std::make_shared<EndpointControl>();
  endpoint.actor = sys.spawn<EndpointActor>(controller, endpoint.control);
  return endpoint;
}

void StopEndpoint(caf::actor_system& sys, Endpoint& endpoint) {
  if (!endpoint.actor) return;
  endpoint.control->closing.store(true, std::memory_order_release);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (endpoint.control->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  endpoint.control->stopping.store(true, std::memory_order_release);
  caf::scoped_actor self{sys};
  self->monitor(endpoint.actor);
  self->send_exit(endpoint.actor, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {});
  endpoint.actor = nullptr;
}

}  // namespace postdevai::actors
