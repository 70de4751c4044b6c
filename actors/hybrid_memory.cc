// The blocking facade: a thin adapter from HybridMemory's API to the client
// core (client/memory_client.h), which talks to the engine in this process
// through an actor port.
#include "postdevai/hybrid_memory.h"

#include "actors/actor_port.h"
#include "actors/engine.h"
#include "client/memory_client.h"

#include <condition_variable>
#include <mutex>
#include <optional>

namespace postdevai {

struct HybridMemory::Impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<actors::Engine> engine;
  std::unique_ptr<client::MemoryClient> client;
};

namespace {

template <class T>
Status StatusOf(client::Future<T> f) {
  return f.get().status();
}

// Starts an operation with start(reply) and waits for its reply, which comes
// inside the call for a read served from RAM (no thread hand-off, no shared
// state allocated: what a hot read costs is the read) or later on a CAF thread.
template <class T, class Start>
Result<T> Await(Start&& start) {
  struct Slot {
    std::mutex mutex;
    std::condition_variable arrived;
    std::optional<Result<T>> result;
  } slot;
  start([&slot](Result<T> r) {
    // Notified under the lock: the waiter cannot return (and destroy the
    // slot) before this scope has left it.
    std::lock_guard<std::mutex> lock(slot.mutex);
    slot.result.emplace(std::move(r));
    slot.arrived.notify_one();
  });
  std::unique_lock<std::mutex> lock(slot.mutex);
  slot.arrived.wait(lock, [&] { return slot.result.has_value(); });
  return std::move(*slot.result);
}

}  // namespace

HybridMemory::HybridMemory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HybridMemory::~HybridMemory() {
  if (!impl_) return;
  if (impl_->engine) (void)impl_->engine->Stop();
  impl_->client.reset();  // stops the port's bridge actor
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
  records::engine_info info{config.vectors.model, config.vectors.dimension, 0};
  actors::ActorPortOptions port_options;
  port_options.hot_reads = impl->engine->hot_reads();  // RAM hits answered on the caller's thread
  impl->client = std::make_unique<client::MemoryClient>(
      actors::MakeActorPort(*impl->system, impl->engine->local(), std::move(port_options)), std::move(info), "facade");
  return std::unique_ptr<HybridMemory>(new HybridMemory(std::move(impl)));
}

Result<std::string> HybridMemory::StoreCode(std::string_view path, std::string_view content, std::string_view language) {
  auto stored = impl_->client->StoreCode({std::string(path), std::string(content), std::string(language), {}}).get();
  if (!stored.ok()) return stored.status();
  return stored->id;
}

Result<CodeRecord> HybridMemory::GetCode(std::string_view id) {
  return Await<CodeRecord>([&](auto done) { impl_->client->GetCode(std::string(id), std::move(done)); });
}

Result<CodeRecord> HybridMemory::GetCodeByPath(std::string_view path) {
  return Await<CodeRecord>([&](auto done) { impl_->client->GetCodeByPath(std::string(path), std::move(done)); });
}

Status HybridMemory::DeleteCode(std::string_view path) { return StatusOf(impl_->client->DeleteCode(std::string(path))); }

Result<std::string> HybridMemory::StoreAndIndexCode(std::string_view path, std::string_view content,
                                                    std::string_view language,
                                                    const std::vector<std::vector<float>>& chunk_embeddings) {
  if (chunk_embeddings.empty()) {
    return Status::InvalidArgument("store and index code: no embeddings for " + std::string(path));
  }
  auto stored =
      impl_->client->StoreCode({std::string(path), std::string(content), std::string(language), chunk_embeddings}).get();
  if (!stored.ok()) return stored.status();
  return stored->id;
}

Result<std::string> HybridMemory::StoreAndIndexCodeLexical(std::string_view path, std::string_view content,
                                                           std::string_view language) {
  auto& c = *impl_->client;
  auto file = c.WithLexicalEmbeddings({std::string(path), std::string(content), std::string(language), {}});
  if (!file.ok()) return file.status();
  auto stored = c.StoreCode(std::move(*file)).get();
  if (!stored.ok()) return stored.status();
  return stored->id;
}

Result<std::vector<SearchHit>> HybridMemory::SearchSimilar(const std::vector<float>& query_embedding,
                                                           std::size_t limit, const SearchFilter& filter) {
  return impl_->client->SearchSimilar(query_embedding, limit, filter).get();
}

Result<std::vector<SearchHit>> HybridMemory::SearchHybrid(const std::vector<float>& query_embedding,
                                                          std::string_view text, std::size_t limit,
                                                          const SearchFilter& filter) {
  return impl_->client->SearchHybrid(query_embedding, text, limit, filter).get();
}

Result<std::vector<SearchHit>> HybridMemory::SearchText(std::string_view text, std::size_t limit,
                                                        const SearchFilter& filter) {
  return impl_->client->SearchText(text, limit, filter).get();
}

Status HybridMemory::StoreContext(std::string_view session_id, const std::vector<std::string>& messages) {
  return StatusOf(impl_->client->StoreContext(std::string(session_id), messages));
}

Status HybridMemory::StoreContextAndIndex(std::string_view session_id, const std::vector<std::string>& messages,
                                          const std::vector<std::vector<float>>& message_embeddings) {
  if (message_embeddings.size() != messages.size()) {
    return Status::InvalidArgument("store context: " + std::to_string(messages.size()) + " messages but " +
                                   std::to_string(message_embeddings.size()) + " embeddings");
  }
  return StatusOf(impl_->client->StoreContext(std::string(session_id), messages, message_embeddings));
}

Result<std::vector<std::string>> HybridMemory::GetContext(std::string_view session_id) {
  auto context = Await<client::SessionContext>(
      [&](auto done) { impl_->client->GetContext(std::string(session_id), std::move(done)); });
  if (!context.ok()) return context.status();
  return std::move(context->messages);
}

Result<std::uint64_t> HybridMemory::AppendContext(std::string_view session_id, std::string_view message) {
  auto appended = impl_->client->AppendContext(std::string(session_id), std::string(message)).get();
  if (!appended.ok()) return appended.status();
  return appended->messages;
}

Status HybridMemory::PutMetadata(std::string_view key, std::string_view value) {
  return PutMetadataAsync(key, value).get();
}

Result<std::string> HybridMemory::GetMetadata(std::string_view key) {
  auto read = Await<records::read_result>(
      [&](auto done) { impl_->client->GetMetadata(std::string(key), std::move(done)); });
  if (!read.ok()) return read.status();
  return std::move(read->value);
}

Status HybridMemory::DeleteMetadata(std::string_view key) {
  return StatusOf(impl_->client->DeleteMetadata(std::string(key)));
}

// Real (not deferred) futures: ready as soon as the engine answers.
std::future<Result<std::string>> HybridMemory::GetMetadataAsync(std::string_view key) {
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  auto future = promise->get_future();
  impl_->client->GetMetadata(std::string(key), [promise](Result<records::read_result> r) {
    if (!r.ok()) {
      promise->set_value(r.status());
    } else {
      promise->set_value(std::move(r->value));
    }
  });
  return future;
}

std::future<Status> HybridMemory::PutMetadataAsync(std::string_view key, std::string_view value) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  impl_->client->PutMetadata(std::string(key), std::string(value),
                             [promise](Result<std::uint64_t> lsn) { promise->set_value(lsn.status()); });
  return future;
}

Result<MemoryStats> HybridMemory::Stats() {
  auto report = impl_->client->Stats().get();
  if (!report.ok()) return report.status();
  MemoryStats s;
  for (const auto& p : report->partitions) {
    PartitionStats ps;
    ps.kind = std::string(DataKindName(p.kind));
    ps.entries = p.entries;
    ps.bytes = p.bytes;
    ps.budget_bytes = p.budget_bytes;
    ps.hits = p.hits;
    ps.misses = p.misses;
    ps.evictions = p.evictions;
    ps.restarts = p.restarts;
    ps.eviction_policy = p.eviction_policy;
    const std::size_t k = DataKindIndex(p.kind);
    ps.durability = (report->sync.relaxed_kinds >> k & 1) ? "relaxed" : "durable";
    if (k < report->sync.unsynced_bytes.size()) ps.unsynced_bytes = report->sync.unsynced_bytes[k];
    if (k < report->sync.unsynced_micros.size()) ps.unsynced_seconds = report->sync.unsynced_micros[k] / 1e6;
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
  auto results = impl_->client->Evict(static_cast<std::uint64_t>(age.count()), false).get();
  if (!results.ok()) return results.status();
  std::uint64_t total = 0;
  for (const auto& r : *results) total += r.entries;
  return total;
}

Result<std::uint64_t> HybridMemory::Sync() { return impl_->client->Sync().get(); }

Result<std::uint64_t> HybridMemory::Compact() { return impl_->client->Compact().get(); }

Result<BackupInfo> HybridMemory::Backup() {
  auto made = impl_->client->Backup().get();
  if (!made.ok()) return made.status();
  return BackupInfo{made->path, made->lsn, made->files, made->bytes, made->seconds};
}

}  // namespace postdevai
