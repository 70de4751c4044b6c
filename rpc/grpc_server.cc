#include "rpc/grpc_server.h"

#include <algorithm>
#include <atomic>
#include <tuple>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "postdevai/memory/v1/memory.grpc.pb.h"
#include "records/stored_values.h"
#include "rpc/connection_guard.h"
#include "rpc/convert.h"
#include "rpc/replication.h"
#include "rpc/status_mapping.h"
#include "rpc/token_file.h"

#ifndef POSTDEVAI_VERSION
#define POSTDEVAI_VERSION "unknown"
#endif

namespace postdevai::rpc {

namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// A file stream ingest writes at once: one WAL record, well inside the
// smallest segment a node may use (1 MiB).
constexpr std::size_t kIngestBatchBytes = 512u << 10;
constexpr std::size_t kIngestBatchFiles = 256;
// Refusals listed in an ingest reply (it stays small); later ones are left
// out of the list, and the reply's file count still tells what was stored.
constexpr std::size_t kMaxListedRefusals = 1000;

// What calls hold. gRPC 1.51 enforces max_concurrent_streams only once a
// client acknowledges the node's SETTINGS, and its memory quota does not
// count replies waiting for a client that does not read: a peer could make
// the node work on, and hold, any number of calls. So the node counts the
// calls of each connection it has not answered yet (at most
// max_concurrent_streams) and the bytes of requests and replies until gRPC
// is done with a call (at most memory_mb over all connections), and refuses
// calls beyond either. Thread-safe.
class Admission {
 public:
  Admission(std::uint32_t calls_per_connection, std::uint64_t bytes)
      : calls_per_connection_(calls_per_connection), max_bytes_(bytes) {}

  // Admits a call of `peer` (its connection: "ipv4:127.0.0.1:53412") whose
  // request takes `request_bytes`, or says why not; *abusive: the peer is
  // past the stream limit it was told (only a client that ignores it gets
  // there).
  Status Admit(const std::string& peer, std::uint64_t request_bytes, bool* abusive) {
    std::unique_lock<std::mutex> lock(mu_);
    PeerCalls& peer_calls = calls_[peer];
    std::uint32_t& calls = peer_calls.in_flight;
    *abusive = false;
    if (calls >= calls_per_connection_) {
      *abusive = true;
      const std::uint32_t held = calls;
      // Its connection is ended (once): gRPC 1.51 keeps the state of every
      // stream such a client opens until the connection goes.
      ConnectionGuard* guard = guard_.load();
      if (!peer_calls.dropped && guard != nullptr) {
        peer_calls.dropped = true;
        lock.unlock();
        guard->Drop(peer);
      }
      return Status::TooLarge("this connection has " + std::to_string(held) +
                              " calls in flight, the most the node allows (grpc.max_concurrent_streams = " +
                              std::to_string(calls_per_connection_) + "); wait for replies before sending more");
    }
    if (held_bytes_ + request_bytes > max_bytes_ && held_bytes_ > 0) {
      if (calls == 0) calls_.erase(peer);
      return Status::TooLarge("the node holds " + std::to_string(held_bytes_ >> 20) +
                              " MiB of calls in flight, the most it allows (grpc.memory_mb = " +
                              std::to_string(max_bytes_ >> 20) + "); retry later");
    }
    ++calls;
    held_bytes_ += request_bytes;
    return Status::Ok();
  }
  // The call of `peer` is answered; its reply of `bytes` is held until
  // gRPC is done with the call (Release). False, and nothing held, when the
  // reply would take the node past memory_mb: the call is answered with an
  // error instead (no reply size is known before the engine answers).
  bool Answered(const std::string& peer, std::uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(peer);
    if (it != calls_.end() && --it->second.in_flight == 0) calls_.erase(it);
    if (bytes > 0 && held_bytes_ + bytes > max_bytes_ && held_bytes_ > 0) return false;
    held_bytes_ += bytes;
    return true;
  }
  std::uint64_t max_bytes() const { return max_bytes_; }
  // (calls not answered yet, bytes held)
  std::pair<std::uint64_t, std::uint64_t> Load() {
    std::lock_guard<std::mutex> lock(mu_);
    std::uint64_t calls = 0;
    for (const auto& [peer, n] : calls_) calls += n.in_flight;
    return {calls, held_bytes_};
  }
  void Release(std::uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    held_bytes_ -= std::min(held_bytes_, bytes);
  }
  // Ends the connections of peers past the stream limit; set once, before
  // the first call.
  void SetGuard(ConnectionGuard* guard) { guard_.store(guard); }

 private:
  struct PeerCalls {
    std::uint32_t in_flight = 0;
    bool dropped = false;  // its connection was ended
  };
  const std::uint32_t calls_per_connection_;
  const std::uint64_t max_bytes_;
  std::atomic<ConnectionGuard*> guard_{nullptr};
  std::mutex mu_;
  std::unordered_map<std::string, PeerCalls> calls_;
  std::uint64_t held_bytes_ = 0;
};

// One unary call: admitted (or refused) when it arrives, answered exactly
// once (Succeed or Fail), released when gRPC is done with it.
// The door's counters (GrpcCounters), bumped from any thread.
struct DoorCounters {
  std::atomic<std::uint64_t> calls{0}, errors{0}, refused_limit{0}, refused_token{0};
};

class UnaryCall final : public ServerUnaryReactor {
 public:
  UnaryCall(CallbackServerContext* ctx, Admission* admission, DoorCounters* counters)
      : ctx_(ctx), admission_(admission), counters_(counters) {
    counters_->calls.fetch_add(1, std::memory_order_relaxed);
  }

  // Admits the call; false if refused (it is then finished already).
  bool Admit(const google::protobuf::Message& request) {
    peer_ = ctx_->peer();
    // A message in memory and its wire form: about twice its encoded size.
    held_ = 2 * request.ByteSizeLong();
    bool abusive = false;
    Status admitted = admission_->Admit(peer_, held_, &abusive);
    if (!admitted.ok()) {
      admission_ = nullptr;
      // A peer past the stream limit it was told is not reading what it
      // asked for (a client that honours max_concurrent_streams never gets
      // here): reset the stream too, rather than queue an answer it will
      // not read.
      if (abusive) ctx_->TryCancel();
      counters_->refused_limit.fetch_add(1, std::memory_order_relaxed);
      Fail(admitted);
      return false;
    }
    return true;
  }
  // Refused before admission (no token): nothing to release.
  void Deny(const grpc::Status& status) {
    admission_ = nullptr;
    counters_->refused_token.fetch_add(1, std::memory_order_relaxed);
    counters_->errors.fetch_add(1, std::memory_order_relaxed);
    Finish(status);
  }
  // The engine's error, its code by name in the trailer.
  void Fail(const Status& status) {
    counters_->errors.fetch_add(1, std::memory_order_relaxed);
    Answered(0);
    ctx_->AddTrailingMetadata(kErrorTrailer, ErrorCodeName(status.code()));
    Finish(ToGrpcStatus(status));
  }
  void Succeed(const google::protobuf::Message& reply) {
    const std::uint64_t bytes = 2 * reply.ByteSizeLong();
    if (!Answered(bytes)) {
      counters_->refused_limit.fetch_add(1, std::memory_order_relaxed);
      return Fail(Status::TooLarge("the node holds the most replies it allows (grpc.memory_mb = " +
                                   std::to_string(admission_->max_bytes() >> 20) + ") for clients that have not read "
                                   "them; retry later"));
    }
    Finish(grpc::Status::OK);
  }
  void OnDone() override {
    if (admission_ != nullptr) {
      if (!answered_) admission_->Answered(peer_, 0);
      admission_->Release(held_);
    }
    delete this;
  }

 private:
  // Counts the call answered; false if its reply does not fit (see Admission).
  bool Answered(std::uint64_t reply_bytes) {
    if (admission_ == nullptr || answered_) return true;
    answered_ = true;
    if (!admission_->Answered(peer_, reply_bytes)) return false;
    held_ += reply_bytes;
    return true;
  }

  CallbackServerContext* ctx_;
  Admission* admission_;
  DoorCounters* counters_;
  std::string peer_;
  std::uint64_t held_ = 0;
  bool answered_ = false;
};

// A reply for the client core that fills the response with `fill(value)` and
// finishes the call, or finishes it with the error.
template <class T, class Fill>
client::Reply<T> Answer(UnaryCall* call, const google::protobuf::Message* out, Fill fill) {
  return [call, out, fill = std::move(fill)](Result<T> outcome) mutable {
    if (!outcome.ok()) return call->Fail(outcome.status());
    fill(std::move(*outcome));
    call->Succeed(*out);
  };
}

std::vector<std::vector<float>> VectorsOf(const google::protobuf::RepeatedPtrField<v1::Vector>& in) {
  std::vector<std::vector<float>> out;
  out.reserve(static_cast<std::size_t>(in.size()));
  for (const auto& v : in) out.emplace_back(v.values().begin(), v.values().end());
  return out;
}

// How a write asks to be indexed: (embeddings, builtin) or why not.
Status CheckIndexing(v1::Indexing indexing, int embeddings, const std::string& what) {
  switch (indexing) {
    case v1::NOT_INDEXED:
      if (embeddings != 0) return Status::InvalidArgument(what + ": embeddings given but indexing is NOT_INDEXED; set CALLER_EMBEDDINGS");
      return Status::Ok();
    case v1::BUILTIN_EMBEDDER:
      if (embeddings != 0) return Status::InvalidArgument(what + ": embeddings given but indexing is BUILTIN_EMBEDDER; set CALLER_EMBEDDINGS");
      return Status::Ok();
    case v1::CALLER_EMBEDDINGS:
      if (embeddings == 0) return Status::InvalidArgument(what + ": indexing is CALLER_EMBEDDINGS but no embeddings were given");
      return Status::Ok();
    default:
      return Status::InvalidArgument(what + ": unknown indexing " + std::to_string(static_cast<int>(indexing)));
  }
}

// A caller that names its embeddings' model must name the node's.
Status CheckModel(const std::string& model, const records::engine_info& node, const std::string& what) {
  if (model.empty() || model == node.vector_model) return Status::Ok();
  return Status::InvalidArgument(what + ": vectors of model '" + model + "' given, but this node stores '" +
                                 node.vector_model + "' vectors (dimension " + std::to_string(node.vector_dimension) +
                                 "); embed with that model");
}

Result<client::CodeFile> CodeFileOf(const v1::StoreCodeRequest& request, const records::engine_info& node) {
  PDAI_RETURN_IF_ERROR(CheckIndexing(request.indexing(), request.embeddings_size(), "store code " + request.path()));
  PDAI_RETURN_IF_ERROR(CheckModel(request.model(), node, "store code " + request.path()));
  client::CodeFile file{request.path(), request.content(), request.language(), VectorsOf(request.embeddings()),
                        request.indexing() == v1::BUILTIN_EMBEDDER};
  return file;
}

// Fields this node's v1 does not know: refused, so that a client never
// believes an option was honoured that was not.
Status CheckNoUnknownFields(const google::protobuf::Message& message) {
  const auto& unknown = message.GetReflection()->GetUnknownFields(message);
  if (unknown.empty()) return Status::Ok();
  const int number = unknown.field(0).number();
  const auto* descriptor = message.GetDescriptor();
  // A known number parsed as unknown arrived with another wire type.
  if (const auto* field = descriptor->FindFieldByNumber(number)) {
    return Status::InvalidArgument(descriptor->full_name() + ": field " + std::to_string(number) + " (" +
                                   field->name() + ") arrived with the wrong wire type; it is a " +
                                   field->type_name());
  }
  return Status::InvalidArgument(descriptor->full_name() + " carries field number " + std::to_string(number) +
                                 ", which this node does not know (is the client newer than the node?)");
}

class MemoryService;

// IngestCode: reads files, writes them in batches (reading pauses while a
// batch is written, so a client can never make the node hold more than one
// batch and one message), and answers once when the client is done. Served
// raw (ByteBuffers) so that a message that does not parse ends the stream
// with an error naming it: gRPC's typed reader reports it as a clean end of
// the stream, and the files after it would be dropped without a word.
class IngestReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  IngestReactor(std::shared_ptr<client::MemoryClient> memory, CallbackServerContext* ctx, grpc::ByteBuffer* response,
                Admission* admission, DoorCounters* counters)
      : memory_(std::move(memory)), ctx_(ctx), response_(response), admission_(admission), counters_(counters),
        peer_(ctx->peer()) {
    bool abusive = false;
    if (Status admitted = admission_->Admit(peer_, 0, &abusive); !admitted.ok()) {
      admission_ = nullptr;
      counters_->refused_limit.fetch_add(1, std::memory_order_relaxed);
      End(admitted);
      return;
    }
    StartRead(&buffer_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (ctx_->IsCancelled()) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "ingest cancelled by the client"));
      return Flush([this] { Answer(); });
    }
    ++messages_;
    grpc::Status parsed = grpc::SerializationTraits<v1::StoreCodeRequest>::Deserialize(&buffer_, &request_);
    if (!parsed.ok()) {
      return Flush([this] {
        End(Status::InvalidArgument("ingest: message " + std::to_string(messages_) +
                                    " of the stream is not a StoreCodeRequest (it does not parse); the files before "
                                    "it are stored, none after it"));
      });
    }
    if (Status s = CheckNoUnknownFields(request_); !s.ok()) return Flush([this, s] { End(s); });
    auto file = CodeFileOf(request_, memory_->info());
    if (!file.ok()) {
      Refuse(request_.path(), file.status());
    } else {
      batch_bytes_ += file->content.size() + file->path.size() + file->language.size();
      for (const auto& e : file->chunk_embeddings) batch_bytes_ += e.size() * sizeof(float);
      batch_.push_back(std::move(*file));
    }
    if (batch_bytes_ >= kIngestBatchBytes || batch_.size() >= kIngestBatchFiles) {
      Flush([this] { StartRead(&buffer_); });
    } else {
      StartRead(&buffer_);
    }
  }

  void OnDone() override {
    if (admission_ != nullptr) admission_->Answered(peer_, 0);
    delete this;
  }

 private:
  // A file the node will not store: listed in the reply, the stream goes on.
  void Refuse(const std::string& path, const Status& why) {
    if (reply_.refused_size() < static_cast<int>(kMaxListedRefusals)) {
      auto* r = reply_.add_refused();
      r->set_path(path.substr(0, records::kMaxKeyBytes));
      r->set_reason(why.message().substr(0, 512));
    }
  }

  void Answer() {
    bool own = false;
    grpc::Status serialized = grpc::SerializationTraits<v1::IngestCodeReply>::Serialize(reply_, response_, &own);
    Finish(serialized);
  }

  void End(const Status& s) {
    counters_->errors.fetch_add(1, std::memory_order_relaxed);
    ctx_->AddTrailingMetadata(kErrorTrailer, ErrorCodeName(s.code()));
    Finish(ToGrpcStatus(s));
  }

  // Writes the batch, then runs `next`. A batch the engine refuses as a whole
  // (a value too large, a bad embedding) is written file by file, so that
  // only the files at fault are refused.
  void Flush(std::function<void()> next) {
    if (batch_.empty()) return next();
    auto files = std::move(batch_);
    batch_.clear();
    batch_bytes_ = 0;
    auto copy = files;
    memory_->StoreCodeFiles(std::move(copy), [this, files = std::move(files), next = std::move(next)](
                                                 Result<std::uint64_t> lsn) mutable {
      if (lsn.ok()) {
        Count(files, *lsn);
        return next();
      }
      if (!IsFileLevel(lsn.status())) return End(lsn.status());
      OneByOne(std::make_shared<std::vector<client::CodeFile>>(std::move(files)), 0, std::move(next));
    });
  }

  static bool IsFileLevel(const Status& s) {
    return s.code() == StatusCode::kTooLarge || s.code() == StatusCode::kInvalidArgument;
  }

  void OneByOne(std::shared_ptr<std::vector<client::CodeFile>> files, std::size_t i, std::function<void()> next) {
    if (i == files->size()) return next();
    memory_->StoreCode((*files)[i], [this, files, i, next = std::move(next)](Result<client::Stored> stored) mutable {
      if (stored.ok()) {
        Count({(*files)[i]}, stored->lsn);
      } else if (IsFileLevel(stored.status())) {
        Refuse((*files)[i].path, stored.status());
      } else {
        return End(stored.status());
      }
      OneByOne(std::move(files), i + 1, std::move(next));
    });
  }

  void Count(const std::vector<client::CodeFile>& files, std::uint64_t lsn) {
    reply_.set_batches(reply_.batches() + 1);
    reply_.set_last_lsn(lsn);
    for (const auto& f : files) {
      reply_.set_files(reply_.files() + 1);
      reply_.set_bytes(reply_.bytes() + f.content.size());
    }
  }

  std::shared_ptr<client::MemoryClient> memory_;
  CallbackServerContext* ctx_;
  grpc::ByteBuffer* response_;
  Admission* admission_;
  DoorCounters* counters_;
  std::string peer_;
  grpc::ByteBuffer buffer_;
  v1::StoreCodeRequest request_;
  v1::IngestCodeReply reply_;
  std::vector<client::CodeFile> batch_;
  std::size_t batch_bytes_ = 0;
  std::uint64_t messages_ = 0;
};

class MemoryService final : public v1::Memory::WithRawCallbackMethod_IngestCode<v1::Memory::CallbackService> {
 public:
  MemoryService(std::shared_ptr<client::MemoryClient> memory, std::string token, DiagnoseFunction diagnose,
                std::uint64_t max_message_bytes, const GrpcConfig& limits)
      : admission_(limits.max_concurrent_streams, static_cast<std::uint64_t>(limits.memory_mb) << 20),
        memory_(std::move(memory)),
        expected_authorization_(token.empty() ? std::string() : "Bearer " + token),
        diagnose_(std::move(diagnose)),
        max_message_bytes_(max_message_bytes) {}

  ServerUnaryReactor* StoreCode(CallbackServerContext* ctx, const v1::StoreCodeRequest* req,
                                v1::StoreCodeReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      auto file = CodeFileOf(*req, memory_->info());
      if (!file.ok()) return r->Fail(file.status());
      memory_->StoreCode(std::move(*file), Answer<client::Stored>(r, out, [out](client::Stored s) {
                           out->set_id(std::move(s.id));
                           out->set_lsn(s.lsn);
                         }));
    });
  }

  grpc::ServerReadReactor<grpc::ByteBuffer>* IngestCode(CallbackServerContext* ctx, grpc::ByteBuffer* out) override {
    counters_.calls.fetch_add(1, std::memory_order_relaxed);
    if (!Authorized(ctx)) {
      counters_.refused_token.fetch_add(1, std::memory_order_relaxed);
      counters_.errors.fetch_add(1, std::memory_order_relaxed);
      struct Refused final : grpc::ServerReadReactor<grpc::ByteBuffer> {
        explicit Refused(grpc::Status s) { Finish(std::move(s)); }
        void OnDone() override { delete this; }
      };
      return new Refused(Unauthenticated());
    }
    return new IngestReactor(memory_, ctx, out, &admission_, &counters_);
  }

 public:
  // The node's replication (Promote and ReplicationStatus); null: none.
  void SetReplication(ReplicationNode* replication) { replication_ = replication; }

  GrpcCounters Counters() {
    GrpcCounters c;
    c.calls = counters_.calls.load(std::memory_order_relaxed);
    c.errors = counters_.errors.load(std::memory_order_relaxed);
    c.refused_limit = counters_.refused_limit.load(std::memory_order_relaxed);
    c.refused_token = counters_.refused_token.load(std::memory_order_relaxed);
    std::tie(c.in_flight, c.held_bytes) = admission_.Load();
    return c;
  }
  void SetGuard(ConnectionGuard* guard) { admission_.SetGuard(guard); }

 private:

  ServerUnaryReactor* ChunkCode(CallbackServerContext* ctx, const v1::ChunkCodeRequest* req,
                                v1::ChunkCodeReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      std::uint32_t line = 1;
      for (std::string_view chunk : records::SplitIntoChunks(req->content())) {
        auto* c = out->add_chunks();
        c->set_text(std::string(chunk));
        c->set_first_line(line);
        const auto newlines = static_cast<std::uint32_t>(std::count(chunk.begin(), chunk.end(), '\n'));
        const bool ends_line = !chunk.empty() && chunk.back() == '\n';
        c->set_last_line(line + newlines - (ends_line && newlines > 0 ? 1 : 0));
        line += newlines;
      }
      r->Succeed(*out);
    });
  }

  ServerUnaryReactor* GetCode(CallbackServerContext* ctx, const v1::GetCodeRequest* req, v1::CodeRecord* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      auto fill = Answer<CodeRecord>(r, out, [out](CodeRecord c) {
        out->set_id(std::move(c.id));
        out->set_path(std::move(c.path));
        out->set_language(std::move(c.language));
        out->set_content(std::move(c.content));
        out->set_lsn(c.lsn);
        out->set_served_from_ram(c.served_from_ram);
      });
      switch (req->key_case()) {
        case v1::GetCodeRequest::kId: return memory_->GetCode(req->id(), std::move(fill));
        case v1::GetCodeRequest::kPath: return memory_->GetCodeByPath(req->path(), std::move(fill));
        default: return r->Fail(Status::InvalidArgument("get code needs an id or a path"));
      }
    });
  }

  ServerUnaryReactor* DeleteCode(CallbackServerContext* ctx, const v1::DeleteCodeRequest* req,
                                 v1::WriteReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->DeleteCode(req->path(), Answer<std::uint64_t>(r, out, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* StoreContext(CallbackServerContext* ctx, const v1::StoreContextRequest* req,
                                   v1::WriteReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      if (Status s = CheckIndexing(req->indexing(), req->embeddings_size(), "store context " + req->session()); !s.ok()) {
        return r->Fail(s);
      }
      if (Status s = CheckModel(req->model(), memory_->info(), "store context " + req->session()); !s.ok()) {
        return r->Fail(s);
      }
      std::vector<std::string> messages(req->messages().begin(), req->messages().end());
      memory_->StoreContext(req->session(), std::move(messages), VectorsOf(req->embeddings()),
                            req->indexing() == v1::BUILTIN_EMBEDDER,
                            Answer<client::Stored>(r, out, [out](client::Stored s) { out->set_lsn(s.lsn); }));
    });
  }

  ServerUnaryReactor* AppendContext(CallbackServerContext* ctx, const v1::AppendContextRequest* req,
                                    v1::AppendContextReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->AppendContext(req->session(), req->message(),
                             Answer<records::append_result>(r, out, [out](records::append_result a) {
                               out->set_lsn(a.lsn);
                               out->set_messages(a.messages);
                             }));
    });
  }

  ServerUnaryReactor* GetContext(CallbackServerContext* ctx, const v1::GetContextRequest* req,
                                 v1::SessionContext* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->GetContext(req->session(), Answer<client::SessionContext>(r, out, [out, session = req->session()](
                                                                                     client::SessionContext c) {
                            out->set_session(session);
                            for (auto& m : c.messages) out->add_messages(std::move(m));
                            out->set_lsn(c.lsn);
                            out->set_served_from_ram(c.served_from_ram);
                          }));
    });
  }

  ServerUnaryReactor* PutMetadata(CallbackServerContext* ctx, const v1::PutMetadataRequest* req,
                                  v1::WriteReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->PutMetadata(req->key(), req->value(),
                           Answer<std::uint64_t>(r, out, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* GetMetadata(CallbackServerContext* ctx, const v1::GetMetadataRequest* req,
                                  v1::MetadataValue* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->GetMetadata(req->key(), Answer<records::read_result>(r, out, [out](records::read_result v) {
                             out->set_value(std::move(v.value));
                             out->set_lsn(v.lsn);
                             out->set_served_from_ram(v.served_from == records::tier::ram);
                           }));
    });
  }

  ServerUnaryReactor* DeleteMetadata(CallbackServerContext* ctx, const v1::DeleteMetadataRequest* req,
                                     v1::DeleteMetadataReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->DeleteMetadata(req->key(), Answer<std::uint64_t>(r, out, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* Search(CallbackServerContext* ctx, const v1::SearchRequest* req, v1::SearchReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      const std::size_t limit = req->limit() == 0 ? 10 : req->limit();
      auto fill = Answer<std::vector<SearchHit>>(r, out, [out](std::vector<SearchHit> hits) {
        for (const auto& h : hits) ToProto(h, out->add_hits());
      });
      switch (req->query_case()) {
        case v1::SearchRequest::kVector: {
          if (Status s = CheckModel(req->model(), memory_->info(), "search"); !s.ok()) return r->Fail(s);
          std::vector<float> query(req->vector().values().begin(), req->vector().values().end());
          if (req->mode() == v1::SearchRequest::VECTOR || req->keywords().empty()) {
            return memory_->SearchSimilar(std::move(query), limit, FilterOf(*req), std::move(fill));
          }
          return memory_->SearchHybrid(std::move(query), req->keywords(), limit, FilterOf(*req), std::move(fill));
        }
        case v1::SearchRequest::kText:
          return memory_->SearchText(req->text(), limit, FilterOf(*req), std::move(fill));
        default:
          return r->Fail(Status::InvalidArgument("search needs a vector or a text"));
      }
    });
  }

  ServerUnaryReactor* Info(CallbackServerContext* ctx, const v1::InfoRequest* req, v1::InfoReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      const auto& info = memory_->info();
      out->set_vector_model(info.vector_model);
      out->set_vector_dimension(info.vector_dimension);
      out->set_max_value_bytes(info.max_value_bytes);
      out->set_max_message_bytes(max_message_bytes_);
      out->set_version(POSTDEVAI_VERSION);
      r->Succeed(*out);
    });
  }

  ServerUnaryReactor* Stats(CallbackServerContext* ctx, const v1::StatsRequest* req, v1::StatsReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Stats(Answer<records::memory_report>(r, out, [out](records::memory_report m) { ToProto(m, out); }));
    });
  }

  ServerUnaryReactor* Breakdown(CallbackServerContext* ctx, const v1::BreakdownRequest* req,
                                v1::BreakdownReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Breakdown(Answer<std::vector<records::store_kind_report>>(r, out, [out](std::vector<records::store_kind_report> k) { ToProto(k, out); }));
    });
  }

  ServerUnaryReactor* Evict(CallbackServerContext* ctx, const v1::EvictRequest* req, v1::EvictReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Evict(req->older_than_seconds(), req->dry_run(),
                     Answer<std::vector<records::eviction_result>>(r, out, [out](std::vector<records::eviction_result> e) { ToProto(e, out); }));
    });
  }

  ServerUnaryReactor* Sync(CallbackServerContext* ctx, const v1::SyncRequest* req, v1::SyncReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Sync(Answer<std::uint64_t>(r, out, [out](std::uint64_t lsn) { out->set_checkpoint_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* Compact(CallbackServerContext* ctx, const v1::CompactRequest* req, v1::CompactReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Compact(Answer<std::uint64_t>(r, out, [out](std::uint64_t bytes) { out->set_disk_bytes(bytes); }));
    });
  }

  ServerUnaryReactor* Backup(CallbackServerContext* ctx, const v1::BackupRequest* req, v1::BackupReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      memory_->Backup(Answer<records::backup_report>(r, out, [out](const records::backup_report& b) {
        out->set_path(b.path);
        out->set_store(b.store);
        out->set_lsn(b.lsn);
        out->set_files(b.files);
        out->set_bytes(b.bytes);
        out->set_seconds(b.seconds);
        out->set_pruned_backups(b.pruned_backups);
        out->set_pruned_segments(b.pruned_segments);
      }));
    });
  }

  ServerUnaryReactor* ReplicationStatus(CallbackServerContext* ctx, const v1::ReplicationStatusRequest* req,
                                        v1::ReplicationStatusReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      // A door without replication (a host embedding the server) has none.
      rpc::ReplicationStatus s;
      if (replication_ != nullptr) {
        s = replication_->status();
      } else {
        s.role = "none";
      }
      out->set_role(s.role);
      out->set_state(s.state);
      out->set_primary(s.primary);
      out->set_error(s.error);
      out->set_fenced(s.fenced);
      out->set_store(s.identity.ToString());
      out->set_durable_lsn(s.durable_lsn);
      out->set_primary_durable_lsn(s.primary_durable_lsn);
      out->set_lag_lsns(s.lag_lsns);
      out->set_lag_bytes(s.lag_bytes);
      out->set_lag_seconds(s.lag_seconds);
      out->set_last_heard_seconds(s.last_heard_seconds);
      out->set_records_received(s.records_received);
      out->set_bytes_received(s.bytes_received);
      out->set_reconnects(s.reconnects);
      out->set_replicas(s.replicas);
      out->set_buffer_bytes(s.buffer_bytes);
      r->Succeed(*out);
    });
  }

  ServerUnaryReactor* Promote(CallbackServerContext* ctx, const v1::PromoteRequest* req,
                              v1::PromoteReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      if (replication_ == nullptr) return r->Fail(Status::Closed("this node runs without replication: nothing to promote"));
      auto promoted = replication_->Promote();
      if (!promoted.ok()) return r->Fail(promoted.status());
      out->set_store(promoted->ToString());
      out->set_first_lsn(promoted->epoch_start_lsn);
      r->Succeed(*out);
    });
  }

  ServerUnaryReactor* Diagnose(CallbackServerContext* ctx, const v1::DiagnoseRequest* req,
                               v1::DiagnoseReply* out) override {
    return Serve(ctx, *req, [&](UnaryCall* r) {
      if (!diagnose_) return r->Fail(Status::Unavailable("this node cannot diagnose itself"));
      diagnose_(Answer<std::vector<records::finding>>(r, out, [out](std::vector<records::finding> f) { ToProto(f, out); }));
    });
  }

 private:
  bool Authorized(CallbackServerContext* ctx) const {
    if (expected_authorization_.empty()) return true;
    const auto& metadata = ctx->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return false;
    return ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), expected_authorization_);
  }

  static grpc::Status Unauthenticated() {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this node asks for an access token: send the metadata 'authorization: Bearer TOKEN' with "
                        "the token of the node's node.token_file");
  }

  // Admits the call (token, limits, fields), then runs body(call), which
  // must answer the call exactly once (now or from the engine's reply).
  template <class Body>
  ServerUnaryReactor* Serve(CallbackServerContext* ctx, const google::protobuf::Message& request, Body body) {
    auto* call = new UnaryCall(ctx, &admission_, &counters_);
    if (!Authorized(ctx)) {
      call->Deny(Unauthenticated());
    } else if (!call->Admit(request)) {
      // refused and answered
    } else if (Status s = CheckNoUnknownFields(request); !s.ok()) {
      call->Fail(s);
    } else {
      body(call);
    }
    return call;
  }

  Admission admission_;
  DoorCounters counters_;
  std::shared_ptr<client::MemoryClient> memory_;
  std::string expected_authorization_;
  DiagnoseFunction diagnose_;
  std::uint64_t max_message_bytes_;
  ReplicationNode* replication_ = nullptr;
};

std::string HostPort(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos && address.front() != '[';
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<MemoryService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<ConnectionGuard> guard;
  std::uint16_t port = 0;
  std::string security;
  bool stopped = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::seconds(5)); }

std::uint16_t GrpcServer::port() const { return impl_->port; }
const std::string& GrpcServer::security() const { return impl_->security; }
GrpcCounters GrpcServer::counters() const {
  GrpcCounters c = impl_->service->Counters();
  if (impl_->guard) {
    c.connections = impl_->guard->connections();
    c.refused_connections = impl_->guard->over_cap();
    c.dropped_connections = impl_->guard->dropped();
  }
  return c;
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->guard.reset();
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(std::shared_ptr<client::MemoryClient> memory,
                                                      const HybridMemoryConfig& config, DiagnoseFunction diagnose,
                                                      ReplicationNode* replication) {
  // Debian's abseil checks every absl::Mutex acquisition gRPC makes against
  // a global lock graph (deadlock detection, a debugging aid): measured at
  // ~5% of the node's user CPU under load (GraphCycles in perf). Off for the
  // process, once.
  static std::once_flag no_deadlock_graph;
  std::call_once(no_deadlock_graph,
                 [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  const NodeConfig& node = config.node;
  const GrpcConfig& limits = config.grpc;
  const std::string where = HostPort(node.address, node.port);
  const bool tls = !node.certificate.empty() && !node.key.empty();
  if (!tls && !node.insecure && !IsLoopbackAddress(node.address)) {
    return Status::InvalidArgument("refusing to serve the gRPC API on " + where +
                                   " without TLS: set node.certificate and node.key (and node.ca_file for mutual "
                                   "TLS), or node.insecure = true to accept plaintext on a non-loopback address");
  }
  auto impl = std::make_unique<Impl>();
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (tls) {
    auto cert = ReadPemFile(node.certificate, "TLS certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPemFile(node.key, "TLS key");
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions options(node.ca_file.empty()
                                                  ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    if (!node.ca_file.empty()) {
      auto ca = ReadPemFile(node.ca_file, "TLS CA file");
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = std::move(*ca);
    }
    options.pem_key_cert_pairs.push_back({std::move(*key), std::move(*cert)});
    credentials = grpc::SslServerCredentials(options);
    impl->security = node.ca_file.empty() ? "TLS" : "mutual TLS";
  } else {
    credentials = grpc::InsecureServerCredentials();
    impl->security = node.insecure && !IsLoopbackAddress(node.address) ? "plaintext, insecure" : "plaintext";
  }
  std::string token;
  if (!node.token_file.empty()) {
    auto read = ReadTokenFile(node.token_file);
    if (!read.ok()) return read.status();
    token = std::move(*read);
    impl->security += ", access token";
  }

  const std::uint64_t max_message = static_cast<std::uint64_t>(limits.max_message_mb) << 20;
  impl->service = std::make_unique<MemoryService>(std::move(memory), std::move(token), std::move(diagnose), max_message, limits);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(where, credentials, &bound_port);
  builder.RegisterService(impl->service.get());
  impl->service->SetReplication(replication);
  if (replication != nullptr) builder.RegisterService(replication->service());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::uint64_t>(max_message, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<std::uint64_t>(max_message, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, static_cast<int>(limits.max_concurrent_streams));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, static_cast<int>(limits.idle_timeout_seconds * 1000));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(limits.handshake_timeout_seconds * 1000));
  // Metadata (headers) a peer may send: small; the default is 8 KiB too.
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  // A peer that stops answering pings (gone, or not reading) is dropped
  // within keepalive time + timeout, and what its calls held is freed.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
  grpc::ResourceQuota quota("postdevai-grpc");
  quota.Resize(static_cast<std::size_t>(limits.memory_mb) << 20);
  builder.SetResourceQuota(quota);
  impl->server = builder.BuildAndStart();
  if (!impl->server || bound_port == 0) {
    return Status::Unavailable("cannot serve the gRPC API on " + where + " (is the port in use, or the address not this machine's?)");
  }
  impl->port = static_cast<std::uint16_t>(bound_port);
  // Connections over grpc.max_connections, and those of peers past the
  // stream limit, are ended by the guard (gRPC 1.51 cannot).
  impl->guard = std::make_unique<ConnectionGuard>(impl->port, limits.max_connections, std::chrono::milliseconds(200));
  impl->service->SetGuard(impl->guard.get());
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

}  // namespace postdevai::rpc
