#include "rpc/connection_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

namespace postdevai::rpc {

namespace {

// A TCP endpoint; an IPv4-mapped IPv6 address counts as the IPv4 one (a
// dual-stack listener sees IPv4 clients that way, gRPC names them ipv4:).
struct Endpoint {
  bool v6 = false;
  std::array<unsigned char, 16> address{};
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

std::optional<Endpoint> EndpointOf(const sockaddr_storage& ss) {
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    std::memcpy(e.address.data(), &in.sin_addr, 4);
    e.port = ntohs(in.sin_port);
    return e;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    e.port = ntohs(in6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      std::memcpy(e.address.data(), in6.sin6_addr.s6_addr + 12, 4);
    } else {
      e.v6 = true;
      std::memcpy(e.address.data(), in6.sin6_addr.s6_addr, 16);
    }
    return e;
  }
  return std::nullopt;
}

// gRPC's peer name: "ipv4:A.B.C.D:PORT" or "ipv6:[ADDR]:PORT" (brackets
// possibly percent-encoded).
std::optional<Endpoint> ParsePeer(const std::string& peer) {
  std::string text;
  for (std::size_t i = 0; i < peer.size(); ++i) {
    if (peer[i] == '%' && i + 2 < peer.size()) {
      text += static_cast<char>(std::strtol(peer.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      text += peer[i];
    }
  }
  const bool v6 = text.rfind("ipv6:", 0) == 0;
  if (!v6 && text.rfind("ipv4:", 0) != 0) return std::nullopt;
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon < 5) return std::nullopt;
  std::string host = text.substr(5, colon - 5);
  const long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) return std::nullopt;
  sockaddr_storage ss{};
  if (v6) {
    if (host.size() < 2 || host.front() != '[' || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
    auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr) != 1) return std::nullopt;
  } else {
    auto& in = reinterpret_cast<sockaddr_in&>(ss);
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &in.sin_addr) != 1) return std::nullopt;
  }
  return EndpointOf(ss);
}

// A connection of the door: an established TCP socket on its local port.
struct DoorSocket {
  int fd = -1;
  ino_t inode = 0;
  Endpoint peer;
  std::uint64_t first_seen = 0;  // the scan that first saw it (EnforceCap)
};

// The peer of `fd` when it is an established connection to local `port`.
std::optional<Endpoint> DoorPeer(int fd, std::uint16_t port) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return std::nullopt;  // not a socket
  auto local_endpoint = EndpointOf(local);
  if (!local_endpoint || local_endpoint->port != port) return std::nullopt;
  int listening = 0;
  len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening != 0) return std::nullopt;
  // Established only: one already shut down (here or by its peer) is on its
  // way out and counts no more.
  tcp_info info{};
  len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != TCP_ESTABLISHED) {
    return std::nullopt;
  }
  sockaddr_storage remote{};
  len = sizeof remote;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) != 0) return std::nullopt;
  return EndpointOf(remote);
}

std::vector<DoorSocket> DoorSockets(std::uint16_t port) {
  std::vector<DoorSocket> sockets;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return sockets;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    auto peer = DoorPeer(static_cast<int>(fd), port);
    if (!peer) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0) continue;
    sockets.push_back({static_cast<int>(fd), st.st_ino, *peer});
  }
  ::closedir(dir);
  return sockets;
}

// shutdown(2) of `socket` if its descriptor still holds that connection.
bool EndIfStill(const DoorSocket& socket, std::uint16_t port) {
  auto peer = DoorPeer(socket.fd, port);
  if (!peer || !(*peer == socket.peer)) return false;
  return ::shutdown(socket.fd, SHUT_RDWR) == 0;
}

}  // namespace

ConnectionGuard::ConnectionGuard(std::uint16_t port, std::uint32_t max_connections, std::chrono::milliseconds interval)
    : port_(port), max_connections_(max_connections), interval_(interval) {
  if (max_connections_ > 0) scanner_ = std::thread([this] { ScanLoop(); });
}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (scanner_.joinable()) scanner_.join();
}

bool ConnectionGuard::Drop(const std::string& peer) {
  const auto wanted = ParsePeer(peer);
  if (!wanted) return false;
  for (const DoorSocket& socket : DoorSockets(port_)) {
    if (socket.peer == *wanted && EndIfStill(socket, port_)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void ConnectionGuard::EnforceCap() {
  std::vector<DoorSocket> sockets = DoorSockets(port_);
  connections_.store(sockets.size(), std::memory_order_relaxed);
  // Age by the scan that first saw each socket (inode numbers are handed
  // out in per-CPU batches: they do not order sockets by time).
  ++scans_;
  std::unordered_map<ino_t, std::uint64_t> seen;
  seen.reserve(sockets.size());
  for (DoorSocket& s : sockets) {
    auto it = first_seen_.find(s.inode);
    s.first_seen = it == first_seen_.end() ? scans_ : it->second;
    seen.emplace(s.inode, s.first_seen);
  }
  first_seen_ = std::move(seen);
  if (sockets.size() <= max_connections_) return;
  std::sort(sockets.begin(), sockets.end(), [](const DoorSocket& a, const DoorSocket& b) {
    return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.inode < b.inode;
  });
  for (std::size_t i = max_connections_; i < sockets.size(); ++i) {
    if (EndIfStill(sockets[i], port_)) over_cap_.fetch_add(1, std::memory_order_relaxed);
  }
  connections_.store(max_connections_, std::memory_order_relaxed);
}

void ConnectionGuard::ScanLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    EnforceCap();
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace postdevai::rpc
