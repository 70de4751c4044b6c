// The TCP connections of the gRPC door, found among the process's own file
// descriptors, and ended when the node must end them.
//
// gRPC 1.51 can neither cap the connections a server accepts nor close one
// connection from a handler (a call can only be cancelled, and a client that
// never acknowledges SETTINGS keeps opening streams on its connection). This
// does both for it: it ends a connection with shutdown(2) on its socket. gRPC
// keeps owning the descriptor (nothing here ever closes one); it sees the
// connection end and frees the connection and every stream on it.
//
// A socket is the door's when its local port is the door's and it is not the
// listening socket. Before a shutdown the socket is checked again (local
// port and peer), so a descriptor number that gRPC closed and the process
// reused in between is left alone.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <sys/types.h>

namespace postdevai::rpc {

class ConnectionGuard {
 public:
  // Watches the connections to local `port`. When `max_connections` > 0, a
  // scan every `interval` ends the newest connections beyond it (the
  // oldest keep being served, as if the newest had been refused at accept).
  // Age is known to the scan: connections first seen by the same scan are
  // told apart by their socket's inode number only, not by time.
  ConnectionGuard(std::uint16_t port, std::uint32_t max_connections, std::chrono::milliseconds interval);
  // Stops the scan; connections stay as they are.
  ~ConnectionGuard();

  // Ends the connection of `peer`, as gRPC names it ("ipv4:127.0.0.1:53412",
  // "ipv6:[::1]:53412"). False when no connection of the door has that peer
  // (gone already) or the name does not parse.
  bool Drop(const std::string& peer);

  // Connections seen by the last scan (0 before the first, or with no cap).
  std::uint64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  // Connections ended for being over the cap, and by Drop.
  std::uint64_t over_cap() const { return over_cap_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

 private:
  void ScanLoop();
  void EnforceCap();

  const std::uint16_t port_;
  const std::uint32_t max_connections_;
  const std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> connections_{0}, over_cap_{0}, dropped_{0};
  // Scanner thread only: which scan first saw each connection (by inode).
  std::uint64_t scans_ = 0;
  std::unordered_map<ino_t, std::uint64_t> first_seen_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread scanner_;
};

}  // namespace postdevai::rpc
