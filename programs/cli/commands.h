// postdevai-cli's commands and what they share: the global options, the
// (lazily connected) node, and the output mode.
//
// Every command is a function that does its work and either prints a human
// report on stdout or, with --json, fills one JSON object that main prints.
// Failures are a Status whose message is the one line main prints; errors in
// what the user typed are kInvalidArgument (exit code 2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/status.h"
#include "programs/cli/cli_args.h"
#include "programs/cli/json.h"
#include "programs/cli/node_client.h"

namespace postdevai::cli {

// What precedes (or surrounds) the command words.
struct GlobalOptions {
  std::optional<std::string> node;  // --node HOST:PORT
  std::string config_path;          // --config FILE
  bool json = false;                // --json
  bool verbose = false;             // -v / --verbose
  std::string cert, key, ca;        // --cert --key --ca (override the config's [node])
  std::string token_file;           // --token-file (overrides the config's node.token_file)
  std::uint64_t timeout_seconds = 120;  // --timeout SECONDS; 0: wait forever
};

class CommandContext {
 public:
  explicit CommandContext(GlobalOptions options) : options_(std::move(options)) {}

  const GlobalOptions& options() const { return options_; }
  bool json() const { return options_.json; }

  // Loads --config when given (the node address, TLS files, sync interval and
  // paths come from it). Call once, before Node().
  Status LoadConfig();
  // The config when --config was given.
  const std::optional<HybridMemoryConfig>& config() const { return config_; }

  // Where the CLI connects: --node, else the config's [node], else 127.0.0.1:4710.
  Result<Endpoint> NodeEndpoint() const;
  // The connected node (connects on first use).
  Result<NodeClient*> Node();

  // -v: one line on stderr; otherwise nothing.
  void Log(const std::string& line) const;

  // The JSON object --json prints.
  Json& result() { return result_; }

 private:
  GlobalOptions options_;
  std::optional<HybridMemoryConfig> config_;
  std::unique_ptr<NodeClient> node_;
  Json result_ = Json::MakeObject();
};

// The commands. `args` holds the command's parsed options and positionals.
Status MemoryStats(CommandContext& ctx, const ParsedArgs& args);
Status MemoryBreakdown(CommandContext& ctx, const ParsedArgs& args);
Status MemoryEvict(CommandContext& ctx, const ParsedArgs& args);
Status MemorySyncStatus(CommandContext& ctx, const ParsedArgs& args);
Status MemorySync(CommandContext& ctx, const ParsedArgs& args);
Status MemoryCompact(CommandContext& ctx, const ParsedArgs& args);
Status MemoryBackup(CommandContext& ctx, const ParsedArgs& args);  // backup_commands.cc
Status BackupList(CommandContext& ctx, const ParsedArgs& args);
Status BackupVerify(CommandContext& ctx, const ParsedArgs& args);
Status BackupPrune(CommandContext& ctx, const ParsedArgs& args);
Status DiagnoseMemory(CommandContext& ctx, const ParsedArgs& args);
// replication_commands.cc
Status ReplicationStatus(CommandContext& ctx, const ParsedArgs& args);
Status ReplicationPromote(CommandContext& ctx, const ParsedArgs& args);
Json ReplicationJson(const rpc::ReplicationInfo& replication);
void PrintReplication(const rpc::ReplicationInfo& replication);

Status CodePut(CommandContext& ctx, const ParsedArgs& args);
Status CodeGet(CommandContext& ctx, const ParsedArgs& args);
Status Ingest(CommandContext& ctx, const ParsedArgs& args);
Status Search(CommandContext& ctx, const ParsedArgs& args);
Status ContextAdd(CommandContext& ctx, const ParsedArgs& args);
Status ContextShow(CommandContext& ctx, const ParsedArgs& args);
Status MetaGet(CommandContext& ctx, const ParsedArgs& args);
Status MetaSet(CommandContext& ctx, const ParsedArgs& args);
Status MetaDelete(CommandContext& ctx, const ParsedArgs& args);
Status Top(CommandContext& ctx, const ParsedArgs& args);  // top.cc: the live dashboard

// The language a file's name suggests ("cpp", "python", ...); "" when unknown.
std::string LanguageForPath(const std::string& path);

}  // namespace postdevai::cli
