// `code put|get`, `context add|show`, `meta get|set|delete`: the records a
// coding assistant keeps, through the client core (client/memory_client.h),
// so the CLI stores and reads them exactly as the facade does.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "postdevai/hybrid_memory.h"
#include "programs/cli/commands.h"

namespace postdevai::cli {

namespace {

// Text as a JSON string when it is UTF-8; otherwise its bytes in base64
// under `<field>_base64`, so that the output stays valid JSON and loses nothing.
void SetText(Json* j, const std::string& field, const std::string& bytes) {
  if (IsValidUtf8(bytes)) {
    j->Set(field, bytes);
  } else {
    j->Set(field + "_base64", Base64Encode(bytes));
  }
}

// An array element: the text, or {"base64": ...} when it is not UTF-8.
Json TextElement(const std::string& bytes) {
  if (IsValidUtf8(bytes)) return Json(bytes);
  Json j = Json::MakeObject();
  j.Set("base64", Base64Encode(bytes));
  return j;
}

Result<std::string> ReadLocalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IoError("reading " + path + ": " + std::strerror(errno));
  return data;
}

// All of stdin; refuses a terminal, where waiting for EOF looks like a hang
// (`when_terminal` is the error then).
Result<std::string> ReadStdin(const std::string& when_terminal) {
  if (::isatty(STDIN_FILENO)) return Status::InvalidArgument(when_terminal);
  std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return Status::IoError("reading stdin: " + std::string(std::strerror(errno)));
  return data;
}

// Validates a key the user typed; the node refuses the same, but naming the
// argument here is clearer than the node's "write: empty key".
Status CheckKey(const std::string& key, const std::string& what) {
  if (key.empty()) return Status::InvalidArgument(what + " is empty");
  if (key.size() > 4096) return Status::InvalidArgument(what + " is " + std::to_string(key.size()) + " bytes (limit 4096)");
  return Status::Ok();
}

}  // namespace

std::string LanguageForPath(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name == "CMakeLists.txt") return "cmake";
  if (name == "Makefile" || name == "makefile" || name == "GNUmakefile") return "make";
  if (name == "Dockerfile") return "dockerfile";
  const auto dot = name.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return "";
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> kByExtension[] = {
      {"cc", "cpp"},       {"cpp", "cpp"},        {"cxx", "cpp"},     {"hh", "cpp"},       {"hpp", "cpp"},
      {"hxx", "cpp"},      {"ipp", "cpp"},        {"h", "c"},         {"c", "c"},          {"py", "python"},
      {"rs", "rust"},      {"go", "go"},          {"java", "java"},   {"kt", "kotlin"},    {"js", "javascript"},
      {"mjs", "javascript"}, {"ts", "typescript"}, {"tsx", "typescript"}, {"jsx", "javascript"}, {"rb", "ruby"},
      {"sh", "shell"},     {"bash", "shell"},     {"zsh", "shell"},   {"md", "markdown"},  {"rst", "rst"},
      {"toml", "toml"},    {"json", "json"},      {"yaml", "yaml"},   {"yml", "yaml"},     {"cmake", "cmake"},
      {"sql", "sql"},      {"html", "html"},      {"css", "css"},     {"swift", "swift"},  {"m", "objc"},
      {"mm", "objcpp"},    {"cs", "csharp"},      {"scala", "scala"}, {"lua", "lua"},      {"pl", "perl"},
      {"php", "php"},      {"proto", "protobuf"}, {"txt", "text"},    {"xml", "xml"},      {"zig", "zig"},
  };
  for (const auto& [e, lang] : kByExtension) {
    if (ext == e) return lang;
  }
  return "";
}

Status CodePut(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& path = args.positionals[0];
  PDAI_RETURN_IF_ERROR(CheckKey(path, "PATH"));
  const auto file = args.Get("--file");
  Result<std::string> content = (file && *file != "-") ? ReadLocalFile(*file) : ReadStdin("no content for " + path + ": give --file LOCALFILE or pipe the content on stdin");
  if (!content.ok()) return content.status();
  const std::string language = args.Get("--language").value_or(LanguageForPath(path));

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  const std::uint64_t bytes = content->size();
  // Replaces the file and drops the vectors of its old content (search no
  // longer finds what the file used to say).
  auto stored = (*node)->memory().StoreCode({path, std::move(*content), language, {}, false});
  if (!stored.ok()) return stored.status().WithContext("storing " + path);
  const std::string& id = stored->id;
  const std::uint64_t lsn = stored->lsn;

  Json& j = ctx.result();
  j.Set("id", id).Set("path", path).Set("language", language).Set("bytes", bytes).Set("lsn", lsn);
  if (!ctx.json()) {
    std::printf("stored %s (id %s, %s, %s) at LSN %llu\n", path.c_str(), id.c_str(), FormatBytes(bytes).c_str(),
                language.empty() ? "language unknown" : language.c_str(), static_cast<unsigned long long>(lsn));
  }
  return Status::Ok();
}

Status CodeGet(CommandContext& ctx, const ParsedArgs& args) {
  const auto id_arg = args.Get("--id");
  const auto path_arg = args.Get("--path");
  if (id_arg.has_value() == path_arg.has_value()) {
    return Status::InvalidArgument("code get needs exactly one of --id ID or --path PATH");
  }
  if (path_arg) PDAI_RETURN_IF_ERROR(CheckKey(*path_arg, "--path"));
  if (id_arg) PDAI_RETURN_IF_ERROR(CheckKey(*id_arg, "--id"));
  const std::string id = id_arg ? *id_arg : CodeIdForPath(*path_arg);

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto& memory = (*node)->memory();
  auto record = path_arg ? memory.GetCodeByPath(*path_arg) : memory.GetCode(id);
  if (!record.ok()) return record.status();

  Json& j = ctx.result();
  j.Set("id", id)
      .Set("path", record->path)
      .Set("language", record->language)
      .Set("bytes", static_cast<std::uint64_t>(record->content.size()))
      .Set("lsn", record->lsn)
      .Set("served_from", record->served_from_ram ? "ram" : "disk");
  SetText(&j, "content", record->content);
  if (!ctx.json()) {
    // The bytes as stored, nothing added: `code get --path P > file` round-trips.
    std::fwrite(record->content.data(), 1, record->content.size(), stdout);
  }
  return Status::Ok();
}

Status ContextAdd(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& session = args.positionals[0];
  PDAI_RETURN_IF_ERROR(CheckKey(session, "SESSION"));
  std::string message;
  if (args.positionals.size() > 1) {
    // The words form one message, as `echo` joins its arguments.
    for (std::size_t i = 1; i < args.positionals.size(); ++i) {
      if (i > 1) message += ' ';
      message += args.positionals[i];
    }
  } else {
    auto in = ReadStdin("missing MESSAGE for context add: give it as arguments or pipe it on stdin");
    if (!in.ok()) return in.status();
    message = std::move(*in);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.empty()) return Status::InvalidArgument("missing MESSAGE for context add: stdin was empty");
  }

  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  // The node appends (one append per session at a time, so concurrent
  // clients never lose a message).
  auto appended = (*node)->memory().AppendContext(session, message);
  if (!appended.ok()) return appended.status().WithContext("adding to session " + session);
  const std::uint64_t lsn = appended->lsn;
  const std::uint64_t count = appended->messages;

  Json& j = ctx.result();
  j.Set("session", session).Set("messages", count).Set("lsn", lsn);
  if (!ctx.json()) {
    std::printf("session %s: %llu message(s), stored at LSN %llu\n", session.c_str(),
                static_cast<unsigned long long>(count), static_cast<unsigned long long>(lsn));
  }
  return Status::Ok();
}

Status ContextShow(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& session = args.positionals[0];
  PDAI_RETURN_IF_ERROR(CheckKey(session, "SESSION"));
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto context = (*node)->memory().GetContext(session);
  if (!context.ok()) return context.status();
  const auto* messages = &context->messages;

  Json& j = ctx.result();
  Json list = Json::MakeArray();
  for (const auto& m : *messages) list.Push(TextElement(m));
  j.Set("session", session)
      .Set("messages", std::move(list))
      .Set("lsn", context->lsn)
      .Set("served_from", context->served_from_ram ? "ram" : "disk");
  if (!ctx.json()) {
    for (std::size_t i = 0; i < messages->size(); ++i) std::printf("%4zu  %s\n", i + 1, (*messages)[i].c_str());
  }
  return Status::Ok();
}

Status MetaGet(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& key = args.positionals[0];
  PDAI_RETURN_IF_ERROR(CheckKey(key, "KEY"));
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto read = (*node)->memory().GetMetadata(key);
  if (!read.ok()) return read.status();
  Json& j = ctx.result();
  j.Set("key", key);
  SetText(&j, "value", read->value);
  j.Set("lsn", read->lsn).Set("served_from", read->served_from == records::tier::ram ? "ram" : "disk");
  if (!ctx.json()) {
    std::fwrite(read->value.data(), 1, read->value.size(), stdout);
    std::fputc('\n', stdout);
  }
  return Status::Ok();
}

Status MetaSet(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& key = args.positionals[0];
  const std::string& value = args.positionals[1];
  PDAI_RETURN_IF_ERROR(CheckKey(key, "KEY"));
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto lsn = (*node)->memory().PutMetadata(key, value);
  if (!lsn.ok()) return lsn.status().WithContext("setting " + key);
  Json& j = ctx.result();
  j.Set("key", key).Set("bytes", static_cast<std::uint64_t>(value.size())).Set("lsn", *lsn);
  if (!ctx.json()) std::printf("set %s (%s) at LSN %llu\n", key.c_str(), FormatBytes(value.size()).c_str(), static_cast<unsigned long long>(*lsn));
  return Status::Ok();
}

Status MetaDelete(CommandContext& ctx, const ParsedArgs& args) {
  const std::string& key = args.positionals[0];
  PDAI_RETURN_IF_ERROR(CheckKey(key, "KEY"));
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  // Read first only to tell the user whether there was anything to delete;
  // the delete itself is written either way (deleting is idempotent).
  auto& memory = (*node)->memory();
  auto read = memory.GetMetadata(key);
  if (!read.ok() && !read.status().IsNotFound()) return read.status();
  const bool existed = read.ok();
  auto lsn = memory.DeleteMetadata(key);
  if (!lsn.ok()) return lsn.status().WithContext("deleting " + key);
  Json& j = ctx.result();
  j.Set("key", key).Set("existed", existed).Set("lsn", *lsn);
  if (!ctx.json()) {
    if (existed) {
      std::printf("deleted %s at LSN %llu\n", key.c_str(), static_cast<unsigned long long>(*lsn));
    } else {
      std::printf("%s was not set; nothing to delete\n", key.c_str());
    }
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
