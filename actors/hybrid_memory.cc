// The blocking facade over the engine. Host threads hand each call to one
// bridge actor (no scoped_actor per call: creating one costs more than the
// call); the bridge issues the request to the controller and fulfils the
// host's future from the response handler.
#include "postdevai/hybrid_memory.h"

#include <cstring>

#include "actors/engine.h"
#include "actors/errors.h"
#include "actors/records.h"
#include "simd/lexical_embedder.h"
#include "simd/vector_index.h"

namespace postdevai {

namespace {

constexpr std::uint8_t kCode = static_cast<std::uint8_t>(DataKind::kCode);
constexpr std::uint8_t kHistory = static_cast<std::uint8_t>(DataKind::kHistory);
constexpr std::uint8_t kMetadata = static_cast<std::uint8_t>(DataKind::kMetadata);
constexpr std::uint8_t kVectors = static_cast<std::uint8_t>(DataKind::kVectors);

// No call waits forever: an engine actor that stopped mid-request (CAF 0.17
// does not answer a request its receiver dropped) becomes kUnavailable.
constexpr auto kRequestTimeout = std::chrono::minutes(2);

}  // namespace

std::string CodeIdForPath(std::string_view path) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64: stable across builds and machines
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct HybridMemory::Impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<actors::Engine> engine;
  caf::actor bridge;
  VectorsConfig vectors;  // the model and dimension every vector must have

  // Runs fn(self) on the bridge actor.
  void Run(std::function<void(caf::event_based_actor*)> fn) {
    auto call = std::make_shared<actors::facade_call>();
    call->run = std::move(fn);
    caf::anon_send(bridge, std::move(call));
  }

  // Runs `issue(self, fulfil)` on the bridge; the future gets what fulfil gets.
  template <class T, class Issue>
  std::future<Result<T>> Post(Issue issue) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    Run([issue = std::move(issue), promise](caf::event_based_actor* self) mutable {
      issue(self, [promise](Result<T> r) { promise->set_value(std::move(r)); });
    });
    return future;
  }

  std::future<Result<std::uint64_t>> WriteAsync(std::uint8_t kind, std::string key, std::string value, bool erase) {
    actors::write_batch batch;
    batch.mutations.push_back(actors::mutation{kind, std::move(key), std::move(value), erase});
    auto controller = engine->controller();
    return Post<std::uint64_t>([controller, batch = std::move(batch)](caf::event_based_actor* self, auto fulfil) mutable {
      self->request(controller, kRequestTimeout, actors::write_atom_v, std::move(batch))
          .then([fulfil](std::uint64_t lsn) { fulfil(lsn); },
                [fulfil](caf::error& e) { fulfil(actors::FromError(e)); });
    });
  }

  std::future<Result<actors::read_result>> ReadAsync(std::uint8_t kind, std::string key) {
    auto controller = engine->controller();
    return Post<actors::read_result>([controller, kind, key = std::move(key)](caf::event_based_actor* self, auto fulfil) {
      self->request(controller, kRequestTimeout, actors::read_atom_v, kind, key)
          .then([fulfil](actors::read_result& r) { fulfil(std::move(r)); },
                [fulfil](caf::error& e) { fulfil(actors::FromError(e)); });
    });
  }

  template <class T, class... Ts>
  Result<T> Ask(Ts... xs) {
    auto controller = engine->controller();
    return Post<T>([controller, xs...](caf::event_based_actor* self, auto fulfil) {
             self->request(controller, kRequestTimeout, xs...)
                 .then([fulfil](T& r) { fulfil(std::move(r)); },
                       [fulfil](caf::error& e) { fulfil(actors::FromError(e)); });
           })
        .get();
  }
};

HybridMemory::HybridMemory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HybridMemory::~HybridMemory() {
  if (!impl_) return;
  if (impl_->engine) (void)impl_->engine->Stop();
  caf::anon_send_exit(impl_->bridge, caf::exit_reason::user_shutdown);
  impl_->engine.reset();
}

Result<std::unique_ptr<HybridMemory>> HybridMemory::Open(const HybridMemoryConfig& config) {
  std::vector<std::string> warnings;
  PDAI_RETURN_IF_ERROR(ValidateConfig(config, &warnings));
  auto impl = std::make_unique<Impl>();
  actors::ConfigureActorSystem(impl->cfg);
  impl->system = std::make_unique<caf::actor_system>(impl->cfg);
  auto engine = actors::Engine::Start(*impl->system, config);
  if (!engine.ok()) return engine.status();
  impl->engine = std::move(*engine);
  impl->vectors = config.vectors;
  impl->bridge = impl->system->spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[=](actors::facade_call_ptr& call) { call->run(self); }};
  });
  return std::unique_ptr<HybridMemory>(new HybridMemory(std::move(impl)));
}

Result<std::string> HybridMemory::StoreCode(std::string_view path, std::string_view content, std::string_view language) {
  if (path.empty()) return Status::InvalidArgument("store code: empty path");
  std::string id = CodeIdForPath(path);
  actors::write_batch batch;
  batch.mutations.push_back(actors::mutation{kCode, id, records::EncodeCode(path, language, content), false});
  batch.mutations.push_back(actors::mutation{kVectors, id, {}, true});
  auto lsn = impl_->Ask<std::uint64_t>(actors::write_atom_v, std::move(batch));
  if (!lsn.ok()) return lsn.status();
  return id;
}

Result<CodeRecord> HybridMemory::GetCode(std::string_view id) {
  if (id.empty()) return Status::InvalidArgument("get code: empty id");
  auto r = impl_->ReadAsync(kCode, std::string(id)).get();
  if (!r.ok()) {
    if (r.status().IsNotFound()) return Status::NotFound("no code with id " + std::string(id));
    return r.status();
  }
  auto parts = records::DecodeCode(id, r->value);
  if (!parts.ok()) return parts.status();
  CodeRecord record;
  record.id = id;
  record.path = std::move(parts->path);
  record.language = std::move(parts->language);
  record.content = std::move(parts->content);
  record.lsn = r->lsn;
  record.served_from_ram = r->served_from == actors::tier::ram;
  return record;
}

Result<CodeRecord> HybridMemory::GetCodeByPath(std::string_view path) {
  if (path.empty()) return Status::InvalidArgument("get code: empty path");
  auto record = GetCode(CodeIdForPath(path));
  if (!record.ok()) {
    if (record.status().IsNotFound()) return Status::NotFound("no code stored for path " + std::string(path));
    return record.status();
  }
  if (record->path != path) return Status::NotFound("no code stored for path " + std::string(path));
  return record;
}

Status HybridMemory::DeleteCode(std::string_view path) {
  if (path.empty()) return Status::InvalidArgument("delete code: empty path");
  const std::string id = CodeIdForPath(path);
  actors::write_batch batch;
  batch.mutations.push_back(actors::mutation{kCode, id, {}, true});
  batch.mutations.push_back(actors::mutation{kVectors, id, {}, true});
  return impl_->Ask<std::uint64_t>(actors::write_atom_v, std::move(batch)).status();
}

Result<std::string> HybridMemory::StoreAndIndexCode(std::string_view path, std::string_view content,
                                                    std::string_view language,
                                                    const std::vector<std::vector<float>>& chunk_embeddings) {
  if (path.empty()) return Status::InvalidArgument("store and index code: empty path");
  if (chunk_embeddings.empty()) return Status::InvalidArgument("store and index code: no embeddings for " + std::string(path));
  records::FileVectors vectors;
  vectors.model = impl_->vectors.model;
  vectors.dimension = impl_->vectors.dimension;
  vectors.path = path;
  vectors.language = language;
  for (std::size_t c = 0; c < chunk_embeddings.size(); ++c) {
    if (chunk_embeddings[c].size() != vectors.dimension) {
      return Status::InvalidArgument("store and index code: chunk " + std::to_string(c) + " of " + std::string(path) +
                                     " has dimension " + std::to_string(chunk_embeddings[c].size()) +
                                     "; this node's model '" + vectors.model + "' has dimension " +
                                     std::to_string(vectors.dimension));
    }
    vectors.values.insert(vectors.values.end(), chunk_embeddings[c].begin(), chunk_embeddings[c].end());
  }
  const std::string id = CodeIdForPath(path);
  actors::write_batch batch;
  batch.mutations.push_back(actors::mutation{kCode, id, records::EncodeCode(path, language, content), false});
  batch.mutations.push_back(actors::mutation{kVectors, id, records::EncodeFileVectors(vectors), false});
  auto lsn = impl_->Ask<std::uint64_t>(actors::write_atom_v, std::move(batch));
  if (!lsn.ok()) return lsn.status();
  return id;
}

Result<std::string> HybridMemory::StoreAndIndexCodeLexical(std::string_view path, std::string_view content,
                                                           std::string_view language) {
  LexicalEmbedder embedder(impl_->vectors.dimension);
  std::vector<std::vector<float>> embeddings;
  for (auto chunk : records::SplitIntoChunks(content)) embeddings.push_back(embedder.Embed(chunk));
  if (embeddings.empty()) embeddings.push_back(embedder.Embed(path));  // an empty file: index its name
  return StoreAndIndexCode(path, content, language, embeddings);
}

Result<std::vector<SearchHit>> HybridMemory::SearchSimilar(const std::vector<float>& query_embedding,
                                                           std::size_t limit, const SearchFilter& filter) {
  actors::search_request request;
  request.query = query_embedding;
  request.model = impl_->vectors.model;
  request.k = static_cast<std::uint32_t>(limit);
  request.exact = filter.exact;
  request.path_prefix = filter.path_prefix;
  request.language = filter.language;
  request.session = filter.session;
  if (filter.owner == SearchFilter::Owner::kCodeChunks) request.owner_kind = static_cast<std::uint8_t>(VectorOwnerKind::kCodeChunk);
  if (filter.owner == SearchFilter::Owner::kHistoryMessages) {
    request.owner_kind = static_cast<std::uint8_t>(VectorOwnerKind::kHistoryMessage);
  }
  auto hits = impl_->Ask<std::vector<actors::search_hit>>(actors::search_atom_v, std::move(request));
  if (!hits.ok()) return hits.status();
  std::vector<SearchHit> out;
  out.reserve(hits->size());
  for (auto& h : *hits) {
    SearchHit hit;
    hit.owner = h.session.empty() ? SearchHit::Owner::kCodeChunk : SearchHit::Owner::kHistoryMessage;
    if (!h.path.empty()) hit.id = CodeIdForPath(h.path);
    hit.path = std::move(h.path);
    hit.chunk = h.chunk;
    hit.language = std::move(h.language);
    hit.session = std::move(h.session);
    hit.score = h.score;
    out.push_back(std::move(hit));
  }
  return out;
}

Result<std::vector<SearchHit>> HybridMemory::SearchText(std::string_view text, std::size_t limit,
                                                        const SearchFilter& filter) {
  LexicalEmbedder embedder(impl_->vectors.dimension);
  return SearchSimilar(embedder.Embed(text), limit, filter);
}

Status HybridMemory::StoreContext(std::string_view session_id, const std::vector<std::string>& messages) {
  if (session_id.empty()) return Status::InvalidArgument("store context: empty session id");
  actors::write_batch batch;
  batch.mutations.push_back(
      actors::mutation{kHistory, std::string(session_id), records::EncodeMessages(messages), false});
  batch.mutations.push_back(actors::mutation{kVectors, records::SessionVectorsKey(session_id), {}, true});
  return impl_->Ask<std::uint64_t>(actors::write_atom_v, std::move(batch)).status();
}

Status HybridMemory::StoreContextAndIndex(std::string_view session_id, const std::vector<std::string>& messages,
                                          const std::vector<std::vector<float>>& message_embeddings) {
  if (session_id.empty()) return Status::InvalidArgument("store context: empty session id");
  if (message_embeddings.size() != messages.size()) {
    return Status::InvalidArgument("store context: " + std::to_string(messages.size()) + " messages but " +
                                   std::to_string(message_embeddings.size()) + " embeddings");
  }
  records::FileVectors vectors;
  vectors.owner = records::FileVectors::kSession;
  vectors.model = impl_->vectors.model;
  vectors.dimension = impl_->vectors.dimension;
  vectors.session = session_id;
  for (std::size_t i = 0; i < message_embeddings.size(); ++i) {
    if (message_embeddings[i].size() != vectors.dimension) {
      return Status::InvalidArgument("store context: message " + std::to_string(i) + " of session " +
                                     std::string(session_id) + " has dimension " +
                                     std::to_string(message_embeddings[i].size()) + "; this node's model '" +
                                     vectors.model + "' has dimension " + std::to_string(vectors.dimension));
    }
    vectors.values.insert(vectors.values.end(), message_embeddings[i].begin(), message_embeddings[i].end());
  }
  actors::write_batch batch;
  batch.mutations.push_back(
      actors::mutation{kHistory, std::string(session_id), records::EncodeMessages(messages), false});
  const std::string key = records::SessionVectorsKey(session_id);
  if (vectors.values.empty()) {
    batch.mutations.push_back(actors::mutation{kVectors, key, {}, true});
  } else {
    batch.mutations.push_back(actors::mutation{kVectors, key, records::EncodeFileVectors(vectors), false});
  }
  return impl_->Ask<std::uint64_t>(actors::write_atom_v, std::move(batch)).status();
}

Result<std::vector<std::string>> HybridMemory::GetContext(std::string_view session_id) {
  if (session_id.empty()) return Status::InvalidArgument("get context: empty session id");
  auto r = impl_->ReadAsync(kHistory, std::string(session_id)).get();
  if (!r.ok()) {
    if (r.status().IsNotFound()) return Status::NotFound("no context for session " + std::string(session_id));
    return r.status();
  }
  return records::DecodeMessages(session_id, r->value);
}

Result<std::uint64_t> HybridMemory::AppendContext(std::string_view session_id, std::string_view message) {
  if (session_id.empty()) return Status::InvalidArgument("append context: empty session id");
  auto controller = impl_->engine->controller();
  return impl_
      ->Post<std::uint64_t>([controller, session = std::string(session_id), message = std::string(message)](
                                caf::event_based_actor* self, auto fulfil) {
        self->request(controller, kRequestTimeout, actors::append_atom_v, session, message)
            .then([fulfil](std::uint64_t, std::uint64_t count) { fulfil(count); },
                  [fulfil](caf::error& e) { fulfil(actors::FromError(e)); });
      })
      .get();
}

Status HybridMemory::PutMetadata(std::string_view key, std::string_view value) {
  return PutMetadataAsync(key, value).get();
}

Result<std::string> HybridMemory::GetMetadata(std::string_view key) { return GetMetadataAsync(key).get(); }

Status HybridMemory::DeleteMetadata(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("delete metadata: empty key");
  return impl_->WriteAsync(kMetadata, std::string(key), {}, true).get().status();
}

std::future<Result<std::string>> HybridMemory::GetMetadataAsync(std::string_view key) {
  if (key.empty()) {
    std::promise<Result<std::string>> refused;
    refused.set_value(Status::InvalidArgument("get metadata: empty key"));
    return refused.get_future();
  }
  auto controller = impl_->engine->controller();
  return impl_->Post<std::string>([controller, key = std::string(key)](caf::event_based_actor* self, auto fulfil) {
    self->request(controller, kRequestTimeout, actors::read_atom_v, kMetadata, key)
        .then([fulfil](actors::read_result& r) { fulfil(std::move(r.value)); },
              [fulfil, key](caf::error& e) {
                Status s = actors::FromError(e);
                fulfil(s.IsNotFound() ? Status::NotFound("no metadata key " + key) : s);
              });
  });
}

std::future<Status> HybridMemory::PutMetadataAsync(std::string_view key, std::string_view value) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  if (key.empty()) {
    promise->set_value(Status::InvalidArgument("put metadata: empty key"));
    return future;
  }
  actors::write_batch batch;
  batch.mutations.push_back(actors::mutation{kMetadata, std::string(key), std::string(value), false});
  auto controller = impl_->engine->controller();
  // A real (not deferred) future: it becomes ready when the write is durable.
  impl_->Run([controller, batch = std::move(batch), promise](caf::event_based_actor* self) mutable {
    self->request(controller, kRequestTimeout, actors::write_atom_v, std::move(batch))
        .then([promise](std::uint64_t) { promise->set_value(Status::Ok()); },
              [promise](caf::error& e) { promise->set_value(actors::FromError(e)); });
  });
  return future;
}

Result<MemoryStats> HybridMemory::Stats() {
  auto report = impl_->Ask<actors::memory_report>(actors::stats_atom_v);
  if (!report.ok()) return report.status();
  MemoryStats s;
  for (const auto& p : report->partitions) {
    PartitionStats ps;
    ps.kind = std::string(DataKindName(static_cast<DataKind>(p.kind)));
    ps.entries = p.entries;
    ps.bytes = p.bytes;
    ps.budget_bytes = p.budget_bytes;
    ps.hits = p.hits;
    ps.misses = p.misses;
    ps.evictions = p.evictions;
    ps.restarts = p.restarts;
    ps.eviction_policy = p.eviction_policy;
    s.partitions.push_back(std::move(ps));
  }
  s.reads = report->reads;
  s.writes = report->writes;
  s.ram_hits = report->ram_hits;
  s.disk_reads = report->disk_reads;
  s.promotions = report->promotions;
  s.prefetches = report->prefetches;
  s.prefetch_hits = report->prefetch_hits;
  s.durable_lsn = report->sync.durable_lsn;
  s.applied_lsn = report->sync.applied_lsn;
  s.checkpoint_lsn = report->sync.checkpoint_lsn;
  s.sync_lag_seconds = report->sync.seconds_since_checkpoint;
  s.wal_segments = report->sync.wal_segments;
  s.wal_bytes = report->sync.wal_bytes;
  s.wal_syncs = report->sync.wal_syncs;
  return s;
}

Result<std::uint64_t> HybridMemory::EvictColderThan(std::chrono::seconds age) {
  return impl_->Ask<std::uint64_t>(actors::evict_atom_v, static_cast<std::uint64_t>(age.count()));
}

Result<std::uint64_t> HybridMemory::Sync() { return impl_->Ask<std::uint64_t>(actors::sync_atom_v); }

Result<std::uint64_t> HybridMemory::Compact() { return impl_->Ask<std::uint64_t>(actors::compact_atom_v); }

}  // namespace postdevai
