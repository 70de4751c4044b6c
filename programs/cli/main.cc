// postdevai-cli: operates a dragon_node from the command line.
//
//   postdevai-cli [--node HOST:PORT] [--config FILE] [--json] [-v] COMMAND ...
//
// Exit codes: 0 success; 1 the operation failed (the node refused it, the key
// does not exist, ...); 2 the command line is wrong; 3 the node cannot be
// reached or dropped the connection. A failure prints one line on stderr
// naming the problem (and, with --json, {"error": ...} on stdout).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "programs/cli/commands.h"
#include "rpc/grpc_log.h"
#include "rpc/token_file.h"

namespace postdevai::cli {

namespace {

constexpr std::uint16_t kDefaultPort = 4710;
// Connecting takes at most this long (or --timeout, when shorter).
constexpr std::uint64_t kConnectTimeoutSeconds = 30;

using Handler = Status (*)(CommandContext&, const ParsedArgs&);

struct CommandSpec {
  std::vector<std::string> words;  // {"memory", "stats"}
  std::string summary;             // one line for the group's list
  std::string description;         // the rest of --help
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
  Handler handler;
};

struct GroupSpec {
  std::string word;
  std::string summary;
};

const std::vector<GroupSpec>& Groups() {
  static const std::vector<GroupSpec> groups = {
      {"memory", "the two tiers: statistics, eviction, checkpoints, compaction, backups"},
      {"backup", "list, verify and prune the backups in a backup location"},
      {"replication", "a node's role, a replica's lag, and promotion"},
      {"diagnose", "checks with findings and what to do about them"},
      {"code", "store and fetch source files"},
      {"context", "session context messages"},
      {"meta", "metadata keys"},
  };
  return groups;
}

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> commands = {
      {{"memory", "stats"},
       "per-partition usage, hit rates, counters and LSNs",
       "Shows each RAM-Lake partition (entries, bytes in RAM against its budget, hits,\n"
       "misses, evictions, dirty entries, restarts), the node's read/write counters and\n"
       "hit rate, and its durable/applied/checkpoint LSNs.",
       {},
       {},
       MemoryStats},
      {{"memory", "breakdown"},
       "per partition in RAM and per kind in LevelDB",
       "Per partition: entries, bytes in RAM, budget. Per kind in LevelDB: entries,\n"
       "bytes on disk, compressed and raw value bytes, compression ratio, dictionary.",
       {},
       {},
       MemoryBreakdown},
      {{"memory", "evict"},
       "evict entries unused for a while from RAM (they stay in LevelDB)",
       "Evicts from every RAM-Lake partition the clean entries not used for DURATION.\n"
       "They stay in LevelDB (the cold tier) and return to RAM when read often.\n"
       "Dirty entries (not yet applied to LevelDB) are never evicted.\n"
       "DURATION: a number with a unit s, m, h or d, or a sum (30s, 15m, 24h, 7d, 1h30m).",
       {{"--cold", "", "evict to the cold tier (the only mode; nothing is deleted)"},
        {"--older-than", "DURATION", "only entries unused for at least DURATION (required)"},
        {"--dry-run", "", "evict nothing; show what would go, per partition"}},
       {},
       MemoryEvict},
      {{"memory", "sync-status"},
       "durable/applied/checkpoint LSN, sync lag, WAL segments",
       "Shows how far the WAL (durable), LevelDB (applied) and the last checkpoint\n"
       "have come, the time since the last checkpoint, and the WAL's live segments.\n"
       "With --config, compares the lag with the node's sync_interval_minutes.",
       {},
       {},
       MemorySyncStatus},
      {{"memory", "sync"},
       "checkpoint now",
       "Makes LevelDB durable up to the newest applied write, records that LSN and\n"
       "releases the WAL segments before it. Without --force it does nothing when\n"
       "the last checkpoint already covers every durable write.",
       {{"--force", "", "checkpoint even when nothing is new"}},
       {},
       MemorySync},
      {{"memory", "compact"},
       "compact LevelDB; shows bytes on disk before and after",
       "Compacts the whole LevelDB key range: overwritten and deleted values are\n"
       "dropped and the space returned. Can take a while on a large store.",
       {},
       {},
       MemoryCompact},
      {{"memory", "backup"},
       "a consistent backup into the node's backup location while writes go on",
       "Asks the node for a backup: a checkpoint, the store's files copied (hard-linked\n"
       "where they can be) into [backup] path as of that LSN, with a manifest of sizes\n"
       "and CRC32Cs. Writes go on meanwhile. Then backups beyond [backup] keep are\n"
       "removed, and the WAL archive is pruned to what the kept ones need.\n"
       "Restore with: dragon_node --config FILE --restore BACKUP_DIR [--to-lsn N | --to-time T].",
       {},
       {},
       MemoryBackup},
      {{"replication", "status"},
       "the node's replication role and, for a replica, how far behind it is",
       "Shows whether the node is a primary (and how many replicas follow it) or a\n"
       "replica: its primary, whether it is streaming or caught up, and its lag in\n"
       "LSNs, bytes and seconds (both ends' newest writes, stamped by the primary).",
       {},
       {},
       ReplicationStatus},
      {{"replication", "promote"},
       "turn a replica into a primary that takes writes",
       "The replica stops following, starts a new epoch of its store from its next\n"
       "LSN and takes writes. Its former primary is told (now, and at every start\n"
       "until it hears) to refuse writes from then on: make it a replica of this\n"
       "node. Writes the former primary made durable after the last one this node\n"
       "received are not here.",
       {},
       {},
       ReplicationPromote},
      {{"backup", "list"},
       "the backups in a backup location, oldest first, and its WAL archive",
       "Lists the complete backups in DIR (default: --config's [backup] path) with\n"
       "their LSN, time, files and bytes, and the size of the WAL archive. Reads the\n"
       "files directly: no node needed.",
       {},
       {{"DIR", false, false}},
       BackupList},
      {{"backup", "verify"},
       "re-read every byte of a backup against its manifest",
       "Reads every file the backup's manifest lists and compares its size and\n"
       "CRC32C. Exits 1 naming each file that differs. No node needed.",
       {},
       {{"BACKUP_DIR", true, false}},
       BackupVerify},
      {{"backup", "prune"},
       "remove all but the newest N backups",
       "Removes the oldest complete backups in DIR (default: --config's [backup]\n"
       "path) beyond the newest N. The node prunes its WAL archive to what the kept\n"
       "backups need at its next checkpoint. No node needed.",
       {{"--keep", "N", "how many backups to keep (at least 1; required)"}},
       {{"DIR", false, false}},
       BackupPrune},
      {{"diagnose", "memory"},
       "check RAM disk, budgets, hit rate, sync lag, WAL, compression, file health",
       "Asks the node to diagnose itself (its reports, its config and its files: RAM\n"
       "disk, WAL storage, free space) and prints one finding per check: ok,\n"
       "warning, critical or unknown, with what to do.",
       {},
       {},
       DiagnoseMemory},
      {{"code", "put"},
       "store a source file under PATH",
       "Stores the content of LOCALFILE (or stdin) as the code record PATH. The id is a\n"
       "hash of PATH, so storing the same PATH again replaces it.",
       {{"--language", "LANG", "the file's language (default: from PATH's extension)"},
        {"--file", "LOCALFILE", "read the content from LOCALFILE (default: stdin)"}},
       {{"PATH", true, false}},
       CodePut},
      {{"code", "get"},
       "print a stored source file",
       "Prints the stored content exactly (with --json: with its path, language, LSN and\n"
       "the tier it came from; content that is not UTF-8 is in content_base64).",
       {{"--id", "ID", "the record's id (as code put printed it)"}, {"--path", "PATH", "the path it was stored under"}},
       {},
       CodeGet},
      {{"ingest"},
       "store every text file of a source tree",
       "Walks DIR and stores every text file as a code record under DIR/<path inside>.\n"
       "Skips binary files (a NUL byte in the first 8000), symlinks, files over\n"
       "--max-file-bytes, hidden files and directories (.env, .git, ...: --hidden\n"
       "stores them), what the tree's .gitignore files exclude (--no-gitignore: no\n"
       "such check), and the directories build build-* cmake-build-* node_modules\n"
       "__pycache__ target venv CMakeFiles. Progress goes to\n"
       "stderr: a bar on a terminal, a line every 2 s otherwise.\n"
       "Each file is indexed for `search` as it is stored: split into chunks of about\n"
       "1.5 KiB, each embedded with the built-in lexical embedder (lexical-v1).",
       {{"--max-file-bytes", "N", "skip larger files (default 4194304)"},
        {"--hidden", "", "store hidden files and directories too (names starting with a dot)"},
        {"--no-gitignore", "", "do not skip what .gitignore files exclude"},
        {"--no-index", "", "store the code only, no vectors"},
        {"--dimension", "N", "embedding dimension: the node's [vectors] dimension (default: --config's, else 384)"}},
       {{"DIR", true, false}},
       Ingest},
      {{"search"},
       "find stored code by words and meaning (both tiers)",
       "Prints the stored files that best match TEXT, best first, each with its best\n"
       "chunk's lines and a snippet. --mode hybrid (default) fuses a keyword ranking\n"
       "(BM25 over every stored file's words: identifiers split, so parseConfigFile\n"
       "matches parse config file; light stemming) with the vector ranking of TEXT\n"
       "embedded by the built-in lexical embedder; lexical and vector use one alone\n"
       "(vector lists chunks, possibly several of one file).\n"
       "Session messages are searched too (by words always; by meaning when stored\n"
       "with embeddings), each shown with lines of the message.\n"
       "--json carries each result's scores: the fused one and each part's.",
       {{"--limit", "N", "how many results (default 10)"},
        {"--mode", "M", "hybrid (default), lexical or vector"},
        {"--session", "S", "only messages of session S"},
        {"--code-only", "", "only code files"},
        {"--sessions-only", "", "only session messages"},
        {"--no-snippet", "", "do not read the files and sessions to show snippets"},
        {"--path-prefix", "P", "only files whose path starts with P"},
        {"--language", "L", "only files of language L (e.g. cpp, python)"},
        {"--exact", "", "score every vector at full precision (slower)"},
        {"--dimension", "N", "embedding dimension (default: --config's [vectors], else 384)"}},
       {{"TEXT", true, true}},
       Search},
      {{"context", "add"},
       "append a message to a session's context",
       "Appends one message (the words of MESSAGE joined by spaces, or stdin when none\n"
       "is given) to SESSION's context, creating it if needed.",
       {},
       {{"SESSION", true, false}, {"MESSAGE", false, true}},
       ContextAdd},
      {{"context", "show"},
       "print a session's context",
       "Prints SESSION's messages, numbered, oldest first.",
       {},
       {{"SESSION", true, false}},
       ContextShow},
      {{"meta", "get"}, "print a metadata value", "Prints the value of KEY.", {}, {{"KEY", true, false}}, MetaGet},
      {{"meta", "set"},
       "set a metadata value",
       "Sets KEY to VALUE (durable when the command returns).",
       {},
       {{"KEY", true, false}, {"VALUE", true, false}},
       MetaSet},
      {{"meta", "delete"},
       "delete a metadata key",
       "Deletes KEY; says whether it existed. Deleting a missing key is not an error.",
       {},
       {{"KEY", true, false}},
       MetaDelete},
      {{"top"},
       "live dashboard: usage against budgets, hit rate, ops/s, latency, sync lag, WAL",
       "Redraws every --interval seconds on the terminal (at least 80x24): each RAM-Lake\n"
       "partition's bytes against its budget, hit rate and operations per second with\n"
       "their last 60 s, read/write latency, sync lag, WAL backlog, compression ratio\n"
       "(from a store scan every 10 s or more) and partition restarts. Rates are\n"
       "differences between two reports. A node that does not answer within 10 s (two\n"
       "intervals when longer, --timeout when shorter) counts as lost: the screen says\n"
       "so and top reconnects every interval. Needs a terminal. q or Ctrl-C quits.",
       {{"--interval", "SECONDS", "seconds between refreshes, 0.1 to 3600 (default 1)"}},
       {},
       Top},
  };
  return commands;
}

constexpr const char* kGlobalOptionsHelp =
    "global options (anywhere before a `--`):\n"
    "  --node HOST:PORT  the node's gRPC API (default: the config's [node] address and port, else\n"
    "                    127.0.0.1:4710)\n"
    "  --config FILE     the node's config file: its [node] address, port, TLS and token files\n"
    "  --ca FILE         TLS: the CA that signed the node's certificate\n"
    "  --cert FILE --key FILE\n"
    "                    this client's certificate and key, for a node that asks for mutual TLS\n"
    "                    (each overrides the config's [node] file)\n"
    "  --token-file FILE the node's access token (a file only its owner may read)\n"
    "  --timeout SECONDS how long one request may take (default 120; connecting at most 30;\n"
    "                    0 waits forever)\n"
    "  --json            print one JSON object on stdout\n"
    "  -v, --verbose     log what the client does on stderr\n"
    "  -h, --help        help for the command given before it\n";

std::string Join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

void PrintTopHelp(std::FILE* out) {
  std::fprintf(out,
               "usage: postdevai-cli [GLOBAL OPTIONS] COMMAND ...\n\n"
               "Operates a PostDevAI Hybrid Memory node (dragon_node).\n\ncommands:\n");
  for (const auto& c : Commands()) std::fprintf(out, "  %-22s %s\n", Join(c.words).c_str(), c.summary.c_str());
  std::fprintf(out, "\n%s\n", kGlobalOptionsHelp);
  std::fprintf(out,
               "exit codes: 0 success, 1 the operation failed, 2 bad command line, 3 node unreachable.\n"
               "`postdevai-cli COMMAND --help` describes a command.\n");
}

void PrintGroupHelp(const GroupSpec& g, std::FILE* out) {
  std::fprintf(out, "usage: postdevai-cli %s SUBCOMMAND ...\n\n%s\n\nsubcommands:\n", g.word.c_str(), g.summary.c_str());
  for (const auto& c : Commands()) {
    if (c.words.size() == 2 && c.words[0] == g.word) std::fprintf(out, "  %-12s %s\n", c.words[1].c_str(), c.summary.c_str());
  }
  std::fprintf(out, "\n`postdevai-cli %s SUBCOMMAND --help` describes one.\n", g.word.c_str());
}

void PrintCommandHelp(const CommandSpec& c, std::FILE* out) {
  std::string usage = "usage: postdevai-cli [GLOBAL OPTIONS] " + Join(c.words);
  if (!c.options.empty()) usage += " [OPTIONS]";
  for (const auto& p : c.positionals) {
    std::string name = p.name + (p.variadic ? "..." : "");
    usage += " " + (p.required ? name : "[" + name + "]");
  }
  std::fprintf(out, "%s\n\n%s\n", usage.c_str(), c.description.c_str());
  if (!c.options.empty()) {
    std::fprintf(out, "\noptions:\n");
    for (const auto& o : c.options) {
      std::string left = o.name + (o.value_name.empty() ? "" : " " + o.value_name);
      std::fprintf(out, "  %-24s %s\n", left.c_str(), o.help.c_str());
    }
  }
  std::fprintf(out, "\n%s", kGlobalOptionsHelp);
}

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kUnavailable: return 3;
    default: return 1;
  }
}

// Prints the one-line reason (and the JSON error object) and returns the exit code.
int Fail(const Status& s, bool json) {
  std::string line = s.message().empty() ? s.ToString() : s.message();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  // Bad arguments and unreachable nodes are explained by the message itself;
  // other codes keep their name ("not found: ...") so the kind of failure shows.
  if (s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kUnavailable) {
    line = std::string(StatusCodeName(s.code())) + ": " + line;
  }
  std::fprintf(stderr, "postdevai-cli: %s\n", line.c_str());
  if (json) {
    Json j = Json::MakeObject();
    Json e = Json::MakeObject();
    e.Set("code", std::string(StatusCodeName(s.code()))).Set("message", line);
    j.Set("error", std::move(e));
    std::printf("%s\n", j.Dump().c_str());
  }
  return ExitCodeFor(s);
}

// Pulls the global options out of argv (they may come anywhere before a
// "--"), leaving the command words and their arguments in order.
Status ParseGlobals(int argc, char** argv, GlobalOptions* globals, std::vector<std::string>* rest, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      // Everything after belongs to the command (a message starting with '-').
      for (; i < argc; ++i) rest->push_back(argv[i]);
      break;
    }
    std::string name = arg, value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      if (auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        has_inline = true;
      }
    }
    auto take = [&](std::string* out) -> Status {
      if (has_inline) {
        *out = value;
      } else if (i + 1 < argc) {
        *out = argv[++i];
      } else {
        return Status::InvalidArgument("option " + name + " needs a value (see postdevai-cli --help)");
      }
      return Status::Ok();
    };
    if (name == "--node") {
      std::string v;
      PDAI_RETURN_IF_ERROR(take(&v));
      globals->node = v;
    } else if (name == "--config") {
      PDAI_RETURN_IF_ERROR(take(&globals->config_path));
      if (globals->config_path.empty()) return Status::InvalidArgument("option --config needs a file name");
    } else if (name == "--cert") {
      PDAI_RETURN_IF_ERROR(take(&globals->cert));
    } else if (name == "--key") {
      PDAI_RETURN_IF_ERROR(take(&globals->key));
    } else if (name == "--ca") {
      PDAI_RETURN_IF_ERROR(take(&globals->ca));
    } else if (name == "--token-file") {
      PDAI_RETURN_IF_ERROR(take(&globals->token_file));
    } else if (name == "--timeout") {
      std::string v;
      PDAI_RETURN_IF_ERROR(take(&v));
      auto n = ParseCount(v, 7ull * 86400, "--timeout (seconds)");
      if (!n.ok()) return n.status();
      globals->timeout_seconds = *n;
    } else if (arg == "--json") {
      globals->json = true;
    } else if (arg == "-v" || arg == "--verbose") {
      globals->verbose = true;
    } else if (arg == "-h" || arg == "--help") {
      *help = true;
    } else {
      rest->push_back(arg);
    }
  }
  return Status::Ok();
}

int Run(int argc, char** argv) {
  GlobalOptions globals;
  std::vector<std::string> rest;
  bool help = false;
  // --json is honoured for errors in the command line too, when it was seen.
  for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) globals.json = true;
  }
  Status parsed = ParseGlobals(argc, argv, &globals, &rest, &help);
  if (!parsed.ok()) return Fail(parsed, globals.json);
  // gRPC's own lines (a failed TLS handshake, ...) only with -v: errors
  // reach the user once, as the one line the failed call returns.
  const bool verbose = globals.verbose;
  rpc::RouteGrpcLogs([verbose](rpc::GrpcLogSeverity, std::string_view line) {
    if (verbose) std::fprintf(stderr, "postdevai-cli: grpc: %.*s\n", static_cast<int>(line.size()), line.data());
  });

  // Resolve the command: the longest run of leading words that names one.
  if (rest.empty() || rest[0] == "help") {
    if (!rest.empty() && rest.size() > 1) {
      // `postdevai-cli help memory evict` == `postdevai-cli memory evict --help`.
      rest.erase(rest.begin());
      help = true;
    } else {
      if (!help && rest.empty()) {
        return Fail(Status::InvalidArgument("missing COMMAND (see postdevai-cli --help)"), globals.json);
      }
      PrintTopHelp(stdout);
      return 0;
    }
  }
  const GroupSpec* group = nullptr;
  for (const auto& g : Groups()) {
    if (g.word == rest[0]) group = &g;
  }
  const CommandSpec* command = nullptr;
  for (const auto& c : Commands()) {
    if (c.words.size() <= rest.size() && std::equal(c.words.begin(), c.words.end(), rest.begin())) command = &c;
  }
  if (command == nullptr) {
    if (group != nullptr) {
      if (help) {
        PrintGroupHelp(*group, stdout);
        return 0;
      }
      if (rest.size() < 2) {
        return Fail(Status::InvalidArgument("missing subcommand for " + group->word + " (see postdevai-cli " +
                                            group->word + " --help)"),
                    globals.json);
      }
      return Fail(Status::InvalidArgument("unknown command '" + group->word + " " + rest[1] + "' (see postdevai-cli " +
                                          group->word + " --help)"),
                  globals.json);
    }
    return Fail(Status::InvalidArgument("unknown command '" + rest[0] + "' (see postdevai-cli --help)"), globals.json);
  }
  if (help) {
    PrintCommandHelp(*command, stdout);
    return 0;
  }
  std::vector<std::string> args(rest.begin() + static_cast<std::ptrdiff_t>(command->words.size()), rest.end());
  auto parsed_args = ParseCommandArgs(args, command->options, command->positionals, Join(command->words));
  if (!parsed_args.ok()) return Fail(parsed_args.status(), globals.json);

  CommandContext ctx(globals);
  Status loaded = ctx.LoadConfig();
  if (!loaded.ok()) return Fail(loaded, globals.json);
  Status s = command->handler(ctx, *parsed_args);
  if (!s.ok()) return Fail(s, globals.json);
  if (globals.json) std::printf("%s\n", ctx.result().Dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

Status CommandContext::LoadConfig() {
  if (options_.config_path.empty()) return Status::Ok();
  std::vector<std::string> warnings;
  auto config = LoadConfigFile(options_.config_path, &warnings);
  if (!config.ok()) {
    // The loader lists every problem, one per line; the first names the key.
    std::string first = config.status().message();
    if (auto nl = first.find('\n'); nl != std::string::npos) first = first.substr(0, nl) + " (and more)";
    return Status::InvalidArgument("--config " + options_.config_path + ": " + first);
  }
  for (const auto& w : warnings) Log("config warning: " + w);
  config_ = std::move(*config);
  return Status::Ok();
}

Result<Endpoint> CommandContext::NodeEndpoint() const {
  if (options_.node) return ParseEndpoint(*options_.node, kDefaultPort, "--node");
  if (config_) {
    Endpoint e;
    e.host = config_->node.address;
    // A node bound to every interface is reached on loopback from its own machine.
    if (e.host.empty() || e.host == "0.0.0.0") e.host = "127.0.0.1";
    if (e.host == "::") e.host = "::1";
    e.port = config_->node.port;
    if (e.port == 0) {
      return Status::InvalidArgument("--config " + options_.config_path +
                                     " sets [node] port = 0 (any free port): give the port the node printed with --node HOST:PORT");
    }
    return e;
  }
  return Endpoint{"127.0.0.1", kDefaultPort};
}

Result<NodeClient*> CommandContext::Node() {
  if (node_) return node_.get();
  auto endpoint = NodeEndpoint();
  if (!endpoint.ok()) return endpoint.status();
  ConnectOptions options;
  options.host = endpoint->host;
  options.port = endpoint->port;
  if (config_) options.tls = config_->node;
  // Flags override the config's files one by one.
  if (!options_.cert.empty()) options.tls.certificate = options_.cert;
  if (!options_.key.empty()) options.tls.key = options_.key;
  if (!options_.ca.empty()) options.tls.ca_file = options_.ca;
  if (options.tls.certificate.empty() != options.tls.key.empty()) {
    return Status::InvalidArgument(std::string("mutual TLS needs --cert and --key together (or the config's [node] "
                                               "certificate and key); ") +
                                   (options.tls.certificate.empty() ? "--cert" : "--key") + " missing");
  }
  std::string token_file = config_ ? config_->node.token_file : std::string();
  if (!options_.token_file.empty()) token_file = options_.token_file;
  if (!token_file.empty()) {
    auto token = rpc::ReadTokenFile(token_file);
    if (!token.ok()) return token.status();
    options.token = std::move(*token);
  }
  for (const auto* file : {&options.tls.certificate, &options.tls.key, &options.tls.ca_file}) {
    if (!file->empty()) {
      std::FILE* f = std::fopen(file->c_str(), "r");
      if (f == nullptr) return Status::InvalidArgument("cannot read TLS file " + *file + ": " + std::strerror(errno));
      std::fclose(f);
    }
  }
  options.timeout = std::chrono::seconds(options_.timeout_seconds);
  if (options_.verbose) options.log = [this](const std::string& line) { Log(line); };
  // The first call (Info) waits until the node answers or its deadline
  // passes, and a host that drops packets holds it for the whole --timeout.
  // A watchdog bounds that wait and exits with the one-line reason.
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  std::thread watchdog;
  if (options_.timeout_seconds > 0) {
    const auto limit = std::chrono::seconds(std::min<std::uint64_t>(options_.timeout_seconds, kConnectTimeoutSeconds));
    watchdog = std::thread([&, limit] {
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, limit, [&] { return connected; })) {
        std::fflush(stdout);
        Fail(Status::Unavailable("no dragon_node answered at " + endpoint->ToString() + " within " +
                                 std::to_string(limit.count()) + " s (connect timed out)"),
             options_.json);
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(3);
      }
    });
  }
  auto client = NodeClient::Connect(options);
  if (watchdog.joinable()) {
    {
      std::lock_guard lock(mu);
      connected = true;
    }
    cv.notify_one();
    watchdog.join();
  }
  if (!client.ok()) return client.status();
  node_ = std::move(*client);
  return node_.get();
}

void CommandContext::Log(const std::string& line) const {
  if (options_.verbose) std::fprintf(stderr, "postdevai-cli: %s\n", line.c_str());
}

}  // namespace postdevai::cli

int main(int argc, char** argv) { return postdevai::cli::Run(argc, argv); }
