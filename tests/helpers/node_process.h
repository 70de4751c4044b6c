// Starts a real dragon_node process for tests that need one (CLI, metrics,
// remote access): writes a small config into a temp dir (ports 0, RAM-Lake in
// /dev/shm), waits until the node logs its endpoints (the gRPC API, metrics,
// and the CAF endpoint when the config enables it), and stops it (SIGTERM)
// on destruction.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <thread>

#include "tests/test_util.h"

namespace postdevai::testing {

class NodeProcess {
 public:
  // extra_toml is appended to the generated config (e.g. a [caf] block);
  // node_section goes into [node] (e.g. TLS files).
  // CafEnabled(): the TOML that turns on the CAF endpoint (plaintext, loopback).
  // data_path: the persistent_path (default: beneath the node's scratch dir).
  // ramlake_path: the RAM-Lake's directory (default: beneath a scratch dir
  // in /dev/shm of its own). port: the gRPC API's (0: one the node picks,
  // another at each start; FreePort() for one that stays).
  explicit NodeProcess(const std::string& extra_toml = "", const std::string& node_section = "",
                       const std::string& data_path = "", const std::string& ramlake_path = "",
                       std::uint16_t port = 0)
      : disk_("node"), ram_("node", "/dev/shm") {
    config_path_ = disk_ / "dragon_node.toml";
    log_path_ = disk_ / "node.log";
    std::ofstream config(config_path_);
    config << "[hybrid_memory]\n"
           << "ramlake_size_gb = 0.0625\n"
           << "ramlake_path = \"" << (ramlake_path.empty() ? ram_.path() + "/ramlake" : ramlake_path) << "\"\n"
           << "persistent_size_tb = 0.001\n"
           << "persistent_path = \"" << (data_path.empty() ? disk_.path() + "/data" : data_path) << "\"\n"
           << "cache_size_mb = 8\n"
           << "max_ram_entries = 100000\n"
           << "[node]\nport = " << port << "\n" << node_section << "\n"
           << "[metrics]\nport = 0\n"
           << extra_toml;
    config.close();
    Start();
  }
  ~NodeProcess() { Stop(); }

  // Starts the node (again, after Stop or Kill: same config and data).
  void Start() {
    const std::string node = std::string(POSTDEVAI_BIN_DIR) + "/dragon_node";
    // Only what this start logs counts (the log is appended to across restarts).
    const std::size_t log_offset = ReadFile(log_path_).size();
    port_ = 0;
    metrics_port_ = 0;
    caf_port_ = 0;
    const bool caf_wanted = ReadFile(config_path_).find("[caf]\nenabled = true") != std::string::npos;
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      ::execl(node.c_str(), node.c_str(), "--config", config_path_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait for the endpoints in the log.
    const std::regex grpc(R"(serving the gRPC API postdevai.memory.v1 at ([0-9.]+):([0-9]+))");
    const std::regex caf(R"(serving the engine at ([0-9.]+):([0-9]+))");
    const std::regex metrics(R"(metrics at http://([0-9.]+):([0-9]+)/metrics)");
    for (int i = 0; i < 600; ++i) {
      std::string log = ReadFile(log_path_);
      log = log.size() > log_offset ? log.substr(log_offset) : std::string();
      std::smatch m;
      if (std::regex_search(log, m, grpc)) port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
      if (std::regex_search(log, m, caf)) caf_port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
      if (std::regex_search(log, m, metrics)) metrics_port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
      if (port_ != 0 && metrics_port_ != 0 && (caf_port_ != 0 || !caf_wanted)) return;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("dragon_node exited at start-up:\n" + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("dragon_node did not report its endpoints:\n" + ReadFile(log_path_));
  }

  // SIGTERM, then wait; returns the exit status.
  int Stop() {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // SIGKILL, then wait: the node dies as in a crash (no checkpoint).
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick).
  static std::uint16_t FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static std::string CafEnabled() { return "[caf]\nenabled = true\nport = 0\ninsecure = true\n"; }

  // The gRPC API's port (what postdevai-cli --node takes).
  std::uint16_t port() const { return port_; }
  // The CAF endpoint's port; 0 unless the config enables it (CafEnabled()).
  std::uint16_t caf_port() const { return caf_port_; }
  std::uint16_t metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  const std::string& config_path() const { return config_path_; }
  std::string log() const { return ReadFile(log_path_); }
  const TempDir& disk() const { return disk_; }

 private:
  TempDir disk_;
  TempDir ram_;
  std::string config_path_, log_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0, metrics_port_ = 0, caf_port_ = 0;
};

// postdevai-cli's arguments `args` aimed at `node` (--node 127.0.0.1:PORT first).
inline std::vector<std::string> CliArgsFor(const NodeProcess& node, std::vector<std::string> args) {
  args.insert(args.begin(), {"--node", "127.0.0.1:" + std::to_string(node.port())});
  return args;
}

}  // namespace postdevai::testing
