// Two request patterns every actor of the engine uses, written once:
// Forward answers a request with another actor's reply (request/then, never
// `delegate`, so no internal handle ever becomes a reply's sender), and
// FanIn collects the replies of several requests into one result.
// Internal: only actors/*.cc include this.
#pragma once

#include <caf/all.hpp>

#include <functional>
#include <memory>

namespace postdevai::actors {

// Sends `xs...` to `dest` and fulfils a promise of `self` with its reply (or
// its error). Use as the return value of a handler.
template <class T, class Self, class Dest, class... Ts>
caf::typed_response_promise<T> Forward(Self* self, const Dest& dest, Ts&&... xs) {
  auto rp = self->template make_response_promise<T>();
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then([rp](T& reply) mutable { rp.deliver(std::move(reply)); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// Collects `expected` partial replies into one result; `done` runs once,
// after the last one. Each request's handlers fold their reply into result()
// (or leave it alone when the request failed), then call Arrived().
template <class Result>
class FanIn {
 public:
  FanIn(std::size_t expected, Result initial, std::function<void(Result)> done)
      : state_(std::make_shared<State>(State{expected, std::move(initial), std::move(done)})) {
    if (expected == 0) Finish(*state_);
  }

  Result& result() const { return state_->result; }
  // One reply is in (after folding it into result()).
  void Arrived() const {
    if (--state_->outstanding == 0) Finish(*state_);
  }

 private:
  struct State {
    std::size_t outstanding;
    Result result;
    std::function<void(Result)> done;
  };
  static void Finish(State& st) { st.done(std::move(st.result)); }
  std::shared_ptr<State> state_;
};

}  // namespace postdevai::actors
