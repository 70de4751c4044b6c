// postdevai-bench SCENARIO [options] [--json]
#include <cstdio>
#include <cstring>

#include "bench/scenarios.h"

namespace postdevai::bench {

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> scenarios = {
      // {"name", "one-line summary", RunXBench},  (one line per scenario)
      {"cold", "durable 1 KiB writes/s: WAL group commit + store beside LevelDB sync=true", RunColdBench},
      {"compress", "compression ratio of a source tree as 1-2 KiB code records, with/without dictionary", RunCompressBench},
      {"recovery", "WAL replay speed (MB/s) of --wal-mb MiB of 1 KiB records", RunRecoveryBench},
      {"replication", "a replica following a primary under --writers durable writers: rates beside the primary alone, lag p50/p99", RunReplicationBench},
      {"backup", "backup, verify and restore (replay MB/s) of a --store-mib store beside a plain copy and LevelDB ingest", RunBackupBench},
      {"hot", "RAM-Lake point reads/writes of 1 KiB values (ns/op) beside std::unordered_map", RunHotBench},
      {"trace", "RAM-Lake hit rate of LRU/SIEVE/S3-FIFO beside Belady's MIN (Zipf, coding session)", RunTraceBench},
      {"warm", "RAM-Lake warm re-attach time of --entries beside a cold rebuild from LevelDB", RunWarmBench},
      {"engine", "point reads/writes through the actors (actor, facade, baselines), durable writes, YCSB A/B/C/F", RunEngineBench},
      {"vector", "vector search: exact and int8+re-rank scans, half cold, vs bandwidth and FAISS flat IP", RunVectorBench},
      {"vector-restart", "a node with 1M vectors: start to first search after a clean stop and after kill -9 (index loaded, not rebuilt)", RunVectorRestartBench},
      {"search-quality", "questions over code trees: hit@1/hit@5/MRR of hybrid, lexical and vector search beside Xapian BM25", RunSearchQualityBench},
      {"soak", "mixed load with kill -9, a full data disk and a full RAM disk; then every acknowledged write is checked", RunSoakBench},
      {"remote", "gRPC and CAF point reads/writes (1, 50 clients) beside redis-benchmark GET/SET (+appendfsync always); gRPC vs in-process text search", RunRemoteBench},
  };
  return scenarios;
}

}  // namespace postdevai::bench

static void PrintUsage(std::FILE* out) {
  std::fprintf(out, "usage: postdevai-bench SCENARIO [options] [--json]\n\nscenarios:\n");
  for (const auto& s : postdevai::bench::AllScenarios()) std::fprintf(out, "  %-10s %s\n", s.name, s.summary);
  std::fprintf(out, "\n'postdevai-bench SCENARIO --help' lists a scenario's options.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  postdevai::bench::Args args(argv + 2, argv + argc);
  for (const auto& s : postdevai::bench::AllScenarios()) {
    if (std::strcmp(argv[1], s.name) == 0) return s.run(args);
  }
  std::fprintf(stderr, "postdevai-bench: unknown scenario '%s'\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
