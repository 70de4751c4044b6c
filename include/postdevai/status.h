// Errors as values. Every fallible operation in PostDevAI returns a Status or a
// Result<T>; nothing throws across a public API.
//
// A Status names its problem in its message ("wal segment 00000000000000000001.wal:
// record at offset 4096 fails its checksum"), so callers can print it as it is.
// Thread-safety: values, freely copyable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace postdevai {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kNotFound,         // no such key / id / file
  kCorruption,       // stored bytes fail a checksum or a format check
  kInvalidArgument,  // the caller's input is wrong (bad config, wrong dimension, NaN)
  kIoError,          // the OS reported an I/O failure (EIO, ...)
  kNoSpace,          // the disk or RAM disk is full (ENOSPC, EDQUOT)
  kTooLarge,         // a value exceeds a configured limit
  kClosed,           // the store was closed or failed and refuses further writes
  kUnavailable,      // a peer or actor is not reachable
  kBusy,             // a resource is held by someone else (lock file)
};

constexpr std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kNoSpace: return "no space";
    case StatusCode::kTooLarge: return "too large";
    case StatusCode::kClosed: return "closed";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kBusy: return "busy";
  }
  return "unknown";
}

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok

  static Status Ok() { return {}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {StatusCode::kNoSpace, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {StatusCode::kTooLarge, std::move(msg)}; }
  static Status Closed(std::string msg) { return {StatusCode::kClosed, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }
  bool IsNoSpace() const { return code_ == StatusCode::kNoSpace; }

  // "corruption: <message>", or "ok".
  std::string ToString() const {
    if (ok()) return "ok";
    std::string s(StatusCodeName(code_));
    s += ": ";
    s += message_;
    return s;
  }

  // Returns a copy whose message is prefixed with `context` ("opening WAL: ...").
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    std::string m(context);
    m += ": ";
    m += message_;
    return {code_, std::move(m)};
  }

  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}   // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace postdevai

// Propagates a non-ok Status to the caller.
#define PDAI_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::postdevai::Status _pdai_s = (expr);       \
    if (!_pdai_s.ok()) return _pdai_s;          \
  } while (0)
