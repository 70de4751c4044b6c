// LexicalEmbedder: identifier splitting, determinism, rare-token weighting and
// text search through a VectorIndex, as the CLI's ingest and search use it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "simd/lexical_embedder.h"
#include "simd/vector_index.h"

namespace postdevai {
namespace {

float Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  return simd::CosineSimilarity(a.data(), b.data(), a.size());
}

}  // namespace

TEST_CASE("identifiers split at underscores, camelCase, acronyms and digits") {
  using V = std::vector<std::string>;
  CHECK(LexicalEmbedder::Tokenize("getUserName") == V{"get", "user", "name"});
  CHECK(LexicalEmbedder::Tokenize("get_user_name") == V{"get", "user", "name"});
  CHECK(LexicalEmbedder::Tokenize("GetUserName") == V{"get", "user", "name"});
  CHECK(LexicalEmbedder::Tokenize("HTTPServer2") == V{"http", "server", "2"});
  CHECK(LexicalEmbedder::Tokenize("parse_JSONFile") == V{"parse", "json", "file"});
  CHECK(LexicalEmbedder::Tokenize("  x = a->b_c(utf8);  // done") == V{"x", "a", "b", "c", "utf", "8", "done"});
  CHECK(LexicalEmbedder::Tokenize("__init__") == V{"init"});
  CHECK(LexicalEmbedder::Tokenize("") == V{});
  CHECK(LexicalEmbedder::Tokenize("+-*/ ;") == V{});
}

TEST_CASE("embeddings are deterministic, unit length and of the configured dimension") {
  const LexicalEmbedder a;
  const LexicalEmbedder b;
  CHECK(a.model() == "lexical-v1");
  CHECK(a.dimension() == 384);
  const std::string text = "Status Journal::Append(const Record& record) { return group_commit_.Wait(lsn); }";
  const auto va = a.Embed(text);
  const auto vb = b.Embed(text);
  REQUIRE(va.size() == 384);
  CHECK(va == vb);  // bit-identical
  double norm = 0;
  for (float v : va) norm += double(v) * v;
  CHECK(norm == Approx(1.0).epsilon(1e-5));

  const LexicalEmbedder small(128);
  CHECK(small.Embed(text).size() == 128);
  const auto empty = a.Embed("  ;; {} ");
  CHECK(std::all_of(empty.begin(), empty.end(), [](float v) { return v == 0.0f; }));
  // A fixed fingerprint: the model must not drift silently between builds.
  // (Recompute and bump the model name when the features change on purpose.)
  const auto fingerprint = a.Embed("getUserName");
  int nonzero = 0;
  for (float v : fingerprint) nonzero += v != 0.0f;
  CHECK(nonzero >= 8);   // 3 parts + 2 pairs + 1 whole identifier, two buckets each
  CHECK(nonzero <= 12);
}

TEST_CASE("naming styles match, rare identifiers outweigh common keywords") {
  const LexicalEmbedder e;
  CHECK(Cosine(e.Embed("getUserName"), e.Embed("get_user_name")) == Approx(1.0f).epsilon(1e-6));
  CHECK(Cosine(e.Embed("getUserName()"), e.Embed("user name")) > 0.3f);

  const auto boilerplate = e.Embed("if (ok) return value; else return result; return x; for (int i = 0;;) return;");
  const auto specific = e.Embed("Status s = parseConfigFile(path);");
  const auto query = e.Embed("return parseConfigFile");
  CHECK(Cosine(query, specific) > Cosine(query, boilerplate) + 0.2f);
  // Unrelated code is far.
  CHECK(std::fabs(Cosine(e.Embed("compactLevelDbTables"), e.Embed("renderTerminalWidget"))) < 0.2f);
}

TEST_CASE("text search over embedded code chunks finds the right ones") {
  const LexicalEmbedder embedder;
  VectorIndexOptions options;
  options.model = std::string(embedder.model());
  options.dimension = static_cast<std::uint32_t>(embedder.dimension());
  options.keep_full_precision = true;
  auto created = VectorIndex::Create(options);
  REQUIRE(created.ok());
  VectorIndex& index = **created;
  struct Chunk {
    const char* path;
    const char* text;
  };
  const std::vector<Chunk> chunks = {
      {"storage/wal.cc", "Status Wal::Append(const Record& r) { segment_->Write(r); return group_commit_.Wait(r.lsn); }"},
      {"storage/wal.cc", "Status Wal::Recover(Lsn checkpoint) { for (auto& seg : segments_) ReplaySegment(seg); }"},
      {"config/config.cc", "Result<Config> LoadConfigFile(const std::string& path) { auto text = ReadFile(path); "
                           "return ParseConfig(text); }"},
      {"cli/main.cc", "int main(int argc, char** argv) { return RunCommandLine(argc, argv); }"},
      {"storage/compress.cc", "std::string CompressValue(std::string_view v, const ZstdDictionary& dict) { "
                              "return ZSTD_compress_usingCDict(...); }"},
      {"ramlake/evict.cc", "void S3FifoPolicy::Evict() { while (small_queue_.size() > target) MoveToGhost(); }"},
  };
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    VectorAttributes a;
    a.kind = VectorOwnerKind::kCodeChunk;
    a.path = chunks[i].path;
    a.language = "cpp";
    const auto v = embedder.Embed(chunks[i].text);
    REQUIRE(index.Add(embedder.model(), VectorEntry{i, v, a}).ok());
  }
  auto top = [&](std::string_view query) {
    const auto q = embedder.Embed(query);
    VectorSearchOptions search;
    search.k = 1;
    auto hits = index.Search(embedder.model(), q, search, nullptr);
    REQUIRE(hits.ok());
    REQUIRE(hits->size() == 1);
    return (*hits)[0].id;
  };
  CHECK(top("load config file") == 2);
  CHECK(top("wal recover replay segments") == 1);
  CHECK(top("group commit append") == 0);
  CHECK(top("zstd dictionary compression") == 4);
  CHECK(top("s3fifo evict ghost queue") == 5);
  // A query from another model is refused: vectors are comparable only within one.
  const auto q = embedder.Embed("load config");
  CHECK(index.Search("some-neural-model", q, VectorSearchOptions{}, nullptr).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("embedding is fast enough for ingest") {
  const LexicalEmbedder e;
  std::string chunk;
  for (int i = 0; i < 40; ++i) chunk += "Status RamLakePartition::Put(std::string_view key, Slice value) { index_.Insert(key); }\n";
  std::vector<float> out(e.dimension());
  const auto start = std::chrono::steady_clock::now();
  const int rounds = 300;
  for (int i = 0; i < rounds; ++i) e.Embed(chunk, out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double mb_per_s = double(chunk.size()) * rounds / seconds / 1e6;
  WARN("lexical embedder: " << mb_per_s << " MB/s of source text (" << chunk.size() << "-byte chunks)");
  CHECK(mb_per_s > 2.0);  // generous: a shared, loaded machine still clears this by far
}

}  // namespace postdevai
