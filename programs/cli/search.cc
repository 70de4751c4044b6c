// `search TEXT`: similarity search over stored code with the built-in
// lexical embedder (the one `ingest` indexes with).
#include <cstdio>
#include <cstdlib>

#include "postdevai/hybrid_memory.h"
#include "programs/cli/commands.h"
#include "programs/cli/embedding.h"

namespace postdevai::cli {

Status Search(CommandContext& ctx, const ParsedArgs& args) {
  std::string text;
  for (const auto& word : args.positionals) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  if (text.empty()) return Status::InvalidArgument("search needs TEXT");
  std::size_t limit_results = 10;
  if (auto limit = args.Get("--limit")) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(limit->c_str(), &end, 10);
    if (end == limit->c_str() || *end != '\0' || n == 0 || n > 10000) {
      return Status::InvalidArgument("bad --limit '" + *limit + "': a number from 1 to 10000");
    }
    limit_results = static_cast<std::size_t>(n);
  }
  auto dimension = ParseDimensionFlag(args);
  if (!dimension.ok()) return dimension.status();
  SearchFilter filter;
  filter.exact = args.Has("--exact");
  if (auto p = args.Get("--path-prefix")) filter.path_prefix = *p;
  if (auto l = args.Get("--language")) filter.language = *l;

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto& memory = (*node)->memory();
  PDAI_RETURN_IF_ERROR(CheckEmbeddingDimension(*dimension, memory.info()));
  const bool exact = filter.exact;
  auto hits = memory.SearchText(text, limit_results, filter);
  if (!hits.ok()) return hits.status();

  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint()).Set("query", text).Set("model", memory.info().vector_model).Set("exact", exact);
  Json results = Json::MakeArray();
  for (const auto& h : *hits) {
    Json r = Json::MakeObject();
    r.Set("path", h.path)
        .Set("id", h.id)
        .Set("chunk", static_cast<std::uint64_t>(h.chunk))
        .Set("language", h.language)
        .Set("score", static_cast<double>(h.score));
    results.Push(std::move(r));
  }
  j.Set("results", std::move(results));
  if (ctx.json()) return Status::Ok();
  if (hits->empty()) {
    std::printf("no stored code matches (has anything been ingested?)\n");
    return Status::Ok();
  }
  std::printf("%6s  %5s  %s\n", "score", "chunk", "path");
  for (const auto& h : *hits) std::printf("%6.3f  %5u  %s\n", h.score, h.chunk, h.path.c_str());
  return Status::Ok();
}

}  // namespace postdevai::cli
