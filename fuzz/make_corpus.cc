// Writes the seed inputs of every fuzz target into <corpus dir>/<target>/
// seed-*.bin: few, small, valid inputs in each target's input format (see the
// header comment of each <target>_fuzzer.cc) that reach deep code -- real WAL
// segments and RAM-Lake files written by the real writers, values encoded by
// the real codec, the repository's dragon_node.toml, serialized gRPC requests
// and CAF messages. Overwrites seed-* files only; regression inputs that
// scripts/fuzz.sh saved beside them stay. Run from the repository root:
//   build-fuzz/bin/make_corpus fuzz/corpus
// (WAL segments carry a random salt: a rerun changes those bytes.)
#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "actors/engine.h"
#include "actors/interfaces.h"
#include "fuzz/value_codec_dictionary.h"
#include "postdevai/hybrid_memory.h"
#include "postdevai/memory/v1/memory.grpc.pb.h"
#include "records/coding.h"
#include "records/stored_values.h"
#include "storage/cold_tier.h"
#include "storage/file_system.h"
#include "storage/ramlake/ramlake_partition.h"
#include "storage/value_codec.h"
#include "storage/wal.h"

namespace {

namespace fs = std::filesystem;
namespace records = postdevai::records;
namespace storage = postdevai::storage;
namespace ramlake = postdevai::storage::ramlake;
namespace actors = postdevai::actors;
namespace v1 = postdevai::memory::v1;
using postdevai::DataKind;

fs::path corpus;
int written = 0;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "make_corpus: %s\n", why.c_str());
  std::exit(1);
}

template <class T>
T Check(postdevai::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(*r);
}

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(corpus / target);
  std::ofstream(corpus / target / ("seed-" + name + ".bin"), std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ++written;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Byte(unsigned v) { return std::string(1, static_cast<char>(v)); }
std::string U32(std::uint32_t v) {
  std::string s;
  records::PutFixed32(&s, v);
  return s;
}
std::string U64(std::uint64_t v) {
  std::string s;
  records::PutFixed64(&s, v);
  return s;
}

const std::string kSource =
    "#include <string>\n\nnamespace demo {\n\n// Returns the greeting.\nstd::string Hello() {\n"
    "  return \"hello\";\n}\n\n}  // namespace demo\n";

// ---- storage targets ----

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("postdevai-make-corpus-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// wal_reader: flags byte, then segments as u32 length + bytes (the last one
// takes the rest), as Wal::Open left them after real appends.
void WalSeeds(const TempDir& tmp) {
  for (int variant = 0; variant < 2; ++variant) {
    const fs::path dir = tmp.path() / ("wal" + std::to_string(variant));
    storage::WalOptions options;
    options.dir = dir.string();
    options.segment_size = 16 << 10;  // as the target opens it
    options.archive = false;
    options.prepare_segments_in_background = false;
    auto wal = Check(storage::Wal::Open(options, 0, nullptr), "WAL open");
    const int records = variant == 0 ? 3 : 40;  // variant 1 rolls over to a second segment
    for (int i = 0; i < records; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string gone = "gone-" + key;
      const std::string value = "value " + std::to_string(i) + std::string(i * 13 % 300, 'v');
      std::vector<storage::Mutation> mutations = {
          storage::Mutation{DataKind::kMetadata, key, value, false, false},
          storage::Mutation{DataKind::kCode, gone, {}, true, false}};
      const std::string payload = storage::EncodeMutations(mutations);
      Check(wal->Append(storage::kWalRecordMutations, payload), "WAL append");
      if (i % 7 == 6) Check(wal->Append(storage::kWalRecordMutations + 1, "another record type"), "WAL append");
    }
    wal.reset();
    std::vector<fs::path> segments;
    for (const auto& e : fs::directory_iterator(dir)) segments.push_back(e.path());
    std::sort(segments.begin(), segments.end());
    std::string input = Byte(0);
    for (std::size_t i = 0; i < segments.size() && i < 4; ++i) {
      const std::string bytes = ReadFile(segments[i]);
      if (i + 1 < segments.size() && i < 3) input += U32(static_cast<std::uint32_t>(bytes.size()));
      input += bytes;
    }
    Seed("wal_reader", variant == 0 ? "one-segment" : "two-segments", input);
  }
}

// ramlake_reattach: flags, checkpoint and end LSNs, then a partition file
// (4 KiB header + 4 x 16 KiB) as a clean close left it.
void RamLakeSeeds(const TempDir& tmp) {
  struct Variant {
    const char* name;
    DataKind kind;
    bool watermark;
  };
  for (const Variant v : {Variant{"code-key-by-key", DataKind::kCode, false},
                          Variant{"metadata-watermark", DataKind::kMetadata, true}}) {
    ramlake::PartitionOptions options;
    options.file_path = (tmp.path() / (std::string(v.name) + ".ramlake")).string();
    options.kind = v.kind;
    options.capacity_bytes = 4096 + 4 * (16 << 10);
    options.segment_bytes = 16 << 10;
    ramlake::OpenHooks hooks;
    hooks.store_identity = 0x5EED;  // as the target's
    auto partition = Check(ramlake::RamLakePartition::Open(storage::FileSystem::Default(), options, hooks), "open");
    std::uint64_t lsn = 0;
    for (int i = 0; i < 12; ++i) {
      const std::string value = "resident value " + std::to_string(i) + std::string(i * 37 % 500, 'r');
      if (auto s = partition->Put("key-" + std::to_string(i % 9), value, ++lsn); !s.ok()) Die(s.ToString());
    }
    if (auto s = partition->Erase("key-3"); !s.ok()) Die(s.ToString());
    partition->SetAppliedLsn(lsn);
    partition.reset();
    const unsigned flags = (v.watermark ? 2u : 0u) | (static_cast<unsigned>(v.kind) << 2);
    Seed("ramlake_reattach", v.name, Byte(flags) + U64(lsn) + U64(lsn) + ReadFile(options.file_path));
  }
}

// value_codec: [0][repair][stored value], [1][options][lsn][raw],
// [2][options][lsn][position][mask][raw].
void ValueCodecSeeds() {
  storage::ValueCodec codec(1u << 20);
  if (!codec.AddDictionary(1, postdevai::fuzz::kValueCodecDictionary).ok()) Die("dictionary");
  auto encode = [&](std::string_view raw, bool compress, std::uint32_t dictionary) {
    storage::EncodeOptions options;
    options.compress = compress;
    options.dictionary_id = dictionary;
    return Check(codec.Encode(raw, 42, options), "encode");
  };
  const std::string text = kSource + kSource + "for (std::size_t i = 0; i < values.size(); ++i) {}\n";
  Seed("value_codec", "stored-raw", Byte(0) + Byte(0) + encode("a small value", false, 0));
  Seed("value_codec", "stored-zstd", Byte(0) + Byte(0) + encode(text, true, 0));
  Seed("value_codec", "stored-zstd-dictionary", Byte(0) + Byte(0) + encode(text, true, 1));
  Seed("value_codec", "stored-empty", Byte(0) + Byte(0) + encode("", true, 0));
  Seed("value_codec", "encode-dictionary", Byte(1) + Byte(1 | 2 | (4 << 2)) + U64(7) + text);
  Seed("value_codec", "encode-raw", Byte(1) + Byte(0) + U64(~0ull) + "raw bytes \x01\x02");
  Seed("value_codec", "corrupt-payload", Byte(2) + Byte(1) + U64(9) + U32(40) + Byte(0x10) + text);
}

// stored_values: [selector][value].
void StoredValueSeeds() {
  Seed("stored_values", "code", Byte(0) + records::EncodeCode("src/hello.cc", "cpp", kSource));
  Seed("stored_values", "messages", Byte(1) + records::EncodeMessages({"first message", "", "third \xe2\x9c\x93"}));
  records::FileVectors code;
  code.owner = records::FileVectors::kCodeFile;
  code.model = "lexical-v1";
  code.dimension = 4;
  code.path = "src/hello.cc";
  code.language = "cpp";
  code.values = {0.5f, -0.5f, 0.25f, 1.0f, 0.0f, 1.5f, -2.0f, 3.0f};
  Seed("stored_values", "vectors-code", Byte(2) + records::EncodeFileVectors(code));
  records::FileVectors session;
  session.owner = records::FileVectors::kSession;
  session.model = "lexical-v1";
  session.dimension = 2;
  session.session = "session-1";
  session.values = {1.0f, 0.0f};
  Seed("stored_values", "vectors-session", Byte(2) + records::EncodeFileVectors(session));
  Seed("stored_values", "chunks", Byte(3 | (1 << 3)) + kSource + std::string(80, 'x') + "\nlast line");
  records::SessionHead head;
  head.sealed_segments = 2;
  head.sealed_messages = 7;
  head.tail = {"newest message", "and another"};
  Seed("stored_values", "session-head", Byte(4) + records::EncodeSessionHead(head));
  Seed("stored_values", "session-head-plain", Byte(4) + records::EncodeMessages({"only", "plain"}));
}

// config_parser: the text.
void ConfigSeeds(const fs::path& source_dir) {
  Seed("config_parser", "dragon-node", ReadFile(source_dir / "dragon_node.toml"));
  Seed("config_parser", "sections",
       "[hybrid_memory]\nramlake_size_gb = 0.5\ncompression = \"zstd\"\n\n[partitions.code]\nshare = 40\n"
       "eviction = \"lru\"\n\n[wal]\nsegment_size_mb = 4\n\n[node]\naddress = \"127.0.0.1\"\nport = 50051\n"
       "\n[replication]\npeers = [\"a:1\", \"b:2\"]\n");
  Seed("config_parser", "errors",
       "[hybrid_memory]\nramlak_size_gb = 2\ncache_size_mb = -1\n[wal]\nsegment_size_mb = \"big\"\n[nope]\nx = 1\n");
}

// ---- gRPC ----

// grpc_requests: calls, each [method index][u32 length][request]; IngestCode's
// request is ([u32 length][message])*.
void GrpcSeeds() {
  const auto* service = v1::StoreCodeRequest::descriptor()->file()->FindServiceByName("Memory");
  auto seed = [&](const std::string& method, const std::string& name, const google::protobuf::Message& request) {
    const auto* m = service->FindMethodByName(method);
    if (m == nullptr) Die("no method " + method);
    const std::string bytes = request.SerializeAsString();
    Seed("grpc_requests", name,
         Byte(static_cast<unsigned>(m->index())) + U32(static_cast<std::uint32_t>(bytes.size())) + bytes);
  };
  v1::StoreCodeRequest store;
  store.set_path("src/hello.cc");
  store.set_content(kSource);
  store.set_language("cpp");
  store.set_indexing(v1::BUILTIN_EMBEDDER);
  seed("StoreCode", "store-code-builtin", store);
  v1::StoreCodeRequest embedded;
  embedded.set_path("src/small.cc");
  embedded.set_content("int x;\n");
  embedded.set_indexing(v1::CALLER_EMBEDDINGS);
  embedded.set_model("lexical-v1");
  auto* vector = embedded.add_embeddings();
  for (int i = 0; i < 8; ++i) vector->add_values(0.125f * static_cast<float>(i + 1));  // the target's dimension
  seed("StoreCode", "store-code-embeddings", embedded);
  {
    std::string stream;
    for (const v1::StoreCodeRequest* m : {&store, &embedded}) {
      const std::string bytes = m->SerializeAsString();
      stream += U32(static_cast<std::uint32_t>(bytes.size())) + bytes;
    }
    Seed("grpc_requests", "ingest-code",
         Byte(static_cast<unsigned>(service->FindMethodByName("IngestCode")->index())) +
             U32(static_cast<std::uint32_t>(stream.size())) + stream);
  }
  v1::ChunkCodeRequest chunk;
  chunk.set_content(kSource);
  seed("ChunkCode", "chunk-code", chunk);
  v1::GetCodeRequest get_code;
  get_code.set_path("src/hello.cc");
  seed("GetCode", "get-code-path", get_code);
  v1::DeleteCodeRequest delete_code;
  delete_code.set_path("src/hello.cc");
  seed("DeleteCode", "delete-code", delete_code);
  v1::StoreContextRequest context;
  context.set_session("session-1");
  context.add_messages("how do I open the WAL?");
  context.add_messages("with Wal::Open");
  context.set_indexing(v1::BUILTIN_EMBEDDER);
  seed("StoreContext", "store-context", context);
  v1::AppendContextRequest append;
  append.set_session("session-1");
  append.set_message("and then?");
  seed("AppendContext", "append-context", append);
  v1::GetContextRequest get_context;
  get_context.set_session("session-1");
  seed("GetContext", "get-context", get_context);
  v1::PutMetadataRequest put;
  put.set_key("build/status");
  put.set_value("green");
  seed("PutMetadata", "put-metadata", put);
  v1::GetMetadataRequest get;
  get.set_key("build/status");
  seed("GetMetadata", "get-metadata", get);
  v1::DeleteMetadataRequest del;
  del.set_key("build/status");
  seed("DeleteMetadata", "delete-metadata", del);
  v1::SearchRequest text_search;
  text_search.set_text("open the write-ahead log");
  text_search.set_limit(5);
  text_search.set_path_prefix("src/");
  seed("Search", "search-text", text_search);
  v1::SearchRequest vector_search;
  for (int i = 0; i < 8; ++i) vector_search.mutable_vector()->add_values(i % 2 ? 1.0f : -0.5f);
  vector_search.set_owner(v1::SearchRequest::CODE);
  vector_search.set_exact(true);
  seed("Search", "search-vector", vector_search);
  {
    const std::string put_bytes = put.SerializeAsString(), get_bytes = get.SerializeAsString();
    Seed("grpc_requests", "put-get",
         Byte(static_cast<unsigned>(service->FindMethodByName("PutMetadata")->index())) +
             U32(static_cast<std::uint32_t>(put_bytes.size())) + put_bytes +
             Byte(static_cast<unsigned>(service->FindMethodByName("GetMetadata")->index())) +
             U32(static_cast<std::uint32_t>(get_bytes.size())) + get_bytes);
  }
  seed("Info", "info", v1::InfoRequest());
  seed("Stats", "stats", v1::StatsRequest());
  seed("Breakdown", "breakdown", v1::BreakdownRequest());
  v1::EvictRequest evict;
  evict.set_older_than_seconds(3600);
  evict.set_dry_run(true);
  seed("Evict", "evict", evict);
  seed("Sync", "sync", v1::SyncRequest());
  seed("Compact", "compact", v1::CompactRequest());
  seed("Diagnose", "diagnose", v1::DiagnoseRequest());
}

// ---- CAF ----

// caf_public_messages: requests, each [0][u32 length][caf::message] or
// [verb 1..10][u32 length][arguments].
void CafSeeds() {
  caf::actor_system_config cfg;
  actors::ConfigureActorSystem(cfg);
  caf::actor_system sys{cfg};
  // One request of the target's input: selector, u32 length, the bytes.
  auto bytes = [&](auto&&... xs) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = sink(xs...)) Die("serialize: " + caf::to_string(err));
    return U32(static_cast<std::uint32_t>(buf.size())) + std::string(buf.begin(), buf.end());
  };
  records::write_batch batch;
  batch.mutations.push_back(records::MakePut(DataKind::kMetadata, "build/status", "green"));
  batch.mutations.push_back(records::MakePut(DataKind::kCode, "0123456789abcdef0123456789abcdef",
                                             records::EncodeCode("src/hello.cc", "cpp", kSource)));
  batch.mutations.push_back(records::MakeDelete(DataKind::kHistory, "old-session"));
  records::search_request search;
  search.query = {0.5f, -0.5f, 1.0f, 0.0f, 0.25f, 0.75f, -1.0f, 0.125f};  // the target's dimension
  search.model = "lexical-v1";
  search.k = 5;
  std::string key = "build/status", reader = "fuzz", session = "session-1", message = "hello";
  std::uint64_t seconds = 3600;
  bool dry_run = true;
  DataKind kind = DataKind::kMetadata;

  Seed("caf_public_messages", "message-write", Byte(0) + bytes(caf::make_message(actors::write_atom_v, batch)));
  Seed("caf_public_messages", "message-read",
       Byte(0) + bytes(caf::make_message(actors::read_atom_v, kind, key, reader)));
  Seed("caf_public_messages", "message-search", Byte(0) + bytes(caf::make_message(actors::search_atom_v, search)));
  Seed("caf_public_messages", "message-info", Byte(0) + bytes(caf::make_message(actors::info_atom_v)));
  Seed("caf_public_messages", "message-outside-protocol",
       Byte(0) + bytes(caf::make_message(actors::read_atom_v, std::string("no kind"))));
  Seed("caf_public_messages", "write", Byte(1) + bytes(batch));
  Seed("caf_public_messages", "read", Byte(2) + bytes(kind, key, reader));
  Seed("caf_public_messages", "append", Byte(3) + bytes(session, message));
  Seed("caf_public_messages", "search", Byte(4) + bytes(search));
  for (unsigned verb : {5u, 6u, 8u, 9u, 10u}) {
    Seed("caf_public_messages", "verb-" + std::to_string(verb), Byte(verb) + U32(0));
  }
  Seed("caf_public_messages", "write-read-append",
       Byte(1) + bytes(batch) + Byte(2) + bytes(kind, key, reader) + Byte(3) + bytes(session, message));
  Seed("caf_public_messages", "evict", Byte(7) + bytes(seconds, dry_run));

  // A vectors record as the client core writes one (key CodeIdForPath(path),
  // the engine's model and dimension), with large components, and an
  // inner-product search (metric 0) near it: scores at the edge of float.
  records::FileVectors big;
  big.model = "lexical-v1";
  big.dimension = 8;
  big.path = "src/big.cc";
  big.language = "cpp";
  big.values.assign(16, 1e19f);
  records::write_batch vectors;
  vectors.mutations.push_back(
      records::MakePut(DataKind::kVectors, postdevai::CodeIdForPath(big.path), records::EncodeFileVectors(big)));
  Seed("caf_public_messages", "write-vectors", Byte(1) + bytes(vectors));
  records::search_request inner = search;
  inner.query.assign(8, 1e19f);
  inner.metric = 0;
  inner.exact = true;
  Seed("caf_public_messages", "search-inner-product", Byte(4) + bytes(inner));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: make_corpus <corpus dir, e.g. fuzz/corpus>");
  corpus = argv[1];
  const fs::path source_dir = POSTDEVAI_SOURCE_DIR;
  TempDir tmp;
  WalSeeds(tmp);
  RamLakeSeeds(tmp);
  ValueCodecSeeds();
  StoredValueSeeds();
  ConfigSeeds(source_dir);
  GrpcSeeds();
  CafSeeds();
  std::printf("make_corpus: wrote %d seeds under %s\n", written, corpus.c_str());
  return 0;
}
