#include "client/memory_client.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <openssl/evp.h>

#include "records/stored_values.h"
#include "simd/lexical_embedder.h"
#include "simd/vector_index.h"

namespace postdevai {

std::string CodeIdForPath(std::string_view path) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest cannot fail for SHA-256 short of memory exhaustion; an
  // all-zero id would then still be well-formed and merely collide.
  if (EVP_Digest(path.data(), path.size(), digest, &length, EVP_sha256(), nullptr) != 1) length = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t i = 0; i < 16 && i < length; ++i) {
    id[2 * i] = kHex[digest[i] >> 4];
    id[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return id;
}

namespace client {
namespace {

// A future fulfilled by the callback form of an operation: `call(reply)`.
template <class T, class Call>
Future<T> AsFuture(Call call) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  call([promise](Result<T> outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

// A reply for the port that passes transform(value), or the port's error, on to `done`.
template <class In, class Out, class Transform>
Reply<In> Then(Reply<Out> done, Transform transform) {
  return [done = std::move(done), transform = std::move(transform)](Result<In> reply) mutable {
    if (!reply.ok()) return done(reply.status());
    done(transform(std::move(*reply)));
  };
}

// A read reply whose kNotFound is replaced by `missing` (naming what the caller asked for).
// The message is "<prefix><name><suffix>", built only on a miss (reads are
// the hot path: a hit allocates nothing for it).
Reply<records::read_result> NotFoundAs(const char* prefix, std::string name, const char* suffix,
                                       Reply<records::read_result> done) {
  return [prefix, name = std::move(name), suffix, done = std::move(done)](Result<records::read_result> r) {
    if (!r.ok() && r.status().IsNotFound()) return done(Status::NotFound(prefix + name + suffix));
    done(std::move(r));
  };
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

// Session ids: names, and never beginning with NUL (the keys of sealed
// context segments do: records::SessionSegmentKey).
Status CheckSessionId(const std::string& session, const char* verb) {
  PDAI_RETURN_IF_ERROR(CheckName(session, verb, "session id"));
  if (session.size() > records::kMaxSessionIdBytes) {
    return Status::InvalidArgument(std::string(verb) + ": session id of " + std::to_string(session.size()) +
                                   " bytes (limit " + std::to_string(records::kMaxSessionIdBytes) + ")");
  }
  if (session.front() == records::kSessionSegmentTag) {
    return Status::InvalidArgument(std::string(verb) + ": a session id may not begin with a NUL byte");
  }
  return Status::Ok();
}

// Reads a session's context: its head, then, when older messages are sealed
// in segments, each segment in order, then the head's tail. A segment newer
// than the head (or gone) means the context was replaced while it was read:
// the read starts over, a few times at most. The port may answer a read
// inline (a hot read): Pump turns those answers into a loop instead of a
// stack frame per segment.
class ContextRead : public std::enable_shared_from_this<ContextRead> {
 public:
  ContextRead(std::shared_ptr<EnginePort> port, std::string session, std::string reader, Reply<SessionContext> done)
      : port_(std::move(port)), session_(std::move(session)), reader_(std::move(reader)), done_(std::move(done)) {}

  void Start() {
    port_->Read(DataKind::kHistory, session_, reader_,
                NotFoundAs("no context for session ", session_, "",
                           [self = shared_from_this()](Result<records::read_result> r) { self->OnHead(std::move(r)); }));
  }

 private:
  static constexpr int kAttempts = 3;

  void OnHead(Result<records::read_result> r) {
    if (!r.ok()) return done_(r.status());
    auto head = records::DecodeSessionHead(session_, r->value);
    if (!head.ok()) return done_(head.status());
    head_ = std::move(*head);
    head_lsn_ = r->lsn;
    from_ram_ = r->served_from == records::tier::ram;
    messages_.clear();
    next_segment_ = 0;
    Pump();
  }

  void Pump() {
    {
      std::lock_guard lock(mu_);
      if (pumping_) {
        more_ = true;
        return;
      }
      pumping_ = true;
    }
    for (;;) {
      ReadNext();
      std::lock_guard lock(mu_);
      if (!more_) {
        pumping_ = false;
        return;
      }
      more_ = false;
    }
  }

  void ReadNext() {
    if (next_segment_ == head_.sealed_segments) return Finish();
    port_->Read(DataKind::kHistory, records::SessionSegmentKey(session_, next_segment_), reader_,
                [self = shared_from_this()](Result<records::read_result> r) { self->OnSegment(std::move(r)); });
  }

  void OnSegment(Result<records::read_result> r) {
    if ((!r.ok() && r.status().IsNotFound()) || (r.ok() && r->lsn > head_lsn_)) return StartOver();
    if (!r.ok()) return done_(r.status());
    auto part = records::DecodeMessages(session_, r->value);
    if (!part.ok()) return done_(part.status());
    for (auto& m : *part) messages_.push_back(std::move(m));
    from_ram_ = from_ram_ && r->served_from == records::tier::ram;
    ++next_segment_;
    Pump();
  }

  void StartOver() {
    if (++attempts_ == kAttempts) {
      return done_(Status::Unavailable("get context " + session_ + ": the context was replaced " +
                                       std::to_string(kAttempts) + " times while it was read; try again"));
    }
    Start();
  }

  void Finish() {
    if (messages_.size() != head_.sealed_messages) {
      return done_(Status::Corruption("session context " + session_ + ": its segments hold " +
                                      std::to_string(messages_.size()) + " messages, its head says " +
                                      std::to_string(head_.sealed_messages)));
    }
    for (auto& m : head_.tail) messages_.push_back(std::move(m));
    done_(SessionContext{std::move(messages_), head_lsn_, from_ram_});
  }

  std::shared_ptr<EnginePort> port_;
  const std::string session_;
  const std::string reader_;
  Reply<SessionContext> done_;
  int attempts_ = 0;
  records::SessionHead head_;
  std::uint64_t head_lsn_ = 0;
  bool from_ram_ = true;
  std::uint64_t next_segment_ = 0;
  std::vector<std::string> messages_;
  std::mutex mu_;  // pumping_, more_: the port may answer on another thread
  bool pumping_ = false;
  bool more_ = false;
};

// A vector of the engine's dimension with only finite values.
Status CheckVector(const std::vector<float>& v, std::uint32_t dimension, const std::string& what,
                   const std::string& model) {
  if (v.size() != dimension) {
    return Status::InvalidArgument(what + " has dimension " + std::to_string(v.size()) + "; this engine's model '" +
                                   model + "' has dimension " + std::to_string(dimension));
  }
  return CheckVectorValues(v, what);
}

// The embeddings as one vectors record, checked against the engine's model.
Result<std::string> EncodeEmbeddings(records::FileVectors vectors, const std::vector<std::vector<float>>& embeddings,
                                     const std::string& what) {
  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    PDAI_RETURN_IF_ERROR(
        CheckVector(embeddings[i], vectors.dimension, what + ": embedding " + std::to_string(i), vectors.model));
    vectors.values.insert(vectors.values.end(), embeddings[i].begin(), embeddings[i].end());
  }
  return records::EncodeFileVectors(vectors);
}

}  // namespace

MemoryClient::MemoryClient(std::shared_ptr<EnginePort> port, records::engine_info info, std::string reader)
    : port_(std::move(port)), info_(std::move(info)), reader_(std::move(reader)) {}

Result<records::write_batch> MemoryClient::CodeFileMutations(CodeFile& file, records::write_batch batch) const {
  PDAI_RETURN_IF_ERROR(CheckName(file.path, "store code", "path"));
  if (file.builtin_embedder) {
    if (!file.chunk_embeddings.empty()) {
      return Status::InvalidArgument("store code " + file.path + ": embeddings given and the built-in embedder asked for; choose one");
    }
    auto embedded = WithLexicalEmbeddings(std::move(file));
    if (!embedded.ok()) return embedded.status();
    file = std::move(*embedded);
  }
  const std::string id = CodeIdForPath(file.path);
  if (file.chunk_embeddings.empty()) {
    batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, id));
  } else {
    // One vector per chunk (an empty file has one: its name), or search
    // results would name the wrong chunks.
    const std::size_t chunks = std::max<std::size_t>(1, records::SplitIntoChunks(file.content).size());
    if (file.chunk_embeddings.size() != chunks) {
      return Status::InvalidArgument("indexing " + file.path + ": " + std::to_string(file.chunk_embeddings.size()) +
                                     " embeddings for " + std::to_string(chunks) +
                                     " chunks; give one per chunk (see ChunkCode / records::SplitIntoChunks)");
    }
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

void MemoryClient::StoreCode(CodeFile file, Reply<Stored> done) {
  auto batch = CodeFileMutations(file, {});
  if (!batch.ok()) return done(batch.status());
  port_->Write(std::move(*batch), Then<std::uint64_t, Stored>(std::move(done), [id = CodeIdForPath(file.path)](std::uint64_t lsn) {
                 return Result<Stored>(Stored{id, lsn});
               }));
}

Future<Stored> MemoryClient::StoreCode(CodeFile file) {
  return AsFuture<Stored>([&](auto done) { StoreCode(std::move(file), std::move(done)); });
}

void MemoryClient::StoreCodeFiles(std::vector<CodeFile> files, Reply<std::uint64_t> done) {
  if (files.empty()) return done(Status::InvalidArgument("store code: no files"));
  records::write_batch batch;
  for (auto& f : files) {
    auto extended = CodeFileMutations(f, std::move(batch));
    if (!extended.ok()) return done(extended.status());
    batch = std::move(*extended);
  }
  port_->Write(std::move(batch), std::move(done));
}

Future<std::uint64_t> MemoryClient::StoreCodeFiles(std::vector<CodeFile> files) {
  return AsFuture<std::uint64_t>([&](auto done) { StoreCodeFiles(std::move(files), std::move(done)); });
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
  file.builtin_embedder = false;
  for (auto chunk : records::SplitIntoChunks(file.content)) file.chunk_embeddings.push_back(embedder.Embed(chunk));
  if (file.chunk_embeddings.empty()) file.chunk_embeddings.push_back(embedder.Embed(file.path));  // empty file: its name
  return file;
}

void MemoryClient::GetCode(std::string id, Reply<CodeRecord> done) {
  if (Status s = CheckName(id, "get code", "id"); !s.ok()) return done(s);
  ReadCode(std::move(id), std::nullopt, std::move(done));
}

Future<CodeRecord> MemoryClient::GetCode(std::string id) {
  return AsFuture<CodeRecord>([&](auto done) { GetCode(std::move(id), std::move(done)); });
}

void MemoryClient::GetCodeByPath(std::string path, Reply<CodeRecord> done) {
  if (Status s = CheckName(path, "get code", "path"); !s.ok()) return done(s);
  std::string id = CodeIdForPath(path);
  ReadCode(std::move(id), std::move(path), std::move(done));
}

Future<CodeRecord> MemoryClient::GetCodeByPath(std::string path) {
  return AsFuture<CodeRecord>([&](auto done) { GetCodeByPath(std::move(path), std::move(done)); });
}

void MemoryClient::ReadCode(std::string id, std::optional<std::string> path, Reply<CodeRecord> done) {
  auto decode = [id, path](records::read_result r) -> Result<CodeRecord> {
    auto parts = records::DecodeCode(id, r.value);
    if (!parts.ok()) return parts.status();
    // Ids are hashes of paths: another path under the same id is a collision, not this file.
    if (path && parts->path != *path) return Status::NotFound("no code stored for path " + *path);
    return CodeRecord{id, std::move(parts->path), std::move(parts->language), std::move(parts->content), r.lsn,
                      r.served_from == records::tier::ram};
  };
  const char* prefix = path ? "no code stored for path " : "no code with id ";
  std::string name = path ? *path : id;
  port_->Read(DataKind::kCode, id, reader_,
              NotFoundAs(prefix, std::move(name), "",
                         Then<records::read_result, CodeRecord>(std::move(done), std::move(decode))));
}

void MemoryClient::DeleteCode(std::string path, Reply<std::uint64_t> done) {
  if (Status s = CheckName(path, "delete code", "path"); !s.ok()) return done(s);
  const std::string id = CodeIdForPath(path);
  records::write_batch batch;
  batch.mutations.push_back(records::MakeDelete(DataKind::kCode, id));
  batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, id));
  port_->Write(std::move(batch), std::move(done));
}

Future<std::uint64_t> MemoryClient::DeleteCode(std::string path) {
  return AsFuture<std::uint64_t>([&](auto done) { DeleteCode(std::move(path), std::move(done)); });
}

Result<records::write_batch> MemoryClient::ContextMutations(const std::string& session,
                                                            const std::vector<std::string>& messages,
                                                            std::vector<std::vector<float>> message_embeddings,
                                                            bool builtin_embedder,
                                                            std::uint64_t* sealed_segments) const {
  PDAI_RETURN_IF_ERROR(CheckSessionId(session, "store context"));
  if (builtin_embedder) {
    if (!message_embeddings.empty()) {
      return Status::InvalidArgument("store context " + session + ": embeddings given and the built-in embedder asked for; choose one");
    }
    PDAI_RETURN_IF_ERROR(CheckLexicalModel(("indexing session " + session).c_str()));
    LexicalEmbedder embedder(info_.vector_dimension);
    for (const auto& m : messages) message_embeddings.push_back(embedder.Embed(m));
  }
  const std::string vectors_key = records::SessionVectorsKey(session);
  // Stored as appends would have left it: a large context is sealed in
  // segments, so that later appends stay cheap.
  records::write_batch batch;
  records::SessionHead head;
  for (const auto& m : messages) {
    if (auto sealed = records::AppendToSession(&head, m)) {
      batch.mutations.push_back(records::MakePut(
          DataKind::kHistory, records::SessionSegmentKey(session, head.sealed_segments - 1), std::move(*sealed)));
    }
  }
  *sealed_segments = head.sealed_segments;
  batch.mutations.push_back(records::MakePut(DataKind::kHistory, session, records::EncodeSessionHead(head)));
  if (message_embeddings.empty() || messages.empty()) {
    if (!message_embeddings.empty()) {
      return Status::InvalidArgument("store context: 0 messages but " + std::to_string(message_embeddings.size()) +
                                     " embeddings");
    }
    batch.mutations.push_back(records::MakeDelete(DataKind::kVectors, vectors_key));
    return batch;
  }
  if (message_embeddings.size() != messages.size()) {
    return Status::InvalidArgument("store context: " + std::to_string(messages.size()) + " messages but " +
                                   std::to_string(message_embeddings.size()) + " embeddings");
  }
  records::FileVectors vectors;
  vectors.owner = records::FileVectors::kSession;
  vectors.model = info_.vector_model;
  vectors.dimension = info_.vector_dimension;
  vectors.session = session;
  auto encoded = EncodeEmbeddings(std::move(vectors), message_embeddings, "indexing session " + session);
  if (!encoded.ok()) return encoded.status();
  batch.mutations.push_back(records::MakePut(DataKind::kVectors, vectors_key, std::move(*encoded)));
  return batch;
}

void MemoryClient::StoreContext(std::string session, std::vector<std::string> messages,
                                std::vector<std::vector<float>> message_embeddings, bool builtin_embedder,
                                Reply<Stored> done) {
  std::uint64_t sealed = 0;
  auto batch = ContextMutations(session, messages, std::move(message_embeddings), builtin_embedder, &sealed);
  if (!batch.ok()) return done(batch.status());
  // The replaced context's segments beyond the new ones go in the same
  // batch: the head read first says how many there are. (An append that
  // seals a segment between this read and the write leaves that one segment
  // behind, unreferenced; it is never read.)
  port_->Read(DataKind::kHistory, session, reader_,
              [port = port_, session, sealed, batch = std::move(*batch), done = std::move(done)](
                  Result<records::read_result> old) mutable {
                if (!old.ok() && !old.status().IsNotFound()) return done(old.status());
                std::uint64_t old_sealed = 0;
                if (old.ok()) {
                  auto head = records::DecodeSessionHead(session, old->value);
                  if (head.ok()) old_sealed = head->sealed_segments;  // a malformed head is simply replaced
                }
                for (std::uint64_t i = sealed; i < old_sealed; ++i) {
                  batch.mutations.push_back(records::MakeDelete(DataKind::kHistory, records::SessionSegmentKey(session, i)));
                }
                port->Write(std::move(batch), Then<std::uint64_t, Stored>(std::move(done), [session](std::uint64_t lsn) {
                              return Result<Stored>(Stored{session, lsn});
                            }));
              });
}

Future<Stored> MemoryClient::StoreContext(std::string session, std::vector<std::string> messages,
                                          std::vector<std::vector<float>> message_embeddings, bool builtin_embedder) {
  return AsFuture<Stored>([&](auto done) {
    StoreContext(std::move(session), std::move(messages), std::move(message_embeddings), builtin_embedder, std::move(done));
  });
}

void MemoryClient::GetContext(std::string session, Reply<SessionContext> done) {
  if (Status s = CheckSessionId(session, "get context"); !s.ok()) return done(s);
  std::make_shared<ContextRead>(port_, std::move(session), reader_, std::move(done))->Start();
}

Future<SessionContext> MemoryClient::GetContext(std::string session) {
  return AsFuture<SessionContext>([&](auto done) { GetContext(std::move(session), std::move(done)); });
}

void MemoryClient::AppendContext(std::string session, std::string message, Reply<records::append_result> done) {
  if (Status s = CheckSessionId(session, "append context"); !s.ok()) return done(s);
  port_->Append(std::move(session), std::move(message), std::move(done));
}

Future<records::append_result> MemoryClient::AppendContext(std::string session, std::string message) {
  return AsFuture<records::append_result>(
      [&](auto done) { AppendContext(std::move(session), std::move(message), std::move(done)); });
}

void MemoryClient::PutMetadata(std::string key, std::string value, Reply<std::uint64_t> done) {
  if (Status s = CheckName(key, "put metadata", "key"); !s.ok()) return done(s);
  records::write_batch batch;
  batch.mutations.push_back(records::MakePut(DataKind::kMetadata, std::move(key), std::move(value)));
  port_->Write(std::move(batch), std::move(done));
}

Future<std::uint64_t> MemoryClient::PutMetadata(std::string key, std::string value) {
  return AsFuture<std::uint64_t>([&](auto done) { PutMetadata(std::move(key), std::move(value), std::move(done)); });
}

void MemoryClient::GetMetadata(std::string key, Reply<records::read_result> done) {
  if (Status s = CheckName(key, "get metadata", "key"); !s.ok()) return done(s);
  port_->Read(DataKind::kMetadata, key, reader_, NotFoundAs("no metadata key '", key, "'", std::move(done)));
}

Future<records::read_result> MemoryClient::GetMetadata(std::string key) {
  return AsFuture<records::read_result>([&](auto done) { GetMetadata(std::move(key), std::move(done)); });
}

void MemoryClient::DeleteMetadata(std::string key, Reply<std::uint64_t> done) {
  if (Status s = CheckName(key, "delete metadata", "key"); !s.ok()) return done(s);
  records::write_batch batch;
  batch.mutations.push_back(records::MakeDelete(DataKind::kMetadata, std::move(key)));
  port_->Write(std::move(batch), std::move(done));
}

Future<std::uint64_t> MemoryClient::DeleteMetadata(std::string key) {
  return AsFuture<std::uint64_t>([&](auto done) { DeleteMetadata(std::move(key), std::move(done)); });
}

void MemoryClient::Search(records::search_request request, std::size_t limit, SearchFilter filter,
                          Reply<std::vector<SearchHit>> done) {
  if (limit == 0 || limit > records::kMaxSearchResults) {
    return done(Status::InvalidArgument("search: limit " + std::to_string(limit) + " is not from 1 to " +
                                        std::to_string(records::kMaxSearchResults)));
  }
  request.k = static_cast<std::uint32_t>(limit);
  if (!request.query.empty() || request.mode == records::search_mode::vector) {
    if (Status s = CheckVector(request.query, info_.vector_dimension, "search: the query vector", info_.vector_model);
        !s.ok()) {
      return done(s);
    }
  }
  request.model = info_.vector_model;
  request.exact = filter.exact;
  request.path_prefix = std::move(filter.path_prefix);
  request.language = std::move(filter.language);
  request.session = std::move(filter.session);
  if (filter.owner == SearchFilter::Owner::kCodeChunks) request.owner = records::vector_owner::code_chunk;
  if (filter.owner == SearchFilter::Owner::kHistoryMessages) request.owner = records::vector_owner::history_message;
  auto convert = [](std::vector<records::search_hit> hits) -> Result<std::vector<SearchHit>> {
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
      hit.first_line = h.first_line;
      hit.last_line = h.last_line;
      hit.vector_score = h.vector_score;
      hit.lexical_score = h.lexical_score;
      out.push_back(std::move(hit));
    }
    return out;
  };
  port_->Search(std::move(request),
                Then<std::vector<records::search_hit>, std::vector<SearchHit>>(std::move(done), std::move(convert)));
}

void MemoryClient::SearchSimilar(std::vector<float> query, std::size_t limit, SearchFilter filter,
                                 Reply<std::vector<SearchHit>> done) {
  records::search_request request;
  request.query = std::move(query);
  request.mode = records::search_mode::vector;
  Search(std::move(request), limit, std::move(filter), std::move(done));
}

Future<std::vector<SearchHit>> MemoryClient::SearchSimilar(std::vector<float> query, std::size_t limit,
                                                           SearchFilter filter) {
  return AsFuture<std::vector<SearchHit>>(
      [&](auto done) { SearchSimilar(std::move(query), limit, std::move(filter), std::move(done)); });
}

void MemoryClient::SearchText(std::string_view text, std::size_t limit, SearchFilter filter,
                              Reply<std::vector<SearchHit>> done) {
  records::search_request request;
  const bool lexical_model = info_.vector_model == LexicalEmbedder::kModelName;
  switch (filter.mode) {
    case SearchMode::kVector:
      if (Status s = CheckLexicalModel("search"); !s.ok()) return done(s);
      request.mode = records::search_mode::vector;
      break;
    case SearchMode::kLexical:
      request.mode = records::search_mode::lexical;
      request.text = std::string(text);
      break;
    case SearchMode::kHybrid:
      // Without the built-in model, the text has no embedding here: the
      // lexical side ranks alone (SearchHybrid takes the caller's vector).
      request.mode = lexical_model ? records::search_mode::hybrid : records::search_mode::lexical;
      request.text = std::string(text);
      break;
  }
  if (request.mode != records::search_mode::lexical) {
    request.query = LexicalEmbedder(info_.vector_dimension).Embed(text);
  }
  Search(std::move(request), limit, std::move(filter), std::move(done));
}

Future<std::vector<SearchHit>> MemoryClient::SearchText(std::string_view text, std::size_t limit, SearchFilter filter) {
  return AsFuture<std::vector<SearchHit>>(
      [&](auto done) { SearchText(text, limit, std::move(filter), std::move(done)); });
}

void MemoryClient::SearchHybrid(std::vector<float> query, std::string_view text, std::size_t limit,
                                SearchFilter filter, Reply<std::vector<SearchHit>> done) {
  records::search_request request;
  request.query = std::move(query);
  request.text = std::string(text);
  switch (filter.mode) {
    case SearchMode::kVector: request.mode = records::search_mode::vector; break;
    case SearchMode::kLexical: request.mode = records::search_mode::lexical; request.query.clear(); break;
    case SearchMode::kHybrid: request.mode = records::search_mode::hybrid; break;
  }
  Search(std::move(request), limit, std::move(filter), std::move(done));
}

Future<std::vector<SearchHit>> MemoryClient::SearchHybrid(std::vector<float> query, std::string_view text,
                                                          std::size_t limit, SearchFilter filter) {
  return AsFuture<std::vector<SearchHit>>(
      [&](auto done) { SearchHybrid(std::move(query), text, limit, std::move(filter), std::move(done)); });
}

void MemoryClient::Stats(Reply<records::memory_report> done) { port_->Stats(std::move(done)); }
Future<records::memory_report> MemoryClient::Stats() {
  return AsFuture<records::memory_report>([&](auto done) { Stats(std::move(done)); });
}

void MemoryClient::Breakdown(Reply<std::vector<records::store_kind_report>> done) { port_->Breakdown(std::move(done)); }
Future<std::vector<records::store_kind_report>> MemoryClient::Breakdown() {
  return AsFuture<std::vector<records::store_kind_report>>([&](auto done) { Breakdown(std::move(done)); });
}

void MemoryClient::Evict(std::uint64_t older_than_seconds, bool dry_run,
                         Reply<std::vector<records::eviction_result>> done) {
  port_->Evict(older_than_seconds, dry_run, std::move(done));
}
Future<std::vector<records::eviction_result>> MemoryClient::Evict(std::uint64_t older_than_seconds, bool dry_run) {
  return AsFuture<std::vector<records::eviction_result>>(
      [&](auto done) { Evict(older_than_seconds, dry_run, std::move(done)); });
}

void MemoryClient::Sync(Reply<std::uint64_t> done) { port_->Sync(std::move(done)); }
Future<std::uint64_t> MemoryClient::Sync() {
  return AsFuture<std::uint64_t>([&](auto done) { Sync(std::move(done)); });
}

void MemoryClient::Compact(Reply<std::uint64_t> done) { port_->Compact(std::move(done)); }
Future<std::uint64_t> MemoryClient::Compact() {
  return AsFuture<std::uint64_t>([&](auto done) { Compact(std::move(done)); });
}

void MemoryClient::Backup(Reply<records::backup_report> done) { port_->Backup(std::move(done)); }
Future<records::backup_report> MemoryClient::Backup() {
  return AsFuture<records::backup_report>([&](auto done) { Backup(std::move(done)); });
}

Result<std::unique_ptr<MemoryClient>> ConnectMemoryClient(std::shared_ptr<EnginePort> port, std::string reader) {
  auto info = AsFuture<records::engine_info>([&](auto done) { port->Info(std::move(done)); }).get();
  if (!info.ok()) return info.status();
  return std::make_unique<MemoryClient>(std::move(port), std::move(*info), std::move(reader));
}

}  // namespace client
}  // namespace postdevai
