#include "actors/actor_port.h"

#include "actors/errors.h"
#include "actors/hot_reads.h"

namespace postdevai::actors {
namespace {

using Clock = std::chrono::steady_clock;

class ActorPort final : public client::EnginePort {
 public:
  ActorPort(caf::actor_system& sys, engine_actor engine, ActorPortOptions options)
      : shared_(std::make_shared<const Shared>(Shared{std::move(engine), std::move(options)})) {
    bridge_ = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {[=](facade_call_ptr& call) { call->run(self); }};
    });
  }
  ~ActorPort() override { caf::anon_send_exit(bridge_, caf::exit_reason::user_shutdown); }

  void Write(records::write_batch batch, client::Reply<std::uint64_t> done) override {
    Issue<std::uint64_t>("write", std::move(done), write_atom_v, std::move(batch));
  }
  void Read(DataKind kind, std::string key, std::string reader, client::Reply<records::read_result> done) override {
    if (const auto& hot = shared_->options.hot_reads) {
      records::read_result hit;
      if (hot->Read(kind, key, reader, &hit)) {
        done(std::move(hit));
        return;
      }
    }
    Issue<records::read_result>("read", std::move(done), read_atom_v, kind, std::move(key), std::move(reader));
  }
  void Append(std::string session, std::string message, client::Reply<records::append_result> done) override {
    Issue<records::append_result>("context add", std::move(done), append_atom_v, std::move(session),
                                  std::move(message));
  }
  void Search(records::search_request request, client::Reply<std::vector<records::search_hit>> done) override {
    Issue<std::vector<records::search_hit>>("search", std::move(done), search_atom_v, std::move(request));
  }
  void Stats(client::Reply<records::memory_report> done) override {
    Issue<records::memory_report>("memory stats", std::move(done), stats_atom_v);
  }
  void Breakdown(client::Reply<std::vector<records::store_kind_report>> done) override {
    Issue<std::vector<records::store_kind_report>>("memory breakdown", std::move(done), breakdown_atom_v);
  }
  void Evict(std::uint64_t older_than_seconds, bool dry_run,
             client::Reply<std::vector<records::eviction_result>> done) override {
    Issue<std::vector<records::eviction_result>>(dry_run ? "memory evict --dry-run" : "memory evict", std::move(done),
                                                 evict_atom_v, older_than_seconds, dry_run);
  }
  void Sync(client::Reply<std::uint64_t> done) override { Issue<std::uint64_t>("memory sync", std::move(done), sync_atom_v); }
  void Compact(client::Reply<std::uint64_t> done) override {
    Issue<std::uint64_t>("memory compact", std::move(done), compact_atom_v);
  }
  void Backup(client::Reply<records::backup_report> done) override {
    Issue<records::backup_report>("memory backup", std::move(done), backup_atom_v);
  }
  void Info(client::Reply<records::engine_info> done) override {
    Issue<records::engine_info>("info", std::move(done), info_atom_v);
  }

 private:
  // `done` exactly once, even when the port (and its bridge) goes away with
  // the request in flight: then with kUnavailable.
  template <class T>
  struct OnceReply {
    client::Reply<T> done;
    bool called = false;
    void operator()(Result<T> outcome) {
      if (called) return;
      called = true;
      done(std::move(outcome));
    }
    ~OnceReply() {
      if (!called && done) done(Status::Unavailable("the request was dropped: the client was closed"));
    }
  };

  // Runs the request on the bridge actor; `done` gets the reply or the error.
  template <class T, class... Ts>
  void Issue(const char* verb, client::Reply<T> reply, Ts... xs) {
    auto once = std::make_shared<OnceReply<T>>();
    once->done = std::move(reply);
    auto done = [once](Result<T> outcome) { (*once)(std::move(outcome)); };
    auto call = std::make_shared<facade_call>();
    // Captures the shared part, not `this`: replies may outlive the port.
    call->run = [shared = shared_, verb, done = std::move(done), xs...](caf::event_based_actor* self) mutable {
      const auto started = Clock::now();
      auto finish = [shared, verb, started, done](Result<T> outcome) {
        if (shared->options.observe) {
          shared->options.observe(verb, outcome.status(),
                                  std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
        }
        done(std::move(outcome));
      };
      self->request(shared->engine, shared->options.timeout, std::move(xs)...)
          .then([finish](T& reply) { finish(std::move(reply)); },
                [shared, verb, finish](caf::error& err) {
                  // The engine's own errors come back as they were.
                  if (err.category() == caf::atom("postdevai") || !shared->options.translate) {
                    finish(FromError(err));
                  } else {
                    finish(shared->options.translate(verb, err));
                  }
                });
    };
    caf::anon_send(bridge_, std::move(call));
  }

  struct Shared {
    engine_actor engine;
    ActorPortOptions options;
  };
  std::shared_ptr<const Shared> shared_;
  caf::actor bridge_;
};

}  // namespace

std::shared_ptr<client::EnginePort> MakeActorPort(caf::actor_system& sys, engine_actor engine,
                                                  ActorPortOptions options) {
  return std::make_shared<ActorPort>(sys, std::move(engine), std::move(options));
}

}  // namespace postdevai::actors
