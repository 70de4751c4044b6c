// postdevai-example-host: the ways into PostDevAI Hybrid Memory for C++
// hosts, on real source files.
//
//   postdevai-example-host [--data DIR] [--max-files N] [SOURCE_DIR]
//   postdevai-example-host --node HOST:PORT [--cert F --key F --ca F] [--max-files N] [SOURCE_DIR]
//
// (a) An actor-native host (include/postdevai/actor_api.h): the host builds its
//     own caf::actor_system, starts the engine inside it and, from one of its
//     own actors, writes every file with request/then (all writes in flight at
//     once, so they share WAL syncs), reads them back and asks for stats.
// (b) A host without actors (include/postdevai/hybrid_memory.h): the blocking
//     facade reopens the same data (a restart: what (a) wrote is still there),
//     stores the files as code records, reads them by id and by path, keeps a
//     session context, and prints the engine's statistics.
// (c) With --node: a running dragon_node's engine as a remote actor (its CAF
//     endpoint, [caf] enabled = true; mutual TLS with --cert, --key and --ca):
//     the same actor code as (a) writes, reads back and asks for stats.
//
// SOURCE_DIR defaults to the C++ standard library headers (/usr/include/c++).
// Data goes to a fresh temporary directory (LevelDB and WAL under /tmp, the
// RAM-Lake under /dev/shm) removed at exit, so the example never touches a
// running dragon_node's data; --data DIR uses and keeps DIR instead.
// Exits non-zero if anything read back differs from what was written.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "postdevai/actor_api.h"
#include "postdevai/hybrid_memory.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct SourceFile {
  std::string path;
  std::string content;
  std::string language;
};

std::string LanguageOf(const fs::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".cc" || ext == ".cpp" || ext == ".h" || ext == ".hpp" || ext == ".tcc") return "cpp";
  if (ext == ".c") return "c";
  if (ext == ".py") return "python";
  if (ext == ".rs") return "rust";
  if (ext == ".txt" || ext == ".md") return "text";
  if (ext == ".cmake" || p.filename() == "CMakeLists.txt") return "cmake";
  // The standard library's headers have no extension (<vector>, <map>).
  if (ext.empty() && p.string().find("/c++/") != std::string::npos) return "cpp";
  return "text";
}

std::string DefaultSourceDir() {
  std::error_code ec;
  if (fs::is_directory("/usr/include/c++", ec)) {
    // The newest version directory (e.g. /usr/include/c++/12).
    std::vector<fs::path> versions;
    for (const auto& e : fs::directory_iterator("/usr/include/c++", ec)) {
      if (e.is_directory()) versions.push_back(e.path());
    }
    std::sort(versions.begin(), versions.end());
    if (!versions.empty()) return versions.back().string();
  }
  return "/usr/include";
}

// Up to max_files regular files under root (sorted, so runs are repeatable),
// skipping empty and large ones: these are source files, not data sets.
std::vector<SourceFile> CollectFiles(const std::string& root, std::size_t max_files) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    auto size = it->file_size(fec);
    if (fec || size == 0 || size > 256 * 1024) continue;
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.size() > max_files) paths.resize(max_files);
  std::vector<SourceFile> files;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) continue;
    files.push_back({p.string(), std::move(content), LanguageOf(p)});
  }
  return files;
}

std::size_t CountLines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// ---------------------------------------------------------------------------
// (a) The actor-native host.

struct ActorHostReport {
  std::size_t written = 0, verified = 0, ram_hits = 0;
  std::uint64_t last_lsn = 0;
  postdevai::memory_report stats;
  std::vector<std::string> errors;
  double write_ms = 0, read_ms = 0;
};

// The host's own actor: writes every file (code under "example/<path>" and its
// line count as metadata, both in one batch, so they share one LSN), all
// requests in flight at once; when the last write is acknowledged it reads
// everything back, then asks for stats and hands the report to main.
struct HostActorState {
  postdevai::engine_actor memory;
  std::vector<SourceFile> files;
  std::shared_ptr<std::promise<ActorHostReport>> done;
  ActorHostReport report;
  std::size_t outstanding = 0;
  Clock::time_point started;
};

void FinishActorHost(caf::event_based_actor* self, std::shared_ptr<HostActorState> st) {
  self->request(st->memory, caf::infinite, postdevai::stats_atom_v)
      .then(
          [=](postdevai::memory_report& stats) {
            st->report.stats = std::move(stats);
            st->done->set_value(std::move(st->report));
            self->quit();
          },
          [=](caf::error& err) {
            st->report.errors.push_back("stats: " + postdevai::StatusFromError(err).ToString());
            st->done->set_value(std::move(st->report));
            self->quit();
          });
}

void ReadBackActorHost(caf::event_based_actor* self, std::shared_ptr<HostActorState> st) {
  st->started = Clock::now();
  st->outstanding = st->files.size();
  for (std::size_t i = 0; i < st->files.size(); ++i) {
    self->request(st->memory, caf::infinite, postdevai::read_atom_v,
                  postdevai::DataKind::kCode, "example/" + st->files[i].path, std::string("example-host"))
        .then(
            [=](postdevai::read_result& r) {
              if (r.value == st->files[i].content) {
                ++st->report.verified;
              } else {
                st->report.errors.push_back("read back " + st->files[i].path + ": content differs");
              }
              if (r.served_from == postdevai::tier::ram) ++st->report.ram_hits;
              if (--st->outstanding == 0) {
                st->report.read_ms = MillisSince(st->started);
                FinishActorHost(self, st);
              }
            },
            [=](caf::error& err) {
              st->report.errors.push_back("read " + st->files[i].path + ": " +
                                          postdevai::StatusFromError(err).ToString());
              if (--st->outstanding == 0) FinishActorHost(self, st);
            });
  }
}

void RunActorHost(caf::event_based_actor* self, std::shared_ptr<HostActorState> st) {
  if (st->files.empty()) {
    FinishActorHost(self, st);
    return;
  }
  st->started = Clock::now();
  st->outstanding = st->files.size();
  for (const auto& file : st->files) {
    const std::string& path = file.path;
    postdevai::write_batch batch;
    batch.mutations.push_back(postdevai::MakePut(postdevai::DataKind::kCode, "example/" + file.path, file.content));
    batch.mutations.push_back(postdevai::MakePut(postdevai::DataKind::kMetadata, "lines:" + file.path,
                                                 std::to_string(CountLines(file.content))));
    self->request(st->memory, caf::infinite, postdevai::write_atom_v, std::move(batch))
        .then(
            [=](std::uint64_t lsn) {
              ++st->report.written;
              st->report.last_lsn = std::max(st->report.last_lsn, lsn);
              if (--st->outstanding == 0) {
                st->report.write_ms = MillisSince(st->started);
                ReadBackActorHost(self, st);
              }
            },
            [=](caf::error& err) {
              st->report.errors.push_back("write " + path + ": " + postdevai::StatusFromError(err).ToString());
              if (--st->outstanding == 0) ReadBackActorHost(self, st);
            });
  }
}

// Runs the host actor of (a) against `memory` and prints what it saw.
bool RunHostActor(caf::actor_system& sys, postdevai::engine_actor memory, const std::vector<SourceFile>& files) {
  auto state = std::make_shared<HostActorState>();
  state->memory = std::move(memory);
  state->files = files;
  state->done = std::make_shared<std::promise<ActorHostReport>>();
  auto report_future = state->done->get_future();
  sys.spawn([state](caf::event_based_actor* self) { RunActorHost(self, state); });
  ActorHostReport report = report_future.get();

  std::printf("wrote %zu files (+ line counts as metadata) with request/then in %.1f ms, last LSN %llu\n",
              report.written, report.write_ms, static_cast<unsigned long long>(report.last_lsn));
  std::printf("read back %zu/%zu identical in %.1f ms, %zu from RAM\n", report.verified, files.size(),
              report.read_ms, report.ram_hits);
  const auto& sync = report.stats.sync;
  std::printf("stats: %llu writes, %llu reads, WAL %llu syncs for %llu records (group commit)\n",
              static_cast<unsigned long long>(report.stats.writes), static_cast<unsigned long long>(report.stats.reads),
              static_cast<unsigned long long>(sync.wal_syncs), static_cast<unsigned long long>(sync.wal_records));
  for (const auto& e : report.errors) std::fprintf(stderr, "postdevai-example-host: %s\n", e.c_str());
  return report.errors.empty() && report.verified == files.size();
}

bool RunActorWay(const postdevai::HybridMemoryConfig& config, const std::vector<SourceFile>& files) {
  std::printf("== (a) actor host: the engine inside the host's own caf::actor_system ==\n");
  caf::actor_system_config cfg;
  postdevai::ConfigureActorSystem(cfg);
  caf::actor_system sys{cfg};
  std::vector<std::string> warnings;
  auto t0 = Clock::now();
  auto engine = postdevai::StartHybridMemory(sys, config, &warnings);
  for (const auto& w : warnings) std::printf("warning: %s\n", w.c_str());
  if (!engine.ok()) {
    std::fprintf(stderr, "postdevai-example-host: starting the engine: %s\n", engine.status().ToString().c_str());
    return false;
  }
  std::printf("engine started in %.1f ms\n", MillisSince(t0));
  for (const auto& line : (*engine)->recovery_log()) std::printf("  recovery: %s\n", line.c_str());

  const bool ok = RunHostActor(sys, (*engine)->engine(), files);
  postdevai::Status stopped = (*engine)->Stop();
  if (!stopped.ok()) {
    std::fprintf(stderr, "postdevai-example-host: stopping the engine: %s\n", stopped.ToString().c_str());
    return false;
  }
  return ok;
}

// ---------------------------------------------------------------------------
// (c) A dragon_node's engine over its CAF endpoint.

bool RunRemoteWay(const std::string& host, std::uint16_t port, const postdevai::NodeConfig& tls,
                  const std::vector<SourceFile>& files) {
  std::printf("== (c) remote actor: the engine of the dragon_node at %s:%u ==\n", host.c_str(), port);
  caf::actor_system_config cfg;
  postdevai::ConfigureActorSystem(cfg);
  postdevai::ConfigureRemoteAccess(cfg, tls);
  caf::actor_system sys{cfg};
  auto t0 = Clock::now();
  auto memory = postdevai::ConnectRemoteEngine(sys, host, port, tls);
  if (!memory.ok()) {
    std::fprintf(stderr, "postdevai-example-host: %s\n", memory.status().ToString().c_str());
    return false;
  }
  std::printf("connected in %.1f ms%s\n", MillisSince(t0), tls.ca_file.empty() ? " (plaintext, loopback)" : " (mutual TLS)");
  return RunHostActor(sys, *memory, files);
}

// ---------------------------------------------------------------------------
// (b) The blocking facade.

bool RunFacadeWay(const postdevai::HybridMemoryConfig& config, const std::vector<SourceFile>& files) {
  std::printf("\n== (b) blocking facade: HybridMemory, reopening the same data ==\n");
  auto t0 = Clock::now();
  auto opened = postdevai::HybridMemory::Open(config);
  if (!opened.ok()) {
    std::fprintf(stderr, "postdevai-example-host: opening: %s\n", opened.status().ToString().c_str());
    return false;
  }
  auto& memory = **opened;
  std::printf("opened in %.1f ms\n", MillisSince(t0));
  bool ok = true;
  auto fail = [&ok](const std::string& what) {
    std::fprintf(stderr, "postdevai-example-host: %s\n", what.c_str());
    ok = false;
  };

  // What the actor host wrote survived the restart.
  std::size_t carried_over = 0;
  for (const auto& f : files) {
    auto lines = memory.GetMetadata("lines:" + f.path);
    if (lines.ok() && *lines == std::to_string(CountLines(f.content))) ++carried_over;
  }
  std::printf("metadata written by the actor host, read after the restart: %zu/%zu\n", carried_over, files.size());
  if (carried_over != files.size()) fail("metadata written in (a) is missing after the restart");

  t0 = Clock::now();
  std::vector<std::string> ids;
  std::size_t bytes = 0;
  std::size_t stored = 0;
  for (const auto& f : files) {
    auto id = memory.StoreCode(f.path, f.content, f.language);
    ids.push_back(id.ok() ? *id : std::string());
    if (!id.ok()) {
      fail("StoreCode " + f.path + ": " + id.status().ToString());
      continue;
    }
    ++stored;
    bytes += f.content.size();
  }
  const double store_ms = MillisSince(t0);
  std::printf("StoreCode: %zu files, %.1f KiB in %.1f ms (one durable write each, one thread)\n", stored,
              static_cast<double>(bytes) / 1024, store_ms);

  t0 = Clock::now();
  std::size_t by_id = 0, by_path = 0, from_ram = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (ids[i].empty()) continue;  // StoreCode failed: reported above
    auto record = memory.GetCode(ids[i]);
    if (record.ok() && record->content == files[i].content && record->path == files[i].path &&
        record->language == files[i].language) {
      ++by_id;
      if (record->served_from_ram) ++from_ram;
    } else {
      fail("GetCode " + ids[i] + " (" + files[i].path + "): " +
           (record.ok() ? std::string("content differs") : record.status().ToString()));
    }
    auto again = memory.GetCodeByPath(files[i].path);
    if (again.ok() && again->id == ids[i] && again->content == files[i].content) {
      ++by_path;
    } else {
      fail("GetCodeByPath " + files[i].path + ": " + (again.ok() ? "differs" : again.status().ToString()));
    }
  }
  std::printf("read back: %zu by id, %zu by path, identical; %zu of them from RAM (%.1f ms)\n", by_id, by_path,
              from_ram, MillisSince(t0));
  if (!ids.empty()) {
    std::printf("e.g. %s -> %s (%s)\n", ids[0].c_str(), files[0].path.c_str(), files[0].language.c_str());
  }

  // A session context, and an async metadata round trip.
  std::vector<std::string> messages = {"user: where is the allocator defined?",
                                       "assistant: " + (files.empty() ? std::string("nowhere") : files[0].path)};
  if (auto s = memory.StoreContext("example-session", messages); !s.ok()) fail("StoreContext: " + s.ToString());
  auto context = memory.GetContext("example-session");
  if (!context.ok() || *context != messages) fail("GetContext: context differs");
  auto put = memory.PutMetadataAsync("example/last-run", std::to_string(::getpid()));
  auto got = [&] {
    if (auto s = put.get(); !s.ok()) return postdevai::Result<std::string>(s);
    return memory.GetMetadataAsync("example/last-run").get();
  }();
  if (!got.ok() || *got != std::to_string(::getpid())) fail("metadata async round trip");
  auto missing = memory.GetCode("0000000000000000");
  std::printf("asking for an unknown id: %s\n", missing.status().ToString().c_str());
  if (!missing.status().IsNotFound()) fail("an unknown id must be kNotFound");

  auto checkpoint = memory.Sync();
  if (!checkpoint.ok()) fail("Sync: " + checkpoint.status().ToString());
  auto stats = memory.Stats();
  if (!stats.ok()) {
    fail("Stats: " + stats.status().ToString());
    return false;
  }
  std::printf("\nstats: %llu reads (RAM hit rate %.3f), %llu writes, durable LSN %llu, checkpoint LSN %llu,\n"
              "       WAL %llu syncs, %llu bytes appended since open, %llu live segment(s)\n",
              static_cast<unsigned long long>(stats->reads), stats->hit_rate(),
              static_cast<unsigned long long>(stats->writes), static_cast<unsigned long long>(stats->durable_lsn),
              static_cast<unsigned long long>(stats->checkpoint_lsn), static_cast<unsigned long long>(stats->wal_syncs),
              static_cast<unsigned long long>(stats->wal_bytes), static_cast<unsigned long long>(stats->wal_segments));
  std::printf("  %-9s %8s %12s %12s %8s %8s  %s\n", "partition", "entries", "bytes", "budget", "hits", "misses",
              "policy");
  for (const auto& p : stats->partitions) {
    std::printf("  %-9s %8llu %12llu %12llu %8llu %8llu  %s\n", p.kind.c_str(),
                static_cast<unsigned long long>(p.entries), static_cast<unsigned long long>(p.bytes),
                static_cast<unsigned long long>(p.budget_bytes), static_cast<unsigned long long>(p.hits),
                static_cast<unsigned long long>(p.misses), p.eviction_policy.c_str());
  }
  if (checkpoint.ok() && stats->checkpoint_lsn != *checkpoint) fail("the checkpoint LSN in stats differs from Sync's");
  return ok;
}

struct DataDirs {
  std::string persistent, ramlake_root;
  bool remove = false;
  ~DataDirs() {
    if (!remove) return;
    std::error_code ec;
    fs::remove_all(persistent, ec);
    if (!ramlake_root.empty()) fs::remove_all(ramlake_root, ec);
  }
};

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: postdevai-example-host [--data DIR] [--max-files N] [SOURCE_DIR]\n"
               "       postdevai-example-host --node HOST:PORT [--cert F --key F --ca F] [--max-files N] [SOURCE_DIR]\n"
               "\n"
               "Stores up to N (default 40) source files from SOURCE_DIR (default: the C++\n"
               "standard library headers) through both ways into the engine: an actor in the\n"
               "host's own actor system, then the blocking facade; reads them back and prints\n"
               "statistics. --data DIR keeps the data in DIR (default: a temporary directory,\n"
               "removed at exit).\n"
               "With --node it uses the engine of a running dragon_node through its CAF\n"
               "endpoint ([caf] enabled = true), with mutual TLS when --cert, --key and --ca\n"
               "are given.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string source_dir, data_dir, node;
  postdevai::NodeConfig tls;
  std::size_t max_files = 40;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintUsage(stdout);
      return 0;
    } else if (arg == "--data" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--node" && i + 1 < argc) {
      node = argv[++i];
    } else if (arg == "--cert" && i + 1 < argc) {
      tls.certificate = argv[++i];
    } else if (arg == "--key" && i + 1 < argc) {
      tls.key = argv[++i];
    } else if (arg == "--ca" && i + 1 < argc) {
      tls.ca_file = argv[++i];
    } else if (arg == "--max-files" && i + 1 < argc) {
      max_files = static_cast<std::size_t>(std::max(1L, std::atol(argv[++i])));
    } else if (!arg.empty() && arg[0] != '-' && source_dir.empty()) {
      source_dir = arg;
    } else {
      std::fprintf(stderr, "postdevai-example-host: unknown argument '%s'\n", arg.c_str());
      PrintUsage(stderr);
      return 2;
    }
  }
  if (source_dir.empty()) source_dir = DefaultSourceDir();
  auto files = CollectFiles(source_dir, max_files);
  if (files.empty()) {
    std::fprintf(stderr, "postdevai-example-host: no readable source files under %s\n", source_dir.c_str());
    return 1;
  }

  if (!node.empty()) {
    const auto colon = node.rfind(':');
    const long port = colon == std::string::npos ? 0 : std::atol(node.c_str() + colon + 1);
    if (colon == std::string::npos || port <= 0 || port > 65535) {
      std::fprintf(stderr, "postdevai-example-host: --node wants HOST:PORT, got '%s'\n", node.c_str());
      return 2;
    }
    const bool ok = RunRemoteWay(node.substr(0, colon), static_cast<std::uint16_t>(port), tls, files);
    std::printf("\n%s\n", ok ? "OK: the node's engine read back what it wrote" : "FAILED: see the messages above");
    return ok ? 0 : 1;
  }

  DataDirs dirs;
  if (data_dir.empty()) {
    const std::string tag = "postdevai-example-" + std::to_string(::getpid());
    dirs.persistent = (fs::temp_directory_path() / tag).string();
    std::error_code ec;
    if (fs::is_directory("/dev/shm", ec)) dirs.ramlake_root = "/dev/shm/" + tag;
    dirs.remove = true;
  } else {
    dirs.persistent = data_dir;
  }
  postdevai::HybridMemoryConfig config = postdevai::EmbeddedDefaults();
  config.persistent_path = dirs.persistent;
  config.ramlake_path = (dirs.ramlake_root.empty() ? dirs.persistent : dirs.ramlake_root) + "/ramlake";
  config.ramlake_size_gb = 64.0 / 1024;       // 64 MiB: plenty for a few dozen files
  config.persistent_size_tb = 1.0 / 1024;     // a 1 GiB budget
  config.cache_size_mb = 16;
  config.max_ram_entries = 100000;
  config.wal.segment_size_mb = 4;
  std::error_code ec;
  fs::create_directories(config.persistent_path, ec);

  std::size_t bytes = 0;
  for (const auto& f : files) bytes += f.content.size();
  std::printf("source: %zu files, %.1f KiB under %s\ndata:   %s (RAM-Lake %s)\n\n", files.size(),
              static_cast<double>(bytes) / 1024, source_dir.c_str(), config.persistent_path.c_str(),
              config.ramlake_path.c_str());

  const bool actor_ok = RunActorWay(config, files);
  const bool facade_ok = RunFacadeWay(config, files);
  std::printf("\n%s\n", actor_ok && facade_ok ? "OK: both ways in read back what they wrote"
                                              : "FAILED: see the messages above");
  return actor_ok && facade_ok ? 0 : 1;
}
