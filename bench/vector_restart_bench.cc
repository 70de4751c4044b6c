// Scenario `vector-restart`: how soon a dragon_node holding N vectors (1M by
// default, dim 768) searches again after a clean stop and after a kill -9:
// the vector index is loaded from its snapshot and reconciled with the store,
// not rebuilt. Through the node's gRPC API, as a user's program sees it.
//
//   1. ingest N clustered unit vectors (files of --chunks chunks, one
//      caller-given embedding per chunk) into a fresh node;
//   2. stop it cleanly (the index's snapshot is written), start it, time
//      spawn -> first answered search, check recall@10 against the exact
//      search;
//   3. write 1% more vectors (the snapshot does not have them), kill -9,
//      start, time again, check that every one of a sample of the new
//      vectors is found and recall@10 again;
//   4. (unless --no-restore) back up the node (`memory backup`, which
//      carries the index's snapshot), stop it, restore the backup into a
//      fresh data directory and RAM-Lake (`dragon_node --restore`) and time
//      the restored node to its first search; then the same restore with the
//      installed snapshot removed before the start: the index rebuilt from
//      the store, which is what every restore cost before backups carried
//      the snapshot (issue 14: "RAM-Lake snapshots ... if they make restore
//      faster: measure it").
// Goal (issue 12): searchable within 5 s of either restart at 1M vectors.
#include <sys/statvfs.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/json_writer.h"
#include "actors/vector_catalog.h"
#include "bench/node_process.h"
#include "bench/scenarios.h"
#include "rpc/grpc_client.h"
#include "tests/test_util.h"

namespace postdevai::bench {
namespace {


struct Options {
  std::size_t n = 1'000'000;
  std::size_t dim = 768;
  std::size_t chunks = 64;    // vectors per file
  std::size_t queries = 20;   // recall checks per restart (each also runs an exact search)
  long long stop_grace_s = 1800;  // then SIGKILL: a crash in the middle of the stop
  bool restore = true;            // step 4
  bool json = false;
};

// Clustered unit vectors as the vector scenario makes them (a cluster per 200
// vectors, noise 0.5 per component), reproducible: vector i is the same in
// every run. Queries are more of the same (indexes past the data's).
class Vectors {
 public:
  Vectors(std::size_t n, std::size_t dim, std::uint64_t seed)
      : dim_(dim), centers_(std::max<std::size_t>(1, n / 200)) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0, 1);
    for (auto& c : centers_) {
      c.resize(dim);
      for (float& x : c) x = g(rng);
    }
  }
  std::vector<float> Make(std::uint64_t i) const {
    std::mt19937_64 rng(i * 0x9E3779B97F4A7C15ull + 1);
    std::normal_distribution<float> g(0, 0.5f);
    const auto& c = centers_[rng() % centers_.size()];
    std::vector<float> v(dim_);
    double norm = 0;
    for (std::size_t d = 0; d < dim_; ++d) {
      v[d] = c[d] + g(rng);
      norm += double(v[d]) * v[d];
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  }

 private:
  std::size_t dim_;
  std::vector<std::vector<float>> centers_;
};

std::string PathOf(std::size_t file) { return "corpus/f" + std::to_string(file) + ".cc"; }

// A file whose every line is a chunk of its own (a line over half the
// chunk size cannot share one): `chunks` lines, `chunks` vectors.
std::string ContentOf(std::size_t file, std::size_t chunks) {
  std::string content;
  for (std::size_t c = 0; c < chunks; ++c) {
    std::string line = "// file " + std::to_string(file) + " chunk " + std::to_string(c) + " ";
    line.resize(800, 'x');
    content += line + "\n";
  }
  return content;
}

// Ingests files [first, last) of the corpus; false (with *error) on failure.
bool Ingest(rpc::MemoryConnection& memory, const Vectors& vectors, const Options& o, std::size_t first,
            std::size_t last, std::string* error) {
  std::size_t file = first;
  auto summary = memory.IngestCode([&](client::CodeFile* f) {
    if (file >= last) return false;
    f->path = PathOf(file);
    f->content = ContentOf(file, o.chunks);
    f->language = "cpp";
    f->builtin_embedder = false;
    f->chunk_embeddings.clear();
    for (std::size_t c = 0; c < o.chunks; ++c) f->chunk_embeddings.push_back(vectors.Make(file * o.chunks + c));
    ++file;
    if ((file - first) % 1000 == 0) {
      std::fprintf(stderr, "vector-restart: %zu / %zu files ingested\n", file - first, last - first);
    }
    return true;
  });
  if (!summary.ok()) {
    *error = summary.status().ToString();
    return false;
  }
  if (!summary->refused.empty()) {
    *error = "the node refused " + summary->refused.front().path + ": " + summary->refused.front().reason;
    return false;
  }
  return true;
}

struct RestartFigures {
  double spawn_to_ready_s = 0;
  double spawn_to_first_search_s = 0;
  double recall_at_10 = 0;
  double search_p50_ms = 0;
  std::size_t new_vectors_checked = 0, new_vectors_found = 0;
  std::size_t new_vectors_found_exact = 0;  // of those the default search missed: found by the exact one
  std::string index_log;  // the node's line about the index at this start
};

// Starts the node, times it to its first answered search, and (check_recall)
// measures recall@10 against the exact search.
bool Restart(NodeProcess& node, const std::string& config, const Vectors& vectors, const Options& o,
             std::uint64_t query_base, bool check_recall, RestartFigures* out,
             std::unique_ptr<rpc::MemoryConnection>* connection, std::string* error) {
  const std::size_t log_offset = ReadAll(node.log).size();
  const auto t0 = Clock::now();
  // An index rebuilt from the store (a restore without its snapshot) takes
  // minutes at a million vectors.
  if (!node.Start(config, false, error, std::chrono::hours(2))) return false;
  out->spawn_to_ready_s = SecondsSince(t0);
  rpc::ConnectionOptions co;
  co.host = "127.0.0.1";
  co.port = node.grpc_port;
  co.timeout = std::chrono::seconds(600);
  auto connected = rpc::MemoryConnection::Connect(co);
  if (!connected.ok()) {
    *error = connected.status().ToString();
    return false;
  }
  auto first = (*connected)->SearchSimilar(vectors.Make(query_base), 10);
  out->spawn_to_first_search_s = SecondsSince(t0);
  if (!first.ok()) {
    *error = "first search: " + first.status().ToString();
    return false;
  }
  const std::string log = ReadAll(node.log).substr(log_offset);
  for (const char* marker : {"vector index loaded from", "building the index from the store", "rebuilding from the store"}) {
    const auto at = log.find(marker);
    if (at == std::string::npos) continue;
    const auto newline = log.rfind('\n', at);
    const std::size_t begin = newline == std::string::npos ? 0 : newline + 1;
    out->index_log = log.substr(begin, log.find('\n', at) - begin);
    break;
  }
  // Recall@10 of the default search against the exact one.
  LatencyRecorder latency;
  double recall = 0;
  for (std::size_t q = 0; check_recall && q < o.queries; ++q) {
    const auto query = vectors.Make(query_base + q + 1);
    const auto s0 = Clock::now();
    auto approximate = (*connected)->SearchSimilar(query, 10);
    latency.Add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s0).count()));
    SearchFilter exact_filter;
    exact_filter.exact = true;
    auto exact = (*connected)->SearchSimilar(query, 10, exact_filter);
    if (!approximate.ok() || !exact.ok()) {
      *error = "search: " + (approximate.ok() ? exact.status() : approximate.status()).ToString();
      return false;
    }
    std::set<std::pair<std::string, std::uint32_t>> truth;
    for (const auto& h : *exact) truth.insert({h.path, h.chunk});
    std::size_t hit = 0;
    for (const auto& h : *approximate) hit += truth.count({h.path, h.chunk});
    recall += truth.empty() ? 1.0 : double(hit) / double(truth.size());
  }
  out->recall_at_10 = o.queries ? recall / double(o.queries) : 0;
  out->search_p50_ms = latency.PercentileMicros(0.5) / 1e3;
  *connection = std::move(*connected);
  return true;
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: postdevai-bench vector-restart [--n N (1000000)] [--dim D (768)] [--chunks C (64)]\n"
               "                                      [--queries Q (20)] [--stop-grace S (1800)] [--no-restore]\n"
               "                                      [--json]\n"
               "A dragon_node holding N caller-given vectors (clustered unit vectors, files of C chunks): the time\n"
               "from starting it to its first answered search after a clean stop and after a kill -9 (the index\n"
               "loaded from its snapshot and reconciled with the store, not rebuilt), recall@10 against the\n"
               "exact search after each, and that vectors written after the snapshot are found. Goal: <= 5 s.\n"
               "--stop-grace: SIGKILL the node if the clean stop takes longer (a crash in the middle of it).\n"
               "Then (unless --no-restore) a backup restored into a fresh node, timed to its first search with the\n"
               "backup's index snapshot and without it (the index rebuilt from the store).\n"
               "Data: $POSTDEVAI_BENCH_DIR or the temp dir; the RAM-Lake in /dev/shm (about 5 x N x D bytes).\n");
}

}  // namespace

int RunVectorRestartBench(const Args& args) {
  if (HasFlag(args, "--help")) {
    Usage(stdout);
    return 0;
  }
  Options o;
  o.n = static_cast<std::size_t>(OptionInt(args, "--n", static_cast<long long>(o.n)));
  o.dim = static_cast<std::size_t>(OptionInt(args, "--dim", static_cast<long long>(o.dim)));
  o.chunks = static_cast<std::size_t>(OptionInt(args, "--chunks", static_cast<long long>(o.chunks)));
  o.queries = static_cast<std::size_t>(OptionInt(args, "--queries", static_cast<long long>(o.queries)));
  o.json = HasFlag(args, "--json");
  o.stop_grace_s = OptionInt(args, "--stop-grace", o.stop_grace_s);
  o.restore = !HasFlag(args, "--no-restore");
  if (o.n < 1000 || o.dim < 8 || o.dim > 4096 || o.chunks < 1 || o.chunks > 1024 || o.queries < 1) {
    std::fprintf(stderr, "vector-restart: bad option (see --help)\n");
    return 2;
  }
  const std::size_t files = (o.n + o.chunks - 1) / o.chunks;
  const std::size_t n = files * o.chunks;
  // The RAM-Lake: the vectors' records (4 x dim bytes each) take half of it.
  const double vector_bytes = double(n) * double(o.dim) * 4.0;
  const double ramlake_gb = std::max(1.0, std::ceil(vector_bytes * 2.6 / double(1ull << 30)));
  struct statvfs shm {};
  if (::statvfs("/dev/shm", &shm) != 0 || double(shm.f_bavail) * double(shm.f_frsize) < ramlake_gb * double(1ull << 30)) {
    std::fprintf(stderr, "vector-restart: /dev/shm has less than the %.0f GiB this RAM-Lake needs: lower --n or --dim\n",
                 ramlake_gb);
    return 1;
  }

  // The store and WAL on the work disk (or $POSTDEVAI_BENCH_DIR), the RAM-Lake in /dev/shm.
  struct Scratch {
    std::string path = MakeScratchDir("vector-restart");
    ~Scratch() { RemoveTree(path); }
  } disk;
  testing::TempDir ram("bench-vector-restart", "/dev/shm");
  const std::string config = disk.path + "/dragon_node.toml";
  const std::uint16_t port = FreePort();
  auto toml_for = [&](const std::string& data, const std::string& ramlake) {
    return "[hybrid_memory]\nramlake_size_gb = " + std::to_string(ramlake_gb) + "\nramlake_path = \"" + ramlake +
           "\"\npersistent_path = \"" + data +
           "\"\npersistent_size_tb = 0.05\ncache_size_mb = 256\nmax_ram_entries = 10000000\n"
           "[partitions.vectors]\nshare = 50\n[partitions.code]\nshare = 40\n"
           "[partitions.history]\nshare = 5\n[partitions.metadata]\nshare = 5\n"
           "[wal]\narchive = false\n[metrics]\nenabled = false\n"
           "[grpc]\ndeadline_seconds = 3600\n[node]\nport = " +
           std::to_string(port) + "\n[vectors]\ndimension = " + std::to_string(o.dim) + "\nmodel = \"bench-restart\"\n";
  };
  if (port == 0 || !WriteFile(config, toml_for(disk.path + "/data", ram.path() + "/ramlake"))) {
    std::fprintf(stderr, "vector-restart: cannot write %s\n", config.c_str());
    return 1;
  }
  const Vectors vectors(n, o.dim, 20261204);
  NodeProcess node("vector-restart");
  std::string error;
  std::unique_ptr<rpc::MemoryConnection> memory;
  RestartFigures fresh, clean, killed;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "vector-restart: %s: %s\n", what.c_str(), error.c_str());
    return 1;
  };

  std::fprintf(stderr, "vector-restart: %zu vectors of %zu dimensions in %zu files, RAM-Lake %.0f GiB\n", n, o.dim,
               files, ramlake_gb);
  // Queries: vectors of the same clusters the data never holds.
  const std::uint64_t queries = std::uint64_t(1) << 40;
  if (!Restart(node, config, vectors, o, queries, /*check_recall=*/false, &fresh, &memory, &error)) {
    return fail("first start");
  }
  auto t0 = Clock::now();
  if (!Ingest(*memory, vectors, o, 0, files, &error)) return fail("ingest");
  const double ingest_s = SecondsSince(t0);
  std::fprintf(stderr, "vector-restart: ingested in %.1f s (%.0f vectors/s, index included)\n", ingest_s,
               double(n) / ingest_s);

  // A checkpoint (what `memory sync --force` does), then a clean stop, which
  // writes the index's snapshot.
  t0 = Clock::now();
  if (auto synced = memory->Sync(); !synced.ok()) {
    error = synced.status().ToString();
    return fail("checkpoint");
  }
  const double checkpoint_s = SecondsSince(t0);
  std::fprintf(stderr, "vector-restart: checkpoint in %.1f s\n", checkpoint_s);
  memory.reset();
  t0 = Clock::now();
  const bool stopped_cleanly = node.process.Stop(std::chrono::seconds(o.stop_grace_s));
  const double stop_s = SecondsSince(t0);
  if (!Restart(node, config, vectors, o, queries + 1000, true, &clean, &memory, &error)) {
    return fail("start after a clean stop");
  }
  std::fprintf(stderr, "vector-restart: after a clean stop (%.1f s): searchable %.2f s after the start, recall@10 %.3f\n",
               stop_s, clean.spawn_to_first_search_s, clean.recall_at_10);

  // 1% more the snapshot does not have, then kill -9.
  const std::size_t extra_files = std::max<std::size_t>(1, files / 100);
  if (!Ingest(*memory, vectors, o, files, files + extra_files, &error)) return fail("ingest after the restart");
  memory.reset();
  node.process.Kill();
  if (!Restart(node, config, vectors, o, queries + 2000, true, &killed, &memory, &error)) {
    return fail("start after kill -9");
  }
  // Every checked vector written after the snapshot is found as its own nearest.
  for (std::size_t f = files; f < files + extra_files && killed.new_vectors_checked < 200; ++f) {
    const std::size_t chunk = (f * 7) % o.chunks;
    auto hits = memory->SearchSimilar(vectors.Make(f * o.chunks + chunk), 1);
    ++killed.new_vectors_checked;
    auto is_it = [&](const Result<std::vector<SearchHit>>& h) {
      return h.ok() && !h->empty() && h->front().path == PathOf(f) && h->front().chunk == chunk;
    };
    if (is_it(hits)) {
      ++killed.new_vectors_found;
      continue;
    }
    // Missed by the approximate search: lost, or only not reached by the graph walk?
    SearchFilter exact_filter;
    exact_filter.exact = true;
    if (is_it(memory->SearchSimilar(vectors.Make(f * o.chunks + chunk), 1, exact_filter))) {
      ++killed.new_vectors_found_exact;
    }
  }
  std::fprintf(stderr, "vector-restart: after kill -9: searchable %.2f s after the start, recall@10 %.3f, %zu/%zu new vectors found\n",
               killed.spawn_to_first_search_s, killed.recall_at_10, killed.new_vectors_found, killed.new_vectors_checked);

  // 4. A backup restored into a fresh node, with the index's snapshot the
  // backup carries and without it.
  double backup_s = 0;
  std::string backup_dir;
  struct Restored {
    double restore_s = 0;
    RestartFigures start;
  } with_snapshot, without_snapshot;
  if (o.restore) {
    t0 = Clock::now();
    auto made = memory->Backup();
    backup_s = SecondsSince(t0);
    if (!made.ok()) {
      error = made.status().ToString();
      return fail("backup");
    }
    backup_dir = made->path;
    std::fprintf(stderr, "vector-restart: backup %s in %.1f s\n", backup_dir.c_str(), backup_s);
  }
  memory.reset();
  node.process.Stop();
  if (o.restore) {
    RemoveTree(ram.path() + "/ramlake");  // room on the RAM disk for the restored node's
    for (Restored* r : {&with_snapshot, &without_snapshot}) {
      const bool keep_snapshot = r == &with_snapshot;
      const std::string name = keep_snapshot ? "restored-with-snapshot" : "restored-without-snapshot";
      const std::string dir = disk.path + "/" + name, ramlake = ram.path() + "/" + name;
      const std::string restored_config = dir + "/dragon_node.toml";
      std::filesystem::create_directories(dir);
      if (!WriteFile(restored_config, toml_for(dir + "/data", ramlake))) {
        error = "cannot write " + restored_config;
        return fail("restore");
      }
      ChildProcess restore;
      t0 = Clock::now();
      if (!restore.Spawn("dragon_node --restore",
                         {SelfDir() + "/dragon_node", "--config", restored_config, "--restore", backup_dir},
                         dir + "/restore.log") ||
          restore.Wait() != 0) {
        error = ReadAll(dir + "/restore.log");
        return fail("restore");
      }
      r->restore_s = SecondsSince(t0);
      if (!keep_snapshot) std::filesystem::remove(ramlake + "/" + std::string(actors::kVectorIndexSnapshotName));
      NodeProcess restored_node("vector-restart-restored");
      if (!Restart(restored_node, restored_config, vectors, o, queries + 3000, true, &r->start, &memory, &error)) {
        return fail("start after a restore");
      }
      memory.reset();
      restored_node.process.Stop();
      std::fprintf(stderr, "vector-restart: restored %s in %.1f s; searchable %.2f s after the start (%s)\n",
                   keep_snapshot ? "with the index snapshot" : "without it", r->restore_s,
                   r->start.spawn_to_first_search_s, r->start.index_log.c_str());
      RemoveTree(ramlake);
      RemoveTree(dir);
    }
  }

  const bool loaded_clean = clean.index_log.find("vector index loaded from") != std::string::npos;
  const bool loaded_killed = killed.index_log.find("vector index loaded from") != std::string::npos;
  JsonWriter w;
  w.BeginObject();
  w.Field("scenario", "vector-restart");
  w.Field("vectors", std::uint64_t(n)).Field("dim", std::uint64_t(o.dim)).Field("files", std::uint64_t(files));
  w.Field("vectors_per_file", std::uint64_t(o.chunks)).Field("ramlake_gb", ramlake_gb);
  w.Field("ingest_s", ingest_s).Field("ingest_vectors_per_s", double(n) / ingest_s);
  w.Field("checkpoint_s", checkpoint_s).Field("clean_stop_s", stop_s).Field("stopped_cleanly", stopped_cleanly);
  auto restart = [&](const char* key, const RestartFigures& r) {
    w.Key(key).BeginObject();
    w.Field("spawn_to_ready_s", r.spawn_to_ready_s);
    w.Field("spawn_to_first_search_s", r.spawn_to_first_search_s);
    w.Field("recall_at_10_vs_exact", r.recall_at_10);
    w.Field("search_p50_ms", r.search_p50_ms);
    w.Field("index_log", r.index_log);
    if (r.new_vectors_checked > 0) {
      w.Field("vectors_written_after_the_snapshot_checked", std::uint64_t(r.new_vectors_checked));
      w.Field("vectors_written_after_the_snapshot_found", std::uint64_t(r.new_vectors_found));
      w.Field("of_the_others_found_by_the_exact_search", std::uint64_t(r.new_vectors_found_exact));
    }
    w.EndObject();
  };
  restart("after_clean_stop", clean);
  restart("after_kill_9", killed);
  const bool restore_loaded = with_snapshot.start.index_log.find("vector index loaded from") != std::string::npos;
  if (o.restore) {
    w.Key("restore").BeginObject();
    w.Field("backup_s", backup_s);
    w.Field("with_index_snapshot_restore_s", with_snapshot.restore_s);
    w.Field("without_index_snapshot_restore_s", without_snapshot.restore_s);
    restart("with_index_snapshot", with_snapshot.start);
    restart("without_index_snapshot_rebuilt", without_snapshot.start);
    w.Field("restore_to_first_search_with_snapshot_s",
            with_snapshot.restore_s + with_snapshot.start.spawn_to_first_search_s);
    w.Field("restore_to_first_search_rebuilding_s",
            without_snapshot.restore_s + without_snapshot.start.spawn_to_first_search_s);
    w.Field("rebuilding_vs_snapshot_ratio",
            (without_snapshot.restore_s + without_snapshot.start.spawn_to_first_search_s) /
                (with_snapshot.restore_s + with_snapshot.start.spawn_to_first_search_s));
    w.EndObject();
  }
  w.Field("note", "spawn of dragon_node to the first answered SearchSimilar through gRPC; the node reconciles the "
                  "loaded index with the store (vectors written or deleted after the snapshot) before it serves");
  w.Key("goals").BeginObject();
  w.Field("searchable_within_5_s_after_clean_stop", loaded_clean && clean.spawn_to_first_search_s <= 5.0);
  w.Field("searchable_within_5_s_after_kill_9", loaded_killed && killed.spawn_to_first_search_s <= 5.0);
  w.Field("index_loaded_not_rebuilt", loaded_clean && loaded_killed);
  if (o.restore) w.Field("index_loaded_after_a_restore", restore_loaded);
  // Every one is there (the exact search finds what the graph walk missed).
  w.Field("vectors_after_the_snapshot_found",
          killed.new_vectors_found + killed.new_vectors_found_exact == killed.new_vectors_checked);
  w.Field("at_1m_vectors", n >= 1'000'000);
  w.EndObject();
  w.EndObject();
  if (o.json) {
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("vector-restart: %zu x %zu: clean stop -> searchable in %.2f s (recall %.3f), kill -9 -> %.2f s "
                "(recall %.3f, %zu/%zu new found)\n",
                n, o.dim, clean.spawn_to_first_search_s, clean.recall_at_10, killed.spawn_to_first_search_s,
                killed.recall_at_10, killed.new_vectors_found, killed.new_vectors_checked);
    if (o.restore) {
      std::printf("vector-restart: restore -> searchable in %.2f s with the backup's index snapshot, %.2f s rebuilding "
                  "the index\n",
                  with_snapshot.restore_s + with_snapshot.start.spawn_to_first_search_s,
                  without_snapshot.restore_s + without_snapshot.start.spawn_to_first_search_s);
    }
  }
  return loaded_clean && loaded_killed && (!o.restore || restore_loaded) &&
                 killed.new_vectors_found + killed.new_vectors_found_exact == killed.new_vectors_checked
             ? 0
             : 1;
}

}  // namespace postdevai::bench
