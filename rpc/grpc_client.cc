#include "rpc/grpc_client.h"


#include <grpcpp/grpcpp.h>

#include "postdevai/memory/v1/memory.grpc.pb.h"
#include "rpc/channel.h"
#include "rpc/convert.h"
#include "rpc/status_mapping.h"
#include "rpc/token_file.h"

namespace postdevai::rpc {

namespace {

using Clock = std::chrono::steady_clock;


void SetVector(const std::vector<float>& in, v1::Vector* out) {
  out->mutable_values()->Add(in.begin(), in.end());
}

void FillStoreCode(const client::CodeFile& file, v1::StoreCodeRequest* req) {
  req->set_path(file.path);
  req->set_content(file.content);
  req->set_language(file.language);
  if (file.builtin_embedder) {
    req->set_indexing(v1::BUILTIN_EMBEDDER);
  } else if (!file.chunk_embeddings.empty()) {
    req->set_indexing(v1::CALLER_EMBEDDINGS);
    for (const auto& e : file.chunk_embeddings) SetVector(e, req->add_embeddings());
  }
}

}  // namespace

struct MemoryConnection::Impl {
  ConnectionOptions options;
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Memory::Stub> stub;
  records::engine_info info;

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  void Prepare(grpc::ClientContext* ctx) const {
    if (options.timeout.count() > 0) ctx->set_deadline(std::chrono::system_clock::now() + options.timeout);
    if (!options.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options.token);
  }

  // Runs one unary call: call(ctx, reply) -> grpc::Status; then `take(reply)`.
  template <class Reply, class Call, class Take>
  auto Unary(const char* verb, Call call, Take take) -> decltype(take(std::declval<Reply&>())) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    Reply reply;
    const auto start = Clock::now();
    grpc::Status status = call(&ctx, &reply);
    Status outcome = FromGrpcStatus(status, ctx.GetServerTrailingMetadata(), "node " + endpoint);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      outcome = Status::Unavailable("node " + endpoint + " did not answer " + verb + " within " +
                                    std::to_string(options.timeout.count()) + " s (raise --timeout, 0 waits forever)");
    }
    if (options.log) {
      Log(std::string(verb) + ": " + (outcome.ok() ? "ok" : outcome.ToString()) + " in " +
          std::to_string(std::chrono::duration<double, std::milli>(Clock::now() - start).count()) + " ms");
    }
    if (!outcome.ok()) return outcome;
    return take(reply);
  }
};

MemoryConnection::MemoryConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MemoryConnection::~MemoryConnection() = default;

const std::string& MemoryConnection::endpoint() const { return impl_->endpoint; }
const records::engine_info& MemoryConnection::info() const { return impl_->info; }

Result<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options, const std::string& endpoint) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments args;
  const bool tls = !options.ca_file.empty() || !options.certificate.empty() || !options.key.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto ca = ReadPemFile(options.ca_file, "TLS CA file");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = std::move(*ca);
    }
    if (!options.certificate.empty()) {
      auto cert = ReadPemFile(options.certificate, "TLS certificate");
      if (!cert.ok()) return cert.status();
      ssl.pem_cert_chain = std::move(*cert);
    }
    if (!options.key.empty()) {
      auto key = ReadPemFile(options.key, "TLS key");
      if (!key.ok()) return key.status();
      ssl.pem_private_key = std::move(*key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  // Replies may be as large as the node's largest value.
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(endpoint, credentials, args);
}

Result<std::unique_ptr<MemoryConnection>> MemoryConnection::Connect(const ConnectionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const bool v6 = options.host.find(':') != std::string::npos;
  impl->endpoint = (v6 ? "[" + options.host + "]" : options.host) + ":" + std::to_string(options.port);
  const bool tls = !options.ca_file.empty() || !options.certificate.empty() || !options.key.empty();
  impl->Log("connecting to " + impl->endpoint + (tls ? " (TLS)" : " (plaintext)"));
  auto channel = OpenChannel(options, impl->endpoint);
  if (!channel.ok()) return channel.status();
  impl->channel = std::move(*channel);
  impl->stub = v1::Memory::NewStub(impl->channel);
  const auto start = Clock::now();
  auto info = impl->Unary<v1::InfoReply>(
      "info", [&](grpc::ClientContext* ctx, v1::InfoReply* r) { return impl->stub->Info(ctx, v1::InfoRequest(), r); },
      [](v1::InfoReply& r) -> Result<records::engine_info> {
        return records::engine_info{r.vector_model(), r.vector_dimension(), r.max_value_bytes()};
      });
  if (!info.ok()) {
    std::string message = info.status().message();
    if (info.status().code() == StatusCode::kUnavailable) {
      // One line, naming the node: "no dragon_node reachable at HOST:PORT (why)".
      const std::string prefix = "node " + impl->endpoint + " is not reachable ";
      if (message.rfind(prefix, 0) == 0) message = "no dragon_node reachable at " + impl->endpoint + " " + message.substr(prefix.size());
    }
    if (info.status().code() == StatusCode::kUnavailable && tls) {
      message += "; with TLS, check that --ca holds the CA that signed the node's certificate, that the node accepts "
                 "this client's certificate, and that the certificate names the host";
    } else if (info.status().code() == StatusCode::kUnavailable) {
      message += "; if the node serves TLS, give --ca (and --cert and --key for mutual TLS)";
    }
    return Status(info.status().code(), message);
  }
  impl->info = std::move(*info);
  impl->Log("connected to " + impl->endpoint + " in " +
            std::to_string(std::chrono::duration<double, std::milli>(Clock::now() - start).count()) + " ms");
  return std::unique_ptr<MemoryConnection>(new MemoryConnection(std::move(impl)));
}

Result<client::Stored> MemoryConnection::StoreCode(const client::CodeFile& file) {
  if (file.builtin_embedder && !file.chunk_embeddings.empty()) {
    return Status::InvalidArgument("store code " + file.path + ": embeddings given and the built-in embedder asked for; choose one");
  }
  v1::StoreCodeRequest req;
  FillStoreCode(file, &req);
  return impl_->Unary<v1::StoreCodeReply>(
      "store code", [&](auto* ctx, auto* r) { return impl_->stub->StoreCode(ctx, req, r); },
      [](v1::StoreCodeReply& r) -> Result<client::Stored> { return client::Stored{r.id(), r.lsn()}; });
}

Result<IngestSummary> MemoryConnection::IngestCode(const std::function<bool(client::CodeFile*)>& next) {
  grpc::ClientContext ctx;
  // A stream of many files: no overall deadline (each write has the node's).
  if (!impl_->options.token.empty()) ctx.AddMetadata("authorization", "Bearer " + impl_->options.token);
  v1::IngestCodeReply reply;
  auto writer = impl_->stub->IngestCode(&ctx, &reply);
  client::CodeFile file;
  v1::StoreCodeRequest req;
  while (next(&file)) {
    req.Clear();
    FillStoreCode(file, &req);
    if (!writer->Write(req)) break;  // the node ended the stream: Finish says why
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  Status outcome = FromGrpcStatus(status, ctx.GetServerTrailingMetadata(), "node " + impl_->endpoint);
  if (!outcome.ok()) return outcome;
  IngestSummary summary{reply.files(), reply.bytes(), reply.batches(), reply.last_lsn(), {}};
  for (const auto& r : reply.refused()) summary.refused.push_back({r.path(), r.reason()});
  return summary;
}

Result<CodeRecord> MemoryConnection::GetCode(const std::string& id) {
  v1::GetCodeRequest req;
  req.set_id(id);
  return GetCode(req);
}

Result<CodeRecord> MemoryConnection::GetCodeByPath(const std::string& path) {
  v1::GetCodeRequest req;
  req.set_path(path);
  return GetCode(req);
}

Result<CodeRecord> MemoryConnection::GetCode(const v1::GetCodeRequest& req) {
  return impl_->Unary<v1::CodeRecord>(
      "get code", [&](auto* ctx, auto* r) { return impl_->stub->GetCode(ctx, req, r); },
      [](v1::CodeRecord& r) -> Result<CodeRecord> {
        return CodeRecord{r.id(), r.path(), r.language(), std::move(*r.mutable_content()), r.lsn(), r.served_from_ram()};
      });
}

Result<std::uint64_t> MemoryConnection::DeleteCode(const std::string& path) {
  v1::DeleteCodeRequest req;
  req.set_path(path);
  return impl_->Unary<v1::WriteReply>(
      "delete code", [&](auto* ctx, auto* r) { return impl_->stub->DeleteCode(ctx, req, r); },
      [](v1::WriteReply& r) -> Result<std::uint64_t> { return r.lsn(); });
}

Result<std::uint64_t> MemoryConnection::StoreContext(const std::string& session, const std::vector<std::string>& messages,
                                                     const std::vector<std::vector<float>>& embeddings,
                                                     bool builtin_embedder) {
  if (builtin_embedder && !embeddings.empty()) {
    return Status::InvalidArgument("store context " + session + ": embeddings given and the built-in embedder asked for; choose one");
  }
  v1::StoreContextRequest req;
  req.set_session(session);
  for (const auto& m : messages) req.add_messages(m);
  if (builtin_embedder) req.set_indexing(v1::BUILTIN_EMBEDDER);
  if (!embeddings.empty()) {
    req.set_indexing(v1::CALLER_EMBEDDINGS);
    for (const auto& e : embeddings) SetVector(e, req.add_embeddings());
  }
  return impl_->Unary<v1::WriteReply>(
      "store context", [&](auto* ctx, auto* r) { return impl_->stub->StoreContext(ctx, req, r); },
      [](v1::WriteReply& r) -> Result<std::uint64_t> { return r.lsn(); });
}

Result<records::append_result> MemoryConnection::AppendContext(const std::string& session, const std::string& message) {
  v1::AppendContextRequest req;
  req.set_session(session);
  req.set_message(message);
  return impl_->Unary<v1::AppendContextReply>(
      "append context", [&](auto* ctx, auto* r) { return impl_->stub->AppendContext(ctx, req, r); },
      [](v1::AppendContextReply& r) -> Result<records::append_result> {
        return records::append_result{r.lsn(), r.messages()};
      });
}

Result<client::SessionContext> MemoryConnection::GetContext(const std::string& session) {
  v1::GetContextRequest req;
  req.set_session(session);
  return impl_->Unary<v1::SessionContext>(
      "get context", [&](auto* ctx, auto* r) { return impl_->stub->GetContext(ctx, req, r); },
      [](v1::SessionContext& r) -> Result<client::SessionContext> {
        client::SessionContext c;
        c.messages.assign(r.messages().begin(), r.messages().end());
        c.lsn = r.lsn();
        c.served_from_ram = r.served_from_ram();
        return c;
      });
}

Result<std::uint64_t> MemoryConnection::PutMetadata(const std::string& key, const std::string& value) {
  v1::PutMetadataRequest req;
  req.set_key(key);
  req.set_value(value);
  return impl_->Unary<v1::WriteReply>(
      "put metadata", [&](auto* ctx, auto* r) { return impl_->stub->PutMetadata(ctx, req, r); },
      [](v1::WriteReply& r) -> Result<std::uint64_t> { return r.lsn(); });
}

Result<records::read_result> MemoryConnection::GetMetadata(const std::string& key) {
  v1::GetMetadataRequest req;
  req.set_key(key);
  return impl_->Unary<v1::MetadataValue>(
      "get metadata", [&](auto* ctx, auto* r) { return impl_->stub->GetMetadata(ctx, req, r); },
      [](v1::MetadataValue& r) -> Result<records::read_result> {
        return records::read_result{std::move(*r.mutable_value()), r.lsn(),
                                    r.served_from_ram() ? records::tier::ram : records::tier::disk};
      });
}

Result<std::uint64_t> MemoryConnection::DeleteMetadata(const std::string& key) {
  v1::DeleteMetadataRequest req;
  req.set_key(key);
  return impl_->Unary<v1::DeleteMetadataReply>(
      "delete metadata", [&](auto* ctx, auto* r) { return impl_->stub->DeleteMetadata(ctx, req, r); },
      [](v1::DeleteMetadataReply& r) -> Result<std::uint64_t> { return r.lsn(); });
}

namespace {

void FillFilter(const SearchFilter& filter, std::size_t limit, v1::SearchRequest* req) {
  req->set_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limit, UINT32_MAX)));
  if (filter.owner == SearchFilter::Owner::kCodeChunks) req->set_owner(v1::SearchRequest::CODE);
  if (filter.owner == SearchFilter::Owner::kHistoryMessages) req->set_owner(v1::SearchRequest::SESSIONS);
  req->set_path_prefix(filter.path_prefix);
  req->set_language(filter.language);
  req->set_session(filter.session);
  req->set_exact(filter.exact);
  switch (filter.mode) {
    case SearchMode::kVector: req->set_mode(v1::SearchRequest::VECTOR); break;
    case SearchMode::kLexical: req->set_mode(v1::SearchRequest::LEXICAL); break;
    case SearchMode::kHybrid: req->set_mode(v1::SearchRequest::HYBRID); break;
  }
}

Result<std::vector<SearchHit>> HitsOf(v1::SearchReply& r) {
  std::vector<SearchHit> hits;
  hits.reserve(static_cast<std::size_t>(r.hits_size()));
  for (const auto& h : r.hits()) hits.push_back(FromProto(h));
  return hits;
}

}  // namespace

Result<std::vector<SearchHit>> MemoryConnection::SearchSimilar(const std::vector<float>& query, std::size_t limit,
                                                               const SearchFilter& filter) {
  v1::SearchRequest req;
  SetVector(query, req.mutable_vector());
  FillFilter(filter, limit, &req);
  req.set_mode(v1::SearchRequest::VECTOR);  // ranks by the vector, whatever filter.mode says
  return impl_->Unary<v1::SearchReply>(
      "search", [&](auto* ctx, auto* r) { return impl_->stub->Search(ctx, req, r); }, HitsOf);
}

Result<std::vector<SearchHit>> MemoryConnection::SearchText(const std::string& text, std::size_t limit,
                                                            const SearchFilter& filter) {
  v1::SearchRequest req;
  req.set_text(text);
  FillFilter(filter, limit, &req);
  return impl_->Unary<v1::SearchReply>(
      "search", [&](auto* ctx, auto* r) { return impl_->stub->Search(ctx, req, r); }, HitsOf);
}

Result<records::memory_report> MemoryConnection::Stats() {
  return impl_->Unary<v1::StatsReply>(
      "stats", [&](auto* ctx, auto* r) { return impl_->stub->Stats(ctx, v1::StatsRequest(), r); },
      [](v1::StatsReply& r) -> Result<records::memory_report> { return FromProto(r); });
}

Result<std::vector<records::store_kind_report>> MemoryConnection::Breakdown() {
  return impl_->Unary<v1::BreakdownReply>(
      "breakdown", [&](auto* ctx, auto* r) { return impl_->stub->Breakdown(ctx, v1::BreakdownRequest(), r); },
      [](v1::BreakdownReply& r) -> Result<std::vector<records::store_kind_report>> { return FromProto(r); });
}

Result<std::vector<records::eviction_result>> MemoryConnection::Evict(std::uint64_t older_than_seconds, bool dry_run) {
  v1::EvictRequest req;
  req.set_older_than_seconds(older_than_seconds);
  req.set_dry_run(dry_run);
  return impl_->Unary<v1::EvictReply>(
      "evict", [&](auto* ctx, auto* r) { return impl_->stub->Evict(ctx, req, r); },
      [](v1::EvictReply& r) -> Result<std::vector<records::eviction_result>> { return FromProto(r); });
}

Result<std::uint64_t> MemoryConnection::Sync() {
  return impl_->Unary<v1::SyncReply>(
      "sync", [&](auto* ctx, auto* r) { return impl_->stub->Sync(ctx, v1::SyncRequest(), r); },
      [](v1::SyncReply& r) -> Result<std::uint64_t> { return r.checkpoint_lsn(); });
}

Result<std::uint64_t> MemoryConnection::Compact() {
  return impl_->Unary<v1::CompactReply>(
      "compact", [&](auto* ctx, auto* r) { return impl_->stub->Compact(ctx, v1::CompactRequest(), r); },
      [](v1::CompactReply& r) -> Result<std::uint64_t> { return r.disk_bytes(); });
}

Result<records::backup_report> MemoryConnection::Backup() {
  return impl_->Unary<v1::BackupReply>(
      "backup", [&](auto* ctx, auto* r) { return impl_->stub->Backup(ctx, v1::BackupRequest(), r); },
      [](v1::BackupReply& r) -> Result<records::backup_report> {
        records::backup_report b;
        b.path = r.path();
        b.store = r.store();
        b.lsn = r.lsn();
        b.files = r.files();
        b.bytes = r.bytes();
        b.seconds = r.seconds();
        b.pruned_backups = r.pruned_backups();
        b.pruned_segments = r.pruned_segments();
        return b;
      });
}

Result<ReplicationInfo> MemoryConnection::ReplicationStatus() {
  return impl_->Unary<v1::ReplicationStatusReply>(
      "replication status",
      [&](auto* ctx, auto* r) { return impl_->stub->ReplicationStatus(ctx, v1::ReplicationStatusRequest(), r); },
      [](v1::ReplicationStatusReply& r) -> Result<ReplicationInfo> {
        ReplicationInfo i;
        i.role = r.role();
        i.state = r.state();
        i.primary = r.primary();
        i.error = r.error();
        i.fenced = r.fenced();
        i.store = r.store();
        i.durable_lsn = r.durable_lsn();
        i.primary_durable_lsn = r.primary_durable_lsn();
        i.lag_lsns = r.lag_lsns();
        i.lag_bytes = r.lag_bytes();
        i.lag_seconds = r.lag_seconds();
        i.last_heard_seconds = r.last_heard_seconds();
        i.records_received = r.records_received();
        i.bytes_received = r.bytes_received();
        i.reconnects = r.reconnects();
        i.replicas = r.replicas();
        i.buffer_bytes = r.buffer_bytes();
        return i;
      });
}

Result<PromotionInfo> MemoryConnection::Promote() {
  return impl_->Unary<v1::PromoteReply>(
      "promote", [&](auto* ctx, auto* r) { return impl_->stub->Promote(ctx, v1::PromoteRequest(), r); },
      [](v1::PromoteReply& r) -> Result<PromotionInfo> { return PromotionInfo{r.store(), r.first_lsn()}; });
}

Result<std::vector<records::finding>> MemoryConnection::Diagnose() {
  return impl_->Unary<v1::DiagnoseReply>(
      "diagnose", [&](auto* ctx, auto* r) { return impl_->stub->Diagnose(ctx, v1::DiagnoseRequest(), r); },
      [](v1::DiagnoseReply& r) -> Result<std::vector<records::finding>> { return FromProto(r); });
}

}  // namespace postdevai::rpc
