// Scenario `search-quality`: does the built-in search find the file a
// question is about? For each query set (a corpus directory and questions
// with the files that answer them, bench/search_quality/*.tsv):
//   1. every text file of the corpus is stored in an in-process engine with
//      the built-in lexical embedder (as `postdevai-cli ingest` does), and
//      indexed by Xapian (Debian's libxapian, BM25, whole files, the same
//      terms: simd/lexical_index.h LexicalTerms of path and content);
//   2. each question is searched in every mode (hybrid, lexical, vector) and
//      by Xapian; a hit is a right file among the first distinct files.
// Figures per set and mode: hit@1, hit@5, MRR (over the first 10 files),
// query latency; ingest rate; the ratio of hybrid's hit@5 to Xapian's.
// Goals (issue 13): hybrid hit@5 >= Xapian's and >= 0.9 on every set.
//
// Query file format: UTF-8 lines `question<TAB>file[|file...]`, files
// relative to the corpus; `# corpus: DIR` names the corpus; other lines
// starting with # are comments.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#ifdef POSTDEVAI_HAVE_XAPIAN
#include <xapian.h>
#endif

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "postdevai/config.h"
#include "postdevai/hybrid_memory.h"
#include "records/stored_values.h"
#include "simd/lexical_index.h"

namespace postdevai::bench {
namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr std::size_t kRanked = 10;  // files looked at for MRR

struct Question {
  std::string text;
  std::vector<std::string> answers;  // absolute paths
};

struct QuerySet {
  std::string name;
  std::string corpus;
  std::vector<Question> questions;
};

Result<QuerySet> LoadQuerySet(const std::string& file, const std::string& corpus_override) {
  std::ifstream in(file);
  if (!in) return Status::NotFound("cannot read the query file " + file);
  QuerySet set;
  set.name = std::filesystem::path(file).stem().string();
  set.corpus = corpus_override;
  std::vector<std::pair<std::string, std::string>> raw;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      const std::string tag = "# corpus:";
      if (set.corpus.empty() && line.rfind(tag, 0) == 0) {
        set.corpus = line.substr(tag.size());
        set.corpus.erase(0, set.corpus.find_first_not_of(" \t"));
      }
      continue;
    }
    const auto tab = line.find('\t');
    if (tab == std::string::npos || tab + 1 >= line.size()) {
      return Status::InvalidArgument(file + ":" + std::to_string(number) + ": expected question<TAB>file[|file...]");
    }
    raw.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  if (set.corpus.empty()) return Status::InvalidArgument(file + ": no corpus (give --corpus or a '# corpus: DIR' line)");
  while (set.corpus.size() > 1 && set.corpus.back() == '/') set.corpus.pop_back();
  for (auto& [text, answers] : raw) {
    Question q{text, {}};
    std::stringstream parts(answers);
    std::string part;
    while (std::getline(parts, part, '|')) {
      if (!part.empty()) q.answers.push_back(set.corpus + "/" + part);
    }
    set.questions.push_back(std::move(q));
  }
  return set;
}

struct CorpusFile {
  std::string path;
  std::string content;
};

// The text files of the corpus, as `ingest` picks them (no symlinks, no
// hidden or cache directories, nothing binary or over 1 MiB), in path order.
std::vector<CorpusFile> ReadCorpus(const std::string& root) {
  std::vector<CorpusFile> files;
  std::error_code ec;
  auto it = std::filesystem::recursive_directory_iterator(root, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    const std::string name = entry.path().filename().string();
    if (entry.is_symlink()) continue;
    if (entry.is_directory()) {
      if (name.starts_with(".") || name == "__pycache__") it.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file() || name.starts_with(".") || entry.file_size() > kMaxFileBytes) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.substr(0, 8000).find('\0') != std::string::npos) continue;
    files.push_back({entry.path().string(), std::move(content)});
  }
  std::sort(files.begin(), files.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return files;
}

std::uint64_t ElapsedNanos(Clock::time_point start) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

struct ModeFigures {
  double hits_at_1 = 0, hits_at_5 = 0, reciprocal_ranks = 0;
  LatencyRecorder latencies;
  std::vector<std::string> misses;  // questions with no right file in the first 5
  std::string error;
};

// Scores one ranking of distinct files (best first) against the answers.
void Score(const Question& q, const std::vector<std::string>& files, ModeFigures* f) {
  for (std::size_t i = 0; i < files.size() && i < kRanked; ++i) {
    if (std::find(q.answers.begin(), q.answers.end(), files[i]) == q.answers.end()) continue;
    if (i == 0) f->hits_at_1 += 1;
    if (i < 5) f->hits_at_5 += 1;
    f->reciprocal_ranks += 1.0 / static_cast<double>(i + 1);
    if (i >= 5) f->misses.push_back(q.text + "  (right file at rank " + std::to_string(i + 1) + ")");
    return;
  }
  f->misses.push_back(q.text + "  (first: " + (files.empty() ? std::string("nothing") : files[0]) + ")");
}

std::vector<std::string> DistinctFiles(const std::vector<SearchHit>& hits) {
  std::vector<std::string> files;
  for (const auto& h : hits) {
    if (std::find(files.begin(), files.end(), h.path) == files.end()) files.push_back(h.path);
  }
  return files;
}

void WriteMode(JsonWriter& w, const std::string& name, ModeFigures& f, std::size_t questions) {
  const double n = static_cast<double>(std::max<std::size_t>(1, questions));
  w.Key(name).BeginObject();
  w.Field("hit_at_1", f.hits_at_1 / n);
  w.Field("hit_at_5", f.hits_at_5 / n);
  w.Field("mrr_at_10", f.reciprocal_ranks / n);
  w.Field("query_p50_ms", f.latencies.PercentileMicros(0.5) / 1000);
  w.Field("query_p99_ms", f.latencies.PercentileMicros(0.99) / 1000);
  if (!f.error.empty()) w.Field("error", f.error);
  w.Key("misses_at_5").BeginArray();
  for (const auto& m : f.misses) w.String(m);
  w.EndArray();
  w.EndObject();
}

HybridMemoryConfig EngineConfig(const std::string& dir, bool lexical_index, double ramlake_gb = 1.0) {
  HybridMemoryConfig c = EmbeddedDefaults();
  c.persistent_path = dir + "/data";
  c.persistent_size_tb = 16.0 / 1024;
  c.ramlake_path = dir + "/ram";
  c.ramlake_size_gb = ramlake_gb;
  c.cache_size_mb = 64;
  c.wal.archive = false;
  c.search.lexical_index = lexical_index;
  return c;
}

// Stores every file with the built-in embedder; seconds taken.
double Ingest(HybridMemory& memory, const std::vector<CorpusFile>& files, const std::string& prefix,
              std::uint64_t* refused) {
  const auto started = Clock::now();
  for (const auto& f : files) {
    if (!memory.StoreAndIndexCodeLexical(prefix + f.path, f.content, "").ok()) ++*refused;
  }
  return SecondsSince(started);
}

struct SetResult {
  bool ok = true;
  double hybrid_hit_at_5 = 0, xapian_hit_at_5 = -1;
  double ingest_ratio = -1;  // throughput with the lexical index / without
};

SetResult RunSet(const QuerySet& set, bool with_xapian, JsonWriter& w) {
  SetResult result;
  w.BeginObject();
  w.Field("set", set.name);
  w.Field("corpus", set.corpus);
  w.Field("questions", static_cast<std::uint64_t>(set.questions.size()));
  std::fprintf(stderr, "search-quality: %s: reading %s\n", set.name.c_str(), set.corpus.c_str());
  const auto files = ReadCorpus(set.corpus);
  std::uint64_t bytes = 0;
  for (const auto& f : files) bytes += f.content.size();
  w.Field("files", static_cast<std::uint64_t>(files.size()));
  w.Field("corpus_mb", static_cast<double>(bytes) / 1e6);
  // Answers that are not in the corpus would count as misses of every mode.
  std::set<std::string> present;
  for (const auto& f : files) present.insert(f.path);
  std::uint64_t missing_answers = 0;
  for (const auto& q : set.questions) {
    for (const auto& a : q.answers) missing_answers += present.count(a) ? 0 : 1;
  }
  w.Field("answers_not_in_corpus", missing_answers);

  const std::string dir = MakeScratchDir("search-quality");
  double ingest_seconds = 0;
  {
    auto opened = HybridMemory::Open(EngineConfig(dir, true));
    if (!opened.ok()) {
      w.Field("error", opened.status().ToString());
      w.EndObject();
      RemoveTree(dir);
      result.ok = false;
      return result;
    }
    auto& memory = **opened;
    std::uint64_t refused = 0;
    const double ingest_s = Ingest(memory, files, "", &refused);
    ingest_seconds = ingest_s;
    w.Field("ingest_s", ingest_s);
    w.Field("ingest_files_per_s", static_cast<double>(files.size()) / ingest_s);
    w.Field("ingest_mb_per_s", static_cast<double>(bytes) / 1e6 / ingest_s);
    w.Field("files_refused", refused);
    std::fprintf(stderr, "search-quality: %s: %zu files (%.1f MB) stored in %.1f s\n", set.name.c_str(), files.size(),
                 static_cast<double>(bytes) / 1e6, ingest_s);

    const std::vector<std::pair<std::string, SearchMode>> modes = {
        {"hybrid", SearchMode::kHybrid}, {"lexical", SearchMode::kLexical}, {"vector", SearchMode::kVector}};
    for (const auto& [name, mode] : modes) {
      ModeFigures figures;
      SearchFilter filter;
      filter.mode = mode;
      // Vector mode lists chunks: ask deep enough for 10 distinct files.
      const std::size_t limit = mode == SearchMode::kVector ? 100 : kRanked;
      for (const auto& q : set.questions) {
        const auto t0 = Clock::now();
        auto hits = memory.SearchText(q.text, limit, filter);
        figures.latencies.Add(ElapsedNanos(t0));
        if (!hits.ok()) {
          if (figures.error.empty()) figures.error = hits.status().ToString();
          Score(q, {}, &figures);
          continue;
        }
        Score(q, DistinctFiles(*hits), &figures);
      }
      if (name == "hybrid") result.hybrid_hit_at_5 = figures.hits_at_5 / static_cast<double>(set.questions.size());
      WriteMode(w, name, figures, set.questions.size());
    }
  }
  RemoveTree(dir);
  // What keeping the lexical index costs: the same ingest into fresh engines
  // without it and (again) with it, alternating, three of each with the one
  // above; medians, so that a pause of the machine in one short ingest (CAF's
  // headers take 0.3 s) does not decide the ratio.
  {
    std::vector<double> with = {ingest_seconds}, without;
    auto ingest_fresh = [&](bool lexical) -> std::optional<double> {
      const std::string scratch = MakeScratchDir("search-quality-ingest");
      std::optional<double> seconds;
      {
        auto opened = HybridMemory::Open(EngineConfig(scratch, lexical));
        std::uint64_t refused = 0;
        if (opened.ok()) seconds = Ingest(**opened, files, "", &refused);
      }
      RemoveTree(scratch);
      return seconds;
    };
    for (int run = 0; run < 3; ++run) {
      if (auto s = ingest_fresh(false)) without.push_back(*s);
      if (run < 2) {
        if (auto s = ingest_fresh(true)) with.push_back(*s);
      }
    }
    if (!without.empty()) {
      w.Field("ingest_with_lexical_index_median_s", Median(with));
      w.Field("ingest_without_lexical_index_s", Median(without));
      // Throughput with the index over throughput without (goal >= 0.7).
      result.ingest_ratio = Median(without) / std::max(1e-9, Median(with));
      w.Field("ingest_with_to_without_lexical_index_ratio", result.ingest_ratio);
    }
  }

#ifdef POSTDEVAI_HAVE_XAPIAN
  if (with_xapian) {
    Xapian::WritableDatabase db(std::string(), Xapian::DB_BACKEND_INMEMORY);
    const auto started = Clock::now();
    for (const auto& f : files) {
      Xapian::Document doc;
      for (const auto& term : LexicalTerms(f.content)) doc.add_term(term);
      for (const auto& term : LexicalTerms(f.path)) doc.add_term(term);
      doc.set_data(f.path);
      db.add_document(doc);
    }
    db.commit();
    w.Field("xapian_index_s", SecondsSince(started));
    ModeFigures figures;
    Xapian::Enquire enquire(db);  // BM25Weight by default
    for (const auto& q : set.questions) {
      const auto t0 = Clock::now();
      const auto terms = LexicalTerms(q.text);
      std::vector<std::string> files_found;
      if (!terms.empty()) {
        enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end()));
        Xapian::MSet mset = enquire.get_mset(0, kRanked);
        for (auto m = mset.begin(); m != mset.end(); ++m) files_found.push_back(m.get_document().get_data());
      }
      figures.latencies.Add(ElapsedNanos(t0));
      Score(q, files_found, &figures);
    }
    result.xapian_hit_at_5 = figures.hits_at_5 / static_cast<double>(set.questions.size());
    WriteMode(w, "xapian_bm25", figures, set.questions.size());
    w.Field("hybrid_hit_at_5_to_xapian_ratio",
            result.xapian_hit_at_5 > 0 ? result.hybrid_hit_at_5 / result.xapian_hit_at_5 : 0.0);
  }
#else
  (void)with_xapian;
  w.Field("xapian_bm25", "absent (install libxapian-dev and rebuild)");
#endif
  w.EndObject();
  std::fprintf(stderr, "search-quality: %s: hybrid hit@5 %.2f, xapian %.2f\n", set.name.c_str(),
               result.hybrid_hit_at_5, result.xapian_hit_at_5);
  return result;
}

// Waits (at most two minutes) until this process's background work (LevelDB
// compactions, index snapshots after a large ingest) has settled: less than
// 5% of a core used over a second. Latencies measured meanwhile would be
// the compactions'. Returns the seconds waited.
double WaitForQuiet() {
  auto cpu_seconds = [] {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const auto started = Clock::now();
  for (int i = 0; i < 120; ++i) {
    const double before = cpu_seconds();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (cpu_seconds() - before < 0.05) break;
  }
  return SecondsSince(started);
}

// Query latency at scale: every set's corpus, stored again and again under
// new paths until the store holds `chunks` chunks (copies of several trees,
// not of one: a few copies of each file, as forks and vendored trees make),
// then every question timed in vector, hybrid and lexical mode (goal:
// hybrid <= 2x vector at 200K).
// Returns the hybrid / vector latency ratio (-1 if not measured).
double RunScale(const std::vector<QuerySet>& sets, std::size_t chunks, JsonWriter& w) {
  double ratio = -1;
  std::vector<CorpusFile> files;
  std::set<std::string> corpora;
  QuerySet set;  // every question
  for (const auto& s : sets) {
    if (corpora.insert(s.corpus).second) {
      auto more = ReadCorpus(s.corpus);
      files.insert(files.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    set.questions.insert(set.questions.end(), s.questions.begin(), s.questions.end());
  }
  std::size_t per_copy = 0;
  for (const auto& f : files) per_copy += std::max<std::size_t>(1, records::SplitIntoChunks(f.content).size());
  w.Key("scale").BeginObject();
  std::string names;
  for (const auto& c : corpora) names += (names.empty() ? "" : " ") + c;
  w.Field("corpora", names);
  if (per_copy == 0) {
    w.Field("error", "empty corpus").EndObject();
    return ratio;
  }
  const std::size_t copies = (chunks + per_copy - 1) / per_copy;
  w.Field("copies", static_cast<std::uint64_t>(copies));
  w.Field("chunks", static_cast<std::uint64_t>(copies * per_copy));
  w.Field("files", static_cast<std::uint64_t>(copies * files.size()));
  const std::string dir = MakeScratchDir("search-quality-scale");
  {
    auto opened = HybridMemory::Open(EngineConfig(dir, true, 4.0));
    if (!opened.ok()) {
      w.Field("error", opened.status().ToString()).EndObject();
      RemoveTree(dir);
      return ratio;
    }
    std::uint64_t refused = 0;
    double seconds = 0;
    for (std::size_t c = 0; c < copies; ++c) {
      seconds += Ingest(**opened, files, "/copy" + std::to_string(c), &refused);
      std::fprintf(stderr, "search-quality: scale: %zu of %zu copies stored\r", c + 1, copies);
    }
    std::fprintf(stderr, "\n");
    w.Field("ingest_s", seconds);
    w.Field("files_refused", refused);
    w.Field("settle_s", WaitForQuiet());
    double p50[3] = {0, 0, 0};
    const SearchMode modes[3] = {SearchMode::kVector, SearchMode::kHybrid, SearchMode::kLexical};
    const char* names[3] = {"vector", "hybrid", "lexical"};
    // Each question in the three modes one after the other, three rounds:
    // a pause of the machine or a background job (a checkpoint, an index
    // snapshot) then lands on every mode alike, not on the one being timed.
    LatencyRecorder latencies[3];
    std::string errors[3];
    for (int round = 0; round < 3; ++round) {
      for (const auto& q : set.questions) {
        for (int m = 0; m < 3; ++m) {
          SearchFilter filter;
          filter.mode = modes[m];
          const auto t0 = Clock::now();
          auto hits = (*opened)->SearchText(q.text, 10, filter);
          latencies[m].Add(ElapsedNanos(t0));
          if (!hits.ok() && errors[m].empty()) errors[m] = hits.status().ToString();
        }
      }
    }
    for (int m = 0; m < 3; ++m) {
      if (!errors[m].empty()) w.Field(std::string(names[m]) + "_error", errors[m]);
      p50[m] = latencies[m].PercentileMicros(0.5) / 1000;
      w.Field(std::string(names[m]) + "_query_p50_ms", p50[m]);
      w.Field(std::string(names[m]) + "_query_p99_ms", latencies[m].PercentileMicros(0.99) / 1000);
    }
    ratio = p50[0] > 0 ? p50[1] / p50[0] : -1;
    w.Field("hybrid_to_vector_latency_ratio", ratio);
  }
  RemoveTree(dir);
  w.EndObject();
  return ratio;
}

}  // namespace

int RunSearchQualityBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench search-quality [--queries FILE]... [--corpus DIR] [--no-xapian] [--scale-chunks N] [--json]\n"
        "  Stores a corpus with the built-in embedder, asks each question in every search mode\n"
        "  and of Xapian's BM25 (same terms, whole files): hit@1, hit@5, MRR, latency.\n"
        "  Default: every bench/search_quality/*.tsv of the source tree, each on its own corpus.\n"
        "  --corpus DIR overrides the query file's '# corpus:' line (one --queries only).\n"
        "  --scale-chunks N: also time vector, hybrid and lexical queries with every set's corpus\n"
        "  stored again and again until N chunks (200000 for the issue's goal).\n");
    return 0;
  }
  std::vector<std::string> query_files;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--queries") query_files.push_back(args[i + 1]);
  }
  const std::string corpus = OptionValue(args, "--corpus", "");
  if (!corpus.empty() && query_files.size() != 1) {
    std::fprintf(stderr, "search-quality: --corpus goes with exactly one --queries FILE\n");
    return 2;
  }
  if (query_files.empty()) {
    const std::filesystem::path dir = std::filesystem::path(POSTDEVAI_SOURCE_DIR) / "bench" / "search_quality";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".tsv") query_files.push_back(e.path().string());
    }
    std::sort(query_files.begin(), query_files.end());
    if (query_files.empty()) {
      std::fprintf(stderr, "search-quality: no query files in %s; give --queries FILE\n", dir.c_str());
      return 2;
    }
  }
  std::vector<QuerySet> sets;
  for (const auto& file : query_files) {
    auto set = LoadQuerySet(file, corpus);
    if (!set.ok()) {
      std::fprintf(stderr, "search-quality: %s\n", set.status().ToString().c_str());
      return 2;
    }
    if (!std::filesystem::is_directory(set->corpus)) {
      std::fprintf(stderr, "search-quality: %s: the corpus %s is not a directory on this machine\n", file.c_str(),
                   set->corpus.c_str());
      return 2;
    }
    sets.push_back(std::move(*set));
  }

  JsonWriter w;
  w.BeginObject();
  w.Field("scenario", "search-quality");
  w.Field("embedder", "lexical-v1 (built-in)");
  w.Field("fusion", "reciprocal rank fusion, k=60, per file");
  w.Key("sets").BeginArray();
  bool ok = true, goals = true, ingest = true;
  for (const auto& set : sets) {
    SetResult r = RunSet(set, !HasFlag(args, "--no-xapian"), w);
    ok = ok && r.ok;
    goals = goals && r.hybrid_hit_at_5 >= 0.9 && r.hybrid_hit_at_5 >= r.xapian_hit_at_5;
    ingest = ingest && r.ingest_ratio >= 0.7;
  }
  w.EndArray();
  double scale_ratio = -1;
  if (const long long scale = OptionInt(args, "--scale-chunks", 0); scale > 0) {
    scale_ratio = RunScale(sets, static_cast<std::size_t>(scale), w);
  }
  w.Key("goals").BeginArray();
  w.BeginObject().Field("goal", "hybrid hit@5 >= 0.9 and >= Xapian BM25's on every set").Field("met", goals).EndObject();
  w.BeginObject()
      .Field("goal", "ingest with the lexical index >= 0.7x the throughput without it, on every set")
      .Field("met", ingest)
      .EndObject();
  if (scale_ratio >= 0) {
    w.BeginObject()
        .Field("goal", "hybrid query p50 <= 2x a vector query's at the --scale-chunks size")
        .Field("value", scale_ratio)
        .Field("met", scale_ratio <= 2.0)
        .EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::printf("%s\n", w.str().c_str());
  return ok ? 0 : 1;
}

}  // namespace postdevai::bench
