// The secrets a node and its clients read from files: the access token
// (node.token_file) and the TLS PEM files.
#pragma once

#include <string>
#include <string_view>

#include "postdevai/status.h"

namespace postdevai::rpc {

// The token in `path`: its first line, without surrounding blanks. Refuses
// (kInvalidArgument, naming the file and the problem) a file others may read
// or write, one owned by another user, a symlink, a non-regular file, an
// empty one, one larger than 4 KiB, and a token with a byte outside
// printable ASCII (it is sent as an HTTP/2 header value).
Result<std::string> ReadTokenFile(const std::string& path);

// A PEM file (certificate, key, CA) whole; kInvalidArgument naming `what`
// ("TLS certificate") and the file when it cannot be read.
// Whether a presented secret equals the expected one, in time that does not
// depend on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

Result<std::string> ReadPemFile(const std::string& path, const char* what);

}  // namespace postdevai::rpc
