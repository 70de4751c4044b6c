// `search TEXT`: hybrid (keyword + vector) search over stored code; the
// vector side uses the built-in lexical embedder (the one `ingest` indexes
// with).
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "simd/lexical_index.h"

#include "postdevai/hybrid_memory.h"
#include "programs/cli/commands.h"
#include "programs/cli/embedding.h"

namespace postdevai::cli {
namespace {

struct SnippetLine {
  std::uint32_t number;
  std::string text;
};

// Up to `most` lines of the hit's chunk to show: those holding a word of the
// query (as the lexical index sees words), else the chunk's first non-blank.
std::vector<SnippetLine> Snippet(const std::string& content, std::uint32_t first, std::uint32_t last,
                                 const std::set<std::string>& query_terms, std::size_t most) {
  std::vector<SnippetLine> matching, leading;
  std::uint32_t number = 1;
  std::size_t start = 0;
  while (start <= content.size() && number <= last) {
    std::size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    if (number >= first) {
      std::size_t length = std::min<std::size_t>(end - start, 160);
      // Never cut a UTF-8 character in two.
      while (length > 0 && length < end - start && (static_cast<unsigned char>(content[start + length]) & 0xC0) == 0x80) {
        --length;
      }
      std::string line = content.substr(start, length);
      const bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
      bool matches = false;
      for (const auto& term : LexicalTerms(line)) matches = matches || query_terms.count(term) > 0;
      if (matches && matching.size() < most) matching.push_back({number, line});
      if (!blank && leading.size() < most) leading.push_back({number, line});
    }
    if (end == content.size()) break;
    start = end + 1;
    ++number;
  }
  return matching.empty() ? leading : matching;
}

}  // namespace

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
  if (auto s = args.Get("--session")) filter.session = *s;
  if (args.Has("--code-only") && (args.Has("--sessions-only") || args.Has("--session"))) {
    return Status::InvalidArgument("--code-only excludes --sessions-only and --session: choose one");
  }
  if (args.Has("--code-only")) filter.owner = SearchFilter::Owner::kCodeChunks;
  if (args.Has("--sessions-only")) filter.owner = SearchFilter::Owner::kHistoryMessages;
  std::string mode = args.Get("--mode").value_or("hybrid");
  if (mode == "hybrid") {
    filter.mode = SearchMode::kHybrid;
  } else if (mode == "lexical") {
    filter.mode = SearchMode::kLexical;
  } else if (mode == "vector") {
    filter.mode = SearchMode::kVector;
  } else {
    return Status::InvalidArgument("bad --mode '" + mode + "': hybrid, lexical or vector");
  }

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto& memory = (*node)->memory();
  PDAI_RETURN_IF_ERROR(CheckEmbeddingDimension(*dimension, memory.info()));
  const bool exact = filter.exact;
  auto hits = memory.SearchText(text, limit_results, filter);
  if (!hits.ok()) return hits.status();

  Json& j = ctx.result();
  // Snippets: each hit's file read back once (limit files at most); a
  // session hit's message, its lines numbered within the message (each
  // session read once).
  const std::vector<std::string> terms = LexicalTerms(text);
  const std::set<std::string> query_terms(terms.begin(), terms.end());
  std::vector<std::vector<SnippetLine>> snippets(hits->size());
  if (!args.Has("--no-snippet")) {
    std::map<std::string, Result<client::SessionContext>> sessions;
    for (std::size_t i = 0; i < hits->size(); ++i) {
      const auto& h = (*hits)[i];
      if (!h.session.empty()) {
        auto context = sessions.find(h.session);
        if (context == sessions.end()) context = sessions.emplace(h.session, memory.GetContext(h.session)).first;
        if (context->second.ok() && h.chunk < context->second->messages.size()) {
          snippets[i] = Snippet(context->second->messages[h.chunk], 1, std::numeric_limits<std::uint32_t>::max(), query_terms, 3);
        }
        continue;
      }
      if (h.first_line == 0 || h.id.empty()) continue;
      auto code = memory.GetCode(h.id);
      if (code.ok()) snippets[i] = Snippet(code->content, h.first_line, h.last_line, query_terms, 3);
    }
  }

  j.Set("node", (*node)->endpoint()).Set("query", text).Set("model", memory.info().vector_model).Set("exact", exact);
  j.Set("mode", mode);
  Json results = Json::MakeArray();
  auto snippet_of = [&](std::size_t i) {
    Json snippet = Json::MakeArray();
    for (const auto& line : snippets[i]) {
      Json l = Json::MakeObject();
      l.Set("line", static_cast<std::uint64_t>(line.number)).Set("text", line.text);
      snippet.Push(std::move(l));
    }
    return snippet;
  };
  for (std::size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    Json r = Json::MakeObject();
    if (!h.session.empty()) {
      r.Set("session", h.session).Set("message", static_cast<std::uint64_t>(h.chunk));
      r.Set("score", static_cast<double>(h.score))
          .Set("vector_score", static_cast<double>(h.vector_score))
          .Set("lexical_score", static_cast<double>(h.lexical_score));
      r.Set("snippet", snippet_of(i));  // lines of the message
      results.Push(std::move(r));
      continue;
    }
    r.Set("path", h.path)
        .Set("id", h.id)
        .Set("chunk", static_cast<std::uint64_t>(h.chunk))
        .Set("language", h.language)
        .Set("score", static_cast<double>(h.score))
        .Set("vector_score", static_cast<double>(h.vector_score))
        .Set("lexical_score", static_cast<double>(h.lexical_score));
    if (h.first_line > 0) {
      r.Set("first_line", static_cast<std::uint64_t>(h.first_line)).Set("last_line", static_cast<std::uint64_t>(h.last_line));
    }
    r.Set("snippet", snippet_of(i));
    results.Push(std::move(r));
  }
  j.Set("results", std::move(results));
  if (ctx.json()) return Status::Ok();
  if (hits->empty()) {
    if (query_terms.empty() && filter.mode != SearchMode::kVector) {
      std::printf("nothing to search for: '%s' has only common words or symbols; name what the code does\n",
                  text.c_str());
    } else {
      std::printf("no stored code matches (has anything been ingested?)\n");
    }
    return Status::Ok();
  }
  if (filter.mode == SearchMode::kVector) {
    std::printf("%6s  %5s  %s\n", "score", "chunk", "path or session");
    for (const auto& h : *hits) {
      std::printf("%6.3f  %5u  %s\n", h.score, h.chunk, h.session.empty() ? h.path.c_str() : h.session.c_str());
    }
    return Status::Ok();
  }
  for (std::size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    if (!h.session.empty()) {
      std::printf("session %s, message %u  (score %.4f)\n", h.session.c_str(), h.chunk, h.score);
    } else if (h.first_line > 0) {
      std::printf("%s:%u-%u  (score %.4f)\n", h.path.c_str(), h.first_line, h.last_line, h.score);
    } else {
      std::printf("%s  chunk %u  (score %.4f)\n", h.path.c_str(), h.chunk, h.score);
    }
    for (const auto& line : snippets[i]) std::printf("  %6u | %s\n", line.number, line.text.c_str());
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
