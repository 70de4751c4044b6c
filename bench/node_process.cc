#include "bench/node_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace postdevai::bench {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path().string();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

std::uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool ChildProcess::Spawn(const std::string& what, const std::vector<std::string>& argv, const std::string& log) {
  name = what;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the bench is already gone
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (pid < 0) {
    std::fprintf(stderr, "cannot start %s: %s\n", what.c_str(), std::strerror(errno));
    pid = -1;
    return false;
  }
  return true;
}

bool ChildProcess::Alive() {
  if (pid <= 0) return false;
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) {
    pid = -1;
    return false;
  }
  return true;
}

// The pid is still ours until waitpid reaps it, so it cannot name another process.
bool ChildProcess::Stop(std::chrono::seconds grace) {
  if (pid <= 0) return true;
  ::kill(pid, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "%s (pid %d) did not stop in %lld s after SIGTERM; killing it\n", name.c_str(), pid,
               static_cast<long long>(grace.count()));
  Kill();
  return false;
}

int ChildProcess::Wait() {
  if (pid <= 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ChildProcess::Kill() {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

bool NodeProcess::Start(const std::string& config, bool caf, std::string* why, std::chrono::seconds ready_within) {
  log = std::filesystem::path(config).parent_path().string() + "/node.log";
  const std::string exe = SelfDir() + "/dragon_node";
  auto fail = [&](const std::string& text) {
    if (why != nullptr) {
      *why = text;
    } else {
      std::fprintf(stderr, "%s: %s\n", tag.c_str(), text.c_str());
    }
    return false;
  };
  if (::access(exe.c_str(), X_OK) != 0) {
    return fail(exe + " not found: build the dragon_node target beside postdevai-bench");
  }
  // Only what this start logs counts.
  const std::size_t offset = ReadAll(log).size();
  if (!process.Spawn("dragon_node", {exe, "--config", config}, log)) return fail("cannot start dragon_node");
  const std::regex grpc_line(R"(serving the gRPC API \S+ at [0-9.]+:([0-9]+))");
  const std::regex caf_line(R"(serving the engine at [0-9.]+:([0-9]+) \(CAF endpoint)");
  const std::regex ready_line(R"(\bready\b)");
  const auto deadline = std::chrono::steady_clock::now() + ready_within;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadAll(log);
    text = text.size() > offset ? text.substr(offset) : std::string();
    std::smatch g, c;
    const bool ready = std::regex_search(text, ready_line);
    if (ready && std::regex_search(text, g, grpc_line) && (!caf || std::regex_search(text, c, caf_line))) {
      grpc_port = static_cast<std::uint16_t>(std::stoi(g[1]));
      if (caf) caf_port = static_cast<std::uint16_t>(std::stoi(c[1]));
      return true;
    }
    if (!process.Alive()) return fail("dragon_node did not start:\n" + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  process.Kill();
  return fail("dragon_node did not report ready in " + std::to_string(ready_within.count()) + " s:\n" +
              ReadAll(log).substr(offset));
}

bool NodeProcess::Check() {
  if (process.Alive()) return true;
  std::fprintf(stderr, "%s: dragon_node stopped:\n%s\n", tag.c_str(), ReadAll(log).c_str());
  return false;
}

double NodeProcess::CpuSeconds() const { return ProcessCpuSeconds(process.pid); }

// CPU seconds (user + system) a process of ours has used so far; -1 if gone.
double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) return -1;
  const std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::stringstream fields(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the command: state(3) ... utime is field 14, stime 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace postdevai::bench
