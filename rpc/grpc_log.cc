#include "rpc/grpc_log.h"

#include <grpc/support/log.h>

namespace postdevai::rpc {

namespace {

std::function<void(GrpcLogSeverity, std::string_view)>& Sink() {
  static std::function<void(GrpcLogSeverity, std::string_view)> sink;
  return sink;
}

void Forward(gpr_log_func_args* args) {
  const auto& sink = Sink();
  if (!sink) return;
  const GrpcLogSeverity severity = args->severity == GPR_LOG_SEVERITY_ERROR  ? GrpcLogSeverity::kError
                                   : args->severity == GPR_LOG_SEVERITY_INFO ? GrpcLogSeverity::kInfo
                                                                             : GrpcLogSeverity::kDebug;
  sink(severity, args->message);
}

}  // namespace

void RouteGrpcLogs(std::function<void(GrpcLogSeverity, std::string_view)> sink) {
  Sink() = std::move(sink);
  gpr_set_log_function(&Forward);
}

}  // namespace postdevai::rpc
