// The one place where our Status and CAF's error meet.
#pragma once

#include <caf/error.hpp>

#include "postdevai/status.h"

namespace postdevai::actors {

// A caf::error in the "postdevai" category carrying the code and message.
caf::error ToError(const Status& status);
// Our own errors come back as they were; CAF's (a peer that went away, a
// request that timed out, an unexpected message) become kUnavailable with
// CAF's description.
Status FromError(const caf::error& error);

}  // namespace postdevai::actors
