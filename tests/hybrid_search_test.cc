// Lexical and hybrid search through the engine (facade): every mode finds
// what the text names; replaced and deleted files never show up; filters
// return exactly k when k match; an all-stop-word query is an empty answer;
// the index rebuilt at a restart answers as before; files stored without
// vectors are found by words; the lexical index can be turned off.
#include <catch2/catch.hpp>

#include <set>

#include "postdevai/hybrid_memory.h"
#include "tests/helpers/engine_test_config.h"
#include "tests/test_util.h"

using namespace postdevai;
using postdevai::testing::TempDir;

namespace {

std::string Topic(const std::string& words, int lines) {
  std::string s;
  for (int i = 0; i < lines; ++i) s += "// " + words + " step " + std::to_string(i) + "\nint f" + std::to_string(i) + "();\n";
  return s;
}

std::vector<std::string> Paths(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.path);
  return out;
}

SearchFilter Mode(SearchMode mode) {
  SearchFilter f;
  f.mode = mode;
  return f;
}

}  // namespace

TEST_CASE("hybrid and lexical search find files by their words through the engine", "[search][lexical]") {
  TempDir disk("hybrid-disk"), ram("hybrid-ram", "/dev/shm");
  const auto config = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  std::vector<std::vector<std::string>> before;
  const std::vector<std::string> questions = {"rebalance the red black tree", "checksum of a zip archive",
                                              "parse command line flags", "tokenize the lexer input"};
  {
    auto memory = HybridMemory::Open(config);
    INFO(memory.status().ToString());
    REQUIRE(memory.ok());
    auto& m = **memory;
    REQUIRE(m.StoreAndIndexCodeLexical("src/tree.cc", Topic("rebalance red black tree rotation", 30), "cpp").ok());
    REQUIRE(m.StoreAndIndexCodeLexical("src/zip.cc", Topic("zip archive checksum crc", 30), "cpp").ok());
    REQUIRE(m.StoreAndIndexCodeLexical("tools/flags.py", Topic("parse command line flags", 30), "python").ok());
    // Stored without vectors: found by its words all the same.
    REQUIRE(m.StoreCode("src/lexer.cc", Topic("tokenize lexer input characters", 30), "cpp").ok());
    for (int i = 0; i < 20; ++i) {
      REQUIRE(m.StoreAndIndexCodeLexical("noise/n" + std::to_string(i) + ".cc",
                                         Topic("unrelated filler number " + std::to_string(i), 10), "cpp")
                  .ok());
    }

    auto tree = m.SearchText("rebalance the red black tree", 3);
    REQUIRE(tree.ok());
    REQUIRE(!tree->empty());
    CHECK(tree->front().path == "src/tree.cc");
    CHECK(tree->front().lexical_score > 0);
    CHECK(tree->front().vector_score > 0);
    CHECK(tree->front().first_line >= 1);
    CHECK(tree->front().last_line >= tree->front().first_line);
    // One result per file in hybrid mode.
    std::set<std::string> distinct;
    for (const auto& h : *tree) distinct.insert(h.path);
    CHECK(distinct.size() == tree->size());

    auto lexer = m.SearchText("tokenize the lexer input", 1, Mode(SearchMode::kLexical));
    REQUIRE(lexer.ok());
    REQUIRE(lexer->size() == 1);
    CHECK(lexer->front().path == "src/lexer.cc");
    auto lexer_hybrid = m.SearchText("tokenize the lexer input", 1);
    REQUIRE(lexer_hybrid.ok());
    REQUIRE(lexer_hybrid->size() == 1);
    CHECK(lexer_hybrid->front().path == "src/lexer.cc");

    // Only stop words or symbols: an empty answer in every mode but vector.
    for (SearchMode mode : {SearchMode::kHybrid, SearchMode::kLexical}) {
      auto nothing = m.SearchText("the of and to ();", 5, Mode(mode));
      REQUIRE(nothing.ok());
      CHECK(nothing->empty());
    }
    // A text over the limit is refused naming it.
    auto huge = m.SearchText(std::string(100 << 10, 'a'), 5, Mode(SearchMode::kLexical));
    REQUIRE(!huge.ok());
    CHECK(huge.status().ToString().find("exceeds the limit") != std::string::npos);

    // Filters: exactly k when k match.
    SearchFilter python = Mode(SearchMode::kHybrid);
    python.language = "python";
    auto flags = m.SearchText("parse flags filler number", 5, python);
    REQUIRE(flags.ok());
    REQUIRE(flags->size() == 1);
    CHECK(flags->front().path == "tools/flags.py");
    SearchFilter noise = Mode(SearchMode::kLexical);
    noise.path_prefix = "noise/";
    auto fillers = m.SearchText("unrelated filler", 7, noise);
    REQUIRE(fillers.ok());
    CHECK(fillers->size() == 7);
    for (const auto& h : *fillers) CHECK(h.path.rfind("noise/", 0) == 0);

    for (const auto& q : questions) {
      auto hits = m.SearchText(q, 5);
      REQUIRE(hits.ok());
      before.push_back(Paths(*hits));
    }

    // Replaced: the old words no longer find it, the new ones do.
    REQUIRE(m.StoreAndIndexCodeLexical("src/zip.cc", Topic("inflate deflate stream", 30), "cpp").ok());
    for (SearchMode mode : {SearchMode::kHybrid, SearchMode::kLexical}) {
      auto old_words = m.SearchText("checksum crc", 5, Mode(mode));
      REQUIRE(old_words.ok());
      for (const auto& h : *old_words) CHECK(h.path != "src/zip.cc");
    }
    auto new_words = m.SearchText("inflate deflate", 1, Mode(SearchMode::kLexical));
    REQUIRE(new_words.ok());
    REQUIRE(new_words->size() == 1);
    CHECK(new_words->front().path == "src/zip.cc");
    // Deleted: never found again.
    REQUIRE(m.DeleteCode("src/lexer.cc").ok());
    for (SearchMode mode : {SearchMode::kHybrid, SearchMode::kLexical}) {
      auto gone = m.SearchText("tokenize lexer input characters", 5, Mode(mode));
      REQUIRE(gone.ok());
      for (const auto& h : *gone) CHECK(h.path != "src/lexer.cc");
    }
    // Put the first state back for the restart comparison.
    REQUIRE(m.StoreAndIndexCodeLexical("src/zip.cc", Topic("zip archive checksum crc", 30), "cpp").ok());
    REQUIRE(m.StoreCode("src/lexer.cc", Topic("tokenize lexer input characters", 30), "cpp").ok());
    before.clear();
    for (const auto& q : questions) {
      auto hits = m.SearchText(q, 5);
      REQUIRE(hits.ok());
      before.push_back(Paths(*hits));
    }
  }
  // The index is rebuilt from the store at the next start: the same answers.
  {
    auto memory = HybridMemory::Open(config);
    INFO(memory.status().ToString());
    REQUIRE(memory.ok());
    for (std::size_t i = 0; i < questions.size(); ++i) {
      auto hits = (*memory)->SearchText(questions[i], 5);
      REQUIRE(hits.ok());
      CHECK(Paths(*hits) == before[i]);
    }
  }
  // With [search] lexical_index = false: hybrid ranks by vector, lexical is refused.
  {
    auto off = config;
    off.search.lexical_index = false;
    auto memory = HybridMemory::Open(off);
    REQUIRE(memory.ok());
    auto hybrid = (*memory)->SearchText("rebalance red black tree", 3);
    REQUIRE(hybrid.ok());
    REQUIRE(!hybrid->empty());
    CHECK(hybrid->front().lexical_score == 0);
    auto lexical = (*memory)->SearchText("rebalance red black tree", 3, Mode(SearchMode::kLexical));
    REQUIRE(!lexical.ok());
    CHECK(lexical.status().ToString().find("lexical_index") != std::string::npos);
  }
}

TEST_CASE("session messages are searchable by words through the engine and after a restart", "[search][lexical]") {
  TempDir disk("hybrid-sessions-disk"), ram("hybrid-sessions-ram", "/dev/shm");
  const auto config = testing::SmallEngineConfig(disk.path(), ram.path() + "/ramlake");
  {
    auto memory = HybridMemory::Open(config);
    REQUIRE(memory.ok());
    auto& m = **memory;
    REQUIRE(m.StoreAndIndexCodeLexical("src/cache.cc", Topic("evict the least recently used cache entry", 20), "cpp").ok());
    REQUIRE(m.StoreContext("design-chat", {"we talked about sharding the journal", "then about snapshot cadence"}).ok());
    REQUIRE(m.AppendContext("design-chat", "finally the cache eviction policy with a frequency sketch").ok());
    REQUIRE(m.StoreContext("other-chat", {"unrelated gardening advice"}).ok());

    auto sharding = m.SearchText("sharding the journal", 5, Mode(SearchMode::kLexical));
    REQUIRE(sharding.ok());
    REQUIRE(sharding->size() == 1);
    CHECK(sharding->front().session == "design-chat");
    CHECK(sharding->front().chunk == 0);
    CHECK(sharding->front().owner == SearchHit::Owner::kHistoryMessage);
    auto appended = m.SearchText("frequency sketch", 5, Mode(SearchMode::kLexical));
    REQUIRE(appended.ok());
    REQUIRE(appended->size() == 1);
    CHECK(appended->front().chunk == 2);

    // Hybrid mixes files and messages; filters pick one kind.
    auto both = m.SearchText("cache eviction", 5);
    REQUIRE(both.ok());
    bool file = false, message = false;
    for (const auto& h : *both) {
      file = file || h.path == "src/cache.cc";
      message = message || h.session == "design-chat";
    }
    CHECK(file);
    CHECK(message);
    SearchFilter sessions_only = Mode(SearchMode::kHybrid);
    sessions_only.owner = SearchFilter::Owner::kHistoryMessages;
    auto only = m.SearchText("cache eviction", 5, sessions_only);
    REQUIRE(only.ok());
    REQUIRE(!only->empty());
    for (const auto& h : *only) CHECK(!h.session.empty());
    SearchFilter one_session = Mode(SearchMode::kLexical);
    one_session.session = "other-chat";
    auto other = m.SearchText("cache eviction", 5, one_session);
    REQUIRE(other.ok());
    CHECK(other->empty());

    // Replaced context: the old words are gone.
    REQUIRE(m.StoreContext("design-chat", {"a fresh start"}).ok());
    auto gone = m.SearchText("sharding journal", 5, Mode(SearchMode::kLexical));
    REQUIRE(gone.ok());
    CHECK(gone->empty());
    REQUIRE(m.AppendContext("design-chat", "sharding again after all").ok());
  }
  // Rebuilt from the store at the next start: the same answers.
  auto memory = HybridMemory::Open(config);
  REQUIRE(memory.ok());
  auto again = (*memory)->SearchText("sharding", 5, Mode(SearchMode::kLexical));
  REQUIRE(again.ok());
  REQUIRE(again->size() == 1);
  CHECK(again->front().session == "design-chat");
  CHECK(again->front().chunk == 1);
}
