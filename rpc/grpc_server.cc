#include "rpc/grpc_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "postdevai/memory/v1/memory.grpc.pb.h"
#include "records/stored_values.h"
#include "rpc/convert.h"
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
// Refusals listed in an ingest reply; later ones are only counted.
constexpr std::size_t kMaxListedRefusals = 1000;

// Answers a unary call with an engine error (the code by name in the trailer).
void Fail(CallbackServerContext* ctx, ServerUnaryReactor* reactor, const Status& status) {
  ctx->AddTrailingMetadata(kErrorTrailer, ErrorCodeName(status.code()));
  reactor->Finish(ToGrpcStatus(status));
}

// A reply for the client core that fills the response with `fill(value)` and
// finishes the call, or finishes it with the error.
template <class T, class Fill>
client::Reply<T> Answer(CallbackServerContext* ctx, ServerUnaryReactor* reactor, Fill fill) {
  return [ctx, reactor, fill = std::move(fill)](Result<T> outcome) mutable {
    if (!outcome.ok()) return Fail(ctx, reactor, outcome.status());
    fill(std::move(*outcome));
    reactor->Finish(grpc::Status::OK);
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
  return Status::InvalidArgument(message.GetDescriptor()->full_name() + " carries field number " +
                                 std::to_string(unknown.field(0).number()) +
                                 ", which this node does not know (is the client newer than the node?)");
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

class MemoryService;

// IngestCode: reads files, writes them in batches (reading pauses while a
// batch is written, so a client can never make the node hold more than one
// batch and one message), and answers once when the client is done.
class IngestReactor final : public grpc::ServerReadReactor<v1::StoreCodeRequest> {
 public:
  IngestReactor(std::shared_ptr<client::MemoryClient> memory, CallbackServerContext* ctx, v1::IngestCodeReply* reply)
      : memory_(std::move(memory)), ctx_(ctx), reply_(reply) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (ctx_->IsCancelled()) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "ingest cancelled by the client"));
      return Flush([this] { Finish(grpc::Status::OK); });
    }
    if (Status s = CheckNoUnknownFields(request_); !s.ok()) return End(s);
    auto file = CodeFileOf(request_, memory_->info());
    if (!file.ok()) {
      Refuse(request_.path(), file.status());
    } else {
      batch_bytes_ += file->content.size() + file->path.size() + file->language.size();
      for (const auto& e : file->chunk_embeddings) batch_bytes_ += e.size() * sizeof(float);
      batch_.push_back(std::move(*file));
    }
    if (batch_bytes_ >= kIngestBatchBytes || batch_.size() >= kIngestBatchFiles) {
      Flush([this] { StartRead(&request_); });
    } else {
      StartRead(&request_);
    }
  }

  void OnDone() override { delete this; }

 private:
  // A file the node will not store: listed in the reply, the stream goes on.
  void Refuse(const std::string& path, const Status& why) {
    if (reply_->refused_size() < static_cast<int>(kMaxListedRefusals)) {
      auto* r = reply_->add_refused();
      r->set_path(path.substr(0, records::kMaxKeyBytes));
      r->set_reason(why.message().substr(0, 512));
    }
  }

  void End(const Status& s) {
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
    reply_->set_batches(reply_->batches() + 1);
    reply_->set_last_lsn(lsn);
    for (const auto& f : files) {
      reply_->set_files(reply_->files() + 1);
      reply_->set_bytes(reply_->bytes() + f.content.size());
    }
  }

  std::shared_ptr<client::MemoryClient> memory_;
  CallbackServerContext* ctx_;
  v1::IngestCodeReply* reply_;
  v1::StoreCodeRequest request_;
  std::vector<client::CodeFile> batch_;
  std::size_t batch_bytes_ = 0;
};

class MemoryService final : public v1::Memory::CallbackService {
 public:
  MemoryService(std::shared_ptr<client::MemoryClient> memory, std::string token, DiagnoseFunction diagnose,
                std::uint64_t max_message_bytes)
      : memory_(std::move(memory)),
        expected_authorization_(token.empty() ? std::string() : "Bearer " + token),
        diagnose_(std::move(diagnose)),
        max_message_bytes_(max_message_bytes) {}

  ServerUnaryReactor* StoreCode(CallbackServerContext* ctx, const v1::StoreCodeRequest* req,
                                v1::StoreCodeReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      auto file = CodeFileOf(*req, memory_->info());
      if (!file.ok()) return Fail(ctx, r, file.status());
      memory_->StoreCode(std::move(*file), Answer<client::Stored>(ctx, r, [out](client::Stored s) {
                           out->set_id(std::move(s.id));
                           out->set_lsn(s.lsn);
                         }));
    });
  }

  grpc::ServerReadReactor<v1::StoreCodeRequest>* IngestCode(CallbackServerContext* ctx,
                                                            v1::IngestCodeReply* out) override {
    if (!Authorized(ctx)) {
      struct Refused final : grpc::ServerReadReactor<v1::StoreCodeRequest> {
        explicit Refused(grpc::Status s) { Finish(std::move(s)); }
        void OnDone() override { delete this; }
      };
      return new Refused(Unauthenticated());
    }
    return new IngestReactor(memory_, ctx, out);
  }

  ServerUnaryReactor* ChunkCode(CallbackServerContext* ctx, const v1::ChunkCodeRequest* req,
                                v1::ChunkCodeReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
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
      r->Finish(grpc::Status::OK);
    });
  }

  ServerUnaryReactor* GetCode(CallbackServerContext* ctx, const v1::GetCodeRequest* req, v1::CodeRecord* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      auto fill = Answer<CodeRecord>(ctx, r, [out](CodeRecord c) {
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
        default: return Fail(ctx, r, Status::InvalidArgument("get code needs an id or a path"));
      }
    });
  }

  ServerUnaryReactor* DeleteCode(CallbackServerContext* ctx, const v1::DeleteCodeRequest* req,
                                 v1::WriteReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->DeleteCode(req->path(), Answer<std::uint64_t>(ctx, r, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* StoreContext(CallbackServerContext* ctx, const v1::StoreContextRequest* req,
                                   v1::WriteReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      if (Status s = CheckIndexing(req->indexing(), req->embeddings_size(), "store context " + req->session()); !s.ok()) {
        return Fail(ctx, r, s);
      }
      if (Status s = CheckModel(req->model(), memory_->info(), "store context " + req->session()); !s.ok()) {
        return Fail(ctx, r, s);
      }
      std::vector<std::string> messages(req->messages().begin(), req->messages().end());
      memory_->StoreContext(req->session(), std::move(messages), VectorsOf(req->embeddings()),
                            req->indexing() == v1::BUILTIN_EMBEDDER,
                            Answer<client::Stored>(ctx, r, [out](client::Stored s) { out->set_lsn(s.lsn); }));
    });
  }

  ServerUnaryReactor* AppendContext(CallbackServerContext* ctx, const v1::AppendContextRequest* req,
                                    v1::AppendContextReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->AppendContext(req->session(), req->message(),
                             Answer<records::append_result>(ctx, r, [out](records::append_result a) {
                               out->set_lsn(a.lsn);
                               out->set_messages(a.messages);
                             }));
    });
  }

  ServerUnaryReactor* GetContext(CallbackServerContext* ctx, const v1::GetContextRequest* req,
                                 v1::SessionContext* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->GetContext(req->session(), Answer<client::SessionContext>(ctx, r, [out, session = req->session()](
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
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->PutMetadata(req->key(), req->value(),
                           Answer<std::uint64_t>(ctx, r, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* GetMetadata(CallbackServerContext* ctx, const v1::GetMetadataRequest* req,
                                  v1::MetadataValue* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->GetMetadata(req->key(), Answer<records::read_result>(ctx, r, [out](records::read_result v) {
                             out->set_value(std::move(v.value));
                             out->set_lsn(v.lsn);
                             out->set_served_from_ram(v.served_from == records::tier::ram);
                           }));
    });
  }

  ServerUnaryReactor* DeleteMetadata(CallbackServerContext* ctx, const v1::DeleteMetadataRequest* req,
                                     v1::DeleteMetadataReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->DeleteMetadata(req->key(), Answer<std::uint64_t>(ctx, r, [out](std::uint64_t lsn) { out->set_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* Search(CallbackServerContext* ctx, const v1::SearchRequest* req, v1::SearchReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      const std::size_t limit = req->limit() == 0 ? 10 : req->limit();
      auto fill = Answer<std::vector<SearchHit>>(ctx, r, [out](std::vector<SearchHit> hits) {
        for (const auto& h : hits) ToProto(h, out->add_hits());
      });
      switch (req->query_case()) {
        case v1::SearchRequest::kVector: {
          if (Status s = CheckModel(req->model(), memory_->info(), "search"); !s.ok()) return Fail(ctx, r, s);
          std::vector<float> query(req->vector().values().begin(), req->vector().values().end());
          return memory_->SearchSimilar(std::move(query), limit, FilterOf(*req), std::move(fill));
        }
        case v1::SearchRequest::kText:
          return memory_->SearchText(req->text(), limit, FilterOf(*req), std::move(fill));
        default:
          return Fail(ctx, r, Status::InvalidArgument("search needs a vector or a text"));
      }
    });
  }

  ServerUnaryReactor* Info(CallbackServerContext* ctx, const v1::InfoRequest* req, v1::InfoReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      const auto& info = memory_->info();
      out->set_vector_model(info.vector_model);
      out->set_vector_dimension(info.vector_dimension);
      out->set_max_value_bytes(info.max_value_bytes);
      out->set_max_message_bytes(max_message_bytes_);
      out->set_version(POSTDEVAI_VERSION);
      r->Finish(grpc::Status::OK);
    });
  }

  ServerUnaryReactor* Stats(CallbackServerContext* ctx, const v1::StatsRequest* req, v1::StatsReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->Stats(Answer<records::memory_report>(ctx, r, [out](records::memory_report m) { ToProto(m, out); }));
    });
  }

  ServerUnaryReactor* Breakdown(CallbackServerContext* ctx, const v1::BreakdownRequest* req,
                                v1::BreakdownReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->Breakdown(Answer<std::vector<records::store_kind_report>>(
          ctx, r, [out](std::vector<records::store_kind_report> k) { ToProto(k, out); }));
    });
  }

  ServerUnaryReactor* Evict(CallbackServerContext* ctx, const v1::EvictRequest* req, v1::EvictReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->Evict(req->older_than_seconds(), req->dry_run(),
                     Answer<std::vector<records::eviction_result>>(
                         ctx, r, [out](std::vector<records::eviction_result> e) { ToProto(e, out); }));
    });
  }

  ServerUnaryReactor* Sync(CallbackServerContext* ctx, const v1::SyncRequest* req, v1::SyncReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->Sync(Answer<std::uint64_t>(ctx, r, [out](std::uint64_t lsn) { out->set_checkpoint_lsn(lsn); }));
    });
  }

  ServerUnaryReactor* Compact(CallbackServerContext* ctx, const v1::CompactRequest* req, v1::CompactReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      memory_->Compact(Answer<std::uint64_t>(ctx, r, [out](std::uint64_t bytes) { out->set_disk_bytes(bytes); }));
    });
  }

  ServerUnaryReactor* Diagnose(CallbackServerContext* ctx, const v1::DiagnoseRequest* req,
                               v1::DiagnoseReply* out) override {
    return Serve(ctx, *req, [&](ServerUnaryReactor* r) {
      if (!diagnose_) return Fail(ctx, r, Status::Unavailable("this node cannot diagnose itself"));
      diagnose_(Answer<std::vector<records::finding>>(ctx, r, [out](std::vector<records::finding> f) { ToProto(f, out); }));
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

  // Admits the call (token, fields), then runs body(reactor), which must
  // finish the reactor exactly once (now or from the engine's reply).
  template <class Body>
  ServerUnaryReactor* Serve(CallbackServerContext* ctx, const google::protobuf::Message& request, Body body) {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Authorized(ctx)) {
      reactor->Finish(Unauthenticated());
    } else if (Status s = CheckNoUnknownFields(request); !s.ok()) {
      Fail(ctx, reactor, s);
    } else {
      body(reactor);
    }
    return reactor;
  }

  std::shared_ptr<client::MemoryClient> memory_;
  std::string expected_authorization_;
  DiagnoseFunction diagnose_;
  std::uint64_t max_message_bytes_;
};

Result<std::string> ReadWholeFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string("cannot read the ") + what + " " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string HostPort(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos && address.front() != '[';
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<MemoryService> service;
  std::unique_ptr<grpc::Server> server;
  std::uint16_t port = 0;
  std::string security;
  bool stopped = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::seconds(5)); }

std::uint16_t GrpcServer::port() const { return impl_->port; }
const std::string& GrpcServer::security() const { return impl_->security; }

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(std::shared_ptr<client::MemoryClient> memory,
                                                      const HybridMemoryConfig& config, DiagnoseFunction diagnose) {
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
    auto cert = ReadWholeFile(node.certificate, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadWholeFile(node.key, "key");
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions options(node.ca_file.empty()
                                                  ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    if (!node.ca_file.empty()) {
      auto ca = ReadWholeFile(node.ca_file, "CA file");
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
  impl->service = std::make_unique<MemoryService>(std::move(memory), std::move(token), std::move(diagnose), max_message);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(where, credentials, &bound_port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::uint64_t>(max_message, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<std::uint64_t>(max_message, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, static_cast<int>(limits.max_concurrent_streams));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, static_cast<int>(limits.idle_timeout_seconds * 1000));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(limits.handshake_timeout_seconds * 1000));
  // Metadata (headers) a peer may send: small; the default is 8 KiB too.
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  grpc::ResourceQuota quota("postdevai-grpc");
  quota.Resize(static_cast<std::size_t>(limits.memory_mb) << 20);
  builder.SetResourceQuota(quota);
  impl->server = builder.BuildAndStart();
  if (!impl->server || bound_port == 0) {
    return Status::Unavailable("cannot serve the gRPC API on " + where + " (is the port in use, or the address not this machine's?)");
  }
  impl->port = static_cast<std::uint16_t>(bound_port);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

}  // namespace postdevai::rpc
