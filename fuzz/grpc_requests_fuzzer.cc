// Fuzz target: the gRPC API (rpc/grpc_server.cc, postdevai.memory.v1.Memory)
// as a client reaches it: arbitrary bytes sent as the request of one of its
// methods to a real GrpcServer in front of a real engine (fuzz/fuzz_engine.h).
//
// Layer chosen: the whole door. The service's handlers live in an anonymous
// namespace of grpc_server.cc and answer through gRPC reactors bound to a
// live call, so they cannot be called without gRPC; the layer below them
// (client::MemoryClient) would skip what the door itself checks (admission,
// unknown fields, indexing and model checks, the ingest stream's batching
// and refusals). So each input is one real call over loopback TCP (a generic
// stub sends the input's bytes as they are; the server parses them with the
// generated code, which is instrumented) into one engine per process.
// Measured: 350-420 inputs/s (up to 4 calls each, plus read-backs) under ASan
// on the shared 2-core machine; slower than the decoder targets, but the
// deepest layer, and what a hostile client gets.
//
// Input: up to 4 calls, made in order to the same node (so that an input
// that breaks a property after a write reproduces on a fresh engine): each a
// method byte (index into the service's methods, modulo their number), a u32
// length and that many bytes (the 4th takes the rest of the input): the
// request of a unary method, or for IngestCode (client streaming) up to 8
// messages, each a u32 length and that many bytes.
//
// Checked beyond "no crash, no out-of-bounds access, no hang":
//   * every call is answered within its 10 s deadline;
//   * a request that does not parse as the method's message is refused;
//   * a request that parses is answered OK with a reply that parses, or with
//     an error carrying the engine's code in the postdevai-error trailer,
//     one a bad request may cause (invalid_argument, not_found, too_large)
//     and the gRPC code ToGrpcStatus maps it to -- never corruption,
//     io_error, unavailable, closed or busy from a healthy engine;
//   * what an OK write says happened did happen: PutMetadata / StoreCode /
//     StoreContext / AppendContext read back (GetMetadata, GetCode by path
//     and by id, GetContext), DeleteMetadata / DeleteCode read back as
//     NOT_FOUND, an ingest stream's stored files read back and its counts
//     add up to the messages sent;
//   * ChunkCode's chunks concatenate to the content; Search returns at most
//     `limit` hits, best first (cosine: highest first), no NaN score; Info names the engine's
//     model and dimension;
//   * every 1,000 inputs a Sync (checkpoint) succeeds: the engine is alive.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/actor_port.h"
#include "client/diagnosis.h"
#include "client/memory_client.h"
#include "fuzz/fuzz_engine.h"
#include "fuzz/fuzz_harness.h"
#include "postdevai/memory/v1/memory.grpc.pb.h"
#include "rpc/grpc_server.h"
#include "rpc/status_mapping.h"

namespace {

using postdevai::fuzz::Fail;
using postdevai::fuzz::FuzzEngine;
using postdevai::fuzz::InputReader;
namespace v1 = postdevai::memory::v1;
namespace pb = google::protobuf;

constexpr std::size_t kMaxCalls = 4;
constexpr std::size_t kMaxStreamMessages = 8;
constexpr auto kDeadline = std::chrono::seconds(10);

struct Answer {
  grpc::Status status;
  std::string reply;         // the reply's bytes (OK only)
  std::string engine_error;  // the postdevai-error trailer, if any
};

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer BufferOf(std::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// One gRPC server in front of the engine, a channel to it, and the calls.
class Door {
 public:
  static Door& Get() {
    static Door* door = new Door();
    return *door;
  }

  const pb::ServiceDescriptor& service() const { return *service_; }

  Answer Unary(const pb::MethodDescriptor& method, std::string_view request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    auto call = stub_->PrepareUnaryCall(&ctx, PathOf(method), BufferOf(request), &cq_);
    call->StartCall();
    grpc::ByteBuffer reply;
    Answer answer;
    call->Finish(&reply, &answer.status, Tag(1));
    Await(1);
    return Finish(ctx, reply, std::move(answer));
  }

  Answer Stream(const pb::MethodDescriptor& method, const std::vector<std::string_view>& messages) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    auto call = stub_->PrepareCall(&ctx, PathOf(method), &cq_);
    call->StartCall(Tag(1));
    bool open = Await(1);
    for (std::string_view m : messages) {
      if (!open) break;
      call->Write(BufferOf(m), Tag(2));
      open = Await(2);
    }
    if (open) {
      call->WritesDone(Tag(3));
      Await(3);
    }
    grpc::ByteBuffer reply;
    call->Read(&reply, Tag(4));
    const bool got_reply = Await(4);
    Answer answer;
    call->Finish(&answer.status, Tag(5));
    Await(5);
    if (!got_reply) reply.Clear();
    return Finish(ctx, reply, std::move(answer));
  }

  // A typed call (the read-backs), through the same bytes path.
  Answer Call(const std::string& method, const pb::Message& request) {
    return Unary(*service_->FindMethodByName(method), request.SerializeAsString());
  }

 private:
  Door() : service_(v1::StoreCodeRequest::descriptor()->file()->FindServiceByName("Memory")) {
    // Proto3 strings that are not UTF-8 make protobuf log an error per parse.
    pb::SetLogHandler(nullptr);
    auto& fuzz_engine = FuzzEngine::Get();
    const auto& config = fuzz_engine.config();
    postdevai::actors::ActorPortOptions options;
    options.timeout = std::chrono::seconds(config.grpc.deadline_seconds);
    options.hot_reads = fuzz_engine.engine().hot_reads();
    auto memory = postdevai::client::ConnectMemoryClient(
        postdevai::actors::MakeActorPort(fuzz_engine.system(), fuzz_engine.engine().local(), options), "grpc");
    if (!memory.ok()) Fail("no memory client: " + memory.status().ToString());
    memory_ = std::move(*memory);
    using Findings = std::vector<postdevai::records::finding>;
    auto diagnose = [memory = memory_, config](postdevai::client::Reply<Findings> done) {
      postdevai::client::DiagnoseNode(*memory, config, std::move(done));
    };
    auto server = postdevai::rpc::GrpcServer::Start(memory_, config, std::move(diagnose));
    if (!server.ok()) Fail("the gRPC server does not start: " + server.status().ToString());
    server_ = std::move(*server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    fuzz_engine.BeforeStop([this] {
      stub_.reset();
      channel_.reset();
      server_->Shutdown(std::chrono::seconds(1));
      server_.reset();
      memory_.reset();
      cq_.Shutdown();
      void* tag;
      bool ok;
      while (cq_.Next(&tag, &ok)) {
      }
    });
  }

  static std::string PathOf(const pb::MethodDescriptor& method) {
    return "/" + method.service()->full_name() + "/" + method.name();
  }
  static void* Tag(std::intptr_t n) { return reinterpret_cast<void*>(n); }

  // Waits for the operation tagged n; whether it succeeded.
  bool Await(std::intptr_t n) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq_.Next(&tag, &ok)) Fail("the completion queue shut down");
    if (tag != Tag(n)) Fail("a gRPC operation completed out of order");
    return ok;
  }

  static Answer Finish(const grpc::ClientContext& ctx, const grpc::ByteBuffer& reply, Answer answer) {
    if (answer.status.ok()) answer.reply = Bytes(reply);
    const auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find(postdevai::rpc::kErrorTrailer); it != trailers.end()) {
      answer.engine_error.assign(it->second.data(), it->second.size());
    }
    return answer;
  }

  const pb::ServiceDescriptor* service_;
  std::shared_ptr<postdevai::client::MemoryClient> memory_;
  std::unique_ptr<postdevai::rpc::GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::CompletionQueue cq_;
};

std::string Describe(const Answer& a) {
  return "gRPC status " + std::to_string(static_cast<int>(a.status.error_code())) + " '" +
         a.status.error_message().substr(0, 300) + "' (engine error '" + a.engine_error + "')";
}

// The request of `method` parsed from `bytes`, or null if it does not parse.
std::unique_ptr<pb::Message> Parse(const pb::Descriptor* type, std::string_view bytes) {
  std::unique_ptr<pb::Message> m(pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return nullptr;
  return m;
}

void CheckAnswer(const pb::MethodDescriptor& method, bool parses, const Answer& a) {
  const auto code = a.status.error_code();
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED) Fail(method.name() + ": no answer within the deadline");
  if (!parses) {
    if (a.status.ok()) Fail(method.name() + ": a request that does not parse was answered OK");
    return;
  }
  if (a.status.ok()) {
    if (!Parse(method.output_type(), a.reply)) Fail(method.name() + ": the reply does not parse");
    return;
  }
  static const std::map<std::string, grpc::StatusCode, std::less<>> kAllowed = {
      {"invalid_argument", grpc::StatusCode::INVALID_ARGUMENT},
      {"not_found", grpc::StatusCode::NOT_FOUND},
      {"too_large", grpc::StatusCode::RESOURCE_EXHAUSTED}};
  // The node here is no replica: promoting it is refused as such.
  if (method.name() == "Promote" && a.engine_error == "closed" &&
      code == grpc::StatusCode::FAILED_PRECONDITION && !a.status.error_message().empty()) {
    return;
  }
  auto allowed = kAllowed.find(a.engine_error);
  if (allowed == kAllowed.end()) Fail(method.name() + ": a parsed request got " + Describe(a));
  if (allowed->second != code) Fail(method.name() + ": the gRPC code does not match the engine's: " + Describe(a));
  if (a.status.error_message().empty()) Fail(method.name() + ": an error without a message");
}

template <class Reply>
Reply Expect(Door& door, const std::string& method, const pb::Message& request, const char* why) {
  Answer a = door.Call(method, request);
  if (!a.status.ok()) Fail(std::string(why) + ": " + method + " failed: " + Describe(a));
  Reply reply;
  if (!reply.ParseFromString(a.reply)) Fail(std::string(why) + ": " + method + "'s reply does not parse");
  return reply;
}

void ExpectNotFound(Door& door, const std::string& method, const pb::Message& request, const char* why) {
  Answer a = door.Call(method, request);
  if (a.status.error_code() != grpc::StatusCode::NOT_FOUND) {
    Fail(std::string(why) + ": " + method + " gave " + Describe(a));
  }
}

v1::CodeRecord ExpectCode(Door& door, const std::string& path, const std::string& content,
                          const std::string& language, const char* why) {
  v1::GetCodeRequest get;
  get.set_path(path);
  auto code = Expect<v1::CodeRecord>(door, "GetCode", get, why);
  if (code.content() != content || code.language() != language || code.path() != path) {
    Fail(std::string(why) + ": GetCode by path returned another file");
  }
  v1::GetCodeRequest by_id;
  by_id.set_id(code.id());
  if (Expect<v1::CodeRecord>(door, "GetCode", by_id, why).content() != content) {
    Fail(std::string(why) + ": GetCode by id returned other content than by path");
  }
  return code;
}

// What an OK answer promises, checked by reading back.
void CheckEffects(Door& door, const std::string& name, const pb::Message& request, const std::string& reply_bytes) {
  if (name == "PutMetadata") {
    const auto& put = static_cast<const v1::PutMetadataRequest&>(request);
    v1::GetMetadataRequest get;
    get.set_key(put.key());
    if (Expect<v1::MetadataValue>(door, "GetMetadata", get, "after PutMetadata").value() != put.value()) {
      Fail("GetMetadata after PutMetadata returned another value");
    }
  } else if (name == "DeleteMetadata") {
    v1::GetMetadataRequest get;
    get.set_key(static_cast<const v1::DeleteMetadataRequest&>(request).key());
    ExpectNotFound(door, "GetMetadata", get, "after DeleteMetadata");
  } else if (name == "StoreCode") {
    const auto& store = static_cast<const v1::StoreCodeRequest&>(request);
    v1::StoreCodeReply reply;
    reply.ParseFromString(reply_bytes);
    auto code = ExpectCode(door, store.path(), store.content(), store.language(), "after StoreCode");
    if (code.id() != reply.id()) Fail("StoreCode's id is not the id GetCode reports");
  } else if (name == "DeleteCode") {
    v1::GetCodeRequest get;
    get.set_path(static_cast<const v1::DeleteCodeRequest&>(request).path());
    ExpectNotFound(door, "GetCode", get, "after DeleteCode");
  } else if (name == "StoreContext") {
    const auto& store = static_cast<const v1::StoreContextRequest&>(request);
    v1::GetContextRequest get;
    get.set_session(store.session());
    auto context = Expect<v1::SessionContext>(door, "GetContext", get, "after StoreContext");
    if (context.messages_size() != store.messages_size()) Fail("GetContext after StoreContext: another count");
    for (int i = 0; i < store.messages_size(); ++i) {
      if (context.messages(i) != store.messages(i)) Fail("GetContext after StoreContext: another message");
    }
  } else if (name == "AppendContext") {
    const auto& append = static_cast<const v1::AppendContextRequest&>(request);
    v1::AppendContextReply reply;
    reply.ParseFromString(reply_bytes);
    v1::GetContextRequest get;
    get.set_session(append.session());
    auto context = Expect<v1::SessionContext>(door, "GetContext", get, "after AppendContext");
    if (static_cast<std::uint64_t>(context.messages_size()) != reply.messages() || context.messages_size() == 0 ||
        context.messages(context.messages_size() - 1) != append.message()) {
      Fail("GetContext after AppendContext does not end with the message, or has another count");
    }
  } else if (name == "ChunkCode") {
    const auto& chunk = static_cast<const v1::ChunkCodeRequest&>(request);
    v1::ChunkCodeReply reply;
    reply.ParseFromString(reply_bytes);
    std::string joined;
    for (const auto& c : reply.chunks()) {
      if (c.last_line() < c.first_line()) Fail("ChunkCode: a chunk ends before it starts");
      joined += c.text();
    }
    if (joined != chunk.content()) Fail("ChunkCode's chunks do not concatenate to the content");
    if (reply.chunks_size() > 0 && reply.chunks(0).first_line() != 1) Fail("ChunkCode: the first chunk is not line 1");
  } else if (name == "Search") {
    const auto& search = static_cast<const v1::SearchRequest&>(request);
    v1::SearchReply reply;
    reply.ParseFromString(reply_bytes);
    const std::uint32_t limit = search.limit() == 0 ? 10 : search.limit();
    if (static_cast<std::uint32_t>(reply.hits_size()) > limit) Fail("Search returned more hits than its limit");
    for (int i = 0; i < reply.hits_size(); ++i) {
      if (std::isnan(reply.hits(i).score())) Fail("Search returned a NaN score");
      if (i > 0 && reply.hits(i).score() > reply.hits(i - 1).score()) Fail("Search's hits are not best first");
    }
  } else if (name == "Info") {
    v1::InfoReply reply;
    reply.ParseFromString(reply_bytes);
    const auto& config = FuzzEngine::Get().config();
    if (reply.vector_dimension() != config.vectors.dimension || reply.vector_model() != config.vectors.model) {
      Fail("Info names another model or dimension than the engine's");
    }
  }
}

void CheckIngest(Door& door, const std::vector<std::string_view>& messages, const Answer& a) {
  v1::IngestCodeReply reply;
  reply.ParseFromString(a.reply);
  if (reply.files() + static_cast<std::uint64_t>(reply.refused_size()) != messages.size()) {
    Fail("IngestCode: stored + refused files != messages sent");
  }
  std::map<std::string, int> count;
  std::vector<v1::StoreCodeRequest> files(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    files[i].ParseFromArray(messages[i].data(), static_cast<int>(messages[i].size()));
    ++count[files[i].path()];
  }
  std::set<std::string> refused;
  for (const auto& r : reply.refused()) refused.insert(r.path());
  for (const auto& f : files) {
    // A path sent once and not refused was stored.
    if (count[f.path()] == 1 && refused.count(f.path()) == 0) {
      ExpectCode(door, f.path(), f.content(), f.language(), "after IngestCode");
    }
  }
}

// One call: the method the byte names, with `payload` as its request.
void Call(Door& door, std::uint8_t method_byte, std::string_view payload) {
  const auto& method = *door.service().method(method_byte % door.service().method_count());
  if (method.client_streaming()) {
    InputReader stream(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    std::vector<std::string_view> messages;
    while (!stream.empty() && messages.size() < kMaxStreamMessages) messages.push_back(stream.LengthPrefixed());
    bool all_parse = true;
    for (auto m : messages) all_parse = all_parse && Parse(method.input_type(), m) != nullptr;
    const Answer a = door.Stream(method, messages);
    CheckAnswer(method, all_parse, a);
    if (a.status.ok()) CheckIngest(door, messages, a);
  } else {
    auto request = Parse(method.input_type(), payload);
    const Answer a = door.Unary(method, payload);
    CheckAnswer(method, request != nullptr, a);
    if (a.status.ok()) CheckEffects(door, method.name(), *request, a.reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  postdevai::fuzz::SkipPerInputLeakCheck(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::uint64_t inputs = 0;
  Door& door = Door::Get();
  InputReader input(data, size);
  for (std::size_t i = 0; i < kMaxCalls && !input.empty(); ++i) {
    const auto method_byte = input.Fixed<std::uint8_t>();
    Call(door, method_byte, i + 1 == kMaxCalls ? input.Rest() : input.LengthPrefixed());
  }
  if (++inputs % 1000 == 0) Expect<v1::SyncReply>(door, "Sync", v1::SyncRequest(), "the periodic checkpoint");
  return 0;
}
