// gRPC load for `postdevai-bench remote` (see remote_grpc.h).
#include "bench/remote_grpc.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "postdevai/memory/v1/memory.grpc.pb.h"

namespace postdevai::bench::remote {

namespace v1 = postdevai::memory::v1;

namespace {

// Long enough never to fire while the node works; short enough that a hung
// node ends the bench instead of hanging it.
constexpr auto kCallDeadline = std::chrono::seconds(30);

std::uint64_t NextRandom(std::uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ull;
}

std::string ErrorText(const grpc::Status& s) {
  return "gRPC status " + std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message();
}

}  // namespace

const std::vector<std::string>& ValuePool(int value_bytes) {
  static const std::vector<std::string> pool = [value_bytes] {
    std::vector<std::string> p;
    for (std::uint64_t i = 0; i < 64; ++i) p.push_back(CodeLikeValue(i, static_cast<std::size_t>(value_bytes)));
    return p;
  }();
  return pool;
}

struct GrpcClients::Impl {
  GrpcClientOptions options;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Memory::Stub>> stubs;
  std::vector<std::string> keys;  // "k0".."k<keys-1>", made before any clock starts
};

namespace {

// One client: one call in flight at a time, re-issued when it completes.
struct Call {
  v1::Memory::Stub* stub = nullptr;
  std::optional<grpc::ClientContext> ctx;
  v1::GetMetadataRequest get_request;
  v1::MetadataValue get_reply;
  v1::PutMetadataRequest put_request;
  v1::WriteReply put_reply;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::MetadataValue>> get_rpc;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::WriteReply>> put_rpc;
  Clock::time_point started;
  std::uint64_t rng = 0;
  // Per-client tallies (one thread touches a client at a time).
  LatencyRecorder latency;
  std::uint64_t ops = 0, errors = 0;
  std::string first_error;
};

// What every client of one run shares.
struct RunState {
  GrpcOp op;
  const std::vector<std::string>* keys;
  const std::vector<std::string>* values;
  Clock::time_point deadline;
  std::uint64_t total_ops = 0;  // > 0: stop after this many calls were issued
  bool sequential_keys = false;
  std::atomic<std::uint64_t> issued{0};

  // Claims the next call; false when the run is over.
  bool Claim(std::uint64_t* index) {
    if (total_ops > 0) {
      *index = issued.fetch_add(1, std::memory_order_relaxed);
      return *index < total_ops;
    }
    if (Clock::now() >= deadline) return false;
    *index = issued.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  const std::string& KeyFor(Call& c, std::uint64_t index) const {
    const std::uint64_t n = keys->size();
    return (*keys)[sequential_keys ? index % n : NextRandom(c.rng) % n];
  }

  void Prepare(Call& c, std::uint64_t index) {
    c.ctx.reset();
    c.ctx.emplace();
    c.ctx->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    if (op == GrpcOp::kRead) {
      c.get_request.set_key(KeyFor(c, index));
      c.get_reply.Clear();
    } else {
      c.put_request.set_key(KeyFor(c, index));
      c.put_request.set_value((*values)[index % values->size()]);
      c.put_reply.Clear();
    }
    c.started = Clock::now();
  }

  static void Record(Call& c, const grpc::Status& status) {
    if (status.ok()) {
      ++c.ops;
      c.latency.Add(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c.started).count()));
    } else {
      if (c.errors++ == 0) c.first_error = ErrorText(status);
    }
  }
};

void IssueAsync(RunState& run, Call& c, std::uint64_t index, grpc::CompletionQueue* cq) {
  run.Prepare(c, index);
  if (run.op == GrpcOp::kRead) {
    c.get_rpc = c.stub->PrepareAsyncGetMetadata(&*c.ctx, c.get_request, cq);
    c.get_rpc->StartCall();
    c.get_rpc->Finish(&c.get_reply, &c.status, &c);
  } else {
    c.put_rpc = c.stub->PrepareAsyncPutMetadata(&*c.ctx, c.put_request, cq);
    c.put_rpc->StartCall();
    c.put_rpc->Finish(&c.put_reply, &c.status, &c);
  }
}

// One completion-queue thread driving its clients until the run is over.
void CompletionQueueLoop(RunState& run, std::vector<Call*> calls) {
  grpc::CompletionQueue cq;
  std::size_t active = 0;
  for (Call* c : calls) {
    std::uint64_t index;
    if (!run.Claim(&index)) break;
    IssueAsync(run, *c, index, &cq);
    ++active;
  }
  void* tag = nullptr;
  bool ok = false;
  while (active > 0 && cq.Next(&tag, &ok)) {
    Call& c = *static_cast<Call*>(tag);
    RunState::Record(c, ok ? c.status : grpc::Status(grpc::StatusCode::UNKNOWN, "completion queue: not ok"));
    std::uint64_t index;
    if (run.Claim(&index)) {
      IssueAsync(run, c, index, &cq);
    } else {
      --active;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// The callback API: each completion re-issues from gRPC's thread.
struct CallbackRun {
  RunState* run;
  std::mutex mu;
  std::condition_variable cv;
  int active = 0;

  void Issue(Call& c, std::uint64_t index) {
    run->Prepare(c, index);
    auto done = [this, &c](grpc::Status status) { OnDone(c, std::move(status)); };
    if (run->op == GrpcOp::kRead) {
      c.stub->async()->GetMetadata(&*c.ctx, &c.get_request, &c.get_reply, std::move(done));
    } else {
      c.stub->async()->PutMetadata(&*c.ctx, &c.put_request, &c.put_reply, std::move(done));
    }
  }
  void OnDone(Call& c, grpc::Status status) {
    RunState::Record(c, status);
    std::uint64_t index;
    if (run->Claim(&index)) return Issue(c, index);
    std::lock_guard lock(mu);
    if (--active == 0) cv.notify_all();
  }
};

}  // namespace

GrpcClients::GrpcClients(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcClients::~GrpcClients() = default;

std::unique_ptr<GrpcClients> GrpcClients::Connect(const GrpcClientOptions& options, std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (int i = 0; i < std::max(1, options.channels); ++i) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share one connection (gRPC's global
    // subchannel pool): a pool per channel gives each its own, as separate
    // client processes would have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, options.retries ? 1 : 0);
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      *error = "cannot connect to the gRPC API at " + options.target;
      return nullptr;
    }
    impl->stubs.push_back(v1::Memory::NewStub(channel));
    impl->channels.push_back(std::move(channel));
  }
  impl->keys.reserve(static_cast<std::size_t>(options.keys));
  for (int k = 0; k < options.keys; ++k) impl->keys.push_back("k" + std::to_string(k));
  (void)ValuePool(options.value_bytes);
  return std::unique_ptr<GrpcClients>(new GrpcClients(std::move(impl)));
}

GrpcLoadResult GrpcClients::Run(GrpcOp op, int clients, double seconds, std::uint64_t total_ops, bool sequential_keys) {
  RunState run;
  run.op = op;
  run.keys = &impl_->keys;
  run.values = &ValuePool(impl_->options.value_bytes);
  run.total_ops = total_ops;
  run.sequential_keys = sequential_keys;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < clients; ++i) {
    auto c = std::make_unique<Call>();
    c->stub = impl_->stubs[static_cast<std::size_t>(i) % impl_->stubs.size()].get();
    c->rng = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1);
    calls.push_back(std::move(c));
  }
  const auto start = Clock::now();
  run.deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  if (impl_->options.driver == GrpcDriver::kCompletionQueue) {
    const int threads = std::max(1, std::min(impl_->options.threads, clients));
    std::vector<std::vector<Call*>> share(static_cast<std::size_t>(threads));
    for (std::size_t i = 0; i < calls.size(); ++i) share[i % share.size()].push_back(calls[i].get());
    std::vector<std::thread> pool;
    for (auto& s : share) pool.emplace_back([&run, s] { CompletionQueueLoop(run, s); });
    for (auto& t : pool) t.join();
  } else {
    CallbackRun cb;
    cb.run = &run;
    std::vector<std::pair<Call*, std::uint64_t>> first;
    for (auto& c : calls) {
      std::uint64_t index;
      if (!run.Claim(&index)) break;
      first.emplace_back(c.get(), index);
    }
    cb.active = static_cast<int>(first.size());
    for (auto& [c, index] : first) cb.Issue(*c, index);
    std::unique_lock lock(cb.mu);
    cb.cv.wait(lock, [&] { return cb.active == 0; });
  }
  GrpcLoadResult result;
  result.seconds = SecondsSince(start);
  for (auto& c : calls) {
    result.ops += c->ops;
    result.errors += c->errors;
    if (result.first_error.empty()) result.first_error = c->first_error;
    result.latency.Merge(c->latency);
  }
  return result;
}

bool GrpcClients::Ingest(const std::vector<std::pair<std::string, std::string>>& files, std::string* error) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  v1::IngestCodeReply reply;
  auto stream = impl_->stubs[0]->IngestCode(&ctx, &reply);
  v1::StoreCodeRequest request;
  for (const auto& [path, content] : files) {
    request.set_path(path);
    request.set_content(content);
    request.set_language("cpp");
    request.set_indexing(v1::BUILTIN_EMBEDDER);
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    *error = "IngestCode: " + ErrorText(status);
    return false;
  }
  if (reply.files() != files.size()) {
    *error = "IngestCode stored " + std::to_string(reply.files()) + " of " + std::to_string(files.size()) + " files" +
             (reply.refused_size() > 0 ? " (first refusal: " + reply.refused(0).reason() + ")" : "");
    return false;
  }
  return true;
}

bool GrpcClients::StoreEach(const std::vector<std::pair<std::string, std::string>>& files, std::string* error) {
  v1::StoreCodeRequest request;
  v1::StoreCodeReply reply;
  for (const auto& [path, content] : files) {
    request.set_path(path);
    request.set_content(content);
    request.set_language("cpp");
    request.set_indexing(v1::BUILTIN_EMBEDDER);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    grpc::Status status = impl_->stubs[0]->StoreCode(&ctx, request, &reply);
    if (!status.ok()) {
      *error = "StoreCode " + path + ": " + ErrorText(status);
      return false;
    }
  }
  return true;
}

GrpcLoadResult GrpcClients::Search(const std::vector<std::string>& queries, int limit, std::vector<std::string>* top) {
  GrpcLoadResult result;
  v1::SearchRequest request;
  request.set_limit(static_cast<std::uint32_t>(limit));
  v1::SearchReply reply;
  const auto start = Clock::now();
  for (const auto& q : queries) {
    request.set_text(q);
    reply.Clear();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    const auto t0 = Clock::now();
    grpc::Status status = impl_->stubs[0]->Search(&ctx, request, &reply);
    const auto t1 = Clock::now();
    if (!status.ok()) {
      if (result.errors++ == 0) result.first_error = ErrorText(status);
      if (top) top->emplace_back();
      continue;
    }
    ++result.ops;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    result.latency.Add(static_cast<std::uint64_t>(ns));
    result.latency_sum_us += static_cast<double>(ns) / 1000;
    if (top) top->push_back(reply.hits_size() > 0 ? reply.hits(0).path() : std::string());
  }
  result.seconds = SecondsSince(start);
  return result;
}

bool GrpcClients::WalCounters(std::uint64_t* syncs, std::uint64_t* records) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  v1::StatsReply reply;
  if (!impl_->stubs[0]->Stats(&ctx, v1::StatsRequest(), &reply).ok()) return false;
  *syncs = reply.sync().wal_syncs();
  *records = reply.sync().wal_records();
  return true;
}

std::string GrpcClients::Get(const std::string& key, std::string* error) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  v1::GetMetadataRequest request;
  request.set_key(key);
  v1::MetadataValue reply;
  grpc::Status status = impl_->stubs[0]->GetMetadata(&ctx, request, &reply);
  if (!status.ok()) {
    *error = ErrorText(status);
    return {};
  }
  return reply.value();
}

}  // namespace postdevai::bench::remote
