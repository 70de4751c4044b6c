// Fuzz target: the public CAF protocol (engine_actor, include/postdevai/
// engine_protocol.h) as a remote peer reaches it: arbitrary bytes decoded
// with CAF 0.17's binary_deserializer, in the actor system of a real engine
// (fuzz/fuzz_engine.h, which registers exactly the types a node registers),
// and what decodes sent to the engine's network endpoint (Engine::endpoint(),
// the actor a node publishes).
//
// Layer chosen: the endpoint actor itself, in-process. What a peer's bytes
// meet on a node is CAF's decoding of a message (BASP hands the payload to a
// binary_deserializer of the node's actor system), then the endpoint's
// dispatch (its default handler refuses anything outside the protocol) and
// the controller behind it. Both run here as on a node; left out is only
// the TCP/TLS transport and BASP's framing, which are CAF's and not
// ours. Measured: 230-340 inputs/s (up to 4 requests each) under ASan on the
// shared 2-core machine.
//
// Input: up to 4 requests, run in order against the same engine (so that an
// input that breaks a property after a write reproduces on a fresh engine):
// each a selector byte, then a u32 length and that many bytes to decode (the
// 4th takes the rest of the input). Selector modulo 11:
//   0      a whole caf::message (type names and values), as BASP decodes a
//          peer's payload: anything the node's type registry knows;
//   1..10  the arguments of one verb of engine_actor (write, read, append,
//          search, stats, breakdown, evict, sync, compact, info), decoded
//          value by value, then sent with the verb's atom.
//
// Checked beyond "no crash, no out-of-bounds access, no hang":
//   * decoding is canonical: what decodes, serialized and decoded again,
//     serializes to the same bytes, and the second decode takes them all
//     (not checked for values holding a NaN or infinity: CAF 0.17 hangs on
//     serializing an infinity, see NonFiniteFinder);
//   * every reply can be serialized for a remote peer: no NaN or infinite
//     float in it;
//   * every request is answered within 10 s, with the verb's reply type or
//     an error: a message outside the protocol with unexpected_message, a
//     bad request with the engine's invalid_argument, not_found or
//     too_large -- never corruption, I/O error, unavailable, closed or busy
//     from a healthy engine;
//   * what an answered write says happened did happen: each key it put reads
//     back with its value and the write's LSN, each key it erased reads back
//     as not found (batches whose keys are distinct); a mutation of an
//     unknown kind is never accepted; an append reads back as the session's
//     last message with the count the reply gave;
//   * a search returns at most k hits, best first, no NaN score; info names
//     the engine's model and dimension;
//   * every 1,000 inputs an info request is answered: the engine is alive.
#include <caf/all.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "actors/errors.h"
#include "actors/interfaces.h"
#include "fuzz/fuzz_engine.h"
#include "fuzz/fuzz_harness.h"
#include "records/stored_values.h"

namespace {

using postdevai::DataKind;
using postdevai::Status;
using postdevai::StatusCode;
using postdevai::fuzz::Fail;
using postdevai::fuzz::FuzzEngine;
using postdevai::fuzz::InputReader;
namespace actors = postdevai::actors;
namespace records = postdevai::records;

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxRequests = 4;

struct Peer {
  caf::actor_system& sys;
  actors::engine_actor endpoint;
  std::unique_ptr<caf::scoped_actor> self;

  static Peer& Get() {
    static Peer* peer = [] {
      auto& engine = FuzzEngine::Get();
      auto* p = new Peer{engine.system(), engine.engine().endpoint(),
                         std::make_unique<caf::scoped_actor>(engine.system())};
      engine.BeforeStop([p] { p->self.reset(); });
      return p;
    }();
    return *peer;
  }
};

// Walks values as CAF's serializer would and notes floats CAF 0.17 cannot
// serialize: its binary serializer loops forever on an infinity
// (caf/detail/ieee_754.hpp, pack754: `while (fnorm >= 2) fnorm /= 2;`) and
// casts a NaN to an integer (undefined). A node serializes every reply to a
// remote peer, so a reply holding one hangs (or worse) the node's
// middleman thread.
class NonFiniteFinder final : public caf::serializer {
 public:
  explicit NonFiniteFinder(caf::actor_system& sys) : caf::serializer(sys) {}
  bool found = false;

  caf::error begin_object(std::uint16_t&, std::string&) override { return {}; }
  caf::error end_object() override { return {}; }
  caf::error begin_sequence(std::size_t&) override { return {}; }
  caf::error end_sequence() override { return {}; }
  caf::error apply_raw(std::size_t, void*) override { return {}; }

 protected:
  caf::error apply_impl(std::int8_t&) override { return {}; }
  caf::error apply_impl(std::uint8_t&) override { return {}; }
  caf::error apply_impl(std::int16_t&) override { return {}; }
  caf::error apply_impl(std::uint16_t&) override { return {}; }
  caf::error apply_impl(std::int32_t&) override { return {}; }
  caf::error apply_impl(std::uint32_t&) override { return {}; }
  caf::error apply_impl(std::int64_t&) override { return {}; }
  caf::error apply_impl(std::uint64_t&) override { return {}; }
  caf::error apply_impl(float& x) override { return Note(std::isfinite(x)); }
  caf::error apply_impl(double& x) override { return Note(std::isfinite(x)); }
  caf::error apply_impl(long double& x) override { return Note(std::isfinite(x)); }
  caf::error apply_impl(std::string&) override { return {}; }
  caf::error apply_impl(std::u16string&) override { return {}; }
  caf::error apply_impl(std::u32string&) override { return {}; }

 private:
  caf::error Note(bool finite) {
    found = found || !finite;
    return {};
  }
};

template <class... Ts>
bool HasNonFinite(caf::actor_system& sys, Ts&... xs) {
  NonFiniteFinder finder{sys};
  if (auto err = finder(xs...)) Fail("a value cannot be walked: " + caf::to_string(err));
  return finder.found;
}

// The outcome of one request: the reply, or the error.
template <class T>
struct Outcome {
  std::optional<T> reply;
  caf::error error;
};

template <class T, class... Ts>
Outcome<T> Ask(Peer& peer, Ts&&... xs) {
  Outcome<T> out;
  (*peer.self)
      ->request(peer.endpoint, kTimeout, std::forward<Ts>(xs)...)
      .receive([&](T& reply) { out.reply = std::move(reply); }, [&](caf::error& e) { out.error = std::move(e); });
  return out;
}

// An error a request may get from a healthy engine: the engine's refusal of
// bad input. Anything else (CAF's timeout, the engine's I/O or corruption
// errors, an endpoint that stopped) fails the target.
void CheckError(const caf::error& error, const char* verb) {
  const Status s = actors::FromError(error);
  if (error.category() == caf::atom("postdevai") &&
      (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ||
       s.code() == StatusCode::kTooLarge)) {
    if (s.message().empty()) Fail(std::string(verb) + ": an error without a message");
    return;
  }
  Fail(std::string(verb) + ": the engine answered " + caf::to_string(error));
}

template <class T>
std::optional<T> Answered(Outcome<T> out, const char* verb) {
  if (!out.reply) CheckError(out.error, verb);
  if (out.reply && HasNonFinite(Peer::Get().sys, *out.reply)) {
    Fail(std::string(verb) + ": the reply holds a NaN or infinite float, which CAF 0.17 cannot serialize for a "
         "remote peer (an infinity hangs the node's middleman: caf/detail/ieee_754.hpp pack754)");
  }
  return std::move(out.reply);
}

// Serializes, decodes and serializes again: the two serializations agree and
// the second decode takes every byte. Skipped for values holding a NaN or an
// infinity (a peer's hand-made bytes decode to them): CAF 0.17 cannot
// serialize those (see NonFiniteFinder); the engine refuses them at the door.
template <class... Ts>
void CheckCanonical(caf::actor_system& sys, Ts&... xs) {
  if (HasNonFinite(sys, xs...)) return;
  std::vector<char> first;
  {
    caf::binary_serializer sink{sys, first};
    if (auto err = sink(xs...)) Fail("a decoded value does not serialize: " + caf::to_string(err));
  }
  std::tuple<std::decay_t<Ts>...> again;
  caf::binary_deserializer source{sys, first.data(), first.size()};
  if (auto err = std::apply([&](auto&... ys) { return source(ys...); }, again)) {
    Fail("a serialized value does not decode: " + caf::to_string(err));
  }
  if (source.remaining() != 0) Fail("decoding a serialized value leaves bytes over");
  std::vector<char> second;
  caf::binary_serializer sink{sys, second};
  if (auto err = std::apply([&](auto&... ys) { return sink(ys...); }, again)) {
    Fail("a re-decoded value does not serialize: " + caf::to_string(err));
  }
  if (first != second) Fail("serialize(decode(serialize(x))) != serialize(x)");
}

bool ValidKind(DataKind kind) { return static_cast<std::uint8_t>(kind) < postdevai::kDataKindCount; }

void CheckWrite(Peer& peer, records::write_batch& batch) {
  auto lsn = Answered(Ask<std::uint64_t>(peer, actors::write_atom_v, batch), "write");
  for (const auto& m : batch.mutations) {
    if (!ValidKind(m.kind) && lsn) Fail("a write with a mutation of an unknown kind was accepted");
  }
  if (!lsn) return;
  if (*lsn == 0) Fail("a write was acknowledged with LSN 0");
  std::map<std::pair<DataKind, std::string>, int> count;
  for (const auto& m : batch.mutations) ++count[{m.kind, m.key}];
  for (const auto& m : batch.mutations) {
    if (count[{m.kind, m.key}] != 1) continue;
    auto read = Ask<records::read_result>(peer, actors::read_atom_v, m.kind, m.key, std::string("fuzz"));
    if (m.erase) {
      if (read.reply || actors::FromError(read.error).code() != StatusCode::kNotFound) {
        Fail("a key the write erased does not read back as not found");
      }
    } else {
      if (!read.reply) Fail("a key the write put does not read back: " + caf::to_string(read.error));
      if (read.reply->value != m.value) Fail("a key the write put reads back with another value");
      if (read.reply->lsn != *lsn) Fail("a key the write put reads back with another LSN");
    }
  }
}

void CheckAppend(Peer& peer, std::string& session, std::string& message) {
  auto appended = Answered(Ask<records::append_result>(peer, actors::append_atom_v, session, message), "append");
  if (!appended) return;
  auto read = Ask<records::read_result>(peer, actors::read_atom_v, DataKind::kHistory, session, std::string("fuzz"));
  if (!read.reply) Fail("an appended session does not read back: " + caf::to_string(read.error));
  auto head = records::DecodeSessionHead(session, read.reply->value);
  if (!head.ok()) Fail("an appended session does not decode: " + head.status().ToString());
  if (head->message_count() != appended->messages || head->tail.empty() || head->tail.back() != message) {
    Fail("an appended session does not end with the message, or holds another count");
  }
}

void CheckSearch(Peer& peer, records::search_request& request) {
  auto hits = Answered(Ask<std::vector<records::search_hit>>(peer, actors::search_atom_v, request), "search");
  if (!hits) return;
  if (hits->size() > request.k) Fail("a search returned more than k hits");
  // Best first: the highest score, except for squared L2 (metric 1), a distance.
  const bool higher_is_better = request.metric != 1;
  for (std::size_t i = 0; i < hits->size(); ++i) {
    const float score = (*hits)[i].score;
    if (std::isnan(score)) Fail("a search returned a NaN score");
    if (i > 0 && (higher_is_better ? score > (*hits)[i - 1].score : score < (*hits)[i - 1].score)) {
      Fail("a search's hits are not best first");
    }
  }
}

void CheckInfo(const records::engine_info& info) {
  const auto& config = FuzzEngine::Get().config();
  if (info.vector_dimension != config.vectors.dimension || info.vector_model != config.vectors.model) {
    Fail("info names another model or dimension than the engine's");
  }
}

// Decodes Ts from the input; on success checks them and runs f(values...).
template <class... Ts, class F>
void Decoded(Peer& peer, std::string_view bytes, F f) {
  std::tuple<Ts...> values;
  caf::binary_deserializer source{peer.sys, bytes.data(), bytes.size()};
  if (std::apply([&](auto&... xs) { return source(xs...); }, values)) return;  // does not decode: CAF drops it
  std::apply([&](auto&... xs) { CheckCanonical(peer.sys, xs...); }, values);
  std::apply(f, values);
}

// What BASP does with a peer's payload: decode a whole message, deliver it.
void GenericMessage(Peer& peer, std::string_view bytes) {
  caf::message msg;
  caf::binary_deserializer source{peer.sys, bytes.data(), bytes.size()};
  if (source(msg)) return;
  CheckCanonical(peer.sys, msg);
  caf::message reply;
  caf::error error;
  bool answered = false;
  (*peer.self)
      ->request(caf::actor_cast<caf::actor>(peer.endpoint), kTimeout, std::move(msg))
      .receive([&](caf::error& e) { error = std::move(e); },
               caf::others >> [&](caf::message_view& view) -> caf::result<caf::message> {
                 reply = view.move_content_to_message();
                 answered = true;
                 return caf::message{};
               });
  if (!answered) {
    if (error == caf::sec::unexpected_message) return;  // outside the protocol: refused
    return CheckError(error, "a decoded message");
  }
  const bool expected_type =
      reply.match_elements<std::uint64_t>() || reply.match_elements<records::read_result>() ||
      reply.match_elements<records::append_result>() || reply.match_elements<std::vector<records::search_hit>>() ||
      reply.match_elements<records::memory_report>() ||
      reply.match_elements<std::vector<records::store_kind_report>>() ||
      reply.match_elements<std::vector<records::eviction_result>>() || reply.match_elements<records::engine_info>();
  if (!expected_type) Fail("the endpoint answered with a type outside the protocol: " + caf::to_string(reply));
  if (HasNonFinite(peer.sys, reply)) {
    Fail("the reply to a decoded message holds a NaN or infinite float, which CAF 0.17 cannot serialize for a "
         "remote peer (an infinity hangs the node's middleman: caf/detail/ieee_754.hpp pack754)");
  }
}


// One request: a selector byte's verb with its bytes.
void Request(Peer& peer, std::uint8_t selector, std::string_view bytes) {
  switch (selector % 11) {
    case 0: GenericMessage(peer, bytes); break;
    case 1: Decoded<records::write_batch>(peer, bytes, [&](auto& batch) { CheckWrite(peer, batch); }); break;
    case 2:
      Decoded<DataKind, std::string, std::string>(peer, bytes, [&](DataKind kind, auto& key, auto& reader) {
        auto read = Ask<records::read_result>(peer, actors::read_atom_v, kind, key, reader);
        if (read.reply && !ValidKind(kind)) Fail("a read of an unknown kind was answered with a value");
        Answered(std::move(read), "read");
      });
      break;
    case 3:
      Decoded<std::string, std::string>(peer, bytes, [&](auto& session, auto& message) {
        CheckAppend(peer, session, message);
      });
      break;
    case 4: Decoded<records::search_request>(peer, bytes, [&](auto& request) { CheckSearch(peer, request); }); break;
    case 5: Answered(Ask<records::memory_report>(peer, actors::stats_atom_v), "stats"); break;
    case 6: Answered(Ask<std::vector<records::store_kind_report>>(peer, actors::breakdown_atom_v), "breakdown"); break;
    case 7:
      Decoded<std::uint64_t, bool>(peer, bytes, [&](std::uint64_t seconds, bool dry_run) {
        Answered(Ask<std::vector<records::eviction_result>>(peer, actors::evict_atom_v, seconds, dry_run), "evict");
      });
      break;
    case 8: Answered(Ask<std::uint64_t>(peer, actors::sync_atom_v), "sync"); break;
    case 9: Answered(Ask<std::uint64_t>(peer, actors::compact_atom_v), "compact"); break;
    case 10:
      if (auto info = Answered(Ask<records::engine_info>(peer, actors::info_atom_v), "info")) CheckInfo(*info);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  postdevai::fuzz::SkipPerInputLeakCheck(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::uint64_t inputs = 0;
  Peer& peer = Peer::Get();
  InputReader input(data, size);
  for (std::size_t i = 0; i < kMaxRequests && !input.empty(); ++i) {
    const auto selector = input.Fixed<std::uint8_t>();
    Request(peer, selector, i + 1 == kMaxRequests ? input.Rest() : input.LengthPrefixed());
  }
  if (++inputs % 1000 == 0) {
    auto info = Ask<records::engine_info>(peer, actors::info_atom_v);
    if (!info.reply) Fail("the periodic info request failed: " + caf::to_string(info.error));
  }
  return 0;
}
