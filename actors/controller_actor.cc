// The memory controller: the public protocol's implementation. Writes go to
// the journal; once a write is durable the controller fans it out, in LSN
// order, to the store and to the partition of each kind it touches, and only
// then acknowledges it, so a read that follows the acknowledgement always
// sees it. Reads try RAM, then the store; a key read from disk
// promote_after_hits times is loaded into RAM with the value in hand. Every
// read is reported to the prefetcher (co-access learning), which asks for
// likely next reads to be warmed (prefetch_atom).
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "actors/errors.h"
#include "actors/fan_in.h"
#include "actors/hot_reads.h"
#include "actors/spawn.h"
#include "actors/vector_catalog.h"
#include "records/stored_values.h"
#include "simd/lexical_index.h"
#include "storage/cold_tier.h"

namespace postdevai::actors {
namespace {

// Store reads in flight for one key. A write to the key while one is out
// makes its value possibly stale: it must not be loaded into RAM.
struct StoreReadsInFlight {
  std::uint32_t outstanding = 0;
  bool overwritten = false;
};

struct controller_state {
  ControllerParts parts;
  std::uint64_t reads = 0, writes = 0, ram_hits = 0, disk_reads = 0, errors = 0;
  // Vectors writes sent to the vectors partition and not yet indexed there
  // (see kMostUnindexedVectorWrites).
  std::uint64_t unindexed_vector_writes = 0;
  latency_histogram read_latency, write_latency;
  // By kind byte + key (FlightKey).
  std::unordered_map<std::string, StoreReadsInFlight> store_reads;
  std::unordered_map<std::string, std::uint32_t> disk_hits;  // promotion policy
  // Appends waiting per session: the first is being applied (read, extend,
  // write); the rest wait for it, so none overwrites another.
  struct PendingAppend {
    std::string message;
    caf::typed_response_promise<append_result> promise;
  };
  std::unordered_map<std::string, std::deque<PendingAppend>> appends;
  // Writes being encoded (compressed), by order of arrival. Encoders may
  // finish out of order; the journal gets the writes in arrival order, so
  // that a write never gets a lower LSN than one that arrived before it.
  struct EncodingWrite {
    std::shared_ptr<std::vector<mutation>> mutations;
    std::function<void(caf::expected<std::uint64_t>)> done;
    std::uint64_t started = 0;
    std::optional<caf::expected<std::string>> payload;  // set once encoded (or failed)
  };
  std::map<std::uint64_t, EncodingWrite> encoding;
  std::uint64_t next_arrival = 0, next_to_log = 0, next_encoder = 0;
  // Non-empty: why writes are refused (a replica; a former primary fenced
  // by its promoted replica). Set by role_atom.
  std::string writes_refused;
  static inline const char* name = "postdevai.controller";
};

using controller_pointer = controller_actor::stateful_pointer<controller_state>;

std::string FlightKey(DataKind kind, const std::string& key) {
  std::string k(1, static_cast<char>(kind));
  k += key;
  return k;
}

bool ValidKind(DataKind kind) { return DataKindIndex(kind) < kKinds; }

Status CheckKey(const char* what, const std::string& key) {
  if (key.empty()) return Status::InvalidArgument(std::string(what) + ": empty key");
  if (key.size() > records::kMaxKeyBytes) {
    return Status::InvalidArgument(std::string(what) + ": key of " + std::to_string(key.size()) + " bytes (limit " +
                                   std::to_string(records::kMaxKeyBytes) + ")");
  }
  return Status::Ok();
}

Status Validate(const write_batch& batch, const ControllerParts& parts) {
  const std::uint64_t max_value_bytes = parts.max_value_bytes;
  if (batch.mutations.empty()) return Status::InvalidArgument("write: no mutations");
  for (const auto& m : batch.mutations) {
    if (!ValidKind(m.kind)) {
      return Status::InvalidArgument("write: unknown kind " + std::to_string(static_cast<unsigned>(m.kind)));
    }
    PDAI_RETURN_IF_ERROR(CheckKey("write", m.key));
    if (m.value.size() > max_value_bytes) {
      return Status::TooLarge("write: value of " + std::to_string(m.value.size()) + " bytes for '" +
                              m.key.substr(0, 80) + "' exceeds the limit of " + std::to_string(max_value_bytes));
    }
    // Vectors of another model or dimension, or with NaNs, never reach the log.
    if (m.kind == DataKind::kVectors && !m.erase) {
      PDAI_RETURN_IF_ERROR(VectorCatalog::Check(parts.vector_model, parts.vector_dimension, m.key, m.value));
    }
    // Session contexts in their encoding (records/stored_values.h): a peer's
    // malformed value is its own bad input, not a "corrupt" context that
    // every later append to the session fails on.
    if (m.kind == DataKind::kHistory && !m.erase) {
      const bool segment = !m.key.empty() && m.key.front() == records::kSessionSegmentTag;
      const Status decoded = segment ? records::DecodeMessages(m.key, m.value).status()
                                     : records::DecodeSessionHead(m.key, m.value).status();
      if (!decoded.ok()) {
        return Status::InvalidArgument("write: the value for session " + m.key.substr(0, 80) +
                                       " is not an encoded session context");
      }
    }
  }
  return Status::Ok();
}

Status Validate(const search_request& r) {
  // Every door (facade, gRPC, CAF peers) passes here, and the vectors
  // partition sizes its work by k: a huge one must not reach it.
  if (r.k == 0) return Status::InvalidArgument("search: k of 0: ask for at least 1 result");
  if (r.k > records::kMaxSearchResults) {
    return Status::InvalidArgument("search: k of " + std::to_string(r.k) + " exceeds the limit of " +
                                   std::to_string(records::kMaxSearchResults) + " results");
  }
  if (r.metric > 2) return Status::InvalidArgument("search: unknown metric " + std::to_string(r.metric));
  if (r.owner != records::vector_owner::any && r.owner != records::vector_owner::code_chunk &&
      r.owner != records::vector_owner::history_message) {
    return Status::InvalidArgument("search: unknown owner filter " + std::to_string(static_cast<unsigned>(r.owner)));
  }
  if (r.mode != records::search_mode::vector && r.mode != records::search_mode::lexical &&
      r.mode != records::search_mode::hybrid) {
    return Status::InvalidArgument("search: unknown mode " + std::to_string(static_cast<unsigned>(r.mode)));
  }
  if (r.text.size() > records::kMaxSearchTextBytes) {
    return Status::TooLarge("search: a text of " + std::to_string(r.text.size()) + " bytes exceeds the limit of " +
                            std::to_string(records::kMaxSearchTextBytes));
  }
  return Status::Ok();
}

// The lexical (BM25) search of request.text: in the code partition's index,
// the history partition's (session messages) or both, as the filters allow;
// the two rankings merged by score, request.k deep. (Both score with BM25,
// each index with its own statistics: close in scale, not equal.)
void SearchWords(controller_pointer self, search_request request,
                 std::function<void(caf::expected<std::vector<search_hit>>)> done) {
  const bool code = request.owner != records::vector_owner::history_message && request.session.empty();
  const bool history =
      request.owner != records::vector_owner::code_chunk && request.path_prefix.empty() && request.language.empty();
  struct Merged {
    std::vector<search_hit> hits;
    caf::error error;
  };
  const std::size_t k = request.k;
  FanIn<Merged> fan((code ? 1 : 0) + (history ? 1 : 0), Merged{}, [done, k](Merged m) {
    if (m.error) return done(std::move(m.error));
    std::stable_sort(m.hits.begin(), m.hits.end(), [](const auto& x, const auto& y) { return x.score > y.score; });
    if (m.hits.size() > k) m.hits.resize(k);
    done(std::move(m.hits));
  });
  for (DataKind kind : {DataKind::kCode, DataKind::kHistory}) {
    if ((kind == DataKind::kCode && !code) || (kind == DataKind::kHistory && !history)) continue;
    self->request(self->state.parts.partitions[DataKindIndex(kind)], caf::infinite, search_atom_v, request)
        .then(
            [fan](std::vector<search_hit>& hits) {
              auto& all = fan.result().hits;
              all.insert(all.end(), std::make_move_iterator(hits.begin()), std::make_move_iterator(hits.end()));
              fan.Arrived();
            },
            [fan](caf::error& err) {
              if (!fan.result().error) fan.result().error = std::move(err);
              fan.Arrived();
            });
  }
}

// Asks every partition to evict (or count) its clean entries unused for
// `older_than_seconds` of actor-clock time; `done` gets one result per kind.
void EvictEverywhere(controller_pointer self, std::uint64_t older_than_seconds, bool dry_run,
                     std::function<void(std::vector<eviction_result>)> done) {
  const std::uint64_t now = ClockMicros(self);
  // Clamped: a peer's 2^64-1 seconds must not wrap around to "everything".
  const std::uint64_t age_seconds = std::min<std::uint64_t>(older_than_seconds, now / 1'000'000);
  const std::uint64_t cutoff = now - age_seconds * 1'000'000ull;
  std::vector<eviction_result> initial(kKinds);
  for (std::size_t k = 0; k < kKinds; ++k) initial[k].kind = static_cast<DataKind>(k);
  FanIn<std::vector<eviction_result>> fan(kKinds, std::move(initial), std::move(done));
  for (std::size_t k = 0; k < kKinds; ++k) {
    self->request(self->state.parts.partitions[k], caf::infinite, evict_atom_v, cutoff, dry_run)
        .then(
            [fan, k](std::uint64_t entries, std::uint64_t bytes) {
              fan.result()[k].entries = entries;
              fan.result()[k].bytes = bytes;
              fan.Arrived();
            },
            [fan](caf::error&) { fan.Arrived(); });  // a restarting partition holds nothing to evict
  }
}

// Values below this many bytes in all are compressed by the controller
// itself: a trip to an encoder would cost more than the work.
constexpr std::size_t kEncodeInlineBytes = 512;

// Vectors writes that may be acknowledged before the vectors partition has
// indexed them. An ingest batch holds at most 512 KiB of vectors (~170 at
// 768 dimensions), so a crash leaves at most a few thousand vectors to put
// back into the graph, and a search waits behind at most that many.
constexpr std::uint64_t kMostUnindexedVectorWrites = 8;

void LogEncoded(controller_pointer self, std::shared_ptr<std::vector<mutation>> mutations, std::string payload,
                std::uint64_t started, std::function<void(caf::expected<std::uint64_t>)> done);

// The kinds of a write whose durability is relaxed (bit k: kind k), or 0
// when it touches a durable kind: then the whole write is durable.
std::uint8_t RelaxedKinds(const std::vector<mutation>& mutations, std::uint8_t relaxed) {
  std::uint8_t touched = 0;
  for (const auto& m : mutations) touched |= static_cast<std::uint8_t>(1u << DataKindIndex(m.kind));
  return (touched & ~relaxed) == 0 ? touched : 0;
}

// Hands the journal every encoded write whose predecessors have all gone.
void LogInArrivalOrder(controller_pointer self) {
  auto& st = self->state;
  while (!st.encoding.empty() && st.encoding.begin()->first == st.next_to_log &&
         st.encoding.begin()->second.payload) {
    auto node = st.encoding.extract(st.encoding.begin());
    ++st.next_to_log;
    auto& w = node.mapped();
    if (!*w.payload) {
      ++st.errors;
      w.done(std::move(w.payload->error()));
      continue;
    }
    LogEncoded(self, std::move(w.mutations), std::move(**w.payload), w.started, std::move(w.done));
  }
}

// Compresses the batch's values once (an encoder, or here when they are
// small), logs it, then fans it out in LSN order to the store and the
// partitions it touches; `done` gets the LSN once it is durable and visible.
void Write(controller_pointer self, write_batch batch, std::function<void(caf::expected<std::uint64_t>)> done) {
  auto& st = self->state;
  if (!st.writes_refused.empty()) {
    ++st.errors;
    return done(ToError(Status::Closed(st.writes_refused)));
  }
  const std::uint64_t arrival = st.next_arrival++;
  auto& w = st.encoding[arrival];
  w.done = std::move(done);
  w.started = ClockMicros(self);
  std::size_t value_bytes = 0;
  for (const auto& m : batch.mutations) value_bytes += m.value.size();
  if (st.parts.encoders.empty() || value_bytes < kEncodeInlineBytes) {
    auto payload = EncodeWrite(*st.parts.encoding_store, batch);
    w.payload = payload.ok() ? caf::expected<std::string>(std::move(*payload))
                             : caf::expected<std::string>(ToError(payload.status()));
    w.mutations = std::make_shared<std::vector<mutation>>(std::move(batch.mutations));  // no copy needed here
    LogInArrivalOrder(self);
    return;
  }
  // The encoder takes the batch; the partitions get these raw values.
  w.mutations = std::make_shared<std::vector<mutation>>(batch.mutations);
  const auto& encoder = st.parts.encoders[st.next_encoder++ % st.parts.encoders.size()];
  self->request(encoder, caf::infinite, encode_atom_v, std::move(batch))
      .then(
          [self, arrival](std::string& payload) {
            self->state.encoding[arrival].payload = std::move(payload);
            LogInArrivalOrder(self);
          },
          [self, arrival](caf::error& err) {
            self->state.encoding[arrival].payload = caf::expected<std::string>(std::move(err));
            LogInArrivalOrder(self);
          });
}

// Fans a logged write out, in LSN order: to the partition of each kind it
// touches (write-through) and to the store (its WAL payload). Returns
// whether it touched vectors.
bool Dispatch(controller_pointer self, logged_write logged, std::string payload, bool durable) {
  auto& st = self->state;
  ++st.writes;
  const std::uint64_t lsn = logged.lsn;
  std::array<bool, kKinds> touched{};
  for (const auto& m : logged.mutations) {
    touched[DataKindIndex(m.kind)] = true;
    if (!st.store_reads.empty()) {
      auto it = st.store_reads.find(FlightKey(m.kind, m.key));
      if (it != st.store_reads.end()) it->second.overwritten = true;
    }
  }
  std::vector<logged_write> one{std::move(logged)};
  for (std::size_t k = 0; k < kKinds; ++k) {
    if (!touched[k]) continue;
    // Before the acknowledgement: hot readers of this partition wait for it
    // to land rather than read what it replaced.
    st.parts.hot_reads->view(static_cast<DataKind>(k)).WritesDispatched(lsn);
    self->send(st.parts.partitions[k], apply_atom_v, one);
  }
  self->send(st.parts.store, apply_atom_v, std::vector<logged_payload>{{lsn, std::move(payload), durable}});
  return touched[DataKindIndex(DataKind::kVectors)];
}

void LogEncoded(controller_pointer self, std::shared_ptr<std::vector<mutation>> mutations, std::string payload,
                std::uint64_t started, std::function<void(caf::expected<std::uint64_t>)> done) {
  // The store applies the same bytes the journal logs.
  auto applied = std::make_shared<std::string>(payload);
  const std::uint8_t relaxed = RelaxedKinds(*mutations, self->state.parts.relaxed_kinds);
  self->request(self->state.parts.journal, caf::infinite, write_atom_v, std::move(payload), relaxed)
      .then(
          [=](std::uint64_t lsn) {
            auto& st = self->state;
            const bool vectors = Dispatch(self, logged_write{lsn, std::move(*mutations)}, std::move(*applied),
                                          relaxed == 0);
            if (!vectors) {
              st.write_latency.Add(ClockMicros(self) - started);
              return done(lsn);
            }
            // Vectors: a graph insert (~170 us a vector at 768 dimensions)
            // is slower than logging, so writers that are not held back pile
            // up a backlog in the partition's mailbox that every search
            // waits behind, and that a crash makes the next start re-apply.
            // Up to kMostUnindexedVectorWrites may be ahead of the index
            // (logging and indexing overlap); past that a write is
            // acknowledged once indexed. The partition answers this request
            // after every apply sent before it (one sender's messages arrive
            // in order). Searches see a write either way: they queue behind
            // its apply.
            const bool ahead = ++st.unindexed_vector_writes <= kMostUnindexedVectorWrites;
            if (ahead) {
              st.write_latency.Add(ClockMicros(self) - started);
              done(lsn);
            }
            auto indexed = [=] {
              --self->state.unindexed_vector_writes;
              if (ahead) return;
              self->state.write_latency.Add(ClockMicros(self) - started);
              done(lsn);
            };
            self->request(st.parts.partitions[DataKindIndex(DataKind::kVectors)], caf::infinite, access_atom_v,
                          std::string())
                .then([=](bool) { indexed(); },
                      // A partition that stopped (it restarts and re-reads
                      // the store): the write is durable all the same.
                      [=](caf::error&) { indexed(); });
          },
          [=](caf::error& err) {
            ++self->state.errors;
            done(std::move(err));
          });
}

// Reads (kind, key) from the store and hands the outcome to `done` with
// whether the value may be loaded into RAM: no write to the key overtook the
// read. (The store applies every write acknowledged before the read: the
// controller sent those applies first, and one sender's messages arrive in
// order.)
void ReadFromStore(controller_pointer self, DataKind kind, const std::string& key,
                   std::function<void(caf::expected<versioned_value>, bool current)> done) {
  const std::string flight = FlightKey(kind, key);
  ++self->state.store_reads[flight].outstanding;
  self->request(self->state.parts.store, caf::infinite, read_atom_v, kind, key)
      .then(
          [=](versioned_value& v) {
            auto& reads = self->state.store_reads;
            auto it = reads.find(flight);
            const bool current = !it->second.overwritten;
            if (--it->second.outstanding == 0) reads.erase(it);
            done(std::move(v), current);
          },
          [=](caf::error& err) {
            auto& reads = self->state.store_reads;
            auto it = reads.find(flight);
            if (--it->second.outstanding == 0) reads.erase(it);
            done(std::move(err), false);
          });
}

// Loads a value read from the store into its partition (an older LSN than
// the resident one is ignored there).
void Promote(controller_pointer self, DataKind kind, const std::string& key, versioned_value value) {
  self->send(self->state.parts.partitions[DataKindIndex(kind)], promote_atom_v, key, std::move(value));
}

// The promotion policy: the value read from disk is loaded into RAM on its
// promote_after_hits-th disk read.
void CountDiskHit(controller_pointer self, DataKind kind, const std::string& key, const versioned_value& value,
                  bool current) {
  auto& st = self->state;
  if (!current) return;
  if (st.disk_hits.size() > 1'000'000) st.disk_hits.clear();  // bounded memory; counts restart
  const std::string flight = FlightKey(kind, key);
  if (++st.disk_hits[flight] < st.parts.promote_after_hits) return;
  st.disk_hits.erase(flight);
  Promote(self, kind, key, value);
}

// Applies the first waiting append of `session`: reads the context's head
// from the store (which holds every acknowledged write: its mailbox has their
// applies before this read), extends its tail (sealing the tail as the next
// segment when it is full, in the same batch), writes it; then starts the
// next one. An append costs at most a segment's bytes, whatever the context's size.
void StartAppend(controller_pointer self, const std::string& session) {
  auto finish = [self, session](caf::expected<append_result> outcome) {
    auto& queue = self->state.appends[session];
    auto rp = queue.front().promise;
    queue.pop_front();
    if (outcome) {
      rp.deliver(*outcome);
    } else {
      rp.deliver(outcome.error());
    }
    if (queue.empty()) {
      self->state.appends.erase(session);
    } else {
      StartAppend(self, session);
    }
  };
  auto extend = [self, session, finish](records::SessionHead head) {
    write_batch batch;
    if (auto sealed = records::AppendToSession(&head, self->state.appends[session].front().message)) {
      batch.mutations.push_back(records::MakePut(
          DataKind::kHistory, records::SessionSegmentKey(session, head.sealed_segments - 1), std::move(*sealed)));
    }
    const std::uint64_t count = head.message_count();
    batch.mutations.push_back(records::MakePut(DataKind::kHistory, session, records::EncodeSessionHead(head)));
    Status valid = Validate(batch, self->state.parts);
    if (!valid.ok()) {
      finish(ToError(valid));
      return;
    }
    Write(self, std::move(batch), [finish, count](caf::expected<std::uint64_t> lsn) {
      if (lsn) {
        finish(append_result{*lsn, count});
      } else {
        finish(lsn.error());
      }
    });
  };
  self->request(self->state.parts.store, caf::infinite, read_atom_v, DataKind::kHistory, session)
      .then(
          [=](versioned_value& v) {
            auto head = records::DecodeSessionHead(session, v.value);
            if (!head.ok()) {
              finish(ToError(head.status()));
              return;
            }
            extend(std::move(*head));
          },
          [=](caf::error& err) {
            if (FromError(err).IsNotFound()) {
              extend({});
            } else {
              finish(std::move(err));
            }
          });
}

// `memory stats`: the controller's own counters and every other actor's report.
caf::result<memory_report> Stats(controller_pointer self) {
  auto& st = self->state;
  memory_report report;
  // Reads served by the read views never reached this actor.
  const std::uint64_t hot_hits = st.parts.hot_reads->hits();
  report.reads = st.reads + hot_hits;
  report.writes = st.writes;
  report.ram_hits = st.ram_hits + hot_hits;
  report.disk_reads = st.disk_reads;
  report.errors = st.errors;
  report.prefetch_enabled = st.parts.prefetch_enabled;
  report.read_latency = st.read_latency;
  const latency_histogram hot_latency = st.parts.hot_reads->ReadLatency();
  for (std::size_t i = 0; i < report.read_latency.buckets.size(); ++i) {
    report.read_latency.buckets[i] += hot_latency.buckets[i];
  }
  report.read_latency.count += hot_latency.count;
  report.read_latency.sum_seconds += hot_latency.sum_seconds;
  report.write_latency = st.write_latency;
  report.partitions.resize(kKinds);
  for (std::size_t k = 0; k < kKinds; ++k) report.partitions[k].kind = static_cast<DataKind>(k);
  auto rp = self->make_response_promise<memory_report>();
  FanIn<memory_report> fan(kKinds + 5, std::move(report), [rp](memory_report r) mutable { rp.deliver(std::move(r)); });
  for (std::size_t k = 0; k < kKinds; ++k) {
    self->request(st.parts.partitions[k], caf::infinite, stats_atom_v)
        .then(
            [fan, k](partition_report& r) {
              fan.result().promotions += r.promotions;
              fan.result().partitions[k] = std::move(r);
              fan.Arrived();
            },
            [fan](caf::error&) { fan.Arrived(); });
  }
  self->request(st.parts.journal, caf::infinite, stats_atom_v)
      .then(
          [fan](sync_report& r) {
            auto& s = fan.result().sync;
            s.durable_lsn = r.durable_lsn;
            s.wal_segments = r.wal_segments;
            s.wal_bytes = r.wal_bytes;
            s.wal_syncs = r.wal_syncs;
            s.wal_records = r.wal_records;
            s.wal_live_bytes = r.wal_live_bytes;
            s.relaxed_kinds = r.relaxed_kinds;
            s.relaxed_sync_ms = r.relaxed_sync_ms;
            s.unsynced_bytes = std::move(r.unsynced_bytes);
            s.unsynced_micros = std::move(r.unsynced_micros);
            s.lost_relaxed_writes = r.lost_relaxed_writes;
            fan.Arrived();
          },
          [fan](caf::error&) { fan.Arrived(); });
  self->request(st.parts.store, caf::infinite, stats_atom_v)
      .then(
          [fan](sync_report& r) {
            auto& s = fan.result().sync;
            s.applied_lsn = r.applied_lsn;
            s.checkpoint_lsn = r.checkpoint_lsn;
            s.store_disk_bytes = r.store_disk_bytes;
            s.store_raw_bytes = r.store_raw_bytes;
            s.store_encoded_bytes = r.store_encoded_bytes;
            s.store_error = std::move(r.store_error);
            fan.Arrived();
          },
          [fan](caf::error&) { fan.Arrived(); });
  self->request(st.parts.sync_timer, caf::infinite, stats_atom_v)
      .then(
          [fan](sync_report& r) {
            fan.result().sync.seconds_since_checkpoint = r.seconds_since_checkpoint;
            fan.result().sync.checkpoints = r.checkpoints;
            fan.Arrived();
          },
          [fan](caf::error&) { fan.Arrived(); });
  self->request(st.parts.backup, caf::infinite, stats_atom_v)
      .then(
          [fan](sync_report& r) {
            auto& s = fan.result().sync;
            s.backup_path = std::move(r.backup_path);
            s.archive_segments = r.archive_segments;
            s.archive_bytes = r.archive_bytes;
            s.archive_oldest_age_seconds = r.archive_oldest_age_seconds;
            s.backups = r.backups;
            s.last_backup_lsn = r.last_backup_lsn;
            s.last_backup_age_seconds = r.last_backup_age_seconds;
            s.backup_error = std::move(r.backup_error);
            fan.Arrived();
          },
          [fan](caf::error&) { fan.Arrived(); });
  self->request(st.parts.prefetcher, caf::infinite, stats_atom_v)
      .then(
          [fan](std::uint64_t prefetches, std::uint64_t hits) {
            fan.result().prefetches = prefetches;
            fan.result().prefetch_hits = hits;
            fan.Arrived();
          },
          [fan](caf::error&) { fan.Arrived(); });
  return rp;
}

controller_actor::behavior_type ControllerBehavior(controller_pointer self, ControllerParts parts) {
  self->state.parts = std::move(parts);
  return {
      [=](replicate_atom, std::vector<logged_payload>& records,
          std::vector<logged_write>& writes) -> caf::result<std::uint64_t> {
        std::size_t mutation_records = 0;
        for (const auto& r : records) {
          if (r.type != storage::kWalRecordMutations) continue;
          if (mutation_records >= writes.size() || writes[mutation_records].lsn != r.lsn) {
            return ToError(Status::InvalidArgument("replicate: the decoded writes do not match the records"));
          }
          ++mutation_records;
        }
        if (records.empty() || mutation_records != writes.size()) {
          return ToError(Status::InvalidArgument("replicate: no records, or writes without their records"));
        }
        auto rp = self->make_response_promise<std::uint64_t>();
        auto logged = std::make_shared<std::vector<logged_payload>>(std::move(records));
        auto decoded = std::make_shared<std::vector<logged_write>>(std::move(writes));
        self->request(self->state.parts.journal, caf::infinite, replicate_atom_v, *logged)
            .then(
                [=](std::uint64_t last) mutable {
                  // Dictionaries are the store's already (imported before
                  // the values that use them were decoded).
                  bool vectors = false;
                  std::size_t w = 0;
                  for (auto& r : *logged) {
                    if (r.type != storage::kWalRecordMutations) continue;
                    vectors |= Dispatch(self, std::move((*decoded)[w++]), std::move(r.payload), true);
                  }
                  if (!vectors) {
                    rp.deliver(last);
                    return;
                  }
                  // Visible to searches once indexed: the partition answers
                  // after the applies sent before.
                  self->request(self->state.parts.partitions[DataKindIndex(DataKind::kVectors)], caf::infinite,
                                access_atom_v, std::string())
                      .then([=](bool) mutable { rp.deliver(last); }, [=](caf::error&) mutable { rp.deliver(last); });
                },
                [=](caf::error& err) mutable {
                  ++self->state.errors;
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [=](role_atom, std::string& writes_refused) { self->state.writes_refused = std::move(writes_refused); },
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
      [=](append_atom, std::string& session, std::string& message) -> caf::result<append_result> {
        if (session.empty()) return ToError(Status::InvalidArgument("append: empty session id"));
        if (session.front() == records::kSessionSegmentTag) {
          return ToError(Status::InvalidArgument("append: a session id may not begin with a NUL byte"));
        }
        if (session.size() > records::kMaxSessionIdBytes) {
          return ToError(Status::InvalidArgument("append: session id of " + std::to_string(session.size()) +
                                                 " bytes (limit " + std::to_string(records::kMaxSessionIdBytes) + ")"));
        }
        // Bounded before anything is queued: a message that could never fit
        // the session's value, or a flood of appends to one session.
        if (message.size() > self->state.parts.max_value_bytes) {
          return ToError(Status::TooLarge("append: message of " + std::to_string(message.size()) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(self->state.parts.max_value_bytes)));
        }
        auto& queue = self->state.appends[session];
        if (queue.size() >= records::kMaxQueuedAppendsPerSession) {
          return ToError(Status::Unavailable("append: " + std::to_string(queue.size()) +
                                             " appends to session " + session.substr(0, 80) +
                                             " are already waiting; try again"));
        }
        auto rp = self->make_response_promise<append_result>();
        queue.push_back(controller_state::PendingAppend{std::move(message), rp});
        if (queue.size() == 1) StartAppend(self, session);
        return rp;
      },
      [=](read_atom, DataKind kind, std::string& key, std::string& reader) -> caf::result<read_result> {
        if (!ValidKind(kind)) {
          return ToError(Status::InvalidArgument("read: unknown kind " + std::to_string(static_cast<unsigned>(kind))));
        }
        if (Status s = CheckKey("read", key); !s.ok()) return ToError(s);
        if (reader.size() > records::kMaxReaderBytes) reader.resize(records::kMaxReaderBytes);
        // Resident and current: answered from the partition's read view, with
        // no round trip to the partition actor (counted by the view).
        if (read_result hit; self->state.parts.hot_reads->Read(kind, key, reader, &hit)) return hit;
        auto rp = self->make_response_promise<read_result>();
        ++self->state.reads;
        const auto started = ClockMicros(self);
        self->request(self->state.parts.partitions[DataKindIndex(kind)], caf::infinite, read_atom_v, key)
            .then(
                [=](versioned_value& v) mutable {
                  ++self->state.ram_hits;
                  self->send(self->state.parts.prefetcher, access_atom_v, kind, key, reader);
                  self->state.read_latency.Add(ClockMicros(self) - started);
                  rp.deliver(read_result{std::move(v.value), v.lsn, tier::ram});
                },
                [=](caf::error&) mutable {
                  // A miss (or a partition restarting): the store has it all.
                  ReadFromStore(self, kind, key, [=](caf::expected<versioned_value> v, bool current) mutable {
                    self->state.read_latency.Add(ClockMicros(self) - started);
                    if (!v) {
                      // Not found is an answer, not a failure.
                      if (FromError(v.error()).code() != StatusCode::kNotFound) ++self->state.errors;
                      rp.deliver(std::move(v.error()));
                      return;
                    }
                    ++self->state.disk_reads;
                    self->send(self->state.parts.prefetcher, access_atom_v, kind, key, reader);
                    CountDiskHit(self, kind, key, *v, current);
                    rp.deliver(read_result{std::move(v->value), v->lsn, tier::disk});
                  });
                });
        return rp;
      },
      [=](search_atom, search_request& request) -> caf::result<std::vector<search_hit>> {
        if (Status s = Validate(request); !s.ok()) return ToError(s);
        const auto& partitions = self->state.parts.partitions;
        const auto& vectors = partitions[DataKindIndex(DataKind::kVectors)];
        if (request.mode == records::search_mode::hybrid && request.query.empty()) {
          request.mode = records::search_mode::lexical;  // no vector to rank by
        }
        switch (request.mode) {
          case records::search_mode::vector:
            return Forward<std::vector<search_hit>>(self, vectors, search_atom_v, std::move(request));
          case records::search_mode::lexical: {
            if (LexicalTerms(request.text).empty()) return std::vector<search_hit>{};  // nothing to look for
            auto rp = self->make_response_promise<std::vector<search_hit>>();
            SearchWords(self, std::move(request), [rp](caf::expected<std::vector<search_hit>> hits) mutable {
              if (hits) {
                rp.deliver(std::move(*hits));
              } else {
                rp.deliver(std::move(hits.error()));
              }
            });
            return rp;
          }
          case records::search_mode::hybrid:
            break;
        }
        // Hybrid: the vector side's chunks and the lexical side's files and
        // messages, each twice k deep (at least 20: a file one side ranks
        // low can still be fused into the top k; deeper cost latency and
        // changed no answer on bench/search_quality), searched at once by
        // the partitions; then the code partition, which knows the files'
        // lines, fuses them.
        if (LexicalTerms(request.text).empty()) return std::vector<search_hit>{};  // nothing to look for
        auto rp = self->make_response_promise<std::vector<search_hit>>();
        struct Parts {
          std::vector<search_hit> by_vector, by_words;
          caf::error error;
        };
        search_request by_vector = request;
        by_vector.mode = records::search_mode::vector;
        by_vector.k = std::min<std::uint32_t>(records::kMaxSearchResults, std::max<std::uint32_t>(request.k * 2, 20));
        search_request by_words = request;
        by_words.k = std::min<std::uint32_t>(records::kMaxSearchResults, std::max<std::uint32_t>(request.k * 2, 20));
        FanIn<Parts> fan(2, Parts{}, [=, request = std::move(request)](Parts parts) mutable {
          if (parts.error) {
            rp.deliver(std::move(parts.error));
            return;
          }
          self->request(self->state.parts.partitions[DataKindIndex(DataKind::kCode)], caf::infinite, search_atom_v,
                        std::move(request), std::move(parts.by_vector), std::move(parts.by_words))
              .then([rp](std::vector<search_hit>& fused) mutable { rp.deliver(std::move(fused)); },
                    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        });
        auto fold = [fan](bool vector_side) {
          return [fan, vector_side](std::vector<search_hit>& hits) {
            (vector_side ? fan.result().by_vector : fan.result().by_words) = std::move(hits);
            fan.Arrived();
          };
        };
        auto failed = [fan](caf::error& err) {
          if (!fan.result().error) fan.result().error = std::move(err);
          fan.Arrived();
        };
        self->request(vectors, caf::infinite, search_atom_v, std::move(by_vector)).then(fold(true), failed);
        SearchWords(self, std::move(by_words), [fold, failed](caf::expected<std::vector<search_hit>> hits) mutable {
          if (hits) {
            fold(false)(*hits);
          } else {
            failed(hits.error());
          }
        });
        return rp;
      },
      [=](stats_atom) -> caf::result<memory_report> { return Stats(self); },
      [=](breakdown_atom) -> caf::result<std::vector<store_kind_report>> {
        return Forward<std::vector<store_kind_report>>(self, self->state.parts.store, breakdown_atom_v);
      },
      [=](evict_atom, std::uint64_t older_than_seconds, bool dry_run) -> caf::result<std::vector<eviction_result>> {
        auto rp = self->make_response_promise<std::vector<eviction_result>>();
        EvictEverywhere(self, older_than_seconds, dry_run,
                        [rp](std::vector<eviction_result> results) mutable { rp.deliver(std::move(results)); });
        return rp;
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        return Forward<std::uint64_t>(self, self->state.parts.sync_timer, sync_atom_v);
      },
      [=](compact_atom) -> caf::result<std::uint64_t> {
        return Forward<std::uint64_t>(self, self->state.parts.store, compact_atom_v);
      },
      [=](backup_atom) -> caf::result<backup_report> {
        return Forward<backup_report>(self, self->state.parts.backup, backup_atom_v);
      },
      [=](info_atom) -> engine_info {
        const auto& p = self->state.parts;
        return engine_info{p.vector_model, p.vector_dimension, p.max_value_bytes};
      },
      // Internal verbs (controller_actor only).
      [=](persisted_atom, std::uint64_t lsn) {
        for (const auto& p : self->state.parts.partitions) self->send(p, persisted_atom_v, lsn);
      },
      [=](route_atom, DataKind kind, partition_actor& partition) -> std::uint64_t {
        if (!ValidKind(kind)) return 0;
        self->state.parts.partitions[DataKindIndex(kind)] = std::move(partition);
        return self->state.parts.hot_reads->view(kind).dispatched_lsn();
      },
      [=](prefetch_atom, DataKind kind, std::string& key) {
        if (!ValidKind(kind) || key.empty()) return;
        // Resident already (a prefetch of a hot key)? Then no store read.
        self->request(self->state.parts.partitions[DataKindIndex(kind)], caf::infinite, access_atom_v, key)
            .then(
                [=](bool resident) {
                  if (resident) return;
                  ReadFromStore(self, kind, key, [=](caf::expected<versioned_value> v, bool current) {
                    if (v && current) Promote(self, kind, key, std::move(*v));
                  });
                },
                [](caf::error&) {});
      },
  };
}

}  // namespace

controller_actor SpawnController(caf::actor_system& sys, ControllerParts parts) {
  return sys.spawn(ControllerBehavior, std::move(parts));
}

}  // namespace postdevai::actors
