#include "actors/errors.h"

#include <caf/all.hpp>

#include "actors/interfaces.h"

namespace postdevai::actors {

caf::error ToError(const Status& status) {
  if (status.ok()) return caf::error{};
  return caf::make_error(status.code(), status.message());
}

Status FromError(const caf::error& error) {
  if (!error) return Status::Ok();
  if (error.category() == caf::atom("postdevai")) {
    std::string message;
    const auto& context = error.context();
    if (context.match_elements<std::string>()) message = context.get_as<std::string>(0);
    return Status(static_cast<StatusCode>(error.code()), std::move(message));
  }
  return Status::Unavailable(caf::to_string(error));
}

}  // namespace postdevai::actors
