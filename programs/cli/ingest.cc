// `ingest DIR`: walks a source tree and streams every text file to the node
// (IngestCode) as a code record (the same record `code put` writes); the node
// writes them in batches: one batch is one WAL record and one fsync, so a
// tree of thousands of small files costs tens of fsyncs, not thousands.
//
// Indexing: each file is split into chunks of about 1.5 KiB at line ends,
// every chunk embedded by the node's built-in lexical embedder (model
// "lexical-v1"), and the file's vectors written in the same batch as its code
// record, so a stored file is searchable at once (`search TEXT`). A node whose
// [vectors] model is another is refused before anything is sent, naming
// both; --no-index stores the code only.
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "postdevai/hybrid_memory.h"
#include "programs/cli/commands.h"
#include "programs/cli/embedding.h"

namespace postdevai::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Directories that hold version control or build output, not sources.
bool IsSkippedDirectory(const std::string& name) {
  static const char* kNames[] = {".git", ".hg", ".svn", "build", "node_modules", "__pycache__", ".cache",
                                 "target", ".venv", "venv", "CMakeFiles"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return name.rfind("build-", 0) == 0 || name.rfind("cmake-build-", 0) == 0;
}

// One directory's .gitignore: the subset of git's rules that source trees
// use. Blank lines and # comments are skipped; `!` re-includes; a trailing
// `/` matches directories only; a pattern with a `/` before its end is
// anchored to the .gitignore's directory, one without matches a name at any
// depth below it; `*`, `?`, `[...]` as in fnmatch, and `**/` for any number
// of directories.
struct IgnoreRules {
  struct Rule {
    std::string pattern;
    bool negated = false;
    bool directories_only = false;
    bool anchored = false;
  };
  std::vector<Rule> rules;

  static IgnoreRules Load(const fs::path& file) {
    IgnoreRules r;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      while (!line.empty() && line.back() == ' ') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      Rule rule;
      if (line[0] == '!') {
        rule.negated = true;
        line.erase(0, 1);
      }
      if (!line.empty() && line.back() == '/') {
        rule.directories_only = true;
        line.pop_back();
      }
      if (line.rfind("**/", 0) == 0) {
        line.erase(0, 3);  // any depth: as a name pattern
      } else if (line.find('/') != std::string::npos) {
        rule.anchored = true;
        if (line[0] == '/') line.erase(0, 1);
      }
      if (line.empty()) continue;
      rule.pattern = line;
      r.rules.push_back(std::move(rule));
    }
    return r;
  }

  // Whether `relative` (to the .gitignore's directory) is ignored, not
  // ignored (re-included), or not mentioned: the last matching rule decides.
  std::optional<bool> Match(const std::string& relative, bool is_directory) const {
    std::optional<bool> verdict;
    const std::string name = fs::path(relative).filename().string();
    for (const auto& rule : rules) {
      if (rule.directories_only && !is_directory) continue;
      const bool hit = rule.anchored ? fnmatch(rule.pattern.c_str(), relative.c_str(), FNM_PATHNAME) == 0
                                     : fnmatch(rule.pattern.c_str(), name.c_str(), 0) == 0;
      if (hit) verdict = !rule.negated;
    }
    return verdict;
  }
};

// The .gitignore files of a walk, by directory; an entry is ignored when the
// nearest .gitignore that has a say about it says so (git's precedence).
class GitIgnores {
 public:
  explicit GitIgnores(fs::path root) : root_(std::move(root)) { Enter(root_); }
  // Reads dir/.gitignore, if there is one; call for each directory walked.
  void Enter(const fs::path& dir) {
    std::error_code ec;
    const fs::path file = dir / ".gitignore";
    if (fs::is_regular_file(file, ec)) rules_[dir] = IgnoreRules::Load(file);
  }
  bool Ignored(const fs::path& path, bool is_directory) const {
    for (fs::path dir = path.parent_path();; dir = dir.parent_path()) {
      auto it = rules_.find(dir);
      if (it != rules_.end()) {
        if (auto verdict = it->second.Match(path.lexically_relative(dir).generic_string(), is_directory)) {
          return *verdict;
        }
      }
      if (dir == root_ || dir == dir.parent_path()) return false;
    }
  }

 private:
  fs::path root_;
  std::map<fs::path, IgnoreRules> rules_;
};

// Git's rule: a NUL byte in the first 8000 bytes makes a file binary.
bool LooksBinary(const std::string& content) {
  const std::size_t n = std::min<std::size_t>(content.size(), 8000);
  return std::memchr(content.data(), '\0', n) != nullptr;
}

struct Candidate {
  fs::path local;           // where to read it
  std::string stored_path;  // the path it is stored under (and `code get --path` finds)
  std::uint64_t size = 0;
};

// Progress on stderr: a redrawn bar on a terminal, a plain line every
// couple of seconds otherwise (logs and CI keep readable output).
class Progress {
 public:
  Progress(std::uint64_t total_files, std::uint64_t total_bytes)
      : tty_(::isatty(STDERR_FILENO) != 0),
        total_files_(total_files),
        total_bytes_(total_bytes),
        start_(Clock::now()),
        last_(start_) {}

  void Update(std::uint64_t files, std::uint64_t bytes, const std::string& current) {
    const auto now = Clock::now();
    const auto since = now - last_;
    if (since < (tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000))) return;
    last_ = now;
    Draw(files, bytes, current, false);
  }

  void Finish(std::uint64_t files, std::uint64_t bytes) {
    Draw(files, bytes, "", true);
  }

 private:
  void Draw(std::uint64_t files, std::uint64_t bytes, const std::string& current, bool done) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
    const double fraction = total_bytes_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_bytes_));
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(kWidth, ' ');
      std::string name = current;
      if (name.size() > 30) name = "..." + name.substr(name.size() - 27);
      std::fprintf(stderr, "\r[%s] %3.0f%% %llu/%llu files %s %s/s %-30s", bar.c_str(), fraction * 100.0,
                   static_cast<unsigned long long>(files), static_cast<unsigned long long>(total_files_),
                   FormatBytes(bytes).c_str(), FormatBytes(static_cast<std::uint64_t>(rate)).c_str(), name.c_str());
      if (done) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "ingest: %llu/%llu files, %s of %s (%.0f%%), %s/s\n", static_cast<unsigned long long>(files),
                   static_cast<unsigned long long>(total_files_), FormatBytes(bytes).c_str(),
                   FormatBytes(total_bytes_).c_str(), fraction * 100.0,
                   FormatBytes(static_cast<std::uint64_t>(rate)).c_str());
    }
    std::fflush(stderr);
  }

  bool tty_;
  std::uint64_t total_files_, total_bytes_;
  Clock::time_point start_;
  Clock::time_point last_;
};

}  // namespace

Status Ingest(CommandContext& ctx, const ParsedArgs& args) {
  const std::string dir = args.positionals[0];
  std::uint64_t max_file_bytes = 4u << 20;
  if (auto v = args.Get("--max-file-bytes")) {
    auto n = ParseCount(*v, 1ull << 30, "--max-file-bytes");
    if (!n.ok()) return n.status();
    max_file_bytes = *n;
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::InvalidArgument("DIR " + dir + " is not a directory" + (ec ? ": " + ec.message() : ""));
  }

  // Walk first, so that the progress bar knows the total.
  std::vector<Candidate> candidates;
  std::uint64_t skipped_dirs = 0, skipped_special = 0, skipped_too_large = 0, skipped_unreadable = 0;
  std::uint64_t skipped_hidden = 0, skipped_ignored = 0;
  std::uint64_t total_bytes = 0;
  const fs::path root(dir);
  const bool hidden = args.Has("--hidden");
  const bool use_gitignore = !args.Has("--no-gitignore");
  GitIgnores ignores(root);
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::IoError("cannot walk " + dir + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      ++skipped_unreadable;
      ec.clear();
      continue;
    }
    const fs::directory_entry& e = *it;
    // Symlinks are skipped, files and directories alike: following them can
    // loop, store a file twice, or leave the tree.
    if (e.is_symlink(ec)) {
      ++skipped_special;
      continue;
    }
    const std::string name = e.path().filename().string();
    const bool is_directory = e.is_directory(ec);
    // Dot-files hold secrets as often as code (.env, .npmrc): not stored
    // unless asked for.
    if (!hidden && name.size() > 1 && name[0] == '.') {
      ++(is_directory ? skipped_dirs : skipped_hidden);
      if (is_directory) it.disable_recursion_pending();
      continue;
    }
    if (use_gitignore && ignores.Ignored(e.path(), is_directory)) {
      ++skipped_ignored;
      if (is_directory) it.disable_recursion_pending();
      continue;
    }
    if (is_directory) {
      if (IsSkippedDirectory(name)) {
        ++skipped_dirs;
        it.disable_recursion_pending();
      } else if (use_gitignore) {
        ignores.Enter(e.path());
      }
      continue;
    }
    if (!e.is_regular_file(ec)) {
      ++skipped_special;
      continue;
    }
    const std::uint64_t size = e.file_size(ec);
    if (ec) {
      ++skipped_unreadable;
      continue;
    }
    if (size > max_file_bytes) {
      ++skipped_too_large;
      ctx.Log("skipping " + e.path().string() + ": " + FormatBytes(size) + " (over --max-file-bytes)");
      continue;
    }
    // Stored as the user would name it from here: DIR joined with the path
    // inside it, so `code get --path` takes the same spelling.
    candidates.push_back(Candidate{e.path(), e.path().lexically_normal().string(), size});
    total_bytes += size;
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.stored_path < b.stored_path; });

  auto dimension = ParseDimensionFlag(args);
  if (!dimension.ok()) return dimension.status();
  auto node = ctx.Node();
  if (!node.ok()) return node.status();

  const bool index = !args.Has("--no-index");
  auto& memory = (*node)->memory();
  PDAI_RETURN_IF_ERROR(CheckEmbeddingDimension(*dimension, memory.info()));
  if (index && memory.info().vector_model != "lexical-v1") {
    return Status::InvalidArgument("ingest indexes with the built-in lexical embedder ('lexical-v1'), but node " +
                                   (*node)->endpoint() + " stores '" + memory.info().vector_model +
                                   "' vectors; give --no-index, or index through the API with your own embeddings");
  }
  std::uint64_t skipped_binary = 0, seen_bytes = 0, processed = 0;
  Progress progress(candidates.size(), total_bytes);
  const auto start = Clock::now();

  // One stream: the node writes the files in batches (one WAL record and
  // one fsync each) and lists the files it refuses; reading a file happens
  // while the node writes the previous batch.
  std::size_t next_candidate = 0;
  auto next = [&](client::CodeFile* file) -> bool {
    while (next_candidate < candidates.size()) {
      const Candidate& c = candidates[next_candidate++];
      ++processed;
      std::ifstream in(c.local, std::ios::binary);
      std::string content;
      if (in) content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      seen_bytes += c.size;
      progress.Update(processed, seen_bytes, c.stored_path);
      if (!in || in.bad()) {
        ++skipped_unreadable;
        ctx.Log("skipping " + c.local.string() + ": cannot read it");
        continue;
      }
      if (LooksBinary(content)) {
        ++skipped_binary;
        continue;
      }
      *file = client::CodeFile{c.stored_path, std::move(content), LanguageForPath(c.stored_path), {}, index};
      return true;
    }
    return false;
  };
  auto summary = memory.IngestCode(next);
  if (!summary.ok()) return summary.status().WithContext("ingest stopped after " + std::to_string(processed) + " files");
  for (const auto& r : summary->refused) ctx.Log("skipping " + r.path + ": " + r.reason);
  const std::uint64_t skipped_refused = summary->refused.size();
  const std::uint64_t stored_files = summary->files, stored_bytes = summary->bytes, batches = summary->batches,
                      last_lsn = summary->last_lsn;
  progress.Finish(processed, seen_bytes);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  Json& j = ctx.result();
  Json skipped = Json::MakeObject();
  skipped.Set("binary", skipped_binary)
      .Set("too_large", skipped_too_large + skipped_refused)
      .Set("unreadable", skipped_unreadable)
      .Set("special", skipped_special)
      .Set("directories", skipped_dirs)
      .Set("hidden", skipped_hidden)
      .Set("gitignored", skipped_ignored);
  j.Set("dir", dir)
      .Set("files", stored_files)
      .Set("bytes", stored_bytes)
      .Set("seconds", seconds)
      .Set("batches", batches)
      .Set("last_lsn", last_lsn)
      .Set("skipped", std::move(skipped))
      .Set("indexed", index)
      .Set("embedding_model", index ? Json(memory.info().vector_model) : Json())
      .Set("embedding_dimension", index ? Json(static_cast<std::uint64_t>(memory.info().vector_dimension)) : Json());
  if (!ctx.json()) {
    std::printf("ingested %llu files (%s) from %s in %s (%s/s), %llu write batches, last LSN %llu\n",
                static_cast<unsigned long long>(stored_files), FormatBytes(stored_bytes).c_str(), dir.c_str(),
                FormatSeconds(seconds).c_str(),
                FormatBytes(seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(stored_bytes) / seconds) : 0).c_str(),
                static_cast<unsigned long long>(batches), static_cast<unsigned long long>(last_lsn));
    std::printf("skipped: %llu binary, %llu too large, %llu unreadable, %llu symlinks/special, %llu build/VCS/hidden "
                "directories, %llu hidden files, %llu matched by .gitignore\n",
                static_cast<unsigned long long>(skipped_binary),
                static_cast<unsigned long long>(skipped_too_large + skipped_refused),
                static_cast<unsigned long long>(skipped_unreadable), static_cast<unsigned long long>(skipped_special),
                static_cast<unsigned long long>(skipped_dirs), static_cast<unsigned long long>(skipped_hidden),
                static_cast<unsigned long long>(skipped_ignored));
    if (index) {
      std::printf("indexed for search with the built-in lexical embedder (%s, %zu dimensions)\n",
                  memory.info().vector_model.c_str(), static_cast<std::size_t>(memory.info().vector_dimension));
    } else {
      std::printf("not indexed (--no-index)\n");
    }
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
