// Processes a scenario starts (dragon_node, redis-server), by a pid it
// checked: a failed fork() is reported, never signalled, and a child is only
// signalled until it has been reaped. Used by `remote` and `soak`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace postdevai::bench {

// The whole file (empty when it cannot be read).
std::string ReadAll(const std::string& path);
// The directory of this executable (dragon_node is built beside it).
std::string SelfDir();
bool WriteFile(const std::string& path, const std::string& text);
// A port no one listens on now (the kernel's pick).
std::uint16_t FreePort();

// A child process we started; stopped (SIGTERM, then waited for) by its pid
// when it goes out of scope.
struct ChildProcess {
  pid_t pid = -1;
  std::string name;

  // Runs argv with stdout and stderr appended to `log`; the child dies with
  // the bench (PR_SET_PDEATHSIG).
  bool Spawn(const std::string& what, const std::vector<std::string>& argv, const std::string& log);
  bool Alive();
  // SIGTERM, up to `grace` to stop cleanly, then SIGKILL. True if it stopped by itself.
  bool Stop(std::chrono::seconds grace = std::chrono::seconds(30));
  // SIGKILL and reap: a crash.
  void Kill();
  // Waits for it to end by itself: its exit code, or -1 (killed by a signal).
  int Wait();
  ~ChildProcess() { Stop(); }
};

// A dragon_node of ours, started from a config file; `tag` prefixes what it
// reports on stderr.
struct NodeProcess {
  explicit NodeProcess(std::string tag) : tag(std::move(tag)) {}
  std::string tag;
  ChildProcess process;
  std::uint16_t grpc_port = 0;
  std::uint16_t caf_port = 0;
  std::string log;  // beside the config; appended to across restarts

  // Starts it and waits (up to `ready_within`) for `ready` and its
  // endpoints. On failure, *why (when given) gets the end of the log, else
  // it is printed.
  bool Start(const std::string& config, bool caf, std::string* why = nullptr,
             std::chrono::seconds ready_within = std::chrono::seconds(60));
  // Alive; if not, says so with the log.
  bool Check();
  double CpuSeconds() const;
};

// CPU seconds (user + system) a process of ours has used so far; -1 if gone.
double ProcessCpuSeconds(pid_t pid);

}  // namespace postdevai::bench
