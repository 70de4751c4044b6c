#include "rpc/status_mapping.h"

#include <optional>

namespace postdevai::rpc {

const char* ErrorCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kNoSpace: return "no_space";
    case StatusCode::kTooLarge: return "too_large";
    case StatusCode::kClosed: return "closed";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kBusy: return "busy";
  }
  return "unknown";
}

namespace {

constexpr StatusCode kAllCodes[] = {StatusCode::kNotFound, StatusCode::kCorruption, StatusCode::kInvalidArgument,
                                    StatusCode::kIoError,  StatusCode::kNoSpace,    StatusCode::kTooLarge,
                                    StatusCode::kClosed,   StatusCode::kUnavailable, StatusCode::kBusy};

std::optional<StatusCode> CodeNamed(std::string_view name) {
  for (StatusCode c : kAllCodes) {
    if (name == ErrorCodeName(c)) return c;
  }
  return std::nullopt;
}

grpc::StatusCode GrpcCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kCorruption: return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kIoError: return grpc::StatusCode::INTERNAL;
    case StatusCode::kNoSpace: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kTooLarge: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kClosed: return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kBusy: return grpc::StatusCode::ABORTED;
  }
  return grpc::StatusCode::UNKNOWN;
}

}  // namespace

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(GrpcCodeFor(status.code()), status.message());
}

Status FromGrpcStatus(const grpc::Status& status, const std::multimap<grpc::string_ref, grpc::string_ref>& trailers,
                      const std::string& where) {
  if (status.ok()) return Status::Ok();
  if (auto it = trailers.find(kErrorTrailer); it != trailers.end()) {
    if (auto code = CodeNamed(std::string_view(it->second.data(), it->second.size()))) {
      return Status(*code, status.error_message());
    }
  }
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Unavailable(where + " is not reachable (" + message + ")");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::Unavailable(where + " did not answer in time (" + message + ")");
    case grpc::StatusCode::CANCELLED:
      return Status::Unavailable(where + ": the call was cancelled (" + message + ")");
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status::InvalidArgument(where + " refused the call: " + message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::TooLarge(where + ": " + message);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(message);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return Status::InvalidArgument(message);
    case grpc::StatusCode::DATA_LOSS:
      return Status::Corruption(message);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Status::Closed(message);
    default:
      return Status::IoError(where + ": " + message);
  }
}

}  // namespace postdevai::rpc
