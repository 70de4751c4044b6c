#include "actors/endpoint_actor.h"

#include "actors/fan_in.h"
#include "postdevai/log.h"

namespace postdevai::actors {
namespace {

class EndpointActor : public engine_actor::base {
 public:
  EndpointActor(caf::actor_config& cfg, controller_actor controller, std::shared_ptr<std::atomic<bool>> stopping)
      : engine_actor::base(cfg), controller_(std::move(controller)), stopping_(std::move(stopping)) {}

  const char* name() const override { return "postdevai.endpoint"; }

  // Drops lifecycle messages a peer may send (or cause: a linked proxy that
  // dies) before CAF acts on them: exit_reason::kill would otherwise end the
  // actor whatever its exit handler says.
  void enqueue(caf::mailbox_element_ptr element, caf::execution_unit* host) override {
    const auto& content = element->content();
    const bool lifecycle = content.size() == 1 &&
                           (content.match_element<caf::exit_msg>(0) || content.match_element<caf::down_msg>(0));
    if (lifecycle && !stopping_->load(std::memory_order_acquire)) return;
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
    const controller_actor& c = controller_;
    return {
        [=](write_atom, write_batch& batch) { return Forward<std::uint64_t>(self, c, write_atom_v, std::move(batch)); },
        [=](read_atom, DataKind kind, std::string& key, std::string& reader) {
          return Forward<read_result>(self, c, read_atom_v, kind, std::move(key), std::move(reader));
        },
        [=](append_atom, std::string& session, std::string& message) {
          return Forward<append_result>(self, c, append_atom_v, std::move(session), std::move(message));
        },
        [=](search_atom, search_request& request) {
          return Forward<std::vector<search_hit>>(self, c, search_atom_v, std::move(request));
        },
        [=](stats_atom) { return Forward<memory_report>(self, c, stats_atom_v); },
        [=](breakdown_atom) { return Forward<std::vector<store_kind_report>>(self, c, breakdown_atom_v); },
        [=](evict_atom, std::uint64_t seconds, bool dry_run) {
          return Forward<std::vector<eviction_result>>(self, c, evict_atom_v, seconds, dry_run);
        },
        [=](sync_atom) { return Forward<std::uint64_t>(self, c, sync_atom_v); },
        [=](compact_atom) { return Forward<std::uint64_t>(self, c, compact_atom_v); },
        [=](info_atom) { return Forward<engine_info>(self, c, info_atom_v); },
    };
  }

 private:
  controller_actor controller_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::uint64_t unexpected_ = 0;
};

}  // namespace

Endpoint SpawnEndpoint(caf::actor_system& sys, const controller_actor& controller) {
  Endpoint endpoint;
  endpoint.stopping = std::make_shared<std::atomic<bool>>(false);
  endpoint.actor = sys.spawn<EndpointActor>(controller, endpoint.stopping);
  return endpoint;
}

void StopEndpoint(caf::actor_system& sys, Endpoint& endpoint) {
  if (!endpoint.actor) return;
  endpoint.stopping->store(true, std::memory_order_release);
  caf::scoped_actor self{sys};
  self->monitor(endpoint.actor);
  self->send_exit(endpoint.actor, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {});
  endpoint.actor = nullptr;
}

}  // namespace postdevai::actors
