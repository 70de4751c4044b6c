// Runs postdevai-cli as a subprocess for tests (tests/cli_test.cc,
// tests/tls_test.cc), and reads its --json output with a small JSON parser
// of our own (no python in the loop). Output goes through files, not pipes,
// so a chatty child can never block on a full pipe while the test waits.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace postdevai::testing {

// ---------------------------------------------------------------- JSON

// A parsed JSON value. Numbers are doubles (exact for the integers the CLI
// prints: LSNs and counts stay far below 2^53).
struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  bool Has(const std::string& key) const { return type == Type::kObject && object.count(key) > 0; }
  // The member `key`; throws naming it when absent, so a test fails clearly.
  const JsonValue& operator[](const std::string& key) const {
    if (type != Type::kObject) throw std::runtime_error("JSON: not an object when looking up '" + key + "'");
    auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error("JSON: no member '" + key + "'");
    return it->second;
  }
  const JsonValue& operator[](std::size_t i) const {
    if (type != Type::kArray || i >= array.size()) throw std::runtime_error("JSON: no element " + std::to_string(i));
    return array[i];
  }
  std::uint64_t u64() const {
    if (type != Type::kNumber) throw std::runtime_error("JSON: not a number");
    return static_cast<std::uint64_t>(number);
  }
  bool is_null() const { return type == Type::kNull; }
};

class JsonParser {
 public:
  // Parses exactly one value (surrounding whitespace allowed); throws on
  // anything else, naming the offset.
  static JsonValue Parse(const std::string& text) {
    JsonParser p(text);
    JsonValue v = p.Value();
    p.SkipSpace();
    if (p.pos_ != text.size()) p.Fail("trailing characters");
    return v;
  }

 private:
  explicit JsonParser(const std::string& text) : s_(text) {}

  [[noreturn]] void Fail(const std::string& why) const {
    throw std::runtime_error("JSON: " + why + " at offset " + std::to_string(pos_) + " in: " + s_.substr(0, 400));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool Consume(const char* word) {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) == 0) {
      pos_ += w.size();
      return true;
    }
    return false;
  }
  JsonValue Value() {
    SkipSpace();
    if (pos_ >= s_.size()) Fail("unexpected end");
    JsonValue v;
    const char c = s_[pos_];
    if (c == '{') {
      v.type = JsonValue::Type::kObject;
      ++pos_;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '"') Fail("expected a key");
        std::string key = String();
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':') Fail("expected ':'");
        ++pos_;
        if (v.object.count(key)) Fail("duplicate key '" + key + "'");
        v.object[key] = Value();
        SkipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return v;
        }
        Fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = JsonValue::Type::kArray;
      ++pos_;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        v.array.push_back(Value());
        SkipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return v;
        }
        Fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = JsonValue::Type::kString;
      v.string = String();
      return v;
    }
    if (Consume("true")) {
      v.type = JsonValue::Type::kBool;
      v.boolean = true;
      return v;
    }
    if (Consume("false")) {
      v.type = JsonValue::Type::kBool;
      return v;
    }
    if (Consume("null")) return v;
    // A number, in JSON's grammar (no leading '+', no NaN).
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) Fail("expected a value");
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-')) {
      ++pos_;
    }
    v.type = JsonValue::Type::kNumber;
    char* end = nullptr;
    const std::string digits = s_.substr(start, pos_ - start);
    v.number = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size()) Fail("bad number '" + digits + "'");
    return v;
  }
  std::string String() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) Fail("raw control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) Fail("unfinished escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) Fail("short \\u escape");
          const unsigned cp = static_cast<unsigned>(std::stoul(s_.substr(pos_, 4), nullptr, 16));
          pos_ += 4;
          // The CLI escapes only control characters this way: one byte each.
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default: Fail(std::string("bad escape \\") + e);
      }
    }
    Fail("unterminated string");
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------- processes

struct CliResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
  // The --json object on stdout; throws (failing the test) when it is not one.
  JsonValue Json() const { return JsonParser::Parse(out); }
  // stderr without its final newline, and whether that is exactly one line.
  bool ErrIsOneLine() const {
    return !err.empty() && err.back() == '\n' && err.find('\n') == err.size() - 1;
  }
};

inline std::string CliPath() { return std::string(POSTDEVAI_BIN_DIR) + "/postdevai-cli"; }

// Starts `program` with args; stdin from `stdin_file` (or /dev/null),
// stdout and stderr into dir/cli.out and dir/cli.err. Returns the pid.
inline pid_t SpawnProgram(const std::string& program, const std::vector<std::string>& args, const std::string& dir,
                          const std::string& stdin_file = "") {
  if (::access(program.c_str(), X_OK) != 0) throw std::runtime_error(program + " is not built");
  std::vector<std::string> all = {program};
  all.insert(all.end(), args.begin(), args.end());
  const std::string out = dir + "/cli.out", err = dir + "/cli.err";
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open(stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Starts postdevai-cli (see SpawnProgram).
inline pid_t SpawnCli(const std::vector<std::string>& args, const std::string& dir, const std::string& stdin_file = "") {
  return SpawnProgram(CliPath(), args, dir, stdin_file);
}

// Waits for pid; kills it after `limit` (a hung CLI fails the test, not the run).
inline int WaitCli(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error("postdevai-cli did not finish within " + std::to_string(limit.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs a program of the build (bin/NAME) to completion, without stdin.
inline CliResult RunProgram(const std::string& name, const std::vector<std::string>& args) {
  TempDir dir("program-run");
  CliResult r;
  pid_t pid = SpawnProgram(std::string(POSTDEVAI_BIN_DIR) + "/" + name, args, dir.path());
  r.exit_code = WaitCli(pid);
  r.out = ReadFile(dir / "cli.out");
  r.err = ReadFile(dir / "cli.err");
  return r;
}

// Runs postdevai-cli to completion. `stdin_data`, when given, is its stdin.
inline CliResult RunCli(const std::vector<std::string>& args, const std::string& stdin_data = "",
                        bool with_stdin = false) {
  TempDir dir("cli-run");
  std::string in;
  if (with_stdin || !stdin_data.empty()) {
    in = dir / "stdin";
    WriteFile(in, stdin_data);
  }
  CliResult r;
  pid_t pid = SpawnCli(args, dir.path(), in);
  r.exit_code = WaitCli(pid);
  r.out = ReadFile(dir / "cli.out");
  r.err = ReadFile(dir / "cli.err");
  return r;
}

// A loopback TCP port nothing listens on (bound, then released: the kernel
// does not hand it out again right away).
inline std::uint16_t UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Whether the process is still running (not exited, not a zombie we reaped).
inline bool ProcessAlive(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

}  // namespace postdevai::testing
