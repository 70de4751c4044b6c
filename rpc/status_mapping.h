// The one place where the engine's Status and gRPC's status meet, both ways.
//
// A Status goes out as the gRPC code that fits it (see proto/.../memory.proto:
// kNotFound -> NOT_FOUND, kTooLarge and kNoSpace -> RESOURCE_EXHAUSTED, ...),
// its message unchanged, and the engine's own code by name in the trailer
// `postdevai-error` ("too_large"), so that a client can tell a full disk from
// an oversized value. Coming back, the trailer wins; without it (an error
// made by gRPC itself: unreachable, deadline, message size) the gRPC code is
// mapped to the nearest StatusCode.
#pragma once

#include <map>
#include <string>

#include <grpcpp/support/status.h>
#include <grpcpp/support/string_ref.h>

#include "postdevai/status.h"

namespace postdevai::rpc {

inline constexpr char kErrorTrailer[] = "postdevai-error";

// The name the trailer carries for a code ("not_found", "no_space", ...).
const char* ErrorCodeName(StatusCode code);

// The gRPC status for an engine error (OK for Status::Ok()).
grpc::Status ToGrpcStatus(const Status& status);

// The engine error a gRPC failure stands for; `trailers` are the call's
// trailing metadata (postdevai-error), `where` names the node in messages
// made here ("node 127.0.0.1:4710").
Status FromGrpcStatus(const grpc::Status& status, const std::multimap<grpc::string_ref, grpc::string_ref>& trailers,
                      const std::string& where);

}  // namespace postdevai::rpc
