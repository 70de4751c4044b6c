// The scenarios of postdevai-bench. Each lives in its own <name>_bench.cc,
// parses its own options from args (everything after the scenario name),
// prints progress to stderr and, with --json, exactly one JSON object to stdout
// whose figure names carry their unit (ops_per_s, ns_per_op, mb_per_s, ratio).
// Returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace postdevai::bench {

using Args = std::vector<std::string>;

struct Scenario {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

// Defined in bench/main.cc: the table of every scenario.
const std::vector<Scenario>& AllScenarios();

// Small helpers shared by scenarios (bench/options.cc).
bool HasFlag(const Args& args, const std::string& flag);
// Value after `flag` ("--n 1000"), or fallback.
std::string OptionValue(const Args& args, const std::string& flag, const std::string& fallback);
long long OptionInt(const Args& args, const std::string& flag, long long fallback);
// A scratch directory for the scenario on the work disk (never a RAM disk unless
// asked), created fresh; removed by the caller with RemoveTree.
std::string MakeScratchDir(const std::string& scenario);
void RemoveTree(const std::string& path);

// Scenario entry points.
int RunColdBench(const Args& args);      // bench/cold_bench.cc
int RunCompressBench(const Args& args);  // bench/compress_bench.cc
int RunRecoveryBench(const Args& args);  // bench/recovery_bench.cc
int RunBackupBench(const Args& args);
int RunReplicationBench(const Args& args);  // bench/replication_bench.cc    // bench/backup_bench.cc
int RunRemoteBench(const Args& args);    // bench/remote_bench.cc
int RunHotBench(const Args& args);       // bench/ramlake_hot_bench.cc
int RunTraceBench(const Args& args);     // bench/ramlake_trace_bench.cc
int RunWarmBench(const Args& args);      // bench/ramlake_warm_bench.cc
int RunEngineBench(const Args& args);    // bench/engine_bench.cc
int RunVectorBench(const Args& args);    // bench/vector_bench.cc
int RunVectorRestartBench(const Args& args);  // bench/vector_restart_bench.cc
int RunSoakBench(const Args& args);      // bench/soak_bench.cc
int RunSearchQualityBench(const Args& args);  // bench/search_quality_bench.cc

}  // namespace postdevai::bench
