// SearchSimilar through the engine: both tiers, real-time, replacement,
// deletion, eviction to the cold tier and restart, checked against a
// brute-force scan; bad vectors refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "records/stored_values.h"
#include "postdevai/hybrid_memory.h"
#include "simd/lexical_embedder.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::TempDir;

namespace {

// A small code base whose files are about different things.
std::string FileContent(int f, int variant = 0) {
  static const char* topics[] = {"parse_config_file", "flushMemtable", "compute_checksum", "render_dashboard",
                                 "open_socket_connection", "train_dictionary", "evict_cold_entries",
                                 "replay_write_ahead_log", "quantize_vector", "schedule_checkpoint"};
  std::string s;
  for (int line = 0; line < 120; ++line) {
    s += "int " + std::string(topics[(f + line / 40 + variant) % 10]) + "_" + std::to_string(f) + "_" +
         std::to_string(line) + "(int value) { return value + " + std::to_string(line * f) + "; }\n";
  }
  return s;
}

std::string PathOf(int f) { return "src/module" + std::to_string(f) + ".cc"; }

struct Chunk {
  std::string path;
  std::uint32_t chunk;
  std::vector<float> v;
};

// Every chunk as stored, embedded the way StoreAndIndexCodeLexical does.
std::vector<Chunk> Embedded(const std::map<std::string, std::string>& files, std::size_t dim) {
  LexicalEmbedder embedder(dim);
  std::vector<Chunk> out;
  for (const auto& [path, content] : files) {
    auto chunks = records::SplitIntoChunks(content);
    for (std::uint32_t c = 0; c < chunks.size(); ++c) out.push_back(Chunk{path, c, embedder.Embed(chunks[c])});
  }
  return out;
}

// Brute force: cosine similarity of every stored chunk, best first.
std::vector<std::pair<std::string, std::uint32_t>> BruteForce(const std::vector<Chunk>& chunks,
                                                              const std::vector<float>& q, std::size_t k) {
  std::vector<std::pair<double, std::size_t>> scored;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    double dot = 0, nq = 0, nv = 0;
    for (std::size_t d = 0; d < q.size(); ++d) {
      dot += double(q[d]) * chunks[i].v[d];
      nq += double(q[d]) * q[d];
      nv += double(chunks[i].v[d]) * chunks[i].v[d];
    }
    scored.emplace_back(dot / std::sqrt(nq * nv), i);
  }
  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (std::size_t i = 0; i < std::min(k, scored.size()); ++i) {
    out.emplace_back(chunks[scored[i].second].path, chunks[scored[i].second].chunk);
  }
  return out;
}

std::vector<std::pair<std::string, std::uint32_t>> Ids(const std::vector<SearchHit>& hits) {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (const auto& h : hits) out.emplace_back(h.path, h.chunk);
  return out;
}

void CheckAgainstBruteForce(HybridMemory& memory, const std::map<std::string, std::string>& files,
                            const std::string& stage) {
  const auto chunks = Embedded(files, 384);
  LexicalEmbedder embedder(384);
  for (const char* text : {"flushMemtable", "compute checksum", "quantize_vector 7", "open socket connection 12"}) {
    const auto q = embedder.Embed(text);
    const auto expected = BruteForce(chunks, q, 8);
    INFO(stage << ", query '" << text << "'");
    SearchFilter exact;
    exact.exact = true;
    auto got_exact = memory.SearchSimilar(q, 8, exact);
    REQUIRE(got_exact.ok());
    CHECK(Ids(*got_exact) == expected);
    auto got = memory.SearchSimilar(q, 8);  // int8 scan + re-rank
    REQUIRE(got.ok());
    CHECK(Ids(*got) == expected);
  }
}

}  // namespace

TEST_CASE("SearchSimilar equals a brute-force scan through writes, replacement, deletion, eviction and restart",
          "[vectors][engine]") {
  TempDir disk("vectors");
  TempDir ram("vectors", "/dev/shm");
  auto config = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  std::map<std::string, std::string> files;
  {
    auto memory = HybridMemory::Open(config);
    REQUIRE(memory.ok());
    for (int f = 0; f < 40; ++f) {
      files[PathOf(f)] = FileContent(f);
      REQUIRE((*memory)->StoreAndIndexCodeLexical(PathOf(f), files[PathOf(f)], "cpp").ok());
    }
    CheckAgainstBruteForce(**memory, files, "after inserts");

    // Real time: a file is found by the first search after it is stored.
    REQUIRE((*memory)->StoreAndIndexCodeLexical("src/fresh.cc", "int zanzibar_frobnicate_quux() {}\n", "cpp").ok());
    auto fresh = (*memory)->SearchText("zanzibar frobnicate quux", 1);
    REQUIRE(fresh.ok());
    REQUIRE(fresh->size() == 1);
    CHECK(fresh->front().path == "src/fresh.cc");
    CHECK(fresh->front().id == CodeIdForPath("src/fresh.cc"));
    files["src/fresh.cc"] = "int zanzibar_frobnicate_quux() {}\n";

    // Replacement and deletion.
    files[PathOf(3)] = FileContent(3, 5);
    REQUIRE((*memory)->StoreAndIndexCodeLexical(PathOf(3), files[PathOf(3)], "cpp").ok());
    REQUIRE((*memory)->DeleteCode(PathOf(4)).ok());
    files.erase(PathOf(4));
    CheckAgainstBruteForce(**memory, files, "after replacing and deleting");
    SearchFilter prefix;
    prefix.path_prefix = "src/module1";
    auto filtered = (*memory)->SearchText("flushMemtable", 50, prefix);
    REQUIRE(filtered.ok());
    for (const auto& h : *filtered) CHECK(h.path.rfind("src/module1", 0) == 0);

    // Everything to the cold tier: full-precision vectors now come from LevelDB.
    REQUIRE((*memory)->Sync().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // recency has one-second resolution
    auto evicted = (*memory)->EvictColderThan(std::chrono::seconds(1));
    REQUIRE(evicted.ok());
    CHECK(*evicted > 40);
    auto stats = (*memory)->Stats();
    REQUIRE(stats.ok());
    CHECK(stats->partitions[0].entries == 0);  // no vectors left in RAM
    CheckAgainstBruteForce(**memory, files, "with every vector cold");
  }
  // Restart: the index is rebuilt from the store.
  auto memory = HybridMemory::Open(config);
  REQUIRE(memory.ok());
  CheckAgainstBruteForce(**memory, files, "after a restart");
}

TEST_CASE("vectors of another dimension or with NaNs are refused and nothing is stored", "[vectors][engine]") {
  TempDir disk("vectors");
  TempDir ram("vectors", "/dev/shm");
  auto memory = HybridMemory::Open(testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake"));
  REQUIRE(memory.ok());
  auto wrong = (*memory)->StoreAndIndexCode("a.cc", "int a;", "cpp", {std::vector<float>(128, 0.5f)});
  CHECK(wrong.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(wrong.status().message(), Catch::Contains("dimension 128") && Catch::Contains("384"));
  std::vector<float> nan(384, 0.1f);
  nan[7] = std::nanf("");
  auto bad = (*memory)->StoreAndIndexCode("b.cc", "int b;", "cpp", {nan});
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::Contains("NaN"));
  // Finite but so large that scores would overflow float (an infinite score
  // cannot even be sent to a remote peer): refused too, stored and as a query.
  std::vector<float> huge(384, 1.0f);
  huge[3] = 1e19f;
  auto overflowing = (*memory)->StoreAndIndexCode("c.cc", "int c;", "cpp", {huge});
  CHECK(overflowing.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(overflowing.status().message(), Catch::Contains("norm"));
  CHECK((*memory)->SearchSimilar(huge, 5).status().code() == StatusCode::kInvalidArgument);
  CHECK((*memory)->GetCodeByPath("a.cc").status().IsNotFound());
  CHECK((*memory)->GetCodeByPath("b.cc").status().IsNotFound());
  CHECK((*memory)->GetCodeByPath("c.cc").status().IsNotFound());
  auto query = (*memory)->SearchSimilar(std::vector<float>(100, 1.0f), 5);
  CHECK(query.status().code() == StatusCode::kInvalidArgument);
  auto none = (*memory)->SearchText("anything", 5);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("session messages are indexed beside code, filters by owner and session, re-storing drops old vectors",
          "[vectors][engine]") {
  TempDir disk("vectors");
  TempDir ram("vectors", "/dev/shm");
  auto memory = HybridMemory::Open(testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake"));
  REQUIRE(memory.ok());
  LexicalEmbedder embedder(384);
  auto embed_all = [&](const std::vector<std::string>& texts) {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) out.push_back(embedder.Embed(t));
    return out;
  };
  const std::vector<std::string> s1 = {"how do I flush the memtable", "the checkpoint failed with ENOSPC"};
  const std::vector<std::string> s2 = {"render the dashboard in ncurses", "flush memtable before checkpoint"};
  REQUIRE((*memory)->StoreContextAndIndex("s1", s1, embed_all(s1)).ok());
  REQUIRE((*memory)->StoreContextAndIndex("s2", s2, embed_all(s2)).ok());
  REQUIRE((*memory)->StoreAndIndexCodeLexical("db/flush.cc", "void flushMemtable() {}\n", "cpp").ok());

  SearchFilter history;
  history.owner = SearchFilter::Owner::kHistoryMessages;
  auto messages = (*memory)->SearchText("flush memtable", 10, history);
  REQUIRE(messages.ok());
  REQUIRE(messages->size() == 4);
  for (const auto& h : *messages) CHECK(h.owner == SearchHit::Owner::kHistoryMessage);
  CHECK(((messages->front().session == "s1" && messages->front().chunk == 0) ||
         (messages->front().session == "s2" && messages->front().chunk == 1)));

  SearchFilter only_s2;
  only_s2.session = "s2";
  auto in_s2 = (*memory)->SearchText("flush memtable", 10, only_s2);
  REQUIRE(in_s2.ok());
  REQUIRE(in_s2->size() == 2);
  CHECK(in_s2->front().session == "s2");
  CHECK(in_s2->front().chunk == 1);

  SearchFilter code;
  code.owner = SearchFilter::Owner::kCodeChunks;
  auto files = (*memory)->SearchText("flush memtable", 10, code);
  REQUIRE(files.ok());
  REQUIRE(files->size() == 1);
  CHECK(files->front().path == "db/flush.cc");

  // Re-storing without vectors drops the vectors of the old content.
  REQUIRE((*memory)->StoreContext("s2", {"something else"}).ok());
  REQUIRE((*memory)->StoreCode("db/flush.cc", "int unrelated;", "cpp").ok());
  // (Vector mode: the path db/flush.cc itself still says "flush" to the
  // lexical side of a hybrid search.)
  SearchFilter vector_only;
  vector_only.mode = SearchMode::kVector;
  auto after = (*memory)->SearchText("flush memtable", 10, vector_only);
  REQUIRE(after.ok());
  REQUIRE(after->size() == 2);
  for (const auto& h : *after) CHECK(h.session == "s1");
  CHECK((*memory)->StoreContextAndIndex("s3", {"one"}, {}).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("quantization none: the engine searches exactly in the same two phases", "[vectors][engine]") {
  TempDir disk("vectors");
  TempDir ram("vectors", "/dev/shm");
  auto config = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  config.vectors.quantization = VectorQuantization::kNone;
  auto memory = HybridMemory::Open(config);
  REQUIRE(memory.ok());
  REQUIRE((*memory)->StoreAndIndexCodeLexical("net/socket.cc", "int openSocketConnection(int port);\n", "cpp").ok());
  REQUIRE((*memory)->StoreAndIndexCodeLexical("db/btree.cc", "void splitBtreeNode(Node* n);\n", "cpp").ok());
  REQUIRE((*memory)->StoreAndIndexCodeLexical("db/journal.py", "def replay_write_ahead_log(path): pass\n", "python").ok());
  auto hits = (*memory)->SearchText("split btree node", 2);
  INFO(hits.status().ToString());
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 2);
  CHECK(hits->front().path == "db/btree.cc");
}

TEST_CASE("a clean stop saves the vector index, so the next start loads it without re-applying anything",
          "[vectors][engine]") {
  TempDir disk("vectors-stop");
  TempDir ram("vectors-stop", "/dev/shm");
  auto config = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  const std::string snapshot = config.ramlake_path + "/vectors.index";
  std::map<std::string, std::string> files;
  std::uintmax_t empty_size = 0;
  {
    auto memory = HybridMemory::Open(config);
    REQUIRE(memory.ok());
    // The first open built the (empty) index: the vectors partition saves it
    // once it serves.
    for (int i = 0; i < 200 && !std::filesystem::exists(snapshot); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(std::filesystem::exists(snapshot));
    empty_size = std::filesystem::file_size(snapshot);
    for (int f = 0; f < 30; ++f) {
      files[PathOf(f)] = FileContent(f);
      REQUIRE((*memory)->StoreAndIndexCodeLexical(PathOf(f), files[PathOf(f)], "cpp").ok());
    }
  }  // clean stop
  // The snapshot holds the 30 files' vectors (int8 copies at least).
  CHECK(std::filesystem::file_size(snapshot) > empty_size + 30 * config.vectors.dimension);
  const std::string saved = testing::ReadFile(snapshot);
  auto memory = HybridMemory::Open(config);
  REQUIRE(memory.ok());
  // Nothing changed since the snapshot: the open loaded it and wrote nothing.
  CHECK(testing::ReadFile(snapshot) == saved);
  CheckAgainstBruteForce(**memory, files, "after a clean stop and restart");
}
