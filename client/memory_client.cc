#include "client/memory_client.h"

#include <cstdio>
#include <optional>
#include <utility>

#include "records/stored_values.h"
#include "simd/lexical_embedder.h"

namespace postdevai {

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

namespace client {
namespace {

template <class T>
Future<T> Ready(Result<T> outcome) {
  std::promise<Result<T>> p;
  p.set_value(std::move(outcome));
  return p.get_future();
}

// A callback for the port that fulfils a future with transform(reply), or
// with the port's error.
template <class In, class Out, class Transform>
Reply<In> Fulfil(std::shared_ptr<std::promise<Result<Out>>> promise, Transform transform) {
  return [promise = std::move(promise), transform = std::move(transform)](Result<In> reply) mutable {
    if (!reply.ok()) {
      promise->set_value(reply.status());
    } else {
      promise->set_value(transform(std::move(*reply)));
    }
  };
}

// Issues `call(reply)` and returns the future its transformed reply fulfils.
template <class In, class Out, class Call, class Transform>
Future<Out> Ask(Call call, Transform transform) {
  auto promise = std::make_shared<std::promise<Result<Out>>>();
  auto future = promise->get_future();
  call(Fulfil<In, Out>(std::move(promise), std::move(transform)));
  return future;
}

template <class T>
auto Identity() {
  return [](T x) -> Result<T> { return std::move(x); };
}

// "store code: empty path", "get metadata: key of 5000 bytes (limit 4096)".
Status CheckName(const std::string& value, const char* verb, const char* what) {
  if (value.empty()) return Status::InvalidArgument(std::string(verb) + ": empty " + what);
  if (value.size() > records::kMaxKeyBytes) {
    return Status::InvalidArgument(std::string(verb) + ": " + what + " of " + std::to_string(value.size()) +
                                   " bytes (limit " + std::to_string(records::kMaxKeyBytes) + ")");
  }
  return Status::Ok();
}

// The embeddings as one vectors record, checked against the engine's model.
Result<std::string> EncodeEmbeddings(records::FileVectors vectors, const std::vector<std::vector<float>>& embeddings,
                                     const std::string& what) {
  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    if (embeddings[i].size() != vectors.dimension) {
      return Status::InvalidArgument(what + ": embedding " + std::to_string(i) + " has dimension " +
                                     std::to_string(embeddings[i].size()) + "; this engine's model '" + vectors.model +
                                     "' has dimension " + std::to_string(vectors.dimension));
    }
    vectors.values.insert(vectors.values.end(), embeddings[i].begin(), embeddings[i].end());
  }
  return records::EncodeFileVectors(vectors);
}

}  // namespace

MemoryClient::MemoryClient(std::shared_ptr<EnginePort> port, records::engine_info info, std::string reader)
    : port_(std::move(port)), info_(std::move(info)), reader_(std::move(reader)) {}

Result<records::write_batch> MemoryClient::CodeFileMutations(CodeFile& file, records::write_batch batch) const {
  PDAI_RETURN_IF_ERROR(CheckName(file.path, "store code", "path"));
  const std::string id = CodeIdForPath(file.path);
  if (file.chunk_embeddings.empty()) {
    batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, id));
  } else {
    records::FileVectors vectors;
    vectors.model = info_.vector_model;
    vectors.dimension = info_.vector_dimension;
    vectors.path = file.path;
    vectors.language = file.language;
    auto encoded = EncodeEmbeddings(std::move(vectors), file.chunk_embeddings, "indexing " + file.path);
    if (!encoded.ok()) return encoded.status();
    batch.mutations.push_back(records::MakePut(DataKind::kVectors, id, std::move(*encoded)));
  }
  // The code record goes first: a reader of the batch sees the file, then its index.
  batch.mutations.insert(batch.mutations.end() - 1,
                         records::MakePut(DataKind::kCode, id, records::EncodeCode(file.path, file.language, file.content)));
  return batch;
}

Future<Stored> MemoryClient::StoreCode(CodeFile file) {
  auto batch = CodeFileMutations(file, {});
  if (!batch.ok()) return Ready<Stored>(batch.status());
  std::string id = CodeIdForPath(file.path);
  return Ask<std::uint64_t, Stored>(
      [&](auto reply) { port_->Write(std::move(*batch), std::move(reply)); },
      [id](std::uint64_t lsn) -> Result<Stored> { return Stored{id, lsn}; });
}

Future<std::uint64_t> MemoryClient::StoreCodeFiles(std::vector<CodeFile> files) {
  if (files.empty()) return Ready<std::uint64_t>(Status::InvalidArgument("store code: no files"));
  records::write_batch batch;
  for (auto& f : files) {
    auto extended = CodeFileMutations(f, std::move(batch));
    if (!extended.ok()) return Ready<std::uint64_t>(extended.status());
    batch = std::move(*extended);
  }
  return Ask<std::uint64_t, std::uint64_t>([&](auto reply) { port_->Write(std::move(batch), std::move(reply)); },
                                           Identity<std::uint64_t>());
}

Status MemoryClient::CheckLexicalModel(const char* what) const {
  const LexicalEmbedder embedder(info_.vector_dimension);
  if (info_.vector_model == embedder.model()) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + ": the built-in lexical embedder makes '" +
                                 std::string(embedder.model()) + "' vectors, but this engine stores '" +
                                 info_.vector_model + "' vectors; give embeddings of that model instead");
}

Result<CodeFile> MemoryClient::WithLexicalEmbeddings(CodeFile file) const {
  PDAI_RETURN_IF_ERROR(CheckLexicalModel(("indexing " + file.path).c_str()));
  LexicalEmbedder embedder(info_.vector_dimension);
  file.chunk_embeddings.clear();
  for (auto chunk : records::SplitIntoChunks(file.content)) file.chunk_embeddings.push_back(embedder.Embed(chunk));
  if (file.chunk_embeddings.empty()) file.chunk_embeddings.push_back(embedder.Embed(file.path));  // empty file: its name
  return file;
}

Future<CodeRecord> MemoryClient::GetCode(std::string id) {
  if (Status s = CheckName(id, "get code", "id"); !s.ok()) return Ready<CodeRecord>(s);
  return ReadCode(std::move(id), std::nullopt);
}

Future<CodeRecord> MemoryClient::GetCodeByPath(std::string path) {
  if (Status s = CheckName(path, "get code", "path"); !s.ok()) return Ready<CodeRecord>(s);
  std::string id = CodeIdForPath(path);
  return ReadCode(std::move(id), std::move(path));
}

Future<CodeRecord> MemoryClient::ReadCode(std::string id, std::optional<std::string> path) {
  const std::string missing = path ? "no code stored for path " + *path : "no code with id " + id;
  return Ask<records::read_result, CodeRecord>(
      [&](auto reply) {
        port_->Read(DataKind::kCode, id, reader_, [missing, reply = std::move(reply)](Result<records::read_result> r) {
          if (!r.ok() && r.status().IsNotFound()) return reply(Status::NotFound(missing));
          reply(std::move(r));
        });
      },
      [id, path, missing](records::read_result r) -> Result<CodeRecord> {
        auto parts = records::DecodeCode(id, r.value);
        if (!parts.ok()) return parts.status();
        // Ids are hashes of paths: another path under the same id is a collision, not this file.
        if (path && parts->path != *path) return Status::NotFound(missing);
        return CodeRecord{id, std::move(parts->path), std::move(parts->language), std::move(parts->content), r.lsn,
                          r.served_from == records::tier::ram};
      });
}

Future<std::uint64_t> MemoryClient::DeleteCode(std::string path) {
  if (Status s = CheckName(path, "delete code", "path"); !s.ok()) return Ready<std::uint64_t>(s);
  const std::string id = CodeIdForPath(path);
  records::write_batch batch;
  batch.mutations.push_back(records::MakeDelete(DataKind::kCode, id));
  batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, id));
  return Ask<std::uint64_t, std::uint64_t>([&](auto reply) { port_->Write(std::move(batch), std::move(reply)); },
                                           Identity<std::uint64_t>());
}

Future<Stored> MemoryClient::StoreContext(std::string session, std::vector<std::string> messages,
                                          std::vector<std::vector<float>> message_embeddings) {
  if (Status s = CheckName(session, "store context", "session id"); !s.ok()) return Ready<Stored>(s);
  const std::string vectors_key = records::SessionVectorsKey(session);
  records::write_batch batch;
  batch.mutations.push_back(records::MakePut(DataKind::kHistory, session, records::EncodeMessages(messages)));
  if (message_embeddings.empty() || messages.empty()) {
    if (!message_embeddings.empty()) {
      return Ready<Stored>(Status::InvalidArgument("store context: 0 messages but " +
                                                   std::to_string(message_embeddings.size()) + " embeddings"));
    }
    batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, vectors_key));
  } else {
    if (message_embeddings.size() != messages.size()) {
      return Ready<Stored>(Status::InvalidArgument("store context: " + std::to_string(messages.size()) +
                                                   " messages but " + std::to_string(message_embeddings.size()) +
                                                   " embeddings"));
    }
    records::FileVectors vectors;
    vectors.owner = records::FileVectors::kSession;
    vectors.model = info_.vector_model;
    vectors.dimension = info_.vector_dimension;
    vectors.session = session;
    auto encoded = EncodeEmbeddings(std::move(vectors), message_embeddings, "indexing session " + session);
    if (!encoded.ok()) return Ready<Stored>(encoded.status());
    batch.mutations.push_back(records::MakePut(DataKind::kVectors, vectors_key, std::move(*encoded)));
  }
  return Ask<std::uint64_t, Stored>([&](auto reply) { port_->Write(std::move(batch), std::move(reply)); },
                                    [session](std::uint64_t lsn) -> Result<Stored> { return Stored{session, lsn}; });
}

Future<SessionContext> MemoryClient::GetContext(std::string session) {
  if (Status s = CheckName(session, "get context", "session id"); !s.ok()) return Ready<SessionContext>(s);
  return Ask<records::read_result, SessionContext>(
      [&](auto reply) {
        port_->Read(DataKind::kHistory, session, reader_, [session, reply = std::move(reply)](Result<records::read_result> r) {
          if (!r.ok() && r.status().IsNotFound()) return reply(Status::NotFound("no context for session " + session));
          reply(std::move(r));
        });
      },
      [session](records::read_result r) -> Result<SessionContext> {
        auto messages = records::DecodeMessages(session, r.value);
        if (!messages.ok()) return messages.status();
        return SessionContext{std::move(*messages), r.lsn, r.served_from == records::tier::ram};
      });
}

Future<records::append_result> MemoryClient::AppendContext(std::string session, std::string message) {
  if (Status s = CheckName(session, "append context", "session id"); !s.ok()) return Ready<records::append_result>(s);
  return Ask<records::append_result, records::append_result>(
      [&](auto reply) { port_->Append(std::move(session), std::move(message), std::move(reply)); },
      Identity<records::append_result>());
}

void MemoryClient::PutMetadata(std::string key, std::string value, Reply<std::uint64_t> done) {
  if (Status s = CheckName(key, "put metadata", "key"); !s.ok()) return done(s);
  records::write_batch batch;
  batch.mutations.push_back(records::MakePut(DataKind::kMetadata, std::move(key), std::move(value)));
  port_->Write(std::move(batch), std::move(done));
}

Future<std::uint64_t> MemoryClient::PutMetadata(std::string key, std::string value) {
  return Ask<std::uint64_t, std::uint64_t>(
      [&](auto reply) { PutMetadata(std::move(key), std::move(value), std::move(reply)); }, Identity<std::uint64_t>());
}

void MemoryClient::GetMetadata(std::string key, Reply<records::read_result> done) {
  if (Status s = CheckName(key, "get metadata", "key"); !s.ok()) return done(s);
  port_->Read(DataKind::kMetadata, key, reader_, [key, done = std::move(done)](Result<records::read_result> r) {
    if (!r.ok() && r.status().IsNotFound()) return done(Status::NotFound("no metadata key '" + key + "'"));
    done(std::move(r));
  });
}

Future<records::read_result> MemoryClient::GetMetadata(std::string key) {
  return Ask<records::read_result, records::read_result>(
      [&](auto reply) { GetMetadata(std::move(key), std::move(reply)); }, Identity<records::read_result>());
}

Future<std::uint64_t> MemoryClient::DeleteMetadata(std::string key) {
  if (Status s = CheckName(key, "delete metadata", "key"); !s.ok()) return Ready<std::uint64_t>(s);
  records::write_batch batch;
  batch.mutations.push_back(records::MakeDelete(DataKind::kMetadata, std::move(key)));
  return Ask<std::uint64_t, std::uint64_t>([&](auto reply) { port_->Write(std::move(batch), std::move(reply)); },
                                           Identity<std::uint64_t>());
}

Future<std::vector<SearchHit>> MemoryClient::SearchSimilar(std::vector<float> query, std::size_t limit,
                                                           SearchFilter filter) {
  if (limit == 0 || limit > records::kMaxSearchResults) {
    return Ready<std::vector<SearchHit>>(Status::InvalidArgument(
        "search: limit " + std::to_string(limit) + " is not from 1 to " + std::to_string(records::kMaxSearchResults)));
  }
  records::search_request request;
  request.query = std::move(query);
  request.model = info_.vector_model;
  request.k = static_cast<std::uint32_t>(limit);
  request.exact = filter.exact;
  request.path_prefix = std::move(filter.path_prefix);
  request.language = std::move(filter.language);
  request.session = std::move(filter.session);
  if (filter.owner == SearchFilter::Owner::kCodeChunks) request.owner = records::vector_owner::code_chunk;
  if (filter.owner == SearchFilter::Owner::kHistoryMessages) request.owner = records::vector_owner::history_message;
  return Ask<std::vector<records::search_hit>, std::vector<SearchHit>>(
      [&](auto reply) { port_->Search(std::move(request), std::move(reply)); },
      [](std::vector<records::search_hit> hits) -> Result<std::vector<SearchHit>> {
        std::vector<SearchHit> out;
        out.reserve(hits.size());
        for (auto& h : hits) {
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
      });
}

Future<std::vector<SearchHit>> MemoryClient::SearchText(std::string_view text, std::size_t limit, SearchFilter filter) {
  if (Status s = CheckLexicalModel("search"); !s.ok()) return Ready<std::vector<SearchHit>>(s);
  LexicalEmbedder embedder(info_.vector_dimension);
  return SearchSimilar(embedder.Embed(text), limit, std::move(filter));
}

Future<records::memory_report> MemoryClient::Stats() {
  return Ask<records::memory_report, records::memory_report>([&](auto reply) { port_->Stats(std::move(reply)); },
                                                             Identity<records::memory_report>());
}

Future<std::vector<records::store_kind_report>> MemoryClient::Breakdown() {
  using T = std::vector<records::store_kind_report>;
  return Ask<T, T>([&](auto reply) { port_->Breakdown(std::move(reply)); }, Identity<T>());
}

Future<std::vector<records::eviction_result>> MemoryClient::Evict(std::uint64_t older_than_seconds, bool dry_run) {
  using T = std::vector<records::eviction_result>;
  return Ask<T, T>([&](auto reply) { port_->Evict(older_than_seconds, dry_run, std::move(reply)); }, Identity<T>());
}

Future<std::uint64_t> MemoryClient::Sync() {
  return Ask<std::uint64_t, std::uint64_t>([&](auto reply) { port_->Sync(std::move(reply)); },
                                           Identity<std::uint64_t>());
}

Future<std::uint64_t> MemoryClient::Compact() {
  return Ask<std::uint64_t, std::uint64_t>([&](auto reply) { port_->Compact(std::move(reply)); },
                                           Identity<std::uint64_t>());
}

Result<std::unique_ptr<MemoryClient>> ConnectMemoryClient(std::shared_ptr<EnginePort> port, std::string reader) {
  auto info = Ask<records::engine_info, records::engine_info>([&](auto reply) { port->Info(std::move(reply)); },
                                                              Identity<records::engine_info>())
                  .get();
  if (!info.ok()) return info.status();
  return std::make_unique<MemoryClient>(std::move(port), std::move(*info), std::move(reader));
}

}  // namespace client
}  // namespace postdevai
