// The access token of a node (node.token_file), read by the node and by
// clients given the same file.
#pragma once

#include <string>

#include "postdevai/status.h"

namespace postdevai::rpc {

// The token in `path`: its first line, without surrounding blanks. Refuses
// (kInvalidArgument, naming the file and the problem) a file others may read
// or write, one owned by another user, a symlink, a non-regular file, an
// empty one, one larger than 4 KiB, and a token with a byte outside
// printable ASCII (it is sent as an HTTP/2 header value).
Result<std::string> ReadTokenFile(const std::string& path);

}  // namespace postdevai::rpc
