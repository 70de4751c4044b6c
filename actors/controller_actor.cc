// The memory controller: the front door. Writes go to the journal; once a
// write is durable the controller fans it out, in LSN order, to the store and
// to the partition of each kind it touches, and only then acknowledges it, so
// a read that follows the acknowledgement always sees it. Reads try RAM, then
// the store; every read is reported to the supervisor (promotion policy) and
// the prefetcher (co-access learning).
#include <deque>
#include <unordered_map>

#include "actors/errors.h"
#include "actors/records.h"
#include "actors/spawn.h"
#include "actors/vector_catalog.h"

namespace postdevai::actors {
namespace {

struct controller_state {
  ControllerParts parts;
  std::uint64_t reads = 0, writes = 0, ram_hits = 0, disk_reads = 0, errors = 0;
  latency_histogram read_latency, write_latency;
  // Promotions whose store read is in flight, by kind byte + key. A write to
  // the key while the read is out invalidates it: its value may be stale.
  std::unordered_map<std::string, bool> promotions_in_flight;
  // Appends waiting per session: the first is being applied (read, extend,
  // write); the rest wait for it, so none overwrites another.
  struct PendingAppend {
    std::string message;
    caf::typed_response_promise<std::uint64_t, std::uint64_t> promise;
  };
  std::unordered_map<std::string, std::deque<PendingAppend>> appends;
  static inline const char* name = "postdevai.controller";
};

std::string FlightKey(std::uint8_t kind, const std::string& key) {
  std::string k(1, static_cast<char>(kind));
  k += key;
  return k;
}

Status Validate(const write_batch& batch, const ControllerParts& parts) {
  const std::uint64_t max_value_bytes = parts.max_value_bytes;
  if (batch.mutations.empty()) return Status::InvalidArgument("write: no mutations");
  for (const auto& m : batch.mutations) {
    if (m.kind >= kKinds) return Status::InvalidArgument("write: unknown kind " + std::to_string(m.kind));
    if (m.key.empty()) return Status::InvalidArgument("write: empty key");
    if (m.key.size() > 4096) return Status::InvalidArgument("write: key of " + std::to_string(m.key.size()) + " bytes (limit 4096)");
    if (m.value.size() > max_value_bytes) {
      return Status::TooLarge("write: value of " + std::to_string(m.value.size()) + " bytes for '" +
                              m.key.substr(0, 80) + "' exceeds the limit of " + std::to_string(max_value_bytes));
    }
    // Vectors of another model or dimension, or with NaNs, never reach the log.
    if (m.kind == static_cast<std::uint8_t>(DataKind::kVectors) && !m.erase) {
      PDAI_RETURN_IF_ERROR(VectorCatalog::Check(parts.vector_model, parts.vector_dimension, m.key, m.value));
    }
  }
  return Status::Ok();
}

// Collects the replies of several requests into one memory_report.
struct ReportCollector {
  memory_report report;
  int outstanding = 0;
  caf::typed_response_promise<memory_report> promise;
  void Done() {
    if (--outstanding == 0) promise.deliver(std::move(report));
  }
};

// Asks every partition to evict (or count) its clean entries unused for
// `older_than_seconds` of actor-clock time; `done` gets one result per kind.
void EvictEverywhere(controller_actor::stateful_pointer<controller_state> self, std::uint64_t older_than_seconds,
                     bool dry_run, std::function<void(std::vector<eviction_result>)> done) {
  const std::uint64_t now = ClockMicros(self);
  const std::uint64_t age = older_than_seconds * 1'000'000ull;
  const std::uint64_t cutoff = now > age ? now - age : 0;
  auto results = std::make_shared<std::vector<eviction_result>>(kKinds);
  auto outstanding = std::make_shared<int>(static_cast<int>(kKinds));
  for (std::size_t k = 0; k < kKinds; ++k) {
    (*results)[k].kind = static_cast<std::uint8_t>(k);
    auto finish = [=] {
      if (--*outstanding == 0) done(std::move(*results));
    };
    self->request(self->state.parts.partitions[k], caf::infinite, evict_atom_v, cutoff, dry_run)
        .then(
            [=](std::uint64_t entries, std::uint64_t bytes) {
              (*results)[k].entries = entries;
              (*results)[k].bytes = bytes;
              finish();
            },
            [=](caf::error&) { finish(); });  // a restarting partition holds nothing to evict
  }
}

// Logs the batch, then fans it out in LSN order to the store and the
// partitions it touches; `done` gets the LSN once it is durable and visible.
void Write(controller_actor::stateful_pointer<controller_state> self, write_batch batch,
           std::function<void(caf::expected<std::uint64_t>)> done) {
  auto mutations = std::make_shared<std::vector<mutation>>(batch.mutations);
  const auto started = ClockMicros(self);
  self->request(self->state.parts.journal, caf::infinite, write_atom_v, std::move(batch))
      .then(
          [=](std::uint64_t lsn) {
            auto& st = self->state;
            ++st.writes;
            logged_write logged{lsn, std::move(*mutations)};
            std::array<bool, kKinds> touched{};
            for (const auto& m : logged.mutations) {
              touched[m.kind] = true;
              if (!st.promotions_in_flight.empty()) {
                auto it = st.promotions_in_flight.find(FlightKey(m.kind, m.key));
                if (it != st.promotions_in_flight.end()) it->second = false;
              }
            }
            std::vector<logged_write> one{logged};
            for (std::size_t k = 0; k < kKinds; ++k) {
              if (touched[k]) self->send(st.parts.partitions[k], apply_atom_v, one);
            }
            self->send(st.parts.store, apply_atom_v, std::move(one));
            st.write_latency.Add(ClockMicros(self) - started);
            done(lsn);
          },
          [=](caf::error& err) {
            ++self->state.errors;
            done(std::move(err));
          });
}

// Applies the first waiting append of `session`: reads the context from the
// store (which holds every acknowledged write: its mailbox has their applies
// before this read), extends it, writes it; then starts the next one.
void StartAppend(controller_actor::stateful_pointer<controller_state> self, const std::string& session) {
  constexpr auto kHistory = static_cast<std::uint8_t>(DataKind::kHistory);
  auto finish = [self, session](caf::expected<std::pair<std::uint64_t, std::uint64_t>> outcome) {
    auto& queue = self->state.appends[session];
    auto rp = queue.front().promise;
    queue.pop_front();
    if (outcome) {
      rp.deliver(outcome->first, outcome->second);
    } else {
      rp.deliver(outcome.error());
    }
    if (queue.empty()) {
      self->state.appends.erase(session);
    } else {
      StartAppend(self, session);
    }
  };
  auto extend = [self, session, finish](std::vector<std::string> messages) {
    messages.push_back(self->state.appends[session].front().message);
    const auto count = static_cast<std::uint64_t>(messages.size());
    write_batch batch;
    batch.mutations.push_back(mutation{kHistory, session, records::EncodeMessages(messages), false});
    Status valid = Validate(batch, self->state.parts);
    if (!valid.ok()) {
      finish(ToError(valid));
      return;
    }
    Write(self, std::move(batch), [finish, count](caf::expected<std::uint64_t> lsn) {
      if (lsn) {
        finish(std::make_pair(*lsn, count));
      } else {
        finish(lsn.error());
      }
    });
  };
  self->request(self->state.parts.store, caf::infinite, read_atom_v, kHistory, session)
      .then(
          [=](versioned_value& v) {
            auto messages = records::DecodeMessages(session, v.value);
            if (!messages.ok()) {
              finish(ToError(messages.status()));
              return;
            }
            extend(std::move(*messages));
          },
          [=](caf::error& err) {
            if (FromError(err).IsNotFound()) {
              extend({});
            } else {
              finish(std::move(err));
            }
          });
}

controller_actor::behavior_type ControllerBehavior(controller_actor::stateful_pointer<controller_state> self,
                                                   ControllerParts parts) {
  self->state.parts = std::move(parts);
  return {
      [=](write_atom, write_batch& batch) -> caf::result<std::uint64_t> {
        Status valid = Validate(batch, self->state.parts);
        if (!valid.ok()) return ToError(valid);
        auto rp = self->make_response_promise<std::uint64_t>();
        Write(self, std::move(batch), [rp](caf::expected<std::uint64_t> lsn) mutable {
          if (lsn) {
            rp.deliver(*lsn);
          } else {
            rp.deliver(lsn.error());
          }
        });
        return rp;
      },
      [=](append_atom, std::string& session, std::string& message)
          -> caf::result<std::uint64_t, std::uint64_t> {
        if (session.empty()) return ToError(Status::InvalidArgument("append: empty session id"));
        auto& queue = self->state.appends[session];
        auto rp = self->make_response_promise<std::uint64_t, std::uint64_t>();
        queue.push_back(controller_state::PendingAppend{std::move(message), rp});
        if (queue.size() == 1) StartAppend(self, session);
        return rp;
      },
      [=](read_atom, std::uint8_t kind, std::string& key) -> caf::result<read_result> {
        if (kind >= kKinds) return ToError(Status::InvalidArgument("read: unknown kind " + std::to_string(kind)));
        if (key.empty()) return ToError(Status::InvalidArgument("read: empty key"));
        auto rp = self->make_response_promise<read_result>();
        ++self->state.reads;
        const auto started = ClockMicros(self);
        const std::string reader = caf::to_string(self->current_sender());
        self->request(self->state.parts.partitions[kind], caf::infinite, read_atom_v, key)
            .then(
                [=](versioned_value& v) mutable {
                  ++self->state.ram_hits;
                  self->send(self->state.parts.prefetcher, access_atom_v, kind, key, reader);
                  self->state.read_latency.Add(ClockMicros(self) - started);
                  rp.deliver(read_result{std::move(v.value), v.lsn, tier::ram});
                },
                [=](caf::error&) mutable {
                  // A miss (or a partition restarting): the store has it all.
                  self->request(self->state.parts.store, caf::infinite, read_atom_v, kind, key)
                      .then(
                          [=](versioned_value& v) mutable {
                            ++self->state.disk_reads;
                            self->send(self->state.parts.supervisor, access_atom_v, kind, key, tier::disk);
                            self->send(self->state.parts.prefetcher, access_atom_v, kind, key, reader);
                            self->state.read_latency.Add(ClockMicros(self) - started);
                            rp.deliver(read_result{std::move(v.value), v.lsn, tier::disk});
                          },
                          [=](caf::error& err) mutable {
                            // Not found is an answer, not a failure.
                            if (FromError(err).code() != StatusCode::kNotFound) ++self->state.errors;
                            self->state.read_latency.Add(ClockMicros(self) - started);
                            rp.deliver(std::move(err));
                          });
                });
        return rp;
      },
      [=](promote_atom, std::uint8_t kind, std::string& key) {
        if (kind >= kKinds || key.empty()) return;
        auto& st = self->state;
        auto [it, fresh] = st.promotions_in_flight.emplace(FlightKey(kind, key), true);
        if (!fresh) return;  // already on its way
        // Resident already (a prefetch of a hot key)? Then no store read.
        self->request(st.parts.partitions[kind], caf::infinite, access_atom_v, key)
            .then(
                [=](bool resident) {
                  if (resident) {
                    self->state.promotions_in_flight.erase(FlightKey(kind, key));
                    return;
                  }
                  self->request(self->state.parts.store, caf::infinite, read_atom_v, kind, key)
                      .then(
                          [=](versioned_value& v) {
                            auto& st = self->state;
                            auto it = st.promotions_in_flight.find(FlightKey(kind, key));
                            bool still_current = it != st.promotions_in_flight.end() && it->second;
                            if (it != st.promotions_in_flight.end()) st.promotions_in_flight.erase(it);
                            if (!still_current) return;
                            self->send(st.parts.partitions[kind], promote_atom_v, key, std::move(v));
                          },
                          [=](caf::error&) { self->state.promotions_in_flight.erase(FlightKey(kind, key)); });
                },
                [=](caf::error&) { self->state.promotions_in_flight.erase(FlightKey(kind, key)); });
      },
      [=](stats_atom) -> caf::result<memory_report> {
        auto& st = self->state;
        auto collector = std::make_shared<ReportCollector>();
        collector->promise = self->make_response_promise<memory_report>();
        collector->report.reads = st.reads;
        collector->report.writes = st.writes;
        collector->report.ram_hits = st.ram_hits;
        collector->report.disk_reads = st.disk_reads;
        collector->report.promotions = 0;  // summed from the partitions below
        collector->report.errors = st.errors;
        collector->report.prefetch_enabled = st.parts.prefetch_enabled;
        collector->report.read_latency = st.read_latency;
        collector->report.write_latency = st.write_latency;
        collector->report.partitions.resize(kKinds);
        collector->outstanding = static_cast<int>(kKinds) + 4;
        for (std::size_t k = 0; k < kKinds; ++k) {
          self->request(st.parts.partitions[k], caf::infinite, stats_atom_v)
              .then(
                  [=](partition_report& r) {
                    collector->report.promotions += r.promotions;
                    collector->report.partitions[k] = std::move(r);
                    collector->Done();
                  },
                    [=](caf::error&) {
                      collector->report.partitions[k].kind = static_cast<std::uint8_t>(k);
                      collector->Done();
                    });
        }
        self->request(st.parts.journal, caf::infinite, stats_atom_v)
            .then(
                [=](sync_report& r) {
                  auto& s = collector->report.sync;
                  s.durable_lsn = r.durable_lsn;
                  s.wal_segments = r.wal_segments;
                  s.wal_bytes = r.wal_bytes;
                  s.wal_syncs = r.wal_syncs;
                  s.wal_records = r.wal_records;
                  s.wal_live_bytes = r.wal_live_bytes;
                  collector->Done();
                },
                [=](caf::error&) { collector->Done(); });
        self->request(st.parts.store, caf::infinite, stats_atom_v)
            .then(
                [=](sync_report& r) {
                  collector->report.sync.applied_lsn = r.applied_lsn;
                  collector->report.sync.checkpoint_lsn = r.checkpoint_lsn;
                  collector->report.sync.store_disk_bytes = r.store_disk_bytes;
                  collector->report.sync.store_raw_bytes = r.store_raw_bytes;
                  collector->report.sync.store_encoded_bytes = r.store_encoded_bytes;
                  collector->Done();
                },
                [=](caf::error&) { collector->Done(); });
        self->request(st.parts.sync_timer, caf::infinite, stats_atom_v)
            .then(
                [=](sync_report& r) {
                  collector->report.sync.seconds_since_checkpoint = r.seconds_since_checkpoint;
                  collector->report.sync.checkpoints = r.checkpoints;
                  collector->Done();
                },
                [=](caf::error&) { collector->Done(); });
        self->request(st.parts.prefetcher, caf::infinite, stats_atom_v)
            .then(
                [=](std::uint64_t prefetches, std::uint64_t hits) {
                  collector->report.prefetches = prefetches;
                  collector->report.prefetch_hits = hits;
                  collector->Done();
                },
                [=](caf::error&) { collector->Done(); });
        return collector->promise;
      },
      [=](breakdown_atom) -> caf::result<std::vector<store_kind_report>> {
        return self->delegate(self->state.parts.store, breakdown_atom_v);
      },
      [=](evict_atom, std::uint64_t older_than_seconds) -> caf::result<std::uint64_t> {
        auto rp = self->make_response_promise<std::uint64_t>();
        EvictEverywhere(self, older_than_seconds, false, [rp](std::vector<eviction_result> results) mutable {
          std::uint64_t total = 0;
          for (const auto& r : results) total += r.entries;
          rp.deliver(total);
        });
        return rp;
      },
      [=](evict_atom, std::uint64_t older_than_seconds, bool dry_run) -> caf::result<std::vector<eviction_result>> {
        auto rp = self->make_response_promise<std::vector<eviction_result>>();
        EvictEverywhere(self, older_than_seconds, dry_run,
                        [rp](std::vector<eviction_result> results) mutable { rp.deliver(std::move(results)); });
        return rp;
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        return self->delegate(self->state.parts.sync_timer, sync_atom_v);
      },
      [=](compact_atom) -> caf::result<std::uint64_t> {
        return self->delegate(self->state.parts.store, compact_atom_v);
      },
      [=](search_atom, search_request& request) -> caf::result<std::vector<search_hit>> {
        if (request.k == 0) return ToError(Status::InvalidArgument("search: limit must be at least 1"));
        return self->delegate(self->state.parts.partitions[static_cast<std::size_t>(DataKind::kVectors)], search_atom_v,
                              std::move(request));
      },
      [=](persisted_atom, std::uint64_t lsn) {
        for (const auto& p : self->state.parts.partitions) self->send(p, persisted_atom_v, lsn);
      },
      [=](route_atom, std::uint8_t kind, partition_actor& partition) -> bool {
        if (kind >= kKinds) return false;
        self->state.parts.partitions[kind] = std::move(partition);
        return true;
      },
      [=](crash_atom, std::uint8_t kind) -> caf::result<bool> {
        return self->delegate(self->state.parts.supervisor, crash_atom_v, kind);
      },
  };
}

}  // namespace

controller_actor SpawnController(caf::actor_system& sys, ControllerParts parts) {
  return sys.spawn(ControllerBehavior, std::move(parts));
}

}  // namespace postdevai::actors
