// The lexical index (simd/lexical_index.h): terms, BM25 against a reference
// computed from scratch, replacements and deletions, filters that never
// starve a result, compaction, chunk lines, and hybrid fusion.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "records/stored_values.h"
#include "simd/code_thesaurus.h"
#include "simd/lexical_index.h"

namespace postdevai {
namespace {

bool Has(const std::vector<std::string>& terms, const std::string& t) {
  return std::find(terms.begin(), terms.end(), t) != terms.end();
}

// What a reference BM25 over whole files says (the index's definition,
// computed from scratch over the live files): the file's BM25 plus its best
// chunk's, weighted.
struct ReferenceFile {
  std::string path, language, content;
};
std::vector<std::pair<std::string, float>> ReferenceRanking(const std::map<std::string, ReferenceFile>& files,
                                                            const std::string& query, std::size_t k,
                                                            const std::string& prefix = "") {
  const float k1 = 1.2f, b = 0.75f, w = 3.0f;
  std::map<std::string, std::map<std::string, float>> tf;
  std::map<std::string, float> length;
  std::map<std::string, int> df;
  std::map<std::string, std::vector<std::map<std::string, float>>> chunk_tf;
  std::map<std::string, std::vector<float>> chunk_length;
  double total = 0, chunk_total = 0, chunk_count = 0;
  for (const auto& [key, f] : files) {
    auto& t = tf[key];
    float len = 0;
    for (const auto& term : LexicalTerms(f.content)) t[term] += 1, len += 1;
    for (const auto& term : LexicalTerms(f.path)) t[term] += w, len += w;
    length[key] = len;
    total += len;
    for (std::string_view chunk : records::SplitIntoChunks(f.content)) {
      auto& ct = chunk_tf[key].emplace_back();
      float clen = 0;
      for (const auto& term : LexicalTerms(chunk)) ct[term] += 1, clen += 1;
      chunk_length[key].push_back(clen);
      chunk_total += clen;
      chunk_count += 1;
    }
    for (const auto& [term, n] : t) ++df[term];
  }
  const float avg = static_cast<float>(total / static_cast<double>(files.size()));
  const float chunk_avg = static_cast<float>(chunk_total / chunk_count);
  // The query's terms by count, then those related to its rare terms.
  const LexicalIndex::Options options;
  std::map<std::string, float> q;
  const auto query_terms = LexicalTerms(query);
  for (const auto& term : query_terms) ++q[term];
  auto rare = [&](const std::string& term) {
    const float most = options.related_term_max_files * static_cast<float>(files.size());
    return df.count(term) == 0 || static_cast<float>(df[term]) < most;
  };
  for (const auto& term : RelatedTerms(query_terms, rare)) {
    if (df.count(term) && !q.count(term)) q[term] = options.related_term_weight;
  }
  std::vector<std::pair<std::string, float>> scored;
  for (const auto& [key, f] : files) {
    if (!f.path.starts_with(prefix)) continue;
    float score = 0;
    std::vector<float> chunk_scores(chunk_tf[key].size(), 0.0f);
    for (const auto& [term, qtf] : q) {
      auto it = tf[key].find(term);
      if (it == tf[key].end()) continue;
      const float n = static_cast<float>(files.size()), d = static_cast<float>(df[term]);
      const float idf = std::log(1 + (n - d + 0.5f) / (d + 0.5f)) * qtf;
      const float norm = k1 * (1 - b + b * length[key] / avg);
      score += idf * it->second * (k1 + 1) / (it->second + norm);
      for (std::size_t c = 0; c < chunk_scores.size(); ++c) {
        auto ct = chunk_tf[key][c].find(term);
        if (ct == chunk_tf[key][c].end()) continue;
        const float cnorm = k1 * (1 - b + b * chunk_length[key][c] / chunk_avg);
        chunk_scores[c] += idf * ct->second * (k1 + 1) / (ct->second + cnorm);
      }
    }
    if (!chunk_scores.empty()) {
      score += LexicalIndex::Options{}.best_chunk_weight * *std::max_element(chunk_scores.begin(), chunk_scores.end());
    }
    if (score > 0) scored.emplace_back(f.path, score);
  }
  std::sort(scored.begin(), scored.end(),
            [](auto& x, auto& y) { return x.second != y.second ? x.second > y.second : x.first < y.first; });
  if (scored.size() > k) scored.resize(k);
  return scored;
}

void RequireSameRanking(const LexicalIndex& index, const std::map<std::string, ReferenceFile>& files,
                        const std::string& query, const std::string& prefix = "") {
  records::search_request filters;
  filters.path_prefix = prefix;
  auto hits = index.Search(query, 10, filters);
  auto expected = ReferenceRanking(files, query, 10, prefix);
  INFO("query: " << query);
  REQUIRE(hits.size() == expected.size());
  for (std::size_t i = 0; i < hits.size(); ++i) {
    // Equal scores may tie-break differently after float rounding: compare scores.
    REQUIRE(hits[i].score == Approx(expected[i].second).epsilon(1e-3));
    if (i + 1 < hits.size() && std::abs(expected[i].second - expected[i + 1].second) > 1e-3f &&
        (i == 0 || std::abs(expected[i].second - expected[i - 1].second) > 1e-3f)) {
      REQUIRE(hits[i].path == expected[i].first);
    }
  }
}

}  // namespace

TEST_CASE("lexical terms split identifiers drop stop words and stem", "[lexical]") {
  auto terms = LexicalTerms("getUserName parse_config_file HTTPServer");
  CHECK(Has(terms, "user"));
  CHECK(Has(terms, StemTerm("name")));
  CHECK(Has(terms, "getusername"));
  CHECK(Has(terms, "parsecon" "figfile"));
  CHECK(Has(terms, "http"));
  CHECK(LexicalTerms("the of and to is").empty());
  CHECK(LexicalTerms("();{} -> :: ++").empty());
  // One stem for the forms of a word.
  const std::string alloc = StemTerm("allocate");
  for (const char* form : {"allocated", "allocates", "allocating", "allocation", "allocator", "allocators"}) {
    INFO(form);
    CHECK(StemTerm(form) == alloc);
  }
  CHECK(StemTerm("parsing") == StemTerm("parse"));
  CHECK(StemTerm("parser") == StemTerm("parses"));
  CHECK(StemTerm("mapping") == StemTerm("map"));
  CHECK(StemTerm("buffering") == StemTerm("buffers"));
  CHECK(StemTerm("bodies") == StemTerm("body"));
  // Not over-stemmed.
  CHECK(StemTerm("class") == "class");
  CHECK(StemTerm("status") == "status");
  CHECK(StemTerm("user") == "user");
  CHECK(StemTerm("2048") == "2048");
}

TEST_CASE("lexical search ranks as BM25 computed from scratch through replacements and deletes", "[lexical]") {
  std::mt19937 rng(7);
  const std::vector<std::string> vocabulary = {
      "parse",  "config",  "socket", "buffer", "hash",   "table",  "allocator", "thread", "mutex",   "queue",
      "vector", "string",  "lexer",  "token",  "render", "widget", "compress",  "inflate", "matrix", "inverse",
      "cache",  "evict",   "journal", "replay", "index", "search", "graph",     "node",   "edge",    "weight"};
  auto random_text = [&](int words) {
    std::string s;
    for (int i = 0; i < words; ++i) {
      s += vocabulary[rng() % vocabulary.size()];
      s += (rng() % 8 == 0) ? "\n" : " ";
    }
    return s;
  };
  LexicalIndex index;
  // The same index with no budget for noting where chunk postings start:
  // its searches find them by binary search, and must rank alike.
  LexicalIndex::Options no_budget;
  no_budget.chunk_start_budget = 0;
  LexicalIndex searched(no_budget);
  std::map<std::string, ReferenceFile> files;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    ReferenceFile f{(i % 2 ? "src/" : "lib/") + vocabulary[i % vocabulary.size()] + "_" + std::to_string(i) + ".cc",
                    "cpp", random_text(20 + static_cast<int>(rng() % 600))};
    index.PutCode(key, f.path, f.language, f.content);
    searched.PutCode(key, f.path, f.language, f.content);
    files[key] = f;
  }
  // The last two name words no file holds, whose related words files do
  // (configuration: config; decompress: inflate).
  const std::vector<std::string> queries = {"parse the config",   "hash table allocator", "inverse of a matrix",
                                            "replay the journal", "graph edge weight",    "widget",
                                            "configuration cache", "decompress a token"};
  for (const auto& q : queries) RequireSameRanking(index, files, q);
  for (const auto& q : queries) RequireSameRanking(searched, files, q);
  RequireSameRanking(index, files, "socket buffer", "src/");

  // Replace half, delete a quarter: stats and rankings follow the live files.
  for (int i = 0; i < 200; i += 2) {
    const std::string key = "k" + std::to_string(i);
    files[key].content = random_text(50);
    index.PutCode(key, files[key].path, "cpp", files[key].content);
    searched.PutCode(key, files[key].path, "cpp", files[key].content);
  }
  for (int i = 1; i < 200; i += 4) {
    const std::string key = "k" + std::to_string(i);
    files.erase(key);
    index.Remove(key);
    searched.Remove(key);
  }
  CHECK(index.files() == files.size());
  for (const auto& q : queries) RequireSameRanking(index, files, q);
  for (const auto& q : queries) RequireSameRanking(searched, files, q);
}

TEST_CASE("a question's rare words find the code's abbreviations and other words for them", "[lexical]") {
  // 40 files about other things: a term of one file is rare (under 3%).
  LexicalIndex index;
  for (int i = 0; i < 40; ++i) {
    index.PutCode("k" + std::to_string(i), "src/other_" + std::to_string(i) + ".cc", "cpp",
                  "render the widget layout and paint each frame of the window " + std::to_string(i));
  }
  index.PutCode("tmp", "src/tempbuf.h", "cpp",
                "// get_temporary_buffer: allocate a temporary buffer, halving the size after each failure");
  index.PutCode("dq", "src/deque.tcc", "cpp", "// deque: reallocate the map of node pointers when it is full");
  records::search_request any;
  auto first = [&](const LexicalIndex& in, const std::string& q) {
    auto hits = in.Search(q, 3, any);
    return hits.empty() ? std::string() : hits.front().path;
  };
  CHECK(first(index, "scratch memory") == "src/tempbuf.h");                     // scratch: temporary
  CHECK(first(index, "double-ended queue runs out of room") == "src/deque.tcc");  // deque
  // Without the expansion the same questions miss.
  LexicalIndex::Options plain;
  plain.related_term_weight = 0;
  LexicalIndex literal(plain);
  literal.PutCode("tmp", "src/tempbuf.h", "cpp", "// get_temporary_buffer: allocate a temporary buffer");
  literal.PutCode("dq", "src/deque.tcc", "cpp", "// deque: reallocate the map of node pointers when it is full");
  CHECK(first(literal, "scratch memory").empty());
  CHECK(first(literal, "double-ended queue").empty());
  // A phrase is expanded only when one of its words is rare; a word only
  // when it is.
  CHECK(RelatedTerms(LexicalTerms("double ended queue"), [](const std::string&) { return false; }).empty());
  const auto related = RelatedTerms(LexicalTerms("scratch space"), [](const std::string&) { return true; });
  CHECK(std::find(related.begin(), related.end(), StemTerm("temporary")) != related.end());
}

TEST_CASE("a replaced or deleted file is never found by its old words", "[lexical]") {
  LexicalIndex index;
  index.PutCode("a", "src/a.cc", "cpp", "int zebra_crossing() { return 1; }\n");
  index.PutCode("b", "src/b.cc", "cpp", "int giraffe() { return 2; }\n");
  records::search_request any;
  REQUIRE(index.Search("zebra crossing", 5, any).size() == 1);
  index.PutCode("a", "src/a.cc", "cpp", "int elephant() { return 3; }\n");
  CHECK(index.Search("zebra crossing", 5, any).empty());
  REQUIRE(index.Search("elephant", 5, any).size() == 1);
  index.Remove("a");
  CHECK(index.Search("elephant", 5, any).empty());
  CHECK(index.Search("giraffe", 5, any).size() == 1);
  index.Remove("missing");  // absent is fine
  CHECK(index.files() == 1);
}

TEST_CASE("filtered lexical searches return exactly k when k files match", "[lexical]") {
  LexicalIndex index;
  // 300 files mention the word; only 12 are under the rare prefix, and they
  // mention it least (they rank last without the filter).
  for (int i = 0; i < 300; ++i) {
    const bool rare = i % 25 == 0;
    std::string content;
    for (int r = 0; r < (rare ? 1 : 5); ++r) content += "checksum computation\n";
    content += "filler words " + std::to_string(i) + "\n";
    index.PutCode("k" + std::to_string(i), (rare ? "rare/" : "common/") + std::to_string(i) + ".py",
                  rare ? "python" : "cpp", content);
  }
  records::search_request filters;
  filters.path_prefix = "rare/";
  auto hits = index.Search("checksum", 10, filters);
  REQUIRE(hits.size() == 10);
  for (const auto& h : hits) CHECK(h.path.starts_with("rare/"));
  CHECK(index.Search("checksum", 50, filters).size() == 12);
  records::search_request by_language;
  by_language.language = "python";
  CHECK(index.Search("checksum", 50, by_language).size() == 12);
  records::search_request sessions_only;
  sessions_only.owner = records::vector_owner::history_message;
  CHECK(index.Search("checksum", 50, sessions_only).empty());
}

TEST_CASE("lexical hits name the best chunk and its lines", "[lexical]") {
  std::string content;
  for (int line = 1; line <= 400; ++line) {
    content += line == 250 ? "void rebalance_the_red_black_tree(Node* n);\n"
                           : "int filler_line_" + std::to_string(line) + " = 0;\n";
  }
  LexicalIndex index;
  index.PutCode("t", "src/tree.cc", "cpp", content);
  auto hits = index.Search("rebalance red black tree", 1, records::search_request{});
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].first_line <= 250);
  CHECK(hits[0].last_line >= 250);
  CHECK(hits[0].chunk > 0);
  // The same chunks as the vectors describe, with their lines.
  auto chunks = records::SplitIntoChunks(content);
  REQUIRE(hits[0].chunk < chunks.size());
  CHECK(chunks[hits[0].chunk].find("rebalance_the_red_black_tree") != std::string_view::npos);
  auto lines = index.ChunkLines("src/tree.cc", 0);
  REQUIRE(lines);
  CHECK(lines->first == 1);
  CHECK(lines->second == static_cast<std::uint32_t>(std::count(chunks[0].begin(), chunks[0].end(), '\n')));
}

TEST_CASE("replacing files many times keeps the index compact and right", "[lexical]") {
  LexicalIndex index;
  for (int i = 0; i < 50; ++i) index.PutCode("k" + std::to_string(i), "f" + std::to_string(i), "", "stable words");
  const std::uint64_t before = index.RamBytes();
  // A word per round, letters only (digits would split off): q<round as letters>z.
  auto word = [](int round) {
    std::string w = "q";
    for (char c : std::to_string(round)) w += static_cast<char>('a' + (c - '0'));
    return w + "z";
  };
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 50; ++i) {
      index.PutCode("k" + std::to_string(i), "f" + std::to_string(i), "", word(round) + " stable words");
    }
  }
  CHECK(index.files() == 50);
  CHECK(index.chunks() == 50);
  // 20,000 replacements: what stays is the live files plus at most 4096 dead
  // ones awaiting compaction (~150 bytes each), not 20,000 files' worth.
  CHECK(index.RamBytes() < before * 4 + (2u << 20));
  CHECK(index.Search("stable", 100, records::search_request{}).size() == 50);
  CHECK(index.Search(word(398), 100, records::search_request{}).empty());
  CHECK(index.Search(word(399), 100, records::search_request{}).size() == 50);
  CHECK(index.terms() < 400);  // the words of replaced rounds went with their files
}

TEST_CASE("after compactions a file's chunks are scored where their postings moved", "[lexical]") {
  // Files written between many replacements of others: compactions move
  // their postings. Their scores and best chunks must equal a
  // fresh index's over the same live files.
  std::string long_text;
  for (int line = 0; line < 400; ++line) long_text += "filler line " + std::to_string(line) + " of text\n";
  auto kept = [&](int i) { return long_text + "anchor stable words " + std::to_string(i) + "\n" + long_text; };
  LexicalIndex index, fresh;
  auto churn = [&](int rounds) {
    for (int round = 0; round < rounds; ++round) {
      for (int i = 0; i < 50; ++i) index.PutCode("k" + std::to_string(i), "f" + std::to_string(i), "", "stable words");
    }
  };
  churn(60);  // dead postings of "stable" before the kept files'
  for (int i = 0; i < 10; ++i) {
    index.PutCode("keep" + std::to_string(i), "keep" + std::to_string(i), "", kept(i));
    fresh.PutCode("keep" + std::to_string(i), "keep" + std::to_string(i), "", kept(i));
  }
  churn(140);
  for (int i = 0; i < 50; ++i) fresh.PutCode("k" + std::to_string(i), "f" + std::to_string(i), "", "stable words");
  const auto compacted = index.Search("anchor stable", 20, records::search_request{});
  const auto expected = fresh.Search("anchor stable", 20, records::search_request{});
  REQUIRE(compacted.size() == expected.size());
  for (std::size_t i = 0; i < compacted.size(); ++i) {
    CHECK(compacted[i].score == Approx(expected[i].score));
    CHECK(compacted[i].first_line == expected[i].first_line);
  }
}

TEST_CASE("hybrid fusion ranks files found by both parts first and aggregates chunks per file", "[lexical]") {
  LexicalIndex index;
  index.PutCode("a", "a.cc", "cpp", "alpha words\n");
  index.PutCode("b", "b.cc", "cpp", "beta words\n");
  index.PutCode("c", "c.cc", "cpp", "gamma words\n");
  std::vector<records::search_hit> by_vector;
  auto vhit = [](std::string path, std::uint32_t chunk, float score) {
    records::search_hit h;
    h.path = std::move(path);
    h.chunk = chunk;
    h.score = score;
    return h;
  };
  by_vector.push_back(vhit("c.cc", 0, 0.9f));
  by_vector.push_back(vhit("c.cc", 1, 0.8f));  // a second chunk of c: not a second result
  by_vector.push_back(vhit("a.cc", 0, 0.7f));
  auto lexical = LexicalResults(index.Search("alpha beta", 10, records::search_request{}));
  REQUIRE(lexical.size() == 2);
  auto fused = FuseHybrid(by_vector, lexical, &index, 10);
  REQUIRE(fused.size() == 3);
  CHECK(fused[0].path == "a.cc");  // both parts found it
  CHECK(fused[0].vector_score == Approx(0.7f));
  CHECK(fused[0].lexical_score > 0);
  CHECK(fused[0].first_line == 1);
  std::set<std::string> paths;
  for (const auto& h : fused) paths.insert(h.path);
  CHECK(paths.size() == 3);
  CHECK(FuseHybrid(by_vector, lexical, &index, 1).size() == 1);
}

}  // namespace postdevai

namespace postdevai {

TEST_CASE("session messages are found by their words with their numbers across segments and appends", "[lexical]") {
  LexicalIndex index;
  // A context as StoreContext writes it: sealed segments in order, then the head.
  records::SessionHead head;
  std::vector<std::pair<std::string, std::string>> writes;  // key, value
  const std::string session = "chat-1";
  for (int i = 0; i < 3000; ++i) {
    std::string message = "message " + std::to_string(i) + " " + std::string(200, 'x');
    if (i == 42) message = "the user asked about the zeppelin cache";
    if (i == 2500) message = "later the user asked about the dirigible cache";
    if (auto sealed = records::AppendToSession(&head, message)) {
      writes.emplace_back(records::SessionSegmentKey(session, head.sealed_segments - 1), *sealed);
    }
  }
  REQUIRE(head.sealed_segments >= 2);  // the test needs segments
  writes.emplace_back(session, records::EncodeSessionHead(head));
  for (const auto& [key, value] : writes) REQUIRE(index.Apply(DataKind::kHistory, key, value).ok());

  records::search_request any;
  auto zeppelin = index.Search("zeppelin", 5, any);
  REQUIRE(zeppelin.size() == 1);
  CHECK(zeppelin[0].session == session);
  CHECK(zeppelin[0].chunk == 42);
  auto dirigible = index.Search("dirigible", 5, any);
  REQUIRE(dirigible.size() == 1);
  CHECK(dirigible[0].chunk == 2500);
  auto results = LexicalResults(dirigible);
  CHECK(results[0].session == session);
  CHECK(results[0].path.empty());

  // An append rewrites the head: the new message is found, the others keep their numbers.
  const std::uint64_t before = index.files();
  auto sealed = records::AppendToSession(&head, "an appended note on airships");
  if (sealed) {
    const std::string key = records::SessionSegmentKey(session, head.sealed_segments - 1);
    REQUIRE(index.Apply(DataKind::kHistory, key, *sealed).ok());
  }
  const std::string value = records::EncodeSessionHead(head);
  REQUIRE(index.Apply(DataKind::kHistory, session, value).ok());
  CHECK(index.files() == before + 1);
  auto airships = index.Search("airships", 5, any);
  REQUIRE(airships.size() == 1);
  CHECK(airships[0].chunk == 3000);
  CHECK(index.Search("zeppelin", 5, any).at(0).chunk == 42);

  // Filters: a session, code only.
  records::search_request other_session;
  other_session.session = "chat-2";
  CHECK(index.Search("zeppelin", 5, other_session).empty());
  records::search_request this_session;
  this_session.session = session;
  CHECK(index.Search("zeppelin", 5, this_session).size() == 1);
  records::search_request code_only;
  code_only.owner = records::vector_owner::code_chunk;
  CHECK(index.Search("zeppelin", 5, code_only).empty());

  // Replaced by a short context (no segments): the old messages are gone.
  const std::string replaced = records::EncodeSessionHead(records::SessionHead{0, 0, {"only a blimp now"}});
  REQUIRE(index.Apply(DataKind::kHistory, session, replaced).ok());
  CHECK(index.Search("zeppelin", 5, any).empty());
  CHECK(index.Search("dirigible", 5, any).empty());
  CHECK(index.Search("blimp", 5, any).at(0).chunk == 0);
  CHECK(index.files() == 1);
  // Deleted: nothing left.
  REQUIRE(index.Apply(DataKind::kHistory, session, std::nullopt).ok());
  CHECK(index.files() == 0);
  // A value that does not decode is an error naming it, and indexes nothing.
  const std::string junk = "\xFF\xFF\xFF\xFF";
  CHECK(!index.Apply(DataKind::kHistory, "chat-3", junk).ok());
  CHECK(index.files() == 0);
}

}  // namespace postdevai

namespace postdevai {

TEST_CASE("a session head claiming absurd message numbers costs what it holds", "[lexical]") {
  LexicalIndex index;
  // A raw peer's head: one message numbered 2^60 (the head's own checks let it through).
  const std::string head = records::EncodeSessionHead(records::SessionHead{1, std::uint64_t{1} << 60, {"far away words"}});
  REQUIRE(index.Apply(DataKind::kHistory, "s", head).ok());
  REQUIRE(index.Search("far away", 1, records::search_request{}).at(0).session == "s");
  // Deleting it is as quick as one message.
  REQUIRE(index.Apply(DataKind::kHistory, "s", std::nullopt).ok());
  CHECK(index.files() == 0);
}

}  // namespace postdevai
