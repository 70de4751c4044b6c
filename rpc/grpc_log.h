// Where gRPC's own log lines go. By default gRPC prints them on stderr in
// its own format, which breaks a CLI's one-line errors and a node's log
// format; a program routes them once, at start.
#pragma once

#include <functional>
#include <string_view>

namespace postdevai::rpc {

enum class GrpcLogSeverity { kDebug, kInfo, kError };

// Sends every later gRPC log line to `sink` (null: drops them). Process-wide;
// call before the first channel or server is made.
void RouteGrpcLogs(std::function<void(GrpcLogSeverity, std::string_view)> sink);

}  // namespace postdevai::rpc
