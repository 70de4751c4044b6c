#include "rpc/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace postdevai::rpc {

Result<std::string> ReadTokenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return Status::InvalidArgument("cannot open the token file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::IoError("cannot stat the token file " + path + ": " + std::strerror(errno));
  }
  std::string problem;
  if (!S_ISREG(st.st_mode)) problem = "is not a regular file";
  else if (st.st_uid != ::geteuid()) problem = "belongs to uid " + std::to_string(st.st_uid) + ", not to this node's user";
  else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("has mode ") + mode + ": others may read it; chmod 600 it";
  } else if (st.st_size > 4096) problem = "is larger than 4 KiB";
  if (!problem.empty()) {
    ::close(fd);
    return Status::InvalidArgument("the token file " + path + " " + problem);
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  const ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) return Status::IoError("cannot read the token file " + path + ": " + std::strerror(errno));
  text.resize(static_cast<std::size_t>(n));
  text = text.substr(0, text.find('\n'));
  const auto first = text.find_first_not_of(" \t\r");
  const auto last = text.find_last_not_of(" \t\r");
  if (first == std::string::npos) return Status::InvalidArgument("the token file " + path + " is empty");
  std::string token = text.substr(first, last - first + 1);
  // It travels as an HTTP/2 header value: printable ASCII only.
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return Status::InvalidArgument("the token file " + path + " holds a byte (0x" +
                                     [c] { char b[3]; std::snprintf(b, sizeof b, "%02x", c); return std::string(b); }() +
                                     ") that is not printable ASCII without spaces; a token is sent as an HTTP header");
    }
  }
  return token;
}

Result<std::string> ReadPemFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string("cannot read the ") + what + " " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace postdevai::rpc
