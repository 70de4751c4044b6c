// postdevai-bench compress: how well the persistent store compresses a real
// source tree stored as code chunks, with and without its trained per-kind
// dictionary, beside zstd -3 on each whole file (the peer: what compressing
// files one by one, as a file-level store would, gets).
//
// Every text file under --corpus (default /usr/include) is split at line
// boundaries into chunks of 1-2 KiB, as a code-chunk store holds them, and
// ingested into a fresh PersistentStore twice: dictionary off, then on
// (trained automatically from the records stored so far, at the store's
// threshold and again as the kind grows, exactly as in production). Ratios are raw bytes over stored value bytes, our
// value headers included; the on-disk ratio also counts keys and LevelDB's
// table overhead. Every record is read back and compared.
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "bench/scenarios.h"
#include "storage/persistent_store.h"

namespace postdevai::bench {

namespace {

constexpr std::size_t kChunkMin = 1024;
constexpr std::size_t kChunkMax = 2048;
constexpr std::size_t kMaxFileBytes = 16u << 20;  // skip generated monsters beyond this

struct Chunk {
  std::string key;
  std::string text;
};

struct Corpus {
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t peer_compressed_bytes = 0;  // zstd -3 per whole file
  double peer_seconds = 0;
  std::vector<Chunk> chunks;
};

bool LooksLikeText(const std::string& data) {
  return data.find('\0') == std::string::npos;
}

// Splits at line ends into chunks that end at the first line end past
// kChunkMin, never exceeding kChunkMax: a chunk that would is ended at the
// previous line end (so it may be shorter), and only a single line longer
// than kChunkMax is cut. A file's last chunk may be shorter too.
void SplitIntoChunks(const std::string& name, const std::string& text, std::vector<Chunk>* out) {
  std::size_t start = 0, index = 0;
  auto emit = [&](std::size_t end) {
    std::string key = name;
    key += '#';
    key += std::to_string(index++);
    out->push_back(Chunk{std::move(key), text.substr(start, end - start)});
    start = end;
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t line_end = nl == std::string::npos ? text.size() : nl + 1;
    if (line_end - start > kChunkMax) {
      if (pos > start) {
        emit(pos);  // end the chunk at the last line boundary, short or not
      } else {
        emit(start + kChunkMax);  // a single line longer than a chunk: cut it
        pos = start;
      }
      continue;
    }
    pos = line_end;
    if (pos - start >= kChunkMin) emit(pos);
  }
  if (start < text.size()) emit(text.size());
}

Corpus LoadCorpus(const std::string& root, std::uint64_t max_bytes) {
  Corpus corpus;
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    // Symlinks are skipped: they would count the same bytes twice.
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    if (it->file_size(ec) == 0 || it->file_size(ec) > kMaxFileBytes) continue;
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string frame;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (data.empty() || !LooksLikeText(data)) continue;
    if (max_bytes > 0 && corpus.bytes + data.size() > max_bytes) break;
    corpus.files += 1;
    corpus.bytes += data.size();
    frame.resize(ZSTD_compressBound(data.size()));
    auto start = Clock::now();
    std::size_t n = ZSTD_compressCCtx(cctx, frame.data(), frame.size(), data.data(), data.size(), 3);
    corpus.peer_seconds += SecondsSince(start);
    corpus.peer_compressed_bytes += ZSTD_isError(n) ? data.size() : n;
    SplitIntoChunks(std::filesystem::relative(path, root).string(), data, &corpus.chunks);
  }
  ZSTD_freeCCtx(cctx);
  return corpus;
}

struct StoreRun {
  bool ok = false;
  double ingest_seconds = 0;  // writes + the final Checkpoint (durable)
  double read_seconds = 0;    // every record decoded by ForEach
  storage::KindStats stats;
  std::uint64_t raw_1_2kib = 0, stored_1_2kib = 0, records_1_2kib = 0;
  std::uint64_t records_without_dictionary = 0;
  std::uint64_t mismatches = 0;
  std::size_t dictionaries = 0;      // trained automatically during ingest
  std::size_t dictionary_bytes = 0;  // of the last one
};

StoreRun RunStore(const Corpus& corpus, const std::string& dir, bool use_dictionary, int level,
                  std::size_t dictionary_kib) {
  StoreRun run;
  storage::PersistentStoreOptions options;
  options.path = dir;
  options.kinds[storage::KindIndex(storage::Kind::kCode)] = storage::KindCompressionOptions{level, use_dictionary};
  options.dictionary_bytes = dictionary_kib << 10;
  auto store = storage::PersistentStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "compress: %s\n", store.status().ToString().c_str());
    return run;
  }
  auto start = Clock::now();
  storage::StoreWriteBatch batch;
  std::uint64_t lsn = 0;
  for (const auto& chunk : corpus.chunks) {
    batch.Put(storage::Kind::kCode, chunk.key, chunk.text, ++lsn);
    if (batch.size() == 64) {  // batches as the store actor applies them
      Status s = (*store)->Write(batch);
      if (!s.ok()) {
        std::fprintf(stderr, "compress: %s\n", s.ToString().c_str());
        return run;
      }
      batch.Clear();
    }
  }
  Status s = (*store)->Write(batch);
  if (s.ok()) s = (*store)->Checkpoint(lsn);
  run.ingest_seconds = SecondsSince(start);
  if (s.ok()) s = (*store)->Compact();  // settle LevelDB so the on-disk estimate covers everything
  if (!s.ok()) {
    std::fprintf(stderr, "compress: %s\n", s.ToString().c_str());
    return run;
  }

  std::unordered_map<std::string_view, const std::string*> expected;
  expected.reserve(corpus.chunks.size());
  for (const auto& chunk : corpus.chunks) expected.emplace(chunk.key, &chunk.text);
  std::uint64_t seen = 0;
  start = Clock::now();
  s = (*store)->ForEach(storage::Kind::kCode, [&](const storage::StoredRecord& r) {
    auto it = expected.find(r.key);
    if (it == expected.end() || *it->second != r.value) run.mismatches += 1;
    seen += 1;
    if (r.raw_bytes >= kChunkMin && r.raw_bytes <= kChunkMax) {
      run.raw_1_2kib += r.raw_bytes;
      run.stored_1_2kib += r.stored_bytes;
      run.records_1_2kib += 1;
    }
    if (r.dictionary_id == 0) run.records_without_dictionary += 1;
    return true;
  });
  run.read_seconds = SecondsSince(start);
  run.mismatches += corpus.chunks.size() - std::min<std::uint64_t>(seen, corpus.chunks.size());
  auto stats = (*store)->Stats(storage::Kind::kCode);
  if (!s.ok() || !stats.ok()) {
    std::fprintf(stderr, "compress: %s\n", (s.ok() ? stats.status() : s).ToString().c_str());
    return run;
  }
  run.stats = *stats;
  for (const auto& d : (*store)->Dictionaries()) {
    run.dictionaries += 1;
    run.dictionary_bytes = d.bytes;
  }
  run.ok = true;
  return run;
}

double Ratio(std::uint64_t raw, std::uint64_t stored) {
  return stored == 0 ? 0.0 : static_cast<double>(raw) / static_cast<double>(stored);
}

}  // namespace

int RunCompressBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::printf(
        "postdevai-bench compress [--corpus DIR] [--max-mb N] [--level L] [--dictionary-kib K] [--json]\n"
        "  Ingests every text file under DIR (default /usr/include) as 1-2 KiB code\n"
        "  chunks into the persistent store, without and with its trained dictionary,\n"
        "  and reports compression ratios beside zstd -3 on each whole file (peer).\n"
        "  --max-mb limits the corpus (0: all). Scratch stores go under\n"
        "  $POSTDEVAI_BENCH_DIR or the system temp dir.\n");
    return 0;
  }
  const bool json = HasFlag(args, "--json");
  const std::string corpus_dir = OptionValue(args, "--corpus", "/usr/include");
  const auto max_mb = static_cast<std::uint64_t>(std::max<long long>(0, OptionInt(args, "--max-mb", 0)));
  const int level = static_cast<int>(OptionInt(args, "--level", 3));
  const auto dictionary_kib = static_cast<std::size_t>(OptionInt(args, "--dictionary-kib", 64));

  auto load_start = Clock::now();
  Corpus corpus = LoadCorpus(corpus_dir, max_mb << 20);
  if (corpus.chunks.empty()) {
    std::fprintf(stderr, "compress: no text files under %s\n", corpus_dir.c_str());
    return 1;
  }
  const double mb = static_cast<double>(corpus.bytes) / 1e6;
  std::fprintf(stderr, "compress: %zu files, %.1f MB, %zu chunks (read in %.1f s)\n", corpus.files, mb,
               corpus.chunks.size(), SecondsSince(load_start));

  const std::string dir = MakeScratchDir("compress");
  StoreRun plain = RunStore(corpus, dir + "/plain", /*use_dictionary=*/false, level, dictionary_kib);
  RemoveTree(dir + "/plain");
  StoreRun dict = RunStore(corpus, dir + "/dictionary", /*use_dictionary=*/true, level, dictionary_kib);
  RemoveTree(dir);
  if (!plain.ok || !dict.ok) return 1;

  const double peer_ratio = Ratio(corpus.bytes, corpus.peer_compressed_bytes);
  const double with_ratio = dict.stats.compression_ratio();
  const double without_ratio = plain.stats.compression_ratio();
  const double small_with = Ratio(dict.raw_1_2kib, dict.stored_1_2kib);
  const double small_without = Ratio(plain.raw_1_2kib, plain.stored_1_2kib);
  const double gain = small_without > 0 ? small_with / small_without : 0;
  const double ingest = mb / dict.ingest_seconds;
  const std::uint64_t mismatches = plain.mismatches + dict.mismatches;

  std::fprintf(stderr,
               "compress: overall ratio %.2fx with dictionary, %.2fx without; zstd -%d per whole file (peer) %.2fx\n"
               "compress: 1-2 KiB records (%llu): %.2fx with dictionary, %.2fx without: gain %.2fx\n"
               "compress: on disk %.2fx; ingest %.1f MB/s (with dictionary), %.1f MB/s (without); read %.1f MB/s\n"
               "compress: %zu dictionaries trained while ingesting (last: %zu bytes); %llu records written before the first\n",
               with_ratio, without_ratio, 3, peer_ratio, static_cast<unsigned long long>(dict.records_1_2kib),
               small_with, small_without, gain, Ratio(corpus.bytes, dict.stats.approximate_disk_bytes), ingest,
               mb / plain.ingest_seconds, mb / dict.read_seconds, dict.dictionaries, dict.dictionary_bytes,
               static_cast<unsigned long long>(dict.records_without_dictionary));
  if (mismatches > 0) {
    std::fprintf(stderr, "compress: %llu records did not read back identically\n",
                 static_cast<unsigned long long>(mismatches));
  }

  if (json) {
    JsonWriter out;
    out.BeginObject()
        .Field("scenario", "compress")
        .Field("corpus", corpus_dir)
        .Field("files", static_cast<std::uint64_t>(corpus.files))
        .Field("corpus_mb", mb)
        .Field("records", static_cast<std::uint64_t>(corpus.chunks.size()))
        .Field("records_1_2kib", dict.records_1_2kib)
        .Field("zstd_level", level)
        .Field("ratio_with_dictionary", with_ratio)
        .Field("ratio_without_dictionary", without_ratio)
        .Field("peer_zstd3_whole_file_ratio", peer_ratio)
        .Field("ratio_1_2kib_with_dictionary", small_with)
        .Field("ratio_1_2kib_without_dictionary", small_without)
        .Field("dictionary_gain_1_2kib_ratio", gain)
        .Field("ratio_on_disk_with_dictionary", Ratio(corpus.bytes, dict.stats.approximate_disk_bytes))
        .Field("ingest_mb_per_s", ingest)
        .Field("ingest_mb_per_s_without_dictionary", mb / plain.ingest_seconds)
        .Field("read_mb_per_s", mb / dict.read_seconds)
        .Field("peer_zstd3_whole_file_mb_per_s", corpus.peer_seconds > 0 ? mb / corpus.peer_seconds : 0.0)
        .Field("dictionaries_trained", static_cast<std::uint64_t>(dict.dictionaries))
        .Field("dictionary_bytes", static_cast<std::uint64_t>(dict.dictionary_bytes))
        .Field("records_before_dictionary", dict.records_without_dictionary)
        .Field("mismatched_records", mismatches)
        .Field("goal_overall_ratio", 2.8)
        .Field("goal_dictionary_gain_1_2kib_ratio", 1.25)
        .Field("meets_overall_goal", with_ratio >= 2.8)
        .Field("meets_dictionary_goal", gain >= 1.25)
        .EndObject();
    std::printf("%s\n", out.str().c_str());
  }
  return mismatches == 0 ? 0 : 1;
}

}  // namespace postdevai::bench
