// A child program a test starts and may kill: exec'ed (never just forked: a
// forked copy of a process with LevelDB or CAF threads lacks the threads),
// its stdout a pipe the test reads. Catch2 REQUIREs a checked pid, so the
// test only ever signals its own child.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace postdevai::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
};

// Starts args[0] (a path) with args; the child's stdout goes to Child::out.
inline Child SpawnWithPipe(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  Child child;
  child.pid = ::fork();
  REQUIRE(child.pid >= 0);
  if (child.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  child.out = fds[0];
  return child;
}

}  // namespace postdevai::testing
